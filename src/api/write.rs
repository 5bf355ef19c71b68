//! The write calls. Each is a [`Change`]: what the call does to a copy of the catalog, and
//! the call's success body. A call alone is one [`State::edit_catalog`] of its change
//! ([`one`]); a batch applies the changes of all its calls in one (`batch`). Either way the
//! copy is validated, compiled, saved and swapped before the answer, or nothing at all.
//!
//! New ids are the largest id of their kind plus one (CAKE's sample: campaign 98001 → 98002),
//! counting ids that still have counters (a deleted smart link's id is never given again).
//! Updates change only the fields given and answer with the id and those fields; creates
//! answer with the new entity. Campaign calls and the other entities of CAKE's campaigns
//! document answer under the entity's name (`"campaign": {…}`); smart-link calls answer under
//! `"response"`, as the two seed documents do.

use serde_json::{Map, Value, json};

use super::error::ApiError;
use super::fields::*;
use super::params::{Args, Field};
use super::read::{creative_item, landing_page_item, offer_item, with_postback_url, with_rotation};
use crate::catalog::{
    Affiliate, Attachment, Campaign, Caps, Catalog, Conditions, Creative, LandingPage, LinkStatus,
    Offer, SmartLink, Status, default_landing_page_weight,
};
use crate::conditions::{Dimension, Side};
use crate::links;
use crate::money::Money;
use crate::state::State;
use crate::vocab::{CapKind, Entity};

/// `{"request_status":"Success", <key>: value}`.
fn success(key: &str, value: Value) -> Value {
    json!({"request_status": "Success", key: value})
}

/// The answer of an update: every parameter given (the id first), as now stored; also what
/// the audit log records of a call.
pub fn changed(args: &Args) -> Value {
    let map: Map<String, Value> = args
        .iter()
        .map(|(name, arg)| (name.to_string(), arg.to_json()))
        .collect();
    Value::Object(map)
}

/// One more than the largest id of `entity`, in the catalog or retired (`State::retired_id`:
/// a deleted entity's id is never given again, so a new entity cannot inherit its counts; in
/// cluster mode, no node hands out an id another committed).
fn next_id(state: &State, c: &Catalog, entity: Entity) -> Result<u32, ApiError> {
    c.largest_id(entity)
        .max(state.retired_id(entity))
        .checked_add(1)
        .ok_or_else(|| ApiError::unprocessable(None, "no ids are left for this kind of entity"))
}

/// A required id (checked before the handler runs).
fn id(args: &Args, field: Field<u32>) -> u32 {
    args.get(field).unwrap_or(0)
}

/// The entity whose id is the call's `field`, or a `404` naming it.
fn find<'c, T>(
    items: &'c mut [T],
    id_of: fn(&T) -> u32,
    args: &Args,
    field: Field<u32>,
) -> Result<&'c mut T, ApiError> {
    let want = id(args, field);
    items
        .iter_mut()
        .find(|x| id_of(x) == want)
        .ok_or_else(|| ApiError::missing(field.name, want))
}

/// Sets each condition list the call gives on `side`.
fn set_conditions(conditions: &mut Conditions, side: Side, args: &Args) {
    for d in Dimension::ALL {
        for exclude in [false, true] {
            let field = d.field(side, exclude);
            if let Some(values) = args.condition(field) {
                conditions.set(field, values.clone());
            }
        }
    }
}

/// Sets `slot` when the update gives `value`.
fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}

// ---------------------------------------------------------------------------------------------
// Campaigns.

pub fn create_campaign(state: &State, c: &mut Catalog, args: &Args) -> Result<Value, ApiError> {
    let now = jiff::Timestamp::now();
    let created = jiff::Timestamp::from_second(now.as_second()).unwrap_or(now);
    let offer_id = id(args, OFFER_ID);
    // A missing offer is reported by the catalog's own reference check.
    if let Some(offer) = c.offers.iter().find(|o| o.offer_id == offer_id)
        && offer.offer_status != Status::Active
    {
        return Err(ApiError::unprocessable(
            Some(OFFER_ID.name),
            format!(
                "offer {offer_id} is {}; campaigns are created for active offers only",
                offer.offer_status.as_str()
            ),
        ));
    }
    let campaign = Campaign {
        campaign_id: next_id(state, c, Entity::Campaign)?,
        offer_id,
        affiliate_id: id(args, AFFILIATE_ID),
        campaign_status: Status::Active,
        display_link_type_id: args.get(DISPLAY_LINK_TYPE_ID).unwrap_or(1),
        creative_id: args.get(CREATIVE_ID),
        landing_page_id: args.get(LANDING_PAGE_ID),
        sub_affiliate: args.get(SUB_AFFILIATE),
        coupon_code: args.get(COUPON_CODE),
        date_created: Some(created.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()),
        postback_url: args.get(POSTBACK_URL),
        affiliate_payout: args.get(AFFILIATE_PAYOUT),
    };
    // Settings do not change during an edit (reloads wait for it): these are the ones the
    // link is served under.
    let tracking_link = links::campaign_url(&state.snapshot().settings, &campaign);
    let mut answer = json!({
        "campaign_id": campaign.campaign_id,
        "campaign_status": campaign.campaign_status,
        "offer_id": campaign.offer_id,
        "affiliate_id": campaign.affiliate_id,
        "tracking_link": tracking_link,
        "date_created": created.strftime("%Y-%m-%d %H:%M:%S").to_string(),
    });
    with_postback_url(&mut answer, campaign.postback_url.as_deref());
    if let Some(payout) = campaign.affiliate_payout {
        answer["affiliate_payout"] = json!(payout);
    }
    c.campaigns.push(campaign);
    Ok(success("campaign", answer))
}

pub fn update_campaign(_: &State, c: &mut Catalog, args: &Args) -> Result<Value, ApiError> {
    let x = find(&mut c.campaigns, |x| x.campaign_id, args, CAMPAIGN_ID)?;
    set(&mut x.campaign_status, args.get(CAMPAIGN_STATUS));
    set(&mut x.creative_id, args.change(CREATIVE_ID));
    set(&mut x.landing_page_id, args.change(LANDING_PAGE_ID));
    set(&mut x.postback_url, args.change(POSTBACK_URL));
    set(&mut x.affiliate_payout, args.change(AFFILIATE_PAYOUT));
    Ok(success("campaign", changed(args)))
}

// ---------------------------------------------------------------------------------------------
// Smart links.

pub fn create_smart_link(state: &State, c: &mut Catalog, args: &Args) -> Result<Value, ApiError> {
    let link = SmartLink {
        smart_link_id: next_id(state, c, Entity::SmartLink)?,
        smart_link_name: args.get(SMART_LINK_NAME).unwrap_or_default(),
        affiliate_id: id(args, AFFILIATE_ID),
        smart_link_status: args.get(SMART_LINK_STATUS).unwrap_or(LinkStatus::Active),
        fallback_url: args.get(FALLBACK_URL),
        rotation: args.get(ROTATION).unwrap_or_default(),
        optimize_window_hours: args.get(OPTIMIZE_WINDOW_HOURS),
        optimize_min_share: args.get(OPTIMIZE_MIN_SHARE),
        offers: Vec::new(),
        postback_url: args.get(POSTBACK_URL),
    };
    let mut answer = json!({
        "smart_link_id": link.smart_link_id,
        "smart_link_name": link.smart_link_name,
        "affiliate_id": link.affiliate_id,
        "tracking_url": links::smart_link_url(&state.snapshot().settings, &link),
        "smart_link_status": link.smart_link_status,
    });
    with_rotation(&mut answer, &link);
    with_postback_url(&mut answer, link.postback_url.as_deref());
    c.smart_links.push(link);
    Ok(success("response", answer))
}

fn link_mut<'c>(c: &'c mut Catalog, args: &Args) -> Result<&'c mut SmartLink, ApiError> {
    find(&mut c.smart_links, |l| l.smart_link_id, args, SMART_LINK_ID)
}

pub fn update_smart_link(_: &State, c: &mut Catalog, args: &Args) -> Result<Value, ApiError> {
    let link = link_mut(c, args)?;
    set(&mut link.smart_link_name, args.get(SMART_LINK_NAME));
    set(&mut link.fallback_url, args.change(FALLBACK_URL));
    set(&mut link.postback_url, args.change(POSTBACK_URL));
    set(&mut link.smart_link_status, args.get(SMART_LINK_STATUS));
    set(&mut link.rotation, args.get(ROTATION));
    set(
        &mut link.optimize_window_hours,
        args.change(OPTIMIZE_WINDOW_HOURS),
    );
    set(
        &mut link.optimize_min_share,
        args.change(OPTIMIZE_MIN_SHARE),
    );
    Ok(success("response", changed(args)))
}

pub fn delete_smart_link(_: &State, c: &mut Catalog, args: &Args) -> Result<Value, ApiError> {
    let link_id = id(args, SMART_LINK_ID);
    let index = c
        .smart_links
        .iter()
        .position(|l| l.smart_link_id == link_id)
        .ok_or_else(|| ApiError::missing(SMART_LINK_ID.name, link_id))?;
    c.smart_links.remove(index);
    Ok(success(
        "response",
        json!({"smart_link_id": link_id, "deleted": true}),
    ))
}

/// Attaches an offer, or updates its attachment when it is attached already: the fields
/// given change, the others keep their values (a new attachment: weight 1, priority 1, any
/// country, any device). `added` says which happened.
pub fn attach_offer(_: &State, c: &mut Catalog, args: &Args) -> Result<Value, ApiError> {
    let link = link_mut(c, args)?;
    let offer_id = id(args, OFFER_ID);
    let existing = link.offers.iter().position(|a| a.offer_id == offer_id);
    let added = existing.is_none();
    let index = existing.unwrap_or_else(|| {
        link.offers.push(Attachment {
            offer_id,
            offer_weight: 1,
            priority: 1,
            conditions: Conditions::default(),
            affiliate_payout: None,
        });
        link.offers.len() - 1
    });
    let a = &mut link.offers[index];
    set(&mut a.offer_weight, args.get(OFFER_WEIGHT));
    set(&mut a.priority, args.get(PRIORITY));
    set(&mut a.affiliate_payout, args.change(AFFILIATE_PAYOUT));
    set_conditions(&mut a.conditions, Side::Attachment, args);
    let mut answer = json!({
        "smart_link_id": link.smart_link_id,
        "offer_id": a.offer_id,
        "offer_weight": a.offer_weight,
        "priority": a.priority,
        "added": added,
    });
    if let Some(payout) = a.affiliate_payout {
        answer["affiliate_payout"] = json!(payout);
    }
    Ok(success("response", answer))
}

pub fn remove_offer(_: &State, c: &mut Catalog, args: &Args) -> Result<Value, ApiError> {
    let link = link_mut(c, args)?;
    let offer_id = id(args, OFFER_ID);
    let index = link
        .offers
        .iter()
        .position(|a| a.offer_id == offer_id)
        .ok_or_else(|| {
            ApiError::not_found(
                Some(OFFER_ID.name),
                format!(
                    "offer {offer_id} is not attached to smart link {}",
                    link.smart_link_id
                ),
            )
        })?;
    link.offers.remove(index);
    Ok(success(
        "response",
        json!({
            "smart_link_id": link.smart_link_id,
            "offer_id": offer_id,
            "removed": true,
        }),
    ))
}

// ---------------------------------------------------------------------------------------------
// Offers, landing pages, creatives, affiliates.

/// Applies the cap parameters given to `caps`.
fn set_caps(caps: &mut Caps, args: &Args) {
    for (kind, field) in CapKind::ALL.into_iter().zip(CAPS) {
        set(caps.get_mut(kind), args.change(field));
    }
}

/// Applies every offer field given (create and update).
fn set_offer(o: &mut Offer, args: &Args) {
    set(&mut o.offer_name, args.get(OFFER_NAME));
    set(&mut o.offer_url, args.get(OFFER_URL));
    set(&mut o.offer_status, args.get(OFFER_STATUS));
    set_conditions(&mut o.conditions, Side::Offer, args);
    set(&mut o.postback_token, args.change(POSTBACK_TOKEN));
    set(&mut o.payout, args.get(PAYOUT));
    set(&mut o.affiliate_payout, args.get(AFFILIATE_PAYOUT));
    set(
        &mut o.landing_page_rotation,
        args.get(LANDING_PAGE_ROTATION),
    );
    set(&mut o.health_check, args.get(HEALTH_CHECK));
    set(&mut o.health_check_url, args.change(HEALTH_CHECK_URL));
    set_caps(&mut o.caps, args);
}

pub fn create_offer(state: &State, c: &mut Catalog, args: &Args) -> Result<Value, ApiError> {
    let mut offer = Offer {
        offer_id: next_id(state, c, Entity::Offer)?,
        offer_name: String::new(),
        offer_status: Status::Active,
        offer_url: String::new(),
        conditions: Conditions::default(),
        caps: Caps::default(),
        health_check: crate::catalog::model::checked(),
        health_check_url: None,
        postback_token: None,
        payout: Money::ZERO,
        affiliate_payout: Money::ZERO,
        landing_page_rotation: false,
    };
    set_offer(&mut offer, args);
    let answer = success("offer", offer_item(&offer));
    c.offers.push(offer);
    Ok(answer)
}

pub fn update_offer(_: &State, c: &mut Catalog, args: &Args) -> Result<Value, ApiError> {
    let o = find(&mut c.offers, |o| o.offer_id, args, OFFER_ID)?;
    set_offer(o, args);
    Ok(success("offer", changed(args)))
}

fn set_landing_page(l: &mut LandingPage, args: &Args) {
    set(&mut l.landing_page_name, args.get(LANDING_PAGE_NAME));
    set(&mut l.url, args.get(URL));
    set(&mut l.landing_page_status, args.get(LANDING_PAGE_STATUS));
    set(&mut l.landing_page_weight, args.get(LANDING_PAGE_WEIGHT));
    set(&mut l.health_check, args.get(HEALTH_CHECK));
    set(&mut l.health_check_url, args.change(HEALTH_CHECK_URL));
    for (d, field) in LandingPage::DIMENSIONS
        .into_iter()
        .zip(LANDING_PAGE_CONDITIONS)
    {
        if let (Some(slot), Some(values)) = (l.condition_mut(d), args.condition(field.name)) {
            // An empty list is any value, as on offers: the page is stored without it.
            let any = values.as_array().is_some_and(Vec::is_empty);
            *slot = (!any).then(|| values.clone());
        }
    }
}

pub fn create_landing_page(state: &State, c: &mut Catalog, args: &Args) -> Result<Value, ApiError> {
    let mut page = LandingPage {
        landing_page_id: next_id(state, c, Entity::LandingPage)?,
        landing_page_name: String::new(),
        offer_id: id(args, OFFER_ID),
        url: String::new(),
        landing_page_status: Status::Active,
        landing_page_weight: default_landing_page_weight(),
        countries: None,
        devices: None,
        health_check: crate::catalog::model::checked(),
        health_check_url: None,
    };
    set_landing_page(&mut page, args);
    let answer = success("landing_page", landing_page_item(&page));
    c.landing_pages.push(page);
    Ok(answer)
}

pub fn update_landing_page(_: &State, c: &mut Catalog, args: &Args) -> Result<Value, ApiError> {
    let l = find(
        &mut c.landing_pages,
        |l| l.landing_page_id,
        args,
        LANDING_PAGE_ID,
    )?;
    set_landing_page(l, args);
    Ok(success("landing_page", changed(args)))
}

fn set_creative(x: &mut Creative, args: &Args) {
    set(&mut x.creative_name, args.get(CREATIVE_NAME));
    set(&mut x.creative_type_id, args.get(CREATIVE_TYPE_ID));
    set(&mut x.creative_status, args.get(CREATIVE_STATUS));
    set(&mut x.width, args.change(WIDTH));
    set(&mut x.height, args.change(HEIGHT));
}

pub fn create_creative(state: &State, c: &mut Catalog, args: &Args) -> Result<Value, ApiError> {
    let mut creative = Creative {
        creative_id: next_id(state, c, Entity::Creative)?,
        creative_name: String::new(),
        creative_type_id: 1,
        offer_id: id(args, OFFER_ID),
        creative_status: Status::Active,
        width: None,
        height: None,
    };
    set_creative(&mut creative, args);
    let answer = success("creative", creative_item(&creative));
    c.creatives.push(creative);
    Ok(answer)
}

pub fn update_creative(_: &State, c: &mut Catalog, args: &Args) -> Result<Value, ApiError> {
    let x = find(&mut c.creatives, |x| x.creative_id, args, CREATIVE_ID)?;
    set_creative(x, args);
    Ok(success("creative", changed(args)))
}

pub fn create_affiliate(state: &State, c: &mut Catalog, args: &Args) -> Result<Value, ApiError> {
    let affiliate = Affiliate {
        affiliate_id: next_id(state, c, Entity::Affiliate)?,
        affiliate_name: args.get(AFFILIATE_NAME).unwrap_or_default(),
        postback_url: args.get(POSTBACK_URL),
    };
    let answer = success("affiliate", json!(affiliate));
    c.affiliates.push(affiliate);
    Ok(answer)
}

pub fn update_affiliate(_: &State, c: &mut Catalog, args: &Args) -> Result<Value, ApiError> {
    let a = find(&mut c.affiliates, |a| a.affiliate_id, args, AFFILIATE_ID)?;
    set(&mut a.affiliate_name, args.get(AFFILIATE_NAME));
    set(&mut a.postback_url, args.change(POSTBACK_URL));
    Ok(success("affiliate", changed(args)))
}
