//! Request → client attributes (docs/routing.md): IP behind trusted proxies, country from GeoIP,
//! device class and OS family from the user agent and client hints.
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

use crate::conditions::Attributes;
use crate::vocab::{Country, DeviceClass, Language, OsFamily};
pub use device::DeviceClassifier;
pub use geo::GeoDb;
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

    pub fn classify(&self, devices: &DeviceClassifier) -> (DeviceClass, OsFamily) {
        devices.classify(self.user_agent, self.ch_mobile, self.ch_platform)
    }
}

/// The attributes of one click, computed lazily.
pub struct ClientAttrs<'a> {
    pub ip: IpAddr,
    pub headers: DeviceHeaders<'a>,
    /// Every header, for the attributes only some rules ask for (language, referrer).
    all: &'a HeaderMap,
    geo: Option<&'a GeoDb>,
    devices: &'a DeviceClassifier,
    country: Option<Option<Country>>,
    device: Option<(DeviceClass, OsFamily)>,
    language: Option<Option<Language>>,
    referrer: Option<Option<Cow<'a, str>>>,
}

impl<'a> ClientAttrs<'a> {
    pub fn new(
        ip: IpAddr,
        all: &'a HeaderMap,
        geo: Option<&'a GeoDb>,
        devices: &'a DeviceClassifier,
    ) -> ClientAttrs<'a> {
        ClientAttrs {
            ip,
            headers: DeviceHeaders::from_headers(all),
            all,
            geo,
            devices,
            country: None,
            device: None,
            language: None,
            referrer: None,
        }
    }

    /// Device class and OS (one cached classification for both).
    pub fn device_and_os(&mut self) -> (DeviceClass, OsFamily) {
        let (headers, devices) = (&self.headers, self.devices);
        *self.device.get_or_insert_with(|| headers.classify(devices))
    }

    /// The country, if it has been looked up (`Some(None)`: looked up, unknown).
    pub fn country_if_known(&self) -> Option<Option<Country>> {
        self.country
    }
}

impl Attributes for ClientAttrs<'_> {
    fn country(&mut self) -> Option<Country> {
        let (geo, ip) = (self.geo, self.ip);
        *self
            .country
            .get_or_insert_with(|| geo.and_then(|g| g.country(ip)))
    }

    fn device(&mut self) -> DeviceClass {
        self.device_and_os().0
    }

    fn os(&mut self) -> OsFamily {
        self.device_and_os().1
    }

    fn ip(&mut self) -> Option<IpAddr> {
        Some(self.ip)
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
