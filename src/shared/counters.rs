//! Each node's counters, for cluster statistics.
//!
//! Keys (under the prefix): `nodes`, a hash of node id → Unix milliseconds of its last push;
//! `counters:<node id>`, the node's counters file (`counters.json`) as it last pushed it.
//! A node pushes its whole file (absolute counts, not increments), so a push that is
//! retried or repeated never counts anything twice; cluster statistics are the sum.

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
        let mut conn = self.conn.clone();
        let answer = tokio::time::timeout(super::TIMEOUT, pipe.query_async::<()>(&mut conn)).await;
        self.settle(answer)
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
