//! The shared vocabulary: the words every layer uses and none owns. Client attributes
//! ([`Country`], [`DeviceClass`], [`OsFamily`]), what a click came through ([`SourceKind`],
//! [`Source`]), why it went to the fallback ([`FallbackReason`]), which cap stopped an offer
//! ([`CapKind`]), why a request is refused ([`Rejection`], the one mapping to a status), and
//! the settings' words that routing and client read ([`Screen`], [`ClientIpHeader`]).
//!
//! They are plain `Copy` values so that matching a click against a rule is a compare or a
//! bit test, never a string comparison. This module imports nothing of the crate.

use std::fmt;

use http::StatusCode;

use serde::{Deserialize, Serialize};

/// An ISO 3166-1 alpha-2 style code: two ASCII upper-case letters, stored inline.
///
/// Well-formedness is all this type checks; whether a code is assigned by ISO is the catalog
/// validator's business (GeoIP databases may return codes such as `EU` that no rule names).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Country([u8; 2]);

impl Country {
    /// Number of distinct well-formed codes (`AA`..`ZZ`); the size of a country bit set.
    pub const SPACE: usize = 26 * 26;

    /// Parses exactly two ASCII upper-case letters.
    pub fn from_code(code: &str) -> Option<Country> {
        match code.as_bytes() {
            &[a, b] if a.is_ascii_uppercase() && b.is_ascii_uppercase() => Some(Country([a, b])),
            _ => None,
        }
    }

    /// Dense index in `0..Country::SPACE`, for bit sets.
    pub fn index(self) -> usize {
        usize::from(self.0[0] - b'A') * 26 + usize::from(self.0[1] - b'A')
    }

    pub fn as_str(&self) -> &str {
        // Both bytes are ASCII upper-case letters by construction.
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

/// An ISO 639-1 language code: two ASCII lower-case letters.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Language([u8; 2]);

impl Language {
    /// Parses exactly two ASCII lower-case letters.
    pub fn from_code(code: &str) -> Option<Language> {
        match code.as_bytes() {
            &[a, b] if a.is_ascii_lowercase() && b.is_ascii_lowercase() => Some(Language([a, b])),
            _ => None,
        }
    }

    /// Dense index in `0..Country::SPACE` (the same two-letter space), for bit sets.
    pub fn index(self) -> usize {
        usize::from(self.0[0] - b'a') * 26 + usize::from(self.0[1] - b'a')
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("")
    }

    /// The primary subtag of the entry of an `Accept-Language` value with the highest `q`
    /// (the first of equals; `*`, `q=0` and malformed entries ignored), when it is a
    /// two-letter code. Written by hand, one pass without allocating, because a click with
    /// a language condition parses it on the hot path (`benches/decision.rs`, group
    /// `conditions`); an entry with `q=1` (the usual first one) ends the parse.
    pub fn preferred(header: &[u8]) -> Option<Language> {
        let is_space = |b: u8| b == b' ' || b == b'\t';
        let (n, mut i) = (header.len(), 0);
        let mut best: Option<(u16, Language)> = None;
        while i < n {
            while i < n && (is_space(header[i]) || header[i] == b',') {
                i += 1;
            }
            let start = i;
            while i < n && header[i].is_ascii_alphabetic() {
                i += 1;
            }
            let primary = &header[start..i];
            // A primary subtag ends the tag or is followed by a subtag.
            let whole = i == n || matches!(header[i], b'-' | b';' | b',' | b' ' | b'\t');
            while i < n && header[i] != b';' && header[i] != b',' {
                i += 1;
            }
            let mut q = 1000;
            while i < n && header[i] == b';' {
                i += 1;
                while i < n && is_space(header[i]) {
                    i += 1;
                }
                let param = i;
                while i < n && header[i] != b';' && header[i] != b',' {
                    i += 1;
                }
                if let [b'q' | b'Q', b'=', value @ ..] = trim(&header[param..i]) {
                    q = parse_q(value).unwrap_or(0);
                }
            }
            if let ([a, b], true) = (primary, whole)
                && q > 0
                && best.is_none_or(|(bq, _)| q > bq)
            {
                let language = Language([a.to_ascii_lowercase(), b.to_ascii_lowercase()]);
                if q == 1000 {
                    return Some(language);
                }
                best = Some((q, language));
            }
        }
        best.map(|(_, l)| l)
    }
}

/// `q` of an `Accept-Language` entry in thousandths (`0`..=`1000`); `None` when malformed.
fn parse_q(v: &[u8]) -> Option<u16> {
    match v {
        [b'1', rest @ ..] => rest
            .strip_prefix(b".")
            .unwrap_or(rest)
            .iter()
            .all(|&b| b == b'0')
            .then_some(1000),
        [b'0'] => Some(0),
        [b'0', b'.', digits @ ..] if digits.len() <= 3 && digits.iter().all(u8::is_ascii_digit) => {
            let mut n = 0u16;
            for i in 0..3 {
                n = n * 10 + digits.get(i).map_or(0, |d| u16::from(d - b'0'));
            }
            Some(n)
        }
        _ => None,
    }
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &b[start..end]
}

impl Serialize for Language {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl fmt::Debug for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Country {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A client attribute that takes one of a few words: the enum (its variants numbered from 0
/// in order, so that `as u8` packs it), `ALL` in that order, its word (`as_str`, and serde),
/// and the inverse of `as u8` (`from_u8`).
macro_rules! words {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $word:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
        #[repr(u8)]
        pub enum $name {
            $(#[serde(rename = $word)] $variant),+
        }

        impl $name {
            pub const ALL: [$name; [$($word),+].len()] = [$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word),+
                }
            }

            /// Inverse of `self as u8`.
            pub fn from_u8(v: u8) -> Option<$name> {
                $name::ALL.get(usize::from(v)).copied()
            }
        }
    };
}

words! {
    /// Device class of a click (docs/routing.md).
    DeviceClass {
        Desktop = "desktop",
        Mobile = "mobile",
        Tablet = "tablet",
        Bot = "bot",
        Other = "other",
    }
}

words! {
    /// Operating-system family of a click (docs/routing.md).
    OsFamily {
        Android = "android",
        Ios = "ios",
        Windows = "windows",
        Macos = "macos",
        Linux = "linux",
        Chromeos = "chromeos",
        Other = "other",
    }
}

words! {
    /// Browser family of a click, from its user agent (docs/routing.md).
    Browser {
        Chrome = "chrome",
        Safari = "safari",
        Firefox = "firefox",
        Edge = "edge",
        Samsung = "samsung",
        Opera = "opera",
        Other = "other",
    }
}

/// An ISO 3166-2 subdivision code (`US-CA`, `GB-ENG`): a country and one to three ASCII
/// upper-case letters or digits, packed in one word so that a region rule is a search of
/// sorted integers (country index × 2^16 + the subdivision in base 37).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Region(u32);

impl Region {
    /// Parses `CC-SSS` (well-formedness only; whether ISO assigned it is the catalog's
    /// business).
    pub fn from_code(code: &str) -> Option<Region> {
        let (country, sub) = code.split_once('-')?;
        Region::of(Country::from_code(country)?, sub)
    }

    /// The region `sub` (1–3 upper-case letters or digits) of `country`.
    pub fn of(country: Country, sub: &str) -> Option<Region> {
        if sub.is_empty() || sub.len() > 3 {
            return None;
        }
        let mut packed = 0u32;
        for b in sub.bytes() {
            let digit = match b {
                b'0'..=b'9' => b - b'0' + 1,
                b'A'..=b'Z' => b - b'A' + 11,
                _ => return None,
            };
            packed = packed * 37 + u32::from(digit);
        }
        Some(Region((country.index() as u32) << 16 | packed))
    }

    pub fn country(self) -> Country {
        let i = (self.0 >> 16) as usize;
        Country([b'A' + (i / 26) as u8, b'A' + (i % 26) as u8])
    }

    /// The packed value (sorted sets of regions).
    pub fn key(self) -> u32 {
        self.0
    }

    /// Inverse of [`Region::key`] for a key made by this type.
    pub fn from_key(key: u32) -> Region {
        Region(key)
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sub = [0u8; 3];
        let (mut n, mut len) = (self.0 & 0xffff, 0);
        while n > 0 && len < 3 {
            let d = (n % 37) as u8;
            sub[len] = if d <= 10 { b'0' + d - 1 } else { b'A' + d - 11 };
            n /= 37;
            len += 1;
        }
        sub[..len].reverse();
        write!(
            f,
            "{}-{}",
            self.country(),
            std::str::from_utf8(&sub[..len]).unwrap_or("")
        )
    }
}

impl fmt::Debug for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Region {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// What happens to clicks of a screened kind: bots (`routing.bots`) and clicks from
/// anonymizing networks (`routing.anonymous`), docs/routing.md.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Screen {
    /// Send to the fallback URL; count toward no cap.
    Fallback,
    /// Route like any other click.
    Route,
}

/// Which forwarding header a trusted proxy sets (`server.client_ip_header`). Only one is
/// read: reading both would let a client forge the one its proxy passes through untouched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientIpHeader {
    XForwardedFor,
    Forwarded,
}

/// How a postback was answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PostbackAnswer {
    Recorded,
    Duplicate,
    /// The click is older than the attribution window.
    Expired,
    /// Malformed click id or a bad amount (`400`); a forged click id (`422`).
    Invalid,
    /// Not recorded for a server-side reason (`503`).
    Unavailable,
    /// Cluster mode: queued on the node while Redis is unreachable (`202`).
    Queued,
    /// The postback token is missing or wrong (`401`).
    Unauthorized,
    /// The source address is not in `postbacks.allowed_networks` (`403`).
    Forbidden,
}

impl PostbackAnswer {
    pub const ALL: [PostbackAnswer; 8] = [
        PostbackAnswer::Recorded,
        PostbackAnswer::Duplicate,
        PostbackAnswer::Expired,
        PostbackAnswer::Invalid,
        PostbackAnswer::Unavailable,
        PostbackAnswer::Queued,
        PostbackAnswer::Unauthorized,
        PostbackAnswer::Forbidden,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PostbackAnswer::Recorded => "recorded",
            PostbackAnswer::Duplicate => "duplicate",
            PostbackAnswer::Expired => "expired",
            PostbackAnswer::Invalid => "invalid",
            PostbackAnswer::Unavailable => "unavailable",
            PostbackAnswer::Queued => "queued",
            PostbackAnswer::Unauthorized => "unauthorized",
            PostbackAnswer::Forbidden => "forbidden",
        }
    }
}

/// Why a click went to the fallback URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FallbackReason {
    /// The smart link is inactive.
    Inactive,
    /// The click came from a bot and bots are not routed.
    Bot,
    /// No attachment of any priority qualified, and none was turned away by a cap.
    NoMatch,
    /// No attachment qualified, and at least one matched the click but its offer was capped.
    AllCapped,
    /// The click came from an anonymizing network and those are not routed.
    Anonymous,
    /// No attachment qualified, and at least one matched the click but its destination was
    /// down (`health.all_down = "fallback"`).
    DestinationDown,
}

impl FallbackReason {
    pub const ALL: [FallbackReason; 6] = [
        FallbackReason::Inactive,
        FallbackReason::Bot,
        FallbackReason::NoMatch,
        FallbackReason::AllCapped,
        FallbackReason::Anonymous,
        FallbackReason::DestinationDown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FallbackReason::Inactive => "inactive",
            FallbackReason::Bot => "bot",
            FallbackReason::NoMatch => "no_match",
            FallbackReason::AllCapped => "all_capped",
            FallbackReason::Anonymous => "anonymous",
            FallbackReason::DestinationDown => "destination_down",
        }
    }

    /// The reason named `word` (as [`FallbackReason::as_str`] writes it).
    pub fn of_str(word: &str) -> Option<FallbackReason> {
        FallbackReason::ALL.into_iter().find(|r| r.as_str() == word)
    }
}

/// What a destination is: an offer's URL or a landing page's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DestinationKind {
    Offer,
    LandingPage,
}

/// A destination clicks are sent to, by the stable id of its offer or landing page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Destination {
    pub kind: DestinationKind,
    pub id: u32,
}

impl Destination {
    pub fn offer(id: u32) -> Destination {
        Destination {
            kind: DestinationKind::Offer,
            id,
        }
    }

    pub fn landing_page(id: u32) -> Destination {
        Destination {
            kind: DestinationKind::LandingPage,
            id,
        }
    }

    /// `offer:1042`, `landing_page:7`: its name in keys and files.
    pub fn key(self) -> String {
        format!("{}:{}", self.kind.as_str(), self.id)
    }

    /// The inverse of [`Destination::key`].
    pub fn of_key(key: &str) -> Option<Destination> {
        let (kind, id) = key.split_once(':')?;
        let kind = match kind {
            "offer" => DestinationKind::Offer,
            "landing_page" => DestinationKind::LandingPage,
            _ => return None,
        };
        Some(Destination {
            kind,
            id: id.parse().ok()?,
        })
    }
}

impl DestinationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DestinationKind::Offer => "offer",
            DestinationKind::LandingPage => "landing_page",
        }
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            DestinationKind::Offer => write!(f, "offer {}", self.id),
            DestinationKind::LandingPage => write!(f, "landing page {}", self.id),
        }
    }
}

/// What kind of tracking link produced the click.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    SmartLink = 0,
    Campaign = 1,
}

/// A smart link or a campaign.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Source {
    pub kind: SourceKind,
    pub id: u32,
}

impl Source {
    pub fn smart_link(id: u32) -> Source {
        Source {
            kind: SourceKind::SmartLink,
            id,
        }
    }

    pub fn campaign(id: u32) -> Source {
        Source {
            kind: SourceKind::Campaign,
            id,
        }
    }
}

/// The kinds of catalog entity whose ids create calls hand out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Entity {
    Affiliate,
    Offer,
    LandingPage,
    Creative,
    Campaign,
    SmartLink,
}

impl Entity {
    pub const ALL: [Entity; 6] = [
        Entity::Affiliate,
        Entity::Offer,
        Entity::LandingPage,
        Entity::Creative,
        Entity::Campaign,
        Entity::SmartLink,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Entity::Affiliate => "affiliate",
            Entity::Offer => "offer",
            Entity::LandingPage => "landing_page",
            Entity::Creative => "creative",
            Entity::Campaign => "campaign",
            Entity::SmartLink => "smart_link",
        }
    }
}

/// Largest cap value a catalog may set (counts are 32-bit per window).
pub const MAX_CAP: u64 = 1_000_000_000;

/// Which cap stopped an offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CapKind {
    DailyClicks,
    DailyConversions,
    WeeklyConversions,
    MonthlyConversions,
    TotalConversions,
}

impl CapKind {
    pub const ALL: [CapKind; 5] = [
        CapKind::DailyClicks,
        CapKind::DailyConversions,
        CapKind::WeeklyConversions,
        CapKind::MonthlyConversions,
        CapKind::TotalConversions,
    ];

    /// What the cap counts, for the API's documentation.
    pub const fn doc(self) -> &'static str {
        match self {
            CapKind::DailyClicks => {
                "Routed clicks per day (from midnight in `tracking.timezone`); null clears the cap."
            }
            CapKind::DailyConversions => "Conversions per day; null clears the cap.",
            CapKind::WeeklyConversions => {
                "Conversions per week (from Monday); null clears the cap."
            }
            CapKind::MonthlyConversions => {
                "Conversions per month (from the 1st); null clears the cap."
            }
            CapKind::TotalConversions => "Conversions in all; null clears the cap.",
        }
    }

    /// The name of this cap in the catalog, the API and statistics.
    pub const fn as_str(self) -> &'static str {
        match self {
            CapKind::DailyClicks => "daily_clicks",
            CapKind::DailyConversions => "daily_conversions",
            CapKind::WeeklyConversions => "weekly_conversions",
            CapKind::MonthlyConversions => "monthly_conversions",
            CapKind::TotalConversions => "total_conversions",
        }
    }
}

/// ISO 3166-1 alpha-2 codes in use, plus `XK` (Kosovo), which GeoIP databases return.
const ISO_CODES: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI \
BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ \
DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ \
GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN \
KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS \
MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT \
PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF \
TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS XK YE YT ZA \
ZM ZW";

/// [`ISO_CODES`] as a bit set over `Country::index` (26 × 26 bits), built at compile time:
/// a large catalog checks hundreds of thousands of codes.
const ASSIGNED: [u64; 11] = {
    let mut bits = [0u64; 11];
    let codes = ISO_CODES.as_bytes();
    let mut i = 0;
    while i + 1 < codes.len() {
        let index = (codes[i] - b'A') as usize * 26 + (codes[i + 1] - b'A') as usize;
        bits[index / 64] |= 1 << (index % 64);
        i += 3;
    }
    bits
};

/// The codes ISO 3166-1 assigns, in order (the OpenAPI document lists them).
pub fn iso_country_codes() -> impl Iterator<Item = &'static str> {
    ISO_CODES.split(' ')
}

/// Parses a catalog country code: two upper-case letters assigned by ISO 3166-1.
pub fn parse_country(code: &str) -> Result<Country, String> {
    let hint = match code {
        "UK" => " (the ISO code of the United Kingdom is GB)",
        _ => "",
    };
    let assigned = |c: Country| ASSIGNED[c.index() / 64] & (1 << (c.index() % 64)) != 0;
    match Country::from_code(code) {
        Some(c) if assigned(c) => Ok(c),
        Some(_) => Err(format!(
            "{code:?} is not an ISO 3166-1 alpha-2 country code{hint}"
        )),
        None => Err(format!(
            "{code:?} is not a country code (two upper-case letters, e.g. \"US\")"
        )),
    }
}

/// Error responses the application builds, counted by status. (hyper answers `431` for
/// oversized heads and `400` for unparseable ones itself; those never reach the service.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    BadRequest,
    NotFound,
    MethodNotAllowed,
    UriTooLong,
    PayloadTooLarge,
    Timeout,
    Internal,
    /// Missing or unknown `api_key`, missing or wrong postback token.
    Unauthorized,
    /// The client's address is not in the allow-list (API, postbacks).
    Forbidden,
    /// Management API: the catalog file changed on disk since it was loaded.
    Conflict,
    /// Management API: well-formed, but refused by the catalog's rules.
    Unprocessable,
    /// Management API: the catalog could not be written (disk).
    Unavailable,
    /// Console sign-in: too many attempts from this client.
    TooManyRequests,
}

impl Rejection {
    pub const ALL: [Rejection; 13] = [
        Rejection::BadRequest,
        Rejection::NotFound,
        Rejection::MethodNotAllowed,
        Rejection::UriTooLong,
        Rejection::PayloadTooLarge,
        Rejection::Timeout,
        Rejection::Internal,
        Rejection::Unauthorized,
        Rejection::Forbidden,
        Rejection::Conflict,
        Rejection::Unprocessable,
        Rejection::Unavailable,
        Rejection::TooManyRequests,
    ];

    /// The status of the responses this counts: the one mapping from rejection to status,
    /// used by every error response and by the metric's label.
    pub fn status(self) -> StatusCode {
        match self {
            Rejection::BadRequest => StatusCode::BAD_REQUEST,
            Rejection::NotFound => StatusCode::NOT_FOUND,
            Rejection::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Rejection::UriTooLong => StatusCode::URI_TOO_LONG,
            Rejection::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Rejection::Timeout => StatusCode::REQUEST_TIMEOUT,
            Rejection::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Rejection::Unauthorized => StatusCode::UNAUTHORIZED,
            Rejection::Forbidden => StatusCode::FORBIDDEN,
            Rejection::Conflict => StatusCode::CONFLICT,
            Rejection::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
            Rejection::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Rejection::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
        }
    }
}

#[cfg(test)]
mod tests {
    proptest::proptest! {
        /// Any header parses without a panic to nothing or a lower-case two-letter code
        /// that is the primary subtag of one of its entries.
        #[test]
        fn any_accept_language_parses_to_one_of_its_entries(header in "[a-zA-Z;=,. *0-9-]{0,60}") {
            if let Some(l) = Language::preferred(header.as_bytes()) {
                proptest::prop_assert!(l.as_str().bytes().all(|b| b.is_ascii_lowercase()));
                proptest::prop_assert!(header.to_ascii_lowercase().contains(l.as_str()));
            }
        }
    }

    #[test]
    fn the_preferred_language_is_the_highest_q_entry() {
        let cases = [
            ("en-US,en;q=0.9,de;q=0.8", Some("en")),
            ("de;q=0.5, en;q=0.4", Some("de")),
            ("fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5", Some("fr")),
            ("en;q=0, de", Some("de")),
            ("en;q=0.8, DE-at;q=0.9", Some("de")),
            ("en;q=0.5, de;q=0.5", Some("en")),
            ("*", None),
            ("zh-Hant-TW", Some("zh")),
            ("yue-HK", None),
            ("en;q=1.5, fr;q=0.1", Some("fr")),
            ("", None),
            (",,;;", None),
        ];
        for (header, want) in cases {
            assert_eq!(
                Language::preferred(header.as_bytes()).map(|l| l.as_str().to_string()),
                want.map(str::to_string),
                "{header:?}"
            );
        }
    }

    use super::*;

    #[test]
    fn the_assigned_bit_set_holds_exactly_the_listed_codes() {
        let listed: Vec<&str> = ISO_CODES.split(' ').collect();
        let mut accepted = Vec::new();
        for a in b'A'..=b'Z' {
            for b in b'A'..=b'Z' {
                let code = String::from_utf8(vec![a, b]).unwrap();
                if parse_country(&code).is_ok() {
                    accepted.push(code);
                }
            }
        }
        assert_eq!(accepted, listed);
    }

    #[test]
    fn country_codes_must_be_assigned() {
        assert!(parse_country("US").is_ok());
        assert!(parse_country("XK").is_ok());
        assert!(parse_country("UK").unwrap_err().contains("GB"));
        assert!(parse_country("ZZ").is_err());
        assert!(parse_country("us").is_err());
    }

    #[test]
    fn country_accepts_only_two_upper_case_letters() {
        assert_eq!(
            Country::from_code("US").map(|c| c.to_string()),
            Some("US".into())
        );
        for bad in ["us", "U", "USA", "U1", "", "ÜS"] {
            assert!(Country::from_code(bad).is_none(), "{bad:?} accepted");
        }
    }

    #[test]
    fn country_index_is_dense_and_in_range() {
        assert_eq!(Country::from_code("AA").unwrap().index(), 0);
        assert_eq!(
            Country::from_code("ZZ").unwrap().index(),
            Country::SPACE - 1
        );
    }

    #[test]
    fn enums_round_trip_through_their_discriminant() {
        for d in DeviceClass::ALL {
            assert_eq!(DeviceClass::from_u8(d as u8), Some(d));
        }
        for o in OsFamily::ALL {
            assert_eq!(OsFamily::from_u8(o as u8), Some(o));
        }
        assert_eq!(DeviceClass::from_u8(5), None);
        assert_eq!(OsFamily::from_u8(7), None);
    }
}
