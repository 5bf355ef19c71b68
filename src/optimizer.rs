//! The optimizer task (docs/routing.md#optimized-rotation): every
//! `routing.optimize_interval_ms` (10 s by default, never more), recomputes the weights of
//! every smart link with `rotation = "optimized"` in the served table and publishes them in
//! the route counters, where the next click's draw reads them. The first pass runs at start,
//! so a restarted node routes on what its statistics learned, not on the prior.
//!
//! Never on a click's path: the work (a few milliseconds for a thousand links) runs on the
//! blocking pool. Standalone it reads this node's hourly counts; in cluster mode the
//! cluster's, as every node last pushed them (Redis down: this node's own, until it is back).

use std::sync::Arc;
use std::time::SystemTime;

use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::sync::watch;

use crate::counts::{Hourly, hour_of};
use crate::routing::LinkRotation;
use crate::routing::thompson::recompute;
use crate::state::State;

/// Runs until `stopped` turns true.
pub async fn run(state: Arc<State>, mut stopped: watch::Receiver<bool>) {
    let mut rng = StdRng::from_rng(&mut rand::rng());
    loop {
        let snapshot = state.snapshot_full();
        let table = &snapshot.table;
        let optimized = table
            .links()
            .iter()
            .filter(|l| matches!(l.rotation, LinkRotation::Optimized(_)));
        if let Some(widest) = optimized
            .filter_map(|l| match l.rotation {
                LinkRotation::Optimized(o) => Some(o.window_hours),
                _ => None,
            })
            .max()
        {
            let hour = hour_of(crate::clock::unix_secs(SystemTime::now()));
            let cluster = match &state.shared {
                Some(shared) => {
                    let from = (hour + 1).saturating_sub(widest);
                    crate::stats::cluster_hourly(shared, from).await.ok()
                }
                None => None,
            };
            let (s, snap) = (Arc::clone(&state), Arc::clone(&snapshot));
            let mut r = rng;
            let done = tokio::task::spawn_blocking(move || {
                let hourly: &Hourly = cluster.as_ref().unwrap_or(s.counts.hourly());
                let links = recompute(&snap.table, hourly, hour, &mut r);
                tracing::debug!(links, "optimized weights recomputed");
                r
            })
            .await;
            rng = match done {
                Ok(r) => r,
                Err(_) => StdRng::from_rng(&mut rand::rng()),
            };
        }
        let interval = snapshot.settings.routing.optimize_interval;
        drop(snapshot);
        tokio::select! {
            _ = stopped.wait_for(|s| *s) => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}
