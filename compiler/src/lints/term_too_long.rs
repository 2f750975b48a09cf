//! CH0302 term-too-long: a scenario's term lasts longer than `limits.max_term`,
//! measured by the calendar (Art. 8: at most three years).

use crate::diagnostics::{Code, CodeInfo, Diagnostic, Severity};
use crate::lints::{Rule, ScenarioView};
use crate::sema::expr::{calendar_term_end, date_of_day, day_number};
use crate::syntax::ast::DurationUnit;

/// Its entry in `CODES`.
pub const INFO: CodeInfo = CodeInfo {
    code: Code::TermTooLong,
    id: "CH0302",
    name: "term-too-long",
    severity: Severity::Error,
    configurable: true,
    article: Some("第八条"),
    summary: "a scenario's term is longer than limits.max_term",
    doc: include_str!("term_too_long.md"),
};

/// The lint.
pub struct TermTooLong;

impl Rule for TermTooLong {
    fn info(&self) -> &'static CodeInfo {
        &INFO
    }

    fn check_scenario(&self, cx: &ScenarioView<'_>, out: &mut Vec<Diagnostic>) {
        let Some(t) = cx.scenario.term.as_ref().filter(|t| t.valid) else {
            return;
        };
        let (start, end) = (day_number(t.start), day_number(t.end));
        let d = cx.model.limits.max_term;
        // An inverted term is CH0310's; a `max_term` that is not positive is reported
        // where it is written (CH0002): measuring terms against it would only add noise.
        if end < start || d.amount <= 0 {
            return;
        }
        let max = calendar_term_end(t.start, d);
        if end <= max {
            return;
        }
        let unit = match d.unit {
            DurationUnit::Days => "day",
            DurationUnit::Months => "month",
            DurationUnit::Years => "year",
        };
        let last = date_of_day(max);
        out.push(
            Diagnostic::new(
                Code::TermTooLong,
                cx.file,
                t.span,
                format!(
                    "term of scenario `{}` is longer than {}",
                    cx.scenario.name.text,
                    plural(d.amount, unit, "")
                ),
            )
            .with_label(plural(end.saturating_sub(max), "day", "after the limit"))
            .with_help(format!(
                "the term may last until {:04}-{:02}-{:02} at the latest (`limits.max_term`)",
                last.year, last.month, last.day
            )),
        );
    }
}

fn plural(n: i64, unit: &str, rest: &str) -> String {
    let s = if n == 1 { "" } else { "s" };
    format!("{n} {unit}{s} {rest}").trim_end().to_string()
}
