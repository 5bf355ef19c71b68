//! The management API (SPEC §8): CAKE API v2 paths and JSON shapes under `/api/2/`.
//!
//! request → call (`calls::CALLS`: path, method, parameters, handler) → raw parameters
//! (query string for GET; JSON or form body for POST, at most `api.max_body_bytes`) →
//! `api_key` → checked [`params::Args`] → handler → `200` JSON, or an [`ApiError`] turned
//! into the failure envelope in `error`.
//!
//! Reads answer from the snapshot the request takes and never wait. Writes run on the
//! low-priority rebuilder thread (`rebuilder`) through `State::edit_catalog`, one at a time. The OpenAPI
//! document of every call is `docs/openapi.json`, served at `/api/2/openapi.json` without a
//! key (it holds nothing about the network).

pub mod calls;
pub mod error;
pub mod params;
mod read;
mod write;

use std::net::IpAddr;
use std::sync::Arc;

use http::header::CONTENT_TYPE;
use http::{Method, Request, Response, StatusCode};

use self::error::{ApiError, json};
use self::params::Raw;
use crate::http::body::{self, BodyError};
use crate::http::response::Body;
use crate::metrics::EndpointKind;
use crate::rebuilder::NotRun;
use crate::state::State;

/// Every API path starts with this.
pub const PREFIX: &str = "/api/2/";
/// The OpenAPI 3 document of the API, served as is.
pub const OPENAPI_PATH: &str = "/api/2/openapi.json";
pub const OPENAPI: &str = include_str!("../../docs/openapi.json");

/// Answers one API request from the TCP peer (or PROXY protocol client) `peer`.
pub async fn handle<B>(state: Arc<State>, req: Request<B>, peer: IpAddr) -> Response<Body>
where
    B: hyper::body::Body,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let started = crate::clock::now();
    let response = match answer(&state, req, peer).await {
        Ok(r) => r,
        Err(e) => e.response(&state.metrics),
    };
    state.metrics.observe(EndpointKind::Api, started.elapsed());
    response
}

async fn answer<B>(
    state: &Arc<State>,
    req: Request<B>,
    peer: IpAddr,
) -> Result<Response<Body>, ApiError>
where
    B: hyper::body::Body,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    // Held across the body read: the settings this request checks against.
    let snapshot = state.snapshot_full();
    let settings = &snapshot.settings;
    if !settings.api_networks.is_empty() {
        let client = snapshot.proxies.client_ip(peer, req.headers());
        if !settings.api_networks.iter().any(|n| n.contains(&client)) {
            return Err(ApiError::forbidden());
        }
    }
    let uri = req.uri();
    if uri.path_and_query().map_or(0, |p| p.as_str().len()) > settings.limits.max_uri_bytes {
        return Err(ApiError::uri_too_long());
    }
    if uri.path() == OPENAPI_PATH {
        return match *req.method() {
            Method::GET | Method::HEAD => {
                let mut r = Response::new(Body::from(OPENAPI));
                r.headers_mut().insert(
                    CONTENT_TYPE,
                    http::HeaderValue::from_static("application/json"),
                );
                Ok(r)
            }
            _ => Err(ApiError::method_not_allowed("GET")),
        };
    }
    let call = uri
        .path()
        .strip_prefix(PREFIX)
        .and_then(calls::find)
        .ok_or_else(|| ApiError::not_found(None, "no such API call (see /api/2/openapi.json)"))?;
    if req.method() != call.method {
        return Err(ApiError::method_not_allowed(call.method.as_str()));
    }
    let mut raw = if call.method == Method::GET {
        Raw::form(uri.query().unwrap_or("").as_bytes())
    } else {
        if uri.query().is_some_and(|q| !q.is_empty()) {
            return Err(ApiError::bad_request(
                None,
                "the parameters of a POST call go in the body (JSON or form), not the query string",
            ));
        }
        let is_json = match req.headers().get(CONTENT_TYPE).map(|t| t.as_bytes()) {
            None => None,
            Some(t) if t.starts_with(b"application/json") => Some(true),
            Some(t) if t.starts_with(b"application/x-www-form-urlencoded") => Some(false),
            Some(_) => {
                return Err(ApiError::bad_request(
                    None,
                    "Content-Type must be application/json or application/x-www-form-urlencoded",
                ));
            }
        };
        let max_body = settings.api_max_body_bytes;
        let bytes = body::read(
            req.into_body(),
            max_body,
            settings.limits.header_read_timeout,
        )
        .await
        .map_err(|e| match e {
            BodyError::TooLarge => ApiError::payload_too_large(max_body),
            BodyError::Timeout => ApiError::timeout(),
            BodyError::Unreadable => {
                ApiError::bad_request(None, "the request body could not be read")
            }
        })?;
        // Without a Content-Type, a body that opens with `{` is JSON.
        let looks_json = bytes.trim_ascii_start().first() == Some(&b'{');
        if is_json.unwrap_or(looks_json) {
            Raw::json(&bytes)?
        } else {
            Raw::form(&bytes)
        }
    };
    let key = raw.take_api_key()?;
    if !key_is_valid(&settings.api_keys, key.as_deref()) {
        return Err(ApiError::unauthorized());
    }
    let args = raw.check(call.params)?;
    let body = if call.writes() {
        let writer = Arc::clone(state);
        state
            .rebuilder
            .run(move || (call.handler)(&writer, &args))
            .await
            .map_err(|e| match e {
                NotRun::Busy => ApiError::busy(),
                NotRun::Panicked => ApiError::internal(),
            })??
    } else {
        (call.handler)(state, &args)?
    };
    Ok(json(StatusCode::OK, &body))
}

/// Whether `given` is one of `keys`, each compared in time independent of where they differ.
fn key_is_valid(keys: &[String], given: Option<&str>) -> bool {
    let Some(given) = given else {
        return false;
    };
    keys.iter().fold(false, |found, key| {
        found | crate::settings::secret_matches(key, given)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_must_match_exactly() {
        let keys = ["k1".to_string(), "secret-2".to_string()];
        assert!(key_is_valid(&keys, Some("k1")));
        assert!(key_is_valid(&keys, Some("secret-2")));
        assert!(!key_is_valid(&keys, Some("k")));
        assert!(!key_is_valid(&keys, Some("k1 ")));
        assert!(!key_is_valid(&keys, Some("")));
        assert!(!key_is_valid(&keys, None));
        assert!(!key_is_valid(&[], Some("k1")));
    }

    #[test]
    fn call_names_are_unique() {
        for (i, c) in calls::CALLS.iter().enumerate() {
            assert!(
                calls::CALLS[..i].iter().all(|d| d.name != c.name),
                "{} twice",
                c.name
            );
        }
    }
}
