//! Captions, once per image: each image goes once to an OpenAI-compatible vision endpoint with a
//! criterion-free description prompt, or captions are imported from a file. Answers are kept in
//! `INDEX/captions.jsonl` with the model's name; a failed image is retried by the client, then
//! recorded with its reason and tried again on the next run, never fatal.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::llm::{parallel_map, ChatOptions, ClientPool, LlmUsage, Message};
use crate::store::image_files::{decode_file, DecodeLimits, PathMap};
use crate::util::jsonl::AppendLog;

/// Criterion-free on purpose: one caption serves every later criterion.
pub const DEFAULT_PROMPT: &str = "Describe this image in detail in one paragraph: the main subject, objects, \
people and what they are doing, the setting and location, colours, lighting, style and mood.";

/// Images larger than this are re-encoded (JPEG, longest side `MAX_SIDE`) before sending.
const MAX_SEND_BYTES: u64 = 4 << 20;
const MAX_SIDE: u32 = 1024;

/// One line of `captions.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaptionEntry {
    pub id: String,
    pub model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct CaptionReport {
    pub captioned: usize,
    /// Already captioned by this model in an earlier run.
    pub cached: usize,
    pub failed: Vec<(String, String)>,
    pub usage: Option<LlmUsage>,
}

/// The successful captions recorded in `log_path` for `model` (the last answer per image wins).
pub fn cached_captions(log_path: &Path, model: &str) -> std::io::Result<HashMap<String, String>> {
    if !log_path.is_file() {
        return Ok(HashMap::new());
    }
    let (_, replay) = AppendLog::open::<CaptionEntry>(log_path)?;
    Ok(replay.records.into_iter().filter(|e| e.model == model).filter_map(|e| e.caption.map(|c| (e.id, c))).collect())
}

/// The image as a `data:` URL: the file's own bytes when they are a format vision endpoints
/// accept and not too large, else a re-encoded JPEG.
pub fn data_url(path: &Path, limits: &DecodeLimits) -> Result<String, String> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let mime = match ext.as_str() {
        "jpg" | "jpeg" => Some("image/jpeg"),
        "png" => Some("image/png"),
        "webp" => Some("image/webp"),
        "gif" => Some("image/gif"),
        _ => None,
    };
    let size = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
    let b64 = base64::engine::general_purpose::STANDARD;
    if let Some(mime) = mime.filter(|_| size <= MAX_SEND_BYTES) {
        // Decoding first rejects files that are not really images before they cost a call.
        decode_file(path, limits).map_err(|e| e.to_string())?;
        let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
        return Ok(format!("data:{mime};base64,{}", b64.encode(bytes)));
    }
    let im = decode_file(path, limits).map_err(|e| e.to_string())?;
    let im = image::DynamicImage::ImageRgb8(im);
    let im = if im.width().max(im.height()) > MAX_SIDE { im.thumbnail(MAX_SIDE, MAX_SIDE) } else { im };
    let mut out = std::io::Cursor::new(Vec::new());
    im.write_to(&mut out, image::ImageFormat::Jpeg).map_err(|e| e.to_string())?;
    Ok(format!("data:image/jpeg;base64,{}", b64.encode(out.into_inner())))
}

/// Captions every `(id, path)` without a cached caption from this model, spread over the
/// pool's endpoints. Each answer is appended to the log as it arrives, so a run killed midway
/// sends none of them again.
pub fn caption_images(
    images: &[(String, PathBuf)],
    log_path: &Path,
    pool: &ClientPool,
    prompt: &str,
    progress: bool,
) -> std::io::Result<CaptionReport> {
    let model = pool.clients()[0].config().model.clone();
    let done = cached_captions(log_path, &model)?;
    let (log, _) = AppendLog::open::<CaptionEntry>(log_path)?;
    let todo: Vec<&(String, PathBuf)> = images.iter().filter(|(id, _)| !done.contains_key(id)).collect();
    let mut report = CaptionReport { cached: images.len() - todo.len(), ..Default::default() };
    let opts = ChatOptions::default().with_max_tokens(300);
    let limits = DecodeLimits::default();
    let results = parallel_map(todo.len(), pool.concurrency(), "captioning", progress, |i| {
        let (id, path) = todo[i];
        let entry = match data_url(path, &limits) {
            Err(e) => CaptionEntry {
                id: id.clone(),
                model: model.clone(),
                caption: None,
                error: Some(format!("not sent: {e}")),
            },
            Ok(url) => match pool.chat(&[Message::user_with_image(prompt, url)], &opts) {
                Ok(c) if !c.content.trim().is_empty() => CaptionEntry {
                    id: id.clone(),
                    model: model.clone(),
                    caption: Some(c.content.trim().to_string()),
                    error: None,
                },
                Ok(_) => CaptionEntry {
                    id: id.clone(),
                    model: model.clone(),
                    caption: None,
                    error: Some("empty caption".into()),
                },
                Err(e) => {
                    CaptionEntry { id: id.clone(), model: model.clone(), caption: None, error: Some(e.to_string()) }
                }
            },
        };
        let written = log.append(&entry);
        (entry, written)
    });
    for (entry, written) in results {
        written?;
        match (entry.caption, entry.error) {
            (Some(_), _) => report.captioned += 1,
            (None, e) => report.failed.push((entry.id, e.unwrap_or_default())),
        }
    }
    report.usage = Some(pool.usage());
    Ok(report)
}

/// Imported captions for image ids: a captions file's ids are matched to image ids by the whole
/// path, by the path without leading folders, or by a unique base name.
pub fn match_imported(image_ids: &[String], imported: &[(String, String)]) -> (HashMap<String, String>, usize) {
    let mut by_path = PathMap::default();
    for (id, cap) in imported {
        by_path.insert(id.clone(), cap.as_str());
    }
    let out: HashMap<String, String> =
        image_ids.iter().filter_map(|id| by_path.get(id).map(|c| (id.clone(), c.to_string()))).collect();
    let unmatched = imported.len().saturating_sub(out.len());
    (out, unmatched)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::LlmConfig;
    use crate::testing::fake_server::{FakeServer, Reply};
    use std::time::Duration;

    fn pool(cfgs: Vec<LlmConfig>) -> ClientPool {
        ClientPool::new(cfgs.into_iter().map(|c| crate::llm::LlmClient::new(c).unwrap()).collect()).unwrap()
    }

    #[test]
    fn a_dead_endpoints_images_are_captioned_by_the_others_once_each() {
        let dir = tempfile::tempdir().unwrap();
        let images: Vec<(String, PathBuf)> = (0..12u8)
            .map(|i| {
                let f = format!("im{i}.png");
                write_png(&dir.path().join(&f), [i * 20, 0, 0]);
                (f.clone(), dir.path().join(f))
            })
            .collect();
        let live = FakeServer::with_handler(|_| Reply::content("A dark square."));
        let gone = FakeServer::with_handler(|_| Reply::content("never")).base_url();
        let cfg = |url: String| {
            LlmConfig::new(url, "vision-model").with_max_retries(1).with_backoff(Duration::from_millis(5))
        };
        let log = dir.path().join("captions.jsonl");
        let p = pool(vec![cfg(gone), cfg(live.base_url())]);
        let r = caption_images(&images, &log, &p, DEFAULT_PROMPT, false).unwrap();
        assert_eq!((r.captioned, r.failed.len()), (12, 0));
        assert_eq!(live.requests().len(), 12);
        assert_eq!(p.dead_endpoints().len(), 1);
        let r = caption_images(&images, &log, &p, DEFAULT_PROMPT, false).unwrap();
        assert_eq!((r.cached, r.captioned), (12, 0));
        assert_eq!(live.requests().len(), 12, "nothing is sent twice");
    }

    fn write_png(path: &Path, rgb: [u8; 3]) {
        image::RgbImage::from_pixel(8, 8, image::Rgb(rgb)).save(path).unwrap();
    }

    #[test]
    fn each_image_is_sent_once_and_failures_are_recorded_then_retried() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write_png(&d.join("red.png"), [255, 0, 0]);
        write_png(&d.join("blue.png"), [0, 0, 255]);
        std::fs::write(d.join("bad.png"), b"not a png").unwrap();
        let images: Vec<(String, PathBuf)> =
            ["red.png", "blue.png", "bad.png"].iter().map(|f| (f.to_string(), d.join(f))).collect();
        let fail_blue = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let fb = fail_blue.clone();
        let server = FakeServer::with_handler(move |r| {
            let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
            let url = v["messages"][0]["content"][1]["image_url"]["url"].as_str().unwrap_or("");
            assert!(url.starts_with("data:image/png;base64,"), "{url}");
            let png = base64::engine::general_purpose::STANDARD.decode(&url["data:image/png;base64,".len()..]).unwrap();
            let px = image::load_from_memory(&png).unwrap().to_rgb8().get_pixel(0, 0).0;
            if px[2] == 255 && fb.load(std::sync::atomic::Ordering::SeqCst) {
                return Reply::status(500, "image input is not supported");
            }
            Reply::content(if px[0] == 255 { "A red square." } else { "A blue square." })
        });
        let cfg = LlmConfig::new(server.base_url(), "vision-model")
            .with_max_retries(1)
            .with_backoff(Duration::from_millis(5));
        let log = d.join("idx/captions.jsonl");
        let r = caption_images(&images, &log, &pool(vec![cfg.clone()]), DEFAULT_PROMPT, false).unwrap();
        assert_eq!(r.captioned, 1);
        let failed: HashMap<_, _> = r.failed.iter().cloned().collect();
        assert!(failed["blue.png"].contains("HTTP 500"), "{failed:?}");
        assert!(failed["bad.png"].contains("not sent"), "{failed:?}");
        // red once, blue twice (one retry); bad.png never reached the server.
        assert_eq!(server.requests().len(), 3);

        fail_blue.store(false, std::sync::atomic::Ordering::SeqCst);
        let r = caption_images(&images, &log, &pool(vec![cfg]), DEFAULT_PROMPT, false).unwrap();
        assert_eq!((r.cached, r.captioned, r.failed.len()), (1, 1, 1));
        assert_eq!(server.requests().len(), 4, "red is not sent again");
        let caps = cached_captions(&log, "vision-model").unwrap();
        assert_eq!(caps["blue.png"], "A blue square.");
        assert!(cached_captions(&log, "other-model").unwrap().is_empty());
    }

    #[test]
    fn imported_captions_match_by_path_or_base_name() {
        let ids: Vec<String> = ["images/a.jpg", "images/sub/b.jpg", "c.jpg"].iter().map(|s| s.to_string()).collect();
        let imported = vec![
            ("a.jpg".into(), "cap a".into()),
            ("sub/b.jpg".into(), "cap b".into()),
            ("zzz.jpg".into(), "?".into()),
        ];
        let (m, unmatched) = match_imported(&ids, &imported);
        assert_eq!(m["images/a.jpg"], "cap a");
        assert_eq!(m["images/sub/b.jpg"], "cap b");
        assert!(!m.contains_key("c.jpg"));
        assert_eq!(unmatched, 1);
    }
}
