//! The bundle's semantic model: every declared name, and the facts derived from them
//! (field grades above all), built from the declarations of all files.
//!
//! The model is built from span-free copies of declarations ([`file_decls`]), so an
//! edit that only moves text, or only changes a scenario's body, leaves it equal and
//! salsa re-runs nothing that depends on it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::diagnostics::FileId;
use crate::sema::expr::{eval, Ty, Val};
use crate::syntax::ast::*;

/// Where a declaration is: file, item index in the file, and index inside the item
/// (grade entry, field, classify arm), or 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Loc {
    /// File.
    pub file: FileId,
    /// Index of the item in its file.
    pub item: u32,
    /// Index inside the item.
    pub sub: u32,
}

/// The namespaces names live in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Ns {
    /// Grades.
    Grade,
    /// `grade … allows` rules, keyed by grade.
    GradeRule,
    /// Actions.
    Action,
    /// Measures.
    Measure,
    /// Developer facts.
    Fact,
    /// Domains.
    Domain,
    /// Datasets.
    Dataset,
    /// Fields, keyed `dataset/field`.
    Field,
    /// Scenarios.
    Scenario,
    /// Exit, suspend, notice and forbid rules.
    Rule,
    /// Test fixtures, keyed by developer id.
    Fixture,
    /// Tests, keyed by name.
    Test,
    /// The `otherwise` arm of classification.
    Otherwise,
    /// The `grades` block: one per bundle.
    GradesBlock,
}

impl Ns {
    /// The word messages use.
    pub fn noun(self) -> &'static str {
        match self {
            Ns::Grade => "grade",
            Ns::GradeRule => "grade rule",
            Ns::Action => "action",
            Ns::Measure => "measure",
            Ns::Fact => "developer fact",
            Ns::Domain => "domain",
            Ns::Dataset => "dataset",
            Ns::Field => "field",
            Ns::Scenario => "scenario",
            Ns::Rule => "rule",
            Ns::Fixture => "fixture",
            Ns::Test => "test",
            Ns::Otherwise => "`otherwise` arm",
            Ns::GradesBlock => "`grades` block",
        }
    }
}

/// The names an item declares: namespace, key, the span of the name, and the index
/// inside the item.
pub fn declared_names(item: &Item) -> Vec<(Ns, String, Span, u32)> {
    let mut out = Vec::new();
    match &item.kind {
        ItemKind::Grades(entries) => {
            out.push((
                Ns::GradesBlock,
                String::from("grades"),
                item_keyword(item),
                u32::MAX,
            ));
            for (i, e) in entries.iter().enumerate() {
                out.push((Ns::Grade, e.name.text.clone(), e.name.span, i as u32));
            }
        }
        ItemKind::GradeRule(r) => out.push((Ns::GradeRule, r.grade.text.clone(), r.grade.span, 0)),
        ItemKind::Classify(c) => {
            if let Some(o) = &c.otherwise {
                out.push((Ns::Otherwise, String::from("otherwise"), o.span, 0));
            }
        }
        ItemKind::Domain(d) => out.push((Ns::Domain, d.name.text.clone(), d.name.span, 0)),
        ItemKind::Dataset(d) => {
            out.push((Ns::Dataset, d.name.text.clone(), d.name.span, 0));
            for (i, f) in d.fields.iter().enumerate() {
                out.push((
                    Ns::Field,
                    format!("{}/{}", d.name.text, f.name.text),
                    f.name.span,
                    i as u32 + 1,
                ));
            }
        }
        ItemKind::Scenario(s) => out.push((Ns::Scenario, s.name.text.clone(), s.name.span, 0)),
        ItemKind::Trigger(t) => out.push((Ns::Rule, t.name.text.clone(), t.name.span, 0)),
        ItemKind::Forbid(f) => out.push((Ns::Rule, f.name.text.clone(), f.name.span, 0)),
        ItemKind::Action(a) => out.push((Ns::Action, a.name.text.clone(), a.name.span, 0)),
        ItemKind::Measure(m) => out.push((Ns::Measure, m.name.text.clone(), m.name.span, 0)),
        ItemKind::Fact(f) => out.push((Ns::Fact, f.name.text.clone(), f.name.span, 0)),
        ItemKind::Test(t) => out.push((Ns::Test, t.name.value.clone(), t.name.span, 0)),
        ItemKind::Fixture(f) => out.push((Ns::Fixture, f.id.value.clone(), f.id.span, 0)),
        ItemKind::Admission(_) | ItemKind::Limits(_) | ItemKind::Consent(_) => {}
    }
    out
}

/// The span of a declaration's first word.
fn item_keyword(item: &Item) -> Span {
    Span {
        start: item.span.start,
        end: item.span.start.saturating_add(6).min(item.span.end),
    }
}

/// The span-free signatures of a file's declarations: what other files may depend on.
///
/// Scenario bodies, rule conditions, admission requirements and tests are left out:
/// no other file's checks depend on them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct FileDecls {
    /// `(item index, erased item)`.
    pub items: Vec<(u32, Item)>,
    /// The names of declarations that failed to parse (`ParsedFile::broken`).
    pub broken: Vec<String>,
}

/// Builds the signatures of a file from its parse: its items, and the names of the
/// declarations that failed to parse.
pub fn file_decls(items: &[Item], broken: &[String]) -> FileDecls {
    let mut out = FileDecls {
        broken: broken.to_vec(),
        ..FileDecls::default()
    };
    for (i, item) in items.iter().enumerate() {
        let erased = match &item.kind {
            ItemKind::Scenario(s) => ItemKind::Scenario(Scenario {
                name: erase_name(&s.name),
                title: s.title.as_ref().map(erase_str),
                article: s.article.as_ref().map(erase_str),
                domain: s.domain.as_ref().map(erase_name),
                purpose: None,
                term: None,
                requires: Vec::new(),
                uses: Vec::new(),
            }),
            ItemKind::Trigger(t) => ItemKind::Trigger(Trigger {
                kind: t.kind,
                name: erase_name(&t.name),
                title: t.title.as_ref().map(erase_str),
                article: t.article.as_ref().map(erase_str),
                when: Expr {
                    kind: ExprKind::Bool(true),
                    span: Span::default(),
                },
                measures: t.measures.iter().map(erase_name).collect(),
                measures_span: None,
            }),
            ItemKind::Test(t) => ItemKind::Test(TestDecl {
                // Only the name: other files care that it is unique, not what it tests.
                name: erase_str(&t.name),
                givens: Vec::new(),
                at: None,
                expects: Vec::new(),
            }),
            ItemKind::Admission(_) => continue,
            other => erase_kind(other),
        };
        out.items.push((
            i as u32,
            Item {
                doc: item.doc.clone(),
                span: Span::default(),
                kind: erased,
            },
        ));
    }
    out
}

fn erase_str(s: &Str) -> Str {
    Str {
        value: s.value.clone(),
        span: Span::default(),
    }
}

fn erase_names(v: &[Name]) -> Vec<Name> {
    v.iter().map(erase_name).collect()
}

fn erase_strs(v: &[Str]) -> Vec<Str> {
    v.iter().map(erase_str).collect()
}

fn erase_value(v: &Value) -> Value {
    let z = Span::default();
    match v {
        Value::Bool(b, _) => Value::Bool(*b, z),
        Value::Int(i, _) => Value::Int(*i, z),
        Value::Str(s) => Value::Str(erase_str(s)),
        Value::Date(d, _) => Value::Date(*d, z),
        Value::Duration(d, _) => Value::Duration(*d, z),
        Value::Name(n) => Value::Name(erase_name(n)),
        Value::List(items, _) => Value::List(items.iter().map(erase_value).collect(), z),
    }
}

fn erase_kind(kind: &ItemKind) -> ItemKind {
    let z = Span::default();
    match kind {
        ItemKind::Grades(entries) => ItemKind::Grades(
            entries
                .iter()
                .map(|e| GradeEntry {
                    doc: e.doc.clone(),
                    name: erase_name(&e.name),
                    title: e.title.as_ref().map(erase_str),
                })
                .collect(),
        ),
        ItemKind::GradeRule(r) => ItemKind::GradeRule(GradeRule {
            grade: erase_name(&r.grade),
            allows: erase_names(&r.allows),
            requires_consent: r.requires_consent.map(|_| z),
            article: r.article.as_ref().map(erase_str),
        }),
        ItemKind::Classify(c) => ItemKind::Classify(Classify {
            title: c.title.as_ref().map(erase_str),
            article: c.article.as_ref().map(erase_str),
            arms: c
                .arms
                .iter()
                .map(|a| ClassifyArm {
                    doc: a.doc.clone(),
                    when: a.when.erase_spans(),
                    grade: erase_name(&a.grade),
                    span: z,
                })
                .collect(),
            otherwise: c.otherwise.as_ref().map(erase_name),
        }),
        ItemKind::Domain(d) => ItemKind::Domain(DomainDecl {
            name: erase_name(&d.name),
            title: d.title.as_ref().map(erase_str),
            priority: d.priority,
            article: d.article.as_ref().map(erase_str),
        }),
        ItemKind::Dataset(d) => ItemKind::Dataset(Dataset {
            name: erase_name(&d.name),
            title: d.title.as_ref().map(erase_str),
            source: d.source.as_ref().map(erase_str),
            domain: d.domain.as_ref().map(erase_name),
            tags: erase_strs(&d.tags),
            fields: d
                .fields
                .iter()
                .map(|f| FieldDecl {
                    doc: f.doc.clone(),
                    name: erase_name(&f.name),
                    title: f.title.as_ref().map(erase_str),
                    tags: erase_strs(&f.tags),
                    grade: f.grade.as_ref().map(erase_name),
                    span: z,
                })
                .collect(),
        }),
        ItemKind::Limits(ls) => ItemKind::Limits(
            ls.iter()
                .map(|l| LimitStmt {
                    key: erase_name(&l.key),
                    value: l.value,
                    span: z,
                })
                .collect(),
        ),
        ItemKind::Fixture(f) => ItemKind::Fixture(Fixture {
            id: erase_str(&f.id),
            title: f.title.as_ref().map(erase_str),
            facts: f
                .facts
                .iter()
                .map(|a| FactAssign {
                    name: erase_name(&a.name),
                    value: erase_value(&a.value),
                })
                .collect(),
        }),
        ItemKind::Action(a) => ItemKind::Action(SimpleDecl {
            name: erase_name(&a.name),
            title: a.title.as_ref().map(erase_str),
        }),
        ItemKind::Measure(a) => ItemKind::Measure(SimpleDecl {
            name: erase_name(&a.name),
            title: a.title.as_ref().map(erase_str),
        }),
        ItemKind::Fact(f) => ItemKind::Fact(FactDecl {
            name: erase_name(&f.name),
            ty: match &f.ty {
                TypeExpr::Named(n) => TypeExpr::Named(erase_name(n)),
                TypeExpr::Set(n) => TypeExpr::Set(erase_name(n)),
            },
            ty_span: z,
            title: f.title.as_ref().map(erase_str),
        }),
        ItemKind::Forbid(f) => ItemKind::Forbid(ForbidDecl {
            name: erase_name(&f.name),
            title: f.title.as_ref().map(erase_str),
            article: f.article.as_ref().map(erase_str),
            actions: erase_names(&f.actions),
            when: f.when.as_ref().map(Expr::erase_spans),
        }),
        ItemKind::Consent(c) => ItemKind::Consent(ConsentDecl {
            tags: erase_strs(&c.tags),
            article: c.article.as_ref().map(erase_str),
        }),
        other => other.clone(),
    }
}

/// A grade.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GradeInfo {
    /// Name.
    pub name: String,
    /// Title.
    pub title: Option<String>,
    /// Doc comment.
    pub doc: Option<String>,
    /// Where.
    pub loc: Loc,
}

/// What a grade allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GradeRuleInfo {
    /// Allowed actions.
    pub allows: Vec<String>,
    /// Whether those actions need consent.
    pub requires_consent: bool,
    /// Article.
    pub article: Option<String>,
    /// Doc comment.
    pub doc: Option<String>,
    /// Where.
    pub loc: Loc,
}

/// One arm of classification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArmInfo {
    /// Condition, without spans.
    pub when: Expr,
    /// Grade it assigns.
    pub grade: String,
    /// Where (`sub` is the arm's index).
    pub loc: Loc,
}

/// A named declaration with a title: actions, measures, domains, scenarios.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Named {
    /// Title.
    pub title: Option<String>,
    /// Doc comment.
    pub doc: Option<String>,
    /// Where.
    pub loc: Loc,
}

/// A domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainInfo {
    /// Title.
    pub title: Option<String>,
    /// Priority domain of Art. 12.
    pub priority: bool,
    /// Where.
    pub loc: Loc,
}

/// A scenario's signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioInfo {
    /// Title.
    pub title: Option<String>,
    /// Domain.
    pub domain: Option<String>,
    /// Article.
    pub article: Option<String>,
    /// Doc comment.
    pub doc: Option<String>,
    /// Where.
    pub loc: Loc,
}

/// A developer fact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FactInfo {
    /// Type.
    pub ty: Ty,
    /// Title.
    pub title: Option<String>,
    /// Doc comment.
    pub doc: Option<String>,
    /// Where.
    pub loc: Loc,
}

/// A field of a dataset, with its computed grade.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldInfo {
    /// Name.
    pub name: String,
    /// Title.
    pub title: Option<String>,
    /// Its tags and its dataset's.
    pub tags: BTreeSet<String>,
    /// Explicit `grade G`.
    pub explicit_grade: Option<String>,
    /// The grade classification gives (index into `Model::grades`).
    pub classified: Option<usize>,
    /// The arm that set `classified`; `None` for `otherwise` or no match.
    pub set_by: Option<usize>,
    /// The effective grade: the higher of explicit and classified.
    pub grade: Option<usize>,
    /// Doc comment.
    pub doc: Option<String>,
    /// Where (`sub` is 1 + the field's index).
    pub loc: Loc,
}

/// A dataset of the catalog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatasetInfo {
    /// Title.
    pub title: Option<String>,
    /// Source agency.
    pub source: Option<String>,
    /// Domain.
    pub domain: Option<String>,
    /// Dataset tags.
    pub tags: BTreeSet<String>,
    /// Fields, in order.
    pub fields: Vec<FieldInfo>,
    /// Doc comment.
    pub doc: Option<String>,
    /// Where.
    pub loc: Loc,
    /// Each field's index in `fields`, so that a scope of n fields resolves in O(n).
    by_name: HashMap<String, usize>,
}

impl DatasetInfo {
    /// A field by name.
    pub fn field(&self, name: &str) -> Option<&FieldInfo> {
        self.fields.get(*self.by_name.get(name)?)
    }
}

/// The kind of a named rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RuleKind {
    /// `exit`, `suspend`, `notice`
    Trigger(TriggerKind),
    /// `forbid`
    Forbid,
}

/// A named rule's signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleInfo {
    /// Kind.
    pub kind: RuleKind,
    /// Title.
    pub title: Option<String>,
    /// Article.
    pub article: Option<String>,
    /// Measures (triggers).
    pub measures: Vec<String>,
    /// Actions (forbids).
    pub actions: Vec<String>,
    /// Whether a forbid applies always (no `when`).
    pub unconditional: bool,
    /// Doc comment.
    pub doc: Option<String>,
    /// Where.
    pub loc: Loc,
}

/// `limits`, after the bundle's overrides of the prelude's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest term of a scenario.
    pub max_term: Duration,
    /// Where it was set.
    pub max_term_loc: Option<Loc>,
    /// How long before expiry to reapply.
    pub reapply_window: Duration,
}

/// A test fixture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FixtureInfo {
    /// Title.
    pub title: Option<String>,
    /// Facts.
    pub facts: Vec<FactAssign>,
    /// Where.
    pub loc: Loc,
}

/// The semantic model of a bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Model {
    /// The first declaration of every name.
    pub first: BTreeMap<(Ns, String), Loc>,
    /// Grades, lowest first.
    pub grades: Vec<GradeInfo>,
    /// Grade rules by grade name.
    pub grade_rules: BTreeMap<String, GradeRuleInfo>,
    /// Classification arms in order.
    pub arms: Vec<ArmInfo>,
    /// The `otherwise` grade.
    pub otherwise: Option<String>,
    /// Where the first `classify` block is, and its article.
    pub classify: Option<(Loc, Option<String>)>,
    /// Domains.
    pub domains: BTreeMap<String, DomainInfo>,
    /// Datasets.
    pub datasets: BTreeMap<String, DatasetInfo>,
    /// Scenarios.
    pub scenarios: BTreeMap<String, ScenarioInfo>,
    /// Actions.
    pub actions: BTreeMap<String, Named>,
    /// Measures.
    pub measures: BTreeMap<String, Named>,
    /// Developer facts.
    pub facts: BTreeMap<String, FactInfo>,
    /// Named rules.
    pub rules: BTreeMap<String, RuleInfo>,
    /// Tags whose fields need consent.
    pub consent_tags: BTreeSet<String>,
    /// The article behind consent, and where it is declared.
    pub consent: Option<(Loc, Option<String>)>,
    /// Limits.
    pub limits: Limits,
    /// Fixtures by developer id.
    pub fixtures: BTreeMap<String, FixtureInfo>,
    /// Names declared by declarations that failed to parse: their uses are not reported
    /// as unknown, since the syntax error is the one thing to fix.
    pub broken: BTreeSet<String>,
}

impl Model {
    /// Index of a grade by name.
    pub fn grade_index(&self, name: &str) -> Option<usize> {
        self.grades.iter().position(|g| g.name == name)
    }

    /// The unconditional `forbid` rules that name `action`, by name: an action they
    /// name can never be granted.
    pub fn forbidding_always<'m>(
        &'m self,
        action: &'m str,
    ) -> impl Iterator<Item = (&'m String, &'m RuleInfo)> + 'm {
        self.rules.iter().filter(move |(_, r)| {
            r.kind == RuleKind::Forbid && r.unconditional && r.actions.iter().any(|a| a == action)
        })
    }

    /// Whether an unconditional `forbid` rule names `action`.
    pub fn is_forbidden_always(&self, action: &str) -> bool {
        self.forbidding_always(action).next().is_some()
    }

    /// The actions a grade allows; empty when it has no rule.
    pub fn allowed_by_grade(&self, grade: usize) -> &[String] {
        self.grades
            .get(grade)
            .and_then(|g| self.grade_rules.get(&g.name))
            .map(|r| r.allows.as_slice())
            .unwrap_or(&[])
    }

    /// The value of `limits.*` in expressions, in days.
    pub fn limit_value(&self, path: &str) -> Option<Val> {
        match path {
            "limits.max_term" => Some(Val::Duration(crate::sema::expr::duration_days(
                self.limits.max_term,
            ))),
            "limits.reapply_window" => Some(Val::Duration(crate::sema::expr::duration_days(
                self.limits.reapply_window,
            ))),
            _ => None,
        }
    }

    /// Builds the model from the signatures of every file, in file order.
    pub fn build(files: &[(FileId, &FileDecls)]) -> Model {
        let mut m = Model {
            first: BTreeMap::new(),
            grades: Vec::new(),
            grade_rules: BTreeMap::new(),
            arms: Vec::new(),
            otherwise: None,
            classify: None,
            domains: BTreeMap::new(),
            datasets: BTreeMap::new(),
            scenarios: BTreeMap::new(),
            actions: BTreeMap::new(),
            measures: BTreeMap::new(),
            facts: BTreeMap::new(),
            rules: BTreeMap::new(),
            consent_tags: BTreeSet::new(),
            consent: None,
            limits: Limits {
                max_term: Duration {
                    amount: 3,
                    unit: DurationUnit::Years,
                },
                max_term_loc: None,
                reapply_window: Duration {
                    amount: 3,
                    unit: DurationUnit::Months,
                },
            },
            fixtures: BTreeMap::new(),
            broken: BTreeSet::new(),
        };
        for (file, decls) in files {
            m.broken.extend(decls.broken.iter().cloned());
            for (index, item) in &decls.items {
                let at = |sub: u32| Loc {
                    file: *file,
                    item: *index,
                    sub,
                };
                let mut fresh = BTreeMap::new();
                for (ns, key, _, sub) in declared_names(item) {
                    let is_new = !m.first.contains_key(&(ns, key.clone()));
                    if is_new {
                        m.first.insert((ns, key.clone()), at(sub));
                    }
                    fresh.insert((ns, key), is_new);
                }
                let new =
                    |ns: Ns, key: &str| fresh.get(&(ns, key.to_string())).copied().unwrap_or(false);
                let doc = item.doc.clone();
                match &item.kind {
                    ItemKind::Grades(entries) if new(Ns::GradesBlock, "grades") => {
                        for (i, e) in entries.iter().enumerate() {
                            if new(Ns::Grade, &e.name.text) {
                                m.grades.push(GradeInfo {
                                    name: e.name.text.clone(),
                                    title: e.title.as_ref().map(|t| t.value.clone()),
                                    doc: e.doc.clone(),
                                    loc: at(i as u32),
                                });
                            }
                        }
                    }
                    ItemKind::GradeRule(r) if new(Ns::GradeRule, &r.grade.text) => {
                        m.grade_rules.insert(
                            r.grade.text.clone(),
                            GradeRuleInfo {
                                allows: r.allows.iter().map(|a| a.text.clone()).collect(),
                                requires_consent: r.requires_consent.is_some(),
                                article: r.article.as_ref().map(|a| a.value.clone()),
                                doc,
                                loc: at(0),
                            },
                        );
                    }
                    ItemKind::Classify(c) => {
                        if m.classify.is_none() {
                            m.classify = Some((at(0), c.article.as_ref().map(|a| a.value.clone())));
                        }
                        for (i, a) in c.arms.iter().enumerate() {
                            m.arms.push(ArmInfo {
                                when: a.when.clone(),
                                grade: a.grade.text.clone(),
                                loc: at(i as u32),
                            });
                        }
                        if let Some(o) = &c.otherwise {
                            if m.otherwise.is_none() {
                                m.otherwise = Some(o.text.clone());
                            }
                        }
                    }
                    ItemKind::Domain(d) if new(Ns::Domain, &d.name.text) => {
                        m.domains.insert(
                            d.name.text.clone(),
                            DomainInfo {
                                title: d.title.as_ref().map(|t| t.value.clone()),
                                priority: d.priority,
                                loc: at(0),
                            },
                        );
                    }
                    ItemKind::Dataset(d) if new(Ns::Dataset, &d.name.text) => {
                        let dtags: BTreeSet<String> =
                            d.tags.iter().map(|t| t.value.clone()).collect();
                        let mut fields: Vec<FieldInfo> = Vec::new();
                        let mut by_name: HashMap<String, usize> = HashMap::new();
                        for (i, f) in d.fields.iter().enumerate() {
                            if by_name.contains_key(&f.name.text) {
                                continue;
                            }
                            by_name.insert(f.name.text.clone(), fields.len());
                            let mut tags = dtags.clone();
                            tags.extend(f.tags.iter().map(|t| t.value.clone()));
                            fields.push(FieldInfo {
                                name: f.name.text.clone(),
                                title: f.title.as_ref().map(|t| t.value.clone()),
                                tags,
                                explicit_grade: f.grade.as_ref().map(|g| g.text.clone()),
                                classified: None,
                                set_by: None,
                                grade: None,
                                doc: f.doc.clone(),
                                loc: at(i as u32 + 1),
                            });
                        }
                        m.datasets.insert(
                            d.name.text.clone(),
                            DatasetInfo {
                                title: d.title.as_ref().map(|t| t.value.clone()),
                                source: d.source.as_ref().map(|t| t.value.clone()),
                                domain: d.domain.as_ref().map(|t| t.text.clone()),
                                tags: dtags,
                                fields,
                                doc,
                                loc: at(0),
                                by_name,
                            },
                        );
                    }
                    ItemKind::Scenario(s) if new(Ns::Scenario, &s.name.text) => {
                        m.scenarios.insert(
                            s.name.text.clone(),
                            ScenarioInfo {
                                title: s.title.as_ref().map(|t| t.value.clone()),
                                domain: s.domain.as_ref().map(|t| t.text.clone()),
                                article: s.article.as_ref().map(|t| t.value.clone()),
                                doc,
                                loc: at(0),
                            },
                        );
                    }
                    ItemKind::Trigger(t) if new(Ns::Rule, &t.name.text) => {
                        m.rules.insert(
                            t.name.text.clone(),
                            RuleInfo {
                                kind: RuleKind::Trigger(t.kind),
                                title: t.title.as_ref().map(|x| x.value.clone()),
                                article: t.article.as_ref().map(|x| x.value.clone()),
                                measures: t.measures.iter().map(|x| x.text.clone()).collect(),
                                actions: Vec::new(),
                                unconditional: false,
                                doc,
                                loc: at(0),
                            },
                        );
                    }
                    ItemKind::Forbid(f) if new(Ns::Rule, &f.name.text) => {
                        m.rules.insert(
                            f.name.text.clone(),
                            RuleInfo {
                                kind: RuleKind::Forbid,
                                title: f.title.as_ref().map(|x| x.value.clone()),
                                article: f.article.as_ref().map(|x| x.value.clone()),
                                measures: Vec::new(),
                                actions: f.actions.iter().map(|x| x.text.clone()).collect(),
                                unconditional: f.when.is_none(),
                                doc,
                                loc: at(0),
                            },
                        );
                    }
                    ItemKind::Action(a) if new(Ns::Action, &a.name.text) => {
                        m.actions.insert(
                            a.name.text.clone(),
                            Named {
                                title: a.title.as_ref().map(|t| t.value.clone()),
                                doc,
                                loc: at(0),
                            },
                        );
                    }
                    ItemKind::Measure(a) if new(Ns::Measure, &a.name.text) => {
                        m.measures.insert(
                            a.name.text.clone(),
                            Named {
                                title: a.title.as_ref().map(|t| t.value.clone()),
                                doc,
                                loc: at(0),
                            },
                        );
                    }
                    ItemKind::Fact(f) if new(Ns::Fact, &f.name.text) => {
                        let ty = fact_type(&f.ty).unwrap_or(Ty::Unknown);
                        m.facts.insert(
                            f.name.text.clone(),
                            FactInfo {
                                ty,
                                title: f.title.as_ref().map(|t| t.value.clone()),
                                doc,
                                loc: at(0),
                            },
                        );
                    }
                    ItemKind::Consent(c) => {
                        m.consent_tags
                            .extend(c.tags.iter().map(|t| t.value.clone()));
                        if m.consent.is_none() {
                            m.consent = Some((at(0), c.article.as_ref().map(|a| a.value.clone())));
                        }
                    }
                    ItemKind::Limits(ls) => {
                        for l in ls {
                            match l.key.text.as_str() {
                                "max_term" => {
                                    m.limits.max_term = l.value;
                                    m.limits.max_term_loc = Some(at(0));
                                }
                                _ => m.limits.reapply_window = l.value,
                            }
                        }
                    }
                    ItemKind::Fixture(f) => {
                        m.fixtures.entry(f.id.value.clone()).or_insert(FixtureInfo {
                            title: f.title.as_ref().map(|t| t.value.clone()),
                            facts: f.facts.clone(),
                            loc: at(0),
                        });
                    }
                    _ => {}
                }
            }
        }
        m.classify_fields();
        m
    }

    /// Computes every field's grade: the highest grade among the arms that match,
    /// `otherwise` when none does, raised to an explicit grade if that is higher.
    fn classify_fields(&mut self) {
        let grades: Vec<String> = self.grades.iter().map(|g| g.name.clone()).collect();
        let idx = |name: &str| grades.iter().position(|g| g == name);
        let otherwise = self.otherwise.as_deref().and_then(idx);
        let arms: Vec<(Expr, Option<usize>)> = self
            .arms
            .iter()
            .map(|a| (a.when.clone(), idx(&a.grade)))
            .collect();
        for (dname, d) in self.datasets.iter_mut() {
            let source = d.source.clone().unwrap_or_default();
            let domain = d.domain.clone().unwrap_or_default();
            let dtags: Vec<Val> = d.tags.iter().cloned().map(Val::Str).collect();
            for f in d.fields.iter_mut() {
                let tags: Vec<Val> = f.tags.iter().cloned().map(Val::Str).collect();
                let lookup = |p: &str| -> Option<Val> {
                    Some(match p {
                        "tags" => Val::Set(tags.clone()),
                        "name" => Val::Str(f.name.clone()),
                        "dataset.name" => Val::Str(dname.clone()),
                        "dataset.source" => Val::Str(source.clone()),
                        "dataset.domain" => Val::Str(domain.clone()),
                        "dataset.tags" => Val::Set(dtags.clone()),
                        _ => return None,
                    })
                };
                let mut best: Option<(usize, usize)> = None;
                for (i, (when, g)) in arms.iter().enumerate() {
                    let Some(g) = g else { continue };
                    if eval(when, &lookup) == Some(Val::Bool(true))
                        && best.is_none_or(|(bg, _)| *g > bg)
                    {
                        best = Some((*g, i));
                    }
                }
                f.classified = best.map(|(g, _)| g).or(otherwise);
                f.set_by = best.map(|(_, i)| i);
                let explicit = f.explicit_grade.as_deref().and_then(idx);
                f.grade = match (f.classified, explicit) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
            }
        }
    }
}

/// The type of a `fact` declaration.
pub fn fact_type(t: &TypeExpr) -> Option<Ty> {
    match t {
        TypeExpr::Named(n) => Ty::from_name(&n.text),
        TypeExpr::Set(n) => Ty::from_name(&n.text).map(|t| Ty::Set(Box::new(t))),
    }
}
