//! How long checking takes: a whole synthetic bundle from scratch (what `charter
//! check` does), and a re-check through the salsa database after a one-character
//! edit of one file (what the language server does on each keystroke).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use charter_compiler::synth::{generate, SynthOptions};
use charter_compiler::Compiler;
use criterion::{criterion_group, criterion_main, Criterion};

const MANIFEST: &str = "[bundle]\nname = \"synth\"\nversion = \"0.1.0\"\n";

fn files(scenarios: usize) -> Vec<(String, String)> {
    generate(&SynthOptions {
        scenarios,
        ..SynthOptions::default()
    })
    .into_iter()
    .filter(|f| f.path.ends_with(".charter"))
    .map(|f| (f.path, f.text))
    .collect()
}

fn bench(c: &mut Criterion) {
    let files = files(1000);
    let fields: usize = files
        .iter()
        .map(|(_, t)| t.matches("\n  field ").count())
        .sum();
    eprintln!(
        "synthetic bundle: 1000 scenarios, {fields} fields, {} files",
        files.len()
    );

    let mut g = c.benchmark_group("check");
    g.sample_size(10);
    g.bench_function("full_1000_scenarios", |b| {
        b.iter(|| {
            let c = Compiler::from_sources(Some(MANIFEST), files.clone());
            let (bundle, warnings) = c.build().unwrap();
            assert!(warnings.is_empty());
            bundle.policies.len()
        })
    });

    let (path, text) = files
        .iter()
        .find(|(p, _)| p.starts_with("scenarios/"))
        .cloned()
        .unwrap();
    let at = text.find("purpose \"").unwrap() + "purpose \"".len();
    let edited = [
        format!("{}甲{}", &text[..at], &text[at..]),
        format!("{}乙{}", &text[..at], &text[at..]),
    ];
    let mut compiler = Compiler::from_sources(Some(MANIFEST), files.clone());
    assert!(compiler.diagnostics().is_empty());
    let mut i = 0;
    g.sample_size(50);
    g.bench_function("recheck_after_one_char_edit", |b| {
        b.iter(|| {
            i += 1;
            compiler.set_file(&path, edited[i % 2].clone());
            compiler.diagnostics().len()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
