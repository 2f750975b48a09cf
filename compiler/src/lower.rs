//! Lowering a checked bundle to Cedar: the schema, the catalog as entities, one
//! policy per rule with a stable id and annotations, and the catalog the runtime uses.
//!
//! Dates become days since 1970-01-01 (in the bundle's time zone, UTC+8) and durations
//! days, so Cedar compares integers instead of re-parsing datetime literals per request.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value as Json};

use crate::diagnostics::{FileId, LineIndex};
use crate::manifest::{namespace_of, Manifest};
use crate::sema::expr::{day_number, duration_days, Ty};
use crate::sema::model::Model;
use crate::syntax::ast::*;

// The bundle's types are the contract with the runtime: they live in `charter-bundle`.
pub use charter_bundle::{
    cedar_str, BundleManifest, Catalog, CatalogDataset, CatalogFact, CatalogField, CatalogScenario,
    CompiledBundle, CompiledPolicy, PolicyKind, Reads, SourceLoc, Titled, BUNDLE_FORMAT,
    CONTEXT_NOW,
};

/// A parsed file handed to lowering.
pub struct LowerFile<'a> {
    /// Id.
    pub id: FileId,
    /// Path.
    pub path: &'a str,
    /// Text.
    pub text: &'a str,
    /// The text's line index.
    pub index: &'a LineIndex,
    /// Items.
    pub items: &'a [Item],
}

/// Whether `s` is a Cedar identifier (usable as `principal.s`).
fn is_cedar_ident(s: &str) -> bool {
    const RESERVED: &[&str] = &[
        "true",
        "false",
        "if",
        "then",
        "else",
        "in",
        "is",
        "like",
        "has",
        "__cedar",
        "principal",
        "action",
        "resource",
        "context",
        "permit",
        "forbid",
        "when",
        "unless",
    ];
    let mut cs = s.chars();
    matches!(cs.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && cs.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !RESERVED.contains(&s)
}

/// `principal.name` or `principal["名"]`.
fn attr(base: &str, name: &str) -> String {
    if is_cedar_ident(name) {
        format!("{base}.{name}")
    } else {
        format!("{base}[{}]", cedar_str(name))
    }
}

struct Lowerer<'a> {
    ns: String,
    model: &'a Model,
    /// What the expressions lowered since the last [`Lowerer::take_reads`] read: the
    /// developer facts and the context keys, recorded as their Cedar text is written.
    reads: RefCell<(BTreeSet<String>, BTreeSet<String>)>,
}

impl Lowerer<'_> {
    /// What the expressions lowered since the last call read, with the context keys the
    /// policy's own text reads besides (`scenario`, `consent`, `now`).
    fn take_reads(&self, context: &[&str]) -> Reads {
        let (facts, mut ctx) = std::mem::take(&mut *self.reads.borrow_mut());
        ctx.extend(context.iter().map(|c| c.to_string()));
        Reads {
            facts: facts.into_iter().collect(),
            context: ctx.into_iter().collect(),
        }
    }
    fn uid(&self, ty: &str, id: &str) -> String {
        format!("{}::{ty}::{}", self.ns, cedar_str(id))
    }
    fn action(&self, a: &str) -> String {
        self.uid("Action", a)
    }
    fn action_set(&self, actions: &[String]) -> String {
        let items: Vec<String> = actions.iter().map(|a| self.action(a)).collect();
        format!("[{}]", items.join(", "))
    }
    fn action_scope(&self, actions: &[String]) -> String {
        match actions {
            [one] => format!("action == {}", self.action(one)),
            _ => format!("action in {}", self.action_set(actions)),
        }
    }

    /// Lowers a developer-scope expression to Cedar.
    fn expr(&self, e: &Expr) -> String {
        match &e.kind {
            ExprKind::Bool(b) => b.to_string(),
            ExprKind::Int(i) => i.to_string(),
            ExprKind::Str(s) => cedar_str(s),
            ExprKind::Date(d) => day_number(*d).to_string(),
            ExprKind::Duration(d) => duration_days(*d).to_string(),
            ExprKind::Paren(inner) => self.expr(inner),
            ExprKind::Path(n) => {
                let t = n.text.as_str();
                if t == "now" {
                    self.reads.borrow_mut().1.insert(CONTEXT_NOW.to_string());
                    "context.now".to_string()
                } else if let Some(v) = self.model.limit_value(t) {
                    match v {
                        crate::sema::expr::Val::Duration(d) => d.to_string(),
                        _ => "0".to_string(),
                    }
                } else if let Some(f) = t.strip_prefix("developer.") {
                    if self.model.facts.contains_key(f) {
                        self.reads.borrow_mut().0.insert(f.to_string());
                    }
                    attr("principal", f)
                } else {
                    self.uid("Scenario", t)
                }
            }
            ExprKind::List(items) => {
                let parts: Vec<String> = items.iter().map(|i| self.expr(i)).collect();
                format!("[{}]", parts.join(", "))
            }
            ExprKind::Not(inner) => format!("!({})", self.expr(inner)),
            ExprKind::And(items) => self.balanced(items, "&&"),
            ExprKind::Or(items) => self.balanced(items, "||"),
            ExprKind::Binary(op, a, b) => {
                let (la, lb) = (self.expr(a), self.expr(b));
                match op {
                    BinOp::Contains | BinOp::In => {
                        let (set, el, set_e) = if *op == BinOp::Contains {
                            (la, lb, a)
                        } else {
                            (lb, la, b)
                        };
                        if matches!(&strip(set_e).kind, ExprKind::List(items) if items.is_empty()) {
                            // Cedar's strict validator rejects an empty set literal; nothing is in it.
                            "false".to_string()
                        } else {
                            format!("{set}.contains({el})")
                        }
                    }
                    BinOp::Eq | BinOp::Ne if is_empty_list(a) && is_empty_list(b) => {
                        (*op == BinOp::Eq).to_string()
                    }
                    BinOp::Eq | BinOp::Ne if is_empty_list(a) || is_empty_list(b) => {
                        // Cedar's strict validator rejects an empty set literal.
                        let set = if is_empty_list(a) { lb } else { la };
                        let neg = if *op == BinOp::Ne { "!" } else { "" };
                        format!("{neg}{set}.isEmpty()")
                    }
                    other => format!("({la} {} {lb})", cedar_op(*other)),
                }
            }
        }
    }
}

impl Lowerer<'_> {
    /// A chain `a && b && …` as a balanced tree of parenthesized pairs, in the same
    /// order (so evaluation and short-circuiting are unchanged): Cedar's parser,
    /// validator and evaluator recurse, and see a depth of log2 of the chain's length.
    fn balanced(&self, items: &[Expr], op: &str) -> String {
        match items {
            [] => (op == "&&").to_string(),
            [one] => self.expr(one),
            _ => {
                let (l, r) = items.split_at(items.len() / 2);
                format!("({} {op} {})", self.balanced(l, op), self.balanced(r, op))
            }
        }
    }
}

fn is_empty_list(e: &Expr) -> bool {
    matches!(&strip(e).kind, ExprKind::List(items) if items.is_empty())
}

fn strip(mut e: &Expr) -> &Expr {
    while let ExprKind::Paren(inner) = &e.kind {
        e = inner;
    }
    e
}

fn cedar_op(op: BinOp) -> &'static str {
    match op {
        BinOp::Eq => "==",
        BinOp::Ne => "!=",
        BinOp::Lt => "<",
        BinOp::Le => "<=",
        BinOp::Gt => ">",
        BinOp::Ge => ">=",
        BinOp::Add => "+",
        BinOp::Sub => "-",
        BinOp::Contains | BinOp::In => "in",
    }
}

fn cedar_type(ty: &Ty, ns: &str) -> Json {
    match ty {
        Ty::Bool => json!({"type": "Boolean"}),
        Ty::Int | Ty::Nat | Ty::Date | Ty::Duration | Ty::Unknown => json!({"type": "Long"}),
        Ty::Str => json!({"type": "String"}),
        Ty::Scenario => json!({"type": "Entity", "name": format!("{ns}::Scenario")}),
        Ty::Set(inner) => json!({"type": "Set", "element": cedar_type(inner, ns)}),
    }
}

fn fmt_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year, d.month, d.day)
}

/// Lowers a bundle that checked without errors.
pub fn lower(manifest: &Manifest, model: &Model, files: &[LowerFile<'_>]) -> CompiledBundle {
    let ns = namespace_of(&manifest.name);
    let lw = Lowerer {
        ns: ns.clone(),
        model,
        reads: RefCell::default(),
    };
    let mut policies: Vec<CompiledPolicy> = Vec::new();
    let mut scenarios: BTreeMap<String, CatalogScenario> = BTreeMap::new();
    let mut admission_no = 0usize;
    let consent_tags: Vec<String> = model.consent_tags.iter().cloned().collect();

    for f in files {
        let loc = |span: Span| {
            let lc = f.index.line_col(span.start as usize);
            SourceLoc {
                file: f.path.to_string(),
                line: lc.line,
                column: lc.column,
            }
        };
        for item in f.items {
            match &item.kind {
                ItemKind::GradeRule(r) => {
                    let Some(g) = model.grade_index(&r.grade.text) else {
                        continue;
                    };
                    let gtitle = model.grades.get(g).and_then(|x| x.title.clone());
                    let order = g as i64 + 1;
                    let allows: Vec<String> = r.allows.iter().map(|a| a.text.clone()).collect();
                    let shown: Vec<String> = allows
                        .iter()
                        .map(|a| {
                            model
                                .actions
                                .get(a)
                                .and_then(|x| x.title.clone())
                                .unwrap_or_else(|| a.clone())
                        })
                        .collect();
                    let title = format!(
                        "{}级数据仅可用于：{}",
                        gtitle.clone().unwrap_or_else(|| r.grade.text.clone()),
                        shown.join("、")
                    );
                    let body = if allows.is_empty() {
                        format!("forbid (principal, action, resource)\nwhen {{ resource.grade == {order} }};")
                    } else {
                        format!(
                            "forbid (principal, action, resource)\nwhen {{ resource.grade == {order} }}\nunless {{ action in {} }};",
                            lw.action_set(&allows)
                        )
                    };
                    let mut p = policy(
                        format!("grade/{}", r.grade.text),
                        PolicyKind::Grade,
                        r.grade.text.clone(),
                        Some(title),
                        r.article.as_ref().map(|a| a.value.clone()),
                        loc(item.span),
                        body,
                    );
                    p.allows = Some(allows.clone());
                    policies.push(p);
                    if r.requires_consent.is_some() && !allows.is_empty() {
                        let title = format!(
                            "{}级数据须经信息主体授权",
                            gtitle.unwrap_or_else(|| r.grade.text.clone())
                        );
                        let body = format!(
                            "forbid (principal, {}, resource)\nwhen {{ resource.grade == {order} && !context.consent }};",
                            lw.action_scope(&allows)
                        );
                        let mut p = policy(
                            format!("grade/{}/consent", r.grade.text),
                            PolicyKind::GradeConsent,
                            r.grade.text.clone(),
                            Some(title),
                            r.article.as_ref().map(|a| a.value.clone()),
                            loc(item.span),
                            body,
                        );
                        p.actions = Some(allows.clone());
                        p.reads = lw.take_reads(&["consent"]);
                        policies.push(p);
                    }
                }
                ItemKind::Forbid(fd) => {
                    let actions: Vec<String> = fd.actions.iter().map(|a| a.text.clone()).collect();
                    let scope = if actions.is_empty() {
                        "action".to_string()
                    } else {
                        lw.action_scope(&actions)
                    };
                    let when = fd
                        .when
                        .as_ref()
                        .map(|w| format!("\nwhen {{ {} }}", lw.expr(w)))
                        .unwrap_or_default();
                    let mut p = policy(
                        format!("forbid/{}", fd.name.text),
                        PolicyKind::Forbid,
                        fd.name.text.clone(),
                        fd.title.as_ref().map(|t| t.value.clone()),
                        fd.article.as_ref().map(|a| a.value.clone()),
                        loc(item.span),
                        format!("forbid (principal, {scope}, resource){when};"),
                    );
                    p.actions = (!actions.is_empty()).then_some(actions);
                    p.reads = lw.take_reads(&[]);
                    policies.push(p);
                }
                ItemKind::Consent(c) => {
                    // One policy covers every protected tag of the bundle.
                    if consent_tags.is_empty()
                        || policies.iter().any(|p| p.kind == PolicyKind::Consent)
                    {
                        continue;
                    }
                    let tags: Vec<String> = consent_tags.iter().map(|t| cedar_str(t)).collect();
                    let mut p = policy(
                        "consent".to_string(),
                        PolicyKind::Consent,
                        "consent".to_string(),
                        Some("涉及个人信息和商业秘密的数据须经信息主体授权后按场景使用".to_string()),
                        c.article.as_ref().map(|a| a.value.clone()),
                        loc(item.span),
                        format!(
                            "forbid (principal, action, resource)\nwhen {{ resource.tags.containsAny([{}]) && !context.consent }};",
                            tags.join(", ")
                        ),
                    );
                    p.reads = lw.take_reads(&["consent"]);
                    policies.push(p);
                }
                ItemKind::Admission(a) => {
                    for r in &a.requires {
                        admission_no += 1;
                        let title = r
                            .title
                            .as_ref()
                            .or(a.title.as_ref())
                            .map(|t| t.value.clone());
                        let article = r
                            .article
                            .as_ref()
                            .or(a.article.as_ref())
                            .map(|t| t.value.clone());
                        let mut p = policy(
                            format!("admission/{admission_no}"),
                            PolicyKind::Admission,
                            format!("admission/{admission_no}"),
                            title,
                            article,
                            loc(r.span),
                            format!(
                                "forbid (principal, action, resource)\nunless {{ {} }};",
                                lw.expr(&r.cond)
                            ),
                        );
                        p.reads = lw.take_reads(&[]);
                        policies.push(p);
                    }
                }
                ItemKind::Trigger(t) => {
                    let (kind, effect) = match t.kind {
                        TriggerKind::Exit => (PolicyKind::Exit, "forbid"),
                        TriggerKind::Suspend => (PolicyKind::Suspend, "forbid"),
                        TriggerKind::Notice => (PolicyKind::Notice, "permit"),
                    };
                    let mut p = policy(
                        format!("{}/{}", t.kind.keyword(), t.name.text),
                        kind,
                        t.name.text.clone(),
                        t.title.as_ref().map(|x| x.value.clone()),
                        t.article.as_ref().map(|x| x.value.clone()),
                        loc(item.span),
                        format!(
                            "{effect} (principal, action, resource)\nwhen {{ {} }};",
                            lw.expr(&t.when)
                        ),
                    );
                    p.measures = t.measures.iter().map(|m| m.text.clone()).collect();
                    p.reads = lw.take_reads(&[]);
                    policies.push(p);
                }
                ItemKind::Scenario(s) => {
                    let Some(term) = &s.term else { continue };
                    let (start, end) = (day_number(term.start), day_number(term.end));
                    scenarios.insert(
                        s.name.text.clone(),
                        CatalogScenario {
                            title: s.title.as_ref().map(|t| t.value.clone()),
                            domain: s.domain.as_ref().map(|d| d.text.clone()),
                            purpose: s.purpose.as_ref().map(|p| p.value.clone()),
                            term_start: start,
                            term_end: end,
                            term: format!("{} .. {}", fmt_date(term.start), fmt_date(term.end)),
                        },
                    );
                    let scen = lw.uid("Scenario", &s.name.text);
                    let stitle = s.title.as_ref().map(|t| t.value.clone());
                    let sarticle = s.article.as_ref().map(|t| t.value.clone());
                    for (i, r) in s.requires.iter().enumerate() {
                        let mut p = policy(
                            format!("scenario/{}/require/{}", s.name.text, i + 1),
                            PolicyKind::Eligibility,
                            s.name.text.clone(),
                            r.title.as_ref().map(|t| t.value.clone()).or_else(|| stitle.clone()),
                            r.article.as_ref().map(|t| t.value.clone()).or_else(|| sarticle.clone()),
                            loc(r.span),
                            format!(
                                "forbid (principal, action, resource)\nwhen {{ context.scenario == {scen} }}\nunless {{ {} }};",
                                lw.expr(&r.cond)
                            ),
                        );
                        p.scenario = Some(s.name.text.clone());
                        p.reads = lw.take_reads(&["scenario"]);
                        policies.push(p);
                    }
                    for (i, u) in s.uses.iter().enumerate() {
                        let actions: Vec<String> =
                            u.actions.iter().map(|a| a.text.clone()).collect();
                        let fields: Option<Vec<String>> = match &u.fields {
                            FieldSet::All(_) => None,
                            FieldSet::Some(names) => {
                                // A set beside the list: a scope of n fields dedups in O(n).
                                let mut seen = std::collections::HashSet::new();
                                let v: Vec<String> = names
                                    .iter()
                                    .filter(|n| seen.insert(n.text.as_str()))
                                    .map(|n| n.text.clone())
                                    .collect();
                                Some(v)
                            }
                        };
                        let mut conds = vec![
                            format!("context.scenario == {scen}"),
                            format!("{start} <= context.now && context.now <= {end}"),
                        ];
                        if let Some(fs) = &fields {
                            let uids: Vec<String> = fs
                                .iter()
                                .map(|f| lw.uid("Field", &format!("{}/{f}", u.dataset.text)))
                                .collect();
                            conds.push(format!("resource in [{}]", uids.join(", ")));
                        }
                        if u.requires_consent.is_some() {
                            conds.push("context.consent".to_string());
                        }
                        let body = format!(
                            "permit (\n  principal in {scen},\n  {},\n  resource in {}\n)\nwhen {{ {} }};",
                            lw.action_scope(&actions),
                            lw.uid("Dataset", &u.dataset.text),
                            conds.join(" && ")
                        );
                        let mut p = policy(
                            format!("scenario/{}/use/{}", s.name.text, i + 1),
                            PolicyKind::Scope,
                            s.name.text.clone(),
                            stitle.clone(),
                            sarticle.clone(),
                            loc(u.span),
                            body,
                        );
                        p.scenario = Some(s.name.text.clone());
                        p.dataset = Some(u.dataset.text.clone());
                        p.actions = Some(actions);
                        p.fields = fields;
                        p.requires_consent = u.requires_consent.is_some();
                        p.reads = lw.take_reads(if p.requires_consent {
                            &["scenario", CONTEXT_NOW, "consent"]
                        } else {
                            &["scenario", CONTEXT_NOW]
                        });
                        policies.push(p);
                    }
                }
                _ => {}
            }
        }
    }

    // A grade without a `grade … allows` rule allows nothing: fail closed, whatever
    // the lint levels say about CH0303 and CH0312.
    for (g, info) in model.grades.iter().enumerate() {
        // A grade without a rule allows no action.
        if model.grade_rules.contains_key(&info.name) {
            continue;
        }
        let Some(f) = files.iter().find(|f| f.id == info.loc.file) else {
            continue;
        };
        let span = f
            .items
            .get(info.loc.item as usize)
            .map(|i| i.span)
            .unwrap_or_default();
        let lc = f.index.line_col(span.start as usize);
        policies.push(policy(
            format!("grade/{}", info.name),
            PolicyKind::Grade,
            info.name.clone(),
            Some(format!(
                "{}级数据不可用于任何操作",
                info.title.clone().unwrap_or_else(|| info.name.clone())
            )),
            None,
            SourceLoc {
                file: f.path.to_string(),
                line: lc.line,
                column: lc.column,
            },
            format!(
                "forbid (principal, action, resource)\nwhen {{ resource.grade == {} }};",
                g + 1
            ),
        ));
        if let Some(p) = policies.last_mut() {
            p.allows = Some(Vec::new());
        }
    }

    // The annotations are not in `cedar`: `CompiledPolicy::annotated_cedar` writes them
    // from the metadata, for `policies.cedar`.
    let catalog = Catalog {
        utc_offset_minutes: 8 * 60,
        grades: model
            .grades
            .iter()
            .map(|g| (g.name.clone(), g.title.clone()))
            .collect(),
        actions: model
            .actions
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    Titled {
                        title: v.title.clone(),
                    },
                )
            })
            .collect(),
        measures: model
            .measures
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    Titled {
                        title: v.title.clone(),
                    },
                )
            })
            .collect(),
        facts: model
            .facts
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    CatalogFact {
                        ty: v.ty.display(),
                        title: v.title.clone(),
                    },
                )
            })
            .collect(),
        scenarios,
        datasets: model
            .datasets
            .iter()
            .map(|(k, d)| {
                (
                    k.clone(),
                    CatalogDataset {
                        title: d.title.clone(),
                        source: d.source.clone(),
                        domain: d.domain.clone(),
                        fields: d
                            .fields
                            .iter()
                            .map(|f| {
                                let g = f.grade.unwrap_or(0);
                                (
                                    f.name.clone(),
                                    CatalogField {
                                        title: f.title.clone(),
                                        grade: g as i64 + 1,
                                        grade_name: model
                                            .grades
                                            .get(g)
                                            .map(|x| x.name.clone())
                                            .unwrap_or_default(),
                                        tags: f.tags.iter().cloned().collect(),
                                    },
                                )
                            })
                            .collect(),
                    },
                )
            })
            .collect(),
        consent_tags,
    };
    let schema = schema(&ns, model);
    let entities = entities(&ns, &catalog);
    let mut bundle = CompiledBundle {
        format: BUNDLE_FORMAT.to_string(),
        manifest: BundleManifest {
            name: manifest.name.clone(),
            version: manifest.version.clone(),
            title: manifest.title.clone(),
            namespace: ns,
            hash: String::new(),
            compiler: format!("charter {}", env!("CARGO_PKG_VERSION")),
        },
        schema,
        policies,
        entities,
        catalog,
    };
    bundle.manifest.hash = bundle.compute_hash();
    bundle
}

fn policy(
    id: String,
    kind: PolicyKind,
    rule: String,
    title: Option<String>,
    article: Option<String>,
    source: SourceLoc,
    cedar: String,
) -> CompiledPolicy {
    CompiledPolicy {
        id,
        kind,
        rule,
        title,
        article,
        source,
        measures: Vec::new(),
        scenario: None,
        dataset: None,
        actions: None,
        fields: None,
        requires_consent: false,
        allows: None,
        reads: Reads::default(),
        cedar,
    }
}

/// The Cedar schema, in Cedar's JSON schema format.
fn schema(ns: &str, model: &Model) -> Json {
    let string = json!({"type": "String"});
    let mut dev_attrs = serde_json::Map::new();
    for (name, f) in &model.facts {
        dev_attrs.insert(name.clone(), cedar_type(&f.ty, ns));
    }
    let context = json!({
        "type": "Record",
        "attributes": {
            "now": {"type": "Long"},
            "scenario": {"type": "Entity", "name": format!("{ns}::Scenario")},
            "consent": {"type": "Boolean"},
            "purpose": string,
        }
    });
    let mut actions = serde_json::Map::new();
    for a in model.actions.keys() {
        actions.insert(
            a.clone(),
            json!({
                "appliesTo": {
                    "principalTypes": ["Developer"],
                    "resourceTypes": ["Field"],
                    "context": {"type": "Context"}
                }
            }),
        );
    }
    json!({
        ns: {
            "commonTypes": { "Context": context },
            "entityTypes": {
                "Scenario": {"shape": {"type": "Record", "attributes": {"title": string, "domain": string}}},
                "Dataset": {"shape": {"type": "Record", "attributes": {"title": string, "source": string, "domain": string}}},
                "Field": {
                    "memberOfTypes": ["Dataset"],
                    "shape": {"type": "Record", "attributes": {
                        "title": string,
                        "grade": {"type": "Long"},
                        "tags": {"type": "Set", "element": {"type": "String"}}
                    }}
                },
                "Developer": {
                    "memberOfTypes": ["Scenario"],
                    "shape": {"type": "Record", "attributes": Json::Object(dev_attrs)}
                }
            },
            "actions": Json::Object(actions)
        }
    })
}

/// The catalog's entities, in Cedar's JSON entity format.
fn entities(ns: &str, catalog: &Catalog) -> Json {
    let mut out = Vec::new();
    for (name, s) in &catalog.scenarios {
        out.push(json!({
            "uid": {"type": format!("{ns}::Scenario"), "id": name},
            "attrs": {"title": s.title.clone().unwrap_or_else(|| name.clone()), "domain": s.domain.clone().unwrap_or_default()},
            "parents": []
        }));
    }
    for (name, d) in &catalog.datasets {
        out.push(json!({
            "uid": {"type": format!("{ns}::Dataset"), "id": name},
            "attrs": {
                "title": d.title.clone().unwrap_or_else(|| name.clone()),
                "source": d.source.clone().unwrap_or_default(),
                "domain": d.domain.clone().unwrap_or_default()
            },
            "parents": []
        }));
        for (fname, f) in &d.fields {
            out.push(json!({
                "uid": {"type": format!("{ns}::Field"), "id": format!("{name}/{fname}")},
                "attrs": {"title": f.title.clone().unwrap_or_else(|| fname.clone()), "grade": f.grade, "tags": f.tags},
                "parents": [{"type": format!("{ns}::Dataset"), "id": name}]
            }));
        }
    }
    Json::Array(out)
}
