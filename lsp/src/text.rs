//! Positions: byte offsets (what the compiler speaks) to LSP line/character pairs in the
//! negotiated encoding, and back.
//!
//! LSP counts characters in UTF-16 code units unless the client offers UTF-8. Chinese
//! text makes byte, `char` and UTF-16 columns all differ, and an emoji is two UTF-16
//! units but one `char`, so every conversion goes through `line-index`.

use std::borrow::Cow;

use charter_compiler::diagnostics::LineIndex;
use line_index::{LineCol, TextSize, WideEncoding, WideLineCol};
use tower_lsp_server::ls_types::{Position, Range, TextDocumentContentChangeEvent};

use charter_compiler::syntax::ast::Span;

/// The unit LSP columns are counted in, as negotiated at `initialize`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Encoding {
    /// UTF-8 bytes: the client offered `utf-8`.
    Utf8,
    /// UTF-16 code units: the protocol's default.
    #[default]
    Utf16,
}

/// A text with its line index, converting between byte offsets and LSP positions.
///
/// The index is the compiler's (a wrapper over `line-index`), so a request borrows the one
/// the database built for that revision of the file ([`LineMap::with_index`]) and no
/// request indexes a text again; only a text not in the database gets its own.
#[derive(Clone, Debug)]
pub struct LineMap<'t> {
    text: &'t str,
    index: Cow<'t, LineIndex>,
    encoding: Encoding,
}

impl<'t> LineMap<'t> {
    /// Indexes `text`.
    pub fn new(text: &'t str, encoding: Encoding) -> Self {
        LineMap {
            text,
            index: Cow::Owned(LineIndex::new(text)),
            encoding,
        }
    }

    /// The map of `text` over `index`, the index already built for it.
    pub fn with_index(text: &'t str, index: &'t LineIndex, encoding: Encoding) -> Self {
        LineMap {
            text,
            index: Cow::Borrowed(index),
            encoding,
        }
    }

    /// The text.
    pub fn text(&self) -> &'t str {
        self.text
    }

    /// The end of the text as indexed: the text's length, except for a text too long to
    /// index whole, whose index (and so every position) stops short of the end.
    fn end(&self) -> usize {
        self.index.len().min(self.text.len())
    }

    /// The LSP position of a byte offset; offsets past the end or inside a character
    /// are moved back to the nearest character boundary.
    pub fn position(&self, offset: usize) -> Position {
        let index = self.index.as_line_index();
        let mut offset = offset.min(self.end());
        while offset > 0 && !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let size = TextSize::new(u32::try_from(offset).unwrap_or(u32::MAX));
        let Some(lc) = index.try_line_col(size) else {
            return Position::new(0, 0);
        };
        match self.encoding {
            Encoding::Utf8 => Position::new(lc.line, lc.col),
            Encoding::Utf16 => match index.to_wide(WideEncoding::Utf16, lc) {
                Some(w) => Position::new(w.line, w.col),
                None => Position::new(lc.line, 0),
            },
        }
    }

    /// The LSP range of a byte span.
    pub fn range(&self, span: Span) -> Range {
        Range::new(
            self.position(span.start as usize),
            self.position(span.end as usize),
        )
    }

    /// The byte offset of an LSP position, clamped to the end of its line (the protocol
    /// says a character past the end means the end) and to the end of the text.
    pub fn offset(&self, pos: Position) -> usize {
        let index = self.index.as_line_index();
        let Some(line) = index.line(pos.line) else {
            return self.end();
        };
        let line_start = u32::from(line.start()) as usize;
        let line_end = u32::from(line.end()) as usize;
        // The line's range includes its newline; a column never goes past it.
        let content_end = match self.text.get(line_start..line_end) {
            Some(l) if l.ends_with("\r\n") => line_end - 2,
            Some(l) if l.ends_with('\n') => line_end - 1,
            _ => line_end,
        };
        let col = match self.encoding {
            Encoding::Utf8 => pos.character,
            Encoding::Utf16 => index
                .to_utf8(
                    WideEncoding::Utf16,
                    WideLineCol {
                        line: pos.line,
                        col: pos.character,
                    },
                )
                .map(|lc: LineCol| lc.col)
                .unwrap_or(pos.character),
        };
        let mut offset = (line_start + col as usize).min(content_end);
        while offset > line_start && !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        offset
    }

    /// The byte span of an LSP range.
    pub fn span(&self, range: Range) -> Span {
        let start = self.offset(range.start);
        let end = self.offset(range.end).max(start);
        Span::new(start, end)
    }

    /// The length of `s` in the negotiated unit, for semantic tokens.
    pub fn measure(&self, s: &str) -> u32 {
        let n = match self.encoding {
            Encoding::Utf8 => s.len(),
            Encoding::Utf16 => s.encode_utf16().count(),
        };
        u32::try_from(n).unwrap_or(u32::MAX)
    }
}

/// Applies `didChange` content changes in order: a change with a range replaces that
/// range (positions refer to the text as the previous changes left it); one without
/// replaces the whole text.
pub fn apply_changes(
    text: &mut String,
    changes: Vec<TextDocumentContentChangeEvent>,
    encoding: Encoding,
) {
    for change in changes {
        match change.range {
            None => *text = change.text,
            Some(range) => {
                let span = LineMap::new(text, encoding).span(range);
                text.replace_range(span.range(), &change.text);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // "数据" is 6 bytes, 2 chars, 2 UTF-16 units; "🙂" is 4 bytes, 1 char, 2 UTF-16 units.
    const TEXT: &str = "scenario 数据🙂 {\n  domain 金融\n}\n";

    #[test]
    fn utf16_positions_count_code_units() {
        let m = LineMap::new(TEXT, Encoding::Utf16);
        let brace = TEXT.find('{').unwrap_or(0);
        assert_eq!(m.position(brace), Position::new(0, 14));
        assert_eq!(m.offset(Position::new(0, 14)), brace);
        let fin = TEXT.find("金融").unwrap_or(0);
        assert_eq!(m.position(fin), Position::new(1, 9));
        assert_eq!(m.offset(Position::new(1, 9)), fin);
        assert_eq!(m.position(fin + "金融".len()), Position::new(1, 11));
    }

    #[test]
    fn utf8_positions_count_bytes() {
        let m = LineMap::new(TEXT, Encoding::Utf8);
        let brace = TEXT.find('{').unwrap_or(0);
        assert_eq!(m.position(brace), Position::new(0, brace as u32));
        assert_eq!(m.offset(Position::new(0, brace as u32)), brace);
    }

    #[test]
    fn offsets_clamp_to_the_line_and_to_characters() {
        let m = LineMap::new(TEXT, Encoding::Utf16);
        // Past the end of line 1: the end of its content, before the newline.
        let end1 = TEXT.find("\n}").unwrap_or(0);
        assert_eq!(m.offset(Position::new(1, 99)), end1);
        // Past the last line: the end of the text.
        assert_eq!(m.offset(Position::new(99, 0)), TEXT.len());
        // Inside a character: back to its start.
        let emoji = TEXT.find('🙂').unwrap_or(0);
        assert_eq!(m.position(emoji + 1), m.position(emoji));
    }

    #[test]
    fn four_byte_characters_are_surrogate_pairs_in_utf16() {
        // "🙂" and "𠀀" (U+20000, a Chinese character outside the BMP) are 4 bytes, one
        // `char` and two UTF-16 units each.
        let text = "🙂a\n  𠀀b 数\n";
        let b = text.find('b').unwrap_or(0);
        let index = LineIndex::new(text);
        for m in [
            LineMap::new(text, Encoding::Utf16),
            LineMap::with_index(text, &index, Encoding::Utf16),
        ] {
            assert_eq!(m.position(0), Position::new(0, 0));
            assert_eq!(m.position(4), Position::new(0, 2));
            // Inside the emoji: back to its start, whichever byte.
            for inside in 1..4 {
                assert_eq!(m.position(inside), Position::new(0, 0));
            }
            assert_eq!(m.position(b), Position::new(1, 4));
            assert_eq!(m.position(b + 2), Position::new(1, 6));
            assert_eq!(m.offset(Position::new(0, 2)), 4);
            assert_eq!(m.offset(Position::new(1, 4)), b);
            assert_eq!(m.offset(Position::new(1, 2)), b - 4);
            // Between the two units of a pair: the character's start, never inside it.
            assert_eq!(m.offset(Position::new(0, 1)), 0);
            assert_eq!(m.offset(Position::new(1, 3)), b - 4);
            assert_eq!(m.position(text.len()), Position::new(2, 0));
        }
        let m = LineMap::with_index(text, &index, Encoding::Utf8);
        assert_eq!(m.position(b), Position::new(1, 6));
        assert_eq!(m.offset(Position::new(1, 6)), b);
        assert_eq!(m.offset(Position::new(1, 3)), b - 4);
    }

    #[test]
    fn incremental_changes_apply_in_order() {
        let mut text = String::from("domain 金融\n");
        apply_changes(
            &mut text,
            vec![
                TextDocumentContentChangeEvent {
                    range: Some(Range::new(Position::new(0, 7), Position::new(0, 9))),
                    range_length: None,
                    text: "信用🙂".into(),
                },
                TextDocumentContentChangeEvent {
                    range: Some(Range::new(Position::new(0, 11), Position::new(0, 11))),
                    range_length: None,
                    text: " priority".into(),
                },
            ],
            Encoding::Utf16,
        );
        assert_eq!(text, "domain 信用🙂 priority\n");
    }
}
