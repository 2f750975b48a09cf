//! Navigation and renaming: go to definition, find references, rename.

use charter_compiler::diagnostics::FileId;
use charter_compiler::sema::model::Ns;
use charter_compiler::syntax::ast::Span;

use super::occurrences::{self, Symbol};
use super::{Analysis, FileSpan};

/// The declaration of the name at `offset`.
pub fn definition(a: &Analysis, file: FileId, offset: u32) -> Option<(FileSpan, FileSpan)> {
    let occ = occurrences::at(a, file, offset)?;
    let target = occurrences::definition(a, &occ.symbol)?;
    Some((
        FileSpan {
            file,
            span: occ.span,
        },
        target,
    ))
}

/// Every place the name at `offset` is written, its declaration first when asked for.
pub fn references(
    a: &Analysis,
    file: FileId,
    offset: u32,
    include_declaration: bool,
) -> Vec<FileSpan> {
    let Some(occ) = occurrences::at(a, file, offset) else {
        return Vec::new();
    };
    let mut out: Vec<(FileSpan, bool)> = occurrences::all(a, &occ.symbol);
    if !include_declaration {
        out.retain(|(_, decl)| !decl);
    }
    out.sort_by_key(|(fs, decl)| (!*decl, *fs));
    out.into_iter().map(|(fs, _)| fs).collect()
}

/// Why a rename cannot be done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenameError(pub String);

/// The name at `offset` if it can be renamed: its span and its text.
pub fn prepare_rename(
    a: &Analysis,
    file: FileId,
    offset: u32,
) -> Result<(Span, String), RenameError> {
    let occ = occurrences::at(a, file, offset)
        .ok_or_else(|| RenameError(String::from("there is no name here to rename")))?;
    renameable(a, &occ.symbol)?;
    Ok((
        occ.span,
        a.slice(FileSpan {
            file,
            span: occ.span,
        })
        .to_string(),
    ))
}

fn renameable(a: &Analysis, symbol: &Symbol) -> Result<(), RenameError> {
    match symbol.ns {
        Ns::Fixture | Ns::Test | Ns::Otherwise | Ns::GradeRule => {
            return Err(RenameError(format!(
                "a {} cannot be renamed here; edit the string",
                symbol.ns.noun()
            )))
        }
        _ => {}
    }
    match symbol.loc(a.model()) {
        None => Err(RenameError(format!(
            "`{}` is declared nowhere; fix the name instead",
            symbol.written()
        ))),
        Some(loc) if loc.file == FileId::PRELUDE => Err(RenameError(format!(
            "`{}` is declared in the prelude, which cannot be edited",
            symbol.written()
        ))),
        Some(_) => Ok(()),
    }
}

/// Whether `name` may be written as a name of namespace `ns`: an identifier, or a
/// dotted path for datasets, and not a reserved word.
pub fn valid_name(ns: Ns, name: &str) -> bool {
    // The grammar's own lexer decides what a name is (XID, reserved words).
    let ident = charter_compiler::syntax::lexer::is_ident;
    match ns {
        Ns::Dataset => name.split('.').all(ident),
        _ => ident(name),
    }
}

/// The edits that rename the name at `offset` to `new_name`, everywhere in the bundle.
pub fn rename(
    a: &Analysis,
    file: FileId,
    offset: u32,
    new_name: &str,
) -> Result<Vec<(FileSpan, String)>, RenameError> {
    let occ = occurrences::at(a, file, offset)
        .ok_or_else(|| RenameError(String::from("there is no name here to rename")))?;
    let symbol = occ.symbol;
    renameable(a, &symbol)?;
    let new_name = new_name.trim();
    if !valid_name(symbol.ns, new_name) {
        return Err(RenameError(format!(
            "`{new_name}` is not a valid {} name",
            symbol.ns.noun()
        )));
    }
    let new_key = match symbol.ns {
        Ns::Field => match symbol.key.split_once('/') {
            Some((d, _)) => format!("{d}/{new_name}"),
            None => new_name.to_string(),
        },
        _ => new_name.to_string(),
    };
    if new_key != symbol.key
        && Symbol::new(symbol.ns, new_key.clone())
            .loc(a.model())
            .is_some()
    {
        return Err(RenameError(format!(
            "a {} named `{new_name}` already exists",
            symbol.ns.noun()
        )));
    }
    Ok(occurrences::all(a, &symbol)
        .into_iter()
        .filter(|(fs, _)| fs.file != FileId::PRELUDE)
        .map(|(fs, _)| (fs, new_name.to_string()))
        .collect())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::ide::fixture;

    #[test]
    fn definition_of_a_field_use_is_the_field_declaration() {
        let (a, file, offset) = fixture::analysis(&[(
            "scenarios/finance.charter",
            "scenario 普惠金融 \"t\" {\n  domain 金融\n  purpose \"p\"\n  term 2026-01-01 .. 2028-12-31\n  use tax.enterprise_tax { cre$0dit_code } via statistics\n}\n",
        )]);
        let (_, target) = definition(&a, file, offset).unwrap();
        assert_eq!(a.path(target.file), "catalog/tax.charter");
        assert_eq!(a.slice(target), "credit_code");
    }

    #[test]
    fn definition_reaches_into_the_prelude() {
        let (a, file, offset) = fixture::analysis(&[(
            "scenarios/finance.charter",
            "exit 到期 \"t\" {\n  when developer.agreement_$0expires <= now\n  measures terminate\n}\n",
        )]);
        let (origin, target) = definition(&a, file, offset).unwrap();
        assert_eq!(a.slice(origin), "agreement_expires");
        assert_eq!(target.file, FileId::PRELUDE);
        assert_eq!(a.slice(target), "agreement_expires");
    }

    #[test]
    fn references_of_a_grade_cover_declaration_rules_and_arms() {
        let (a, _, _) = fixture::analysis(&[]);
        let file = a.file_id("grades.charter").unwrap_or(FileId::PRELUDE);
        let offset = a.text(file).find("L3 \"敏感\"").unwrap_or(0) as u32;
        let refs = references(&a, file, offset, true);
        let texts: Vec<&str> = refs.iter().map(|r| a.slice(*r)).collect();
        assert_eq!(texts, vec!["L3", "L3", "L3"]);
        assert_eq!(references(&a, file, offset, false).len(), 2);
    }

    #[test]
    fn rename_a_dataset_everywhere() {
        let (a, _, _) = fixture::analysis(&[]);
        let file = a.file_id("catalog/tax.charter").unwrap_or(FileId::PRELUDE);
        let offset = a.text(file).find("tax.enterprise_tax").unwrap_or(0) as u32 + 2;
        let edits = rename(&a, file, offset, "tax.纳税").unwrap_or_default();
        let files: Vec<&str> = edits.iter().map(|(fs, _)| a.path(fs.file)).collect();
        assert_eq!(
            files,
            vec!["catalog/tax.charter", "scenarios/finance.charter"]
        );
    }

    #[test]
    fn rename_refuses_prelude_names_bad_names_and_clashes() {
        let (a, _, _) = fixture::analysis(&[]);
        let file = a
            .file_id("scenarios/finance.charter")
            .unwrap_or(FileId::PRELUDE);
        let text = a.text(file);
        let at = |s: &str| text.find(s).unwrap_or(0) as u32;
        assert!(prepare_rename(&a, file, at("statistics")).is_err());
        assert_eq!(
            prepare_rename(&a, file, at("tax_amount")).map(|(_, t)| t),
            Ok(String::from("tax_amount"))
        );
        assert!(rename(&a, file, at("tax_amount"), "a b").is_err());
        assert!(rename(&a, file, at("tax_amount"), "credit_code").is_err());
        let edits = rename(&a, file, at("tax_amount"), "纳税额").unwrap_or_default();
        assert_eq!(edits.len(), 2);
    }
}
