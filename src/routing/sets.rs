//! Compact condition sets: which countries and device classes an attachment accepts.
//!
//! An attachment's own list and its offer's allowed list are intersected once, at compile
//! time, so a click tests one bit per condition.

use crate::vocab::{Country, DeviceClass};

const WORDS: usize = Country::SPACE.div_ceil(64);

/// A set of countries: either any country (the list was empty) or exactly these.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CountrySet {
    Any,
    /// A bit per possible code; boxed to keep attachments small when most say "any".
    Only(Box<[u64; WORDS]>),
}

impl CountrySet {
    /// The set of `codes`; an empty list means any country.
    pub fn from_codes(codes: impl IntoIterator<Item = Country>) -> CountrySet {
        let mut bits = [0u64; WORDS];
        let mut any = true;
        for c in codes {
            bits[c.index() / 64] |= 1 << (c.index() % 64);
            any = false;
        }
        if any {
            CountrySet::Any
        } else {
            CountrySet::Only(Box::new(bits))
        }
    }

    /// Countries in both sets (either side "any" leaves the other as is).
    pub fn intersect(&self, other: &CountrySet) -> CountrySet {
        match (self, other) {
            (CountrySet::Any, x) | (x, CountrySet::Any) => x.clone(),
            (CountrySet::Only(a), CountrySet::Only(b)) => {
                CountrySet::Only(Box::new(std::array::from_fn(|i| a[i] & b[i])))
            }
        }
    }

    pub fn is_any(&self) -> bool {
        matches!(self, CountrySet::Any)
    }

    pub fn contains(&self, c: Country) -> bool {
        match self {
            CountrySet::Any => true,
            CountrySet::Only(bits) => bits[c.index() / 64] & (1 << (c.index() % 64)) != 0,
        }
    }

    /// The codes in the set, sorted (empty for "any"); for explanations.
    pub fn codes(&self) -> Vec<String> {
        let CountrySet::Only(bits) = self else {
            return Vec::new();
        };
        (0..Country::SPACE)
            .filter(|i| bits[i / 64] & (1 << (i % 64)) != 0)
            .map(|i| {
                let letters = [b'A' + (i / 26) as u8, b'A' + (i % 26) as u8];
                String::from_utf8_lossy(&letters).into_owned()
            })
            .collect()
    }
}

/// A set of device classes as a bit mask.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceSet(u8);

impl DeviceSet {
    pub const ANY: DeviceSet = DeviceSet((1 << DeviceClass::ALL.len()) - 1);

    /// The set of `classes`; an empty list means any device.
    pub fn from_classes(classes: &[DeviceClass]) -> DeviceSet {
        if classes.is_empty() {
            return DeviceSet::ANY;
        }
        DeviceSet(classes.iter().fold(0, |m, &d| m | 1 << d as u8))
    }

    pub fn intersect(self, other: DeviceSet) -> DeviceSet {
        DeviceSet(self.0 & other.0)
    }

    pub fn is_any(self) -> bool {
        self == DeviceSet::ANY
    }

    pub fn contains(self, d: DeviceClass) -> bool {
        self.0 & (1 << d as u8) != 0
    }

    /// The classes in the set (all five for "any"); for explanations.
    pub fn classes(self) -> Vec<DeviceClass> {
        DeviceClass::ALL
            .into_iter()
            .filter(|&d| self.contains(d))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(code: &str) -> Country {
        Country::from_code(code).unwrap()
    }

    #[test]
    fn empty_list_is_any_and_any_is_neutral_in_intersection() {
        let us_ca = CountrySet::from_codes([c("US"), c("CA")]);
        assert!(CountrySet::from_codes([]).is_any());
        assert_eq!(CountrySet::Any.intersect(&us_ca), us_ca);
        assert_eq!(us_ca.intersect(&CountrySet::Any), us_ca);
        assert!(us_ca.contains(c("CA")) && !us_ca.contains(c("GB")));
        assert_eq!(us_ca.codes(), ["CA", "US"]);
    }

    #[test]
    fn disjoint_country_lists_intersect_to_nothing() {
        let us = CountrySet::from_codes([c("US")]);
        let de = CountrySet::from_codes([c("DE"), c("ZZ"), c("AA")]);
        let none = us.intersect(&de);
        assert!(!none.is_any());
        assert!(none.codes().is_empty());
        assert!(de.contains(c("ZZ")) && de.contains(c("AA")));
    }

    #[test]
    fn device_sets() {
        use DeviceClass::*;
        let phones = DeviceSet::from_classes(&[Mobile, Tablet]);
        assert!(DeviceSet::from_classes(&[]).is_any());
        assert!(phones.contains(Tablet) && !phones.contains(Desktop));
        assert_eq!(phones.intersect(DeviceSet::ANY), phones);
        assert_eq!(
            phones
                .intersect(DeviceSet::from_classes(&[Desktop]))
                .classes(),
            []
        );
    }
}
