//! The audit log (docs/operations.md): one record per change of the catalog being served
//! (an API write, a batch, `smartlink push`, a changed catalog file found at `SIGHUP`), and
//! one per write refused to a read-only key, appended to `audit.log` in the state directory
//! as one JSON object a line.
//!
//! A record names the API key by its [`fingerprint`], never the key itself. Each append
//! opens the file anew (so `smartlink push`, another process, can append beside the server
//! and an operator can move the file aside at any time), writes one whole line and fsyncs:
//! a write the API answered is in the log after a power loss. A process killed in the middle
//! of an append may leave a torn last line: the next append starts on a line of its own and
//! [`read`] skips what is not a record, with a warning, so one crash never hides the rest.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The log's name in the state directory.
pub const FILE: &str = "audit.log";

/// Hex digits of a key's SHA-256 that name it: enough to tell a handful of keys apart,
/// far too few to help guess one.
const FINGERPRINT_HEX: usize = 12;

/// One change of the catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// When it took effect, RFC 3339 in UTC with milliseconds.
    pub time: String,
    /// The API key's [`fingerprint`]; `null` for `push` and `SIGHUP`.
    pub key: Option<String>,
    /// The node that made the change (`cluster.node_id`, standalone the host name).
    pub node: String,
    /// The API call (`update_campaign.json`, `batch.json`), `push` or `SIGHUP`.
    pub call: String,
    /// The call's checked parameters (a batch: every call with its own); for `push` and
    /// `SIGHUP` the catalog file.
    pub params: Value,
    /// The catalog generation the change resulted in: in cluster mode the shared catalog's
    /// (the same on every node), standalone the node's (`smartlink_table_generation`).
    pub generation: u64,
    /// Set on a write that was refused, so nothing changed (the generation is the one in
    /// force): `read_only`, a write call by a read-only key (`api.read_keys`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

/// What a change says about itself; the time, the node and the generation are added where
/// it takes effect ([`Change::record`]).
#[derive(Debug, Clone)]
pub struct Change {
    pub key: Option<String>,
    pub call: String,
    pub params: Value,
}

impl Change {
    /// The record of this change, taking effect now.
    pub fn record(&self, node: &str, generation: u64) -> Record {
        let now = jiff::Timestamp::now();
        let mut params = self.params.clone();
        // Parameters reach here checked, without the key; dropping any member named so
        // keeps a future caller from writing a key into the log.
        redact(&mut params);
        Record {
            time: now.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            key: self.key.clone(),
            node: node.to_string(),
            call: self.call.clone(),
            params,
            generation,
            refused: None,
        }
    }

    /// The record of this change refused for `why` (nothing changed).
    pub fn refusal(&self, node: &str, generation: u64, why: &str) -> Record {
        Record {
            refused: Some(why.to_string()),
            ..self.record(node, generation)
        }
    }
}

/// The name of an API key in the log: the first hex digits of its SHA-256.
pub fn fingerprint(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    let mut hex = String::with_capacity(FINGERPRINT_HEX);
    for byte in digest.iter().take(FINGERPRINT_HEX / 2) {
        hex.push_str(&format!("{byte:02x}"));
    }
    hex
}

/// Removes every member named `api_key`, at any depth.
fn redact(v: &mut Value) {
    match v {
        Value::Object(members) => {
            members.remove("api_key");
            members.values_mut().for_each(redact);
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

/// The log of the state directory `dir`.
pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

/// Appends `record` to the log in `dir` as one line and fsyncs it.
pub fn append(dir: &Path, record: &Record) -> io::Result<()> {
    let mut line = serde_json::to_vec(record).map_err(io::Error::other)?;
    line.push(b'\n');
    let mut file = OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(path(dir))?;
    let len = file.metadata()?.len();
    let mut last = [b'\n'];
    if len > 0 {
        file.read_exact_at(&mut last, len - 1)?;
    }
    if last[0] != b'\n' {
        // A torn line from a crash: end it, so that this record is a line of its own.
        line.insert(0, b'\n');
    }
    // One write of the whole line: O_APPEND puts it after whatever another process wrote.
    file.write_all(&line)?;
    file.sync_data()
}

/// What [`read`] found.
#[derive(Debug, Default)]
pub struct Read {
    pub records: Vec<Record>,
    /// 1-based numbers of the lines that are not records (a torn line after a crash).
    pub skipped: Vec<usize>,
}

/// Every record of the log in `dir`, oldest first; an absent log has none.
pub fn read(dir: &Path) -> io::Result<Read> {
    let text = match std::fs::read(path(dir)) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Read::default()),
        Err(e) => return Err(e),
    };
    let mut read = Read::default();
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice(line) {
            Ok(record) => read.records.push(record),
            Err(_) => read.skipped.push(i + 1),
        }
    }
    Ok(read)
}

/// Which records `smartlink audit` prints; every condition given must hold.
#[derive(Debug, Default)]
pub struct Filter {
    /// At or after.
    pub since: Option<jiff::Timestamp>,
    /// Before.
    pub until: Option<jiff::Timestamp>,
    pub call: Option<String>,
    /// A key's fingerprint.
    pub key: Option<String>,
}

impl Filter {
    pub fn matches(&self, r: &Record) -> bool {
        let time = r.time.parse::<jiff::Timestamp>().ok();
        let after = |since: &jiff::Timestamp| time.is_some_and(|t| t >= *since);
        let before = |until: &jiff::Timestamp| time.is_some_and(|t| t < *until);
        self.since.as_ref().is_none_or(after)
            && self.until.as_ref().is_none_or(before)
            && self.call.as_ref().is_none_or(|c| *c == r.call)
            && self
                .key
                .as_ref()
                .is_none_or(|k| r.key.as_deref() == Some(k.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn change(call: &str, params: Value) -> Change {
        Change {
            key: Some(fingerprint("secret-key")),
            call: call.into(),
            params,
        }
    }

    #[test]
    fn a_fingerprint_is_short_stable_and_not_the_key() {
        let f = fingerprint("secret-key");
        assert_eq!(f.len(), FINGERPRINT_HEX);
        assert!(f.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(f, fingerprint("secret-key"));
        assert_ne!(f, fingerprint("secret-kez"));
        // SHA-256("abc") starts ba7816bf8f01.
        assert_eq!(fingerprint("abc"), "ba7816bf8f01");
    }

    #[test]
    fn records_are_appended_and_read_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read(dir.path()).unwrap().records.is_empty(), "no log yet");
        let one = change("update_campaign.json", json!({"campaign_id": 1})).record("n1", 2);
        let two = change("batch.json", json!({"calls": []})).record("n1", 3);
        append(dir.path(), &one).unwrap();
        append(dir.path(), &two).unwrap();
        let read = read(dir.path()).unwrap();
        assert_eq!(read.records, [one, two]);
        assert!(read.skipped.is_empty());
        assert!(read.records[0].time.parse::<jiff::Timestamp>().is_ok());
    }

    #[test]
    fn a_torn_last_line_is_skipped_and_the_next_record_is_whole() {
        let dir = tempfile::tempdir().unwrap();
        let one = change("offer.json", json!({})).record("n", 1);
        append(dir.path(), &one).unwrap();
        let mut f = OpenOptions::new()
            .append(true)
            .open(path(dir.path()))
            .unwrap();
        f.write_all(br#"{"time":"2026-01-01T00:00:00.000Z","ke"#)
            .unwrap();
        let two = change("offer.json", json!({})).record("n", 2);
        append(dir.path(), &two).unwrap();
        let read = read(dir.path()).unwrap();
        assert_eq!(read.records, [one, two]);
        assert_eq!(read.skipped, [2]);
    }

    #[test]
    fn an_api_key_never_reaches_the_record() {
        let r = change(
            "batch.json",
            json!({"api_key": "k", "calls": [{"call": "x", "params": {"api_key": "k", "a": 1}}]}),
        )
        .record("n", 1);
        assert_eq!(
            r.params,
            json!({"calls": [{"call": "x", "params": {"a": 1}}]})
        );
        assert!(!serde_json::to_string(&r).unwrap().contains("secret-key"));
    }

    #[test]
    fn filters_hold_together() {
        let mut r = change("offer.json", json!({})).record("n", 1);
        r.time = "2026-05-01T10:00:00.000Z".into();
        let at = |t: &str| Some(t.parse::<jiff::Timestamp>().unwrap());
        assert!(Filter::default().matches(&r));
        let f = Filter {
            since: at("2026-05-01T10:00:00Z"),
            until: at("2026-05-01T10:00:01Z"),
            call: Some("offer.json".into()),
            key: Some(fingerprint("secret-key")),
        };
        assert!(f.matches(&r));
        let until = Filter {
            until: at("2026-05-01T10:00:00Z"),
            ..Filter::default()
        };
        assert!(!until.matches(&r), "until is exclusive");
        let call = Filter {
            call: Some("push".into()),
            ..Filter::default()
        };
        assert!(!call.matches(&r));
        let key = Filter {
            key: Some(fingerprint("other")),
            ..Filter::default()
        };
        assert!(!key.matches(&r));
    }
}
