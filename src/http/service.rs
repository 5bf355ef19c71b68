//! Request dispatch: path and method → handler, and the request latency histogram.

use std::net::IpAddr;

use http::{Method, Request, Response, StatusCode};

use super::click;
use super::response::{Body, Reject, owned, text};
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
            p if p.starts_with(click::CAMPAIGN_PREFIX) => Endpoint::CampaignToken,
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

/// Answers one request to any endpoint but [`Endpoint::Postback`] and the API. Synchronous:
/// none of these endpoints reads a request body or waits for anything.
/// `endpoint` is `Endpoint::of` the request's path, worked out once by the dispatcher.
pub fn respond<B>(
    state: &State,
    req: &Request<B>,
    peer: IpAddr,
    endpoint: Option<Endpoint>,
) -> Response<Body> {
    let started = crate::clock::now();
    // One snapshot for the whole request, even if a reload lands meanwhile.
    let snapshot = state.snapshot();
    let uri = req.uri();
    let target_len = uri.path_and_query().map_or(0, |p| p.as_str().len());
    let is_get_or_head = matches!(*req.method(), Method::GET | Method::HEAD);
    let click_request = || click::ClickRequest {
        method: req.method(),
        uri,
        headers: req.headers(),
        peer,
        started,
    };
    let result = match endpoint {
        _ if target_len > snapshot.settings.limits.max_uri_bytes => Err(Reject::UriTooLong),
        None | Some(Endpoint::Postback) => Err(Reject::NotFound),
        Some(e) if !is_get_or_head => Err(Reject::MethodNotAllowed { allow: e.allow() }),
        Some(Endpoint::SmartLink) => click::smart_link(state, &snapshot, &click_request()),
        Some(Endpoint::Campaign) => click::campaign(state, &snapshot, &click_request(), None),
        Some(Endpoint::CampaignToken) => click::campaign(
            state,
            &snapshot,
            &click_request(),
            uri.path().strip_prefix(click::CAMPAIGN_PREFIX),
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
    let kind = match endpoint {
        Some(Endpoint::SmartLink) => EndpointKind::SmartLink,
        Some(Endpoint::Campaign | Endpoint::CampaignToken) => EndpointKind::Campaign,
        _ => EndpointKind::Other,
    };
    state.metrics.observe(kind, started.elapsed());
    response
}
