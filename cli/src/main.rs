//! The `charter` command: check and build bundles, and the rest of the toolchain.
//!
//! Only this crate parses argv. Exit codes: 0 success, 1 the bundle has errors (or
//! warnings under `--deny-warnings`), 2 usage or I/O problems.

// Library code indexes and slices only through `get`: a bad index on input is an
// error to report, never a panic. Tests may index (a panic there is a failed test).
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::string_slice))]

mod annotate;
mod check;
mod diff_cmd;
mod explain;
mod fmt;
mod loadgen;
mod log_cmd;
mod replay_cmd;
mod runtime_cmds;
mod serve_cmd;
mod sign_cmd;
mod test_cmd;
mod testing;

use std::net::SocketAddr;
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
        #[arg(long, value_enum, default_value_t = annotate::CheckFormat::Human)]
        format: annotate::CheckFormat,
        /// Fail on warnings too.
        #[arg(long)]
        deny_warnings: bool,
    },
    /// What a change to the rules changes: rules, field grades, and the decisions
    /// (allowed fields, terms, developer conditions) that differ between BASE and HEAD.
    ///
    /// Each side is a source folder, a folder holding bundle.json, bundle.json, or a
    /// git revision of a folder (`main:policies`). Exit 0 without impact, 1 with it,
    /// 2 on errors.
    Diff {
        /// The version before the change.
        base: String,
        /// The version after it.
        head: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = diff_cmd::DiffFormat::Text)]
        format: diff_cmd::DiffFormat,
        /// Exit 1 only when decisions change and charter.toml's version did not
        /// (0 otherwise), with a message saying so.
        #[arg(long)]
        require_version_bump: bool,
    },
    /// Re-decide the logged decisions under a new bundle and report those that change.
    ///
    /// Each record is decided with the facts and the day it was decided with; the
    /// changes are grouped by the rule (or missing scope, or error) that makes the
    /// difference. Exit 0 when nothing changes, 1 when something does, 2 on errors.
    Replay(replay_cmd::ReplayArgs),
    /// Explain a diagnostic code: what it means, an example with its output, how to fix it.
    ///
    /// Without a code, lists the codes; `--all` prints the whole reference
    /// (docs/diagnostics.md), every example run through the compiler.
    Explain {
        /// A code (`CH0301`) or its name (`forbidden-action`).
        code: Option<String>,
        /// Print the reference of every code.
        #[arg(long, conflicts_with = "code")]
        all: bool,
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
        /// Sign the bundle with this private key (PEM): writes bundle.sig beside
        /// bundle.json, over its content hash and provenance.
        #[arg(long, value_name = "KEY")]
        sign: Option<PathBuf>,
    },
    /// Make an Ed25519 key pair for signing bundles: NAME.key (private) and NAME.pub.
    Keygen {
        /// The folder to write the pair to (created when missing).
        #[arg(long)]
        out: PathBuf,
        /// The files' name.
        #[arg(long, default_value = "charter-bundle")]
        name: String,
    },
    /// Verify a built bundle's signature against trusted public keys; print its provenance.
    Verify {
        /// bundle.json, or the folder holding it.
        bundle: PathBuf,
        /// A trusted public key (PEM); repeat for several.
        #[arg(long = "key", value_name = "PUB", required = true)]
        keys: Vec<PathBuf>,
    },
    /// Run the language server (LSP over stdin and stdout), for editors.
    Lsp {
        /// Accepted for editors that pass it; stdio is the only transport.
        #[arg(long, hide = true)]
        stdio: bool,
    },
    /// Decide requests: one from a file, or JSON lines on stdin to JSON lines on stdout.
    Decide {
        /// The bundle: a source folder, a folder holding bundle.json, or bundle.json.
        #[arg(long)]
        bundle: PathBuf,
        /// The request (JSON); without it, JSON lines are read from stdin.
        request: Option<PathBuf>,
        /// Developer facts for requests that carry none: {"dev-001": {…}, …}.
        #[arg(long)]
        facts: Option<PathBuf>,
        /// Output format (default: human for a file, json lines for stdin).
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// A public key the bundle must be signed by (repeat for several).
        #[arg(long = "verify-key", value_name = "PUB")]
        verify_keys: Vec<PathBuf>,
    },
    /// Sweep developers for exit, suspend and notice rules, with their measures.
    Sweep {
        /// The bundle: a source folder, a folder holding bundle.json, or bundle.json.
        #[arg(long)]
        bundle: PathBuf,
        /// The developers' facts: {"dev-001": {…}, …}.
        facts: PathBuf,
        /// When: RFC 3339 or a date (default: now).
        #[arg(long)]
        at: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Time decisions: p50, p99, decisions per second; `--compare` with full Cedar and Rego.
    Bench(runtime_cmds::BenchArgs),
    /// Run the bundle's tests through the runtime engine, with rule coverage.
    Test {
        /// The folder holding charter.toml.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = test_cmd::TestFormat::Human)]
        format: test_cmd::TestFormat,
        /// Run only the tests whose name (or file) contains this text.
        #[arg(long)]
        filter: Option<String>,
        /// Report which rules the tests exercised.
        #[arg(long)]
        coverage: bool,
        /// Fail when rule coverage is below N percent (implies --coverage).
        #[arg(long, value_name = "N")]
        threshold: Option<f64>,
        /// Fail when the bundle has no test.
        #[arg(long)]
        fail_on_empty: bool,
    },
    /// Format .charter files in place: one canonical layout, comments kept.
    Fmt {
        /// .charter files or folders (every .charter file below them); `-` formats
        /// standard input to standard output.
        #[arg(default_value = ".")]
        paths: Vec<PathBuf>,
        /// Change nothing; list the files that would change and exit 1 if there are any.
        #[arg(long)]
        check: bool,
        /// Change nothing; show the changes as a unified diff and exit 1 if there are any.
        #[arg(long)]
        diff: bool,
    },
    /// Serve decisions over HTTP, recording each in the decision log.
    Serve(serve_cmd::ServeArgs),
    /// Query, verify, prune, seal and anchor the decision log.
    Log {
        #[command(subcommand)]
        command: log_cmd::LogCommand,
    },
    /// Send a bounded load to a local `charter serve` and report throughput and latency.
    #[command(hide = true)]
    Loadgen {
        /// The server (loopback only).
        #[arg(long, default_value = "127.0.0.1:8877")]
        addr: SocketAddr,
        /// Connections, each with one call in flight.
        #[arg(long, default_value_t = 32)]
        connections: usize,
        /// Stop after this many seconds (at most 300).
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Stop after this many calls.
        #[arg(long, default_value_t = 1_000_000)]
        requests: u64,
        /// Requests per call to /v1/decide/batch (0: single calls to /v1/decide).
        #[arg(long, default_value_t = 0)]
        batch: usize,
        /// Requests to send, JSON lines (default: examples/requests without their facts).
        #[arg(long)]
        requests_file: Option<PathBuf>,
        /// Write every decision id answered to this file, one a line.
        #[arg(long)]
        ids_out: Option<PathBuf>,
        /// Client threads.
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Output format.
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
        Command::Diff {
            base,
            head,
            format,
            require_version_bump,
        } => diff_cmd::diff(&base, &head, format, require_version_bump),
        Command::Replay(args) => replay_cmd::run(args),
        Command::Explain { code, all } => explain::explain(code.as_deref(), all),
        Command::Build {
            dir,
            out,
            format,
            sign,
        } => check::build(&dir, &out, format, sign.as_deref()),
        Command::Keygen { out, name } => sign_cmd::keygen(&out, &name),
        Command::Verify { bundle, keys } => sign_cmd::verify(&bundle, &keys),
        Command::Lsp { stdio: _ } => charter_lsp::run(),
        Command::Decide {
            bundle,
            request,
            facts,
            format,
            verify_keys,
        } => runtime_cmds::decide(
            &bundle,
            request.as_deref(),
            facts.as_deref(),
            format,
            &verify_keys,
        ),
        Command::Sweep {
            bundle,
            facts,
            at,
            format,
        } => runtime_cmds::sweep(&bundle, &facts, at.as_deref(), format),
        Command::Bench(args) => runtime_cmds::bench(args),
        Command::Test {
            dir,
            format,
            filter,
            coverage,
            threshold,
            fail_on_empty,
        } => test_cmd::test(&test_cmd::TestArgs {
            dir: &dir,
            format,
            filter,
            coverage,
            threshold,
            fail_on_empty,
        }),
        Command::Fmt { paths, check, diff } => fmt::fmt(&fmt::FmtArgs { paths, check, diff }),
        Command::Serve(args) => serve_cmd::serve(args),
        Command::Log { command } => log_cmd::run(command),
        Command::Loadgen {
            addr,
            connections,
            seconds,
            requests,
            batch,
            requests_file,
            ids_out,
            threads,
            format,
        } => loadgen::loadgen(&loadgen::LoadArgs {
            addr,
            connections,
            seconds,
            requests,
            batch,
            requests_file,
            ids_out,
            threads,
            token: std::env::var("CHARTER_TOKEN").ok(),
            format,
        }),
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
