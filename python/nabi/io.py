"""`nabi.io` (tf.io): reading and writing files, decoding and encoding images, and `gfile`.

    img = tf.io.decode_png(tf.io.read_file("cat.png"), channels=3)   # uint8 (H, W, 3)

Files are read and written on the host; `read_file` gives a scalar string tensor of the raw
bytes. Images are decoded and encoded with Pillow (`pip install 'nabi[image]'`; without it
these functions raise an ImportError saying so). Like TF's, `decode_png`, `decode_jpeg` and
`decode_bmp` read any of PNG, JPEG, GIF (its first frame) and BMP, and `decode_image` also
returns every frame of a GIF, (frames, H, W, 3), with expand_animations=True.

`channels` 0 (or None) keeps the file's channels; 1 is grayscale (ITU-R 601-2 luma,
round(0.299 R + 0.587 G + 0.114 B), as libjpeg's YCbCr->gray), 3 RGB (alpha dropped, gray
repeated), 4 RGBA (alpha 255 when the file has none). 16-bit PNGs keep their high byte in
uint8 (dtype=uint16 is not available: nabi has no uint16 tensors). uint8 results stay on the
host, as TF's CPU decoders leave them (ops with device tensors move them there); float32
ones (decode_image(dtype=float32), in [0, 1]) are placed on the current device.
"""
import glob as _glob
import io as _pyio
import os
import shutil

import numpy as np

from . import dtypes as _dt
from .framework.tensor import Tensor, _wrap, convert_to_tensor

__all__ = ["read_file", "write_file", "decode_image", "decode_png", "decode_jpeg",
           "decode_bmp", "decode_gif", "encode_png", "encode_jpeg", "is_jpeg", "gfile",
           "TFRecordWriter", "TFRecordOptions", "tf_record_iterator", "FixedLenFeature",
           "FixedLenSequenceFeature", "VarLenFeature", "parse_single_example",
           "parse_example", "parse_single_sequence_example", "serialize_tensor",
           "serialize_sparse", "parse_tensor", "decode_raw", "decode_csv"]

# TFRecord files and tf.train.Example parsing (data/tfrecord.py, train/example.py)
from .data.readers import decode_csv  # noqa: E402
from .data.tfrecord import TFRecordOptions, TFRecordWriter, tf_record_iterator  # noqa: E402
from .train.example import (FixedLenFeature, FixedLenSequenceFeature,  # noqa: E402
                            VarLenFeature, parse_example, parse_single_example,
                            parse_single_sequence_example, parse_tensor, serialize_sparse,
                            serialize_tensor)


def _pil(op):
    try:
        from PIL import Image
    except ImportError:
        raise ImportError(f"[{op}] needs Pillow to decode and encode images, and Pillow is not "
                          "installed: pip install 'nabi[image]' (or pip install pillow)") \
            from None
    return Image


def _path(filename, op):
    if isinstance(filename, Tensor):
        filename = filename.numpy()
        if isinstance(filename, np.ndarray):
            raise ValueError(f"[{op}] filename must be a scalar string, got shape "
                             f"{filename.shape}")
    if isinstance(filename, bytes):
        filename = filename.decode("utf-8")
    if not isinstance(filename, (str, os.PathLike)):
        raise TypeError(f"[{op}] filename must be a string or a path, got "
                        f"{type(filename).__name__}")
    return os.fspath(filename)


def _contents(contents, op):
    if isinstance(contents, Tensor):
        if contents.dtype != _dt.string:
            raise TypeError(f"[{op}] contents must be a scalar string tensor, got dtype "
                            f"{contents.dtype.name} and shape {tuple(contents.shape)}")
        contents = contents.numpy()
    if isinstance(contents, np.ndarray) and contents.ndim == 0:
        contents = contents.item()
    if isinstance(contents, str):
        contents = contents.encode("utf-8")
    if not isinstance(contents, (bytes, bytearray, memoryview)):
        shape = getattr(contents, "shape", None)
        raise TypeError(f"[{op}] contents must be a scalar string (bytes), got "
                        f"{type(contents).__name__}" + (f" of shape {shape}" if shape else ""))
    return bytes(contents)


def decode_raw(input_bytes, out_type, little_endian=True, fixed_length=None, name=None):
    """Reinterprets the bytes of each string as numbers of `out_type`: shape input.shape + [n].
    All strings must give the same n (or pass fixed_length, which pads with zeros or
    truncates each string to that many bytes first)."""
    op = "io.decode_raw"
    dt = _dt.as_dtype(out_type)
    npdt = np.dtype(dt._np).newbyteorder("<" if little_endian else ">")
    if isinstance(input_bytes, Tensor):
        if input_bytes.dtype != _dt.string:
            raise TypeError(f"[{op}] input_bytes must be a string tensor, got dtype "
                            f"{input_bytes.dtype.name}")
        a = np.asarray(input_bytes.numpy(), dtype=object)
    else:
        a = np.asarray(input_bytes, dtype=object)
    flat = [b.encode("utf-8") if isinstance(b, str) else bytes(b) for b in a.reshape(-1)]
    if fixed_length is not None:
        n = int(fixed_length)
        flat = [b[:n].ljust(n, b"\0") for b in flat]
    rows = []
    for b in flat:
        if len(b) % npdt.itemsize:
            raise ValueError(f"[{op}] a string of {len(b)} bytes is not a whole number of "
                             f"{dt.name} values ({npdt.itemsize} bytes each)")
        rows.append(np.frombuffer(b, npdt).astype(dt._np))
    widths = {len(r) for r in rows}
    if len(widths) > 1:
        raise ValueError(f"[{op}] the strings give different numbers of values "
                         f"{sorted(widths)}; pass fixed_length to pad or truncate them")
    width = widths.pop() if widths else 0
    out = np.stack(rows) if rows else np.zeros((0, width), dt._np)
    return convert_to_tensor(out.reshape(a.shape + (width,)))


# ------------------------------------------------------------------------------- files


def read_file(filename, name=None):
    """The bytes of a file, as a scalar string tensor."""
    path = _path(filename, "io.read_file")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"[io.read_file] {path}: No such file or directory") from None
    except IsADirectoryError:
        raise IsADirectoryError(f"[io.read_file] {path} is a directory") from None
    return _wrap(np.array(data, dtype=object))


def write_file(filename, contents, name=None):
    """Writes `contents` (a scalar string) to a file, creating its directory if needed."""
    path = _path(filename, "io.write_file")
    data = _contents(contents, "io.write_file")
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


# ------------------------------------------------------------------------------- decoding


def _luma(rgb, png=False):
    r, g, b = (rgb[..., k].astype(np.uint64) for k in range(3))
    if png:
        # TF decodes a PNG with libpng's png_set_rgb_to_gray(0.299, 0.587): 15-bit weights
        # truncated (9797, 19234, and 3737 for the rest), the sum truncated (rounded, + 2^14,
        # for 16-bit samples)
        half = 16384 if rgb.dtype == np.uint16 else 0
        return ((r * 9797 + g * 19234 + b * 3737 + half) >> 15).astype(rgb.dtype)
    # Pillow's and libjpeg's fixed-point ITU-R 601-2 weights, rounded
    return ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16).astype(rgb.dtype)


def _png16_multichannel(data):
    """(H, W, C) uint16 of a non-interlaced 16-bit gray+alpha, RGB or RGBA PNG, which Pillow
    would cut to 8 bits; None for any other PNG. Undoes the per-row filters of the PNG spec
    (none, sub, up, average, paeth) on the inflated IDAT bytes."""
    import zlib
    pos, idat, head = 8, [], None
    while pos + 8 <= len(data):
        n = int.from_bytes(data[pos:pos + 4], "big")
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            head = body
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    if head is None or len(head) < 13 or head[8] != 16 or head[9] not in (2, 4, 6) or head[12]:
        return None
    w, h = int.from_bytes(head[0:4], "big"), int.from_bytes(head[4:8], "big")
    ch = {2: 3, 4: 2, 6: 4}[head[9]]
    bpp = 2 * ch
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), np.uint8)[:h * (w * bpp + 1)]
    raw = raw.reshape(h, w * bpp + 1)
    out = np.empty((h, w * bpp), np.uint8)
    prev = np.zeros(w * bpp, np.int64)
    for y in range(h):
        f, line = raw[y, 0], raw[y, 1:].astype(np.int64)
        if f == 0:
            cur = line
        elif f == 1:
            cur = np.cumsum(line.reshape(w, bpp), axis=0).reshape(-1) & 255
        elif f == 2:
            cur = (line + prev) & 255
        elif f in (3, 4):
            cur = np.empty_like(line)
            left = np.zeros(bpp, np.int64)
            upleft = np.zeros(bpp, np.int64)
            for x in range(w):
                sl = slice(x * bpp, (x + 1) * bpp)
                up = prev[sl]
                if f == 3:
                    pred = (left + up) // 2
                else:
                    p = left + up - upleft
                    pa, pb, pc = np.abs(p - left), np.abs(p - up), np.abs(p - upleft)
                    pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, upleft))
                cur[sl] = (line[sl] + pred) & 255
                left, upleft = cur[sl], up
        else:
            raise ValueError(f"unknown PNG filter type {f} in row {y}")
        out[y] = cur
        prev = cur
    return out.view(">u2").reshape(h, w, ch).astype(np.uint16)


def _bmp32(data):
    """(H, W, 4) uint8 of a 32-bit uncompressed (or bitfields) BMP as TF reads it: B, G, R
    and the fourth byte as alpha (Pillow drops that byte as padding); None otherwise."""
    if len(data) < 34 or data[:2] != b"BM" or int.from_bytes(data[28:30], "little") != 32 or \
            int.from_bytes(data[30:34], "little") not in (0, 3):
        return None
    off = int.from_bytes(data[10:14], "little")
    w = int.from_bytes(data[18:22], "little", signed=True)
    h = int.from_bytes(data[22:26], "little", signed=True)
    if w <= 0 or h == 0 or off + abs(h) * w * 4 > len(data):
        return None
    raw = np.frombuffer(data, np.uint8, count=abs(h) * w * 4, offset=off).reshape(abs(h), w, 4)
    a = raw[..., [2, 1, 0, 3]]
    return np.ascontiguousarray(a[::-1] if h > 0 else a)  # a positive height is bottom-up


def _frame_array(img, op):
    """A Pillow frame as an (H, W, C) uint8 or uint16 array with the file's channels."""
    mode = img.mode
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif mode == "PA":
        img = img.convert("RGBA")
    elif mode == "1":
        img = img.convert("L")
    elif mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        img = img.convert("RGB")
    elif mode.startswith("I;16") or mode == "I":
        a = np.asarray(img)
        return np.clip(a, 0, 65535).astype(np.uint16)[..., None]
    elif mode not in ("L", "LA", "RGB", "RGBA"):
        raise ValueError(f"[{op}] unsupported image mode {mode!r}")
    a = np.asarray(img, dtype=np.uint8)
    return a[..., None] if a.ndim == 2 else a


def _to_channels(a, channels, op, png=False):
    have = a.shape[-1]
    if channels in (0, None) or channels == have:
        return a
    if channels == 1:
        return _luma(a[..., :3], png)[..., None] if have >= 3 else a[..., :1]
    gray = a[..., :1] if have <= 2 else None
    rgb = np.repeat(gray, 3, axis=-1) if gray is not None else a[..., :3]
    if channels == 3:
        return rgb
    if channels == 4:
        if have in (2, 4):
            alpha = a[..., -1:]
        else:
            alpha = np.full(a.shape[:-1] + (1,), np.iinfo(a.dtype).max, a.dtype)
        return np.concatenate([rgb, alpha], axis=-1)
    raise ValueError(f"[{op}] channels must be 0, 1, 3 or 4, got {channels}")


def _decode(contents, channels, op, all_frames=False):
    Image = _pil(op)
    if channels is not None and channels not in (0, 1, 3, 4):
        raise ValueError(f"[{op}] channels must be 0, 1, 3 or 4, got {channels}")
    data = _contents(contents, op)
    try:
        img = Image.open(_pyio.BytesIO(data))
        if channels == 1 and img.format == "JPEG" and img.mode in ("RGB", "YCbCr"):
            # TF has libjpeg decode straight to grayscale: the file's Y plane, not the luma
            # of the clipped RGB (up to 13 levels apart at quality 50)
            img.draft("L", img.size)
        img.load()
    except Exception as e:   # Pillow raises UnidentifiedImageError, OSError, SyntaxError...
        raise ValueError(f"[{op}] could not decode the image ({len(data)} bytes, starting "
                         f"{data[:8]!r}): {e}") from None
    if all_frames:
        frames = []
        for k in range(getattr(img, "n_frames", 1)):
            img.seek(k)
            frames.append(_to_channels(_frame_array(img.convert("RGB"), op), channels or 3, op))
        return np.stack(frames)
    a = _png16_multichannel(data) if img.format == "PNG" else \
        _bmp32(data) if img.format == "BMP" else None
    if a is None:
        a = _frame_array(img, op)
    return _to_channels(a, channels, op, png=img.format == "PNG")


def _out(a, dtype, op):
    dt = _dt.as_dtype(dtype)
    if dt == _dt.uint8:
        if a.dtype == np.uint16:
            a = (a >> 8).astype(np.uint8)
        # host tensors, as TF's decoders run on the CPU (nabi's GPU has no uint8 storage)
        return _wrap(np.ascontiguousarray(a, dtype=np.uint8))
    if dt in (_dt.float32, _dt.float64, _dt.float16):
        scale = 65535.0 if a.dtype == np.uint16 else 255.0
        return convert_to_tensor((a.astype(np.float64) / scale).astype(dt._np))
    raise ValueError(f"[{op}] dtype must be uint8 or a float type (nabi has no uint16 "
                     f"tensors), got {dt.name}")


def decode_png(contents, channels=0, dtype=_dt.uint8, name=None):
    """A PNG (or JPEG/GIF/BMP) as a uint8 (H, W, C) tensor."""
    if _dt.as_dtype(dtype) != _dt.uint8:
        raise ValueError(f"[io.decode_png] dtype must be uint8 (nabi has no uint16 tensors), "
                         f"got {_dt.as_dtype(dtype).name}")
    return _out(_decode(contents, channels, "io.decode_png"), _dt.uint8, "io.decode_png")


def decode_jpeg(contents, channels=0, ratio=1, fancy_upscaling=True,
                try_recover_truncated=False, acceptable_fraction=1, dct_method="", name=None):
    """A JPEG (or PNG/GIF/BMP) as a uint8 (H, W, C) tensor; ratio 1, 2, 4 or 8 downscales
    (by Pillow's box filter, not libjpeg's DCT scaling)."""
    if ratio not in (1, 2, 4, 8):
        raise ValueError(f"[io.decode_jpeg] ratio must be 1, 2, 4 or 8, got {ratio}")
    a = _decode(contents, channels, "io.decode_jpeg")
    if ratio > 1:
        Image = _pil("io.decode_jpeg")
        h, w = -(-a.shape[0] // ratio), -(-a.shape[1] // ratio)
        chans = [np.asarray(Image.fromarray(a[..., k]).resize((w, h), Image.BOX))
                 for k in range(a.shape[-1])]
        a = np.stack(chans, axis=-1)
    return _out(a, _dt.uint8, "io.decode_jpeg")


def decode_bmp(contents, channels=0, name=None):
    """A BMP (or another format Pillow reads) as a uint8 (H, W, C) tensor."""
    return _out(_decode(contents, channels, "io.decode_bmp"), _dt.uint8, "io.decode_bmp")


def decode_gif(contents, name=None):
    """Every frame of a GIF, uint8 (frames, H, W, 3)."""
    return _out(_decode(contents, 3, "io.decode_gif", all_frames=True), _dt.uint8,
                "io.decode_gif")


def is_jpeg(contents, name=None):
    """Whether the bytes start like a JPEG (FF D8 FF)."""
    return convert_to_tensor(np.array(_contents(contents, "io.is_jpeg")[:3] == b"\xff\xd8\xff"))


def decode_image(contents, channels=None, dtype=_dt.uint8, name=None, expand_animations=True):
    """Any of PNG, JPEG, GIF and BMP: (H, W, C), or (frames, H, W, 3) for a GIF when
    expand_animations=True. dtype float32 scales to [0, 1] (tf.image.convert_image_dtype)."""
    data = _contents(contents, "io.decode_image")
    if data[:6] in (b"GIF87a", b"GIF89a") and expand_animations:
        a = _decode(data, channels, "io.decode_image", all_frames=True)
    else:
        a = _decode(data, channels, "io.decode_image")
    return _out(a, dtype, "io.decode_image")


# ------------------------------------------------------------------------------- encoding


def _image_array(image, op, allowed):
    a = image.numpy() if isinstance(image, Tensor) else np.asarray(image)
    if a.ndim != 3 or a.shape[-1] not in allowed:
        raise ValueError(f"[{op}] image must be 3-D (height, width, channels) with channels in "
                         f"{allowed}, got shape {a.shape}")
    if a.dtype.kind in "iu" and a.dtype != np.uint8 and (a.size == 0 or (
            a.min() >= 0 and a.max() <= 255)):
        a = a.astype(np.uint8)   # a uint8 image that went through the GPU comes back int64
    if a.dtype != np.uint8:
        raise TypeError(f"[{op}] image must be uint8, got {a.dtype} (convert with "
                        "tf.cast or tf.image.convert_image_dtype first)")
    return a


def _from_array(Image, a):
    c = a.shape[-1]
    if c == 1:
        return Image.fromarray(a[..., 0], "L")
    return Image.fromarray(np.ascontiguousarray(a), {2: "LA", 3: "RGB", 4: "RGBA"}[c])


def encode_png(image, compression=-1, name=None):
    """PNG bytes (a scalar string tensor) of a uint8 (H, W, C) image, C in 1..4;
    compression -1 (default, 6) or 0..9."""
    Image = _pil("io.encode_png")
    a = _image_array(image, "io.encode_png", (1, 2, 3, 4))
    if not -1 <= int(compression) <= 9:
        raise ValueError(f"[io.encode_png] compression must be -1..9, got {compression}")
    buf = _pyio.BytesIO()
    _from_array(Image, a).save(buf, format="PNG",
                               compress_level=6 if compression == -1 else int(compression))
    return _wrap(np.array(buf.getvalue(), dtype=object))


def encode_jpeg(image, format="", quality=95, progressive=False, optimize_size=False,  # noqa: A002
                chroma_downsampling=True, density_unit="in", x_density=300, y_density=300,
                xmp_metadata="", name=None):
    """JPEG bytes of a uint8 (H, W, C) image, C 1 or 3 (Pillow's libjpeg encoder)."""
    Image = _pil("io.encode_jpeg")
    a = _image_array(image, "io.encode_jpeg", (1, 3))
    buf = _pyio.BytesIO()
    _from_array(Image, a).save(buf, format="JPEG", quality=int(quality),
                               progressive=bool(progressive), optimize=bool(optimize_size),
                               subsampling=2 if chroma_downsampling else 0,
                               dpi=(x_density, y_density))
    return _wrap(np.array(buf.getvalue(), dtype=object))


# ------------------------------------------------------------------------------- gfile


class gfile:  # noqa: N801  (TF's spelling: tf.io.gfile.exists(...))
    """tf.io.gfile on the local file system."""

    GFile = staticmethod(lambda name, mode="r": open(_path(name, "io.gfile.GFile"), mode))

    @staticmethod
    def exists(path):
        return os.path.exists(_path(path, "io.gfile.exists"))

    @staticmethod
    def isdir(path):
        return os.path.isdir(_path(path, "io.gfile.isdir"))

    @staticmethod
    def listdir(path):
        return sorted(os.listdir(_path(path, "io.gfile.listdir")))

    @staticmethod
    def glob(pattern):
        return sorted(_glob.glob(_path(pattern, "io.gfile.glob")))

    @staticmethod
    def makedirs(path):
        os.makedirs(_path(path, "io.gfile.makedirs"), exist_ok=True)

    mkdir = makedirs

    @staticmethod
    def remove(path):
        os.remove(_path(path, "io.gfile.remove"))

    @staticmethod
    def rmtree(path):
        shutil.rmtree(_path(path, "io.gfile.rmtree"))

    @staticmethod
    def copy(src, dst, overwrite=False):
        dst = _path(dst, "io.gfile.copy")
        if os.path.exists(dst) and not overwrite:
            raise FileExistsError(f"[io.gfile.copy] {dst} exists (pass overwrite=True)")
        shutil.copyfile(_path(src, "io.gfile.copy"), dst)

    @staticmethod
    def rename(src, dst, overwrite=False):
        dst = _path(dst, "io.gfile.rename")
        if os.path.exists(dst) and not overwrite:
            raise FileExistsError(f"[io.gfile.rename] {dst} exists (pass overwrite=True)")
        os.replace(_path(src, "io.gfile.rename"), dst)

    @staticmethod
    def walk(top, topdown=True, onerror=None):
        return os.walk(_path(top, "io.gfile.walk"), topdown=topdown, onerror=onerror)
