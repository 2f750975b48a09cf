//! Parsing a file: cut it into declarations, parse each with pest, build the tree.
//!
//! Recovery works at declaration boundaries: [`split_declarations`] finds where each
//! top-level declaration starts without parsing it, so a syntax error is confined to
//! the declaration it is in and every other declaration still reaches the checker.

use pest::iterators::{Pair, Pairs};
use pest::Parser as _;

use super::ast::*;

mod grammar {
    // pest_derive generates the `Rule` enum without docs.
    #![allow(missing_docs)]

    /// The pest parser generated from `charter.pest`.
    #[derive(pest_derive::Parser)]
    #[grammar = "syntax/charter.pest"]
    pub struct CharterGrammar;
}

use grammar::CharterGrammar;
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
}

/// The keywords that start a top-level declaration.
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

/// Parses one file. Never panics; every problem becomes a [`SyntaxError`].
pub fn parse(text: &str) -> ParsedFile {
    let mut out = ParsedFile::default();
    for (start, end) in split_declarations(text) {
        let Some(chunk) = text.get(start..end) else {
            continue;
        };
        if let Some(e) = nesting_error(chunk, start) {
            out.errors.push(e);
            continue;
        }
        match CharterGrammar::parse(Rule::declaration, chunk) {
            Ok(pairs) => {
                let mut b = Builder {
                    base: start,
                    errors: &mut out.errors,
                };
                if let Some(item) = b.declaration(pairs) {
                    out.items.push(item);
                }
            }
            Err(e) => out.errors.push(convert_pest_error(&e, chunk, start)),
        }
    }
    out
}

/// The pest parse tree of one declaration (a range from [`split_declarations`]), or
/// `None` when it does not parse. For tools that need every token as written, such
/// as the formatter; everything else uses [`parse`].
pub fn declaration_tree(chunk: &str) -> Option<Pairs<'_, Rule>> {
    if nesting_error(chunk, 0).is_some() {
        return None;
    }
    CharterGrammar::parse(Rule::declaration, chunk).ok()
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
/// [`MAX_NESTING`], found on the raw text in one linear pass, so that no parser ever
/// recurses over it. The count is an upper bound on the depth of the tree
/// [`parse`] would build: `not` and `+`/`-` raise the level until the next `and`, `or`
/// or `,`, a bracket raises it until it closes. The error points at the token that
/// opened the outermost of those levels.
fn nesting_error(chunk: &str, base: usize) -> Option<SyntaxError> {
    // The start and end of the token that opened each level now open.
    let mut openers: Vec<(usize, usize)> = Vec::new();
    // For each open bracket: the level where its contents start, and the level before it.
    let mut brackets: Vec<(usize, usize)> = Vec::new();
    let mut floor = 0usize;
    let mut depth = 0usize;
    let bytes = chunk.as_bytes();
    let mut i = 0usize;
    let mut raise = |depth: &mut usize, start: usize, end: usize| -> Option<SyntaxError> {
        openers.truncate(*depth);
        openers.push((start, end));
        *depth += 1;
        if *depth <= MAX_NESTING {
            return None;
        }
        let (s, e) = openers.first().copied().unwrap_or((start, end));
        Some(SyntaxError {
            kind: SyntaxErrorKind::TooDeep,
            message: format!("expression is nested more than {MAX_NESTING} levels deep"),
            span: Span::new(base + s, base + e),
            label: "the nesting that goes too deep starts here".to_string(),
            help: Some(format!(
                "at most {MAX_NESTING} levels of `not`, parentheses, lists and `+`/`-` may nest; \
                 split the condition (chains of `and` and `or` may be of any length)"
            )),
        })
    };
    while let Some(&b) = bytes.get(i) {
        match b {
            b'"' => {
                // A string: to its closing quote, or the end of the line.
                i += 1;
                while let Some(&c) = bytes.get(i) {
                    i += 1;
                    match c {
                        b'\\' => i += 1,
                        b'"' | b'\n' => break,
                        _ => {}
                    }
                }
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while bytes.get(i).is_some_and(|&c| c != b'\n') {
                    i += 1;
                }
                continue;
            }
            b'(' | b'[' => {
                brackets.push((floor, depth));
                if let Some(e) = raise(&mut depth, i, i + 1) {
                    return Some(e);
                }
                floor = depth;
            }
            b')' | b']' => {
                if let Some((f, d)) = brackets.pop() {
                    floor = f;
                    depth = d;
                }
            }
            b'{' | b'}' => {
                brackets.clear();
                floor = 0;
                depth = 0;
            }
            b',' => depth = floor,
            b'+' | b'-' => {
                if let Some(e) = raise(&mut depth, i, i + 1) {
                    return Some(e);
                }
            }
            _ if b.is_ascii_digit() => {
                // A number, or a date such as `2026-01-01` whose dashes are not minus.
                let is_date = bytes.get(i..i + 10).is_some_and(|d| {
                    d.iter().enumerate().all(|(k, c)| match k {
                        4 | 7 => *c == b'-',
                        _ => c.is_ascii_digit(),
                    })
                });
                i += if is_date { 10 } else { 1 };
                while bytes.get(i).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                }
                continue;
            }
            _ if b.is_ascii_alphabetic() || b == b'_' || b >= 0x80 => {
                let start = i;
                let rest = chunk.get(i..).unwrap_or("");
                let len: usize = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '.')
                    .map(char::len_utf8)
                    .sum();
                // A character that is not part of a word (full-width punctuation …).
                let len = len.max(rest.chars().next().map_or(1, char::len_utf8));
                i += len;
                match chunk.get(start..i).unwrap_or("") {
                    "not" => {
                        if let Some(e) = raise(&mut depth, start, i) {
                            return Some(e);
                        }
                    }
                    "and" | "or" => depth = floor,
                    // Keywords that end one expression and may start the next; as
                    // names inside an expression they end no bracket.
                    "when" | "then" | "otherwise" | "require" | "measures" | "actions"
                    | "article" => depth = floor,
                    _ => {}
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// Byte ranges of the top-level declarations of `text`, doc comments included.
///
/// A declaration starts on a line whose first word is a declaration keyword, when
/// that line is outside any braces or starts in the first column (so an unclosed
/// brace does not swallow the rest of the file). Text before the first declaration
/// that is not blank or a comment becomes a range of its own, so it is reported.
pub fn split_declarations(text: &str) -> Vec<(usize, usize)> {
    let mut starts: Vec<usize> = Vec::new();
    let mut depth: i64 = 0;
    let mut doc_start: Option<usize> = None;
    let mut offset = 0usize;
    let mut seen_content_before_first = false;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start_matches([' ', '\t', '\u{3000}', '\u{FEFF}']);
        let indent = line.len() - trimmed.len();
        let first_word: &str = trimmed
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .next()
            .unwrap_or("");
        if trimmed.starts_with("///") {
            if depth <= 0 || indent == 0 {
                doc_start.get_or_insert(offset);
            }
        } else if !first_word.is_empty()
            && DECLARATION_KEYWORDS.contains(&first_word)
            && (depth <= 0 || indent == 0)
        {
            starts.push(doc_start.take().unwrap_or(offset));
            depth = 0;
        } else if !trimmed.trim().is_empty() && !trimmed.starts_with("//") {
            doc_start = None;
            if starts.is_empty() {
                seen_content_before_first = true;
            }
        }
        depth += brace_delta(line);
        offset += line.len();
    }
    if seen_content_before_first || starts.is_empty() && !is_blank(text) {
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

fn is_blank(text: &str) -> bool {
    text.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with("//")
    })
}

/// The change in brace depth over one line, ignoring strings and comments.
fn brace_delta(line: &str) -> i64 {
    let mut delta = 0;
    let mut in_string = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if in_string {
            match c {
                '\\' => {
                    chars.next();
                }
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '/' if chars.peek() == Some(&'/') => break,
            '{' => delta += 1,
            '}' => delta -= 1,
            _ => {}
        }
    }
    delta
}

fn convert_pest_error(e: &pest::error::Error<Rule>, chunk: &str, base: usize) -> SyntaxError {
    let pos = match e.location {
        pest::error::InputLocation::Pos(p) => p,
        pest::error::InputLocation::Span((s, _)) => s,
    };
    let found = token_at(chunk, pos);
    if let pest::error::ErrorVariant::CustomError { message } = &e.variant {
        if message.contains("limit reached") {
            // pest ran out of stack or calls: only deep nesting gets it there, and the
            // pre-scan refuses that first, unless the thread's stack is very small.
            let len = found.as_ref().map_or(0, |t| t.len());
            return SyntaxError {
                kind: SyntaxErrorKind::TooDeep,
                message: "expression is nested too deeply to parse".to_string(),
                span: Span::new(base + pos, base + pos + len),
                label: "the parser gave up here".to_string(),
                help: Some(format!(
                    "at most {MAX_NESTING} levels of `not`, parentheses, lists and `+`/`-` may nest; \
                     split the condition"
                )),
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
    if let Some(rest) = chunk.get(pos..) {
        let line = rest.split('\n').next().unwrap_or("");
        if line.starts_with('"')
            && !line
                .get(1..)
                .unwrap_or("")
                .replace("\\\"", "")
                .contains('"')
        {
            let line = line.trim_end_matches('\r');
            return SyntaxError {
                kind: SyntaxErrorKind::Syntax,
                message: "unterminated string".to_string(),
                span: Span::new(base + pos, base + pos + line.len()),
                label: "this string is not closed".to_string(),
                help: Some("close the string with `\"` before the end of the line".to_string()),
            };
        }
    }
    let span_len = found.as_ref().map_or(0, |t| t.len());
    let span = Span::new(base + pos, base + pos + span_len);
    let found_text = match &found {
        Some(t) => format!("`{t}`"),
        None => "end of input".to_string(),
    };
    let expected_text = join_alternatives(&expected);
    let message = if !expected.is_empty() {
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
    let help = help_for(&expected, found.as_deref());
    SyntaxError {
        kind: SyntaxErrorKind::Syntax,
        message,
        span,
        label,
        help,
    }
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

/// The token a person would see at `pos`: a word, a string, or one symbol.
fn token_at(chunk: &str, pos: usize) -> Option<String> {
    let rest = chunk.get(pos..)?;
    let mut chars = rest.chars();
    let first = chars.next()?;
    if first.is_alphanumeric() || first == '_' {
        let word: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '.')
            .take(40)
            .collect();
        return Some(word);
    }
    if first == '"' {
        // The string as written, up to its closing quote or the end of the line,
        // so that the span covers exactly these bytes.
        let mut end = first.len_utf8();
        for (n, c) in rest.char_indices().skip(1).take(40) {
            if c == '\n' {
                break;
            }
            end = n + c.len_utf8();
            if c == '"' {
                break;
            }
        }
        return rest.get(..end).map(str::to_string);
    }
    if rest.starts_with("..")
        || rest.starts_with("==")
        || rest.starts_with("<=")
        || rest.starts_with(">=")
        || rest.starts_with("!=")
    {
        return rest.get(..2).map(str::to_string);
    }
    Some(first.to_string())
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
            Some(d)
                if d.month >= 1
                    && d.month <= 12
                    && d.day >= 1
                    && d.day <= days_in_month(d.year, d.month) =>
            {
                d
            }
            _ => {
                self.errors.push(SyntaxError {
                    kind: SyntaxErrorKind::InvalidLiteral,
                    message: format!("invalid date `{text}`"),
                    span,
                    label: "no such day".to_string(),
                    help: Some(
                        "dates are written YYYY-MM-DD with a real month and day".to_string(),
                    ),
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

/// Whether `year` is a leap year.
pub fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Days in `month` of `year`.
pub fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
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
