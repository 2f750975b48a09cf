//! CH0304 consent-required: personal information and trade secrets, or a
//! grade whose rule requires consent, used without `requires consent` (Art. 20).

use crate::diagnostics::{Code, CodeInfo, Diagnostic, Severity};
use crate::lints::{Rule, UseView};
use crate::syntax::ast::Span;

/// Its entry in `CODES`.
pub const INFO: CodeInfo = CodeInfo {
    code: Code::ConsentRequired,
    id: "CH0304",
    name: "consent-required",
    severity: Severity::Error,
    configurable: true,
    article: Some("第二十条"),
    summary: "personal information or trade secrets used without `requires consent`",
    doc: include_str!("consent_required.md"),
};

/// The lint.
pub struct ConsentRequired;

impl Rule for ConsentRequired {
    fn info(&self) -> &'static CodeInfo {
        &INFO
    }

    fn check_use(&self, cx: &UseView<'_>, out: &mut Vec<Diagnostic>) {
        let m = cx.model;
        let u = cx.line;
        if u.requires_consent.is_some() {
            return;
        }
        let end = Span::new(u.span.end as usize, u.span.end as usize);
        let protected: Vec<(&str, &str, Span)> = cx
            .fields
            .iter()
            .filter_map(|(f, span)| {
                f.tags
                    .iter()
                    .find(|t| m.consent_tags.contains(*t))
                    .map(|t| (f.name.as_str(), t.as_str(), *span))
            })
            .collect();
        if let Some((fname, tag, span)) = protected.first() {
            let article = m.consent.as_ref().and_then(|(_, a)| a.clone());
            let mut d = Diagnostic::new(
                Code::ConsentRequired,
                cx.file,
                *span,
                format!("field `{fname}` is tagged `{tag}` but the scope does not require consent"),
            )
            .with_label(format!("tagged `{tag}`"))
            .with_help(
                "add `requires consent` to the `use` line: the data subject must authorize this use",
            )
            .with_article(article)
            .with_fix("add `requires consent`", end, " requires consent");
            for (_, _, s) in protected.iter().skip(1) {
                d = d.with_related(cx.file, *s, "also protected");
            }
            out.push(d);
        } else if let Some((f, span, gname, article)) = cx.fields.iter().find_map(|(f, span)| {
            // A grade whose rule requires consent for one of these actions: the
            // scope can only ever work with consent, so it must say so.
            let g = f.grade?;
            let gname = &m.grades.get(g)?.name;
            let rule = m.grade_rules.get(gname).filter(|r| r.requires_consent)?;
            cx.actions
                .iter()
                .any(|a| rule.allows.contains(&a.text))
                .then(|| (f, *span, gname.clone(), rule.article.clone()))
        }) {
            out.push(
                Diagnostic::new(
                    Code::ConsentRequired,
                    cx.file,
                    span,
                    format!("field `{}` is graded `{gname}`, whose use requires consent, but the scope does not require consent", f.name),
                )
                .with_label(format!("grade `{gname}` requires consent"))
                .with_help("add `requires consent` to the `use` line: without consent every request is denied")
                .with_article(article)
                .with_fix("add `requires consent`", end, " requires consent"),
            );
        }
    }
}
