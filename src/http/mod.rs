//! The HTTP side: connections (`connection`: accept, limits, protocol detection, lifetimes,
//! drain), the router (`router`: the one table of endpoints, the one method check, the one
//! place a request is timed) and the handlers, which parse a request, call the use case
//! (`app`, `api`) and render its answer.
//!
//! [`serve`] runs on any bound listener until `shutdown` resolves; `server::run` runs a
//! whole node on its listeners. The connection machinery and its limits and lifetimes are
//! described in `connection`.
//!
//! A listener has a [`Role`]: with `server.admin_listen`, the public listener serves
//! tracking links, postbacks and health, and the admin listener the API, the operator
//! console (`console`), `/metrics` and health.

pub mod api;
pub mod body;
mod connection;
pub mod console;
pub mod postback;
pub mod proxy_protocol;
pub mod query;
pub mod redirect;
pub mod response;
pub mod router;

pub use connection::{serve, serve_per_core};
pub use router::Role;
