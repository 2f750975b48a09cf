//! Criterion benchmarks of the decision path: the Zhenjiang bundle, and a synthetic
//! bundle of 1,000 scenarios sliced against the full Cedar set.
//!
//! ```sh
//! cargo bench -p charter-runtime --bench decide
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;
use std::time::Duration;

use charter_bench::synthetic;
use charter_runtime::{Engine, Evaluation, Request};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

fn zhenjiang(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let engine = Engine::load(&root.join("policies")).unwrap();
    engine
        .facts()
        .load_file(&root.join("examples/requests/facts.json"))
        .unwrap();
    let mut g = c.benchmark_group("zhenjiang");
    g.measurement_time(Duration::from_secs(3));
    for name in [
        "01_allow_scope",
        "02_deny_grade",
        "05_deny_exit",
        "08_deny_field_outside_scope",
    ] {
        let text =
            std::fs::read_to_string(root.join(format!("examples/requests/{name}.json"))).unwrap();
        let mut req: Request = serde_json::from_str(&text).unwrap();
        // From the fact store, as a platform would.
        req.facts = None;
        g.bench_with_input(BenchmarkId::new("decide", name), &req, |b, r| {
            b.iter(|| engine.decide(r))
        });
    }
    let text = std::fs::read_to_string(root.join("examples/requests/01_allow_scope.json")).unwrap();
    g.bench_function("decide_json_inline_facts", |b| {
        b.iter(|| engine.decide_json(&text))
    });
    g.finish();
}

fn synthetic_1000(c: &mut Criterion) {
    let work = synthetic(1000, 200, 1).unwrap();
    let engine = Engine::from_bundle(work.bundle).unwrap();
    for (k, v) in work.facts {
        engine.facts().set(k, v);
    }
    let reqs = work.requests;
    let mut g = c.benchmark_group("synthetic_1000");
    g.measurement_time(Duration::from_secs(3));
    for (label, how) in [
        ("sliced", Evaluation::Sliced),
        ("full_set", Evaluation::FullSet),
    ] {
        let mut i = 0usize;
        g.bench_function(label, |b| {
            b.iter(|| {
                i = (i + 1) % reqs.len();
                engine.decide_with(&reqs[i], how)
            })
        });
    }
    // Every decision misses the slice cache and parses its slice: the worst case of
    // a bundle whose scenarios do not fit in the cache.
    engine.set_slice_cache(1);
    let mut i = 0usize;
    g.bench_function("sliced_every_slice_parsed", |b| {
        b.iter(|| {
            i = (i + 1) % reqs.len();
            engine.decide(&reqs[i])
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).warm_up_time(Duration::from_millis(500));
    targets = zhenjiang, synthetic_1000
}
criterion_main!(benches);
