//! Rollback: the bundle that served before, kept as the immutable snapshot it was, so
//! going back needs no recompile and cannot fail to build.
//!
//! [`Engine::history`] starts keeping the previous bundle: every reload that swaps in a
//! new one (a watch, [`Engine::reload`], [`Engine::swap`], or a rollback itself) makes the
//! one it replaced the previous. [`History::rollback`] swaps that one back in, atomically,
//! the way a reload does; rolling back twice returns to where it started.

use std::sync::{Arc, Mutex, Weak};

use crate::snapshot::Snapshot;
use crate::types::BundleRef;
use crate::{Engine, Inner, ReloadEvent};

/// A bundle that served, held as it was loaded.
#[derive(Clone)]
pub struct Pinned(Arc<Snapshot>);

impl Pinned {
    /// Which bundle it is.
    pub fn bundle(&self) -> &BundleRef {
        &self.0.bundle
    }
}

impl std::fmt::Debug for Pinned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Pinned({} {})",
            self.0.bundle.version, self.0.bundle.hash
        )
    }
}

struct State {
    current: Pinned,
    previous: Option<Pinned>,
}

/// The bundle serving and the one before it; see [`Engine::history`].
#[derive(Clone)]
pub struct History {
    state: Arc<Mutex<State>>,
    engine: Weak<Inner>,
}

impl std::fmt::Debug for History {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "History(previous: {:?})", self.previous())
    }
}

/// Rollback failed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum RollbackError {
    /// No bundle has been replaced since the history started.
    #[error("no bundle served before this one")]
    #[diagnostic(code(charter::runtime::no_previous))]
    NoPrevious,
    /// The engine is gone.
    #[error("the engine has been dropped")]
    #[diagnostic(code(charter::runtime::dropped))]
    Dropped,
}

impl History {
    /// The bundle a rollback would restore.
    pub fn previous(&self) -> Option<BundleRef> {
        self.state
            .lock()
            .ok()
            .and_then(|s| s.previous.as_ref().map(|p| p.bundle().clone()))
    }

    /// Swaps the previous bundle back in. The one serving becomes the previous.
    pub fn rollback(&self) -> Result<ReloadEvent, RollbackError> {
        let inner = self.engine.upgrade().ok_or(RollbackError::Dropped)?;
        // One swap at a time, as reloads do; decisions never wait on this.
        let _guard = inner.reloading.lock();
        let target = self
            .state
            .lock()
            .ok()
            .and_then(|s| s.previous.clone())
            .ok_or(RollbackError::NoPrevious)?;
        Ok(restore(&inner, &target))
    }
}

/// Swaps `to` in and reports it as a reload, so the callbacks (and this history) see it.
fn restore(inner: &Inner, to: &Pinned) -> ReloadEvent {
    let event = if inner.current.load().bundle.hash == to.0.bundle.hash {
        ReloadEvent::Unchanged {
            hash: to.0.bundle.hash.clone(),
        }
    } else {
        inner.current.store(to.0.clone());
        if let Ok(mut c) = inner.counters.lock() {
            c.loaded_at = crate::now_secs();
            c.reloads += 1;
            c.last_error = None;
        }
        tracing::info!(version = %to.0.bundle.version, hash = %to.0.bundle.hash, "charter: rolled back");
        ReloadEvent::Reloaded {
            version: to.0.bundle.version.clone(),
            hash: to.0.bundle.hash.clone(),
        }
    };
    inner.notify(&event);
    event
}

impl Engine {
    /// The bundle serving now, pinned.
    pub fn pin(&self) -> Pinned {
        Pinned(self.inner.current.load_full())
    }

    /// Starts keeping the bundle that served before each reload, for
    /// [`History::rollback`]. Call it once, before reloads start.
    pub fn history(&self) -> History {
        let state = Arc::new(Mutex::new(State {
            current: self.pin(),
            previous: None,
        }));
        let engine = Arc::downgrade(&self.inner);
        let history = History {
            state: state.clone(),
            engine: engine.clone(),
        };
        // The callback holds the engine weakly: the engine owns its callbacks.
        self.on_reload(move |event| {
            if !matches!(event, ReloadEvent::Reloaded { .. }) {
                return;
            }
            let Some(inner) = engine.upgrade() else {
                return;
            };
            let now = Pinned(inner.current.load_full());
            if let Ok(mut s) = state.lock() {
                if s.current.0.bundle.hash != now.0.bundle.hash {
                    let before = std::mem::replace(&mut s.current, now);
                    s.previous = Some(before);
                }
            }
        });
        history
    }
}
