//! The route explanation of one click (SPEC §2 `smartlink route`, and the API's
//! `smart_link_route.json`): the client attributes, the decision and why each attachment was
//! taken or skipped. Decides exactly as a click would, but records and counts nothing.

use std::net::IpAddr;

use http::HeaderMap;
use serde_json::{Value, json};

use crate::client::DeviceClassifier;
use crate::http::click::ClickMacros;
use crate::routing::explain::Explain;
use crate::routing::{Attributes, Link, Outcome};
use crate::snapshot::Snapshot;
use crate::vocab::Source;

/// The explanation of a click on `link` from `peer` with `headers`, as JSON.
pub fn report(
    snapshot: &Snapshot,
    link: &Link,
    peer: IpAddr,
    headers: &HeaderMap,
    devices: &DeviceClassifier,
) -> Value {
    let table = &snapshot.table;
    let mut attrs = snapshot.client_attrs(peer, headers, devices);
    let mut trace = Explain::new(link);
    let now = crate::clock::unix_secs(std::time::SystemTime::now());
    let ctx = snapshot.context(now, false);
    let outcome = table.decide(link, &ctx, &mut attrs, &mut rand::rng(), &mut trace);
    let (offer_id, priority, fallback_reason, template) = match outcome {
        Outcome::Routed { attachment, offer } => {
            (Some(offer.id), Some(attachment.priority), None, &offer.url)
        }
        Outcome::Fallback(r) => (None, None, Some(r), table.fallback(link)),
    };
    let subs = Default::default();
    let url = template.render(&mut ClickMacros {
        click_id: "",
        source: Source::smart_link(link.id),
        affiliate_id: link.affiliate_id,
        offer_id,
        subs: &subs,
        attrs: &mut attrs,
    });
    json!({
        "smart_link_id": link.id,
        "smart_link_status": if link.active { "active" } else { "inactive" },
        "affiliate_id": link.affiliate_id,
        "client": {
            "ip": attrs.ip,
            "country": attrs.country(),
            "device": attrs.device(),
            "os": attrs.os(),
        },
        "decision": {
            "outcome": if offer_id.is_some() { "routed" } else { "fallback" },
            "fallback_reason": fallback_reason,
            "offer_id": offer_id,
            "priority": priority,
            "url": url,
        },
        "attachments": trace.report(link, &outcome),
    })
}
