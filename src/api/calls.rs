//! Every call of the API: path, method, parameters and handler, in one table. The dispatcher,
//! the parameter check and the OpenAPI test all read it, so a call cannot exist in one and
//! be missing from another.

use http::Method;
use serde_json::Value;

use super::error::ApiError;
use super::params::{Args, Param, Type, nullable, optional, required};
use super::{read, write};
use crate::catalog::validate;
use crate::state::State;
use crate::vocab::CapKind;

pub type Handler = fn(&State, &Args) -> Result<Value, ApiError>;

pub struct Call {
    /// The path under `/api/2/`.
    pub name: &'static str,
    pub method: Method,
    pub params: &'static [Param],
    pub handler: Handler,
}

impl Call {
    /// Writes change the catalog: they run off the async threads, one at a time.
    pub fn writes(&self) -> bool {
        self.method == Method::POST
    }
}

/// The call at `/api/2/{name}`.
pub fn find(name: &str) -> Option<&'static Call> {
    CALLS.iter().find(|c| c.name == name)
}

const STATUS: Type = Type::OneOf(&["active", "paused", "deleted"]);
const LINK_STATUS: Type = Type::OneOf(&["active", "inactive"]);
/// `start_at_row` of the campaigns document's lists (rows counted from 1) and of
/// `smart_links.json` (from 0); `row_limit` of each.
const ROW_FROM_1: Type = Type::Int {
    min: 1,
    max: i64::MAX,
};
const ROW_FROM_0: Type = Type::Int {
    min: 0,
    max: i64::MAX,
};
const ROWS_5000: Type = Type::Int { min: 1, max: 5000 };
const ROWS_500: Type = Type::Int { min: 1, max: 500 };
const WEIGHT: Type = Type::Int {
    min: 1,
    max: validate::MAX_WEIGHT as i64,
};
const PRIORITY: Type = Type::Int {
    min: *validate::PRIORITY_RANGE.start(),
    max: *validate::PRIORITY_RANGE.end(),
};
const CAP: Type = Type::Int {
    min: 0,
    max: crate::vocab::MAX_CAP as i64,
};
const CREATIVE_TYPE: Type = Type::Int {
    min: *validate::CREATIVE_TYPES.start() as i64,
    max: *validate::CREATIVE_TYPES.end() as i64,
};
const LINK_TYPE: Type = Type::Int {
    min: *validate::DISPLAY_LINK_TYPES.start() as i64,
    max: *validate::DISPLAY_LINK_TYPES.end() as i64,
};
const SIZE: Type = Type::Int {
    min: 1,
    max: 100_000,
};

/// The cap parameters of offers, one per `CapKind` (`null` clears a cap).
const CAPS: [Param; 5] = {
    let mut caps = [nullable("", CAP); 5];
    let mut i = 0;
    while i < caps.len() {
        caps[i] = nullable(CapKind::ALL[i].as_str(), CAP);
        i += 1;
    }
    caps
};

const fn get(name: &'static str, params: &'static [Param], handler: Handler) -> Call {
    Call {
        name,
        method: Method::GET,
        params,
        handler,
    }
}

const fn post(name: &'static str, params: &'static [Param], handler: Handler) -> Call {
    Call {
        name,
        method: Method::POST,
        params,
        handler,
    }
}

pub static CALLS: [Call; 24] = [
    // Reads.
    get(
        "campaigns.json",
        &[
            optional("campaign_id", Type::Id),
            optional("offer_id", Type::Id),
            optional("affiliate_id", Type::Id),
            optional("campaign_status", STATUS),
            optional("start_at_row", ROW_FROM_1),
            optional("row_limit", ROWS_5000),
        ],
        read::campaigns,
    ),
    get(
        "creatives.json",
        &[
            optional("creative_id", Type::Id),
            optional("offer_id", Type::Id),
            optional("creative_type_id", CREATIVE_TYPE),
            optional("creative_status", STATUS),
        ],
        read::creatives,
    ),
    get(
        "landing_pages.json",
        &[
            optional("landing_page_id", Type::Id),
            optional("offer_id", Type::Id),
            optional("landing_page_status", STATUS),
        ],
        read::landing_pages,
    ),
    get(
        "smart_links.json",
        &[
            optional("smart_link_id", Type::Id),
            optional("affiliate_id", Type::Id),
            optional("smart_link_status", LINK_STATUS),
            optional("start_at_row", ROW_FROM_0),
            optional("row_limit", ROWS_500),
        ],
        read::smart_links,
    ),
    get(
        "offers.json",
        &[
            optional("offer_id", Type::Id),
            optional("offer_status", STATUS),
            optional("start_at_row", ROW_FROM_1),
            optional("row_limit", ROWS_5000),
        ],
        read::offers,
    ),
    get(
        "affiliates.json",
        &[
            optional("affiliate_id", Type::Id),
            optional("start_at_row", ROW_FROM_1),
            optional("row_limit", ROWS_5000),
        ],
        read::affiliates,
    ),
    get(
        "smart_link_offers.json",
        &[required("smart_link_id", Type::Id)],
        read::smart_link_offers,
    ),
    get(
        "smart_link_stats.json",
        &[required("smart_link_id", Type::Id)],
        read::smart_link_stats,
    ),
    get(
        "smart_link_route.json",
        &[
            required("smart_link_id", Type::Id),
            optional("ip", Type::Ip),
            optional("user_agent", Type::FreeText),
            optional("sec_ch_ua_mobile", Type::OneOf(&["?0", "?1"])),
            optional("sec_ch_ua_platform", Type::FreeText),
        ],
        read::smart_link_route,
    ),
    // Campaigns.
    post(
        "campaign.json",
        &[
            required("offer_id", Type::Id),
            required("affiliate_id", Type::Id),
            optional("display_link_type_id", LINK_TYPE),
            optional("creative_id", Type::Id),
            optional("landing_page_id", Type::Id),
            optional("sub_affiliate", Type::Text),
            optional("coupon_code", Type::Text),
        ],
        write::create_campaign,
    ),
    post(
        "update_campaign.json",
        &[
            required("campaign_id", Type::Id),
            optional("campaign_status", STATUS),
            nullable("creative_id", Type::Id),
            nullable("landing_page_id", Type::Id),
        ],
        write::update_campaign,
    ),
    // Smart links.
    post(
        "smart_link.json",
        &[
            required("affiliate_id", Type::Id),
            required("smart_link_name", Type::Text),
            optional("fallback_url", Type::Url),
            optional("smart_link_status", LINK_STATUS),
        ],
        write::create_smart_link,
    ),
    post(
        "update_smart_link.json",
        &[
            required("smart_link_id", Type::Id),
            optional("smart_link_name", Type::Text),
            nullable("fallback_url", Type::Url),
            optional("smart_link_status", LINK_STATUS),
        ],
        write::update_smart_link,
    ),
    post(
        "delete_smart_link.json",
        &[required("smart_link_id", Type::Id)],
        write::delete_smart_link,
    ),
    post(
        "smart_link_offer.json",
        &[
            required("smart_link_id", Type::Id),
            required("offer_id", Type::Id),
            optional("offer_weight", WEIGHT),
            optional("priority", PRIORITY),
            optional("countries", Type::Countries),
            optional("devices", Type::Devices),
        ],
        write::attach_offer,
    ),
    post(
        "remove_smart_link_offer.json",
        &[
            required("smart_link_id", Type::Id),
            required("offer_id", Type::Id),
        ],
        write::remove_offer,
    ),
    // Offers.
    post(
        "offer.json",
        &[
            required("offer_name", Type::Text),
            required("offer_url", Type::Url),
            optional("offer_status", STATUS),
            optional("allowed_countries", Type::Countries),
            optional("allowed_devices", Type::Devices),
            nullable("postback_token", Type::Token),
            CAPS[0],
            CAPS[1],
            CAPS[2],
            CAPS[3],
            CAPS[4],
        ],
        write::create_offer,
    ),
    post(
        "update_offer.json",
        &[
            required("offer_id", Type::Id),
            optional("offer_name", Type::Text),
            optional("offer_url", Type::Url),
            optional("offer_status", STATUS),
            optional("allowed_countries", Type::Countries),
            optional("allowed_devices", Type::Devices),
            nullable("postback_token", Type::Token),
            CAPS[0],
            CAPS[1],
            CAPS[2],
            CAPS[3],
            CAPS[4],
        ],
        write::update_offer,
    ),
    // Landing pages.
    post(
        "landing_page.json",
        &[
            required("offer_id", Type::Id),
            required("landing_page_name", Type::Text),
            required("url", Type::Url),
            optional("landing_page_status", STATUS),
        ],
        write::create_landing_page,
    ),
    post(
        "update_landing_page.json",
        &[
            required("landing_page_id", Type::Id),
            optional("landing_page_name", Type::Text),
            optional("url", Type::Url),
            optional("landing_page_status", STATUS),
        ],
        write::update_landing_page,
    ),
    // Creatives.
    post(
        "creative.json",
        &[
            required("offer_id", Type::Id),
            required("creative_name", Type::Text),
            required("creative_type_id", CREATIVE_TYPE),
            optional("creative_status", STATUS),
            optional("width", SIZE),
            optional("height", SIZE),
        ],
        write::create_creative,
    ),
    post(
        "update_creative.json",
        &[
            required("creative_id", Type::Id),
            optional("creative_name", Type::Text),
            optional("creative_type_id", CREATIVE_TYPE),
            optional("creative_status", STATUS),
            nullable("width", SIZE),
            nullable("height", SIZE),
        ],
        write::update_creative,
    ),
    // Affiliates.
    post(
        "affiliate.json",
        &[required("affiliate_name", Type::Text)],
        write::create_affiliate,
    ),
    post(
        "update_affiliate.json",
        &[
            required("affiliate_id", Type::Id),
            optional("affiliate_name", Type::Text),
        ],
        write::update_affiliate,
    ),
];
