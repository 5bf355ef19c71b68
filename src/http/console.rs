//! The operator console over HTTP (docs/console.md): `/console` → `/console/`, the page,
//! and its files by their hashed names (`console::assets`), each answer with the console's
//! security headers; and what a request to the API offers as a console session
//! ([`session_proof`]). Served where the API is (the admin listener when there is one),
//! to the clients `api.allowed_networks` admits, unless `console.enabled = false`.

use std::net::IpAddr;

use http::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_SECURITY_POLICY, CONTENT_TYPE,
    COOKIE, HOST, LOCATION, ORIGIN, REFERRER_POLICY, VARY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};

use super::response::{Body, PlainError};
use crate::api::SessionProof;
use crate::console::assets::{self, ASSETS, Asset, BUNDLE, ROOT};
use crate::console::session;
use crate::state::State;

/// Whether `path` is the console's.
pub fn is_console(path: &str) -> bool {
    path == "/console" || path.starts_with(ROOT)
}

/// Answers a request under `/console`.
pub fn respond<B>(state: &State, req: &Request<B>, peer: IpAddr) -> Response<Body> {
    let snapshot = state.snapshot();
    let client = snapshot.proxies.client_ip(peer, req.headers());
    let refused = if !snapshot.settings.console.enabled {
        Some(PlainError::NOT_FOUND)
    } else if !crate::api::client_allowed(&snapshot.settings, client) {
        Some(PlainError::FORBIDDEN)
    } else if !matches!(*req.method(), Method::GET | Method::HEAD) {
        Some(PlainError::method_not_allowed("GET, HEAD"))
    } else {
        None
    };
    let mut response = match refused {
        Some(r) => r.response(&state.metrics),
        None => answer(req, &state.metrics),
    };
    secure(response.headers_mut());
    response
}

fn answer<B>(req: &Request<B>, metrics: &crate::metrics::Metrics) -> Response<Body> {
    let path = req.uri().path();
    let asset = match path {
        "/console" => {
            let mut r = Response::new(Body::default());
            *r.status_mut() = StatusCode::PERMANENT_REDIRECT;
            r.headers_mut()
                .insert(LOCATION, HeaderValue::from_static(ROOT));
            return r;
        }
        ROOT => Some((&BUNDLE.page, "no-cache")),
        p => p
            .strip_prefix(ASSETS)
            .and_then(|name| BUNDLE.file(name))
            .map(|a| (a, "public, max-age=31536000, immutable")),
    };
    let Some((asset, cache)) = asset else {
        return PlainError::NOT_FOUND.response(metrics);
    };
    file(req, asset, cache)
}

/// `asset`, gzipped when the client takes it; no body for `HEAD`.
fn file<B>(req: &Request<B>, asset: &Asset, cache: &'static str) -> Response<Body> {
    let gzip = asset.gzip.as_ref().filter(|_| {
        req.headers()
            .get(ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(assets::accepts_gzip)
    });
    let bytes = gzip.unwrap_or(&asset.bytes).clone();
    let mut r = Response::new(if req.method() == Method::HEAD {
        Body::default()
    } else {
        Body::new(bytes)
    });
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    h.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    if asset.gzip.is_some() {
        h.insert(VARY, HeaderValue::from_static("accept-encoding"));
    }
    if gzip.is_some() {
        h.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    r
}

/// The headers every console answer carries: a Content-Security-Policy that allows
/// nothing but the console's own files and calls (no inline script or style) and no
/// framing, no content sniffing, no referrer.
fn secure(h: &mut HeaderMap) {
    h.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(crate::console::CONTENT_SECURITY_POLICY),
    );
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        HeaderName::from_static("cross-origin-resource-policy"),
        HeaderValue::from_static("same-origin"),
    );
}

/// The console session an API request offers: the token of its session cookie, its
/// `X-CSRF-Token` header, and whether its `Origin` names the server it was sent to (the
/// host and port of `Origin` equal to `Host`, or to the target's authority in HTTP/2).
/// `None` without the cookie.
pub fn session_proof(parts: &http::request::Parts) -> Option<SessionProof<'_>> {
    let token = session::token_in(parts.headers.get_all(COOKIE).iter().map(|v| v.as_bytes()))?;
    let csrf = parts
        .headers
        .get(session::CSRF_HEADER)
        .and_then(|v| v.to_str().ok());
    let host = parts
        .headers
        .get(HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| parts.uri.authority().map(|a| a.as_str()));
    let origin = parts
        .headers
        .get(ORIGIN)
        .and_then(|v| v.to_str().ok())
        .and_then(|o| o.split_once("://"))
        .map(|(_, authority)| authority);
    let same_origin = matches!((origin, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h));
    Some(SessionProof {
        token,
        csrf,
        same_origin,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(headers: &[(&str, &str)]) -> http::request::Parts {
        let mut b = Request::builder().method("POST").uri("/api/2/batch.json");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn the_origin_must_name_the_host_the_request_was_sent_to() {
        let cookie = ("cookie", "smartlink_session=t.m");
        let same = |headers: &[(&str, &str)]| session_proof(&parts(headers)).unwrap().same_origin;
        assert!(same(&[
            cookie,
            ("host", "127.0.0.1:9090"),
            ("origin", "http://127.0.0.1:9090")
        ]));
        assert!(same(&[
            cookie,
            ("host", "Console.Example"),
            ("origin", "https://console.example")
        ]));
        assert!(!same(&[
            cookie,
            ("host", "127.0.0.1:9090"),
            ("origin", "http://evil.example")
        ]));
        assert!(!same(&[
            cookie,
            ("host", "127.0.0.1:9090"),
            ("origin", "http://127.0.0.1:9091")
        ]));
        assert!(!same(&[cookie, ("host", "127.0.0.1:9090")]), "no Origin");
        assert!(!same(&[cookie, ("host", "a"), ("origin", "null")]));
        assert!(
            session_proof(&parts(&[("host", "a")])).is_none(),
            "no cookie"
        );
        let p = parts(&[cookie, ("x-csrf-token", "abc")]);
        let proof = session_proof(&p).unwrap();
        assert_eq!((proof.token, proof.csrf), ("t.m", Some("abc")));
    }
}
