#!/usr/bin/env python3
"""Generate CLIP-preprocessing fixtures: test PNGs plus Pillow/NumPy reference outputs.

The reference is computed with Pillow + NumPy only, following the exact operations of
Hugging Face's PIL-backed CLIP image processor (`CLIPImageProcessorPil` in transformers 5,
the slow `CLIPImageProcessor` in transformers 4) for uint8 RGB input:

  1. resize so the shortest edge is 224, long edge = int(224 * long / short), using
     `PIL.Image.resize((w, h), BICUBIC)` on the uint8 image (reducing_gap=None);
  2. center crop 224x224 with top = (h - 224) // 2, left = (w - 224) // 2;
  3. rescale: uint8 -> float64 * (1/255) -> float32;
  4. normalize in float32: (x - mean) / std, with mean/std cast to float32; output CHW.

Full arrays are large (a float32 3x224x224 tensor is 588 KiB), so the committed
reference.json holds SHA-256 digests of the exact bytes (resized uint8 HWC, and
float32 little-endian CHW pixel values) plus sums and sampled values for
tolerance checks. `--dump DIR` also writes every array as .npy for debugging:
<stem>.rgb.npy (decoded source, uint8 HxWx3), <stem>.resized.npy (uint8 HxWx3) and
<stem>.pixel_values.npy (float32 3x224x224).

Usage: python make_reference.py [--out DIR] [--dump DIR]
Requires numpy and Pillow. The committed reference was produced with Pillow 13.0.0 and
NumPy 2.4.6. Pillow 13 runs the vertical pass first when the height shrinks by more than
twice as many pixels as the width (Pillow 12.2-12.x: only for sources >100x taller than
wide; <= 12.1: never); the 8-bit intermediate then differs, so e.g. portrait_256x900
resizes differently under Pillow 12 (14313 bytes, up to 15 levels).
"""

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np
import PIL
from PIL import Image

SIZE = 224  # shortest_edge
CROP = 224  # crop_size height == width
MEAN = [0.48145466, 0.4578275, 0.40821073]
STD = [0.26862954, 0.26130258, 0.27577711]

# (stem, width, height, seed). Chosen to cover: upscale in both axes, a tall downscale
# that Pillow 13 resizes vertical-pass-first, the identity size, a tiny source, a plain
# downscale, and odd crop margins (floor division of the offset matters).
CASES = [
    ("landscape_301x200", 301, 200, 1),  # -> 337x224, both axes upscaled, crop margin 113
    ("portrait_256x900", 256, 900, 2),  # -> 224x787, vertical pass first in Pillow 13
    ("square_224x224", 224, 224, 3),  # -> no resize at all (Pillow returns a copy)
    ("tiny_97x61", 97, 61, 4),  # -> 356x224, ~3.7x upscale
    ("photo_640x480", 640, 480, 5),  # -> 298x224, horizontal pass first
]


def make_image(w: int, h: int, seed: int) -> np.ndarray:
    """Smooth colour fields + hard-edged shapes (exercise overshoot/clipping) + a noisy patch."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    u, v = x / max(w - 1, 1), y / max(h - 1, 1)
    img = np.stack(
        [
            255 * u,
            255 * v,
            127.5 + 127.5 * np.sin(2 * np.pi * (3 * u + 2 * v)),
        ],
        axis=-1,
    )
    for _ in range(6):  # saturated rectangles: 0/255 edges make bicubic ring and clip
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        x1, y1 = x0 + int(rng.integers(2, max(3, w // 3))), y0 + int(rng.integers(2, max(3, h // 3)))
        img[y0:y1, x0:x1] = rng.choice([0.0, 255.0], size=3)
    # 1-pixel checker stripe: worst case for downscaling
    sy = int(rng.integers(0, max(1, h - 8)))
    img[sy : sy + 8, :, :] = (((x[sy : sy + 8] + y[sy : sy + 8]) % 2) * 255)[..., None]
    # noisy patch (random low bits; kept small because noise makes the PNG large)
    ph, pw = max(2, h // 4), max(2, w // 4)
    py, px = int(rng.integers(0, h - ph + 1)), int(rng.integers(0, w - pw + 1))
    img[py : py + ph, px : px + pw] += rng.normal(0.0, 12.0, size=(ph, pw, 3))
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def resize_output_size(w: int, h: int, size: int) -> tuple[int, int]:
    """transformers.image_transforms.get_resize_output_image_size(default_to_square=False)."""
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    return (new_short, new_long) if w <= h else (new_long, new_short)  # (width, height)


def sha256(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def reference(rgb: np.ndarray):
    h, w, _ = rgb.shape
    nw, nh = resize_output_size(w, h, SIZE)
    resized = np.asarray(Image.fromarray(rgb, "RGB").resize((nw, nh), Image.Resampling.BICUBIC))
    top, left = (nh - CROP) // 2, (nw - CROP) // 2
    assert top >= 0 and left >= 0
    crop = resized[top : top + CROP, left : left + CROP, :]
    x = (crop.astype(np.float64) * (1 / 255)).astype(np.float32)
    mean, std = np.array(MEAN, dtype=np.float32), np.array(STD, dtype=np.float32)
    pixel_values = np.ascontiguousarray(((x - mean) / std).transpose(2, 0, 1)).astype("<f4")
    return (nw, nh), (top, left), resized, pixel_values


def main() -> None:
    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=here, help="where PNGs and reference.json go")
    ap.add_argument("--dump", type=Path, help="also write full .npy arrays here (not committed)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.dump:
        args.dump.mkdir(parents=True, exist_ok=True)

    cases = []
    for stem, w, h, seed in CASES:
        png = args.out / f"{stem}.png"
        Image.fromarray(make_image(w, h, seed), "RGB").save(png, optimize=True)
        with Image.open(png) as im:  # reference starts from the decoded file, like a user would
            rgb = np.asarray(im.convert("RGB"))
        (nw, nh), (top, left), resized, pv = reference(rgb)
        rng = np.random.default_rng(100 + seed)
        samples = [
            [int(c), int(yy), int(xx), float(pv[c, yy, xx])]
            for c, yy, xx in zip(rng.integers(0, 3, 32), rng.integers(0, CROP, 32), rng.integers(0, CROP, 32))
        ]
        cases.append(
            {
                "image": png.name,
                "original_size": [w, h],
                "resized_size": [nw, nh],
                "crop_offset_top_left": [top, left],
                "rgb_sha256": sha256(rgb),
                "resized_uint8_hwc_sha256": sha256(resized),
                "resized_uint8_sum": int(resized.astype(np.int64).sum()),
                "pixel_values_shape": list(pv.shape),
                "pixel_values_f32le_sha256": sha256(pv),
                "pixel_values_sum": float(pv.astype(np.float64).sum()),
                "pixel_values_sum_sq": float((pv.astype(np.float64) ** 2).sum()),
                "pixel_values_samples_c_y_x_value": samples,
            }
        )
        if args.dump:
            np.save(args.dump / f"{stem}.rgb.npy", rgb)
            np.save(args.dump / f"{stem}.resized.npy", resized)
            np.save(args.dump / f"{stem}.pixel_values.npy", pv)

    meta = {
        "generator": "make_reference.py",
        "pillow_version": PIL.__version__,
        "numpy_version": np.__version__,
        "resample": "PIL.Image.Resampling.BICUBIC, reducing_gap=None",
        "shortest_edge": SIZE,
        "crop_size": CROP,
        "rescale_factor": "1/255 (float64), then cast to float32",
        "image_mean": MEAN,
        "image_std": STD,
        "layout": "resized: uint8 HWC row-major; pixel_values: float32 little-endian CHW",
        "cases": cases,
    }
    (args.out / "reference.json").write_text(json.dumps(meta, indent=1) + "\n")


if __name__ == "__main__":
    main()
