//! The sample requests of `examples/requests/` against the Zhenjiang bundle in
//! `policies/`: each gives its documented answer, naming rule and article.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use charter_runtime::{Decision, Effect, Engine, ErrorCode, WhyNotCode};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::load(&root().join("policies")).expect("the Zhenjiang bundle loads"))
}

fn decide(name: &str) -> Decision {
    let text = std::fs::read_to_string(root().join("examples/requests").join(name)).unwrap();
    engine().decide_json(&text)
}

/// The ids and articles of a decision's reasons.
fn reasons(d: &Decision) -> Vec<(String, Option<String>)> {
    d.reasons
        .iter()
        .map(|r| (r.id.to_string(), r.article.as_deref().map(str::to_string)))
        .collect()
}

fn r(id: &str, article: &str) -> (String, Option<String>) {
    (id.to_string(), Some(article.to_string()))
}

#[test]
fn allowed_through_a_scope() {
    let d = decide("01_allow_scope.json");
    assert_eq!(d.decision, Effect::Allow, "{d:#?}");
    assert_eq!(reasons(&d), vec![r("scenario/普惠金融/use/2", "第十二条")]);
    assert!(d.fields.iter().all(|f| f.decision == Effect::Allow));
    assert_eq!(d.fields[1].grade.as_deref(), Some("L3"));
    assert_eq!(
        d.reasons[0].source,
        "scenarios/inclusive_finance.charter:14:3"
    );
    assert_eq!(d.consent_reference.as_deref(), Some("SQ-2026-000101"));
    assert!(d.errors.is_empty() && d.notices.is_empty());
}

#[test]
fn denied_by_grade() {
    let d = decide("02_deny_grade.json");
    assert_eq!(d.decision, Effect::Deny);
    assert_eq!(reasons(&d), vec![r("grade/L4", "第十四条")]);
    let title = d.reasons[0].title.as_deref().unwrap_or("");
    assert!(title.starts_with("高敏感级数据仅可用于"), "{title}");
}

#[test]
fn denied_without_consent() {
    let d = decide("03_deny_no_consent.json");
    assert_eq!(d.decision, Effect::Deny);
    assert_eq!(reasons(&d), vec![r("consent", "第二十条")]);
}

#[test]
fn export_raw_never_leaves_the_domain() {
    let d = decide("04_deny_export_raw.json");
    assert_eq!(d.decision, Effect::Deny);
    assert_eq!(reasons(&d)[0], r("forbid/原始数据不出域", "第四条"));
    assert_eq!(d.reasons[0].source, "<prelude>/prelude.charter:99:1");
}

#[test]
fn denied_by_an_exit_trigger_with_its_measures() {
    let d = decide("05_deny_exit.json");
    assert_eq!(d.decision, Effect::Deny);
    assert_eq!(
        reasons(&d),
        vec![r("exit/违反协议约定", "第三十二条第三项")]
    );
    assert_eq!(
        &d.reasons[0].measures[..],
        ["terminate", "revoke", "delist", "destroy"]
    );
    assert!(d
        .fields
        .iter()
        .all(|f| f.decision == Effect::Deny && f.reasons.len() == 1));
}

#[test]
fn allowed_with_a_reapply_notice_near_expiry() {
    let d = decide("06_allow_notice.json");
    assert_eq!(d.decision, Effect::Allow);
    assert_eq!(reasons(&d), vec![r("scenario/普惠金融/use/1", "第十二条")]);
    let notices: Vec<_> = d
        .notices
        .iter()
        .map(|n| (n.id.to_string(), n.article.as_deref().map(str::to_string)))
        .collect();
    assert_eq!(notices, vec![r("notice/续期提醒", "第十一条")]);
}

#[test]
fn denied_with_an_error_for_a_missing_fact() {
    let d = decide("07_deny_missing_fact.json");
    assert_eq!(d.decision, Effect::Deny);
    assert_eq!(d.errors.len(), 1);
    let e = &d.errors[0];
    assert_eq!(e.code, ErrorCode::MissingFact);
    assert!(e.message.contains("`has_security_system`"), "{}", e.message);
    // The rule that reads the fact, and its article, are named.
    assert_eq!(e.policy.as_deref(), Some("admission/9"));
    assert!(e.message.contains("第九条第四项"), "{}", e.message);
    assert!(d.fields.iter().all(|f| f.decision == Effect::Deny));
}

#[test]
fn field_outside_the_scope_is_explained() {
    let d = decide("08_deny_field_outside_scope.json");
    assert_eq!(d.decision, Effect::Deny);
    assert!(d.reasons.is_empty());
    let w: Vec<_> = d.why_not().collect();
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].code, WhyNotCode::FieldOutsideScope);
    assert_eq!(w[0].policy.as_deref(), Some("scenario/普惠金融/use/2"));
    assert_eq!(w[0].article.as_deref(), Some("第十二条"));
}

#[test]
fn the_fact_store_answers_requests_without_facts() {
    let e = Engine::load(&root().join("policies")).unwrap();
    e.facts()
        .load_file(&root().join("examples/requests/facts.json"))
        .unwrap();
    let mut req: charter_runtime::Request = serde_json::from_str(
        &std::fs::read_to_string(root().join("examples/requests/01_allow_scope.json")).unwrap(),
    )
    .unwrap();
    req.facts = None;
    assert_eq!(e.decide(&req).decision, Effect::Allow);
    req.developer = "bank-002".into();
    let d = e.decide(&req);
    assert_eq!(
        reasons(&d),
        vec![r("exit/违反协议约定", "第三十二条第三项")]
    );
}

#[test]
fn sweep_reports_triggers_measures_and_notices() {
    let e = engine();
    let all =
        charter_runtime::read_facts_file(&root().join("examples/requests/facts.json")).unwrap();
    let at = Some("2026-06-01");
    let clear = e.sweep("bank-001", all.get("bank-001"), at);
    assert!(clear.triggers.is_empty() && clear.errors.is_empty() && clear.notices.is_empty());
    let exit = e.sweep("bank-002", all.get("bank-002"), at);
    assert_eq!(
        exit.triggers
            .iter()
            .map(|t| t.id.as_str())
            .collect::<Vec<_>>(),
        ["exit/违反协议约定"]
    );
    assert_eq!(exit.measures, ["terminate", "revoke", "delist", "destroy"]);
    let notice = e.sweep("bank-003", all.get("bank-003"), at);
    assert!(notice.triggers.is_empty());
    assert_eq!(notice.notices[0].article.as_deref(), Some("第十一条"));
    let suspended = e.sweep("insurer-001", all.get("insurer-001"), at);
    assert_eq!(suspended.triggers[0].id, "suspend/安全隐患");
    assert_eq!(suspended.measures, ["suspend", "rectify"]);
    let broken = e.sweep("bank-004", all.get("bank-004"), at);
    assert_eq!(broken.errors[0].code, ErrorCode::MissingFact);
    // After expiry, the exit trigger fires.
    let expired = e.sweep("bank-003", all.get("bank-003"), Some("2026-08-15"));
    assert_eq!(expired.triggers[0].id, "exit/协议期满");
}
