"""Image file utilities: `load_img` and `save_img` (they read and write image files with
Pillow, and raise an ImportError naming Pillow when it is not installed), and `array_to_img` /
`img_to_array`, re-exported from `nabi.keras.preprocessing.image`.

Unlike Keras, `array_to_img` needs no Pillow and returns the image as a uint8 (H, W, C)
NumPy array (scaled to [0, 255] with scale=True), which `plt.imshow` shows; `load_img` returns
a PIL image, as Keras does.
"""
import os

import numpy as np

from ..preprocessing.image import array_to_img, img_to_array

__all__ = ["array_to_img", "img_to_array", "load_img", "save_img"]

_PIL_INTERPOLATION = {"nearest": "NEAREST", "bilinear": "BILINEAR", "bicubic": "BICUBIC",
                      "hamming": "HAMMING", "box": "BOX", "lanczos": "LANCZOS"}


def _pil(what):
    try:
        from PIL import Image
    except ImportError:
        raise ImportError(f"[{what}] needs Pillow to read and write image files, and Pillow is "
                          "not installed: `pip install Pillow`") from None
    return Image


def load_img(path, grayscale=False, color_mode="rgb", target_size=None,
             interpolation="nearest", keep_aspect_ratio=False):
    """Loads an image file into a PIL image (Keras semantics): color_mode 'grayscale', 'rgb'
    or 'rgba'; target_size (height, width) resizes with `interpolation`, after cropping the
    centre to the target aspect ratio when keep_aspect_ratio=True."""
    Image = _pil("load_img")
    if grayscale:
        color_mode = "grayscale"
    if color_mode not in ("grayscale", "rgb", "rgba"):
        raise ValueError(f"[load_img] color_mode must be 'grayscale', 'rgb' or 'rgba'. "
                         f"Received: color_mode={color_mode!r}")
    if isinstance(path, (str, os.PathLike)):
        with open(os.fspath(path), "rb") as f:
            import io
            img = Image.open(io.BytesIO(f.read()))
    elif hasattr(path, "read"):
        img = Image.open(path)
    else:
        raise TypeError(f"[load_img] path should be a path-like or an open file, got "
                        f"{type(path).__name__}")
    mode = {"grayscale": ("L", "I;16", "I"), "rgb": ("RGB",), "rgba": ("RGBA",)}[color_mode]
    if img.mode not in mode:
        img = img.convert(mode[0])
    if target_size is not None:
        height, width = int(target_size[0]), int(target_size[1])
        if (img.size[0], img.size[1]) != (width, height):
            if interpolation not in _PIL_INTERPOLATION:
                raise ValueError(f"[load_img] Invalid interpolation method {interpolation!r}; "
                                 f"supported: {sorted(_PIL_INTERPOLATION)}")
            resample = getattr(getattr(Image, "Resampling", Image),
                               _PIL_INTERPOLATION[interpolation])
            if keep_aspect_ratio:
                w, h = img.size
                crop_h = min(h, (w * height) // width)
                crop_w = min(w, (h * width) // height)
                x0 = (w - crop_w) // 2
                y0 = (h - crop_h) // 2
                img = img.crop((x0, y0, x0 + crop_w, y0 + crop_h))
            img = img.resize((width, height), resample)
    return img


def save_img(path, x, data_format=None, file_format=None, scale=True, **kwargs):
    """Saves an image array (H, W, C), C in 1, 3, 4, to a file with Pillow; the values are
    scaled to [0, 255] when scale=True."""
    Image = _pil("save_img")
    if scale:
        a = array_to_img(np.asarray(x), data_format=data_format, scale=True)
    else:
        a = np.clip(np.asarray(x, np.float64), 0, 255).astype(np.uint8)
        if data_format == "channels_first":
            a = np.moveaxis(a, 0, -1)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    img = Image.fromarray(a)
    if img.mode == "RGBA" and (file_format == "jpg" or file_format == "jpeg" or (
            file_format is None and str(path).lower().endswith((".jpg", ".jpeg")))):
        img = img.convert("RGB")
    img.save(path, format=file_format, **kwargs)
