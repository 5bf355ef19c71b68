//! The conversion ledger: one thread that owns the converted-id set and the conversion log
//! (`conversions-<UTC hour>.ndjson` under `state.dir`), and counts conversions into the caps.
//!
//! A postback hands its conversion over a bounded queue and waits for the answer. The thread
//! takes everything queued as one batch (group commit): drops duplicates, appends the new
//! records, fsyncs once, and only then counts them (caps, statistics), moves the saved log
//! position and answers `recorded`. A failed write (disk full) is cut back to the last whole
//! line, the batch's ids are forgotten again and each postback is answered `unavailable`
//! (503): nothing is counted that is not on disk, and the advertiser's retry can succeed.
//!
//! A recorded conversion that carries a partner postback is then handed to the partner
//! postback sender ([`Deliveries`]): after its fsync, so nothing is delivered that is not on
//! disk, and on disk with its conversion, so nothing on disk is lost to the sender (it reads
//! the log back at start).
//!
//! At start, [`replay`] reads the log back: every conversion inside the attribution window
//! re-enters the converted set, and every conversion after the position saved with the
//! counters is counted again, so a `kill -9` loses no conversion.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::time::{Duration, SystemTime};

use tokio::sync::oneshot;

use super::dedup::{Converted, Insert};
use super::record::Conversion;
use crate::calendar::Calendar;
use crate::clock::unix_secs;
use crate::counts::hourly::RETENTION_HOURS;
use crate::counts::{Counts, LogPosition, hour_of};
use crate::files::{AppendFile, FailureLog, LogThread, hourly_name, log_files, parse_hour_stamp};
use crate::metrics::Metrics;

/// Conversion log files are `conversions-<UTC hour>.ndjson`.
pub const PREFIX: &str = "conversions";
/// Postbacks waiting for the writer; beyond this they are answered `unavailable`.
const QUEUE: usize = 4096;
/// How often ids of clicks that left the attribution window are dropped.
const EXPIRE_EVERY: Duration = Duration::from_secs(600);

/// The answer to one postback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Recorded,
    Duplicate,
    /// Not recorded and not counted (disk failure, full converted set, shutting down): retry.
    Unavailable,
    /// Cluster mode, Redis unreachable: kept in the node's postback queue, to be applied
    /// (deduplicated across the cluster) when Redis is back. Never answered by the ledger.
    Queued,
}

struct Request {
    conversion: Conversion,
    calendar: Arc<Calendar>,
    reply: oneshot::Sender<Answer>,
}

enum Msg {
    Convert(Request),
    Stop,
}

/// Where recorded conversions with a partner postback go (the partner postback sender).
pub type Deliveries = tokio::sync::mpsc::UnboundedSender<Conversion>;

/// The request side: cheap to clone.
#[derive(Clone)]
pub struct LedgerHandle {
    tx: SyncSender<Msg>,
    tracked: Arc<AtomicUsize>,
}

impl LedgerHandle {
    /// Records `conversion` (if new), counting it in the windows of `calendar`.
    pub async fn record(&self, conversion: Conversion, calendar: Arc<Calendar>) -> Answer {
        let (reply, answer) = oneshot::channel();
        let request = Request {
            conversion,
            calendar,
            reply,
        };
        match self.tx.try_send(Msg::Convert(request)) {
            Ok(()) => answer.await.unwrap_or(Answer::Unavailable),
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => Answer::Unavailable,
        }
    }

    /// Click ids in the converted set now.
    pub fn tracked(&self) -> usize {
        self.tracked.load(Ordering::Relaxed)
    }
}

pub struct Ledger {
    handle: LedgerHandle,
    thread: LogThread<Msg>,
}

impl Ledger {
    /// Starts the writer with the converted set `converted` (from [`replay`]). Log files
    /// older than `retention` are deleted, except any that replay may still need (see
    /// `Writer::expire`).
    pub fn start(
        dir: &Path,
        converted: Converted,
        retention: Duration,
        counts: Arc<Counts>,
        metrics: Arc<Metrics>,
        deliveries: Option<Deliveries>,
    ) -> io::Result<Ledger> {
        let tracked = Arc::new(AtomicUsize::new(converted.len()));
        let mut writer = Writer {
            dir: dir.to_path_buf(),
            file: None,
            converted,
            counts,
            metrics,
            tracked: Arc::clone(&tracked),
            failures: FailureLog::new("conversion log"),
            retention,
            deliveries,
        };
        let thread = LogThread::start("conversions", QUEUE, move |rx| writer.run(rx))?;
        Ok(Ledger {
            handle: LedgerHandle {
                tx: thread.sender(),
                tracked,
            },
            thread,
        })
    }

    pub fn handle(&self) -> LedgerHandle {
        self.handle.clone()
    }

    /// Answers everything queued, then stops the thread.
    pub fn stop(self) {
        self.thread.stop(Msg::Stop);
    }
}

struct OpenLog {
    name: String,
    file: AppendFile,
}

struct Writer {
    dir: PathBuf,
    file: Option<OpenLog>,
    converted: Converted,
    counts: Arc<Counts>,
    metrics: Arc<Metrics>,
    tracked: Arc<AtomicUsize>,
    failures: FailureLog,
    retention: Duration,
    deliveries: Option<Deliveries>,
}

impl Writer {
    fn run(&mut self, rx: Receiver<Msg>) {
        self.expire();
        let mut next_expiry = SystemTime::now() + EXPIRE_EVERY;
        loop {
            let first = match rx.recv_timeout(EXPIRE_EVERY) {
                Ok(Msg::Convert(r)) => r,
                Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => return,
                Err(RecvTimeoutError::Timeout) => {
                    self.expire();
                    continue;
                }
            };
            let mut batch = vec![first];
            let mut stop = false;
            while batch.len() < QUEUE {
                match rx.try_recv() {
                    Ok(Msg::Convert(r)) => batch.push(r),
                    Ok(Msg::Stop) | Err(TryRecvError::Disconnected) => {
                        stop = true;
                        break;
                    }
                    Err(TryRecvError::Empty) => break,
                }
            }
            self.commit(batch);
            if stop {
                return;
            }
            if SystemTime::now() >= next_expiry {
                self.expire();
                next_expiry = SystemTime::now() + EXPIRE_EVERY;
            }
        }
    }

    /// Drops the ids of clicks that left the attribution window, and deletes the log files
    /// older than the retention. Never a file that replay may need: the retention is at least
    /// the attribution window (settings), so every file with a conversion that can still be
    /// duplicated is kept, and so is every file from the one holding the position saved with
    /// the counters (conversions there may not be in `counters.json` yet).
    fn expire(&mut self) {
        let now = unix_secs(SystemTime::now());
        let dropped = self.converted.expire(now);
        self.tracked.store(self.converted.len(), Ordering::Relaxed);
        if dropped > 0 {
            tracing::debug!(dropped, "converted click ids left the attribution window");
        }
        let retained_from = (now.max(0) as u64).saturating_sub(self.retention.as_secs()) / 3600;
        let saved = self.counts.saved_position();
        // Without a saved position (nothing counted yet), every file may be replayed.
        if let Some(saved_from) = saved.and_then(|p| saved_hour(&p.file)) {
            let keep_from = saved_from.min(retained_from);
            crate::files::remove_logs_before(&self.dir, PREFIX, keep_from);
        }
    }

    /// Writes the new conversions of `batch` with one fsync, then counts and answers them.
    fn commit(&mut self, batch: Vec<Request>) {
        let mut lines = Vec::new();
        let mut accepted = Vec::with_capacity(batch.len());
        for r in batch {
            let answer = match self
                .converted
                .insert(r.conversion.key(), r.conversion.claims.time)
            {
                Insert::New => {
                    r.conversion.write_line(&mut lines);
                    accepted.push(r);
                    continue;
                }
                Insert::Duplicate => Answer::Duplicate,
                Insert::Full => {
                    tracing::error!(
                        tracked = self.converted.len(),
                        "converted click id set is full (tracking.max_tracked_conversions); refusing conversions"
                    );
                    Answer::Unavailable
                }
            };
            let _ = r.reply.send(answer);
        }
        if accepted.is_empty() {
            return;
        }
        let answer = match self.append(&lines) {
            Ok(position) => {
                self.failures.succeeded();
                let mut counting = self.counts.counting();
                for r in &accepted {
                    let c = &r.conversion;
                    counting.conversion(
                        c.source(),
                        c.claims.offer_id,
                        c.earned(),
                        c.time_secs(),
                        &r.calendar,
                    );
                }
                counting.through(position);
                if let Some(deliveries) = &self.deliveries {
                    for r in accepted
                        .iter()
                        .filter(|r| r.conversion.partner_postback.is_some())
                    {
                        let _ = deliveries.send(r.conversion.clone());
                    }
                }
                Answer::Recorded
            }
            Err(e) => {
                self.metrics.conversion_write_errors.inc();
                self.failures.failed(
                    &e,
                    &format_args!(
                        "{} conversions answered 503 (dir {})",
                        accepted.len(),
                        self.dir.display()
                    ),
                );
                for r in &accepted {
                    self.converted.remove(r.conversion.key());
                }
                Answer::Unavailable
            }
        };
        self.tracked.store(self.converted.len(), Ordering::Relaxed);
        for r in accepted {
            let _ = r.reply.send(answer);
        }
    }

    /// Appends whole lines to the file of the current UTC hour and fsyncs; on failure cuts
    /// the file back to its last whole line.
    fn append(&mut self, lines: &[u8]) -> io::Result<LogPosition> {
        let name = hourly_name(PREFIX, unix_secs(SystemTime::now()) as u64 / 3600);
        if self.file.as_ref().is_none_or(|f| f.name != name) {
            self.file = None;
            let file = AppendFile::open(&self.dir.join(&name))?;
            self.file = Some(OpenLog { name, file });
        }
        let log = self.file.as_mut().expect("opened above");
        match log.file.append(lines, true) {
            Ok(()) => Ok(LogPosition {
                file: log.name.clone(),
                offset: log.file.end(),
            }),
            Err(e) => {
                self.file = None;
                Err(e)
            }
        }
    }
}

/// The UTC hour of a conversion log file name (`conversions-2026-11-22T10.ndjson`).
fn saved_hour(name: &str) -> Option<u64> {
    let stamp = name
        .strip_prefix(PREFIX)?
        .strip_prefix('-')?
        .strip_suffix(".ndjson")?;
    parse_hour_stamp(stamp)
}

/// What [`replay`] found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Replayed {
    /// Conversions counted again (after the saved position).
    pub counted: u64,
    /// Lines that could not be read (logged).
    pub unreadable: u64,
}

/// Rebuilds the converted set from the conversion log in `dir` and counts every conversion
/// after the position saved in `counts` (all of them when none was saved), then moves the
/// position to the end of the log. Every conversion of a click inside the hourly statistics'
/// retention goes into its click's hour (the hour files hold clicks only: the log is the
/// conversions' truth). Runs once, before the ledger starts. Reads only: a torn last line is
/// skipped here and cut when the ledger next opens that file.
pub fn replay(
    dir: &Path,
    counts: &Counts,
    calendar: &Calendar,
    converted: &mut Converted,
    now: i64,
) -> io::Result<Replayed> {
    let mut counting = counts.counting();
    let mut found = Replayed::default();
    for path in log_files(dir, PREFIX) {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // Conversions at `offset` and after in this file are not in the saved counts.
        let count_from = match counting.position() {
            None => Some(0),
            Some(p) if name > p.file => Some(0),
            Some(p) if name == p.file => Some(p.offset),
            Some(_) => None,
        };
        let hours_from = hour_of(now).saturating_sub(RETENTION_HOURS - 1);
        if count_from.is_none()
            && !may_hold_window(&name, converted, now)
            && saved_hour(&name).is_some_and(|hour| hour < u64::from(hours_from))
        {
            continue;
        }
        let bytes = std::fs::read(&path)?;
        let mut offset = 0u64;
        for line in bytes.split_inclusive(|&b| b == b'\n') {
            let start = offset;
            offset += line.len() as u64;
            if line.last() != Some(&b'\n') {
                break; // a torn tail (repair cuts it when the file is next opened)
            }
            let c = match Conversion::parse_line(line) {
                Ok(c) => c,
                Err(e) => {
                    found.unreadable += 1;
                    tracing::warn!(file = %path.display(), offset = start, error = %e, "unreadable conversion record skipped");
                    continue;
                }
            };
            if converted.in_window(i64::from(c.claims.time), now) {
                let _ = converted.insert(c.key(), c.claims.time);
            }
            if count_from.is_some_and(|from| start >= from) {
                counting.conversion(
                    c.source(),
                    c.claims.offer_id,
                    c.earned(),
                    c.time_secs(),
                    calendar,
                );
                found.counted += 1;
                counting.through(LogPosition {
                    file: name.clone(),
                    offset,
                });
            } else if hour_of(i64::from(c.claims.time)) >= hours_from {
                counts.hourly().add_conversion(
                    c.source(),
                    c.claims.offer_id,
                    hour_of(i64::from(c.claims.time)),
                    c.earned(),
                );
            }
        }
    }
    Ok(found)
}

/// Whether the log file `name` can hold a conversion of a click still inside the attribution
/// window: its hour ends after the window's start (a conversion comes after its click).
fn may_hold_window(name: &str, converted: &Converted, now: i64) -> bool {
    saved_hour(name).is_none_or(|hour| converted.in_window((hour as i64 + 1) * 3600, now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const NOW: i64 = 1_795_867_200; // 2026-11-22T12:00:00Z

    fn conversion(n: u32, click_age_days: i64) -> Conversion {
        Conversion::sample(
            (NOW - click_age_days * 86_400) as u32,
            (NOW - 3600) * 1000 + i64::from(n),
        )
    }

    fn write_log(dir: &Path, name: &str, conversions: &[Conversion]) -> u64 {
        let mut bytes = Vec::new();
        for c in conversions {
            c.write_line(&mut bytes);
        }
        std::fs::write(dir.join(name), &bytes).unwrap();
        bytes.len() as u64
    }

    fn total(counts: &Counts) -> u64 {
        counts.offer(7).total_conversions()
    }

    #[test]
    fn replay_counts_only_after_the_saved_position_and_remembers_ids_in_the_window() {
        let dir = tempfile::tempdir().unwrap();
        let calendar = Calendar::named("UTC").unwrap();
        let old = [conversion(1, 40), conversion(2, 1)];
        let new = [conversion(3, 0)];
        let first = "conversions-2026-11-22T10.ndjson";
        let second = "conversions-2026-11-22T11.ndjson";
        let first_len = write_log(dir.path(), first, &old);
        let second_len = write_log(dir.path(), second, &new);
        // A torn tail, as after kill -9 mid-write: skipped.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join(second))
            .unwrap();
        f.write_all(b"{\"time\":\"2026").unwrap();

        // Saved counters include the first file: only the second is counted again.
        let counts = Counts::default();
        counts.counting().through(LogPosition {
            file: first.into(),
            offset: first_len,
        });
        let mut converted = Converted::new(30 * 86_400, 100);
        let found = replay(dir.path(), &counts, &calendar, &mut converted, NOW).unwrap();
        assert_eq!(
            found,
            Replayed {
                counted: 1,
                unreadable: 0
            }
        );
        assert_eq!(total(&counts), 1);
        assert_eq!(
            counts.saved_position(),
            Some(LogPosition {
                file: second.into(),
                offset: second_len
            })
        );
        // The 40-day-old click is outside the window; the other two are remembered.
        assert_eq!(converted.len(), 2);
        assert_eq!(
            converted.insert(old[1].key(), old[1].claims.time),
            Insert::Duplicate
        );
        assert_eq!(
            converted.insert(new[0].key(), new[0].claims.time),
            Insert::Duplicate
        );
        assert_eq!(
            converted.insert(old[0].key(), old[0].claims.time),
            Insert::New
        );

        // No saved counters at all (file lost): everything is counted.
        let counts = Counts::default();
        let mut converted = Converted::new(30 * 86_400, 100);
        let found = replay(dir.path(), &counts, &calendar, &mut converted, NOW).unwrap();
        assert_eq!(found.counted, 3);
        assert_eq!(total(&counts), 3);

        // A line that is not a conversion is reported, not fatal.
        std::fs::write(dir.path().join(second), "not json\n").unwrap();
        let counts = Counts::default();
        counts.counting().through(LogPosition {
            file: first.into(),
            offset: first_len,
        });
        let found = replay(
            dir.path(),
            &counts,
            &calendar,
            &mut Converted::new(86_400, 10),
            NOW,
        )
        .unwrap();
        assert_eq!(
            found,
            Replayed {
                counted: 0,
                unreadable: 1
            }
        );
    }

    #[test]
    fn expired_logs_are_deleted_but_never_one_replay_needs() {
        let dir = tempfile::tempdir().unwrap();
        let now_hour = unix_secs(SystemTime::now()) as u64 / 3600;
        let name = |hours_ago: u64| hourly_name(PREFIX, now_hour - hours_ago);
        for ago in [100 * 24, 50 * 24, 10] {
            std::fs::write(dir.path().join(name(ago)), "").unwrap();
        }
        let start = |saved: Option<u64>| {
            let counts = Arc::new(Counts::default());
            if let Some(ago) = saved {
                counts.counting().through(LogPosition {
                    file: name(ago),
                    offset: 0,
                });
            }
            let ledger = Ledger::start(
                dir.path(),
                Converted::new(30 * 86_400, 10),
                Duration::from_secs(40 * 86_400),
                counts,
                Arc::new(Metrics::default()),
                None,
            )
            .unwrap();
            ledger.stop();
            log_files(dir.path(), PREFIX).len()
        };
        assert_eq!(start(None), 3, "nothing counted yet: all may be replayed");
        assert_eq!(
            start(Some(100 * 24)),
            3,
            "the saved position's file is kept"
        );
        assert_eq!(
            start(Some(50 * 24)),
            2,
            "older than the retention and counted"
        );
        assert_eq!(start(Some(10)), 1, "50 days old, retention 40 days");
        assert!(dir.path().join(name(10)).exists());
    }

    #[test]
    fn the_ledger_writes_counts_and_answers_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let counts = Arc::new(Counts::default());
        let metrics = Arc::new(Metrics::default());
        let ledger = Ledger::start(
            dir.path(),
            Converted::new(30 * 86_400, 100),
            Duration::from_secs(90 * 86_400),
            Arc::clone(&counts),
            Arc::clone(&metrics),
            None,
        )
        .unwrap();
        let handle = ledger.handle();
        let calendar = Arc::new(Calendar::named("UTC").unwrap());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let answers = runtime.block_on(async {
            let c = conversion(1, 0);
            let mut answers = Vec::new();
            for _ in 0..5 {
                answers.push(handle.record(c.clone(), Arc::clone(&calendar)).await);
            }
            answers
        });
        let recorded = answers.iter().filter(|a| **a == Answer::Recorded).count();
        assert_eq!(recorded, 1, "{answers:?}");
        assert_eq!(total(&counts), 1);
        assert_eq!(handle.tracked(), 1);
        ledger.stop();
        let position = counts.saved_position().unwrap();
        let text = std::fs::read_to_string(dir.path().join(&position.file)).unwrap();
        assert_eq!(text.len() as u64, position.offset);
        assert_eq!(text.lines().count(), 1);
    }
}
