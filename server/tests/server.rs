//! The decision server end to end, over real HTTP on loopback (each test binds port 0):
//! every endpoint, every error status, the token, malformed, oversized and slow bodies,
//! unknown fields, reload and rollback, and the strict and relaxed logs when the log
//! cannot be written.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashSet;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use charter_log::{self as log, Durability, LogConfig};
use charter_runtime::Engine;
use charter_server::{ServerConfig, OPENAPI};
use common::*;
use serde_json::{json, Value as Json};

const TOKEN: &str = "test-token-0123456789abcdef";

fn config() -> ServerConfig {
    ServerConfig {
        token: Some(TOKEN.to_string()),
        ..ServerConfig::default()
    }
}

fn auth() -> (&'static str, String) {
    ("authorization", format!("Bearer {TOKEN}"))
}

fn with_log(dir: &std::path::Path, durability: Durability) -> ServerConfig {
    let mut c = LogConfig::new(dir.join("decisions.db"));
    c.durability = durability;
    c.busy_timeout = Duration::from_millis(200);
    ServerConfig {
        log: Some(c),
        ..config()
    }
}

#[test]
fn decide_batch_and_sweep_answer_as_the_engine_does() {
    let engine = engine();
    let server = start(engine.clone(), config());
    let mut c = server.conn();
    let cases = [
        ("01_allow_scope", "allow"),
        ("02_deny_grade", "deny"),
        ("05_deny_exit", "deny"),
        ("06_allow_notice", "allow"),
        ("07_deny_missing_fact", "deny"),
    ];
    for (name, expected) in cases {
        let r = c.post("/v1/decide", &sample(name).to_string());
        assert_eq!(r.status, 200, "{name}: {}", r.body);
        assert_eq!(r.header("content-type"), Some("application/json"));
        let d = r.json();
        assert_eq!(d["decision"], expected, "{name}");
        // The same JSON as the engine (and `charter decide`), but for the id.
        let mut direct =
            serde_json::to_value(engine.decide_json(&sample(name).to_string())).unwrap();
        direct["decision_id"] = d["decision_id"].clone();
        assert_eq!(d, direct, "{name}");
    }

    // A batch answers in order.
    let requests: Vec<Json> = cases.iter().map(|(n, _)| sample(n)).collect();
    let r = c.post(
        "/v1/decide/batch",
        &json!({ "requests": requests }).to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let ds = r.json()["decisions"].as_array().unwrap().clone();
    assert_eq!(ds.len(), cases.len());
    for (d, (name, expected)) in ds.iter().zip(cases) {
        assert_eq!(d["decision"], expected, "{name}");
        assert_eq!(d["developer"], sample(name)["developer"]);
    }
    let ids: HashSet<&str> = ds
        .iter()
        .map(|d| d["decision_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), cases.len(), "decision ids are unique");
    // A batch larger than the inline threshold goes through the blocking pool.
    let many: Vec<Json> = (0..100).map(|_| sample("01_allow_scope")).collect();
    let r = c.post("/v1/decide/batch", &json!({ "requests": many }).to_string());
    assert_eq!(r.json()["decisions"].as_array().unwrap().len(), 100);
    let r = c.post("/v1/decide/batch", r#"{"requests": []}"#);
    assert_eq!(r.json(), json!({"decisions": []}));

    // Sweep one developer (store or given facts) and every developer.
    let r = c.post(
        "/v1/sweep",
        r#"{"developer": "bank-002", "at": "2026-06-01"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let rep = &r.json()["reports"][0];
    assert_eq!(rep["triggers"][0]["id"], "exit/违反协议约定");
    assert_eq!(
        rep["measures"],
        json!(["terminate", "revoke", "delist", "destroy"])
    );
    let r = c.post("/v1/sweep", r#"{"at": "2026-06-01"}"#);
    assert_eq!(r.json()["reports"].as_array().unwrap().len(), 5);
    let mut facts = engine.facts().get("bank-001").unwrap();
    facts.insert("agreement_breaches".into(), json!(2));
    let r = c.post(
        "/v1/sweep",
        &json!({"developer": "bank-001", "at": "2026-06-01", "facts": facts}).to_string(),
    );
    assert_eq!(
        r.json()["reports"][0]["triggers"][0]["id"],
        "exit/违反协议约定"
    );
}

#[test]
fn the_fact_store_over_http() {
    let engine = engine();
    let server = start(engine.clone(), config());
    let mut c = server.conn();
    let (k, v) = auth();
    let a = [(k, v.as_str())];

    let r = c.get("/v1/facts/developers");
    assert_eq!(r.json()["developers"].as_array().unwrap().len(), 5);
    let r = c.get("/v1/facts/developers/bank-001");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["facts"]["evaluation_score"], 85);

    // PUT replaces: a new developer, with one fact missing, which the answer lists.
    let mut facts = engine.facts().get("bank-001").unwrap();
    facts.remove("has_security_system");
    let r = c.send(
        "PUT",
        "/v1/facts/developers/bank-009",
        &a,
        &Json::Object(facts.clone()).to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["missing"], json!(["has_security_system"]));
    let mut req = sample("01_allow_scope");
    req["developer"] = json!("bank-009");
    let d = c.post("/v1/decide", &req.to_string()).json();
    assert_eq!(d["decision"], "deny");
    assert_eq!(d["errors"][0]["code"], "missing_fact");

    // PATCH merges; the developer is now complete and allowed.
    let r = c.send(
        "PATCH",
        "/v1/facts/developers/bank-009",
        &a,
        r#"{"has_security_system": true}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["missing"], json!([]));
    let d = c.post("/v1/decide", &req.to_string()).json();
    assert_eq!(d["decision"], "allow", "{d}");

    // A fact of the wrong type is a 400 naming it, and the store keeps what it had.
    let r = c.send(
        "PATCH",
        "/v1/facts/developers/bank-009",
        &a,
        r#"{"agreement_expires": "2028/12/31"}"#,
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["error"]["field"], "agreement_expires");
    assert_eq!(
        c.post("/v1/decide", &req.to_string()).json()["decision"],
        "allow"
    );
    // A name the bundle does not declare is refused, named, with the fact it resembles;
    // nothing of the write is stored.
    let r = c.send(
        "PATCH",
        "/v1/facts/developers/bank-009",
        &a,
        r#"{"incidents_3y": 0, "evaluation_scor": 50}"#,
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["error"]["field"], "evaluation_scor");
    let message = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(
        message.contains("did you mean `evaluation_score`?"),
        "{message}"
    );
    let stored = c.get("/v1/facts/developers/bank-009").json();
    assert!(stored["facts"].get("evaluation_scor").is_none(), "{stored}");
    let mut typo = engine.facts().get("bank-001").unwrap();
    typo.insert("has_securty_system".into(), json!(true));
    let r = c.send(
        "PUT",
        "/v1/facts/developers/bank-010",
        &a,
        &Json::Object(typo).to_string(),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["error"]["field"], "has_securty_system");
    assert_eq!(c.get("/v1/facts/developers/bank-010").status, 404);
    // Facts must be an object.
    let r = c.send("PUT", "/v1/facts/developers/bank-009", &a, "[1, 2]");
    assert_eq!(r.status, 400, "{}", r.body);

    let r = c.send("DELETE", "/v1/facts/developers/bank-009", &a, "");
    assert_eq!(r.status, 204);
    assert_eq!(c.get("/v1/facts/developers/bank-009").status, 404);
    assert_eq!(
        c.get("/v1/facts/developers/bank-009").code(),
        "unknown_developer"
    );
    let r = c.send("DELETE", "/v1/facts/developers/bank-009", &a, "");
    assert_eq!(r.status, 404);
    let d = c.post("/v1/decide", &req.to_string()).json();
    assert_eq!(d["errors"][0]["code"], "unknown_developer");
}

#[test]
fn status_health_metrics_and_openapi() {
    let dir = temp("server-status");
    let server = start(engine(), with_log(&dir, Durability::Strict));
    let mut c = server.conn();
    assert_eq!(
        c.post("/v1/decide", &sample("01_allow_scope").to_string())
            .status,
        200
    );
    assert_eq!(
        c.post("/v1/decide", &sample("02_deny_grade").to_string())
            .status,
        200
    );
    let batch = json!({"requests": [sample("01_allow_scope"), sample("03_deny_no_consent")]});
    assert_eq!(c.post("/v1/decide/batch", &batch.to_string()).status, 200);
    assert_eq!(c.post("/v1/decide", "{").status, 400);

    let r = c.get("/healthz");
    assert_eq!((r.status, r.json()["status"].clone()), (200, json!("ok")));
    let r = c.get("/readyz");
    assert_eq!(
        (r.status, r.json()["status"].clone()),
        (200, json!("ready"))
    );

    let b = c.get("/v1/bundle").json();
    assert_eq!(b["name"], "zhenjiang");
    assert!(b["hash"].as_str().unwrap().starts_with("sha256:"));
    assert!(b["loaded_at"].as_str().unwrap().ends_with("+08:00"));
    assert_eq!(b["last_reload_error"], Json::Null);
    assert_eq!(b["log"]["durability"], "strict");
    assert_eq!(b["log"]["stats"]["written"], 4);
    // A bundle this small is parsed whole at load: no decision had to parse a slice.
    let sc = &b["slice_cache"];
    assert!(sc["slices"].as_u64().unwrap() > 0, "{sc}");
    assert_eq!(sc["resident"], sc["slices"]);
    assert_eq!(
        (sc["misses"].clone(), sc["capacity"].clone()),
        (json!(0), json!(4096))
    );

    let r = c.get("/metrics");
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    for needle in [
        "charter_decisions_total{decision=\"allow\"} 2",
        "charter_decisions_total{decision=\"deny\"} 2",
        "charter_request_duration_seconds_bucket{endpoint=\"decide\",le=\"+Inf\"} 3",
        "charter_request_duration_seconds_count{endpoint=\"batch\"} 1",
        "charter_batch_size_bucket{le=\"2\"} 1",
        "charter_reloads_total{result=\"ok\"} 0",
        "charter_reloads_total{result=\"failed\"} 0",
        "charter_bundle_info{name=\"zhenjiang\",version=\"0.1.0\",hash=\"sha256:",
        "charter_log_queue_depth 0",
        "charter_log_records_total 4",
        "charter_http_responses_total{code=\"400\"} 1",
        "charter_slice_cache_slices{state=\"capacity\"} 4096",
        "charter_slice_cache_lookups_total{result=\"miss\"} 0",
        "charter_slice_cache_evictions_total 0",
    ] {
        assert!(
            r.body.contains(needle),
            "`{needle}` missing from\n{}",
            r.body
        );
    }

    // The OpenAPI description is the file in docs/, and it names every route.
    let r = c.get("/v1/openapi.json");
    assert_eq!(r.status, 200);
    let in_docs = std::fs::read_to_string(root().join("docs/openapi.json")).unwrap();
    assert_eq!(r.body, in_docs);
    assert_eq!(OPENAPI, in_docs);
    let api = r.json();
    assert!(api["openapi"].as_str().unwrap().starts_with("3."));
    for (path, methods) in [
        ("/v1/decide", &["post"][..]),
        ("/v1/decide/batch", &["post"]),
        ("/v1/sweep", &["post"]),
        ("/v1/facts/developers", &["get"]),
        (
            "/v1/facts/developers/{id}",
            &["get", "put", "patch", "delete"],
        ),
        ("/v1/bundle", &["get"]),
        ("/v1/admin/reload", &["post"]),
        ("/v1/admin/rollback", &["post"]),
        ("/healthz", &["get"]),
        ("/readyz", &["get"]),
        ("/metrics", &["get"]),
        ("/v1/openapi.json", &["get"]),
    ] {
        for m in methods {
            assert!(
                api["paths"][path][m].is_object(),
                "{m} {path} is not in docs/openapi.json"
            );
        }
    }
    assert_eq!(
        api["paths"].as_object().unwrap().len(),
        12,
        "a path is described that the server lacks"
    );
    drop(c);
    server.stop();
    std::fs::remove_dir_all(&dir).ok();
}

/// Every malformed request is a 4xx naming what is wrong, never a 500 and never an allow.
#[test]
fn malformed_requests_are_4xx_naming_the_field() {
    let server = start(
        engine(),
        ServerConfig {
            max_body: 4096,
            max_batch: 3,
            read_timeout: Duration::from_millis(300),
            ..config()
        },
    );
    let mut c = server.conn();
    let good = sample("01_allow_scope");
    let with = |k: &str, v: Json| {
        let mut r = good.clone();
        r[k] = v;
        r.to_string()
    };
    let without = |k: &str| {
        let mut r = good.clone();
        r.as_object_mut().unwrap().remove(k);
        r.to_string()
    };
    // (body, status, code, field, what the message says)
    let cases: Vec<(String, u16, &str, Option<&str>, &str)> = vec![
        ("{".into(), 400, "invalid_request", None, "not JSON"),
        ("".into(), 400, "invalid_request", None, "empty"),
        (
            "[]".into(),
            400,
            "invalid_request",
            None,
            "must be a JSON object, not an array",
        ),
        (
            "null".into(),
            400,
            "invalid_request",
            None,
            "must be a JSON object",
        ),
        (
            with("feilds", json!(["a"])),
            400,
            "invalid_request",
            Some("feilds"),
            "unknown field `feilds`",
        ),
        (
            without("developer"),
            400,
            "invalid_request",
            Some("developer"),
            "missing field `developer`",
        ),
        (
            with("fields", json!("credit_code")),
            400,
            "invalid_request",
            Some("fields"),
            "invalid type",
        ),
        (
            with("fields", json!(["a", 7])),
            400,
            "invalid_request",
            Some("fields[1]"),
            "invalid type",
        ),
        (
            with("consent", json!({"granted": "yes"})),
            400,
            "invalid_request",
            Some("consent.granted"),
            "invalid type",
        ),
        (
            with("consent", json!({"granted": true, "ref": "x"})),
            400,
            "invalid_request",
            Some("consent.ref"),
            "unknown field",
        ),
        (
            with("facts", json!({"developers": {}})),
            400,
            "invalid_request",
            Some("facts.developers"),
            "unknown field",
        ),
        (
            with("at", json!("2026/06/01")),
            400,
            "invalid_request",
            Some("at"),
            "is not a time",
        ),
        (
            format!("{good} {good}"),
            400,
            "invalid_request",
            None,
            "follows",
        ),
    ];
    for (body, status, code, field, says) in &cases {
        let r = c.post("/v1/decide", body);
        assert_eq!(r.status, *status, "{body}: {}", r.body);
        let e = r.json();
        assert_eq!(e["error"]["code"], *code, "{body}");
        assert_eq!(e["error"]["field"].as_str(), *field, "{body}: {}", r.body);
        assert!(
            e["error"]["message"].as_str().unwrap().contains(says),
            "{body}: {}",
            r.body
        );
        assert!(!r.body.contains("\"allow\""));
    }

    // In a batch the field is a path into it.
    let mut bad = good.clone();
    bad["consent"] = json!({"granted": 1});
    let r = c.post(
        "/v1/decide/batch",
        &json!({"requests": [good, bad]}).to_string(),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["field"], "requests[1].consent.granted");
    let r = c.post(
        "/v1/decide/batch",
        &json!({"requests": [good], "dry_run": true}).to_string(),
    );
    assert_eq!(r.json()["error"]["field"], "dry_run");
    let r = c.post(
        "/v1/decide/batch",
        &json!({"requests": [good, good, good, good]}).to_string(),
    );
    assert_eq!(
        (r.status, r.json()["error"]["field"].clone()),
        (400, json!("requests"))
    );
    let mut late = good.clone();
    late["at"] = json!("tomorrow");
    let r = c.post(
        "/v1/decide/batch",
        &json!({"requests": [good, late]}).to_string(),
    );
    assert_eq!(r.json()["error"]["field"], "requests[1].at");
    let r = c.post("/v1/sweep", r#"{"developer": "bank-001", "when": "now"}"#);
    assert_eq!(
        (r.status, r.json()["error"]["field"].clone()),
        (400, json!("when"))
    );
    let r = c.post("/v1/sweep", r#"{"facts": {}}"#);
    assert_eq!(
        (r.status, r.json()["error"]["field"].clone()),
        (400, json!("facts"))
    );
    let r = c.post("/v1/sweep", r#"{"developer": "bank-001", "at": "noon"}"#);
    assert_eq!(
        (r.status, r.json()["error"]["field"].clone()),
        (400, json!("at"))
    );

    // Oversized: by its declared length, and chunked with no length.
    let big = format!("{{\"developer\": \"{}\"}}", "x".repeat(5000));
    let r = c.post("/v1/decide", &big);
    assert_eq!((r.status, r.code()), (413, "payload_too_large".into()));
    let mut c = server.conn();
    c.raw(b"POST /v1/decide HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n");
    for _ in 0..5 {
        c.raw(format!("400\r\n{}\r\n", "y".repeat(0x400)).as_bytes());
    }
    c.raw(b"0\r\n\r\n");
    let r = c.read();
    assert_eq!((r.status, r.code()), (413, "payload_too_large".into()));

    // Slow: a body that never comes is a 408 once the read timeout passes.
    let mut c = server.conn();
    c.raw(b"POST /v1/decide HTTP/1.1\r\nhost: t\r\ncontent-length: 100\r\n\r\n{\"developer\":");
    let start = Instant::now();
    let r = c.read();
    assert_eq!((r.status, r.code()), (408, "request_timeout".into()));
    assert!(start.elapsed() < Duration::from_secs(5));

    // Unknown routes and methods.
    let mut c = server.conn();
    let r = c.get("/v1/decisions");
    assert_eq!((r.status, r.code()), (404, "not_found".into()));
    let r = c.get("/v1/decide");
    assert_eq!((r.status, r.code()), (405, "method_not_allowed".into()));
    assert_eq!(r.header("allow"), Some("POST"));
    let r = c.send("DELETE", "/v1/bundle", &[], "");
    assert_eq!(r.status, 405);
}

#[test]
fn the_token_guards_admin_and_fact_writes() {
    let server = start(engine(), config());
    let mut c = server.conn();
    let facts = r#"{"scenarios": []}"#;
    let writes: [(&str, &str, &str); 5] = [
        ("POST", "/v1/admin/reload", ""),
        ("POST", "/v1/admin/rollback", ""),
        ("PUT", "/v1/facts/developers/x", facts),
        ("PATCH", "/v1/facts/developers/x", facts),
        ("DELETE", "/v1/facts/developers/bank-001", ""),
    ];
    let wrong = format!("Bearer {}", TOKEN.replace('0', "1"));
    let truncated = format!("Bearer {}", &TOKEN[..TOKEN.len() - 1]);
    for (m, p, b) in writes {
        // A refused request's body is left unread, so the server closes the connection:
        // one connection per request.
        let mut c = server.conn();
        let r = c.send(m, p, &[], b);
        assert_eq!(
            (r.status, r.code()),
            (401, "missing_token".into()),
            "{m} {p}"
        );
        assert_eq!(
            r.header("www-authenticate"),
            Some("Bearer realm=\"charter\"")
        );
        for bad in [
            wrong.as_str(),
            truncated.as_str(),
            "Basic dXNlcjpwYXNz",
            TOKEN,
        ] {
            let r = server.conn().send(m, p, &[("authorization", bad)], b);
            assert_eq!(r.status, 401, "{m} {p} with `{bad}`: {}", r.body);
        }
    }
    // Every admin endpoint the OpenAPI document lists, the ones added later too, is
    // behind the token (the route layer of the admin router).
    let api: Json = serde_json::from_str(OPENAPI).unwrap();
    for (path, item) in api["paths"].as_object().unwrap() {
        if !path.starts_with("/v1/admin/") {
            continue;
        }
        for m in item.as_object().unwrap().keys() {
            let r = server.conn().send(&m.to_uppercase(), path, &[], "");
            assert_eq!(r.status, 401, "{m} {path} without a token: {}", r.body);
        }
    }
    // The developer was not deleted by any of those.
    assert_eq!(c.get("/v1/facts/developers/bank-001").status, 200);
    // The scheme is case-insensitive.
    let lower = format!("bearer {TOKEN}");
    let r = c.send(
        "POST",
        "/v1/admin/rollback",
        &[("authorization", &lower)],
        "",
    );
    assert_eq!((r.status, r.code()), (409, "no_previous_bundle".into()));
    // Reads need no token.
    assert_eq!(c.get("/v1/facts/developers/bank-001").status, 200);

    // Without a token configured, the protected endpoints are off.
    let open = start(engine(), ServerConfig::default());
    let mut c = open.conn();
    let r = c.send(
        "POST",
        "/v1/admin/reload",
        &[("authorization", &format!("Bearer {TOKEN}"))],
        "",
    );
    assert_eq!((r.status, r.code()), (403, "admin_disabled".into()));
    let r = open
        .conn()
        .send("PUT", "/v1/facts/developers/x", &[], facts);
    assert_eq!(r.status, 403);
    let mut c = open.conn();
    assert_eq!(
        c.post("/v1/decide", &sample("01_allow_scope").to_string())
            .status,
        200
    );
}

#[test]
fn a_short_token_is_refused_at_start() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let e = rt
        .block_on(charter_server::Server::bind(
            engine(),
            ServerConfig {
                token: Some("secret".into()),
                listen: "127.0.0.1:0".parse().unwrap(),
                ..ServerConfig::default()
            },
        ))
        .unwrap_err();
    assert!(e.to_string().contains("unusable"), "{e}");
}

#[test]
fn reload_and_rollback() {
    let dir = temp("server-rollback");
    copy_dir(&root().join("policies"), &dir.join("policies"));
    let engine = engine_at(&dir.join("policies"));
    let server = start(engine, config());
    let mut c = server.conn();
    let (k, v) = auth();
    let a = [(k, v.as_str())];
    let mut req = sample("01_allow_scope");
    req["fields"] = json!(["total_tax_amount"]);
    let req = req.to_string();
    let first = c.post("/v1/decide", &req).json();
    assert_eq!(first["decision"], "allow");
    let original = first["bundle"]["hash"].clone();

    // Nothing changed yet.
    let r = c.send("POST", "/v1/admin/reload", &a, "");
    assert_eq!(
        (r.status, r.json()["result"].clone()),
        (200, json!("unchanged"))
    );

    // A broken edit: 409, the running bundle keeps serving, and the status says why.
    let file = dir.join("policies/scenarios/inclusive_finance.charter");
    let good = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        good.replace("use tax.enterprise_tax {", "use tax.enterprise_tax {{ oops"),
    )
    .unwrap();
    let r = c.send("POST", "/v1/admin/reload", &a, "");
    assert_eq!(
        (r.status, r.code()),
        (409, "reload_failed".into()),
        "{}",
        r.body
    );
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("does not compile"));
    assert_eq!(
        c.post("/v1/decide", &req).json()["bundle"]["hash"],
        original
    );
    let b = c.get("/v1/bundle").json();
    assert!(b["last_reload_error"]
        .as_str()
        .unwrap()
        .contains("does not compile"));
    assert!(c
        .get("/metrics")
        .body
        .contains("charter_reloads_total{result=\"failed\"} 1"));
    assert!(c
        .get("/metrics")
        .body
        .contains("charter_bundle_reload_failing 1"));

    // Fixed and changed: the scope no longer covers total_tax_amount.
    std::fs::write(
        &file,
        good.replace("sales_revenue, total_tax_amount", "sales_revenue"),
    )
    .unwrap();
    let r = c.send("POST", "/v1/admin/reload", &a, "");
    assert_eq!(
        (r.status, r.json()["result"].clone()),
        (200, json!("reloaded")),
        "{}",
        r.body
    );
    let changed = r.json()["bundle"]["hash"].clone();
    assert_ne!(changed, original);
    assert_eq!(r.json()["previous"]["hash"], original);
    let d = c.post("/v1/decide", &req).json();
    assert_eq!(
        (d["decision"].clone(), d["bundle"]["hash"].clone()),
        (json!("deny"), changed.clone())
    );

    // Rollback serves the bundle before, without recompiling; twice returns.
    let r = c.send("POST", "/v1/admin/rollback", &a, "");
    assert_eq!(
        (r.status, r.json()["result"].clone()),
        (200, json!("rolled_back")),
        "{}",
        r.body
    );
    assert_eq!(r.json()["bundle"]["hash"], original);
    let d = c.post("/v1/decide", &req).json();
    assert_eq!(
        (d["decision"].clone(), d["bundle"]["hash"].clone()),
        (json!("allow"), original.clone())
    );
    let r = c.send("POST", "/v1/admin/rollback", &a, "");
    assert_eq!(r.json()["bundle"]["hash"], changed);
    assert_eq!(c.get("/v1/bundle").json()["previous"]["hash"], original);

    // An engine without a source cannot reload.
    let (bundle, _) = charter_compiler::Compiler::load_dir(&root().join("policies"))
        .unwrap()
        .build()
        .unwrap();
    let sourceless = start(Engine::from_bundle(bundle).unwrap(), config());
    let r = sourceless.conn().send("POST", "/v1/admin/reload", &a, "");
    assert_eq!((r.status, r.code()), (409, "no_source".into()));
    std::fs::remove_dir_all(&dir).ok();
}

/// Strict: every decision answered is in the log, with its request (consent reference and
/// purpose) and its answer byte for byte; when the log cannot be written, a 503 deny that
/// names the log's error, never an unrecorded allow.
#[test]
fn strict_log_records_every_answer_and_denies_when_it_cannot() {
    let dir = temp("server-strict");
    let server = start(engine(), with_log(&dir, Durability::Strict));
    let path = dir.join("decisions.db");
    let mut c = server.conn();
    let mut answers = Vec::new();
    for name in ["01_allow_scope", "03_deny_no_consent", "06_allow_notice"] {
        let r = c.post("/v1/decide", &sample(name).to_string());
        assert_eq!(r.status, 200);
        answers.push(r.body);
    }
    let batch = json!({"requests": [sample("02_deny_grade"), sample("01_allow_scope")]});
    let r = c.post("/v1/decide/batch", &batch.to_string());
    for d in r.json()["decisions"].as_array().unwrap() {
        answers.push(d.to_string());
    }
    // Strict: answered means committed, so a reader sees every one now.
    let mut records = Vec::new();
    log::query(&path, &log::Filter::default(), |r| {
        records.push(r);
        true
    })
    .unwrap();
    assert_eq!(records.len(), answers.len());
    for (rec, answer) in records.iter().zip(&answers) {
        let a: Json = serde_json::from_str(answer).unwrap();
        assert_eq!(serde_json::from_str::<Json>(&rec.answer).unwrap(), a);
        assert_eq!(rec.id, a["decision_id"].as_str().unwrap());
        assert_eq!(rec.decision, a["decision"].as_str().unwrap());
        assert_eq!(rec.developer, a["developer"].as_str().unwrap());
        assert_eq!(rec.bundle_hash, a["bundle"]["hash"].as_str().unwrap());
        assert_eq!(rec.bundle_version, "0.1.0");
    }
    let first: Json = serde_json::from_str(&records[0].request).unwrap();
    assert_eq!(first["consent"]["reference"], "SQ-2026-000101");
    assert_eq!(first["purpose"], "小微企业授信审批");
    assert!(log::verify(&path).unwrap().ok());

    // The log breaks (a trigger refuses inserts): strict denies and says why.
    let admin = rusqlite::Connection::open(&path).unwrap();
    admin
        .execute_batch("CREATE TRIGGER broken BEFORE INSERT ON records BEGIN SELECT RAISE(ABORT, 'disk on fire'); END;")
        .unwrap();
    let r = c.post("/v1/decide", &sample("01_allow_scope").to_string());
    assert_eq!(r.status, 503, "{}", r.body);
    let d = r.json();
    assert_eq!(d["decision"], "deny");
    assert!(d["fields"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["decision"] == "deny"));
    assert_eq!(d["errors"][0]["code"], "log_unavailable");
    let msg = d["errors"][0]["message"].as_str().unwrap();
    assert!(
        msg.contains("decision log cannot be written") && msg.contains("disk on fire"),
        "{msg}"
    );
    let r = c.post("/v1/decide/batch", &batch.to_string());
    assert_eq!(r.status, 503);
    assert!(r.json()["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["decision"] == "deny"));
    let r = c.get("/readyz");
    assert_eq!(r.status, 503);
    assert!(r.json()["reason"]
        .as_str()
        .unwrap()
        .contains("disk on fire"));
    let m = c.get("/metrics").body;
    assert!(m.contains("charter_decisions_unrecorded_total 3"), "{m}");
    assert!(m.contains("charter_log_healthy 0"));

    // Repaired: answers resume, the chain continues unbroken.
    admin.execute_batch("DROP TRIGGER broken;").unwrap();
    let r = c.post("/v1/decide", &sample("01_allow_scope").to_string());
    assert_eq!(
        (r.status, r.json()["decision"].clone()),
        (200, json!("allow"))
    );
    assert_eq!(c.get("/readyz").status, 200);
    drop(admin);
    server.stop();
    let v = log::verify(&path).unwrap();
    assert!(v.ok(), "{v:?}");
    assert_eq!(v.decisions as usize, answers.len() + 1);
    std::fs::remove_dir_all(&dir).ok();
}

/// Relaxed: answers do not wait for the log; records still arrive, and a failing log is
/// counted, not turned into denials.
#[test]
fn relaxed_log_answers_first() {
    let dir = temp("server-relaxed");
    let server = start(engine(), with_log(&dir, Durability::Relaxed));
    let path = dir.join("decisions.db");
    let mut c = server.conn();
    for _ in 0..20 {
        assert_eq!(
            c.post("/v1/decide", &sample("01_allow_scope").to_string())
                .status,
            200
        );
    }
    let admin = rusqlite::Connection::open(&path).unwrap();
    // Let the queue drain before breaking the log.
    let log = server.log.clone().unwrap();
    let start_wait = Instant::now();
    while log.stats().written < 20 && start_wait.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
    admin
        .execute_batch("CREATE TRIGGER broken BEFORE INSERT ON records BEGIN SELECT RAISE(ABORT, 'disk on fire'); END;")
        .unwrap();
    let r = c.post("/v1/decide", &sample("01_allow_scope").to_string());
    assert_eq!(
        (r.status, r.json()["decision"].clone()),
        (200, json!("allow"))
    );
    let start_wait = Instant::now();
    while log.stats().lost < 1 && start_wait.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(log.stats().lost, 1);
    assert!(c.get("/metrics").body.contains("charter_log_lost_total 1"));
    // Relaxed stays ready: it answers without the log by design.
    assert_eq!(c.get("/readyz").status, 200);
    admin.execute_batch("DROP TRIGGER broken;").unwrap();
    for _ in 0..5 {
        assert_eq!(
            c.post("/v1/decide", &sample("02_deny_grade").to_string())
                .status,
            200
        );
    }
    drop(admin);
    // Shutdown flushes what is queued.
    server.stop();
    let v = log::verify(&path).unwrap();
    assert!(v.ok(), "{v:?}");
    assert_eq!(v.decisions, 25);
    std::fs::remove_dir_all(&dir).ok();
}

/// A policy file rewritten broken and then fixed while clients keep deciding over HTTP:
/// no request fails, the broken bundle never serves, the fixed one does.
#[test]
fn reload_under_load_over_http() {
    let dir = temp("server-watch");
    copy_dir(&root().join("policies"), &dir.join("policies"));
    let engine = engine_at(&dir.join("policies"));
    let original = engine.hash();
    let server = start(
        engine.clone(),
        ServerConfig {
            watch: true,
            ..with_log(&dir, Durability::Strict)
        },
    );
    let mut req = sample("01_allow_scope");
    req["fields"] = json!(["total_tax_amount"]);
    let req = req.to_string();

    let stop = Arc::new(AtomicBool::new(false));
    let seen: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let failures: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut threads = Vec::new();
    for _ in 0..3 {
        let (stop, seen, failures, req, addr) = (
            stop.clone(),
            seen.clone(),
            failures.clone(),
            req.clone(),
            server.addr,
        );
        threads.push(std::thread::spawn(move || {
            let mut c = Conn::new(addr);
            let mut local: Vec<(String, String)> = Vec::new();
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) && n < 20_000 {
                n += 1;
                let r = c.post("/v1/decide", &req);
                if r.status != 200 {
                    failures.lock().unwrap().push(r.body.clone());
                    continue;
                }
                let d = r.json();
                if !d["errors"].is_null() {
                    failures.lock().unwrap().push(d["errors"].to_string());
                }
                let pair = (
                    d["bundle"]["hash"].as_str().unwrap().to_string(),
                    d["decision"].as_str().unwrap().to_string(),
                );
                if local.last() != Some(&pair) {
                    local.push(pair);
                }
            }
            seen.lock().unwrap().extend(local);
        }));
    }
    std::thread::sleep(Duration::from_millis(300));
    let file = dir.join("policies/scenarios/inclusive_finance.charter");
    let good = std::fs::read_to_string(&file).unwrap();
    let write = |text: &str| {
        let tmp = file.with_extension("tmp~");
        std::fs::File::create(&tmp)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        std::fs::rename(&tmp, &file).unwrap();
    };
    write(&good.replace("use tax.enterprise_tax {", "use tax.enterprise_tax {{ oops"));
    let t = Instant::now();
    while engine.status().failures == 0 && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        engine.status().failures > 0,
        "the broken edit was not noticed"
    );
    let mut c = server.conn();
    assert!(c.get("/v1/bundle").json()["last_reload_error"]
        .as_str()
        .unwrap()
        .contains("does not compile"));
    write(&good.replace("sales_revenue, total_tax_amount", "sales_revenue"));
    let t = Instant::now();
    while engine.hash() == original && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let fixed = engine.hash();
    assert_ne!(fixed, original, "the fixed bundle never served");
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    assert!(
        failures.lock().unwrap().is_empty(),
        "{:?}",
        failures.lock().unwrap()
    );
    let seen = seen.lock().unwrap();
    assert!(
        seen.iter().any(|(h, _)| *h == fixed),
        "no answer came from the fixed bundle"
    );
    for (hash, decision) in seen.iter() {
        match hash {
            h if *h == original => assert_eq!(decision, "allow"),
            h if *h == fixed => assert_eq!(decision, "deny"),
            other => panic!("an unexpected bundle `{other}` served"),
        }
    }
    assert!(c
        .get("/metrics")
        .body
        .contains("charter_reloads_total{result=\"ok\"} 1"));
    drop(c);
    server.stop();
    // The log shows which bundle answered each decision.
    let mut hashes = HashSet::new();
    log::query(&dir.join("decisions.db"), &log::Filter::default(), |r| {
        hashes.insert(r.bundle_hash);
        true
    })
    .unwrap();
    assert_eq!(hashes, [original, fixed].into_iter().collect());
    std::fs::remove_dir_all(&dir).ok();
}
