//! What the nodes of a cluster share, kept in Redis (docs/cluster.md): the catalog and its
//! generation, the id high-water marks, click-cap leases, conversion claims and cap-window
//! totals, and each node's counters.
//!
//! This module is the only one that speaks Redis. Each operation is one round trip (a
//! command, or a Lua script where several keys must change atomically), bounded by
//! [`TIMEOUT`]; a failure marks Redis down ([`Shared::is_up`]) until a command succeeds
//! again. Nothing on the click path calls it: clicks spend leases held in `counts`.
//!
//! The connection is the `redis` crate's `ConnectionManager` (one multiplexed connection,
//! reconnected with exponential backoff in the background), chosen over `fred` because it
//! has the Lua script support (`EVALSHA`, loading the script
//! on `NOSCRIPT`) the cap and catalog operations need, and nothing more.

pub mod catalog;
pub mod conversions;
pub mod counters;
pub mod leases;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{FromRedisValue, ScriptInvocation};

use crate::metrics::Metrics;
use crate::settings::Cluster;

/// Longest wait for one Redis operation; beyond it Redis counts as down.
pub const TIMEOUT: Duration = Duration::from_millis(500);

/// Redis did not answer (down, unreachable, too slow) or answered with an error.
#[derive(Debug, Clone, thiserror::Error)]
#[error("Redis unavailable: {0}")]
pub struct Unavailable(pub String);

/// A handle on the shared state; cheap to share (`Arc`).
pub struct Shared {
    /// This node's name (`cluster.node_id`).
    pub node: String,
    /// Names this process's pending conversion claims: the node and a per-start nonce, so a
    /// claim left by an earlier run of the node is not taken for its own.
    token: String,
    prefix: String,
    client: redis::Client,
    conn: ConnectionManager,
    up: AtomicBool,
    runtime: tokio::runtime::Handle,
    metrics: Arc<Metrics>,
    /// Wakes the catalog watcher for a generation check now (SIGHUP).
    catalog_check: tokio::sync::Notify,
}

impl Shared {
    /// A handle on the Redis of `settings`, connected lazily: it is created with Redis down,
    /// and reconnects by itself. Must be called inside the Tokio runtime. Fails only on a
    /// malformed URL (which settings validation already refused).
    pub fn open(settings: &Cluster, metrics: Arc<Metrics>) -> Result<Shared, Unavailable> {
        let fail = |e: redis::RedisError| Unavailable(e.to_string());
        let client = redis::Client::open(settings.redis_url.as_str()).map_err(fail)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(300)))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_secs(2));
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), config).map_err(fail)?;
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        Ok(Shared {
            token: format!("{}/{}-{started}", settings.node_id, std::process::id()),
            node: settings.node_id.clone(),
            prefix: settings.key_prefix.clone(),
            client,
            conn,
            // Optimistic until the first command says otherwise.
            up: AtomicBool::new(true),
            runtime: tokio::runtime::Handle::current(),
            metrics,
            catalog_check: tokio::sync::Notify::new(),
        })
    }

    /// The metrics the cluster's work is counted in.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Whether the last Redis operation succeeded.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Runs `f` on the runtime from a thread outside it (the rebuilder, which runs API
    /// writes and reloads), waiting for its result.
    pub fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }

    /// Asks the catalog watcher to check the shared generation now.
    pub fn check_catalog_now(&self) {
        self.catalog_check.notify_one();
    }

    /// Waits for [`Shared::check_catalog_now`].
    pub async fn catalog_check_asked(&self) {
        self.catalog_check.notified().await;
    }

    /// One PING; marks Redis up or down.
    pub async fn ping(&self) -> bool {
        self.query::<String>(&redis::cmd("PING")).await.is_ok()
    }

    /// The key `name` under the network's prefix.
    fn key(&self, name: std::fmt::Arguments) -> String {
        format!("{}{name}", self.prefix)
    }

    async fn query<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, Unavailable> {
        let mut conn = self.conn.clone();
        let answer = tokio::time::timeout(TIMEOUT, cmd.query_async::<T>(&mut conn)).await;
        self.settle(answer)
    }

    async fn invoke<T: FromRedisValue>(
        &self,
        script: &ScriptInvocation<'_>,
    ) -> Result<T, Unavailable> {
        let mut conn = self.conn.clone();
        let answer = tokio::time::timeout(TIMEOUT, script.invoke_async::<T>(&mut conn)).await;
        self.settle(answer)
    }

    /// Counts the command and notes whether Redis answered.
    fn settle<T>(
        &self,
        answer: Result<redis::RedisResult<T>, tokio::time::error::Elapsed>,
    ) -> Result<T, Unavailable> {
        self.metrics.cluster.redis_commands.inc();
        // An error reply (a script's) is an answer: Redis is up.
        let up = match &answer {
            Ok(Ok(_)) => true,
            Ok(Err(e)) => !(e.is_io_error() || e.is_timeout() || e.is_connection_dropped()),
            Err(_) => false,
        };
        let result = match answer {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(Unavailable(e.to_string())),
            Err(_) => Err(Unavailable(format!(
                "no answer within {} ms",
                TIMEOUT.as_millis()
            ))),
        };
        if self.up.swap(up, Ordering::Relaxed) != up {
            match &result {
                Err(e) if !up => {
                    tracing::error!(error = %e.0, "Redis is unreachable; clicks are served from the current table, capped offers spend only the leases held, postbacks are queued on this node, API writes get 503")
                }
                _ => tracing::info!("Redis is reachable again"),
            }
        }
        result
    }
}
