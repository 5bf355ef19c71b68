//! Every call of the API: path, method, parameters and handler, in one table. The dispatcher,
//! the parameter check and the OpenAPI test all read it, so a call cannot exist in one and
//! be missing from another.

use http::Method;
use serde_json::Value;

use super::error::ApiError;
use super::fields::*;
use super::params::{Args, Param};
use super::{partner, read, stats, write};
use crate::catalog::Catalog;
use crate::conditions::{Dimension, Side};
use crate::state::State;

/// A read: the answer from the snapshot.
pub type Handler = fn(&State, &Args) -> Result<Value, ApiError>;

/// A write: what the call does to a copy of the catalog, and its success body. The same
/// change serves the call alone and inside a batch, on whatever copy it is handed (in a
/// batch, the copy the calls before it changed).
pub type Change = fn(&State, &mut Catalog, &Args) -> Result<Value, ApiError>;

/// What a call does.
#[derive(Clone, Copy)]
pub enum Action {
    Read(Handler),
    Write(Change),
    /// `batch.json`: the changes of many write calls, as one.
    Batch,
    /// `preview.json`: a batch's changes replayed on the click log, not made.
    Preview,
    /// `sign_in.json`: an API key exchanged for a console session (`api::session`).
    SignIn,
    /// `session.json`: the caller's console session.
    Session,
    /// `sign_out.json`: the caller's console session ended.
    SignOut,
    /// A `POST` that changes no catalog but the server's work (a partner postback's retry):
    /// run on a blocking thread and audited.
    Operate(Handler),
}

pub struct Call {
    /// The path under `/api/2/`.
    pub name: &'static str,
    pub method: Method,
    pub params: &'static [Param],
    pub action: Action,
    /// A read that may wait for Redis (cluster statistics): it runs on a blocking thread.
    pub blocks: bool,
}

impl Call {
    /// Writes change the catalog: they run off the async threads, one at a time.
    pub fn writes(&self) -> bool {
        matches!(self.action, Action::Write(_) | Action::Batch)
    }

    /// What a read-only key may not call: writes, and operations, which change state
    /// outside the catalog (a partner postback sent again).
    pub fn changes(&self) -> bool {
        self.writes() || matches!(self.action, Action::Operate(_))
    }

    /// POST calls take their parameters in a body.
    pub fn takes_body(&self) -> bool {
        self.method == Method::POST
    }

    /// Whether the caller may be a console session instead of an `api_key` (every call but
    /// the sign-in), and must be for the session's own calls.
    pub fn needs_session(&self) -> bool {
        matches!(self.action, Action::Session | Action::SignOut)
    }
}

/// The call at `/api/2/{name}`.
pub fn find(name: &str) -> Option<&'static Call> {
    CALLS.iter().find(|c| c.name == name)
}

/// The parameters of a targeting condition list on `side`: the include and the exclude list
/// of every dimension, optional.
const CONDITIONS: usize = 2 * Dimension::ALL.len();

const fn conditions(side: Side) -> [Param; CONDITIONS] {
    let mut params = [SMART_LINK_ID.optional(); CONDITIONS];
    let mut i = 0;
    while i < Dimension::ALL.len() {
        let d = Dimension::ALL[i];
        params[2 * i] = condition(d, side, false).optional();
        params[2 * i + 1] = condition(d, side, true).optional();
        i += 1;
    }
    params
}

/// The cap parameters of an offer (`null` clears a cap).
const CAP_PARAMS: [Param; 5] = {
    let mut params = [SMART_LINK_ID.optional(); 5];
    let mut i = 0;
    while i < params.len() {
        params[i] = CAPS[i].nullable();
        i += 1;
    }
    params
};

/// `parts` one after the other (`N` is their total length).
const fn join<const N: usize>(parts: &[&[Param]]) -> [Param; N] {
    let mut out = [SMART_LINK_ID.optional(); N];
    let (mut n, mut p) = (0, 0);
    while p < parts.len() {
        let mut i = 0;
        while i < parts[p].len() {
            out[n] = parts[p][i];
            n += 1;
            i += 1;
        }
        p += 1;
    }
    assert!(n == N, "N is the total length of the parts");
    out
}

const ATTACH: [Param; 5 + CONDITIONS] = join(&[
    &[
        SMART_LINK_ID.required(),
        OFFER_ID.required(),
        OFFER_WEIGHT.optional(),
        PRIORITY.optional(),
        AFFILIATE_PAYOUT
            .nullable()
            .doc("The attachment's own affiliate payout, in place of the offer's; null (JSON) or empty (form) removes it (the offer's applies)."),
    ],
    &conditions(Side::Attachment),
]);

const CREATE_OFFER: [Param; 9 + CONDITIONS + 5] = join(&[
    &[
        OFFER_NAME.required(),
        OFFER_URL.required(),
        OFFER_STATUS.optional(),
        POSTBACK_TOKEN.nullable(),
        PAYOUT.optional(),
        AFFILIATE_PAYOUT.optional(),
        LANDING_PAGE_ROTATION.optional(),
        HEALTH_CHECK.optional(),
        HEALTH_CHECK_URL.nullable(),
    ],
    &conditions(Side::Offer),
    &CAP_PARAMS,
]);

const UPDATE_OFFER: [Param; 10 + CONDITIONS + 5] = join(&[
    &[
        OFFER_ID.required(),
        OFFER_NAME.optional(),
        OFFER_URL.optional(),
        OFFER_STATUS.optional(),
        POSTBACK_TOKEN.nullable(),
        PAYOUT.optional(),
        AFFILIATE_PAYOUT.optional(),
        LANDING_PAGE_ROTATION.optional(),
        HEALTH_CHECK.optional(),
        HEALTH_CHECK_URL.nullable(),
    ],
    &conditions(Side::Offer),
    &CAP_PARAMS,
]);

const fn get(name: &'static str, params: &'static [Param], handler: Handler) -> Call {
    Call {
        name,
        method: Method::GET,
        params,
        action: Action::Read(handler),
        blocks: false,
    }
}

/// A read that may wait for Redis.
const fn get_blocking(name: &'static str, params: &'static [Param], handler: Handler) -> Call {
    let mut call = get(name, params, handler);
    call.blocks = true;
    call
}

const fn post(name: &'static str, params: &'static [Param], change: Change) -> Call {
    Call {
        name,
        method: Method::POST,
        params,
        action: Action::Write(change),
        blocks: false,
    }
}

/// `from` of the hourly series: their first hour.
const HOURS_FROM: &str = "The first hour of the series: this RFC 3339 date-time's hour, e.g. `2026-12-01T00:00:00Z`. Default: 24 hours before `to`.";
/// `to` of the hourly series: the end of their last hour.
const HOURS_TO: &str = "The end of the series (exclusive): the hour of this RFC 3339 date-time. Default: the end of the current hour. At most 744 hours (31 days) after `from`.";

/// The name of the batch call.
pub const BATCH: &str = "batch.json";

pub static CALLS: [Call; 38] = [
    // Reads.
    get(
        "campaigns.json",
        &[
            CAMPAIGN_ID
                .optional()
                .doc("Only the campaign with this id."),
            OFFER_ID
                .optional()
                .doc("Only those of the offer with this id."),
            AFFILIATE_ID
                .optional()
                .doc("Only those of the affiliate with this id."),
            CAMPAIGN_STATUS
                .optional()
                .doc("Only campaigns with this status."),
            START_AT_ROW_1.optional(),
            ROW_LIMIT_5000.optional(),
        ],
        read::campaigns,
    ),
    get(
        "creatives.json",
        &[
            CREATIVE_ID
                .optional()
                .doc("Only the creative with this id."),
            OFFER_ID
                .optional()
                .doc("Only those of the offer with this id."),
            CREATIVE_TYPE_ID
                .optional()
                .doc("Only creatives of this type: 1 Banner, 2 Text Link, 3 Email, 4 HTML."),
            CREATIVE_STATUS
                .optional()
                .doc("Only creatives with this status."),
        ],
        read::creatives,
    ),
    get(
        "landing_pages.json",
        &[
            LANDING_PAGE_ID
                .optional()
                .doc("Only the landing page with this id."),
            OFFER_ID
                .optional()
                .doc("Only those of the offer with this id."),
            LANDING_PAGE_STATUS
                .optional()
                .doc("Only landing pages with this status."),
        ],
        read::landing_pages,
    ),
    get(
        "smart_links.json",
        &[
            SMART_LINK_ID
                .optional()
                .doc("Only the smart link with this id."),
            AFFILIATE_ID
                .optional()
                .doc("Only those of the affiliate with this id."),
            SMART_LINK_STATUS
                .optional()
                .doc("Only smart links with this status."),
            SEARCH.optional(),
            START_AT_ROW_0.optional(),
            ROW_LIMIT_500.optional(),
        ],
        read::smart_links,
    ),
    get(
        "offers.json",
        &[
            OFFER_ID.optional().doc("Only the offer with this id."),
            OFFER_STATUS.optional().doc("Only offers with this status."),
            START_AT_ROW_1.optional(),
            ROW_LIMIT_5000.optional(),
        ],
        read::offers,
    ),
    get(
        "affiliates.json",
        &[
            AFFILIATE_ID
                .optional()
                .doc("Only the affiliate with this id."),
            START_AT_ROW_1.optional(),
            ROW_LIMIT_5000.optional(),
        ],
        read::affiliates,
    ),
    get(
        "smart_link_offers.json",
        &[SMART_LINK_ID.required()],
        read::smart_link_offers,
    ),
    get_blocking(
        "smart_link_stats.json",
        &[SMART_LINK_ID.required(), FROM.optional(), TO.optional()],
        stats::smart_link_stats,
    ),
    get(
        "smart_link_route.json",
        &[
            SMART_LINK_ID.required(),
            IP.optional(),
            USER_AGENT.optional(),
            SEC_CH_UA_MOBILE.optional(),
            SEC_CH_UA_PLATFORM.optional(),
            ACCEPT_LANGUAGE.optional(),
            REFERER.optional(),
            SUBS[0].optional(),
            SUBS[1].optional(),
            SUBS[2].optional(),
            SUBS[3].optional(),
            SUBS[4].optional(),
            AT.optional(),
        ],
        read::smart_link_route,
    ),
    // Destination health.
    get("destination_health.json", &[], read::destination_health),
    get_blocking(
        "smart_link_hourly.json",
        &[
            SMART_LINK_ID.required(),
            FROM.optional().doc(HOURS_FROM),
            TO.optional().doc(HOURS_TO),
        ],
        stats::smart_link_hourly,
    ),
    get_blocking(
        "network_stats.json",
        &[
            FROM.optional().doc(HOURS_FROM),
            TO.optional().doc(HOURS_TO),
            TOP.optional(),
        ],
        stats::network,
    ),
    get_blocking(
        "offer_stats.json",
        &[
            OFFER_ID.optional().doc("Only the offer with this id."),
            FROM.optional(),
            TO.optional(),
        ],
        stats::offers,
    ),
    get_blocking(
        "affiliate_stats.json",
        &[
            AFFILIATE_ID
                .required()
                .doc("The affiliate whose smart links and campaigns are summed."),
            FROM.optional(),
            TO.optional(),
        ],
        stats::affiliate_stats,
    ),
    get_blocking(
        "audit.json",
        &[
            SINCE.optional(),
            UNTIL.optional(),
            CALL.optional(),
            KEY.optional(),
            START_AT_ROW_1.optional(),
            ROW_LIMIT_500.optional(),
        ],
        stats::audit,
    ),
    get_blocking("cluster_nodes.json", &[], stats::cluster_nodes),
    // Console sessions.
    Call {
        name: "sign_in.json",
        method: Method::POST,
        params: &[],
        action: Action::SignIn,
        blocks: false,
    },
    Call {
        name: "session.json",
        method: Method::GET,
        params: &[],
        action: Action::Session,
        blocks: false,
    },
    Call {
        name: "sign_out.json",
        method: Method::POST,
        params: &[],
        action: Action::SignOut,
        blocks: false,
    },
    // Campaigns.
    post(
        "campaign.json",
        &[
            OFFER_ID.required(),
            AFFILIATE_ID.required(),
            DISPLAY_LINK_TYPE_ID.optional(),
            CREATIVE_ID.optional(),
            LANDING_PAGE_ID.optional(),
            SUB_AFFILIATE.optional(),
            COUPON_CODE.optional(),
            POSTBACK_URL.optional(),
            AFFILIATE_PAYOUT
                .optional()
                .doc("The campaign's own affiliate payout, in place of its offer's."),
        ],
        write::create_campaign,
    ),
    post(
        "update_campaign.json",
        &[
            CAMPAIGN_ID.required().doc("The campaign to update."),
            CAMPAIGN_STATUS.optional(),
            CREATIVE_ID
                .nullable()
                .doc("The creative to assign; null (JSON) or empty (form) removes it."),
            LANDING_PAGE_ID
                .nullable()
                .doc("The landing page to assign; null (JSON) or empty (form) removes it."),
            POSTBACK_URL
                .nullable()
                .doc("The campaign's own partner postback URL; null (JSON) or empty (form) removes it."),
            AFFILIATE_PAYOUT
                .nullable()
                .doc("The campaign's own affiliate payout, in place of its offer's; null (JSON) or empty (form) removes it (the offer's applies)."),
        ],
        write::update_campaign,
    ),
    // Smart links.
    post(
        "smart_link.json",
        &[
            AFFILIATE_ID.required(),
            SMART_LINK_NAME.required(),
            FALLBACK_URL.optional(),
            SMART_LINK_STATUS.optional(),
            ROTATION.optional(),
            OPTIMIZE_WINDOW_HOURS.optional(),
            OPTIMIZE_MIN_SHARE.optional(),
            POSTBACK_URL.optional(),
        ],
        write::create_smart_link,
    ),
    post(
        "update_smart_link.json",
        &[
            SMART_LINK_ID.required(),
            SMART_LINK_NAME.optional(),
            FALLBACK_URL.nullable(),
            SMART_LINK_STATUS.optional(),
            ROTATION.optional(),
            OPTIMIZE_WINDOW_HOURS.nullable(),
            OPTIMIZE_MIN_SHARE.nullable(),
            POSTBACK_URL
                .nullable()
                .doc("The smart link's own partner postback URL; null (JSON) or empty (form) removes it."),
        ],
        write::update_smart_link,
    ),
    post(
        "delete_smart_link.json",
        &[SMART_LINK_ID.required()],
        write::delete_smart_link,
    ),
    post("smart_link_offer.json", &ATTACH, write::attach_offer),
    post(
        "remove_smart_link_offer.json",
        &[SMART_LINK_ID.required(), OFFER_ID.required()],
        write::remove_offer,
    ),
    // Offers.
    post("offer.json", &CREATE_OFFER, write::create_offer),
    post("update_offer.json", &UPDATE_OFFER, write::update_offer),
    // Landing pages.
    post(
        "landing_page.json",
        &[
            OFFER_ID.required(),
            LANDING_PAGE_NAME.required(),
            URL.required(),
            LANDING_PAGE_STATUS.optional(),
            LANDING_PAGE_WEIGHT.optional(),
            LANDING_PAGE_CONDITIONS[0].optional(),
            LANDING_PAGE_CONDITIONS[1].optional(),
            HEALTH_CHECK.optional(),
            HEALTH_CHECK_URL.nullable(),
        ],
        write::create_landing_page,
    ),
    post(
        "update_landing_page.json",
        &[
            LANDING_PAGE_ID.required(),
            LANDING_PAGE_NAME.optional(),
            URL.optional(),
            LANDING_PAGE_STATUS.optional(),
            LANDING_PAGE_WEIGHT.optional(),
            LANDING_PAGE_CONDITIONS[0].optional(),
            LANDING_PAGE_CONDITIONS[1].optional(),
            HEALTH_CHECK.optional(),
            HEALTH_CHECK_URL.nullable(),
        ],
        write::update_landing_page,
    ),
    // Creatives.
    post(
        "creative.json",
        &[
            OFFER_ID.required(),
            CREATIVE_NAME.required(),
            CREATIVE_TYPE_ID.required(),
            CREATIVE_STATUS.optional(),
            WIDTH.optional(),
            HEIGHT.optional(),
        ],
        write::create_creative,
    ),
    post(
        "update_creative.json",
        &[
            CREATIVE_ID.required(),
            CREATIVE_NAME.optional(),
            CREATIVE_TYPE_ID.optional(),
            CREATIVE_STATUS.optional(),
            WIDTH
                .nullable()
                .doc("Width in pixels (1-100000); null (JSON) or empty (form) clears it."),
            HEIGHT
                .nullable()
                .doc("Height in pixels (1-100000); null (JSON) or empty (form) clears it."),
        ],
        write::update_creative,
    ),
    // Affiliates.
    post(
        "affiliate.json",
        &[AFFILIATE_NAME.required(), POSTBACK_URL.optional()],
        write::create_affiliate,
    ),
    post(
        "update_affiliate.json",
        &[
            AFFILIATE_ID.required(),
            AFFILIATE_NAME.optional(),
            POSTBACK_URL
                .nullable()
                .doc("The partner postback URL; null (JSON) or empty (form) removes it."),
        ],
        write::update_affiliate,
    ),
    // Partner postbacks.
    get_blocking(
        "partner_postbacks.json",
        &[
            AFFILIATE_ID.optional().doc("Only this affiliate's deliveries."),
            DELIVERY_STATUS.optional(),
            DELIVERIES_FROM.optional(),
            DELIVERIES_TO.optional(),
            START_AT_ROW_1.optional(),
            ROW_LIMIT_500.optional(),
        ],
        partner::partner_postbacks,
    ),
    Call {
        name: "retry_partner_postback.json",
        method: Method::POST,
        params: &[
            CONVERSION_ID.optional().doc("The failed delivery to send again."),
            AFFILIATE_ID
                .optional()
                .doc("Send every failed delivery of this affiliate again."),
        ],
        action: Action::Operate(partner::retry_partner_postback),
        blocks: true,
    },
    // Many writes as one.
    Call {
        name: BATCH,
        method: Method::POST,
        params: &[CALLS_LIST.required()],
        action: Action::Batch,
        blocks: false,
    },
    // What many writes would do, not done.
    Call {
        name: "preview.json",
        method: Method::POST,
        params: &[
            CALLS_LIST.required().doc("The write calls of the change to preview, as for batch.json: 1 to 1000 objects {\"call\": the call's name, \"params\": its parameters without api_key}. Nothing is applied. In a form body, its JSON text."),
            HOURS.optional(),
            SMART_LINK_ID
                .optional()
                .doc("Only this smart link, touched by the change or not."),
        ],
        action: Action::Preview,
        blocks: true,
    },
];
