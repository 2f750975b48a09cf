//! The decision log on its own: group commit from many threads, the hash chain, tampering
//! of every kind found and named, pruning that keeps the chain verifiable, and a prune
//! running while decisions are being written.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use charter_log::{self as log, DecisionLog, Durability, Entry, Filter, LogConfig};
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
    let r = log::prune(&path, t0 + 100, None).unwrap();
    assert_eq!((r.pruned, r.from, r.through), (100, Some(1), Some(100)));
    assert_eq!(r.checkpoints, vec![301]);
    let v = log::verify(&path).unwrap();
    assert!(v.ok(), "{v:?}");
    assert_eq!(
        (v.first_seq, v.last_seq, v.checkpoints),
        (Some(101), Some(301), 1)
    );
    // Nothing older: nothing pruned, no checkpoint.
    assert_eq!(log::prune(&path, t0 + 50, None).unwrap().pruned, 0);
    // Again, and past the first checkpoint's own time (it is newer than every decision).
    let r = log::prune(&path, t0 + 250, None).unwrap();
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
    let r = log::prune(&path, i64::MAX / 2, None).unwrap();
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
    let e = log::prune(&bad, t0 + 10, None).unwrap_err();
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
    let r = log::prune(&path, t0 + 1500, None).unwrap();
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

// ---- Seals and anchors -------------------------------------------------------------

use charter_log::keys::SigningKey;
use charter_log::{Anchor, SealConfig, VerifyOptions, VerifyReport};

fn key(seed: u8) -> Arc<SigningKey> {
    Arc::new(SigningKey::from_seed(&[seed; 32]))
}

/// Appends decisions `from..to` to a log sealed with `key` every `every` records.
fn write_sealed(path: &Path, key: &Arc<SigningKey>, every: u64, from: usize, to: usize) {
    let mut config = LogConfig::new(path);
    let mut seal = SealConfig::new(key.clone());
    seal.every_records = every;
    seal.every = std::time::Duration::from_secs(3600);
    config.seal = Some(seal);
    config.max_batch = 8;
    let log = DecisionLog::open(config).unwrap();
    for i in from..to {
        log.record_blocking(vec![entry(i, 1_780_000_000_000 + i as i64)])
            .unwrap();
    }
    log.close_blocking();
}

fn check(path: &Path, keys: &[&Arc<SigningKey>], anchors: &[&Anchor]) -> VerifyReport {
    let options = VerifyOptions {
        keys: keys.iter().map(|k| k.verifying_key()).collect(),
        anchors: anchors.iter().map(|a| (*a).clone()).collect(),
        allow_unsealed: false,
    };
    log::verify_with(path, &options).unwrap()
}

fn reason(r: &VerifyReport) -> String {
    r.broken
        .as_ref()
        .map(|b| format!("record {}: {}", b.seq, b.reason))
        .unwrap_or_else(|| panic!("should not verify: {r:?}"))
}

fn hash_of(conn: &Connection, seq: i64) -> String {
    if seq == 0 {
        return log::GENESIS.to_string();
    }
    conn.query_row("SELECT hash FROM records WHERE seq = ?1", [seq], |r| {
        r.get(0)
    })
    .unwrap()
}

/// Recomputes every link and hash from record `from` on, as a forger who knows the
/// format (and has no key) would.
fn rehash_from(path: &Path, from: i64) {
    let conn = Connection::open(path).unwrap();
    let mut prev = hash_of(&conn, from - 1);
    let mut recs = Vec::new();
    let all = Filter {
        checkpoints: true,
        ..Filter::default()
    };
    log::query(path, &all, |r| {
        if r.seq >= from {
            recs.push(r);
        }
        true
    })
    .unwrap();
    for mut r in recs {
        r.prev_hash = prev;
        let h = r.expected_hash();
        conn.execute(
            "UPDATE records SET prev_hash = ?1, hash = ?2 WHERE seq = ?3",
            rusqlite::params![r.prev_hash, h, r.seq],
        )
        .unwrap();
        prev = h;
    }
}

fn tampered(clean: &Path, name: &str, sql: &str, rehash: Option<i64>) -> PathBuf {
    let path = clean.with_file_name(format!("{name}.db"));
    std::fs::copy(clean, &path).unwrap();
    Connection::open(&path).unwrap().execute_batch(sql).unwrap();
    if let Some(from) = rehash {
        rehash_from(&path, from);
    }
    path
}

/// The four forgeries of issue 10 pass the chain check alone, and each fails with the key,
/// the anchor, or both; what neither can see is said (an unsealed tail).
#[test]
fn seals_and_anchors_catch_rewrites_the_chain_alone_does_not() {
    let clean = temp("sealed");
    let k = key(1);
    write_sealed(&clean, &k, 25, 0, 100);
    let early = log::anchor(&clean, &k).unwrap();
    assert_eq!(early.head.seq, 100);
    write_sealed(&clean, &k, 25, 100, 300);
    let late = log::anchor(&clean, &k).unwrap();
    assert_eq!(late.head.seq, 300);

    let r = check(&clean, &[&k], &[&early, &late]);
    assert!(r.ok(), "{r:?}");
    assert_eq!(r.unsealed, 0, "a clean close seals the tail");
    assert_eq!(r.sealed_through, Some(300));
    assert!(r.seals_verified >= 300 / 25, "{r:?}");
    assert_eq!(r.anchors.len(), 2);
    assert!(log::verify(&clean).unwrap().ok());

    // (a) A forged record slipped in at 150, the rest renumbered and rehashed.
    let forged = entry(999, 1_780_000_000_150);
    let a = tampered(
        &clean,
        "a-forged",
        &format!(
            "UPDATE records SET seq = -(seq + 1) WHERE seq >= 150;
             UPDATE records SET seq = -seq WHERE seq < 0;
             INSERT INTO records SELECT 150, kind, '{}', ts, developer, action, dataset, scenario,
                 'allow', request, answer, bundle_version, bundle_hash, '', '' FROM records WHERE seq = 149;",
            forged.id
        ),
        Some(150),
    );
    assert!(
        log::verify(&a).unwrap().ok(),
        "the chain alone cannot see it"
    );
    let r = check(&a, &[&k], &[]);
    assert!(
        reason(&r).contains("rewritten after it was sealed"),
        "{r:?}"
    );
    assert_eq!(r.broken.as_ref().unwrap().seq, 150);
    let r = check(&a, &[], &[&late]);
    assert!(reason(&r).contains("is not the one the anchor"), "{r:?}");

    // (b) A deny flipped to allow at 100, the rest of the chain rehashed.
    let b = tampered(
        &clean,
        "b-flipped",
        "UPDATE records SET decision = 'allow' WHERE seq = 101",
        Some(101),
    );
    assert!(log::verify(&b).unwrap().ok());
    let r = check(&b, &[&k], &[]);
    assert!(
        reason(&r).contains("from 101 to 125 was rewritten"),
        "{r:?}"
    );
    assert!(!check(&b, &[], &[&late]).ok());
    // ... and its seals removed too, so that the rewrite would be "unsealed": the promise
    // of the last seal before it shows them missing.
    let b2 = tampered(&b, "b-unsealed", "DELETE FROM seals WHERE seq > 100", None);
    let r = check(&b2, &[&k], &[]);
    assert!(reason(&r).contains("seals are missing"), "{r:?}");

    // (c) The first 120 records deleted, with a forged checkpoint accounting for them.
    let conn = Connection::open(&clean).unwrap();
    let h120 = hash_of(&conn, 120);
    drop(conn);
    let c = tampered(
        &clean,
        "c-prefix",
        &format!(
            "DELETE FROM records WHERE seq <= 120; DELETE FROM seals WHERE seq <= 120;
             INSERT INTO records SELECT 301, 'checkpoint', 'checkpoint-1', ts, '', '', '', '', '',
                 '{{\"pruned_from\":1,\"pruned_through\":120,\"pruned\":120,\"last_hash\":\"{h120}\",\"before\":\"x\"}}',
                 '', '', '', '', '' FROM records WHERE seq = 300;"
        ),
        Some(301),
    );
    assert!(log::verify(&c).unwrap().ok());
    let r = check(&c, &[&k], &[]);
    assert!(reason(&r).contains("carries no seal by the key"), "{r:?}");
    let r = check(&c, &[], &[&early]);
    assert!(reason(&r).contains("no longer holds"), "{r:?}");
    assert!(
        check(&c, &[], &[&late]).ok(),
        "an anchor after the cut cannot see it"
    );

    // (d) The table emptied.
    let d = tampered(&clean, "d-emptied", "DELETE FROM records", None);
    assert!(log::verify(&d).unwrap().ok());
    let r = check(&d, &[&k], &[]);
    assert!(reason(&r).contains("the log was emptied"), "{r:?}");
    let r = check(&d, &[], &[&late]);
    assert!(reason(&r).contains("the log was emptied"), "{r:?}");
    // ... seals included: no seal by the key at all.
    let d2 = tampered(&d, "d-all", "DELETE FROM seals", None);
    assert!(reason(&check(&d2, &[&k], &[])).contains("no seal by the key"));
    assert!(!check(&d2, &[], &[&late]).ok());

    // A cut tail: records after the last anchor and seals alike.
    let cut = tampered(
        &clean,
        "cut",
        "DELETE FROM records WHERE seq > 280; DELETE FROM seals WHERE seq > 280",
        None,
    );
    assert!(
        check(&cut, &[&k], &[]).ok(),
        "the key alone cannot see a cut at a seal"
    );
    assert!(reason(&check(&cut, &[&k], &[&late])).contains("removed from its end"));

    // A record appended after the last seal: reported as an unsealed tail, not trusted.
    let tail = tampered(
        &clean,
        "tail",
        "INSERT INTO records SELECT 301, kind, 'forged', ts, developer, action, dataset, scenario,
             'allow', request, answer, bundle_version, bundle_hash, '', '' FROM records WHERE seq = 300",
        Some(301),
    );
    let r = check(&tail, &[&k], &[&late]);
    assert!(r.ok(), "{r:?}");
    assert_eq!((r.unsealed, r.sealed_through), (1, Some(300)));

    // A seal altered, a seal by another key, the wrong key.
    let bad = tampered(
        &clean,
        "bad-seal",
        "UPDATE seals SET ts = ts + 1 WHERE id = 3",
        None,
    );
    assert!(reason(&check(&bad, &[&k], &[])).contains("forged or altered"));
    let other = key(2);
    let r = check(&clean, &[&other], &[]);
    assert!(reason(&r).contains("no seal by the key"), "{r:?}");
    let r = check(&clean, &[&other, &k], &[]);
    assert!(r.ok(), "{r:?}");
    assert!(
        !check(&clean, &[&other], &[&late]).ok(),
        "an anchor by another key"
    );
    // An anchor of another log.
    let elsewhere = temp("sealed-other");
    write_sealed(&elsewhere, &k, 25, 0, 10);
    let foreign = log::anchor(&elsewhere, &k).unwrap();
    assert!(reason(&check(&clean, &[], &[&foreign])).contains("is of log"));
    // An anchor is not written for a broken log.
    assert!(log::anchor(&b, &k).is_err());
    std::fs::remove_dir_all(clean.parent().unwrap()).ok();
    std::fs::remove_dir_all(elsewhere.parent().unwrap()).ok();
}

/// A sealed log pruned with its key stays verifiable with the key; without the key a
/// sealed log is not pruned; an anchor whose record was pruned is accounted for by the
/// sealed checkpoint.
#[test]
fn pruning_a_sealed_log_seals_its_checkpoint() {
    let path = temp("sealed-prune");
    let k = key(3);
    write_sealed(&path, &k, 10, 0, 60);
    let early = log::anchor(&path, &k).unwrap();
    write_sealed(&path, &k, 10, 60, 100);
    let e = log::prune(&path, 1_780_000_000_070, None).unwrap_err();
    assert!(e.to_string().contains("--key"), "{e}");
    let r = log::prune(&path, 1_780_000_000_070, Some(&k)).unwrap();
    assert_eq!(r.through, Some(70));
    let v = check(&path, &[&k], &[&early]);
    assert!(v.ok(), "{v:?}");
    assert!(v.anchors[0].pruned);
    assert_eq!(v.unsealed, 0);
    // Without the key the pruned anchor cannot be trusted.
    assert!(reason(&check(&path, &[], &[&early])).contains("no longer holds"));
    // The writer goes on after the prune; seals keep their promise.
    write_sealed(&path, &k, 10, 100, 130);
    let v = check(&path, &[&k], &[]);
    assert!(v.ok(), "{v:?}");
    std::fs::remove_dir_all(path.parent().unwrap()).ok();
}

/// The writer seals by the interval while idle, and a log first written without a key is
/// covered from the first keyed open on.
#[test]
fn idle_records_are_sealed_by_the_interval() {
    let path = temp("sealed-idle");
    filled(&path, 20, 1_780_000_000_000, 1);
    let k = key(4);
    let mut config = LogConfig::new(&path);
    let mut seal = SealConfig::new(k.clone());
    seal.every_records = 1000;
    seal.every = std::time::Duration::from_millis(100);
    config.seal = Some(seal);
    config.checkpoint_every = std::time::Duration::from_millis(20);
    let log = DecisionLog::open(config).unwrap();
    let r = check(&path, &[&k], &[]);
    assert!(r.ok(), "{r:?}");
    assert_eq!(r.sealed_through, Some(20), "sealed at open");
    log.record_blocking(vec![entry(20, 1_780_000_000_020)])
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let r = check(&path, &[&k], &[]);
        if r.sealed_through == Some(21) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no interval seal: {r:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    log.close_blocking();
    std::fs::remove_dir_all(path.parent().unwrap()).ok();
}
