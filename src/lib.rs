//! smartlink: a smart-link click-routing engine for affiliate networks.
//!
//! # Request flow
//!
//! ```text
//! request ─▶ http::connection (limits, lifetimes) ─▶ http::router (one table of endpoints,
//!   one check of target and method; times every request)
//!   ├─▶ /sl, /rd ─▶ http::redirect ─▶ app::click (the use case, no socket)
//!   │        client (lazy: IP, country, device, OS) ─▶ routing::decide on the snapshot's
//!   │        table (caps read and reserved, exact rotation's places taken, in counts)
//!   │        ─▶ routing::landing (the offer's landing page, drawn by weight)
//!   │        ─▶ counts (what the click did)
//!   │        ─▶ click_id (signed id) ─▶ template (URL) ─▶ 302; click_log (record ─▶ queue)
//!   ├─▶ /p ─▶ http::postback ─▶ app::postback (the use case, no socket: source, click id,
//!   │        token, window, payout; partner::url: the delivery URL) ─▶ conversions::recorder
//!   │        (cluster: claim in Redis) ─▶ conversions::ledger (dedup, fsync; the delivery in
//!   │        the conversion's line) ─▶ counts, partner::sender (a task: outbound calls)
//!   ├─▶ /console/ ─▶ http::console ─▶ console (files; the page calls /api/2/)
//!   └─▶ /api/2/ ─▶ http::api ─▶ api ─▶ reads: the snapshot
//!                                  ├─▶ preview.json: a blocking thread ─▶ preview (the click
//!                                  │   log through the table in force and the changed one)
//!                                  └─▶ writes (a call, or a batch as one): rebuilder ─▶ state::edit_catalog
//!                      (validate ─▶ compile ∥ catalog::save ─▶ swap ─▶ audit) ─▶ next click sees it
//! health (a task, off the click path) ─▶ outbound probes ─▶ counts::down (the bit a click reads)
//! counts::saver ─▶ counters.json every second; replayed with the conversion log at start
//! counts::reserve (standalone) ─▶ reservations.json: click caps' leases, on disk before spent
//! cluster (background tasks, never on a click's path) ◀─▶ redis (the shared state): the catalog,
//!   click-cap leases into counts, conversion totals, counter pushes, the postback queue
//! ```
//!
//! # Module map
//!
//! From the ground up; a module imports only modules above it in this table (`redis` sits
//! above `conversions`, whose recorder claims a conversion in Redis in cluster mode;
//! `docs/architecture.md` has the same map by floors, with the reasons).
//!
//! | module     | owns                                                                  |
//! |------------|-----------------------------------------------------------------------|
//! | `vocab`    | the shared words: client attributes, sources, reasons, caps, rejections, screens |
//! | `money`    | exact decimal money: payouts, revenue, EPC                            |
//! | `clock`    | a request's wall-clock time from its monotonic start                  |
//! | `calendar` | cap windows (day, week, month) in `tracking.timezone`                  |
//! | `template` | URL templates and their macros                                        |
//! | `files`    | atomic files, append-only logs, the directory lock, failure logging   |
//! | `outbound` | the one client that calls other servers: address policy (no SSRF), timeouts, bounded bodies, TLS |
//! | `audit`    | the audit log: one record per catalog change, key fingerprints        |
//! | `rebuilder` | the low-priority thread that runs API writes and reloads             |
//! | `notify`   | tells systemd (`Type=notify`) when the process is ready, reloading, stopping |
//! | `conditions` | targeting dimensions, declared once: parsing, compiled rules       |
//! | `metrics`  | metric names, counters, Prometheus text                               |
//! | `catalog`  | the network JSON: model, load with locations, validation, save        |
//! | `click_id` | signed click ids: issued for a click, verified for its postback       |
//! | `click_log` | click records and the writer of their hourly log files              |
//! | `settings` | the TOML settings file: raw → validated, a file a section             |
//! | `counts`   | the counter seam: every count, written by what happened               |
//! | `routing`  | `ValidCatalog` → immutable `RoutingTable`; the decision; landing pages; explanations |
//! | `client`   | request → client attributes; the only users of maxminddb and woothee  |
//! | `redis`    | cluster mode's state in Redis: catalog, leases, claims, node counters; the only user of the redis crate |
//! | `console`  | the operator console: its files (compiled in) and its sessions        |
//! | `conversions` | conversion records, converted-id set, the ledger thread, replay    |
//! | `links`    | tracking links handed out by the API; encoded campaign tokens         |
//! | `partner`  | partner postbacks: delivery URLs, the delivery log, the sender task  |
//! | `snapshot` | one generation of configuration, built whole                          |
//! | `stats`    | per-link, per-offer, per-affiliate and network statistics from the counters, by hour |
//! | `app`      | the use cases without a socket: the click, the postback, the route explanation |
//! | `preview`  | a catalog change replayed on the click log, both tables on scratch counters |
//! | `state`    | the published snapshot and what outlives reloads                      |
//! | `signals`  | SIGHUP reload, SIGTERM/SIGINT drain                                   |
//! | `simulate` | the offline evaluation of rotation strategies (`smartlink simulate`) |
//! | `optimizer` | optimized rotation's weights, recomputed every 10 s off the click path |
//! | `health`   | destination health checks: probes off the click path, down flags, cluster leases |
//! | `cluster`  | a node's background tasks in cluster mode: catalog watch, lease keeper, totals |
//! | `api`      | the management API: calls, fields, parameters, handlers, OpenAPI      |
//! | `http`     | connections, the router (one table of endpoints), handlers, responses |
//! | `server`   | a node, run: listeners and roles, cluster tasks, the optimizer, partner postbacks, per-core or shared serving, the final flush |
//! | `cli`      | the commands `serve`, `check`, `route`, `stats`, `preview`, `simulate`, `push`, `audit`, `deliveries` |
//!
//! Data flows one way. Nothing in `routing` knows HTTP; nothing in `http` knows maxminddb
//! or woothee; the hot path takes no lock and does no I/O.

/// mimalloc for every binary that links smartlink (the server, tests, benches): a click's
/// record is allocated by a request thread and freed by the log thread, a pattern that makes
/// glibc's malloc take an arena lock on every free and stall both threads.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod api;
pub mod app;
pub mod audit;
pub mod calendar;
pub mod catalog;
pub mod cli;
pub mod click_id;
pub mod click_log;
pub mod client;
pub mod clock;
pub mod cluster;
pub mod conditions;
pub mod console;
pub mod conversions;
pub mod counts;
pub mod files;
pub mod health;
pub mod http;
pub mod links;
pub mod metrics;
pub mod money;
pub mod notify;
pub mod optimizer;
pub mod outbound;
pub mod partner;
pub mod preview;
pub mod rebuilder;
pub mod redis;
pub mod routing;
pub mod server;
pub mod settings;
pub mod signals;
pub mod simulate;
pub mod snapshot;
pub mod state;
pub mod stats;
pub mod template;
pub mod vocab;
