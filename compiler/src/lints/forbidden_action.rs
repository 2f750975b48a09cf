//! CH0301 forbidden-action: a scope grants an action an unconditional forbid
//! rule names (Art. 4 and any other), so the scope could never work.

use crate::diagnostics::{Code, CodeInfo, Diagnostic, Severity};
use crate::lints::{Rule, UseView};
use crate::syntax::ast::{Name, Span};

/// Its entry in `CODES`.
pub const INFO: CodeInfo = CodeInfo {
    code: Code::ForbiddenAction,
    id: "CH0301",
    name: "forbidden-action",
    severity: Severity::Error,
    configurable: true,
    article: Some("第四条"),
    summary: "a scope grants an action that a rule always forbids, such as export_raw",
    doc: include_str!("forbidden_action.md"),
};

/// The lint.
pub struct ForbiddenAction;

impl Rule for ForbiddenAction {
    fn info(&self) -> &'static CodeInfo {
        &INFO
    }

    fn check_use(&self, cx: &UseView<'_>, out: &mut Vec<Diagnostic>) {
        for a in &cx.actions {
            for (rname, r) in cx.model.forbidding_always(&a.text) {
                let title = r.title.clone().unwrap_or_else(|| rname.clone());
                let mut d = Diagnostic::new(
                    Code::ForbiddenAction,
                    cx.file,
                    a.span,
                    format!("scope grants `{}`, which `{rname}` always forbids", a.text),
                )
                .with_label(format!("forbidden by `{rname}`: {title}"))
                .with_help(match instead(cx).as_slice() {
                    [] => format!("remove `{}` from the scope", a.text),
                    ok => format!(
                        "remove `{}`; the grades of these fields allow `{}`",
                        a.text,
                        ok.join("`, `")
                    ),
                });
                // The article is the forbidding rule's own, or none.
                d.article = r.article.clone();
                if let Some(fix) = remove_from_list(&cx.line.actions, a) {
                    d = d.with_fix(format!("remove `{}`", a.text), fix.0, fix.1);
                }
                out.push(d);
            }
        }
    }
}

/// What the scope could grant instead: the actions every field of the scope's grade
/// allows and no rule always forbids, in the order the first grade lists them. Read
/// from the bundle's own rules (for the prelude: `export_raw` is forbidden, so the help
/// names the in-domain actions), not from any action's name.
fn instead<'a>(cx: &UseView<'a>) -> Vec<&'a str> {
    let mut grades = cx.fields.iter().filter_map(|(f, _)| f.grade);
    let Some(first) = grades.next() else {
        return Vec::new();
    };
    let rest: Vec<usize> = grades.collect();
    cx.model
        .allowed_by_grade(first)
        .iter()
        .map(String::as_str)
        .filter(|a| {
            rest.iter()
                .all(|g| cx.model.allowed_by_grade(*g).iter().any(|x| x == a))
        })
        .filter(|a| !cx.model.is_forbidden_always(a))
        .collect()
}

/// The edit that removes `item` from a comma-separated list, with its comma;
/// none when it is the only entry (the list may not be empty).
fn remove_from_list(list: &[Name], item: &Name) -> Option<(Span, String)> {
    if list.len() < 2 {
        return None;
    }
    let pos = list.iter().position(|n| n.span == item.span)?;
    let span = if pos + 1 < list.len() {
        Span::new(
            item.span.start as usize,
            list.get(pos + 1)?.span.start as usize,
        )
    } else {
        Span::new(list.get(pos - 1)?.span.end as usize, item.span.end as usize)
    };
    Some((span, String::new()))
}
