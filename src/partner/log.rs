//! The delivery log, `partner_postbacks-<UTC hour>.ndjson` under `state.dir`: one line per
//! attempt's result and per retry an operator asked for (docs/operations.md), and the
//! reading back, at start, of what is still to deliver.
//!
//! ```text
//! {"time":"2026-11-22T10:00:01.204Z","conversion_id":"…","affiliate_id":67890,
//!  "url":"https://tracker.example/pb?…","attempt":1,"result":"delivered","status":200,
//!  "error":null,"latency_ms":41}
//! ```
//!
//! The deliveries themselves are in the conversion log (`"partner_postback"` of a conversion
//! record): a delivery is pending from its conversion until a line here says `delivered` or
//! `failed`; a `requeued` line (an operator's retry) makes a failed one pending again.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::conversions::{Conversion, ledger};
use crate::files::{AppendFile, hourly_name, log_files, parse_hour_stamp};

/// Delivery log files are `partner_postbacks-<UTC hour>.ndjson`.
pub const PREFIX: &str = "partner_postbacks";

/// What became of an attempt, or of a delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Result {
    /// A `2xx` answer: done.
    Delivered,
    /// No answer, or one worth asking again (`408`, `429`, `5xx`): another attempt follows.
    Retry,
    /// Given up: a permanent answer, a refused address, or `retry_for` spent.
    Failed,
    /// An operator asked for a failed delivery again (`retry_partner_postback.json`).
    Requeued,
}

impl Result {
    pub fn as_str(self) -> &'static str {
        match self {
            Result::Delivered => "delivered",
            Result::Retry => "retry",
            Result::Failed => "failed",
            Result::Requeued => "requeued",
        }
    }
}

/// One line of the delivery log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// RFC 3339 with milliseconds, UTC.
    pub time: String,
    pub conversion_id: String,
    pub affiliate_id: u32,
    /// The URL called; without its query string unless `log_query_strings`.
    pub url: String,
    /// 1 for the first attempt (0 on a `requeued` line).
    pub attempt: u32,
    pub result: Result,
    /// The receiver's HTTP status, when it answered.
    pub status: Option<u16>,
    /// Why there was no answer, or why the delivery failed.
    pub error: Option<String>,
    pub latency_ms: Option<u64>,
}

impl Entry {
    /// The entry's time in Unix milliseconds (0 when unreadable).
    pub fn time_ms(&self) -> i64 {
        self.time
            .parse::<jiff::Timestamp>()
            .map_or(0, |t| t.as_millisecond())
    }
}

/// `url` as logs show it: the query string replaced by `?…` unless `query_strings`.
pub fn shown(url: &str, query_strings: bool) -> String {
    match url.split_once('?') {
        Some((base, _)) if !query_strings => format!("{base}?…"),
        _ => url.to_string(),
    }
}

/// `2026-11-22T10:00:00.123Z`.
pub fn rfc3339_ms(millis: i64) -> String {
    jiff::Timestamp::from_millisecond(millis)
        .unwrap_or_default()
        .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// The writer of the delivery log.
pub struct Writer {
    dir: PathBuf,
    file: Option<(String, AppendFile)>,
    /// Files older than this are deleted when a new hour's file opens.
    retention_hours: u64,
}

impl Writer {
    pub fn new(dir: &Path, retention_hours: u64) -> Writer {
        Writer {
            dir: dir.to_path_buf(),
            file: None,
            retention_hours,
        }
    }

    /// Appends `entry`; `sync`: fsynced before returning (a delivery's end: so that a
    /// restart does not send it again).
    pub fn append(&mut self, entry: &Entry, now_ms: i64, sync: bool) -> io::Result<()> {
        let hour = (now_ms.max(0) / 3_600_000) as u64;
        let name = hourly_name(PREFIX, hour);
        if self.file.as_ref().is_none_or(|(n, _)| *n != name) {
            self.file = None;
            let file = AppendFile::open(&self.dir.join(&name))?;
            self.file = Some((name, file));
            crate::files::remove_logs_before(
                &self.dir,
                PREFIX,
                hour.saturating_sub(self.retention_hours),
            );
        }
        let mut line = serde_json::to_vec(entry).map_err(io::Error::other)?;
        line.push(b'\n');
        let (_, file) = self.file.as_mut().expect("opened above");
        let written = file.append(&line, sync);
        if written.is_err() {
            self.file = None;
        }
        written
    }
}

/// A delivery as read back at start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Restored {
    pub conversion_id: String,
    pub affiliate_id: u32,
    pub url: String,
    /// When it started to count for `retry_for`: its conversion, or the operator's retry.
    pub since_ms: i64,
    /// Attempts made so far.
    pub attempts: u32,
    /// Failed and not asked for again.
    pub failed: bool,
}

/// Reads the conversion logs and the delivery logs in `dir` of the hours from `from_ms` on,
/// and returns every delivery not yet delivered (pending or failed), by conversion id.
/// Unreadable lines and torn tails are skipped (the conversion log's own replay reports them).
pub fn restore(dir: &Path, from_ms: i64) -> io::Result<HashMap<String, Restored>> {
    let from_hour = (from_ms.max(0) / 3_600_000) as u64;
    let mut found = HashMap::new();
    for line in lines(dir, ledger::PREFIX, from_hour)? {
        let Ok(c) = Conversion::parse_line(&line) else {
            continue;
        };
        if let Some(url) = &c.partner_postback {
            let id = super::url::conversion_id(&c);
            found.insert(
                id.clone(),
                Restored {
                    conversion_id: id,
                    affiliate_id: c.claims.affiliate_id,
                    url: url.to_string(),
                    since_ms: c.time_ms,
                    attempts: 0,
                    failed: false,
                },
            );
        }
    }
    for line in lines(dir, PREFIX, from_hour)? {
        let Ok(e) = serde_json::from_slice::<Entry>(&line) else {
            continue;
        };
        match e.result {
            Result::Delivered => {
                found.remove(&e.conversion_id);
            }
            Result::Retry | Result::Failed | Result::Requeued => {
                if let Some(d) = found.get_mut(&e.conversion_id) {
                    d.attempts = e.attempt;
                    d.failed = e.result == Result::Failed;
                    if e.result == Result::Requeued {
                        d.since_ms = e.time_ms();
                    }
                }
            }
        }
    }
    Ok(found)
}

/// Every whole line of the log files of `prefix` of hours from `from_hour` on, in order.
fn lines(dir: &Path, prefix: &str, from_hour: u64) -> io::Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for path in log_files(dir, prefix) {
        let hour = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| {
                n.strip_prefix(prefix)?
                    .strip_prefix('-')?
                    .strip_suffix(".ndjson")
            })
            .and_then(parse_hour_stamp);
        if hour.is_some_and(|h| h < from_hour) {
            continue;
        }
        let bytes = std::fs::read(&path)?;
        out.extend(
            bytes
                .split_inclusive(|&b| b == b'\n')
                .filter(|l| l.last() == Some(&b'\n'))
                .map(<[u8]>::to_vec),
        );
    }
    Ok(out)
}

/// The entries of the delivery log from `from_ms` on that `keep` admits, oldest first.
pub fn read(dir: &Path, from_ms: i64, keep: impl Fn(&Entry) -> bool) -> io::Result<Vec<Entry>> {
    let from_hour = (from_ms.max(0) / 3_600_000) as u64;
    Ok(lines(dir, PREFIX, from_hour)?
        .iter()
        .filter_map(|l| serde_json::from_slice::<Entry>(l).ok())
        .filter(|e| e.time_ms() >= from_ms && keep(e))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, attempt: u32, result: Result) -> Entry {
        Entry {
            time: rfc3339_ms(1_795_867_300_000),
            conversion_id: id.into(),
            affiliate_id: 1,
            url: "https://t.example/?…".into(),
            attempt,
            result,
            status: None,
            error: None,
            latency_ms: None,
        }
    }

    #[test]
    fn restore_keeps_what_is_not_delivered() {
        let dir = tempfile::tempdir().unwrap();
        let mut lines = Vec::new();
        let mut ids = Vec::new();
        for n in 0..4 {
            let mut c = Conversion::sample(1_795_860_000, 1_795_867_200_000 + n);
            c.partner_postback = Some(format!("https://t.example/?n={n}").into());
            ids.push(super::super::url::conversion_id(&c));
            c.write_line(&mut lines);
        }
        // One without a partner postback: nothing to deliver.
        Conversion::sample(1_795_860_000, 1_795_867_200_009).write_line(&mut lines);
        lines.extend_from_slice(b"{\"torn");
        std::fs::write(
            dir.path()
                .join(hourly_name(ledger::PREFIX, 1_795_867_200 / 3600 - 1)),
            &lines,
        )
        .unwrap();
        let mut w = Writer::new(dir.path(), 24);
        let now = 1_795_867_300_000;
        w.append(&entry(&ids[0], 1, Result::Delivered), now, true)
            .unwrap();
        w.append(&entry(&ids[1], 2, Result::Retry), now, false)
            .unwrap();
        w.append(&entry(&ids[2], 1, Result::Failed), now, true)
            .unwrap();
        w.append(&entry(&ids[3], 1, Result::Failed), now, true)
            .unwrap();
        w.append(&entry(&ids[3], 0, Result::Requeued), now, true)
            .unwrap();
        let found = restore(dir.path(), 1_795_860_000_000).unwrap();
        assert_eq!(found.len(), 3);
        assert!(!found.contains_key(&ids[0]));
        assert_eq!((found[&ids[1]].attempts, found[&ids[1]].failed), (2, false));
        assert!(found[&ids[2]].failed);
        assert!(!found[&ids[3]].failed);
        assert_eq!(found[&ids[3]].since_ms, 1_795_867_300_000);
        assert_eq!(found[&ids[1]].url, "https://t.example/?n=1");
        // Hours before `from` are not read.
        assert!(restore(dir.path(), now + 7_200_000).unwrap().is_empty());
        assert_eq!(
            read(dir.path(), 0, |e| e.result == Result::Failed)
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn query_strings_are_hidden_unless_allowed() {
        assert_eq!(
            shown("https://t.example/p?k=secret", false),
            "https://t.example/p?…"
        );
        assert_eq!(
            shown("https://t.example/p?k=secret", true),
            "https://t.example/p?k=secret"
        );
        assert_eq!(shown("https://t.example/p", false), "https://t.example/p");
    }
}

/// Where a delivery stands, as the API and `smartlink deliveries` show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Status {
    pub conversion_id: String,
    pub affiliate_id: u32,
    /// As logs show it (`shown`).
    pub url: String,
    /// `pending`, `delivered` or `failed`.
    pub status: &'static str,
    pub attempts: u32,
    /// The time of its last line in the delivery log, or of its conversion.
    pub time: String,
    /// The last answer's HTTP status, and the last error.
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
}

/// Every delivery of the conversions and delivery lines of `[from_ms, to_ms)` in `dir`,
/// newest first: the delivery log's last word on each, and the deliveries not attempted yet.
pub fn statuses(
    dir: &Path,
    from_ms: i64,
    to_ms: i64,
    query_strings: bool,
) -> io::Result<Vec<Status>> {
    let mut by_id: HashMap<String, (i64, Status)> = HashMap::new();
    for (id, r) in restore(dir, from_ms)? {
        if r.since_ms >= to_ms {
            continue;
        }
        let status = Status {
            conversion_id: id.clone(),
            affiliate_id: r.affiliate_id,
            url: shown(&r.url, query_strings),
            status: if r.failed { "failed" } else { "pending" },
            attempts: r.attempts,
            time: rfc3339_ms(r.since_ms),
            last_status: None,
            last_error: None,
        };
        by_id.insert(id, (r.since_ms, status));
    }
    for e in read(dir, from_ms, |e| e.time_ms() < to_ms)? {
        let ms = e.time_ms();
        let status = match e.result {
            Result::Delivered => "delivered",
            Result::Failed => "failed",
            Result::Retry | Result::Requeued => "pending",
        };
        by_id.insert(
            e.conversion_id.clone(),
            (
                ms,
                Status {
                    conversion_id: e.conversion_id,
                    affiliate_id: e.affiliate_id,
                    url: e.url,
                    status,
                    attempts: e.attempt,
                    time: e.time,
                    last_status: e.status,
                    last_error: e.error,
                },
            ),
        );
    }
    let mut all: Vec<(i64, Status)> = by_id.into_values().collect();
    all.sort_by(|a, b| {
        b.0.cmp(&a.0)
            .then(a.1.conversion_id.cmp(&b.1.conversion_id))
    });
    Ok(all.into_iter().map(|(_, s)| s).collect())
}
