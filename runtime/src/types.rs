//! The request and decision types: the JSON `charter decide` and `charter serve` read
//! and write.
//!
//! Requests are read strictly: a request, its consent and its facts are JSON objects
//! only (serde would otherwise also read a struct from an array of its fields in
//! order, which no client means), unknown keys are errors, and a key written twice,
//! in the request or among its facts, is an error naming it rather than last-wins.

use std::sync::Arc;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value as Json};

/// Implements `Deserialize` for a type whose derive is `#[serde(remote = "Self")]`,
/// accepting a JSON object only (never the array form serde's derive also takes).
macro_rules! object_only {
    ($ty:ident, $what:literal) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str(concat!("a JSON object (", $what, ")"))
                    }
                    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<$ty, A::Error> {
                        $ty::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    }
                }
                d.deserialize_map(V)
            }
        }
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                $ty::serialize(self, s)
            }
        }
    };
}

object_only!(Request, "a request");
object_only!(Consent, "`granted` and `reference`");
object_only!(RequestFacts, "`developer`");

/// Facts read strictly: a JSON object whose keys are each written once. A key written
/// twice is an error naming it (`duplicate fact `x``), never silently last-wins.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StrictFacts(pub Map<String, Json>);

impl<'de> Deserialize<'de> for StrictFacts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StrictFacts;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object of facts")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StrictFacts, A::Error> {
                let mut out = Map::new();
                while let Some(key) = map.next_key::<String>()? {
                    if out.contains_key(&key) {
                        return Err(serde::de::Error::custom(format!(
                            "duplicate fact `{key}`: each fact is written once"
                        )));
                    }
                    let value: Json = map.next_value()?;
                    out.insert(key, value);
                }
                Ok(StrictFacts(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// Called only when `developer` is present (`default` covers its absence), so `null` is
/// refused like any other non-object, as the OpenAPI document says.
fn strict_facts<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Map<String, Json>>, D::Error> {
    StrictFacts::deserialize(d).map(|f| Some(f.0))
}

/// One question from the operation platform: may `developer` do `action` on `fields` of
/// `dataset` in `scenario` at `at`?
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct Request {
    /// The developer's id, as the fact store and the facts know it.
    pub developer: String,
    /// The action, one of the bundle's actions (`privacy_compute`).
    pub action: String,
    /// The dataset (`tax.enterprise_tax`).
    pub dataset: String,
    /// The fields asked for; empty means every field of the dataset.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
    /// The scenario the access is made in (`普惠金融`).
    pub scenario: String,
    /// When: RFC 3339 (`2026-06-01T09:00:00+08:00`) or a date (`2026-06-01`, that day in
    /// the bundle's time zone). Defaults to the clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// The purpose stated for the access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// The data subject's authorization (Art. 20), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<Consent>,
    /// Facts carried by the request; without them the engine's fact store answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facts: Option<RequestFacts>,
}

impl Request {
    /// The names of the ids that are empty or blank, in a fixed order. An empty id
    /// names nobody: with inline facts it would otherwise be decided, so the engine
    /// and the server both refuse it.
    pub fn empty_ids(&self) -> impl Iterator<Item = &'static str> + '_ {
        [
            ("developer", &self.developer),
            ("action", &self.action),
            ("dataset", &self.dataset),
            ("scenario", &self.scenario),
        ]
        .into_iter()
        .filter(|(_, value)| value.trim().is_empty())
        .map(|(name, _)| name)
    }
}

/// The data subject's authorization.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct Consent {
    /// Whether it was granted.
    pub granted: bool,
    /// The reference of the authorization record (kept with the decision). Consent
    /// without a non-empty reference does not count: see [`Consent::counts`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

impl Consent {
    /// Whether this consent counts as the data subject's authorization: granted, and
    /// with a non-empty reference to the authorization record (Art. 20 requires the
    /// record; a grant nobody can trace is no grant).
    pub fn counts(&self) -> bool {
        self.granted
            && self
                .reference
                .as_deref()
                .is_some_and(|r| !r.trim().is_empty())
    }
}

/// Facts a request carries.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct RequestFacts {
    /// The developer's facts, by the names the bundle declares (`agreement_expires`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "strict_facts"
    )]
    pub developer: Option<Map<String, Json>>,
}

/// Allow or deny.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// Allowed.
    Allow,
    /// Denied.
    Deny,
}

impl Effect {
    /// `allow` or `deny`.
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "allow",
            Effect::Deny => "deny",
        }
    }
}

/// A rule behind an answer: a permit that allowed, a forbid that denied, a notice or a
/// trigger that fired.
///
/// The texts are [`SharedStr`]s: every decision names its reasons, and copying them
/// was a tenth of a decision's time.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Reason {
    /// The policy id (`scenario/普惠金融/use/2`).
    pub id: SharedStr,
    /// The kind of rule (`scope`, `grade`, `exit` …).
    pub kind: SharedStr,
    /// The rule's name as written.
    pub rule: SharedStr,
    /// Its title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<SharedStr>,
    /// The article of the regulation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub article: Option<SharedStr>,
    /// Where it is written, `file:line:column`.
    pub source: SharedStr,
    /// The measures it demands (exit and suspend rules).
    #[serde(default, skip_serializing_if = "no_measures")]
    pub measures: Arc<[String]>,
}

fn no_measures(m: &Arc<[String]>) -> bool {
    m.is_empty()
}

/// An immutable string shared by reference count: cloning it copies a pointer. It
/// reads as a `&str` (`Deref`, `as_str`, `==` with `str`, `&str` and `String`) and is
/// a plain string in JSON.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SharedStr(Arc<str>);

impl Default for SharedStr {
    fn default() -> Self {
        SharedStr::from("")
    }
}

impl SharedStr {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for SharedStr {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for SharedStr {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for SharedStr {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for SharedStr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::fmt::Debug for SharedStr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&*self.0, f)
    }
}

impl From<&str> for SharedStr {
    fn from(s: &str) -> Self {
        SharedStr(s.into())
    }
}

impl From<String> for SharedStr {
    fn from(s: String) -> Self {
        SharedStr(s.into())
    }
}

impl From<SharedStr> for String {
    fn from(s: SharedStr) -> Self {
        s.0.to_string()
    }
}

impl PartialEq<str> for SharedStr {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for SharedStr {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl PartialEq<String> for SharedStr {
    fn eq(&self, other: &String) -> bool {
        &*self.0 == other.as_str()
    }
}

impl PartialEq<SharedStr> for str {
    fn eq(&self, other: &SharedStr) -> bool {
        self == &*other.0
    }
}

impl PartialEq<SharedStr> for &str {
    fn eq(&self, other: &SharedStr) -> bool {
        *self == &*other.0
    }
}

impl PartialEq<SharedStr> for String {
    fn eq(&self, other: &SharedStr) -> bool {
        self.as_str() == &*other.0
    }
}

/// Why a permit that was considered did not allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhyNotCode {
    /// The developer is not authorized for the scenario.
    DeveloperNotInScenario,
    /// The scenario has no scope for the dataset.
    NoScopeForDataset,
    /// A scope covers the dataset but not the action.
    ActionNotInScope,
    /// A scope covers the dataset and action but not the field.
    FieldOutsideScope,
    /// The scenario's term is not in force at the request's time.
    TermNotInForce,
    /// The scope requires the data subject's consent and there is none.
    ConsentRequired,
}

/// One explanation of a deny that no forbid explains.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WhyNot {
    /// What did not match.
    pub code: WhyNotCode,
    /// The explanation, in Chinese.
    pub message: String,
    /// The scope considered, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// Where that scope is written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The article behind the scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub article: Option<String>,
}

/// What went wrong; every error makes the decision a deny.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request is not valid JSON or not a request.
    InvalidRequest,
    /// `at` is not a time.
    InvalidTime,
    /// No facts for the developer, neither in the request nor in the fact store.
    UnknownDeveloper,
    /// A fact the bundle declares is missing.
    MissingFact,
    /// A fact has the wrong type.
    FactType,
    /// The action is not one of the bundle's.
    UnknownAction,
    /// The dataset is not in the catalog.
    UnknownDataset,
    /// The field is not in the dataset.
    UnknownField,
    /// The scenario is not in the bundle.
    UnknownScenario,
    /// Cedar could not evaluate a policy.
    EvaluationError,
    /// The decision log could not record the decision, and in strict mode a decision
    /// that cannot be recorded is denied (`charter serve`).
    LogUnavailable,
    /// Charter itself failed; a bug.
    Internal,
}

/// An error named in a decision.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DecisionError {
    /// What kind of error.
    pub code: ErrorCode,
    /// The message, lowercase, user input in backticks.
    pub message: String,
    /// The policy that failed to evaluate, for evaluation errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
}

impl DecisionError {
    /// An error with its code and message, naming no policy.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        DecisionError {
            code,
            message: message.into(),
            policy: None,
        }
    }
}

/// The answer for one field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldDecision {
    /// The field.
    pub field: String,
    /// Its grade (`L3`), when the field is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grade: Option<String>,
    /// Allow or deny.
    pub decision: Effect,
    /// The permits that allowed it, or the forbids that denied it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<Reason>,
    /// For a deny no forbid explains: what was considered and why it did not match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub why_not: Vec<WhyNot>,
}

/// Which bundle answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleRef {
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// `sha256:<hex>` of the artifact.
    pub hash: String,
    /// The id of the key whose signature the bundle was verified with, when the engine
    /// verifies signatures (`--verify-key`); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
}

/// The answer to a [`Request`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// A unique id for the decision log.
    pub decision_id: String,
    /// Allow only when every field is allowed and nothing went wrong.
    pub decision: Effect,
    /// The developer asked about.
    pub developer: String,
    /// The action.
    pub action: String,
    /// The dataset.
    pub dataset: String,
    /// The scenario.
    pub scenario: String,
    /// The day the decision was made for, in the bundle's time zone (`2026-06-01`).
    pub day: String,
    /// The answer per field, in the order asked.
    pub fields: Vec<FieldDecision>,
    /// The rules that determined the answer, over all fields, in bundle order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<Reason>,
    /// Notices that ride along; they never change the answer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notices: Vec<Reason>,
    /// Errors; any error makes the answer a deny.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<DecisionError>,
    /// The consent reference, kept for the record (Art. 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent_reference: Option<String>,
    /// The bundle that answered.
    pub bundle: BundleRef,
}

impl Decision {
    /// Whether the answer is allow.
    pub fn is_allowed(&self) -> bool {
        self.decision == Effect::Allow
    }
    /// Every why-not explanation, over all fields.
    pub fn why_not(&self) -> impl Iterator<Item = &WhyNot> {
        self.fields.iter().flat_map(|f| f.why_not.iter())
    }
}

/// What the sweep found for one developer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepReport {
    /// The developer.
    pub developer: String,
    /// The day swept, in the bundle's time zone.
    pub day: String,
    /// Exit and suspend rules that fire, with their measures.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub triggers: Vec<Reason>,
    /// Notices that fire.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notices: Vec<Reason>,
    /// Every measure demanded, once each, in the order the triggers list them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub measures: Vec<String>,
    /// Errors: a sweep that could not evaluate says so.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<DecisionError>,
    /// The bundle.
    pub bundle: BundleRef,
}

/// How many unknown field names a decision names; the rest are counted, so the answer
/// and its log row stay the size of the decision, not of the request.
pub const UNKNOWN_FIELDS_NAMED: usize = 10;

/// The first `max_chars` characters of `s`, for echoing user input in a message.
pub fn clip(s: &str, max_chars: usize) -> &str {
    match s.char_indices().nth(max_chars) {
        Some((i, _)) => s.get(..i).unwrap_or(s),
        None => s,
    }
}
