//! The client's IP address behind trusted proxies (docs/routing.md).
//!
//! The TCP peer is the client unless it is a trusted proxy. Then the configured forwarding
//! header (`X-Forwarded-For` or `Forwarded`, one of them: reading both would let a client
//! forge whichever its proxy passes through) is read right to left, skipping addresses that
//! are themselves trusted proxies; the first untrusted address is the client. A malformed or
//! obfuscated entry stops the walk at the last address we could trust. Headers from an
//! untrusted peer are ignored.

use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;
use http::header::{FORWARDED, HeaderName};
use ipnet::IpNet;

use crate::vocab::ClientIpHeader;

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// The proxies allowed to tell us the client address.
#[derive(Clone, Debug)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
    header: ClientIpHeader,
}

impl TrustedProxies {
    pub fn new(nets: Vec<IpNet>, header: ClientIpHeader) -> TrustedProxies {
        TrustedProxies { nets, header }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.iter().any(|n| n.contains(&ip))
    }

    /// The client address of a request from `peer` with `headers`.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.contains(client) {
            return client;
        }
        let name = match self.header {
            ClientIpHeader::XForwardedFor => &X_FORWARDED_FOR,
            ClientIpHeader::Forwarded => &FORWARDED,
        };
        // Several header lines are one comma-separated list, in order.
        for value in headers.get_all(name).iter().rev() {
            let Ok(text) = value.to_str() else {
                return client;
            };
            for element in text.rsplit(',') {
                let hop = match self.header {
                    ClientIpHeader::XForwardedFor => parse_node(element.trim()),
                    ClientIpHeader::Forwarded => forwarded_for(element),
                };
                let Some(hop) = hop else {
                    return client;
                };
                client = hop.to_canonical();
                if !self.contains(client) {
                    return client;
                }
            }
        }
        client
    }
}

impl TrustedProxies {
    /// Whether a request from `peer` came to the proxy over https, as the proxy says: the
    /// last `X-Forwarded-Proto` (or, with `Forwarded`, the last element's `proto=`) is
    /// `https`. Always false when `peer` is not a trusted proxy.
    pub fn forwarded_https(&self, peer: IpAddr, headers: &HeaderMap) -> bool {
        if !self.contains(peer) {
            return false;
        }
        let last = |name: &HeaderName| {
            headers
                .get_all(name)
                .iter()
                .next_back()
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit(',').next())
                .map(str::trim)
        };
        match self.header {
            ClientIpHeader::XForwardedFor => {
                last(&X_FORWARDED_PROTO).is_some_and(|p| p.eq_ignore_ascii_case("https"))
            }
            ClientIpHeader::Forwarded => last(&FORWARDED).is_some_and(|element| {
                element.split(';').any(|pair| {
                    pair.split_once('=').is_some_and(|(k, v)| {
                        k.trim().eq_ignore_ascii_case("proto")
                            && v.trim().trim_matches('"').eq_ignore_ascii_case("https")
                    })
                })
            }),
        }
    }
}

/// The `for=` node of one `Forwarded` element (RFC 7239), if it names an address.
fn forwarded_for(element: &str) -> Option<IpAddr> {
    element.split(';').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        if !key.trim().eq_ignore_ascii_case("for") {
            return None;
        }
        parse_node(value.trim().trim_matches('"'))
    })
}

/// An address as proxies write it: `1.2.3.4`, `1.2.3.4:80`, `2001:db8::1`, `[2001:db8::1]`,
/// `[2001:db8::1]:80`. Anything else (`unknown`, `_hidden`, garbage) is `None`.
fn parse_node(text: &str) -> Option<IpAddr> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(sock) = text.parse::<SocketAddr>() {
        return Some(sock.ip());
    }
    text.strip_prefix('[')?.strip_suffix(']')?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(header: ClientIpHeader) -> TrustedProxies {
        TrustedProxies::new(
            vec![
                "10.0.0.0/8".parse().unwrap(),
                "127.0.0.1/32".parse().unwrap(),
                "fd00::/8".parse().unwrap(),
            ],
            header,
        )
    }

    fn client(header: ClientIpHeader, peer: &str, lines: &[(&str, &str)]) -> String {
        let mut headers = HeaderMap::new();
        for (name, value) in lines {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        proxies(header)
            .client_ip(peer.parse().unwrap(), &headers)
            .to_string()
    }

    const XFF: ClientIpHeader = ClientIpHeader::XForwardedFor;
    const FWD: ClientIpHeader = ClientIpHeader::Forwarded;

    #[test]
    fn https_is_what_a_trusted_proxy_says() {
        let https = |header, peer: &str, lines: &[(&str, &str)]| {
            let mut headers = HeaderMap::new();
            for (name, value) in lines {
                headers.append(
                    HeaderName::from_bytes(name.as_bytes()).unwrap(),
                    value.parse().unwrap(),
                );
            }
            proxies(header).forwarded_https(peer.parse().unwrap(), &headers)
        };
        assert!(https(XFF, "10.0.0.2", &[("x-forwarded-proto", "https")]));
        assert!(https(
            XFF,
            "10.0.0.2",
            &[("x-forwarded-proto", "http, HTTPS")]
        ));
        assert!(!https(XFF, "10.0.0.2", &[("x-forwarded-proto", "http")]));
        assert!(!https(XFF, "10.0.0.2", &[]));
        assert!(
            !https(XFF, "203.0.113.9", &[("x-forwarded-proto", "https")]),
            "an untrusted peer"
        );
        assert!(
            !https(XFF, "10.0.0.2", &[("forwarded", "proto=https")]),
            "the other header"
        );
        assert!(https(
            FWD,
            "10.0.0.2",
            &[("forwarded", "for=1.2.3.4;proto=\"https\"")]
        ));
        assert!(!https(
            FWD,
            "10.0.0.2",
            &[("forwarded", "proto=https, for=1.2.3.4")]
        ));
    }

    #[test]
    fn untrusted_peer_headers_are_ignored() {
        assert_eq!(
            client(XFF, "203.0.113.9", &[("x-forwarded-for", "1.2.3.4")]),
            "203.0.113.9"
        );
        assert_eq!(
            client(FWD, "203.0.113.9", &[("forwarded", "for=1.2.3.4")]),
            "203.0.113.9"
        );
    }

    #[test]
    fn rightmost_untrusted_address_is_the_client() {
        let spoofed = [("x-forwarded-for", "6.6.6.6, 198.51.100.4, 10.1.1.1")];
        assert_eq!(client(XFF, "10.0.0.2", &spoofed), "198.51.100.4");
        let two_lines = [
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-for", "2001:db8::5, fd00::1"),
        ];
        assert_eq!(client(XFF, "127.0.0.1", &two_lines), "2001:db8::5");
        let ports = [("x-forwarded-for", "[2001:db8::9]:4711, 192.0.2.1:80")];
        assert_eq!(client(XFF, "10.0.0.2", &ports), "192.0.2.1");
    }

    #[test]
    fn ipv4_mapped_peer_is_recognised_as_trusted() {
        assert_eq!(
            client(
                XFF,
                "::ffff:10.0.0.2",
                &[("x-forwarded-for", "198.51.100.4")]
            ),
            "198.51.100.4"
        );
    }

    #[test]
    fn only_the_configured_header_is_read() {
        let both = [
            ("x-forwarded-for", "198.51.100.1"),
            ("forwarded", "for=198.51.100.2"),
        ];
        assert_eq!(client(XFF, "10.0.0.2", &both), "198.51.100.1");
        assert_eq!(client(FWD, "10.0.0.2", &both), "198.51.100.2");
    }

    #[test]
    fn forwarded_header_forms() {
        let v = [(
            "forwarded",
            "for=6.6.6.6, for=\"[2001:db8:cafe::17]:4711\";proto=https, For=10.0.0.9;by=10.0.0.1",
        )];
        assert_eq!(client(FWD, "10.0.0.2", &v), "2001:db8:cafe::17");
        let hidden = [("forwarded", "for=198.51.100.3, for=_hidden")];
        assert_eq!(client(FWD, "10.0.0.2", &hidden), "10.0.0.2");
    }

    #[test]
    fn malformed_entries_stop_at_the_last_trusted_hop() {
        let garbage = [("x-forwarded-for", "198.51.100.3, not-an-ip, 10.0.0.7")];
        assert_eq!(client(XFF, "10.0.0.2", &garbage), "10.0.0.7");
        assert_eq!(
            client(XFF, "10.0.0.2", &[("x-forwarded-for", "")]),
            "10.0.0.2"
        );
        let all_trusted = [("x-forwarded-for", "10.0.0.8, 10.0.0.7")];
        assert_eq!(client(XFF, "10.0.0.2", &all_trusted), "10.0.0.8");
    }

    proptest::proptest! {
        /// Any forwarding header from a trusted peer yields some address, never a panic.
        #[test]
        fn any_forwarding_header_yields_the_peer_or_one_of_its_hops(
            value in "[ -~]{0,300}",
            forwarded in proptest::bool::ANY,
        ) {
            let (header, name) = if forwarded { (FWD, "forwarded") } else { (XFF, "x-forwarded-for") };
            let mut headers = HeaderMap::new();
            headers.insert(HeaderName::from_static(name), value.parse().unwrap());
            let peer: IpAddr = "10.0.0.2".parse().unwrap();
            let client = proxies(header).client_ip(peer, &headers);
            let hops: Vec<IpAddr> = value
                .split(',')
                .filter_map(|e| if forwarded { forwarded_for(e) } else { parse_node(e.trim()) })
                .map(|ip| ip.to_canonical())
                .collect();
            proptest::prop_assert!(client == peer || hops.contains(&client), "{} from {:?}", client, value);
        }
    }
}
