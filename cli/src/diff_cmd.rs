//! `charter diff BASE HEAD`: the rule changes and decision impact between two versions
//! of a bundle (`charter-review`), as text, JSON or a pull-request comment in markdown.

use clap::ValueEnum;

/// Output formats of `charter diff`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    /// For people.
    Text,
    /// One JSON document.
    Json,
    /// A pull-request comment: a summary table, the details folded.
    Markdown,
}

/// Prints why a review could not be made (every diagnostic of a side that does not
/// compile) and returns the exit code for it, 2.
pub fn review_failed(e: &charter_review::ReviewError) -> u8 {
    eprintln!("error: {e}");
    if let charter_review::ReviewError::Compile { diagnostics, .. } = e {
        for d in diagnostics {
            eprintln!("  {d}");
        }
    }
    2
}

/// Prints a report of `charter diff` or `charter replay` in `format`; false when it
/// could not be written (the message is printed).
pub fn print_report(
    format: DiffFormat,
    report: &impl serde::Serialize,
    text: impl FnOnce() -> String,
    markdown: impl FnOnce() -> String,
) -> bool {
    match format {
        DiffFormat::Text => print!("{}", text()),
        DiffFormat::Markdown => print!("{}", markdown()),
        DiffFormat::Json => match serde_json::to_string_pretty(report) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("error: cannot write the report as JSON: {e}");
                return false;
            }
        },
    }
    true
}

/// Runs the diff. Exit 0 without impact, 1 with impact, 2 on errors; under
/// `require_version_bump`, 1 only when there is impact and the version is unchanged.
pub fn diff(base: &str, head: &str, format: DiffFormat, require_version_bump: bool) -> u8 {
    let report = match charter_review::diff_specs(base, head) {
        Ok(r) => r,
        Err(e) => return review_failed(&e),
    };
    if !print_report(format, &report, || report.text(), || report.markdown()) {
        return 2;
    }
    if require_version_bump {
        if report.impact && report.base.version == report.head.version {
            eprintln!(
                "error: decisions change but the version is still `{}`: raise `version` in charter.toml",
                report.head.version
            );
            return 1;
        }
        return 0;
    }
    u8::from(report.impact)
}
