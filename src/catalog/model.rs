//! The catalog's entities, exactly as the JSON file (and the management API) spells them.
//!
//! These are plain serde mirrors: they say what a well-typed file looks like, not whether it is
//! consistent. Consistency (references, ranges, URLs) is `validate`'s job; the hot path never
//! sees these types, only the compiled routing table.

use serde::de::{Error as _, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::conditions::{Dimension, Side};
use crate::money::Money;
use crate::vocab::{CapKind, Entity};

/// The whole network (docs/routing.md). Every list may be absent, meaning empty.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    #[serde(default)]
    pub affiliates: Vec<Affiliate>,
    #[serde(default)]
    pub offers: Vec<Offer>,
    #[serde(default)]
    pub landing_pages: Vec<LandingPage>,
    #[serde(default)]
    pub creatives: Vec<Creative>,
    #[serde(default)]
    pub campaigns: Vec<Campaign>,
    #[serde(default)]
    pub smart_links: Vec<SmartLink>,
}

impl Catalog {
    /// The largest id of `entity` in the catalog (0 when it has none).
    pub fn largest_id(&self, entity: Entity) -> u32 {
        fn max<T>(items: &[T], id: fn(&T) -> u32) -> u32 {
            items.iter().map(id).max().unwrap_or(0)
        }
        match entity {
            Entity::Affiliate => max(&self.affiliates, |x| x.affiliate_id),
            Entity::Offer => max(&self.offers, |x| x.offer_id),
            Entity::LandingPage => max(&self.landing_pages, |x| x.landing_page_id),
            Entity::Creative => max(&self.creatives, |x| x.creative_id),
            Entity::Campaign => max(&self.campaigns, |x| x.campaign_id),
            Entity::SmartLink => max(&self.smart_links, |x| x.smart_link_id),
        }
    }
}

/// Status of offers, campaigns, creatives and landing pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Active,
    Paused,
    Deleted,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Paused => "paused",
            Status::Deleted => "deleted",
        }
    }
}

/// Status of a smart link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkStatus {
    Active,
    Inactive,
}

impl LinkStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkStatus::Active => "active",
            LinkStatus::Inactive => "inactive",
        }
    }
}

/// How the qualifying attachments of a smart link's deciding priority share its clicks
/// (docs/routing.md#rotation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rotation {
    /// A weighted random draw for each click.
    #[default]
    Random,
    /// Each qualifying set's clicks in a fixed order that gives every attachment its weight's
    /// share, within one click, after every click.
    Exact,
    /// A weighted random draw over weights the server recomputes from each attachment's
    /// recent EPC (Thompson sampling, `offer_weight` the prior).
    Optimized,
}

impl Rotation {
    pub fn as_str(self) -> &'static str {
        match self {
            Rotation::Random => "random",
            Rotation::Exact => "exact",
            Rotation::Optimized => "optimized",
        }
    }

    /// The default: the catalog file and the seed-shaped answers leave it out.
    pub fn is_random(&self) -> bool {
        *self == Rotation::Random
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Affiliate {
    pub affiliate_id: u32,
    pub affiliate_name: String,
    /// Partner postback URL template (docs/api.md#partner-postbacks): fired for each
    /// conversion of the affiliate's clicks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postback_url: Option<String>,
}

/// An offer. Its targeting conditions (`allowed_countries`, `blocked_os`, ...) are kept as
/// written in [`Conditions`]; see `conditions::Dimension` for the names.
#[derive(Clone, Debug, PartialEq)]
pub struct Offer {
    pub offer_id: u32,
    pub offer_name: String,
    pub offer_status: Status,
    pub offer_url: String,
    pub conditions: Conditions,
    pub caps: Caps,
    /// The token this offer's postbacks must carry, in place of the network-wide one.
    pub postback_token: Option<String>,
    /// The network's revenue per conversion when the postback gives no amount.
    pub payout: Money,
    /// What the network pays the affiliate per conversion (a campaign or an attachment may
    /// override it): the conversion's cost.
    pub affiliate_payout: Money,
    /// Routed clicks go to one of its landing pages, drawn by weight (docs/routing.md).
    pub landing_page_rotation: bool,
    /// Health checks probe its destination (when `[health]` is enabled); false turns them
    /// off for this offer.
    pub health_check: bool,
    /// The URL health checks probe, in place of `offer_url` (a template, as `offer_url`).
    pub health_check_url: Option<String>,
}

/// Per-offer caps; `null` (or absent) means no cap. Enforced through `counts` (docs/routing.md).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Caps {
    #[serde(default)]
    pub daily_clicks: Option<u64>,
    #[serde(default)]
    pub daily_conversions: Option<u64>,
    #[serde(default)]
    pub weekly_conversions: Option<u64>,
    #[serde(default)]
    pub monthly_conversions: Option<u64>,
    #[serde(default)]
    pub total_conversions: Option<u64>,
}

impl Caps {
    /// The cap of `kind`; `None` when not set.
    pub fn get(&self, kind: CapKind) -> Option<u64> {
        match kind {
            CapKind::DailyClicks => self.daily_clicks,
            CapKind::DailyConversions => self.daily_conversions,
            CapKind::WeeklyConversions => self.weekly_conversions,
            CapKind::MonthlyConversions => self.monthly_conversions,
            CapKind::TotalConversions => self.total_conversions,
        }
    }

    pub fn get_mut(&mut self, kind: CapKind) -> &mut Option<u64> {
        match kind {
            CapKind::DailyClicks => &mut self.daily_clicks,
            CapKind::DailyConversions => &mut self.daily_conversions,
            CapKind::WeeklyConversions => &mut self.weekly_conversions,
            CapKind::MonthlyConversions => &mut self.monthly_conversions,
            CapKind::TotalConversions => &mut self.total_conversions,
        }
    }
}

/// A landing page of an offer. The rotation fields (weight, countries, devices) are left out
/// when they have their defaults, so that a page written before rotation reads and answers
/// exactly as it did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LandingPage {
    pub landing_page_id: u32,
    pub landing_page_name: String,
    pub offer_id: u32,
    pub url: String,
    pub landing_page_status: Status,
    /// Its share of its offer's rotated clicks among the qualifying pages (1..=100).
    #[serde(
        default = "default_landing_page_weight",
        skip_serializing_if = "is_default_landing_page_weight"
    )]
    pub landing_page_weight: u32,
    /// Include lists of `LandingPage::DIMENSIONS`, as written (validation parses them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub countries: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devices: Option<Value>,
    /// Health checks probe its URL (when `[health]` is enabled); false turns them off.
    #[serde(default = "checked", skip_serializing_if = "is_checked")]
    pub health_check: bool,
    /// The URL health checks probe, in place of `url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_url: Option<String>,
}

/// `health_check` when not written: checked.
pub const fn checked() -> bool {
    true
}

fn is_checked(on: &bool) -> bool {
    *on
}

impl LandingPage {
    /// The targeting dimensions a landing page may have, written with the attachment's
    /// names (`countries`, `devices`).
    pub const DIMENSIONS: [Dimension; 2] = [Dimension::Country, Dimension::Device];

    /// The list of each of [`LandingPage::DIMENSIONS`], if written.
    pub fn conditions(&self) -> [(Dimension, Option<&Value>); 2] {
        [
            (Dimension::Country, self.countries.as_ref()),
            (Dimension::Device, self.devices.as_ref()),
        ]
    }

    /// The slot of a dimension's list (`None` for a dimension pages do not have).
    pub fn condition_mut(&mut self, d: Dimension) -> Option<&mut Option<Value>> {
        match d {
            Dimension::Country => Some(&mut self.countries),
            Dimension::Device => Some(&mut self.devices),
            _ => None,
        }
    }
}

pub const fn default_landing_page_weight() -> u32 {
    1
}

fn is_default_landing_page_weight(w: &u32) -> bool {
    *w == default_landing_page_weight()
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Creative {
    pub creative_id: u32,
    pub creative_name: String,
    /// 1 Banner, 2 Text Link, 3 Email, 4 HTML.
    pub creative_type_id: u8,
    pub offer_id: u32,
    pub creative_status: Status,
    #[serde(default)]
    pub width: Option<u32>,
    #[serde(default)]
    pub height: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Campaign {
    pub campaign_id: u32,
    pub offer_id: u32,
    pub affiliate_id: u32,
    pub campaign_status: Status,
    /// 1 standard, 2 encoded, 3 vanity tracking link.
    #[serde(default = "default_display_link_type")]
    pub display_link_type_id: u8,
    #[serde(default)]
    pub creative_id: Option<u32>,
    #[serde(default)]
    pub landing_page_id: Option<u32>,
    #[serde(default)]
    pub sub_affiliate: Option<String>,
    #[serde(default)]
    pub coupon_code: Option<String>,
    /// RFC 3339 (`2026-01-15T09:00:00Z`) or `2026-01-15 09:00:00` (UTC).
    #[serde(default)]
    pub date_created: Option<String>,
    /// Partner postback URL template (docs/api.md#partner-postbacks): fired for each
    /// conversion of its clicks, in place of the affiliate's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postback_url: Option<String>,
    /// What the network pays the affiliate per conversion of its clicks, in place of the
    /// offer's `affiliate_payout` (absent: the offer's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affiliate_payout: Option<Money>,
}

fn default_display_link_type() -> u8 {
    1
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmartLink {
    pub smart_link_id: u32,
    pub smart_link_name: String,
    pub affiliate_id: u32,
    pub smart_link_status: LinkStatus,
    /// Where clicks go when nothing qualifies; `server.default_fallback_url` when absent.
    #[serde(default)]
    pub fallback_url: Option<String>,
    /// Partner postback URL template (docs/api.md#partner-postbacks): fired for each
    /// conversion of its clicks, in place of the affiliate's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postback_url: Option<String>,
    /// `random` when absent.
    #[serde(default, skip_serializing_if = "Rotation::is_random")]
    pub rotation: Rotation,
    /// Optimized rotation: the hours of clicks its estimates read (168 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optimize_window_hours: Option<u32>,
    /// Optimized rotation: the least share of its priority's clicks any attachment gets
    /// (0.05 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optimize_min_share: Option<f64>,
    /// The offers this link routes to ("attachments").
    #[serde(default)]
    pub offers: Vec<Attachment>,
}

/// An offer attached to a smart link, with its routing rule: weight, priority and
/// targeting conditions (`countries`, `exclude_devices`, `os`, ...).
#[derive(Clone, Debug, PartialEq)]
pub struct Attachment {
    pub offer_id: u32,
    pub offer_weight: u32,
    pub priority: i64,
    pub conditions: Conditions,
    /// What the network pays the link's affiliate per conversion on this offer, in place of
    /// the offer's `affiliate_payout` (absent: the offer's).
    pub affiliate_payout: Option<Money>,
}

/// Targeting conditions as written on an attachment or an offer: each list present, by its
/// field name (one of `conditions::Dimension::fields`), in file order. Kept as JSON here;
/// validation parses every value. An empty list is the same as none.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Conditions(Vec<(&'static str, Value)>);

impl Conditions {
    /// The list of `field`, if present.
    pub fn get(&self, field: &str) -> Option<&Value> {
        self.0.iter().find(|(f, _)| *f == field).map(|(_, v)| v)
    }

    /// Sets the list of `field` (an empty list or object, `false` or `null` removes it).
    pub fn set(&mut self, field: &'static str, value: Value) {
        let empty = match &value {
            Value::Array(items) => items.is_empty(),
            Value::Object(map) => map.is_empty(),
            Value::Bool(on) => !on,
            Value::Null => true,
            _ => false,
        };
        match self.0.iter().position(|(f, _)| *f == field) {
            Some(i) if empty => {
                self.0.remove(i);
            }
            Some(i) => self.0[i].1 = value,
            None if empty => {}
            None => self.0.push((field, value)),
        }
    }

    /// Every list present, in file order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &Value)> {
        self.0.iter().map(|(f, v)| (*f, v))
    }
}

/// The field names an attachment or an offer accepts, for "unknown field" messages.
const fn field_names<const N: usize>(fixed: &[&'static str], side: Side) -> [&'static str; N] {
    let mut names = [""; N];
    let mut i = 0;
    while i < fixed.len() {
        names[i] = fixed[i];
        i += 1;
    }
    let mut d = 0;
    while d < Dimension::ALL.len() {
        let [include, exclude] = Dimension::ALL[d].fields(side);
        names[i] = include;
        names[i + 1] = exclude;
        i += 2;
        d += 1;
    }
    assert!(
        i == N,
        "N is the number of fixed fields plus two per dimension"
    );
    names
}

const ATTACHMENT_FIXED: [&str; 4] = ["offer_id", "offer_weight", "priority", "affiliate_payout"];
const ATTACHMENT_FIELDS: [&str; 4 + 2 * Dimension::ALL.len()] =
    field_names(&ATTACHMENT_FIXED, Side::Attachment);
const OFFER_FIXED: [&str; 11] = [
    "offer_id",
    "offer_name",
    "offer_status",
    "offer_url",
    "caps",
    "postback_token",
    "payout",
    "landing_page_rotation",
    "health_check",
    "health_check_url",
    "affiliate_payout",
];
const OFFER_FIELDS: [&str; 11 + 2 * Dimension::ALL.len()] = field_names(&OFFER_FIXED, Side::Offer);

/// A key of an attachment or an offer: one of its fixed fields (by index into `fixed`) or a
/// condition list. Read through a seed so that an unknown name is refused while the key is
/// read, and the error's path names the key (as derived identifiers do).
enum Key {
    Fixed(usize),
    Condition(Dimension, bool),
}

struct KeySeed {
    side: Side,
    fixed: &'static [&'static str],
    all: &'static [&'static str],
}

impl<'de> serde::de::DeserializeSeed<'de> for KeySeed {
    type Value = Key;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Key;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a field name")
    }
    fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<Key, E> {
        if let Some(i) = self.fixed.iter().position(|f| *f == name) {
            return Ok(Key::Fixed(i));
        }
        match Dimension::of_field(self.side, name) {
            Some((d, exclude)) => Ok(Key::Condition(d, exclude)),
            None => Err(E::unknown_field(name, self.all)),
        }
    }
}

/// Stores one value read for `name` into `slot`, refusing a second one.
fn once<E: serde::de::Error, T>(slot: &mut Option<T>, name: &'static str, v: T) -> Result<(), E> {
    if slot.replace(v).is_some() {
        return Err(E::duplicate_field(name));
    }
    Ok(())
}

/// Reads the value of a condition list (`d`, `exclude`, on `side`) into `conditions`.
fn condition<'de, A: MapAccess<'de>>(
    map: &mut A,
    field: &'static str,
    conditions: &mut Conditions,
) -> Result<(), A::Error> {
    if conditions.get(field).is_some() {
        return Err(A::Error::duplicate_field(field));
    }
    conditions.0.push((field, map.next_value::<Value>()?));
    Ok(())
}

impl<'de> Deserialize<'de> for Attachment {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Attachment, D::Error> {
        struct Visit;
        impl<'de> Visitor<'de> for Visit {
            type Value = Attachment;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an attachment (an object with offer_id)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Attachment, A::Error> {
                let (mut offer_id, mut weight, mut priority) = (None, None, None);
                let mut affiliate_payout = None;
                let mut conditions = Conditions::default();
                let seed = || KeySeed {
                    side: Side::Attachment,
                    fixed: &ATTACHMENT_FIXED,
                    all: &ATTACHMENT_FIELDS,
                };
                while let Some(key) = map.next_key_seed(seed())? {
                    match key {
                        Key::Fixed(0) => once(&mut offer_id, "offer_id", map.next_value()?)?,
                        Key::Fixed(1) => once(&mut weight, "offer_weight", map.next_value()?)?,
                        Key::Fixed(2) => once(&mut priority, "priority", map.next_value()?)?,
                        Key::Fixed(_) => once(
                            &mut affiliate_payout,
                            "affiliate_payout",
                            map.next_value::<Option<Money>>()?,
                        )?,
                        Key::Condition(d, exclude) => condition(
                            &mut map,
                            d.field(Side::Attachment, exclude),
                            &mut conditions,
                        )?,
                    }
                }
                Ok(Attachment {
                    offer_id: offer_id.ok_or_else(|| A::Error::missing_field("offer_id"))?,
                    offer_weight: weight.unwrap_or(1),
                    priority: priority.unwrap_or(1),
                    conditions,
                    affiliate_payout: affiliate_payout.flatten(),
                })
            }
        }
        d.deserialize_map(Visit)
    }
}

impl Serialize for Attachment {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("offer_id", &self.offer_id)?;
        m.serialize_entry("offer_weight", &self.offer_weight)?;
        m.serialize_entry("priority", &self.priority)?;
        for (field, value) in self.conditions.iter() {
            m.serialize_entry(field, value)?;
        }
        if let Some(payout) = &self.affiliate_payout {
            m.serialize_entry("affiliate_payout", payout)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Offer {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Offer, D::Error> {
        struct Visit;
        impl<'de> Visitor<'de> for Visit {
            type Value = Offer;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an offer (an object)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Offer, A::Error> {
                let (mut id, mut name, mut status, mut url) = (None, None, None, None);
                let (mut caps, mut token, mut payout, mut rotation) = (None, None, None, None);
                let (mut health_check, mut health_check_url) = (None, None);
                let mut affiliate_payout = None;
                let mut conditions = Conditions::default();
                let seed = || KeySeed {
                    side: Side::Offer,
                    fixed: &OFFER_FIXED,
                    all: &OFFER_FIELDS,
                };
                while let Some(key) = map.next_key_seed(seed())? {
                    match key {
                        Key::Fixed(0) => once(&mut id, "offer_id", map.next_value()?)?,
                        Key::Fixed(1) => once(&mut name, "offer_name", map.next_value()?)?,
                        Key::Fixed(2) => once(&mut status, "offer_status", map.next_value()?)?,
                        Key::Fixed(3) => once(&mut url, "offer_url", map.next_value()?)?,
                        Key::Fixed(4) => once(&mut caps, "caps", map.next_value()?)?,
                        Key::Fixed(5) => once(&mut token, "postback_token", map.next_value()?)?,
                        Key::Fixed(6) => once(&mut payout, "payout", map.next_value()?)?,
                        Key::Fixed(7) => {
                            once(&mut rotation, "landing_page_rotation", map.next_value()?)?
                        }
                        Key::Fixed(8) => {
                            once(&mut health_check, "health_check", map.next_value()?)?
                        }
                        Key::Fixed(9) => {
                            once(&mut health_check_url, "health_check_url", map.next_value()?)?
                        }
                        Key::Fixed(_) => {
                            once(&mut affiliate_payout, "affiliate_payout", map.next_value()?)?
                        }
                        Key::Condition(d, exclude) => {
                            condition(&mut map, d.field(Side::Offer, exclude), &mut conditions)?
                        }
                    }
                }
                let missing = A::Error::missing_field;
                Ok(Offer {
                    offer_id: id.ok_or_else(|| missing("offer_id"))?,
                    offer_name: name.ok_or_else(|| missing("offer_name"))?,
                    offer_status: status.ok_or_else(|| missing("offer_status"))?,
                    offer_url: url.ok_or_else(|| missing("offer_url"))?,
                    conditions,
                    caps: caps.unwrap_or_default(),
                    postback_token: token.flatten(),
                    payout: payout.unwrap_or_default(),
                    affiliate_payout: affiliate_payout.unwrap_or_default(),
                    landing_page_rotation: rotation.unwrap_or(false),
                    health_check: health_check.unwrap_or(checked()),
                    health_check_url: health_check_url.flatten(),
                })
            }
        }
        d.deserialize_map(Visit)
    }
}

impl Serialize for Offer {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("offer_id", &self.offer_id)?;
        m.serialize_entry("offer_name", &self.offer_name)?;
        m.serialize_entry("offer_status", &self.offer_status)?;
        m.serialize_entry("offer_url", &self.offer_url)?;
        for (field, value) in self.conditions.iter() {
            m.serialize_entry(field, value)?;
        }
        m.serialize_entry("caps", &self.caps)?;
        if let Some(token) = &self.postback_token {
            m.serialize_entry("postback_token", token)?;
        }
        if self.payout != Money::ZERO {
            m.serialize_entry("payout", &self.payout)?;
        }
        if self.affiliate_payout != Money::ZERO {
            m.serialize_entry("affiliate_payout", &self.affiliate_payout)?;
        }
        if self.landing_page_rotation {
            m.serialize_entry("landing_page_rotation", &true)?;
        }
        if !self.health_check {
            m.serialize_entry("health_check", &false)?;
        }
        if let Some(url) = &self.health_check_url {
            m.serialize_entry("health_check_url", url)?;
        }
        m.end()
    }
}
