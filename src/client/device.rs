//! Device class, OS family and browser family from the user agent and client hints
//! (docs/routing.md). The only module that knows woothee.
//!
//! Order of rules, first match wins:
//! 1. No user agent, or one naming a known bot, fetcher, preview service or automation tool
//!    (a list woothee lacks: headless browsers, HTTP libraries, AI crawlers, link previews),
//!    or one woothee calls a crawler → `bot`.
//! 2. Smart TVs, set-top boxes and VR headsets → `other`; game consoles → `other`, OS `other`.
//! 3. `Sec-CH-UA-Mobile: ?1` → `mobile`.
//! 4. Tablets woothee calls smartphones or PCs: `iPad`, Android without `Mobile`, Kindle/Silk,
//!    a `Tablet` token (not Windows' `Tablet PC`) → `tablet`.
//! 5. woothee: `pc` → desktop, `smartphone`/`mobilephone` → mobile, anything else → other.
//!
//! The OS family comes from `Sec-CH-UA-Platform` when sent, else from the user agent. The
//! browser family is woothee's browser name (Chrome, Safari, Firefox, Edge, Opera,
//! SamsungBrowser), with the tokens woothee misses checked first: `Edg/`, `EdgA/`, `EdgiOS/`
//! (Edge), `OPR/`, `OPT/` (Opera), `SamsungBrowser/`, `CriOS/` (Chrome) and `FxiOS/`
//! (Firefox) on iOS.
//!
//! woothee runs dozens of regular expressions (microseconds); the result for a user agent is
//! kept in a fixed-size, lock-free, 4-way set-associative cache, so a repeated user agent
//! costs one hash and a few atomic loads from one cache line. Memory is bounded by
//! construction: `CACHE_SLOTS` × 8 bytes. A slot holds the hash's upper bits as a tag and
//! the answer, in one `AtomicU64`, so a reader never sees a torn entry.

/// What a user agent (and its client hints) says of the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Device {
    pub class: DeviceClass,
    pub os: OsFamily,
    pub browser: Browser,
}

impl Device {
    /// A click without a user agent.
    const NONE: Device = Device {
        class: DeviceClass::Bot,
        os: OsFamily::Other,
        browser: Browser::Other,
    };
}

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};

use aho_corasick::AhoCorasick;

use crate::metrics::Counter;
use crate::vocab::{Browser, DeviceClass, OsFamily};

/// Number of cache slots (a power of two): 65,536 × 8 bytes = 512 KiB.
pub const CACHE_SLOTS: usize = 1 << 16;
const WAYS: usize = 4;

/// Substrings that mark a bot, fetcher or automation tool, matched case-sensitively. The
/// generic "bot" counts only when followed by `/`, `;` or `)`: a bare, case-insensitive
/// "bot" would also catch phones such as the CUBOT brand. `+http` is the contact URL
/// crawlers put in their agent.
const BOT_MARKERS: &[&str] = &[
    "bot/",
    "Bot/",
    "bot;",
    "Bot;",
    "bot)",
    "Bot)",
    "+http",
    "crawler",
    "Crawler",
    "spider",
    "Spider",
    "HeadlessChrome",
    "PhantomJS",
    "Lighthouse",
    "Google-InspectionTool",
    "AdsBot-Google",
    "Mediapartners-Google",
    "APIs-Google",
    "FeedFetcher-Google",
    "Google-Read-Aloud",
    "Google-Safety",
    "Google-Extended",
    "facebookexternalhit",
    "facebookcatalog",
    "meta-externalagent",
    "meta-externalfetcher",
    "WhatsApp/",
    "SkypeUriPreview",
    "Slack-ImgProxy",
    "Slackbot",
    "TelegramBot",
    "Discordbot",
    "Embedly",
    "Iframely",
    "redditbot",
    "Bytespider",
    "ChatGPT-User",
    "OAI-SearchBot",
    "PerplexityBot",
    "Perplexity-User",
    "anthropic-ai",
    "Claude-Web",
    "Claude-User",
    "CCBot",
    "Amazonbot",
    "python-requests",
    "Python-urllib",
    "python-httpx",
    "aiohttp",
    "Go-http-client",
    "okhttp",
    "Java/",
    "Java-http-client",
    "Apache-HttpClient",
    "axios/",
    "node-fetch",
    "undici",
    "PostmanRuntime",
    "HTTPie",
    "curl/",
    "Wget/",
    "libwww-perl",
    "Scrapy",
    "Screaming Frog",
    "Pingdom",
    "StatusCake",
    "Datadog",
    "Yeti/",
    "ia_archiver",
    "Nutch",
    "Qwantify",
];

/// Substrings that mark televisions, set-top boxes and headsets (their OS is kept).
const TV_MARKERS: &[&str] = &[
    "SmartTV",
    "SMART-TV",
    "Smart-TV",
    "SmartHub",
    "Android TV",
    "AndroidTV",
    "GoogleTV",
    "CrKey",
    "; AFT",
    "BRAVIA",
    "Tizen",
    "Web0S",
    "webOS",
    "HbbTV",
    "Roku",
    "OculusBrowser",
];

/// Substrings that mark game consoles, whose user agents borrow a desktop OS's name.
const CONSOLE_MARKERS: &[&str] = &["PlayStation", "Xbox", "Nintendo"];

/// Parses user agents, with a cache in front of woothee.
pub struct DeviceClassifier {
    parser: woothee::parser::Parser,
    bots: AhoCorasick,
    tvs: AhoCorasick,
    consoles: AhoCorasick,
    hasher: foldhash::fast::FixedState,
    sets: Box<[Set]>,
    pub cache_hits: Counter,
    pub cache_misses: Counter,
}

/// One cache set: `WAYS` slots in one half cache line. Each slot: tag (hash bits 12..64) |
/// browser << 8 | valid bit | os << 3 | device; 0 is empty.
#[repr(align(32))]
struct Set([AtomicU64; WAYS]);

const VALID: u64 = 0x80;
/// The bits of a slot that are not its tag.
const VALUE: u64 = 0xfff;

impl DeviceClassifier {
    /// Builds the classifier and warms woothee (its regular expressions compile on first use,
    /// which must not happen on a client's click).
    pub fn new() -> DeviceClassifier {
        DeviceClassifier::with_cache_slots(CACHE_SLOTS)
    }

    /// As [`new`](Self::new) with at least `slots` cache slots (a power of two, ≥ 4).
    pub fn with_cache_slots(slots: usize) -> DeviceClassifier {
        let sets = (slots.next_power_of_two() / WAYS).max(1);
        let classifier = DeviceClassifier {
            parser: woothee::parser::Parser::new(),
            bots: AhoCorasick::new(BOT_MARKERS).expect("static patterns"),
            tvs: AhoCorasick::new(TV_MARKERS).expect("static patterns"),
            consoles: AhoCorasick::new(CONSOLE_MARKERS).expect("static patterns"),
            hasher: foldhash::fast::FixedState::with_seed(rand::random()),
            sets: (0..sets)
                .map(|_| Set(std::array::from_fn(|_| AtomicU64::new(0))))
                .collect(),
            cache_hits: Counter::default(),
            cache_misses: Counter::default(),
        };
        for ua in [
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        ] {
            classifier.parse(ua);
        }
        classifier
    }

    /// Classifies a click from its `User-Agent` and client hints (raw header bytes).
    pub fn classify(
        &self,
        user_agent: Option<&[u8]>,
        ch_mobile: Option<&[u8]>,
        ch_platform: Option<&[u8]>,
    ) -> Device {
        let mut device = match user_agent {
            Some(ua) if !ua.is_empty() => self.cached(ua),
            _ => Device::NONE,
        };
        if device.class != DeviceClass::Bot && ch_mobile == Some(b"?1") {
            device.class = DeviceClass::Mobile;
        }
        if let Some(platform) = ch_platform.and_then(platform_hint) {
            device.os = platform;
        }
        device
    }

    fn cached(&self, ua: &[u8]) -> Device {
        let hash = self.hasher.hash_one(ua);
        let set = &self.sets[hash as usize & (self.sets.len() - 1)].0;
        let tag = hash & !VALUE;
        for slot in set {
            let entry = slot.load(Ordering::Relaxed);
            if entry & !VALUE == tag
                && entry & VALID != 0
                && let (Some(class), Some(os), Some(browser)) = (
                    DeviceClass::from_u8((entry & 0x7) as u8),
                    OsFamily::from_u8(((entry >> 3) & 0xf) as u8),
                    Browser::from_u8(((entry >> 8) & 0xf) as u8),
                )
            {
                self.cache_hits.inc();
                return Device { class, os, browser };
            }
        }
        self.cache_misses.inc();
        let d = self.parse_bytes(ua);
        // An empty way if there is one, else one chosen by the hash's top bits.
        let victim = set
            .iter()
            .find(|s| s.load(Ordering::Relaxed) == 0)
            .unwrap_or(&set[(hash >> 62) as usize % WAYS]);
        let value = (d.browser as u64) << 8 | VALID | (d.os as u64) << 3 | d.class as u64;
        victim.store(tag | value, Ordering::Relaxed);
        d
    }

    fn parse_bytes(&self, ua: &[u8]) -> Device {
        match std::str::from_utf8(ua) {
            Ok(s) => self.parse(s),
            Err(_) => self.parse(&String::from_utf8_lossy(ua)),
        }
    }

    /// Classifies a user agent without the cache (what a cache miss costs).
    pub fn parse(&self, ua: &str) -> Device {
        let w = self.parser.parse(ua);
        let browser = browser_from_tokens(ua)
            .or_else(|| w.as_ref().map(|w| browser_from_woothee(w.name)))
            .unwrap_or(Browser::Other);
        let (class, os) = self.class_and_os(ua, w.as_ref());
        Device { class, os, browser }
    }

    fn class_and_os(
        &self,
        ua: &str,
        w: Option<&woothee::parser::WootheeResult>,
    ) -> (DeviceClass, OsFamily) {
        let os = w
            .map(|w| os_from_woothee(w.os))
            .filter(|&o| o != OsFamily::Other)
            .unwrap_or_else(|| os_from_tokens(ua));
        if self.bots.is_match(ua) || w.is_some_and(|w| w.category == "crawler") {
            return (DeviceClass::Bot, os);
        }
        if self.consoles.is_match(ua) {
            return (DeviceClass::Other, OsFamily::Other);
        }
        if self.tvs.is_match(ua) {
            return (DeviceClass::Other, os);
        }
        let is_android_tablet = ua.contains("Android") && !ua.contains("Mobile");
        let is_tablet = ua.contains("iPad")
            || is_android_tablet
            || ua.contains("Kindle")
            || ua.contains("Silk/")
            || (ua.contains("Tablet") && !ua.contains("Tablet PC"));
        if is_tablet {
            return (DeviceClass::Tablet, os);
        }
        let device = match w.map(|w| w.category) {
            Some("pc") => DeviceClass::Desktop,
            Some("smartphone" | "mobilephone") => DeviceClass::Mobile,
            _ => DeviceClass::Other,
        };
        (device, os)
    }
}

impl Default for DeviceClassifier {
    fn default() -> Self {
        DeviceClassifier::new()
    }
}

/// Browsers whose tokens woothee reads as another browser (Chromium-based ones say
/// `Chrome/`, iOS ones `Safari/`).
fn browser_from_tokens(ua: &str) -> Option<Browser> {
    const TOKENS: [(&str, Browser); 9] = [
        ("Edg/", Browser::Edge),
        ("EdgA/", Browser::Edge),
        ("EdgiOS/", Browser::Edge),
        ("OPR/", Browser::Opera),
        ("OPT/", Browser::Opera),
        ("SamsungBrowser/", Browser::Samsung),
        ("CriOS/", Browser::Chrome),
        ("FxiOS/", Browser::Firefox),
        ("Opera", Browser::Opera),
    ];
    TOKENS
        .iter()
        .find(|(token, _)| ua.contains(token))
        .map(|&(_, b)| b)
}

fn browser_from_woothee(name: &str) -> Browser {
    match name {
        "Chrome" => Browser::Chrome,
        "Safari" => Browser::Safari,
        "Firefox" => Browser::Firefox,
        "Edge" => Browser::Edge,
        "Opera" => Browser::Opera,
        "SamsungBrowser" => Browser::Samsung,
        _ => Browser::Other,
    }
}

fn os_from_woothee(name: &str) -> OsFamily {
    match name {
        "Android" => OsFamily::Android,
        "iPhone" | "iPad" | "iPod" | "iOS" => OsFamily::Ios,
        "Mac OSX" | "Mac OS Classic" => OsFamily::Macos,
        "Linux" => OsFamily::Linux,
        "ChromeOS" => OsFamily::Chromeos,
        n if n.starts_with("Windows") => OsFamily::Windows,
        _ => OsFamily::Other,
    }
}

/// OS from well-known tokens, for user agents woothee does not recognise.
fn os_from_tokens(ua: &str) -> OsFamily {
    if ua.contains("Android") {
        OsFamily::Android
    } else if ua.contains("iPhone") || ua.contains("iPad") || ua.contains("iPod") {
        OsFamily::Ios
    } else if ua.contains("CrOS") {
        OsFamily::Chromeos
    } else if ua.contains("Windows") {
        OsFamily::Windows
    } else if ua.contains("Mac OS X") || ua.contains("Macintosh") {
        OsFamily::Macos
    } else if ua.contains("Linux") || ua.contains("LINUX") {
        OsFamily::Linux
    } else {
        OsFamily::Other
    }
}

/// `Sec-CH-UA-Platform` (a quoted structured-header string) to an OS family.
fn platform_hint(value: &[u8]) -> Option<OsFamily> {
    let name = value
        .strip_prefix(b"\"")
        .and_then(|v| v.strip_suffix(b"\""))
        .unwrap_or(value);
    Some(match name {
        b"Android" => OsFamily::Android,
        b"iOS" => OsFamily::Ios,
        b"Windows" => OsFamily::Windows,
        b"macOS" => OsFamily::Macos,
        b"Linux" => OsFamily::Linux,
        b"Chrome OS" | b"Chromium OS" => OsFamily::Chromeos,
        b"" | b"Unknown" => return None,
        _ => OsFamily::Other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME_WIN: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

    #[test]
    fn cache_hit_returns_the_parsed_class() {
        let c = DeviceClassifier::new();
        let first = c.classify(Some(CHROME_WIN.as_bytes()), None, None);
        assert_eq!(
            first,
            Device {
                class: DeviceClass::Desktop,
                os: OsFamily::Windows,
                browser: Browser::Chrome
            }
        );
        assert_eq!(c.cache_misses.get(), 1);
        assert_eq!(c.classify(Some(CHROME_WIN.as_bytes()), None, None), first);
        assert_eq!(c.cache_hits.get(), 1);
    }

    #[test]
    fn hints_override_the_cached_user_agent_class() {
        let c = DeviceClassifier::new();
        let reduced = b"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36";
        assert_eq!(
            c.classify(Some(reduced), Some(b"?1"), Some(b"\"Android\"")),
            Device {
                class: DeviceClass::Mobile,
                os: OsFamily::Android,
                browser: Browser::Chrome
            }
        );
        assert_eq!(
            c.classify(Some(CHROME_WIN.as_bytes()), Some(b"?0"), Some(b"\"Linux\"")),
            Device {
                class: DeviceClass::Desktop,
                os: OsFamily::Linux,
                browser: Browser::Chrome
            }
        );
    }

    #[test]
    fn missing_or_empty_user_agent_is_a_bot_and_hints_do_not_rescue_it() {
        let c = DeviceClassifier::new();
        assert_eq!(c.classify(None, None, None).class, DeviceClass::Bot);
        assert_eq!(
            c.classify(Some(b""), Some(b"?1"), None).class,
            DeviceClass::Bot
        );
    }

    #[test]
    fn invalid_utf8_is_classified_not_rejected() {
        let c = DeviceClassifier::new();
        let d = c.classify(Some(b"Mozilla/5.0 (\xff\xfe) curl/8.0"), None, None);
        assert_eq!(d.class, DeviceClass::Bot);
    }

    #[test]
    fn colliding_slots_never_return_another_agents_class() {
        let c = DeviceClassifier::with_cache_slots(8);
        let phone = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1";
        // Eight slots for 400 agents: every slot is shared and overwritten constantly.
        for i in 0..200 {
            let desktop = format!("{CHROME_WIN} build/{i}");
            let mobile = format!("{phone} build/{i}");
            assert_eq!(
                c.classify(Some(desktop.as_bytes()), None, None).class,
                DeviceClass::Desktop
            );
            assert_eq!(
                c.classify(Some(mobile.as_bytes()), None, None).class,
                DeviceClass::Mobile
            );
            assert_eq!(
                c.classify(Some(desktop.as_bytes()), None, None).class,
                DeviceClass::Desktop
            );
        }
        assert_eq!(c.sets.len() * WAYS, 8);
    }

    #[test]
    fn browser_families_of_real_user_agents() {
        let c = DeviceClassifier::new();
        let cases = [
            (CHROME_WIN, Browser::Chrome),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
                Browser::Safari,
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
                Browser::Safari,
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
                Browser::Firefox,
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
                Browser::Edge,
            ),
            (
                "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36 EdgA/131.0.0.0",
                Browser::Edge,
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; SM-S928B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/27.0 Chrome/125.0.0.0 Mobile Safari/537.36",
                Browser::Samsung,
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 OPR/115.0.0.0",
                Browser::Opera,
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
                Browser::Chrome,
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/133.0 Mobile/15E148 Safari/605.1.15",
                Browser::Firefox,
            ),
            (
                "Mozilla/5.0 (compatible; MSIE 10.0; Windows NT 6.2; Trident/6.0)",
                Browser::Other,
            ),
            ("curl/8.5.0", Browser::Other),
        ];
        for (ua, browser) in cases {
            assert_eq!(c.parse(ua).browser, browser, "{ua}");
            // And through the cache, twice.
            for _ in 0..2 {
                assert_eq!(
                    c.classify(Some(ua.as_bytes()), None, None).browser,
                    browser,
                    "{ua}"
                );
            }
        }
    }

    proptest::proptest! {
        /// Any header bytes are classified, never a panic, and a repeat gives the same answer.
        #[test]
        fn any_user_agent_bytes_are_classified(
            ua in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
            mobile in proptest::option::of(proptest::collection::vec(proptest::num::u8::ANY, 0..4)),
        ) {
            let c = DeviceClassifier::with_cache_slots(64);
            let first = c.classify(Some(&ua), mobile.as_deref(), None);
            proptest::prop_assert_eq!(c.classify(Some(&ua), mobile.as_deref(), None), first);
        }
    }
}
