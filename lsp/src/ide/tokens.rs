//! Editor tokens, read from the grammar's own token stream, and semantic tokens built
//! from them and from the occurrence index.
//!
//! The compiler's parser works per declaration and gives up on a broken one; an editor
//! needs words, strings and comments even in text that does not parse yet. The
//! grammar's lexer ([`charter_compiler::syntax::lex`]) never fails, so this module only
//! groups its kinds into the few an editor cares about.

use charter_compiler::diagnostics::FileId;
use charter_compiler::sema::model::Ns;
use charter_compiler::syntax::ast::Span;
use charter_compiler::syntax::TokenKind;

use charter_compiler::syntax::lexer::KEYWORDS;

use super::occurrences::{file_occurrences, Symbol};
use super::Analysis;

/// The kind of a lexical token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tok {
    /// A word: identifier or keyword.
    Word,
    /// A string literal, quotes included (or to the end of its line when unclosed).
    Str,
    /// A number or a date.
    Num,
    /// `//` comment.
    Comment,
    /// `///` doc comment.
    Doc,
    /// Punctuation, or a character that starts no token.
    Punct,
}

/// A token and its byte span.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token {
    /// Kind.
    pub kind: Tok,
    /// Where.
    pub span: Span,
}

/// The type names of `fact` declarations.
pub const TYPES: &[&str] = &[
    "bool", "int", "nat", "string", "date", "duration", "scenario",
];

/// Duration units, which follow a number.
const UNITS: &[&str] = &[
    "days", "day", "months", "month", "years", "year", "天", "日", "个月", "月", "年",
];

/// Cuts `text` into tokens with the grammar's lexer; whitespace is dropped.
pub fn lex(text: &str) -> Vec<Token> {
    charter_compiler::syntax::lex(text)
        .into_iter()
        .filter_map(|t| {
            let kind = match t.kind {
                TokenKind::Whitespace => return None,
                TokenKind::Comment => Tok::Comment,
                TokenKind::Doc => Tok::Doc,
                TokenKind::Keyword | TokenKind::Ident => Tok::Word,
                TokenKind::String | TokenKind::UnclosedString => Tok::Str,
                TokenKind::Number | TokenKind::Date => Tok::Num,
                TokenKind::Punct | TokenKind::Error => Tok::Punct,
            };
            Some(Token { kind, span: t.span })
        })
        .collect()
}

/// The semantic token types, in legend order.
pub const TOKEN_TYPES: &[&str] = &[
    "keyword",
    "string",
    "number",
    "comment",
    "operator",
    "namespace",
    "property",
    "enumMember",
    "function",
    "method",
    "event",
    "class",
    "enum",
    "variable",
    "type",
];

/// The semantic token modifiers, in legend order.
pub const TOKEN_MODIFIERS: &[&str] = &["declaration", "documentation", "defaultLibrary"];

/// A semantic token: span, index into [`TOKEN_TYPES`], bitset over [`TOKEN_MODIFIERS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SemanticToken {
    /// Where (never across a line).
    pub span: Span,
    /// Token type.
    pub kind: u32,
    /// Modifiers.
    pub modifiers: u32,
}

const KEYWORD: u32 = 0;
const STRING: u32 = 1;
const NUMBER: u32 = 2;
const COMMENT: u32 = 3;
const OPERATOR: u32 = 4;
const VARIABLE: u32 = 13;
const TYPE: u32 = 14;
const DECLARATION: u32 = 1;
const DOCUMENTATION: u32 = 2;
const DEFAULT_LIBRARY: u32 = 4;

fn symbol_kind(symbol: &Symbol) -> u32 {
    match symbol.ns {
        Ns::Dataset => 5,
        Ns::Field | Ns::Fact => 6,
        Ns::Grade | Ns::GradeRule => 7,
        Ns::Action => 8,
        Ns::Measure => 9,
        Ns::Rule => 10,
        Ns::Scenario => 11,
        Ns::Domain => 12,
        Ns::Fixture | Ns::Test => STRING,
        _ => KEYWORD,
    }
}

/// The semantic tokens of a file, sorted and without overlaps.
pub fn semantic_tokens(a: &Analysis, file: FileId) -> Vec<SemanticToken> {
    let text = a.text(file);
    let model = a.model();
    let occurrences = file_occurrences(a, file);
    let mut out: Vec<SemanticToken> = Vec::new();
    let mut occ = occurrences.iter().peekable();
    let lexed = lex(text);
    let mut prev: Option<Token> = None;
    for (i, t) in lexed.iter().enumerate() {
        // Names the index knows win over what the lexer guesses; a dotted name such as
        // `tax.enterprise_tax` is one occurrence over several lexer tokens.
        while occ.peek().is_some_and(|o| o.span.end <= t.span.start) {
            if let Some(o) = occ.next() {
                let mut modifiers = if o.decl { DECLARATION } else { 0 };
                if o.symbol
                    .loc(model)
                    .is_some_and(|l| l.file == FileId::PRELUDE)
                {
                    modifiers |= DEFAULT_LIBRARY;
                }
                out.push(SemanticToken {
                    span: o.span,
                    kind: symbol_kind(&o.symbol),
                    modifiers,
                });
            }
        }
        if occ
            .peek()
            .is_some_and(|o| o.span.start <= t.span.start && t.span.end <= o.span.end)
        {
            prev = Some(*t);
            continue;
        }
        let word = text.get(t.span.range()).unwrap_or("");
        let next = lexed.get(i + 1);
        let followed_by_dot = next
            .is_some_and(|n| n.span.start == t.span.end && text.get(n.span.range()) == Some("."));
        let after_dot = prev
            .is_some_and(|p| p.span.end == t.span.start && text.get(p.span.range()) == Some("."));
        let (kind, modifiers) = match t.kind {
            Tok::Comment => (COMMENT, 0),
            Tok::Doc => (COMMENT, DOCUMENTATION),
            Tok::Str => (STRING, 0),
            Tok::Num => (NUMBER, 0),
            Tok::Punct => match word {
                "=" | "<" | ">" | "!" | "+" | "-" | "*" | "." => {
                    if word == "." {
                        prev = Some(*t);
                        continue;
                    }
                    (OPERATOR, 0)
                }
                _ => {
                    prev = Some(*t);
                    continue;
                }
            },
            Tok::Word => {
                let after_number = prev.is_some_and(|p| p.kind == Tok::Num);
                if after_number && UNITS.contains(&word) {
                    (NUMBER, 0)
                } else if followed_by_dot || after_dot || matches!(word, "now" | "tags" | "name") {
                    (VARIABLE, DEFAULT_LIBRARY)
                } else if KEYWORDS.contains(&word) {
                    (KEYWORD, 0)
                } else if TYPES.contains(&word) {
                    (TYPE, DEFAULT_LIBRARY)
                } else if UNITS.contains(&word) {
                    (NUMBER, 0)
                } else {
                    (VARIABLE, 0)
                }
            }
        };
        out.push(SemanticToken {
            span: t.span,
            kind,
            modifiers,
        });
        prev = Some(*t);
    }
    for o in occ {
        out.push(SemanticToken {
            span: o.span,
            kind: symbol_kind(&o.symbol),
            modifiers: if o.decl { DECLARATION } else { 0 },
        });
    }
    out.sort_by_key(|t| (t.span.start, t.span.end));
    out.dedup_by(|b, a| b.span.start < a.span.end);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ide::fixture;

    #[test]
    fn lexes_chinese_words_dates_strings_and_comments() {
        let text = "/// 文档\nterm 2026-01-01 .. 2028-12-31 // 注释\nuse 普惠金融 \"标题\\\"\"";
        let kinds: Vec<(Tok, &str)> = lex(text)
            .into_iter()
            .map(|t| (t.kind, text.get(t.span.range()).unwrap_or("")))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (Tok::Doc, "/// 文档"),
                (Tok::Word, "term"),
                (Tok::Num, "2026-01-01"),
                (Tok::Punct, ".."),
                (Tok::Num, "2028-12-31"),
                (Tok::Comment, "// 注释"),
                (Tok::Word, "use"),
                (Tok::Word, "普惠金融"),
                (Tok::Str, "\"标题\\\"\""),
            ]
        );
    }

    #[test]
    fn names_are_classified_by_what_they_name() {
        let (a, _, _) = fixture::analysis(&[]);
        let file = a
            .file_id("scenarios/finance.charter")
            .unwrap_or(FileId::PRELUDE);
        let text = a.text(file);
        let toks = semantic_tokens(&a, file);
        let of = |s: &str| {
            let at = text.find(s).unwrap_or(0) as u32;
            toks.iter()
                .find(|t| t.span.start == at)
                .map(|t| (TOKEN_TYPES[t.kind as usize], t.modifiers))
        };
        assert_eq!(of("scenario"), Some(("keyword", 0)));
        assert_eq!(of("普惠金融 "), Some(("class", DECLARATION)));
        assert_eq!(of("tax.enterprise_tax"), Some(("namespace", 0)));
        assert_eq!(of("tax_amount"), Some(("property", 0)));
        assert_eq!(of("statistics"), Some(("function", DEFAULT_LIBRARY)));
        assert_eq!(of("2026-01-01"), Some(("number", 0)));
        assert_eq!(of("agreement_expires"), Some(("property", DEFAULT_LIBRARY)));
        assert_eq!(of("developer"), Some(("variable", DEFAULT_LIBRARY)));
        // Sorted, no overlaps.
        assert!(toks.windows(2).all(|w| w[0].span.end <= w[1].span.start));
    }
}
