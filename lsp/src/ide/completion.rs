//! Completion in context: which names fit where the cursor is, read from the tokens
//! before it (the declaration being typed usually does not parse yet) and offered
//! from the model with their Chinese titles.

use charter_compiler::diagnostics::FileId;
use charter_compiler::sema::expr::Ty;
use charter_compiler::sema::model::{FieldInfo, Model, Ns, RuleKind};
use charter_compiler::syntax::ast::{Span, TriggerKind};
use charter_compiler::syntax::lexer::{block_statements, DECLARATION_KEYWORDS, RESERVED};
use charter_compiler::syntax::parser::declaration_ranges;
use charter_compiler::syntax::TokenKind;

use super::hover::title_of;
use super::occurrences::Symbol;
use super::tokens::{lex, Tok};
use super::Analysis;

/// What kind of thing a completion inserts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompletionKind {
    /// A keyword.
    Keyword,
    /// A name of the model, in this namespace.
    Name(Ns),
    /// A built-in name (`now`, `tags`, `limits.max_term`).
    Builtin,
}

/// One completion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completion {
    /// What the list shows and inserts.
    pub label: String,
    /// Kind.
    pub kind: CompletionKind,
    /// The Chinese title, or the type of a fact.
    pub detail: Option<String>,
    /// The doc comment.
    pub doc: Option<String>,
    /// The text the completion replaces (the partial word before the cursor).
    pub replace: Span,
    /// Why the item would be refused here, when it is offered only to be seen (an action
    /// the grade of a listed field does not allow): editors show it struck through, last.
    pub blocked: Option<String>,
}

/// The statement keywords of each kind of block: the syntax module's one table.
fn stmts(declaration: &str) -> &'static [&'static str] {
    block_statements(declaration)
}
const CLASSIFY_NAMES: &[&str] = &[
    "tags",
    "name",
    "dataset.name",
    "dataset.source",
    "dataset.domain",
    "dataset.tags",
];

/// The kind of a `{ }` block, which decides what statements it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Block {
    Top,
    Grades,
    Classify,
    Dataset,
    Scenario,
    Admission,
    Trigger,
    Limits,
    Test,
    Facts,
    Forbid,
    Fields(String),
    List,
    Other,
}

impl Block {
    fn statements(&self) -> &'static [&'static str] {
        match self {
            Block::Top => DECLARATION_KEYWORDS,
            Block::Classify => stmts("classify"),
            Block::Dataset => stmts("dataset"),
            Block::Scenario => stmts("scenario"),
            Block::Admission => stmts("admission"),
            Block::Trigger => stmts("exit"),
            Block::Limits => stmts("limits"),
            Block::Test => stmts("test"),
            Block::Forbid => stmts("forbid"),
            _ => &[],
        }
    }
}

struct Frame {
    block: Block,
    /// Index (into the token list) where the block's current statement starts.
    stmt: usize,
}

/// Completions at `offset` in `file`.
pub fn complete(a: &Analysis, file: FileId, offset: u32) -> Vec<Completion> {
    let text = a.text(file);
    let mut offset = (offset as usize).min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = text.get(..offset).unwrap_or("");
    // The partial (dotted) name that ends at the cursor, from the grammar's tokens.
    let mut start = offset;
    for t in charter_compiler::syntax::lex(before).iter().rev() {
        let part = t.kind.is_word()
            || t.kind == TokenKind::Number
            || t.kind == TokenKind::Punct && t.text(before) == ".";
        if t.span.end as usize != start || !part {
            break;
        }
        start = t.span.start as usize;
    }
    let partial = text.get(start..offset).unwrap_or("");
    let replace = Span::new(start, offset);
    let chunk_start = declaration_ranges(text)
        .into_iter()
        .map(|(s, _)| s)
        .rfind(|s| *s <= start)
        .unwrap_or(0);
    let head = text.get(chunk_start..start).unwrap_or("");
    let toks = words(head);
    let line_start = before
        .get(..start)
        .unwrap_or("")
        .rsplit('\n')
        .next()
        .is_some_and(|l| l.trim().is_empty());
    let cx = Context {
        model: a.model(),
        replace,
        partial,
    };
    cx.at(&toks, line_start)
}

/// Tokens as strings, comments dropped, dotted names joined (`tax.enterprise_tax`).
fn words(text: &str) -> Vec<(Tok, &str)> {
    let mut out: Vec<(Tok, &str, usize, usize)> = Vec::new();
    for t in lex(text) {
        if matches!(t.kind, Tok::Comment | Tok::Doc) {
            continue;
        }
        let (s, e) = (t.span.start as usize, t.span.end as usize);
        let piece = text.get(s..e).unwrap_or("");
        if let Some(last) = out.last_mut() {
            let joinable = last.3 == s
                && ((last.0 == Tok::Word && piece == ".")
                    || (last.0 == Tok::Word && last.1.ends_with('.') && t.kind == Tok::Word));
            if joinable {
                last.1 = text.get(last.2..e).unwrap_or("");
                last.3 = e;
                continue;
            }
        }
        out.push((t.kind, piece, s, e));
    }
    out.into_iter().map(|(k, s, _, _)| (k, s)).collect()
}

struct Context<'m, 'p> {
    model: &'m Model,
    replace: Span,
    partial: &'p str,
}

impl Context<'_, '_> {
    fn at(&self, toks: &[(Tok, &str)], line_start: bool) -> Vec<Completion> {
        let mut stack = vec![Frame {
            block: Block::Top,
            stmt: 0,
        }];
        for (i, (kind, w)) in toks.iter().enumerate() {
            let depth = stack.len();
            let Some(frame) = stack.last_mut() else { break };
            match (*kind, *w) {
                (Tok::Punct, "{") => {
                    let block = opened(&frame.block, toks.get(frame.stmt..i).unwrap_or(&[]));
                    stack.push(Frame { block, stmt: i + 1 });
                }
                (Tok::Punct, "[") => stack.push(Frame {
                    block: Block::List,
                    stmt: i + 1,
                }),
                (Tok::Punct, "}") | (Tok::Punct, "]") if depth > 1 => {
                    stack.pop();
                }
                (Tok::Word, w)
                    if frame.block != Block::Top && frame.block.statements().contains(&w) =>
                {
                    // `domain` inside `use … via` cannot happen; a statement keyword
                    // at this depth starts a new statement.
                    frame.stmt = i;
                }
                _ => {}
            }
        }
        let Some(frame) = stack.last() else {
            return Vec::new();
        };
        let parent = stack
            .len()
            .checked_sub(2)
            .and_then(|i| stack.get(i))
            .map(|f| &f.block);
        let stmt: Vec<&str> = toks
            .get(frame.stmt..)
            .unwrap_or(&[])
            .iter()
            .map(|(_, w)| *w)
            .collect();
        let last = stmt.last().copied().unwrap_or("");
        let first = stmt.first().copied().unwrap_or("");

        if let Some(rest) = self.partial.strip_prefix("developer.") {
            let _ = rest;
            return self.facts_after_dot();
        }
        if self.partial.starts_with("limits.") {
            return self.builtins_after_dot("limits.", &["max_term", "reapply_window"]);
        }
        if self.partial.starts_with("dataset.") && frame.block == Block::Classify {
            return self.builtins_after_dot("dataset.", &["name", "source", "domain", "tags"]);
        }

        match &frame.block {
            Block::Top => {
                if stmt.is_empty() || line_start && stack.len() == 1 && !continues(last) {
                    return self.keywords(DECLARATION_KEYWORDS);
                }
                match first {
                    "grade" => match last {
                        "grade" => self.names(Ns::Grade),
                        "allows" | "," => self.names(Ns::Action),
                        _ if stmt.contains(&"allows") => {
                            self.keywords(&["requires", "consent", "article"])
                        }
                        _ => self.keywords(&["allows"]),
                    },
                    "domain" if stmt.len() >= 2 => self.keywords(&["priority", "article"]),
                    "scenario" | "exit" | "suspend" | "notice" | "forbid" | "classify"
                    | "admission"
                        if stmt.len() >= 2 =>
                    {
                        self.keywords(&["article"])
                    }
                    "consent" => match stmt.len() {
                        1 => self.keywords(&["required"]),
                        2 => self.keywords(&["for"]),
                        3 => self.keywords(&["tags"]),
                        _ => self.keywords(&["article"]),
                    },
                    _ => Vec::new(),
                }
            }
            Block::Scenario => match first {
                _ if stmt.is_empty() || (line_start && !continues(last)) => {
                    self.keywords(stmts("scenario"))
                }
                "domain" => self.names(Ns::Domain),
                "use" => match last {
                    "use" => self.names(Ns::Dataset),
                    "via" | "," => self.grantable_actions(&stmt),
                    "}" => self.keywords(&["via"]),
                    _ if stmt.contains(&"via") && !stmt.contains(&"requires") => {
                        self.keywords(&["requires"])
                    }
                    "requires" => self.keywords(&["consent"]),
                    _ => Vec::new(),
                },
                "require" => self.developer_expr(),
                _ => Vec::new(),
            },
            Block::Fields(dataset) => self.fields(dataset, &stmt),
            Block::Dataset => match first {
                _ if stmt.is_empty() || (line_start && !continues(last)) => {
                    self.keywords(stmts("dataset"))
                }
                "domain" => self.names(Ns::Domain),
                "field" => match last {
                    "grade" => self.names(Ns::Grade),
                    "field" => Vec::new(),
                    _ => self.keywords(&["tags", "grade"]),
                },
                _ => Vec::new(),
            },
            Block::Classify => match first {
                _ if stmt.is_empty() || (line_start && !continues(last)) => {
                    let mut out = self.keywords(stmts("classify"));
                    if first == "when" && !stmt.contains(&"then") {
                        out.extend(self.classify_expr());
                    }
                    out
                }
                "when" if last == "then" => self.names(Ns::Grade),
                "when" if stmt.contains(&"then") => Vec::new(),
                "when" => {
                    let mut out = self.classify_expr();
                    out.extend(self.keywords(&["then"]));
                    out
                }
                "otherwise" => self.names(Ns::Grade),
                _ => Vec::new(),
            },
            Block::Trigger => match first {
                "measures" if last == "measures" || last == "," => self.names(Ns::Measure),
                _ if stmt.is_empty() || (line_start && !continues(last)) => {
                    let mut out = self.keywords(stmts("exit"));
                    if first == "when" {
                        out.extend(self.developer_expr());
                    }
                    out
                }
                "when" => self.developer_expr(),
                _ => Vec::new(),
            },
            Block::Admission => match first {
                _ if stmt.is_empty() || (line_start && !continues(last)) => {
                    let mut out = self.keywords(stmts("admission"));
                    if first == "require" {
                        out.extend(self.developer_expr());
                    }
                    out
                }
                "require" => self.developer_expr(),
                _ => Vec::new(),
            },
            Block::Forbid => match first {
                "actions" if last == "actions" || last == "," => self.names(Ns::Action),
                _ if stmt.is_empty() || (line_start && !continues(last)) => {
                    self.keywords(stmts("forbid"))
                }
                "when" => self.developer_expr(),
                _ => Vec::new(),
            },
            Block::Limits => self.keywords(stmts("limits")),
            Block::Test => match first {
                "expect" => self.expectation(&stmt),
                _ if stmt.is_empty() || (line_start && !continues(last)) => {
                    self.keywords(stmts("test"))
                }
                "given" if last == "given" => self.keywords(&["developer"]),
                _ => Vec::new(),
            },
            Block::Facts => self.fact_block(&stmt),
            Block::List => match parent {
                Some(Block::Facts)
                | Some(Block::Scenario)
                | Some(Block::Trigger)
                | Some(Block::Admission)
                | Some(Block::Forbid)
                | Some(Block::Test) => self.names(Ns::Scenario),
                _ => Vec::new(),
            },
            Block::Grades | Block::Other => Vec::new(),
        }
    }

    fn item(
        &self,
        label: String,
        kind: CompletionKind,
        detail: Option<String>,
        doc: Option<String>,
    ) -> Completion {
        Completion {
            label,
            kind,
            detail,
            doc,
            replace: self.replace,
            blocked: None,
        }
    }

    fn keywords(&self, words: &[&str]) -> Vec<Completion> {
        words
            .iter()
            .map(|w| self.item(w.to_string(), CompletionKind::Keyword, None, None))
            .collect()
    }

    fn names(&self, ns: Ns) -> Vec<Completion> {
        let m = self.model;
        let keys: Vec<&String> = match ns {
            Ns::Grade => m.grades.iter().map(|g| &g.name).collect(),
            Ns::Action => m.actions.keys().collect(),
            Ns::Measure => m.measures.keys().collect(),
            Ns::Fact => m.facts.keys().collect(),
            Ns::Domain => m.domains.keys().collect(),
            Ns::Dataset => m.datasets.keys().collect(),
            Ns::Scenario => m.scenarios.keys().collect(),
            Ns::Rule => m.rules.keys().collect(),
            _ => Vec::new(),
        };
        keys.into_iter()
            .map(|k| {
                let sym = Symbol::new(ns, k.clone());
                self.item(
                    k.clone(),
                    CompletionKind::Name(ns),
                    title_of(m, &sym),
                    doc(m, &sym),
                )
            })
            .collect()
    }

    /// Actions a scope may grant: not those a rule always forbids (`export_raw`), which
    /// the checker would reject (CH0301).
    ///
    /// `stmt` is the `use` statement so far (`use DATASET { fields } via …`): an action
    /// the grade of a listed field does not allow (CH0303) is offered last, blocked, with
    /// the field and its grade as the reason.
    fn grantable_actions(&self, stmt: &[&str]) -> Vec<Completion> {
        let m = self.model;
        let forbidden = |a: &str| {
            m.rules.values().any(|r| {
                r.kind == RuleKind::Forbid && r.unconditional && r.actions.iter().any(|x| x == a)
            })
        };
        let fields = self.scope_fields(stmt);
        let mut out: Vec<Completion> = self
            .names(Ns::Action)
            .into_iter()
            .filter(|c| !forbidden(&c.label))
            .collect();
        for c in &mut out {
            let refusing: Vec<String> = fields
                .iter()
                .filter_map(|f| {
                    let g = f.grade?;
                    let allowed = m.allowed_by_grade(g).contains(&c.label);
                    let gname = &m.grades.get(g)?.name;
                    (!allowed).then(|| format!("`{}` is {gname}", f.name))
                })
                .collect();
            if let Some(first) = refusing.first() {
                let more = match refusing.len() {
                    1 => String::new(),
                    n => format!(" (and {} more)", n - 1),
                };
                c.blocked = Some(format!("not allowed: {first}{more}"));
            }
        }
        // Allowed first, each group in the model's order.
        out.sort_by_key(|c| c.blocked.is_some());
        out
    }

    /// The fields a `use` statement lists so far: those between its `{` and `}`
    /// (all of the dataset's for `*`), known to the model.
    fn scope_fields(&self, stmt: &[&str]) -> Vec<&FieldInfo> {
        let Some(ds) = stmt.get(1).and_then(|d| self.model.datasets.get(*d)) else {
            return Vec::new();
        };
        let inside = stmt
            .iter()
            .skip_while(|w| **w != "{")
            .skip(1)
            .take_while(|w| **w != "}");
        let mut out: Vec<&FieldInfo> = Vec::new();
        for w in inside {
            if *w == "*" {
                return ds.fields.iter().collect();
            }
            if let Some(f) = ds.field(w) {
                if !out.iter().any(|o| o.name == f.name) {
                    out.push(f);
                }
            }
        }
        out
    }

    fn rules_of(&self, kind: RuleKind) -> Vec<Completion> {
        self.model
            .rules
            .iter()
            .filter(|(_, r)| r.kind == kind)
            .map(|(k, r)| {
                self.item(
                    k.clone(),
                    CompletionKind::Name(Ns::Rule),
                    r.title.clone(),
                    r.doc.clone(),
                )
            })
            .collect()
    }

    fn fields(&self, dataset: &str, listed: &[&str]) -> Vec<Completion> {
        let Some(ds) = self.model.datasets.get(dataset) else {
            return Vec::new();
        };
        ds.fields
            .iter()
            .filter(|f| !listed.contains(&f.name.as_str()))
            .map(|f| {
                let grade = f
                    .grade
                    .and_then(|g| self.model.grades.get(g))
                    .map(|g| g.name.clone());
                let detail = match (&f.title, grade) {
                    (Some(t), Some(g)) => Some(format!("{t} · {g}")),
                    (Some(t), None) => Some(t.clone()),
                    (None, g) => g,
                };
                self.item(
                    f.name.clone(),
                    CompletionKind::Name(Ns::Field),
                    detail,
                    f.doc.clone(),
                )
            })
            .collect()
    }

    /// Names a developer condition may use.
    fn developer_expr(&self) -> Vec<Completion> {
        let mut out: Vec<Completion> = self
            .model
            .facts
            .iter()
            .map(|(k, f)| {
                self.item(
                    format!("developer.{k}"),
                    CompletionKind::Name(Ns::Fact),
                    Some(fact_detail(f.title.as_deref(), &f.ty)),
                    f.doc.clone(),
                )
            })
            .collect();
        for b in ["now", "limits.max_term", "limits.reapply_window"] {
            out.push(self.item(b.to_string(), CompletionKind::Builtin, None, None));
        }
        out.extend(self.names(Ns::Scenario));
        out.extend(self.keywords(RESERVED));
        out
    }

    fn classify_expr(&self) -> Vec<Completion> {
        let mut out: Vec<Completion> = CLASSIFY_NAMES
            .iter()
            .map(|b| self.item(b.to_string(), CompletionKind::Builtin, None, None))
            .collect();
        out.extend(self.keywords(RESERVED));
        out
    }

    /// `developer.<partial>`: the facts, replacing only what follows the dot.
    fn facts_after_dot(&self) -> Vec<Completion> {
        let replace = Span::new(
            self.replace.start as usize + "developer.".len(),
            self.replace.end as usize,
        );
        self.model
            .facts
            .iter()
            .map(|(k, f)| Completion {
                label: k.clone(),
                kind: CompletionKind::Name(Ns::Fact),
                detail: Some(fact_detail(f.title.as_deref(), &f.ty)),
                doc: f.doc.clone(),
                replace,
                blocked: None,
            })
            .collect()
    }

    fn builtins_after_dot(&self, prefix: &str, names: &[&str]) -> Vec<Completion> {
        let replace = Span::new(
            self.replace.start as usize + prefix.len(),
            self.replace.end as usize,
        );
        names
            .iter()
            .map(|n| Completion {
                label: n.to_string(),
                kind: CompletionKind::Builtin,
                detail: None,
                doc: None,
                replace,
                blocked: None,
            })
            .collect()
    }

    /// `expect allow ACTION DATASET { fields } by "dev" in SCENARIO because RULE`, or
    /// `expect exit RULE for "dev" measures …`.
    fn expectation(&self, stmt: &[&str]) -> Vec<Completion> {
        let last = stmt.last().copied().unwrap_or("");
        match stmt.get(1).copied() {
            None => self.keywords(&["allow", "deny", "exit", "suspend", "notice"]),
            Some("allow") | Some("deny") => match (stmt.len(), last) {
                (2, _) => self.names(Ns::Action),
                (3, _) => self.names(Ns::Dataset),
                (_, "in") => self.names(Ns::Scenario),
                (_, "because") => {
                    let mut out = self.names(Ns::Rule);
                    out.extend(self.names(Ns::Scenario));
                    out
                }
                (_, "with") => self.keywords(&["consent"]),
                (_, "by") => Vec::new(),
                _ => self.keywords(&["by", "in", "with", "because"]),
            },
            Some(kind @ ("exit" | "suspend" | "notice")) => {
                let tk = match kind {
                    "exit" => TriggerKind::Exit,
                    "suspend" => TriggerKind::Suspend,
                    _ => TriggerKind::Notice,
                };
                match last {
                    _ if stmt.len() == 2 => self.rules_of(RuleKind::Trigger(tk)),
                    "measures" | "," => self.names(Ns::Measure),
                    "for" => Vec::new(),
                    _ => self.keywords(&["for", "measures"]),
                }
            }
            _ => Vec::new(),
        }
    }

    /// Inside `{ fact = value, … }`: fact names, or values after `=`.
    fn fact_block(&self, stmt: &[&str]) -> Vec<Completion> {
        let last = stmt.last().copied().unwrap_or("");
        if last == "=" {
            let fact = stmt
                .len()
                .checked_sub(2)
                .and_then(|i| stmt.get(i))
                .copied()
                .unwrap_or("");
            return match self.model.facts.get(fact).map(|f| &f.ty) {
                Some(Ty::Bool) => self.keywords(&["true", "false"]),
                Some(Ty::Scenario) => self.names(Ns::Scenario),
                _ => Vec::new(),
            };
        }
        if stmt.is_empty() || last == "," || stmt.len() >= 3 {
            return self.names(Ns::Fact);
        }
        Vec::new()
    }
}

/// Whether a statement ending in `last` goes on (a list after a comma, an operator).
fn continues(last: &str) -> bool {
    matches!(
        last,
        "," | "and"
            | "or"
            | "not"
            | "=="
            | "="
            | "<"
            | ">"
            | "+"
            | "-"
            | "contains"
            | "in"
            | "via"
            | "allows"
    )
}

/// The block a `{` opens, from the statement before it.
fn opened(outer: &Block, stmt: &[(Tok, &str)]) -> Block {
    let words: Vec<&str> = stmt.iter().map(|(_, w)| *w).collect();
    let first = words.first().copied().unwrap_or("");
    match outer {
        Block::Top => match first {
            "grades" => Block::Grades,
            "classify" => Block::Classify,
            "dataset" => Block::Dataset,
            "scenario" => Block::Scenario,
            "admission" => Block::Admission,
            "exit" | "suspend" | "notice" => Block::Trigger,
            "limits" => Block::Limits,
            "test" => Block::Test,
            "fixture" => Block::Facts,
            "forbid" => Block::Forbid,
            _ => Block::Other,
        },
        Block::Scenario if first == "use" => {
            Block::Fields(words.get(1).map(|s| s.to_string()).unwrap_or_default())
        }
        Block::Test if first == "given" => Block::Facts,
        Block::Test if first == "expect" => {
            Block::Fields(words.get(3).map(|s| s.to_string()).unwrap_or_default())
        }
        _ => Block::Other,
    }
}

fn fact_detail(title: Option<&str>, ty: &Ty) -> String {
    match title {
        Some(t) => format!("{t} · {}", ty.display()),
        None => ty.display(),
    }
}

fn doc(model: &Model, sym: &Symbol) -> Option<String> {
    match sym.ns {
        Ns::Dataset => model.datasets.get(&sym.key).and_then(|d| d.doc.clone()),
        Ns::Scenario => model.scenarios.get(&sym.key).and_then(|d| d.doc.clone()),
        Ns::Action => model.actions.get(&sym.key).and_then(|d| d.doc.clone()),
        Ns::Measure => model.measures.get(&sym.key).and_then(|d| d.doc.clone()),
        Ns::Rule => model.rules.get(&sym.key).and_then(|d| d.doc.clone()),
        Ns::Grade => model
            .grades
            .iter()
            .find(|g| g.name == sym.key)
            .and_then(|g| g.doc.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ide::fixture;

    fn labels(text: &str) -> Vec<String> {
        let (a, file, offset) = fixture::analysis(&[("scenarios/new.charter", text)]);
        complete(&a, file, offset)
            .into_iter()
            .map(|c| c.label)
            .collect()
    }

    fn details(text: &str) -> Vec<(String, Option<String>)> {
        let (a, file, offset) = fixture::analysis(&[("scenarios/new.charter", text)]);
        complete(&a, file, offset)
            .into_iter()
            .map(|c| (c.label, c.detail))
            .collect()
    }

    const HEAD: &str = "scenario 新场景 \"t\" {\n  domain 金融\n  purpose \"p\"\n  term 2026-01-01 .. 2026-12-31\n";

    #[test]
    fn top_level_offers_declaration_keywords() {
        let l = labels("sce$0");
        assert!(
            l.contains(&"scenario".to_string()) && l.contains(&"dataset".to_string()),
            "{l:?}"
        );
    }

    #[test]
    fn after_use_come_datasets_with_titles() {
        let d = details(&format!("{HEAD}  use $0\n}}\n"));
        assert!(
            d.contains(&(
                "tax.enterprise_tax".to_string(),
                Some("企业纳税信息".to_string())
            )),
            "{d:?}"
        );
    }

    #[test]
    fn a_dotted_partial_is_replaced_whole() {
        let (a, file, offset) = fixture::analysis(&[(
            "scenarios/new.charter",
            &format!("{HEAD}  use tax.ent$0\n}}\n"),
        )]);
        let c = complete(&a, file, offset);
        let item = c.iter().find(|c| c.label == "tax.enterprise_tax");
        let replaced = item.map(|c| {
            a.text(file)
                .get(c.replace.range())
                .unwrap_or("")
                .to_string()
        });
        assert_eq!(replaced.as_deref(), Some("tax.ent"));
    }

    #[test]
    fn inside_a_field_list_come_the_datasets_fields_not_yet_listed() {
        let d = details(&format!(
            "{HEAD}  use tax.enterprise_tax {{ credit_code, $0 }} via statistics\n}}\n"
        ));
        let labels: Vec<&str> = d.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(labels, vec!["tax_amount", "legal_rep_id"]);
        assert_eq!(
            d.first().and_then(|(_, t)| t.clone()).as_deref(),
            Some("纳税金额 · L3")
        );
    }

    #[test]
    fn after_via_come_actions_then_after_a_comma_too() {
        let l = labels(&format!(
            "{HEAD}  use tax.enterprise_tax {{ credit_code }} via statistics, $0\n}}\n"
        ));
        assert!(l.contains(&"privacy_compute".to_string()), "{l:?}");
        assert!(!l.contains(&"tax.enterprise_tax".to_string()), "{l:?}");
        let d = details(&format!(
            "{HEAD}  use tax.enterprise_tax {{ credit_code }} via $0\n}}\n"
        ));
        assert!(
            d.contains(&("verify".to_string(), Some("核验".to_string()))),
            "{d:?}"
        );
    }

    #[test]
    fn after_via_the_actions_a_listed_fields_grade_refuses_come_last_and_blocked() {
        let (a, file, offset) = fixture::analysis(&[(
            "scenarios/new.charter",
            &format!("{HEAD}  use tax.enterprise_tax {{ credit_code, tax_amount }} via $0\n}}\n"),
        )]);
        let items = complete(&a, file, offset);
        let blocked = |label: &str| {
            items
                .iter()
                .find(|c| c.label == label)
                .map(|c| c.blocked.clone())
        };
        // `tax_amount` is L3: no `export_result`; `verify` is allowed for both fields.
        assert_eq!(blocked("verify"), Some(None), "{items:?}");
        assert_eq!(
            blocked("export_result"),
            Some(Some("not allowed: `tax_amount` is L3".to_string()))
        );
        let first_blocked = items.iter().position(|c| c.blocked.is_some());
        let last_allowed = items.iter().rposition(|c| c.blocked.is_none());
        assert!(first_blocked > last_allowed, "{items:?}");
        // Without fields listed, nothing is blocked.
        let (a, file, offset) = fixture::analysis(&[(
            "scenarios/new.charter",
            &format!("{HEAD}  use tax.enterprise_tax {{ }} via $0\n}}\n"),
        )]);
        assert!(complete(&a, file, offset)
            .iter()
            .all(|c| c.blocked.is_none()));
    }

    #[test]
    fn statement_keywords_at_the_start_of_a_line_in_a_scenario() {
        let l = labels(&format!("{HEAD}  $0\n}}\n"));
        assert_eq!(l, vec!["domain", "purpose", "term", "require", "use"]);
    }

    #[test]
    fn domains_after_domain() {
        let l = labels("scenario 新场景 \"t\" {\n  domain 金$0\n}\n");
        assert!(l.contains(&"金融".to_string()), "{l:?}");
    }

    #[test]
    fn facts_after_developer_dot_replace_what_follows_the_dot() {
        let (a, file, offset) = fixture::analysis(&[(
            "rules2.charter",
            "exit 违约 \"t\" {\n  when developer.agree$0\n}\n",
        )]);
        let c = complete(&a, file, offset);
        let item = c.iter().find(|c| c.label == "agreement_expires");
        assert_eq!(
            item.and_then(|c| c.detail.clone()).as_deref(),
            Some("授权协议到期日 · date")
        );
        let replaced = item.map(|c| {
            a.text(file)
                .get(c.replace.range())
                .unwrap_or("")
                .to_string()
        });
        assert_eq!(replaced.as_deref(), Some("agree"));
    }

    #[test]
    fn measures_grades_and_expectations() {
        let l = labels("exit 违约 \"t\" {\n  when developer.agreement_breaches > 0\n  measures terminate, $0\n}\n");
        assert!(l.contains(&"revoke".to_string()), "{l:?}");
        let l = labels("classify field {\n  when tags contains \"x\" then $0\n}\n");
        assert_eq!(l, vec!["L1", "L2", "L3", "L4"]);
        let l = labels("test \"t\" {\n  given developer \"d\"\n  expect allow statistics tax.enterprise_tax { credit_code } in $0\n}\n");
        assert!(l.contains(&"普惠金融".to_string()), "{l:?}");
        let l = labels("test \"t\" {\n  expect exit $0\n}\n");
        assert_eq!(l, vec!["协议期满"]);
        let l = labels("test \"t\" {\n  given developer \"d\" { $0 }\n}\n");
        assert!(l.contains(&"agreement_expires".to_string()), "{l:?}");
        let l = labels("test \"t\" {\n  given developer \"d\" { scenarios = [$0] }\n}\n");
        assert!(l.contains(&"普惠金融".to_string()), "{l:?}");
    }
}
