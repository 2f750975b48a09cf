//! Verification: recompute every record's hash and every link of the chain, and name the
//! first record that does not fit.

use std::path::Path;

use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use super::store::{open_read, Record, RecordKind, GENESIS};
use super::LogError;

/// What a checkpoint record's `request` column holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CheckpointBody {
    /// The first record pruned.
    pub pruned_from: i64,
    /// The last record pruned: the chain resumes at the next.
    pub pruned_through: i64,
    /// How many records were pruned.
    pub pruned: i64,
    /// The hash of record `pruned_through`.
    pub last_hash: String,
    /// Records older than this were pruned.
    pub before: String,
}

/// The first record that does not fit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Broken {
    /// Its sequence number (for a missing record, the number that is missing).
    pub seq: i64,
    /// Its decision id, when it exists.
    pub id: Option<String>,
    /// What is wrong.
    pub reason: String,
}

/// What verification found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Records checked.
    pub records: u64,
    /// Of which decisions.
    pub decisions: u64,
    /// Of which checkpoints.
    pub checkpoints: u64,
    /// The first record kept (records before it were pruned).
    pub first_seq: Option<i64>,
    /// The last record.
    pub last_seq: Option<i64>,
    /// The last record's hash: publish it elsewhere to detect a truncated tail.
    pub head_hash: Option<String>,
    /// The first record that does not fit; `None` when the chain verifies.
    pub broken: Option<Broken>,
}

impl VerifyReport {
    /// Whether the whole chain verifies.
    pub fn ok(&self) -> bool {
        self.broken.is_none()
    }
}

/// Verifies the log at `path`.
pub fn verify(path: &Path) -> Result<VerifyReport, LogError> {
    let conn = open_read(path)?;
    verify_conn(&conn)
}

pub(crate) fn verify_conn(conn: &Connection) -> Result<VerifyReport, LogError> {
    let mut report = VerifyReport::default();
    let first: Option<i64> = conn
        .query_row("SELECT MIN(seq) FROM records", [], |r| r.get(0))
        .map_err(LogError::read)?;
    let Some(first) = first else {
        return Ok(report);
    };
    report.first_seq = Some(first);
    let mut expected_prev = if first == 1 {
        GENESIS.to_string()
    } else {
        match checkpoint_for(conn, first - 1)? {
            Some(hash) => hash,
            None => {
                report.broken = Some(Broken {
                    seq: first - 1,
                    id: None,
                    reason: format!(
                        "records 1 to {} are missing and no checkpoint record accounts for them",
                        first - 1
                    ),
                });
                return Ok(report);
            }
        }
    };
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {} FROM records ORDER BY seq",
            Record::COLUMNS
        ))
        .map_err(LogError::read)?;
    let mut rows = stmt.query([]).map_err(LogError::read)?;
    let mut expected_seq = first;
    while let Some(row) = rows.next().map_err(LogError::read)? {
        let rec = Record::from_row(row).map_err(LogError::read)?;
        if let Some(b) = check(&rec, expected_seq, &expected_prev) {
            report.broken = Some(b);
            return Ok(report);
        }
        report.records += 1;
        match rec.kind() {
            Some(RecordKind::Checkpoint) => report.checkpoints += 1,
            _ => report.decisions += 1,
        }
        expected_seq = rec.seq + 1;
        expected_prev = rec.hash;
        report.last_seq = Some(rec.seq);
    }
    report.head_hash = Some(expected_prev);
    Ok(report)
}

fn check(rec: &Record, expected_seq: i64, expected_prev: &str) -> Option<Broken> {
    let broken = |reason: String| {
        Some(Broken {
            seq: rec.seq,
            id: Some(rec.id.clone()),
            reason,
        })
    };
    if rec.seq != expected_seq {
        let missing = if rec.seq == expected_seq + 1 {
            format!("record {expected_seq} is missing")
        } else {
            format!("records {expected_seq} to {} are missing", rec.seq - 1)
        };
        return Some(Broken {
            seq: expected_seq,
            id: None,
            reason: format!("{missing}: the chain jumps to record {}", rec.seq),
        });
    }
    let Some(kind) = rec.kind() else {
        return broken(format!("its kind `{}` is not one a log holds", rec.kind));
    };
    if rec.expected_hash() != rec.hash {
        return broken(
            "its content does not match its hash: the record was changed after it was written"
                .to_string(),
        );
    }
    if rec.prev_hash != expected_prev {
        return broken(format!(
            "the previous hash it holds (`{}`) is not the hash of the record before it (`{}`): \
             a record before it was changed, removed or reordered",
            short(&rec.prev_hash),
            short(expected_prev)
        ));
    }
    if kind == RecordKind::Checkpoint
        && serde_json::from_str::<CheckpointBody>(&rec.request).is_err()
    {
        return broken("it is a checkpoint whose body does not read".to_string());
    }
    None
}

fn short(hash: &str) -> &str {
    hash.get(..16).unwrap_or(hash)
}

/// The hash a checkpoint records for the last record it pruned, `through`.
fn checkpoint_for(conn: &Connection, through: i64) -> Result<Option<String>, LogError> {
    let mut stmt = conn
        .prepare("SELECT request FROM records WHERE kind = 'checkpoint' ORDER BY seq DESC")
        .map_err(LogError::read)?;
    let bodies = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(LogError::read)?;
    for body in bodies {
        let body = body.map_err(LogError::read)?;
        if let Ok(cp) = serde_json::from_str::<CheckpointBody>(&body) {
            if cp.pruned_through == through {
                return Ok(Some(cp.last_hash));
            }
        }
    }
    Ok(None)
}
