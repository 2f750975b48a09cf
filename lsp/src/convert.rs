//! From the compiler's and the features' plain data to LSP types.

use std::collections::HashMap;

use charter_compiler::diagnostics::{Diagnostic, FileId, Severity};
use tower_lsp_server::ls_types as lsp;

use crate::ide::symbols::SymbolKind;
use crate::ide::{cite, FileSpan};
use crate::text::LineMap;
use crate::world::{BundleView, Snapshot};

/// A location in a bundle, as LSP has it.
pub fn location(snap: &Snapshot, b: &BundleView, at: FileSpan) -> Option<lsp::Location> {
    let uri = snap.uri(b, at.file)?;
    let range = snap.line_map(b, at.file).range(at.span);
    Some(lsp::Location { uri, range })
}

/// The diagnostics of one file, converted; related labels may point into other files.
pub fn diagnostics(
    snap: &Snapshot,
    b: &BundleView,
    file: FileId,
    diags: &[Diagnostic],
) -> Vec<lsp::Diagnostic> {
    let map = snap.line_map(b, file);
    let mut others: HashMap<FileId, LineMap<'_>> = HashMap::new();
    diags
        .iter()
        .map(|d| {
            let related: Vec<lsp::DiagnosticRelatedInformation> = d
                .related
                .iter()
                .filter_map(|l| {
                    let range = if l.file == file {
                        map.range(l.span)
                    } else {
                        others
                            .entry(l.file)
                            .or_insert_with(|| snap.line_map(b, l.file))
                            .range(l.span)
                    };
                    Some(lsp::DiagnosticRelatedInformation {
                        location: lsp::Location {
                            uri: snap.uri(b, l.file)?,
                            range,
                        },
                        message: l.message.clone(),
                    })
                })
                .collect();
            diagnostic(d, map.range(d.span), related)
        })
        .collect()
}

/// One diagnostic: the message, then the help line and the article on lines of their own.
pub fn diagnostic(
    d: &Diagnostic,
    range: lsp::Range,
    related: Vec<lsp::DiagnosticRelatedInformation>,
) -> lsp::Diagnostic {
    let mut message = d.message.clone();
    if let Some(h) = &d.help {
        message.push_str("\nhelp: ");
        message.push_str(h);
    }
    if let Some(a) = &d.article {
        message.push('\n');
        message.push_str(&cite(a));
    }
    lsp::Diagnostic {
        range,
        severity: Some(match d.severity {
            Severity::Error => lsp::DiagnosticSeverity::ERROR,
            Severity::Warning => lsp::DiagnosticSeverity::WARNING,
            Severity::Info => lsp::DiagnosticSeverity::INFORMATION,
        }),
        code: Some(lsp::NumberOrString::String(d.code.id().to_string())),
        // The code's section of the reference, which editors link from the code.
        code_description: d
            .code
            .info()
            .help_uri()
            .parse()
            .ok()
            .map(|href| lsp::CodeDescription { href }),
        source: Some(String::from("charter")),
        message,
        related_information: (!related.is_empty()).then_some(related),
        tags: None,
        data: None,
    }
}

/// The LSP kind of an outline entry.
pub fn symbol_kind(k: SymbolKind) -> lsp::SymbolKind {
    match k {
        SymbolKind::Enum => lsp::SymbolKind::ENUM,
        SymbolKind::EnumMember => lsp::SymbolKind::ENUM_MEMBER,
        SymbolKind::Key => lsp::SymbolKind::KEY,
        SymbolKind::Class => lsp::SymbolKind::CLASS,
        SymbolKind::Operator => lsp::SymbolKind::OPERATOR,
        SymbolKind::Struct => lsp::SymbolKind::STRUCT,
        SymbolKind::Field => lsp::SymbolKind::FIELD,
        SymbolKind::Module => lsp::SymbolKind::MODULE,
        SymbolKind::Interface => lsp::SymbolKind::INTERFACE,
        SymbolKind::Event => lsp::SymbolKind::EVENT,
        SymbolKind::Constant => lsp::SymbolKind::CONSTANT,
        SymbolKind::Method => lsp::SymbolKind::METHOD,
        SymbolKind::Object => lsp::SymbolKind::OBJECT,
        SymbolKind::Function => lsp::SymbolKind::FUNCTION,
        SymbolKind::Property => lsp::SymbolKind::PROPERTY,
        SymbolKind::Namespace => lsp::SymbolKind::NAMESPACE,
    }
}

/// Semantic tokens, delta-encoded as the protocol wants them.
pub fn semantic_tokens(
    map: &LineMap<'_>,
    tokens: &[crate::ide::tokens::SemanticToken],
) -> Vec<lsp::SemanticToken> {
    let mut out = Vec::with_capacity(tokens.len());
    let (mut line, mut col) = (0u32, 0u32);
    for t in tokens {
        let text = map.text().get(t.span.range()).unwrap_or("");
        if text.is_empty() || text.contains('\n') {
            continue;
        }
        let pos = map.position(t.span.start as usize);
        let delta_line = pos.line.saturating_sub(line);
        let delta_start = if delta_line == 0 {
            pos.character.saturating_sub(col)
        } else {
            pos.character
        };
        out.push(lsp::SemanticToken {
            delta_line,
            delta_start,
            length: map.measure(text),
            token_type: t.kind,
            token_modifiers_bitset: t.modifiers,
        });
        line = pos.line;
        col = pos.character;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use charter_compiler::diagnostics::Code;
    use charter_compiler::syntax::ast::Span;

    #[test]
    fn a_diagnostic_links_its_codes_section_of_the_reference() {
        let d = Diagnostic::new(
            Code::WildcardFields,
            FileId::PRELUDE,
            Span { start: 0, end: 1 },
            "scope takes every field of `x`".to_string(),
        );
        let out = diagnostic(&d, lsp::Range::default(), Vec::new());
        let href = out.code_description.map(|c| c.href.to_string());
        assert!(
            href.as_deref()
                .is_some_and(|h| h.ends_with("/docs/diagnostics.md#ch0305-wildcard-fields")),
            "{href:?}"
        );
    }
}
