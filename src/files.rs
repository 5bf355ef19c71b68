//! Files that must never be left half-written: whole-file replacement ([`write_atomically`])
//! and append-only logs that a killed process may have left with a torn last line
//! ([`open_repaired`]); the thread that owns such a log behind a bounded queue
//! ([`LogThread`]).

use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The one thread that writes a log (clicks, conversions), fed through a bounded queue of
/// `M`: started with its loop, stopped by a last message that makes the loop write what is
/// queued and return, then joined.
pub struct LogThread<M> {
    tx: std::sync::mpsc::SyncSender<M>,
    thread: std::thread::JoinHandle<()>,
}

impl<M: Send + 'static> LogThread<M> {
    /// Starts the thread `name`, running `run` on the receiving end of a queue of `capacity`.
    pub fn start(
        name: &str,
        capacity: usize,
        run: impl FnOnce(std::sync::mpsc::Receiver<M>) + Send + 'static,
    ) -> io::Result<LogThread<M>> {
        let (tx, rx) = std::sync::mpsc::sync_channel(capacity);
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || run(rx))?;
        Ok(LogThread { tx, thread })
    }

    /// The sending end of the queue.
    pub fn sender(&self) -> std::sync::mpsc::SyncSender<M> {
        self.tx.clone()
    }

    /// Sends `last` (the loop's stop message) and waits for the thread to end.
    pub fn stop(self, last: M) {
        let _ = self.tx.send(last);
        let _ = self.thread.join();
    }
}

/// A path as messages show it: a relative path with the directory it was resolved against
/// (the working directory), so that "no such file" says where it looked.
pub struct Resolved<'a>(pub &'a Path);

impl std::fmt::Display for Resolved<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.display())?;
        if self.0.is_relative()
            && let Ok(dir) = std::env::current_dir()
        {
            write!(f, " (relative to {})", dir.display())?;
        }
        Ok(())
    }
}

/// An exclusive lock on a directory, held as long as the value lives: `flock` on the file
/// `lock` inside it. The kernel releases it when the process dies, `kill -9` included, so a
/// stale lock file never blocks a restart.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

impl DirLock {
    /// Locks `dir`; `Ok(None)` when another process holds the lock.
    pub fn try_lock(dir: &Path) -> io::Result<Option<DirLock>> {
        use std::os::fd::AsRawFd;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(LOCK_FILE))?;
        // SAFETY: flock(2) on a descriptor this function owns.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(Some(DirLock { _file: file }));
        }
        match io::Error::last_os_error() {
            e if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            e => Err(e),
        }
    }
}

/// The name of [`DirLock`]'s file.
pub const LOCK_FILE: &str = "lock";

/// The failures of one writer (a log, the counters file), reported without flooding the
/// log: the first failure is an ERROR with its cause; while the failures go on, one summary
/// line every [`FailureLog::SUMMARY_EVERY`] says how many there were; the first success after
/// them says it recovered. (A full disk once wrote one ERROR line per click: 5,021 lines in
/// 4 s.) It also spaces the retries of a writer that may retry on its own: from 50 ms,
/// doubling, to 5 s. Every failure is still counted, by the caller, in its metric.
#[derive(Debug)]
pub struct FailureLog {
    what: &'static str,
    /// Failures since the last success; 0 while writes succeed.
    failures: u64,
    /// Failures not yet in a summary line.
    unreported: u64,
    next_summary: std::time::Instant,
    backoff: std::time::Duration,
    retry_at: std::time::Instant,
}

impl FailureLog {
    pub const SUMMARY_EVERY: std::time::Duration = std::time::Duration::from_secs(10);
    const FIRST_BACKOFF: std::time::Duration = std::time::Duration::from_millis(50);
    const MAX_BACKOFF: std::time::Duration = std::time::Duration::from_secs(5);

    /// `what` names the writer in the log lines ("click log", ...).
    pub fn new(what: &'static str) -> FailureLog {
        let now = std::time::Instant::now();
        FailureLog {
            what,
            failures: 0,
            unreported: 0,
            next_summary: now,
            backoff: FailureLog::FIRST_BACKOFF,
            retry_at: now,
        }
    }

    /// Notes a failed write; `context` is logged with the first failure.
    pub fn failed(&mut self, error: &dyn std::fmt::Display, context: &dyn std::fmt::Display) {
        let now = std::time::Instant::now();
        self.failures += 1;
        if self.failures == 1 {
            tracing::error!(error = %error, "{} write failed: {context}; retrying, further failures are summarised every {} s", self.what, FailureLog::SUMMARY_EVERY.as_secs());
            self.next_summary = now + FailureLog::SUMMARY_EVERY;
        } else {
            self.unreported += 1;
            if now >= self.next_summary {
                tracing::error!(error = %error, failures = self.failures, "{} still failing: {} more failed writes", self.what, self.unreported);
                self.unreported = 0;
                self.next_summary = now + FailureLog::SUMMARY_EVERY;
            }
        }
        self.retry_at = now + self.backoff;
        self.backoff = (self.backoff * 2).min(FailureLog::MAX_BACKOFF);
    }

    /// Notes a successful write.
    pub fn succeeded(&mut self) {
        if self.failures > 0 {
            tracing::info!(
                failures = self.failures,
                "{} writes succeed again",
                self.what
            );
        }
        self.failures = 0;
        self.unreported = 0;
        self.backoff = FailureLog::FIRST_BACKOFF;
        self.retry_at = std::time::Instant::now();
    }

    /// Whether a writer that retries by itself should try again now (its backoff is over).
    pub fn may_retry(&self) -> bool {
        self.failures == 0 || std::time::Instant::now() >= self.retry_at
    }

    /// Failures since the last success.
    pub fn failures(&self) -> u64 {
        self.failures
    }
}

/// Replaces `path` with `bytes` so that a reader (or a restart after `kill -9` or power loss)
/// sees either the old file or the new one: write a temporary file beside it, fsync it,
/// rename it over `path`, fsync the directory.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    stage(path, bytes)?.commit().map_err(|e| match e {
        CommitError::NotReplaced(e) | CommitError::NotSynced(e) => e,
    })
}

/// A replacement of a file, written and fsynced beside it but not yet in place. Dropped
/// without [`Staged::commit`], it removes its temporary file and the file is untouched.
#[derive(Debug)]
pub struct Staged {
    tmp: PathBuf,
    path: PathBuf,
    metadata: Metadata,
    committed: bool,
}

/// Why a commit did not finish.
#[derive(Debug)]
pub enum CommitError {
    /// The rename failed: the old file is still in place.
    NotReplaced(io::Error),
    /// The new file is in place, but the directory could not be fsynced: a power loss may
    /// still bring the old one back.
    NotSynced(io::Error),
}

/// Writes `bytes` to a temporary file beside `path` and fsyncs it (the first half of
/// [`write_atomically`]).
pub fn stage(path: &Path, bytes: &[u8]) -> io::Result<Staged> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::other("path has no file name"))?;
    let tmp = dir_of(path).join(format!(".{}.tmp", name.to_string_lossy()));
    let written = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        f.metadata()
    })();
    match written {
        Ok(metadata) => Ok(Staged {
            tmp,
            path: path.to_path_buf(),
            metadata,
            committed: false,
        }),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

fn dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

impl Staged {
    /// The new file's metadata; inode and modification time stay the same through the
    /// rename.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// Renames the new file over the old one and fsyncs the directory.
    pub fn commit(mut self) -> Result<(), CommitError> {
        std::fs::rename(&self.tmp, &self.path).map_err(CommitError::NotReplaced)?;
        self.committed = true;
        File::open(dir_of(&self.path))
            .and_then(|d| d.sync_all())
            .map_err(CommitError::NotSynced)
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// An append-only log file whose length up to its last whole line is known: an append is
/// whole or not there at all.
#[derive(Debug)]
pub struct AppendFile {
    file: File,
    len: u64,
}

impl AppendFile {
    /// Opens `path` for appending, first cutting off a torn last line ([`open_repaired`]).
    pub fn open(path: &Path) -> io::Result<AppendFile> {
        let (file, len) = open_repaired(path)?;
        Ok(AppendFile { file, len })
    }

    /// Length up to the last whole append: where the next one starts.
    pub fn end(&self) -> u64 {
        self.len
    }

    /// Appends `bytes`, then fsyncs when `sync`. On failure cuts the file back to where it
    /// was, so that it still ends with a whole line and a retry does not write twice.
    pub fn append(&mut self, bytes: &[u8], sync: bool) -> io::Result<()> {
        let written = self
            .file
            .write_all(bytes)
            .and_then(|()| if sync { self.file.sync_data() } else { Ok(()) });
        match written {
            Ok(()) => {
                self.len += bytes.len() as u64;
                Ok(())
            }
            Err(e) => {
                let _ = self.file.set_len(self.len);
                let _ = self.file.seek(SeekFrom::End(0));
                Err(e)
            }
        }
    }

    pub fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }
}

/// `2026-11-18T12`: the UTC hour `hour` (hours since the epoch) as file names carry it
/// (they sort in time order).
pub fn hour_stamp(hour: u64) -> String {
    let ts = jiff::Timestamp::from_second(hour as i64 * 3600).unwrap_or_default();
    ts.strftime("%Y-%m-%dT%H").to_string()
}

/// The hour of a [`hour_stamp`].
pub fn parse_hour_stamp(stamp: &str) -> Option<u64> {
    let t = jiff::civil::DateTime::strptime("%Y-%m-%dT%H", stamp).ok()?;
    let ts = t.to_zoned(jiff::tz::TimeZone::UTC).ok()?.timestamp();
    u64::try_from(ts.as_second() / 3600).ok()
}

/// `clicks-2026-11-18T12.ndjson`: the log file of `prefix` for the UTC hour `hour` (hours
/// since the epoch). Names sort in time order.
pub fn hourly_name(prefix: &str, hour: u64) -> String {
    format!("{prefix}-{}.ndjson", hour_stamp(hour))
}

/// Deletes the log files of `prefix` in `dir` of hours before `hour` (whole files; their
/// names sort in time order); returns how many. Failures are logged and skipped.
pub fn remove_logs_before(dir: &Path, prefix: &str, hour: u64) -> usize {
    let first_kept = hourly_name(prefix, hour);
    let mut removed = 0;
    for path in log_files(dir, prefix) {
        let older = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| *n < *first_kept);
        if !older {
            break;
        }
        match std::fs::remove_file(&path) {
            Ok(()) => removed += 1,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot delete an expired log file")
            }
        }
    }
    if removed > 0 {
        tracing::info!(removed, "deleted {prefix} logs older than {first_kept}");
    }
    removed
}

/// The log files of `prefix` in `dir`, oldest first.
pub fn log_files(dir: &Path, prefix: &str) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.starts_with(prefix)
                    && n[prefix.len()..].starts_with('-')
                    && n.ends_with(".ndjson")
            })
        })
        .collect();
    files.sort();
    files
}

/// Cuts a torn last line off the newest log of `prefix` in `dir`, if any: a process killed
/// in the middle of a write may have left one, and that file may be appended to again.
pub fn repair_newest(dir: &Path, prefix: &str) {
    if let Some(path) = log_files(dir, prefix).pop()
        && let Err(e) = open_repaired(&path)
    {
        tracing::warn!(path = %path.display(), error = %e, "cannot check the newest log file");
    }
}

/// Opens `path` for appending; if it ends in a torn line (a process killed mid-write), cuts
/// the file back to its last newline. Returns the file and its length.
pub fn open_repaired(path: &Path) -> io::Result<(File, u64)> {
    let mut file = OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(path)?;
    let len = file.metadata()?.len();
    let mut good = len;
    // Walk back over the last line in 4 KiB steps until a newline (or the start).
    while good > 0 {
        let step = good.min(4096);
        let mut buf = vec![0u8; step as usize];
        file.seek(SeekFrom::Start(good - step))?;
        file.read_exact(&mut buf)?;
        match buf.iter().rposition(|&b| b == b'\n') {
            Some(i) if good == len && i as u64 == step - 1 => break,
            Some(i) => {
                good = good - step + i as u64 + 1;
                break;
            }
            None => good -= step,
        }
    }
    if good != len {
        tracing::warn!(path = %path.display(), cut_bytes = len - good, "click log ended in a torn line; cut it");
        file.set_len(good)?;
    }
    Ok((file, good))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_back_off_and_reset_on_success() {
        let mut f = FailureLog::new("test log");
        assert!(f.may_retry());
        f.failed(&"disk full", &"x");
        assert!(!f.may_retry(), "backing off after a failure");
        assert_eq!(f.backoff, FailureLog::FIRST_BACKOFF * 2);
        for _ in 0..20 {
            f.failed(&"disk full", &"x");
        }
        assert_eq!(f.backoff, FailureLog::MAX_BACKOFF);
        assert_eq!(f.failures(), 21);
        f.succeeded();
        assert!(f.may_retry());
        assert_eq!(f.failures(), 0);
        assert_eq!(f.backoff, FailureLog::FIRST_BACKOFF);
    }

    #[test]
    fn logs_before_an_hour_are_removed_whole_and_others_kept() {
        let dir = tempfile::tempdir().unwrap();
        let hour = 1_795_000_000 / 3600;
        for h in hour - 3..=hour + 1 {
            std::fs::write(dir.path().join(hourly_name("clicks", h)), "{}\n").unwrap();
        }
        std::fs::write(
            dir.path().join(hourly_name("conversions", hour - 9)),
            "{}\n",
        )
        .unwrap();
        assert_eq!(remove_logs_before(dir.path(), "clicks", hour - 1), 2);
        let left: Vec<String> = log_files(dir.path(), "clicks")
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        let want: Vec<String> = (hour - 1..=hour + 1)
            .map(|h| hourly_name("clicks", h))
            .collect();
        assert_eq!(left, want);
        assert_eq!(
            log_files(dir.path(), "conversions").len(),
            1,
            "other prefixes untouched"
        );
    }

    #[test]
    fn a_directory_is_locked_once_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let first = DirLock::try_lock(dir.path()).unwrap().expect("free");
        assert!(DirLock::try_lock(dir.path()).unwrap().is_none(), "held");
        drop(first);
        assert!(DirLock::try_lock(dir.path()).unwrap().is_some(), "released");
    }

    #[test]
    fn torn_last_line_is_cut_and_whole_lines_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.ndjson");
        std::fs::write(&path, "{\"a\":1}\n{\"b\":2}\n{\"c\":").unwrap();
        let (_, len) = open_repaired(&path).unwrap();
        assert_eq!(len, 16);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"a\":1}\n{\"b\":2}\n"
        );

        let long = format!("{{\"a\":1}}\n{}", "x".repeat(10_000));
        std::fs::write(&path, long).unwrap();
        assert_eq!(open_repaired(&path).unwrap().1, 8);

        std::fs::write(&path, "no newline at all").unwrap();
        assert_eq!(open_repaired(&path).unwrap().1, 0);

        std::fs::write(&path, "{}\n").unwrap();
        assert_eq!(open_repaired(&path).unwrap().1, 3);
    }

    #[test]
    fn file_names_follow_the_utc_hour_and_list_in_order() {
        assert_eq!(hourly_name("clicks", 0), "clicks-1970-01-01T00.ndjson");
        assert_eq!(
            hourly_name("clicks", 498_612),
            "clicks-2026-11-18T12.ndjson"
        );
        let dir = tempfile::tempdir().unwrap();
        for name in [
            hourly_name("clicks", 498_613),
            hourly_name("clicks", 498_612),
            hourly_name("conversions", 1),
            "clicks-notes.txt".into(),
            "clicksx-2026.ndjson".into(),
        ] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        let names: Vec<_> = log_files(dir.path(), "clicks")
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            ["clicks-2026-11-18T12.ndjson", "clicks-2026-11-18T13.ndjson"]
        );
    }

    #[test]
    fn atomic_write_replaces_whole_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        write_atomically(&path, b"one").unwrap();
        write_atomically(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["state.json"]);
        // The temporary path cannot be created (a directory is there): the write fails and
        // the file keeps its old content.
        let blocked = dir.path().join("sub");
        std::fs::write(&blocked, "old").unwrap();
        std::fs::create_dir(dir.path().join(".sub.tmp")).unwrap();
        assert!(write_atomically(&blocked, b"x").is_err());
        assert_eq!(std::fs::read(&blocked).unwrap(), b"old");
    }

    #[test]
    fn a_staged_file_dropped_uncommitted_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.json");
        std::fs::write(&path, "old").unwrap();
        let staged = stage(&path, b"new").unwrap();
        assert!(dir.path().join(".catalog.json.tmp").exists());
        drop(staged);
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert!(!dir.path().join(".catalog.json.tmp").exists());
        // What the staged metadata says is what the file has once in place.
        let staged = stage(&path, b"new").unwrap();
        let inode = std::os::unix::fs::MetadataExt::ino(staged.metadata());
        let modified = staged.metadata().modified().unwrap();
        staged.commit().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        let after = std::fs::metadata(&path).unwrap();
        assert_eq!(std::os::unix::fs::MetadataExt::ino(&after), inode);
        assert_eq!(after.modified().unwrap(), modified);
    }
}
