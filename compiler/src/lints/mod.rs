//! The regulation's lints (CH03xx): one module per lint, one `Rule` trait, one
//! registry ([`RULES`]). Lints read the model and the resolved views the checker
//! hands them (a `use` line, a scenario); they never resolve names themselves.

use crate::diagnostics::{CodeInfo, Diagnostic, FileId};
use crate::sema::model::{DatasetInfo, DomainInfo, FieldInfo, Model, RuleKind};
use crate::syntax::ast::{Name, Scenario, Span, Use};

pub mod consent_required;
pub mod forbidden_action;
pub mod grade_disallows;
pub mod non_priority_domain;
pub mod term_inverted;
pub mod term_too_long;
pub mod wildcard_fields;

/// What a lint over a scenario sees: the scenario as written and its domain as the
/// checker resolved it.
pub struct ScenarioView<'a> {
    /// The file the scenario is in.
    pub file: FileId,
    /// The bundle's model.
    pub model: &'a Model,
    /// The scenario as written.
    pub scenario: &'a Scenario,
    /// Its domain, if it is written and resolved.
    pub domain: Option<(&'a Name, &'a DomainInfo)>,
}

/// What a lint over a `use` line sees: the line as written and its names as
/// the checker resolved them.
pub struct UseView<'a> {
    /// The file the `use` line is in.
    pub file: FileId,
    /// The bundle's model.
    pub model: &'a Model,
    /// The `use` line as written.
    pub line: &'a Use,
    /// The actions that resolved, in the order written.
    pub actions: Vec<&'a Name>,
    /// The dataset, if it resolved.
    pub dataset: Option<&'a DatasetInfo>,
    /// The fields that resolved, each once, with the span that names it (the
    /// `*` for a wildcard).
    pub fields: Vec<(&'a FieldInfo, Span)>,
}

impl UseView<'_> {
    /// Whether an unconditional forbid rule names `action`.
    pub fn is_forbidden_always(&self, action: &str) -> bool {
        self.model.rules.values().any(|r| {
            r.kind == RuleKind::Forbid && r.unconditional && r.actions.iter().any(|a| a == action)
        })
    }
}

/// One lint of the regulation: its facts, and a check for each kind of node it
/// looks at (the others are left empty).
pub trait Rule: Sync {
    /// Its code, name, default level, article and summary.
    fn info(&self) -> &'static CodeInfo;
    /// Its diagnostics for one `use` line, in the order they are reported.
    fn check_use(&self, _cx: &UseView<'_>, _out: &mut Vec<Diagnostic>) {}
    /// Its diagnostics for one scenario, in the order they are reported.
    fn check_scenario(&self, _cx: &ScenarioView<'_>, _out: &mut Vec<Diagnostic>) {}
}

/// Every lint, in the order they run.
pub static RULES: &[&dyn Rule] = &[
    &forbidden_action::ForbiddenAction,
    &wildcard_fields::WildcardFields,
    &grade_disallows::GradeDisallows,
    &consent_required::ConsentRequired,
    &non_priority_domain::NonPriorityDomain,
    &term_inverted::TermInverted,
    &term_too_long::TermTooLong,
];

/// Runs every lint over a `use` line.
pub fn check_use(cx: &UseView<'_>, out: &mut Vec<Diagnostic>) {
    for rule in RULES {
        rule.check_use(cx, out);
    }
}

/// Runs every lint over a scenario.
pub fn check_scenario(cx: &ScenarioView<'_>, out: &mut Vec<Diagnostic>) {
    for rule in RULES {
        rule.check_scenario(cx, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rule_is_listed_once_in_codes() {
        for rule in RULES {
            let info = rule.info();
            let n = crate::diagnostics::CODES
                .iter()
                .filter(|c| c.id == info.id)
                .count();
            assert_eq!(n, 1, "{} must appear once in CODES", info.id);
            assert_eq!(info.code.info().name, info.name);
        }
    }
}
