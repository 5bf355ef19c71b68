//! The HTTP side of the management API: reads a call's body (at most `api.max_body_bytes`,
//! for a batch `api.max_batch_body_bytes`; within `server.header_read_timeout_ms`), serves the OpenAPI document, hands the call to
//! `api`, and renders its answer: `200` JSON (with the console's session cookie on a
//! sign-in or sign-out), or the failure envelope with its status (`Allow` on a `405`,
//! `Retry-After` on a `503` and a `429`). A request's console session (cookie, anti-CSRF
//! header, origin) is read by `http::console`.

use std::net::IpAddr;
use std::sync::{Arc, LazyLock};

use http::header::{
    ACCEPT_ENCODING, ALLOW, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER, SET_COOKIE,
    VARY,
};
use http::{HeaderValue, Method, Request, Response, StatusCode};

use super::body::{self, BodyError};
use super::response::{Body, owned};
use crate::api::error::ApiError;
use crate::api::{self, ApiRequest};
use crate::metrics::Metrics;
use crate::state::State;
use crate::vocab::Rejection;

/// Answers one request under `/api/2/` from `peer` (the TCP peer or PROXY client).
pub async fn handle<B>(state: Arc<State>, req: Request<B>, peer: IpAddr) -> Response<Body>
where
    B: hyper::body::Body,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    match answer(&state, req, peer).await {
        Ok(Answer::Call(answer)) => {
            let mut r = json(StatusCode::OK, &answer.body);
            // A console sign-in or sign-out (`api::session`).
            if let Some(cookie) = answer
                .set_cookie
                .and_then(|c| HeaderValue::from_str(&c).ok())
            {
                r.headers_mut().insert(SET_COOKIE, cookie);
            }
            r
        }
        Ok(Answer::Document(gzip)) => {
            let mut r = match gzip {
                // The console's forms read it; gzip makes its 370 KB about 25.
                true => Response::new(Body::new(DOCUMENT_GZIP.clone())),
                false => Response::new(Body::from(api::openapi::DOCUMENT.as_str())),
            };
            let h = r.headers_mut();
            h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            h.insert(VARY, HeaderValue::from_static("accept-encoding"));
            if gzip {
                h.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            r
        }
        Err(e) => failure(&e, &state.metrics),
    }
}

/// What a request under `/api/2/` is answered with.
enum Answer {
    Call(api::Answer),
    /// The OpenAPI document, served without a key; gzipped when the client takes it.
    Document(bool),
}

/// The OpenAPI document, gzipped once.
static DOCUMENT_GZIP: LazyLock<bytes::Bytes> = LazyLock::new(|| {
    crate::console::assets::gzip(api::openapi::DOCUMENT.as_bytes())
        .map_or_else(|| api::openapi::DOCUMENT.clone().into(), bytes::Bytes::from)
});

async fn answer<B>(state: &Arc<State>, req: Request<B>, peer: IpAddr) -> Result<Answer, ApiError>
where
    B: hyper::body::Body,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let (parts, body) = req.into_parts();
    let name = parts.uri.path().strip_prefix(api::PREFIX).unwrap_or("");
    let (max_body, read_timeout, allowed, client, https) = {
        let s = state.snapshot();
        let client = s.proxies.client_ip(peer, &parts.headers);
        (
            api::max_body(&s.settings, name),
            s.settings.server.limits.header_read_timeout,
            api::client_allowed(&s.settings, client),
            client,
            s.proxies.forwarded_https(peer, &parts.headers),
        )
    };
    if !allowed {
        return Err(ApiError::forbidden());
    }
    if parts.uri.path() == api::OPENAPI_PATH {
        return match parts.method {
            Method::GET | Method::HEAD => Ok(Answer::Document(
                parts
                    .headers
                    .get(ACCEPT_ENCODING)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(crate::console::assets::accepts_gzip),
            )),
            _ => Err(ApiError::method_not_allowed("GET")),
        };
    }
    let bytes = if parts.method == Method::POST && api::takes_body(name) {
        body::read(body, max_body, read_timeout)
            .await
            .map_err(|e| match e {
                BodyError::TooLarge => ApiError::payload_too_large(max_body),
                BodyError::Timeout => Rejection::Timeout.into(),
                BodyError::Unreadable => Rejection::BadRequest.into(),
            })?
    } else {
        bytes::Bytes::new()
    };
    let request = ApiRequest {
        name,
        method: &parts.method,
        query: parts.uri.query().unwrap_or(""),
        content_type: parts.headers.get(CONTENT_TYPE).map(HeaderValue::as_bytes),
        body: &bytes,
        client,
        https,
        session: super::console::session_proof(&parts),
    };
    api::answer(state, request).await.map(Answer::Call)
}

/// The failure envelope as a response; counts it.
pub fn failure(e: &ApiError, metrics: &Metrics) -> Response<Body> {
    metrics.rejected(e.rejection);
    let mut resp = json(e.rejection.status(), &e.body());
    let h = resp.headers_mut();
    if let Some(allow) = e.allow {
        h.insert(ALLOW, HeaderValue::from_static(allow));
    }
    if e.rejection == Rejection::Unavailable {
        h.insert(RETRY_AFTER, HeaderValue::from_static("1"));
    }
    if e.rejection == Rejection::TooManyRequests {
        h.insert(RETRY_AFTER, HeaderValue::from_static("60"));
    }
    resp
}

/// A JSON response, not cacheable.
fn json(status: StatusCode, body: &serde_json::Value) -> Response<Body> {
    let mut text = body.to_string();
    text.push('\n');
    let mut resp = owned(status, "application/json", text);
    resp.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}
