//! Standalone click caps that a crash cannot overshoot: clicks reserved ahead on disk
//! (docs/operations.md#click-caps-across-a-crash).
//!
//! A daily click cap is spent from a lease (`OfferCounters::add_lease`, the seam cluster mode
//! fills from Redis). Standalone, this module grants the leases from
//! `state.dir/reservations.json`, which holds, for each capped offer, the clicks reserved in
//! its current window: spent, or held in the lease. A grant is written and fsynced *before*
//! its clicks enter the lease; a give-back leaves the lease *before* the file is lowered. So
//! the file always holds at least every click routed in the window, and a start after
//! `kill -9` counts the window as the larger of the counters file's count (a second old at
//! most) and the reservation: the clicks of the window never pass the cap, whatever the
//! moment of the crash. What a crash costs is the lease held at that moment: the cap then
//! fills short by at most that.
//!
//! Sizing, as cluster leases: every [`TICK`] each capped offer's demand is measured (clicks
//! spent and clicks turned away by the cap in the tick, smoothed); a lease that covers less
//! than [`AHEAD`] of demand, or holds less than half of [`FLOOR`], is renewed to [`SPAN`] of
//! demand, at least [`FLOOR`] and at most [`MAX_LEASE`], never past the cap. A lease unspent
//! for [`IDLE`] shrinks back to [`FLOOR`]. At shutdown every lease is given back, so that a
//! clean restart loses nothing. So a crash leaves an offer at most `max(FLOOR, 1.25 s of its
//! demand)` clicks (never more than [`MAX_LEASE`]) under its cap.
//!
//! Cost: the click takes one from the lease and counts itself against the cap (two
//! compare-and-swaps on the offer's line, where counting alone was one); the file is
//! rewritten whole (temporary file, fsync, rename, fsync of the directory) only in a tick
//! where some lease is renewed or shrunk, about once a second per busy capped offer, off the
//! click path.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::offer::{Counted, OfferCounters};
use super::registry::Counts;
use super::store::{StoreError, check_version, read_state};
use crate::files::{FailureLog, write_atomically};

pub const FILE_NAME: &str = "reservations.json";
const VERSION: u32 = 1;

/// How often demand is measured and leases are checked.
pub const TICK: Duration = Duration::from_millis(20);
/// A lease is renewed when it covers less than this much demand (seconds).
pub const AHEAD: f64 = 0.25;
/// A renewed lease covers this much demand (seconds).
pub const SPAN: f64 = 1.0;
/// The least lease an offer holds while its cap has room: the clicks a burst can take
/// between two ticks after a quiet spell (5,000 clicks/s for a tick), and what a crash costs
/// an offer with little traffic. An offer with less than this left of its cap holds all of it.
pub const FLOOR: u32 = 100;
/// The largest lease: one renewal per tick carries up to 5 million clicks a second.
pub const MAX_LEASE: u32 = 100_000;
/// A lease unspent for this long shrinks back to [`FLOOR`].
pub const IDLE: Duration = Duration::from_secs(1);

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReservationsFile {
    version: u32,
    offers: Vec<Reservation>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
struct Reservation {
    offer_id: u32,
    /// The day window's start, Unix seconds.
    window_start: i64,
    /// Clicks reserved in the window: spent or held.
    reserved: u64,
}

/// Reads `dir/reservations.json` into `counts`: each offer's click count of a reserved
/// window becomes at least what was reserved (a newer window than the counters file's
/// replaces its count). No file: nothing changes. Returns whether there was one.
pub fn load(dir: &Path, counts: &Counts) -> Result<bool, StoreError> {
    let parse = |bytes: &[u8]| {
        let file: ReservationsFile = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        check_version(file.version, VERSION)?;
        Ok(file)
    };
    let Some(file) = read_state(
        dir.join(FILE_NAME),
        parse,
        StoreError::RESERVATIONS_RECOVERY,
    )?
    else {
        return Ok(false);
    };
    for r in file.offers {
        counts.offer(r.offer_id).daily_clicks.merge(
            Counted {
                window_start: r.window_start,
                count: r.reserved,
            },
            u64::max,
        );
    }
    Ok(true)
}

/// An offer of the served table with a daily click cap.
pub struct Capped {
    pub offer_id: u32,
    pub cap: u64,
    pub counters: Arc<OfferCounters>,
}

/// What is known of one offer's reservation.
struct Held {
    counters: Arc<OfferCounters>,
    /// The day window it is of.
    window: i64,
    /// Clicks reserved in the window, as the file holds them (or more: see `tick`).
    reserved: u64,
    /// The offer's clicks in the window and its capped clicks, at the last tick.
    spent: u64,
    missed: u64,
    /// Demand, clicks per second (smoothed).
    rate: f64,
    last_spend: Instant,
}

impl Held {
    fn new(counters: Arc<OfferCounters>, window: i64, now: Instant) -> Held {
        let spent = counters.daily_clicks(window);
        Held {
            // At start the count is the larger of the saved count and the reservation; the
            // lease is empty. A lease of an older window cannot be spent in this one.
            reserved: spent + counters.lease_left(window),
            missed: counters.capped_clicks(),
            spent,
            counters,
            window,
            rate: 0.0,
            last_spend: now,
        }
    }
}

/// The reservations of a standalone server: the file and what each capped offer holds.
pub struct Reservations {
    path: PathBuf,
    offers: HashMap<u32, Held>,
    /// What the file holds now (an unchanged file is not written again).
    written: Vec<u8>,
    failures: FailureLog,
}

/// What one tick changed in one offer's lease.
struct Change {
    offer_id: u32,
    /// Clicks to add to the lease once the file holds them.
    grant: u32,
}

impl Reservations {
    /// The reservations kept in `dir` (read at start by [`load`]).
    pub fn new(dir: &Path) -> Reservations {
        Reservations {
            path: dir.join(FILE_NAME),
            offers: HashMap::new(),
            written: Vec::new(),
            failures: FailureLog::new("click reservations file"),
        }
    }

    /// One tick over the capped offers of the served table, in the day window starting at
    /// `day`, `elapsed` seconds after the last (0: not a timed tick, demand is not measured):
    /// renews, shrinks and drops leases, writes the file when a reservation changed, and only
    /// then fills the leases it renewed. Returns whether the file was written, or the
    /// write's error (the leases are then left as they were, or emptier: never fuller than
    /// the file).
    pub fn tick(
        &mut self,
        offers: &[Capped],
        day: i64,
        elapsed: f64,
        now: Instant,
    ) -> std::io::Result<bool> {
        let mut changes = Vec::new();
        let mut changed = false;
        for offer in offers {
            let held = self
                .offers
                .entry(offer.offer_id)
                .or_insert_with(|| Held::new(Arc::clone(&offer.counters), day, now));
            if held.window != day {
                *held = Held::new(Arc::clone(&offer.counters), day, now);
                changed = true;
            }
            let (grant, given) = plan(held, offer.cap, elapsed, now);
            held.reserved -= u64::from(given);
            changed |= given > 0 || grant > 0;
            if grant > 0 {
                changes.push(Change {
                    offer_id: offer.offer_id,
                    grant,
                });
            }
        }
        // Offers that left the table or lost their cap: their leases are given back.
        let before = self.offers.len();
        self.offers.retain(|id, held| {
            let kept = offers.iter().any(|o| o.offer_id == *id);
            if !kept {
                held.counters.take_lease(held.window);
            }
            kept
        });
        changed |= self.offers.len() != before;
        if !changed || !self.failures.may_retry() {
            return Ok(false);
        }
        let grant_of = |id: u32| {
            changes
                .iter()
                .find(|c| c.offer_id == id)
                .map_or(0, |c| u64::from(c.grant))
        };
        let bytes = self.render(grant_of);
        let write = bytes != self.written;
        if write {
            if let Err(e) = write_atomically(&self.path, &bytes) {
                // The file holds the old reservations or the new ones: the leases stay
                // unrenewed (the file may hold less), the shrunk ones shrunk (it may hold
                // less). Retried at the next tick.
                self.failures.failed(
                    &e,
                    &"click caps spend only the leases held until it is written",
                );
                self.written.clear();
                return Err(e);
            }
            self.failures.succeeded();
            self.written = bytes;
        }
        for c in changes {
            if let Some(held) = self.offers.get_mut(&c.offer_id) {
                held.reserved += u64::from(c.grant);
                held.counters.add_lease(held.window, c.grant);
            }
        }
        Ok(write)
    }

    /// Gives every lease back and writes the file (at shutdown, after the last request):
    /// a clean restart then starts from exactly the clicks spent.
    pub fn give_back_all(&mut self) -> std::io::Result<()> {
        for held in self.offers.values_mut() {
            held.reserved -= u64::from(held.counters.take_lease(held.window));
        }
        let bytes = self.render(|_| 0);
        if bytes == self.written {
            return Ok(());
        }
        write_atomically(&self.path, &bytes)?;
        self.written = bytes;
        Ok(())
    }

    /// The file with each offer's reservation plus `grant(offer)`.
    fn render(&self, grant: impl Fn(u32) -> u64) -> Vec<u8> {
        let mut offers: Vec<Reservation> = self
            .offers
            .iter()
            .map(|(&offer_id, h)| Reservation {
                offer_id,
                window_start: h.window,
                reserved: h.reserved + grant(offer_id),
            })
            .filter(|r| r.reserved > 0)
            .collect();
        offers.sort_unstable_by_key(|r| r.offer_id);
        let mut out = serde_json::to_vec(&ReservationsFile {
            version: VERSION,
            offers,
        })
        .expect("reservations serialise");
        out.push(b'\n');
        out
    }
}

/// One offer's tick: measures demand, then shrinks the lease (returned as `given`, taken out
/// of the lease already) or plans a renewal (`grant`, not in the lease yet).
fn plan(held: &mut Held, cap: u64, elapsed: f64, now: Instant) -> (u32, u32) {
    let c = &held.counters;
    let day = held.window;
    let (spent, missed) = (c.daily_clicks(day), c.capped_clicks());
    if spent != held.spent {
        held.last_spend = now;
    }
    if elapsed > 0.0 {
        let demand = spent.saturating_sub(held.spent) + missed.saturating_sub(held.missed);
        held.rate = 0.8 * held.rate + 0.2 * (demand as f64 / elapsed);
    }
    (held.spent, held.missed) = (spent, missed);
    let lease = c.lease_left(day);
    // The cap was lowered under what is reserved: give back what the cap no longer allows.
    if held.reserved > cap {
        let over = (held.reserved - cap).min(lease) as u32;
        return (0, c.trim_lease(day, (lease as u32).saturating_sub(over)));
    }
    if lease > u64::from(FLOOR) && now.duration_since(held.last_spend) >= IDLE {
        return (0, c.trim_lease(day, FLOOR));
    }
    let low = (held.rate * AHEAD).max(f64::from(FLOOR / 2));
    if lease as f64 >= low {
        return (0, 0);
    }
    let target = (held.rate * SPAN)
        .ceil()
        .clamp(f64::from(FLOOR), f64::from(MAX_LEASE)) as u64;
    let grant = target.saturating_sub(lease).min(cap - held.reserved);
    (grant as u32, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 1_795_392_000;

    fn capped(counts: &Counts, offer_id: u32, cap: u64) -> Capped {
        Capped {
            offer_id,
            cap,
            counters: counts.offer(offer_id),
        }
    }

    /// Tries `n` clicks on the offer as the click path does (a click turned away is counted
    /// as one); returns how many got a place.
    fn spend(c: &Arc<OfferCounters>, n: u64, cap: u64) -> u64 {
        let calendar = crate::calendar::Calendar::named("UTC").unwrap();
        let clock = super::super::CapClock {
            calendar: &calendar,
            now: DAY + 10,
        };
        let caps = super::super::OfferCaps {
            limits: super::super::CapLimits::of(&crate::catalog::Caps {
                daily_clicks: Some(cap),
                ..Default::default()
            }),
            counters: Arc::clone(c),
        };
        let mut got = 0;
        for _ in 0..n {
            if caps.reserve_click(&clock) {
                got += 1;
            } else {
                caps.click_turned_away(&clock);
            }
        }
        got
    }

    fn on_disk(dir: &Path) -> Vec<Reservation> {
        let bytes = std::fs::read(dir.join(FILE_NAME)).unwrap();
        serde_json::from_slice::<ReservationsFile>(&bytes)
            .unwrap()
            .offers
    }

    #[test]
    fn the_file_holds_every_click_spent_or_held_and_a_restart_counts_it() {
        let dir = tempfile::tempdir().unwrap();
        let counts = Counts::reserved();
        let mut r = Reservations::new(dir.path());
        let t0 = Instant::now();
        let offers = [capped(&counts, 7, 1000), capped(&counts, 8, 30)];
        r.tick(&offers, DAY, 0.0, t0).unwrap();
        // The floor, or all of a smaller cap, is reserved before it can be spent.
        let o7 = counts.offer(7);
        assert_eq!(o7.lease_left(DAY), u64::from(FLOOR));
        assert_eq!(counts.offer(8).lease_left(DAY), 30);
        assert_eq!(
            on_disk(dir.path()),
            [
                Reservation {
                    offer_id: 7,
                    window_start: DAY,
                    reserved: 100
                },
                Reservation {
                    offer_id: 8,
                    window_start: DAY,
                    reserved: 30
                }
            ]
        );
        // Demand of 2,000 clicks in 0.1 s: the lease grows to a second of it.
        assert_eq!(spend(&o7, 2000, 1000), 100);
        r.tick(&offers, DAY, 0.1, t0 + Duration::from_millis(100))
            .unwrap();
        assert_eq!(o7.lease_left(DAY), 900, "the rest of the cap");
        assert_eq!(on_disk(dir.path())[0].reserved, 1000);
        assert_eq!(spend(&o7, 5000, 1000), 900);
        // A crash now: a restart counts the reservation, not the older saved count.
        let restarted = Counts::reserved();
        assert!(load(dir.path(), &restarted).unwrap());
        assert_eq!(restarted.offer(7).daily_clicks(DAY), 1000);
        assert_eq!(restarted.offer(8).daily_clicks(DAY), 30);
        assert_eq!(restarted.offer(8).daily_clicks(DAY + 86_400), 0);
    }

    #[test]
    fn an_idle_lease_shrinks_to_the_floor_and_shutdown_gives_everything_back() {
        let dir = tempfile::tempdir().unwrap();
        let counts = Counts::reserved();
        let mut r = Reservations::new(dir.path());
        let t0 = Instant::now();
        let offers = [capped(&counts, 7, 1_000_000)];
        let o7 = counts.offer(7);
        r.tick(&offers, DAY, 0.0, t0).unwrap();
        spend(&o7, 90, 1_000_000);
        r.tick(&offers, DAY, 0.02, t0 + Duration::from_millis(20))
            .unwrap();
        let held = o7.lease_left(DAY);
        assert!(held > u64::from(FLOOR), "{held}");
        r.tick(&offers, DAY, 1.0, t0 + Duration::from_millis(1100))
            .unwrap();
        assert_eq!(o7.lease_left(DAY), u64::from(FLOOR), "shrunk after 1 s");
        assert_eq!(on_disk(dir.path())[0].reserved, 90 + u64::from(FLOOR));
        spend(&o7, 3, 1_000_000);
        r.give_back_all().unwrap();
        assert_eq!(o7.lease_left(DAY), 0);
        assert_eq!(
            on_disk(dir.path())[0].reserved,
            93,
            "exactly what was spent"
        );
    }

    #[test]
    fn a_lowered_cap_holds_at_once_and_is_given_back() {
        let dir = tempfile::tempdir().unwrap();
        let counts = Counts::reserved();
        let mut r = Reservations::new(dir.path());
        let t0 = Instant::now();
        let o7 = counts.offer(7);
        r.tick(&[capped(&counts, 7, 50)], DAY, 0.0, t0).unwrap();
        assert_eq!(spend(&o7, 10, 50), 10);
        // Lowered to 12: the click path holds it at once, the keeper gives the rest back.
        assert_eq!(spend(&o7, 5, 12), 2);
        assert_eq!(o7.daily_clicks(DAY), 12);
        r.tick(&[capped(&counts, 7, 12)], DAY, 0.0, t0).unwrap();
        assert_eq!(on_disk(dir.path())[0].reserved, 12);
        assert_eq!(o7.lease_left(DAY), 0);
    }

    #[test]
    fn a_new_window_starts_from_nothing_reserved() {
        let dir = tempfile::tempdir().unwrap();
        let counts = Counts::reserved();
        let mut r = Reservations::new(dir.path());
        let t0 = Instant::now();
        let offers = [capped(&counts, 7, 500)];
        r.tick(&offers, DAY, 0.0, t0).unwrap();
        spend(&counts.offer(7), 500, 500);
        r.tick(&offers, DAY + 86_400, 0.0, t0).unwrap();
        let o7 = counts.offer(7);
        assert_eq!(o7.lease_left(DAY + 86_400), u64::from(FLOOR));
        assert_eq!(
            on_disk(dir.path()),
            [Reservation {
                offer_id: 7,
                window_start: DAY + 86_400,
                reserved: 100
            }]
        );
    }

    #[test]
    fn a_bad_file_is_an_error_that_names_it_and_the_way_forward() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), "{\"version\":1,").unwrap();
        let e = load(dir.path(), &Counts::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains(FILE_NAME) && e.contains("move it aside"), "{e}");
    }
}
