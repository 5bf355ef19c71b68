//! The `[server]` section: the listeners, public URLs, trusted proxies, the fallback URL,
//! connection limits and the threads that serve.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;

use crate::template::Template;
use crate::vocab::ClientIpHeader;

/// `[server]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServer {
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

/// How requests are spread over threads (docs/performance.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    /// `server.threads` threads, each a single-threaded runtime accepting from the same
    /// listening socket and serving its connections start to end (the default).
    PerCore,
    /// One work-stealing runtime of `server.threads` workers.
    Shared,
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

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 10_000,
            max_header_bytes: 16 * 1024,
            max_headers: 100,
            max_uri_bytes: 4096,
            header_read_timeout: Duration::from_millis(10_000),
            // `header_read_timeout` when not set.
            idle_timeout: Duration::from_millis(10_000),
            max_connection_age: Duration::from_millis(600_000),
            http2_max_concurrent_streams: 256,
            proxy_protocol: false,
        }
    }
}

/// The server: where it listens and how it serves.
#[derive(Clone, Debug)]
pub struct Server {
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
}

/// The fallback URL of settings whose `server.default_fallback_url` is missing or invalid
/// (they fail validation; `check` goes on with this one).
const PLACEHOLDER_FALLBACK: &str = "https://invalid.invalid/";

impl Default for Server {
    fn default() -> Server {
        Server {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            admin_listen: None,
            // `http://` and `server.listen` when not set.
            public_base_url: "http://127.0.0.1:8080".into(),
            vanity_base_url: "http://127.0.0.1:8080".into(),
            trusted_proxies: vec![
                IpNet::from(IpAddr::from(Ipv4Addr::LOCALHOST)),
                IpNet::from(IpAddr::from(Ipv6Addr::LOCALHOST)),
            ],
            default_fallback_url: Template::parse(PLACEHOLDER_FALLBACK)
                .expect("placeholder is valid"),
            client_ip_header: ClientIpHeader::XForwardedFor,
            limits: Limits::default(),
            shutdown_grace: Duration::from_millis(10_000),
            runtime: Runtime::PerCore,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

impl super::Validator<'_> {
    pub(super) fn server(&mut self, mut s: RawServer) -> Server {
        let d = Server::default();
        let listen_text = s.listen.take().unwrap_or_else(|| d.listen.to_string());
        let listen = listen_text.parse().unwrap_or_else(|_| {
            self.fail(
                "server.listen",
                format!(
                    "{listen_text:?} is not an address:port (e.g. 127.0.0.1:8080 or [::]:8080)"
                ),
            );
            d.listen
        });
        let public_base_url = self.base_url(
            "server.public_base_url",
            s.public_base_url
                .take()
                .unwrap_or_else(|| format!("http://{listen_text}")),
        );
        let vanity_base_url = match s.vanity_base_url.take() {
            Some(url) => self.base_url("server.vanity_base_url", url),
            None => public_base_url.clone(),
        };
        let trusted_proxies = match s.trusted_proxies.take() {
            Some(list) => self.networks("server.trusted_proxies", list),
            None => d.trusted_proxies,
        };
        let admin_listen = s.admin_listen.take().and_then(|text| {
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
        let default_fallback_url = self
            .fallback(s.default_fallback_url.take())
            .unwrap_or(d.default_fallback_url);
        let client_ip_header = match s.client_ip_header.as_deref() {
            None => d.client_ip_header,
            Some("x-forwarded-for") => ClientIpHeader::XForwardedFor,
            Some("forwarded") => ClientIpHeader::Forwarded,
            Some(other) => {
                self.fail(
                    "server.client_ip_header",
                    format!("{other:?} is not one of \"x-forwarded-for\", \"forwarded\""),
                );
                d.client_ip_header
            }
        };
        let limits = self.limits(&s);
        let runtime = match s.runtime.as_deref() {
            None => d.runtime,
            Some("per_core") => Runtime::PerCore,
            Some("shared") => Runtime::Shared,
            Some(other) => {
                self.fail(
                    "server.runtime",
                    format!("{other:?} is not one of \"per_core\", \"shared\""),
                );
                d.runtime
            }
        };
        let threads = match s.threads {
            None => d.threads,
            Some(n @ 1..=1024) => n,
            Some(n) => {
                self.fail("server.threads", format!("{n} is not in 1..=1024"));
                d.threads
            }
        };
        Server {
            listen,
            admin_listen,
            public_base_url,
            vanity_base_url,
            trusted_proxies,
            default_fallback_url,
            client_ip_header,
            limits,
            shutdown_grace: s
                .shutdown_grace_ms
                .map_or(d.shutdown_grace, Duration::from_millis),
            runtime,
            threads,
        }
    }

    /// The connection limits of `[server]`.
    fn limits(&mut self, s: &RawServer) -> Limits {
        let d = Limits::default();
        let millis = |d: Duration| d.as_millis() as u64;
        let header_read_timeout = Duration::from_millis(self.positive(
            "server.header_read_timeout_ms",
            s.header_read_timeout_ms,
            millis(d.header_read_timeout),
        ));
        Limits {
            max_connections: self.positive(
                "server.max_connections",
                s.max_connections,
                d.max_connections,
            ),
            max_header_bytes: self.at_least(
                "server.max_header_bytes",
                s.max_header_bytes.unwrap_or(d.max_header_bytes),
                8192,
            ),
            max_headers: self.positive("server.max_headers", s.max_headers, d.max_headers),
            max_uri_bytes: self.at_least(
                "server.max_uri_bytes",
                s.max_uri_bytes.unwrap_or(d.max_uri_bytes),
                64,
            ),
            header_read_timeout,
            idle_timeout: Duration::from_millis(self.positive(
                "server.idle_timeout_ms",
                s.idle_timeout_ms,
                millis(header_read_timeout),
            )),
            max_connection_age: Duration::from_millis(self.positive(
                "server.max_connection_age_ms",
                s.max_connection_age_ms,
                millis(d.max_connection_age),
            )),
            http2_max_concurrent_streams: self.positive(
                "server.http2_max_concurrent_streams",
                s.http2_max_concurrent_streams,
                d.http2_max_concurrent_streams,
            ),
            proxy_protocol: s.proxy_protocol.unwrap_or(d.proxy_protocol),
        }
    }

    /// `server.default_fallback_url`: required; `None` (reported) when missing or invalid.
    fn fallback(&mut self, url: Option<String>) -> Option<Template> {
        let Some(url) = url else {
            self.fail(
                "server.default_fallback_url",
                "is required: where clicks go when nothing qualifies",
            );
            return None;
        };
        Template::parse(&url)
            .map_err(|e| self.fail("server.default_fallback_url", format!("{url:?} {e}")))
            .ok()
    }
}
