//! The settings file (TOML, README: Configuration): read, overridden from the environment, validated.
//!
//! Pipeline: file text → [`RawSettings`] (serde mirror, every key optional, unknown keys
//! rejected so a typo cannot silently disable a setting) → [`Settings`] (validated, typed,
//! paths resolved). Validation collects *every* problem with its key before failing.
//! The program never writes this file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;

use crate::template::Template;

mod health;
mod preview;

pub use health::{AllDown, Health};
pub use preview::Preview;

/// Environment variable that overrides `tracking.click_secret`.
pub const ENV_CLICK_SECRET: &str = "SMARTLINK_CLICK_SECRET";
/// Environment variable that overrides `api.keys` (comma-separated).
pub const ENV_API_KEYS: &str = "SMARTLINK_API_KEYS";
/// Environment variable that overrides `api.read_keys` (comma-separated).
pub const ENV_API_READ_KEYS: &str = "SMARTLINK_API_READ_KEYS";
/// Environment variable that overrides `postbacks.token`.
pub const ENV_POSTBACK_TOKEN: &str = "SMARTLINK_POSTBACK_TOKEN";
/// Environment variable that overrides `cluster.redis_url` (when there is a `[cluster]`).
pub const ENV_REDIS_URL: &str = "SMARTLINK_REDIS_URL";

/// Whether `given` is the secret `expected` (an API key, a postback token), compared in
/// time independent of where they differ (`subtle`).
pub fn secret_matches(expected: &str, given: &str) -> bool {
    use subtle::ConstantTimeEq;
    expected.as_bytes().ct_eq(given.as_bytes()).into()
}

/// Shortest accepted click secret, in bytes.
pub const MIN_SECRET_LEN: usize = 16;

/// `api.max_batch_body_bytes` when not set: 1,000 calls of a few kilobytes each (an
/// attachment with long condition lists) fit.
pub const DEFAULT_MAX_BATCH_BODY_BYTES: usize = 4 << 20;

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error(
        "settings file {}: cannot read: {source}",
        crate::files::Resolved(path)
    )]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("settings file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("settings file {path}: {key}: {message}")]
    Invalid {
        path: PathBuf,
        key: String,
        message: String,
    },
}

/// Settings that failed validation: every error, and (when the file at least parsed) the
/// settings with defaults in place of the invalid values, so that `check` can go on to
/// validate the catalog and GeoIP database they name.
#[derive(Debug)]
pub struct Invalid {
    pub errors: Vec<SettingsError>,
    pub partial: Option<Box<Settings>>,
}

// ---------------------------------------------------------------------------------------------
// Raw mirror of the file.

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    catalog: RawCatalog,
    #[serde(default)]
    geoip: RawGeoip,
    #[serde(default)]
    tracking: RawTracking,
    #[serde(default)]
    state: RawState,
    #[serde(default)]
    api: RawApi,
    #[serde(default)]
    routing: RawRouting,
    #[serde(default)]
    postbacks: RawPostbacks,
    #[serde(default)]
    records: RawRecords,
    #[serde(default)]
    log: RawLog,
    #[serde(default)]
    console: RawConsole,
    /// `None` when the file has no `[cluster]` section: standalone.
    cluster: Option<RawCluster>,
    #[serde(default)]
    health: health::RawHealth,
    #[serde(default)]
    preview: preview::RawPreview,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Option<String>,
    public_base_url: Option<String>,
    vanity_base_url: Option<String>,
    trusted_proxies: Option<Vec<String>>,
    admin_listen: Option<String>,
    default_fallback_url: Option<String>,
    client_ip_header: Option<String>,
    max_connections: Option<usize>,
    max_header_bytes: Option<usize>,
    max_headers: Option<usize>,
    max_uri_bytes: Option<usize>,
    header_read_timeout_ms: Option<u64>,
    idle_timeout_ms: Option<u64>,
    max_connection_age_ms: Option<u64>,
    shutdown_grace_ms: Option<u64>,
    http2_max_concurrent_streams: Option<u32>,
    runtime: Option<String>,
    threads: Option<usize>,
    proxy_protocol: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCatalog {
    path: Option<String>,
    initial: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawGeoip {
    database: Option<String>,
    asn_database: Option<String>,
    anonymous_database: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTracking {
    click_secret: Option<String>,
    previous_click_secrets: Option<Vec<String>>,
    timezone: Option<String>,
    attribution_window_days: Option<u32>,
    max_tracked_conversions: Option<usize>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawState {
    dir: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawApi {
    keys: Option<Vec<String>>,
    read_keys: Option<Vec<String>>,
    allowed_networks: Option<Vec<String>>,
    max_body_bytes: Option<usize>,
    max_batch_body_bytes: Option<usize>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPostbacks {
    token: Option<String>,
    allowed_networks: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRouting {
    bots: Option<String>,
    anonymous: Option<String>,
    optimize_interval_ms: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRecords {
    queue_capacity: Option<usize>,
    flush_interval_ms: Option<u64>,
    click_log_retention_hours: Option<u64>,
    conversion_log_retention_days: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLog {
    level: Option<String>,
}

/// The operator console (docs/console.md).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConsole {
    enabled: Option<bool>,
    secure_cookie: Option<bool>,
    session_ttl_minutes: Option<u64>,
    sign_in_attempts_per_minute: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCluster {
    redis_url: Option<String>,
    sentinels: Option<Vec<String>>,
    sentinel_master: Option<String>,
    node_id: Option<String>,
    key_prefix: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Validated settings.

/// Which forwarding header a trusted proxy sets. Only one is read: reading both would let a
/// client forge the one its proxy passes through untouched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientIpHeader {
    XForwardedFor,
    Forwarded,
}

/// How requests are spread over threads (docs/performance.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    /// `server.threads` threads, each a single-threaded runtime accepting from the same
    /// listening socket and serving its connections start to end (the default).
    PerCore,
    /// One work-stealing runtime of `server.threads` workers.
    Shared,
}

/// What happens to clicks of a screened kind: bots (`routing.bots`) and clicks from
/// anonymizing networks (`routing.anonymous`), docs/routing.md.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Screen {
    /// Send to the fallback URL; count toward no cap.
    Fallback,
    /// Route like any other click.
    Route,
}

/// Cluster mode (docs/cluster.md): the Redis the nodes share, and this node's name in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cluster {
    /// `redis://[user:password@]host:port/db` (or `rediss://`). With `sentinel`, only its
    /// user, password and database are used: the primary's address comes from the sentinels.
    pub redis_url: String,
    /// Sentinel mode: the primary is the one these sentinels name.
    pub sentinel: Option<Sentinels>,
    /// Unique per instance; its counts and leases are kept under this name.
    pub node_id: String,
    /// Prefix of every key, so that several networks may share one Redis.
    pub key_prefix: String,
}

impl Cluster {
    /// Where this node finds Redis, for messages (the password replaced by `***`).
    pub fn redis(&self) -> String {
        match &self.sentinel {
            None => format!("cluster.redis_url {}", redacted(&self.redis_url)),
            Some(s) => format!(
                "cluster.sentinels {} (master {:?})",
                s.addresses.join(", "),
                s.master
            ),
        }
    }
}

/// Redis Sentinel (docs/cluster.md): where the sentinels listen, and the name under which
/// they watch the cluster's primary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sentinels {
    /// `host:port` of each sentinel.
    pub addresses: Vec<String>,
    /// The master name of the sentinels' configuration (`sentinel monitor NAME ...`).
    pub master: String,
}

/// What an API key may do: `api.keys` are administrators, `api.read_keys` read only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Admin,
    ReadOnly,
}

impl Access {
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Admin => "admin",
            Access::ReadOnly => "read_only",
        }
    }
}

/// The operator console (`[console]`, docs/console.md).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Console {
    /// Serve `/console/` (on the admin listener when there is one).
    pub enabled: bool,
    /// Mark the session cookie `Secure` even when the request did not come over https.
    pub secure_cookie: bool,
    /// How long a session lasts after its sign-in.
    pub session_ttl: Duration,
    /// Sign-in attempts one client may make per minute; beyond them `429`.
    pub sign_in_attempts_per_minute: u32,
}

/// Connection handling: limits (docs/operations.md) and the PROXY protocol. Fixed at start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    pub max_connections: usize,
    /// Request line plus headers; hyper answers `431` beyond it. At least 8192 (hyper's floor).
    pub max_header_bytes: usize,
    pub max_headers: usize,
    /// Request target (path and query); `414` beyond it.
    pub max_uri_bytes: usize,
    pub header_read_timeout: Duration,
    /// An HTTP/2 connection with no open stream is closed after this long (HTTP/1 idle
    /// connections: `header_read_timeout`).
    pub idle_timeout: Duration,
    /// Every connection is asked to close (HTTP/2 GOAWAY, HTTP/1 after its current request)
    /// after this long, and closed `header_read_timeout` later.
    pub max_connection_age: Duration,
    pub http2_max_concurrent_streams: u32,
    /// Every connection starts with a PROXY protocol header (v1 or v2).
    pub proxy_protocol: bool,
}

#[derive(Clone, Debug)]
pub struct Settings {
    /// The file these settings came from.
    pub path: PathBuf,
    pub listen: SocketAddr,
    /// The admin listener (API, metrics, health); `None`: the public listener serves them.
    pub admin_listen: Option<SocketAddr>,
    pub public_base_url: String,
    /// Base of vanity (white-label) campaign links, display type 3; `public_base_url` when
    /// not set.
    pub vanity_base_url: String,
    pub trusted_proxies: Vec<IpNet>,
    pub default_fallback_url: Template,
    pub client_ip_header: ClientIpHeader,
    pub limits: Limits,
    pub shutdown_grace: Duration,
    pub runtime: Runtime,
    /// Threads serving the public listener (default: the CPUs this process may run on).
    pub threads: usize,
    /// The catalog: read, and written by the API.
    pub catalog_path: PathBuf,
    /// `catalog.initial`: the catalog read while `catalog_path` does not exist; the first
    /// API write creates `catalog_path` and leaves this file as it is.
    pub catalog_initial: Option<PathBuf>,
    /// Country (and region) database.
    pub geoip_database: Option<PathBuf>,
    pub asn_database: Option<PathBuf>,
    pub anonymous_database: Option<PathBuf>,
    pub click_secret: Vec<u8>,
    /// Secrets rotated out: ids they signed still verify (postbacks of older clicks).
    pub previous_click_secrets: Vec<Vec<u8>>,
    /// `tracking.timezone` as written, and the zone it names.
    pub timezone: String,
    pub time_zone: jiff::tz::TimeZone,
    /// How long after a click its conversion is accepted (and its id remembered).
    pub attribution_window: Duration,
    /// Bound of the converted click id set (about 32 bytes each).
    pub max_tracked_conversions: usize,
    pub state_dir: PathBuf,
    /// Administrators' keys: every call.
    pub api_keys: Vec<String>,
    /// Read-only keys: every read; every write is refused (`403`).
    pub api_read_keys: Vec<String>,
    /// Clients that may call the API; empty: any (that has a key).
    pub api_networks: Vec<IpNet>,
    /// The token every postback must carry (`token=`), unless its click's offer has its own.
    pub postback_token: Option<String>,
    /// Sources that may post conversions; empty: any.
    pub postback_networks: Vec<IpNet>,
    /// Largest management API request body; `413` beyond it.
    pub api_max_body_bytes: usize,
    /// Largest body of a `batch.json` call (up to 1,000 calls); `413` beyond it.
    pub api_max_batch_body_bytes: usize,
    /// Bots: to the fallback by default.
    pub bots: Screen,
    /// Clicks from anonymizing networks: routed by default.
    pub anonymous: Screen,
    /// How often optimized rotation's weights are recomputed (at most 10 s).
    pub optimize_interval: Duration,
    pub record_queue_capacity: usize,
    pub record_flush_interval: Duration,
    /// Hours of click logs kept (whole hourly files, the current one included).
    pub click_log_retention_hours: u64,
    /// How long conversion logs are kept: at least the attribution window.
    pub conversion_log_retention: Duration,
    pub log_level: String,
    pub console: Console,
    /// `None`: standalone.
    pub cluster: Option<Cluster>,
    /// Destination health checks.
    pub health: Health,
    /// Change previews.
    pub preview: Preview,
}

impl Settings {
    /// The file the catalog is read from: `catalog.path`, or `catalog.initial` while
    /// `catalog.path` does not exist (API writes go to `catalog.path` either way).
    pub fn catalog_source(&self) -> &Path {
        match &self.catalog_initial {
            Some(initial) if !self.catalog_path.exists() => initial,
            _ => &self.catalog_path,
        }
    }

    /// Reads and validates the settings file; the environment overrides the secret and keys.
    pub fn load(path: &Path) -> Result<Settings, Invalid> {
        let text = std::fs::read_to_string(path).map_err(|source| Invalid {
            errors: vec![SettingsError::Read {
                path: path.to_path_buf(),
                source,
            }],
            partial: None,
        })?;
        Settings::parse(path, &text, &|name| std::env::var(name).ok())
    }

    /// Parses settings text. `env` looks up environment overrides (injectable for tests).
    pub fn parse(
        path: &Path,
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Settings, Invalid> {
        let (raw, errors) = read_raw(path, text)?;
        let mut v = Validator { path, errors };
        let settings = v.settings(raw, env);
        if v.errors.is_empty() {
            Ok(settings)
        } else {
            Err(Invalid {
                errors: v.errors,
                partial: Some(Box::new(settings)),
            })
        }
    }

    /// Names of settings that differ from `other` and only take effect after a restart.
    pub fn restart_only_changes(&self, other: &Settings) -> Vec<&'static str> {
        let mut changed = Vec::new();
        if self.listen != other.listen {
            changed.push("server.listen");
        }
        if self.admin_listen != other.admin_listen {
            changed.push("server.admin_listen");
        }
        if self.limits != other.limits {
            changed.push("server limits (max_connections, max_header_bytes, proxy_protocol, ...)");
        }
        if self.shutdown_grace != other.shutdown_grace {
            changed.push("server.shutdown_grace_ms");
        }
        if self.runtime != other.runtime || self.threads != other.threads {
            changed.push("server.runtime, server.threads");
        }
        if self.state_dir != other.state_dir {
            changed.push("state.dir");
        }
        if self.record_queue_capacity != other.record_queue_capacity
            || self.record_flush_interval != other.record_flush_interval
            || self.click_log_retention_hours != other.click_log_retention_hours
            || self.conversion_log_retention != other.conversion_log_retention
        {
            changed.push("records");
        }
        if self.attribution_window != other.attribution_window
            || self.max_tracked_conversions != other.max_tracked_conversions
        {
            changed.push("tracking.attribution_window_days, tracking.max_tracked_conversions");
        }
        if self.log_level != other.log_level {
            changed.push("log.level");
        }
        if self.cluster != other.cluster {
            changed.push("cluster");
        }
        changed
    }

    /// What `key` may do: `None` when it is no configured key. Each key is compared in time
    /// independent of where they differ.
    pub fn access(&self, key: &str) -> Option<Access> {
        let holds = |keys: &[String]| {
            keys.iter()
                .fold(false, |found, k| found | secret_matches(k, key))
        };
        if holds(&self.api_keys) {
            Some(Access::Admin)
        } else if holds(&self.api_read_keys) {
            Some(Access::ReadOnly)
        } else {
            None
        }
    }

    /// This node's name in the audit log: `cluster.node_id`, standalone the host name.
    pub fn node(&self) -> String {
        match &self.cluster {
            Some(c) => c.node_id.clone(),
            None => host_name(),
        }
    }
}

/// `url` without its password, for messages.
pub fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// This machine's host name (`localhost` when it has none).
fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes into `buf`.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    match std::str::from_utf8(&buf[..end]) {
        Ok(name) if rc == 0 && !name.is_empty() => name.to_string(),
        _ => "localhost".to_string(),
    }
}

/// Reads the file into its raw mirror, one key at a time: an unknown section or key, or a value
/// of the wrong type, is reported with its line and left out, and every other key is still
/// read, so that one run reports every such problem (serde alone stops at the first). Only a
/// TOML syntax error ends the reading.
fn read_raw(path: &Path, text: &str) -> Result<(RawSettings, Vec<SettingsError>), Invalid> {
    use toml::de::{DeTable, DeValue};
    let doc = DeTable::parse(text).map_err(|e| Invalid {
        errors: vec![SettingsError::Parse {
            path: path.to_path_buf(),
            message: located(text, e.message(), e.span()),
        }],
        partial: None,
    })?;
    let mut raw = RawSettings::default();
    // (byte offset, error): reported in file order (the parsed tables are sorted by key).
    let mut errors = Vec::new();
    let invalid = |key: String, message: String| SettingsError::Invalid {
        path: path.to_path_buf(),
        key,
        message,
    };
    for (name, value) in doc.get_ref() {
        let name_text: &str = name.get_ref();
        let DeValue::Table(table) = value.get_ref() else {
            errors.push((
                name.span().start,
                invalid(
                    name_text.to_string(),
                    located(text, "is not a section ([name])", Some(name.span())),
                ),
            ));
            continue;
        };
        let mut section = Section {
            name: name_text,
            text,
            table,
            errors: Vec::new(),
        };
        match name_text {
            "server" => raw.server = section.read(),
            "catalog" => raw.catalog = section.read(),
            "geoip" => raw.geoip = section.read(),
            "tracking" => raw.tracking = section.read(),
            "state" => raw.state = section.read(),
            "api" => raw.api = section.read(),
            "routing" => raw.routing = section.read(),
            "postbacks" => raw.postbacks = section.read(),
            "records" => raw.records = section.read(),
            "log" => raw.log = section.read(),
            "console" => raw.console = section.read(),
            "cluster" => raw.cluster = Some(section.read()),
            "health" => raw.health = section.read(),
            "preview" => raw.preview = section.read(),
            _ => section.errors.push((
                name.span().start,
                String::new(),
                located(
                    text,
                    &format!("unknown section; known: {}", SECTIONS.join(", ")),
                    Some(name.span()),
                ),
            )),
        }
        for (at, key, message) in section.errors {
            let key = if key.is_empty() {
                name_text.to_string()
            } else {
                format!("{name_text}.{key}")
            };
            errors.push((at, invalid(key, message)));
        }
    }
    errors.sort_by_key(|(at, _)| *at);
    Ok((raw, errors.into_iter().map(|(_, e)| e).collect()))
}

/// The sections of the settings file.
const SECTIONS: [&str; 14] = [
    "server",
    "catalog",
    "geoip",
    "tracking",
    "state",
    "api",
    "routing",
    "postbacks",
    "records",
    "log",
    "console",
    "cluster",
    "health",
    "preview",
];

/// One section of the file being read key by key.
struct Section<'t, 'i> {
    name: &'t str,
    text: &'t str,
    table: &'t toml::de::DeTable<'i>,
    /// (byte offset, key, message) of each key left out.
    errors: Vec<(usize, String, String)>,
}

impl Section<'_, '_> {
    /// The section's raw mirror from its good keys; each bad key is recorded and left out.
    fn read<T: serde::de::DeserializeOwned + Default>(&mut self) -> T {
        use toml::Spanned;
        use toml::de::{DeTable, Deserializer};
        let from = |table: DeTable| T::deserialize(Deserializer::from(Spanned::new(0..0, table)));
        let mut good = DeTable::new();
        for (key, value) in self.table {
            let one: DeTable = std::iter::once((key.clone(), value.clone())).collect();
            match from(one) {
                Ok(_) => {
                    good.insert(key.clone(), value.clone());
                }
                Err(e) => {
                    let span = e.span().filter(|s| !s.is_empty()).unwrap_or(key.span());
                    self.errors.push((
                        span.start,
                        key.get_ref().to_string(),
                        located(self.text, e.message(), Some(span)),
                    ));
                }
            }
        }
        from(good).unwrap_or_else(|e| {
            // Each key was read alone; together they cannot fail, but never lose the error.
            self.errors.push((
                0,
                String::new(),
                format!("[{}]: {}", self.name, e.message()),
            ));
            T::default()
        })
    }
}

/// `message (line N)` for a byte span of `text`.
fn located(text: &str, message: &str, span: Option<std::ops::Range<usize>>) -> String {
    match span {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("{} (line {line})", message.trim_end())
        }
        None => message.trim_end().to_string(),
    }
}

struct Validator<'a> {
    path: &'a Path,
    errors: Vec<SettingsError>,
}

impl Validator<'_> {
    fn fail(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.errors.push(SettingsError::Invalid {
            path: self.path.to_path_buf(),
            key: key.into(),
            message: message.into(),
        });
    }

    fn settings(&mut self, raw: RawSettings, env: &dyn Fn(&str) -> Option<String>) -> Settings {
        let s = raw.server;
        let listen_text = s.listen.unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen = listen_text.parse().unwrap_or_else(|_| {
            self.fail(
                "server.listen",
                format!(
                    "{listen_text:?} is not an address:port (e.g. 127.0.0.1:8080 or [::]:8080)"
                ),
            );
            SocketAddr::from(([127, 0, 0, 1], 8080))
        });
        let public_base_url = self.base_url(
            "server.public_base_url",
            s.public_base_url
                .unwrap_or_else(|| format!("http://{listen_text}")),
        );
        let vanity_base_url = match s.vanity_base_url {
            Some(url) => self.base_url("server.vanity_base_url", url),
            None => public_base_url.clone(),
        };
        let trusted_proxies = self.networks(
            "server.trusted_proxies",
            s.trusted_proxies
                .unwrap_or_else(|| vec!["127.0.0.1/32".into(), "::1/128".into()]),
        );
        let admin_listen = s.admin_listen.and_then(|text| {
            let addr = text.parse::<SocketAddr>().ok();
            if addr.is_none() {
                self.fail(
                    "server.admin_listen",
                    format!("{text:?} is not an address:port (e.g. 127.0.0.1:9090)"),
                );
            }
            addr
        });
        if admin_listen.is_some_and(|a| a == listen && a.port() != 0) {
            self.fail(
                "server.admin_listen",
                "must differ from server.listen (the admin listener is a port of its own)",
            );
        }
        let default_fallback_url = self.fallback(s.default_fallback_url);
        let client_ip_header = match s.client_ip_header.as_deref() {
            None | Some("x-forwarded-for") => ClientIpHeader::XForwardedFor,
            Some("forwarded") => ClientIpHeader::Forwarded,
            Some(other) => {
                self.fail(
                    "server.client_ip_header",
                    format!("{other:?} is not one of \"x-forwarded-for\", \"forwarded\""),
                );
                ClientIpHeader::XForwardedFor
            }
        };
        let header_read_timeout = Duration::from_millis(self.positive(
            "server.header_read_timeout_ms",
            s.header_read_timeout_ms,
            10_000,
        ));
        let limits = Limits {
            max_connections: self.positive("server.max_connections", s.max_connections, 10_000),
            max_header_bytes: self.at_least(
                "server.max_header_bytes",
                s.max_header_bytes.unwrap_or(16 * 1024),
                8192,
            ),
            max_headers: self.positive("server.max_headers", s.max_headers, 100),
            max_uri_bytes: self.at_least(
                "server.max_uri_bytes",
                s.max_uri_bytes.unwrap_or(4096),
                64,
            ),
            header_read_timeout,
            idle_timeout: Duration::from_millis(self.positive(
                "server.idle_timeout_ms",
                s.idle_timeout_ms,
                header_read_timeout.as_millis() as u64,
            )),
            max_connection_age: Duration::from_millis(self.positive(
                "server.max_connection_age_ms",
                s.max_connection_age_ms,
                600_000,
            )),
            http2_max_concurrent_streams: self.positive(
                "server.http2_max_concurrent_streams",
                s.http2_max_concurrent_streams,
                256,
            ),
            proxy_protocol: s.proxy_protocol.unwrap_or(false),
        };
        let shutdown_grace = Duration::from_millis(s.shutdown_grace_ms.unwrap_or(10_000));
        let runtime = match s.runtime.as_deref() {
            None | Some("per_core") => Runtime::PerCore,
            Some("shared") => Runtime::Shared,
            Some(other) => {
                self.fail(
                    "server.runtime",
                    format!("{other:?} is not one of \"per_core\", \"shared\""),
                );
                Runtime::PerCore
            }
        };
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = match s.threads {
            Some(n @ 1..=1024) => n,
            None => cpus,
            Some(n) => {
                self.fail("server.threads", format!("{n} is not in 1..=1024"));
                cpus
            }
        };

        let catalog_path = PathBuf::from(
            raw.catalog
                .path
                .unwrap_or_else(|| "config/network.json".into()),
        );
        let catalog_initial = raw.catalog.initial.map(PathBuf::from);
        let geoip_database = raw.geoip.database.map(PathBuf::from);
        let asn_database = raw.geoip.asn_database.map(PathBuf::from);
        let anonymous_database = raw.geoip.anonymous_database.map(PathBuf::from);

        let click_secret = env(ENV_CLICK_SECRET)
            .filter(|s| !s.is_empty())
            .or(raw.tracking.click_secret)
            .unwrap_or_default();
        if click_secret.len() < MIN_SECRET_LEN {
            self.fail(
                "tracking.click_secret",
                format!(
                    "must be at least {MIN_SECRET_LEN} bytes (set it in the file or in {ENV_CLICK_SECRET})"
                ),
            );
        }
        let previous_click_secrets: Vec<Vec<u8>> = raw
            .tracking
            .previous_click_secrets
            .unwrap_or_default()
            .into_iter()
            .map(String::into_bytes)
            .collect();
        if previous_click_secrets
            .iter()
            .any(|s| s.len() < MIN_SECRET_LEN)
        {
            self.fail(
                "tracking.previous_click_secrets",
                format!("each must be at least {MIN_SECRET_LEN} bytes"),
            );
        }
        let window_days = raw.tracking.attribution_window_days.unwrap_or(30);
        if !(1..=365).contains(&window_days) {
            self.fail(
                "tracking.attribution_window_days",
                "must be between 1 and 365",
            );
        }
        let max_tracked_conversions = self.positive(
            "tracking.max_tracked_conversions",
            raw.tracking.max_tracked_conversions,
            5_000_000,
        );
        let timezone = raw.tracking.timezone.unwrap_or_else(|| "UTC".into());
        let time_zone = jiff::tz::TimeZone::get(&timezone).unwrap_or_else(|_| {
            self.fail(
                "tracking.timezone",
                format!("{timezone:?} is not an IANA time zone name (e.g. \"Europe/Berlin\")"),
            );
            jiff::tz::TimeZone::UTC
        });

        let state_dir = PathBuf::from(raw.state.dir.unwrap_or_else(|| "data".into()));
        let api_keys = match env(ENV_API_KEYS).filter(|s| !s.trim().is_empty()) {
            Some(list) => list
                .split(',')
                .map(|k| k.trim().to_string())
                .filter(|k| !k.is_empty())
                .collect(),
            None => raw.api.keys.unwrap_or_default(),
        };
        if api_keys.iter().any(|k| k.is_empty()) {
            self.fail("api.keys", "an api key must not be empty");
        }
        let api_read_keys = self.read_keys(raw.api.read_keys, env, &api_keys);
        let api_networks = self.networks(
            "api.allowed_networks",
            raw.api.allowed_networks.unwrap_or_default(),
        );
        let postback_token = env(ENV_POSTBACK_TOKEN)
            .filter(|t| !t.is_empty())
            .or(raw.postbacks.token);
        if let Some(token) = &postback_token
            && let Err(message) = crate::catalog::validate::check_token(token)
        {
            self.fail("postbacks.token", message);
        }
        let postback_networks = self.networks(
            "postbacks.allowed_networks",
            raw.postbacks.allowed_networks.unwrap_or_default(),
        );
        let api_max_body_bytes =
            self.positive("api.max_body_bytes", raw.api.max_body_bytes, 65_536);
        let api_max_batch_body_bytes = self.positive(
            "api.max_batch_body_bytes",
            raw.api.max_batch_body_bytes,
            DEFAULT_MAX_BATCH_BODY_BYTES,
        );
        let bots = self.screen("routing.bots", raw.routing.bots, Screen::Fallback);
        let anonymous = self.screen("routing.anonymous", raw.routing.anonymous, Screen::Route);
        let optimize_ms = raw.routing.optimize_interval_ms.unwrap_or(10_000);
        if !(100..=10_000).contains(&optimize_ms) {
            self.fail(
                "routing.optimize_interval_ms",
                "must be between 100 and 10000 (optimized weights are recomputed at least every 10 s)",
            );
        }
        let record_queue_capacity =
            self.positive("records.queue_capacity", raw.records.queue_capacity, 65_536);
        let flush_ms = raw.records.flush_interval_ms.unwrap_or(1000);
        if !(1..=1000).contains(&flush_ms) {
            self.fail(
                "records.flush_interval_ms",
                "must be between 1 and 1000 (records are flushed at least every second)",
            );
        }
        let click_log_retention_hours = self.positive(
            "records.click_log_retention_hours",
            raw.records.click_log_retention_hours,
            7 * 24,
        );
        let window_days = u64::from(window_days.clamp(1, 365));
        let conversion_days = raw
            .records
            .conversion_log_retention_days
            .unwrap_or(window_days.max(90));
        if conversion_days < window_days {
            self.fail(
                "records.conversion_log_retention_days",
                format!(
                    "{conversion_days} is shorter than tracking.attribution_window_days ({window_days}); conversions are kept at least as long as they can be duplicated"
                ),
            );
        }
        let log_level = raw.log.level.unwrap_or_else(|| "info".into());
        if tracing_subscriber::EnvFilter::try_new(&log_level).is_err() {
            self.fail(
                "log.level",
                format!(
                    "{log_level:?} is not a level or filter (e.g. \"info\", \"smartlink=debug\")"
                ),
            );
        }

        let console = self.console(raw.console);
        let cluster = raw.cluster.map(|c| self.cluster(c, env, listen.port()));
        let health = self.health(raw.health);
        let preview = self.preview(raw.preview);

        Settings {
            path: self.path.to_path_buf(),
            listen,
            admin_listen,
            public_base_url,
            vanity_base_url,
            trusted_proxies,
            default_fallback_url,
            client_ip_header,
            limits,
            shutdown_grace,
            runtime,
            threads,
            catalog_path,
            catalog_initial,
            geoip_database,
            asn_database,
            anonymous_database,
            click_secret: click_secret.into_bytes(),
            previous_click_secrets,
            timezone,
            time_zone,
            attribution_window: Duration::from_secs(window_days * 86_400),
            max_tracked_conversions,
            state_dir,
            api_keys,
            api_read_keys,
            api_networks,
            postback_token,
            postback_networks,
            api_max_body_bytes,
            api_max_batch_body_bytes,
            bots,
            anonymous,
            optimize_interval: Duration::from_millis(optimize_ms.clamp(100, 10_000)),
            record_queue_capacity,
            record_flush_interval: Duration::from_millis(flush_ms.clamp(1, 1000)),
            click_log_retention_hours,
            conversion_log_retention: Duration::from_secs(
                conversion_days.max(window_days) * 86_400,
            ),
            log_level,
            console,
            cluster,
            health,
            preview,
        }
    }

    /// `api.read_keys` (the environment's list first): none empty, none also an admin key.
    fn read_keys(
        &mut self,
        listed: Option<Vec<String>>,
        env: &dyn Fn(&str) -> Option<String>,
        admin: &[String],
    ) -> Vec<String> {
        let keys: Vec<String> = match env(ENV_API_READ_KEYS).filter(|s| !s.trim().is_empty()) {
            Some(list) => list
                .split(',')
                .map(|k| k.trim().to_string())
                .filter(|k| !k.is_empty())
                .collect(),
            None => listed.unwrap_or_default(),
        };
        if keys.iter().any(|k| k.is_empty()) {
            self.fail("api.read_keys", "an api key must not be empty");
        }
        if keys.iter().any(|k| admin.contains(k)) {
            self.fail(
                "api.read_keys",
                "a key is also in api.keys; a key has one role",
            );
        }
        keys
    }

    /// The `[console]` section.
    fn console(&mut self, raw: RawConsole) -> Console {
        let minutes = raw.session_ttl_minutes.unwrap_or(480);
        if !(5..=43_200).contains(&minutes) {
            self.fail(
                "console.session_ttl_minutes",
                "must be between 5 and 43200 (30 days)",
            );
        }
        Console {
            enabled: raw.enabled.unwrap_or(true),
            secure_cookie: raw.secure_cookie.unwrap_or(false),
            session_ttl: Duration::from_secs(minutes.clamp(5, 43_200) * 60),
            sign_in_attempts_per_minute: self.positive(
                "console.sign_in_attempts_per_minute",
                raw.sign_in_attempts_per_minute,
                10,
            ),
        }
    }

    /// The `[cluster]` section; the node id defaults to `host name:listen port`.
    fn cluster(
        &mut self,
        raw: RawCluster,
        env: &dyn Fn(&str) -> Option<String>,
        port: u16,
    ) -> Cluster {
        let redis_url = env(ENV_REDIS_URL)
            .filter(|u| !u.is_empty())
            .or(raw.redis_url)
            .unwrap_or_else(|| "redis://127.0.0.1:6379/0".into());
        if let Err(e) = redis::Client::open(redis_url.as_str()) {
            self.fail(
                "cluster.redis_url",
                format!("{redis_url:?} is not a Redis URL (redis://host:port/db): {e}"),
            );
        }
        let node_id = raw
            .node_id
            .unwrap_or_else(|| format!("{}:{port}", host_name()));
        if node_id.is_empty()
            || node_id.len() > 64
            || !node_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        {
            self.fail(
                "cluster.node_id",
                format!("{node_id:?} must be 1 to 64 letters, digits and - _ . :"),
            );
        }
        let key_prefix = raw.key_prefix.unwrap_or_else(|| "smartlink:".into());
        if key_prefix.len() > 64 || key_prefix.bytes().any(|b| b.is_ascii_whitespace()) {
            self.fail(
                "cluster.key_prefix",
                "must be at most 64 bytes, without white space",
            );
        }
        let sentinel = self.sentinels(raw.sentinels, raw.sentinel_master);
        Cluster {
            redis_url,
            sentinel,
            node_id,
            key_prefix,
        }
    }

    /// `cluster.sentinels` and `cluster.sentinel_master`: both or neither.
    fn sentinels(
        &mut self,
        addresses: Option<Vec<String>>,
        master: Option<String>,
    ) -> Option<Sentinels> {
        let (addresses, master) = match (addresses, master) {
            (None, None) => return None,
            (Some(a), Some(m)) => (a, m),
            (Some(_), None) => {
                self.fail(
                    "cluster.sentinel_master",
                    "required with cluster.sentinels: the master name the sentinels watch",
                );
                return None;
            }
            (None, Some(_)) => {
                self.fail(
                    "cluster.sentinels",
                    "required with cluster.sentinel_master: the sentinels' host:port",
                );
                return None;
            }
        };
        if addresses.is_empty() {
            self.fail(
                "cluster.sentinels",
                "at least one sentinel's host:port (three or more in production)",
            );
        }
        for (i, address) in addresses.iter().enumerate() {
            let valid = address.rsplit_once(':').is_some_and(|(host, port)| {
                !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
            }) && redis::Client::open(format!("redis://{address}")).is_ok();
            if !valid {
                self.fail(
                    format!("cluster.sentinels[{i}]"),
                    format!("{address:?} is not host:port (e.g. 10.0.0.5:26379)"),
                );
            }
        }
        if master.is_empty()
            || master.len() > 64
            || master
                .bytes()
                .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            self.fail(
                "cluster.sentinel_master",
                format!("{master:?} must be 1 to 64 bytes, without white space"),
            );
        }
        Some(Sentinels { addresses, master })
    }

    fn base_url(&mut self, key: &str, url: String) -> String {
        match url::Url::parse(&url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {
                url.trim_end_matches('/').to_string()
            }
            _ => {
                self.fail(key, format!("{url:?} is not an absolute http(s) URL"));
                url
            }
        }
    }

    /// A list of networks (CIDR) or single addresses.
    fn networks(&mut self, key: &str, list: Vec<String>) -> Vec<IpNet> {
        let mut nets = Vec::with_capacity(list.len());
        for (i, text) in list.iter().enumerate() {
            // A bare address means a single host.
            let parsed = text.parse::<IpNet>().or_else(|_| {
                text.parse::<std::net::IpAddr>()
                    .map(IpNet::from)
                    .map_err(|_| ())
            });
            match parsed {
                Ok(net) => nets.push(net.trunc()),
                Err(()) => self.fail(
                    format!("{key}[{i}]"),
                    format!("{text:?} is not an IP address or network (e.g. 10.0.0.0/8, ::1/128)"),
                ),
            }
        }
        nets
    }

    fn fallback(&mut self, url: Option<String>) -> Template {
        const PLACEHOLDER: &str = "https://invalid.invalid/";
        let Some(url) = url else {
            self.fail(
                "server.default_fallback_url",
                "is required: where clicks go when nothing qualifies",
            );
            return Template::parse(PLACEHOLDER).expect("placeholder is valid");
        };
        Template::parse(&url).unwrap_or_else(|e| {
            self.fail("server.default_fallback_url", format!("{url:?} {e}"));
            Template::parse(PLACEHOLDER).expect("placeholder is valid")
        })
    }

    fn positive<T: Copy + PartialEq + Default>(
        &mut self,
        key: &str,
        value: Option<T>,
        default: T,
    ) -> T {
        let v = value.unwrap_or(default);
        if v == T::default() {
            self.fail(key, "must be greater than 0");
            return default;
        }
        v
    }

    /// `"fallback"` or `"route"`.
    fn screen(&mut self, key: &str, value: Option<String>, default: Screen) -> Screen {
        match value.as_deref() {
            None => default,
            Some("fallback") => Screen::Fallback,
            Some("route") => Screen::Route,
            Some(other) => {
                self.fail(
                    key,
                    format!("{other:?} is not one of \"fallback\", \"route\""),
                );
                default
            }
        }
    }

    fn at_least(&mut self, key: &str, value: usize, min: usize) -> usize {
        if value < min {
            self.fail(key, format!("must be at least {min}"));
            return min;
        }
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        [server]
        default_fallback_url = "https://example.com/"
        [tracking]
        click_secret = "0123456789abcdef0123"
    "#;

    fn parse(text: &str) -> Result<Settings, Vec<SettingsError>> {
        Settings::parse(Path::new("t.toml"), text, &|_| None).map_err(|e| e.errors)
    }

    /// The key of each error (the message of one that names none).
    fn keys(errors: &[SettingsError]) -> Vec<String> {
        errors
            .iter()
            .map(|e| match e {
                SettingsError::Invalid { key, .. } => key.clone(),
                other => other.to_string(),
            })
            .collect()
    }

    #[test]
    fn minimal_file_gets_documented_defaults() {
        let s = parse(MINIMAL).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.public_base_url, "http://127.0.0.1:8080");
        assert_eq!(s.vanity_base_url, s.public_base_url);
        assert_eq!(s.api_max_body_bytes, 65_536);
        assert_eq!(s.api_max_batch_body_bytes, 4 << 20);
        assert_eq!(s.trusted_proxies.len(), 2);
        assert_eq!(s.catalog_path, PathBuf::from("config/network.json"));
        assert_eq!(s.geoip_database, None);
        assert_eq!(s.timezone, "UTC");
        assert_eq!(s.bots, Screen::Fallback);
        assert_eq!(s.anonymous, Screen::Route);
        assert_eq!(s.runtime, Runtime::PerCore);
        assert_eq!(
            s.threads,
            std::thread::available_parallelism().map_or(1, |n| n.get())
        );
        assert_eq!(s.client_ip_header, ClientIpHeader::XForwardedFor);
        assert_eq!(s.limits.max_uri_bytes, 4096);
        assert_eq!(s.record_flush_interval, Duration::from_secs(1));
        assert_eq!(s.attribution_window, Duration::from_secs(30 * 86_400));
        assert_eq!(s.max_tracked_conversions, 5_000_000);
        assert_eq!(s.click_log_retention_hours, 168);
        assert_eq!(s.conversion_log_retention, Duration::from_secs(90 * 86_400));
        assert!(s.previous_click_secrets.is_empty());
    }

    #[test]
    fn keys_have_roles_and_the_console_its_defaults() {
        let s = parse(&format!(
            "{MINIMAL}\n[api]\nkeys = [\"admin\"]\nread_keys = [\"reader\"]\n"
        ))
        .unwrap();
        assert_eq!(s.access("admin"), Some(Access::Admin));
        assert_eq!(s.access("reader"), Some(Access::ReadOnly));
        assert_eq!(s.access("admi"), None);
        assert_eq!(s.access(""), None);
        assert_eq!(
            s.console,
            Console {
                enabled: true,
                secure_cookie: false,
                session_ttl: Duration::from_secs(8 * 3600),
                sign_in_attempts_per_minute: 10,
            }
        );
        let env = |name: &str| (name == ENV_API_READ_KEYS).then(|| "r1, r2".to_string());
        let s = Settings::parse(Path::new("t.toml"), MINIMAL, &env).unwrap();
        assert_eq!(s.api_read_keys, ["r1", "r2"]);
        let keys = keys(&parse(&format!(
            "{MINIMAL}\n[api]\nkeys = [\"k\"]\nread_keys = [\"k\", \"\"]\n[console]\nsession_ttl_minutes = 1\nsign_in_attempts_per_minute = 0\nenable = true\n"
        ))
        .unwrap_err());
        for key in [
            "console.enable",
            "api.read_keys",
            "console.session_ttl_minutes",
            "console.sign_in_attempts_per_minute",
        ] {
            assert!(keys.iter().any(|k| k == key), "{key} in {keys:?}");
        }
        assert_eq!(
            keys.iter().filter(|k| *k == "api.read_keys").count(),
            2,
            "an empty key and a key with two roles: {keys:?}"
        );
    }

    #[test]
    fn environment_overrides_secret_and_keys() {
        let env = |name: &str| match name {
            ENV_CLICK_SECRET => Some("from-the-environment-1234".to_string()),
            ENV_API_KEYS => Some(" k1 , k2,,".to_string()),
            _ => None,
        };
        let s = Settings::parse(Path::new("t.toml"), MINIMAL, &env).unwrap();
        assert_eq!(s.click_secret, b"from-the-environment-1234");
        assert_eq!(s.api_keys, ["k1", "k2"]);
    }

    #[test]
    fn a_cluster_section_turns_cluster_mode_on_with_its_defaults() {
        assert_eq!(
            parse(MINIMAL).unwrap().cluster,
            None,
            "standalone without it"
        );
        let s = parse(&format!("{MINIMAL}\n[cluster]\n")).unwrap();
        let c = s.cluster.expect("cluster mode");
        assert_eq!(c.redis_url, "redis://127.0.0.1:6379/0");
        assert_eq!(c.key_prefix, "smartlink:");
        assert!(
            c.node_id.ends_with(":8080"),
            "host name and port: {}",
            c.node_id
        );
        let env =
            |name: &str| (name == ENV_REDIS_URL).then(|| "redis://:pw@10.0.0.5:6380/2".to_string());
        let text =
            format!("{MINIMAL}\n[cluster]\nredis_url = \"redis://file/0\"\nnode_id = \"edge-1\"\n");
        let s = Settings::parse(Path::new("t.toml"), &text, &env).unwrap();
        let c = s.cluster.unwrap();
        assert_eq!(
            c.redis_url, "redis://:pw@10.0.0.5:6380/2",
            "the environment wins"
        );
        assert_eq!(c.node_id, "edge-1");
        assert_eq!(redacted(&c.redis_url), "redis://:***@10.0.0.5:6380/2");
        let keys = keys(&parse(&format!(
            "{MINIMAL}\n[cluster]\nredis_url = \"http://x\"\nnode_id = \"a b\"\nkey_prefix = \"p q\"\nlease = 3\n"
        ))
        .unwrap_err());
        for key in [
            "cluster.lease",
            "cluster.redis_url",
            "cluster.node_id",
            "cluster.key_prefix",
        ] {
            assert!(keys.iter().any(|k| k == key), "{key} in {keys:?}");
        }
    }

    #[test]
    fn sentinels_come_with_their_master_name_and_take_only_credentials_from_the_url() {
        let s = parse(&format!(
            "{MINIMAL}\n[cluster]\nsentinels = [\"10.0.0.5:26379\", \"[::1]:26380\", \"redis-s3:26381\"]\nsentinel_master = \"smartlink\"\nredis_url = \"redis://:pw@primary/2\"\n"
        ))
        .unwrap();
        let c = s.cluster.unwrap();
        let sentinel = c.sentinel.as_ref().expect("Sentinel mode");
        assert_eq!(sentinel.addresses.len(), 3);
        assert_eq!(sentinel.master, "smartlink");
        assert_eq!(
            c.redis(),
            "cluster.sentinels 10.0.0.5:26379, [::1]:26380, redis-s3:26381 (master \"smartlink\")"
        );
        let invalid = |cluster: &str| -> Vec<String> {
            keys(&parse(&format!("{MINIMAL}\n[cluster]\n{cluster}\n")).unwrap_err())
        };
        assert_eq!(
            invalid("sentinels = [\"a:1\"]"),
            ["cluster.sentinel_master"]
        );
        assert_eq!(invalid("sentinel_master = \"m\""), ["cluster.sentinels"]);
        assert_eq!(
            invalid("sentinels = []\nsentinel_master = \"m\""),
            ["cluster.sentinels"]
        );
        assert_eq!(
            invalid(
                "sentinels = [\"a:1\", \"nohost\", \":5\", \"b:0\", \"c:99999\"]\nsentinel_master = \"a b\""
            ),
            [
                "cluster.sentinels[1]",
                "cluster.sentinels[2]",
                "cluster.sentinels[3]",
                "cluster.sentinels[4]",
                "cluster.sentinel_master"
            ]
        );
        let keys = invalid("sentinels = \"a:1\"\nsentinel_master = \"m\"");
        assert!(
            !keys.is_empty() && keys.iter().all(|k| k == "cluster.sentinels"),
            "a list: {keys:?}"
        );
    }

    #[test]
    fn every_invalid_key_is_reported() {
        let errors = parse(
            r#"
            [server]
            listen = "localhost"
            public_base_url = "ftp://x"
            vanity_base_url = "go.example"
            trusted_proxies = ["10.0.0.0/8", "10.0.0.0/33", "nope"]
            default_fallback_url = "https://{s1}.example/"
            client_ip_header = "x-real-ip"
            max_header_bytes = 100
            runtime = "fibers"
            threads = 0
            [tracking]
            click_secret = "short"
            previous_click_secrets = ["also-short"]
            timezone = "Mars/Olympus"
            attribution_window_days = 0
            [routing]
            bots = "maybe"
            anonymous = "block"
            [records]
            flush_interval_ms = 5000
            conversion_log_retention_days = 0
            [api]
            max_body_bytes = 0
            max_batch_body_bytes = 0
            "#,
        )
        .unwrap_err();
        let keys: Vec<String> = errors
            .iter()
            .map(|e| match e {
                SettingsError::Invalid { key, .. } => key.clone(),
                other => panic!("unexpected {other}"),
            })
            .collect();
        assert_eq!(
            keys,
            [
                "server.listen",
                "server.public_base_url",
                "server.vanity_base_url",
                "server.trusted_proxies[1]",
                "server.trusted_proxies[2]",
                "server.default_fallback_url",
                "server.client_ip_header",
                "server.max_header_bytes",
                "server.runtime",
                "server.threads",
                "tracking.click_secret",
                "tracking.previous_click_secrets",
                "tracking.attribution_window_days",
                "tracking.timezone",
                "api.max_body_bytes",
                "api.max_batch_body_bytes",
                "routing.bots",
                "routing.anonymous",
                "records.flush_interval_ms",
                "records.conversion_log_retention_days",
            ]
        );
    }

    #[test]
    fn unknown_keys_and_syntax_errors_name_the_line() {
        let e = parse("[server]\ntrusted_proxy = []\n").unwrap_err();
        let text = e[0].to_string();
        assert!(
            text.contains("trusted_proxy") && text.contains("line 2"),
            "{text}"
        );
        let e = parse("[server\n").unwrap_err();
        assert!(e[0].to_string().contains("line 1"), "{}", e[0]);
    }

    /// Regression: `check` showed only the first of several misspelt keys.
    #[test]
    fn every_unknown_key_and_type_error_is_reported_with_its_line() {
        let errors = parse(
            "[server]\ntrusted_proxy = []\nlisten = 8080\ndefault_fallback_url = \"https://f.example/\"\n\
             [tracking]\nclick_secret = \"0123456789abcdef0123\"\ntimezon = \"UTC\"\n[trackin]\nx = 1\n",
        )
        .unwrap_err();
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        let want = [
            ("server.trusted_proxy", "unknown field", "line 2"),
            ("server.listen", "invalid type", "line 3"),
            ("tracking.timezon", "unknown field", "line 7"),
            ("trackin", "unknown section", "line 8"),
        ];
        assert_eq!(text.len(), want.len(), "{text:#?}");
        for ((key, what, line), t) in want.iter().zip(&text) {
            assert!(
                t.contains(key) && t.contains(what) && t.contains(line),
                "{t}"
            );
        }
    }

    #[test]
    fn the_catalog_is_read_from_initial_until_it_exists() {
        let dir = tempfile::tempdir().unwrap();
        let (path, initial) = (
            dir.path().join("network.json"),
            dir.path().join("demo.json"),
        );
        let text = format!("{MINIMAL}\n[catalog]\npath = {path:?}\ninitial = {initial:?}\n");
        let s = parse(&text).unwrap();
        assert_eq!(s.catalog_source(), initial);
        std::fs::write(&path, "{}").unwrap();
        assert_eq!(s.catalog_source(), path);
        let without = parse(&format!("{MINIMAL}\n[catalog]\npath = {path:?}\n")).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(without.catalog_source(), path);
    }

    #[test]
    fn the_demo_settings_protect_postbacks() {
        let s = Settings::load(Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/config/smartlink.toml"
        )))
        .unwrap();
        assert!(s.postback_token.is_some());
    }

    #[test]
    fn missing_fallback_and_secret_are_errors() {
        let e = parse("").unwrap_err();
        let text: Vec<String> = e.iter().map(|e| e.to_string()).collect();
        assert!(text.iter().any(|t| t.contains("default_fallback_url")));
        assert!(text.iter().any(|t| t.contains("click_secret")));
    }
}
