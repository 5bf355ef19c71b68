//! The console's sign-in, session and sign-out calls (docs/console.md#sessions):
//! `sign_in.json` takes an `api_key` (in the body, never the URL) and answers the session
//! with a `Set-Cookie`; `session.json` tells the signed-in browser who it is and its
//! anti-CSRF token; `sign_out.json` ends the session on every node. Sign-ins are limited per
//! client (`console.sign_in_attempts_per_minute`) and counted by answer.

use serde_json::{Value, json};

use super::access::Caller;
use super::error::ApiError;
use super::{Answer, ApiRequest};
use crate::console::session::{Session, clear_cookie, set_cookie};
use crate::metrics::SignIn;
use crate::settings::Settings;
use crate::state::State;
use crate::vocab::Rejection;

/// `sign_in.json`: a session for `key`, its cookie set.
pub fn sign_in(
    state: &State,
    settings: &Settings,
    key: Option<&str>,
    req: &ApiRequest<'_>,
) -> Result<Answer, ApiError> {
    if !settings.console.enabled {
        return Err(ApiError::not_found(
            None,
            "the console is turned off (console.enabled = false)",
        ));
    }
    let limit = settings.console.sign_in_attempts_per_minute;
    if state
        .sessions
        .sign_in_attempt(req.client, limit, std::time::Instant::now())
        .is_err()
    {
        state.metrics.sign_in(SignIn::Limited);
        return Err(ApiError::too_many_sign_ins());
    }
    let now = crate::clock::unix_secs(std::time::SystemTime::now());
    let Some((token, session)) = key.and_then(|k| state.sessions.open(settings, k, now)) else {
        state.metrics.sign_in(SignIn::BadKey);
        tracing::info!(client = %req.client, "console sign-in refused: not a configured key");
        return Err(ApiError::unauthorized());
    };
    state.metrics.sign_in(SignIn::SignedIn);
    tracing::info!(client = %req.client, key = %session.key, role = session.access.as_str(), "console sign-in");
    let secure = settings.console.secure_cookie || req.https;
    Ok(Answer {
        body: body(state, settings, &session),
        set_cookie: Some(set_cookie(&token, settings.console.session_ttl, secure)),
    })
}

/// `session.json`: the caller's session, or `"signed_in": false` when the request carries
/// none that holds (a page asks this before it knows whether to show the sign-in form; an
/// `api_key` given instead of a cookie is still a `400`).
pub fn current(
    state: &State,
    settings: &Settings,
    caller: Result<Caller, ApiError>,
) -> Result<Value, ApiError> {
    match caller {
        Ok(Caller {
            session: Some(session),
            ..
        }) => Ok(body(state, settings, &session)),
        Ok(_) => Err(ApiError::internal()),
        Err(e) if e.rejection == Rejection::Unauthorized => Ok(json!({
            "request_status": "Success",
            "response": {"signed_in": false},
        })),
        Err(e) => Err(e),
    }
}

/// `sign_out.json`: the caller's session ended here, and in cluster mode on every node
/// (kept in Redis until it would have expired); its cookie removed.
pub async fn sign_out(state: &State, caller: &Caller, https: bool) -> Result<Answer, ApiError> {
    let session = caller.session.as_ref().ok_or_else(ApiError::unauthorized)?;
    let now = crate::clock::unix_secs(std::time::SystemTime::now());
    state.sessions.revoke(session, now);
    if let Some(shared) = &state.shared {
        let ttl = u64::try_from(session.expires - now).unwrap_or(1);
        shared
            .revoke_session(&session.id_hex(), ttl)
            .await
            .map_err(|_| ApiError::shared_unavailable())?;
    }
    let secure = state.snapshot().settings.console.secure_cookie || https;
    tracing::info!(key = %session.key, "console sign-out");
    Ok(Answer {
        body: json!({"request_status": "Success", "response": {"signed_out": true}}),
        set_cookie: Some(clear_cookie(secure)),
    })
}

/// What a session answers: its role, key, expiry and anti-CSRF token; and what the console
/// shows with every page (the network's time zone, this node, whether it is a cluster).
fn body(state: &State, settings: &Settings, session: &Session) -> Value {
    let expires_at = jiff::Timestamp::from_second(session.expires)
        .map(|t| t.to_string())
        .unwrap_or_default();
    json!({
        "request_status": "Success",
        "response": {
            "signed_in": true,
            "role": session.access.as_str(),
            "key": session.key,
            "expires_at": expires_at,
            "csrf_token": state.sessions.csrf_token(settings, session),
            "timezone": settings.tracking.timezone,
            "node": settings.node(),
            "cluster": settings.cluster.is_some(),
        },
    })
}
