//! Folding ranges: declarations and blocks that span lines, and runs of comments.

use charter_compiler::diagnostics::FileId;
use charter_compiler::syntax::ast::{ItemKind, Span};

use super::tokens::{lex, Tok};
use super::Analysis;

/// What a fold holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FoldKind {
    /// A declaration or a block.
    Region,
    /// Comment lines.
    Comment,
}

/// A range to fold, by byte span (converted to lines by the caller).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fold {
    /// Start to end.
    pub span: Span,
    /// Kind.
    pub kind: FoldKind,
}

/// The folds of a file.
pub fn folds(a: &Analysis, file: FileId) -> Vec<Fold> {
    let text = a.text(file);
    let spans_lines = |s: Span| text.get(s.range()).is_some_and(|t| t.contains('\n'));
    let mut out = Vec::new();
    let mut region = |s: Span| {
        if spans_lines(s) {
            out.push(Fold {
                span: s,
                kind: FoldKind::Region,
            });
        }
    };
    for item in a.items(file) {
        region(item.span);
        match &item.kind {
            ItemKind::Scenario(sc) => {
                sc.uses.iter().for_each(|u| region(u.span));
                sc.requires.iter().for_each(|r| region(r.span));
            }
            ItemKind::Classify(c) => c.arms.iter().for_each(|arm| region(arm.span)),
            ItemKind::Test(t) => t.givens.iter().for_each(|g| region(g.span)),
            _ => {}
        }
    }
    // Runs of two or more comment lines, doc comments included.
    let mut run: Option<(Span, usize)> = None;
    for t in lex(text) {
        let is_comment = matches!(t.kind, Tok::Comment | Tok::Doc);
        match (&mut run, is_comment) {
            (Some((s, n)), true)
                if text
                    .get(s.end as usize..t.span.start as usize)
                    .is_some_and(|gap| gap.trim().is_empty() && gap.matches('\n').count() == 1) =>
            {
                s.end = t.span.end;
                *n += 1;
            }
            _ => {
                if let Some((s, n)) = run.take() {
                    if n > 1 {
                        out.push(Fold {
                            span: s,
                            kind: FoldKind::Comment,
                        });
                    }
                }
                if is_comment {
                    run = Some((t.span, 1));
                }
            }
        }
    }
    if let Some((s, n)) = run {
        if n > 1 {
            out.push(Fold {
                span: s,
                kind: FoldKind::Comment,
            });
        }
    }
    out.sort_by_key(|f| (f.span.start, f.span.end));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ide::fixture;

    #[test]
    fn declarations_blocks_and_comment_runs_fold() {
        let (a, _, _) = fixture::analysis(&[(
            "x.charter",
            "// 一\n// 二\nscenario 甲 \"t\" {\n  domain 金融\n  use tax.enterprise_tax {\n    credit_code\n  } via statistics\n}\naction a \"x\"\n",
        )]);
        let file = a.file_id("x.charter").unwrap_or(FileId::PRELUDE);
        let text = a.text(file);
        let f: Vec<(&str, FoldKind)> = folds(&a, file)
            .into_iter()
            .map(|f| {
                (
                    text.get(f.span.range())
                        .unwrap_or("")
                        .lines()
                        .next()
                        .unwrap_or(""),
                    f.kind,
                )
            })
            .collect();
        assert_eq!(
            f,
            vec![
                ("// 一", FoldKind::Comment),
                ("scenario 甲 \"t\" {", FoldKind::Region),
                ("use tax.enterprise_tax {", FoldKind::Region),
            ]
        );
    }
}
