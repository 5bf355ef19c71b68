//! Clicks: signed click ids (`id`), the click record (`record`) and the log that writes
//! records off the request path (`log`).

pub mod id;
pub mod log;
pub mod record;

pub use id::{Claims, ClickId, ClickIdError, ClickSigner, DedupKey, MAX_CLOCK_SKEW_SECS};
pub use log::{RecordLog, RecordSink};
pub use record::{ClickRecord, RecordText, SubIds};
