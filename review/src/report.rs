//! The report of `charter diff`: its types (the JSON output) and its text and markdown
//! renderings.

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::{Map, Value as Json};

/// Which bundle a side is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SideInfo {
    /// As the user wrote it.
    pub spec: String,
    /// Bundle name.
    pub name: String,
    /// Manifest version.
    pub version: String,
    /// Content hash.
    pub hash: String,
}

/// A policy as the report names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RuleRef {
    /// Policy id.
    pub id: String,
    /// Kind (`scope`, `exit` …).
    pub kind: String,
    /// Title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Article.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub article: Option<String>,
    /// `file:line`.
    pub source: String,
}

/// A policy in both versions whose content differs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RuleChange {
    /// The policy in HEAD.
    pub rule: RuleRef,
    /// Where it was in BASE.
    pub base_source: String,
    /// What differs (`cedar`, `fields`, `actions`, `requires_consent` …).
    pub changed: Vec<String>,
}

/// Added, removed and changed policies, by id.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RuleChanges {
    /// In HEAD only.
    pub added: Vec<RuleRef>,
    /// In BASE only.
    pub removed: Vec<RuleRef>,
    /// In both, with different content.
    pub changed: Vec<RuleChange>,
}

/// A field whose grade changed, or that exists in one version only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    /// Dataset.
    pub dataset: String,
    /// Field.
    pub field: String,
    /// Grade in BASE (`None`: not in BASE).
    pub base: Option<String>,
    /// Grade in HEAD (`None`: not in HEAD).
    pub head: Option<String>,
}

/// Names in one version only.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Names {
    /// In HEAD only.
    pub added: Vec<String>,
    /// In BASE only.
    pub removed: Vec<String>,
}

/// A (scenario, dataset, action, consent) whose allowed fields differ.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DecisionChange {
    /// Scenario.
    pub scenario: String,
    /// Dataset.
    pub dataset: String,
    /// Action.
    pub action: String,
    /// Whether the request carries the data subject's consent.
    pub consent: bool,
    /// The day decided (inside the term of each version that has the scenario).
    pub day: String,
    /// Allowed in HEAD, not in BASE.
    pub gained: Vec<String>,
    /// Allowed in BASE, not in HEAD.
    pub lost: Vec<String>,
}

/// What one version allows on days the other's term does not cover.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Allowed {
    /// Dataset.
    pub dataset: String,
    /// Action.
    pub action: String,
    /// With consent.
    pub consent: bool,
    /// The fields allowed.
    pub fields: Vec<String>,
}

/// Days on which one version's term is in force and the other's is not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TermRange {
    /// First day.
    pub from: String,
    /// Last day, included.
    pub to: String,
    /// `base` or `head`: the version whose term covers these days.
    pub in_force: String,
    /// What that version allows on those days (the other allows nothing).
    pub allowed: Vec<Allowed>,
}

/// A scenario whose term changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TermChange {
    /// Scenario.
    pub scenario: String,
    /// The term in BASE.
    pub base: String,
    /// The term in HEAD.
    pub head: String,
    /// The days on which decisions differ.
    pub ranges: Vec<TermRange>,
}

/// A developer condition whose truth changes on some sampled fact row.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConditionChange {
    /// The policy.
    pub rule: RuleRef,
    /// The facts it reads, with the values of an example row where the versions differ.
    pub example: Map<String, Json>,
    /// Whether it fires on that row in BASE (absent: `false`).
    pub base_fires: bool,
    /// Whether it fires in HEAD.
    pub head_fires: bool,
    /// Rows sampled for it.
    pub sampled: usize,
    /// Of those, rows where the versions differ.
    pub differing: usize,
    /// For a condition of one fact: the sampled values where the versions differ.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub differing_values: Vec<Json>,
}

/// What was computed exactly and what was sampled.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Coverage {
    /// (scenario, dataset, action, consent) decided by each engine.
    pub decisions: usize,
    /// Of those, skipped because every policy and catalog entry they depend on is
    /// byte-identical in both versions (so the decisions are too).
    pub identical_slices: usize,
    /// The day developer conditions were sampled at.
    pub condition_day: String,
    /// The values sampled per fact at that day (boundary values of each constant).
    pub sampled_values: Map<String, Json>,
    /// The fact row decisions were made with (dates at `condition_day`).
    pub fact_row: Map<String, Json>,
    /// Conditions the fact row could not pass (decisions under them deny).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub blocking: Vec<String>,
    /// Conditions sampled one fact at a time, their product being too large.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cut: Vec<String>,
    /// Errors met while evaluating (each counts as a deny).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

/// The whole report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// BASE.
    pub base: SideInfo,
    /// HEAD.
    pub head: SideInfo,
    /// Whether any decision changes (allowed fields, terms, conditions).
    pub impact: bool,
    /// Policy changes.
    pub rules: RuleChanges,
    /// Field grade changes and fields in one version only.
    pub fields: Vec<FieldChange>,
    /// Scenarios in one version only.
    pub scenarios: Names,
    /// Datasets in one version only.
    pub datasets: Names,
    /// Allowed-field changes.
    pub decisions: Vec<DecisionChange>,
    /// Term changes.
    pub terms: Vec<TermChange>,
    /// Developer condition changes.
    pub conditions: Vec<ConditionChange>,
    /// What was exact and what was sampled.
    pub coverage: Coverage,
}

fn grade(g: &Option<String>) -> &str {
    g.as_deref().unwrap_or("(none)")
}

fn fields_list(f: &[String]) -> String {
    if f.is_empty() {
        "-".to_string()
    } else {
        f.join(", ")
    }
}

fn example(m: &Map<String, Json>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k} = {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn fires_word(kind: &str, fires: bool) -> &'static str {
    match (kind, fires) {
        ("admission" | "eligibility", true) => "refuses",
        ("admission" | "eligibility", false) => "admits",
        (_, true) => "fires",
        (_, false) => "does not fire",
    }
}

fn consent_word(c: bool) -> &'static str {
    if c {
        "with consent"
    } else {
        "without consent"
    }
}

impl Report {
    /// For people.
    pub fn text(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "charter diff {} ({} {}) → {} ({} {})",
            self.base.spec,
            self.base.name,
            self.base.version,
            self.head.spec,
            self.head.name,
            self.head.version
        );
        let _ = writeln!(
            o,
            "{}",
            if self.impact {
                "decisions change"
            } else {
                "no decision changes"
            }
        );
        let r = &self.rules;
        if !(r.added.is_empty() && r.removed.is_empty() && r.changed.is_empty()) {
            let _ = writeln!(o, "\nrules:");
            for p in &r.added {
                let _ = writeln!(o, "  + {} {} ({})", p.id, title(p), p.source);
            }
            for p in &r.removed {
                let _ = writeln!(o, "  - {} {} ({})", p.id, title(p), p.source);
            }
            for c in &r.changed {
                let _ = writeln!(
                    o,
                    "  ~ {} {} ({}): {}",
                    c.rule.id,
                    title(&c.rule),
                    c.rule.source,
                    c.changed.join(", ")
                );
            }
        }
        if !self.fields.is_empty() {
            let _ = writeln!(o, "\nfields:");
            for f in &self.fields {
                let _ = writeln!(
                    o,
                    "  {}.{}: {} → {}",
                    f.dataset,
                    f.field,
                    grade(&f.base),
                    grade(&f.head)
                );
            }
        }
        for (what, names) in [("scenarios", &self.scenarios), ("datasets", &self.datasets)] {
            if !(names.added.is_empty() && names.removed.is_empty()) {
                let _ = writeln!(o, "\n{what}:");
                for n in &names.added {
                    let _ = writeln!(o, "  + {n}");
                }
                for n in &names.removed {
                    let _ = writeln!(o, "  - {n}");
                }
            }
        }
        if !self.decisions.is_empty() {
            let _ = writeln!(o, "\ndecisions (allowed fields):");
            for d in &self.decisions {
                let _ = writeln!(
                    o,
                    "  {} / {} / {} {} (on {}):",
                    d.scenario,
                    d.dataset,
                    d.action,
                    consent_word(d.consent),
                    d.day
                );
                if !d.gained.is_empty() {
                    let _ = writeln!(o, "    + {}", d.gained.join(", "));
                }
                if !d.lost.is_empty() {
                    let _ = writeln!(o, "    - {}", d.lost.join(", "));
                }
            }
        }
        if !self.terms.is_empty() {
            let _ = writeln!(o, "\nterms:");
            for t in &self.terms {
                let _ = writeln!(o, "  {}: {} → {}", t.scenario, t.base, t.head);
                for r in &t.ranges {
                    let _ = writeln!(
                        o,
                        "    {} .. {}: in force in {} only ({} allowed requests)",
                        r.from,
                        r.to,
                        r.in_force.to_uppercase(),
                        r.allowed.len()
                    );
                }
            }
        }
        if !self.conditions.is_empty() {
            let _ = writeln!(o, "\ndeveloper conditions (sampled at boundary values):");
            for c in &self.conditions {
                let _ = writeln!(
                    o,
                    "  {} {} ({}): {}: {} in HEAD, {} in BASE ({} of {} samples differ)",
                    c.rule.id,
                    title(&c.rule),
                    c.rule.source,
                    example(&c.example),
                    fires_word(&c.rule.kind, c.head_fires),
                    fires_word(&c.rule.kind, c.base_fires),
                    c.differing,
                    c.sampled
                );
                if !c.differing_values.is_empty() {
                    let vals: Vec<String> =
                        c.differing_values.iter().map(Json::to_string).collect();
                    let _ = writeln!(o, "    differs at: {}", vals.join(", "));
                }
            }
        }
        let cov = &self.coverage;
        let _ = writeln!(
            o,
            "\nexact: {} (scenario, dataset, action, consent) decided by both engines ({} with identical policies skipped); sampled: developer conditions at {} on the boundary values of their constants",
            cov.decisions, cov.identical_slices, cov.condition_day
        );
        for e in &cov.errors {
            let _ = writeln!(o, "error: {e}");
        }
        for b in &cov.blocking {
            let _ = writeln!(
                o,
                "note: no fact row passes `{b}`; decisions were made with it blocking"
            );
        }
        o
    }

    /// For a pull-request comment: a summary table, the details folded.
    pub fn markdown(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "### charter diff: `{}` {} → `{}` {}\n",
            self.base.spec, self.base.version, self.head.spec, self.head.version
        );
        let _ = writeln!(
            o,
            "{}\n",
            if self.impact {
                "**Decisions change.**"
            } else {
                "No decision changes."
            }
        );
        let _ = writeln!(o, "| | count |\n|---|---:|");
        let rows = [
            ("rules added", self.rules.added.len()),
            ("rules removed", self.rules.removed.len()),
            ("rules changed", self.rules.changed.len()),
            ("field grade changes", self.fields.len()),
            (
                "scenarios added / removed",
                self.scenarios.added.len() + self.scenarios.removed.len(),
            ),
            ("decisions with changed fields", self.decisions.len()),
            ("term changes", self.terms.len()),
            ("developer conditions changed", self.conditions.len()),
        ];
        for (what, n) in rows {
            let _ = writeln!(o, "| {what} | {n} |");
        }
        let fold = |o: &mut String, summary: String, body: String| {
            let _ = writeln!(
                o,
                "\n<details><summary>{summary}</summary>\n\n{body}\n</details>"
            );
        };
        let r = &self.rules;
        if !(r.added.is_empty() && r.removed.is_empty() && r.changed.is_empty()) {
            let mut b = String::from(
                "| | id | title | article | source | changed |\n|---|---|---|---|---|---|\n",
            );
            for (sign, p, what) in r
                .added
                .iter()
                .map(|p| ("+", p, String::new()))
                .chain(r.removed.iter().map(|p| ("−", p, String::new())))
                .chain(
                    r.changed
                        .iter()
                        .map(|c| ("~", &c.rule, c.changed.join(", "))),
                )
            {
                let _ = writeln!(
                    b,
                    "| {sign} | `{}` | {} | {} | {} | {what} |",
                    p.id,
                    p.title.as_deref().unwrap_or(""),
                    p.article.as_deref().unwrap_or(""),
                    p.source
                );
            }
            fold(&mut o, "Rule changes".into(), b);
        }
        if !self.fields.is_empty() {
            let mut b = String::from("| field | BASE | HEAD |\n|---|---|---|\n");
            for f in &self.fields {
                let _ = writeln!(
                    b,
                    "| `{}.{}` | {} | {} |",
                    f.dataset,
                    f.field,
                    grade(&f.base),
                    grade(&f.head)
                );
            }
            fold(&mut o, "Field grades".into(), b);
        }
        if !self.decisions.is_empty() {
            let mut b = String::from(
                "| scenario | dataset | action | consent | day | gained | lost |\n|---|---|---|---|---|---|---|\n",
            );
            for d in &self.decisions {
                let _ = writeln!(
                    b,
                    "| {} | `{}` | `{}` | {} | {} | {} | {} |",
                    d.scenario,
                    d.dataset,
                    d.action,
                    if d.consent { "yes" } else { "no" },
                    d.day,
                    fields_list(&d.gained),
                    fields_list(&d.lost)
                );
            }
            fold(
                &mut o,
                format!("Decision changes ({})", self.decisions.len()),
                b,
            );
        }
        if !self.terms.is_empty() {
            let mut b =
                String::from("| scenario | BASE | HEAD | days that differ |\n|---|---|---|---|\n");
            for t in &self.terms {
                let ranges: Vec<String> = t
                    .ranges
                    .iter()
                    .map(|r| {
                        format!(
                            "{} .. {} ({} only, {} allowed requests)",
                            r.from,
                            r.to,
                            r.in_force.to_uppercase(),
                            r.allowed.len()
                        )
                    })
                    .collect();
                let _ = writeln!(
                    b,
                    "| {} | {} | {} | {} |",
                    t.scenario,
                    t.base,
                    t.head,
                    ranges.join("; ")
                );
            }
            fold(&mut o, "Term changes".into(), b);
        }
        if !self.conditions.is_empty() {
            let mut b = String::from(
                "| condition | example | BASE | HEAD | samples differing |\n|---|---|---|---|---|\n",
            );
            for c in &self.conditions {
                let _ = writeln!(
                    b,
                    "| `{}` {} ({}) | `{}` | {} | {} | {} / {} |",
                    c.rule.id,
                    c.rule.title.as_deref().unwrap_or(""),
                    c.rule.source,
                    example(&c.example),
                    fires_word(&c.rule.kind, c.base_fires),
                    fires_word(&c.rule.kind, c.head_fires),
                    c.differing,
                    c.sampled
                );
            }
            fold(
                &mut o,
                "Developer conditions (sampled at boundary values)".into(),
                b,
            );
        }
        let _ = writeln!(
            o,
            "\nExact over {} (scenario, dataset, action, consent); developer conditions sampled at {} on the boundary values of their constants.",
            self.coverage.decisions, self.coverage.condition_day
        );
        o
    }
}

fn title(p: &RuleRef) -> String {
    p.title
        .clone()
        .map(|t| format!("「{t}」"))
        .unwrap_or_default()
}
