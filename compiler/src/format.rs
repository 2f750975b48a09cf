//! `charter fmt`: one canonical layout for `.charter` files that keeps every comment.
//!
//! The formatter works on the concrete parse tree (pest's, through
//! [`declaration_tree`]), so it sees every token exactly as written; comments, which the
//! grammar skips between tokens, are read from the grammar's token stream
//! ([`crate::syntax::lex`]) and put back before the token they preceded or after the token
//! they followed on its line. Only whitespace changes: the tokens, their
//! order and the comments are the same before and after, which [`format_source`]
//! verifies on its own output before returning it. So formatting never changes what a
//! file compiles to.
//!
//! The layout:
//! - a declaration block (`scenario … {`, `dataset … {`, `test … {` …) puts each
//!   statement on its own line, indented by two spaces, and its `}` on a line of its own;
//! - blank lines between declarations and between statements are kept, at most one;
//!   blank lines inside a statement, at the start of a block and at the end of the file
//!   are dropped;
//! - inside a statement, tokens are one space apart (none before `,` or inside `[ ]` and
//!   `( )`); the author's line breaks are kept where a line may break (not before `,` or
//!   `}`, not after `(` or `=`), and a continued line is indented to a fixed place: the
//!   first element of the list it continues, the start of the condition it continues, or
//!   else the statement's indentation plus two;
//! - a `{ … }` field list or fact block that the author opened with a line break is laid
//!   out as a block, `}` on its own line; otherwise it stays on one line;
//! - keyword statements that follow each other (`domain`, `purpose`, `term`; `source`,
//!   `domain`, `tags`; `when`, `measures`; `actions`, `when`) align what follows the
//!   keyword, and so do the columns of consecutive one-line `field` declarations, grade
//!   entries and one-per-line facts (`name = value`), counting a Chinese character as two
//!   columns, as a terminal shows it;
//! - durations are written `3 years` with ASCII units and `3个月` with Chinese ones;
//! - every line ends without trailing whitespace, with `\n`, and the file with one `\n`.
//!
//! A file with a syntax error is not formatted: [`format_source`] returns an error.

use std::collections::HashMap;

use pest::iterators::Pair;
use unicode_width::UnicodeWidthStr;

use crate::syntax::parser::{declaration_ranges_of, declaration_tree_in, Rule};
use crate::syntax::{lex, parse, SyntaxErrorKind, Token, TokenKind};

/// Why a file was not formatted.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum FormatError {
    /// The file does not parse; it is left as it is.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Syntax(Box<SyntaxProblem>),
    /// The formatter produced text with other tokens than the input: a bug in Charter.
    /// The file is left as it is.
    #[error("formatting `{path}` would change its tokens, so it was left as it is")]
    #[diagnostic(
        code(charter::fmt::internal),
        help("this is a bug in Charter's formatter; please report it with the file")
    )]
    Internal {
        /// The file.
        path: String,
    },
}

/// A file that was not formatted because it has syntax errors, shown at the first.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("`{path}` has {count} syntax error(s) and was left as it is: {message}")]
#[diagnostic(
    code(charter::fmt::syntax),
    help("fix the syntax first (`charter check` lists every error), then format again")
)]
pub struct SyntaxProblem {
    /// The file.
    pub path: String,
    /// How many syntax errors.
    pub count: usize,
    /// The first error's message.
    pub message: String,
    /// 1-based line of the first error.
    pub line: usize,
    /// 1-based column of the first error, in characters.
    pub column: usize,
    /// The lines around the first error (an excerpt, so that any column renders).
    #[source_code]
    src: crate::diagnostics::Excerpt,
    /// The first error.
    #[label("{label}")]
    span: miette::SourceSpan,
    /// Its label.
    label: String,
}

/// Formats the text of one `.charter` file. `path` only names the file in errors.
pub fn format_source(path: &str, text: &str) -> Result<String, FormatError> {
    let parsed = parse(text);
    let syntax: Vec<_> = parsed
        .errors
        .iter()
        .filter(|e| matches!(e.kind, SyntaxErrorKind::Syntax | SyntaxErrorKind::TooDeep))
        .collect();
    if let Some(first) = syntax.first() {
        let source = crate::diagnostics::SourceText::new(path, text);
        let lc = source.line_col(first.span.start as usize);
        let excerpt = crate::diagnostics::Excerpt::new(&source, first.span, &[]);
        let shown = excerpt.primary();
        return Err(FormatError::Syntax(Box::new(SyntaxProblem {
            path: path.to_string(),
            count: syntax.len(),
            message: first.message.clone(),
            line: lc.line,
            column: lc.column,
            src: excerpt,
            span: shown.into(),
            label: first.label.clone(),
        })));
    }
    let internal = || FormatError::Internal {
        path: path.to_string(),
    };
    let file = File::read(text).ok_or_else(internal)?;
    let out = Printer::new(text, &file).file();
    // The guarantee that formatting changes nothing but whitespace, checked on every run.
    let again = File::read(&out).ok_or_else(internal)?;
    let same_tokens = file
        .toks
        .iter()
        .map(|t| t.text.as_str())
        .eq(again.toks.iter().map(|t| t.text.as_str()));
    let same_comments = file
        .comments
        .iter()
        .map(|c| c.text.as_str())
        .eq(again.comments.iter().map(|c| c.text.as_str()));
    if !same_tokens || !same_comments {
        return Err(internal());
    }
    Ok(out)
}

/// The tokens of a file as the formatter sees them (durations normalized, doc comments
/// trimmed), or `None` when it does not parse. Formatting keeps this sequence.
pub fn significant_tokens(text: &str) -> Option<Vec<String>> {
    File::read(text).map(|f| f.toks.into_iter().map(|t| t.text).collect())
}

/// The byte ranges of the tokens of a file, in order, or `None` when it does not parse:
/// the places between them are where whitespace may change.
pub fn token_ranges(text: &str) -> Option<Vec<std::ops::Range<usize>>> {
    File::read(text).map(|f| f.toks.into_iter().map(|t| t.start..t.end).collect())
}

/// The `//` comments of a file (doc comments excluded), trailing whitespace trimmed.
/// Formatting keeps this sequence.
pub fn comments(text: &str) -> Vec<String> {
    scan_comments(text).into_iter().map(|c| c.text).collect()
}

/// A `//` comment (not a `///` doc comment, which the grammar keeps as a token).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comment {
    /// Byte offset of the `//`.
    pub start: usize,
    /// Byte offset of the end of the line (before `\r\n` or `\n`).
    pub end: usize,
    /// The comment, `//` included, trailing whitespace trimmed.
    pub text: String,
}

/// The `//` comments of a text: the comment tokens of its token stream.
pub fn scan_comments(text: &str) -> Vec<Comment> {
    comments_of(text, &lex(text))
}

/// The `//` comments among the tokens of `text`.
pub(crate) fn comments_of(text: &str, tokens: &[Token]) -> Vec<Comment> {
    tokens
        .iter()
        .filter(|t| t.kind == TokenKind::Comment)
        .map(|t| {
            let body = t.text(text).trim_end_matches('\r');
            let start = t.span.start as usize;
            Comment {
                start,
                end: start + body.len(),
                text: body.trim_end().to_string(),
            }
        })
        .collect()
}

// ------------------------------------------------------------------ the tree

/// A token as the formatter prints it.
#[derive(Clone, Debug)]
struct Tok {
    /// The text to print.
    text: String,
    /// Byte range in the source.
    start: usize,
    end: usize,
    /// The grammar rule, or `None` for a bracket the grammar writes as a literal.
    rule: Option<Rule>,
}

/// A node of the concrete tree: a grammar rule and its tokens and sub-nodes.
#[derive(Debug)]
struct Node {
    rule: Rule,
    children: Vec<Cst>,
}

#[derive(Debug)]
enum Cst {
    Node(Node),
    /// An index into [`File::toks`].
    Tok(usize),
}

/// A parsed file: its declarations, every token in order, and its comments.
struct File {
    decls: Vec<Node>,
    toks: Vec<Tok>,
    comments: Vec<Comment>,
    /// The file's token stream.
    lexed: Vec<Token>,
}

impl File {
    fn read(text: &str) -> Option<File> {
        let lexed = lex(text);
        let mut file = File {
            decls: Vec::new(),
            toks: Vec::new(),
            comments: comments_of(text, &lexed),
            lexed: Vec::new(),
        };
        for (start, end) in declaration_ranges_of(text, &lexed) {
            let decl = declaration_tree_in(text, &lexed, start, end)?.next()?;
            let mut b = Build {
                base: start,
                text,
                lexed: &lexed,
                toks: &mut file.toks,
            };
            if let Cst::Node(n) = b.build(decl) {
                file.decls.push(n);
            }
        }
        file.lexed = lexed;
        Some(file)
    }
}

/// Rules printed as one token even though pest gives them inner pairs.
fn is_terminal(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::string
            | Rule::duration
            | Rule::date
            | Rule::int
            | Rule::ident
            | Rule::path
            | Rule::doc
    )
}

/// Builds the concrete tree of one declaration.
struct Build<'a> {
    /// Where the declaration starts in the file.
    base: usize,
    text: &'a str,
    /// The file's token stream.
    lexed: &'a [Token],
    toks: &'a mut Vec<Tok>,
}

impl Build<'_> {
    fn build(&mut self, pair: Pair<'_, Rule>) -> Cst {
        let rule = pair.as_rule();
        let span = pair.as_span();
        let inner: Vec<Pair<'_, Rule>> = pair.clone().into_inner().collect();
        if is_terminal(rule) || inner.is_empty() {
            self.toks.push(Tok {
                text: normalize(&pair),
                start: self.base + span.start(),
                end: self.base + span.end(),
                rule: Some(rule),
            });
            return Cst::Tok(self.toks.len() - 1);
        }
        let mut children = Vec::new();
        let mut cursor = span.start();
        for p in inner {
            self.literals(cursor, p.as_span().start(), &mut children);
            cursor = p.as_span().end();
            // EOI is an empty pair: nothing to print.
            if p.as_rule() == Rule::EOI {
                continue;
            }
            children.push(self.build(p));
        }
        self.literals(cursor, span.end(), &mut children);
        Cst::Node(Node { rule, children })
    }

    /// The brackets the grammar writes as literals (`[ ] ( ) < >`): the tokens between
    /// two pairs (offsets in the declaration), which otherwise holds only whitespace and
    /// comments.
    fn literals(&mut self, from: usize, to: usize, children: &mut Vec<Cst>) {
        let (from, to) = (self.base + from, self.base + to);
        let first = self
            .lexed
            .partition_point(|t| (t.span.start as usize) < from);
        for t in self.lexed.get(first..).unwrap_or(&[]) {
            if t.span.start as usize >= to {
                break;
            }
            if t.kind.is_trivia() {
                continue;
            }
            self.toks.push(Tok {
                text: t.text(self.text).to_string(),
                start: t.span.start as usize,
                end: t.span.end as usize,
                rule: None,
            });
            children.push(Cst::Tok(self.toks.len() - 1));
        }
    }
}

/// The canonical spelling of a token: `3 years`, `3个月`; doc comments without
/// trailing whitespace.
fn normalize(pair: &Pair<'_, Rule>) -> String {
    let text = pair.as_str();
    match pair.as_rule() {
        Rule::duration => {
            let mut inner = pair.clone().into_inner();
            let (Some(n), Some(unit)) = (inner.next(), inner.next()) else {
                return text.to_string();
            };
            let (n, unit) = (n.as_str(), unit.as_str());
            if unit.is_ascii() {
                format!("{n} {unit}")
            } else {
                format!("{n}{unit}")
            }
        }
        Rule::doc => text.trim_end().to_string(),
        _ => text.to_string(),
    }
}

// ------------------------------------------------------------------ the printer

/// What goes before the next token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sep {
    /// Decided by the tokens: a space, nothing, or the author's line break.
    Auto,
    /// Nothing.
    Tight,
    /// Spaces up to a column (at least one).
    Pad(usize),
    /// A new line at a column; `blank_ok` keeps a blank line the source has there, and
    /// `stmt` says the line starts a statement (comments before it keep blank lines too).
    Newline {
        col: usize,
        blank_ok: bool,
        stmt: bool,
    },
}

/// Keywords whose statements align what follows them, per kind of block.
fn keyword_group(block: Rule) -> &'static [&'static str] {
    match block {
        Rule::scenario_decl => &["domain", "purpose", "term"],
        Rule::dataset_decl => &["source", "domain", "tags"],
        Rule::exit_decl | Rule::suspend_decl | Rule::notice_decl => &["when", "measures"],
        Rule::forbid_decl => &["actions", "when"],
        _ => &[],
    }
}

fn is_block_item(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::grades_decl
            | Rule::classify_decl
            | Rule::dataset_decl
            | Rule::scenario_decl
            | Rule::admission_decl
            | Rule::exit_decl
            | Rule::suspend_decl
            | Rule::notice_decl
            | Rule::limits_decl
            | Rule::test_decl
            | Rule::forbid_decl
    )
}

fn width(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

struct Printer<'a> {
    src: &'a str,
    file: &'a File,
    next_comment: usize,
    out: String,
    /// Display width of the current output line.
    col: usize,
    /// Source offset of the end of what was printed last (token or comment).
    last_end: usize,
    last_tok: Option<usize>,
    sep: Sep,
    /// A line comment ended the line: the next token starts a new one.
    forced: bool,
    /// Where a continued line starts; the innermost construct last.
    cont: Vec<usize>,
    /// Columns of the statements being printed, innermost last.
    stmt_cols: Vec<usize>,
    /// Alignment columns to push when the next token is printed.
    align_pending: usize,
    /// Alignment: pad to this column before these tokens.
    pads: HashMap<usize, usize>,
}

impl<'a> Printer<'a> {
    fn new(src: &'a str, file: &'a File) -> Self {
        Printer {
            src,
            file,
            next_comment: 0,
            out: String::with_capacity(src.len() + src.len() / 8),
            col: 0,
            last_end: 0,
            last_tok: None,
            sep: Sep::Tight,
            forced: false,
            cont: vec![2],
            stmt_cols: vec![0],
            align_pending: 0,
            pads: HashMap::new(),
        }
    }

    fn tok(&self, i: usize) -> Option<&'a Tok> {
        self.file.toks.get(i)
    }

    fn cont_col(&self) -> usize {
        self.cont.last().copied().unwrap_or(0)
    }

    fn stmt_col(&self) -> usize {
        self.stmt_cols.last().copied().unwrap_or(0)
    }

    /// Whether the source has a blank line between two offsets.
    fn blank_between(&self, from: usize, to: usize) -> bool {
        let from = from.min(to);
        let lexed = &self.file.lexed;
        let first = lexed.partition_point(|t| (t.span.end as usize) <= from);
        let mut newlines = 0;
        for t in lexed.get(first..).unwrap_or(&[]) {
            let (start, end) = (t.span.start as usize, t.span.end as usize);
            if start >= to {
                break;
            }
            if t.kind == TokenKind::Whitespace {
                let gap = self.src.get(start.max(from)..end.min(to)).unwrap_or("");
                newlines += gap.matches('\n').count();
                if newlines >= 2 {
                    return true;
                }
            } else {
                // A comment in between: count blank lines on each side of it separately.
                newlines = 0;
            }
        }
        false
    }

    fn newline_between(&self, from: usize, to: usize) -> bool {
        self.src
            .get(from.min(to)..to)
            .is_some_and(|g| g.contains('\n'))
    }

    /// Whether the author's line break between two tokens is kept.
    fn breakable(&self, a: usize, b: usize) -> bool {
        let (Some(ta), Some(tb)) = (self.tok(a), self.tok(b)) else {
            return false;
        };
        if !self.newline_between(ta.end, tb.start) {
            return false;
        }
        let joins_next = matches!(ta.text.as_str(), "(" | "[" | "<" | "=" | ":" | "..");
        let joins_prev = matches!(
            tb.text.as_str(),
            "," | ")" | "]" | ">" | ":" | "=" | ".." | "}" | "{"
        );
        !(joins_next || joins_prev)
    }

    /// Whether two tokens on one line have a space between them.
    fn spaced(&self, a: usize, b: usize) -> bool {
        let (Some(ta), Some(tb)) = (self.tok(a), self.tok(b)) else {
            return true;
        };
        let lit = |t: &Tok, s: &str| t.rule.is_none() && t.text == s;
        let tight_before = tb.text == ","
            || tb.text == ":"
            || lit(tb, ")")
            || lit(tb, "]")
            || lit(tb, ">")
            || lit(tb, "<");
        let tight_after = lit(ta, "(") || lit(ta, "[") || lit(ta, "<");
        let empty_braces = ta.text == "{" && tb.text == "}";
        !(tight_before || tight_after || empty_braces)
    }

    /// Width of tokens `a..=b` printed on one line.
    fn inline_width(&self, a: usize, b: usize) -> usize {
        let mut w = 0;
        for i in a..=b {
            if let Some(t) = self.tok(i) {
                w += width(&t.text);
                if i > a && self.spaced(i - 1, i) {
                    w += 1;
                }
            }
        }
        w
    }

    /// Whether tokens `a..=b` stay on one line: no kept line break and no comment among them.
    fn one_line(&self, a: usize, b: usize) -> bool {
        let (Some(ta), Some(tb)) = (self.tok(a), self.tok(b)) else {
            return false;
        };
        let comment_inside = self
            .file
            .comments
            .iter()
            .any(|c| c.start > ta.start && c.start < tb.end);
        !comment_inside && (a..b).all(|i| !self.breakable(i, i + 1))
    }

    fn write_newline(&mut self, col: usize, blank: bool) {
        if self.out.is_empty() {
            return;
        }
        // Trailing whitespace never survives a line end.
        let trimmed = self.out.trim_end_matches(' ').len();
        self.out.truncate(trimmed);
        self.out.push('\n');
        if blank {
            self.out.push('\n');
        }
        self.out.extend(std::iter::repeat_n(' ', col));
        self.col = col;
    }

    fn write(&mut self, s: &str) {
        self.out.push_str(s);
        self.col += width(s);
    }

    /// Prints the comments that come before `pos`, each on its own line.
    fn flush_leading(&mut self, pos: usize) {
        while let Some(c) = self
            .file
            .comments
            .get(self.next_comment)
            .filter(|c| c.start < pos)
        {
            let (col, blank_ok, stmt) = match self.sep {
                Sep::Newline {
                    col,
                    blank_ok,
                    stmt,
                } => (col, blank_ok, stmt),
                _ => (self.cont_col(), false, false),
            };
            let blank = blank_ok && self.blank_between(self.last_end, c.start);
            self.write_newline(col, blank);
            self.write(&c.text);
            self.last_end = c.end;
            self.next_comment += 1;
            self.forced = false;
            // After a comment at a statement's start, blank lines stay allowed.
            self.sep = Sep::Newline {
                col,
                blank_ok: stmt,
                stmt,
            };
        }
    }

    /// Prints token `i` with what goes before it, and a comment that follows it on its line.
    fn word(&mut self, i: usize) {
        let Some(t) = self.tok(i) else {
            return;
        };
        self.flush_leading(t.start);
        if let Some(col) = self.pads.get(&i).copied() {
            if matches!(self.sep, Sep::Auto) {
                self.sep = Sep::Pad(col);
            }
        }
        match self.sep {
            Sep::Newline { col, blank_ok, .. } => {
                let blank = blank_ok && self.blank_between(self.last_end, t.start);
                self.write_newline(col, blank);
            }
            _ if self.forced => {
                let col = self.cont_col();
                self.write_newline(col, false);
            }
            Sep::Pad(col) => {
                let n = col.saturating_sub(self.col).max(1);
                self.out.extend(std::iter::repeat_n(' ', n));
                self.col += n;
            }
            Sep::Tight => {}
            Sep::Auto => {
                if let Some(p) = self.last_tok {
                    if self.breakable(p, i) {
                        let col = self.cont_col();
                        self.write_newline(col, false);
                    } else if self.spaced(p, i) {
                        self.write(" ");
                    }
                }
            }
        }
        for _ in 0..self.align_pending {
            self.cont.push(self.col);
        }
        self.align_pending = 0;
        self.write(&t.text);
        self.last_end = t.end;
        self.last_tok = Some(i);
        self.forced = false;
        self.sep = if t.rule == Some(Rule::doc) {
            Sep::Newline {
                col: self.stmt_col(),
                blank_ok: false,
                stmt: false,
            }
        } else {
            Sep::Auto
        };
        // A comment after the token on the same line stays there.
        let next_start = self.tok(i + 1).map_or(usize::MAX, |n| n.start);
        if let Some(c) = self.file.comments.get(self.next_comment) {
            if c.start < next_start && !self.newline_between(t.end, c.start) {
                self.write(" ");
                self.write(&c.text);
                self.last_end = c.end;
                self.next_comment += 1;
                self.forced = true;
            }
        }
    }

    fn file(mut self) -> String {
        let file = self.file;
        for (k, d) in file.decls.iter().enumerate() {
            self.sep = Sep::Newline {
                col: 0,
                blank_ok: k > 0 || self.next_comment > 0,
                stmt: true,
            };
            if k == 0 && self.out.is_empty() {
                self.sep = Sep::Newline {
                    col: 0,
                    blank_ok: false,
                    stmt: true,
                };
            }
            self.statement(&d.children, 0);
        }
        self.sep = Sep::Newline {
            col: 0,
            blank_ok: !self.out.is_empty(),
            stmt: true,
        };
        self.flush_leading(usize::MAX);
        let trimmed = self.out.trim_end().len();
        self.out.truncate(trimmed);
        if !self.out.is_empty() {
            self.out.push('\n');
        }
        self.out
    }

    /// Prints a statement (or a top-level declaration) starting at column `col`.
    fn statement(&mut self, children: &[Cst], col: usize) {
        self.stmt_cols.push(col);
        self.cont.push(col + 2);
        for c in children {
            self.cst(c);
        }
        self.cont.pop();
        self.stmt_cols.pop();
    }

    fn cst(&mut self, c: &Cst) {
        match c {
            Cst::Tok(i) => self.word(*i),
            Cst::Node(n) => self.node(n),
        }
    }

    fn node(&mut self, n: &Node) {
        match n.rule {
            r if is_block_item(r) => self.block(n),
            Rule::ident_list | Rule::string_list | Rule::expr => {
                let depth = self.cont.len();
                self.align_pending += 1;
                for c in &n.children {
                    self.cst(c);
                }
                self.align_pending = 0;
                self.cont.truncate(depth);
            }
            Rule::value_list | Rule::list | Rule::paren => {
                // Continued lines line up with the first element, after the bracket.
                let depth = self.cont.len();
                for (k, c) in n.children.iter().enumerate() {
                    self.cst(c);
                    if k == 0 {
                        self.align_pending += 1;
                    }
                }
                self.align_pending = 0;
                self.cont.truncate(depth);
            }
            Rule::field_set | Rule::fact_block => self.braces(n),
            _ => {
                for c in &n.children {
                    self.cst(c);
                }
            }
        }
    }

    /// The first and last token of a subtree.
    fn span_toks(c: &Cst) -> Option<(usize, usize)> {
        match c {
            Cst::Tok(i) => Some((*i, *i)),
            Cst::Node(n) => {
                let first = n.children.iter().find_map(Self::span_toks)?;
                let last = n.children.iter().rev().find_map(Self::span_toks)?;
                Some((first.0, last.1))
            }
        }
    }

    fn tok_rule(c: &Cst, toks: &[Tok]) -> Option<Rule> {
        match c {
            Cst::Tok(i) => toks.get(*i).and_then(|t| t.rule),
            Cst::Node(n) => Some(n.rule),
        }
    }

    /// A declaration with a `{ … }` body of statements.
    fn block(&mut self, n: &Node) {
        let toks = &self.file.toks;
        let is_brace =
            |c: &Cst, r: Rule| Self::tok_rule(c, toks) == Some(r) && matches!(c, Cst::Tok(_));
        let Some(lb) = n.children.iter().position(|c| is_brace(c, Rule::lbrace)) else {
            for c in &n.children {
                self.cst(c);
            }
            return;
        };
        let rb = n
            .children
            .iter()
            .rposition(|c| is_brace(c, Rule::rbrace))
            .unwrap_or(n.children.len());
        for c in n.children.get(..=lb).unwrap_or(&[]) {
            self.cst(c);
        }
        let body = n.children.get(lb + 1..rb).unwrap_or(&[]);
        // Statements: each node, except that `actions A, B` in a forbid is a keyword and a list.
        let mut stmts: Vec<&[Cst]> = Vec::new();
        let mut k = 0;
        while k < body.len() {
            let len = match body.get(k) {
                Some(Cst::Tok(_)) if body.get(k + 1).is_some() => 2,
                _ => 1,
            };
            if let Some(s) = body.get(k..k + len) {
                stmts.push(s);
            }
            k += len;
        }
        let col = self.stmt_col();
        let inner = col + 2;
        self.align_block(n.rule, &stmts, inner);
        for (k, s) in stmts.iter().enumerate() {
            self.sep = Sep::Newline {
                col: inner,
                blank_ok: k > 0,
                stmt: true,
            };
            self.statement(s, inner);
        }
        let Some(close) = n.children.get(rb) else {
            return;
        };
        let close_start = Self::span_toks(close)
            .and_then(|(i, _)| self.tok(i))
            .map_or(usize::MAX, |t| t.start);
        let had_comments = self
            .file
            .comments
            .get(self.next_comment)
            .is_some_and(|c| c.start < close_start);
        if had_comments {
            self.sep = Sep::Newline {
                col: inner,
                blank_ok: !stmts.is_empty(),
                stmt: true,
            };
            self.flush_leading(close_start);
        }
        self.sep = if stmts.is_empty() && !had_comments {
            Sep::Tight
        } else {
            Sep::Newline {
                col,
                blank_ok: false,
                stmt: false,
            }
        };
        self.cst(close);
    }

    /// Sets the alignment pads of a block's statements.
    fn align_block(&mut self, rule: Rule, stmts: &[&[Cst]], inner: usize) {
        let toks = &self.file.toks;
        // (first token incl. docs, first token after docs, last token) of each statement.
        let ranges: Vec<Option<(usize, usize, usize)>> = stmts
            .iter()
            .map(|s| {
                let (first, last) = (
                    s.iter().find_map(Self::span_toks)?.0,
                    s.iter().rev().find_map(Self::span_toks)?.1,
                );
                let content = (first..=last)
                    .find(|i| toks.get(*i).is_some_and(|t| t.rule != Some(Rule::doc)))?;
                Some((first, content, last))
            })
            .collect();
        let separated: Vec<bool> = (0..ranges.len())
            .map(|k| {
                let prev = k
                    .checked_sub(1)
                    .and_then(|p| ranges.get(p).copied().flatten());
                match (prev, ranges.get(k).copied().flatten()) {
                    (Some((_, _, prev_last)), Some((first, _, _))) => {
                        match (toks.get(prev_last), toks.get(first)) {
                            (Some(a), Some(b)) => self.blank_between(a.end, b.start),
                            _ => true,
                        }
                    }
                    _ => true,
                }
            })
            .collect();
        let separated = |k: usize| separated.get(k).copied().unwrap_or(true);

        // Keywords that align what follows them.
        let keywords = keyword_group(rule);
        if !keywords.is_empty() {
            let mut group: Vec<usize> = Vec::new();
            let flush = |group: &mut Vec<usize>, pads: &mut HashMap<usize, usize>| {
                let w = group
                    .iter()
                    .filter_map(|i| toks.get(*i).map(|t| width(&t.text)))
                    .max()
                    .unwrap_or(0);
                for i in group.drain(..) {
                    pads.insert(i + 1, inner + w + 1);
                }
            };
            for (k, r) in ranges.iter().enumerate() {
                let kw = r.and_then(|(_, c, _)| {
                    toks.get(c)
                        .filter(|t| keywords.contains(&t.text.as_str()) && t.rule.is_some())
                        .map(|_| c)
                });
                if separated(k) || kw.is_none() {
                    flush(&mut group, &mut self.pads);
                }
                if let Some(c) = kw {
                    group.push(c);
                }
            }
            flush(&mut group, &mut self.pads);
        }

        // Tables: consecutive one-line fields, grade entries.
        let table_rule = match rule {
            Rule::dataset_decl => Some(Rule::field_decl),
            Rule::grades_decl => Some(Rule::grade_entry),
            _ => None,
        };
        let Some(table_rule) = table_rule else {
            return;
        };
        let mut rows: Vec<Vec<(usize, usize)>> = Vec::new();
        for (k, (s, r)) in stmts.iter().zip(&ranges).enumerate() {
            let node = match s.first() {
                Some(Cst::Node(n)) if n.rule == table_rule && s.len() == 1 => Some(n),
                _ => None,
            };
            let row = match (node, r) {
                (Some(n), Some((_, c, l))) if self.one_line(*c, *l) => Some(self.cells(n, *c, *l)),
                _ => None,
            };
            if separated(k) || row.is_none() {
                self.align_rows(&rows, inner);
                rows.clear();
            }
            if let Some(row) = row {
                rows.push(row);
            }
        }
        self.align_rows(&rows, inner);
    }

    /// The cells of a table row: token ranges, by column; `(usize::MAX, 0)` for an empty one.
    fn cells(&self, n: &Node, first: usize, last: usize) -> Vec<(usize, usize)> {
        const EMPTY: (usize, usize) = (usize::MAX, 0);
        let toks = &self.file.toks;
        let mut starts: Vec<(usize, usize)> = vec![(0, first)];
        for c in &n.children {
            let Some((a, _)) = Self::span_toks(c) else {
                continue;
            };
            let column = match (n.rule, Self::tok_rule(c, toks)) {
                (Rule::field_decl, Some(Rule::title)) | (Rule::grade_entry, Some(Rule::title)) => 1,
                (Rule::field_decl, Some(Rule::kw_tags)) => 2,
                (Rule::field_decl, Some(Rule::kw_grade)) => 3,
                _ => continue,
            };
            starts.push((column, a));
        }
        let columns = if n.rule == Rule::field_decl { 4 } else { 2 };
        let mut cells = vec![EMPTY; columns];
        for (k, (column, a)) in starts.iter().enumerate() {
            let end = starts.get(k + 1).map_or(last, |(_, b)| b.saturating_sub(1));
            if let Some(cell) = cells.get_mut(*column) {
                *cell = (*a, end);
            }
        }
        cells
    }

    fn align_rows(&mut self, rows: &[Vec<(usize, usize)>], inner: usize) {
        let Some(columns) = rows.iter().map(Vec::len).max() else {
            return;
        };
        let filled = |c: &(usize, usize)| c.0 != usize::MAX;
        let terminal = |row: &[(usize, usize)], j: usize| !row.iter().skip(j + 1).any(filled);
        let mut widths = vec![0; columns];
        for row in rows {
            for (j, cell) in row.iter().enumerate() {
                if filled(cell) && !terminal(row, j) {
                    if let Some(w) = widths.get_mut(j) {
                        *w = (*w).max(self.inline_width(cell.0, cell.1));
                    }
                }
            }
        }
        let mut starts = vec![inner; columns];
        for j in 1..columns {
            let prev = starts.get(j - 1).copied().unwrap_or(inner);
            let w = widths.get(j - 1).copied().unwrap_or(0);
            if let Some(s) = starts.get_mut(j) {
                *s = if w > 0 { prev + w + 1 } else { prev };
            }
        }
        for row in rows {
            for (j, cell) in row.iter().enumerate().skip(1) {
                if filled(cell) {
                    if let Some(s) = starts.get(j) {
                        self.pads.insert(cell.0, *s);
                    }
                }
            }
        }
    }

    /// `{ a, b }` field lists and `{ k = v, … }` fact blocks: on one line, or as a block
    /// when the author broke the line after `{`.
    fn braces(&mut self, n: &Node) {
        let (Some(first), Some(last)) = (n.children.first(), n.children.last()) else {
            return;
        };
        let (Some((lb, _)), Some((rb, _))) = (Self::span_toks(first), Self::span_toks(last)) else {
            return;
        };
        let inner_children = n.children.get(1..n.children.len() - 1).unwrap_or(&[]);
        let block_style = lb + 1 < rb && self.breakable(lb, lb + 1);
        self.word(lb);
        let depth = self.cont.len();
        if !block_style {
            if n.rule == Rule::fact_block {
                self.align_pending += 1;
            }
            for c in inner_children {
                self.cst(c);
            }
            self.align_pending = 0;
            self.cont.truncate(depth);
            self.word(rb);
            return;
        }
        let col = self.stmt_col();
        let inner = col + 2;
        self.cont.push(inner);
        self.sep = Sep::Newline {
            col: inner,
            blank_ok: false,
            stmt: true,
        };
        if n.rule == Rule::fact_block {
            self.align_facts(inner_children, inner);
            let mut first_fact = true;
            for c in inner_children {
                if let (Cst::Node(f), Some((a, _))) = (c, Self::span_toks(c)) {
                    if f.rule == Rule::fact_assign && !first_fact && self.starts_line(a) {
                        self.sep = Sep::Newline {
                            col: inner,
                            blank_ok: true,
                            stmt: true,
                        };
                    }
                    first_fact = false;
                }
                self.cst(c);
            }
        } else {
            for c in inner_children {
                self.cst(c);
            }
        }
        let close_start = self.tok(rb).map_or(usize::MAX, |t| t.start);
        if self
            .file
            .comments
            .get(self.next_comment)
            .is_some_and(|c| c.start < close_start)
        {
            self.sep = Sep::Newline {
                col: inner,
                blank_ok: true,
                stmt: true,
            };
            self.flush_leading(close_start);
        }
        self.cont.truncate(depth);
        self.sep = Sep::Newline {
            col,
            blank_ok: false,
            stmt: false,
        };
        self.word(rb);
    }

    /// Whether token `a` starts a line in the output: the author broke the line where a
    /// line may break, or a comment ends the line before it.
    fn starts_line(&self, a: usize) -> bool {
        let Some(prev) = a.checked_sub(1) else {
            return false;
        };
        match (self.tok(prev), self.tok(a)) {
            (Some(p), Some(t)) => {
                self.breakable(prev, a)
                    || self
                        .file
                        .comments
                        .iter()
                        .any(|c| c.start >= p.end && c.start < t.start)
            }
            _ => false,
        }
    }

    /// Aligns `=` in a block of facts written one per line.
    fn align_facts(&mut self, children: &[Cst], inner: usize) {
        // Lines: the facts of each source line, with the last token of the line.
        let mut lines: Vec<(Vec<&Node>, usize, usize)> = Vec::new();
        for c in children {
            let Some((a, b)) = Self::span_toks(c) else {
                continue;
            };
            let new_line = lines.is_empty() || self.starts_line(a);
            if new_line {
                lines.push((Vec::new(), a, b));
            }
            if let Some(line) = lines.last_mut() {
                if let Cst::Node(f) = c {
                    line.0.push(f);
                }
                line.2 = b;
            }
        }
        let mut group: Vec<(usize, usize)> = Vec::new();
        let mut prev_last: Option<usize> = None;
        let flush = |group: &mut Vec<(usize, usize)>, pads: &mut HashMap<usize, usize>| {
            let w = group.iter().map(|(_, w)| *w).max().unwrap_or(0);
            for (assign, _) in group.drain(..) {
                pads.insert(assign, inner + w + 1);
            }
        };
        for (facts, a, b) in &lines {
            let separated = prev_last
                .and_then(|p| Some((self.tok(p)?, self.tok(*a)?)))
                .is_none_or(|(p, t)| self.blank_between(p.end, t.start));
            prev_last = Some(*b);
            let row = match facts.as_slice() {
                [f] if self.one_line(*a, *b) => f
                    .children
                    .first()
                    .and_then(Self::span_toks)
                    .map(|(name, _)| (name + 1, self.tok(name).map_or(0, |t| width(&t.text)))),
                _ => None,
            };
            if separated || row.is_none() {
                flush(&mut group, &mut self.pads);
            }
            if let Some(r) = row {
                group.push(r);
            }
        }
        flush(&mut group, &mut self.pads);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(s: &str) -> String {
        match format_source("t.charter", s) {
            Ok(s) => s,
            Err(e) => format!("ERROR {e}"),
        }
    }

    #[test]
    fn durations_and_spaces() {
        assert_eq!(
            fmt("limits{max_term   3years\nreapply_window 3 个月}"),
            "limits {\n  max_term 3 years\n  reapply_window 3个月\n}\n"
        );
    }

    #[test]
    fn comments_stay() {
        let src = "// head\n\n\n/// doc\naction a \"A\" // tail\n// between\naction b\n// end\n";
        assert_eq!(
            fmt(src),
            "// head\n\n/// doc\naction a \"A\" // tail\n// between\naction b\n// end\n"
        );
    }

    #[test]
    fn syntax_errors_are_refused() {
        assert!(fmt("scenario x {").starts_with("ERROR"));
    }
}
