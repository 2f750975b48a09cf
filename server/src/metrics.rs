//! Prometheus metrics, kept in atomics on the request path and encoded on a scrape by
//! prometheus-client's Prometheus text encoder (version 0.0.4): the hot path stays a
//! relaxed `fetch_add`, and a scrape copies the counters into a [`Scrape`], the
//! collector the encoder reads.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use charter_log::{LogStats, COMMIT_BUCKETS};
use charter_runtime::{Effect, Status};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    prometheus_text, DescriptorEncoder, EncodeCounterValue, EncodeGaugeValue, EncodeMetric,
    NoLabelSet,
};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

/// The content type of what [`Metrics::render`] writes.
pub(crate) const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

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

    /// The buckets as they are now, their sum divided by `scale` (1e6 turns the
    /// microseconds of a latency into seconds).
    fn snapshot(&self, bounds: &[f64], scale: f64) -> HistogramSnapshot {
        let counts = self.counts.iter().map(|c| c.load(Ordering::Relaxed));
        HistogramSnapshot::new(
            bounds.iter().copied().zip(counts).collect(),
            self.over.load(Ordering::Relaxed),
            self.sum_micros.load(Ordering::Relaxed) as f64 / scale,
        )
    }
}

/// A histogram's values at a scrape: each finite bucket's own count (the encoder
/// makes them cumulative and adds `+Inf`), every observation counted, and their sum.
#[derive(Debug)]
struct HistogramSnapshot {
    buckets: Vec<(f64, u64)>,
    count: u64,
    sum: f64,
}

impl HistogramSnapshot {
    fn new(buckets: Vec<(f64, u64)>, over: u64, sum: f64) -> Self {
        let count = buckets.iter().map(|(_, c)| c).sum::<u64>() + over;
        HistogramSnapshot {
            buckets,
            count,
            sum,
        }
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

    /// The Prometheus text exposition (version 0.0.4, [`CONTENT_TYPE`]).
    pub fn render(&self, status: &Status, log: Option<&LogStats>) -> Result<String, fmt::Error> {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(self.scrape(status, log)));
        let mut out = String::with_capacity(8192);
        prometheus_text::encode(&mut out, &registry)?;
        Ok(out)
    }

    /// The counters as they are now, beside the engine's and the log's.
    fn scrape(&self, status: &Status, log: Option<&LogStats>) -> Scrape {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let batch_bounds: Vec<f64> = BATCH.iter().map(|b| *b as f64).collect();
        let mut responses: Vec<(String, u64)> = STATUSES
            .iter()
            .zip(self.responses.iter())
            .map(|(s, c)| (s.to_string(), load(c)))
            .collect();
        responses.push(("other".to_string(), load(&self.other_responses)));
        // A status never answered has no series, as before any was counted.
        responses.retain(|(_, n)| *n > 0);
        Scrape {
            allow: load(&self.allow),
            deny: load(&self.deny),
            unrecorded: load(&self.unrecorded),
            decide_latency: self.decide_latency.snapshot(&LATENCY, 1e6),
            batch_latency: self.batch_latency.snapshot(&LATENCY, 1e6),
            batch_sizes: self.batch_sizes.snapshot(&batch_bounds, 1.0),
            responses,
            status: status.clone(),
            log: log.cloned(),
        }
    }
}

/// What one scrape reports: the server's counters copied out of their atomics, the
/// engine's status and the log's stats. The encoder reads it as a [`Collector`].
#[derive(Debug)]
struct Scrape {
    allow: u64,
    deny: u64,
    unrecorded: u64,
    decide_latency: HistogramSnapshot,
    batch_latency: HistogramSnapshot,
    batch_sizes: HistogramSnapshot,
    /// `(code, count)` of the statuses answered at least once.
    responses: Vec<(String, u64)>,
    status: Status,
    log: Option<LogStats>,
}

impl Collector for Scrape {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), fmt::Error> {
        // Counters are named without `_total`: the encoder appends it to their samples
        // and to their HELP and TYPE lines.
        counters(
            &mut e,
            "charter_decisions",
            "Decisions answered, by outcome.",
            "decision",
            &[("allow", self.allow), ("deny", self.deny)],
        )?;
        counter(
            &mut e,
            "charter_decisions_unrecorded",
            "Decisions denied because the strict log could not record them.",
            self.unrecorded,
        )?;
        {
            let mut m = e.encode_descriptor(
                "charter_request_duration_seconds",
                "Time to answer a decide call, from its body read to its answer (the log commit included in strict mode).",
                None,
                MetricType::Histogram,
            )?;
            for (endpoint, h) in [
                ("decide", &self.decide_latency),
                ("batch", &self.batch_latency),
            ] {
                let labels = [("endpoint", endpoint)];
                m.encode_family(&labels)?
                    .encode_histogram::<NoLabelSet>(h.sum, h.count, &h.buckets, None)?;
            }
        }
        histogram(
            &mut e,
            "charter_batch_size",
            "Requests per batch decide call.",
            &self.batch_sizes,
        )?;
        let responses: Vec<(&str, u64)> = self
            .responses
            .iter()
            .map(|(code, n)| (code.as_str(), *n))
            .collect();
        counters(
            &mut e,
            "charter_http_responses",
            "Responses by HTTP status.",
            "code",
            &responses,
        )?;

        let status = &self.status;
        counters(
            &mut e,
            "charter_reloads",
            "Bundle reloads (rollbacks included), by result.",
            "result",
            &[("ok", status.reloads), ("failed", status.failures)],
        )?;
        {
            // Written as a gauge of 1, the Prometheus text format's way of an info.
            let mut m = e.encode_descriptor(
                "charter_bundle",
                "The bundle serving.",
                None,
                MetricType::Info,
            )?;
            // `signer` only when signatures are checked (`--verify-key`), so that the
            // series of an unsigned deployment keeps its labels.
            let mut labels = vec![
                ("name", status.bundle.name.as_str()),
                ("version", status.bundle.version.as_str()),
                ("hash", status.bundle.hash.as_str()),
            ];
            if let Some(signer) = &status.bundle.signer {
                labels.push(("signer", signer.as_str()));
            }
            m.encode_info(&labels)?;
        }
        gauge(
            &mut e,
            "charter_bundle_loaded_timestamp_seconds",
            "When the serving bundle was loaded.",
            status.loaded_at,
        )?;
        gauge(
            &mut e,
            "charter_bundle_reload_failing",
            "Whether the last reload failed (the previous bundle keeps serving).",
            u32::from(status.last_error.is_some()),
        )?;
        let sc = &status.slice_cache;
        {
            let mut m = e.encode_descriptor(
                "charter_slice_cache_slices",
                "Per-scenario policy sets held parsed, and the most that may be.",
                None,
                MetricType::Gauge,
            )?;
            for (state, n) in [
                ("resident", sc.resident),
                ("capacity", sc.capacity),
                ("total", sc.slices),
            ] {
                let labels = [("state", state)];
                ConstGauge::new(n).encode(m.encode_family(&labels)?)?;
            }
        }
        counters(
            &mut e,
            "charter_slice_cache_lookups",
            "Decisions' lookups of a per-scenario set, by whether it was held (a miss parses it).",
            "result",
            &[("hit", sc.hits), ("miss", sc.misses)],
        )?;
        counter(
            &mut e,
            "charter_slice_cache_evictions",
            "Per-scenario sets dropped to stay within the capacity.",
            sc.evictions,
        )?;
        gauge(
            &mut e,
            "charter_developers",
            "Developers in the fact store.",
            status.developers,
        )?;

        let Some(l) = &self.log else {
            return Ok(());
        };
        gauge(
            &mut e,
            "charter_log_queue_depth",
            "Decisions waiting to be written to the log.",
            l.queue_depth,
        )?;
        counter(
            &mut e,
            "charter_log_records",
            "Records committed to the decision log.",
            l.written,
        )?;
        counter(
            &mut e,
            "charter_log_write_errors",
            "Log commits that failed.",
            l.write_errors,
        )?;
        counter(
            &mut e,
            "charter_log_lost",
            "Relaxed-mode records lost to failed commits.",
            l.lost,
        )?;
        gauge(
            &mut e,
            "charter_log_healthy",
            "Whether the last log commit succeeded.",
            u32::from(l.healthy),
        )?;
        let commits = HistogramSnapshot::new(
            COMMIT_BUCKETS
                .iter()
                .zip(l.commit_sizes.iter())
                .map(|(b, c)| (*b as f64, *c))
                .collect(),
            l.commit_sizes
                .get(COMMIT_BUCKETS.len())
                .copied()
                .unwrap_or(0),
            // Every record committed is in exactly one commit.
            l.written as f64,
        );
        histogram(
            &mut e,
            "charter_log_commit_size",
            "Records per group commit.",
            &commits,
        )?;
        counter(
            &mut e,
            "charter_log_commit_seconds",
            "Time spent committing.",
            l.commit_micros as f64 / 1e6,
        )
    }
}

fn counter(
    e: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: impl EncodeCounterValue,
) -> Result<(), fmt::Error> {
    let m = e.encode_descriptor(name, help, None, MetricType::Counter)?;
    ConstCounter::new(value).encode(m)
}

/// A counter with one label, one series per `(label value, count)`.
fn counters(
    e: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    label: &str,
    values: &[(&str, u64)],
) -> Result<(), fmt::Error> {
    let mut m = e.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (value, n) in values {
        let labels = [(label, *value)];
        ConstCounter::new(*n).encode(m.encode_family(&labels)?)?;
    }
    Ok(())
}

fn gauge(
    e: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: impl EncodeGaugeValue,
) -> Result<(), fmt::Error> {
    let m = e.encode_descriptor(name, help, None, MetricType::Gauge)?;
    ConstGauge::new(value).encode(m)
}

fn histogram(
    e: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    h: &HistogramSnapshot,
) -> Result<(), fmt::Error> {
    let mut m = e.encode_descriptor(name, help, None, MetricType::Histogram)?;
    m.encode_histogram::<NoLabelSet>(h.sum, h.count, &h.buckets, None)
}
