//! The runtime: an embedded decision engine over compiled Charter bundles.
//!
//! [`Engine`] loads a `bundle.json` built by `charter build`, or compiles a source
//! folder, and answers [`Request`]s with [`Decision`]s: allow or deny per field, the
//! rules and articles behind the answer, an explanation for a deny no forbid explains,
//! the notices that ride along, and errors. It fails closed: any error is a deny.
//!
//! The decision path takes no lock: the bundle is an immutable snapshot behind an
//! [`arc_swap::ArcSwap`], indexed at load so a decision evaluates only the slice of
//! Cedar policies that can apply to it. Hot reload rebuilds a snapshot off the decision
//! path and swaps it in; a bundle that fails to build never replaces the running one.
//!
//! ```no_run
//! use charter_runtime::{Engine, Request};
//! let engine = Engine::load(std::path::Path::new("policies"))?;
//! engine.facts().load_file(std::path::Path::new("examples/requests/facts.json"))?;
//! let d = engine.decide(&Request {
//!     developer: "bank-001".into(),
//!     action: "privacy_compute".into(),
//!     dataset: "tax.enterprise_tax".into(),
//!     fields: vec!["total_tax_amount".into()],
//!     scenario: "普惠金融".into(),
//!     at: Some("2026-06-01T09:00:00+08:00".into()),
//!     ..Default::default()
//! });
//! println!("{}", d.decision.as_str());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

// Library code indexes and slices only through `get`: a bad index on input is an
// error to report, never a panic. Tests may index (a panic there is a failed test).
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::string_slice))]

mod bundle_file;
mod decide;
mod error;
mod facts;
pub mod history;
mod reload;
mod slices;
mod snapshot;
mod sweep;
pub mod time;
mod types;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use charter_bundle::CompiledBundle;
#[cfg(feature = "compile")]
use charter_compiler::{Compiler, Severity};
use charter_sign::keys::VerifyingKey;
use charter_sign::SignatureError;

pub use bundle_file::{content_hash, read_bundle_file};
pub use decide::{decision_id, Evaluation};
pub use error::{EngineError, LoadError};
pub use facts::{read_facts_file, FactStore, FactWriteError, Facts};
pub use reload::{Watcher, COMPILE_STACK, DEBOUNCE};
pub use slices::{SliceCacheStats, DEFAULT_SLICE_CACHE};
pub use types::*;

use snapshot::Snapshot;

/// Where the engine's bundle comes from, for reloads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A source folder holding `charter.toml`, compiled on load.
    Dir(PathBuf),
    /// A `bundle.json` built by `charter build`.
    BundleFile(PathBuf),
}

/// How an engine holds its bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineOptions {
    /// How many per-scenario policy sets stay parsed; see [`Engine::set_slice_cache`].
    pub slice_cache: usize,
    /// The public keys a bundle must be signed by. When there is one or more, only a
    /// built `bundle.json` with a `bundle.sig` beside it that one of them verifies is
    /// loaded, at start and on every reload; a source folder, an unsigned, tampered or
    /// unknown-signer bundle is refused (and on reload the running bundle keeps serving).
    pub verify_keys: Vec<VerifyingKey>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            slice_cache: DEFAULT_SLICE_CACHE,
            verify_keys: Vec::new(),
        }
    }
}

/// What a reload did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReloadEvent {
    /// A new bundle now serves.
    Reloaded {
        /// Its version.
        version: String,
        /// Its hash.
        hash: String,
    },
    /// The rebuilt bundle is the one already serving.
    Unchanged {
        /// Its hash.
        hash: String,
    },
    /// The rebuilt bundle failed; the running one keeps serving.
    Failed {
        /// Why, one line.
        error: String,
    },
}

/// The engine's state, for a status endpoint.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Status {
    /// The bundle serving.
    pub bundle: BundleRef,
    /// Decision policies in it.
    pub policies: usize,
    /// Notices in it.
    pub notices: usize,
    /// Scenarios.
    pub scenarios: usize,
    /// Datasets.
    pub datasets: usize,
    /// Developers in the fact store.
    pub developers: usize,
    /// Where the bundle comes from.
    pub source: Option<String>,
    /// When the serving bundle was loaded, seconds since the epoch.
    pub loaded_at: u64,
    /// Successful reloads that swapped in a new bundle.
    pub reloads: u64,
    /// Reloads that failed.
    pub failures: u64,
    /// The last reload's failure, cleared by the next success.
    pub last_error: Option<String>,
    /// The per-scenario policy sets of the bundle serving, parsed on demand.
    pub slice_cache: SliceCacheStats,
}

type Callback = Box<dyn Fn(&ReloadEvent) + Send + Sync>;

#[derive(Default)]
struct Counters {
    loaded_at: u64,
    reloads: u64,
    failures: u64,
    last_error: Option<String>,
}

pub(crate) struct Inner {
    current: ArcSwap<Snapshot>,
    facts: FactStore,
    source: Option<Source>,
    counters: Mutex<Counters>,
    callbacks: Mutex<Vec<Callback>>,
    /// Serializes reloads, never decisions.
    reloading: Mutex<()>,
    /// How many per-scenario policy sets a snapshot keeps parsed.
    slice_cache: AtomicUsize,
    /// The keys every bundle loaded must be signed by (none: signatures not checked).
    verify_keys: Arc<[VerifyingKey]>,
}

/// The decision engine. Cheap to clone and share across threads: clones share the
/// bundle, the fact store and the watcher's reloads.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.inner.current.load();
        write!(
            f,
            "Engine({} {} {})",
            s.bundle.name, s.bundle.version, s.bundle.hash
        )
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Compiles a source folder into a bundle.
#[cfg(feature = "compile")]
pub fn compile_dir(dir: &Path) -> Result<CompiledBundle, LoadError> {
    let compiler = Compiler::load_dir(dir)?;
    match compiler.build() {
        Ok((bundle, _warnings)) => Ok(bundle),
        Err(diags) => {
            let files = compiler.sources();
            let errors: Vec<_> = diags
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .collect();
            let first = errors
                .first()
                .map(|d| {
                    let j = d.to_json(&files);
                    format!("{}:{}: {} [{}]", j.file, j.line, j.message, j.code)
                })
                .unwrap_or_default();
            Err(LoadError::Compile {
                path: dir.to_path_buf(),
                count: errors.len(),
                first,
            })
        }
    }
}

/// Loads a source into a snapshot: a folder is compiled (and so validated by the
/// compiler); a `bundle.json` has its hash checked and its Cedar validated.
///
/// Runs on a thread of its own with a [`reload::COMPILE_STACK`] stack, a panic caught:
/// a hostile or broken source fails the load, it never takes the process down.
fn load_snapshot(
    source: &Source,
    slice_cache: usize,
    verify_keys: &Arc<[VerifyingKey]>,
) -> Result<Snapshot, LoadError> {
    let owned = source.clone();
    let keys = Arc::clone(verify_keys);
    reload::guarded(source, move || {
        load_snapshot_here(&owned, slice_cache, &keys)
    })
}

fn load_snapshot_here(
    source: &Source,
    slice_cache: usize,
    verify_keys: &[VerifyingKey],
) -> Result<Snapshot, LoadError> {
    match source {
        // Only a built bundle can carry a signature: with keys, a source folder is
        // refused rather than compiled unverified.
        Source::Dir(d) if !verify_keys.is_empty() => {
            Err(LoadError::Signature(SignatureError::Unsigned {
                bundle: d.clone(),
            }))
        }
        #[cfg(feature = "compile")]
        Source::Dir(d) => Snapshot::build_checked(compile_dir(d)?, false, slice_cache),
        #[cfg(not(feature = "compile"))]
        Source::Dir(d) => Err(LoadError::NotCompiled { path: d.clone() }),
        Source::BundleFile(f) => {
            let bundle = read_bundle_file(f)?;
            // `read_bundle_file` recomputed the content hash from the bytes and refused
            // a mismatch with the manifest, so the manifest's hash is the bundle's own.
            let signer = if verify_keys.is_empty() {
                None
            } else {
                Some(charter_sign::verify_bundle(f, &bundle.manifest.hash, verify_keys)?.key_id)
            };
            let mut snap = Snapshot::build_checked(bundle, true, slice_cache)?;
            snap.bundle.signer = signer;
            Ok(snap)
        }
    }
}

/// Reads whatever `path` names: a source folder, a folder holding `bundle.json`, or a
/// `bundle.json` (whose `entities` are checked but not kept: see [`read_bundle_file`]).
pub fn read_source(source: &Source) -> Result<CompiledBundle, LoadError> {
    match source {
        #[cfg(feature = "compile")]
        Source::Dir(d) => compile_dir(d),
        #[cfg(not(feature = "compile"))]
        Source::Dir(d) => Err(LoadError::NotCompiled { path: d.clone() }),
        Source::BundleFile(f) => read_bundle_file(f),
    }
}

/// Works out what kind of source `path` is.
pub fn source_of(path: &Path) -> Source {
    if path.is_dir() && !path.join("charter.toml").is_file() && path.join("bundle.json").is_file() {
        Source::BundleFile(path.join("bundle.json"))
    } else if path.is_dir() {
        Source::Dir(path.to_path_buf())
    } else {
        Source::BundleFile(path.to_path_buf())
    }
}

impl Engine {
    fn with(snapshot: Snapshot, source: Option<Source>, options: &EngineOptions) -> Engine {
        Engine {
            inner: Arc::new(Inner {
                verify_keys: options.verify_keys.clone().into(),
                current: ArcSwap::from_pointee(snapshot),
                facts: FactStore::new(),
                source,
                counters: Mutex::new(Counters {
                    loaded_at: now_secs(),
                    ..Default::default()
                }),
                callbacks: Mutex::new(Vec::new()),
                reloading: Mutex::new(()),
                slice_cache: AtomicUsize::new(options.slice_cache.max(1)),
            }),
        }
    }

    /// An engine over a compiled bundle (one the compiler built and validated).
    pub fn from_bundle(bundle: CompiledBundle) -> Result<Engine, LoadError> {
        Self::from_bundle_with(bundle, &EngineOptions::default())
    }

    /// [`Engine::from_bundle`] with options.
    pub fn from_bundle_with(
        bundle: CompiledBundle,
        options: &EngineOptions,
    ) -> Result<Engine, LoadError> {
        if !options.verify_keys.is_empty() {
            return Err(unsigned_in_memory());
        }
        let snap = Snapshot::build_checked(bundle, false, options.slice_cache)?;
        Ok(Self::with(snap, None, options))
    }

    /// Loads a source folder (compiling it), a folder holding `bundle.json`, or a
    /// `bundle.json` file. The engine remembers the path for [`Engine::reload`] and
    /// [`Engine::watch`].
    pub fn load(path: &Path) -> Result<Engine, LoadError> {
        Self::load_with(path, &EngineOptions::default())
    }

    /// [`Engine::load`] with options.
    pub fn load_with(path: &Path, options: &EngineOptions) -> Result<Engine, LoadError> {
        let source = source_of(path);
        let keys: Arc<[VerifyingKey]> = options.verify_keys.clone().into();
        let snap = load_snapshot(&source, options.slice_cache, &keys)?;
        Ok(Self::with(snap, Some(source), options))
    }

    /// The bundle's name.
    pub fn name(&self) -> String {
        self.inner.current.load().bundle.name.clone()
    }

    /// The bundle's version.
    pub fn version(&self) -> String {
        self.inner.current.load().bundle.version.clone()
    }

    /// The bundle's content hash, `sha256:<hex>`.
    pub fn hash(&self) -> String {
        self.inner.current.load().bundle.hash.clone()
    }

    /// The bundle serving now.
    pub fn bundle(&self) -> BundleRef {
        self.inner.current.load().bundle.clone()
    }

    /// The catalog of the bundle serving now (datasets, scenarios, facts …).
    pub fn catalog(&self) -> charter_bundle::Catalog {
        self.inner.current.load().catalog.clone()
    }

    /// Sets how many per-scenario policy sets stay parsed (default
    /// [`DEFAULT_SLICE_CACHE`]), for the bundle serving and the ones reloads bring. A
    /// decision whose set is not held parses it (tens of microseconds); the rest of a
    /// bundle is always held. Lower saves memory on bundles with many scenarios.
    pub fn set_slice_cache(&self, slices: usize) {
        self.inner
            .slice_cache
            .store(slices.max(1), Ordering::Relaxed);
        self.inner.current.load().slices.set_capacity(slices);
    }

    /// The slice cache's counters for the bundle serving.
    pub fn slice_cache(&self) -> SliceCacheStats {
        self.inner.current.load().slices.stats()
    }

    /// The developer fact store.
    pub fn facts(&self) -> &FactStore {
        &self.inner.facts
    }

    /// Decides a request. Never fails: errors come back inside a deny.
    pub fn decide(&self, req: &Request) -> Decision {
        let snap = self.inner.current.load();
        decide::decide(&snap, &self.inner.facts, req, Evaluation::Sliced)
    }

    /// Decides a request and returns, beside the decision, the facts of the fact store it
    /// was decided with: `None` when the request carried its own facts or the store has
    /// no such developer. A decision log keeps them, so that the decision can be replayed
    /// later exactly as it was made (`charter replay`).
    pub fn decide_recording(&self, req: &Request) -> (Decision, Option<Facts>) {
        let snap = self.inner.current.load();
        let mut used = None;
        let decision = decide::decide_recording(
            &snap,
            &self.inner.facts,
            req,
            Evaluation::Sliced,
            Some(&mut used),
        );
        (decision, used.map(|r| r.facts.clone()))
    }

    /// Decides a request given as JSON; a request that does not parse is a deny with an
    /// `invalid_request` error.
    pub fn decide_json(&self, json: &str) -> Decision {
        match serde_json::from_str::<Request>(json) {
            Ok(req) => self.decide(&req),
            Err(e) => self.invalid_request(e.to_string()),
        }
    }

    /// The deny answered to a request that could not be read.
    pub fn invalid_request(&self, message: String) -> Decision {
        let snap = self.inner.current.load();
        Decision {
            decision_id: decision_id(),
            decision: Effect::Deny,
            developer: String::new(),
            action: String::new(),
            dataset: String::new(),
            scenario: String::new(),
            day: time::format_day(time::today(snap.catalog.utc_offset_minutes)),
            fields: Vec::new(),
            reasons: Vec::new(),
            notices: Vec::new(),
            errors: vec![DecisionError::new(
                ErrorCode::InvalidRequest,
                format!("the request is not valid: {message}"),
            )],
            consent_reference: None,
            bundle: snap.bundle.clone(),
        }
    }

    /// Decides with a chosen evaluation, to compare the slice with the full policy set.
    pub fn decide_with(&self, req: &Request, how: Evaluation) -> Decision {
        let snap = self.inner.current.load();
        decide::decide(&snap, &self.inner.facts, req, how)
    }

    /// Checks facts about to be stored (a write of the fact API, say) against the serving
    /// bundle: every name a declared fact, every value of its type.
    pub fn check_facts(&self, facts: &Facts) -> Result<(), FactWriteError> {
        facts::check_write(&self.inner.current.load(), facts)
    }

    /// Sweeps a developer at `at` (default: now): the exit, suspend and notice rules
    /// that fire, with their measures. `facts` default to the fact store's.
    pub fn sweep(&self, developer: &str, facts: Option<&Facts>, at: Option<&str>) -> SweepReport {
        let snap = self.inner.current.load();
        sweep::sweep(&snap, &self.inner.facts, developer, facts, at)
    }

    /// Sweeps every developer of the fact store, in id order.
    pub fn sweep_all(&self, at: Option<&str>) -> Vec<SweepReport> {
        let snap = self.inner.current.load();
        self.inner
            .facts
            .developers()
            .iter()
            .map(|d| sweep::sweep(&snap, &self.inner.facts, d, None, at))
            .collect()
    }

    /// Where the bundle comes from, when it was loaded from a path.
    pub fn source(&self) -> Option<&Source> {
        self.inner.source.as_ref()
    }

    /// The engine's status.
    pub fn status(&self) -> Status {
        let snap = self.inner.current.load();
        let c = self
            .inner
            .counters
            .lock()
            .map(|c| (c.loaded_at, c.reloads, c.failures, c.last_error.clone()))
            .unwrap_or_default();
        Status {
            bundle: snap.bundle.clone(),
            policies: snap.policy_count,
            notices: snap.notice_count,
            scenarios: snap.scenarios.len(),
            datasets: snap.datasets.len(),
            developers: self.inner.facts.len(),
            source: self.inner.source.as_ref().map(|s| match s {
                Source::Dir(p) | Source::BundleFile(p) => p.display().to_string(),
            }),
            loaded_at: c.0,
            reloads: c.1,
            failures: c.2,
            last_error: c.3,
            slice_cache: snap.slices.stats(),
        }
    }

    /// Calls `f` after every reload, successful or not.
    pub fn on_reload(&self, f: impl Fn(&ReloadEvent) + Send + Sync + 'static) {
        if let Ok(mut cbs) = self.inner.callbacks.lock() {
            cbs.push(Box::new(f));
        }
    }

    /// Rebuilds the bundle from its source and swaps it in when it builds. The running
    /// bundle keeps serving while this runs, and after it when it fails.
    pub fn reload(&self) -> Result<ReloadEvent, EngineError> {
        if self.inner.source.is_none() {
            return Err(EngineError::NoSource);
        }
        Ok(self.inner.reload())
    }

    /// Swaps in a bundle built elsewhere.
    pub fn swap(&self, bundle: CompiledBundle) -> Result<ReloadEvent, LoadError> {
        if !self.inner.verify_keys.is_empty() {
            return Err(unsigned_in_memory());
        }
        let snap = Snapshot::build_checked(bundle, true, self.inner.slice_cache())?;
        Ok(self.inner.install(snap))
    }

    /// Watches the source for changes and reloads on each (debounced by [`DEBOUNCE`]).
    /// Keep the returned [`Watcher`]: dropping it stops watching.
    pub fn watch(&self) -> Result<Watcher, EngineError> {
        let source = self.inner.source.clone().ok_or(EngineError::NoSource)?;
        reload::watch(Arc::downgrade(&self.inner), source)
    }
}

/// A bundle handed over in memory has no signature file: an engine that verifies
/// signatures refuses it.
fn unsigned_in_memory() -> LoadError {
    LoadError::Signature(SignatureError::Unsigned {
        bundle: PathBuf::from("<bundle in memory>"),
    })
}

impl Inner {
    fn slice_cache(&self) -> usize {
        self.slice_cache.load(Ordering::Relaxed)
    }

    fn notify(&self, event: &ReloadEvent) {
        if let Ok(cbs) = self.callbacks.lock() {
            for cb in cbs.iter() {
                cb(event);
            }
        }
    }

    fn install(&self, snap: Snapshot) -> ReloadEvent {
        let event = if snap.bundle.hash == self.current.load().bundle.hash {
            // The source is good again (and is what serves): an earlier failure is stale.
            if let Ok(mut c) = self.counters.lock() {
                c.last_error = None;
            }
            ReloadEvent::Unchanged {
                hash: snap.bundle.hash.clone(),
            }
        } else {
            let event = ReloadEvent::Reloaded {
                version: snap.bundle.version.clone(),
                hash: snap.bundle.hash.clone(),
            };
            // The status first, then the bundle: whoever sees the new bundle serving also
            // sees the reload recorded.
            if let Ok(mut c) = self.counters.lock() {
                c.loaded_at = now_secs();
                c.reloads += 1;
                c.last_error = None;
            }
            self.current.store(Arc::new(snap));
            tracing::info!(?event, "charter: bundle reloaded");
            event
        };
        self.notify(&event);
        event
    }

    fn reload(&self) -> ReloadEvent {
        let Some(source) = &self.source else {
            return ReloadEvent::Failed {
                error: "the engine has no source".to_string(),
            };
        };
        // One reload at a time; decisions never wait on this.
        let _guard = self.reloading.lock();
        match load_snapshot(source, self.slice_cache(), &self.verify_keys) {
            Ok(snap) => self.install(snap),
            Err(e) => {
                let error = e.to_string();
                tracing::warn!(%error, "charter: reload failed; the running bundle keeps serving");
                if let Ok(mut c) = self.counters.lock() {
                    c.failures += 1;
                    c.last_error = Some(error.clone());
                }
                let event = ReloadEvent::Failed { error };
                self.notify(&event);
                event
            }
        }
    }
}
