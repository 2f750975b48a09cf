//! `charter serve`: the decision server (the log's own commands are in `log_cmd.rs`).
//!
//! Exit codes: 0 after a clean shutdown, 2 when it cannot start.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use charter_log::{Durability, LogConfig, SealConfig, SyncMode};
use charter_runtime::{source_of, Engine, ReloadEvent, Source};
use charter_server::{shutdown_signal, FactsFrom, Server, ServerConfig, DEFAULT_PORT};
use clap::ValueEnum;

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
    /// Seal the log with this Ed25519 private key (`charter log keygen`): the chain's
    /// head is signed every `--log-seal-every` records or `--log-seal-interval` seconds,
    /// and at shutdown.
    #[arg(long, value_name = "PRIV", conflicts_with = "no_log")]
    pub log_key: Option<PathBuf>,
    /// Seal after this many records (with `--log-key`).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=1_000_000), requires = "log_key")]
    pub log_seal_every: u64,
    /// Seal records unsealed for this many seconds (with `--log-key`).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=86_400), requires = "log_key")]
    pub log_seal_interval: u64,
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
    #[arg(long, default_value_t = charter_server::DEFAULT_MAX_FIELDS)]
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
    /// A public key bundles must be signed by (repeat for several). With one, only a
    /// signed bundle.json loads, at start and on every reload; the last good one keeps
    /// serving when a reload is refused.
    #[arg(long = "verify-key", value_name = "PUB")]
    pub verify_keys: Vec<PathBuf>,
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
    // The key first: a bad key file fails at once, before the bundle compiles.
    let seal = match &args.log_key {
        Some(path) => match crate::log_cmd::read_private_key(path) {
            Ok(key) => {
                let mut seal = SealConfig::new(Arc::new(key));
                seal.every_records = args.log_seal_every;
                seal.every = Duration::from_secs(args.log_seal_interval);
                Some(seal)
            }
            Err(code) => return code,
        },
        None => None,
    };
    let verify_keys = match crate::sign_cmd::read_verify_keys(&args.verify_keys) {
        Ok(k) => k,
        Err(code) => return code,
    };
    let options = charter_runtime::EngineOptions {
        slice_cache: args.slice_cache,
        verify_keys,
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
        c.seal = seal;
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
                    "log {} ({}, sync {}, {})",
                    c.path.display(),
                    c.durability.as_str(),
                    c.sync.as_str(),
                    match &c.seal {
                        Some(s) => format!("sealed by key {}", s.key.id()),
                        None => "not sealed".to_string(),
                    }
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
