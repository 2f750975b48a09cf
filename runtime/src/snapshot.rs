//! A loaded bundle, indexed for slicing: the policies grouped into small Cedar policy
//! sets by what the compiler knows of each (scenario, dataset, action, grade). The few
//! developer- and field-level sets are parsed at load; the many per-scenario sets are
//! parsed on first use and held in a bounded cache ([`crate::slices`]).
//!
//! INVARIANT: for every request, the policies the decision path evaluates are exactly
//! those of the full decision set that can be satisfied or fail for it; every policy left
//! out is one whose scope or first condition is false for the request's scenario,
//! dataset, action or field grade. The property test in `tests/slice.rs` checks it.

use rustc_hash::FxHashMap as HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use cedar_policy::{
    Entities, Entity, EntityId, EntityTypeName, EntityUid, Policy, PolicyId, PolicySet,
    RestrictedExpression,
};
use charter_bundle::{Catalog, CompiledBundle, PolicyKind};

use crate::error::LoadError;
use crate::slices::{PolicyText, SliceCache};
use crate::types::{BundleRef, Reason, SharedStr};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A fact's type as the runtime checks it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum FactTy {
    Bool,
    Int,
    /// An integer that is never negative: a count.
    Nat,
    Str,
    Date,
    Duration,
    Scenario,
    Set(Box<FactTy>),
}

impl FactTy {
    fn parse(s: &str) -> Option<FactTy> {
        Some(match s {
            "bool" => FactTy::Bool,
            "int" => FactTy::Int,
            "nat" => FactTy::Nat,
            "string" => FactTy::Str,
            "date" => FactTy::Date,
            "duration" => FactTy::Duration,
            "scenario" => FactTy::Scenario,
            _ => {
                let inner = s.strip_prefix("set<")?.strip_suffix('>')?;
                FactTy::Set(Box::new(FactTy::parse(inner)?))
            }
        })
    }
}

/// A declared developer fact.
pub(crate) struct FactDecl {
    pub name: String,
    pub ty: FactTy,
}

/// What the engine keeps of each compiled policy.
pub(crate) struct PolicyMeta {
    pub reason: Reason,
    pub dataset: Option<String>,
    pub actions: Option<Vec<String>>,
    pub fields: Option<Vec<String>>,
    pub requires_consent: bool,
    /// The Cedar text (the bundle's has no annotations): what the slices and the full
    /// set are parsed from.
    pub cedar: Box<str>,
}

impl PolicyText for Vec<PolicyMeta> {
    fn policy_text(&self, index: usize) -> Option<(&str, &str)> {
        self.get(index).map(|m| (&*m.reason.id, &*m.cedar))
    }
}

pub(crate) struct ActionInfo {
    pub index: usize,
    pub uid: EntityUid,
}

pub(crate) struct ScenarioInfo {
    pub index: usize,
    pub uid: EntityUid,
    pub term_start: i64,
    pub term_end: i64,
}

pub(crate) struct FieldInfo {
    /// Position in the dataset.
    pub index: u32,
    pub uid: EntityUid,
    pub grade: i64,
    pub grade_name: String,
    /// Whether a tag of the field needs the data subject's consent (Art. 20).
    pub consent_tagged: bool,
}

/// The key of a field-level policy set: action, field grade, whether the field carries
/// a consent tag, whether the request has consent.
pub(crate) type FieldKey = (usize, i64, bool, bool);

/// What a field-level rule is, for slicing.
enum FieldRule {
    /// A grade rule: applies to fields of the grade and actions outside `allowed` (the
    /// bundle's [`charter_bundle::CompiledPolicy::allows`]; `None`: every action).
    Grade {
        grade: i64,
        allowed: Option<Vec<usize>>,
    },
    /// A grade's consent rule: fields of the grade, the listed actions, no consent.
    GradeConsent {
        grade: i64,
        actions: Option<Vec<usize>>,
    },
    /// The consent rule: consent-tagged fields, no consent.
    Consent,
    /// Anything else resource-level: always.
    Always,
}

pub(crate) struct DatasetInfo {
    pub index: usize,
    pub name: String,
    pub fields: HashMap<String, FieldInfo>,
    /// Field names in declaration order, for requests that name no field.
    pub order: Vec<String>,
}

/// A scope while indexing: scenario, dataset, actions, fields, policy index.
type ScopeEntry = (usize, usize, Vec<usize>, Option<Vec<String>>, usize);

/// The scopes of a (scenario, dataset) with the scenario's eligibility rules. One set
/// per pair rather than per action keeps memory low; a scope for another action fails
/// at its `action in [...]` head.
pub(crate) struct ScopeSet {
    /// The set's slot in [`Snapshot::slices`].
    pub slot: u32,
    /// The actions some scope grants.
    pub actions: Vec<usize>,
    /// The fields some scope covers, by index in the dataset; `None` when a scope
    /// covers the whole dataset. A scope cannot permit a field it does not list
    /// (`resource in [...]`), so for such a field only the eligibility rules matter.
    pub covers: Option<Vec<u32>>,
}

impl ScopeSet {
    /// Whether some scope may permit `action` on `field`.
    pub fn covers(&self, action: usize, field: u32) -> bool {
        self.actions.contains(&action)
            && self
                .covers
                .as_ref()
                .is_none_or(|v| v.binary_search(&field).is_ok())
    }
}

/// The full decision set, for comparisons and the property test.
pub(crate) struct FullSet {
    pub policies: PolicySet,
}

/// One loaded bundle. Immutable once built; shared by `Arc` and swapped whole.
pub(crate) struct Snapshot {
    /// Unique per load, so caches built for one snapshot are never used with another.
    pub id: u64,
    pub bundle: BundleRef,
    pub catalog: Catalog,
    pub policy_count: usize,
    pub notice_count: usize,
    pub policies: Vec<PolicyMeta>,
    pub developer_type: EntityTypeName,
    pub actions: HashMap<String, ActionInfo>,
    pub scenarios: HashMap<String, ScenarioInfo>,
    pub datasets: HashMap<String, DatasetInfo>,
    pub facts: Vec<FactDecl>,
    /// For each fact, the policies that read it, to name them when the fact is missing.
    pub fact_readers: HashMap<String, Vec<usize>>,
    /// Every entity of the catalog, built on first use (comparisons and tests only).
    all_entities: OnceLock<Result<Entities, String>>,
    /// The namespace, for entity types.
    ns: String,
    /// Per action: the developer-level forbids (admission, exit, suspend, and `forbid`
    /// rules naming the action). They read only the developer and the context.
    pub request_sets: Vec<PolicySet>,
    /// Per [`FieldKey`]: the grade and consent rules that can fire for such a field;
    /// absent when none can.
    pub field_sets: HashMap<FieldKey, PolicySet>,
    /// Per (scenario, dataset): the scopes and the scenario's eligibility rules.
    pub scope_sets: HashMap<(usize, usize), ScopeSet>,
    /// Per scenario: the slot of its eligibility rules, for requests no scope matches.
    pub eligibility_sets: HashMap<usize, u32>,
    /// The per-scenario sets above, parsed on demand.
    pub slices: SliceCache,
    /// Scope policies by scenario, for explaining a deny.
    pub scopes_by_scenario: HashMap<usize, Vec<usize>>,
    pub notices: PolicySet,
    /// Whether the developer-level rules and the notices read nothing of the context
    /// but `context.now`, so their outcome can be memoized per developer and day.
    pub memo_ok: bool,
    /// Exit and suspend rules, for the sweep.
    pub triggers: PolicySet,
    full: OnceLock<Result<FullSet, String>>,
    /// Placeholders for the sweep, which has no request.
    pub sweep_action: EntityUid,
    pub sweep_resource: EntityUid,
    pub sweep_scenario: EntityUid,
}

fn uid(ns: &str, ty: &str, id: &str) -> Result<EntityUid, String> {
    let name: EntityTypeName = format!("{ns}::{ty}")
        .parse()
        .map_err(|e| format!("bad entity type `{ns}::{ty}`: {e}"))?;
    Ok(EntityUid::from_type_name_and_id(name, EntityId::new(id)))
}

/// The id a policy has in the engine's Cedar sets: its index in the bundle. Cedar
/// reports the policies that determined a decision by id; an index turns back into the
/// policy without a lookup in a large map, which on the decision path is a cache miss.
/// Users never see it: reasons and errors carry the bundle's ids.
pub(crate) fn cedar_id(index: usize) -> PolicyId {
    PolicyId::new(index.to_string())
}

/// Runs Cedar's strict validator over one policy.
fn validate_one(validator: &cedar_policy::Validator, policy: &Policy) -> Result<(), String> {
    let mut set = PolicySet::new();
    add(&mut set, policy)?;
    let result = validator.validate(&set, cedar_policy::ValidationMode::Strict);
    let first = result
        .validation_errors()
        .next()
        .map(|e| format!("policy `{}` fails Cedar validation: {e}", e.policy_id()));
    first.map_or(Ok(()), Err)
}

fn add(set: &mut PolicySet, p: &Policy) -> Result<(), String> {
    set.add(p.clone())
        .map_err(|e| format!("policy `{}` cannot be added: {e}", p.id()))
}

impl Snapshot {
    /// Indexes a bundle and, with `validate` (a `bundle.json` the engine did not compile
    /// itself), parses every policy and runs Cedar's strict validator over it. Validating policy by policy and dropping what was parsed keeps
    /// the memory of loading a large bundle low. `slice_cache` is how many per-scenario
    /// sets may stay parsed; a bundle with no more than that is parsed whole at load.
    pub fn build_checked(
        bundle: CompiledBundle,
        validate: bool,
        slice_cache: usize,
    ) -> Result<Snapshot, LoadError> {
        let invalid = |message: String| LoadError::Invalid { message };
        let validator = if validate {
            let schema = cedar_policy::Schema::from_json_value(bundle.schema.clone())
                .map_err(|e| invalid(format!("the schema is invalid: {e}")))?;
            Some(cedar_policy::Validator::new(schema))
        } else {
            None
        };
        crate::bundle_file::check_format(&bundle.format)?;
        let ns = bundle.manifest.namespace.clone();
        // The catalog's entities are built from the catalog when a request needs them
        // (and cached per stored developer): holding all of them costs more memory
        // than the policies. `bundle.entities` says the same as the catalog.
        drop(bundle.entities);
        let developer_type: EntityTypeName = format!("{ns}::Developer")
            .parse()
            .map_err(|e| invalid(format!("bad namespace `{ns}`: {e}")))?;

        let mut actions = HashMap::default();
        for (i, name) in bundle.catalog.actions.keys().enumerate() {
            let uid = uid(&ns, "Action", name).map_err(invalid)?;
            actions.insert(name.clone(), ActionInfo { index: i, uid });
        }
        let mut scenarios = HashMap::default();
        for (i, (name, s)) in bundle.catalog.scenarios.iter().enumerate() {
            let uid = uid(&ns, "Scenario", name).map_err(invalid)?;
            scenarios.insert(
                name.clone(),
                ScenarioInfo {
                    index: i,
                    uid,
                    term_start: s.term_start,
                    term_end: s.term_end,
                },
            );
        }
        let mut datasets = HashMap::default();
        for (i, (name, d)) in bundle.catalog.datasets.iter().enumerate() {
            let mut fields = HashMap::default();
            let mut order = Vec::new();
            for (fname, f) in &d.fields {
                let fuid = uid(&ns, "Field", &format!("{name}/{fname}")).map_err(invalid)?;
                fields.insert(
                    fname.clone(),
                    FieldInfo {
                        index: order.len() as u32,
                        uid: fuid,
                        grade: f.grade,
                        grade_name: f.grade_name.clone(),
                        consent_tagged: f
                            .tags
                            .iter()
                            .any(|t| bundle.catalog.consent_tags.contains(t)),
                    },
                );
                order.push(fname.clone());
            }
            datasets.insert(
                name.clone(),
                DatasetInfo {
                    index: i,
                    name: name.clone(),
                    fields,
                    order,
                },
            );
        }
        let mut facts = Vec::new();
        for (name, f) in &bundle.catalog.facts {
            let ty = FactTy::parse(&f.ty)
                .ok_or_else(|| invalid(format!("fact `{name}` has an unknown type `{}`", f.ty)))?;
            facts.push(FactDecl {
                name: name.clone(),
                ty,
            });
        }
        let grades: HashMap<&str, i64> = bundle
            .catalog
            .grades
            .iter()
            .enumerate()
            .map(|(i, (g, _))| (g.as_str(), i as i64 + 1))
            .collect();

        let n_actions = actions.len();
        let mut request_sets = vec![PolicySet::new(); n_actions];
        let mut field_sets: HashMap<FieldKey, PolicySet> = HashMap::default();
        let mut scope_sets: HashMap<(usize, usize), ScopeSet> = HashMap::default();
        let mut eligibility_sets: HashMap<usize, u32> = HashMap::default();
        let mut slices = SliceCache::new(slice_cache);
        let mut scopes_by_scenario: HashMap<usize, Vec<usize>> = HashMap::default();
        let mut notices = PolicySet::new();
        let mut triggers = PolicySet::new();
        let mut metas = Vec::new();
        let mut field_rules: Vec<(FieldRule, Policy)> = Vec::new();
        let mut eligibility: HashMap<usize, Vec<u32>> = HashMap::default();
        let mut scopes: Vec<ScopeEntry> = Vec::new();
        let (mut policy_count, mut notice_count) = (0, 0);

        let action_indices = |list: &Option<Vec<String>>| -> Result<Option<Vec<usize>>, LoadError> {
            match list {
                None => Ok(None),
                Some(names) => names
                    .iter()
                    .map(|a| {
                        actions.get(a.as_str()).map(|x| x.index).ok_or_else(|| {
                            invalid(format!("a policy names an unknown action `{a}`"))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(Some),
            }
        };

        let mut fact_readers: HashMap<String, Vec<usize>> = HashMap::default();
        // Kinds, rules, titles and articles repeat across policies (a scenario's scopes
        // share its name and title): one copy each.
        let mut interned: std::collections::HashSet<SharedStr> = Default::default();
        let mut intern = |s: &str| -> SharedStr {
            match interned.get(s) {
                Some(a) => a.clone(),
                None => {
                    let a = SharedStr::from(s);
                    interned.insert(a.clone());
                    a
                }
            }
        };
        let mut memo_ok = true;
        let declared: std::collections::HashSet<&str> =
            facts.iter().map(|f| f.name.as_str()).collect();
        for (index, p) in bundle.policies.into_iter().enumerate() {
            // What a policy reads and allows is the compiler's metadata, not read from
            // its Cedar text.
            for f in &p.reads.facts {
                if declared.contains(f.as_str()) {
                    fact_readers.entry(f.clone()).or_default().push(index);
                }
            }
            if matches!(
                p.kind,
                PolicyKind::Admission
                    | PolicyKind::Exit
                    | PolicyKind::Suspend
                    | PolicyKind::Forbid
                    | PolicyKind::Notice
            ) {
                memo_ok &= p.reads.only_now_of_context();
            }
            // The bundle's Cedar text has no annotations: `PolicyMeta` holds what they
            // would say (ids come from `PolicyId`, not `@id`).
            let text: Box<str> = p.cedar.into();
            // Scopes and eligibility rules are parsed when a slice needs them; here only
            // to validate a bundle the engine did not compile.
            let lazy = matches!(p.kind, PolicyKind::Scope | PolicyKind::Eligibility);
            let policy = if lazy && !validate {
                None
            } else {
                // Parsed under the bundle's id so Cedar's messages name it; the sets
                // hold it under its index (see `cedar_id`).
                let policy = Policy::parse(Some(PolicyId::new(&p.id)), &*text).map_err(|e| {
                    invalid(format!(
                        "policy `{}` ({}) does not parse: {e}",
                        p.id, p.source
                    ))
                })?;
                if let Some(v) = &validator {
                    validate_one(v, &policy).map_err(invalid)?;
                }
                if lazy {
                    None
                } else {
                    Some(policy.new_id(cedar_id(index)))
                }
            };
            let eager = || {
                policy
                    .clone()
                    .ok_or_else(|| invalid(format!("policy `{}` was not parsed", p.id)))
            };
            let acts = action_indices(&p.actions)?;
            let scenario_index = |name: &Option<String>| -> Result<usize, LoadError> {
                name.as_ref()
                    .and_then(|s| scenarios.get(s.as_str()))
                    .map(|s| s.index)
                    .ok_or_else(|| invalid(format!("policy `{}` names no known scenario", p.id)))
            };
            match p.kind {
                PolicyKind::Notice => {
                    notice_count += 1;
                    add(&mut notices, &eager()?).map_err(invalid)?;
                }
                PolicyKind::Admission
                | PolicyKind::Exit
                | PolicyKind::Suspend
                | PolicyKind::Forbid => {
                    policy_count += 1;
                    let policy = eager()?;
                    for (a, set) in request_sets.iter_mut().enumerate() {
                        if acts.as_ref().is_none_or(|l| l.contains(&a)) {
                            add(set, &policy).map_err(invalid)?;
                        }
                    }
                    if matches!(p.kind, PolicyKind::Exit | PolicyKind::Suspend) {
                        add(&mut triggers, &policy).map_err(invalid)?;
                    }
                }
                PolicyKind::Grade | PolicyKind::GradeConsent => {
                    policy_count += 1;
                    let policy = eager()?;
                    let rule = match (grades.get(p.rule.as_str()), p.kind) {
                        (Some(g), PolicyKind::Grade) => FieldRule::Grade {
                            grade: *g,
                            allowed: p.allows.as_ref().map(|names| {
                                names
                                    .iter()
                                    .filter_map(|a| actions.get(a.as_str()).map(|x| x.index))
                                    .collect()
                            }),
                        },
                        (Some(g), _) => FieldRule::GradeConsent {
                            grade: *g,
                            actions: acts,
                        },
                        (None, _) => FieldRule::Always,
                    };
                    field_rules.push((rule, policy));
                }
                PolicyKind::Consent => {
                    policy_count += 1;
                    field_rules.push((FieldRule::Consent, eager()?));
                }
                PolicyKind::Eligibility => {
                    policy_count += 1;
                    let s = scenario_index(&p.scenario)?;
                    eligibility.entry(s).or_default().push(index as u32);
                }
                PolicyKind::Scope => {
                    policy_count += 1;
                    let s = scenario_index(&p.scenario)?;
                    let d = p
                        .dataset
                        .as_ref()
                        .and_then(|d| datasets.get(d.as_str()))
                        .map(|d| d.index)
                        .ok_or_else(|| {
                            invalid(format!("scope `{}` names no known dataset", p.id))
                        })?;
                    let acts = acts.unwrap_or_else(|| (0..n_actions).collect());
                    scopes_by_scenario.entry(s).or_default().push(index);
                    scopes.push((s, d, acts, p.fields.clone(), index));
                }
            }
            metas.push(PolicyMeta {
                reason: Reason {
                    id: p.id.into(),
                    kind: intern(p.kind.as_str()),
                    rule: intern(&p.rule),
                    title: p.title.as_deref().map(&mut intern),
                    article: p.article.as_deref().map(&mut intern),
                    source: p.source.to_string().into(),
                    measures: p.measures.into(),
                },
                dataset: p.dataset,
                actions: p.actions,
                fields: p.fields,
                requires_consent: p.requires_consent,
                cedar: text,
            });
        }

        // Field sets: one per action and kind of field that has any rule to evaluate. A
        // rule left out cannot fire for such a field: a grade rule for an action its
        // grade allows (`unless { action in [...] }` holds), a consent rule when the
        // request has consent (`!context.consent` is false) or the field no consent tag.
        let mut kinds: Vec<(i64, bool)> = datasets
            .values()
            .flat_map(|d| d.fields.values().map(|f| (f.grade, f.consent_tagged)))
            .collect();
        kinds.sort_unstable();
        kinds.dedup();
        for a in 0..n_actions {
            for &(g, tagged) in &kinds {
                for consent in [false, true] {
                    let mut set = PolicySet::new();
                    for (rule, policy) in &field_rules {
                        let applies = match rule {
                            FieldRule::Grade { grade, allowed } => {
                                *grade == g && !allowed.as_ref().is_some_and(|l| l.contains(&a))
                            }
                            FieldRule::GradeConsent { grade, actions } => {
                                *grade == g
                                    && !consent
                                    && actions.as_ref().is_none_or(|l| l.contains(&a))
                            }
                            FieldRule::Consent => tagged && !consent,
                            FieldRule::Always => true,
                        };
                        if applies {
                            add(&mut set, policy).map_err(invalid)?;
                        }
                    }
                    if !set.is_empty() {
                        field_sets.insert((a, g, tagged, consent), set);
                    }
                }
            }
        }
        let mut scenarios_with_rules: Vec<usize> = eligibility.keys().copied().collect();
        scenarios_with_rules.sort_unstable();
        for s in scenarios_with_rules {
            let members = eligibility.get(&s).cloned().unwrap_or_default();
            eligibility_sets.insert(s, slices.add(members));
        }
        let dataset_fields: HashMap<usize, &HashMap<String, FieldInfo>> =
            datasets.values().map(|d| (d.index, &d.fields)).collect();
        // Per (scenario, dataset): the member policies (the scenario's eligibility
        // rules, then the scopes), the actions granted, the fields covered.
        type Group = (Vec<u32>, Vec<usize>, Option<Vec<u32>>);
        let mut groups: HashMap<(usize, usize), Group> = HashMap::default();
        for (s, d, acts, fields, policy) in &scopes {
            let listed: Option<Vec<u32>> = fields.as_ref().map(|names| {
                names
                    .iter()
                    .filter_map(|n| {
                        dataset_fields
                            .get(d)
                            .and_then(|m| m.get(n.as_str()))
                            .map(|f| f.index)
                    })
                    .collect()
            });
            let (members, actions, covers) = groups.entry((*s, *d)).or_insert_with(|| {
                let eligible = eligibility.get(s).cloned().unwrap_or_default();
                (eligible, Vec::new(), Some(Vec::new()))
            });
            members.push(*policy as u32);
            actions.extend(acts.iter().copied());
            // A scope that lists no fields covers the whole dataset.
            match (covers.as_mut(), listed) {
                (Some(have), Some(more)) => have.extend(more),
                _ => *covers = None,
            }
        }
        let mut groups: Vec<((usize, usize), Group)> = groups.into_iter().collect();
        groups.sort_unstable_by_key(|(k, _)| *k);
        for (key, (mut members, mut actions, mut covers)) in groups {
            members.sort_unstable();
            members.dedup();
            actions.sort_unstable();
            actions.dedup();
            if let Some(c) = covers.as_mut() {
                c.sort_unstable();
                c.dedup();
            }
            let slot = slices.add(members);
            scope_sets.insert(
                key,
                ScopeSet {
                    slot,
                    actions,
                    covers,
                },
            );
        }
        // A bundle that fits in the cache is parsed whole now, so no decision waits.
        if slices.stats().slices <= slice_cache {
            slices.warm(&metas).map_err(invalid)?;
        }
        let first_action = actions
            .values()
            .min_by_key(|a| a.index)
            .map(|a| a.uid.clone())
            .ok_or_else(|| invalid("the bundle declares no action".to_string()))?;
        let sweep_resource = uid(&ns, "Field", "\u{0}sweep").map_err(invalid)?;
        let sweep_scenario = uid(&ns, "Scenario", "\u{0}sweep").map_err(invalid)?;

        Ok(Snapshot {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            bundle: BundleRef {
                name: bundle.manifest.name,
                version: bundle.manifest.version,
                hash: bundle.manifest.hash,
                signer: None,
            },
            catalog: bundle.catalog,
            policy_count,
            notice_count,
            policies: metas,
            developer_type,
            actions,
            scenarios,
            datasets,
            facts,
            fact_readers,
            all_entities: OnceLock::new(),
            ns: ns.clone(),
            request_sets,
            field_sets,
            scope_sets,
            eligibility_sets,
            slices,
            scopes_by_scenario,
            notices,
            memo_ok,
            triggers,
            full: OnceLock::new(),
            sweep_action: first_action,
            sweep_resource,
            sweep_scenario,
        })
    }

    /// The full decision set, parsed on first use from the policies' texts, in bundle
    /// order (comparisons and tests only).
    pub fn full(&self) -> Result<&FullSet, String> {
        self.full
            .get_or_init(|| {
                let mut policies = PolicySet::new();
                for (i, m) in self.policies.iter().enumerate() {
                    if &*m.reason.kind == "notice" {
                        continue;
                    }
                    let p = Policy::parse(Some(cedar_id(i)), &*m.cedar)
                        .map_err(|e| format!("policy `{}` does not parse: {e}", m.reason.id))?;
                    add(&mut policies, &p)?;
                }
                Ok(FullSet { policies })
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The parsed set of a slot of [`Snapshot::slices`].
    pub fn slice(&self, slot: u32) -> Result<std::sync::Arc<PolicySet>, String> {
        self.slices.get(slot, &self.policies)
    }

    /// The index of a policy from the id Cedar knows it by (see [`cedar_id`]).
    pub fn index_of(&self, id: &PolicyId) -> Option<usize> {
        AsRef::<str>::as_ref(id)
            .parse::<usize>()
            .ok()
            .filter(|i| *i < self.policies.len())
    }

    /// The metadata of a policy by the id Cedar knows it by.
    pub fn meta_of(&self, id: &PolicyId) -> Option<&PolicyMeta> {
        self.index_of(id).and_then(|i| self.policies.get(i))
    }

    /// The entity of a field: its title, grade and tags, its dataset as parent, as the
    /// compiler writes it in `entities.json`.
    pub fn field_entity(&self, d: &DatasetInfo, f: &FieldInfo) -> Result<Entity, String> {
        let (name, field) = self
            .catalog
            .datasets
            .get(&d.name)
            .and_then(|c| c.fields.get(f.index as usize))
            .ok_or_else(|| format!("field {} is not in the catalog", f.uid))?;
        let attrs = [
            (
                "title".to_string(),
                RestrictedExpression::new_string(
                    field.title.clone().unwrap_or_else(|| name.clone()),
                ),
            ),
            (
                "grade".to_string(),
                RestrictedExpression::new_long(field.grade),
            ),
            (
                "tags".to_string(),
                RestrictedExpression::new_set(
                    field
                        .tags
                        .iter()
                        .map(|t| RestrictedExpression::new_string(t.clone())),
                ),
            ),
        ];
        let parent = uid(&self.ns, "Dataset", &d.name)?;
        Entity::new(
            f.uid.clone(),
            attrs.into_iter().collect(),
            [parent].into_iter().collect(),
        )
        .map_err(|e| format!("cannot build field {}: {e}", f.uid))
    }

    /// Every entity of the catalog: scenarios, datasets and fields.
    pub fn all_entities(&self) -> Result<&Entities, String> {
        self.all_entities
            .get_or_init(|| {
                let s = |v: &Option<String>, dflt: &str| {
                    RestrictedExpression::new_string(v.clone().unwrap_or_else(|| dflt.to_string()))
                };
                let mut list = Vec::new();
                for (name, sc) in &self.catalog.scenarios {
                    let attrs = [
                        ("title".to_string(), s(&sc.title, name)),
                        ("domain".to_string(), s(&sc.domain, "")),
                    ];
                    let e = Entity::new(
                        uid(&self.ns, "Scenario", name)?,
                        attrs.into_iter().collect(),
                        Default::default(),
                    )
                    .map_err(|e| e.to_string())?;
                    list.push(e);
                }
                let mut datasets: Vec<&DatasetInfo> = self.datasets.values().collect();
                datasets.sort_by_key(|d| d.index);
                for d in datasets {
                    let c = self
                        .catalog
                        .datasets
                        .get(&d.name)
                        .ok_or("dataset missing")?;
                    let attrs = [
                        ("title".to_string(), s(&c.title, &d.name)),
                        ("source".to_string(), s(&c.source, "")),
                        ("domain".to_string(), s(&c.domain, "")),
                    ];
                    let e = Entity::new(
                        uid(&self.ns, "Dataset", &d.name)?,
                        attrs.into_iter().collect(),
                        Default::default(),
                    )
                    .map_err(|e| e.to_string())?;
                    list.push(e);
                    for name in &d.order {
                        if let Some(f) = d.fields.get(name.as_str()) {
                            list.push(self.field_entity(d, f)?);
                        }
                    }
                }
                Entities::from_entities(list, None).map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}
