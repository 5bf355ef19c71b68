//! The application's use cases, each a function of the snapshot and the state it needs,
//! without a socket: `http` parses a request and renders what they return, `cli` and `api`
//! call them too, and unit tests call them directly.
//!
//! - [`click`]: a click on a tracking link: decide → landing page → count → sign → render
//!   → record.
//! - [`postback`]: a conversion reported for a click id: protection, signature, token,
//!   attribution window, payout → the conversion recorder; the seam where what follows a
//!   recorded conversion starts.
//! - [`route`]: the route explanation of one click (`smartlink route`, the API's
//!   `smart_link_route.json`): the click as a dry run, with a trace of every attachment.

pub mod click;
pub mod postback;
pub mod route;
