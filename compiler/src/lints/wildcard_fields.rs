//! CH0305 wildcard-fields: a scope takes every field of a dataset instead of
//! the minimum necessary (Art. 15).

use crate::diagnostics::{Code, CodeInfo, Diagnostic, Severity};
use crate::lints::{Rule, UseView};
use crate::syntax::ast::FieldSet;

/// Its entry in `CODES`.
pub const INFO: CodeInfo = CodeInfo {
    code: Code::WildcardFields,
    id: "CH0305",
    name: "wildcard-fields",
    severity: Severity::Warning,
    configurable: true,
    article: Some("第十五条"),
    summary: "a scope takes every field of a dataset instead of the minimum necessary",
    doc: include_str!("wildcard_fields.md"),
};

/// The lint.
pub struct WildcardFields;

impl Rule for WildcardFields {
    fn info(&self) -> &'static CodeInfo {
        &INFO
    }

    fn check_use(&self, cx: &UseView<'_>, out: &mut Vec<Diagnostic>) {
        let (FieldSet::All(span), Some(ds)) = (&cx.line.fields, cx.dataset) else {
            return;
        };
        let listed: Vec<&str> = ds.fields.iter().map(|f| f.name.as_str()).collect();
        out.push(
            Diagnostic::new(
                Code::WildcardFields,
                cx.file,
                *span,
                format!("scope takes every field of `{}`", cx.line.dataset.text),
            )
            .with_label("all fields")
            .with_help(
                "use only the fields the scenario needs (minimum necessary): list them by name",
            )
            .with_fix("list the fields by name", *span, listed.join(", ")),
        );
    }
}
