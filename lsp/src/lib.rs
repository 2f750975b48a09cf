//! Charter's language server: `charter lsp`, LSP over stdio, over the compiler's salsa
//! database.
//!
//! **Architecture invariant:** this is the only crate that speaks LSP. The compiler
//! knows nothing of it; [`ide`] computes every feature in the compiler's terms (byte
//! spans, file ids, the model) and [`convert`] and [`server`] turn that into protocol
//! types. [`world`] owns the state and applies edits in order on one thread; requests
//! run on snapshots and are cancelled by newer edits through salsa.

// Library code indexes and slices only through `get`: a bad index on input is an
// error to report, never a panic. Tests may index (a panic there is a failed test).
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::string_slice))]

pub mod convert;
pub mod ide;
pub mod server;
pub mod text;
pub mod vfs;
pub mod world;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tower_lsp_server::{LspService, Server};

/// Serves LSP on stdin and stdout until the client sends `exit`. Returns the process
/// exit code: 0 after an orderly `shutdown`, 1 when `exit` came without it (as the
/// protocol asks) or the runtime could not start.
pub fn run() -> u8 {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("charter lsp: cannot start the async runtime: {e}");
            return 1;
        }
    };
    let shutdown = Arc::new(AtomicBool::new(false));
    let flag = shutdown.clone();
    runtime.block_on(async move {
        let (service, socket) =
            LspService::new(move |client| server::Backend::new(client, flag.clone()));
        Server::new(tokio::io::stdin(), tokio::io::stdout(), socket)
            .serve(service)
            .await;
    });
    // Tokio reads stdin on a blocking thread that only returns when stdin closes;
    // waiting for it would hang when the client keeps stdin open after `exit`.
    runtime.shutdown_background();
    if shutdown.load(Ordering::SeqCst) {
        0
    } else {
        1
    }
}
