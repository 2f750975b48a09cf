//! The decision log: every decision answered, in an embedded SQLite database, hash-chained
//! so that a change or a deletion shows.
//!
//! Each record holds the decision's id and time, the request as decided (consent reference
//! and purpose included), the answer exactly as it was sent (reasons, notices, errors), and
//! the bundle's version and hash. Each record also holds the hash of the record before it
//! and its own hash over all of that ([`record_hash`]), so `charter log verify` can
//! recompute the chain and name the first record that does not fit.
//!
//! [`DecisionLog`] writes off the request path: one thread owns the connection and commits
//! whatever has queued up in one transaction (group commit), so a strict caller that waits
//! for its record waits for one commit shared with every other request in flight. Pruning
//! by age ([`prune`]) deletes the oldest records and appends a checkpoint record naming the
//! last pruned record's hash, so what remains still verifies.
//!
//! The format is documented in `docs/server.md` (the decision log).

// Library code indexes and slices only through `get`: a bad index on input is an
// error to report, never a panic. Tests may index (a panic there is a failed test).
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::string_slice))]

/// The log's keys are `charter-sign`'s, shared with bundle signatures.
pub use charter_sign::keys;
mod prune;
mod query;
mod request;
mod seal;
mod store;
mod time;
mod verify;
mod writer;

use std::path::PathBuf;

pub use prune::{prune, PruneReport};
pub use query::{query, Filter};
pub use request::{
    read_logged_request, request_as_decided, FactsOrigin, LoggedRequest, FACTS_FROM,
};
pub use seal::{anchor, Anchor, SealConfig, SignedHead, ANCHOR_FORMAT, HEAD_FORMAT};
pub use store::{open_read, record_hash, Record, RecordKind, FORMAT, GENESIS};
pub use time::{format_ms, now_ms, parse_instant, parse_span};
pub use verify::{verify, verify_with, Broken, VerifyOptions, VerifyReport};
pub use writer::{DecisionLog, Durability, Entry, LogConfig, LogStats, SyncMode, COMMIT_BUCKETS};

/// A problem with the decision log.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum LogError {
    /// The database could not be opened or created.
    #[error("cannot open the decision log `{}`: {message}", path.display())]
    #[diagnostic(
        code(charter::log::open),
        help("check that the folder exists and is writable, or pass another file with `--log`")
    )]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The file is a SQLite database but not a decision log, or one of another format.
    #[error("`{}` is not a Charter decision log: {message}", path.display())]
    #[diagnostic(code(charter::log::format))]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Records could not be written; in strict mode the decisions they hold were denied.
    #[error("the decision log cannot be written: {message}")]
    #[diagnostic(
        code(charter::log::write),
        help("in strict mode the server denies every decision it cannot record")
    )]
    Write {
        /// Why, from SQLite.
        message: String,
    },
    /// The writer has stopped (the server is shutting down).
    #[error("the decision log is closed")]
    #[diagnostic(code(charter::log::closed))]
    Closed,
    /// An anchor file cannot be read.
    #[error("cannot read the anchor `{}`: {message}", path.display())]
    #[diagnostic(
        code(charter::log::anchor),
        help("an anchor is the JSON file `charter log anchor --out FILE` wrote")
    )]
    Anchor {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// A key file cannot be used.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Key(#[from] crate::keys::KeyError),
    /// Reading the log failed.
    #[error("cannot read the decision log: {message}")]
    #[diagnostic(code(charter::log::read))]
    Read {
        /// Why.
        message: String,
    },
}

impl LogError {
    pub(crate) fn read(e: impl std::fmt::Display) -> LogError {
        LogError::Read {
            message: e.to_string(),
        }
    }
}
