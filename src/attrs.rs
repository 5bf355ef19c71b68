//! The vocabulary of client attributes: [`Country`], [`DeviceClass`], [`OsFamily`].
//!
//! The catalog names them, the routing table matches on them and the `client` module produces
//! them. They are plain `Copy` values so that matching a click against a rule is a compare or a
//! bit test, never a string comparison.

use std::fmt;

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

/// Device class of a click (SPEC §7).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum DeviceClass {
    Desktop = 0,
    Mobile = 1,
    Tablet = 2,
    Bot = 3,
    Other = 4,
}

impl DeviceClass {
    pub const ALL: [DeviceClass; 5] = [
        DeviceClass::Desktop,
        DeviceClass::Mobile,
        DeviceClass::Tablet,
        DeviceClass::Bot,
        DeviceClass::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeviceClass::Desktop => "desktop",
            DeviceClass::Mobile => "mobile",
            DeviceClass::Tablet => "tablet",
            DeviceClass::Bot => "bot",
            DeviceClass::Other => "other",
        }
    }

    /// Inverse of `self as u8`.
    pub fn from_u8(v: u8) -> Option<DeviceClass> {
        DeviceClass::ALL.get(usize::from(v)).copied()
    }
}

/// Operating-system family of a click (SPEC §7).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum OsFamily {
    Android = 0,
    Ios = 1,
    Windows = 2,
    Macos = 3,
    Linux = 4,
    Chromeos = 5,
    Other = 6,
}

impl OsFamily {
    pub const ALL: [OsFamily; 7] = [
        OsFamily::Android,
        OsFamily::Ios,
        OsFamily::Windows,
        OsFamily::Macos,
        OsFamily::Linux,
        OsFamily::Chromeos,
        OsFamily::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OsFamily::Android => "android",
            OsFamily::Ios => "ios",
            OsFamily::Windows => "windows",
            OsFamily::Macos => "macos",
            OsFamily::Linux => "linux",
            OsFamily::Chromeos => "chromeos",
            OsFamily::Other => "other",
        }
    }

    /// Inverse of `self as u8`.
    pub fn from_u8(v: u8) -> Option<OsFamily> {
        OsFamily::ALL.get(usize::from(v)).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
