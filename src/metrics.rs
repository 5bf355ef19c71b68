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

use crate::vocab::{FallbackReason, PostbackAnswer, Rejection};

pub const CLICKS: &str = "smartlink_clicks_total";
pub const CONVERSIONS: &str = "smartlink_conversions_total";
pub const REVENUE: &str = "smartlink_revenue_total";
pub const COST: &str = "smartlink_cost_total";
pub const API_READ_ONLY_REFUSALS: &str = "smartlink_api_read_only_refusals_total";
pub const CONSOLE_SIGN_INS: &str = "smartlink_console_sign_ins_total";
pub const CONSOLE_SESSION_REFUSALS: &str = "smartlink_console_session_refusals_total";
pub const ERROR_RESPONSES: &str = "smartlink_error_responses_total";
pub const REQUEST_DURATION: &str = "smartlink_request_duration_seconds";
pub const RELOADS: &str = "smartlink_reloads_total";
pub const RELOAD_FAILURES: &str = "smartlink_reload_failures_total";
pub const CATALOG_WRITES: &str = "smartlink_catalog_writes_total";
pub const CATALOG_WRITE_FAILURES: &str = "smartlink_catalog_write_failures_total";
pub const AUDIT_WRITE_FAILURES: &str = "smartlink_audit_write_failures_total";
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
pub const OFFERS_NEAR_CAP: &str = "smartlink_offers_near_cap";
pub const CAPPED_CLICKS: &str = "smartlink_capped_clicks_total";
/// Writes of `counters.json`. (Renamed from `smartlink_counter_saves_total`: a metric name
/// must not contain a type name, and promtool refused it.)
pub const STATE_SAVES: &str = "smartlink_state_saves_total";
pub const STATE_SAVE_FAILURES: &str = "smartlink_state_save_failures_total";
pub const BUILD_INFO: &str = "smartlink_build_info";
pub const LAST_RELOAD: &str = "smartlink_last_reload_success_timestamp_seconds";
pub const CLICK_LOG_QUEUE: &str = "smartlink_click_log_queue_depth";
pub const CLUSTER_REDIS_UP: &str = "smartlink_cluster_redis_up";
pub const CLUSTER_REDIS_COMMANDS: &str = "smartlink_cluster_redis_commands_total";
pub const CLUSTER_LEASE_REQUESTS: &str = "smartlink_cluster_lease_requests_total";
pub const CLUSTER_LEASE_CLICKS: &str = "smartlink_cluster_lease_clicks_total";
pub const CLUSTER_CLICKS_WITHOUT_LEASE: &str = "smartlink_cluster_clicks_without_lease_total";
pub const CLUSTER_CATALOG_GENERATION: &str = "smartlink_cluster_catalog_generation";
pub const CLUSTER_CATALOG_DELAY: &str = "smartlink_cluster_catalog_propagation_seconds";
pub const CLUSTER_PRIMARY_SWITCHES: &str = "smartlink_cluster_primary_switches_total";
pub const CLUSTER_UNREPLICATED_WRITES: &str = "smartlink_cluster_unreplicated_writes_total";
pub const HEALTH_PROBES: &str = "smartlink_health_probes_total";
pub const DESTINATION_CHANGES: &str = "smartlink_destination_state_changes_total";
pub const DESTINATIONS_DOWN: &str = "smartlink_destinations_down";
pub const POSTBACKS_QUEUED: &str = "smartlink_postbacks_queued";
pub const PARTNER_POSTBACK_ATTEMPTS: &str = "smartlink_partner_postback_attempts_total";
pub const PARTNER_POSTBACKS_PENDING: &str = "smartlink_partner_postbacks_pending";
pub const PARTNER_POSTBACKS_FAILED: &str = "smartlink_partner_postbacks_failed";
pub const PARTNER_POSTBACKS_IN_FLIGHT: &str = "smartlink_partner_postbacks_in_flight";
pub const PARTNER_POSTBACKS_OLDEST_PENDING: &str =
    "smartlink_partner_postbacks_oldest_pending_age_seconds";
pub const PROCESS_CPU: &str = "process_cpu_seconds_total";
pub const PROCESS_RESIDENT: &str = "process_resident_memory_bytes";
pub const PROCESS_VIRTUAL: &str = "process_virtual_memory_bytes";
pub const PROCESS_OPEN_FDS: &str = "process_open_fds";
pub const PROCESS_MAX_FDS: &str = "process_max_fds";
pub const PROCESS_START: &str = "process_start_time_seconds";

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

/// Upper bounds of the latency histograms, in seconds: from the microseconds of a click to
/// the seconds of a large API write.
const BUCKETS: [f64; 17] = [
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
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

    /// The series of this histogram; `labels` is `key="value",` (or empty).
    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (i, bound) in BUCKETS.iter().enumerate() {
            cumulative += self.buckets[i].get();
            let _ = writeln!(out, "{name}_bucket{{{labels}le=\"{bound}\"}} {cumulative}");
        }
        cumulative += self.buckets[BUCKETS.len()].get();
        let _ = writeln!(out, "{name}_bucket{{{labels}le=\"+Inf\"}} {cumulative}");
        let labels = labels.trim_end_matches(',');
        let _ = writeln!(
            out,
            "{name}_sum{{{labels}}} {}",
            self.sum_nanos.get() as f64 / 1e9
        );
        let _ = writeln!(out, "{name}_count{{{labels}}} {cumulative}");
    }
}

/// Which endpoint a request went to, for its latency histogram: clicks take microseconds,
/// API writes milliseconds, and one histogram of both would say little of either.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndpointKind {
    /// `/sl`
    SmartLink,
    /// `/rd/…`
    Campaign,
    /// `/p`
    Postback,
    /// `/api/2/…`
    Api,
    /// Health, readiness, metrics, unknown paths.
    Other,
}

impl EndpointKind {
    const ALL: [EndpointKind; 5] = [
        EndpointKind::SmartLink,
        EndpointKind::Campaign,
        EndpointKind::Postback,
        EndpointKind::Api,
        EndpointKind::Other,
    ];

    fn as_str(self) -> &'static str {
        match self {
            EndpointKind::SmartLink => "sl",
            EndpointKind::Campaign => "rd",
            EndpointKind::Postback => "p",
            EndpointKind::Api => "api",
            EndpointKind::Other => "other",
        }
    }
}

/// How a console sign-in was answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignIn {
    SignedIn,
    /// Not a configured key (`401`).
    BadKey,
    /// Over `console.sign_in_attempts_per_minute` (`429`).
    Limited,
}

impl SignIn {
    const ALL: [SignIn; 3] = [SignIn::SignedIn, SignIn::BadKey, SignIn::Limited];

    fn as_str(self) -> &'static str {
        match self {
            SignIn::SignedIn => "signed_in",
            SignIn::BadKey => "bad_key",
            SignIn::Limited => "limited",
        }
    }
}

/// Why an API call with a session cookie was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionRefusal {
    /// Not a token this server signed (or its key is gone).
    Invalid,
    Expired,
    /// Signed out.
    Revoked,
    /// A write without the anti-CSRF token, or from another origin.
    Csrf,
}

impl SessionRefusal {
    const ALL: [SessionRefusal; 4] = [
        SessionRefusal::Invalid,
        SessionRefusal::Expired,
        SessionRefusal::Revoked,
        SessionRefusal::Csrf,
    ];

    fn as_str(self) -> &'static str {
        match self {
            SessionRefusal::Invalid => "invalid",
            SessionRefusal::Expired => "expired",
            SessionRefusal::Revoked => "revoked",
            SessionRefusal::Csrf => "csrf",
        }
    }
}

/// The process's metrics. Values owned by other parts (the device cache, the snapshot
/// generation) are passed to [`Metrics::render`].
#[derive(Default)]
pub struct Metrics {
    postbacks: [Counter; PostbackAnswer::ALL.len()],
    rejected: [Counter; Rejection::ALL.len()],
    sign_ins: [Counter; SignIn::ALL.len()],
    session_refusals: [Counter; SessionRefusal::ALL.len()],
    /// Write calls refused to read-only keys (`api.read_keys`).
    pub read_only_refusals: Counter,
    request_duration: [Histogram; EndpointKind::ALL.len()],
    pub reloads: Counter,
    pub reload_failures: Counter,
    pub catalog_writes: Counter,
    pub catalog_write_failures: Counter,
    /// Catalog changes served but not appended to the audit log (disk error).
    pub audit_write_failures: Counter,
    pub records_written: Counter,
    pub records_dropped: Counter,
    pub record_write_errors: Counter,
    pub connections_open: Gauge,
    pub connections_accepted: Counter,
    pub accept_errors: Counter,
    pub conversion_write_errors: Counter,
    pub state_saves: Counter,
    pub state_save_failures: Counter,
    /// Click records handed to the log queue, and taken from it by the writer: their
    /// difference is the queue's depth.
    pub records_queued: Counter,
    pub records_dequeued: Counter,
    /// Partner postback attempts by result: delivered, retry, failed.
    pub partner_postbacks_delivered: Counter,
    pub partner_postbacks_retried: Counter,
    pub partner_postbacks_failed: Counter,
    pub partner_postbacks_in_flight: Gauge,
    /// Unix seconds of the last successful load of the configuration (start or SIGHUP).
    last_reload: AtomicU64,
    /// Destination health probes this node made, by result.
    pub health_probes_succeeded: Counter,
    pub health_probes_failed: Counter,
    /// Destinations this node's probes found going down, and coming back up.
    pub destinations_went_down: Counter,
    pub destinations_came_up: Counter,
    /// Cluster mode's metrics (rendered only in cluster mode).
    pub cluster: ClusterMetrics,
}

/// What a node in cluster mode counts of its work with Redis.
#[derive(Default)]
pub struct ClusterMetrics {
    /// Commands and scripts sent to Redis, answered or not.
    pub redis_commands: Counter,
    /// Lease requests by answer: granted, refused (the cap is reached), failed (no answer).
    pub lease_granted: Counter,
    pub lease_refused: Counter,
    pub lease_failed: Counter,
    /// Clicks received in grants, and given back unspent.
    pub lease_clicks_granted: Counter,
    pub lease_clicks_returned: Counter,
    /// Sentinel mode: switches to a new primary (failovers followed).
    pub primary_switches: Counter,
    /// Lease grants and conversion commits no replica acknowledged in time (tried again).
    pub unreplicated_writes: Counter,
    /// Generation of the shared catalog this node applied, and how long after its commit.
    pub catalog_generation: AtomicU64,
    pub catalog_delay_ms: AtomicU64,
}

/// Values of cluster mode that live outside [`Metrics`].
pub struct ClusterValues {
    pub redis_up: bool,
    /// Clicks that matched a click-capped offer while the node held no lease of it.
    pub clicks_without_lease: u64,
    /// Postbacks in the node's queue, waiting for Redis.
    pub postbacks_queued: u64,
}

/// Values that live outside [`Metrics`] but are exported with it.
#[derive(Default)]
pub struct External {
    /// Counted clicks (lifetime totals of the counters): routed, and by fallback reason
    /// (indexed by `FallbackReason as usize`).
    pub clicks_routed: u64,
    pub clicks_fell_back: [u64; FallbackReason::ALL.len()],
    /// Counted conversions, their revenue and their cost (lifetime totals of the counters,
    /// as clicks).
    pub conversions: u64,
    pub revenue: f64,
    pub cost: f64,
    /// This process's node name (`cluster.node_id`, standalone the host name).
    pub node: String,
    pub table_generation: u64,
    pub device_cache_hits: u64,
    pub device_cache_misses: u64,
    pub converted_clicks_tracked: u64,
    /// Offers of the current table that have reached a cap now.
    pub offers_capped: u64,
    /// Offers of the current table at 90 % of a cap or more that have not reached one.
    pub offers_near_cap: u64,
    /// Clicks turned away by caps, summed over offers.
    pub capped_clicks: u64,
    /// Destinations of the current table that health checks found down (0 with them off).
    pub destinations_down: u64,
    /// `None`: standalone.
    pub cluster: Option<ClusterValues>,
    /// Partner postbacks waiting to be delivered (in flight included), and failed ones kept
    /// for a retry.
    pub partner_postbacks_pending: u64,
    pub partner_postbacks_failed: u64,
    /// Age of the oldest pending partner postback (0: none).
    pub partner_postbacks_oldest_pending_secs: u64,
}

impl Metrics {
    /// Times one request to `endpoint`.
    #[inline]
    pub fn observe(&self, endpoint: EndpointKind, elapsed: Duration) {
        self.request_duration[endpoint as usize].observe(elapsed);
    }

    /// Notes a successful load of the configuration, now.
    pub fn reloaded_now(&self) {
        let now = crate::clock::unix_secs(std::time::SystemTime::now());
        self.last_reload.store(now.max(0) as u64, Ordering::Relaxed);
    }

    pub fn postback(&self, p: PostbackAnswer) {
        self.postbacks[p as usize].inc();
    }

    #[inline]
    pub fn rejected(&self, r: Rejection) {
        self.rejected[r as usize].inc();
    }

    pub fn sign_in(&self, s: SignIn) {
        self.sign_ins[s as usize].inc();
    }

    pub fn session_refused(&self, r: SessionRefusal) {
        self.session_refusals[r as usize].inc();
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
        let _ = writeln!(o, "{CLICKS}{{outcome=\"routed\"}} {}", ext.clicks_routed);
        for (reason, n) in FallbackReason::ALL.iter().zip(ext.clicks_fell_back) {
            let _ = writeln!(
                o,
                "{CLICKS}{{outcome=\"fallback\",reason=\"{}\"}} {n}",
                reason.as_str()
            );
        }
        help(
            &mut o,
            CONVERSIONS,
            "counter",
            "Conversions counted (recorded postbacks), of routed clicks and of fallbacks.",
        );
        let _ = writeln!(o, "{CONVERSIONS} {}", ext.conversions);
        help(
            &mut o,
            REVENUE,
            "counter",
            "Revenue of the counted conversions, in the catalog's currency.",
        );
        let _ = writeln!(o, "{REVENUE} {}", ext.revenue);
        help(
            &mut o,
            COST,
            "counter",
            "What the network pays affiliates for the counted conversions (their affiliate payouts), in the catalog's currency.",
        );
        let _ = writeln!(o, "{COST} {}", ext.cost);
        counter_family(
            &mut o,
            POSTBACKS,
            "Postbacks by answer.",
            "result",
            PostbackAnswer::ALL
                .iter()
                .zip(&self.postbacks)
                .map(|(p, c)| (p.as_str(), c.get())),
        );
        counter_family(
            &mut o,
            ERROR_RESPONSES,
            "Error responses built by the application, by status.",
            "status",
            Rejection::ALL
                .iter()
                .zip(&self.rejected)
                .map(|(r, c)| (r.status().as_u16(), c.get())),
        );
        counter_family(
            &mut o,
            CONSOLE_SIGN_INS,
            "Console sign-ins by answer: signed_in, bad_key (401), limited (429, console.sign_in_attempts_per_minute).",
            "result",
            SignIn::ALL
                .iter()
                .zip(&self.sign_ins)
                .map(|(s, c)| (s.as_str(), c.get())),
        );
        counter_family(
            &mut o,
            CONSOLE_SESSION_REFUSALS,
            "API calls with a session cookie refused, by reason: invalid, expired, revoked (signed out), csrf (a write without the anti-CSRF token or from another origin).",
            "reason",
            SessionRefusal::ALL
                .iter()
                .zip(&self.session_refusals)
                .map(|(r, c)| (r.as_str(), c.get())),
        );
        help(
            &mut o,
            REQUEST_DURATION,
            "histogram",
            "Time from request head to response, by endpoint (sl, rd, p, api, other).",
        );
        for (e, h) in EndpointKind::ALL.iter().zip(&self.request_duration) {
            h.render(
                &mut o,
                REQUEST_DURATION,
                &format!("endpoint=\"{}\",", e.as_str()),
            );
        }
        help(
            &mut o,
            BUILD_INFO,
            "gauge",
            "Always 1; the labels say which build is running, and as which node.",
        );
        let _ = writeln!(
            o,
            "{BUILD_INFO}{{version=\"{}\",node=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION"),
            label_value(&ext.node)
        );
        counter_family(
            &mut o,
            PARTNER_POSTBACK_ATTEMPTS,
            "Partner postback attempts, by result (delivered; retry: another attempt follows; failed: given up).",
            "result",
            [
                ("delivered", self.partner_postbacks_delivered.get()),
                ("retry", self.partner_postbacks_retried.get()),
                ("failed", self.partner_postbacks_failed.get()),
            ],
        );
        counter_family(
            &mut o,
            HEALTH_PROBES,
            "Destination health probes this node made, by result (failure: no answer in time, or a 5xx).",
            "result",
            [
                ("success", self.health_probes_succeeded.get()),
                ("failure", self.health_probes_failed.get()),
            ],
        );
        counter_family(
            &mut o,
            DESTINATION_CHANGES,
            "Destinations this node's health probes found going down or coming back up.",
            "state",
            [
                ("down", self.destinations_went_down.get()),
                ("up", self.destinations_came_up.get()),
            ],
        );
        let queued = self.records_queued.get();
        let depth = queued.saturating_sub(self.records_dequeued.get());
        let simple: [(&str, &str, &str, u64); 29] = [
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
                AUDIT_WRITE_FAILURES,
                "counter",
                "Catalog changes served but not appended to the audit log (disk error).",
                self.audit_write_failures.get(),
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
                OFFERS_NEAR_CAP,
                "gauge",
                "Offers in the routing table at 90 % or more of a cap they have not reached.",
                ext.offers_near_cap,
            ),
            (
                DESTINATIONS_DOWN,
                "gauge",
                "Offers and landing pages in the routing table that health checks found down.",
                ext.destinations_down,
            ),
            (
                CAPPED_CLICKS,
                "counter",
                "Clicks an offer qualified for but was skipped because capped.",
                ext.capped_clicks,
            ),
            (
                STATE_SAVES,
                "counter",
                "Writes of counters.json, the saved counts.",
                self.state_saves.get(),
            ),
            (
                STATE_SAVE_FAILURES,
                "counter",
                "Failed writes of counters.json (retried every second).",
                self.state_save_failures.get(),
            ),
            (
                LAST_RELOAD,
                "gauge",
                "Unix time of the last successful load of the configuration (start or SIGHUP).",
                self.last_reload.load(Ordering::Relaxed),
            ),
            (
                API_READ_ONLY_REFUSALS,
                "counter",
                "Write calls refused (403) because the key or session is read-only (api.read_keys).",
                self.read_only_refusals.get(),
            ),
            (
                CLICK_LOG_QUEUE,
                "gauge",
                "Click records waiting in the queue for the log writer.",
                depth,
            ),
            (
                PARTNER_POSTBACKS_PENDING,
                "gauge",
                "Partner postbacks not yet delivered and not failed (in flight included).",
                ext.partner_postbacks_pending,
            ),
            (
                PARTNER_POSTBACKS_FAILED,
                "gauge",
                "Partner postbacks that failed and are kept for a retry (retry_partner_postback.json).",
                ext.partner_postbacks_failed,
            ),
            (
                PARTNER_POSTBACKS_IN_FLIGHT,
                "gauge",
                "Partner postback attempts in flight.",
                self.partner_postbacks_in_flight.get().max(0) as u64,
            ),
            (
                PARTNER_POSTBACKS_OLDEST_PENDING,
                "gauge",
                "Age in seconds of the oldest pending partner postback (0 when none is pending).",
                ext.partner_postbacks_oldest_pending_secs,
            ),
        ];
        for (name, kind, text, value) in simple {
            help(&mut o, name, kind, text);
            let _ = writeln!(o, "{name} {value}");
        }
        if let Some(values) = &ext.cluster {
            self.cluster.render(&mut o, values);
        }
        render_process(&mut o);
        o
    }
}

impl ClusterMetrics {
    fn render(&self, o: &mut String, values: &ClusterValues) {
        counter_family(
            o,
            CLUSTER_LEASE_REQUESTS,
            "Click-cap lease requests to Redis, by answer (refused: the cap is reached).",
            "result",
            [
                ("granted", self.lease_granted.get()),
                ("refused", self.lease_refused.get()),
                ("failed", self.lease_failed.get()),
            ],
        );
        counter_family(
            o,
            CLUSTER_LEASE_CLICKS,
            "Clicks of click caps leased from Redis, and given back unspent.",
            "event",
            [
                ("granted", self.lease_clicks_granted.get()),
                ("returned", self.lease_clicks_returned.get()),
            ],
        );
        let delay = self.catalog_delay_ms.load(Ordering::Relaxed) as f64 / 1000.0;
        let simple: [(&str, &str, &str, f64); 8] = [
            (
                CLUSTER_REDIS_UP,
                "gauge",
                "1 when the last Redis operation succeeded.",
                f64::from(u8::from(values.redis_up)),
            ),
            (
                CLUSTER_REDIS_COMMANDS,
                "counter",
                "Commands and scripts sent to Redis.",
                self.redis_commands.get() as f64,
            ),
            (
                CLUSTER_PRIMARY_SWITCHES,
                "counter",
                "Sentinel mode: switches to a new primary named by the sentinels (failovers followed).",
                self.primary_switches.get() as f64,
            ),
            (
                CLUSTER_UNREPLICATED_WRITES,
                "counter",
                "Lease grants and conversion commits no replica acknowledged in time (tried again).",
                self.unreplicated_writes.get() as f64,
            ),
            (
                CLUSTER_CLICKS_WITHOUT_LEASE,
                "counter",
                "Clicks that matched a click-capped offer while this node held no lease of it.",
                values.clicks_without_lease as f64,
            ),
            (
                CLUSTER_CATALOG_GENERATION,
                "gauge",
                "Generation of the shared catalog this node serves.",
                self.catalog_generation.load(Ordering::Relaxed) as f64,
            ),
            (
                CLUSTER_CATALOG_DELAY,
                "gauge",
                "Time from the commit of the generation served to its swap on this node.",
                delay,
            ),
            (
                POSTBACKS_QUEUED,
                "gauge",
                "Postbacks queued on this node while Redis was unreachable.",
                values.postbacks_queued as f64,
            ),
        ];
        for (name, kind, text, value) in simple {
            help(o, name, kind, text);
            let _ = writeln!(o, "{name} {value}");
        }
    }
}

/// The `process_*` metrics of the Prometheus client conventions, read from `/proc/self`
/// (Linux) when `/metrics` is asked for; left out where they cannot be read.
fn render_process(o: &mut String) {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return;
    };
    // Fields after the command name, which is in parentheses and may hold spaces.
    let Some(fields) = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect::<Vec<_>>())
    else {
        return;
    };
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok());
    // SAFETY: sysconf and getrlimit only read values of the process.
    let (ticks, page) = unsafe {
        (
            libc::sysconf(libc::_SC_CLK_TCK).max(1) as f64,
            libc::sysconf(libc::_SC_PAGESIZE).max(1) as u64,
        )
    };
    let mut values: Vec<(&str, &str, &str, f64)> = Vec::new();
    if let (Some(user), Some(system)) = (field(14), field(15)) {
        let cpu = (user + system) as f64 / ticks;
        values.push((
            PROCESS_CPU,
            "counter",
            "User and system CPU time, seconds.",
            cpu,
        ));
    }
    if let Some(vsize) = field(23) {
        values.push((
            PROCESS_VIRTUAL,
            "gauge",
            "Virtual memory size, bytes.",
            vsize as f64,
        ));
    }
    if let Some(rss) = field(24) {
        let bytes = (rss * page) as f64;
        values.push((
            PROCESS_RESIDENT,
            "gauge",
            "Resident memory size, bytes.",
            bytes,
        ));
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        let open = fds.count().saturating_sub(1) as f64; // less the directory read itself
        values.push((PROCESS_OPEN_FDS, "gauge", "Open file descriptors.", open));
    }
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct passed.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
        let max = limit.rlim_cur as f64;
        values.push((
            PROCESS_MAX_FDS,
            "gauge",
            "Maximum open file descriptors.",
            max,
        ));
    }
    let boot = std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|v| v.trim().parse::<u64>().ok())
    });
    if let (Some(boot), Some(start)) = (boot, field(22)) {
        let at = boot as f64 + start as f64 / ticks;
        values.push((
            PROCESS_START,
            "gauge",
            "Start time, seconds since the Unix epoch.",
            at,
        ));
    }
    for (name, kind, text, value) in values {
        help(o, name, kind, text);
        let _ = writeln!(o, "{name} {value}");
    }
}

/// `value` escaped for a label value of the text format (backslash, quote, line feed).
fn label_value(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn help(o: &mut String, name: &str, kind: &str, text: &str) {
    let _ = writeln!(o, "# HELP {name} {text}\n# TYPE {name} {kind}");
}

/// A counter family with one label: its help, then a line per value of the label.
fn counter_family<V: std::fmt::Display>(
    o: &mut String,
    name: &str,
    text: &str,
    label: &str,
    series: impl IntoIterator<Item = (V, u64)>,
) {
    help(o, name, "counter", text);
    for (value, n) in series {
        let _ = writeln!(o, "{name}{{{label}=\"{value}\"}} {n}");
    }
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
        m.observe(EndpointKind::SmartLink, Duration::from_micros(20));
        m.observe(EndpointKind::SmartLink, Duration::from_micros(700));
        m.observe(EndpointKind::SmartLink, Duration::from_secs(30));
        m.observe(EndpointKind::Api, Duration::from_millis(30));
        let text = m.render(&External::default());
        let sl = |rest: &str| format!("smartlink_request_duration_seconds{rest}\n");
        assert!(text.contains(&sl("_bucket{endpoint=\"sl\",le=\"0.000025\"} 1")));
        assert!(text.contains(&sl("_bucket{endpoint=\"sl\",le=\"0.001\"} 2")));
        assert!(text.contains(&sl("_bucket{endpoint=\"sl\",le=\"5\"} 2")));
        assert!(text.contains(&sl("_bucket{endpoint=\"sl\",le=\"+Inf\"} 3")));
        assert!(text.contains(&sl("_count{endpoint=\"sl\"} 3")));
        assert!(text.contains(&sl("_bucket{endpoint=\"api\",le=\"0.025\"} 0")));
        assert!(text.contains(&sl("_bucket{endpoint=\"api\",le=\"0.05\"} 1")));
        assert!(text.contains(&sl("_count{endpoint=\"rd\"} 0")));
    }

    #[test]
    fn clicks_are_labelled_by_outcome() {
        let m = Metrics::default();
        let mut clicks_fell_back = [0; FallbackReason::ALL.len()];
        clicks_fell_back[FallbackReason::Bot as usize] = 2;
        let text = m.render(&External {
            table_generation: 4,
            clicks_routed: 1,
            clicks_fell_back,
            ..External::default()
        });
        assert!(text.contains("smartlink_clicks_total{outcome=\"routed\"} 1\n"));
        assert!(text.contains("smartlink_clicks_total{outcome=\"fallback\",reason=\"bot\"} 2\n"));
        assert!(text.contains("smartlink_table_generation 4\n"));
    }

    #[test]
    fn build_info_names_the_node_escaped() {
        let text = Metrics::default().render(&External {
            node: "edge-\"1\"\\".into(),
            ..External::default()
        });
        let line = text
            .lines()
            .find(|l| l.starts_with("smartlink_build_info{"))
            .unwrap();
        assert!(line.ends_with(r#",node="edge-\"1\"\\"} 1"#), "{line}");
    }
}
