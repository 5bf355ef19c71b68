//! The saver thread: about once a second, sweeps the clicks counted since the last tick into
//! the hourly statistics, writes the counters file (only when something changed), then the
//! file of every hour that changed; once more at shutdown, after the last request. A failed
//! write (disk full) is logged, counted and retried on the next tick; the previous file stays
//! intact.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use super::hourly::{RETENTION_HOURS, Reader, hour_of};
use super::registry::Counts;
use super::store;
use crate::clock::unix_secs;
use crate::files::{FailureLog, write_atomically};
use crate::metrics::Metrics;

/// How often counters are saved: the most click counts `kill -9` can lose.
pub const SAVE_INTERVAL: Duration = Duration::from_secs(1);

pub struct Saver {
    stop: Sender<()>,
    thread: Option<JoinHandle<()>>,
}

impl Saver {
    pub fn start(dir: &Path, counts: Arc<Counts>, metrics: Arc<Metrics>) -> std::io::Result<Saver> {
        let (stop, rx) = mpsc::channel::<()>();
        let mut writer = Writer {
            dir: dir.to_path_buf(),
            path: dir.join(store::FILE_NAME),
            counts,
            metrics,
            last: Vec::new(),
            failures: FailureLog::new("counters file"),
        };
        let thread = std::thread::Builder::new()
            .name("counters".into())
            .spawn(move || {
                // A stop message or a dropped handle ends the loop; both save once more.
                while let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(SAVE_INTERVAL) {
                    writer.save();
                }
                writer.save();
            })?;
        Ok(Saver {
            stop,
            thread: Some(thread),
        })
    }

    /// Saves one last time and stops the thread.
    pub fn stop(mut self) {
        let _ = self.stop.send(());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Writer {
    dir: PathBuf,
    path: PathBuf,
    counts: Arc<Counts>,
    metrics: Arc<Metrics>,
    /// What the file holds now (skip writing an unchanged file).
    last: Vec<u8>,
    failures: FailureLog,
}

impl Writer {
    fn save(&mut self) {
        let hour = hour_of(unix_secs(std::time::SystemTime::now()));
        self.counts.sweep(hour);
        self.save_counters();
        let hourly = self.counts.hourly();
        let oldest = hour.saturating_sub(RETENTION_HOURS - 1);
        hourly.expire(oldest);
        let changed = hourly.take_dirty(Reader::Files);
        if changed.is_empty() {
            return;
        }
        if let Err((e, left)) = store::save_hours(&self.dir, hourly, changed, oldest) {
            hourly.mark_dirty(Reader::Files, left);
            self.metrics.state_save_failures.inc();
            self.failures.failed(
                &e,
                &format_args!(
                    "hourly statistics under {} not saved; retried every second",
                    self.dir.display()
                ),
            );
        }
    }

    fn save_counters(&mut self) {
        let bytes = store::render(&self.counts);
        if bytes == self.last {
            return;
        }
        match write_atomically(&self.path, &bytes) {
            Ok(()) => {
                self.metrics.state_saves.inc();
                self.last = bytes;
                self.failures.succeeded();
            }
            Err(e) => {
                self.metrics.state_save_failures.inc();
                self.failures.failed(
                    &e,
                    &format_args!(
                        "{} keeps the previous counts; retried every second",
                        self.path.display()
                    ),
                );
            }
        }
    }
}
