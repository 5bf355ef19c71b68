//! The compiled sets a click is tested against, one kind a dimension: bits for the small
//! vocabularies and two-letter codes, sorted vectors searched by bisection, merged ranges of
//! addresses and minutes, sub-id values and prefixes. Built once at compile time; testing a
//! click against one is a load, a bit test or a short search.

use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::Value;

use super::values::*;
use super::*;
use crate::vocab::{Browser, Country, DeviceClass, Language, OsFamily, Region, parse_country};

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
    pub(super) fn insert(&mut self, item: &Value) -> Result<(), String> {
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
    pub(super) fn holds(&self, value: &str) -> bool {
        self.exact.binary_search_by(|v| (**v).cmp(value)).is_ok()
            || self.prefixes.iter().any(|p| value.starts_with(&**p))
    }

    pub(super) fn to_json(&self) -> Value {
        let exact = self.exact.iter().map(|v| Value::from(&**v));
        let prefixes = self.prefixes.iter().map(|p| Value::from(format!("{p}*")));
        exact.chain(prefixes).collect()
    }
}

/// Sorts `values` and drops repeats.
pub(super) fn sort_unique<T: Ord>(values: &mut Vec<T>) {
    values.sort_unstable();
    values.dedup();
}

impl Set {
    pub(super) fn empty(d: Dimension) -> Set {
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
    pub(super) fn words(&self) -> Option<(u32, u16)> {
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
    pub(super) fn insert(&mut self, item: &Value) -> Result<(), String> {
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
    pub(super) fn finish(&mut self) {
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
    pub(super) fn intersect(&self, other: &Set) -> Option<Set> {
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
    pub(super) fn union(&self, other: &Set) -> Option<Set> {
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
    pub(super) fn holds<A: Attributes + ?Sized>(&self, attrs: &mut A) -> Option<bool> {
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
pub(super) fn sorted_both(a: &[u32], b: &[u32], either: bool) -> Vec<u32> {
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
pub(super) fn sorted_holds(sorted: &[u32], value: u32) -> bool {
    sorted.binary_search(&value).is_ok()
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
pub(super) struct Ranges<T> {
    starts: Box<[T]>,
    ends: Box<[T]>,
}

/// Inclusive `ranges`, sorted and merged where they overlap or touch (`next`: the value after
/// one, saturating).
pub(super) fn merged<T: Ord + Copy>(mut ranges: Vec<(T, T)>, next: fn(T) -> T) -> Vec<(T, T)> {
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
    pub(super) fn of(ranges: Vec<(T, T)>, next: fn(T) -> T) -> Ranges<T> {
        let out = merged(ranges, next);
        Ranges {
            starts: out.iter().map(|r| r.0).collect(),
            ends: out.iter().map(|r| r.1).collect(),
        }
    }

    /// Whether `key` is in a range: a branch-free bisection for the last start at or below
    /// it (the loop's `if` compiles to a conditional move), then one end.
    #[inline]
    pub(super) fn contains(&self, key: T) -> bool {
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
    pub(super) fn of(nets: &[IpNet]) -> IpRanges {
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
    pub(super) fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(v4) => self.v4.contains(u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => self.v4.contains(u32::from(v4)),
                None => self.v6.contains(u128::from(v6)),
            },
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
    pub(super) fn contains(self, index: u8) -> bool {
        self.0 & (1 << index) != 0
    }

    /// Adds the value named `word` (its serde name), one of `all`.
    pub(super) fn insert_named<const N: usize>(
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

    pub(super) fn to_json<const N: usize>(self, all: [T; N], name: fn(T) -> &'static str) -> Value {
        let names: Vec<&str> = (0..N)
            .filter(|&i| self.contains(i as u8))
            .map(|i| name(all[i]))
            .collect();
        Value::from(names)
    }
}
