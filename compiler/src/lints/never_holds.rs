//! CH0308 never-holds: a well-typed condition that is false for every developer,
//! so the rule it guards never applies.

use crate::diagnostics::{Code, CodeInfo, Diagnostic, Severity};
use crate::lints::{ConditionView, Rule};
use crate::sema::expr::{never_holds, Ty};

/// Its entry in `CODES`.
pub const INFO: CodeInfo = CodeInfo {
    code: Code::NeverHolds,
    id: "CH0308",
    name: "never-holds",
    severity: Severity::Warning,
    configurable: true,
    article: None,
    summary: "a condition can never hold",
    doc: include_str!("never_holds.md"),
};

/// The lint.
pub struct NeverHolds;

impl Rule for NeverHolds {
    fn info(&self) -> &'static CodeInfo {
        &INFO
    }

    fn check_condition(&self, cx: &ConditionView<'_>, out: &mut Vec<Diagnostic>) {
        let model = cx.model;
        let constants = |p: &str| model.limit_value(p);
        let non_negative = |p: &str| {
            p.strip_prefix("developer.")
                .and_then(|f| model.facts.get(f))
                .is_some_and(|f| f.ty == Ty::Nat)
        };
        if never_holds(cx.expr, &constants, &non_negative) {
            out.push(
                Diagnostic::new(
                    Code::NeverHolds,
                    cx.file,
                    cx.expr.span,
                    "condition can never hold",
                )
                .with_label("always false")
                .with_help("this rule never applies; check the comparisons"),
            );
        }
    }
}
