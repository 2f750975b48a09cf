//! Formatting through the compiler's formatter (`charter fmt`), as one edit that
//! replaces only the part of the file that changes, so the cursor and the undo history
//! stay where they were around it.

use charter_compiler::diagnostics::FileId;
use charter_compiler::format::format_source;
use charter_compiler::syntax::ast::Span;

use super::Analysis;

/// The edit that formats `file`: `None` when it is already formatted, does not parse
/// (the formatter leaves such a file alone), or is not a `.charter` file of the bundle.
pub fn format(a: &Analysis, file: FileId) -> Option<(Span, String)> {
    if file == FileId::PRELUDE || file == FileId::MANIFEST {
        return None;
    }
    let text = a.text(file);
    let out = format_source(a.path(file), text).ok()?;
    minimal_edit(text, &out)
}

/// The smallest single replacement that turns `old` into `new`, on character
/// boundaries; `None` when they are equal.
pub fn minimal_edit(old: &str, new: &str) -> Option<(Span, String)> {
    if old == new {
        return None;
    }
    let mut prefix = old
        .bytes()
        .zip(new.bytes())
        .take_while(|(a, b)| a == b)
        .count();
    while !old.is_char_boundary(prefix) || !new.is_char_boundary(prefix) {
        prefix -= 1;
    }
    let max_suffix = old.len().min(new.len()) - prefix;
    let mut suffix = old
        .bytes()
        .rev()
        .zip(new.bytes().rev())
        .take(max_suffix)
        .take_while(|(a, b)| a == b)
        .count();
    while !old.is_char_boundary(old.len() - suffix) || !new.is_char_boundary(new.len() - suffix) {
        suffix -= 1;
    }
    let replacement = new.get(prefix..new.len() - suffix)?.to_string();
    Some((Span::new(prefix, old.len() - suffix), replacement))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ide::fixture;

    fn apply(old: &str, edit: &Option<(Span, String)>) -> String {
        let mut s = old.to_string();
        if let Some((span, text)) = edit {
            s.replace_range(span.range(), text);
        }
        s
    }

    #[test]
    fn the_edit_covers_only_what_changes_and_respects_characters() {
        let cases = [
            ("domain 金融\n", "domain  金融\n"),
            ("a 金融 b", "a 金鱼 b"),
            ("x", "x\n"),
            ("同\n", "同"),
            ("abc", "abc"),
        ];
        for (old, new) in cases {
            let edit = minimal_edit(old, new);
            assert_eq!(apply(old, &edit), new, "{old:?} → {new:?}");
        }
        assert_eq!(
            minimal_edit("a 金融 b", "a 金鱼 b").map(|(s, t)| (s.range(), t)),
            Some((5..8, "鱼".to_string()))
        );
    }

    #[test]
    fn formats_a_file_and_leaves_broken_ones_alone() {
        let (a, _, _) = fixture::analysis(&[
            ("x.charter", "action   a   \"甲\"\n"),
            ("y.charter", "action {\n"),
        ]);
        let x = a.file_id("x.charter").unwrap_or(FileId::PRELUDE);
        let edit = format(&a, x);
        assert_eq!(apply(a.text(x), &edit), "action a \"甲\"\n");
        let y = a.file_id("y.charter").unwrap_or(FileId::PRELUDE);
        assert_eq!(format(&a, y), None);
    }
}
