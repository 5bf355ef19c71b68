//! Fill-rate statistics (docs/operations.md): per smart link and per offer, read from a
//! [`Counts`] for the links and offers of the compiled table. Standalone, the node's own
//! counts: totals since the state directory was created; they survive reloads and restarts
//! like the caps. In cluster mode, [`cluster`] adds up every node's pushed counters, and
//! keeps each node's share.
//!
//! For a smart link: `clicks` (GET clicks), `routed`, `fallback` by reason, `conversions` and
//! `fill_rate` = routed / clicks; each attached offer's routed clicks and conversions.
//! For an offer: `clicks` routed to it (every source), `capped_clicks` (clicks it qualified
//! for but a cap turned away), `conversions`, `fill_rate` = clicks / (clicks + capped_clicks),
//! the share of the traffic it qualified for that it could take, the state of each cap, and
//! the clicks sent to each of its landing pages.
//! `/metrics` carries only process totals; per-link detail lives here (label cardinality).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::counts::registry::Fallbacks;
use crate::counts::{CapClock, Counts, OfferCaps};
use crate::routing::{Link, RoutingTable};
use crate::shared::{Shared, Unavailable};
use crate::vocab::{CapKind, Source};

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

/// The statistics of one smart link of the table, from `counts`.
pub fn link(link: &Link, counts: &Counts) -> LinkStats {
    let source = Source::smart_link(link.id);
    let own = counts.source(source);
    let fallback = own.fallback_counts();
    let offers: Vec<RouteStats> = link
        .attachments
        .iter()
        .map(|a| {
            let route = counts.route(source, a.offer_id);
            RouteStats {
                offer_id: a.offer_id,
                routed: route.routed(),
                conversions: route.conversions(),
            }
        })
        .collect();
    let routed: u64 = offers.iter().map(|o| o.routed).sum();
    let clicks = routed + fallback.total();
    LinkStats {
        smart_link_id: link.id,
        clicks,
        routed,
        conversions: offers.iter().map(|o| o.conversions).sum::<u64>() + own.fallback_conversions(),
        fill_rate: ratio(routed, clicks),
        fallback,
        offers,
    }
}

/// The statistics of every offer of the table, at `clock`, from `counts`.
pub fn offers(table: &RoutingTable, counts: &Counts, clock: &CapClock) -> Vec<OfferStats> {
    let mut per_offer: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
    for ((_, offer_id), c) in counts.routes() {
        let e = per_offer.entry(offer_id).or_default();
        e.0 += c.routed();
        e.1 += c.conversions();
    }
    let mut landing_pages: BTreeMap<u32, Vec<LandingPageStats>> = BTreeMap::new();
    for ((offer_id, landing_page_id), c) in counts.landing_pages() {
        landing_pages
            .entry(offer_id)
            .or_default()
            .push(LandingPageStats {
                landing_page_id,
                clicks: c.clicks(),
            });
    }
    table
        .offers()
        .iter()
        .map(|o| {
            let (clicks, conversions) = per_offer.get(&o.id).copied().unwrap_or_default();
            // Only offers with caps can turn clicks away.
            let caps = o.caps.as_ref().map(|c| OfferCaps {
                limits: c.limits,
                counters: counts.offer(o.id),
            });
            let capped_clicks = caps.as_ref().map_or(0, |c| c.counters.capped_clicks());
            let cap_states = caps.as_ref().map_or_else(Vec::new, |caps| {
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
                capped: caps.as_ref().and_then(|c| c.reached(clock)),
                caps: cap_states,
                landing_pages: landing_pages.remove(&o.id).unwrap_or_default(),
            }
        })
        .collect()
}

/// The statistics of `link`, or of every smart link and offer of `table` (`None`), from
/// `counts`; with the nodes' shares of them in cluster mode.
pub fn report(
    table: &RoutingTable,
    counts: &Counts,
    clock: &CapClock,
    link: Option<&Link>,
    cluster: Option<&Cluster>,
) -> serde_json::Value {
    let mut report = match link {
        Some(l) => serde_json::json!(self::link(l, counts)),
        None => serde_json::json!({
            "smart_links": table.links().iter().map(|l| self::link(l, counts)).collect::<Vec<_>>(),
            "offers": offers(table, counts, clock),
        }),
    };
    if let (Some(cluster), Some(map)) = (cluster, report.as_object_mut()) {
        map.insert(
            "nodes".into(),
            serde_json::json!(cluster.shares(table, link)),
        );
    }
    report
}

/// Cluster statistics: the sum of every node's pushed counters, and each node's own.
pub struct Cluster {
    pub total: Counts,
    pub nodes: Vec<NodeCounts>,
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
pub async fn cluster(shared: &Shared) -> Result<Cluster, Unavailable> {
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
    Ok(Cluster { total, nodes })
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
                    clicks: stats.iter().map(|s| s.clicks).sum(),
                    routed: stats.iter().map(|s| s.routed).sum(),
                    conversions: stats.iter().map(|s| s.conversions).sum(),
                }
            })
            .collect()
    }
}
