//! One affiliate's statistics (`affiliate_stats.json`, `smartlink stats --affiliate`): the
//! clicks, conversions, revenue, cost, profit and margin of every smart link and campaign
//! of the affiliate, and their sum, over the lifetime or the hours of a range.
//!
//! A link is the affiliate's when its counters say so: the affiliate a link belongs to is
//! written into its counters when a table is compiled and kept in the counters file (and, in
//! cluster mode, in every node's pushed counters), so that a link deleted from the catalog
//! still counts for the affiliate whose traffic it carried. Nothing is counted per affiliate
//! on the click path: the sums are made here, from the links' own counts, which makes them
//! exactly the sums of the links' statistics.

use std::ops::Range;

use serde::Serialize;

use super::Totals;
use super::series::Sums;
use super::{Cluster, Period, hour_text};
use crate::counts::Counts;
use crate::counts::hourly::{Counted, Hour};
use crate::vocab::{Source, SourceKind};

/// One affiliate's totals and each of its links' that had clicks or conversions in the
/// period (smart links first, then campaigns, each by id).
#[derive(Debug, Serialize, PartialEq)]
pub struct AffiliateStats {
    pub affiliate_id: u32,
    #[serde(flatten)]
    pub totals: Totals,
    pub links: Vec<LinkTotals>,
}

/// One link of the affiliate.
#[derive(Debug, Serialize, PartialEq)]
pub struct LinkTotals {
    /// `smart_link` or `campaign`.
    pub kind: SourceKind,
    /// The smart link's or the campaign's id.
    pub id: u32,
    #[serde(flatten)]
    pub totals: Totals,
}

/// The statistics of `affiliate_id` over `period`; `owners` says whose each link is (the
/// lifetime counters: the node's, or in cluster mode the cluster's sum).
pub fn affiliate(affiliate_id: u32, owners: &Counts, period: Period) -> AffiliateStats {
    let mut links: std::collections::BTreeMap<Source, Sums> = owners
        .sources()
        .into_iter()
        .filter(|(_, c)| c.affiliate() == affiliate_id)
        .map(|(source, _)| (source, Sums::default()))
        .collect();
    period.walk(|source, counted| {
        if let Some(sums) = links.get_mut(&source) {
            match counted {
                Counted::Routed(_, t) => sums.add_route(t),
                Counted::FellBack(f) => sums.add_fallback(f),
            }
        }
    });
    let mut total = Sums::default();
    links.values().for_each(|s| total.add(s));
    AffiliateStats {
        affiliate_id,
        totals: total.totals(),
        links: links
            .into_iter()
            .filter(|(_, sums)| sums.clicks() > 0 || sums.conversions > 0)
            .map(|(source, sums)| LinkTotals {
                kind: source.kind,
                id: source.id,
                totals: sums.totals(),
            })
            .collect(),
    }
}

/// The statistics of `affiliate_id` from `counts` (in cluster mode the cluster's total, with
/// its hours), over the lifetime or the hours of `range` (then with `from` and `to`): what
/// `affiliate_stats.json` and `smartlink stats --affiliate` answer.
pub fn report(
    affiliate_id: u32,
    counts: &Counts,
    cluster: Option<&Cluster>,
    range: Option<Range<Hour>>,
) -> serde_json::Value {
    let period = Period::of(counts, cluster, range.as_ref());
    let mut report = serde_json::json!(affiliate(affiliate_id, counts, period));
    if let Some(hours) = range {
        report["from"] = serde_json::json!(hour_text(hours.start));
        report["to"] = serde_json::json!(hour_text(hours.end));
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::Calendar;
    use crate::counts::Earning;
    use crate::money::{Money, Total};

    fn earning(revenue: u64, cost: u64) -> Earning {
        Earning {
            click_time: 3600 * 10,
            revenue: Money::from_millionths(revenue),
            cost: Money::from_millionths(cost),
        }
    }

    #[test]
    fn an_affiliate_s_links_add_up_and_others_are_left_out() {
        let counts = Counts::default();
        let calendar = Calendar::named("UTC").unwrap();
        let (mine, campaign, theirs) = (
            Source::smart_link(1),
            Source::campaign(2),
            Source::smart_link(3),
        );
        counts.source(mine).set_affiliate(7);
        counts.source(campaign).set_affiliate(7);
        counts.source(theirs).set_affiliate(8);
        // A link of the affiliate without traffic is not listed.
        counts.source(Source::smart_link(4)).set_affiliate(7);
        for _ in 0..4 {
            counts.route(mine, 10).click_routed();
        }
        counts.route(campaign, 11).click_routed();
        counts.route(theirs, 10).click_routed();
        counts
            .source(mine)
            .click_fell_back(crate::vocab::FallbackReason::NoMatch);
        let mut counting = counts.counting();
        counting.conversion(
            mine,
            Some(10),
            earning(10_000_000, 4_000_000),
            36_000,
            &calendar,
        );
        counting.conversion(campaign, Some(11), earning(0, 1_500_000), 36_000, &calendar);
        counting.conversion(theirs, Some(10), earning(99_000_000, 1), 36_000, &calendar);
        drop(counting);
        counts.sweep(10);
        for period in [
            Period::Lifetime(&counts),
            Period::Hours(counts.hourly(), 0, 20),
        ] {
            let s = affiliate(7, &counts, period);
            assert_eq!(s.links.len(), 2);
            assert_eq!(
                (s.totals.clicks, s.totals.routed, s.totals.conversions),
                (6, 5, 2)
            );
            assert_eq!(s.totals.revenue.to_string(), "10.00");
            assert_eq!(s.totals.margins.cost.to_string(), "5.50");
            assert_eq!(s.totals.margins.profit.to_string(), "4.50");
            assert_eq!(s.totals.margins.margin, Some(0.45));
            let c = &s.links[1];
            assert_eq!((c.kind, c.id), (SourceKind::Campaign, 2));
            assert_eq!(c.totals.margins.profit.to_string(), "-1.50");
            assert_eq!(c.totals.margins.margin, None, "no revenue: no margin");
        }
        let nobody = affiliate(9, &counts, Period::Lifetime(&counts));
        assert!(nobody.links.is_empty());
        assert_eq!(nobody.totals.revenue, Total::ZERO);
    }

    proptest::proptest! {
        /// Whatever conversions land on whichever links, an affiliate's totals are the sums
        /// of its links', and profit is revenue less cost.
        #[test]
        fn totals_are_the_sums_over_links(
            events in proptest::collection::vec((0u32..6, 0u32..3, 0u64..5_000_000, 0u64..5_000_000, proptest::bool::ANY), 0..60),
        ) {
            let counts = Counts::default();
            let calendar = Calendar::named("UTC").unwrap();
            for id in 0..6 {
                counts.source(Source::smart_link(id)).set_affiliate(id % 2 + 1);
            }
            for &(link, offer, revenue, cost, converted) in &events {
                let source = Source::smart_link(link);
                counts.route(source, offer).click_routed();
                if converted {
                    counts.counting().conversion(source, Some(offer), earning(revenue, cost), 36_000, &calendar);
                }
            }
            for id in [1, 2] {
                let s = affiliate(id, &counts, Period::Lifetime(&counts));
                let sum = |f: &dyn Fn(&Totals) -> u128| s.links.iter().map(|l| f(&l.totals)).sum::<u128>();
                proptest::prop_assert_eq!(u128::from(s.totals.clicks), sum(&|t| u128::from(t.clicks)));
                proptest::prop_assert_eq!(u128::from(s.totals.conversions), sum(&|t| u128::from(t.conversions)));
                proptest::prop_assert_eq!(s.totals.revenue.millionths(), sum(&|t| t.revenue.millionths()));
                proptest::prop_assert_eq!(s.totals.margins.cost.millionths(), sum(&|t| t.margins.cost.millionths()));
                proptest::prop_assert_eq!(
                    s.totals.margins.profit.millionths(),
                    s.totals.revenue.millionths() as i128 - s.totals.margins.cost.millionths() as i128
                );
            }
        }
    }
}
