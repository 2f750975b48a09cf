//! `charter check` and `charter build`: load a bundle, report its diagnostics, write the artifacts.

use std::io::Write;
use std::path::Path;

use charter_compiler::diagnostics::DiagnosticJson;
use charter_compiler::{Compiler, Diagnostic, LoadError, Severity, SourceText};
use serde::Serialize;

use crate::annotate::CheckFormat;
use crate::Format;

#[derive(Serialize)]
struct Report<'a> {
    bundle: &'a str,
    version: &'a str,
    errors: usize,
    warnings: usize,
    infos: usize,
    diagnostics: Vec<DiagnosticJson>,
}

fn load(dir: &Path) -> Result<Compiler, u8> {
    Compiler::load_dir(dir).map_err(|e| {
        eprintln!("{:?}", miette::Report::new(e));
        2
    })
}

/// What `charter check` reports on the bundle in `dir`: the whole build, Cedar validation
/// included, so that a bundle that checks clean is a bundle that builds.
pub(crate) fn diagnose(dir: &Path) -> Result<(Compiler, Vec<Diagnostic>), LoadError> {
    let c = Compiler::load_dir(dir)?;
    let diags = match c.build() {
        Ok((_, warnings)) => warnings,
        Err(diags) => diags,
    };
    Ok((c, diags))
}

/// The document `--format json` prints.
pub(crate) fn json_report(c: &Compiler, diags: &[Diagnostic]) -> serde_json::Result<String> {
    let sources = c.sources();
    let (errors, warnings, infos) = counts(diags);
    let m = c.manifest();
    serde_json::to_string_pretty(&Report {
        bundle: &m.name,
        version: &m.version,
        errors,
        warnings,
        infos,
        diagnostics: diags.iter().map(|d| d.to_json(&sources)).collect(),
    })
}

/// Writes what the human format prints: each diagnostic as `render` draws it (miette's
/// installed handler for the terminal, a fixed one for the generated docs), then the
/// summary line.
pub(crate) fn write_human(
    out: &mut dyn Write,
    c: &Compiler,
    diags: &[Diagnostic],
    render: &dyn Fn(miette::Report) -> String,
) -> std::io::Result<()> {
    let sources: Vec<SourceText> = c.sources();
    let (errors, warnings, infos) = counts(diags);
    for d in diags.iter().take(FULL_REPORTS) {
        writeln!(out, "{}", render(d.to_report(&sources)))?;
    }
    // Past a few hundred, a full report each (source excerpt, labels, help) no
    // longer helps a reader and costs seconds: like clang's error limit, but
    // nothing is dropped; each further diagnostic gets one line.
    if diags.len() > FULL_REPORTS {
        writeln!(
            out,
            "{} more diagnostics, one line each (`--format json` gives every detail):",
            diags.len() - FULL_REPORTS
        )?;
        for d in diags.iter().skip(FULL_REPORTS) {
            let j = d.to_json(&sources);
            writeln!(
                out,
                "{}:{}:{}: {} {} {}",
                j.file, j.line, j.column, j.severity, j.code, j.message
            )?;
        }
    }
    let files = sources.len().saturating_sub(2);
    writeln!(
        out,
        "checked {} ({} files): {errors} error(s), {warnings} warning(s), {infos} info",
        c.manifest().name,
        files
    )
}

fn counts(diags: &[Diagnostic]) -> (usize, usize, usize) {
    let n = |s| diags.iter().filter(|d| d.severity == s).count();
    (n(Severity::Error), n(Severity::Warning), n(Severity::Info))
}

/// How many diagnostics `charter check` renders in full in human output; the rest get
/// one line each.
const FULL_REPORTS: usize = 200;

/// Prints diagnostics in the chosen format.
fn print(c: &Compiler, diags: &[Diagnostic], format: Format) {
    match format {
        Format::Json => match json_report(c, diags) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("error: cannot print the report: {e}"),
        },
        Format::Human => {
            // Standard error is unbuffered and miette writes a report in many small
            // pieces: tens of thousands of reports cost a system call per piece unless
            // they go through one buffer.
            let mut err = std::io::BufWriter::new(std::io::stderr().lock());
            // A closed stderr is not worth failing the check for, hence `let _`.
            let _ = write_human(&mut err, c, diags, &|r| format!("{r:?}"));
            let _ = err.flush();
        }
    }
}

/// `charter check DIR`.
pub fn check(dir: &Path, format: CheckFormat, deny_warnings: bool) -> u8 {
    let (c, diags) = match diagnose(dir) {
        Ok(ok) => ok,
        Err(e) => {
            eprintln!("{:?}", miette::Report::new(e));
            return 2;
        }
    };
    let (errors, warnings, infos) = counts(&diags);
    match format {
        CheckFormat::Human => print(&c, &diags, Format::Human),
        CheckFormat::Json => print(&c, &diags, Format::Json),
        CheckFormat::Sarif => {
            let log = crate::annotate::sarif(dir, &c.sources(), &diags);
            match serde_json::to_string_pretty(&log) {
                Ok(s) => println!("{s}"),
                Err(e) => {
                    eprintln!("error: cannot print the SARIF log: {e}");
                    return 2;
                }
            }
        }
        CheckFormat::Github => {
            print!("{}", crate::annotate::github(dir, &c.sources(), &diags));
            eprintln!(
                "checked {}: {errors} error(s), {warnings} warning(s), {infos} info",
                c.manifest().name
            );
        }
    }
    if errors > 0 || (deny_warnings && warnings > 0) {
        1
    } else {
        0
    }
}

/// `charter build DIR --out OUT`.
pub fn build(dir: &Path, out: &Path, format: Format, sign: Option<&Path>) -> u8 {
    // The key first: a key that cannot be read fails before any work.
    let key = match sign.map(crate::log_cmd::read_private_key).transpose() {
        Ok(k) => k,
        Err(code) => return code,
    };
    let c = match load(dir) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let (bundle, warnings) = match c.build() {
        Ok(ok) => ok,
        Err(diags) => {
            print(&c, &diags, format);
            return 1;
        }
    };
    if !warnings.is_empty() {
        print(&c, &warnings, format);
    }
    let outputs = match charter_compiler::build_outputs(&bundle) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    if let Err(e) = std::fs::create_dir_all(out) {
        eprintln!("error: cannot create `{}`: {e}", out.display());
        return 2;
    }
    for (name, text) in outputs {
        let path = out.join(name);
        if let Err(e) = std::fs::write(&path, text) {
            eprintln!("error: cannot write `{}`: {e}", path.display());
            return 2;
        }
    }
    let sig_path = out.join(charter_sign::SIGNATURE_FILE);
    let signed = match &key {
        Some(key) => {
            let m = &bundle.manifest;
            match crate::sign_cmd::sign_built(dir, out, &m.name, &m.version, &m.hash, key) {
                Ok(sig) => Some(sig.key_id),
                Err(e) => {
                    eprintln!("error: {e}");
                    return 2;
                }
            }
        }
        None => {
            // A signature left by an earlier build would vouch for another bundle.
            if std::fs::symlink_metadata(&sig_path).is_ok() {
                if let Err(e) = std::fs::remove_file(&sig_path) {
                    eprintln!(
                        "error: cannot remove the stale `{}`: {e}",
                        sig_path.display()
                    );
                    return 2;
                }
            }
            None
        }
    };
    let decisions = bundle
        .policies
        .iter()
        .filter(|p| p.kind != charter_compiler::PolicyKind::Notice)
        .count();
    eprintln!(
        "built {} {} ({decisions} policies, {} notices) into {}\n{}",
        bundle.manifest.name,
        bundle.manifest.version,
        bundle.policies.len() - decisions,
        out.display(),
        bundle.manifest.hash
    );
    if let Some(id) = signed {
        eprintln!("signed by key {id} into {}", sig_path.display());
    }
    0
}
