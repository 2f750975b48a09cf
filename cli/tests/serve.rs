//! `charter serve` and `charter log` as processes: the server killed with SIGKILL under
//! load keeps every decision it answered, a tampered record makes `charter log verify`
//! fail naming it, and `log query` / `log prune` read and trim the log.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value as Json;

mod common;
use common::{charter, http, root, run, serve, temp};

fn ids_in_log(log: &Path) -> HashSet<String> {
    let conn = rusqlite::Connection::open(log).unwrap();
    let mut stmt = conn
        .prepare("SELECT id FROM records WHERE kind = 'decision'")
        .unwrap();
    let ids = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    ids
}

/// SIGKILL during a bounded load: after a restart the chain verifies, and every decision
/// id the client received an answer for is in the log (strict mode answers only after
/// the commit, so none can be missing).
#[test]
fn sigkill_under_load_loses_no_answered_decision() {
    let dir = temp("crash");
    let log = dir.join("decisions.db");
    let ids_file = dir.join("ids.txt");
    let (mut server, addr) = serve(&log, &[]);
    let load = charter()
        .args([
            "loadgen",
            "--addr",
            &addr,
            "--connections",
            "16",
            "--seconds",
            "4",
            "--requests",
            "200000",
            "--ids-out",
        ])
        .arg(&ids_file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    server.kill().unwrap(); // SIGKILL
    server.wait().unwrap();
    let out = load.wait_with_output().unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the load should see the server die: {report}"
    );
    let answered: Vec<String> = std::fs::read_to_string(&ids_file)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert!(
        answered.len() > 100,
        "too few decisions before the kill: {report}"
    );

    // Restart on the same log: recovery, then the chain goes on.
    let (mut server, addr) = serve(&log, &[]);
    let (code, out, err) = run(charter().args([
        "loadgen",
        "--addr",
        &addr,
        "--connections",
        "2",
        "--requests",
        "50",
    ]));
    assert_eq!(code, 0, "{out}{err}");
    server.kill().unwrap();
    server.wait().unwrap();

    let (code, out, err) = run(charter().args(["log", "verify", "--log"]).arg(&log));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("the log verifies"), "{out}");
    let logged = ids_in_log(&log);
    let missing: Vec<&String> = answered.iter().filter(|id| !logged.contains(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} answered decision(s) are not in the log, e.g. {:?}",
        missing.len(),
        missing.first()
    );
    assert!(logged.len() >= answered.len() + 50);
    eprintln!(
        "crash test: {} decisions answered before SIGKILL, all {} in the log ({} records after restart); {report}",
        answered.len(),
        answered.len(),
        logged.len()
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_tampered_record_fails_verify_naming_it() {
    let dir = temp("tamper");
    let log = dir.join("decisions.db");
    let (mut server, addr) = serve(&log, &[]);
    let (code, out, err) = run(charter().args([
        "loadgen",
        "--addr",
        &addr,
        "--connections",
        "2",
        "--requests",
        "40",
    ]));
    assert_eq!(code, 0, "{out}{err}");
    server.kill().unwrap();
    server.wait().unwrap();
    assert_eq!(
        run(charter().args(["log", "verify", "--log"]).arg(&log)).0,
        0
    );

    // Someone turns a deny into an allow.
    let conn = rusqlite::Connection::open(&log).unwrap();
    let (seq, id): (i64, String) = conn
        .query_row(
            "SELECT seq, id FROM records WHERE decision = 'deny' ORDER BY seq LIMIT 1 OFFSET 3",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    conn.execute(
        "UPDATE records SET decision = 'allow' WHERE seq = ?1",
        [seq],
    )
    .unwrap();
    drop(conn);
    let (code, out, _) = run(charter().args(["log", "verify", "--log"]).arg(&log));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("broken at record {seq}")), "{out}");
    assert!(out.contains(&id), "{out}");
    assert!(out.contains("was changed"), "{out}");
    let (code, out, _) = run(charter()
        .args(["log", "verify", "--format", "json", "--log"])
        .arg(&log));
    assert_eq!(code, 1);
    let v: Json = serde_json::from_str(&out).unwrap();
    assert_eq!(v["broken"]["seq"], seq);
    assert_eq!(v["broken"]["id"], id);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn log_query_and_prune() {
    let dir = temp("query");
    let log = dir.join("decisions.db");
    let (mut server, addr) = serve(&log, &["--log-mode", "relaxed"]);
    let (code, out, err) = run(charter().args([
        "loadgen",
        "--addr",
        &addr,
        "--connections",
        "1",
        "--requests",
        "16",
    ]));
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = run(charter().args([
        "loadgen",
        "--addr",
        &addr,
        "--connections",
        "1",
        "--requests",
        "2",
        "--batch",
        "8",
    ]));
    assert_eq!(code, 0, "{out}{err}");
    // SIGTERM: a clean stop flushes the relaxed queue.
    Command::new("kill")
        .arg(server.id().to_string())
        .status()
        .unwrap();
    let start = Instant::now();
    while server.try_wait().unwrap().is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the server did not stop"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    let query = |args: &[&str]| -> Vec<Json> {
        let (code, out, err) = run(charter()
            .args(["log", "query", "--format", "json", "--log"])
            .arg(&log)
            .args(args));
        assert_eq!(code, 0, "{err}");
        serde_json::from_str::<Json>(&out)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    };
    let all = query(&[]);
    assert_eq!(all.len(), 32);
    let r = &all[0];
    assert_eq!(r["developer"], "bank-001");
    assert_eq!(r["request"]["consent"]["reference"], "SQ-2026-000101");
    assert_eq!(r["request"]["purpose"], "小微企业授信审批");
    assert_eq!(r["answer"]["decision_id"], r["id"]);
    assert_eq!(r["bundle"]["version"], "0.1.0");
    assert!(r["time"].as_str().unwrap().ends_with("+08:00"));
    assert_eq!(query(&["--developer", "bank-002"]).len(), 4);
    assert_eq!(
        query(&["--dataset", "market.enterprise_registration"]).len(),
        16
    );
    assert_eq!(
        query(&["--scenario", "普惠金融", "--decision", "allow"]).len(),
        8
    );
    assert_eq!(query(&["--since", "1h"]).len(), 32);
    assert_eq!(query(&["--until", "2020-01-01"]).len(), 0);
    assert_eq!(
        query(&[
            "--since",
            "2020-01-01",
            "--until",
            "2100-01-01T00:00:00Z",
            "--limit",
            "5"
        ])
        .len(),
        5
    );
    let (code, out, err) = run(charter()
        .args(["log", "query", "--developer", "bank-001", "--log"])
        .arg(&log));
    assert_eq!(code, 0);
    assert!(
        out.contains("bank-001") && out.contains("scenario/普惠金融/use/2"),
        "{out}"
    );
    assert!(err.contains("record(s)"));
    let (code, _, err) = run(charter()
        .args(["log", "query", "--since", "last tuesday", "--log"])
        .arg(&log));
    assert_eq!(code, 2);
    assert!(err.contains("is not a time"), "{err}");

    // Prune everything made before now: one checkpoint remains, and the chain verifies.
    let (code, out, err) = run(charter()
        .args(["log", "prune", "--older-than", "0d", "--log"])
        .arg(&log));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("pruned 32 record(s)"), "{out}");
    let (code, out, _) = run(charter().args(["log", "verify", "--log"]).arg(&log));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("1 checkpoint(s)"), "{out}");
    assert_eq!(query(&[]).len(), 0);
    assert_eq!(query(&["--checkpoints"]).len(), 1);
    let (code, _, err) = run(charter().args(["log", "prune", "--log"]).arg(&log));
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = run(charter()
        .args(["log", "verify", "--log"])
        .arg(dir.join("none.db")));
    assert_eq!(code, 2, "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn serve_refuses_to_start_on_bad_input() {
    let dir = temp("refuse");
    let (code, _, err) = run(charter().args([
        "serve",
        "no-such-folder",
        "--no-log",
        "--listen",
        "127.0.0.1:0",
    ]));
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = run(charter()
        .args(["serve", "policies", "--no-log", "--listen", "127.0.0.1:0"])
        .env("CHARTER_TOKEN", "short"));
    assert_eq!(code, 2);
    assert!(err.contains("token"), "{err}");
    // A port already taken.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().to_string();
    let (code, _, err) = run(charter().args(["serve", "policies", "--no-log", "--listen", &port]));
    assert_eq!(code, 2);
    assert!(err.contains("cannot listen"), "{err}");
    // A log that is not a log.
    let foreign = dir.join("foreign.db");
    std::fs::write(&foreign, "not sqlite at all, just text").unwrap();
    let (code, _, err) = run(charter()
        .args(["serve", "policies", "--listen", "127.0.0.1:0", "--log"])
        .arg(&foreign));
    assert_eq!(code, 2, "{err}");
    // The load generator refuses anything but loopback.
    let (code, _, err) =
        run(charter().args(["loadgen", "--addr", "10.0.0.1:80", "--requests", "1"]));
    assert_eq!(code, 2);
    assert!(err.contains("loopback"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

/// `--facts` makes the store the one source of facts: a request carrying them is refused
/// without a token scoped to supply them and taken with one; `--facts-from request`
/// with `--facts` is a usage error.
#[test]
fn serve_takes_facts_from_one_source() {
    let dir = temp("facts-from");
    let token = "facts-token-0123456789abcdef";
    let token_file = dir.join("facts-token");
    std::fs::write(&token_file, token).unwrap();
    let (mut child, addr) = serve(
        &dir.join("decisions.db"),
        &["--facts-token-file", token_file.to_str().unwrap()],
    );
    let inline =
        std::fs::read_to_string(root().join("examples/requests/05_deny_exit.json")).unwrap();
    let (status, body) = http(&addr, "POST", "/v1/decide", &[], &inline);
    assert_eq!(status, 403, "{body}");
    let e: Json = serde_json::from_str(&body).unwrap();
    assert_eq!(e["error"]["code"], "inline_facts_refused");
    assert_eq!(e["error"]["field"], "facts.developer");
    let auth = format!("Bearer {token}");
    let (status, body) = http(
        &addr,
        "POST",
        "/v1/decide",
        &[("authorization", &auth)],
        &inline,
    );
    assert_eq!(status, 200, "{body}");
    let _ = child.kill();
    let _ = child.wait();

    let (code, _, err) = run(charter().args([
        "serve",
        "policies",
        "--no-log",
        "--listen",
        "127.0.0.1:0",
        "--facts",
        "examples/requests/facts.json",
        "--facts-from",
        "request",
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--facts-from request"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}
