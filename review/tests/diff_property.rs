//! A property of `charter diff`: for random pairs of synthetic bundles (one generated, the
//! other a few random edits of it), every decision that differs between the two on random
//! requests is covered by the report: a changed (scenario, dataset, action, consent) that
//! names the field, a term range holding the day, a scenario in one version only, or a
//! developer condition whose truth changed and that decided one side.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use charter_compiler::synth::{generate, good_facts, SynthOptions};
use charter_compiler::{CompiledBundle, Compiler};
use charter_review::{diff, Report, Side};
use charter_runtime::{Consent, Decision, Effect, Engine, Request, RequestFacts};
use proptest::prelude::*;

/// One edit of the generated sources; `pick` chooses where.
#[derive(Clone, Debug)]
enum Edit {
    DropField(usize),
    DropAction(usize),
    ToggleConsent(usize),
    ShortenTerm(usize),
    ExitOnAnyBreach,
    DropScenarioRequire(usize),
}

fn edit_strategy() -> impl Strategy<Value = Edit> {
    prop_oneof![
        any::<usize>().prop_map(Edit::DropField),
        any::<usize>().prop_map(Edit::DropAction),
        any::<usize>().prop_map(Edit::ToggleConsent),
        any::<usize>().prop_map(Edit::ShortenTerm),
        Just(Edit::ExitOnAnyBreach),
        any::<usize>().prop_map(Edit::DropScenarioRequire),
    ]
}

/// The `pick`-th of the lines that `matches`, rewritten by `f` (or left alone when `f`
/// declines).
fn rewrite_line(
    text: &str,
    pick: usize,
    matches: impl Fn(&str) -> bool,
    f: impl Fn(&str) -> Option<String>,
) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let candidates: Vec<usize> = (0..lines.len()).filter(|&i| matches(lines[i])).collect();
    if candidates.is_empty() {
        return text.to_string();
    }
    let at = candidates[pick % candidates.len()];
    let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    match f(lines[at]) {
        Some(new) if new.is_empty() => {
            out.remove(at);
        }
        Some(new) => out[at] = new,
        None => {}
    }
    out.join("\n") + "\n"
}

fn apply(edit: &Edit, path: &str, text: &str) -> String {
    let scenarios = path.starts_with("scenarios/");
    match edit {
        Edit::DropField(p) if scenarios => rewrite_line(
            text,
            *p,
            |l| l.trim_start().starts_with("use ") && l.contains(", "),
            |l| {
                let (head, rest) = l.split_once('{')?;
                let (fields, tail) = rest.split_once('}')?;
                let kept: Vec<&str> = fields.split(',').map(str::trim).skip(1).collect();
                Some(format!("{head}{{ {} }}{tail}", kept.join(", ")))
            },
        ),
        Edit::DropAction(p) if scenarios => rewrite_line(
            text,
            *p,
            |l| {
                l.split_once(" via ")
                    .is_some_and(|(_, acts)| acts.contains(','))
            },
            |l| {
                let (head, acts) = l.split_once(" via ")?;
                let (acts, consent) = match acts.split_once(" requires") {
                    Some((a, c)) => (a, format!(" requires{c}")),
                    None => (acts, String::new()),
                };
                let kept: Vec<&str> = acts.split(',').map(str::trim).skip(1).collect();
                Some(format!("{head} via {}{consent}", kept.join(", ")))
            },
        ),
        Edit::ToggleConsent(p) if scenarios => rewrite_line(
            text,
            *p,
            |l| l.contains(" via "),
            |l| match l.strip_suffix(" requires consent") {
                Some(without) => Some(without.to_string()),
                None => Some(format!("{l} requires consent")),
            },
        ),
        Edit::ShortenTerm(p) if scenarios => rewrite_line(
            text,
            *p,
            |l| l.trim_start().starts_with("term "),
            |l| {
                let (_, range) = l.split_once("term ")?;
                let (start, _) = range.split_once(" .. ")?;
                let year: i32 = start.get(..4)?.parse().ok()?;
                Some(format!("  term {start} .. {}-01-01", year + 1))
            },
        ),
        Edit::DropScenarioRequire(p) if scenarios => rewrite_line(
            text,
            *p,
            |l| l.trim_start().starts_with("require "),
            |_| Some(String::new()),
        ),
        Edit::ExitOnAnyBreach if path == "rules.charter" => text.replace(
            "developer.agreement_breaches >= 1",
            "developer.agreement_breaches >= 0",
        ),
        _ => text.to_string(),
    }
}

fn compile(files: &[(String, String)]) -> Option<CompiledBundle> {
    let manifest = files
        .iter()
        .find(|(p, _)| p == "charter.toml")
        .map(|(_, t)| t.as_str());
    let sources = files
        .iter()
        .filter(|(p, _)| p != "charter.toml")
        .cloned()
        .collect::<Vec<_>>();
    Compiler::from_sources(manifest, sources)
        .build()
        .ok()
        .map(|(b, _)| b)
}

fn allowed(d: &Decision) -> BTreeSet<String> {
    d.fields
        .iter()
        .filter(|f| f.decision == Effect::Allow)
        .map(|f| f.field.clone())
        .collect()
}

fn rule_ids(d: &Decision) -> BTreeSet<String> {
    d.reasons
        .iter()
        .chain(d.fields.iter().flat_map(|f| f.reasons.iter()))
        .map(|r| r.id.to_string())
        .collect()
}

/// Why the report covers a difference on `req`, or `None`.
fn covered(
    report: &Report,
    req: &Request,
    day: &str,
    fields: &BTreeSet<String>,
    base: &Decision,
    head: &Decision,
) -> Option<&'static str> {
    let s = &req.scenario;
    if report.scenarios.added.contains(s) || report.scenarios.removed.contains(s) {
        return Some("scenario");
    }
    let in_range = report.terms.iter().filter(|t| &t.scenario == s).any(|t| {
        t.ranges
            .iter()
            .any(|r| r.from.as_str() <= day && day <= r.to.as_str())
    });
    if in_range {
        return Some("term");
    }
    let consent = req.consent.is_some();
    let named: BTreeSet<&String> = report
        .decisions
        .iter()
        .filter(|c| {
            &c.scenario == s
                && c.dataset == req.dataset
                && c.action == req.action
                && c.consent == consent
        })
        .flat_map(|c| c.gained.iter().chain(&c.lost))
        .collect();
    if !fields.is_empty() && fields.iter().all(|f| named.contains(f)) {
        return Some("decisions");
    }
    let deciding: BTreeSet<String> = rule_ids(base).union(&rule_ids(head)).cloned().collect();
    if report
        .conditions
        .iter()
        .any(|c| deciding.contains(&c.rule.id))
    {
        return Some("condition");
    }
    None
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn every_differing_decision_is_in_the_report(
        seed in 1u64..10_000,
        edits in prop::collection::vec(edit_strategy(), 1..4),
        picks in prop::collection::vec((any::<usize>(), any::<usize>(), any::<usize>(), any::<bool>(), 0i64..(5 * 365)), 150),
    ) {
        let opts = SynthOptions { scenarios: 8, datasets: 6, fields_per_dataset: 5, scenarios_per_file: 8, seed };
        let base_files: Vec<(String, String)> = generate(&opts).into_iter().map(|f| (f.path, f.text)).collect();
        let mut head_files = base_files.clone();
        for e in &edits {
            for (path, text) in &mut head_files {
                *text = apply(e, path, text);
            }
        }
        let base = compile(&base_files).expect("the generated bundle compiles");
        // An edit may leave a bundle the compiler refuses (a scope with no action left):
        // that pair is not a review.
        let head = compile(&head_files);
        prop_assume!(head.is_some());
        let head = head.unwrap();
        let report = diff(
            &Side { spec: "base".into(), bundle: base.clone() },
            &Side { spec: "head".into(), bundle: head.clone() },
        ).unwrap();

        let (eb, eh) = (Engine::from_bundle(base).unwrap(), Engine::from_bundle(head).unwrap());
        let (cb, ch) = (eb.catalog(), eh.catalog());
        let scenarios: Vec<String> = cb.scenarios.keys().chain(ch.scenarios.keys()).cloned().collect::<BTreeSet<_>>().into_iter().collect();
        let datasets: Vec<String> = cb.datasets.keys().cloned().collect();
        let actions: Vec<String> = cb.actions.keys().cloned().collect();
        let mut differing = 0;
        for (s, d, a, consent, offset) in picks {
            let scenario = &scenarios[s % scenarios.len()];
            let day = charter_runtime::time::format_day(
                charter_runtime::time::parse_at("2026-01-01", 480).unwrap() + offset,
            );
            let facts = good_facts(&cb, &[scenario.as_str()], "2031-12-31");
            let req = Request {
                developer: "dev-1".into(),
                action: actions[a % actions.len()].clone(),
                dataset: datasets[d % datasets.len()].clone(),
                scenario: scenario.clone(),
                at: Some(day.clone()),
                consent: consent.then(|| Consent { granted: true, reference: Some("SQ-1".into()) }),
                facts: Some(RequestFacts { developer: Some(facts) }),
                ..Request::default()
            };
            let (b, h) = (eb.decide(&req), eh.decide(&req));
            let (ab, ah) = (allowed(&b), allowed(&h));
            if ab == ah && b.decision == h.decision {
                continue;
            }
            differing += 1;
            let fields: BTreeSet<String> = ab.symmetric_difference(&ah).cloned().collect();
            prop_assert!(
                covered(&report, &req, &day, &fields, &b, &h).is_some(),
                "not in the report: {req:?} on {day}: base allows {ab:?}, head {ah:?}\nedits {edits:?}\nreport {}",
                report.text()
            );
        }
        // A pair with impact says so.
        if differing > 0 {
            prop_assert!(report.impact);
        }
    }
}
