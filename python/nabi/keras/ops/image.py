"""`keras.ops.image` (Keras 3's keras/src/ops/image.py) on nabi.image: images are 3-D
(unbatched) or 4-D, channels last unless data_format='channels_first'."""
import numpy as np

import nabi as tf

from ._checks import one_of, rank_in
from ._common import shape_of, t_, to_float

_METHODS = {"bilinear": "bilinear", "nearest": "nearest", "bicubic": "bicubic",
            "lanczos3": "lanczos3", "lanczos5": "lanczos5", "area": "area"}


def _images(op, images, data_format):
    df = data_format or "channels_last"
    one_of(op, "data_format", data_format, ("channels_last", "channels_first"), key=df)
    x = rank_in(op, "images", images, (3, 4), "3-D (H, W, C) or 4-D (N, H, W, C) (channels "
                "first: C before H, W)")
    batched = x.shape.rank == 4
    if not batched:
        x = tf.expand_dims(x, 0)
    if df == "channels_first":
        x = tf.transpose(x, [0, 2, 3, 1])
    return x, batched, df


def _back(x, batched, df):
    if df == "channels_first":
        x = tf.transpose(x, [0, 3, 1, 2])
    return x if batched else tf.squeeze(x, 0)


def resize(images, size, interpolation="bilinear", antialias=False, crop_to_aspect_ratio=False,
           pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0, data_format=None):
    one_of("resize", "interpolation", interpolation, sorted(_METHODS))
    size = [int(s) for s in size]
    if len(size) != 2:
        raise ValueError(f"[resize] size must be (height, width), got {size}")
    x, batched, df = _images("resize", images, data_format)
    dtype = x.dtype
    x = to_float(x)
    h, w = shape_of(x)[1:3]
    th, tw = size
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ValueError("[resize] crop_to_aspect_ratio and pad_to_aspect_ratio exclude each "
                         "other")
    # Keras 3's TF backend: int-truncated crop/pad sizes; padding goes equally on both sides
    if crop_to_aspect_ratio:
        ch = max(min(h, int(w * th / tw)), 1)
        cw = max(min(w, int(h * tw / th)), 1)
        y0, x0 = (h - ch) // 2, (w - cw) // 2
        x = x[:, y0:y0 + ch, x0:x0 + cw, :]
    elif pad_to_aspect_ratio:
        if fill_mode != "constant":
            raise ValueError(f"[resize] fill_mode must be 'constant', got {fill_mode!r}")
        ph = (max(h, int(w * th / tw)) - h) // 2
        pw = (max(w, int(h * tw / th)) - w) // 2
        x = tf.pad(x, [[0, 0], [ph, ph], [pw, pw], [0, 0]], constant_values=fill_value)
    y = tf.image.resize(x, size, method=_METHODS[interpolation], antialias=antialias)
    if y.dtype != dtype:      # Keras 3 keeps the input dtype: ints rounded (half to even)
        if dtype.is_integer:  # and clamped to their range (uint8 stays in [0, 255])
            y = tf.round(y)
        y = tf.saturate_cast(y, dtype)
    return _back(y, batched, df)


def crop_images(images, top_cropping=None, left_cropping=None, bottom_cropping=None,
                right_cropping=None, target_height=None, target_width=None, data_format=None):
    x, batched, df = _images("crop_images", images, data_format)
    H, W = shape_of(x)[1:3]
    top, left = top_cropping or 0, left_cropping or 0
    if target_height is None:
        target_height = H - top - (bottom_cropping or 0)
    elif top_cropping is None and bottom_cropping is not None:
        top = H - bottom_cropping - target_height
    if target_width is None:
        target_width = W - left - (right_cropping or 0)
    elif left_cropping is None and right_cropping is not None:
        left = W - right_cropping - target_width
    if top < 0 or left < 0 or target_height <= 0 or target_width <= 0 or \
            top + target_height > H or left + target_width > W:
        raise ValueError(f"[crop_images] the crop (top={top}, left={left}, height={target_height},"
                         f" width={target_width}) does not fit images of {H}x{W}")
    y = x[:, top:top + target_height, left:left + target_width, :]
    return _back(y, batched, df)


def pad_images(images, top_padding=None, left_padding=None, bottom_padding=None,
               right_padding=None, target_height=None, target_width=None, data_format=None):
    x, batched, df = _images("pad_images", images, data_format)
    H, W = shape_of(x)[1:3]
    top, left = top_padding or 0, left_padding or 0
    if target_height is None:
        bottom = bottom_padding or 0
    elif top_padding is None and bottom_padding is not None:
        bottom = bottom_padding
        top = target_height - H - bottom
    else:
        bottom = target_height - H - top
    if target_width is None:
        right = right_padding or 0
    elif left_padding is None and right_padding is not None:
        right = right_padding
        left = target_width - W - right
    else:
        right = target_width - W - left
    if min(top, bottom, left, right) < 0:
        raise ValueError(f"[pad_images] padding (top={top}, bottom={bottom}, left={left}, "
                         f"right={right}) must be non-negative for images of {H}x{W}")
    y = tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]])
    return _back(y, batched, df)


def rgb_to_grayscale(images, data_format=None):
    x, batched, df = _images("rgb_to_grayscale", images, data_format)
    return _back(tf.image.rgb_to_grayscale(x), batched, df)


def _fix_index(i, size, mode):
    """Integer sample positions (as floats) mapped into [0, size) by fill_mode, as Keras 3's
    map_coordinates does for each neighbour (constant: left as is, masked later)."""
    if mode == "constant":
        return i
    if mode == "nearest" or size == 1:
        return tf.clip_by_value(i, 0.0, float(size - 1))
    if mode == "wrap":
        return tf.math.floormod(i, float(size))

    def mirror(j, n):
        s = float(n - 1)
        return tf.abs(tf.math.floormod(j + s, 2 * s) - s)
    if mode == "mirror":
        return mirror(i, size)
    return tf.floor((mirror(2 * i + 1, 2 * size + 1) - 1) / 2)      # reflect


_FILL_MODES = ("constant", "nearest", "wrap", "mirror", "reflect")


def affine_transform(images, transform, interpolation="bilinear", fill_mode="constant",
                     fill_value=0, data_format=None):
    """Projective transform of images: a row [a0, a1, a2, b0, b1, b2, c0, c1] of `transform`
    ((8,) or (N, 8)) maps the output point (x, y) to the input point
    ((a0 x + a1 y + a2) / k, (b0 x + b1 y + b2) / k), k = c0 x + c1 y + 1 (x the column). Samples
    are bilinear or nearest; neighbours outside the image follow fill_mode. Differentiable in
    images and transform."""
    one_of("affine_transform", "interpolation", interpolation, ("bilinear", "nearest"))
    one_of("affine_transform", "fill_mode", fill_mode, _FILL_MODES)
    x, batched, df = _images("affine_transform", images, data_format)
    x = to_float(x)
    N, H, W, C = shape_of(x)
    t = t_(transform, x.dtype)
    if t.shape.rank == 1:
        t = tf.expand_dims(t, 0)
    if t.shape.rank != 2 or shape_of(t)[1] != 8 or shape_of(t)[0] not in (1, N):
        raise ValueError(f"[affine_transform] transform must have shape (8,) or ({N}, 8) for "
                         f"images {shape_of(images)}, got {shape_of(transform)}")
    t = tf.broadcast_to(t, [N, 8])
    ys, xs = np.meshgrid(np.arange(H), np.arange(W), indexing="ij")
    nd = x.dtype.as_numpy_dtype
    gx = t_(xs.reshape(1, -1).astype(nd))
    gy = t_(ys.reshape(1, -1).astype(nd))
    col = [t[:, i:i + 1] for i in range(8)]
    k = col[6] * gx + col[7] * gy + 1.0
    xin = (col[0] * gx + col[1] * gy + col[2]) / k           # (N, H*W)
    yin = (col[3] * gx + col[4] * gy + col[5]) / k
    flat = tf.reshape(x, [N, H * W, C])
    fill = t_(fill_value, x.dtype)

    def sample(yi, xi):
        yi, xi = _fix_index(yi, H, fill_mode), _fix_index(xi, W, fill_mode)
        ok = tf.logical_and(tf.logical_and(yi >= 0, yi <= H - 1),
                            tf.logical_and(xi >= 0, xi <= W - 1))
        idx = tf.cast(tf.clip_by_value(yi, 0.0, H - 1.0) * W + tf.clip_by_value(xi, 0.0, W - 1.0),
                      tf.int32)
        v = tf.gather(flat, idx, axis=1, batch_dims=1)        # (N, H*W, C)
        return tf.where(tf.expand_dims(ok, -1), v, fill)

    if interpolation == "nearest":
        out = sample(tf.round(tf.stop_gradient(yin)), tf.round(tf.stop_gradient(xin)))
    else:
        y0, x0 = tf.floor(tf.stop_gradient(yin)), tf.floor(tf.stop_gradient(xin))
        wy, wx = tf.expand_dims(yin - y0, -1), tf.expand_dims(xin - x0, -1)
        one = t_(1.0, x.dtype)
        out = (sample(y0, x0) * (one - wy) * (one - wx) + sample(y0, x0 + 1) * (one - wy) * wx
               + sample(y0 + 1, x0) * wy * (one - wx) + sample(y0 + 1, x0 + 1) * wy * wx)
    return _back(tf.reshape(out, [N, H, W, C]), batched, df)


def map_coordinates(inputs, coordinates, order, fill_mode="constant", fill_value=0):
    """inputs sampled at `coordinates` (one row of positions per input axis; the result has
    the rows' shape), order 0 (nearest) or 1 (linear), neighbours outside following fill_mode,
    as Keras 3 (and scipy.ndimage.map_coordinates). Differentiable in inputs and
    coordinates."""
    one_of("map_coordinates", "order", order, (0, 1))
    one_of("map_coordinates", "fill_mode", fill_mode, _FILL_MODES)
    x = to_float(inputs)
    shape = shape_of(x)
    c = t_(coordinates, x.dtype) if not isinstance(coordinates, (list, tuple)) else \
        tf.stack([t_(e, x.dtype) for e in coordinates])
    if c.shape.rank < 1 or shape_of(c)[0] != len(shape):
        raise ValueError(f"[map_coordinates] coordinates must have one row per input axis: "
                         f"inputs {shape}, coordinates {shape_of(coordinates)}")
    out_shape = shape_of(c)[1:]
    rows = [tf.reshape(c[i], [-1]) for i in range(len(shape))]
    flat = tf.reshape(x, [-1])
    fill = t_(fill_value, x.dtype)
    strides = np.cumprod([1] + list(shape[::-1]))[:-1][::-1]

    def sample(idx):
        ok, lin = None, None
        for i, (j, n) in enumerate(zip(idx, shape)):
            j = _fix_index(j, n, fill_mode)
            inside = tf.logical_and(j >= 0, j <= n - 1)
            ok = inside if ok is None else tf.logical_and(ok, inside)
            part = tf.clip_by_value(j, 0.0, float(n - 1)) * float(strides[i])
            lin = part if lin is None else lin + part
        return tf.where(ok, tf.gather(flat, tf.cast(lin, tf.int32)), fill)

    if order == 0:
        out = sample([tf.round(tf.stop_gradient(r)) for r in rows])
    else:
        lo = [tf.floor(tf.stop_gradient(r)) for r in rows]
        frac = [r - f for r, f in zip(rows, lo)]
        out = None
        for corner in np.ndindex(*([2] * len(shape))):
            w = None
            for i, bit in enumerate(corner):
                wi = frac[i] if bit else 1.0 - frac[i]
                w = wi if w is None else w * wi
            term = sample([f + float(bit) for f, bit in zip(lo, corner)]) * w
            out = term if out is None else out + term
    return tf.reshape(out, list(out_shape))


def extract_patches(images, size, strides=None, dilation_rate=1, padding="valid",
                    data_format=None):
    """Patches of size (h, w) as channels: (N, out_h, out_w, h * w * C), as Keras 3."""
    x, batched, df = _images("extract_patches", images, data_format)
    size = [size, size] if isinstance(size, int) else [int(s) for s in size]
    strides = size if strides is None else ([strides, strides] if isinstance(strides, int)
                                            else [int(s) for s in strides])
    rates = [dilation_rate] * 2 if isinstance(dilation_rate, int) else list(dilation_rate)
    p = str(padding).upper()
    one_of("extract_patches", "padding", padding, ("valid", "same"), key=p.lower())
    y = tf.image.extract_patches(x, [1, *size, 1], [1, *strides, 1], [1, *rates, 1], p)
    return _back(y, batched, df)


def rgb_to_hsv(images, data_format=None):
    x, batched, df = _images("rgb_to_hsv", images, data_format)
    return _back(tf.image.rgb_to_hsv(to_float(x)), batched, df)


def hsv_to_rgb(images, data_format=None):
    x, batched, df = _images("hsv_to_rgb", images, data_format)
    return _back(tf.image.hsv_to_rgb(to_float(x)), batched, df)
