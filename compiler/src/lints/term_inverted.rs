//! CH0310 term-inverted: a scenario's term ends before it starts.

use crate::diagnostics::{Code, CodeInfo, Diagnostic, Severity};
use crate::lints::{Rule, ScenarioView};
use crate::sema::expr::day_number;

/// Its entry in `CODES`.
pub const INFO: CodeInfo = CodeInfo {
    code: Code::TermInverted,
    id: "CH0310",
    name: "term-inverted",
    severity: Severity::Error,
    configurable: false,
    article: None,
    summary: "a term ends before it starts",
    doc: include_str!("term_inverted.md"),
};

/// The lint.
pub struct TermInverted;

impl Rule for TermInverted {
    fn info(&self) -> &'static CodeInfo {
        &INFO
    }

    fn check_scenario(&self, cx: &ScenarioView<'_>, out: &mut Vec<Diagnostic>) {
        // An invalid date is reported where it is written (CH0002).
        let Some(t) = cx.scenario.term.as_ref().filter(|t| t.valid) else {
            return;
        };
        if day_number(t.end) < day_number(t.start) {
            out.push(
                Diagnostic::new(
                    Code::TermInverted,
                    cx.file,
                    t.span,
                    "term ends before it starts",
                )
                .with_label("the last day is before the first")
                .with_help("write the first day, then `..`, then the last day"),
            );
        }
    }
}
