//! Routing: the compiled table and the decision (docs/routing.md).
//!
//! `table` compiles a validated catalog into an immutable [`RoutingTable`]; `decide` walks it
//! for one click; `draw` is the weighted draw; `landing` draws a routed click's landing page;
//! `rotation` orders the clicks of links with exact rotation; `thompson` computes optimized
//! rotation's shares (Thompson sampling on EPC; the `optimizer` task runs it); `explain`
//! reports why. Nothing here knows HTTP, GeoIP or user agents: client attributes arrive
//! through [`Attributes`].

pub mod decide;
pub mod draw;
pub mod explain;
pub mod landing;
pub mod rotation;
pub mod table;
pub mod thompson;

pub use crate::conditions::Attributes;
pub use decide::{Context, Decision, Gate, Live, NoTrace, Outcome, Trace, Verdict};
pub use landing::{LandingPages, Page};
pub use table::{Attachment, Campaign, Link, LinkRotation, Offer, Optimize, RoutingTable, Skip};
