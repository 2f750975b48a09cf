//! The checks of one file against the bundle's model: names, types, and the
//! regulation's own rules, each a diagnostic with a code and its article.

use std::collections::{BTreeMap, BTreeSet};

use crate::diagnostics::{Code, Diagnostic, FileId};
use crate::sema::expr::{Ty, Val};
use crate::sema::model::{
    declared_names, fact_type, DatasetInfo, FieldInfo, Loc, Model, Ns, RuleKind,
};
use crate::syntax::ast::*;

/// Where expressions are evaluated: what names they may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Rules over a developer: `developer.*`, `now`, `limits.*`, scenario names.
    Developer,
    /// Classification of a field: `tags`, `name`, `dataset.*`.
    Classify,
}

/// Checks the items of one file.
///
/// `span_of` finds the span of a declaration elsewhere in the bundle, for labels
/// that point at a first declaration.
pub fn check_file(
    file: FileId,
    items: &[Item],
    model: &Model,
    span_of: &dyn Fn(Loc) -> Option<Span>,
) -> Vec<Diagnostic> {
    let mut cx = Checker {
        file,
        model,
        span_of,
        diags: Vec::new(),
    };
    for (index, item) in items.iter().enumerate() {
        cx.duplicates(index as u32, item, span_of);
        cx.item(item);
    }
    cx.diags
}

struct Checker<'a> {
    file: FileId,
    model: &'a Model,
    /// The span of a declaration elsewhere in the bundle ([`check_file`]).
    span_of: &'a dyn Fn(Loc) -> Option<Span>,
    diags: Vec<Diagnostic>,
}

/// The closest candidate to `name`, if one is close enough to be a likely typo: the
/// workspace's one did-you-mean, `charter-bundle`'s.
pub use charter_bundle::suggest;

impl Checker<'_> {
    fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn duplicates(&mut self, index: u32, item: &Item, span_of: &dyn Fn(Loc) -> Option<Span>) {
        for (ns, key, span, sub) in declared_names(item) {
            let here = Loc {
                file: self.file,
                item: index,
                sub,
            };
            let Some(first) = self.model.first.get(&(ns, key.clone())) else {
                continue;
            };
            if *first == here {
                continue;
            }
            let shown = key.rsplit('/').next().unwrap_or(&key);
            let what = match ns {
                Ns::Otherwise => "classification has a second `otherwise` arm".to_string(),
                Ns::GradesBlock => "a bundle has one `grades` block".to_string(),
                Ns::GradeRule => format!("grade `{key}` already has a `grade … allows` rule"),
                _ => format!("{} `{shown}` is declared twice", ns.noun()),
            };
            let help = if ns == Ns::GradesBlock {
                "merge the grades into the first `grades` block, lowest first"
            } else {
                "rename one of them or remove the second"
            };
            let mut d = Diagnostic::new(Code::Duplicate, self.file, span, what)
                .with_label("declared again here")
                .with_help(help);
            if let Some(span) = span_of(*first) {
                d = d.with_related(first.file, span, "first declared here");
            }
            self.push(d);
        }
    }

    fn unknown(&mut self, ns: Ns, name: &Name, candidates: Vec<&str>) {
        if self.model.broken.contains(&name.text) {
            // Its declaration has a syntax error, reported where it is.
            return;
        }
        let mut d = Diagnostic::new(
            Code::UnknownName,
            self.file,
            name.span,
            format!("unknown {} `{}`", ns.noun(), name.text),
        )
        .with_label(format!("no {} has this name", ns.noun()));
        if ns == Ns::Grade {
            // Grade names differ by a character (`L1` … `L4`), so the nearest one says
            // nothing about what was meant: name them all, lowest first.
            let listed: Vec<String> = candidates.iter().map(|c| format!("`{c}`")).collect();
            d = d.with_help(if listed.is_empty() {
                "the bundle declares no grade: declare them with `grades { … }`".to_string()
            } else {
                format!(
                    "the bundle's grades are {}, lowest first",
                    listed.join(", ")
                )
            });
        } else if let Some(s) = suggest(&name.text, candidates.iter().copied()) {
            d = d.with_help(format!("did you mean `{s}`?")).with_fix(
                format!("replace with `{s}`"),
                name.span,
                s,
            );
        } else {
            d = d.with_help(format!(
                "declare it with `{}` or check the spelling",
                declare_hint(ns)
            ));
        }
        self.push(d);
    }

    /// Reports `because consent` and the like: the start of a policy id written as a name.
    /// Ids of rules that have no name (`consent`, `admission/2`, `grade/L4`) are quoted.
    fn unquoted_policy_id(&mut self, name: &Name) -> bool {
        let example = match name.text.as_str() {
            "consent" => "consent",
            "admission" => "admission/1",
            "grade" => "grade/L4",
            _ => return false,
        };
        let mut d = Diagnostic::new(
            Code::UnknownName,
            self.file,
            name.span,
            format!("`{}` is not a rule name", name.text),
        )
        .with_label("a policy id, unquoted");
        if name.text == "consent" {
            d = d
                .with_help(
                    "the consent rule has no name: quote its policy id, `because \"consent\"`",
                )
                .with_fix("quote the policy id", name.span, "\"consent\"");
        } else {
            d = d.with_help(format!(
                "quote the policy id, such as `because \"{example}\"`; `charter build` writes every id in policies.cedar"
            ));
        }
        self.push(d);
        true
    }

    /// Resolves a name in a namespace, reporting it when unknown. Returns whether it resolved.
    fn resolve(&mut self, ns: Ns, name: &Name) -> bool {
        let m = self.model;
        let found = match ns {
            Ns::Grade => m.grade_index(&name.text).is_some(),
            Ns::Action => m.actions.contains_key(&name.text),
            Ns::Measure => m.measures.contains_key(&name.text),
            Ns::Fact => m.facts.contains_key(&name.text),
            Ns::Domain => m.domains.contains_key(&name.text),
            Ns::Dataset => m.datasets.contains_key(&name.text),
            Ns::Scenario => m.scenarios.contains_key(&name.text),
            Ns::Rule => m.rules.contains_key(&name.text),
            _ => true,
        };
        if !found {
            let candidates: Vec<&str> = match ns {
                Ns::Grade => m.grades.iter().map(|g| g.name.as_str()).collect(),
                Ns::Action => m.actions.keys().map(String::as_str).collect(),
                Ns::Measure => m.measures.keys().map(String::as_str).collect(),
                Ns::Fact => m.facts.keys().map(String::as_str).collect(),
                Ns::Domain => m.domains.keys().map(String::as_str).collect(),
                Ns::Dataset => m.datasets.keys().map(String::as_str).collect(),
                Ns::Scenario => m.scenarios.keys().map(String::as_str).collect(),
                Ns::Rule => m.rules.keys().map(String::as_str).collect(),
                _ => Vec::new(),
            };
            self.unknown(ns, name, candidates);
        }
        found
    }

    fn item(&mut self, item: &Item) {
        match &item.kind {
            ItemKind::Grades(entries) => {
                if entries.is_empty() {
                    self.push(
                        Diagnostic::new(Code::Incomplete, self.file, item.span, "`grades` declares no grade")
                            .with_label("empty")
                            .with_help("list the grades from the least to the most sensitive, e.g. `L1 \"公开\"`"),
                    );
                }
                // Grades of a second `grades` block are reported as a duplicate, not here.
                let first_block = entries
                    .first()
                    .and_then(|e| self.model.first.get(&(Ns::Grade, e.name.text.clone())))
                    .is_some_and(|loc| {
                        loc.file == self.file && self.model.grades.iter().any(|g| g.loc == *loc)
                    });
                if first_block {
                    let view = crate::lints::GradesView {
                        file: self.file,
                        model: self.model,
                        entries,
                    };
                    crate::lints::run(|r| r.check_grades(&view, &mut self.diags));
                }
            }
            ItemKind::GradeRule(r) => {
                self.resolve(Ns::Grade, &r.grade);
                for a in &r.allows {
                    self.resolve(Ns::Action, a);
                }
            }
            ItemKind::Classify(c) => {
                for arm in &c.arms {
                    self.condition(&arm.when, Scope::Classify);
                    self.resolve(Ns::Grade, &arm.grade);
                }
                if let Some(o) = &c.otherwise {
                    self.resolve(Ns::Grade, o);
                }
            }
            ItemKind::Domain(_) | ItemKind::Action(_) | ItemKind::Measure(_) => {}
            ItemKind::Dataset(d) => self.dataset(d),
            ItemKind::Scenario(s) => self.scenario(s),
            ItemKind::Admission(a) => {
                if a.requires.is_empty() {
                    self.push(
                        Diagnostic::new(
                            Code::Incomplete,
                            self.file,
                            a.keyword,
                            "admission has no requirement",
                        )
                        .with_label("empty admission")
                        .with_help("add `require <condition> \"title\"` lines"),
                    );
                }
                for r in &a.requires {
                    self.condition(&r.cond, Scope::Developer);
                }
            }
            ItemKind::Trigger(t) => self.trigger(t),
            ItemKind::Limits(ls) => self.limits(ls),
            ItemKind::Fact(f) => {
                if fact_type(&f.ty).is_none() {
                    let shown = match &f.ty {
                        TypeExpr::Named(n) | TypeExpr::Set(n) => n.text.clone(),
                    };
                    self.push(
                        Diagnostic::new(
                            Code::UnknownName,
                            self.file,
                            f.ty_span,
                            format!("unknown type `{shown}`"),
                        )
                        .with_label("not a type")
                        .with_help(
                            "types are bool, int, nat, string, date, duration, scenario and set<T>",
                        ),
                    );
                }
            }
            ItemKind::Forbid(f) => {
                for a in &f.actions {
                    self.resolve(Ns::Action, a);
                }
                if let Some(w) = &f.when {
                    self.condition(w, Scope::Developer);
                }
            }
            ItemKind::Consent(_) => {}
            ItemKind::Fixture(f) => self.facts(&f.facts),
            ItemKind::Test(t) => self.test(t),
        }
    }

    fn dataset(&mut self, d: &Dataset) {
        if let Some(dom) = &d.domain {
            self.resolve(Ns::Domain, dom);
        }
        let Some(info) = self.model.datasets.get(&d.name.text) else {
            return;
        };
        for f in &d.fields {
            let Some(fi) = info.field(&f.name.text) else {
                continue;
            };
            if let Some(g) = &f.grade {
                if !self.resolve(Ns::Grade, g) {
                    continue;
                }
            }
            let explicit = f
                .grade
                .as_ref()
                .and_then(|g| self.model.grade_index(&g.text));
            let view = crate::lints::FieldView {
                file: self.file,
                model: self.model,
                field: f,
                info: fi,
                explicit,
            };
            crate::lints::run(|r| r.check_field(&view, &mut self.diags));
            if fi.classified.is_none() && explicit.is_none() {
                self.push(
                    Diagnostic::new(
                        Code::Incomplete,
                        self.file,
                        f.name.span,
                        format!("field `{}` has no grade", f.name.text),
                    )
                    .with_label("no classification rule matches it")
                    .with_help("add `otherwise <grade>` to `classify field` or `grade <grade>` to the field"),
                );
            }
        }
    }

    fn scenario(&mut self, s: &Scenario) {
        let m = self.model;
        match &s.domain {
            None => self.push(
                Diagnostic::new(
                    Code::Incomplete,
                    self.file,
                    s.name.span,
                    format!("scenario `{}` has no domain", s.name.text),
                )
                .with_label("no `domain` statement")
                .with_help("add `domain <name>`, e.g. `domain 金融` (第十二条)"),
            ),
            Some(d) => {
                self.resolve(Ns::Domain, d);
            }
        }
        if s.purpose.is_none() {
            self.push(
                Diagnostic::new(
                    Code::Incomplete,
                    self.file,
                    s.name.span,
                    format!("scenario `{}` has no purpose", s.name.text),
                )
                .with_label("no `purpose` statement")
                .with_help(
                    "data is used by scenario for a stated purpose (第十五条); add `purpose \"…\"`",
                ),
            );
        }
        if s.term.is_none() {
            self.push(
                Diagnostic::new(
                    Code::Incomplete,
                    self.file,
                    s.name.span,
                    format!("scenario `{}` has no term", s.name.text),
                )
                .with_label("no `term` statement")
                .with_help(
                    "add `term <first day> .. <last day>`, at most `limits.max_term` long (第八条)",
                ),
            );
        }
        let view = crate::lints::ScenarioView {
            file: self.file,
            model: m,
            scenario: s,
            domain: s
                .domain
                .as_ref()
                .and_then(|d| Some((d, m.domains.get(&d.text)?))),
        };
        crate::lints::run(|r| r.check_scenario(&view, &mut self.diags));
        for r in &s.requires {
            self.condition(&r.cond, Scope::Developer);
        }
        if s.uses.is_empty() {
            self.push(
                Diagnostic::new(
                    Code::Incomplete,
                    self.file,
                    s.name.span,
                    format!("scenario `{}` uses no data", s.name.text),
                )
                .with_label("no `use` statement")
                .with_help("add `use <dataset> { <fields> } via <actions>`"),
            );
        }
        for u in &s.uses {
            self.scope(u);
        }
    }

    /// Resolves a `use` line's names, then runs the regulation's lints over
    /// what resolved.
    fn scope(&mut self, u: &Use) {
        let m = self.model;
        let mut actions: Vec<&Name> = Vec::new();
        for a in &u.actions {
            if self.resolve(Ns::Action, a) {
                actions.push(a);
            }
        }
        let dataset = if self.resolve(Ns::Dataset, &u.dataset) {
            m.datasets.get(&u.dataset.text)
        } else {
            None
        };
        let fields = match dataset {
            Some(ds) => self.scope_fields(u, ds),
            None => Vec::new(),
        };
        let view = crate::lints::UseView {
            file: self.file,
            model: m,
            span_of: self.span_of,
            line: u,
            actions,
            dataset,
            fields,
        };
        crate::lints::run(|r| r.check_use(&view, &mut self.diags));
    }

    /// The fields a `use` line names, each once with the span that names it;
    /// an unknown field is reported.
    fn scope_fields<'m>(&mut self, u: &Use, ds: &'m DatasetInfo) -> Vec<(&'m FieldInfo, Span)> {
        let names = match &u.fields {
            FieldSet::All(span) => return ds.fields.iter().map(|f| (f, *span)).collect(),
            FieldSet::Some(names) => names,
        };
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        for n in names {
            if let Some(f) = ds.field(&n.text) {
                if seen.insert(n.text.as_str()) {
                    out.push((f, n.span));
                }
                continue;
            }
            let mut d = Diagnostic::new(
                Code::UnknownName,
                self.file,
                n.span,
                format!("dataset `{}` has no field `{}`", u.dataset.text, n.text),
            )
            .with_label("no such field");
            let cands = ds.fields.iter().map(|f| f.name.as_str());
            if let Some(s) = suggest(&n.text, cands) {
                d = d.with_help(format!("did you mean `{s}`?")).with_fix(
                    format!("replace with `{s}`"),
                    n.span,
                    s,
                );
            } else {
                let all: Vec<&str> = ds.fields.iter().map(|f| f.name.as_str()).collect();
                d = d.with_help(format!("its fields are: {}", all.join(", ")));
            }
            self.push(d);
        }
        out
    }

    fn trigger(&mut self, t: &Trigger) {
        self.condition(&t.when, Scope::Developer);
        for mname in &t.measures {
            self.resolve(Ns::Measure, mname);
        }
        let view = crate::lints::TriggerView {
            file: self.file,
            model: self.model,
            trigger: t,
        };
        crate::lints::run(|r| r.check_trigger(&view, &mut self.diags));
    }

    fn limits(&mut self, ls: &[LimitStmt]) {
        let mut seen: BTreeMap<&str, Span> = BTreeMap::new();
        for l in ls {
            if let Some(first) = seen.get(l.key.text.as_str()) {
                self.push(
                    Diagnostic::new(
                        Code::Duplicate,
                        self.file,
                        l.key.span,
                        format!("`{}` is set twice", l.key.text),
                    )
                    .with_label("set again here")
                    .with_related(self.file, *first, "first set here")
                    .with_help("keep one"),
                );
                continue;
            }
            seen.insert(l.key.text.as_str(), l.key.span);
            let view = crate::lints::LimitView {
                file: self.file,
                model: self.model,
                stmt: l,
            };
            crate::lints::run(|r| r.check_limit(&view, &mut self.diags));
            if l.value.amount <= 0 {
                self.push(
                    Diagnostic::new(
                        Code::InvalidLiteral,
                        self.file,
                        l.span,
                        format!("`{}` must be positive", l.key.text),
                    )
                    .with_label("zero or negative")
                    .with_help("write a positive duration such as `3 months`"),
                );
            }
        }
    }

    fn facts(&mut self, facts: &[FactAssign]) {
        let mut seen: BTreeMap<&str, Span> = BTreeMap::new();
        for a in facts {
            if let Some(first) = seen.insert(a.name.text.as_str(), a.name.span) {
                self.push(
                    Diagnostic::new(
                        Code::Duplicate,
                        self.file,
                        a.name.span,
                        format!("fact `{}` is set twice", a.name.text),
                    )
                    .with_label("set again here")
                    .with_related(self.file, first, "first set here")
                    .with_help("keep one"),
                );
            }
            if !self.resolve(Ns::Fact, &a.name) {
                continue;
            }
            let Some(expected) = self.model.facts.get(&a.name.text).map(|f| f.ty.clone()) else {
                continue;
            };
            let got = self.value_type(&a.value, &expected);
            if !expected.accepts(&got) {
                self.push(
                    Diagnostic::new(
                        Code::TypeMismatch,
                        self.file,
                        a.value.span(),
                        format!(
                            "fact `{}` has type {}, not {}",
                            a.name.text,
                            expected.display(),
                            got.display()
                        ),
                    )
                    .with_label(format!("expected {}", expected.display()))
                    .with_help(
                        if expected.is_nat() && got.widen() == expected.clone().widen() {
                            "a `nat` fact is a count: write 0 or more".to_string()
                        } else {
                            format!("write a value of type {}", expected.display())
                        },
                    ),
                );
            }
        }
    }

    fn value_type(&mut self, v: &Value, expected: &Ty) -> Ty {
        match v {
            Value::Bool(..) => Ty::Bool,
            // A number that is not negative fits a `nat` fact as well as an `int` one.
            Value::Int(v, _) if *v >= 0 && expected.is_nat() => Ty::Nat,
            Value::Int(..) => Ty::Int,
            Value::Str(_) => Ty::Str,
            Value::Date(..) => Ty::Date,
            Value::Duration(..) => Ty::Duration,
            Value::Name(n) => {
                if self.resolve(Ns::Scenario, n) {
                    Ty::Scenario
                } else {
                    Ty::Unknown
                }
            }
            Value::List(items, _) => {
                let el = match expected {
                    Ty::Set(t) => (**t).clone(),
                    _ => Ty::Unknown,
                };
                let mut ty = None;
                for i in items {
                    let t = self.value_type(i, &el);
                    if !el.accepts(&t) {
                        self.push(
                            Diagnostic::new(
                                Code::TypeMismatch,
                                self.file,
                                i.span(),
                                format!("expected a {}, found a {}", el.display(), t.display()),
                            )
                            .with_label(format!("expected {}", el.display()))
                            .with_help("all elements of a list have one type"),
                        );
                    }
                    ty.get_or_insert(t);
                }
                Ty::Set(Box::new(ty.unwrap_or(el)))
            }
        }
    }

    fn test(&mut self, t: &TestDecl) {
        let mut developers: BTreeSet<&str> = BTreeSet::new();
        for g in &t.givens {
            self.facts(&g.facts);
            developers.insert(g.id.value.as_str());
        }
        if t.at.is_none() {
            self.push(
                Diagnostic::new(Code::Incomplete, self.file, t.name.span, format!("test `{}` has no `at`", t.name.value))
                    .with_label("no `at` statement")
                    .with_help("tests run at a fixed day so that they give the same answer every day: add `at 2026-06-01`"),
            );
        }
        if t.expects.is_empty() {
            self.push(
                Diagnostic::new(
                    Code::Incomplete,
                    self.file,
                    t.name.span,
                    format!("test `{}` expects nothing", t.name.value),
                )
                .with_label("no `expect` statement")
                .with_help(
                    "add `expect allow …`, `expect deny …`, `expect exit …` or `expect notice …`",
                ),
            );
        }
        for e in &t.expects {
            let dev = match e {
                Expect::Decision(d) => d.developer.as_ref(),
                Expect::Trigger(tr) => tr.developer.as_ref(),
            };
            match dev {
                Some(id)
                    if !developers.contains(id.value.as_str())
                        && !self.model.fixtures.contains_key(&id.value) =>
                {
                    self.push(
                        Diagnostic::new(
                            Code::UnknownName,
                            self.file,
                            id.span,
                            format!("unknown developer `{}`", id.value),
                        )
                        .with_label("no `given` or `fixture` for this developer")
                        .with_help(format!(
                            "add `given developer \"{}\" {{ … }}` to the test",
                            id.value
                        )),
                    );
                }
                Some(_) => {}
                None if developers.len() != 1 => {
                    let span = match e {
                        Expect::Decision(d) => d.span,
                        Expect::Trigger(tr) => tr.span,
                    };
                    self.push(
                        Diagnostic::new(Code::Incomplete, self.file, span, "expectation does not say which developer")
                            .with_label("no `by` or `for`")
                            .with_help("name the developer with `by \"id\"` (decisions) or `for \"id\"` (triggers)"),
                    );
                }
                None => {}
            }
            match e {
                Expect::Decision(d) => {
                    self.resolve(Ns::Action, &d.action);
                    self.resolve(Ns::Scenario, &d.scenario);
                    if self.resolve(Ns::Dataset, &d.dataset) {
                        if let (Some(FieldSet::Some(names)), Some(ds)) =
                            (&d.fields, self.model.datasets.get(&d.dataset.text))
                        {
                            for n in names {
                                if ds.field(&n.text).is_none() {
                                    let cands: Vec<&str> =
                                        ds.fields.iter().map(|f| f.name.as_str()).collect();
                                    let mut diag = Diagnostic::new(
                                        Code::UnknownName,
                                        self.file,
                                        n.span,
                                        format!(
                                            "dataset `{}` has no field `{}`",
                                            d.dataset.text, n.text
                                        ),
                                    )
                                    .with_label("no such field");
                                    if let Some(s) = suggest(&n.text, cands) {
                                        diag = diag
                                            .with_help(format!("did you mean `{s}`?"))
                                            .with_fix(format!("replace with `{s}`"), n.span, s);
                                    }
                                    self.push(diag);
                                }
                            }
                        }
                    }
                    if let Some(RuleRef::Name(n)) = &d.because {
                        if !self.model.rules.contains_key(&n.text)
                            && !self.model.scenarios.contains_key(&n.text)
                            && !self.unquoted_policy_id(n)
                        {
                            let cands: Vec<&str> = self
                                .model
                                .rules
                                .keys()
                                .chain(self.model.scenarios.keys())
                                .map(String::as_str)
                                .collect();
                            self.unknown(Ns::Rule, n, cands);
                        }
                    }
                }
                Expect::Trigger(tr) => {
                    if self.resolve(Ns::Rule, &tr.name) {
                        if let Some(r) = self.model.rules.get(&tr.name.text) {
                            if r.kind != RuleKind::Trigger(tr.kind) {
                                self.push(
                                    Diagnostic::new(
                                        Code::TypeMismatch,
                                        self.file,
                                        tr.name.span,
                                        format!("`{}` is not {} rule", tr.name.text, match tr.kind {
                                        TriggerKind::Exit => "an exit",
                                        TriggerKind::Suspend => "a suspend",
                                        TriggerKind::Notice => "a notice",
                                    }),
                                    )
                                    .with_label("a different kind of rule")
                                    .with_help("write `expect exit`, `expect suspend` or `expect notice` to match the rule"),
                                );
                            }
                        }
                    }
                    for mname in &tr.measures {
                        self.resolve(Ns::Measure, mname);
                    }
                }
            }
        }
    }

    /// Checks a condition: names, types (it must be a bool), and whether it can hold.
    fn condition(&mut self, e: &Expr, scope: Scope) {
        let ty = self.type_of(e, scope);
        if !Ty::Bool.accepts(&ty) {
            self.push(
                Diagnostic::new(
                    Code::TypeMismatch,
                    self.file,
                    e.span,
                    format!("condition has type {}, not bool", ty.display()),
                )
                .with_label("expected a bool")
                .with_help("write a comparison such as `developer.incidents_3y == 0`"),
            );
            return;
        }
        if ty == Ty::Bool {
            let view = crate::lints::ConditionView {
                file: self.file,
                model: self.model,
                expr: e,
            };
            crate::lints::run(|r| r.check_condition(&view, &mut self.diags));
        }
    }

    fn mismatch(&mut self, span: Span, message: String, label: String, help: &str) -> Ty {
        self.push(
            Diagnostic::new(Code::TypeMismatch, self.file, span, message)
                .with_label(label)
                .with_help(help),
        );
        Ty::Unknown
    }

    /// The type of an expression, reporting unknown names and type errors.
    pub(crate) fn type_of(&mut self, e: &Expr, scope: Scope) -> Ty {
        match &e.kind {
            ExprKind::Bool(_) => Ty::Bool,
            ExprKind::Int(_) => Ty::Int,
            ExprKind::Str(_) => Ty::Str,
            ExprKind::Date(_) => Ty::Date,
            ExprKind::Duration(_) => Ty::Duration,
            ExprKind::Paren(inner) => self.type_of(inner, scope),
            ExprKind::Path(n) => self.path_type(n, scope),
            ExprKind::List(items) => {
                let mut el: Option<Ty> = None;
                for i in items {
                    let t = self.type_of(i, scope);
                    match &el {
                        None => el = Some(t),
                        Some(prev) if !prev.accepts(&t) => {
                            self.mismatch(
                                i.span,
                                format!("list mixes {} and {}", prev.display(), t.display()),
                                format!("expected {}", prev.display()),
                                "all elements of a list have one type",
                            );
                        }
                        _ => {}
                    }
                }
                Ty::Set(Box::new(el.unwrap_or(Ty::Unknown)))
            }
            ExprKind::Not(inner) => {
                let t = self.type_of(inner, scope);
                if !Ty::Bool.accepts(&t) {
                    return self.mismatch(
                        inner.span,
                        format!("`not` needs a bool, found {}", t.display()),
                        "not a bool".into(),
                        "`not` negates a condition",
                    );
                }
                Ty::Bool
            }
            ExprKind::And(items) | ExprKind::Or(items) => {
                let opname = if matches!(e.kind, ExprKind::And(_)) {
                    "and"
                } else {
                    "or"
                };
                for x in items {
                    let t = self.type_of(x, scope);
                    if !Ty::Bool.accepts(&t) {
                        self.mismatch(
                            x.span,
                            format!("`{opname}` needs bools, found {}", t.display()),
                            "not a bool".into(),
                            "combine conditions with `and` and `or`",
                        );
                    }
                }
                Ty::Bool
            }
            ExprKind::Binary(op, a, b) => {
                let ta = self.type_of(a, scope);
                let tb = self.type_of(b, scope);
                if ta == Ty::Unknown || tb == Ty::Unknown {
                    return match op {
                        BinOp::Add | BinOp::Sub => Ty::Unknown,
                        _ => Ty::Bool,
                    };
                }
                let opname = op.as_str();
                match op {
                    BinOp::Eq | BinOp::Ne => {
                        if !ta.accepts(&tb) {
                            self.mismatch(
                                e.span,
                                format!("cannot compare {} with {}", ta.display(), tb.display()),
                                format!("{} `{opname}` {}", ta.display(), tb.display()),
                                "both sides of a comparison have one type",
                            );
                        }
                        Ty::Bool
                    }
                    BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                        let ordered = matches!(ta, Ty::Int | Ty::Date | Ty::Duration);
                        if !ordered || ta != tb {
                            self.mismatch(
                                e.span,
                                format!("cannot order {} and {} with `{opname}`", ta.display(), tb.display()),
                                "not comparable".into(),
                                "`<`, `<=`, `>` and `>=` compare two ints, two dates or two durations",
                            );
                        }
                        Ty::Bool
                    }
                    BinOp::Contains | BinOp::In => {
                        let (set, el, set_expr) = if *op == BinOp::Contains { (&ta, &tb, a) } else { (&tb, &ta, b) };
                        match set {
                            Ty::Set(inner) if inner.accepts(el) => {}
                            Ty::Set(inner) => {
                                self.mismatch(
                                    e.span,
                                    format!("a set of {} cannot contain a {}", inner.display(), el.display()),
                                    "element type differs".into(),
                                    "the element must have the set's element type",
                                );
                            }
                            other => {
                                self.mismatch(
                                    set_expr.span,
                                    format!("`{opname}` needs a set, found {}", other.display()),
                                    "not a set".into(),
                                    "use a list like `[\"a\", \"b\"]` or a set-valued fact",
                                );
                            }
                        }
                        Ty::Bool
                    }
                    BinOp::Add | BinOp::Sub => match (op, &ta, &tb) {
                        (_, Ty::Int, Ty::Int) => Ty::Int,
                        (_, Ty::Date, Ty::Duration) => Ty::Date,
                        (BinOp::Add, Ty::Duration, Ty::Date) => Ty::Date,
                        (_, Ty::Duration, Ty::Duration) => Ty::Duration,
                        (BinOp::Sub, Ty::Date, Ty::Date) => Ty::Duration,
                        _ => self.mismatch(
                            e.span,
                            format!("cannot apply `{opname}` to {} and {}", ta.display(), tb.display()),
                            "unsupported arithmetic".into(),
                            "arithmetic works on int ± int, date ± duration, date − date and duration ± duration",
                        ),
                    },
                }
            }
        }
    }

    fn path_type(&mut self, n: &Name, scope: Scope) -> Ty {
        let text = n.text.as_str();
        match scope {
            Scope::Classify => match text {
                "tags" | "dataset.tags" => Ty::Set(Box::new(Ty::Str)),
                "name" | "dataset.name" | "dataset.source" | "dataset.domain" => Ty::Str,
                _ => {
                    let cands = [
                        "tags",
                        "name",
                        "dataset.name",
                        "dataset.source",
                        "dataset.domain",
                        "dataset.tags",
                    ];
                    let mut d = Diagnostic::new(
                        Code::UnknownName,
                        self.file,
                        n.span,
                        format!("unknown name `{text}` in a classification rule"),
                    )
                    .with_label("not known here");
                    d = match suggest(text, cands) {
                        Some(s) => d.with_help(format!("did you mean `{s}`?")).with_fix(format!("replace with `{s}`"), n.span, s),
                        None => d.with_help("classification sees `tags`, `name`, `dataset.name`, `dataset.source`, `dataset.domain` and `dataset.tags`"),
                    };
                    self.push(d);
                    Ty::Unknown
                }
            },
            Scope::Developer => {
                if text == "now" {
                    return Ty::Date;
                }
                if text == "limits.max_term" || text == "limits.reapply_window" {
                    return Ty::Duration;
                }
                if let Some(fact) = text.strip_prefix("developer.") {
                    if let Some(f) = self.model.facts.get(fact) {
                        return f.ty.clone().widen();
                    }
                    let fspan = Span::new(
                        n.span.start as usize + "developer.".len(),
                        n.span.end as usize,
                    );
                    let fname = Name {
                        text: fact.to_string(),
                        span: fspan,
                    };
                    let cands: Vec<&str> = self.model.facts.keys().map(String::as_str).collect();
                    self.unknown(Ns::Fact, &fname, cands);
                    return Ty::Unknown;
                }
                if self.model.scenarios.contains_key(text) {
                    return Ty::Scenario;
                }
                let mut d = Diagnostic::new(
                    Code::UnknownName,
                    self.file,
                    n.span,
                    format!("unknown name `{text}`"),
                )
                .with_label("not a fact, scenario or built-in name");
                let facts: Vec<String> = self
                    .model
                    .facts
                    .keys()
                    .map(|f| format!("developer.{f}"))
                    .collect();
                let mut cands: Vec<&str> = facts.iter().map(String::as_str).collect();
                cands.extend(["now", "limits.max_term", "limits.reapply_window"]);
                cands.extend(self.model.scenarios.keys().map(String::as_str));
                d = match suggest(text, cands).map(str::to_string).or_else(|| {
                    self.model.facts.contains_key(text).then(|| format!("developer.{text}"))
                }) {
                    Some(s) => d.with_help(format!("did you mean `{s}`?")).with_fix(format!("replace with `{s}`"), n.span, s),
                    None => d.with_help("conditions use `developer.<fact>`, `now`, `limits.max_term`, `limits.reapply_window` and scenario names"),
                };
                self.push(d);
                Ty::Unknown
            }
        }
    }
}

fn declare_hint(ns: Ns) -> &'static str {
    match ns {
        Ns::Grade => "grades { … }",
        Ns::Action => "action <name> \"title\"",
        Ns::Measure => "measure <name> \"title\"",
        Ns::Fact => "fact <name>: <type> \"title\"",
        Ns::Domain => "domain <name> \"title\"",
        Ns::Dataset => "dataset <name> \"title\" { … }",
        Ns::Scenario => "scenario <name> \"title\" { … }",
        Ns::Rule => "exit|suspend|notice|forbid <name> …",
        _ => "a declaration",
    }
}

/// The value of constant-foldable names in a developer scope.
pub fn developer_constants(model: &Model) -> impl Fn(&str) -> Option<Val> + '_ {
    move |p| model.limit_value(p)
}
