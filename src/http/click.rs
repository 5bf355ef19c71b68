//! `GET|HEAD /sl?id=…&aff_id=…&s1..s5=…`: one smart-link click, end to end (SPEC §5).
//!
//! query → link → client attributes (lazy) → decision → URL → `302`, and for `GET` a signed
//! click id and one click record handed to the log queue. No lock, no I/O, no parsing of
//! anything twice; the allocations are the URL, the record's text and the response headers.

use std::net::IpAddr;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Response, Uri};

use super::query::{self, ClickQuery};
use super::response::{Body, Reject, redirect};
use crate::caps::CapClock;
use crate::clicks::{Claims, ClickRecord, RecordText, SourceKind, SubIds};
use crate::client::{ClientAttrs, DeviceHeaders};
use crate::routing::template::{push_encoded, push_number};
use crate::routing::{Attributes, Context, Link, Macro, MacroValues, NoTrace, Outcome};
use crate::snapshot::Snapshot;
use crate::state::State;

/// Answers one smart-link click.
pub fn smart_link(
    state: &State,
    snapshot: &Snapshot,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    peer: IpAddr,
    started: crate::clock::Instant,
) -> Result<Response<Body>, Reject> {
    let ClickQuery { id, aff_id, subs } = query::parse(uri.query(), "id")?;
    let table = &snapshot.table;
    let link = match id {
        query::Id::Known(id) => table.link(id).ok_or(Reject::NotFound)?,
        query::Id::TooLarge => return Err(Reject::NotFound),
    };
    if aff_id.is_some_and(|a| !a.matches(link.affiliate_id)) {
        return Err(Reject::NotFound);
    }

    let mut attrs = ClientAttrs::new(
        snapshot.proxies.client_ip(peer, headers),
        DeviceHeaders::from_headers(headers),
        snapshot.geo.as_ref(),
        &state.devices,
    );
    // HEAD answers the same redirect but is not a click: no id, no record, no count.
    let is_click = method == Method::GET;
    let now = crate::clock::wall(started);
    let ctx = Context {
        bots: snapshot.settings.bots,
        caps: CapClock {
            calendar: &snapshot.calendar,
            now: crate::clock::unix_secs(now),
        },
        count: is_click,
    };
    let outcome = table.decide(link, &ctx, &mut attrs, &mut rand::rng(), &mut NoTrace);
    let (offer_id, priority, fallback, template) = match outcome {
        Outcome::Routed { attachment, offer } => {
            (Some(offer.id), Some(attachment.priority), None, &offer.url)
        }
        Outcome::Fallback(reason) => (None, None, Some(reason), table.fallback(link)),
    };

    if is_click {
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
    let issued = is_click.then(|| {
        let click_id = snapshot.signer.issue(&Claims {
            kind: SourceKind::SmartLink,
            time: ctx.caps.now as u32,
            offer_id,
            source_id: link.id,
            affiliate_id: link.affiliate_id,
        });
        (now, click_id)
    });
    let url = template.render(&mut SmartLinkMacros {
        click_id: issued.as_ref().map_or("", |(_, id)| id.as_str()),
        link,
        offer_id,
        subs: &subs,
        attrs: &mut attrs,
    });
    // Templates are printable ASCII and every value is encoded, so this cannot fail. (A boxed
    // slice becomes `Bytes` without the extra allocation a `String` with spare capacity needs.)
    let location = HeaderValue::from_maybe_shared(Bytes::from(url.into_bytes().into_boxed_slice()))
        .map_err(|_| {
            tracing::error!(link = link.id, "rendered URL is not a valid header value");
            Reject::Internal
        })?;

    if let Some((time, click_id)) = issued {
        let (device, os) = attrs.device_and_os();
        state.records.send(ClickRecord {
            time,
            click_id,
            kind: SourceKind::SmartLink,
            source_id: link.id,
            affiliate_id: link.affiliate_id,
            offer_id,
            priority,
            fallback,
            ip: attrs.ip,
            country: attrs.country_if_known().flatten(),
            device,
            os,
            text: RecordText::new(attrs.headers.user_agent, &subs),
        });
    }
    Ok(redirect(location))
}

/// Macro values of a smart-link click; client attributes are computed only if used.
pub struct SmartLinkMacros<'a, 'r> {
    /// Empty when no id is issued (`HEAD`, `smartlink route`).
    pub click_id: &'a str,
    pub link: &'a Link,
    pub offer_id: Option<u32>,
    pub subs: &'a SubIds<'r>,
    pub attrs: &'a mut ClientAttrs<'r>,
}

impl MacroValues for SmartLinkMacros<'_, '_> {
    fn write_value(&mut self, m: Macro, out: &mut String) {
        match m {
            // base64url: only unreserved characters.
            Macro::ClickId => out.push_str(self.click_id),
            Macro::SmartLinkId => push_number(out, self.link.id),
            Macro::CampaignId => {}
            Macro::AffiliateId => push_number(out, self.link.affiliate_id),
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
