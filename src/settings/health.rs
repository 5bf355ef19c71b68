//! The `[health]` section: destination health checks (docs/operations.md#destination-health).

use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;

/// `[health]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHealth {
    enabled: Option<bool>,
    interval_ms: Option<u64>,
    timeout_ms: Option<u64>,
    down_after: Option<u32>,
    up_after: Option<u32>,
    concurrency: Option<usize>,
    all_down: Option<String>,
    allowed_networks: Option<Vec<String>>,
    ca_file: Option<String>,
}

/// What routing does while every candidate of a link is down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllDown {
    /// Route as if health checks were off (the default: a network whose checks all fail,
    /// say because its own egress broke, keeps routing).
    Ignore,
    /// Treat them as down: the click goes to the fallback URL (`destination_down`).
    Fallback,
}

/// Destination health checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Health {
    pub enabled: bool,
    /// Each destination is probed this often (each probe's next time drawn within ±10 %).
    pub interval: Duration,
    /// Longest wait for one probe.
    pub timeout: Duration,
    /// Consecutive failures after which a destination is down.
    pub down_after: u32,
    /// Consecutive successes after which a down destination is up again.
    pub up_after: u32,
    /// Probes in flight at most, on this node.
    pub concurrency: usize,
    pub all_down: AllDown,
    /// Networks probes may reach although they are internal (loopback, private, ...).
    pub allowed_networks: Vec<IpNet>,
    /// More root certificates (PEM) for destinations served with a private CA.
    pub ca_file: Option<PathBuf>,
}

impl Default for Health {
    fn default() -> Health {
        Health {
            enabled: false,
            interval: Duration::from_millis(30_000),
            timeout: Duration::from_millis(5_000),
            down_after: 3,
            up_after: 2,
            concurrency: 16,
            all_down: AllDown::Ignore,
            allowed_networks: Vec::new(),
            ca_file: None,
        }
    }
}

impl super::Validator<'_> {
    pub(super) fn health(&mut self, raw: RawHealth) -> Health {
        let d = Health::default();
        let interval_ms = raw.interval_ms.unwrap_or(d.interval.as_millis() as u64);
        if !(100..=86_400_000).contains(&interval_ms) {
            self.fail(
                "health.interval_ms",
                format!("{interval_ms} is not between 100 and 86400000 (a day)"),
            );
        }
        let timeout_ms = raw.timeout_ms.unwrap_or(d.timeout.as_millis() as u64);
        if timeout_ms == 0 || timeout_ms >= interval_ms {
            self.fail(
                "health.timeout_ms",
                format!(
                    "{timeout_ms} must be greater than 0 and less than health.interval_ms ({interval_ms}): a probe ends before the next one starts"
                ),
            );
        }
        let mut count = |key: &str, value: Option<u32>, default: u32| match value {
            None => default,
            Some(n @ 1..=100) => n,
            Some(n) => {
                self.fail(key, format!("{n} is not between 1 and 100"));
                default
            }
        };
        let down_after = count("health.down_after", raw.down_after, d.down_after);
        let up_after = count("health.up_after", raw.up_after, d.up_after);
        let concurrency = match raw.concurrency {
            None => d.concurrency,
            Some(n @ 1..=1024) => n,
            Some(n) => {
                self.fail(
                    "health.concurrency",
                    format!("{n} is not between 1 and 1024"),
                );
                d.concurrency
            }
        };
        let all_down = match raw.all_down.as_deref() {
            None | Some("ignore") => AllDown::Ignore,
            Some("fallback") => AllDown::Fallback,
            Some(other) => {
                self.fail(
                    "health.all_down",
                    format!("{other:?} is not one of \"ignore\", \"fallback\""),
                );
                AllDown::Ignore
            }
        };
        let allowed_networks = self.networks(
            "health.allowed_networks",
            raw.allowed_networks.unwrap_or_default(),
        );
        let ca_file = raw.ca_file.map(PathBuf::from);
        if let Some(path) = &ca_file
            && let Err(message) = crate::outbound::check_ca_file(path)
        {
            self.fail("health.ca_file", message);
        }
        Health {
            enabled: raw.enabled.unwrap_or(d.enabled),
            interval: Duration::from_millis(interval_ms.clamp(100, 86_400_000)),
            timeout: Duration::from_millis(timeout_ms.clamp(1, interval_ms.max(2) - 1)),
            down_after,
            up_after,
            concurrency,
            all_down,
            allowed_networks,
            ca_file,
        }
    }
}
