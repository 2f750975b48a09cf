//! `charter-review`: what a change to a bundle's rules changes — the rule changes by
//! id, field grade changes, and the decision impact: every (scenario, dataset, action,
//! consent) whose allowed fields differ, decided by each version's own engine; the days
//! on which a changed term makes decisions differ; and every developer condition whose
//! truth changes on the boundary values of the constants its facts are compared with.
//!
//! The finite part (scenarios, datasets, fields, actions, consent, terms) is exact: the
//! only permits are scopes, so a (scenario, dataset) without a scope in either version
//! allows nothing in both, and every other one is asked of both engines. Developer
//! conditions are sampled, and the report says at which values.

// Library code indexes and slices only through `get`: a bad index on input is an
// error to report, never a panic. Tests may index (a panic there is a failed test).
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::string_slice))]

mod conditions;
mod load;
mod replay;
mod report;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use charter_bundle::{CompiledBundle, CompiledPolicy, PolicyKind, SourceLoc};
use charter_runtime::time::{format_day, today};
use charter_runtime::{Consent, Engine, Request, RequestFacts};
use serde_json::{Map, Value as Json};

pub use conditions::{is_condition, FactRow, MAX_SAMPLES};
pub use load::{load_side, Side};
pub use replay::{
    compare, replay, Cause, Change, Comparison, DecidedUnder, ReplayExample, ReplayGroup,
    ReplayOptions, ReplayReport, Skipped,
};
pub use report::*;

use conditions::{sample_rows, Conditions, Space};

/// Why a review could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// A side could not be read.
    #[error("cannot read `{spec}`: {message}")]
    Read {
        /// The side as written.
        spec: String,
        /// Why.
        message: String,
    },
    /// A side's source does not compile.
    #[error("`{spec}` does not compile ({} errors)", diagnostics.len())]
    Compile {
        /// The side as written.
        spec: String,
        /// Its error diagnostics, `file:line: error[CODE]: message`.
        diagnostics: Vec<String>,
    },
    /// A git revision could not be read.
    #[error("cannot read the git revision `{spec}`: {message}")]
    Git {
        /// The side as written.
        spec: String,
        /// Why.
        message: String,
    },
    /// A side's bundle could not be loaded into an engine or its Cedar read.
    #[error("cannot load `{spec}`: {message}")]
    Load {
        /// The side as written.
        spec: String,
        /// Why.
        message: String,
    },
}

/// Reads both sides and compares them.
pub fn diff_specs(base: &str, head: &str) -> Result<Report, ReviewError> {
    let base = load_side(base)?;
    let head = load_side(head)?;
    diff(&base, &head)
}

fn info(s: &Side) -> SideInfo {
    SideInfo {
        spec: s.spec.clone(),
        name: s.bundle.manifest.name.clone(),
        version: s.bundle.manifest.version.clone(),
        hash: s.bundle.manifest.hash.clone(),
    }
}

fn rule_ref(p: &CompiledPolicy) -> RuleRef {
    RuleRef {
        id: p.id.clone(),
        kind: p.kind.as_str().to_string(),
        title: p.title.clone(),
        article: p.article.clone(),
        source: format!("{}:{}", p.source.file, p.source.line),
    }
}

fn rule_changes(base: &CompiledBundle, head: &CompiledBundle) -> RuleChanges {
    let b: BTreeMap<&str, &CompiledPolicy> =
        base.policies.iter().map(|p| (p.id.as_str(), p)).collect();
    let h: BTreeMap<&str, &CompiledPolicy> =
        head.policies.iter().map(|p| (p.id.as_str(), p)).collect();
    let mut out = RuleChanges::default();
    for (id, hp) in &h {
        let Some(bp) = b.get(id) else {
            out.added.push(rule_ref(hp));
            continue;
        };
        let mut changed = Vec::new();
        let mut check = |name: &str, same: bool| {
            if !same {
                changed.push(name.to_string());
            }
        };
        check("kind", bp.kind == hp.kind);
        check("rule", bp.rule == hp.rule);
        check("title", bp.title == hp.title);
        check("article", bp.article == hp.article);
        check("scenario", bp.scenario == hp.scenario);
        check("dataset", bp.dataset == hp.dataset);
        check("actions", bp.actions == hp.actions);
        check("fields", bp.fields == hp.fields);
        check(
            "requires_consent",
            bp.requires_consent == hp.requires_consent,
        );
        check("allows", bp.allows == hp.allows);
        check("measures", bp.measures == hp.measures);
        check("reads", bp.reads == hp.reads);
        check("cedar", bp.cedar == hp.cedar);
        if !changed.is_empty() {
            out.changed.push(RuleChange {
                rule: rule_ref(hp),
                base_source: format!("{}:{}", bp.source.file, bp.source.line),
                changed,
            });
        }
    }
    out.removed = b
        .iter()
        .filter(|(id, _)| !h.contains_key(*id))
        .map(|(_, p)| rule_ref(p))
        .collect();
    out
}

fn field_changes(base: &CompiledBundle, head: &CompiledBundle) -> Vec<FieldChange> {
    let mut out = Vec::new();
    for (name, hd) in &head.catalog.datasets {
        let Some(bd) = base.catalog.datasets.get(name) else {
            continue;
        };
        let bf: BTreeMap<&str, &str> = bd
            .fields
            .iter()
            .map(|(f, c)| (f.as_str(), c.grade_name.as_str()))
            .collect();
        let hf: BTreeMap<&str, &str> = hd
            .fields
            .iter()
            .map(|(f, c)| (f.as_str(), c.grade_name.as_str()))
            .collect();
        let all: BTreeSet<&str> = bf.keys().chain(hf.keys()).copied().collect();
        for f in all {
            let (b, h) = (bf.get(f), hf.get(f));
            if b != h {
                out.push(FieldChange {
                    dataset: name.clone(),
                    field: f.to_string(),
                    base: b.map(|s| s.to_string()),
                    head: h.map(|s| s.to_string()),
                });
            }
        }
    }
    out
}

fn names<'a, V>(b: &'a BTreeMap<String, V>, h: &'a BTreeMap<String, V>) -> Names {
    Names {
        added: h.keys().filter(|k| !b.contains_key(*k)).cloned().collect(),
        removed: b.keys().filter(|k| !h.contains_key(*k)).cloned().collect(),
    }
}

/// A policy without its position, so that moving a rule in its file is no change.
fn placeless(p: &CompiledPolicy) -> CompiledPolicy {
    let mut p = p.clone();
    p.source = SourceLoc {
        file: String::new(),
        line: 0,
        column: 0,
    };
    p
}

/// Everything a decision in `scenario` on `dataset` depends on besides the global part.
fn slice_print(b: &CompiledBundle, scenario: &str, dataset: &str) -> String {
    let policies: Vec<CompiledPolicy> = b
        .policies
        .iter()
        .filter(|p| {
            p.scenario.as_deref() == Some(scenario)
                && (p.kind != PolicyKind::Scope || p.dataset.as_deref() == Some(dataset))
        })
        .map(placeless)
        .collect();
    serde_json::to_string(&(
        policies,
        b.catalog.scenarios.get(scenario),
        b.catalog.datasets.get(dataset),
    ))
    .unwrap_or_default()
}

/// Everything every decision depends on: the global policies and the vocabulary.
fn global_print(b: &CompiledBundle) -> String {
    let policies: Vec<CompiledPolicy> = b
        .policies
        .iter()
        .filter(|p| p.scenario.is_none())
        .map(placeless)
        .collect();
    let c = &b.catalog;
    serde_json::to_string(&(
        policies,
        &c.grades,
        &c.actions,
        &c.facts,
        &c.consent_tags,
        c.utc_offset_minutes,
        &b.manifest.namespace,
    ))
    .unwrap_or_default()
}

struct Decider<'a> {
    bundle: &'a CompiledBundle,
    engine: Engine,
    errors: &'a std::cell::RefCell<BTreeSet<String>>,
    which: &'static str,
}

impl Decider<'_> {
    /// The fields allowed; nothing when the version lacks the scenario, dataset or
    /// action (its engine would deny them as unknown).
    fn allowed(
        &self,
        scenario: &str,
        dataset: &str,
        action: &str,
        consent: bool,
        day: i64,
        row: &FactRow,
    ) -> BTreeSet<String> {
        let c = &self.bundle.catalog;
        let Some(ds) = c.datasets.get(dataset) else {
            return BTreeSet::new();
        };
        if !c.scenarios.contains_key(scenario) || !c.actions.contains_key(action) {
            return BTreeSet::new();
        }
        let req = Request {
            developer: "charter-diff".into(),
            action: action.into(),
            dataset: dataset.into(),
            fields: ds.fields.iter().map(|(f, _)| f.clone()).collect(),
            scenario: scenario.into(),
            at: Some(format_day(day)),
            consent: consent.then(|| Consent {
                granted: true,
                reference: Some("charter-diff".into()),
            }),
            facts: Some(RequestFacts {
                developer: Some(row.clone()),
            }),
            ..Default::default()
        };
        let d = self.engine.decide(&req);
        if !d.errors.is_empty() {
            let mut errors = self.errors.borrow_mut();
            for e in &d.errors {
                errors.insert(format!("{}: {}", self.which, e.message));
            }
        }
        d.fields
            .iter()
            .filter(|f| f.decision == charter_runtime::Effect::Allow)
            .map(|f| f.field.clone())
            .collect()
    }
}

fn engine(side: &Side) -> Result<Engine, ReviewError> {
    Engine::from_bundle(side.bundle.clone()).map_err(|e| ReviewError::Load {
        spec: side.spec.clone(),
        message: e.to_string(),
    })
}

fn diff_set(a: &BTreeSet<String>, b: &BTreeSet<String>) -> Vec<String> {
    a.difference(b).cloned().collect()
}

/// Compares two versions.
pub fn diff(base: &Side, head: &Side) -> Result<Report, ReviewError> {
    let (b, h) = (&base.bundle, &head.bundle);
    let cond = |s: &Side| {
        Conditions::of(&s.bundle).map_err(|message| ReviewError::Load {
            spec: s.spec.clone(),
            message,
        })
    };
    let (bc, hc) = (cond(base)?, cond(head)?);
    let all_scenarios: Vec<String> = b
        .catalog
        .scenarios
        .keys()
        .chain(h.catalog.scenarios.keys())
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let space = Space::new(&bc, &hc, all_scenarios.clone());
    let errors = std::cell::RefCell::new(BTreeSet::new());
    let deciders = [
        Decider {
            bundle: b,
            engine: engine(base)?,
            errors: &errors,
            which: "BASE",
        },
        Decider {
            bundle: h,
            engine: engine(head)?,
            errors: &errors,
            which: "HEAD",
        },
    ];
    let mut rows: HashMap<i64, FactRow> = HashMap::new();
    let mut blocking: BTreeSet<String> = BTreeSet::new();
    let mut row_at = |day: i64| -> FactRow {
        rows.entry(day)
            .or_insert_with(|| {
                let (row, failing) = space.passing_row(day);
                blocking.extend(failing);
                row
            })
            .clone()
    };

    // The (scenario, dataset) pairs some scope of either version covers.
    let mut pairs: BTreeSet<(String, String)> = BTreeSet::new();
    for p in b.policies.iter().chain(&h.policies) {
        if let (PolicyKind::Scope, Some(s), Some(d)) = (p.kind, &p.scenario, &p.dataset) {
            pairs.insert((s.clone(), d.clone()));
        }
    }
    let actions: BTreeSet<&String> = b
        .catalog
        .actions
        .keys()
        .chain(h.catalog.actions.keys())
        .collect();
    let globals_same = global_print(b) == global_print(h);

    let term = |bundle: &CompiledBundle, s: &str| {
        bundle
            .catalog
            .scenarios
            .get(s)
            .map(|c| (c.term_start, c.term_end))
    };
    let mut decisions = Vec::new();
    let (mut decided, mut identical) = (0usize, 0usize);
    for (scenario, dataset) in &pairs {
        let day = match (term(b, scenario), term(h, scenario)) {
            (Some((bs, be)), Some((hs, he))) => {
                let (from, to) = (bs.max(hs), be.min(he));
                if from > to {
                    // No day is in force in both: the term change says it all.
                    continue;
                }
                from
            }
            (Some((s, _)), None) | (None, Some((s, _))) => s,
            (None, None) => continue,
        };
        if globals_same && slice_print(b, scenario, dataset) == slice_print(h, scenario, dataset) {
            identical += actions.len() * 2;
            continue;
        }
        let row = row_at(day);
        for action in &actions {
            for consent in [false, true] {
                decided += 1;
                let [db, dh] = deciders
                    .each_ref()
                    .map(|d| d.allowed(scenario, dataset, action, consent, day, &row));
                if db != dh {
                    decisions.push(DecisionChange {
                        scenario: scenario.clone(),
                        dataset: dataset.clone(),
                        action: (*action).clone(),
                        consent,
                        day: format_day(day),
                        gained: diff_set(&dh, &db),
                        lost: diff_set(&db, &dh),
                    });
                }
            }
        }
    }

    // Terms: the days on which one version is in force and the other is not.
    let mut terms = Vec::new();
    for (scenario, hs) in &h.catalog.scenarios {
        let Some(bs) = b.catalog.scenarios.get(scenario) else {
            continue;
        };
        if (bs.term_start, bs.term_end) == (hs.term_start, hs.term_end) {
            continue;
        }
        let mut ranges = Vec::new();
        for (which, (s, e), (os, oe)) in [
            (
                0usize,
                (bs.term_start, bs.term_end),
                (hs.term_start, hs.term_end),
            ),
            (
                1,
                (hs.term_start, hs.term_end),
                (bs.term_start, bs.term_end),
            ),
        ] {
            let mut spans = Vec::new();
            let before_end = e.min(os.saturating_sub(1));
            if s <= before_end {
                spans.push((s, before_end));
            }
            let after_start = s.max(oe.saturating_add(1));
            if after_start <= e && (spans.is_empty() || after_start > before_end) {
                spans.push((after_start, e));
            }
            let Some(decider) = deciders.get(which) else {
                continue;
            };
            for (from, to) in spans {
                let row = row_at(from);
                let mut allowed = Vec::new();
                for (ps, dataset) in &pairs {
                    if ps != scenario {
                        continue;
                    }
                    for action in &actions {
                        for consent in [false, true] {
                            decided += 1;
                            let fields =
                                decider.allowed(scenario, dataset, action, consent, from, &row);
                            if !fields.is_empty() {
                                allowed.push(Allowed {
                                    dataset: dataset.clone(),
                                    action: (*action).clone(),
                                    consent,
                                    fields: fields.into_iter().collect(),
                                });
                            }
                        }
                    }
                }
                ranges.push(TermRange {
                    from: format_day(from),
                    to: format_day(to),
                    in_force: if which == 0 { "base" } else { "head" }.to_string(),
                    allowed,
                });
            }
        }
        terms.push(TermChange {
            scenario: scenario.clone(),
            base: bs.term.clone(),
            head: hs.term.clone(),
            ranges,
        });
    }

    // Developer conditions, at one day: the first day some scenario is in force in both.
    let condition_day = h
        .catalog
        .scenarios
        .iter()
        .filter_map(|(s, c)| {
            let bt = b.catalog.scenarios.get(s)?;
            let from = c.term_start.max(bt.term_start);
            (from <= c.term_end.min(bt.term_end)).then_some(from)
        })
        .min()
        .or_else(|| h.catalog.scenarios.values().map(|c| c.term_start).min())
        .or_else(|| b.catalog.scenarios.values().map(|c| c.term_start).min())
        .unwrap_or_else(|| today(h.catalog.utc_offset_minutes));
    let base_row = row_at(condition_day);
    let mut conditions = Vec::new();
    let mut cut = Vec::new();
    let ids: BTreeSet<&String> = bc.by_id.keys().chain(hc.by_id.keys()).collect();
    for id in ids {
        let (cb, ch) = (bc.by_id.get(id), hc.by_id.get(id));
        if let (Some(x), Some(y)) = (cb, ch) {
            if x.cedar == y.cedar && x.facts == y.facts && x.kind == y.kind {
                continue;
            }
        }
        let facts: Vec<String> = cb
            .iter()
            .chain(ch.iter())
            .flat_map(|c| c.facts.iter().cloned())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let (samples, was_cut) = sample_rows(&space, &facts, &base_row, condition_day);
        if was_cut {
            cut.push(id.clone());
        }
        let fires =
            |side: &Conditions, c: Option<&conditions::Cond>, row: &FactRow, which: &str| {
                c.map_or(Some(false), |c| match side.fires(c, row, condition_day) {
                    Ok(f) => Some(f),
                    Err(e) => {
                        errors.borrow_mut().insert(format!("{which}: {e}"));
                        None
                    }
                })
            };
        let mut first: Option<(FactRow, bool, bool)> = None;
        let mut differing = 0usize;
        let mut values = Vec::new();
        for row in &samples {
            let (Some(fb), Some(fh)) = (fires(&bc, cb, row, "BASE"), fires(&hc, ch, row, "HEAD"))
            else {
                continue;
            };
            if fb != fh {
                differing += 1;
                if let [only] = facts.as_slice() {
                    values.extend(row.get(only).cloned());
                }
                if first.is_none() {
                    first = Some((row.clone(), fb, fh));
                }
            }
        }
        let Some((row, base_fires, head_fires)) = first else {
            continue;
        };
        let Some(policy) = h.policies.iter().chain(&b.policies).find(|p| &p.id == id) else {
            continue;
        };
        let example: Map<String, Json> = facts
            .iter()
            .filter_map(|f| row.get(f).map(|v| (f.clone(), v.clone())))
            .collect();
        conditions.push(ConditionChange {
            rule: rule_ref(policy),
            example,
            base_fires,
            head_fires,
            sampled: samples.len(),
            differing,
            differing_values: values,
        });
    }

    let sampled_values: Map<String, Json> = space
        .facts
        .keys()
        .filter(|f| *f != "scenarios")
        .map(|f| (f.clone(), Json::Array(space.candidates(f, condition_day))))
        .collect();
    let impact = !(decisions.is_empty() && terms.is_empty() && conditions.is_empty());
    let coverage = Coverage {
        decisions: decided,
        identical_slices: identical,
        condition_day: format_day(condition_day),
        sampled_values,
        fact_row: base_row,
        blocking: blocking.into_iter().collect(),
        cut,
        errors: errors.into_inner().into_iter().collect(),
    };
    Ok(Report {
        base: info(base),
        head: info(head),
        impact,
        rules: rule_changes(b, h),
        fields: field_changes(b, h),
        scenarios: names(&b.catalog.scenarios, &h.catalog.scenarios),
        datasets: names(&b.catalog.datasets, &h.catalog.datasets),
        decisions,
        terms,
        conditions,
        coverage,
    })
}
