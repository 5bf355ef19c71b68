//! The network catalog (docs/routing.md): offers, landing pages, creatives, affiliates, campaigns and
//! smart links. The one source of truth for routing.
//!
//! Pipeline: file text → `load` (located raw entities, typed [`Catalog`]) → `validate` (every
//! problem, with its JSON path and line) → `routing::RoutingTable::compile`; `save` writes it
//! back for the management API. This module does no routing and never touches the hot path.

pub mod load;
pub mod model;
pub mod save;
pub mod validate;

pub use load::{CatalogError, load};
pub use model::*;
pub use save::FileStamp;
pub use validate::{
    ParsedAttachment, ParsedLandingPage, ParsedLink, ParsedOffer, ValidCatalog, validate,
};
