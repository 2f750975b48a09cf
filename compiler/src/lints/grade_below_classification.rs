//! CH0309 grade-below-classification: a field's explicit grade is lower than the one
//! the classification rules give it (Art. 14: a field is graded by its content, and
//! an author may raise that grade, never lower it).

use crate::diagnostics::{Code, CodeInfo, Diagnostic, Severity};
use crate::lints::{FieldView, Rule};

/// Its entry in `CODES`.
pub const INFO: CodeInfo = CodeInfo {
    code: Code::GradeBelowClassification,
    id: "CH0309",
    name: "grade-below-classification",
    severity: Severity::Error,
    configurable: true,
    article: Some("第十四条"),
    summary: "an explicit grade is lower than the one classification gives",
    doc: include_str!("grade_below_classification.md"),
};

/// The lint.
pub struct GradeBelowClassification;

impl Rule for GradeBelowClassification {
    fn info(&self) -> &'static CodeInfo {
        &INFO
    }

    fn check_field(&self, cx: &FieldView<'_>, out: &mut Vec<Diagnostic>) {
        let (Some(c), Some(e)) = (cx.info.classified, cx.explicit) else {
            return;
        };
        if e >= c {
            return;
        }
        let f = cx.field;
        let cname = cx
            .model
            .grades
            .get(c)
            .map(|g| g.name.clone())
            .unwrap_or_default();
        let span = f.grade.as_ref().map_or(f.name.span, |g| g.span);
        out.push(
            Diagnostic::new(
                Code::GradeBelowClassification,
                cx.file,
                span,
                format!(
                    "field `{}` is graded below its classification `{cname}`",
                    f.name.text
                ),
            )
            .with_label(format!("classification gives `{cname}`"))
            .with_help("a field's grade is the highest of all classification rules that match it; remove the explicit grade or raise it"),
        );
    }
}
