//! The routes and their handlers.
//!
//! A decide call: read and check the body (4xx naming the field when it does not fit),
//! decide, serialize the answer once, and hand the same bytes to the log. In strict mode
//! the answer leaves only after its record is committed; when the log cannot take it, the
//! answer is a deny that names the log's error (503), never an unrecorded allow.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value as Json};

use super::auth::{authorize, may_supply_facts};
use super::body::{parse, read_bytes};
use super::error::ApiError;
use super::metrics::{self, Endpoint};
use super::{AppState, FactsFrom, OPENAPI};
use charter_log::{format_ms, now_ms, Durability, Entry, LogError};
use charter_runtime::history::RollbackError;
use charter_runtime::{
    Decision, DecisionError, Effect, EngineError, ErrorCode, ReloadEvent, Request, StrictFacts,
};

type St = State<Arc<AppState>>;

/// Batches larger than this are decided on the blocking pool, so one big batch does not
/// hold an async worker (and every connection it serves) for milliseconds.
const INLINE_BATCH: usize = 32;

/// How long `/readyz` waits for a probe of an unhealthy log.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/decide", post(decide))
        .route("/v1/decide/batch", post(decide_batch))
        .route("/v1/sweep", post(sweep))
        .route("/v1/facts/developers", get(list_developers))
        .route("/v1/facts/developers/{id}", get(get_facts))
        .route("/v1/bundle", get(bundle))
        .merge(admin_router(state.clone()))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/v1/openapi.json", get(openapi))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::map_response_with_state(
            state.clone(),
            count_response,
        ))
        .with_state(state)
}

/// The admin endpoints and fact writes. Every route of this router is behind the admin
/// token ([`require_admin`], a route layer): a route added here cannot forget the check,
/// and a handler here does not make it.
fn admin_router(state: Arc<AppState>) -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/v1/facts/developers/{id}",
            put(put_facts).patch(patch_facts).delete(delete_facts),
        )
        .route("/v1/admin/reload", post(reload))
        .route("/v1/admin/rollback", post(rollback))
        .route_layer(axum::middleware::from_fn_with_state(state, require_admin))
}

/// Lets the request through only with the admin token (see [`authorize`]).
async fn require_admin(
    State(s): St,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match authorize(s.token.as_ref(), req.headers()) {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

async fn count_response(State(s): St, r: Response) -> Response {
    s.metrics.response(r.status().as_u16());
    r
}

fn json_response(status: StatusCode, body: String) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

fn to_json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_string(value) {
        Ok(s) => json_response(status, s),
        Err(e) => internal(format!("cannot serialize the answer: {e}")).into_response(),
    }
}

fn internal(message: String) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
}

async fn read<T: serde::de::DeserializeOwned>(
    s: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<T, ApiError> {
    let bytes = read_bytes(headers, body, s.max_body, s.read_timeout).await?;
    parse(&bytes)
}

/// Checks what the runtime would only report inside a deny, and what the server does
/// not take at all: empty ids, consent without a reference, too many fields, a
/// malformed `at`, and inline facts the deployment does not take from this caller. The
/// client's mistake is a 4xx naming the field (`prefix` is `requests[3].` in a batch).
fn check_request(
    s: &AppState,
    headers: &HeaderMap,
    req: &Request,
    prefix: &str,
) -> Result<(), ApiError> {
    check_request_body(req, prefix, s.max_fields)?;
    let inline = req.facts.as_ref().and_then(|f| f.developer.as_ref());
    check_inline_facts(
        s,
        headers,
        inline.is_some(),
        &format!("{prefix}facts.developer"),
    )
}

/// The part of [`check_request`] that depends only on the request (not on who sends
/// it), shared with the fuzz entry point.
pub(super) fn check_request_body(
    req: &Request,
    prefix: &str,
    max_fields: usize,
) -> Result<(), ApiError> {
    if let Some(name) = req.empty_ids().next() {
        return Err(ApiError::invalid(
            format!("{prefix}{name}"),
            format!("`{name}` is empty: name one"),
        ));
    }
    if req.fields.len() > max_fields {
        return Err(ApiError::invalid(
            format!("{prefix}fields"),
            format!(
                "the request names {} fields; the server takes at most {} (`--max-fields`)",
                req.fields.len(),
                max_fields
            ),
        ));
    }
    if let Some(i) = req.fields.iter().position(|f| f.trim().is_empty()) {
        return Err(ApiError::invalid(
            format!("{prefix}fields[{i}]"),
            "a field name is empty",
        ));
    }
    if let Some(c) = &req.consent {
        if c.granted && !c.counts() {
            return Err(ApiError::invalid(
                format!("{prefix}consent.reference"),
                "consent needs the `reference` of its authorization record (Art. 20); \
                 granted consent without one is not consent",
            ));
        }
    }
    if let Some(at) = &req.at {
        if charter_runtime::time::parse_at(at, 0).is_none() {
            return Err(ApiError::invalid(
                format!("{prefix}at"),
                format!(
                    "`{}` is not a time: write RFC 3339 with an offset \
                     (`2026-06-01T09:00:00+08:00`) or a date (`2026-06-01`)",
                    charter_runtime::clip(at, 64)
                ),
            ));
        }
    }
    Ok(())
}

/// Applies the deployment's facts mode to a request that does or does not carry facts.
fn check_inline_facts(
    s: &AppState,
    headers: &HeaderMap,
    inline: bool,
    field: &str,
) -> Result<(), ApiError> {
    match (s.facts_from, inline) {
        (FactsFrom::Store, true)
            if !may_supply_facts(s.token.as_ref(), s.facts_token.as_ref(), headers) =>
        {
            Err(ApiError {
                field: Some(field.to_string()),
                ..ApiError::new(
                    StatusCode::FORBIDDEN,
                    "inline_facts_refused",
                    "this server takes developer facts from its fact store; a request may \
                     carry them only with the admin or the facts token \
                     (`Authorization: Bearer <token>`)",
                )
            })
        }
        (FactsFrom::Request, false) => Err(ApiError::invalid(
            field,
            "this server takes developer facts from the request (`--facts-from request`): \
             send them in `facts.developer`",
        )),
        _ => Ok(()),
    }
}

/// One decision, serialized, with its log entry.
struct Decided {
    decision: Decision,
    answer: String,
    request: Option<String>,
}

fn decide_one(s: &AppState, req: &Request) -> Result<Decided, ApiError> {
    let (decision, request) = match &s.log {
        None => (s.engine.decide(req), None),
        Some(_) => {
            let (decision, stored) = s.engine.decide_recording(req);
            let request = charter_log::request_as_decided(req, &decision, stored)
                .map_err(|e| internal(format!("cannot serialize the request: {e}")))?;
            (decision, Some(request))
        }
    };
    let answer = serde_json::to_string(&decision)
        .map_err(|e| internal(format!("cannot serialize the decision: {e}")))?;
    Ok(Decided {
        decision,
        answer,
        request,
    })
}

/// Records the decisions. `Err` only in strict mode, when they could not be committed.
async fn record(s: &AppState, decided: &[Decided]) -> Result<(), LogError> {
    let Some(log) = &s.log else { return Ok(()) };
    let ts = now_ms();
    let entries = decided
        .iter()
        .map(|d| {
            Entry::of(
                &d.decision,
                d.request.clone().unwrap_or_default(),
                d.answer.clone(),
                ts,
            )
        })
        .collect();
    match (log.record(entries).await, log.durability()) {
        (Ok(()), _) => Ok(()),
        (Err(e), Durability::Strict) => Err(e),
        (Err(e), Durability::Relaxed) => {
            tracing::error!(error = %e, "charter: a relaxed-mode decision was not logged");
            Ok(())
        }
    }
}

/// The deny answered in strict mode when the log cannot record a decision.
fn unrecorded(mut d: Decision, e: &LogError) -> Decision {
    d.decision = Effect::Deny;
    d.reasons.clear();
    for f in &mut d.fields {
        f.decision = Effect::Deny;
        f.reasons.clear();
    }
    d.errors.push(DecisionError {
        code: ErrorCode::LogUnavailable,
        message: format!("{e}; in strict mode a decision that cannot be recorded is denied"),
        policy: None,
    });
    d
}

async fn decide(State(s): St, headers: HeaderMap, body: Body) -> Response {
    let start = Instant::now();
    let result: Result<Response, ApiError> = async {
        let req: Request = read(&s, &headers, body).await?;
        check_request(&s, &headers, &req, "")?;
        let decided = decide_one(&s, &req)?;
        match record(&s, std::slice::from_ref(&decided)).await {
            Ok(()) => {
                s.metrics.decision(decided.decision.decision);
                Ok(json_response(StatusCode::OK, decided.answer))
            }
            Err(e) => {
                s.metrics.unrecorded(1);
                s.metrics.decision(Effect::Deny);
                Ok(to_json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &unrecorded(decided.decision, &e),
                ))
            }
        }
    }
    .await;
    s.metrics.latency(Endpoint::Decide, start.elapsed());
    result.unwrap_or_else(IntoResponse::into_response)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BatchBody {
    pub(super) requests: Vec<Request>,
}

async fn decide_batch(State(s): St, headers: HeaderMap, body: Body) -> Response {
    let start = Instant::now();
    let result: Result<Response, ApiError> = async {
        let batch: BatchBody = read(&s, &headers, body).await?;
        let n = batch.requests.len();
        if n > s.max_batch {
            return Err(ApiError::invalid(
                "requests",
                format!(
                    "the batch holds {n} requests; the server takes at most {}",
                    s.max_batch
                ),
            ));
        }
        for (i, r) in batch.requests.iter().enumerate() {
            check_request(&s, &headers, r, &format!("requests[{i}]."))?;
        }
        s.metrics.batch_size(n);
        // Nothing to decide and nothing to record: answer now (a strict log would
        // otherwise be asked to commit nothing).
        if n == 0 {
            return Ok(json_response(
                StatusCode::OK,
                r#"{"decisions":[]}"#.to_string(),
            ));
        }
        let decided: Vec<Decided> = if n > INLINE_BATCH {
            let s2 = s.clone();
            tokio::task::spawn_blocking(move || {
                batch
                    .requests
                    .iter()
                    .map(|r| decide_one(&s2, r))
                    .collect::<Result<Vec<_>, _>>()
            })
            .await
            .map_err(|e| internal(format!("the batch was not decided: {e}")))??
        } else {
            batch
                .requests
                .iter()
                .map(|r| decide_one(&s, r))
                .collect::<Result<Vec<_>, _>>()?
        };
        match record(&s, &decided).await {
            Ok(()) => {
                let mut out = String::with_capacity(
                    16 + decided.iter().map(|d| d.answer.len() + 1).sum::<usize>(),
                );
                out.push_str("{\"decisions\":[");
                for (i, d) in decided.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&d.answer);
                    s.metrics.decision(d.decision.decision);
                }
                out.push_str("]}");
                Ok(json_response(StatusCode::OK, out))
            }
            Err(e) => {
                s.metrics.unrecorded(n as u64);
                let denied: Vec<Decision> = decided
                    .into_iter()
                    .map(|d| {
                        s.metrics.decision(Effect::Deny);
                        unrecorded(d.decision, &e)
                    })
                    .collect();
                Ok(to_json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &json!({ "decisions": denied }),
                ))
            }
        }
    }
    .await;
    s.metrics.latency(Endpoint::Batch, start.elapsed());
    result.unwrap_or_else(IntoResponse::into_response)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SweepBody {
    #[serde(default)]
    developer: Option<String>,
    #[serde(default)]
    at: Option<String>,
    #[serde(default, deserialize_with = "strict_facts_opt")]
    facts: Option<Map<String, Json>>,
}

/// Called only when `facts` is present, so `null` is refused, as the document says.
fn strict_facts_opt<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Map<String, Json>>, D::Error> {
    StrictFacts::deserialize(d).map(|f| Some(f.0))
}

async fn sweep(State(s): St, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let b: SweepBody = read(&s, &headers, body).await?;
    if let Some(at) = &b.at {
        if charter_runtime::time::parse_at(at, 0).is_none() {
            return Err(ApiError::invalid(
                "at",
                format!(
                    "`{}` is not a time: write RFC 3339 with an offset or a date",
                    charter_runtime::clip(at, 64)
                ),
            ));
        }
    }
    if b.developer.as_deref().is_some_and(|d| d.trim().is_empty()) {
        return Err(ApiError::invalid(
            "developer",
            "`developer` is empty: name one",
        ));
    }
    // Facts given to a sweep are a what-if over one developer: they report what would
    // fire and allow nothing, so they are taken in every facts mode.
    if b.facts.is_some() && b.developer.is_none() {
        return Err(ApiError::invalid(
            "facts",
            "facts are given for one developer: name it in `developer`",
        ));
    }
    let engine = s.engine.clone();
    let reports = tokio::task::spawn_blocking(move || match &b.developer {
        Some(d) => vec![engine.sweep(d, b.facts.as_ref(), b.at.as_deref())],
        None => engine.sweep_all(b.at.as_deref()),
    })
    .await
    .map_err(|e| internal(format!("the sweep did not finish: {e}")))?;
    Ok(to_json(StatusCode::OK, &json!({ "reports": reports })))
}

fn developer_id(id: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    match id {
        Ok(Path(id)) if !id.trim().is_empty() => Ok(id),
        Ok(_) => Err(ApiError::invalid("id", "the developer id is empty")),
        Err(e) => Err(ApiError::invalid("id", e.body_text())),
    }
}

async fn list_developers(State(s): St) -> Response {
    to_json(
        StatusCode::OK,
        &json!({ "developers": s.engine.facts().developers() }),
    )
}

async fn get_facts(
    State(s): St,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = developer_id(id)?;
    match s.engine.facts().get(&id) {
        Some(facts) => Ok(to_json(
            StatusCode::OK,
            &json!({ "developer": id, "facts": facts }),
        )),
        None => Err(unknown_developer(&id)),
    }
}

fn unknown_developer(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "unknown_developer",
        format!("the fact store has no developer `{id}`"),
    )
}

/// Checks facts against the bundle's declarations: a fact of the wrong type is a 400
/// naming it; facts the bundle declares and the body lacks are listed as `missing`
/// (decisions for the developer deny with `missing_fact` until they are set).
/// Checks a write (`written`: the whole set for PUT, the changes for PATCH) against the
/// bundle's declared facts and types, naming the fact that fails; then lists the declared
/// facts the developer's stored set (`stored`) still lacks.
fn check_facts(
    s: &AppState,
    written: &Map<String, Json>,
    stored: &Map<String, Json>,
) -> Result<Vec<String>, ApiError> {
    s.engine
        .check_facts(written)
        .map_err(|e| ApiError::invalid(e.fact, e.message))?;
    Ok(s.engine
        .catalog()
        .facts
        .keys()
        .filter(|k| !stored.contains_key(*k))
        .cloned()
        .collect())
}

/// In `request` mode decisions never read the store, so writing it would only mislead.
fn store_writable(s: &AppState) -> Result<(), ApiError> {
    if s.facts_from == FactsFrom::Request {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "facts_not_stored",
            "this server takes developer facts from the request (`--facts-from request`); \
             its fact store is not used",
        ));
    }
    Ok(())
}

async fn put_facts(
    State(s): St,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    store_writable(&s)?;
    let id = developer_id(id)?;
    let StrictFacts(facts) = read(&s, &headers, body).await?;
    let missing = check_facts(&s, &facts, &facts)?;
    s.engine.facts().set(id.clone(), facts.clone());
    Ok(to_json(
        StatusCode::OK,
        &json!({ "developer": id, "facts": facts, "missing": missing }),
    ))
}

async fn patch_facts(
    State(s): St,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    store_writable(&s)?;
    let id = developer_id(id)?;
    let StrictFacts(changes) = read(&s, &headers, body).await?;
    let mut merged = s.engine.facts().get(&id).unwrap_or_default();
    for (k, v) in &changes {
        merged.insert(k.clone(), v.clone());
    }
    let missing = check_facts(&s, &changes, &merged)?;
    s.engine.facts().update(&id, changes);
    Ok(to_json(
        StatusCode::OK,
        &json!({ "developer": id, "facts": merged, "missing": missing }),
    ))
}

async fn delete_facts(
    State(s): St,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = developer_id(id)?;
    if s.engine.facts().get(&id).is_none() {
        return Err(unknown_developer(&id));
    }
    s.engine.facts().remove(&id);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn bundle(State(s): St) -> Response {
    let st = s.engine.status();
    let log = s.log.as_ref().map(|l| {
        json!({
            "path": l.path().display().to_string(),
            "durability": l.durability().as_str(),
            "sync": l.config().sync.as_str(),
            "stats": l.stats(),
        })
    });
    to_json(
        StatusCode::OK,
        &json!({
            "name": st.bundle.name,
            "version": st.bundle.version,
            "hash": st.bundle.hash,
            "signer": st.bundle.signer,
            "loaded_at": format_ms(i64::try_from(st.loaded_at).unwrap_or(0).saturating_mul(1000)),
            "last_reload_error": st.last_error,
            "reloads": st.reloads,
            "reload_failures": st.failures,
            "source": st.source,
            "watching": s.watching,
            "previous": s.history.previous(),
            "policies": st.policies,
            "notices": st.notices,
            "scenarios": st.scenarios,
            "datasets": st.datasets,
            "developers": st.developers,
            "slice_cache": st.slice_cache,
            "log": log,
        }),
    )
}

async fn reload(State(s): St) -> Result<Response, ApiError> {
    let engine = s.engine.clone();
    let event = tokio::task::spawn_blocking(move || engine.reload())
        .await
        .map_err(|e| internal(format!("the reload did not finish: {e}")))?;
    match event {
        Ok(ReloadEvent::Reloaded { .. }) => Ok(reloaded(&s, "reloaded")),
        Ok(ReloadEvent::Unchanged { .. }) => Ok(reloaded(&s, "unchanged")),
        Ok(ReloadEvent::Failed { error }) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "reload_failed",
            format!("{error}; the running bundle keeps serving"),
        )),
        Err(e @ EngineError::NoSource) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "no_source",
            e.to_string(),
        )),
        Err(e) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "reload_failed",
            e.to_string(),
        )),
    }
}

fn reloaded(s: &AppState, result: &str) -> Response {
    to_json(
        StatusCode::OK,
        &json!({
            "result": result,
            "bundle": s.engine.bundle(),
            "previous": s.history.previous(),
        }),
    )
}

async fn rollback(State(s): St) -> Result<Response, ApiError> {
    match s.history.rollback() {
        Ok(ReloadEvent::Reloaded { .. }) => Ok(reloaded(&s, "rolled_back")),
        Ok(_) => Ok(reloaded(&s, "unchanged")),
        Err(e @ RollbackError::NoPrevious) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "no_previous_bundle",
            format!("{e}: nothing to roll back to"),
        )),
        Err(e) => Err(internal(e.to_string())),
    }
}

async fn healthz() -> Response {
    json_response(StatusCode::OK, r#"{"status":"ok"}"#.to_string())
}

async fn readyz(State(s): St) -> Response {
    if let Some(log) = &s.log {
        // An unhealthy log is probed (a test insert, rolled back) rather than trusted:
        // readiness comes back as soon as the log can be written, without waiting for a
        // decision to commit, which a load balancer that took the replica out would
        // never send.
        if !log.stats().healthy {
            let _ = tokio::time::timeout(PROBE_TIMEOUT, log.probe()).await;
        }
        let stats = log.stats();
        if !stats.healthy && log.durability() == Durability::Strict {
            return to_json(
                StatusCode::SERVICE_UNAVAILABLE,
                &json!({
                    "status": "not_ready",
                    "reason": format!(
                        "the decision log cannot be written: {}",
                        stats.last_error.unwrap_or_default()
                    ),
                }),
            );
        }
    }
    to_json(
        StatusCode::OK,
        &json!({ "status": "ready", "bundle": s.engine.bundle() }),
    )
}

async fn metrics(State(s): St) -> Response {
    let status = s.engine.status();
    let stats = s.log.as_ref().map(|l| l.stats());
    let text = match s.metrics.render(&status, stats.as_ref()) {
        Ok(text) => text,
        Err(e) => return internal(format!("cannot encode the metrics: {e}")).into_response(),
    };
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(metrics::CONTENT_TYPE),
        )],
        text,
    )
        .into_response()
}

async fn openapi() -> Response {
    json_response(StatusCode::OK, OPENAPI.to_string())
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!(
            "no endpoint `{method} {}`; see GET /v1/openapi.json",
            uri.path()
        ),
    )
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("`{}` does not take `{method}`", uri.path()),
    )
}
