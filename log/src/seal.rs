//! Seals and anchors: the chain's head signed with the log's Ed25519 key.
//!
//! The hash chain alone shows a change only to someone who cannot recompute it; whoever
//! can write the file can. A *seal* is a signed head — "log L had record `seq` with hash
//! `hash` as its head at `ts`" — stored in the `seals` table: the writer seals every N
//! records, every T seconds while records are unsealed, when it opens and when it shuts
//! down, and `charter log prune` seals each checkpoint it appends. Rewriting a sealed
//! record, or any record before it, needs the private key to re-seal. Each seal also
//! carries the writer's promise that the next one follows within so many records, so
//! removing seals to leave a rewritten tail "unsealed" shows too.
//!
//! An *anchor* is the same signed head written to a file kept elsewhere
//! (`charter log anchor`): it catches what no seal inside the file can, a log cut back
//! to an older sealed state or emptied.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use serde::{Deserialize, Serialize};

use super::store::{self, GENESIS};
use super::time::{format_ms, now_ms};
use super::LogError;
use crate::keys::{SigningKey, VerifyingKey};

/// What a signed head's signature covers, mixed into the signed message.
pub const HEAD_FORMAT: &str = "charter-log-head/1";

/// The format of an anchor file.
pub const ANCHOR_FORMAT: &str = "charter-log-anchor/1";

/// The largest anchor file read (an anchor is a few hundred bytes).
pub const MAX_ANCHOR_FILE: u64 = 64 * 1024;

/// A signed statement that log `log_id` had record `seq`, of hash `hash`, as its head at
/// `ts`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedHead {
    /// The log's id (`meta.log_id`), so a seal or anchor of one log never vouches for
    /// another, even when several replicas share a key.
    pub log_id: String,
    /// The head's sequence number (0 for a log with no record yet).
    pub seq: i64,
    /// The head's hash ([`GENESIS`] for seq 0).
    pub hash: String,
    /// When it was signed, milliseconds since the epoch.
    pub ts: i64,
    /// The writer's promise: its next seal comes within this many records. `None` for
    /// anchors and checkpoint seals, which promise nothing.
    pub next_within: Option<i64>,
    /// The id of the key that signed.
    pub key_id: String,
    /// The Ed25519 signature of [`SignedHead::message`], hex.
    pub signature: String,
}

/// What checking a signed head's signature found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Signature {
    /// Signed by one of the keys given.
    Valid,
    /// Its key id names one of the keys given, but the signature does not verify: forged
    /// or altered.
    Invalid,
    /// Signed by a key not given (or no key given): neither trusted nor refused.
    OtherKey,
}

impl SignedHead {
    /// The signed message: each part prefixed by its length, as in the record hash.
    fn message(log_id: &str, seq: i64, hash: &str, ts: i64, next_within: Option<i64>) -> Vec<u8> {
        let mut m = Vec::with_capacity(192);
        let next = next_within.map(|n| n.to_string()).unwrap_or_default();
        for part in [
            HEAD_FORMAT.as_bytes(),
            log_id.as_bytes(),
            seq.to_string().as_bytes(),
            hash.as_bytes(),
            ts.to_string().as_bytes(),
            next.as_bytes(),
        ] {
            m.extend_from_slice(&(part.len() as u64).to_le_bytes());
            m.extend_from_slice(part);
        }
        m
    }

    /// Signs the head `(seq, hash)` of log `log_id` now.
    pub fn sign(
        key: &SigningKey,
        log_id: &str,
        seq: i64,
        hash: &str,
        next_within: Option<i64>,
    ) -> SignedHead {
        let ts = now_ms();
        let signature = key.sign_hex(&SignedHead::message(log_id, seq, hash, ts, next_within));
        SignedHead {
            log_id: log_id.to_string(),
            seq,
            hash: hash.to_string(),
            ts,
            next_within,
            key_id: key.id().to_string(),
            signature,
        }
    }

    pub(crate) fn check(&self, keys: &[VerifyingKey]) -> Signature {
        let Some(key) = keys.iter().find(|k| k.id() == self.key_id) else {
            return Signature::OtherKey;
        };
        let m = SignedHead::message(
            &self.log_id,
            self.seq,
            &self.hash,
            self.ts,
            self.next_within,
        );
        if key.verify_hex(&m, &self.signature) {
            Signature::Valid
        } else {
            Signature::Invalid
        }
    }
}

/// Why a seal was made, as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reason {
    /// The writer opened the log.
    Open,
    /// Enough records since the last seal.
    Records,
    /// Records unsealed for long enough.
    Interval,
    /// The writer closed the log.
    Shutdown,
    /// A prune appended a checkpoint.
    Checkpoint,
}

impl Reason {
    fn as_str(self) -> &'static str {
        match self {
            Reason::Open => "open",
            Reason::Records => "records",
            Reason::Interval => "interval",
            Reason::Shutdown => "shutdown",
            Reason::Checkpoint => "checkpoint",
        }
    }
}

/// How the writer seals the log it writes.
#[derive(Clone, Debug)]
pub struct SealConfig {
    /// The private key.
    pub key: Arc<SigningKey>,
    /// Seal once this many records are unsealed (checked at each commit).
    pub every_records: u64,
    /// Seal once records have been unsealed this long (checked at each commit, and by
    /// the checkpointer thread while the log is idle).
    pub every: Duration,
}

impl SealConfig {
    /// Seals every 1,000 records or 5 seconds, whichever comes first.
    pub fn new(key: Arc<SigningKey>) -> SealConfig {
        SealConfig {
            key,
            every_records: 1000,
            every: Duration::from_secs(5),
        }
    }
}

/// Creates the log's id when it has none (a log opened for writing by a version without
/// ids gets one then), and returns it.
pub(crate) fn ensure_log_id(conn: &Connection) -> rusqlite::Result<String> {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // No random source: the time and the process still tell logs apart.
        bytes[..8].copy_from_slice(&now_ms().to_le_bytes());
        bytes[8..12].copy_from_slice(&std::process::id().to_le_bytes());
    }
    conn.execute(
        "INSERT OR IGNORE INTO meta (key, value) VALUES ('log_id', ?1)",
        [crate::keys::hex(&bytes)],
    )?;
    conn.query_row("SELECT value FROM meta WHERE key = 'log_id'", [], |r| {
        r.get(0)
    })
}

/// The log's id, `None` for a log no writer of this version has opened.
pub(crate) fn log_id(conn: &Connection) -> rusqlite::Result<Option<String>> {
    conn.query_row("SELECT value FROM meta WHERE key = 'log_id'", [], |r| {
        r.get(0)
    })
    .optional()
}

/// Whether the file has a `seals` table (a log written before seals existed has none,
/// and a read-only connection cannot create it).
pub(crate) fn has_seals_table(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'seals'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

/// Stores a seal.
pub(crate) fn insert(conn: &Connection, head: &SignedHead, reason: Reason) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO seals (seq, hash, ts, next_within, reason, key_id, signature) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(rusqlite::params![
        head.seq,
        head.hash,
        head.ts,
        head.next_within,
        reason.as_str(),
        head.key_id,
        head.signature,
    ])?;
    Ok(())
}

/// Signs and stores the head of the chain, inside the caller's transaction, when it is
/// not sealed yet. Used by prune for its checkpoints.
pub(crate) fn seal_head(
    conn: &Connection,
    key: &SigningKey,
    reason: Reason,
    next_within: Option<i64>,
) -> rusqlite::Result<()> {
    let log_id = ensure_log_id(conn)?;
    let (seq, hash) = store::head(conn)?;
    insert(
        conn,
        &SignedHead::sign(key, &log_id, seq, &hash, next_within),
        reason,
    )
}

/// The writer's sealing: when a seal is due, and the promise each seal makes.
pub(crate) struct Sealer {
    key: Arc<SigningKey>,
    log_id: String,
    every_records: i64,
    every_ms: i64,
    /// The next seal comes within this many records: a commit seals once
    /// `every_records` are unsealed, and one commit adds at most `max_batch`.
    promise: i64,
}

impl Sealer {
    pub(crate) fn new(
        config: &SealConfig,
        conn: &Connection,
        max_batch: usize,
    ) -> rusqlite::Result<Sealer> {
        let every_records = i64::try_from(config.every_records.max(1)).unwrap_or(i64::MAX);
        let batch = i64::try_from(max_batch.max(1)).unwrap_or(i64::MAX);
        Ok(Sealer {
            key: config.key.clone(),
            log_id: ensure_log_id(conn)?,
            every_records,
            every_ms: i64::try_from(config.every.as_millis()).unwrap_or(i64::MAX),
            promise: every_records.saturating_add(batch),
        })
    }

    /// Seals the head inside the caller's transaction when it is not sealed and a seal is
    /// due (`force`: whenever it is not sealed).
    pub(crate) fn seal_if_due(
        &self,
        conn: &Connection,
        reason: Reason,
        force: bool,
    ) -> rusqlite::Result<bool> {
        let (seq, hash) = store::head(conn)?;
        let last: Option<(i64, i64)> = conn
            .prepare_cached(
                "SELECT seq, ts FROM seals WHERE key_id = ?1 ORDER BY seq DESC, id DESC LIMIT 1",
            )?
            .query_row([self.key.id()], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let due = match last {
            None => true,
            Some((s, _)) if s >= seq => false,
            Some((s, t)) => {
                force
                    || seq - s >= self.every_records
                    || now_ms().saturating_sub(t) >= self.every_ms
            }
        };
        if due {
            let head = SignedHead::sign(&self.key, &self.log_id, seq, &hash, Some(self.promise));
            insert(conn, &head, reason)?;
        }
        Ok(due)
    }

    /// Seals in a transaction of its own: at open, at shutdown, and from the
    /// checkpointer while the log is idle.
    pub(crate) fn seal_now(
        &self,
        conn: &Connection,
        reason: Reason,
        force: bool,
    ) -> rusqlite::Result<bool> {
        let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
        let sealed = self.seal_if_due(&tx, reason, force)?;
        if sealed {
            tx.commit()?;
        }
        Ok(sealed)
    }

    /// Whether records have waited past the interval since the last seal, read without
    /// taking the write lock (the checkpointer asks this every tick).
    pub(crate) fn idle_seal_due(&self, conn: &Connection) -> rusqlite::Result<bool> {
        let (seq, _) = store::head(conn)?;
        let last: Option<(i64, i64)> = conn
            .prepare_cached(
                "SELECT seq, ts FROM seals WHERE key_id = ?1 ORDER BY seq DESC, id DESC LIMIT 1",
            )?
            .query_row([self.key.id()], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        Ok(match last {
            None => true,
            Some((s, t)) => s < seq && now_ms().saturating_sub(t) >= self.every_ms,
        })
    }
}

/// A seal as stored.
#[derive(Clone, Debug)]
pub(crate) struct SealRow {
    pub head: SignedHead,
    pub reason: String,
}

/// The seals of the log, in the order of the chain, as one statement to step through.
pub(crate) const SEAL_QUERY: &str = "SELECT seq, hash, ts, next_within, reason, key_id, \
    signature FROM seals ORDER BY seq, id";

pub(crate) fn seal_from_row(row: &rusqlite::Row<'_>, log_id: &str) -> rusqlite::Result<SealRow> {
    Ok(SealRow {
        head: SignedHead {
            log_id: log_id.to_string(),
            seq: row.get(0)?,
            hash: row.get(1)?,
            ts: row.get(2)?,
            next_within: row.get(3)?,
            key_id: row.get(5)?,
            signature: row.get(6)?,
        },
        reason: row.get(4)?,
    })
}

/// A signed head kept outside the log: what `charter log anchor` writes and
/// `charter log verify --anchor` checks the log against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anchor {
    /// The signed head.
    pub head: SignedHead,
    /// The file it was read from, for messages.
    pub file: Option<PathBuf>,
}

/// An anchor file: the signed head, its format, and its time for people.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AnchorFile {
    format: String,
    log_id: String,
    seq: i64,
    hash: String,
    ts: i64,
    /// Not signed: `ts` is.
    time: String,
    key_id: String,
    signature: String,
}

impl Anchor {
    /// The anchor's JSON, as written to its file.
    pub fn to_json(&self) -> String {
        let f = AnchorFile {
            format: ANCHOR_FORMAT.to_string(),
            log_id: self.head.log_id.clone(),
            seq: self.head.seq,
            hash: self.head.hash.clone(),
            ts: self.head.ts,
            time: format_ms(self.head.ts),
            key_id: self.head.key_id.clone(),
            signature: self.head.signature.clone(),
        };
        serde_json::to_string_pretty(&f).unwrap_or_default() + "\n"
    }

    /// Reads an anchor file.
    pub fn read(path: &Path) -> Result<Anchor, LogError> {
        use std::io::Read;
        let bad = |message: String| LogError::Anchor {
            path: path.to_path_buf(),
            message,
        };
        let file = std::fs::File::open(path).map_err(|e| bad(e.to_string()))?;
        let mut text = String::new();
        file.take(MAX_ANCHOR_FILE + 1)
            .read_to_string(&mut text)
            .map_err(|e| bad(e.to_string()))?;
        if text.len() as u64 > MAX_ANCHOR_FILE {
            return Err(bad(format!(
                "it is longer than {MAX_ANCHOR_FILE} bytes, and an anchor is a few hundred"
            )));
        }
        let f: AnchorFile = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        if f.format != ANCHOR_FORMAT {
            return Err(bad(format!(
                "its `format` is `{}`, this version reads `{ANCHOR_FORMAT}`",
                f.format
            )));
        }
        Ok(Anchor {
            head: SignedHead {
                log_id: f.log_id,
                seq: f.seq,
                hash: f.hash,
                ts: f.ts,
                next_within: None,
                key_id: f.key_id,
                signature: f.signature,
            },
            file: Some(path.to_path_buf()),
        })
    }

    /// How messages name it: its file, or its sequence number.
    pub(crate) fn name(&self) -> String {
        match &self.file {
            Some(f) => format!("the anchor `{}`", f.display()),
            None => format!("the anchor of record {}", self.head.seq),
        }
    }
}

/// Signs the log's head after checking the chain (and its seals, by this key): an anchor
/// must never vouch for a log that is already broken.
pub fn anchor(path: &Path, key: &SigningKey) -> Result<Anchor, LogError> {
    let options = super::VerifyOptions {
        keys: vec![key.verifying_key()],
        anchors: Vec::new(),
        allow_unsealed: true,
    };
    let report = super::verify_with(path, &options)?;
    if let Some(b) = &report.broken {
        return Err(LogError::Write {
            message: format!(
                "the log does not verify (record {}: {}); it is not anchored",
                b.seq, b.reason
            ),
        });
    }
    let log_id = report.log_id.clone().ok_or_else(|| LogError::Format {
        path: path.to_path_buf(),
        message: "it has no log id: open it once with `charter serve` (or prune it) so that \
                  this version gives it one"
            .to_string(),
    })?;
    let seq = report.last_seq.unwrap_or(0);
    let hash = report
        .head_hash
        .clone()
        .unwrap_or_else(|| GENESIS.to_string());
    Ok(Anchor {
        head: SignedHead::sign(key, &log_id, seq, &hash, None),
        file: None,
    })
}
