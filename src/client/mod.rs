//! Request → client attributes (docs/routing.md): IP behind trusted proxies; country, region,
//! ASN and anonymous networks from GeoIP databases; device class, OS and browser family from
//! the user agent and client hints; language and referrer from their headers; sub ids; the
//! local time of the week.
//!
//! [`ClientAttrs`] borrows the request's headers and computes each attribute the first time
//! routing (or a URL macro) asks for it, never twice and never when nothing asks.

pub mod device;
pub mod geo;
pub mod ip;

use std::borrow::Cow;
use std::net::IpAddr;

use http::header::{ACCEPT_LANGUAGE, HeaderName, REFERER, USER_AGENT};
use http::{HeaderMap, HeaderValue};

use crate::calendar::Calendar;
use crate::click_log::{ClickRecord, SubIds};
use crate::conditions::Attributes;
use crate::vocab::{Browser, Country, DeviceClass, Language, OsFamily, Region};
pub use device::{Device, DeviceClassifier};
use geo::Place;
pub use geo::{GeoDbs, GeoInfo};
pub use ip::TrustedProxies;

static SEC_CH_UA_MOBILE: HeaderName = HeaderName::from_static("sec-ch-ua-mobile");
static SEC_CH_UA_PLATFORM: HeaderName = HeaderName::from_static("sec-ch-ua-platform");

/// The request headers that describe the client's device, looked up once per request.
#[derive(Clone, Copy, Default, Debug)]
pub struct DeviceHeaders<'a> {
    pub user_agent: Option<&'a [u8]>,
    pub ch_mobile: Option<&'a [u8]>,
    pub ch_platform: Option<&'a [u8]>,
}

impl<'a> DeviceHeaders<'a> {
    pub fn from_headers(headers: &'a HeaderMap) -> DeviceHeaders<'a> {
        let get = |name| headers.get(name).map(HeaderValue::as_bytes);
        DeviceHeaders {
            user_agent: get(&USER_AGENT),
            ch_mobile: get(&SEC_CH_UA_MOBILE),
            ch_platform: get(&SEC_CH_UA_PLATFORM),
        }
    }

    pub fn classify(&self, devices: &DeviceClassifier) -> Device {
        devices.classify(self.user_agent, self.ch_mobile, self.ch_platform)
    }
}

/// What a click is besides its client: its sub ids and its time in the network's zone.
#[derive(Clone, Copy)]
pub struct ClickFacts<'a> {
    pub subs: &'a SubIds<'a>,
    pub calendar: &'a Calendar,
    /// Unix seconds.
    pub now: i64,
}

/// The attributes of one click, computed lazily.
pub struct ClientAttrs<'a> {
    pub ip: IpAddr,
    pub headers: DeviceHeaders<'a>,
    /// Every header, for the attributes only some rules ask for (language, referrer).
    all: &'a HeaderMap,
    facts: ClickFacts<'a>,
    geo: &'a GeoDbs,
    devices: &'a DeviceClassifier,
    place: Option<Option<Place>>,
    asn: Option<Option<u32>>,
    anonymous: Option<Option<bool>>,
    device: Option<Device>,
    language: Option<Option<Language>>,
    referrer: Option<Option<Cow<'a, str>>>,
}

impl<'a> ClientAttrs<'a> {
    pub fn new(
        ip: IpAddr,
        all: &'a HeaderMap,
        facts: ClickFacts<'a>,
        geo: &'a GeoDbs,
        devices: &'a DeviceClassifier,
    ) -> ClientAttrs<'a> {
        ClientAttrs {
            ip,
            headers: DeviceHeaders::from_headers(all),
            all,
            facts,
            geo,
            devices,
            place: None,
            asn: None,
            anonymous: None,
            device: None,
            language: None,
            referrer: None,
        }
    }

    /// Device class, OS and browser (one cached classification for all three).
    pub fn user_agent(&mut self) -> Device {
        let (headers, devices) = (&self.headers, self.devices);
        *self.device.get_or_insert_with(|| headers.classify(devices))
    }

    /// The country and region, if they have been looked up (`Some(None)`: looked up,
    /// unknown).
    pub fn place_if_known(&self) -> (Option<Option<Country>>, Option<Region>) {
        (
            self.place.map(|p| p.map(|p| p.country)),
            self.place.flatten().and_then(|p| p.region),
        )
    }

    /// The ASN, if it has been looked up.
    pub fn asn_if_known(&self) -> Option<Option<u32>> {
        self.asn
    }

    /// Whether the address is anonymous, if it has been looked up.
    pub fn anonymous_if_known(&self) -> Option<Option<bool>> {
        self.anonymous
    }

    fn place(&mut self) -> Option<Place> {
        let (geo, ip) = (self.geo, self.ip);
        *self
            .place
            .get_or_insert_with(|| geo.location.as_ref().and_then(|g| g.get(ip)))
    }
}

impl Attributes for ClientAttrs<'_> {
    fn country(&mut self) -> Option<Country> {
        self.place().map(|p| p.country)
    }

    fn device(&mut self) -> DeviceClass {
        self.user_agent().class
    }

    fn os(&mut self) -> OsFamily {
        self.user_agent().os
    }

    fn browser(&mut self) -> Browser {
        self.user_agent().browser
    }

    fn ip(&mut self) -> Option<IpAddr> {
        Some(self.ip)
    }

    fn region(&mut self) -> Option<Region> {
        self.place().and_then(|p| p.region)
    }

    fn asn(&mut self) -> Option<u32> {
        let (geo, ip) = (self.geo, self.ip);
        *self
            .asn
            .get_or_insert_with(|| geo.asn.as_ref().and_then(|g| g.get(ip)).map(|a| a.0))
    }

    fn anonymous(&mut self) -> Option<bool> {
        let (geo, ip) = (self.geo, self.ip);
        *self
            .anonymous
            .get_or_insert_with(|| geo.anonymous.as_ref().map(|g| g.get(ip).is_some()))
    }

    fn sub(&mut self, index: usize) -> Option<&str> {
        self.facts
            .subs
            .get(index)?
            .as_deref()
            .filter(|s| !s.is_empty())
    }

    fn week_minute(&mut self) -> Option<u16> {
        Some(self.facts.calendar.week_minute(self.facts.now))
    }

    fn language(&mut self) -> Option<Language> {
        let all = self.all;
        *self.language.get_or_insert_with(|| {
            all.get(ACCEPT_LANGUAGE)
                .and_then(|v| Language::preferred(v.as_bytes()))
        })
    }

    fn referrer_host(&mut self) -> Option<&str> {
        let all = self.all;
        self.referrer
            .get_or_insert_with(|| {
                all.get(REFERER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(referrer_host)
            })
            .as_deref()
    }
}

/// Looks up what `record` lacks of its address in `geo` (country and region, ASN, anonymous
/// network): the click log's writer calls it, off the request path.
pub fn complete(record: &mut ClickRecord, geo: &GeoDbs) {
    if record.country.is_none() {
        let place = geo.location.as_ref().and_then(|g| g.get(record.ip));
        record.country = Some(place.map(|p| p.country));
        record.region = place.and_then(|p| p.region);
    }
    if record.asn.is_none() {
        record.asn = Some(geo.asn.as_ref().and_then(|g| g.get(record.ip)).map(|a| a.0));
    }
    if record.anonymous.is_none() {
        record.anonymous = Some(geo.anonymous.as_ref().map(|g| g.get(record.ip).is_some()));
    }
}

/// The host of a `Referer` URL (`https://user@Www.Example.com:8080/path` →
/// `www.example.com`), lower case, without a trailing dot; `None` for a relative or empty
/// one. Borrowed from the header unless it has upper-case letters.
fn referrer_host(url: &str) -> Option<Cow<'_, str>> {
    let (_, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host_port.split(':').next().unwrap_or_default(),
    };
    let host = host.trim_end_matches('.');
    if host.is_empty() {
        return None;
    }
    Some(if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(host.to_ascii_lowercase())
    } else {
        Cow::Borrowed(host)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_referrer_host_is_the_url_s_host_in_lower_case() {
        let cases = [
            ("https://www.example.com/path?q=1", Some("www.example.com")),
            (
                "http://User:pw@News.Example.COM.:8080/x",
                Some("news.example.com"),
            ),
            ("https://[2001:db8::1]:443/", Some("2001:db8::1")),
            (
                "android-app://com.google.android.gm/",
                Some("com.google.android.gm"),
            ),
            ("/relative/path", None),
            ("https:///nothing", None),
        ];
        for (url, host) in cases {
            assert_eq!(referrer_host(url).as_deref(), host, "{url}");
        }
    }
}
