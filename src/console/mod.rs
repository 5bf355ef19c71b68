//! The operator console (docs/console.md): a web page of the network, served by the binary
//! under `/console/` on the admin listener (on the public one when there is none), unless
//! `console.enabled = false`.
//!
//! The console is files and nothing more: HTML, CSS and scripts (`web/`, compiled in by
//! `assets`) that call the management API from the browser. Every figure it shows is an API
//! answer and every change it makes is an API call (audited like any other), so the API
//! stays the one contract. This module owns the files and the sessions (`session`: the API
//! key exchanged for a cookie, its anti-CSRF token, sign-out, the sign-in limit); the API's
//! calls that sign in and out are `api::session`, and `http::console` serves the files with
//! their security headers. Nothing here knows HTTP connections or Redis.

pub mod assets;
pub mod session;

/// The Content-Security-Policy of every console response: scripts, styles and requests
/// from its own origin only, no inline script or style, no plug-ins, never framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
