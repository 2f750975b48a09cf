//! The server against hostile input (issue 10): facts from one source of truth, strict
//! request decoding, bounded answers, an empty batch answered at once, readiness that
//! recovers by itself, and a reload of a deeply nested policy that never takes the
//! server down.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::mpsc;
use std::time::Duration;

use charter_log::{Durability, LogConfig};
use charter_server::{FactsFrom, ServerConfig};
use common::*;
use serde_json::{json, Value as Json};

const TOKEN: &str = "test-token-0123456789abcdef";
const FACTS_TOKEN: &str = "facts-token-0123456789abcdef";

fn config() -> ServerConfig {
    ServerConfig {
        token: Some(TOKEN.to_string()),
        facts_token: Some(FACTS_TOKEN.to_string()),
        ..ServerConfig::default()
    }
}

fn bearer(t: &str) -> (&'static str, String) {
    ("authorization", format!("Bearer {t}"))
}

/// The facts of `examples/requests/facts.json` for one developer.
fn stored_facts(dev: &str) -> Json {
    let text = std::fs::read_to_string(root().join("examples/requests/facts.json")).unwrap();
    let all: Json = serde_json::from_str(&text).unwrap();
    all[dev].clone()
}

/// Runs `f` on a thread and fails (instead of hanging) when it takes longer than `limit`.
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("no answer within {limit:?}"))
}

/// A developer the stored facts deny (an exit) cannot clean itself with inline facts
/// in `store` mode; the admin and the facts token may supply them; `either` takes them
/// from anyone; `request` needs them and refuses fact writes.
#[test]
fn inline_facts_need_the_scope_in_store_mode() {
    let engine = engine();
    // The developer of the exit sample, and clean facts (a developer the store allows).
    let mut exit = sample("05_deny_exit");
    let dev = exit["developer"].as_str().unwrap().to_string();
    let clean = stored_facts("bank-001");
    assert!(clean.is_object(), "facts.json has bank-001");
    exit["facts"] = json!({ "developer": clean });
    let body = exit.to_string();

    let server = start(engine.clone(), config());
    let mut c = server.conn();
    let r = c.post("/v1/decide", &body);
    assert_eq!(
        (r.status, r.code()),
        (403, "inline_facts_refused".into()),
        "{}",
        r.body
    );
    assert_eq!(r.json()["error"]["field"], "facts.developer");
    let batch = json!({ "requests": [sample("01_allow_scope"), exit.clone()] }).to_string();
    let r = c.post("/v1/decide/batch", &batch);
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.json()["error"]["field"], "requests[1].facts.developer");
    // A wrong token is no scope either.
    let (k, v) = bearer("not-the-token-0123456789");
    let r = c.send("POST", "/v1/decide", &[(k, v.as_str())], &body);
    assert_eq!(r.status, 403, "{}", r.body);
    // A sweep with facts is a what-if that allows nothing: taken in every mode.
    let sweep = json!({ "developer": dev, "facts": stored_facts("bank-001") }).to_string();
    assert_eq!(c.post("/v1/sweep", &sweep).status, 200);
    // The stored facts still answer: deny.
    let mut plain = exit.clone();
    plain.as_object_mut().unwrap().remove("facts");
    assert_eq!(
        c.post("/v1/decide", &plain.to_string()).json()["decision"],
        "deny"
    );
    // With either token, the caller supplies the facts and they are used.
    for t in [TOKEN, FACTS_TOKEN] {
        let (k, v) = bearer(t);
        let r = c.send("POST", "/v1/decide", &[(k, v.as_str())], &body);
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(
            !r.json()["reasons"]
                .as_array()
                .map(|a| a.iter().any(|x| x["kind"] == "exit"))
                .unwrap_or(false),
            "the inline facts were used: {}",
            r.body
        );
    }
    // The facts token is not the admin's.
    let (k, v) = bearer(FACTS_TOKEN);
    let r = c.send("POST", "/v1/admin/reload", &[(k, v.as_str())], "");
    assert_eq!(r.status, 401, "{}", r.body);
    server.stop();

    // `either`: anyone's inline facts replace the stored ones (documented as unsafe).
    let server = start(
        engine.clone(),
        ServerConfig {
            facts_from: FactsFrom::Either,
            ..config()
        },
    );
    assert_eq!(server.conn().post("/v1/decide", &body).status, 200);
    server.stop();

    // `request`: a request without facts is a 400 naming the field; fact writes 409.
    let server = start(
        engine,
        ServerConfig {
            facts_from: FactsFrom::Request,
            ..config()
        },
    );
    let mut c = server.conn();
    assert_eq!(c.post("/v1/decide", &body).status, 200);
    let r = c.post("/v1/decide", &plain.to_string());
    assert_eq!(
        (r.status, r.code()),
        (400, "invalid_request".into()),
        "{}",
        r.body
    );
    assert_eq!(r.json()["error"]["field"], "facts.developer");
    let (k, v) = bearer(TOKEN);
    let r = c.send(
        "PUT",
        "/v1/facts/developers/x",
        &[(k, v.as_str())],
        &clean_facts_text(),
    );
    assert_eq!(
        (r.status, r.code()),
        (409, "facts_not_stored".into()),
        "{}",
        r.body
    );
}

fn clean_facts_text() -> String {
    stored_facts("bank-001").to_string()
}

/// Empty ids, consent without a reference, too many fields, positional arrays, consent
/// as an array, duplicate keys in facts and a bad `at`: each a 400 naming the field.
#[test]
fn strict_decoding_names_the_field() {
    let server = start(engine(), config());
    let mut c = server.conn();
    let base = sample("01_allow_scope");
    let with = |k: &str, v: Json| {
        let mut r = base.clone();
        r[k] = v;
        r.to_string()
    };
    let cases: Vec<(String, &str)> = vec![
        (with("developer", json!("")), "developer"),
        (with("scenario", json!(" ")), "scenario"),
        (with("dataset", json!("")), "dataset"),
        (with("action", json!("")), "action"),
        (with("fields", json!(["sales_revenue", ""])), "fields[1]"),
        (
            with("consent", json!({"granted": true})),
            "consent.reference",
        ),
        (
            with("consent", json!({"granted": true, "reference": "  "})),
            "consent.reference",
        ),
        (with("consent", json!([true, "SQ-1"])), "consent"),
        (with("at", json!("2026-13-45")), "at"),
        // `null` where the document says object is refused, not read as absent.
        (with("facts", json!({"developer": null})), "facts.developer"),
    ];
    for (body, field) in cases {
        let r = c.post("/v1/decide", &body);
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert_eq!(r.json()["error"]["field"], field, "{body}: {}", r.body);
    }
    // The bad `at` is named as given.
    let r = c.post("/v1/decide", &with("at", json!("2026-13-45")));
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("`2026-13-45`"));
    // A request as a positional array, inside a batch.
    let positional = json!({"requests": [["bank-001", "privacy_compute", "tax.enterprise_tax", [], "普惠金融"]]});
    let r = c.post("/v1/decide/batch", &positional.to_string());
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["error"]["field"], "requests[0]");
    // A duplicate key among the facts, and in the request itself.
    let mut text = base.to_string();
    text.pop();
    let dup_facts = format!(r#"{text},"facts":{{"developer":{{"warnings":0,"warnings":1}}}}}}"#);
    let (k, v) = bearer(TOKEN);
    let r = c.send("POST", "/v1/decide", &[(k, v.as_str())], &dup_facts);
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(
        r.json()["error"]["field"],
        "facts.developer.warnings",
        "{}",
        r.body
    );
    let dup = format!(r#"{text},"developer":"bank-002"}}"#);
    let r = c.post("/v1/decide", &dup);
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["error"]["field"], "developer", "{}", r.body);
    // A fact written twice in a fact write.
    let r = c.send(
        "PUT",
        "/v1/facts/developers/dup",
        &[(k, v.as_str())],
        r#"{"warnings":0,"warnings":1}"#,
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["error"]["field"], "warnings", "{}", r.body);
    // Consent refused (granted: false) needs no reference.
    let r = c.post("/v1/decide", &with("consent", json!({"granted": false})));
    assert_eq!(r.status, 200, "{}", r.body);
}

/// The embedded engine does not count consent without a reference, and names an
/// invalid `at` as given rather than today's date.
#[test]
fn the_engine_fails_closed_on_consent_and_at() {
    let engine = engine();
    let mut req: charter_runtime::Request =
        serde_json::from_value(sample("01_allow_scope")).unwrap();
    assert!(engine.decide(&req).is_allowed());
    if let Some(c) = req.consent.as_mut() {
        c.reference = Some(String::new());
    }
    let d = engine.decide(&req);
    assert!(!d.is_allowed(), "empty reference counted as consent: {d:?}");
    req.consent = Some(charter_runtime::Consent {
        granted: true,
        reference: None,
    });
    assert!(!engine.decide(&req).is_allowed());
    req.at = Some("yesterday".into());
    let d = engine.decide(&req);
    assert_eq!(d.day, "yesterday");
    assert!(d.errors.iter().any(|e| e.message.contains("`yesterday`")));
    // A positional request is not a request.
    let d =
        engine.decide_json(r#"["bank-001","privacy_compute","tax.enterprise_tax",[],"普惠金融"]"#);
    assert_eq!(d.errors[0].code, charter_runtime::ErrorCode::InvalidRequest);
}

/// 120,000 unknown field names: refused by the field limit, and under a raised limit the
/// answer names ten and counts the rest instead of echoing every one.
#[test]
fn unknown_fields_are_bounded() {
    let engine = engine();
    let mut req = sample("01_allow_scope");
    let names: Vec<String> = (0..120_000).map(|i| format!("f{i}")).collect();
    req["fields"] = json!(names);
    let body = req.to_string();
    let server = start(
        engine.clone(),
        ServerConfig {
            max_body: 4 << 20,
            ..config()
        },
    );
    let r = server.conn().post("/v1/decide", &body);
    assert_eq!(r.status, 400, "{}", &r.body[..r.body.len().min(300)]);
    assert_eq!(r.json()["error"]["field"], "fields");
    assert!(r.body.len() < 1000, "{}", r.body.len());
    server.stop();

    // Allowed through, the answer stays proportional: one error naming 10 of 2,000.
    let mut req = sample("01_allow_scope");
    let names: Vec<String> = (0..2_000).map(|i| format!("f{i}")).collect();
    req["fields"] = json!(names);
    let server = start(
        engine,
        ServerConfig {
            max_fields: 5_000,
            ..config()
        },
    );
    let r = server.conn().post("/v1/decide", &req.to_string());
    assert_eq!(r.status, 200);
    let d = r.json();
    assert_eq!(d["decision"], "deny");
    let errors = d["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let m = errors[0]["message"].as_str().unwrap();
    assert!(
        m.starts_with("2000 names are not fields") && m.contains("and 1990 more"),
        "{m}"
    );
    // Nor are they echoed as fields: the answer is the size of the decision.
    assert_eq!(d["fields"].as_array().map(Vec::len), Some(0));
    assert!(r.body.len() < 4_000, "{} bytes", r.body.len());
}

/// An empty batch in strict mode is answered at once, over and over (it used to wait for
/// a commit that never came).
#[test]
fn an_empty_batch_is_answered_at_once() {
    let dir = temp("hardening-empty-batch");
    let mut log = LogConfig::new(dir.join("decisions.db"));
    log.durability = Durability::Strict;
    let server = start(
        engine(),
        ServerConfig {
            log: Some(log),
            ..config()
        },
    );
    let addr = server.addr;
    within(Duration::from_secs(20), move || {
        let mut c = Conn::new(addr);
        for _ in 0..200 {
            let r = c.post("/v1/decide/batch", r#"{"requests":[]}"#);
            assert_eq!(r.status, 200, "{}", r.body);
            assert_eq!(r.json(), json!({"decisions": []}));
        }
        assert_eq!(c.get("/healthz").status, 200);
    });
    // And a decision after them commits as usual.
    let r = server
        .conn()
        .post("/v1/decide", &sample("01_allow_scope").to_string());
    assert_eq!(r.status, 200);
    server.stop();
    std::fs::remove_dir_all(&dir).ok();
}

/// `/readyz` probes a failing log and comes back by itself when the log does, with no
/// decision in between.
#[test]
fn readiness_recovers_without_traffic() {
    let dir = temp("hardening-readyz");
    let path = dir.join("decisions.db");
    let mut log = LogConfig::new(path.clone());
    log.durability = Durability::Strict;
    log.busy_timeout = Duration::from_millis(200);
    let server = start(
        engine(),
        ServerConfig {
            log: Some(log),
            ..config()
        },
    );
    let mut c = server.conn();
    assert_eq!(c.get("/readyz").status, 200);
    let admin = rusqlite::Connection::open(&path).unwrap();
    admin
        .execute_batch("CREATE TRIGGER broken BEFORE INSERT ON records BEGIN SELECT RAISE(ABORT, 'disk on fire'); END;")
        .unwrap();
    assert_eq!(
        c.post("/v1/decide", &sample("01_allow_scope").to_string())
            .status,
        503
    );
    let r = c.get("/readyz");
    assert_eq!(r.status, 503);
    assert!(r.body.contains("disk on fire"), "{}", r.body);
    admin.execute_batch("DROP TRIGGER broken;").unwrap();
    // No decision: the probe alone finds the log writable again.
    let r = c.get("/readyz");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(c.get("/metrics").body.contains("charter_log_healthy 1"));
    drop(admin);
    server.stop();
    // The probe left nothing in the log.
    let v = charter_log::verify(&path).unwrap();
    assert!(v.ok(), "{v:?}");
    assert_eq!(v.decisions, 0);
    std::fs::remove_dir_all(&dir).ok();
}

/// A policy that nests thousands deep, reloaded by the admin: the server keeps serving
/// the last good bundle and reports the failure in status and metrics; fixing the
/// source clears the error, also when the fixed source is the bundle already serving.
#[test]
fn a_deeply_nested_policy_never_takes_the_server_down() {
    let dir = temp("hardening-deep");
    copy_dir(&root().join("policies"), &dir.join("policies"));
    let server = start(engine_at(&dir.join("policies")), config());
    let mut c = server.conn();
    let (k, v) = bearer(TOKEN);
    let a = [(k, v.as_str())];
    let req = sample("01_allow_scope").to_string();
    let before = c.post("/v1/decide", &req).json();
    assert_eq!(before["decision"], "allow");

    // A flat chain of thousands of `and` (the issue's crash: 200 terms killed the server
    // on a blocking-pool thread's 2 MiB stack), then `not` and parentheses nested
    // hundreds deep, each ending on a fact nobody declared.
    let depth = 400;
    let deep = format!(
        "admission \"深\" article \"第九条\" {{\n  require {}developer.no_such_fact{} \"y\" article \"第九条\"\n}}\n",
        "not (".repeat(depth),
        ")".repeat(depth)
    );
    let file = dir.join("policies/deep.charter");
    std::fs::write(&file, deep).unwrap();
    let r = c.send("POST", "/v1/admin/reload", &a, "");
    assert_eq!(
        (r.status, r.code()),
        (409, "reload_failed".into()),
        "{}",
        r.body
    );
    let after = c.post("/v1/decide", &req).json();
    assert_eq!(after["decision"], "allow");
    assert_eq!(after["bundle"]["hash"], before["bundle"]["hash"]);
    assert!(c.get("/v1/bundle").json()["last_reload_error"].is_string());
    assert!(c
        .get("/metrics")
        .body
        .contains("charter_bundle_reload_failing 1"));
    assert_eq!(c.get("/healthz").status, 200);

    // The source is fixed back to what serves: unchanged, and the stale error clears.
    std::fs::remove_file(&file).unwrap();
    let r = c.send("POST", "/v1/admin/reload", &a, "");
    assert_eq!(r.json()["result"], "unchanged", "{}", r.body);
    assert!(c.get("/v1/bundle").json()["last_reload_error"].is_null());
    assert!(c
        .get("/metrics")
        .body
        .contains("charter_bundle_reload_failing 0"));

    // A valid flat chain of thousands of `and` (the issue's crash: 200 terms killed the
    // server on a blocking-pool thread's 2 MiB stack): built or refused, the server lives.
    let chain = vec!["developer.compliance_pledged"; 3_000].join(" and ");
    std::fs::write(
        &file,
        format!("admission \"链\" article \"第九条\" {{\n  require {chain} \"x\" article \"第九条\"\n}}\n"),
    )
    .unwrap();
    let r = c.send("POST", "/v1/admin/reload", &a, "");
    assert!(r.status == 200 || r.code() == "reload_failed", "{}", r.body);
    assert_eq!(c.get("/healthz").status, 200);
    assert_eq!(c.post("/v1/decide", &req).status, 200);
    server.stop();
    std::fs::remove_dir_all(&dir).ok();
}

/// The engine refuses empty ids even with inline facts.
#[test]
fn the_engine_denies_empty_ids() {
    let engine = engine();
    let mut req: charter_runtime::Request =
        serde_json::from_value(sample("01_allow_scope")).unwrap();
    let facts = stored_facts("bank-001");
    req.facts = Some(charter_runtime::RequestFacts {
        developer: Some(facts.as_object().unwrap().clone()),
    });
    assert!(engine.decide(&req).is_allowed());
    req.developer = String::new();
    let d = engine.decide(&req);
    assert!(!d.is_allowed());
    assert!(d
        .errors
        .iter()
        .any(|e| e.code == charter_runtime::ErrorCode::InvalidRequest
            && e.message.contains("`developer`")));
}

/// The same under `--watch`: the debouncer's rebuild of a deep policy fails or
/// succeeds on the compile thread, the watcher keeps watching, and a later good edit
/// still loads.
#[test]
fn the_watcher_survives_a_deep_policy() {
    let dir = temp("hardening-watch");
    copy_dir(&root().join("policies"), &dir.join("policies"));
    let server = start(
        engine_at(&dir.join("policies")),
        ServerConfig {
            watch: true,
            ..config()
        },
    );
    let mut c = server.conn();
    let wait_for = |c: &mut Conn, what: &dyn Fn(&Json) -> bool| {
        let start = std::time::Instant::now();
        loop {
            let b = c.get("/v1/bundle").json();
            if what(&b) {
                return b;
            }
            assert!(start.elapsed() < Duration::from_secs(20), "timed out: {b}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let file = dir.join("policies/deep.charter");
    let chain = vec!["developer.compliance_pledged"; 3_000].join(" and ");
    std::fs::write(
        &file,
        format!("admission \"链\" article \"第九条\" {{\n  require {chain} \"x\" article \"第九条\"\n}}\n"),
    )
    .unwrap();
    wait_for(&mut c, &|b| {
        b["reloads"].as_u64() == Some(1) || b["reload_failures"].as_u64() == Some(1)
    });
    assert_eq!(c.get("/healthz").status, 200);
    // A broken edit after it is still seen, and reported.
    std::fs::write(
        &file,
        "admission \"链\" {\n  require developer.no_such_fact \"x\"\n}\n",
    )
    .unwrap();
    let b = wait_for(&mut c, &|b| b["last_reload_error"].is_string());
    assert!(
        b["last_reload_error"]
            .as_str()
            .unwrap()
            .contains("does not compile"),
        "{b}"
    );
    server.stop();
    std::fs::remove_dir_all(&dir).ok();
}

/// Nesting deeper than pest's own stack guard refuses on a 2 MiB stack but lets through
/// on the 64 MiB compile stack (2,000 levels here, in a debug build): the AST builder
/// (`compiler/src/syntax/parser.rs`, `expr`) then recurses past the stack and the
/// process aborts, which no `catch_unwind` can stop. Fixed by an iterative parser with
/// a nesting limit (CH0004), which this test now holds to.
#[test]
fn nesting_past_the_parser_guard_does_not_abort() {
    let dir = temp("hardening-nesting");
    copy_dir(&root().join("policies"), &dir.join("policies"));
    let server = start(engine_at(&dir.join("policies")), config());
    let mut c = server.conn();
    let (k, v) = bearer(TOKEN);
    let depth = 2_000;
    std::fs::write(
        dir.join("policies/deep.charter"),
        format!(
            "admission \"深\" article \"第九条\" {{\n  require {}developer.compliance_pledged{} \"y\" article \"第九条\"\n}}\n",
            "not (".repeat(depth),
            ")".repeat(depth)
        ),
    )
    .unwrap();
    let r = c.send("POST", "/v1/admin/reload", &[(k, v.as_str())], "");
    assert!(r.status == 200 || r.code() == "reload_failed", "{}", r.body);
    assert_eq!(c.get("/healthz").status, 200);
    server.stop();
    std::fs::remove_dir_all(&dir).ok();
}
