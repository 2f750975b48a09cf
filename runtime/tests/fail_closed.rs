//! Fail closed: a missing or mistyped fact, an unknown developer, dataset, field,
//! scenario or action, a bad time, a request that does not parse, and any Cedar
//! evaluation error all give deny, with the error named.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use charter_compiler::Compiler;
use charter_runtime::{Decision, Effect, Engine, ErrorCode, Evaluation, Request};
use serde_json::{json, Value as Json};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::load(&root().join("policies")).unwrap())
}

/// The allowed sample request, as JSON to tamper with.
fn base() -> Json {
    serde_json::from_str(
        &std::fs::read_to_string(root().join("examples/requests/01_allow_scope.json")).unwrap(),
    )
    .unwrap()
}

fn decide(v: &Json) -> Decision {
    engine().decide_json(&v.to_string())
}

fn assert_denied_with(d: &Decision, code: ErrorCode, needle: &str) {
    assert_eq!(d.decision, Effect::Deny, "{d:#?}");
    assert!(
        d.errors
            .iter()
            .any(|e| e.code == code && e.message.contains(needle)),
        "no {code:?} error mentioning {needle}: {:#?}",
        d.errors
    );
    assert!(
        d.fields.iter().all(|f| f.decision == Effect::Deny),
        "{d:#?}"
    );
}

#[test]
fn the_base_request_is_allowed() {
    assert_eq!(decide(&base()).decision, Effect::Allow);
}

#[test]
fn missing_fact() {
    let mut v = base();
    v["facts"]["developer"]
        .as_object_mut()
        .unwrap()
        .remove("dishonest_listed");
    assert_denied_with(&decide(&v), ErrorCode::MissingFact, "`dishonest_listed`");
}

#[test]
fn mistyped_facts() {
    for (fact, value, needle) in [
        ("incidents_3y", json!("0"), "must be an integer"),
        ("dishonest_listed", json!(0), "must be a boolean"),
        ("agreement_expires", json!("2028/12/31"), "must be a date"),
        ("agreement_expires", json!("2028-02-30"), "must be a date"),
        ("scenarios", json!("普惠金融"), "must be a list"),
        (
            "scenarios",
            json!(["不存在的场景"]),
            "not a scenario of the bundle",
        ),
        ("evaluation_score", json!(85.5), "must be an integer"),
        ("has_security_officer", Json::Null, "must be a boolean"),
    ] {
        let mut v = base();
        v["facts"]["developer"][fact] = value;
        assert_denied_with(&decide(&v), ErrorCode::FactType, needle);
    }
}

#[test]
fn every_problem_is_named_at_once() {
    let mut v = base();
    let dev = v["facts"]["developer"].as_object_mut().unwrap();
    dev.remove("warnings");
    dev.insert("incidents_3y".into(), json!(true));
    v["action"] = json!("teleport");
    let d = decide(&v);
    let codes: Vec<ErrorCode> = d.errors.iter().map(|e| e.code).collect();
    assert!(
        codes.contains(&ErrorCode::MissingFact)
            && codes.contains(&ErrorCode::FactType)
            && codes.contains(&ErrorCode::UnknownAction),
        "{codes:?}"
    );
}

#[test]
fn unknown_developer() {
    let mut v = base();
    v.as_object_mut().unwrap().remove("facts");
    assert_denied_with(&decide(&v), ErrorCode::UnknownDeveloper, "`bank-001`");
}

#[test]
fn unknown_names() {
    for (key, value, code, needle) in [
        (
            "dataset",
            json!("tax.nothing"),
            ErrorCode::UnknownDataset,
            "`tax.nothing`",
        ),
        (
            "fields",
            json!(["credit_code", "nothing"]),
            ErrorCode::UnknownField,
            "`nothing`",
        ),
        (
            "scenario",
            json!("不存在"),
            ErrorCode::UnknownScenario,
            "`不存在`",
        ),
        (
            "action",
            json!("export_everything"),
            ErrorCode::UnknownAction,
            "`export_everything`",
        ),
        (
            "at",
            json!("next tuesday"),
            ErrorCode::InvalidTime,
            "`next tuesday`",
        ),
    ] {
        let mut v = base();
        v[key] = value;
        assert_denied_with(&decide(&v), code, needle);
    }
}

#[test]
fn requests_that_do_not_parse() {
    for text in ["", "{", "[]", r#"{"developer": "x"}"#] {
        let d = engine().decide_json(text);
        assert_eq!(d.decision, Effect::Deny);
        assert_eq!(d.errors[0].code, ErrorCode::InvalidRequest);
    }
    // A misspelt key is not ignored: `feilds` would otherwise ask for every field.
    let mut v = base();
    v["feilds"] = json!(["credit_code"]);
    assert_denied_with(&decide(&v), ErrorCode::InvalidRequest, "feilds");
}

#[test]
fn facts_the_bundle_does_not_declare_are_ignored() {
    let mut v = base();
    v["facts"]["developer"]["favourite_colour"] = json!("blue");
    assert_eq!(decide(&v).decision, Effect::Allow);
}

/// A bundle with an exit rule whose arithmetic overflows for a large fact value: Cedar
/// reports an evaluation error and skips the forbid, which would leave the scope's
/// permit standing. The engine must deny, naming the policy.
fn overflow_engine() -> Engine {
    let mut files = Vec::new();
    collect(
        &root().join("policies"),
        &root().join("policies"),
        &mut files,
    );
    files.push((
        "overflow.charter".to_string(),
        "fact penalty_points: int \"扣分\"\n\n\
         exit 扣分过多 \"扣分超过上限\" article \"第三十二条第六项\" {\n  when developer.penalty_points + 1 > 100\n  measures terminate\n}\n\n\
         notice 扣分提醒 \"扣分接近上限\" article \"第三十条\" {\n  when developer.penalty_points + 10 > 90\n}\n"
            .to_string(),
    ));
    let manifest = std::fs::read_to_string(root().join("policies/charter.toml")).unwrap();
    let (bundle, _) = Compiler::from_sources(Some(&manifest), files)
        .build()
        .unwrap();
    Engine::from_bundle(bundle).unwrap()
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            collect(root, &p, out);
        } else if p.extension().is_some_and(|x| x == "charter") {
            let rel = p
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            out.push((rel, std::fs::read_to_string(&p).unwrap()));
        }
    }
}

#[test]
fn an_erroring_forbid_never_turns_into_allow() {
    let e = overflow_engine();
    let mut v = base();
    v["facts"]["developer"]["penalty_points"] = json!(0);
    assert_eq!(e.decide_json(&v.to_string()).decision, Effect::Allow);

    v["facts"]["developer"]["penalty_points"] = json!(i64::MAX);
    let req: Request = serde_json::from_value(v).unwrap();
    for how in [
        Evaluation::Sliced,
        Evaluation::FullSet,
        Evaluation::FullSetAllEntities,
    ] {
        let d = e.decide_with(&req, how);
        assert_eq!(d.decision, Effect::Deny, "{how:?}: {d:#?}");
        let policies: Vec<&str> = d
            .errors
            .iter()
            .filter(|x| x.code == ErrorCode::EvaluationError)
            .filter_map(|x| x.policy.as_deref())
            .collect();
        // Both the exit rule and the notice fail; each is named.
        assert_eq!(
            policies,
            ["exit/扣分过多", "notice/扣分提醒"],
            "{how:?}: {:#?}",
            d.errors
        );
        assert!(
            d.errors[0].message.contains("overflow"),
            "{}",
            d.errors[0].message
        );
        // No field is allowed, even though the scope's permit holds.
        assert!(d.fields.iter().all(|f| f.decision == Effect::Deny));
    }
    // The sweep reports the failure rather than a clean bill of health.
    let facts = req
        .facts
        .as_ref()
        .and_then(|f| f.developer.clone())
        .unwrap();
    let s = e.sweep("bank-001", Some(&facts), Some("2026-06-01"));
    assert!(
        s.errors
            .iter()
            .any(|x| x.policy.as_deref() == Some("exit/扣分过多")),
        "{s:#?}"
    );
}

#[test]
fn a_tampered_bundle_json_does_not_load() {
    let dir = std::env::temp_dir().join(format!("charter-tamper-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (bundle, _) = Compiler::load_dir(&root().join("policies"))
        .unwrap()
        .build()
        .unwrap();
    let mut json: Json = serde_json::to_value(&bundle).unwrap();
    std::fs::write(dir.join("bundle.json"), json.to_string()).unwrap();
    assert!(Engine::load(&dir).is_ok());
    // Loosen a grade rule by hand: the hash no longer matches.
    json["policies"][20]["cedar"] = json!("permit (principal, action, resource);");
    std::fs::write(dir.join("bundle.json"), json.to_string()).unwrap();
    let err = Engine::load(&dir.join("bundle.json"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("hash"), "{err}");
    // A policy that does not type-check, with the hash recomputed: the validator refuses.
    let mut bad = bundle.clone();
    assert_eq!(charter_runtime::content_hash(&bad), bad.compute_hash());
    let admission = bad
        .policies
        .iter_mut()
        .find(|p| p.id == "admission/1")
        .unwrap();
    admission.cedar = admission.cedar.replace(
        "principal.compliance_pledged",
        "principal.compliance_pledged + 1",
    );
    bad.manifest.hash = bad.compute_hash();
    std::fs::write(
        dir.join("bundle.json"),
        serde_json::to_string(&bad).unwrap(),
    )
    .unwrap();
    let err = Engine::load(&dir.join("bundle.json"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("validation") && err.contains("admission/1"),
        "{err}"
    );
    std::fs::write(dir.join("bundle.json"), "{").unwrap();
    assert!(Engine::load(&dir.join("bundle.json")).is_err());
    std::fs::remove_dir_all(&dir).ok();
}
