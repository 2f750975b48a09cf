//! `charter decide` and `charter sweep` on the sample requests of `examples/requests/`:
//! the documented answers, exit codes, JSON and JSON-lines output.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value as Json;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn charter(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_charter"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn decide_gives_the_documented_answers() {
    // (file, exit code, what the human output must name)
    let cases: &[(&str, i32, &[&str])] = &[
        (
            "01_allow_scope",
            0,
            &[
                "允许 allow",
                "scenario/普惠金融/use/2",
                "第十二条",
                "inclusive_finance.charter:14:3",
            ],
        ),
        (
            "02_deny_grade",
            1,
            &["拒绝 deny", "grade/L4", "第十四条", "高敏感级数据"],
        ),
        (
            "03_deny_no_consent",
            1,
            &["拒绝 deny", "consent「", "第二十条"],
        ),
        (
            "04_deny_export_raw",
            1,
            &["forbid/原始数据不出域", "第四条"],
        ),
        (
            "05_deny_exit",
            1,
            &[
                "exit/违反协议约定",
                "第三十二条第三项",
                "terminate, revoke, delist, destroy",
            ],
        ),
        (
            "06_allow_notice",
            0,
            &["允许 allow", "notice/续期提醒", "第十一条"],
        ),
        (
            "07_deny_missing_fact",
            1,
            &[
                "missing_fact",
                "`has_security_system`",
                "admission/9",
                "第九条第四项",
            ],
        ),
        (
            "08_deny_field_outside_scope",
            1,
            &[
                "why not",
                "field outside the scope",
                "scenario/普惠金融/use/2",
            ],
        ),
    ];
    for (name, code, needles) in cases {
        let file = format!("examples/requests/{name}.json");
        let (status, out, err) = charter(&["decide", "--bundle", "policies", &file]);
        assert_eq!(status, *code, "{name}: {out}{err}");
        for n in *needles {
            assert!(out.contains(n), "{name}: `{n}` missing from\n{out}");
        }
        let (status, out, _) =
            charter(&["decide", "--bundle", "policies", "--format", "json", &file]);
        assert_eq!(status, *code);
        let d: Json = serde_json::from_str(&out).unwrap();
        assert_eq!(d["decision"], if *code == 0 { "allow" } else { "deny" });
        assert_eq!(d["bundle"]["name"], "zhenjiang");
    }
}

#[test]
fn decide_reads_json_lines_from_stdin() {
    let mut lines = String::new();
    for name in ["01_allow_scope", "05_deny_exit"] {
        let text =
            std::fs::read_to_string(root().join(format!("examples/requests/{name}.json"))).unwrap();
        let mut v: Json = serde_json::from_str(&text).unwrap();
        // Facts from the store this time.
        v.as_object_mut().unwrap().remove("facts");
        lines.push_str(&v.to_string());
        lines.push('\n');
    }
    lines.push_str("not json\n\n");
    let mut child = Command::new(env!("CARGO_BIN_EXE_charter"))
        .args([
            "decide",
            "--bundle",
            "policies",
            "--facts",
            "examples/requests/facts.json",
        ])
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(lines.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let answers: Vec<Json> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(answers.len(), 3);
    assert_eq!(answers[0]["decision"], "allow");
    assert_eq!(answers[1]["reasons"][0]["id"], "exit/违反协议约定");
    assert_eq!(answers[2]["decision"], "deny");
    assert_eq!(answers[2]["errors"][0]["code"], "invalid_request");
}

#[test]
fn decide_on_a_built_bundle_json() {
    let out = std::env::temp_dir().join(format!("charter-cli-dist-{}", std::process::id()));
    let (status, _, err) = charter(&["build", "policies", "--out", out.to_str().unwrap()]);
    assert_eq!(status, 0, "{err}");
    let bundle = out.join("bundle.json");
    let (status, text, _) = charter(&[
        "decide",
        "--bundle",
        bundle.to_str().unwrap(),
        "examples/requests/01_allow_scope.json",
    ]);
    assert_eq!(status, 0, "{text}");
    // The folder holding bundle.json works too.
    let (status, _, _) = charter(&[
        "decide",
        "--bundle",
        out.to_str().unwrap(),
        "examples/requests/02_deny_grade.json",
    ]);
    assert_eq!(status, 1);
    std::fs::remove_dir_all(&out).ok();
    let (status, _, err) = charter(&[
        "decide",
        "--bundle",
        "no/such/bundle.json",
        "examples/requests/01_allow_scope.json",
    ]);
    assert_eq!(status, 2, "{err}");
}

#[test]
fn sweep_reports_triggers_and_measures() {
    let (status, out, _) = charter(&[
        "sweep",
        "--bundle",
        "policies",
        "examples/requests/facts.json",
        "--at",
        "2026-06-01",
    ]);
    assert_eq!(status, 1, "{out}");
    for n in [
        "bank-001: 正常 clear",
        "bank-002: 触发 fired",
        "exit/违反协议约定",
        "第三十二条第三项",
        "终止协议",
        "notice/续期提醒",
        "suspend/安全隐患",
        "限期整改",
        "bank-004: 无法检查 error",
    ] {
        assert!(out.contains(n), "`{n}` missing from\n{out}");
    }
    let (_, out, _) = charter(&[
        "sweep",
        "--bundle",
        "policies",
        "examples/requests/facts.json",
        "--at",
        "2026-06-01",
        "--format",
        "json",
    ]);
    let reports: Json = serde_json::from_str(&out).unwrap();
    let bank2 = reports
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["developer"] == "bank-002")
        .unwrap();
    assert_eq!(
        bank2["measures"],
        serde_json::json!(["terminate", "revoke", "delist", "destroy"])
    );
}

#[test]
fn bench_runs_on_the_zhenjiang_bundle() {
    let (status, out, err) = charter(&[
        "bench",
        "--bundle",
        "policies",
        "--count",
        "50",
        "--seconds",
        "0.2",
        "--compare",
    ]);
    assert_eq!(status, 0, "{out}{err}");
    let last = out.lines().last().unwrap();
    assert!(last.starts_with("speedup_vs_full_cedar="), "{out}");
    assert!(out.contains("same answers 50/50"), "{out}");
}

/// `charter decide` reads a request as a JSON object only: the positional array form,
/// consent as an array and a fact written twice are invalid requests (deny, exit 1).
#[test]
fn decide_refuses_lenient_requests() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "positional",
            r#"["bank-001","privacy_compute","tax.enterprise_tax",[],"普惠金融"]"#,
            "expected a JSON object",
        ),
        (
            "consent",
            r#"{"developer":"bank-001","action":"privacy_compute","dataset":"tax.enterprise_tax","scenario":"普惠金融","consent":[true,"SQ-1"]}"#,
            "expected a JSON object",
        ),
        (
            "duplicate",
            r#"{"developer":"bank-001","action":"privacy_compute","dataset":"tax.enterprise_tax","scenario":"普惠金融","facts":{"developer":{"warnings":0,"warnings":1}}}"#,
            "duplicate fact `warnings`",
        ),
    ];
    for (name, text, needle) in cases {
        let file = dir.path().join(format!("{name}.json"));
        std::fs::write(&file, text).unwrap();
        let (status, out, err) = charter(&[
            "decide",
            "--bundle",
            "policies",
            "--format",
            "json",
            file.to_str().unwrap(),
        ]);
        assert_eq!(status, 1, "{name}: {err}");
        let d: Json = serde_json::from_str(&out).unwrap();
        assert_eq!(d["decision"], "deny", "{name}");
        assert_eq!(d["errors"][0]["code"], "invalid_request", "{name}");
        let m = d["errors"][0]["message"].as_str().unwrap();
        assert!(m.contains(needle), "{name}: {m}");
    }
}
