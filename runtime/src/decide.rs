//! The decision path: resolve the request against the catalog once, build only the
//! entities it touches, evaluate the slice of policies that can apply, and explain.
//!
//! Cedar's forbid-overrides-permit is computed over the union of the slice's sets: a
//! field is denied when any forbid in any set is satisfied, allowed when none is and some
//! permit is, and denied otherwise. Any evaluation error denies (fail closed): Cedar
//! skips a policy that errors, which for a forbid would mean allow.

use std::collections::BTreeSet;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use cedar_policy::{
    Authorizer, Context, Decision as CedarDecision, Entities, EntityUid, PolicySet,
    Request as CedarRequest, Response, RestrictedExpression,
};
use serde_json::Value as Json;

use crate::facts::{developer, ContextMemo, Dev, FactStore, Memo};
use crate::snapshot::{ActionInfo, DatasetInfo, FieldInfo, ScenarioInfo, Snapshot};
use crate::time::{format_day, parse_at, today};
use crate::types::{
    Consent, Decision, DecisionError, Effect, ErrorCode, FieldDecision, Reason, Request, WhyNot,
    WhyNotCode, UNKNOWN_FIELDS_NAMED,
};

/// How a decision is evaluated. The engine always slices; the others exist to compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Evaluation {
    /// The slice of policies that can apply, and only the request's entities.
    Sliced,
    /// Every decision policy of the bundle, with the request's entities.
    FullSet,
    /// Every decision policy, with every entity of the catalog.
    FullSetAllEntities,
}

/// A request resolved against a snapshot.
pub(crate) struct Resolved<'s> {
    pub action: &'s ActionInfo,
    pub scenario: &'s ScenarioInfo,
    pub dataset: &'s DatasetInfo,
    pub fields: Vec<(String, &'s FieldInfo)>,
    pub day: i64,
    pub consent: bool,
    pub developer: Arc<Dev>,
    pub in_scenario: bool,
    /// The developer comes from the fact store, so its `Dev` lives across requests
    /// and its memo and entity stores pay off.
    pub stored: bool,
}

/// What Cedar said about one field: policy indices, in bundle order.
#[derive(Clone, Debug, Default)]
pub(crate) struct Raw {
    forbids: BTreeSet<usize>,
    permits: BTreeSet<usize>,
    errors: Vec<DecisionError>,
}

impl Raw {
    fn absorb(&mut self, snap: &Snapshot, resp: &Response) {
        let target = match resp.decision() {
            CedarDecision::Allow => &mut self.permits,
            CedarDecision::Deny => &mut self.forbids,
        };
        for id in resp.diagnostics().reason() {
            if let Some(i) = snap.index_of(id) {
                target.insert(i);
            }
        }
        for e in resp.diagnostics().errors() {
            let cedar_policy::AuthorizationError::PolicyEvaluationError(pe) = e;
            let meta = snap.meta_of(pe.policy_id());
            let id = meta
                .map(|m| m.reason.id.to_string())
                .unwrap_or_else(|| pe.policy_id().to_string());
            let source = meta.map(|m| &*m.reason.source).unwrap_or_default();
            self.errors.push(DecisionError {
                code: ErrorCode::EvaluationError,
                message: format!(
                    "policy `{id}` ({source}) could not be evaluated, so the answer is deny: {}",
                    pe.inner()
                ),
                policy: Some(id),
            });
        }
    }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A decision id: the time in milliseconds, a per-process nonce and a counter, so ids
/// are unique across replicas and restarts without coordination.
pub fn decision_id() -> String {
    static NONCE: OnceLock<u64> = OnceLock::new();
    let nonce = *NONCE.get_or_init(|| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        h.finish()
    });
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{millis:011x}-{:06x}-{n:06x}", nonce & 0xff_ffff)
}

/// Resolves a request; every problem found is returned, not just the first.
///
/// `used` receives the fact-store record the request was resolved with, when it carried no
/// facts of its own and the store had the developer.
pub(crate) fn resolve<'s>(
    snap: &'s Snapshot,
    store: &FactStore,
    req: &Request,
    used: Option<&mut Option<Arc<crate::facts::Record>>>,
) -> (Option<Resolved<'s>>, Vec<DecisionError>, i64) {
    let mut errors = Vec::new();
    for name in req.empty_ids() {
        errors.push(DecisionError::new(
            ErrorCode::InvalidRequest,
            format!("`{name}` is empty"),
        ));
    }
    let offset = snap.catalog.utc_offset_minutes;
    let day = match &req.at {
        None => today(offset),
        Some(at) => parse_at(at, offset).unwrap_or_else(|| {
            errors.push(DecisionError::new(
                ErrorCode::InvalidTime,
                format!("`{at}` is not a time: write RFC 3339 (`2026-06-01T09:00:00+08:00`) or a date (`2026-06-01`)"),
            ));
            today(offset)
        }),
    };
    let action = snap.actions.get(req.action.as_str());
    if action.is_none() {
        errors.push(DecisionError::new(
            ErrorCode::UnknownAction,
            format!("`{}` is not an action of the bundle", req.action),
        ));
    }
    let scenario = snap.scenarios.get(req.scenario.as_str());
    if scenario.is_none() {
        errors.push(DecisionError::new(
            ErrorCode::UnknownScenario,
            format!("`{}` is not a scenario of the bundle", req.scenario),
        ));
    }
    let dataset = snap.datasets.get(req.dataset.as_str());
    let mut fields = Vec::new();
    match dataset {
        None => errors.push(DecisionError::new(
            ErrorCode::UnknownDataset,
            format!("`{}` is not a dataset of the catalog", req.dataset),
        )),
        Some(d) => {
            let names: Vec<&String> = if req.fields.is_empty() {
                d.order.iter().collect()
            } else {
                req.fields.iter().collect()
            };
            let mut seen = rustc_hash::FxHashSet::default();
            // Unknown names are reported once, as a count and the first few: an answer
            // (and its log row) must not grow with every name a request invents.
            let mut unknown: Vec<&str> = Vec::new();
            let mut unknown_count = 0usize;
            for name in names {
                if !seen.insert(name.as_str()) {
                    continue;
                }
                match d.fields.get(name.as_str()) {
                    Some(f) => fields.push((name.clone(), f)),
                    None => {
                        unknown_count += 1;
                        if unknown.len() < UNKNOWN_FIELDS_NAMED {
                            unknown.push(name.as_str());
                        }
                    }
                }
            }
            if unknown_count > 0 {
                let named = unknown
                    .iter()
                    .map(|n| format!("`{}`", crate::types::clip(n, 64)))
                    .collect::<Vec<_>>()
                    .join(", ");
                let message = if unknown_count == 1 {
                    format!("{named} is not a field of dataset `{}`", req.dataset)
                } else if unknown_count <= unknown.len() {
                    format!(
                        "{unknown_count} names are not fields of dataset `{}`: {named}",
                        req.dataset
                    )
                } else {
                    format!(
                        "{unknown_count} names are not fields of dataset `{}`: {named} and {} more",
                        req.dataset,
                        unknown_count - unknown.len()
                    )
                };
                errors.push(DecisionError::new(ErrorCode::UnknownField, message));
            }
            if fields.is_empty() && errors.is_empty() {
                errors.push(DecisionError::new(
                    ErrorCode::UnknownField,
                    format!("dataset `{}` has no field", req.dataset),
                ));
            }
        }
    }
    let inline = req.facts.as_ref().and_then(|f| f.developer.as_ref());
    let stored = inline.is_none();
    let (developer, in_scenario) = match inline {
        Some(facts) => (
            developer(snap, &req.developer, facts),
            member(facts.get("scenarios"), &req.scenario),
        ),
        None => match store.record(&req.developer) {
            Some(rec) => {
                let built = (
                    rec.dev(&req.developer, snap),
                    member(rec.facts.get("scenarios"), &req.scenario),
                );
                if let Some(used) = used {
                    *used = Some(rec);
                }
                built
            }
            None => (
                Err(vec![DecisionError::new(
                    ErrorCode::UnknownDeveloper,
                    format!(
                        "no facts for developer `{}`: the request carries none and the fact store has none",
                        req.developer
                    ),
                )]),
                false,
            ),
        },
    };
    let developer = match developer {
        Ok(d) => Some(d),
        Err(e) => {
            errors.extend(e);
            None
        }
    };
    match (action, scenario, dataset, developer, errors.is_empty()) {
        (Some(action), Some(scenario), Some(dataset), Some(developer), true) => (
            Some(Resolved {
                action,
                scenario,
                dataset,
                fields,
                day,
                consent: req.consent.as_ref().is_some_and(Consent::counts),
                developer,
                in_scenario,
                stored,
            }),
            errors,
            day,
        ),
        _ => (None, errors, day),
    }
}

fn member(v: Option<&Json>, scenario: &str) -> bool {
    matches!(v, Some(Json::Array(items)) if items.iter().any(|i| i.as_str() == Some(scenario)))
}

/// Decides a request.
pub(crate) fn decide(
    snap: &Snapshot,
    store: &FactStore,
    req: &Request,
    how: Evaluation,
) -> Decision {
    decide_recording(snap, store, req, how, None)
}

/// Decides a request; `used` receives the fact-store record it was decided with, if any.
pub(crate) fn decide_recording(
    snap: &Snapshot,
    store: &FactStore,
    req: &Request,
    how: Evaluation,
    used: Option<&mut Option<Arc<crate::facts::Record>>>,
) -> Decision {
    let (resolved, mut errors, day) = resolve(snap, store, req, used);
    let mut decision = Decision {
        decision_id: decision_id(),
        decision: Effect::Deny,
        developer: req.developer.clone(),
        action: req.action.clone(),
        dataset: req.dataset.clone(),
        scenario: req.scenario.clone(),
        // An `at` that is not a time is named as given, not replaced by today's date.
        day: match &req.at {
            Some(at) if errors.iter().any(|e| e.code == ErrorCode::InvalidTime) => {
                crate::types::clip(at, 64).to_string()
            }
            _ => format_day(day),
        },
        fields: Vec::new(),
        reasons: Vec::new(),
        notices: Vec::new(),
        errors: Vec::new(),
        consent_reference: req.consent.as_ref().and_then(|c| c.reference.clone()),
        bundle: snap.bundle.clone(),
    };
    let Some(r) = resolved else {
        // Fail closed: nothing is evaluated, every field is denied, the errors say why.
        // Only the dataset's own fields are listed: names it does not have are counted in
        // the `unknown_field` error, so the answer does not echo every name invented.
        let d = snap.datasets.get(req.dataset.as_str());
        decision.fields = req
            .fields
            .iter()
            .filter_map(|f| {
                let known = d.and_then(|d| d.fields.get(f.as_str()))?;
                Some(FieldDecision {
                    field: f.clone(),
                    grade: Some(known.grade_name.clone()),
                    decision: Effect::Deny,
                    reasons: Vec::new(),
                    why_not: Vec::new(),
                })
            })
            .collect();
        decision.errors = errors;
        return decision;
    };
    let (raws, notices) = match evaluate(snap, req, &r, how) {
        Ok(x) => x,
        Err(e) => {
            decision.fields = r
                .fields
                .iter()
                .map(|(name, f)| FieldDecision {
                    field: name.clone(),
                    grade: Some(f.grade_name.clone()),
                    decision: Effect::Deny,
                    reasons: Vec::new(),
                    why_not: Vec::new(),
                })
                .collect();
            decision.errors = vec![e];
            return decision;
        }
    };
    let mut all_reasons = BTreeSet::new();
    let mut all_allowed = true;
    for ((name, info), raw) in r.fields.iter().zip(raws) {
        let (effect, reasons) = if !raw.forbids.is_empty() {
            (Effect::Deny, raw.forbids)
        } else if !raw.errors.is_empty() {
            (Effect::Deny, BTreeSet::new())
        } else if !raw.permits.is_empty() {
            (Effect::Allow, raw.permits)
        } else {
            (Effect::Deny, BTreeSet::new())
        };
        let why_not = if effect == Effect::Deny && reasons.is_empty() && raw.errors.is_empty() {
            explain(snap, req, &r, name)
        } else {
            Vec::new()
        };
        for e in raw.errors {
            if !errors.contains(&e) {
                errors.push(e);
            }
        }
        all_allowed &= effect == Effect::Allow;
        all_reasons.extend(reasons.iter().copied());
        decision.fields.push(FieldDecision {
            field: name.clone(),
            grade: Some(info.grade_name.clone()),
            decision: effect,
            reasons: reasons.iter().filter_map(|i| reason(snap, *i)).collect(),
            why_not,
        });
    }
    errors.extend(notices.errors);
    decision.notices = notices
        .permits
        .iter()
        .filter_map(|i| reason(snap, *i))
        .collect();
    decision.reasons = all_reasons
        .iter()
        .filter_map(|i| reason(snap, *i))
        .collect();
    decision.decision = if all_allowed && errors.is_empty() {
        Effect::Allow
    } else {
        Effect::Deny
    };
    decision.errors = errors;
    decision
}

fn reason(snap: &Snapshot, i: usize) -> Option<Reason> {
    snap.policies.get(i).map(|m| m.reason.clone())
}

fn internal(what: &str, e: impl std::fmt::Display) -> DecisionError {
    DecisionError::new(ErrorCode::Internal, format!("cannot {what}: {e}"))
}

pub(crate) fn context(
    snap_scenario: &EntityUid,
    day: i64,
    consent: bool,
    purpose: &str,
) -> Result<Context, DecisionError> {
    Context::from_pairs([
        ("now".to_string(), RestrictedExpression::new_long(day)),
        (
            "scenario".to_string(),
            RestrictedExpression::new_entity_uid(snap_scenario.clone()),
        ),
        (
            "consent".to_string(),
            RestrictedExpression::new_bool(consent),
        ),
        (
            "purpose".to_string(),
            RestrictedExpression::new_string(purpose.to_string()),
        ),
    ])
    .map_err(|e| internal("build the context", e))
}

/// The outcome of developer-level rules (`action` given) or of the notices (`None`),
/// from the developer's memo when `memo` allows, else computed by `eval`.
fn developer_level(
    snap: &Snapshot,
    r: &Resolved<'_>,
    memo: bool,
    action: Option<usize>,
    eval: impl FnOnce() -> Raw,
) -> Arc<Raw> {
    if !memo {
        return Arc::new(eval());
    }
    let slot = |m: &Memo| -> Option<Arc<Raw>> {
        match action {
            Some(a) => m.common.get(a).cloned().flatten(),
            None => m.notices.clone(),
        }
    };
    if let Some(m) = r.developer.memo.load().as_ref() {
        if m.day == r.day {
            if let Some(hit) = slot(m) {
                return hit;
            }
        }
    }
    let value = Arc::new(eval());
    // Racing writers may drop each other's entries; they recompute the same values.
    let current = r.developer.memo.load_full();
    let mut next = match current.as_deref() {
        Some(m) if m.day == r.day => Memo {
            day: m.day,
            common: m.common.clone(),
            notices: m.notices.clone(),
        },
        _ => Memo {
            day: r.day,
            common: vec![None; snap.actions.len()],
            notices: None,
        },
    };
    match action {
        Some(a) => {
            if let Some(s) = next.common.get_mut(a) {
                *s = Some(value.clone());
            }
        }
        None => next.notices = Some(value.clone()),
    }
    r.developer.memo.store(Some(Arc::new(next)));
    value
}

/// The developer with every field of the request's dataset, built once per stored
/// developer and dataset.
fn dataset_store(snap: &Snapshot, r: &Resolved<'_>) -> Result<Arc<Entities>, DecisionError> {
    let index = r.dataset.index;
    if let Some((_, hit)) = r.developer.stores.load().iter().find(|(i, _)| *i == index) {
        return Ok(hit.clone());
    }
    let mut list = Vec::with_capacity(r.dataset.order.len() + 1);
    list.push(r.developer.full.clone());
    for name in &r.dataset.order {
        if let Some(f) = r.dataset.fields.get(name.as_str()) {
            list.push(
                snap.field_entity(r.dataset, f)
                    .map_err(|e| internal("build a field", e))?,
            );
        }
    }
    let built = Arc::new(
        Entities::from_entities(list, None)
            .map_err(|e| internal("build the dataset's entities", e))?,
    );
    r.developer.stores.rcu(|m| {
        let mut m: Vec<(usize, Arc<Entities>)> =
            m.iter().filter(|(i, _)| *i != index).cloned().collect();
        if m.len() >= crate::facts::STORES_PER_DEVELOPER {
            m.remove(0);
        }
        m.push((index, built.clone()));
        m
    });
    Ok(built)
}

/// The entities one request touches: the developer (whole, or only its uid and
/// parents when no rule evaluated with these entities reads its facts) and the fields
/// asked for, cloned from the prebuilt catalog. No policy reads a scenario's or a
/// dataset's attributes, and `in` needs only the field's ancestors, so those entities
/// are left out.
fn request_entities(
    snap: &Snapshot,
    r: &Resolved<'_>,
    whole_developer: bool,
) -> Result<Entities, DecisionError> {
    let mut list = Vec::with_capacity(r.fields.len() + 1);
    list.push(if whole_developer {
        r.developer.full.clone()
    } else {
        r.developer.stub.clone()
    });
    for (_, f) in &r.fields {
        list.push(
            snap.field_entity(r.dataset, f)
                .map_err(|e| internal("build a field", e))?,
        );
    }
    Entities::from_entities(list, None).map_err(|e| internal("build the request's entities", e))
}

fn evaluate(
    snap: &Snapshot,
    req: &Request,
    r: &Resolved<'_>,
    how: Evaluation,
) -> Result<(Vec<Raw>, Raw), DecisionError> {
    let purpose = req.purpose.as_deref().unwrap_or("");
    let ctx = {
        let memo = r.developer.context.load();
        match memo.as_deref() {
            Some(m)
                if r.stored
                    && m.scenario == r.scenario.index
                    && m.day == r.day
                    && m.consent == r.consent
                    && m.purpose == purpose =>
            {
                m.context.clone()
            }
            _ => {
                let ctx = context(&r.scenario.uid, r.day, r.consent, purpose)?;
                if r.stored {
                    r.developer.context.store(Some(Arc::new(ContextMemo {
                        scenario: r.scenario.index,
                        day: r.day,
                        consent: r.consent,
                        purpose: purpose.to_string(),
                        context: ctx.clone(),
                    })));
                }
                ctx
            }
        }
    };
    let auth = Authorizer::new();
    let principal = r.developer.full.uid();
    let request = |resource: &EntityUid| {
        CedarRequest::new(
            principal.clone(),
            r.action.uid.clone(),
            resource.clone(),
            ctx.clone(),
            None,
        )
        .map_err(|e| internal("build the request", e))
    };
    let mut raws = Vec::with_capacity(r.fields.len());
    let Some((_, first)) = r.fields.first() else {
        return Ok((raws, Raw::default()));
    };
    let first_req = request(&first.uid)?;
    let memo = how == Evaluation::Sliced && r.stored && snap.memo_ok;
    // Notices read only the developer and the time: once per request, or once a day
    // for a stored developer.
    let notices = developer_level(snap, r, memo, None, || {
        let mut notices = Raw::default();
        if !snap.notices.is_empty() {
            let resp = auth.is_authorized(&first_req, &snap.notices, &r.developer.alone);
            notices.absorb(snap, &resp);
            // A notice set holds only permits: a deny means none fired.
            if resp.decision() == CedarDecision::Deny {
                notices.forbids.clear();
            }
        }
        notices
    });
    let notices = Raw::clone(&notices);
    let field_request = |i: usize, f: &FieldInfo| -> Result<Option<CedarRequest>, DecisionError> {
        if i == 0 {
            Ok(None)
        } else {
            request(&f.uid).map(Some)
        }
    };
    match how {
        Evaluation::Sliced => {
            // Developer-level forbids read only the developer and the context, so their
            // outcome is the same for every field: evaluate them once, with the
            // developer alone.
            let common = developer_level(snap, r, memo, Some(r.action.index), || {
                let mut common = Raw::default();
                if let Some(set) = snap.request_sets.get(r.action.index) {
                    if !set.is_empty() {
                        common.absorb(
                            snap,
                            &auth.is_authorized(&first_req, set, &r.developer.alone),
                        );
                    }
                }
                common
            });
            let eligibility_slot = snap.eligibility_sets.get(&r.scenario.index).copied();
            let scopes = snap.scope_sets.get(&(r.scenario.index, r.dataset.index));
            // Eligibility rules read the developer's facts; scopes only its parents.
            let entities = if r.stored {
                dataset_store(snap, r)?
            } else {
                Arc::new(request_entities(snap, r, eligibility_slot.is_some())?)
            };
            // The per-scenario sets come from the slice cache, taken only when a field
            // needs them.
            let slice = |slot: u32| {
                snap.slice(slot)
                    .map_err(|e| internal("parse the scenario's policies", e))
            };
            let (mut scope_set, mut eligibility) = (None, None);
            for (i, (_, f)) in r.fields.iter().enumerate() {
                let owned = field_request(i, f)?;
                let req_f = owned.as_ref().unwrap_or(&first_req);
                let mut raw = Raw {
                    forbids: common.forbids.clone(),
                    permits: BTreeSet::new(),
                    errors: common.errors.clone(),
                };
                let key = (r.action.index, f.grade, f.consent_tagged, r.consent);
                if let Some(set) = snap.field_sets.get(&key) {
                    raw.absorb(snap, &auth.is_authorized(req_f, set, &entities));
                }
                // A field no scope lists can only meet the eligibility rules.
                let set: Option<&PolicySet> = match (scopes, eligibility_slot) {
                    (Some(sc), _) if sc.covers(r.action.index, f.index) => {
                        if scope_set.is_none() {
                            scope_set = Some(slice(sc.slot)?);
                        }
                        scope_set.as_deref()
                    }
                    (_, Some(slot)) => {
                        if eligibility.is_none() {
                            eligibility = Some(slice(slot)?);
                        }
                        eligibility.as_deref()
                    }
                    (_, None) => None,
                };
                if let Some(set) = set.filter(|s| !s.is_empty()) {
                    raw.absorb(snap, &auth.is_authorized(req_f, set, &entities));
                }
                raws.push(raw);
            }
        }
        Evaluation::FullSet | Evaluation::FullSetAllEntities => {
            let entities = if how == Evaluation::FullSetAllEntities {
                snap.all_entities()
                    .map_err(|e| internal("build the catalog", e))?
                    .clone()
                    .add_entities([r.developer.full.clone()], None)
                    .map_err(|e| internal("add the developer to the catalog", e))?
            } else {
                request_entities(snap, r, true)?
            };
            let set = &snap
                .full()
                .map_err(|e| internal("parse the full policy set", e))?
                .policies;
            for (i, (_, f)) in r.fields.iter().enumerate() {
                let owned = field_request(i, f)?;
                let req_f = owned.as_ref().unwrap_or(&first_req);
                let mut raw = Raw::default();
                raw.absorb(snap, &auth.is_authorized(req_f, set, &entities));
                raws.push(raw);
            }
        }
    }
    Ok((raws, notices))
}

/// Why no permit allowed `field`: each scope of the scenario that was considered, and
/// the first of its conditions that did not hold.
fn explain(snap: &Snapshot, req: &Request, r: &Resolved<'_>, field: &str) -> Vec<WhyNot> {
    let mut out = Vec::new();
    let scen = &req.scenario;
    if !r.in_scenario {
        out.push(WhyNot {
            code: WhyNotCode::DeveloperNotInScenario,
            message: format!(
                "开发主体 `{}` 未获授权使用场景「{scen}」 (developer not authorized for the scenario)",
                req.developer
            ),
            policy: None,
            source: None,
            article: None,
        });
    }
    let scopes: Vec<&crate::snapshot::PolicyMeta> = snap
        .scopes_by_scenario
        .get(&r.scenario.index)
        .map(|v| {
            v.iter()
                .filter_map(|i| snap.policies.get(*i))
                .filter(|m| m.dataset.as_deref() == Some(req.dataset.as_str()))
                .collect()
        })
        .unwrap_or_default();
    if scopes.is_empty() {
        out.push(WhyNot {
            code: WhyNotCode::NoScopeForDataset,
            message: format!(
                "场景「{scen}」的授权范围不含数据集 `{}` (no scope for this dataset in this scenario)",
                req.dataset
            ),
            policy: None,
            source: None,
            article: None,
        });
        return out;
    }
    for m in scopes {
        let why = |code, message: String| WhyNot {
            code,
            message,
            policy: Some(m.reason.id.to_string()),
            source: Some(m.reason.source.to_string()),
            article: m.reason.article.as_deref().map(str::to_string),
        };
        let actions = m.actions.clone().unwrap_or_default();
        if !actions.iter().any(|a| a == &req.action) {
            out.push(why(
                WhyNotCode::ActionNotInScope,
                format!(
                    "场景「{scen}」对 `{}` 只授权 {}，不含 `{}` (action not in the scope)",
                    req.dataset,
                    actions.join("、"),
                    req.action
                ),
            ));
        } else if m
            .fields
            .as_ref()
            .is_some_and(|fs| !fs.iter().any(|f| f == field))
        {
            out.push(why(
                WhyNotCode::FieldOutsideScope,
                format!(
                    "字段 `{field}` 不在场景「{scen}」对 `{}` 的授权字段内：{} (field outside the scope)",
                    req.dataset,
                    m.fields.clone().unwrap_or_default().join("、")
                ),
            ));
        } else if r.day < r.scenario.term_start || r.day > r.scenario.term_end {
            out.push(why(
                WhyNotCode::TermNotInForce,
                format!(
                    "场景「{scen}」的授权期限为 {} .. {}，{} 不在期限内 (term not in force)",
                    format_day(r.scenario.term_start),
                    format_day(r.scenario.term_end),
                    format_day(r.day)
                ),
            ));
        } else if m.requires_consent && !r.consent {
            out.push(why(
                WhyNotCode::ConsentRequired,
                format!(
                    "场景「{scen}」使用 `{}` 须取得信息主体授权，请求未附授权 (the scope requires consent)",
                    req.dataset
                ),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::facts::STORES_PER_DEVELOPER;
    use crate::Engine;
    use charter_compiler::synth::{self, good_facts, SynthOptions};

    /// A stored developer asking about many datasets keeps only the latest few entity
    /// stores, and its answers do not change when older ones are dropped.
    #[test]
    fn a_developer_keeps_a_bounded_number_of_dataset_stores() {
        let bundle = synth::compile(&SynthOptions {
            scenarios: 40,
            seed: 3,
            ..Default::default()
        })
        .unwrap();
        let catalog = bundle.catalog.clone();
        let engine = Engine::from_bundle(bundle).unwrap();
        let scenarios: Vec<&str> = catalog.scenarios.keys().map(String::as_str).collect();
        let facts = good_facts(&catalog, &scenarios, "2099-12-31");
        engine.facts().set("dev-many", facts);
        let scenario = scenarios[0].to_string();
        let requests: Vec<Request> = catalog
            .datasets
            .iter()
            .take(3 * STORES_PER_DEVELOPER)
            .map(|(name, d)| Request {
                developer: "dev-many".into(),
                action: catalog.actions.keys().next().cloned().unwrap_or_default(),
                dataset: name.clone(),
                fields: d.fields.iter().take(2).map(|(f, _)| f.clone()).collect(),
                scenario: scenario.clone(),
                at: Some("2026-06-01".into()),
                ..Default::default()
            })
            .collect();
        assert!(requests.len() > STORES_PER_DEVELOPER);
        let first: Vec<Decision> = requests.iter().map(|r| engine.decide(r)).collect();
        let snap = engine.inner.current.load();
        let dev = engine
            .inner
            .facts
            .record("dev-many")
            .unwrap()
            .dev("dev-many", &snap)
            .unwrap();
        let held: Vec<usize> = dev.stores.load().iter().map(|(i, _)| *i).collect();
        assert_eq!(held.len(), STORES_PER_DEVELOPER, "{held:?}");
        // Asked again, in the same order: every store is rebuilt, the answers are the same.
        for (r, before) in requests.iter().zip(&first) {
            let mut again = engine.decide(r);
            again.decision_id.clone_from(&before.decision_id);
            assert_eq!(&again, before);
            assert!(dev.stores.load().len() <= STORES_PER_DEVELOPER);
        }
    }
}
