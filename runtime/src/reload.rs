//! Hot reload: watch the bundle's source folder or `bundle.json` (debounced), rebuild the
//! whole bundle off the decision path, and swap it in atomically. A bundle that fails to
//! compile or validate never replaces the running one.

use std::path::{Path, PathBuf};
use std::sync::Weak;
use std::time::Duration;

use notify_debouncer_mini::notify::{RecommendedWatcher, RecursiveMode};
use notify_debouncer_mini::{new_debouncer, DebounceEventResult, Debouncer};

use crate::error::{EngineError, LoadError};
use crate::{Inner, Source};

/// The stack of the thread every load and compile runs on: the compiler recurses on
/// nested expressions, and a thread's default (2 MiB, 8 MiB for `main`) is too little
/// for hostile nesting that the parser's depth limit would otherwise have to catch.
pub const COMPILE_STACK: usize = 64 << 20;

/// Runs `load` (a compile, a read of `bundle.json`) on a fresh thread with a
/// [`COMPILE_STACK`] stack and catches a panic in it, so whatever the source holds, the
/// caller gets a `Result`: a failed load, never a dead process or watcher.
pub(crate) fn guarded<T: Send + 'static>(
    source: &Source,
    load: impl FnOnce() -> Result<T, LoadError> + Send + 'static,
) -> Result<T, LoadError> {
    let path = match source {
        Source::Dir(p) | Source::BundleFile(p) => p.clone(),
    };
    let crashed = |message: String| LoadError::Crashed {
        path: path.clone(),
        message,
    };
    let handle = std::thread::Builder::new()
        .name("charter-compile".into())
        .stack_size(COMPILE_STACK)
        .spawn(move || std::panic::catch_unwind(std::panic::AssertUnwindSafe(load)))
        .map_err(|e| crashed(format!("cannot start the compile thread: {e}")))?;
    match handle.join() {
        Ok(Ok(result)) => result,
        Ok(Err(panic)) | Err(panic) => Err(crashed(panic_message(panic.as_ref()))),
    }
}

/// The text of a panic's payload.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        format!("panicked: {s}")
    } else if let Some(s) = panic.downcast_ref::<String>() {
        format!("panicked: {s}")
    } else {
        "panicked".to_string()
    }
}

/// How long the watcher waits for writes to settle before rebuilding.
pub const DEBOUNCE: Duration = Duration::from_millis(150);

/// A running watch; dropping it stops watching.
pub struct Watcher {
    _debouncer: Debouncer<RecommendedWatcher>,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Watcher")
    }
}

/// Whether a changed path can change the bundle.
fn relevant(source: &Source, path: &Path) -> bool {
    match source {
        Source::Dir(_) => {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let hidden = path.components().any(|c| {
                let s = c.as_os_str().to_string_lossy();
                s == "target" || (s.starts_with('.') && s.len() > 1 && s != "..")
            });
            !hidden && (name.ends_with(".charter") || name == "charter.toml")
        }
        Source::BundleFile(file) => path.file_name() == file.file_name(),
    }
}

/// Path, modification time and length of every file that makes up the bundle, as the
/// compiler's bundle walk lists them (regular files only: a FIFO or a link is never opened
/// here or by the reload it triggers). A walk that fails fingerprints as its error, so the
/// reload runs and reports it.
type Fingerprint = Result<Vec<(PathBuf, Option<std::time::SystemTime>, u64)>, String>;

fn fingerprint(source: &Source) -> Fingerprint {
    let mut out = Vec::new();
    match source {
        Source::Dir(d) => {
            let manifest = d.join("charter.toml");
            if let Ok(meta) = std::fs::symlink_metadata(&manifest) {
                out.push((manifest, meta.modified().ok(), meta.len()));
            }
            #[cfg(feature = "compile")]
            {
                let listing =
                    charter_compiler::walk::list(d, &charter_compiler::walk::Limits::default())
                        .map_err(|e| e.to_string())?;
                out.extend(
                    listing
                        .files
                        .into_iter()
                        .map(|e| (e.path, e.modified, e.len)),
                );
            }
        }
        Source::BundleFile(f) => {
            if let Ok(meta) = std::fs::metadata(f) {
                out.push((f.clone(), meta.modified().ok(), meta.len()));
            }
        }
    }
    out.sort();
    Ok(out)
}

pub(crate) fn watch(inner: Weak<Inner>, source: Source) -> Result<Watcher, EngineError> {
    let (target, mode): (PathBuf, RecursiveMode) = match &source {
        Source::Dir(d) => (d.clone(), RecursiveMode::Recursive),
        // Editors and build tools replace a file by renaming over it: watch the folder.
        Source::BundleFile(f) => (
            f.parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from(".")),
            RecursiveMode::NonRecursive,
        ),
    };
    let err = |e: notify_debouncer_mini::notify::Error| EngineError::Watch {
        path: target.clone(),
        message: e.to_string(),
    };
    let src = source.clone();
    // inotify also reports reads, and every rebuild reads the files: without this
    // fingerprint each reload would trigger the next one forever.
    let mut last = fingerprint(&source);
    let mut debouncer = new_debouncer(DEBOUNCE, move |res: DebounceEventResult| {
        let Some(inner) = inner.upgrade() else { return };
        match res {
            Ok(events) => {
                if events.iter().any(|e| relevant(&src, &e.path)) {
                    let now = fingerprint(&src);
                    if now != last {
                        last = now;
                        inner.reload();
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "charter: the bundle watcher reported an error");
            }
        }
    })
    .map_err(err)?;
    debouncer.watcher().watch(&target, mode).map_err(err)?;
    Ok(Watcher {
        _debouncer: debouncer,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    /// A panic in a load is a failed load naming the panic, not a dead caller; the
    /// load runs with the large stack.
    #[test]
    fn a_panic_while_loading_is_a_failed_load() {
        let source = Source::Dir(PathBuf::from("x"));
        let r: Result<(), LoadError> = guarded(&source, || panic!("boom"));
        match r {
            Err(LoadError::Crashed { message, .. }) => assert!(message.contains("boom")),
            other => panic!("{other:?}"),
        }
        // Recursion far past a default 2 MiB thread stack.
        fn depth(n: u32) -> u32 {
            let pad = std::hint::black_box([0u8; 1024]);
            if n == 0 {
                u32::from(pad[0])
            } else {
                depth(n - 1) + u32::from(pad[1])
            }
        }
        let r = guarded(&source, || Ok(depth(16_000)));
        assert_eq!(r.unwrap(), 0);
    }
}
