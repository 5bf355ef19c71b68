//! Reading a request body whole, bounded in size and in time (postbacks, the management API).

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};

/// Why a body was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Over the size limit (`413`).
    TooLarge,
    /// Not received within the time limit (`408`).
    Timeout,
    /// The connection failed mid-body (`400`).
    Unreadable,
}

/// Reads `body` whole: at most `limit` bytes, within `timeout`.
pub async fn read<B>(
    body: B,
    limit: usize,
    timeout: std::time::Duration,
) -> Result<Bytes, BodyError>
where
    B: hyper::body::Body,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    match tokio::time::timeout(timeout, Limited::new(body, limit).collect()).await {
        Err(_) => Err(BodyError::Timeout),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(BodyError::TooLarge),
        Ok(Err(_)) => Err(BodyError::Unreadable),
        Ok(Ok(b)) => Ok(b.to_bytes()),
    }
}
