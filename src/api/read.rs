//! The read calls: lists with filters and pagination, route explanation (statistics are
//! `stats`'s). They read the snapshot the request took and never wait for a write.
//!
//! List items of the seed calls carry exactly the seed samples' fields (and a smart link's
//! `rotation` when it is not the default); the calls beyond the seeds (offers, affiliates, a
//! link's attachments) carry every field of the catalog.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::IpAddr;

use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Map, Value, json};

use super::error::ApiError;
use super::fields::*;
use super::params::{Args, Field, Read};
use crate::app::route::Probe;
use crate::catalog::{Campaign, Catalog, Conditions, Creative, LandingPage, Offer, SmartLink};
use crate::conditions::{Dimension, Side};
use crate::links;
use crate::routing::{Link, RoutingTable};
use crate::settings::Settings;
use crate::state::State;

/// How a list is answered.
#[derive(Clone, Copy)]
pub(super) enum Shape {
    /// `{"request_status":"Success","response":{<key>: items, "total_rows": n}}`, the rows
    /// of the requested page; the field is the call's `start_at_row`.
    Paged(Field<i64>),
    /// `{"request_status":"Success",<key>: items}`, every row (creatives, landing pages).
    Bare,
}

/// The answer of a list call: the `matching` entities, each as `item` shows it, under `key`.
pub(super) fn list<T>(
    args: &Args,
    key: &str,
    shape: Shape,
    matching: impl Iterator<Item = T>,
    item: impl FnMut(T) -> Value,
) -> Value {
    match shape {
        Shape::Paged(start) => {
            let (rows, total) = page(args, start, matching);
            let items: Vec<Value> = rows.into_iter().map(item).collect();
            json!({"request_status": "Success", "response": {key: items, "total_rows": total}})
        }
        Shape::Bare => {
            let items: Vec<Value> = matching.map(item).collect();
            json!({"request_status": "Success", key: items})
        }
    }
}

/// Where `start_at_row` counts from: 1 in the campaigns document's lists (offers and
/// affiliates follow them), 0 in `smart_links.json`. The ranges and defaults of
/// `start_at_row` and `row_limit` are their fields' (`fields`).
pub(super) const FROM_ONE: Shape = Shape::Paged(START_AT_ROW_1);
const FROM_ZERO: Shape = Shape::Paged(START_AT_ROW_0);

/// The rows of `items` on the requested page, and the number of rows in all pages. `start`
/// is the call's `start_at_row`, whose default is the first row's number.
fn page<T>(args: &Args, start: Field<i64>, items: impl Iterator<Item = T>) -> (Vec<T>, usize) {
    let first = start.default.unwrap_or(0);
    let skip = usize::try_from(args.get(start).unwrap_or(first) - first).unwrap_or(0);
    let row_limit = args.get(ROW_LIMIT_5000).or(args.get(ROW_LIMIT_500));
    let default_rows = ROW_LIMIT_5000.default.unwrap_or(100);
    let limit = usize::try_from(row_limit.unwrap_or(default_rows)).unwrap_or(0);
    let mut total = 0;
    let mut rows = Vec::new();
    for item in items {
        if total >= skip && rows.len() < limit {
            rows.push(item);
        }
        total += 1;
    }
    (rows, total)
}

/// Whether an optional filter (an id, a status) admits `value`.
fn admits<T: Read + PartialEq>(args: &Args, filter: Field<T>, value: T) -> bool {
    args.get(filter).is_none_or(|want| want == value)
}

pub fn campaigns(state: &State, args: &Args) -> Result<Value, ApiError> {
    let snapshot = state.snapshot();
    let c = &snapshot.catalog;
    let matching = c.campaigns.iter().filter(|x| {
        admits(args, CAMPAIGN_ID, x.campaign_id)
            && admits(args, OFFER_ID, x.offer_id)
            && admits(args, AFFILIATE_ID, x.affiliate_id)
            && admits(args, CAMPAIGN_STATUS, x.campaign_status)
    });
    let names = Names::of(c);
    Ok(list(args, "campaigns", FROM_ONE, matching, |x| {
        campaign_item(&snapshot.settings, &names, x)
    }))
}

/// Offer and affiliate names by id, for list items that show them.
struct Names<'a> {
    offers: HashMap<u32, &'a str>,
    affiliates: HashMap<u32, &'a str>,
}

impl<'a> Names<'a> {
    fn of(c: &'a Catalog) -> Names<'a> {
        Names {
            offers: c
                .offers
                .iter()
                .map(|o| (o.offer_id, o.offer_name.as_str()))
                .collect(),
            affiliates: c
                .affiliates
                .iter()
                .map(|a| (a.affiliate_id, a.affiliate_name.as_str()))
                .collect(),
        }
    }
}

/// A campaign as `campaigns.json` lists it (the seed sample's fields).
fn campaign_item(settings: &Settings, names: &Names, x: &Campaign) -> Value {
    let mut item = json!({
        "campaign_id": x.campaign_id,
        "offer_id": x.offer_id,
        "offer_name": names.offers.get(&x.offer_id),
        "affiliate_id": x.affiliate_id,
        "affiliate_name": names.affiliates.get(&x.affiliate_id),
        "campaign_status": x.campaign_status,
        "tracking_link": links::campaign_url(settings, x),
        "creative_id": x.creative_id,
        "sub_affiliate": x.sub_affiliate,
        "date_created": x.date_created.as_deref().map(rfc3339),
    });
    with_postback_url(&mut item, x.postback_url.as_deref());
    // Only when set, as the postback URL: the seeds' shape otherwise.
    if let Some(payout) = x.affiliate_payout {
        item["affiliate_payout"] = json!(payout);
    }
    item
}

/// Adds a partner postback URL to an answer shaped as a seed sample when one is set.
pub fn with_postback_url(item: &mut Value, url: Option<&str>) {
    if let Some(url) = url {
        item["postback_url"] = json!(url);
    }
}

/// A catalog date as RFC 3339 UTC (`2026-01-15T09:00:00Z`), the form lists use.
fn rfc3339(date: &str) -> String {
    crate::catalog::validate::parse_date(date)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| date.to_string())
}

pub fn creatives(state: &State, args: &Args) -> Result<Value, ApiError> {
    let snapshot = state.snapshot();
    let matching = snapshot.catalog.creatives.iter().filter(|x| {
        admits(args, CREATIVE_ID, x.creative_id)
            && admits(args, OFFER_ID, x.offer_id)
            && admits(args, CREATIVE_TYPE_ID, x.creative_type_id)
            && admits(args, CREATIVE_STATUS, x.creative_status)
    });
    Ok(list(
        args,
        "creatives",
        Shape::Bare,
        matching,
        creative_item,
    ))
}

/// A creative as `creatives.json` lists it (the seed sample's fields).
pub fn creative_item(x: &Creative) -> Value {
    let creative_type = match x.creative_type_id {
        1 => "Banner",
        2 => "Text Link",
        3 => "Email",
        _ => "HTML",
    };
    json!({
        "creative_id": x.creative_id,
        "creative_name": x.creative_name,
        "creative_type": creative_type,
        "offer_id": x.offer_id,
        "creative_status": x.creative_status,
        "width": x.width,
        "height": x.height,
    })
}

pub fn landing_pages(state: &State, args: &Args) -> Result<Value, ApiError> {
    let snapshot = state.snapshot();
    let matching = snapshot.catalog.landing_pages.iter().filter(|x| {
        admits(args, LANDING_PAGE_ID, x.landing_page_id)
            && admits(args, OFFER_ID, x.offer_id)
            && admits(args, LANDING_PAGE_STATUS, x.landing_page_status)
    });
    Ok(list(
        args,
        "landing_pages",
        Shape::Bare,
        matching,
        landing_page_item,
    ))
}

/// A landing page as the seed sample shows it, with `landing_page_weight`, `countries` and
/// `devices` when they are set (a page the seeds could show answers exactly as they do).
pub fn landing_page_item(x: &LandingPage) -> Value {
    json!(x)
}

pub fn smart_links(state: &State, args: &Args) -> Result<Value, ApiError> {
    let snapshot = state.snapshot();
    let search = args.get(SEARCH).map(|s| s.to_lowercase());
    let matching = snapshot.catalog.smart_links.iter().filter(|x| {
        admits(args, SMART_LINK_ID, x.smart_link_id)
            && admits(args, AFFILIATE_ID, x.affiliate_id)
            && admits(args, SMART_LINK_STATUS, x.smart_link_status)
            && search.as_deref().is_none_or(|s| found(s, x))
    });
    Ok(list(args, "smart_links", FROM_ZERO, matching, |x| {
        let mut item = json!({
            "smart_link_id": x.smart_link_id,
            "smart_link_name": x.smart_link_name,
            "affiliate_id": x.affiliate_id,
            "smart_link_status": x.smart_link_status,
            "tracking_url": links::smart_link_url(&snapshot.settings, x),
            "fallback_url": x.fallback_url,
            "offer_count": x.offers.len(),
        });
        with_rotation(&mut item, x);
        with_postback_url(&mut item, x.postback_url.as_deref());
        item
    }))
}

/// Whether `search` (lower case) is in the link's name, letters compared without case, or
/// is its id.
fn found(search: &str, link: &SmartLink) -> bool {
    link.smart_link_name.to_lowercase().contains(search)
        || search.trim().parse::<u32>() == Ok(link.smart_link_id)
}

/// Adds a smart link's `rotation` to an answer shaped as a seed sample, which has no such
/// field, when it is not the default: a link the seeds could show answers exactly as they do.
pub fn with_rotation(item: &mut Value, link: &SmartLink) {
    if !link.rotation.is_random() {
        item["rotation"] = json!(link.rotation);
    }
    if let Some(hours) = link.optimize_window_hours {
        item["optimize_window_hours"] = json!(hours);
    }
    if let Some(share) = link.optimize_min_share {
        item["optimize_min_share"] = json!(share);
    }
}

pub fn offers(state: &State, args: &Args) -> Result<Value, ApiError> {
    let snapshot = state.snapshot();
    let matching = snapshot.catalog.offers.iter().filter(|x| {
        admits(args, OFFER_ID, x.offer_id) && admits(args, OFFER_STATUS, x.offer_status)
    });
    Ok(list(args, "offers", FROM_ONE, matching, offer_item))
}

/// An offer with every field: its targeting conditions as [`with_conditions`] lists them.
pub fn offer_item(o: &Offer) -> Value {
    let mut item = Map::new();
    item.insert("offer_id".into(), json!(o.offer_id));
    item.insert("offer_name".into(), json!(o.offer_name));
    item.insert("offer_status".into(), json!(o.offer_status));
    item.insert("offer_url".into(), json!(o.offer_url));
    with_conditions(&mut item, Side::Offer, &o.conditions);
    item.insert("caps".into(), json!(o.caps));
    item.insert("postback_token".into(), json!(o.postback_token));
    item.insert("payout".into(), json!(o.payout));
    item.insert("affiliate_payout".into(), json!(o.affiliate_payout));
    item.insert(
        "landing_page_rotation".into(),
        json!(o.landing_page_rotation),
    );
    item.insert("health_check".into(), json!(o.health_check));
    item.insert("health_check_url".into(), json!(o.health_check_url));
    Value::Object(item)
}

/// Adds the targeting conditions written on `side` to a list item: the include lists of the
/// dimensions the seeds show (`countries`, `devices`) always, empty meaning any; every other
/// list when it is set. In dimension order, include before exclude.
fn with_conditions(item: &mut Map<String, Value>, side: Side, conditions: &Conditions) {
    for d in Dimension::ALL {
        for exclude in [false, true] {
            let field = d.field(side, exclude);
            match conditions.get(field) {
                Some(values) => item.insert(field.into(), values.clone()),
                None if d.always_listed() && !exclude => item.insert(field.into(), json!([])),
                None => None,
            };
        }
    }
}

pub fn affiliates(state: &State, args: &Args) -> Result<Value, ApiError> {
    let snapshot = state.snapshot();
    let matching = snapshot
        .catalog
        .affiliates
        .iter()
        .filter(|x| admits(args, AFFILIATE_ID, x.affiliate_id));
    Ok(list(args, "affiliates", FROM_ONE, matching, |a| json!(a)))
}

/// The smart link named by the call's `smart_link_id`, or a `404`.
fn link_of<'c>(catalog: &'c Catalog, args: &Args) -> Result<&'c SmartLink, ApiError> {
    let id = args.get(SMART_LINK_ID).unwrap_or(0);
    catalog
        .smart_links
        .iter()
        .find(|l| l.smart_link_id == id)
        .ok_or_else(|| ApiError::missing(SMART_LINK_ID.name, id))
}

/// The compiled smart link named by the call's `smart_link_id`, or a `404`.
pub(super) fn compiled_link_of<'t>(
    table: &'t RoutingTable,
    args: &Args,
) -> Result<&'t Link, ApiError> {
    let id = args.get(SMART_LINK_ID).unwrap_or(0);
    table
        .link(id)
        .ok_or_else(|| ApiError::missing(SMART_LINK_ID.name, id))
}

pub fn smart_link_offers(state: &State, args: &Args) -> Result<Value, ApiError> {
    let snapshot = state.snapshot();
    let link = link_of(&snapshot.catalog, args)?;
    // Optimized rotation: the weight each attachment is drawn with now, from the table.
    let compiled = snapshot.table.link(link.smart_link_id);
    let offers: Vec<Value> = link
        .offers
        .iter()
        .map(|a| {
            let mut item = Map::new();
            item.insert("offer_id".into(), json!(a.offer_id));
            item.insert("offer_weight".into(), json!(a.offer_weight));
            item.insert("priority".into(), json!(a.priority));
            with_conditions(&mut item, Side::Attachment, &a.conditions);
            if let Some(payout) = a.affiliate_payout {
                item.insert("affiliate_payout".into(), json!(payout));
            }
            if let Some(optimized) =
                compiled.and_then(|l| crate::routing::explain::optimized_weight(l, a.offer_id))
            {
                item.insert("optimized".into(), json!(optimized));
            }
            Value::Object(item)
        })
        .collect();
    Ok(json!({
        "request_status": "Success",
        "response": {
            "smart_link_id": link.smart_link_id,
            "rotation": link.rotation,
            "offers": offers,
        },
    }))
}

/// The decision for a click from `ip` (default 127.0.0.1) with the given user agent and
/// client hints, recording nothing. `ip` is the client's address itself (no proxy headers).
pub fn smart_link_route(state: &State, args: &Args) -> Result<Value, ApiError> {
    let snapshot = state.snapshot();
    let link = compiled_link_of(&snapshot.table, args)?;
    let ip: IpAddr = args
        .get(IP)
        .and_then(|t| t.parse().ok())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    let mut headers = HeaderMap::new();
    for (param, header) in [
        (USER_AGENT, http::header::USER_AGENT),
        (
            SEC_CH_UA_MOBILE,
            HeaderName::from_static("sec-ch-ua-mobile"),
        ),
        (
            SEC_CH_UA_PLATFORM,
            HeaderName::from_static("sec-ch-ua-platform"),
        ),
        (ACCEPT_LANGUAGE, http::header::ACCEPT_LANGUAGE),
        (REFERER, http::header::REFERER),
    ] {
        if let Some(text) = args.get(param) {
            let value = HeaderValue::from_str(&text).map_err(|_| {
                ApiError::bad_request(Some(param.name), "is not a valid header value")
            })?;
            headers.insert(header, value);
        }
    }
    let time = crate::app::route::time(args.get(AT).as_deref())
        .map_err(|e| ApiError::bad_request(Some(AT.name), e))?;
    // Without proxy headers the client IP is the peer, so the given address is used as is.
    let probe = Probe {
        peer: ip,
        headers: &headers,
        subs: SUBS.map(|s| args.get(s).map(Cow::Owned)),
        time,
    };
    let report = crate::app::route::report(&snapshot, link, &probe, &state.devices);
    Ok(json!({"request_status": "Success", "response": report}))
}

/// What health checks found of every offer and landing page (`health::list`).
pub fn destination_health(state: &State, _: &Args) -> Result<Value, ApiError> {
    let snapshot = state.snapshot();
    let mut answer = Map::new();
    answer.insert("request_status".into(), json!("Success"));
    if let Value::Object(list) = crate::health::list(&snapshot, state.counts.health()) {
        answer.extend(list);
    }
    Ok(Value::Object(answer))
}
