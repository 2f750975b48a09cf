//! `charter replay`: the logged decisions re-decided under a new bundle, with the facts
//! and the day each was decided with, and those that would change, grouped by the rule
//! (or the missing scope, or the error) that makes the difference.
//!
//! A record is re-decided from its `request` column (see `charter_log::read_logged_request`):
//! its time is the logged `at` (or the record's own time, for logs written before `at` was
//! made explicit) and its facts are those the record holds. A record that holds no facts
//! is decided with the facts file given, else counted as skipped, with the reason.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use charter_log::{format_ms, read_logged_request, FactsOrigin, Filter, Record};
use charter_runtime::{Decision, Effect, Engine, FieldDecision};
use serde::Serialize;

use crate::load::Side;
use crate::{info, ReviewError, SideInfo};

/// What to replay and how much to show.
#[derive(Clone, Debug)]
pub struct ReplayOptions {
    /// Which records (time span, developer, dataset, scenario …); checkpoints never.
    pub filter: Filter,
    /// Examples kept per group.
    pub examples: usize,
    /// Facts for records that hold none (a facts file: `{"dev-001": {…}}`).
    pub facts: Option<std::path::PathBuf>,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            filter: Filter::default(),
            examples: 3,
            facts: None,
        }
    }
}

/// A field's or a decision's change of effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Allowed when logged, denied now.
    AllowToDeny,
    /// Denied when logged, allowed now.
    DenyToAllow,
}

impl Change {
    fn arrow(self) -> &'static str {
        match self {
            Change::AllowToDeny => "allow → deny",
            Change::DenyToAllow => "deny → allow",
        }
    }
}

/// What makes the difference: for allow → deny what denies now, for deny → allow what
/// denied then.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Cause {
    /// `rule` (a forbid, exit, suspend … that fired), `why_not` (no permit: outside a
    /// scope, no consent, term not in force …) or `error`.
    pub kind: String,
    /// The rule's id, or the why-not or error code.
    pub id: String,
    /// The scope a why-not names, when it names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// The rule's title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Its article.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub article: Option<String>,
    /// Where it is written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// One changed decision, as an example of its group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReplayExample {
    /// The logged decision's id.
    pub decision_id: String,
    /// When it was logged.
    pub logged_at: String,
    /// The developer.
    pub developer: String,
    /// The action.
    pub action: String,
    /// The dataset.
    pub dataset: String,
    /// The scenario.
    pub scenario: String,
    /// The fields whose effect this cause changes (empty when the decision has none).
    pub fields: Vec<String>,
}

/// The changed decisions that one cause explains.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReplayGroup {
    /// Which way.
    pub change: Change,
    /// Why.
    pub cause: Cause,
    /// Decisions it changes.
    pub decisions: u64,
    /// Fields it changes, over those decisions.
    pub fields: u64,
    /// The first few, oldest first.
    pub examples: Vec<ReplayExample>,
}

/// Records not re-decided, by reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// Why.
    pub reason: String,
    /// How many.
    pub count: u64,
    /// The first one's decision id.
    pub first: String,
}

/// The bundle versions the logged decisions were made under.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DecidedUnder {
    /// Version.
    pub version: String,
    /// Hash.
    pub hash: String,
    /// Decisions.
    pub decisions: u64,
}

/// The report of `charter replay`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReplayReport {
    /// The log file.
    pub log: String,
    /// The bundle re-decided with.
    pub bundle: SideInfo,
    /// The first logged time replayed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Decisions read from the log.
    pub read: u64,
    /// Decisions re-decided.
    pub replayed: u64,
    /// Re-decided the same (every field's effect and the decision).
    pub unchanged: u64,
    /// Re-decided differently.
    pub changed: u64,
    /// Of those, allowed then and denied now.
    pub allow_to_deny: u64,
    /// Denied then and allowed now.
    pub deny_to_allow: u64,
    /// The same decision, but some fields' effects differ.
    pub fields_only: u64,
    /// The changes by cause, most decisions first.
    pub groups: Vec<ReplayGroup>,
    /// Records not re-decided.
    pub skipped: Vec<Skipped>,
    /// The versions the logged decisions were made under.
    pub decided_under: Vec<DecidedUnder>,
}

/// One record's comparison: the decision-level change and the causes with their fields.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Comparison {
    /// The decision's change, when its effect differs.
    pub decision: Option<Change>,
    /// Per (change, cause), the fields it changes.
    pub causes: BTreeMap<(Change, Cause), BTreeSet<String>>,
}

impl Comparison {
    /// Whether anything differs.
    pub fn changed(&self) -> bool {
        self.decision.is_some() || !self.causes.is_empty()
    }
}

/// A code's name as the JSON answer spells it (`field_outside_scope`).
fn code_name(code: &impl Serialize) -> String {
    serde_json::to_value(code)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn rule_cause(r: &charter_runtime::Reason) -> Cause {
    Cause {
        kind: "rule".into(),
        id: r.id.to_string(),
        policy: None,
        title: r.title.as_ref().map(|t| t.to_string()),
        article: r.article.as_ref().map(|a| a.to_string()),
        source: Some(r.source.to_string()).filter(|s| !s.is_empty()),
    }
}

fn error_causes(d: &Decision) -> Vec<Cause> {
    d.errors
        .iter()
        .map(|e| Cause {
            kind: "error".into(),
            id: code_name(&e.code),
            policy: e.policy.clone(),
            title: None,
            article: None,
            source: None,
        })
        .collect()
}

/// What denies `field` of `d` (or, without a field, the decision): the rules that fired,
/// else the why-nots, else the errors.
fn deny_causes(d: &Decision, field: Option<&FieldDecision>) -> Vec<Cause> {
    let mut out: Vec<Cause> = match field {
        Some(f) if !f.reasons.is_empty() => f.reasons.iter().map(rule_cause).collect(),
        Some(f) => f
            .why_not
            .iter()
            .map(|w| Cause {
                kind: "why_not".into(),
                id: code_name(&w.code),
                policy: w.policy.clone(),
                title: None,
                article: w.article.clone(),
                source: w.source.clone(),
            })
            .collect(),
        None => Vec::new(),
    };
    if out.is_empty() {
        out = d.reasons.iter().map(rule_cause).collect();
    }
    if out.is_empty() {
        out = error_causes(d);
    }
    if out.is_empty() {
        out.push(Cause {
            kind: "why_not".into(),
            id: "no_permit".into(),
            policy: None,
            title: None,
            article: None,
            source: None,
        });
    }
    out
}

/// Compares a logged decision with the same request decided again.
pub fn compare(old: &Decision, new: &Decision) -> Comparison {
    let mut cmp = Comparison::default();
    let effect = |d: &Decision, name: &str| -> Option<Effect> {
        d.fields
            .iter()
            .find(|f| f.field == name)
            .map(|f| f.decision)
    };
    let names: BTreeSet<&str> = old
        .fields
        .iter()
        .chain(&new.fields)
        .map(|f| f.field.as_str())
        .collect();
    for name in names {
        let (before, after) = (effect(old, name), effect(new, name));
        let allowed = |e: Option<Effect>| e == Some(Effect::Allow);
        let (change, causes) = match (allowed(before), allowed(after)) {
            (true, false) => (
                Change::AllowToDeny,
                deny_causes(new, new.fields.iter().find(|f| f.field == name)),
            ),
            (false, true) => (
                Change::DenyToAllow,
                deny_causes(old, old.fields.iter().find(|f| f.field == name)),
            ),
            _ => continue,
        };
        for cause in causes {
            cmp.causes
                .entry((change, cause))
                .or_default()
                .insert(name.to_string());
        }
    }
    if old.decision != new.decision {
        let change = if new.decision == Effect::Deny {
            Change::AllowToDeny
        } else {
            Change::DenyToAllow
        };
        cmp.decision = Some(change);
        if !cmp.causes.keys().any(|(c, _)| *c == change) {
            let blocked = if change == Change::AllowToDeny {
                new
            } else {
                old
            };
            for cause in deny_causes(blocked, None) {
                cmp.causes.entry((change, cause)).or_default();
            }
        }
    }
    cmp
}

struct Tally {
    examples: usize,
    report: ReplayReport,
    groups: BTreeMap<(Change, Cause), ReplayGroup>,
    skipped: BTreeMap<String, Skipped>,
    under: BTreeMap<(String, String), u64>,
}

impl Tally {
    fn skip(&mut self, reason: String, id: &str) {
        self.skipped
            .entry(reason.clone())
            .or_insert_with(|| Skipped {
                reason,
                count: 0,
                first: id.to_string(),
            })
            .count += 1;
    }

    fn record(&mut self, rec: &Record, cmp: Comparison) {
        self.report.replayed += 1;
        if !cmp.changed() {
            self.report.unchanged += 1;
            return;
        }
        self.report.changed += 1;
        match cmp.decision {
            Some(Change::AllowToDeny) => self.report.allow_to_deny += 1,
            Some(Change::DenyToAllow) => self.report.deny_to_allow += 1,
            None => self.report.fields_only += 1,
        }
        for ((change, cause), fields) in cmp.causes {
            let group = self
                .groups
                .entry((change, cause.clone()))
                .or_insert_with(|| ReplayGroup {
                    change,
                    cause,
                    decisions: 0,
                    fields: 0,
                    examples: Vec::new(),
                });
            group.decisions += 1;
            group.fields += fields.len() as u64;
            if group.examples.len() < self.examples {
                group.examples.push(ReplayExample {
                    decision_id: rec.id.clone(),
                    logged_at: format_ms(rec.ts),
                    developer: rec.developer.clone(),
                    action: rec.action.clone(),
                    dataset: rec.dataset.clone(),
                    scenario: rec.scenario.clone(),
                    fields: fields.into_iter().collect(),
                });
            }
        }
    }
}

/// Re-decides the records of the log at `log` that `options.filter` selects under `head`.
pub fn replay(
    log: &Path,
    head: &Side,
    options: &ReplayOptions,
) -> Result<ReplayReport, ReviewError> {
    let load_err = |message: String| ReviewError::Load {
        spec: head.spec.clone(),
        message,
    };
    let engine = Engine::from_bundle(head.bundle.clone()).map_err(|e| load_err(e.to_string()))?;
    if let Some(facts) = &options.facts {
        engine
            .facts()
            .load_file(facts)
            .map_err(|e| ReviewError::Read {
                spec: facts.display().to_string(),
                message: e.to_string(),
            })?;
    }
    let mut tally = Tally {
        examples: options.examples,
        report: ReplayReport {
            log: log.display().to_string(),
            bundle: info(head),
            from: None,
            to: None,
            read: 0,
            replayed: 0,
            unchanged: 0,
            changed: 0,
            allow_to_deny: 0,
            deny_to_allow: 0,
            fields_only: 0,
            groups: Vec::new(),
            skipped: Vec::new(),
            decided_under: Vec::new(),
        },
        groups: BTreeMap::new(),
        skipped: BTreeMap::new(),
        under: BTreeMap::new(),
    };
    let mut filter = options.filter.clone();
    filter.checkpoints = false;
    let (mut first, mut last) = (None, None);
    charter_log::query(log, &filter, |rec| {
        tally.report.read += 1;
        first.get_or_insert(rec.ts);
        last = Some(rec.ts);
        *tally
            .under
            .entry((rec.bundle_version.clone(), rec.bundle_hash.clone()))
            .or_default() += 1;
        let logged = match read_logged_request(&rec.request) {
            Ok(l) => l,
            Err(e) => {
                tally.skip(format!("the logged request cannot be read: {e}"), &rec.id);
                return true;
            }
        };
        let old: Decision = match serde_json::from_str(&rec.answer) {
            Ok(d) => d,
            Err(e) => {
                tally.skip(format!("the logged answer cannot be read: {e}"), &rec.id);
                return true;
            }
        };
        if logged.facts == FactsOrigin::Absent
            && engine.facts().get(&logged.request.developer).is_none()
            && old.errors.is_empty()
        {
            tally.skip(
                "logged without the facts it was decided with (pass a facts file with `--facts`)"
                    .to_string(),
                &rec.id,
            );
            return true;
        }
        let mut request = logged.request;
        if request.at.is_none() {
            request.at = Some(format_ms(rec.ts));
        }
        let new = engine.decide(&request);
        let cmp = compare(&old, &new);
        tally.record(&rec, cmp);
        true
    })
    .map_err(|e| ReviewError::Read {
        spec: log.display().to_string(),
        message: e.to_string(),
    })?;
    let Tally {
        mut report,
        groups,
        skipped,
        under,
        ..
    } = tally;
    report.from = first.map(format_ms);
    report.to = last.map(format_ms);
    report.groups = groups.into_values().collect();
    report
        .groups
        .sort_by(|a, b| b.decisions.cmp(&a.decisions).then(a.change.cmp(&b.change)));
    report.skipped = skipped.into_values().collect();
    report.decided_under = under
        .into_iter()
        .map(|((version, hash), decisions)| DecidedUnder {
            version,
            hash,
            decisions,
        })
        .collect();
    Ok(report)
}

fn cause_text(c: &Cause) -> String {
    let mut s = match (c.kind.as_str(), &c.policy) {
        ("rule", _) => format!("`{}`", c.id),
        ("why_not", Some(p)) => format!("{} (`{p}`)", c.id),
        ("error", _) => format!("error {}", c.id),
        _ => c.id.clone(),
    };
    if let Some(t) = &c.title {
        s.push(' ');
        s.push_str(t);
    }
    let place: Vec<&str> = [c.article.as_deref(), c.source.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    if !place.is_empty() {
        s.push_str(&format!(" ({})", place.join(", ")));
    }
    s
}

fn example_text(e: &ReplayExample) -> String {
    let fields = if e.fields.is_empty() {
        String::new()
    } else {
        format!(": {}", e.fields.join(", "))
    };
    format!(
        "{} `{}` on `{}` in `{}` ({}){fields}",
        e.developer, e.action, e.dataset, e.scenario, e.decision_id
    )
}

impl ReplayReport {
    fn summary(&self) -> String {
        format!(
            "{} re-decided: {} changed ({} allow → deny, {} deny → allow, {} in some fields only), {} unchanged",
            self.replayed,
            self.changed,
            self.allow_to_deny,
            self.deny_to_allow,
            self.fields_only,
            self.unchanged
        )
    }

    /// For people.
    pub fn text(&self) -> String {
        let mut out = format!(
            "replay of `{}` under `{}` ({} {}, {})\n",
            self.log,
            self.bundle.spec,
            self.bundle.name,
            self.bundle.version,
            self.bundle.hash.get(..12).unwrap_or(&self.bundle.hash)
        );
        if let (Some(from), Some(to)) = (&self.from, &self.to) {
            out.push_str(&format!(
                "  {} decisions logged {from} .. {to}\n",
                self.read
            ));
        } else {
            out.push_str("  no decisions in the log match\n");
        }
        out.push_str(&format!("  {}\n", self.summary()));
        for s in &self.skipped {
            out.push_str(&format!(
                "  {} skipped: {} (first: {})\n",
                s.count, s.reason, s.first
            ));
        }
        for g in &self.groups {
            out.push_str(&format!(
                "\n{} · {} decisions, {} fields · {}\n",
                g.change.arrow(),
                g.decisions,
                g.fields,
                cause_text(&g.cause)
            ));
            for e in &g.examples {
                out.push_str(&format!("  {}\n", example_text(e)));
            }
        }
        out
    }

    /// A pull-request comment: the summary and a table by cause, the examples folded.
    pub fn markdown(&self) -> String {
        let mut out = format!(
            "### `charter replay`: {} of {} logged decisions change under `{}` {}\n\n{}\n",
            self.changed,
            self.replayed,
            self.bundle.name,
            self.bundle.version,
            self.summary()
        );
        for s in &self.skipped {
            out.push_str(&format!("\n> {} skipped: {}\n", s.count, s.reason));
        }
        if !self.groups.is_empty() {
            out.push_str("\n| change | cause | decisions | fields |\n|---|---|---:|---:|\n");
            for g in &self.groups {
                out.push_str(&format!(
                    "| {} | {} | {} | {} |\n",
                    g.change.arrow(),
                    cause_text(&g.cause).replace('|', "\\|"),
                    g.decisions,
                    g.fields
                ));
            }
            out.push_str("\n<details><summary>examples</summary>\n\n");
            for g in &self.groups {
                out.push_str(&format!(
                    "**{} · {}**\n\n",
                    g.change.arrow(),
                    cause_text(&g.cause)
                ));
                for e in &g.examples {
                    out.push_str(&format!("- {}\n", example_text(e)));
                }
                out.push('\n');
            }
            out.push_str("</details>\n");
        }
        out
    }
}
