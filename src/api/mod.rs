//! The management API (docs/api.md): CAKE API v2 paths and JSON shapes under `/api/2/`.
//!
//! request → call (`calls::CALLS`: path, method, parameters, handler) → raw parameters
//! (query string for GET; JSON or form body for POST) → the caller (`access`: `api_key`, or
//! a console session cookie; its role: a read-only key's writes are refused) → checked
//! [`params::Args`] → handler → the success body, or an [`ApiError`]. Nothing here knows
//! HTTP connections: `http::api` reads the body (at most `api.max_body_bytes`, for a batch
//! `api.max_batch_body_bytes`) and renders the answer (`200` JSON, or the failure envelope
//! of `error`).
//!
//! Reads answer from the snapshot the request takes and never wait. Writes run on the
//! low-priority rebuilder thread (`rebuilder`) through `State::edit_catalog`, one at a time;
//! a batch (`batch`) is one such write, and each write is one record of the audit log. The OpenAPI
//! document of every call is `docs/openapi.json`, served at `/api/2/openapi.json` without a
//! key (it holds nothing about the network). `session` signs the console in and out;
//! `stats` holds the statistics calls beyond a link's (the network by hour, offers, the
//! audit log, the cluster's nodes).

mod access;
mod batch;
pub mod calls;
pub mod error;
pub mod fields;
pub mod openapi;
pub mod params;
mod partner;
mod preview;
mod read;
mod session;
mod stats;
mod write;

use std::net::IpAddr;
use std::sync::Arc;

use http::Method;
use serde_json::Value;

use self::calls::Action;
use self::error::ApiError;
use self::params::Raw;
use crate::rebuilder::NotRun;
use crate::settings::{Access, Settings};
use crate::state::State;

/// Every API path starts with this.
pub const PREFIX: &str = "/api/2/";
/// Where the OpenAPI 3 document of the API (`openapi`) is served, without a key.
pub const OPENAPI_PATH: &str = "/api/2/openapi.json";

/// One API request as the HTTP side hands it over: the call's name (the path after
/// [`PREFIX`]), the method, the query string and, for a `POST`, the body read whole (at most
/// `api.max_body_bytes`) with its content type; who sent it, and the console session it
/// carries, if any.
pub struct ApiRequest<'a> {
    pub name: &'a str,
    pub method: &'a Method,
    pub query: &'a str,
    pub content_type: Option<&'a [u8]>,
    pub body: &'a [u8],
    /// The client, behind trusted proxies (the sign-in limit counts per client).
    pub client: IpAddr,
    /// Whether the request came over https (through a trusted proxy that says so): a
    /// session cookie is then `Secure`.
    pub https: bool,
    /// The console session cookie, when the request carries one.
    pub session: Option<SessionProof<'a>>,
}

/// What a request offers as a console session: the cookie's token, and what guards a write
/// made with it against cross-site requests.
pub struct SessionProof<'a> {
    pub token: &'a str,
    /// The `X-CSRF-Token` header.
    pub csrf: Option<&'a str>,
    /// Whether the `Origin` header names this server (`http::api` compares it with `Host`).
    pub same_origin: bool,
}

/// A call's success: its body, and for sign-in and sign-out the session cookie to set.
pub struct Answer {
    pub body: Value,
    pub set_cookie: Option<String>,
}

impl From<Value> for Answer {
    fn from(body: Value) -> Answer {
        Answer {
            body,
            set_cookie: None,
        }
    }
}

/// Whether `client` (behind trusted proxies, as for clicks) may call the API:
/// `api.allowed_networks` is empty or holds it.
pub fn client_allowed(settings: &Settings, client: IpAddr) -> bool {
    settings.api.allowed_networks.is_empty()
        || settings
            .api
            .allowed_networks
            .iter()
            .any(|n| n.contains(&client))
}

/// Answers one API call: its success, or the failure to render.
pub async fn answer(state: &Arc<State>, req: ApiRequest<'_>) -> Result<Answer, ApiError> {
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
    if let Action::SignIn = call.action {
        raw.check(call.params)?;
        return session::sign_in(state, settings, key.as_deref(), &req);
    }
    let caller = access::caller(state, settings, key.as_deref(), &req, call).await;
    if let Action::Session = call.action {
        raw.check(call.params)?;
        return session::current(state, settings, caller).map(Answer::from);
    }
    let caller = caller?;
    if call.changes() && caller.access == Access::ReadOnly {
        return Err(access::refuse_read_only(state, &caller, call, raw).await);
    }
    let args = raw.check(call.params)?;
    let key = caller.key.clone();
    let writer = Arc::clone(state);
    let body = match call.action {
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
        Action::Operate(handler) => {
            tokio::task::spawn_blocking(move || operate(&writer, &key, call, handler, &args))
                .await
                .map_err(|_| ApiError::internal())?
        }
        Action::SignOut => return session::sign_out(state, &caller, req.https).await,
        Action::SignIn | Action::Session => Err(ApiError::internal()),
    };
    body.map(Answer::from)
}

/// Runs an operation and, when it succeeds, appends it to the audit log (its generation the
/// catalog's now: it changed none).
fn operate(
    state: &State,
    key: &str,
    call: &calls::Call,
    handler: calls::Handler,
    args: &params::Args,
) -> Result<Value, ApiError> {
    let answer = handler(state, args)?;
    let snapshot = state.snapshot();
    let record = crate::audit::Change {
        key: Some(key.to_string()),
        call: call.name.to_string(),
        params: write::changed(args),
    }
    .record(&snapshot.settings.node(), snapshot.generation);
    if let Err(e) = crate::audit::append(&snapshot.settings.state_dir, &record) {
        state.metrics.audit_write_failures.inc();
        tracing::error!(error = %e, call = call.name, "cannot append to the audit log");
    }
    Ok(answer)
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
    calls::find(name).is_some_and(calls::Call::takes_body)
}

/// The largest body the call by this name accepts: `api.max_batch_body_bytes` for a batch,
/// `api.max_body_bytes` for any other.
pub fn max_body(settings: &Settings, name: &str) -> usize {
    match calls::find(name).map(|c| c.action) {
        Some(Action::Batch | Action::Preview) => settings.api.max_batch_body_bytes,
        _ => settings.api.max_body_bytes,
    }
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
