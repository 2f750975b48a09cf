//! End-to-end tests of what a policy repository's CI runs, through the built binary:
//! `charter test` (tree, JSON, JUnit, coverage, threshold, filter, exit codes) on
//! `policies/` and on broken copies of it, `charter check --format sarif|github`
//! (the SARIF validated against the official SARIF 2.1.0 schema), inline suppressions,
//! and `charter fmt --check|--diff`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn charter() -> Command {
    Command::new(env!("CARGO_BIN_EXE_charter"))
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn policies() -> PathBuf {
    root().join("policies")
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

fn policies_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&policies(), dir.path());
    dir
}

/// Replaces the first `from` in `file` of the copy; returns the 1-based line of the edit.
fn edit(dir: &Path, file: &str, from: &str, to: &str) -> usize {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let at = text
        .find(from)
        .unwrap_or_else(|| panic!("`{from}` not in {file}"));
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    text[..at].matches('\n').count() + 1
}

/// The 1-based line of the first `needle` in a file.
fn line_of(path: &Path, needle: &str) -> usize {
    let text = std::fs::read_to_string(path).unwrap();
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("`{needle}` not in {}", path.display()));
    text[..at].matches('\n').count() + 1
}

fn run(args: &[&str], dir: &Path) -> Output {
    charter().args(args).arg(dir).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json_report(dir: &Path, extra: &[&str]) -> (Output, Value) {
    let mut args = vec!["test", "--format", "json"];
    args.extend_from_slice(extra);
    let out = run(&args, dir);
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&out), stderr(&out)));
    (out, json)
}

// ------------------------------------------------------------------ charter test

#[test]
fn policies_pass_with_full_rule_coverage() {
    let out = run(&["test", "--coverage", "--threshold", "100"], &policies());
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert!(text.contains("(100.0%)"), "{text}");
    assert!(!text.contains('✗'), "{text}");
    let last = text.lines().last().unwrap();
    assert!(
        last.ends_with("passed, 0 failed"),
        "the closing line is `{last}`"
    );
    // Every exit item of Art. 32, the Art. 4 raw-data rule and the Art. 20 consent rule
    // are among the rules exercised.
    let (_, json) = json_report(&policies(), &["--coverage"]);
    let rules = json["coverage"]["rules"].as_array().unwrap();
    let covered = |id: &str| {
        rules
            .iter()
            .find(|r| r["id"] == id)
            .unwrap_or_else(|| panic!("no rule `{id}`"))["covered"]
            == true
    };
    for id in [
        "exit/协议期满",
        "exit/申请提前终止",
        "exit/违反协议约定",
        "exit/评估较差未改善",
        "exit/政策变化",
        "exit/其他违法违规",
        "forbid/原始数据不出域",
        "consent",
    ] {
        assert!(covered(id), "`{id}` is not exercised");
    }
    assert!(rules.iter().all(|r| r["covered"] == true));
    assert_eq!(json["coverage"]["percent"], 100.0);
}

#[test]
fn a_flipped_expectation_fails_naming_the_test_the_rule_and_its_line() {
    let dir = policies_copy();
    let line = edit(
        dir.path(),
        "tests/renewal_test.charter",
        "expect allow verify market.enterprise_registration",
        "expect deny verify market.enterprise_registration",
    );
    let out = run(&["test"], dir.path());
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}{}", stderr(&out));
    let rule_line = line_of(
        &policies().join("scenarios/inclusive_finance.charter"),
        "use market.enterprise_registration",
    );
    for needle in [
        "✗ 期满前3个月内提醒重新申请，且不影响授权".to_string(),
        format!("at tests/renewal_test.charter:{line}: expected deny, got allow"),
        "request:  `bank-001` asks verify market.enterprise_registration { credit_code } in 普惠金融 at 2026-06-01".to_string(),
        "decision: allow".to_string(),
        format!("scenario/普惠金融/use/1 (scope 「小微企业普惠金融信贷」 第十二条) at scenarios/inclusive_finance.charter:{rule_line}:3"),
        format!("{rule_line} │ use market.enterprise_registration {{"),
    ] {
        assert!(text.contains(&needle), "`{needle}` missing from:\n{text}");
    }
    assert!(text.trim_end().ends_with("1 failed"), "{text}");
}

#[test]
fn a_removed_scope_fails_naming_the_test_the_rule_and_its_line() {
    let dir = policies_copy();
    edit(
        dir.path(),
        "scenarios/tourism_flow.charter",
        "  use tourism.hotel_operation {\n    hotel_code, star_rating, report_month, rooms_total, rooms_occupied\n  } via statistics, export_result\n",
        "",
    );
    let out = run(&["test"], dir.path());
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}{}", stderr(&out));
    let test_line = line_of(
        &dir.path().join("tests/scenarios_test.charter"),
        "expect allow export_result tourism.hotel_operation",
    );
    let scenario_line = line_of(
        &policies().join("scenarios/tourism_flow.charter"),
        "scenario 文旅客流统计",
    );
    for needle in [
        "✗ 文旅客流统计：可导出饭店出租率统计".to_string(),
        format!("at tests/scenarios_test.charter:{test_line}: expected allow, got deny"),
        "场景「文旅客流统计」的授权范围不含数据集 `tourism.hotel_operation`".to_string(),
        format!("scenario/文旅客流统计 (scenario 「文旅客流与客源结构统计」 第十二条) at scenarios/tourism_flow.charter:{scenario_line}:1"),
        format!("{scenario_line} │ scenario 文旅客流统计"),
    ] {
        assert!(text.contains(&needle), "`{needle}` missing from:\n{text}");
    }
}

#[test]
fn a_failing_because_names_the_rule_that_did_decide() {
    let dir = policies_copy();
    edit(
        dir.path(),
        "tests/exit_test.charter",
        "by \"bank-001\" in 普惠金融 because 协议期满",
        "by \"bank-001\" in 普惠金融 because 安全隐患",
    );
    let out = run(&["test"], dir.path());
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("expected deny because of `安全隐患`, but it was decided by `exit/协议期满`"),
        "{text}"
    );
    assert!(
        text.contains("exit/协议期满 (exit 「授权协议期满」 第三十二条第一项) at exit.charter:"),
        "{text}"
    );
}

#[test]
fn json_and_junit_count_the_same_tests() {
    let dir = policies_copy();
    edit(
        dir.path(),
        "tests/renewal_test.charter",
        "expect allow verify market.enterprise_registration",
        "expect deny verify market.enterprise_registration",
    );
    let (out, json) = json_report(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(1));
    let total = json["total"].as_u64().unwrap() as usize;
    assert_eq!(json["failed"], 1);
    assert_eq!(json["passed"].as_u64().unwrap() as usize, total - 1);
    assert!(json.get("coverage").is_none());
    let failing: Vec<&Value> = json["files"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["tests"].as_array().unwrap())
        .filter(|t| t["passed"] == false)
        .collect();
    assert_eq!(failing.len(), 1);
    let failure = failing[0]["expectations"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|e| e.get("failure"))
        .unwrap();
    assert_eq!(failure["decision"]["decision"], "allow");
    assert_eq!(failure["request"]["developer"], "bank-001");
    assert_eq!(failure["decided_by"][0]["id"], "scenario/普惠金融/use/1");

    let out = run(&["test", "--format", "junit"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let xml = stdout(&out);
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    assert_eq!(root.attribute("tests"), Some(total.to_string().as_str()));
    assert_eq!(root.attribute("failures"), Some("1"));
    let cases: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), total);
    let failed: Vec<_> = cases
        .iter()
        .filter(|c| c.children().any(|n| n.has_tag_name("failure")))
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(
        failed[0].attribute("name"),
        Some("期满前3个月内提醒重新申请，且不影响授权")
    );
    assert_eq!(
        failed[0].attribute("classname"),
        Some("tests/renewal_test.charter")
    );
    let body = failed[0]
        .children()
        .find(|n| n.has_tag_name("failure"))
        .and_then(|n| n.text())
        .unwrap();
    assert!(body.contains("scenario/普惠金融/use/1"), "{body}");
    let suites: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    let per_suite: usize = suites
        .iter()
        .map(|s| s.attribute("tests").unwrap().parse::<usize>().unwrap())
        .sum();
    assert_eq!(per_suite, total);
}

#[test]
fn filter_runs_the_matching_tests_only() {
    let (out, json) = json_report(&policies(), &["--filter", "退出"]);
    assert_eq!(out.status.code(), Some(0));
    let names: Vec<&str> = json["files"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["tests"].as_array().unwrap())
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(!names.is_empty());
    assert!(names.iter().all(|n| n.contains("退出")), "{names:?}");
    assert!(json["filtered_out"].as_u64().unwrap() > 0);
    let out = run(
        &["test", "--filter", "没有这样的测试", "--fail-on-empty"],
        &policies(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no test matches the filter"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_bundle_without_tests_says_so() {
    let dir = policies_copy();
    std::fs::remove_dir_all(dir.path().join("tests")).unwrap();
    let out = run(&["test"], dir.path());
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("bundle `zhenjiang` has no tests"),
        "{}",
        stderr(&out)
    );
    let out = run(&["test", "--fail-on-empty"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("error: bundle `zhenjiang` has no tests"));
}

#[test]
fn coverage_below_the_threshold_fails() {
    let dir = policies_copy();
    std::fs::remove_file(dir.path().join("tests/renewal_test.charter")).unwrap();
    let out = run(&["test", "--coverage"], dir.path());
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("✗ notice/续期提醒 (notice) renewal.charter:5:1: not exercised by any test"),
        "{text}"
    );
    let out = run(&["test", "--threshold", "100"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("is below the threshold of 100%"),
        "{}",
        stderr(&out)
    );
    let out = run(&["test", "--threshold", "90"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = run(&["test", "--threshold", "120"], dir.path());
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_bundle_that_does_not_compile_is_a_usage_error() {
    let dir = policies_copy();
    edit(
        dir.path(),
        "exit.charter",
        "measures terminate",
        "measures terminat",
    );
    let out = run(&["test"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("does not compile"),
        "{}",
        stderr(&out)
    );
}

// ------------------------------------------------------------------ charter check

fn sarif_validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("tests/fixtures/sarif-schema-2.1.0.json")).unwrap(),
    )
    .unwrap();
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .should_validate_formats(true)
        .build(&schema)
        .unwrap()
}

fn assert_valid_sarif(log: &Value) {
    let validator = sarif_validator();
    let errors: Vec<String> = validator
        .iter_errors(log)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "invalid SARIF:\n{}", errors.join("\n"));
}

#[test]
fn sarif_validates_against_the_sarif_2_1_0_schema() {
    let dir = policies_copy();
    // An error with a related location in another file, a warning and a fix.
    edit(
        dir.path(),
        "exit.charter",
        "measures terminate",
        "measures terminat",
    );
    edit(
        dir.path(),
        "scenarios/bus_network.charter",
        "card_type, line_no, board_station, alight_station, board_time",
        "*",
    );
    std::fs::write(dir.path().join("dup.charter"), "action verify \"核验\"\n").unwrap();
    let out = run(&["check", "--format", "sarif"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let log: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_valid_sarif(&log);
    let run0 = &log["runs"][0];
    let rules = run0["tool"]["driver"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), charter_compiler::diagnostics::CODES.len());
    for (rule, info) in rules.iter().zip(charter_compiler::diagnostics::CODES) {
        assert_eq!(rule["id"], info.id);
    }
    let wildcard = rules.iter().find(|r| r["id"] == "CH0305").unwrap();
    assert_eq!(wildcard["name"], "wildcard-fields");
    assert_eq!(wildcard["properties"]["article"], "第十五条");
    assert!(wildcard["help"]["text"]
        .as_str()
        .unwrap()
        .contains("第十五条"));
    // The help links the code's section and carries its whole documentation, the
    // example as a plain code block.
    let help_uri = wildcard["helpUri"].as_str().unwrap();
    assert!(
        help_uri.ends_with("/docs/diagnostics.md#ch0305-wildcard-fields"),
        "{help_uri}"
    );
    let markdown = wildcard["help"]["markdown"].as_str().unwrap();
    assert!(markdown.contains("**修正。**"), "{markdown}");
    assert!(markdown.contains("```charter\nscenario"), "{markdown}");
    assert!(!markdown.contains("charter example"), "{markdown}");
    let results = run0["results"].as_array().unwrap();
    let r = results.iter().find(|r| r["ruleId"] == "CH0305").unwrap();
    assert_eq!(r["level"], "warning");
    let loc = &r["locations"][0]["physicalLocation"];
    let uri = loc["artifactLocation"]["uri"].as_str().unwrap();
    assert!(uri.ends_with("/scenarios/bus_network.charter"), "{uri}");
    assert_eq!(
        loc["region"]["startLine"],
        line_of(&dir.path().join("scenarios/bus_network.charter"), "*") as u64
    );
    assert!(results
        .iter()
        .any(|r| r["ruleId"] == "CH0101" && r["level"] == "error"));
    // A duplicate points at the first declaration, in another file, as a related location.
    let dup = results.iter().find(|r| r["ruleId"] == "CH0102").unwrap();
    let related = &dup["relatedLocations"][0];
    assert_eq!(related["message"]["text"], "first declared here", "{dup}");
    assert!(related["physicalLocation"]["artifactLocation"]["uri"]
        .as_str()
        .unwrap()
        .ends_with("prelude.charter"));

    // The clean bundle: a valid log with no result.
    let out = run(&["check", "--format", "sarif"], &policies());
    assert_eq!(out.status.code(), Some(0));
    let log: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_valid_sarif(&log);
    assert_eq!(log["runs"][0]["results"].as_array().unwrap().len(), 0);
}

#[test]
fn the_schema_check_catches_a_broken_log() {
    // The validator is not vacuous: a log without a version fails it.
    let mut log: Value =
        serde_json::from_slice(&run(&["check", "--format", "sarif"], &policies()).stdout).unwrap();
    log.as_object_mut().unwrap().remove("version");
    assert!(sarif_validator().iter_errors(&log).next().is_some());
}

#[test]
fn github_annotations_point_at_the_lines() {
    let dir = policies_copy();
    let line = edit(
        dir.path(),
        "exit.charter",
        "measures terminate",
        "measures terminat",
    );
    let out = charter()
        .current_dir(dir.path())
        .args(["check", ".", "--format", "github"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let l = text
        .lines()
        .find(|l| l.starts_with("::error file=exit.charter,"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(l.contains(&format!(",line={line},")), "{l}");
    assert!(l.contains(",title=CH0101 unknown-name::"), "{l}");
    assert!(l.contains("`terminat`"), "{l}");
    // Newlines inside the message are escaped: one command per line.
    assert!(l.contains("%0Ahelp: "), "{l}");
    assert!(text.lines().all(|l| l.starts_with("::")), "{text}");
}

#[test]
fn suppressions_need_a_reason_and_must_suppress_something() {
    let dir = policies_copy();
    edit(
        dir.path(),
        "scenarios/bus_network.charter",
        "vehicle_no, line_no, gps_time, longitude, latitude, speed",
        "*",
    );
    let check = |dir: &Path| {
        let out = run(&["check", "--format", "json", "--deny-warnings"], dir);
        let json: Value = serde_json::from_slice(&out.stdout).unwrap();
        let codes: Vec<String> = json["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["code"].as_str().unwrap().to_string())
            .collect();
        (out.status.code(), codes)
    };
    assert_eq!(check(dir.path()), (Some(1), vec!["CH0305".to_string()]));
    // With a reason, on the line before: clean.
    edit(
        dir.path(),
        "scenarios/bus_network.charter",
        "  use transport.bus_gps {",
        "  // charter-allow(wildcard-fields): 线网分析需要车辆定位的全部字段，已经数据安全评审\n  use transport.bus_gps {",
    );
    // The diagnostic is at `*`, one line below `use`: the suppression must be on the
    // line right before it, so this one suppresses nothing.
    let (code, codes) = check(dir.path());
    assert_eq!(code, Some(1));
    assert!(codes.contains(&"CH0313".to_string()), "{codes:?}");
    edit(
        dir.path(),
        "scenarios/bus_network.charter",
        "    *\n",
        "    * // charter-allow(CH0305): 已经数据安全评审\n",
    );
    edit(
        dir.path(),
        "scenarios/bus_network.charter",
        "  // charter-allow(wildcard-fields): 线网分析需要车辆定位的全部字段，已经数据安全评审\n",
        "",
    );
    assert_eq!(check(dir.path()), (Some(0), vec![]));
    // Without a reason: an error, and the warning is back.
    edit(
        dir.path(),
        "scenarios/bus_network.charter",
        "// charter-allow(CH0305): 已经数据安全评审",
        "// charter-allow(CH0305)",
    );
    let (code, codes) = check(dir.path());
    assert_eq!(code, Some(1));
    assert_eq!(codes, vec!["CH0305".to_string(), "CH0314".to_string()]);
}

// ------------------------------------------------------------------ charter fmt

#[test]
fn fmt_check_passes_on_the_repository() {
    // Every .charter file of the repository but the error corpus, whose cases are
    // malformed on purpose.
    let out = charter()
        .current_dir(root())
        .args([
            "fmt",
            "--check",
            "policies",
            "compiler/src/prelude",
            "compiler/tests/corpus/ok",
            "compiler/tests/corpus/header.charter",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stdout(&out).is_empty());
}

#[test]
fn fmt_check_and_diff_list_what_would_change_and_fmt_fixes_it() {
    let dir = policies_copy();
    edit(
        dir.path(),
        "exit.charter",
        "  when     developer.termination_requested",
        "when developer.termination_requested   ",
    );
    edit(
        dir.path(),
        "tests/grades_test.charter",
        "{ credit_code, total_tax_amount }",
        "{credit_code,total_tax_amount}",
    );
    let before = std::fs::read_to_string(dir.path().join("exit.charter")).unwrap();
    let out = run(&["fmt", "--check"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let listed: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(listed[0].ends_with("exit.charter"), "{listed:?}");
    assert!(listed[1].ends_with("grades_test.charter"), "{listed:?}");
    // --check changes nothing.
    assert_eq!(
        std::fs::read_to_string(dir.path().join("exit.charter")).unwrap(),
        before
    );

    let out = run(&["fmt", "--diff"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let diff = stdout(&out);
    assert!(
        diff.contains("-when developer.termination_requested"),
        "{diff}"
    );
    assert!(
        diff.contains("+  when     developer.termination_requested"),
        "{diff}"
    );
    assert!(
        diff.contains(
            "+  expect deny export_raw tax.enterprise_tax { credit_code, total_tax_amount }"
        ),
        "{diff}"
    );

    let out = run(&["fmt"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for f in ["exit.charter", "tests/grades_test.charter"] {
        assert_eq!(
            std::fs::read_to_string(dir.path().join(f)).unwrap(),
            std::fs::read_to_string(policies().join(f)).unwrap(),
            "{f}"
        );
    }
    assert_eq!(run(&["fmt", "--check"], dir.path()).status.code(), Some(0));
}

#[test]
fn fmt_leaves_a_file_with_syntax_errors_alone() {
    let dir = policies_copy();
    edit(
        dir.path(),
        "exit.charter",
        "measures terminate, revoke",
        "measures terminate,, revoke",
    );
    let path = dir.path().join("exit.charter");
    let broken = std::fs::read_to_string(&path).unwrap();
    let out = run(&["fmt"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("syntax error(s)"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), broken);
}

/// A bundle that does not compile still gives a JUnit reporter a document: each compile
/// error is an errored test case at its file and line (issue 15), not an empty file.
#[test]
fn junit_on_a_bundle_that_does_not_compile_lists_the_errors() {
    let dir = policies_copy();
    let changed = edit(
        dir.path(),
        "scenarios/bus_network.charter",
        "domain  交通",
        "domain  没有这个领域",
    );
    assert!(changed > 0);
    let out = run(&["test", "--format", "junit"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    let xml = stdout(&out);
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let errored: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .filter(|c| c.children().any(|n| n.has_tag_name("error")))
        .collect();
    assert!(!errored.is_empty(), "{xml}");
    assert_eq!(
        root.attribute("errors"),
        Some(errored.len().to_string().as_str())
    );
    assert_eq!(
        errored[0].attribute("classname"),
        Some("scenarios/bus_network.charter")
    );
    let error = errored[0]
        .children()
        .find(|n| n.has_tag_name("error"))
        .unwrap();
    assert!(error.attribute("type").unwrap().starts_with("CH"), "{xml}");
}
