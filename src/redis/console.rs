//! What the console needs the nodes to share.
//!
//! Keys (under the prefix): `console:revoked:<session id>`, a signed-out console session,
//! kept until the session would have expired (`SET … EX`), so that a sign-out on one node
//! holds on every node; `beacons`, a hash of node id → `{"seen_ms":…,"generation":…}`,
//! written by every node every second, so that the console can show each node's state
//! (a node that stops writing it is stale).

use serde::{Deserialize, Serialize};

use super::{Shared, Unavailable};

/// What a node says of itself every second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Beacon {
    /// When it wrote this, Unix milliseconds.
    pub seen_ms: i64,
    /// The generation of the shared catalog it serves.
    pub generation: u64,
    /// Postbacks in its queue, waiting for Redis (they are applied when it answers).
    pub postbacks_queued: u64,
}

impl Shared {
    /// Records the sign-out of the session `id` (hex) for `ttl_secs` (at least 1).
    pub async fn revoke_session(&self, id: &str, ttl_secs: u64) -> Result<(), Unavailable> {
        let key = self.key(format_args!("console:revoked:{id}"));
        self.query::<()>(
            redis::cmd("SET")
                .arg(key)
                .arg(1)
                .arg("EX")
                .arg(ttl_secs.max(1)),
        )
        .await
    }

    /// Whether the session `id` (hex) was signed out on some node.
    pub async fn session_revoked(&self, id: &str) -> Result<bool, Unavailable> {
        let key = self.key(format_args!("console:revoked:{id}"));
        self.query::<bool>(redis::cmd("EXISTS").arg(key)).await
    }

    /// Writes this node's beacon.
    pub async fn write_beacon(&self, beacon: &Beacon) -> Result<(), Unavailable> {
        let json = serde_json::to_string(beacon).map_err(|e| Unavailable(e.to_string()))?;
        let key = self.key(format_args!("beacons"));
        self.query::<()>(redis::cmd("HSET").arg(key).arg(&self.node).arg(json))
            .await
    }

    /// Every node's last beacon, sorted by node id; a beacon that cannot be read is left
    /// out.
    pub async fn beacons(&self) -> Result<Vec<(String, Beacon)>, Unavailable> {
        let all: std::collections::HashMap<String, String> = self
            .query(redis::cmd("HGETALL").arg(self.key(format_args!("beacons"))))
            .await?;
        let mut out: Vec<(String, Beacon)> = all
            .into_iter()
            .filter_map(|(node, json)| Some((node, serde_json::from_str(&json).ok()?)))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }
}
