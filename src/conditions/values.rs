//! How condition values are written and parsed: regions (ISO 3166-2), ASNs, schedule
//! windows and times, networks, host names.

use std::net::IpAddr;
use std::sync::LazyLock;

use ipnet::IpNet;
use rustc_hash::FxHashSet;
use serde_json::Value;

use crate::vocab::Region;

/// The ISO 3166-2 codes (`src/data/iso-3166-2.txt`, from Debian's iso-codes), packed.
pub(super) static REGIONS: LazyLock<FxHashSet<u32>> = LazyLock::new(|| {
    include_str!("../data/iso-3166-2.txt")
        .lines()
        .filter_map(Region::from_code)
        .map(Region::key)
        .collect()
});

/// A region condition's value: an assigned ISO 3166-2 code.
pub(super) fn parse_region(word: Option<&str>) -> Result<Region, String> {
    let text = word.ok_or("must be a region code (a string)")?;
    match Region::from_code(text) {
        Some(r) if REGIONS.contains(&r.key()) => Ok(r),
        Some(_) => Err(format!(
            "{text:?} is not an ISO 3166-2 subdivision code (e.g. US-CA, GB-ENG)"
        )),
        None => Err(format!(
            "{text:?} is not a region code: country, '-', 1 to 3 upper-case letters or digits (e.g. US-CA)"
        )),
    }
}

/// An autonomous system number: `15169`, `"15169"` or `"AS15169"`.
pub(super) fn parse_asn(item: &Value) -> Result<u32, String> {
    let n = match item {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s
            .strip_prefix("AS")
            .or(s.strip_prefix("as"))
            .unwrap_or(s)
            .parse()
            .ok(),
        _ => None,
    };
    n.and_then(|n| u32::try_from(n).ok())
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("{item} is not an autonomous system number (1 to 4294967295)"))
}

/// Minutes in a week.
pub(super) const WEEK: u16 = 7 * 24 * 60;

/// One schedule window as written, checked: the days it starts on (bit 0 Monday), and its
/// start and end in minutes of the day (`end` may be below `start`: across midnight).
pub(super) fn parse_window(item: &Value) -> Result<(u8, u16, u16), String> {
    const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let Value::Object(w) = item else {
        return Err(
            r#"must be a window: {"days": ["mon", ...], "from": "HH:MM", "to": "HH:MM"}"#.into(),
        );
    };
    if let Some(unknown) = w
        .keys()
        .find(|k| !["days", "from", "to"].contains(&k.as_str()))
    {
        return Err(format!(
            "{unknown:?} is not a field of a window (days, from, to)"
        ));
    }
    let days = match w.get("days") {
        None => 0x7f,
        Some(Value::Array(days)) => {
            let mut bits = 0u8;
            for d in days {
                let i = d
                    .as_str()
                    .and_then(|d| DAYS.iter().position(|n| *n == d))
                    .ok_or_else(|| format!("days: {d} is not one of {}", DAYS.join(", ")))?;
                bits |= 1 << i;
            }
            bits
        }
        Some(_) => return Err("days must be a list of mon, tue, wed, thu, fri, sat, sun".into()),
    };
    let time = |field: &str| -> Result<u16, String> {
        let text = w
            .get(field)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{field} is required: a time of day, HH:MM"))?;
        parse_time(text).ok_or_else(|| {
            format!("{field}: {text:?} is not a time of day, HH:MM from 00:00 to 24:00")
        })
    };
    Ok((days, time("from")?, time("to")?))
}

/// `HH:MM`, 00:00 to 24:00, in minutes.
pub(super) fn parse_time(text: &str) -> Option<u16> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
}

/// The minutes of the week one window covers, as inclusive ranges: a window from 22:00 to
/// 02:00 on Sunday runs into Monday, the start of the week.
pub(super) fn week_minutes((days, from, to): (u8, u16, u16)) -> Vec<(u16, u16)> {
    let length = match to.cmp(&from) {
        std::cmp::Ordering::Greater => to - from,
        std::cmp::Ordering::Less => 24 * 60 - from + to,
        std::cmp::Ordering::Equal => return Vec::new(),
    };
    let mut ranges = Vec::new();
    for day in (0..7u16).filter(|d| days & (1 << d) != 0) {
        let start = day * 24 * 60 + from;
        let end = start + length - 1;
        match end < WEEK {
            true => ranges.push((start, end)),
            false => ranges.extend([(start, WEEK - 1), (0, end - WEEK)]),
        }
    }
    ranges
}

/// A network in CIDR notation (or a bare address: one host) whose host bits are zero.
pub(super) fn parse_network(text: &str) -> Result<IpNet, String> {
    let net = match text.parse::<IpNet>() {
        Ok(net) => net,
        Err(_) => match text.parse::<IpAddr>() {
            Ok(ip) => IpNet::from(ip),
            Err(_) => {
                return Err(format!(
                    "{text:?} is not a network in CIDR notation (e.g. 10.0.0.0/8, 2001:db8::/32)"
                ));
            }
        },
    };
    if net.trunc() != net {
        return Err(format!(
            "{text:?} has host bits set: the network is {}",
            net.trunc()
        ));
    }
    Ok(net)
}

/// A host name as a referrer condition: letters, digits, `-` and dots, lower case, no
/// trailing dot, at most 253 bytes.
pub(super) fn parse_host(text: &str) -> Result<Box<str>, String> {
    let host = text.trim_end_matches('.').to_ascii_lowercase();
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if host.is_empty() || host.len() > 253 || !host.split('.').all(label_ok) {
        return Err(format!(
            "{text:?} is not a host name (e.g. example.com; no scheme, path or port)"
        ));
    }
    Ok(host.into_boxed_str())
}

/// Whether `host` is one of `hosts` or a subdomain of one (`hosts` sorted): the host and
/// each of its parent domains are looked up.
#[inline(never)]
pub(super) fn host_matches(hosts: &[Box<str>], host: &str) -> bool {
    let mut name = host;
    loop {
        if hosts.binary_search_by(|h| (**h).cmp(name)).is_ok() {
            return true;
        }
        match name.split_once('.') {
            Some((_, parent)) => name = parent,
            None => return false,
        }
    }
}
