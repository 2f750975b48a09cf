//! The writer: one thread owns the connection and commits whatever has queued up in one
//! transaction (group commit); a second thread checkpoints the WAL so that the fsyncs of
//! checkpointing never stall a commit.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};

use super::seal::{Reason, SealConfig, Sealer};
use super::store::{self, NewRecord, RecordKind};
use super::LogError;
use charter_runtime::Decision;

/// When a decision is answered relative to its record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Durability {
    /// Answer only after the record is committed; a decision that cannot be recorded is
    /// denied with that error. The default.
    #[default]
    Strict,
    /// Answer first, write after; a crash can lose the records still queued.
    Relaxed,
}

impl Durability {
    /// `strict` or `relaxed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Durability::Strict => "strict",
            Durability::Relaxed => "relaxed",
        }
    }
}

/// What a commit waits for (SQLite's `synchronous` in WAL mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SyncMode {
    /// A commit is written to the WAL before it returns: it survives the process being
    /// killed, and the WAL is fsynced at each checkpoint. The default.
    #[default]
    Normal,
    /// Every commit also fsyncs the WAL: it survives power loss, at the cost of one fsync
    /// per group commit.
    Full,
}

impl SyncMode {
    /// `normal` or `full`.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncMode::Normal => "normal",
            SyncMode::Full => "full",
        }
    }
}

/// How to open a [`DecisionLog`].
#[derive(Clone, Debug)]
pub struct LogConfig {
    /// The SQLite file (created when missing).
    pub path: PathBuf,
    /// Strict (the default) or relaxed.
    pub durability: Durability,
    /// What a commit waits for.
    pub sync: SyncMode,
    /// Most records in one commit.
    pub max_batch: usize,
    /// Jobs (decide calls) that may wait for the writer before callers wait to enqueue.
    pub queue: usize,
    /// How long a commit waits for a lock held by another process before it fails.
    pub busy_timeout: Duration,
    /// How often the WAL is checkpointed into the database file.
    pub checkpoint_every: Duration,
    /// Seal the chain with this key (see [`SealConfig`]); `None` writes no seals.
    pub seal: Option<SealConfig>,
}

impl LogConfig {
    /// Defaults for a log at `path`.
    pub fn new(path: impl Into<PathBuf>) -> LogConfig {
        LogConfig {
            path: path.into(),
            durability: Durability::Strict,
            sync: SyncMode::Normal,
            max_batch: 4096,
            queue: 16_384,
            busy_timeout: Duration::from_secs(5),
            checkpoint_every: Duration::from_millis(200),
            seal: None,
        }
    }
}

/// One decision to record, built on the request path.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The decision id.
    pub id: String,
    /// When it was decided, milliseconds since the epoch.
    pub ts: i64,
    /// The developer.
    pub developer: String,
    /// The action.
    pub action: String,
    /// The dataset.
    pub dataset: String,
    /// The scenario.
    pub scenario: String,
    /// `allow` or `deny`.
    pub decision: &'static str,
    /// The request as decided, JSON.
    pub request: String,
    /// The answer exactly as sent, JSON.
    pub answer: String,
    /// The bundle's version.
    pub bundle_version: String,
    /// The bundle's hash.
    pub bundle_hash: String,
}

impl Entry {
    /// The entry for `decision`, answered as `answer` to `request` (both JSON).
    pub fn of(decision: &Decision, request: String, answer: String, ts: i64) -> Entry {
        Entry {
            id: decision.decision_id.clone(),
            ts,
            developer: decision.developer.clone(),
            action: decision.action.clone(),
            dataset: decision.dataset.clone(),
            scenario: decision.scenario.clone(),
            decision: decision.decision.as_str(),
            request,
            answer,
            bundle_version: decision.bundle.version.clone(),
            bundle_hash: decision.bundle.hash.clone(),
        }
    }
}

type Reply = oneshot::Sender<Result<(), Arc<str>>>;

enum Job {
    Write {
        entries: Vec<Entry>,
        done: Option<Reply>,
    },
    /// A test write, rolled back: whether the log can take a record now.
    Probe(Reply),
    Stop(oneshot::Sender<()>),
}

/// Upper bounds of the commit-size histogram.
pub const COMMIT_BUCKETS: [u64; 10] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000];

#[derive(Default)]
struct Shared {
    /// Entries queued and not yet committed or failed.
    depth: AtomicI64,
    written: AtomicU64,
    commits: AtomicU64,
    write_errors: AtomicU64,
    lost: AtomicU64,
    commit_sizes: [AtomicU64; COMMIT_BUCKETS.len() + 1],
    commit_micros: AtomicU64,
    healthy: AtomicBool,
    last_error: Mutex<Option<String>>,
    /// Set by the checkpointer when the WAL has grown past [`WAL_LIMIT_FRAMES`] and its
    /// PASSIVE checkpoints have caught up all but a little: the writer then restarts the
    /// WAL between two commits (see [`checkpoint_loop`]).
    restart_wanted: AtomicBool,
}

impl Shared {
    /// A write (or the probe, `how`) succeeded: healthy again, the last error cleared.
    fn mark_healthy(&self, how: &str) {
        if !self.healthy.swap(true, Ordering::Relaxed) {
            if let Ok(mut e) = self.last_error.lock() {
                *e = None;
            }
            tracing::info!("charter: the decision log {how}");
        }
    }

    /// A write (or the probe) failed with `message`.
    fn mark_unhealthy(&self, message: &str) {
        self.healthy.store(false, Ordering::Relaxed);
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(message.to_string());
        }
    }
}

/// What the writer's reply to a job means for its caller: the commit's error, or a
/// closed log when the writer dropped the reply.
fn replied(reply: Result<Result<(), Arc<str>>, oneshot::error::RecvError>) -> Result<(), LogError> {
    match reply {
        Ok(Ok(())) => Ok(()),
        Ok(Err(message)) => Err(LogError::Write {
            message: message.to_string(),
        }),
        Err(_) => Err(LogError::Closed),
    }
}

/// The log's counters, for metrics and the status endpoint.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct LogStats {
    /// Records queued and not yet committed.
    pub queue_depth: i64,
    /// Records committed since the log was opened.
    pub written: u64,
    /// Commits (each holding one or more records).
    pub commits: u64,
    /// Commits that failed.
    pub write_errors: u64,
    /// Records of relaxed mode that failed to be written.
    pub lost: u64,
    /// Commits by size: one count per bucket of [`COMMIT_BUCKETS`], then the rest.
    #[serde(skip)]
    pub commit_sizes: Vec<u64>,
    /// Time spent committing, microseconds.
    #[serde(skip)]
    pub commit_micros: u64,
    /// Whether the last commit succeeded.
    pub healthy: bool,
    /// The last write error, cleared by the next successful commit.
    pub last_error: Option<String>,
}

/// A decision log being written. Share it behind an `Arc`; [`DecisionLog::close`]
/// flushes what is queued and stops the threads.
pub struct DecisionLog {
    tx: mpsc::Sender<Job>,
    shared: Arc<Shared>,
    config: LogConfig,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for DecisionLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "DecisionLog({}, {})",
            self.config.path.display(),
            self.config.durability.as_str()
        )
    }
}

fn configure(conn: &Connection, config: &LogConfig) -> Result<(), LogError> {
    let sync = match config.sync {
        SyncMode::Normal => "NORMAL",
        SyncMode::Full => "FULL",
    };
    // The checkpointer thread checkpoints; the writer never does, so a commit never
    // waits for the database file's fsync.
    conn.execute_batch(&format!(
        "PRAGMA synchronous = {sync}; PRAGMA wal_autocheckpoint = 0; \
         PRAGMA journal_size_limit = 67108864;"
    ))
    .map_err(|e| LogError::Open {
        path: config.path.clone(),
        message: e.to_string(),
    })
}

impl DecisionLog {
    /// Opens (creating when needed) the log and starts its writer.
    pub fn open(config: LogConfig) -> Result<DecisionLog, LogError> {
        let conn = store::open_write(&config.path, config.busy_timeout)?;
        configure(&conn, &config)?;
        let sealer = open_sealer(&conn, &config)?;
        let checkpoint_conn = store::open_write(&config.path, config.busy_timeout)?;
        let (tx, rx) = mpsc::channel(config.queue.max(1));
        let shared = Arc::new(Shared {
            healthy: AtomicBool::new(true),
            ..Default::default()
        });
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
        let spawn_err = |e: std::io::Error| LogError::Open {
            path: config.path.clone(),
            message: format!("cannot start the writer thread: {e}"),
        };
        let writer = {
            let shared = shared.clone();
            let max_batch = config.max_batch.max(1);
            let sealer = sealer.clone();
            std::thread::Builder::new()
                .name("charter-log-writer".into())
                .spawn(move || {
                    run(conn, rx, &shared, max_batch, sealer.as_deref());
                    // Dropping the sender tells the checkpointer to finish.
                    drop(stop_tx);
                })
                .map_err(spawn_err)?
        };
        let every = config.checkpoint_every;
        let for_checkpoints = shared.clone();
        let checkpointer = std::thread::Builder::new()
            .name("charter-log-checkpoint".into())
            .spawn(move || {
                checkpoint_loop(
                    &checkpoint_conn,
                    &stop_rx,
                    every,
                    &for_checkpoints,
                    sealer.as_deref(),
                )
            })
            .map_err(spawn_err)?;
        Ok(DecisionLog {
            tx,
            shared,
            config,
            threads: Mutex::new(vec![writer, checkpointer]),
        })
    }

    /// Strict or relaxed.
    pub fn durability(&self) -> Durability {
        self.config.durability
    }

    /// The configuration it was opened with.
    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.config.path
    }

    /// Records decisions. Strict: returns once they are committed, or with the error that
    /// kept them out. Relaxed: returns once they are queued.
    pub async fn record(&self, entries: Vec<Entry>) -> Result<(), LogError> {
        // Nothing to commit: a strict waiter would wait for a commit that never comes.
        if entries.is_empty() {
            return Ok(());
        }
        let n = entries.len() as i64;
        match self.config.durability {
            Durability::Relaxed => {
                self.shared.depth.fetch_add(n, Ordering::Relaxed);
                let job = Job::Write {
                    entries,
                    done: None,
                };
                self.tx.send(job).await.map_err(|_| {
                    self.shared.depth.fetch_sub(n, Ordering::Relaxed);
                    LogError::Closed
                })
            }
            Durability::Strict => {
                let (done, wait) = oneshot::channel();
                self.shared.depth.fetch_add(n, Ordering::Relaxed);
                let job = Job::Write {
                    entries,
                    done: Some(done),
                };
                if self.tx.send(job).await.is_err() {
                    self.shared.depth.fetch_sub(n, Ordering::Relaxed);
                    return Err(LogError::Closed);
                }
                replied(wait.await)
            }
        }
    }

    /// [`DecisionLog::record`] for callers outside an async runtime.
    pub fn record_blocking(&self, entries: Vec<Entry>) -> Result<(), LogError> {
        if entries.is_empty() {
            return Ok(());
        }
        let n = entries.len() as i64;
        self.shared.depth.fetch_add(n, Ordering::Relaxed);
        let (done, wait) = match self.config.durability {
            Durability::Strict => {
                let (d, w) = oneshot::channel();
                (Some(d), Some(w))
            }
            Durability::Relaxed => (None, None),
        };
        if self.tx.blocking_send(Job::Write { entries, done }).is_err() {
            self.shared.depth.fetch_sub(n, Ordering::Relaxed);
            return Err(LogError::Closed);
        }
        match wait {
            Some(w) => replied(w.blocking_recv()),
            None => Ok(()),
        }
    }

    /// Checks that the log can take a record now: the writer inserts a probe record and
    /// rolls it back, between two commits. A success marks the log healthy again (and
    /// clears its last error), so readiness recovers without waiting for a decision to
    /// commit; a failure marks it unhealthy. Nothing is ever kept in the file.
    pub async fn probe(&self) -> Result<(), LogError> {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Job::Probe(done)).await.is_err() {
            return Err(LogError::Closed);
        }
        replied(wait.await)
    }

    /// The counters.
    pub fn stats(&self) -> LogStats {
        let s = &self.shared;
        LogStats {
            queue_depth: s.depth.load(Ordering::Relaxed).max(0),
            written: s.written.load(Ordering::Relaxed),
            commits: s.commits.load(Ordering::Relaxed),
            write_errors: s.write_errors.load(Ordering::Relaxed),
            lost: s.lost.load(Ordering::Relaxed),
            commit_sizes: s
                .commit_sizes
                .iter()
                .map(|c| c.load(Ordering::Relaxed))
                .collect(),
            commit_micros: s.commit_micros.load(Ordering::Relaxed),
            healthy: s.healthy.load(Ordering::Relaxed),
            last_error: s.last_error.lock().ok().and_then(|e| e.clone()),
        }
    }

    /// Writes everything queued, then stops the writer and the checkpointer. Later
    /// [`DecisionLog::record`] calls fail with [`LogError::Closed`]. Idempotent.
    pub async fn close(&self) {
        let (ack, done) = oneshot::channel();
        if self.tx.send(Job::Stop(ack)).await.is_ok() {
            let _ = done.await;
        }
        let threads: Vec<JoinHandle<()>> = self
            .threads
            .lock()
            .map(|mut t| t.drain(..).collect())
            .unwrap_or_default();
        if !threads.is_empty() {
            let _ = tokio::task::spawn_blocking(move || {
                for t in threads {
                    let _ = t.join();
                }
            })
            .await;
        }
    }

    /// [`DecisionLog::close`] for callers outside an async runtime.
    pub fn close_blocking(&self) {
        let (ack, done) = oneshot::channel();
        if self.tx.blocking_send(Job::Stop(ack)).is_ok() {
            let _ = done.blocking_recv();
        }
        let threads: Vec<JoinHandle<()>> = self
            .threads
            .lock()
            .map(|mut t| t.drain(..).collect())
            .unwrap_or_default();
        for t in threads {
            let _ = t.join();
        }
    }
}

/// The writer's sealing, when the log has a key: the head as it is opened is sealed at
/// once, so that a keyed log always holds a seal and the records written before (by a
/// writer without a key) are covered from here on.
fn open_sealer(conn: &Connection, config: &LogConfig) -> Result<Option<Arc<Sealer>>, LogError> {
    let Some(seal) = &config.seal else {
        return Ok(None);
    };
    let err = |e: rusqlite::Error| LogError::Open {
        path: config.path.clone(),
        message: format!("cannot seal the log: {e}"),
    };
    let sealer = Sealer::new(seal, conn, config.max_batch).map_err(err)?;
    sealer.seal_now(conn, Reason::Open, true).map_err(err)?;
    Ok(Some(Arc::new(sealer)))
}

/// The writer's loop: take the first job, everything else already queued up to
/// `max_batch` records, commit them together, answer every waiter.
fn run(
    mut conn: Connection,
    mut rx: mpsc::Receiver<Job>,
    shared: &Shared,
    max_batch: usize,
    sealer: Option<&Sealer>,
) {
    let mut entries: Vec<Entry> = Vec::new();
    let mut replies: Vec<Reply> = Vec::new();
    // Records of relaxed jobs in the batch: nobody waits for them, so a failed commit
    // loses them and the `lost` counter says how many.
    let mut unanswered = 0usize;
    while let Some(first) = rx.blocking_recv() {
        let mut stop = None;
        let mut probes: Vec<Reply> = Vec::new();
        let mut next = Some(first);
        while let Some(job) = next.take() {
            match job {
                Job::Write {
                    entries: mut e,
                    done,
                } => {
                    match done {
                        Some(d) => replies.push(d),
                        None => unanswered += e.len(),
                    }
                    entries.append(&mut e);
                }
                Job::Probe(reply) => probes.push(reply),
                Job::Stop(ack) => {
                    stop = Some(ack);
                    break;
                }
            }
            if entries.len() < max_batch {
                next = rx.try_recv().ok();
            }
        }
        // A strict job with no entry has nothing to wait for (`record` answers those
        // itself; this keeps a waiter from hanging if one ever gets here).
        if entries.is_empty() {
            for r in replies.drain(..) {
                let _ = r.send(Ok(()));
            }
        }
        for reply in probes.drain(..) {
            let _ = reply.send(probe(&mut conn, shared));
        }
        if !entries.is_empty() {
            let n = entries.len();
            let start = Instant::now();
            let result = commit(&mut conn, &entries, sealer);
            shared
                .commit_micros
                .fetch_add(start.elapsed().as_micros() as u64, Ordering::Relaxed);
            shared.depth.fetch_sub(n as i64, Ordering::Relaxed);
            let reply: Result<(), Arc<str>> = match result {
                Ok(()) => {
                    shared.written.fetch_add(n as u64, Ordering::Relaxed);
                    shared.commits.fetch_add(1, Ordering::Relaxed);
                    let bucket = COMMIT_BUCKETS
                        .iter()
                        .position(|b| n as u64 <= *b)
                        .unwrap_or(COMMIT_BUCKETS.len());
                    if let Some(c) = shared.commit_sizes.get(bucket) {
                        c.fetch_add(1, Ordering::Relaxed);
                    }
                    shared.mark_healthy("is being written again");
                    Ok(())
                }
                Err(e) => {
                    let message = e.to_string();
                    shared.write_errors.fetch_add(1, Ordering::Relaxed);
                    shared.lost.fetch_add(unanswered as u64, Ordering::Relaxed);
                    shared.mark_unhealthy(&message);
                    tracing::error!(error = %message, records = n, "charter: cannot write the decision log");
                    Err(Arc::from(message))
                }
            };
            for r in replies.drain(..) {
                let _ = r.send(reply.clone());
            }
            entries.clear();
            unanswered = 0;
        }
        if shared.restart_wanted.swap(false, Ordering::Relaxed) {
            restart_wal(&conn);
        }
        if let Some(ack) = stop {
            // The last records written are sealed before the writer stops, so a log
            // closed cleanly has no unsealed tail.
            if let Some(s) = sealer {
                if let Err(e) = s.seal_now(&conn, Reason::Shutdown, true) {
                    tracing::error!(error = %e, "charter: cannot seal the decision log at shutdown");
                }
            }
            let _ = ack.send(());
            break;
        }
    }
    // Later senders find the channel closed and fail with `LogError::Closed`.
    rx.close();
}

/// A test insert, rolled back, that updates the log's health either way.
fn probe(conn: &mut Connection, shared: &Shared) -> Result<(), Arc<str>> {
    let result = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .and_then(|tx| {
            store::append(
                &tx,
                std::iter::once(NewRecord {
                    kind: RecordKind::Decision,
                    id: "probe",
                    ts: 0,
                    developer: "",
                    action: "",
                    dataset: "",
                    scenario: "",
                    decision: "deny",
                    request: "",
                    answer: "",
                    bundle_version: "",
                    bundle_hash: "",
                }),
            )?;
            // Dropping the transaction would roll back too; saying so is clearer.
            tx.rollback()
        });
    match result {
        Ok(()) => {
            shared.mark_healthy("can be written again (probe)");
            Ok(())
        }
        Err(e) => {
            let message = e.to_string();
            shared.mark_unhealthy(&message);
            Err(Arc::from(message))
        }
    }
}

fn commit(
    conn: &mut Connection,
    entries: &[Entry],
    sealer: Option<&Sealer>,
) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    store::append(
        &tx,
        entries.iter().map(|e| NewRecord {
            kind: RecordKind::Decision,
            id: &e.id,
            ts: e.ts,
            developer: &e.developer,
            action: &e.action,
            dataset: &e.dataset,
            scenario: &e.scenario,
            decision: e.decision,
            request: &e.request,
            answer: &e.answer,
            bundle_version: &e.bundle_version,
            bundle_hash: &e.bundle_hash,
        }),
    )?;
    // A seal due is part of the commit that made it due: the records and the seal that
    // covers them land together.
    if let Some(s) = sealer {
        s.seal_if_due(&tx, Reason::Records, false)?;
    }
    tx.commit()
}

/// WAL frames (pages of 4 KiB) past which the WAL is restarted: 64 MiB.
const WAL_LIMIT_FRAMES: i64 = 16_384;
/// Frames a PASSIVE checkpoint may leave behind for the writer's RESTART to copy.
const RESTART_REMAINDER: i64 = 2_048;

/// Copies what is left of the WAL into the database and makes the next commit start the
/// WAL over. Runs on the writer, between commits, after every waiter has its answer; it
/// waits only briefly for readers (a long `charter log query`), and tries again later.
fn restart_wal(conn: &Connection) {
    let _ = conn.busy_timeout(Duration::from_millis(20));
    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(())) {
        tracing::debug!(error = %e, "charter: WAL restart deferred");
    }
    let _ = conn.busy_timeout(Duration::from_secs(5));
}

/// The checkpointer: PASSIVE checkpoints copy the WAL into the database file beside the
/// writer, never blocking it, and take the fsyncs off the commit path. Under sustained
/// load the writer appends while each checkpoint runs, so the WAL is never wholly copied
/// at the moment a commit begins, which is when SQLite would start it over; past
/// [`WAL_LIMIT_FRAMES`] the checkpointer catches up until little is left and asks the
/// writer to restart the WAL itself, which costs one short pause instead of a WAL that
/// grows without bound.
fn checkpoint_loop(
    conn: &Connection,
    stop: &std::sync::mpsc::Receiver<()>,
    every: Duration,
    shared: &Shared,
    sealer: Option<&Sealer>,
) {
    let passive = || {
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
        })
    };
    // Runs until the writer drops its end of the channel (it never sends).
    while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(every) {
        match passive() {
            Ok((mut log, mut done)) if log > WAL_LIMIT_FRAMES => {
                for _ in 0..4 {
                    if log - done <= RESTART_REMAINDER {
                        break;
                    }
                    match passive() {
                        Ok((l, d)) => (log, done) = (l, d),
                        Err(_) => break,
                    }
                }
                shared.restart_wanted.store(true, Ordering::Relaxed);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "charter: WAL checkpoint failed"),
        }
        // While no commit comes to seal them, records left unsealed past the interval
        // are sealed from here.
        if let Some(s) = sealer {
            let sealed = s.idle_seal_due(conn).and_then(|due| {
                due.then(|| s.seal_now(conn, Reason::Interval, false))
                    .transpose()
            });
            if let Err(e) = sealed {
                tracing::warn!(error = %e, "charter: cannot seal the decision log");
            }
        }
    }
}
