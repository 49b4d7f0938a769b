//! Reading caption files: IC|TC `step1_result.jsonl`, plain JSON Lines, and CSV.
//!
//! Bad lines never abort the read: they are collected in [`ReadReport::skipped`] so the caller
//! can tell the user exactly which lines were dropped and why.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde_json::{Map, Value};

use super::IndexError;

/// One caption to be indexed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptionRecord {
    pub id: String,
    pub caption: String,
    /// Ground-truth class, when the input provides one (used only for evaluation).
    pub label: Option<String>,
}

/// A line that was not turned into a record.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SkippedLine {
    /// 1-based line number in the input file (for CSV, the line where the record starts).
    pub line: usize,
    pub reason: String,
}

/// Which input format [`read_captions`] recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    /// IC|TC `step1_result.jsonl`: `{"image_file": ..., "text": ...}`.
    IctcJsonl,
    /// JSON Lines with `id`, `caption` and optional `label`.
    Jsonl,
    /// CSV with a header containing `id`, `caption` and optional `label`.
    Csv,
}

#[derive(Debug, Clone)]
pub struct ReadReport {
    pub format: InputFormat,
    pub records: Vec<CaptionRecord>,
    pub skipped: Vec<SkippedLine>,
}

/// Reads a caption file, detecting its format from the extension and, failing that, the content.
///
/// Malformed lines and repeated ids are skipped and reported; only a file that cannot be read at
/// all (or a CSV without the required columns) is an error.
pub fn read_captions(path: impl AsRef<Path>) -> Result<ReadReport, IndexError> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|e| IndexError::io(path, e))?;
    let mut reader = BufReader::new(file);

    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    let is_csv = match ext.as_deref() {
        Some("csv") => true,
        Some("jsonl") | Some("ndjson") | Some("json") => false,
        _ => first_content_byte(&mut reader, path)? != Some(b'{'),
    };

    let mut collector = Collector::default();
    let format = if is_csv {
        read_csv(reader, path, &mut collector)?;
        InputFormat::Csv
    } else {
        let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        // IC|TC always names its captioning output this way; otherwise the first object decides.
        let flavor = file_name.starts_with("step1_result").then_some(JsonFlavor::Ictc);
        read_jsonl(reader, path, flavor, &mut collector)?
    };

    if collector.records.is_empty() {
        let first = collector.skipped.first().map_or(String::new(), |s| format!("; line {}: {}", s.line, s.reason));
        return Err(IndexError::Format {
            path: path.to_path_buf(),
            message: format!(
                "no captions read ({} lines skipped{first}): is this a captions file?",
                collector.skipped.len()
            ),
        });
    }
    Ok(ReadReport { format, records: collector.records, skipped: collector.skipped })
}

/// A line longer than this ends the read with an error naming it: no captions file has one,
/// and reading on (`/dev/zero`, a binary file without line breaks) would exhaust memory.
pub const MAX_LINE_BYTES: usize = 1 << 20;
/// A caption longer than this is skipped with its line.
pub const MAX_CAPTION_CHARS: usize = 20_000;

/// Reads one line into `buf` (cleared first), refusing one longer than [`MAX_LINE_BYTES`].
fn read_bounded_line(
    reader: &mut impl BufRead,
    buf: &mut Vec<u8>,
    path: &Path,
    line: usize,
) -> Result<usize, IndexError> {
    buf.clear();
    let n =
        reader.by_ref().take(MAX_LINE_BYTES as u64 + 1).read_until(b'\n', buf).map_err(|e| IndexError::io(path, e))?;
    if n > MAX_LINE_BYTES {
        return Err(IndexError::Format {
            path: path.to_path_buf(),
            message: format!("line {line} is longer than {} MiB: is this a captions file?", MAX_LINE_BYTES >> 20),
        });
    }
    Ok(n)
}

/// Class label from the IC|TC file name convention `{number}_{class}.{ext}`:
/// `1001_wind.jpg` → `wind`, `7_electric_guitar.png` → `electric_guitar`; `None` without `_`.
pub fn label_from_file_name(file: &str) -> Option<String> {
    let base = file.rsplit(['/', '\\']).next().unwrap_or(file);
    let stem = match base.rfind('.') {
        Some(dot) if dot > 0 => &base[..dot],
        _ => base,
    };
    let (_, class) = stem.split_once('_')?;
    (!class.is_empty()).then(|| class.to_string())
}

/// Peeks at the first non-whitespace byte without consuming anything the parsers need.
fn first_content_byte(reader: &mut BufReader<File>, path: &Path) -> Result<Option<u8>, IndexError> {
    let buf = reader.fill_buf().map_err(|e| IndexError::io(path, e))?;
    let buf = buf.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(buf);
    Ok(buf.iter().copied().find(|b| !b.is_ascii_whitespace()))
}

/// Accumulates records, dropping repeated ids (first occurrence wins).
#[derive(Default)]
struct Collector {
    records: Vec<CaptionRecord>,
    skipped: Vec<SkippedLine>,
    first_line_of_id: HashMap<String, usize>,
}

impl Collector {
    fn skip(&mut self, line: usize, reason: impl Into<String>) {
        self.skipped.push(SkippedLine { line, reason: reason.into() });
    }

    fn accept(&mut self, line: usize, record: CaptionRecord) {
        let chars = record.caption.chars().count();
        if chars > MAX_CAPTION_CHARS {
            self.skip(line, format!("caption of {chars} characters (at most {MAX_CAPTION_CHARS})"));
            return;
        }
        if let Some(&first) = self.first_line_of_id.get(&record.id) {
            self.skip(line, format!("duplicate id '{}' (first seen on line {first})", record.id));
            return;
        }
        self.first_line_of_id.insert(record.id.clone(), line);
        self.records.push(record);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JsonFlavor {
    Ictc,
    Plain,
}

fn read_jsonl(
    mut reader: impl BufRead,
    path: &Path,
    mut flavor: Option<JsonFlavor>,
    out: &mut Collector,
) -> Result<InputFormat, IndexError> {
    let mut buf = Vec::new();
    let mut line_no = 0usize;
    loop {
        if read_bounded_line(&mut reader, &mut buf, path, line_no + 1)? == 0 {
            break;
        }
        line_no += 1;
        let mut bytes: &[u8] = &buf;
        if line_no == 1 {
            bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        }
        let Ok(text) = std::str::from_utf8(bytes) else {
            out.skip(line_no, "not valid UTF-8");
            continue;
        };
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        if line_no == 1 && text.starts_with('[') {
            return Err(IndexError::Format {
                path: path.to_path_buf(),
                message: "looks like a JSON array; expected JSON Lines (one object per line)".into(),
            });
        }
        let obj = match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(obj)) => obj,
            Ok(_) => {
                out.skip(line_no, "not a JSON object");
                continue;
            }
            Err(e) => {
                out.skip(line_no, format!("invalid JSON: {e}"));
                continue;
            }
        };
        let flavor = *flavor.get_or_insert_with(|| detect_flavor(&obj));
        let parsed = match flavor {
            JsonFlavor::Ictc => parse_ictc(&obj),
            JsonFlavor::Plain => parse_plain(&obj),
        };
        match parsed {
            Ok(record) => out.accept(line_no, record),
            Err(reason) => out.skip(line_no, reason),
        }
    }
    Ok(match flavor {
        Some(JsonFlavor::Ictc) => InputFormat::IctcJsonl,
        _ => InputFormat::Jsonl,
    })
}

fn detect_flavor(obj: &Map<String, Value>) -> JsonFlavor {
    let ictc = obj.contains_key("image_file") || obj.contains_key("text");
    let plain = obj.contains_key("id") || obj.contains_key("caption");
    if ictc && !plain {
        JsonFlavor::Ictc
    } else {
        JsonFlavor::Plain
    }
}

fn parse_ictc(obj: &Map<String, Value>) -> Result<CaptionRecord, String> {
    let id = required_string(obj, "image_file")?;
    let caption = caption_field(obj, "text")?;
    let label = label_from_file_name(&id);
    Ok(CaptionRecord { id, caption, label })
}

fn parse_plain(obj: &Map<String, Value>) -> Result<CaptionRecord, String> {
    let id = match obj.get("id") {
        // Numeric ids are common in exported tables; keep their JSON spelling.
        Some(Value::Number(n)) => n.to_string(),
        _ => required_string(obj, "id")?,
    };
    let caption = caption_field(obj, "caption")?;
    let label = match obj.get("label") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => non_blank(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(_) => return Err("field 'label' must be a string or number".into()),
    };
    Ok(CaptionRecord { id, caption, label })
}

fn required_string(obj: &Map<String, Value>, key: &str) -> Result<String, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Err(format!("missing field '{key}'")),
        Some(Value::String(s)) if s.trim().is_empty() => Err(format!("empty field '{key}'")),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(format!("field '{key}' must be a string")),
    }
}

fn caption_field(obj: &Map<String, Value>, key: &str) -> Result<String, String> {
    required_string(obj, key).map_err(|e| if e.starts_with("empty") { "empty caption".to_string() } else { e })
}

fn non_blank(s: &str) -> Option<String> {
    (!s.trim().is_empty()).then(|| s.to_string())
}

/// A reader that fails once a line runs past [`MAX_LINE_BYTES`].
struct LineLimit<R> {
    inner: R,
    line: usize,
    run: usize,
}

impl<R: Read> Read for LineLimit<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for &b in &buf[..n] {
            if b == b'\n' {
                self.line += 1;
                self.run = 0;
            } else {
                self.run += 1;
            }
        }
        if self.run > MAX_LINE_BYTES {
            let msg =
                format!("line {} is longer than {} MiB: is this a captions file?", self.line, MAX_LINE_BYTES >> 20);
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, msg));
        }
        Ok(n)
    }
}

fn read_csv(reader: impl Read, path: &Path, out: &mut Collector) -> Result<(), IndexError> {
    let reader = LineLimit { inner: reader, line: 1, run: 0 };
    // Flexible so that a short row is reported as one skipped line instead of aborting the file.
    let mut csv = csv::ReaderBuilder::new().has_headers(true).flexible(true).from_reader(reader);
    let headers = csv.headers().map_err(|e| csv_file_error(path, e))?.clone();
    let column = |name: &str| headers.iter().position(|h| h.trim().eq_ignore_ascii_case(name));
    let (Some(id_col), Some(caption_col)) = (column("id"), column("caption")) else {
        let found: Vec<&str> = headers.iter().collect();
        return Err(IndexError::Format {
            path: path.to_path_buf(),
            message: format!("CSV header must have columns 'id' and 'caption' (found: {})", found.join(", ")),
        });
    };
    let label_col = column("label");

    let mut row = csv::StringRecord::new();
    loop {
        match csv.read_record(&mut row) {
            Ok(false) => break,
            Ok(true) => {
                let line = row.position().map_or(0, |p| p.line() as usize);
                if let Some(last) = swallowed_rows(&row, headers.len()) {
                    out.skip(
                        line,
                        format!("a quoted field runs over lines {line}–{} (an unterminated quote?)", line + last),
                    );
                    continue;
                }
                match parse_csv_row(&row, id_col, caption_col, label_col) {
                    Ok(record) => out.accept(line, record),
                    Err(reason) => out.skip(line, reason),
                }
            }
            Err(e) => match e.kind() {
                // The bad record has been consumed, so reading can go on.
                csv::ErrorKind::Utf8 { pos, .. } => {
                    let line = pos.as_ref().map_or(0, |p| p.line() as usize);
                    out.skip(line, "not valid UTF-8");
                }
                _ => return Err(csv_file_error(path, e)),
            },
        }
    }
    Ok(())
}

/// A quote left open runs a field on over the next lines and swallows their rows. A quoted
/// caption may hold line breaks, but one whose later lines look like rows of this file (as many
/// delimiters as a row has) was most likely not meant to: the count of lines it spans beyond
/// its first, when so.
fn swallowed_rows(row: &csv::StringRecord, columns: usize) -> Option<usize> {
    row.iter().find_map(|field| {
        let lines: Vec<&str> = field.trim_end_matches(['\n', '\r']).split('\n').collect();
        let row_like = lines[1..].iter().any(|l| columns > 1 && l.matches(',').count() + 1 >= columns);
        row_like.then_some(lines.len() - 1)
    })
}

fn parse_csv_row(
    row: &csv::StringRecord,
    id_col: usize,
    caption_col: usize,
    label_col: Option<usize>,
) -> Result<CaptionRecord, String> {
    let id = match row.get(id_col) {
        None => return Err("missing field 'id'".into()),
        Some(s) if s.trim().is_empty() => return Err("empty field 'id'".into()),
        Some(s) => s.to_string(),
    };
    let caption = match row.get(caption_col) {
        None => return Err("missing field 'caption'".into()),
        Some(s) if s.trim().is_empty() => return Err("empty caption".into()),
        Some(s) => s.to_string(),
    };
    let label = label_col.and_then(|c| row.get(c)).and_then(non_blank);
    Ok(CaptionRecord { id, caption, label })
}

fn csv_file_error(path: &Path, e: csv::Error) -> IndexError {
    // csv's message already carries the record's line and byte position.
    let message = e.to_string();
    match e.into_kind() {
        csv::ErrorKind::Io(io) => IndexError::io(path, io),
        _ => IndexError::Format { path: path.to_path_buf(), message },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write_temp(dir: &tempfile::TempDir, name: &str, content: &str) -> std::path::PathBuf {
        let path = dir.path().join(name);
        let mut f = File::create(&path).unwrap();
        f.write_all(content.as_bytes()).unwrap();
        path
    }

    #[test]
    fn label_from_ictc_file_names() {
        assert_eq!(label_from_file_name("1001_wind.jpg").as_deref(), Some("wind"));
        assert_eq!(label_from_file_name("imgs/7_electric_guitar.png").as_deref(), Some("electric_guitar"));
        assert_eq!(label_from_file_name("0_7.png").as_deref(), Some("7"));
        assert_eq!(label_from_file_name("1001.jpg"), None);
        assert_eq!(label_from_file_name("1001_.jpg"), None);
        assert_eq!(label_from_file_name("a_b"), Some("b".into()));
    }

    #[test]
    fn reads_ppmi2_sample() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("shared").join("data/captions/ppmi2.jsonl");
        if !path.exists() {
            eprintln!("skipping: {} not found", path.display());
            return;
        }
        // A 50-line sample keeps the test fast and independent of the full file's size.
        let text = std::fs::read_to_string(&path).unwrap();
        let sample: String = text.lines().take(50).map(|l| format!("{l}\n")).collect();
        let dir = tempfile::tempdir().unwrap();
        let sample_path = write_temp(&dir, "ppmi2_sample.jsonl", &sample);

        let report = read_captions(&sample_path).unwrap();
        assert_eq!(report.format, InputFormat::Jsonl);
        assert!(report.skipped.is_empty(), "{:?}", report.skipped);
        assert_eq!(report.records.len(), 50);
        let first = &report.records[0];
        assert_eq!(first.id, "1001_wind.jpg");
        assert_eq!(first.label.as_deref(), Some("wind"));
        assert!(first.caption.starts_with("The image features"));

        // The full file must also read cleanly.
        let full = read_captions(&path).unwrap();
        assert_eq!(full.records.len() + full.skipped.len(), text.lines().count());
    }

    #[test]
    fn reads_ictc_step1_result() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_temp(
            &dir,
            "step1_result.jsonl",
            concat!(
                r#"{"question_id": 0, "image_file": "1001_wind.jpg", "text": "A man plays a trumpet.", "model_id": "llava"}"#,
                "\n",
                r#"{"question_id": 1, "image_file": "12_electric_guitar.png", "text": "A guitar on stage."}"#,
                "\n",
                r#"{"question_id": 2, "image_file": "noclass.jpg", "text": "Something."}"#,
                "\n",
            ),
        );
        let report = read_captions(&path).unwrap();
        assert_eq!(report.format, InputFormat::IctcJsonl);
        assert!(report.skipped.is_empty(), "{:?}", report.skipped);
        assert_eq!(
            report.records,
            vec![
                CaptionRecord {
                    id: "1001_wind.jpg".into(),
                    caption: "A man plays a trumpet.".into(),
                    label: Some("wind".into()),
                },
                CaptionRecord {
                    id: "12_electric_guitar.png".into(),
                    caption: "A guitar on stage.".into(),
                    label: Some("electric_guitar".into()),
                },
                CaptionRecord { id: "noclass.jpg".into(), caption: "Something.".into(), label: None },
            ]
        );
    }

    #[test]
    fn ictc_detected_by_content_under_other_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_temp(&dir, "captions.jsonl", "{\"image_file\": \"3_cat.png\", \"text\": \"A cat.\"}\n");
        let report = read_captions(&path).unwrap();
        assert_eq!(report.format, InputFormat::IctcJsonl);
        assert_eq!(report.records[0].label.as_deref(), Some("cat"));
    }

    #[test]
    fn reads_csv() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_temp(
            &dir,
            "caps.csv",
            "id,caption,label\n\
             a,\"A dog, running\",dog\n\
             b,\"Two lines\nof caption\",\n\
             c,,cat\n\
             d\n\
             a,again,dog\n\
             e,Plain,7\n",
        );
        let report = read_captions(&path).unwrap();
        assert_eq!(report.format, InputFormat::Csv);
        let ids: Vec<&str> = report.records.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "e"]);
        assert_eq!(report.records[0].caption, "A dog, running");
        assert_eq!(report.records[0].label.as_deref(), Some("dog"));
        assert_eq!(report.records[1].caption, "Two lines\nof caption");
        assert_eq!(report.records[1].label, None);
        assert_eq!(report.records[2].label.as_deref(), Some("7"));
        let skipped: Vec<(usize, &str)> = report.skipped.iter().map(|s| (s.line, s.reason.as_str())).collect();
        assert_eq!(
            skipped,
            [(5, "empty caption"), (6, "missing field 'caption'"), (7, "duplicate id 'a' (first seen on line 2)"),]
        );
    }

    #[test]
    fn csv_without_label_and_sniffed_without_extension() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_temp(&dir, "caps", "caption,id\nhello,x1\n");
        let report = read_captions(&path).unwrap();
        assert_eq!(report.format, InputFormat::Csv);
        assert_eq!(report.records, vec![CaptionRecord { id: "x1".into(), caption: "hello".into(), label: None }]);
    }

    #[test]
    fn csv_missing_columns_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_temp(&dir, "bad.csv", "name,text\na,b\n");
        let err = read_captions(&path).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("bad.csv") && msg.contains("'caption'"), "{msg}");
    }

    #[test]
    fn malformed_jsonl_lines_are_skipped_with_line_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_temp(
            &dir,
            "caps.jsonl",
            concat!(
                "\u{feff}{\"id\": \"a\", \"caption\": \"ok\", \"label\": 3, \"ictc_answer\": \"x\"}\n",
                "{not json\n",
                "\n",
                "{\"id\": \"b\"}\n",
                "{\"id\": \"c\", \"caption\": \"   \"}\n",
                "[1, 2]\n",
                "{\"id\": \"a\", \"caption\": \"dup\"}\n",
                "{\"id\": 42, \"caption\": \"numeric id\", \"label\": null}\n",
                "{\"id\": \"d\", \"caption\": \"bad label\", \"label\": [1]}\n",
                "{\"caption\": \"no id\"}\r\n",
                "{\"id\": \"e\", \"caption\": \"last, no newline\", \"label\": \"x\"}",
            ),
        );
        let report = read_captions(&path).unwrap();
        assert_eq!(report.format, InputFormat::Jsonl);
        let ids: Vec<&str> = report.records.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["a", "42", "e"]);
        assert_eq!(report.records[0].label.as_deref(), Some("3"));
        assert_eq!(report.records[1].label, None);
        let lines: Vec<usize> = report.skipped.iter().map(|s| s.line).collect();
        assert_eq!(lines, [2, 4, 5, 6, 7, 9, 10]);
        let reasons: Vec<&str> = report.skipped.iter().map(|s| s.reason.as_str()).collect();
        assert!(reasons[0].starts_with("invalid JSON"), "{}", reasons[0]);
        assert_eq!(reasons[1], "missing field 'caption'");
        assert_eq!(reasons[2], "empty caption");
        assert_eq!(reasons[3], "not a JSON object");
        assert_eq!(reasons[4], "duplicate id 'a' (first seen on line 1)");
        assert_eq!(reasons[5], "field 'label' must be a string or number");
        assert_eq!(reasons[6], "missing field 'id'");
    }

    #[test]
    fn invalid_utf8_line_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("caps.jsonl");
        let mut bytes = b"{\"id\": \"a\", \"caption\": \"ok\"}\n".to_vec();
        bytes.extend_from_slice(b"{\"id\": \"b\", \"caption\": \"\xff\xfe\"}\n");
        std::fs::write(&path, bytes).unwrap();
        let report = read_captions(&path).unwrap();
        assert_eq!(report.records.len(), 1);
        assert_eq!(report.skipped[0].line, 2);
    }

    #[test]
    fn json_array_file_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_temp(&dir, "caps.json", "[{\"id\": \"a\", \"caption\": \"x\"}]\n");
        let msg = read_captions(&path).unwrap_err().to_string();
        assert!(msg.contains("caps.json") && msg.contains("JSON Lines"), "{msg}");
    }

    #[test]
    fn missing_file_error_names_path() {
        let msg = read_captions("/nonexistent/dir/caps.jsonl").unwrap_err().to_string();
        assert!(msg.contains("/nonexistent/dir/caps.jsonl"), "{msg}");
    }

    #[test]
    fn an_unterminated_quote_is_reported_with_its_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = write_temp(&dir, "c.csv", "id,caption\na,first\nb,\"open quote\nc,swallowed\nd,last\n");
        let r = read_captions(&p).unwrap();
        assert_eq!(r.records.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["a"]);
        assert_eq!(r.skipped.len(), 1, "{:?}", r.skipped);
        assert!(
            r.skipped[0].reason.contains("lines 3–5") && r.skipped[0].reason.contains("unterminated"),
            "{:?}",
            r.skipped
        );
    }

    #[test]
    fn endless_lines_and_files_without_captions_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let zeros = dir.path().join("zeros");
        std::fs::write(&zeros, vec![0u8; MAX_LINE_BYTES + 10]).unwrap();
        let e = read_captions(&zeros).unwrap_err().to_string();
        assert!(e.contains("line 1 is longer than 1 MiB") && e.contains("zeros"), "{e}");
        let long = dir.path().join("long.jsonl");
        std::fs::write(&long, format!("{{\"id\": \"a\", \"caption\": \"x\"}}\n{}", "y".repeat(MAX_LINE_BYTES + 1)))
            .unwrap();
        let e = read_captions(&long).unwrap_err().to_string();
        assert!(e.contains("line 2 is longer"), "{e}");
        let binary = write_temp(&dir, "b.jsonl", "\u{1}\u{2}garbage\n{not json}\n");
        let e = read_captions(&binary).unwrap_err().to_string();
        assert!(e.contains("no captions read (2 lines skipped; line 1:"), "{e}");
        let huge = write_temp(
            &dir,
            "h.jsonl",
            &format!(
                "{{\"id\": \"a\", \"caption\": \"{}\"}}\n{{\"id\": \"b\", \"caption\": \"ok\"}}\n",
                "w".repeat(MAX_CAPTION_CHARS + 1)
            ),
        );
        let r = read_captions(&huge).unwrap();
        assert_eq!((r.records.len(), r.skipped[0].line), (1, 1));
    }
}
