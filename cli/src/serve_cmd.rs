//! `charter serve`: the decision server, and `charter log query|verify|prune` over its log.
//!
//! Exit codes: `serve` 0 after a clean shutdown, 2 when it cannot start. `log verify` 0
//! when the chain verifies, 1 when it is broken; `log query` and `log prune` 0; every
//! command 2 for usage or I/O.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use charter_runtime::log::{
    self, format_ms, now_ms, parse_instant, parse_span, Durability, Filter, LogConfig, Record,
    SyncMode,
};
use charter_runtime::server::{shutdown_signal, FactsFrom, Server, ServerConfig, DEFAULT_PORT};
use charter_runtime::{source_of, Engine, ReloadEvent, Source};
use clap::ValueEnum;

use crate::Format;

/// `println!` that ignores a closed stdout (`charter log query | head`) instead of
/// panicking.
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

/// Strict or relaxed logging, as the command line spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogMode {
    /// Answer only after the decision's record is committed (deny when it cannot be).
    Strict,
    /// Answer first, write after.
    Relaxed,
}

/// What a log commit waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogSync {
    /// Survives the process being killed (the WAL is fsynced at checkpoints).
    Normal,
    /// Also survives power loss: one fsync per group commit.
    Full,
}

/// Where decisions take developer facts from, as the command line spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FactsFromArg {
    /// The fact store only; inline facts need the admin or the facts token.
    Store,
    /// The request only; the fact store is not used.
    Request,
    /// Inline facts replace stored ones for that decision (trusted callers only).
    Either,
}

/// The options of `charter serve`.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// The bundle: a source folder, a folder holding bundle.json, or bundle.json.
    #[arg(default_value = ".")]
    pub bundle: PathBuf,
    /// Address to listen on (default 127.0.0.1:8877; port 0 picks a free one).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// The decision log, a SQLite file (default: decisions.db beside the bundle).
    #[arg(long, conflicts_with = "no_log")]
    pub log: Option<PathBuf>,
    /// Record nothing.
    #[arg(long)]
    pub no_log: bool,
    /// strict: answer only after the record is committed; relaxed: answer first.
    #[arg(long, value_enum, default_value_t = LogMode::Strict)]
    pub log_mode: LogMode,
    /// normal: commits survive the process being killed; full: also power loss.
    #[arg(long, value_enum, default_value_t = LogSync::Normal)]
    pub log_sync: LogSync,
    /// Developer facts to start the fact store with: {"dev-001": {…}, …}.
    #[arg(long)]
    pub facts: Option<PathBuf>,
    /// Reload the bundle when its files change (a broken edit never serves).
    #[arg(long)]
    pub watch: bool,
    /// Where decisions take developer facts from: store (default when `--facts` or a
    /// token is given), request (default otherwise), or either.
    #[arg(long, value_enum)]
    pub facts_from: Option<FactsFromArg>,
    /// File holding a token that may only carry inline facts in store mode (else the
    /// CHARTER_FACTS_TOKEN variable).
    #[arg(long)]
    pub facts_token_file: Option<PathBuf>,
    /// Most names in one request's `fields`.
    #[arg(long, default_value_t = charter_runtime::server::DEFAULT_MAX_FIELDS)]
    pub max_fields: usize,
    /// File holding the admin bearer token (else the CHARTER_TOKEN variable).
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// Largest request body, in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    pub max_body: usize,
    /// Most requests in one batch call.
    #[arg(long, default_value_t = 1000)]
    pub max_batch: usize,
    /// Per-scenario policy sets kept parsed; a decision whose set is not held parses
    /// it (tens of µs). Lower saves memory on bundles with many scenarios.
    #[arg(long, default_value_t = charter_runtime::DEFAULT_SLICE_CACHE)]
    pub slice_cache: usize,
    /// Async worker threads (default: one per core).
    #[arg(long)]
    pub workers: Option<usize>,
}

/// The log's default place: `decisions.db` in the folder that holds the bundle (the source
/// folder's parent, or `bundle.json`'s folder), outside the source folder so that writing
/// it never wakes the watcher.
pub fn default_log_path(bundle: &Path) -> PathBuf {
    let holder = match source_of(bundle) {
        Source::Dir(d) => d.parent().map(Path::to_path_buf),
        Source::BundleFile(f) => f.parent().map(Path::to_path_buf),
    };
    holder
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."))
        .join("decisions.db")
}

fn read_token(file: Option<&Path>, var: &str) -> Result<Option<String>, String> {
    if let Some(path) = file {
        return std::fs::read_to_string(path)
            .map(|t| Some(t.trim().to_string()))
            .map_err(|e| format!("cannot read the token file `{}`: {e}", path.display()));
    }
    Ok(std::env::var(var)
        .ok()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty()))
}

/// `charter serve`.
pub fn serve(args: ServeArgs) -> u8 {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Warnings and errors only: reload events are printed below, and the compiler's
        // salsa queries log every execution at info.
        .with_max_level(tracing::Level::WARN)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
    let options = charter_runtime::EngineOptions {
        slice_cache: args.slice_cache,
    };
    let engine = match Engine::load_with(&args.bundle, &options) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("{:?}", miette::Report::new(e));
            return 2;
        }
    };
    if let Some(f) = &args.facts {
        if let Err(e) = engine.facts().load_file(f) {
            eprintln!("{:?}", miette::Report::new(e));
            return 2;
        }
    }
    engine.on_reload(|event| match event {
        ReloadEvent::Reloaded { version, hash } => {
            eprintln!("charter serve: now serving version {version} ({hash})");
        }
        ReloadEvent::Unchanged { .. } => {}
        ReloadEvent::Failed { error } => {
            eprintln!("charter serve: reload failed, the running bundle keeps serving: {error}");
        }
    });
    let token = match read_token(args.token_file.as_deref(), "CHARTER_TOKEN") {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let facts_token = match read_token(args.facts_token_file.as_deref(), "CHARTER_FACTS_TOKEN") {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    // One source of truth for facts: the store when there is one (facts loaded, or a
    // token that can write them), else the request.
    let facts_from = match args.facts_from {
        Some(FactsFromArg::Store) => FactsFrom::Store,
        Some(FactsFromArg::Request) => FactsFrom::Request,
        Some(FactsFromArg::Either) => FactsFrom::Either,
        None if args.facts.is_some() || token.is_some() => FactsFrom::Store,
        None => FactsFrom::Request,
    };
    if facts_from == FactsFrom::Request && args.facts.is_some() {
        eprintln!(
            "error: `--facts` fills the fact store, which `--facts-from request` does not use"
        );
        return 2;
    }
    let log = (!args.no_log).then(|| {
        let mut c = LogConfig::new(
            args.log
                .clone()
                .unwrap_or_else(|| default_log_path(&args.bundle)),
        );
        c.durability = match args.log_mode {
            LogMode::Strict => Durability::Strict,
            LogMode::Relaxed => Durability::Relaxed,
        };
        c.sync = match args.log_sync {
            LogSync::Normal => SyncMode::Normal,
            LogSync::Full => SyncMode::Full,
        };
        c
    });
    let listen = args
        .listen
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)));
    if !listen.ip().is_loopback() {
        eprintln!(
            "charter serve: warning: listening on {listen}, reachable from other machines{}",
            if token.is_none() {
                "; admin endpoints stay off without a token"
            } else {
                ""
            }
        );
    }
    let has_token = token.is_some();
    let config = ServerConfig {
        listen,
        token,
        max_body: args.max_body,
        max_batch: args.max_batch,
        log: log.clone(),
        watch: args.watch,
        facts_from,
        facts_token,
        max_fields: args.max_fields,
        ..ServerConfig::default()
    };
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = args.workers {
        rt.worker_threads(n.max(1));
    }
    let rt = match rt.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return 2;
        }
    };
    let bundle = engine.bundle();
    let result =
        rt.block_on(async move {
            let server = Server::bind(engine, config).await?;
            let addr = server.local_addr()?;
            let log_line = match &log {
                Some(c) => format!(
                    "log {} ({}, sync {})",
                    c.path.display(),
                    c.durability.as_str(),
                    c.sync.as_str()
                ),
                None => "no decision log".to_string(),
            };
            eprintln!(
            "charter serve: listening on http://{addr} — bundle {} {} ({}); {log_line}; admin {}; facts from {}{}",
            bundle.name,
            bundle.version,
            bundle.hash,
            if has_token { "on" } else { "off (no token)" },
            facts_from.as_str(),
            if args.watch { "; watching for changes" } else { "" }
        );
            let _ = std::io::stderr().flush();
            server.run(shutdown_signal()).await
        });
    match result {
        Ok(()) => {
            eprintln!("charter serve: stopped");
            0
        }
        Err(e) => {
            eprintln!("{:?}", miette::Report::new(e));
            2
        }
    }
}

/// The options of `charter log query`.
pub struct QueryArgs {
    pub log: PathBuf,
    pub developer: Option<String>,
    pub dataset: Option<String>,
    pub scenario: Option<String>,
    pub action: Option<String>,
    pub decision: Option<String>,
    pub id: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub limit: Option<u64>,
    pub checkpoints: bool,
    pub format: Format,
}

/// An instant on the command line: RFC 3339, a date, or a span back from now (`7d`).
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
pub fn query(args: &QueryArgs) -> u8 {
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
    for (flag, value, slot) in [
        ("--since", &args.since, &mut filter.since),
        ("--until", &args.until, &mut filter.until),
    ] {
        if let Some(v) = value {
            match instant(flag, v) {
                Ok(t) => *slot = Some(t),
                Err(e) => {
                    eprintln!("error: {e}");
                    return 2;
                }
            }
        }
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
pub fn verify(path: &Path, format: Format) -> u8 {
    let report = match log::verify(path) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{:?}", miette::Report::new(e));
            return 2;
        }
    };
    match format {
        Format::Json => match serde_json::to_string_pretty(&report) {
            Ok(s) => out!("{s}"),
            Err(_) => return 2,
        },
        Format::Human => match &report.broken {
            None => {
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
                if let Some(h) = &report.head_hash {
                    out!("head {h} (keep it elsewhere: a truncated tail shows against it)");
                }
            }
            Some(b) => {
                let id =
                    b.id.as_deref()
                        .map(|i| format!(" (id `{i}`)"))
                        .unwrap_or_default();
                out!("the log is broken at record {}{id}: {}", b.seq, b.reason);
                out!("{} record(s) before it verify", report.records);
            }
        },
    }
    if report.ok() {
        0
    } else {
        1
    }
}

/// `charter log prune`.
pub fn prune(path: &Path, older_than: Option<&str>, before: Option<&str>, format: Format) -> u8 {
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
    match log::prune(path, cut) {
        Ok(r) => {
            match format {
                Format::Json => match serde_json::to_string_pretty(&r) {
                    Ok(s) => out!("{s}"),
                    Err(_) => return 2,
                },
                Format::Human => match (r.from, r.through) {
                    (Some(a), Some(b)) => out!(
                        "pruned {} record(s) made before {} (records {a} to {b}); checkpoint record(s) {:?} keep the chain verifiable",
                        r.pruned,
                        format_ms(cut),
                        r.checkpoints
                    ),
                    _ => out!("nothing was made before {}", format_ms(cut)),
                },
            }
            0
        }
        Err(e) => {
            eprintln!("{:?}", miette::Report::new(e));
            2
        }
    }
}
