//! The slice equals the full policy set: over random requests against synthetic bundles,
//! the sliced engine gives the same decision, the same reasons (policy ids, per field),
//! the same errors and the same notices as Cedar evaluating every decision policy with
//! every entity of the catalog.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::OnceLock;

use charter_compiler::synth::{self, good_facts, SynthOptions};
use charter_compiler::CompiledBundle;
use charter_runtime::time::format_day;
use charter_runtime::{Consent, Decision, Engine, Evaluation, Request, RequestFacts};
use proptest::prelude::*;
use serde_json::json;

fn bundle(scenarios: usize, seed: u64) -> CompiledBundle {
    synth::compile(&SynthOptions {
        scenarios,
        seed,
        fields_per_dataset: 8,
        ..Default::default()
    })
    .unwrap()
}

/// Two engines: the first holds every per-scenario set parsed, the second only
/// [`TINY_CACHE`] of them, so its decisions parse and evict slices all the time.
fn engines() -> &'static Vec<(CompiledBundle, Engine)> {
    static E: OnceLock<Vec<(CompiledBundle, Engine)>> = OnceLock::new();
    E.get_or_init(|| {
        [(30, 3, None), (60, 11, Some(TINY_CACHE))]
            .into_iter()
            .map(|(n, seed, cache)| {
                let b = bundle(n, seed);
                let e = Engine::from_bundle(b.clone()).unwrap();
                if let Some(c) = cache {
                    e.set_slice_cache(c);
                }
                (b, e)
            })
            .collect()
    })
}

const TINY_CACHE: usize = 3;

fn pick<T: Clone>(v: &[T], i: u64) -> T {
    v[(i as usize) % v.len()].clone()
}

/// Builds a request from random numbers: any scenario, dataset, action and fields of
/// the bundle (in scope or not), any day around the terms, and facts of which some are
/// flipped to values that fire admission, exit, suspend and eligibility rules.
fn request(b: &CompiledBundle, r: &[u64]) -> Request {
    let scenarios: Vec<&String> = b.catalog.scenarios.keys().collect();
    let datasets: Vec<&String> = b.catalog.datasets.keys().collect();
    let actions: Vec<&String> = b.catalog.actions.keys().collect();
    let scopes: Vec<_> = b.policies.iter().filter(|p| p.dataset.is_some()).collect();
    // Half the time, start from a scope so that allows are common.
    let (scenario, dataset, action, scope_fields) = if r[0].is_multiple_of(2) {
        let s = pick(&scopes, r[1]);
        let a = pick(s.actions.as_ref().unwrap(), r[2]);
        (
            s.scenario.clone().unwrap(),
            s.dataset.clone().unwrap(),
            a,
            s.fields.clone(),
        )
    } else {
        (
            pick(&scenarios, r[1]).clone(),
            pick(&datasets, r[2]).clone(),
            pick(&actions, r[3]).clone(),
            None,
        )
    };
    let ds = &b.catalog.datasets[&dataset];
    let names: Vec<String> = match scope_fields {
        Some(fs) if !r[4].is_multiple_of(4) => fs,
        _ => ds.fields.iter().map(|(n, _)| n.clone()).collect(),
    };
    let n_fields = 1 + (r[4] % 3) as usize;
    let fields: Vec<String> = (0..n_fields)
        .map(|i| pick(&names, r[5] >> (i * 8)))
        .collect();
    let term = &b.catalog.scenarios[&scenario];
    let day =
        term.term_start - 30 + (r[6] % ((term.term_end - term.term_start + 60) as u64)) as i64;
    let mut dev_scen: Vec<&str> = vec![pick(&scenarios, r[7]).as_str()];
    if !r[8].is_multiple_of(4) {
        dev_scen.push(scenario.as_str());
    }
    let mut facts = good_facts(&b.catalog, &dev_scen, "2099-12-31");
    let keys: Vec<String> = facts.keys().cloned().collect();
    for (i, k) in keys.iter().enumerate() {
        let roll = (r[9].rotate_left(i as u32 * 7) ^ r[10]) % 100;
        if roll >= 4 || k == "scenarios" {
            continue;
        }
        let ty = b.catalog.facts[k].ty.as_str();
        let v = match ty {
            "bool" => json!(roll.is_multiple_of(2)),
            "int" | "nat" => json!(pick(&[0, 1, 2, 59, 60, 61, 85], roll)),
            "date" => json!(format_day(day - 120 + (roll as i64) * 3)),
            _ => continue,
        };
        facts.insert(k.clone(), v);
    }
    Request {
        developer: format!("dev-{}", r[11] % 1000),
        action,
        dataset,
        fields,
        scenario,
        at: Some(format!("{}T12:00:00+08:00", format_day(day))),
        purpose: Some("性质测试".into()),
        consent: Some(Consent {
            granted: !r[12].is_multiple_of(3),
            // Consent counts only with a reference to its record.
            reference: Some(format!("SQ-{}", r[12] % 1000)),
        }),
        facts: Some(RequestFacts {
            developer: Some(facts),
        }),
    }
}

fn normalized(mut d: Decision) -> Decision {
    d.decision_id = String::new();
    d
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn slice_equals_full_policy_set(which in 0usize..2, r in proptest::collection::vec(any::<u64>(), 13)) {
        let (b, engine) = &engines()[which];
        let req = request(b, &r);
        let sliced = normalized(engine.decide_with(&req, Evaluation::Sliced));
        let full = normalized(engine.decide_with(&req, Evaluation::FullSetAllEntities));
        prop_assert_eq!(&sliced, &full);
        // The default path is the sliced one.
        prop_assert_eq!(normalized(engine.decide(&req)), sliced);
    }

    /// The same with the developer's facts in the fact store, where the engine memoizes
    /// developer-level outcomes per day and keeps entity stores per dataset: asked
    /// again, on another day, with another action, the answers still match.
    #[test]
    fn slice_equals_full_policy_set_with_stored_facts(
        which in 0usize..2,
        r in proptest::collection::vec(any::<u64>(), 13),
        s in proptest::collection::vec(any::<u64>(), 13),
    ) {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let (b, engine) = &engines()[which];
        let id = format!("stored-{}", NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        let mut first = request(b, &r);
        let facts = first.facts.take().unwrap().developer.unwrap();
        engine.facts().set(id.clone(), facts);
        first.developer = id.clone();
        // A second request of the same developer: another scenario, dataset, action, day.
        let mut second = request(b, &s);
        second.facts = None;
        second.developer = id.clone();
        let mut again = first.clone();
        again.consent = Some(Consent { granted: !first.consent.as_ref().unwrap().granted, reference: Some("SQ-1".into()) });
        for req in [&first, &second, &first, &again, &second] {
            let sliced = normalized(engine.decide(req));
            let full = normalized(engine.decide_with(req, Evaluation::FullSetAllEntities));
            prop_assert_eq!(sliced, full);
        }
        engine.facts().remove(&id);
    }
}

/// The generator reaches every kind of outcome, so the property means something.
#[test]
fn random_requests_cover_allow_and_every_deny() {
    let (b, engine) = &engines()[1];
    let mut kinds = std::collections::BTreeSet::new();
    let mut allowed = 0;
    let mut state = 42u64;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    for _ in 0..600 {
        let r: Vec<u64> = (0..13).map(|_| next()).collect();
        let d = engine.decide(&request(b, &r));
        if d.is_allowed() {
            allowed += 1;
        }
        for f in &d.fields {
            for reason in &f.reasons {
                kinds.insert(reason.kind.to_string());
            }
            for w in &f.why_not {
                kinds.insert(format!("{:?}", w.code));
            }
        }
    }
    println!("{allowed} allowed; {kinds:?}");
    // The second engine decided with a cache far smaller than its slices.
    let cache = engine.slice_cache();
    assert!(cache.slices > 10 * TINY_CACHE, "{cache:?}");
    // Other tests decide on this engine at the same time; each may hold one slice
    // counted between its parse and its sweep.
    assert!(cache.resident <= TINY_CACHE + 8, "{cache:?}");
    assert!(cache.evictions > 100 && cache.hits > 0, "{cache:?}");
    assert_eq!(engines()[0].1.slice_cache().evictions, 0);
    assert!(allowed > 30, "{allowed}");
    for k in [
        "scope",
        "grade",
        "consent",
        "admission",
        "exit",
        "suspend",
        "forbid",
        "eligibility",
        "ConsentRequired",
        "FieldOutsideScope",
        "DeveloperNotInScenario",
        "TermNotInForce",
    ] {
        assert!(kinds.contains(k), "no `{k}` in {kinds:?}");
    }
}

/// Several threads deciding at once through a cache of [`TINY_CACHE`] slices: misses
/// race, one thread's sweep evicts the slice another is using, and every answer still
/// equals the full set's.
#[test]
fn concurrent_deciders_with_a_tiny_cache_agree_with_the_full_set() {
    let (b, engine) = &engines()[1];
    let before = engine.slice_cache();
    std::thread::scope(|s| {
        for t in 0..4u64 {
            s.spawn(move || {
                let mut state = 1000 + t;
                for _ in 0..60 {
                    let r: Vec<u64> = (0..13)
                        .map(|_| {
                            state = state
                                .wrapping_mul(6_364_136_223_846_793_005)
                                .wrapping_add(1_442_695_040_888_963_407);
                            state >> 11
                        })
                        .collect();
                    let req = request(b, &r);
                    let sliced = normalized(engine.decide(&req));
                    let full = normalized(engine.decide_with(&req, Evaluation::FullSetAllEntities));
                    assert_eq!(sliced, full);
                }
            });
        }
    });
    let after = engine.slice_cache();
    assert!(
        after.misses > before.misses && after.evictions > before.evictions,
        "{after:?}"
    );
}
