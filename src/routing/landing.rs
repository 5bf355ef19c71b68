//! Landing pages (docs/routing.md#landing-pages): where a routed click lands once its offer is
//! chosen.
//!
//! A campaign with its own active landing page sends its routed clicks there. Otherwise an
//! offer with `landing_page_rotation` draws one of its active landing pages whose `countries`
//! and `devices` hold for the click, with probability `weight / sum of qualifying weights`
//! (the decision's own draw, `draw::pick`), and sends the click to the offer's URL when none
//! qualifies. Everything is compiled with the table: each offer's active pages with their URL
//! templates, rules and counters, and, for an offer whose pages have no rules (the A/B
//! test), the draw's candidates and total, so that such a click tests nothing and allocates
//! nothing. A country rule asks for the country only when a page has one.

use std::sync::Arc;

use rand::{Rng, RngExt};
use smallvec::SmallVec;

use super::draw::pick;
use crate::conditions::{Attributes, Rules};
use crate::counts::{DownFlag, LandingPageCounters};
use crate::template::Template;

/// One active landing page, compiled.
#[derive(Clone, Debug)]
pub struct Page {
    pub id: u32,
    pub url: Template,
    pub weight: u32,
    /// Its `countries` and `devices`.
    pub rules: Rules,
    /// Clicks sent to it (outlive reloads, like every count).
    pub counters: Arc<LandingPageCounters>,
    /// Its down flag when health checks watch it: a down page leaves the rotation.
    pub down: Option<Arc<DownFlag>>,
}

impl Page {
    #[inline]
    pub fn is_down(&self) -> bool {
        self.down.as_ref().is_some_and(|d| d.is_down())
    }
}

/// The landing pages an offer with `landing_page_rotation` draws from: its active ones, in
/// catalog order. Never empty (an offer without one sends its clicks to its URL).
#[derive(Debug)]
pub struct LandingPages {
    pages: Box<[Page]>,
    /// Every page as a candidate of the draw (index, weight), and their total weight: the
    /// draw of a click when no page has a rule.
    all: Box<[(usize, u32)]>,
    total: u32,
    /// Some page has a rule, or a down flag (health checks): each click draws among the
    /// pages that pass theirs and are not down.
    conditional: bool,
}

impl LandingPages {
    /// The rotation of `pages` (`None` when there are none).
    pub fn new(pages: Vec<Page>) -> Option<LandingPages> {
        if pages.is_empty() {
            return None;
        }
        let all: Box<[(usize, u32)]> = pages.iter().map(|p| p.weight).enumerate().collect();
        Some(LandingPages {
            total: all.iter().map(|&(_, w)| w).sum(),
            all,
            conditional: pages.iter().any(|p| p.rules.iter().next().is_some()),
            pages: pages.into_boxed_slice(),
        })
    }

    /// The page a click lands on, drawn by weight among those that qualify for it; `None`
    /// when none does.
    #[inline]
    pub fn draw<A, R>(&self, attrs: &mut A, rng: &mut R) -> Option<&Page>
    where
        A: Attributes + ?Sized,
        R: Rng + ?Sized,
    {
        if !self.conditional {
            let k = pick(&self.all, rng.random_range(0..self.total));
            return self.pages.get(self.all[k].0);
        }
        let candidates = self.candidates(attrs);
        let total: u32 = candidates.iter().map(|&(_, w)| w).sum();
        if total == 0 {
            return None;
        }
        let k = pick(&candidates, rng.random_range(0..total));
        self.pages.get(candidates[k].0)
    }

    /// Gives each page the down flag `flag` has for its id (health checks on).
    pub fn watch(&mut self, flag: impl Fn(u32) -> Option<Arc<DownFlag>>) {
        for page in self.pages.iter_mut() {
            page.down = flag(page.id);
        }
        self.conditional |= self.pages.iter().any(|p| p.down.is_some());
    }

    /// The pages that qualify for the click, in catalog order (explanations).
    pub fn qualifying<'p, A: Attributes + ?Sized>(
        &'p self,
        attrs: &mut A,
    ) -> impl Iterator<Item = &'p Page> + 'p {
        self.candidates(attrs)
            .into_iter()
            .map(|(i, _)| &self.pages[i])
    }

    /// The pages (index, weight) whose rules the click passes and that are not down; when
    /// every one of those is down, all of them (the rotation is left as if health checks
    /// were off: whether the offer itself is down is its own check's to say).
    fn candidates<A: Attributes + ?Sized>(&self, attrs: &mut A) -> SmallVec<[(usize, u32); 8]> {
        let passing: SmallVec<[(usize, u32); 8]> = self
            .all
            .iter()
            .copied()
            .filter(|&(i, _)| self.pages[i].rules.passes(attrs).is_ok())
            .collect();
        if passing.iter().all(|&(i, _)| self.pages[i].is_down()) {
            return passing;
        }
        passing
            .into_iter()
            .filter(|&(i, _)| !self.pages[i].is_down())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Catalog, validate};
    use crate::counts::Counts;
    use crate::routing::decide::tests::{Fixed, fixed};
    use crate::routing::table::RoutingTable;
    use crate::vocab::DeviceClass;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    /// Offer 1 rotates pages `pages` (JSON objects without id and offer); offer 2 does not
    /// rotate and has one page.
    fn table(pages: &[&str]) -> RoutingTable {
        let pages: Vec<String> = pages
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let sep = if p.is_empty() { "" } else { "," };
                format!(
                    r#"{{"landing_page_id":{},"landing_page_name":"p","offer_id":1,
                    "url":"https://lp{}.example/","landing_page_status":"active"{sep}{p}}}"#,
                    101 + i,
                    101 + i
                )
            })
            .collect();
        let json = format!(
            r#"{{"offers":[
              {{"offer_id":1,"offer_name":"o","offer_status":"active",
                "offer_url":"https://o1.example/","landing_page_rotation":true}},
              {{"offer_id":2,"offer_name":"o","offer_status":"active",
                "offer_url":"https://o2.example/"}}],
              "landing_pages":[{}{}
                {{"landing_page_id":900,"landing_page_name":"p","offer_id":2,
                  "url":"https://lp900.example/","landing_page_status":"active"}}]}}"#,
            pages.join(","),
            if pages.is_empty() { "" } else { "," }
        );
        let c: Catalog = serde_json::from_str(&json).unwrap();
        RoutingTable::compile(
            &validate(c).unwrap(),
            Template::parse("https://fallback.example/").unwrap(),
            &Counts::default(),
        )
    }

    fn drawn(t: &RoutingTable, offer: u32, attrs: &mut Fixed, seed: u64) -> Option<u32> {
        let o = t.offer_by_id(offer).unwrap();
        let mut rng = SmallRng::seed_from_u64(seed);
        t.landing_page(None, o, attrs, &mut rng).map(|p| p.id)
    }

    proptest::proptest! {
        /// Every page is drawn in proportion to its weight: over 20 000 seeded draws each
        /// share is within 5 standard deviations of `weight / total` (a fixed seed per
        /// case, so the test is deterministic; a draw that ignored a weight is off by far
        /// more).
        #[test]
        fn pages_are_drawn_in_proportion_to_their_weights(
            weights in proptest::collection::vec(1u32..=100, 1..5),
            seed in 0u64..1000,
        ) {
            let pages: Vec<String> = weights
                .iter()
                .map(|w| format!(r#""landing_page_weight":{w}"#))
                .collect();
            let t = table(&pages.iter().map(String::as_str).collect::<Vec<_>>());
            let o = t.offer_by_id(1).unwrap();
            let mut rng = SmallRng::seed_from_u64(seed);
            let mut attrs = fixed(Some("US"), DeviceClass::Desktop);
            const N: usize = 20_000;
            let mut hits = vec![0usize; weights.len()];
            for _ in 0..N {
                let p = t.landing_page(None, o, &mut attrs, &mut rng).unwrap();
                hits[(p.id - 101) as usize] += 1;
            }
            let total: u32 = weights.iter().sum();
            for (w, h) in weights.iter().zip(&hits) {
                let p = f64::from(*w) / f64::from(total);
                let sd = (N as f64 * p * (1.0 - p)).sqrt();
                proptest::prop_assert!(
                    (*h as f64 - N as f64 * p).abs() <= 5.0 * sd + 1.0,
                    "weights {:?}: hits {:?}", weights, hits
                );
            }
            // Pages without rules: the draw never asks for the country.
            proptest::prop_assert_eq!(attrs.country_lookups, 0);
        }
    }

    #[test]
    fn only_pages_whose_countries_and_devices_hold_are_drawn() {
        let t = table(&[
            r#""countries":["GB"],"landing_page_weight":100"#,
            r#""countries":["US"],"devices":["mobile"]"#,
            r#""devices":["desktop"]"#,
        ]);
        for seed in 0..50 {
            assert_eq!(
                drawn(&t, 1, &mut fixed(Some("GB"), DeviceClass::Mobile), seed),
                Some(101)
            );
            assert_eq!(
                drawn(&t, 1, &mut fixed(Some("US"), DeviceClass::Mobile), seed),
                Some(102)
            );
            assert_eq!(
                drawn(&t, 1, &mut fixed(Some("US"), DeviceClass::Desktop), seed),
                Some(103)
            );
            // Nothing qualifies: the offer's URL.
            assert_eq!(
                drawn(&t, 1, &mut fixed(Some("DE"), DeviceClass::Tablet), seed),
                None
            );
        }
        let o = t.offer_by_id(1).unwrap();
        let mut gb_desktop = fixed(Some("GB"), DeviceClass::Desktop);
        let ids: Vec<u32> = o
            .landing_pages
            .as_ref()
            .unwrap()
            .qualifying(&mut gb_desktop)
            .map(|p| p.id)
            .collect();
        assert_eq!(ids, [101, 103]);
    }

    #[test]
    fn inactive_pages_and_offers_without_rotation_are_never_drawn() {
        let json = r#"{"offers":[
            {"offer_id":1,"offer_name":"o","offer_status":"active",
             "offer_url":"https://o1.example/","landing_page_rotation":true},
            {"offer_id":2,"offer_name":"o","offer_status":"active",
             "offer_url":"https://o2.example/","landing_page_rotation":true}],
            "landing_pages":[
            {"landing_page_id":5,"landing_page_name":"p","offer_id":1,
             "url":"https://lp5.example/","landing_page_status":"paused"},
            {"landing_page_id":6,"landing_page_name":"p","offer_id":1,
             "url":"https://lp6.example/","landing_page_status":"active"},
            {"landing_page_id":7,"landing_page_name":"p","offer_id":1,
             "url":"https://lp7.example/","landing_page_status":"deleted"},
            {"landing_page_id":8,"landing_page_name":"p","offer_id":2,
             "url":"https://lp8.example/","landing_page_status":"paused"}]}"#;
        let c: Catalog = serde_json::from_str(json).unwrap();
        let t = RoutingTable::compile(
            &validate(c).unwrap(),
            Template::parse("https://fallback.example/").unwrap(),
            &Counts::default(),
        );
        for seed in 0..50 {
            assert_eq!(
                drawn(&t, 1, &mut fixed(Some("US"), DeviceClass::Desktop), seed),
                Some(6)
            );
        }
        // Rotation without an active page: the offer's URL.
        assert!(t.offer_by_id(2).unwrap().landing_pages.is_none());
        assert_eq!(
            drawn(&t, 2, &mut fixed(Some("US"), DeviceClass::Desktop), 1),
            None
        );
        // An offer that does not rotate never draws, though it has an active page.
        let t = table(&[]);
        assert!(t.offer_by_id(2).unwrap().landing_pages.is_none());
        assert_eq!(
            drawn(&t, 2, &mut fixed(Some("US"), DeviceClass::Desktop), 1),
            None
        );
    }
}
