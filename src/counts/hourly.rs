//! Hourly statistics (docs/operations.md#statistics): per route (smart link or campaign ×
//! offer) and hour, its routed clicks, conversions, revenue and cost; per source and hour, its
//! fallback clicks by reason and their conversions. Kept [`RETENTION_HOURS`] back.
//!
//! The click path never touches this: it adds to the lifetime atomics only. The saver thread
//! [`Counts::sweep`](super::Counts::sweep)s every second: what each lifetime counter gained
//! since the last sweep is added to the hour of the sweep, so a click lands in its own hour
//! unless it came in the last second before the hour turned. A conversion is added to the
//! hour of its click (the click id carries the click time), when the ledger counts it, so
//! late conversions land in the right bucket.
//!
//! Memory: a route's hours are a `BTreeMap<Hour, Tally>`: 72 bytes per link-offer-hour that
//! had a click or a conversion, 129 per source-hour with fallbacks (measured by resident
//! size over 1,000 × 744 of them). A network with 1,000 routes busy every hour holds 744 ×
//! 1,000 × 72 ≈ 54 MB. Disk: [`HourFile`]s, one per hour under `state.dir/hours/`, 88 bytes
//! of JSON per link-offer-hour. (Measured before the cost was counted: a [`Tally`]'s cost
//! adds 16 bytes, its `u128`, and its JSON about 15.)

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use crate::money::{Money, Total};
use crate::vocab::{FallbackReason, Source, SourceKind};

/// Hours since the Unix epoch (UTC).
pub type Hour = u32;

/// Hours of statistics kept: 31 days, so that every 30-day range is whole.
pub const RETENTION_HOURS: u32 = 31 * 24;

/// The hour of `unix_secs`.
pub fn hour_of(unix_secs: i64) -> Hour {
    u32::try_from(unix_secs.div_euclid(3600)).unwrap_or(0)
}

/// What one conversion is counted as: the time of its click (Unix seconds), what it earned
/// the network and what the network pays the affiliate for it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Earning {
    pub click_time: i64,
    pub revenue: Money,
    pub cost: Money,
}

/// One route's counts over some hours.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub routed: u64,
    pub conversions: u64,
    pub revenue: Total,
    /// What the network paid affiliates for the conversions.
    pub cost: Total,
}

impl Tally {
    pub fn add(&mut self, other: &Tally) {
        self.routed += other.routed;
        self.conversions += other.conversions;
        self.revenue = self.revenue + other.revenue;
        self.cost = self.cost + other.cost;
    }
}

/// One source's fallback counts over some hours.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FallbackTally {
    /// Indexed by `FallbackReason as usize`.
    pub clicks: [u64; FallbackReason::ALL.len()],
    pub conversions: u64,
    pub revenue: Total,
}

impl FallbackTally {
    pub fn add(&mut self, other: &FallbackTally) {
        for (a, b) in self.clicks.iter_mut().zip(other.clicks) {
            *a += b;
        }
        self.conversions += other.conversions;
        self.revenue = self.revenue + other.revenue;
    }
}

/// One count [`Hourly::walk`] visits.
pub enum Counted<'a> {
    /// A route's hour: the offer, and its counts.
    Routed(u32, &'a Tally),
    /// A source's fallbacks in an hour.
    FellBack(&'a FallbackTally),
}

/// Who writes changed hours somewhere: each has its own set of changed hours.
#[derive(Clone, Copy, Debug)]
pub enum Reader {
    /// The saver: the hour files.
    Files = 0,
    /// Cluster mode: the push to Redis.
    Push = 1,
}

#[derive(Default, Debug)]
struct Inner {
    routes: HashMap<(Source, u32), BTreeMap<Hour, Tally>>,
    fallbacks: HashMap<Source, BTreeMap<Hour, FallbackTally>>,
    /// Hours changed since [`Hourly::take_dirty`] last ran, for each [`Reader`].
    dirty: [BTreeSet<Hour>; 2],
}

/// Every hourly count of the process. Behind one mutex: written by the saver's sweep and the
/// ledger, read by statistics and the optimizer, never by a click.
#[derive(Default, Debug)]
pub struct Hourly {
    inner: Mutex<Inner>,
}

impl Inner {
    fn changed(&mut self, hour: Hour) {
        for dirty in &mut self.dirty {
            dirty.insert(hour);
        }
    }
}

impl Hourly {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn add_routed(&self, source: Source, offer_id: u32, hour: Hour, clicks: u64) {
        let mut inner = self.lock();
        inner
            .routes
            .entry((source, offer_id))
            .or_default()
            .entry(hour)
            .or_default()
            .routed += clicks;
        inner.changed(hour);
    }

    pub fn add_fallbacks(&self, source: Source, hour: Hour, reason: FallbackReason, clicks: u64) {
        let mut inner = self.lock();
        inner
            .fallbacks
            .entry(source)
            .or_default()
            .entry(hour)
            .or_default()
            .clicks[reason as usize] += clicks;
        inner.changed(hour);
    }

    /// A conversion of a click of `source` routed to `offer_id` (`None`: the fallback, which
    /// costs nothing) in `click_hour`, earning what `earning` says.
    pub fn add_conversion(
        &self,
        source: Source,
        offer_id: Option<u32>,
        click_hour: Hour,
        earning: Earning,
    ) {
        let mut inner = self.lock();
        let add = |conversions: &mut u64, sum: &mut Total| {
            *conversions += 1;
            *sum = *sum + earning.revenue;
        };
        match offer_id {
            Some(offer) => {
                let t = inner
                    .routes
                    .entry((source, offer))
                    .or_default()
                    .entry(click_hour)
                    .or_default();
                add(&mut t.conversions, &mut t.revenue);
                t.cost = t.cost + earning.cost;
            }
            None => {
                let t = inner
                    .fallbacks
                    .entry(source)
                    .or_default()
                    .entry(click_hour)
                    .or_default();
                add(&mut t.conversions, &mut t.revenue);
            }
        }
        inner.changed(click_hour);
    }

    /// The route's counts over `hours`.
    pub fn route(&self, source: Source, offer_id: u32, hours: Range<Hour>) -> Tally {
        let inner = self.lock();
        let mut sum = Tally::default();
        if let Some(h) = inner.routes.get(&(source, offer_id)) {
            h.range(hours).for_each(|(_, t)| sum.add(t));
        }
        sum
    }

    /// The routes' counts of `source` over `hours`, one lock for them all.
    pub fn routes(&self, source: Source, offers: &[u32], hours: Range<Hour>) -> Vec<Tally> {
        let inner = self.lock();
        offers
            .iter()
            .map(|&offer| {
                let mut sum = Tally::default();
                if let Some(h) = inner.routes.get(&(source, offer)) {
                    h.range(hours.clone()).for_each(|(_, t)| sum.add(t));
                }
                sum
            })
            .collect()
    }

    /// Every offer's counts over `hours`, summed over its sources.
    pub fn per_offer(&self, hours: Range<Hour>) -> std::collections::BTreeMap<u32, Tally> {
        let inner = self.lock();
        let mut out: BTreeMap<u32, Tally> = BTreeMap::new();
        for (&(_, offer), h) in &inner.routes {
            let sum = out.entry(offer).or_default();
            h.range(hours.clone()).for_each(|(_, t)| sum.add(t));
        }
        out.retain(|_, t| *t != Tally::default());
        out
    }

    /// The source's fallback counts over `hours`.
    pub fn fallbacks(&self, source: Source, hours: Range<Hour>) -> FallbackTally {
        let inner = self.lock();
        let mut sum = FallbackTally::default();
        if let Some(h) = inner.fallbacks.get(&source) {
            h.range(hours).for_each(|(_, t)| sum.add(t));
        }
        sum
    }

    /// Every count within `hours`, under one lock, in no particular order: each route's
    /// hours, then each source's fallback hours.
    pub fn walk(&self, hours: Range<Hour>, mut visit: impl FnMut(Source, Hour, Counted<'_>)) {
        let inner = self.lock();
        for (&(source, offer), h) in &inner.routes {
            for (&hour, t) in h.range(hours.clone()) {
                visit(source, hour, Counted::Routed(offer, t));
            }
        }
        for (&source, h) in &inner.fallbacks {
            for (&hour, t) in h.range(hours.clone()) {
                visit(source, hour, Counted::FellBack(t));
            }
        }
    }

    /// The route's counts in each hour of `hours` (the first item is `hours.start`'s).
    pub fn route_hours(&self, source: Source, offer_id: u32, hours: Range<Hour>) -> Vec<Tally> {
        let mut out = vec![Tally::default(); hours.len()];
        if let Some(h) = self.lock().routes.get(&(source, offer_id)) {
            for (&hour, t) in h.range(hours.clone()) {
                out[(hour - hours.start) as usize] = *t;
            }
        }
        out
    }

    /// The source's fallback counts in each hour of `hours`.
    pub fn fallback_hours(&self, source: Source, hours: Range<Hour>) -> Vec<FallbackTally> {
        let mut out = vec![FallbackTally::default(); hours.len()];
        if let Some(h) = self.lock().fallbacks.get(&source) {
            for (&hour, t) in h.range(hours.clone()) {
                out[(hour - hours.start) as usize] = *t;
            }
        }
        out
    }

    /// Drops every hour before `oldest`.
    pub fn expire(&self, oldest: Hour) {
        let mut inner = self.lock();
        inner.routes.retain(|_, h| {
            *h = h.split_off(&oldest);
            !h.is_empty()
        });
        inner.fallbacks.retain(|_, h| {
            *h = h.split_off(&oldest);
            !h.is_empty()
        });
        for dirty in &mut inner.dirty {
            *dirty = dirty.split_off(&oldest);
        }
    }

    /// The hours changed since the last call, forgotten as changed.
    pub fn take_dirty(&self, reader: Reader) -> BTreeSet<Hour> {
        std::mem::take(&mut self.lock().dirty[reader as usize])
    }

    /// Marks `hours` changed again (their files could not be written).
    pub fn mark_dirty(&self, reader: Reader, hours: BTreeSet<Hour>) {
        self.lock().dirty[reader as usize].extend(hours);
    }

    /// Every count of `hour`, as its file holds it.
    pub fn hour_file(&self, hour: Hour) -> HourFile {
        let inner = self.lock();
        let mut routes: Vec<RouteHour> = inner
            .routes
            .iter()
            .filter_map(|(&(source, offer_id), h)| {
                h.get(&hour).map(|t| RouteHour {
                    kind: source.kind,
                    id: source.id,
                    offer_id,
                    routed: t.routed,
                    conversions: t.conversions,
                    revenue: t.revenue,
                    cost: t.cost,
                })
            })
            .collect();
        routes.sort_unstable_by_key(|r| (r.kind, r.id, r.offer_id));
        let mut fallbacks: Vec<FallbackHour> = inner
            .fallbacks
            .iter()
            .filter_map(|(&source, h)| {
                h.get(&hour).map(|t| FallbackHour {
                    kind: source.kind,
                    id: source.id,
                    clicks: t.clicks,
                    conversions: t.conversions,
                    revenue: t.revenue,
                })
            })
            .collect();
        fallbacks.sort_unstable_by_key(|f| (f.kind, f.id));
        HourFile {
            hour,
            routes,
            fallbacks,
        }
    }

    /// Adds `file`'s counts: all of them (`clicks_only` false: another node's hour, for
    /// cluster totals), or its clicks only (at start: conversions are counted again from the
    /// conversion log, which is their truth).
    pub fn add_file(&self, file: &HourFile, clicks_only: bool) {
        let mut inner = self.lock();
        let keep = |n: u64| if clicks_only { 0 } else { n };
        let keep_money = |m: Total| if clicks_only { Total::ZERO } else { m };
        for r in &file.routes {
            inner
                .routes
                .entry((
                    Source {
                        kind: r.kind,
                        id: r.id,
                    },
                    r.offer_id,
                ))
                .or_default()
                .entry(file.hour)
                .or_default()
                .add(&Tally {
                    routed: r.routed,
                    conversions: keep(r.conversions),
                    revenue: keep_money(r.revenue),
                    cost: keep_money(r.cost),
                });
        }
        for f in &file.fallbacks {
            inner
                .fallbacks
                .entry(Source {
                    kind: f.kind,
                    id: f.id,
                })
                .or_default()
                .entry(file.hour)
                .or_default()
                .add(&FallbackTally {
                    clicks: f.clicks,
                    conversions: keep(f.conversions),
                    revenue: keep_money(f.revenue),
                });
        }
    }
}

/// One hour of counts: the file `hours/<hour>.json` of a node, and what it pushes to Redis
/// in cluster mode.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HourFile {
    pub hour: Hour,
    pub routes: Vec<RouteHour>,
    pub fallbacks: Vec<FallbackHour>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RouteHour {
    pub kind: SourceKind,
    pub id: u32,
    pub offer_id: u32,
    pub routed: u64,
    pub conversions: u64,
    pub revenue: Total,
    /// Absent from hours written before affiliate payouts were counted: 0.
    #[serde(default)]
    pub cost: Total,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FallbackHour {
    pub kind: SourceKind,
    pub id: u32,
    /// Indexed by `FallbackReason as usize`. Files written before a reason was added hold
    /// fewer entries: the reasons after them count 0.
    #[serde(deserialize_with = "by_reason")]
    pub clicks: [u64; FallbackReason::ALL.len()],
    pub conversions: u64,
    pub revenue: Total,
}

/// Counts by fallback reason, from a list of at most one per reason.
fn by_reason<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<[u64; FallbackReason::ALL.len()], D::Error> {
    let list = Vec::<u64>::deserialize(d)?;
    let mut clicks = [0; FallbackReason::ALL.len()];
    if list.len() > clicks.len() {
        return Err(serde::de::Error::invalid_length(
            list.len(),
            &"at most one count per fallback reason",
        ));
    }
    clicks[..list.len()].copy_from_slice(&list);
    Ok(clicks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn earning(revenue: &str, cost: &str) -> Earning {
        Earning {
            click_time: 0,
            revenue: Money::parse(revenue).unwrap(),
            cost: Money::parse(cost).unwrap(),
        }
    }

    #[test]
    fn hour_files_written_before_costs_were_counted_read_with_none() {
        let file: HourFile = serde_json::from_str(
            r#"{"hour":7,"routes":[{"kind":"campaign","id":2,"offer_id":3,"routed":4,"conversions":1,"revenue":"2.00"}],"fallbacks":[]}"#,
        )
        .unwrap();
        assert_eq!(file.routes[0].cost, Total::ZERO);
        assert_eq!(file.routes[0].revenue.to_string(), "2.00");
    }

    #[test]
    fn hour_files_written_before_a_fallback_reason_was_added_still_read() {
        let file: HourFile = serde_json::from_str(
            r#"{"hour":1,"routes":[],"fallbacks":[{"kind":"smart_link","id":3,"clicks":[1,2,3,4,5],"conversions":0,"revenue":"0"}]}"#,
        )
        .unwrap();
        assert_eq!(file.fallbacks[0].clicks, [1, 2, 3, 4, 5, 0]);
        let too_long = r#"{"hour":1,"routes":[],"fallbacks":[{"kind":"smart_link","id":3,"clicks":[1,2,3,4,5,6,7],"conversions":0,"revenue":"0"}]}"#;
        assert!(serde_json::from_str::<HourFile>(too_long).is_err());
    }

    #[test]
    fn conversions_land_in_their_clicks_hour_and_ranges_are_half_open() {
        let h = Hourly::default();
        let s = Source::smart_link(301);
        h.add_routed(s, 1, 100, 10);
        h.add_routed(s, 1, 101, 5);
        h.add_conversion(s, Some(1), 100, earning("2.50", "1.25"));
        let t = h.route(s, 1, 100..101);
        assert_eq!((t.routed, t.conversions), (10, 1));
        assert_eq!(t.revenue.to_string(), "2.50");
        assert_eq!(t.cost.to_string(), "1.25");
        assert_eq!(h.route(s, 1, 101..102).conversions, 0);
        assert_eq!(h.route(s, 1, 0..u32::MAX).routed, 15);
        assert_eq!(h.route(s, 2, 0..u32::MAX), Tally::default());
        h.add_fallbacks(s, 100, FallbackReason::Bot, 3);
        h.add_conversion(s, None, 100, Earning::default());
        let f = h.fallbacks(s, 100..101);
        assert_eq!(f.clicks[FallbackReason::Bot as usize], 3);
        assert_eq!(f.conversions, 1);
        let files = h.take_dirty(Reader::Files);
        assert_eq!(files.into_iter().collect::<Vec<_>>(), [100, 101]);
        assert!(h.take_dirty(Reader::Files).is_empty());
        assert_eq!(
            h.take_dirty(Reader::Push).len(),
            2,
            "each reader has its own"
        );
        h.expire(101);
        assert_eq!(h.route(s, 1, 0..u32::MAX).routed, 5);
        assert_eq!(h.fallbacks(s, 0..u32::MAX), FallbackTally::default());
    }

    #[test]
    fn an_hour_file_round_trips_and_restores_clicks_only_when_asked() {
        let h = Hourly::default();
        let s = Source::campaign(7);
        h.add_routed(s, 3, 42, 9);
        h.add_conversion(s, Some(3), 42, earning("1", "0.40"));
        h.add_fallbacks(s, 42, FallbackReason::NoMatch, 2);
        let file = h.hour_file(42);
        let text = serde_json::to_string(&file).unwrap();
        let back: HourFile = serde_json::from_str(&text).unwrap();
        assert_eq!(back, file);
        let restored = Hourly::default();
        restored.add_file(&back, true);
        let t = restored.route(s, 3, 42..43);
        assert_eq!((t.routed, t.conversions), (9, 0));
        let summed = Hourly::default();
        summed.add_file(&back, false);
        summed.add_file(&back, false);
        let t = summed.route(s, 3, 42..43);
        assert_eq!(
            (t.routed, t.conversions, t.revenue.to_string().as_str()),
            (18, 2, "2.00")
        );
        assert_eq!(t.cost.to_string(), "0.80");
        assert_eq!(
            summed.fallbacks(s, 42..43).clicks[FallbackReason::NoMatch as usize],
            4
        );
    }

    proptest::proptest! {
        /// Whatever hours the counts fall in, a range's sum is the sum of its hours, and the
        /// ranges of a split add up to the whole.
        #[test]
        fn ranges_add_up(
            events in proptest::collection::vec((0u32..48, 1u64..100, proptest::bool::ANY), 1..200),
            cut in 0u32..48,
        ) {
            let h = Hourly::default();
            let s = Source::smart_link(1);
            let mut by_hour = [0u64; 48];
            let mut conversions = [0u64; 48];
            for &(hour, n, conversion) in &events {
                if conversion {
                    h.add_conversion(s, Some(9), hour, Earning { click_time: 0, revenue: Money::from_millionths(n), cost: Money::from_millionths(n / 2) });
                    conversions[hour as usize] += 1;
                } else {
                    h.add_routed(s, 9, hour, n);
                    by_hour[hour as usize] += n;
                }
            }
            let (a, b) = (h.route(s, 9, 0..cut), h.route(s, 9, cut..48));
            let whole = h.route(s, 9, 0..48);
            proptest::prop_assert_eq!(a.routed + b.routed, whole.routed);
            proptest::prop_assert_eq!(a.routed, by_hour[..cut as usize].iter().sum::<u64>());
            proptest::prop_assert_eq!(a.conversions, conversions[..cut as usize].iter().sum::<u64>());
            proptest::prop_assert_eq!(a.revenue + b.revenue, whole.revenue);
            proptest::prop_assert_eq!(a.cost + b.cost, whole.cost);
            // Hour by hour, the series add up to the range's sum, and a walk sees the same.
            let series = h.route_hours(s, 9, 0..48);
            proptest::prop_assert_eq!(series.iter().map(|t| t.routed).sum::<u64>(), whole.routed);
            for (i, t) in series.iter().enumerate() {
                proptest::prop_assert_eq!(t.routed, by_hour[i]);
                proptest::prop_assert_eq!(t.conversions, conversions[i]);
            }
            let mut walked = 0;
            h.walk(cut..48, |_, _, c| if let Counted::Routed(_, t) = c { walked += t.routed });
            proptest::prop_assert_eq!(walked, b.routed);
        }
    }
}
