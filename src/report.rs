//! The HTML gallery of a result: one section per cluster with its name, size, keywords, a grid
//! of thumbnails and sample captions. One self-contained file: inline CSS, thumbnails embedded
//! as data URLs, no scripts, nothing fetched. Every string that came from files, captions or
//! models is escaped.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

use base64::Engine;

use crate::query::{ClusterResult, ClusterSummary};
use crate::store::caption_index::Index;
use crate::store::image_files::{decode_file, DecodeLimits};
use crate::store::image_index::{is_image_index, LoadedImageIndex};

#[derive(Debug, Clone)]
pub struct GalleryOptions {
    /// Thumbnails per cluster (the most typical first).
    pub per_cluster: usize,
    /// Longest side of a thumbnail, in pixels.
    pub thumb_side: u32,
    pub captions_per_cluster: usize,
    /// SVG pictures shown above the clusters (from `crate::plot`, which escapes their text).
    pub pictures: Vec<String>,
}

impl Default for GalleryOptions {
    fn default() -> Self {
        Self { per_cluster: 24, thumb_side: 160, captions_per_cluster: 3, pictures: Vec::new() }
    }
}

pub struct Gallery {
    pub html: String,
    pub thumbnails: usize,
    /// Images of the result that could not be read for a thumbnail.
    pub missing: usize,
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn thumbnail(path: &Path, side: u32) -> Option<String> {
    let im = decode_file(path, &DecodeLimits::default()).ok()?;
    let t = image::DynamicImage::ImageRgb8(im).thumbnail(side, side);
    let mut out = std::io::Cursor::new(Vec::new());
    t.write_to(&mut out, image::ImageFormat::Jpeg).ok()?;
    Some(format!("data:image/jpeg;base64,{}", base64::engine::general_purpose::STANDARD.encode(out.into_inner())))
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:24px;background:#fafafa;color:#222}\
h1{font-size:22px}section{background:#fff;border:1px solid #ddd;border-radius:8px;padding:12px 16px;margin:16px 0}\
h2{font-size:18px;margin:4px 0}.meta{color:#666;font-size:13px}.kw span{display:inline-block;background:#eef;\
border-radius:10px;padding:1px 8px;margin:2px;font-size:12px}.grid{display:flex;flex-wrap:wrap;gap:6px;margin:8px 0}\
figure{margin:0;width:120px}figure img{width:120px;height:120px;object-fit:cover;border-radius:4px;background:#eee}\
figcaption{font-size:10px;color:#777;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}\
blockquote{margin:4px 0;padding:4px 8px;border-left:3px solid #ccd;font-size:13px;color:#444}";

/// Refuses a result whose ids are not the index's: a gallery of another index's result would
/// show the wrong images or none.
fn check_result_matches(r: &ClusterResult, ids: &[String], index_dir: &Path) -> Result<(), String> {
    let known: std::collections::HashSet<&str> = ids.iter().map(String::as_str).collect();
    let missing: Vec<&str> = r.assignments.iter().map(|a| a.id.as_str()).filter(|id| !known.contains(id)).collect();
    match missing.first() {
        None => Ok(()),
        Some(first) => Err(format!(
            "{} of the result's {} ids are not in the index {} (the first: {first:?}): was the result made from another index?",
            missing.len(),
            r.assignments.len(),
            index_dir.display()
        )),
    }
}

/// Builds the gallery of `r` over the index in `index_dir` (an image index gives thumbnails; a
/// caption index gives captions only).
pub fn gallery(
    r: &ClusterResult,
    index_dir: &Path,
    opts: &GalleryOptions,
) -> Result<Gallery, Box<dyn std::error::Error>> {
    let (root, ids, captions): (Option<std::path::PathBuf>, Vec<String>, HashMap<String, String>) =
        if is_image_index(index_dir) {
            let idx = LoadedImageIndex::open(index_dir)?;
            let caps = idx.images.ids.iter().cloned().zip(idx.captions).filter(|(_, c)| !c.is_empty()).collect();
            (Some(idx.descriptor.root), idx.images.ids, caps)
        } else {
            let l = Index::open(index_dir)?.load()?;
            (None, l.ids.clone(), l.ids.into_iter().zip(l.captions).collect())
        };
    check_result_matches(r, &ids, index_dir)?;
    let mut members: HashMap<i64, Vec<&str>> = HashMap::new();
    for a in &r.assignments {
        members.entry(a.cluster).or_default().push(a.id.as_str());
    }
    let mut page = Page { html: header(r, opts), thumbnails: 0, missing: 0, root, captions: &captions, opts };
    for c in &r.clusters {
        page.cluster(c, members.get(&c.id).map_or(&[][..], Vec::as_slice));
    }
    for n in &r.notes {
        let _ = write!(page.html, "<p class=\"meta\">{}</p>", escape(n));
    }
    page.html.push_str("</body></html>\n");
    Ok(Gallery { html: page.html, thumbnails: page.thumbnails, missing: page.missing })
}

/// The page's head, title line and the pictures above the clusters.
fn header(r: &ClusterResult, opts: &GalleryOptions) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>clusterby: {}</title><style>{STYLE}</style></head><body>",
        escape(&r.criterion)
    );
    let _ = write!(
        h,
        "<h1>Clustered by “{}”</h1><p class=\"meta\">{} clusters · {} items · {} · {} + {} · names by {} · {} LLM calls</p>",
        escape(&r.criterion),
        r.k,
        r.assignments.len(),
        r.strategy.as_str(),
        r.method.map_or("IC|TC", |m| m.as_str()),
        r.conditioning.map_or("-", |c| c.as_str()),
        r.namer.as_str(),
        r.llm_calls
    );
    if !opts.pictures.is_empty() {
        h.push_str("<div class=\"pictures\">");
        for svg in &opts.pictures {
            // Inline SVG needs no namespace in HTML, and the page then names no URL at all.
            h.push_str(&svg.replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1));
        }
        h.push_str("</div>");
    }
    h
}

/// The gallery page as it is written, cluster by cluster.
struct Page<'a> {
    html: String,
    thumbnails: usize,
    missing: usize,
    /// The image folder, for an image index.
    root: Option<std::path::PathBuf>,
    captions: &'a HashMap<String, String>,
    opts: &'a GalleryOptions,
}

impl Page<'_> {
    /// One cluster's section: name, keywords, thumbnails (image indexes) and captions.
    fn cluster(&mut self, c: &ClusterSummary, members: &[&str]) {
        let _ = write!(
            self.html,
            "<section id=\"cluster-{}\"><h2>{}</h2><div class=\"meta\">{} items</div><div class=\"kw\">",
            c.id,
            escape(&c.name),
            c.size
        );
        for k in &c.keywords {
            let _ = write!(self.html, "<span>{}</span>", escape(k));
        }
        self.html.push_str("</div>");
        // The most typical items first, then the rest in result order.
        let mut shown: Vec<&str> = c.examples.iter().map(String::as_str).collect();
        for id in members {
            if shown.len() >= self.opts.per_cluster {
                break;
            }
            if !shown.contains(id) {
                shown.push(id);
            }
        }
        self.thumbnails(&shown);
        for id in shown.iter().filter(|id| self.captions.contains_key(**id)).take(self.opts.captions_per_cluster) {
            let _ = write!(
                self.html,
                "<blockquote><b>{}</b>: {}</blockquote>",
                escape(id),
                escape(self.captions.get(*id).map_or("", String::as_str))
            );
        }
        self.html.push_str("</section>");
    }

    /// The cluster's thumbnails, on an image index (nothing otherwise).
    fn thumbnails(&mut self, shown: &[&str]) {
        let Some(root) = &self.root else { return };
        self.html.push_str("<div class=\"grid\">");
        for id in shown.iter().take(self.opts.per_cluster) {
            match thumbnail(&root.join(id), self.opts.thumb_side) {
                Some(url) => {
                    self.thumbnails += 1;
                    let _ = write!(
                        self.html,
                        "<figure><img src=\"{url}\" alt=\"{}\" title=\"{}\"><figcaption>{}</figcaption></figure>",
                        escape(id),
                        escape(self.captions.get(*id).map_or(*id, String::as_str)),
                        escape(id)
                    );
                }
                None => {
                    self.missing += 1;
                    let _ = write!(self.html, "<figure><figcaption>missing: {}</figcaption></figure>", escape(id));
                }
            }
        }
        self.html.push_str("</div>");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }
}

#[cfg(test)]
mod match_tests {
    use super::*;
    use crate::query::{Assignment, Strategy};

    #[test]
    fn a_result_of_another_index_is_refused() {
        let mut r = ClusterResult::new("c", Strategy::ZeroCall, 1, 0);
        r.assignments = ["a", "b"].iter().map(|id| Assignment { id: id.to_string(), cluster: 0 }).collect();
        let here = ["a".to_string(), "b".to_string(), "c".to_string()];
        assert!(check_result_matches(&r, &here, Path::new("idx")).is_ok());
        let e = check_result_matches(&r, &here[1..], Path::new("idx")).unwrap_err();
        assert!(e.contains("1 of the result's 2 ids are not in the index idx") && e.contains("\"a\""), "{e}");
    }
}
