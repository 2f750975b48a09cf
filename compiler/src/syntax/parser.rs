//! Parsing a file: cut its token stream into declarations, parse each with pest,
//! build the tree.
//!
//! Recovery works at declaration boundaries, on the token stream of [`lex`]:
//! [`declaration_ranges`] finds where each top-level declaration starts (a declaration
//! keyword at brace depth zero) without parsing it, so a syntax error is confined to
//! the declaration it is in and every other declaration still reaches the checker.
//! Braces inside strings and comments are tokens of their own and never counted.

use pest::iterators::{Pair, Pairs};
use pest::Parser as _;

use super::ast::*;
use super::lexer::{block_statements, blocks_of_statement, lex, Token, TokenKind};

pub use super::lexer::DECLARATION_KEYWORDS;

mod grammar {
    // pest_derive generates the `Rule` enum without docs.
    #![allow(missing_docs)]

    /// The pest parser generated from `charter.pest`.
    #[derive(pest_derive::Parser)]
    #[grammar = "syntax/charter.pest"]
    pub struct CharterGrammar;
}

pub(super) use grammar::CharterGrammar;
pub use grammar::Rule;

/// A problem found while parsing.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SyntaxError {
    /// `syntax-error` or `invalid-literal`.
    pub kind: SyntaxErrorKind,
    /// The message, Cedar style (lowercase, no final period).
    pub message: String,
    /// Where.
    pub span: Span,
    /// The label under the span.
    pub label: String,
    /// A help line.
    pub help: Option<String>,
    /// Other places that explain the error (the `{` a missing `}` leaves open).
    pub related: Vec<(Span, String)>,
    /// A replacement that fixes it: the span and its new text (a misspelt keyword).
    pub fix: Option<(Span, String)>,
}

/// Which kind of syntax problem.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SyntaxErrorKind {
    /// The text does not follow the grammar.
    Syntax,
    /// A literal that follows the grammar but means nothing (`2026-02-30`).
    InvalidLiteral,
    /// A statement that may appear once, written twice (`term` in a scenario).
    DuplicateStatement,
    /// An expression nested deeper than [`MAX_NESTING`].
    TooDeep,
}

/// A parsed file: the declarations that parsed, and the errors of those that did not.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ParsedFile {
    /// Declarations, in source order.
    pub items: Vec<Item>,
    /// Syntax errors, in source order.
    pub errors: Vec<SyntaxError>,
    /// The names that declarations which failed to parse were declaring (`scenario 普惠金融 {`
    /// with an error inside): a name used elsewhere is not unknown, only broken, so the
    /// checker does not repeat the syntax error as an unknown name at every use.
    pub broken: Vec<String>,
}

/// The longest file the parser reads, in bytes: every offset in it, its end included,
/// fits the `u32` of a [`Span`] (and `line_index`, which asserts a text is shorter than
/// `u32::MAX`). The bundle walk stops far sooner ([`crate::walk::MAX_FILE_BYTES`]); this
/// bounds texts that come from elsewhere: an editor's document, standard input, an API.
pub const MAX_SOURCE_BYTES: usize = u32::MAX as usize - 1;

/// The error of a file longer than `max` bytes, which is not parsed.
fn too_large(len: usize, max: usize) -> Option<SyntaxError> {
    (len > max).then(|| SyntaxError {
        kind: SyntaxErrorKind::Syntax,
        message: format!("the file is {len} bytes, longer than the {max} bytes Charter reads"),
        span: Span::new(0, 0),
        label: String::from("file too large"),
        help: Some(String::from(
            "split the declarations into several `.charter` files",
        )),
        related: Vec::new(),
        fix: None,
    })
}

/// Parses one file. Never panics; every problem becomes a [`SyntaxError`]. A file longer
/// than [`MAX_SOURCE_BYTES`] is refused whole, with one error.
pub fn parse(text: &str) -> ParsedFile {
    let mut out = ParsedFile::default();
    if let Some(e) = too_large(text.len(), MAX_SOURCE_BYTES) {
        out.errors.push(e);
        return out;
    }
    let tokens = lex(text);
    for (start, end) in ranges(text, &tokens) {
        let Some(chunk) = text.get(start..end) else {
            continue;
        };
        let toks = tokens_in(&tokens, start, end);
        if let Some(e) = nesting_error(text, toks) {
            out.errors.push(e);
            continue;
        }
        let mut b = Builder {
            base: start,
            errors: &mut out.errors,
        };
        match CharterGrammar::parse(Rule::declaration, chunk) {
            Ok(pairs) => {
                if let Some(item) = b.declaration(pairs) {
                    out.items.push(item);
                }
            }
            Err(e) => {
                // The declaration may be whole and followed by what belongs to none:
                // keep it, and report what follows once, at its first token.
                let prefix = CharterGrammar::parse(Rule::declaration_prefix, chunk).ok();
                let end_of_item = prefix
                    .as_ref()
                    .and_then(|p| p.clone().next())
                    .and_then(|d| d.into_inner().last())
                    .map(|item| start + item.as_span().end());
                let mut error = convert_pest_error(&e, text, toks, start);
                let mut kept = false;
                if let (Some(pairs), Some(item_end)) = (prefix, end_of_item) {
                    // Right after a whole declaration, a doc comment or a block's
                    // statement: say what is wrong with the token a person sees there,
                    // and keep the declaration, so that nothing that names it fails.
                    let next = toks
                        .iter()
                        .find(|t| t.span.start as usize >= item_end && !t.kind.is_trivia());
                    if let Some(t) = next {
                        let word = t.text(text);
                        let misplaced = t.kind == TokenKind::Doc
                            || t.kind == TokenKind::Keyword
                                && !blocks_of_statement(word).is_empty();
                        if misplaced && error_pos(&e, start) <= t.span.start as usize {
                            error = stray_error(text, toks, item_end);
                            if let Some(item) = b.declaration(pairs) {
                                out.items.push(item);
                                kept = true;
                            }
                        }
                    }
                }
                if !kept {
                    out.broken.extend(declared_name(text, toks));
                }
                out.errors.push(error);
            }
        }
    }
    out
}

/// The pest parse tree of one declaration (a range from [`declaration_ranges`]), or
/// `None` when it does not parse. For tools that need every token as written, such
/// as the formatter; everything else uses [`parse`].
pub fn declaration_tree(chunk: &str) -> Option<Pairs<'_, Rule>> {
    if nesting_error(chunk, &lex(chunk)).is_some() {
        return None;
    }
    CharterGrammar::parse(Rule::declaration, chunk).ok()
}

/// [`declaration_tree`] of the range `start..end` of `text`, whose tokens are `tokens`.
pub fn declaration_tree_in<'t>(
    text: &'t str,
    tokens: &[Token],
    start: usize,
    end: usize,
) -> Option<Pairs<'t, Rule>> {
    if nesting_error(text, tokens_in(tokens, start, end)).is_some() {
        return None;
    }
    CharterGrammar::parse(Rule::declaration, text.get(start..end)?).ok()
}

/// [`declaration_ranges`] of a text already lexed.
pub fn declaration_ranges_of(text: &str, tokens: &[Token]) -> Vec<(usize, usize)> {
    ranges(text, tokens)
}

/// The tokens that lie within `start..end`.
fn tokens_in(tokens: &[Token], start: usize, end: usize) -> &[Token] {
    let from = tokens.partition_point(|t| (t.span.start as usize) < start);
    let to = tokens.partition_point(|t| (t.span.start as usize) < end);
    tokens.get(from..to).unwrap_or(&[])
}

/// How deeply an expression may nest: levels of `not`, parentheses, list brackets and
/// `+`/`-` terms, counted together. A chain of `and` or `or` is one level whatever its
/// length. Deeper nesting is refused before pest runs (`CH0004`), which keeps every
/// recursive pass (pest, the tree builder, the checker, the lowering, Cedar's own
/// parser and validator) within a small, known stack: the compiler is tested at this
/// depth on a 2 MiB thread in a debug build, where the worst shape (a parenthesis
/// holding `or`, `and` and a comparison at every level) overflowed at 64.
pub const MAX_NESTING: usize = 32;

/// The first place in a declaration where expressions nest deeper than
/// [`MAX_NESTING`], found on its tokens in one linear pass, so that no parser ever
/// recurses over it. The count is an upper bound on the depth of the tree
/// [`parse`] would build: `not` and `+`/`-` raise the level until the next `and`, `or`
/// or `,`, a bracket raises it until it closes. The error points at the token that
/// opened the outermost of those levels.
fn nesting_error(text: &str, tokens: &[Token]) -> Option<SyntaxError> {
    // The span of the token that opened each level now open.
    let mut openers: Vec<Span> = Vec::new();
    // For each open bracket: the level where its contents start, and the level before it.
    let mut brackets: Vec<(usize, usize)> = Vec::new();
    let mut floor = 0usize;
    let mut depth = 0usize;
    for t in tokens {
        let word = t.text(text);
        let raise = match (t.kind, word) {
            (TokenKind::Punct, "(" | "[") => {
                brackets.push((floor, depth));
                floor = depth + 1;
                true
            }
            (TokenKind::Punct, ")" | "]") => {
                if let Some((f, d)) = brackets.pop() {
                    floor = f;
                    depth = d;
                }
                false
            }
            (TokenKind::Punct, "{" | "}") => {
                brackets.clear();
                floor = 0;
                depth = 0;
                false
            }
            (TokenKind::Punct, ",") => {
                depth = floor;
                false
            }
            (TokenKind::Punct, "+" | "-") | (TokenKind::Keyword, "not") => true,
            // Keywords that end one expression and may start the next.
            (
                TokenKind::Keyword,
                "and" | "or" | "when" | "then" | "otherwise" | "require" | "measures" | "actions"
                | "article",
            ) => {
                depth = floor;
                false
            }
            _ => false,
        };
        if !raise {
            continue;
        }
        openers.truncate(depth);
        openers.push(t.span);
        depth += 1;
        if depth > MAX_NESTING {
            let span = openers.first().copied().unwrap_or(t.span);
            return Some(SyntaxError {
                kind: SyntaxErrorKind::TooDeep,
                message: format!("expression is nested more than {MAX_NESTING} levels deep"),
                span,
                label: "the nesting that goes too deep starts here".to_string(),
                help: Some(format!(
                    "at most {MAX_NESTING} levels of `not`, parentheses, lists and `+`/`-` may \
                     nest; split the condition (chains of `and` and `or` may be of any length)"
                )),
                related: Vec::new(),
                fix: None,
            });
        }
    }
    None
}

/// Byte ranges of the top-level declarations of `text`, doc comments included.
pub fn declaration_ranges(text: &str) -> Vec<(usize, usize)> {
    ranges(text, &lex(text))
}

/// Whether a token is the first on its line, and whether it is in the first column.
fn line_position(text: &str, tokens: &[Token], i: usize) -> (bool, bool) {
    let start = tokens.get(i).map_or(0, |t| t.span.start as usize);
    let first_column = start == 0 || text.get(..start).is_some_and(|h| h.ends_with('\n'));
    let first_on_line = i
        .checked_sub(1)
        .and_then(|p| tokens.get(p))
        .is_none_or(|p| p.kind == TokenKind::Whitespace && p.text(text).contains('\n'))
        || first_column
        || i == 1
            && tokens
                .first()
                .is_some_and(|t| t.kind == TokenKind::Whitespace);
    (first_on_line, first_column)
}

/// The declarations of a lexed file.
///
/// A declaration starts at a declaration keyword that is the first token of its
/// line, outside any braces; or in the first column inside braces, so that an unclosed
/// brace does not swallow the rest of the file, unless the keyword is a statement of
/// the block that is open (`domain` in a scenario). Text before the first declaration
/// that is not blank or a comment becomes a range of its own, so it is reported.
fn ranges(text: &str, tokens: &[Token]) -> Vec<(usize, usize)> {
    let mut starts: Vec<usize> = Vec::new();
    let mut depth: i64 = 0;
    let mut doc_start: Option<usize> = None;
    let mut content_before_first = false;
    let mut current = "";
    for (i, t) in tokens.iter().enumerate() {
        let start = t.span.start as usize;
        match t.kind {
            TokenKind::Whitespace | TokenKind::Comment => continue,
            TokenKind::Doc => {
                let (first_on_line, first_column) = line_position(text, tokens, i);
                if first_on_line && (depth <= 0 || first_column) {
                    doc_start.get_or_insert(start);
                }
                continue;
            }
            _ => {}
        }
        let word = t.text(text);
        let (first_on_line, first_column) = line_position(text, tokens, i);
        let starts_declaration = t.kind == TokenKind::Keyword
            && DECLARATION_KEYWORDS.contains(&word)
            && first_on_line
            && (depth <= 0 || first_column && !block_statements(current).contains(&word));
        if starts_declaration {
            starts.push(doc_start.take().unwrap_or(start));
            depth = 0;
            current = DECLARATION_KEYWORDS
                .iter()
                .find(|k| **k == word)
                .copied()
                .unwrap_or("");
        } else {
            doc_start = None;
            if starts.is_empty() {
                content_before_first = true;
            }
        }
        if t.kind == TokenKind::Punct {
            match word {
                "{" => depth += 1,
                "}" => depth -= 1,
                _ => {}
            }
        }
    }
    if content_before_first {
        starts.insert(0, 0);
    }
    starts.dedup();
    let mut ranges = Vec::with_capacity(starts.len());
    for (i, &s) in starts.iter().enumerate() {
        let e = starts.get(i + 1).copied().unwrap_or(text.len());
        ranges.push((s, e));
    }
    ranges
}

/// The error for what follows a whole declaration (at `after`) in its range: one error
/// at its first token that is not a doc comment, the declaration itself being kept.
fn stray_error(text: &str, toks: &[Token], after: usize) -> SyntaxError {
    let rest: Vec<&Token> = toks
        .iter()
        .filter(|t| t.span.start as usize >= after && !t.kind.is_trivia())
        .collect();
    let Some(t) = rest.iter().find(|t| t.kind != TokenKind::Doc) else {
        // Only doc comments: they document nothing.
        let span = rest.first().map_or(Span::new(after, after), |t| t.span);
        return SyntaxError {
            kind: SyntaxErrorKind::Syntax,
            message: "doc comment documents nothing".to_string(),
            span: trim_line_end(text, span),
            label: "no declaration follows".to_string(),
            help: Some(
                "a `///` doc comment stands right before the declaration it documents; \
                 write `//` for a plain comment"
                    .to_string(),
            ),
            related: Vec::new(),
            fix: None,
        };
    };
    let word = t.text(text);
    let blocks = if t.kind == TokenKind::Keyword {
        blocks_of_statement(word)
    } else {
        Vec::new()
    };
    if !blocks.is_empty() {
        let names: Vec<String> = blocks.iter().map(|b| format!("`{b}`")).collect();
        return SyntaxError {
            kind: SyntaxErrorKind::Syntax,
            message: format!(
                "`{word}` is a statement of {}, not a declaration",
                join_alternatives(&blocks.iter().map(|b| a_block(b)).collect::<Vec<_>>())
            ),
            span: t.span,
            label: "a statement outside any block".to_string(),
            help: Some(format!(
                "write it inside the `{{ … }}` of the declaration it belongs to ({}); the \
                 block before it is already closed",
                join_alternatives(&names)
            )),
            related: Vec::new(),
            fix: None,
        };
    }
    let found = found_text(text, t);
    SyntaxError {
        kind: SyntaxErrorKind::Syntax,
        message: format!("unexpected `{found}`, expected a declaration"),
        span: Span::new(t.span.start as usize, t.span.start as usize + found.len()),
        label: "expected a declaration".to_string(),
        help: help_for(&["a declaration".to_string()], Some(found)),
        related: Vec::new(),
        fix: None,
    }
}

/// `a scenario`, `an admission`.
fn a_block(keyword: &str) -> String {
    match keyword {
        "admission" | "exit" => format!("an {keyword}"),
        "limits" => "`limits`".to_string(),
        _ => format!("a {keyword}"),
    }
}

/// A span without the `\r` a line may end with.
fn trim_line_end(text: &str, span: Span) -> Span {
    let s = text.get(span.range()).unwrap_or("");
    Span::new(
        span.start as usize,
        span.start as usize + s.trim_end_matches('\r').len(),
    )
}

/// The text of a token as a message quotes it: at most 40 characters, a dotted name
/// whole (`tax.enterprise_tax`), a string to its end or the end of its line.
fn found_text<'t>(text: &'t str, t: &Token) -> &'t str {
    let start = t.span.start as usize;
    let mut end = t.span.end as usize;
    if t.kind.is_word() {
        // A dotted name is one name to a person.
        let rest = lex(text.get(start..).unwrap_or(""));
        let mut k = 1;
        while let (Some(dot), Some(w)) = (rest.get(k), rest.get(k + 1)) {
            if dot.kind == TokenKind::Punct
                && dot.text(text.get(start..).unwrap_or("")) == "."
                && w.kind.is_word()
            {
                end = start + w.span.end as usize;
                k += 2;
            } else {
                break;
            }
        }
    }
    let s = text.get(start..end).unwrap_or("").trim_end_matches('\r');
    let cut = s.char_indices().nth(40).map_or(s.len(), |(i, _)| i);
    s.get(..cut).unwrap_or(s)
}

/// Where in the file pest's error is, for a declaration at `base`.
fn error_pos(e: &pest::error::Error<Rule>, base: usize) -> usize {
    base + match e.location {
        pest::error::InputLocation::Pos(p) => p,
        pest::error::InputLocation::Span((s, _)) => s,
    }
}

fn convert_pest_error(
    e: &pest::error::Error<Rule>,
    text: &str,
    toks: &[Token],
    base: usize,
) -> SyntaxError {
    let pos = error_pos(e, base);
    // The token pest stopped at: the first one that is not trivia at or after `pos`.
    let token = toks
        .iter()
        .find(|t| t.span.end as usize > pos && !t.kind.is_trivia());
    let found = token.map(|t| found_text(text, t));
    if let pest::error::ErrorVariant::CustomError { message } = &e.variant {
        if message.contains("limit reached") {
            // pest ran out of stack or calls: only deep nesting gets it there, and the
            // pre-scan refuses that first, unless the thread's stack is very small.
            let len = found.map_or(0, str::len);
            return SyntaxError {
                kind: SyntaxErrorKind::TooDeep,
                message: "expression is nested too deeply to parse".to_string(),
                span: Span::new(pos, pos + len),
                label: "the parser gave up here".to_string(),
                help: Some(format!(
                    "at most {MAX_NESTING} levels of `not`, parentheses, lists and `+`/`-` may nest; \
                     split the condition"
                )),
                related: Vec::new(),
                fix: None,
            };
        }
    }
    let (expected, unexpected) = match &e.variant {
        pest::error::ErrorVariant::ParsingError {
            positives,
            negatives,
        } => (describe_rules(positives), describe_rules(negatives)),
        pest::error::ErrorVariant::CustomError { message } => (vec![message.clone()], vec![]),
    };
    if let Some(t) = token.filter(|t| t.kind == TokenKind::UnclosedString) {
        return SyntaxError {
            kind: SyntaxErrorKind::Syntax,
            message: "unterminated string".to_string(),
            span: trim_line_end(text, t.span),
            label: "this string is not closed".to_string(),
            help: Some("close the string with `\"` before the end of the line".to_string()),
            related: Vec::new(),
            fix: None,
        };
    }
    let span_len = found.map_or(0, str::len);
    // At the end of the declaration: right after its last token, not where the next
    // declaration (or the end of the file) starts.
    let last_end = toks
        .iter()
        .rev()
        .find(|t| !t.kind.is_trivia())
        .map_or(pos, |t| t.span.end as usize);
    let at = token.map_or(last_end.min(pos), |t| (t.span.start as usize).max(pos));
    let span = Span::new(at, at + span_len);
    let at_eof = toks
        .last()
        .is_none_or(|t| t.span.end as usize >= text.len());
    let found_text = match found {
        Some(t) => format!("`{t}`"),
        None if at_eof => "end of file".to_string(),
        None => "end of the declaration".to_string(),
    };
    let expected_text = join_alternatives(&expected);
    let open_brace = if token.is_none() {
        unclosed_brace(text, toks)
    } else {
        None
    };
    let message = if open_brace.is_some() {
        format!("unexpected {found_text}, expected `}}`")
    } else if !expected.is_empty() {
        format!("unexpected {found_text}, expected {expected_text}")
    } else if !unexpected.is_empty() {
        format!("unexpected {}", join_alternatives(&unexpected))
    } else {
        format!("unexpected {found_text}")
    };
    let label = if expected.is_empty() {
        "not expected here".to_string()
    } else {
        format!("expected {expected_text}")
    };
    let mut help = help_for(&expected, found);
    // A name where a keyword was expected is most often that keyword misspelt
    // (`purpse`, `feild`): offer the nearest one the grammar accepts here.
    let keyword = token
        .filter(|t| t.kind == TokenKind::Ident && help.is_none())
        .and_then(|t| misspelt_keyword(t.text(text), &expected));
    let fix = keyword.map(|k| {
        help = Some(format!("did you mean `{k}`?"));
        (span, k.to_string())
    });
    // At the end of the declaration with a brace still open: name the brace.
    let related = open_brace
        .map(|b| vec![(b, "this `{` is never closed".to_string())])
        .unwrap_or_default();
    SyntaxError {
        kind: SyntaxErrorKind::Syntax,
        message,
        span,
        label,
        help,
        related,
        fix,
    }
}

/// The keyword among `expected` (the descriptions `describe_rules` gives, a keyword as
/// `` `word` ``) that `word` most likely misspells.
fn misspelt_keyword<'e>(word: &str, expected: &'e [String]) -> Option<&'e str> {
    let keywords = expected.iter().filter_map(|e| {
        let k = e.strip_prefix('`')?.strip_suffix('`')?;
        k.chars()
            .all(|c| c.is_ascii_lowercase() || c == '_')
            .then_some(k)
    });
    charter_bundle::suggest(word, keywords)
}

/// The name a declaration's tokens declare, read off its head without the grammar: the
/// declaration keyword, then a name (`scenario 普惠金融`, `dataset tax.enterprise_tax`).
fn declared_name(text: &str, toks: &[Token]) -> Option<String> {
    let mut words = toks
        .iter()
        .filter(|t| !t.kind.is_trivia() && t.kind != TokenKind::Doc);
    let keyword = words.next()?;
    if keyword.kind != TokenKind::Keyword || !DECLARATION_KEYWORDS.contains(&keyword.text(text)) {
        return None;
    }
    let mut name = String::new();
    for t in words {
        match (t.kind, t.text(text)) {
            (TokenKind::Ident, w) if name.is_empty() || name.ends_with('.') => name.push_str(w),
            (TokenKind::Punct, ".") if !name.is_empty() && !name.ends_with('.') => name.push('.'),
            _ => break,
        }
    }
    let name = name.trim_end_matches('.');
    (!name.is_empty()).then(|| name.to_string())
}

/// The innermost `{` that the tokens leave open.
fn unclosed_brace(text: &str, toks: &[Token]) -> Option<Span> {
    let mut open: Vec<Span> = Vec::new();
    for t in toks.iter().filter(|t| t.kind == TokenKind::Punct) {
        match t.text(text) {
            "{" => open.push(t.span),
            "}" => {
                open.pop();
            }
            _ => {}
        }
    }
    open.last().copied()
}

fn help_for(expected: &[String], found: Option<&str>) -> Option<String> {
    if let Some(f) = found {
        if f.starts_with('\'') || f.starts_with('“') || f.starts_with('”') || f.starts_with('「')
        {
            return Some("strings are written in ASCII double quotes: \"…\"".to_string());
        }
        if f.starts_with('，') {
            return Some("use an ASCII comma `,` between items".to_string());
        }
        if f.starts_with('｛') || f.starts_with('｝') {
            return Some("use ASCII braces `{` and `}`".to_string());
        }
    }
    if expected.iter().any(|e| e == "a declaration") {
        return Some(format!(
            "a declaration starts with one of: {}",
            DECLARATION_KEYWORDS.join(", ")
        ));
    }
    None
}

fn join_alternatives(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [a, b] => format!("{a} or {b}"),
        [rest @ .., last] => format!("{}, or {last}", rest.join(", ")),
    }
}

fn describe_rules(rules: &[Rule]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in rules {
        let d = describe_rule(*r);
        if !out.contains(&d) {
            out.push(d);
        }
    }
    out
}

/// The words a person reads for a grammar rule in an "expected …" message.
pub fn describe_rule(rule: Rule) -> String {
    let s = match rule {
        Rule::ident | Rule::path => "a name",
        Rule::string | Rule::string_inner | Rule::title => "a string",
        Rule::date => "a date like `2026-01-01`",
        Rule::int => "a number",
        Rule::duration | Rule::duration_unit => "a duration like `90 days`",
        Rule::lbrace => "`{`",
        Rule::rbrace => "`}`",
        Rule::comma => "`,`",
        Rule::range_op => "`..`",
        Rule::assign => "`=`",
        Rule::colon => "`:`",
        Rule::expr
        | Rule::or_expr
        | Rule::and_expr
        | Rule::not_expr
        | Rule::cmp_expr
        | Rule::sum_expr
        | Rule::paren
        | Rule::list => "an expression",
        Rule::cmp_op => "a comparison such as `==`, `<=` or `contains`",
        Rule::sum_op => "`+` or `-`",
        Rule::decision => "`allow` or `deny`",
        Rule::trigger_kind => "`exit`, `suspend` or `notice`",
        Rule::wildcard => "`*`",
        Rule::value | Rule::value_list => "a value",
        Rule::type_expr | Rule::set_type => "a type",
        Rule::EOI => "the end of the declaration",
        Rule::grades_decl
        | Rule::grade_rule
        | Rule::classify_decl
        | Rule::domain_decl
        | Rule::dataset_decl
        | Rule::scenario_decl
        | Rule::admission_decl
        | Rule::exit_decl
        | Rule::suspend_decl
        | Rule::notice_decl
        | Rule::limits_decl
        | Rule::test_decl
        | Rule::fixture_decl
        | Rule::action_decl
        | Rule::measure_decl
        | Rule::fact_decl
        | Rule::forbid_decl
        | Rule::consent_decl
        | Rule::declaration => "a declaration",
        Rule::doc => "a doc comment",
        Rule::article => "`article`",
        Rule::consent_clause => "`requires consent`",
        Rule::field_set => "a field list like `{ a, b }`",
        Rule::source_stmt => "`source`",
        Rule::domain_stmt => "`domain`",
        Rule::tags_stmt => "`tags`",
        Rule::field_decl => "`field`",
        Rule::purpose_stmt => "`purpose`",
        Rule::term_stmt => "`term`",
        Rule::require_stmt => "`require`",
        Rule::use_stmt => "`use`",
        Rule::when_stmt => "`when`",
        Rule::measures_stmt => "`measures`",
        Rule::limit_stmt => "`max_term` or `reapply_window`",
        Rule::classify_arm => "`when`",
        Rule::otherwise_arm => "`otherwise`",
        Rule::grade_entry => "a grade name",
        Rule::given_stmt => "`given`",
        Rule::at_stmt => "`at`",
        Rule::expect_stmt => "`expect`",
        Rule::fact_block => "a fact block like `{ name = value }`",
        Rule::fact_assign => "a fact like `name = value`",
        other => {
            let name = format!("{other:?}");
            return match name.strip_prefix("kw_") {
                Some(kw) => format!("`{kw}`"),
                None => name.replace('_', " "),
            };
        }
    };
    s.to_string()
}

/// Builds tree nodes from pest pairs. Grammar guarantees the shapes it reads; where
/// a shape is missing anyway it reports an internal syntax error instead of panicking.
struct Builder<'e> {
    base: usize,
    errors: &'e mut Vec<SyntaxError>,
}

type P<'i> = Pair<'i, Rule>;

impl Builder<'_> {
    /// The span of a pair, without the whitespace pest leaves at its end when an
    /// optional continuation did not match.
    fn span(&self, p: &P<'_>) -> Span {
        let s = p.as_span();
        let trimmed = p
            .as_str()
            .trim_end_matches([' ', '\t', '\r', '\n', '\u{3000}']);
        Span::new(self.base + s.start(), self.base + s.start() + trimmed.len())
    }

    /// Reports a statement that may appear once when `seen` already holds it.
    fn once(&mut self, seen: bool, p: &P<'_>, what: &str) {
        if seen {
            self.errors.push(SyntaxError {
                kind: SyntaxErrorKind::DuplicateStatement,
                message: format!("`{what}` is written twice"),
                span: self.span(p),
                label: "written again here".to_string(),
                help: Some(format!("keep one `{what}` statement; only one can apply")),
                related: Vec::new(),
                fix: None,
            });
        }
    }

    fn internal(&mut self, span: Span, what: &str) {
        self.errors.push(SyntaxError {
            kind: SyntaxErrorKind::Syntax,
            message: format!("internal parser error: missing {what}"),
            span,
            label: "here".to_string(),
            help: Some("this is a bug in Charter; please report it with this file".to_string()),
            related: Vec::new(),
            fix: None,
        });
    }

    fn declaration(&mut self, mut pairs: Pairs<'_, Rule>) -> Option<Item> {
        let decl = pairs.next()?;
        let mut docs: Vec<String> = Vec::new();
        for p in decl.into_inner() {
            match p.as_rule() {
                Rule::doc => docs.push(doc_text(p.as_str())),
                Rule::EOI => {}
                _ => {
                    let span = self.span(&p);
                    let kind = self.item(p)?;
                    return Some(Item {
                        doc: join_docs(docs),
                        span,
                        kind,
                    });
                }
            }
        }
        None
    }

    fn item(&mut self, p: P<'_>) -> Option<ItemKind> {
        let span = self.span(&p);
        let rule = p.as_rule();
        let kind = match rule {
            Rule::grades_decl => ItemKind::Grades(
                p.into_inner()
                    .filter(|c| c.as_rule() == Rule::grade_entry)
                    .filter_map(|c| self.grade_entry(c))
                    .collect(),
            ),
            Rule::grade_rule => ItemKind::GradeRule(self.grade_rule(p)?),
            Rule::classify_decl => ItemKind::Classify(self.classify(p)?),
            Rule::domain_decl => ItemKind::Domain(self.domain(p)?),
            Rule::dataset_decl => ItemKind::Dataset(self.dataset(p)?),
            Rule::scenario_decl => ItemKind::Scenario(self.scenario(p)?),
            Rule::admission_decl => ItemKind::Admission(self.admission(p, span)),
            Rule::exit_decl => ItemKind::Trigger(self.trigger(p, TriggerKind::Exit)?),
            Rule::suspend_decl => ItemKind::Trigger(self.trigger(p, TriggerKind::Suspend)?),
            Rule::notice_decl => ItemKind::Trigger(self.trigger(p, TriggerKind::Notice)?),
            Rule::limits_decl => ItemKind::Limits(
                p.into_inner()
                    .filter(|c| c.as_rule() == Rule::limit_stmt)
                    .filter_map(|c| self.limit(c))
                    .collect(),
            ),
            Rule::test_decl => ItemKind::Test(self.test(p)?),
            Rule::fixture_decl => ItemKind::Fixture(self.fixture(p)?),
            Rule::action_decl => ItemKind::Action(self.simple(p)?),
            Rule::measure_decl => ItemKind::Measure(self.simple(p)?),
            Rule::fact_decl => ItemKind::Fact(self.fact(p)?),
            Rule::forbid_decl => ItemKind::Forbid(self.forbid(p)?),
            Rule::consent_decl => ItemKind::Consent(self.consent(p)),
            _ => {
                self.internal(span, "declaration");
                return None;
            }
        };
        Some(kind)
    }

    fn name(&self, p: &P<'_>) -> Name {
        Name {
            text: p.as_str().to_string(),
            span: self.span(p),
        }
    }

    fn string(&mut self, p: &P<'_>) -> Str {
        // `title` wraps a `string`; `string` wraps `string_inner`.
        let mut q = p.clone();
        if q.as_rule() == Rule::title {
            if let Some(inner) = q.clone().into_inner().next() {
                q = inner;
            }
        }
        let raw = q
            .clone()
            .into_inner()
            .next()
            .map(|i| i.as_str())
            .unwrap_or("");
        Str {
            value: unescape(raw),
            span: self.span(&q),
        }
    }

    fn article(&mut self, p: &P<'_>) -> Option<Str> {
        let s = p
            .clone()
            .into_inner()
            .find(|c| c.as_rule() == Rule::string)?;
        Some(self.string(&s))
    }

    fn ident_list(&self, p: &P<'_>) -> Vec<Name> {
        p.clone()
            .into_inner()
            .filter(|c| c.as_rule() == Rule::ident)
            .map(|c| self.name(&c))
            .collect()
    }

    fn string_list(&mut self, p: &P<'_>) -> Vec<Str> {
        let strings: Vec<P<'_>> = p
            .clone()
            .into_inner()
            .filter(|c| c.as_rule() == Rule::string)
            .collect();
        strings.iter().map(|s| self.string(s)).collect()
    }

    fn grade_entry(&mut self, p: P<'_>) -> Option<GradeEntry> {
        let mut docs = Vec::new();
        let mut name = None;
        let mut title = None;
        for c in p.clone().into_inner() {
            match c.as_rule() {
                Rule::doc => docs.push(doc_text(c.as_str())),
                Rule::ident => name = Some(self.name(&c)),
                Rule::title => title = Some(self.string(&c)),
                _ => {}
            }
        }
        let Some(name) = name else {
            self.internal(self.span(&p), "grade name");
            return None;
        };
        Some(GradeEntry {
            doc: join_docs(docs),
            name,
            title,
        })
    }

    fn grade_rule(&mut self, p: P<'_>) -> Option<GradeRule> {
        let span = self.span(&p);
        let mut grade = None;
        let mut allows = Vec::new();
        let mut requires_consent = None;
        let mut article = None;
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::ident => grade = Some(self.name(&c)),
                Rule::ident_list => allows = self.ident_list(&c),
                Rule::consent_clause => requires_consent = Some(self.span(&c)),
                Rule::article => article = self.article(&c),
                _ => {}
            }
        }
        let Some(grade) = grade else {
            self.internal(span, "grade");
            return None;
        };
        Some(GradeRule {
            grade,
            allows,
            requires_consent,
            article,
        })
    }

    fn classify(&mut self, p: P<'_>) -> Option<Classify> {
        let mut out = Classify {
            title: None,
            article: None,
            arms: Vec::new(),
            otherwise: None,
        };
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::title => out.title = Some(self.string(&c)),
                Rule::article => out.article = self.article(&c),
                Rule::classify_arm => {
                    let span = self.span(&c);
                    let mut docs = Vec::new();
                    let mut when = None;
                    let mut grade = None;
                    for a in c.into_inner() {
                        match a.as_rule() {
                            Rule::doc => docs.push(doc_text(a.as_str())),
                            Rule::expr => when = self.expr(a),
                            Rule::ident => grade = Some(self.name(&a)),
                            _ => {}
                        }
                    }
                    if let (Some(when), Some(grade)) = (when, grade) {
                        out.arms.push(ClassifyArm {
                            doc: join_docs(docs),
                            when,
                            grade,
                            span,
                        });
                    } else {
                        self.internal(span, "classification arm");
                    }
                }
                Rule::otherwise_arm => {
                    out.otherwise = c
                        .into_inner()
                        .find(|a| a.as_rule() == Rule::ident)
                        .map(|a| self.name(&a));
                }
                _ => {}
            }
        }
        Some(out)
    }

    fn domain(&mut self, p: P<'_>) -> Option<DomainDecl> {
        let span = self.span(&p);
        let mut name = None;
        let mut title = None;
        let mut priority = false;
        let mut article = None;
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::ident => name = Some(self.name(&c)),
                Rule::title => title = Some(self.string(&c)),
                Rule::priority_flag => priority = true,
                Rule::article => article = self.article(&c),
                _ => {}
            }
        }
        let Some(name) = name else {
            self.internal(span, "domain name");
            return None;
        };
        Some(DomainDecl {
            name,
            title,
            priority,
            article,
        })
    }

    fn dataset(&mut self, p: P<'_>) -> Option<Dataset> {
        let span = self.span(&p);
        let mut out = Dataset {
            name: Name {
                text: String::new(),
                span,
            },
            title: None,
            source: None,
            domain: None,
            tags: Vec::new(),
            fields: Vec::new(),
        };
        let mut has_name = false;
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::path => {
                    out.name = self.name(&c);
                    has_name = true;
                }
                Rule::title => out.title = Some(self.string(&c)),
                Rule::source_stmt => {
                    self.once(out.source.is_some(), &c, "source");
                    if let Some(s) = c.into_inner().find(|a| a.as_rule() == Rule::string) {
                        out.source = Some(self.string(&s));
                    }
                }
                Rule::domain_stmt => {
                    self.once(out.domain.is_some(), &c, "domain");
                    out.domain = c
                        .into_inner()
                        .find(|a| a.as_rule() == Rule::ident)
                        .map(|a| self.name(&a));
                }
                Rule::tags_stmt => {
                    if let Some(l) = c.into_inner().find(|a| a.as_rule() == Rule::string_list) {
                        out.tags.extend(self.string_list(&l));
                    }
                }
                Rule::field_decl => {
                    if let Some(f) = self.field(c) {
                        out.fields.push(f);
                    }
                }
                _ => {}
            }
        }
        if !has_name {
            self.internal(span, "dataset name");
            return None;
        }
        Some(out)
    }

    fn field(&mut self, p: P<'_>) -> Option<FieldDecl> {
        let span = self.span(&p);
        let mut docs = Vec::new();
        let mut name = None;
        let mut title = None;
        let mut tags = Vec::new();
        let mut grade = None;
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::doc => docs.push(doc_text(c.as_str())),
                Rule::ident if name.is_none() => name = Some(self.name(&c)),
                Rule::ident => grade = Some(self.name(&c)),
                Rule::title => title = Some(self.string(&c)),
                Rule::string_list => tags = self.string_list(&c),
                _ => {}
            }
        }
        let Some(name) = name else {
            self.internal(span, "field name");
            return None;
        };
        Some(FieldDecl {
            doc: join_docs(docs),
            name,
            title,
            tags,
            grade,
            span,
        })
    }

    fn scenario(&mut self, p: P<'_>) -> Option<Scenario> {
        let span = self.span(&p);
        let mut name = None;
        let mut out = Scenario {
            name: Name {
                text: String::new(),
                span,
            },
            title: None,
            article: None,
            domain: None,
            purpose: None,
            term: None,
            requires: Vec::new(),
            uses: Vec::new(),
        };
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::ident => name = Some(self.name(&c)),
                Rule::title => out.title = Some(self.string(&c)),
                Rule::article => out.article = self.article(&c),
                Rule::domain_stmt => {
                    self.once(out.domain.is_some(), &c, "domain");
                    out.domain = c
                        .into_inner()
                        .find(|a| a.as_rule() == Rule::ident)
                        .map(|a| self.name(&a));
                }
                Rule::purpose_stmt => {
                    self.once(out.purpose.is_some(), &c, "purpose");
                    if let Some(s) = c.into_inner().find(|a| a.as_rule() == Rule::string) {
                        out.purpose = Some(self.string(&s));
                    }
                }
                Rule::term_stmt => {
                    self.once(out.term.is_some(), &c, "term");
                    let tspan = self.span(&c);
                    let dates: Vec<P<'_>> = c
                        .into_inner()
                        .filter(|a| a.as_rule() == Rule::date)
                        .collect();
                    if let [a, b] = dates.as_slice() {
                        let before = self.errors.len();
                        let start = self.date(a);
                        let end = self.date(b);
                        out.term = Some(Term {
                            start,
                            end,
                            span: tspan,
                            valid: self.errors.len() == before,
                        });
                    } else {
                        self.internal(tspan, "term dates");
                    }
                }
                Rule::require_stmt => {
                    if let Some(r) = self.require(c) {
                        out.requires.push(r);
                    }
                }
                Rule::use_stmt => {
                    if let Some(u) = self.use_stmt(c) {
                        out.uses.push(u);
                    }
                }
                _ => {}
            }
        }
        let Some(name) = name else {
            self.internal(span, "scenario name");
            return None;
        };
        out.name = name;
        Some(out)
    }

    fn require(&mut self, p: P<'_>) -> Option<Require> {
        let span = self.span(&p);
        let mut docs = Vec::new();
        let mut cond = None;
        let mut title = None;
        let mut article = None;
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::doc => docs.push(doc_text(c.as_str())),
                Rule::expr => cond = self.expr(c),
                Rule::title => title = Some(self.string(&c)),
                Rule::article => article = self.article(&c),
                _ => {}
            }
        }
        let Some(cond) = cond else {
            self.internal(span, "requirement");
            return None;
        };
        Some(Require {
            doc: join_docs(docs),
            cond,
            title,
            article,
            span,
        })
    }

    fn field_set(&self, p: P<'_>) -> FieldSet {
        let span = self.span(&p);
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::wildcard => return FieldSet::All(self.span(&c)),
                Rule::ident_list => return FieldSet::Some(self.ident_list(&c)),
                _ => {}
            }
        }
        FieldSet::All(span)
    }

    fn use_stmt(&mut self, p: P<'_>) -> Option<Use> {
        let span = self.span(&p);
        let mut dataset = None;
        let mut fields = None;
        let mut actions = Vec::new();
        let mut requires_consent = None;
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::path => dataset = Some(self.name(&c)),
                Rule::field_set => fields = Some(self.field_set(c)),
                Rule::ident_list => actions = self.ident_list(&c),
                Rule::consent_clause => requires_consent = Some(self.span(&c)),
                _ => {}
            }
        }
        let (Some(dataset), Some(fields)) = (dataset, fields) else {
            self.internal(span, "scope");
            return None;
        };
        Some(Use {
            dataset,
            fields,
            actions,
            requires_consent,
            span,
        })
    }

    fn admission(&mut self, p: P<'_>, span: Span) -> Admission {
        let mut out = Admission {
            title: None,
            article: None,
            requires: Vec::new(),
            keyword: span,
        };
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::kw_admission => out.keyword = self.span(&c),
                Rule::title => out.title = Some(self.string(&c)),
                Rule::article => out.article = self.article(&c),
                Rule::require_stmt => {
                    if let Some(r) = self.require(c) {
                        out.requires.push(r);
                    }
                }
                _ => {}
            }
        }
        out
    }

    fn trigger(&mut self, p: P<'_>, kind: TriggerKind) -> Option<Trigger> {
        let span = self.span(&p);
        let mut name = None;
        let mut title = None;
        let mut article = None;
        let mut when = None;
        let mut measures = Vec::new();
        let mut measures_span = None;
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::ident => name = Some(self.name(&c)),
                Rule::title => title = Some(self.string(&c)),
                Rule::article => article = self.article(&c),
                Rule::when_stmt => {
                    when = c
                        .into_inner()
                        .find(|a| a.as_rule() == Rule::expr)
                        .and_then(|a| self.expr(a));
                }
                Rule::measures_stmt => {
                    measures_span = Some(self.span(&c));
                    if let Some(l) = c.into_inner().find(|a| a.as_rule() == Rule::ident_list) {
                        measures = self.ident_list(&l);
                    }
                }
                _ => {}
            }
        }
        let (Some(name), Some(when)) = (name, when) else {
            self.internal(span, "rule name or condition");
            return None;
        };
        Some(Trigger {
            kind,
            name,
            title,
            article,
            when,
            measures,
            measures_span,
        })
    }

    fn limit(&mut self, p: P<'_>) -> Option<LimitStmt> {
        let span = self.span(&p);
        let mut key = None;
        let mut value = None;
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::kw_max_term | Rule::kw_reapply_window => key = Some(self.name(&c)),
                Rule::duration => value = self.duration(&c),
                _ => {}
            }
        }
        let (Some(key), Some(value)) = (key, value) else {
            self.internal(span, "limit");
            return None;
        };
        Some(LimitStmt { key, value, span })
    }

    fn simple(&mut self, p: P<'_>) -> Option<SimpleDecl> {
        let span = self.span(&p);
        let mut name = None;
        let mut title = None;
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::ident => name = Some(self.name(&c)),
                Rule::title => title = Some(self.string(&c)),
                _ => {}
            }
        }
        let Some(name) = name else {
            self.internal(span, "name");
            return None;
        };
        Some(SimpleDecl { name, title })
    }

    fn fact(&mut self, p: P<'_>) -> Option<FactDecl> {
        let span = self.span(&p);
        let mut name = None;
        let mut ty = None;
        let mut title = None;
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::ident => name = Some(self.name(&c)),
                Rule::type_expr => {
                    let ty_span = self.span(&c);
                    if let Some(t) = c.into_inner().next() {
                        match t.as_rule() {
                            Rule::ident => ty = Some((TypeExpr::Named(self.name(&t)), ty_span)),
                            Rule::set_type => {
                                if let Some(el) =
                                    t.into_inner().find(|a| a.as_rule() == Rule::ident)
                                {
                                    ty = Some((TypeExpr::Set(self.name(&el)), ty_span));
                                }
                            }
                            _ => {}
                        }
                    }
                }
                Rule::title => title = Some(self.string(&c)),
                _ => {}
            }
        }
        let (Some(name), Some((ty, ty_span))) = (name, ty) else {
            self.internal(span, "fact name or type");
            return None;
        };
        Some(FactDecl {
            name,
            ty,
            ty_span,
            title,
        })
    }

    fn forbid(&mut self, p: P<'_>) -> Option<ForbidDecl> {
        let span = self.span(&p);
        let mut name = None;
        let mut title = None;
        let mut article = None;
        let mut actions = Vec::new();
        let mut when = None;
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::ident => name = Some(self.name(&c)),
                Rule::title => title = Some(self.string(&c)),
                Rule::article => article = self.article(&c),
                Rule::ident_list => actions = self.ident_list(&c),
                Rule::when_stmt => {
                    when = c
                        .into_inner()
                        .find(|a| a.as_rule() == Rule::expr)
                        .and_then(|a| self.expr(a));
                }
                _ => {}
            }
        }
        let Some(name) = name else {
            self.internal(span, "forbid name");
            return None;
        };
        Some(ForbidDecl {
            name,
            title,
            article,
            actions,
            when,
        })
    }

    fn consent(&mut self, p: P<'_>) -> ConsentDecl {
        let mut out = ConsentDecl {
            tags: Vec::new(),
            article: None,
        };
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::string_list => out.tags = self.string_list(&c),
                Rule::article => out.article = self.article(&c),
                _ => {}
            }
        }
        out
    }

    fn fixture(&mut self, p: P<'_>) -> Option<Fixture> {
        let span = self.span(&p);
        let mut id = None;
        let mut title = None;
        let mut facts = Vec::new();
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::string => id = Some(self.string(&c)),
                Rule::title => title = Some(self.string(&c)),
                Rule::fact_block => facts = self.fact_block(c),
                _ => {}
            }
        }
        let Some(id) = id else {
            self.internal(span, "fixture id");
            return None;
        };
        Some(Fixture { id, title, facts })
    }

    fn fact_block(&mut self, p: P<'_>) -> Vec<FactAssign> {
        let mut out = Vec::new();
        for c in p.into_inner() {
            if c.as_rule() != Rule::fact_assign {
                continue;
            }
            let mut name = None;
            let mut value = None;
            for a in c.into_inner() {
                match a.as_rule() {
                    Rule::ident => name = Some(self.name(&a)),
                    Rule::value => value = self.value(a),
                    _ => {}
                }
            }
            if let (Some(name), Some(value)) = (name, value) {
                out.push(FactAssign { name, value });
            }
        }
        out
    }

    fn value(&mut self, p: P<'_>) -> Option<Value> {
        let span = self.span(&p);
        let inner = p.into_inner().next()?;
        Some(match inner.as_rule() {
            Rule::date => Value::Date(self.date(&inner), span),
            Rule::duration => Value::Duration(self.duration(&inner)?, span),
            Rule::int => Value::Int(self.int(&inner), span),
            Rule::string => Value::Str(self.string(&inner)),
            Rule::kw_true => Value::Bool(true, span),
            Rule::kw_false => Value::Bool(false, span),
            Rule::ident => Value::Name(self.name(&inner)),
            Rule::value_list => Value::List(
                inner
                    .into_inner()
                    .filter(|a| a.as_rule() == Rule::value)
                    .filter_map(|a| self.value(a))
                    .collect(),
                span,
            ),
            _ => {
                self.internal(span, "value");
                return None;
            }
        })
    }

    fn test(&mut self, p: P<'_>) -> Option<TestDecl> {
        let span = self.span(&p);
        let mut name = None;
        let mut givens = Vec::new();
        let mut at = None;
        let mut expects = Vec::new();
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::string => name = Some(self.string(&c)),
                Rule::given_stmt => {
                    let gspan = self.span(&c);
                    let mut id = None;
                    let mut facts = Vec::new();
                    for a in c.into_inner() {
                        match a.as_rule() {
                            Rule::string => id = Some(self.string(&a)),
                            Rule::fact_block => facts = self.fact_block(a),
                            _ => {}
                        }
                    }
                    if let Some(id) = id {
                        givens.push(Given {
                            id,
                            facts,
                            span: gspan,
                        });
                    }
                }
                Rule::at_stmt => {
                    self.once(at.is_some(), &c, "at");
                    if let Some(d) = c.into_inner().find(|a| a.as_rule() == Rule::date) {
                        at = Some((self.date(&d), self.span(&d)));
                    }
                }
                Rule::expect_stmt => {
                    if let Some(e) = self.expect(c) {
                        expects.push(e);
                    }
                }
                _ => {}
            }
        }
        let Some(name) = name else {
            self.internal(span, "test name");
            return None;
        };
        Some(TestDecl {
            name,
            givens,
            at,
            expects,
        })
    }

    fn expect(&mut self, p: P<'_>) -> Option<Expect> {
        let span = self.span(&p);
        let inner = p
            .into_inner()
            .find(|c| matches!(c.as_rule(), Rule::expect_decision | Rule::expect_trigger))?;
        if inner.as_rule() == Rule::expect_decision {
            let mut allow = true;
            let mut idents: Vec<Name> = Vec::new();
            let mut dataset = None;
            let mut fields = None;
            let mut developer = None;
            let mut consent = None;
            let mut because = None;
            for c in inner.into_inner() {
                match c.as_rule() {
                    Rule::decision => {
                        allow = c.into_inner().next().map(|d| d.as_rule()) == Some(Rule::kw_allow)
                    }
                    Rule::ident => idents.push(self.name(&c)),
                    Rule::path => dataset = Some(self.name(&c)),
                    Rule::field_set => fields = Some(self.field_set(c)),
                    Rule::string => developer = Some(self.string(&c)),
                    Rule::consent_given => {
                        let r = c.into_inner().find(|a| a.as_rule() == Rule::string);
                        consent = Some(r.map(|s| self.string(&s)));
                    }
                    Rule::because => {
                        if let Some(r) = c
                            .into_inner()
                            .find(|a| matches!(a.as_rule(), Rule::string | Rule::path))
                        {
                            because = Some(if r.as_rule() == Rule::string {
                                RuleRef::Id(self.string(&r))
                            } else {
                                RuleRef::Name(self.name(&r))
                            });
                        }
                    }
                    _ => {}
                }
            }
            let mut idents = idents.into_iter();
            let (Some(action), Some(dataset), Some(scenario)) =
                (idents.next(), dataset, idents.next())
            else {
                self.internal(span, "expectation");
                return None;
            };
            return Some(Expect::Decision(ExpectDecision {
                allow,
                action,
                dataset,
                fields,
                developer,
                scenario,
                consent,
                because,
                span,
            }));
        }
        let mut kind = TriggerKind::Exit;
        let mut name = None;
        let mut developer = None;
        let mut measures = Vec::new();
        for c in inner.into_inner() {
            match c.as_rule() {
                Rule::trigger_kind => {
                    kind = match c.into_inner().next().map(|d| d.as_rule()) {
                        Some(Rule::kw_suspend) => TriggerKind::Suspend,
                        Some(Rule::kw_notice) => TriggerKind::Notice,
                        _ => TriggerKind::Exit,
                    }
                }
                Rule::ident => name = Some(self.name(&c)),
                Rule::string => developer = Some(self.string(&c)),
                Rule::measures_stmt => {
                    if let Some(l) = c.into_inner().find(|a| a.as_rule() == Rule::ident_list) {
                        measures = self.ident_list(&l);
                    }
                }
                _ => {}
            }
        }
        let Some(name) = name else {
            self.internal(span, "rule name");
            return None;
        };
        Some(Expect::Trigger(ExpectTrigger {
            kind,
            name,
            developer,
            measures,
            span,
        }))
    }

    fn date(&mut self, p: &P<'_>) -> Date {
        let text = p.as_str();
        let span = self.span(p);
        let parts: Vec<&str> = text.split('-').collect();
        let parsed = match parts.as_slice() {
            [y, m, d] => match (y.parse::<i32>(), m.parse::<u32>(), d.parse::<u32>()) {
                (Ok(y), Ok(m), Ok(d)) => Some(Date {
                    year: y,
                    month: m,
                    day: d,
                }),
                _ => None,
            },
            _ => None,
        };
        match parsed {
            Some(d) if d.to_civil().is_some() => d,
            _ => {
                self.errors.push(SyntaxError {
                    kind: SyntaxErrorKind::InvalidLiteral,
                    message: format!("invalid date `{text}`"),
                    span,
                    label: "no such day".to_string(),
                    help: Some(
                        "dates are written YYYY-MM-DD with a real month and day".to_string(),
                    ),
                    related: Vec::new(),
                    fix: None,
                });
                Date {
                    year: 1970,
                    month: 1,
                    day: 1,
                }
            }
        }
    }

    fn int(&mut self, p: &P<'_>) -> i64 {
        match p.as_str().parse::<i64>() {
            Ok(v) => v,
            Err(_) => {
                self.errors.push(SyntaxError {
                    kind: SyntaxErrorKind::InvalidLiteral,
                    message: format!("number `{}` is too large", p.as_str()),
                    span: self.span(p),
                    label: "out of range".to_string(),
                    help: Some("numbers are 64-bit signed integers".to_string()),
                    related: Vec::new(),
                    fix: None,
                });
                0
            }
        }
    }

    fn duration(&mut self, p: &P<'_>) -> Option<Duration> {
        let mut amount = None;
        let mut unit = None;
        for c in p.clone().into_inner() {
            match c.as_rule() {
                Rule::int => amount = Some(self.int(&c)),
                Rule::duration_unit => {
                    unit = Some(match c.as_str() {
                        "day" | "days" | "天" | "日" => DurationUnit::Days,
                        "month" | "months" | "个月" | "月" => DurationUnit::Months,
                        _ => DurationUnit::Years,
                    })
                }
                _ => {}
            }
        }
        match (amount, unit) {
            (Some(amount), Some(unit)) => Some(Duration { amount, unit }),
            _ => {
                self.internal(self.span(p), "duration");
                None
            }
        }
    }

    /// Builds an expression. Rules that wrap a single child (`expr`, a one-term
    /// `or_expr`, a `cmp_expr` without an operator …) add no node, so they are
    /// descended in a loop: the recursion is one call per node of the tree, and the
    /// tree is at most [`MAX_NESTING`] levels deep (checked before pest runs).
    fn expr(&mut self, p: P<'_>) -> Option<Expr> {
        let mut p = p;
        loop {
            let mut inner = p.clone().into_inner();
            let single = match (inner.next(), inner.next()) {
                (Some(first), None) => Some(first),
                _ => None,
            };
            match (p.as_rule(), single) {
                (
                    Rule::expr | Rule::or_expr | Rule::and_expr | Rule::cmp_expr | Rule::sum_expr,
                    Some(first),
                ) => p = first,
                (Rule::not_expr, Some(first)) if first.as_rule() != Rule::kw_not => p = first,
                _ => break,
            }
        }
        let span = self.span(&p);
        match p.as_rule() {
            Rule::paren => {
                let inner = p.into_inner().next()?;
                let e = self.expr(inner)?;
                Some(Expr {
                    kind: ExprKind::Paren(Box::new(e)),
                    span,
                })
            }
            Rule::or_expr | Rule::and_expr => {
                let is_or = p.as_rule() == Rule::or_expr;
                let mut items = Vec::new();
                for c in p.into_inner() {
                    if matches!(c.as_rule(), Rule::kw_or | Rule::kw_and) {
                        continue;
                    }
                    items.push(self.expr(c)?);
                }
                if items.len() < 2 {
                    return items.pop();
                }
                Some(Expr {
                    kind: if is_or {
                        ExprKind::Or(items)
                    } else {
                        ExprKind::And(items)
                    },
                    span,
                })
            }
            Rule::not_expr => {
                let mut inner = p.into_inner();
                let first = inner.next()?;
                if first.as_rule() == Rule::kw_not {
                    let e = self.expr(inner.next()?)?;
                    Some(Expr {
                        kind: ExprKind::Not(Box::new(e)),
                        span,
                    })
                } else {
                    self.expr(first)
                }
            }
            Rule::cmp_expr => {
                let mut inner = p.into_inner();
                let left = self.expr(inner.next()?)?;
                let Some(op) = inner.next() else {
                    return Some(left);
                };
                let right = self.expr(inner.next()?)?;
                let op = match op.as_str() {
                    "==" => BinOp::Eq,
                    "!=" => BinOp::Ne,
                    "<=" => BinOp::Le,
                    ">=" => BinOp::Ge,
                    "<" => BinOp::Lt,
                    ">" => BinOp::Gt,
                    "contains" => BinOp::Contains,
                    _ => BinOp::In,
                };
                Some(Expr {
                    kind: ExprKind::Binary(op, Box::new(left), Box::new(right)),
                    span,
                })
            }
            Rule::sum_expr => {
                let mut inner = p.into_inner();
                let mut acc = self.expr(inner.next()?)?;
                while let Some(op) = inner.next() {
                    let right = self.expr(inner.next()?)?;
                    let op = if op.as_str() == "+" {
                        BinOp::Add
                    } else {
                        BinOp::Sub
                    };
                    let s = acc.span.to(right.span);
                    acc = Expr {
                        kind: ExprKind::Binary(op, Box::new(acc), Box::new(right)),
                        span: s,
                    };
                }
                Some(acc)
            }
            Rule::date => Some(Expr {
                kind: ExprKind::Date(self.date(&p)),
                span,
            }),
            Rule::duration => Some(Expr {
                kind: ExprKind::Duration(self.duration(&p)?),
                span,
            }),
            Rule::int => Some(Expr {
                kind: ExprKind::Int(self.int(&p)),
                span,
            }),
            Rule::string => Some(Expr {
                kind: ExprKind::Str(self.string(&p).value),
                span,
            }),
            Rule::kw_true => Some(Expr {
                kind: ExprKind::Bool(true),
                span,
            }),
            Rule::kw_false => Some(Expr {
                kind: ExprKind::Bool(false),
                span,
            }),
            Rule::path => Some(Expr {
                kind: ExprKind::Path(self.name(&p)),
                span,
            }),
            Rule::list => {
                let mut items = Vec::new();
                for c in p.into_inner() {
                    if c.as_rule() == Rule::expr {
                        items.push(self.expr(c)?);
                    }
                }
                Some(Expr {
                    kind: ExprKind::List(items),
                    span,
                })
            }
            _ => {
                self.internal(span, "expression");
                None
            }
        }
    }
}

fn doc_text(raw: &str) -> String {
    let t = raw.strip_prefix("///").unwrap_or(raw);
    t.strip_prefix(' ').unwrap_or(t).trim_end().to_string()
}

fn join_docs(docs: Vec<String>) -> Option<String> {
    if docs.is_empty() {
        None
    } else {
        Some(docs.join("\n"))
    }
}

fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(other) => out.push(other),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_past_the_limit_is_refused_with_one_error() {
        assert_eq!(too_large(16, 16), None);
        let Some(e) = too_large(17, 16) else {
            unreachable!("a file past the limit is refused");
        };
        assert_eq!(e.kind, SyntaxErrorKind::Syntax);
        assert_eq!(
            e.message,
            "the file is 17 bytes, longer than the 16 bytes Charter reads"
        );
        assert_eq!(e.span, Span::new(0, 0));
        // The real limit leaves room for every offset of an accepted file in a span.
        assert!(u32::try_from(MAX_SOURCE_BYTES + 1).is_ok());
    }
}
