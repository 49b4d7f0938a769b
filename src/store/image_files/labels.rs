//! Labels for images: from file names in IC|TC's `{number}_{class}.{ext}` convention, or from a
//! CSV with one row per image and one column per label type.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum LabelError {
    #[error("{path}: {message}")]
    Csv { path: PathBuf, message: String },
}

/// Values keyed by a file path from some other listing (a CSV, a captions file), looked up by
/// an image id: by the whole path, by the id without its first folders, or by a base name that
/// only one key has.
#[derive(Debug, Clone)]
pub struct PathMap<V> {
    exact: HashMap<String, V>,
    /// Base name → key, `None` when several keys share the base name.
    by_base: HashMap<String, Option<String>>,
}

impl<V> Default for PathMap<V> {
    fn default() -> Self {
        Self { exact: HashMap::new(), by_base: HashMap::new() }
    }
}

impl<V> PathMap<V> {
    pub fn insert(&mut self, key: String, value: V) {
        self.by_base.entry(base(&key).to_string()).and_modify(|e| *e = None).or_insert_with(|| Some(key.clone()));
        self.exact.insert(key, value);
    }

    pub fn get(&self, id: &str) -> Option<&V> {
        if let Some(v) = self.exact.get(id) {
            return Some(v);
        }
        let mut rest = id;
        while let Some((_, tail)) = rest.split_once('/') {
            if let Some(v) = self.exact.get(tail) {
                return Some(v);
            }
            rest = tail;
        }
        let key = self.by_base.get(base(id))?.as_ref()?;
        self.exact.get(key)
    }

    pub fn len(&self) -> usize {
        self.exact.len()
    }

    pub fn is_empty(&self) -> bool {
        self.exact.is_empty()
    }
}

/// A CSV's label columns, keyed by the image named in its file column.
#[derive(Debug, Clone, Default)]
pub struct LabelTable {
    pub columns: Vec<String>,
    /// File column value → one value per label column (`None` when empty).
    rows: PathMap<Vec<Option<String>>>,
}

/// Column names that hold the image's file name or path.
const FILE_COLUMNS: [&str; 6] = ["id", "filename", "file", "image", "path", "file_name"];

fn base(s: &str) -> &str {
    s.rsplit(['/', '\\']).next().unwrap_or(s)
}

impl LabelTable {
    pub fn from_csv(path: &Path) -> Result<Self, LabelError> {
        let err = |message: String| LabelError::Csv { path: path.to_path_buf(), message };
        let mut r = csv::ReaderBuilder::new().flexible(false).from_path(path).map_err(|e| err(e.to_string()))?;
        let headers: Vec<String> =
            r.headers().map_err(|e| err(e.to_string()))?.iter().map(|h| h.trim().to_string()).collect();
        let file_col = headers
            .iter()
            .position(|h| FILE_COLUMNS.iter().any(|f| h.eq_ignore_ascii_case(f)))
            .ok_or_else(|| err(format!("no file column (one of {}) in the header", FILE_COLUMNS.join(", "))))?;
        let columns: Vec<String> =
            headers.iter().enumerate().filter(|(i, _)| *i != file_col).map(|(_, h)| h.clone()).collect();
        let mut t = LabelTable { columns, ..Default::default() };
        for (n, rec) in r.records().enumerate() {
            let rec = rec.map_err(|e| err(format!("line {}: {e}", n + 2)))?;
            let key = rec.get(file_col).unwrap_or("").trim().to_string();
            if key.is_empty() {
                return Err(err(format!("line {}: empty file name", n + 2)));
            }
            let values = rec
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != file_col)
                .map(|(_, v)| Some(v.trim().to_string()).filter(|v| !v.is_empty()))
                .collect();
            t.rows.insert(key, values);
        }
        Ok(t)
    }

    /// Index of a label column, by name (case-insensitive).
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.eq_ignore_ascii_case(name))
    }

    /// The labels of an image id (relative path): matched by the whole path, by the path
    /// without its first folders, or by a unique base name.
    pub fn row(&self, id: &str) -> Option<&[Option<String>]> {
        self.rows.get(id).map(Vec::as_slice)
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_paths_base_names_and_columns() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("labels.csv");
        std::fs::write(&p, "filename,gender,baseColour\n00000.jpg,Men,Blue\nsub/00001.jpg,Women,\n").unwrap();
        let t = LabelTable::from_csv(&p).unwrap();
        assert_eq!(t.columns, ["gender", "baseColour"]);
        assert_eq!(t.column("basecolour"), Some(1));
        assert_eq!(t.row("images/00000.jpg").unwrap()[1].as_deref(), Some("Blue"));
        assert_eq!(t.row("x/sub/00001.jpg").unwrap()[0].as_deref(), Some("Women"));
        assert_eq!(t.row("00001.jpg").unwrap()[1], None);
        assert!(t.row("nope.jpg").is_none());
        std::fs::write(&p, "name,label\na.jpg,x\n").unwrap();
        assert!(LabelTable::from_csv(&p).unwrap_err().to_string().contains("no file column"));
    }
}
