//! Ground-truth labels from CSV or JSONL files, keyed by item id.

use std::collections::HashMap;
use std::path::Path;

use super::EvalError;

const ID_COLUMNS: [&str; 3] = ["id", "filename", "image_file"];
const DEFAULT_LABEL_COLUMN: &str = "label";

/// Loads ground-truth labels keyed by item id.
///
/// * CSV (`.csv`, or `.tsv` tab-separated) with a header row: the id column is the one named
///   `id`, `filename` or `image_file` (in that order of preference), else the first column that
///   is not the label column; the label column is `column`, default `label`.
/// * JSONL (`.jsonl`/`.ndjson`, or any file whose first character is `{`): one object per line
///   with an `id` (or `filename`/`image_file`) field and the label field (`column`, default
///   `label`); numeric ids/labels are read as their decimal text.
///
/// Empty or null labels are skipped (the item counts as unlabelled). A repeated id is an error
/// only if its label differs. Column/field names match case-insensitively when there is no
/// exact match.
pub fn load_labels_file(path: impl AsRef<Path>, column: Option<&str>) -> Result<HashMap<String, String>, EvalError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| EvalError::Io { path: path.to_owned(), source })?;
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    let label_col = column.unwrap_or(DEFAULT_LABEL_COLUMN);
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).unwrap_or_default();
    let mut labels = Labels::new(path);
    match ext.as_str() {
        "csv" => load_csv(bytes, b',', label_col, &mut labels)?,
        "tsv" => load_csv(bytes, b'\t', label_col, &mut labels)?,
        "jsonl" | "ndjson" => load_jsonl(bytes, label_col, &mut labels)?,
        _ => {
            let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
            if first == Some(&b'{') {
                load_jsonl(bytes, label_col, &mut labels)?
            } else {
                load_csv(bytes, b',', label_col, &mut labels)?
            }
        }
    }
    Ok(labels.map.into_iter().map(|(id, (label, _))| (id, label)).collect())
}

/// Accumulates labels, remembering each id's line for duplicate reports.
struct Labels<'a> {
    path: &'a Path,
    map: HashMap<String, (String, u64)>,
}

impl<'a> Labels<'a> {
    fn new(path: &'a Path) -> Self {
        Labels { path, map: HashMap::new() }
    }

    fn bad(&self, line: u64, msg: impl Into<String>) -> EvalError {
        EvalError::BadRecord { path: self.path.to_owned(), line, msg: msg.into() }
    }

    fn insert(&mut self, id: &str, label: &str, line: u64) -> Result<(), EvalError> {
        if id.is_empty() {
            return Err(self.bad(line, "empty id"));
        }
        if label.is_empty() {
            return Ok(());
        }
        if let Some((prev, prev_line)) = self.map.get(id) {
            if prev != label {
                return Err(
                    self.bad(line, format!("id `{id}` has label `{label}` but line {prev_line} gave it `{prev}`"))
                );
            }
            return Ok(());
        }
        self.map.insert(id.to_owned(), (label.to_owned(), line));
        Ok(())
    }
}

/// Exact name match first, then case-insensitive.
fn find_column<'h>(names: impl Iterator<Item = &'h str> + Clone, want: &str) -> Option<usize> {
    names.clone().position(|h| h == want).or_else(|| names.clone().position(|h| h.eq_ignore_ascii_case(want)))
}

fn load_csv(bytes: &[u8], delimiter: u8, label_col: &str, out: &mut Labels) -> Result<(), EvalError> {
    let path = out.path;
    let csv_err =
        |e: csv::Error| EvalError::Csv { path: path.to_owned(), line: e.position().map(|p| p.line()), source: e };
    let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).trim(csv::Trim::All).from_reader(bytes);
    let headers = reader.headers().map_err(csv_err)?.clone();
    if headers.is_empty() || headers.iter().all(str::is_empty) {
        return Err(out.bad(1, "empty file: expected a header row naming the id and label columns"));
    }
    let label_idx = find_column(headers.iter(), label_col).ok_or_else(|| EvalError::MissingColumn {
        path: path.to_owned(),
        column: label_col.to_owned(),
        available: headers.iter().map(str::to_owned).collect(),
    })?;
    let others = || headers.iter().enumerate().filter(|&(i, _)| i != label_idx);
    let id_idx = ID_COLUMNS
        .iter()
        .find_map(|want| {
            let pos = find_column(others().map(|(_, h)| h), want)?;
            others().nth(pos).map(|(i, _)| i)
        })
        .or_else(|| others().next().map(|(i, _)| i))
        .ok_or_else(|| out.bad(1, format!("only the label column `{label_col}`: an id column is needed too")))?;
    for record in reader.records() {
        let record = record.map_err(csv_err)?;
        let line = record.position().map_or(0, |p| p.line());
        // Equal field counts are enforced by the reader, so both indices exist.
        let id = record.get(id_idx).unwrap_or_default();
        let label = record.get(label_idx).unwrap_or_default();
        out.insert(id, label, line)?;
    }
    Ok(())
}

fn load_jsonl(bytes: &[u8], label_field: &str, out: &mut Labels) -> Result<(), EvalError> {
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = i as u64 + 1;
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let value: serde_json::Value = serde_json::from_slice(raw).map_err(|source| EvalError::Json {
            path: out.path.to_owned(),
            line,
            source,
        })?;
        let serde_json::Value::Object(obj) = value else {
            return Err(out.bad(line, "expected a JSON object"));
        };
        let field = |want: &str| find_column(obj.keys().map(String::as_str), want).and_then(|i| obj.iter().nth(i));
        let Some((_, id)) = ID_COLUMNS.iter().find_map(|w| field(w)) else {
            return Err(out.bad(line, format!("no `id` field (also accepted: {})", ID_COLUMNS[1..].join(", "))));
        };
        let Some(id) = json_text(id) else {
            return Err(out.bad(line, "`id` must be a string or number"));
        };
        let label = match field(label_field).map(|(_, v)| v) {
            None => return Err(out.bad(line, format!("no `{label_field}` field"))),
            Some(serde_json::Value::Null) => continue,
            Some(v) => {
                json_text(v).ok_or_else(|| out.bad(line, format!("`{label_field}` must be a string or number")))?
            }
        };
        out.insert(id.trim(), label.trim(), line)?;
    }
    Ok(())
}

fn json_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
        let path = dir.path().join(name);
        std::fs::File::create(&path).unwrap().write_all(text.as_bytes()).unwrap();
        path
    }

    fn pairs(m: &HashMap<String, String>) -> Vec<(&str, &str)> {
        let mut v: Vec<_> = m.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        v.sort_unstable();
        v
    }

    #[test]
    fn load_csv_columns() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(&dir, "a.csv", "\u{feff}path,image_file,label\nx, a.jpg ,cat\ny,b.jpg,\nz,c.jpg,dog\n");
        assert_eq!(pairs(&load_labels_file(&p, None).unwrap()), vec![("a.jpg", "cat"), ("c.jpg", "dog")]);

        // No recognised id column: first non-label column; label chosen by name.
        let p = write(&dir, "b.csv", "Species,name,colour\ncat,a,red\ndog,b,blue\n");
        assert_eq!(pairs(&load_labels_file(&p, Some("species")).unwrap()), vec![("a", "cat"), ("b", "dog")]);
        assert_eq!(pairs(&load_labels_file(&p, Some("colour")).unwrap()), vec![("cat", "red"), ("dog", "blue")]);

        let p = write(&dir, "c.tsv", "id\tlabel\n1\tx\n2\ty\n");
        assert_eq!(pairs(&load_labels_file(&p, None).unwrap()), vec![("1", "x"), ("2", "y")]);
    }

    #[test]
    fn load_csv_errors_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(&dir, "m.csv", "id,class\na,x\n");
        let e = load_labels_file(&p, None).unwrap_err().to_string();
        assert!(e.contains("m.csv") && e.contains("`label`") && e.contains("id, class"), "{e}");

        let p = write(&dir, "r.csv", "id,label\na,x\nb,y,extra\n");
        let e = load_labels_file(&p, None).unwrap_err();
        assert!(matches!(e, EvalError::Csv { line: Some(3), .. }), "{e}");
        assert!(e.to_string().contains("r.csv, line 3"), "{e}");

        let p = write(&dir, "d.csv", "id,label\na,x\nb,y\na,z\n");
        let e = load_labels_file(&p, None).unwrap_err().to_string();
        assert!(e.contains("d.csv, line 4") && e.contains("line 2"), "{e}");

        let p = write(&dir, "e.csv", "");
        assert!(load_labels_file(&p, None).unwrap_err().to_string().contains("e.csv, line 1"));

        let p = write(&dir, "o.csv", "label\nx\n");
        assert!(matches!(load_labels_file(&p, None), Err(EvalError::BadRecord { .. })));

        let missing = dir.path().join("nope.csv");
        let e = load_labels_file(&missing, None).unwrap_err();
        assert!(matches!(e, EvalError::Io { .. }) && e.to_string().contains("nope.csv"));
    }

    #[test]
    fn load_jsonl() {
        let dir = tempfile::tempdir().unwrap();
        let text = "{\"id\":\"a\",\"label\":\"cat\"}\n\n{\"id\":7,\"label\":3}\r\n{\"id\":\"n\",\"label\":null}\n";
        let p = write(&dir, "l.jsonl", text);
        assert_eq!(pairs(&load_labels_file(&p, None).unwrap()), vec![("7", "3"), ("a", "cat")]);
        // Sniffed without a known extension; custom field name.
        let p = write(&dir, "l.txt", "{\"filename\":\"a\",\"kind\":\"x\"}\n");
        assert_eq!(pairs(&load_labels_file(&p, Some("kind")).unwrap()), vec![("a", "x")]);

        let p = write(&dir, "bad.jsonl", "{\"id\":\"a\",\"label\":\"x\"}\n{\"id\": oops}\n");
        let e = load_labels_file(&p, None).unwrap_err();
        assert!(matches!(e, EvalError::Json { line: 2, .. }) && e.to_string().contains("bad.jsonl, line 2"), "{e}");
        let p = write(&dir, "noid.jsonl", "{\"label\":\"x\"}\n");
        assert!(load_labels_file(&p, None).unwrap_err().to_string().contains("noid.jsonl, line 1: no `id`"));
        let p = write(&dir, "nolab.jsonl", "{\"id\":\"a\"}\n");
        assert!(load_labels_file(&p, None).unwrap_err().to_string().contains("no `label` field"));
        let p = write(&dir, "arr.jsonl", "[1]\n");
        assert!(load_labels_file(&p, None).unwrap_err().to_string().contains("expected a JSON object"));
    }
}
