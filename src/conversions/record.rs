//! The conversion record (docs/operations.md): one JSON object per line in the conversion log, and the
//! reading of those lines back at start.
//!
//! ```text
//! {"time":"2026-11-22T10:00:00.123Z","click_id":"…","kind":"smart_link","smart_link_id":301,
//!  "affiliate_id":67890,"offer_id":1042,"click_time":"2026-11-22T09:58:41Z","amount":"12.50",
//!  "revenue":"12.50","cost":"4.00"}
//! ```
//!
//! `campaign_id` replaces `smart_link_id` for campaign clicks; `offer_id` is null for a click
//! that went to the fallback URL; `amount` is null when the postback gave none, and otherwise
//! a string holding exactly the digits the postback sent (a JSON number would pass through
//! binary floating point in most readers); `revenue` is what the conversion is counted as:
//! the amount, else the offer's payout at the time (a string, exact); `cost` is what the
//! network pays the affiliate for it, the affiliate payout in force when it was recorded
//! (absent from records written before affiliate payouts: 0). A conversion whose click
//! has a partner postback URL carries the URL to call, rendered when it was recorded, as
//! `"partner_postback"`: the delivery is written in the same line as its conversion, so that
//! neither exists without the other (`partner`).

use std::fmt;

use serde::Deserialize;

use crate::click_id::{Claims, ClickSigner, DedupKey};
use crate::counts::Earning;
use crate::money::Money;
use crate::vocab::{Source, SourceKind};

/// A conversion amount as the postback gave it: a non-negative decimal with at most 12
/// integer and 6 fraction digits (`12`, `12.5`, `0.000001`), so at most [`Money::MAX`]. Recorded as the digits given;
/// counted as their exact [`Money`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Amount(Box<str>, Money);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "amount must be a decimal number from 0 to 999999999999.999999 with at most 6 decimals, such as 12.50"
)]
pub struct BadAmount;

impl Amount {
    pub fn parse(text: &str) -> Result<Amount, BadAmount> {
        let money = Money::parse(text).map_err(|_| BadAmount)?;
        Ok(Amount(text.into(), money))
    }

    pub fn money(&self) -> Money {
        self.1
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One recorded conversion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conversion {
    /// When the postback arrived, Unix milliseconds.
    pub time_ms: i64,
    pub click_id: Box<str>,
    pub claims: Claims,
    pub amount: Option<Amount>,
    /// What the conversion earned the network: the amount, or else the offer's payout when
    /// the postback arrived (recorded, so that a replay counts what was counted then).
    pub revenue: Money,
    /// What the network pays the affiliate for it: the affiliate payout in force when the
    /// postback arrived (docs/routing.md#affiliate-payouts), recorded as revenue is.
    pub cost: Money,
    /// The partner postback URL to call for it (absent: none).
    pub partner_postback: Option<Box<str>>,
}

impl Conversion {
    /// A conversion at `time_ms` of a smart-link click on offer 7 made at `click_time`,
    /// with a click id signed by a test key: for the tests of the modules that keep them.
    #[cfg(test)]
    pub(crate) fn sample(click_time: u32, time_ms: i64) -> Conversion {
        let claims = Claims {
            kind: SourceKind::SmartLink,
            time: click_time,
            offer_id: Some(7),
            source_id: 3,
            affiliate_id: 1,
        };
        Conversion {
            time_ms,
            click_id: ClickSigner::new(b"0123456789abcdef")
                .issue(&claims)
                .as_str()
                .into(),
            claims,
            amount: None,
            revenue: Money::ZERO,
            cost: Money::ZERO,
            partner_postback: None,
        }
    }

    pub fn source(&self) -> Source {
        Source {
            kind: self.claims.kind,
            id: self.claims.source_id,
        }
    }

    /// Its click's time (Unix seconds), what it earned and what it cost: how statistics
    /// count it.
    pub fn earned(&self) -> Earning {
        Earning {
            click_time: i64::from(self.claims.time),
            revenue: self.revenue,
            cost: self.cost,
        }
    }

    pub fn time_secs(&self) -> i64 {
        self.time_ms.div_euclid(1000)
    }

    /// The key of its click in the converted set.
    pub fn key(&self) -> DedupKey {
        ClickSigner::dedup_key(&self.click_id).unwrap_or_default()
    }

    /// Appends the record as one JSON line (with its newline).
    pub fn write_line(&self, out: &mut Vec<u8>) {
        let c = &self.claims;
        let id_field = match c.kind {
            SourceKind::SmartLink => "\"kind\":\"smart_link\",\"smart_link_id\"",
            SourceKind::Campaign => "\"kind\":\"campaign\",\"campaign_id\"",
        };
        let offer = c.offer_id.map_or("null".to_string(), |o| o.to_string());
        let amount = self
            .amount
            .as_ref()
            .map_or("null".to_string(), |a| format!("\"{a}\""));
        // The click id is base64url and `.`, the amounts are digits: nothing to escape.
        let line = format!(
            "{{\"time\":\"{}\",\"click_id\":\"{}\",{id_field}:{},\"affiliate_id\":{},\"offer_id\":{offer},\"click_time\":\"{}\",\"amount\":{amount},\"revenue\":\"{}\",\"cost\":\"{}\"}}\n",
            rfc3339_ms(self.time_ms),
            self.click_id,
            c.source_id,
            c.affiliate_id,
            rfc3339_ms(i64::from(c.time) * 1000),
            self.revenue,
            self.cost,
        );
        match &self.partner_postback {
            // The URL is printable ASCII but may hold `"` or `\\`: serde escapes it.
            Some(url) => {
                out.extend_from_slice(&line.as_bytes()[..line.len() - 2]);
                out.extend_from_slice(b",\"partner_postback\":");
                let _ = serde_json::to_writer(&mut *out, &**url);
                out.extend_from_slice(b"}\n");
            }
            None => out.extend_from_slice(line.as_bytes()),
        }
    }

    /// Reads a line written by [`Conversion::write_line`].
    pub fn parse_line(line: &[u8]) -> Result<Conversion, String> {
        #[derive(Deserialize)]
        struct Line {
            time: String,
            click_id: String,
            kind: String,
            smart_link_id: Option<u32>,
            campaign_id: Option<u32>,
            affiliate_id: u32,
            offer_id: Option<u32>,
            click_time: String,
            amount: Option<String>,
            /// Absent from records written before revenue was counted: their amount's.
            revenue: Option<String>,
            /// Absent from records written before affiliate payouts: 0.
            cost: Option<String>,
            partner_postback: Option<String>,
        }
        let l: Line = serde_json::from_slice(line).map_err(|e| e.to_string())?;
        let millis = |t: &str| {
            t.parse::<jiff::Timestamp>()
                .map(|t| t.as_millisecond())
                .map_err(|e| format!("{t:?}: {e}"))
        };
        let (kind, source_id) = match (l.kind.as_str(), l.smart_link_id, l.campaign_id) {
            ("smart_link", Some(id), None) => (SourceKind::SmartLink, id),
            ("campaign", None, Some(id)) => (SourceKind::Campaign, id),
            _ => return Err("kind and smart_link_id/campaign_id disagree".into()),
        };
        if ClickSigner::dedup_key(&l.click_id).is_none() {
            return Err("click_id is not a click id".into());
        }
        let amount = l
            .amount
            .map(|a| Amount::parse(&a))
            .transpose()
            .map_err(|e| e.to_string())?;
        Ok(Conversion {
            time_ms: millis(&l.time)?,
            click_id: l.click_id.into(),
            claims: Claims {
                kind,
                time: u32::try_from(millis(&l.click_time)? / 1000).map_err(|e| e.to_string())?,
                offer_id: l.offer_id,
                source_id,
                affiliate_id: l.affiliate_id,
            },
            revenue: match (&l.revenue, &amount) {
                (Some(r), _) => Money::parse(r).map_err(|e| format!("revenue {e}"))?,
                (None, Some(a)) => a.money(),
                (None, None) => Money::ZERO,
            },
            cost: l
                .cost
                .map(|c| Money::parse(&c).map_err(|e| format!("cost {e}")))
                .transpose()?
                .unwrap_or(Money::ZERO),
            amount,
            partner_postback: l.partner_postback.map(Into::into),
        })
    }
}

/// `2026-11-22T10:00:00.123Z`.
fn rfc3339_ms(millis: i64) -> String {
    jiff::Timestamp::from_millisecond(millis)
        .unwrap_or_default()
        .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_from_before_affiliate_payouts_costs_nothing() {
        let c = Conversion::sample(1_795_392_000, 1_795_392_100_000);
        let mut line = Vec::new();
        c.write_line(&mut line);
        let text = String::from_utf8(line).unwrap();
        assert!(text.contains(",\"cost\":\"0.00\"}"), "{text}");
        let old = text.replace(",\"cost\":\"0.00\"", "");
        assert_eq!(
            Conversion::parse_line(old.as_bytes()).unwrap().cost,
            Money::ZERO
        );
        let bad = text.replace("\"cost\":\"0.00\"", "\"cost\":\"-1\"");
        assert!(Conversion::parse_line(bad.as_bytes()).is_err());
    }

    #[test]
    fn amounts_are_plain_decimals() {
        for ok in ["0", "12", "12.5", "12.50", "999999999999.999999"] {
            assert_eq!(Amount::parse(ok).unwrap().as_str(), ok);
        }
        for bad in [
            "",
            "-1",
            "+1",
            "1e3",
            "1.",
            ".5",
            "1.2.3",
            "NaN",
            "1,5",
            " 1",
            "1234567890123",
            "1.1234567",
            "١",
        ] {
            assert_eq!(Amount::parse(bad), Err(BadAmount), "{bad:?}");
        }
    }

    proptest::proptest! {
        /// Every record reads back as written, and its line is valid JSON.
        #[test]
        fn lines_round_trip(
            campaign in proptest::bool::ANY,
            time_ms in 0i64..4_000_000_000_000,
            click_time in proptest::num::u32::ANY,
            offer in proptest::option::of(1u32..),
            source in proptest::num::u32::ANY,
            affiliate in proptest::num::u32::ANY,
            amount in proptest::option::of("[0-9]{1,12}(\\.[0-9]{1,6})?"),
            partner_postback in proptest::option::of("https://x\\.example/[!-~]{0,40}"),
            payout in 0u64..1_000_000_000,
            cost in 0..=Money::MAX.millionths(),
        ) {
            let claims = Claims {
                kind: if campaign { SourceKind::Campaign } else { SourceKind::SmartLink },
                time: click_time,
                offer_id: offer,
                source_id: source,
                affiliate_id: affiliate,
            };
            let c = Conversion {
                time_ms,
                click_id: ClickSigner::new(b"0123456789abcdef").issue(&claims).as_str().into(),
                claims,
                revenue: match &amount {
                    Some(a) => Amount::parse(a).unwrap().money(),
                    None => Money::from_millionths(payout),
                },
                amount: amount.map(|a| Amount::parse(&a).unwrap()),
                cost: Money::from_millionths(cost),
                partner_postback: partner_postback.map(Into::into),
            };
            let mut out = Vec::new();
            c.write_line(&mut out);
            proptest::prop_assert_eq!(out.last(), Some(&b'\n'));
            serde_json::from_slice::<serde_json::Value>(&out).unwrap();
            proptest::prop_assert_eq!(Conversion::parse_line(&out).unwrap(), c);
        }
    }
}
