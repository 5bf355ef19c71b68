//! Clicks on tracking links over HTTP: `GET|HEAD /sl?id=…&aff_id=…&s1..s5=…` (smart links)
//! and `/rd/r.php?sid=…` or `/rd/{token}` (campaigns).
//!
//! query → link (`404` when there is none) → the click use case (`crate::app::click`) → `302`.

use std::borrow::Cow;
use std::net::IpAddr;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Response, Uri};

use super::query;
use super::response::{Body, PlainError, redirect};
use crate::app::click::{Click, Env, Mode, Via};
use crate::click_log::SubIds;
use crate::links;
use crate::routing::NoTrace;
use crate::snapshot::Snapshot;
use crate::state::State;

/// The parts of a request a click reads.
pub struct ClickRequest<'a> {
    pub method: &'a Method,
    pub uri: &'a Uri,
    pub headers: &'a HeaderMap,
    /// The TCP peer (or the PROXY protocol's client).
    pub peer: IpAddr,
    pub started: crate::clock::Instant,
}

/// Answers one smart-link click.
pub fn smart_link(
    state: &State,
    snapshot: &Snapshot,
    req: &ClickRequest,
) -> Result<Response<Body>, PlainError> {
    let q = query::parse(req.uri.query(), Some(query::SMART_LINK_ID))?;
    let link = match q.id {
        Some(query::Id::Known(id)) => snapshot.table.link(id).ok_or(PlainError::NOT_FOUND)?,
        _ => return Err(PlainError::NOT_FOUND),
    };
    if q.aff_id.is_some_and(|a| !a.matches(link.affiliate_id)) {
        return Err(PlainError::NOT_FOUND);
    }
    answer(state, snapshot, req, Via::SmartLink(link), &q.subs)
}

/// Answers one campaign click: `/rd/r.php?sid=…&aff_id=…` (`token` is `None`) or
/// `/rd/{token}`, with `s1`..`s5`. The campaign's `sub_affiliate` is the click's `s1` when
/// the link carries none.
pub fn campaign(
    state: &State,
    snapshot: &Snapshot,
    req: &ClickRequest,
    token: Option<&str>,
) -> Result<Response<Body>, PlainError> {
    let mut q = query::parse(
        req.uri.query(),
        token.is_none().then_some(query::CAMPAIGN_ID),
    )?;
    let (id, aff_id) = match token {
        None => (q.id, q.aff_id),
        Some(token) => {
            let (campaign, affiliate) = links::decode_token(token).ok_or(PlainError::NOT_FOUND)?;
            if q.aff_id.is_some_and(|a| !a.matches(affiliate)) {
                return Err(PlainError::NOT_FOUND);
            }
            (
                Some(query::Id::Known(campaign)),
                Some(query::Id::Known(affiliate)),
            )
        }
    };
    let campaign = match id {
        Some(query::Id::Known(id)) => snapshot.table.campaign(id).ok_or(PlainError::NOT_FOUND)?,
        _ => return Err(PlainError::NOT_FOUND),
    };
    if aff_id.is_some_and(|a| !a.matches(campaign.link.affiliate_id)) {
        return Err(PlainError::NOT_FOUND);
    }
    if q.subs[0].is_none() {
        q.subs[0] = campaign.sub_affiliate.as_deref().map(Cow::Borrowed);
    }
    answer(state, snapshot, req, Via::Campaign(campaign), &q.subs)
}

/// The path prefix of campaign links.
pub const CAMPAIGN_PREFIX: &str = "/rd/";

/// Takes the click and answers `302` to where it goes. `HEAD` answers the same redirect but
/// is not a click: no id, no record, no count.
fn answer(
    state: &State,
    snapshot: &Snapshot,
    req: &ClickRequest,
    via: Via,
    subs: &SubIds,
) -> Result<Response<Body>, PlainError> {
    let click = Click {
        via,
        subs,
        peer: req.peer,
        headers: req.headers,
        time: crate::clock::wall(req.started),
        mode: if req.method == Method::GET {
            Mode::Count(&state.records)
        } else {
            Mode::DryRun
        },
    };
    let env = Env {
        snapshot,
        devices: &state.devices,
    };
    let url = crate::app::click::take(env, &click, &mut NoTrace).url;
    // Templates are printable ASCII and every value is encoded, so this cannot fail. (A
    // boxed slice becomes `Bytes` without the extra allocation a `String` with spare
    // capacity needs.)
    let location = HeaderValue::from_maybe_shared(Bytes::from(url.into_bytes().into_boxed_slice()))
        .map_err(|_| {
            tracing::error!(
                link = via.link().id,
                "rendered URL is not a valid header value"
            );
            PlainError::INTERNAL
        })?;
    Ok(redirect(location))
}
