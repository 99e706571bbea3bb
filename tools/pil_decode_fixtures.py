#!/usr/bin/python3
"""Golden fixtures for Soco.Imaging.ImageDecoder: what PIL's Image.open(p).convert('RGB') gives.

Run with Debian's interpreter (PIL 9.4, numpy):  /usr/bin/python3 tools/pil_decode_fixtures.py
Writes tests/fixtures/decode/:
  * samples.json        - per sample photo in samples/photos: width, height, sha256 of the convert('RGB') bytes
                          (and of ImageOps.exif_transpose(...).convert('RGB') when the photo has an EXIF orientation)
  * index.json          - per generated input file: what PIL gives (size, sha256, the expected-pixels file) or the
                          error class we expect (the C# side maps it to an ImageDecodeException reason)
  * <name>              - the generated input files (small, derived from crops of the sample photos)
  * <name>.WxH.rgb.gz   - expected raw RGB bytes (row-major, interleaved), gzip'd with mtime 0 (deterministic)
Everything is deterministic: same PIL/zlib -> same bytes. The inputs are committed, so a different zlib only matters
when the script is re-run.
"""
import gzip
import hashlib
import io
import json
import os
import struct
import sys
import zlib

import numpy as np
from PIL import Image, ImageOps

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PHOTOS = os.path.join(ROOT, "samples", "photos")
OUT = os.path.join(ROOT, "tests", "fixtures", "decode")


def sha(b):
    return hashlib.sha256(b).hexdigest()


def rgb_bytes(im):
    return np.asarray(im.convert("RGB"), dtype=np.uint8).tobytes()


def photo(name):
    return Image.open(os.path.join(PHOTOS, name))


def crop(name, box):
    im = photo(name)
    im.load()
    return im.crop(box)


# ---------------------------------------------------------------------------------------------- hand-written PNGs
def png_chunk(tag, data):
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def filter_rows(rows, bpp):
    """Apply PNG filters cycling 0..4 over the rows (so the decoder's unfilter is exercised for every type)."""
    out = bytearray()
    prev = bytes(len(rows[0])) if rows else b""
    for y, row in enumerate(rows):
        ft = y % 5
        f = bytearray(len(row))
        for i in range(len(row)):
            a = row[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if ft == 0:
                pred = 0
            elif ft == 1:
                pred = a
            elif ft == 2:
                pred = b
            elif ft == 3:
                pred = (a + b) // 2
            else:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if (pa <= pb and pa <= pc) else (b if pb <= pc else c)
            f[i] = (row[i] - pred) & 0xFF
        out.append(ft)
        out += f
        prev = row
    return bytes(out)


def write_png16(path, arr, color_type, interlace=False, extra_chunks=b""):
    """arr: H x W x C uint16 (C = 1, 2, 3, 4 for gray, gray+alpha, RGB, RGBA) -> 16-bit PNG, big-endian samples."""
    h, w = arr.shape[:2]
    c = arr.shape[2]
    bpp = 2 * c
    be = arr.astype(">u2")
    if not interlace:
        rows = [be[y].tobytes() for y in range(h)]
        raw = filter_rows(rows, bpp)
    else:
        raw = b""
        for (x0, y0, dx, dy) in ADAM7:
            sub = be[y0::dy, x0::dx]
            if sub.shape[0] == 0 or sub.shape[1] == 0:
                continue
            raw += filter_rows([sub[y].tobytes() for y in range(sub.shape[0])], bpp)
    ihdr = struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 1 if interlace else 0)
    data = (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + extra_chunks
            + png_chunk(b"IDAT", zlib.compress(raw, 9)) + png_chunk(b"IEND", b""))
    with open(path, "wb") as f:
        f.write(data)


def write_png8_interlaced(path, arr):
    """H x W x 3 uint8 -> Adam7-interlaced RGB PNG (PIL cannot write interlaced PNGs)."""
    h, w = arr.shape[:2]
    raw = b""
    for (x0, y0, dx, dy) in ADAM7:
        sub = arr[y0::dy, x0::dx]
        if sub.shape[0] == 0 or sub.shape[1] == 0:
            continue
        raw += filter_rows([sub[y].tobytes() for y in range(sub.shape[0])], 3)
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 1)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(raw, 9))
                + png_chunk(b"IEND", b""))


# ---------------------------------------------------------------------------------------------- hand-written GIFs
# LZW without compression (a clear code every few literals keeps the code size constant): lets us build GIFs that PIL
# cannot write (small / missing palettes, frames off the screen, short data).
def lzw_uncompressed(indices, min_code):
    clear = 1 << min_code; eoi = clear + 1
    code_size = min_code + 1
    codes = [clear]
    n = 0
    limit = (1 << code_size) - 2 - 1  # stay below growth
    for v in indices:
        if n >= (1 << min_code) - 2:
            codes.append(clear); n = 0
        codes.append(v); n += 1
    codes.append(eoi)
    # pack LSB-first with constant code_size (table never grows past 2^code_size since we clear often)
    bits = 0; nb = 0; out = bytearray()
    for c in codes:
        bits |= c << nb; nb += code_size
        while nb >= 8:
            out.append(bits & 0xFF); bits >>= 8; nb -= 8
    if nb: out.append(bits & 0xFF)
    return bytes(out)
def subblocks(b):
    out = bytearray()
    for i in range(0, len(b), 255):
        ch = b[i:i+255]; out.append(len(ch)); out += ch
    out.append(0); return bytes(out)
def write_gif(sw, sh, gct, frames, bg=0):
    # gct: list of (r,g,b) with len power of two, or None
    out = bytearray(b"GIF89a")
    packed = 0
    if gct:
        n = len(gct).bit_length() - 2
        packed = 0x80 | 0x70 | n
    out += struct.pack("<HHBBB", sw, sh, packed, bg, 0)
    if gct: out += b"".join(bytes(c) for c in gct)
    for fr in frames:
        if fr.get("trns") is not None:
            out += bytes([0x21, 0xF9, 4, 1, 0, 0, fr["trns"], 0])
        x, y, w, h = fr["rect"]
        lct = fr.get("lct")
        p = 0
        if lct: p = 0x80 | (len(lct).bit_length() - 2)
        if fr.get("interlace"): p |= 0x40
        out += b"\x2C" + struct.pack("<HHHHB", x, y, w, h, p)
        if lct: out += b"".join(bytes(c) for c in lct)
        mc = max(2, fr.get("min_code", 2))
        out.append(mc)
        out += subblocks(lzw_uncompressed(fr["pix"], mc))
    out.append(0x3B)
    return bytes(out)


def exif_with_orientation(o):
    ex = Image.Exif()
    ex[0x0112] = o
    return ex.tobytes()


# ----------------------------------------------------------------------------------------------------- main
def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        os.remove(os.path.join(OUT, f))

    # 1. sample photos: hashes only
    samples = {}
    for name in sorted(os.listdir(PHOTOS)):
        im = photo(name)
        entry = {"width": im.size[0], "height": im.size[1], "pil_mode": im.mode, "sha256": sha(rgb_bytes(im))}
        o = im.getexif().get(0x0112)
        if o and o != 1:
            t = ImageOps.exif_transpose(photo(name))
            entry["exif_orientation"] = o
            entry["transposed_sha256"] = sha(rgb_bytes(t))
        samples[name] = entry
    with open(os.path.join(OUT, "samples.json"), "w") as f:
        json.dump(samples, f, indent=1, sort_keys=True)
        f.write("\n")

    p = lambda n: os.path.join(OUT, n)
    rng = np.random.RandomState(1234)
    notes = {}

    # 2. generated inputs
    base = crop("chelsea.png", (200, 60, 264, 108))           # 64 x 48 RGB, a cat's face
    gray = crop("camera.png", (180, 80, 244, 128))            # 64 x 48 L
    garr = np.asarray(gray, dtype=np.uint16)
    barr = np.asarray(base, dtype=np.uint16)

    gray.save(p("gray8.png"))
    notes["gray8.png"] = "8-bit grayscale PNG"
    gray.convert("1").save(p("gray1.png"))
    notes["gray1.png"] = "1-bit grayscale PNG"

    # 16-bit gray: values from 0 to ~1020 so that values above 255 (clipped by PIL) occur
    g16 = (garr * 4 + (rng.randint(0, 4, garr.shape))).astype(np.uint16)
    Image.fromarray(g16).save(p("gray16.png"))               # PIL writes I;16 -> 16-bit gray PNG
    notes["gray16.png"] = "16-bit gray PNG, values 0..1023 (PIL opens mode I and clips to 255)"
    # full range 16-bit gray, hand-written with all five filters, and an Adam7 one
    g16full = (garr * 257 + rng.randint(0, 257, garr.shape)).astype(np.uint16)
    write_png16(p("gray16_full.png"), g16full[:, :, None], 0)
    notes["gray16_full.png"] = "16-bit gray PNG, full range (mostly clipped to 255 by PIL)"

    rgb48 = (barr * 257 + rng.randint(0, 257, barr.shape)).astype(np.uint16)
    write_png16(p("rgb48.png"), rgb48, 2)
    notes["rgb48.png"] = "16-bit RGB PNG (PIL takes the high byte)"
    write_png16(p("rgb48_adam7.png"), rgb48[:37, :29], 2, interlace=True)
    notes["rgb48_adam7.png"] = "16-bit RGB PNG, Adam7 interlaced, odd size"
    alpha16 = (np.linspace(0, 65535, barr.shape[1])[None, :].repeat(barr.shape[0], 0)).astype(np.uint16)
    write_png16(p("rgba64.png"), np.dstack([rgb48, alpha16]), 6)
    notes["rgba64.png"] = "16-bit RGBA PNG"
    write_png16(p("la16.png"), np.dstack([g16full, alpha16]), 4)
    notes["la16.png"] = "16-bit gray+alpha PNG"
    write_png16(p("gray16_adam7.png"), g16[:23, :31, None], 0, interlace=True)
    notes["gray16_adam7.png"] = "16-bit gray PNG, Adam7 interlaced"

    write_png8_interlaced(p("rgb8_adam7.png"), np.asarray(base, dtype=np.uint8)[:45, :61])
    notes["rgb8_adam7.png"] = "8-bit RGB PNG, Adam7 interlaced"

    # RGBA with varied alpha, including alpha 0 over non-black colour (must be dropped, not composited)
    a8 = np.asarray(base, dtype=np.uint8)
    alpha = np.tile(np.array([0, 1, 64, 127, 128, 200, 254, 255], dtype=np.uint8), (a8.shape[0], a8.shape[1] // 8))
    Image.fromarray(np.dstack([a8, alpha]), "RGBA").save(p("rgba.png"))
    notes["rgba.png"] = "8-bit RGBA PNG, alpha 0..255 including 0 over coloured pixels"
    Image.fromarray(np.dstack([np.asarray(gray, dtype=np.uint8), alpha]), "LA").save(p("la.png"))
    notes["la.png"] = "8-bit gray+alpha PNG"

    pal = base.quantize(colors=40, method=Image.Quantize.MEDIANCUT)
    pal.save(p("palette.png"))
    notes["palette.png"] = "palette PNG, 40 colours, no transparency"
    trans = bytes([(i * 37) % 256 for i in range(40)])      # per-entry alpha, several 0s and partials
    pal.save(p("palette_trns.png"), transparency=trans)
    notes["palette_trns.png"] = "palette PNG with a tRNS alpha per entry"
    pal.save(p("palette_trns1.png"), transparency=3)
    notes["palette_trns1.png"] = "palette PNG with one transparent index"
    pal16 = base.quantize(colors=16, method=Image.Quantize.MEDIANCUT)
    pal16.save(p("palette4bit.png"), bits=4)
    notes["palette4bit.png"] = "4-bit palette PNG"

    # JPEG variants (PIL/libjpeg-turbo encoded)
    base.save(p("baseline420.jpg"), quality=90)
    base.save(p("baseline444.jpg"), quality=90, subsampling=0)
    base.save(p("baseline422.jpg"), quality=85, subsampling=1)
    crop("flower.jpg", (100, 100, 181, 163)).save(p("progressive.jpg"), quality=88, progressive=True)
    notes["progressive.jpg"] = "progressive JPEG, odd size 81x63"
    gray.save(p("gray.jpg"), quality=90)
    base.convert("CMYK").save(p("cmyk.jpg"), quality=95)     # PIL writes Adobe (inverted) CMYK
    notes["cmyk.jpg"] = "Adobe CMYK JPEG (PIL inverts, then its own CMYK->RGB formula)"
    # CMYK with a real K channel: hand-made CMYK array
    carr = np.asarray(base, dtype=np.int32)
    k = 255 - carr.max(axis=2)
    cmy = 255 - carr - k[:, :, None]
    cmyk = np.dstack([cmy, k]).clip(0, 255).astype(np.uint8)
    Image.fromarray(cmyk, "CMYK").save(p("cmyk_k.jpg"), quality=92)
    notes["cmyk_k.jpg"] = "Adobe CMYK JPEG with black in K"
    # EXIF orientations 2..8 on a 24x16 non-square image (rotation must be visible)
    small = crop("chelsea.png", (210, 70, 234, 86))
    for o in range(2, 9):
        small.save(p(f"exif{o}.jpg"), quality=95, exif=exif_with_orientation(o), subsampling=0)
        notes[f"exif{o}.jpg"] = f"JPEG with EXIF orientation {o} (ignored unless ApplyExifOrientation)"

    # other formats Skia can read
    base.save(p("rgb.bmp"))
    pal.save(p("palette.gif"))
    notes["palette.gif"] = "GIF, one frame"
    frames = [crop("chelsea.png", (200 + 8 * i, 60, 232 + 8 * i, 84)).quantize(colors=32) for i in range(3)]
    frames[0].save(p("anim.gif"), save_all=True, append_images=frames[1:], duration=100, loop=0)
    notes["anim.gif"] = "animated GIF; first frame expected"
    pal.save(p("trns.gif"), transparency=5)
    notes["trns.gif"] = "GIF with a transparent index (PIL: its palette colour; alpha ignored)"
    pal4 = [(200, 10, 10), (10, 200, 10), (10, 10, 200), (50, 60, 70)]
    hand = {
        "gif_short_palette.gif": (write_gif(4, 2, pal4[:2], [{"rect": (0, 0, 4, 2), "pix": [0, 1, 2, 3, 3, 2, 1, 0]}]),
                                  "indices past a 2-entry palette (PIL: grey ramp i,i,i)"),
        "gif_small_frame.gif": (write_gif(4, 3, pal4, [{"rect": (1, 1, 2, 1), "pix": [2, 3]}], bg=1),
                                "frame smaller than the screen, no transparency (outside = index 0)"),
        "gif_small_frame_trns.gif": (write_gif(4, 3, pal4, [{"rect": (1, 1, 2, 1), "pix": [2, 1], "trns": 3}], bg=1),
                                     "frame smaller than the screen, transparent index 3 (outside = index 3)"),
        "gif_big_frame.gif": (write_gif(2, 2, pal4, [{"rect": (1, 1, 2, 2), "pix": [0, 1, 2, 3]}]),
                              "frame sticking out of the screen (PIL enlarges the canvas)"),
        "gif_local_palette.gif": (write_gif(2, 1, None, [{"rect": (0, 0, 2, 1), "pix": [0, 1], "lct": pal4}]),
                                  "local colour table only"),
        "gif_no_palette.gif": (write_gif(2, 1, None, [{"rect": (0, 0, 2, 1), "pix": [0, 3]}]), "no colour table at all"),
        "gif_short_data.gif": (write_gif(4, 1, pal4, [{"rect": (0, 0, 4, 1), "pix": [1, 2]}]),
                               "LZW data ends after 2 of 4 pixels (PIL: truncated)"),
    }
    for n, (b, note) in hand.items():
        with open(p(n), "wb") as f:
            f.write(b)
        notes[n] = note
    base.save(p("lossless.webp"), lossless=True)
    base.save(p("lossy.webp"), quality=80)
    # a PNG under a .jpg name (ImageNet has such files): decoders must sniff content, not trust the extension
    with open(p("png_named.jpg"), "wb") as f:
        buf = io.BytesIO()
        base.save(buf, format="PNG")
        f.write(buf.getvalue())
    notes["png_named.jpg"] = "PNG content under a .jpg name"

    Image.new("RGB", (1, 1), (12, 34, 56)).save(p("tiny1x1.png"))
    notes["tiny1x1.png"] = "1x1 PNG (valid; refused only with MinSide > 1)"

    # bad inputs
    good = open(p("baseline420.jpg"), "rb").read()
    with open(p("truncated.jpg"), "wb") as f:
        f.write(good[: len(good) * 2 // 3])
    notes["truncated.jpg"] = "JPEG cut at 2/3 of its bytes"
    with open(p("no_eoi.jpg"), "wb") as f:
        f.write(good[:-2])
    notes["no_eoi.jpg"] = "JPEG missing only its final EOI marker (PIL: image file is truncated)"
    pbytes = open(p("palette.png"), "rb").read()
    with open(p("truncated.png"), "wb") as f:
        f.write(pbytes[: len(pbytes) // 2])
    open(p("empty.jpg"), "wb").close()
    notes["empty.jpg"] = "0 bytes"
    notes["truncated.png"] = "PNG cut in half"
    notes["text.jpg"] = "an HTML error page saved as .jpg"
    notes["huge_header.png"] = "PNG header claiming 20000x20000 (400 MP)"
    with open(p("text.jpg"), "w") as f:
        f.write("<html><body>404 Not Found</body></html>\n")
    with open(p("random.jpg"), "wb") as f:
        f.write(bytes(rng.randint(0, 256, 300, dtype=np.uint8)))
    notes["random.jpg"] = "300 random bytes"
    # header says 20000 x 20000; the decoder must refuse before decoding (PIL: DecompressionBombError)
    ihdr = struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)
    with open(p("huge_header.png"), "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"\0" * 100))
                + png_chunk(b"IEND", b""))

    # 3. expected outputs
    index = {}
    for name in sorted(os.listdir(OUT)):
        if name.endswith(".json") or name.endswith(".gz"):
            continue
        entry = {"note": notes.get(name, "")}
        try:
            im = Image.open(p(name))
            entry["pil_format"] = im.format
            entry["pil_mode"] = im.mode
            data = rgb_bytes(im)
            im = Image.open(p(name))
            w, h = im.size
            exp = f"{name}.{w}x{h}.rgb.gz"
            with open(p(exp), "wb") as f:
                with gzip.GzipFile(fileobj=f, mode="wb", mtime=0, filename="") as gz:
                    gz.write(data)
            entry.update({"width": w, "height": h, "sha256": sha(data), "expected": exp})
            o = Image.open(p(name)).getexif().get(0x0112)
            if o and o != 1:
                t = ImageOps.exif_transpose(Image.open(p(name)))
                td = rgb_bytes(t)
                texp = f"{name}.transposed.{t.size[0]}x{t.size[1]}.rgb.gz"
                with open(p(texp), "wb") as f:
                    with gzip.GzipFile(fileobj=f, mode="wb", mtime=0, filename="") as gz:
                        gz.write(td)
                entry.update({"exif_orientation": o, "transposed_width": t.size[0],
                              "transposed_height": t.size[1], "transposed_sha256": sha(td),
                              "transposed_expected": texp})
        except Exception as e:  # noqa: BLE001 - we record what PIL says
            entry["pil_error"] = f"{type(e).__name__}: {e}".replace(p(name), name)
        if "expected" in entry:
            # truncated copies: does PIL still decode them? (cut = number of bytes kept)
            d = open(p(name), "rb").read()
            cuts = sorted({8, len(d) // 10, len(d) // 2, len(d) * 9 // 10, len(d) - 12, len(d) - 4, len(d) - 1})
            tr = []
            for cut in cuts:
                try:
                    pix = rgb_bytes(Image.open(io.BytesIO(d[:cut])))
                    tr.append([cut, "same" if pix == data else "different"])
                except Exception:  # noqa: BLE001
                    tr.append([cut, "error"])
            entry["truncations"] = tr
        index[name] = entry
    with open(p("index.json"), "w") as f:
        json.dump(index, f, indent=1, sort_keys=True)
        f.write("\n")

    total = sum(os.path.getsize(p(n)) for n in os.listdir(OUT))
    print(f"{len(index)} inputs, {len(os.listdir(OUT))} files, {total / 1024:.0f} KiB in {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
