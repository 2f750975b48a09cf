//! The benchmark's baselines decide what the engine decides: the full Cedar set and the
//! generated Rego policy agree with the sliced engine on a request mix.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use charter_bench::{run, synthetic, BenchOptions};

#[test]
fn baselines_agree_with_the_engine() {
    let work = synthetic(40, 150, 7).unwrap();
    let opts = BenchOptions {
        compare: true,
        engine_time: Duration::from_millis(50),
        baseline_time: Duration::from_secs(1),
        ..Default::default()
    };
    let mut out = Vec::new();
    let report = run(work, &opts, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    println!("{text}");
    assert_eq!(report.full_agree.0, report.full_agree.1, "{text}");
    assert_eq!(report.full_agree.1, 150);
    assert_eq!(report.rego_agree.0, report.rego_agree.1, "{text}");
    assert!(report.rego_agree.1 > 150);
    let last = text.lines().last().unwrap();
    assert!(
        last.starts_with("speedup_vs_full_cedar=") && last.contains(" speedup_vs_rego="),
        "{last}"
    );
}
