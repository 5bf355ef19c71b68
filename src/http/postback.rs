//! `GET|POST /p?click_id=ID[&amount=DECIMAL]`: a conversion postback (docs/routing.md).
//!
//! This file reads the request and renders the answer; the use case is `app::postback`
//! (protection, the click id, the token, the attribution window, the payout, the ledger).
//! The source is the client address, behind trusted proxies as for clicks. For `POST` the
//! parameters may also come in an `application/x-www-form-urlencoded` body (at most 8 KiB,
//! read within `server.header_read_timeout_ms`), read only once the source is admitted.
//! The answers:
//!
//! | answer | status | body |
//! |---|---|---|
//! | recorded | 200 | `{"status":"recorded"}` |
//! | same click id again | 200 | `{"status":"duplicate"}` (nothing counted) |
//! | click older than the attribution window | 200 | `{"status":"expired"}` (nothing counted) |
//! | missing or malformed id (not 40 URL-safe base64 characters, perhaps then `.` and more); bad amount | 400 | `{"status":"invalid","error":…}` |
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
use crate::app::postback::{self as use_case, Outcome, Params, Refusal};
use crate::state::State;

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
        Ok(outcome) => answer(&state, outcome),
        Err(error) => error.response(&state.metrics),
    }
}

async fn handle<B>(
    state: &State,
    req: Request<B>,
    peer: IpAddr,
    started: crate::clock::Instant,
) -> Result<Outcome, PlainError>
where
    B: hyper::body::Body,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    // The router admitted the method (`GET`, `POST`).
    let snapshot = state.snapshot_full();
    let source = snapshot.proxies.client_ip(peer, req.headers());
    if let Err(why) = use_case::admit(&snapshot, source) {
        return Ok(Outcome::Refused(why));
    }
    let mut params = Params::default();
    if let Err(why) = params.read(req.uri().query().unwrap_or("").as_bytes()) {
        return Ok(Outcome::Refused(why));
    }
    if req.method() == Method::POST {
        let is_form = req.headers().get(CONTENT_TYPE).is_none_or(|t| {
            t.as_bytes()
                .to_ascii_lowercase()
                .starts_with(b"application/x-www-form-urlencoded")
        });
        let timeout = snapshot.settings.server.limits.header_read_timeout;
        let body = body::read(req.into_body(), MAX_BODY, timeout)
            .await
            .map_err(|e| match e {
                BodyError::TooLarge => PlainError::PAYLOAD_TOO_LARGE,
                BodyError::Timeout => PlainError::TIMEOUT,
                BodyError::Unreadable => PlainError::bad_request("unreadable request body\n"),
            })?;
        if is_form && let Err(why) = params.read(&body) {
            return Ok(Outcome::Refused(why));
        }
    }
    let now_ms = crate::clock::wall(started)
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    Ok(use_case::convert(&state.conversions, &snapshot, params, now_ms).await)
}

/// The answer to `outcome`, counted.
fn answer(state: &State, outcome: Outcome) -> Response<Body> {
    state.metrics.postback(outcome.answer());
    let body = match outcome {
        Outcome::Refused(why) => {
            state.metrics.rejected(why.rejection());
            return json(why.rejection().status(), refusal(why));
        }
        Outcome::Recorded => "{\"status\":\"recorded\"}\n",
        Outcome::Duplicate => "{\"status\":\"duplicate\"}\n",
        Outcome::Expired => "{\"status\":\"expired\"}\n",
        Outcome::Queued => return json(StatusCode::ACCEPTED, "{\"status\":\"queued\"}\n"),
        Outcome::Unavailable => {
            let mut r = json(
                StatusCode::SERVICE_UNAVAILABLE,
                "{\"status\":\"unavailable\"}\n",
            );
            r.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("1"));
            return r;
        }
    };
    json(StatusCode::OK, body)
}

/// The body that tells the sender why its postback is refused.
fn refusal(why: Refusal) -> &'static str {
    match why {
        Refusal::Forbidden => {
            "{\"status\":\"forbidden\",\"error\":\"postbacks are not accepted from this address\"}\n"
        }
        Refusal::Unauthorized => {
            "{\"status\":\"unauthorized\",\"error\":\"token is missing or wrong\"}\n"
        }
        Refusal::Missing => "{\"status\":\"invalid\",\"error\":\"click_id is required\"}\n",
        Refusal::Repeated => {
            "{\"status\":\"invalid\",\"error\":\"click_id, amount or token is given twice\"}\n"
        }
        Refusal::Malformed => {
            "{\"status\":\"invalid\",\"error\":\"click_id is not a valid click id\"}\n"
        }
        Refusal::NotOurs => {
            "{\"status\":\"invalid\",\"error\":\"click_id is not a click id of this network\"}\n"
        }
        Refusal::FromTheFuture => {
            "{\"status\":\"invalid\",\"error\":\"click_id is dated in the future\"}\n"
        }
        Refusal::Amount => {
            "{\"status\":\"invalid\",\"error\":\"amount must be a decimal number from 0 to 999999999999.999999 with at most 6 decimals, such as 12.50\"}\n"
        }
    }
}
