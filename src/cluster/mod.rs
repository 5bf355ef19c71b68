//! A node's background work in cluster mode (docs/cluster.md), each a task on the runtime,
//! none on the click path:
//!
//! - [`catalog_watch`]: applies each new shared catalog within a second (the commit's
//!   announcement, a generation check every 250 ms, and one on SIGHUP); seeds an empty Redis.
//! - [`lease_keeper`]: keeps a lease of every daily click cap in the table, sized to the demand
//!   on this node, renewed before it runs out, given back when idle and at shutdown.
//! - conversion totals: every 250 ms, the cluster's conversions per cap window of every
//!   offer with a conversion cap, so a cap reached through any node stops routing here.
//! - counters: this node's counters file, and each hour its counts changed in, pushed every
//!   second, for cluster statistics and optimized rotation; and its beacon (the time, the
//!   catalog generation it serves, its queued postbacks) for the console's view of the nodes.
//! - Redis health and the postback queue: a PING every 250 ms while Redis is down (in
//!   Sentinel mode after asking the sentinels where the primary is, and every second
//!   otherwise); the queued postbacks applied once it is back.

pub mod catalog_watch;
pub mod lease_keeper;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::calendar::Period;
use crate::counts::hourly::{RETENTION_HOURS, Reader};
use crate::counts::{CapClock, hour_of};
use crate::redis::Shared;
use crate::redis::conversions::Windows;
use crate::state::State;
use crate::vocab::CapKind;

/// How often conversion totals are read and Redis health is checked.
const POLL: Duration = Duration::from_millis(250);
/// How often this node's counters are pushed.
const PUSH: Duration = Duration::from_secs(1);
/// How often, in Sentinel mode, the sentinels are asked where the primary is while it answers.
const FOLLOW: Duration = Duration::from_secs(1);

/// The running tasks of a node in cluster mode.
pub struct Node {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    keeper: JoinHandle<lease_keeper::Keeper>,
}

impl Node {
    /// Starts the tasks of `state`'s cluster; `None` when standalone.
    pub fn start(state: &Arc<State>) -> Option<Node> {
        let shared = Arc::clone(state.shared.as_ref()?);
        let (stop, stopped) = watch::channel(false);
        let args = || (Arc::clone(state), Arc::clone(&shared), stopped.clone());
        let tasks = vec![
            tokio::spawn(catalog_watch::watch(args())),
            tokio::spawn(poll_conversion_totals(args())),
            tokio::spawn(push_counters(args())),
            tokio::spawn(health_and_queue(args())),
        ];
        let keeper = tokio::spawn(lease_keeper::keep(args()));
        Some(Node {
            shared,
            stop,
            tasks,
            keeper,
        })
    }

    /// After the last request: stops the tasks and gives back every lease held.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        if let Ok(keeper) = self.keeper.await {
            keeper.give_back_all(&self.shared).await;
        }
    }

    /// Pushes this node's counters a last time (after the writers stopped).
    pub async fn push_final_counters(state: &State) {
        if let Some(shared) = &state.shared
            && let Err(e) = shared
                .push_counters(&crate::counts::store::render(&state.counts))
                .await
        {
            tracing::warn!(error = %e.0, "last counters not pushed to Redis; cluster statistics miss this node's last second");
        }
    }
}

/// What every task is given: the state, the Redis handle, and the stop signal.
type Args = (Arc<State>, Arc<Shared>, watch::Receiver<bool>);

/// A period that ends when the node stops.
struct Ticker {
    interval: tokio::time::Interval,
    stopped: watch::Receiver<bool>,
}

impl Ticker {
    fn new(period: Duration, stopped: watch::Receiver<bool>) -> Ticker {
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Ticker { interval, stopped }
    }

    /// Waits for the next tick; false once the node stops.
    async fn tick(&mut self) -> bool {
        if *self.stopped.borrow() {
            return false;
        }
        tokio::select! {
            _ = self.stopped.changed() => false,
            _ = self.interval.tick() => true,
        }
    }
}

/// The cap windows of `clock`.
fn windows(clock: &CapClock) -> Windows {
    let start = |p| clock.calendar.window(p, clock.now).start;
    Windows {
        day: start(Period::Day),
        week: start(Period::Week),
        month: start(Period::Month),
    }
}

/// Every [`POLL`]: sets the conversion windows of every offer with a conversion cap to the
/// cluster's totals.
async fn poll_conversion_totals((state, shared, stopped): Args) {
    let mut ticker = Ticker::new(POLL, stopped);
    while ticker.tick().await {
        if !shared.is_up() {
            continue;
        }
        let snapshot = state.snapshot_full();
        let clock = CapClock::now(&snapshot.calendar);
        let w = windows(&clock);
        let capped: Vec<_> = snapshot
            .table
            .offers()
            .iter()
            .filter_map(|o| o.caps.as_ref().map(|c| (o.id, c)))
            .filter(|(_, c)| {
                CapKind::ALL
                    .iter()
                    .any(|&k| k != CapKind::DailyClicks && c.limits.get(k).is_some())
            })
            .collect();
        let asked: Vec<(u32, Windows)> = capped.iter().map(|(id, _)| (*id, w)).collect();
        if let Ok(totals) = shared.conversion_totals(&asked).await {
            for ((_, caps), totals) in capped.iter().zip(totals) {
                caps.counters
                    .set_conversion_totals([w.day, w.week, w.month], totals);
            }
        }
    }
}

/// Every [`PUSH`]: this node's counters, when they changed since the last push.
async fn push_counters((state, shared, stopped): Args) {
    let mut ticker = Ticker::new(PUSH, stopped);
    let mut pushed = Vec::new();
    while ticker.tick().await {
        let counts = Arc::clone(&state.counts);
        let Ok(json) =
            tokio::task::spawn_blocking(move || crate::counts::store::render(&counts)).await
        else {
            continue;
        };
        if json != pushed && shared.push_counters(&json).await.is_ok() {
            pushed = json;
        }
        push_hours(&state, &shared).await;
        let beacon = crate::redis::console::Beacon {
            seen_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64),
            generation: state.snapshot().catalog_generation,
            postbacks_queued: state.conversions.queued(),
        };
        // Best effort: a beacon missed is written again in a second.
        let _ = shared.write_beacon(&beacon).await;
    }
}

/// Pushes every hour this node's counts changed in since the last push (hours that could
/// not be pushed are tried again on the next tick).
async fn push_hours(state: &State, shared: &Shared) {
    let hourly = state.counts.hourly();
    let changed = hourly.take_dirty(Reader::Push);
    if changed.is_empty() {
        return;
    }
    let now = crate::clock::unix_secs(std::time::SystemTime::now());
    let oldest = hour_of(now).saturating_sub(RETENTION_HOURS - 1);
    let files: Vec<(u32, Vec<u8>)> = changed
        .iter()
        .filter(|&&h| h >= oldest)
        .map(|&h| {
            let json = serde_json::to_vec(&hourly.hour_file(h)).expect("an hour serialises");
            (h, json)
        })
        .collect();
    if shared.push_hours(&files, oldest).await.is_err() {
        hourly.mark_dirty(Reader::Push, changed);
    }
}

/// Every [`POLL`]: while Redis is down, a PING (in Sentinel mode, after asking the sentinels
/// where the primary is); once it answers, the queued postbacks. In Sentinel mode, also
/// every [`FOLLOW`] while Redis answers: a primary demoted by a failover may still answer.
async fn health_and_queue((state, shared, stopped): Args) {
    let mut ticker = Ticker::new(POLL, stopped);
    let mut followed = tokio::time::Instant::now();
    while ticker.tick().await {
        if shared.is_up() && followed.elapsed() >= FOLLOW {
            shared.follow().await;
            followed = tokio::time::Instant::now();
        }
        if !shared.is_up() && !shared.ping().await {
            continue;
        }
        if state.conversions.queued() > 0 {
            let calendar = Arc::clone(&state.snapshot().calendar);
            state.conversions.drain(&calendar).await;
        }
    }
}
