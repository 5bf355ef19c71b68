//! Applying the shared catalog: every commit is announced on a channel, and the generation
//! is also checked every [`POLL`](super::POLL) and on SIGHUP, so a missed announcement or a
//! reconnect cannot leave the node stale for more than that. A new generation is fetched,
//! validated and compiled on the rebuilder thread (`State::apply_shared`); an invalid one is
//! refused once and logged, and the node keeps serving what it has. An empty Redis (first
//! start, or data lost) is seeded with the catalog this node serves.

use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{Stream, StreamExt};

use super::{Args, POLL, Ticker};
use crate::redis::Shared;
use crate::state::State;

/// Announcements of new generations.
type Announcements = Pin<Box<dyn Stream<Item = u64> + Send>>;

/// Wait between attempts to subscribe while Redis is unreachable.
const RESUBSCRIBE: Duration = Duration::from_secs(1);

pub async fn watch((state, shared, stopped): Args) {
    let mut ticker = Ticker::new(POLL, stopped);
    let mut announced: Option<Announcements> = None;
    let mut subscribe_at = Instant::now();
    let mut refused: Option<u64> = None;
    loop {
        if announced.is_none() && Instant::now() >= subscribe_at {
            match shared.watch_catalog().await {
                Ok(stream) => announced = Some(Box::pin(stream)),
                Err(_) => subscribe_at = Instant::now() + RESUBSCRIBE,
            }
        }
        tokio::select! {
            running = ticker.tick() => if !running { return },
            () = shared.catalog_check_asked() => {}
            message = next(&mut announced) => if message.is_none() { announced = None },
        }
        check(&state, &shared, &mut refused).await;
    }
}

/// At start, before the node listens: applies the newest shared catalog (or seeds an empty
/// Redis) when Redis answers; otherwise the node serves its file, the last catalog it
/// applied, and the watcher catches up once Redis is back.
pub async fn sync_at_start(state: &Arc<State>) {
    let Some(shared) = &state.shared else {
        return;
    };
    if !shared.ping().await {
        tracing::warn!(
            catalog = %state.snapshot().settings.catalog.path.display(),
            "Redis is unreachable at start: serving the catalog file, the last catalog this node applied"
        );
        return;
    }
    check(state, shared, &mut None).await;
}

/// The next announcement (`None`: the subscription dropped); never, without one.
async fn next(announced: &mut Option<Announcements>) -> Option<u64> {
    match announced {
        Some(stream) => stream.next().await,
        None => std::future::pending().await,
    }
}

/// Applies the shared generation if it is not the one served (and was not refused before);
/// seeds Redis when it holds none.
async fn check(state: &Arc<State>, shared: &Arc<Shared>, refused: &mut Option<u64>) {
    let Ok(head) = shared.catalog_head().await else {
        return;
    };
    let served = state.snapshot().catalog_generation;
    match head {
        None => {
            let (state, shared) = (Arc::clone(state), Arc::clone(shared));
            let seeding = Arc::clone(&state);
            if let Ok(Err(e)) = state
                .rebuilder
                .run(move || seeding.seed_shared(&shared))
                .await
            {
                tracing::warn!(error = %e.0, "cannot seed Redis with the catalog");
            }
        }
        Some(h) if h.generation != served && Some(h.generation) != *refused => {
            let Ok(Some(fetched)) = shared.fetch_catalog().await else {
                return;
            };
            let generation = fetched.head.generation;
            let applying = Arc::clone(state);
            if let Ok(Err(_)) = state
                .rebuilder
                .run(move || applying.apply_shared(&fetched))
                .await
            {
                *refused = Some(generation);
            }
        }
        Some(_) => {}
    }
}
