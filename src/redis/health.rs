//! Destination health checks in cluster mode: who probes a destination, and what the
//! probes found.
//!
//! Keys (under the prefix): `health:lease:<destination>` (`offer:1042`), the node that
//! probes it this interval, set with `NX` and a time to live shorter than the interval, so
//! one node probes each destination per interval whichever nodes are due; `health`, a hash of
//! destination → its status (`counts::Status` as JSON), written by the node that probed and
//! read by every node four times a second.

use std::time::Duration;

use super::{Shared, Unavailable};
use crate::vocab::Destination;

impl Shared {
    /// Takes the lease to probe `d` for `ttl`; false when another node holds it.
    pub async fn health_lease(&self, d: Destination, ttl: Duration) -> Result<bool, Unavailable> {
        let key = self.key(format_args!("health:lease:{}", d.key()));
        let taken: Option<String> = self
            .query(
                redis::cmd("SET")
                    .arg(key)
                    .arg(&self.node)
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl.as_millis().max(1) as u64),
            )
            .await?;
        Ok(taken.is_some())
    }

    /// Stores what the probe of `d` found.
    pub async fn push_health(&self, d: Destination, json: &[u8]) -> Result<(), Unavailable> {
        let key = self.key(format_args!("health"));
        self.query(redis::cmd("HSET").arg(key).arg(d.key()).arg(json))
            .await
    }

    /// Every destination's status as the cluster last probed it (JSON).
    pub async fn health_states(&self) -> Result<Vec<(String, Vec<u8>)>, Unavailable> {
        let key = self.key(format_args!("health"));
        let map: std::collections::HashMap<String, Vec<u8>> =
            self.query(redis::cmd("HGETALL").arg(key)).await?;
        Ok(map.into_iter().collect())
    }
}
