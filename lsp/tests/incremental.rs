//! Incrementality and cancellation, seen through salsa: an edit re-runs only the
//! queries that depend on the edited file, and a newer edit cancels diagnostics still
//! running on the old text instead of waiting for them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::path::PathBuf;

use charter_compiler::synth::{generate, SynthOptions};
use charter_compiler::{CharterDatabase, Compiler};
use charter_lsp::ide::Analysis;
use charter_lsp::text::Encoding;
use charter_lsp::world::{compute_diagnostics, BundleView, Snapshot};
use salsa::plumbing::AsId;

/// A synthetic bundle of 40 scenarios over several files, on a logging database.
fn bundle() -> Compiler {
    let opts = SynthOptions {
        scenarios: 40,
        scenarios_per_file: 10,
        ..Default::default()
    };
    let files = generate(&opts);
    let manifest = files
        .iter()
        .find(|f| f.path == "charter.toml")
        .map(|f| f.text.clone());
    Compiler::with_db(
        CharterDatabase::with_execution_log(),
        manifest.as_deref(),
        files
            .into_iter()
            .filter(|f| f.path != "charter.toml")
            .map(|f| (f.path, f.text)),
    )
}

/// What the server's diagnostics worker runs after every edit.
fn publish_all(c: &Compiler) -> usize {
    let snap = Snapshot {
        bundles: vec![BundleView {
            root: PathBuf::from("/bundle"),
            orphan: None,
            analysis: Analysis::new(c.db(), c.bundle()),
        }],
        encoding: Encoding::Utf16,
        prelude: PathBuf::from("/cache/prelude.charter"),
        versions: HashMap::new(),
    };
    compute_diagnostics(&snap).len()
}

fn count(log: &[String], query: &str) -> usize {
    log.iter()
        .filter(|l| l.starts_with(&format!("{query}(")))
        .count()
}

#[test]
fn an_edit_reruns_only_what_depends_on_the_edited_file() {
    let mut c = bundle();
    let files = publish_all(&c);
    assert!(files > 6, "the bundle should span several files");
    let first = c.db().take_execution_log();
    // Every `.charter` file and the prelude parsed once (`files` counts charter.toml, which
    // is not parsed, and not the prelude, which has no diagnostics to publish).
    assert_eq!(count(&first, "parse_file"), files, "{first:#?}");

    // A one-character edit in a scenario's body: the file is parsed and checked again;
    // its declarations compare equal, so the model and every other file stay as they were.
    let path = "scenarios/scenarios_002.charter";
    let text = c
        .sources()
        .into_iter()
        .find(|s| s.path == path)
        .unwrap()
        .text
        .to_string();
    let edited = text.replacen("purpose \"", "purpose \"新", 1);
    assert_ne!(edited, text);
    c.set_file(path, edited);
    publish_all(&c);
    let log = c.db().take_execution_log();
    let id = format!("{:?}", c.file(path).unwrap().as_id());
    assert_eq!(
        log.iter()
            .filter(|l| l.starts_with("parse_file"))
            .cloned()
            .collect::<Vec<_>>(),
        vec![format!("parse_file({id})")],
        "{log:#?}"
    );
    assert_eq!(count(&log, "file_decls"), 1, "{log:#?}");
    assert_eq!(count(&log, "bundle_model"), 0, "{log:#?}");
    assert_eq!(count(&log, "file_diagnostics"), 1, "{log:#?}");

    // Nothing changed: nothing runs.
    publish_all(&c);
    assert_eq!(c.db().take_execution_log(), Vec::<String>::new());

    // An edit to a declaration other files use (a field's title in the catalog): the model
    // is rebuilt and the checks that read it run again, but no other file is parsed again.
    let catalog = c
        .sources()
        .into_iter()
        .find(|s| s.path.starts_with("catalog/"))
        .unwrap();
    let edited = catalog.text.replacen("field ", "field 新", 1);
    c.set_file(&catalog.path, edited);
    publish_all(&c);
    let log = c.db().take_execution_log();
    let id = format!("{:?}", c.file(&catalog.path).unwrap().as_id());
    assert_eq!(
        log.iter()
            .filter(|l| l.starts_with("parse_file"))
            .cloned()
            .collect::<Vec<_>>(),
        vec![format!("parse_file({id})")],
        "{log:#?}"
    );
    assert_eq!(count(&log, "bundle_model"), 1, "{log:#?}");
}

#[test]
fn a_new_edit_cancels_diagnostics_running_on_the_old_text() {
    let mut c = bundle();
    let snapshot = Analysis::new(c.db(), c.bundle());
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let worker = std::thread::spawn(move || {
        let mut rounds = 0u64;
        loop {
            // The diagnostics worker's loop, forever: only cancellation stops it.
            let result = snapshot.catch(|a| {
                for f in a.file_ids() {
                    let _ = a.diagnostics(f);
                }
            });
            rounds += 1;
            if rounds == 1 {
                let _ = started_tx.send(());
            }
            if result.is_err() {
                return rounds;
            }
        }
    });
    started_rx.recv().unwrap();
    // Blocks until the worker has seen the cancellation and dropped its snapshot.
    c.set_file(
        "scenarios/scenarios_001.charter",
        String::from("// emptied\n"),
    );
    let rounds = worker.join().unwrap();
    assert!(rounds >= 1);
    // The edit went through, and queries on the new text run as usual.
    let a = Analysis::new(c.db(), c.bundle());
    let id = a.file_id("scenarios/scenarios_001.charter").unwrap();
    assert_eq!(a.text(id), "// emptied\n");
    assert!(a.diagnostics(id).is_empty());
}
