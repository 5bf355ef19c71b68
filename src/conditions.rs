//! Targeting conditions: every dimension a click can be targeted on, declared once.
//!
//! A [`Dimension`] is one attribute of a click (its device class, OS family, country, sub
//! ids, time of the week, ...). An
//! attachment (`smart_links[].offers[]`) may require it with an include list (`countries`)
//! or refuse it with an exclude list (`exclude_countries`); an offer likewise with
//! `allowed_countries` and `blocked_countries`. An empty or absent list means "any".
//! Everything about a dimension lives here: its field names, how its values are written and
//! checked, the compiled set a click is tested against, the reasons an attachment is skipped
//! for it, and how an explanation shows it. The catalog (serde, validation), the routing
//! table, the decision, the route explanation and the API all go through these tables, so a
//! new dimension is a new variant and its arms in this file (and, for a new attribute, the
//! client's `Attributes` implementation).
//!
//! Pipeline: a list as written (JSON) → [`Dimension::parse`] (every bad value reported with
//! its index) → a [`Rule`] (a compiled set and whether it includes or excludes) → the
//! attachment's and its offer's rules merged once, at compile time ([`Rules::merge`]) → a
//! click tests each rule in dimension order ([`Rules::check`]), cheap attributes first, so
//! the GeoIP lookup happens only when a rule needs the country.

use std::net::IpAddr;
use std::sync::LazyLock;

use ipnet::IpNet;
use rustc_hash::FxHashSet;
use serde_json::Value;

use crate::vocab::{Browser, Country, DeviceClass, Language, OsFamily, Region, parse_country};

/// The client attributes a condition may ask for; implementations compute each at most once.
/// The defaults say "the click has no such value" (test doubles that do not need them).
pub trait Attributes {
    fn country(&mut self) -> Option<Country>;
    fn device(&mut self) -> DeviceClass;
    fn os(&mut self) -> OsFamily;
    fn browser(&mut self) -> Browser {
        Browser::Other
    }
    /// The client's address (behind trusted proxies).
    fn ip(&mut self) -> Option<IpAddr> {
        None
    }
    /// The first subdivision of the address's location (a City database).
    fn region(&mut self) -> Option<Region> {
        None
    }
    /// The address's autonomous system number (the ASN database).
    fn asn(&mut self) -> Option<u32> {
        None
    }
    /// Whether the address belongs to an anonymizing network; `None` without the database.
    fn anonymous(&mut self) -> Option<bool> {
        None
    }
    /// The primary subtag of the highest-q `Accept-Language` entry.
    fn language(&mut self) -> Option<Language> {
        None
    }
    /// The host of the `Referer` header, lower case, without a trailing dot.
    fn referrer_host(&mut self) -> Option<&str> {
        None
    }
    /// Sub id `s1`..`s5` (`index` 0..5) of the click, when given and not empty.
    fn sub(&mut self, index: usize) -> Option<&str> {
        let _ = index;
        None
    }
    /// The click's minute of the week in `tracking.timezone`, Monday 00:00 being 0.
    fn week_minute(&mut self) -> Option<u16> {
        None
    }
}

/// A targeting dimension. The order of the variants is the order a click is tested in:
/// the cheap attributes first (the user agent's are cached, the address is known), then the
/// country (one lookup a click, then a bit test; the most common condition, and the one that
/// tells most attachments apart: tested before sub ids and schedules, it turns most
/// attachments away first, `benches/decision.rs`), the other lookups and the header parses
/// last.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dimension {
    Device,
    Os,
    Browser,
    IpRange,
    Country,
    Region,
    Param,
    Schedule,
    Asn,
    Anonymous,
    Language,
    Referrer,
}

/// Where a condition is written: on an attachment (`countries` / `exclude_countries`) or
/// on an offer (`allowed_countries` / `blocked_countries`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Attachment,
    Offer,
}

/// How a condition's value is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// A list of values (`["US", "CA"]`).
    List,
    /// Per sub id, a list of values: `{"s1": ["fb", "google*"]}` (`params`).
    Map,
    /// `true` (`exclude_anonymous`); `false` is the same as absent.
    Flag,
}

/// Why a condition turned a click away.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Failed {
    /// An include list does not hold the click's value.
    Mismatch,
    /// An include list, and the click has no value (no GeoIP record, ...).
    Unknown,
    /// An exclude list holds the click's value.
    Excluded,
}

/// A bad value of a condition: where it is below the field (`""`, `"[2]"`, `".s1[0]"`) and
/// what is wrong with it.
pub type BadValue = (String, String);

/// The sub ids a `params` condition may name, in order.
pub const SUB_IDS: [&str; 5] = ["s1", "s2", "s3", "s4", "s5"];

impl Dimension {
    pub const ALL: [Dimension; 12] = [
        Dimension::Device,
        Dimension::Os,
        Dimension::Browser,
        Dimension::IpRange,
        Dimension::Country,
        Dimension::Region,
        Dimension::Param,
        Dimension::Schedule,
        Dimension::Asn,
        Dimension::Anonymous,
        Dimension::Language,
        Dimension::Referrer,
    ];

    /// The field names of its include and exclude lists on `side`.
    pub const fn fields(self, side: Side) -> [&'static str; 2] {
        match (self, side) {
            (Dimension::Device, Side::Attachment) => ["devices", "exclude_devices"],
            (Dimension::Device, Side::Offer) => ["allowed_devices", "blocked_devices"],
            (Dimension::Os, Side::Attachment) => ["os", "exclude_os"],
            (Dimension::Os, Side::Offer) => ["allowed_os", "blocked_os"],
            (Dimension::Browser, Side::Attachment) => ["browsers", "exclude_browsers"],
            (Dimension::Browser, Side::Offer) => ["allowed_browsers", "blocked_browsers"],
            (Dimension::IpRange, Side::Attachment) => ["ip_ranges", "exclude_ip_ranges"],
            (Dimension::IpRange, Side::Offer) => ["allowed_ip_ranges", "blocked_ip_ranges"],
            (Dimension::Param, Side::Attachment) => ["params", "exclude_params"],
            (Dimension::Param, Side::Offer) => ["allowed_params", "blocked_params"],
            (Dimension::Schedule, Side::Attachment) => ["schedule", "exclude_schedule"],
            (Dimension::Schedule, Side::Offer) => ["allowed_schedule", "blocked_schedule"],
            (Dimension::Country, Side::Attachment) => ["countries", "exclude_countries"],
            (Dimension::Country, Side::Offer) => ["allowed_countries", "blocked_countries"],
            (Dimension::Region, Side::Attachment) => ["regions", "exclude_regions"],
            (Dimension::Region, Side::Offer) => ["allowed_regions", "blocked_regions"],
            (Dimension::Asn, Side::Attachment) => ["asns", "exclude_asns"],
            (Dimension::Asn, Side::Offer) => ["allowed_asns", "blocked_asns"],
            // The same names on both sides: a flag reads the same on an offer.
            (Dimension::Anonymous, _) => ["only_anonymous", "exclude_anonymous"],
            (Dimension::Language, Side::Attachment) => ["languages", "exclude_languages"],
            (Dimension::Language, Side::Offer) => ["allowed_languages", "blocked_languages"],
            (Dimension::Referrer, Side::Attachment) => {
                ["referrer_domains", "exclude_referrer_domains"]
            }
            (Dimension::Referrer, Side::Offer) => {
                ["allowed_referrer_domains", "blocked_referrer_domains"]
            }
        }
    }

    /// The field name of its include (`exclude: false`) or exclude list on `side`.
    pub const fn field(self, side: Side, exclude: bool) -> &'static str {
        self.fields(side)[exclude as usize]
    }

    /// The dimension and polarity of a field name on `side`.
    pub fn of_field(side: Side, name: &str) -> Option<(Dimension, bool)> {
        Dimension::ALL.into_iter().find_map(|d| {
            let [include, exclude] = d.fields(side);
            (name == include)
                .then_some((d, false))
                .or((name == exclude).then_some((d, true)))
        })
    }

    pub const fn shape(self) -> Shape {
        match self {
            Dimension::Param => Shape::Map,
            Dimension::Anonymous => Shape::Flag,
            _ => Shape::List,
        }
    }

    /// The skip reason a route explanation names when this dimension turned a click away.
    pub const fn reason(self, failed: Failed) -> &'static str {
        match (self, failed) {
            (Dimension::Device, Failed::Mismatch) => "device_mismatch",
            (Dimension::Device, Failed::Unknown) => "unknown_device",
            (Dimension::Device, Failed::Excluded) => "device_excluded",
            (Dimension::Os, Failed::Mismatch) => "os_mismatch",
            (Dimension::Os, Failed::Unknown) => "unknown_os",
            (Dimension::Os, Failed::Excluded) => "os_excluded",
            (Dimension::Browser, Failed::Mismatch) => "browser_mismatch",
            (Dimension::Browser, Failed::Unknown) => "unknown_browser",
            (Dimension::Browser, Failed::Excluded) => "browser_excluded",
            (Dimension::IpRange, Failed::Mismatch) => "ip_range_mismatch",
            (Dimension::IpRange, Failed::Unknown) => "unknown_ip",
            (Dimension::IpRange, Failed::Excluded) => "ip_range_excluded",
            (Dimension::Param, Failed::Mismatch) => "param_mismatch",
            (Dimension::Param, Failed::Unknown) => "missing_param",
            (Dimension::Param, Failed::Excluded) => "param_excluded",
            (Dimension::Schedule, Failed::Mismatch) => "outside_schedule",
            (Dimension::Schedule, Failed::Unknown) => "unknown_time",
            (Dimension::Schedule, Failed::Excluded) => "schedule_excluded",
            (Dimension::Country, Failed::Mismatch) => "country_mismatch",
            (Dimension::Country, Failed::Unknown) => "unknown_country",
            (Dimension::Country, Failed::Excluded) => "country_excluded",
            (Dimension::Region, Failed::Mismatch) => "region_mismatch",
            (Dimension::Region, Failed::Unknown) => "unknown_region",
            (Dimension::Region, Failed::Excluded) => "region_excluded",
            (Dimension::Asn, Failed::Mismatch) => "asn_mismatch",
            (Dimension::Asn, Failed::Unknown) => "unknown_asn",
            (Dimension::Asn, Failed::Excluded) => "asn_excluded",
            (Dimension::Anonymous, Failed::Mismatch) => "not_anonymous",
            (Dimension::Anonymous, Failed::Unknown) => "unknown_anonymous",
            (Dimension::Anonymous, Failed::Excluded) => "anonymous_excluded",
            (Dimension::Language, Failed::Mismatch) => "language_mismatch",
            (Dimension::Language, Failed::Unknown) => "unknown_language",
            (Dimension::Language, Failed::Excluded) => "language_excluded",
            (Dimension::Referrer, Failed::Mismatch) => "referrer_mismatch",
            (Dimension::Referrer, Failed::Unknown) => "unknown_referrer",
            (Dimension::Referrer, Failed::Excluded) => "referrer_excluded",
        }
    }

    /// What its values are, for messages and the API's documentation.
    pub const fn values(self) -> &'static str {
        match self {
            Dimension::Device => "device classes: desktop, mobile, tablet, bot, other",
            Dimension::Os => {
                "operating-system families: android, ios, windows, macos, linux, chromeos, other"
            }
            Dimension::Browser => {
                "browser families: chrome, safari, firefox, edge, samsung, opera, other"
            }
            Dimension::Country => "ISO 3166-1 alpha-2 country codes (upper case), e.g. US, GB",
            Dimension::Region => {
                "ISO 3166-2 subdivision codes, e.g. US-CA, GB-ENG: the first subdivision of a City database"
            }
            Dimension::Asn => {
                "autonomous system numbers, e.g. 15169 (or \"AS15169\"), from the ASN database"
            }
            Dimension::Anonymous => {
                "true: clicks from anonymizing networks (VPN, hosting provider, public proxy, Tor exit), from the anonymous-IP database"
            }
            Dimension::IpRange => {
                "client address ranges in CIDR notation, IPv4 or IPv6, e.g. 10.0.0.0/8, 2001:db8::/32 (a bare address is one host)"
            }
            Dimension::Param => {
                "per sub id (s1..s5), a list of values: exact, or a prefix ending in *, e.g. {\"s1\": [\"fb\", \"google*\"]}"
            }
            Dimension::Schedule => {
                "time windows in tracking.timezone: [{\"days\": [\"mon\", ...], \"from\": \"HH:MM\", \"to\": \"HH:MM\"}]; days absent: every day; from after to crosses midnight; to may be 24:00"
            }
            Dimension::Language => {
                "ISO 639-1 language codes (lower case), e.g. en, de: the primary subtag of the Accept-Language entry with the highest q"
            }
            Dimension::Referrer => {
                "host names of the Referer header, e.g. example.com; a name also matches its subdomains"
            }
        }
    }

    /// Its values when they are words of a closed list (device classes, OS families).
    pub fn words(self) -> Option<Vec<&'static str>> {
        match self {
            Dimension::Device => Some(DeviceClass::ALL.map(DeviceClass::as_str).to_vec()),
            Dimension::Os => Some(OsFamily::ALL.map(OsFamily::as_str).to_vec()),
            Dimension::Browser => Some(Browser::ALL.map(Browser::as_str).to_vec()),
            _ => None,
        }
    }

    /// The form of its values when they are open-ended strings (a regular expression, in
    /// the OpenAPI document too). A value of that form may still be refused for what it
    /// means (a network with host bits set, an ASN past 32 bits): the API answers such a
    /// value `422`, one of another form `400`.
    pub const fn pattern(self) -> Option<&'static str> {
        match self {
            // Countries are listed instead (`vocab::iso_country_codes`).
            Dimension::Region => Some("^[A-Z]{2}-[A-Z0-9]{1,3}$"),
            Dimension::Language => Some("^[a-z]{2}$"),
            Dimension::Asn => Some("^(AS|as)?[0-9]{1,10}$"),
            // IPv4 exactly; IPv6 by its characters (one colon at least).
            Dimension::IpRange => Some(
                "^((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(\\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}(/(3[0-2]|[12]?[0-9]))?|[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*(/(12[0-8]|1[01][0-9]|[1-9]?[0-9]))?)$",
            ),
            Dimension::Referrer => Some("^[A-Za-z0-9.-]{1,253}$"),
            _ => None,
        }
    }

    /// Where its values sit in a click's 64-bit word mask (offset, number of values), for the
    /// dimensions whose values are a short closed list of words; `None` for the others.
    pub const fn word_bits(self) -> Option<(u32, u32)> {
        match self {
            Dimension::Device => Some((0, DeviceClass::ALL.len() as u32)),
            Dimension::Os => Some((8, OsFamily::ALL.len() as u32)),
            Dimension::Browser => Some((16, Browser::ALL.len() as u32)),
            _ => None,
        }
    }

    /// The values the API lists always (empty: any), as the seeds show them; other
    /// dimensions are listed when set.
    pub const fn always_listed(self) -> bool {
        matches!(self, Dimension::Device | Dimension::Country)
    }

    /// Parses a condition as written into its compiled sets: none for an empty list (no
    /// rule: any value), one for a list, one per sub id for `params`; `Err` with every bad
    /// value and where it is.
    pub fn parse(self, written: &Value) -> Result<Vec<Set>, Vec<BadValue>> {
        match (self.shape(), written) {
            (Shape::List, Value::Array(items)) => {
                parse_list(Set::empty(self), items, String::new()).map(|s| s.into_iter().collect())
            }
            (Shape::Map, Value::Object(subs)) => {
                let mut errors = Vec::new();
                let mut sets = Vec::new();
                for (name, list) in subs {
                    let Some(index) = SUB_IDS.iter().position(|s| s == name) else {
                        errors.push((
                            format!(".{name}"),
                            format!("{name:?} is not a sub id: one of s1, s2, s3, s4, s5"),
                        ));
                        continue;
                    };
                    let Value::Array(items) = list else {
                        errors.push((format!(".{name}"), "must be a list of values".into()));
                        continue;
                    };
                    let empty = Set::Params(index as u8, SubValues::default());
                    match parse_list(empty, items, format!(".{name}")) {
                        Ok(set) => sets.extend(set),
                        Err(e) => errors.extend(e),
                    }
                }
                if errors.is_empty() {
                    Ok(sets)
                } else {
                    Err(errors)
                }
            }
            (Shape::Flag, Value::Bool(on)) => {
                Ok(on.then_some(Set::Anonymous).into_iter().collect())
            }
            (Shape::Flag, Value::Null) => Ok(Vec::new()),
            (shape, _) => Err(vec![(
                String::new(),
                match shape {
                    Shape::List => format!("must be a list of {}", self.values()),
                    Shape::Map => format!("must be an object: {}", self.values()),
                    Shape::Flag => "must be true or false".into(),
                },
            )]),
        }
    }
}

/// Adds every item to `set`: `None` when there are none.
fn parse_list(mut set: Set, items: &[Value], at: String) -> Result<Option<Set>, Vec<BadValue>> {
    let errors: Vec<BadValue> = items
        .iter()
        .enumerate()
        .filter_map(|(i, item)| set.insert(item).err().map(|m| (format!("{at}[{i}]"), m)))
        .collect();
    match (errors.is_empty(), items.is_empty()) {
        (false, _) => Err(errors),
        (true, true) => Ok(None),
        (true, false) => {
            set.finish();
            Ok(Some(set))
        }
    }
}

/// A compiled set of values of one dimension.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Set {
    Devices(Bits<DeviceClass>),
    Os(Bits<OsFamily>),
    Browsers(Bits<Browser>),
    /// A bit per possible code (26 × 26), inline: a click tests it with one load from the
    /// rule, which sits in the rules' own slice.
    Countries(CountryBits),
    /// Packed region codes ([`Region::key`]), sorted.
    Regions(Vec<u32>),
    /// Autonomous system numbers, sorted.
    Asns(Vec<u32>),
    /// The click comes from an anonymizing network.
    Anonymous,
    /// Address ranges: the networks as written, and the same as sorted, merged, inclusive
    /// ranges, searched by bisection.
    IpRanges(Vec<IpNet>, IpRanges),
    /// The values of one sub id (index into [`SUB_IDS`]).
    Params(u8, SubValues),
    /// Time windows: as written, and as sorted, merged, inclusive ranges of minutes of the
    /// week, searched in order: a schedule has a few ranges (a weekday window is five), and
    /// one slice of pairs read front to back beat a bisection over two (`benches/decision.rs`).
    Schedule(Vec<Value>, Vec<(u16, u16)>),
    /// A bit per possible code (26 × 26), inline.
    Languages(CountryBits),
    /// Host names, lower case, sorted.
    Referrers(Vec<Box<str>>),
}

/// One bit per well-formed two-letter code (countries, languages).
pub type CountryBits = [u64; Country::SPACE.div_ceil(64)];

/// Values of one sub id: exact ones, sorted, and prefixes (`google*` → `google`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubValues {
    exact: Vec<Box<str>>,
    prefixes: Vec<Box<str>>,
}

impl SubValues {
    fn insert(&mut self, item: &Value) -> Result<(), String> {
        let text = item
            .as_str()
            .filter(|t| !t.is_empty() && t.len() <= 255)
            .ok_or("must be a value of 1 to 255 characters, or a prefix ending in *")?;
        match text.strip_suffix('*') {
            Some(prefix) => self.prefixes.push(prefix.into()),
            None => self.exact.push(text.into()),
        }
        Ok(())
    }

    #[inline(never)]
    fn holds(&self, value: &str) -> bool {
        self.exact.binary_search_by(|v| (**v).cmp(value)).is_ok()
            || self.prefixes.iter().any(|p| value.starts_with(&**p))
    }

    fn to_json(&self) -> Value {
        let exact = self.exact.iter().map(|v| Value::from(&**v));
        let prefixes = self.prefixes.iter().map(|p| Value::from(format!("{p}*")));
        exact.chain(prefixes).collect()
    }
}

/// The ISO 3166-2 codes (`src/data/iso-3166-2.txt`, from Debian's iso-codes), packed.
static REGIONS: LazyLock<FxHashSet<u32>> = LazyLock::new(|| {
    include_str!("data/iso-3166-2.txt")
        .lines()
        .filter_map(Region::from_code)
        .map(Region::key)
        .collect()
});

/// A region condition's value: an assigned ISO 3166-2 code.
fn parse_region(word: Option<&str>) -> Result<Region, String> {
    let text = word.ok_or("must be a region code (a string)")?;
    match Region::from_code(text) {
        Some(r) if REGIONS.contains(&r.key()) => Ok(r),
        Some(_) => Err(format!(
            "{text:?} is not an ISO 3166-2 subdivision code (e.g. US-CA, GB-ENG)"
        )),
        None => Err(format!(
            "{text:?} is not a region code: country, '-', 1 to 3 upper-case letters or digits (e.g. US-CA)"
        )),
    }
}

/// An autonomous system number: `15169`, `"15169"` or `"AS15169"`.
fn parse_asn(item: &Value) -> Result<u32, String> {
    let n = match item {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s
            .strip_prefix("AS")
            .or(s.strip_prefix("as"))
            .unwrap_or(s)
            .parse()
            .ok(),
        _ => None,
    };
    n.and_then(|n| u32::try_from(n).ok())
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("{item} is not an autonomous system number (1 to 4294967295)"))
}

/// Sorts `values` and drops repeats.
fn sort_unique<T: Ord>(values: &mut Vec<T>) {
    values.sort_unstable();
    values.dedup();
}

impl Set {
    fn empty(d: Dimension) -> Set {
        match d {
            Dimension::Device => Set::Devices(Bits::NONE),
            Dimension::Os => Set::Os(Bits::NONE),
            Dimension::Browser => Set::Browsers(Bits::NONE),
            Dimension::Country => Set::Countries([0; Country::SPACE.div_ceil(64)]),
            Dimension::Region => Set::Regions(Vec::new()),
            Dimension::Asn => Set::Asns(Vec::new()),
            Dimension::Anonymous => Set::Anonymous,
            Dimension::IpRange => Set::IpRanges(Vec::new(), IpRanges::default()),
            Dimension::Param => Set::Params(0, SubValues::default()),
            Dimension::Schedule => Set::Schedule(Vec::new(), Vec::new()),
            Dimension::Language => Set::Languages([0; Country::SPACE.div_ceil(64)]),
            Dimension::Referrer => Set::Referrers(Vec::new()),
        }
    }

    /// Its place in the word mask and its bits, for a set of a word dimension.
    fn words(&self) -> Option<(u32, u16)> {
        let bits = match self {
            Set::Devices(b) => b.0,
            Set::Os(b) => b.0,
            Set::Browsers(b) => b.0,
            _ => return None,
        };
        self.dimension()
            .word_bits()
            .map(|(offset, _)| (offset, bits))
    }

    pub fn dimension(&self) -> Dimension {
        match self {
            Set::Devices(_) => Dimension::Device,
            Set::Os(_) => Dimension::Os,
            Set::Browsers(_) => Dimension::Browser,
            Set::Countries(_) => Dimension::Country,
            Set::Regions(_) => Dimension::Region,
            Set::Asns(_) => Dimension::Asn,
            Set::Anonymous => Dimension::Anonymous,
            Set::IpRanges(..) => Dimension::IpRange,
            Set::Params(..) => Dimension::Param,
            Set::Schedule(..) => Dimension::Schedule,
            Set::Languages(_) => Dimension::Language,
            Set::Referrers(_) => Dimension::Referrer,
        }
    }

    /// Adds one value as written.
    fn insert(&mut self, item: &Value) -> Result<(), String> {
        let word = item.as_str();
        match self {
            Set::Devices(bits) => bits.insert_named(word, "a device class", DeviceClass::ALL),
            Set::Os(bits) => bits.insert_named(word, "an operating-system family", OsFamily::ALL),
            Set::Browsers(bits) => bits.insert_named(word, "a browser family", Browser::ALL),
            Set::Countries(bits) => {
                let c = parse_country(word.ok_or("must be a country code (a string)")?)?;
                bits[c.index() / 64] |= 1 << (c.index() % 64);
                Ok(())
            }
            Set::Regions(keys) => {
                keys.push(parse_region(word)?.key());
                Ok(())
            }
            Set::Asns(asns) => {
                asns.push(parse_asn(item)?);
                Ok(())
            }
            Set::Anonymous => Ok(()),
            Set::IpRanges(nets, _) => {
                nets.push(parse_network(
                    word.ok_or("must be a network in CIDR notation (a string)")?,
                )?);
                Ok(())
            }
            Set::Params(_, values) => values.insert(item),
            Set::Schedule(written, minutes) => {
                minutes.extend(week_minutes(parse_window(item)?));
                written.push(item.clone());
                Ok(())
            }
            Set::Languages(bits) => {
                let l = word.and_then(Language::from_code).ok_or_else(|| {
                    format!(
                        "{} is not a language code: two lower-case letters (ISO 639-1), e.g. en",
                        word.map_or_else(|| "a non-string".into(), |w| format!("{w:?}"))
                    )
                })?;
                bits[l.index() / 64] |= 1 << (l.index() % 64);
                Ok(())
            }
            Set::Referrers(hosts) => {
                hosts.push(parse_host(word.ok_or("must be a host name (a string)")?)?);
                Ok(())
            }
        }
    }

    /// Compiles the values inserted: sorted without repeats, address ranges and schedule
    /// minutes merged. Once per list, after its last value (each insert doing it made a list
    /// of 10 000 networks take 0.47 s to validate).
    fn finish(&mut self) {
        match self {
            Set::Regions(v) | Set::Asns(v) => sort_unique(v),
            Set::Referrers(hosts) => sort_unique(hosts),
            Set::Params(_, values) => {
                sort_unique(&mut values.exact);
                sort_unique(&mut values.prefixes);
            }
            Set::IpRanges(nets, ranges) => *ranges = IpRanges::of(nets),
            Set::Schedule(_, minutes) => {
                *minutes = merged(std::mem::take(minutes), |m| m.saturating_add(1))
            }
            Set::Devices(_)
            | Set::Os(_)
            | Set::Browsers(_)
            | Set::Countries(_)
            | Set::Anonymous
            | Set::Languages(_) => {}
        }
    }

    /// Values in both sets, when the two are of one dimension.
    fn intersect(&self, other: &Set) -> Option<Set> {
        Some(match (self, other) {
            (Set::Devices(a), Set::Devices(b)) => Set::Devices(Bits(a.0 & b.0, Default::default())),
            (Set::Os(a), Set::Os(b)) => Set::Os(Bits(a.0 & b.0, Default::default())),
            (Set::Browsers(a), Set::Browsers(b)) => {
                Set::Browsers(Bits(a.0 & b.0, Default::default()))
            }
            (Set::Countries(a), Set::Countries(b)) => {
                Set::Countries(std::array::from_fn(|i| a[i] & b[i]))
            }
            (Set::Languages(a), Set::Languages(b)) => {
                Set::Languages(std::array::from_fn(|i| a[i] & b[i]))
            }
            (Set::Regions(a), Set::Regions(b)) => Set::Regions(sorted_both(a, b, false)),
            (Set::Asns(a), Set::Asns(b)) => Set::Asns(sorted_both(a, b, false)),
            (Set::Anonymous, Set::Anonymous) => Set::Anonymous,
            // Ranges, sub ids, schedules and host names: both rules are kept, and both must
            // hold.
            _ => return None,
        })
    }

    /// Values in either set, when the two are of one dimension.
    fn union(&self, other: &Set) -> Option<Set> {
        Some(match (self, other) {
            (Set::Devices(a), Set::Devices(b)) => Set::Devices(Bits(a.0 | b.0, Default::default())),
            (Set::Os(a), Set::Os(b)) => Set::Os(Bits(a.0 | b.0, Default::default())),
            (Set::Browsers(a), Set::Browsers(b)) => {
                Set::Browsers(Bits(a.0 | b.0, Default::default()))
            }
            (Set::Countries(a), Set::Countries(b)) => {
                Set::Countries(std::array::from_fn(|i| a[i] | b[i]))
            }
            (Set::Languages(a), Set::Languages(b)) => {
                Set::Languages(std::array::from_fn(|i| a[i] | b[i]))
            }
            (Set::Regions(a), Set::Regions(b)) => Set::Regions(sorted_both(a, b, true)),
            (Set::Asns(a), Set::Asns(b)) => Set::Asns(sorted_both(a, b, true)),
            (Set::Anonymous, Set::Anonymous) => Set::Anonymous,
            _ => return None,
        })
    }

    /// Whether every value of this set is in `other`, for sets whose values can be listed
    /// (false for ranges, sub ids, schedules and host names).
    pub fn within(&self, other: &Set) -> bool {
        self.intersect(other).is_some_and(|both| both == *self)
    }

    /// Whether the set holds no value: an include rule of it turns every click away.
    pub fn is_empty(&self) -> bool {
        match self {
            Set::Devices(b) => b.0 == 0,
            Set::Os(b) => b.0 == 0,
            Set::Browsers(b) => b.0 == 0,
            Set::Countries(bits) | Set::Languages(bits) => bits.iter().all(|w| *w == 0),
            Set::Regions(keys) | Set::Asns(keys) => keys.is_empty(),
            Set::Anonymous => false,
            Set::IpRanges(nets, _) => nets.is_empty(),
            Set::Params(_, v) => v.exact.is_empty() && v.prefixes.is_empty(),
            Set::Schedule(_, minutes) => minutes.is_empty(),
            Set::Referrers(hosts) => hosts.is_empty(),
        }
    }

    /// The values, as the catalog writes them (sorted), for explanations.
    pub fn to_json(&self) -> Value {
        match self {
            Set::Devices(b) => b.to_json(DeviceClass::ALL, DeviceClass::as_str),
            Set::Os(b) => b.to_json(OsFamily::ALL, OsFamily::as_str),
            Set::Browsers(b) => b.to_json(Browser::ALL, Browser::as_str),
            Set::Countries(bits) => Value::from(country_codes(bits)),
            Set::Regions(keys) => keys
                .iter()
                .map(|&k| Value::from(Region::from_key(k).to_string()))
                .collect(),
            Set::Asns(asns) => Value::from(asns.to_vec()),
            Set::Anonymous => Value::from(true),
            Set::IpRanges(nets, _) => nets.iter().map(|n| n.to_string()).collect(),
            Set::Params(index, values) => {
                serde_json::json!({ SUB_IDS[usize::from(*index)]: values.to_json() })
            }
            Set::Schedule(written, _) => Value::from(written.to_vec()),
            Set::Languages(bits) => Value::from(
                country_codes(bits)
                    .into_iter()
                    .map(|c| c.to_ascii_lowercase())
                    .collect::<Vec<_>>(),
            ),
            Set::Referrers(hosts) => hosts.iter().map(|h| Value::from(&**h)).collect(),
        }
    }

    /// Whether the click's value is in the set: `None` when the click has no value.
    #[inline(always)]
    fn holds<A: Attributes + ?Sized>(&self, attrs: &mut A) -> Option<bool> {
        match self {
            Set::Devices(b) => Some(b.contains(attrs.device() as u8)),
            Set::Os(b) => Some(b.contains(attrs.os() as u8)),
            Set::Browsers(b) => Some(b.contains(attrs.browser() as u8)),
            Set::Countries(bits) => attrs
                .country()
                .map(|c| bits[c.index() / 64] & (1 << (c.index() % 64)) != 0),
            Set::Regions(keys) => attrs.region().map(|r| sorted_holds(keys, r.key())),
            Set::Asns(asns) => attrs.asn().map(|a| sorted_holds(asns, a)),
            Set::Anonymous => attrs.anonymous(),
            Set::IpRanges(_, ranges) => attrs.ip().map(|ip| ranges.contains(ip)),
            Set::Params(index, values) => attrs.sub(usize::from(*index)).map(|v| values.holds(v)),
            Set::Schedule(_, minutes) => attrs
                .week_minute()
                .map(|m| minutes.iter().any(|&(from, to)| from <= m && m <= to)),
            Set::Languages(bits) => attrs
                .language()
                .map(|l| bits[l.index() / 64] & (1 << (l.index() % 64)) != 0),
            Set::Referrers(hosts) => attrs.referrer_host().map(|h| host_matches(hosts, h)),
        }
    }
}

/// The values of two sorted slices that are in both (`either: false`) or in either.
fn sorted_both(a: &[u32], b: &[u32], either: bool) -> Vec<u32> {
    let mut out: Vec<u32> = match either {
        true => a.iter().chain(b).copied().collect(),
        false => a
            .iter()
            .filter(|v| b.binary_search(v).is_ok())
            .copied()
            .collect(),
    };
    sort_unique(&mut out);
    out
}

/// Bisection of a sorted slice, not inlined into the decision (see [`IpRanges::contains`]).
#[inline(never)]
fn sorted_holds(sorted: &[u32], value: u32) -> bool {
    sorted.binary_search(&value).is_ok()
}

/// Minutes in a week.
const WEEK: u16 = 7 * 24 * 60;

/// One schedule window as written, checked: the days it starts on (bit 0 Monday), and its
/// start and end in minutes of the day (`end` may be below `start`: across midnight).
fn parse_window(item: &Value) -> Result<(u8, u16, u16), String> {
    const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let Value::Object(w) = item else {
        return Err(
            r#"must be a window: {"days": ["mon", ...], "from": "HH:MM", "to": "HH:MM"}"#.into(),
        );
    };
    if let Some(unknown) = w
        .keys()
        .find(|k| !["days", "from", "to"].contains(&k.as_str()))
    {
        return Err(format!(
            "{unknown:?} is not a field of a window (days, from, to)"
        ));
    }
    let days = match w.get("days") {
        None => 0x7f,
        Some(Value::Array(days)) => {
            let mut bits = 0u8;
            for d in days {
                let i = d
                    .as_str()
                    .and_then(|d| DAYS.iter().position(|n| *n == d))
                    .ok_or_else(|| format!("days: {d} is not one of {}", DAYS.join(", ")))?;
                bits |= 1 << i;
            }
            bits
        }
        Some(_) => return Err("days must be a list of mon, tue, wed, thu, fri, sat, sun".into()),
    };
    let time = |field: &str| -> Result<u16, String> {
        let text = w
            .get(field)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{field} is required: a time of day, HH:MM"))?;
        parse_time(text).ok_or_else(|| {
            format!("{field}: {text:?} is not a time of day, HH:MM from 00:00 to 24:00")
        })
    };
    Ok((days, time("from")?, time("to")?))
}

/// `HH:MM`, 00:00 to 24:00, in minutes.
fn parse_time(text: &str) -> Option<u16> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
}

/// The minutes of the week one window covers, as inclusive ranges: a window from 22:00 to
/// 02:00 on Sunday runs into Monday, the start of the week.
fn week_minutes((days, from, to): (u8, u16, u16)) -> Vec<(u16, u16)> {
    let length = match to.cmp(&from) {
        std::cmp::Ordering::Greater => to - from,
        std::cmp::Ordering::Less => 24 * 60 - from + to,
        std::cmp::Ordering::Equal => return Vec::new(),
    };
    let mut ranges = Vec::new();
    for day in (0..7u16).filter(|d| days & (1 << d) != 0) {
        let start = day * 24 * 60 + from;
        let end = start + length - 1;
        match end < WEEK {
            true => ranges.push((start, end)),
            false => ranges.extend([(start, WEEK - 1), (0, end - WEEK)]),
        }
    }
    ranges
}

/// Sorted, disjoint, inclusive address ranges: IPv4 and IPv6 apart (an IPv6 network never
/// holds an IPv4 client; an IPv4-mapped IPv6 client, `::ffff:a.b.c.d`, is the IPv4 one).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IpRanges {
    v4: Ranges<u32>,
    v6: Ranges<u128>,
}

/// Sorted disjoint ranges, their starts and ends apart: the bisection reads only starts
/// (40 KB for 10 000 IPv4 ranges, not 80) and one end.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Ranges<T> {
    starts: Box<[T]>,
    ends: Box<[T]>,
}

/// Inclusive `ranges`, sorted and merged where they overlap or touch (`next`: the value after
/// one, saturating).
fn merged<T: Ord + Copy>(mut ranges: Vec<(T, T)>, next: fn(T) -> T) -> Vec<(T, T)> {
    ranges.sort_unstable();
    let mut out: Vec<(T, T)> = Vec::with_capacity(ranges.len());
    for (lo, hi) in ranges {
        match out.last_mut() {
            Some(last) if lo <= next(last.1) => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

impl<T: Ord + Copy> Ranges<T> {
    /// From `ranges` ([`merged`]).
    fn of(ranges: Vec<(T, T)>, next: fn(T) -> T) -> Ranges<T> {
        let out = merged(ranges, next);
        Ranges {
            starts: out.iter().map(|r| r.0).collect(),
            ends: out.iter().map(|r| r.1).collect(),
        }
    }

    /// Whether `key` is in a range: a branch-free bisection for the last start at or below
    /// it (the loop's `if` compiles to a conditional move), then one end.
    #[inline]
    fn contains(&self, key: T) -> bool {
        let (mut base, mut len) = (0usize, self.starts.len());
        if len == 0 {
            return false;
        }
        while len > 1 {
            let half = len / 2;
            if self.starts[base + half] <= key {
                base += half;
            }
            len -= half;
        }
        self.starts[base] <= key && key <= self.ends[base]
    }
}

impl IpRanges {
    fn of(nets: &[IpNet]) -> IpRanges {
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for n in nets {
            match n {
                IpNet::V4(n) => v4.push((u32::from(n.network()), u32::from(n.broadcast()))),
                IpNet::V6(n) => v6.push((u128::from(n.network()), u128::from(n.broadcast()))),
            }
        }
        IpRanges {
            v4: Ranges::of(v4, |a| a.saturating_add(1)),
            v6: Ranges::of(v6, |a| a.saturating_add(1)),
        }
    }

    /// Bisection: 14 steps for 10 000 ranges. Not inlined into the decision: the rules
    /// of the common dimensions stay a tight loop (inlined, it made the 10-attachment
    /// decision 15 % slower).
    #[inline(never)]
    fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(v4) => self.v4.contains(u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => self.v4.contains(u32::from(v4)),
                None => self.v6.contains(u128::from(v6)),
            },
        }
    }
}

/// A network in CIDR notation (or a bare address: one host) whose host bits are zero.
fn parse_network(text: &str) -> Result<IpNet, String> {
    let net = match text.parse::<IpNet>() {
        Ok(net) => net,
        Err(_) => match text.parse::<IpAddr>() {
            Ok(ip) => IpNet::from(ip),
            Err(_) => {
                return Err(format!(
                    "{text:?} is not a network in CIDR notation (e.g. 10.0.0.0/8, 2001:db8::/32)"
                ));
            }
        },
    };
    if net.trunc() != net {
        return Err(format!(
            "{text:?} has host bits set: the network is {}",
            net.trunc()
        ));
    }
    Ok(net)
}

/// A host name as a referrer condition: letters, digits, `-` and dots, lower case, no
/// trailing dot, at most 253 bytes.
fn parse_host(text: &str) -> Result<Box<str>, String> {
    let host = text.trim_end_matches('.').to_ascii_lowercase();
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if host.is_empty() || host.len() > 253 || !host.split('.').all(label_ok) {
        return Err(format!(
            "{text:?} is not a host name (e.g. example.com; no scheme, path or port)"
        ));
    }
    Ok(host.into_boxed_str())
}

/// Whether `host` is one of `hosts` or a subdomain of one (`hosts` sorted): the host and
/// each of its parent domains are looked up.
#[inline(never)]
fn host_matches(hosts: &[Box<str>], host: &str) -> bool {
    let mut name = host;
    loop {
        if hosts.binary_search_by(|h| (**h).cmp(name)).is_ok() {
            return true;
        }
        match name.split_once('.') {
            Some((_, parent)) => name = parent,
            None => return false,
        }
    }
}

/// The codes of a country bit set, sorted.
pub fn country_codes(bits: &CountryBits) -> Vec<String> {
    (0..Country::SPACE)
        .filter(|i| bits[i / 64] & (1 << (i % 64)) != 0)
        .map(|i| {
            let letters = [b'A' + (i / 26) as u8, b'A' + (i % 26) as u8];
            String::from_utf8_lossy(&letters).into_owned()
        })
        .collect()
}

/// A set of values of a small enumeration (at most 16), one bit each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bits<T>(u16, std::marker::PhantomData<T>);

impl<T: Copy + serde::de::DeserializeOwned> Bits<T> {
    const NONE: Bits<T> = Bits(0, std::marker::PhantomData);

    #[inline]
    fn contains(self, index: u8) -> bool {
        self.0 & (1 << index) != 0
    }

    /// Adds the value named `word` (its serde name), one of `all`.
    fn insert_named<const N: usize>(
        &mut self,
        word: Option<&str>,
        what: &str,
        all: [T; N],
    ) -> Result<(), String>
    where
        T: PartialEq,
    {
        let value = word.and_then(|w| serde_json::from_value::<T>(Value::from(w)).ok());
        match value.and_then(|v| all.iter().position(|a| *a == v)) {
            Some(i) => {
                self.0 |= 1 << i;
                Ok(())
            }
            None => Err(format!(
                "{} is not {what}",
                word.map_or_else(|| "a non-string".to_string(), |w| format!("{w:?}"))
            )),
        }
    }

    fn to_json<const N: usize>(self, all: [T; N], name: fn(T) -> &'static str) -> Value {
        let names: Vec<&str> = (0..N)
            .filter(|&i| self.contains(i as u8))
            .map(|i| name(all[i]))
            .collect();
        Value::from(names)
    }
}

/// A compiled condition: a set, and whether the click's value must be in it or out of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub set: Set,
    pub exclude: bool,
}

impl Rule {
    /// Tests the click: `Err` says why it is turned away. A value the click does not have
    /// matches no include list and no exclude list.
    #[inline(always)]
    fn check<A: Attributes + ?Sized>(&self, attrs: &mut A) -> Result<(), (Dimension, Failed)> {
        let failed = match (self.set.holds(attrs), self.exclude) {
            (Some(true), false) | (Some(false) | None, true) => return Ok(()),
            (Some(false), false) => Failed::Mismatch,
            (None, false) => Failed::Unknown,
            (Some(true), true) => Failed::Excluded,
        };
        Err((self.set.dimension(), failed))
    }
}

/// The rules of one attachment (its own and its offer's, merged) or one offer, compiled for
/// the click path.
///
/// The dimensions whose values are a short closed list of words (device class, OS family)
/// are folded into one 64-bit mask of the values a click may have, each dimension its own
/// bits: testing all of them is one AND, whatever the number of rules, and reads no memory
/// outside the attachment. The other rules (countries, ...) are tested one by one, in
/// dimension order, after the mask. The rules as written and merged are kept beside, for
/// explanations and for the reason a click was turned away, which only a failing click reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rules {
    /// One bit per value of each word dimension ([`Dimension::word_bits`]); a bit is set when
    /// a click with that value passes. `u64::MAX`: no word dimension is restricted.
    allowed: u64,
    /// The bits of the word dimensions some rule restricts: only their attributes are asked
    /// for (a device rule does not make the click's OS be worked out).
    restricted: u64,
    /// The rules of the other dimensions, in order.
    sets: Box<[Rule]>,
    /// Every rule, sorted by dimension, includes first.
    all: Box<[Rule]>,
}

impl Default for Rules {
    fn default() -> Rules {
        Rules::new(Vec::new())
    }
}

impl Rules {
    /// The rules of `rules`, sorted by dimension, includes first.
    pub fn new(mut rules: Vec<Rule>) -> Rules {
        rules.sort_by_key(|r| (r.set.dimension(), r.exclude));
        let (mut allowed, mut restricted) = (u64::MAX, 0);
        for r in &rules {
            if let Some((offset, bits)) = r.set.words() {
                let values = u64::from(bits) << offset;
                let dimension = word_mask(r.set.dimension());
                allowed &= if r.exclude {
                    !values
                } else {
                    !dimension | values
                };
                restricted |= dimension;
            }
        }
        Rules {
            allowed,
            restricted,
            sets: rules
                .iter()
                .filter(|r| r.set.words().is_none())
                .cloned()
                .collect(),
            all: rules.into_boxed_slice(),
        }
    }

    /// An attachment's rules with its offer's: both must hold. Include sets of one
    /// dimension are intersected and exclude sets united, once, here.
    pub fn merge(&self, offer: &Rules) -> Rules {
        let mut merged: Vec<Rule> = self.all.to_vec();
        for rule in offer.all.iter() {
            let same = merged
                .iter_mut()
                .find(|r| r.exclude == rule.exclude && r.set.dimension() == rule.set.dimension());
            let combined = same.as_ref().and_then(|r| match rule.exclude {
                false => r.set.intersect(&rule.set),
                true => r.set.union(&rule.set),
            });
            match (same, combined) {
                (Some(r), Some(set)) => r.set = set,
                _ => merged.push(rule.clone()),
            }
        }
        Rules::new(merged)
    }

    /// Tests the click against every rule, word dimensions first; the first that fails says
    /// why. An attribute is asked for only when a rule needs it.
    #[inline]
    pub fn check<A: Attributes + ?Sized>(&self, attrs: &mut A) -> Result<(), (Dimension, Failed)> {
        self.passes(attrs).map_err(|turned| match turned {
            Turned::By(dimension, failed) => (dimension, failed),
            Turned::ByWords => self.why_not(attrs),
        })
    }

    /// As [`Rules::check`], but a click the word mask turns away is told only that: which
    /// rule did is worked out by [`Rules::why_not`], for those who ask (explanations). The
    /// decision of a real click does not.
    #[inline(always)]
    pub fn passes<A: Attributes + ?Sized>(&self, attrs: &mut A) -> Result<(), Turned> {
        if self.restricted != 0 && word_bits(attrs, self.restricted) & !self.allowed != 0 {
            return Err(Turned::ByWords);
        }
        self.sets
            .iter()
            .try_for_each(|r| r.check(attrs).map_err(|(d, f)| Turned::By(d, f)))
    }

    /// Which word rule turned the click away (the mask says only that one did).
    #[cold]
    pub fn why_not<A: Attributes + ?Sized>(&self, attrs: &mut A) -> (Dimension, Failed) {
        self.all
            .iter()
            .filter(|r| r.set.words().is_some())
            .find_map(|r| r.check(attrs).err())
            .unwrap_or((Dimension::Device, Failed::Mismatch))
    }

    /// Every rule, in order (explanations, warnings).
    pub fn iter(&self) -> impl Iterator<Item = &Rule> {
        self.all.iter()
    }

    /// The include rule of `d`, if any.
    pub fn include(&self, d: Dimension) -> Option<&Set> {
        self.all
            .iter()
            .find(|r| !r.exclude && r.set.dimension() == d)
            .map(|r| &r.set)
    }
}

/// Why [`Rules::passes`] turned a click away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Turned {
    By(Dimension, Failed),
    /// A rule of a word dimension: [`Rules::why_not`] says which.
    ByWords,
}

/// The dimensions whose values are words of the mask ([`Dimension::word_bits`]).
const WORD_DIMENSIONS: [Dimension; 3] = [Dimension::Device, Dimension::Os, Dimension::Browser];

/// The bits of a word dimension's values in the mask (none for other dimensions).
const fn word_mask(d: Dimension) -> u64 {
    match d.word_bits() {
        Some((offset, n)) => ((1u64 << n) - 1) << offset,
        None => 0,
    }
}

/// The click's values of the word dimensions in `restricted`, one bit each in the layout of
/// [`Dimension::word_bits`]; the others are not asked for.
#[inline(always)]
fn word_bits<A: Attributes + ?Sized>(attrs: &mut A, restricted: u64) -> u64 {
    let mut bits = 0;
    for d in WORD_DIMENSIONS {
        if let Some((offset, _)) = d.word_bits()
            && restricted & word_mask(d) != 0
        {
            let value = match d {
                Dimension::Device => attrs.device() as u8,
                Dimension::Os => attrs.os() as u8,
                Dimension::Browser => attrs.browser() as u8,
                _ => continue,
            };
            bits |= 1u64 << (offset + u32::from(value));
        }
    }
    bits
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Click(Option<Country>, DeviceClass, OsFamily, usize);

    impl Attributes for Click {
        fn country(&mut self) -> Option<Country> {
            self.3 += 1;
            self.0
        }
        fn device(&mut self) -> DeviceClass {
            self.1
        }
        fn os(&mut self) -> OsFamily {
            self.2
        }
    }

    fn rule(d: Dimension, exclude: bool, values: Value) -> Rule {
        Rule {
            set: d.parse(&values).unwrap().remove(0),
            exclude,
        }
    }

    fn us_iphone() -> Click {
        Click(
            Country::from_code("US"),
            DeviceClass::Mobile,
            OsFamily::Ios,
            0,
        )
    }

    #[test]
    fn the_word_dimensions_are_those_with_word_bits() {
        let with_bits: Vec<Dimension> = Dimension::ALL
            .into_iter()
            .filter(|d| d.word_bits().is_some())
            .collect();
        assert_eq!(with_bits, WORD_DIMENSIONS);
    }

    #[test]
    fn every_field_name_maps_back_to_its_dimension() {
        for d in Dimension::ALL {
            for side in [Side::Attachment, Side::Offer] {
                for exclude in [false, true] {
                    assert_eq!(
                        Dimension::of_field(side, d.field(side, exclude)),
                        Some((d, exclude))
                    );
                }
            }
        }
        assert_eq!(
            Dimension::of_field(Side::Attachment, "allowed_countries"),
            None
        );
        assert_eq!(Dimension::of_field(Side::Offer, "countries"), None);
    }

    #[test]
    fn includes_excludes_and_unknown_values() {
        let rules = Rules::new(vec![
            rule(Dimension::Country, false, json!(["US", "CA"])),
            rule(Dimension::Os, true, json!(["android"])),
        ]);
        assert_eq!(rules.check(&mut us_iphone()), Ok(()));
        let mut android = Click(
            Country::from_code("US"),
            DeviceClass::Mobile,
            OsFamily::Android,
            0,
        );
        assert_eq!(
            rules.check(&mut android),
            Err((Dimension::Os, Failed::Excluded))
        );
        assert_eq!(android.3, 0, "the OS fails first: no country lookup");
        let mut nowhere = Click(None, DeviceClass::Desktop, OsFamily::Windows, 0);
        assert_eq!(
            rules.check(&mut nowhere),
            Err((Dimension::Country, Failed::Unknown))
        );
        let excluded = Rules::new(vec![rule(Dimension::Country, true, json!(["US"]))]);
        assert_eq!(
            excluded.check(&mut nowhere),
            Ok(()),
            "unknown is never excluded"
        );
        assert_eq!(
            excluded.check(&mut us_iphone()),
            Err((Dimension::Country, Failed::Excluded))
        );
    }

    #[test]
    fn a_click_is_asked_only_for_the_attributes_its_rules_restrict() {
        /// Counts the asks of each attribute: device, OS, country.
        #[derive(Default)]
        struct Asked([usize; 3]);
        impl Attributes for Asked {
            fn country(&mut self) -> Option<Country> {
                self.0[2] += 1;
                Country::from_code("US")
            }
            fn device(&mut self) -> DeviceClass {
                self.0[0] += 1;
                DeviceClass::Mobile
            }
            fn os(&mut self) -> OsFamily {
                self.0[1] += 1;
                OsFamily::Ios
            }
        }
        let cases = [
            (Vec::new(), [0, 0, 0]),
            (
                vec![rule(Dimension::Device, false, json!(["mobile"]))],
                [1, 0, 0],
            ),
            (
                vec![rule(Dimension::Os, true, json!(["android"]))],
                [0, 1, 0],
            ),
            (
                vec![rule(Dimension::Country, false, json!(["US"]))],
                [0, 0, 1],
            ),
        ];
        for (rules, asked) in cases {
            let mut click = Asked::default();
            assert_eq!(Rules::new(rules.clone()).check(&mut click), Ok(()));
            assert_eq!(click.0, asked, "{rules:?}");
        }
    }

    #[test]
    fn merging_intersects_includes_and_unites_excludes() {
        let attachment = Rules::new(vec![
            rule(Dimension::Country, false, json!(["US", "CA"])),
            rule(Dimension::Device, true, json!(["tablet"])),
        ]);
        let offer = Rules::new(vec![
            rule(Dimension::Country, false, json!(["CA", "GB"])),
            rule(Dimension::Device, true, json!(["bot"])),
            rule(Dimension::Os, false, json!(["ios"])),
        ]);
        let merged = attachment.merge(&offer);
        assert_eq!(
            merged.include(Dimension::Country).map(Set::to_json),
            Some(json!(["CA"]))
        );
        let excluded: Vec<Value> = merged
            .iter()
            .filter(|r| r.exclude)
            .map(|r| r.set.to_json())
            .collect();
        assert_eq!(excluded, [json!(["tablet", "bot"])]);
        assert_eq!(merged.iter().count(), 3);
        assert_eq!(
            merged.check(&mut us_iphone()),
            Err((Dimension::Country, Failed::Mismatch))
        );
    }

    proptest::proptest! {
        /// The compiled check (a word mask, then the other rules) says exactly what testing
        /// every rule in order says: pass, or the first rule that fails and why.
        #[test]
        fn the_compiled_check_is_the_rules_in_order(
            rules in proptest::collection::vec(
                (0usize..3, proptest::bool::ANY, proptest::collection::vec(0usize..8, 1..4)),
                0..5,
            ),
            device in 0usize..5,
            os in 0usize..7,
            country in proptest::option::of(0usize..4),
        ) {
            let countries = ["US", "GB", "DE", "FR"];
            let rules: Vec<Rule> = rules
                .into_iter()
                .map(|(d, exclude, values)| {
                    let d = [Dimension::Device, Dimension::Os, Dimension::Country][d];
                    let words: Vec<Value> = values
                        .iter()
                        .map(|&v| match d {
                            Dimension::Device => DeviceClass::ALL[v % 5].as_str().into(),
                            Dimension::Os => OsFamily::ALL[v % 7].as_str().into(),
                            _ => countries[v % 4].into(),
                        })
                        .collect();
                    rule(d, exclude, Value::from(words))
                })
                .collect();
            let compiled = Rules::new(rules.clone());
            let mut click = Click(
                country.and_then(|c| Country::from_code(countries[c])),
                DeviceClass::ALL[device],
                OsFamily::ALL[os],
                0,
            );
            let mut sorted = rules;
            sorted.sort_by_key(|r| (r.set.dimension(), r.exclude));
            let expected = sorted.iter().try_for_each(|r| r.check(&mut click));
            proptest::prop_assert_eq!(compiled.check(&mut click), expected);
        }
    }

    /// A desktop Windows click of no country with only the attributes set here.
    #[derive(Default)]
    struct Web {
        ip: Option<IpAddr>,
        referrer: Option<&'static str>,
        week_minute: Option<u16>,
        subs: [Option<&'static str>; 5],
    }

    impl Attributes for Web {
        fn country(&mut self) -> Option<Country> {
            None
        }
        fn device(&mut self) -> DeviceClass {
            DeviceClass::Desktop
        }
        fn os(&mut self) -> OsFamily {
            OsFamily::Windows
        }
        fn ip(&mut self) -> Option<IpAddr> {
            self.ip
        }
        fn referrer_host(&mut self) -> Option<&str> {
            self.referrer
        }
        fn week_minute(&mut self) -> Option<u16> {
            self.week_minute
        }
        fn sub(&mut self, index: usize) -> Option<&str> {
            self.subs[index]
        }
    }

    fn from(ip: IpAddr, referrer: Option<&'static str>) -> Web {
        Web {
            ip: Some(ip),
            referrer,
            ..Web::default()
        }
    }

    proptest::proptest! {
        /// The compiled ranges (merged, bisected) hold an address exactly when one of the
        /// networks as written contains it, IPv4 and IPv6, overlapping or not.
        #[test]
        fn ip_ranges_hold_what_the_networks_contain(
            nets in proptest::collection::vec((proptest::bool::ANY, proptest::num::u128::ANY, 0u8..=128), 1..40),
            probes in proptest::collection::vec((proptest::bool::ANY, proptest::num::u128::ANY), 1..40),
        ) {
            let nets: Vec<IpNet> = nets
                .into_iter()
                .map(|(v4, bits, len)| {
                    if v4 {
                        IpNet::from(ipnet::Ipv4Net::new((bits as u32).into(), len % 33).unwrap()).trunc()
                    } else {
                        IpNet::from(ipnet::Ipv6Net::new(bits.into(), len).unwrap()).trunc()
                    }
                })
                .collect();
            let written: Vec<Value> = nets.iter().map(|n| n.to_string().into()).collect();
            let set = Dimension::IpRange.parse(&Value::from(written)).unwrap().remove(0);
            // Probe addresses at and around every network's ends, and random ones.
            let mut addresses: Vec<IpAddr> = probes
                .into_iter()
                .map(|(v4, bits)| if v4 { IpAddr::from(std::net::Ipv4Addr::from(bits as u32)) } else { IpAddr::from(std::net::Ipv6Addr::from(bits)) })
                .collect();
            for n in &nets {
                addresses.extend([n.network(), n.broadcast()]);
            }
            for ip in addresses {
                let as_written = match ip {
                    IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
                    v4 => v4,
                };
                let naive = nets.iter().any(|n| n.contains(&as_written));
                proptest::prop_assert_eq!(set.holds(&mut from(ip, None)), Some(naive), "{}", ip);
            }
        }
    }

    #[test]
    fn referrer_domains_hold_their_subdomains() {
        let set = Dimension::Referrer
            .parse(&json!(["Example.com.", "ads.net"]))
            .unwrap()
            .remove(0);
        assert_eq!(set.to_json(), json!(["ads.net", "example.com"]));
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for (host, held) in [
            ("example.com", true),
            ("www.example.com", true),
            ("a.b.example.com", true),
            ("notexample.com", false),
            ("example.com.evil.net", false),
            ("net", false),
        ] {
            assert_eq!(set.holds(&mut from(ip, Some(host))), Some(held), "{host}");
        }
        assert_eq!(set.holds(&mut from(ip, None)), None);
        for bad in [
            "https://example.com",
            "example.com/x",
            "exa mple.com",
            "-a.com",
            "",
        ] {
            assert!(Dimension::Referrer.parse(&json!([bad])).is_err(), "{bad}");
        }
    }

    #[test]
    fn ip_ranges_refuse_malformed_networks_and_host_bits() {
        let e = Dimension::IpRange
            .parse(&json!([
                "10.0.0.0/33",
                "10.0.0.1/8",
                "300.1.1.1",
                "2001:db8::/32",
                "10.1.2.3"
            ]))
            .unwrap_err();
        assert_eq!(
            e.iter().map(|(at, _)| at.as_str()).collect::<Vec<_>>(),
            ["[0]", "[1]", "[2]"]
        );
        assert!(e[1].1.contains("the network is 10.0.0.0/8"), "{e:?}");
    }

    #[test]
    fn bad_values_are_reported_with_their_index() {
        assert_eq!(Dimension::Os.parse(&json!([])), Ok(Vec::new()));
        let e = Dimension::Os.parse(&json!(["ios", "beos", 3])).unwrap_err();
        assert_eq!(
            e.iter().map(|(at, _)| at.as_str()).collect::<Vec<_>>(),
            ["[1]", "[2]"]
        );
        assert!(e[0].1.contains("\"beos\""), "{e:?}");
        let e = Dimension::Country.parse(&json!(["UK"])).unwrap_err();
        assert!(e[0].1.contains("GB"), "{e:?}");
        let e = Dimension::Device.parse(&json!("mobile")).unwrap_err();
        assert_eq!(e[0].0, "");
    }

    fn minute(day: u16, hh: u16, mm: u16) -> u16 {
        day * 1440 + hh * 60 + mm
    }

    #[test]
    fn schedule_windows_cross_midnight_and_the_end_of_the_week() {
        let set = Dimension::Schedule
            .parse(&json!([
                {"days": ["fri"], "from": "22:00", "to": "02:00"},
                {"days": ["sun"], "from": "23:30", "to": "00:15"},
                {"from": "12:00", "to": "12:30"},
                {"days": ["wed"], "from": "18:00", "to": "24:00"}
            ]))
            .unwrap()
            .remove(0);
        let held = |m| {
            let mut at = Web {
                week_minute: Some(m),
                ..Web::default()
            };
            set.holds(&mut at) == Some(true)
        };
        for (m, expected) in [
            (minute(4, 22, 0), true),
            (minute(5, 1, 59), true),
            (minute(5, 2, 0), false),
            (minute(4, 21, 59), false),
            (minute(6, 23, 45), true),
            (minute(0, 0, 14), true),
            (minute(0, 0, 15), false),
            (minute(1, 12, 29), true),
            (minute(1, 12, 30), false),
            (minute(6, 12, 0), true),
            (minute(2, 23, 59), true),
            (minute(3, 0, 0), false),
        ] {
            assert_eq!(held(m), expected, "minute {m}");
        }
        let empty = Dimension::Schedule
            .parse(&json!([{"from": "10:00", "to": "10:00"}, {"days": [], "from": "01:00", "to": "02:00"}]))
            .unwrap()
            .remove(0);
        assert!(empty.is_empty());
        for bad in [
            json!([{"from": "25:00", "to": "10:00"}]),
            json!([{"from": "9:00", "to": "10:00"}]),
            json!([{"from": "09:00", "to": "24:01"}]),
            json!([{"from": "09:00"}]),
            json!([{"days": ["monday"], "from": "09:00", "to": "10:00"}]),
            json!([{"from": "09:00", "to": "10:00", "tz": "UTC"}]),
            json!(["09:00-10:00"]),
        ] {
            assert!(Dimension::Schedule.parse(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn params_are_one_rule_per_sub_id_exact_or_prefix() {
        let sets = Dimension::Param
            .parse(&json!({"s1": ["fb", "google*"], "s3": ["x"]}))
            .unwrap();
        assert_eq!(sets.len(), 2);
        let include = Rules::new(
            sets.iter()
                .cloned()
                .map(|set| Rule {
                    set,
                    exclude: false,
                })
                .collect(),
        );
        let exclude = Rules::new(
            sets.into_iter()
                .map(|set| Rule { set, exclude: true })
                .collect(),
        );
        let click = |s1, s3| Web {
            subs: [s1, None, s3, None, None],
            ..Web::default()
        };
        assert_eq!(include.check(&mut click(Some("fb"), Some("x"))), Ok(()));
        assert_eq!(
            include.check(&mut click(Some("googleads"), Some("x"))),
            Ok(())
        );
        assert_eq!(
            include.check(&mut click(Some("fb"), None)),
            Err((Dimension::Param, Failed::Unknown))
        );
        assert_eq!(
            include.check(&mut click(Some("f"), Some("x"))),
            Err((Dimension::Param, Failed::Mismatch))
        );
        // Excluded when any listed sub id holds a listed value.
        assert_eq!(
            exclude.check(&mut click(None, Some("x"))),
            Err((Dimension::Param, Failed::Excluded))
        );
        assert_eq!(exclude.check(&mut click(Some("other"), None)), Ok(()));
        let e = Dimension::Param
            .parse(&json!({"s0": ["a"], "s2": "a", "s4": [""]}))
            .unwrap_err();
        let places: Vec<&str> = e.iter().map(|(at, _)| at.as_str()).collect();
        assert_eq!(places, [".s0", ".s2", ".s4[0]"]);
    }

    #[test]
    fn regions_must_be_assigned_iso_3166_2_codes() {
        let set = Dimension::Region
            .parse(&json!(["US-CA", "GB-ENG", "CN-JL", "SE-E"]))
            .unwrap()
            .remove(0);
        assert_eq!(set.to_json(), json!(["CN-JL", "GB-ENG", "SE-E", "US-CA"]));
        let e = Dimension::Region
            .parse(&json!(["US-XX", "us-ca", "USA-CA", "US-CAXX", 5]))
            .unwrap_err();
        assert_eq!(e.len(), 5, "{e:?}");
        assert!(e[0].1.contains("not an ISO 3166-2 subdivision"), "{e:?}");
    }
}
