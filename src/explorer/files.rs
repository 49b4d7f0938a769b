//! What the explorer sends as files: exports of the query on screen, and images.

use std::path::Path;

use super::{bad, Explorer, Reply, Routed, Target};
use crate::report::{gallery, GalleryOptions};

/// The content type of an image file by its extension; other files are not served.
fn image_type(path: &Path) -> Option<&'static str> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    Some(match ext.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "bmp" => "image/bmp",
        _ => return None,
    })
}

/// A name for exported files from the criterion.
fn file_stem(criterion: &str) -> String {
    let s: String =
        criterion.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    format!("clusterby-{}", s.trim_matches('-'))
}

impl Explorer {
    /// The query on screen as the result JSON (`cluster --json`'s schema), a CSV of
    /// assignments, or the HTML report.
    pub(super) fn export(&mut self, t: &Target) -> Routed {
        let i = self.answer(t, "")?;
        let r = &self.answers[i].1.result;
        let stem = file_stem(&r.criterion);
        match t.get("format").unwrap_or("json") {
            "json" => {
                let body = serde_json::to_vec_pretty(r).map_err(|e| (500, e.to_string()))?;
                Ok(Reply::ok("application/json", body).attachment(&format!("{stem}.json")))
            }
            "csv" => {
                let names: std::collections::HashMap<i64, &str> =
                    r.clusters.iter().map(|c| (c.id, c.name.as_str())).collect();
                let write = || -> Result<Vec<u8>, Box<dyn std::error::Error>> {
                    let mut w = csv::Writer::from_writer(Vec::new());
                    w.write_record(["id", "cluster", "name"])?;
                    for a in &r.assignments {
                        let name = names.get(&a.cluster).copied().unwrap_or("noise");
                        w.write_record([a.id.as_str(), &a.cluster.to_string(), name])?;
                    }
                    Ok(w.into_inner()?)
                };
                let body = write().map_err(|e| (500, e.to_string()))?;
                Ok(Reply::ok("text/csv; charset=utf-8", body).attachment(&format!("{stem}.csv")))
            }
            "html" => {
                let g = gallery(r, &self.dir, &GalleryOptions::default()).map_err(|e| (500, e.to_string()))?;
                Ok(Reply::ok("text/html; charset=utf-8", g.html).attachment(&format!("{stem}.html")))
            }
            other => Err(bad(format!("format: {other:?} is not json, csv or html"))),
        }
    }

    /// The image of one id of the index, from inside `--images` only.
    pub(super) fn image(&self, t: &Target) -> Routed {
        let root = self.images.as_ref().ok_or((404, "no --images folder was given".to_string()))?;
        let id = t.get("id").ok_or_else(|| bad("id: missing"))?;
        if !self.row_of.contains_key(id) {
            return Err((404, "no such id in the index".into()));
        }
        let path = root.join(id).canonicalize().map_err(|_| (404, "no image for this id".to_string()))?;
        // The id is the index's, but it may still name a path outside the folder ("../x").
        if !path.starts_with(root) {
            return Err((403, "outside the images folder".into()));
        }
        let kind = image_type(&path).ok_or((415, "not an image file".to_string()))?;
        let body = std::fs::read(&path).map_err(|_| (404, "image unreadable".to_string()))?;
        Ok(Reply::ok(kind, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_image_files_and_plain_names() {
        assert_eq!(image_type(Path::new("a/b.JPG")), Some("image/jpeg"));
        assert_eq!(image_type(Path::new("/etc/passwd")), None);
        assert_eq!(image_type(Path::new("x.html")), None);
        assert_eq!(file_stem("Musical instrument!"), "clusterby-musical-instrument");
    }
}
