"""`keras.utils.image_dataset_from_directory` (TF 2.15 semantics).

    train_ds = keras.utils.image_dataset_from_directory(
        "flower_photos", validation_split=0.2, subset="training", seed=123,
        image_size=(180, 180), batch_size=32)
    train_ds.class_names       # ['daisy', 'dandelion', ...]

Classes, file order, the seeded `np.random.RandomState(seed)` shuffle of the whole file list
and the validation split are text_dataset_from_directory's (keras/utils/dataset_utils.py),
over files ending .bmp, .gif, .jpeg, .jpg or .png. Each image is read when its element is
produced, decoded with `nabi.io` (Pillow; the first frame of a GIF) to `color_mode`'s
channels, and resized like tf.image.resize (half-pixel centres, no antialiasing): float32 for
'bilinear', the decoded uint8 for 'nearest' (as TF returns the input dtype for nearest).
With crop_to_aspect_ratio=True the largest centred window with the target aspect ratio is
cropped first (Keras's smart_resize). Only 'bilinear' and 'nearest' are implemented. The
per-epoch shuffle (a buffer of 8 batches) is nabi's Dataset shuffle, not tf.data's stream.
The result has `.class_names` and `.file_paths`.
"""

import numpy as np

from .dataset_utils import (batch_and_shuffle, build_directory_datasets, check_directory_args,
                            check_validation_split_arg, index_directory, labels_to_array)

__all__ = ["image_dataset_from_directory"]

_FN = "image_dataset_from_directory"
ALLOWLIST_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
_KERAS_INTERPOLATIONS = ("bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5",
                         "gaussian", "mitchellcubic")
_CHANNELS = {"rgb": 3, "rgba": 4, "grayscale": 1}


def load_image(path, image_size, num_channels, interpolation, crop_to_aspect_ratio=False,
               pad_to_aspect_ratio=False):
    """One image file as a host array (height, width, num_channels): float32 for bilinear,
    uint8 for nearest."""
    from ... import image as nimage
    from ... import io as nio
    from ..layers.preprocessing import _resize, _smart_resize
    with open(path, "rb") as f:
        data = f.read()
    img = nio._decode(data, num_channels, _FN)
    if img.dtype == np.uint16:            # a 16-bit PNG decoded to uint8 keeps its high byte
        img = (img >> 8).astype(np.uint8)
    x = img[None] if interpolation == "nearest" else img[None].astype(np.float32)
    h, w = image_size
    if crop_to_aspect_ratio:
        x = _smart_resize(x, h, w, interpolation)
    elif pad_to_aspect_ratio:     # Keras 3: tf.image.resize_with_pad (zeros around the fit)
        x = nimage.resize_with_pad(x, h, w, method=interpolation).numpy()
    else:
        x = _resize(x, h, w, interpolation)
    return np.ascontiguousarray(x[0])


def _check_image_size(image_size):
    ok = isinstance(image_size, (list, tuple)) and len(image_size) == 2 and all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0
        for v in image_size)
    if not ok:
        raise ValueError(f"[{_FN}] `image_size` must be a tuple of two positive integers "
                         f"(height, width). Received: image_size={image_size!r}")
    return int(image_size[0]), int(image_size[1])


def _make_dataset(paths, labels, label_mode, num_classes, image_size, num_channels,
                  interpolation, crop_to_aspect_ratio, pad_to_aspect_ratio, channels_first,
                  batch_size, shuffle, seed, class_names):
    from ...data import Dataset
    path_array = np.empty(len(paths), dtype=object)
    path_array[:] = list(paths)

    def load(path):
        p = path.numpy()
        img = load_image(p.decode("utf-8") if isinstance(p, bytes) else str(p), image_size,
                         num_channels, interpolation, crop_to_aspect_ratio, pad_to_aspect_ratio)
        return np.ascontiguousarray(img.transpose(2, 0, 1)) if channels_first else img

    if label_mode is None:
        ds = Dataset.from_tensor_slices(path_array).map(load)
    else:
        y = labels_to_array(labels, label_mode, num_classes)
        ds = Dataset.from_tensor_slices((path_array, y)).map(lambda p, lab: (load(p), lab))
    ds = batch_and_shuffle(ds, batch_size, shuffle, seed)
    ds.class_names = class_names
    ds.file_paths = list(paths)
    return ds


def image_dataset_from_directory(directory, labels="inferred", label_mode="int",
                                 class_names=None, color_mode="rgb", batch_size=32,
                                 image_size=(256, 256), shuffle=True, seed=None,
                                 validation_split=None, subset=None, interpolation="bilinear",
                                 follow_links=False, crop_to_aspect_ratio=False,
                                 pad_to_aspect_ratio=False, data_format=None, verbose=True,
                                 **kwargs):
    """A `nabi.data.Dataset` of (images, labels) batches from a directory of images, one
    subdirectory per class (`labels="inferred"`), of images only (`labels=None`), or with
    `labels` given as a list (one per file, in the sorted file order). Images are
    (batch, height, width, channels), or (batch, channels, height, width) with
    data_format="channels_first". With `subset="both"` returns [training, validation].
    Keras 3's pad_to_aspect_ratio=True fits each image inside image_size keeping its aspect
    ratio and pads with zeros (tf.image.resize_with_pad); verbose=False skips the "Found N
    files" line."""
    if "smart_resize" in kwargs:          # Keras's older name
        crop_to_aspect_ratio = kwargs.pop("smart_resize")
    if kwargs:
        raise TypeError(f"[{_FN}] Unknown keywords argument(s): {tuple(kwargs)}")
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ValueError(f"[{_FN}] Only one of `pad_to_aspect_ratio`, `crop_to_aspect_ratio` "
                         "can be set to `True`.")
    if data_format is None:
        from ..backend import image_data_format
        data_format = image_data_format()
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"[{_FN}] `data_format` must be 'channels_last' or 'channels_first'. "
                         f"Received: data_format={data_format!r}")
    directory, labels, label_mode = check_directory_args(
        _FN, directory, labels, class_names, label_mode, batch_size, ("image files", "images"))
    if color_mode not in _CHANNELS:
        raise ValueError(f'[{_FN}] `color_mode` must be one of {{"rgb", "rgba", "grayscale"}}. '
                         f"Received: color_mode={color_mode!r}")
    num_channels = _CHANNELS[color_mode]
    image_size = _check_image_size(image_size)
    interpolation = str(interpolation).lower()
    if interpolation not in _KERAS_INTERPOLATIONS:
        raise ValueError(f"[{_FN}] `interpolation` must be one of {_KERAS_INTERPOLATIONS}. "
                         f"Received: interpolation={interpolation!r}")
    if interpolation not in ("bilinear", "nearest"):
        raise NotImplementedError(f"[{_FN}] interpolation {interpolation!r} is not supported "
                                  "by nabi; use 'bilinear' or 'nearest'")
    check_validation_split_arg(_FN, validation_split, subset, shuffle, seed)
    if seed is None:
        seed = np.random.randint(1e6)
    paths, labels, class_names = index_directory(directory, labels, ALLOWLIST_FORMATS, _FN,
                                                 class_names=class_names, shuffle=shuffle,
                                                 seed=seed, follow_links=follow_links,
                                                 verbose=verbose)
    num_classes = len(class_names) if class_names else 0

    def make(p, lab, shuffle_split):
        return _make_dataset(p, lab, label_mode, num_classes, image_size, num_channels,
                             interpolation, crop_to_aspect_ratio, pad_to_aspect_ratio,
                             data_format == "channels_first", batch_size, shuffle_split, seed,
                             class_names)

    return build_directory_datasets(_FN, directory, paths, labels, label_mode, class_names,
                                    validation_split, subset, shuffle, make, "images",
                                    ALLOWLIST_FORMATS)
