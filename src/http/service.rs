//! Request dispatch: path and method → handler, and the request latency histogram.

use std::net::IpAddr;

use http::{Method, Request, Response, StatusCode};

use super::click;
use super::response::{Body, Reject, owned, text};
use crate::state::State;

const GET_HEAD: &str = "GET, HEAD";
/// The postback path, served by `postback` (asynchronously) before `respond` is called.
pub const POSTBACK: &str = "/p";

/// Answers one request to any path but [`POSTBACK`]. Synchronous: none of these endpoints
/// reads a request body or waits for anything.
pub fn respond<B>(state: &State, req: &Request<B>, peer: IpAddr) -> Response<Body> {
    let started = crate::clock::now();
    // One snapshot for the whole request, even if a reload lands meanwhile.
    let snapshot = state.snapshot();
    let uri = req.uri();
    let target_len = uri.path_and_query().map_or(0, |p| p.as_str().len());
    let is_get_or_head = matches!(*req.method(), Method::GET | Method::HEAD);
    let result = if target_len > snapshot.settings.limits.max_uri_bytes {
        Err(Reject::UriTooLong)
    } else if !matches!(uri.path(), "/sl" | "/healthz" | "/readyz" | "/metrics") {
        Err(Reject::NotFound)
    } else if !is_get_or_head {
        Err(Reject::MethodNotAllowed { allow: GET_HEAD })
    } else {
        match uri.path() {
            "/sl" => click::smart_link(
                state,
                &snapshot,
                req.method(),
                uri,
                req.headers(),
                peer,
                started,
            ),
            "/healthz" => Ok(text(StatusCode::OK, "ok\n")),
            "/readyz" if state.is_draining() => {
                Ok(text(StatusCode::SERVICE_UNAVAILABLE, "draining\n"))
            }
            "/readyz" => Ok(text(StatusCode::OK, "ready\n")),
            _ => Ok(owned(
                StatusCode::OK,
                "text/plain; version=0.0.4; charset=utf-8",
                state.render_metrics(),
            )),
        }
    };
    let response = result.unwrap_or_else(|r| r.response(&state.metrics));
    state.metrics.request_duration.observe(started.elapsed());
    response
}
