//! Request targets (path → endpoint), and the synchronous endpoints' answers.

use std::net::IpAddr;

use http::{Method, Request, Response, StatusCode};

use super::redirect;
use super::response::{Body, PlainError, owned, text};
use crate::metrics::EndpointKind;
use crate::state::State;

/// Every endpoint outside the management API (`api::calls` lists those).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    SmartLink,
    Campaign,
    CampaignToken,
    Postback,
    Health,
    Ready,
    Metrics,
}

impl Endpoint {
    pub const ALL: [Endpoint; 7] = [
        Endpoint::SmartLink,
        Endpoint::Campaign,
        Endpoint::CampaignToken,
        Endpoint::Postback,
        Endpoint::Health,
        Endpoint::Ready,
        Endpoint::Metrics,
    ];

    /// The endpoint serving `path`.
    #[inline]
    pub fn of(path: &str) -> Option<Endpoint> {
        Some(match path {
            "/sl" => Endpoint::SmartLink,
            "/rd/r.php" => Endpoint::Campaign,
            "/p" => Endpoint::Postback,
            "/healthz" => Endpoint::Health,
            "/readyz" => Endpoint::Ready,
            "/metrics" => Endpoint::Metrics,
            p if p.starts_with(redirect::CAMPAIGN_PREFIX) => Endpoint::CampaignToken,
            _ => return None,
        })
    }

    /// Its path as the OpenAPI document writes it.
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::SmartLink => "/sl",
            Endpoint::Campaign => "/rd/r.php",
            Endpoint::CampaignToken => "/rd/{token}",
            Endpoint::Postback => "/p",
            Endpoint::Health => "/healthz",
            Endpoint::Ready => "/readyz",
            Endpoint::Metrics => "/metrics",
        }
    }

    /// The methods it answers (the `Allow` header of its `405`).
    pub fn allow(self) -> &'static str {
        match self {
            Endpoint::Postback => "GET, POST",
            _ => "GET, HEAD",
        }
    }
}

/// Where a request goes: a plain endpoint, the management API, the operator console, or
/// nowhere (`404`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Endpoint(Endpoint),
    Api,
    Console,
    Unknown,
}

impl Target {
    /// The target of `path`.
    #[inline]
    pub fn of(path: &str) -> Target {
        match Endpoint::of(path) {
            Some(e) => Target::Endpoint(e),
            None if path.starts_with(crate::api::PREFIX) => Target::Api,
            None if super::console::is_console(path) => Target::Console,
            None => Target::Unknown,
        }
    }

    /// The label of its latency histogram.
    pub fn kind(self) -> EndpointKind {
        match self {
            Target::Endpoint(Endpoint::SmartLink) => EndpointKind::SmartLink,
            Target::Endpoint(Endpoint::Campaign | Endpoint::CampaignToken) => {
                EndpointKind::Campaign
            }
            Target::Endpoint(Endpoint::Postback) => EndpointKind::Postback,
            Target::Api => EndpointKind::Api,
            _ => EndpointKind::Other,
        }
    }
}

/// Answers one request to a synchronous target (every endpoint but the postback and the
/// API: none of them reads a request body or waits for anything) and times it in its
/// endpoint's latency histogram. `started` is when the dispatcher took the request.
pub fn respond<B>(
    state: &State,
    req: &Request<B>,
    peer: IpAddr,
    target: Target,
    started: crate::clock::Instant,
) -> Response<Body> {
    let endpoint = match target {
        Target::Endpoint(e) => Some(e),
        Target::Console => {
            let response = super::console::respond(state, req, peer);
            state.metrics.observe(target.kind(), started.elapsed());
            return response;
        }
        Target::Api | Target::Unknown => None,
    };
    // One snapshot for the whole request, even if a reload lands meanwhile.
    let snapshot = state.snapshot();
    let uri = req.uri();
    let is_get_or_head = matches!(*req.method(), Method::GET | Method::HEAD);
    let click_request = || redirect::ClickRequest {
        method: req.method(),
        uri,
        headers: req.headers(),
        peer,
        started,
    };
    let result = match endpoint {
        None | Some(Endpoint::Postback) => Err(PlainError::NOT_FOUND),
        Some(e) if !is_get_or_head => Err(PlainError::method_not_allowed(e.allow())),
        Some(Endpoint::SmartLink) => redirect::smart_link(state, &snapshot, &click_request()),
        Some(Endpoint::Campaign) => redirect::campaign(state, &snapshot, &click_request(), None),
        Some(Endpoint::CampaignToken) => redirect::campaign(
            state,
            &snapshot,
            &click_request(),
            uri.path().strip_prefix(redirect::CAMPAIGN_PREFIX),
        ),
        Some(Endpoint::Health) => Ok(text(StatusCode::OK, "ok\n")),
        Some(Endpoint::Ready) if state.is_draining() => {
            Ok(text(StatusCode::SERVICE_UNAVAILABLE, "draining\n"))
        }
        Some(Endpoint::Ready) => Ok(text(StatusCode::OK, "ready\n")),
        Some(Endpoint::Metrics) => Ok(owned(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            state.render_metrics(&snapshot),
        )),
    };
    let response = result.unwrap_or_else(|r| r.response(&state.metrics));
    state.metrics.observe(target.kind(), started.elapsed());
    response
}
