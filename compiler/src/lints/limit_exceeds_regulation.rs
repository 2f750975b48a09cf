//! CH0311 limit-exceeds-regulation: a bundle's `limits` set above what the
//! regulation allows (Art. 8: a term of at most three years).

use crate::diagnostics::{Code, CodeInfo, Diagnostic, Severity};
use crate::lints::{LimitView, Rule};
use crate::sema::expr::calendar_term_end;
use crate::syntax::ast::{Date, Duration, DurationUnit};

/// Its entry in `CODES`.
pub const INFO: CodeInfo = CodeInfo {
    code: Code::LimitExceedsRegulation,
    id: "CH0311",
    name: "limit-exceeds-regulation",
    severity: Severity::Error,
    configurable: true,
    article: Some("第八条"),
    summary: "a limit is above what the regulation allows",
    doc: include_str!("limit_exceeds_regulation.md"),
};

/// The lint.
pub struct LimitExceedsRegulation;

impl Rule for LimitExceedsRegulation {
    fn info(&self) -> &'static CodeInfo {
        &INFO
    }

    fn check_limit(&self, cx: &LimitView<'_>, out: &mut Vec<Diagnostic>) {
        let l = cx.stmt;
        if l.key.text != "max_term" {
            return;
        }
        // Measured by the calendar from a fixed day, as a scenario's term is.
        let start = Date {
            year: 2000,
            month: 1,
            day: 1,
        };
        let three = Duration {
            amount: 3,
            unit: DurationUnit::Years,
        };
        if calendar_term_end(start, l.value) > calendar_term_end(start, three) {
            out.push(
                Diagnostic::new(
                    Code::LimitExceedsRegulation,
                    cx.file,
                    l.span,
                    "`max_term` is longer than the regulation's 3 years",
                )
                .with_label("more than 3 years")
                .with_help("授权运营期限一般不超过3年: set `max_term` to 3 years or less"),
            );
        }
    }
}
