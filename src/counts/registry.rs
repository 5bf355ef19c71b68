//! Every counter that outlives a reload, keyed by stable catalog ids: per offer (caps), per
//! smart link or campaign (fallbacks, exact rotation's runs), per route, i.e. source × offer (routed clicks and
//! conversions), and per landing page of an offer (clicks sent to it); and the position in the conversion log up to which conversions are counted.
//!
//! The routing table resolves its `Arc`s here once, when it is compiled, so the hot path never
//! looks anything up; a reload compiles against the same [`Counts`], so counts carry over. An
//! offer or link removed from the catalog keeps its counts (re-adding it resumes them).
//! Lookups happen at compile, for postbacks and for snapshots: dashmap, sharded locks, never
//! on the click path.
//!
//! The counters' atomics are private to this module and its children: a count is written
//! only through the methods that say what happened (`RouteCounters::click_routed`,
//! `SourceCounters::click_fell_back`, `OfferCaps::click_turned_away`,
//! [`Counting::conversion`]).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use dashmap::DashMap;
use serde::{Deserialize, Serialize};

use super::down::{Board, DownFlag};
use super::hourly::{Earning, Hour, Hourly, hour_of};
use super::offer::OfferCounters;
use super::runs::Runs;
use crate::calendar::Calendar;
use crate::money::Total;
use crate::vocab::{Destination, FallbackReason, Source, SourceKind};

/// Counts of one smart link or campaign that belong to no offer, and where its exact
/// rotation has got to.
#[derive(Default, Debug)]
pub struct SourceCounters {
    /// Clicks sent to the fallback URL, indexed by `FallbackReason as usize`.
    pub(super) fallbacks: [AtomicU64; FallbackReason::ALL.len()],
    /// Conversions reported for clicks that went to the fallback URL.
    pub(super) fallback_conversions: AtomicU64,
    /// Their revenue.
    pub(super) fallback_revenue: Sum,
    /// `fallbacks` as the last sweep into the hourly statistics saw them.
    swept: [AtomicU64; FallbackReason::ALL.len()],
    /// Empty (one null pointer) unless the link rotates exactly.
    runs: Runs,
    /// The affiliate whose link this is (0: not known yet), set when a table is compiled and
    /// kept in the counters file, so that a deleted link's counts still count for its
    /// affiliate (`stats::affiliate`).
    pub(super) affiliate: AtomicU32,
}

impl SourceCounters {
    /// The runs of exact rotation of this smart link (they outlive reloads as counts do).
    #[inline]
    pub fn runs(&self) -> &Runs {
        &self.runs
    }

    /// A counted click of this source went to the fallback URL for `reason`.
    #[inline]
    pub fn click_fell_back(&self, reason: FallbackReason) {
        self.fallbacks[reason as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn fallback_counts(&self) -> Fallbacks {
        Fallbacks::of(&self.fallbacks.each_ref().map(|n| n.load(Ordering::Relaxed)))
    }

    pub fn fallback_conversions(&self) -> u64 {
        self.fallback_conversions.load(Ordering::Relaxed)
    }

    pub fn fallback_revenue(&self) -> Total {
        self.fallback_revenue.get()
    }

    /// The affiliate whose link this is (0: not known).
    pub fn affiliate(&self) -> u32 {
        self.affiliate.load(Ordering::Relaxed)
    }

    /// The link is `affiliate_id`'s (at compile; never on the click path).
    pub fn set_affiliate(&self, affiliate_id: u32) {
        self.affiliate.store(affiliate_id, Ordering::Relaxed);
    }

    pub(super) fn add_fallback_counts(&self, counts: &Fallbacks) {
        for (reason, n) in counts.by_reason() {
            self.fallbacks[reason as usize].fetch_add(n, Ordering::Relaxed);
        }
    }

    pub(super) fn set_fallback_counts(&self, counts: &Fallbacks) {
        for (reason, n) in counts.by_reason() {
            self.fallbacks[reason as usize].store(n, Ordering::Relaxed);
        }
    }
}

/// Fallback clicks by reason, as statistics and the counters file show them.
#[derive(Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fallbacks {
    pub no_match: u64,
    pub all_capped: u64,
    pub inactive: u64,
    pub bot: u64,
    /// Absent from counters files written before anonymous traffic was screened.
    #[serde(default)]
    pub anonymous: u64,
    /// Absent from counters files written before destination health checks.
    #[serde(default)]
    pub destination_down: u64,
}

impl Fallbacks {
    /// From counts indexed by `FallbackReason as usize`.
    pub fn of(clicks: &[u64; FallbackReason::ALL.len()]) -> Fallbacks {
        let f = |r: FallbackReason| clicks[r as usize];
        Fallbacks {
            no_match: f(FallbackReason::NoMatch),
            all_capped: f(FallbackReason::AllCapped),
            inactive: f(FallbackReason::Inactive),
            bot: f(FallbackReason::Bot),
            anonymous: f(FallbackReason::Anonymous),
            destination_down: f(FallbackReason::DestinationDown),
        }
    }

    pub fn by_reason(&self) -> [(FallbackReason, u64); FallbackReason::ALL.len()] {
        [
            (FallbackReason::NoMatch, self.no_match),
            (FallbackReason::AllCapped, self.all_capped),
            (FallbackReason::Inactive, self.inactive),
            (FallbackReason::Bot, self.bot),
            (FallbackReason::Anonymous, self.anonymous),
            (FallbackReason::DestinationDown, self.destination_down),
        ]
    }

    pub fn total(&self) -> u64 {
        self.by_reason().iter().map(|(_, n)| n).sum()
    }
}

/// A sum of money, revenue or cost (docs/operations.md#money-range: a `u128`, which no
/// lifetime fills).
/// Written by the ledger under the conversion log's lock and read by statistics, never by a
/// click: a mutex, since `AtomicU128` is not stable Rust.
#[derive(Default, Debug)]
pub(super) struct Sum(Mutex<Total>);

impl Sum {
    fn lock(&self) -> MutexGuard<'_, Total> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn get(&self) -> Total {
        *self.lock()
    }

    pub(super) fn set(&self, total: Total) {
        *self.lock() = total;
    }

    pub(super) fn add(&self, total: Total) {
        let mut sum = self.lock();
        *sum = *sum + total;
    }
}

/// Counts of one route: clicks of one source sent to one offer.
#[derive(Default, Debug)]
pub struct RouteCounters {
    pub(super) routed: AtomicU64,
    /// Optimized rotation: the route's weight in its priority, in millionths of the
    /// priority's clicks (0: not computed yet). Beside `routed`, which the same click writes.
    weight: AtomicU32,
    pub(super) conversions: AtomicU64,
    /// Their revenue.
    pub(super) revenue: Sum,
    /// What the network paid affiliates for them (docs/routing.md#affiliate-payouts).
    pub(super) cost: Sum,
    /// `routed` as the last sweep into the hourly statistics saw it.
    swept: AtomicU64,
    /// Optimized rotation: what the last recompute estimated (explanations show it).
    estimate: Mutex<Option<Estimate>>,
}

/// What optimized rotation last estimated of one route, over the link's window (the share
/// it gave the route is the route's weight), as explanations show it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Estimate {
    pub clicks: u64,
    pub conversions: u64,
    pub revenue: Total,
    /// The posterior mean of its earnings per click.
    pub epc: f64,
}

/// Optimized weights are millionths of a priority's clicks.
pub const WEIGHT_SCALE: u32 = 1_000_000;

impl RouteCounters {
    /// A counted click went this route.
    #[inline]
    pub fn click_routed(&self) {
        self.routed.fetch_add(1, Ordering::Relaxed);
    }

    /// Optimized rotation's weight of the route (millionths; 0 before the first compute).
    #[inline]
    pub fn weight(&self) -> u32 {
        self.weight.load(Ordering::Relaxed)
    }

    /// Publishes the optimizer's weight (millionths) and the estimate behind it.
    pub fn set_weight(&self, weight: u32, estimate: Estimate) {
        self.weight.store(weight, Ordering::Relaxed);
        *self.estimate.lock().unwrap_or_else(|e| e.into_inner()) = Some(estimate);
    }

    /// Sets the weight if none was computed yet (a new attachment, or the first compile).
    pub fn init_weight(&self, weight: u32) {
        let _ = self
            .weight
            .compare_exchange(0, weight, Ordering::Relaxed, Ordering::Relaxed);
    }

    pub fn estimate(&self) -> Option<Estimate> {
        *self.estimate.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn revenue(&self) -> Total {
        self.revenue.get()
    }

    pub fn cost(&self) -> Total {
        self.cost.get()
    }

    pub fn routed(&self) -> u64 {
        self.routed.load(Ordering::Relaxed)
    }

    pub fn conversions(&self) -> u64 {
        self.conversions.load(Ordering::Relaxed)
    }
}

/// Counts of one landing page of one offer: routed clicks sent to it (by the offer's
/// landing-page rotation or as a campaign's own page). Its conversions are not counted here:
/// a click id does not name the landing page, so they are joined offline from the click and
/// conversion logs by `click_id` (docs/operations.md).
#[derive(Default, Debug)]
pub struct LandingPageCounters {
    pub(super) clicks: AtomicU64,
}

impl LandingPageCounters {
    /// A counted, routed click went to this landing page.
    #[inline]
    pub fn click_sent(&self) {
        self.clicks.fetch_add(1, Ordering::Relaxed);
    }

    pub fn clicks(&self) -> u64 {
        self.clicks.load(Ordering::Relaxed)
    }
}

/// Where in the conversion log the counted conversions end: the next conversion to count is
/// at `offset` of `file` (or at the start of a later file).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogPosition {
    pub file: String,
    pub offset: u64,
}

/// Keys are ids from the catalog (the operator's), so a fast unkeyed-quality hash is enough;
/// a compile of a large catalog looks up hundreds of thousands of them.
type Map<K, V> = DashMap<K, Arc<V>, foldhash::fast::RandomState>;

/// All counters of the process.
#[derive(Default, Debug)]
pub struct Counts {
    offers: Map<u32, OfferCounters>,
    sources: Map<Source, SourceCounters>,
    routes: Map<(Source, u32), RouteCounters>,
    /// By (offer id, landing page id).
    landing_pages: Map<(u32, u32), LandingPageCounters>,
    /// Where the counted conversions end in the conversion log. Held while a batch of
    /// conversions is counted and the position moved ([`Counts::counting`]); the counters
    /// file is rendered under it, so a saved file neither misses a conversion nor counts one
    /// twice.
    conversion_log: Mutex<Option<LogPosition>>,
    /// Offers' daily click caps are spent from leases (cluster mode, standalone serving).
    leased: bool,
    /// Standalone serving: the leases come from the reservation file (`reserve`).
    reserved: bool,
    /// Counts by hour, filled by [`Counts::sweep`] and the ledger.
    hourly: Hourly,
    /// The down flag of each destination health checks watch (`down`).
    destinations: Map<Destination, DownFlag>,
    /// What the checks found of each destination (`down`).
    health: Board,
}

/// Conversions being counted: holds the conversion log position until dropped.
pub struct Counting<'a> {
    counts: &'a Counts,
    position: MutexGuard<'a, Option<LogPosition>>,
}

impl Counting<'_> {
    /// Counts one conversion (on disk) of a click of `source` routed to `offer_id` (`None`:
    /// it went to the fallback URL), at `now` (Unix seconds) in the windows of `calendar`:
    /// the offer's caps and the route's statistics (with its cost), or the source's fallback
    /// conversions (a fallback click's conversion costs nothing: there is no offer to pay
    /// for); and the hour of the click.
    pub fn conversion(
        &mut self,
        source: Source,
        offer_id: Option<u32>,
        earning: Earning,
        now: i64,
        calendar: &Calendar,
    ) {
        let add = |n: &AtomicU64, sum: &Sum| {
            n.fetch_add(1, Ordering::Relaxed);
            sum.add(earning.revenue.into());
        };
        match offer_id {
            Some(offer) => {
                self.counts.offer(offer).add_conversion(calendar, now);
                let route = self.counts.route(source, offer);
                add(&route.conversions, &route.revenue);
                route.cost.add(earning.cost.into());
            }
            None => {
                let own = self.counts.source(source);
                add(&own.fallback_conversions, &own.fallback_revenue);
            }
        }
        self.counts
            .hourly
            .add_conversion(source, offer_id, hour_of(earning.click_time), earning);
    }

    /// The conversions counted so far end at `position`.
    pub fn through(&mut self, position: LogPosition) {
        *self.position = Some(position);
    }

    /// Where the counted conversions end (`None`: none was ever counted).
    pub fn position(&self) -> Option<&LogPosition> {
        self.position.as_ref()
    }
}

impl Counts {
    /// The counters of a node in cluster mode: daily click caps are spent from leases.
    pub fn leased() -> Counts {
        Counts {
            leased: true,
            ..Counts::default()
        }
    }

    /// The counters of a standalone server: daily click caps are spent from leases the
    /// reservation file grants, and counted against the cap (`reserve`).
    pub fn reserved() -> Counts {
        Counts {
            leased: true,
            reserved: true,
            ..Counts::default()
        }
    }

    /// Counts by hour.
    pub fn hourly(&self) -> &Hourly {
        &self.hourly
    }

    /// Adds what every route's and source's clicks gained since the last sweep to `hour`
    /// (the saver thread's, every second; see `hourly`).
    pub fn sweep(&self, hour: Hour) {
        let gained =
            |now: u64, swept: &AtomicU64| now.saturating_sub(swept.swap(now, Ordering::Relaxed));
        for e in self.routes.iter() {
            let n = gained(e.value().routed(), &e.value().swept);
            if n > 0 {
                self.hourly.add_routed(e.key().0, e.key().1, hour, n);
            }
        }
        for e in self.sources.iter() {
            let c = e.value();
            for reason in FallbackReason::ALL {
                let i = reason as usize;
                let n = gained(c.fallbacks[i].load(Ordering::Relaxed), &c.swept[i]);
                if n > 0 {
                    self.hourly.add_fallbacks(*e.key(), hour, reason, n);
                }
            }
        }
    }

    /// After a restore: the restored clicks are in their hours already.
    pub(super) fn mark_swept(&self) {
        for e in self.routes.iter() {
            e.value().swept.store(e.value().routed(), Ordering::Relaxed);
        }
        for e in self.sources.iter() {
            for (swept, n) in e.value().swept.iter().zip(&e.value().fallbacks) {
                swept.store(n.load(Ordering::Relaxed), Ordering::Relaxed);
            }
        }
    }

    /// The counters of an offer, created empty on first use.
    /// The counters of an offer, when it has any (nothing is created).
    pub fn existing_offer(&self, offer_id: u32) -> Option<Arc<OfferCounters>> {
        self.offers.get(&offer_id).map(|v| Arc::clone(v.value()))
    }

    pub fn offer(&self, offer_id: u32) -> Arc<OfferCounters> {
        if let Some(v) = self.offers.get(&offer_id) {
            return Arc::clone(v.value());
        }
        let entry = self.offers.entry(offer_id);
        Arc::clone(
            entry
                .or_insert_with(|| Arc::new(OfferCounters::new(self.leased, self.reserved)))
                .value(),
        )
    }

    pub fn source(&self, source: Source) -> Arc<SourceCounters> {
        get_or_create(&self.sources, source)
    }

    pub fn route(&self, source: Source, offer_id: u32) -> Arc<RouteCounters> {
        get_or_create(&self.routes, (source, offer_id))
    }

    /// The counters of landing page `landing_page_id` of offer `offer_id`.
    pub fn landing_page(&self, offer_id: u32, landing_page_id: u32) -> Arc<LandingPageCounters> {
        get_or_create(&self.landing_pages, (offer_id, landing_page_id))
    }

    /// The down flag of `destination`.
    pub fn down_flag(&self, destination: Destination) -> Arc<DownFlag> {
        get_or_create(&self.destinations, destination)
    }

    /// What the health checks found of each destination.
    pub fn health(&self) -> &Board {
        &self.health
    }

    /// Starts counting conversions (see [`Counting`]). Never taken on the click path.
    pub fn counting(&self) -> Counting<'_> {
        Counting {
            counts: self,
            position: self
                .conversion_log
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        }
    }

    /// Where the counted conversions end in the conversion log.
    pub fn saved_position(&self) -> Option<LogPosition> {
        self.counting().position().cloned()
    }

    /// Ids of every smart link or campaign (`kind`) that has counters, including ones no
    /// longer in the catalog: a new entity must not take such an id and inherit its counts.
    pub fn source_ids(&self, kind: SourceKind) -> impl Iterator<Item = u32> + '_ {
        self.sources
            .iter()
            .filter(move |e| e.key().kind == kind)
            .map(|e| e.key().id)
    }

    /// Ids of every offer that has counters of its own or of a route (see
    /// [`Counts::source_ids`]).
    pub fn offer_ids(&self) -> impl Iterator<Item = u32> + '_ {
        let offers = self.offers.iter().map(|e| *e.key());
        offers.chain(self.routes.iter().map(|e| e.key().1))
    }

    /// Ids of every landing page that has counters (see [`Counts::source_ids`]).
    pub fn landing_page_ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.landing_pages.iter().map(|e| e.key().1)
    }

    /// Clicks turned away by caps, summed over every offer.
    pub fn capped_clicks(&self) -> u64 {
        self.offers.iter().map(|e| e.value().capped_clicks()).sum()
    }

    /// Counted clicks of every source: routed, and sent to the fallback by reason (indexed
    /// by `FallbackReason as usize`). The process metrics are read from here, so that each
    /// click is counted once.
    pub fn click_totals(&self) -> (u64, [u64; FallbackReason::ALL.len()]) {
        let routed = self.routes.iter().map(|e| e.value().routed()).sum();
        let mut fell_back = [0; FallbackReason::ALL.len()];
        for e in self.sources.iter() {
            for (n, count) in fell_back.iter_mut().zip(&e.value().fallbacks) {
                *n += count.load(Ordering::Relaxed);
            }
        }
        (routed, fell_back)
    }

    /// Counted conversions in all (of routed clicks and of fallbacks), their revenue and
    /// their cost.
    pub fn conversion_totals(&self) -> (u64, Total, Total) {
        let routed = self.routes.iter().map(|e| {
            let r = e.value();
            (r.conversions(), r.revenue(), r.cost())
        });
        let fell_back = self.sources.iter().map(|e| {
            let s = e.value();
            (s.fallback_conversions(), s.fallback_revenue(), Total::ZERO)
        });
        routed.chain(fell_back).fold(
            (0, Total::ZERO, Total::ZERO),
            |(n, revenue, cost), (conversions, earned, paid)| {
                (n + conversions, revenue + earned, cost + paid)
            },
        )
    }

    /// Counted clicks in all.
    pub fn clicks(&self) -> u64 {
        let (routed, fell_back) = self.click_totals();
        routed + fell_back.iter().sum::<u64>()
    }

    /// Every offer's counters, sorted by offer id.
    pub fn offers(&self) -> Vec<(u32, Arc<OfferCounters>)> {
        sorted(&self.offers)
    }

    pub fn sources(&self) -> Vec<(Source, Arc<SourceCounters>)> {
        sorted(&self.sources)
    }

    pub fn routes(&self) -> Vec<((Source, u32), Arc<RouteCounters>)> {
        sorted(&self.routes)
    }

    /// Every landing page's counters, sorted by (offer id, landing page id).
    pub fn landing_pages(&self) -> Vec<((u32, u32), Arc<LandingPageCounters>)> {
        sorted(&self.landing_pages)
    }
}

/// The value of `key`, created on first use. Looked up under a shard's read lock first:
/// after the first compile, every key exists.
fn get_or_create<K: Eq + std::hash::Hash, V: Default>(map: &Map<K, V>, key: K) -> Arc<V> {
    if let Some(v) = map.get(&key) {
        return Arc::clone(v.value());
    }
    Arc::clone(map.entry(key).or_default().value())
}

fn sorted<K: Ord + Copy + std::hash::Hash, V>(map: &Map<K, V>) -> Vec<(K, Arc<V>)> {
    let mut all: Vec<(K, Arc<V>)> = map
        .iter()
        .map(|e| (*e.key(), Arc::clone(e.value())))
        .collect();
    all.sort_unstable_by_key(|(k, _)| *k);
    all
}
