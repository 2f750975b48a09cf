//! The token stream of a file, lexed by the grammar's own `tokens` rule.
//!
//! **Invariant:** this is the only lexer of Charter. The parser's recovery, the
//! formatter, the suppressions and the editor all read [`lex`]'s stream, and the
//! keyword tables below are checked against `charter.pest` by a test, so a new
//! keyword, escape or comment form is written once, in the grammar.

use pest::Parser as _;

use super::ast::Span;
use super::parser::{CharterGrammar, Rule};

/// The kind of a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// Spaces, tabs, line breaks (`\u{3000}` and a BOM included).
    Whitespace,
    /// A `//` comment, to the end of its line.
    Comment,
    /// A `///` doc comment, to the end of its line.
    Doc,
    /// A keyword (a `kw_*` rule of the grammar).
    Keyword,
    /// A name that is not a keyword (Unicode XID, as the grammar's `ident`).
    Ident,
    /// A string literal, quotes included.
    String,
    /// A string whose closing quote is missing, to the end of its line.
    UnclosedString,
    /// A number, without sign.
    Number,
    /// A date such as `2026-01-01`.
    Date,
    /// Punctuation and operators (`{`, `..`, `<=` …).
    Punct,
    /// A character that starts no token.
    Error,
}

impl TokenKind {
    /// Whitespace or a `//` comment: what the grammar skips between tokens.
    pub fn is_trivia(self) -> bool {
        matches!(self, TokenKind::Whitespace | TokenKind::Comment)
    }

    /// A keyword or a name.
    pub fn is_word(self) -> bool {
        matches!(self, TokenKind::Keyword | TokenKind::Ident)
    }
}

/// A token and its byte span.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Token {
    /// Kind.
    pub kind: TokenKind,
    /// Where.
    pub span: Span,
}

impl Token {
    /// The token's text in `text`, the text it was lexed from.
    pub fn text<'t>(&self, text: &'t str) -> &'t str {
        text.get(self.span.range()).unwrap_or("")
    }
}

/// Lexes `text` into tokens that cover it exactly, in order. Never fails: a
/// character that starts no token is an [`TokenKind::Error`] token.
pub fn lex(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let Ok(mut pairs) = CharterGrammar::parse(Rule::tokens, text) else {
        // Cannot happen (`error_char` takes any character); stay lossless anyway.
        if !text.is_empty() {
            out.push(Token {
                kind: TokenKind::Error,
                span: Span::new(0, text.len()),
            });
        }
        return out;
    };
    let Some(file) = pairs.next() else {
        return out;
    };
    for p in file.into_inner() {
        let kind = match p.as_rule() {
            Rule::space => TokenKind::Whitespace,
            Rule::line_comment => TokenKind::Comment,
            Rule::doc => TokenKind::Doc,
            Rule::name if KEYWORDS.contains(&p.as_str()) => TokenKind::Keyword,
            Rule::name => TokenKind::Ident,
            Rule::string_lit => TokenKind::String,
            Rule::open_string => TokenKind::UnclosedString,
            Rule::number => TokenKind::Number,
            Rule::date => TokenKind::Date,
            Rule::punct => TokenKind::Punct,
            Rule::EOI => continue,
            _ => TokenKind::Error,
        };
        let s = p.as_span();
        out.push(Token {
            kind,
            span: Span::new(s.start(), s.end()),
        });
    }
    out
}

/// Whether `s` is one name as the grammar's `ident` reads it (not a keyword that
/// cannot be a name, such as `and`).
pub fn is_ident(s: &str) -> bool {
    match lex(s).as_slice() {
        [t] => {
            t.span.range() == (0..s.len())
                && (t.kind == TokenKind::Ident
                    || t.kind == TokenKind::Keyword && !RESERVED.contains(&s))
        }
        _ => false,
    }
}

/// The language's keywords: the `kw_*` rules of the grammar, in its order.
pub const KEYWORDS: &[&str] = &[
    "grades",
    "grade",
    "allows",
    "requires",
    "consent",
    "required",
    "for",
    "classify",
    "field",
    "when",
    "then",
    "otherwise",
    "domain",
    "priority",
    "dataset",
    "source",
    "tags",
    "scenario",
    "purpose",
    "term",
    "use",
    "via",
    "admission",
    "require",
    "exit",
    "suspend",
    "notice",
    "measures",
    "limits",
    "max_term",
    "reapply_window",
    "test",
    "fixture",
    "given",
    "developer",
    "at",
    "expect",
    "allow",
    "deny",
    "by",
    "in",
    "with",
    "because",
    "action",
    "measure",
    "fact",
    "forbid",
    "actions",
    "article",
    "and",
    "or",
    "not",
    "contains",
    "true",
    "false",
    "set",
];

/// The keywords that can never be a name (the grammar's `reserved`).
pub const RESERVED: &[&str] = &["and", "or", "not", "contains", "in", "true", "false"];

/// The keywords that start a top-level declaration, in the order of the grammar's
/// `item`.
pub const DECLARATION_KEYWORDS: &[&str] = &[
    "grades",
    "grade",
    "classify",
    "domain",
    "dataset",
    "scenario",
    "admission",
    "exit",
    "suspend",
    "notice",
    "limits",
    "test",
    "fixture",
    "action",
    "measure",
    "fact",
    "forbid",
    "consent",
];

/// The statement keywords of each declaration with a `{ … }` body of statements, by
/// the keyword that starts the declaration.
pub const BLOCK_STATEMENTS: &[(&str, &[&str])] = &[
    ("classify", &["when", "otherwise"]),
    ("dataset", &["source", "domain", "tags", "field"]),
    ("scenario", &["domain", "purpose", "term", "require", "use"]),
    ("admission", &["require"]),
    ("exit", &["when", "measures"]),
    ("suspend", &["when", "measures"]),
    ("notice", &["when", "measures"]),
    ("limits", &["max_term", "reapply_window"]),
    ("test", &["given", "at", "expect"]),
    ("forbid", &["actions", "when"]),
];

/// The statement keywords of the block a declaration starting with `keyword` opens.
pub fn block_statements(keyword: &str) -> &'static [&'static str] {
    BLOCK_STATEMENTS
        .iter()
        .find(|(k, _)| *k == keyword)
        .map_or(&[], |(_, s)| s)
}

/// The declarations whose blocks hold a statement starting with `keyword`.
pub fn blocks_of_statement(keyword: &str) -> Vec<&'static str> {
    BLOCK_STATEMENTS
        .iter()
        .filter(|(_, s)| s.contains(&keyword))
        .map(|(k, _)| *k)
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    const PEST: &str = include_str!("charter.pest");

    /// The body of rule `name` in the grammar.
    fn rule(name: &str) -> String {
        let mut lines = PEST.lines().skip_while(|l| {
            !(l.starts_with(name) && l[name.len()..].trim_start().starts_with('='))
        });
        let first = lines.next().unwrap_or_else(|| panic!("no rule {name}"));
        let mut body = first.split_once('=').unwrap().1.to_string();
        let mut depth: i32 = body.matches('{').count() as i32 - body.matches('}').count() as i32;
        for l in lines {
            if depth <= 0 {
                break;
            }
            depth += l.matches('{').count() as i32 - l.matches('}').count() as i32;
            body.push('\n');
            body.push_str(l);
        }
        body
    }

    /// The `kw_*` rules a piece of grammar names, as keywords.
    fn kws(body: &str) -> Vec<String> {
        body.split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .filter_map(|w| w.strip_prefix("kw_"))
            .map(str::to_string)
            .collect()
    }

    /// The keywords a rule can start with (its first element, `doc*` skipped).
    fn first_keywords(name: &str) -> Vec<String> {
        let body = rule(name);
        let body = body.trim().trim_start_matches(['_', '@', '$', '{']).trim();
        let body = body.strip_prefix("doc* ~").unwrap_or(body).trim();
        let first = body.split(" ~ ").next().unwrap_or("");
        let words = kws(first);
        if !words.is_empty() || first.contains('"') {
            return words;
        }
        // An alternation of rules, or one rule.
        first
            .split('|')
            .map(|r| r.trim().trim_end_matches(['}', '?', '*']).trim())
            .filter(|r| !r.is_empty())
            .flat_map(first_keywords)
            .collect()
    }

    #[test]
    fn keywords_are_the_kw_rules() {
        let declared: Vec<String> = PEST
            .lines()
            .filter_map(|l| l.strip_prefix("kw_"))
            .filter_map(|l| l.split_whitespace().next())
            .map(str::to_string)
            .collect();
        assert_eq!(declared, KEYWORDS);
        for (name, kw) in PEST
            .lines()
            .filter_map(|l| l.strip_prefix("kw_"))
            .filter_map(|l| Some((l.split_whitespace().next()?, l.split('"').nth(1)?)))
        {
            assert_eq!(name, kw, "kw_{name} reads `{kw}`");
        }
        let reserved: Vec<String> = rule("reserved")
            .split('"')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect();
        assert_eq!(reserved, RESERVED);
    }

    #[test]
    fn declaration_keywords_start_the_items() {
        assert_eq!(first_keywords("item"), DECLARATION_KEYWORDS);
    }

    #[test]
    fn block_statements_are_the_grammars() {
        let of = |rules: &[&str]| -> Vec<String> {
            rules.iter().flat_map(|r| first_keywords(r)).collect()
        };
        let expected: &[(&str, Vec<String>)] = &[
            ("classify", of(&["classify_arm", "otherwise_arm"])),
            ("dataset", of(&["dataset_stmt"])),
            ("scenario", of(&["scenario_stmt"])),
            ("admission", of(&["require_stmt"])),
            ("exit", of(&["when_stmt", "measures_stmt"])),
            ("suspend", of(&["when_stmt", "measures_stmt"])),
            ("notice", of(&["when_stmt", "measures_stmt"])),
            ("limits", of(&["limit_stmt"])),
            ("test", of(&["test_stmt"])),
            ("forbid", vec!["actions".to_string(), "when".to_string()]),
        ];
        for (decl, stmts) in expected {
            assert_eq!(block_statements(decl), stmts.as_slice(), "{decl}");
        }
        assert_eq!(BLOCK_STATEMENTS.len(), expected.len());
        // `forbid`'s statements are written inline in its rule.
        let forbid = rule("forbid_decl");
        assert!(forbid.contains("kw_actions") && forbid.contains("when_stmt"));
    }

    #[test]
    fn lexes_losslessly() {
        let text = "/// 文档\nterm 2026-01-01 .. 2028-12-31 // 注释\nuse 普惠金融 \"标题\\\"\" ，x_1 >= -3\n\"open";
        let toks = lex(text);
        let joined: String = toks.iter().map(|t| t.text(text)).collect();
        assert_eq!(joined, text);
        let kinds: Vec<(TokenKind, &str)> = toks
            .iter()
            .filter(|t| t.kind != TokenKind::Whitespace)
            .map(|t| (t.kind, t.text(text)))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (TokenKind::Doc, "/// 文档"),
                (TokenKind::Keyword, "term"),
                (TokenKind::Date, "2026-01-01"),
                (TokenKind::Punct, ".."),
                (TokenKind::Date, "2028-12-31"),
                (TokenKind::Comment, "// 注释"),
                (TokenKind::Keyword, "use"),
                (TokenKind::Ident, "普惠金融"),
                (TokenKind::String, "\"标题\\\"\""),
                (TokenKind::Error, "，"),
                (TokenKind::Ident, "x_1"),
                (TokenKind::Punct, ">="),
                (TokenKind::Punct, "-"),
                (TokenKind::Number, "3"),
                (TokenKind::UnclosedString, "\"open"),
            ]
        );
        for k in KEYWORDS {
            let kinds: Vec<TokenKind> = lex(k).iter().map(|t| t.kind).collect();
            assert_eq!(kinds, [TokenKind::Keyword], "{k}");
            let longer = format!("{k}_x");
            let kinds: Vec<TokenKind> = lex(&longer).iter().map(|t| t.kind).collect();
            assert_eq!(kinds, [TokenKind::Ident], "{longer}");
        }
        assert!(is_ident("普惠金融") && is_ident("domain") && !is_ident("and"));
        assert!(!is_ident("a b") && !is_ident("1a") && !is_ident(""));
    }
}
