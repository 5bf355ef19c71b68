//! Request → client attributes (docs/routing.md): IP behind trusted proxies, country from GeoIP,
//! device class and OS family from the user agent and client hints.
//!
//! [`ClientAttrs`] borrows the request's headers and computes each attribute the first time
//! routing (or a URL macro) asks for it, never twice and never when nothing asks.

pub mod device;
pub mod geo;
pub mod ip;

use std::net::IpAddr;

use http::header::{HeaderName, USER_AGENT};
use http::{HeaderMap, HeaderValue};

use crate::conditions::Attributes;
use crate::vocab::{Country, DeviceClass, OsFamily};
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
    geo: Option<&'a GeoDb>,
    devices: &'a DeviceClassifier,
    country: Option<Option<Country>>,
    device: Option<(DeviceClass, OsFamily)>,
}

impl<'a> ClientAttrs<'a> {
    pub fn new(
        ip: IpAddr,
        headers: DeviceHeaders<'a>,
        geo: Option<&'a GeoDb>,
        devices: &'a DeviceClassifier,
    ) -> ClientAttrs<'a> {
        ClientAttrs {
            ip,
            headers,
            geo,
            devices,
            country: None,
            device: None,
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
}
