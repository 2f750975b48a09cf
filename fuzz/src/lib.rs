//! The properties the fuzz targets check, one function per target, so that a target's
//! file under `fuzz_targets/` is only the libFuzzer glue. Each function panics when a
//! property fails: libFuzzer reports a panic as a crash and keeps the input.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::OnceLock;

use charter_compiler::format::format_source;
use charter_compiler::{CompiledBundle, Compiler};
use charter_runtime::{Decision, Effect, Engine, Evaluation, Request};

/// The manifest every fuzzed `.charter` file is compiled with.
const MANIFEST: &str = "[bundle]\nname = \"fuzz\"\nversion = \"0.1.0\"\n";

/// The path the fuzzed file has in its bundle.
const PATH: &str = "fuzz.charter";

/// What a compile gave: the diagnostics' codes (sorted) and, when it built, the artifact
/// with what moves under formatting taken out.
#[derive(Debug, PartialEq)]
struct Outcome {
    codes: Vec<&'static str>,
    built: Option<serde_json::Value>,
}

fn compile_text(text: &str, render: bool) -> Outcome {
    let c = Compiler::from_sources(Some(MANIFEST), [(PATH.to_string(), text.to_string())]);
    let diags = c.diagnostics();
    if render {
        // What `charter check` prints: the JSON form and the graphical report.
        let sources = c.sources();
        let handler =
            miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor());
        for d in &diags {
            let _ = serde_json::to_string(&d.to_json(&sources));
            let report = d.to_report(&sources);
            let mut out = String::new();
            let _ = handler.render_report(&mut out, report.as_ref());
        }
    }
    let mut codes: Vec<&'static str> = diags.iter().map(|d| d.code.id()).collect();
    codes.sort_unstable();
    let built = match c.build() {
        Ok((bundle, _)) => {
            // Every artifact the compiler builds passes Cedar's own checks.
            let problems = charter_compiler::validate(&bundle);
            assert!(
                problems.is_empty(),
                "built but Cedar rejects it: {problems:?}"
            );
            Some(normalized(&bundle))
        }
        Err(_) => None,
    };
    Outcome { codes, built }
}

/// A bundle's artifact without what legitimately moves when only whitespace changes:
/// source positions and the hash over them.
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
    serde_json::to_value(&b).unwrap_or(serde_json::Value::Null)
}

/// Target `compile`: the bytes as a `.charter` file (with the prelude) through parse,
/// check, render, build and format. Properties: nothing panics; a built artifact passes
/// Cedar's validator; formatting is idempotent; the formatted file has the same
/// diagnostic codes and, when the file builds, compiles to the same Cedar.
pub fn compile(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let before = compile_text(&text, true);
    let Ok(once) = format_source(PATH, &text) else {
        return;
    };
    let twice = match format_source(PATH, &once) {
        Ok(t) => t,
        Err(e) => panic!("the formatted text does not format again: {e}\n--- formatted\n{once}"),
    };
    assert!(
        once == twice,
        "formatting is not idempotent\n--- once\n{once}\n--- twice\n{twice}"
    );
    if once != text {
        let after = compile_text(&once, false);
        assert_eq!(
            before.codes, after.codes,
            "formatting changed the diagnostics\n--- formatted\n{once}"
        );
        assert!(
            before.built == after.built,
            "formatting changed what the file compiles to\n--- formatted\n{once}"
        );
    }
}

/// A scratch directory of this process (libFuzzer's fork and jobs modes run several).
fn scratch() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("charter-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("scratch dir");
        d
    })
    .clone()
}

/// A decision's invariant: an answer with an error, or with a field denied, is a deny.
fn check_decision(d: &Decision, what: &str) {
    if !d.errors.is_empty() {
        assert_eq!(d.decision, Effect::Deny, "{what}: allow with errors: {d:?}");
    }
    if d.fields.iter().any(|f| f.decision == Effect::Deny) {
        assert_eq!(
            d.decision,
            Effect::Deny,
            "{what}: allow with a field denied: {d:?}"
        );
    }
    if d.is_allowed() {
        assert!(!d.fields.is_empty(), "{what}: allow for no field: {d:?}");
    }
}

/// Decides a few requests built from the engine's own catalog, and sweeps: what a loaded
/// engine must do without panicking, whatever bundle it was given.
fn exercise(engine: &Engine) {
    let catalog = engine.catalog();
    let scenario = catalog.scenarios.keys().next().cloned().unwrap_or_default();
    let actions: Vec<String> = catalog.actions.keys().take(4).cloned().collect();
    for (name, dataset) in catalog.datasets.iter().take(3) {
        for action in &actions {
            let req = Request {
                developer: "fuzz-dev".into(),
                action: action.clone(),
                dataset: name.clone(),
                fields: dataset
                    .fields
                    .iter()
                    .take(3)
                    .map(|(f, _)| f.clone())
                    .collect(),
                scenario: scenario.clone(),
                at: Some("2026-06-01".into()),
                ..Default::default()
            };
            check_decision(&engine.decide(&req), "catalog request");
        }
    }
    let report = engine.sweep("fuzz-dev", None, Some("2026-06-01"));
    let _ = serde_json::to_string(&report);
}

/// Target `bundle`: the bytes as `bundle.json` through the runtime's loader
/// (`Engine::load`, which checks the content hash), and, when they deserialize as a
/// bundle, that bundle with its hash made right (so the fuzzer gets past the hash to the
/// indexing and validation). Properties: an error or a working engine, never a panic; a
/// working engine's decisions keep the decision invariants.
pub fn bundle(data: &[u8]) {
    let path = scratch().join("bundle.json");
    std::fs::write(&path, data).expect("write the bundle");
    if let Ok(engine) = Engine::load(&path) {
        exercise(&engine);
    }
    if let Ok(mut b) = serde_json::from_slice::<CompiledBundle>(data) {
        b.manifest.hash = b.compute_hash();
        if let Ok(engine) = Engine::from_bundle(b) {
            exercise(&engine);
        }
    }
}

/// The engine of the `decide` target: `policies/` compiled once, with the example fact
/// store.
fn policies_engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let engine = Engine::load(&root.join("policies")).expect("policies/ compiles");
        engine
            .facts()
            .load_file(&root.join("examples/requests/facts.json"))
            .expect("examples/requests/facts.json loads");
        engine
    })
}

/// Target `decide`: the bytes as a request's JSON, decided by an engine over `policies/`.
/// Properties: a decode error or a decision, never a panic; a decision with an error is
/// never an allow (nor one with a field denied); the slice decides as the full policy
/// set does.
pub fn decide(data: &[u8]) {
    let engine = policies_engine();
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let d = engine.decide_json(text);
    check_decision(&d, "decide_json");
    let Ok(req) = serde_json::from_str::<Request>(text) else {
        assert!(
            !d.errors.is_empty(),
            "a request that does not parse was decided"
        );
        return;
    };
    let full = engine.decide_with(&req, Evaluation::FullSet);
    check_decision(&full, "full set");
    // Only requests with a fixed time: the clock may turn a day between the two.
    if req.at.is_some() {
        let effects = |d: &Decision| {
            (
                d.decision,
                d.fields
                    .iter()
                    .map(|f| (f.field.clone(), f.decision))
                    .collect::<Vec<_>>(),
            )
        };
        assert_eq!(
            effects(&d),
            effects(&full),
            "the slice and the full set differ"
        );
    }
    let _ = serde_json::to_string(&d);
}

/// Target `server_body`: the first byte picks an endpoint, the rest is its body, decoded
/// as `charter serve` decodes it. Properties: never a panic; a refusal is a 4xx.
pub fn server_body(data: &[u8]) {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let endpoints = charter_server::BODY_ENDPOINTS;
    let endpoint = endpoints[pick as usize % endpoints.len()];
    if let Err(e) = charter_server::decode_body(endpoint, body) {
        assert!(
            e.status.is_client_error(),
            "{endpoint}: a body refused with {}: {e:?}",
            e.status
        );
    }
}
