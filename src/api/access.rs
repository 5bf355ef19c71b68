//! Who makes a call, and what they may do (docs/console.md#sign-in-and-roles).
//!
//! A call is made with an `api_key`, or, from the console, with the session cookie its
//! sign-in set (`console::session`). `api.keys` are administrators; `api.read_keys` may make
//! every read and no write: a write call of theirs is answered `403`, counted
//! (`smartlink_api_read_only_refusals_total`) and appended to the audit log as refused.
//! A write made with the cookie must also carry its session's anti-CSRF token in
//! `X-CSRF-Token` and come from this server's own origin (`Origin`), so that no other site
//! can make one in a signed-in browser.

use std::sync::Arc;

use serde_json::Value;

use super::calls::Call;
use super::error::ApiError;
use super::params::Raw;
use super::{ApiRequest, write};
use crate::console::session::{Refused, Session};
use crate::metrics::SessionRefusal;
use crate::settings::{Access, Settings};
use crate::state::State;
use crate::vocab::Rejection;

/// Who makes a call.
pub struct Caller {
    /// The fingerprint of the key (`audit::fingerprint`), the audit log's name for it.
    pub key: String,
    pub access: Access,
    /// The console session, when the call came with its cookie instead of a key.
    pub session: Option<Session>,
}

/// The caller of `call`: the `api_key` given, else the request's console session. Cluster
/// mode asks Redis whether the session was signed out on another node.
pub async fn caller(
    state: &State,
    settings: &Settings,
    key: Option<&str>,
    req: &ApiRequest<'_>,
    call: &Call,
) -> Result<Caller, ApiError> {
    if let Some(key) = key {
        if call.needs_session() {
            return Err(ApiError::bad_request(
                Some("api_key"),
                "this call is about a console session: it takes the session cookie, not an api_key",
            ));
        }
        let access = settings
            .api
            .access(key)
            .ok_or_else(ApiError::unauthorized)?;
        return Ok(Caller {
            key: crate::audit::fingerprint(key),
            access,
            session: None,
        });
    }
    let proof = match &req.session {
        Some(proof) if settings.console.enabled => proof,
        _ => return Err(ApiError::unauthorized()),
    };
    let now = crate::clock::unix_secs(std::time::SystemTime::now());
    let refused = |why: Refused| {
        state.metrics.session_refused(match why {
            Refused::Invalid => SessionRefusal::Invalid,
            Refused::Expired => SessionRefusal::Expired,
            Refused::Revoked => SessionRefusal::Revoked,
        });
        ApiError::session(why)
    };
    let session = state
        .sessions
        .verify(settings, proof.token, now)
        .map_err(refused)?;
    if let Some(shared) = &state.shared {
        match shared.session_revoked(&session.id_hex()).await {
            Ok(false) => {}
            Ok(true) => {
                state.sessions.revoke(&session, now);
                return Err(refused(Refused::Revoked));
            }
            Err(_) => return Err(ApiError::shared_unavailable()),
        }
    }
    if call.takes_body() {
        let token_holds = proof
            .csrf
            .is_some_and(|t| state.sessions.csrf_holds(settings, &session, t));
        if !(token_holds && proof.same_origin) {
            state.metrics.session_refused(SessionRefusal::Csrf);
            return Err(ApiError::one(
                Rejection::Forbidden,
                None,
                "a call made with the console's session cookie must carry its X-CSRF-Token header and come from the console's own origin",
            ));
        }
    }
    Ok(Caller {
        key: session.key.clone(),
        access: session.access,
        session: Some(session),
    })
}

/// The answer to a write call by a read-only caller: `403`, counted, and appended to the
/// audit log as refused (with the call's parameters when they check, else `null`).
pub async fn refuse_read_only(
    state: &Arc<State>,
    caller: &Caller,
    call: &Call,
    raw: Raw,
) -> ApiError {
    state.metrics.read_only_refusals.inc();
    let params = raw
        .check(call.params)
        .map_or(Value::Null, |args| write::changed(&args));
    let change = crate::audit::Change {
        key: Some(caller.key.clone()),
        call: call.name.to_string(),
        params,
    };
    let audited = Arc::clone(state);
    // The append fsyncs: off the async threads.
    let _ = tokio::task::spawn_blocking(move || audited.audit_refusal(&change, "read_only")).await;
    ApiError::one(
        Rejection::Forbidden,
        None,
        "this key is read-only (api.read_keys): it may read everything and change nothing",
    )
}
