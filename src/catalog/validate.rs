//! Consistency rules of the catalog (docs/routing.md), shared by load, reload, `check` and API writes.
//!
//! [`validate`] never stops at the first problem: it returns every one, each with the JSON path
//! of the offending value, so an operator fixes a file in one pass.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::fmt;

use super::model::{Catalog, Conditions, LandingPage};
use crate::conditions::{Dimension, Rule, Rules, Side};
use crate::money::Money;
use crate::template::Template;
use crate::vocab::{CapKind, MAX_CAP, Source, SourceKind};

/// Highest `offer_weight`.
pub const MAX_WEIGHT: u32 = 100;
/// `optimize_window_hours`: at most the 30 days of hourly statistics every node keeps.
pub const OPTIMIZE_WINDOW_HOURS: std::ops::RangeInclusive<u32> = 1..=720;
/// `optimize_min_share`: a floor above a half would leave nothing to optimize between two
/// attachments.
pub const MAX_MIN_SHARE: f64 = 0.5;
/// Accepted `priority` range (lower is tried first): any signed 32-bit integer, 0 and
/// negative values included.
pub const PRIORITY_RANGE: std::ops::RangeInclusive<i64> = i32::MIN as i64..=i32::MAX as i64;
/// Creative types: 1 Banner, 2 Text Link, 3 Email, 4 HTML.
pub const CREATIVE_TYPES: std::ops::RangeInclusive<u8> = 1..=4;
/// Display link types: 1 standard, 2 encoded, 3 vanity.
pub const DISPLAY_LINK_TYPES: std::ops::RangeInclusive<u8> = 1..=3;
/// Most offers one smart link may carry; bounds the work of one click.
pub const MAX_ATTACHMENTS: usize = 1000;
/// Longest free-text value (names, sub_affiliate, coupon_code), in bytes.
pub const MAX_TEXT: usize = 255;

/// The entity lists of the catalog, in file order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Affiliates,
    Offers,
    LandingPages,
    Creatives,
    Campaigns,
    SmartLinks,
}

impl Kind {
    /// The key of this list in the catalog JSON.
    pub fn key(self) -> &'static str {
        match self {
            Kind::Affiliates => "affiliates",
            Kind::Offers => "offers",
            Kind::LandingPages => "landing_pages",
            Kind::Creatives => "creatives",
            Kind::Campaigns => "campaigns",
            Kind::SmartLinks => "smart_links",
        }
    }

    /// The name of the id field of this kind's entities.
    pub fn id_field(self) -> &'static str {
        match self {
            Kind::Affiliates => "affiliate_id",
            Kind::Offers => "offer_id",
            Kind::LandingPages => "landing_page_id",
            Kind::Creatives => "creative_id",
            Kind::Campaigns => "campaign_id",
            Kind::SmartLinks => "smart_link_id",
        }
    }
}

/// One thing wrong with a catalog, located by JSON path: `{kind}[{index}]{field}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub kind: Kind,
    pub index: usize,
    /// Path inside the entity, starting with `.` (e.g. `.offers[2].offer_weight`).
    pub field: String,
    pub message: String,
}

impl Problem {
    /// The JSON path of the offending value.
    pub fn path(&self) -> String {
        format!("{}[{}]{}", self.kind.key(), self.index, self.field)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path(), self.message)
    }
}

/// Ids of entities that exist in the file but failed to parse: references to them are not
/// reported again as dangling.
#[derive(Default, Debug)]
pub struct KnownIds {
    pub ids: HashMap<Kind, HashSet<u32>>,
}

/// A catalog that passed validation, with what validation parsed and resolved in it (URL
/// templates, targeting rules, the offer each attachment and campaign points at). The routing
/// table is compiled from this, so its compile cannot fail; the catalog as written is behind
/// `Deref` (API reads, saving).
#[derive(Debug)]
pub struct ValidCatalog {
    catalog: Catalog,
    pub parsed: Parsed,
}

impl std::ops::Deref for ValidCatalog {
    type Target = Catalog;
    fn deref(&self) -> &Catalog {
        &self.catalog
    }
}

/// What validation parsed, list by list in catalog order.
#[derive(Debug, Default)]
pub struct Parsed {
    pub offers: Vec<ParsedOffer>,
    pub landing_pages: Vec<ParsedLandingPage>,
    pub smart_links: Vec<ParsedLink>,
    /// The index (into `offers`) of each campaign's offer.
    pub campaigns: Vec<u32>,
    pub postback_urls: PostbackUrls,
    pub affiliate_payouts: AffiliatePayouts,
}

/// What the network pays affiliates per conversion (docs/routing.md#affiliate-payouts): each
/// offer's `affiliate_payout` (when not 0), and the overrides of campaigns and of smart-link
/// attachments (smart link id, offer id).
#[derive(Debug, Default)]
pub struct AffiliatePayouts {
    offers: HashMap<u32, Money>,
    campaigns: HashMap<u32, Money>,
    attachments: HashMap<(u32, u32), Money>,
}

impl AffiliatePayouts {
    /// The cost of a conversion of a click from `source` routed to `offer_id`: the
    /// campaign's or the attachment's override, else the offer's; 0 for a click that went to
    /// the fallback URL, or to an offer no longer in the catalog.
    pub fn of(&self, source: Source, offer_id: Option<u32>) -> Money {
        let Some(offer) = offer_id else {
            return Money::ZERO;
        };
        let own = match source.kind {
            SourceKind::Campaign => self.campaigns.get(&source.id),
            SourceKind::SmartLink => self.attachments.get(&(source.id, offer)),
        };
        own.or_else(|| self.offers.get(&offer))
            .copied()
            .unwrap_or(Money::ZERO)
    }
}

/// The partner postback URLs of the catalog, parsed, by the id of what carries them.
#[derive(Debug, Default)]
pub struct PostbackUrls {
    pub affiliates: HashMap<u32, Template>,
    pub campaigns: HashMap<u32, Template>,
    pub smart_links: HashMap<u32, Template>,
}

impl PostbackUrls {
    /// The URL a conversion of a click from `source` of `affiliate_id` fires: the campaign's
    /// or smart link's own, else its affiliate's; `None` when neither has one.
    pub fn of(&self, source: Source, affiliate_id: u32) -> Option<&Template> {
        let own = match source.kind {
            SourceKind::Campaign => &self.campaigns,
            SourceKind::SmartLink => &self.smart_links,
        };
        own.get(&source.id)
            .or_else(|| self.affiliates.get(&affiliate_id))
    }
}

#[derive(Debug)]
pub struct ParsedOffer {
    pub url: Template,
    /// `allowed_*` and `blocked_*`.
    pub rules: Rules,
    /// `health_check_url`, when given.
    pub health_check_url: Option<Template>,
}

#[derive(Debug)]
pub struct ParsedLandingPage {
    pub url: Template,
    /// Its `countries` and `devices`.
    pub rules: Rules,
    /// `health_check_url`, when given.
    pub health_check_url: Option<Template>,
}

#[derive(Debug)]
pub struct ParsedLink {
    pub fallback: Option<Template>,
    pub attachments: Vec<ParsedAttachment>,
}

#[derive(Debug)]
pub struct ParsedAttachment {
    /// Index into `Parsed::offers`.
    pub offer: u32,
    /// The attachment's own conditions (its offer's are merged in at compile time).
    pub rules: Rules,
}

/// Validates `catalog`: the catalog with what was parsed, or every problem.
pub fn validate(catalog: Catalog) -> Result<ValidCatalog, Vec<Problem>> {
    validate_with(catalog, &KnownIds::default())
}

/// As [`validate`], treating the ids in `broken` as existing.
pub fn validate_with(catalog: Catalog, broken: &KnownIds) -> Result<ValidCatalog, Vec<Problem>> {
    let mut v = Validator {
        problems: Vec::new(),
        broken,
        draft: Draft::default(),
    };
    v.run(&catalog);
    let Validator {
        mut problems,
        draft,
        ..
    } = v;
    match draft.finish() {
        Some(parsed) if problems.is_empty() => Ok(ValidCatalog { catalog, parsed }),
        Some(_) => Err(problems),
        None => {
            // References to entities that failed to parse resolve to nothing; those entities'
            // own errors stand for them. Otherwise every value that failed to parse is a
            // problem, and none is a bug.
            if problems.is_empty() && broken.ids.is_empty() {
                problems.push(Problem {
                    kind: Kind::Offers,
                    index: 0,
                    field: String::new(),
                    message: "internal error: a value failed to parse without a problem".into(),
                });
            }
            Err(problems)
        }
    }
}

/// Parsed values as validation finds them; `None` where a value did not parse.
#[derive(Default)]
struct Draft {
    offers: Vec<Option<ParsedOffer>>,
    landing_pages: Vec<Option<ParsedLandingPage>>,
    smart_links: Vec<Option<ParsedLink>>,
    campaigns: Vec<Option<u32>>,
    postback_urls: PostbackUrls,
    affiliate_payouts: AffiliatePayouts,
}

impl Draft {
    fn finish(self) -> Option<Parsed> {
        Some(Parsed {
            offers: self.offers.into_iter().collect::<Option<_>>()?,
            landing_pages: self.landing_pages.into_iter().collect::<Option<_>>()?,
            smart_links: self.smart_links.into_iter().collect::<Option<_>>()?,
            campaigns: self.campaigns.into_iter().collect::<Option<_>>()?,
            postback_urls: self.postback_urls,
            affiliate_payouts: self.affiliate_payouts,
        })
    }
}

struct Validator<'a> {
    problems: Vec<Problem>,
    broken: &'a KnownIds,
    draft: Draft,
}

/// Where in the catalog a check is looking.
#[derive(Clone, Copy)]
struct At(Kind, usize);

impl Validator<'_> {
    fn fail(&mut self, at: At, field: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            kind: at.0,
            index: at.1,
            field: field.into(),
            message: message.into(),
        });
    }

    /// Checks ids (positive, unique) of one list and returns the set of them.
    fn ids(&mut self, kind: Kind, ids: impl Iterator<Item = u32>) -> HashMap<u32, usize> {
        let mut seen = HashMap::default();
        for (i, id) in ids.enumerate() {
            let at = At(kind, i);
            let field = || format!(".{}", kind.id_field());
            if id == 0 {
                self.fail(at, field(), "must be a positive integer");
            } else if let Some(first) = seen.insert(id, i) {
                seen.insert(id, first);
                self.fail(
                    at,
                    field(),
                    format!("{id} is used twice ({}[{first}] has it too)", kind.key()),
                );
            }
        }
        seen
    }

    fn exists(&self, kind: Kind, table: &HashMap<u32, usize>, id: u32) -> bool {
        table.contains_key(&id) || self.broken.ids.get(&kind).is_some_and(|s| s.contains(&id))
    }

    fn reference(&mut self, at: At, field: &str, kind: Kind, table: &HashMap<u32, usize>, id: u32) {
        if !self.exists(kind, table, id) {
            self.fail(
                at,
                format!(".{field}"),
                format!("{} {id} does not exist", kind.key().trim_end_matches('s')),
            );
        }
    }

    fn text(&mut self, at: At, field: &str, value: &str, required: bool) {
        if required && value.trim().is_empty() {
            self.fail(at, format!(".{field}"), "must not be empty");
        } else if value.len() > MAX_TEXT {
            self.fail(
                at,
                format!(".{field}"),
                format!("is {} bytes long; at most {MAX_TEXT}", value.len()),
            );
        }
    }

    /// An entity's `postback_url`, parsed into the draft under `id` (a problem when it does
    /// not parse).
    fn postback_url(&mut self, at: At, id: u32, value: Option<&str>) {
        let Some(value) = value else { return };
        match Template::parse_postback(value) {
            Ok(t) => {
                let urls = &mut self.draft.postback_urls;
                let list = match at.0 {
                    Kind::Campaigns => &mut urls.campaigns,
                    Kind::SmartLinks => &mut urls.smart_links,
                    _ => &mut urls.affiliates,
                };
                list.insert(id, t);
            }
            Err(e) => self.fail(at, ".postback_url", format!("{value:?} {e}")),
        }
    }

    fn url(&mut self, at: At, field: &str, value: &str) -> Option<Template> {
        Template::parse(value)
            .map_err(|e| self.fail(at, format!(".{field}"), format!("{value:?} {e}")))
            .ok()
    }

    /// A `health_check_url` (a URL template, as the destination's own): `Some(None)` when
    /// absent, `None` when it does not parse.
    fn health_check_url(&mut self, at: At, url: Option<&str>) -> Option<Option<Template>> {
        match url {
            None => Some(None),
            Some(url) => self.url(at, "health_check_url", url).map(Some),
        }
    }

    /// The targeting rules written on `side` at `base` (`""` for an offer itself,
    /// `.offers[j]` for an attachment); every bad value is a problem.
    fn conditions(
        &mut self,
        at: At,
        base: &str,
        side: Side,
        conditions: &Conditions,
    ) -> Option<Rules> {
        let mut rules = Vec::new();
        let mut parsed = true;
        for (field, value) in conditions.iter() {
            let Some((dimension, exclude)) = Dimension::of_field(side, field) else {
                continue;
            };
            let path = format!("{base}.{field}");
            parsed &= self.condition(at, &path, dimension, exclude, value, &mut rules);
        }
        parsed.then(|| Rules::new(rules))
    }

    /// Parses one condition list written at `path` into `rules`; false (and every bad value
    /// a problem) when it does not parse.
    fn condition(
        &mut self,
        at: At,
        path: &str,
        dimension: Dimension,
        exclude: bool,
        value: &serde_json::Value,
        rules: &mut Vec<Rule>,
    ) -> bool {
        match dimension.parse(value) {
            Ok(sets) => {
                rules.extend(sets.into_iter().map(|set| Rule { set, exclude }));
                true
            }
            Err(errors) => {
                for (place, message) in errors {
                    self.fail(at, format!("{path}{place}"), message);
                }
                false
            }
        }
    }

    /// A landing page's rotation fields: its weight, and its `countries` and `devices`
    /// (include lists, parsed as an attachment's are).
    fn landing_page_rules(&mut self, at: At, l: &LandingPage) -> Option<Rules> {
        if !(1..=MAX_WEIGHT).contains(&l.landing_page_weight) {
            self.fail(
                at,
                ".landing_page_weight",
                format!("{} is out of range 1..={MAX_WEIGHT}", l.landing_page_weight),
            );
        }
        let mut rules = Vec::new();
        let mut parsed = true;
        for (dimension, value) in l.conditions() {
            if let Some(value) = value {
                let path = format!(".{}", dimension.field(Side::Attachment, false));
                parsed &= self.condition(at, &path, dimension, false, value, &mut rules);
            }
        }
        parsed.then(|| Rules::new(rules))
    }

    fn run(&mut self, c: &Catalog) {
        let affiliates = self.ids(
            Kind::Affiliates,
            c.affiliates.iter().map(|a| a.affiliate_id),
        );
        let offers = self.ids(Kind::Offers, c.offers.iter().map(|o| o.offer_id));
        let landing_pages = self.ids(
            Kind::LandingPages,
            c.landing_pages.iter().map(|l| l.landing_page_id),
        );
        let creatives = self.ids(Kind::Creatives, c.creatives.iter().map(|x| x.creative_id));
        self.ids(Kind::Campaigns, c.campaigns.iter().map(|x| x.campaign_id));
        self.ids(
            Kind::SmartLinks,
            c.smart_links.iter().map(|x| x.smart_link_id),
        );

        for (i, a) in c.affiliates.iter().enumerate() {
            self.text(
                At(Kind::Affiliates, i),
                "affiliate_name",
                &a.affiliate_name,
                true,
            );
            self.postback_url(
                At(Kind::Affiliates, i),
                a.affiliate_id,
                a.postback_url.as_deref(),
            );
        }
        for (i, o) in c.offers.iter().enumerate() {
            let at = At(Kind::Offers, i);
            self.text(at, "offer_name", &o.offer_name, true);
            let url = self.url(at, "offer_url", &o.offer_url);
            let rules = self.conditions(at, "", Side::Offer, &o.conditions);
            let health = self.health_check_url(at, o.health_check_url.as_deref());
            self.draft.offers.push(url.zip(rules).zip(health).map(
                |((url, rules), health_check_url)| ParsedOffer {
                    url,
                    rules,
                    health_check_url,
                },
            ));
            if o.affiliate_payout != Money::ZERO {
                self.draft
                    .affiliate_payouts
                    .offers
                    .insert(o.offer_id, o.affiliate_payout);
            }
            if let Some(token) = &o.postback_token
                && let Err(message) = check_token(token)
            {
                self.fail(at, ".postback_token", message);
            }
            for kind in CapKind::ALL {
                if let Some(value) = o.caps.get(kind)
                    && value > MAX_CAP
                {
                    self.fail(
                        at,
                        format!(".caps.{}", kind.as_str()),
                        format!("{value} is over the largest cap, {MAX_CAP}"),
                    );
                }
            }
        }
        for (i, l) in c.landing_pages.iter().enumerate() {
            let at = At(Kind::LandingPages, i);
            self.text(at, "landing_page_name", &l.landing_page_name, true);
            self.reference(at, "offer_id", Kind::Offers, &offers, l.offer_id);
            let url = self.url(at, "url", &l.url);
            let rules = self.landing_page_rules(at, l);
            let health = self.health_check_url(at, l.health_check_url.as_deref());
            self.draft
                .landing_pages
                .push(
                    url.zip(rules)
                        .zip(health)
                        .map(|((url, rules), health_check_url)| ParsedLandingPage {
                            url,
                            rules,
                            health_check_url,
                        }),
                );
        }
        for (i, x) in c.creatives.iter().enumerate() {
            let at = At(Kind::Creatives, i);
            self.text(at, "creative_name", &x.creative_name, true);
            self.reference(at, "offer_id", Kind::Offers, &offers, x.offer_id);
            if !CREATIVE_TYPES.contains(&x.creative_type_id) {
                self.fail(
                    at,
                    ".creative_type_id",
                    "must be 1 (Banner), 2 (Text Link), 3 (Email) or 4 (HTML)",
                );
            }
            for (field, value) in [("width", x.width), ("height", x.height)] {
                if value == Some(0) {
                    self.fail(at, format!(".{field}"), "must be positive when present");
                }
            }
        }
        for (i, x) in c.campaigns.iter().enumerate() {
            let at = At(Kind::Campaigns, i);
            self.reference(at, "offer_id", Kind::Offers, &offers, x.offer_id);
            self.draft
                .campaigns
                .push(offers.get(&x.offer_id).map(|&o| o as u32));
            self.reference(
                at,
                "affiliate_id",
                Kind::Affiliates,
                &affiliates,
                x.affiliate_id,
            );
            if !DISPLAY_LINK_TYPES.contains(&x.display_link_type_id) {
                self.fail(
                    at,
                    ".display_link_type_id",
                    "must be 1 (standard), 2 (encoded) or 3 (vanity)",
                );
            }
            if let Some(id) = x.creative_id {
                self.reference(at, "creative_id", Kind::Creatives, &creatives, id);
                if let Some(&ci) = creatives.get(&id)
                    && c.creatives[ci].offer_id != x.offer_id
                {
                    self.fail(
                        at,
                        ".creative_id",
                        format!(
                            "creative {id} belongs to offer {}, not to offer {}",
                            c.creatives[ci].offer_id, x.offer_id
                        ),
                    );
                }
            }
            if let Some(id) = x.landing_page_id {
                self.reference(
                    at,
                    "landing_page_id",
                    Kind::LandingPages,
                    &landing_pages,
                    id,
                );
                if let Some(&li) = landing_pages.get(&id)
                    && c.landing_pages[li].offer_id != x.offer_id
                {
                    self.fail(
                        at,
                        ".landing_page_id",
                        format!(
                            "landing page {id} belongs to offer {}, not to offer {}",
                            c.landing_pages[li].offer_id, x.offer_id
                        ),
                    );
                }
            }
            for (field, value) in [
                ("sub_affiliate", &x.sub_affiliate),
                ("coupon_code", &x.coupon_code),
            ] {
                if let Some(v) = value {
                    self.text(at, field, v, false);
                }
            }
            self.postback_url(at, x.campaign_id, x.postback_url.as_deref());
            if let Some(payout) = x.affiliate_payout {
                self.draft
                    .affiliate_payouts
                    .campaigns
                    .insert(x.campaign_id, payout);
            }
            if let Some(date) = &x.date_created
                && parse_date(date).is_none()
            {
                self.fail(
                    at,
                    ".date_created",
                    format!(
                        "{date:?} is not a date-time (e.g. \"2026-01-15T09:00:00Z\" or \"2026-01-15 09:00:00\")"
                    ),
                );
            }
        }
        for (i, s) in c.smart_links.iter().enumerate() {
            let at = At(Kind::SmartLinks, i);
            self.text(at, "smart_link_name", &s.smart_link_name, true);
            self.reference(
                at,
                "affiliate_id",
                Kind::Affiliates,
                &affiliates,
                s.affiliate_id,
            );
            self.postback_url(at, s.smart_link_id, s.postback_url.as_deref());
            let fallback = match &s.fallback_url {
                Some(url) => self.url(at, "fallback_url", url).map(Some),
                None => Some(None),
            };
            if let Some(hours) = s.optimize_window_hours
                && !OPTIMIZE_WINDOW_HOURS.contains(&hours)
            {
                self.fail(
                    at,
                    ".optimize_window_hours",
                    format!(
                        "{hours} is out of range {}..={} (a window reads at most {} days of hourly statistics)",
                        OPTIMIZE_WINDOW_HOURS.start(),
                        OPTIMIZE_WINDOW_HOURS.end(),
                        OPTIMIZE_WINDOW_HOURS.end() / 24
                    ),
                );
            }
            if let Some(share) = s.optimize_min_share
                && !(0.0..=MAX_MIN_SHARE).contains(&share)
            {
                self.fail(
                    at,
                    ".optimize_min_share",
                    format!("{share} is out of range 0..={MAX_MIN_SHARE}"),
                );
            }
            let mut attachments = Some(Vec::with_capacity(s.offers.len()));
            if s.offers.len() > MAX_ATTACHMENTS {
                self.fail(
                    at,
                    ".offers",
                    format!("has {} offers; at most {MAX_ATTACHMENTS}", s.offers.len()),
                );
            }
            let mut attached = HashMap::default();
            for (j, a) in s.offers.iter().enumerate() {
                let base = format_args!(".offers[{j}]");
                if !self.exists(Kind::Offers, &offers, a.offer_id) {
                    self.fail(
                        at,
                        format!("{base}.offer_id"),
                        format!("offer {} does not exist", a.offer_id),
                    );
                }
                if let Some(first) = attached.insert(a.offer_id, j) {
                    attached.insert(a.offer_id, first);
                    self.fail(
                        at,
                        format!("{base}.offer_id"),
                        format!(
                            "offer {} is attached twice (also at offers[{first}])",
                            a.offer_id
                        ),
                    );
                }
                if let Some(payout) = a.affiliate_payout {
                    self.draft
                        .affiliate_payouts
                        .attachments
                        .insert((s.smart_link_id, a.offer_id), payout);
                }
                if !(1..=MAX_WEIGHT).contains(&a.offer_weight) {
                    self.fail(
                        at,
                        format!("{base}.offer_weight"),
                        format!("{} is out of range 1..={MAX_WEIGHT}", a.offer_weight),
                    );
                }
                if !PRIORITY_RANGE.contains(&a.priority) {
                    self.fail(
                        at,
                        format!("{base}.priority"),
                        format!(
                            "{} is out of range {}..={}",
                            a.priority,
                            PRIORITY_RANGE.start(),
                            PRIORITY_RANGE.end()
                        ),
                    );
                }
                let rules = self.conditions(
                    at,
                    &format!(".offers[{j}]"),
                    Side::Attachment,
                    &a.conditions,
                );
                let parsed =
                    offers
                        .get(&a.offer_id)
                        .zip(rules)
                        .map(|(&offer, rules)| ParsedAttachment {
                            offer: offer as u32,
                            rules,
                        });
                match (attachments.as_mut(), parsed) {
                    (Some(list), Some(a)) => list.push(a),
                    _ => attachments = None,
                }
            }
            self.draft.smart_links.push(fallback.zip(attachments).map(
                |(fallback, attachments)| ParsedLink {
                    fallback,
                    attachments,
                },
            ));
        }
    }
}

/// Checks a postback token: 8 to 255 printable ASCII characters (it travels in a URL).
pub fn check_token(token: &str) -> Result<(), String> {
    if !(8..=MAX_TEXT).contains(&token.len()) {
        return Err(format!("must be 8 to {MAX_TEXT} characters long"));
    }
    if !token.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err("must be printable ASCII without spaces".into());
    }
    Ok(())
}

/// Parses `date_created`: RFC 3339, or `YYYY-MM-DD HH:MM:SS` taken as UTC (the API's form).
pub fn parse_date(text: &str) -> Option<jiff::Timestamp> {
    text.parse::<jiff::Timestamp>().ok().or_else(|| {
        jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M:%S", text)
            .ok()
            .and_then(|dt| dt.to_zoned(jiff::tz::TimeZone::UTC).ok())
            .map(|z| z.timestamp())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::model::*;

    fn sample() -> Catalog {
        serde_json::from_str(include_str!("../../config/network.json")).unwrap()
    }

    fn problems(c: &Catalog) -> Vec<Problem> {
        validate(c.clone()).err().unwrap_or_default()
    }

    #[test]
    fn the_demo_catalog_is_valid() {
        assert_eq!(problems(&sample()), vec![]);
    }

    #[test]
    fn an_override_wins_over_the_offer_s_affiliate_payout_and_absent_inherits() {
        let c: Catalog = serde_json::from_str(
            r#"{"affiliates":[{"affiliate_id":1,"affiliate_name":"a"}],
                "offers":[{"offer_id":7,"offer_name":"o","offer_status":"active","offer_url":"https://o.example/","payout":"9","affiliate_payout":"4.50"},
                          {"offer_id":8,"offer_name":"p","offer_status":"active","offer_url":"https://p.example/"}],
                "campaigns":[{"campaign_id":5,"offer_id":7,"affiliate_id":1,"campaign_status":"active","affiliate_payout":"3"},
                             {"campaign_id":6,"offer_id":7,"affiliate_id":1,"campaign_status":"active"}],
                "smart_links":[{"smart_link_id":3,"smart_link_name":"l","affiliate_id":1,"smart_link_status":"active",
                                "offers":[{"offer_id":7,"affiliate_payout":"0"},{"offer_id":8,"affiliate_payout":null}]}]}"#,
        )
        .unwrap();
        let saved = serde_json::to_string(&c).unwrap();
        assert!(saved.contains(r#""affiliate_payout":"4.50""#), "{saved}");
        assert_eq!(
            serde_json::from_str::<Catalog>(&saved).unwrap(),
            c,
            "saved and read back"
        );
        let v = validate(c).unwrap();
        let payout = |source, offer| v.parsed.affiliate_payouts.of(source, offer).to_string();
        assert_eq!(
            payout(Source::campaign(5), Some(7)),
            "3.00",
            "the campaign's"
        );
        assert_eq!(payout(Source::campaign(6), Some(7)), "4.50", "the offer's");
        assert_eq!(
            payout(Source::smart_link(3), Some(7)),
            "0.00",
            "an override of 0 holds"
        );
        assert_eq!(
            payout(Source::smart_link(3), Some(8)),
            "0.00",
            "the offer's: none"
        );
        assert_eq!(
            payout(Source::smart_link(4), Some(7)),
            "4.50",
            "no attachment: the offer's"
        );
        assert_eq!(
            payout(Source::smart_link(3), None),
            "0.00",
            "a fallback click's"
        );
        let negative = r#"{"offers":[{"offer_id":7,"offer_name":"o","offer_status":"active","offer_url":"https://o.example/","affiliate_payout":"-1"}]}"#;
        assert!(serde_json::from_str::<Catalog>(negative).is_err());
    }

    #[test]
    fn reports_every_problem_with_its_path() {
        let mut c = sample();
        c.offers[0].offer_url = "https://x.example/?c={clickid}".into();
        c.offers[1]
            .conditions
            .set("allowed_countries", serde_json::json!(["UK"]));
        c.offers[1].caps.weekly_conversions = Some(MAX_CAP + 1);
        c.offers.push(c.offers[2].clone());
        let link = &mut c.smart_links[0];
        link.offers[0].offer_weight = 0;
        link.offers[1].priority = i64::from(i32::MAX) + 1;
        link.offers.push(link.offers[0].clone());
        let mut conditions = Conditions::default();
        conditions.set("countries", serde_json::json!(["usa"]));
        link.offers.push(Attachment {
            offer_id: 999_999,
            offer_weight: 1,
            priority: 1,
            conditions,
            affiliate_payout: None,
        });
        link.affiliate_id = 4;
        c.campaigns[0].creative_id = Some(424_242);
        c.campaigns[0].date_created = Some("yesterday".into());

        let paths: Vec<String> = problems(&c).iter().map(Problem::path).collect();
        let n = c.offers.len() - 1;
        let k = c.smart_links[0].offers.len();
        assert_eq!(
            paths,
            [
                format!("offers[{n}].offer_id"),
                "offers[0].offer_url".into(),
                "offers[1].allowed_countries[0]".into(),
                "offers[1].caps.weekly_conversions".into(),
                "campaigns[0].creative_id".into(),
                "campaigns[0].date_created".into(),
                "smart_links[0].affiliate_id".into(),
                "smart_links[0].offers[0].offer_weight".into(),
                "smart_links[0].offers[1].priority".into(),
                format!("smart_links[0].offers[{}].offer_id", k - 2),
                format!("smart_links[0].offers[{}].offer_weight", k - 2),
                format!("smart_links[0].offers[{}].offer_id", k - 1),
                format!("smart_links[0].offers[{}].countries[0]", k - 1),
            ]
        );
    }

    #[test]
    fn references_to_broken_entities_are_not_reported_twice() {
        let mut c = sample();
        let removed = c.offers.remove(0);
        assert!(!problems(&c).is_empty());
        let mut broken = KnownIds::default();
        broken
            .ids
            .entry(Kind::Offers)
            .or_default()
            .insert(removed.offer_id);
        // Landing pages, creatives and campaigns may still point at offers[0]'s id.
        assert_eq!(validate_with(c, &broken).err(), Some(vec![]));
    }

    #[test]
    fn landing_page_rotation_fields_are_checked_with_their_paths() {
        let mut c = sample();
        let page = &mut c.landing_pages[0];
        page.landing_page_weight = 0;
        page.countries = Some(serde_json::json!(["GB", "uk"]));
        page.devices = Some(serde_json::json!("mobile"));
        let mut heavy = c.landing_pages[0].clone();
        heavy.landing_page_id = 9_999;
        heavy.landing_page_weight = MAX_WEIGHT + 1;
        heavy.countries = None;
        heavy.devices = Some(serde_json::json!(["mobile", "tablet"]));
        c.landing_pages.push(heavy);
        let n = c.landing_pages.len() - 1;
        let paths: Vec<String> = problems(&c).iter().map(Problem::path).collect();
        assert_eq!(
            paths,
            [
                "landing_pages[0].landing_page_weight".to_string(),
                "landing_pages[0].countries[1]".into(),
                "landing_pages[0].devices".into(),
                format!("landing_pages[{n}].landing_page_weight"),
            ]
        );
        // Rotation on an offer without landing pages is allowed: its clicks use offer_url.
        let mut c = sample();
        c.offers[0].landing_page_rotation = true;
        c.landing_pages.clear();
        c.campaigns
            .iter_mut()
            .for_each(|x| x.landing_page_id = None);
        assert_eq!(problems(&c), vec![]);
    }

    #[test]
    fn parses_both_date_forms() {
        assert!(parse_date("2026-01-15T09:00:00Z").is_some());
        assert!(parse_date("2026-06-19 09:45:00").is_some());
        assert!(parse_date("2026-06-19").is_none());
    }
}
