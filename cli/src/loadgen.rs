//! `charter loadgen` (hidden): a bounded load generator for `charter serve`, on loopback
//! only. The load itself is `charter_bench::loadgen` (hyper's HTTP/1.1 client, one call
//! in flight per connection); this module picks the requests and prints the report.
//! With `--ids-out` it writes every decision id it received an answer for, which the
//! crash test checks against the log.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use charter_bench::loadgen::{run_load, LoadOptions};
use serde_json::Value as Json;

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

/// `charter loadgen`.
pub fn loadgen(args: &LoadArgs) -> u8 {
    let bodies = match request_bodies(args) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let options = LoadOptions {
        addr: args.addr,
        connections: args.connections,
        seconds: args.seconds,
        requests: args.requests,
        batch: args.batch,
        threads: args.threads,
        token: args.token.clone(),
        keep_ids: args.ids_out.is_some(),
    };
    let report = match run_load(&options, &bodies) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    if let Some(path) = &args.ids_out {
        let written = std::fs::File::create(path).and_then(|f| {
            let mut w = std::io::BufWriter::new(f);
            for id in &report.ids {
                writeln!(w, "{id}")?;
            }
            w.flush()
        });
        if let Err(e) = written {
            eprintln!("error: cannot write `{}`: {e}", path.display());
            return 2;
        }
    }
    match args.format {
        Format::Json => match serde_json::to_string(&report) {
            Ok(s) => out!("{s}"),
            Err(e) => {
                eprintln!("error: cannot write the report: {e}");
                return 2;
            }
        },
        Format::Human => {
            let endpoint = if args.batch == 0 {
                "/v1/decide".to_string()
            } else {
                format!("/v1/decide/batch ({} per call)", args.batch)
            };
            out!(
                "{} call(s) to {endpoint} in {:.2} s over {} connection(s): {:.0} calls/s, {:.0} decisions/s",
                report.calls,
                report.seconds,
                report.connections,
                report.calls_per_second,
                report.decisions_per_second
            );
            let l = &report.latency_ms;
            out!(
                "latency per call: p50 {:.3} ms  p90 {:.3} ms  p99 {:.3} ms  max {:.3} ms",
                l.p50,
                l.p90,
                l.p99,
                l.max
            );
            if report.errors > 0 {
                out!(
                    "{} error(s); first: {}",
                    report.errors,
                    report.first_error.clone().unwrap_or_default()
                );
            }
        }
    }
    if report.errors == 0 {
        0
    } else {
        1
    }
}
