//! Every response the server builds, and the one place where a rejection becomes a status.
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

/// A request the server refuses, with the reason a client may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    BadRequest(&'static str),
    NotFound,
    MethodNotAllowed {
        allow: &'static str,
    },
    UriTooLong,
    /// A request body over its limit.
    PayloadTooLarge,
    /// The client did not send its request body in time.
    Timeout,
    /// A bug, not the client's doing; logged where it happens.
    Internal,
}

impl Reject {
    /// The response for this rejection; counts it.
    pub fn response(self, metrics: &Metrics) -> Response<Body> {
        let (rejection, body) = match self {
            Reject::BadRequest(why) => (Rejection::BadRequest, why),
            Reject::NotFound => (Rejection::NotFound, "not found\n"),
            Reject::MethodNotAllowed { .. } => {
                (Rejection::MethodNotAllowed, "method not allowed\n")
            }
            Reject::UriTooLong => (Rejection::UriTooLong, "request target too long\n"),
            Reject::PayloadTooLarge => (Rejection::PayloadTooLarge, "request body too large\n"),
            Reject::Timeout => (Rejection::Timeout, "request body not received in time\n"),
            Reject::Internal => (Rejection::Internal, "internal error\n"),
        };
        metrics.rejected(rejection);
        let mut resp = text(rejection.status(), body);
        resp.headers_mut().insert(CACHE_CONTROL, NO_STORE);
        if let Reject::MethodNotAllowed { allow } = self {
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
