//! The decision server behind `charter serve`: JSON over HTTP/1.1 (axum on tokio) for
//! platforms written in any language, with the same request and decision JSON as
//! `charter decide`, and every decision recorded in the [`charter_log`] decision log.
//!
//! Endpoints (`docs/server.md` and `openapi.json` in this crate describe each):
//! `POST /v1/decide`, `POST /v1/decide/batch`, `POST /v1/sweep`,
//! `GET|PUT|PATCH|DELETE /v1/facts/developers/{id}`, `GET /v1/facts/developers`,
//! `GET /v1/bundle`, `POST /v1/admin/reload`, `POST /v1/admin/rollback`, `GET /healthz`,
//! `GET /readyz`, `GET /metrics`, `GET /v1/openapi.json`.
//!
//! Safe defaults: it listens on 127.0.0.1; the admin endpoints and fact writes need the
//! bearer token and are off without one; bodies are limited in size and in time; every
//! malformed request is a 4xx naming the field at fault, never a 500 and never an allow.

// Library code indexes and slices only through `get`: a bad index on input is an
// error to report, never a panic. Tests may index (a panic there is a failed test).
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::string_slice))]

mod api;
mod auth;
mod body;
mod error;
mod fuzzing;
mod metrics;

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

pub use auth::MIN_TOKEN_LEN;
pub use error::{ApiError, ServerError};
#[doc(hidden)]
pub use fuzzing::{decode_body, BODY_ENDPOINTS};

use charter_log::{DecisionLog, LogConfig};
use charter_runtime::history::History;
use charter_runtime::{Engine, Watcher};

/// The port `charter serve` listens on by default.
pub const DEFAULT_PORT: u16 = 8877;

/// The OpenAPI 3 description of the API, as served at `GET /v1/openapi.json`.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// How to run the server.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Where to listen; 127.0.0.1:[`DEFAULT_PORT`] by default. Port 0 picks a free port
    /// ([`Server::local_addr`] tells which).
    pub listen: SocketAddr,
    /// The admin token; without one the admin endpoints and fact writes answer 403.
    pub token: Option<String>,
    /// Largest body accepted, in bytes.
    pub max_body: usize,
    /// Most requests in one batch call.
    pub max_batch: usize,
    /// How long a client may take to send a request's headers, and then its body.
    pub read_timeout: Duration,
    /// Most connections open at once; more wait to be accepted.
    pub max_connections: usize,
    /// How long shutdown waits for requests in flight.
    pub shutdown_grace: Duration,
    /// The decision log; `None` records nothing.
    pub log: Option<LogConfig>,
    /// Reload the bundle when its files change.
    pub watch: bool,
    /// Where a decision's developer facts come from.
    pub facts_from: FactsFrom,
    /// A second token, scoped only to carry inline facts in [`FactsFrom::Store`] mode
    /// (the admin token may too).
    pub facts_token: Option<String>,
    /// Most names in one request's `fields`.
    pub max_fields: usize,
}

/// Where a decision's developer facts come from: one source of truth per deployment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FactsFrom {
    /// The fact store only (`PUT /v1/facts/developers/{id}`, `--facts`). A request
    /// carrying `facts.developer` is refused (403 `inline_facts_refused`) unless it
    /// presents the admin token or the facts token. The default.
    #[default]
    Store,
    /// The request only: every request carries `facts.developer` (400 otherwise), the
    /// store is not read by decisions, and fact writes are refused (409).
    Request,
    /// Either: inline facts, when given, replace the stored ones for that decision.
    /// Anyone who can call decide can then choose their own facts; for trusted callers
    /// and migrations only.
    Either,
}

impl FactsFrom {
    /// `store`, `request` or `either`.
    pub fn as_str(self) -> &'static str {
        match self {
            FactsFrom::Store => "store",
            FactsFrom::Request => "request",
            FactsFrom::Either => "either",
        }
    }
}

/// Default for [`ServerConfig::max_fields`].
pub const DEFAULT_MAX_FIELDS: usize = 1000;

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, DEFAULT_PORT)),
            token: None,
            max_body: 1 << 20,
            max_batch: 1000,
            read_timeout: Duration::from_secs(10),
            max_connections: 1024,
            shutdown_grace: Duration::from_secs(10),
            log: None,
            watch: false,
            facts_from: FactsFrom::Store,
            facts_token: None,
            max_fields: DEFAULT_MAX_FIELDS,
        }
    }
}

/// What the handlers share.
pub(crate) struct AppState {
    pub engine: Engine,
    pub history: History,
    pub log: Option<Arc<DecisionLog>>,
    pub token: Option<auth::Token>,
    pub facts_token: Option<auth::Token>,
    pub facts_from: FactsFrom,
    pub max_fields: usize,
    pub metrics: metrics::Metrics,
    pub max_body: usize,
    pub max_batch: usize,
    pub read_timeout: Duration,
    pub watching: bool,
}

/// A server bound to its address, ready to [`Server::run`].
pub struct Server {
    listener: TcpListener,
    state: Arc<AppState>,
    config: ServerConfig,
    watcher: Option<Watcher>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Server({:?})", self.listener.local_addr().ok())
    }
}

impl Server {
    /// Opens the log, starts the watch when asked, and binds the address.
    pub async fn bind(engine: Engine, config: ServerConfig) -> Result<Server, ServerError> {
        let token = config.token.as_deref().map(auth::Token::new).transpose()?;
        let facts_token = config
            .facts_token
            .as_deref()
            .map(auth::Token::new)
            .transpose()?;
        // History first, so the watch's first reload already has a bundle to go back to.
        let history = engine.history();
        let watcher = if config.watch {
            Some(engine.watch()?)
        } else {
            None
        };
        let log = match &config.log {
            Some(c) => {
                let c = c.clone();
                let opened = tokio::task::spawn_blocking(move || DecisionLog::open(c))
                    .await
                    .map_err(|e| charter_log::LogError::Write {
                        message: e.to_string(),
                    })??;
                Some(Arc::new(opened))
            }
            None => None,
        };
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| ServerError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let state = Arc::new(AppState {
            engine,
            history,
            log,
            token,
            facts_token,
            facts_from: config.facts_from,
            max_fields: config.max_fields.max(1),
            metrics: metrics::Metrics::default(),
            max_body: config.max_body,
            max_batch: config.max_batch,
            read_timeout: config.read_timeout,
            watching: watcher.is_some(),
        });
        Ok(Server {
            listener,
            state,
            config,
            watcher,
        })
    }

    /// The address bound.
    pub fn local_addr(&self) -> Result<SocketAddr, ServerError> {
        self.listener
            .local_addr()
            .map_err(|source| ServerError::Bind {
                addr: self.config.listen,
                source,
            })
    }

    /// The decision log, when there is one.
    pub fn log(&self) -> Option<Arc<DecisionLog>> {
        self.state.log.clone()
    }

    /// Serves until `shutdown` completes; then stops accepting, lets requests in flight
    /// finish (up to the grace period), and flushes and closes the log.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), ServerError> {
        let Server {
            listener,
            state,
            config,
            watcher,
        } = self;
        let app = api::router(state.clone());
        let graceful = GracefulShutdown::new();
        let slots = Arc::new(Semaphore::new(config.max_connections.max(1)));
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(config.read_timeout)
            .keep_alive(true);
        tokio::pin!(shutdown);
        loop {
            let slot = tokio::select! {
                s = slots.clone().acquire_owned() => s,
                () = &mut shutdown => break,
            };
            let Ok(slot) = slot else { break };
            let accepted = tokio::select! {
                a = listener.accept() => a,
                () = &mut shutdown => break,
            };
            let stream = match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(error = %e, "charter: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let conn =
                http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
            let conn = graceful.watch(conn);
            tokio::spawn(async move {
                let _ = conn.await;
                drop(slot);
            });
        }
        drop(listener);
        drop(watcher);
        tokio::select! {
            () = graceful.shutdown() => {}
            () = tokio::time::sleep(config.shutdown_grace) => {
                tracing::warn!("charter: requests still in flight at the end of the grace period");
            }
        }
        if let Some(log) = &state.log {
            log.close().await;
        }
        Ok(())
    }
}

/// Waits for Ctrl-C or SIGTERM: what `charter serve` stops on.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
