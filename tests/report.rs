//! The HTML gallery: thumbnails and captions per cluster, everything from files, captions and
//! models escaped, self-contained, rendered by headless Chromium (scripts/screenshot.sh).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use clusterby::conditioning::Conditioning;
use clusterby::query::{ClusterResult, Space};
use clusterby::ModelName;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn run(args: &[&str]) -> std::process::Output {
    Command::new(common::bin()).args(args).output().unwrap()
}

/// Indexes eleven CIFAR-10 images with captions, one of them markup, clusters them and writes
/// the gallery of a result whose names are markup too; returns the HTML file.
fn gallery_with_markup(dir: &Path) -> PathBuf {
    common::require_model(ModelName::AllMiniLmL6V2);
    let cifar = common::require_file(common::shared_dir().join("data/images/cifar10-test/images"));
    let imgs = dir.join("imgs");
    std::fs::create_dir_all(&imgs).unwrap();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&cifar).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let mut caps = String::new();
    for (i, p) in files.iter().step_by(1000).enumerate() {
        let name = p.file_name().unwrap().to_str().unwrap().to_string();
        std::fs::copy(p, imgs.join(&name)).unwrap();
        let caption = if i == 0 {
            "A photo <script>alert(\"caption\")</script> of a plane & sky".to_string()
        } else {
            format!("A small photo of a {}", name.split('_').nth(1).unwrap().trim_end_matches(".png"))
        };
        caps.push_str(&serde_json::json!({"id": name, "caption": caption}).to_string());
        caps.push('\n');
    }
    // A file name that is markup too.
    std::fs::copy(&files[1], imgs.join("<b>bold<b>.png")).unwrap();
    let caps_file = dir.join("captions.jsonl");
    std::fs::write(&caps_file, caps).unwrap();
    let idx = dir.join("idx");
    let clip = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/tiny-clip");
    let o = run(&["index", s(&imgs), "--out", s(&idx), "--clip", s(&clip), "--captions", s(&caps_file)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("imported 10 captions"));

    let json = dir.join("r.json");
    let o = run(&["cluster", s(&idx), "--by", "object", "-k", "2", "--space", "both", "--json", s(&json)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut r: ClusterResult = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!((r.conditioning, r.diagnostics.space), (Some(Conditioning::Values), Some(Space::Both)));
    // As if a model had answered with markup.
    r.clusters[0].name = "<script>alert('name')</script>".into();
    r.clusters[0].keywords.insert(0, "<img src=x onerror=alert(1)>".into());
    std::fs::write(&json, serde_json::to_vec(&r).unwrap()).unwrap();

    let html = dir.join("gallery.html");
    let o = run(&["report", s(&json), "--index", s(&idx), "--html", s(&html)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    html
}

#[test]
#[cfg_attr(not(clusterby_text_model), ignore = "needs all-MiniLM-L6-v2 and ONNX Runtime: bash scripts/setup.sh")]
#[cfg_attr(not(clusterby_shared_data), ignore = "needs ../shared/data beside the repository")]
fn gallery_escapes_everything() {
    let dir = tempfile::tempdir().unwrap();
    let html = gallery_with_markup(dir.path());
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(!page.to_lowercase().contains("<script"), "unescaped script tag");
    assert!(!page.contains("<img src=x"), "unescaped keyword");
    assert!(!page.contains("<b>bold"), "unescaped file name");
    assert!(page.contains("&lt;script&gt;alert(&#39;name&#39;)&lt;/script&gt;"));
    assert!(page.contains("&lt;script&gt;alert(&quot;caption&quot;)&lt;/script&gt;"), "the caption is shown, escaped");
    assert!(page.contains("&lt;b&gt;bold&lt;b&gt;.png"));
    assert_eq!(page.matches("<img src=\"data:image/jpeg;base64,").count(), 11, "one embedded thumbnail per image");
    assert!(!page.contains("http://") && !page.contains("https://"), "self-contained");
    assert_eq!(page.matches("<section").count(), 2);
}

#[test]
#[cfg_attr(not(clusterby_text_model), ignore = "needs all-MiniLM-L6-v2 and ONNX Runtime: bash scripts/setup.sh")]
#[cfg_attr(not(clusterby_shared_data), ignore = "needs ../shared/data beside the repository")]
#[cfg_attr(not(clusterby_chromium), ignore = "needs /usr/bin/chromium (Debian package chromium)")]
fn gallery_renders_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let html = gallery_with_markup(dir.path());
    let png = dir.path().join("gallery.png");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/screenshot.sh");
    let o = Command::new("bash").arg(&script).args([s(&html), s(&png), "1000", "900"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let shot = image::open(&png).unwrap().to_rgb8();
    assert_eq!(shot.dimensions(), (1000, 900));
    // Thumbnails make the page far from blank: many distinct colours.
    let distinct: std::collections::HashSet<[u8; 3]> = shot.pixels().map(|p| p.0).collect();
    assert!(distinct.len() > 500, "only {} colours: the page did not render its images", distinct.len());
    if let Some(keep) = std::env::var_os("CLUSTERBY_KEEP_SCREENSHOT") {
        std::fs::copy(&png, keep).unwrap();
    }
}
