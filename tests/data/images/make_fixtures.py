#!/usr/bin/env python3
"""Small image fixtures that an image decoder must handle specially, + expected.json.

Usage: python make_fixtures.py [--out DIR]   (default: this script's directory)
Requires Pillow (written with Pillow 13.0.0 / libjpeg-turbo 3.2 / libwebp 1.6).

Colour fixtures use one upright 32x24 quadrant pattern (TL red, TR green, BL blue,
BR white) so orientation is checkable. Quadrant borders fall on 8x8 JPEG block
borders only horizontally (x=16); the quadrant centre pixels sampled below lie in
flat 8x8 blocks, and JPEGs use 4:4:4 sampling, so JPEG colours stay near pure.

expected.json, per file: "size" [w, h] as displayed (after the EXIF orientation),
"samples": {name: [x, y, [r, g, b]]} = RGB of that pixel as Pillow decodes it after
ImageOps.exif_transpose(...).convert("RGB") (GIF: first frame). Sample points are the
quadrant centres (w//4, h//4), (3w//4, h//4), (w//4, 3h//4), (3w//4, 3h//4) and the
image centre (w//2, h//2); for quadrant images the centre is the first pixel of the BR
quadrant, on a colour edge (JPEG ringing: compare it loosely). Extra keys are
documented where they are set. Note that Pillow's I;16 -> RGB CLIPS (65535 -> 255, not
/257): gray16.png "samples" are all white; use "samples_scaled_rgb" for a scaling decoder.
"""

import argparse
import io
import json
from pathlib import Path

from PIL import Image, ImageOps

W, H = 32, 24
QUAD = {"tl": (255, 0, 0), "tr": (0, 255, 0), "bl": (0, 0, 255), "br": (255, 255, 255)}


def quadrants(mode, colours, w=W, h=H):
    im = Image.new(mode, (w, h))
    for key, box in (("tl", (0, 0, w // 2, h // 2)), ("tr", (w // 2, 0, w, h // 2)),
                     ("bl", (0, h // 2, w // 2, h)), ("br", (w // 2, h // 2, w, h))):
        im.paste(colours[key], box)
    return im


def points(w, h):
    return {"tl": (w // 4, h // 4), "tr": (3 * w // 4, h // 4), "bl": (w // 4, 3 * h // 4),
            "br": (3 * w // 4, 3 * h // 4), "center": (w // 2, h // 2)}


def exif_jpeg(upright, orientation):
    # stored pixels = inverse of what exif_transpose applies for this orientation
    inverse = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90,
               8: Image.Transpose.ROTATE_270}[orientation]
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    upright.transpose(inverse).save(buf, "JPEG", quality=95, subsampling=0, exif=exif.tobytes())
    return buf.getvalue()


def encode(im, fmt, **kw):
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent))
    out = Path(ap.parse_args().out)
    out.mkdir(parents=True, exist_ok=True)

    rgb = quadrants("RGB", QUAD)
    # CMYK quadrants: cyan, magenta, yellow, K=128 grey. Pillow writes CMYK JPEGs
    # Adobe-inverted (rawmode "CMYK;I", APP14 "Adobe" marker, transform 0) and inverts
    # back on read; CMYK->RGB is R = (255-C)*(255-K)/255 (same for G/M, B/Y).
    cmyk = quadrants("CMYK", {"tl": (255, 0, 0, 0), "tr": (0, 255, 0, 0),
                              "bl": (0, 0, 255, 0), "br": (0, 0, 0, 128)})
    # 16-bit grey gradient: v = 3000*x + 600*y (x-dominant, y breaks the symmetry)
    g16 = Image.new("I;16", (20, 10))
    g16.putdata([3000 * x + 600 * y for y in range(10) for x in range(20)])
    rgba = quadrants("RGBA", {"tl": (255, 0, 0, 255), "tr": (0, 255, 0, 128),
                              "bl": (0, 0, 255, 0), "br": (255, 255, 255, 255)}, 16, 16)
    gif_frames = [Image.new("RGB", (16, 16), (255, 0, 0)), Image.new("RGB", (16, 16), (0, 0, 255))]
    gray = quadrants("L", {"tl": 0, "tr": 85, "bl": 170, "br": 255})

    files = {
        "cmyk.jpg": encode(cmyk, "JPEG", quality=95, subsampling=0),
        "exif-rot3.jpg": exif_jpeg(rgb, 3),
        "exif-rot6.jpg": exif_jpeg(rgb, 6),
        "exif-rot8.jpg": exif_jpeg(rgb, 8),
        "gray16.png": encode(g16, "PNG"),
        "rgba.png": encode(rgba, "PNG"),
        "palette.gif": encode(gif_frames[0], "GIF", save_all=True, append_images=gif_frames[1:],
                              duration=100, loop=0),
        "gray.jpg": encode(gray, "JPEG", quality=95),
        "image.webp": encode(rgb, "WEBP", lossless=True, exact=True),
        "image.bmp": encode(rgb, "BMP"),
    }

    expected = {}
    for name, data in files.items():
        (out / name).write_bytes(data)
        with Image.open(out / name) as src:
            info = {"stored_mode": src.mode, "stored_size": list(src.size)}
            if src.format == "JPEG":
                info["exif_orientation"] = src.getexif().get(0x0112)
                info["adobe_app14"] = "adobe" in src.info
            if name == "palette.gif":
                info["n_frames"] = src.n_frames
                src.seek(1)
                info["frame1_center_rgb"] = list(src.convert("RGB").getpixel((8, 8)))
                src.seek(0)
            img = ImageOps.exif_transpose(src)
            conv = img.convert("RGB")
            w, h = conv.size
            info["size"] = [w, h]
            info["samples"] = {k: [x, y, list(conv.getpixel((x, y)))] for k, (x, y) in points(w, h).items()}
            if name == "gray16.png":
                # raw 16-bit values; Pillow's I;16->RGB CLIPS to 255 (it does not scale),
                # a decoder scaling 16->8 bit by /257 gives round(v/257) instead
                info["samples16"] = {k: [x, y, img.getpixel((x, y))] for k, (x, y) in points(w, h).items()}
                info["samples_scaled_rgb"] = {k: [x, y, [round(v / 257)] * 3]
                                              for k, (x, y, v) in info["samples16"].items()}
            if name == "rgba.png":
                # convert("RGB") drops alpha (no compositing); alpha listed separately
                info["samples_alpha"] = {k: [x, y, img.getpixel((x, y))[3]] for k, (x, y) in points(w, h).items()}
        expected[name] = info

    # orientation check: all rotated JPEGs display the same upright pattern
    for name in ("exif-rot3.jpg", "exif-rot6.jpg", "exif-rot8.jpg"):
        for key, (x, y, px) in expected[name]["samples"].items():
            if key != "center":
                assert expected[name]["size"] == [W, H], name
                assert all(abs(a - b) <= 8 for a, b in zip(px, QUAD[key])), (name, key, px)

    (out / "expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")
    print("wrote", ", ".join(sorted(files)), "+ expected.json to", out)


if __name__ == "__main__":
    main()
