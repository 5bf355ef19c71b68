//! The `[tracking]` section: the click secret (and the ones rotated out), the time zone of
//! cap windows, the attribution window.

use std::time::Duration;

use serde::Deserialize;

use super::ENV_CLICK_SECRET;

/// Shortest accepted click secret, in bytes.
pub const MIN_SECRET_LEN: usize = 16;

/// `[tracking]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTracking {
    click_secret: Option<String>,
    previous_click_secrets: Option<Vec<String>>,
    timezone: Option<String>,
    attribution_window_days: Option<u32>,
    max_tracked_conversions: Option<usize>,
}

/// Click ids and their conversions.
#[derive(Clone, Debug)]
pub struct Tracking {
    /// Signs click ids; required (in the file or the environment).
    pub click_secret: Vec<u8>,
    /// Secrets rotated out: ids they signed still verify (postbacks of older clicks).
    pub previous_click_secrets: Vec<Vec<u8>>,
    /// `tracking.timezone` as written, and the zone it names.
    pub timezone: String,
    pub time_zone: jiff::tz::TimeZone,
    /// How long after a click its conversion is accepted (and its id remembered).
    pub attribution_window: Duration,
    /// Bound of the converted click id set (about 32 bytes each).
    pub max_tracked_conversions: usize,
}

impl Tracking {
    /// `tracking.attribution_window_days`.
    pub fn attribution_window_days(&self) -> u64 {
        self.attribution_window.as_secs() / 86_400
    }
}

impl Default for Tracking {
    fn default() -> Tracking {
        Tracking {
            click_secret: Vec::new(),
            previous_click_secrets: Vec::new(),
            timezone: "UTC".into(),
            time_zone: jiff::tz::TimeZone::UTC,
            attribution_window: Duration::from_secs(30 * 86_400),
            max_tracked_conversions: 5_000_000,
        }
    }
}

impl super::Validator<'_> {
    pub(super) fn tracking(&mut self, raw: RawTracking, env: super::Env) -> Tracking {
        let d = Tracking::default();
        let click_secret = env(ENV_CLICK_SECRET)
            .filter(|s| !s.is_empty())
            .or(raw.click_secret)
            .unwrap_or_default();
        if click_secret.len() < MIN_SECRET_LEN {
            self.fail(
                "tracking.click_secret",
                format!(
                    "must be at least {MIN_SECRET_LEN} bytes (set it in the file or in {ENV_CLICK_SECRET})"
                ),
            );
        }
        let previous_click_secrets: Vec<Vec<u8>> = raw
            .previous_click_secrets
            .unwrap_or_default()
            .into_iter()
            .map(String::into_bytes)
            .collect();
        if previous_click_secrets
            .iter()
            .any(|s| s.len() < MIN_SECRET_LEN)
        {
            self.fail(
                "tracking.previous_click_secrets",
                format!("each must be at least {MIN_SECRET_LEN} bytes"),
            );
        }
        let window_days = raw
            .attribution_window_days
            .map_or(d.attribution_window_days(), u64::from);
        if !(1..=365).contains(&window_days) {
            self.fail(
                "tracking.attribution_window_days",
                "must be between 1 and 365",
            );
        }
        let max_tracked_conversions = self.positive(
            "tracking.max_tracked_conversions",
            raw.max_tracked_conversions,
            d.max_tracked_conversions,
        );
        let timezone = raw.timezone.unwrap_or(d.timezone);
        let time_zone = jiff::tz::TimeZone::get(&timezone).unwrap_or_else(|_| {
            self.fail(
                "tracking.timezone",
                format!("{timezone:?} is not an IANA time zone name (e.g. \"Europe/Berlin\")"),
            );
            d.time_zone
        });
        Tracking {
            click_secret: click_secret.into_bytes(),
            previous_click_secrets,
            timezone,
            time_zone,
            attribution_window: Duration::from_secs(window_days.clamp(1, 365) * 86_400),
            max_tracked_conversions,
        }
    }
}
