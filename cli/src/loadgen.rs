//! `charter loadgen` (hidden): a bounded load generator for `charter serve`, on loopback
//! only.
//!
//! Each connection keeps one request in flight over HTTP/1.1 keep-alive (a closed loop),
//! written by hand so the client costs as little CPU as possible on a machine it shares
//! with the server. It stops at `--requests` calls or `--seconds`, whichever comes first,
//! and reports calls and decisions per second and the latency of calls (p50, p90, p99).
//! With `--ids-out` it writes every decision id it received an answer for, which the
//! crash test checks against the log.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::Format;

/// `println!` that ignores a closed stdout (`charter log query | head`) instead of
/// panicking.
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

/// The sample requests of `examples/requests/`, sent without their facts: the server
/// is expected to hold `examples/requests/facts.json` (`charter serve --facts …`), as a
/// platform's fact store would.
const SAMPLES: [&str; 8] = [
    include_str!("../../examples/requests/01_allow_scope.json"),
    include_str!("../../examples/requests/02_deny_grade.json"),
    include_str!("../../examples/requests/03_deny_no_consent.json"),
    include_str!("../../examples/requests/04_deny_export_raw.json"),
    include_str!("../../examples/requests/05_deny_exit.json"),
    include_str!("../../examples/requests/06_allow_notice.json"),
    include_str!("../../examples/requests/07_deny_missing_fact.json"),
    include_str!("../../examples/requests/08_deny_field_outside_scope.json"),
];

/// Upper bounds, so that no invocation runs unbounded.
const MAX_SECONDS: f64 = 300.0;
const MAX_REQUESTS: u64 = 10_000_000;
const MAX_CONNECTIONS: usize = 1024;

/// The options of `charter loadgen`.
pub struct LoadArgs {
    pub addr: SocketAddr,
    pub connections: usize,
    pub seconds: f64,
    pub requests: u64,
    pub batch: usize,
    pub requests_file: Option<PathBuf>,
    pub ids_out: Option<PathBuf>,
    pub threads: usize,
    pub token: Option<String>,
    pub format: Format,
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

fn request_bodies(args: &LoadArgs) -> Result<Vec<String>, String> {
    let texts: Vec<String> = match &args.requests_file {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| format!("cannot read `{}`: {e}", p.display()))?;
            text.lines()
                .filter(|l| !l.trim().is_empty())
                .map(str::to_string)
                .collect()
        }
        None => SAMPLES.iter().map(|s| s.to_string()).collect(),
    };
    let mut out = Vec::new();
    for t in texts {
        let mut v: Json =
            serde_json::from_str(&t).map_err(|e| format!("a request is not JSON: {e}"))?;
        if args.requests_file.is_none() {
            if let Some(o) = v.as_object_mut() {
                o.remove("facts");
            }
        }
        out.push(v.to_string());
    }
    if out.is_empty() {
        return Err("no requests to send".to_string());
    }
    Ok(out)
}

/// Full HTTP requests, ready to write.
fn wire_requests(args: &LoadArgs, bodies: &[String]) -> Vec<Vec<u8>> {
    let (path, payloads): (&str, Vec<String>) = if args.batch == 0 {
        ("/v1/decide", bodies.to_vec())
    } else {
        // Batches cycle through the bodies so every batch holds a mix.
        let n = bodies.len();
        let payloads = (0..n)
            .map(|start| {
                let items: Vec<&str> = (0..args.batch)
                    .filter_map(|i| bodies.get((start + i) % n).map(String::as_str))
                    .collect();
                format!("{{\"requests\":[{}]}}", items.join(","))
            })
            .collect();
        ("/v1/decide/batch", payloads)
    };
    let auth = args
        .token
        .as_ref()
        .map(|t| format!("authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    payloads
        .into_iter()
        .map(|body| {
            let mut r = format!(
                "POST {path} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\n{auth}content-length: {}\r\n\r\n",
                args.addr,
                body.len()
            )
            .into_bytes();
            r.extend_from_slice(body.as_bytes());
            r
        })
        .collect()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The status and the body's length from a response head.
fn parse_head(head: &[u8]) -> Option<(u16, usize)> {
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let len = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())?;
    Some((status, len))
}

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

async fn connection(
    addr: SocketAddr,
    wire: Arc<Vec<Vec<u8>>>,
    budget: Arc<AtomicI64>,
    deadline: Instant,
    offset: usize,
    keep_ids: bool,
) -> ConnResult {
    let mut res = ConnResult::default();
    let fail = |res: &mut ConnResult, e: String| {
        res.errors += 1;
        res.first_error.get_or_insert(e);
    };
    let mut stream = match TcpStream::connect(addr).await {
        Ok(s) => s,
        Err(e) => {
            fail(&mut res, format!("connect: {e}"));
            return res;
        }
    };
    let _ = stream.set_nodelay(true);
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    let mut i = offset;
    let mut ids = Vec::new();
    loop {
        if Instant::now() >= deadline || budget.fetch_sub(1, Ordering::Relaxed) <= 0 {
            break;
        }
        let Some(req) = wire.get(i % wire.len()) else {
            break;
        };
        i += 1;
        let t0 = Instant::now();
        if let Err(e) = stream.write_all(req).await {
            fail(&mut res, format!("write: {e}"));
            break;
        }
        buf.clear();
        let (status, body_start, len) = loop {
            if let Some(end) = find(&buf, b"\r\n\r\n") {
                match parse_head(buf.get(..end).unwrap_or_default()) {
                    Some((s, l)) => break (s, end + 4, l),
                    None => {
                        fail(&mut res, "a response without a status or length".into());
                        return finish(res, ids);
                    }
                }
            }
            match stream.read(&mut chunk).await {
                Ok(0) => {
                    fail(&mut res, "the server closed the connection".into());
                    return finish(res, ids);
                }
                Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
                Err(e) => {
                    fail(&mut res, format!("read: {e}"));
                    return finish(res, ids);
                }
            }
        };
        while buf.len() < body_start + len {
            match stream.read(&mut chunk).await {
                Ok(0) => {
                    fail(&mut res, "the server closed the connection mid-body".into());
                    return finish(res, ids);
                }
                Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
                Err(e) => {
                    fail(&mut res, format!("read: {e}"));
                    return finish(res, ids);
                }
            }
        }
        let took = t0.elapsed();
        match res.statuses.iter_mut().find(|(s, _)| *s == status) {
            Some(e) => e.1 += 1,
            None => res.statuses.push((status, 1)),
        }
        if status == 200 {
            let body = buf.get(body_start..body_start + len).unwrap_or_default();
            let before = ids.len();
            let n = decision_ids(body, &mut ids);
            if !keep_ids {
                ids.truncate(before);
            }
            res.decisions += n;
            res.latencies_us
                .push(u32::try_from(took.as_micros()).unwrap_or(u32::MAX));
        } else {
            fail(&mut res, format!("status {status}"));
        }
    }
    finish(res, ids)
}

fn finish(mut res: ConnResult, ids: Vec<String>) -> ConnResult {
    res.ids = ids;
    res
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted.get(i).copied().unwrap_or(0)) / 1000.0
}

/// `charter loadgen`.
pub fn loadgen(args: &LoadArgs) -> u8 {
    if !args.addr.ip().is_loopback() {
        eprintln!(
            "error: loadgen sends load to loopback addresses only (127.0.0.0/8, ::1), not `{}`",
            args.addr
        );
        return 2;
    }
    let bodies = match request_bodies(args) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let wire = Arc::new(wire_requests(args, &bodies));
    let seconds = args.seconds.clamp(0.1, MAX_SECONDS);
    let budget = Arc::new(AtomicI64::new(
        i64::try_from(args.requests.min(MAX_REQUESTS)).unwrap_or(i64::MAX),
    ));
    let connections = args.connections.clamp(1, MAX_CONNECTIONS);
    let rt = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()
    };
    let rt = match rt {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return 2;
        }
    };
    let keep_ids = args.ids_out.is_some();
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(seconds);
    let results: Vec<ConnResult> = rt.block_on(async {
        let tasks: Vec<_> = (0..connections)
            .map(|c| {
                tokio::spawn(connection(
                    args.addr,
                    wire.clone(),
                    budget.clone(),
                    deadline,
                    c,
                    keep_ids,
                ))
            })
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
    let first_error = results.iter().find_map(|r| r.first_error.clone());
    if let Some(path) = &args.ids_out {
        let written = std::fs::File::create(path).and_then(|f| {
            let mut w = std::io::BufWriter::new(f);
            for id in results.iter().flat_map(|r| r.ids.iter()) {
                writeln!(w, "{id}")?;
            }
            w.flush()
        });
        if let Err(e) = written {
            eprintln!("error: cannot write `{}`: {e}", path.display());
            return 2;
        }
    }
    let report = serde_json::json!({
        "endpoint": if args.batch == 0 { "decide" } else { "batch" },
        "batch": args.batch,
        "connections": connections,
        "seconds": elapsed,
        "calls": calls,
        "decisions": decisions,
        "errors": errors,
        "statuses": statuses.iter().map(|(s, n)| serde_json::json!({"status": s, "count": n})).collect::<Vec<_>>(),
        "calls_per_second": calls as f64 / elapsed,
        "decisions_per_second": decisions as f64 / elapsed,
        "latency_ms": {
            "p50": percentile(&lat, 0.50),
            "p90": percentile(&lat, 0.90),
            "p99": percentile(&lat, 0.99),
            "max": percentile(&lat, 1.0),
        },
        "first_error": first_error,
    });
    match args.format {
        Format::Json => out!("{report}"),
        Format::Human => {
            out!(
                "{} call(s) to {} in {elapsed:.2} s over {connections} connection(s): {:.0} calls/s, {:.0} decisions/s",
                calls,
                if args.batch == 0 { "/v1/decide".to_string() } else { format!("/v1/decide/batch ({} per call)", args.batch) },
                calls as f64 / elapsed,
                decisions as f64 / elapsed
            );
            out!(
                "latency per call: p50 {:.3} ms  p90 {:.3} ms  p99 {:.3} ms  max {:.3} ms",
                percentile(&lat, 0.50),
                percentile(&lat, 0.90),
                percentile(&lat, 0.99),
                percentile(&lat, 1.0)
            );
            if errors > 0 {
                out!(
                    "{errors} error(s); first: {}",
                    first_error.unwrap_or_default()
                );
            }
        }
    }
    if errors == 0 {
        0
    } else {
        1
    }
}
