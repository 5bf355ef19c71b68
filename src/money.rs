//! Money: payouts, conversion revenue and their sums, in exact decimal (docs/routing.md#revenue).
//!
//! A value is a whole number of millionths (`12.50` is 12 500 000), so adding revenue never
//! rounds and never passes through binary floating point. The grammar is the postback
//! amount's: at most 12 digits before the point and 6 after, never negative, so one value is
//! below 10^18 and a `u64` sum holds more than eighteen of the largest; sums saturate rather
//! than wrap (a sum that large is not a real network's). Derived ratios (EPC) are computed in
//! the same integer unit and printed with 6 decimals; only the conversion rate, a plain
//! ratio, is a float.

use std::fmt;

use serde::{Serialize, Serializer};

/// Millionths in one unit of currency.
const SCALE: u64 = 1_000_000;
const FRACTION_DIGITS: usize = 6;
const INTEGER_DIGITS: usize = 12;

/// An amount of money in millionths of the network's currency.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "must be a decimal number such as 12.50 (at most 12 digits before the point and 6 after, not negative)"
)]
pub struct BadMoney;

impl Money {
    pub const ZERO: Money = Money(0);

    /// `12`, `12.5`, `0.000001`: digits, optionally a point and 1 to 6 more digits.
    pub fn parse(text: &str) -> Result<Money, BadMoney> {
        let (int, frac) = match text.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (text, None),
        };
        let digits = |s: &str, max: usize| {
            !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit())
        };
        if !digits(int, INTEGER_DIGITS) || frac.is_some_and(|f| !digits(f, FRACTION_DIGITS)) {
            return Err(BadMoney);
        }
        let whole: u64 = int.parse().map_err(|_| BadMoney)?;
        let frac = frac.unwrap_or("");
        let mut millionths: u64 = if frac.is_empty() {
            0
        } else {
            frac.parse().map_err(|_| BadMoney)?
        };
        for _ in frac.len()..FRACTION_DIGITS {
            millionths *= 10;
        }
        Ok(Money(whole * SCALE + millionths))
    }

    pub fn from_millionths(m: u64) -> Money {
        Money(m)
    }

    pub fn millionths(self) -> u64 {
        self.0
    }

    pub fn saturating_add(self, other: Money) -> Money {
        Money(self.0.saturating_add(other.0))
    }

    /// `self / n`, rounded half up to a millionth; `None` when `n` is 0 (EPC before any
    /// click).
    pub fn per(self, n: u64) -> Option<Money> {
        (n > 0).then(|| {
            let (m, n) = (u128::from(self.0), u128::from(n));
            Money(((m * 2 + n) / (2 * n)) as u64)
        })
    }

    /// As a float, for the optimizer's estimates only (never stored, never summed).
    pub fn as_f64(self) -> f64 {
        self.0 as f64 / SCALE as f64
    }
}

impl fmt::Display for Money {
    /// Whole units, then the fraction without trailing zeros but with at least two digits:
    /// `12.50`, `0.000001`, `3.00`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (whole, frac) = (self.0 / SCALE, self.0 % SCALE);
        let digits = format!("{frac:06}");
        let kept = digits.trim_end_matches('0');
        let kept = if kept.len() < 2 { &digits[..2] } else { kept };
        write!(f, "{whole}.{kept}")
    }
}

/// A JSON string (`"12.50"`): a JSON number passes through binary floating point in most
/// readers.
impl Serialize for Money {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Money {
    /// A string, or a JSON number written within the grammar (`12.5`): the number's text is
    /// read as written, never as a float.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Money, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Money;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a decimal amount such as \"12.50\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Money, E> {
                Money::parse(v).map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Money, E> {
                Money::parse(&v.to_string()).map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Money, E> {
                Money::parse(&v.to_string()).map_err(E::custom)
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Money, E> {
                // The shortest text that reads back as `v`: what the writer wrote whenever it
                // fits in 15 significant digits, which every amount of the grammar with at
                // most 15 digits does.
                Money::parse(&format!("{v}")).map_err(E::custom)
            }
        }
        d.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exact_decimals() {
        let m = |s| Money::parse(s).unwrap().millionths();
        assert_eq!(m("12.50"), 12_500_000);
        assert_eq!(m("0.000001"), 1);
        assert_eq!(m("7"), 7_000_000);
        assert_eq!(m("999999999999.999999"), 999_999_999_999_999_999);
        for bad in [
            "",
            "-1",
            "1.",
            ".5",
            "1.0000001",
            "1e3",
            "1,5",
            "1000000000000",
            " 1",
        ] {
            assert!(Money::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn prints_with_at_least_two_decimals() {
        let p = |s| Money::parse(s).unwrap().to_string();
        assert_eq!(p("12.5"), "12.50");
        assert_eq!(p("3"), "3.00");
        assert_eq!(p("0.000001"), "0.000001");
        assert_eq!(p("1.230"), "1.23");
    }

    #[test]
    fn reads_json_numbers_as_written() {
        let m: Money = serde_json::from_str("0.1").unwrap();
        assert_eq!(m.millionths(), 100_000);
        let m: Money = serde_json::from_str("\"2.35\"").unwrap();
        assert_eq!(m.to_string(), "2.35");
        assert!(serde_json::from_str::<Money>("-1").is_err());
    }

    proptest::proptest! {
        /// Ten cents added a thousand times is exactly 100.00, the sum of any amounts is the
        /// sum of their millionths, and printing then parsing gives the same value.
        #[test]
        fn sums_are_exact(cents in proptest::collection::vec(0u64..10_000_000, 1..50)) {
            let total = cents.iter().fold(Money::ZERO, |s, &c| {
                s.saturating_add(Money::parse(&format!("{}.{:02}", c / 100, c % 100)).unwrap())
            });
            proptest::prop_assert_eq!(total.millionths(), cents.iter().sum::<u64>() * 10_000);
            proptest::prop_assert_eq!(Money::parse(&total.to_string()).unwrap(), total);
        }
    }

    #[test]
    fn per_rounds_half_up() {
        let ten = Money::parse("10").unwrap();
        assert_eq!(ten.per(3).unwrap().to_string(), "3.333333");
        assert_eq!(
            Money::parse("0.000002")
                .unwrap()
                .per(4)
                .unwrap()
                .millionths(),
            1
        );
        assert_eq!(ten.per(0), None);
        let dime = Money::parse("0.10").unwrap();
        let sum = (0..1000).fold(Money::ZERO, |s, _| s.saturating_add(dime));
        assert_eq!(sum.to_string(), "100.00");
    }
}
