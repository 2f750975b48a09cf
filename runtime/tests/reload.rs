//! Hot reload under load: threads keep deciding while a policy file is rewritten broken
//! and then fixed. No decision errs, the broken bundle never serves, the failure is
//! reported (status and callback), and the fixed bundle serves within a second.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use charter_runtime::{Effect, Engine, ReloadEvent, Request};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let target = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &target);
        } else {
            std::fs::copy(&p, &target).unwrap();
        }
    }
}

/// Writes a file the way an editor does: a temporary file renamed over the old one.
fn write(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp~");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn wait_for(limit: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    None
}

#[test]
fn reload_under_load_keeps_the_last_good_bundle() {
    let dir = std::env::temp_dir().join(format!("charter-reload-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    copy_dir(&root().join("policies"), &dir);
    let engine = Engine::load(&dir).unwrap();
    let events: Arc<Mutex<Vec<ReloadEvent>>> = Arc::default();
    let sink = events.clone();
    engine.on_reload(move |e| sink.lock().unwrap().push(e.clone()));
    let _watcher = engine.watch().unwrap();
    let original = engine.hash();

    let mut req: Request = serde_json::from_str(
        &std::fs::read_to_string(root().join("examples/requests/01_allow_scope.json")).unwrap(),
    )
    .unwrap();
    req.fields = vec!["total_tax_amount".into()];

    // Deciders: record every (hash, answer) they see; any error fails the test.
    let stop = Arc::new(AtomicBool::new(false));
    let seen: Arc<Mutex<Vec<(String, Effect)>>> = Arc::default();
    let failures: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut threads = Vec::new();
    for _ in 0..3 {
        let (engine, stop, seen, failures, req) = (
            engine.clone(),
            stop.clone(),
            seen.clone(),
            failures.clone(),
            req.clone(),
        );
        threads.push(std::thread::spawn(move || {
            let mut local = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let d = engine.decide(&req);
                if !d.errors.is_empty() {
                    failures.lock().unwrap().push(format!("{:?}", d.errors));
                }
                if local.last() != Some(&(d.bundle.hash.clone(), d.decision)) {
                    local.push((d.bundle.hash.clone(), d.decision));
                }
                std::thread::sleep(Duration::from_micros(200));
            }
            seen.lock().unwrap().extend(local);
        }));
    }
    std::thread::sleep(Duration::from_millis(300));

    // Broken: a syntax error in the scenario file.
    let file = dir.join("scenarios/inclusive_finance.charter");
    let good = std::fs::read_to_string(&file).unwrap();
    write(
        &file,
        &good.replace("use tax.enterprise_tax {", "use tax.enterprise_tax {{ oops"),
    );
    let failed = wait_for(Duration::from_secs(5), || engine.status().failures > 0);
    assert!(failed.is_some(), "the broken edit was not noticed");
    assert_eq!(engine.hash(), original, "a broken bundle must never serve");
    let status = engine.status();
    assert!(
        status
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("does not compile"),
        "{status:?}"
    );
    assert_eq!(engine.decide(&req).decision, Effect::Allow);

    // Fixed, and changed: the scope no longer covers total_tax_amount.
    let fixed = good.replace("sales_revenue, total_tax_amount", "sales_revenue");
    assert_ne!(fixed, good);
    let written = Instant::now();
    write(&file, &fixed);
    let served = wait_for(Duration::from_secs(5), || {
        engine.decide(&req).decision == Effect::Deny
    });
    let took = written.elapsed();
    assert!(served.is_some(), "the fixed bundle never served");
    assert!(
        took <= Duration::from_secs(1),
        "the fixed bundle took {took:?} to serve"
    );
    let new_hash = engine.hash();
    assert_ne!(new_hash, original);
    assert_eq!(engine.status().last_error, None);

    std::thread::sleep(Duration::from_millis(100));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    assert!(
        failures.lock().unwrap().is_empty(),
        "{:?}",
        failures.lock().unwrap()
    );
    // Only the two good bundles ever answered, each with its own answer.
    for (hash, effect) in seen.lock().unwrap().iter() {
        match hash {
            h if *h == original => assert_eq!(*effect, Effect::Allow),
            h if *h == new_hash => assert_eq!(*effect, Effect::Deny),
            other => panic!("an unexpected bundle `{other}` served"),
        }
    }
    let events = events.lock().unwrap();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, ReloadEvent::Failed { .. })),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, ReloadEvent::Reloaded { hash, .. } if *hash == new_hash)),
        "{events:?}"
    );
    eprintln!(
        "fixed bundle served {took:?} after the write; events: {}",
        events.len()
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn reload_without_a_source_is_an_error() {
    let (bundle, _) = charter_compiler::Compiler::load_dir(&root().join("policies"))
        .unwrap()
        .build()
        .unwrap();
    let e = Engine::from_bundle(bundle).unwrap();
    assert!(e.reload().is_err());
    assert!(e.watch().is_err());
}
