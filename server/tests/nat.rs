//! `nat` facts (counts) refuse a negative value wherever facts enter: a request's
//! inline facts (a deny naming the fact), the fact store's `PUT` and `PATCH` (a 400
//! naming the field, the store unchanged) and the sweep.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use charter_runtime::{Effect, ErrorCode};
use charter_server::ServerConfig;
use common::*;
use serde_json::{json, Value as Json};

const TOKEN: &str = "test-token-0123456789abcdef";

/// The facts the prelude declares as `nat`.
const COUNTS: &[&str] = &[
    "agreement_breaches",
    "warnings",
    "legal_violations",
    "incidents_3y",
    "open_incidents",
];

#[test]
fn the_prelude_declares_counts_as_nat() {
    let engine = engine();
    let catalog = engine.catalog();
    for c in COUNTS {
        assert_eq!(catalog.facts[*c].ty, "nat", "{c}");
    }
    assert_eq!(catalog.facts["evaluation_score"].ty, "int");
}

#[test]
fn a_negative_count_in_a_request_denies_naming_the_fact() {
    let engine = engine();
    for c in COUNTS {
        let mut req = sample("01_allow_scope");
        req["facts"]["developer"][*c] = json!(-1);
        let d = engine.decide_json(&req.to_string());
        assert_eq!(d.decision, Effect::Deny, "{c}: {d:#?}");
        assert!(
            d.errors.iter().any(|e| e.code == ErrorCode::FactType
                && e.message.contains(&format!("fact `{c}`"))
                && e.message.contains("0 or more")
                && e.message.contains("`-1`")),
            "{c}: {:#?}",
            d.errors
        );
        // Zero is a count.
        req["facts"]["developer"][*c] = json!(0);
        let d = engine.decide_json(&req.to_string());
        assert!(
            d.errors.iter().all(|e| e.code != ErrorCode::FactType),
            "{c}: {:#?}",
            d.errors
        );
    }
}

#[test]
fn a_negative_count_is_refused_by_the_fact_store_and_the_sweep() {
    let engine = engine();
    let server = start(
        engine.clone(),
        ServerConfig {
            token: Some(TOKEN.to_string()),
            ..ServerConfig::default()
        },
    );
    let mut c = server.conn();
    let bearer = format!("Bearer {TOKEN}");
    let a = [("authorization", bearer.as_str())];
    let before = engine.facts().get("bank-001").unwrap();

    let mut facts = before.clone();
    facts.insert("agreement_breaches".into(), json!(-1));
    let r = c.send(
        "PUT",
        "/v1/facts/developers/bank-001",
        &a,
        &Json::Object(facts.clone()).to_string(),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["error"]["field"], "agreement_breaches");

    let r = c.send(
        "PATCH",
        "/v1/facts/developers/bank-001",
        &a,
        r#"{"incidents_3y": -2}"#,
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["error"]["field"], "incidents_3y");
    assert_eq!(engine.facts().get("bank-001").unwrap(), before);

    let r = c.send(
        "PATCH",
        "/v1/facts/developers/bank-001",
        &a,
        r#"{"incidents_3y": 0}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);

    let report = engine.sweep("bank-001", Some(&facts), None);
    assert!(
        report
            .errors
            .iter()
            .any(|e| e.code == ErrorCode::FactType && e.message.contains("agreement_breaches")),
        "{:#?}",
        report.errors
    );
}
