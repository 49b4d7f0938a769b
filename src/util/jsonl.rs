//! Append-only JSON-lines logs that survive `kill -9`: each record goes out in one write and is
//! flushed; on open, a partial last line (a write cut short) is cut off and lines that do not
//! parse are counted and skipped.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::de::DeserializeOwned;
use serde::Serialize;

pub struct AppendLog {
    path: PathBuf,
    file: Mutex<File>,
}

/// What an existing log held.
pub struct Replay<T> {
    pub records: Vec<T>,
    /// Complete lines that did not parse.
    pub damaged: usize,
}

fn with_path(path: &Path) -> impl Fn(std::io::Error) -> std::io::Error + '_ {
    move |e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

impl AppendLog {
    /// Opens (creating folders and file as needed) and replays the log.
    pub fn open<T: DeserializeOwned>(path: &Path) -> std::io::Result<(Self, Replay<T>)> {
        let ctx = with_path(path);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(&ctx)?;
        }
        let mut file = OpenOptions::new().read(true).append(true).create(true).open(path).map_err(&ctx)?;
        let mut replay = Replay { records: Vec::new(), damaged: 0 };
        let (mut pos, mut good_end) = (0u64, 0u64);
        {
            let mut reader = BufReader::new(&mut file);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                let n = reader.read_until(b'\n', &mut buf).map_err(&ctx)?;
                if n == 0 || buf.last() != Some(&b'\n') {
                    break;
                }
                pos += n as u64;
                good_end = pos;
                match serde_json::from_slice::<T>(&buf) {
                    Ok(r) => replay.records.push(r),
                    Err(_) => replay.damaged += 1,
                }
            }
        }
        if file.seek(SeekFrom::End(0)).map_err(&ctx)? != good_end {
            file.set_len(good_end).map_err(&ctx)?;
        }
        Ok((Self { path: path.to_path_buf(), file: Mutex::new(file) }, replay))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes one record as one line and flushes it.
    pub fn append<T: Serialize>(&self, record: &T) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(record)?;
        line.push(b'\n');
        let mut f = self.file.lock().unwrap_or_else(|p| p.into_inner());
        f.write_all(&line).and_then(|_| f.flush()).map_err(with_path(&self.path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_last_line_is_cut_and_damage_counted() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a/log.jsonl");
        {
            let (log, r) = AppendLog::open::<u32>(&p).unwrap();
            assert!(r.records.is_empty());
            log.append(&1u32).unwrap();
            log.append(&2u32).unwrap();
        }
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"oops\n3").unwrap();
        drop(f);
        let (log, r) = AppendLog::open::<u32>(&p).unwrap();
        assert_eq!((r.records, r.damaged), (vec![1, 2], 1));
        log.append(&4u32).unwrap();
        drop(log);
        let (_, r) = AppendLog::open::<u32>(&p).unwrap();
        assert_eq!(r.records, vec![1, 2, 4]);
    }
}
