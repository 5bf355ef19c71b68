//! The settings file (TOML, README: Configuration): read, overridden from the environment, validated.
//!
//! Pipeline: file text → [`RawSettings`] (serde mirror, every key optional, unknown keys
//! rejected so a typo cannot silently disable a setting) → [`Settings`] (validated, typed,
//! paths resolved). Validation collects *every* problem with its key before failing.
//! The program never writes this file.
//!
//! This file reads the file key by key and holds what every section shares (the
//! `Validator`, its checks of numbers and networks); each section is a file of its own:
//! its raw mirror, its validated type with its defaults (`impl Default`, the one place they
//! are written), and its validation method (`Validator::server`, `Validator::tracking`, ...).

use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::Deserialize;

mod access;
mod cluster;
mod console;
mod files;
mod health;
mod partner_postbacks;
mod preview;
mod records;
mod routing;
mod server;
mod tracking;

pub use access::{Access, Api, Postbacks, secret_matches};
pub use cluster::{Cluster, Sentinels};
pub use console::Console;
pub use files::{CatalogFiles, Geoip};
pub use health::{AllDown, Health};
pub use partner_postbacks::PartnerPostbacks;
pub use preview::Preview;
pub use records::Records;
pub use routing::Routing;
pub use server::{Limits, Runtime, Server};
pub use tracking::{MIN_SECRET_LEN, Tracking};

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

/// Looks up an environment override (injectable for tests).
type Env<'e> = &'e dyn Fn(&str) -> Option<String>;

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
    server: server::RawServer,
    #[serde(default)]
    catalog: files::RawCatalog,
    #[serde(default)]
    geoip: files::RawGeoip,
    #[serde(default)]
    tracking: tracking::RawTracking,
    #[serde(default)]
    state: files::RawState,
    #[serde(default)]
    api: access::RawApi,
    #[serde(default)]
    routing: routing::RawRouting,
    #[serde(default)]
    postbacks: access::RawPostbacks,
    #[serde(default)]
    records: records::RawRecords,
    #[serde(default)]
    log: files::RawLog,
    #[serde(default)]
    console: console::RawConsole,
    #[serde(default)]
    partner_postbacks: partner_postbacks::RawPartnerPostbacks,
    /// `None` when the file has no `[cluster]` section: standalone.
    cluster: Option<cluster::RawCluster>,
    #[serde(default)]
    health: health::RawHealth,
    #[serde(default)]
    preview: preview::RawPreview,
}

/// The validated settings, a field a section (or, for the one-key sections `[state]` and
/// `[log]`, its value).
#[derive(Clone, Debug)]
pub struct Settings {
    /// The file these settings came from.
    pub path: PathBuf,
    pub server: Server,
    pub catalog: CatalogFiles,
    pub geoip: Geoip,
    pub tracking: Tracking,
    /// `state.dir`: counters, the conversion log, reservations.
    pub state_dir: PathBuf,
    pub api: Api,
    pub postbacks: Postbacks,
    pub routing: Routing,
    pub records: Records,
    /// `log.level`.
    pub log_level: String,
    /// `[console]`.
    pub console: Console,
    /// `None`: standalone.
    pub cluster: Option<Cluster>,
    /// `[partner_postbacks]`.
    pub partner_postbacks: PartnerPostbacks,
    /// `[health]`: destination health checks.
    pub health: Health,
    /// `[preview]`: change previews.
    pub preview: Preview,
}

impl Settings {
    /// The file the catalog is read from: `catalog.path`, or `catalog.initial` while
    /// `catalog.path` does not exist (API writes go to `catalog.path` either way).
    pub fn catalog_source(&self) -> &Path {
        match &self.catalog.initial {
            Some(initial) if !self.catalog.path.exists() => initial,
            _ => &self.catalog.path,
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
    pub fn parse(path: &Path, text: &str, env: Env) -> Result<Settings, Invalid> {
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
        let (now, then) = (&self.server, &other.server);
        let mut changed = Vec::new();
        if now.listen != then.listen {
            changed.push("server.listen");
        }
        if now.admin_listen != then.admin_listen {
            changed.push("server.admin_listen");
        }
        if now.limits != then.limits {
            changed.push("server limits (max_connections, max_header_bytes, proxy_protocol, ...)");
        }
        if now.shutdown_grace != then.shutdown_grace {
            changed.push("server.shutdown_grace_ms");
        }
        if now.runtime != then.runtime || now.threads != then.threads {
            changed.push("server.runtime, server.threads");
        }
        if self.state_dir != other.state_dir {
            changed.push("state.dir");
        }
        if self.records != other.records {
            changed.push("records");
        }
        if self.tracking.attribution_window != other.tracking.attribution_window
            || self.tracking.max_tracked_conversions != other.tracking.max_tracked_conversions
        {
            changed.push("tracking.attribution_window_days, tracking.max_tracked_conversions");
        }
        if self.log_level != other.log_level {
            changed.push("log.level");
        }
        if self.cluster != other.cluster {
            changed.push("cluster");
        }
        // `transaction_id_param` is read per click: a reload changes it.
        let reloaded = PartnerPostbacks {
            transaction_id_param: other.partner_postbacks.transaction_id_param,
            ..self.partner_postbacks.clone()
        };
        if reloaded != other.partner_postbacks {
            changed.push("partner_postbacks");
        }
        changed
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
            "partner_postbacks" => raw.partner_postbacks = section.read(),
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
const SECTIONS: [&str; 15] = [
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
    "partner_postbacks",
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

    /// Every section in file order, so that errors are reported in that order.
    fn settings(&mut self, raw: RawSettings, env: Env) -> Settings {
        let server = self.server(raw.server);
        let catalog = self.catalog(raw.catalog);
        let geoip = self.geoip(raw.geoip);
        let tracking = self.tracking(raw.tracking, env);
        let state_dir = self.state(raw.state);
        let api = self.api(raw.api, env);
        let postbacks = self.postbacks(raw.postbacks, env);
        let routing = self.routing(raw.routing);
        let records = self.records(raw.records, &tracking);
        let log_level = self.log(raw.log);
        let console = self.console(raw.console);
        let cluster = raw
            .cluster
            .map(|c| self.cluster(c, env, server.listen.port()));
        let partner_postbacks = self.partner_postbacks(raw.partner_postbacks);
        let health = self.health(raw.health);
        let preview = self.preview(raw.preview);
        Settings {
            path: self.path.to_path_buf(),
            server,
            catalog,
            geoip,
            tracking,
            state_dir,
            api,
            postbacks,
            routing,
            records,
            log_level,
            console,
            cluster,
            partner_postbacks,
            health,
            preview,
        }
    }

    /// An absolute http(s) URL, without its trailing `/`.
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

    /// `value`, or `default` when not set; 0 is an error.
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
    use crate::vocab::{ClientIpHeader, Screen};
    use std::time::Duration;

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
    fn keys_have_roles_and_the_console_its_defaults() {
        let s = parse(&format!(
            "{MINIMAL}\n[api]\nkeys = [\"admin\"]\nread_keys = [\"reader\"]\n"
        ))
        .unwrap();
        assert_eq!(s.api.access("admin"), Some(Access::Admin));
        assert_eq!(s.api.access("reader"), Some(Access::ReadOnly));
        assert_eq!(s.api.access("admi"), None);
        assert_eq!(s.api.access(""), None);
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
        assert_eq!(s.api.read_keys, ["r1", "r2"]);
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
    fn minimal_file_gets_documented_defaults() {
        let s = parse(MINIMAL).unwrap();
        assert_eq!(s.server.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.server.public_base_url, "http://127.0.0.1:8080");
        assert_eq!(s.server.vanity_base_url, s.server.public_base_url);
        assert_eq!(s.api.max_body_bytes, 65_536);
        assert_eq!(s.api.max_batch_body_bytes, 4 << 20);
        assert_eq!(s.server.trusted_proxies.len(), 2);
        assert_eq!(s.catalog.path, PathBuf::from("config/network.json"));
        assert_eq!(s.geoip.database, None);
        assert_eq!(s.tracking.timezone, "UTC");
        assert_eq!(s.routing.bots, Screen::Fallback);
        assert_eq!(s.routing.anonymous, Screen::Route);
        assert_eq!(s.server.runtime, Runtime::PerCore);
        assert_eq!(
            s.server.threads,
            std::thread::available_parallelism().map_or(1, |n| n.get())
        );
        assert_eq!(s.server.client_ip_header, ClientIpHeader::XForwardedFor);
        assert_eq!(s.server.limits.max_uri_bytes, 4096);
        assert_eq!(s.records.flush_interval, Duration::from_secs(1));
        assert_eq!(
            s.tracking.attribution_window,
            Duration::from_secs(30 * 86_400)
        );
        assert_eq!(s.tracking.max_tracked_conversions, 5_000_000);
        assert_eq!(s.records.click_log_retention_hours, 168);
        assert_eq!(
            s.records.conversion_log_retention,
            Duration::from_secs(90 * 86_400)
        );
        assert!(s.tracking.previous_click_secrets.is_empty());
    }

    #[test]
    fn environment_overrides_secret_and_keys() {
        let env = |name: &str| match name {
            ENV_CLICK_SECRET => Some("from-the-environment-1234".to_string()),
            ENV_API_KEYS => Some(" k1 , k2,,".to_string()),
            _ => None,
        };
        let s = Settings::parse(Path::new("t.toml"), MINIMAL, &env).unwrap();
        assert_eq!(s.tracking.click_secret, b"from-the-environment-1234");
        assert_eq!(s.api.keys, ["k1", "k2"]);
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
        let errors = parse(&format!(
            "{MINIMAL}\n[cluster]\nredis_url = \"http://x\"\nnode_id = \"a b\"\nkey_prefix = \"p q\"\nlease = 3\n"
        ))
        .unwrap_err();
        let keys: Vec<String> = errors
            .iter()
            .map(|e| match e {
                SettingsError::Invalid { key, .. } => key.clone(),
                other => other.to_string(),
            })
            .collect();
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
            parse(&format!("{MINIMAL}\n[cluster]\n{cluster}\n"))
                .unwrap_err()
                .iter()
                .map(|e| match e {
                    SettingsError::Invalid { key, .. } => key.clone(),
                    other => other.to_string(),
                })
                .collect()
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
        assert!(s.postbacks.token.is_some());
    }

    #[test]
    fn missing_fallback_and_secret_are_errors() {
        let e = parse("").unwrap_err();
        let text: Vec<String> = e.iter().map(|e| e.to_string()).collect();
        assert!(text.iter().any(|t| t.contains("default_fallback_url")));
        assert!(text.iter().any(|t| t.contains("click_secret")));
    }
}
