//! An offer's cap counters and the cap check and check-and-reserve the decision runs on them.
//!
//! Each windowed count is one `AtomicU64` holding the window's start (Unix seconds, high 32
//! bits) and the count in that window (low 32 bits). A count stored under an older window is
//! zero in the current one, so a window rolls over by the first write that sees the new
//! window, atomically, with nothing to reset and no lock. A click cap of N is enforced with a
//! compare-and-swap loop that only ever moves the count from `c < N` to `c + 1`: at most N
//! reservations succeed per window, however many threads race.
//!
//! Cost: a check is one relaxed load per configured cap; a reservation is one CAS on the
//! offer's cache line (uncontended ~5 ns; contended it bounces between cores).
//!
//! When the process serves clicks, a daily click cap is spent from a *lease*: a number of
//! the cap's clicks granted for the window, kept in the same packed form. A click takes one
//! from the lease with the same kind of CAS; an empty lease means capped here. In cluster mode
//! (docs/cluster.md) the cap is shared by every node and Redis grants the leases (the lease
//! keeper, `cluster`, fills and empties them off the click path); the click is counted in
//! `daily_clicks` for statistics. Standalone, the reservation file grants them
//! (`reserve`: granted on disk before they are spendable, so that a crash never reopens a
//! cap), and the click is also counted against the cap with the CAS above, so that a cap
//! lowered under what is reserved holds at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::calendar::{Calendar, Period};
use crate::catalog::Caps;
use crate::vocab::{CapKind, MAX_CAP};

/// A windowed count: `window start << 32 | count`.
#[derive(Default, Debug)]
pub(super) struct WindowCount(AtomicU64);

/// A window start and the count in it, as stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counted {
    pub window_start: i64,
    pub count: u64,
}

fn pack(window: u32, count: u32) -> u64 {
    u64::from(window) << 32 | u64::from(count)
}

fn unpack(word: u64) -> (u32, u32) {
    ((word >> 32) as u32, word as u32)
}

/// Window starts are stored as u32 seconds (valid until 2106).
fn window_key(start: i64) -> u32 {
    u32::try_from(start).unwrap_or(if start < 0 { 0 } else { u32::MAX })
}

impl WindowCount {
    /// The count in the window starting at `start` (a later stored window counts as this one:
    /// a thread whose clock read is a moment older must not see an empty window).
    #[inline]
    pub(super) fn count(&self, start: i64) -> u64 {
        let (w, c) = unpack(self.0.load(Ordering::Relaxed));
        if w >= window_key(start) {
            u64::from(c)
        } else {
            0
        }
    }

    /// Counts one more in the window starting at `start` if that keeps the count at most
    /// `cap`; false when the window is full.
    #[inline]
    pub(super) fn try_reserve(&self, start: i64, cap: u64) -> bool {
        self.update(start, |c| (u64::from(c) < cap).then_some(c + 1))
    }

    /// Counts one less in the window starting at `start`; false when it holds none.
    #[inline]
    pub(super) fn try_take(&self, start: i64) -> bool {
        self.update(start, |c| c.checked_sub(1))
    }

    /// Lowers the count of the window starting at `start` to `keep` and returns by how much;
    /// 0, and nothing changed, when it is at most `keep` or of another window.
    pub(super) fn take_over(&self, start: i64, keep: u32) -> u32 {
        let mine = window_key(start);
        let mut word = self.0.load(Ordering::Relaxed);
        loop {
            let (w, c) = unpack(word);
            if w != mine || c <= keep {
                return 0;
            }
            match self.0.compare_exchange_weak(
                word,
                pack(w, keep),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return c - keep,
                Err(actual) => word = actual,
            }
        }
    }

    /// Counts `n` more in the window starting at `start` (saturating).
    pub(super) fn add(&self, start: i64, n: u32) {
        self.update(start, |c| Some(c.saturating_add(n)));
    }

    fn update(&self, start: i64, next: impl Fn(u32) -> Option<u32>) -> bool {
        let mine = window_key(start);
        let mut word = self.0.load(Ordering::Relaxed);
        loop {
            let (w, c) = unpack(word);
            let (w, c) = if w >= mine { (w, c) } else { (mine, 0) };
            let Some(c) = next(c) else { return false };
            match self.0.compare_exchange_weak(
                word,
                pack(w, c),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(actual) => word = actual,
            }
        }
    }

    pub(super) fn get(&self) -> Counted {
        let (w, c) = unpack(self.0.load(Ordering::Relaxed));
        Counted {
            window_start: i64::from(w),
            count: u64::from(c),
        }
    }

    /// Combines `v` with the count held, by `combine` when both are of one window; a count
    /// of a newer window replaces the one held, an older one is left out.
    pub(super) fn merge(&self, v: Counted, combine: fn(u64, u64) -> u64) {
        let held = self.get();
        let next = match v.window_start.cmp(&held.window_start) {
            std::cmp::Ordering::Less => return,
            std::cmp::Ordering::Equal => combine(held.count, v.count),
            std::cmp::Ordering::Greater => v.count,
        };
        self.set(Counted {
            window_start: v.window_start,
            count: next,
        });
    }

    pub(super) fn set(&self, v: Counted) {
        let count = u32::try_from(v.count).unwrap_or(u32::MAX);
        self.0
            .store(pack(window_key(v.window_start), count), Ordering::Relaxed);
    }
}

/// An offer's counts, shared by every routing table that contains the offer.
#[derive(Default, Debug)]
pub struct OfferCounters {
    pub(super) daily_clicks: WindowCount,
    pub(super) daily_conversions: WindowCount,
    pub(super) weekly_conversions: WindowCount,
    pub(super) monthly_conversions: WindowCount,
    pub(super) total_conversions: AtomicU64,
    /// Clicks that qualified for the offer but were turned away by one of its caps.
    pub(super) capped_clicks: AtomicU64,
    /// The daily click cap is spent from `lease` (see the module's text).
    pub(super) leased: bool,
    /// Standalone serving: the lease is granted by the reservation file, and a click is also
    /// counted against the cap.
    pub(super) reserved: bool,
    /// The clicks of the current lease left to spend, in its window.
    pub(super) lease: WindowCount,
    /// Cluster mode: a window in which Redis refused a lease (the cap is reached across the
    /// cluster), counted as 1 in it.
    pub(super) cluster_full: WindowCount,
    /// Cluster mode: clicks turned away by the click cap while this node held no lease and
    /// the cap was not known to be reached across the cluster.
    pub(super) without_lease: AtomicU64,
}

impl OfferCounters {
    /// Counters whose daily click cap is spent from leases (`leased`: cluster mode; with
    /// `reserved` too: standalone serving) or counted against the cap only.
    pub(super) fn new(leased: bool, reserved: bool) -> OfferCounters {
        OfferCounters {
            leased,
            reserved,
            ..OfferCounters::default()
        }
    }

    /// Whether the daily click cap is spent from leases.
    pub fn leased(&self) -> bool {
        self.leased
    }

    pub fn capped_clicks(&self) -> u64 {
        self.capped_clicks.load(Ordering::Relaxed)
    }

    /// Clicks turned away for want of a lease (cluster mode).
    pub fn clicks_without_lease(&self) -> u64 {
        self.without_lease.load(Ordering::Relaxed)
    }

    /// Clicks routed to the offer by this node in the day window starting at `start`.
    pub fn daily_clicks(&self, start: i64) -> u64 {
        self.daily_clicks.count(start)
    }

    /// Makes the click cap's count of the window starting at `start` at least `n` (the
    /// clicks the click log shows, counted at start when no reservation says more).
    pub fn daily_clicks_at_least(&self, start: i64, n: u64) {
        self.daily_clicks.merge(
            Counted {
                window_start: start,
                count: n,
            },
            u64::max,
        );
    }

    /// The clicks of the lease left to spend in the window starting at `start`.
    pub fn lease_left(&self, start: i64) -> u64 {
        self.lease.count(start)
    }

    /// Adds `n` granted clicks to the lease of the window starting at `start` (a lease of an
    /// older window is replaced).
    pub fn add_lease(&self, start: i64, n: u32) {
        self.lease.add(start, n);
    }

    /// Empties the lease of the window starting at `start` and returns what it held (0 for
    /// a lease of another window), to give back.
    pub fn take_lease(&self, start: i64) -> u32 {
        self.lease.take_over(start, 0)
    }

    /// Takes what the lease of the window starting at `start` holds beyond `keep` and returns
    /// it, to give back (0 when it holds no more, or is of another window).
    pub fn trim_lease(&self, start: i64, keep: u32) -> u32 {
        self.lease.take_over(start, keep)
    }

    /// Notes whether Redis said the cap is reached across the cluster in the window
    /// starting at `start`.
    pub fn set_cluster_full(&self, start: i64, full: bool) {
        self.cluster_full.set(Counted {
            window_start: start,
            count: u64::from(full),
        });
    }

    /// Sets the conversion windows (day, week and month starting at `windows`) and the total
    /// to the cluster's totals (cluster mode): conversions through other nodes count toward
    /// the caps here.
    pub fn set_conversion_totals(&self, windows: [i64; 3], totals: [u64; 4]) {
        for (count, (start, total)) in [
            &self.daily_conversions,
            &self.weekly_conversions,
            &self.monthly_conversions,
        ]
        .into_iter()
        .zip(windows.into_iter().zip(totals))
        {
            count.set(Counted {
                window_start: start,
                count: total,
            });
        }
        self.total_conversions.store(totals[3], Ordering::Relaxed);
    }

    /// The conversion windows (day, week and month) at `now` and the counts in them, with the
    /// total: what [`OfferCounters::set_conversion_totals`] takes (a change preview copies
    /// them into its scratch counters).
    pub fn conversions_at(&self, calendar: &Calendar, now: i64) -> ([i64; 3], [u64; 4]) {
        let windows = [Period::Day, Period::Week, Period::Month]
            .map(|period| calendar.window(period, now).start);
        let counts = [
            &self.daily_conversions,
            &self.weekly_conversions,
            &self.monthly_conversions,
        ];
        let [d, w, m] = [0, 1, 2].map(|i| counts[i].count(windows[i]));
        (windows, [d, w, m, self.total_conversions()])
    }

    pub fn total_conversions(&self) -> u64 {
        self.total_conversions.load(Ordering::Relaxed)
    }

    /// Counts a conversion that happened at `now`.
    pub(super) fn add_conversion(&self, calendar: &Calendar, now: i64) {
        self.daily_conversions
            .add(calendar.window(Period::Day, now).start, 1);
        self.weekly_conversions
            .add(calendar.window(Period::Week, now).start, 1);
        self.monthly_conversions
            .add(calendar.window(Period::Month, now).start, 1);
        self.total_conversions.fetch_add(1, Ordering::Relaxed);
    }
}

/// The time a decision is taken at, in the zone of the cap windows.
#[derive(Clone, Copy, Debug)]
pub struct CapClock<'a> {
    pub calendar: &'a Calendar,
    /// Unix seconds.
    pub now: i64,
}

impl<'a> CapClock<'a> {
    /// The current time on `calendar`.
    pub fn now(calendar: &'a Calendar) -> CapClock<'a> {
        CapClock {
            calendar,
            now: crate::clock::unix_secs(std::time::SystemTime::now()),
        }
    }

    #[inline]
    fn start(&self, period: Period) -> i64 {
        self.calendar.window(period, self.now).start
    }
}

/// An offer's cap values as the routing table holds them, compact: a cap is at most
/// `MAX_CAP`, which fits 32 bits, so the five take 20 bytes (`u32::MAX`: no cap) and an
/// attachment stays small enough that a decision over ten of them reads few cache lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapLimits([u32; 5]);

impl CapLimits {
    /// The limits of the catalog's `caps` (validated: each at most `MAX_CAP`).
    pub fn of(caps: &Caps) -> CapLimits {
        CapLimits(CapKind::ALL.map(|kind| {
            caps.get(kind).map_or(u32::MAX, |v| {
                u32::try_from(v.min(MAX_CAP)).unwrap_or(u32::MAX - 1)
            })
        }))
    }

    /// The cap of `kind`; `None` when it is not set.
    #[inline]
    pub fn get(self, kind: CapKind) -> Option<u64> {
        let v = self.0[kind as usize];
        (v != u32::MAX).then_some(u64::from(v))
    }
}

/// A capped offer as a routing table holds it: its caps and its counters.
#[derive(Clone, Debug)]
pub struct OfferCaps {
    pub limits: CapLimits,
    pub counters: Arc<OfferCounters>,
}

impl OfferCaps {
    /// Each cap that is set, with its limit and its count in the window of `clock`.
    #[inline]
    pub fn counts<'a>(
        &'a self,
        clock: &'a CapClock,
    ) -> impl Iterator<Item = (CapKind, u64, u64)> + 'a {
        let (l, c) = (self.limits, &*self.counters);
        let windowed = |kind, count: &WindowCount, period| {
            l.get(kind)
                .map(|limit| (kind, limit, count.count(clock.start(period))))
        };
        [
            windowed(CapKind::DailyClicks, &c.daily_clicks, Period::Day),
            windowed(CapKind::DailyConversions, &c.daily_conversions, Period::Day),
            windowed(
                CapKind::WeeklyConversions,
                &c.weekly_conversions,
                Period::Week,
            ),
            windowed(
                CapKind::MonthlyConversions,
                &c.monthly_conversions,
                Period::Month,
            ),
            l.get(CapKind::TotalConversions).map(|limit| {
                (
                    CapKind::TotalConversions,
                    limit,
                    c.total_conversions.load(Ordering::Relaxed),
                )
            }),
        ]
        .into_iter()
        .flatten()
    }

    /// The first cap the offer has reached at `clock`, if any. In cluster mode the daily
    /// click cap is reached for this node when its lease is empty.
    #[inline]
    pub fn reached(&self, clock: &CapClock) -> Option<CapKind> {
        if self.counters.leased
            && self.limits.get(CapKind::DailyClicks).is_some()
            && self.counters.lease.count(clock.start(Period::Day)) == 0
        {
            return Some(CapKind::DailyClicks);
        }
        self.counts(clock)
            .find(|&(_, limit, count)| count >= limit)
            .map(|(kind, ..)| kind)
    }

    /// Whether a cap is at 90 % of its limit or more at `clock`, by the counts this process
    /// holds (for `smartlink_offers_near_cap`). In cluster mode conversion counts are the
    /// cluster's, and a daily click cap's count is this node's own clicks.
    pub fn near(&self, clock: &CapClock) -> bool {
        self.counts(clock)
            .any(|(_, limit, count)| count.saturating_mul(10) >= limit.saturating_mul(9))
    }

    /// Reserves one routed click under the daily click cap; false when other clicks took the
    /// last place first. Without a click cap it always succeeds and counts nothing.
    #[inline]
    pub fn reserve_click(&self, clock: &CapClock) -> bool {
        let start = clock.start(Period::Day);
        match self.limits.get(CapKind::DailyClicks) {
            None => true,
            Some(cap) if self.counters.leased => {
                let c = &*self.counters;
                if !c.lease.try_take(start) {
                    return false;
                }
                if !c.reserved {
                    c.daily_clicks.add(start, 1);
                } else if !c.daily_clicks.try_reserve(start, cap) {
                    // The cap was lowered under what is reserved: the place goes back.
                    c.lease.add(start, 1);
                    return false;
                }
                true
            }
            Some(cap) => self.counters.daily_clicks.try_reserve(start, cap),
        }
    }

    /// A counted click matched the offer but one of its caps turned it away at `clock`.
    #[cold]
    pub fn click_turned_away(&self, clock: &CapClock) {
        let c = &*self.counters;
        c.capped_clicks.fetch_add(1, Ordering::Relaxed);
        let day = clock.start(Period::Day);
        if c.leased
            && self.limits.get(CapKind::DailyClicks).is_some()
            && c.lease.count(day) == 0
            && c.cluster_full.count(day) == 0
        {
            c.without_lease.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_new_window_starts_from_zero() {
        let c = WindowCount::default();
        assert!(c.try_reserve(1000, 2));
        assert!(c.try_reserve(1000, 2));
        assert!(!c.try_reserve(1000, 2), "third click in the window");
        assert_eq!(c.count(1000), 2);
        assert_eq!(c.count(2000), 0, "the next window is empty");
        assert!(c.try_reserve(2000, 2));
        assert_eq!(
            c.get(),
            Counted {
                window_start: 2000,
                count: 1
            }
        );
        // A caller a moment behind (older window) counts in the stored, newer window.
        assert!(c.try_reserve(1000, 2));
        assert!(!c.try_reserve(1000, 2));
        assert_eq!(c.count(2000), 2);
    }

    #[test]
    fn a_zero_cap_admits_nothing() {
        let c = WindowCount::default();
        assert!(!c.try_reserve(5, 0));
        assert_eq!(c.count(5), 0);
    }

    #[test]
    fn racing_threads_reserve_exactly_the_cap() {
        for cap in [1u64, 7, 1000] {
            let c = Arc::new(WindowCount::default());
            let admitted: u64 = (0..4)
                .map(|_| {
                    let c = Arc::clone(&c);
                    std::thread::spawn(move || {
                        (0..2000).filter(|_| c.try_reserve(86_400, cap)).count() as u64
                    })
                })
                .collect::<Vec<_>>()
                .into_iter()
                .map(|t| t.join().unwrap())
                .sum();
            assert_eq!(admitted, cap.min(8000));
            assert_eq!(c.count(86_400), cap.min(8000));
        }
    }

    #[test]
    fn limits_report_the_first_cap_reached() {
        let calendar = Calendar::named("UTC").unwrap();
        let caps = OfferCaps {
            limits: CapLimits::of(&Caps {
                daily_clicks: Some(1),
                weekly_conversions: Some(2),
                total_conversions: Some(3),
                ..Caps::default()
            }),
            counters: Arc::default(),
        };
        let at = |now| CapClock {
            calendar: &calendar,
            now,
        };
        let monday = 1_795_392_000; // 2026-11-23T00:00:00Z, a Monday
        assert_eq!(caps.reached(&at(monday)), None);
        assert!(caps.reserve_click(&at(monday + 5)));
        assert!(!caps.reserve_click(&at(monday + 6)));
        assert_eq!(caps.reached(&at(monday + 7)), Some(CapKind::DailyClicks));
        // Next day: clicks reset; two conversions reach the weekly cap.
        let tuesday = monday + 86_400;
        assert_eq!(caps.reached(&at(tuesday)), None);
        caps.counters.add_conversion(&calendar, tuesday);
        caps.counters.add_conversion(&calendar, tuesday + 1);
        assert_eq!(
            caps.reached(&at(tuesday + 2)),
            Some(CapKind::WeeklyConversions)
        );
        // Next week: the weekly count is back to zero; a third conversion hits the total.
        let next_monday = monday + 7 * 86_400;
        assert_eq!(caps.reached(&at(next_monday)), None);
        caps.counters.add_conversion(&calendar, next_monday);
        assert_eq!(
            caps.reached(&at(next_monday + 1)),
            Some(CapKind::TotalConversions)
        );
    }

    #[test]
    fn a_click_cap_rolls_over_at_local_midnight_on_a_25_hour_day() {
        // New York falls back on 2026-11-01: that local day runs 04:00Z to 05:00Z next day.
        let calendar = Calendar::named("America/New_York").unwrap();
        let caps = OfferCaps {
            limits: CapLimits::of(&Caps {
                daily_clicks: Some(2),
                ..Caps::default()
            }),
            counters: Arc::default(),
        };
        let at = |text: &str| CapClock {
            calendar: &calendar,
            now: text.parse::<jiff::Timestamp>().unwrap().as_second(),
        };
        assert!(caps.reserve_click(&at("2026-11-01T04:30:00Z"))); // 00:30 EDT
        assert!(caps.reserve_click(&at("2026-11-02T03:00:00Z"))); // 22:00 EST
        // 23:59:59 EST: a UTC-day or fixed-offset cap would have reset an hour ago.
        assert!(!caps.reserve_click(&at("2026-11-02T04:59:59Z")));
        assert_eq!(
            caps.reached(&at("2026-11-02T04:59:59Z")),
            Some(CapKind::DailyClicks)
        );
        // Local midnight: a new window.
        assert_eq!(caps.reached(&at("2026-11-02T05:00:00Z")), None);
        assert!(caps.reserve_click(&at("2026-11-02T05:00:00Z")));
    }

    /// An offer whose daily click cap (`cap`) is spent from leases, as in cluster mode.
    fn leased(cap: u64) -> OfferCaps {
        OfferCaps {
            limits: CapLimits::of(&Caps {
                daily_clicks: Some(cap),
                ..Caps::default()
            }),
            counters: Arc::new(OfferCounters::new(true, false)),
        }
    }

    #[test]
    fn a_leased_click_cap_spends_the_lease_and_is_reached_when_it_is_empty() {
        let calendar = Calendar::named("UTC").unwrap();
        let day = 1_795_392_000;
        let at = |now| CapClock {
            calendar: &calendar,
            now,
        };
        let caps = leased(1000);
        // No lease: capped here, whatever the cap says.
        assert_eq!(caps.reached(&at(day)), Some(CapKind::DailyClicks));
        assert!(!caps.reserve_click(&at(day)));
        caps.click_turned_away(&at(day));
        assert_eq!(caps.counters.clicks_without_lease(), 1);
        caps.counters.add_lease(day, 2);
        assert_eq!(caps.reached(&at(day + 1)), None);
        assert!(caps.reserve_click(&at(day + 1)));
        assert!(caps.reserve_click(&at(day + 2)));
        assert!(!caps.reserve_click(&at(day + 3)), "the lease is spent");
        assert_eq!(
            caps.counters.daily_clicks(day),
            2,
            "spent clicks are counted"
        );
        // Known full across the cluster: a turned-away click is not "without lease".
        caps.counters.set_cluster_full(day, true);
        caps.click_turned_away(&at(day + 4));
        assert_eq!(caps.counters.clicks_without_lease(), 1);
        assert_eq!(caps.counters.capped_clicks(), 2);
        // A lease dies with its window; taking it back empties it.
        caps.counters.add_lease(day, 5);
        assert_eq!(caps.counters.lease_left(day + 86_400), 0);
        assert_eq!(caps.counters.take_lease(day + 86_400), 0);
        assert_eq!(caps.counters.take_lease(day), 5);
        assert_eq!(caps.counters.lease_left(day), 0);
    }

    #[test]
    fn racing_threads_spend_exactly_the_clicks_leased() {
        let calendar = Arc::new(Calendar::named("UTC").unwrap());
        let day = 1_795_392_000;
        let caps = Arc::new(leased(u64::from(u32::MAX - 1)));
        caps.counters.add_lease(day, 777);
        let spent: u64 = (0..4)
            .map(|_| {
                let (caps, calendar) = (Arc::clone(&caps), Arc::clone(&calendar));
                std::thread::spawn(move || {
                    let clock = CapClock {
                        calendar: &calendar,
                        now: day + 10,
                    };
                    (0..1000).filter(|_| caps.reserve_click(&clock)).count() as u64
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .sum();
        assert_eq!(spent, 777);
        assert_eq!(caps.counters.daily_clicks(day), 777);
        assert_eq!(caps.counters.lease_left(day), 0);
    }

    proptest::proptest! {
        /// Against a plain model: per window, admitted = min(attempts, cap); a count is never
        /// lost or invented whatever the order of windows (older windows count as the newest).
        #[test]
        fn reservations_match_a_sequential_model(
            cap in 0u64..20,
            steps in proptest::collection::vec(0i64..4, 1..200),
        ) {
            let c = WindowCount::default();
            let mut newest = -1i64;
            let mut model_count = 0u64;
            for w in steps {
                let start = 1000 * (w + 1);
                if start > newest {
                    newest = start;
                    model_count = 0;
                }
                let expect = model_count < cap;
                proptest::prop_assert_eq!(c.try_reserve(start, cap), expect);
                if expect {
                    model_count += 1;
                }
                proptest::prop_assert_eq!(c.count(newest), model_count);
                if cap > 0 {
                    // (A zero cap never writes, so the stored window never moves.)
                    proptest::prop_assert_eq!(c.get(), Counted { window_start: newest, count: model_count });
                }
            }
        }
    }
}
