//! The outline of a file (document symbols) and the names of every bundle (workspace
//! symbols).

use charter_compiler::diagnostics::FileId;
use charter_compiler::sema::model::Ns;
use charter_compiler::syntax::ast::*;

use super::hover::title_of;
use super::occurrences::Symbol;
use super::{Analysis, FileSpan};

/// What kind of declaration an outline entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SymbolKind {
    /// `grades { }`, a domain
    Enum,
    /// a grade
    EnumMember,
    /// a grade rule, the consent rule
    Key,
    /// `classify field`
    Class,
    /// a classification arm, a requirement
    Operator,
    /// a dataset
    Struct,
    /// a field
    Field,
    /// a scenario
    Module,
    /// a `use` line
    Interface,
    /// an exit, suspend, notice or forbid rule
    Event,
    /// limits
    Constant,
    /// a test
    Method,
    /// a fixture
    Object,
    /// an action or a measure
    Function,
    /// a developer fact
    Property,
    /// admission
    Namespace,
}

/// One entry of the outline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutlineEntry {
    /// Name.
    pub name: String,
    /// Title or a summary.
    pub detail: Option<String>,
    /// Kind.
    pub kind: SymbolKind,
    /// The whole declaration.
    pub span: Span,
    /// Its name.
    pub selection: Span,
    /// Entries inside it.
    pub children: Vec<OutlineEntry>,
}

fn entry(
    name: impl Into<String>,
    detail: Option<String>,
    kind: SymbolKind,
    span: Span,
    selection: Span,
) -> OutlineEntry {
    OutlineEntry {
        name: name.into(),
        detail,
        kind,
        span,
        selection,
        children: Vec::new(),
    }
}

fn title(t: &Option<Str>) -> Option<String> {
    t.as_ref().map(|s| s.value.clone())
}

/// Start of a span only: for keywords, whose span the tree does not keep.
fn head(span: Span, len: usize) -> Span {
    Span::new(
        span.start as usize,
        (span.start as usize + len).min(span.end as usize),
    )
}

/// The outline of a file.
pub fn outline(a: &Analysis, file: FileId) -> Vec<OutlineEntry> {
    a.items(file).iter().map(item_entry).collect()
}

fn item_entry(item: &Item) -> OutlineEntry {
    let s = item.span;
    match &item.kind {
        ItemKind::Grades(entries) => {
            let mut e = entry("grades", None, SymbolKind::Enum, s, head(s, 6));
            e.children = entries
                .iter()
                .map(|g| {
                    entry(
                        &g.name.text,
                        title(&g.title),
                        SymbolKind::EnumMember,
                        g.name
                            .span
                            .to(g.title.as_ref().map_or(g.name.span, |t| t.span)),
                        g.name.span,
                    )
                })
                .collect();
            e
        }
        ItemKind::GradeRule(r) => {
            let allows: Vec<&str> = r.allows.iter().map(|a| a.text.as_str()).collect();
            entry(
                format!("grade {}", r.grade.text),
                Some(format!("allows {}", allows.join(", "))),
                SymbolKind::Key,
                s,
                r.grade.span,
            )
        }
        ItemKind::Classify(c) => {
            let mut e = entry(
                "classify field",
                title(&c.title),
                SymbolKind::Class,
                s,
                head(s, 8),
            );
            e.children = c
                .arms
                .iter()
                .map(|arm| {
                    entry(
                        format!("then {}", arm.grade.text),
                        None,
                        SymbolKind::Operator,
                        arm.span,
                        arm.grade.span,
                    )
                })
                .collect();
            if let Some(o) = &c.otherwise {
                e.children.push(entry(
                    format!("otherwise {}", o.text),
                    None,
                    SymbolKind::Operator,
                    o.span,
                    o.span,
                ));
            }
            e
        }
        ItemKind::Domain(d) => entry(
            &d.name.text,
            title(&d.title),
            SymbolKind::Enum,
            s,
            d.name.span,
        ),
        ItemKind::Dataset(d) => {
            let mut e = entry(
                &d.name.text,
                title(&d.title),
                SymbolKind::Struct,
                s,
                d.name.span,
            );
            e.children = d
                .fields
                .iter()
                .map(|f| {
                    entry(
                        &f.name.text,
                        title(&f.title),
                        SymbolKind::Field,
                        f.span,
                        f.name.span,
                    )
                })
                .collect();
            e
        }
        ItemKind::Scenario(sc) => {
            let mut e = entry(
                &sc.name.text,
                title(&sc.title),
                SymbolKind::Module,
                s,
                sc.name.span,
            );
            for r in &sc.requires {
                e.children.push(entry(
                    "require",
                    title(&r.title),
                    SymbolKind::Operator,
                    r.span,
                    head(r.span, 7),
                ));
            }
            for u in &sc.uses {
                let fields = match &u.fields {
                    FieldSet::All(_) => String::from("*"),
                    FieldSet::Some(names) => names
                        .iter()
                        .map(|n| n.text.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                };
                let actions: Vec<&str> = u.actions.iter().map(|a| a.text.as_str()).collect();
                e.children.push(entry(
                    format!("use {}", u.dataset.text),
                    Some(format!("{{ {fields} }} via {}", actions.join(", "))),
                    SymbolKind::Interface,
                    u.span,
                    u.dataset.span,
                ));
            }
            e
        }
        ItemKind::Admission(ad) => {
            let mut e = entry(
                "admission",
                title(&ad.title),
                SymbolKind::Namespace,
                s,
                ad.keyword,
            );
            e.children = ad
                .requires
                .iter()
                .map(|r| {
                    entry(
                        "require",
                        title(&r.title),
                        SymbolKind::Operator,
                        r.span,
                        head(r.span, 7),
                    )
                })
                .collect();
            e
        }
        ItemKind::Trigger(t) => entry(
            &t.name.text,
            Some(match &t.title {
                Some(x) => format!("{} · {}", t.kind.keyword(), x.value),
                None => t.kind.keyword().to_string(),
            }),
            SymbolKind::Event,
            s,
            t.name.span,
        ),
        ItemKind::Limits(ls) => {
            let mut e = entry("limits", None, SymbolKind::Constant, s, head(s, 6));
            e.children = ls
                .iter()
                .map(|l| entry(&l.key.text, None, SymbolKind::Constant, l.span, l.key.span))
                .collect();
            e
        }
        ItemKind::Test(t) => entry(&t.name.value, None, SymbolKind::Method, s, t.name.span),
        ItemKind::Fixture(f) => entry(
            &f.id.value,
            title(&f.title),
            SymbolKind::Object,
            s,
            f.id.span,
        ),
        ItemKind::Action(x) => entry(
            &x.name.text,
            title(&x.title),
            SymbolKind::Function,
            s,
            x.name.span,
        ),
        ItemKind::Measure(x) => entry(
            &x.name.text,
            title(&x.title),
            SymbolKind::Function,
            s,
            x.name.span,
        ),
        ItemKind::Fact(f) => entry(
            &f.name.text,
            title(&f.title),
            SymbolKind::Property,
            s,
            f.name.span,
        ),
        ItemKind::Forbid(f) => entry(
            &f.name.text,
            Some(match &f.title {
                Some(x) => format!("forbid · {}", x.value),
                None => String::from("forbid"),
            }),
            SymbolKind::Event,
            s,
            f.name.span,
        ),
        ItemKind::Consent(_) => entry("consent required", None, SymbolKind::Key, s, head(s, 7)),
    }
}

/// A name found by workspace symbol search.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundSymbol {
    /// The name (`tax.enterprise_tax`, `普惠金融`).
    pub name: String,
    /// Kind.
    pub kind: SymbolKind,
    /// The title, shown beside the name.
    pub container: Option<String>,
    /// Where it is declared.
    pub at: FileSpan,
}

/// The declared names of a bundle whose name or title contains `query` (case-insensitive),
/// at most `limit` of them.
pub fn workspace_symbols(a: &Analysis, query: &str, limit: usize) -> Vec<FoundSymbol> {
    let q = query.to_lowercase();
    let model = a.model();
    let mut out = Vec::new();
    for ((ns, key), loc) in &model.first {
        let kind = match ns {
            Ns::Grade => SymbolKind::EnumMember,
            Ns::Action | Ns::Measure => SymbolKind::Function,
            Ns::Fact => SymbolKind::Property,
            Ns::Domain => SymbolKind::Enum,
            Ns::Dataset => SymbolKind::Struct,
            Ns::Field => SymbolKind::Field,
            Ns::Scenario => SymbolKind::Module,
            Ns::Rule => SymbolKind::Event,
            Ns::Test => SymbolKind::Method,
            Ns::Fixture => SymbolKind::Object,
            _ => continue,
        };
        let symbol = Symbol::new(*ns, key.clone());
        let title = title_of(model, &symbol);
        let name = key.replace('/', ".");
        let hit = q.is_empty()
            || name.to_lowercase().contains(&q)
            || title
                .as_ref()
                .is_some_and(|t| t.to_lowercase().contains(&q));
        if !hit {
            continue;
        }
        let Some(at) = a.decl_span(*loc) else {
            continue;
        };
        out.push(FoundSymbol {
            name,
            kind,
            container: title,
            at,
        });
        if out.len() >= limit {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ide::fixture;

    #[test]
    fn outline_nests_fields_and_scopes() {
        let (a, _, _) = fixture::analysis(&[]);
        let o = outline(
            &a,
            a.file_id("catalog/tax.charter").unwrap_or(FileId::PRELUDE),
        );
        assert_eq!(o.len(), 1);
        let ds = &o[0];
        assert_eq!(
            (ds.name.as_str(), ds.detail.as_deref()),
            ("tax.enterprise_tax", Some("企业纳税信息"))
        );
        let fields: Vec<&str> = ds.children.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(fields, vec!["credit_code", "tax_amount", "legal_rep_id"]);
        let o = outline(
            &a,
            a.file_id("scenarios/finance.charter")
                .unwrap_or(FileId::PRELUDE),
        );
        let names: Vec<&str> = o.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, vec!["普惠金融", "协议期满"]);
        assert_eq!(o[0].children[0].name, "use tax.enterprise_tax");
    }

    #[test]
    fn workspace_symbols_match_names_and_chinese_titles() {
        let (a, _, _) = fixture::analysis(&[]);
        let hits = workspace_symbols(&a, "纳税", 50);
        let names: Vec<&str> = hits.iter().map(|h| h.name.as_str()).collect();
        assert!(names.contains(&"tax.enterprise_tax"), "{names:?}");
        assert!(
            names.contains(&"tax.enterprise_tax.tax_amount"),
            "{names:?}"
        );
        let hits = workspace_symbols(&a, "PRIVACY", 50);
        assert_eq!(
            hits.first().map(|h| h.name.as_str()),
            Some("privacy_compute")
        );
    }
}
