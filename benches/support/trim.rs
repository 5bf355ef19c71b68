//! Keeps a benchmark's click log from filling the disk: at a million clicks a second the log
//! grows ~450 MB/s, more than this machine's disk sustains (README, "Capacity"). Every
//! record is still written; the trimmer cuts the files back every 100 ms so that a run
//! measures the service's CPU path with the log writer keeping up, not the disk.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

pub struct LogTrimmer {
    done: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl LogTrimmer {
    /// Starts trimming the `clicks-*` files of `dir`.
    pub fn start(dir: PathBuf) -> LogTrimmer {
        let done = Arc::new(AtomicBool::new(false));
        let thread = {
            let done = Arc::clone(&done);
            std::thread::spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    std::thread::sleep(std::time::Duration::from_millis(100));
                    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                        if !entry.file_name().to_string_lossy().starts_with("clicks-") {
                            continue;
                        }
                        let file = std::fs::OpenOptions::new().write(true).open(entry.path());
                        let _ = file.and_then(|f| f.set_len(0));
                    }
                }
            })
        };
        LogTrimmer { done, thread }
    }

    pub fn stop(self) {
        self.done.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
    }
}
