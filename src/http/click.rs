//! Clicks on tracking links, end to end: `GET|HEAD /sl?id=…&aff_id=…&s1..s5=…` (smart
//! links, SPEC §5) and `/rd/r.php?sid=…` or `/rd/{token}` (campaigns).
//!
//! query → link → client attributes (lazy) → decision → URL → `302`, and for `GET` a signed
//! click id and one click record handed to the log queue. No lock, no I/O, no parsing of
//! anything twice; the allocations are the URL, the record's text and the response headers.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Response, Uri};

use super::query::{self, ClickQuery};
use super::response::{Body, Reject, redirect};
use crate::caps::{CapClock, Source};
use crate::clicks::{Claims, ClickRecord, RecordText, SourceKind, SubIds};
use crate::client::{ClientAttrs, DeviceHeaders};
use crate::links;
use crate::routing::template::{push_encoded, push_number};
use crate::routing::{
    Attributes, Context, FallbackReason, Macro, MacroValues, NoTrace, Outcome, Template,
};
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
) -> Result<Response<Body>, Reject> {
    let ClickQuery { id, aff_id, subs } = query::parse(req.uri.query(), query::SMART_LINK_ID)?;
    let table = &snapshot.table;
    let link = match id {
        query::Id::Known(id) => table.link(id).ok_or(Reject::NotFound)?,
        query::Id::TooLarge => return Err(Reject::NotFound),
    };
    if aff_id.is_some_and(|a| !a.matches(link.affiliate_id)) {
        return Err(Reject::NotFound);
    }

    let mut click = Click::new(state, snapshot, req);
    let outcome = table.decide(
        link,
        &click.ctx,
        &mut click.attrs,
        &mut rand::rng(),
        &mut NoTrace,
    );
    let (offer_id, priority, fallback, template) = match outcome {
        Outcome::Routed { attachment, offer } => {
            (Some(offer.id), Some(attachment.priority), None, &offer.url)
        }
        Outcome::Fallback(reason) => (None, None, Some(reason), table.fallback(link)),
    };
    if click.counts() {
        match outcome {
            Outcome::Routed { attachment, .. } => {
                state.metrics.click_routed();
                attachment.counters.routed.fetch_add(1, Ordering::Relaxed);
            }
            Outcome::Fallback(reason) => {
                state.metrics.click_fallback(reason);
                link.counters.fallback(reason);
            }
        }
    }
    click.answer(
        Source::smart_link(link.id),
        link.affiliate_id,
        Routing {
            offer_id,
            priority,
            fallback,
        },
        template,
        &subs,
        true,
    )
}

/// Answers one campaign click: `/rd/r.php?sid=…&aff_id=…` or `/rd/{token}`, with `s1`..`s5`.
/// Only an active campaign on an active offer records its click; the campaign's
/// `sub_affiliate` is the click's `s1` when the link carries none.
pub fn campaign(
    state: &State,
    snapshot: &Snapshot,
    req: &ClickRequest,
) -> Result<Response<Body>, Reject> {
    let uri = req.uri;
    let (id, aff_id, mut subs) = match uri.path().strip_prefix(CAMPAIGN_PREFIX) {
        Some(STANDARD_CAMPAIGN_PATH) => {
            let q = query::parse(uri.query(), query::CAMPAIGN_ID)?;
            (q.id, q.aff_id, q.subs)
        }
        Some(token) => {
            let (campaign, affiliate) = links::decode_token(token).ok_or(Reject::NotFound)?;
            let q = query::parse_without_id(uri.query())?;
            if q.aff_id.is_some_and(|a| !a.matches(affiliate)) {
                return Err(Reject::NotFound);
            }
            (
                query::Id::Known(campaign),
                Some(query::Id::Known(affiliate)),
                q.subs,
            )
        }
        None => return Err(Reject::NotFound),
    };
    let table = &snapshot.table;
    let campaign = match id {
        query::Id::Known(id) => table.campaign(id).ok_or(Reject::NotFound)?,
        query::Id::TooLarge => return Err(Reject::NotFound),
    };
    if aff_id.is_some_and(|a| !a.matches(campaign.affiliate_id)) {
        return Err(Reject::NotFound);
    }
    if subs[0].is_none() {
        subs[0] = campaign.sub_affiliate.as_deref().map(Cow::Borrowed);
    }

    let mut click = Click::new(state, snapshot, req);
    let decision = table.decide_campaign(campaign, &click.ctx, &mut click.attrs);
    if click.counts() {
        match decision {
            Ok(_) => {
                state.metrics.click_routed();
                campaign.routed.routed.fetch_add(1, Ordering::Relaxed);
            }
            Err(reason) => {
                state.metrics.click_fallback(reason);
                campaign.counters.fallback(reason);
            }
        }
    }
    let (offer_id, fallback, template) = match decision {
        Ok(offer) => (Some(offer.id), None, table.destination(campaign)),
        Err(reason) => (None, Some(reason), table.default_fallback()),
    };
    click.answer(
        Source::campaign(campaign.id),
        campaign.affiliate_id,
        Routing {
            offer_id,
            priority: None,
            fallback,
        },
        template,
        &subs,
        campaign.active,
    )
}

/// The path prefix of campaign links, and the path of their standard form under it.
pub const CAMPAIGN_PREFIX: &str = "/rd/";
const STANDARD_CAMPAIGN_PATH: &str = "r.php";

/// Where a click went.
struct Routing {
    offer_id: Option<u32>,
    priority: Option<i64>,
    fallback: Option<FallbackReason>,
}

/// What every click has, whatever its link: the client and the decision context.
struct Click<'a> {
    state: &'a State,
    snapshot: &'a Snapshot,
    attrs: ClientAttrs<'a>,
    ctx: Context<'a>,
    now: std::time::SystemTime,
}

impl<'a> Click<'a> {
    fn new(state: &'a State, snapshot: &'a Snapshot, req: &ClickRequest<'a>) -> Click<'a> {
        let now = crate::clock::wall(req.started);
        Click {
            state,
            snapshot,
            attrs: ClientAttrs::new(
                snapshot.proxies.client_ip(req.peer, req.headers),
                DeviceHeaders::from_headers(req.headers),
                snapshot.geo.as_deref(),
                &state.devices,
            ),
            // HEAD answers the same redirect but is not a click: no id, no record, no count.
            ctx: Context {
                bots: snapshot.settings.bots,
                caps: CapClock {
                    calendar: &snapshot.calendar,
                    now: crate::clock::unix_secs(now),
                },
                count: req.method == Method::GET,
            },
            now,
        }
    }

    /// A `GET`: counted, and (when its link records clicks) given an id and a record.
    fn counts(&self) -> bool {
        self.ctx.count
    }

    /// Renders the destination and answers `302`; a recorded click gets its id (in the URL)
    /// and its record.
    fn answer(
        mut self,
        source: Source,
        affiliate_id: u32,
        routing: Routing,
        template: &Template,
        subs: &SubIds<'a>,
        records: bool,
    ) -> Result<Response<Body>, Reject> {
        let issued = (self.counts() && records).then(|| {
            self.snapshot.signer.issue(&Claims {
                kind: source.kind,
                time: self.ctx.caps.now as u32,
                offer_id: routing.offer_id,
                source_id: source.id,
                affiliate_id,
            })
        });
        let url = template.render(&mut ClickMacros {
            click_id: issued.as_ref().map_or("", |id| id.as_str()),
            source,
            affiliate_id,
            offer_id: routing.offer_id,
            subs,
            attrs: &mut self.attrs,
        });
        // Templates are printable ASCII and every value is encoded, so this cannot fail. (A
        // boxed slice becomes `Bytes` without the extra allocation a `String` with spare
        // capacity needs.)
        let location =
            HeaderValue::from_maybe_shared(Bytes::from(url.into_bytes().into_boxed_slice()))
                .map_err(|_| {
                    tracing::error!(?source, "rendered URL is not a valid header value");
                    Reject::Internal
                })?;

        if let Some(click_id) = issued {
            let attrs = &mut self.attrs;
            let (device, os) = attrs.device_and_os();
            self.state.records.send(ClickRecord {
                time: self.now,
                click_id,
                kind: source.kind,
                source_id: source.id,
                affiliate_id,
                offer_id: routing.offer_id,
                priority: routing.priority,
                fallback: routing.fallback,
                ip: attrs.ip,
                country: attrs.country_if_known().flatten(),
                device,
                os,
                text: RecordText::new(attrs.headers.user_agent, subs),
            });
        }
        Ok(redirect(location))
    }
}

/// Macro values of a click; client attributes are computed only if used.
pub struct ClickMacros<'a, 'r> {
    /// Empty when no id is issued (`HEAD`, `smartlink route`, an inactive campaign).
    pub click_id: &'a str,
    pub source: Source,
    pub affiliate_id: u32,
    pub offer_id: Option<u32>,
    pub subs: &'a SubIds<'r>,
    pub attrs: &'a mut ClientAttrs<'r>,
}

impl MacroValues for ClickMacros<'_, '_> {
    fn write_value(&mut self, m: Macro, out: &mut String) {
        match m {
            // base64url: only unreserved characters.
            Macro::ClickId => out.push_str(self.click_id),
            Macro::SmartLinkId if self.source.kind == SourceKind::SmartLink => {
                push_number(out, self.source.id)
            }
            Macro::CampaignId if self.source.kind == SourceKind::Campaign => {
                push_number(out, self.source.id)
            }
            Macro::SmartLinkId | Macro::CampaignId => {}
            Macro::AffiliateId => push_number(out, self.affiliate_id),
            Macro::OfferId => {
                if let Some(id) = self.offer_id {
                    push_number(out, id);
                }
            }
            Macro::Sub(i) => {
                if let Some(v) = &self.subs[usize::from(i)] {
                    push_encoded(out, v);
                }
            }
            Macro::Country => {
                if let Some(c) = self.attrs.country() {
                    out.push_str(c.as_str());
                }
            }
            Macro::Device => out.push_str(self.attrs.device().as_str()),
            Macro::Os => out.push_str(self.attrs.os().as_str()),
        }
    }
}
