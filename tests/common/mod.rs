//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

use clusterby::models::{self, ModelName};

/// `../shared` beside the repository, where CI and developers keep reference data.
pub fn shared_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("shared")
}

/// What a test needs that a machine may lack. Tests carry
/// `#[cfg_attr(not(CFG), ignore = REASON)]` with the cfgs `build.rs` sets: they are reported as
/// ignored where it is missing, and run where it is present or `CLUSTERBY_REQUIRE_MODELS=1`
/// requires it. These helpers then fail loudly when it is missing after all.
pub const NEEDS_MODEL: &str = "needs all-MiniLM-L6-v2 and ONNX Runtime: bash scripts/setup.sh";
pub const NEEDS_SHARED: &str = "needs ../shared/data beside the repository";
pub const NEEDS_LLM_SERVER: &str = "needs .venv with xllamacpp: bash scripts/setup.sh";
pub const NEEDS_CHROMIUM: &str = "needs /usr/bin/chromium (Debian package chromium)";

/// Panics with the reason when a catalogue model is missing.
pub fn require_model(m: ModelName) {
    if let Err(e) = models::installed_dir(m) {
        panic!("{NEEDS_MODEL}: {e}");
    }
}

/// `p`, or a panic naming it when it is missing.
pub fn require_file(p: std::path::PathBuf) -> std::path::PathBuf {
    assert!(p.exists(), "{NEEDS_SHARED}: {} not found", p.display());
    p
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_clusterby"))
}

/// The local llama.cpp server (scripts/llm_server.py, SmolLM2-135M, one thread) on a free
/// loopback port; stopped by its PID (SIGTERM, then SIGKILL) when dropped.
pub struct LlmServer {
    child: std::process::Child,
    pub base_url: String,
    pub model: String,
    _dir: tempfile::TempDir,
}

impl LlmServer {
    /// Starts the server; panics when the venv has no xllamacpp.
    pub fn start() -> LlmServer {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let python = root.join(".venv/bin/python");
        let has = python.is_file()
            && std::process::Command::new(&python).args(["-c", "import xllamacpp"]).status().is_ok_and(|s| s.success());
        assert!(has, "{NEEDS_LLM_SERVER}: xllamacpp missing from .venv");
        let dir = tempfile::tempdir().unwrap();
        let ready = dir.path().join("ready.json");
        let mut child = std::process::Command::new(&python)
            .arg(root.join("scripts/llm_server.py"))
            .args(["--port", "0", "--threads", "1", "--ready-file"])
            .arg(&ready)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start scripts/llm_server.py");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
        while !ready.is_file() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("llm_server.py exited early: {status}");
            }
            assert!(std::time::Instant::now() < deadline, "LLM server not ready after 180 s");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let info: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&ready).unwrap()).unwrap();
        assert_eq!(info["pid"].as_u64(), Some(child.id() as u64), "the ready file names our child");
        LlmServer {
            base_url: info["base_url"].as_str().unwrap().to_string(),
            model: info["model"].as_str().unwrap().to_string(),
            child,
            _dir: dir,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for LlmServer {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The index at `got` holds exactly the rows of the index at `want` (ids once each, embeddings
/// equal), and its `parts/` folder exactly the manifest's parts; `what` names the case.
pub fn assert_same_index(got: &std::path::Path, want: &std::path::Path, what: &str) {
    use clusterby::store::caption_index::Index;
    use std::collections::{HashMap, HashSet};
    let (g, w) = (Index::open(got).unwrap().load().unwrap(), Index::open(want).unwrap().load().unwrap());
    assert_eq!(g.ids.iter().collect::<HashSet<_>>(), w.ids.iter().collect::<HashSet<_>>(), "{what}: rows");
    assert_eq!(g.ids.len(), w.ids.len(), "{what}: duplicated rows");
    let row: HashMap<&str, usize> = w.ids.iter().enumerate().map(|(i, id)| (id.as_str(), i)).collect();
    for (i, id) in g.ids.iter().enumerate() {
        assert_eq!(g.embeddings.row(i), w.embeddings.row(row[id.as_str()]), "{what}: embedding of {id}");
    }
    let listed = Index::open(got).unwrap().manifest().parts.len();
    let on_disk = std::fs::read_dir(got.join("parts"))
        .unwrap()
        .filter(|e| !e.as_ref().unwrap().file_name().to_string_lossy().starts_with('.'))
        .count();
    assert_eq!(on_disk, listed, "{what}: parts/ holds parts the manifest does not list");
}
