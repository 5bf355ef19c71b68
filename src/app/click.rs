//! The click use case, without a socket: a click on a tracking link → client attributes
//! (lazy) → decision → landing page → counts → signed click id → URL → click record.
//!
//! `http::redirect` parses the request, finds the link and answers what this returns with a
//! `302`; `smartlink route` and `smart_link_route.json` run the very same steps as a
//! [`Mode::DryRun`], with a trace that explains every attachment, and count nothing. No lock,
//! no I/O, nothing parsed twice: the allocations are the URL and the record's text.

use std::net::IpAddr;
use std::time::SystemTime;

use http::HeaderMap;

use crate::click_id::Claims;
use crate::click_log::{ClickRecord, RecordSink, RecordText, SubIds};
use crate::client::{ClientAttrs, DeviceClassifier};
use crate::counts::CapClock;
use crate::routing::{Attributes, Campaign, Decision, Link, Outcome, Page, Trace};
use crate::snapshot::Snapshot;
use crate::template::{Macro, MacroValues, push_encoded, push_number};
use crate::vocab::{Source, SourceKind};

/// What was clicked: a smart link, or a campaign (which routes as its one-offer link and
/// may send routed clicks to its landing page).
#[derive(Clone, Copy)]
pub enum Via<'t> {
    SmartLink(&'t Link),
    Campaign(&'t Campaign),
}

impl<'t> Via<'t> {
    pub fn link(self) -> &'t Link {
        match self {
            Via::SmartLink(link) => link,
            Via::Campaign(campaign) => &campaign.link,
        }
    }

    fn kind(self) -> SourceKind {
        match self {
            Via::SmartLink(_) => SourceKind::SmartLink,
            Via::Campaign(_) => SourceKind::Campaign,
        }
    }

    /// Whether a counted click here gets a click id and a record: always for a smart link;
    /// for a campaign only while it and its offer are active.
    fn records(self) -> bool {
        match self {
            Via::SmartLink(_) => true,
            Via::Campaign(c) => c.link.active,
        }
    }
}

/// How a click is taken.
#[derive(Clone, Copy)]
pub enum Mode<'a> {
    /// A real click (`GET`): it takes its place under a click cap, is counted, gets a click
    /// id (when its link records) and its record goes to `records`.
    Count(&'a RecordSink),
    /// `HEAD`, or an explanation: the same decision and URL, with no id, no record, no count.
    DryRun,
}

/// One click: what was clicked, by whom, when.
pub struct Click<'a, 't> {
    pub via: Via<'t>,
    pub subs: &'a SubIds<'a>,
    /// The TCP peer (or the PROXY protocol's client).
    pub peer: IpAddr,
    pub headers: &'a HeaderMap,
    pub time: SystemTime,
    pub mode: Mode<'a>,
}

/// What a click came to.
pub struct Clicked<'a, 't> {
    /// The redirect's target, every macro value filled in and encoded.
    pub url: String,
    pub outcome: Outcome<'t>,
    /// The landing page a routed click was sent to (`None`: the offer's URL, or not routed).
    pub landing_page: Option<u32>,
    /// The client's attributes, those computed so far (an explanation reads them all).
    pub attrs: ClientAttrs<'a>,
}

/// What a click needs besides itself: the configuration it is decided with and the device
/// classifier's cache.
#[derive(Clone, Copy)]
pub struct Env<'a> {
    pub snapshot: &'a Snapshot,
    pub devices: &'a DeviceClassifier,
}

/// Takes one click: decides where it goes (observed by `trace`), counts it, signs and
/// records it when `click.mode` says so, and renders its URL.
pub fn take<'a, 't, T: Trace>(env: Env<'a>, click: &Click<'a, 't>, trace: &mut T) -> Clicked<'a, 't>
where
    'a: 't,
{
    let Env { snapshot, devices } = env;
    let table = &snapshot.table;
    let link = click.via.link();
    let records = match click.mode {
        Mode::Count(records) => Some(records),
        Mode::DryRun => None,
    };
    let now = crate::clock::unix_secs(click.time);
    let mut attrs = snapshot.client_attrs(click.peer, click.headers, click.subs, now, devices);
    let ctx = snapshot.context(now, records.is_some());
    let mut rng = rand::rng();
    let decision = table.decide(link, &ctx, &mut attrs, &mut rng, trace);
    let kind = click.via.kind();
    let (offer_id, priority, fallback, landing_page) = match decision.outcome {
        Outcome::Routed { attachment, offer } => {
            let campaign = match click.via {
                Via::SmartLink(_) => None,
                Via::Campaign(campaign) => Some(campaign),
            };
            let page = table.landing_page(campaign, offer, &mut attrs, &mut rng);
            // Campaign records carry no priority: a campaign has one offer.
            let priority = (kind == SourceKind::SmartLink).then_some(attachment.priority);
            (Some(offer), priority, None, page)
        }
        Outcome::Fallback(reason) => (None, None, Some(reason), None),
    };
    if records.is_some() {
        count(link, &decision, landing_page, &ctx.caps);
    }
    let Decision { outcome, .. } = decision;
    let template = match (landing_page, offer_id) {
        (Some(page), _) => &page.url,
        (None, Some(offer)) => &offer.url,
        (None, None) => table.fallback(link),
    };
    let offer_id = offer_id.map(|o| o.id);
    let landing_page_id = landing_page.map(|p| p.id);
    let issued = records.filter(|_| click.via.records()).map(|records| {
        // The affiliate's own click id, for its partner postback's `{transaction_id}`.
        let transaction_id = snapshot
            .settings
            .partner_postbacks
            .transaction_id_param
            .and_then(|i| click.subs.get(usize::from(i))?.as_deref());
        let claims = Claims {
            kind,
            time: now as u32,
            offer_id,
            source_id: link.id,
            affiliate_id: link.affiliate_id,
        };
        (
            snapshot.signer.issue_carrying(&claims, transaction_id),
            records,
        )
    });
    let url = template.render(&mut ClickMacros {
        click_id: issued.as_ref().map_or("", |(id, _)| id.as_str()),
        source: Source { kind, id: link.id },
        affiliate_id: link.affiliate_id,
        offer_id,
        subs: click.subs,
        attrs: &mut attrs,
    });
    if let Some((click_id, records)) = issued {
        let device = attrs.user_agent();
        // Read now if routing did not: a preview replays the click on every attribute.
        let language = attrs.language();
        let (country, region) = attrs.place_if_known();
        records.send(ClickRecord {
            time: click.time,
            click_id,
            kind,
            source_id: link.id,
            affiliate_id: link.affiliate_id,
            offer_id,
            landing_page_id,
            priority,
            fallback,
            ip: attrs.ip,
            country,
            region,
            asn: attrs.asn_if_known(),
            anonymous: attrs.anonymous_if_known(),
            device: device.class,
            os: device.os,
            browser: device.browser,
            language,
            text: RecordText::new(attrs.headers.user_agent, click.subs, attrs.referrer_host()),
        });
    }
    Clicked {
        url,
        outcome,
        landing_page: landing_page_id,
        attrs,
    }
}

/// Tells the counters what a counted click on `link` did at `clock`, and where it landed.
fn count(link: &Link, decision: &Decision, landing_page: Option<&Page>, clock: &CapClock) {
    match decision.outcome {
        Outcome::Routed { attachment, .. } => attachment.counters.click_routed(),
        Outcome::Fallback(reason) => link.counters.click_fell_back(reason),
    }
    if let Some(page) = landing_page {
        page.counters.click_sent();
    }
    for &i in &decision.turned_away {
        if let Some(caps) = &link.attachments[usize::from(i)].caps {
            caps.click_turned_away(clock);
        }
    }
}

/// Macro values of a click; client attributes are computed only if used.
struct ClickMacros<'a, 'r> {
    /// Empty when no id is issued (`HEAD`, an explanation, an inactive campaign).
    click_id: &'a str,
    source: Source,
    affiliate_id: u32,
    offer_id: Option<u32>,
    subs: &'a SubIds<'r>,
    attrs: &'a mut ClientAttrs<'r>,
}

impl MacroValues for ClickMacros<'_, '_> {
    fn write_value(&mut self, m: Macro, out: &mut String) {
        match m {
            // base64url and `.`: only unreserved characters.
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
            // A click template cannot hold them (`Template::parse`).
            Macro::Postback(_) => {}
        }
    }
}
