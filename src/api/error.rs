//! API failures, and the envelope they are answered with (`http::api` renders it):
//! `{"request_status":"Failure","errors":[{"field":…,"message":…}]}` (docs/api.md).
//!
//! | status | when |
//! |---|---|
//! | 400 | a parameter is missing, unknown, repeated, of the wrong type or out of range; bad body |
//! | 401 | `api_key` missing or not one of `api.keys` or `api.read_keys`, or a console session that is not (or no longer) valid |
//! | 403 | the client's address is outside `api.allowed_networks`; a write by a read-only key; a write with the console's cookie but without its anti-CSRF token or from another origin |
//! | 404 | unknown call, or the id the call is about does not exist |
//! | 405 | the call exists with another method (`Allow` says which) |
//! | 408 / 413 | the body came too slowly / is over `api.max_body_bytes` |
//! | 409 | the catalog file changed on disk since it was loaded (reload first); cluster mode: other nodes kept committing first |
//! | 422 | well-formed, but refused by the catalog's rules (a reference to a missing offer, a paused offer, ...) |
//! | 429 | too many console sign-ins from one client (`console.sign_in_attempts_per_minute`) |
//! | 503 | the catalog could not be written (disk), too many writes are waiting, or (cluster mode) Redis is unreachable; nothing changed |
//!
//! Messages name what to fix; they never carry internal details (paths, OS errors).

use serde::Serialize;

use crate::catalog::validate::Problem;
use crate::state::EditError;
use crate::vocab::Rejection;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldError {
    /// The offending parameter; `null` when the problem is the request as a whole.
    pub field: Option<String>,
    pub message: String,
}

impl FieldError {
    pub fn new(field: Option<&str>, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.map(str::to_string),
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub rejection: Rejection,
    pub errors: Vec<FieldError>,
    /// For `405`: the method the call takes.
    pub allow: Option<&'static str>,
}

impl ApiError {
    pub(super) fn one(
        rejection: Rejection,
        field: Option<&str>,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            rejection,
            errors: vec![FieldError::new(field, message)],
            allow: None,
        }
    }

    pub fn bad_request(field: Option<&str>, message: impl Into<String>) -> ApiError {
        ApiError::one(Rejection::BadRequest, field, message)
    }

    pub fn bad_request_all(errors: Vec<FieldError>) -> ApiError {
        ApiError {
            rejection: Rejection::BadRequest,
            errors,
            allow: None,
        }
    }

    /// A `422`: every value has the documented form, and these cannot be used.
    pub fn unprocessable_all(errors: Vec<FieldError>) -> ApiError {
        ApiError {
            rejection: Rejection::Unprocessable,
            errors,
            allow: None,
        }
    }

    pub fn unauthorized() -> ApiError {
        ApiError::one(
            Rejection::Unauthorized,
            Some("api_key"),
            "missing or not a valid API key",
        )
    }

    /// A console session cookie that is not accepted (`401`).
    pub fn session(why: crate::console::session::Refused) -> ApiError {
        use crate::console::session::Refused;
        let message = match why {
            Refused::Invalid => {
                "the console session is not valid here (the server restarted, or its key was removed); sign in again"
            }
            Refused::Expired => "the console session has expired; sign in again",
            Refused::Revoked => "the console session was signed out; sign in again",
        };
        ApiError::one(Rejection::Unauthorized, None, message)
    }

    /// Too many sign-in attempts from this client; retry after the limit's window.
    pub fn too_many_sign_ins() -> ApiError {
        ApiError::one(
            Rejection::TooManyRequests,
            Some("api_key"),
            "too many sign-in attempts from this address; wait a minute and try again",
        )
    }

    /// The client's address is not in `api.allowed_networks`.
    pub fn forbidden() -> ApiError {
        ApiError::one(
            Rejection::Forbidden,
            None,
            "the management API is not open to this address",
        )
    }

    pub fn not_found(field: Option<&str>, message: impl Into<String>) -> ApiError {
        ApiError::one(Rejection::NotFound, field, message)
    }

    /// A `404`: the entity named by `field` (`smart_link_id`, ...) with id `id` does not exist.
    pub fn missing(field: &str, id: u32) -> ApiError {
        let what = field.trim_end_matches("_id").replace('_', " ");
        ApiError::not_found(Some(field), format!("{what} {id} does not exist"))
    }

    pub fn method_not_allowed(allow: &'static str) -> ApiError {
        ApiError {
            allow: Some(allow),
            ..ApiError::one(
                Rejection::MethodNotAllowed,
                None,
                format!("this call takes {allow}"),
            )
        }
    }

    pub fn unprocessable(field: Option<&str>, message: impl Into<String>) -> ApiError {
        ApiError::one(Rejection::Unprocessable, field, message)
    }

    /// A `422`: the edited catalog breaks these of the catalog's rules.
    pub fn invalid(problems: &[Problem]) -> ApiError {
        ApiError {
            rejection: Rejection::Unprocessable,
            errors: problems
                .iter()
                .map(|p| {
                    let field = problem_field(p);
                    FieldError::new((!field.is_empty()).then_some(field), &p.message)
                })
                .collect(),
            allow: None,
        }
    }

    pub fn payload_too_large(limit: usize) -> ApiError {
        ApiError::one(
            Rejection::PayloadTooLarge,
            None,
            format!("the request body is over {limit} bytes"),
        )
    }

    /// Too many writes are waiting their turn.
    pub fn busy() -> ApiError {
        ApiError::one(
            Rejection::Unavailable,
            None,
            "too many writes are waiting; nothing was changed; retry later",
        )
    }

    /// A change preview is already running (one at a time: each may read a million records).
    pub fn preview_running() -> ApiError {
        ApiError::one(
            Rejection::Unavailable,
            None,
            "another change preview is running; retry when it has answered",
        )
    }

    /// Cluster mode: Redis does not answer.
    pub fn shared_unavailable() -> ApiError {
        ApiError::one(
            Rejection::Unavailable,
            None,
            "the cluster's shared state cannot be reached; retry later",
        )
    }

    pub fn internal() -> ApiError {
        ApiError::one(Rejection::Internal, None, "internal error")
    }

    /// The failure envelope: `{"request_status":"Failure","errors":[…]}`.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({
            "request_status": "Failure",
            "errors": self.errors,
        })
    }
}

impl From<Rejection> for ApiError {
    /// A refusal of the HTTP side (a target or body too long, a body too slow) in the API's
    /// envelope.
    fn from(rejection: Rejection) -> ApiError {
        let message = match rejection {
            Rejection::UriTooLong => "the request target is too long",
            Rejection::Timeout => "the request body was not received in time",
            Rejection::BadRequest => "the request body could not be read",
            _ => "internal error",
        };
        ApiError::one(rejection, None, message)
    }
}

/// The request field a catalog problem is about: the last name of its JSON path
/// (`.offers[2].offer_weight` → `offer_weight`, `.allowed_countries[1]` → `allowed_countries`).
fn problem_field(p: &Problem) -> &str {
    let last = p.field.rsplit('.').next().unwrap_or("");
    last.split('[').next().unwrap_or(last)
}

impl From<EditError<ApiError>> for ApiError {
    fn from(e: EditError<ApiError>) -> ApiError {
        match e {
            EditError::Rejected(e) => e,
            EditError::Invalid(problems) => ApiError::invalid(&problems),
            EditError::FileChanged => ApiError::one(
                Rejection::Conflict,
                None,
                "the catalog file changed on disk since it was loaded; reload it (SIGHUP) and retry",
            ),
            EditError::Io(_) => ApiError::one(
                Rejection::Unavailable,
                None,
                "the catalog could not be saved; nothing was changed; retry later",
            ),
            EditError::Unavailable(_) => ApiError::one(
                Rejection::Unavailable,
                None,
                "the cluster's shared state cannot be reached; nothing was changed; retry later",
            ),
            EditError::Conflict => ApiError::one(
                Rejection::Conflict,
                None,
                "other nodes kept changing the catalog at the same moment; nothing was changed; retry",
            ),
            EditError::CompilePanicked => ApiError::one(
                Rejection::Internal,
                None,
                "internal error; nothing was changed",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::validate::Kind;

    #[test]
    fn catalog_problems_name_the_request_field() {
        let problem = |field: &str| Problem {
            kind: Kind::SmartLinks,
            index: 0,
            field: field.into(),
            message: "m".into(),
        };
        assert_eq!(
            problem_field(&problem(".offers[2].offer_weight")),
            "offer_weight"
        );
        assert_eq!(
            problem_field(&problem(".allowed_countries[1]")),
            "allowed_countries"
        );
        assert_eq!(
            problem_field(&problem(".caps.daily_clicks")),
            "daily_clicks"
        );
        assert_eq!(problem_field(&problem("")), "");
    }
}
