//! What the nodes of a cluster share, kept in Redis (docs/cluster.md): the catalog and its
//! generation, the id high-water marks, click-cap leases, conversion claims and cap-window
//! totals, each node's counters, and the console's sign-outs and node beacons.
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
//!
//! The primary is found at `cluster.redis_url`, or, with `cluster.sentinels`, asked of Redis
//! Sentinel (the crate's `sentinel` module): [`Shared::follow`] asks which node is the
//! primary and, when it moved, swaps in a connection to the new one. A write whose loss in a
//! failover would overshoot a cap or count a conversion twice (a lease grant, a conversion's
//! commit) is followed by `WAIT` for a replica ([`Shared::invoke_replicated`]).

pub mod catalog;
pub mod console;
pub mod conversions;
pub mod counters;
pub mod health;
pub mod leases;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::sentinel::{Sentinel, SentinelNodeConnectionInfo};
use redis::{FromRedisValue, IntoConnectionInfo, Role, Script, ScriptInvocation};

use crate::metrics::Metrics;
use crate::settings::Cluster;

/// Longest wait for one Redis operation; beyond it Redis counts as down.
pub const TIMEOUT: Duration = Duration::from_millis(500);

/// Longest wait for a replica to acknowledge a write ([`Shared::invoke_replicated`]).
pub const REPLICA_WAIT: Duration = Duration::from_millis(100);

/// Redis did not answer (down, unreachable, too slow) or answered with an error.
#[derive(Debug, Clone, thiserror::Error)]
#[error("Redis unavailable: {0}")]
pub struct Unavailable(pub String);

/// A handle on the shared state; cheap to share (`Arc`).
pub struct Shared {
    /// This node's name (`cluster.node_id`).
    pub node: String,
    /// Names this process's pending conversion claims and lease requests: the node and a
    /// per-start nonce, so that what an earlier run of the node left is not taken for its own.
    token: String,
    prefix: String,
    /// The connection to the primary; `None` in Sentinel mode until the sentinels named one.
    link: ArcSwapOption<Link>,
    /// Sentinel mode: who to ask where the primary is.
    sentinel: Option<Follow>,
    up: AtomicBool,
    /// Whether the primary had a replica at the last look (`ROLE`), so that a replicated
    /// write waits for one.
    replicas: AtomicBool,
    runtime: tokio::runtime::Handle,
    metrics: Arc<Metrics>,
    /// Wakes the catalog watcher for a generation check now (SIGHUP).
    catalog_check: tokio::sync::Notify,
}

/// A connection to one Redis primary.
struct Link {
    client: redis::Client,
    conn: ConnectionManager,
}

/// Sentinel mode: the sentinels, the name of the primary they watch, and how to log in to it.
struct Follow {
    sentinels: tokio::sync::Mutex<Sentinel>,
    master: String,
    primary: SentinelNodeConnectionInfo,
}

impl Shared {
    /// A handle on the Redis of `settings`, connected lazily: it is created with Redis down,
    /// and reconnects by itself. Must be called inside the Tokio runtime. Fails only on a
    /// malformed URL or sentinel address (which settings validation already refused).
    pub fn open(settings: &Cluster, metrics: Arc<Metrics>) -> Result<Shared, Unavailable> {
        let fail = |e: redis::RedisError| Unavailable(e.to_string());
        let (link, sentinel) = match &settings.sentinel {
            None => {
                let client = redis::Client::open(settings.redis_url.as_str()).map_err(fail)?;
                (Some(Link::open(client)?), None)
            }
            Some(s) => {
                let urls: Vec<String> =
                    s.addresses.iter().map(|a| format!("redis://{a}")).collect();
                // Only the URL's credentials and database: the address comes from Sentinel.
                let login = settings
                    .redis_url
                    .as_str()
                    .into_connection_info()
                    .map_err(fail)?
                    .redis_settings()
                    .clone();
                let follow = Follow {
                    sentinels: tokio::sync::Mutex::new(Sentinel::build(urls).map_err(fail)?),
                    master: s.master.clone(),
                    primary: SentinelNodeConnectionInfo::default().set_redis_connection_info(login),
                };
                (None, Some(follow))
            }
        };
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        Ok(Shared {
            token: format!("{}/{}-{started}", settings.node_id, std::process::id()),
            node: settings.node_id.clone(),
            prefix: settings.key_prefix.clone(),
            link: ArcSwapOption::from(link.map(Arc::new)),
            sentinel,
            // Optimistic until the first command says otherwise.
            up: AtomicBool::new(true),
            // Assumed until the first `ROLE` answer: the first write waits for a replica.
            replicas: AtomicBool::new(true),
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

    /// One PING; marks Redis up or down. In Sentinel mode, while Redis is down (or no primary
    /// is known yet), asks the sentinels where the primary is first.
    pub async fn ping(&self) -> bool {
        if !self.is_up() || self.link.load().is_none() {
            self.follow().await;
        }
        self.query::<String>(&redis::cmd("PING")).await.is_ok()
    }

    /// Sentinel mode: asks the sentinels which node is the primary now and, when it is not
    /// the one connected to, connects to it (a failover). Nothing without sentinels, and
    /// nothing when no sentinel answers (the connection held is kept).
    pub async fn follow(&self) {
        let Some(follow) = &self.sentinel else {
            return;
        };
        let found = {
            let mut sentinels = follow.sentinels.lock().await;
            tokio::time::timeout(
                TIMEOUT,
                sentinels.async_master_for(&follow.master, Some(&follow.primary)),
            )
            .await
        };
        let client = match found {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "the sentinels name no primary");
                return;
            }
            Err(_) => return,
        };
        let addr = client.get_connection_info().addr().clone();
        let held = self.link.load();
        if held
            .as_ref()
            .is_some_and(|link| *link.client.get_connection_info().addr() == addr)
        {
            return;
        }
        match Link::open(client) {
            Ok(link) => {
                self.link.store(Some(Arc::new(link)));
                self.replicas.store(true, Ordering::Relaxed);
                if held.is_some() {
                    self.metrics.cluster.primary_switches.inc();
                    tracing::warn!(primary = %addr, master = %follow.master, "the primary moved (a failover): following the one the sentinels name");
                } else {
                    tracing::info!(primary = %addr, master = %follow.master, "connected to the primary the sentinels name");
                }
            }
            Err(e) => {
                tracing::warn!(primary = %addr, error = %e.0, "cannot connect to the primary the sentinels name")
            }
        }
    }

    /// The key `name` under the network's prefix.
    fn key(&self, name: std::fmt::Arguments) -> String {
        format!("{}{name}", self.prefix)
    }

    /// The connection to the primary (none known yet: Redis is down).
    fn conn(&self) -> Result<ConnectionManager, Unavailable> {
        match &*self.link.load() {
            Some(link) => Ok(link.conn.clone()),
            None => {
                let e = Unavailable("the sentinels have named no primary yet".into());
                self.mark(false, Some(&e));
                Err(e)
            }
        }
    }

    /// A client for the primary, for a connection of its own (subscriptions).
    fn client(&self) -> Result<redis::Client, Unavailable> {
        match &*self.link.load() {
            Some(link) => Ok(link.client.clone()),
            None => Err(Unavailable(
                "the sentinels have named no primary yet".into(),
            )),
        }
    }

    async fn query<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, Unavailable> {
        let mut conn = self.conn()?;
        let answer = tokio::time::timeout(TIMEOUT, cmd.query_async::<T>(&mut conn)).await;
        self.settle(answer)
    }

    async fn invoke<T: FromRedisValue>(
        &self,
        script: &ScriptInvocation<'_>,
    ) -> Result<T, Unavailable> {
        let mut conn = self.conn()?;
        let answer = tokio::time::timeout(TIMEOUT, script.invoke_async::<T>(&mut conn)).await;
        self.settle(answer)
    }

    /// Runs `call` (an `EVALSHA` of `script`, from [`evalsha`]) and makes sure a replica holds
    /// what it wrote before answering: the script, `WAIT` for one replica (up to
    /// [`REPLICA_WAIT`], when the primary had one at the last look) and `ROLE`, in one
    /// pipeline on one connection. The answer is the script's when a replica acknowledged the
    /// write, or when the primary has no replica (no failover can then lose it: a replica
    /// attaching later copies it first); otherwise `Unavailable`, and the caller tries again
    /// (the script must be safe to repeat, and write on every call so that the `WAIT` covers
    /// what an earlier call wrote).
    async fn invoke_replicated<T: FromRedisValue>(
        &self,
        script: &Script,
        call: &redis::Cmd,
    ) -> Result<T, Unavailable> {
        let mut pipe = redis::pipe();
        pipe.add_command(call.clone())
            .cmd("WAIT")
            .arg(u8::from(self.replicas.load(Ordering::Relaxed)))
            .arg(REPLICA_WAIT.as_millis() as u64)
            .cmd("ROLE");
        let mut conn = self.conn()?;
        let run = async {
            match pipe.query_async::<(T, u32, Role)>(&mut conn).await {
                Err(e)
                    if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) =>
                {
                    script.prepare_invoke().load_async(&mut conn).await?;
                    pipe.query_async(&mut conn).await
                }
                answer => answer,
            }
        };
        let (answer, acked, role) = self.settle(tokio::time::timeout(TIMEOUT, run).await)?;
        let replicas = match role {
            Role::Primary { replicas, .. } => replicas.len(),
            _ => 0,
        };
        self.replicas.store(replicas > 0, Ordering::Relaxed);
        if acked == 0 && replicas > 0 {
            self.metrics.cluster.unreplicated_writes.inc();
            return Err(Unavailable(format!(
                "no replica acknowledged the write within {} ms",
                REPLICA_WAIT.as_millis()
            )));
        }
        Ok(answer)
    }

    /// Counts the command and notes whether Redis answered.
    fn settle<T>(
        &self,
        answer: Result<redis::RedisResult<T>, tokio::time::error::Elapsed>,
    ) -> Result<T, Unavailable> {
        self.metrics.cluster.redis_commands.inc();
        // An error reply (a script's) is an answer: Redis is up, unless, in Sentinel mode,
        // it says it is a replica now (a failover demoted it: the sentinels are asked again).
        let demoted = |e: &redis::RedisError| {
            self.sentinel.is_some()
                && e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly)
        };
        let up = match &answer {
            Ok(Ok(_)) => true,
            Ok(Err(e)) => {
                !(e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || demoted(e))
            }
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
        self.mark(up, result.as_ref().err());
        result
    }

    /// Notes whether Redis is up, logging each change.
    fn mark(&self, up: bool, error: Option<&Unavailable>) {
        if self.up.swap(up, Ordering::Relaxed) != up {
            match error {
                Some(e) if !up => {
                    tracing::error!(error = %e.0, "Redis is unreachable; clicks are served from the current table, capped offers spend only the leases held, postbacks are queued on this node, API writes get 503")
                }
                _ => tracing::info!("Redis is reachable again"),
            }
        }
    }
}

impl Link {
    fn open(client: redis::Client) -> Result<Link, Unavailable> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(300)))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_secs(2));
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), config)
            .map_err(|e| Unavailable(e.to_string()))?;
        Ok(Link { client, conn })
    }
}

/// `script` called with `keys` as one `EVALSHA` command (arguments are added to it), for
/// [`Shared::invoke_replicated`], which sends it in a pipeline: redis-rs's
/// `ScriptInvocation` only sends itself.
fn evalsha(script: &Script, keys: &[&str]) -> redis::Cmd {
    let mut cmd = redis::cmd("EVALSHA");
    cmd.arg(script.get_hash()).arg(keys.len()).arg(keys);
    cmd
}
