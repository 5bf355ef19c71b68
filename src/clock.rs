//! Time on the hot path: [`now`], a monotonic instant from the CPU's time-stamp counter
//! (quanta: ~10 ns a read, where `std::time::Instant` costs ~25 ns here), and [`wall`], the
//! wall-clock time of such an instant.
//!
//! Every request reads the monotonic clock for its latency; reading the wall clock too would
//! cost another ~35 ns per click. Instead the offset between the two clocks is kept here and
//! refreshed at most once a second, so a step of the system clock shows within a second.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use quanta::Instant;

/// The current monotonic instant.
#[inline]
pub fn now() -> Instant {
    Instant::now()
}

const REFRESH_NS: u64 = 1_000_000_000;

static BASE: OnceLock<Instant> = OnceLock::new();
/// Unix time in ns minus monotonic ns since `BASE`.
static OFFSET_NS: AtomicI64 = AtomicI64::new(0);
/// Monotonic ns since `BASE` at the last refresh, plus one (0: never refreshed).
static REFRESHED_NS: AtomicU64 = AtomicU64::new(0);

/// The wall-clock time at the monotonic instant `at` (a recent one).
pub fn wall(at: Instant) -> SystemTime {
    let base = *BASE.get_or_init(Instant::now);
    let since = at.saturating_duration_since(base).as_nanos() as u64;
    let refreshed = REFRESHED_NS.load(Ordering::Relaxed);
    if refreshed == 0 || since.saturating_sub(refreshed - 1) >= REFRESH_NS {
        let now = now().saturating_duration_since(base).as_nanos() as i64;
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i64);
        OFFSET_NS.store(unix - now, Ordering::Relaxed);
        REFRESHED_NS.store(now as u64 + 1, Ordering::Relaxed);
    }
    let unix = since as i64 + OFFSET_NS.load(Ordering::Relaxed);
    UNIX_EPOCH + Duration::from_nanos(unix.max(0) as u64)
}

/// Whole seconds since the Unix epoch (0 before it).
#[inline]
pub fn unix_secs(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Whole milliseconds since the Unix epoch (0 before it).
pub fn unix_millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A time a client gave as text (API parameters, command-line flags): an RFC 3339 date-time,
/// or the message that says why it is not one, the same everywhere. jiff's range ends at
/// 9999-12-30; its own reason is kept, so a well-formed time out of that range says so.
pub fn parse_time(text: &str) -> Result<jiff::Timestamp, String> {
    text.parse::<jiff::Timestamp>().map_err(|e| {
        format!("{text:?} is not an RFC 3339 date-time (e.g. 2026-12-01T18:00:00Z): {e}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_wall_time_is_within_a_millisecond_of_the_system_clock() {
        for _ in 0..3 {
            let derived = wall(now());
            let system = SystemTime::now();
            let diff = system
                .duration_since(derived)
                .unwrap_or_else(|e| e.duration());
            assert!(diff < Duration::from_millis(1), "off by {diff:?}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn a_client_s_time_is_rfc_3339_and_a_refusal_says_why() {
        assert_eq!(
            super::parse_time("2026-12-01T18:00:00+01:00")
                .unwrap()
                .as_second(),
            1_796_144_400
        );
        let bad = super::parse_time("2026-02-30T00:00:00Z").unwrap_err();
        assert!(
            bad.starts_with("\"2026-02-30T00:00:00Z\" is not an RFC 3339"),
            "{bad}"
        );
        // Well formed, beyond jiff's range: the reason names the range.
        let late = super::parse_time("9999-12-31T23:59:59Z").unwrap_err();
        assert!(late.contains("range"), "{late}");
    }
}
