//! The compiler never panics and only ever answers with diagnostics: random,
//! truncated and spliced versions of the repository's policy files go through the
//! whole pipeline (parse, check, lower, Cedar validation).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use charter_compiler::Compiler;
use proptest::prelude::*;

const MANIFEST: &str = "[bundle]\nname = \"fuzz\"\nversion = \"0.1.0\"\n";

fn policy_files() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "charter") {
                out.push(p);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut paths = Vec::new();
    walk(&root.join("policies"), &mut paths);
    walk(&root.join("compiler/tests/corpus"), &mut paths);
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            (
                p.display().to_string(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect()
}

/// Runs the whole pipeline; a panic anywhere fails the test.
fn compile_all(files: Vec<(String, String)>) {
    let c = Compiler::from_sources(Some(MANIFEST), files);
    let diags = c.diagnostics();
    let sources = c.sources();
    for d in &diags {
        // Every span lies inside its file, on character boundaries.
        let text = &sources[d.file.index()].text;
        assert!(
            d.span.start <= d.span.end && d.span.end as usize <= text.len(),
            "{d:?}"
        );
        assert!(text.is_char_boundary(d.span.start as usize), "{d:?}");
        assert!(text.is_char_boundary(d.span.end as usize), "{d:?}");
        let _ = d.to_json(&sources);
        let _ = format!("{:?}", d.to_report(&sources));
    }
    let _ = c.build();
}

fn cut(s: &str, at: usize) -> usize {
    let mut at = at.min(s.len());
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn truncated_files_never_panic(which in any::<prop::sample::Index>(), at in any::<prop::sample::Index>()) {
        let files = policy_files();
        let (path, text) = which.get(&files).clone();
        let end = cut(&text, at.index(text.len() + 1));
        compile_all(vec![(path, text[..end].to_string())]);
    }

    #[test]
    fn spliced_files_never_panic(
        a in any::<prop::sample::Index>(),
        b in any::<prop::sample::Index>(),
        x in any::<prop::sample::Index>(),
        y in any::<prop::sample::Index>(),
        z in any::<prop::sample::Index>(),
    ) {
        let files = policy_files();
        let (pa, ta) = a.get(&files).clone();
        let (_, tb) = b.get(&files).clone();
        let i = cut(&ta, x.index(ta.len() + 1));
        let j = cut(&tb, y.index(tb.len() + 1));
        let k = cut(&tb, z.index(tb.len() + 1));
        let (j, k) = (j.min(k), j.max(k));
        let spliced = format!("{}{}{}", &ta[..i], &tb[j..k], &ta[i..]);
        let mut all = files.clone();
        all.retain(|(p, _)| *p != pa);
        all.push((pa, spliced));
        compile_all(all);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
        compile_all(vec![("a.charter".into(), text)]);
    }

    #[test]
    fn token_soup_never_panics(tokens in prop::collection::vec(prop::sample::select(vec![
        "grades", "grade", "allows", "classify", "field", "when", "then", "otherwise", "dataset",
        "scenario", "use", "via", "requires", "consent", "term", "..", "2026-01-01", "2026-02-30",
        "{", "}", "[", "]", "(", ")", ",", "\"标题\"", "\"", "金融", "developer.warnings", "now",
        "and", "or", "not", "==", "<=", "contains", "in", "90 days", "3年", "exit", "measures",
        "terminate", "\n", "///", "//", "export_raw", "*", "-", "+", "99999999999999999999",
    ]), 0..80)) {
        compile_all(vec![("a.charter".into(), tokens.join(" "))]);
    }
}

#[test]
fn whole_policies_bundle_builds() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies");
    let c = Compiler::load_dir(&root).unwrap();
    let d = c.diagnostics();
    assert!(d.is_empty(), "{d:#?}");
    c.build().unwrap();
}
