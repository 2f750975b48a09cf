//! CH0307 missing-measures: an exit or suspend rule that says when it fires but not
//! what must then be done (Art. 30 for suspension, Art. 32 for exit).

use crate::diagnostics::{Code, CodeInfo, Diagnostic, Severity};
use crate::lints::{Rule, TriggerView};
use crate::syntax::ast::TriggerKind;

/// Its entry in `CODES`.
pub const INFO: CodeInfo = CodeInfo {
    code: Code::MissingMeasures,
    id: "CH0307",
    name: "missing-measures",
    severity: Severity::Warning,
    configurable: true,
    article: Some("第三十二条"),
    summary: "an exit or suspend rule names no measures",
    doc: include_str!("missing_measures.md"),
};

/// The lint.
pub struct MissingMeasures;

impl Rule for MissingMeasures {
    fn info(&self) -> &'static CodeInfo {
        &INFO
    }

    fn check_trigger(&self, cx: &TriggerView<'_>, out: &mut Vec<Diagnostic>) {
        let t = cx.trigger;
        if t.kind == TriggerKind::Notice || !t.measures.is_empty() {
            return;
        }
        let (article, help) = if t.kind == TriggerKind::Exit {
            (
                "第三十二条",
                "say what must be done: `measures terminate, revoke, delist, destroy`",
            )
        } else {
            (
                "第三十条",
                "say what must be done: `measures suspend, rectify`",
            )
        };
        out.push(
            Diagnostic::new(
                Code::MissingMeasures,
                cx.file,
                t.name.span,
                format!(
                    "{} rule `{}` names no measures",
                    t.kind.keyword(),
                    t.name.text
                ),
            )
            .with_label("no `measures` statement")
            .with_help(help)
            .with_article(Some(article.to_string())),
        );
    }
}
