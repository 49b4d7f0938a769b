//! Decoding any supported image to upright 8-bit RGB, or saying exactly why not.
//!
//! Grayscale, 16-bit, palette and alpha images are converted (alpha is dropped, as
//! `PIL.Image.convert("RGB")` does in CLIP's reference preprocessing); CMYK JPEGs are converted
//! by the decoder; EXIF orientation is applied; GIFs give their first frame. Size limits stop
//! decompression bombs before any pixel memory is allocated.

use std::io::Cursor;
use std::path::Path;

use image::{ImageDecoder, ImageReader, RgbImage};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest file read, in bytes.
    pub max_file_bytes: u64,
    pub max_width: u32,
    pub max_height: u32,
    /// Largest decoded buffer, in bytes.
    pub max_alloc: u64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        // Larger than any camera image (~150 MP at most), smaller than a bomb.
        Self { max_file_bytes: 256 << 20, max_width: 20_000, max_height: 20_000, max_alloc: 1 << 30 }
    }
}

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum DecodeError {
    #[error("cannot read: {0}")]
    Read(String),
    #[error("empty file")]
    Empty,
    #[error("file is {size} bytes, over the {limit}-byte limit")]
    TooLargeFile { size: u64, limit: u64 },
    #[error("not a supported image ({0})")]
    Format(String),
    #[error("image is {width}×{height}, over the decoding limits (a decompression bomb?)")]
    TooLarge { width: u32, height: u32 },
    #[error("corrupt or truncated: {0}")]
    Corrupt(String),
}

/// Reads and decodes one file. Never panics: a decoder panic on hostile input becomes an error.
pub fn decode_file(path: &Path, limits: &DecodeLimits) -> Result<RgbImage, DecodeError> {
    let meta = std::fs::metadata(path).map_err(|e| DecodeError::Read(e.to_string()))?;
    if meta.len() == 0 {
        return Err(DecodeError::Empty);
    }
    if meta.len() > limits.max_file_bytes {
        return Err(DecodeError::TooLargeFile { size: meta.len(), limit: limits.max_file_bytes });
    }
    let bytes = std::fs::read(path).map_err(|e| DecodeError::Read(e.to_string()))?;
    decode_bytes(&bytes, limits)
}

pub fn decode_bytes(bytes: &[u8], limits: &DecodeLimits) -> Result<RgbImage, DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    match std::panic::catch_unwind(|| decode_inner(bytes, limits)) {
        Ok(r) => r,
        Err(_) => Err(DecodeError::Corrupt("the decoder failed on this file".into())),
    }
}

fn decode_inner(bytes: &[u8], limits: &DecodeLimits) -> Result<RgbImage, DecodeError> {
    let reader =
        ImageReader::new(Cursor::new(bytes)).with_guessed_format().map_err(|e| DecodeError::Read(e.to_string()))?;
    if reader.format().is_none() {
        return Err(DecodeError::Format("unrecognised content".into()));
    }
    let mut decoder = reader.into_decoder().map_err(classify)?;
    let (width, height) = decoder.dimensions();
    let bytes_needed = decoder.total_bytes();
    if width > limits.max_width || height > limits.max_height || bytes_needed > limits.max_alloc {
        return Err(DecodeError::TooLarge { width, height });
    }
    let mut l = image::Limits::default();
    l.max_image_width = Some(limits.max_width);
    l.max_image_height = Some(limits.max_height);
    l.max_alloc = Some(limits.max_alloc);
    decoder.set_limits(l).map_err(classify)?;
    let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = image::DynamicImage::from_decoder(decoder).map_err(classify)?;
    img.apply_orientation(orientation);
    if img.width() == 0 || img.height() == 0 {
        return Err(DecodeError::Corrupt("image has no pixels".into()));
    }
    Ok(img.to_rgb8())
}

fn classify(e: image::ImageError) -> DecodeError {
    use image::ImageError as E;
    match e {
        E::Unsupported(u) => DecodeError::Format(u.to_string()),
        E::Limits(l) => DecodeError::Corrupt(format!("over the limits: {l}")),
        E::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            DecodeError::Corrupt("file ends early".into())
        }
        other => DecodeError::Corrupt(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageBuffer, ImageFormat, Luma, Rgb, Rgba};
    use std::io::Cursor;

    fn encode(img: impl Into<image::DynamicImage>, fmt: ImageFormat) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        img.into().write_to(&mut out, fmt).unwrap();
        out.into_inner()
    }

    fn lim() -> DecodeLimits {
        DecodeLimits::default()
    }

    #[test]
    fn converts_gray_16bit_alpha_and_formats_to_rgb() {
        let gray = ImageBuffer::from_fn(8, 4, |x, _| Luma([x as u8 * 30]));
        let im = decode_bytes(&encode(gray.clone(), ImageFormat::Png), &lim()).unwrap();
        assert_eq!(im.dimensions(), (8, 4));
        assert_eq!(im.get_pixel(2, 0), &Rgb([60, 60, 60]));

        let g16: ImageBuffer<Luma<u16>, Vec<u16>> = ImageBuffer::from_fn(4, 4, |_, _| Luma([65535u16]));
        assert_eq!(
            decode_bytes(&encode(g16, ImageFormat::Png), &lim()).unwrap().get_pixel(0, 0),
            &Rgb([255, 255, 255])
        );

        let rgba = ImageBuffer::from_fn(4, 4, |_, _| Rgba([10u8, 20, 30, 0]));
        assert_eq!(decode_bytes(&encode(rgba, ImageFormat::Png), &lim()).unwrap().get_pixel(1, 1), &Rgb([10, 20, 30]));

        let rgb = ImageBuffer::from_fn(6, 5, |_, _| Rgb([200u8, 0, 0]));
        for fmt in [ImageFormat::Bmp, ImageFormat::Gif, ImageFormat::WebP, ImageFormat::Jpeg] {
            let im = decode_bytes(&encode(rgb.clone(), fmt), &lim()).unwrap_or_else(|e| panic!("{fmt:?}: {e}"));
            assert_eq!(im.dimensions(), (6, 5), "{fmt:?}");
            assert!(im.get_pixel(3, 2)[0] > 180, "{fmt:?}");
        }
    }

    /// Fixtures written by Pillow (tests/data/images/make_fixtures.py): CMYK, EXIF-rotated,
    /// grayscale, 16-bit, alpha, GIF, WebP and BMP files decode to the upright colours Pillow
    /// shows. 16-bit gray is scaled to 8 bits (Pillow clips it to white instead).
    #[test]
    fn special_files_decode_like_pillow() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/images");
        let exp: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
        let files = exp.as_object().unwrap();
        assert!(files.len() >= 10, "{}", files.len());
        for (file, e) in files {
            let im = decode_file(&dir.join(file), &lim()).unwrap_or_else(|err| panic!("{file}: {err}"));
            let size = (e["size"][0].as_u64().unwrap() as u32, e["size"][1].as_u64().unwrap() as u32);
            assert_eq!(im.dimensions(), size, "{file}");
            let samples = if e.get("samples_scaled_rgb").is_some() { &e["samples_scaled_rgb"] } else { &e["samples"] };
            for corner in ["tl", "tr", "bl", "br"] {
                let s = &samples[corner];
                let (x, y) = (s[0].as_u64().unwrap() as u32, s[1].as_u64().unwrap() as u32);
                let want: Vec<i32> = s[2].as_array().unwrap().iter().map(|v| v.as_i64().unwrap() as i32).collect();
                let got = im.get_pixel(x, y).0;
                for c in 0..3 {
                    assert!((got[c] as i32 - want[c]).abs() <= 6, "{file} {corner}: got {got:?}, Pillow {want:?}");
                }
            }
        }
    }

    #[test]
    fn bad_files_are_errors_with_reasons() {
        let rgb = ImageBuffer::from_fn(64, 64, |x, y| Rgb([x as u8, y as u8, 7]));
        let png = encode(rgb.clone(), ImageFormat::Png);
        let jpg = encode(rgb.clone(), ImageFormat::Jpeg);
        assert_eq!(decode_bytes(b"", &lim()), Err(DecodeError::Empty));
        assert!(matches!(decode_bytes(b"hello, I am text", &lim()), Err(DecodeError::Format(_))));
        assert!(
            matches!(decode_bytes(&png[..png.len() / 2], &lim()), Err(DecodeError::Corrupt(_))),
            "{:?}",
            decode_bytes(&png[..png.len() / 2], &lim()).err()
        );
        // A truncated JPEG may decode with grey filler or fail; either way it must return.
        let _ = decode_bytes(&jpg[..jpg.len() / 3], &lim());
        let small = DecodeLimits { max_width: 32, max_height: 32, ..lim() };
        assert_eq!(decode_bytes(&png, &small), Err(DecodeError::TooLarge { width: 64, height: 64 }));
    }
}
