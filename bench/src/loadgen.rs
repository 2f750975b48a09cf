//! A bounded load generator for `charter serve` (the hidden `charter loadgen`), on
//! loopback only.
//!
//! Each connection is one hyper HTTP/1.1 client connection (`hyper::client::conn`)
//! keeping one request in flight (a closed loop), so the number of connections is the
//! concurrency the server sees. It stops at the request budget or the deadline, whichever
//! comes first, and reports calls and decisions per second and the latency of calls
//! (p50, p90, p99). With `keep_ids` it keeps every decision id it received an answer
//! for, which the crash test checks against the log.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::net::TcpStream;

/// Upper bounds, so that no invocation runs unbounded.
pub const MAX_SECONDS: f64 = 300.0;
/// The most calls one run makes.
pub const MAX_REQUESTS: u64 = 10_000_000;
/// The most connections one run opens.
pub const MAX_CONNECTIONS: usize = 1024;

/// What to send, and for how long.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// The server, a loopback address.
    pub addr: SocketAddr,
    /// Connections, each with one call in flight.
    pub connections: usize,
    /// Stop after this long.
    pub seconds: f64,
    /// Stop after this many calls.
    pub requests: u64,
    /// Requests per call to `/v1/decide/batch`; 0 calls `/v1/decide`.
    pub batch: usize,
    /// Worker threads of the client's runtime (1: a current-thread runtime).
    pub threads: usize,
    /// The bearer token to present.
    pub token: Option<String>,
    /// Keep the decision ids answered.
    pub keep_ids: bool,
}

/// The count of answers with one status.
#[derive(Clone, Debug, Serialize)]
pub struct StatusCount {
    /// The HTTP status.
    pub status: u16,
    /// How many answers had it.
    pub count: u64,
}

/// Latency per call, in milliseconds.
#[derive(Clone, Debug, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest.
    pub max: f64,
}

/// What a run measured.
#[derive(Clone, Debug, Serialize)]
pub struct LoadReport {
    /// `decide` or `batch`.
    pub endpoint: &'static str,
    /// Requests per batch call (0: single decisions).
    pub batch: usize,
    /// Connections opened.
    pub connections: usize,
    /// Wall time.
    pub seconds: f64,
    /// Calls answered 200.
    pub calls: u64,
    /// Decisions in those answers.
    pub decisions: u64,
    /// Failed calls (a status other than 200 or a connection error).
    pub errors: u64,
    /// Answers by status.
    pub statuses: Vec<StatusCount>,
    /// Calls per second.
    pub calls_per_second: f64,
    /// Decisions per second.
    pub decisions_per_second: f64,
    /// Latency per call.
    pub latency_ms: Latency,
    /// The first error seen.
    pub first_error: Option<String>,
    /// The decision ids answered, with `keep_ids`.
    #[serde(skip)]
    pub ids: Vec<String>,
}

#[derive(Default)]
struct ConnResult {
    latencies_us: Vec<u32>,
    decisions: u64,
    errors: u64,
    statuses: Vec<(u16, u64)>,
    ids: Vec<String>,
    first_error: Option<String>,
}

impl ConnResult {
    fn fail(&mut self, e: String) {
        self.errors += 1;
        self.first_error.get_or_insert(e);
    }
}

/// The path and the bodies of the calls: the requests one by one, or batches cycling
/// through them so every batch holds a mix. Consecutive batches take consecutive runs of
/// the requests (wrapping at the end), so a run of calls covers every request, not only
/// the first few.
fn payloads(batch: usize, bodies: &[String]) -> (&'static str, Vec<Bytes>) {
    if batch == 0 {
        let p = bodies.iter().map(|b| Bytes::from(b.clone())).collect();
        return ("/v1/decide", p);
    }
    let n = bodies.len();
    let p = (0..n.div_ceil(batch))
        .map(|k| k * batch)
        .map(|start| {
            let items: Vec<&str> = (0..batch)
                .filter_map(|i| bodies.get((start + i) % n).map(String::as_str))
                .collect();
            Bytes::from(format!("{{\"requests\":[{}]}}", items.join(",")))
        })
        .collect();
    ("/v1/decide/batch", p)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Counts (and collects) the decision ids of an answer without parsing it: the client
/// shares the machine with the server and must cost little.
fn decision_ids(body: &[u8], out: &mut Vec<String>) -> u64 {
    const KEY: &[u8] = b"\"decision_id\":\"";
    let mut n = 0;
    let mut rest = body;
    while let Some(i) = find(rest, KEY) {
        let Some(after) = rest.get(i + KEY.len()..) else {
            break;
        };
        let end = after.iter().position(|b| *b == b'"').unwrap_or(after.len());
        if let Ok(id) = std::str::from_utf8(after.get(..end).unwrap_or_default()) {
            out.push(id.to_string());
        }
        n += 1;
        rest = after.get(end..).unwrap_or_default();
    }
    n
}

struct Plan {
    addr: SocketAddr,
    path: &'static str,
    token: Option<String>,
    payloads: Vec<Bytes>,
    budget: AtomicI64,
    /// The next payload to send, shared by every connection, so that a run covers the
    /// payloads in order however many connections send them.
    next: AtomicUsize,
    deadline: Instant,
    keep_ids: bool,
}

async fn connection(plan: Arc<Plan>) -> ConnResult {
    let mut res = ConnResult::default();
    let stream = match TcpStream::connect(plan.addr).await {
        Ok(s) => s,
        Err(e) => {
            res.fail(format!("connect: {e}"));
            return res;
        }
    };
    let _ = stream.set_nodelay(true);
    let (mut sender, conn) = match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
    {
        Ok(c) => c,
        Err(e) => {
            res.fail(format!("handshake: {e}"));
            return res;
        }
    };
    let driver = tokio::spawn(conn);
    let host = plan.addr.to_string();
    loop {
        if Instant::now() >= plan.deadline || plan.budget.fetch_sub(1, Ordering::Relaxed) <= 0 {
            break;
        }
        let i = plan.next.fetch_add(1, Ordering::Relaxed);
        let Some(body) = plan.payloads.get(i % plan.payloads.len().max(1)) else {
            break;
        };
        let mut req = hyper::Request::post(plan.path)
            .header(HOST, host.as_str())
            .header(CONTENT_TYPE, "application/json");
        if let Some(t) = &plan.token {
            req = req.header(AUTHORIZATION, format!("Bearer {t}"));
        }
        let req = match req.body(Full::new(body.clone())) {
            Ok(r) => r,
            Err(e) => {
                res.fail(format!("request: {e}"));
                break;
            }
        };
        let t0 = Instant::now();
        if let Err(e) = sender.ready().await {
            res.fail(format!("the connection closed: {e}"));
            break;
        }
        let answer = match sender.send_request(req).await {
            Ok(a) => a,
            Err(e) => {
                res.fail(format!("send: {e}"));
                break;
            }
        };
        let status = answer.status().as_u16();
        let bytes = match answer.into_body().collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                res.fail(format!("read: {e}"));
                break;
            }
        };
        let took = t0.elapsed();
        match res.statuses.iter_mut().find(|(s, _)| *s == status) {
            Some(e) => e.1 += 1,
            None => res.statuses.push((status, 1)),
        }
        if status == 200 {
            let before = res.ids.len();
            let n = decision_ids(&bytes, &mut res.ids);
            if !plan.keep_ids {
                res.ids.truncate(before);
            }
            res.decisions += n;
            res.latencies_us
                .push(u32::try_from(took.as_micros()).unwrap_or(u32::MAX));
        } else {
            res.fail(format!("status {status}"));
        }
    }
    drop(sender);
    let _ = driver.await;
    res
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted.get(i).copied().unwrap_or(0)) / 1000.0
}

/// Sends `bodies` (request JSON, one per decision) to the server as `options` say, and
/// reports what it measured. Refuses an address that is not loopback.
pub fn run_load(options: &LoadOptions, bodies: &[String]) -> Result<LoadReport, String> {
    if !options.addr.ip().is_loopback() {
        return Err(format!(
            "loadgen sends load to loopback addresses only (127.0.0.0/8, ::1), not `{}`",
            options.addr
        ));
    }
    if bodies.is_empty() {
        return Err("no requests to send".to_string());
    }
    let (path, payloads) = payloads(options.batch, bodies);
    let seconds = options.seconds.clamp(0.1, MAX_SECONDS);
    let connections = options.connections.clamp(1, MAX_CONNECTIONS);
    let rt = if options.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(options.threads)
            .enable_all()
            .build()
    }
    .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let start = Instant::now();
    let plan = Arc::new(Plan {
        addr: options.addr,
        path,
        token: options.token.clone(),
        payloads,
        budget: AtomicI64::new(
            i64::try_from(options.requests.min(MAX_REQUESTS)).unwrap_or(i64::MAX),
        ),
        next: AtomicUsize::new(0),
        deadline: start + Duration::from_secs_f64(seconds),
        keep_ids: options.keep_ids,
    });
    let results: Vec<ConnResult> = rt.block_on(async {
        let tasks: Vec<_> = (0..connections)
            .map(|_| tokio::spawn(connection(plan.clone())))
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            if let Ok(r) = t.await {
                out.push(r);
            }
        }
        out
    });
    let elapsed = start.elapsed().as_secs_f64();
    let mut lat: Vec<u32> = results
        .iter()
        .flat_map(|r| r.latencies_us.iter().copied())
        .collect();
    lat.sort_unstable();
    let calls = lat.len() as u64;
    let decisions: u64 = results.iter().map(|r| r.decisions).sum();
    let errors: u64 = results.iter().map(|r| r.errors).sum();
    let mut statuses: Vec<(u16, u64)> = Vec::new();
    for (s, n) in results.iter().flat_map(|r| r.statuses.iter()) {
        match statuses.iter_mut().find(|(x, _)| x == s) {
            Some(e) => e.1 += n,
            None => statuses.push((*s, *n)),
        }
    }
    statuses.sort_unstable();
    Ok(LoadReport {
        endpoint: if options.batch == 0 {
            "decide"
        } else {
            "batch"
        },
        batch: options.batch,
        connections,
        seconds: elapsed,
        calls,
        decisions,
        errors,
        statuses: statuses
            .into_iter()
            .map(|(status, count)| StatusCount { status, count })
            .collect(),
        calls_per_second: calls as f64 / elapsed,
        decisions_per_second: decisions as f64 / elapsed,
        latency_ms: Latency {
            p50: percentile(&lat, 0.50),
            p90: percentile(&lat, 0.90),
            p99: percentile(&lat, 0.99),
            max: percentile(&lat, 1.0),
        },
        first_error: results.iter().find_map(|r| r.first_error.clone()),
        ids: results.into_iter().flat_map(|r| r.ids).collect(),
    })
}
