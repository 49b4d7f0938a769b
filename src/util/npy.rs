//! Minimal `.npy` (NumPy format 1.0) reading and writing for 2-D float32 matrices.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use ndarray::Array2;

#[derive(Debug, thiserror::Error)]
pub enum NpyError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: not a float32 2-D .npy file ({reason})")]
    Format { path: PathBuf, reason: String },
}

pub fn write_f32(path: &Path, a: &Array2<f32>) -> Result<(), NpyError> {
    let io = |e| NpyError::Io { path: path.to_path_buf(), source: e };
    let (r, c) = a.dim();
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({r}, {c}), }}");
    // Magic (6) + version (2) + header length (2) + header + '\n' must be a multiple of 64.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    crate::util::fs::write_atomic_with(path, |file| {
        let mut f = std::io::BufWriter::new(file);
        f.write_all(b"\x93NUMPY\x01\x00")?;
        f.write_all(&(header.len() as u16).to_le_bytes())?;
        f.write_all(header.as_bytes())?;
        for x in a.iter() {
            f.write_all(&x.to_le_bytes())?;
        }
        f.flush()
    })
    .map_err(io)
}

pub fn read_f32(path: &Path) -> Result<Array2<f32>, NpyError> {
    let io = |e| NpyError::Io { path: path.to_path_buf(), source: e };
    let bad = |r: &str| NpyError::Format { path: path.to_path_buf(), reason: r.to_string() };
    let mut bytes = Vec::new();
    std::fs::File::open(path).map_err(io)?.read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("missing NUMPY magic"));
    }
    let (hlen, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
        _ => return Err(bad("unsupported version")),
    };
    let header = std::str::from_utf8(bytes.get(start..start + hlen).ok_or_else(|| bad("short header"))?)
        .map_err(|_| bad("header is not text"))?;
    if !header.contains("'<f4'") || header.contains("'fortran_order': True") {
        return Err(bad("dtype must be <f4 in C order"));
    }
    let shape_txt = header.split("'shape':").nth(1).and_then(|s| s.split(')').next()).ok_or_else(|| bad("no shape"))?;
    let dims: Vec<usize> = shape_txt
        .trim_start_matches([' ', '('])
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse::<usize>())
        .collect::<Result<_, _>>()
        .map_err(|_| bad("bad shape"))?;
    let (r, c) = match dims[..] {
        [r, c] => (r, c),
        [r] => (r, 1),
        _ => return Err(bad("not 2-D")),
    };
    let data = &bytes[start + hlen..];
    if data.len() != r * c * 4 {
        return Err(bad("data length does not match shape"));
    }
    let v: Vec<f32> = data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    Array2::from_shape_vec((r, c), v).map_err(|e| bad(&e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_alignment() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.npy");
        let a = Array2::from_shape_fn((3, 5), |(i, j)| (i * 5 + j) as f32 * 0.5);
        write_f32(&p, &a).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + hlen) % 64, 0);
        assert_eq!(read_f32(&p).unwrap(), a);
    }

    #[test]
    fn rejects_garbage_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.npy");
        std::fs::write(&p, b"hello").unwrap();
        let e = read_f32(&p).unwrap_err().to_string();
        assert!(e.contains("bad.npy"), "{e}");
    }
}
