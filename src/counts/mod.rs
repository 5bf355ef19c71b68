//! The counter seam: every count of the process (click caps, routed and fallback clicks,
//! clicks turned away by caps, conversions, the statistics made of them) lives here, outside
//! the routing snapshot so that reloads never reset it, and is written only through this
//! module's narrow interface. Callers say what happened; how it is counted is decided here.
//!
//! - `offer`: an offer's windowed counts; lock-free cap check and check-and-reserve.
//! - `registry`: every counter by key (offer, source, route, landing page) and the conversion
//!   log position.
//! - `rotation`: where exact rotation has got to in each qualifying set of a smart link.
//! - `store`: the counters file; `saver`: the thread that writes it every second.
//!
//! The decision (`routing`) asks an offer's caps whether it is capped, reserves a click's
//! place under a click cap and, on a link with exact rotation, takes its place in the run of
//! its qualifying set; it counts nothing itself. The click use case (`click`) tells the
//! counters what a counted click did; the ledger (`conversions`) counts what it wrote.

pub mod offer;
pub mod registry;
pub mod rotation;
pub mod saver;
pub mod store;

pub use offer::{CapClock, CapLimits, OfferCaps, OfferCounters};
pub use registry::{
    Counting, Counts, Fallbacks, LandingPageCounters, LogPosition, RouteCounters, SourceCounters,
};
pub use rotation::{Run, Runs, SetKey};
pub use saver::Saver;
