//! Verification: recompute every record's hash and every link of the chain, and name the
//! first record that does not fit.

use std::path::Path;

use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use super::seal::{self, Anchor, SealRow, Signature};
use super::store::{open_read, Record, RecordKind, GENESIS};
use super::time::format_ms;
use super::LogError;
use crate::keys::VerifyingKey;

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
    /// Its sequence number (for a missing record, the number that is missing; for a seal
    /// or an anchor, the record it names).
    pub seq: i64,
    /// Its decision id, when it exists.
    pub id: Option<String>,
    /// What is wrong.
    pub reason: String,
}

/// What to check beyond the chain itself.
#[derive(Clone, Debug, Default)]
pub struct VerifyOptions {
    /// Public keys. When given, every seal by one of them must verify and the chain must
    /// reach the head it signed, the seals must keep their promised spacing, every
    /// checkpoint must carry such a seal, and the log must hold at least one.
    pub keys: Vec<VerifyingKey>,
    /// Signed heads kept outside the log: the chain must still reach each.
    pub anchors: Vec<Anchor>,
    /// Accept a log that holds no seal by the keys (`charter log anchor` may anchor a log
    /// whose writer had no key).
    pub allow_unsealed: bool,
}

/// How one anchor was checked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AnchorCheck {
    /// The file it came from.
    pub file: Option<String>,
    /// The anchored record.
    pub seq: i64,
    /// Its hash.
    pub hash: String,
    /// When it was signed.
    pub time: String,
    /// Whether its signature was checked (a key was given).
    pub signature_checked: bool,
    /// Whether the anchored record was pruned since (then a signed checkpoint accounts for
    /// it, and its hash can no longer be compared).
    pub pruned: bool,
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
    /// The log's id (`None` for a log no writer of this version has opened).
    pub log_id: Option<String>,
    /// The ids of the keys the seals were checked with; empty: integrity only.
    pub keys: Vec<String>,
    /// Seals the log holds.
    pub seals: u64,
    /// Seals whose signature verified by a key given and whose head the chain reaches.
    pub seals_verified: u64,
    /// Seals by other keys (or all seals, when no key was given): not checked.
    pub seals_unchecked: u64,
    /// The last record a verified seal covers.
    pub sealed_through: Option<i64>,
    /// When the last verified seal was made.
    pub last_seal_time: Option<String>,
    /// With a key: the records after the last verified seal, which no seal covers yet
    /// (a running writer seals them within its interval).
    pub unsealed: u64,
    /// The anchors checked.
    pub anchors: Vec<AnchorCheck>,
    /// The first record that does not fit; `None` when the chain verifies.
    pub broken: Option<Broken>,
}

impl VerifyReport {
    /// Whether the whole chain verifies.
    pub fn ok(&self) -> bool {
        self.broken.is_none()
    }
}

/// Verifies the chain of the log at `path` (integrity only: no key, no anchor).
pub fn verify(path: &Path) -> Result<VerifyReport, LogError> {
    verify_with(path, &VerifyOptions::default())
}

/// Verifies the log at `path`, its seals by `options.keys` and its anchors.
pub fn verify_with(path: &Path, options: &VerifyOptions) -> Result<VerifyReport, LogError> {
    let conn = open_read(path)?;
    verify_conn(&conn, options)
}

/// The walk's state between two records: the seals and anchors still ahead, and what the
/// verified seals promised.
struct Walk<'o> {
    options: &'o VerifyOptions,
    /// Anchors not reached yet, by sequence number.
    anchors: Vec<&'o Anchor>,
    /// The next seal, read ahead of the records.
    next_seal: Option<SealRow>,
    /// The last record a verified seal or an anchor matched: a rewrite found at the next
    /// one lies after it.
    last_matched: i64,
    /// Records each verified seal promised the next within (the last promise made).
    promise: Option<(i64, i64)>,
}

impl Walk<'_> {
    fn broken(seq: i64, reason: String) -> Option<Broken> {
        Some(Broken {
            seq,
            id: None,
            reason,
        })
    }

    /// Checks every seal and anchor that names record `seq`, whose hash is `hash`, and,
    /// with a key, that a checkpoint carries a seal. Seals that name an earlier record,
    /// one the chain does not hold, are taken first.
    fn visit(
        &mut self,
        report: &mut VerifyReport,
        seq: i64,
        hash: &str,
        is_checkpoint: bool,
        next_seal: &mut dyn FnMut() -> Result<Option<SealRow>, LogError>,
    ) -> Result<Option<Broken>, LogError> {
        let mut sealed_here = false;
        while let Some(seal) = self.next_seal.take() {
            if seal.head.seq > seq {
                self.next_seal = Some(seal);
                break;
            }
            report.seals += 1;
            let head = &seal.head;
            match head.check(&self.options.keys) {
                Signature::Invalid => {
                    return Ok(Walk::broken(
                        head.seq,
                        format!(
                            "the seal of record {} made {} ({}) does not verify with key `{}`: \
                             it was forged or altered",
                            head.seq,
                            format_ms(head.ts),
                            seal.reason,
                            head.key_id
                        ),
                    ))
                }
                Signature::OtherKey => report.seals_unchecked += 1,
                Signature::Valid if head.seq < seq => {
                    return Ok(Walk::broken(
                        head.seq,
                        format!(
                            "a seal made {} names record {}, which the log no longer holds and \
                             no checkpoint accounts for: records were removed",
                            format_ms(head.ts),
                            head.seq
                        ),
                    ))
                }
                Signature::Valid => {
                    if head.hash != hash {
                        return Ok(Walk::broken(
                            seq,
                            format!(
                                "record {seq} is not the one sealed {} (its hash was `{}`, now \
                                 `{}`): a record from {} to {seq} was rewritten after it was \
                                 sealed",
                                format_ms(head.ts),
                                short(&head.hash),
                                short(hash),
                                self.last_matched + 1
                            ),
                        ));
                    }
                    if let Some((from, within)) = self.promise {
                        if seq > from.saturating_add(within) {
                            return Ok(Walk::broken(
                                seq,
                                format!(
                                    "seals are missing: the seal of record {from} promised the \
                                     next within {within} records, and the next is at record \
                                     {seq}: seals were removed, or records were written \
                                     without the key"
                                ),
                            ));
                        }
                    }
                    if let Some(within) = head.next_within {
                        self.promise = Some((seq, within));
                    } else if let Some((_, within)) = self.promise {
                        // A checkpoint's seal promises nothing itself; the writer's
                        // promise still runs, counted from here.
                        self.promise = Some((seq, within));
                    }
                    sealed_here = true;
                    self.last_matched = seq;
                    report.seals_verified += 1;
                    report.sealed_through = Some(seq);
                    report.last_seal_time = Some(format_ms(head.ts));
                }
            }
            self.next_seal = next_seal()?;
        }
        while let Some(a) = self.anchors.first().copied() {
            if a.head.seq != seq {
                break;
            }
            self.anchors.remove(0);
            if a.head.hash != hash {
                return Ok(Walk::broken(
                    seq,
                    format!(
                        "record {seq} is not the one {} holds (its hash was `{}`, now `{}`): \
                         a record from {} to {seq} was rewritten",
                        a.name(),
                        short(&a.head.hash),
                        short(hash),
                        self.last_matched + 1
                    ),
                ));
            }
            self.last_matched = seq;
        }
        if is_checkpoint && !self.options.keys.is_empty() && !sealed_here {
            return Ok(Walk::broken(
                seq,
                format!(
                    "checkpoint record {seq} carries no seal by the key: anyone could have \
                     written it (a forged checkpoint hiding deleted records, or a prune run \
                     without `--key`)"
                ),
            ));
        }
        Ok(None)
    }
}

/// Checks the anchors that need no walk: the log they name, their signature, and those
/// whose record was pruned. Returns the anchors left for the walk.
fn check_anchors<'o>(
    options: &'o VerifyOptions,
    log_id: &str,
    first_kept: i64,
    report: &mut VerifyReport,
) -> Result<Vec<&'o Anchor>, Broken> {
    let mut left = Vec::new();
    for a in &options.anchors {
        let head = &a.head;
        let fail = |reason: String| Broken {
            seq: head.seq,
            id: None,
            reason,
        };
        if head.log_id != log_id {
            return Err(fail(format!(
                "{} is of log `{}`, and this is log `{}`: the log was replaced, or the anchor \
                 is another log's",
                a.name(),
                head.log_id,
                if log_id.is_empty() { "(none)" } else { log_id }
            )));
        }
        let signature_checked = !options.keys.is_empty();
        if signature_checked {
            match head.check(&options.keys) {
                Signature::Valid => {}
                Signature::Invalid => {
                    return Err(fail(format!(
                        "{} does not verify with key `{}`: it was forged or altered",
                        a.name(),
                        head.key_id
                    )))
                }
                Signature::OtherKey => {
                    return Err(fail(format!(
                        "{} is signed by key `{}`, which is not among the keys given",
                        a.name(),
                        head.key_id
                    )))
                }
            }
        }
        let pruned = head.seq < first_kept;
        if pruned && !signature_checked {
            return Err(fail(format!(
                "{} names record {}, which the log no longer holds: a checkpoint says it was \
                 pruned, but without `--key` nothing shows that checkpoint is genuine",
                a.name(),
                head.seq
            )));
        }
        report.anchors.push(AnchorCheck {
            file: a.file.as_ref().map(|f| f.display().to_string()),
            seq: head.seq,
            hash: head.hash.clone(),
            time: format_ms(head.ts),
            signature_checked,
            pruned,
        });
        if !pruned {
            left.push(a);
        }
    }
    left.sort_by_key(|a| a.head.seq);
    Ok(left)
}

pub(crate) fn verify_conn(
    conn: &Connection,
    options: &VerifyOptions,
) -> Result<VerifyReport, LogError> {
    let mut report = VerifyReport {
        log_id: seal::log_id(conn).map_err(LogError::read)?,
        keys: options.keys.iter().map(|k| k.id().to_string()).collect(),
        ..VerifyReport::default()
    };
    let log_id = report.log_id.clone().unwrap_or_default();
    let first: Option<i64> = conn
        .query_row("SELECT MIN(seq) FROM records", [], |r| r.get(0))
        .map_err(LogError::read)?;
    report.first_seq = first;
    // The point the chain starts from: nothing (seq 0), or the last pruned record, whose
    // hash a checkpoint keeps.
    let (start_seq, start_hash) = match first {
        None | Some(1) => (0, GENESIS.to_string()),
        Some(first) => match checkpoint_for(conn, first - 1)? {
            Some(hash) => (first - 1, hash),
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
        },
    };
    let anchors = match check_anchors(options, &log_id, start_seq, &mut report) {
        Ok(a) => a,
        Err(b) => {
            report.broken = Some(b);
            return Ok(report);
        }
    };
    let mut seal_stmt = if seal::has_seals_table(conn).map_err(LogError::read)? {
        Some(conn.prepare(seal::SEAL_QUERY).map_err(LogError::read)?)
    } else {
        None
    };
    let mut seal_rows = match seal_stmt.as_mut() {
        Some(s) => Some(s.query([]).map_err(LogError::read)?),
        None => None,
    };
    let mut next_seal = || -> Result<Option<SealRow>, LogError> {
        let Some(rows) = seal_rows.as_mut() else {
            return Ok(None);
        };
        match rows.next().map_err(LogError::read)? {
            Some(row) => Ok(Some(
                seal::seal_from_row(row, &log_id).map_err(LogError::read)?,
            )),
            None => Ok(None),
        }
    };
    let mut walk = Walk {
        options,
        anchors,
        next_seal: next_seal()?,
        last_matched: start_seq,
        promise: None,
    };
    if let Some(b) = walk.visit(&mut report, start_seq, &start_hash, false, &mut next_seal)? {
        report.broken = Some(b);
        return Ok(report);
    }
    let mut expected_prev = start_hash;
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {} FROM records ORDER BY seq",
            Record::COLUMNS
        ))
        .map_err(LogError::read)?;
    let mut rows = stmt.query([]).map_err(LogError::read)?;
    let mut expected_seq = start_seq + 1;
    while let Some(row) = rows.next().map_err(LogError::read)? {
        let rec = Record::from_row(row).map_err(LogError::read)?;
        if let Some(b) = check(&rec, expected_seq, &expected_prev) {
            report.broken = Some(b);
            return Ok(report);
        }
        report.records += 1;
        let is_checkpoint = rec.kind() == Some(RecordKind::Checkpoint);
        if is_checkpoint {
            report.checkpoints += 1;
        } else {
            report.decisions += 1;
        }
        if let Some(mut b) = walk.visit(
            &mut report,
            rec.seq,
            &rec.hash,
            is_checkpoint,
            &mut next_seal,
        )? {
            if b.seq == rec.seq {
                b.id = Some(rec.id.clone());
            }
            report.broken = Some(b);
            return Ok(report);
        }
        expected_seq = rec.seq + 1;
        expected_prev = rec.hash;
        report.last_seq = Some(rec.seq);
    }
    if report.records > 0 {
        report.head_hash = Some(expected_prev);
    }
    let last = report.last_seq.unwrap_or(start_seq);
    // What names a record past the end: valid seals and every anchor.
    while let Some(seal) = walk.next_seal.take() {
        report.seals += 1;
        let head = &seal.head;
        match head.check(&options.keys) {
            Signature::OtherKey => report.seals_unchecked += 1,
            Signature::Invalid => {
                report.broken = Walk::broken(
                    head.seq,
                    format!(
                        "the seal of record {} made {} ({}) does not verify with key `{}`: it \
                         was forged or altered",
                        head.seq,
                        format_ms(head.ts),
                        seal.reason,
                        head.key_id
                    ),
                );
                return Ok(report);
            }
            Signature::Valid => {
                report.broken = Walk::broken(
                    head.seq,
                    format!(
                        "the log ends at record {last}, but a seal made {} names record {}: \
                         records were removed from its end{}",
                        format_ms(head.ts),
                        head.seq,
                        if report.records == 0 {
                            " (the log was emptied)"
                        } else {
                            ""
                        }
                    ),
                );
                return Ok(report);
            }
        }
        walk.next_seal = next_seal()?;
    }
    if let Some(a) = walk.anchors.first() {
        report.broken = Walk::broken(
            a.head.seq,
            format!(
                "the log ends at record {last}, before record {} that {} holds: records were \
                 removed from its end{}",
                a.head.seq,
                a.name(),
                if report.records == 0 {
                    " (the log was emptied)"
                } else {
                    ""
                }
            ),
        );
        return Ok(report);
    }
    if !options.keys.is_empty() {
        let sealed = report.sealed_through.unwrap_or(start_seq);
        report.unsealed = u64::try_from(last - sealed).unwrap_or(0);
        if report.seals_verified == 0 && !options.allow_unsealed {
            report.broken = Walk::broken(
                last,
                format!(
                    "the log holds no seal by the key{} given (`{}`): it was never sealed with \
                     it, or its seals were removed",
                    if options.keys.len() == 1 { "" } else { "s" },
                    report.keys.join("`, `")
                ),
            );
            return Ok(report);
        }
        if let Some((from, within)) = walk.promise {
            if last > from.saturating_add(within) {
                report.broken = Walk::broken(
                    from.saturating_add(within).saturating_add(1),
                    format!(
                        "seals are missing: the seal of record {from} promised the next within \
                         {within} records, and {} records follow it unsealed: seals were \
                         removed, or records were written without the key",
                        last - from
                    ),
                );
                return Ok(report);
            }
        }
    }
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
