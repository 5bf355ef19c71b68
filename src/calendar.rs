//! Cap windows (docs/routing.md): the day from local midnight, the week from Monday 00:00 and the
//! month from the 1st, in `tracking.timezone`, DST-correct (jiff and its bundled tz database).
//!
//! Time is always passed in (`now`, Unix seconds), never read here: the hot path passes the
//! click's time, tests pass any instant they like (the injectable clock).
//!
//! Cost: computing a window with jiff takes a few hundred nanoseconds, so each [`Calendar`]
//! caches the current window of each period in one atomic word (start and end packed); a
//! click inside it pays one load and two compares. The cache is refilled by whichever thread
//! first sees a time outside it; racing refills store windows computed from the same rules,
//! and a stale one is simply recomputed by the next caller.

use std::sync::atomic::{AtomicU64, Ordering};

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

/// The length of a cap window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Period {
    Day = 0,
    Week = 1,
    Month = 2,
}

/// A window `[start, end)` in Unix seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub start: i64,
    pub end: i64,
}

/// Cap windows and schedule times in one time zone.
pub struct Calendar {
    tz: TimeZone,
    /// Per period, the last window computed: `start << 32 | end` (0: none yet).
    cached: [AtomicU64; 3],
    /// The last minute whose local time was computed: `(Unix minute + 1) << 16 | minute of
    /// the week` (0: none yet). UTC offsets change on whole minutes, so every click of one
    /// minute shares one computation.
    week_minute: AtomicU64,
}

impl std::fmt::Debug for Calendar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Calendar({})", self.tz.iana_name().unwrap_or("?"))
    }
}

impl Calendar {
    pub fn new(tz: TimeZone) -> Calendar {
        Calendar {
            tz,
            cached: Default::default(),
            week_minute: AtomicU64::new(0),
        }
    }

    /// The calendar of an IANA zone name (validated with the settings).
    pub fn named(name: &str) -> Result<Calendar, jiff::Error> {
        TimeZone::get(name).map(Calendar::new)
    }

    /// The window of `period` that contains `now` (Unix seconds).
    #[inline]
    pub fn window(&self, period: Period, now: i64) -> Window {
        let slot = &self.cached[period as usize];
        let packed = slot.load(Ordering::Relaxed);
        let (start, end) = ((packed >> 32) as i64, (packed & 0xffff_ffff) as i64);
        if start <= now && now < end {
            return Window { start, end };
        }
        self.refill(slot, period, now)
    }

    /// The local minute of the week at `now` (Unix seconds): Monday 00:00 is 0, Sunday 23:59
    /// is 10 079. Local wall-clock time: across a DST change, 03:30 is 03:30.
    #[inline]
    pub fn week_minute(&self, now: i64) -> u16 {
        let minute = now.div_euclid(60) as u64 + 1;
        let packed = self.week_minute.load(Ordering::Relaxed);
        if packed >> 16 == minute {
            return packed as u16;
        }
        let local = Timestamp::from_second(now)
            .unwrap_or(Timestamp::UNIX_EPOCH)
            .to_zoned(self.tz.clone());
        let week_minute = u16::from(local.weekday().to_monday_zero_offset() as u8) * 1440
            + local.hour() as u16 * 60
            + local.minute() as u16;
        self.week_minute
            .store(minute << 16 | u64::from(week_minute), Ordering::Relaxed);
        week_minute
    }

    #[cold]
    fn refill(&self, slot: &AtomicU64, period: Period, now: i64) -> Window {
        let w = compute(&self.tz, period, now);
        if let (Ok(start), Ok(end)) = (u32::try_from(w.start), u32::try_from(w.end)) {
            slot.store(u64::from(start) << 32 | u64::from(end), Ordering::Relaxed);
        }
        w
    }
}

/// The window of `period` containing `now`, from the rules (no cache).
fn compute(tz: &TimeZone, period: Period, now: i64) -> Window {
    let ts = Timestamp::from_second(now).unwrap_or(Timestamp::UNIX_EPOCH);
    let today = ts.to_zoned(tz.clone()).date();
    let (first, next) = match period {
        Period::Day => (today, today.saturating_add(1.day())),
        Period::Week => {
            let monday =
                today.saturating_sub(i64::from(today.weekday().to_monday_zero_offset()).days());
            (monday, monday.saturating_add(1.week()))
        }
        Period::Month => {
            let first = today.first_of_month();
            (first, first.saturating_add(1.month()))
        }
    };
    Window {
        start: midnight(tz, first),
        end: midnight(tz, next),
    }
}

/// The instant a local date begins: its midnight, or the first instant after a DST gap
/// that swallowed midnight (as in zones that spring forward at 00:00).
fn midnight(tz: &TimeZone, date: Date) -> i64 {
    tz.to_ambiguous_zoned(date.to_datetime(jiff::civil::Time::midnight()))
        .compatible()
        .map_or(0, |z| z.timestamp().as_second())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> i64 {
        text.parse::<Timestamp>().unwrap().as_second()
    }

    fn calendar(zone: &str) -> Calendar {
        Calendar::named(zone).unwrap()
    }

    #[test]
    fn the_week_minute_is_local_wall_clock_time_across_dst() {
        let ny = calendar("America/New_York");
        // Sunday 2026-03-08: clocks jump from 02:00 to 03:00 EST→EDT (07:00 UTC).
        assert_eq!(
            ny.week_minute(at("2026-03-08T06:59:00Z")),
            6 * 1440 + 60 + 59
        );
        assert_eq!(
            ny.week_minute(at("2026-03-08T07:00:00Z")),
            6 * 1440 + 3 * 60
        );
        // Monday 00:00 local, then the next second of the same minute (cached).
        assert_eq!(ny.week_minute(at("2026-03-09T04:00:00Z")), 0);
        assert_eq!(ny.week_minute(at("2026-03-09T04:00:59Z")), 0);
        assert_eq!(ny.week_minute(at("2026-03-09T04:01:00Z")), 1);
        // Sunday 2026-11-01: 01:30 happens twice, both are 01:30.
        let once = ny.week_minute(at("2026-11-01T05:30:00Z"));
        let twice = ny.week_minute(at("2026-11-01T06:30:00Z"));
        assert_eq!((once, twice), (6 * 1440 + 90, 6 * 1440 + 90));
        assert_eq!(
            calendar("UTC").week_minute(at("2026-12-06T23:59:00Z")),
            7 * 1440 - 1
        );
    }

    #[test]
    fn utc_windows_start_at_midnight_monday_and_the_first() {
        let c = calendar("UTC");
        let now = at("2026-11-18T13:45:00Z"); // a Wednesday
        assert_eq!(
            c.window(Period::Day, now),
            Window {
                start: at("2026-11-18T00:00:00Z"),
                end: at("2026-11-19T00:00:00Z")
            }
        );
        assert_eq!(
            c.window(Period::Week, now),
            Window {
                start: at("2026-11-16T00:00:00Z"),
                end: at("2026-11-23T00:00:00Z")
            }
        );
        assert_eq!(
            c.window(Period::Month, now),
            Window {
                start: at("2026-11-01T00:00:00Z"),
                end: at("2026-12-01T00:00:00Z")
            }
        );
    }

    #[test]
    fn local_days_follow_the_zone_across_dst_changes() {
        let c = calendar("America/New_York");
        // 2026-03-08: clocks spring forward at 02:00 EST; the day is 23 hours long.
        let spring = c.window(Period::Day, at("2026-03-08T12:00:00Z"));
        assert_eq!(spring.start, at("2026-03-08T05:00:00Z"), "midnight EST");
        assert_eq!(spring.end, at("2026-03-09T04:00:00Z"), "midnight EDT");
        assert_eq!(spring.end - spring.start, 23 * 3600);
        // 2026-11-01: clocks fall back at 02:00 EDT; the day is 25 hours long.
        let fall = c.window(Period::Day, at("2026-11-01T12:00:00Z"));
        assert_eq!(fall.start, at("2026-11-01T04:00:00Z"));
        assert_eq!(fall.end, at("2026-11-02T05:00:00Z"));
        assert_eq!(fall.end - fall.start, 25 * 3600);
        // One second before local midnight is still the previous day.
        let before = c.window(Period::Day, at("2026-11-02T04:59:59Z"));
        assert_eq!(before, fall);
        let after = c.window(Period::Day, at("2026-11-02T05:00:00Z"));
        assert_eq!(after.start, fall.end);
        // The week containing the spring change starts Monday 2026-03-02 at EST midnight and
        // is one hour short.
        let week = c.window(Period::Week, at("2026-03-08T12:00:00Z"));
        assert_eq!(week.start, at("2026-03-02T05:00:00Z"));
        assert_eq!(week.end, at("2026-03-09T04:00:00Z"));
    }

    #[test]
    fn a_midnight_lost_to_dst_starts_the_day_at_the_first_instant_after_it() {
        // America/Santiago springs forward at 24:00 on the first Saturday of September:
        // 2026-09-06 has no 00:00; the day starts at 01:00 local (04:00 UTC).
        let c = calendar("America/Santiago");
        let day = c.window(Period::Day, at("2026-09-06T15:00:00Z"));
        assert_eq!(day.start, at("2026-09-06T04:00:00Z"));
        assert_eq!(day.end, at("2026-09-07T03:00:00Z"));
    }

    #[test]
    fn months_have_their_own_lengths() {
        let c = calendar("Europe/Berlin");
        let feb = c.window(Period::Month, at("2028-02-15T00:00:00Z")); // leap year
        assert_eq!(feb.start, at("2028-01-31T23:00:00Z"));
        assert_eq!(feb.end, at("2028-02-29T23:00:00Z"));
        // March contains the switch to CEST: it ends at 22:00 UTC.
        let mar = c.window(Period::Month, at("2028-03-15T00:00:00Z"));
        assert_eq!(mar.start, feb.end);
        assert_eq!(mar.end, at("2028-03-31T22:00:00Z"));
    }

    proptest::proptest! {
        /// Every instant lies in exactly one window of each period, windows tile time (each
        /// ends where the next begins), start on the right local boundary, and the cached
        /// answer equals the computed one whatever order times arrive in.
        #[test]
        fn windows_tile_time_and_start_on_local_boundaries(
            zone in proptest::sample::select(vec![
                "UTC", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe",
                "Asia/Kathmandu", "America/Santiago", "Pacific/Chatham",
            ]),
            times in proptest::collection::vec(946_684_800i64..4_102_444_800, 1..20),
        ) {
            let c = calendar(zone);
            let tz = TimeZone::get(zone).unwrap();
            for now in times {
                for period in [Period::Day, Period::Week, Period::Month] {
                    let w = c.window(period, now);
                    proptest::prop_assert_eq!(w, compute(&tz, period, now));
                    proptest::prop_assert!(w.start <= now && now < w.end);
                    proptest::prop_assert_eq!(compute(&tz, period, w.end).start, w.end);
                    proptest::prop_assert_eq!(compute(&tz, period, w.start - 1).end, w.start);
                    let local = Timestamp::from_second(w.start).unwrap().to_zoned(tz.clone());
                    match period {
                        Period::Day => {}
                        Period::Week => proptest::prop_assert_eq!(
                            local.weekday(), jiff::civil::Weekday::Monday),
                        Period::Month => proptest::prop_assert_eq!(local.day(), 1),
                    }
                    let hours = (w.end - w.start) as f64 / 3600.0;
                    let nominal = match period {
                        Period::Day => 24.0,
                        Period::Week => 168.0,
                        Period::Month => 24.0 * f64::from(local.days_in_month()),
                    };
                    proptest::prop_assert!((hours - nominal).abs() <= 1.0, "{hours} h");
                }
            }
        }
    }
}
