//! Fill-rate statistics (issue: caps, conversions, statistics): per smart link and per offer,
//! read from the counters of the [`Counts`] through the compiled table. Totals since the
//! state directory was created; they survive reloads and restarts like the caps.
//!
//! For a smart link: `clicks` (GET clicks), `routed`, `fallback` by reason, `conversions` and
//! `fill_rate` = routed / clicks; each attached offer's routed clicks and conversions.
//! For an offer: `clicks` routed to it (every source), `capped_clicks` (clicks it qualified
//! for but a cap turned away), `conversions`, `fill_rate` = clicks / (clicks + capped_clicks),
//! the share of the traffic it qualified for that it could take, and the state of each cap.
//! `/metrics` carries only process totals; per-link detail lives here (label cardinality).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::counts::registry::Fallbacks;
use crate::counts::{CapClock, Counts};
use crate::routing::{Link, RoutingTable};
use crate::vocab::CapKind;

#[derive(Debug, Serialize, PartialEq)]
pub struct LinkStats {
    pub smart_link_id: u32,
    pub clicks: u64,
    pub routed: u64,
    pub fallback: Fallbacks,
    pub conversions: u64,
    /// routed / clicks; null before the first click.
    pub fill_rate: Option<f64>,
    pub offers: Vec<RouteStats>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct RouteStats {
    pub offer_id: u32,
    pub routed: u64,
    pub conversions: u64,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct OfferStats {
    pub offer_id: u32,
    pub clicks: u64,
    pub capped_clicks: u64,
    pub conversions: u64,
    /// clicks / (clicks + capped_clicks); null when neither happened.
    pub fill_rate: Option<f64>,
    /// The cap that stops the offer now, if any.
    pub capped: Option<CapKind>,
    /// Each configured cap with its count in the current window.
    pub caps: Vec<CapState>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct CapState {
    pub cap: CapKind,
    pub limit: u64,
    pub count: u64,
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// The statistics of one smart link of the table.
pub fn link(link: &Link) -> LinkStats {
    let fallback = link.counters.fallback_counts();
    let offers: Vec<RouteStats> = link
        .attachments
        .iter()
        .map(|a| RouteStats {
            offer_id: a.offer_id,
            routed: a.counters.routed(),
            conversions: a.counters.conversions(),
        })
        .collect();
    let routed: u64 = offers.iter().map(|o| o.routed).sum();
    let clicks = routed + fallback.total();
    LinkStats {
        smart_link_id: link.id,
        clicks,
        routed,
        conversions: offers.iter().map(|o| o.conversions).sum::<u64>()
            + link.counters.fallback_conversions(),
        fill_rate: ratio(routed, clicks),
        fallback,
        offers,
    }
}

/// The statistics of every offer of the table, at `clock`.
pub fn offers(table: &RoutingTable, counts: &Counts, clock: &CapClock) -> Vec<OfferStats> {
    let mut per_offer: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
    for ((_, offer_id), c) in counts.routes() {
        let e = per_offer.entry(offer_id).or_default();
        e.0 += c.routed();
        e.1 += c.conversions();
    }
    table
        .offers()
        .iter()
        .map(|o| {
            let (clicks, conversions) = per_offer.get(&o.id).copied().unwrap_or_default();
            // Only offers with caps can turn clicks away (and have counters in the table).
            let capped_clicks = o.caps.as_ref().map_or(0, |c| c.counters.capped_clicks());
            let caps = o.caps.as_ref().map_or_else(Vec::new, |caps| {
                caps.counts(clock)
                    .map(|(cap, limit, count)| CapState { cap, limit, count })
                    .collect()
            });
            OfferStats {
                offer_id: o.id,
                clicks,
                capped_clicks,
                conversions,
                fill_rate: ratio(clicks, clicks + capped_clicks),
                capped: o.caps.as_ref().and_then(|c| c.reached(clock)),
                caps,
            }
        })
        .collect()
}
