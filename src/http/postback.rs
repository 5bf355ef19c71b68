//! `GET|POST /p?click_id=ID[&amount=DECIMAL]`: a conversion postback (docs/routing.md).
//!
//! Protection (README, "Postback protection"): with `postbacks.allowed_networks`, only those
//! source addresses may post (the client address, behind trusted proxies as for clicks);
//! with a token (the offer's `postback_token`, else `postbacks.token`), the postback must
//! carry it as `token=`. A click id alone is no proof: anyone who clicks sees one.
//!
//! The click id's signature is checked without any lookup and carries the offer, the smart
//! link or campaign and the affiliate the conversion belongs to. For `POST` the parameters may
//! also come in an `application/x-www-form-urlencoded` body (at most 8 KiB, read within
//! `server.header_read_timeout_ms`). The conversion is handed to the ledger, which answers
//! once it is fsynced:
//!
//! | answer | status | body |
//! |---|---|---|
//! | recorded | 200 | `{"status":"recorded"}` |
//! | same click id again | 200 | `{"status":"duplicate"}` (nothing counted) |
//! | click older than the attribution window | 200 | `{"status":"expired"}` (nothing counted) |
//! | missing or malformed id (not 40 URL-safe base64 characters); bad amount | 400 | `{"status":"invalid","error":…}` |
//! | an id of that form that this network did not sign (forged, or an old secret no longer in `previous_click_secrets`), or one whose time is more than `MAX_CLOCK_SKEW_SECS` ahead | 422 | `{"status":"invalid","error":…}` |
//! | token missing or wrong (when one is required) | 401 | `{"status":"unauthorized",…}` |
//! | source outside `postbacks.allowed_networks` | 403 | `{"status":"forbidden",…}` |
//! | not written (disk, full id set, shutdown) | 503 | `{"status":"unavailable"}`, `Retry-After: 1` |
//! | cluster mode, Redis unreachable: queued on the node | 202 | `{"status":"queued"}` |
//!
//! `expired` is a 200 so that an advertiser's retry loop stops: the answer will not change.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderValue, Method, Request, Response, StatusCode};

use super::body::{self, BodyError};
use super::response::{Body, PlainError, json};
use super::service::Endpoint;
use crate::click_id::ClickIdError;
use crate::conversions::{Amount, Answer, Conversion};
use crate::metrics::Postback;
use crate::money::Money;
use crate::state::State;
use crate::vocab::Rejection;

/// Largest accepted postback body.
const MAX_BODY: usize = 8 * 1024;

/// Answers one postback from the TCP peer (or PROXY protocol client) `peer`, that arrived
/// at `started`.
pub async fn postback<B>(
    state: Arc<State>,
    req: Request<B>,
    peer: IpAddr,
    started: crate::clock::Instant,
) -> Response<Body>
where
    B: hyper::body::Body,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    match handle(&state, req, peer, started).await {
        Ok(r) => r,
        Err(error) => error.response(&state.metrics),
    }
}

/// Why a postback is refused with `400`.
#[derive(Debug, Clone, Copy)]
enum Invalid {
    Missing,
    Repeated,
    ClickId,
    Amount,
}

impl Invalid {
    fn body(self) -> &'static str {
        match self {
            Invalid::Missing => "{\"status\":\"invalid\",\"error\":\"click_id is required\"}\n",
            Invalid::Repeated => {
                "{\"status\":\"invalid\",\"error\":\"click_id, amount or token is given twice\"}\n"
            }
            Invalid::ClickId => {
                "{\"status\":\"invalid\",\"error\":\"click_id is not a valid click id\"}\n"
            }
            Invalid::Amount => {
                "{\"status\":\"invalid\",\"error\":\"amount must be a decimal number from 0 to 999999999999.999999 with at most 6 decimals, such as 12.50\"}\n"
            }
        }
    }
}

#[derive(Default)]
struct Params {
    click_id: Option<String>,
    amount: Option<String>,
    token: Option<String>,
}

impl Params {
    /// Reads `click_id` and `amount` from form-encoded pairs; other names are ignored
    /// (advertisers append their own).
    fn read(&mut self, pairs: &[u8]) -> Result<(), Invalid> {
        for (name, value) in form_urlencoded::parse(pairs) {
            let slot = match &*name {
                "click_id" => &mut self.click_id,
                "amount" => &mut self.amount,
                "token" => &mut self.token,
                _ => continue,
            };
            match slot {
                Some(seen) if *seen != value => return Err(Invalid::Repeated),
                Some(_) => {}
                None => *slot = Some(value.into_owned()),
            }
        }
        Ok(())
    }
}

async fn handle<B>(
    state: &State,
    req: Request<B>,
    peer: IpAddr,
    started: crate::clock::Instant,
) -> Result<Response<Body>, PlainError>
where
    B: hyper::body::Body,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let snapshot = state.snapshot_full();
    let limits = &snapshot.settings.server.limits;
    if !matches!(*req.method(), Method::GET | Method::POST) {
        return Err(PlainError::method_not_allowed(Endpoint::Postback.allow()));
    }
    let settings = &snapshot.settings;
    let source = snapshot.proxies.client_ip(peer, req.headers());
    if !settings.postbacks.allowed_networks.is_empty()
        && !settings
            .postbacks
            .allowed_networks
            .iter()
            .any(|n| n.contains(&source))
    {
        return Ok(refused(
            state,
            Postback::Forbidden,
            Rejection::Forbidden,
            "{\"status\":\"forbidden\",\"error\":\"postbacks are not accepted from this address\"}\n",
        ));
    }
    let mut params = Params::default();
    if let Err(e) = params.read(req.uri().query().unwrap_or("").as_bytes()) {
        return Ok(invalid(state, e));
    }
    if req.method() == Method::POST {
        let is_form = req.headers().get(CONTENT_TYPE).is_none_or(|t| {
            t.as_bytes()
                .to_ascii_lowercase()
                .starts_with(b"application/x-www-form-urlencoded")
        });
        let body = body::read(req.into_body(), MAX_BODY, limits.header_read_timeout)
            .await
            .map_err(|e| match e {
                BodyError::TooLarge => PlainError::PAYLOAD_TOO_LARGE,
                BodyError::Timeout => PlainError::TIMEOUT,
                BodyError::Unreadable => PlainError::bad_request("unreadable request body\n"),
            })?;
        if is_form && let Err(e) = params.read(&body) {
            return Ok(invalid(state, e));
        }
    }
    let Some(click_id) = params.click_id else {
        return Ok(invalid(state, Invalid::Missing));
    };
    let now_ms = crate::clock::wall(started)
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let claims = match snapshot.signer.verify(&click_id) {
        Ok(claims) if !claims.is_from_the_future(now_ms / 1000) => claims,
        // Signed by this network but dated ahead of the skew: only a holder of the secret
        // could make it (a leaked secret must not fill next month's caps today).
        Ok(_) => {
            return Ok(refused(
                state,
                Postback::Invalid,
                Rejection::Unprocessable,
                "{\"status\":\"invalid\",\"error\":\"click_id is dated in the future\"}\n",
            ));
        }
        Err(ClickIdError::Malformed) => return Ok(invalid(state, Invalid::ClickId)),
        // A click id's form, but no click of this network: forged, or signed with a secret
        // no longer configured.
        Err(ClickIdError::BadSignature) => {
            return Ok(refused(
                state,
                Postback::Invalid,
                Rejection::Unprocessable,
                "{\"status\":\"invalid\",\"error\":\"click_id is not a click id of this network\"}\n",
            ));
        }
    };
    // The click's offer's own token, else the network's; none: postbacks are open.
    let required = claims
        .offer_id
        .and_then(|id| snapshot.table.offer_by_id(id))
        .and_then(|o| o.postback_token.as_deref())
        .or(settings.postbacks.token.as_deref());
    if let Some(required) = required
        && !params
            .token
            .as_deref()
            .is_some_and(|t| crate::settings::secret_matches(required, t))
    {
        return Ok(refused(
            state,
            Postback::Unauthorized,
            Rejection::Unauthorized,
            "{\"status\":\"unauthorized\",\"error\":\"token is missing or wrong\"}\n",
        ));
    }
    let amount = match params.amount.as_deref().map(Amount::parse).transpose() {
        Ok(a) => a,
        Err(_) => return Ok(invalid(state, Invalid::Amount)),
    };
    let window = snapshot.settings.tracking.attribution_window.as_secs() as i64;
    if i64::from(claims.time) < now_ms / 1000 - window {
        state.metrics.postback(Postback::Expired);
        return Ok(json(StatusCode::OK, "{\"status\":\"expired\"}\n"));
    }
    // A fallback click's conversion, or one of an offer no longer in the catalog, earns
    // only its amount.
    let payout = claims
        .offer_id
        .and_then(|id| snapshot.table.offer_by_id(id))
        .map_or(Money::ZERO, |o| o.payout);
    let conversion = Conversion {
        time_ms: now_ms,
        click_id: click_id.into(),
        claims,
        revenue: amount.as_ref().map_or(payout, Amount::money),
        amount,
    };
    let answer = state
        .conversions
        .record(conversion, Arc::clone(&snapshot.calendar))
        .await;
    state.metrics.postback(answer.into());
    Ok(match answer {
        Answer::Recorded => json(StatusCode::OK, "{\"status\":\"recorded\"}\n"),
        Answer::Duplicate => json(StatusCode::OK, "{\"status\":\"duplicate\"}\n"),
        Answer::Queued => json(StatusCode::ACCEPTED, "{\"status\":\"queued\"}\n"),
        Answer::Unavailable => {
            let mut r = json(
                StatusCode::SERVICE_UNAVAILABLE,
                "{\"status\":\"unavailable\"}\n",
            );
            r.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("1"));
            r
        }
    })
}

fn invalid(state: &State, why: Invalid) -> Response<Body> {
    refused(state, Postback::Invalid, Rejection::BadRequest, why.body())
}

/// A refused postback, counted as `answer` and as an error response.
fn refused(
    state: &State,
    answer: Postback,
    rejection: Rejection,
    body: &'static str,
) -> Response<Body> {
    state.metrics.postback(answer);
    state.metrics.rejected(rejection);
    json(rejection.status(), body)
}
