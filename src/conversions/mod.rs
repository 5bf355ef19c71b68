//! Conversions (docs/operations.md): the record, the converted-id set and the ledger thread that makes
//! each conversion durable before it is counted and answered. The use case is
//! `app::postback`.

pub mod dedup;
pub mod ledger;
pub mod queue;
pub mod record;
pub mod recorder;

pub use dedup::Converted;
pub use ledger::{Answer, Ledger, LedgerHandle, replay};
pub use queue::Queue;
pub use record::{Amount, BadAmount, Conversion};
pub use recorder::Recorder;
