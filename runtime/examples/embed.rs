//! Embedding the engine the way an operation platform would: load the bundle once,
//! keep developer facts in the fact store, decide from many threads, sweep for the
//! supervision platform, and reload when the rules change.
//!
//! ```sh
//! # the engine alone (no compiler): a bundle.json built by `charter build`
//! cargo run -p charter-runtime --no-default-features --example embed -- \
//!     examples/bundle/bundle.json examples/requests/facts.json
//! # with the `compile` feature (the default) a source folder is compiled on load
//! cargo run -p charter-runtime --example embed -- policies examples/requests/facts.json
//! ```
//!
//! `examples/bundle/bundle.json` is `charter build policies --out examples/bundle`,
//! committed (a test checks it is up to date).

#![allow(clippy::print_stdout)]

use std::path::PathBuf;

use charter_runtime::{Consent, Engine, ReloadEvent, Request};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let default = if cfg!(feature = "compile") {
        "policies"
    } else {
        "examples/bundle/bundle.json"
    };
    let bundle = PathBuf::from(args.next().unwrap_or_else(|| default.into()));
    let facts = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "examples/requests/facts.json".into()),
    );

    // 1. Load: a `bundle.json` from `charter build` is read, its hash checked and its
    //    Cedar validated; a source folder is compiled (with the `compile` feature).
    let engine = Engine::load(&bundle)?;
    println!(
        "loaded {} {} ({})",
        engine.name(),
        engine.version(),
        engine.hash()
    );

    // 2. Facts: the platform keeps each developer's facts in the engine, so requests
    //    need not carry them; update them as the supervision platform learns more.
    let n = engine.facts().load_file(&facts)?;
    println!("{n} developers in the fact store");

    // 3. Decide, from as many threads as the platform has: the engine is an `Arc`
    //    inside, and the decision path takes no lock.
    let request = Request {
        developer: "bank-001".into(),
        action: "privacy_compute".into(),
        dataset: "tax.enterprise_tax".into(),
        fields: vec![
            "credit_code".into(),
            "total_tax_amount".into(),
            "vat_amount".into(),
        ],
        scenario: "普惠金融".into(),
        at: Some("2026-06-01T09:00:00+08:00".into()),
        purpose: Some("小微企业授信审批".into()),
        consent: Some(Consent {
            granted: true,
            reference: Some("SQ-2026-000101".into()),
        }),
        facts: None,
    };
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (engine, request) = (engine.clone(), request.clone());
            std::thread::spawn(move || engine.decide(&request))
        })
        .collect();
    for h in handles {
        let d = h.join().map_err(|_| "a decider panicked")?;
        println!("decision {}: {}", d.decision_id, d.decision.as_str());
    }
    let d = engine.decide(&request);
    for f in &d.fields {
        let why: Vec<String> = f
            .reasons
            .iter()
            .map(|r| format!("{} {}", r.id, r.article.clone().unwrap_or_default()))
            .chain(f.why_not.iter().map(|w| w.message.clone()))
            .collect();
        println!("  {} {}: {}", f.field, f.decision.as_str(), why.join("; "));
    }

    // Facts change: a breach is found, and the next decision denies with the exit rule.
    let mut change = charter_runtime::Facts::new();
    change.insert("agreement_breaches".into(), 1.into());
    engine.facts().update("bank-001", change);
    let d = engine.decide(&request);
    println!(
        "after a breach: {} by {:?}",
        d.decision.as_str(),
        d.reasons.iter().map(|r| &r.id).collect::<Vec<_>>()
    );

    // 4. Sweep every developer for exit, suspend and notice rules, with their measures.
    for report in engine.sweep_all(Some("2026-06-01")) {
        let fired: Vec<&str> = report.triggers.iter().map(|t| &*t.id).collect();
        println!(
            "sweep {}: triggers {:?}, measures {:?}, notices {}, errors {}",
            report.developer,
            fired,
            report.measures,
            report.notices.len(),
            report.errors.len()
        );
    }

    // 5. Reload: hook the outcome, then rebuild. In a server, `engine.watch()` does
    //    this on every change of the files (keep the returned watcher alive).
    engine.on_reload(|event| match event {
        ReloadEvent::Reloaded { version, hash } => println!("reloaded {version} {hash}"),
        ReloadEvent::Unchanged { hash } => println!("reload: unchanged {hash}"),
        ReloadEvent::Failed { error } => {
            println!("reload failed, still serving the old bundle: {error}")
        }
    });
    engine.reload()?;
    let status = engine.status();
    println!(
        "status: {} {} · {} policies · {} reloads · {} failures",
        status.bundle.name, status.bundle.version, status.policies, status.reloads, status.failures
    );
    Ok(())
}
