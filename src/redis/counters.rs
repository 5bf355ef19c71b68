//! Each node's counters, for cluster statistics.
//!
//! Keys (under the prefix): `nodes`, a hash of node id → Unix milliseconds of its last push;
//! `counters:<node id>`, the node's counters file (`counters.json`) as it last pushed it.
//! `hours:<node id>`, a hash of hour (hours since the Unix epoch) → the node's counts of that
//! hour (`counts::hourly::HourFile` as JSON), each pushed again whenever it changed; hours
//! older than the statistics keep are deleted.
//! A node pushes its whole file and whole hours (absolute counts, not increments), so a push
//! that is retried or repeated never counts anything twice; cluster statistics are the sum.

use super::{Shared, Unavailable};

/// One node's pushed counters.
#[derive(Debug)]
pub struct NodeCounters {
    pub node: String,
    /// When it pushed them, Unix milliseconds.
    pub pushed_ms: i64,
    /// Its `counters.json`.
    pub json: Vec<u8>,
}

impl Shared {
    /// Stores this node's counters file.
    pub async fn push_counters(&self, json: &[u8]) -> Result<(), Unavailable> {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let mut pipe = redis::pipe();
        pipe.atomic()
            .set(self.key(format_args!("counters:{}", self.node)), json)
            .ignore()
            .hset(self.key(format_args!("nodes")), &self.node, now_ms)
            .ignore();
        let mut conn = self.conn()?;
        let answer = tokio::time::timeout(super::TIMEOUT, pipe.query_async::<()>(&mut conn)).await;
        self.settle(answer)
    }

    /// Stores this node's hours (`(hour, JSON)`) and deletes its hours before `oldest`.
    pub async fn push_hours(
        &self,
        hours: &[(u32, Vec<u8>)],
        oldest: u32,
    ) -> Result<(), Unavailable> {
        let key = self.key(format_args!("hours:{}", self.node));
        let fields: Vec<u32> = self.query(redis::cmd("HKEYS").arg(&key)).await?;
        let mut pipe = redis::pipe();
        pipe.atomic();
        for (hour, json) in hours {
            pipe.hset(&key, hour, json).ignore();
        }
        let expired: Vec<u32> = fields.into_iter().filter(|&h| h < oldest).collect();
        if !expired.is_empty() {
            pipe.hdel(&key, expired).ignore();
        }
        let mut conn = self.conn()?;
        let answer = tokio::time::timeout(super::TIMEOUT, pipe.query_async::<()>(&mut conn)).await;
        self.settle(answer)
    }

    /// Every node's pushed hours from `from` on: `(node, JSON)`.
    pub async fn node_hours(&self, from: u32) -> Result<Vec<(String, Vec<u8>)>, Unavailable> {
        let nodes: std::collections::HashMap<String, i64> = self
            .query(redis::cmd("HGETALL").arg(self.key(format_args!("nodes"))))
            .await?;
        let mut out = Vec::new();
        for node in nodes.into_keys() {
            let key = self.key(format_args!("hours:{node}"));
            let hours: std::collections::HashMap<u32, Vec<u8>> =
                self.query(redis::cmd("HGETALL").arg(key)).await?;
            out.extend(
                hours
                    .into_iter()
                    .filter(|(h, _)| *h >= from)
                    .map(|(_, json)| (node.clone(), json)),
            );
        }
        Ok(out)
    }

    /// Every node's last pushed counters, sorted by node id.
    pub async fn node_counters(&self) -> Result<Vec<NodeCounters>, Unavailable> {
        let nodes: std::collections::HashMap<String, i64> = self
            .query(redis::cmd("HGETALL").arg(self.key(format_args!("nodes"))))
            .await?;
        let nodes: Vec<(String, i64)> = nodes.into_iter().collect();
        if nodes.is_empty() {
            return Ok(Vec::new());
        }
        let mut get = redis::cmd("MGET");
        for (node, _) in &nodes {
            get.arg(self.key(format_args!("counters:{node}")));
        }
        let files: Vec<Option<Vec<u8>>> = self.query(&get).await?;
        let mut out: Vec<NodeCounters> = nodes
            .into_iter()
            .zip(files)
            .filter_map(|((node, pushed_ms), json)| {
                json.map(|json| NodeCounters {
                    node,
                    pushed_ms,
                    json,
                })
            })
            .collect();
        out.sort_by(|a, b| a.node.cmp(&b.node));
        Ok(out)
    }
}
