//! The PROXY protocol (HAProxy, v1 text and v2 binary), for L4 load balancers that pass the
//! client address in front of the HTTP bytes. Enabled by `server.proxy_protocol = true`;
//! then every connection must start with a header, or it is closed. The address in it
//! replaces the TCP peer only when that peer is a trusted proxy.

use std::net::IpAddr;

use ppp::{HeaderResult, PartialResult, v1, v2};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

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
    let parsed = super::peek_until(
        stream,
        deadline,
        &mut buf,
        |seen| match HeaderResult::parse(seen) {
            r if r.is_incomplete() && seen.len() < MAX_HEADER => None,
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
