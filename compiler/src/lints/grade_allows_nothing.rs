//! CH0312 grade-allows-nothing: a grade with no `grade … allows` rule, so no field
//! of that grade can ever be used.

use crate::diagnostics::{Code, CodeInfo, Diagnostic, Severity};
use crate::lints::{GradesView, Rule};

/// Its entry in `CODES`.
pub const INFO: CodeInfo = CodeInfo {
    code: Code::GradeAllowsNothing,
    id: "CH0312",
    name: "grade-allows-nothing",
    severity: Severity::Warning,
    configurable: true,
    article: None,
    summary: "a grade has no `grade … allows` rule, so its fields can never be used",
    doc: include_str!("grade_allows_nothing.md"),
};

/// The lint.
pub struct GradeAllowsNothing;

impl Rule for GradeAllowsNothing {
    fn info(&self) -> &'static CodeInfo {
        &INFO
    }

    fn check_grades(&self, cx: &GradesView<'_>, out: &mut Vec<Diagnostic>) {
        for e in cx.entries {
            if cx.model.grade_rules.contains_key(&e.name.text) {
                continue;
            }
            out.push(
                Diagnostic::new(
                    Code::GradeAllowsNothing,
                    cx.file,
                    e.name.span,
                    format!("grade `{}` allows no action", e.name.text),
                )
                .with_label("no `grade … allows` rule for this grade")
                .with_help(format!(
                    "add `grade {} allows …` or its fields can never be used",
                    e.name.text
                )),
            );
        }
    }
}
