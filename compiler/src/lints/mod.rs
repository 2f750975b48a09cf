//! The regulation's lints (CH03xx): one module per lint, one `Rule` trait, one
//! registry ([`RULES`]). Lints read the model and the resolved views the checker
//! hands them (a `use` line, a scenario); they never resolve names themselves.

use crate::diagnostics::{CodeInfo, Diagnostic, FileId};
use crate::sema::model::{DatasetInfo, DomainInfo, FieldInfo, Model};
use crate::syntax::ast::{
    Expr, FieldDecl, GradeEntry, LimitStmt, Name, Scenario, Span, Trigger, Use,
};

pub mod consent_required;
pub mod forbidden_action;
pub mod grade_allows_nothing;
pub mod grade_below_classification;
pub mod grade_disallows;
pub mod limit_exceeds_regulation;
pub mod missing_measures;
pub mod never_holds;
pub mod non_priority_domain;
pub mod term_inverted;
pub mod term_too_long;
pub mod wildcard_fields;

/// What a lint over the bundle's grades sees: the entries of its (first) `grades`
/// block; a second block is reported as a duplicate and not linted.
pub struct GradesView<'a> {
    /// The file the block is in.
    pub file: FileId,
    /// The bundle's model.
    pub model: &'a Model,
    /// The grades, as written.
    pub entries: &'a [GradeEntry],
}

/// What a lint over a dataset's field sees: the field as written, as the model has
/// it (its classification), and its explicit grade if that resolved.
pub struct FieldView<'a> {
    /// The file the field is in.
    pub file: FileId,
    /// The bundle's model.
    pub model: &'a Model,
    /// The field as written.
    pub field: &'a FieldDecl,
    /// The field in the model.
    pub info: &'a FieldInfo,
    /// The index of its explicit grade, if it has one that resolved.
    pub explicit: Option<usize>,
}

/// What a lint over an exit, suspend or notice rule sees.
pub struct TriggerView<'a> {
    /// The file the rule is in.
    pub file: FileId,
    /// The bundle's model.
    pub model: &'a Model,
    /// The rule as written.
    pub trigger: &'a Trigger,
}

/// What a lint over one statement of `limits` sees (a key set twice is reported as a
/// duplicate and not linted again).
pub struct LimitView<'a> {
    /// The file the statement is in.
    pub file: FileId,
    /// The bundle's model.
    pub model: &'a Model,
    /// The statement as written.
    pub stmt: &'a LimitStmt,
}

/// What a lint over a condition sees: a condition (of a rule, a requirement or a
/// classification arm) that the checker
/// has typed as `bool` (ill-typed conditions are reported as such and not linted).
pub struct ConditionView<'a> {
    /// The file the condition is in.
    pub file: FileId,
    /// The bundle's model.
    pub model: &'a Model,
    /// The condition.
    pub expr: &'a Expr,
}

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
    /// The span of a declaration anywhere in the bundle, for related labels.
    pub span_of: &'a dyn Fn(crate::sema::model::Loc) -> Option<Span>,
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

/// One lint of the regulation: its facts, and a check for each kind of node it
/// looks at (the others are left empty).
pub trait Rule: Sync {
    /// Its code, name, default level, article and summary.
    fn info(&self) -> &'static CodeInfo;
    /// Its diagnostics for one `use` line, in the order they are reported.
    fn check_use(&self, _cx: &UseView<'_>, _out: &mut Vec<Diagnostic>) {}
    /// Its diagnostics for one scenario, in the order they are reported.
    fn check_scenario(&self, _cx: &ScenarioView<'_>, _out: &mut Vec<Diagnostic>) {}
    /// Its diagnostics for the bundle's grades.
    fn check_grades(&self, _cx: &GradesView<'_>, _out: &mut Vec<Diagnostic>) {}
    /// Its diagnostics for one field of a dataset.
    fn check_field(&self, _cx: &FieldView<'_>, _out: &mut Vec<Diagnostic>) {}
    /// Its diagnostics for one exit, suspend or notice rule.
    fn check_trigger(&self, _cx: &TriggerView<'_>, _out: &mut Vec<Diagnostic>) {}
    /// Its diagnostics for one statement of `limits`.
    fn check_limit(&self, _cx: &LimitView<'_>, _out: &mut Vec<Diagnostic>) {}
    /// Its diagnostics for one well-typed condition.
    fn check_condition(&self, _cx: &ConditionView<'_>, _out: &mut Vec<Diagnostic>) {}
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
    &missing_measures::MissingMeasures,
    &never_holds::NeverHolds,
    &limit_exceeds_regulation::LimitExceedsRegulation,
    &grade_below_classification::GradeBelowClassification,
    &grade_allows_nothing::GradeAllowsNothing,
];

/// Runs `check` with every lint, in registry order: the checker calls it with the
/// hook for the node at hand, e.g. `lints::run(|r| r.check_use(&view, out))`.
pub fn run(mut check: impl FnMut(&dyn Rule)) {
    for rule in RULES {
        check(*rule);
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
