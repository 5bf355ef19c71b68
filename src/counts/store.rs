//! The counters file, `counters.json` under `state.dir`: every counter of the [`Counts`] and
//! the position in the conversion log up to which conversions are included.
//!
//! Written whole and atomically (temporary file, fsync, rename, fsync of the directory) by
//! the saver thread about once a second and at shutdown, so after `kill -9` the file is the
//! last complete snapshot: at most a second of click counts is lost, and conversions after
//! the saved position are replayed from their log (`conversions::replay`).
//!
//! A file that exists but cannot be read is an error at start, never silently replaced by
//! zeros: that would re-open every cap. The operator moves it aside to start from zero.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use super::hourly::{Hour, HourFile, Hourly};
use super::offer::{Counted, WindowCount};
use super::registry::{Counts, Fallbacks, LogPosition, Sum};
use crate::files::{hour_stamp, parse_hour_stamp, write_atomically};
use crate::money::Total;
use crate::vocab::{Source, SourceKind};

pub const FILE_NAME: &str = "counters.json";
const VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CountersFile {
    version: u32,
    /// `None`: no conversion has been logged yet.
    conversion_log: Option<LogPosition>,
    offers: Vec<OfferRow>,
    sources: Vec<SourceRow>,
    routes: Vec<RouteRow>,
    /// Absent from counters files written before landing-page rotation.
    #[serde(default)]
    landing_pages: Vec<LandingPageRow>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OfferRow {
    offer_id: u32,
    daily_clicks: Counted,
    daily_conversions: Counted,
    weekly_conversions: Counted,
    monthly_conversions: Counted,
    total_conversions: u64,
    capped_clicks: u64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceRow {
    kind: SourceKind,
    id: u32,
    fallback: Fallbacks,
    fallback_conversions: u64,
    /// Absent from files written before revenue was counted.
    #[serde(default)]
    fallback_revenue: Total,
    /// The affiliate whose link it is; absent (0, not known) from files written before
    /// affiliate statistics.
    #[serde(default)]
    affiliate_id: u32,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteRow {
    kind: SourceKind,
    id: u32,
    offer_id: u32,
    routed: u64,
    conversions: u64,
    #[serde(default)]
    revenue: Total,
    /// Absent from files written before affiliate payouts were counted.
    #[serde(default)]
    cost: Total,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LandingPageRow {
    offer_id: u32,
    landing_page_id: u32,
    clicks: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: cannot be read back ({message}); nothing was changed. {recovery}")]
    Invalid {
        path: PathBuf,
        message: String,
        /// The way forward, for the operator.
        recovery: &'static str,
    },
}

impl StoreError {
    pub const COUNTERS_RECOVERY: &str = "To start without it, move it aside (mv counters.json counters.json.bad): conversions and their caps are then counted again from the conversion log, today's click caps from reservations.json, and lifetime click statistics restart from zero while the hourly ones keep their 31 days (docs/operations.md#when-a-state-file-cannot-be-read)";
    pub const RESERVATIONS_RECOVERY: &str = "To start without it, move it aside (mv reservations.json reservations.json.bad): today's click caps are then counted again from the click log (docs/operations.md#when-a-state-file-cannot-be-read)";
}

/// Serialises every counter and the conversion log position (pretty: people read it). The
/// values are read under the conversion log's lock, so that they and the position agree; the
/// serialising happens after it is released, so the ledger waits for a copy, not a render.
pub fn render(counts: &Counts) -> Vec<u8> {
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let counting = counts.counting();
    let file = CountersFile {
        version: VERSION,
        conversion_log: counting.position().cloned(),
        offers: counts
            .offers()
            .into_iter()
            .map(|(offer_id, c)| OfferRow {
                offer_id,
                daily_clicks: c.daily_clicks.get(),
                daily_conversions: c.daily_conversions.get(),
                weekly_conversions: c.weekly_conversions.get(),
                monthly_conversions: c.monthly_conversions.get(),
                total_conversions: load(&c.total_conversions),
                capped_clicks: load(&c.capped_clicks),
            })
            .collect(),
        sources: counts
            .sources()
            .into_iter()
            .map(|(s, c)| SourceRow {
                kind: s.kind,
                id: s.id,
                fallback: c.fallback_counts(),
                fallback_conversions: load(&c.fallback_conversions),
                fallback_revenue: c.fallback_revenue(),
                affiliate_id: c.affiliate(),
            })
            .collect(),
        routes: counts
            .routes()
            .into_iter()
            .map(|((s, offer_id), c)| RouteRow {
                kind: s.kind,
                id: s.id,
                offer_id,
                routed: load(&c.routed),
                conversions: load(&c.conversions),
                revenue: c.revenue(),
                cost: c.cost(),
            })
            .collect(),
        landing_pages: counts
            .landing_pages()
            .into_iter()
            .map(|((offer_id, landing_page_id), c)| LandingPageRow {
                offer_id,
                landing_page_id,
                clicks: load(&c.clicks),
            })
            .collect(),
    };
    drop(counting);
    let mut out = serde_json::to_vec_pretty(&file).expect("counters serialise");
    out.push(b'\n');
    out
}

/// Reads `dir/counters.json` into `counts` (which should be empty), conversion log position
/// included. No file: nothing is loaded. Returns whether there was a file.
pub fn load(dir: &Path, counts: &Counts) -> Result<bool, StoreError> {
    let Some(mut file) = read_state(dir.join(FILE_NAME), parse, StoreError::COUNTERS_RECOVERY)?
    else {
        return Ok(false);
    };
    let position = file.conversion_log.take();
    apply(file, counts, How::Restore);
    if let Some(position) = position {
        counts.counting().through(position);
    }
    Ok(true)
}

/// Reads the state file `path` and parses it with `parse`; `None`: there is no file. An
/// error names the file and, for one that cannot be read back, the way forward (`recovery`).
pub(super) fn read_state<T>(
    path: PathBuf,
    parse: impl Fn(&[u8]) -> Result<T, String>,
    recovery: &'static str,
) -> Result<Option<T>, StoreError> {
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(StoreError::Read { path, source }),
    };
    parse(&bytes)
        .map(Some)
        .map_err(|message| StoreError::Invalid {
            path,
            message,
            recovery,
        })
}

/// Whether a state file of `version` is one this build reads (`reads`).
pub(super) fn check_version(version: u32, reads: u32) -> Result<(), String> {
    if version == reads {
        Ok(())
    } else {
        Err(format!(
            "version {version} (this build reads version {reads})"
        ))
    }
}

fn parse(bytes: &[u8]) -> Result<CountersFile, String> {
    let file: CountersFile = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    check_version(file.version, VERSION)?;
    Ok(file)
}

/// Adds one node's counters file (cluster mode: `bytes` as the node pushed it) to `counts`,
/// for cluster statistics ([`How::Sum`]).
pub fn add(bytes: &[u8], counts: &Counts) -> Result<(), String> {
    apply(parse(bytes)?, counts, How::Sum);
    Ok(())
}

/// How a counters file goes into `counts`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum How {
    /// At start: the file's counts become the counts.
    Restore,
    /// Cluster statistics: clicks, fallbacks, routes, landing pages and capped clicks are each node's own
    /// and are summed; the conversion windows hold the cluster's totals on every node (see
    /// `OfferCounters::set_conversion_totals`), so the largest is kept. A count of an older
    /// window than the one held is left out; a newer window replaces it.
    Sum,
}

/// Puts every count of `file` into `counts` the way `how` says.
fn apply(file: CountersFile, counts: &Counts, how: How) {
    let count = |a: &AtomicU64, v: u64| match how {
        How::Restore => a.store(v, Ordering::Relaxed),
        How::Sum => {
            a.fetch_add(v, Ordering::Relaxed);
        }
    };
    let revenue = |r: &Sum, v: Total| match how {
        How::Restore => r.set(v),
        How::Sum => r.add(v),
    };
    let window = |w: &WindowCount, v: Counted, sum: fn(u64, u64) -> u64| match how {
        How::Restore => w.set(v),
        How::Sum => w.merge(v, sum),
    };
    for r in file.offers {
        let c = counts.offer(r.offer_id);
        window(&c.daily_clicks, r.daily_clicks, u64::saturating_add);
        window(&c.daily_conversions, r.daily_conversions, u64::max);
        window(&c.weekly_conversions, r.weekly_conversions, u64::max);
        window(&c.monthly_conversions, r.monthly_conversions, u64::max);
        match how {
            How::Restore => c
                .total_conversions
                .store(r.total_conversions, Ordering::Relaxed),
            How::Sum => {
                c.total_conversions
                    .fetch_max(r.total_conversions, Ordering::Relaxed);
            }
        }
        count(&c.capped_clicks, r.capped_clicks);
    }
    for r in file.sources {
        let c = counts.source(Source {
            kind: r.kind,
            id: r.id,
        });
        match how {
            How::Restore => c.set_fallback_counts(&r.fallback),
            How::Sum => c.add_fallback_counts(&r.fallback),
        }
        count(&c.fallback_conversions, r.fallback_conversions);
        revenue(&c.fallback_revenue, r.fallback_revenue);
        if r.affiliate_id != 0 {
            c.set_affiliate(r.affiliate_id);
        }
    }
    for r in file.routes {
        let c = counts.route(
            Source {
                kind: r.kind,
                id: r.id,
            },
            r.offer_id,
        );
        count(&c.routed, r.routed);
        count(&c.conversions, r.conversions);
        revenue(&c.revenue, r.revenue);
        revenue(&c.cost, r.cost);
    }
    for r in file.landing_pages {
        count(
            &counts.landing_page(r.offer_id, r.landing_page_id).clicks,
            r.clicks,
        );
    }
    if how == How::Restore {
        counts.mark_swept();
    }
}

/// The hourly statistics' directory under `state.dir`: `hours/<UTC hour>.json`, one
/// [`HourFile`] each, written whole and atomically by the saver when the hour changed.
pub const HOURS_DIR: &str = "hours";

fn hour_name(hour: Hour) -> String {
    format!("{}.json", hour_stamp(u64::from(hour)))
}

fn hour_of_name(name: &str) -> Option<Hour> {
    parse_hour_stamp(name.strip_suffix(".json")?).and_then(|h| Hour::try_from(h).ok())
}

/// Writes the file of every hour in `hours` (and removes the files of hours before
/// `oldest`). Stops at the first failure and returns the hours not written.
pub fn save_hours(
    dir: &Path,
    hourly: &Hourly,
    hours: BTreeSet<Hour>,
    oldest: Hour,
) -> Result<(), (std::io::Error, BTreeSet<Hour>)> {
    let dir = dir.join(HOURS_DIR);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        return Err((e, hours));
    }
    let mut left = hours.clone();
    for hour in hours.into_iter().filter(|&h| h >= oldest) {
        let file = hourly.hour_file(hour);
        let mut bytes = serde_json::to_vec(&file).expect("an hour serialises");
        bytes.push(b'\n');
        write_atomically(&dir.join(hour_name(hour)), &bytes).map_err(|e| (e, left.clone()))?;
        left.remove(&hour);
    }
    for (hour, path) in hour_files(&dir) {
        if hour < oldest {
            let _ = std::fs::remove_file(path);
        }
    }
    Ok(())
}

fn hour_files(dir: &Path) -> Vec<(Hour, PathBuf)> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let hour = hour_of_name(e.file_name().to_str()?)?;
            Some((hour, e.path()))
        })
        .collect()
}

/// Reads the hour files of `dir` from `oldest` on into `hourly`: their clicks only (the
/// conversions are counted again from the conversion log). A file that cannot be read is
/// left out with a warning: an hour's statistics are not worth refusing to start over.
pub fn load_hours(dir: &Path, hourly: &Hourly, oldest: Hour) -> usize {
    let mut loaded = 0;
    for (hour, path) in hour_files(&dir.join(HOURS_DIR)) {
        if hour < oldest {
            continue;
        }
        let read = std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice::<HourFile>(&b).map_err(|e| e.to_string()));
        match read {
            Ok(file) if file.hour == hour => {
                hourly.add_file(&file, true);
                loaded += 1;
            }
            Ok(_) => {
                tracing::warn!(file = %path.display(), "hour file names another hour; left out")
            }
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "unreadable hour file; its clicks are left out of the hourly statistics")
            }
        }
    }
    loaded
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::FallbackReason;

    fn filled() -> Counts {
        let r = Counts::default();
        let o = r.offer(1042);
        o.daily_clicks.set(Counted {
            window_start: 1_795_392_000,
            count: 17,
        });
        o.total_conversions.store(5, Ordering::Relaxed);
        o.capped_clicks.store(3, Ordering::Relaxed);
        let s = Source::smart_link(301);
        r.source(s).click_fell_back(FallbackReason::AllCapped);
        r.route(s, 1042).routed.store(99, Ordering::Relaxed);
        r.route(s, 1043).conversions.store(2, Ordering::Relaxed);
        r.route(s, 1043).cost.set(Total::parse("3.25").unwrap());
        r.source(s).set_affiliate(67890);
        r.landing_page(1042, 883)
            .clicks
            .store(41, Ordering::Relaxed);
        r
    }

    #[test]
    fn every_counter_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let position = LogPosition {
            file: "conversions-2026-11-22T10.ndjson".into(),
            offset: 812,
        };
        let counts = filled();
        counts.counting().through(position.clone());
        let text = render(&counts);
        std::fs::write(dir.path().join(FILE_NAME), &text).unwrap();
        let restored = Counts::default();
        assert!(load(dir.path(), &restored).unwrap());
        assert_eq!(restored.saved_position(), Some(position));
        // Every value, read back from the restored counters themselves.
        let o = restored.offer(1042);
        assert_eq!(
            o.daily_clicks.get(),
            Counted {
                window_start: 1_795_392_000,
                count: 17
            }
        );
        assert_eq!(o.total_conversions.load(Ordering::Relaxed), 5);
        assert_eq!(o.capped_clicks.load(Ordering::Relaxed), 3);
        let s = Source::smart_link(301);
        assert_eq!(restored.source(s).fallback_counts().all_capped, 1);
        assert_eq!(restored.source(s).fallback_counts().total(), 1);
        assert_eq!(restored.route(s, 1042).routed.load(Ordering::Relaxed), 99);
        assert_eq!(
            restored.route(s, 1043).conversions.load(Ordering::Relaxed),
            2
        );
        assert_eq!(restored.landing_page(1042, 883).clicks(), 41);
        assert_eq!(restored.route(s, 1043).cost().to_string(), "3.25");
        assert_eq!(restored.source(s).affiliate(), 67890);
        assert_eq!(render(&restored), text);
    }

    #[test]
    fn nodes_add_up_their_own_counts_and_share_the_conversion_totals() {
        let day = 1_795_392_000;
        let node = |clicks: u64, conversions: u64, window: i64| {
            let r = filled();
            let o = r.offer(1042);
            o.daily_clicks.set(Counted {
                window_start: window,
                count: clicks,
            });
            o.daily_conversions.set(Counted {
                window_start: window,
                count: conversions,
            });
            render(&r)
        };
        let total = Counts::default();
        add(&node(17, 4, day), &total).unwrap();
        add(&node(5, 4, day), &total).unwrap();
        // A node whose last push is of the day before: its clicks are of no current window.
        add(&node(9, 1, day - 86_400), &total).unwrap();
        let o = total.offer(1042);
        assert_eq!(
            o.daily_clicks.get().count,
            22,
            "clicks are summed per window"
        );
        assert_eq!(
            o.daily_conversions.get().count,
            4,
            "conversion totals are shared"
        );
        assert_eq!(o.capped_clicks.load(Ordering::Relaxed), 9);
        let s = Source::smart_link(301);
        assert_eq!(total.route(s, 1042).routed.load(Ordering::Relaxed), 3 * 99);
        assert_eq!(total.source(s).fallback_counts().all_capped, 3);
        assert_eq!(total.landing_page(1042, 883).clicks(), 3 * 41);
        assert_eq!(total.route(s, 1043).cost().to_string(), "9.75");
        assert_eq!(total.source(s).affiliate(), 67890);
        assert!(add(b"{}", &total).is_err());
    }

    /// Regression: a node whose revenue total passed 12 digits was silently left out of
    /// cluster statistics (its pushed counters file did not parse).
    #[test]
    fn totals_beyond_twelve_digits_read_back_and_add_up_across_nodes() {
        let node = Counts::default();
        let s = Source::smart_link(301);
        let most =
            crate::money::Total::from_millionths(u128::from(u64::MAX) * 999_999_999_999_999_999);
        node.route(s, 1042).revenue.set(most);
        node.source(s)
            .fallback_revenue
            .set(crate::money::Total::ZERO + crate::money::Money::MAX + crate::money::Money::MAX);
        let bytes = render(&node);
        let total = Counts::default();
        add(&bytes, &total).unwrap();
        add(&bytes, &total).unwrap();
        assert_eq!(total.route(s, 1042).revenue(), most + most);
        assert_eq!(
            total.source(s).fallback_revenue().to_string(),
            "3999999999999.999996"
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), &bytes).unwrap();
        let restored = Counts::default();
        assert!(load(dir.path(), &restored).unwrap());
        assert_eq!(restored.route(s, 1042).revenue(), most);
    }

    #[test]
    fn a_file_from_before_landing_page_counts_loads_with_none() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(FILE_NAME),
            r#"{"version":1,"conversion_log":null,"offers":[],"sources":[],
               "routes":[{"kind":"smart_link","id":301,"offer_id":1042,"routed":7,"conversions":0}]}"#,
        )
        .unwrap();
        let restored = Counts::default();
        assert!(load(dir.path(), &restored).unwrap());
        assert_eq!(restored.route(Source::smart_link(301), 1042).routed(), 7);
        assert!(restored.landing_pages().is_empty());
    }

    #[test]
    fn a_file_from_before_affiliate_payouts_loads_with_no_cost_and_no_affiliate() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(FILE_NAME),
            r#"{"version":1,"conversion_log":null,"offers":[],
               "sources":[{"kind":"campaign","id":98001,"fallback":{"no_match":0,"all_capped":0,"inactive":0,"bot":1},"fallback_conversions":0,"fallback_revenue":"0.00"}],
               "routes":[{"kind":"smart_link","id":301,"offer_id":1042,"routed":7,"conversions":2,"revenue":"5.00"}],
               "landing_pages":[]}"#,
        )
        .unwrap();
        let restored = Counts::default();
        assert!(load(dir.path(), &restored).unwrap());
        let route = restored.route(Source::smart_link(301), 1042);
        assert_eq!(
            (route.conversions(), route.revenue().to_string().as_str()),
            (2, "5.00")
        );
        assert_eq!(route.cost(), Total::ZERO);
        assert_eq!(restored.source(Source::campaign(98001)).affiliate(), 0);
    }

    #[test]
    fn no_file_is_an_empty_start_and_a_bad_file_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!load(dir.path(), &Counts::default()).unwrap());
        std::fs::write(dir.path().join(FILE_NAME), "{\"version\":1,").unwrap();
        let e = load(dir.path(), &Counts::default()).unwrap_err();
        assert!(e.to_string().contains("move it aside"), "{e}");
        std::fs::write(
            dir.path().join(FILE_NAME),
            "{\"version\":9,\"conversion_log\":null,\"offers\":[],\"sources\":[],\"routes\":[]}",
        )
        .unwrap();
        let e = load(dir.path(), &Counts::default()).unwrap_err();
        assert!(e.to_string().contains("version 9"), "{e}");
    }
}
