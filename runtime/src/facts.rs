//! Developer facts: the store the platform keeps them in, and their checked conversion to
//! the Cedar `Developer` entity. A missing or mistyped fact is an error of the decision,
//! never a default.

use std::collections::HashMap;

use rustc_hash::FxHashMap;
use std::path::Path;
use std::sync::Arc;

use arc_swap::{ArcSwap, ArcSwapOption};
use cedar_policy::{Entities, Entity, EntityId, EntityUid, RestrictedExpression};
use serde_json::{Map, Value as Json};

use crate::error::EngineError;
use crate::snapshot::{FactTy, Snapshot};
use crate::time::parse_date;
use crate::types::{DecisionError, ErrorCode};

/// The facts of one developer, as given.
pub type Facts = Map<String, Json>;

/// A developer as Cedar sees it, built once per bundle.
pub(crate) struct Dev {
    /// The entity with every fact.
    pub full: Entity,
    /// The same uid and parents without attributes: enough for scopes
    /// (`principal in Scenario`), and cheap to copy into a request's entities.
    pub stub: Entity,
    /// An entity store holding only `full`, for the rules that read only the developer.
    pub alone: Entities,
    /// What the developer-level rules said, memoized for one day (see [`Memo`]).
    pub memo: ArcSwapOption<Memo>,
    /// Entity stores holding the developer and every field of a dataset, by dataset
    /// index, so a stored developer's requests build no entities at all. The most
    /// recently built [`STORES_PER_DEVELOPER`] are kept: each takes tens of KB, and a
    /// developer using many datasets would otherwise grow without bound.
    pub stores: ArcSwap<Vec<(usize, Arc<Entities>)>>,
    /// The last context built for this developer: a platform asks the same scenario,
    /// day and purpose many times.
    pub context: ArcSwapOption<ContextMemo>,
}

/// How many datasets' entity stores a developer keeps (see [`Dev::stores`]).
pub(crate) const STORES_PER_DEVELOPER: usize = 8;

/// A context and what it was built from.
pub(crate) struct ContextMemo {
    pub scenario: usize,
    pub day: i64,
    pub consent: bool,
    pub purpose: String,
    pub context: cedar_policy::Context,
}

/// The outcome of the rules that read only the developer and the day (admission, exit,
/// suspend, `forbid`, notices) for one day. A `Dev` belongs to one set of facts and one
/// bundle, so the day is the only other input; the snapshot checks at load that these
/// rules read nothing else of the context.
pub(crate) struct Memo {
    pub day: i64,
    /// Per action index.
    pub common: Vec<Option<Arc<crate::decide::Raw>>>,
    pub notices: Option<Arc<crate::decide::Raw>>,
}

type Built = Result<Arc<Dev>, Vec<DecisionError>>;

/// A developer's facts with the entity built from them, cached per bundle.
pub(crate) struct Record {
    pub facts: Facts,
    cache: ArcSwapOption<(u64, Built)>,
}

impl Record {
    fn new(facts: Facts) -> Self {
        Record {
            facts,
            cache: ArcSwapOption::empty(),
        }
    }

    /// The developer entity for `snap`, built once per snapshot. Lock-free: two threads
    /// racing on a cold cache both build it and one wins, which is harmless.
    pub fn dev(&self, id: &str, snap: &Snapshot) -> Built {
        if let Some(c) = self.cache.load().as_ref() {
            if c.0 == snap.id {
                return c.1.clone();
            }
        }
        let built = developer(snap, id, &self.facts);
        self.cache.store(Some(Arc::new((snap.id, built.clone()))));
        built
    }
}

/// Developer facts held by the engine, so requests need not carry them. Reads are
/// lock-free; an update copies the map, which suits facts that change rarely.
#[derive(Default)]
pub struct FactStore {
    map: ArcSwap<FxHashMap<String, Arc<Record>>>,
}

impl FactStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets (or replaces) one developer's facts.
    pub fn set(&self, developer: impl Into<String>, facts: Facts) {
        let id = developer.into();
        let record = Arc::new(Record::new(facts));
        self.map.rcu(|m| {
            let mut m = FxHashMap::clone(m);
            m.insert(id.clone(), record.clone());
            m
        });
    }

    /// Updates some facts of a developer, keeping the others; adds the developer when new.
    pub fn update(&self, developer: &str, changes: Facts) {
        self.map.rcu(|m| {
            let mut m = FxHashMap::clone(m);
            let mut facts = m
                .get(developer)
                .map(|r| r.facts.clone())
                .unwrap_or_default();
            for (k, v) in &changes {
                facts.insert(k.clone(), v.clone());
            }
            m.insert(developer.to_string(), Arc::new(Record::new(facts)));
            m
        });
    }

    /// Removes a developer.
    pub fn remove(&self, developer: &str) {
        self.map.rcu(|m| {
            let mut m = FxHashMap::clone(m);
            m.remove(developer);
            m
        });
    }

    /// Replaces every developer at once with those of `all`.
    pub fn replace_all(&self, all: HashMap<String, Facts>) {
        let m = all
            .into_iter()
            .map(|(k, v)| (k, Arc::new(Record::new(v))))
            .collect();
        self.map.store(Arc::new(m));
    }

    /// Loads a facts file (`{"dev-001": {…}, …}`) and adds its developers.
    pub fn load_file(&self, path: &Path) -> Result<usize, EngineError> {
        let all = read_facts_file(path)?;
        let n = all.len();
        self.map.rcu(|m| {
            let mut m = FxHashMap::clone(m);
            for (k, v) in &all {
                m.insert(k.clone(), Arc::new(Record::new(v.clone())));
            }
            m
        });
        Ok(n)
    }

    /// A developer's facts.
    pub fn get(&self, developer: &str) -> Option<Facts> {
        self.map.load().get(developer).map(|r| r.facts.clone())
    }

    /// The ids of every developer, sorted.
    pub fn developers(&self) -> Vec<String> {
        let mut v: Vec<String> = self.map.load().keys().cloned().collect();
        v.sort();
        v
    }

    /// How many developers.
    pub fn len(&self) -> usize {
        self.map.load().len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.map.load().is_empty()
    }

    pub(crate) fn record(&self, developer: &str) -> Option<Arc<Record>> {
        self.map.load().get(developer).cloned()
    }
}

/// Reads a facts file: a JSON object mapping developer ids to objects of facts.
pub fn read_facts_file(path: &Path) -> Result<HashMap<String, Facts>, EngineError> {
    let text = std::fs::read_to_string(path).map_err(|source| EngineError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let bad = |message: String| EngineError::BadFacts {
        path: path.to_path_buf(),
        message,
    };
    let json: Json = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let Json::Object(top) = json else {
        return Err(bad("the top level is not an object".to_string()));
    };
    let mut out = HashMap::new();
    for (id, facts) in top {
        match facts {
            Json::Object(f) => {
                out.insert(id, f);
            }
            _ => return Err(bad(format!("the facts of `{id}` are not an object"))),
        }
    }
    Ok(out)
}

/// Builds a developer's [`Dev`] from facts.
pub(crate) fn developer(snap: &Snapshot, id: &str, facts: &Facts) -> Built {
    let full = developer_entity(snap, id, facts)?;
    let internal = |e: String| vec![DecisionError::new(ErrorCode::Internal, e)];
    let (uid, _, parents) = full.clone().into_inner();
    let stub = Entity::new_no_attrs(uid, parents);
    let alone = Entities::from_entities([full.clone()], None)
        .map_err(|e| internal(format!("cannot build developer `{id}`: {e}")))?;
    Ok(Arc::new(Dev {
        full,
        stub,
        alone,
        memo: ArcSwapOption::empty(),
        stores: ArcSwap::default(),
        context: ArcSwapOption::empty(),
    }))
}

/// A fact write the bundle cannot use: a name it does not declare, or a value of the
/// wrong type. `fact` names it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FactWriteError {
    /// The fact, as written.
    pub fact: String,
    /// What is wrong, Cedar style.
    pub message: String,
}

/// Checks facts about to be stored against the bundle's declarations: every name must be
/// a declared fact and every value of its type. Decisions ignore undeclared facts (a
/// platform may know more than a bundle asks), but a write is where a typo such as
/// `evaluation_scor` shows, before it leaves the fact it meant missing.
pub(crate) fn check_write(snap: &Snapshot, facts: &Facts) -> Result<(), FactWriteError> {
    for (name, value) in facts {
        let Some(decl) = snap.facts.iter().find(|d| &d.name == name) else {
            let hint = charter_bundle::suggest(name, snap.facts.iter().map(|d| d.name.as_str()));
            return Err(FactWriteError {
                fact: name.clone(),
                message: match hint {
                    Some(h) => format!("`{name}` is not a fact of the bundle; did you mean `{h}`?"),
                    None => format!("`{name}` is not a fact of the bundle"),
                },
            });
        };
        convert(snap, &decl.ty, value).map_err(|why| FactWriteError {
            fact: name.clone(),
            message: format!("fact `{name}` must be {}: {why}", describe(&decl.ty)),
        })?;
    }
    Ok(())
}

/// Builds the `Developer` entity from facts, checking each declared fact's presence and
/// type. Facts the bundle does not declare are ignored: a platform may know more than
/// a bundle asks.
pub(crate) fn developer_entity(
    snap: &Snapshot,
    id: &str,
    facts: &Facts,
) -> Result<Entity, Vec<DecisionError>> {
    let mut errors = Vec::new();
    let mut attrs = HashMap::with_capacity(snap.facts.len());
    let mut parents = Vec::new();
    for decl in &snap.facts {
        let Some(value) = facts.get(&decl.name) else {
            let readers: Vec<&crate::snapshot::PolicyMeta> = snap
                .fact_readers
                .get(&decl.name)
                .map(|v| v.iter().filter_map(|i| snap.policies.get(*i)).collect())
                .unwrap_or_default();
            let named: Vec<String> = readers
                .iter()
                .take(3)
                .map(|m| match &m.reason.article {
                    Some(a) => format!("`{}` ({a})", m.reason.id),
                    None => format!("`{}`", m.reason.id),
                })
                .collect();
            let read_by = if named.is_empty() {
                String::new()
            } else {
                format!(
                    ", which {} read{}",
                    named.join(", "),
                    if named.len() == 1 { "s" } else { "" }
                )
            };
            errors.push(DecisionError {
                code: ErrorCode::MissingFact,
                message: format!("developer `{id}` has no fact `{}`{read_by}", decl.name),
                policy: readers.first().map(|m| m.reason.id.to_string()),
            });
            continue;
        };
        match convert(snap, &decl.ty, value) {
            Ok(expr) => {
                attrs.insert(decl.name.clone(), expr);
            }
            Err(why) => errors.push(DecisionError::new(
                ErrorCode::FactType,
                format!(
                    "fact `{}` of developer `{id}` must be {}: {why}",
                    decl.name,
                    describe(&decl.ty)
                ),
            )),
        }
        // The compiler makes the `scenarios` fact the developer's parents, so that a
        // scope's `principal in Scenario` holds for the scenarios it is authorized for.
        if decl.name == "scenarios" {
            if let Json::Array(items) = value {
                for s in items.iter().filter_map(Json::as_str) {
                    if let Some(info) = snap.scenarios.get(s) {
                        parents.push(info.uid.clone());
                    }
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let uid = EntityUid::from_type_name_and_id(snap.developer_type.clone(), EntityId::new(id));
    Entity::new(uid, attrs, parents.into_iter().collect()).map_err(|e| {
        vec![DecisionError::new(
            ErrorCode::Internal,
            format!("cannot build developer `{id}`: {e}"),
        )]
    })
}

fn describe(ty: &FactTy) -> String {
    match ty {
        FactTy::Bool => "a boolean".into(),
        FactTy::Int => "an integer".into(),
        FactTy::Nat => "an integer of 0 or more (`nat`)".into(),
        FactTy::Str => "a string".into(),
        FactTy::Date => "a date `YYYY-MM-DD`".into(),
        FactTy::Duration => "a duration (days as an integer, or `N days|months|years`)".into(),
        FactTy::Scenario => "the name of a scenario of the bundle".into(),
        FactTy::Set(inner) => format!("a list, each element {}", describe(inner)),
    }
}

fn convert(snap: &Snapshot, ty: &FactTy, v: &Json) -> Result<RestrictedExpression, String> {
    let found = || format!("found `{}`", short(v));
    match ty {
        FactTy::Bool => v
            .as_bool()
            .map(RestrictedExpression::new_bool)
            .ok_or_else(found),
        FactTy::Int => v
            .as_i64()
            .map(RestrictedExpression::new_long)
            .ok_or_else(found),
        // A count: a negative one is refused wherever facts enter (a request, the fact
        // store, a test fixture), since all of them are checked here.
        FactTy::Nat => v
            .as_i64()
            .filter(|n| *n >= 0)
            .map(RestrictedExpression::new_long)
            .ok_or_else(found),
        FactTy::Str => v
            .as_str()
            .map(|s| RestrictedExpression::new_string(s.to_string()))
            .ok_or_else(found),
        FactTy::Date => v
            .as_str()
            .and_then(parse_date)
            .map(RestrictedExpression::new_long)
            .ok_or_else(found),
        FactTy::Duration => match v {
            Json::Number(_) => v
                .as_i64()
                .map(RestrictedExpression::new_long)
                .ok_or_else(found),
            Json::String(s) => parse_duration(s)
                .map(RestrictedExpression::new_long)
                .ok_or_else(found),
            _ => Err(found()),
        },
        FactTy::Scenario => match v.as_str() {
            Some(s) => snap
                .scenarios
                .get(s)
                .map(|info| RestrictedExpression::new_entity_uid(info.uid.clone()))
                .ok_or_else(|| format!("`{s}` is not a scenario of the bundle")),
            None => Err(found()),
        },
        FactTy::Set(inner) => {
            let Json::Array(items) = v else {
                return Err(found());
            };
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                out.push(convert(snap, inner, item)?);
            }
            Ok(RestrictedExpression::new_set(out))
        }
    }
}

/// `90 days`, `3 months` (30 days each), `1 year` (365 days): the compiler's units.
fn parse_duration(s: &str) -> Option<i64> {
    let mut parts = s.split_whitespace();
    let n: i64 = parts.next()?.parse().ok()?;
    let per = match parts.next()? {
        "day" | "days" => 1,
        "month" | "months" => 30,
        "year" | "years" => 365,
        _ => return None,
    };
    if parts.next().is_some() {
        return None;
    }
    n.checked_mul(per)
}

fn short(v: &Json) -> String {
    let s = v.to_string();
    if s.chars().count() > 40 {
        let cut: String = s.chars().take(40).collect();
        format!("{cut}…")
    } else {
        s
    }
}
