//! The postback queue (cluster mode): conversions received while Redis was unreachable,
//! kept on the node until they can be deduplicated across the cluster.
//!
//! `postbacks-queued.ndjson` under `state.dir`, one conversion record per line (the
//! conversion log's format). A postback is appended and fsynced before it is answered
//! `202 queued`, so `kill -9` loses none. Entries are taken from the front once applied:
//! the rest of the file is rewritten atomically, under the same lock as appends, so an
//! entry appended meanwhile is never lost.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::record::Conversion;
use crate::files::{AppendFile, write_atomically};

pub const FILE_NAME: &str = "postbacks-queued.ndjson";

pub struct Queue {
    path: PathBuf,
    file: Mutex<Option<AppendFile>>,
    len: AtomicU64,
}

impl Queue {
    /// Opens the queue in `dir` (cutting a torn last line), with the entries it holds.
    pub fn open(dir: &Path) -> io::Result<Queue> {
        let path = dir.join(FILE_NAME);
        let file = AppendFile::open(&path)?;
        let queue = Queue {
            path,
            file: Mutex::new(Some(file)),
            len: AtomicU64::new(0),
        };
        let held = queue.entries()?.len() as u64;
        queue.len.store(held, Ordering::Relaxed);
        Ok(queue)
    }

    /// Entries waiting.
    pub fn len(&self) -> u64 {
        self.len.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends `conversion` and fsyncs (blocking).
    pub fn push(&self, conversion: &Conversion) -> io::Result<()> {
        let mut line = Vec::with_capacity(256);
        conversion.write_line(&mut line);
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if file.is_none() {
            *file = Some(AppendFile::open(&self.path)?);
        }
        let appended = file.as_mut().map_or(Ok(()), |f| f.append(&line, true));
        if appended.is_err() {
            *file = None;
        }
        appended?;
        self.len.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Every entry, front first; an unreadable line is `None` (logged), to be taken off
    /// with the rest.
    pub fn entries(&self) -> io::Result<Vec<Option<Conversion>>> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        Ok(bytes
            .split_inclusive(|&b| b == b'\n')
            .filter(|line| line.last() == Some(&b'\n'))
            .map(|line| {
                Conversion::parse_line(line)
                    .map_err(|e| tracing::warn!(file = %self.path.display(), error = %e, "unreadable queued postback dropped"))
                    .ok()
            })
            .collect())
    }

    /// Takes the first `n` entries off the queue.
    pub fn remove_first(&self, n: usize) -> io::Result<()> {
        if n == 0 {
            return Ok(());
        }
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        let bytes = std::fs::read(&self.path)?;
        let whole: Vec<&[u8]> = bytes
            .split_inclusive(|&b| b == b'\n')
            .filter(|line| line.last() == Some(&b'\n'))
            .collect();
        let rest = whole.get(n..).unwrap_or_default().concat();
        write_atomically(&self.path, &rest)?;
        *file = Some(AppendFile::open(&self.path)?);
        let left = whole.len().saturating_sub(n) as u64;
        self.len.store(left, Ordering::Relaxed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conversion(n: u32) -> Conversion {
        Conversion::sample(1_795_867_200 + n, 1_795_867_300_000)
    }

    #[test]
    fn entries_survive_a_restart_and_leave_from_the_front() {
        let dir = tempfile::tempdir().unwrap();
        let q = Queue::open(dir.path()).unwrap();
        for n in 0..3 {
            q.push(&conversion(n)).unwrap();
        }
        assert_eq!(q.len(), 3);
        // A torn line (kill -9 mid-append) is cut when the queue is opened again.
        std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join(FILE_NAME))
            .and_then(|mut f| std::io::Write::write_all(&mut f, b"{\"time\":"))
            .unwrap();
        let q = Queue::open(dir.path()).unwrap();
        assert_eq!(q.len(), 3);
        q.remove_first(2).unwrap();
        q.push(&conversion(9)).unwrap();
        let left: Vec<u32> = q
            .entries()
            .unwrap()
            .into_iter()
            .flatten()
            .map(|c| c.claims.time - 1_795_867_200)
            .collect();
        assert_eq!(left, [2, 9]);
        assert_eq!(q.len(), 2);
        q.remove_first(5).unwrap();
        assert!(q.is_empty());
        assert!(q.entries().unwrap().is_empty());
    }
}
