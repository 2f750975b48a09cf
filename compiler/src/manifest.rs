//! `charter.toml`: the bundle's name, version, title and lint levels.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::diagnostics::{Code, Severity};
use crate::syntax::ast::Span;

/// The parsed manifest.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Manifest {
    /// Lowercase ASCII name, e.g. `zhenjiang`.
    pub name: String,
    /// Semantic version.
    pub version: String,
    /// Human title.
    pub title: Option<String>,
    /// Level per code; `None` turns the code off.
    #[serde(skip)]
    pub lints: BTreeMap<Code, Option<Severity>>,
}

impl Default for Manifest {
    fn default() -> Self {
        Manifest {
            name: "bundle".to_string(),
            version: "0.0.0".to_string(),
            title: None,
            lints: BTreeMap::new(),
        }
    }
}

/// A problem in `charter.toml`, with the byte span it concerns.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ManifestError {
    /// Message.
    pub message: String,
    /// Where.
    pub span: Span,
    /// Help.
    pub help: Option<String>,
}

#[derive(Deserialize)]
struct RawManifest {
    bundle: Option<RawBundle>,
    #[serde(default)]
    lints: BTreeMap<String, toml::Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBundle {
    name: Option<toml::Spanned<String>>,
    version: Option<toml::Spanned<String>>,
    title: Option<String>,
}

/// Parses the text of `charter.toml`. Returns the manifest (defaults where parts are
/// wrong) and the problems found.
pub fn parse_manifest(text: &str) -> (Manifest, Vec<ManifestError>) {
    let mut errors = Vec::new();
    let mut m = Manifest::default();
    let raw: RawManifest = match toml::from_str(text) {
        Ok(r) => r,
        Err(e) => {
            let span = e
                .span()
                .map(|r| Span::new(r.start, r.end))
                .unwrap_or_default();
            errors.push(ManifestError {
                message: format!("invalid charter.toml: {}", first_line(e.message())),
                span,
                help: Some("see docs/language.md, section charter.toml".to_string()),
            });
            return (m, errors);
        }
    };
    let whole = Span::new(0, text.len().min(1));
    match raw.bundle {
        None => errors.push(ManifestError {
            message: "charter.toml has no `[bundle]` table".to_string(),
            span: whole,
            help: Some("add `[bundle]` with `name` and `version`".to_string()),
        }),
        Some(b) => {
            match b.name {
                Some(n) if valid_name(n.get_ref()) => m.name = n.get_ref().clone(),
                Some(n) => errors.push(ManifestError {
                    message: format!("invalid bundle name `{}`", n.get_ref()),
                    span: Span::new(n.span().start, n.span().end),
                    help: Some(
                        "a bundle name starts with a lowercase ASCII letter and has only lowercase letters, digits, `-` and `_`"
                            .to_string(),
                    ),
                }),
                None => errors.push(ManifestError {
                    message: "`[bundle]` has no `name`".to_string(),
                    span: whole,
                    help: Some("add `name = \"…\"`".to_string()),
                }),
            }
            match b.version {
                Some(v) if valid_semver(v.get_ref()) => m.version = v.get_ref().clone(),
                Some(v) => errors.push(ManifestError {
                    message: format!("invalid version `{}`", v.get_ref()),
                    span: Span::new(v.span().start, v.span().end),
                    help: Some("versions are semantic versions such as `1.2.0`".to_string()),
                }),
                None => errors.push(ManifestError {
                    message: "`[bundle]` has no `version`".to_string(),
                    span: whole,
                    help: Some("add `version = \"0.1.0\"`".to_string()),
                }),
            }
            m.title = b.title;
        }
    }
    for (key, level) in raw.lints {
        let span = Span::new(level.span().start, level.span().end);
        let Some(code) = Code::lookup(&key) else {
            errors.push(ManifestError {
                message: format!("unknown lint `{key}`"),
                span,
                help: Some("lints are named by code (`CH0305`) or name (`wildcard-fields`); see docs/diagnostics.md".to_string()),
            });
            continue;
        };
        if !code.info().configurable {
            errors.push(ManifestError {
                message: format!("the level of `{key}` cannot be changed"),
                span,
                help: Some(format!(
                    "the configurable lints are: {}",
                    crate::diagnostics::CODES
                        .iter()
                        .filter(|i| i.configurable)
                        .map(|i| i.id)
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            });
            continue;
        }
        let sev = match level.get_ref().as_str() {
            "error" | "deny" => Some(Severity::Error),
            "warning" | "warn" => Some(Severity::Warning),
            "info" => Some(Severity::Info),
            "off" | "allow" => None,
            other => {
                errors.push(ManifestError {
                    message: format!("unknown lint level `{other}`"),
                    span,
                    help: Some("levels are `error`, `warning`, `info` and `off`".to_string()),
                });
                continue;
            }
        };
        m.lints.insert(code, sev);
    }
    (m, errors)
}

fn first_line(s: &str) -> String {
    s.lines()
        .next()
        .unwrap_or("")
        .trim()
        .trim_end_matches('.')
        .to_string()
}

fn valid_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

fn valid_semver(s: &str) -> bool {
    let core = s.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars().all(|c| c.is_ascii_digit())
                && (p.len() == 1 || !p.starts_with('0'))
        })
}

/// The Cedar namespace of a bundle: its name in UpperCamelCase, ASCII.
pub fn namespace_of(name: &str) -> String {
    let mut out = String::new();
    for part in name.split(['-', '_']) {
        let mut cs = part.chars();
        if let Some(c) = cs.next() {
            out.push(c.to_ascii_uppercase());
            out.extend(cs);
        }
    }
    if out.is_empty() || !out.starts_with(|c: char| c.is_ascii_alphabetic()) {
        out.insert_str(0, "Bundle");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_levels_by_code_and_name() {
        let (m, errs) = parse_manifest(
            "[bundle]\nname = \"zhenjiang\"\nversion = \"0.1.0\"\n[lints]\nCH0305 = \"error\"\nnon-priority-domain = \"off\"\n",
        );
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(
            m.lints.get(&Code::WildcardFields),
            Some(&Some(Severity::Error))
        );
        assert_eq!(m.lints.get(&Code::NonPriorityDomain), Some(&None));
    }

    #[test]
    fn rejects_bad_version_with_span() {
        let text = "[bundle]\nname = \"z\"\nversion = \"1.0\"\n";
        let (_, errs) = parse_manifest(text);
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].message, "invalid version `1.0`");
        assert_eq!(&text[errs[0].span.range()], "\"1.0\"");
    }

    #[test]
    fn namespace_is_camel_case() {
        assert_eq!(namespace_of("zhenjiang"), "Zhenjiang");
        assert_eq!(namespace_of("city-data_rules"), "CityDataRules");
        assert_eq!(namespace_of("9x"), "Bundle9x");
    }
}
