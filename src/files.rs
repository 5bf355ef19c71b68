//! Files that must never be left half-written: whole-file replacement ([`write_atomically`])
//! and append-only logs that a killed process may have left with a torn last line
//! ([`open_repaired`]).

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// Replaces `path` with `bytes` so that a reader (or a restart after `kill -9` or power loss)
/// sees either the old file or the new one: write a temporary file beside it, fsync it,
/// rename it over `path`, fsync the directory.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::other("path has no file name"))?;
    let tmp = dir.join(format!(".{}.tmp", name.to_string_lossy()));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// `clicks-2026-11-18T12.ndjson`: the log file of `prefix` for the UTC hour `hour` (hours
/// since the epoch). Names sort in time order.
pub fn hourly_name(prefix: &str, hour: u64) -> String {
    let ts = jiff::Timestamp::from_second(hour as i64 * 3600).unwrap_or_default();
    format!("{prefix}-{}.ndjson", ts.strftime("%Y-%m-%dT%H"))
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
        // The temporary path cannot be created (a directory is there): the write fails.
        let blocked = dir.path().join("sub");
        std::fs::create_dir(&blocked).unwrap();
        std::fs::create_dir(dir.path().join(".sub.tmp")).unwrap();
        assert!(write_atomically(&blocked, b"x").is_err());
    }
}
