//! The request as the log keeps it: explicit about when it was decided and with which
//! facts, so that `charter replay` can re-decide it exactly as it was made.
//!
//! The `request` column holds the request's JSON with `at` made explicit (the day the
//! decision was made on, when the request left it to the clock) and, when the facts came
//! from the fact store, those facts in `facts.developer` with `"facts_from": "store"`
//! beside them. Without that key, facts in the record were carried by the request itself.

use charter_runtime::{Decision, Facts, Request};
use serde_json::Value as Json;

/// The key that marks facts taken from the fact store rather than carried by the request.
pub const FACTS_FROM: &str = "facts_from";

/// Where the facts of a logged request came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FactsOrigin {
    /// The request carried them.
    Request,
    /// The server's fact store; the record holds the facts it had then.
    Store,
    /// The record holds none (a log written before records kept them, or a developer
    /// the store did not know).
    Absent,
}

/// The JSON the log keeps for `req`, decided as `decision` with `stored` from the fact
/// store (see the module documentation).
pub fn request_as_decided(
    req: &Request,
    decision: &Decision,
    stored: Option<Facts>,
) -> serde_json::Result<String> {
    let mut value = serde_json::to_value(req)?;
    if let Json::Object(map) = &mut value {
        if req.at.is_none() {
            map.insert("at".into(), Json::String(decision.day.clone()));
        }
        if let Some(facts) = stored {
            map.insert(
                "facts".into(),
                serde_json::json!({ "developer": Json::Object(facts) }),
            );
            map.insert(FACTS_FROM.into(), Json::String("store".into()));
        }
    }
    serde_json::to_string(&value)
}

/// A logged request read back: the request to re-decide and where its facts came from.
#[derive(Clone, Debug, PartialEq)]
pub struct LoggedRequest {
    /// The request, with its facts when the record holds them.
    pub request: Request,
    /// Where they came from.
    pub facts: FactsOrigin,
}

/// Reads a record's `request` column back; the message says why it cannot be.
pub fn read_logged_request(text: &str) -> Result<LoggedRequest, String> {
    let mut value: Json = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let from = match &mut value {
        Json::Object(map) => map.remove(FACTS_FROM),
        _ => return Err("the request is not a JSON object".to_string()),
    };
    let request: Request = serde_json::from_value(value).map_err(|e| e.to_string())?;
    let carried = request
        .facts
        .as_ref()
        .is_some_and(|f| f.developer.is_some());
    let facts = match (from.as_ref().and_then(Json::as_str), carried) {
        (Some("store"), true) => FactsOrigin::Store,
        (Some(other), _) => return Err(format!("`{FACTS_FROM}` is `{other}`, not `store`")),
        (None, true) => FactsOrigin::Request,
        (None, false) => FactsOrigin::Absent,
    };
    Ok(LoggedRequest { request, facts })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use charter_runtime::{BundleRef, Effect, RequestFacts};

    fn decision(day: &str) -> Decision {
        Decision {
            decision_id: "d".into(),
            decision: Effect::Deny,
            developer: "dev-1".into(),
            action: "a".into(),
            dataset: "d".into(),
            scenario: "s".into(),
            day: day.into(),
            fields: Vec::new(),
            reasons: Vec::new(),
            notices: Vec::new(),
            errors: Vec::new(),
            consent_reference: None,
            bundle: BundleRef {
                name: "b".into(),
                version: "1".into(),
                hash: "h".into(),
                signer: None,
            },
        }
    }

    fn request() -> Request {
        Request {
            developer: "dev-1".into(),
            action: "a".into(),
            dataset: "d".into(),
            scenario: "s".into(),
            ..Request::default()
        }
    }

    #[test]
    fn store_facts_and_the_day_round_trip() {
        let mut facts = Facts::new();
        facts.insert("evaluation_score".into(), Json::from(72));
        let text =
            request_as_decided(&request(), &decision("2026-06-01"), Some(facts.clone())).unwrap();
        let back = read_logged_request(&text).unwrap();
        assert_eq!(back.facts, FactsOrigin::Store);
        assert_eq!(back.request.at.as_deref(), Some("2026-06-01"));
        assert_eq!(back.request.facts.and_then(|f| f.developer), Some(facts),);
    }

    #[test]
    fn carried_facts_and_an_explicit_time_are_kept_as_given() {
        let mut req = request();
        req.at = Some("2026-06-01T09:00:00+08:00".into());
        req.facts = Some(RequestFacts {
            developer: Some(Facts::new()),
        });
        let text = request_as_decided(&req, &decision("2026-06-01"), None).unwrap();
        let back = read_logged_request(&text).unwrap();
        assert_eq!(back.facts, FactsOrigin::Request);
        assert_eq!(back.request, req);
    }

    #[test]
    fn a_record_without_facts_says_so_and_a_bad_marker_is_refused() {
        let text = serde_json::to_string(&request()).unwrap();
        assert_eq!(
            read_logged_request(&text).unwrap().facts,
            FactsOrigin::Absent
        );
        let bad = r#"{"developer":"d","action":"a","dataset":"d","scenario":"s","facts_from":"x"}"#;
        assert!(read_logged_request(bad)
            .unwrap_err()
            .contains("`facts_from`"));
        assert!(read_logged_request("[1]").is_err());
    }
}
