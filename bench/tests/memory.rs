//! What a loaded bundle holds, counted by the allocator (deterministic, unlike resident
//! memory): a guard on the per-scenario Cedar sets being parsed on demand, which is
//! what keeps a city's bundle of 10,000 scenarios under 200 MB. One test only: the
//! count is process-wide, and tests run on parallel threads.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use cap::Cap;
use charter_bench::synthetic;
use charter_runtime::{Engine, EngineOptions};

#[global_allocator]
static ALLOCATOR: Cap<std::alloc::System> = Cap::new(std::alloc::System, usize::MAX);

const SCENARIOS: usize = 1500;

#[test]
fn a_loaded_bundle_holds_its_scenarios_as_text_until_decisions_need_them() {
    let dir = std::env::temp_dir().join(format!("charter-memory-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // The bench's generator: the bundle, and a request mix with its developers' facts.
    let work = synthetic(SCENARIOS, 300, 5).unwrap();
    for (name, text) in charter_compiler::build_outputs(&work.bundle).unwrap() {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let (facts, requests) = (work.facts, work.requests);
    drop(work.bundle);
    let path = dir.join("bundle.json");

    let before = ALLOCATOR.allocated();
    let engine = Engine::load_with(
        &path,
        &EngineOptions {
            slice_cache: 64,
            ..Default::default()
        },
    )
    .unwrap();
    let held = ALLOCATOR.allocated().saturating_sub(before);
    let cache = engine.slice_cache();
    let per_scenario = held / SCENARIOS;
    println!(
        "{SCENARIOS} scenarios: {:.1} MB held, {per_scenario} bytes a scenario; {cache:?}",
        held as f64 / 1_048_576.0
    );
    // More slices than the cache holds: none is parsed at load.
    assert!(cache.slices > 64, "{cache:?}");
    assert_eq!(cache.resident, 0, "{cache:?}");
    // Parsed at load, a scenario's sets took about 30 KB; held as text, under 10 KB
    // (the catalog's share included). 16 KB leaves room and still catches a return to
    // parsing everything.
    assert!(per_scenario < 16 * 1024, "{per_scenario} bytes a scenario");

    // Decisions parse what they need, and the cache stays within its capacity.
    for (k, v) in facts {
        engine.facts().set(k, v);
    }
    let mut allowed = 0;
    for r in &requests {
        let d = engine.decide(r);
        assert!(d.errors.is_empty(), "{:?}", d.errors);
        allowed += usize::from(d.is_allowed());
    }
    let cache = engine.slice_cache();
    println!(
        "after {} decisions ({allowed} allowed): {cache:?}",
        requests.len()
    );
    assert!(allowed > 100, "{allowed}");
    assert!(cache.misses > 64 && cache.evictions > 0, "{cache:?}");
    assert!(cache.resident <= 64, "{cache:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
