//! The decision log on its own: group commit from many threads, the hash chain, tampering
//! of every kind found and named, pruning that keeps the chain verifiable, and a prune
//! running while decisions are being written.

#![cfg(feature = "log")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use charter_runtime::log::{self, DecisionLog, Durability, Entry, Filter, LogConfig};
use rusqlite::Connection;

fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("charter-log-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d.join("decisions.db")
}

fn entry(i: usize, ts: i64) -> Entry {
    Entry {
        id: format!("id-{i:06}"),
        ts,
        developer: format!("dev-{}", i % 3),
        action: "verify".into(),
        dataset: if i.is_multiple_of(2) {
            "tax.a"
        } else {
            "market.b"
        }
        .into(),
        scenario: "普惠金融".into(),
        decision: if i.is_multiple_of(4) { "deny" } else { "allow" },
        request: format!(
            r#"{{"developer":"dev-{}","consent":{{"granted":true,"reference":"SQ-{i}"}},"purpose":"授信"}}"#,
            i % 3
        ),
        answer: format!(r#"{{"decision_id":"id-{i:06}"}}"#),
        bundle_version: "0.1.0".into(),
        bundle_hash: "sha256:abc".into(),
    }
}

/// A log of `n` decisions, one per millisecond from `t0`, written by `threads` threads
/// (one thread keeps times in the order of the chain).
fn filled(path: &Path, n: usize, t0: i64, threads: usize) {
    let log = Arc::new(DecisionLog::open(LogConfig::new(path)).unwrap());
    let threads: Vec<_> = (0..threads)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                for i in (t..n).step_by(threads) {
                    log.record_blocking(vec![entry(i, t0 + i as i64)]).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    log.close_blocking();
    assert_eq!(log.stats().written, n as u64);
}

fn broken_at(path: &Path) -> (i64, String) {
    let r = log::verify(path).unwrap();
    let b = r
        .broken
        .unwrap_or_else(|| panic!("{} should not verify", path.display()));
    (b.seq, b.reason)
}

#[test]
fn group_commit_writes_a_chain_that_verifies() {
    let path = temp("chain");
    filled(&path, 400, 1_780_000_000_000, 4);
    let r = log::verify(&path).unwrap();
    assert!(r.ok(), "{r:?}");
    assert_eq!(
        (r.records, r.first_seq, r.last_seq),
        (400, Some(1), Some(400))
    );
    // Reopening continues the chain.
    let log = DecisionLog::open(LogConfig::new(&path)).unwrap();
    log.record_blocking(vec![entry(400, 1_780_000_000_400)])
        .unwrap();
    log.close_blocking();
    let r = log::verify(&path).unwrap();
    assert!(r.ok());
    assert_eq!(r.last_seq, Some(401));
    // Queries filter by developer, dataset, decision and time.
    let count = |f: Filter| log::query(&path, &f, |_| true).unwrap();
    assert_eq!(count(Filter::default()), 401);
    let dev1 = Filter {
        developer: Some("dev-1".into()),
        ..Filter::default()
    };
    assert_eq!(count(dev1), 134);
    let f = Filter {
        dataset: Some("tax.a".into()),
        decision: Some("deny".into()),
        since: Some(1_780_000_000_100),
        until: Some(1_780_000_000_200),
        ..Filter::default()
    };
    assert_eq!(count(f), 25);
    let one = Filter {
        id: Some("id-000007".into()),
        ..Filter::default()
    };
    let mut got = Vec::new();
    log::query(&path, &one, |r| {
        got.push(r);
        true
    })
    .unwrap();
    assert_eq!(got.len(), 1);
    assert!(got[0].request.contains("SQ-7"));
    std::fs::remove_dir_all(path.parent().unwrap()).ok();
}

#[test]
fn every_kind_of_tampering_is_found_and_named() {
    let clean = temp("tamper");
    filled(&clean, 50, 1_780_000_000_000, 1);
    let case = |name: &str, sql: &str| -> (i64, String) {
        let path = clean.with_file_name(format!("{name}.db"));
        std::fs::copy(&clean, &path).unwrap();
        Connection::open(&path).unwrap().execute_batch(sql).unwrap();
        broken_at(&path)
    };
    // A changed answer, request, outcome, bundle or time: the record itself is named.
    for (column, value) in [
        (
            "decision",
            "CASE decision WHEN 'allow' THEN 'deny' ELSE 'allow' END",
        ),
        ("answer", "'{}'"),
        ("request", "replace(request, 'SQ-', 'XX-')"),
        ("developer", "'someone-else'"),
        ("bundle_hash", "'sha256:def'"),
        ("ts", "ts + 1"),
    ] {
        let (seq, reason) = case(
            column,
            &format!("UPDATE records SET {column} = {value} WHERE seq = 17"),
        );
        assert_eq!(seq, 17, "{column}");
        assert!(reason.contains("was changed"), "{column}: {reason}");
    }
    // A deleted record.
    let (seq, reason) = case("deleted", "DELETE FROM records WHERE seq = 23");
    assert_eq!(seq, 23);
    assert!(reason.contains("record 23 is missing"), "{reason}");
    // Deleted and renumbered to hide the gap: the renumbered record no longer fits.
    let (seq, _) = case(
        "renumbered",
        "DELETE FROM records WHERE seq = 23; UPDATE records SET seq = seq - 1 WHERE seq > 23",
    );
    assert_eq!(seq, 23);
    // A record rewritten with a recomputed own hash: the next one's link breaks.
    let path = clean.with_file_name("rehashed.db");
    std::fs::copy(&clean, &path).unwrap();
    let conn = Connection::open(&path).unwrap();
    conn.execute("UPDATE records SET decision = CASE decision WHEN 'allow' THEN 'deny' ELSE 'allow' END WHERE seq = 30", [])
        .unwrap();
    let mut rec = None;
    log::query(&path, &Filter::default(), |r| {
        let found = r.seq == 30;
        if found {
            rec = Some(r);
        }
        !found
    })
    .unwrap();
    let rec = rec.unwrap();
    conn.execute(
        "UPDATE records SET hash = ?1 WHERE seq = 30",
        [rec.expected_hash()],
    )
    .unwrap();
    drop(conn);
    let (seq, reason) = broken_at(&path);
    assert_eq!(seq, 31);
    assert!(reason.contains("previous hash"), "{reason}");
    // A truncated head (the oldest records deleted) with no checkpoint to account for it.
    let (seq, reason) = case("head", "DELETE FROM records WHERE seq <= 5");
    assert_eq!(seq, 5);
    assert!(reason.contains("no checkpoint"), "{reason}");
    std::fs::remove_dir_all(clean.parent().unwrap()).ok();
}

#[test]
fn pruning_keeps_the_chain_verifiable() {
    let path = temp("prune");
    let t0 = 1_780_000_000_000;
    filled(&path, 300, t0, 1);
    let r = log::prune(&path, t0 + 100).unwrap();
    assert_eq!((r.pruned, r.from, r.through), (100, Some(1), Some(100)));
    assert_eq!(r.checkpoints, vec![301]);
    let v = log::verify(&path).unwrap();
    assert!(v.ok(), "{v:?}");
    assert_eq!(
        (v.first_seq, v.last_seq, v.checkpoints),
        (Some(101), Some(301), 1)
    );
    // Nothing older: nothing pruned, no checkpoint.
    assert_eq!(log::prune(&path, t0 + 50).unwrap().pruned, 0);
    // Again, and past the first checkpoint's own time (it is newer than every decision).
    let r = log::prune(&path, t0 + 250).unwrap();
    assert_eq!((r.pruned, r.from, r.through), (150, Some(101), Some(250)));
    let v = log::verify(&path).unwrap();
    assert!(v.ok(), "{v:?}");
    assert_eq!(v.first_seq, Some(251));
    // A tampered checkpoint is found like any other record.
    let copy = path.with_file_name("cp.db");
    std::fs::copy(&path, &copy).unwrap();
    Connection::open(&copy)
        .unwrap()
        .execute("UPDATE records SET request = replace(request, '\"pruned\":150', '\"pruned\":15') WHERE kind = 'checkpoint' AND seq = 302", [])
        .unwrap();
    assert_eq!(broken_at(&copy).0, 302);
    // Everything, with a cut in the future: only the last checkpoint remains, and verifies.
    let r = log::prune(&path, i64::MAX / 2).unwrap();
    assert_eq!(r.through, Some(302));
    let v = log::verify(&path).unwrap();
    assert!(v.ok(), "{v:?}");
    assert_eq!((v.records, v.checkpoints), (1, 1));
    // A broken log is not pruned: that would discard the evidence.
    let bad = path.with_file_name("bad.db");
    filled(&bad, 20, t0, 1);
    Connection::open(&bad)
        .unwrap()
        .execute("UPDATE records SET decision = CASE decision WHEN 'allow' THEN 'deny' ELSE 'allow' END WHERE seq = 3", [])
        .unwrap();
    let e = log::prune(&bad, t0 + 10).unwrap_err();
    assert!(e.to_string().contains("does not verify"), "{e}");
    std::fs::remove_dir_all(path.parent().unwrap()).ok();
}

/// A prune while a writer keeps committing: neither loses a record, the chain verifies.
#[test]
fn prune_while_writing() {
    let path = temp("prune-live");
    let t0 = log::now_ms() - 1_000_000;
    filled(&path, 2000, t0, 1);
    let mut config = LogConfig::new(&path);
    config.durability = Durability::Strict;
    let log = Arc::new(DecisionLog::open(config).unwrap());
    let writer = {
        let log = log.clone();
        std::thread::spawn(move || {
            for i in 2000..3000 {
                log.record_blocking(vec![entry(i, log::now_ms())]).unwrap();
            }
        })
    };
    let r = log::prune(&path, t0 + 1500).unwrap();
    writer.join().unwrap();
    log.close_blocking();
    assert_eq!(r.pruned, 1500);
    let v = log::verify(&path).unwrap();
    assert!(v.ok(), "{v:?}");
    assert_eq!(v.decisions, 1500);
    assert_eq!(v.checkpoints, 1);
    std::fs::remove_dir_all(path.parent().unwrap()).ok();
}

#[test]
fn a_file_that_is_not_a_log_is_refused() {
    let path = temp("foreign");
    Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT); INSERT INTO meta VALUES ('format', 'other/9');")
        .unwrap();
    let e = DecisionLog::open(LogConfig::new(&path)).unwrap_err();
    assert!(e.to_string().contains("not a Charter decision log"), "{e}");
    assert!(log::verify(&path.with_file_name("missing.db")).is_err());
    std::fs::remove_dir_all(path.parent().unwrap()).ok();
}
