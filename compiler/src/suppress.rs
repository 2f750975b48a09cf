//! Inline suppressions: `// charter-allow(CODE): reason`.
//!
//! A policy author may accept one occurrence of a regulation lint (a `CH03xx` code that
//! `charter.toml` could also turn off for the whole bundle) where it is, with the reason
//! written beside it, so that the exception is reviewed with the rule it excuses. The
//! comment stands on the line before the diagnostic's start, or at the end of that line;
//! several codes may be named, by id or name: `// charter-allow(CH0305, CH0306): …`.
//!
//! The reason is required: a suppression without one, or naming a code that does not
//! exist or cannot be suppressed (syntax, name and type errors are facts, not choices),
//! is `CH0314` and suppresses nothing. A suppression that matches no diagnostic is
//! `CH0313`, so that exceptions do not outlive what they excused.

use crate::diagnostics::{Code, Diagnostic, FileId, LineIndex, CODES};
use crate::format::comments_of;
use crate::sema::check::suggest;
use crate::syntax::ast::Span;
use crate::syntax::{lex, TokenKind};

/// The comment's marker.
const MARKER: &str = "charter-allow";

/// One code named by a suppression.
#[derive(Clone, Debug)]
struct Named {
    code: Code,
    span: Span,
    used: bool,
}

/// A well-formed suppression.
#[derive(Clone, Debug)]
struct Suppression {
    /// The 0-based line whose diagnostics it suppresses.
    line: usize,
    codes: Vec<Named>,
}

/// Whether a code may be suppressed inline.
pub fn suppressible(code: Code) -> bool {
    code.info().configurable && code != Code::UnusedSuppression
}

/// Applies the suppressions of a file to its diagnostics: drops those suppressed, and adds
/// `CH0313` for suppressions that suppress nothing and `CH0314` for malformed ones.
/// `index` gives the text's line index, asked for only when the text has a suppression.
pub fn apply<'a>(
    text: &str,
    index: impl FnOnce() -> &'a LineIndex,
    file: FileId,
    diags: &mut Vec<Diagnostic>,
) {
    if !text.contains(MARKER) {
        return;
    }
    let tokens = lex(text);
    let comments = comments_of(text, &tokens);
    let index = index();
    let line_of = |offset: usize| index.line_of(offset);
    let mut found: Vec<Suppression> = Vec::new();
    let mut problems: Vec<Diagnostic> = Vec::new();
    for c in &comments {
        let body = c.text.trim_start_matches('/').trim_start();
        let Some(rest) = body.strip_prefix(MARKER) else {
            continue;
        };
        let start = c.start + (c.text.len() - body.len());
        let whole = Span::new(start, c.end);
        match parse(rest, start + MARKER.len(), file, whole) {
            Ok(codes) => {
                let line = line_of(c.start);
                let line_start = c.start - column_bytes(text, c.start);
                let before = text.get(line_start..c.start).unwrap_or("");
                // At the end of a line it covers that line; on a line of its own, the next
                // line that holds code.
                let target = if before.trim().is_empty() {
                    tokens
                        .iter()
                        .find(|t| {
                            t.span.start as usize >= c.end
                                && !matches!(
                                    t.kind,
                                    TokenKind::Whitespace | TokenKind::Comment | TokenKind::Doc
                                )
                        })
                        .map_or(line + 1, |t| line_of(t.span.start as usize))
                } else {
                    line
                };
                found.push(Suppression {
                    line: target,
                    codes,
                });
            }
            Err(d) => problems.push(*d),
        }
    }
    diags.retain(|d| {
        if d.file != file || !suppressible(d.code) {
            return true;
        }
        let line = line_of(d.span.start as usize);
        let mut suppressed = false;
        for s in found.iter_mut().filter(|s| s.line == line) {
            for n in s.codes.iter_mut().filter(|n| n.code == d.code) {
                n.used = true;
                suppressed = true;
            }
        }
        !suppressed
    });
    for s in &found {
        for n in s.codes.iter().filter(|n| !n.used) {
            let id = n.code.id();
            problems.push(
                Diagnostic::new(
                    Code::UnusedSuppression,
                    file,
                    n.span,
                    format!("`charter-allow({id})` suppresses nothing"),
                )
                .with_label(format!("no {id} diagnostic starts on line {}", s.line + 1))
                .with_help(
                    "remove the suppression, or put it on the line before the diagnostic it excuses",
                ),
            );
        }
    }
    diags.extend(problems);
}

/// Bytes from the start of the line to `offset`.
fn column_bytes(text: &str, offset: usize) -> usize {
    let head = text.get(..offset).unwrap_or("");
    offset - head.rfind('\n').map_or(0, |i| i + 1)
}

/// Parses `(CODE, …): reason` after the marker, `at` being the byte offset of `rest`.
fn parse(rest: &str, at: usize, file: FileId, whole: Span) -> Result<Vec<Named>, Box<Diagnostic>> {
    let invalid = |span: Span, message: String, label: &str, help: String| {
        Box::new(
            Diagnostic::new(Code::InvalidSuppression, file, span, message)
                .with_label(label)
                .with_help(help),
        )
    };
    let form = "write `// charter-allow(CH0305): the reason this exception is acceptable`";
    let Some(inner_start) = rest.strip_prefix('(').map(|_| 1) else {
        return Err(invalid(
            whole,
            "malformed suppression".to_string(),
            "expected `(` and a code",
            form.to_string(),
        ));
    };
    let Some(close) = rest.find(')') else {
        return Err(invalid(
            whole,
            "malformed suppression".to_string(),
            "expected `)` after the codes",
            form.to_string(),
        ));
    };
    let list = rest.get(inner_start..close).unwrap_or("");
    let mut codes = Vec::new();
    let mut offset = at + inner_start;
    for part in list.split(',') {
        let key = part.trim();
        let lead = part.len() - part.trim_start().len();
        let span = Span::new(offset + lead, offset + lead + key.len());
        offset += part.len() + 1;
        if key.is_empty() {
            return Err(invalid(
                whole,
                "suppression names no code".to_string(),
                "expected a code such as `CH0305`",
                form.to_string(),
            ));
        }
        let Some(code) = Code::lookup(key) else {
            let ids = CODES
                .iter()
                .filter(|i| suppressible(i.code))
                .flat_map(|i| [i.id, i.name]);
            let help = match suggest(key, ids) {
                Some(s) => format!("did you mean `{s}`?"),
                None => "name a code by its id (`CH0305`) or name (`wildcard-fields`)".to_string(),
            };
            return Err(invalid(
                span,
                format!("unknown code `{key}`"),
                "no such code",
                help,
            ));
        };
        if !suppressible(code) {
            let allowed: Vec<&str> = CODES
                .iter()
                .filter(|i| suppressible(i.code))
                .map(|i| i.id)
                .collect();
            return Err(invalid(
                span,
                format!("`{}` cannot be suppressed", code.id()),
                "not a lint",
                format!(
                    "only the regulation lints can be: {}; fix the problem instead",
                    allowed.join(", ")
                ),
            ));
        }
        codes.push(Named {
            code,
            span,
            used: false,
        });
    }
    let after = rest.get(close + 1..).unwrap_or("").trim_start();
    let reason = after.strip_prefix(':').or_else(|| after.strip_prefix('：'));
    if reason.is_none_or(|r| r.trim().is_empty()) {
        let ids: Vec<&str> = codes.iter().map(|n| n.code.id()).collect();
        return Err(invalid(
            whole,
            format!("suppression of `{}` gives no reason", ids.join("`, `")),
            "no reason after `:`",
            "say why the exception is acceptable: `// charter-allow(CH0305): 场景确需全部字段，已经评审`"
                .to_string(),
        ));
    }
    Ok(codes)
}
