//! Prometheus metrics, kept in atomics on the request path and rendered as text on a
//! scrape. Written by hand: a handful of counters and histograms do not need a registry.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use charter_log::{LogStats, COMMIT_BUCKETS};
use charter_runtime::{Effect, Status};

/// Upper bounds, in seconds, of the latency histogram.
const LATENCY: [f64; 14] = [
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002, 0.003, 0.005, 0.010, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];
/// Upper bounds of the batch-size histogram.
const BATCH: [u64; 10] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000];
/// The statuses the server answers, counted by `charter_http_responses_total`.
const STATUSES: [u16; 14] = [
    200, 204, 400, 401, 403, 404, 405, 408, 409, 413, 415, 500, 503, 504,
];

struct Histogram<const N: usize> {
    counts: [AtomicU64; N],
    over: AtomicU64,
    sum_micros: AtomicU64,
}

impl<const N: usize> Default for Histogram<N> {
    fn default() -> Self {
        Histogram {
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            over: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }
}

impl<const N: usize> Histogram<N> {
    fn observe_bucket(&self, bucket: Option<usize>, micros: u64) {
        match bucket.and_then(|b| self.counts.get(b)) {
            Some(c) => c.fetch_add(1, Ordering::Relaxed),
            None => self.over.fetch_add(1, Ordering::Relaxed),
        };
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Renders the buckets, cumulative as Prometheus wants them.
    fn render(&self, out: &mut String, name: &str, labels: &str, bounds: &[String], sum: f64) {
        let mut total = 0;
        let sep = if labels.is_empty() { "" } else { "," };
        for (b, c) in bounds.iter().zip(self.counts.iter()) {
            total += c.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {total}");
        }
        total += self.over.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {total}");
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {sum}");
        let _ = writeln!(out, "{name}_count{braces} {total}");
    }
}

/// The server's counters.
#[derive(Default)]
pub(crate) struct Metrics {
    allow: AtomicU64,
    deny: AtomicU64,
    unrecorded: AtomicU64,
    decide_latency: Histogram<{ LATENCY.len() }>,
    batch_latency: Histogram<{ LATENCY.len() }>,
    batch_sizes: Histogram<{ BATCH.len() }>,
    responses: [AtomicU64; STATUSES.len()],
    other_responses: AtomicU64,
}

/// Which endpoint a latency belongs to.
#[derive(Clone, Copy)]
pub(crate) enum Endpoint {
    Decide,
    Batch,
}

impl Metrics {
    pub fn decision(&self, effect: Effect) {
        match effect {
            Effect::Allow => self.allow.fetch_add(1, Ordering::Relaxed),
            Effect::Deny => self.deny.fetch_add(1, Ordering::Relaxed),
        };
    }

    pub fn unrecorded(&self, n: u64) {
        self.unrecorded.fetch_add(n, Ordering::Relaxed);
    }

    pub fn latency(&self, endpoint: Endpoint, took: Duration) {
        let secs = took.as_secs_f64();
        let bucket = LATENCY.iter().position(|b| secs <= *b);
        let micros = took.as_micros() as u64;
        match endpoint {
            Endpoint::Decide => self.decide_latency.observe_bucket(bucket, micros),
            Endpoint::Batch => self.batch_latency.observe_bucket(bucket, micros),
        }
    }

    pub fn batch_size(&self, n: usize) {
        let bucket = BATCH.iter().position(|b| n as u64 <= *b);
        self.batch_sizes.observe_bucket(bucket, n as u64);
    }

    pub fn response(&self, status: u16) {
        match STATUSES.iter().position(|s| *s == status) {
            Some(i) => {
                if let Some(c) = self.responses.get(i) {
                    c.fetch_add(1, Ordering::Relaxed);
                }
            }
            None => {
                self.other_responses.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self, status: &Status, log: Option<&LogStats>) -> String {
        let mut o = String::with_capacity(8192);
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);

        o.push_str("# HELP charter_decisions_total Decisions answered, by outcome.\n");
        o.push_str("# TYPE charter_decisions_total counter\n");
        let _ = writeln!(
            o,
            "charter_decisions_total{{decision=\"allow\"}} {}",
            load(&self.allow)
        );
        let _ = writeln!(
            o,
            "charter_decisions_total{{decision=\"deny\"}} {}",
            load(&self.deny)
        );

        o.push_str("# HELP charter_decisions_unrecorded_total Decisions denied because the strict log could not record them.\n");
        o.push_str("# TYPE charter_decisions_unrecorded_total counter\n");
        let _ = writeln!(
            o,
            "charter_decisions_unrecorded_total {}",
            load(&self.unrecorded)
        );

        let bounds: Vec<String> = LATENCY.iter().map(|b| b.to_string()).collect();
        o.push_str("# HELP charter_request_duration_seconds Time to answer a decide call, from its body read to its answer (the log commit included in strict mode).\n");
        o.push_str("# TYPE charter_request_duration_seconds histogram\n");
        self.decide_latency.render(
            &mut o,
            "charter_request_duration_seconds",
            "endpoint=\"decide\"",
            &bounds,
            load(&self.decide_latency.sum_micros) as f64 / 1e6,
        );
        self.batch_latency.render(
            &mut o,
            "charter_request_duration_seconds",
            "endpoint=\"batch\"",
            &bounds,
            load(&self.batch_latency.sum_micros) as f64 / 1e6,
        );

        let bounds: Vec<String> = BATCH.iter().map(|b| b.to_string()).collect();
        o.push_str("# HELP charter_batch_size Requests per batch decide call.\n");
        o.push_str("# TYPE charter_batch_size histogram\n");
        self.batch_sizes.render(
            &mut o,
            "charter_batch_size",
            "",
            &bounds,
            load(&self.batch_sizes.sum_micros) as f64,
        );

        o.push_str("# HELP charter_http_responses_total Responses by HTTP status.\n");
        o.push_str("# TYPE charter_http_responses_total counter\n");
        for (s, c) in STATUSES.iter().zip(self.responses.iter()) {
            let n = load(c);
            if n > 0 {
                let _ = writeln!(o, "charter_http_responses_total{{code=\"{s}\"}} {n}");
            }
        }
        let n = load(&self.other_responses);
        if n > 0 {
            let _ = writeln!(o, "charter_http_responses_total{{code=\"other\"}} {n}");
        }

        o.push_str(
            "# HELP charter_reloads_total Bundle reloads (rollbacks included), by result.\n",
        );
        o.push_str("# TYPE charter_reloads_total counter\n");
        let _ = writeln!(
            o,
            "charter_reloads_total{{result=\"ok\"}} {}",
            status.reloads
        );
        let _ = writeln!(
            o,
            "charter_reloads_total{{result=\"failed\"}} {}",
            status.failures
        );

        o.push_str("# HELP charter_bundle_info The bundle serving.\n");
        o.push_str("# TYPE charter_bundle_info gauge\n");
        let _ = writeln!(
            o,
            "charter_bundle_info{{name=\"{}\",version=\"{}\",hash=\"{}\"}} 1",
            escape(&status.bundle.name),
            escape(&status.bundle.version),
            escape(&status.bundle.hash)
        );
        o.push_str(
            "# HELP charter_bundle_loaded_timestamp_seconds When the serving bundle was loaded.\n",
        );
        o.push_str("# TYPE charter_bundle_loaded_timestamp_seconds gauge\n");
        let _ = writeln!(
            o,
            "charter_bundle_loaded_timestamp_seconds {}",
            status.loaded_at
        );
        o.push_str("# HELP charter_bundle_reload_failing Whether the last reload failed (the previous bundle keeps serving).\n");
        o.push_str("# TYPE charter_bundle_reload_failing gauge\n");
        let _ = writeln!(
            o,
            "charter_bundle_reload_failing {}",
            u8::from(status.last_error.is_some())
        );
        let sc = &status.slice_cache;
        o.push_str("# HELP charter_slice_cache_slices Per-scenario policy sets held parsed, and the most that may be.\n");
        o.push_str("# TYPE charter_slice_cache_slices gauge\n");
        for (state, n) in [
            ("resident", sc.resident),
            ("capacity", sc.capacity),
            ("total", sc.slices),
        ] {
            let _ = writeln!(o, "charter_slice_cache_slices{{state=\"{state}\"}} {n}");
        }
        o.push_str("# HELP charter_slice_cache_lookups_total Decisions' lookups of a per-scenario set, by whether it was held (a miss parses it).\n");
        o.push_str("# TYPE charter_slice_cache_lookups_total counter\n");
        for (result, n) in [("hit", sc.hits), ("miss", sc.misses)] {
            let _ = writeln!(
                o,
                "charter_slice_cache_lookups_total{{result=\"{result}\"}} {n}"
            );
        }
        o.push_str("# HELP charter_slice_cache_evictions_total Per-scenario sets dropped to stay within the capacity.\n");
        o.push_str("# TYPE charter_slice_cache_evictions_total counter\n");
        let _ = writeln!(o, "charter_slice_cache_evictions_total {}", sc.evictions);
        o.push_str("# HELP charter_developers Developers in the fact store.\n");
        o.push_str("# TYPE charter_developers gauge\n");
        let _ = writeln!(o, "charter_developers {}", status.developers);

        if let Some(l) = log {
            o.push_str(
                "# HELP charter_log_queue_depth Decisions waiting to be written to the log.\n",
            );
            o.push_str("# TYPE charter_log_queue_depth gauge\n");
            let _ = writeln!(o, "charter_log_queue_depth {}", l.queue_depth);
            o.push_str("# HELP charter_log_records_total Records committed to the decision log.\n");
            o.push_str("# TYPE charter_log_records_total counter\n");
            let _ = writeln!(o, "charter_log_records_total {}", l.written);
            o.push_str("# HELP charter_log_write_errors_total Log commits that failed.\n");
            o.push_str("# TYPE charter_log_write_errors_total counter\n");
            let _ = writeln!(o, "charter_log_write_errors_total {}", l.write_errors);
            o.push_str(
                "# HELP charter_log_lost_total Relaxed-mode records lost to failed commits.\n",
            );
            o.push_str("# TYPE charter_log_lost_total counter\n");
            let _ = writeln!(o, "charter_log_lost_total {}", l.lost);
            o.push_str("# HELP charter_log_healthy Whether the last log commit succeeded.\n");
            o.push_str("# TYPE charter_log_healthy gauge\n");
            let _ = writeln!(o, "charter_log_healthy {}", u8::from(l.healthy));
            o.push_str("# HELP charter_log_commit_size Records per group commit.\n");
            o.push_str("# TYPE charter_log_commit_size histogram\n");
            let mut total = 0;
            for (b, c) in COMMIT_BUCKETS.iter().zip(l.commit_sizes.iter()) {
                total += c;
                let _ = writeln!(o, "charter_log_commit_size_bucket{{le=\"{b}\"}} {total}");
            }
            total += l
                .commit_sizes
                .get(COMMIT_BUCKETS.len())
                .copied()
                .unwrap_or(0);
            let _ = writeln!(o, "charter_log_commit_size_bucket{{le=\"+Inf\"}} {total}");
            let _ = writeln!(o, "charter_log_commit_size_sum {}", l.written);
            let _ = writeln!(o, "charter_log_commit_size_count {total}");
            o.push_str("# HELP charter_log_commit_seconds_total Time spent committing.\n");
            o.push_str("# TYPE charter_log_commit_seconds_total counter\n");
            let _ = writeln!(
                o,
                "charter_log_commit_seconds_total {}",
                l.commit_micros as f64 / 1e6
            );
        }
        o
    }
}

/// Escapes a label value: backslash, double quote and newline.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
