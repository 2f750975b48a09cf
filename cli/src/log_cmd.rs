//! `charter log`: query, verify, prune, seal and anchor the decision log that
//! `charter serve` writes.
//!
//! Exit codes: `verify` 0 when the log verifies (with the keys and anchors given), 1 when
//! it does not; `query`, `prune`, `keygen` and `anchor` 0; every command 2 for usage or
//! I/O (a key or anchor file that cannot be read included).

use std::io::Write;
use std::path::{Path, PathBuf};

use charter_log::keys::{self, SigningKey, VerifyingKey};
use charter_log::{
    self as log, format_ms, now_ms, parse_instant, parse_span, Anchor, Filter, Record,
    VerifyOptions, VerifyReport,
};
use clap::Subcommand;

use crate::Format;

/// `println!` that ignores a closed stdout (`charter log query | head`) instead of
/// panicking.
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

/// `charter log` subcommands.
#[derive(Subcommand)]
pub enum LogCommand {
    /// Decisions by developer, dataset, scenario and time, oldest first.
    Query(QueryArgs),
    /// Check the hash chain (and, with `--key`, its seals; with `--anchor`, that it still
    /// reaches an anchored head); name the first record that does not fit.
    Verify {
        /// The decision log.
        #[arg(long)]
        log: PathBuf,
        /// A public key (the `.pub` file of `charter log keygen`); may be repeated, for
        /// seals made before a key change.
        #[arg(long = "key", value_name = "PUB")]
        keys: Vec<PathBuf>,
        /// An anchor written by `charter log anchor`; may be repeated.
        #[arg(long = "anchor", value_name = "FILE")]
        anchors: Vec<PathBuf>,
        /// Fail when records follow the last seal (for a log whose writer has stopped:
        /// a clean shutdown seals everything).
        #[arg(long, requires = "keys")]
        require_sealed: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Delete old records, keeping the chain verifiable with a checkpoint record.
    Prune {
        /// The decision log.
        #[arg(long)]
        log: PathBuf,
        /// Delete records older than this span (`180d`).
        #[arg(long, conflicts_with = "before")]
        older_than: Option<String>,
        /// Delete records made before this time (RFC 3339 or a date).
        #[arg(long)]
        before: Option<String>,
        /// The private key that seals the log: the checkpoint is sealed with it (a sealed
        /// log is not pruned without it).
        #[arg(long, value_name = "PRIV")]
        key: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Make an Ed25519 key pair to seal the log with: NAME.key (private, mode 0600) and
    /// NAME.pub (public) in DIR.
    Keygen {
        /// The folder to write the pair to (created when missing).
        #[arg(long)]
        out: PathBuf,
        /// The files' name.
        #[arg(long, default_value = "charter-log")]
        name: String,
    },
    /// Sign the log's head into a file to keep outside the log: `verify --anchor FILE`
    /// then fails if the chain no longer reaches it.
    Anchor {
        /// The decision log.
        #[arg(long)]
        log: PathBuf,
        /// The private key to sign with.
        #[arg(long, value_name = "PRIV")]
        key: PathBuf,
        /// The anchor file to write (`-` for standard output).
        #[arg(long)]
        out: PathBuf,
    },
}

/// Runs a `charter log` subcommand; the exit code.
pub fn run(command: LogCommand) -> u8 {
    match command {
        LogCommand::Query(args) => query(&args),
        LogCommand::Verify {
            log,
            keys,
            anchors,
            require_sealed,
            format,
        } => verify(&log, &keys, &anchors, require_sealed, format),
        LogCommand::Prune {
            log,
            older_than,
            before,
            key,
            format,
        } => prune(
            &log,
            older_than.as_deref(),
            before.as_deref(),
            key.as_deref(),
            format,
        ),
        LogCommand::Keygen { out, name } => keygen(&out, &name),
        LogCommand::Anchor { log, key, out } => anchor(&log, &key, &out),
    }
}

fn report_error(e: impl miette::Diagnostic + Send + Sync + 'static) -> u8 {
    eprintln!("{:?}", miette::Report::new(e));
    2
}

/// Reads the private key, printing the warning about loose permissions.
pub fn read_private_key(path: &Path) -> Result<SigningKey, u8> {
    match SigningKey::read(path) {
        Ok((key, warning)) => {
            if let Some(w) = warning {
                eprintln!("warning: {w}");
            }
            Ok(key)
        }
        Err(e) => Err(report_error(e)),
    }
}

/// The options of `charter log query`.
#[derive(clap::Args)]
pub struct QueryArgs {
    /// The decision log.
    #[arg(long)]
    log: PathBuf,
    /// Only this developer's decisions.
    #[arg(long)]
    developer: Option<String>,
    /// Only decisions on this dataset.
    #[arg(long)]
    dataset: Option<String>,
    /// Only decisions in this scenario.
    #[arg(long)]
    scenario: Option<String>,
    /// Only decisions on this action.
    #[arg(long)]
    action: Option<String>,
    /// Only `allow` or only `deny`.
    #[arg(long)]
    decision: Option<String>,
    /// One decision, by id.
    #[arg(long)]
    id: Option<String>,
    /// From this time on: RFC 3339, a date, or a span back from now (`7d`).
    #[arg(long)]
    since: Option<String>,
    /// Before this time.
    #[arg(long)]
    until: Option<String>,
    /// At most N records.
    #[arg(long)]
    limit: Option<u64>,
    /// Show checkpoint records too.
    #[arg(long)]
    checkpoints: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

/// An instant on the command line: RFC 3339, a date, or a span back from now (`7d`).
/// Sets the filter's span from `--since` and `--until` as the command line gives them.
pub(crate) fn set_span(
    filter: &mut Filter,
    since: Option<&str>,
    until: Option<&str>,
) -> Result<(), String> {
    if let Some(s) = since {
        filter.since = Some(instant("--since", s)?);
    }
    if let Some(u) = until {
        filter.until = Some(instant("--until", u)?);
    }
    Ok(())
}

fn instant(flag: &str, s: &str) -> Result<i64, String> {
    parse_instant(s)
        .or_else(|| parse_span(s).map(|span| now_ms() - span))
        .ok_or_else(|| {
            format!(
                "`{flag} {s}` is not a time: write RFC 3339 (`2026-06-01T09:00:00+08:00`), \
                 a date (`2026-06-01`) or a span back from now (`7d`, `12h`)"
            )
        })
}

fn record_json(r: &Record) -> serde_json::Value {
    let parsed = |s: &str| {
        serde_json::from_str::<serde_json::Value>(s)
            .unwrap_or_else(|_| serde_json::Value::String(s.to_string()))
    };
    serde_json::json!({
        "seq": r.seq,
        "kind": r.kind,
        "id": r.id,
        "time": format_ms(r.ts),
        "ts": r.ts,
        "developer": r.developer,
        "action": r.action,
        "dataset": r.dataset,
        "scenario": r.scenario,
        "decision": r.decision,
        "request": parsed(&r.request),
        "answer": if r.answer.is_empty() { serde_json::Value::Null } else { parsed(&r.answer) },
        "bundle": {"version": r.bundle_version, "hash": r.bundle_hash},
        "prev_hash": r.prev_hash,
        "hash": r.hash,
    })
}

fn human_line(r: &Record) -> String {
    if r.kind == "checkpoint" {
        return format!(
            "{:>8}  {}  checkpoint  {}",
            r.seq,
            format_ms(r.ts),
            r.request
        );
    }
    let answer: serde_json::Value = serde_json::from_str(&r.answer).unwrap_or_default();
    let ids = |key: &str| -> Vec<String> {
        answer
            .get(key)
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|x| {
                        x.get("id")
                            .or_else(|| x.get("code"))
                            .and_then(|v| v.as_str())
                            .map(str::to_string)
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut why = ids("reasons");
    why.extend(ids("errors"));
    let consent = answer
        .get("consent_reference")
        .and_then(|v| v.as_str())
        .map(|c| format!("  consent {c}"))
        .unwrap_or_default();
    format!(
        "{:>8}  {}  {:<5}  {}  {}  {}  {}  {}  [{}]{consent}  bundle {}",
        r.seq,
        format_ms(r.ts),
        r.decision,
        r.developer,
        r.action,
        r.dataset,
        r.scenario,
        r.id,
        why.join(", "),
        r.bundle_version
    )
}

/// `charter log query`.
fn query(args: &QueryArgs) -> u8 {
    let mut filter = Filter {
        developer: args.developer.clone(),
        dataset: args.dataset.clone(),
        scenario: args.scenario.clone(),
        action: args.action.clone(),
        decision: args.decision.clone(),
        id: args.id.clone(),
        limit: args.limit,
        checkpoints: args.checkpoints,
        ..Filter::default()
    };
    if let Err(e) = set_span(&mut filter, args.since.as_deref(), args.until.as_deref()) {
        eprintln!("error: {e}");
        return 2;
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut failed = false;
    let mut first = true;
    if args.format == Format::Json && out.write_all(b"[").is_err() {
        return 2;
    }
    let result = log::query(&args.log, &filter, |r| {
        let written = match args.format {
            Format::Json => {
                let sep = if first { "\n" } else { ",\n" };
                first = false;
                serde_json::to_string(&record_json(&r))
                    .map_err(std::io::Error::other)
                    .and_then(|s| write!(out, "{sep}{s}"))
            }
            Format::Human => writeln!(out, "{}", human_line(&r)),
        };
        failed = written.is_err();
        !failed
    });
    if args.format == Format::Json && out.write_all(b"\n]\n").is_err() {
        failed = true;
    }
    match result {
        Ok(n) => {
            if out.flush().is_err() || failed {
                return 2;
            }
            if args.format == Format::Human {
                eprintln!("{n} record(s)");
            }
            0
        }
        Err(e) => {
            drop(out);
            eprintln!("{:?}", miette::Report::new(e));
            2
        }
    }
}

/// `charter log verify`.
fn verify(
    path: &Path,
    key_files: &[PathBuf],
    anchor_files: &[PathBuf],
    require_sealed: bool,
    format: Format,
) -> u8 {
    let mut options = VerifyOptions::default();
    for f in key_files {
        match VerifyingKey::read(f) {
            Ok(k) => options.keys.push(k),
            Err(e) => return report_error(e),
        }
    }
    for f in anchor_files {
        match Anchor::read(f) {
            Ok(a) => options.anchors.push(a),
            Err(e) => return report_error(e),
        }
    }
    let report = match log::verify_with(path, &options) {
        Ok(r) => r,
        Err(e) => return report_error(e),
    };
    let unsealed_fails = require_sealed && report.ok() && report.unsealed > 0;
    match format {
        Format::Json => match serde_json::to_string_pretty(&report) {
            Ok(s) => out!("{s}"),
            Err(_) => return 2,
        },
        Format::Human => print_verify(&report, require_sealed),
    }
    if report.ok() && !unsealed_fails {
        0
    } else {
        1
    }
}

fn print_verify(report: &VerifyReport, require_sealed: bool) {
    if let Some(b) = &report.broken {
        let id =
            b.id.as_deref()
                .map(|i| format!(" (id `{i}`)"))
                .unwrap_or_default();
        out!("the log is broken at record {}{id}: {}", b.seq, b.reason);
        out!("{} record(s) before it verify", report.records);
        return;
    }
    let range = match (report.first_seq, report.last_seq) {
        (Some(a), Some(b)) => format!(", records {a} to {b}"),
        _ => String::new(),
    };
    out!(
        "the log verifies: {} record(s) ({} decision(s), {} checkpoint(s){range})",
        report.records,
        report.decisions,
        report.checkpoints
    );
    if report.keys.is_empty() {
        out!(
            "integrity only: no key was given, so whoever can write the file could have \
             rewritten it consistently{}",
            if report.seals > 0 {
                format!(
                    " ({} seal(s) in the log not checked: give `--key`)",
                    report.seals
                )
            } else {
                String::new()
            }
        );
    } else {
        match report.sealed_through {
            Some(s) => out!(
                "sealed through record {s} by key {} ({} seal(s) verified, the last made {})",
                report.keys.join(", "),
                report.seals_verified,
                report.last_seal_time.as_deref().unwrap_or("?")
            ),
            None => out!("no seal by key {}", report.keys.join(", ")),
        }
        if report.seals_unchecked > 0 {
            out!(
                "{} seal(s) by other keys not checked",
                report.seals_unchecked
            );
        }
        if report.unsealed > 0 {
            out!(
                "unsealed tail: {} record(s) after the last seal, which the key does not cover{}",
                report.unsealed,
                if require_sealed {
                    " (`--require-sealed`: this fails)"
                } else {
                    " (a running writer seals them within its interval)"
                }
            );
        } else {
            out!("unsealed tail: none");
        }
    }
    for a in &report.anchors {
        out!(
            "reaches {} (record {}, signed {}{}){}",
            a.file
                .as_deref()
                .map(|f| format!("the anchor `{f}`"))
                .unwrap_or_else(|| "the anchor".to_string()),
            a.seq,
            a.time,
            if a.signature_checked {
                ", signature verified"
            } else {
                ", signature not checked: no `--key`"
            },
            if a.pruned {
                " — pruned since, accounted for by a sealed checkpoint"
            } else {
                ""
            }
        );
    }
    if let Some(h) = &report.head_hash {
        out!(
            "head {h} at record {} (anchor it elsewhere with `charter log anchor`: a cut or \
             rewritten log then shows against it)",
            report.last_seq.unwrap_or(0)
        );
    }
}

/// `charter log prune`.
fn prune(
    path: &Path,
    older_than: Option<&str>,
    before: Option<&str>,
    key: Option<&Path>,
    format: Format,
) -> u8 {
    let cut = match (older_than, before) {
        (Some(span), None) => match parse_span(span) {
            Some(ms) => now_ms() - ms,
            None => {
                eprintln!("error: `--older-than {span}` is not a span: write `90d`, `12h`, `30m`");
                return 2;
            }
        },
        (None, Some(b)) => match parse_instant(b) {
            Some(t) => t,
            None => {
                eprintln!("error: `--before {b}` is not a time: write RFC 3339 or a date");
                return 2;
            }
        },
        _ => {
            eprintln!("error: give one of `--older-than SPAN` and `--before TIME`");
            return 2;
        }
    };
    let key = match key.map(read_private_key).transpose() {
        Ok(k) => k,
        Err(code) => return code,
    };
    match log::prune(path, cut, key.as_ref()) {
        Ok(r) => {
            match format {
                Format::Json => match serde_json::to_string_pretty(&r) {
                    Ok(s) => out!("{s}"),
                    Err(_) => return 2,
                },
                Format::Human => match (r.from, r.through) {
                    (Some(a), Some(b)) => out!(
                        "pruned {} record(s) made before {} (records {a} to {b}); checkpoint record(s) {:?} keep the chain verifiable{}",
                        r.pruned,
                        format_ms(cut),
                        r.checkpoints,
                        if key.is_some() { ", sealed" } else { "" }
                    ),
                    _ => out!("nothing was made before {}", format_ms(cut)),
                },
            }
            0
        }
        Err(e) => report_error(e),
    }
}

/// `charter log keygen`.
fn keygen(dir: &Path, name: &str) -> u8 {
    if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
        eprintln!("error: `--name {name}` must be a plain file name, without `/` or a leading `.`");
        return 2;
    }
    match keys::generate_files(dir, name) {
        Ok(files) => {
            out!("private key {} (mode 0600): give it to `charter serve --log-key`, keep it off backups of the log", files.private.display());
            out!(
                "public key  {}: give it to `charter log verify --key`",
                files.public.display()
            );
            out!("key id {}", files.id);
            0
        }
        Err(e) => report_error(e),
    }
}

/// `charter log anchor`.
fn anchor(path: &Path, key: &Path, out: &Path) -> u8 {
    let key = match read_private_key(key) {
        Ok(k) => k,
        Err(code) => return code,
    };
    let anchor = match log::anchor(path, &key) {
        Ok(a) => a,
        Err(e) => return report_error(e),
    };
    let json = anchor.to_json();
    if out == Path::new("-") {
        let mut stdout = std::io::stdout();
        return if stdout.write_all(json.as_bytes()).is_ok() {
            0
        } else {
            2
        };
    }
    // Written beside, then renamed: an anchor file is either the old one or the new one.
    let tmp = out.with_extension("anchor-tmp");
    let written = std::fs::write(&tmp, json.as_bytes()).and_then(|()| std::fs::rename(&tmp, out));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        eprintln!("error: cannot write the anchor `{}`: {e}", out.display());
        return 2;
    }
    eprintln!(
        "anchored record {} ({}) of log {} in `{}`: keep it where whoever can write the log cannot",
        anchor.head.seq,
        anchor.head.hash,
        anchor.head.log_id,
        out.display()
    );
    0
}
