//! The counter seam: every count of the process (click caps, routed and fallback clicks,
//! clicks turned away by caps, conversions, the statistics made of them) lives here, outside
//! the routing snapshot so that reloads never reset it, and is written only through this
//! module's narrow interface. Callers say what happened; how it is counted is decided here.
//!
//! - `offer`: an offer's windowed counts; lock-free cap check and check-and-reserve.
//! - `registry`: every counter by key (offer, source, route, landing page) and the conversion
//!   log position.
//! - `runs`: where exact rotation has got to in each qualifying set of a smart link.
//! - `hourly`: the counts by hour (statistics over a range, optimized rotation's window).
//! - `store`: the counters file and the hour files; `saver`: the thread that sweeps clicks
//!   into their hours and writes both every second.
//! - `reserve`: standalone, the click-cap leases granted from a file reserved ahead, so that
//!   a crash never reopens a cap.
//! - `down`: whether each destination health checks watch is down (set by `health`).
//!
//! The decision (`routing`) asks an offer's caps whether it is capped, reserves a click's
//! place under a click cap and, on a link with exact rotation, takes its place in the run of
//! its qualifying set; it counts nothing itself. The click use case (`app::click`) tells the
//! counters what a counted click did; the ledger (`conversions`) counts what it wrote.

pub mod down;
pub mod hourly;
pub mod offer;
pub mod registry;
pub mod reserve;
pub mod runs;
pub mod saver;
pub mod store;

pub use down::{Board, DownFlag, Status};
pub use hourly::{Earning, Hour, Hourly, Tally, hour_of};
pub use offer::{CapClock, CapLimits, OfferCaps, OfferCounters};
pub use registry::{
    Counting, Counts, Estimate, Fallbacks, LandingPageCounters, LogPosition, RouteCounters,
    SourceCounters, WEIGHT_SCALE,
};
pub use runs::{Run, Runs, SetKey};
pub use saver::Saver;
