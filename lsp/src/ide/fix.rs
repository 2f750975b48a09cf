//! Code actions: the machine-applicable fix each diagnostic carries (did-you-mean,
//! add `requires consent`, remove a forbidden action, list the fields of a wildcard),
//! and narrowing a wildcard to the fields the bundle's tests use.

use std::collections::BTreeSet;

use charter_compiler::diagnostics::{Code, Diagnostic, FileId};
use charter_compiler::syntax::ast::{Expect, FieldSet, ItemKind, Span};

use super::{Analysis, FileSpan};

/// A code action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Action {
    /// What it does.
    pub title: String,
    /// The diagnostic it resolves.
    pub diagnostic: Diagnostic,
    /// The edits.
    pub edits: Vec<(FileSpan, String)>,
    /// Whether the editor may apply it on its own ("fix all", save actions).
    pub preferred: bool,
}

/// The actions for the diagnostics of `file` that touch `range`.
pub fn actions(a: &Analysis, file: FileId, range: Span) -> Vec<Action> {
    let mut out = Vec::new();
    for d in a.diagnostics(file) {
        if d.span.start > range.end || range.start > d.span.end {
            continue;
        }
        if let Some(fix) = &d.fix {
            out.push(Action {
                title: fix.title.clone(),
                diagnostic: d.clone(),
                edits: vec![(
                    FileSpan {
                        file: d.file,
                        span: fix.span,
                    },
                    fix.replacement.clone(),
                )],
                preferred: d.code != Code::WildcardFields,
            });
        }
        if d.code == Code::WildcardFields {
            if let Some(fields) = fields_tests_use(a, file, d.span) {
                out.push(Action {
                    title: format!("narrow to the fields the tests use: {}", fields.join(", ")),
                    diagnostic: d.clone(),
                    edits: vec![(
                        FileSpan {
                            file: d.file,
                            span: d.span,
                        },
                        fields.join(", "),
                    )],
                    preferred: true,
                });
            }
        }
    }
    out
}

/// For the wildcard at `span`: the fields of its dataset that the bundle's tests ask
/// for in its scenario, in the dataset's order; `None` when no test names any.
fn fields_tests_use(a: &Analysis, file: FileId, span: Span) -> Option<Vec<String>> {
    let (scenario, dataset) = a.items(file).iter().find_map(|item| match &item.kind {
        ItemKind::Scenario(s) => s.uses.iter().find_map(|u| match &u.fields {
            FieldSet::All(w) if *w == span => Some((s.name.text.clone(), u.dataset.text.clone())),
            _ => None,
        }),
        _ => None,
    })?;
    let mut used: BTreeSet<String> = BTreeSet::new();
    for f in a.file_ids() {
        for item in a.items(f) {
            let ItemKind::Test(t) = &item.kind else {
                continue;
            };
            for e in &t.expects {
                if let Expect::Decision(d) = e {
                    if d.scenario.text == scenario && d.dataset.text == dataset {
                        if let Some(FieldSet::Some(names)) = &d.fields {
                            used.extend(names.iter().map(|n| n.text.clone()));
                        }
                    }
                }
            }
        }
    }
    let ds = a.model().datasets.get(&dataset)?;
    let ordered: Vec<String> = ds
        .fields
        .iter()
        .filter(|f| used.contains(&f.name))
        .map(|f| f.name.clone())
        .collect();
    (!ordered.is_empty()).then_some(ordered)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ide::fixture;

    fn apply(text: &str, edits: &[(FileSpan, String)]) -> String {
        let mut out = text.to_string();
        let mut sorted: Vec<&(FileSpan, String)> = edits.iter().collect();
        sorted.sort_by_key(|(fs, _)| std::cmp::Reverse(fs.span.start));
        for (fs, new) in sorted {
            out.replace_range(fs.span.range(), new);
        }
        out
    }

    const HEAD: &str = "scenario 普惠金融 \"t\" {\n  domain 金融\n  purpose \"p\"\n  term 2026-01-01 .. 2028-12-31\n";

    #[test]
    fn did_you_mean_replaces_the_name() {
        let (a, _, _) = fixture::analysis(&[(
            "scenarios/finance.charter",
            &format!("{HEAD}  use tax.enterprise_tax {{ credit_code }} via statistcs\n}}\n"),
        )]);
        let file = a
            .file_id("scenarios/finance.charter")
            .unwrap_or(FileId::PRELUDE);
        let acts = actions(&a, file, Span::new(0, a.text(file).len()));
        assert_eq!(acts.len(), 1, "{acts:?}");
        assert_eq!(acts[0].title, "replace with `statistics`");
        assert!(apply(a.text(file), &acts[0].edits).contains("via statistics\n"));
    }

    #[test]
    fn consent_is_added_at_the_end_of_the_use_line() {
        let (a, _, _) = fixture::analysis(&[(
            "scenarios/finance.charter",
            &format!("{HEAD}  use tax.enterprise_tax {{ tax_amount }} via statistics\n}}\n"),
        )]);
        let file = a
            .file_id("scenarios/finance.charter")
            .unwrap_or(FileId::PRELUDE);
        let acts = actions(&a, file, Span::new(0, a.text(file).len()));
        let consent = acts
            .iter()
            .find(|x| x.diagnostic.code == Code::ConsentRequired);
        let fixed = consent
            .map(|x| apply(a.text(file), &x.edits))
            .unwrap_or_default();
        assert!(
            fixed.contains("via statistics requires consent\n"),
            "{fixed}"
        );
    }

    #[test]
    fn a_wildcard_narrows_to_the_fields_tests_use() {
        let (a, _, _) = fixture::analysis(&[
            (
                "scenarios/finance.charter",
                &format!("{HEAD}  use tax.enterprise_tax {{ * }} via verify requires consent\n}}\n"),
            ),
            (
                "tests.charter",
                "test \"t\" {\n  given developer \"d\" { scenarios = [普惠金融] }\n  at 2026-06-01\n  expect allow verify tax.enterprise_tax { credit_code } in 普惠金融\n}\n",
            ),
        ]);
        let file = a
            .file_id("scenarios/finance.charter")
            .unwrap_or(FileId::PRELUDE);
        let acts = actions(&a, file, Span::new(0, a.text(file).len()));
        let titles: Vec<&str> = acts.iter().map(|x| x.title.as_str()).collect();
        assert_eq!(
            titles,
            vec![
                "list the fields by name",
                "narrow to the fields the tests use: credit_code"
            ]
        );
        assert!(apply(a.text(file), &acts[1].edits).contains("{ credit_code }"));
    }
}
