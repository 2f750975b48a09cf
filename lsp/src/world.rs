//! The server's state and the one thread that changes it.
//!
//! Every change — an edit, a file opened or closed, a file changed on disk — is a
//! [`Task`] on one channel, handled in order by one thread that owns the compilers.
//! tower-lsp runs handlers concurrently, interleaving them at `.await`; handlers only
//! *send* (no `.await` before the send), so edits reach this thread in the order the
//! client sent them. Requests ask the same channel for a [`Snapshot`], so a hover sent
//! after an edit sees the edit.
//!
//! Setting a salsa input cancels queries still running on older snapshots and waits
//! for them to unwind; features and the diagnostics worker catch [`salsa::Cancelled`]
//! and give up, so a new keystroke never waits for diagnostics of the old text.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};

use charter_compiler::db::MANIFEST_PATH;
use charter_compiler::diagnostics::FileId;
use charter_compiler::Compiler;
use tower_lsp_server::ls_types::{self as lsp, TextDocumentContentChangeEvent, Uri};
use tower_lsp_server::Client;

use crate::convert;
use crate::ide::Analysis;
use crate::text::{apply_changes, Encoding, LineMap};
use crate::vfs;

/// A change to the state, or a request for a snapshot of it.
pub enum Task {
    /// `initialize`: the workspace folders, the position encoding, and whether to watch
    /// the disk ourselves (the client cannot send watched-files notifications).
    Init {
        /// Workspace folders.
        roots: Vec<PathBuf>,
        /// Position encoding.
        encoding: Encoding,
        /// Whether to watch with `notify`.
        watch: bool,
    },
    /// `textDocument/didOpen`.
    Open {
        /// File.
        path: PathBuf,
        /// Version.
        version: i32,
        /// Text.
        text: String,
    },
    /// `textDocument/didChange`.
    Change {
        /// File.
        path: PathBuf,
        /// Version.
        version: i32,
        /// Changes, applied in order.
        changes: Vec<TextDocumentContentChangeEvent>,
    },
    /// `textDocument/didClose`.
    Close {
        /// File.
        path: PathBuf,
    },
    /// Files changed on disk.
    Disk {
        /// The files (or folders) that changed.
        paths: Vec<PathBuf>,
    },
    /// A snapshot for a request.
    Snapshot(tokio::sync::oneshot::Sender<Snapshot>),
}

/// One bundle as a request sees it.
#[derive(Clone)]
pub struct BundleView {
    /// The folder holding `charter.toml`, or the folder of a lone file.
    pub root: PathBuf,
    /// For a `.charter` file outside any bundle: its path.
    pub orphan: Option<PathBuf>,
    /// The analysis.
    pub analysis: Analysis,
}

impl BundleView {
    /// The path on disk of a file of the bundle.
    pub fn path(&self, file: FileId, prelude: &Path) -> PathBuf {
        match (file, &self.orphan) {
            (FileId::PRELUDE, _) => prelude.to_path_buf(),
            (FileId::MANIFEST, _) => self.root.join(MANIFEST_PATH),
            (_, Some(p)) => p.clone(),
            (_, None) => {
                let mut p = self.root.clone();
                for seg in self.analysis.path(file).split('/') {
                    p.push(seg);
                }
                p
            }
        }
    }
}

/// A read-only view of every bundle at one moment.
#[derive(Clone)]
pub struct Snapshot {
    /// The bundles, deepest root first.
    pub bundles: Vec<BundleView>,
    /// The position encoding.
    pub encoding: Encoding,
    /// Where the prelude is written.
    pub prelude: PathBuf,
    /// Versions of the open documents.
    pub versions: HashMap<PathBuf, i32>,
}

impl Snapshot {
    /// The bundle and file id of a path.
    pub fn locate(&self, path: &Path) -> Option<(&BundleView, FileId)> {
        if path == self.prelude {
            return self.bundles.first().map(|b| (b, FileId::PRELUDE));
        }
        for b in &self.bundles {
            if let Some(o) = &b.orphan {
                if o == path {
                    return b.analysis.file_ids().nth(2).map(|f| (b, f));
                }
                continue;
            }
            let Some(rel) = vfs::relative(&b.root, path) else {
                continue;
            };
            if rel == MANIFEST_PATH {
                return Some((b, FileId::MANIFEST));
            }
            if let Some(f) = b.analysis.file_id(&rel) {
                return Some((b, f));
            }
        }
        None
    }

    /// The URI of a file of a bundle.
    pub fn uri(&self, b: &BundleView, file: FileId) -> Option<Uri> {
        vfs::uri_of(&b.path(file, &self.prelude))
    }

    /// The line map of a file of a bundle, over the line index the database keeps for the
    /// file's current text (built once per version of an open document, not per request).
    pub fn line_map<'a>(&self, b: &'a BundleView, file: FileId) -> LineMap<'a> {
        LineMap::with_index(
            b.analysis.text(file),
            b.analysis.line_index(file),
            self.encoding,
        )
    }
}

struct Bundle {
    root: PathBuf,
    orphan: Option<PathBuf>,
    compiler: Compiler,
}

struct Doc {
    version: i32,
    text: String,
}

/// The state, owned by the world thread.
pub struct World {
    bundles: Vec<Bundle>,
    docs: BTreeMap<PathBuf, Doc>,
    encoding: Encoding,
    prelude: PathBuf,
    generation: Arc<AtomicU64>,
    diagnostics: Sender<DiagJob>,
    tasks: Sender<Task>,
    watch: bool,
    watcher: Option<notify::RecommendedWatcher>,
}

impl World {
    /// Starts the world thread and the diagnostics worker; returns the task channel.
    pub fn start(client: Client, runtime: tokio::runtime::Handle) -> Sender<Task> {
        let (tasks, rx) = std::sync::mpsc::channel::<Task>();
        let (diag_tx, diag_rx) = std::sync::mpsc::channel::<DiagJob>();
        let generation = Arc::new(AtomicU64::new(0));
        let publisher = Publisher {
            client,
            runtime,
            generation: generation.clone(),
            published: Mutex::new(HashMap::new()),
        };
        let spawned = std::thread::Builder::new()
            .name("charter-diagnostics".into())
            .spawn(move || diagnostics_worker(diag_rx, publisher));
        if let Err(e) = spawned {
            eprintln!("charter lsp: cannot start the diagnostics thread: {e}");
        }
        let world = World {
            bundles: Vec::new(),
            docs: BTreeMap::new(),
            encoding: Encoding::Utf16,
            prelude: vfs::write_prelude(),
            generation,
            diagnostics: diag_tx,
            tasks: tasks.clone(),
            watch: false,
            watcher: None,
        };
        let spawned = std::thread::Builder::new()
            .name("charter-world".into())
            .spawn(move || world.run(rx));
        if let Err(e) = spawned {
            eprintln!("charter lsp: cannot start the state thread: {e}");
        }
        tasks
    }

    fn run(mut self, rx: Receiver<Task>) {
        while let Ok(task) = rx.recv() {
            let mut changed = self.handle_guarded(task);
            // Apply everything already queued before computing diagnostics once.
            while let Ok(task) = rx.try_recv() {
                changed |= self.handle_guarded(task);
            }
            if changed {
                self.schedule_diagnostics();
            }
        }
    }

    /// Handles one task. A bug that panics loses that task, not the server: the panic
    /// hook has reported it, and the editor keeps its diagnostics and features.
    fn handle_guarded(&mut self, task: Task) -> bool {
        std::panic::catch_unwind(AssertUnwindSafe(|| self.handle(task))).unwrap_or(true)
    }

    /// Handles one task; returns whether diagnostics may have changed.
    fn handle(&mut self, task: Task) -> bool {
        match task {
            Task::Init {
                roots,
                encoding,
                watch,
            } => {
                self.encoding = encoding;
                self.watch = watch;
                for root in roots {
                    for b in vfs::find_bundles(&root, 6) {
                        self.load_bundle(&b);
                    }
                }
                true
            }
            Task::Open {
                path,
                version,
                text,
            } => {
                if path == self.prelude {
                    return false;
                }
                self.docs.insert(path.clone(), Doc { version, text });
                self.sync_doc(&path);
                true
            }
            Task::Change {
                path,
                version,
                changes,
            } => {
                let encoding = self.encoding;
                let Some(doc) = self.docs.get_mut(&path) else {
                    return false;
                };
                apply_changes(&mut doc.text, changes, encoding);
                doc.version = version;
                self.sync_doc(&path);
                true
            }
            Task::Close { path } => {
                if self.docs.remove(&path).is_none() {
                    return false;
                }
                if let Some(i) = self
                    .bundles
                    .iter()
                    .position(|b| b.orphan.as_deref() == Some(path.as_path()))
                {
                    self.bundles.remove(i);
                } else if let Some(i) = self.bundle_for(&path) {
                    self.resync(i);
                }
                true
            }
            Task::Disk { paths } => {
                let mut touched: Vec<usize> = Vec::new();
                for p in paths {
                    let is_manifest = p.file_name().is_some_and(|n| n == MANIFEST_PATH);
                    if is_manifest {
                        if let Some(dir) = p.parent() {
                            let known = self
                                .bundles
                                .iter()
                                .any(|b| b.orphan.is_none() && b.root == dir);
                            if !known && p.is_file() {
                                self.load_bundle(dir);
                            }
                        }
                    }
                    if let Some(i) = self.bundle_for(&p) {
                        if !touched.contains(&i) {
                            touched.push(i);
                        }
                    }
                }
                // Resync from the highest index so removing a bundle keeps the others' indexes.
                touched.sort_unstable_by(|a, b| b.cmp(a));
                for i in touched {
                    self.resync(i);
                }
                true
            }
            Task::Snapshot(reply) => {
                let _ = reply.send(self.snapshot());
                false
            }
        }
    }

    /// The deepest bundle (not a lone file) whose root holds `path`.
    fn bundle_for(&self, path: &Path) -> Option<usize> {
        self.bundles
            .iter()
            .enumerate()
            .filter(|(_, b)| b.orphan.is_none() && path.starts_with(&b.root))
            .max_by_key(|(_, b)| b.root.components().count())
            .map(|(i, _)| i)
    }

    fn load_bundle(&mut self, root: &Path) {
        if self
            .bundles
            .iter()
            .any(|b| b.orphan.is_none() && b.root == root)
        {
            return;
        }
        match Compiler::load_dir(root) {
            Ok(compiler) => {
                self.bundles.push(Bundle {
                    root: root.to_path_buf(),
                    orphan: None,
                    compiler,
                });
                self.watch_root(root);
                // Open documents below the new root move into it.
                let moved: Vec<PathBuf> = self
                    .docs
                    .keys()
                    .filter(|p| p.starts_with(root))
                    .cloned()
                    .collect();
                for p in moved {
                    self.bundles
                        .retain(|b| b.orphan.as_deref() != Some(p.as_path()));
                    self.sync_doc(&p);
                }
            }
            Err(e) => eprintln!(
                "charter lsp: cannot load the bundle in {}: {e}",
                root.display()
            ),
        }
    }

    fn watch_root(&mut self, root: &Path) {
        if !self.watch {
            return;
        }
        use notify::Watcher as _;
        if self.watcher.is_none() {
            let tasks = self.tasks.clone();
            let made = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
                let Ok(event) = res else { return };
                if matches!(event.kind, notify::EventKind::Access(_)) {
                    return;
                }
                let paths: Vec<PathBuf> = event
                    .paths
                    .into_iter()
                    .filter(|p| {
                        let ext = p.extension().and_then(|e| e.to_str());
                        ext == Some("charter")
                            || ext.is_none()
                            || p.file_name().is_some_and(|n| n == MANIFEST_PATH)
                    })
                    .collect();
                if !paths.is_empty() {
                    let _ = tasks.send(Task::Disk { paths });
                }
            });
            match made {
                Ok(w) => self.watcher = Some(w),
                Err(e) => eprintln!("charter lsp: cannot watch files: {e}"),
            }
        }
        if let Some(w) = self.watcher.as_mut() {
            if let Err(e) = w.watch(root, notify::RecursiveMode::Recursive) {
                eprintln!("charter lsp: cannot watch {}: {e}", root.display());
            }
        }
    }

    /// Puts an open document's text into its bundle, loading the bundle (or making a
    /// lone-file bundle) when needed.
    fn sync_doc(&mut self, path: &Path) {
        let Some(text) = self.docs.get(path).map(|d| d.text.clone()) else {
            return;
        };
        if self.bundle_for(path).is_none() {
            if let Some(root) = vfs::bundle_root_of(path) {
                self.load_bundle(&root);
            }
        }
        match self.bundle_for(path) {
            Some(i) => {
                let Some(b) = self.bundles.get_mut(i) else {
                    return;
                };
                let Some(rel) = vfs::relative(&b.root, path) else {
                    return;
                };
                if rel == MANIFEST_PATH {
                    b.compiler.set_manifest(text);
                } else if rel.ends_with(".charter") {
                    b.compiler.set_file(&rel, text);
                }
            }
            None => {
                if path.extension().and_then(|e| e.to_str()) != Some("charter") {
                    return;
                }
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| String::from("untitled.charter"));
                match self
                    .bundles
                    .iter_mut()
                    .find(|b| b.orphan.as_deref() == Some(path))
                {
                    Some(b) => b.compiler.set_file(&name, text),
                    None => self.bundles.push(Bundle {
                        root: path.parent().map(Path::to_path_buf).unwrap_or_default(),
                        orphan: Some(path.to_path_buf()),
                        compiler: Compiler::from_sources(None, [(name, text)]),
                    }),
                }
            }
        }
    }

    /// Makes bundle `i` match the disk, except for open documents, whose text the editor
    /// owns. A bundle whose `charter.toml` is gone is dropped.
    fn resync(&mut self, i: usize) {
        let Some(b) = self.bundles.get_mut(i) else {
            return;
        };
        let root = b.root.clone();
        let manifest = root.join(MANIFEST_PATH);
        if !manifest.is_file() && !self.docs.contains_key(&manifest) {
            self.bundles.remove(i);
            let open: Vec<PathBuf> = self
                .docs
                .keys()
                .filter(|p| p.starts_with(&root))
                .cloned()
                .collect();
            for p in open {
                self.sync_doc(&p);
            }
            return;
        }
        if !self.docs.contains_key(&manifest) {
            if let Ok(text) = vfs::read_regular(&manifest) {
                b.compiler.set_manifest(text);
            }
        }
        let on_disk = vfs::charter_files(&root);
        let known: Vec<String> = b
            .compiler
            .bundle()
            .files(b.compiler.db())
            .iter()
            .skip(2)
            .map(|f| f.path(b.compiler.db()).clone())
            .collect();
        for (rel, abs) in &on_disk {
            if self.docs.contains_key(abs) {
                continue;
            }
            if let Ok(text) = vfs::read_regular(abs) {
                b.compiler.set_file(rel, text);
            }
        }
        for rel in known {
            let abs = {
                let mut p = root.clone();
                for seg in rel.split('/') {
                    p.push(seg);
                }
                p
            };
            if !self.docs.contains_key(&abs) && !on_disk.iter().any(|(r, _)| *r == rel) {
                b.compiler.remove_file(&rel);
            }
        }
    }

    fn snapshot(&self) -> Snapshot {
        let mut bundles: Vec<BundleView> = self
            .bundles
            .iter()
            .map(|b| BundleView {
                root: b.root.clone(),
                orphan: b.orphan.clone(),
                analysis: Analysis::new(b.compiler.db(), b.compiler.bundle()),
            })
            .collect();
        bundles.sort_by_key(|b| {
            (
                b.orphan.is_none(),
                std::cmp::Reverse(b.root.components().count()),
            )
        });
        Snapshot {
            bundles,
            encoding: self.encoding,
            prelude: self.prelude.clone(),
            versions: self
                .docs
                .iter()
                .map(|(p, d)| (p.clone(), d.version))
                .collect(),
        }
    }

    fn schedule_diagnostics(&mut self) {
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        let _ = self.diagnostics.send(DiagJob {
            generation,
            snapshot: self.snapshot(),
        });
    }
}

/// Diagnostics to compute for one state.
struct DiagJob {
    generation: u64,
    snapshot: Snapshot,
}

/// Sends `publishDiagnostics`, only for files whose diagnostics changed, and never
/// for a state older than one already scheduled.
struct Publisher {
    client: Client,
    runtime: tokio::runtime::Handle,
    generation: Arc<AtomicU64>,
    published: Mutex<HashMap<Uri, Vec<lsp::Diagnostic>>>,
}

type FileDiagnostics = Vec<(Uri, Option<i32>, Vec<lsp::Diagnostic>)>;

fn diagnostics_worker(rx: Receiver<DiagJob>, publisher: Publisher) {
    while let Ok(mut job) = rx.recv() {
        // Only the newest state matters; dropping older jobs also drops their
        // snapshots, which a pending edit may be waiting for.
        while let Ok(newer) = rx.try_recv() {
            job = newer;
        }
        let generation = job.generation;
        let computed =
            std::panic::catch_unwind(AssertUnwindSafe(|| compute_diagnostics(&job.snapshot)));
        drop(job);
        match computed {
            Ok(files) => publisher.publish(generation, files),
            // Cancelled by a newer edit (or a bug, already reported by the panic hook):
            // the next job computes them again.
            Err(_) => continue,
        }
    }
}

/// The diagnostics of every file of every bundle, converted for the client.
pub fn compute_diagnostics(snap: &Snapshot) -> FileDiagnostics {
    let mut out = Vec::new();
    for b in &snap.bundles {
        for file in b.analysis.file_ids() {
            if file == FileId::PRELUDE || (file == FileId::MANIFEST && b.orphan.is_some()) {
                continue;
            }
            let Some(uri) = snap.uri(b, file) else {
                continue;
            };
            let diags = b.analysis.diagnostics(file);
            let converted = if diags.is_empty() {
                Vec::new()
            } else {
                convert::diagnostics(snap, b, file, &diags)
            };
            let version = snap.versions.get(&b.path(file, &snap.prelude)).copied();
            out.push((uri, version, converted));
        }
    }
    out
}

impl Publisher {
    fn publish(&self, generation: u64, files: FileDiagnostics) {
        let Ok(mut published) = self.published.lock() else {
            return;
        };
        if generation < self.generation.load(Ordering::SeqCst) {
            return;
        }
        let mut seen: HashSet<Uri> = HashSet::with_capacity(files.len());
        for (uri, version, diags) in files {
            seen.insert(uri.clone());
            let before = published.get(&uri);
            let same = match before {
                Some(b) => *b == diags,
                None => diags.is_empty(),
            };
            if same {
                continue;
            }
            published.insert(uri.clone(), diags.clone());
            self.runtime
                .block_on(self.client.publish_diagnostics(uri, diags, version));
        }
        // Files that left every bundle: clear what the client still shows.
        let gone: Vec<Uri> = published
            .keys()
            .filter(|u| !seen.contains(u))
            .cloned()
            .collect();
        for uri in gone {
            published.remove(&uri);
            self.runtime
                .block_on(self.client.publish_diagnostics(uri, Vec::new(), None));
        }
    }
}
