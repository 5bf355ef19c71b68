//! The `[cluster]` section: cluster mode's Redis (or its sentinels) and this node's name.

use serde::Deserialize;

use super::{ENV_REDIS_URL, host_name, redacted};

/// `[cluster]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCluster {
    redis_url: Option<String>,
    sentinels: Option<Vec<String>>,
    sentinel_master: Option<String>,
    node_id: Option<String>,
    key_prefix: Option<String>,
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

impl Default for Cluster {
    fn default() -> Cluster {
        Cluster {
            redis_url: "redis://127.0.0.1:6379/0".into(),
            sentinel: None,
            // The host name and `server.listen`'s port when not set.
            node_id: String::new(),
            key_prefix: "smartlink:".into(),
        }
    }
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

impl super::Validator<'_> {
    /// The `[cluster]` section; the node id defaults to `host name:listen port`.
    pub(super) fn cluster(&mut self, raw: RawCluster, env: super::Env, port: u16) -> Cluster {
        let d = Cluster::default();
        let redis_url = env(ENV_REDIS_URL)
            .filter(|u| !u.is_empty())
            .or(raw.redis_url)
            .unwrap_or(d.redis_url);
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
        let key_prefix = raw.key_prefix.unwrap_or(d.key_prefix);
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
}
