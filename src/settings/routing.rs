//! The `[routing]` section: what happens to bots and to clicks from anonymizing networks,
//! and how often optimized rotation's weights are recomputed.

use std::time::Duration;

use serde::Deserialize;

use crate::vocab::Screen;

/// `[routing]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRouting {
    bots: Option<String>,
    anonymous: Option<String>,
    optimize_interval_ms: Option<u64>,
}

/// Routing choices that are not the catalog's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Routing {
    pub bots: Screen,
    pub anonymous: Screen,
    /// How often optimized rotation's weights are recomputed (at most 10 s).
    pub optimize_interval: Duration,
}

impl Default for Routing {
    fn default() -> Routing {
        Routing {
            bots: Screen::Fallback,
            anonymous: Screen::Route,
            optimize_interval: Duration::from_millis(10_000),
        }
    }
}

impl super::Validator<'_> {
    pub(super) fn routing(&mut self, raw: RawRouting) -> Routing {
        let d = Routing::default();
        let bots = self.screen("routing.bots", raw.bots, d.bots);
        let anonymous = self.screen("routing.anonymous", raw.anonymous, d.anonymous);
        let optimize_ms = raw
            .optimize_interval_ms
            .unwrap_or(d.optimize_interval.as_millis() as u64);
        if !(100..=10_000).contains(&optimize_ms) {
            self.fail(
                "routing.optimize_interval_ms",
                "must be between 100 and 10000 (optimized weights are recomputed at least every 10 s)",
            );
        }
        Routing {
            bots,
            anonymous,
            optimize_interval: Duration::from_millis(optimize_ms.clamp(100, 10_000)),
        }
    }

    /// `"fallback"` or `"route"`.
    fn screen(&mut self, key: &str, value: Option<String>, default: Screen) -> Screen {
        match value.as_deref() {
            None => default,
            Some("fallback") => Screen::Fallback,
            Some("route") => Screen::Route,
            Some(other) => {
                self.fail(
                    key,
                    format!("{other:?} is not one of \"fallback\", \"route\""),
                );
                default
            }
        }
    }
}
