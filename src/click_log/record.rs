//! The click record (docs/operations.md): one JSON object per line in the click log.

use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use std::io::Write as _;

use crate::click_id::ClickId;
use crate::vocab::{
    Browser, Country, DeviceClass, FallbackReason, Language, OsFamily, Region, SourceKind,
};

/// Sub-ids `s1`..`s5` of a click, decoded from the query (borrowed when no decoding was
/// needed).
pub type SubIds<'a> = [Option<std::borrow::Cow<'a, str>>; 5];

/// The free text of a record (user agent, `s1`..`s5`, referrer host) in one allocation: the
/// record owns it outright, so the log thread shares no buffer with the request and frees
/// one block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordText {
    text: Box<str>,
    /// End offset of each of the seven values in `text`; `u32::MAX` marks an absent one.
    ends: [u32; 7],
}

impl RecordText {
    /// Copies a user agent (invalid UTF-8 replaced by U+FFFD), the sub-ids and the host of
    /// the referrer.
    pub fn new(user_agent: Option<&[u8]>, subs: &SubIds, referrer: Option<&str>) -> RecordText {
        // `from_utf8` first: it is far faster than the lossy decoder on valid text.
        let ua = user_agent.map(|b| match std::str::from_utf8(b) {
            Ok(s) => std::borrow::Cow::Borrowed(s),
            Err(_) => String::from_utf8_lossy(b),
        });
        let values = std::iter::once(ua.as_deref())
            .chain(subs.iter().map(|s| s.as_deref()))
            .chain([referrer]);
        let len = values.clone().flatten().map(str::len).sum();
        let mut text = String::with_capacity(len);
        let mut ends = [u32::MAX; 7];
        for (end, value) in ends.iter_mut().zip(values) {
            if let Some(v) = value {
                text.push_str(v);
                *end = text.len() as u32;
            }
        }
        RecordText {
            text: text.into_boxed_str(),
            ends,
        }
    }

    /// Value `i`: 0 is the user agent, 1..=5 are `s1`..`s5`, 6 the referrer host.
    fn get(&self, i: usize) -> Option<&str> {
        let end = self.ends[i];
        if end == u32::MAX {
            return None;
        }
        let start = self.ends[..i]
            .iter()
            .rev()
            .find(|&&e| e != u32::MAX)
            .map_or(0, |&e| e as usize);
        self.text.get(start..end as usize)
    }

    pub fn user_agent(&self) -> Option<&str> {
        self.get(0)
    }

    /// `s1`..`s5` for `n` in 1..=5.
    pub fn sub(&self, n: usize) -> Option<&str> {
        self.get(n)
    }

    /// The host of the `Referer` header (lower case).
    pub fn referrer(&self) -> Option<&str> {
        self.get(6)
    }
}

/// Everything known about one click when it was answered: every attribute a targeting
/// condition reads, so that a change preview can replay the click (docs/operations.md#click-log).
/// The address's GeoIP attributes may not have been looked up (routing did not need them);
/// the log writer looks them up off the request path.
#[derive(Debug)]
pub struct ClickRecord {
    pub time: SystemTime,
    pub click_id: ClickId,
    pub kind: SourceKind,
    /// Smart link or campaign id, per `kind`.
    pub source_id: u32,
    pub affiliate_id: u32,
    pub offer_id: Option<u32>,
    /// The landing page a routed click was sent to; `None`: the offer's URL, or not routed.
    pub landing_page_id: Option<u32>,
    pub priority: Option<i64>,
    /// Why the click went to the fallback URL; `None` when routed.
    pub fallback: Option<FallbackReason>,
    pub ip: IpAddr,
    /// `None`: not looked up yet; `Some(None)`: looked up, the database has none.
    pub country: Option<Option<Country>>,
    /// The first subdivision, looked up with the country (meaningful once `country` is).
    pub region: Option<Region>,
    /// `None`: not looked up yet; `Some(None)`: no ASN database, or it has none.
    pub asn: Option<Option<u32>>,
    /// `None`: not looked up yet; `Some(None)`: no anonymous-IP database.
    pub anonymous: Option<Option<bool>>,
    pub device: DeviceClass,
    pub os: OsFamily,
    pub browser: Browser,
    /// The preferred language of `Accept-Language`.
    pub language: Option<Language>,
    pub text: RecordText,
}

impl ClickRecord {
    /// Appends the record as one JSON line (with its newline) to `out`:
    ///
    /// ```text
    /// {"time":"…","click_id":"…","kind":"smart_link","smart_link_id":301,"affiliate_id":67890,
    ///  "offer_id":1042,"landing_page_id":null,"fallback":false,"priority":1,"country":"US",
    ///  "region":"US-CA","asn":15169,"anonymous":false,"device":"mobile","os":"ios",
    ///  "browser":"safari","language":"en","referrer":"news.example","ip":"…","user_agent":"…",
    ///  "s1":"…","s2":null,"s3":null,"s4":null,"s5":null}
    /// ```
    ///
    /// `campaign_id` replaces `smart_link_id` for campaign clicks; `fallback_reason` is present
    /// only when `fallback` is true. Written field by field: this runs once per click on the
    /// log thread, which must outpace the request threads. Free text (user agent, sub-ids) is
    /// escaped by serde_json; every other value is a number or a known ASCII word.
    pub fn write_line(&self, out: &mut Vec<u8>, clock: &mut TimeFormat) {
        let mut num = itoa::Buffer::new();
        out.extend_from_slice(b"{\"time\":\"");
        out.extend_from_slice(clock.format(self.time).as_bytes());
        out.extend_from_slice(b"\",\"click_id\":\"");
        out.extend_from_slice(self.click_id.as_str().as_bytes());
        out.extend_from_slice(match self.kind {
            SourceKind::SmartLink => b"\",\"kind\":\"smart_link\",\"smart_link_id\":".as_slice(),
            SourceKind::Campaign => b"\",\"kind\":\"campaign\",\"campaign_id\":",
        });
        out.extend_from_slice(num.format(self.source_id).as_bytes());
        out.extend_from_slice(b",\"affiliate_id\":");
        out.extend_from_slice(num.format(self.affiliate_id).as_bytes());
        out.extend_from_slice(b",\"offer_id\":");
        match self.offer_id {
            Some(id) => out.extend_from_slice(num.format(id).as_bytes()),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"landing_page_id\":");
        match self.landing_page_id {
            Some(id) => out.extend_from_slice(num.format(id).as_bytes()),
            None => out.extend_from_slice(b"null"),
        }
        match self.fallback {
            None => out.extend_from_slice(b",\"fallback\":false"),
            Some(reason) => {
                out.extend_from_slice(b",\"fallback\":true,\"fallback_reason\":");
                word(out, Some(reason.as_str()));
            }
        }
        out.extend_from_slice(b",\"priority\":");
        match self.priority {
            Some(p) => out.extend_from_slice(num.format(p).as_bytes()),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"country\":");
        let country = self.country.flatten();
        word(out, country.as_ref().map(Country::as_str));
        out.extend_from_slice(b",\"region\":");
        match self.region.filter(|_| country.is_some()) {
            // `CC-SSS`: letters, digits and a hyphen.
            Some(region) => drop(write!(out, "\"{region}\"")),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"asn\":");
        match self.asn.flatten() {
            Some(asn) => out.extend_from_slice(num.format(asn).as_bytes()),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(match self.anonymous.flatten() {
            Some(true) => b",\"anonymous\":true".as_slice(),
            Some(false) => b",\"anonymous\":false",
            None => b",\"anonymous\":null",
        });
        out.extend_from_slice(b",\"device\":");
        word(out, Some(self.device.as_str()));
        out.extend_from_slice(b",\"os\":");
        word(out, Some(self.os.as_str()));
        out.extend_from_slice(b",\"browser\":");
        word(out, Some(self.browser.as_str()));
        out.extend_from_slice(b",\"language\":");
        word(out, self.language.as_ref().map(Language::as_str));
        out.extend_from_slice(b",\"referrer\":");
        text(out, self.text.referrer());
        out.extend_from_slice(b",\"ip\":\"");
        match self.ip {
            IpAddr::V4(v4) => {
                for (i, octet) in v4.octets().into_iter().enumerate() {
                    if i > 0 {
                        out.push(b'.');
                    }
                    out.extend_from_slice(num.format(octet).as_bytes());
                }
            }
            // Writing to a Vec cannot fail.
            IpAddr::V6(v6) => drop(write!(out, "{v6}")),
        }
        out.extend_from_slice(b"\",\"user_agent\":");
        text(out, self.text.user_agent());
        for (n, key) in [
            b",\"s1\":",
            b",\"s2\":",
            b",\"s3\":",
            b",\"s4\":",
            b",\"s5\":",
        ]
        .iter()
        .enumerate()
        {
            out.extend_from_slice(*key);
            text(out, self.text.sub(n + 1));
        }
        out.extend_from_slice(b"}\n");
    }
}

/// A JSON string of a known ASCII word (no escaping needed), or `null`.
fn word(out: &mut Vec<u8>, w: Option<&str>) {
    match w {
        Some(w) => {
            out.push(b'"');
            out.extend_from_slice(w.as_bytes());
            out.push(b'"');
        }
        None => out.extend_from_slice(b"null"),
    }
}

/// A JSON string of free text, escaped, or `null`. Text with nothing to escape (nearly all
/// of it) is copied as is; the check has no early exit so that it vectorises.
fn text(out: &mut Vec<u8>, t: Option<&str>) {
    let Some(t) = t else {
        out.extend_from_slice(b"null");
        return;
    };
    let needs_escape = t.bytes().fold(false, |acc, b| {
        acc | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    if needs_escape {
        // Serializing a str into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, t);
    } else {
        out.push(b'"');
        out.extend_from_slice(t.as_bytes());
        out.push(b'"');
    }
}

/// Formats times as `2026-11-22T12:34:56.789Z`, formatting the date and time of day once
/// per second (records arrive in time order, so that is once per second of traffic).
#[derive(Default)]
pub struct TimeFormat {
    second: Option<u64>,
    text: String,
}

impl TimeFormat {
    pub fn format(&mut self, t: SystemTime) -> &str {
        let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        let second = since.as_secs();
        if self.second != Some(second) {
            self.second = Some(second);
            self.text = jiff::Timestamp::from_second(second as i64)
                .unwrap_or_default()
                .strftime("%Y-%m-%dT%H:%M:%S.000Z")
                .to_string();
        }
        // Overwrite the three millisecond digits in place.
        let ms = since.subsec_millis();
        let digits = [
            b'0' + (ms / 100) as u8,
            b'0' + (ms / 10 % 10) as u8,
            b'0' + (ms % 10) as u8,
        ];
        let at = self.text.len() - 4;
        self.text
            .replace_range(at..at + 3, std::str::from_utf8(&digits).unwrap_or("000"));
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::click_id::{Claims, ClickSigner};
    use std::time::Duration;

    #[test]
    fn time_format_reuses_the_second_and_updates_milliseconds() {
        let mut f = TimeFormat::default();
        let t = UNIX_EPOCH + Duration::from_millis(1_795_000_000_007);
        assert_eq!(f.format(t), "2026-11-18T11:06:40.007Z");
        assert_eq!(
            f.format(t + Duration::from_millis(990)),
            "2026-11-18T11:06:40.997Z"
        );
        assert_eq!(
            f.format(t + Duration::from_millis(1000)),
            "2026-11-18T11:06:41.007Z"
        );
        assert_eq!(f.format(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
    }

    fn record(ua: Option<&[u8]>, subs: SubIds<'_>, kind: SourceKind) -> ClickRecord {
        let signer = ClickSigner::new(b"0123456789abcdef");
        let claims = Claims {
            kind,
            time: 1_795_000_000,
            offer_id: Some(7),
            source_id: 98001,
            affiliate_id: 5,
        };
        ClickRecord {
            time: UNIX_EPOCH + Duration::from_secs(1_795_000_000),
            click_id: signer.issue(&claims),
            kind,
            source_id: 98001,
            affiliate_id: 5,
            offer_id: Some(7),
            landing_page_id: Some(883),
            priority: Some(-3),
            fallback: None,
            ip: "192.0.2.1".parse().unwrap(),
            country: None,
            region: None,
            asn: None,
            anonymous: None,
            device: DeviceClass::Desktop,
            os: OsFamily::Linux,
            browser: Browser::Firefox,
            language: None,
            text: RecordText::new(ua, &subs, None),
        }
    }

    #[test]
    fn record_text_keeps_absent_and_empty_values_apart() {
        let subs: SubIds = [
            Some("".into()),
            None,
            Some("c".into()),
            None,
            Some("eee".into()),
        ];
        let t = RecordText::new(Some(b"ua \xff"), &subs, Some("news.example"));
        assert_eq!(t.user_agent(), Some("ua \u{fffd}"));
        assert_eq!(
            (1..=5).map(|n| t.sub(n)).collect::<Vec<_>>(),
            [Some(""), None, Some("c"), None, Some("eee")]
        );
        assert_eq!(t.referrer(), Some("news.example"));
        let none = RecordText::new(None, &Default::default(), None);
        assert_eq!(none.user_agent(), None);
        assert_eq!(none.sub(5), None);
        assert_eq!(none.referrer(), None);
    }

    proptest::proptest! {
        /// Any user agent and sub-ids come back unchanged from the JSON line.
        #[test]
        fn free_text_round_trips_through_the_line(
            ua in "[\\x20-\\x7e]{0,300}",
            s1 in "\\PC{0,80}",
            s5 in "[\"\\\\\u{0}-\u{1f}\u{7f}]{0,20}",
        ) {
            let r = record(Some(ua.as_bytes()), [Some(s1.as_str().into()), None, None, None, Some(s5.as_str().into())], SourceKind::Campaign);
            let mut out = Vec::new();
            r.write_line(&mut out, &mut TimeFormat::default());
            proptest::prop_assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
            let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
            proptest::prop_assert_eq!(v["user_agent"].as_str(), Some(ua.as_str()));
            proptest::prop_assert_eq!(v["s1"].as_str(), Some(s1.as_str()));
            proptest::prop_assert_eq!(v["s5"].as_str(), Some(s5.as_str()));
            proptest::prop_assert_eq!(&v["campaign_id"], 98001);
            proptest::prop_assert_eq!(&v["priority"], -3);
            proptest::prop_assert_eq!(&v["landing_page_id"], 883);
            proptest::prop_assert_eq!(&v["kind"], "campaign");
            proptest::prop_assert!(v.get("smart_link_id").is_none() && v.get("fallback_reason").is_none());
        }
    }

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
            landing_page_id: None,
            priority: None,
            fallback: Some(FallbackReason::Bot),
            ip: "2001:db8::1".parse().unwrap(),
            country: Some(Country::from_code("DE")),
            region: Region::from_code("DE-BE"),
            asn: Some(Some(3320)),
            anonymous: Some(Some(false)),
            device: DeviceClass::Bot,
            os: OsFamily::Other,
            browser: Browser::Other,
            language: Language::from_code("de"),
            text: RecordText::new(
                Some(b"curl/8.5 \xff"),
                &[Some("a\"b\n".into()), None, None, None, Some("e".into())],
                Some("a\"b.example"),
            ),
        };
        let mut out = Vec::new();
        rec.write_line(&mut out, &mut TimeFormat::default());
        let text = String::from_utf8(out).unwrap();
        assert!(text.ends_with('\n') && text.matches('\n').count() == 1);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["time"], "2026-11-18T11:06:40.123Z");
        assert_eq!(v["click_id"], click_id.as_str());
        assert_eq!(v["kind"], "smart_link");
        assert_eq!(v["smart_link_id"], 301);
        assert!(v.get("campaign_id").is_none());
        assert_eq!(v["offer_id"], serde_json::Value::Null);
        assert_eq!(v["landing_page_id"], serde_json::Value::Null);
        assert_eq!(v["fallback"], true);
        assert_eq!(v["fallback_reason"], "bot");
        assert_eq!(v["country"], "DE");
        assert_eq!(v["region"], "DE-BE");
        assert_eq!(v["asn"], 3320);
        assert_eq!(v["anonymous"], false);
        assert_eq!(v["device"], "bot");
        assert_eq!(v["os"], "other");
        assert_eq!(v["browser"], "other");
        assert_eq!(v["language"], "de");
        assert_eq!(v["referrer"], "a\"b.example");
        assert_eq!(v["ip"], "2001:db8::1");
        assert_eq!(v["user_agent"], "curl/8.5 \u{fffd}");
        assert_eq!(v["s1"], "a\"b\n");
        assert_eq!(v["s5"], "e");
    }
}
