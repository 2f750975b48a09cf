//! Charter's compiler: parse `.charter` bundles, check them against the regulation,
//! and lower them to validated Cedar.
//!
//! The façade is [`Compiler`]: load a bundle folder (or give it texts), ask for
//! [`Compiler::diagnostics`], and [`Compiler::build`] a [`CompiledBundle`] — the one
//! artifact the runtime loads. Underneath, every step is a salsa query in [`db`], so
//! an edit re-runs only what depends on it; the language server drives the same
//! queries through [`Compiler::db`].

// Library code indexes and slices only through `get`: a bad index on input is an
// error to report, never a panic. Tests may index (a panic there is a failed test).
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::string_slice))]

pub mod db;
pub mod diagnostics;
pub mod format;
pub mod lints;
pub mod lower;
pub mod manifest;
pub mod sema;
pub mod suppress;
pub mod syntax;
pub mod synth;
pub mod walk;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use salsa::Setter;

pub use db::{BundleInput, CharterDatabase, SourceFile};
pub use diagnostics::{Code, Diagnostic, FileId, Severity, SourceText};
pub use lower::{CompiledBundle, CompiledPolicy, PolicyKind};

/// A problem reading a bundle from disk.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum LoadError {
    /// The folder has no `charter.toml`.
    #[error("`{}` is not a Charter bundle: it has no charter.toml", path.display())]
    #[diagnostic(
        code(charter::not_a_bundle),
        help("run `charter check` in the folder that holds charter.toml, or pass that folder")
    )]
    NotABundle {
        /// The folder.
        path: PathBuf,
    },
    /// The bundle's folder could not be walked, or a file in it read: a limit was
    /// passed, or `charter.toml` is a link or a special file.
    #[error("{0}")]
    #[diagnostic(
        code(charter::walk),
        help("Charter reads regular files only, never follows symbolic links, and limits a bundle's depth, file count and size: see \"Which files make up a bundle\" in docs/ci.md")
    )]
    Walk(#[from] walk::WalkError),
    /// A file could not be read.
    #[error("cannot read `{}`", path.display())]
    #[diagnostic(code(charter::io))]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// A compiler over one bundle, incremental across edits.
pub struct Compiler {
    db: CharterDatabase,
    bundle: BundleInput,
    files: BTreeMap<String, SourceFile>,
    root: Option<PathBuf>,
    /// Warnings of the walk that loaded the bundle (links and special files skipped).
    load_diags: Vec<Diagnostic>,
}

impl Compiler {
    /// A compiler over texts: the manifest (`None` when there is none) and the
    /// `.charter` files as `(path, text)`.
    pub fn from_sources(
        manifest: Option<&str>,
        files: impl IntoIterator<Item = (String, String)>,
    ) -> Self {
        Self::with_db(CharterDatabase::default(), manifest, files)
    }

    /// Like [`Compiler::from_sources`] over a given database (one with an execution log, say).
    pub fn with_db(
        db: CharterDatabase,
        manifest: Option<&str>,
        files: impl IntoIterator<Item = (String, String)>,
    ) -> Self {
        let prelude = SourceFile::new(
            &db,
            db::PRELUDE_PATH.to_string(),
            db::PRELUDE_TEXT.to_string(),
        );
        let manifest_text = manifest.unwrap_or("").to_string();
        let manifest_file = SourceFile::new(&db, db::MANIFEST_PATH.to_string(), manifest_text);
        let mut map = BTreeMap::new();
        for (path, text) in files {
            let f = SourceFile::new(&db, path.clone(), text);
            map.insert(path, f);
        }
        let mut list = vec![prelude, manifest_file];
        list.extend(map.values().copied());
        let bundle = BundleInput::new(&db, list);
        Compiler {
            db,
            bundle,
            files: map,
            root: None,
            load_diags: Vec::new(),
        }
    }

    /// Loads the bundle in `dir`: `charter.toml` and every `.charter` file below it, through
    /// the bundle walk ([`walk`]): regular files only, links and special files skipped with a
    /// `CH0005` warning, within [`walk::Limits::default`].
    pub fn load_dir(dir: &Path) -> Result<Self, LoadError> {
        Self::load_dir_with(dir, &walk::Limits::default())
    }

    /// Like [`Compiler::load_dir`] with other limits.
    pub fn load_dir_with(dir: &Path, limits: &walk::Limits) -> Result<Self, LoadError> {
        let manifest_path = dir.join(db::MANIFEST_PATH);
        // `symlink_metadata`: a link named charter.toml is refused by the read below, with
        // its own message, rather than reported as a missing manifest.
        if std::fs::symlink_metadata(&manifest_path).is_err() {
            return Err(LoadError::NotABundle {
                path: dir.to_path_buf(),
            });
        }
        let loaded = walk::load(dir, limits)?;
        let mut c = Self::from_sources(Some(&loaded.manifest), loaded.files);
        c.root = Some(dir.to_path_buf());
        c.load_diags = loaded
            .skipped
            .iter()
            .map(|s| {
                Diagnostic::new(
                    Code::SkippedFile,
                    FileId::MANIFEST,
                    syntax::ast::Span::new(0, 0),
                    format!("skipped `{}`: it is {}", s.rel, s.kind.describe()),
                )
                .with_label("in the bundle loaded from this manifest's folder")
                .with_help(match s.kind {
                    walk::SkipKind::Symlink => {
                        "Charter never follows symbolic links in a bundle; copy the file or folder into the bundle instead"
                    }
                    _ => "Charter reads regular files only; remove it or rename it so it does not end in `.charter`",
                })
            })
            .collect();
        Ok(c)
    }

    /// The folder the bundle was loaded from.
    pub fn root(&self) -> Option<&Path> {
        self.root.as_deref()
    }

    /// Sets the text of a `.charter` file, adding it when new. Incremental: only
    /// queries that depend on what changed run again.
    pub fn set_file(&mut self, path: &str, text: String) {
        if let Some(f) = self.files.get(path).copied() {
            if f.text(&self.db) != &text {
                f.set_text(&mut self.db).to(text);
            }
            return;
        }
        let f = SourceFile::new(&self.db, path.to_string(), text);
        self.files.insert(path.to_string(), f);
        self.refresh_list();
    }

    /// Sets the text of `charter.toml`.
    pub fn set_manifest(&mut self, text: String) {
        if let Some(f) = self.bundle.files(&self.db).get(1).copied() {
            f.set_text(&mut self.db).to(text);
        }
    }

    /// Removes a `.charter` file.
    pub fn remove_file(&mut self, path: &str) {
        if self.files.remove(path).is_some() {
            self.refresh_list();
        }
    }

    fn refresh_list(&mut self) {
        let head: Vec<SourceFile> = self
            .bundle
            .files(&self.db)
            .iter()
            .take(2)
            .copied()
            .collect();
        let mut list = head;
        list.extend(self.files.values().copied());
        self.bundle.set_files(&mut self.db).to(list);
    }

    /// The salsa database, for the language server.
    pub fn db(&self) -> &CharterDatabase {
        &self.db
    }

    /// The salsa database, mutably.
    pub fn db_mut(&mut self) -> &mut CharterDatabase {
        &mut self.db
    }

    /// The bundle input.
    pub fn bundle(&self) -> BundleInput {
        self.bundle
    }

    /// The source file at `path`, if the bundle has it.
    pub fn file(&self, path: &str) -> Option<SourceFile> {
        self.files.get(path).copied()
    }

    /// Every file (prelude, manifest, `.charter` files), indexed by `FileId`.
    pub fn sources(&self) -> Vec<SourceText> {
        self.bundle
            .files(&self.db)
            .iter()
            .map(|f| SourceText::new(f.path(&self.db).clone(), f.text(&self.db).as_str()))
            .collect()
    }

    /// The manifest as parsed.
    pub fn manifest(&self) -> &manifest::Manifest {
        &db::manifest(&self.db, self.bundle).0
    }

    /// All diagnostics, lint levels applied, sorted by file and position.
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        let mut out = db::bundle_diagnostics(&self.db, self.bundle).clone();
        if !self.load_diags.is_empty() {
            out.extend(db::apply_levels(self.manifest(), &self.load_diags));
            out.sort_by_key(|d| (d.file, d.span.start, d.code));
        }
        out
    }

    /// The warnings of the walk that loaded the bundle from disk, before lint levels.
    pub fn load_diagnostics(&self) -> &[Diagnostic] {
        &self.load_diags
    }

    /// The semantic model.
    pub fn model(&self) -> &sema::model::Model {
        db::bundle_model(&self.db, self.bundle)
    }

    /// Builds the bundle: its diagnostics must have no error, and the Cedar it
    /// compiles to must pass Cedar's strict validator (a failure there is a
    /// compiler bug, reported as `CH0900`). Returns the artifact and the warnings.
    pub fn build(&self) -> Result<(CompiledBundle, Vec<Diagnostic>), Vec<Diagnostic>> {
        let diags = self.diagnostics();
        if db::has_errors(&diags) {
            return Err(diags);
        }
        let lower_files = db::lower_files(&self.db, self.bundle);
        let bundle = lower::lower(self.manifest(), self.model(), &lower_files);
        let mut errors = unknown_rule_ids(&bundle, &lower_files);
        for (policy, msg) in validate_policies(&bundle) {
            // Point at the rule that produced the policy, so the report has a place.
            let (file, span) = policy
                .and_then(|id| bundle.policies.iter().find(|p| p.id == id))
                .and_then(|p| locate(&lower_files, &p.source))
                .unwrap_or((FileId::PRELUDE, syntax::ast::Span::default()));
            errors.push(
                Diagnostic::new(Code::Internal, file, span, msg)
                    .with_label("this rule compiles to Cedar that Cedar rejects")
                    .with_help(
                        "this is a bug in Charter's compiler; please report it with the bundle",
                    ),
            );
        }
        if !errors.is_empty() {
            let mut out = diags;
            out.extend(errors);
            return Err(out);
        }
        Ok((bundle, diags))
    }
}

/// Runs Cedar's own checks over a compiled bundle: the schema parses, every policy
/// parses and passes the strict validator, and the entities conform to the schema.
/// Returns the problems, one message each; empty when Cedar accepts everything.
pub fn validate(bundle: &CompiledBundle) -> Vec<String> {
    validate_policies(bundle)
        .into_iter()
        .map(|(_, m)| m)
        .collect()
}

/// The byte span of a line and column of a file: from there to the next whitespace.
fn locate(
    files: &[lower::LowerFile<'_>],
    at: &lower::SourceLoc,
) -> Option<(FileId, syntax::ast::Span)> {
    let f = files.iter().find(|f| f.path == at.file)?;
    let start = f.index.offset(diagnostics::LineCol {
        line: at.line,
        column: at.column,
    })?;
    let end = f
        .text
        .get(start..)?
        .find(char::is_whitespace)
        .map_or(f.text.len(), |n| start + n);
    Some((f.id, syntax::ast::Span::new(start, end)))
}

/// `because "<id>"` in tests must name a policy the bundle compiles to.
fn unknown_rule_ids(bundle: &CompiledBundle, files: &[lower::LowerFile<'_>]) -> Vec<Diagnostic> {
    use syntax::ast::{Expect, ItemKind, RuleRef};
    let mut out = Vec::new();
    for f in files {
        for item in f.items {
            let ItemKind::Test(t) = &item.kind else {
                continue;
            };
            for e in &t.expects {
                let Expect::Decision(d) = e else { continue };
                let Some(RuleRef::Id(id)) = &d.because else {
                    continue;
                };
                if bundle.policies.iter().any(|p| p.id == id.value) {
                    continue;
                }
                let ids = bundle.policies.iter().map(|p| p.id.as_str());
                let mut diag = Diagnostic::new(
                    Code::UnknownName,
                    f.id,
                    id.span,
                    format!("no rule has the id `{}`", id.value),
                )
                .with_label("unknown rule id");
                diag = match sema::check::suggest(&id.value, ids) {
                    Some(s) => diag.with_help(format!("did you mean `{s}`?")),
                    None => diag.with_help("rule ids look like `scenario/<name>/use/1`, `exit/<name>` or `grade/<grade>`; `charter build` lists them in policies.cedar"),
                };
                out.push(diag);
            }
        }
    }
    out
}

/// Like [`validate`], with the id of the policy each problem is about, where known.
fn validate_policies(bundle: &CompiledBundle) -> Vec<(Option<String>, String)> {
    use cedar_policy::{Entities, Policy, PolicyId, PolicySet, Schema, ValidationMode, Validator};
    let mut problems = Vec::new();
    let schema = match Schema::from_json_value(bundle.schema.clone()) {
        Ok(s) => s,
        Err(e) => return vec![(None, format!("the generated schema is invalid: {e}"))],
    };
    let mut decisions = PolicySet::new();
    let mut notices = PolicySet::new();
    for p in &bundle.policies {
        match Policy::parse(Some(PolicyId::new(&p.id)), &p.cedar) {
            Ok(policy) => {
                let set = if p.kind == PolicyKind::Notice {
                    &mut notices
                } else {
                    &mut decisions
                };
                if let Err(e) = set.add(policy) {
                    problems.push((
                        Some(p.id.clone()),
                        format!("policy `{}` ({}) cannot be added: {e}", p.id, p.source),
                    ));
                }
            }
            Err(e) => problems.push((
                Some(p.id.clone()),
                format!("policy `{}` ({}) does not parse: {e}", p.id, p.source),
            )),
        }
    }
    let validator = Validator::new(schema.clone());
    for set in [&decisions, &notices] {
        let result = validator.validate(set, ValidationMode::Strict);
        for e in result.validation_errors() {
            let id = e.policy_id().to_string();
            let source = bundle
                .policies
                .iter()
                .find(|p| p.id == id)
                .map(|p| p.source.to_string())
                .unwrap_or_default();
            problems.push((
                Some(id.clone()),
                format!("policy `{id}` ({source}) fails Cedar validation: {e}"),
            ));
        }
    }
    if let Err(e) = Entities::from_json_value(bundle.entities.clone(), Some(&schema)) {
        problems.push((
            None,
            format!("the catalog entities do not conform to the schema: {e}"),
        ));
    }
    problems
}

/// Policies longer than this are written as the compiler lowered them, not through
/// `cedar-policy-formatter`, whose time grows faster than linearly with a policy's length
/// (a scope over one dataset's 20,000 fields took 26 s). The lowered text is valid Cedar,
/// one clause a line; only the wrapping of long lists differs.
pub const FORMAT_CEDAR_MAX_BYTES: usize = 16 * 1024;

/// Formats one policy's Cedar text like [`format_cedar`], unless it is longer than
/// [`FORMAT_CEDAR_MAX_BYTES`]: then the text as lowered.
pub fn format_cedar_policy(text: &str) -> String {
    if text.len() > FORMAT_CEDAR_MAX_BYTES {
        return text.to_string();
    }
    format_cedar(text)
}

/// Formats Cedar policy text with `cedar-policy-formatter`; the text unchanged if it
/// cannot be formatted.
pub fn format_cedar(text: &str) -> String {
    let config = cedar_policy_formatter::Config {
        line_width: 100,
        indent_width: 2,
    };
    cedar_policy_formatter::policies_str_to_pretty(text, &config)
        .unwrap_or_else(|_| text.to_string())
}

/// The files `charter build` writes, as `(file name, contents)`.
pub fn build_outputs(bundle: &CompiledBundle) -> Result<Vec<(&'static str, String)>, String> {
    let json = serde_json::to_string_pretty(bundle)
        .map_err(|e| format!("cannot serialize bundle.json: {e}"))?;
    let header = format!(
        "// {} {} — compiled by Charter from the bundle's .charter files; do not edit.\n// {}\n\n",
        bundle.manifest.name, bundle.manifest.version, bundle.manifest.hash
    );
    // Format policy by policy: the formatter is far slower than linear on one large text,
    // and a city's bundle has thousands of policies.
    let mut policies = header;
    for p in bundle
        .policies
        .iter()
        .filter(|p| p.kind != PolicyKind::Notice)
    {
        policies.push_str(format_cedar_policy(&p.annotated_cedar()).trim_end());
        policies.push_str("\n\n");
    }
    let schema = cedar_policy::SchemaFragment::from_json_value(bundle.schema.clone())
        .map_err(|e| format!("invalid schema: {e}"))?
        .to_cedarschema()
        .map_err(|e| format!("cannot print the schema: {e}"))?;
    let entities = serde_json::to_string_pretty(&bundle.entities)
        .map_err(|e| format!("cannot serialize entities: {e}"))?;
    Ok(vec![
        ("bundle.json", json),
        ("policies.cedar", policies),
        ("schema.cedarschema", schema),
        ("entities.json", entities),
    ])
}
