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
//! A request or give-back that gets no answer is sent again, unchanged, at the next tick,
//! before anything else is asked for that offer, until Redis answers it (`redis::leases`:
//! Redis applies each change once however often it is sent, and answers once a replica
//! holds it). So a grant Redis made while the node had stopped waiting (a frozen Redis that
//! woke up) is received and spent, never lost to the cap; and clicks are spent only from an
//! answer, never counted twice. A change still unanswered when the offer leaves the table or
//! at shutdown is tried once more, then abandoned: the cap then fills late by its clicks,
//! never over. One of a window that ended is dropped: its clicks can no longer be spent.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Args, Ticker};
use crate::calendar::Period;
use crate::counts::{CapClock, OfferCounters};
use crate::redis::Shared;
use crate::redis::leases::Change;
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
    /// The number of the last change sent (`redis::leases`).
    seq: u64,
}

/// What the keeper knows of one offer's lease.
struct Lease {
    counters: Arc<OfferCounters>,
    /// The day window the lease is of.
    window: i64,
    /// The daily click cap at the last tick.
    cap: u64,
    /// A change sent without an answer yet: sent again until answered.
    unanswered: Option<Change>,
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
    fn new(counters: Arc<OfferCounters>, window: i64, cap: u64, now: Instant) -> Lease {
        Lease {
            spent: counters.daily_clicks(window),
            missed: counters.capped_clicks(),
            counters,
            window,
            cap,
            unanswered: None,
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
                .or_insert_with(|| Lease::new(Arc::clone(&caps.counters), day, cap, now));
            if lease.window != day {
                // A new window: the old lease cannot be spent in it.
                *lease = Lease::new(Arc::clone(&caps.counters), day, cap, now);
            }
            lease.cap = cap;
            keep_one(shared, offer.id, lease, &mut self.seq, elapsed, now).await;
        }
        let gone: Vec<u32> = self
            .leases
            .keys()
            .filter(|id| !capped.contains(id))
            .copied()
            .collect();
        for id in gone {
            if let Some(lease) = self.leases.remove(&id) {
                give_back(shared, id, lease, &mut self.seq).await;
            }
        }
    }

    /// Gives back every lease held (at shutdown, after the last request).
    pub async fn give_back_all(mut self, shared: &Shared) {
        for (id, lease) in std::mem::take(&mut self.leases) {
            give_back(shared, id, lease, &mut self.seq).await;
        }
    }
}

/// One offer's tick: measure demand; then send again a change left unanswered, or renew,
/// or give back.
async fn keep_one(
    shared: &Shared,
    offer: u32,
    lease: &mut Lease,
    seq: &mut u64,
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
    if let Some(change) = lease.unanswered {
        send(shared, lease, change, now).await;
        return;
    }
    let held = c.lease_left(day);
    let lowered = lease.left.is_some_and(|left| left < 0);
    if held > 0 && (now - lease.last_spend >= IDLE || lowered) {
        let clicks = c.take_lease(day);
        if clicks > 0 {
            let change = next(seq, offer, day, -i64::from(clicks));
            send(shared, lease, change, now).await;
        }
        return;
    }
    let wanted = demand > 0 || lease.rate >= 1.0;
    if !wanted || held as f64 >= (lease.rate * AHEAD).max(1.0) {
        return;
    }
    if lease.refused_at.is_some_and(|at| now - at < RETRY_REFUSED) {
        return;
    }
    let left = lease.left.unwrap_or(lease.cap as i64).max(4) / 4;
    let want = (lease.rate * SPAN)
        .ceil()
        .clamp(1.0, f64::from(MAX_LEASE))
        .min(left as f64) as i64;
    let change = next(seq, offer, day, want.max(1));
    send(shared, lease, change, now).await;
}

/// The next change of `offer`'s lease in `window`.
fn next(seq: &mut u64, offer: u32, window: i64, clicks: i64) -> Change {
    *seq += 1;
    Change {
        offer,
        window,
        seq: *seq,
        clicks,
    }
}

/// Sends `change` and applies its answer to `lease`: clicks granted are added to it;
/// without an answer the change is kept to be sent again.
async fn send(shared: &Shared, lease: &mut Lease, change: Change, now: Instant) {
    let metrics = &shared.metrics().cluster;
    let c = &lease.counters;
    let grant = match shared.change_lease(&change, lease.cap).await {
        Ok(grant) => grant,
        Err(_) => {
            lease.unanswered = Some(change);
            metrics.lease_failed.inc();
            return;
        }
    };
    lease.unanswered = None;
    lease.left = Some(grant.left);
    if change.clicks < 0 {
        metrics
            .lease_clicks_returned
            .add(grant.clicks.unsigned_abs());
    } else if grant.clicks > 0 {
        c.add_lease(change.window, grant.clicks as u32);
        c.set_cluster_full(change.window, false);
        lease.refused_at = None;
        metrics.lease_granted.inc();
        metrics.lease_clicks_granted.add(grant.clicks as u64);
    } else {
        c.set_cluster_full(change.window, true);
        lease.refused_at = Some(now);
        metrics.lease_refused.inc();
    }
}

/// Empties `lease` and gives its clicks back, with those of a grant left unanswered: one
/// try each (the offer left the table, or the node stops).
async fn give_back(shared: &Shared, offer: u32, mut lease: Lease, seq: &mut u64) {
    let now = Instant::now();
    if let Some(change) = lease.unanswered {
        send(shared, &mut lease, change, now).await;
    }
    let clicks = lease.counters.take_lease(lease.window);
    if clicks > 0 {
        let change = next(seq, offer, lease.window, -i64::from(clicks));
        send(shared, &mut lease, change, now).await;
    }
    if let Some(change) = lease.unanswered {
        tracing::warn!(
            offer,
            clicks = change.clicks,
            "lease change not answered; those clicks of the cap may stay unspent today"
        );
    }
}
