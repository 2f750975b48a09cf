//! Rendering diagnostics for people: any column renders (miette cannot pad past column
//! 65,535, so reports carry an excerpt of the line), and a report stays small.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use charter_compiler::format::format_source;
use charter_compiler::Compiler;

const MANIFEST: &str = "[bundle]\nname = \"render\"\nversion = \"0.1.0\"\n";

fn reports(c: &Compiler) -> Vec<String> {
    let sources = c.sources();
    c.diagnostics()
        .iter()
        .map(|d| format!("{:?}", d.to_report(&sources)))
        .collect()
}

#[test]
fn an_error_at_column_70001_renders_with_its_real_position() {
    let pad = " ".repeat(70_000);
    let c = Compiler::from_sources(
        Some(MANIFEST),
        [
            ("a_bad.charter".to_string(), format!("{pad}bogus here\n")),
            (
                "b_long.charter".to_string(),
                format!("domain 住房 \"住房\"\n{pad}domain 住房 \"又一个\"\n"),
            ),
        ],
    );
    let out = reports(&c);
    assert_eq!(out.len(), 2, "{out:#?}");
    assert!(out[0].contains("a_bad.charter:1:70001"), "{}", out[0]);
    assert!(out[0].contains("bogus"), "{}", out[0]);
    assert!(out[0].contains('…'), "{}", out[0]);
    assert!(out[1].contains("b_long.charter:2:70008"), "{}", out[1]);
    // The first declaration, a line up, is still labelled in the excerpt.
    assert!(out[1].contains("first declared here"), "{}", out[1]);
    for r in &out {
        assert!(
            r.len() < 4_000,
            "the report copies the line: {} bytes",
            r.len()
        );
    }
}

#[test]
fn a_related_place_far_away_is_named_in_the_help() {
    let mut text = String::from("domain 住房 \"住房\"\n");
    text.push_str(&"\n".repeat(1_000));
    text.push_str("domain 住房 \"又一个\"\n");
    let c = Compiler::from_sources(Some(MANIFEST), [("far.charter".to_string(), text)]);
    let out = reports(&c);
    assert_eq!(out.len(), 1, "{out:#?}");
    assert!(out[0].contains("far.charter:1002:8"), "{}", out[0]);
    assert!(
        out[0].contains("first declared here: far.charter:1:8"),
        "{}",
        out[0]
    );
}

#[test]
fn fmt_reports_a_syntax_error_at_any_column() {
    let text = format!("{}bogus\n", "\t".repeat(70_000));
    let err = format_source("wide.charter", &text).unwrap_err();
    let shown = format!("{:?}", miette::Report::new(err));
    assert!(shown.contains("wide.charter:1:70001"), "{shown}");
    assert!(shown.len() < 4_000, "{} bytes", shown.len());
}
