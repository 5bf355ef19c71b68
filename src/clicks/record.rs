//! The click record (SPEC §10): one JSON object per line in the click log.

use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use http::HeaderValue;
use serde::Serialize;

use super::id::{ClickId, SourceKind};
use crate::attrs::{Country, DeviceClass, OsFamily};
use crate::routing::FallbackReason;

/// Sub-ids `s1`..`s5` of a click, as decoded from the query.
pub type SubIds = [Option<Box<str>>; 5];

/// Everything known about one click when it was answered. Country and device may still be
/// unknown here (routing did not need them); the log writer fills them in off the request
/// path, from `ip` and the device headers kept for that purpose.
#[derive(Debug)]
pub struct ClickRecord {
    pub time: SystemTime,
    pub click_id: ClickId,
    pub kind: SourceKind,
    /// Smart link or campaign id, per `kind`.
    pub source_id: u32,
    pub affiliate_id: u32,
    pub offer_id: Option<u32>,
    pub priority: Option<i64>,
    /// Why the click went to the fallback URL; `None` when routed.
    pub fallback: Option<FallbackReason>,
    pub ip: IpAddr,
    pub country: Option<Country>,
    pub device: Option<(DeviceClass, OsFamily)>,
    /// Cloning a header value shares the request's buffer: no copy on the hot path.
    pub user_agent: Option<HeaderValue>,
    pub ch_mobile: Option<HeaderValue>,
    pub ch_platform: Option<HeaderValue>,
    pub subs: SubIds,
}

/// The JSON shape of a record line.
#[derive(Serialize)]
struct Line<'a> {
    time: &'a str,
    click_id: &'a str,
    kind: SourceKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    smart_link_id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    campaign_id: Option<u32>,
    affiliate_id: u32,
    offer_id: Option<u32>,
    fallback: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    fallback_reason: Option<FallbackReason>,
    priority: Option<i64>,
    country: Option<Country>,
    device: Option<DeviceClass>,
    os: Option<OsFamily>,
    ip: IpAddr,
    user_agent: Option<std::borrow::Cow<'a, str>>,
    s1: Option<&'a str>,
    s2: Option<&'a str>,
    s3: Option<&'a str>,
    s4: Option<&'a str>,
    s5: Option<&'a str>,
}

impl ClickRecord {
    /// Appends the record as one JSON line (with its newline) to `out`.
    pub fn write_line(&self, out: &mut Vec<u8>) {
        let time = rfc3339_millis(self.time);
        let (smart_link_id, campaign_id) = match self.kind {
            SourceKind::SmartLink => (Some(self.source_id), None),
            SourceKind::Campaign => (None, Some(self.source_id)),
        };
        let sub = |i: usize| self.subs[i].as_deref();
        let line = Line {
            time: &time,
            click_id: self.click_id.as_str(),
            kind: self.kind,
            smart_link_id,
            campaign_id,
            affiliate_id: self.affiliate_id,
            offer_id: self.offer_id,
            fallback: self.fallback.is_some(),
            fallback_reason: self.fallback,
            priority: self.priority,
            country: self.country,
            device: self.device.map(|d| d.0),
            os: self.device.map(|d| d.1),
            ip: self.ip,
            user_agent: self
                .user_agent
                .as_ref()
                .map(|v| String::from_utf8_lossy(v.as_bytes())),
            s1: sub(0),
            s2: sub(1),
            s3: sub(2),
            s4: sub(3),
            s5: sub(4),
        };
        // Serializing plain strings and numbers into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, &line);
        out.push(b'\n');
    }
}

/// `2026-11-22T12:34:56.789Z`.
pub fn rfc3339_millis(t: SystemTime) -> String {
    let ms = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    jiff::Timestamp::from_millisecond(ms)
        .map(|ts| format!("{ts:.3}"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clicks::id::{Claims, ClickSigner};
    use std::time::Duration;

    #[test]
    fn record_serializes_as_one_json_line() {
        let signer = ClickSigner::new(b"0123456789abcdef");
        let time = UNIX_EPOCH + Duration::from_millis(1_795_000_000_123);
        let click_id = signer.issue(&Claims {
            kind: SourceKind::SmartLink,
            time: 1_795_000_000,
            offer_id: None,
            source_id: 301,
            affiliate_id: 67890,
        });
        let rec = ClickRecord {
            time,
            click_id,
            kind: SourceKind::SmartLink,
            source_id: 301,
            affiliate_id: 67890,
            offer_id: None,
            priority: None,
            fallback: Some(FallbackReason::Bot),
            ip: "2001:db8::1".parse().unwrap(),
            country: Country::from_code("DE"),
            device: Some((DeviceClass::Bot, OsFamily::Other)),
            user_agent: Some(HeaderValue::from_bytes(b"curl/8.5 \xff").unwrap()),
            ch_mobile: None,
            ch_platform: None,
            subs: [Some("a\"b\n".into()), None, None, None, Some("e".into())],
        };
        let mut out = Vec::new();
        rec.write_line(&mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.ends_with('\n') && text.matches('\n').count() == 1);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["time"], "2026-11-18T11:06:40.123Z");
        assert_eq!(v["click_id"], click_id.as_str());
        assert_eq!(v["kind"], "smart_link");
        assert_eq!(v["smart_link_id"], 301);
        assert!(v.get("campaign_id").is_none());
        assert_eq!(v["offer_id"], serde_json::Value::Null);
        assert_eq!(v["fallback"], true);
        assert_eq!(v["fallback_reason"], "bot");
        assert_eq!(v["country"], "DE");
        assert_eq!(v["device"], "bot");
        assert_eq!(v["os"], "other");
        assert_eq!(v["ip"], "2001:db8::1");
        assert_eq!(v["user_agent"], "curl/8.5 \u{fffd}");
        assert_eq!(v["s1"], "a\"b\n");
        assert_eq!(v["s5"], "e");
    }
}
