//! The PROXY protocol (HAProxy, v1 text and v2 binary), for L4 load balancers that pass the
//! client address in front of the HTTP bytes. Enabled by `server.proxy_protocol = true`;
//! then every connection must start with a header, or it is closed. The address in it
//! replaces the TCP peer only when that peer is a trusted proxy. Also the peek at a
//! connection's first bytes that the connection's protocol detection shares.

use std::net::IpAddr;
use std::time::Duration;

use ppp::{HeaderResult, PartialResult, v1, v2};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep, timeout_at};

/// Longest header accepted (v2 with TLVs); a longer one closes the connection.
const MAX_HEADER: usize = 4096;

/// What a connection's PROXY header said.
#[derive(Debug, PartialEq, Eq)]
pub enum Source {
    /// The original client address.
    Client(IpAddr),
    /// `LOCAL` (v2) or `UNKNOWN` (v1): the proxy's own connection, e.g. a health check.
    Proxy,
}

/// Reads and consumes the PROXY header at the start of `stream`, waiting until `deadline`.
/// `None` when it is missing, malformed, too long or late.
pub async fn read_header(stream: &mut TcpStream, deadline: Instant) -> Option<Source> {
    let mut buf = vec![0u8; MAX_HEADER];
    let parsed = peek_until(
        stream,
        deadline,
        &mut buf,
        |seen| match HeaderResult::parse(seen) {
            r if r.is_incomplete() && seen.len() < MAX_HEADER && !v1_line_ended(seen) => None,
            HeaderResult::V1(Ok(h)) => Some(Some((h.header.len(), v1_source(&h.addresses)))),
            HeaderResult::V2(Ok(h)) => Some(Some((h.len(), v2_source(&h)))),
            _ => Some(None),
        },
    )
    .await;
    let (len, source) = parsed??;
    stream.read_exact(&mut buf[..len]).await.ok()?;
    Some(source)
}

/// Whether `seen` holds a whole v1 header line, valid or not: its `\n` has arrived, or its
/// 107-byte maximum has. The parser calls a v1 header with missing fields "incomplete" even
/// then; more bytes cannot mend it, so it is refused at once instead of at the timeout.
fn v1_line_ended(seen: &[u8]) -> bool {
    seen.starts_with(b"PROXY") && (seen.contains(&b'\n') || seen.len() >= V1_MAX)
}

/// The longest v1 header, `\r\n` included.
const V1_MAX: usize = 107;

fn v1_source(addresses: &v1::Addresses) -> Source {
    match addresses {
        v1::Addresses::Tcp4(a) => Source::Client(a.source_address.into()),
        v1::Addresses::Tcp6(a) => Source::Client(a.source_address.into()),
        v1::Addresses::Unknown => Source::Proxy,
    }
}

fn v2_source(h: &v2::Header) -> Source {
    match (h.command, h.addresses) {
        (v2::Command::Proxy, v2::Addresses::IPv4(a)) => Source::Client(a.source_address.into()),
        (v2::Command::Proxy, v2::Addresses::IPv6(a)) => Source::Client(a.source_address.into()),
        _ => Source::Proxy,
    }
}

/// Peeks at the first bytes of `stream` until `decide` has an answer for them (`None` from
/// `decide`: more bytes needed). `None` when the client closes or `deadline` passes first.
pub(super) async fn peek_until<T>(
    stream: &TcpStream,
    deadline: Instant,
    buf: &mut [u8],
    mut decide: impl FnMut(&[u8]) -> Option<T>,
) -> Option<T> {
    loop {
        let n = timeout_at(deadline, stream.peek(buf)).await.ok()?.ok()?;
        if n == 0 {
            return None;
        }
        if let Some(answer) = decide(&buf[..n]) {
            return Some(answer);
        }
        // Partial input: wait for more without spinning.
        timeout_at(deadline, sleep(Duration::from_millis(5)))
            .await
            .ok()?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_malformed_v1_line_is_over_once_it_ends() {
        for malformed in [
            &b"PROXY TCP4 1.2.3.4\r\n"[..],
            b"PROXY TCP4 1.2.3.4 5.6.7.8 80\r\nGET / HTTP/1.1\r\n",
            b"PROXY TCP9 x y 1 2\r\n",
        ] {
            assert!(v1_line_ended(malformed));
        }
        assert!(!v1_line_ended(b"PROXY TCP4 1.2.3.4 5.6"));
        assert!(v1_line_ended(
            &[b"PROXY ".as_slice(), &[b'1'; 101]].concat()
        ));
    }
}
