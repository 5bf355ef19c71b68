//! Statistics hour by hour, for charts (`smart_link_hourly.json`, `network_stats.json`):
//! each figure a list with one item per hour of the range, the i-th item of every list being
//! the i-th hour's (columns, as chart libraries take them). Read from the hourly counts
//! ([`Hourly`]): standalone the node's, in cluster mode the cluster's sum. An hour's clicks are
//! its routed clicks plus its fallbacks, and its conversions those of its clicks (a
//! conversion lands in its click's hour), so that a range's sum is what `smart_link_stats.json`
//! answers for it.

use std::collections::HashMap;
use std::ops::Range;

use serde::Serialize;
use serde::ser::SerializeMap;

use super::{BadRange, Earned, Margins, Totals, hour_at, hour_text, ratio};
use crate::counts::Hourly;
use crate::counts::hourly::{Counted, FallbackTally, Hour, RETENTION_HOURS, Tally, hour_of};
use crate::counts::registry::Fallbacks;
use crate::money::{Profit, Total};
use crate::routing::{Link, RoutingTable};
use crate::vocab::{FallbackReason, Source, SourceKind};

/// Hours of a series when `from` is not given.
pub const DEFAULT_HOURS: u32 = 24;

/// The hours from `from` to `to` (RFC 3339, taken to the hour; `to` exclusive): by default
/// the [`DEFAULT_HOURS`] up to the end of the current hour; at most [`RETENTION_HOURS`].
pub fn hours(from: Option<&str>, to: Option<&str>, now: i64) -> Result<Range<Hour>, BadRange> {
    let end = match to {
        Some(t) => hour_at("to", t)?,
        None => hour_of(now) + 1,
    };
    let start = match from {
        Some(f) => hour_at("from", f)?,
        None => end.saturating_sub(DEFAULT_HOURS),
    };
    if start >= end {
        return Err(BadRange::Empty);
    }
    if end - start > RETENTION_HOURS {
        return Err(BadRange::TooLong);
    }
    Ok(start..end)
}

/// The counts of one hour (or of a whole range, or of one link).
#[derive(Clone, Copy, Default, Debug, PartialEq)]
pub(super) struct Sums {
    routed: u64,
    fallback: [u64; FallbackReason::ALL.len()],
    pub(super) conversions: u64,
    revenue: Total,
    cost: Total,
}

impl Sums {
    /// Its totals, as `smart_link_stats.json` gives a link's.
    pub(super) fn totals(&self) -> Totals {
        let earned = Tally {
            routed: self.routed,
            conversions: self.conversions,
            revenue: self.revenue,
            cost: self.cost,
        };
        Totals::of(Fallbacks::of(&self.fallback), &earned)
    }

    pub(super) fn add_route(&mut self, t: &Tally) {
        self.routed += t.routed;
        self.conversions += t.conversions;
        self.revenue = self.revenue + t.revenue;
        self.cost = self.cost + t.cost;
    }

    pub(super) fn add_fallback(&mut self, f: &FallbackTally) {
        for (a, b) in self.fallback.iter_mut().zip(f.clicks) {
            *a += b;
        }
        self.conversions += f.conversions;
        self.revenue = self.revenue + f.revenue;
    }

    pub(super) fn add(&mut self, other: &Sums) {
        self.routed += other.routed;
        for (a, b) in self.fallback.iter_mut().zip(other.fallback) {
            *a += b;
        }
        self.conversions += other.conversions;
        self.revenue = self.revenue + other.revenue;
        self.cost = self.cost + other.cost;
    }

    pub(super) fn clicks(&self) -> u64 {
        self.routed + self.fallback.iter().sum::<u64>()
    }
}

/// Every figure of a range, hour by hour.
#[derive(Debug, Serialize, PartialEq)]
pub struct Columns {
    pub clicks: Vec<u64>,
    pub routed: Vec<u64>,
    /// Fallback clicks by reason: `{"inactive": [...], "bot": [...], ...}`.
    pub fallback: FallbackColumns,
    /// routed / clicks; null in an hour without clicks.
    pub fill_rate: Vec<Option<f64>>,
    pub conversions: Vec<u64>,
    pub revenue: Vec<Total>,
    /// revenue / routed; null in an hour without routed clicks.
    pub epc: Vec<Option<Total>>,
    #[serde(flatten)]
    pub margins: MarginColumns,
}

/// What each hour's conversions cost, and what the network kept.
#[derive(Debug, Serialize, PartialEq)]
pub struct MarginColumns {
    pub cost: Vec<Total>,
    /// revenue − cost.
    pub profit: Vec<Profit>,
    /// profit / revenue; null in an hour without revenue.
    pub margin: Vec<Option<f64>>,
}

impl MarginColumns {
    /// Of each hour's revenue and cost.
    fn of(hours: impl Iterator<Item = (Total, Total)>) -> MarginColumns {
        let (mut cost, mut profit, mut margin) = (Vec::new(), Vec::new(), Vec::new());
        for (revenue, spent) in hours {
            let m = Margins::of(revenue, spent);
            cost.push(m.cost);
            profit.push(m.profit);
            margin.push(m.margin);
        }
        MarginColumns {
            cost,
            profit,
            margin,
        }
    }
}

/// Fallback clicks by reason, each reason's a list of hours.
#[derive(Debug, PartialEq)]
pub struct FallbackColumns([Vec<u64>; FallbackReason::ALL.len()]);

impl Serialize for FallbackColumns {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (reason, hours) in FallbackReason::ALL.iter().zip(&self.0) {
            map.serialize_entry(reason.as_str(), hours)?;
        }
        map.end()
    }
}

impl Columns {
    fn of(hours: &[Sums]) -> Columns {
        let column = |f: &dyn Fn(&Sums) -> u64| hours.iter().map(f).collect::<Vec<u64>>();
        Columns {
            clicks: column(&Sums::clicks),
            routed: column(&|c| c.routed),
            fallback: FallbackColumns(std::array::from_fn(|r| column(&|c| c.fallback[r]))),
            fill_rate: hours.iter().map(|c| ratio(c.routed, c.clicks())).collect(),
            conversions: column(&|c| c.conversions),
            revenue: hours.iter().map(|c| c.revenue).collect(),
            epc: hours.iter().map(|c| c.revenue.per(c.routed)).collect(),
            margins: MarginColumns::of(hours.iter().map(|c| (c.revenue, c.cost))),
        }
    }
}

/// The start of each hour of `range`, RFC 3339.
fn hour_names(range: &Range<Hour>) -> Vec<String> {
    range.clone().map(hour_text).collect()
}

/// One smart link hour by hour.
#[derive(Debug, Serialize, PartialEq)]
pub struct LinkSeries {
    pub smart_link_id: u32,
    pub from: String,
    pub to: String,
    /// The start of each hour.
    pub hours: Vec<String>,
    #[serde(flatten)]
    pub columns: Columns,
    /// Each attachment's, in the link's order (by priority).
    pub offers: Vec<RouteSeries>,
}

/// One attachment's routed clicks and what they earned, hour by hour.
#[derive(Debug, Serialize, PartialEq)]
pub struct RouteSeries {
    pub offer_id: u32,
    pub routed: Vec<u64>,
    pub conversions: Vec<u64>,
    pub revenue: Vec<Total>,
    pub epc: Vec<Option<Total>>,
    #[serde(flatten)]
    pub margins: MarginColumns,
}

/// `link` over `range`, from `hourly`.
pub fn link(link: &Link, hourly: &Hourly, range: Range<Hour>) -> LinkSeries {
    let source = Source::smart_link(link.id);
    let mut hours: Vec<Sums> = hourly
        .fallback_hours(source, range.clone())
        .iter()
        .map(|f| {
            let mut c = Sums::default();
            c.add_fallback(f);
            c
        })
        .collect();
    let offers = link
        .attachments
        .iter()
        .map(|a| {
            let tallies = hourly.route_hours(source, a.offer_id, range.clone());
            for (hour, t) in hours.iter_mut().zip(&tallies) {
                hour.add_route(t);
            }
            RouteSeries {
                offer_id: a.offer_id,
                routed: tallies.iter().map(|t| t.routed).collect(),
                conversions: tallies.iter().map(|t| t.conversions).collect(),
                revenue: tallies.iter().map(|t| t.revenue).collect(),
                epc: tallies.iter().map(|t| t.revenue.per(t.routed)).collect(),
                margins: MarginColumns::of(tallies.iter().map(|t| (t.revenue, t.cost))),
            }
        })
        .collect();
    LinkSeries {
        smart_link_id: link.id,
        from: hour_text(range.start),
        to: hour_text(range.end),
        hours: hour_names(&range),
        columns: Columns::of(&hours),
        offers,
    }
}

/// The whole network (every smart link and campaign) hour by hour, its totals, and the
/// smart links and offers with the most clicks.
#[derive(Debug, Serialize, PartialEq)]
pub struct NetworkSeries {
    pub from: String,
    pub to: String,
    pub hours: Vec<String>,
    #[serde(flatten)]
    pub columns: Columns,
    pub totals: Totals,
    /// Smart links of the table by clicks, most first (ties: lower id first).
    pub top_smart_links: Vec<TopLink>,
    /// Offers of the table by routed clicks (every source), most first.
    pub top_offers: Vec<TopOffer>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct TopLink {
    pub smart_link_id: u32,
    #[serde(flatten)]
    pub totals: Totals,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct TopOffer {
    pub offer_id: u32,
    /// Clicks routed to it.
    pub clicks: u64,
    #[serde(flatten)]
    pub earned: Earned,
}

/// The network over `range`, from `hourly`, with the `top` smart links and offers of `table`.
pub fn network(
    table: &RoutingTable,
    hourly: &Hourly,
    range: Range<Hour>,
    top: usize,
) -> NetworkSeries {
    let mut hours = vec![Sums::default(); range.len()];
    let mut links: HashMap<u32, Sums> = HashMap::new();
    let mut offers: HashMap<u32, Tally> = HashMap::new();
    let at = |hour: Hour| (hour - range.start) as usize;
    hourly.walk(range.clone(), |source, hour, counted| {
        let link = (source.kind == SourceKind::SmartLink).then_some(source.id);
        match counted {
            Counted::Routed(offer, t) => {
                hours[at(hour)].add_route(t);
                offers.entry(offer).or_default().add(t);
                if let Some(id) = link {
                    links.entry(id).or_default().add_route(t);
                }
            }
            Counted::FellBack(f) => {
                hours[at(hour)].add_fallback(f);
                if let Some(id) = link {
                    links.entry(id).or_default().add_fallback(f);
                }
            }
        }
    });
    let mut total = Sums::default();
    hours.iter().for_each(|h| total.add(h));
    let mut top_links: Vec<(u32, Sums)> = table
        .links()
        .iter()
        .filter_map(|l| links.get(&l.id).map(|c| (l.id, *c)))
        .filter(|(_, c)| c.clicks() > 0)
        .collect();
    top_links.sort_by_key(|(id, c)| (std::cmp::Reverse(c.clicks()), *id));
    top_links.truncate(top);
    let mut top_offers: Vec<(u32, Tally)> = table
        .offers()
        .iter()
        .filter_map(|o| offers.get(&o.id).map(|t| (o.id, *t)))
        .filter(|(_, t)| t.routed > 0 || t.conversions > 0)
        .collect();
    top_offers.sort_by_key(|(id, t)| (std::cmp::Reverse(t.routed), *id));
    top_offers.truncate(top);
    NetworkSeries {
        from: hour_text(range.start),
        to: hour_text(range.end),
        hours: hour_names(&range),
        columns: Columns::of(&hours),
        totals: total.totals(),
        top_smart_links: top_links
            .into_iter()
            .map(|(smart_link_id, c)| TopLink {
                smart_link_id,
                totals: c.totals(),
            })
            .collect(),
        top_offers: top_offers
            .into_iter()
            .map(|(offer_id, t)| TopOffer {
                offer_id,
                clicks: t.routed,
                earned: Earned::of(&t),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 100 * 3600 + 1800;

    #[test]
    fn ranges_default_to_the_last_day_and_are_bounded() {
        assert_eq!(hours(None, None, NOW), Ok(77..101));
        assert_eq!(
            hours(Some("1970-01-01T10:30:00Z"), None, NOW),
            Ok(10..101),
            "from is taken to its hour"
        );
        assert_eq!(hours(None, Some("1970-01-02T00:00:00Z"), NOW), Ok(0..24));
        assert_eq!(
            hours(
                Some("1970-01-05T00:00:00Z"),
                Some("1970-01-04T00:00:00Z"),
                NOW
            ),
            Err(BadRange::Empty)
        );
        assert_eq!(
            hours(
                Some("1970-01-01T00:00:00Z"),
                Some("1970-02-01T01:00:00Z"),
                NOW
            ),
            Err(BadRange::TooLong)
        );
        assert!(matches!(
            hours(Some("yesterday"), None, NOW),
            Err(BadRange::NotATime("from", _))
        ));
    }

    #[test]
    fn columns_hold_each_hours_counts_and_their_rates() {
        let mut a = Sums::default();
        a.add_route(&Tally {
            routed: 3,
            conversions: 1,
            revenue: Total::parse("1.50").unwrap(),
            cost: Total::parse("2.00").unwrap(),
        });
        let mut f = FallbackTally::default();
        f.clicks[FallbackReason::Bot as usize] = 1;
        a.add_fallback(&f);
        let c = Columns::of(&[a, Sums::default()]);
        assert_eq!(c.clicks, [4, 0]);
        assert_eq!(c.routed, [3, 0]);
        assert_eq!(c.fill_rate, [Some(0.75), None]);
        assert_eq!(c.epc, [Some(Total::parse("0.50").unwrap()), None]);
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["fallback"]["bot"], serde_json::json!([1, 0]));
        assert_eq!(json["fallback"]["no_match"], serde_json::json!([0, 0]));
        assert_eq!(json["revenue"], serde_json::json!(["1.50", "0.00"]));
        assert_eq!(json["cost"], serde_json::json!(["2.00", "0.00"]));
        assert_eq!(json["profit"], serde_json::json!(["-0.50", "0.00"]));
        assert_eq!(
            json["margin"][1],
            serde_json::Value::Null,
            "no revenue, no margin"
        );
        assert!((json["margin"][0].as_f64().unwrap() + 1.0 / 3.0).abs() < 1e-12);
    }
}
