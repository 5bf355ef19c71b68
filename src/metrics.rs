//! Metrics: every metric name in one place, the counters behind them, Prometheus text output.
//!
//! Cost: a [`Counter`] increment is one relaxed `fetch_add` on a cache line owned by the
//! calling thread's shard (no sharing between cores on the hot path, ~1–2 ns); reading sums
//! the shards, which only `/metrics` does. Labels are fixed enumerations, never ids, so the
//! number of series is bounded whatever the catalog holds.

use std::cell::Cell;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use http::StatusCode;

use crate::routing::FallbackReason;

pub const CLICKS: &str = "smartlink_clicks_total";
pub const ERROR_RESPONSES: &str = "smartlink_error_responses_total";
pub const REQUEST_DURATION: &str = "smartlink_request_duration_seconds";
pub const RELOADS: &str = "smartlink_reloads_total";
pub const RELOAD_FAILURES: &str = "smartlink_reload_failures_total";
pub const CATALOG_WRITES: &str = "smartlink_catalog_writes_total";
pub const CATALOG_WRITE_FAILURES: &str = "smartlink_catalog_write_failures_total";
pub const TABLE_GENERATION: &str = "smartlink_table_generation";
pub const DEVICE_CACHE_HITS: &str = "smartlink_device_cache_hits_total";
pub const DEVICE_CACHE_MISSES: &str = "smartlink_device_cache_misses_total";
pub const RECORDS_WRITTEN: &str = "smartlink_records_written_total";
pub const RECORDS_DROPPED: &str = "smartlink_records_dropped_total";
pub const RECORD_WRITE_ERRORS: &str = "smartlink_record_write_errors_total";
pub const CONNECTIONS_OPEN: &str = "smartlink_connections_open";
pub const CONNECTIONS_ACCEPTED: &str = "smartlink_connections_accepted_total";
pub const ACCEPT_ERRORS: &str = "smartlink_accept_errors_total";
pub const POSTBACKS: &str = "smartlink_postbacks_total";
pub const CONVERSION_WRITE_ERRORS: &str = "smartlink_conversion_write_errors_total";
pub const CONVERTED_CLICKS_TRACKED: &str = "smartlink_converted_clicks_tracked";
pub const OFFERS_CAPPED: &str = "smartlink_offers_capped";
pub const CAPPED_CLICKS: &str = "smartlink_capped_clicks_total";
pub const COUNTER_SAVES: &str = "smartlink_counter_saves_total";
pub const COUNTER_SAVE_FAILURES: &str = "smartlink_counter_save_failures_total";

const SHARDS: usize = 8;

/// Padded to its own cache line so that shards never share one.
#[repr(align(128))]
#[derive(Default)]
struct Padded(AtomicU64);

static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static SHARD: Cell<usize> = const { Cell::new(usize::MAX) };
}

fn shard() -> usize {
    SHARD.with(|s| {
        if s.get() == usize::MAX {
            s.set(NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % SHARDS);
        }
        s.get()
    })
}

/// A monotonically increasing counter, sharded by thread.
#[derive(Default)]
pub struct Counter([Padded; SHARDS]);

impl Counter {
    #[inline]
    pub fn add(&self, n: u64) {
        self.0[shard()].0.fetch_add(n, Ordering::Relaxed);
    }

    #[inline]
    pub fn inc(&self) {
        self.add(1);
    }

    pub fn get(&self) -> u64 {
        self.0.iter().map(|p| p.0.load(Ordering::Relaxed)).sum()
    }
}

/// A value that goes up and down (rarely updated: no sharding).
#[derive(Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    pub fn add(&self, n: i64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.05, 0.25, 1.0,
];

/// A latency histogram with fixed buckets (Prometheus `histogram`).
#[derive(Default)]
pub struct Histogram {
    /// Count per bucket (not cumulative); the last is `+Inf`.
    buckets: [Counter; BUCKETS.len() + 1],
    sum_nanos: Counter,
}

impl Histogram {
    #[inline]
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = BUCKETS
            .iter()
            .position(|&b| secs <= b)
            .unwrap_or(BUCKETS.len());
        self.buckets[i].inc();
        self.sum_nanos.add(d.as_nanos() as u64);
    }

    fn render(&self, out: &mut String, name: &str) {
        let mut cumulative = 0;
        for (i, bound) in BUCKETS.iter().enumerate() {
            cumulative += self.buckets[i].get();
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        cumulative += self.buckets[BUCKETS.len()].get();
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
        let _ = writeln!(out, "{name}_sum {}", self.sum_nanos.get() as f64 / 1e9);
        let _ = writeln!(out, "{name}_count {cumulative}");
    }
}

/// Error responses the application builds, counted by status. (hyper answers `431` for
/// oversized heads and `400` for unparseable ones itself; those never reach the service.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    BadRequest,
    NotFound,
    MethodNotAllowed,
    UriTooLong,
    PayloadTooLarge,
    Timeout,
    Internal,
    /// Management API: missing or unknown `api_key`.
    Unauthorized,
    /// Management API: the catalog file changed on disk since it was loaded.
    Conflict,
    /// Management API: well-formed, but refused by the catalog's rules.
    Unprocessable,
    /// Management API: the catalog could not be written (disk).
    Unavailable,
}

impl Rejection {
    const ALL: [Rejection; 11] = [
        Rejection::BadRequest,
        Rejection::NotFound,
        Rejection::MethodNotAllowed,
        Rejection::UriTooLong,
        Rejection::PayloadTooLarge,
        Rejection::Timeout,
        Rejection::Internal,
        Rejection::Unauthorized,
        Rejection::Conflict,
        Rejection::Unprocessable,
        Rejection::Unavailable,
    ];

    /// The status of the responses this counts: the one mapping from rejection to status,
    /// used by every error response and by the metric's label.
    pub fn status(self) -> StatusCode {
        match self {
            Rejection::BadRequest => StatusCode::BAD_REQUEST,
            Rejection::NotFound => StatusCode::NOT_FOUND,
            Rejection::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Rejection::UriTooLong => StatusCode::URI_TOO_LONG,
            Rejection::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Rejection::Timeout => StatusCode::REQUEST_TIMEOUT,
            Rejection::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Rejection::Unauthorized => StatusCode::UNAUTHORIZED,
            Rejection::Conflict => StatusCode::CONFLICT,
            Rejection::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
            Rejection::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// How a postback was answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Postback {
    Recorded,
    Duplicate,
    /// The click is older than the attribution window.
    Expired,
    /// Malformed or forged click id, or a bad amount (`400`).
    Invalid,
    /// Not recorded for a server-side reason (`503`).
    Unavailable,
}

impl Postback {
    const ALL: [Postback; 5] = [
        Postback::Recorded,
        Postback::Duplicate,
        Postback::Expired,
        Postback::Invalid,
        Postback::Unavailable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Postback::Recorded => "recorded",
            Postback::Duplicate => "duplicate",
            Postback::Expired => "expired",
            Postback::Invalid => "invalid",
            Postback::Unavailable => "unavailable",
        }
    }
}

/// The process's metrics. Values owned by other parts (the device cache, the snapshot
/// generation) are passed to [`Metrics::render`].
#[derive(Default)]
pub struct Metrics {
    routed: Counter,
    fallbacks: [Counter; FallbackReason::ALL.len()],
    postbacks: [Counter; Postback::ALL.len()],
    rejected: [Counter; Rejection::ALL.len()],
    pub request_duration: Histogram,
    pub reloads: Counter,
    pub reload_failures: Counter,
    pub catalog_writes: Counter,
    pub catalog_write_failures: Counter,
    pub records_written: Counter,
    pub records_dropped: Counter,
    pub record_write_errors: Counter,
    pub connections_open: Gauge,
    pub connections_accepted: Counter,
    pub accept_errors: Counter,
    pub conversion_write_errors: Counter,
    pub counter_saves: Counter,
    pub counter_save_failures: Counter,
}

/// Values that live outside [`Metrics`] but are exported with it.
pub struct External {
    pub table_generation: u64,
    pub device_cache_hits: u64,
    pub device_cache_misses: u64,
    pub converted_clicks_tracked: u64,
    /// Offers of the current table that have reached a cap now.
    pub offers_capped: u64,
    /// Clicks turned away by caps, summed over offers.
    pub capped_clicks: u64,
}

impl Metrics {
    #[inline]
    pub fn click_routed(&self) {
        self.routed.inc();
    }

    #[inline]
    pub fn click_fallback(&self, reason: FallbackReason) {
        self.fallbacks[reason as usize].inc();
    }

    pub fn postback(&self, p: Postback) {
        self.postbacks[p as usize].inc();
    }

    #[inline]
    pub fn rejected(&self, r: Rejection) {
        self.rejected[r as usize].inc();
    }

    /// Routed and fallback clicks so far.
    pub fn clicks(&self) -> u64 {
        self.routed.get() + self.fallbacks.iter().map(Counter::get).sum::<u64>()
    }

    /// Prometheus text exposition format, version 0.0.4.
    pub fn render(&self, ext: &External) -> String {
        let mut o = String::with_capacity(4096);
        help(
            &mut o,
            CLICKS,
            "counter",
            "Clicks (GET) on smart links and campaigns, by outcome.",
        );
        let _ = writeln!(o, "{CLICKS}{{outcome=\"routed\"}} {}", self.routed.get());
        for (reason, c) in FallbackReason::ALL.iter().zip(&self.fallbacks) {
            let _ = writeln!(
                o,
                "{CLICKS}{{outcome=\"fallback\",reason=\"{}\"}} {}",
                reason.as_str(),
                c.get()
            );
        }
        help(&mut o, POSTBACKS, "counter", "Postbacks by answer.");
        for (p, c) in Postback::ALL.iter().zip(&self.postbacks) {
            let _ = writeln!(o, "{POSTBACKS}{{result=\"{}\"}} {}", p.as_str(), c.get());
        }
        help(
            &mut o,
            ERROR_RESPONSES,
            "counter",
            "Error responses built by the application, by status.",
        );
        for (r, c) in Rejection::ALL.iter().zip(&self.rejected) {
            let _ = writeln!(
                o,
                "{ERROR_RESPONSES}{{status=\"{}\"}} {}",
                r.status().as_str(),
                c.get()
            );
        }
        help(
            &mut o,
            REQUEST_DURATION,
            "histogram",
            "Time from request head to response, all endpoints.",
        );
        self.request_duration.render(&mut o, REQUEST_DURATION);
        let simple: [(&str, &str, &str, u64); 19] = [
            (
                RELOADS,
                "counter",
                "Successful reloads of settings, catalog and GeoIP.",
                self.reloads.get(),
            ),
            (
                RELOAD_FAILURES,
                "counter",
                "Reloads rejected; the previous table kept serving.",
                self.reload_failures.get(),
            ),
            (
                CATALOG_WRITES,
                "counter",
                "Management API writes saved to the catalog file and swapped in.",
                self.catalog_writes.get(),
            ),
            (
                CATALOG_WRITE_FAILURES,
                "counter",
                "Management API writes not saved: disk error, or the file changed by hand.",
                self.catalog_write_failures.get(),
            ),
            (
                TABLE_GENERATION,
                "gauge",
                "Generation of the routing table in use (1 at start).",
                ext.table_generation,
            ),
            (
                DEVICE_CACHE_HITS,
                "counter",
                "User agents classified from the cache.",
                ext.device_cache_hits,
            ),
            (
                DEVICE_CACHE_MISSES,
                "counter",
                "User agents parsed by woothee.",
                ext.device_cache_misses,
            ),
            (
                RECORDS_WRITTEN,
                "counter",
                "Click records written to the log.",
                self.records_written.get(),
            ),
            (
                RECORDS_DROPPED,
                "counter",
                "Click records dropped because the queue was full.",
                self.records_dropped.get(),
            ),
            (
                RECORD_WRITE_ERRORS,
                "counter",
                "Failed writes of the click log (retried).",
                self.record_write_errors.get(),
            ),
            (
                CONNECTIONS_OPEN,
                "gauge",
                "Client connections open now.",
                self.connections_open.get().max(0) as u64,
            ),
            (
                CONNECTIONS_ACCEPTED,
                "counter",
                "Client connections accepted.",
                self.connections_accepted.get(),
            ),
            (
                ACCEPT_ERRORS,
                "counter",
                "Errors accepting connections (e.g. out of file descriptors).",
                self.accept_errors.get(),
            ),
            (
                CONVERSION_WRITE_ERRORS,
                "counter",
                "Failed writes of the conversion log (those postbacks got 503).",
                self.conversion_write_errors.get(),
            ),
            (
                CONVERTED_CLICKS_TRACKED,
                "gauge",
                "Converted click ids kept for duplicate detection.",
                ext.converted_clicks_tracked,
            ),
            (
                OFFERS_CAPPED,
                "gauge",
                "Offers in the routing table that have reached a cap.",
                ext.offers_capped,
            ),
            (
                CAPPED_CLICKS,
                "counter",
                "Clicks an offer qualified for but was skipped because capped.",
                ext.capped_clicks,
            ),
            (
                COUNTER_SAVES,
                "counter",
                "Counter files written.",
                self.counter_saves.get(),
            ),
            (
                COUNTER_SAVE_FAILURES,
                "counter",
                "Failed writes of the counter file (retried every second).",
                self.counter_save_failures.get(),
            ),
        ];
        for (name, kind, text, value) in simple {
            help(&mut o, name, kind, text);
            let _ = writeln!(o, "{name} {value}");
        }
        o
    }
}

fn help(o: &mut String, name: &str, kind: &str, text: &str) {
    let _ = writeln!(o, "# HELP {name} {text}\n# TYPE {name} {kind}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_sums_increments_from_many_threads() {
        let c = Counter::default();
        std::thread::scope(|s| {
            for _ in 0..16 {
                s.spawn(|| (0..1000).for_each(|_| c.inc()));
            }
        });
        assert_eq!(c.get(), 16_000);
    }

    #[test]
    fn histogram_buckets_are_cumulative() {
        let m = Metrics::default();
        m.request_duration.observe(Duration::from_micros(10));
        m.request_duration.observe(Duration::from_micros(700));
        m.request_duration.observe(Duration::from_secs(3));
        let text = m.render(&External {
            table_generation: 1,
            device_cache_hits: 0,
            device_cache_misses: 0,
            converted_clicks_tracked: 0,
            offers_capped: 0,
            capped_clicks: 0,
        });
        assert!(text.contains("smartlink_request_duration_seconds_bucket{le=\"0.000025\"} 1\n"));
        assert!(text.contains("smartlink_request_duration_seconds_bucket{le=\"0.001\"} 2\n"));
        assert!(text.contains("smartlink_request_duration_seconds_bucket{le=\"1\"} 2\n"));
        assert!(text.contains("smartlink_request_duration_seconds_bucket{le=\"+Inf\"} 3\n"));
        assert!(text.contains("smartlink_request_duration_seconds_count 3\n"));
    }

    #[test]
    fn clicks_are_labelled_by_outcome() {
        let m = Metrics::default();
        m.click_routed();
        m.click_fallback(FallbackReason::Bot);
        m.click_fallback(FallbackReason::Bot);
        assert_eq!(m.clicks(), 3);
        let text = m.render(&External {
            table_generation: 4,
            device_cache_hits: 0,
            device_cache_misses: 0,
            converted_clicks_tracked: 0,
            offers_capped: 0,
            capped_clicks: 0,
        });
        assert!(text.contains("smartlink_clicks_total{outcome=\"routed\"} 1\n"));
        assert!(text.contains("smartlink_clicks_total{outcome=\"fallback\",reason=\"bot\"} 2\n"));
        assert!(text.contains("smartlink_table_generation 4\n"));
    }
}
