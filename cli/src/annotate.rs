//! `charter check --format sarif|github`: diagnostics in the formats CI systems show on
//! the lines they are about.
//!
//! SARIF 2.1.0 (code scanning in GitHub, GitLab, Azure DevOps …) carries one rule entry per
//! diagnostic code, with its summary, its help and the article of the regulation it
//! enforces; columns are counted in Unicode code points, as Charter counts them. GitHub's
//! workflow commands (`::error file=…,line=…::message`) annotate a pull request's diff
//! directly from a job's log. Paths are the bundle folder as given joined with each file's
//! path in the bundle, so they are relative to where `charter` ran — the repository root
//! in CI.

use std::path::Path;

use charter_compiler::diagnostics::{CodeInfo, CODES};
use charter_compiler::{Diagnostic, Severity, SourceText};
use serde_json::{json, Map, Value};

/// Output formats of `charter check`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CheckFormat {
    /// For people: source snippets, Chinese titles.
    Human,
    /// One JSON document.
    Json,
    /// SARIF 2.1.0, for code scanning.
    Sarif,
    /// GitHub Actions workflow commands, which annotate the lines of a pull request.
    Github,
}

/// The SARIF schema this output follows.
pub const SARIF_SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

fn path_in(dir: &Path, file: &str) -> String {
    if file.starts_with('<') {
        // The prelude lives inside the compiler, not in the repository.
        return file.to_string();
    }
    let joined = dir.join(file);
    let s = joined.to_string_lossy().replace('\\', "/");
    s.strip_prefix("./").map(str::to_string).unwrap_or(s)
}

/// A relative URI reference for a path: every byte but the unreserved ones and `/`
/// percent-encoded, so Chinese file names survive any reader.
fn uri(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

fn rule(info: &CodeInfo) -> Value {
    let anchor = info.anchor();
    let article = info
        .article
        .map(|a| format!(" It enforces 《镇江市公共数据授权运营管理暂行办法》{a}."))
        .unwrap_or_default();
    let configurable = if info.configurable {
        format!(
            " Its level can be changed in charter.toml (`[lints] {} = \"off\"|\"info\"|\"warning\"|\"error\"`), and one occurrence accepted with `// charter-allow({}): reason` on the line before it or at the end of its line.",
            info.id, info.id
        )
    } else {
        String::new()
    };
    let text = format!(
        "{} ({}): {}.{article}{configurable} See docs/diagnostics.md#{anchor}.",
        info.id, info.name, info.summary
    );
    // The whole documentation, as code scanning shows a rule's help beside its alert.
    let markdown = format!(
        "**{}** `{}`: {}.{article}{configurable}\n\n{}\nSee [docs/diagnostics.md]({}).",
        info.id,
        info.name,
        info.summary,
        info.doc_markdown(),
        info.help_uri()
    );
    let properties = match info.article {
        Some(a) => json!({
            "configurable": info.configurable,
            "tags": ["charter", "regulation"],
            "article": a,
        }),
        None => json!({ "configurable": info.configurable, "tags": ["charter"] }),
    };
    json!({
        "id": info.id,
        "name": info.name,
        "shortDescription": { "text": info.summary },
        "fullDescription": { "text": text },
        "help": { "text": text, "markdown": markdown },
        "helpUri": info.help_uri(),
        "defaultConfiguration": { "level": level(info.severity) },
        "properties": properties,
    })
}

fn location(
    dir: &Path,
    file: &str,
    line: usize,
    column: usize,
    end: Option<(usize, usize)>,
) -> Map<String, Value> {
    let region = match end {
        Some((el, ec)) => json!({
            "startLine": line,
            "startColumn": column,
            "endLine": el,
            "endColumn": ec.max(if el == line { column } else { 1 }),
        }),
        None => json!({ "startLine": line, "startColumn": column }),
    };
    let mut location = Map::new();
    location.insert(
        "physicalLocation".into(),
        json!({
            "artifactLocation": { "uri": uri(&path_in(dir, file)) },
            "region": region,
        }),
    );
    location
}

/// The diagnostics as one SARIF 2.1.0 log.
pub fn sarif(dir: &Path, sources: &[SourceText], diags: &[Diagnostic]) -> Value {
    let rules: Vec<Value> = CODES.iter().map(rule).collect();
    let results: Vec<Value> = diags
        .iter()
        .map(|d| {
            let j = d.to_json(sources);
            let index = CODES.iter().position(|i| i.code == d.code).unwrap_or(0);
            let mut text = j.message.clone();
            if let Some(h) = &j.help {
                text.push_str("\nhelp: ");
                text.push_str(h);
            }
            let related: Vec<Value> = j
                .related
                .iter()
                .enumerate()
                .map(|(k, r)| {
                    let mut l = location(dir, &r.file, r.line, r.column, None);
                    l.insert("id".into(), json!(k + 1));
                    l.insert("message".into(), json!({ "text": r.message }));
                    Value::Object(l)
                })
                .collect();
            let primary = location(
                dir,
                &j.file,
                j.line,
                j.column,
                Some((j.end_line, j.end_column)),
            );
            let mut result = Map::new();
            result.insert("ruleId".into(), json!(j.code));
            result.insert("ruleIndex".into(), json!(index));
            result.insert("level".into(), json!(level(d.severity)));
            result.insert("message".into(), json!({ "text": text }));
            result.insert("locations".into(), json!([primary]));
            if !related.is_empty() {
                result.insert("relatedLocations".into(), json!(related));
            }
            let mut props = Map::new();
            if !j.label.is_empty() {
                props.insert("label".into(), json!(j.label));
            }
            if let Some(a) = &j.article {
                props.insert("article".into(), json!(a));
            }
            if !props.is_empty() {
                result.insert("properties".into(), Value::Object(props));
            }
            Value::Object(result)
        })
        .collect();
    json!({
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "charter",
                    "version": env!("CARGO_PKG_VERSION"),
                    "semanticVersion": env!("CARGO_PKG_VERSION"),
                    "informationUri": "https://example.invalid/charter",
                    "rules": rules,
                }
            },
            "columnKind": "unicodeCodePoints",
            "results": results,
        }]
    })
}

/// Escapes the message of a workflow command.
fn gh_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a property of a workflow command.
fn gh_prop(s: &str) -> String {
    gh_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// The diagnostics as GitHub Actions workflow commands, one line each.
pub fn github(dir: &Path, sources: &[SourceText], diags: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in diags {
        let j = d.to_json(sources);
        let command = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "notice",
        };
        let mut message = j.message.clone();
        if let Some(h) = &j.help {
            message.push_str("\nhelp: ");
            message.push_str(h);
        }
        if let Some(a) = &j.article {
            message.push_str(&format!("\n《镇江市公共数据授权运营管理暂行办法》{a}"));
        }
        out.push_str(&format!(
            "::{command} file={},line={},endLine={},col={},endColumn={},title={}::{}\n",
            gh_prop(&path_in(dir, &j.file)),
            j.line,
            j.end_line,
            j.column,
            j.end_column,
            gh_prop(&format!("{} {}", j.code, j.name)),
            gh_data(&message)
        ));
    }
    out
}
