//! Every plain response the server builds (the API's JSON ones are `http::api`'s).
//!
//! Bodies of errors are short fixed texts: never an echo of the request, never an internal
//! detail.

use bytes::Bytes;
use http::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, LOCATION};
use http::{HeaderValue, Response, StatusCode};
use http_body_util::Full;

use crate::metrics::Metrics;
use crate::vocab::Rejection;

pub type Body = Full<Bytes>;

const NO_STORE: HeaderValue = HeaderValue::from_static("no-store");
const TEXT: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");

/// A request the server refuses: why ([`Rejection`], whose `status` is the one mapping to
/// a status code), the short text a client may read, and for a `405` the methods allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlainError {
    pub why: Rejection,
    pub text: &'static str,
    pub allow: Option<&'static str>,
}

impl PlainError {
    pub const NOT_FOUND: PlainError = PlainError::new(Rejection::NotFound, "not found\n");
    pub const FORBIDDEN: PlainError = PlainError::new(Rejection::Forbidden, "forbidden\n");
    pub const URI_TOO_LONG: PlainError =
        PlainError::new(Rejection::UriTooLong, "request target too long\n");
    pub const PAYLOAD_TOO_LARGE: PlainError =
        PlainError::new(Rejection::PayloadTooLarge, "request body too large\n");
    pub const TIMEOUT: PlainError =
        PlainError::new(Rejection::Timeout, "request body not received in time\n");
    /// A bug, not the client's doing; logged where it happens.
    pub const INTERNAL: PlainError = PlainError::new(Rejection::Internal, "internal error\n");

    const fn new(why: Rejection, text: &'static str) -> PlainError {
        PlainError {
            why,
            text,
            allow: None,
        }
    }

    pub const fn bad_request(text: &'static str) -> PlainError {
        PlainError::new(Rejection::BadRequest, text)
    }

    pub const fn method_not_allowed(allow: &'static str) -> PlainError {
        PlainError {
            allow: Some(allow),
            ..PlainError::new(Rejection::MethodNotAllowed, "method not allowed\n")
        }
    }

    /// The response for this rejection; counts it.
    pub fn response(self, metrics: &Metrics) -> Response<Body> {
        metrics.rejected(self.why);
        let mut resp = text(self.why.status(), self.text);
        resp.headers_mut().insert(CACHE_CONTROL, NO_STORE);
        if let Some(allow) = self.allow {
            resp.headers_mut()
                .insert(ALLOW, HeaderValue::from_static(allow));
        }
        resp
    }
}

/// `302 Found` to `location`, not cacheable, empty body.
pub fn redirect(location: HeaderValue) -> Response<Body> {
    let mut resp = Response::new(Body::default());
    *resp.status_mut() = StatusCode::FOUND;
    let h = resp.headers_mut();
    h.insert(LOCATION, location);
    h.insert(CACHE_CONTROL, NO_STORE);
    resp
}

/// A short plain-text response.
pub fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, TEXT);
    resp
}

/// A JSON response with a fixed body, not cacheable (postbacks).
pub fn json(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(CACHE_CONTROL, NO_STORE);
    resp
}

/// A response with a body and content type made at run time (metrics).
pub fn owned(status: StatusCode, content_type: &'static str, body: String) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}
