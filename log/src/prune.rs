//! Retention: delete the oldest records and keep the chain verifiable with a checkpoint
//! record that names the last pruned record's hash.

use std::path::Path;

use rusqlite::{OptionalExtension, TransactionBehavior};
use serde::Serialize;

use super::seal::{self, Reason};
use super::store::{self, NewRecord, RecordKind};
use super::time::{format_ms, now_ms};
use super::verify::{verify_conn, CheckpointBody, VerifyOptions};
use super::LogError;
use crate::keys::SigningKey;

/// Records deleted per transaction, so that a server writing the same log waits for the
/// write lock only briefly (each step appends its own checkpoint, so the chain verifies
/// after every step).
const STEP: i64 = 50_000;

/// What a prune did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PruneReport {
    /// Records deleted.
    pub pruned: u64,
    /// The first record deleted.
    pub from: Option<i64>,
    /// The last record deleted.
    pub through: Option<i64>,
    /// The checkpoint records appended (one per step).
    pub checkpoints: Vec<i64>,
}

fn write_err(e: rusqlite::Error) -> LogError {
    LogError::Write {
        message: e.to_string(),
    }
}

/// Deletes the records made before `before_ms` (milliseconds since the epoch): the longest
/// prefix of the chain that is older, with the seals that name them. The log must verify
/// first (with `key`'s public half, when given): pruning a broken log would discard the
/// evidence. With `key`, each checkpoint is sealed; a log that holds seals is not pruned
/// without one, since its unsealed checkpoint would then fail `verify --key`.
pub fn prune(
    path: &Path,
    before_ms: i64,
    key: Option<&SigningKey>,
) -> Result<PruneReport, LogError> {
    if !path.is_file() {
        return Err(LogError::Open {
            path: path.to_path_buf(),
            message: "no such file".to_string(),
        });
    }
    let mut conn = store::open_write(path, std::time::Duration::from_secs(10))?;
    let options = VerifyOptions {
        keys: key.map(|k| vec![k.verifying_key()]).unwrap_or_default(),
        anchors: Vec::new(),
        allow_unsealed: true,
    };
    let checked = verify_conn(&conn, &options)?;
    if key.is_none() && checked.seals > 0 {
        return Err(LogError::Write {
            message: format!(
                "the log is sealed ({} seal(s)); give its private key with `--key` so that the \
                 checkpoint is sealed too (an unsealed checkpoint fails `charter log verify \
                 --key`, as a forged one would)",
                checked.seals
            ),
        });
    }
    if let Some(b) = checked.broken {
        return Err(LogError::Write {
            message: format!(
                "the log does not verify (record {}: {}); it is left as it is",
                b.seq, b.reason
            ),
        });
    }
    let mut report = PruneReport::default();
    // Never prune past the records that were there at the start: each step's checkpoint
    // is newer than the cut, unless the cut is in the future.
    let (start_head, _) = store::head(&conn).map_err(LogError::read)?;
    loop {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(write_err)?;
        let first: Option<i64> = tx
            .query_row("SELECT MIN(seq) FROM records", [], |r| r.get(0))
            .map_err(write_err)?;
        let Some(first) = first else { break };
        // Every record before the first one made at or after `before` is older.
        let keep_from: Option<i64> = tx
            .query_row(
                "SELECT MIN(seq) FROM records WHERE ts >= ?1",
                [before_ms],
                |r| r.get(0),
            )
            .map_err(write_err)?;
        let (head, _) = store::head(&tx).map_err(write_err)?;
        let last_old = keep_from.map_or(head, |k| k - 1).min(start_head);
        if last_old < first {
            break;
        }
        let through = last_old.min(first + STEP - 1);
        let last_hash: Option<String> = tx
            .query_row("SELECT hash FROM records WHERE seq = ?1", [through], |r| {
                r.get(0)
            })
            .optional()
            .map_err(write_err)?;
        let Some(last_hash) = last_hash else {
            return Err(LogError::Write {
                message: format!("record {through} vanished while pruning"),
            });
        };
        let now = now_ms();
        let body = CheckpointBody {
            pruned_from: first,
            pruned_through: through,
            pruned: through - first + 1,
            last_hash,
            before: format_ms(before_ms),
        };
        let body = serde_json::to_string(&body).map_err(|e| LogError::Write {
            message: e.to_string(),
        })?;
        let id = format!("checkpoint-{now}");
        let (seq, _) = store::append(
            &tx,
            [NewRecord {
                kind: RecordKind::Checkpoint,
                id: &id,
                ts: now,
                developer: "",
                action: "",
                dataset: "",
                scenario: "",
                decision: "",
                request: &body,
                answer: "",
                bundle_version: "",
                bundle_hash: "",
            }],
        )
        .map_err(write_err)?;
        if let Some(key) = key {
            seal::seal_head(&tx, key, Reason::Checkpoint, None).map_err(write_err)?;
        }
        // Deleted after the checkpoint is appended: the chain's head must still be there
        // to append to, even when every record is pruned.
        let deleted = tx
            .execute("DELETE FROM records WHERE seq <= ?1", [through])
            .map_err(write_err)?;
        tx.execute("DELETE FROM seals WHERE seq <= ?1", [through])
            .map_err(write_err)?;
        tx.commit().map_err(write_err)?;
        report.pruned += deleted as u64;
        report.from.get_or_insert(first);
        report.through = Some(through);
        report.checkpoints.push(seq);
    }
    // Give the space back to the file system when nothing else holds the WAL.
    let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
    Ok(report)
}
