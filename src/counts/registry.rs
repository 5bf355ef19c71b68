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

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use dashmap::DashMap;
use serde::{Deserialize, Serialize};

use super::offer::OfferCounters;
use super::rotation::Runs;
use crate::calendar::Calendar;
use crate::vocab::{FallbackReason, Source, SourceKind};

/// Counts of one smart link or campaign that belong to no offer, and where its exact
/// rotation has got to.
#[derive(Default, Debug)]
pub struct SourceCounters {
    /// Clicks sent to the fallback URL, indexed by `FallbackReason as usize`.
    pub(super) fallbacks: [AtomicU64; FallbackReason::ALL.len()],
    /// Conversions reported for clicks that went to the fallback URL.
    pub(super) fallback_conversions: AtomicU64,
    /// Empty (one null pointer) unless the link rotates exactly.
    runs: Runs,
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
        let f = |r: FallbackReason| self.fallbacks[r as usize].load(Ordering::Relaxed);
        Fallbacks {
            no_match: f(FallbackReason::NoMatch),
            all_capped: f(FallbackReason::AllCapped),
            inactive: f(FallbackReason::Inactive),
            bot: f(FallbackReason::Bot),
            anonymous: f(FallbackReason::Anonymous),
        }
    }

    pub fn fallback_conversions(&self) -> u64 {
        self.fallback_conversions.load(Ordering::Relaxed)
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
}

impl Fallbacks {
    fn by_reason(&self) -> [(FallbackReason, u64); FallbackReason::ALL.len()] {
        [
            (FallbackReason::NoMatch, self.no_match),
            (FallbackReason::AllCapped, self.all_capped),
            (FallbackReason::Inactive, self.inactive),
            (FallbackReason::Bot, self.bot),
            (FallbackReason::Anonymous, self.anonymous),
        ]
    }

    pub fn total(&self) -> u64 {
        self.by_reason().iter().map(|(_, n)| n).sum()
    }
}

/// Counts of one route: clicks of one source sent to one offer.
#[derive(Default, Debug)]
pub struct RouteCounters {
    pub(super) routed: AtomicU64,
    pub(super) conversions: AtomicU64,
}

impl RouteCounters {
    /// A counted click went this route.
    #[inline]
    pub fn click_routed(&self) {
        self.routed.fetch_add(1, Ordering::Relaxed);
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
    /// Cluster mode: offers' daily click caps are spent from leases.
    leased: bool,
}

/// Conversions being counted: holds the conversion log position until dropped.
pub struct Counting<'a> {
    counts: &'a Counts,
    position: MutexGuard<'a, Option<LogPosition>>,
}

impl Counting<'_> {
    /// Counts one conversion (on disk) of a click of `source` routed to `offer_id` (`None`:
    /// it went to the fallback URL), at `now` (Unix seconds) in the windows of `calendar`:
    /// the offer's caps and the route's statistics, or the source's fallback conversions.
    pub fn conversion(
        &mut self,
        source: Source,
        offer_id: Option<u32>,
        now: i64,
        calendar: &Calendar,
    ) {
        match offer_id {
            Some(offer) => {
                self.counts.offer(offer).add_conversion(calendar, now);
                self.counts
                    .route(source, offer)
                    .conversions
                    .fetch_add(1, Ordering::Relaxed);
            }
            None => {
                self.counts
                    .source(source)
                    .fallback_conversions
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
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

    /// The counters of an offer, created empty on first use.
    pub fn offer(&self, offer_id: u32) -> Arc<OfferCounters> {
        if let Some(v) = self.offers.get(&offer_id) {
            return Arc::clone(v.value());
        }
        let entry = self.offers.entry(offer_id);
        Arc::clone(
            entry
                .or_insert_with(|| Arc::new(OfferCounters::new(self.leased)))
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
