//! The catalog's entities, exactly as the JSON file (and the management API) spells them.
//!
//! These are plain serde mirrors: they say what a well-typed file looks like, not whether it is
//! consistent. Consistency (references, ranges, URLs) is `validate`'s job; the hot path never
//! sees these types, only the compiled routing table.

use serde::{Deserialize, Serialize};

use crate::vocab::{CapKind, DeviceClass};

/// The whole network (SPEC §4). Every list may be absent, meaning empty.
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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Affiliate {
    pub affiliate_id: u32,
    pub affiliate_name: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Offer {
    pub offer_id: u32,
    pub offer_name: String,
    pub offer_status: Status,
    pub offer_url: String,
    /// ISO 3166-1 alpha-2 codes; empty means any country.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_countries: Vec<String>,
    /// Empty means any device.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_devices: Vec<DeviceClass>,
    #[serde(default)]
    pub caps: Caps,
    /// The token this offer's postbacks must carry, in place of the network-wide one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postback_token: Option<String>,
}

/// Per-offer caps; `null` (or absent) means no cap. Enforced by the caps module (SPEC §9).
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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LandingPage {
    pub landing_page_id: u32,
    pub landing_page_name: String,
    pub offer_id: u32,
    pub url: String,
    pub landing_page_status: Status,
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
    /// The offers this link routes to ("attachments").
    #[serde(default)]
    pub offers: Vec<Attachment>,
}

/// An offer attached to a smart link, with its routing rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attachment {
    pub offer_id: u32,
    #[serde(default = "one")]
    pub offer_weight: u32,
    #[serde(default = "one_i64")]
    pub priority: i64,
    /// Empty means any country.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub countries: Vec<String>,
    /// Empty means any device.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<DeviceClass>,
}

fn one() -> u32 {
    1
}

fn one_i64() -> i64 {
    1
}
