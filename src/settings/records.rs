//! The `[records]` section: the click and conversion logs' queue, flushing and retention.

use std::time::Duration;

use serde::Deserialize;

use super::Tracking;

/// `[records]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRecords {
    queue_capacity: Option<usize>,
    flush_interval_ms: Option<u64>,
    click_log_retention_hours: Option<u64>,
    conversion_log_retention_days: Option<u64>,
}

/// The click and conversion logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Records {
    pub queue_capacity: usize,
    pub flush_interval: Duration,
    /// Hours of click logs kept (whole hourly files, the current one included).
    pub click_log_retention_hours: u64,
    /// How long conversion logs are kept: at least the attribution window.
    pub conversion_log_retention: Duration,
}

impl Default for Records {
    fn default() -> Records {
        Records {
            queue_capacity: 65_536,
            flush_interval: Duration::from_millis(1000),
            click_log_retention_hours: 7 * 24,
            // The attribution window when it is longer.
            conversion_log_retention: Duration::from_secs(90 * 86_400),
        }
    }
}

impl super::Validator<'_> {
    /// `tracking`: conversion logs are kept at least as long as its attribution window.
    pub(super) fn records(&mut self, raw: RawRecords, tracking: &Tracking) -> Records {
        let d = Records::default();
        let queue_capacity = self.positive(
            "records.queue_capacity",
            raw.queue_capacity,
            d.queue_capacity,
        );
        let flush_ms = raw
            .flush_interval_ms
            .unwrap_or(d.flush_interval.as_millis() as u64);
        if !(1..=1000).contains(&flush_ms) {
            self.fail(
                "records.flush_interval_ms",
                "must be between 1 and 1000 (records are flushed at least every second)",
            );
        }
        let click_log_retention_hours = self.positive(
            "records.click_log_retention_hours",
            raw.click_log_retention_hours,
            d.click_log_retention_hours,
        );
        let window_days = tracking.attribution_window_days();
        let conversion_days = raw
            .conversion_log_retention_days
            .unwrap_or(window_days.max(d.conversion_log_retention.as_secs() / 86_400));
        if conversion_days < window_days {
            self.fail(
                "records.conversion_log_retention_days",
                format!(
                    "{conversion_days} is shorter than tracking.attribution_window_days ({window_days}); conversions are kept at least as long as they can be duplicated"
                ),
            );
        }
        Records {
            queue_capacity,
            flush_interval: Duration::from_millis(flush_ms.clamp(1, 1000)),
            click_log_retention_hours,
            conversion_log_retention: Duration::from_secs(
                conversion_days.max(window_days) * 86_400,
            ),
        }
    }
}
