//! The click log: the click record (`record`) and the writer that puts records in hourly
//! files off the request path (`writer`, which also reads them back for the click caps
//! after a crash).

pub mod record;
pub mod writer;

pub use record::{ClickRecord, RecordText, SubIds};
pub use writer::{RecordLog, RecordSink};
