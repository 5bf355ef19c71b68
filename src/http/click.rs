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

use super::query;
use super::response::{Body, Reject, redirect};
use crate::clicks::{Claims, ClickRecord, RecordText, SubIds};
use crate::client::ClientAttrs;
use crate::links;
use crate::routing::{Attributes, Context, Link, NoTrace, Outcome};
use crate::snapshot::Snapshot;
use crate::state::State;
use crate::template::{Macro, MacroValues, Template};
use crate::template::{push_encoded, push_number};
use crate::vocab::{Source, SourceKind};

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
    let q = query::parse(req.uri.query(), Some(query::SMART_LINK_ID))?;
    let table = &snapshot.table;
    let link = match q.id {
        Some(query::Id::Known(id)) => table.link(id).ok_or(Reject::NOT_FOUND)?,
        _ => return Err(Reject::NOT_FOUND),
    };
    if q.aff_id.is_some_and(|a| !a.matches(link.affiliate_id)) {
        return Err(Reject::NOT_FOUND);
    }
    let mut click = Click::new(state, snapshot, req);
    let outcome = click.decide(link);
    let template = match outcome {
        Outcome::Routed { offer, .. } => &offer.url,
        Outcome::Fallback(_) => table.fallback(link),
    };
    click.answer(
        SourceKind::SmartLink,
        link,
        &outcome,
        template,
        &q.subs,
        true,
    )
}

/// Answers one campaign click: `/rd/r.php?sid=…&aff_id=…` (`token` is `None`) or
/// `/rd/{token}`, with `s1`..`s5`. A campaign routes as its one-offer link; only an active
/// campaign on an active offer records its click; the campaign's `sub_affiliate` is the
/// click's `s1` when the link carries none.
pub fn campaign(
    state: &State,
    snapshot: &Snapshot,
    req: &ClickRequest,
    token: Option<&str>,
) -> Result<Response<Body>, Reject> {
    let mut q = query::parse(
        req.uri.query(),
        token.is_none().then_some(query::CAMPAIGN_ID),
    )?;
    let (id, aff_id) = match token {
        None => (q.id, q.aff_id),
        Some(token) => {
            let (campaign, affiliate) = links::decode_token(token).ok_or(Reject::NOT_FOUND)?;
            if q.aff_id.is_some_and(|a| !a.matches(affiliate)) {
                return Err(Reject::NOT_FOUND);
            }
            (
                Some(query::Id::Known(campaign)),
                Some(query::Id::Known(affiliate)),
            )
        }
    };
    let table = &snapshot.table;
    let campaign = match id {
        Some(query::Id::Known(id)) => table.campaign(id).ok_or(Reject::NOT_FOUND)?,
        _ => return Err(Reject::NOT_FOUND),
    };
    let link = &campaign.link;
    if aff_id.is_some_and(|a| !a.matches(link.affiliate_id)) {
        return Err(Reject::NOT_FOUND);
    }
    if q.subs[0].is_none() {
        q.subs[0] = campaign.sub_affiliate.as_deref().map(Cow::Borrowed);
    }
    let mut click = Click::new(state, snapshot, req);
    let outcome = click.decide(link);
    let template = match outcome {
        Outcome::Routed { offer, .. } => table.destination(campaign, offer),
        Outcome::Fallback(_) => table.fallback(link),
    };
    click.answer(
        SourceKind::Campaign,
        link,
        &outcome,
        template,
        &q.subs,
        link.active,
    )
}

/// The path prefix of campaign links.
pub const CAMPAIGN_PREFIX: &str = "/rd/";

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
            attrs: snapshot.client_attrs(req.peer, req.headers, &state.devices),
            // HEAD answers the same redirect but is not a click: no id, no record, no count.
            ctx: snapshot.context(crate::clock::unix_secs(now), req.method == Method::GET),
            now,
        }
    }

    /// Decides where the click on `link` goes and, for a `GET`, counts the outcome.
    fn decide<'t>(&mut self, link: &'t Link) -> Outcome<'t>
    where
        'a: 't,
    {
        let outcome = self.snapshot.table.decide(
            link,
            &self.ctx,
            &mut self.attrs,
            &mut rand::rng(),
            &mut NoTrace,
        );
        if self.ctx.count {
            match outcome {
                Outcome::Routed { attachment, .. } => {
                    self.state.metrics.click_routed();
                    attachment.counters.routed.fetch_add(1, Ordering::Relaxed);
                }
                Outcome::Fallback(reason) => {
                    self.state.metrics.click_fallback(reason);
                    link.counters.fallback(reason);
                }
            }
        }
        outcome
    }

    /// Renders `template` and answers `302`; a `GET` on a link that `records` gets its click
    /// id (in the URL) and its record. Campaign records carry no priority.
    fn answer(
        mut self,
        kind: SourceKind,
        link: &Link,
        outcome: &Outcome,
        template: &Template,
        subs: &SubIds<'a>,
        records: bool,
    ) -> Result<Response<Body>, Reject> {
        let source = Source { kind, id: link.id };
        let (offer_id, priority, fallback) = match *outcome {
            Outcome::Routed { attachment, offer } => (
                Some(offer.id),
                (kind == SourceKind::SmartLink).then_some(attachment.priority),
                None,
            ),
            Outcome::Fallback(reason) => (None, None, Some(reason)),
        };
        let issued = (self.ctx.count && records).then(|| {
            self.snapshot.signer.issue(&Claims {
                kind,
                time: self.ctx.caps.now as u32,
                offer_id,
                source_id: link.id,
                affiliate_id: link.affiliate_id,
            })
        });
        let url = template.render(&mut ClickMacros {
            click_id: issued.as_ref().map_or("", |id| id.as_str()),
            source,
            affiliate_id: link.affiliate_id,
            offer_id,
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
                    Reject::INTERNAL
                })?;

        if let Some(click_id) = issued {
            let attrs = &mut self.attrs;
            let (device, os) = attrs.device_and_os();
            self.state.records.send(ClickRecord {
                time: self.now,
                click_id,
                kind,
                source_id: link.id,
                affiliate_id: link.affiliate_id,
                offer_id,
                priority,
                fallback,
                ip: attrs.ip,
                country: attrs.country_if_known(),
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
