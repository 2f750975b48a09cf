//! End-to-end tests of `charter diff` through the built binary, on pairs of bundles made
//! by copying `policies/` and editing one file: each known difference is reported
//! exactly (fields, actions, dates, the fact example), identical bundles report none,
//! and a git revision reads like a folder.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

fn charter() -> Command {
    Command::new(env!("CARGO_BIN_EXE_charter"))
}

fn policies() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// A copy of `policies/` with `from` replaced by `to` in `file` (once).
fn edited(file: &str, from: &str, to: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&policies(), dir.path());
    edit(dir.path(), file, from, to);
    dir
}

fn edit(dir: &Path, file: &str, from: &str, to: &str) {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "`{from}` not in {file}");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

fn run(args: &[&str]) -> Output {
    charter().args(args).output().unwrap()
}

/// `charter diff --format json policies HEAD`: the exit code and the report.
fn diff_json(head: &Path) -> (i32, Value) {
    let out = run(&[
        "diff",
        "--format",
        "json",
        policies().to_str().unwrap(),
        head.to_str().unwrap(),
    ]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&out.stderr));
    });
    assert!(
        report["coverage"]["errors"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "{}",
        report["coverage"]
    );
    assert!(
        report["coverage"]["blocking"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "the fact row must pass every condition: {}",
        report["coverage"]
    );
    (out.status.code().unwrap(), report)
}

#[test]
fn identical_bundles_have_no_impact() {
    let p = policies();
    let out = run(&["diff", p.to_str().unwrap(), p.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("no decision changes"));
    let copy = edited("exit.charter", "", "");
    let (code, r) = diff_json(copy.path());
    assert_eq!(code, 0);
    assert_eq!(r["impact"], false);
    for k in ["decisions", "terms", "conditions", "fields"] {
        assert_eq!(r[k], json!([]), "{k}");
    }
    assert_eq!(
        r["rules"],
        json!({"added": [], "removed": [], "changed": []})
    );
}

#[test]
fn a_narrowed_scope_loses_the_field_for_its_actions() {
    let head = edited(
        "scenarios/inclusive_finance.charter",
        "credit_code, tax_period, sales_revenue, total_tax_amount",
        "credit_code, tax_period, sales_revenue",
    );
    let (code, r) = diff_json(head.path());
    assert_eq!(code, 1);
    assert_eq!(r["impact"], true);
    let changed = &r["rules"]["changed"];
    assert_eq!(changed.as_array().unwrap().len(), 1);
    assert_eq!(changed[0]["rule"]["id"], "scenario/普惠金融/use/2");
    assert_eq!(
        changed[0]["rule"]["source"],
        "scenarios/inclusive_finance.charter:14"
    );
    assert!(changed[0]["changed"]
        .as_array()
        .unwrap()
        .contains(&json!("fields")));
    // The scope needs consent, so only requests with consent were allowed the field.
    assert_eq!(
        r["decisions"],
        json!([
            {"scenario": "普惠金融", "dataset": "tax.enterprise_tax", "action": "privacy_compute",
             "consent": true, "day": "2026-01-01", "gained": [], "lost": ["total_tax_amount"]},
            {"scenario": "普惠金融", "dataset": "tax.enterprise_tax", "action": "statistics",
             "consent": true, "day": "2026-01-01", "gained": [], "lost": ["total_tax_amount"]},
        ])
    );
    assert_eq!(r["conditions"], json!([]));
}

#[test]
fn a_field_moved_from_l2_to_l3_loses_the_actions_l3_does_not_allow() {
    let head = edited(
        "grades.charter",
        "  when tags contains \"个人信息\" then L3",
        "  when name in [\"visitor_origin\"] then L3\n  when tags contains \"个人信息\" then L3",
    );
    // The scope now grants an action the grade forbids: a warning here, so the
    // bundle builds and the review shows what the forbid takes away.
    edit(
        head.path(),
        "charter.toml",
        "[lints]",
        "[lints]\nCH0303 = \"warning\"",
    );
    let (code, r) = diff_json(head.path());
    assert_eq!(code, 1);
    assert_eq!(
        r["fields"],
        json!([{"dataset": "tourism.scenic_visitors", "field": "visitor_origin", "base": "L2", "head": "L3"}])
    );
    let d = r["decisions"].as_array().unwrap();
    assert_eq!(d.len(), 2, "{d:?}");
    for (row, consent) in d.iter().zip([false, true]) {
        assert_eq!(row["scenario"], "文旅客流统计");
        assert_eq!(row["dataset"], "tourism.scenic_visitors");
        assert_eq!(row["action"], "export_result");
        assert_eq!(row["consent"], consent);
        assert_eq!(row["lost"], json!(["visitor_origin"]));
        assert_eq!(row["gained"], json!([]));
    }
    let text = String::from_utf8_lossy(
        &run(&[
            "diff",
            policies().to_str().unwrap(),
            head.path().to_str().unwrap(),
        ])
        .stdout,
    )
    .to_string();
    assert!(
        text.contains("tourism.scenic_visitors.visitor_origin: L2 → L3"),
        "{text}"
    );
}

#[test]
fn a_shortened_term_reports_the_days_it_no_longer_covers() {
    let head = edited(
        "scenarios/inclusive_finance.charter",
        "term    2026-01-01 .. 2028-12-31",
        "term    2026-01-01 .. 2027-06-30",
    );
    let (code, r) = diff_json(head.path());
    assert_eq!(code, 1);
    assert_eq!(r["decisions"], json!([]));
    let terms = r["terms"].as_array().unwrap();
    assert_eq!(terms.len(), 1);
    let t = &terms[0];
    assert_eq!(t["scenario"], "普惠金融");
    assert_eq!(t["base"], "2026-01-01 .. 2028-12-31");
    assert_eq!(t["head"], "2026-01-01 .. 2027-06-30");
    let ranges = t["ranges"].as_array().unwrap();
    assert_eq!(ranges.len(), 1);
    assert_eq!(ranges[0]["from"], "2027-07-01");
    assert_eq!(ranges[0]["to"], "2028-12-31");
    assert_eq!(ranges[0]["in_force"], "base");
    // What BASE allowed on those days, and HEAD no longer does: verify on the
    // registration without consent, among others.
    let allowed = ranges[0]["allowed"].as_array().unwrap();
    assert!(allowed
        .iter()
        .any(|a| a["dataset"] == "market.enterprise_registration"
            && a["action"] == "verify"
            && a["consent"] == false
            && a["fields"]
                .as_array()
                .unwrap()
                .contains(&json!("credit_code"))));
    assert!(!allowed
        .iter()
        .any(|a| a["dataset"] == "tax.enterprise_tax" && a["consent"] == false));
}

#[test]
fn a_raised_exit_threshold_fires_for_a_score_between_them() {
    let head = edited(
        "exit.charter",
        "developer.evaluation_score < 60",
        "developer.evaluation_score < 70",
    );
    let (code, r) = diff_json(head.path());
    assert_eq!(code, 1);
    assert_eq!(
        r["decisions"],
        json!([]),
        "the fact row passes both versions"
    );
    let c = r["conditions"].as_array().unwrap();
    assert_eq!(c.len(), 1, "{c:?}");
    let c = &c[0];
    assert_eq!(c["rule"]["id"], "exit/评估较差未改善");
    assert_eq!(c["rule"]["source"], "exit.charter:24");
    assert_eq!(
        c["example"],
        json!({"evaluation_score": 60, "warnings": 1, "improved_after_warning": false})
    );
    assert_eq!(c["head_fires"], true);
    assert_eq!(c["base_fires"], false);
    // Sampled around 60 and 70 (59, 60, 61, 69, 70, 71): 60, 61 and 69 differ, with
    // warnings and no improvement.
    assert_eq!(c["differing"], 3);
    let sampled = &r["coverage"]["sampled_values"]["evaluation_score"];
    assert_eq!(sampled, &json!([59, 60, 61, 69, 70, 71]));
}

#[test]
fn a_new_scenario_gains_its_scopes() {
    let head = edited(
        "scenarios/bus_network.charter",
        "scenario 公交线网优化",
        "scenario 公交客流预测 \"公交客流预测\" article \"第十二条\" {\n  domain  交通\n  purpose \"预测客流\"\n  term    2027-01-01 .. 2027-12-31\n\n  use transport.bus_gps {\n    line_no, speed\n  } via statistics\n}\n\nscenario 公交线网优化",
    );
    let (code, r) = diff_json(head.path());
    assert_eq!(code, 1, "{r}");
    assert_eq!(
        r["scenarios"],
        json!({"added": ["公交客流预测"], "removed": []})
    );
    assert_eq!(
        r["decisions"],
        json!([
            {"scenario": "公交客流预测", "dataset": "transport.bus_gps", "action": "statistics",
             "consent": false, "day": "2027-01-01", "gained": ["line_no", "speed"], "lost": []},
            {"scenario": "公交客流预测", "dataset": "transport.bus_gps", "action": "statistics",
             "consent": true, "day": "2027-01-01", "gained": ["line_no", "speed"], "lost": []},
        ])
    );
    let added: Vec<&str> = r["rules"]["added"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(added, ["scenario/公交客流预测/use/1"]);
}

#[test]
fn a_consent_requirement_denies_requests_without_consent() {
    let head = edited(
        "scenarios/inclusive_finance.charter",
        "credit_code, rating_year, credit_level\n  } via verify, privacy_compute",
        "credit_code, rating_year, credit_level\n  } via verify, privacy_compute requires consent",
    );
    let (code, r) = diff_json(head.path());
    assert_eq!(code, 1);
    let lost = json!(["credit_code", "credit_level", "rating_year"]);
    assert_eq!(
        r["decisions"],
        json!([
            {"scenario": "普惠金融", "dataset": "tax.credit_rating", "action": "privacy_compute",
             "consent": false, "day": "2026-01-01", "gained": [], "lost": lost},
            {"scenario": "普惠金融", "dataset": "tax.credit_rating", "action": "verify",
             "consent": false, "day": "2026-01-01", "gained": [], "lost": lost},
        ])
    );
    assert!(r["rules"]["changed"][0]["changed"]
        .as_array()
        .unwrap()
        .contains(&json!("requires_consent")));
}

#[test]
fn markdown_has_a_summary_table_and_folded_details() {
    let head = edited(
        "exit.charter",
        "evaluation_score < 60",
        "evaluation_score < 70",
    );
    let out = run(&[
        "diff",
        "--format",
        "markdown",
        policies().to_str().unwrap(),
        head.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let md = String::from_utf8(out.stdout).unwrap();
    let table = md.find("| developer conditions changed | 1 |").expect(&md);
    let details = md
        .find("<details><summary>Developer conditions")
        .expect(&md);
    assert!(table < details, "{md}");
    assert!(
        md.contains("`evaluation_score = 60, improved_after_warning = false, warnings = 1`"),
        "{md}"
    );
}

#[test]
fn require_version_bump_fails_only_when_decisions_change_and_the_version_does_not() {
    let head = edited(
        "exit.charter",
        "evaluation_score < 60",
        "evaluation_score < 70",
    );
    let p = policies();
    let args = |h: &Path| {
        run(&[
            "diff",
            "--require-version-bump",
            p.to_str().unwrap(),
            h.to_str().unwrap(),
        ])
    };
    let out = args(head.path());
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the version is still `0.1.0`"), "{err}");
    edit(
        head.path(),
        "charter.toml",
        "version = \"0.1.0\"",
        "version = \"0.2.0\"",
    );
    let out = args(head.path());
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // No impact, no bump: nothing to require.
    assert_eq!(args(&p).status.code(), Some(0));
}

#[test]
fn errors_exit_2_with_the_diagnostics() {
    let broken = edited(
        "exit.charter",
        "developer.evaluation_score < 60",
        "developer.evaluation_scor < 60",
    );
    let p = policies();
    let out = run(&["diff", p.to_str().unwrap(), broken.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not compile"), "{err}");
    assert!(err.contains("exit.charter:25: error[CH0101]"), "{err}");
    let out = run(&["diff", p.to_str().unwrap(), "/nonexistent/policies"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_git_revision_reads_like_a_folder() {
    let repo = tempfile::tempdir().unwrap();
    copy_dir(&policies(), &repo.path().join("policies"));
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
            .args(args)
            .current_dir(repo.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "base"]);
    edit(
        &repo.path().join("policies"),
        "exit.charter",
        "evaluation_score < 60",
        "evaluation_score < 70",
    );
    let out = charter()
        .args(["diff", "--format", "json", "HEAD:policies", "policies"])
        .current_dir(repo.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["base"]["spec"], "HEAD:policies");
    assert_eq!(r["conditions"][0]["rule"]["id"], "exit/评估较差未改善");
    // The committed tree against itself: no impact.
    let out = charter()
        .args(["diff", "HEAD:policies", "HEAD:policies"])
        .current_dir(repo.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = charter()
        .args(["diff", "nope:policies", "policies"])
        .current_dir(repo.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
