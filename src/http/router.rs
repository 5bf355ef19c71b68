//! The router: every request of every connection passes here. The one table of endpoints
//! (path → [`Endpoint`], with the methods each answers), what a listener's [`Role`] serves,
//! the one check of a request before its handler ([`check`]: target length, a served target,
//! the method) and the one place a request is timed ([`time`], when its answer is ready),
//! then the handler: the synchronous ones here ([`respond`]), the postback and the API as
//! futures.

use std::convert::Infallible;
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::Either;
use http::{Method, Request, Response, StatusCode};
use hyper::service::service_fn;

use super::response::{Body, PlainError, owned, text};
use super::{api, console, postback, redirect};
use crate::metrics::{EndpointKind, Metrics};
use crate::state::State;
use crate::vocab::Rejection;

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

    fn allows(self, method: &Method) -> bool {
        match self {
            Endpoint::Postback => matches!(*method, Method::GET | Method::POST),
            _ => matches!(*method, Method::GET | Method::HEAD),
        }
    }
}

/// What a listener serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Everything (no admin listener is configured).
    All,
    /// Tracking links, postbacks and health; `404` for the API, the console and `/metrics`.
    Public,
    /// The API, the console, `/metrics` and health; `404` for everything else.
    Admin,
}

impl Role {
    /// Whether this listener serves `target`.
    pub fn serves(self, target: Target) -> bool {
        let admin_only = matches!(
            target,
            Target::Api | Target::Console | Target::Endpoint(Endpoint::Metrics)
        );
        let anywhere = matches!(target, Target::Endpoint(Endpoint::Health | Endpoint::Ready));
        match self {
            Role::All => true,
            Role::Public => !admin_only,
            Role::Admin => admin_only || anywhere,
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
            None if console::is_console(path) => Target::Console,
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

/// Why the router refuses a request before any handler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// The request target is longer than `server.max_uri_bytes` (`414`).
    TooLong,
    /// No endpoint here serves the path (`404`).
    NotFound,
    /// The endpoint does not answer this method (`405`).
    Method(Endpoint),
}

/// The one check of a request before its handler, in this order: the target's length, a
/// target this listener serves (`target` is [`Target::Unknown`] otherwise), the method.
/// The API checks each call's method against its own table (`api::calls`), the console
/// against its files'.
pub fn check<B>(req: &Request<B>, target: Target, max_uri_bytes: usize) -> Result<(), Refused> {
    if req.uri().path_and_query().map_or(0, |p| p.as_str().len()) > max_uri_bytes {
        return Err(Refused::TooLong);
    }
    match target {
        Target::Unknown => Err(Refused::NotFound),
        Target::Endpoint(e) if !e.allows(req.method()) => Err(Refused::Method(e)),
        Target::Endpoint(_) | Target::Api | Target::Console => Ok(()),
    }
}

/// Times a request in its endpoint's latency histogram: called once for every request,
/// when its answer is ready. `started` is when the router took it.
#[inline]
pub fn time(metrics: &Metrics, target: Target, started: crate::clock::Instant) {
    metrics.observe(target.kind(), started.elapsed());
}

/// The service of one connection from `client` on a listener of `role`. Postbacks wait for
/// the ledger's fsync and API calls read bodies and write the catalog; every other request
/// is answered synchronously ([`respond`]) and pays for no boxed future and no reference
/// count.
pub(super) fn service(
    role: Role,
    max_uri_bytes: usize,
    state: Arc<State>,
    client: IpAddr,
    activity: Arc<Activity>,
) -> impl hyper::service::Service<
    http::Request<hyper::body::Incoming>,
    Response = http::Response<Body>,
    Error = Infallible,
    Future = impl Future<Output = Result<http::Response<Body>, Infallible>> + Send,
> + Clone {
    service_fn(move |req: http::Request<hyper::body::Incoming>| {
        let started = crate::clock::now();
        let target = match Target::of(req.uri().path()) {
            t if role.serves(t) => t,
            _ => Target::Unknown,
        };
        let admitted = check(&req, target, max_uri_bytes).is_ok();
        // The asynchronous targets are timed when their answer is ready.
        let timed = |state: &State| {
            let metrics = Arc::clone(&state.metrics);
            move |response| {
                time(&metrics, target, started);
                Ok::<_, Infallible>(response)
            }
        };
        match target {
            Target::Endpoint(Endpoint::Postback) if admitted => {
                let (in_flight, timed) = (InFlight::start(&activity), timed(&state));
                Either::Left(Either::Left(
                    postback::postback(Arc::clone(&state), req, client, started).map(move |r| {
                        drop(in_flight);
                        timed(r)
                    }),
                ))
            }
            Target::Api if admitted => {
                let (in_flight, timed) = (InFlight::start(&activity), timed(&state));
                Either::Left(Either::Right(
                    api::handle(Arc::clone(&state), req, client).map(move |r| {
                        drop(in_flight);
                        timed(r)
                    }),
                ))
            }
            _ => {
                let response = respond(&state, &req, client, target, started);
                activity.answered(started);
                Either::Right(std::future::ready(Ok(response)))
            }
        }
    })
}

/// Answers a request to a synchronous target (every endpoint but the postback and the API:
/// none of them reads a request body or waits for anything), or the router's refusal of any
/// request, and times it. `started` is when the router took the request.
pub fn respond<B>(
    state: &State,
    req: &Request<B>,
    peer: IpAddr,
    target: Target,
    started: crate::clock::Instant,
) -> Response<Body> {
    // One snapshot for the whole request, even if a reload lands meanwhile.
    let snapshot = state.snapshot();
    let uri = req.uri();
    let click_request = || redirect::ClickRequest {
        method: req.method(),
        uri,
        headers: req.headers(),
        peer,
        started,
    };
    let max_uri_bytes = snapshot.settings.server.limits.max_uri_bytes;
    let result = match (check(req, target, max_uri_bytes), target) {
        (Err(Refused::TooLong), Target::Api) => {
            let response = api::failure(&Rejection::UriTooLong.into(), &state.metrics);
            time(&state.metrics, target, started);
            return response;
        }
        (Err(Refused::TooLong), _) => Err(PlainError::URI_TOO_LONG),
        (Err(Refused::NotFound), _) => Err(PlainError::NOT_FOUND),
        (Err(Refused::Method(e)), _) => Err(PlainError::method_not_allowed(e.allow())),
        (Ok(()), Target::Endpoint(Endpoint::SmartLink)) => {
            redirect::smart_link(state, &snapshot, &click_request())
        }
        (Ok(()), Target::Endpoint(Endpoint::Campaign)) => {
            redirect::campaign(state, &snapshot, &click_request(), None)
        }
        (Ok(()), Target::Endpoint(Endpoint::CampaignToken)) => redirect::campaign(
            state,
            &snapshot,
            &click_request(),
            uri.path().strip_prefix(redirect::CAMPAIGN_PREFIX),
        ),
        (Ok(()), Target::Console) => Ok(console::respond(state, req, peer)),
        (Ok(()), Target::Endpoint(Endpoint::Health)) => Ok(text(StatusCode::OK, "ok\n")),
        (Ok(()), Target::Endpoint(Endpoint::Ready)) if state.is_draining() => {
            Ok(text(StatusCode::SERVICE_UNAVAILABLE, "draining\n"))
        }
        (Ok(()), Target::Endpoint(Endpoint::Ready)) => Ok(text(StatusCode::OK, "ready\n")),
        (Ok(()), Target::Endpoint(Endpoint::Metrics)) => Ok(owned(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            state.render_metrics(&snapshot),
        )),
        // Answered by their own handlers (`service`); `check` refuses `Unknown`.
        (Ok(()), Target::Endpoint(Endpoint::Postback) | Target::Api | Target::Unknown) => {
            Err(PlainError::NOT_FOUND)
        }
    };
    let response = result.unwrap_or_else(|r| r.response(&state.metrics));
    time(&state.metrics, target, started);
    response
}

/// Requests of one connection: in progress now, and when the last one was answered.
pub(super) struct Activity {
    /// When the connection began to be served: the origin of `answered_ns`.
    born: crate::clock::Instant,
    pub(super) in_flight: AtomicU32,
    /// When the last request was answered, in ns after `born` (0: none yet).
    answered_ns: AtomicU64,
}

impl Activity {
    pub(super) fn new() -> Activity {
        Activity {
            born: crate::clock::now(),
            in_flight: AtomicU32::new(0),
            answered_ns: AtomicU64::new(0),
        }
    }

    /// A request was answered at `at` (one uncontended atomic on the connection's own line:
    /// the clock was read already, for the latency histogram).
    #[inline]
    pub(super) fn answered(&self, at: crate::clock::Instant) {
        let ns = at.saturating_duration_since(self.born).as_nanos() as u64;
        self.answered_ns.fetch_max(ns, Ordering::Relaxed);
    }

    /// How long the connection has had no request in progress and none answered; `None`
    /// while one is in progress.
    pub(super) fn quiet_for(&self) -> Option<Duration> {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let last = self.born + Duration::from_nanos(self.answered_ns.load(Ordering::Relaxed));
        Some(crate::clock::now().saturating_duration_since(last))
    }
}

/// Marks a request in progress for as long as it lives.
pub(super) struct InFlight(Arc<Activity>);

impl InFlight {
    pub(super) fn start(activity: &Arc<Activity>) -> InFlight {
        activity.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(Arc::clone(activity))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.answered(crate::clock::now());
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}
