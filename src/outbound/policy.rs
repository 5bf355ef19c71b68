//! Which addresses the server may connect to: none that reaches back into the network it
//! runs in (loopback, private, link-local, multicast, unspecified, the cloud metadata
//! service) unless an operator lists its network.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// The address policy of outbound requests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// Networks allowed even though they are forbidden by default (tests, internal
    /// trackers).
    pub allowed: Vec<IpNet>,
}

impl Policy {
    /// `Ok` when `ip` may be connected to; otherwise why not (a word for messages).
    pub fn check(&self, ip: IpAddr) -> Result<(), &'static str> {
        match forbidden(ip) {
            Some(why) if !self.allowed.iter().any(|n| n.contains(&ip)) => Err(why),
            _ => Ok(()),
        }
    }
}

/// The cloud metadata services (AWS, GCP, Azure, ...: `169.254.169.254`; AWS over IPv6:
/// `fd00:ec2::254`), named on their own so that a refusal says what it protected.
const METADATA_V4: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);
const METADATA_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254);

/// Why `ip` is not a public unicast address, or `None` when it is.
fn forbidden(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            // `::ffff:127.0.0.1` reaches 127.0.0.1.
            Some(v4) => forbidden_v4(v4),
            None => forbidden_v6(v6),
        },
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    Some(match () {
        _ if ip == METADATA_V4 => "the cloud metadata address",
        _ if ip.is_unspecified() || a == 0 => "unspecified",
        _ if ip.is_loopback() => "loopback",
        _ if ip.is_private() => "private",
        // 100.64.0.0/10, carrier-grade NAT: the provider's own network.
        _ if a == 100 && (64..128).contains(&b) => "shared (carrier-grade NAT)",
        _ if ip.is_link_local() => "link-local",
        _ if ip.is_multicast() => "multicast",
        _ if ip.is_broadcast() => "broadcast",
        _ if a >= 240 => "reserved",
        _ => return None,
    })
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    Some(match () {
        _ if ip == METADATA_V6 => "the cloud metadata address",
        _ if ip.is_unspecified() => "unspecified",
        _ if ip.is_loopback() => "loopback",
        // fc00::/7, unique local: the private networks of IPv6.
        _ if first & 0xfe00 == 0xfc00 => "private",
        _ if first & 0xffc0 == 0xfe80 => "link-local",
        _ if ip.is_multicast() => "multicast",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_refused_and_public_ones_allowed() {
        let policy = Policy::default();
        let refused = [
            ("127.0.0.1", "loopback"),
            ("127.8.9.10", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("192.168.1.1", "private"),
            ("100.64.0.1", "shared (carrier-grade NAT)"),
            ("169.254.1.1", "link-local"),
            ("169.254.169.254", "the cloud metadata address"),
            ("224.0.0.1", "multicast"),
            ("0.0.0.0", "unspecified"),
            ("0.1.2.3", "unspecified"),
            ("255.255.255.255", "broadcast"),
            ("240.0.0.1", "reserved"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fd12::1", "private"),
            ("fd00:ec2::254", "the cloud metadata address"),
            ("fe80::1", "link-local"),
            ("ff02::1", "multicast"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "the cloud metadata address"),
        ];
        for (ip, why) in refused {
            assert_eq!(policy.check(ip.parse().unwrap()), Err(why), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "100.128.0.1",
            "172.32.0.1",
            "2001:4860::8888",
            "::ffff:8.8.8.8",
        ] {
            assert_eq!(policy.check(ip.parse().unwrap()), Ok(()), "{ip}");
        }
    }

    #[test]
    fn listed_networks_are_allowed() {
        let policy = Policy {
            allowed: vec!["127.0.0.0/8".parse().unwrap(), "fd00::/8".parse().unwrap()],
        };
        assert_eq!(policy.check("127.0.0.1".parse().unwrap()), Ok(()));
        assert_eq!(policy.check("fd00:ec2::254".parse().unwrap()), Ok(()));
        assert_eq!(
            policy.check("10.0.0.1".parse().unwrap()),
            Err("private"),
            "only what is listed"
        );
    }
}
