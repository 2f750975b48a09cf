//! Developer conditions (admission, eligibility, exit, suspend, notice): the constants
//! each fact is compared against, read from the policy's Cedar JSON form (EST); the
//! boundary values around them; each condition evaluated alone through Cedar on a fact
//! row; and a fact row that passes every condition of both versions, which the decision
//! impact is computed with.
//!
//! Evaluation is Cedar's own, one policy at a time, on a developer entity built from the
//! facts the way the runtime builds it (dates as day numbers, `scenarios` as parents).
//! The end-to-end tests check it only through the reports; a test against the engine's
//! sweep on the same rows is still to be written.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::str::FromStr;

use cedar_policy::{
    Authorizer, Context, Decision, Entities, Entity, EntityId, EntityTypeName, EntityUid, Policy,
    PolicyId, PolicySet, Request, RestrictedExpression,
};
use charter_bundle::{CompiledBundle, PolicyKind};
use charter_runtime::time::{format_day, parse_date};
use serde_json::{json, Map, Value as Json};

/// A fact row: fact name to its value as a request carries it.
pub type FactRow = Map<String, Json>;

/// The policy kinds whose truth depends on a developer's facts.
pub fn is_condition(kind: PolicyKind) -> bool {
    matches!(
        kind,
        PolicyKind::Admission
            | PolicyKind::Eligibility
            | PolicyKind::Exit
            | PolicyKind::Suspend
            | PolicyKind::Notice
    )
}

/// One condition of one version, parsed.
pub(crate) struct Cond {
    pub id: String,
    pub kind: PolicyKind,
    pub facts: Vec<String>,
    pub cedar: String,
    scenario: Option<String>,
    policy: Policy,
}

/// The conditions of one version and what evaluating them needs.
pub(crate) struct Conditions {
    ns: String,
    fact_types: BTreeMap<String, String>,
    pub by_id: BTreeMap<String, Cond>,
}

/// What a comparison in some condition says about a fact.
#[derive(Default, Clone, Debug)]
pub(crate) struct Constants {
    /// Integer literals compared with it (day numbers for a date).
    ints: BTreeSet<i64>,
    /// Integer literals in a comparison that also reads `context.now` (a date fact's
    /// distance from the day, `agreement_expires - now <= 90`).
    relative: BTreeSet<i64>,
    /// The fact is compared with `context.now`.
    now: bool,
    /// String literals compared with it.
    strings: BTreeSet<String>,
}

impl Conditions {
    pub fn of(bundle: &CompiledBundle) -> Result<Conditions, String> {
        let mut by_id = BTreeMap::new();
        for p in bundle.policies.iter().filter(|p| is_condition(p.kind)) {
            let policy = Policy::parse(Some(PolicyId::new(&p.id)), &p.cedar)
                .map_err(|e| format!("policy `{}` does not parse as Cedar: {e}", p.id))?;
            by_id.insert(
                p.id.clone(),
                Cond {
                    id: p.id.clone(),
                    kind: p.kind,
                    facts: p.reads.facts.clone(),
                    cedar: p.cedar.clone(),
                    scenario: p.scenario.clone(),
                    policy,
                },
            );
        }
        Ok(Conditions {
            ns: bundle.manifest.namespace.clone(),
            fact_types: bundle
                .catalog
                .facts
                .iter()
                .map(|(n, f)| (n.clone(), f.ty.clone()))
                .collect(),
            by_id,
        })
    }

    /// The constants of every comparison of every condition, by fact.
    pub fn constants(&self, into: &mut BTreeMap<String, Constants>) {
        for c in self.by_id.values() {
            if let Ok(est) = c.policy.to_json() {
                walk(&est, into);
            }
        }
    }

    /// Whether `cond` fires on `row` at `day`: a forbid applies (an admission or
    /// eligibility requirement unmet, an exit or suspension triggered) or a notice is due.
    pub fn fires(&self, cond: &Cond, row: &FactRow, day: i64) -> Result<bool, String> {
        let uid = |ty: &str, id: &str| {
            EntityTypeName::from_str(&format!("{}::{ty}", self.ns))
                .map(|t| EntityUid::from_type_name_and_id(t, EntityId::new(id)))
                .map_err(|e| format!("cannot name the type `{ty}`: {e}"))
        };
        let principal = uid("Developer", "charter-diff")?;
        let mut attrs = HashMap::new();
        let mut parents = HashSet::new();
        for (name, ty) in &self.fact_types {
            let Some(value) = row.get(name) else {
                continue;
            };
            let expr = convert(ty, value, &|s| uid("Scenario", s))
                .map_err(|e| format!("fact `{name}`: {e}"))?;
            attrs.insert(name.clone(), expr);
            if name == "scenarios" {
                for s in value
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Json::as_str)
                {
                    parents.insert(uid("Scenario", s)?);
                }
            }
        }
        let entity = Entity::new(principal.clone(), attrs, parents)
            .map_err(|e| format!("cannot build the developer: {e}"))?;
        let scenario = uid(
            "Scenario",
            cond.scenario.as_deref().unwrap_or("\u{0}review"),
        )?;
        let context = Context::from_pairs([
            ("now".to_string(), RestrictedExpression::new_long(day)),
            (
                "scenario".to_string(),
                RestrictedExpression::new_entity_uid(scenario),
            ),
            ("consent".to_string(), RestrictedExpression::new_bool(true)),
            (
                "purpose".to_string(),
                RestrictedExpression::new_string(String::new()),
            ),
        ])
        .map_err(|e| format!("cannot build the context: {e}"))?;
        let request = Request::new(
            principal,
            uid("Action", "\u{0}review")?,
            uid("Field", "\u{0}review")?,
            context,
            None,
        )
        .map_err(|e| format!("cannot build the request: {e}"))?;
        let entities = Entities::from_entities([entity], None)
            .map_err(|e| format!("cannot build the entities: {e}"))?;
        let set = PolicySet::from_policies([cond.policy.clone()])
            .map_err(|e| format!("cannot build the policy set: {e}"))?;
        let resp = Authorizer::new().is_authorized(&request, &set, &entities);
        if let Some(e) = resp.diagnostics().errors().next() {
            return Err(format!("`{}` could not be evaluated: {e}", cond.id));
        }
        let matched = resp.diagnostics().reason().next().is_some();
        Ok(match resp.decision() {
            Decision::Allow => cond.kind == PolicyKind::Notice,
            Decision::Deny => cond.kind != PolicyKind::Notice && matched,
        })
    }
}

fn convert(
    ty: &str,
    v: &Json,
    scenario: &dyn Fn(&str) -> Result<EntityUid, String>,
) -> Result<RestrictedExpression, String> {
    let bad = || format!("`{v}` is not a `{ty}`");
    if let Some(inner) = ty.strip_prefix("set<").and_then(|t| t.strip_suffix('>')) {
        let items = v.as_array().ok_or_else(bad)?;
        let out: Result<Vec<_>, String> =
            items.iter().map(|i| convert(inner, i, scenario)).collect();
        return Ok(RestrictedExpression::new_set(out?));
    }
    match ty {
        "bool" => v
            .as_bool()
            .map(RestrictedExpression::new_bool)
            .ok_or_else(bad),
        "int" | "nat" | "duration" => v
            .as_i64()
            .map(RestrictedExpression::new_long)
            .ok_or_else(bad),
        "date" => v
            .as_str()
            .and_then(parse_date)
            .map(RestrictedExpression::new_long)
            .ok_or_else(bad),
        "string" => v
            .as_str()
            .map(|s| RestrictedExpression::new_string(s.to_string()))
            .ok_or_else(bad),
        "scenario" => {
            let s = v.as_str().ok_or_else(bad)?;
            scenario(s).map(RestrictedExpression::new_entity_uid)
        }
        _ => Err(bad()),
    }
}

const COMPARISONS: [&str; 6] = ["<", "<=", ">", ">=", "==", "!="];

/// Walks an EST expression: at each comparison, every fact read on either side is
/// paired with every literal of the comparison.
fn walk(v: &Json, into: &mut BTreeMap<String, Constants>) {
    match v {
        Json::Object(map) => {
            for (key, inner) in map {
                if COMPARISONS.contains(&key.as_str()) {
                    let mut facts = BTreeSet::new();
                    let mut ints = BTreeSet::new();
                    let mut strings = BTreeSet::new();
                    let mut now = false;
                    gather(inner, &mut facts, &mut ints, &mut strings, &mut now);
                    for f in facts {
                        let c = into.entry(f).or_default();
                        c.now |= now;
                        if now {
                            c.relative.extend(ints.iter().copied());
                        } else {
                            c.ints.extend(ints.iter().copied());
                        }
                        c.strings.extend(strings.iter().cloned());
                    }
                }
                walk(inner, into);
            }
        }
        Json::Array(items) => items.iter().for_each(|i| walk(i, into)),
        _ => {}
    }
}

fn gather(
    v: &Json,
    facts: &mut BTreeSet<String>,
    ints: &mut BTreeSet<i64>,
    strings: &mut BTreeSet<String>,
    now: &mut bool,
) {
    match v {
        Json::Object(map) => {
            if let Some(Json::Object(dot)) = map.get(".") {
                let var = dot
                    .get("left")
                    .and_then(|l| l.get("Var"))
                    .and_then(Json::as_str);
                let attr = dot.get("attr").and_then(Json::as_str);
                match (var, attr) {
                    (Some("principal"), Some(a)) => {
                        facts.insert(a.to_string());
                    }
                    (Some("context"), Some("now")) => *now = true,
                    _ => {}
                }
            }
            if let Some(value) = map.get("Value") {
                match value {
                    Json::Number(n) => ints.extend(n.as_i64()),
                    Json::String(s) => {
                        strings.insert(s.clone());
                    }
                    _ => {}
                }
            }
            for inner in map.values() {
                gather(inner, facts, ints, strings, now);
            }
        }
        Json::Array(items) => {
            for i in items {
                gather(i, facts, ints, strings, now);
            }
        }
        _ => {}
    }
}

/// A date `days` days from `day`, as a request writes it.
fn date(day: i64) -> Json {
    json!(format_day(day))
}

/// The values sampled for a fact of type `ty` at `day`: each constant compared with it,
/// one below and one above; both booleans; for a date, the same around the day when it
/// is compared with `now`, and a day far before and far after.
pub(crate) fn candidates(ty: &str, c: &Constants, day: i64, scenarios: &[String]) -> Vec<Json> {
    let around = |set: &BTreeSet<i64>, base: i64| -> BTreeSet<i64> {
        set.iter()
            .flat_map(|k| {
                let k = base.saturating_add(*k);
                [k.saturating_sub(1), k, k.saturating_add(1)]
            })
            .collect()
    };
    match ty {
        "bool" => vec![json!(false), json!(true)],
        "int" | "nat" | "duration" => {
            let mut set = around(&c.ints, 0);
            set.extend(around(&c.relative, 0));
            if set.is_empty() {
                set.extend([0, 1]);
            }
            set.into_iter()
                .filter(|n| ty == "int" || *n >= 0)
                .map(|n| json!(n))
                .collect()
        }
        "date" => {
            let mut set = around(&c.ints, 0);
            set.extend(around(&c.relative, day));
            if c.now {
                set.extend([day.saturating_sub(1), day, day.saturating_add(1)]);
            }
            set.extend([day.saturating_sub(36_500), day.saturating_add(36_500)]);
            set.into_iter().map(date).collect()
        }
        "string" => {
            let mut v: Vec<Json> = c.strings.iter().map(|s| json!(s)).collect();
            v.push(json!(""));
            v
        }
        "set<scenario>" => vec![json!(scenarios), json!([])],
        "scenario" => scenarios.iter().take(2).map(|s| json!(s)).collect(),
        _ => vec![json!([])],
    }
}

/// The first value tried for a fact, before the search for a row that passes.
pub(crate) fn initial(ty: &str, day: i64, scenarios: &[String]) -> Json {
    match ty {
        "bool" => json!(false),
        "int" | "nat" | "duration" => json!(0),
        "date" => date(day.saturating_add(36_500)),
        "string" => json!(""),
        "set<scenario>" => json!(scenarios),
        "scenario" => scenarios.first().map_or(Json::Null, |s| json!(s)),
        _ => json!([]),
    }
}

/// Both versions' conditions, with the values sampled per fact.
pub(crate) struct Space<'a> {
    pub sides: [&'a Conditions; 2],
    pub constants: BTreeMap<String, Constants>,
    /// Every fact of either version and its type (the head's when they differ).
    pub facts: BTreeMap<String, String>,
    pub scenarios: Vec<String>,
}

impl<'a> Space<'a> {
    pub fn new(base: &'a Conditions, head: &'a Conditions, scenarios: Vec<String>) -> Self {
        let mut constants = BTreeMap::new();
        base.constants(&mut constants);
        head.constants(&mut constants);
        let mut facts: BTreeMap<String, String> = base.fact_types.clone();
        facts.extend(head.fact_types.clone());
        Space {
            sides: [base, head],
            constants,
            facts,
            scenarios,
        }
    }

    pub fn candidates(&self, fact: &str, day: i64) -> Vec<Json> {
        let ty = self.facts.get(fact).map_or("bool", String::as_str);
        let none = Constants::default();
        let c = self.constants.get(fact).unwrap_or(&none);
        candidates(ty, c, day, &self.scenarios)
    }

    /// How many conditions of either version block a developer with `row` (an
    /// evaluation error blocks, as it would deny).
    fn blocking(&self, row: &FactRow, day: i64, only: Option<&str>) -> usize {
        self.sides
            .iter()
            .flat_map(|side| side.by_id.values().map(move |c| (side, c)))
            .filter(|(_, c)| c.kind != PolicyKind::Notice)
            .filter(|(_, c)| only.is_none_or(|f| c.facts.iter().any(|x| x == f)))
            .filter(|(side, c)| side.fires(c, row, day).unwrap_or(true))
            .count()
    }

    /// A fact row that passes every condition of both versions at `day`, found by
    /// coordinate descent over each fact's sampled values; and the ids of the
    /// conditions it still does not pass (none when one was found).
    pub fn passing_row(&self, day: i64) -> (FactRow, Vec<String>) {
        let mut row: FactRow = self
            .facts
            .iter()
            .map(|(f, ty)| (f.clone(), initial(ty, day, &self.scenarios)))
            .collect();
        for _ in 0..3 {
            let mut changed = false;
            for fact in self.facts.keys() {
                if fact == "scenarios" {
                    continue;
                }
                let mut best = self.blocking(&row, day, Some(fact));
                if best == 0 {
                    continue;
                }
                for v in self.candidates(fact, day) {
                    let old = row.insert(fact.clone(), v.clone());
                    let cost = self.blocking(&row, day, Some(fact));
                    if cost < best {
                        best = cost;
                        changed = true;
                    } else if let Some(old) = old {
                        row.insert(fact.clone(), old);
                    }
                }
            }
            if !changed {
                break;
            }
        }
        let failing = self
            .sides
            .iter()
            .flat_map(|side| side.by_id.values().map(move |c| (side, c)))
            .filter(|(_, c)| c.kind != PolicyKind::Notice)
            .filter(|(side, c)| side.fires(c, &row, day).unwrap_or(true))
            .map(|(_, c)| c.id.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        (row, failing)
    }
}

/// The most fact rows sampled for one condition; beyond it, each fact is varied alone.
pub const MAX_SAMPLES: usize = 4096;

/// The rows sampled for a condition reading `facts`: every combination of their
/// sampled values (the rest of `base` unchanged), or, when that is more than
/// [`MAX_SAMPLES`], each fact varied alone; and whether the product was cut.
pub(crate) fn sample_rows(
    space: &Space<'_>,
    facts: &[String],
    base: &FactRow,
    day: i64,
) -> (Vec<FactRow>, bool) {
    let values: Vec<(String, Vec<Json>)> = facts
        .iter()
        .map(|f| (f.clone(), space.candidates(f, day)))
        .collect();
    let product = values
        .iter()
        .try_fold(1usize, |acc, (_, v)| acc.checked_mul(v.len().max(1)));
    match product {
        Some(n) if n <= MAX_SAMPLES => {
            let mut rows = vec![base.clone()];
            for (fact, vals) in &values {
                let mut next = Vec::with_capacity(rows.len() * vals.len().max(1));
                for r in &rows {
                    for v in vals {
                        let mut r = r.clone();
                        r.insert(fact.clone(), v.clone());
                        next.push(r);
                    }
                }
                if !vals.is_empty() {
                    rows = next;
                }
            }
            (rows, false)
        }
        _ => {
            let mut rows = Vec::new();
            for (fact, vals) in &values {
                for v in vals {
                    let mut r = base.clone();
                    r.insert(fact.clone(), v.clone());
                    rows.push(r);
                }
            }
            (rows, true)
        }
    }
}
