//! `charter log keygen|anchor|verify --key|--anchor` as processes: a log written by
//! `charter serve --log-key` verifies with its public key and its anchors, and each
//! forgery of issue 10 — a forged record with recomputed hashes, a deny flipped to allow
//! with the chain rehashed, a deleted prefix with a forged checkpoint, an emptied table —
//! passes the keyless check but fails with the key or the anchor.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use charter_log::{self as log, Filter};
use rusqlite::Connection;
use serde_json::Value as Json;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn charter() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_charter"));
    c.current_dir(root());
    c
}

fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("charter-logcli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// `charter serve` on a free port; returns it with its address and start line.
fn serve(log: &Path, extra: &[&str]) -> (Child, String, String) {
    let mut child = charter()
        .args([
            "serve",
            "policies",
            "--listen",
            "127.0.0.1:0",
            "--facts",
            "examples/requests/facts.json",
            "--log",
        ])
        .arg(log)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if !sent {
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let addr = rest.split_whitespace().next().unwrap().to_string();
                    tx.send((addr, line.clone())).unwrap();
                    sent = true;
                }
            }
        }
    });
    let (addr, line) = rx
        .recv_timeout(Duration::from_secs(90))
        .expect("the server did not start");
    (child, addr, line)
}

fn load(addr: &str, requests: &str) {
    let (code, out, err) = run(charter().args([
        "loadgen",
        "--addr",
        addr,
        "--connections",
        "2",
        "--requests",
        requests,
    ]));
    assert_eq!(code, 0, "{out}{err}");
}

/// SIGTERM, and wait for the clean stop (which seals the tail).
fn stop(mut server: Child) {
    Command::new("kill")
        .arg(server.id().to_string())
        .status()
        .unwrap();
    let start = Instant::now();
    while server.try_wait().unwrap().is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the server did not stop"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn verify(log: &Path, extra: &[&Path], flags: &[&str]) -> (i32, String, String) {
    let mut cmd = charter();
    cmd.args(["log", "verify", "--log"]).arg(log).args(flags);
    for e in extra {
        let flag = if e.extension().is_some_and(|x| x == "pub") {
            "--key"
        } else {
            "--anchor"
        };
        cmd.arg(flag).arg(e);
    }
    run(&mut cmd)
}

fn anchor(log: &Path, key: &Path, out: &Path) {
    let (code, o, e) = run(charter()
        .args(["log", "anchor", "--log"])
        .arg(log)
        .arg("--key")
        .arg(key)
        .arg("--out")
        .arg(out));
    assert_eq!(code, 0, "{o}{e}");
}

fn hash_of(conn: &Connection, seq: i64) -> String {
    conn.query_row("SELECT hash FROM records WHERE seq = ?1", [seq], |r| {
        r.get(0)
    })
    .unwrap()
}

/// What a forger without the key does after changing records: recompute every link and
/// hash from `from` on.
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

fn count(log: &Path) -> i64 {
    Connection::open(log)
        .unwrap()
        .query_row("SELECT MAX(seq) FROM records", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn keygen_writes_a_private_key_only_its_owner_reads_and_never_overwrites() {
    let dir = temp("keygen");
    let (code, out, err) = run(charter()
        .args(["log", "keygen", "--out"])
        .arg(dir.join("keys")));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("key id "), "{out}");
    let private = dir.join("keys/charter-log.key");
    let public = dir.join("keys/charter-log.pub");
    assert!(std::fs::read_to_string(&private)
        .unwrap()
        .starts_with("-----BEGIN PRIVATE KEY-----"));
    assert!(std::fs::read_to_string(&public)
        .unwrap()
        .starts_with("-----BEGIN PUBLIC KEY-----"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&private).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let (code, _, err) = run(charter()
        .args(["log", "keygen", "--out"])
        .arg(dir.join("keys")));
    assert_eq!(code, 2);
    assert!(err.contains("already exists"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_key_files_are_refused_with_a_clear_error() {
    let dir = temp("badkeys");
    let log = dir.join("decisions.db");
    let (code, out, err) = run(charter().args(["log", "keygen", "--out"]).arg(&dir));
    assert_eq!(code, 0, "{out}{err}");
    let private = dir.join("charter-log.key");
    let public = dir.join("charter-log.pub");
    // A missing file, a public key where the private one is needed, not a key at all.
    let start = |key: &Path| {
        run(charter()
            .args(["serve", "policies", "--listen", "127.0.0.1:0", "--log"])
            .arg(&log)
            .arg("--log-key")
            .arg(key))
    };
    let (code, _, err) = start(&dir.join("nope.key"));
    assert_eq!(code, 2);
    assert!(err.contains("does not exist"), "{err}");
    let (code, _, err) = start(&public);
    assert_eq!(code, 2);
    assert!(err.contains("holds a public key"), "{err}");
    std::fs::write(dir.join("junk.key"), "not a key").unwrap();
    let (code, _, err) = start(&dir.join("junk.key"));
    assert_eq!(code, 2);
    assert!(err.contains("not an Ed25519 private key"), "{err}");
    let (code, _, err) = verify(&log, &[&dir.join("junk.pub")], &[]);
    assert_eq!(code, 2, "{err}");
    // A private key others can read: a warning, and the command goes on.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o644)).unwrap();
        log::DecisionLog::open(log::LogConfig::new(&log))
            .unwrap()
            .close_blocking();
        let (code, out, err) = run(charter()
            .args(["log", "anchor", "--log"])
            .arg(&log)
            .arg("--key")
            .arg(&private)
            .args(["--out", "-"]));
        assert_eq!(code, 0, "{out}{err}");
        assert!(err.contains("can be read by others"), "{err}");
        let a: Json = serde_json::from_str(&out).unwrap();
        assert_eq!(a["format"], "charter-log-anchor/1");
        assert_eq!(a["seq"], 0);
    }
    // An anchor that is not one.
    std::fs::write(dir.join("x.anchor"), "{\"format\": 1}").unwrap();
    let (code, _, err) = verify(&log, &[&dir.join("x.anchor")], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot read the anchor"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

/// The whole path: keygen, a sealed server, anchors taken while it runs and after it
/// stops, a clean verify in every mode, then each forgery caught.
#[test]
fn forged_logs_fail_verify_with_the_key_or_the_anchor() {
    let dir = temp("forged");
    let log = dir.join("decisions.db");
    let (code, out, err) = run(charter()
        .args(["log", "keygen", "--out"])
        .arg(&dir)
        .args(["--name", "k"]));
    assert_eq!(code, 0, "{out}{err}");
    let private = dir.join("k.key");
    let public = dir.join("k.pub");

    let (server, addr, line) = serve(
        &log,
        &[
            "--log-key",
            private.to_str().unwrap(),
            "--log-seal-every",
            "10",
        ],
    );
    assert!(line.contains("sealed by key"), "{line}");
    load(&addr, "60");
    let early = dir.join("early.anchor");
    anchor(&log, &private, &early);
    let early_seq = count(&log);
    load(&addr, "60");
    stop(server);
    let late = dir.join("late.anchor");
    anchor(&log, &private, &late);
    let last = count(&log);
    assert!(last >= 120 && early_seq >= 60, "{early_seq} {last}");

    // Clean: every mode passes, and says what it checked.
    let (code, out, _) = verify(&log, &[], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("integrity only"), "{out}");
    assert!(out.contains("seal(s) in the log not checked"), "{out}");
    let (code, out, _) = verify(&log, &[&public, &early, &late], &["--require-sealed"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("sealed through record {last}")),
        "{out}"
    );
    assert!(out.contains("unsealed tail: none"), "{out}");
    assert!(out.contains("signature verified"), "{out}");
    let (code, out, _) = verify(&log, &[&late], &["--format", "json"]);
    assert_eq!(code, 0, "{out}");
    let v: Json = serde_json::from_str(&out).unwrap();
    assert_eq!(v["anchors"][0]["signature_checked"], false);
    assert_eq!(v["last_seq"], last);

    let fails = |path: &Path, with: &[&Path], says: &str| {
        let (code, out, err) = verify(path, with, &[]);
        assert_eq!(code, 1, "{} with {with:?}: {out}{err}", path.display());
        assert!(
            out.contains(says),
            "{} with {with:?}: {out}",
            path.display()
        );
    };
    let passes = |path: &Path, with: &[&Path]| {
        let (code, out, err) = verify(path, with, &[]);
        assert_eq!(code, 0, "{} with {with:?}: {out}{err}", path.display());
        out
    };

    // (a) A forged allow inserted at 30, the rest renumbered and rehashed.
    let a = tampered(
        &log,
        "a",
        "UPDATE records SET seq = -(seq + 1) WHERE seq >= 30;
         UPDATE records SET seq = -seq WHERE seq < 0;
         INSERT INTO records SELECT 30, kind, 'forged', ts, developer, action, dataset, scenario,
             'allow', request, answer, bundle_version, bundle_hash, '', '' FROM records WHERE seq = 29;",
        Some(30),
    );
    passes(&a, &[]);
    fails(&a, &[&public], "was rewritten after it was sealed");
    fails(&a, &[&early], "is not the one the anchor");

    // (b) A deny flipped to allow, the rest of the chain rehashed.
    let deny: i64 = Connection::open(&log)
        .unwrap()
        .query_row(
            "SELECT MIN(seq) FROM records WHERE decision = 'deny' AND seq > 5",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(deny < early_seq, "a deny early in the log: {deny}");
    let b = tampered(
        &log,
        "b",
        &format!("UPDATE records SET decision = 'allow' WHERE seq = {deny}"),
        Some(deny),
    );
    passes(&b, &[]);
    fails(&b, &[&public], "was rewritten after it was sealed");
    fails(&b, &[&late], "is not the one the anchor");
    // ... with the seals after it removed as well: within the promised spacing (the
    // writer's interval plus its largest commit) that is an unsealed tail, said as such
    // and refused with `--require-sealed`; the anchor still sees the rewrite.
    let b2 = tampered(
        &b,
        "b2",
        &format!("DELETE FROM seals WHERE seq >= {deny}"),
        None,
    );
    let out = passes(&b2, &[&public]);
    assert!(out.contains("unsealed tail: "), "{out}");
    assert!(!out.contains("unsealed tail: none"), "{out}");
    let (code, out, _) = verify(&b2, &[&public], &["--require-sealed"]);
    assert_eq!(code, 1, "{out}");
    fails(&b2, &[&public, &late], "is not the one the anchor");

    // (c) The first records deleted, with a forged checkpoint accounting for them.
    let cut = early_seq + 5;
    let h = hash_of(&Connection::open(&log).unwrap(), cut);
    let c = tampered(
        &log,
        "c",
        &format!(
            "DELETE FROM records WHERE seq <= {cut}; DELETE FROM seals WHERE seq <= {cut};
             INSERT INTO records SELECT {next}, 'checkpoint', 'checkpoint-1', ts, '', '', '', '', '',
                 '{{\"pruned_from\":1,\"pruned_through\":{cut},\"pruned\":{cut},\"last_hash\":\"{h}\",\"before\":\"x\"}}',
                 '', '', '', '', '' FROM records WHERE seq = {last};",
            next = last + 1
        ),
        Some(last + 1),
    );
    passes(&c, &[]);
    fails(&c, &[&public], "carries no seal by the key");
    fails(&c, &[&early], "no longer holds");

    // (d) The table emptied.
    let d = tampered(&log, "d", "DELETE FROM records", None);
    let out = passes(&d, &[]);
    assert!(out.contains("0 record(s)"), "{out}");
    fails(&d, &[&public], "the log was emptied");
    fails(&d, &[&late], "the log was emptied");
    let d2 = tampered(&d, "d2", "DELETE FROM seals", None);
    fails(&d2, &[&public], "no seal by the key");

    // A tail cut back to a seal: the key cannot see it, the anchor can.
    let keep = last - 7;
    let t = tampered(
        &log,
        "t",
        &format!("DELETE FROM records WHERE seq > {keep}; DELETE FROM seals WHERE seq > {keep}"),
        None,
    );
    passes(&t, &[&public]);
    fails(&t, &[&public, &late], "removed from its end");
    // A record appended after the last seal: an unsealed tail, said, and refused with
    // `--require-sealed`.
    let u = tampered(
        &log,
        "u",
        &format!(
            "INSERT INTO records SELECT {next}, kind, 'forged', ts, developer, action, dataset,
                 scenario, 'allow', request, answer, bundle_version, bundle_hash, '', ''
                 FROM records WHERE seq = {last}",
            next = last + 1
        ),
        Some(last + 1),
    );
    let out = passes(&u, &[&public, &late]);
    assert!(out.contains("unsealed tail: 1 record(s)"), "{out}");
    let (code, out, _) = verify(&u, &[&public], &["--require-sealed"]);
    assert_eq!(code, 1, "{out}");

    // Pruning a sealed log needs the key, and keeps it verifiable with it.
    let (code, _, err) = run(charter()
        .args(["log", "prune", "--older-than", "0d", "--log"])
        .arg(&log));
    assert_eq!(code, 2);
    assert!(err.contains("--key"), "{err}");
    let (code, out, err) = run(charter()
        .args(["log", "prune", "--older-than", "0d", "--log"])
        .arg(&log)
        .arg("--key")
        .arg(&private));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("sealed"), "{out}");
    let out = passes(&log, &[&public, &early, &late]);
    assert!(out.contains("pruned since"), "{out}");
    fails(&log, &[&early], "no longer holds");
    std::fs::remove_dir_all(&dir).ok();
}
