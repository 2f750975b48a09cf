//! CH0303 grade-disallows: a field is used through an action its grade does
//! not allow (Art. 14), so the permission could never work.

use crate::diagnostics::{Code, CodeInfo, Diagnostic, Severity};
use crate::lints::{Rule, UseView};

/// Its entry in `CODES`.
pub const INFO: CodeInfo = CodeInfo {
    code: Code::GradeDisallows,
    id: "CH0303",
    name: "grade-disallows",
    severity: Severity::Error,
    configurable: true,
    article: Some("第十四条"),
    summary: "a scope grants an action that a field's grade does not allow",
    doc: include_str!("grade_disallows.md"),
};

/// The lint.
pub struct GradeDisallows;

impl Rule for GradeDisallows {
    fn info(&self) -> &'static CodeInfo {
        &INFO
    }

    fn check_use(&self, cx: &UseView<'_>, out: &mut Vec<Diagnostic>) {
        let m = cx.model;
        for (f, span) in &cx.fields {
            let Some(g) = f.grade else { continue };
            let allowed = m.allowed_by_grade(g);
            let gname = m.grades.get(g).map(|x| x.name.clone()).unwrap_or_default();
            // An action a rule always forbids is CH0301's, not the grade's.
            let bad: Vec<&str> = cx
                .actions
                .iter()
                .map(|a| a.text.as_str())
                .filter(|a| !allowed.iter().any(|x| x == a))
                .filter(|a| !cx.model.is_forbidden_always(a))
                .collect();
            if !bad.is_empty() {
                let article = m.grade_rules.get(&gname).and_then(|r| r.article.clone());
                let mut d = Diagnostic::new(
                    Code::GradeDisallows,
                    cx.file,
                    *span,
                    format!(
                        "field `{}` is graded `{gname}`, which does not allow `{}`",
                        f.name,
                        bad.join("`, `")
                    ),
                )
                .with_label(format!("grade `{gname}`"))
                .with_help(if allowed.is_empty() {
                    format!("grade `{gname}` allows no action")
                } else {
                    format!("grade `{gname}` allows: {}", allowed.join(", "))
                })
                .with_article(article);
                // Say why the field has this grade: the classification arm that set it,
                // or the field's own `grade`, and where the grade's actions are listed.
                let explicit = f.explicit_grade.as_deref().and_then(|e| m.grade_index(e));
                let why = if explicit == Some(g) && f.classified != Some(g) {
                    Some((
                        f.loc,
                        format!("`{}` is declared `grade {gname}` here", f.name),
                    ))
                } else {
                    f.set_by.and_then(|i| m.arms.get(i)).map(|arm| {
                        (
                            arm.loc,
                            format!("this rule classifies `{}` as `{gname}`", f.name),
                        )
                    })
                };
                if let Some((loc, text)) = why {
                    if let Some(span) = (cx.span_of)(loc) {
                        d = d.with_related(loc.file, span, text);
                    }
                }
                if let Some(r) = m.grade_rules.get(&gname) {
                    if let Some(span) = (cx.span_of)(r.loc) {
                        d = d.with_related(r.loc.file, span, format!("the actions of `{gname}`"));
                    }
                }
                out.push(d);
            }
        }
    }
}
