//! The log's SQLite schema, its records and their hash chain.

use std::path::Path;

use rusqlite::{Connection, OpenFlags, OptionalExtension, Row};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::LogError;
use crate::keys::hex;

/// The log format, stored in the `meta` table and mixed into every record hash.
pub const FORMAT: &str = "charter-log/1";

/// The previous hash of the first record ever written.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    ts INTEGER NOT NULL,
    developer TEXT NOT NULL,
    action TEXT NOT NULL,
    dataset TEXT NOT NULL,
    scenario TEXT NOT NULL,
    decision TEXT NOT NULL,
    request TEXT NOT NULL,
    answer TEXT NOT NULL,
    bundle_version TEXT NOT NULL,
    bundle_hash TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_ts ON records (ts);
CREATE INDEX IF NOT EXISTS records_developer ON records (developer, ts);
CREATE TABLE IF NOT EXISTS seals (
    id INTEGER PRIMARY KEY,
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL,
    ts INTEGER NOT NULL,
    next_within INTEGER,
    reason TEXT NOT NULL,
    key_id TEXT NOT NULL,
    signature TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS seals_seq ON seals (seq);
CREATE INDEX IF NOT EXISTS seals_key ON seals (key_id, seq);
";

/// What a record is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// A decision answered.
    Decision,
    /// A prune: `request` holds what was pruned and the last pruned record's hash.
    Checkpoint,
}

impl RecordKind {
    /// `decision` or `checkpoint`, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Decision => "decision",
            RecordKind::Checkpoint => "checkpoint",
        }
    }

    fn parse(s: &str) -> Option<RecordKind> {
        match s {
            "decision" => Some(RecordKind::Decision),
            "checkpoint" => Some(RecordKind::Checkpoint),
            _ => None,
        }
    }
}

/// One record as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Record {
    /// Position in the chain, from 1, without gaps (pruning removes a prefix).
    pub seq: i64,
    /// The kind as stored (`decision`, `checkpoint`; anything else fails verification).
    pub kind: String,
    /// The decision id (`decision_id` of the answer).
    pub id: String,
    /// When the decision was made, milliseconds since the epoch.
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
    pub decision: String,
    /// The request as decided, JSON.
    pub request: String,
    /// The answer as sent, JSON.
    pub answer: String,
    /// The bundle's version.
    pub bundle_version: String,
    /// The bundle's hash.
    pub bundle_hash: String,
    /// The hash of the record before.
    pub prev_hash: String,
    /// This record's hash.
    pub hash: String,
}

impl Record {
    /// The kind, when it is one this version knows.
    pub fn kind(&self) -> Option<RecordKind> {
        RecordKind::parse(&self.kind)
    }

    /// The hash this record should have, recomputed from its columns.
    pub fn expected_hash(&self) -> String {
        record_hash(
            self.seq,
            &self.prev_hash,
            &[
                &self.kind,
                &self.id,
                &self.ts.to_string(),
                &self.developer,
                &self.action,
                &self.dataset,
                &self.scenario,
                &self.decision,
                &self.request,
                &self.answer,
                &self.bundle_version,
                &self.bundle_hash,
            ],
        )
    }

    pub(crate) const COLUMNS: &'static str = "seq, kind, id, ts, developer, action, dataset, \
        scenario, decision, request, answer, bundle_version, bundle_hash, prev_hash, hash";

    pub(crate) fn from_row(row: &Row<'_>) -> rusqlite::Result<Record> {
        Ok(Record {
            seq: row.get(0)?,
            kind: row.get(1)?,
            id: row.get(2)?,
            ts: row.get(3)?,
            developer: row.get(4)?,
            action: row.get(5)?,
            dataset: row.get(6)?,
            scenario: row.get(7)?,
            decision: row.get(8)?,
            request: row.get(9)?,
            answer: row.get(10)?,
            bundle_version: row.get(11)?,
            bundle_hash: row.get(12)?,
            prev_hash: row.get(13)?,
            hash: row.get(14)?,
        })
    }
}

/// The hash of a record: SHA-256 over the format, the sequence number, the previous hash
/// and every column, each prefixed by its length so that no two records encode alike.
/// `columns` are, in order: kind, id, ts, developer, action, dataset, scenario, decision,
/// request, answer, bundle version, bundle hash. Lowercase hex.
pub fn record_hash(seq: i64, prev_hash: &str, columns: &[&str]) -> String {
    let mut h = Sha256::new();
    let mut part = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    part(FORMAT.as_bytes());
    part(seq.to_string().as_bytes());
    part(prev_hash.as_bytes());
    for c in columns {
        part(c.as_bytes());
    }
    hex(&h.finalize())
}

fn open_err(path: &Path) -> impl Fn(rusqlite::Error) -> LogError + '_ {
    move |e| LogError::Open {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Opens (creating when needed) a log for writing: WAL mode, the schema, the format check.
pub(crate) fn open_write(path: &Path, busy: std::time::Duration) -> Result<Connection, LogError> {
    let err = open_err(path);
    let conn = Connection::open(path).map_err(&err)?;
    conn.busy_timeout(busy).map_err(&err)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(&err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(LogError::Open {
            path: path.to_path_buf(),
            message: format!("SQLite refused WAL mode (it kept `{mode}`)"),
        });
    }
    conn.execute_batch(SCHEMA).map_err(&err)?;
    check_format(&conn, path, true)?;
    super::seal::ensure_log_id(&conn).map_err(&err)?;
    Ok(conn)
}

/// Opens an existing log for reading (query, verify).
pub fn open_read(path: &Path) -> Result<Connection, LogError> {
    if !path.is_file() {
        return Err(LogError::Open {
            path: path.to_path_buf(),
            message: "no such file".to_string(),
        });
    }
    let err = open_err(path);
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(&err)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(&err)?;
    check_format(&conn, path, false)?;
    Ok(conn)
}

fn check_format(conn: &Connection, path: &Path, create: bool) -> Result<(), LogError> {
    let bad = |message: String| LogError::Format {
        path: path.to_path_buf(),
        message,
    };
    let found: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = 'format'", [], |r| {
            r.get(0)
        })
        .optional()
        .map_err(|e| bad(e.to_string()))?;
    match found {
        Some(f) if f == FORMAT => Ok(()),
        Some(f) => Err(bad(format!(
            "its format is `{f}`, this version reads `{FORMAT}`"
        ))),
        None if create => {
            conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('format', ?1)",
                [FORMAT],
            )
            .map_err(|e| bad(e.to_string()))?;
            Ok(())
        }
        None => Err(bad("it has no format entry".to_string())),
    }
}

/// The last record's sequence number and hash; `(0, GENESIS)` for an empty log.
pub(crate) fn head(conn: &Connection) -> rusqlite::Result<(i64, String)> {
    Ok(conn
        .query_row(
            "SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
        )
        .optional()?
        .unwrap_or_else(|| (0, GENESIS.to_string())))
}

/// What a new record holds, before the chain gives it a place.
pub(crate) struct NewRecord<'a> {
    pub kind: RecordKind,
    pub id: &'a str,
    pub ts: i64,
    pub developer: &'a str,
    pub action: &'a str,
    pub dataset: &'a str,
    pub scenario: &'a str,
    pub decision: &'a str,
    pub request: &'a str,
    pub answer: &'a str,
    pub bundle_version: &'a str,
    pub bundle_hash: &'a str,
}

/// Appends records after the head, inside the caller's transaction. The head is read here,
/// under the transaction's write lock, so that another process appending to the same log
/// (a `charter log prune`) never forks the chain.
pub(crate) fn append<'a>(
    tx: &rusqlite::Transaction<'_>,
    records: impl IntoIterator<Item = NewRecord<'a>>,
) -> rusqlite::Result<(i64, String)> {
    let (mut seq, mut prev) = head(tx)?;
    let mut stmt = tx.prepare_cached(
        "INSERT INTO records (seq, kind, id, ts, developer, action, dataset, scenario, decision, \
         request, answer, bundle_version, bundle_hash, prev_hash, hash) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )?;
    for r in records {
        seq += 1;
        let ts = r.ts.to_string();
        let hash = record_hash(
            seq,
            &prev,
            &[
                r.kind.as_str(),
                r.id,
                &ts,
                r.developer,
                r.action,
                r.dataset,
                r.scenario,
                r.decision,
                r.request,
                r.answer,
                r.bundle_version,
                r.bundle_hash,
            ],
        );
        stmt.execute(rusqlite::params![
            seq,
            r.kind.as_str(),
            r.id,
            r.ts,
            r.developer,
            r.action,
            r.dataset,
            r.scenario,
            r.decision,
            r.request,
            r.answer,
            r.bundle_version,
            r.bundle_hash,
            prev,
            hash,
        ])?;
        prev = hash;
    }
    Ok((seq, prev))
}
