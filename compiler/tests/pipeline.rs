//! The pipeline as a whole: positions under Chinese text, incrementality through
//! salsa's execution log, and Cedar's strict validator on synthetic bundles.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use charter_compiler::synth::{generate, SynthOptions};
use charter_compiler::{CharterDatabase, Code, Compiler};

const MANIFEST: &str = "[bundle]\nname = \"t\"\nversion = \"0.1.0\"\n";

#[test]
fn columns_count_characters_after_chinese_and_emoji() {
    // `金蓉` (a typo for 金融) comes after Chinese text and an emoji on its line.
    let text = "/// 说明😀\nscenario 普惠 \"普惠金融😀\" { domain 金蓉 purpose \"p\" term 2026-01-01 .. 2026-12-31 use x { a } via verify }\n";
    let c = Compiler::from_sources(
        Some(MANIFEST),
        [("a.charter".to_string(), text.to_string())],
    );
    let diags = c.diagnostics();
    let d = diags
        .iter()
        .find(|d| d.message == "unknown domain `金蓉`")
        .unwrap();
    let j = d.to_json(&c.sources());
    assert_eq!((j.line, j.column, j.end_column), (2, 30, 32));
    let start = text.find("金蓉").unwrap() as u32;
    assert_eq!(j.byte_range, [start, start + "金蓉".len() as u32]);
    assert_eq!(j.help.as_deref(), Some("did you mean `金融`?"));
}

fn synthetic(scenarios: usize) -> Vec<(String, String)> {
    let opts = SynthOptions {
        scenarios,
        ..SynthOptions::default()
    };
    let files = generate(&opts);
    files
        .into_iter()
        .filter(|f| f.path.ends_with(".charter"))
        .map(|f| (f.path, f.text))
        .collect()
}

#[test]
fn synthetic_bundles_check_clean_and_pass_the_strict_validator() {
    for n in [5, 120] {
        let c = Compiler::from_sources(Some(MANIFEST), synthetic(n));
        let d = c.diagnostics();
        assert!(d.is_empty(), "{n} scenarios: {d:#?}");
        let (bundle, _) = c.build().unwrap();
        assert_eq!(bundle.catalog.scenarios.len(), n);
    }
}

#[test]
fn an_edit_inside_a_scenario_reruns_only_that_file() {
    let files = synthetic(200);
    let scenario_files: Vec<String> = files
        .iter()
        .filter(|(p, _)| p.starts_with("scenarios/"))
        .map(|(p, _)| p.clone())
        .collect();
    assert!(scenario_files.len() >= 3);
    let mut c = Compiler::with_db(
        CharterDatabase::with_execution_log(),
        Some(MANIFEST),
        files.clone(),
    );
    assert!(c.diagnostics().is_empty());
    c.db().take_execution_log();

    // A one-character edit inside a purpose string of one scenario file.
    let target = &scenario_files[1];
    let text = &files.iter().find(|(p, _)| p == target).unwrap().1;
    let pos = text.find("purpose \"").unwrap() + "purpose \"".len();
    let edited = format!("{}改{}", &text[..pos], &text[pos..]);
    c.set_file(target, edited);
    assert!(c.diagnostics().is_empty());
    let log = c.db().take_execution_log();
    let ran = |q: &str| log.iter().filter(|l| l.starts_with(q)).count();
    assert_eq!(ran("parse_file"), 1, "{log:#?}");
    assert_eq!(ran("file_decls"), 1, "{log:#?}");
    assert_eq!(ran("file_diagnostics"), 1, "{log:#?}");
    assert_eq!(ran("bundle_model"), 0, "{log:#?}");

    // An edit that changes a declaration other files depend on re-runs the model and
    // the checks of the files that use it, and reports what broke.
    let catalog: Vec<&(String, String)> = files
        .iter()
        .filter(|(p, _)| p.starts_with("catalog/"))
        .collect();
    let (cpath, ctext) = catalog[0];
    let first_dataset = ctext.lines().find(|l| l.starts_with("dataset ")).unwrap();
    let name = first_dataset.split_whitespace().nth(1).unwrap();
    let renamed = ctext.replacen(
        &format!("dataset {name} "),
        &format!("dataset {name}_x "),
        1,
    );
    c.set_file(cpath, renamed);
    let diags = c.diagnostics();
    let log = c.db().take_execution_log();
    assert!(
        log.iter().any(|l| l.starts_with("bundle_model")),
        "{log:#?}"
    );
    let used = files
        .iter()
        .any(|(p, t)| p.starts_with("scenarios/") && t.contains(&format!("use {name} ")));
    if used {
        assert!(diags
            .iter()
            .any(|d| d.code == Code::UnknownName && d.message.contains(name)));
    }
}

#[test]
fn removing_and_adding_files_updates_the_bundle() {
    let mut c = Compiler::from_sources(
        Some(MANIFEST),
        [
            (
                "a.charter".to_string(),
                "action audit \"审计\"\n".to_string(),
            ),
            (
                "b.charter".to_string(),
                "action audit \"再审计\"\n".to_string(),
            ),
        ],
    );
    assert_eq!(
        c.diagnostics()
            .iter()
            .filter(|d| d.code == Code::Duplicate)
            .count(),
        1
    );
    c.remove_file("b.charter");
    assert!(c.diagnostics().is_empty());
    c.set_file("c.charter", "action audit \"三审\"\n".to_string());
    assert_eq!(
        c.diagnostics()
            .iter()
            .filter(|d| d.code == Code::Duplicate)
            .count(),
        1
    );
}

#[test]
fn a_grade_without_a_rule_is_forbidden_at_run_time_even_with_lints_off() {
    let manifest = format!("{MANIFEST}[lints]\nCH0303 = \"off\"\nCH0312 = \"off\"\n");
    let text = r#"
grades { L1 "公开" L2 "内部" }
grade L1 allows verify
classify field { when tags contains "内部" then L2 otherwise L1 }
dataset d.x "x" { source "s" domain 金融 field a "a" tags "内部" }
scenario 甲 "甲" { domain 金融 purpose "p" term 2026-01-01 .. 2026-12-31 use d.x { a } via verify, statistics }
"#;
    let c = Compiler::from_sources(
        Some(&manifest),
        [("a.charter".to_string(), text.to_string())],
    );
    let (bundle, diags) = c.build().unwrap();
    assert!(diags.is_empty(), "{diags:#?}");
    let p = bundle.policies.iter().find(|p| p.id == "grade/L2").unwrap();
    assert!(
        p.cedar
            .contains("forbid (principal, action, resource)\nwhen { resource.grade == 2 };"),
        "{}",
        p.cedar
    );
}
