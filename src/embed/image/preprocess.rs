//! CLIP preprocessing as configured by an export's `preprocessor_config.json`: shortest-edge
//! resize (Pillow-exact bicubic), centre crop, rescale, normalise.

use std::path::Path;

use serde_json::Value;

use super::resample::{self, ResampleError, CLIP_MEAN, CLIP_STD};

#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum PreprocessError {
    #[error("{path}: {reason}")]
    Config { path: String, reason: String },
    #[error("image {w}×{h}: {source}")]
    Resample { w: u32, h: u32, source: ResampleError },
}

/// The settings clusterby honours; others in the file (e.g. `do_convert_rgb`) are implied.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipPreprocessor {
    /// Shortest edge after resizing.
    pub size: u32,
    /// Side of the square centre crop, and of the model's input.
    pub crop: u32,
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

impl Default for ClipPreprocessor {
    /// OpenAI CLIP ViT-B/32's settings.
    fn default() -> Self {
        Self { size: 224, crop: 224, mean: CLIP_MEAN, std: CLIP_STD }
    }
}

impl ClipPreprocessor {
    pub fn from_file(path: &Path) -> Result<Self, PreprocessError> {
        let err = |reason: String| PreprocessError::Config { path: path.display().to_string(), reason };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let v: Value = serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
        Self::from_json(&v).map_err(err)
    }

    /// Reads the Hugging Face image-processor fields; rejects settings it would silently get
    /// wrong (another resampling filter, no resize or crop).
    pub fn from_json(v: &Value) -> Result<Self, String> {
        let mut p = Self::default();
        let side = |x: &Value, key: &str| -> Option<u32> {
            x.as_u64()
                .or_else(|| x.get(key).and_then(Value::as_u64))
                .or_else(|| x.get("height").and_then(Value::as_u64))
                .map(|n| n as u32)
        };
        if let Some(s) = v.get("size") {
            p.size = side(s, "shortest_edge").ok_or("size: expected a number or {\"shortest_edge\": n}")?;
        }
        if let Some(c) = v.get("crop_size") {
            p.crop = side(c, "height").ok_or("crop_size: expected a number or {\"height\", \"width\"}")?;
            if let (Some(h), Some(w)) = (c.get("height"), c.get("width")) {
                if h != w {
                    return Err("crop_size: only square crops are supported".into());
                }
            }
        }
        let triple = |key: &str| -> Result<Option<[f32; 3]>, String> {
            match v.get(key) {
                None => Ok(None),
                Some(Value::Array(a)) if a.len() == 3 && a.iter().all(Value::is_number) => {
                    Ok(Some(std::array::from_fn(|i| a[i].as_f64().unwrap_or(0.0) as f32)))
                }
                Some(_) => Err(format!("{key}: expected three numbers")),
            }
        };
        if let Some(m) = triple("image_mean")? {
            p.mean = m;
        }
        if let Some(s) = triple("image_std")? {
            if s.iter().any(|&x| x <= 0.0) {
                return Err("image_std: must be positive".into());
            }
            p.std = s;
        }
        for (key, want) in [("do_resize", true), ("do_center_crop", true)] {
            if v.get(key).and_then(Value::as_bool).is_some_and(|b| b != want) {
                return Err(format!("{key}: false is not supported"));
            }
        }
        if v.get("do_normalize").and_then(Value::as_bool) == Some(false) {
            p.mean = [0.0; 3];
            p.std = [1.0; 3];
        }
        if let Some(r) = v.get("resample").and_then(Value::as_u64) {
            if r != 3 {
                return Err(format!("resample: {r} is not supported (only 3, bicubic)"));
            }
        }
        if let Some(f) = v.get("rescale_factor").and_then(Value::as_f64) {
            if (f - 1.0 / 255.0).abs() > 1e-9 {
                return Err(format!("rescale_factor: {f} is not supported (only 1/255)"));
            }
        }
        if p.size == 0 || p.crop == 0 {
            return Err("size and crop_size must be positive".into());
        }
        Ok(p)
    }

    /// CHW float tensor `[3, crop, crop]` of one RGB image.
    pub fn apply(&self, im: &image::RgbImage) -> Result<Vec<f32>, PreprocessError> {
        let (w, h) = im.dimensions();
        resample::clip_preprocess(im.as_raw(), w, h, self.size, self.crop, self.mean, self.std)
            .map_err(|source| PreprocessError::Resample { w, h, source })
    }

    /// Floats per preprocessed image.
    pub fn tensor_len(&self) -> usize {
        3 * (self.crop as usize).pow(2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use sha2::{Digest, Sha256};

    fn hex(bytes: &[u8]) -> String {
        Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The committed reference (Pillow 13 + numpy, tests/data/clip-preprocess/make_reference.py)
    /// must be reproduced bit for bit, through the real PNG decoder.
    #[test]
    fn matches_the_pillow_reference_exactly() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/clip-preprocess");
        let refj: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap()).unwrap();
        let cases = refj["cases"].as_array().expect("reference cases");
        assert!(cases.len() >= 5);
        let p = ClipPreprocessor::from_file(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tiny-clip/preprocessor_config.json"),
        )
        .unwrap();
        assert_eq!(p, ClipPreprocessor::default());
        for c in cases {
            let file = c["image"].as_str().unwrap();
            let im = image::open(dir.join(file)).unwrap().to_rgb8();
            let t = p.apply(&im).unwrap();
            let bytes: Vec<u8> = t.iter().flat_map(|x| x.to_le_bytes()).collect();
            let want = c["pixel_values_f32le_sha256"].as_str().unwrap();
            assert_eq!(hex(&bytes), want, "{file}");
        }
    }

    #[test]
    fn config_variants() {
        let p = ClipPreprocessor::from_json(&json!({"size": 256, "crop_size": {"height": 240, "width": 240}})).unwrap();
        assert_eq!((p.size, p.crop), (256, 240));
        assert!(ClipPreprocessor::from_json(&json!({"resample": 2})).unwrap_err().contains("resample"));
        assert!(ClipPreprocessor::from_json(&json!({"image_std": [0, 1, 1]})).is_err());
        assert!(ClipPreprocessor::from_json(&json!({"crop_size": {"height": 10, "width": 20}})).is_err());
    }
}
