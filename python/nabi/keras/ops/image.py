"""`keras.ops.image` (Keras 3's keras/src/ops/image.py) on nabi.image: images are 3-D
(unbatched) or 4-D, channels last unless data_format='channels_first'."""
import nabi as tf

from ._common import shape_of, t_, to_float

_METHODS = {"bilinear": "bilinear", "nearest": "nearest", "bicubic": "bicubic",
            "lanczos3": "lanczos3", "lanczos5": "lanczos5", "area": "area"}


def _images(op, images, data_format):
    df = data_format or "channels_last"
    if df not in ("channels_last", "channels_first"):
        raise ValueError(f"[{op}] data_format must be 'channels_last' or 'channels_first', got "
                         f"{data_format!r}")
    x = t_(images)
    if x.shape.rank not in (3, 4):
        raise ValueError(f"[{op}] images must be 3-D (H, W, C) or 4-D (N, H, W, C) (channels "
                         f"first: C before H, W), got shape {shape_of(x)}")
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
    if interpolation not in _METHODS:
        raise ValueError(f"[resize] interpolation must be one of {sorted(_METHODS)}, got "
                         f"{interpolation!r}")
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
    if crop_to_aspect_ratio:
        ch = min(h, int(round(w * th / tw)))
        cw = min(w, int(round(h * tw / th)))
        y0, x0 = (h - ch) // 2, (w - cw) // 2
        x = x[:, y0:y0 + ch, x0:x0 + cw, :]
    elif pad_to_aspect_ratio:
        if fill_mode != "constant":
            raise ValueError(f"[resize] fill_mode must be 'constant', got {fill_mode!r}")
        ph = max(h, int(round(w * th / tw)))
        pw = max(w, int(round(h * tw / th)))
        top, left = (ph - h) // 2, (pw - w) // 2
        x = tf.pad(x, [[0, 0], [top, ph - h - top], [left, pw - w - left], [0, 0]],
                   constant_values=fill_value)
    y = tf.image.resize(x, size, method=_METHODS[interpolation], antialias=antialias)
    if dtype.is_integer:
        y = tf.cast(tf.round(y), dtype)
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
