//! Fill-rate statistics (docs/operations.md): per smart link and per offer, read from a
//! [`Counts`] for the links and offers of the compiled table. Standalone, the node's own
//! counts: totals since the state directory was created; they survive reloads and restarts
//! like the caps. In cluster mode, [`cluster`] adds up every node's pushed counters, and
//! keeps each node's share.
//!
//! For a smart link: `clicks` (GET clicks), `routed`, `fallback` by reason, `conversions` and
//! `fill_rate` = routed / clicks; each attached offer's routed clicks and conversions.
//! Wherever revenue is shown, its `cost` (what the network paid affiliates), `profit`
//! (revenue − cost) and `margin` (profit / revenue, null without revenue) are too; and per
//! affiliate, over its links ([`affiliate`]).
//! For an offer: `clicks` routed to it (every source), `capped_clicks` (clicks it qualified
//! for but a cap turned away), `conversions`, `fill_rate` = clicks / (clicks + capped_clicks),
//! the share of the traffic it qualified for that it could take, the state of each cap, and
//! the clicks sent to each of its landing pages.
//! `/metrics` carries only process totals; per-link detail lives here (label cardinality).
//! Hour by hour, for charts: `series` (a link's, and the network's with its top links and
//! offers).

pub mod affiliate;
pub mod series;

use std::collections::BTreeMap;
use std::ops::Range;

use serde::Serialize;

use crate::counts::hourly::{
    Counted, FallbackTally, Hour, HourFile, RETENTION_HOURS, Tally, hour_of,
};
use crate::counts::registry::Fallbacks;
use crate::counts::{CapClock, Counts, Hourly, OfferCaps};
use crate::money::{Profit, Total};
use crate::redis::{Shared, Unavailable};
use crate::routing::{Link, RoutingTable};
use crate::vocab::{CapKind, FallbackReason, Source};

#[derive(Debug, Serialize, PartialEq)]
pub struct LinkStats {
    pub smart_link_id: u32,
    #[serde(flatten)]
    pub totals: Totals,
    pub offers: Vec<RouteStats>,
}

/// The sums of some clicks (a link's, an affiliate's, over a range or a lifetime), as
/// `smart_link_stats.json` gives a link's.
#[derive(Debug, Serialize, PartialEq)]
pub struct Totals {
    pub clicks: u64,
    pub routed: u64,
    pub fallback: Fallbacks,
    /// Of routed and fallback clicks.
    pub conversions: u64,
    /// Of routed and fallback clicks, exact (a string).
    pub revenue: Total,
    /// routed / clicks; null before the first click.
    pub fill_rate: Option<f64>,
    /// conversions / routed; null before the first routed click.
    pub conversion_rate: Option<f64>,
    /// revenue / routed, to a millionth; null before the first routed click.
    pub epc: Option<Total>,
    #[serde(flatten)]
    pub margins: Margins,
}

impl Totals {
    /// `earned.routed` routed clicks, the `fallback` ones, and what all of them earned.
    pub fn of(fallback: Fallbacks, earned: &Tally) -> Totals {
        let clicks = earned.routed + fallback.total();
        Totals {
            clicks,
            routed: earned.routed,
            fallback,
            conversions: earned.conversions,
            revenue: earned.revenue,
            fill_rate: ratio(earned.routed, clicks),
            conversion_rate: ratio(earned.conversions, earned.routed),
            epc: earned.revenue.per(earned.routed),
            margins: Margins::of(earned.revenue, earned.cost),
        }
    }
}

/// What conversions cost the network and what it kept of their revenue.
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct Margins {
    /// What the network paid affiliates for them, exact (a string).
    pub cost: Total,
    /// revenue − cost, exact (a string; negative when the affiliates were paid more).
    pub profit: Profit,
    /// profit / revenue; null while there is no revenue.
    pub margin: Option<f64>,
}

impl Margins {
    pub fn of(revenue: Total, cost: Total) -> Margins {
        let profit = Profit::of(revenue, cost);
        Margins {
            cost,
            profit,
            margin: profit.margin(revenue),
        }
    }
}

/// One route's (or one offer's) clicks, conversions and what they earned.
#[derive(Debug, Serialize, PartialEq)]
pub struct Earned {
    pub conversions: u64,
    pub revenue: Total,
    /// conversions / routed clicks; null before the first click.
    pub conversion_rate: Option<f64>,
    /// revenue / routed clicks; null before the first click.
    pub epc: Option<Total>,
    #[serde(flatten)]
    pub margins: Margins,
}

impl Earned {
    pub fn of(t: &Tally) -> Earned {
        Earned {
            conversions: t.conversions,
            revenue: t.revenue,
            conversion_rate: ratio(t.conversions, t.routed),
            epc: t.revenue.per(t.routed),
            margins: Margins::of(t.revenue, t.cost),
        }
    }
}

#[derive(Debug, Serialize, PartialEq)]
pub struct RouteStats {
    pub offer_id: u32,
    pub routed: u64,
    #[serde(flatten)]
    pub earned: Earned,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct OfferStats {
    pub offer_id: u32,
    /// Clicks routed to it (every source).
    pub clicks: u64,
    #[serde(flatten)]
    pub earned: Earned,
    /// Lifetime statistics only (a range has none of these).
    #[serde(flatten)]
    pub caps: Option<OfferCapStats>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct OfferCapStats {
    pub capped_clicks: u64,
    /// clicks / (clicks + capped_clicks); null when neither happened.
    pub fill_rate: Option<f64>,
    /// The cap that stops the offer now, if any.
    pub capped: Option<CapKind>,
    /// Each configured cap with its count in the current window.
    pub caps: Vec<CapState>,
    /// Routed clicks sent to each of its landing pages, by landing page id.
    pub landing_pages: Vec<LandingPageStats>,
}

/// Clicks of one landing page. Its conversions are not counted: a click id does not name the
/// landing page, so they are joined offline from the click and conversion logs by `click_id`
/// (docs/operations.md).
#[derive(Debug, Serialize, PartialEq)]
pub struct LandingPageStats {
    pub landing_page_id: u32,
    pub clicks: u64,
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

/// Where statistics are read from: the lifetime counters, or the hours of a range.
#[derive(Clone, Copy)]
pub enum Period<'a> {
    Lifetime(&'a Counts),
    /// From the first hour to the second (exclusive).
    Hours(&'a Hourly, Hour, Hour),
}

impl<'a> Period<'a> {
    /// The lifetime of `counts` (in cluster mode the cluster's total), or the hours of
    /// `range` (in cluster mode the cluster's).
    pub fn of(
        counts: &'a Counts,
        cluster: Option<&'a Cluster>,
        range: Option<&Range<Hour>>,
    ) -> Period<'a> {
        let hourly = cluster.map_or(counts.hourly(), |c| &c.hourly);
        match range {
            Some(hours) => Period::Hours(hourly, hours.start, hours.end),
            None => Period::Lifetime(counts),
        }
    }

    fn route(&self, source: Source, offer_id: u32) -> Tally {
        match self {
            Period::Lifetime(counts) => {
                let r = counts.route(source, offer_id);
                Tally {
                    routed: r.routed(),
                    conversions: r.conversions(),
                    revenue: r.revenue(),
                    cost: r.cost(),
                }
            }
            Period::Hours(hourly, from, to) => hourly.route(source, offer_id, *from..*to),
        }
    }

    fn fallbacks(&self, source: Source) -> FallbackTally {
        match self {
            Period::Lifetime(counts) => {
                let own = counts.source(source);
                let f = own.fallback_counts();
                let mut clicks = [0; FallbackReason::ALL.len()];
                for (reason, n) in f.by_reason() {
                    clicks[reason as usize] = n;
                }
                FallbackTally {
                    clicks,
                    conversions: own.fallback_conversions(),
                    revenue: own.fallback_revenue(),
                }
            }
            Period::Hours(hourly, from, to) => hourly.fallbacks(source, *from..*to),
        }
    }

    /// Every count of the period, in no particular order: each route's (its offer and its
    /// counts), then each source's fallbacks.
    fn walk(&self, mut visit: impl FnMut(Source, Counted<'_>)) {
        match self {
            Period::Lifetime(counts) => {
                for ((source, offer_id), _) in counts.routes() {
                    visit(
                        source,
                        Counted::Routed(offer_id, &self.route(source, offer_id)),
                    );
                }
                for (source, _) in counts.sources() {
                    visit(source, Counted::FellBack(&self.fallbacks(source)));
                }
            }
            Period::Hours(hourly, from, to) => {
                hourly.walk(*from..*to, |source, _, counted| visit(source, counted))
            }
        }
    }

    /// Every offer's routed clicks, conversions and revenue, summed over its sources.
    fn per_offer(&self) -> BTreeMap<u32, Tally> {
        match self {
            Period::Lifetime(counts) => {
                let mut per_offer: BTreeMap<u32, Tally> = BTreeMap::new();
                for ((_, offer_id), c) in counts.routes() {
                    let e = per_offer.entry(offer_id).or_default();
                    e.add(&Tally {
                        routed: c.routed(),
                        conversions: c.conversions(),
                        revenue: c.revenue(),
                        cost: c.cost(),
                    });
                }
                per_offer
            }
            Period::Hours(hourly, from, to) => hourly.per_offer(*from..*to),
        }
    }
}

/// The lifetime statistics of one smart link of the table, from `counts`.
pub fn link(link: &Link, counts: &Counts) -> LinkStats {
    link_in(link, Period::Lifetime(counts))
}

/// The statistics of one smart link of the table over `period`.
pub fn link_in(link: &Link, period: Period) -> LinkStats {
    let source = Source::smart_link(link.id);
    let own = period.fallbacks(source);
    let fallback = Fallbacks::of(&own.clicks);
    let offers: Vec<RouteStats> = link
        .attachments
        .iter()
        .map(|a| {
            let t = period.route(source, a.offer_id);
            RouteStats {
                offer_id: a.offer_id,
                routed: t.routed,
                earned: Earned::of(&t),
            }
        })
        .collect();
    let earned = Tally {
        routed: offers.iter().map(|o| o.routed).sum(),
        conversions: offers.iter().map(|o| o.earned.conversions).sum::<u64>() + own.conversions,
        revenue: offers
            .iter()
            .fold(own.revenue, |sum, o| sum + o.earned.revenue),
        // A fallback click's conversion costs nothing (it has no offer).
        cost: offers
            .iter()
            .fold(Total::ZERO, |sum, o| sum + o.earned.margins.cost),
    };
    LinkStats {
        smart_link_id: link.id,
        totals: Totals::of(fallback, &earned),
        offers,
    }
}

/// The lifetime statistics of every offer of the table, at `clock`, from `counts`.
pub fn offers(table: &RoutingTable, counts: &Counts, clock: &CapClock) -> Vec<OfferStats> {
    offers_in(table, Period::Lifetime(counts), clock)
}

/// The statistics of every offer of the table over `period`; with its caps' state at
/// `clock` for the lifetime.
pub fn offers_in(table: &RoutingTable, period: Period, clock: &CapClock) -> Vec<OfferStats> {
    let per_offer = period.per_offer();
    // Lifetime only: landing-page clicks are not counted by hour.
    let mut landing_pages: BTreeMap<u32, Vec<LandingPageStats>> = BTreeMap::new();
    if let Period::Lifetime(counts) = period {
        for ((offer_id, landing_page_id), c) in counts.landing_pages() {
            landing_pages
                .entry(offer_id)
                .or_default()
                .push(LandingPageStats {
                    landing_page_id,
                    clicks: c.clicks(),
                });
        }
    }
    table
        .offers()
        .iter()
        .map(|o| {
            let t = per_offer.get(&o.id).copied().unwrap_or_default();
            let caps = match period {
                Period::Lifetime(counts) => Some(cap_stats(
                    o,
                    counts,
                    clock,
                    t.routed,
                    landing_pages.remove(&o.id).unwrap_or_default(),
                )),
                Period::Hours(..) => None,
            };
            OfferStats {
                offer_id: o.id,
                clicks: t.routed,
                earned: Earned::of(&t),
                caps,
            }
        })
        .collect()
}

fn cap_stats(
    o: &crate::routing::Offer,
    counts: &Counts,
    clock: &CapClock,
    clicks: u64,
    landing_pages: Vec<LandingPageStats>,
) -> OfferCapStats {
    // Only offers with caps can turn clicks away.
    let caps = o.caps.as_ref().map(|c| OfferCaps {
        limits: c.limits,
        counters: counts.offer(o.id),
    });
    let capped_clicks = caps.as_ref().map_or(0, |c| c.counters.capped_clicks());
    OfferCapStats {
        capped_clicks,
        fill_rate: ratio(clicks, clicks + capped_clicks),
        capped: caps.as_ref().and_then(|c| c.reached(clock)),
        caps: caps.as_ref().map_or_else(Vec::new, |caps| {
            caps.counts(clock)
                .map(|(cap, limit, count)| CapState { cap, limit, count })
                .collect()
        }),
        landing_pages,
    }
}

/// The statistics of `link`, or of every smart link and offer of `table` (`None`), from
/// `counts` (in cluster mode the cluster's total), over the lifetime or the hours of
/// `range`; with the nodes' shares of the lifetime in cluster mode.
pub fn report(
    table: &RoutingTable,
    counts: &Counts,
    clock: &CapClock,
    link: Option<&Link>,
    cluster: Option<&Cluster>,
    range: Option<Range<Hour>>,
) -> serde_json::Value {
    let period = Period::of(counts, cluster, range.as_ref());
    let mut report = match link {
        Some(l) => serde_json::json!(link_in(l, period)),
        None => serde_json::json!({
            "smart_links": table.links().iter().map(|l| link_in(l, period)).collect::<Vec<_>>(),
            "offers": offers_in(table, period, clock),
        }),
    };
    let Some(map) = report.as_object_mut() else {
        return report;
    };
    if let Some(hours) = range {
        map.insert("from".into(), serde_json::json!(hour_text(hours.start)));
        map.insert("to".into(), serde_json::json!(hour_text(hours.end)));
    } else if let Some(cluster) = cluster {
        map.insert(
            "nodes".into(),
            serde_json::json!(cluster.shares(table, link)),
        );
    }
    report
}

/// `2026-12-01T18:00:00Z`.
pub fn hour_text(hour: Hour) -> String {
    jiff::Timestamp::from_second(i64::from(hour) * 3600)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// Why a `from`/`to` range cannot be read.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum BadRange {
    /// The parameter and why its text is not a time.
    #[error("{1}")]
    NotATime(&'static str, String),
    #[error("from must be before to")]
    Empty,
    #[error("at most {} hours (31 days) from from to to", RETENTION_HOURS)]
    TooLong,
}

/// The hour of `text`, an RFC 3339 date-time given as the parameter `name`.
pub fn hour_at(name: &'static str, text: &str) -> Result<Hour, BadRange> {
    crate::clock::parse_time(text)
        .map(|t| hour_of(t.as_second()))
        .map_err(|e| BadRange::NotATime(name, e))
}

/// The hours from `from` (inclusive) to `to` (exclusive), RFC 3339 date-times taken to the
/// hour (an hour is in the range when it starts at or after `from`'s hour and before `to`);
/// `to` defaults to the end of the current hour, `from` to the oldest hour kept.
pub fn hours(from: Option<&str>, to: Option<&str>, now: i64) -> Result<Range<Hour>, BadRange> {
    let end = match to {
        Some(t) => hour_at("to", t)?,
        None => hour_of(now) + 1,
    };
    let start = match from {
        Some(f) => hour_at("from", f)?,
        None => (hour_of(now) + 1).saturating_sub(RETENTION_HOURS),
    };
    if start >= end {
        return Err(BadRange::Empty);
    }
    Ok(start..end)
}

/// Cluster statistics: the sum of every node's pushed counters, and each node's own; and,
/// when asked for, the sum of the nodes' hours.
pub struct Cluster {
    pub total: Counts,
    pub nodes: Vec<NodeCounts>,
    pub hourly: Hourly,
}

/// One node's counters as it last pushed them.
pub struct NodeCounts {
    pub node: String,
    /// When it pushed them, Unix milliseconds.
    pub pushed_ms: i64,
    pub counts: Counts,
}

/// One node's share of a smart link's or the network's clicks.
#[derive(Debug, Serialize, PartialEq)]
pub struct NodeShare {
    pub node: String,
    /// When the node last pushed its counts (RFC 3339).
    pub pushed_at: String,
    pub clicks: u64,
    pub routed: u64,
    pub conversions: u64,
}

/// Reads every node's counters from Redis and adds them up. A node's file that cannot be
/// read is left out, with a warning.
pub async fn cluster(shared: &Shared, hours_from: Option<Hour>) -> Result<Cluster, Unavailable> {
    let hourly = match hours_from {
        Some(from) => cluster_hourly(shared, from).await?,
        None => Hourly::default(),
    };
    let total = Counts::default();
    let mut nodes = Vec::new();
    for n in shared.node_counters().await? {
        let counts = Counts::default();
        let added = crate::counts::store::add(&n.json, &counts)
            .and_then(|()| crate::counts::store::add(&n.json, &total));
        match added {
            Ok(()) => nodes.push(NodeCounts {
                node: n.node,
                pushed_ms: n.pushed_ms,
                counts,
            }),
            Err(e) => {
                tracing::warn!(node = %n.node, error = %e, "a node's counters in Redis cannot be read; left out of the statistics")
            }
        }
    }
    Ok(Cluster {
        total,
        nodes,
        hourly,
    })
}

/// The sum of every node's hours from `from` on, as the nodes last pushed them. An hour that
/// cannot be read is left out, with a warning.
pub async fn cluster_hourly(shared: &Shared, from: Hour) -> Result<Hourly, Unavailable> {
    let hourly = Hourly::default();
    for (node, json) in shared.node_hours(from).await? {
        match serde_json::from_slice::<HourFile>(&json) {
            Ok(file) => hourly.add_file(&file, false),
            Err(e) => {
                tracing::warn!(%node, error = %e, "a node's hour in Redis cannot be read; left out of the statistics")
            }
        }
    }
    Ok(hourly)
}

impl Cluster {
    /// Each node's share of `link` (all of the table's smart links when `None`).
    pub fn shares(&self, table: &RoutingTable, link: Option<&Link>) -> Vec<NodeShare> {
        let links: Vec<&Link> = match link {
            Some(l) => vec![l],
            None => table.links().iter().collect(),
        };
        self.nodes
            .iter()
            .map(|n| {
                let stats: Vec<LinkStats> =
                    links.iter().map(|l| self::link(l, &n.counts)).collect();
                NodeShare {
                    node: n.node.clone(),
                    pushed_at: jiff::Timestamp::from_millisecond(n.pushed_ms)
                        .map(|t| t.to_string())
                        .unwrap_or_default(),
                    clicks: stats.iter().map(|s| s.totals.clicks).sum(),
                    routed: stats.iter().map(|s| s.totals.routed).sum(),
                    conversions: stats.iter().map(|s| s.totals.conversions).sum(),
                }
            })
            .collect()
    }
}
