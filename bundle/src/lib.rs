//! `charter-bundle`: the contract between Charter's compiler and its runtime. The serde
//! types of `bundle.json`, its format version ([`BUNDLE_FORMAT`]), its canonical content
//! hash ([`hash`]) and the per-policy metadata the compiler fills in so that the runtime
//! never reads Cedar text to learn what a policy reads or allows.
//!
//! ARCHITECTURE INVARIANT: this crate knows nothing of Cedar's or the compiler's
//! internals (no cedar-policy, no pest): it is plain data, serde and SHA-256. The
//! format is described in `docs/bundle.md`.

// Library code indexes and slices only through `get`: a bad index on input is an
// error to report, never a panic. Tests may index (a panic there is a failed test).
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::string_slice))]

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

pub mod canonical;
pub mod hash;

pub use hash::{ContentDigests, Section};

/// The version of the `bundle.json` format. A runtime reads this version only.
///
/// Version 2: the types moved to `charter-bundle`; the content hash is over canonical
/// bytes (RFC 8785) section by section; each policy carries what it reads
/// ([`CompiledPolicy::reads`]) and, for a grade rule, what the grade allows
/// ([`CompiledPolicy::allows`]); `cedar` is the policy without its annotations, which
/// [`CompiledPolicy::annotated_cedar`] writes from the metadata.
pub const BUNDLE_FORMAT: &str = "charter-bundle/2";

/// A bundle of another format than [`BUNDLE_FORMAT`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{found}` is not a bundle format this runtime reads (it reads `{expected}`)")]
pub struct FormatError {
    /// The format the bundle says it has.
    pub found: String,
    /// [`BUNDLE_FORMAT`].
    pub expected: &'static str,
}

/// Checks a bundle's `format` against [`BUNDLE_FORMAT`].
pub fn check_format(found: &str) -> Result<(), FormatError> {
    if found == BUNDLE_FORMAT {
        Ok(())
    } else {
        Err(FormatError {
            found: found.to_string(),
            expected: BUNDLE_FORMAT,
        })
    }
}

/// Lowercase hexadecimal of `bytes`: the workspace's one hex encoder.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        for nibble in [b >> 4, b & 0x0f] {
            out.extend(char::from_digit(u32::from(nibble), 16));
        }
    }
    out
}

/// The closest candidate to `name`, if one is close enough to be a likely typo: the
/// workspace's one did-you-mean, for the compiler's names and the runtime's fact names.
pub fn suggest<'c>(name: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    let len = name.chars().count();
    let limit = match len {
        0..=2 => 1,
        3..=5 => 2,
        _ => 3,
    };
    candidates
        .into_iter()
        .map(|c| (strsim::levenshtein(name, c), c))
        .filter(|(d, _)| *d <= limit && *d > 0)
        .min_by_key(|(d, c)| (*d, *c))
        .map(|(_, c)| c)
}

/// What kind of rule a policy comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyKind {
    /// A scenario's `use` line: the only permits.
    Scope,
    /// A scenario's `require`: the developer's eligibility for it.
    Eligibility,
    /// A grade's allowed actions.
    Grade,
    /// A grade's `requires consent`.
    GradeConsent,
    /// Consent for protected tags (Art. 20).
    Consent,
    /// A `forbid` rule, such as raw data never leaving the domain (Art. 4).
    Forbid,
    /// An admission requirement (Art. 9).
    Admission,
    /// An exit trigger (Art. 32).
    Exit,
    /// A suspension trigger (Art. 30).
    Suspend,
    /// A notice: advisory, kept out of the decision policy set.
    Notice,
}

impl PolicyKind {
    /// The kind as annotations write it.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyKind::Scope => "scope",
            PolicyKind::Eligibility => "eligibility",
            PolicyKind::Grade => "grade",
            PolicyKind::GradeConsent => "grade_consent",
            PolicyKind::Consent => "consent",
            PolicyKind::Forbid => "forbid",
            PolicyKind::Admission => "admission",
            PolicyKind::Exit => "exit",
            PolicyKind::Suspend => "suspend",
            PolicyKind::Notice => "notice",
        }
    }
    /// Whether the policy is a `permit` (scopes, and notices in their own set).
    pub fn is_permit(self) -> bool {
        matches!(self, PolicyKind::Scope | PolicyKind::Notice)
    }
}

/// A position in a source file, 1-based, columns in characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SourceLoc {
    /// Path relative to the bundle root.
    pub file: String,
    /// Line.
    pub line: usize,
    /// Column.
    pub column: usize,
}

impl std::fmt::Display for SourceLoc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// The context key a policy reads to know the day of the request.
pub const CONTEXT_NOW: &str = "now";

/// What a policy reads, as the compiler knows it from the rule it lowered.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reads {
    /// The developer facts it reads (`principal.<fact>`), sorted, each once.
    #[serde(default)]
    pub facts: Vec<String>,
    /// The context keys it reads (`now`, `scenario`, `consent`), sorted, each once.
    #[serde(default)]
    pub context: Vec<String>,
}

impl Reads {
    /// Whether the policy depends on time: it reads `context.now`.
    pub fn now(&self) -> bool {
        self.context.iter().any(|c| c == CONTEXT_NOW)
    }
    /// Whether the only context key it reads, if any, is `now`.
    pub fn only_now_of_context(&self) -> bool {
        self.context.iter().all(|c| c == CONTEXT_NOW)
    }
    /// Whether it reads the developer fact `fact`.
    pub fn fact(&self, fact: &str) -> bool {
        self.facts.iter().any(|f| f == fact)
    }
}

/// One compiled policy, with what the runtime needs to slice and explain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompiledPolicy {
    /// Stable id, e.g. `scenario/普惠金融/use/1`.
    pub id: String,
    /// Kind of rule.
    pub kind: PolicyKind,
    /// The rule's name as written (scenario, trigger or forbid name, grade).
    pub rule: String,
    /// Title.
    pub title: Option<String>,
    /// Article of the regulation.
    pub article: Option<String>,
    /// Where the rule is written.
    pub source: SourceLoc,
    /// Measures, for exit and suspend rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub measures: Vec<String>,
    /// The scenario it applies to; `None` for global rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<String>,
    /// The dataset it applies to; `None` for any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    /// The actions it applies to; `None` for all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actions: Option<Vec<String>>,
    /// The fields a scope covers; `None` for all of the dataset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<String>>,
    /// Whether the scope needs consent.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub requires_consent: bool,
    /// For a grade rule (kind `grade`): the actions the grade allows, in the order
    /// written. The rule forbids every other action on the grade's fields; an empty list
    /// allows nothing. `None` for every other kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allows: Option<Vec<String>>,
    /// What the policy reads: developer facts and context keys.
    #[serde(default)]
    pub reads: Reads,
    /// The Cedar policy, without annotations (see [`CompiledPolicy::annotated_cedar`]).
    pub cedar: String,
}

impl CompiledPolicy {
    /// The Cedar annotations of the policy, one a line: `@id`, `@rule`, `@title`,
    /// `@article`, `@source`, `@kind`, `@measures`.
    pub fn annotations(&self) -> String {
        let mut head = String::new();
        let _ = writeln!(head, "@id({})", cedar_str(&self.id));
        let _ = writeln!(head, "@rule({})", cedar_str(&self.rule));
        if let Some(t) = &self.title {
            let _ = writeln!(head, "@title({})", cedar_str(t));
        }
        if let Some(a) = &self.article {
            let _ = writeln!(head, "@article({})", cedar_str(a));
        }
        let _ = writeln!(head, "@source({})", cedar_str(&self.source.to_string()));
        let _ = writeln!(head, "@kind({})", cedar_str(self.kind.as_str()));
        if !self.measures.is_empty() {
            let _ = writeln!(head, "@measures({})", cedar_str(&self.measures.join(",")));
        }
        head
    }
    /// The Cedar policy with its annotations, as `policies.cedar` shows it.
    pub fn annotated_cedar(&self) -> String {
        let mut out = self.annotations();
        out.push_str(&self.cedar);
        out
    }
}

/// Escapes a string for a Cedar string literal, quotes included.
pub fn cedar_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The manifest as the artifact carries it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleManifest {
    /// Name.
    pub name: String,
    /// Semantic version.
    pub version: String,
    /// Title.
    pub title: Option<String>,
    /// Cedar namespace.
    pub namespace: String,
    /// `sha256:<hex>`: the content hash of everything else ([`hash`]).
    pub hash: String,
    /// The compiler that built it.
    pub compiler: String,
}

/// A field as the runtime sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogField {
    /// Title.
    pub title: Option<String>,
    /// Grade order (1 = lowest).
    pub grade: i64,
    /// Grade name.
    pub grade_name: String,
    /// Tags, the dataset's included.
    pub tags: Vec<String>,
}

/// A dataset as the runtime sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogDataset {
    /// Title.
    pub title: Option<String>,
    /// Source agency.
    pub source: Option<String>,
    /// Domain.
    pub domain: Option<String>,
    /// Fields by name, in declaration order.
    pub fields: Vec<(String, CatalogField)>,
}

/// A scenario as the runtime sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogScenario {
    /// Title.
    pub title: Option<String>,
    /// Domain.
    pub domain: Option<String>,
    /// Purpose.
    pub purpose: Option<String>,
    /// First day, days since 1970-01-01.
    pub term_start: i64,
    /// Last day, included.
    pub term_end: i64,
    /// The term as written.
    pub term: String,
}

/// A named thing with a title.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Titled {
    /// Title.
    pub title: Option<String>,
}

/// A developer fact as the runtime sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogFact {
    /// `bool`, `int`, `nat`, `string`, `date`, `duration`, `scenario`, `set<…>`.
    #[serde(rename = "type")]
    pub ty: String,
    /// Title.
    pub title: Option<String>,
}

/// Everything the runtime needs to know about the bundle's vocabulary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalog {
    /// Offset of the bundle's time zone from UTC, in minutes: `now` is the request's day there.
    pub utc_offset_minutes: i32,
    /// Grades, lowest first: `(name, title)`.
    pub grades: Vec<(String, Option<String>)>,
    /// Actions.
    pub actions: BTreeMap<String, Titled>,
    /// Measures.
    pub measures: BTreeMap<String, Titled>,
    /// Developer facts.
    pub facts: BTreeMap<String, CatalogFact>,
    /// Scenarios.
    pub scenarios: BTreeMap<String, CatalogScenario>,
    /// Datasets.
    pub datasets: BTreeMap<String, CatalogDataset>,
    /// Tags that need consent.
    pub consent_tags: Vec<String>,
}

/// The one artifact the runtime loads: `bundle.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompiledBundle {
    /// [`BUNDLE_FORMAT`].
    pub format: String,
    /// Name, version, hash.
    pub manifest: BundleManifest,
    /// The Cedar schema, in Cedar's JSON schema format.
    pub schema: Json,
    /// Policies: decision policies and notices (kind `notice`, a separate set).
    pub policies: Vec<CompiledPolicy>,
    /// The catalog's entities (scenarios, datasets, fields), in Cedar's JSON entity format.
    pub entities: Json,
    /// The vocabulary.
    pub catalog: Catalog,
}

impl CompiledBundle {
    /// The decision policies, in order, as one Cedar text, annotations included.
    pub fn decision_policies_text(&self) -> String {
        let mut out = String::new();
        for p in self
            .policies
            .iter()
            .filter(|p| p.kind != PolicyKind::Notice)
        {
            out.push_str(&p.annotated_cedar());
            out.push_str("\n\n");
        }
        out
    }
    /// The digest of each section of the content ([`hash`]).
    pub fn content_digests(&self) -> ContentDigests {
        ContentDigests {
            format: hash::digest_of(&self.format),
            manifest: hash::manifest_digest(&self.manifest),
            schema: hash::digest_value(&self.schema),
            policies: hash::policies_digest(&self.policies),
            entities: hash::digest_value(&self.entities),
            catalog: hash::digest_of(&self.catalog),
        }
    }
    /// The content hash, `sha256:<hex>`, over everything but `manifest.hash` ([`hash`]).
    pub fn compute_hash(&self) -> String {
        self.content_digests().hash()
    }
}
