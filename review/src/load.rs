//! Reading one side of a review: a source folder (compiled here), a built bundle
//! directory or `bundle.json`, or a git revision of a folder (`main:policies`), whose
//! tree is written to a scratch folder and compiled.

use std::path::{Path, PathBuf};
use std::process::Command;

use charter_bundle::CompiledBundle;
use charter_compiler::{Compiler, Severity};
use charter_runtime::Source;

use crate::ReviewError;

/// One side of a review, read and compiled.
#[derive(Clone, Debug)]
pub struct Side {
    /// The side as the user wrote it (`main:policies`, `policies`, `dist/bundle.json`).
    pub spec: String,
    /// The bundle.
    pub bundle: CompiledBundle,
}

/// Reads `spec`: an existing path (a source folder, a folder holding `bundle.json`, or a
/// `bundle.json`), else `REV:PATH`, a folder at a git revision of the repository that
/// holds the current directory.
pub fn load_side(spec: &str) -> Result<Side, ReviewError> {
    let path = Path::new(spec);
    let bundle = if path.exists() {
        match charter_runtime::source_of(path) {
            Source::Dir(dir) => compile(spec, &dir)?,
            Source::BundleFile(file) => {
                charter_runtime::read_bundle_file(&file).map_err(|e| ReviewError::Read {
                    spec: spec.to_string(),
                    message: error_chain(&e),
                })?
            }
        }
    } else if let Some((rev, folder)) = spec.split_once(':') {
        let scratch = git_tree(spec, rev, folder)?;
        compile(spec, scratch.path())?
    } else {
        return Err(ReviewError::Read {
            spec: spec.to_string(),
            message: "no such file or folder, and not a git revision `REV:PATH`".to_string(),
        });
    };
    Ok(Side {
        spec: spec.to_string(),
        bundle,
    })
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Compiles a source folder; a failure carries every error diagnostic, one a line.
fn compile(spec: &str, dir: &Path) -> Result<CompiledBundle, ReviewError> {
    let compiler = Compiler::load_dir(dir).map_err(|e| ReviewError::Read {
        spec: spec.to_string(),
        message: error_chain(&e),
    })?;
    match compiler.build() {
        Ok((bundle, _warnings)) => Ok(bundle),
        Err(diags) => {
            let files = compiler.sources();
            let diagnostics = diags
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .map(|d| {
                    let j = d.to_json(&files);
                    format!("{}:{}: error[{}]: {}", j.file, j.line, j.code, j.message)
                })
                .collect();
            Err(ReviewError::Compile {
                spec: spec.to_string(),
                diagnostics,
            })
        }
    }
}

fn git(spec: &str, args: &[&str]) -> Result<Vec<u8>, ReviewError> {
    let out = Command::new("git")
        .args(args)
        .output()
        .map_err(|e| ReviewError::Git {
            spec: spec.to_string(),
            message: format!("cannot run `git`: {e}"),
        })?;
    if !out.status.success() {
        return Err(ReviewError::Git {
            spec: spec.to_string(),
            message: format!(
                "`git {}` failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(out.stdout)
}

/// Writes the tree `rev:folder` to a scratch folder, file by file (`git ls-tree` and
/// `git cat-file`), so nothing but git is needed.
fn git_tree(spec: &str, rev: &str, folder: &str) -> Result<tempfile::TempDir, ReviewError> {
    let treeish = format!("{rev}:{folder}");
    let listing = git(spec, &["ls-tree", "-r", "-z", &treeish])?;
    let scratch = tempfile::tempdir().map_err(|e| ReviewError::Git {
        spec: spec.to_string(),
        message: format!("cannot make a scratch folder: {e}"),
    })?;
    for entry in listing.split(|b| *b == 0).filter(|e| !e.is_empty()) {
        let entry = String::from_utf8_lossy(entry);
        // `<mode> SP <type> SP <object> TAB <path>`
        let Some((meta, file)) = entry.split_once('\t') else {
            continue;
        };
        let mut parts = meta.split(' ');
        let (Some(mode), Some(kind), Some(object)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        // Links and submodules are not part of a bundle's text.
        if kind != "blob" || mode == "120000" {
            continue;
        }
        if file.split('/').any(|s| s == ".." || s.is_empty()) {
            continue;
        }
        let bytes = git(spec, &["cat-file", "blob", object])?;
        let target: PathBuf = file
            .split('/')
            .fold(scratch.path().to_path_buf(), |p, s| p.join(s));
        let written = target
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&target, bytes));
        written.map_err(|e| ReviewError::Git {
            spec: spec.to_string(),
            message: format!("cannot write `{file}` to a scratch folder: {e}"),
        })?;
    }
    Ok(scratch)
}
