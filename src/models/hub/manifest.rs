//! The model directory's manifest of sha256 hashes, and hashing.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::{io_err, HubError, BUF_SIZE};

pub(super) type Manifest = serde_json::Map<String, serde_json::Value>;

pub(super) fn read_manifest(path: &Path) -> Result<Manifest, HubError> {
    let text = fs::read_to_string(path).map_err(io_err(path))?;
    match serde_json::from_str(&text) {
        Ok(serde_json::Value::Object(m)) => Ok(m),
        Ok(_) => Err(HubError::Manifest { path: path.to_path_buf(), message: "not a JSON object".into() }),
        Err(e) => Err(HubError::Manifest { path: path.to_path_buf(), message: e.to_string() }),
    }
}

pub(super) fn manifest_files(m: &Manifest) -> BTreeMap<String, String> {
    match m.get("files") {
        Some(serde_json::Value::Object(files)) => files
            .iter()
            .filter_map(|(k, v)| v.as_str().filter(|s| is_sha256_hex(s)).map(|s| (k.clone(), s.to_ascii_lowercase())))
            .collect(),
        _ => BTreeMap::new(),
    }
}

// Temp file + rename so a crash never leaves a half-written manifest.
pub(super) fn write_manifest(path: &Path, m: &Manifest) -> Result<(), HubError> {
    let mut text = serde_json::to_vec_pretty(m)
        .map_err(|e| HubError::Manifest { path: path.to_path_buf(), message: e.to_string() })?;
    text.push(b'\n');
    crate::util::fs::write_atomic(path, &text).map_err(io_err(path))
}

pub(super) fn hash_reader(r: &mut impl Read, hasher: &mut Sha256) -> io::Result<()> {
    let mut buf = vec![0u8; BUF_SIZE];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

pub(super) fn hash_file(path: &Path) -> Result<String, HubError> {
    let mut f = File::open(path).map_err(io_err(path))?;
    let mut h = Sha256::new();
    hash_reader(&mut f, &mut h).map_err(io_err(path))?;
    Ok(hex(&h.finalize()))
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(super) fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}
