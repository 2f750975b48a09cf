//! `charter replay`: the decision log re-decided under a new bundle (`charter-review`),
//! the decisions that would change grouped by the rule that changes them.

use std::path::PathBuf;

use charter_log::Filter;
use charter_review::{load_side, replay, ReplayOptions};

use crate::diff_cmd::{print_report, review_failed, DiffFormat};
use crate::log_cmd::set_span;

/// `charter replay`'s arguments.
#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    /// The decision log (the SQLite file `charter serve --log` writes).
    #[arg(long)]
    log: PathBuf,
    /// The new bundle: a source folder, a folder holding bundle.json, bundle.json, or a
    /// git revision of a folder (`main:policies`).
    #[arg(long)]
    bundle: String,
    /// Facts for records that hold none (logs written before records kept them).
    #[arg(long)]
    facts: Option<PathBuf>,
    /// From this time on: RFC 3339, a date, or a span back from now (`7d`).
    #[arg(long)]
    since: Option<String>,
    /// Before this time.
    #[arg(long)]
    until: Option<String>,
    /// Only this developer's decisions.
    #[arg(long)]
    developer: Option<String>,
    /// Only decisions on this dataset.
    #[arg(long)]
    dataset: Option<String>,
    /// Only decisions in this scenario.
    #[arg(long)]
    scenario: Option<String>,
    /// Examples shown per group.
    #[arg(long, default_value_t = 3)]
    examples: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
    format: DiffFormat,
}

/// Runs the replay. Exit 0 when no decision changes, 1 when some do, 2 on errors.
pub fn run(args: ReplayArgs) -> u8 {
    let mut filter = Filter {
        developer: args.developer,
        dataset: args.dataset,
        scenario: args.scenario,
        ..Filter::default()
    };
    if let Err(e) = set_span(&mut filter, args.since.as_deref(), args.until.as_deref()) {
        eprintln!("error: {e}");
        return 2;
    }
    let head = match load_side(&args.bundle) {
        Ok(h) => h,
        Err(e) => return review_failed(&e),
    };
    let options = ReplayOptions {
        filter,
        examples: args.examples,
        facts: args.facts,
    };
    let report = match replay(&args.log, &head, &options) {
        Ok(r) => r,
        Err(e) => return review_failed(&e),
    };
    if !print_report(args.format, &report, || report.text(), || report.markdown()) {
        return 2;
    }
    u8::from(report.changed > 0)
}
