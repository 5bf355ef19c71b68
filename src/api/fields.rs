//! Every parameter of the API, declared once: its name, the type of its values, what it
//! means, and what a handler reads from it. Calls (`calls`) declare which they take and
//! whether each is required; handlers read them with `Args::get(FIELD)`; the OpenAPI
//! document's parameter schemas are made from them (`openapi`). A targeting condition's
//! parameters are not here: they come from `conditions::Dimension` (`calls::conditions`).

use serde_json::Value;

use super::params::{Field, Type};
use crate::catalog::validate::{
    self, CREATIVE_TYPES, DISPLAY_LINK_TYPES, MAX_WEIGHT, PRIORITY_RANGE,
};
use crate::catalog::{LandingPage, LinkStatus, Rotation, Status};
use crate::conditions::{Dimension, Side};
use crate::money::Money;
use crate::vocab::{CapKind, MAX_CAP};

const STATUS: Type = Type::OneOf(&["active", "paused", "deleted"]);
const LINK_STATUS: Type = Type::OneOf(&["active", "inactive"]);

pub const AFFILIATE_ID: Field<u32> = Field::new("affiliate_id", Type::Id, "The affiliate.");
pub const AFFILIATE_NAME: Field<String> = Field::new(
    "affiliate_name",
    Type::Text,
    "The affiliate's name. At most 255 bytes.",
);
pub const CALLS_LIST: Field<Value> = Field::new(
    "calls",
    Type::Calls,
    "The write calls to apply as one change, in order: 1 to 1000 objects {\"call\": the call's name (update_campaign.json, ...), \"params\": its parameters without api_key}. Either all take effect or none. In a form body, its JSON text.",
);
pub const CAMPAIGN_ID: Field<u32> = Field::new("campaign_id", Type::Id, "The campaign.");
pub const CAMPAIGN_STATUS: Field<Status> = Field::new(
    "campaign_status",
    STATUS,
    "active | paused | deleted. Only active campaigns record clicks.",
);
pub const COUPON_CODE: Field<String> = Field::new(
    "coupon_code",
    Type::Text,
    "A coupon code to attach. At most 255 bytes.",
);
pub const CREATIVE_ID: Field<u32> = Field::new("creative_id", Type::Id, "The creative.");
pub const CREATIVE_NAME: Field<String> = Field::new(
    "creative_name",
    Type::Text,
    "The creative's name. At most 255 bytes.",
);
pub const CREATIVE_STATUS: Field<Status> =
    Field::new("creative_status", STATUS, "active | paused | deleted.");
pub const CREATIVE_TYPE_ID: Field<u8> = Field::new(
    "creative_type_id",
    Type::Int {
        min: *CREATIVE_TYPES.start() as i64,
        max: *CREATIVE_TYPES.end() as i64,
    },
    "1 Banner, 2 Text Link, 3 Email, 4 HTML.",
);
pub const DISPLAY_LINK_TYPE_ID: Field<u8> = Field::new(
    "display_link_type_id",
    Type::Int {
        min: *DISPLAY_LINK_TYPES.start() as i64,
        max: *DISPLAY_LINK_TYPES.end() as i64,
    },
    "Tracking link format: 1 standard (`/rd/r.php?sid=…&aff_id=…`, the default), 2 encoded (`/rd/{token}`), 3 vanity (the standard form on `server.vanity_base_url`).",
);
pub const FALLBACK_URL: Field<String> = Field::new(
    "fallback_url",
    Type::Url,
    "Where clicks go when no offer qualifies (else `server.default_fallback_url`). Absolute http(s) URL whose origin no macro can change; it may contain the macros {click_id}, {smart_link_id}, {campaign_id}, {affiliate_id}, {offer_id}, {s1}..{s5}, {country}, {device}, {os}.",
);
pub const WIDTH: Field<u32> = Field::new(
    "width",
    Type::Int {
        min: 1,
        max: 100_000,
    },
    "Width in pixels (1-100000).",
);
pub const HEIGHT: Field<u32> = Field::new(
    "height",
    Type::Int {
        min: 1,
        max: 100_000,
    },
    "Height in pixels (1-100000).",
);
pub const ACCEPT_LANGUAGE: Field<String> = Field::new(
    "accept_language",
    Type::FreeText,
    "The client's Accept-Language header.",
);
pub const AT: Field<String> = Field::new(
    "at",
    Type::Time,
    "The click's time, RFC 3339 (e.g. `2026-12-01T18:30:00Z`); default now. For schedules and cap windows.",
);
pub const FROM: Field<String> = Field::new(
    "from",
    Type::Time,
    "Statistics of the hours from this RFC 3339 date-time on (taken to its hour, inclusive), e.g. `2026-12-01T00:00:00Z`; with neither `from` nor `to`, the lifetime totals. Default with `to`: the oldest hour kept (31 days back).",
);
pub const TO: Field<String> = Field::new(
    "to",
    Type::Time,
    "Statistics of the hours before this RFC 3339 date-time (taken to its hour, exclusive). Default with `from`: the end of the current hour.",
);
pub const SINCE: Field<String> = Field::new(
    "since",
    Type::Time,
    "Only records at or after this RFC 3339 date-time, e.g. `2026-12-01T00:00:00Z`.",
);
pub const UNTIL: Field<String> = Field::new(
    "until",
    Type::Time,
    "Only records before this RFC 3339 date-time.",
);
pub const CALL: Field<String> = Field::new(
    "call",
    Type::Text,
    "Only records of this change: an API call (`update_offer.json`, `batch.json`, ...), `push` or `SIGHUP`.",
);
pub const KEY: Field<String> = Field::new(
    "key",
    Type::Text,
    "Only records of the API key with this fingerprint (the first 12 hex digits of its SHA-256, as records show it).",
);
pub const SEARCH: Field<String> = Field::new(
    "search",
    Type::Text,
    "Only smart links whose name contains this text (letters compared without case), or whose id it is.",
);
pub const TOP: Field<i64> = Field::new(
    "top",
    Type::Int { min: 1, max: 100 },
    "How many smart links and offers the top lists hold, 1 to 100 (default 10).",
)
.default(10);
pub const IP: Field<String> = Field::new(
    "ip",
    Type::Ip,
    "The client's address (IPv4 or IPv6), used as is (no proxy headers). Default 127.0.0.1.",
);
pub const LANDING_PAGE_ID: Field<u32> =
    Field::new("landing_page_id", Type::Id, "The landing page.");
pub const LANDING_PAGE_NAME: Field<String> = Field::new(
    "landing_page_name",
    Type::Text,
    "The landing page's name. At most 255 bytes.",
);
pub const LANDING_PAGE_STATUS: Field<Status> =
    Field::new("landing_page_status", STATUS, "active | paused | deleted.");
pub const LANDING_PAGE_WEIGHT: Field<u32> = Field::new(
    "landing_page_weight",
    Type::Int {
        min: 1,
        max: MAX_WEIGHT as i64,
    },
    "Share of its offer's rotated clicks among the landing pages that qualify for a click (1-100). Default for a new landing page: 1.",
)
.default(1);
/// A landing page's include lists: the attachment's `countries` and `devices`.
pub const LANDING_PAGE_CONDITIONS: [Field<Value>; 2] = [
    condition(LandingPage::DIMENSIONS[0], Side::Attachment, false),
    condition(LandingPage::DIMENSIONS[1], Side::Attachment, false),
];
pub const HEALTH_CHECK: Field<bool> = Field::new(
    "health_check",
    Type::Bool,
    "false: destination health checks never probe it (listed as unchecked). Default for a new one: true.",
);
pub const HEALTH_CHECK_URL: Field<String> = Field::new(
    "health_check_url",
    Type::Url,
    "The URL health checks probe instead of its own (a URL template, rendered with neutral macro values); null (JSON) or empty (form) removes it.",
);
pub const LANDING_PAGE_ROTATION: Field<bool> = Field::new(
    "landing_page_rotation",
    Type::Bool,
    "true: each routed click (of a smart link, or of a campaign without an active landing page of its own) goes to one of the offer's active landing pages whose countries and devices hold for it, drawn by landing_page_weight; to offer_url when none qualifies. Default for a new offer: false.",
);
pub const OFFER_ID: Field<u32> = Field::new("offer_id", Type::Id, "The offer.");
pub const OFFER_NAME: Field<String> = Field::new(
    "offer_name",
    Type::Text,
    "The offer's name. At most 255 bytes.",
);
pub const OFFER_STATUS: Field<Status> = Field::new(
    "offer_status",
    STATUS,
    "active | paused | deleted. Only active offers receive traffic.",
);
pub const OFFER_URL: Field<String> = Field::new(
    "offer_url",
    Type::Url,
    "The offer's destination. Absolute http(s) URL whose origin no macro can change; it may contain the macros {click_id}, {smart_link_id}, {campaign_id}, {affiliate_id}, {offer_id}, {s1}..{s5}, {country}, {device}, {os}.",
);
pub const OFFER_WEIGHT: Field<u32> = Field::new(
    "offer_weight",
    Type::Int {
        min: 1,
        max: MAX_WEIGHT as i64,
    },
    "Traffic weight among the qualifying offers of the same priority (1-100). Default for a new attachment: 1.",
)
.default(1);
pub const POSTBACK_TOKEN: Field<String> = Field::new(
    "postback_token",
    Type::Token,
    "The token the advertiser's postbacks for this offer's clicks must carry (`token=`), in place of the network-wide `postbacks.token`; 8 to 255 printable ASCII characters. null clears it.",
);
pub const PRIORITY: Field<i64> = Field::new(
    "priority",
    Type::Int {
        min: *PRIORITY_RANGE.start(),
        max: *PRIORITY_RANGE.end(),
    },
    "Evaluation order within the smart link; lower numbers first (any signed 32-bit integer, 0 and negative values included). Default for a new attachment: 1.",
)
.default(1);
/// `start_at_row` of the campaigns document's lists, rows counted from 1.
pub const START_AT_ROW_1: Field<i64> = Field::new(
    "start_at_row",
    Type::Int {
        min: 1,
        max: i64::MAX,
    },
    "Pagination: the first row to return. Rows are counted from 1 (default 1); a smaller value is a 400.",
)
.default(1);
/// `start_at_row` of `smart_links.json`, rows counted from 0.
pub const START_AT_ROW_0: Field<i64> = Field::new(
    "start_at_row",
    Type::Int {
        min: 0,
        max: i64::MAX,
    },
    "Pagination: the first row to return. Rows are counted from 0 (default 0); a smaller value is a 400.",
)
.default(0);
pub const ROW_LIMIT_5000: Field<i64> = Field::new(
    "row_limit",
    Type::Int { min: 1, max: 5000 },
    "Pagination: the most rows to return, 1 to 5000 (default 100); a value out of range is a 400.",
)
.default(100);
pub const ROW_LIMIT_500: Field<i64> = Field::new(
    "row_limit",
    Type::Int { min: 1, max: 500 },
    "Pagination: the most rows to return, 1 to 500 (default 100); a value out of range is a 400.",
)
.default(100);
pub const REFERER: Field<String> = Field::new(
    "referer",
    Type::FreeText,
    "The click's Referer header (a URL).",
);
/// The sub ids of a click to explain, `s1`..`s5`.
pub const SUBS: [Field<String>; 5] = {
    let mut subs = [Field::new("s1", Type::Text, "Sub id s1 of the click."); 5];
    subs[1] = Field::new("s2", Type::Text, "Sub id s2 of the click.");
    subs[2] = Field::new("s3", Type::Text, "Sub id s3 of the click.");
    subs[3] = Field::new("s4", Type::Text, "Sub id s4 of the click.");
    subs[4] = Field::new("s5", Type::Text, "Sub id s5 of the click.");
    subs
};
pub const ROTATION: Field<Rotation> = Field::new(
    "rotation",
    Type::OneOf(&["random", "exact", "optimized"]),
    "How the qualifying offers of the deciding priority share its clicks: `random` (the default for a new smart link), a weighted random draw per click; `exact`, a fixed order per set of qualifying offers that, after every click, keeps each offer within one click of `clicks × weight / total weight` on this node; `optimized`, a weighted draw over weights recomputed every 10 s from each offer's EPC on this link (Thompson sampling, `offer_weight` the prior, `optimize_min_share` the floor) (docs/routing.md#rotation).",
);
pub const HOURS: Field<u32> = Field::new(
    "hours",
    Type::Int { min: 1, max: 744 },
    "The period previewed: the last this many hours of the click log, 1 to 744 (the log holds records.click_log_retention_hours). Default 24.",
);
pub const OPTIMIZE_WINDOW_HOURS: Field<u32> = Field::new(
    "optimize_window_hours",
    Type::Int {
        min: *validate::OPTIMIZE_WINDOW_HOURS.start() as i64,
        max: *validate::OPTIMIZE_WINDOW_HOURS.end() as i64,
    },
    "Optimized rotation: the hours of clicks (and their conversions) the estimates read, 1 to 720. null restores the default, 168.",
);
pub const OPTIMIZE_MIN_SHARE: Field<f64> = Field::new(
    "optimize_min_share",
    Type::Share,
    "Optimized rotation: the least share of its priority's clicks each qualifying offer keeps, 0 to 0.5 (lowered to 1/n for n offers). null restores the default, 0.05.",
);
pub const PAYOUT: Field<Money> = Field::new(
    "payout",
    Type::Money,
    "The network's revenue per conversion of this offer, a decimal such as \"2.50\" from 0 to 999999999999.999999 (at most 6 decimals), counted when a postback gives no amount. Default 0.",
);
pub const AFFILIATE_PAYOUT: Field<Money> = Field::new(
    "affiliate_payout",
    Type::Money,
    "What the network pays the affiliate per conversion (the conversion's cost), a decimal such as \"1.20\" from 0 to 999999999999.999999 (at most 6 decimals). On an offer: default 0. On a campaign or a smart link's attachment: in place of the offer's, for conversions of its clicks; absent: the offer's (docs/routing.md#affiliate-payouts).",
);
pub const SEC_CH_UA_MOBILE: Field<String> = Field::new(
    "sec_ch_ua_mobile",
    Type::OneOf(&["?0", "?1"]),
    "The client's Sec-CH-UA-Mobile hint (`?1` means mobile).",
);
pub const SEC_CH_UA_PLATFORM: Field<String> = Field::new(
    "sec_ch_ua_platform",
    Type::FreeText,
    "The client's Sec-CH-UA-Platform hint, e.g. `\"Android\"`. At most 2048 bytes.",
);
pub const SMART_LINK_ID: Field<u32> = Field::new("smart_link_id", Type::Id, "The smart link.");
pub const SMART_LINK_NAME: Field<String> = Field::new(
    "smart_link_name",
    Type::Text,
    "A descriptive name. At most 255 bytes.",
);
pub const SMART_LINK_STATUS: Field<LinkStatus> = Field::new(
    "smart_link_status",
    LINK_STATUS,
    "active | inactive. An inactive smart link sends every click to its fallback URL.",
);
pub const CONVERSION_ID: Field<String> = Field::new(
    "conversion_id",
    Type::Text,
    "A partner postback's conversion id (24 hex digits, as `partner_postbacks.json` lists it).",
);
pub const DELIVERIES_FROM: Field<String> = Field::new(
    "from",
    Type::Time,
    "Deliveries of conversions, and delivery log lines, from this RFC 3339 date-time on (e.g. `2026-12-01T00:00:00Z`); default 24 hours before `to`.",
);
pub const DELIVERIES_TO: Field<String> = Field::new(
    "to",
    Type::Time,
    "Deliveries whose last line (or conversion) is before this RFC 3339 date-time; default now.",
);
pub const DELIVERY_STATUS: Field<String> = Field::new(
    "status",
    Type::OneOf(&["pending", "delivered", "failed"]),
    "pending (not yet delivered, retries to come), delivered (a 2xx answer) or failed (given up; retry_partner_postback.json asks again).",
);
pub const POSTBACK_URL: Field<String> = Field::new(
    "postback_url",
    Type::PostbackUrl,
    "Partner postback URL: called server to server for each conversion of the clicks it covers (an affiliate's, or a campaign's or smart link's in place of its affiliate's). Absolute http(s) URL whose origin no macro can change; it may contain the macros of offer URLs and {conversion_id}, {transaction_id}, {payout}, {amount}, {offer_name}, {conversion_time} (docs/api.md#partner-postbacks).",
);
pub const SUB_AFFILIATE: Field<String> = Field::new(
    "sub_affiliate",
    Type::Text,
    "The s1 value of the campaign's clicks when the link carries none. At most 255 bytes.",
);
pub const URL: Field<String> = Field::new(
    "url",
    Type::Url,
    "The landing page's URL. Absolute http(s) URL whose origin no macro can change; it may contain the macros {click_id}, {smart_link_id}, {campaign_id}, {affiliate_id}, {offer_id}, {s1}..{s5}, {country}, {device}, {os}.",
);
pub const USER_AGENT: Field<String> = Field::new(
    "user_agent",
    Type::FreeText,
    "The client's User-Agent. At most 2048 bytes.",
);

/// The cap parameters of offers, one per `CapKind` (`null` clears a cap), in its order.
pub const CAPS: [Field<u64>; 5] = {
    const CAP: Type = Type::Int {
        min: 0,
        max: MAX_CAP as i64,
    };
    let mut caps = [Field::new("", CAP, ""); 5];
    let mut i = 0;
    while i < caps.len() {
        let kind = CapKind::ALL[i];
        caps[i] = Field::new(kind.as_str(), CAP, kind.doc());
        i += 1;
    }
    caps
};

/// The field of one condition list (its name and description come from
/// `conditions::Dimension`).
pub const fn condition(dimension: Dimension, side: Side, exclude: bool) -> Field<Value> {
    Field::new(
        dimension.field(side, exclude),
        Type::Condition(dimension),
        "",
    )
}
