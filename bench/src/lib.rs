//! The benchmark behind `charter bench`: a request mix over a bundle (allowed and
//! denied, several fields each), timed through the engine and, to compare, through the
//! full Cedar policy set and an equivalent Rego policy evaluated by `regorus`.
//!
//! The comparisons are generous to the baselines: the full Cedar set gets the same
//! small per-request entity set the engine builds (so only slicing is measured), and the
//! Rego inputs are prepared before the clock starts.

// Library code indexes and slices only through `get`: a bad index on input is an
// error to report, never a panic. Tests may index (a panic there is a failed test).
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::string_slice))]

pub mod loadgen;
pub mod rego;

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

use charter_compiler::synth::SynthOptions;
use charter_compiler::{CompiledBundle, PolicyKind};
use serde_json::json;

use charter_runtime::time::{format_day, parse_at};
use charter_runtime::{Consent, Decision, Effect, Engine, Evaluation, Facts, Request};

use crate::rego::RegoPolicy;

/// A bundle, the developers' facts and the requests to time.
pub struct Workload {
    /// The bundle.
    pub bundle: CompiledBundle,
    /// Facts by developer, loaded into the engine's fact store.
    pub facts: HashMap<String, Facts>,
    /// The requests.
    pub requests: Vec<Request>,
    /// How long compiling took, when the bench compiled the bundle.
    pub compile_time: Option<Duration>,
    /// An engine already loaded the way a platform loads one, with its load time and
    /// the resident memory measured right after (before anything else was read); when
    /// absent the bench builds the engine from `bundle`.
    pub loaded: Option<Loaded>,
}

/// An engine loaded before the workload was read.
pub struct Loaded {
    /// The engine.
    pub engine: Engine,
    /// How long loading took.
    pub time: Duration,
    /// Resident memory right after.
    pub rss_bytes: Option<u64>,
    /// Whether loading compiled a source folder (else it read a `bundle.json`).
    pub compiled: bool,
}

impl Loaded {
    /// Loads `path` as [`Engine::load_with`] does, timing it and measuring memory.
    pub fn load(
        path: &std::path::Path,
        options: &charter_runtime::EngineOptions,
    ) -> Result<Loaded, String> {
        let started = Instant::now();
        let engine = Engine::load_with(path, options).map_err(|e| e.to_string())?;
        Ok(Loaded {
            compiled: matches!(
                charter_runtime::source_of(path),
                charter_runtime::Source::Dir(_)
            ),
            time: started.elapsed(),
            rss_bytes: rss_bytes(),
            engine,
        })
    }
}

/// Options of a run.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Also time the full Cedar set and the Rego policy.
    pub compare: bool,
    /// How long to time the engine at least.
    pub engine_time: Duration,
    /// How long each baseline may take at most.
    pub baseline_time: Duration,
    /// How many per-scenario policy sets the engine keeps parsed.
    pub slice_cache: usize,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            compare: false,
            engine_time: Duration::from_secs(3),
            baseline_time: Duration::from_secs(5),
            slice_cache: charter_runtime::DEFAULT_SLICE_CACHE,
        }
    }
}

/// Latency figures of one contender.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    /// Decisions timed.
    pub n: usize,
    /// Median, in nanoseconds.
    pub p50_ns: u64,
    /// 99th percentile, in nanoseconds.
    pub p99_ns: u64,
    /// Decisions per second on one thread.
    pub per_sec: f64,
}

impl Stats {
    fn of(mut samples: Vec<u64>) -> Stats {
        if samples.is_empty() {
            return Stats::default();
        }
        let total: u64 = samples.iter().sum();
        samples.sort_unstable();
        let pick = |q: f64| {
            let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
            samples.get(i).copied().unwrap_or(0)
        };
        Stats {
            n: samples.len(),
            p50_ns: pick(0.50),
            p99_ns: pick(0.99),
            per_sec: samples.len() as f64 / (total.max(1) as f64 / 1e9),
        }
    }
}

/// The outcome of a run.
#[derive(Clone, Debug, Default)]
pub struct BenchReport {
    /// The engine, developers in the fact store.
    pub engine: Stats,
    /// The engine, facts carried by each request.
    pub engine_inline: Stats,
    /// The full Cedar set, with `--compare`.
    pub full_cedar: Option<Stats>,
    /// Regorus, with `--compare`.
    pub rego: Option<Stats>,
    /// Requests on which the full set agreed with the engine, out of those timed.
    pub full_agree: (usize, usize),
    /// Fields on which Rego agreed with the engine, out of those checked.
    pub rego_agree: (usize, usize),
    /// Resident memory after loading, in bytes (Linux).
    pub rss_bytes: Option<u64>,
    /// The slice cache after the engine was timed.
    pub slice_cache: charter_runtime::SliceCacheStats,
}

impl BenchReport {
    /// p50 of the full set over p50 of the engine.
    pub fn speedup_vs_full_cedar(&self) -> Option<f64> {
        self.full_cedar
            .as_ref()
            .map(|s| s.p50_ns as f64 / self.engine.p50_ns.max(1) as f64)
    }
    /// p50 of Rego over p50 of the engine.
    pub fn speedup_vs_rego(&self) -> Option<f64> {
        self.rego
            .as_ref()
            .map(|s| s.p50_ns as f64 / self.engine.p50_ns.max(1) as f64)
    }
}

/// Resident memory of this process, from `/proc/self/status`.
pub fn rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Compiles a synthetic bundle of `scenarios` scenarios and makes a request mix for it.
pub fn synthetic(scenarios: usize, requests: usize, seed: u64) -> Result<Workload, String> {
    let opts = SynthOptions {
        scenarios,
        seed,
        ..Default::default()
    };
    let started = Instant::now();
    let built = std::thread::scope(|s| {
        s.spawn(|| {
            charter_compiler::synth::compile(&opts).map_err(|d| {
                format!(
                    "the synthetic bundle does not compile: {}",
                    d.first().map(|d| d.message.clone()).unwrap_or_default()
                )
            })
        })
        .join()
    });
    let bundle = match built {
        Ok(result) => result?,
        Err(_) => return Err("the compiler thread failed".to_string()),
    };
    let compile_time = started.elapsed();
    let (facts, requests) = request_mix(&bundle, requests, seed);
    Ok(Workload {
        loaded: None,
        bundle,
        facts,
        requests,
        compile_time: Some(compile_time),
    })
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> Option<&'a T> {
        let i = self.below(v.len());
        v.get(i)
    }
}

pub use charter_compiler::synth::good_facts;

/// A deterministic mix of requests over a bundle's scopes: mostly requests a scope
/// allows, and denials of every kind (field outside the scope, action not allowed,
/// missing consent, an exit trigger, a developer outside the scenario, a term not in
/// force). Each request has its own developer, kept in the fact store.
pub fn request_mix(
    bundle: &CompiledBundle,
    n: usize,
    seed: u64,
) -> (HashMap<String, Facts>, Vec<Request>) {
    let mut rng = Rng(seed ^ 0x5EED);
    let scopes: Vec<_> = bundle
        .policies
        .iter()
        .filter(|p| p.kind == PolicyKind::Scope)
        .collect();
    let actions: Vec<&String> = bundle.catalog.actions.keys().collect();
    let scenario_names: Vec<&String> = bundle.catalog.scenarios.keys().collect();
    let mut facts = HashMap::new();
    let mut requests = Vec::with_capacity(n);
    for i in 0..n {
        let Some(scope) = rng.pick(&scopes) else {
            break;
        };
        let (Some(s), Some(d)) = (&scope.scenario, &scope.dataset) else {
            continue;
        };
        let (Some(term), Some(ds)) = (
            bundle.catalog.scenarios.get(s),
            bundle.catalog.datasets.get(d),
        ) else {
            continue;
        };
        let in_scope: Vec<&String> = match &scope.fields {
            Some(fs) => fs.iter().collect(),
            None => ds.fields.iter().map(|(f, _)| f).collect(),
        };
        let all_fields: Vec<&String> = ds.fields.iter().map(|(f, _)| f).collect();
        let kind = rng.below(100);
        let k = 1 + rng.below(3);
        let mut fields: Vec<String> = Vec::new();
        for _ in 0..k {
            if let Some(f) = rng.pick(&in_scope) {
                if !fields.contains(f) {
                    fields.push((*f).clone());
                }
            }
        }
        let mut action = scope
            .actions
            .as_ref()
            .and_then(|a| rng.pick(a).cloned())
            .unwrap_or_default();
        let span = (term.term_end - term.term_start).max(1) as usize;
        let mut day = term.term_start + rng.below(span) as i64;
        let mut consent = true;
        let mut dev_scenarios = vec![s.as_str()];
        let mut exit = false;
        match kind {
            60..=69 => {
                if let Some(f) = rng.pick(&all_fields) {
                    if !fields.contains(f) {
                        fields.push((*f).clone());
                    }
                }
            }
            70..=79 => {
                if let Some(a) = rng.pick(&actions) {
                    action = (*a).clone();
                }
            }
            80..=84 => consent = false,
            85..=89 => exit = true,
            90..=94 => {
                dev_scenarios = vec![rng.pick(&scenario_names).map(|x| x.as_str()).unwrap_or("")];
            }
            95..=99 => day = term.term_end + 1 + rng.below(400) as i64,
            _ => {}
        }
        let developer = format!("dev-{i:05}");
        let mut f = good_facts(&bundle.catalog, &dev_scenarios, "2099-12-31");
        if exit {
            f.insert("agreement_breaches".to_string(), json!(1));
            f.insert("legal_violations".to_string(), json!(1));
        }
        facts.insert(developer.clone(), f);
        requests.push(Request {
            developer,
            action,
            dataset: d.clone(),
            fields,
            scenario: s.clone(),
            at: Some(format!("{}T10:00:00+08:00", format_day(day))),
            purpose: Some("基准测试".to_string()),
            consent: Some(Consent {
                granted: consent,
                reference: consent.then(|| format!("SQ-{i:06}")),
            }),
            facts: None,
        });
    }
    (facts, requests)
}

fn same(a: &Decision, b: &Decision) -> bool {
    let ids = |d: &Decision| -> Vec<(String, Effect, Vec<String>)> {
        d.fields
            .iter()
            .map(|f| {
                (
                    f.field.clone(),
                    f.decision,
                    f.reasons.iter().map(|r| r.id.to_string()).collect(),
                )
            })
            .collect()
    };
    a.decision == b.decision && ids(a) == ids(b) && a.errors == b.errors
}

fn time_loop(
    budget: Duration,
    min_passes: usize,
    reqs: usize,
    mut one: impl FnMut(usize) -> u64,
) -> Vec<u64> {
    let mut samples = Vec::new();
    let started = Instant::now();
    let mut i = 0usize;
    // Cap the rounds so a tiny request file does not spin for the whole budget.
    while reqs > 0 && i < 200 * reqs.max(50) {
        if i >= min_passes * reqs && started.elapsed() >= budget {
            break;
        }
        samples.push(one(i % reqs));
        i += 1;
    }
    samples
}

/// Runs the benchmark and writes its report to `out`; the last line is
/// `speedup_vs_full_cedar=<x> speedup_vs_rego=<y>` with `--compare`.
pub fn run(
    work: Workload,
    opts: &BenchOptions,
    out: &mut dyn Write,
) -> Result<BenchReport, String> {
    let io = |e: std::io::Error| e.to_string();
    let policies = work
        .bundle
        .policies
        .iter()
        .filter(|p| p.kind != PolicyKind::Notice)
        .count();
    // Generated on a thread of its own, for the reason `synthetic` compiles on one.
    let rego = if opts.compare {
        let bundle = &work.bundle;
        let generated = std::thread::scope(|s| s.spawn(|| RegoPolicy::generate(bundle)).join());
        Some(generated.map_err(|_| "the Rego generator failed".to_string())??)
    } else {
        None
    };
    let started = Instant::now();
    let name = format!(
        "{} {}",
        work.bundle.manifest.name, work.bundle.manifest.version
    );
    let scenarios = work.bundle.catalog.scenarios.len();
    let catalog = work.bundle.catalog.clone();
    let compiled = work.compile_time.is_some() || work.loaded.as_ref().is_some_and(|l| l.compiled);
    let what = match &work.loaded {
        None => "index",
        Some(l) if l.compiled => "compile and index",
        Some(_) => "read, validate and index",
    };
    let (engine, index_time, rss) = match work.loaded {
        Some(l) => (l.engine, l.time, l.rss_bytes),
        None => {
            let engine = Engine::from_bundle_with(
                work.bundle,
                &charter_runtime::EngineOptions {
                    slice_cache: opts.slice_cache,
                    ..Default::default()
                },
            )
            .map_err(|e| e.to_string())?;
            (engine, started.elapsed(), rss_bytes())
        }
    };
    let reqs = work.requests;
    let fields: usize = reqs.iter().map(|r| r.fields.len().max(1)).sum();
    for (k, v) in &work.facts {
        engine.facts().set(k.clone(), v.clone());
    }
    // Warm up, and count the answers.
    let answers: Vec<Decision> = reqs.iter().map(|r| engine.decide(r)).collect();
    let allowed = answers.iter().filter(|d| d.is_allowed()).count();
    let errors = answers.iter().filter(|d| !d.errors.is_empty()).count();
    writeln!(
        out,
        "bundle   {name}: {scenarios} scenarios, {policies} decision policies; {} requests, {:.1} fields each, {allowed} allowed, {} denied ({errors} with errors)",
        reqs.len(),
        fields as f64 / reqs.len().max(1) as f64,
        reqs.len() - allowed
    )
    .map_err(io)?;
    let compile = work
        .compile_time
        .map(|t| format!("compile {:.2} s, ", t.as_secs_f64()))
        .unwrap_or_default();
    // After an in-process compile the process still holds what the compiler freed;
    // `--bundle bundle.json` measures a loaded bundle alone.
    let with_compiler = if compiled {
        " (the compiler's memory included)"
    } else {
        ""
    };
    let rss_text = rss
        .map(|b| format!(", rss {:.1} MB{with_compiler}", b as f64 / 1_048_576.0))
        .unwrap_or_default();
    writeln!(
        out,
        "load     {compile}{what} {:.2} s{rss_text}",
        index_time.as_secs_f64()
    )
    .map_err(io)?;

    let samples = time_loop(opts.engine_time, 3, reqs.len(), |i| {
        let t = Instant::now();
        let d = reqs.get(i).map(|r| engine.decide(r));
        let ns = t.elapsed().as_nanos() as u64;
        drop(d);
        ns
    });
    let mut report = BenchReport {
        engine: Stats::of(samples),
        rss_bytes: rss,
        ..Default::default()
    };
    line(out, "engine", &report.engine, "facts from the fact store")?;
    report.slice_cache = engine.slice_cache();
    let sc = &report.slice_cache;
    writeln!(
        out,
        "slices   {} of {} held (capacity {}): {} hits, {} misses, {} evictions",
        sc.resident, sc.slices, sc.capacity, sc.hits, sc.misses, sc.evictions,
    )
    .map_err(io)?;
    // The same requests carrying their facts: nothing of the developer is cached.
    let inline: Vec<Request> = reqs
        .iter()
        .map(|r| {
            let mut r = r.clone();
            if r.facts.is_none() {
                r.facts = Some(charter_runtime::RequestFacts {
                    developer: work.facts.get(&r.developer).cloned(),
                });
            }
            r
        })
        .collect();
    let inline_samples = time_loop(opts.engine_time / 2, 1, inline.len(), |i| {
        let t = Instant::now();
        let d = inline.get(i).map(|r| engine.decide(r));
        let ns = t.elapsed().as_nanos() as u64;
        drop(d);
        ns
    });
    report.engine_inline = Stats::of(inline_samples);
    line(
        out,
        "engine",
        &report.engine_inline,
        "facts in each request, nothing cached",
    )?;
    if let Some(rego) = rego {
        // The full set: as many requests as fit in the budget, each checked against the engine.
        let mut agree = (0, 0);
        // The full set is parsed on first use: do that before the clock starts.
        if let Some(r) = reqs.first() {
            engine.decide_with(r, Evaluation::FullSet);
        }
        let full_samples = time_loop(opts.baseline_time, 0, reqs.len(), |i| {
            let Some(r) = reqs.get(i) else { return 0 };
            let t = Instant::now();
            let d = engine.decide_with(r, Evaluation::FullSet);
            let ns = t.elapsed().as_nanos() as u64;
            if i == agree.1 {
                agree.1 += 1;
                if answers.get(i).is_some_and(|a| same(a, &d)) {
                    agree.0 += 1;
                }
            }
            ns
        });
        report.full_cedar = Some(Stats::of(full_samples));
        report.full_agree = agree;
        if let Some(s) = &report.full_cedar {
            line(
                out,
                "full cedar",
                s,
                &format!("same answers {}/{}", agree.0, agree.1),
            )?;
        }

        let mut reg = rego.engine()?;
        let offset = catalog.utc_offset_minutes;
        let mut inputs: Vec<Vec<(String, regorus::Value)>> = Vec::with_capacity(reqs.len());
        for r in &reqs {
            let facts = work.facts.get(&r.developer).cloned().unwrap_or_default();
            let dev = rego.developer_input(&facts);
            let day =
                r.at.as_deref()
                    .and_then(|a| parse_at(a, offset))
                    .unwrap_or(0);
            let consent = r.consent.as_ref().is_some_and(|c| c.granted);
            let purpose = r.purpose.clone().unwrap_or_default();
            inputs.push(
                r.fields
                    .iter()
                    .map(|f| {
                        let v = RegoPolicy::input(
                            &dev,
                            &r.action,
                            &r.dataset,
                            f,
                            &r.scenario,
                            day,
                            consent,
                            &purpose,
                        );
                        (f.clone(), v)
                    })
                    .collect(),
            );
        }
        let mut rego_agree = (0, 0);
        let mut calls = 0usize;
        let mut failure = None;
        let rego_samples = time_loop(opts.baseline_time, 0, reqs.len(), |i| {
            let Some(list) = inputs.get(i) else { return 0 };
            let mut ns = 0u64;
            calls += 1;
            let check = calls <= reqs.len();
            for (field, input) in list {
                let t = Instant::now();
                let v = RegoPolicy::eval(&mut reg, input.clone());
                ns += t.elapsed().as_nanos() as u64;
                match v {
                    Ok(v) if check => {
                        let o = RegoPolicy::outcome(&v);
                        rego_agree.1 += 1;
                        let fd = answers
                            .get(i)
                            .and_then(|a| a.fields.iter().find(|x| &x.field == field));
                        if let Some(fd) = fd {
                            let ids: Vec<String> = {
                                let mut v: Vec<String> =
                                    fd.reasons.iter().map(|r| r.id.to_string()).collect();
                                v.sort();
                                v
                            };
                            let ok = match fd.decision {
                                Effect::Allow => o.allowed() && o.permits == ids,
                                Effect::Deny => !o.allowed() && o.forbids == ids,
                            };
                            if ok {
                                rego_agree.0 += 1;
                            }
                        }
                    }
                    Ok(_) => {}
                    Err(e) => failure = Some(e),
                }
            }
            ns
        });
        if let Some(e) = failure {
            return Err(e);
        }
        report.rego = Some(Stats::of(rego_samples));
        report.rego_agree = rego_agree;
        if let Some(s) = &report.rego {
            line(
                out,
                "rego",
                s,
                &format!("same answers {}/{} fields", rego_agree.0, rego_agree.1),
            )?;
        }
        writeln!(
            out,
            "speedup_vs_full_cedar={:.1} speedup_vs_rego={:.1}",
            report.speedup_vs_full_cedar().unwrap_or(0.0),
            report.speedup_vs_rego().unwrap_or(0.0)
        )
        .map_err(io)?;
    }
    Ok(report)
}

fn fmt_ns(ns: u64) -> String {
    if ns >= 1_000_000 {
        format!("{:.2} ms", ns as f64 / 1e6)
    } else {
        format!("{:.1} µs", ns as f64 / 1e3)
    }
}

fn line(out: &mut dyn Write, who: &str, s: &Stats, extra: &str) -> Result<(), String> {
    writeln!(
        out,
        "{who:<10} p50 {:>9}  p99 {:>9}  {:>10.0} decisions/s  ({} timed{}{extra})",
        fmt_ns(s.p50_ns),
        fmt_ns(s.p99_ns),
        s.per_sec,
        s.n,
        if extra.is_empty() { "" } else { "; " }
    )
    .map_err(|e| e.to_string())
}
