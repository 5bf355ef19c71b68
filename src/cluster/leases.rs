//! The lease keeper: holds, for every offer of the table with a daily click cap, a lease
//! of clicks from Redis sized to this node's demand, so that clicks spend locally and never
//! wait for Redis.
//!
//! Every [`TICK`] it measures each capped offer's demand on this node (clicks spent from
//! the lease, and clicks turned away by the cap, in that tick; smoothed), and:
//! - asks for a new lease when the one held covers less than [`AHEAD`] of demand: a lease
//!   covers [`SPAN`] of demand, at most a quarter of what the cluster has left to grant
//!   (leases shrink as the cap nears, so nodes share its end) and at most [`MAX_LEASE`];
//!   after a refusal (the cap is reached) it asks again only every [`RETRY_REFUSED`],
//!   because other nodes may give clicks back;
//! - gives a lease back when nothing was spent from it for [`IDLE`], when the cap was
//!   lowered under what is granted, or when the offer left the table or lost its cap;
//! - at shutdown, gives every lease back.
//!
//! A lease or give-back that gets no answer is never retried in a way that could count a
//! click twice: clicks of a grant whose answer was lost, and of a give-back that failed, are
//! simply not spent. The cap then fills a little late, never over.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Args, Ticker};
use crate::calendar::Period;
use crate::counts::{CapClock, OfferCounters};
use crate::shared::Shared;
use crate::state::State;
use crate::vocab::CapKind;

/// How often demand is measured and leases are checked.
pub const TICK: Duration = Duration::from_millis(20);
/// A lease is renewed when it covers less than this much demand (seconds).
pub const AHEAD: f64 = 0.25;
/// A new lease covers this much demand (seconds).
pub const SPAN: f64 = 1.0;
/// The largest lease asked for. Below it a lease is [`SPAN`] of this node's demand; it bounds
/// what a node can hold of a cap, and so what a node killed with `-9` leaves unspent (the
/// cap then fills late by that much, never over), while letting one lease per [`TICK`]
/// carry up to 5 million clicks a second on one offer.
pub const MAX_LEASE: u32 = 100_000;
/// A lease unspent for this long is given back.
pub const IDLE: Duration = Duration::from_secs(1);
/// Wait after a refusal before asking again.
pub const RETRY_REFUSED: Duration = Duration::from_millis(250);

/// The leases of this node.
#[derive(Default)]
pub struct Keeper {
    leases: HashMap<u32, Lease>,
}

/// What the keeper knows of one offer's lease.
struct Lease {
    counters: Arc<OfferCounters>,
    /// The day window the lease is of.
    window: i64,
    /// The offer's clicks in the window and its capped clicks, at the last tick.
    spent: u64,
    missed: u64,
    /// Demand on this node, clicks per second (smoothed).
    rate: f64,
    last_spend: Instant,
    /// Clicks the cluster had left to grant at the last answer.
    left: Option<i64>,
    refused_at: Option<Instant>,
}

impl Lease {
    fn new(counters: Arc<OfferCounters>, window: i64, now: Instant) -> Lease {
        Lease {
            spent: counters.daily_clicks(window),
            missed: counters.capped_clicks(),
            counters,
            window,
            rate: 0.0,
            last_spend: now,
            left: None,
            refused_at: None,
        }
    }
}

/// Keeps the leases until the node stops; returns the keeper, whose leases are then given
/// back ([`Keeper::give_back_all`]) after the last request.
pub async fn keep((state, shared, stopped): Args) -> Keeper {
    let mut keeper = Keeper::default();
    let mut ticker = Ticker::new(TICK, stopped);
    let mut last = Instant::now();
    while ticker.tick().await {
        let now = Instant::now();
        let elapsed = (now - last).as_secs_f64().max(0.001);
        last = now;
        keeper.tick(&state, &shared, elapsed, now).await;
    }
    keeper
}

impl Keeper {
    async fn tick(&mut self, state: &State, shared: &Shared, elapsed: f64, now: Instant) {
        let snapshot = state.snapshot_full();
        let clock = CapClock::now(&snapshot.calendar);
        let day = clock.calendar.window(Period::Day, clock.now).start;
        let mut capped = Vec::new();
        for offer in snapshot.table.offers() {
            let Some(caps) = &offer.caps else { continue };
            let Some(cap) = caps.limits.get(CapKind::DailyClicks) else {
                continue;
            };
            capped.push(offer.id);
            let lease = self
                .leases
                .entry(offer.id)
                .or_insert_with(|| Lease::new(Arc::clone(&caps.counters), day, now));
            if lease.window != day {
                // A new window: the old lease cannot be spent in it.
                *lease = Lease::new(Arc::clone(&caps.counters), day, now);
            }
            keep_one(shared, offer.id, cap, lease, elapsed, now).await;
        }
        let gone: Vec<u32> = self
            .leases
            .keys()
            .filter(|id| !capped.contains(id))
            .copied()
            .collect();
        for id in gone {
            if let Some(lease) = self.leases.remove(&id) {
                give_back(shared, id, &lease).await;
            }
        }
    }

    /// Gives back every lease held (at shutdown, after the last request).
    pub async fn give_back_all(self, shared: &Shared) {
        for (id, lease) in &self.leases {
            give_back(shared, *id, lease).await;
        }
    }
}

/// One offer's tick: measure demand, then renew or give back.
async fn keep_one(
    shared: &Shared,
    offer: u32,
    cap: u64,
    lease: &mut Lease,
    elapsed: f64,
    now: Instant,
) {
    let c = &lease.counters;
    let day = lease.window;
    let (spent, missed) = (c.daily_clicks(day), c.capped_clicks());
    let demand = spent.saturating_sub(lease.spent) + missed.saturating_sub(lease.missed);
    if spent != lease.spent {
        lease.last_spend = now;
    }
    (lease.spent, lease.missed) = (spent, missed);
    lease.rate = 0.8 * lease.rate + 0.2 * (demand as f64 / elapsed);
    let held = c.lease_left(day);
    let lowered = lease.left.is_some_and(|left| left < 0);
    if held > 0 && (now - lease.last_spend >= IDLE || lowered) {
        let clicks = c.take_lease(day);
        returned(shared, offer, day, clicks).await;
        return;
    }
    let wanted = demand > 0 || lease.rate >= 1.0;
    if !wanted || held as f64 >= (lease.rate * AHEAD).max(1.0) {
        return;
    }
    if lease.refused_at.is_some_and(|at| now - at < RETRY_REFUSED) {
        return;
    }
    let left = lease.left.unwrap_or(cap as i64).max(4) / 4;
    let want = (lease.rate * SPAN)
        .ceil()
        .clamp(1.0, f64::from(MAX_LEASE))
        .min(left as f64) as u32;
    let metrics = &shared.metrics().cluster;
    match shared.lease(offer, day, cap, want.max(1)).await {
        Ok(grant) => {
            lease.left = Some(grant.left);
            if grant.clicks > 0 {
                c.add_lease(day, grant.clicks);
                c.set_cluster_full(day, false);
                lease.refused_at = None;
                metrics.lease_granted.inc();
                metrics.lease_clicks_granted.add(u64::from(grant.clicks));
            } else {
                c.set_cluster_full(day, true);
                lease.refused_at = Some(now);
                metrics.lease_refused.inc();
            }
        }
        Err(_) => metrics.lease_failed.inc(),
    }
}

/// Empties `lease` and gives its clicks back.
async fn give_back(shared: &Shared, offer: u32, lease: &Lease) {
    let clicks = lease.counters.take_lease(lease.window);
    returned(shared, offer, lease.window, clicks).await;
}

/// Gives `clicks` of `offer`'s lease in `window` back to Redis. Not put back in the lease
/// when Redis does not answer: the give-back may still have happened.
async fn returned(shared: &Shared, offer: u32, window: i64, clicks: u32) {
    if clicks == 0 {
        return;
    }
    match shared.give_back(offer, window, clicks).await {
        Ok(()) => shared
            .metrics()
            .cluster
            .lease_clicks_returned
            .add(u64::from(clicks)),
        Err(e) => {
            tracing::warn!(offer, clicks, error = %e.0, "lease not given back; those clicks of the cap stay unspent today")
        }
    }
}
