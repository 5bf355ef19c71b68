//! The route explanation of one click (`smartlink route`, and the API's
//! `smart_link_route.json`): the client attributes, the decision and why each attachment was
//! taken or skipped. It takes the click exactly as a real one is taken (`crate::click`), as a
//! dry run: it records and counts nothing, and with exact rotation shows the attachment the
//! next click of its set would get without taking that place.

use std::net::IpAddr;

use http::HeaderMap;
use serde_json::{Value, json};

use crate::click::{Click, Env, Mode, Via};
use crate::client::DeviceClassifier;
use crate::routing::explain::Explain;
use crate::routing::{Attributes, Link, Outcome};
use crate::snapshot::Snapshot;

/// The explanation of a click on `link` from `peer` with `headers`, as JSON.
pub fn report(
    snapshot: &Snapshot,
    link: &Link,
    peer: IpAddr,
    headers: &HeaderMap,
    devices: &DeviceClassifier,
) -> Value {
    let mut trace = Explain::new(link);
    let subs = Default::default();
    let click = Click {
        via: Via::SmartLink(link),
        subs: &subs,
        peer,
        headers,
        time: std::time::SystemTime::now(),
        mode: Mode::DryRun,
    };
    let env = Env { snapshot, devices };
    let mut clicked = crate::click::take(env, &click, &mut trace);
    let (offer_id, priority, fallback_reason) = match clicked.outcome {
        Outcome::Routed { attachment, offer } => (Some(offer.id), Some(attachment.priority), None),
        Outcome::Fallback(r) => (None, None, Some(r)),
    };
    let attrs = &mut clicked.attrs;
    json!({
        "smart_link_id": link.id,
        "smart_link_status": if link.active { "active" } else { "inactive" },
        "affiliate_id": link.affiliate_id,
        "rotation": link.rotation.as_str(),
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
            "url": clicked.url,
        },
        "attachments": trace.report(link, &clicked.outcome),
    })
}
