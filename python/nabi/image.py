"""`nabi.image` (TF's `tf.image`): resizing, crops and pads, flips, colour adjustments, random
augmentation and image metrics, with TF 2.x semantics.

Images are 3-D (H, W, C) or 4-D batches (N, H, W, C). Everything is composed of nabi ops, so
results stay on the input's device and gradients flow where TF's do. Resizing builds small
interpolation matrices on the host with NumPy (Wy: (out_h, H), Wx: (out_w, W)) and applies them
with einsum: one pair of GEMMs per resize, differentiable on every device.

Random ops draw on the host from nabi's seeded stream (`nabi.random.set_seed`, op `seed=`);
the `stateless_random_*` ops take `seed=(a, b)` and always give the same result for the same
seed (not the same numbers as TF's Philox streams).
"""
import builtins
import functools
import math as _pymath

import numpy as np

from . import dtypes as _dt
from .framework.device import DeviceArray, current_device, host_scope, to_device
from .framework.device import backend as _dev_backend
from .framework.tensor import Tensor, _wrap
from .ops._common import t_
from .ops import array_ops as _ao
from .ops import math_ops as _mo
from .ops.linalg_ops import einsum as _einsum
from .ops.random_ops import _generator
from .ops.random_ops import stateless_stream as _stateless_stream
# TF exposes the image codecs of tf.io under tf.image as well
from .io import (decode_bmp, decode_gif, decode_image, decode_jpeg, decode_png,  # noqa: F401
                 encode_jpeg, encode_png, is_jpeg)
from .ops.image_extra_ops import (  # noqa: F401
    combined_non_max_suppression, crop_and_resize, extract_glimpse, non_max_suppression,
    non_max_suppression_overlaps, non_max_suppression_padded, non_max_suppression_with_scores,
    rgb_to_yiq, rgb_to_yuv, sobel_edges, yiq_to_rgb, yuv_to_rgb)

__all__ = [
    "ResizeMethod", "resize", "resize_with_pad", "resize_with_crop_or_pad", "central_crop",
    "crop_to_bounding_box", "pad_to_bounding_box", "flip_left_right", "flip_up_down",
    "transpose", "rot90", "random_flip_left_right", "random_flip_up_down", "random_crop",
    "random_brightness", "random_contrast", "random_saturation", "random_hue",
    "stateless_random_flip_left_right", "stateless_random_flip_up_down", "stateless_random_crop",
    "stateless_random_brightness", "stateless_random_contrast", "stateless_random_saturation",
    "stateless_random_hue", "adjust_brightness", "adjust_contrast", "adjust_gamma",
    "adjust_saturation", "adjust_hue", "rgb_to_grayscale", "grayscale_to_rgb", "rgb_to_hsv",
    "hsv_to_rgb", "convert_image_dtype", "per_image_standardization", "image_gradients",
    "total_variation", "psnr", "ssim", "ssim_multiscale", "extract_patches", "decode_bmp",
    "decode_gif", "decode_image", "decode_jpeg", "decode_png", "encode_jpeg", "encode_png",
    "is_jpeg", "draw_bounding_boxes", "adjust_jpeg_quality", "random_jpeg_quality",
    "stateless_random_jpeg_quality", "sample_distorted_bounding_box",
    "stateless_sample_distorted_bounding_box",
]
__all__ += [
    "crop_and_resize", "non_max_suppression", "non_max_suppression_with_scores",
    "non_max_suppression_padded", "non_max_suppression_overlaps", "combined_non_max_suppression",
    "sobel_edges", "rgb_to_yuv", "yuv_to_rgb", "rgb_to_yiq", "yiq_to_rgb", "extract_glimpse",
]


# ------------------------------------------------------------------------------------ helpers


def _shape(x):
    return tuple(int(d) for d in x._data.shape)


def _const_like(arr, like):
    """A host NumPy array as a Tensor on `like`'s device (its own dtype)."""
    arr = np.ascontiguousarray(arr)
    return _wrap(to_device(arr, "cuda" if type(like._data) is DeviceArray else "cpu"))


def _rank_error(op, x, name="images"):
    return ValueError(f"[{op}] {name} must be 3-D (H, W, C) or 4-D (N, H, W, C), got shape "
                      f"{_shape(x)}")


def _as_batch(op, images, name="images"):
    """(4-D tensor, was_batched): a 3-D image gets a batch axis of 1."""
    x = t_(images)
    nd = x._data.ndim
    if nd == 4:
        return x, True
    if nd == 3:
        return _ao.expand_dims(x, 0), False
    raise _rank_error(op, x, name)


def _unbatch(y, batched):
    return y if batched else _ao.squeeze(y, [0])


def _int_arg(op, name, v):
    if isinstance(v, Tensor):
        v = v.numpy()
    a = np.asarray(v)
    if a.ndim != 0 or a.dtype.kind not in "iu":
        if a.ndim == 0 and a.dtype.kind == "f" and float(a) == int(a):
            return int(a)
        raise TypeError(f"[{op}] {name} must be an integer, got {v!r}")
    return int(a)


def _float_arg(v):
    if isinstance(v, Tensor):
        v = v.numpy()
    return float(v)


def _float_operand(v, like):
    """A float Tensor argument (delta, gamma, gain) as a Tensor in like's dtype, so that a tape
    differentiates it as TF does (it casts and adds/multiplies); other values as a float."""
    if isinstance(v, Tensor) and v._data.dtype.kind == "f":
        return _mo.cast(v, like.dtype)
    return _float_arg(v)


def _floating(x):
    return x._data.dtype.kind == "f"


def _check_float(op, x, name="images"):
    if not _floating(x):
        raise TypeError(f"[{op}] {name} must be a float tensor (convert with "
                        f"tf.image.convert_image_dtype), got dtype {x._data.dtype.name} and "
                        f"shape {_shape(x)}")


def _to_float(image):
    """TF's adjust_* convention: (float image, original dtype). Float images are used as they
    are (float64 stays float64 here, TF computes it in float32), integer images go to float32
    in [0, 1] by their own dtype's range (a host uint8 array too, on the GPU)."""
    if isinstance(image, np.ndarray) and image.dtype.kind in "iu":
        return convert_image_dtype(image, _dt.float32), image.dtype
    x = t_(image)
    orig = x._data.dtype
    return (x if _floating(x) else convert_image_dtype(x, _dt.float32)), orig


def _from_float(y, orig_dtype, saturate=True):
    return convert_image_dtype(y, orig_dtype, saturate=saturate)


def _check_rgb(op, x, name="images"):
    s = _shape(x)
    if len(s) < 1 or s[-1] != 3:
        raise ValueError(f"[{op}] {name} must have 3 channels (R, G, B) in the last "
                         f"dimension, got shape {s}")


# ------------------------------------------------------------------------------ dtype convert


def convert_image_dtype(image, dtype, saturate=False, name=None):
    """Converts between image dtypes, rescaling as TF does: floats are in [0, 1], integers in
    [0, dtype.max]. Float -> int multiplies by (max + 0.5) then casts (clipping first when
    `saturate`); int -> float multiplies by 1 / max; int -> int shifts by the ratio of ranges."""
    dt = _dt.as_dtype(dtype)
    if isinstance(image, np.ndarray) and current_device() == "cuda":
        host = image
        if host.dtype.kind in "iu" and host.dtype.type not in _GPU_DTYPES:
            # a uint8 array would reach the GPU as int64 and be rescaled by int64's range:
            # convert it on the host with its own range, then place the result
            if dt._np not in _GPU_DTYPES:
                raise TypeError(f"[convert_image_dtype] dtype {dt.name} cannot live on the GPU "
                                f"(float32, float64, int32, int64); convert under "
                                f"tf.device('/CPU:0') (image shape {host.shape})")
            with host_scope():
                y = convert_image_dtype(host, dt, saturate)
            return _wrap(to_device(y._data, "cuda"))
    x = t_(image)
    src = _dt.as_dtype(x._data.dtype)
    if not (dt.is_floating or dt.is_integer):
        raise TypeError(f"[convert_image_dtype] dtype must be a floating point or integer dtype, "
                        f"got {dt.name}")
    if not (src.is_floating or src.is_integer):
        raise TypeError(f"[convert_image_dtype] image dtype must be floating point or integer, "
                        f"got {src.name} (shape {_shape(x)})")
    if dt == src:
        return _ao.identity(x)
    if type(x._data) is DeviceArray and dt._np not in _GPU_DTYPES:
        raise TypeError(f"[convert_image_dtype] dtype {dt.name} cannot live on the GPU (float32, "
                        f"float64, int32, int64); convert under tf.device('/CPU:0') or keep "
                        f"float images (image shape {_shape(x)})")
    if src.is_integer and dt.is_integer:
        scale_in, scale_out = int(src.max), int(dt.max)
        if scale_in > scale_out:
            scaled = _mo.floordiv(x, (scale_in + 1) // (scale_out + 1))
            return _mo.saturate_cast(scaled, dt) if saturate else _mo.cast(scaled, dt)
        c = _mo.saturate_cast(x, dt) if saturate else _mo.cast(x, dt)
        return _mo.multiply(c, (scale_out + 1) // (scale_in + 1))
    if src.is_floating and dt.is_floating:
        return _mo.cast(x, dt)
    if src.is_integer:
        return _mo.multiply(_mo.cast(x, dt), 1.0 / float(src.max))
    scaled = _mo.multiply(x, float(dt.max) + 0.5)
    return _mo.saturate_cast(scaled, dt) if saturate else _mo.cast(scaled, dt)


# ------------------------------------------------------------------------------------- resize


class ResizeMethod:
    """`tf.image.ResizeMethod`: the `method` names of `resize`."""
    BILINEAR = "bilinear"
    NEAREST_NEIGHBOR = "nearest"
    BICUBIC = "bicubic"
    AREA = "area"
    LANCZOS3 = "lanczos3"
    LANCZOS5 = "lanczos5"
    GAUSSIAN = "gaussian"
    MITCHELLCUBIC = "mitchellcubic"


_METHODS = ("bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5", "gaussian",
            "mitchellcubic")
_GPU_DTYPES = (np.float32, np.float64, np.int32, np.int64)
_F = np.float32  # TF computes the sampling positions in float32; so do we


def _bilinear_matrix(n_in, n_out):
    scale = _F(n_in) / _F(n_out)
    src = (np.arange(n_out, dtype=_F) + _F(0.5)) * scale - _F(0.5)
    f = np.floor(src)
    lo = np.maximum(f, 0).astype(np.int64)
    hi = np.minimum(np.ceil(src), n_in - 1).astype(np.int64)
    lerp = (src - f).astype(np.float64)
    m = np.zeros((n_out, n_in))
    rows = np.arange(n_out)
    np.add.at(m, (rows, lo), 1.0 - lerp)
    np.add.at(m, (rows, hi), lerp)
    return m


def _nearest_index(n_in, n_out):
    scale = _F(n_in) / _F(n_out)
    i = np.floor((np.arange(n_out, dtype=_F) + _F(0.5)) * scale).astype(np.int64)
    return np.clip(i, 0, n_in - 1)


def _keys_cubic(x, a=-0.5):
    x = np.abs(x)
    return np.where(x >= 2, 0.0, np.where(
        x >= 1, ((a * x - 5 * a) * x + 8 * a) * x - 4 * a, ((a + 2) * x - (a + 3)) * x * x + 1))


def _bicubic_matrix(n_in, n_out):
    """TF's resize_bicubic with half-pixel centres: Keys cubic (a = -0.5) at a sub-pixel offset
    quantised to 1/1024 (TF's coefficient table); taps outside the image get weight 0 and the
    rest are renormalised."""
    scale = _F(n_in) / _F(n_out)
    src = (np.arange(n_out, dtype=_F) + _F(0.5)) * scale - _F(0.5)
    base = np.floor(src).astype(np.int64)
    d = np.rint((src - np.floor(src)) * 1024).astype(np.float64) / 1024
    m = np.zeros((n_out, n_in))
    for o in range(n_out):
        taps = base[o] + np.arange(-1, 3)
        w = _keys_cubic(np.array([1 + d[o], d[o], 1 - d[o], 2 - d[o]]))
        ok = (taps >= 0) & (taps < n_in)
        w = np.where(ok, w, 0.0)
        s = w.sum()
        if abs(s) > 0:
            w = w / s
        for t, wt in zip(taps[ok], w[ok]):
            m[o, t] += wt
    return m


def _area_matrix(n_in, n_out):
    """TF's resize_area (no half-pixel centres): each output averages the input pixels its box
    [o * scale, (o + 1) * scale) covers, weighted by the overlap."""
    scale = _F(n_in) / _F(n_out)
    m = np.zeros((n_out, n_in))
    for o in range(n_out):
        x0 = float(_F(o) * scale)
        x1 = float(_F(o + 1) * scale)
        for i in range(int(np.floor(x0)), int(np.ceil(x1))):
            w = builtins.min(i + 1.0, x1) - builtins.max(float(i), x0)
            if w > 0:
                m[o, builtins.min(i, n_in - 1)] += w / float(scale)
    return m


def _lanczos(radius):
    def k(x):
        x = np.abs(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            v = radius * np.sin(np.pi * x) * np.sin(np.pi * x / radius) / (np.pi ** 2 * x * x)
        return np.where(x > radius, 0.0, np.where(x <= 1e-3, 1.0, v))
    return k, float(radius)


def _gaussian(x, radius=1.5, sigma=0.5):
    x = np.abs(x)
    return np.where(x >= radius, 0.0, np.exp(-x * x / (2 * sigma * sigma)))


def _mitchell(x):
    x = np.abs(x)
    return np.where(x >= 2, 0.0, np.where(
        x >= 1, (((-7.0 / 18) * x + 2) * x - 10.0 / 3) * x + 16.0 / 9,
        (((7.0 / 6) * x - 2) * x) * x + 8.0 / 9))


_KERNELS = {
    "triangle": (lambda x: np.maximum(0.0, 1.0 - np.abs(x)), 1.0),
    "keyscubic": (_keys_cubic, 2.0),
    "lanczos3": _lanczos(3),
    "lanczos5": _lanczos(5),
    "gaussian": (_gaussian, 1.5),
    "mitchellcubic": (_mitchell, 2.0),
}


def _kernel_matrix(n_in, n_out, kernel, antialias):
    """TF's scale_and_translate (translation 0): the kernel centred on each output's half-pixel
    source position, stretched by 1 / scale when downscaling with `antialias`, clipped to the
    image and renormalised."""
    fn, radius = _KERNELS[kernel]
    scale = _F(n_out) / _F(n_in)
    inv = _F(1.0) / scale
    ks = builtins.max(inv, _F(1.0)) if antialias else _F(1.0)
    reach = _F(radius) * ks
    m = np.zeros((n_out, n_in))
    for o in range(n_out):
        # positions in float32 as TF: in float64 a sample landing exactly on a tap's edge
        # (4 -> 5 pixels: 2.5 * 0.8f) drifts past it and the gaussian's cut-off tap gets weight
        sample = _F(o + 0.5) * inv
        if sample < 0 or sample > n_in:
            continue
        start = builtins.min(builtins.max(int(np.ceil(sample - reach - _F(0.5))), 0), n_in - 1)
        end = builtins.min(builtins.max(int(np.floor(sample + reach - _F(0.5))), 0),
                           n_in - 1) + 1
        src = np.arange(start, end).astype(_F)
        w = fn(np.abs((src + _F(0.5) - sample) * (_F(1.0) / ks)).astype(np.float64))
        s = w.sum()
        if abs(s) >= 1000 * np.finfo(np.float32).tiny:  # else TF leaves the row zero
            m[o, start:end] = w / s
    return m


@functools.lru_cache(maxsize=64)
def _resize_matrix(method, n_in, n_out, antialias):
    """(n_out, n_in) float32 weights, cached: a Dataset.map resizes many images alike."""
    m = _resize_matrix_uncached(method, n_in, n_out, antialias).astype(np.float32)
    m.setflags(write=False)
    return m


def _resize_matrix_uncached(method, n_in, n_out, antialias):
    if method == "bilinear":
        return _kernel_matrix(n_in, n_out, "triangle", True) if antialias else \
            _bilinear_matrix(n_in, n_out)
    if method == "bicubic":
        return _kernel_matrix(n_in, n_out, "keyscubic", True) if antialias else \
            _bicubic_matrix(n_in, n_out)
    if method == "area":
        return _area_matrix(n_in, n_out)
    return _kernel_matrix(n_in, n_out, method, antialias)


def _size_arg(op, size):
    s = size.numpy() if isinstance(size, Tensor) else size
    if isinstance(s, (list, tuple)):  # may hold scalar Tensors: (tf.shape(x)[1] // 2, 64)
        s = [v.numpy() if isinstance(v, Tensor) else v for v in s]
    a = np.asarray(s)
    if a.shape != (2,) or a.dtype.kind not in "iu":
        raise ValueError(f"[{op}] size must be a 1-D integer tensor of 2 elements "
                         f"(new_height, new_width), got {s!r}")
    h, w = int(a[0]), int(a[1])
    if h < 1 or w < 1:
        raise ValueError(f"[{op}] size must be positive, got ({h}, {w})")
    return h, w


def _method_arg(op, method):
    m = str(method).lower() if isinstance(method, str) else method
    if m not in _METHODS:
        raise ValueError(f"[{op}] resize method {method!r} is not implemented; use one of "
                         f"{list(_METHODS)} (tf.image.ResizeMethod)")
    return m


def _apply_rows_cols(x, my, mx):
    """(N, H, W, C) float32 -> (N, out_h, out_w, C): rows by my (out_h, H), columns by mx;
    an identity matrix is skipped."""
    n, h, w, c = _shape(x)
    if my is not None:
        x = _einsum("oh,nhwc->nowc", _const_like(my.astype(np.float32), x), x)
    if mx is not None:
        x = _einsum("pw,nowc->nopc", _const_like(mx.astype(np.float32), x), x)
    return x


def _resize4(op, x, h, w, method, antialias):
    n, H, W, c = _shape(x)
    if H == 0 or W == 0:
        raise ValueError(f"[{op}] cannot resize images with an empty spatial dimension, got "
                         f"shape {_shape(x)}")
    if h < 1 or w < 1:  # resize_with_pad of a tall image into a flat box: TF raises too
        raise ValueError(f"[{op}] output dimensions must be positive, got ({h}, {w}) for "
                         f"images of shape {_shape(x)}")
    if method == "nearest":
        if H != h:
            x = _ao.gather(x, _const_like(_nearest_index(H, h), x), axis=1)
        if W != w:
            x = _ao.gather(x, _const_like(_nearest_index(W, w), x), axis=2)
        return x if (H != h or W != w) else _ao.identity(x)
    x = _mo.cast(x, _dt.float32)
    my = _resize_matrix(method, H, h, antialias)
    mx = _resize_matrix(method, W, w, antialias)
    my = None if my.shape[0] == my.shape[1] and np.array_equal(my, np.eye(H)) else my
    mx = None if mx.shape[0] == mx.shape[1] and np.array_equal(mx, np.eye(W)) else mx
    y = _apply_rows_cols(x, my, mx)
    return y if y is not x else _ao.identity(y)


def resize(images, size, method=ResizeMethod.BILINEAR, preserve_aspect_ratio=False,
           antialias=False, name=None):
    """`tf.image.resize` (TF2): half-pixel centres; float32 output except for 'nearest',
    which keeps the dtype. `antialias` widens the bilinear/bicubic (and lanczos, gaussian,
    mitchellcubic) filter when downscaling; 'nearest' and 'area' ignore it, as in TF.
    `preserve_aspect_ratio` scales both sides by the smaller ratio and fits inside `size`."""
    op = "resize"
    x, batched = _as_batch(op, images)
    h, w = _size_arg(op, size)
    method = _method_arg(op, method)
    _, H, W, _ = _shape(x)
    if preserve_aspect_ratio:
        h0, w0 = h, w
        f = builtins.min(_F(h) / _F(H), _F(w) / _F(W))
        h = int(np.round(_F(f) * _F(H)))
        w = int(np.round(_F(f) * _F(W)))
        if h < 1 or w < 1:  # TF: "output dimensions must be positive"
            raise ValueError(f"[{op}] preserve_aspect_ratio scales images of shape {_shape(x)} "
                             f"to ({h}, {w}) to fit size {(h0, w0)}: output dimensions must be "
                             f"positive")
    return _unbatch(_resize4(op, x, h, w, method, bool(antialias)), batched)


def resize_with_pad(image, target_height, target_width, method=ResizeMethod.BILINEAR,
                    antialias=False):
    """Resizes to fit inside (target_height, target_width) keeping the aspect ratio, then pads
    with zeros to the target, centred (TF2: float32 output)."""
    op = "resize_with_pad"
    x, batched = _as_batch(op, image, "image")
    th = _int_arg(op, "target_height", target_height)
    tw = _int_arg(op, "target_width", target_width)
    if th <= 0 or tw <= 0:
        raise ValueError(f"[{op}] target_height and target_width must be > 0, got "
                         f"({th}, {tw})")
    method = _method_arg(op, method)
    _, H, W, _ = _shape(x)
    fh, fw, fth, ftw = _F(H), _F(W), _F(th), _F(tw)
    ratio = builtins.max(fw / ftw, fh / fth)
    rh, rw = fh / ratio, fw / ratio
    ph = builtins.max(0, int(np.floor((fth - rh) / _F(2))))
    pw = builtins.max(0, int(np.floor((ftw - rw) / _F(2))))
    y = _resize4(op, x, int(np.floor(rh)), int(np.floor(rw)), method, bool(antialias))
    y = _pad4(op, y, ph, pw, th, tw)
    return _unbatch(y, batched)


def _crop4(op, x, oh, ow, th, tw):
    _, H, W, _ = _shape(x)
    if oh < 0 or ow < 0:
        raise ValueError(f"[{op}] offset_height and offset_width must be >= 0, got "
                         f"({oh}, {ow})")
    if th <= 0 or tw <= 0:
        raise ValueError(f"[{op}] target_height and target_width must be > 0, got ({th}, {tw})")
    if H < oh + th or W < ow + tw:
        raise ValueError(f"[{op}] the box (offset ({oh}, {ow}), size ({th}, {tw})) does not fit "
                         f"in images of height {H} and width {W} (height must be >= target + "
                         f"offset, width too)")
    return x[:, oh:oh + th, ow:ow + tw, :]


def _pad4(op, x, oh, ow, th, tw):
    _, H, W, _ = _shape(x)
    if oh < 0 or ow < 0:
        raise ValueError(f"[{op}] offset_height and offset_width must be >= 0, got ({oh}, {ow})")
    after_h, after_w = th - oh - H, tw - ow - W
    if after_h < 0 or after_w < 0:
        raise ValueError(f"[{op}] images of height {H} and width {W} at offset ({oh}, {ow}) do "
                         f"not fit in the target ({th}, {tw}) (height must be <= target - "
                         f"offset, width too)")
    if oh == 0 and ow == 0 and after_h == 0 and after_w == 0:
        return x
    return _ao.pad(x, [[0, 0], [oh, after_h], [ow, after_w], [0, 0]])


def crop_to_bounding_box(image, offset_height, offset_width, target_height, target_width):
    """The (target_height, target_width) window whose top-left corner is at the offsets."""
    op = "crop_to_bounding_box"
    x, batched = _as_batch(op, image, "image")
    y = _crop4(op, x, _int_arg(op, "offset_height", offset_height),
               _int_arg(op, "offset_width", offset_width),
               _int_arg(op, "target_height", target_height),
               _int_arg(op, "target_width", target_width))
    return _unbatch(y, batched)


def pad_to_bounding_box(image, offset_height, offset_width, target_height, target_width):
    """Zero-pads to (target_height, target_width) with the image's top-left at the offsets."""
    op = "pad_to_bounding_box"
    x, batched = _as_batch(op, image, "image")
    y = _pad4(op, x, _int_arg(op, "offset_height", offset_height),
              _int_arg(op, "offset_width", offset_width),
              _int_arg(op, "target_height", target_height),
              _int_arg(op, "target_width", target_width))
    return _unbatch(y, batched)


def resize_with_crop_or_pad(image, target_height, target_width):
    """Centrally crops and/or zero-pads each spatial dimension to the target."""
    op = "resize_with_crop_or_pad"
    x, batched = _as_batch(op, image, "image")
    th = _int_arg(op, "target_height", target_height)
    tw = _int_arg(op, "target_width", target_width)
    if th <= 0 or tw <= 0:
        raise ValueError(f"[{op}] target_height and target_width must be > 0, got ({th}, {tw})")
    _, H, W, _ = _shape(x)
    dh, dw = th - H, tw - W
    y = _crop4(op, x, builtins.max(-dh // 2, 0), builtins.max(-dw // 2, 0),
               builtins.min(th, H), builtins.min(tw, W))
    y = _pad4(op, y, builtins.max(dh // 2, 0), builtins.max(dw // 2, 0), th, tw)
    return _unbatch(y, batched)


def central_crop(image, central_fraction):
    """The central `central_fraction` (in (0, 1]) of each spatial dimension."""
    op = "central_crop"
    x, batched = _as_batch(op, image, "image")
    f = _float_arg(central_fraction)
    if not 0.0 < f <= 1.0:
        raise ValueError(f"[{op}] central_fraction must be within (0, 1], got {f}")
    if f == 1.0:
        return t_(image)
    _, H, W, _ = _shape(x)
    h0 = int((float(H) - float(H) * f) / 2)
    w0 = int((float(W) - float(W) * f) / 2)
    return _unbatch(x[:, h0:H - h0, w0:W - w0, :], batched)


# -------------------------------------------------------------------------------------- flips


def _check_image(op, image, name="image"):
    x = t_(image)
    if x._data.ndim not in (3, 4):
        raise _rank_error(op, x, name)
    return x


def flip_left_right(image):
    """Mirrors the width axis."""
    return _ao.reverse(_check_image("flip_left_right", image), [-2])


def flip_up_down(image):
    """Mirrors the height axis."""
    return _ao.reverse(_check_image("flip_up_down", image), [-3])


def transpose(image, name=None):
    """Swaps height and width."""
    x = _check_image("transpose", image)
    return _ao.transpose(x, [1, 0, 2] if x._data.ndim == 3 else [0, 2, 1, 3])


def rot90(image, k=1, name=None):
    """Rotates by k * 90 degrees counter-clockwise."""
    x = _check_image("rot90", image)
    k = _int_arg("rot90", "k", k) % 4
    h, w = x._data.ndim - 3, x._data.ndim - 2
    perm = list(range(x._data.ndim))
    perm[h], perm[w] = w, h
    if k == 0:
        return _ao.identity(x)
    if k == 1:
        return _ao.transpose(_ao.reverse(x, [w]), perm)
    if k == 2:
        return _ao.reverse(x, [h, w])
    return _ao.reverse(_ao.transpose(x, perm), [w])


# ------------------------------------------------------------------------------------- random


class _StatelessRng:
    """The draws of tf.image's stateless_random_* ops: TF's stateless_uniform numbers for
    the seed (one call per op, shaped as TF's), with the NumPy Generator methods used here.
    The seed is a host value (TF keeps a stateless op's seed in host memory; a GPU seed
    tensor is read once, as there) and the Philox draws are host arithmetic on it, so they
    stay on the host (host_scope): nothing is uploaded and read back (was 4-8 bytes a call
    on the GPU). The images themselves stay on their device."""

    def __init__(self, op, seed):
        self._g = _stateless_stream(op, seed)

    def _draw(self, *args, **kw):
        with host_scope():
            return self._g.uniform(*args, **kw).numpy()

    def random(self, size=None, dtype=np.float32):
        r = self._draw([] if size is None else [size])
        return r if size is not None else np.float32(r)

    def integers(self, lo, hi):
        return int(self._draw([], lo, hi, dtype=_dt.int32))

    def uniform(self, lo, hi):       # float32 arithmetic, as TF's minval + r * (max - min)
        return float(self._draw([], lo, hi))

    def crop_offsets(self, limits):  # TF: uniform int32 [0, int32 max) per axis % limit
        r = self._draw([len(limits)], 0, 2**31 - 1, dtype=_dt.int32)
        return [int(v) % lim for v, lim in zip(r, limits)]


def _stateless_rng(op, seed):
    return _StatelessRng(op, seed)


def _random_flip(op, image, axis, rng):
    """TF's rule: one image flips when its draw is < 0.5, an image of a batch when its
    draw rounds to 1 (> 0.5)."""
    x = _check_image(op, image)
    flipped = _ao.reverse(x, [axis])
    if x._data.ndim == 3:
        return flipped if rng.random(dtype=np.float32) < 0.5 else _ao.identity(x)
    n = _shape(x)[0]
    mask = (np.round(rng.random(n, dtype=np.float32)) == 1).reshape(n, 1, 1, 1)
    return _ao.where(_const_like(np.broadcast_to(mask, _shape(x)), x), flipped, x)


def random_flip_left_right(image, seed=None):
    """Mirrors the width axis with probability 1/2 (each image of a batch on its own)."""
    return _random_flip("random_flip_left_right", image, -2, _generator(seed, True))


def random_flip_up_down(image, seed=None):
    """Mirrors the height axis with probability 1/2 (each image of a batch on its own)."""
    return _random_flip("random_flip_up_down", image, -3, _generator(seed, True))


def stateless_random_flip_left_right(image, seed):
    op = "stateless_random_flip_left_right"
    return _random_flip(op, image, -2, _stateless_rng(op, seed))


def stateless_random_flip_up_down(image, seed):
    op = "stateless_random_flip_up_down"
    return _random_flip(op, image, -3, _stateless_rng(op, seed))


def _random_crop(op, value, size, rng):
    x = t_(value)
    shp = _shape(x)
    s = size.numpy() if isinstance(size, Tensor) else size
    sz = np.asarray(s)
    if sz.shape != (len(shp),) or sz.dtype.kind not in "iu":
        raise ValueError(f"[{op}] size must be a 1-D integer tensor with one entry per "
                         f"dimension of value (rank {len(shp)}), got {s!r}")
    sz = [int(v) for v in sz]
    if any(v < 0 or v > d for v, d in zip(sz, shp)):
        raise ValueError(f"[{op}] need value.shape >= size, got value shape {shp} and size "
                         f"{sz}")
    if isinstance(rng, _StatelessRng):
        off = rng.crop_offsets([d - v + 1 for v, d in zip(sz, shp)])
    else:
        off = [int(rng.integers(0, d - v + 1)) for v, d in zip(sz, shp)]
    return x[tuple(builtins.slice(o, o + v) for o, v in zip(off, sz))]


def random_crop(value, size, seed=None, name=None):
    """A random window of shape `size` (one entry per dimension of `value`)."""
    return _random_crop("random_crop", value, size, _generator(seed, True))


def stateless_random_crop(value, size, seed, name=None):
    op = "stateless_random_crop"
    return _random_crop(op, value, size, _stateless_rng(op, seed))


def _check_range(op, lower, upper):
    lower, upper = _float_arg(lower), _float_arg(upper)
    if upper <= lower:
        raise ValueError(f"[{op}] upper must be > lower, got lower={lower}, upper={upper}")
    if lower < 0:
        raise ValueError(f"[{op}] lower must be non-negative, got lower={lower}")
    return lower, upper


def _check_delta(op, max_delta, limit=None):
    d = _float_arg(max_delta)
    if d < 0:
        raise ValueError(f"[{op}] max_delta must be non-negative, got {d}")
    if limit is not None and d > limit:
        raise ValueError(f"[{op}] max_delta must be <= {limit}, got {d}")
    return d


def _uniform(rng, lo, hi):
    if isinstance(rng, _StatelessRng):
        return rng.uniform(lo, hi)
    return float(np.float32(lo + (hi - lo) * rng.random(dtype=np.float32)))


def random_brightness(image, max_delta, seed=None):
    """adjust_brightness by one delta drawn from [-max_delta, max_delta)."""
    d = _check_delta("random_brightness", max_delta)
    return adjust_brightness(image, _uniform(_generator(seed, True), -d, d))


def random_contrast(image, lower, upper, seed=None):
    """adjust_contrast by one factor drawn from [lower, upper)."""
    lo, hi = _check_range("random_contrast", lower, upper)
    return adjust_contrast(image, _uniform(_generator(seed, True), lo, hi))


def random_saturation(image, lower, upper, seed=None):
    """adjust_saturation by one factor drawn from [lower, upper)."""
    lo, hi = _check_range("random_saturation", lower, upper)
    return adjust_saturation(image, _uniform(_generator(seed, True), lo, hi))


def random_hue(image, max_delta, seed=None):
    """adjust_hue by one delta drawn from [-max_delta, max_delta); max_delta <= 0.5."""
    d = _check_delta("random_hue", max_delta, 0.5)
    return adjust_hue(image, _uniform(_generator(seed, True), -d, d))


def stateless_random_brightness(image, max_delta, seed):
    op = "stateless_random_brightness"
    d = _check_delta(op, max_delta)
    return adjust_brightness(image, _uniform(_stateless_rng(op, seed), -d, d))


def stateless_random_contrast(image, lower, upper, seed):
    op = "stateless_random_contrast"
    lo, hi = _check_range(op, lower, upper)
    return adjust_contrast(image, _uniform(_stateless_rng(op, seed), lo, hi))


def stateless_random_saturation(image, lower, upper, seed=None):
    op = "stateless_random_saturation"
    lo, hi = _check_range(op, lower, upper)
    return adjust_saturation(image, _uniform(_stateless_rng(op, seed), lo, hi))


def stateless_random_hue(image, max_delta, seed):
    op = "stateless_random_hue"
    d = _check_delta(op, max_delta, 0.5)
    return adjust_hue(image, _uniform(_stateless_rng(op, seed), -d, d))


# ----------------------------------------------------------------------------- colour adjusts


def adjust_brightness(image, delta):
    """image + delta (integer images: in [0, 1] floats, then back with saturation)."""
    f, orig = _to_float(image)
    y = _mo.add(f, _float_operand(delta, f))
    return _from_float(y, orig)


def adjust_contrast(images, contrast_factor):
    """(x - mean) * contrast_factor + mean, with the mean per image and channel over (H, W)."""
    op = "adjust_contrast"
    f, orig = _to_float(images)
    if f._data.ndim < 3:
        raise ValueError(f"[{op}] images must be at least 3-D (..., H, W, C), got shape "
                         f"{_shape(f)}")
    mean = _mo.reduce_mean(f, axis=[-3, -2], keepdims=True)
    y = _mo.add(_mo.multiply(_mo.subtract(f, mean), _float_arg(contrast_factor)), mean)
    return _from_float(y, orig)


def adjust_gamma(image, gamma=1, gain=1):
    """gain * image ** gamma (integer images: on [0, 1] floats)."""
    g = _float_arg(gamma)
    if g < 0:
        raise ValueError(f"[adjust_gamma] gamma should be a non-negative real number, got {g}")
    f, orig = _to_float(image)
    y = _mo.multiply(_mo.pow(f, _float_operand(gamma, f)), _float_operand(gain, f))
    return _from_float(y, orig)


def rgb_to_hsv(images, name=None):
    """RGB in [0, 1] -> HSV with hue in [0, 1) (float images, last dimension 3)."""
    op = "rgb_to_hsv"
    x = t_(images)
    _check_float(op, x)
    _check_rgb(op, x)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    v = _mo.maximum(_mo.maximum(r, g), b)
    rng = _mo.subtract(v, _mo.minimum(_mo.minimum(r, g), b))
    s = _ao.where(v > 0, rng / _ao.where(v > 0, v, 1.0), 0.0)
    has = rng > 0
    norm = 1.0 / (_ao.where(has, rng, 1.0) * 6.0)
    h = _ao.where(_mo.equal(r, v), (g - b) * norm,
                  _ao.where(_mo.equal(g, v), (b - r) * norm + 2.0 / 6, (r - g) * norm + 4.0 / 6))
    h = _ao.where(has, h, 0.0)
    h = _ao.where(h < 0, h + 1.0, h)
    return _ao.stack([h, s, v], axis=-1)


def _hsv_to_rgb(h, s, v):
    dh = h * 6.0
    dr = _mo.clip_by_value(_mo.abs(dh - 3.0) - 1.0, 0.0, 1.0)
    dg = _mo.clip_by_value(2.0 - _mo.abs(dh - 2.0), 0.0, 1.0)
    db = _mo.clip_by_value(2.0 - _mo.abs(dh - 4.0), 0.0, 1.0)
    oms = 1.0 - s
    return _ao.stack([v * (oms + s * dr), v * (oms + s * dg), v * (oms + s * db)], axis=-1)


def hsv_to_rgb(images, name=None):
    """HSV (hue in [0, 1]) -> RGB (float images, last dimension 3)."""
    op = "hsv_to_rgb"
    x = t_(images)
    _check_float(op, x)
    _check_rgb(op, x)
    return _hsv_to_rgb(x[..., 0], x[..., 1], x[..., 2])


def adjust_saturation(image, saturation_factor, name=None):
    """Scales the HSV saturation by the factor (clipped to [0, 1])."""
    op = "adjust_saturation"
    f, orig = _to_float(image)
    _check_rgb(op, f, "image")
    hsv = rgb_to_hsv(f)
    s = _mo.clip_by_value(hsv[..., 1] * _float_arg(saturation_factor), 0.0, 1.0)
    return _from_float(_hsv_to_rgb(hsv[..., 0], s, hsv[..., 2]), orig, saturate=False)


def adjust_hue(image, delta, name=None):
    """Rotates the HSV hue by `delta` (a fraction of the colour circle, wrapped to [0, 1))."""
    op = "adjust_hue"
    f, orig = _to_float(image)
    _check_rgb(op, f, "image")
    hsv = rgb_to_hsv(f)
    h = hsv[..., 0] + _float_arg(delta)
    h = h - _mo.floor(h)
    return _from_float(_hsv_to_rgb(h, hsv[..., 1], hsv[..., 2]), orig, saturate=False)


def rgb_to_grayscale(images, name=None):
    """Luma 0.2989 R + 0.5870 G + 0.1140 B, keeping a last dimension of 1 and the dtype."""
    op = "rgb_to_grayscale"
    if isinstance(images, np.ndarray):
        orig = images.dtype  # a uint8 array keeps its dtype's range even on the GPU
    else:
        images = t_(images)
        orig = images._data.dtype
    f = convert_image_dtype(images, _dt.float32)
    _check_rgb(op, f)
    wts = _const_like(np.array([0.2989, 0.5870, 0.1140], np.float32), f)
    gray = _ao.expand_dims(_mo.tensordot(f, wts, [[-1], [0]]), -1)
    return convert_image_dtype(gray, orig)


def grayscale_to_rgb(images, name=None):
    """Repeats the single channel three times."""
    x = t_(images)
    s = _shape(x)
    if len(s) < 2 or s[-1] != 1:
        raise ValueError(f"[grayscale_to_rgb] images must be at least 2-D with a last dimension "
                         f"of 1, got shape {s}")
    return _ao.concat([x, x, x], axis=-1)


def per_image_standardization(image):
    """(x - mean) / max(stddev, 1 / sqrt(num_pixels)) per image over (H, W, C), in float32:
    every dtype (integers, float16 and float64 as TF 2.x) is cast to float32 first."""
    op = "per_image_standardization"
    x = t_(image)
    if x._data.ndim < 3:
        raise ValueError(f"[{op}] image must be at least 3-D (..., H, W, C), got shape "
                         f"{_shape(x)}")
    if x._data.dtype != np.float32:
        x = _mo.cast(x, _dt.float32)
    n = int(np.prod(_shape(x)[-3:]))
    mean = _mo.reduce_mean(x, axis=[-3, -2, -1], keepdims=True)
    std = _mo.reduce_std(x, axis=[-3, -2, -1], keepdims=True)
    adj = _mo.maximum(std, 1.0 / _pymath.sqrt(n))
    return _mo.divide(_mo.subtract(x, mean), adj)


# ------------------------------------------------------------------------------------ metrics


def image_gradients(image):
    """(dy, dx): forward differences along height and width of a 4-D batch, zero in the last
    row (dy) and column (dx)."""
    x = t_(image)
    if x._data.ndim != 4:
        raise ValueError(f"[image_gradients] image must be 4-D (N, H, W, C), got shape "
                         f"{_shape(x)}")
    dy = x[:, 1:, :, :] - x[:, :-1, :, :]
    dx = x[:, :, 1:, :] - x[:, :, :-1, :]
    return (_ao.pad(dy, [[0, 0], [0, 1], [0, 0], [0, 0]]),
            _ao.pad(dx, [[0, 0], [0, 0], [0, 1], [0, 0]]))


def total_variation(images, name=None):
    """Sum of absolute differences of neighbouring pixels: a scalar for a 3-D image, one value
    per image for a 4-D batch."""
    src = images.dtype if isinstance(images, np.ndarray) else None  # uint8 becomes int64 on GPU
    x = t_(images)
    nd = x._data.ndim
    if (src if src is not None else x._data.dtype).kind in "ub":
        # TF has no Abs kernel for them (InvalidArgumentError); uint8 differences would wrap
        raise TypeError(f"[total_variation] images must be a signed or float dtype, got "
                        f"{x._data.dtype.name} of shape {_shape(x)} (cast or "
                        f"tf.image.convert_image_dtype first)")
    if nd == 3:
        d1 = x[1:, :, :] - x[:-1, :, :]
        d2 = x[:, 1:, :] - x[:, :-1, :]
        axis = None
    elif nd == 4:
        d1 = x[:, 1:, :, :] - x[:, :-1, :, :]
        d2 = x[:, :, 1:, :] - x[:, :, :-1, :]
        axis = [1, 2, 3]
    else:
        raise _rank_error("total_variation", x)
    return _mo.reduce_sum(_mo.abs(d1), axis=axis) + _mo.reduce_sum(_mo.abs(d2), axis=axis)


def _same_shapes(op, a, b):
    """(a, b) broadcast to one shape: TF wants equal (H, W, C) and leading (batch) dims that
    broadcast, e.g. a batch against one reference image of batch 1."""
    sa, sb = _shape(a), _shape(b)
    try:
        lead = np.broadcast_shapes(sa[:-3], sb[:-3])
    except ValueError:
        lead = None
    if len(sa) < 3 or len(sb) < 3 or sa[-3:] != sb[-3:] or lead is None:
        raise ValueError(f"[{op}] the two images must have the same shape in (H, W, C) and "
                         f"leading dimensions that broadcast, at least 3-D (..., H, W, C), got "
                         f"{sa} and {sb}")
    full = tuple(lead) + sa[-3:]
    return (a if sa == full else _ao.broadcast_to(a, full),
            b if sb == full else _ao.broadcast_to(b, full))


def _max_val(max_val, like_dtype):
    """max_val in the images' dtype, then on the float32 [0, 1]-style scale as the images.
    A float Tensor for float images stays a float32 Tensor: TF differentiates it."""
    dt = _dt.as_dtype(like_dtype)
    if isinstance(max_val, Tensor) and max_val.dtype.is_floating and not dt.is_integer:
        return _mo.cast(max_val, _dt.float32)
    mv = np.asarray(max_val.numpy() if isinstance(max_val, Tensor) else max_val)
    mv = mv.astype(dt._np)
    return float(mv) / float(dt.max) if dt.is_integer else float(mv)


def _float_pair(op, img1, img2, max_val):
    """Both images as float32 on TF's [0, 1] scale, broadcast to one shape, and max_val on
    that scale. A NumPy uint8 image keeps its own range on the GPU too (where it would
    otherwise arrive as int64)."""
    src = img1.dtype if isinstance(img1, np.ndarray) else t_(img1)._data.dtype
    fa = convert_image_dtype(img1, _dt.float32)
    fb = convert_image_dtype(img2, _dt.float32)
    fa, fb = _same_shapes(op, fa, fb)
    return fa, fb, _max_val(max_val, src)


def psnr(a, b, max_val, name=None):
    """Peak signal-to-noise ratio per image: 20 log10(max_val) - 10 log10(mse), float32."""
    op = "psnr"
    fa, fb, mv = _float_pair(op, a, b, max_val)
    mse = _mo.reduce_mean(_mo.squared_difference(fa, fb), axis=[-3, -2, -1])
    peak = _mo.log(mv) * (20.0 / _pymath.log(10.0)) if isinstance(mv, Tensor) \
        else 20.0 * _pymath.log(mv) / _pymath.log(10.0)
    return _mo.subtract(peak,
                        _mo.multiply(_mo.log(mse), float(np.float32(10 / np.log(10)))))


def _valid_filter_matrix(n_in, taps):
    k = len(taps)
    m = np.zeros((n_in - k + 1, n_in))
    for o in range(n_in - k + 1):
        m[o, o:o + k] = taps
    return m


def _ssim_maps(x, y, mv, fs, sigma, k1, k2):
    """(ssim map, contrast-structure map) of (N, H, W, C) float32 images over the valid region
    of a (fs, fs) Gaussian window, each (N, H - fs + 1, W - fs + 1, C)."""
    _, h, w, _ = _shape(x)
    coords = np.arange(fs, dtype=np.float64) - (fs - 1) / 2.0
    g = np.exp(-0.5 * coords * coords / (sigma * sigma))
    g /= g.sum()  # TF's softmax of the 2-D exponent = the outer product of these
    my = _valid_filter_matrix(h, g)
    mx = _valid_filter_matrix(w, g)

    def reducer(t):
        return _apply_rows_cols(t, my, mx)
    c1 = (k1 * mv) ** 2
    c2 = (k2 * mv) ** 2
    mean0, mean1 = reducer(x), reducer(y)
    num0 = mean0 * mean1 * 2.0
    den0 = _mo.square(mean0) + _mo.square(mean1)
    luminance = (num0 + c1) / (den0 + c1)
    num1 = reducer(x * y) * 2.0
    den1 = reducer(_mo.square(x) + _mo.square(y))
    cs = (num1 - num0 + c2) / (den1 - den0 + c2)
    return luminance * cs, cs


def _ssim_inputs(op, img1, img2, max_val, filter_size):
    """Both images broadcast, as (N, H, W, C) float32, with their leading shape, max_val on
    the float scale and the filter size."""
    a, b, mv = _float_pair(op, img1, img2, max_val)
    s = _shape(a)
    fs = _int_arg(op, "filter_size", filter_size)
    x = _ao.reshape(a, (-1,) + s[-3:])
    y = _ao.reshape(b, (-1,) + s[-3:])
    return x, y, s[:-3], mv, fs


def _check_filter_fits(op, x, fs, note=""):
    s = _shape(x)
    if s[-3] < fs or s[-2] < fs:
        raise ValueError(f"[{op}] images must be at least filter_size={fs} in height and "
                         f"width{note}, got shape {s}")


def ssim(img1, img2, max_val, filter_size=11, filter_sigma=1.5, k1=0.01, k2=0.03,
         return_index_map=False):
    """Structural similarity per image (TF's): an 11x11 Gaussian window (sigma 1.5) over the
    valid region, averaged over positions and channels; float32. Leading (batch) dims
    broadcast."""
    op = "ssim"
    x, y, lead, mv, fs = _ssim_inputs(op, img1, img2, max_val, filter_size)
    _check_filter_fits(op, x, fs)
    smap, _ = _ssim_maps(x, y, mv, fs, _float_arg(filter_sigma), k1, k2)
    if return_index_map:
        out = _mo.reduce_mean(smap, axis=[-1])
        return _ao.reshape(out, lead + _shape(out)[1:])
    out = _mo.reduce_mean(smap, axis=[-3, -2, -1])
    return _ao.reshape(out, lead)


_MSSSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def _halve(x):
    """TF's MS-SSIM downscale: an odd height or width first gets its last row / column
    repeated (SYMMETRIC padding by the remainder), then 2x2 average pooling."""
    n, h, w, c = _shape(x)
    if h % 2:
        x = _ao.concat([x, x[:, -1:, :, :]], axis=1)
    if w % 2:
        x = _ao.concat([x, x[:, :, -1:, :]], axis=2)
    h, w = (h + 1) // 2, (w + 1) // 2
    return _mo.reduce_mean(_ao.reshape(x, (n, h, 2, w, 2, c)), axis=[2, 4])


def ssim_multiscale(img1, img2, max_val, power_factors=_MSSSIM_WEIGHTS, filter_size=11,
                    filter_sigma=1.5, k1=0.01, k2=0.03):
    """TF's MS-SSIM per image: at each of len(power_factors) scales (halved by 2x2 average
    pooling) the mean contrast-structure term per channel, the SSIM itself at the last scale,
    each clipped at 0 and raised to its power factor, multiplied, then averaged over the
    channels; float32. The image must hold the filter at the smallest scale (176 x 176 for
    the defaults)."""
    op = "ssim_multiscale"
    x, y, lead, mv, fs = _ssim_inputs(op, img1, img2, max_val, filter_size)
    pf = [float(v) for v in np.asarray(power_factors.numpy() if isinstance(power_factors, Tensor)
                                       else power_factors, np.float64).reshape(-1)]
    if not pf:
        raise ValueError(f"[{op}] power_factors must not be empty")
    sigma = _float_arg(filter_sigma)
    terms = []
    for k in range(len(pf)):
        if k > 0:
            x, y = _halve(x), _halve(y)
        _check_filter_fits(op, x, fs, f" at scale {k} (halved {k} times)")
        smap, cs = _ssim_maps(x, y, mv, fs, sigma, k1, k2)
        last = k == len(pf) - 1
        per_channel = _mo.reduce_mean(smap if last else cs, axis=[1, 2])   # (N, C)
        terms.append(_mo.pow(_mo.maximum(per_channel, 0.0), pf[k]))
    ms = terms[0]
    for t in terms[1:]:
        ms = ms * t
    return _ao.reshape(_mo.reduce_mean(ms, axis=[-1]), lead)


def adjust_jpeg_quality(image, jpeg_quality, dct_method="", name=None):
    """The image after a JPEG round trip at `jpeg_quality` (0-100), in its own dtype (TF's:
    convert to uint8 with saturation, encode, decode with the same channels, convert back).
    A 3-D (H, W, C) image with C 1 or 3. Decoding is libjpeg's accurate integer IDCT (TF's
    dct_method='INTEGER_ACCURATE'); TF's default 'INTEGER_FAST' can differ by a few levels."""
    from .io import decode_jpeg as _dec, encode_jpeg as _enc
    op = "adjust_jpeg_quality"
    src = image.dtype if isinstance(image, np.ndarray) else None
    x = t_(image)
    s = _shape(x)
    if len(s) != 3 or s[-1] not in (1, 3):
        raise ValueError(f"[{op}] image must be 3-D (H, W, C) with 1 or 3 channels, got "
                         f"shape {s}")
    q = _int_arg(op, "jpeg_quality", jpeg_quality)
    if not 0 <= q <= 100:
        raise ValueError(f"[{op}] jpeg_quality must be in [0, 100], got {q}")
    orig = src if src is not None else x._data.dtype
    with host_scope():
        u8 = convert_image_dtype(image if src is not None else x.numpy(), _dt.uint8,
                                 saturate=True)
        back = _dec(_enc(u8, quality=q), channels=s[-1])
        y = convert_image_dtype(back, orig, saturate=True).numpy()
    if y.dtype.type not in _GPU_DTYPES:  # uint8 stays a host tensor, as the decoders' output
        return _wrap(np.ascontiguousarray(y))
    return _const_like(y, x)


def _jpeg_quality_range(op, lo, hi):
    lo, hi = _int_arg(op, "min_jpeg_quality", lo), _int_arg(op, "max_jpeg_quality", hi)
    if not (0 <= lo <= 100 and 0 <= hi <= 100):
        raise ValueError(f"[{op}] jpeg encoding range must be between 0 and 100, got "
                         f"[{lo}, {hi})")
    if lo >= hi:
        raise ValueError(f"[{op}] min_jpeg_quality must be less than max_jpeg_quality, got "
                         f"{lo} and {hi}")
    return lo, hi


def random_jpeg_quality(image, min_jpeg_quality, max_jpeg_quality, seed=None):
    """adjust_jpeg_quality at one quality drawn from [min_jpeg_quality, max_jpeg_quality)."""
    op = "random_jpeg_quality"
    lo, hi = _jpeg_quality_range(op, min_jpeg_quality, max_jpeg_quality)
    return adjust_jpeg_quality(image, int(_generator(seed, True).integers(lo, hi)))


def stateless_random_jpeg_quality(image, min_jpeg_quality, max_jpeg_quality, seed):
    op = "stateless_random_jpeg_quality"
    lo, hi = _jpeg_quality_range(op, min_jpeg_quality, max_jpeg_quality)
    return adjust_jpeg_quality(image, int(_stateless_rng(op, seed).integers(lo, hi)))


# ------------------------------------------------------------------ distorted bounding box


def _random_crop_rect(rng, w, h, area_lo, area_hi, aspect):
    """TF's GenerateRandomCrop: a (x, y, width, height) crop of relative area in
    [area_lo, area_hi] with width = round(height * aspect), or None."""
    if area_hi <= 0 or aspect <= 0 or w <= 0 or h <= 0 or area_lo > area_hi:
        return None
    a32 = np.float32(aspect)
    min_area = np.float32(area_lo) * np.float32(w) * np.float32(h)
    max_area = np.float32(area_hi) * np.float32(w) * np.float32(h)
    ch = int(np.rint(np.sqrt(min_area / a32)))
    max_h = int(np.rint(np.sqrt(max_area / a32)))
    if int(np.rint(np.float32(max_h) * a32)) > w:
        max_h = int((w + 0.5 - 1e-7) / a32)
    max_h = builtins.min(max_h, h)
    ch = builtins.min(ch, max_h)
    if ch < max_h:
        ch += int(rng.integers(0, max_h - ch + 1))
    cw = int(np.rint(np.float32(ch) * a32))
    area = np.float32(cw * ch)
    if area < min_area:
        ch += 1
        cw = int(np.rint(np.float32(ch) * a32))
        area = np.float32(cw * ch)
    if area > max_area:
        ch -= 1
        cw = int(np.rint(np.float32(ch) * a32))
        area = np.float32(cw * ch)
    if area < min_area or area > max_area or cw > w or ch > h or cw <= 0 or ch <= 0:
        return None
    y = int(rng.integers(0, h - ch)) if ch < h else 0
    x = int(rng.integers(0, w - cw)) if cw < w else 0
    return x, y, cw, ch


def _covers(crop, rects, min_covered):
    """TF's SatisfiesOverlapConstraints: the crop holds at least 1 pixel and covers at least
    min_covered of one box of at least 1 pixel."""
    x, y, cw, ch = crop
    if cw * ch < 1:
        return False
    for x0, y0, x1, y1 in rects:
        area = (x1 - x0) * (y1 - y0)
        if area < 1:
            continue
        iw = builtins.max(0, builtins.min(x + cw, x1) - builtins.max(x, x0))
        ih = builtins.max(0, builtins.min(y + ch, y1) - builtins.max(y, y0))
        if np.float32(iw * ih) / np.float32(area) >= np.float32(min_covered):
            return True
    return False


def _sample_distorted(op, rng, image_size, bounding_boxes, min_object_covered,
                      aspect_ratio_range, area_range, max_attempts,
                      use_image_if_no_bounding_boxes):
    size = np.asarray(image_size.numpy() if isinstance(image_size, Tensor) else image_size)
    if size.shape != (3,) or size.dtype.kind not in "iu":
        raise ValueError(f"[{op}] image_size must be a 1-D integer tensor [height, width, "
                         f"channels], got {image_size!r}")
    h, w = int(size[0]), int(size[1])
    if h <= 0 or w <= 0:
        raise ValueError(f"[{op}] image height and width must be positive, got {size.tolist()}")
    bx = np.asarray(bounding_boxes.numpy() if isinstance(bounding_boxes, Tensor)
                    else bounding_boxes, np.float32)
    if bx.ndim != 3 or bx.shape[-1] != 4:
        raise ValueError(f"[{op}] bounding_boxes must be 3-D (batch, N, 4), got shape "
                         f"{bx.shape}")
    bx = bx.reshape(-1, 4)
    if ((bx < 0) | (bx > 1)).any():
        raise ValueError(f"[{op}] all bounding box coordinates must be in [0.0, 1.0]")
    rects = [(int(b[1] * np.float32(w)), int(b[0] * np.float32(h)), int(b[3] * np.float32(w)),
              int(b[2] * np.float32(h))) for b in bx]
    if not rects:
        if not use_image_if_no_bounding_boxes:
            raise ValueError(f"[{op}] no bounding boxes provided as input; pass "
                             f"use_image_if_no_bounding_boxes=True to sample from the whole "
                             f"image")
        rects = [(0, 0, w, h)]
    ar = [float(v) for v in (aspect_ratio_range or (0.75, 1.33))]
    ag = [float(v) for v in (area_range or (0.05, 1.0))]
    if len(ar) != 2 or len(ag) != 2 or min(ar) <= 0 or min(ag) <= 0 or max(ag) > 1:
        raise ValueError(f"[{op}] aspect_ratio_range must be 2 positive values and area_range "
                         f"2 values in (0, 1], got {ar} and {ag}")
    attempts = 100 if max_attempts is None else _int_arg(op, "max_attempts", max_attempts)
    if attempts <= 0:
        raise ValueError(f"[{op}] max_attempts must be positive, got {attempts}")
    mc = _float_arg(min_object_covered)
    crop = None
    for _ in range(attempts):
        aspect = np.float32(rng.random(dtype=np.float32)) * np.float32(ar[1] - ar[0]) + \
            np.float32(ar[0])
        c = _random_crop_rect(rng, w, h, ag[0], ag[1], aspect)
        if c is not None and _covers(c, rects, mc):
            crop = c
            break
    x, y, cw, ch = crop if crop is not None else (0, 0, w, h)
    dt = size.dtype
    begin = np.array([y, x, 0], dt)
    sz = np.array([ch, cw, -1]).astype(dt)  # -1 wraps for unsigned, as in TF
    box = np.array([[[y / h, x / w, (y + ch) / h, (x + cw) / w]]], np.float32)
    return _wrap(begin), _wrap(sz), _wrap(box)


def sample_distorted_bounding_box(image_size, bounding_boxes, seed=0, min_object_covered=0.1,
                                  aspect_ratio_range=None, area_range=None, max_attempts=None,
                                  use_image_if_no_bounding_boxes=None, name=None):
    """TF's random crop proposal (begin [y, x, 0], size [h, w, -1], bboxes (1, 1, 4)) for
    tf.slice: up to max_attempts crops with aspect ratio in aspect_ratio_range and relative
    area in area_range until one covers min_object_covered of a bounding box (normalised
    (y_min, x_min, y_max, x_max)); else the whole image. TF's algorithm on nabi's random
    stream (not TF's Philox numbers); seed=0 draws from the global stream."""
    rng = _generator(int(seed) if seed else None, True)
    return _sample_distorted("sample_distorted_bounding_box", rng, image_size, bounding_boxes,
                             min_object_covered, aspect_ratio_range, area_range, max_attempts,
                             use_image_if_no_bounding_boxes)


def stateless_sample_distorted_bounding_box(image_size, bounding_boxes, seed,
                                            min_object_covered=0.1, aspect_ratio_range=None,
                                            area_range=None, max_attempts=None,
                                            use_image_if_no_bounding_boxes=None, name=None):
    """sample_distorted_bounding_box with a shape [2] seed: the same seed, the same crop."""
    op = "stateless_sample_distorted_bounding_box"
    return _sample_distorted(op, _stateless_rng(op, seed), image_size, bounding_boxes,
                             min_object_covered, aspect_ratio_range, area_range, max_attempts,
                             use_image_if_no_bounding_boxes)


# -------------------------------------------------------------------------------- drawing


_BOX_COLORS = ((1, 1, 0, 1), (0, 0, 1, 1), (1, 0, 0, 1), (0, 1, 0, 1), (0.5, 0, 0.5, 1),
               (0.5, 0.5, 0, 1), (0.5, 0, 0, 1), (0, 0, 0.5, 1), (0, 1, 1, 1), (1, 0, 1, 1))


def draw_bounding_boxes(images, boxes, colors=None, name=None):
    """TF's DrawBoundingBoxes: 1-pixel outlines of boxes (batch, num_boxes, 4) given as
    normalised (y_min, x_min, y_max, x_max) on float images (batch, H, W, depth); box k takes
    colour k % len(colors) (TF's 10-colour table when colors is None or empty). Corners are
    float32(coord) * (side - 1) truncated toward 0; inverted boxes and boxes fully outside are
    skipped, edges outside the image are not drawn. Not differentiable (as TF)."""
    op = "draw_bounding_boxes"
    x = t_(images)
    s = _shape(x)
    if len(s) != 4 or s[-1] not in (1, 3, 4):
        raise ValueError(f"[{op}] images must be 4-D (batch, H, W, depth) with depth 1 (grey), "
                         f"3 (RGB) or 4 (RGBA), got shape {s}")
    _check_float(op, x)
    if type(x._data) is DeviceArray:
        return _draw_boxes_gpu(op, x, boxes, colors)
    img = np.array(x.numpy())
    bx = np.asarray(boxes.numpy() if isinstance(boxes, Tensor) else boxes, np.float32)
    n, h, w, depth = s
    if bx.ndim != 3 or bx.shape[0] != n or bx.shape[2] != 4:
        raise ValueError(f"[{op}] boxes must be (batch={n}, num_boxes, 4), got shape "
                         f"{bx.shape}")
    table = None if colors is None else np.asarray(
        colors.numpy() if isinstance(colors, Tensor) else colors, np.float32)
    if table is None or table.size == 0:
        table = np.array(_BOX_COLORS, np.float32)
        if depth == 1:
            table[:, 0] = 1.0  # TF: a grey image draws every box at 1
    if table.ndim != 2 or table.shape[1] < depth:
        raise ValueError(f"[{op}] colors must be (num_colors, >= depth={depth}), got shape "
                         f"{table.shape}")
    for b in range(n):
        for k in range(bx.shape[1]):
            color = table[k % len(table), :depth].astype(img.dtype)
            r0, r1 = (int(v) for v in bx[b, k, [0, 2]] * np.float32(h - 1))
            c0, c1 = (int(v) for v in bx[b, k, [1, 3]] * np.float32(w - 1))
            if r0 > r1 or c0 > c1 or r0 >= h or r1 < 0 or c0 >= w or c1 < 0:
                continue
            rs = builtins.slice(builtins.max(r0, 0), builtins.min(r1, h - 1) + 1)
            cs = builtins.slice(builtins.max(c0, 0), builtins.min(c1, w - 1) + 1)
            if r0 >= 0:
                img[b, r0, cs] = color
            if r1 < h:
                img[b, r1, cs] = color
            if c0 >= 0:
                img[b, rs, c0] = color
            if c1 < w:
                img[b, rs, c1] = color
    return _const_like(img, x)


def _draw_boxes_gpu(op, x, boxes, colors):
    """draw_bounding_boxes of GPU images on the device, nothing read back: cuda_backend.
    draw_boxes (csrc/cuda/draw_boxes.cu), one thread per pixel finding the last box whose
    outline covers it (the host loop paints boxes in order, so the last one wins), corners by
    the host formula (float32 products truncated toward 0). A box with a non-finite corner
    is skipped here (the host path raises)."""
    img = x._data
    n, h, w, depth = img.shape
    bd = boxes._data if isinstance(boxes, Tensor) else np.asarray(boxes, np.float32)
    if bd.ndim != 3 or bd.shape[0] != n or bd.shape[2] != 4:
        raise ValueError(f"[{op}] boxes must be (batch={n}, num_boxes, 4), got shape "
                         f"{tuple(bd.shape)}")
    bx = to_device(bd, "cuda")
    bx = bx if bx.dtype == np.float32 else bx.astype(np.float32)
    cd = None if colors is None else (colors._data if isinstance(colors, Tensor)
                                      else np.asarray(colors, np.float32))
    if cd is None or cd.size == 0:
        cd = np.array(_BOX_COLORS, np.float32)
        if depth == 1:
            cd[:, 0] = 1.0  # TF: a grey image draws every box at 1
    if cd.ndim != 2 or cd.shape[1] < depth:
        raise ValueError(f"[{op}] colors must be (num_colors, >= depth={depth}), got shape "
                         f"{tuple(cd.shape)}")
    table = to_device(cd, "cuda")
    table = table if table.dtype == np.float32 else table.astype(np.float32)
    table = table[:, :depth].astype(img.dtype)
    return _wrap(DeviceArray(_dev_backend().draw_boxes(img.buf, bx.buf, table.buf)))


def _four(op, name, v):
    a = np.asarray(v.numpy() if isinstance(v, Tensor) else v)
    if a.shape != (4,) or a.dtype.kind not in "iu" or a[0] != 1 or a[3] != 1 or (a < 1).any():
        raise ValueError(f"[{op}] {name} must be [1, rows, cols, 1] with positive rows and cols, "
                         f"got {v!r}")
    return int(a[1]), int(a[2])


def extract_patches(images, sizes, strides, rates, padding, name=None):
    """Patches of sizes [1, kr, kc, 1] every `strides`, dilated by `rates`, flattened into the
    depth: (N, out_rows, out_cols, kr * kc * C)."""
    op = "extract_patches"
    x = t_(images)
    if x._data.ndim != 4:
        raise ValueError(f"[{op}] images must be 4-D (N, H, W, C), got shape {_shape(x)}")
    kr, kc = _four(op, "sizes", sizes)
    sr, sc = _four(op, "strides", strides)
    rr, rc = _four(op, "rates", rates)
    pad = str(padding).upper()
    if pad not in ("VALID", "SAME"):
        raise ValueError(f"[{op}] padding must be 'VALID' or 'SAME', got {padding!r}")
    n, H, W, C = _shape(x)

    def plan(size, k, s, r):
        ek = (k - 1) * r + 1
        if pad == "VALID" and -((ek - size - s) // s) < 0:  # TF: C's (size - ek + s) / s < 0
            raise ValueError(f"[{op}] computed output size would be negative: input size "
                             f"{size}, effective patch size {ek} (size {k}, rate {r}), stride "
                             f"{s} (images shape {_shape(x)})")
        if pad == "VALID":
            out = builtins.max(0, -(-(size - ek + 1) // s))
            return out, 0, 0
        out = -(-size // s)
        total = builtins.max((out - 1) * s + ek - size, 0)
        return out, total // 2, total - total // 2
    oh, ph0, ph1 = plan(H, kr, sr, rr)
    ow, pw0, pw1 = plan(W, kc, sc, rc)
    if ph0 or ph1 or pw0 or pw1:
        x = _ao.pad(x, [[0, 0], [ph0, ph1], [pw0, pw1], [0, 0]])
    ri = (np.arange(oh)[:, None] * sr + np.arange(kr)[None, :] * rr).astype(np.int64)
    ci = (np.arange(ow)[:, None] * sc + np.arange(kc)[None, :] * rc).astype(np.int64)
    if oh == 0 or ow == 0:
        return _ao.zeros((n, oh, ow, kr * kc * C), dtype=x.dtype)
    # ri / ci are in range by construction (the padding above covers every patch): gathered
    # unchecked, so GPU images read nothing back
    y = _ao.gather_checked(x, ri, 1)                        # (N, oh, kr, W', C)
    y = _ao.gather_checked(y, ci, 3)                        # (N, oh, kr, ow, kc, C)
    y = _ao.transpose(y, [0, 1, 3, 2, 4, 5])
    return _ao.reshape(y, (n, oh, ow, kr * kc * C))
