//! `charter decide`, `charter sweep` and `charter bench`: the runtime from the command line.
//!
//! Exit codes: `decide` on one request 0 allow, 1 deny; on stdin 0 once every line is
//! answered. `sweep` 0 when nothing fires, 1 when a trigger fires or a developer cannot
//! be swept. Every command: 2 for usage, I/O or a bundle that does not load.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use charter_bench::{self as bench, BenchOptions, Workload};
use charter_compiler::lower::Catalog;
use charter_runtime::{
    read_facts_file, read_source, source_of, Decision, Effect, Engine, Reason, Request, SweepReport,
};

use crate::Format;

fn load(bundle: &Path, facts: Option<&Path>, verify_keys: &[PathBuf]) -> Result<Engine, u8> {
    let options = charter_runtime::EngineOptions {
        verify_keys: crate::sign_cmd::read_verify_keys(verify_keys)?,
        ..Default::default()
    };
    let engine = Engine::load_with(bundle, &options).map_err(|e| {
        eprintln!("{:?}", miette::Report::new(e));
        2
    })?;
    if let Some(f) = facts {
        engine.facts().load_file(f).map_err(|e| {
            eprintln!("{:?}", miette::Report::new(e));
            2
        })?;
    }
    Ok(engine)
}

/// `charter decide`.
pub fn decide(
    bundle: &Path,
    request: Option<&Path>,
    facts: Option<&Path>,
    format: Option<Format>,
    verify_keys: &[PathBuf],
) -> u8 {
    let engine = match load(bundle, facts, verify_keys) {
        Ok(e) => e,
        Err(code) => return code,
    };
    let catalog = engine.catalog();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match request {
        Some(path) => {
            let text = match std::fs::read_to_string(path) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("error: cannot read `{}`: {e}", path.display());
                    return 2;
                }
            };
            let d = engine.decide_json(&text);
            let written = match format.unwrap_or(Format::Human) {
                Format::Json => serde_json::to_string_pretty(&d)
                    .map_err(std::io::Error::other)
                    .and_then(|s| writeln!(out, "{s}")),
                Format::Human => write!(out, "{}", human_decision(&d, &catalog)),
            };
            if written.is_err() {
                return 2;
            }
            if d.is_allowed() {
                0
            } else {
                1
            }
        }
        None => {
            // A batch: JSON lines in, JSON lines out, one answer per non-empty line.
            let format = format.unwrap_or(Format::Json);
            for line in std::io::stdin().lock().lines() {
                let line = match line {
                    Ok(l) => l,
                    Err(e) => {
                        eprintln!("error: cannot read standard input: {e}");
                        return 2;
                    }
                };
                if line.trim().is_empty() {
                    continue;
                }
                let d = engine.decide_json(&line);
                let written = match format {
                    Format::Json => serde_json::to_string(&d)
                        .map_err(std::io::Error::other)
                        .and_then(|s| writeln!(out, "{s}")),
                    Format::Human => writeln!(out, "{}", human_decision(&d, &catalog)),
                };
                if written.is_err() {
                    return 2;
                }
            }
            0
        }
    }
}

/// `charter sweep`.
pub fn sweep(bundle: &Path, facts: &Path, at: Option<&str>, format: Format) -> u8 {
    let engine = match load(bundle, None, &[]) {
        Ok(e) => e,
        Err(code) => return code,
    };
    let all = match read_facts_file(facts) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{:?}", miette::Report::new(e));
            return 2;
        }
    };
    let mut ids: Vec<&String> = all.keys().collect();
    ids.sort();
    let reports: Vec<SweepReport> = ids
        .iter()
        .map(|id| engine.sweep(id, all.get(*id), at))
        .collect();
    let catalog = engine.catalog();
    let text = match format {
        Format::Json => serde_json::to_string_pretty(&reports).unwrap_or_default() + "\n",
        Format::Human => reports.iter().map(|r| human_sweep(r, &catalog)).collect(),
    };
    if std::io::stdout().write_all(text.as_bytes()).is_err() {
        return 2;
    }
    if reports
        .iter()
        .any(|r| !r.triggers.is_empty() || !r.errors.is_empty())
    {
        1
    } else {
        0
    }
}

/// Options of `charter bench`.
#[derive(clap::Args)]
pub struct BenchArgs {
    /// A synthetic bundle of N scenarios.
    #[arg(long, conflicts_with = "bundle")]
    pub synthetic: Option<usize>,
    /// A bundle: a source folder, a folder holding bundle.json, or bundle.json.
    #[arg(long)]
    pub bundle: Option<PathBuf>,
    /// Requests to time (JSON lines or a JSON array); default: a generated mix.
    #[arg(long, requires = "bundle")]
    pub requests: Option<PathBuf>,
    /// Facts for those requests.
    #[arg(long, requires = "bundle")]
    pub facts: Option<PathBuf>,
    /// Requests in the generated mix.
    #[arg(long, default_value_t = 1000)]
    pub count: usize,
    /// Also time the full Cedar policy set and an equivalent Rego policy (regorus).
    #[arg(long)]
    pub compare: bool,
    /// Seconds to time the engine.
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,
    /// Seed of the request mix.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Per-scenario policy sets the engine keeps parsed (a miss parses one).
    #[arg(long, default_value_t = charter_runtime::DEFAULT_SLICE_CACHE)]
    pub slice_cache: usize,
}

fn read_requests(path: &Path) -> Result<Vec<Request>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    if text.trim_start().starts_with('[') {
        return serde_json::from_str(&text)
            .map_err(|e| format!("`{}` is not a list of requests: {e}", path.display()));
    }
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| {
                format!(
                    "line {} of `{}` is not a request: {e}",
                    i + 1,
                    path.display()
                )
            })
        })
        .collect()
}

/// `charter bench`.
pub fn bench(args: BenchArgs) -> u8 {
    let work = match (&args.synthetic, &args.bundle) {
        (Some(n), None) => {
            eprintln!("compiling a synthetic bundle of {n} scenarios…");
            bench::synthetic(*n, args.count, args.seed)
        }
        // The engine is loaded first, as `charter serve` loads it, so the memory it
        // reports is that of a loaded bundle and not of the workload read after.
        (None, Some(b)) => bench::Loaded::load(
            b,
            &charter_runtime::EngineOptions {
                slice_cache: args.slice_cache,
                ..Default::default()
            },
        )
        .and_then(|loaded| {
            read_source(&source_of(b))
                .map_err(|e| e.to_string())
                .map(|bundle| (loaded, bundle))
        })
        .and_then(|(loaded, bundle)| {
            let (mut facts, mut requests) = bench::request_mix(&bundle, args.count, args.seed);
            if let Some(r) = &args.requests {
                requests = read_requests(r)?;
                facts.clear();
            }
            if let Some(f) = &args.facts {
                facts = read_facts_file(f).map_err(|e| e.to_string())?;
            }
            Ok(Workload {
                loaded: Some(loaded),
                bundle,
                facts,
                requests,
                compile_time: None,
            })
        }),
        _ => Err("give either `--synthetic N` or `--bundle B`".to_string()),
    };
    let work = match work {
        Ok(w) => w,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let opts = BenchOptions {
        compare: args.compare,
        engine_time: Duration::from_secs_f64(args.seconds.max(0.1)),
        slice_cache: args.slice_cache,
        ..Default::default()
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match bench::run(work, &opts, &mut out) {
        Ok(_) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            2
        }
    }
}

fn title_of<'a>(
    map: &'a std::collections::BTreeMap<String, charter_compiler::lower::Titled>,
    k: &str,
) -> &'a str {
    map.get(k).and_then(|t| t.title.as_deref()).unwrap_or("")
}

fn reason_line(verb: &str, r: &Reason) -> String {
    let mut s = format!("{verb} {}", r.id);
    if let Some(t) = &r.title {
        s.push_str(&format!("「{t}」"));
    }
    if let Some(a) = &r.article {
        s.push_str(&format!(" {a}"));
    }
    s.push_str(&format!("  ({})", r.source));
    if !r.measures.is_empty() {
        s.push_str(&format!("  措施 measures: {}", r.measures.join(", ")));
    }
    s
}

/// A decision for people: Chinese titles, the rule and article behind each answer.
pub fn human_decision(d: &Decision, catalog: &Catalog) -> String {
    let mut s = String::new();
    let verdict = match d.decision {
        Effect::Allow => "允许 allow",
        Effect::Deny => "拒绝 deny",
    };
    let dataset_title = catalog
        .datasets
        .get(&d.dataset)
        .and_then(|x| x.title.clone())
        .unwrap_or_default();
    s.push_str(&format!(
        "{verdict}: {} · {} {} · {} {} · 场景「{}」 · {}\n",
        d.developer,
        d.action,
        title_of(&catalog.actions, &d.action),
        d.dataset,
        dataset_title,
        d.scenario,
        d.day
    ));
    for f in &d.fields {
        let ftitle = catalog
            .datasets
            .get(&d.dataset)
            .and_then(|x| x.fields.iter().find(|(n, _)| n == &f.field))
            .and_then(|(_, c)| c.title.clone())
            .unwrap_or_default();
        let mark = if f.decision == Effect::Allow {
            "✓"
        } else {
            "✗"
        };
        let grade = f
            .grade
            .as_deref()
            .map(|g| format!(" [{g}]"))
            .unwrap_or_default();
        s.push_str(&format!("  {mark} {} {ftitle}{grade}\n", f.field));
        for r in &f.reasons {
            let verb = if f.decision == Effect::Allow {
                "依据 permit"
            } else {
                "禁止 forbid"
            };
            s.push_str(&format!("      {}\n", reason_line(verb, r)));
        }
        for w in &f.why_not {
            let at = w
                .policy
                .as_ref()
                .map(|p| format!("  [{p} {}]", w.source.as_deref().unwrap_or("")))
                .unwrap_or_default();
            s.push_str(&format!("      未允许 why not: {}{at}\n", w.message));
        }
    }
    for n in &d.notices {
        s.push_str(&format!("  {}\n", reason_line("提示 notice", n)));
    }
    for e in &d.errors {
        s.push_str(&format!(
            "  错误 error [{}]: {}\n",
            serde_json::to_value(e.code)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default(),
            e.message
        ));
    }
    if let Some(c) = &d.consent_reference {
        s.push_str(&format!("  授权记录 consent: {c}\n"));
    }
    s.push_str(&format!(
        "  bundle {} {} {} · decision {}\n",
        d.bundle.name, d.bundle.version, d.bundle.hash, d.decision_id
    ));
    s
}

/// A sweep report for people.
pub fn human_sweep(r: &SweepReport, catalog: &Catalog) -> String {
    let mut s = String::new();
    let state = if !r.errors.is_empty() {
        "无法检查 error"
    } else if r.triggers.is_empty() {
        "正常 clear"
    } else {
        "触发 fired"
    };
    s.push_str(&format!("{}: {state} · {}\n", r.developer, r.day));
    for t in &r.triggers {
        s.push_str(&format!(
            "  {}\n",
            reason_line(&format!("{} {}", t.kind, "trigger"), t)
        ));
    }
    if !r.measures.is_empty() {
        let named: Vec<String> = r
            .measures
            .iter()
            .map(|m| {
                format!("{m} {}", title_of(&catalog.measures, m))
                    .trim()
                    .to_string()
            })
            .collect();
        s.push_str(&format!("  应采取措施 measures: {}\n", named.join("、")));
    }
    for n in &r.notices {
        s.push_str(&format!("  {}\n", reason_line("提示 notice", n)));
    }
    for e in &r.errors {
        s.push_str(&format!("  错误 error: {}\n", e.message));
    }
    s
}
