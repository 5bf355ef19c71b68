//! The compiled, immutable routing table: what the hot path reads.
//!
//! `compile` turns a [`ValidCatalog`] into flat arrays: ids resolved to indices, each
//! attachment's targeting rules merged with its offer's (include sets intersected once),
//! attachments sorted by priority and cut into groups. Everything it needs was parsed and
//! resolved by validation, so a compile cannot fail. Nothing here is mutated after compile;
//! a change to the catalog compiles a new table that is swapped in whole. What clicks change
//! (counters, exact rotation's runs) lives in `counts`, and the table holds `Arc`s to it.

use std::ops::Range;
use std::sync::Arc;

use rand::Rng;
use rustc_hash::FxHashMap;

use super::landing::{LandingPages, Page};
use super::rotation::{Schedule, set_key};
use crate::catalog::{
    Caps, LinkStatus, ParsedAttachment, Rotation, SmartLink, Status, ValidCatalog,
};
use crate::conditions::{Attributes, Dimension, Failed, Rules};
use crate::counts::{
    CapLimits, Counts, DownFlag, OfferCaps, RouteCounters, Run, SourceCounters, WEIGHT_SCALE,
};
use crate::money::Money;
use crate::template::Template;
use crate::vocab::{CapKind, Destination, Source, SourceKind};

/// Why an attachment cannot take a click.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skip {
    OfferPaused,
    OfferDeleted,
    /// A targeting condition turned the click away.
    Condition(Dimension, Failed),
    /// The offer has reached this cap (or the click lost the race for its last place).
    Capped(CapKind),
    /// Health checks found the offer's destination down.
    DestinationDown,
}

impl Skip {
    pub fn as_str(self) -> &'static str {
        match self {
            Skip::OfferPaused => "offer_paused",
            Skip::OfferDeleted => "offer_deleted",
            Skip::Condition(dimension, failed) => dimension.reason(failed),
            Skip::Capped(_) => "capped",
            Skip::DestinationDown => "destination_down",
        }
    }
}

#[derive(Debug)]
pub struct Offer {
    pub id: u32,
    pub status: Status,
    pub url: Template,
    /// The offer's `allowed_*` and `blocked_*` conditions.
    pub rules: Rules,
    /// The offer's caps; `None` when it has none.
    pub caps: Option<OfferCaps>,
    /// The token its postbacks must carry, in place of the network-wide one.
    pub postback_token: Option<Box<str>>,
    /// Its conversions' revenue when the postback gives no amount.
    pub payout: Money,
    /// With `landing_page_rotation` and an active landing page: the pages its routed clicks
    /// are drawn among (`landing`).
    pub landing_pages: Option<LandingPages>,
    /// Its down flag when health checks watch it.
    pub down: Option<Arc<DownFlag>>,
}

#[derive(Debug)]
pub struct Attachment {
    /// Index into [`RoutingTable::offers`].
    pub offer: u32,
    pub offer_id: u32,
    pub weight: u32,
    pub priority: i64,
    /// The attachment's conditions and its offer's, merged: a click must pass all.
    pub rules: Rules,
    /// Set when the attachment can never qualify in this table (paused or deleted offer).
    pub blocked: Option<Skip>,
    /// The offer's caps; `None` when it has none (nothing to check).
    pub caps: Option<OfferCaps>,
    /// The offer's down flag when health checks watch it (`None`: nothing to check).
    pub down: Option<Arc<DownFlag>>,
    /// Clicks of this link routed to this offer, and their conversions.
    pub counters: Arc<RouteCounters>,
}

#[derive(Debug)]
pub struct Link {
    pub id: u32,
    pub affiliate_id: u32,
    pub active: bool,
    /// The link's own fallback; the table's default when `None`.
    pub fallback: Option<Template>,
    /// Sorted by priority (stable: file order within a priority).
    pub attachments: Box<[Attachment]>,
    /// Ranges of `attachments` sharing one priority, in ascending priority.
    pub groups: Box<[Range<usize>]>,
    pub rotation: LinkRotation,
    /// The link's fallback counts and its runs of exact rotation.
    pub counters: Arc<SourceCounters>,
}

impl Link {
    /// The weight `a` (one of this link's attachments) is drawn with: its `offer_weight`, or
    /// on an optimized link the optimizer's weight in millionths (never 0, so that a draw's
    /// range is never empty).
    #[inline]
    pub fn weight(&self, a: &Attachment) -> u32 {
        match self.rotation {
            LinkRotation::Optimized(_) => a.counters.weight().max(1),
            _ => a.weight,
        }
    }
}

/// How the qualifying attachments of a link's deciding group share its clicks.
#[derive(Debug)]
pub enum LinkRotation {
    /// A weighted random draw.
    Random,
    /// Exact rotation (`rotation`). By group: the run of the attachments that can qualify in
    /// this table (those of active offers), the set most clicks have, found at compile so
    /// that its clicks go straight to it; `None` when none can.
    Exact(Box<[Option<Arc<Run>>]>),
    /// A weighted random draw over each attachment's optimized weight
    /// (`RouteCounters::weight`), which the optimizer recomputes off the click path.
    Optimized(Optimize),
}

/// Optimized rotation's settings of a smart link.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Optimize {
    /// `optimize_window_hours`: the hours of statistics the estimates read.
    pub window_hours: u32,
    /// `optimize_min_share`: the least share of its priority's clicks an attachment gets.
    pub min_share: f64,
}

impl Optimize {
    pub const DEFAULT: Optimize = Optimize {
        window_hours: 168,
        min_share: 0.05,
    };

    pub fn of(link: &SmartLink) -> Optimize {
        Optimize {
            window_hours: link
                .optimize_window_hours
                .unwrap_or(Self::DEFAULT.window_hours),
            min_share: link.optimize_min_share.unwrap_or(Self::DEFAULT.min_share),
        }
    }
}

impl LinkRotation {
    /// As the catalog names it.
    pub fn as_str(&self) -> &'static str {
        match self {
            LinkRotation::Random => Rotation::Random.as_str(),
            LinkRotation::Exact(_) => Rotation::Exact.as_str(),
            LinkRotation::Optimized(_) => Rotation::Optimized.as_str(),
        }
    }
}

/// A campaign: one affiliate's tracking link to one offer (`/rd`). It routes as a link with
/// one attachment (its offer, no rule of its own, the default fallback), so that a campaign
/// click is decided, capped and counted exactly like a smart-link click.
#[derive(Debug)]
pub struct Campaign {
    /// `active` when the campaign is `active` and so is its offer: only then are clicks
    /// recorded.
    pub link: Link,
    /// Index into the table's landing pages, when the campaign has an active one; routed
    /// clicks go to its offer's landing-page rotation or URL otherwise.
    pub landing_page: Option<u32>,
    /// The default `s1` of the campaign's clicks.
    pub sub_affiliate: Option<Box<str>>,
}

/// The table the hot path routes with.
#[derive(Debug)]
pub struct RoutingTable {
    offers: Box<[Offer]>,
    offer_index: FxHashMap<u32, u32>,
    links: Box<[Link]>,
    link_index: FxHashMap<u32, u32>,
    campaigns: Box<[Campaign]>,
    campaign_index: FxHashMap<u32, u32>,
    /// Every active landing page (campaigns' own pages index it).
    landing_pages: Box<[Page]>,
    default_fallback: Template,
}

impl RoutingTable {
    /// Compiles a validated catalog. `default_fallback` serves links without a fallback URL;
    /// counters are taken from (or created in) `counts`.
    pub fn compile(catalog: &ValidCatalog, default_fallback: Template, counts: &Counts) -> Self {
        RoutingTable::build(catalog, default_fallback, counts, None)
    }

    /// As [`RoutingTable::compile`], taking the counters of links and campaigns that
    /// `previous` already has from it rather than from `counts` (they are the same
    /// counters): on a large network most of a compile is those lookups, and an API write
    /// changes a few entities of a table that is otherwise the previous one.
    pub fn compile_after(
        catalog: &ValidCatalog,
        default_fallback: Template,
        counts: &Counts,
        previous: &RoutingTable,
    ) -> Self {
        RoutingTable::build(catalog, default_fallback, counts, Some(previous))
    }

    fn build(
        catalog: &ValidCatalog,
        default_fallback: Template,
        counts: &Counts,
        previous: Option<&RoutingTable>,
    ) -> Self {
        let parsed = &catalog.parsed;
        let offer_index: FxHashMap<u32, u32> = catalog
            .offers
            .iter()
            .enumerate()
            .map(|(i, o)| (o.offer_id, i as u32))
            .collect();
        let mut landing_pages = Vec::new();
        let mut landing_index = FxHashMap::default();
        for (l, p) in catalog.landing_pages.iter().zip(&parsed.landing_pages) {
            if l.landing_page_status == Status::Active {
                landing_index.insert(l.landing_page_id, landing_pages.len() as u32);
                landing_pages.push(Page {
                    id: l.landing_page_id,
                    url: p.url.clone(),
                    weight: l.landing_page_weight,
                    rules: p.rules.clone(),
                    counters: counts.landing_page(l.offer_id, l.landing_page_id),
                    down: None,
                });
            }
        }
        let mut rotated: FxHashMap<u32, Vec<Page>> = catalog
            .offers
            .iter()
            .filter(|o| o.landing_page_rotation)
            .map(|o| (o.offer_id, Vec::new()))
            .collect();
        for (l, page) in catalog
            .landing_pages
            .iter()
            .filter(|l| l.landing_page_status == Status::Active)
            .zip(&landing_pages)
        {
            if let Some(pages) = rotated.get_mut(&l.offer_id) {
                pages.push(page.clone());
            }
        }
        let offers: Vec<Offer> = catalog
            .offers
            .iter()
            .zip(&parsed.offers)
            .map(|(o, p)| Offer {
                id: o.offer_id,
                status: o.offer_status,
                url: p.url.clone(),
                rules: p.rules.clone(),
                caps: (o.caps != Caps::default()).then(|| OfferCaps {
                    limits: CapLimits::of(&o.caps),
                    counters: counts.offer(o.offer_id),
                }),
                postback_token: o.postback_token.as_deref().map(Box::from),
                payout: o.payout,
                landing_pages: rotated.remove(&o.offer_id).and_then(LandingPages::new),
                down: None,
            })
            .collect();

        let compiler = Compiler {
            offers: &offers,
            counts,
            previous,
        };
        let mut link_index = FxHashMap::default();
        let links: Vec<Link> = catalog
            .smart_links
            .iter()
            .zip(&parsed.smart_links)
            .enumerate()
            .map(|(i, (s, p))| {
                link_index.insert(s.smart_link_id, i as u32);
                compiler.link(
                    Source::smart_link(s.smart_link_id),
                    s.affiliate_id,
                    s.smart_link_status == LinkStatus::Active,
                    p.fallback.clone(),
                    (s.rotation, Optimize::of(s)),
                    s.offers
                        .iter()
                        .map(|a| (a.offer_weight, a.priority))
                        .zip(&p.attachments),
                )
            })
            .collect();

        let mut campaign_index = FxHashMap::default();
        let campaigns: Vec<Campaign> = catalog
            .campaigns
            .iter()
            .zip(&parsed.campaigns)
            .enumerate()
            .map(|(i, (c, &offer))| {
                campaign_index.insert(c.campaign_id, i as u32);
                let only_offer = ParsedAttachment {
                    offer,
                    rules: Rules::default(),
                };
                let offer_active = offers[offer as usize].status == Status::Active;
                Campaign {
                    link: compiler.link(
                        Source::campaign(c.campaign_id),
                        c.affiliate_id,
                        c.campaign_status == Status::Active && offer_active,
                        None,
                        (Rotation::Random, Optimize::DEFAULT),
                        std::iter::once(((1, 1), &only_offer)),
                    ),
                    landing_page: c
                        .landing_page_id
                        .and_then(|id| landing_index.get(&id).copied()),
                    sub_affiliate: c.sub_affiliate.as_deref().map(Box::from),
                }
            })
            .collect();
        RoutingTable {
            offers: offers.into_boxed_slice(),
            offer_index,
            links: links.into_boxed_slice(),
            link_index,
            campaigns: campaigns.into_boxed_slice(),
            campaign_index,
            landing_pages: landing_pages.into_boxed_slice(),
            default_fallback,
        }
    }

    /// The campaign with this id.
    #[inline]
    pub fn campaign(&self, id: u32) -> Option<&Campaign> {
        self.campaign_index
            .get(&id)
            .map(|&i| &self.campaigns[i as usize])
    }

    /// A campaign's own landing page, when it has an active one.
    #[inline]
    pub fn campaign_landing_page(&self, campaign: &Campaign) -> Option<&Page> {
        campaign
            .landing_page
            .and_then(|i| self.landing_pages.get(i as usize))
    }

    /// The smart link with this id.
    #[inline]
    pub fn link(&self, id: u32) -> Option<&Link> {
        self.link_index.get(&id).map(|&i| &self.links[i as usize])
    }

    /// The offer with this id.
    pub fn offer_by_id(&self, id: u32) -> Option<&Offer> {
        self.offer_index.get(&id).map(|&i| &self.offers[i as usize])
    }

    /// The offer an attachment points at.
    #[inline]
    pub fn offer(&self, attachment: &Attachment) -> &Offer {
        &self.offers[attachment.offer as usize]
    }

    /// Where a link's unrouted clicks go.
    #[inline]
    pub fn fallback<'a>(&'a self, link: &'a Link) -> &'a Template {
        link.fallback.as_ref().unwrap_or(&self.default_fallback)
    }

    /// Every offer, in catalog order.
    pub fn offers(&self) -> &[Offer] {
        &self.offers
    }

    /// Every smart link, in catalog order.
    pub fn links(&self) -> &[Link] {
        &self.links
    }

    /// Offers and landing pages health checks found down (0 with health checks off).
    pub fn destinations_down(&self) -> u64 {
        let offers = self
            .offers
            .iter()
            .filter(|o| o.down.as_ref().is_some_and(|d| d.is_down()));
        let pages = self.landing_pages.iter().filter(|p| p.is_down());
        (offers.count() + pages.count()) as u64
    }

    /// Health checks on: gives every offer and landing page they watch (`health_check` not
    /// false) its destination's down flag from `counts`, and each attachment its offer's, so
    /// that a click reads one flag beside the caps. Without this (health checks off) nothing
    /// has a flag and a click checks nothing.
    pub fn watch_destinations(&mut self, catalog: &ValidCatalog, counts: &Counts) {
        let unchecked: rustc_hash::FxHashSet<Destination> = catalog
            .offers
            .iter()
            .filter(|o| !o.health_check)
            .map(|o| Destination::offer(o.offer_id))
            .chain(
                catalog
                    .landing_pages
                    .iter()
                    .filter(|l| !l.health_check)
                    .map(|l| Destination::landing_page(l.landing_page_id)),
            )
            .collect();
        let flag = |d: Destination| (!unchecked.contains(&d)).then(|| counts.down_flag(d));
        for offer in self.offers.iter_mut() {
            offer.down = flag(Destination::offer(offer.id));
            if let Some(pages) = &mut offer.landing_pages {
                pages.watch(|id| flag(Destination::landing_page(id)));
            }
        }
        for page in self.landing_pages.iter_mut() {
            page.down = flag(Destination::landing_page(page.id));
        }
        let offers = &self.offers;
        let links = self
            .links
            .iter_mut()
            .chain(self.campaigns.iter_mut().map(|c| &mut c.link));
        for link in links {
            for a in link.attachments.iter_mut() {
                a.down = offers[a.offer as usize].down.clone();
            }
        }
    }
}

/// What compiling a link needs from the rest of the table.
struct Compiler<'a> {
    offers: &'a [Offer],
    counts: &'a Counts,
    previous: Option<&'a RoutingTable>,
}

impl Compiler<'_> {
    /// A link of `source` (a smart link, or a campaign's one-offer link): each attachment's
    /// rules merged with its offer's, sorted by priority and cut into groups. `attachments`
    /// gives each one's weight and priority with what validation parsed of it.
    fn link<'p>(
        &self,
        source: Source,
        affiliate_id: u32,
        active: bool,
        fallback: Option<Template>,
        (rotation, optimize): (Rotation, Optimize),
        attachments: impl Iterator<Item = ((u32, i64), &'p ParsedAttachment)>,
    ) -> Link {
        let before = self.previous.and_then(|t| match source.kind {
            SourceKind::SmartLink => t.link(source.id),
            SourceKind::Campaign => t.campaign(source.id).map(|c| &c.link),
        });
        let route_counters = |offer_id: u32| {
            before
                .and_then(|l| l.attachments.iter().find(|a| a.offer_id == offer_id))
                .map(|a| Arc::clone(&a.counters))
                .unwrap_or_else(|| self.counts.route(source, offer_id))
        };
        let mut compiled: Vec<Attachment> = attachments
            .map(|((weight, priority), a)| {
                let o = &self.offers[a.offer as usize];
                Attachment {
                    offer: a.offer,
                    offer_id: o.id,
                    weight,
                    priority,
                    rules: a.rules.merge(&o.rules),
                    blocked: match o.status {
                        Status::Active => None,
                        Status::Paused => Some(Skip::OfferPaused),
                        Status::Deleted => Some(Skip::OfferDeleted),
                    },
                    caps: o.caps.clone(),
                    down: o.down.clone(),
                    counters: route_counters(o.id),
                }
            })
            .collect();
        compiled.sort_by_key(|a| a.priority);
        let mut groups: Vec<Range<usize>> = Vec::with_capacity(compiled.len());
        for (i, a) in compiled.iter().enumerate() {
            match groups.last_mut() {
                Some(g) if compiled[g.start].priority == a.priority => g.end = i + 1,
                _ => groups.push(i..i + 1),
            }
        }
        let counters =
            before.map_or_else(|| self.counts.source(source), |l| Arc::clone(&l.counters));
        counters.set_affiliate(affiliate_id);
        let rotation = match rotation {
            Rotation::Random => LinkRotation::Random,
            Rotation::Exact => LinkRotation::Exact(
                groups
                    .iter()
                    .map(|g| {
                        let can_qualify =
                            || compiled[g.clone()].iter().filter(|a| a.blocked.is_none());
                        let order = || Schedule::new(can_qualify().map(|a| a.weight)).collect();
                        let key = set_key(can_qualify().map(|a| (a.offer_id, a.weight)));
                        (key.members > 0).then(|| counters.runs().run(key, order))
                    })
                    .collect(),
            ),
            Rotation::Optimized => {
                // Until the optimizer's first pass, each attachment's share is its weight's.
                for g in &groups {
                    let group = &compiled[g.clone()];
                    let total: u64 = group.iter().map(|a| u64::from(a.weight)).sum();
                    for a in group {
                        let share = u64::from(a.weight) * u64::from(WEIGHT_SCALE) / total.max(1);
                        a.counters.init_weight(share.max(1) as u32);
                    }
                }
                LinkRotation::Optimized(optimize)
            }
        };
        Link {
            id: source.id,
            affiliate_id,
            active,
            fallback,
            attachments: compiled.into_boxed_slice(),
            groups: groups.into_boxed_slice(),
            rotation,
            counters,
        }
    }
}

impl RoutingTable {
    /// The landing page of a click routed to `offer` (from `campaign`, for a campaign click):
    /// the campaign's own active page, else the offer's rotation's draw; `None` sends it to
    /// the offer's URL.
    #[inline]
    pub fn landing_page<'t, A, R>(
        &'t self,
        campaign: Option<&'t Campaign>,
        offer: &'t Offer,
        attrs: &mut A,
        rng: &mut R,
    ) -> Option<&'t Page>
    where
        A: Attributes + ?Sized,
        R: Rng + ?Sized,
    {
        // A campaign's own page that is down sends its clicks where the offer's go.
        match campaign
            .and_then(|c| self.campaign_landing_page(c))
            .filter(|p| !p.is_down())
        {
            Some(own) => Some(own),
            None => offer.landing_pages.as_ref()?.draw(attrs, rng),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Catalog, validate};
    use crate::conditions::Set;
    use serde_json::json;

    fn valid(catalog: Catalog) -> ValidCatalog {
        validate(catalog).unwrap()
    }

    fn demo() -> Catalog {
        serde_json::from_str(include_str!("../../config/network.json")).unwrap()
    }

    fn table() -> RoutingTable {
        RoutingTable::compile(
            &valid(demo()),
            Template::parse("https://d.example/").unwrap(),
            &Counts::default(),
        )
    }

    #[test]
    fn attachments_are_grouped_by_ascending_priority() {
        let t = table();
        for link in t.links.iter() {
            let mut last = i64::MIN;
            let mut covered = 0;
            for g in link.groups.iter() {
                assert_eq!(g.start, covered, "groups are contiguous");
                covered = g.end;
                let p = link.attachments[g.start].priority;
                assert!(p > last, "priorities ascend");
                assert!(link.attachments[g.clone()].iter().all(|a| a.priority == p));
                last = p;
            }
            assert_eq!(covered, link.attachments.len());
        }
    }

    #[test]
    fn conditions_are_intersected_with_the_offer() {
        let catalog: Catalog = serde_json::from_str(
            r#"{"affiliates":[{"affiliate_id":1,"affiliate_name":"a"}],
            "offers":[{"offer_id":7,"offer_name":"o","offer_status":"paused",
              "offer_url":"https://o.example/","allowed_countries":["US","CA"],
              "allowed_devices":["mobile","tablet"]}],
            "smart_links":[{"smart_link_id":3,"smart_link_name":"l","affiliate_id":1,
              "smart_link_status":"inactive","offers":[
                {"offer_id":7,"priority":2,"countries":["CA","GB"],"devices":["tablet","desktop"]}]}]}"#,
        )
        .unwrap();
        let t = RoutingTable::compile(
            &valid(catalog),
            Template::parse("https://d.example/").unwrap(),
            &Counts::default(),
        );
        let link = t.link(3).unwrap();
        assert!(!link.active);
        assert_eq!(t.fallback(link).as_str(), "https://d.example/");
        let a = &link.attachments[0];
        let include = |d| a.rules.include(d).map(Set::to_json);
        assert_eq!(include(Dimension::Country), Some(json!(["CA"])));
        assert_eq!(include(Dimension::Device), Some(json!(["tablet"])));
        assert_eq!(a.blocked, Some(Skip::OfferPaused));
        assert_eq!(t.offer(a).id, 7);
        assert!(t.link(4).is_none());
    }

    #[test]
    fn compile_after_shares_the_same_counters_as_the_registry() {
        let counts = Counts::default();
        let fallback = Template::parse("https://d.example/").unwrap();
        let mut catalog = demo();
        let first = RoutingTable::compile(&valid(catalog.clone()), fallback.clone(), &counts);
        // An edit: link 301 gets offer 1045, campaign 98001 changes status.
        catalog.smart_links[0]
            .offers
            .push(crate::catalog::Attachment {
                offer_id: 1045,
                offer_weight: 5,
                priority: 3,
                conditions: Default::default(),
                affiliate_payout: None,
            });
        catalog.campaigns[0].campaign_status = Status::Paused;
        let catalog = valid(catalog);
        let next = RoutingTable::compile_after(&catalog, fallback.clone(), &counts, &first);
        let fresh = RoutingTable::compile(&catalog, fallback, &counts);
        for (a, b) in next.links.iter().zip(fresh.links.iter()) {
            assert!(Arc::ptr_eq(&a.counters, &b.counters), "link {}", a.id);
            for (x, y) in a.attachments.iter().zip(b.attachments.iter()) {
                assert_eq!(x.offer_id, y.offer_id);
                assert!(
                    Arc::ptr_eq(&x.counters, &y.counters),
                    "link {} offer {}",
                    a.id,
                    x.offer_id
                );
            }
        }
        for (a, b) in next.campaigns.iter().zip(fresh.campaigns.iter()) {
            assert!(Arc::ptr_eq(&a.link.counters, &b.link.counters));
            assert!(Arc::ptr_eq(
                &a.link.attachments[0].counters,
                &b.link.attachments[0].counters
            ));
        }
        assert!(!next.campaign(98001).unwrap().link.active);
        assert_eq!(next.link(301).unwrap().attachments.len(), 4);
    }
}
