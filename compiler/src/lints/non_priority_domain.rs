//! CH0306 non-priority-domain: a scenario's domain is not among the priority
//! domains that authorized operation supports first (Art. 12).

use crate::diagnostics::{Code, CodeInfo, Diagnostic, Severity};
use crate::lints::{Rule, ScenarioView};

/// Its entry in `CODES`.
pub const INFO: CodeInfo = CodeInfo {
    code: Code::NonPriorityDomain,
    id: "CH0306",
    name: "non-priority-domain",
    severity: Severity::Info,
    configurable: true,
    article: Some("第十二条"),
    summary: "a scenario's domain is not a priority domain",
    doc: include_str!("non_priority_domain.md"),
};

/// The lint.
pub struct NonPriorityDomain;

impl Rule for NonPriorityDomain {
    fn info(&self) -> &'static CodeInfo {
        &INFO
    }

    fn check_scenario(&self, cx: &ScenarioView<'_>, out: &mut Vec<Diagnostic>) {
        let Some((name, info)) = cx.domain else {
            return;
        };
        if info.priority {
            return;
        }
        out.push(
            Diagnostic::new(
                Code::NonPriorityDomain,
                cx.file,
                name.span,
                format!("domain `{}` is not a priority domain", name.text),
            )
            .with_label("not among the priority domains")
            .with_help("Art. 12 lists the domains that authorized operation supports first"),
        );
    }
}
