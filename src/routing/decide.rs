//! The routing decision for one click (docs/routing.md).
//!
//! Walk the link's priority groups in ascending order; in the first group with at least one
//! qualifying attachment, draw one with probability `weight / sum of qualifying weights`, or
//! with exact rotation take the next place of the run of that qualifying set (`rotation`).
//! A drawn offer with a daily click cap must then reserve its place (a compare-and-swap, see
//! `caps::counters`); a click that loses the race for the last place is drawn again among
//! the group's other qualifying attachments (for exact rotation, a set of its own), and only
//! then moves to the next priority.
//! Client attributes are asked for through [`Attributes`], which computes them lazily: a click
//! whose first group has no country condition never looks its address up.
//!
//! One function serves both the hot path and `smartlink route`: the [`Trace`] parameter is a
//! no-op there (and compiles away), and records every verdict for explanations.

use rand::{Rng, RngExt};
use smallvec::SmallVec;

use super::draw::pick;
use super::rotation;
use super::table::{Attachment, Link, LinkRotation, Offer, RoutingTable, Skip};
use crate::conditions::{Attributes, Dimension, Failed, Turned};
use crate::counts::{CapClock, OfferCaps};
use crate::settings::AllDown;
use crate::vocab::{CapKind, DeviceClass, FallbackReason, Screen};

/// What a decision needs besides the link and the client.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    pub bots: Screen,
    /// Clicks from anonymizing networks (the anonymous-IP database).
    pub anonymous: Screen,
    /// What happens while every candidate of a link is down (`health.all_down`).
    pub all_down: AllDown,
    /// The click's time, for the cap windows.
    pub caps: CapClock<'a>,
    /// A real click (a `GET`): a routed click takes its place under a click cap and in its
    /// exact rotation run, and clicks turned away by caps are counted. `HEAD` and
    /// `smartlink route` only check caps and look at the run. Bots never take a place under
    /// a cap, even when routed (a routed bot does take its place in a run: it is sent there).
    pub count: bool,
}

/// The decision for one click.
#[derive(Clone, Copy, Debug)]
pub enum Outcome<'t> {
    Routed {
        attachment: &'t Attachment,
        offer: &'t Offer,
    },
    Fallback(FallbackReason),
}

/// The decision for one click: where it goes, and what the counters need to know of it. The
/// decision reads caps and reserves a click's place under a click cap; it counts nothing.
#[derive(Clone, Debug)]
pub struct Decision<'t> {
    pub outcome: Outcome<'t>,
    /// Indexes (into `Link::attachments`) of the attachments that matched the click but
    /// whose offer a cap turned it away, those that lost the race for a click cap's last
    /// place included.
    pub turned_away: SmallVec<[u16; 4]>,
    /// Indexes of the attachments that matched the click but whose destination was down.
    pub down: SmallVec<[u16; 4]>,
    /// Every candidate was down and `health.all_down` is `"ignore"`: the click was decided
    /// as if health checks were off.
    pub health_ignored: bool,
}

/// What the decision made of one attachment (index into `Link::attachments`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Qualified in the deciding group (and took part in the draw).
    Qualified,
    Skipped(Skip),
    /// In a group after the deciding one; the result says whether it would have qualified.
    NotReached(Result<(), Skip>),
}

/// Observer of a decision. `EXHAUSTIVE` asks for verdicts on the groups after the deciding one.
pub trait Trace {
    const EXHAUSTIVE: bool;
    fn verdict(&mut self, index: usize, verdict: Verdict);
}

/// The hot path's trace: observes nothing.
pub struct NoTrace;

impl Trace for NoTrace {
    const EXHAUSTIVE: bool = false;
    #[inline(always)]
    fn verdict(&mut self, _: usize, _: Verdict) {}
}

/// What the decision asks of an attachment's offer besides the click's attributes: whether a
/// cap or a down destination turns the click away, and whether the click gets its place
/// under a click cap. [`Live`] reads the counters and flags the clicks share; a replay of
/// the click log (`preview`) answers with what they were when each click was taken.
pub trait Gate {
    /// The cap of `a`'s offer reached at `clock`, if any.
    fn capped(&self, a: &Attachment, clock: &CapClock) -> Option<CapKind>;
    /// Whether health checks found `a`'s destination down.
    fn down(&self, a: &Attachment) -> bool;
    /// Takes a counted click's place under the click cap of `caps` (`a`'s); false when the
    /// cap filled up first.
    fn reserve(&self, a: &Attachment, caps: &OfferCaps, clock: &CapClock) -> bool;
}

/// The state every click shares: caps from the counters, health from the down flags.
pub struct Live;

impl Gate for Live {
    #[inline]
    fn capped(&self, a: &Attachment, clock: &CapClock) -> Option<CapKind> {
        a.caps.as_ref()?.reached(clock)
    }

    #[inline]
    fn down(&self, a: &Attachment) -> bool {
        a.down.as_ref().is_some_and(|d| d.is_down())
    }

    #[inline]
    fn reserve(&self, _: &Attachment, caps: &OfferCaps, clock: &CapClock) -> bool {
        caps.reserve_click(clock)
    }
}

impl RoutingTable {
    /// Decides where one click on `link` goes.
    #[inline]
    pub fn decide<'t, A, R, T>(
        &'t self,
        link: &'t Link,
        ctx: &Context,
        attrs: &mut A,
        rng: &mut R,
        trace: &mut T,
    ) -> Decision<'t>
    where
        A: Attributes + ?Sized,
        R: Rng + ?Sized,
        T: Trace,
    {
        self.decide_with(link, ctx, attrs, rng, trace, &Live)
    }

    /// [`RoutingTable::decide`] with caps and health read through `gate`.
    pub fn decide_with<'t, A, R, T, G>(
        &'t self,
        link: &'t Link,
        ctx: &Context,
        attrs: &mut A,
        rng: &mut R,
        trace: &mut T,
        gate: &G,
    ) -> Decision<'t>
    where
        A: Attributes + ?Sized,
        R: Rng + ?Sized,
        T: Trace,
        G: Gate,
    {
        let mut d = Decision {
            outcome: Outcome::Fallback(FallbackReason::Inactive),
            turned_away: SmallVec::new(),
            down: SmallVec::new(),
            health_ignored: false,
        };
        if !link.active {
            return d;
        }
        let screened = if ctx.bots == Screen::Fallback && attrs.device() == DeviceClass::Bot {
            Some(FallbackReason::Bot)
        } else if ctx.anonymous == Screen::Fallback && attrs.anonymous() == Some(true) {
            Some(FallbackReason::Anonymous)
        } else {
            None
        };
        if let Some(reason) = screened {
            d.outcome = Outcome::Fallback(reason);
            return d;
        }
        let walk = Walk {
            link,
            ctx,
            gate,
            health: true,
        };
        let mut chosen = walk.run(attrs, rng, trace, &mut d);
        if chosen.is_none() && !d.down.is_empty() && ctx.all_down == AllDown::Ignore {
            // Every candidate that qualified but for its destination is down: route as if
            // health checks were off (the caps it met are met again).
            d.turned_away.clear();
            d.health_ignored = true;
            chosen = Walk {
                health: false,
                ..walk
            }
            .run(attrs, rng, trace, &mut d);
        }
        d.outcome = match chosen {
            Some(attachment) => Outcome::Routed {
                attachment,
                offer: self.offer(attachment),
            },
            None if !d.down.is_empty() && !d.health_ignored => {
                Outcome::Fallback(FallbackReason::DestinationDown)
            }
            None if !d.turned_away.is_empty() => Outcome::Fallback(FallbackReason::AllCapped),
            None => Outcome::Fallback(FallbackReason::NoMatch),
        };
        d
    }
}

/// One walk of a link's priority groups.
#[derive(Clone, Copy)]
struct Walk<'t, 'c, G> {
    link: &'t Link,
    ctx: &'c Context<'c>,
    gate: &'c G,
    /// Whether a down destination turns a click away.
    health: bool,
}

impl<'t, G: Gate> Walk<'t, '_, G> {
    /// The attachment the click goes to, if any; what turned attachments away is added to
    /// `d`.
    #[inline]
    fn run<A, R, T>(
        &self,
        attrs: &mut A,
        rng: &mut R,
        trace: &mut T,
        d: &mut Decision<'t>,
    ) -> Option<&'t Attachment>
    where
        A: Attributes + ?Sized,
        R: Rng + ?Sized,
        T: Trace,
    {
        let (link, ctx) = (self.link, self.ctx);
        let mut chosen: Option<&Attachment> = None;
        for (g, group) in link.groups.iter().enumerate() {
            if chosen.is_some() {
                if !T::EXHAUSTIVE {
                    break;
                }
                for i in group.clone() {
                    let v = Verdict::NotReached(self.qualify::<A, T>(&link.attachments[i], attrs));
                    trace.verdict(i, v);
                }
                continue;
            }
            // (index, weight) of each qualifying attachment in this group.
            let mut candidates: SmallVec<[(usize, u32); 16]> = SmallVec::new();
            for i in group.clone() {
                let a = &link.attachments[i];
                match self.qualify::<A, T>(a, attrs) {
                    Ok(()) => {
                        candidates.push((i, link.weight(a)));
                        trace.verdict(i, Verdict::Qualified);
                    }
                    Err(skip) => {
                        match skip {
                            Skip::Capped(_) => d.turned_away.push(i as u16),
                            Skip::DestinationDown => d.down.push(i as u16),
                            _ => {}
                        }
                        trace.verdict(i, Verdict::Skipped(skip));
                    }
                }
            }
            while !candidates.is_empty() {
                let k = match &link.rotation {
                    LinkRotation::Random | LinkRotation::Optimized(_) => {
                        let total = candidates.iter().map(|&(_, w)| w).sum();
                        pick(&candidates, rng.random_range(0..total))
                    }
                    LinkRotation::Exact(whole) => {
                        let set = candidates
                            .iter()
                            .map(|&(i, w)| (link.attachments[i].offer_id, w));
                        rotation::place(link.counters.runs(), whole[g].as_deref(), set, ctx.count)
                    }
                };
                let (i, _) = candidates[k];
                let a = &link.attachments[i];
                if self.reserve(a, attrs) {
                    chosen = Some(a);
                    break;
                }
                // Other clicks took the offer's last places since it qualified.
                d.turned_away.push(i as u16);
                trace.verdict(i, Verdict::Skipped(Skip::Capped(CapKind::DailyClicks)));
                candidates.remove(k);
            }
        }
        chosen
    }

    /// Takes a place under the drawn offer's click cap when the click counts; false when the
    /// cap filled up first. Routed bots take no place (they count toward no cap).
    #[inline]
    fn reserve<A: Attributes + ?Sized>(&self, a: &Attachment, attrs: &mut A) -> bool {
        let ctx = self.ctx;
        match &a.caps {
            Some(caps) if ctx.count && caps.limits.get(CapKind::DailyClicks).is_some() => {
                (ctx.bots == Screen::Route && attrs.device() == DeviceClass::Bot)
                    || self.gate.reserve(a, caps, &ctx.caps)
            }
            _ => true,
        }
    }

    /// Whether an attachment qualifies for the click: its offer is active, every targeting
    /// rule holds (in dimension order, so the device, known from bot screening, comes before
    /// the country, which costs a GeoIP lookup), and caps and health come last, so that
    /// `Capped` and `DestinationDown` mean "matched the click, but ...".
    #[inline]
    fn qualify<A: Attributes + ?Sized, T: Trace>(
        &self,
        a: &Attachment,
        attrs: &mut A,
    ) -> Result<(), Skip> {
        if let Some(skip) = a.blocked {
            return Err(skip);
        }
        if let Err(turned) = a.rules.passes(attrs) {
            // A real click's decision (`NoTrace`) never reads the reason: only an explanation
            // pays to work out which word rule it was.
            let (dimension, failed) = match turned {
                Turned::By(d, f) => (d, f),
                Turned::ByWords if T::EXHAUSTIVE => a.rules.why_not(attrs),
                Turned::ByWords => (Dimension::Device, Failed::Mismatch),
            };
            return Err(Skip::Condition(dimension, failed));
        }
        if let Some(kind) = self.gate.capped(a, &self.ctx.caps) {
            return Err(Skip::Capped(kind));
        }
        if self.health && self.gate.down(a) {
            return Err(Skip::DestinationDown);
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::calendar::Calendar;
    use crate::catalog::Catalog;
    use crate::counts::Counts;
    use crate::template::Template;
    use crate::vocab::{Country, OsFamily};
    use rand::SeedableRng;
    use rand::rngs::SmallRng;
    use std::sync::LazyLock;

    static UTC: LazyLock<Calendar> = LazyLock::new(|| Calendar::named("UTC").unwrap());

    /// A counted click at 2026-11-22 12:00 UTC.
    fn ctx(bots: Screen) -> Context<'static> {
        Context {
            bots,
            anonymous: Screen::Route,
            all_down: AllDown::Ignore,
            caps: CapClock {
                calendar: &UTC,
                now: 1_795_867_200,
            },
            count: true,
        }
    }

    /// Attributes with fixed values that count how often each was asked for.
    pub(crate) struct Fixed {
        pub country: Option<Country>,
        pub device: DeviceClass,
        pub country_lookups: usize,
    }

    impl Attributes for Fixed {
        fn country(&mut self) -> Option<Country> {
            self.country_lookups += 1;
            self.country
        }
        fn device(&mut self) -> DeviceClass {
            self.device
        }
        fn os(&mut self) -> OsFamily {
            OsFamily::Other
        }
    }

    pub(crate) fn fixed(country: Option<&str>, device: DeviceClass) -> Fixed {
        Fixed {
            country: country.and_then(Country::from_code),
            device,
            country_lookups: 0,
        }
    }

    fn table(json: &str) -> RoutingTable {
        let c: Catalog = serde_json::from_str(json).unwrap();
        RoutingTable::compile(
            &crate::catalog::validate(c).unwrap(),
            Template::parse("https://fallback.example/").unwrap(),
            &Counts::default(),
        )
    }

    const NET: &str = r#"{
      "affiliates":[{"affiliate_id":1,"affiliate_name":"a"}],
      "offers":[
        {"offer_id":1,"offer_name":"us","offer_status":"active","offer_url":"https://1.example/"},
        {"offer_id":2,"offer_name":"any","offer_status":"active","offer_url":"https://2.example/"},
        {"offer_id":3,"offer_name":"paused","offer_status":"paused","offer_url":"https://3.example/"},
        {"offer_id":4,"offer_name":"low","offer_status":"active","offer_url":"https://4.example/"}],
      "smart_links":[{"smart_link_id":9,"smart_link_name":"l","affiliate_id":1,
        "smart_link_status":"active","offers":[
          {"offer_id":4,"priority":2},
          {"offer_id":1,"priority":1,"countries":["US"],"devices":["mobile"]},
          {"offer_id":3,"priority":1},
          {"offer_id":2,"priority":1,"devices":["desktop"]}]}]}"#;

    fn routed_offer(o: Outcome) -> Option<u32> {
        match o {
            Outcome::Routed { offer, .. } => Some(offer.id),
            Outcome::Fallback(_) => None,
        }
    }

    #[test]
    fn first_priority_with_a_qualifying_attachment_wins() {
        let t = table(NET);
        let link = t.link(9).unwrap();
        let mut rng = SmallRng::seed_from_u64(1);
        let mut us_mobile = fixed(Some("US"), DeviceClass::Mobile);
        let o = t
            .decide(
                link,
                &ctx(Screen::Fallback),
                &mut us_mobile,
                &mut rng,
                &mut NoTrace,
            )
            .outcome;
        assert_eq!(routed_offer(o), Some(1));
        let mut de_desktop = fixed(Some("DE"), DeviceClass::Desktop);
        let o = t
            .decide(
                link,
                &ctx(Screen::Fallback),
                &mut de_desktop,
                &mut rng,
                &mut NoTrace,
            )
            .outcome;
        assert_eq!(routed_offer(o), Some(2));
        let mut de_tablet = fixed(Some("DE"), DeviceClass::Tablet);
        let o = t
            .decide(
                link,
                &ctx(Screen::Fallback),
                &mut de_tablet,
                &mut rng,
                &mut NoTrace,
            )
            .outcome;
        assert_eq!(routed_offer(o), Some(4), "falls through to priority 2");
    }

    #[test]
    fn country_is_looked_up_only_when_a_rule_needs_it() {
        let t = table(NET);
        let link = t.link(9).unwrap();
        let mut rng = SmallRng::seed_from_u64(1);
        let mut desktop = fixed(Some("DE"), DeviceClass::Desktop);
        t.decide(
            link,
            &ctx(Screen::Fallback),
            &mut desktop,
            &mut rng,
            &mut NoTrace,
        );
        assert_eq!(
            desktop.country_lookups, 0,
            "the US rule is ruled out by device first"
        );
    }

    #[test]
    fn bots_and_inactive_links_fall_back() {
        let t = table(NET);
        let link = t.link(9).unwrap();
        let mut rng = SmallRng::seed_from_u64(1);
        let mut bot = fixed(Some("US"), DeviceClass::Bot);
        let o = t
            .decide(
                link,
                &ctx(Screen::Fallback),
                &mut bot,
                &mut rng,
                &mut NoTrace,
            )
            .outcome;
        assert!(matches!(o, Outcome::Fallback(FallbackReason::Bot)));
        let o = t
            .decide(link, &ctx(Screen::Route), &mut bot, &mut rng, &mut NoTrace)
            .outcome;
        assert_eq!(
            routed_offer(o),
            Some(4),
            "routed bots match only 'any device' rules"
        );

        let t = table(&NET.replace(
            "\"smart_link_status\":\"active\"",
            "\"smart_link_status\":\"inactive\"",
        ));
        let o = t
            .decide(
                t.link(9).unwrap(),
                &ctx(Screen::Fallback),
                &mut bot,
                &mut rng,
                &mut NoTrace,
            )
            .outcome;
        assert!(matches!(o, Outcome::Fallback(FallbackReason::Inactive)));
    }

    #[test]
    fn nothing_qualifying_falls_back() {
        let t = table(&NET.replace("{\"offer_id\":4,\"priority\":2},", ""));
        let mut rng = SmallRng::seed_from_u64(1);
        let mut tablet = fixed(None, DeviceClass::Tablet);
        let o = t
            .decide(
                t.link(9).unwrap(),
                &ctx(Screen::Fallback),
                &mut tablet,
                &mut rng,
                &mut NoTrace,
            )
            .outcome;
        assert!(matches!(o, Outcome::Fallback(FallbackReason::NoMatch)));
    }

    proptest::proptest! {
        /// The decision routes to a qualifying attachment of the lowest priority that has one,
        /// and falls back only when no attachment qualifies.
        #[test]
        fn decision_respects_priority_and_qualification(
            rules in proptest::collection::vec((1i64..=4, 1u32..=100, 0usize..5), 1..12),
            device in 0usize..5,
            seed in proptest::prelude::any::<u64>(),
        ) {
            let attachments: Vec<String> = rules
                .iter()
                .enumerate()
                .map(|(i, (p, w, d))| {
                    let devices = match DeviceClass::ALL.get(*d) {
                        Some(d) if *d != DeviceClass::Bot => format!("[\"{}\"]", d.as_str()),
                        _ => "[]".to_string(),
                    };
                    format!(r#"{{"offer_id":{},"priority":{p},"offer_weight":{w},"devices":{devices}}}"#, i + 1)
                })
                .collect();
            let t = table(&one_link("random", &attachments));
            let link = t.link(1).unwrap();
            let device = DeviceClass::ALL[device];
            let mut attrs = fixed(None, device);
            let mut rng = SmallRng::seed_from_u64(seed);
            // Attachment i (offer i + 1) accepts the device it names, or any ("bot" and out
            // of range name none).
            let accepts = |offer_id: u32| match DeviceClass::ALL.get(rules[offer_id as usize - 1].2) {
                Some(d) if *d != DeviceClass::Bot => *d == device,
                _ => true,
            };
            let best = link
                .attachments
                .iter()
                .filter(|a| accepts(a.offer_id))
                .map(|a| a.priority)
                .min();
            match t.decide(link, &ctx(Screen::Route), &mut attrs, &mut rng, &mut NoTrace).outcome {
                Outcome::Routed { attachment, .. } => {
                    proptest::prop_assert!(accepts(attachment.offer_id));
                    proptest::prop_assert_eq!(Some(attachment.priority), best);
                }
                Outcome::Fallback(reason) => {
                    proptest::prop_assert_eq!(reason, FallbackReason::NoMatch);
                    proptest::prop_assert_eq!(best, None);
                }
            }
        }
    }

    /// Offer 1 (weight 100) has a daily click cap of 3 and shares priority 1 with offer 2
    /// (weight 1); offer 3 is at priority 2.
    const CAPPED: &str = r#"{
      "affiliates":[{"affiliate_id":1,"affiliate_name":"a"}],
      "offers":[
        {"offer_id":1,"offer_name":"capped","offer_status":"active","offer_url":"https://1.example/",
         "caps":{"daily_clicks":3}},
        {"offer_id":2,"offer_name":"b","offer_status":"active","offer_url":"https://2.example/"},
        {"offer_id":3,"offer_name":"c","offer_status":"active","offer_url":"https://3.example/"}],
      "smart_links":[{"smart_link_id":9,"smart_link_name":"l","affiliate_id":1,
        "smart_link_status":"active","offers":[
          {"offer_id":1,"priority":1,"offer_weight":100},
          {"offer_id":2,"priority":1,"offer_weight":1},
          {"offer_id":3,"priority":2}]}]}"#;

    fn tally(t: &RoutingTable, ctx: &Context, clicks: usize) -> [usize; 4] {
        let mut rng = SmallRng::seed_from_u64(7);
        let mut hits = [0; 4];
        for _ in 0..clicks {
            let mut attrs = fixed(None, DeviceClass::Desktop);
            match t
                .decide(t.link(9).unwrap(), ctx, &mut attrs, &mut rng, &mut NoTrace)
                .outcome
            {
                Outcome::Routed { offer, .. } => hits[offer.id as usize] += 1,
                Outcome::Fallback(_) => hits[0] += 1,
            }
        }
        hits
    }

    #[test]
    fn a_filled_click_cap_moves_clicks_to_the_rest_of_the_priority_then_the_next() {
        let t = table(CAPPED);
        assert_eq!(tally(&t, &ctx(Screen::Fallback), 500), [0, 3, 497, 0]);
        let t = table(&CAPPED.replace(r#"{"offer_id":2,"priority":1,"offer_weight":1},"#, ""));
        assert_eq!(tally(&t, &ctx(Screen::Fallback), 10), [0, 3, 0, 7]);
        let t = table(
            &CAPPED
                .replace(r#","priority":2}"#, r#","priority":1,"countries":["US"]}"#)
                .replace(r#"{"offer_id":2,"priority":1,"offer_weight":1},"#, ""),
        );
        let mut rng = SmallRng::seed_from_u64(1);
        let link = t.link(9).unwrap();
        let (outcomes, turned_away): (Vec<_>, Vec<_>) = (0..5)
            .map(|_| {
                let mut attrs = fixed(None, DeviceClass::Desktop);
                let d = t.decide(
                    link,
                    &ctx(Screen::Fallback),
                    &mut attrs,
                    &mut rng,
                    &mut NoTrace,
                );
                let outcome = match d.outcome {
                    Outcome::Routed { offer, .. } => Err(offer.id),
                    Outcome::Fallback(r) => Ok(r),
                };
                (outcome, d.turned_away.to_vec())
            })
            .unzip();
        use FallbackReason::*;
        assert_eq!(
            outcomes,
            [Err(1), Err(1), Err(1), Ok(AllCapped), Ok(AllCapped)]
        );
        // The capped offer turned the last two clicks away; the decision says so and counts
        // nothing itself.
        assert_eq!(turned_away, [vec![], vec![], vec![], vec![0], vec![0]]);
        let link_counters = &link.attachments[0].caps.as_ref().unwrap().counters;
        assert_eq!(link_counters.capped_clicks(), 0);
    }

    #[test]
    fn uncounted_clicks_check_caps_but_take_no_place() {
        let t = table(CAPPED);
        let head = Context {
            count: false,
            ..ctx(Screen::Fallback)
        };
        let hits = tally(&t, &head, 200);
        assert!(hits[1] > 150, "never capped: {hits:?}");
        let routed_bots = ctx(Screen::Route);
        let mut rng = SmallRng::seed_from_u64(3);
        for _ in 0..50 {
            let mut bot = fixed(None, DeviceClass::Bot);
            t.decide(
                t.link(9).unwrap(),
                &routed_bots,
                &mut bot,
                &mut rng,
                &mut NoTrace,
            );
        }
        assert_eq!(
            tally(&t, &ctx(Screen::Fallback), 500)[1],
            3,
            "bots took no place"
        );
        // Counted clicks have filled the cap; an uncounted one now sees it.
        let mut trace = Record(Vec::new());
        let mut attrs = fixed(None, DeviceClass::Desktop);
        t.decide(t.link(9).unwrap(), &head, &mut attrs, &mut rng, &mut trace);
        assert_eq!(
            trace.0[0],
            (0, Verdict::Skipped(Skip::Capped(CapKind::DailyClicks)))
        );
    }

    #[test]
    fn racing_threads_route_exactly_the_cap_and_never_fall_back() {
        let t = std::sync::Arc::new(table(
            &CAPPED.replace("\"daily_clicks\":3", "\"daily_clicks\":50"),
        ));
        let totals: Vec<[usize; 4]> = (0..4)
            .map(|_| {
                let t = std::sync::Arc::clone(&t);
                std::thread::spawn(move || tally(&t, &ctx(Screen::Fallback), 2000))
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect();
        let sum = |i: usize| totals.iter().map(|h| h[i]).sum::<usize>();
        assert_eq!((sum(0), sum(1), sum(2), sum(3)), (0, 50, 7950, 0));
    }

    struct Record(Vec<(usize, Verdict)>);
    impl Trace for Record {
        const EXHAUSTIVE: bool = true;
        fn verdict(&mut self, i: usize, v: Verdict) {
            self.0.push((i, v));
        }
    }

    #[test]
    fn trace_sees_every_attachment_with_its_reason() {
        let t = table(NET);
        let link = t.link(9).unwrap();
        let mut rng = SmallRng::seed_from_u64(1);
        let mut trace = Record(Vec::new());
        let mut unknown_mobile = fixed(None, DeviceClass::Mobile);
        t.decide(
            link,
            &ctx(Screen::Fallback),
            &mut unknown_mobile,
            &mut rng,
            &mut trace,
        );
        // Sorted order: priority 1 (offers 1, 3, 2) then priority 2 (offer 4).
        assert_eq!(
            trace.0,
            [
                (
                    0,
                    Verdict::Skipped(Skip::Condition(Dimension::Country, Failed::Unknown))
                ),
                (1, Verdict::Skipped(Skip::OfferPaused)),
                (
                    2,
                    Verdict::Skipped(Skip::Condition(Dimension::Device, Failed::Mismatch))
                ),
                (3, Verdict::Qualified),
            ]
        );
        let mut trace = Record(Vec::new());
        let mut us_mobile = fixed(Some("US"), DeviceClass::Mobile);
        t.decide(
            link,
            &ctx(Screen::Fallback),
            &mut us_mobile,
            &mut rng,
            &mut trace,
        );
        assert_eq!(trace.0[3], (3, Verdict::NotReached(Ok(()))));
    }

    /// A link with exact rotation over offers 1..=n weighted `weights`, all at priority 1;
    /// attachment i accepts only `devices[i]` when given.
    fn exact(weights: &[u32], devices: &[Option<DeviceClass>]) -> String {
        let attachments: Vec<String> = weights
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let devices = match devices.get(i).copied().flatten() {
                    Some(d) => format!(r#","devices":["{}"]"#, d.as_str()),
                    None => String::new(),
                };
                format!(r#"{{"offer_id":{},"offer_weight":{w}{devices}}}"#, i + 1)
            })
            .collect();
        one_link("exact", &attachments)
    }

    /// A catalog of offers 1..=n (one per attachment) and link 1 with `rotation` over
    /// `attachments` (as written).
    fn one_link(rotation: &str, attachments: &[String]) -> String {
        let offers: Vec<String> = (1..=attachments.len())
            .map(|i| format!(r#"{{"offer_id":{i},"offer_name":"o","offer_status":"active","offer_url":"https://{i}.example/"}}"#))
            .collect();
        format!(
            r#"{{"affiliates":[{{"affiliate_id":1,"affiliate_name":"a"}}],"offers":[{}],
            "smart_links":[{{"smart_link_id":1,"smart_link_name":"l","affiliate_id":1,
            "smart_link_status":"active","rotation":"{rotation}","offers":[{}]}}]}}"#,
            offers.join(","),
            attachments.join(",")
        )
    }

    /// The offer a click from `device` on link 1 goes to (0: the fallback).
    fn exact_click(t: &RoutingTable, ctx: &Context, device: DeviceClass) -> u32 {
        let mut attrs = fixed(None, device);
        let mut rng = SmallRng::seed_from_u64(0);
        let outcome = t
            .decide(t.link(1).unwrap(), ctx, &mut attrs, &mut rng, &mut NoTrace)
            .outcome;
        routed_offer(outcome).unwrap_or(0)
    }

    #[test]
    fn exact_rotation_gives_each_attachment_its_weight_and_survives_a_recompile() {
        let json = exact(&[3, 2, 1], &[]);
        let counts = Counts::default();
        let compile = |previous: Option<&RoutingTable>| {
            let catalog = crate::catalog::validate(serde_json::from_str(&json).unwrap()).unwrap();
            let fallback = Template::parse("https://fallback.example/").unwrap();
            match previous {
                Some(p) => RoutingTable::compile_after(&catalog, fallback, &counts, p),
                None => RoutingTable::compile(&catalog, fallback, &counts),
            }
        };
        let first = compile(None);
        let click = |t: &RoutingTable| exact_click(t, &ctx(Screen::Fallback), DeviceClass::Desktop);
        let mut order: Vec<u32> = (0..25).map(|_| click(&first)).collect();
        // A reload mid-run (from the previous table, or afresh) continues the run.
        let after = compile(Some(&first));
        order.extend((0..20).map(|_| click(&after)));
        let fresh = compile(None);
        order.extend((0..15).map(|_| click(&fresh)));
        assert_eq!(&order[..6], [1, 2, 1, 2, 1, 3]);
        let hits = |o: u32| order.iter().filter(|&&x| x == o).count();
        assert_eq!((hits(1), hits(2), hits(3)), (30, 20, 10));
        // A dry run looks at the next place and takes nothing.
        let dry = Context {
            count: false,
            ..ctx(Screen::Fallback)
        };
        let peeked: Vec<u32> = (0..5)
            .map(|_| exact_click(&fresh, &dry, DeviceClass::Desktop))
            .collect();
        assert_eq!(peeked, [1; 5], "a new cycle starts with offer 1");
        assert_eq!(click(&fresh), 1);
        assert_eq!(exact_click(&fresh, &dry, DeviceClass::Desktop), 2);
    }

    #[test]
    fn racing_threads_give_exactly_the_weights_over_whole_cycles() {
        let t = std::sync::Arc::new(table(&exact(&[7, 5, 3, 1], &[])));
        const CYCLES: usize = 250;
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let t = std::sync::Arc::clone(&t);
                std::thread::spawn(move || {
                    let mut hits = [0usize; 5];
                    for _ in 0..CYCLES * 16 / 4 {
                        hits[exact_click(&t, &ctx(Screen::Fallback), DeviceClass::Desktop)
                            as usize] += 1;
                    }
                    hits
                })
            })
            .collect();
        let mut hits = [0usize; 5];
        for h in threads {
            for (sum, n) in hits.iter_mut().zip(h.join().unwrap()) {
                *sum += n;
            }
        }
        assert_eq!(hits, [0, 7 * CYCLES, 5 * CYCLES, 3 * CYCLES, CYCLES]);
    }

    proptest::proptest! {
        /// Clicks whose qualifying set changes at random points (attachments for one device
        /// class, or any): the clicks of each qualifying set are within one click of every
        /// share after each of them, however the sets interleave.
        #[test]
        fn exact_rotation_keeps_every_set_within_one_click_of_its_shares(
            rules in proptest::collection::vec((1u32..=100, 0usize..6), 1..=12),
            segments in proptest::collection::vec((0usize..4, 1usize..150), 1..12),
        ) {
            let classes = [DeviceClass::Desktop, DeviceClass::Mobile, DeviceClass::Tablet, DeviceClass::Other];
            let weights: Vec<u32> = rules.iter().map(|r| r.0).collect();
            let devices: Vec<Option<DeviceClass>> = rules.iter().map(|r| classes.get(r.1).copied()).collect();
            let t = table(&exact(&weights, &devices));
            // By qualifying set (its offers): clicks so far, and each offer's.
            let mut runs: std::collections::HashMap<Vec<u32>, (u64, Vec<u64>)> = Default::default();
            for (device, length) in segments {
                let device = classes[device];
                let set: Vec<u32> = (1..=weights.len() as u32)
                    .filter(|&o| devices[o as usize - 1].is_none_or(|d| d == device))
                    .collect();
                let total: u64 = set.iter().map(|&o| u64::from(weights[o as usize - 1])).sum();
                for _ in 0..length {
                    let offer = exact_click(&t, &ctx(Screen::Fallback), device);
                    if set.is_empty() {
                        proptest::prop_assert_eq!(offer, 0);
                        continue;
                    }
                    let (clicks, counts) = runs.entry(set.clone()).or_insert((0, vec![0; set.len()]));
                    let k = set.iter().position(|&o| o == offer);
                    proptest::prop_assert!(k.is_some(), "offer {} is not in {:?}", offer, set);
                    counts[k.unwrap_or_default()] += 1;
                    *clicks += 1;
                    for (&o, &c) in set.iter().zip(counts.iter()) {
                        let w = u64::from(weights[o as usize - 1]);
                        proptest::prop_assert!(
                            (c * total).abs_diff(*clicks * w) < total,
                            "offer {} of {:?}: {} after {} clicks", o, set, c, clicks
                        );
                    }
                }
            }
        }
    }
}
