//! Partner postbacks: telling affiliates about their conversions, server to server
//! (docs/api.md#partner-postbacks, docs/operations.md "Partner postbacks").
//!
//! ```text
//! /p ─▶ url::render (the click's postback URL, the conversion's values)
//!    ─▶ conversions::ledger: the URL written in the conversion's own line, fsynced
//!    ─▶ sender (a task): attempts through `outbound`, bounded overall and per host,
//!       retried with backoff ─▶ log (partner_postbacks-<hour>.ndjson)
//! start: log::restore reads the conversion and delivery logs back: what is not delivered
//! ```
//!
//! A delivery exists exactly when its conversion does (one line holds both), so a `kill -9`
//! at any moment loses none; it ends when the delivery log says so (fsynced), so a restart
//! sends again at most the attempts that were in flight. Nothing here touches Redis: in
//! cluster mode each node delivers what its own ledger recorded, once per conversion.

pub mod log;
pub mod sender;
pub mod url;

pub use sender::{Deliveries, Requeue};
