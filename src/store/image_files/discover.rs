//! Walking an image folder. Ids are paths relative to the folder with `/` separators, so they
//! stay the same across machines and runs.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};

/// Extensions indexed (compared case-insensitively); GIFs contribute their first frame.
pub const IMAGE_EXTENSIONS: [&str; 6] = ["jpg", "jpeg", "png", "webp", "bmp", "gif"];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageFile {
    pub id: String,
    #[serde(skip)]
    pub path: PathBuf,
    pub size: u64,
    /// Modification time in nanoseconds since the epoch (0 when unknown).
    pub mtime_ns: u128,
    /// Permission bits (unix), so that a file skipped as unreadable is retried once they change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
}

impl ImageFile {
    /// Same size, modification time and permissions: the file is taken as unchanged. A record
    /// without permissions (written before they were kept) compares size and time only.
    pub fn same_version(&self, size: u64, mtime_ns: u128, mode: Option<u32>) -> bool {
        self.size == size && self.mtime_ns == mtime_ns && (mode.is_none() || mode == self.mode)
    }
}

#[cfg(unix)]
fn mode_of(meta: &std::fs::Metadata) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    Some(meta.permissions().mode() & 0o7777)
}

#[cfg(not(unix))]
fn mode_of(meta: &std::fs::Metadata) -> Option<u32> {
    Some(u32::from(meta.permissions().readonly()))
}

#[derive(Debug, Default)]
pub struct Discovery {
    /// Sorted by id.
    pub files: Vec<ImageFile>,
    /// Entries that could not be listed (permissions, non-UTF-8 names), with the reason.
    pub problems: Vec<(PathBuf, String)>,
}

fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

/// Lists the images under `root`, skipping hidden files and folders (names starting with `.`);
/// symbolic links are not followed, so a link loop cannot trap the walk.
pub fn discover(root: &Path) -> std::io::Result<Discovery> {
    if !root.is_dir() {
        return Err(std::io::Error::new(std::io::ErrorKind::NotFound, format!("{}: not a folder", root.display())));
    }
    let mut d = Discovery::default();
    let walker = walkdir::WalkDir::new(root)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
    for entry in walker {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                let p = e.path().map(Path::to_path_buf).unwrap_or_else(|| root.to_path_buf());
                d.problems.push((p, e.to_string()));
                continue;
            }
        };
        if !entry.file_type().is_file() || !is_image(entry.path()) {
            continue;
        }
        let rel = entry.path().strip_prefix(root).unwrap_or(entry.path());
        let Some(parts) = rel.components().map(|c| c.as_os_str().to_str()).collect::<Option<Vec<_>>>() else {
            d.problems.push((entry.path().to_path_buf(), "file name is not valid UTF-8".into()));
            continue;
        };
        let meta = match entry.metadata() {
            Ok(m) => m,
            Err(e) => {
                d.problems.push((entry.path().to_path_buf(), e.to_string()));
                continue;
            }
        };
        let mtime_ns = meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(0, |t| t.as_nanos());
        d.files.push(ImageFile {
            id: parts.join("/"),
            path: entry.path().to_path_buf(),
            size: meta.len(),
            mtime_ns,
            mode: mode_of(&meta),
        });
    }
    d.files.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_images_case_insensitively_with_relative_ids() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        std::fs::create_dir_all(r.join("sub/deeper")).unwrap();
        std::fs::create_dir_all(r.join(".hidden")).unwrap();
        for f in [
            "a.JPG",
            "b.jpeg",
            "sub/c.Png",
            "sub/deeper/d.webp",
            "e.bmp",
            "f.GIF",
            "notes.txt",
            "g.tiff",
            ".h.png",
            ".hidden/i.png",
        ] {
            std::fs::write(r.join(f), b"x").unwrap();
        }
        let d = discover(r).unwrap();
        let ids: Vec<&str> = d.files.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, ["a.JPG", "b.jpeg", "e.bmp", "f.GIF", "sub/c.Png", "sub/deeper/d.webp"]);
        assert!(d.files.iter().all(|f| f.size == 1 && f.mtime_ns > 0));
        assert!(discover(&r.join("missing")).unwrap_err().to_string().contains("missing"));
    }
}
