//! The route explanation of one click (`smartlink route`, and the API's
//! `smart_link_route.json`): the client attributes, the decision and why each attachment was
//! taken or skipped. It takes the click exactly as a real one is taken (`crate::app::click`), as a
//! dry run: it records and counts nothing, and with exact rotation shows the attachment the
//! next click of its set would get without taking that place.

use std::net::IpAddr;
use std::time::SystemTime;

use http::HeaderMap;
use serde_json::{Value, json};

use crate::app::click::{Click, Env, Mode, Via};
use crate::click_log::SubIds;
use crate::client::DeviceClassifier;
use crate::routing::explain::Explain;
use crate::routing::{Attributes, Link, LinkRotation, Outcome};
use crate::snapshot::Snapshot;

/// A click to explain: from `peer` with `headers` and sub ids `subs`, at `time`.
pub struct Probe<'a> {
    pub peer: IpAddr,
    pub headers: &'a HeaderMap,
    pub subs: SubIds<'a>,
    pub time: SystemTime,
}

/// The time of an explained click: `at` as RFC 3339, or now.
pub fn time(at: Option<&str>) -> Result<SystemTime, String> {
    match at {
        None => Ok(SystemTime::now()),
        Some(text) => crate::clock::parse_time(text).map(SystemTime::from),
    }
}

/// The explanation of a click on `link`, as JSON.
pub fn report(
    snapshot: &Snapshot,
    link: &Link,
    probe: &Probe,
    devices: &DeviceClassifier,
) -> Value {
    let mut trace = Explain::new(link);
    let click = Click {
        via: Via::SmartLink(link),
        subs: &probe.subs,
        peer: probe.peer,
        headers: probe.headers,
        time: probe.time,
        mode: Mode::DryRun,
    };
    let env = Env { snapshot, devices };
    let mut clicked = crate::app::click::take(env, &click, &mut trace);
    let (offer_id, priority, fallback_reason, rotation) = match clicked.outcome {
        Outcome::Routed { attachment, offer } => (
            Some(offer.id),
            Some(attachment.priority),
            None,
            offer.landing_pages.as_ref(),
        ),
        Outcome::Fallback(r) => (None, None, Some(r), None),
    };
    let attrs = &mut clicked.attrs;
    // The landing pages the chosen offer draws this click among (null: it does not rotate).
    let landing_pages: Option<Vec<u32>> =
        rotation.map(|pages| pages.qualifying(attrs).map(|p| p.id).collect());
    let mut report = json!({
        "smart_link_id": link.id,
        "smart_link_status": if link.active { "active" } else { "inactive" },
        "affiliate_id": link.affiliate_id,
        "rotation": link.rotation.as_str(),
        "client": {
            "ip": attrs.ip,
            "country": attrs.country(),
            "region": attrs.region(),
            "asn": attrs.asn(),
            "anonymous": attrs.anonymous(),
            "device": attrs.device(),
            "os": attrs.os(),
            "browser": attrs.browser(),
            "language": attrs.language(),
            "referrer_host": attrs.referrer_host(),
            "time": jiff::Timestamp::try_from(probe.time).ok().map(|t| t.to_string()),
            "week_minute": attrs.week_minute(),
        },
        "decision": {
            "outcome": if offer_id.is_some() { "routed" } else { "fallback" },
            "fallback_reason": fallback_reason,
            "offer_id": offer_id,
            "priority": priority,
            "landing_page_id": clicked.landing_page,
            "landing_pages": landing_pages,
            "url": clicked.url,
            // What a conversion of this click would call (values only a conversion has are
            // left as their macros).
            "partner_postback": crate::partner::url::preview(
                &snapshot.catalog,
                crate::vocab::Source { kind: crate::vocab::SourceKind::SmartLink, id: link.id },
                link.affiliate_id,
                offer_id,
            ),
        },
        "attachments": trace.report(link, &clicked.outcome),
    });
    if let LinkRotation::Optimized(o) = link.rotation {
        report["optimize_window_hours"] = json!(o.window_hours);
        report["optimize_min_share"] = json!(o.min_share);
    }
    report
}
