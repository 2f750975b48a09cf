//! The one walk of a bundle folder on disk, shared by `charter check|build|fmt|test`, the
//! runtime's hot reload and the language server.
//!
//! A bundle is `charter.toml` and the `.charter` files below it. The walk reads regular files
//! only: a symbolic link is never followed (it could point out of the bundle, and a CI log
//! would then show the first line of a file outside it, or at `..` and loop), and a FIFO,
//! socket or device is never opened (opening a FIFO blocks until a writer comes). Such entries
//! are returned as [`Skipped`], for a warning. Folders named `target` or `node_modules`, and
//! every name starting with `.`, are left out. The order is deterministic (by name, byte
//! order, in each folder), and the walk is bounded by [`Limits`].
//!
//! Files are opened with `O_NOFOLLOW | O_NONBLOCK` and checked again with `fstat` after the
//! open, so a file swapped for a link or a FIFO between the listing and the read is refused
//! instead of followed or waited on.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// How far and how much a walk may go. The defaults are documented in `docs/ci.md`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Folders below the root (the root's own files are at depth 0).
    pub max_depth: usize,
    /// `.charter` files in the bundle.
    pub max_files: usize,
    /// Bytes in one file (`charter.toml` included).
    pub max_file_bytes: u64,
    /// Bytes in all files together.
    pub max_total_bytes: u64,
}

/// Folder depth limit.
pub const MAX_DEPTH: usize = 16;
/// File count limit.
pub const MAX_FILES: usize = 10_000;
/// Per-file size limit: 16 MiB.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;
/// Whole-bundle size limit: 256 MiB.
pub const MAX_TOTAL_BYTES: u64 = 256 * 1024 * 1024;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: MAX_DEPTH,
            max_files: MAX_FILES,
            max_file_bytes: MAX_FILE_BYTES,
            max_total_bytes: MAX_TOTAL_BYTES,
        }
    }
}

/// A `.charter` file the walk found.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry {
    /// Path relative to the root, `/`-separated: the name the compiler gives the file.
    pub rel: String,
    /// The path on disk.
    pub path: PathBuf,
    /// Modification time, when the file system has one.
    pub modified: Option<SystemTime>,
    /// Length in bytes.
    pub len: u64,
}

/// Why an entry was not read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipKind {
    /// A symbolic link (to a `.charter` file, to a folder, or dangling).
    Symlink,
    /// A named pipe.
    Fifo,
    /// A Unix socket.
    Socket,
    /// A block or character device.
    Device,
    /// Anything else that is neither a regular file nor a folder.
    Other,
}

impl SkipKind {
    /// How the kind reads in a message: `a symbolic link`.
    pub fn describe(self) -> &'static str {
        match self {
            SkipKind::Symlink => "a symbolic link",
            SkipKind::Fifo => "a named pipe (FIFO)",
            SkipKind::Socket => "a socket",
            SkipKind::Device => "a device",
            SkipKind::Other => "not a regular file",
        }
    }
}

/// An entry the walk did not read, for a warning.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Skipped {
    /// Path relative to the root, `/`-separated. Where a link points is never reported.
    pub rel: String,
    /// What it is.
    pub kind: SkipKind,
}

/// What a walk found: the files to read and the entries it skipped, both in path order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Listing {
    /// The regular `.charter` files.
    pub files: Vec<Entry>,
    /// Links and special files that would otherwise have been part of the bundle.
    pub skipped: Vec<Skipped>,
}

/// A walk that could not finish, or a file that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    /// A folder or file could not be read.
    #[error("cannot read `{}`: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A folder nested deeper than [`Limits::max_depth`].
    #[error("`{}` is nested more than {limit} folders below the bundle root", path.display())]
    TooDeep {
        /// The folder.
        path: PathBuf,
        /// The limit.
        limit: usize,
    },
    /// More `.charter` files than [`Limits::max_files`].
    #[error("`{}` holds more than {limit} .charter files", path.display())]
    TooManyFiles {
        /// The root.
        path: PathBuf,
        /// The limit.
        limit: usize,
    },
    /// A file larger than [`Limits::max_file_bytes`].
    #[error("`{}` is larger than {limit} bytes", path.display())]
    FileTooLarge {
        /// The file.
        path: PathBuf,
        /// The limit.
        limit: u64,
    },
    /// Files larger together than [`Limits::max_total_bytes`].
    #[error("the .charter files below `{}` are larger together than {limit} bytes", path.display())]
    BundleTooLarge {
        /// The root.
        path: PathBuf,
        /// The limit.
        limit: u64,
    },
    /// The path is a link or a special file, not a regular file.
    #[error("`{}` is {}, not a regular file", path.display(), kind.describe())]
    NotRegular {
        /// The path.
        path: PathBuf,
        /// What it is.
        kind: SkipKind,
    },
}

/// Folders and files the walk never enters or reads.
pub fn ignored_name(name: &str) -> bool {
    name.starts_with('.') || name == "target" || name == "node_modules"
}

fn kind_of(t: std::fs::FileType) -> Option<SkipKind> {
    if t.is_file() || t.is_dir() {
        return None;
    }
    if t.is_symlink() {
        return Some(SkipKind::Symlink);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return Some(SkipKind::Fifo);
        }
        if t.is_socket() {
            return Some(SkipKind::Socket);
        }
        if t.is_block_device() || t.is_char_device() {
            return Some(SkipKind::Device);
        }
    }
    Some(SkipKind::Other)
}

/// Lists the `.charter` files below `root` (the root itself is taken as given, even when it
/// is a link). Links and special files named `*.charter`, and links to folders, are
/// reported as skipped; nothing is opened but folders.
pub fn list(root: &Path, limits: &Limits) -> Result<Listing, WalkError> {
    let mut listing = Listing::default();
    let mut total = 0u64;
    let mut stack: Vec<(PathBuf, String, usize)> = vec![(root.to_path_buf(), String::new(), 0)];
    while let Some((dir, prefix, depth)) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|source| WalkError::Io {
            path: dir.clone(),
            source,
        })?;
        let mut found = Vec::new();
        for e in entries {
            let e = e.map_err(|source| WalkError::Io {
                path: dir.clone(),
                source,
            })?;
            found.push(e);
        }
        found.sort_by_key(|e| e.file_name());
        let mut subdirs = Vec::new();
        for e in found {
            let name = e.file_name().to_string_lossy().into_owned();
            if ignored_name(&name) {
                continue;
            }
            let rel = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}/{name}")
            };
            // `DirEntry::file_type` does not follow links (lstat, or the directory entry's
            // own type), so nothing here opens or traverses what the entry points to.
            let ft = e.file_type().map_err(|source| WalkError::Io {
                path: e.path(),
                source,
            })?;
            let charter = name.ends_with(".charter");
            if ft.is_dir() {
                if depth + 1 > limits.max_depth {
                    return Err(WalkError::TooDeep {
                        path: e.path(),
                        limit: limits.max_depth,
                    });
                }
                subdirs.push((e.path(), rel, depth + 1));
            } else if ft.is_file() {
                if !charter {
                    continue;
                }
                let meta = e.metadata().map_err(|source| WalkError::Io {
                    path: e.path(),
                    source,
                })?;
                if meta.len() > limits.max_file_bytes {
                    return Err(WalkError::FileTooLarge {
                        path: e.path(),
                        limit: limits.max_file_bytes,
                    });
                }
                total = total.saturating_add(meta.len());
                if total > limits.max_total_bytes {
                    return Err(WalkError::BundleTooLarge {
                        path: root.to_path_buf(),
                        limit: limits.max_total_bytes,
                    });
                }
                if listing.files.len() >= limits.max_files {
                    return Err(WalkError::TooManyFiles {
                        path: root.to_path_buf(),
                        limit: limits.max_files,
                    });
                }
                listing.files.push(Entry {
                    rel,
                    path: e.path(),
                    modified: meta.modified().ok(),
                    len: meta.len(),
                });
            } else if let Some(kind) = kind_of(ft) {
                // A link counts when it could have been part of the bundle: named like a
                // source file, or pointing at a folder (`stat` reads only the inode; a loop
                // or a dangling link fails and is reported too).
                let counts = charter
                    || (kind == SkipKind::Symlink
                        && std::fs::metadata(e.path()).map_or(true, |m| m.is_dir()));
                if counts {
                    listing.skipped.push(Skipped { rel, kind });
                }
            }
        }
        // Depth first, in name order: push the folders reversed so the first pops first.
        stack.extend(subdirs.into_iter().rev());
    }
    listing.files.sort();
    listing.skipped.sort();
    Ok(listing)
}

/// Reads a regular file as UTF-8 without following a link or waiting on a FIFO, and at
/// most `max_bytes` of it.
pub fn read_regular(path: &Path, max_bytes: u64) -> Result<String, WalkError> {
    let io = |source| WalkError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let file = match opts.open(path) {
        Ok(f) => f,
        // O_NOFOLLOW on a link fails with ELOOP: say what it is rather than "too many links".
        Err(e) => {
            return Err(match std::fs::symlink_metadata(path) {
                Ok(m) if m.file_type().is_symlink() => WalkError::NotRegular {
                    path: path.to_path_buf(),
                    kind: SkipKind::Symlink,
                },
                _ => io(e),
            })
        }
    };
    let meta = file.metadata().map_err(io)?;
    if let Some(kind) = kind_of(meta.file_type()) {
        return Err(WalkError::NotRegular {
            path: path.to_path_buf(),
            kind,
        });
    }
    if !meta.is_file() {
        return Err(WalkError::NotRegular {
            path: path.to_path_buf(),
            kind: SkipKind::Other,
        });
    }
    if meta.len() > max_bytes {
        return Err(WalkError::FileTooLarge {
            path: path.to_path_buf(),
            limit: max_bytes,
        });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    // The file may grow after the `fstat`: read one byte past the limit to notice.
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > max_bytes {
        return Err(WalkError::FileTooLarge {
            path: path.to_path_buf(),
            limit: max_bytes,
        });
    }
    String::from_utf8(bytes).map_err(|e| {
        io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("the file is not UTF-8 text: {e}"),
        ))
    })
}

/// What [`load`] read: the manifest's text, the `.charter` files as `(relative path, text)`,
/// and the skipped entries.
#[derive(Clone, Debug, Default)]
pub struct Loaded {
    /// `charter.toml`.
    pub manifest: String,
    /// The `.charter` files, in path order.
    pub files: Vec<(String, String)>,
    /// Links and special files left out.
    pub skipped: Vec<Skipped>,
}

/// Reads a bundle: `root/charter.toml` (which must be a regular file) and every file of
/// [`list`]. A file that turned into a link or a special file since the listing is skipped
/// like one listed as such.
pub fn load(root: &Path, limits: &Limits) -> Result<Loaded, WalkError> {
    let manifest = read_regular(&root.join(crate::db::MANIFEST_PATH), limits.max_file_bytes)?;
    let listing = list(root, limits)?;
    let mut loaded = Loaded {
        manifest,
        files: Vec::with_capacity(listing.files.len()),
        skipped: listing.skipped,
    };
    let mut total = loaded.manifest.len() as u64;
    for e in listing.files {
        match read_regular(&e.path, limits.max_file_bytes) {
            Ok(text) => {
                total = total.saturating_add(text.len() as u64);
                if total > limits.max_total_bytes {
                    return Err(WalkError::BundleTooLarge {
                        path: root.to_path_buf(),
                        limit: limits.max_total_bytes,
                    });
                }
                loaded.files.push((e.rel, text));
            }
            Err(WalkError::NotRegular { kind, .. }) => {
                loaded.skipped.push(Skipped { rel: e.rel, kind })
            }
            Err(err) => return Err(err),
        }
    }
    loaded.skipped.sort();
    Ok(loaded)
}
