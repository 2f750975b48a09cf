//! Files on disk: where bundles are, which `.charter` files they hold, and the prelude
//! written out so editors can open it from go-to-definition.

use std::path::{Path, PathBuf};

use charter_compiler::db::{MANIFEST_PATH, PRELUDE_TEXT};
use tower_lsp_server::ls_types::Uri;

/// Folders never searched for bundles or `.charter` files.
fn skipped(name: &str) -> bool {
    charter_compiler::walk::ignored_name(name)
}

/// The nearest folder at or above `path`'s folder that holds a `charter.toml`.
pub fn bundle_root_of(path: &Path) -> Option<PathBuf> {
    path.parent()?
        .ancestors()
        .find(|dir| dir.join(MANIFEST_PATH).is_file())
        .map(Path::to_path_buf)
}

/// The bundles (folders with a `charter.toml`) at or below `root`, at most `depth`
/// folders down.
pub fn find_bundles(root: &Path, depth: usize) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if root.join(MANIFEST_PATH).is_file() {
        out.push(root.to_path_buf());
    }
    if depth == 0 {
        return out;
    }
    let Ok(entries) = std::fs::read_dir(root) else {
        return out;
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| !skipped(&e.file_name().to_string_lossy()))
        .map(|e| e.path())
        .collect();
    dirs.sort();
    for d in dirs {
        out.extend(find_bundles(&d, depth - 1));
    }
    out
}

/// The `.charter` files below `root`, as `(bundle-relative path, absolute path)`, listed by
/// the compiler's bundle walk (the one `load_dir` uses: regular files only, no links
/// followed). A walk that fails (a limit passed) lists nothing; loading the bundle reports why.
pub fn charter_files(root: &Path) -> Vec<(String, PathBuf)> {
    charter_compiler::walk::list(root, &charter_compiler::walk::Limits::default())
        .map(|l| l.files.into_iter().map(|e| (e.rel, e.path)).collect())
        .unwrap_or_default()
}

/// Reads a bundle file the way the bundle walk does: a regular file only (never through a
/// link, never waiting on a FIFO), within the walk's size limit.
pub fn read_regular(path: &Path) -> Result<String, charter_compiler::walk::WalkError> {
    charter_compiler::walk::read_regular(path, charter_compiler::walk::MAX_FILE_BYTES)
}

/// `path` relative to `root` with `/` separators, as the compiler names files.
pub fn relative(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// Writes the prelude to a cache folder, read-only, and returns its path: go to
/// definition on `verify` opens it like any file, in any editor.
pub fn write_prelude() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    let dir = base.join("charter");
    let path = dir.join(format!("prelude-{}.charter", env!("CARGO_PKG_VERSION")));
    if std::fs::read_to_string(&path).ok().as_deref() == Some(PRELUDE_TEXT) {
        return path;
    }
    let written = std::fs::create_dir_all(&dir).and_then(|()| {
        if let Ok(meta) = std::fs::metadata(&path) {
            let mut perms = meta.permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            perms.set_readonly(false);
            std::fs::set_permissions(&path, perms)?;
        }
        std::fs::write(&path, PRELUDE_TEXT)?;
        let mut perms = std::fs::metadata(&path)?.permissions();
        perms.set_readonly(true);
        std::fs::set_permissions(&path, perms)
    });
    if let Err(e) = written {
        eprintln!(
            "charter lsp: cannot write the prelude to {}: {e}",
            path.display()
        );
    }
    path
}

/// The path of a `file:` URI.
pub fn path_of(uri: &Uri) -> Option<PathBuf> {
    uri.to_file_path().map(|p| p.into_owned())
}

/// The `file:` URI of a path.
pub fn uri_of(path: &Path) -> Option<Uri> {
    Uri::from_file_path(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_use_slashes() {
        assert_eq!(
            relative(Path::new("/b"), Path::new("/b/scenarios/a.charter")).as_deref(),
            Some("scenarios/a.charter")
        );
        assert_eq!(relative(Path::new("/b"), Path::new("/c/a.charter")), None);
    }

    #[test]
    fn uris_round_trip_through_chinese_paths() {
        let p = PathBuf::from("/tmp/规则/场景.charter");
        let uri = uri_of(&p);
        assert_eq!(uri.as_ref().and_then(path_of), Some(p));
    }
}
