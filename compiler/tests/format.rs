//! The formatter's guarantees: it is idempotent, it keeps every token and comment, it
//! never changes what a bundle compiles to, and it refuses files with syntax errors. Shown
//! on every `.charter` file of the repository, on synthetic bundles, and on random
//! re-spacings of them (proptest).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use charter_compiler::format::{comments, format_source, significant_tokens, token_ranges};
use charter_compiler::synth::{generate, SynthOptions};
use charter_compiler::{CompiledBundle, Compiler};
use proptest::prelude::*;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn charter_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().unwrap().to_string_lossy();
        if name.starts_with('.') || name == "target" || name == "node_modules" {
            continue;
        }
        if p.is_dir() {
            charter_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "charter") {
            out.push(p);
        }
    }
}

/// Every `.charter` file of the repository with its text.
fn repository_files() -> Vec<(PathBuf, String)> {
    let mut paths = Vec::new();
    charter_files(&repo(), &mut paths);
    assert!(paths.len() > 30, "found only {} files", paths.len());
    paths
        .into_iter()
        .map(|p| {
            let t = std::fs::read_to_string(&p).unwrap();
            (p, t)
        })
        .collect()
}

/// Errors the formatter refuses to format around: text that does not parse, and
/// nesting past the limit (CH0004), which is refused before parsing.
fn has_syntax_errors(text: &str) -> bool {
    use charter_compiler::syntax::SyntaxErrorKind;
    charter_compiler::syntax::parse(text)
        .errors
        .iter()
        .any(|e| matches!(e.kind, SyntaxErrorKind::Syntax | SyntaxErrorKind::TooDeep))
}

/// The properties every formatted text has.
fn check_formatted(name: &str, input: &str) -> Result<String, String> {
    let once = format_source(name, input).map_err(|e| format!("{name}: {e}"))?;
    let twice = format_source(name, &once).map_err(|e| format!("{name} (formatted): {e}"))?;
    if once != twice {
        return Err(format!(
            "{name}: not idempotent\n--- once\n{once}\n--- twice\n{twice}"
        ));
    }
    if significant_tokens(input) != significant_tokens(&once) {
        return Err(format!("{name}: tokens changed"));
    }
    if comments(input) != comments(&once) {
        return Err(format!("{name}: comments changed"));
    }
    if once.lines().any(|l| l.ends_with(' ') || l.ends_with('\t')) {
        return Err(format!("{name}: trailing whitespace"));
    }
    Ok(once)
}

/// A bundle's artifact with what legitimately moves (source positions, the hash over
/// them) taken out.
fn normalized(bundle: &CompiledBundle) -> serde_json::Value {
    let mut b = bundle.clone();
    b.manifest.hash = String::new();
    for p in &mut b.policies {
        p.source.line = 0;
        p.source.column = 0;
        p.cedar = p
            .cedar
            .lines()
            .filter(|l| !l.starts_with("@source("))
            .collect::<Vec<_>>()
            .join("\n");
    }
    serde_json::to_value(&b).unwrap()
}

fn build(manifest: &str, files: &[(String, String)]) -> serde_json::Value {
    let c = Compiler::from_sources(Some(manifest), files.to_vec());
    match c.build() {
        Ok((b, _)) => normalized(&b),
        Err(d) => panic!("does not build: {d:?}"),
    }
}

fn policies() -> (String, Vec<(String, String)>) {
    let dir = repo().join("policies");
    let manifest = std::fs::read_to_string(dir.join("charter.toml")).unwrap();
    let mut paths = Vec::new();
    charter_files(&dir, &mut paths);
    let files = paths
        .into_iter()
        .map(|p| {
            let rel = p
                .strip_prefix(&dir)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            (rel, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    (manifest, files)
}

#[test]
fn every_repository_file_formats_idempotently_keeping_tokens_and_comments() {
    let mut formatted = 0;
    for (path, text) in repository_files() {
        let name = path.display().to_string();
        if has_syntax_errors(&text) {
            assert!(
                format_source(&name, &text).is_err(),
                "{name} has syntax errors but was formatted"
            );
            continue;
        }
        check_formatted(&name, &text).unwrap_or_else(|e| panic!("{e}"));
        formatted += 1;
    }
    assert!(formatted > 25, "only {formatted} files formatted");
}

#[test]
fn policies_are_formatted() {
    // `charter fmt --check policies` in CI, here without the binary.
    let (_, files) = policies();
    for (path, text) in files {
        let out = format_source(&path, &text).unwrap();
        assert!(out == text, "policies/{path} is not formatted:\n{out}");
    }
}

#[test]
fn formatting_policies_compiles_to_the_same_cedar() {
    let (manifest, files) = policies();
    let formatted: Vec<(String, String)> = files
        .iter()
        .map(|(p, t)| (p.clone(), format_source(p, t).unwrap()))
        .collect();
    assert_eq!(build(&manifest, &files), build(&manifest, &formatted));
}

#[test]
fn formatting_synthetic_bundles_compiles_to_the_same_cedar() {
    for seed in [1, 7] {
        let opts = SynthOptions {
            scenarios: 30,
            seed,
            ..Default::default()
        };
        let all = generate(&opts);
        let manifest = all
            .iter()
            .find(|f| f.path == "charter.toml")
            .map(|f| f.text.clone())
            .unwrap();
        let files: Vec<(String, String)> = all
            .iter()
            .filter(|f| f.path.ends_with(".charter"))
            .map(|f| (f.path.clone(), f.text.clone()))
            .collect();
        let formatted: Vec<(String, String)> = files
            .iter()
            .map(|(p, t)| (p.clone(), check_formatted(p, t).unwrap()))
            .collect();
        assert_eq!(build(&manifest, &files), build(&manifest, &formatted));
    }
}

#[test]
fn syntax_errors_leave_the_file_alone() {
    let err = format_source("bad.charter", "scenario x {\n  domain 金融\n").unwrap_err();
    let text = err.to_string();
    assert!(text.contains("`bad.charter`"), "{text}");
    assert!(text.contains("left as it is"), "{text}");
}

#[test]
fn layout_examples() {
    let input = "dataset a.b \"t\" {\n source \"s\"\n   domain 金融\n field x \"一\" tags \"公开\"\n field long_name \"二二\"\n}\n\
                 exit e \"t\" {\n when developer.a > 0\n and developer.b\n measures terminate\n}\n";
    let expected = "dataset a.b \"t\" {\n  source \"s\"\n  domain 金融\n  field x         \"一\" tags \"公开\"\n  field long_name \"二二\"\n}\n\
                    exit e \"t\" {\n  when     developer.a > 0\n           and developer.b\n  measures terminate\n}\n";
    assert_eq!(format_source("x.charter", input).unwrap(), expected);
}

/// Whitespace that may stand between two tokens.
fn spacing() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just(" "),
        Just("\n"),
        Just("\n\n\n"),
        Just("   \t "),
        Just("\n      "),
        Just(" // 注释 comment\n  "),
        Just("\n// own line\n"),
    ]
}

/// `text` with the whitespace between some pairs of tokens replaced; comments stay.
fn respace(text: &str, edits: &[(prop::sample::Index, &str)]) -> String {
    let ranges = token_ranges(text).unwrap_or_default();
    if ranges.len() < 2 {
        return text.to_string();
    }
    let mut gaps: Vec<(usize, &str)> = edits
        .iter()
        .map(|(i, s)| (i.index(ranges.len() - 1), *s))
        .collect();
    gaps.sort_by_key(|(k, _)| std::cmp::Reverse(*k));
    gaps.dedup_by_key(|(k, _)| *k);
    let mut respaced = text.to_string();
    for (k, s) in gaps {
        let (a, b) = (ranges[k].end, ranges[k + 1].start);
        // Comments stay as they are; a doc comment runs to the end of its line.
        if text[a..b].contains("//")
            || (text[ranges[k].clone()].starts_with("///") && !s.starts_with('\n'))
        {
            continue;
        }
        respaced.replace_range(a..b, s);
    }
    respaced
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, max_global_rejects: 4096, ..ProptestConfig::default() })]

    /// Re-spacing a policies file at random (new line breaks, blank lines, comments)
    /// never changes what the bundle compiles to once formatted, and the formatted text
    /// is a fixed point.
    #[test]
    fn respaced_policies_format_to_the_same_cedar(
        file in 0usize..64,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), spacing()), 1..6),
    ) {
        let (manifest, files) = policies();
        let file = file % files.len();
        let (path, text) = files[file].clone();
        let respaced = respace(&text, &edits);
        prop_assume!(!has_syntax_errors(&respaced));
        let (ta, tb) = (significant_tokens(&respaced).unwrap(), significant_tokens(&text).unwrap());
        if ta != tb {
            let k = ta.iter().zip(&tb).position(|(a, b)| a != b).unwrap_or(ta.len().min(tb.len()));
            let lo = k.saturating_sub(3);
            prop_assert!(false, "tokens differ at {k}: {:?} vs {:?}\n{respaced}", &ta[lo..(k + 3).min(ta.len())], &tb[lo..(k + 3).min(tb.len())]);
        }
        let formatted = check_formatted(&path, &respaced).map_err(TestCaseError::fail)?;
        let mut changed = files.clone();
        changed[file].1 = formatted;
        prop_assert_eq!(build(&manifest, &files), build(&manifest, &changed));
    }

    /// Any re-spaced file of the repository formats to a fixed point with the same tokens
    /// and comments.
    #[test]
    fn respaced_repository_files_format_idempotently(
        file in any::<prop::sample::Index>(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), spacing()), 1..10),
    ) {
        let files: Vec<(PathBuf, String)> = repository_files()
            .into_iter()
            .filter(|(_, t)| !has_syntax_errors(t))
            .collect();
        let (path, text) = &files[file.index(files.len())];
        let respaced = respace(text, &edits);
        prop_assume!(!has_syntax_errors(&respaced));
        check_formatted(&path.display().to_string(), &respaced).map_err(TestCaseError::fail)?;
    }
}

/// Fragments that make up likely and unlikely `.charter` text, suppressions included.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("scenario 甲 \"t\" {".to_string()),
        Just("  use tax.enterprise_tax { * } via verify requires consent".to_string()),
        Just("}".to_string()),
        Just("{".to_string()),
        Just("\n".to_string()),
        Just("  ".to_string()),
        Just("// charter-allow(".to_string()),
        Just("// charter-allow(CH0305): 理由\n".to_string()),
        Just("// charter-allow(CH0305, nope,): \n".to_string()),
        Just("/// 文档\n".to_string()),
        Just("\"未闭合".to_string()),
        Just("exit e { when developer.a > 0 and (developer.b or [1, 2] contains 3) }".to_string()),
        Just("fixture \"d\" { a = 1, b = [x, y], }".to_string()),
        Just("limits { max_term 3years }".to_string()),
        "[ -~\u{4e00}-\u{4e10}\u{3000}]{0,12}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Formatting and checking (suppressions included) never panic, whatever the text;
    /// what formats is a fixed point with the same tokens.
    #[test]
    fn arbitrary_text_never_panics(parts in proptest::collection::vec(fragment(), 0..12)) {
        let text: String = parts.concat();
        if let Ok(once) = format_source("x.charter", &text) {
            prop_assert_eq!(format_source("x.charter", &once).ok(), Some(once.clone()));
            prop_assert_eq!(significant_tokens(&once), significant_tokens(&text));
        }
        let c = Compiler::from_sources(None, [("x.charter".to_string(), text)]);
        let _ = c.diagnostics();
    }
}
