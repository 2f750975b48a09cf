//! Every name written in a file, with what it names: the index that hover,
//! go-to-definition, references, rename and semantic tokens share.
//!
//! A name is identified the way the compiler's model keys it: a namespace ([`Ns`]) and
//! a key (`tax.enterprise_tax/tax_amount` for a field). Developer fixtures, which the
//! model keys by their id string, use [`Ns::Fixture`].

use charter_compiler::diagnostics::FileId;
use charter_compiler::sema::model::{Loc, Model, Ns};
use charter_compiler::syntax::ast::*;

use super::{Analysis, FileSpan};

/// What a name refers to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Symbol {
    /// The namespace.
    pub ns: Ns,
    /// The key in the model (`dataset/field` for fields, the id for fixtures).
    pub key: String,
}

impl Symbol {
    /// A symbol.
    pub fn new(ns: Ns, key: impl Into<String>) -> Self {
        Symbol {
            ns,
            key: key.into(),
        }
    }

    /// The name as written at a use: the field part of a field's key.
    pub fn written(&self) -> &str {
        match self.ns {
            Ns::Field => self.key.rsplit('/').next().unwrap_or(&self.key),
            _ => &self.key,
        }
    }

    /// Where the model says it is declared.
    pub fn loc(&self, model: &Model) -> Option<Loc> {
        match self.ns {
            Ns::Fixture => model.fixtures.get(&self.key).map(|f| f.loc),
            _ => model.first.get(&(self.ns, self.key.clone())).copied(),
        }
    }
}

/// One name in the text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Occurrence {
    /// What it names.
    pub symbol: Symbol,
    /// Where it is written (for a fixture, the string with its quotes).
    pub span: Span,
    /// Whether this is a declaration of the name.
    pub decl: bool,
}

/// The names of one file, in source order.
pub fn file_occurrences(a: &Analysis, file: FileId) -> Vec<Occurrence> {
    let mut w = Walker {
        model: a.model(),
        out: Vec::new(),
    };
    for item in a.items(file) {
        w.item(item);
    }
    w.out.sort_by_key(|o| (o.span.start, o.span.end));
    w.out
}

/// The name under the cursor (a cursor just after a name counts).
pub fn at(a: &Analysis, file: FileId, offset: u32) -> Option<Occurrence> {
    let occ = file_occurrences(a, file);
    occ.iter()
        .find(|o| o.span.start <= offset && offset < o.span.end)
        .or_else(|| occ.iter().find(|o| o.span.contains(offset)))
        .cloned()
}

/// Every occurrence of `symbol` in the bundle.
pub fn all(a: &Analysis, symbol: &Symbol) -> Vec<(FileSpan, bool)> {
    let mut out = Vec::new();
    for file in a.file_ids() {
        for o in file_occurrences(a, file) {
            if o.symbol == *symbol {
                out.push((FileSpan { file, span: o.span }, o.decl));
            }
        }
    }
    out
}

/// The declaration of a symbol: the span of its name.
pub fn definition(a: &Analysis, symbol: &Symbol) -> Option<FileSpan> {
    a.decl_span(symbol.loc(a.model())?)
}

struct Walker<'m> {
    model: &'m Model,
    out: Vec<Occurrence>,
}

impl Walker<'_> {
    fn push(&mut self, ns: Ns, key: impl Into<String>, span: Span, decl: bool) {
        self.out.push(Occurrence {
            symbol: Symbol::new(ns, key),
            span,
            decl,
        });
    }

    fn name(&mut self, ns: Ns, n: &Name) {
        self.push(ns, n.text.clone(), n.span, false);
    }

    fn decl(&mut self, ns: Ns, n: &Name) {
        self.push(ns, n.text.clone(), n.span, true);
    }

    fn item(&mut self, item: &Item) {
        match &item.kind {
            ItemKind::Grades(entries) => {
                for e in entries {
                    self.decl(Ns::Grade, &e.name);
                }
            }
            ItemKind::GradeRule(r) => {
                self.name(Ns::Grade, &r.grade);
                for a in &r.allows {
                    self.name(Ns::Action, a);
                }
            }
            ItemKind::Classify(c) => {
                for arm in &c.arms {
                    self.name(Ns::Grade, &arm.grade);
                }
                if let Some(o) = &c.otherwise {
                    self.name(Ns::Grade, o);
                }
            }
            ItemKind::Domain(d) => self.decl(Ns::Domain, &d.name),
            ItemKind::Dataset(d) => {
                self.decl(Ns::Dataset, &d.name);
                if let Some(dom) = &d.domain {
                    self.name(Ns::Domain, dom);
                }
                for f in &d.fields {
                    let key = format!("{}/{}", d.name.text, f.name.text);
                    self.push(Ns::Field, key, f.name.span, true);
                    if let Some(g) = &f.grade {
                        self.name(Ns::Grade, g);
                    }
                }
            }
            ItemKind::Scenario(s) => {
                self.decl(Ns::Scenario, &s.name);
                if let Some(dom) = &s.domain {
                    self.name(Ns::Domain, dom);
                }
                for r in &s.requires {
                    self.expr(&r.cond);
                }
                for u in &s.uses {
                    self.name(Ns::Dataset, &u.dataset);
                    if let FieldSet::Some(fields) = &u.fields {
                        self.fields(&u.dataset.text, fields);
                    }
                    for a in &u.actions {
                        self.name(Ns::Action, a);
                    }
                }
            }
            ItemKind::Admission(ad) => {
                for r in &ad.requires {
                    self.expr(&r.cond);
                }
            }
            ItemKind::Trigger(t) => {
                self.decl(Ns::Rule, &t.name);
                self.expr(&t.when);
                for m in &t.measures {
                    self.name(Ns::Measure, m);
                }
            }
            ItemKind::Limits(_) | ItemKind::Consent(_) => {}
            ItemKind::Test(t) => self.test(t),
            ItemKind::Fixture(f) => {
                self.push(Ns::Fixture, f.id.value.clone(), f.id.span, true);
                self.facts(&f.facts);
            }
            ItemKind::Action(a) => self.decl(Ns::Action, &a.name),
            ItemKind::Measure(m) => self.decl(Ns::Measure, &m.name),
            ItemKind::Fact(f) => self.decl(Ns::Fact, &f.name),
            ItemKind::Forbid(f) => {
                self.decl(Ns::Rule, &f.name);
                for a in &f.actions {
                    self.name(Ns::Action, a);
                }
                if let Some(w) = &f.when {
                    self.expr(w);
                }
            }
        }
    }

    fn fields(&mut self, dataset: &str, fields: &[Name]) {
        for f in fields {
            self.push(Ns::Field, format!("{dataset}/{}", f.text), f.span, false);
        }
    }

    /// Names inside a condition: `developer.<fact>` and scenario names. Classification
    /// conditions name only built-ins (`tags`, `dataset.source`), which are not symbols.
    fn expr(&mut self, e: &Expr) {
        let model = self.model;
        let mut found = Vec::new();
        e.walk(&mut |x| {
            if let ExprKind::Path(n) = &x.kind {
                if let Some(fact) = n.text.strip_prefix("developer.") {
                    let start = n.span.end as usize - fact.len();
                    found.push((
                        Ns::Fact,
                        fact.to_string(),
                        Span::new(start, n.span.end as usize),
                    ));
                } else if model.scenarios.contains_key(&n.text) {
                    found.push((Ns::Scenario, n.text.clone(), n.span));
                }
            }
        });
        for (ns, key, span) in found {
            self.push(ns, key, span, false);
        }
    }

    fn facts(&mut self, facts: &[FactAssign]) {
        for f in facts {
            self.name(Ns::Fact, &f.name);
            self.value(&f.value);
        }
    }

    fn value(&mut self, v: &Value) {
        match v {
            Value::Name(n) => self.name(Ns::Scenario, n),
            Value::List(items, _) => items.iter().for_each(|i| self.value(i)),
            _ => {}
        }
    }

    fn developer(&mut self, id: &Str) {
        self.push(Ns::Fixture, id.value.clone(), id.span, false);
    }

    fn test(&mut self, t: &TestDecl) {
        for g in &t.givens {
            if self.model.fixtures.contains_key(&g.id.value) {
                self.developer(&g.id);
            }
            self.facts(&g.facts);
        }
        for e in &t.expects {
            match e {
                Expect::Decision(d) => {
                    self.name(Ns::Action, &d.action);
                    self.name(Ns::Dataset, &d.dataset);
                    if let Some(FieldSet::Some(fields)) = &d.fields {
                        self.fields(&d.dataset.text, fields);
                    }
                    if let Some(dev) = &d.developer {
                        if self.model.fixtures.contains_key(&dev.value) {
                            self.developer(dev);
                        }
                    }
                    self.name(Ns::Scenario, &d.scenario);
                    if let Some(RuleRef::Name(n)) = &d.because {
                        let ns = if self.model.rules.contains_key(&n.text) {
                            Ns::Rule
                        } else {
                            Ns::Scenario
                        };
                        self.name(ns, n);
                    }
                }
                Expect::Trigger(tr) => {
                    self.name(Ns::Rule, &tr.name);
                    if let Some(dev) = &tr.developer {
                        if self.model.fixtures.contains_key(&dev.value) {
                            self.developer(dev);
                        }
                    }
                    for m in &tr.measures {
                        self.name(Ns::Measure, m);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ide::fixture;

    #[test]
    fn finds_the_name_under_the_cursor() {
        let (a, file, offset) = fixture::analysis(&[(
            "scenarios/finance.charter",
            "scenario 小额 \"t\" { domain 金融 purpose \"p\" term 2026-01-01 .. 2026-12-31\n  use tax.enterprise_tax { tax_am$0ount } via statistics requires consent }\n",
        )]);
        let o = at(&a, file, offset);
        assert_eq!(
            o.map(|o| o.symbol),
            Some(Symbol::new(Ns::Field, "tax.enterprise_tax/tax_amount"))
        );
    }

    #[test]
    fn a_fact_in_a_condition_spans_only_the_fact() {
        let (a, file, _) = fixture::analysis(&[]);
        let _ = file;
        let file = a
            .file_id("scenarios/finance.charter")
            .unwrap_or(FileId::PRELUDE);
        let occ = file_occurrences(&a, file);
        let fact = occ
            .iter()
            .find(|o| o.symbol.ns == Ns::Fact)
            .map(|o| a.slice(FileSpan { file, span: o.span }).to_string());
        assert_eq!(fact.as_deref(), Some("agreement_expires"));
    }

    #[test]
    fn all_occurrences_span_files_and_the_prelude() {
        let (a, _, _) = fixture::analysis(&[]);
        let hits = all(&a, &Symbol::new(Ns::Action, "privacy_compute"));
        let files: std::collections::BTreeSet<&str> =
            hits.iter().map(|(fs, _)| a.path(fs.file)).collect();
        assert!(files.contains("<prelude>/prelude.charter"), "{files:?}");
        assert!(files.contains("grades.charter"));
        assert!(files.contains("scenarios/finance.charter"));
        assert_eq!(hits.iter().filter(|(_, decl)| *decl).count(), 1);
    }
}
