//! CH0301 forbidden-action: a scope grants an action an unconditional forbid
//! rule names (Art. 4 and any other), so the scope could never work.

use crate::diagnostics::{Code, CodeInfo, Diagnostic, Severity};
use crate::lints::{Rule, UseView};
use crate::sema::model::RuleKind;
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
};

/// The lint.
pub struct ForbiddenAction;

impl Rule for ForbiddenAction {
    fn info(&self) -> &'static CodeInfo {
        &INFO
    }

    fn check_use(&self, cx: &UseView<'_>, out: &mut Vec<Diagnostic>) {
        for a in &cx.actions {
            for (rname, r) in &cx.model.rules {
                if r.kind == RuleKind::Forbid && r.unconditional && r.actions.contains(&a.text) {
                    let is_raw = a.text == "export_raw";
                    let title = r.title.clone().unwrap_or_else(|| rname.clone());
                    let mut d = Diagnostic::new(
                        Code::ForbiddenAction,
                        cx.file,
                        a.span,
                        format!("scope grants `{}`, which `{rname}` always forbids", a.text),
                    )
                    .with_label(format!("forbidden by `{rname}`: {title}"))
                    .with_help(if is_raw {
                        "raw data never leaves the domain; use `privacy_compute`, `sandbox_model`, `statistics` or `verify`".to_string()
                    } else {
                        format!("remove `{}` from the scope", a.text)
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
