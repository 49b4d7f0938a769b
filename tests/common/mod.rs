//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

use clusterby::models::{self, ModelName};

/// `../shared` beside the repository, where CI and developers keep reference data.
pub fn shared_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("shared")
}

/// True when a test that needs real models or reference data must fail rather than skip
/// (set by scripts/test.sh, which installs them first).
pub fn required() -> bool {
    std::env::var("CLUSTERBY_REQUIRE_MODELS").is_ok_and(|v| v == "1")
}

/// Skips (returns false) with a message when a catalogue model is missing, unless required.
pub fn have_model(m: ModelName) -> bool {
    match models::installed_dir(m) {
        Ok(_) => true,
        Err(e) if required() => panic!("model required by CLUSTERBY_REQUIRE_MODELS=1 but missing: {e}"),
        Err(e) => {
            eprintln!("skipping: {e}");
            false
        }
    }
}

pub fn have_file(p: &std::path::Path) -> bool {
    if p.exists() {
        return true;
    }
    if required() {
        panic!("required test data missing: {}", p.display());
    }
    eprintln!("skipping: {} not found", p.display());
    false
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
    /// `None` (skip) when the venv has no xllamacpp, unless CLUSTERBY_REQUIRE_MODELS=1.
    pub fn start() -> Option<LlmServer> {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let python = root.join(".venv/bin/python");
        let has = python.is_file()
            && std::process::Command::new(&python).args(["-c", "import xllamacpp"]).status().is_ok_and(|s| s.success());
        if !has {
            if required() {
                panic!("xllamacpp missing from .venv: run scripts/setup.sh");
            }
            eprintln!("skipping: no xllamacpp in .venv");
            return None;
        }
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
        Some(LlmServer {
            base_url: info["base_url"].as_str().unwrap().to_string(),
            model: info["model"].as_str().unwrap().to_string(),
            child,
            _dir: dir,
        })
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
