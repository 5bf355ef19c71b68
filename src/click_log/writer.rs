//! The click log: NDJSON files under `state.dir`, one per UTC hour
//! (`clicks-2026-11-22T13.ndjson`), written by one thread behind a bounded queue.
//!
//! The request path only `try_send`s a record: it never blocks and never does I/O. When the
//! queue is full the record is dropped and counted (`smartlink_records_dropped_total`).
//! The writer batches lines and writes whole batches, at least every `flush_interval`
//! (≤ 1 s) and at shutdown, then fsyncs at rotation and shutdown. A failed write (disk
//! full) is undone by truncating the file back to its last complete line, counted, logged
//! and retried with the next flush, so a record is either written whole or still pending.
//! A torn last line left by a killed process is cut off when the file is reopened.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};
use std::time::{Duration, Instant};

use super::record::{ClickRecord, TimeFormat};
use crate::clock::unix_secs;
use crate::files::{AppendFile, FailureLog, LogThread, hourly_name, repair_newest};
use crate::metrics::Metrics;

/// Pending bytes above which the writer gives up retrying a failing batch and drops it
/// (counted): memory stays bounded while the disk is full.
const MAX_PENDING_BYTES: usize = 64 << 20;
/// Pending bytes at which the writer writes without waiting for the flush interval.
const WRITE_AT_BYTES: usize = 1 << 20;
/// Click log files are `clicks-<UTC hour>.ndjson`.
const PREFIX: &str = "clicks";
/// The writer's sleep after a round that found records: each wake-up is a context switch on
/// a core that serves clicks (at 1 ms, 1.5 % of a loaded core's samples went to it; at 5 ms a
/// round takes ~600 records at 120 000 clicks/s, far below `records.queue_capacity`).
const MIN_IDLE_SLEEP: Duration = Duration::from_millis(5);
const MAX_IDLE_SLEEP: Duration = Duration::from_millis(10);

/// Fills in what the request path did not look up (the country), off the request path.
pub type Enrich = Box<dyn Fn(&mut ClickRecord) + Send>;

// Records travel by value: boxing them would cost an allocation per click.
#[allow(clippy::large_enum_variant)]
enum Msg {
    Record(ClickRecord),
    /// Write everything queued before this message, fsync, and answer.
    Sync(SyncSender<()>),
    Stop,
}

/// The request side of the log: cheap to clone, never blocks.
#[derive(Clone)]
pub struct RecordSink {
    tx: SyncSender<Msg>,
    metrics: Arc<Metrics>,
}

impl RecordSink {
    /// Queues a record; if the queue is full it is dropped and counted.
    #[inline]
    pub fn send(&self, record: ClickRecord) {
        match self.tx.try_send(Msg::Record(record)) {
            Ok(()) => self.metrics.records_queued.inc(),
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.metrics.records_dropped.inc()
            }
        }
    }

    /// Waits until every record queued so far is written and fsynced (tests, shutdown).
    pub fn sync(&self) {
        let (tx, rx) = mpsc::sync_channel(1);
        if self.tx.send(Msg::Sync(tx)).is_ok() {
            let _ = rx.recv();
        }
    }
}

/// The writer thread; [`RecordLog::stop`] flushes and joins it.
pub struct RecordLog {
    sink: RecordSink,
    thread: LogThread<Msg>,
}

impl RecordLog {
    /// Creates `dir` if needed and starts the writer thread.
    /// `retention_hours`: hours of logs kept, the current one included; older files are
    /// deleted whole at start and at each new hour, by a thread of their own.
    pub fn start(
        dir: &Path,
        capacity: usize,
        flush_interval: Duration,
        retention_hours: u64,
        metrics: Arc<Metrics>,
        enrich: Enrich,
    ) -> io::Result<RecordLog> {
        std::fs::create_dir_all(dir)?;
        repair_newest(dir, PREFIX);
        let mut writer = Writer {
            dir: dir.to_path_buf(),
            hour: None,
            file: None,
            pending: Vec::with_capacity(1 << 16),
            pending_records: 0,
            clock: TimeFormat::default(),
            metrics: Arc::clone(&metrics),
            enrich,
            failures: FailureLog::new("click log"),
            retention_hours,
        };
        let thread = LogThread::start("click-log", capacity, move |rx| {
            writer.run(rx, flush_interval)
        })?;
        Ok(RecordLog {
            sink: RecordSink {
                tx: thread.sender(),
                metrics,
            },
            thread,
        })
    }

    pub fn sink(&self) -> RecordSink {
        self.sink.clone()
    }

    /// Writes everything queued, fsyncs and stops the writer. Records sent afterwards are
    /// counted as dropped.
    pub fn stop(self) {
        self.thread.stop(Msg::Stop);
    }
}

struct Writer {
    dir: PathBuf,
    /// The UTC hour of the open file and of the pending batch (records go to the file of the
    /// hour their batch started in).
    hour: Option<u64>,
    file: Option<AppendFile>,
    pending: Vec<u8>,
    pending_records: u64,
    clock: TimeFormat,
    metrics: Arc<Metrics>,
    enrich: Enrich,
    failures: FailureLog,
    retention_hours: u64,
}

impl Writer {
    /// Drains the queue without ever blocking on it: a writer parked in `recv` would make
    /// every producer pay a futex wake-up. It sleeps instead, 1 ms after finding work and up
    /// to `MAX_IDLE_SLEEP` when idle, and writes at least every `flush_interval`.
    fn run(&mut self, rx: Receiver<Msg>, flush_interval: Duration) {
        let mut next_flush = Instant::now() + flush_interval;
        let mut idle_sleep = MIN_IDLE_SLEEP;
        loop {
            let mut worked = false;
            loop {
                match rx.try_recv() {
                    Ok(Msg::Record(r)) => {
                        self.metrics.records_dequeued.inc();
                        worked = true;
                        self.append(r);
                        if self.pending.len() >= WRITE_AT_BYTES {
                            self.flush(false);
                        }
                    }
                    Ok(Msg::Sync(done)) => {
                        self.flush(true);
                        let _ = done.send(());
                    }
                    Ok(Msg::Stop) | Err(TryRecvError::Disconnected) => {
                        self.flush(true);
                        return;
                    }
                    Err(TryRecvError::Empty) => break,
                }
            }
            let now = Instant::now();
            if now >= next_flush {
                self.flush(false);
                next_flush = now + flush_interval;
            }
            idle_sleep = if worked {
                MIN_IDLE_SLEEP
            } else {
                (idle_sleep * 2).min(MAX_IDLE_SLEEP)
            };
            std::thread::sleep(idle_sleep.min(next_flush.saturating_duration_since(now)));
        }
    }

    fn append(&mut self, mut r: ClickRecord) {
        (self.enrich)(&mut r);
        let hour = unix_secs(r.time) as u64 / 3600;
        match self.hour {
            Some(current) if hour > current => {
                // Rotate: finish the old file first. If that fails, the batch stays with
                // the old hour and this record joins it.
                self.flush(true);
                if self.pending.is_empty() {
                    self.file = None;
                    self.hour = Some(hour);
                    self.expire(hour);
                }
            }
            None => {
                self.hour = Some(hour);
                self.expire(hour);
            }
            Some(_) => {}
        }
        r.write_line(&mut self.pending, &mut self.clock);
        self.pending_records += 1;
    }

    /// Deletes the files that fell out of the retention at `hour`, on a thread of its own:
    /// unlinking a file of gigabytes can take long enough to back the queue up.
    fn expire(&self, hour: u64) {
        let (dir, first_kept) = (
            self.dir.clone(),
            (hour + 1).saturating_sub(self.retention_hours),
        );
        let spawned = std::thread::Builder::new()
            .name("click-log-expiry".into())
            .spawn(move || crate::files::remove_logs_before(&dir, PREFIX, first_kept));
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start the thread that deletes expired click logs");
        }
    }

    /// Writes the pending batch; on failure undoes the partial write and keeps the batch.
    /// After a failure, writes wait for the backoff of [`FailureLog`] unless `fsync` asks for
    /// everything now (sync, rotation, shutdown).
    fn flush(&mut self, fsync: bool) {
        if self.pending.is_empty() {
            if fsync && let Some(f) = &self.file {
                let _ = f.sync();
            }
            return;
        }
        if !fsync && !self.failures.may_retry() {
            return;
        }
        let result = match (&mut self.file, self.hour) {
            (Some(f), _) => f.append(&self.pending, fsync),
            (None, Some(hour)) => AppendFile::open(&self.dir.join(hourly_name(PREFIX, hour)))
                .and_then(|f| self.file.insert(f).append(&self.pending, fsync)),
            (None, None) => Err(io::Error::other("no click log file is open")),
        };
        match result {
            Ok(()) => {
                self.metrics.records_written.add(self.pending_records);
                self.pending.clear();
                self.pending_records = 0;
                self.failures.succeeded();
            }
            Err(e) => {
                self.metrics.record_write_errors.inc();
                self.failures.failed(
                    &e,
                    &format_args!(
                        "{} records stay queued in memory (dir {})",
                        self.pending_records,
                        self.dir.display()
                    ),
                );
                if self.pending.len() > MAX_PENDING_BYTES {
                    tracing::error!(
                        records = self.pending_records,
                        "click log backlog over its bound; dropping it"
                    );
                    self.metrics.records_dropped.add(self.pending_records);
                    self.pending.clear();
                    self.pending_records = 0;
                }
                self.file = None;
            }
        }
    }
}

/// The clicks routed to each of `offers` at or after `since` (Unix seconds), counted from
/// the click log in `dir`: what the records on disk show (a record still queued when a
/// process was killed is not there). Lines that are not records (a torn last line) are
/// skipped. Reads the files of the hours from `since` on, whole: 1.08 s per million records
/// of 489 bytes from the page cache (docs/operations.md#click-caps-across-a-crash).
pub fn routed_since(
    dir: &Path,
    since: i64,
    offers: &std::collections::HashSet<u32>,
) -> io::Result<std::collections::HashMap<u32, u64>> {
    /// The two fields needed; the others are skipped unparsed.
    #[derive(serde::Deserialize)]
    struct Routed<'a> {
        time: &'a str,
        offer_id: Option<u32>,
    }
    let first = hourly_name(PREFIX, u64::try_from(since.div_euclid(3600)).unwrap_or(0));
    let since = jiff::Timestamp::from_second(since)
        .unwrap_or_default()
        .strftime("%Y-%m-%dT%H:%M:%S")
        .to_string();
    let mut counts = std::collections::HashMap::new();
    for path in crate::files::log_files(dir, PREFIX) {
        if path.file_name().and_then(|n| n.to_str()) < Some(first.as_str()) {
            continue;
        }
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            // Deleted by retention meanwhile: nothing of the window was in it.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for line in bytes.split(|&b| b == b'\n') {
            let Ok(r) = serde_json::from_slice::<Routed>(line) else {
                continue;
            };
            if let Some(offer) = r.offer_id
                && offers.contains(&offer)
                && r.time
                    .get(..since.len())
                    .is_some_and(|t| t >= since.as_str())
            {
                *counts.entry(offer).or_insert(0) += 1;
            }
        }
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::click_id::{Claims, ClickSigner};
    use crate::click_log::RecordText;
    use crate::vocab::SourceKind;
    use crate::vocab::{Browser, DeviceClass, OsFamily};
    use std::time::UNIX_EPOCH;

    /// A record of 2026-11-18 11:06:40 UTC (so its log file name is known).
    fn record() -> ClickRecord {
        let claims = Claims {
            kind: SourceKind::SmartLink,
            time: 1_795_000_000,
            offer_id: Some(1),
            source_id: 2,
            affiliate_id: 3,
        };
        ClickRecord {
            time: UNIX_EPOCH + Duration::from_secs(1_795_000_000),
            click_id: ClickSigner::new(b"0123456789abcdef").issue(&claims),
            kind: SourceKind::SmartLink,
            source_id: 2,
            affiliate_id: 3,
            offer_id: Some(1),
            landing_page_id: None,
            priority: Some(1),
            fallback: None,
            ip: "192.0.2.1".parse().unwrap(),
            country: None,
            region: None,
            asn: None,
            anonymous: None,
            device: DeviceClass::Desktop,
            os: OsFamily::Windows,
            browser: Browser::Chrome,
            language: None,
            text: RecordText::new(Some(b"ua"), &Default::default(), None),
        }
    }

    fn wait_for(f: impl Fn() -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if f() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    #[test]
    fn a_full_disk_loses_no_record_and_is_counted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clicks-2026-11-18T11.ndjson");
        // Every write to /dev/full fails with ENOSPC.
        std::os::unix::fs::symlink("/dev/full", &path).unwrap();
        let metrics = Arc::new(Metrics::default());
        let log = RecordLog::start(
            dir.path(),
            1024,
            Duration::from_millis(10),
            24,
            Arc::clone(&metrics),
            Box::new(|_| {}),
        )
        .unwrap();
        let sink = log.sink();
        for _ in 0..10 {
            sink.send(record());
        }
        assert!(
            wait_for(|| metrics.record_write_errors.get() >= 2),
            "no write failed"
        );
        assert_eq!(metrics.records_written.get(), 0);
        // Space is back: the next attempt reopens the path, now a regular file.
        std::fs::remove_file(&path).unwrap();
        sink.sync();
        assert_eq!(metrics.records_written.get(), 10);
        assert_eq!(metrics.records_dropped.get(), 0);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 10);
        assert!(
            text.lines()
                .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
        );
        log.stop();
    }

    #[test]
    fn records_go_to_the_file_of_their_hour_and_the_newest_file_is_repaired_at_start() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("clicks-2026-11-18T10.ndjson"), "{}\n").unwrap();
        std::fs::write(
            dir.path().join("clicks-2026-11-18T11.ndjson"),
            "{}\n{\"torn\":",
        )
        .unwrap();
        let metrics = Arc::new(Metrics::default());
        let log = RecordLog::start(
            dir.path(),
            16,
            Duration::from_secs(1),
            1_000_000,
            Arc::clone(&metrics),
            Box::new(|_| {}),
        )
        .unwrap();
        let sink = log.sink();
        sink.send(record());
        let mut later = record();
        later.time += Duration::from_secs(3600);
        sink.send(later);
        log.stop();
        let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap();
        assert_eq!(
            read("clicks-2026-11-18T11.ndjson").lines().count(),
            2,
            "torn line cut, one appended"
        );
        assert_eq!(read("clicks-2026-11-18T12.ndjson").lines().count(), 1);
        assert_eq!(read("clicks-2026-11-18T10.ndjson"), "{}\n");
        assert_eq!(metrics.records_written.get(), 2);
    }

    #[test]
    fn routed_clicks_are_counted_back_from_the_log_from_a_time_on() {
        let dir = tempfile::tempdir().unwrap();
        let log = RecordLog::start(
            dir.path(),
            64,
            Duration::from_secs(1),
            1_000_000,
            Arc::new(Metrics::default()),
            Box::new(|_| {}),
        )
        .unwrap();
        let sink = log.sink();
        // Offer 1 at 11:06:40, 11:36:40 and 12:06:40; offer 9 once; a fallback click.
        for (offer, later) in [
            (Some(1), 0),
            (Some(1), 1800),
            (Some(1), 3600),
            (Some(9), 60),
            (None, 60),
        ] {
            let mut r = record();
            r.offer_id = offer;
            r.time += Duration::from_secs(later);
            sink.send(r);
        }
        log.stop();
        // A torn last line is skipped.
        let newest = dir.path().join("clicks-2026-11-18T12.ndjson");
        let mut text = std::fs::read_to_string(&newest).unwrap();
        text.push_str("{\"time\":\"2026-11-18T12:");
        std::fs::write(&newest, text).unwrap();
        let only = |ids: &[u32]| ids.iter().copied().collect();
        let from = |since| {
            routed_since(dir.path(), since, &only(&[1]))
                .unwrap()
                .get(&1)
                .copied()
        };
        assert_eq!(from(1_795_000_000 - 86_400), Some(3));
        assert_eq!(from(1_795_000_000 + 1), Some(2), "from mid-hour on");
        assert_eq!(from(1_795_000_000 + 3600), Some(1));
        assert_eq!(from(1_795_000_000 + 3601), None);
        let both = routed_since(dir.path(), 0, &only(&[1, 9])).unwrap();
        assert_eq!((both[&1], both[&9]), (3, 1));
    }
}
