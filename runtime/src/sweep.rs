//! The sweep: which exit, suspend and notice rules fire for a developer at a time, with
//! the measures they demand, for the supervision platform's periodic checks.

use cedar_policy::{Authorizer, Decision as CedarDecision, Request as CedarRequest};

use crate::decide::context;
use crate::facts::{developer, FactStore, Facts};
use crate::snapshot::Snapshot;
use crate::time::{format_day, parse_at, today};
use crate::types::{DecisionError, ErrorCode, Reason, SweepReport};

/// Sweeps one developer: with `facts` given, those; else the fact store's.
pub(crate) fn sweep(
    snap: &Snapshot,
    store: &FactStore,
    dev_id: &str,
    facts: Option<&Facts>,
    at: Option<&str>,
) -> SweepReport {
    let offset = snap.catalog.utc_offset_minutes;
    let mut errors = Vec::new();
    let day = match at {
        None => today(offset),
        Some(a) => parse_at(a, offset).unwrap_or_else(|| {
            errors.push(DecisionError::new(
                ErrorCode::InvalidTime,
                format!("`{a}` is not a time: write RFC 3339 or a date `YYYY-MM-DD`"),
            ));
            today(offset)
        }),
    };
    let mut report = SweepReport {
        developer: dev_id.to_string(),
        day: format_day(day),
        triggers: Vec::new(),
        notices: Vec::new(),
        measures: Vec::new(),
        errors: Vec::new(),
        bundle: snap.bundle.clone(),
    };
    let entity = match facts {
        Some(f) => developer(snap, dev_id, f),
        None => match store.record(dev_id) {
            Some(rec) => rec.dev(dev_id, snap),
            None => Err(vec![DecisionError::new(
                ErrorCode::UnknownDeveloper,
                format!("no facts for developer `{dev_id}`"),
            )]),
        },
    };
    let entity = match entity {
        Ok(e) if errors.is_empty() => e,
        Ok(_) => {
            report.errors = errors;
            return report;
        }
        Err(e) => {
            errors.extend(e);
            report.errors = errors;
            return report;
        }
    };
    let principal = entity.full.uid();
    let built = context(&snap.sweep_scenario, day, false, "").and_then(|ctx| {
        let req = CedarRequest::new(
            principal,
            snap.sweep_action.clone(),
            snap.sweep_resource.clone(),
            ctx,
            None,
        )
        .map_err(|e| {
            DecisionError::new(
                ErrorCode::Internal,
                format!("cannot build the request: {e}"),
            )
        })?;
        Ok(req)
    });
    let req = match built {
        Ok(x) => x,
        Err(e) => {
            report.errors = vec![e];
            return report;
        }
    };
    let auth = Authorizer::new();
    for (set, is_notice) in [(&snap.triggers, false), (&snap.notices, true)] {
        if set.is_empty() {
            continue;
        }
        let resp = auth.is_authorized(&req, set, &entity.alone);
        let fired = match (resp.decision(), is_notice) {
            // Triggers are forbids: a deny's reasons are those that fired.
            (CedarDecision::Deny, false) | (CedarDecision::Allow, true) => true,
            _ => false,
        };
        let mut reasons: Vec<(usize, Reason)> = Vec::new();
        if fired {
            for id in resp.diagnostics().reason() {
                if let Some(i) = snap.index_of(id) {
                    if let Some(m) = snap.policies.get(i) {
                        reasons.push((i, m.reason.clone()));
                    }
                }
            }
        }
        reasons.sort_by_key(|(i, _)| *i);
        for e in resp.diagnostics().errors() {
            let cedar_policy::AuthorizationError::PolicyEvaluationError(pe) = e;
            let id = snap
                .meta_of(pe.policy_id())
                .map(|m| m.reason.id.to_string())
                .unwrap_or_else(|| pe.policy_id().to_string());
            report.errors.push(DecisionError {
                code: ErrorCode::EvaluationError,
                message: format!("policy `{id}` could not be evaluated: {}", pe.inner()),
                policy: Some(id),
            });
        }
        let list = reasons.into_iter().map(|(_, r)| r);
        if is_notice {
            report.notices.extend(list);
        } else {
            report.triggers.extend(list);
        }
    }
    for t in &report.triggers {
        for m in t.measures.iter() {
            if !report.measures.contains(m) {
                report.measures.push(m.clone());
            }
        }
    }
    report
}
