"""Image file utilities (Keras 2.15 semantics): `load_img` (a file into a PIL image),
`save_img`, and `array_to_img` (an array into a PIL image) / `img_to_array`, re-exported from
`nabi.keras.preprocessing.image`. They use Pillow (`pip install 'nabi[image]'`) and raise an
ImportError saying so when it is not installed; `img_to_array` needs no Pillow.
"""
import os
import warnings

from ..preprocessing.image import array_to_img, img_to_array

__all__ = ["array_to_img", "img_to_array", "load_img", "save_img"]

_PIL_INTERPOLATION = {"nearest": "NEAREST", "bilinear": "BILINEAR", "bicubic": "BICUBIC",
                      "hamming": "HAMMING", "box": "BOX", "lanczos": "LANCZOS"}


def _pil(what):
    try:
        from PIL import Image
    except ImportError:
        raise ImportError(f"[{what}] needs Pillow to read and write image files, and Pillow is "
                          "not installed: pip install 'nabi[image]' (or pip install pillow)") \
            from None
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
            box = None
            if keep_aspect_ratio:   # the centred box of the target's aspect ratio
                w, h = img.size
                crop_h = min(h, (w * height) // width)
                crop_w = min(w, (h * width) // height)
                x0 = (w - crop_w) // 2
                y0 = (h - crop_h) // 2
                box = (x0, y0, x0 + crop_w, y0 + crop_h)
            # resize(box=...) as Keras: the filter may read pixels just outside the box,
            # which crop-then-resize would clamp away (different bilinear/bicubic values)
            img = img.resize((width, height), resample, box=box)
    return img


def save_img(path, x, data_format=None, file_format=None, scale=True, **kwargs):
    """Saves an image array (H, W, C), C in 1, 3, 4, through `array_to_img` (values scaled
    to [0, 255] when scale=True) to a file with Pillow; an RGBA image saved as JPEG is
    converted to RGB with a warning, as Keras does."""
    _pil("save_img")
    img = array_to_img(x, data_format=data_format, scale=scale)
    fmt = file_format
    if isinstance(fmt, str) and fmt.lower() in ("jpg", "jpeg"):
        fmt = "JPEG"
    is_jpeg = fmt == "JPEG" or (fmt is None and str(os.fspath(path) if isinstance(
        path, os.PathLike) else path).lower().endswith((".jpg", ".jpeg")))
    if img.mode == "RGBA" and is_jpeg:
        warnings.warn("The JPG format does not support RGBA images, converting to RGB.")
        img = img.convert("RGB")
    img.save(path, format=fmt, **kwargs)
