//! The `charter` command: check and build bundles, and the rest of the toolchain.
//!
//! Only this crate parses argv. Exit codes: 0 success, 1 the bundle has errors (or
//! warnings under `--deny-warnings`), 2 usage or I/O problems.

mod check;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Charter: policy-as-code for the authorized operation of public data.
#[derive(Parser)]
#[command(name = "charter", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people: source snippets, Chinese titles.
    Human,
    /// One JSON document.
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Check a bundle against the language and the regulation.
    Check {
        /// The folder holding charter.toml.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// Fail on warnings too.
        #[arg(long)]
        deny_warnings: bool,
    },
    /// Compile a bundle to bundle.json, policies.cedar, schema.cedarschema and entities.json.
    Build {
        /// The folder holding charter.toml.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Where to write the output.
        #[arg(long, short, default_value = "dist")]
        out: PathBuf,
        /// Output format of diagnostics.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Generate a large synthetic bundle, for benchmarks.
    #[command(hide = true)]
    Synth {
        /// Number of scenarios.
        #[arg(long, default_value_t = 1000)]
        scenarios: usize,
        /// Number of datasets (0: half the scenarios, at least 12).
        #[arg(long, default_value_t = 0)]
        datasets: usize,
        /// Fields per dataset.
        #[arg(long, default_value_t = 10)]
        fields: usize,
        /// Seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Check {
            dir,
            format,
            deny_warnings,
        } => check::check(&dir, format, deny_warnings),
        Command::Build { dir, out, format } => check::build(&dir, &out, format),
        Command::Synth {
            scenarios,
            datasets,
            fields,
            seed,
            out,
        } => {
            let opts = charter_compiler::synth::SynthOptions {
                scenarios,
                datasets,
                fields_per_dataset: fields,
                seed,
                ..Default::default()
            };
            match charter_compiler::synth::write_bundle(&opts, &out) {
                Ok(()) => {
                    eprintln!(
                        "wrote a bundle of {scenarios} scenarios to {}",
                        out.display()
                    );
                    0
                }
                Err(e) => {
                    eprintln!("error: cannot write `{}`: {e}", out.display());
                    2
                }
            }
        }
    };
    ExitCode::from(code)
}
