//! Pillow-exact bicubic resizing of 8-bit RGB images, and the CLIP preprocessing built on it.
//!
//! CLIP checkpoints were trained on images resized by Pillow, and Hugging Face's PIL-backed
//! `CLIPImageProcessor` still resizes with `PIL.Image.resize(.., BICUBIC)`. Matching it bit for
//! bit (rather than "some bicubic") keeps our embeddings identical to the Python reference.
//!
//! The resize reimplements Pillow's convolution resampler (`libImaging/Resample.c`):
//! * one separable pass per axis whose size changes (an unchanged axis is not filtered at all);
//! * per output pixel, a window of the a = -0.5 cubic kernel whose support (2 pixels) and width
//!   are stretched by the downscale factor, so shrinking antialiases; weights normalised to sum 1;
//! * weights quantised to 22-bit fixed point (32 - 8 - 2 bits: 8 for the sample, 2 spare for
//!   kernel overshoot), summed in `i32` with a half-unit bias, shifted back and clamped to 0..=255;
//! * the intermediate image between the passes is rounded to 8 bits, so pass order matters:
//!   horizontal first, except that Pillow >= 13 runs the vertical pass first when the height
//!   shrinks by more than twice as many pixels as the width (12.2 - 12.x: only for sources over
//!   100x taller than wide; see [`PassOrder`]).
//!
//! `Image.resize` (Pillow >= 7) with the default `reducing_gap=None` does no integer pre-reduction
//! and returns a plain copy when the size is unchanged, which is what [`resize_bicubic_rgb8`] does.

use std::fmt;

/// Fractional bits of the fixed-point weights, as in Pillow's 8-bit path.
const PRECISION_BITS: u32 = 32 - 8 - 2;

/// Errors for inputs Pillow itself would reject; we return them instead of panicking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResampleError {
    /// A source or target width/height (or a CLIP size/crop) is zero.
    ZeroSize,
    /// `src.len()` is not `width * height * 3`.
    BufferSize { expected: usize, actual: usize },
    /// The requested image is too large to address.
    TooLarge,
}

impl fmt::Display for ResampleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZeroSize => write!(f, "image sizes must be non-zero"),
            Self::BufferSize { expected, actual } => {
                write!(f, "RGB buffer has {actual} bytes, expected {expected}")
            }
            Self::TooLarge => write!(f, "image is too large"),
        }
    }
}

impl std::error::Error for ResampleError {}

/// Which axis is filtered first. The 8-bit rounding between passes makes the order visible
/// (occasionally one level on a few pixels), so pick the Pillow generation you compare against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PassOrder {
    /// Pillow >= 13 (python-pillow/Pillow#9549): vertical first when `h - nh > 2 * (w - nw)`
    /// and the height shrinks; horizontal first otherwise.
    #[default]
    Pillow13,
    /// Pillow 12.2 - 12.x (python-pillow/Pillow#9524, done in Python): vertical first only when
    /// the source is more than 100 times taller than wide and the height shrinks.
    VerticalFirstIfVeryTall,
    /// Pillow <= 12.1: always horizontal first.
    HorizontalFirst,
}

/// Resize interleaved 8-bit RGB (`w * h * 3` bytes, row-major) to `nw` x `nh`, bit-identical to
/// Pillow 13 `Image.resize((nw, nh), Image.BICUBIC)`.
pub fn resize_bicubic_rgb8(src: &[u8], w: u32, h: u32, nw: u32, nh: u32) -> Result<Vec<u8>, ResampleError> {
    resize_bicubic_rgb8_with(src, w, h, nw, nh, PassOrder::default())
}

/// [`resize_bicubic_rgb8`] with an explicit [`PassOrder`].
pub fn resize_bicubic_rgb8_with(
    src: &[u8],
    w: u32,
    h: u32,
    nw: u32,
    nh: u32,
    order: PassOrder,
) -> Result<Vec<u8>, ResampleError> {
    if w == 0 || h == 0 || nw == 0 || nh == 0 {
        return Err(ResampleError::ZeroSize);
    }
    let expected = rgb_len(w, h)?;
    if src.len() != expected {
        return Err(ResampleError::BufferSize { expected, actual: src.len() });
    }
    // Output and the larger possible intermediate (one axis resized) must be addressable.
    rgb_len(nw, nh)?;
    rgb_len(w.max(nw), h.max(nh))?;
    let (w, h, nw, nh) = (w as usize, h as usize, nw as usize, nh as usize);
    let vertical_first = match order {
        PassOrder::HorizontalFirst => false,
        PassOrder::VerticalFirstIfVeryTall => h as u64 > w as u64 * 100 && nh < h,
        PassOrder::Pillow13 => {
            let dh = h as i64 - nh as i64;
            dh > 0 && dh > (w as i64 - nw as i64) * 2
        }
    };
    let vk = Kernel::new(h, nh);
    let hk = Kernel::new(w, nw);
    Ok(match (nw != w, nh != h, vertical_first) {
        (false, false, _) => src.to_vec(),
        (true, false, _) => horizontal(src, w, 0..h, &hk),
        (false, true, _) => vertical(src, w, &vk, 0),
        (true, true, true) => {
            let tmp = vertical(src, w, &vk, 0);
            horizontal(&tmp, w, 0..nh, &hk)
        }
        (true, true, false) => {
            // Only the source rows the vertical kernels touch need a horizontal pass.
            let first = vk.windows.first().map_or(0, |win| win.start);
            let last = vk.windows.last().map_or(h, |win| win.start + win.weights.len());
            let tmp = horizontal(src, w, first..last, &hk);
            vertical(&tmp, nw, &vk, first)
        }
    })
}

fn rgb_len(w: u32, h: u32) -> Result<usize, ResampleError> {
    (w as usize)
        .checked_mul(h as usize)
        .and_then(|n| n.checked_mul(3))
        .filter(|&n| n <= isize::MAX as usize)
        .ok_or(ResampleError::TooLarge)
}

/// Cubic convolution kernel with a = -0.5 (Keys), in Pillow's evaluation order so the
/// floating-point weights round identically.
fn bicubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// Input span and fixed-point weights for one output sample.
struct Window {
    start: usize,
    weights: Vec<i32>,
}

/// Per-output-sample windows for resampling one axis from `in_size` to `out_size`.
struct Kernel {
    windows: Vec<Window>,
}

impl Kernel {
    fn new(in_size: usize, out_size: usize) -> Self {
        const SUPPORT: f64 = 2.0;
        // Pillow takes the span from float box coordinates: f32 subtraction, then f64 division.
        let scale = (in_size as f32) as f64 / out_size as f64;
        // Upscaling keeps the kernel at its natural width; downscaling widens it (antialiasing).
        let filterscale = scale.max(1.0);
        let support = SUPPORT * filterscale;
        let inv_filterscale = 1.0 / filterscale;
        let one = (1i64 << PRECISION_BITS) as f64;
        let windows = (0..out_size)
            .map(|xx| {
                let center = (xx as f64 + 0.5) * scale;
                // `as` truncates toward zero like C's (int) cast; negatives clamp to 0 anyway.
                let lo = ((center - support + 0.5) as i64).max(0) as usize;
                let hi = ((center + support + 0.5) as i64).clamp(0, in_size as i64) as usize;
                let raw: Vec<f64> =
                    (lo..hi.max(lo)).map(|x| bicubic((x as f64 - center + 0.5) * inv_filterscale)).collect();
                let sum = raw.iter().fold(0.0f64, |s, &k| s + k);
                let weights = raw
                    .iter()
                    .map(|&k| {
                        let k = if sum != 0.0 { k / sum } else { k };
                        // Round half away from zero, then truncate, as Pillow quantises.
                        if k < 0.0 {
                            (-0.5 + k * one) as i32
                        } else {
                            (0.5 + k * one) as i32
                        }
                    })
                    .collect();
                Window { start: lo, weights }
            })
            .collect();
        Kernel { windows }
    }
}

/// Fixed-point accumulator start: half a unit, so the final shift rounds to nearest.
const BIAS: i32 = 1 << (PRECISION_BITS - 1);

/// Drop the fraction and clamp to a byte (Pillow's `clip8`).
#[inline]
fn clip8(acc: i32) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

/// Horizontal pass over source rows `rows` (width `w`), producing `rows.len()` rows of width
/// `k.windows.len()`.
fn horizontal(src: &[u8], w: usize, rows: std::ops::Range<usize>, k: &Kernel) -> Vec<u8> {
    let nw = k.windows.len();
    let mut out = Vec::with_capacity(rows.len() * nw * 3);
    for y in rows {
        let line = &src[y * w * 3..(y + 1) * w * 3];
        for win in &k.windows {
            let px = &line[win.start * 3..(win.start + win.weights.len()) * 3];
            let mut acc = [BIAS; 3];
            for (p, &wt) in px.chunks_exact(3).zip(&win.weights) {
                for c in 0..3 {
                    acc[c] = acc[c].wrapping_add((p[c] as i32).wrapping_mul(wt));
                }
            }
            out.extend(acc.map(clip8));
        }
    }
    out
}

/// Vertical pass over an image of width `w`; `row_offset` is the source row that `src` starts at
/// (the horizontal-first path skips rows no vertical window uses).
fn vertical(src: &[u8], w: usize, k: &Kernel, row_offset: usize) -> Vec<u8> {
    let stride = w * 3;
    let mut out = Vec::with_capacity(k.windows.len() * stride);
    let mut acc = vec![0i32; stride];
    for win in &k.windows {
        acc.fill(BIAS);
        for (i, &wt) in win.weights.iter().enumerate() {
            let y = win.start + i - row_offset;
            let line = &src[y * stride..(y + 1) * stride];
            for (a, &p) in acc.iter_mut().zip(line) {
                *a = a.wrapping_add((p as i32).wrapping_mul(wt));
            }
        }
        out.extend(acc.iter().map(|&a| clip8(a)));
    }
    out
}

/// OpenAI CLIP normalisation constants. Cast from f64 like NumPy's `np.array(mean, float32)`,
/// which can differ in the last bit from writing the decimal as an f32 literal.
pub const CLIP_MEAN: [f32; 3] = [0.48145466_f64 as f32, 0.4578275_f64 as f32, 0.40821073_f64 as f32];
/// See [`CLIP_MEAN`].
pub const CLIP_STD: [f32; 3] = [0.26862954_f64 as f32, 0.26130258_f64 as f32, 0.27577711_f64 as f32];

/// Target `(width, height)` for a shortest-edge resize, as transformers'
/// `get_resize_output_image_size(default_to_square=False)`: the short side becomes `size`, the
/// long side `int(size * long / short)` (truncated; ties count as "width is short").
pub fn shortest_edge_size(w: u32, h: u32, size: u32) -> Result<(u32, u32), ResampleError> {
    if w == 0 || h == 0 || size == 0 {
        return Err(ResampleError::ZeroSize);
    }
    let (short, long) = if w <= h { (w, h) } else { (h, w) };
    // Exact integer floor; equals Python's float division + int() for any realistic size.
    let new_long = u32::try_from(size as u64 * long as u64 / short as u64).map_err(|_| ResampleError::TooLarge)?;
    Ok(if w <= h { (size, new_long) } else { (new_long, size) })
}

/// CLIP preprocessing of interleaved RGB8, matching Hugging Face's PIL-backed CLIP image processor
/// (`CLIPImageProcessorPil` in transformers 5, the slow `CLIPImageProcessor` in 4.x):
/// shortest-edge resize to `size` with Pillow bicubic on uint8, center crop `crop` x `crop`
/// (offset `(dim - crop) // 2`, zero padding if the image is smaller, as HF does), then
/// `f32(f64(v) / 255)` and `(x - mean) / std` in f32. Returns CHW `[3, crop, crop]`.
pub fn clip_preprocess(
    src: &[u8],
    w: u32,
    h: u32,
    size: u32,
    crop: u32,
    mean: [f32; 3],
    std: [f32; 3],
) -> Result<Vec<f32>, ResampleError> {
    if crop == 0 {
        return Err(ResampleError::ZeroSize);
    }
    let (nw, nh) = shortest_edge_size(w, h, size)?;
    let resized = resize_bicubic_rgb8(src, w, h, nw, nh)?;
    let crop_len = rgb_len(crop, crop)?;
    let (nw, nh, crop) = (nw as i64, nh as i64, crop as usize);
    // Python floor division; negative when padding, which maps padded positions outside the image.
    let top = (nh - crop as i64).div_euclid(2);
    let left = (nw - crop as i64).div_euclid(2);
    // Rescale and normalise each byte value once; HF's arithmetic is elementwise, so a
    // table gives identical f32 results.
    let lut: Vec<[f32; 256]> =
        (0..3).map(|c| std::array::from_fn(|v| ((v as f64 * (1.0 / 255.0)) as f32 - mean[c]) / std[c])).collect();
    let mut out = vec![0f32; crop_len];
    for (c, plane) in out.chunks_exact_mut(crop * crop).enumerate() {
        for (y, row) in plane.chunks_exact_mut(crop).enumerate() {
            let sy = top + y as i64;
            for (x, o) in row.iter_mut().enumerate() {
                let sx = left + x as i64;
                let v = if (0..nh).contains(&sy) && (0..nw).contains(&sx) {
                    resized[((sy * nw + sx) * 3) as usize + c]
                } else {
                    0 // HF pads with zeros before rescaling
                };
                *o = lut[c][v as usize];
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_odd_inputs_without_panicking() {
        assert_eq!(resize_bicubic_rgb8(&[], 0, 1, 1, 1), Err(ResampleError::ZeroSize));
        assert_eq!(resize_bicubic_rgb8(&[0; 3], 1, 1, 0, 5), Err(ResampleError::ZeroSize));
        assert_eq!(resize_bicubic_rgb8(&[0; 5], 1, 2, 3, 3), Err(ResampleError::BufferSize { expected: 6, actual: 5 }));
        assert_eq!(clip_preprocess(&[0; 3], 1, 1, 0, 224, CLIP_MEAN, CLIP_STD), Err(ResampleError::ZeroSize));
    }

    #[test]
    fn same_size_is_a_copy_and_constant_stays_constant() {
        let src: Vec<u8> = (0..4 * 3 * 3).map(|i| (i * 7) as u8).collect();
        assert_eq!(resize_bicubic_rgb8(&src, 4, 3, 4, 3).unwrap(), src);
        let flat = vec![200u8; 7 * 5 * 3];
        for (nw, nh) in [(1, 1), (3, 11), (20, 2), (7, 9)] {
            let out = resize_bicubic_rgb8(&flat, 7, 5, nw, nh).unwrap();
            assert_eq!(out.len(), (nw * nh * 3) as usize);
            assert!(out.iter().all(|&v| v == 200));
        }
    }

    #[test]
    fn shortest_edge_truncates_like_hf() {
        assert_eq!(shortest_edge_size(640, 480, 224).unwrap(), (298, 224)); // 298.67 -> 298
        assert_eq!(shortest_edge_size(256, 900, 224).unwrap(), (224, 787)); // 787.5 -> 787
        assert_eq!(shortest_edge_size(50, 50, 224).unwrap(), (224, 224));
    }

    #[test]
    fn center_crop_pads_when_smaller() {
        // 1x1 white image resized to 4x4 and "cropped" to 6x6: 1-pixel zero border.
        let out = clip_preprocess(&[255; 3], 1, 1, 4, 6, [0.0; 3], [1.0; 3]).unwrap();
        assert_eq!(out.len(), 3 * 36);
        assert_eq!(out[0], 0.0);
        assert_eq!(out[7], 1.0);
    }
}
