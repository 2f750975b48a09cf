//! The one diagnostic type of the compiler, its codes, and rendering for people and machines.
//!
//! Every problem the compiler finds, from a syntax error to a regulation lint to a
//! Cedar validation failure, is a [`Diagnostic`] with a stable [`Code`]. Positions are
//! byte spans into a file; [`LineIndex`] turns them into lines and columns.

use std::fmt;
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};

use crate::syntax::ast::Span;

/// How serious a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// A fact worth knowing; never fails a check.
    Info,
    /// Likely wrong; fails `charter check --deny-warnings`.
    Warning,
    /// Wrong; the bundle does not build.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// A stable diagnostic code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Code {
    /// The text does not follow the grammar.
    Syntax,
    /// A literal that means nothing, such as `2026-02-30`.
    InvalidLiteral,
    /// `charter.toml` is missing or wrong.
    Manifest,
    /// An expression nested deeper than the parser allows.
    NestingTooDeep,
    /// A symbolic link or special file in the bundle folder, not read.
    SkippedFile,
    /// A name that is declared nowhere.
    UnknownName,
    /// A name declared twice.
    Duplicate,
    /// An expression of the wrong type.
    TypeMismatch,
    /// A declaration that lacks a part it needs.
    Incomplete,
    /// A scope grants an action a rule always forbids, such as `export_raw` (Art. 4).
    ForbiddenAction,
    /// A term longer than `limits.max_term` (Art. 8).
    TermTooLong,
    /// A scope grants an action a field's grade does not allow.
    GradeDisallows,
    /// Protected data used without `requires consent` (Art. 20).
    ConsentRequired,
    /// `{ * }`: not minimum necessary (Art. 15).
    WildcardFields,
    /// A scenario whose domain is not a priority domain (Art. 12).
    NonPriorityDomain,
    /// An exit or suspend rule without measures.
    MissingMeasures,
    /// A condition that can never hold.
    NeverHolds,
    /// An explicit grade below the classified one.
    GradeBelowClassification,
    /// A term that ends before it starts.
    TermInverted,
    /// A limit above what the regulation allows (Art. 8).
    LimitExceedsRegulation,
    /// A grade that allows no action.
    GradeAllowsNothing,
    /// A `// charter-allow(CODE): reason` comment that suppresses nothing.
    UnusedSuppression,
    /// A `// charter-allow` comment without a reason, or naming a code that does not
    /// exist or cannot be suppressed.
    InvalidSuppression,
    /// The compiled Cedar failed Cedar's validator: a compiler bug.
    Internal,
}

/// Facts about a code: its number, name, default severity, article and summary.
#[derive(Clone, Copy, Debug)]
pub struct CodeInfo {
    /// The code.
    pub code: Code,
    /// `CH0301`
    pub id: &'static str,
    /// `forbidden-action`
    pub name: &'static str,
    /// Default severity.
    pub severity: Severity,
    /// Whether `charter.toml` may change its level.
    pub configurable: bool,
    /// The article of the regulation it enforces.
    pub article: Option<&'static str>,
    /// One line on what it means.
    pub summary: &'static str,
    /// Its documentation: markdown, Chinese first with English beside it, whose
    /// `example` and `other` code blocks `charter explain` runs through the compiler
    /// (see `docs/diagnostics.md`, generated from these).
    pub doc: &'static str,
}

/// Every code, in order.
pub const CODES: &[CodeInfo] = &[
    CodeInfo {
        code: Code::Syntax,
        id: "CH0001",
        name: "syntax-error",
        severity: Severity::Error,
        configurable: false,
        article: None,
        summary: "the text does not follow the grammar",
        doc: include_str!("diagnostics/syntax-error.md"),
    },
    CodeInfo {
        code: Code::InvalidLiteral,
        id: "CH0002",
        name: "invalid-literal",
        severity: Severity::Error,
        configurable: false,
        article: None,
        summary: "a date or number that does not exist",
        doc: include_str!("diagnostics/invalid-literal.md"),
    },
    CodeInfo {
        code: Code::Manifest,
        id: "CH0003",
        name: "manifest",
        severity: Severity::Error,
        configurable: false,
        article: None,
        summary: "charter.toml is missing or wrong",
        doc: include_str!("diagnostics/manifest.md"),
    },
    CodeInfo {
        code: Code::NestingTooDeep,
        id: "CH0004",
        name: "nesting-too-deep",
        severity: Severity::Error,
        configurable: false,
        article: None,
        summary: "an expression nests `not`, parentheses, lists or `+`/`-` more than 32 levels deep",
        doc: include_str!("diagnostics/nesting-too-deep.md"),
    },
    CodeInfo {
        code: Code::SkippedFile,
        id: "CH0005",
        name: "skipped-file",
        severity: Severity::Warning,
        configurable: false,
        article: None,
        summary: "a symbolic link or special file in the bundle folder was not read",
        doc: include_str!("diagnostics/skipped-file.md"),
    },
    CodeInfo {
        code: Code::UnknownName,
        id: "CH0101",
        name: "unknown-name",
        severity: Severity::Error,
        configurable: false,
        article: None,
        summary: "a name that is declared nowhere",
        doc: include_str!("diagnostics/unknown-name.md"),
    },
    CodeInfo {
        code: Code::Duplicate,
        id: "CH0102",
        name: "duplicate",
        severity: Severity::Error,
        configurable: false,
        article: None,
        summary: "a name declared twice",
        doc: include_str!("diagnostics/duplicate.md"),
    },
    CodeInfo {
        code: Code::TypeMismatch,
        id: "CH0103",
        name: "type-mismatch",
        severity: Severity::Error,
        configurable: false,
        article: None,
        summary: "an expression of the wrong type",
        doc: include_str!("diagnostics/type-mismatch.md"),
    },
    CodeInfo {
        code: Code::Incomplete,
        id: "CH0104",
        name: "incomplete",
        severity: Severity::Error,
        configurable: false,
        article: None,
        summary: "a declaration lacks a part it needs",
        doc: include_str!("diagnostics/incomplete.md"),
    },
    crate::lints::forbidden_action::INFO,
    crate::lints::term_too_long::INFO,
    crate::lints::grade_disallows::INFO,
    crate::lints::consent_required::INFO,
    crate::lints::wildcard_fields::INFO,
    crate::lints::non_priority_domain::INFO,
    crate::lints::missing_measures::INFO,
    crate::lints::never_holds::INFO,
    crate::lints::grade_below_classification::INFO,
    crate::lints::term_inverted::INFO,
    crate::lints::limit_exceeds_regulation::INFO,
    crate::lints::grade_allows_nothing::INFO,
    CodeInfo {
        code: Code::UnusedSuppression,
        id: "CH0313",
        name: "unused-suppression",
        severity: Severity::Warning,
        configurable: true,
        article: None,
        summary: "a `charter-allow` comment suppresses nothing",
        doc: include_str!("diagnostics/unused-suppression.md"),
    },
    CodeInfo {
        code: Code::InvalidSuppression,
        id: "CH0314",
        name: "invalid-suppression",
        severity: Severity::Error,
        configurable: false,
        article: None,
        summary: "a `charter-allow` comment without a reason, or naming a code that does not exist or cannot be suppressed",
        doc: include_str!("diagnostics/invalid-suppression.md"),
    },
    INTERNAL,
];

/// `CH0900`, named once so that [`Code::info`] can fall back on it without indexing.
const INTERNAL: CodeInfo = CodeInfo {
    code: Code::Internal,
    id: "CH0900",
    name: "internal",
    severity: Severity::Error,
    configurable: false,
    article: None,
    summary: "the compiled Cedar failed validation: a bug in Charter",
    doc: include_str!("diagnostics/internal.md"),
};

/// Where the diagnostics reference (`docs/diagnostics.md`) is published: the
/// repository's copy on its main branch. SARIF's `helpUri` and the language server's
/// `codeDescription` link each code's section there.
pub const DIAGNOSTICS_URL: &str = concat!(
    env!("CARGO_PKG_REPOSITORY"),
    "/blob/main/docs/diagnostics.md"
);

impl CodeInfo {
    /// The anchor of the code's section in the reference (`ch0301-forbidden-action`).
    pub fn anchor(&self) -> String {
        format!("{}-{}", self.id.to_ascii_lowercase(), self.name)
    }

    /// The address of the code's section in the published reference.
    pub fn help_uri(&self) -> String {
        format!("{DIAGNOSTICS_URL}#{}", self.anchor())
    }

    /// Its documentation as plain markdown, for readers that do not run the examples
    /// (SARIF's rule help, an editor): `example` and `other` blocks become ordinary code
    /// blocks, each `other` under its title. The reference page, with every example's
    /// output, is `charter explain`'s.
    pub fn doc_markdown(&self) -> String {
        let mut out = String::with_capacity(self.doc.len());
        for line in self.doc.split_inclusive('\n') {
            let Some(info) = line.trim_end().strip_prefix("```") else {
                out.push_str(line);
                continue;
            };
            let mut words = info.split_whitespace();
            let lang = words.next().unwrap_or_default();
            let lang = if lang == "link" { "sh" } else { lang };
            match words.next() {
                Some("example") => {
                    out.push_str("**示例 / Example**\n\n");
                }
                Some("other") => {
                    let title: Vec<&str> = words.filter(|w| *w != "standalone").collect();
                    out.push_str(&format!("*{}*\n\n", title.join(" ")));
                }
                _ => {
                    out.push_str(line);
                    continue;
                }
            }
            out.push_str(&format!("```{lang}\n"));
        }
        out
    }
}

impl Code {
    /// Facts about this code.
    pub fn info(self) -> &'static CodeInfo {
        // INVARIANT: CODES has one entry per variant (a test checks); the fallback is
        // never taken.
        CODES.iter().find(|i| i.code == self).unwrap_or(&INTERNAL)
    }
    /// `CH0301`
    pub fn id(self) -> &'static str {
        self.info().id
    }
    /// Finds a code by its id (`CH0305`) or name (`wildcard-fields`).
    pub fn lookup(key: &str) -> Option<Code> {
        CODES
            .iter()
            .find(|i| i.id.eq_ignore_ascii_case(key) || i.name == key)
            .map(|i| i.code)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// Which file a diagnostic is in: an index into the bundle's file list (see [`crate::db`]
/// for its order). A newtype, so that a file id is neither confused with another number
/// nor built from an index that does not fit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FileId(u32);

impl FileId {
    /// The prelude: always the first file of a bundle.
    pub const PRELUDE: FileId = FileId(0);
    /// `charter.toml`: always the second file of a bundle.
    pub const MANIFEST: FileId = FileId(1);

    /// The id of the file at `index` in the bundle's list; `None` past `u32::MAX`.
    pub fn from_index(index: usize) -> Option<FileId> {
        u32::try_from(index).ok().map(FileId)
    }

    /// The file's index in the bundle's list.
    pub fn index(self) -> usize {
        // Lossless wherever `usize` has at least 32 bits, which every supported target has.
        usize::try_from(self.0).unwrap_or(usize::MAX)
    }

    /// Whether this is one of the bundle's `.charter` files (not the prelude or the manifest).
    pub fn is_source(self) -> bool {
        self.0 > FileId::MANIFEST.0
    }
}

impl fmt::Display for FileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A secondary location with a label.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Label {
    /// The file.
    pub file: FileId,
    /// The span.
    pub span: Span,
    /// What it shows.
    pub message: String,
}

/// A problem in a bundle.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Diagnostic {
    /// Stable code.
    pub code: Code,
    /// Severity, after the bundle's lint levels.
    pub severity: Severity,
    /// Message: lowercase, no final period, the user's input in backticks.
    pub message: String,
    /// The file of the primary span.
    pub file: FileId,
    /// The primary span.
    pub span: Span,
    /// The label on the primary span.
    pub label: String,
    /// Other places that matter.
    pub related: Vec<Label>,
    /// A help line.
    pub help: Option<String>,
    /// The article of the regulation the check enforces.
    pub article: Option<String>,
    /// A machine-applicable fix: replace `span` in `file` with the text.
    pub fix: Option<Fix>,
}

/// A suggested edit that resolves a diagnostic.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Fix {
    /// What the edit does, for a code action title.
    pub title: String,
    /// The span to replace.
    pub span: Span,
    /// The replacement.
    pub replacement: String,
}

impl Diagnostic {
    /// A diagnostic with the code's default severity and article.
    pub fn new(code: Code, file: FileId, span: Span, message: impl Into<String>) -> Self {
        let info = code.info();
        Diagnostic {
            code,
            severity: info.severity,
            message: message.into(),
            file,
            span,
            label: String::new(),
            related: Vec::new(),
            help: None,
            article: info.article.map(str::to_string),
            fix: None,
        }
    }
    /// Sets the label on the primary span.
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }
    /// Sets the help line.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
    /// Adds a secondary label.
    pub fn with_related(mut self, file: FileId, span: Span, message: impl Into<String>) -> Self {
        self.related.push(Label {
            file,
            span,
            message: message.into(),
        });
        self
    }
    /// Overrides the article.
    pub fn with_article(mut self, article: Option<String>) -> Self {
        if article.is_some() {
            self.article = article;
        }
        self
    }
    /// Adds a fix.
    pub fn with_fix(
        mut self,
        title: impl Into<String>,
        span: Span,
        replacement: impl Into<String>,
    ) -> Self {
        self.fix = Some(Fix {
            title: title.into(),
            span,
            replacement: replacement.into(),
        });
        self
    }
}

/// The line index of a text, for turning byte offsets into lines and columns: a thin
/// wrapper over [`line_index::LineIndex`] (rust-analyzer's), with the compiler's
/// conventions on top: 1-based lines, columns counted in characters, and every offset
/// accepted (past the end it clamps to the end; inside a character it counts that
/// character). Built once per file ([`SourceText::line_index`], [`crate::db::line_index`])
/// and shared by every diagnostic of that file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineIndex {
    // INVARIANT: indexes a prefix of the text of at most `MAX_INDEXED` bytes that ends on a
    // character boundary (the whole text, for any text the parser accepts).
    inner: line_index::LineIndex,
}

/// A 1-based line and column, the column counted in characters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct LineCol {
    /// 1-based line.
    pub line: usize,
    /// 1-based column in Unicode scalar values.
    pub column: usize,
}

/// The longest text `line_index` indexes: it asserts a text is shorter than `u32::MAX`
/// bytes. The parser refuses longer files ([`crate::syntax::parser::MAX_SOURCE_BYTES`]),
/// and the index of one covers its first `MAX_INDEXED` bytes, so building it never panics.
const MAX_INDEXED: usize = u32::MAX as usize - 1;

/// The longest prefix of `text` of at most `max` bytes that ends on a character boundary.
fn indexable(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or("")
}

impl LineIndex {
    /// Indexes `text`.
    pub fn new(text: &str) -> Self {
        LineIndex {
            inner: line_index::LineIndex::new(indexable(text, MAX_INDEXED)),
        }
    }
    /// The `line_index` index underneath, for conversions to other encodings (the language
    /// server's UTF-16 columns).
    pub fn as_line_index(&self) -> &line_index::LineIndex {
        &self.inner
    }
    /// The length of the indexed text in bytes.
    pub fn len(&self) -> usize {
        u32::from(self.inner.len()) as usize
    }
    /// Whether the indexed text is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The 0-based line and byte column of an offset, clamped to the end and moved forward
    /// out of a character it falls inside.
    fn utf8(&self, offset: usize) -> line_index::LineCol {
        let len = self.inner.len();
        let mut at = line_index::TextSize::new(u32::try_from(offset).unwrap_or(u32::MAX)).min(len);
        loop {
            if let Some(lc) = self.inner.try_line_col(at) {
                return lc;
            }
            // Inside a character (at most 3 bytes from its end, which is at most `len`):
            // counting that character is what columns have always done.
            if at >= len {
                return line_index::LineCol { line: 0, col: 0 };
            }
            at += line_index::TextSize::new(1);
        }
    }
    /// The number of lines (a text without a newline has one).
    pub fn line_count(&self) -> usize {
        self.utf8(self.len()).line as usize + 1
    }
    /// The 0-based line holding a byte offset.
    pub fn line_of(&self, offset: usize) -> usize {
        self.utf8(offset).line as usize
    }
    /// The byte range of a 0-based line in `text` (the text this index was built on),
    /// without its line break (`\n` or `\r\n`).
    pub fn line_range(&self, text: &str, line: usize) -> std::ops::Range<usize> {
        let len = self.len().min(text.len());
        let Some(range) = u32::try_from(line).ok().and_then(|l| self.inner.line(l)) else {
            return len..len;
        };
        let start = (u32::from(range.start()) as usize).min(len);
        let mut end = (u32::from(range.end()) as usize).min(len);
        // Every line but the last ends with its `\n`, which `line_index` counts in.
        if line + 1 < self.line_count() && end > start {
            end -= 1;
        }
        if end > start && text.as_bytes().get(end - 1) == Some(&b'\r') {
            end -= 1;
        }
        start..end
    }
    /// The line and character column of a byte offset.
    pub fn line_col(&self, offset: usize) -> LineCol {
        let lc = self.utf8(offset);
        let column = self
            .inner
            .to_wide(line_index::WideEncoding::Utf32, lc)
            .map_or(lc.col, |w| w.col);
        LineCol {
            line: lc.line as usize + 1,
            column: column as usize + 1,
        }
    }
    /// The byte offset of a line and character column, the inverse of
    /// [`LineIndex::line_col`]; `None` for a line past the last.
    pub fn offset(&self, at: LineCol) -> Option<usize> {
        let wide = line_index::WideLineCol {
            line: u32::try_from(at.line.checked_sub(1)?).ok()?,
            col: u32::try_from(at.column.saturating_sub(1)).ok()?,
        };
        let lc = self.inner.to_utf8(line_index::WideEncoding::Utf32, wide)?;
        let offset = self.inner.offset(lc)?;
        Some((u32::from(offset) as usize).min(self.len()))
    }
}

/// A file as diagnostics need it: its path, its text, and its line index, built on first
/// use and shared by every clone (so a report neither copies the text nor re-indexes it).
#[derive(Clone, Debug)]
pub struct SourceText {
    /// Path, relative to the bundle root, with `/` separators.
    pub path: String,
    /// The text.
    pub text: Arc<str>,
    index: Arc<OnceLock<LineIndex>>,
}

impl SourceText {
    /// A file with its text.
    pub fn new(path: impl Into<String>, text: impl Into<Arc<str>>) -> Self {
        SourceText {
            path: path.into(),
            text: text.into(),
            index: Arc::default(),
        }
    }
    /// The file's line index, built once.
    pub fn line_index(&self) -> &LineIndex {
        self.index.get_or_init(|| LineIndex::new(&self.text))
    }
    /// The line and column of a byte offset.
    pub fn line_col(&self, offset: usize) -> LineCol {
        self.line_index().line_col(offset)
    }
}

/// A diagnostic with positions resolved, as `charter check --format json` prints it.
#[derive(Clone, Debug, Serialize)]
pub struct DiagnosticJson {
    /// `CH0301`
    pub code: String,
    /// `forbidden-action`
    pub name: String,
    /// Severity.
    pub severity: Severity,
    /// Message.
    pub message: String,
    /// File path relative to the bundle root.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// End line.
    pub end_line: usize,
    /// End column, in characters.
    pub end_column: usize,
    /// Byte range `[start, end)`.
    pub byte_range: [u32; 2],
    /// Label on the span.
    pub label: String,
    /// Help line.
    pub help: Option<String>,
    /// Article of the regulation.
    pub article: Option<String>,
    /// Other places.
    pub related: Vec<RelatedJson>,
}

/// A secondary location, resolved.
#[derive(Clone, Debug, Serialize)]
pub struct RelatedJson {
    /// File.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column in characters.
    pub column: usize,
    /// Label.
    pub message: String,
}

impl Diagnostic {
    /// Resolves positions against the files.
    pub fn to_json(&self, files: &[SourceText]) -> DiagnosticJson {
        let (path, start, end) = resolve(files, self.file, self.span);
        DiagnosticJson {
            code: self.code.id().to_string(),
            name: self.code.info().name.to_string(),
            severity: self.severity,
            message: self.message.clone(),
            file: path,
            line: start.line,
            column: start.column,
            end_line: end.line,
            end_column: end.column,
            byte_range: [self.span.start, self.span.end],
            label: self.label.clone(),
            help: self.help.clone(),
            article: self.article.clone(),
            related: self
                .related
                .iter()
                .map(|l| {
                    let (file, s, _) = resolve(files, l.file, l.span);
                    RelatedJson {
                        file,
                        line: s.line,
                        column: s.column,
                        message: l.message.clone(),
                    }
                })
                .collect(),
        }
    }

    /// A miette report with the source snippet, for people. Miette gets an [`Excerpt`]: a
    /// few lines around the primary span, each cut to a window around its spans, so that
    /// neither a long line (miette cannot pad past column 65,535) nor a large file (copied
    /// into every report) costs more than the excerpt.
    pub fn to_report(&self, files: &[SourceText]) -> miette::Report {
        let file = files.get(self.file.index());
        let excerpt = file.map(|f| {
            let spans: Vec<Span> = self
                .related
                .iter()
                .filter(|r| r.file == self.file)
                .map(|r| r.span)
                .collect();
            Excerpt::new(f, self.span, &spans)
        });
        let mut labels = Vec::new();
        let mut notes = Vec::new();
        let mut unlisted = 0usize;
        labels.push(miette::LabeledSpan::new_primary_with_span(
            (!self.label.is_empty()).then(|| self.label.clone()),
            excerpt.as_ref().map_or(0..0, Excerpt::primary),
        ));
        let mut same_file = 0usize;
        for r in &self.related {
            let shown = if r.file == self.file {
                same_file += 1;
                excerpt.as_ref().and_then(|e| e.other(same_file - 1))
            } else {
                None
            };
            match shown {
                Some(range) => labels.push(miette::LabeledSpan::new_with_span(
                    Some(r.message.clone()),
                    range,
                )),
                None if notes.len() < MAX_NOTES => {
                    let (path, lc, _) = resolve(files, r.file, r.span);
                    notes.push(format!("{}: {}:{}:{}", r.message, path, lc.line, lc.column));
                }
                None => unlisted += 1,
            }
        }
        if unlisted > 0 {
            notes.push(format!(
                "and {unlisted} more place(s): `--format json` lists them all"
            ));
        }
        let mut help = self.help.clone();
        for note in notes {
            help = Some(match help {
                Some(h) => format!("{h}\n{note}"),
                None => note,
            });
        }
        if let Some(article) = &self.article {
            let note = format!("《镇江市公共数据授权运营管理暂行办法》{article}");
            help = Some(match help {
                Some(h) => format!("{h}\n{note}"),
                None => note,
            });
        }
        let severity = match self.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
            Severity::Info => miette::Severity::Advice,
        };
        let diag = miette::MietteDiagnostic::new(self.message.clone())
            .with_code(format!("{}({})", self.code.id(), self.code.info().name))
            .with_severity(severity)
            .with_labels(labels);
        let diag = match help {
            Some(h) => diag.with_help(h),
            None => diag,
        };
        let report = miette::Report::new(diag);
        match excerpt {
            Some(e) => report.with_source_code(e),
            None => report,
        }
    }
}

fn resolve(files: &[SourceText], file: FileId, span: Span) -> (String, LineCol, LineCol) {
    match files.get(file.index()) {
        Some(f) => (
            f.path.clone(),
            f.line_col(span.start as usize),
            f.line_col(span.end as usize),
        ),
        None => (
            String::from("<unknown>"),
            LineCol { line: 1, column: 1 },
            LineCol { line: 1, column: 1 },
        ),
    }
}

/// A source line longer than this many bytes is cut to a window around its spans.
const WHOLE_LINE_BYTES: usize = 480;
/// Characters a cut line keeps before the first span on it.
const WINDOW_LEAD: usize = 40;
/// Characters a cut line keeps in all.
const WINDOW_WIDTH: usize = 160;
/// Lines a primary span may cover before a report shows only its first line.
const SPAN_LINES: usize = 8;
/// Secondary labels drawn in the excerpt; the others are listed in the help, up to
/// [`MAX_NOTES`] of them.
const MAX_LABELS: usize = 8;
/// Places listed in the help; past this, their number.
const MAX_NOTES: usize = 8;

/// One line of an [`Excerpt`].
#[derive(Debug)]
struct ExcerptLine {
    /// 0-based line in the file.
    line: usize,
    /// Bytes of the file's line that are shown (`…` marks where the rest was cut).
    keep: std::ops::Range<usize>,
    /// The whole line in the file, its break excluded.
    full: std::ops::Range<usize>,
    /// Where the kept text starts in the excerpt (after a leading `…`).
    at: usize,
    /// Characters of the file's line before `keep`.
    lead_chars: usize,
}

/// What a report hands miette instead of the whole file: the lines around a diagnostic's
/// primary span, cut to windows, with the file's line numbers and columns.
#[derive(Debug)]
pub struct Excerpt {
    name: String,
    text: String,
    lines: Vec<ExcerptLine>,
    /// The primary span as shown (a span of many lines is cut to its first line).
    primary: (usize, usize),
    /// The secondary spans, `None` for those not shown (off the excerpt's lines, or past
    /// [`MAX_LABELS`]).
    others: Vec<Option<(usize, usize)>>,
}

impl Excerpt {
    /// The excerpt of `file` for a primary span and same-file secondary spans (those outside
    /// the excerpt's lines are left out: [`Excerpt::rebase`] returns `None` for them).
    pub fn new(file: &SourceText, primary: Span, others: &[Span]) -> Self {
        let text: &str = &file.text;
        let index = file.line_index();
        let len = text.len();
        let start = (primary.start as usize).min(len);
        let mut end = (primary.end as usize).clamp(start, len);
        let first_line = index.line_of(start);
        let mut last_line = index.line_of(if end > start { end - 1 } else { start });
        if last_line > first_line + SPAN_LINES {
            last_line = first_line;
            end = index.line_range(text, first_line).end.max(start);
        }
        let from = first_line.saturating_sub(1);
        let to = (last_line + 1).min(index.line_count().saturating_sub(1));
        let mut spans: Vec<(usize, usize)> = vec![(start, end)];
        let mut shown = Vec::with_capacity(others.len());
        for s in others {
            let (a, b) = (s.start as usize, (s.end as usize).min(len));
            if spans.len() <= MAX_LABELS
                && a <= len
                && index.line_of(a) >= from
                && index.line_of(b.max(a)) <= to
            {
                spans.push((a, b.max(a)));
                shown.push(Some((a, b.max(a))));
            } else {
                shown.push(None);
            }
        }
        let mut out = String::new();
        let mut lines = Vec::new();
        for line in from..=to {
            let full = index.line_range(text, line);
            let keep = if full.len() <= WHOLE_LINE_BYTES {
                full.clone()
            } else {
                // Focus on the first span that starts on this line, or the line's start.
                let focus = spans
                    .iter()
                    .filter(|(a, b)| *a <= full.end && *b >= full.start)
                    .map(|(a, _)| (*a).max(full.start))
                    .min()
                    .unwrap_or(full.start);
                let ws = back_chars(text, floor_char(text, focus), full.start, WINDOW_LEAD);
                let we = forward_chars(text, ws, full.end, WINDOW_WIDTH);
                ws..we
            };
            if keep.start > full.start {
                out.push('…');
            }
            let at = out.len();
            out.push_str(text.get(keep.clone()).unwrap_or(""));
            if keep.end < full.end {
                out.push('…');
            }
            out.push('\n');
            let lead_chars = index.line_col(keep.start).column.saturating_sub(1);
            lines.push(ExcerptLine {
                line,
                keep,
                full,
                at,
                lead_chars,
            });
        }
        Excerpt {
            name: file.path.clone(),
            text: out,
            lines,
            primary: (start, end),
            others: shown,
        }
    }

    /// The excerpt's text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Where a byte offset of the file lands in the excerpt, clamped to what is shown.
    fn map(&self, offset: usize) -> Option<usize> {
        let l = self
            .lines
            .iter()
            .find(|l| offset >= l.full.start && offset <= l.full.end)
            .or_else(|| {
                // The line break after a line, or a byte of a `\r\n`, belongs to the line.
                self.lines.iter().rev().find(|l| offset >= l.full.start)
            })?;
        let clamped = offset.clamp(l.keep.start, l.keep.end);
        Some(l.at + (clamped - l.keep.start))
    }

    /// The primary span as a byte range of the excerpt.
    pub fn primary(&self) -> std::ops::Range<usize> {
        self.rebase(self.primary).unwrap_or(0..0)
    }

    /// The `i`th secondary span given to [`Excerpt::new`] as a byte range of the excerpt;
    /// `None` when it is not shown.
    pub fn other(&self, i: usize) -> Option<std::ops::Range<usize>> {
        self.rebase((*self.others.get(i)?)?)
    }

    fn rebase(&self, (s, e): (usize, usize)) -> Option<std::ops::Range<usize>> {
        let a = self.map(s)?;
        let b = self.map(e.max(s))?.max(a);
        Some(a..b)
    }

    /// The file's 0-based line and character column of an excerpt offset.
    fn position(&self, offset: usize) -> (usize, usize) {
        let Some(l) = self
            .lines
            .iter()
            .rev()
            .find(|l| l.at <= offset)
            .or_else(|| self.lines.first())
        else {
            return (0, 0);
        };
        let shown = self
            .text
            .get(l.at..offset.max(l.at))
            .map_or(0, |s| s.chars().count());
        (l.line, l.lead_chars + shown)
    }
}

impl miette::SourceCode for Excerpt {
    fn read_span<'a>(
        &'a self,
        span: &miette::SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        let inner = <str as miette::SourceCode>::read_span(
            self.text.as_str(),
            span,
            context_lines_before,
            context_lines_after,
        )?;
        let base = self.lines.first().map_or(0, |l| l.line);
        // A read without context is how miette asks for a label's own position (the
        // `[file:line:column]` header): answer in the file's terms, not the excerpt's.
        let (line, column) = if context_lines_before == 0 && context_lines_after == 0 {
            self.position(span.offset())
        } else {
            (base + inner.line(), inner.column())
        };
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.name.clone(),
            inner.data(),
            *inner.span(),
            line,
            column,
            inner.line_count(),
        )))
    }
}

/// The largest char boundary at or before `at`.
fn floor_char(text: &str, mut at: usize) -> usize {
    at = at.min(text.len());
    while at > 0 && !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// The offset `n` characters before `at`, not before `limit`.
fn back_chars(text: &str, at: usize, limit: usize, n: usize) -> usize {
    text.get(limit..at)
        .and_then(|s| s.char_indices().rev().nth(n.saturating_sub(1)))
        .map_or(limit, |(i, _)| limit + i)
}

/// The offset `n` characters after `at`, not after `limit`.
fn forward_chars(text: &str, at: usize, limit: usize, n: usize) -> usize {
    text.get(at..limit)
        .and_then(|s| s.char_indices().nth(n))
        .map_or(limit, |(i, _)| at + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every variant, by an exhaustive match: a new code fails to compile here until it
    /// is listed, and then fails the test below until it has its entry in `CODES`.
    fn every_code() -> Vec<Code> {
        let all = [
            Code::Syntax,
            Code::InvalidLiteral,
            Code::Manifest,
            Code::NestingTooDeep,
            Code::SkippedFile,
            Code::UnknownName,
            Code::Duplicate,
            Code::TypeMismatch,
            Code::Incomplete,
            Code::ForbiddenAction,
            Code::TermTooLong,
            Code::GradeDisallows,
            Code::ConsentRequired,
            Code::WildcardFields,
            Code::NonPriorityDomain,
            Code::MissingMeasures,
            Code::NeverHolds,
            Code::GradeBelowClassification,
            Code::TermInverted,
            Code::LimitExceedsRegulation,
            Code::GradeAllowsNothing,
            Code::UnusedSuppression,
            Code::InvalidSuppression,
            Code::Internal,
        ];
        for c in all {
            match c {
                Code::Syntax
                | Code::InvalidLiteral
                | Code::Manifest
                | Code::NestingTooDeep
                | Code::SkippedFile
                | Code::UnknownName
                | Code::Duplicate
                | Code::TypeMismatch
                | Code::Incomplete
                | Code::ForbiddenAction
                | Code::TermTooLong
                | Code::GradeDisallows
                | Code::ConsentRequired
                | Code::WildcardFields
                | Code::NonPriorityDomain
                | Code::MissingMeasures
                | Code::NeverHolds
                | Code::GradeBelowClassification
                | Code::TermInverted
                | Code::LimitExceedsRegulation
                | Code::GradeAllowsNothing
                | Code::UnusedSuppression
                | Code::InvalidSuppression
                | Code::Internal => {}
            }
        }
        all.to_vec()
    }

    #[test]
    fn codes_has_one_entry_per_variant() {
        let all = every_code();
        assert_eq!(
            CODES.len(),
            all.len(),
            "CODES and the enum differ in length"
        );
        for c in all {
            let n = CODES.iter().filter(|i| i.code == c).count();
            assert_eq!(n, 1, "{c:?} has {n} entries in CODES");
            assert_eq!(c.info().code, c);
        }
        let mut ids: Vec<&str> = CODES.iter().map(|i| i.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), CODES.len(), "two codes share an id");
    }
}

#[cfg(test)]
mod line_index_tests {
    use super::*;

    /// The hand-written index this one replaced, kept as the reference its answers must
    /// equal: columns in characters, an offset inside a character counting it, offsets
    /// clamped to the end.
    fn reference(text: &str, offset: usize) -> (usize, usize) {
        let offset = offset.min(text.len());
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        let line = starts.partition_point(|&s| s <= offset).saturating_sub(1);
        let start = starts[line];
        let column = text[start..]
            .char_indices()
            .take_while(|(i, _)| start + i < offset)
            .count();
        (line + 1, column + 1)
    }

    const TEXTS: &[&str] = &[
        "",
        "scenario a {\n  domain 金融\n}\n",
        "数据🙂x\r\n\r\n  金融 \"🙂🙂\"\nlast",
        "\n\n🙂",
        "é",
        "a long ascii line, longer than sixteen bytes, so the index's SIMD path runs\n数",
    ];

    #[test]
    fn positions_equal_the_reference_at_every_offset() {
        for text in TEXTS {
            let index = LineIndex::new(text);
            for offset in 0..=text.len() + 3 {
                let lc = index.line_col(offset);
                assert_eq!(
                    (lc.line, lc.column),
                    reference(text, offset),
                    "{text:?} at {offset}"
                );
                assert_eq!(index.line_of(offset), lc.line - 1);
                if text.is_char_boundary(offset) {
                    assert_eq!(index.offset(lc), Some(offset), "{text:?} at {offset}");
                }
            }
            assert_eq!(index.line_count(), text.split('\n').count());
        }
    }

    #[test]
    fn line_ranges_leave_out_the_line_break() {
        let text = "数据🙂x\r\n\r\n  金融\nlast";
        let index = LineIndex::new(text);
        let lines: Vec<&str> = (0..index.line_count())
            .map(|l| &text[index.line_range(text, l)])
            .collect();
        assert_eq!(lines, ["数据🙂x", "", "  金融", "last"]);
        assert_eq!(index.line_range(text, 9), text.len()..text.len());
        let trailing = "a\n";
        let index = LineIndex::new(trailing);
        assert_eq!(index.line_count(), 2);
        assert_eq!(index.line_range(trailing, 0), 0..1);
        assert_eq!(index.line_range(trailing, 1), 2..2);
    }

    #[test]
    fn a_text_past_the_limit_is_indexed_up_to_a_character_boundary() {
        // `line_index` asserts a text is shorter than `u32::MAX` bytes; a longer one is cut
        // on a character boundary at or before the limit, never inside a character.
        assert_eq!(indexable("ab数", 3), "ab");
        assert_eq!(indexable("ab数", 4), "ab");
        assert_eq!(indexable("ab数", 5), "ab数");
        assert_eq!(indexable("ab数", 99), "ab数");
        assert_eq!(indexable("🙂", 2), "");
    }
}
