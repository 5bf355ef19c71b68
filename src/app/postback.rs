//! The postback use case, without a socket: a conversion reported for a click id → the
//! source's network, the parameters, the click id's signature and date, the token, the
//! attribution window, the payout → the conversion recorder (cluster mode: the claim in
//! Redis, then the ledger) → how it was answered.
//!
//! `http::postback` reads the parameters (query, form body) into [`Params`] and renders the
//! [`Outcome`] this returns; nothing here knows HTTP but the names of the parameters.
//! Protection (README, "Postback protection"): with `postbacks.allowed_networks`, only those
//! sources may post; with a token (the offer's `postback_token`, else `postbacks.token`),
//! the postback must carry it. A click id alone is no proof: anyone who clicks sees one.
//!
//! [`Outcome::Recorded`] is the one place where a conversion is known to be recorded: what
//! must follow a conversion (a partner's postback) hangs off it.

use std::net::IpAddr;
use std::sync::Arc;

use crate::click_id::ClickIdError;
use crate::conversions::{Amount, Answer, Conversion, Recorder};
use crate::money::Money;
use crate::snapshot::Snapshot;
use crate::vocab::{PostbackAnswer, Rejection};

/// The parameters of a postback, from its query and (`POST`) its form body. Other names
/// are ignored: advertisers append their own.
#[derive(Default)]
pub struct Params {
    click_id: Option<String>,
    amount: Option<String>,
    token: Option<String>,
}

impl Params {
    /// Reads form-encoded `pairs`; a parameter given twice with different values is refused.
    pub fn read(&mut self, pairs: &[u8]) -> Result<(), Refusal> {
        for (name, value) in form_urlencoded::parse(pairs) {
            let slot = match &*name {
                "click_id" => &mut self.click_id,
                "amount" => &mut self.amount,
                "token" => &mut self.token,
                _ => continue,
            };
            match slot {
                Some(seen) if *seen != value => return Err(Refusal::Repeated),
                Some(_) => {}
                None => *slot = Some(value.into_owned()),
            }
        }
        Ok(())
    }
}

/// Why a postback is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The source is outside `postbacks.allowed_networks`.
    Forbidden,
    /// No `click_id`.
    Missing,
    /// `click_id`, `amount` or `token` given twice, differently.
    Repeated,
    /// Not a click id's form (40 URL-safe base64 characters, then perhaps `.` and more).
    Malformed,
    /// A click id's form that this network did not sign: forged, or signed with a secret no
    /// longer configured.
    NotOurs,
    /// Signed by this network but dated ahead of the allowed skew: only a holder of the
    /// secret could make it (a leaked secret must not fill next month's caps today).
    FromTheFuture,
    /// The token is missing or wrong (when one is required).
    Unauthorized,
    /// Not an amount of money.
    Amount,
}

impl Refusal {
    /// How it is counted.
    pub fn answer(self) -> PostbackAnswer {
        match self {
            Refusal::Forbidden => PostbackAnswer::Forbidden,
            Refusal::Unauthorized => PostbackAnswer::Unauthorized,
            _ => PostbackAnswer::Invalid,
        }
    }

    /// Its kind of refusal, which carries its status.
    pub fn rejection(self) -> Rejection {
        match self {
            Refusal::Forbidden => Rejection::Forbidden,
            Refusal::Unauthorized => Rejection::Unauthorized,
            Refusal::NotOurs | Refusal::FromTheFuture => Rejection::Unprocessable,
            Refusal::Missing | Refusal::Repeated | Refusal::Malformed | Refusal::Amount => {
                Rejection::BadRequest
            }
        }
    }
}

/// How a postback was answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Refused(Refusal),
    /// The click is older than the attribution window: nothing counted.
    Expired,
    /// The conversion is recorded: counted, and its click id remembered.
    Recorded,
    /// The click id converted before: nothing counted.
    Duplicate,
    /// Cluster mode, Redis unreachable: queued on the node.
    Queued,
    /// Not written (disk, full id set, shutdown): the sender should retry.
    Unavailable,
}

impl Outcome {
    /// How it is counted (`smartlink_postbacks_total`).
    pub fn answer(self) -> PostbackAnswer {
        match self {
            Outcome::Refused(why) => why.answer(),
            Outcome::Expired => PostbackAnswer::Expired,
            Outcome::Recorded => PostbackAnswer::Recorded,
            Outcome::Duplicate => PostbackAnswer::Duplicate,
            Outcome::Queued => PostbackAnswer::Queued,
            Outcome::Unavailable => PostbackAnswer::Unavailable,
        }
    }
}

/// Whether `source` may post conversions; checked before the request's body is read.
pub fn admit(snapshot: &Snapshot, source: IpAddr) -> Result<(), Refusal> {
    let networks = &snapshot.settings.postbacks.allowed_networks;
    if networks.is_empty() || networks.iter().any(|n| n.contains(&source)) {
        Ok(())
    } else {
        Err(Refusal::Forbidden)
    }
}

/// Takes the postback `params` that arrived at `now_ms` (Unix milliseconds): checks them
/// on `snapshot` and hands the conversion to `recorder`, which answers once it is on disk
/// (or queued, in cluster mode).
pub async fn convert(
    recorder: &Recorder,
    snapshot: &Arc<Snapshot>,
    params: Params,
    now_ms: i64,
) -> Outcome {
    let conversion = match check(snapshot, params, now_ms) {
        Ok(Some(conversion)) => conversion,
        Ok(None) => return Outcome::Expired,
        Err(why) => return Outcome::Refused(why),
    };
    match recorder
        .record(conversion, Arc::clone(&snapshot.calendar))
        .await
    {
        // Recorded: the seam where what follows a conversion starts.
        Answer::Recorded => Outcome::Recorded,
        Answer::Duplicate => Outcome::Duplicate,
        Answer::Queued => Outcome::Queued,
        Answer::Unavailable => Outcome::Unavailable,
    }
}

/// The conversion `params` report; `None` when its click is older than the attribution
/// window.
fn check(snapshot: &Snapshot, params: Params, now_ms: i64) -> Result<Option<Conversion>, Refusal> {
    let click_id = params.click_id.ok_or(Refusal::Missing)?;
    let claims = match snapshot.signer.verify(&click_id) {
        Ok(claims) if !claims.is_from_the_future(now_ms / 1000) => claims,
        Ok(_) => return Err(Refusal::FromTheFuture),
        Err(ClickIdError::Malformed) => return Err(Refusal::Malformed),
        Err(ClickIdError::BadSignature) => return Err(Refusal::NotOurs),
    };
    let offer = claims
        .offer_id
        .and_then(|id| snapshot.table.offer_by_id(id));
    // The click's offer's own token, else the network's; none: postbacks are open.
    let required = offer.and_then(|o| o.postback_token.as_deref()).or(snapshot
        .settings
        .postbacks
        .token
        .as_deref());
    if let Some(required) = required
        && !params
            .token
            .as_deref()
            .is_some_and(|t| crate::settings::secret_matches(required, t))
    {
        return Err(Refusal::Unauthorized);
    }
    let amount = params
        .amount
        .as_deref()
        .map(Amount::parse)
        .transpose()
        .map_err(|_| Refusal::Amount)?;
    let window = snapshot.settings.tracking.attribution_window.as_secs() as i64;
    if i64::from(claims.time) < now_ms / 1000 - window {
        return Ok(None);
    }
    // A fallback click's conversion, or one of an offer no longer in the catalog, earns
    // only its amount. Its cost is the affiliate payout in force now, as its revenue is the
    // payout in force now (docs/routing.md#affiliate-payouts).
    let payout = offer.map_or(Money::ZERO, |o| o.payout);
    let source = crate::vocab::Source {
        kind: claims.kind,
        id: claims.source_id,
    };
    let cost = snapshot
        .catalog
        .parsed
        .affiliate_payouts
        .of(source, offer.map(|o| o.id));
    let mut conversion = Conversion {
        time_ms: now_ms,
        click_id: click_id.into(),
        claims,
        revenue: amount.as_ref().map_or(payout, Amount::money),
        cost,
        amount,
        partner_postback: None,
    };
    if snapshot.settings.partner_postbacks.enabled {
        conversion.partner_postback =
            crate::partner::url::render(&snapshot.catalog, &conversion).map(Into::into);
    }
    Ok(Some(conversion))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[&str]) -> Result<Params, Refusal> {
        let mut p = Params::default();
        for pairs in pairs {
            p.read(pairs.as_bytes())?;
        }
        Ok(p)
    }

    #[test]
    fn a_parameter_given_twice_must_agree_and_other_names_are_ignored() {
        let p = params(&["click_id=a&amount=1&sub=x", "click_id=a&token=t"]).unwrap();
        assert_eq!(p.click_id.as_deref(), Some("a"));
        assert_eq!(p.amount.as_deref(), Some("1"));
        assert_eq!(p.token.as_deref(), Some("t"));
        assert_eq!(
            params(&["amount=1", "amount=2"]).err(),
            Some(Refusal::Repeated)
        );
    }

    #[test]
    fn each_refusal_has_its_count_and_status() {
        use http::StatusCode;
        let cases = [
            (Refusal::Forbidden, "forbidden", StatusCode::FORBIDDEN),
            (
                Refusal::Unauthorized,
                "unauthorized",
                StatusCode::UNAUTHORIZED,
            ),
            (Refusal::Missing, "invalid", StatusCode::BAD_REQUEST),
            (Refusal::Repeated, "invalid", StatusCode::BAD_REQUEST),
            (Refusal::Malformed, "invalid", StatusCode::BAD_REQUEST),
            (Refusal::Amount, "invalid", StatusCode::BAD_REQUEST),
            (
                Refusal::NotOurs,
                "invalid",
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                Refusal::FromTheFuture,
                "invalid",
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
        ];
        for (why, counted, status) in cases {
            assert_eq!(why.answer().as_str(), counted, "{why:?}");
            assert_eq!(why.rejection().status(), status, "{why:?}");
        }
    }
}
