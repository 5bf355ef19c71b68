//! Caps and the counters behind them (SPEC §9), kept outside the routing snapshot so that
//! reloads never reset them (STYLE 5).
//!
//! - `window`: day, week and month windows in `tracking.timezone` (DST-correct), cached.
//! - `counters`: an offer's windowed counts; lock-free check and check-and-reserve.
//! - `registry`: every counter, keyed by offer, source and route; resolved at compile time.
//! - `store`: the counters file; `saver`: the thread that writes it every second.

pub mod counters;
pub mod registry;
pub mod saver;
pub mod store;

pub use counters::{CapClock, OfferCaps, OfferCounters};
pub use registry::{Registry, RouteCounters, SourceCounters};
pub use saver::Saver;
pub use store::LogPosition;
