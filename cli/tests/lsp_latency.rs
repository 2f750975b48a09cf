//! Latency of diagnostics after a one-character edit on the synthetic workspace of 1,000
//! scenarios and 5,000 fields. A measurement, not a check: run it in release and read
//! the medians it prints.
//!
//! ```text
//! cargo test --release -p charter-cli --test lsp_latency -- --ignored --nocapture --test-threads 1
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod lsp_client;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use charter_compiler::synth::{write_bundle, SynthOptions};
use charter_compiler::Compiler;
use charter_lsp::ide::Analysis;
use charter_lsp::text::Encoding;
use charter_lsp::world::{compute_diagnostics, BundleView, Snapshot};
use lsp_client::{uri, Client};
use serde_json::json;

const EDITS: usize = 20;

fn workspace(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("charter-latency-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let opts = SynthOptions {
        scenarios: 1000,
        fields_per_dataset: 10,
        ..Default::default()
    };
    write_bundle(&opts, &dir).unwrap();
    dir
}

fn report(what: &str, mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let median = samples[samples.len() / 2];
    println!(
        "{what}: median {:.2} ms, min {:.2} ms, p90 {:.2} ms, max {:.2} ms ({} edits)",
        ms(median),
        ms(samples[0]),
        ms(samples[samples.len() * 9 / 10]),
        ms(samples[samples.len() - 1]),
        samples.len()
    );
    median
}

/// The position (UTF-16) just after the first field of the first `use` line.
fn after_first_used_field(text: &str) -> (u64, u64, String) {
    for (n, line) in text.lines().enumerate() {
        if let Some(at) = line.find("use ") {
            let open = at + line[at..].find('{').unwrap() + 1;
            let rest = &line[open..];
            let name_start = open + rest.len() - rest.trim_start().len();
            let name_len = line[name_start..]
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap();
            let end = name_start + name_len;
            let col = line[..end].encode_utf16().count() as u64;
            return (n as u64, col, line[name_start..end].to_string());
        }
    }
    panic!("no use line");
}

#[test]
#[ignore = "measurement: run in release with --nocapture"]
fn stdio_diagnostics_after_a_one_character_edit() {
    let dir = workspace("stdio");
    let mut c = Client::start(&dir);
    c.initialize(&dir, &["utf-16"]);
    let file = dir.join("scenarios/scenarios_010.charter");
    let file_uri = uri(&file);
    c.open(&file);
    // The workspace is clean; wait until the server has loaded it and answers.
    let _ = c.request(
        "textDocument/documentSymbol",
        json!({"textDocument": {"uri": file_uri}}),
    );
    let (line, col, field) = after_first_used_field(&std::fs::read_to_string(&file).unwrap());
    println!("editing {}:{} after field `{field}`", line + 1, col);
    let mut samples = Vec::new();
    let mut version = 1;
    for i in 0..EDITS + 8 {
        version += 1;
        let insert = i % 2 == 0;
        let change = if insert {
            json!({"range": {"start": {"line": line, "character": col}, "end": {"line": line, "character": col}}, "text": "x"})
        } else {
            json!({"range": {"start": {"line": line, "character": col}, "end": {"line": line, "character": col + 1}}, "text": ""})
        };
        let t0 = Instant::now();
        c.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": file_uri, "version": version}, "contentChanges": [change]}),
        );
        let diags = c.diagnostics_where(&file_uri, |d| d.is_empty() != insert);
        let took = t0.elapsed();
        if insert {
            assert!(diags[0]["message"]
                .as_str()
                .unwrap()
                .contains(&format!("no field `{field}x`")));
        }
        // The first edits warm the caches up.
        if i >= 8 {
            samples.push(took);
        }
    }
    let median = report("stdio: didChange → publishDiagnostics", samples);
    assert_eq!(c.shutdown_and_exit(true), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        median < Duration::from_millis(50),
        "median {median:?} is over 50 ms"
    );
}

fn snapshot(c: &Compiler) -> Snapshot {
    Snapshot {
        bundles: vec![BundleView {
            root: PathBuf::from("/bundle"),
            orphan: None,
            analysis: Analysis::new(c.db(), c.bundle()),
        }],
        encoding: Encoding::Utf16,
        prelude: PathBuf::from("/cache/prelude.charter"),
        versions: HashMap::new(),
    }
}

fn measure(c: &mut Compiler, path: &str, a: &str, b: &str) -> Vec<Duration> {
    let mut samples = Vec::new();
    for i in 0..(EDITS + 4) {
        let text = if i % 2 == 0 { b } else { a };
        let t0 = Instant::now();
        c.set_file(path, text.to_string());
        let files = compute_diagnostics(&snapshot(c));
        let took = t0.elapsed();
        assert!(files.len() > 10);
        if i >= 4 {
            samples.push(took);
        }
    }
    samples
}

fn rel_text(dir: &Path, rel: &str) -> String {
    std::fs::read_to_string(dir.join(rel)).unwrap()
}

#[test]
#[ignore = "measurement: run in release with --nocapture"]
fn in_process_diagnostics_after_a_one_character_edit() {
    let dir = workspace("inproc");
    let mut c = Compiler::load_dir(&dir).unwrap();
    let fields: usize = c.model().datasets.values().map(|d| d.fields.len()).sum();
    println!(
        "workspace: {} scenarios, {} datasets, {fields} fields",
        c.model().scenarios.len(),
        c.model().datasets.len()
    );
    let t0 = Instant::now();
    compute_diagnostics(&snapshot(&c));
    println!(
        "first diagnostics of the whole workspace: {:.1} ms",
        t0.elapsed().as_secs_f64() * 1000.0
    );

    // A scenario body: the edited file is parsed and checked again.
    let rel = "scenarios/scenarios_010.charter";
    let text = rel_text(&dir, rel);
    let edited = text.replacen("purpose \"", "purpose \"x", 1);
    report(
        "in-process: scenario body edit",
        measure(&mut c, rel, &text, &edited),
    );
    // A field's title in the catalog: a declaration, so the model is rebuilt and every
    // file checked again.
    let catalog = dir.join("catalog");
    let first = std::fs::read_dir(&catalog)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let rel = format!("catalog/{}", first.file_name().unwrap().to_string_lossy());
    let text = rel_text(&dir, &rel);
    let at = text.find("field ").unwrap();
    let quote = at + text[at..].find('"').unwrap() + 1;
    let mut edited = text.clone();
    edited.insert(quote, '新');
    report(
        "in-process: catalog declaration edit",
        measure(&mut c, &rel, &text, &edited),
    );
    let _ = std::fs::remove_dir_all(&dir);
}
