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
//!
//! This file declares the dimensions and the [`Attributes`] they read; `values` parses
//! values as written, `set` holds the compiled sets ([`Set`]), `rules` the rules and their
//! merge and check.

use std::net::IpAddr;

use serde_json::Value;

use crate::vocab::{Browser, Country, DeviceClass, Language, OsFamily, Region};

mod rules;
mod set;
mod values;

pub use rules::{Rule, Rules, Turned};
pub use set::{Bits, CountryBits, IpRanges, Set, SubValues, country_codes};

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

#[cfg(test)]
mod tests {
    use super::rules::*;
    use super::set::*;
    use super::*;
    use ipnet::IpNet;
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
