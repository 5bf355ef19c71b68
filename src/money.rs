//! Money: payouts, conversion revenue and their sums, in exact decimal (docs/routing.md#revenue).
//!
//! A value is a whole number of millionths (`12.50` is 12 500 000), so adding revenue never
//! rounds and never passes through binary floating point. Derived ratios (EPC) are computed
//! in the same integer unit and printed with 6 decimals; only the conversion rate, a plain
//! ratio, is a float.
//!
//! Two types, one range that holds everywhere (docs/operations.md#money-range):
//! - [`Money`], one amount: a postback's `amount`, an offer's `payout`, what one conversion
//!   earns. At most 12 digits before the point and 6 after, never negative: at most
//!   [`Money::MAX`] = 999 999 999 999.999999, below 10^18 millionths (a `u64`). Anything
//!   beyond is refused where it enters (`400`).
//! - [`Total`], a sum of amounts: revenue of a route, a source, an hour, a node, the
//!   cluster; an EPC. A `u128` of millionths. A sum counts at most as many amounts as a
//!   `u64` counter of conversions can count (2^64), each below 10^18 millionths, so it stays
//!   below 2^64 × 10^18 < 2^124 < `u128::MAX` (2^128): no network's lifetime can overflow it,
//!   and its text (at most 33 digits before the point) is read back by [`Total::parse`]
//!   whatever its size. Sums saturate all the same, never wrap.
//! - [`Profit`], revenue less cost (what the network paid its affiliates): the one signed
//!   value, an `i128` of millionths, which holds the difference of any two totals (each
//!   below 2^124). Its margin (profit / revenue) is a plain ratio, a float, and none while
//!   there is no revenue.

use std::fmt;

use serde::{Serialize, Serializer};

/// Millionths in one unit of currency.
const SCALE: u64 = 1_000_000;
const FRACTION_DIGITS: usize = 6;
/// Digits before the point of one amount.
const INTEGER_DIGITS: usize = 12;
/// Digits before the point of a total: `u128::MAX` millionths is a 33-digit number of units.
const TOTAL_INTEGER_DIGITS: usize = 33;

/// One amount of money (a postback's amount, a payout) in millionths of the network's
/// currency, at most [`Money::MAX`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(u64);

/// A sum of amounts in millionths (see the module's text for why it cannot overflow).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Total(u128);

/// Revenue less cost, in millionths; negative when the affiliates were paid more than the
/// network earned.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Profit(i128);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "must be a decimal number from 0 to 999999999999.999999 with at most 6 decimals, such as 12.50"
)]
pub struct BadMoney;

/// `text` as millionths: digits (at most `integer_digits`), optionally a point and 1 to 6
/// more digits; `None` for anything else, or a value beyond `u128`.
fn parse_millionths(text: &str, integer_digits: usize) -> Option<u128> {
    let (int, frac) = match text.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (text, None),
    };
    let digits = |s: &str, max: usize| {
        !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit())
    };
    if !digits(int, integer_digits) || frac.is_some_and(|f| !digits(f, FRACTION_DIGITS)) {
        return None;
    }
    let whole: u128 = int.parse().ok()?;
    let frac = frac.unwrap_or("");
    let mut millionths: u128 = if frac.is_empty() {
        0
    } else {
        frac.parse().ok()?
    };
    for _ in frac.len()..FRACTION_DIGITS {
        millionths *= 10;
    }
    whole
        .checked_mul(u128::from(SCALE))?
        .checked_add(millionths)
}

/// Whole units, then the fraction without trailing zeros but with at least two digits:
/// `12.50`, `0.000001`, `3.00`.
fn write_millionths(f: &mut fmt::Formatter<'_>, m: u128) -> fmt::Result {
    let scale = u128::from(SCALE);
    let (whole, frac) = (m / scale, m % scale);
    let digits = format!("{frac:06}");
    let kept = digits.trim_end_matches('0');
    let kept = if kept.len() < 2 { &digits[..2] } else { kept };
    write!(f, "{whole}.{kept}")
}

impl Money {
    pub const ZERO: Money = Money(0);
    /// The largest amount accepted: 999 999 999 999.999999.
    pub const MAX: Money = Money(10u64.pow(INTEGER_DIGITS as u32) * SCALE - 1);

    /// `12`, `12.5`, `0.000001`: digits, optionally a point and 1 to 6 more digits; at most
    /// [`Money::MAX`].
    pub fn parse(text: &str) -> Result<Money, BadMoney> {
        parse_millionths(text, INTEGER_DIGITS)
            .and_then(|m| u64::try_from(m).ok())
            .map(Money)
            .ok_or(BadMoney)
    }

    /// `m` millionths, at most [`Money::MAX`] (beyond it, `MAX`).
    pub fn from_millionths(m: u64) -> Money {
        Money(m.min(Money::MAX.0))
    }

    pub fn millionths(self) -> u64 {
        self.0
    }

    /// As a float, for the optimizer's estimates only (never stored, never summed).
    pub fn as_f64(self) -> f64 {
        self.0 as f64 / SCALE as f64
    }
}

impl Total {
    pub const ZERO: Total = Total(0);

    /// A total written by [`Total`]'s `Display` (or an amount): digits, at most 33 before the
    /// point, optionally a point and 1 to 6 more.
    pub fn parse(text: &str) -> Result<Total, BadTotal> {
        parse_millionths(text, TOTAL_INTEGER_DIGITS)
            .map(Total)
            .ok_or(BadTotal)
    }

    pub fn from_millionths(m: u128) -> Total {
        Total(m)
    }

    pub fn millionths(self) -> u128 {
        self.0
    }

    /// `self / n`, rounded half up to a millionth; `None` when `n` is 0 (EPC before any
    /// click).
    pub fn per(self, n: u64) -> Option<Total> {
        (n > 0).then(|| {
            let n = u128::from(n);
            let (q, r) = (self.0 / n, self.0 % n);
            Total(q + u128::from(r >= n - r))
        })
    }

    /// As a float, for the optimizer's estimates only (never stored, never summed).
    pub fn as_f64(self) -> f64 {
        self.0 as f64 / SCALE as f64
    }
}

impl Profit {
    /// `revenue - cost` (exact: both totals are below 2^124, see the module's text).
    pub fn of(revenue: Total, cost: Total) -> Profit {
        let signed = |t: Total| i128::try_from(t.0).unwrap_or(i128::MAX);
        Profit(signed(revenue).saturating_sub(signed(cost)))
    }

    pub fn millionths(self) -> i128 {
        self.0
    }

    /// profit / revenue: the share of the revenue the network kept (negative when it paid
    /// out more than it earned); `None` without revenue.
    pub fn margin(self, revenue: Total) -> Option<f64> {
        (revenue.0 > 0).then(|| self.0 as f64 / revenue.0 as f64)
    }
}

/// This total and one more amount (saturating: see the module's text for why it never has
/// to).
impl std::ops::Add<Money> for Total {
    type Output = Total;
    fn add(self, amount: Money) -> Total {
        Total(self.0.saturating_add(u128::from(amount.0)))
    }
}

/// The sum of two totals (saturating).
impl std::ops::Add for Total {
    type Output = Total;
    fn add(self, other: Total) -> Total {
        Total(self.0.saturating_add(other.0))
    }
}

impl From<Money> for Total {
    fn from(m: Money) -> Total {
        Total(u128::from(m.0))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("must be a decimal number such as 12.50 (at most 6 decimals, not negative)")]
pub struct BadTotal;

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_millionths(f, u128::from(self.0))
    }
}

impl fmt::Display for Total {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_millionths(f, self.0)
    }
}

/// `12.50`, `-3.00`.
impl fmt::Display for Profit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 < 0 {
            f.write_str("-")?;
        }
        write_millionths(f, self.0.unsigned_abs())
    }
}

/// A JSON string, as [`Total`].
impl Serialize for Profit {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A JSON string (`"12.50"`): a JSON number passes through binary floating point in most
/// readers.
impl Serialize for Money {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A JSON string, as long as it needs to be: no JSON reader limits a string's digits.
impl Serialize for Total {
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

impl<'de> serde::Deserialize<'de> for Total {
    /// A string, as [`Total`] writes it.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Total, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Total;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a decimal total such as \"12.50\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Total, E> {
                Total::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_str(Visitor)
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
        assert_eq!(Money::parse("999999999999.999999"), Ok(Money::MAX));
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
    fn the_error_names_the_bound() {
        assert!(BadMoney.to_string().contains("999999999999.999999"));
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

    /// Regression: two postbacks of the largest amount made a 13-digit revenue total that the
    /// counters file could not read back (the total was read with the amount's grammar).
    #[test]
    fn a_total_of_the_largest_amounts_reads_back_whatever_its_size() {
        let two = Total::ZERO + Money::MAX + Money::MAX;
        assert_eq!(two.to_string(), "1999999999999.999998");
        let json = serde_json::to_string(&two).unwrap();
        assert_eq!(serde_json::from_str::<Total>(&json).unwrap(), two);
        // As many of the largest amounts as a u64 counter of conversions can count.
        let most = Total::from_millionths(u128::from(u64::MAX) * u128::from(Money::MAX.0));
        assert!(most < Total::from_millionths(u128::MAX));
        assert_eq!(Total::parse(&most.to_string()), Ok(most));
        let largest = Total::from_millionths(u128::MAX);
        assert_eq!(Total::parse(&largest.to_string()), Ok(largest));
        assert_eq!(largest + Money::MAX, largest, "saturates, never wraps");
        assert!(Total::parse("340282366920938463463374607431768.211456").is_err());
        assert!(
            serde_json::from_str::<Total>("12.5").is_err(),
            "a string only"
        );
    }

    proptest::proptest! {
        /// Ten cents added a thousand times is exactly 100.00, the sum of any amounts is the
        /// sum of their millionths, and printing then parsing gives the same value.
        #[test]
        fn sums_are_exact(cents in proptest::collection::vec(0u64..10_000_000, 1..50)) {
            let total = cents.iter().fold(Total::ZERO, |s, &c| {
                s + Money::parse(&format!("{}.{:02}", c / 100, c % 100)).unwrap()
            });
            proptest::prop_assert_eq!(total.millionths(), u128::from(cents.iter().sum::<u64>()) * 10_000);
            proptest::prop_assert_eq!(Total::parse(&total.to_string()).unwrap(), total);
        }

        /// Every amount of the grammar prints as text that parses back to it, as an amount
        /// and as a total.
        /// However conversions are split in two, the parts' profits add up to the whole's,
        /// which is its revenue less its cost.
        #[test]
        fn profits_of_a_split_add_up(
            conversions in proptest::collection::vec((0..=Money::MAX.millionths(), 0..=Money::MAX.millionths()), 0..40),
            cut in 0usize..40,
        ) {
            let sum = |part: &[(u64, u64)]| part.iter().fold((Total::ZERO, Total::ZERO), |(r, c), &(rev, cost)| {
                (r + Money::from_millionths(rev), c + Money::from_millionths(cost))
            });
            let cut = cut.min(conversions.len());
            let (a, b) = conversions.split_at(cut);
            let ((ra, ca), (rb, cb), (r, c)) = (sum(a), sum(b), sum(&conversions));
            let whole = Profit::of(r, c);
            proptest::prop_assert_eq!(Profit::of(ra, ca).millionths() + Profit::of(rb, cb).millionths(), whole.millionths());
            proptest::prop_assert_eq!(whole.millionths(), r.millionths() as i128 - c.millionths() as i128);
        }

        #[test]
        fn every_amount_reads_back(m in 0..=Money::MAX.millionths()) {
            let m = Money::from_millionths(m);
            proptest::prop_assert_eq!(Money::parse(&m.to_string()), Ok(m));
            proptest::prop_assert_eq!(Total::parse(&m.to_string()), Ok(Total::from(m)));
        }
    }

    #[test]
    fn profit_is_revenue_less_cost_and_margin_needs_revenue() {
        let t = |s| Total::parse(s).unwrap();
        let p = Profit::of(t("10"), t("2.50"));
        assert_eq!(p.to_string(), "7.50");
        assert_eq!(p.margin(t("10")), Some(0.75));
        let loss = Profit::of(t("1"), t("3.000001"));
        assert_eq!(loss.to_string(), "-2.000001");
        assert_eq!(loss.margin(t("1")), Some(-2.000001));
        assert_eq!(serde_json::to_string(&loss).unwrap(), "\"-2.000001\"");
        let free = Profit::of(Total::ZERO, t("4"));
        assert_eq!(free.to_string(), "-4.00");
        assert_eq!(free.margin(Total::ZERO), None, "no revenue: no margin");
        assert_eq!(Profit::of(Total::ZERO, Total::ZERO).to_string(), "0.00");
        let most = Total::from_millionths(u128::from(u64::MAX) * u128::from(Money::MAX.0));
        assert_eq!(Profit::of(most, Total::ZERO).millionths() as u128, most.0);
        assert_eq!(
            Profit::of(Total::ZERO, most).millionths(),
            -(most.0 as i128)
        );
    }

    #[test]
    fn per_rounds_half_up() {
        let ten = Total::from(Money::parse("10").unwrap());
        assert_eq!(ten.per(3).unwrap().to_string(), "3.333333");
        assert_eq!(Total::from_millionths(2).per(4).unwrap().millionths(), 1);
        assert_eq!(Total::from_millionths(1).per(4).unwrap().millionths(), 0);
        assert_eq!(Total::from_millionths(5).per(2).unwrap().millionths(), 3);
        assert_eq!(ten.per(0), None);
        let largest = Total::from_millionths(u128::MAX);
        assert_eq!(largest.per(1), Some(largest));
        let dime = Money::parse("0.10").unwrap();
        let sum = (0..1000).fold(Total::ZERO, |s, _| s + dime);
        assert_eq!(sum.to_string(), "100.00");
    }
}
