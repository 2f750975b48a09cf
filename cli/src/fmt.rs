//! `charter fmt`: format `.charter` files in place, or check that they are formatted.
//!
//! Exit codes: 0 every file is formatted (or was formatted now); 1 `--check` or `--diff`
//! found a file that would change, or a file has syntax errors (it is left as it is);
//! 2 a path that cannot be read or written.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use charter_compiler::format::format_source;

/// What `charter fmt` does with the files.
pub struct FmtArgs {
    /// Files and folders, or `-` for standard input.
    pub paths: Vec<PathBuf>,
    /// Only report the files that would change.
    pub check: bool,
    /// Only show the changes as a unified diff.
    pub diff: bool,
}

/// `charter fmt`.
pub fn fmt(args: &FmtArgs) -> u8 {
    if args.paths.iter().any(|p| p.as_os_str() == "-") {
        if args.paths.len() > 1 {
            eprintln!("error: `-` (standard input) cannot be combined with paths");
            return 2;
        }
        return stdin();
    }
    let mut files = Vec::new();
    for path in &args.paths {
        if !path.exists() {
            eprintln!("error: `{}` does not exist", path.display());
            return 2;
        }
        if let Err(e) = collect(path, &mut files) {
            eprintln!("error: {e}");
            return 2;
        }
    }
    let mut changed = 0usize;
    let mut broken = 0usize;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for path in &files {
        let shown = path.display().to_string();
        // A file named on the command line is read as named; one the walk found is read as
        // the walk does: if it became a link or a FIFO since, it is refused, not followed
        // or waited on.
        let read = if args.paths.contains(path) {
            std::fs::read_to_string(path).map_err(|e| e.to_string())
        } else {
            charter_compiler::walk::read_regular(path, charter_compiler::walk::MAX_FILE_BYTES)
                .map_err(|e| e.to_string())
        };
        let text = match read {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: cannot read `{shown}`: {e}");
                return 2;
            }
        };
        let formatted = match format_source(&shown, &text) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("{:?}", miette::Report::new(e));
                broken += 1;
                continue;
            }
        };
        if formatted == text {
            continue;
        }
        changed += 1;
        if args.diff {
            let diff = similar::TextDiff::from_lines(&text, &formatted);
            let a = format!("a/{shown}");
            let b = format!("b/{shown}");
            let _ = write!(
                out,
                "{}",
                diff.unified_diff().context_radius(3).header(&a, &b)
            );
        } else if args.check {
            let _ = writeln!(out, "{shown}");
        } else if let Err(e) = std::fs::write(path, &formatted) {
            eprintln!("error: cannot write `{shown}`: {e}");
            return 2;
        }
    }
    let dry = args.check || args.diff;
    let verb = if dry { "would reformat" } else { "reformatted" };
    eprintln!(
        "{verb} {changed} of {} file(s){}",
        files.len(),
        if broken > 0 {
            format!("; {broken} with syntax errors left as they are")
        } else {
            String::new()
        }
    );
    if broken > 0 || (dry && changed > 0) {
        1
    } else {
        0
    }
}

/// `charter fmt -`: standard input to standard output, for editors.
fn stdin() -> u8 {
    let mut text = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut text) {
        eprintln!("error: cannot read standard input: {e}");
        return 2;
    }
    match format_source("<stdin>", &text) {
        Ok(f) => {
            print!("{f}");
            0
        }
        Err(e) => {
            eprintln!("{:?}", miette::Report::new(e));
            print!("{text}");
            1
        }
    }
}

/// The `.charter` files at `path`: the file itself, or every one below a folder, listed by
/// the compiler's bundle walk (hidden folders, `target` and `node_modules` skipped; links and
/// special files skipped with a warning and never opened), in path order.
fn collect(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    if path.is_file() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let listing = charter_compiler::walk::list(path, &charter_compiler::walk::Limits::default())
        .map_err(|e| e.to_string())?;
    for s in &listing.skipped {
        eprintln!(
            "warning: skipped `{}`: it is {}",
            path.join(&s.rel).display(),
            s.kind.describe()
        );
    }
    out.extend(listing.files.into_iter().map(|e| e.path));
    Ok(())
}
