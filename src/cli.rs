//! The commands (README: Command line): `serve`, `check`, `ready`, `health`, `route`, `stats`,
//! `preview`, `simulate`, `push` and `audit`. `main.rs` only parses arguments.
//!
//! Exit codes: 0 success; 1 `check` found problems, or a runtime failure (port in use, ...);
//! 64 `serve` refused an invalid configuration; 2 bad command-line arguments (clap).

mod deliveries;
pub use deliveries::deliveries;

use std::io::IsTerminal;
use std::net::IpAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use http::{HeaderMap, HeaderName, HeaderValue};
use tokio::net::TcpListener;

use crate::app::route::Probe;
use crate::click_log::SubIds;
use crate::client::{DeviceClassifier, GeoDbs, GeoInfo};
use crate::conditions::{Dimension, SUB_IDS, Side};
use crate::counts::{CapClock, Counts};
use crate::metrics::Metrics;
use crate::redis::catalog::Published;
use crate::redis::{Shared, Unavailable};
use crate::routing::{RoutingTable, Skip};
use crate::server::Listeners;
use crate::settings::{Invalid, Runtime, Settings};
use crate::signals::Signals;
use crate::snapshot::{CatalogFrom, Snapshot};
use crate::state::{StartError, State, restore};
use crate::vocab::Screen;

/// Exit status of `serve` on an invalid configuration.
pub const EXIT_CONFIG: u8 = 64;

/// Logs to stderr; `RUST_LOG` wins over the settings' `log.level`.
pub fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// `smartlink serve`: runs until SIGTERM or SIGINT. Builds the runtime, binds the listeners,
/// installs the signals and runs the node (`server::run`).
pub fn serve(config: &Path) -> ExitCode {
    let (level, runtime, threads) = Settings::load(config).map_or_else(
        |_| ("info".into(), Runtime::PerCore, 1),
        |s| (s.log_level, s.server.runtime, s.server.threads),
    );
    init_logging(&level);
    // Per core: this runtime only runs the control work (signals, the admin listener,
    // cluster tasks); the public listener has threads of its own (`server::run`).
    let workers = match runtime {
        Runtime::PerCore => 1,
        Runtime::Shared => threads,
    };
    let runtime_built = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime_built.block_on(async {
        let state = match State::start(config) {
            Ok(s) => s,
            Err(StartError::Config(e)) => {
                eprintln!("{}: {e}", config.display());
                return ExitCode::from(EXIT_CONFIG);
            }
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        };
        let (listen, admin_listen) = {
            let s = state.snapshot();
            (s.settings.server.listen, s.settings.server.admin_listen)
        };
        let bind = async |addr| {
            TcpListener::bind(addr)
                .await
                .map_err(|e| eprintln!("cannot listen on {addr}: {e}"))
        };
        let Ok(listener) = bind(listen).await else {
            return ExitCode::FAILURE;
        };
        let admin = match admin_listen {
            Some(addr) => match bind(addr).await {
                Ok(l) => Some(l),
                Err(()) => return ExitCode::FAILURE,
            },
            None => None,
        };
        let signals = match Signals::install() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("cannot install signal handlers: {e}");
                return ExitCode::FAILURE;
            }
        };
        let shutdown = signals.until_shutdown(state.clone());
        let listeners = Listeners {
            public: listener,
            admin,
        };
        match crate::server::run(state, listeners, shutdown).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(_) => ExitCode::FAILURE,
        }
    })
}

/// `smartlink push [FILE]`: validates a catalog file (default `catalog.path`) and publishes
/// it to the cluster's Redis as the next generation of the shared catalog; every node
/// applies it within a second.
pub fn push(config: &Path, file: Option<&Path>) -> ExitCode {
    let settings = match settings(config) {
        Ok(s) => s,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::FAILURE;
        }
    };
    let Some(cluster) = &settings.cluster else {
        eprintln!(
            "{}: no [cluster] section; push publishes to a cluster's Redis (standalone, edit the catalog file and send SIGHUP)",
            config.display()
        );
        return ExitCode::FAILURE;
    };
    let path = file.unwrap_or(settings.catalog_source());
    let catalog = match crate::catalog::load(path) {
        Ok((catalog, _)) => catalog,
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            eprintln!("{} problem(s); nothing published", errors.len());
            return ExitCode::FAILURE;
        }
    };
    let json = match crate::catalog::save::render(&catalog) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("cannot render the catalog: {e}");
            return ExitCode::FAILURE;
        }
    };
    let marks = crate::vocab::Entity::ALL.map(|e| catalog.largest_id(e));
    let published = with_shared(cluster, async |shared| {
        for _ in 0..8 {
            let expected = shared.catalog_head().await?.map_or(0, |h| h.generation);
            if let Published::Committed(generation) =
                shared.publish_catalog(expected, 0, &json, &marks).await?
            {
                return Ok(Some(generation));
            }
        }
        Ok(None)
    });
    match published {
        Ok(Some(generation)) => {
            let change = crate::audit::Change {
                key: None,
                call: "push".into(),
                params: serde_json::json!({"file": path}),
            };
            let record = change.record(&settings.node(), generation);
            let audited = std::fs::create_dir_all(&settings.state_dir)
                .and_then(|()| crate::audit::append(&settings.state_dir, &record));
            if let Err(e) = audited {
                // Published all the same: the cluster serves it whether or not it is audited.
                eprintln!(
                    "warning: cannot append to the audit log in {}: {e}",
                    crate::files::Resolved(&settings.state_dir)
                );
            }
            print(
                format_args!(
                    "published {} as generation {generation} of the shared catalog",
                    crate::files::Resolved(path)
                ),
                ExitCode::SUCCESS,
            )
        }
        Ok(None) => {
            eprintln!("other writers kept committing first; nothing published, retry");
            ExitCode::FAILURE
        }
        Err(message) => {
            eprintln!("{message}; nothing published");
            ExitCode::FAILURE
        }
    }
}

/// Arguments of `smartlink audit`.
pub struct AuditArgs<'a> {
    pub config: &'a Path,
    /// RFC 3339: records at or after it.
    pub since: Option<&'a str>,
    /// RFC 3339: records before it.
    pub until: Option<&'a str>,
    pub call: Option<&'a str>,
    /// A key's fingerprint, as the records show it.
    pub key: Option<&'a str>,
    /// The records as stored, one JSON object a line.
    pub json: bool,
}

/// `smartlink audit`: the records of the audit log in the state directory, oldest first.
pub fn audit(args: &AuditArgs) -> ExitCode {
    match audit_text(args) {
        Ok(text) if text.is_empty() => ExitCode::SUCCESS,
        Ok(text) => print(text.trim_end(), ExitCode::SUCCESS),
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

/// The settings of `config`, or every error in them, one a line.
fn settings(config: &Path) -> Result<Settings, String> {
    Settings::load(config).map_err(|invalid| {
        let lines: Vec<String> = invalid.errors.iter().map(ToString::to_string).collect();
        lines.join("\n")
    })
}

fn audit_text(args: &AuditArgs) -> Result<String, String> {
    let settings = settings(args.config)?;
    let time = |flag: &str, text: Option<&str>| {
        text.map(|t| crate::clock::parse_time(t).map_err(|e| format!("--{flag}: {e}")))
            .transpose()
    };
    let filter = crate::audit::Filter {
        since: time("since", args.since)?,
        until: time("until", args.until)?,
        call: args.call.map(str::to_string),
        key: args.key.map(str::to_string),
    };
    let dir = &settings.state_dir;
    let read = crate::audit::read(dir).map_err(|e| {
        format!(
            "cannot read {}: {e}",
            crate::files::Resolved(&crate::audit::path(dir))
        )
    })?;
    for line in &read.skipped {
        eprintln!(
            "warning: line {line} of {} is not a record (torn by a crash?); skipped",
            crate::files::Resolved(&crate::audit::path(dir))
        );
    }
    let mut text = String::new();
    for r in read.records.iter().filter(|r| filter.matches(r)) {
        if args.json {
            text += &serde_json::to_string(r).unwrap_or_default();
        } else {
            text += &format!(
                "{}  {}  key {}  generation {}  {}  {}",
                r.time,
                r.node,
                r.key.as_deref().unwrap_or("-"),
                r.generation,
                r.call,
                r.params
            );
            if let Some(why) = &r.refused {
                text += &format!("  refused: {why}");
            }
        }
        text.push('\n');
    }
    Ok(text)
}

/// Runs `work` against the Redis of `settings`, on a runtime of its own.
fn with_shared<T>(
    settings: &crate::settings::Cluster,
    work: impl AsyncFnOnce(&Shared) -> Result<T, Unavailable>,
) -> Result<T, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async {
        let shared = Shared::open(settings, Arc::new(Metrics::default())).map_err(|e| e.0)?;
        shared.follow().await;
        work(&shared)
            .await
            .map_err(|e| format!("{e} ({})", settings.redis()))
    })
}

/// `smartlink check`: validates everything, prints a summary or every problem.
pub fn check(config: &Path) -> ExitCode {
    match Snapshot::load(config, 0, &Counts::default(), CatalogFrom::File) {
        Ok(s) => print(format_args!("{}\nOK", summary(&s)), ExitCode::SUCCESS),
        Err(e) => {
            let mut text = String::new();
            for p in &e.problems {
                text += &format!("{p}\n");
            }
            text += &format!("{} problem(s); configuration rejected", e.problems.len());
            print(text, ExitCode::FAILURE)
        }
    }
}

/// `smartlink ready`: asks the server of these settings for `/readyz` on `server.listen`
/// (on loopback when it listens on every address) and exits 0 on `200`; 1 on any other
/// answer, on none within `timeout`, or when the settings name no address. Container health
/// checks run it, so the image needs neither curl nor a shell. Settings that are invalid only
/// elsewhere (secrets kept in the server's environment) still name the address.
pub fn ready(config: &Path, timeout: std::time::Duration) -> ExitCode {
    let listen = match Settings::load(config) {
        Ok(s) => s.server.listen,
        Err(Invalid {
            errors,
            partial: Some(s),
        }) if !errors.iter().any(|e| {
            matches!(e, crate::settings::SettingsError::Invalid { key, .. } if key == "server.listen")
        }) =>
        {
            s.server.listen
        }
        Err(invalid) => {
            for e in &invalid.errors {
                eprintln!("{e}");
            }
            return ExitCode::FAILURE;
        }
    };
    let addr = on_loopback(listen);
    match local_get(addr, "/readyz", timeout).map(|(status, _)| status) {
        Ok(200) => print(format_args!("ready ({addr})"), ExitCode::SUCCESS),
        Ok(status) => {
            eprintln!("not ready: http://{addr}/readyz answered {status}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("not ready: http://{addr}/readyz: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `addr`, on loopback when it is every address.
fn on_loopback(addr: std::net::SocketAddr) -> std::net::SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            (std::net::Ipv4Addr::LOCALHOST, addr.port()).into()
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            (std::net::Ipv6Addr::LOCALHOST, addr.port()).into()
        }
        _ => addr,
    }
}

/// Longest answer [`local_get`] reads.
const MAX_LOCAL_ANSWER: usize = 64 << 20;

/// The status and body of `GET target` at `addr` (this machine's server), all of it within
/// `timeout`. The body is what follows the head up to the end of the connection (the server
/// answers with a length and closes on `Connection: close`).
fn local_get(
    addr: std::net::SocketAddr,
    target: &str,
    timeout: std::time::Duration,
) -> std::io::Result<(u16, Vec<u8>)> {
    use std::io::{Error, ErrorKind, Read, Write};
    let deadline = std::time::Instant::now() + timeout;
    let left = || {
        deadline
            .checked_duration_since(std::time::Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| Error::new(ErrorKind::TimedOut, format!("no answer within {timeout:?}")))
    };
    let mut stream = std::net::TcpStream::connect_timeout(&addr, left()?)?;
    stream.set_write_timeout(Some(left()?))?;
    stream.write_all(
        format!("GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
    )?;
    let mut answer = Vec::with_capacity(1024);
    let mut buf = [0u8; 8192];
    while answer.len() < MAX_LOCAL_ANSWER {
        stream.set_read_timeout(Some(left()?))?;
        match stream.read(&mut buf)? {
            0 => break,
            n => answer.extend_from_slice(&buf[..n]),
        }
    }
    // `HTTP/1.1 200 ...`, the headers, an empty line, the body.
    let status = answer
        .split(|&b| b == b' ')
        .nth(1)
        .and_then(|s| std::str::from_utf8(s).ok())
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| Error::new(ErrorKind::InvalidData, "not an HTTP answer"))?;
    let body = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or_else(Vec::new, |at| answer[at + 4..].to_vec());
    Ok((status, body))
}

/// `smartlink health`: asks the running server of these settings (its API, on the admin
/// listener when there is one, with the first API key) what health checks found of every
/// offer and landing page, and prints one line each, or (`json`) the API's answer. Exit 1
/// when the server cannot be asked, 0 otherwise (whatever the destinations' states).
pub fn health(config: &Path, json: bool, timeout: std::time::Duration) -> ExitCode {
    let settings = match settings(config) {
        Ok(s) => s,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::FAILURE;
        }
    };
    let Some(key) = settings
        .api
        .keys
        .iter()
        .chain(&settings.api.read_keys)
        .next()
    else {
        eprintln!(
            "{}: no API key in [api] keys; health asks the server's API",
            config.display()
        );
        return ExitCode::FAILURE;
    };
    let addr = on_loopback(
        settings
            .server
            .admin_listen
            .unwrap_or(settings.server.listen),
    );
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("api_key", key)
        .finish();
    let target = format!("/api/2/destination_health.json?{query}");
    let answer = match local_get(addr, &target, timeout) {
        Ok((200, body)) => body,
        Ok((status, body)) => {
            eprintln!(
                "http://{addr}/api/2/destination_health.json answered {status}: {}",
                String::from_utf8_lossy(&body)
            );
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("cannot ask http://{addr}/api/2/destination_health.json: {e}");
            return ExitCode::FAILURE;
        }
    };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&answer) else {
        eprintln!("http://{addr}/api/2/destination_health.json answered no JSON");
        return ExitCode::FAILURE;
    };
    if json {
        return print(v, ExitCode::SUCCESS);
    }
    print(health_text(&v), ExitCode::SUCCESS)
}

/// One line per destination of a `destination_health.json` answer.
fn health_text(v: &serde_json::Value) -> String {
    let word = |v: &serde_json::Value| match v {
        serde_json::Value::Null => "-".to_string(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut text = format!(
        "health checks {}, all_down = {}\n{:<13} {:>10}  {:<9} {:<24} {:>7}  {}",
        if v["enabled"] == true { "on" } else { "off" },
        word(&v["all_down"]),
        "kind",
        "id",
        "state",
        "last check",
        "latency",
        "last error",
    );
    for d in v["destinations"].as_array().into_iter().flatten() {
        let latency = match d["latency_ms"].as_u64() {
            Some(ms) => format!("{ms} ms"),
            None => "-".into(),
        };
        text += &format!(
            "\n{:<13} {:>10}  {:<9} {:<24} {:>7}  {}",
            word(&d["kind"]),
            word(&d["id"]),
            word(&d["state"]),
            word(&d["last_check"]),
            latency,
            word(&d["last_error"]),
        );
    }
    text
}

/// Writes `text` and a newline to stdout and returns `status`. A reader that stopped reading
/// (`smartlink stats | head -1`) is not a failure of the command: the rest is not written,
/// quietly. (`println!` would panic on the closed pipe.)
fn print(text: impl std::fmt::Display, status: ExitCode) -> ExitCode {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Ok(()) => status,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => status,
        Err(e) => {
            eprintln!("cannot write the output: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `5 active, 1 paused`: how often each status occurs, in order of first occurrence.
fn tally(statuses: impl Iterator<Item = &'static str>) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for status in statuses {
        match counts.iter_mut().find(|(k, _)| *k == status) {
            Some((_, n)) => *n += 1,
            None => counts.push((status, 1)),
        }
    }
    let parts: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
    parts.join(", ")
}

fn summary(s: &Snapshot) -> String {
    let c = &s.catalog;
    let mut out = format!(
        "settings   {} (listen {}, state {}, timezone {})\n",
        s.settings.path.display(),
        s.settings.server.listen,
        s.settings.state_dir.display(),
        s.settings.tracking.timezone
    );
    out += &format!(
        "catalog    {}: {} affiliates; {} offers ({}); {} smart links ({}) with {} attachments; {} campaigns; {} creatives; {} landing pages\n",
        s.settings.catalog_source().display(),
        c.affiliates.len(),
        c.offers.len(),
        tally(c.offers.iter().map(|o| o.offer_status.as_str())),
        c.smart_links.len(),
        tally(c.smart_links.iter().map(|l| l.smart_link_status.as_str())),
        c.smart_links.iter().map(|l| l.offers.len()).sum::<usize>(),
        c.campaigns.len(),
        c.creatives.len(),
        c.landing_pages.len(),
    );
    let geo = &s.geo;
    let databases = [
        ("geoip", geo.location.as_ref().map(|d| d.info())),
        ("asn", geo.asn.as_ref().map(|d| d.info())),
        ("anonymous", geo.anonymous.as_ref().map(|d| d.info())),
    ];
    for (name, info) in databases {
        out += &match info {
            Some(i) => format!("{name:<10} {}\n", describe(i)),
            None if name == "geoip" => {
                "geoip      none: no click has a country; country and region rules never match\n"
                    .to_string()
            }
            None => continue,
        };
    }
    out += &format!("fallback   {}", s.settings.server.default_fallback_url);
    if let Some(cluster) = &s.settings.cluster {
        out += &format!(
            "\ncluster    node {:?}, {}",
            cluster.node_id,
            cluster.redis()
        );
    }
    let mut warnings = never_qualifying(&s.table, geo);
    warnings.extend(rotating_without_pages(s));
    if s.settings.routing.anonymous == Screen::Fallback && geo.anonymous.is_none() {
        warnings.push(
            "routing.anonymous = \"fallback\" sends nothing to the fallback: no geoip.anonymous_database is configured".into(),
        );
    }
    for w in warnings {
        out += &format!("\nwarning    {w}");
    }
    out
}

/// One line on a GeoIP database: file, type, build date, size, what its records hold.
fn describe(i: &GeoInfo) -> String {
    let built = jiff::Timestamp::from_second(i.build_epoch as i64)
        .map(|t| t.strftime("%Y-%m-%d").to_string())
        .unwrap_or_default();
    format!(
        "{}: {} (IPv{} tree), built {built}, {} networks, {}",
        i.path.display(),
        i.database_type,
        i.ip_version,
        i.networks,
        i.holds
    )
}

/// Why a condition of dimension `d` never matches any click with these databases.
fn without_database(d: Dimension, geo: &GeoDbs) -> Option<&'static str> {
    match d {
        Dimension::Country if geo.location.is_none() => Some("no geoip.database is configured"),
        Dimension::Region if !geo.has_regions() => {
            Some("the GeoIP database has no regions (geoip.database must be a City database)")
        }
        Dimension::Asn if geo.asn.is_none() => Some("no geoip.asn_database is configured"),
        Dimension::Anonymous if geo.anonymous.is_none() => {
            Some("no geoip.anonymous_database is configured")
        }
        _ => None,
    }
}

/// Attachments that can never take a click with this table, and conditions that never match.
fn never_qualifying(table: &RoutingTable, geo: &GeoDbs) -> Vec<String> {
    let mut warnings = Vec::new();
    for link in table.links() {
        for a in link.attachments.iter() {
            let at = format!(
                "smart link {} never routes to offer {}",
                link.id, a.offer_id
            );
            match a.blocked {
                Some(Skip::OfferPaused) => warnings.push(format!("{at}: its offer is paused")),
                Some(Skip::OfferDeleted) => warnings.push(format!("{at}: its offer is deleted")),
                _ => {}
            }
            for rule in a.rules.iter() {
                let d = rule.set.dimension();
                let field = d.field(Side::Attachment, rule.exclude);
                if let Some(why) = without_database(d, geo) {
                    warnings.push(match rule.exclude {
                        false => format!("{at}: its {field} never matches: {why}"),
                        true => format!(
                            "smart link {}, offer {}: its {field} never turns a click away: {why}",
                            link.id, a.offer_id
                        ),
                    });
                    continue;
                }
                if rule.exclude {
                    continue;
                }
                let excluded = || {
                    a.rules
                        .iter()
                        .any(|e| e.exclude && e.set.dimension() == d && rule.set.within(&e.set))
                };
                if rule.set.is_empty() {
                    warnings.push(match d {
                        Dimension::Schedule => format!("{at}: its schedule has no time in it"),
                        _ => format!(
                            "{at}: its {field} and the offer's {} have nothing in common",
                            d.field(Side::Offer, false)
                        ),
                    });
                } else if excluded() {
                    warnings.push(format!(
                        "{at}: every value of its {field} is excluded (its {} and the offer's {})",
                        d.field(Side::Attachment, true),
                        d.field(Side::Offer, true)
                    ));
                }
            }
        }
    }
    warnings
}

/// Offers with `landing_page_rotation` and no active landing page: allowed (their clicks go
/// to the offer's URL), but likely a page paused by mistake.
fn rotating_without_pages(s: &Snapshot) -> Vec<String> {
    s.catalog
        .offers
        .iter()
        .filter(|o| o.landing_page_rotation)
        .filter(|o| {
            s.table
                .offer_by_id(o.offer_id)
                .is_some_and(|t| t.landing_pages.is_none())
        })
        .map(|o| {
            format!(
                "offer {} rotates landing pages but has no active one: its clicks go to its offer_url",
                o.offer_id
            )
        })
        .collect()
}

/// Arguments of `smartlink route`.
pub struct RouteArgs<'a> {
    pub config: &'a Path,
    pub link: u32,
    /// The client address as the TCP peer; default 127.0.0.1 (a trusted proxy by default,
    /// so an `X-Forwarded-For` given with `--header` is honoured).
    pub ip: Option<IpAddr>,
    pub user_agent: Option<&'a str>,
    pub headers: &'a [String],
    /// `s1=value` .. `s5=value`.
    pub subs: &'a [String],
    /// RFC 3339; now when absent.
    pub at: Option<&'a str>,
}

/// `smartlink route`: the decision for one click, as JSON, recording nothing.
pub fn route(args: &RouteArgs) -> ExitCode {
    match explain(args) {
        Ok(report) => print(format_args!("{report:#}"), ExitCode::SUCCESS),
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

/// The configuration with the counters saved in its state directory (read only).
fn load_with_counters(config: &Path) -> Result<(Snapshot, Counts), String> {
    let counts = Counts::default();
    let snapshot =
        Snapshot::load(config, 0, &counts, CatalogFrom::File).map_err(|e| e.to_string())?;
    restore(&snapshot, &counts).map_err(|e| e.to_string())?;
    Ok((snapshot, counts))
}

/// `smartlink stats`: the statistics in the state directory, as JSON; in cluster mode the
/// cluster's, from Redis, with each node's share.
/// With `affiliate`, that affiliate's statistics over its links (as `affiliate_stats.json`).
pub fn stats(
    config: &Path,
    (link, affiliate): (Option<u32>, Option<u32>),
    from: Option<&str>,
    to: Option<&str>,
) -> ExitCode {
    let report = load_with_counters(config).and_then(|(snapshot, counts)| {
        let now = crate::clock::unix_secs(std::time::SystemTime::now());
        let range = match (from, to) {
            (None, None) => None,
            _ => Some(crate::stats::hours(from, to, now).map_err(|e| match e {
                crate::stats::BadRange::NotATime(name, _) => format!("--{name}: {e}"),
                crate::stats::BadRange::Empty | crate::stats::BadRange::TooLong => {
                    format!("--{e}")
                }
            })?),
        };
        let table = &snapshot.table;
        let link = match link {
            Some(id) => Some(
                table
                    .link(id)
                    .ok_or_else(|| format!("smart link {id} does not exist"))?,
            ),
            None => None,
        };
        let cluster = match &snapshot.settings.cluster {
            Some(settings) => Some(with_shared(settings, async |shared| {
                crate::stats::cluster(shared, range.as_ref().map(|r| r.start)).await
            })?),
            None => None,
        };
        let counts = cluster.as_ref().map_or(&counts, |c| &c.total);
        if let Some(id) = affiliate {
            if !snapshot
                .catalog
                .affiliates
                .iter()
                .any(|a| a.affiliate_id == id)
            {
                return Err(format!("affiliate {id} does not exist"));
            }
            return Ok(crate::stats::affiliate::report(
                id,
                counts,
                cluster.as_ref(),
                range,
            ));
        }
        let clock = CapClock::now(&snapshot.calendar);
        Ok(crate::stats::report(
            table,
            counts,
            &clock,
            link,
            cluster.as_ref(),
            range,
        ))
    });
    match report {
        Ok(r) => print(format_args!("{r:#}"), ExitCode::SUCCESS),
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

/// Arguments of `smartlink preview`.
pub struct PreviewArgs<'a> {
    pub config: &'a Path,
    /// The changed catalog.
    pub file: &'a Path,
    pub hours: u32,
    pub link: Option<u32>,
}

/// `smartlink preview`: the catalog in `file` replayed on this node's click log against
/// the one served, as JSON (docs/api.md#change-preview); nothing changes.
pub fn preview(args: &PreviewArgs) -> ExitCode {
    let report = load_with_counters(args.config).and_then(|(snapshot, counts)| {
        let (changed, _) = crate::catalog::load(args.file).map_err(|errors| {
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        })?;
        let now = crate::clock::unix_secs(std::time::SystemTime::now());
        let scope = crate::preview::Scope {
            from: now - i64::from(args.hours) * 3600,
            to: now + 1,
            link: args.link,
            max_records: snapshot.settings.preview.max_records,
        };
        let cluster = match &snapshot.settings.cluster {
            Some(settings) => Some(with_shared(settings, async |shared| {
                Ok(crate::preview::ClusterShare::of(shared, scope.from).await)
            })?),
            None => None,
        };
        crate::preview::run(
            &snapshot,
            &counts,
            &changed,
            &snapshot.settings.state_dir,
            &scope,
            cluster.as_ref(),
        )
        .map_err(|e| format!("cannot read the click log: {e}"))
    });
    match report {
        Ok(r) => print(format_args!("{r:#}"), ExitCode::SUCCESS),
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

/// `smartlink simulate`: the offline evaluation of rotation strategies.
pub fn simulate(scenario: &str, seeds: u64, recompute_minutes: u32) -> ExitCode {
    use crate::simulate::{Options, Scenario, report};
    let scenarios = match scenario {
        "default" => vec![Scenario::default_scenario()],
        "change" => vec![Scenario::changing()],
        "both" => vec![Scenario::default_scenario(), Scenario::changing()],
        other => {
            eprintln!("--scenario {other:?}: one of default, change, both");
            return ExitCode::FAILURE;
        }
    };
    let options = Options {
        seeds,
        recompute_minutes,
    };
    let tables: Vec<String> = scenarios.iter().map(|s| report(s, options)).collect();
    print(tables.join("\n"), ExitCode::SUCCESS)
}

fn explain(args: &RouteArgs) -> Result<serde_json::Value, String> {
    let (snapshot, _registry) = load_with_counters(args.config)?;
    let mut headers = HeaderMap::new();
    if let Some(ua) = args.user_agent {
        let v = HeaderValue::from_str(ua).map_err(|_| "--ua is not a valid header value")?;
        headers.insert(http::header::USER_AGENT, v);
    }
    for h in args.headers {
        let (name, value) = h
            .split_once(':')
            .ok_or_else(|| format!("--header {h:?} is not 'Name: value'"))?;
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| format!("--header {h:?}: invalid header name"))?;
        let value = HeaderValue::from_str(value.trim())
            .map_err(|_| format!("--header {h:?}: invalid header value"))?;
        headers.append(name, value);
    }
    let link = snapshot
        .table
        .link(args.link)
        .ok_or_else(|| format!("smart link {} does not exist", args.link))?;
    let mut subs: SubIds = Default::default();
    for sub in args.subs {
        let index = sub
            .split_once('=')
            .and_then(|(name, value)| Some((SUB_IDS.iter().position(|s| *s == name)?, value)));
        let Some((index, value)) = index else {
            return Err(format!("--sub {sub:?} is not 's1=value' .. 's5=value'"));
        };
        subs[index] = Some(value.to_string().into());
    }
    let probe = Probe {
        peer: args.ip.unwrap_or(IpAddr::from([127, 0, 0, 1])),
        headers: &headers,
        subs,
        time: crate::app::route::time(args.at).map_err(|e| format!("--at {e}"))?,
    };
    Ok(crate::app::route::report(
        &snapshot,
        link,
        &probe,
        &DeviceClassifier::new(),
    ))
}
