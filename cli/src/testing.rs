//! `charter test`: a bundle's own `test` blocks, run through the same [`Engine`] the
//! platform uses — there is no second evaluator — and the rule coverage they reach.
//!
//! Each test builds its developers' facts (a `fixture`'s facts, overlaid by the test's
//! `given`), and each expectation becomes what the platform would ask: `expect allow|deny`
//! a [`Request`] carrying those facts at the test's `at` day, `expect exit|suspend|notice`
//! a sweep. A decision that comes back with errors fails its expectation even when deny
//! was expected: a deny for a missing fact shows nothing about the rules.
//!
//! Coverage is per compiled rule (every policy id, notices included). A rule counts as
//! exercised when a test's decision or sweep names it: a scope that permitted a field, a
//! forbid (admission, grade, consent, exit, suspend …) that denied one, an exit or suspend
//! that fired in a sweep, a notice that rode along.

use std::collections::{BTreeMap, BTreeSet};

use charter_compiler::sema::expr::duration_days;
use charter_compiler::syntax::ast::{
    Date, Expect, ExpectDecision, ExpectTrigger, FactAssign, FieldSet, ItemKind, RuleRef, TestDecl,
    Value,
};
use charter_compiler::{db, CompiledBundle, Compiler, PolicyKind, SourceText};
use serde::Serialize;
use serde_json::Value as Json;

use charter_runtime::{
    Consent, Decision, Effect, Engine, ErrorCode, Facts, LoadError, Reason, Request, RequestFacts,
    SweepReport,
};

/// Which tests to run.
#[derive(Clone, Debug, Default)]
pub struct TestOptions {
    /// Run only tests whose name or file contains this text.
    pub filter: Option<String>,
}

/// What a run found.
#[derive(Clone, Debug, Serialize)]
pub struct TestReport {
    /// The bundle's name.
    pub bundle: String,
    /// Its version.
    pub version: String,
    /// Tests by file, in path order; files without tests are left out.
    pub files: Vec<FileResult>,
    /// Tests that passed.
    pub passed: usize,
    /// Tests that failed.
    pub failed: usize,
    /// Tests the filter left out.
    pub filtered_out: usize,
    /// Rule coverage of the tests run.
    pub coverage: Coverage,
}

impl TestReport {
    /// Tests run.
    pub fn total(&self) -> usize {
        self.passed + self.failed
    }
}

/// The tests of one file.
#[derive(Clone, Debug, Serialize)]
pub struct FileResult {
    /// Path relative to the bundle root.
    pub file: String,
    /// Its tests, in source order.
    pub tests: Vec<TestResult>,
}

/// One `test` block.
#[derive(Clone, Debug, Serialize)]
pub struct TestResult {
    /// The test's name.
    pub name: String,
    /// Its file.
    pub file: String,
    /// 1-based line of `test`.
    pub line: usize,
    /// Whether every expectation held.
    pub passed: bool,
    /// Its expectations, in order.
    pub expectations: Vec<ExpectResult>,
}

/// One `expect` statement.
#[derive(Clone, Debug, Serialize)]
pub struct ExpectResult {
    /// 1-based line of `expect`.
    pub line: usize,
    /// The statement as written, on one line.
    pub statement: String,
    /// Whether it held.
    pub passed: bool,
    /// What went wrong, when it did not hold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
}

/// Why an expectation did not hold, with what the engine was asked and answered.
#[derive(Clone, Debug, Serialize)]
pub struct Failure {
    /// One line: what was expected and what happened.
    pub message: String,
    /// The request made, for `expect allow|deny`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<Request>,
    /// The engine's decision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    /// The sweep, for `expect exit|suspend|notice`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sweep: Option<SweepReport>,
    /// The rules that decided (or, for a trigger that did not fire, the rule expected),
    /// with the line they are written on.
    pub decided_by: Vec<RuleLocation>,
}

/// A rule and where it is written.
#[derive(Clone, Debug, Serialize)]
pub struct RuleLocation {
    /// Policy id (`scenario/普惠金融/use/2`).
    pub id: String,
    /// Kind (`scope`, `exit` …).
    pub kind: String,
    /// Name as written.
    pub rule: String,
    /// Title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Article of the regulation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub article: Option<String>,
    /// `file:line:column`.
    pub source: String,
    /// The source line, trimmed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line_text: Option<String>,
}

/// Which rules the tests exercised.
#[derive(Clone, Debug, Serialize)]
pub struct Coverage {
    /// Every rule of the bundle, in bundle order.
    pub rules: Vec<RuleCoverage>,
    /// Rules exercised.
    pub covered: usize,
    /// Rules in the bundle.
    pub total: usize,
    /// `covered / total` in percent (100 for a bundle without rules).
    pub percent: f64,
}

/// One rule's coverage.
#[derive(Clone, Debug, Serialize)]
pub struct RuleCoverage {
    /// The rule and where it is written.
    #[serde(flatten)]
    pub rule: RuleLocation,
    /// Whether a test exercised it.
    pub covered: bool,
    /// The tests that did.
    pub tests: Vec<String>,
}

/// Runs the tests of a compiled bundle through a fresh engine. `compiler` is the one that
/// built `bundle`: it supplies the tests, the fixtures and the source lines.
pub fn run(
    compiler: &Compiler,
    bundle: &CompiledBundle,
    opts: &TestOptions,
) -> Result<TestReport, LoadError> {
    let engine = Engine::from_bundle(bundle.clone())?;
    let sources = compiler.sources();
    let mut run = Run {
        compiler,
        engine: &engine,
        bundle,
        sources: &sources,
        fixtures: &compiler.model().fixtures,
        hits: BTreeMap::new(),
    };
    let db = compiler.db();
    let mut files = Vec::new();
    let (mut passed, mut failed, mut filtered_out) = (0, 0, 0);
    // File 0 is the prelude and file 1 charter.toml; tests live in the `.charter` files.
    for file in compiler.bundle().files(db).iter().skip(2) {
        let path = file.path(db).clone();
        let text = file.text(db).as_str();
        let index = db::line_index(db, *file);
        let line = |offset: u32| index.line_col(offset as usize).line;
        let mut tests = Vec::new();
        for item in &db::parse_file(db, *file).items {
            let ItemKind::Test(t) = &item.kind else {
                continue;
            };
            let selected = opts
                .filter
                .as_deref()
                .is_none_or(|f| t.name.value.contains(f) || path.contains(f));
            if !selected {
                filtered_out += 1;
                continue;
            }
            let result = run.test(t, &path, text, &line);
            if result.passed {
                passed += 1;
            } else {
                failed += 1;
            }
            tests.push(result);
        }
        if !tests.is_empty() {
            files.push(FileResult { file: path, tests });
        }
    }
    let coverage = run.coverage();
    Ok(TestReport {
        bundle: bundle.manifest.name.clone(),
        version: bundle.manifest.version.clone(),
        files,
        passed,
        failed,
        filtered_out,
        coverage,
    })
}

struct Run<'a> {
    compiler: &'a Compiler,
    engine: &'a Engine,
    bundle: &'a CompiledBundle,
    sources: &'a [SourceText],
    fixtures: &'a BTreeMap<String, charter_compiler::sema::model::FixtureInfo>,
    /// Policy id → the tests that exercised it.
    hits: BTreeMap<String, BTreeSet<String>>,
}

impl Run<'_> {
    fn test(
        &mut self,
        t: &TestDecl,
        path: &str,
        text: &str,
        line: &dyn Fn(u32) -> usize,
    ) -> TestResult {
        let at = t.at.as_ref().map(|(d, _)| fmt_date(*d));
        // Each developer's facts: the fixture's, then the test's `given` over them.
        let mut developers: BTreeMap<String, Facts> = BTreeMap::new();
        for g in &t.givens {
            let facts = developers
                .entry(g.id.value.clone())
                .or_insert_with(|| self.fixture_facts(&g.id.value));
            overlay(facts, &g.facts);
        }
        let only = (t.givens.len() == 1)
            .then(|| t.givens.first().map(|g| g.id.value.clone()))
            .flatten();
        let mut expectations = Vec::new();
        for e in &t.expects {
            let (span, dev) = match e {
                Expect::Decision(d) => (d.span, d.developer.as_ref()),
                Expect::Trigger(tr) => (tr.span, tr.developer.as_ref()),
            };
            let statement = text
                .get(span.range())
                .unwrap_or("")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            let dev = dev.map(|s| s.value.clone()).or_else(|| only.clone());
            let failure = match dev {
                None => Some(Failure::simple(
                    "the expectation does not say which developer (`by \"id\"` or `for \"id\"`)",
                )),
                Some(dev) => {
                    let facts = developers
                        .get(&dev)
                        .cloned()
                        .unwrap_or_else(|| self.fixture_facts(&dev));
                    match e {
                        Expect::Decision(d) => {
                            self.decision(&t.name.value, d, &dev, facts, at.clone())
                        }
                        Expect::Trigger(tr) => {
                            self.trigger(&t.name.value, tr, &dev, &facts, at.as_deref())
                        }
                    }
                }
            };
            expectations.push(ExpectResult {
                line: line(span.start),
                statement,
                passed: failure.is_none(),
                failure,
            });
        }
        TestResult {
            name: t.name.value.clone(),
            file: path.to_string(),
            line: line(t.name.span.start),
            passed: expectations.iter().all(|e| e.passed),
            expectations,
        }
    }

    fn fixture_facts(&self, dev: &str) -> Facts {
        let mut facts = Facts::new();
        if let Some(f) = self.fixtures.get(dev) {
            overlay(&mut facts, &f.facts);
        }
        facts
    }

    fn hit(&mut self, test: &str, reasons: &[Reason]) {
        for r in reasons {
            self.hits
                .entry(r.id.to_string())
                .or_default()
                .insert(test.to_string());
        }
    }

    fn decision(
        &mut self,
        test: &str,
        d: &ExpectDecision,
        dev: &str,
        facts: Facts,
        at: Option<String>,
    ) -> Option<Failure> {
        let fields = match &d.fields {
            Some(FieldSet::Some(names)) => names.iter().map(|n| n.text.clone()).collect(),
            _ => Vec::new(),
        };
        let request = Request {
            developer: dev.to_string(),
            action: d.action.text.clone(),
            dataset: d.dataset.text.clone(),
            fields,
            scenario: d.scenario.text.clone(),
            at,
            purpose: None,
            consent: d.consent.as_ref().map(|r| Consent {
                granted: true,
                // `with consent` without a reference still means consent was given; the
                // engine counts consent only with a reference, so the test supplies one.
                reference: Some(
                    r.as_ref()
                        .map(|s| s.value.clone())
                        .unwrap_or_else(|| "test".to_string()),
                ),
            }),
            facts: Some(RequestFacts {
                developer: Some(facts),
            }),
        };
        let decision = self.engine.decide(&request);
        for f in &decision.fields {
            self.hit(test, &f.reasons);
        }
        self.hit(test, &decision.notices);
        let expected = if d.allow { Effect::Allow } else { Effect::Deny };
        // A decision with errors was not decided by its rules: name only the policies
        // that failed to evaluate, not the scopes a deny would otherwise point at.
        let mut decided_by = if decision.errors.is_empty() {
            self.decided_by(&decision)
        } else {
            let mut ids: Vec<&str> = decision
                .errors
                .iter()
                .filter_map(|e| e.policy.as_deref())
                .collect();
            ids.dedup();
            ids.into_iter().filter_map(|id| self.locate(id)).collect()
        };
        if decided_by.is_empty() && !decision.is_allowed() && decision.errors.is_empty() {
            // Nothing permits it and no scope was even considered: point at the scenario,
            // whose scopes are where a permit would have to be.
            decided_by.extend(self.scenario_location(&d.scenario.text));
        }
        let message = if !decision.errors.is_empty() {
            let errors: Vec<&str> = decision.errors.iter().map(|e| e.message.as_str()).collect();
            let facts_wrong = decision
                .errors
                .iter()
                .any(|e| matches!(e.code, ErrorCode::MissingFact | ErrorCode::FactType));
            let hint = if facts_wrong {
                match self.fixture_location(dev) {
                    Some(at) => format!(
                        "; the facts of `{dev}` are its fixture's ({at}) with this test's `given` over them: set the fact there"
                    ),
                    None => format!(
                        "; `{dev}` has no fixture, so its facts are this test's `given`: set the fact there"
                    ),
                }
            } else {
                String::new()
            };
            Some(format!(
                "the engine could not decide, so the answer is deny whatever the rules say: {}{hint}",
                errors.join("; ")
            ))
        } else if decision.decision != expected {
            Some(format!(
                "expected {}, got {}",
                expected.as_str(),
                decision.decision.as_str()
            ))
        } else if let Some(because) = &d.because {
            let (name, by_id) = match because {
                RuleRef::Name(n) => (n.text.as_str(), false),
                RuleRef::Id(s) => (s.value.as_str(), true),
            };
            let matches = |r: &RuleLocation| if by_id { r.id == name } else { r.rule == name };
            (!decided_by.iter().any(matches)).then(|| {
                let by: Vec<String> = decided_by.iter().map(|r| format!("`{}`", r.id)).collect();
                format!(
                    "expected {} because of `{name}`, but it was decided by {}",
                    expected.as_str(),
                    if by.is_empty() {
                        "no rule (default deny)".to_string()
                    } else {
                        by.join(", ")
                    }
                )
            })
        } else {
            None
        };
        message.map(|message| Failure {
            message,
            request: Some(request),
            decision: Some(decision),
            sweep: None,
            decided_by,
        })
    }

    /// The rules behind a decision: the permits of an allow, the forbids of a deny, or for
    /// a deny no forbid explains, the scopes that were considered and did not match.
    fn decided_by(&self, d: &Decision) -> Vec<RuleLocation> {
        let mut ids: Vec<&str> = Vec::new();
        let deciding = d.reasons.iter().filter(|r| {
            let permit = &*r.kind == PolicyKind::Scope.as_str();
            if d.is_allowed() {
                permit
            } else {
                !permit
            }
        });
        for r in deciding {
            if !ids.contains(&&*r.id) {
                ids.push(&r.id);
            }
        }
        if ids.is_empty() && !d.is_allowed() {
            for w in d.why_not() {
                if let Some(p) = &w.policy {
                    if !ids.contains(&p.as_str()) {
                        ids.push(p);
                    }
                }
            }
        }
        ids.into_iter().filter_map(|id| self.locate(id)).collect()
    }

    fn trigger(
        &mut self,
        test: &str,
        tr: &ExpectTrigger,
        dev: &str,
        facts: &Facts,
        at: Option<&str>,
    ) -> Option<Failure> {
        let sweep = self.engine.sweep(dev, Some(facts), at);
        self.hit(test, &sweep.triggers);
        self.hit(test, &sweep.notices);
        let kind = tr.kind.keyword();
        let fired = sweep
            .triggers
            .iter()
            .chain(&sweep.notices)
            .find(|r| *r.rule == *tr.name.text && &*r.kind == kind);
        let message = if !sweep.errors.is_empty() {
            let errors: Vec<&str> = sweep.errors.iter().map(|e| e.message.as_str()).collect();
            Some(format!("the sweep could not run: {}", errors.join("; ")))
        } else {
            match fired {
                None => Some(format!(
                    "expected {kind} `{}` to fire, it did not",
                    tr.name.text
                )),
                Some(r) if !tr.measures.is_empty() => {
                    let want: BTreeSet<&str> =
                        tr.measures.iter().map(|m| m.text.as_str()).collect();
                    let got: BTreeSet<&str> = r.measures.iter().map(String::as_str).collect();
                    (want != got).then(|| {
                        format!(
                            "{kind} `{}` fired with measures {}, expected {}",
                            tr.name.text,
                            r.measures.join(", "),
                            tr.measures
                                .iter()
                                .map(|m| m.text.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    })
                }
                Some(_) => None,
            }
        };
        message.map(|message| {
            // The rule expected, then what did fire.
            let mut ids: Vec<&str> = self
                .bundle
                .policies
                .iter()
                .filter(|p| p.rule == tr.name.text && p.kind.as_str() == kind)
                .map(|p| p.id.as_str())
                .collect();
            for r in sweep.triggers.iter().chain(&sweep.notices) {
                if !ids.contains(&&*r.id) {
                    ids.push(&r.id);
                }
            }
            let decided_by = ids.into_iter().filter_map(|id| self.locate(id)).collect();
            Failure {
                message,
                request: None,
                decision: None,
                sweep: Some(sweep.clone()),
                decided_by,
            }
        })
    }

    /// Where a scenario is declared, as a rule location of kind `scenario`.
    /// Where the fixture of developer `dev` is declared, as `file:line:column`.
    fn fixture_location(&self, dev: &str) -> Option<String> {
        let c = self.compiler;
        let loc = self.fixtures.get(dev)?.loc;
        let file = *c.bundle().files(c.db()).get(loc.file.index())?;
        let item = db::parse_file(c.db(), file).items.get(loc.item as usize)?;
        let lc = db::line_index(c.db(), file).line_col(item.span.start as usize);
        Some(format!("{}:{}:{}", file.path(c.db()), lc.line, lc.column))
    }

    fn scenario_location(&self, name: &str) -> Option<RuleLocation> {
        let c = self.compiler;
        let loc = c.model().first.get(&(
            charter_compiler::sema::model::Ns::Scenario,
            name.to_string(),
        ))?;
        let file = *c.bundle().files(c.db()).get(loc.file.index())?;
        let item = db::parse_file(c.db(), file).items.get(loc.item as usize)?;
        let ItemKind::Scenario(s) = &item.kind else {
            return None;
        };
        let text = file.text(c.db());
        let lc = db::line_index(c.db(), file).line_col(item.span.start as usize);
        Some(RuleLocation {
            id: format!("scenario/{name}"),
            kind: "scenario".to_string(),
            rule: name.to_string(),
            title: s.title.as_ref().map(|t| t.value.clone()),
            article: s.article.as_ref().map(|a| a.value.clone()),
            source: format!("{}:{}:{}", file.path(c.db()), lc.line, lc.column),
            line_text: text.lines().nth(lc.line - 1).map(|l| l.trim().to_string()),
        })
    }

    fn locate(&self, id: &str) -> Option<RuleLocation> {
        let p = self.bundle.policies.iter().find(|p| p.id == id)?;
        let line_text = self
            .sources
            .iter()
            .find(|s| s.path == p.source.file)
            .and_then(|s| s.text.lines().nth(p.source.line.saturating_sub(1)))
            .map(|l| l.trim().to_string());
        Some(RuleLocation {
            id: p.id.clone(),
            kind: p.kind.as_str().to_string(),
            rule: p.rule.clone(),
            title: p.title.clone(),
            article: p.article.clone(),
            source: p.source.to_string(),
            line_text,
        })
    }

    fn coverage(&self) -> Coverage {
        let rules: Vec<RuleCoverage> = self
            .bundle
            .policies
            .iter()
            .filter_map(|p| {
                let rule = self.locate(&p.id)?;
                let tests: Vec<String> = self
                    .hits
                    .get(&p.id)
                    .map(|s| s.iter().cloned().collect())
                    .unwrap_or_default();
                Some(RuleCoverage {
                    rule,
                    covered: !tests.is_empty(),
                    tests,
                })
            })
            .collect();
        let covered = rules.iter().filter(|r| r.covered).count();
        let total = rules.len();
        let percent = if total == 0 {
            100.0
        } else {
            covered as f64 * 100.0 / total as f64
        };
        Coverage {
            rules,
            covered,
            total,
            percent,
        }
    }
}

impl Failure {
    fn simple(message: &str) -> Failure {
        Failure {
            message: message.to_string(),
            request: None,
            decision: None,
            sweep: None,
            decided_by: Vec::new(),
        }
    }
}

/// Sets facts as the engine reads them: dates `YYYY-MM-DD`, durations in days, scenarios
/// by name.
fn overlay(facts: &mut Facts, assigns: &[FactAssign]) {
    for a in assigns {
        facts.insert(a.name.text.clone(), to_json(&a.value));
    }
}

fn to_json(v: &Value) -> Json {
    match v {
        Value::Bool(b, _) => Json::Bool(*b),
        Value::Int(n, _) => Json::from(*n),
        Value::Str(s) => Json::String(s.value.clone()),
        Value::Date(d, _) => Json::String(fmt_date(*d)),
        Value::Duration(d, _) => Json::from(duration_days(*d)),
        Value::Name(n) => Json::String(n.text.clone()),
        Value::List(items, _) => Json::Array(items.iter().map(to_json).collect()),
    }
}

fn fmt_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year, d.month, d.day)
}
