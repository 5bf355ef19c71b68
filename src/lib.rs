//! smartlink: a smart-link click-routing engine for affiliate networks.
//!
//! # Request flow
//!
//! ```text
//! request ─▶ http::service ─▶ http::click (/sl, /rd) ─▶ client (lazy: IP, country, device)
//!                                   │
//!                                   ▼
//!              state ─load()─▶ Snapshot { routing table, GeoIP, signer }
//!                                   │
//!                                   ▼
//!                         routing::decide ─▶ URL ─▶ 302
//!                                   │
//!                                   ├─▶ caps (atomic check-and-reserve, counters outside the snapshot)
//!                                   └─▶ click record ─▶ clicks::log (bounded queue, writer thread)
//!
//! postback /p ─▶ http::postback ─▶ conversions::ledger (dedup, fsync) ─▶ caps counters
//! caps::saver ─▶ counters.json every second; replayed with the conversion log at start
//!
//! /api/2/* ─▶ api (calls table, params, key) ─▶ reads: the snapshot
//!                                           └─▶ writes: rebuilder thread ─▶ state::edit_catalog
//!                    (validate ─▶ compile ∥ catalog::save ─▶ swap) ─▶ next click sees it
//! ```
//!
//! # Module map
//!
//! | module     | owns                                                                |
//! |------------|---------------------------------------------------------------------|
//! | `cli`      | the commands `serve`, `check`, `route`, `stats`                      |
//! | `settings` | the TOML settings file: raw → validated                              |
//! | `catalog`  | the network JSON: entities, load with locations, validation, save    |
//! | `routing`  | compile catalog → immutable `RoutingTable`; decision; URL templates  |
//! | `client`   | request → client attributes; the only users of maxminddb and woothee |
//! | `attrs`    | `Country`, `DeviceClass`, `OsFamily`: the vocabulary shared by all   |
//! | `clicks`   | signed click ids; click records and their log writer                 |
//! | `caps`     | cap windows, counters, their registry and the counters file          |
//! | `conversions` | conversion records, converted-id set, the ledger thread, replay   |
//! | `stats`    | per-link and per-offer statistics from the counters                  |
//! | `api`      | the management API: calls, parameters, failure envelope, handlers    |
//! | `links`    | tracking links handed out by the API; encoded campaign tokens        |
//! | `route_report` | the route explanation of one click (`route`, the API)            |
//! | `rebuilder` | the low-priority thread that runs API writes and reloads            |
//! | `files`    | atomic file replacement, torn-line repair, hourly log names          |
//! | `clock`    | a request's wall-clock time from its monotonic start                 |
//! | `snapshot` | one generation of configuration, built whole                         |
//! | `state`    | the published snapshot and what outlives reloads                     |
//! | `http`     | hyper server, limits, dispatch, handlers, status mapping             |
//! | `metrics`  | metric names, counters, Prometheus text                              |
//! | `signals`  | SIGHUP reload, SIGTERM/SIGINT drain                                  |
//!
//! Data flows one way. Nothing in `routing` knows HTTP; nothing in `http` knows maxminddb
//! or woothee; the hot path takes no lock and does no I/O.

/// mimalloc for every binary that links smartlink (the server, tests, benches): a click's
/// record is allocated by a request thread and freed by the log thread, a pattern that makes
/// glibc's malloc take an arena lock on every free and stall both threads.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod api;
pub mod calendar;
pub mod catalog;
pub mod cli;
pub mod click;
pub mod clicks;
pub mod client;
pub mod clock;
pub mod conditions;
pub mod conversions;
pub mod counts;
pub mod files;
pub mod http;
pub mod links;
pub mod metrics;
pub mod rebuilder;
pub mod route_report;
pub mod routing;
pub mod settings;
pub mod signals;
pub mod snapshot;
pub mod state;
pub mod stats;
pub mod template;
pub mod vocab;
