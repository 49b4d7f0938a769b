//! The index directory: its writer lock, its manifest, and what a killed writer left behind.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::path::Path;

use super::{IndexError, Manifest, Result, FORMAT_NAME, FORMAT_VERSION, LOCK_FILE, MANIFEST_FILE, PARTS_DIR};

pub(super) fn check_dim(dir: &Path, dim: usize) -> Result<()> {
    if dim == 0 || i32::try_from(dim).is_err() {
        return Err(IndexError::InvalidInput {
            dir: dir.to_path_buf(),
            message: format!("embedding dimension {dim} is out of range"),
        });
    }
    Ok(())
}

/// Creating an index inside an unrelated, non-empty folder would scatter files among the user's.
/// Takes the index's writer lock, or refuses when another process holds it.
pub(super) fn lock_writer(dir: &Path) -> Result<File> {
    fs::create_dir_all(dir).map_err(|e| IndexError::io(dir, e))?;
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| IndexError::io(&path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(IndexError::Locked { dir: dir.to_path_buf(), lock: path }),
        Err(fs::TryLockError::Error(e)) => Err(IndexError::io(&path, e)),
    }
}

/// Removes from `parts/` the parts the manifest does not list and leftover temp files: what a
/// writer killed between writing a part and recording it leaves. Called under the writer lock,
/// so nothing removed can belong to a live writer.
pub(super) fn remove_strays(dir: &Path, manifest: &Manifest) -> Result<Vec<String>> {
    let parts_dir = dir.join(PARTS_DIR);
    let listed: HashSet<&str> = manifest.parts.iter().filter_map(|p| p.file.strip_prefix("parts/")).collect();
    let mut removed = Vec::new();
    for entry in fs::read_dir(&parts_dir).map_err(|e| IndexError::io(&parts_dir, e))? {
        let entry = entry.map_err(|e| IndexError::io(&parts_dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let stray_part = name.starts_with("part-") && name.ends_with(".parquet") && !listed.contains(name.as_str());
        let temp = name.starts_with(".part-") && name.ends_with(".tmp");
        if (stray_part || temp) && entry.file_type().is_ok_and(|t| t.is_file()) {
            fs::remove_file(entry.path()).map_err(|e| IndexError::io(entry.path(), e))?;
            removed.push(name);
        }
    }
    removed.sort();
    if !removed.is_empty() {
        sync_dir(&parts_dir)?;
    }
    Ok(removed)
}

pub(super) fn refuse_foreign_directory(dir: &Path) -> Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(IndexError::io(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| IndexError::io(dir, e))?;
        let name = entry.file_name();
        // A manifest temp file is left behind by a crash during creation.
        let manifest_temp = name.to_str().is_some_and(|n| n.starts_with(".manifest.json.") && n.ends_with(".tmp"));
        if name != PARTS_DIR && name != LOCK_FILE && !manifest_temp {
            return Err(IndexError::Format {
                path: dir.to_path_buf(),
                message: "directory is not empty and has no manifest.json; \
                          refusing to create an index here"
                    .into(),
            });
        }
    }
    Ok(())
}

pub(super) fn read_manifest(path: &Path) -> Result<Manifest> {
    let bad = |message: String| IndexError::Manifest { path: path.to_path_buf(), message };
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(bad("not found; is this a clusterby index directory?".into()))
        }
        Err(e) => return Err(IndexError::io(path, e)),
    };
    let manifest: Manifest = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    if manifest.format != FORMAT_NAME {
        return Err(bad(format!("format is '{}', expected '{FORMAT_NAME}'", manifest.format)));
    }
    if manifest.version != FORMAT_VERSION {
        return Err(bad(format!(
            "unsupported version {} (this build reads version {FORMAT_VERSION})",
            manifest.version
        )));
    }
    if manifest.dim == 0 || i32::try_from(manifest.dim).is_err() {
        return Err(bad(format!("dim {} is out of range", manifest.dim)));
    }
    let mut seen = HashSet::new();
    let mut total: usize = 0;
    for part in &manifest.parts {
        // Only plain names inside parts/: a manifest must not point reads outside the index.
        let name = part.file.strip_prefix("parts/").unwrap_or("");
        if name.is_empty() || name.starts_with('.') || name.contains(['/', '\\']) || !name.ends_with(".parquet") {
            return Err(bad(format!("invalid part file name '{}'", part.file)));
        }
        if !seen.insert(name) {
            return Err(bad(format!("part '{}' is listed twice", part.file)));
        }
        total = total.checked_add(part.rows).ok_or_else(|| bad("row count overflows".into()))?;
    }
    if total != manifest.rows {
        return Err(bad(format!("rows is {}, but the parts add up to {total}", manifest.rows)));
    }
    Ok(manifest)
}

/// Temp file + fsync + rename: readers see either the old or the new manifest, never a mix.
pub(super) fn write_manifest(dir: &Path, manifest: &Manifest) -> Result<()> {
    let path = dir.join(MANIFEST_FILE);
    let mut json = serde_json::to_vec_pretty(manifest)
        .map_err(|e| IndexError::Manifest { path: path.clone(), message: e.to_string() })?;
    json.push(b'\n');
    crate::util::fs::write_atomic(&path, &json).map_err(|e| IndexError::io(&path, e))
}

pub(super) fn sync_dir(dir: &Path) -> Result<()> {
    crate::util::fs::sync_dir(dir).map_err(|e| IndexError::io(dir, e))
}
