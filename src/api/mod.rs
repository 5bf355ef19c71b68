//! The management API (docs/api.md): CAKE API v2 paths and JSON shapes under `/api/2/`.
//!
//! request → call (`calls::CALLS`: path, method, parameters, handler) → raw parameters
//! (query string for GET; JSON or form body for POST) → `api_key` → checked
//! [`params::Args`] → handler → the success body, or an [`ApiError`]. Nothing here knows
//! HTTP connections: `http::api` reads the body (at most `api.max_body_bytes`, for a batch
//! `api.max_batch_body_bytes`) and renders the answer (`200` JSON, or the failure envelope
//! of `error`).
//!
//! Reads answer from the snapshot the request takes and never wait. Writes run on the
//! low-priority rebuilder thread (`rebuilder`) through `State::edit_catalog`, one at a time;
//! a batch (`batch`) is one such write, and each write is one record of the audit log. The OpenAPI
//! document of every call is `docs/openapi.json`, served at `/api/2/openapi.json` without a
//! key (it holds nothing about the network).

mod batch;
pub mod calls;
pub mod error;
pub mod fields;
pub mod openapi;
pub mod params;
mod preview;
mod read;
mod write;

use std::net::IpAddr;
use std::sync::Arc;

use http::Method;
use serde_json::Value;

use self::calls::Action;
use self::error::ApiError;
use self::params::Raw;
use crate::rebuilder::NotRun;
use crate::settings::Settings;
use crate::state::State;

/// Every API path starts with this.
pub const PREFIX: &str = "/api/2/";
/// Where the OpenAPI 3 document of the API (`openapi`) is served, without a key.
pub const OPENAPI_PATH: &str = "/api/2/openapi.json";

/// One API request as the HTTP side hands it over: the call's name (the path after
/// [`PREFIX`]), the method, the query string and, for a `POST`, the body read whole (at most
/// `api.max_body_bytes`) with its content type.
pub struct ApiRequest<'a> {
    pub name: &'a str,
    pub method: &'a Method,
    pub query: &'a str,
    pub content_type: Option<&'a [u8]>,
    pub body: &'a [u8],
}

/// Whether `client` (behind trusted proxies, as for clicks) may call the API:
/// `api.allowed_networks` is empty or holds it.
pub fn client_allowed(settings: &Settings, client: IpAddr) -> bool {
    settings.api_networks.is_empty() || settings.api_networks.iter().any(|n| n.contains(&client))
}

/// Answers one API call: its success body, or the failure to render.
pub async fn answer(state: &Arc<State>, req: ApiRequest<'_>) -> Result<Value, ApiError> {
    let snapshot = state.snapshot_full();
    let settings = &snapshot.settings;
    let call = calls::find(req.name)
        .ok_or_else(|| ApiError::not_found(None, "no such API call (see /api/2/openapi.json)"))?;
    if *req.method != call.method {
        return Err(ApiError::method_not_allowed(call.method.as_str()));
    }
    let mut raw = if call.method == Method::GET {
        Raw::form(req.query.as_bytes())
    } else {
        if !req.query.is_empty() {
            return Err(ApiError::bad_request(
                None,
                "the parameters of a POST call go in the body (JSON or form), not the query string",
            ));
        }
        let is_json = match req.content_type {
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
        // Without a Content-Type, a body that opens with `{` is JSON.
        let looks_json = req.body.trim_ascii_start().first() == Some(&b'{');
        if is_json.unwrap_or(looks_json) {
            Raw::json(req.body)?
        } else {
            Raw::form(req.body)
        }
    };
    let key = raw.take_api_key()?;
    if !key_is_valid(&settings.api_keys, key.as_deref()) {
        return Err(ApiError::unauthorized());
    }
    let args = raw.check(call.params)?;
    // The audit log names the key by its fingerprint only.
    let key = crate::audit::fingerprint(key.as_deref().unwrap_or_default());
    let writer = Arc::clone(state);
    match call.action {
        Action::Write(change) => {
            write_off_thread(state, move || write_one(&writer, &key, call, change, &args)).await
        }
        Action::Batch => write_off_thread(state, move || batch::run(&writer, &key, &args)).await,
        // A preview reads the click log: a blocking thread, never a click's.
        Action::Preview => tokio::task::spawn_blocking(move || preview::run(&writer, &args))
            .await
            .map_err(|_| ApiError::internal())?,
        Action::Read(handler) if call.blocks => {
            tokio::task::spawn_blocking(move || handler(&writer, &args))
                .await
                .map_err(|_| ApiError::internal())?
        }
        Action::Read(handler) => handler(state, &args),
    }
}

/// Runs a write on the rebuilder thread, after the writes queued before it.
async fn write_off_thread(
    state: &State,
    write: impl FnOnce() -> Result<Value, ApiError> + Send + 'static,
) -> Result<Value, ApiError> {
    state.rebuilder.run(write).await.map_err(|e| match e {
        NotRun::Busy => ApiError::busy(),
        NotRun::Panicked => ApiError::internal(),
    })?
}

/// Whether a call by this name takes a body (a `POST` call); unknown names take none.
pub fn takes_body(name: &str) -> bool {
    calls::find(name).is_some_and(calls::Call::writes)
}

/// The largest body the call by this name accepts: `api.max_batch_body_bytes` for a batch,
/// `api.max_body_bytes` for any other.
pub fn max_body(settings: &Settings, name: &str) -> usize {
    match calls::find(name).map(|c| c.action) {
        Some(Action::Batch | Action::Preview) => settings.api_max_batch_body_bytes,
        _ => settings.api_max_body_bytes,
    }
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

/// Runs one write call: its change, alone, in one edit; audited under the key `key` (a
/// fingerprint).
fn write_one(
    state: &State,
    key: &str,
    call: &calls::Call,
    change: calls::Change,
    args: &params::Args,
) -> Result<Value, ApiError> {
    let audited = crate::audit::Change {
        key: Some(key.to_string()),
        call: call.name.to_string(),
        params: write::changed(args),
    };
    Ok(state.edit_catalog(&audited, |c| change(state, c, args))?)
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
