//! The compiler pipeline as salsa queries: source text → parse → declarations →
//! model → per-file checks → bundle diagnostics. The language server reuses these
//! queries unchanged; the CLI drives them once.
//!
//! File 0 of a bundle is always the prelude and file 1 always `charter.toml`; the
//! `.charter` files follow in path order. A [`FileId`] is an index into that list.

use std::sync::{Arc, Mutex};

use crate::diagnostics::{Code, Diagnostic, FileId, LineIndex, Severity};
use crate::lower::LowerFile;
use crate::manifest::{parse_manifest, Manifest, ManifestError};
use crate::sema::check;
use crate::sema::model::{self, FileDecls, Loc, Model};
use crate::syntax::{self, ParsedFile, SyntaxErrorKind};

/// The path the prelude is shown under.
pub const PRELUDE_PATH: &str = "<prelude>/prelude.charter";
/// The prelude's text, shipped inside the compiler.
pub const PRELUDE_TEXT: &str = include_str!("prelude/prelude.charter");
/// The manifest's file name.
pub const MANIFEST_PATH: &str = "charter.toml";

/// The database trait the queries run on.
#[salsa::db]
pub trait Db: salsa::Database {}

pub use inputs::{BundleInput, SourceFile};

mod inputs {
    // The salsa macros generate constructors and accessors without docs.
    #![allow(missing_docs)]

    /// One source file: its path relative to the bundle root and its text.
    #[salsa::input(debug)]
    pub struct SourceFile {
        /// Path, relative to the bundle root, `/`-separated.
        #[returns(ref)]
        pub path: String,
        /// Text.
        #[returns(ref)]
        pub text: String,
    }

    /// A bundle: the prelude, `charter.toml`, then its `.charter` files.
    #[salsa::input(debug)]
    pub struct BundleInput {
        /// All files; see the module docs for the order.
        #[returns(ref)]
        pub files: Vec<SourceFile>,
    }
}

/// Parses one file.
#[salsa::tracked(returns(ref))]
pub fn parse_file(db: &dyn Db, file: SourceFile) -> ParsedFile {
    if file.path(db) == MANIFEST_PATH {
        return ParsedFile::default();
    }
    syntax::parse(file.text(db))
}

/// The line index of one file, built once per revision of its text and shared by every
/// reader of that revision: suppressions, lowering, the test runner, the language server.
#[salsa::tracked(returns(ref))]
pub fn line_index(db: &dyn Db, file: SourceFile) -> LineIndex {
    LineIndex::new(file.text(db))
}

/// The span-free declarations of one file: what other files depend on.
#[salsa::tracked(returns(ref))]
pub fn file_decls(db: &dyn Db, file: SourceFile) -> FileDecls {
    let parsed = parse_file(db, file);
    model::file_decls(&parsed.items, &parsed.broken)
}

/// The bundle's manifest and its problems.
#[salsa::tracked(returns(ref))]
pub fn manifest(db: &dyn Db, bundle: BundleInput) -> (Manifest, Vec<ManifestError>) {
    match bundle.files(db).get(FileId::MANIFEST.index()) {
        Some(f) => parse_manifest(f.text(db)),
        None => (Manifest::default(), Vec::new()),
    }
}

/// The semantic model of the whole bundle.
#[salsa::tracked(returns(ref))]
pub fn bundle_model(db: &dyn Db, bundle: BundleInput) -> Model {
    let files = bundle.files(db);
    let decls: Vec<(FileId, &FileDecls)> = files
        .iter()
        .enumerate()
        .filter_map(|(i, f)| Some((FileId::from_index(i)?, f)))
        .filter(|(id, _)| *id != FileId::MANIFEST)
        .map(|(id, f)| (id, file_decls(db, *f)))
        .collect();
    Model::build(&decls)
}

/// The files lowering reads: every file but the manifest, parsed.
pub fn lower_files(db: &dyn Db, bundle: BundleInput) -> Vec<LowerFile<'_>> {
    bundle
        .files(db)
        .iter()
        .enumerate()
        .filter_map(|(i, f)| Some((FileId::from_index(i)?, f)))
        .filter(|(id, _)| *id != FileId::MANIFEST)
        .map(|(id, f)| LowerFile {
            id,
            path: f.path(db).as_str(),
            text: f.text(db).as_str(),
            index: line_index(db, *f),
            items: &parse_file(db, *f).items,
        })
        .collect()
}

/// The index of a file in its bundle.
pub fn file_id(db: &dyn Db, bundle: BundleInput, file: SourceFile) -> Option<FileId> {
    bundle
        .files(db)
        .iter()
        .position(|f| *f == file)
        .and_then(FileId::from_index)
}

/// The diagnostics of one file, before the bundle's lint levels.
#[salsa::tracked(returns(ref))]
pub fn file_diagnostics(db: &dyn Db, bundle: BundleInput, file: SourceFile) -> Vec<Diagnostic> {
    let Some(id) = file_id(db, bundle, file) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if id == FileId::MANIFEST {
        for e in &manifest(db, bundle).1 {
            let mut d =
                Diagnostic::new(Code::Manifest, id, e.span, e.message.clone()).with_label("here");
            if let Some(h) = &e.help {
                d = d.with_help(h.clone());
            }
            out.push(d);
        }
        return out;
    }
    let parsed = parse_file(db, file);
    for e in &parsed.errors {
        let code = match e.kind {
            SyntaxErrorKind::Syntax => Code::Syntax,
            SyntaxErrorKind::InvalidLiteral => Code::InvalidLiteral,
            SyntaxErrorKind::DuplicateStatement => Code::Duplicate,
            SyntaxErrorKind::TooDeep => Code::NestingTooDeep,
        };
        let mut d =
            Diagnostic::new(code, id, e.span, e.message.clone()).with_label(e.label.clone());
        if let Some(h) = &e.help {
            d = d.with_help(h.clone());
        }
        for (span, message) in &e.related {
            d = d.with_related(id, *span, message.clone());
        }
        if let Some((span, text)) = &e.fix {
            d = d.with_fix(format!("replace with `{text}`"), *span, text.clone());
        }
        out.push(d);
    }
    let model = bundle_model(db, bundle);
    let files = bundle.files(db);
    let span_of = |loc: Loc| -> Option<syntax::ast::Span> {
        let f = files.get(loc.file.index())?;
        let item = parse_file(db, *f).items.get(loc.item as usize)?;
        Some(located_span(item, loc.sub))
    };
    out.extend(check::check_file(id, &parsed.items, model, &span_of));
    crate::suppress::apply(file.text(db), || line_index(db, file), id, &mut out);
    out
}

/// The span a [`Loc`] inside `item` points at: the name it declares at index `sub`, or
/// for a classification arm (located by index, declaring no name) the whole arm; the
/// whole item when neither is found.
pub fn located_span(item: &syntax::ast::Item, sub: u32) -> syntax::ast::Span {
    match &item.kind {
        syntax::ast::ItemKind::Classify(c) => c.arms.get(sub as usize).map(|a| a.span),
        _ => declaration_name_span(item, sub),
    }
    .unwrap_or(item.span)
}

/// The span of the name a declaration declares at index `sub`.
pub fn declaration_name_span(item: &syntax::ast::Item, sub: u32) -> Option<syntax::ast::Span> {
    model::declared_names(item)
        .into_iter()
        .find(|(_, _, _, s)| *s == sub)
        .map(|(_, _, span, _)| span)
}

/// Every diagnostic of the bundle, with the manifest's lint levels applied, sorted
/// by file and position.
#[salsa::tracked(returns(ref))]
pub fn bundle_diagnostics(db: &dyn Db, bundle: BundleInput) -> Vec<Diagnostic> {
    let (m, _) = manifest(db, bundle);
    let mut out = Vec::new();
    for f in bundle.files(db) {
        out.extend(apply_levels(m, file_diagnostics(db, bundle, *f)));
    }
    out.sort_by_key(|d| (d.file, d.span.start, d.code));
    out
}

/// Applies `[lints]` levels: changes severities, drops what is `off`.
pub fn apply_levels(m: &Manifest, diags: &[Diagnostic]) -> Vec<Diagnostic> {
    diags
        .iter()
        .filter_map(|d| match m.lints.get(&d.code) {
            None => Some(d.clone()),
            Some(None) => None,
            Some(Some(sev)) => {
                let mut d = d.clone();
                d.severity = *sev;
                Some(d)
            }
        })
        .collect()
}

/// Whether any diagnostic is an error.
pub fn has_errors(diags: &[Diagnostic]) -> bool {
    diags.iter().any(|d| d.severity == Severity::Error)
}

/// The concrete database.
#[salsa::db]
#[derive(Clone, Default)]
pub struct CharterDatabase {
    storage: salsa::Storage<Self>,
    log: Option<Arc<Mutex<Vec<String>>>>,
}

#[salsa::db]
impl salsa::Database for CharterDatabase {}

#[salsa::db]
impl Db for CharterDatabase {}

impl CharterDatabase {
    /// A database that records every query it executes, for tests of incrementality.
    pub fn with_execution_log() -> Self {
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = log.clone();
        let storage = salsa::Storage::new(Some(Box::new(move |event: salsa::Event| {
            if let salsa::EventKind::WillExecute { database_key } = event.kind {
                if let Ok(mut l) = sink.lock() {
                    l.push(format!("{database_key:?}"));
                }
            }
        })));
        CharterDatabase {
            storage,
            log: Some(log),
        }
    }

    /// Takes the queries executed since the last call (empty without a log).
    pub fn take_execution_log(&self) -> Vec<String> {
        match &self.log {
            Some(l) => l
                .lock()
                .map(|mut v| std::mem::take(&mut *v))
                .unwrap_or_default(),
            None => Vec::new(),
        }
    }
}
