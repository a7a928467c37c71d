"""`ImageDataGenerator` (Keras semantics) with vectorised augmentation.

A batch is augmented with one affine resample: per-sample 3x3 matrices are built from the
random rotation / shift / shear / zoom parameters exactly as Keras composes them (about the
image centre), the source coordinates of every output pixel of every sample are computed
at once with NumPy, and the batch is sampled bilinearly (or nearest) with fill_mode
'constant' (cval), 'nearest', 'reflect' or 'wrap'. Flips are per-sample array reversals.
No Python loop over pixels or samples.

    gen = ImageDataGenerator(rotation_range=10, zoom_range=0.1, width_shift_range=0.1,
                             height_shift_range=0.1)
    model.fit(gen.flow(x, y, batch_size=100), epochs=...)
"""
import math
import warnings

import numpy as np

from ..utils.data_utils import Sequence

__all__ = ["smart_resize", "ImageDataGenerator", "NumpyArrayIterator", "DirectoryIterator", "Iterator",
           "apply_affine_transform", "array_to_img", "img_to_array", "random_rotation",
           "random_shift", "random_shear", "random_zoom", "apply_channel_shift",
           "random_channel_shift", "apply_brightness_shift", "random_brightness"]


def _range(name, v):
    if isinstance(v, (int, float, np.integer, np.floating)):
        return float(v)
    raise ValueError(f"[ImageDataGenerator] {name} must be a number, got {v!r}")


def _map_index(i, n, mode):
    """Maps integer coordinates outside [0, n) for the fill mode; returns (index, valid)."""
    if mode == "nearest":
        return np.clip(i, 0, n - 1), None
    if mode == "reflect":  # d c b a | a b c d | d c b a
        m = np.mod(i, 2 * n)
        return np.where(m >= n, 2 * n - 1 - m, m), None
    if mode == "wrap":
        return np.mod(i, n), None
    valid = (i >= 0) & (i < n)
    return np.clip(i, 0, n - 1), valid


def affine_resample(x, mats, fill_mode="nearest", cval=0.0, order=1):
    """Resamples a channels-last batch x (B, H, W, C): output pixel (r, c) of sample b reads
    the input at mats[b] @ (r, c, 1) (mats: (B, 2, 3) or (B, 3, 3), row/col coordinates)."""
    B, H, W, C = x.shape
    rr, cc = np.meshgrid(np.arange(H, dtype=np.float64), np.arange(W, dtype=np.float64),
                         indexing="ij")
    grid = np.stack([rr.ravel(), cc.ravel(), np.ones(H * W)])          # (3, HW)
    src = np.einsum("bij,jp->bip", np.asarray(mats, np.float64)[:, :2, :], grid)  # (B, 2, HW)
    sr, sc = src[:, 0], src[:, 1]
    xf = x.reshape(B, H * W, C)
    out_dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float32)

    def gather(ri, ci):
        ri, vr = _map_index(ri, H, fill_mode)
        ci, vc = _map_index(ci, W, fill_mode)
        vals = np.take_along_axis(xf, (ri * W + ci)[..., None], axis=1).astype(out_dtype)
        if vr is not None:
            vals = np.where((vr & vc)[..., None], vals, np.asarray(cval, out_dtype))
        return vals

    if order == 0:
        out = gather(np.floor(sr + 0.5).astype(np.int64), np.floor(sc + 0.5).astype(np.int64))
    else:
        r0f, c0f = np.floor(sr), np.floor(sc)
        fr, fc = (sr - r0f)[..., None], (sc - c0f)[..., None]
        r0, c0 = r0f.astype(np.int64), c0f.astype(np.int64)
        out = (gather(r0, c0) * ((1 - fr) * (1 - fc)) + gather(r0, c0 + 1) * ((1 - fr) * fc)
               + gather(r0 + 1, c0) * (fr * (1 - fc)) + gather(r0 + 1, c0 + 1) * (fr * fc))
    return out.reshape(B, H, W, C).astype(out_dtype, copy=False)


def _ndimage_coords(c, n, mode):
    """Maps continuous source coordinates as scipy.ndimage's (non-grid) modes do, which is
    what Keras's ImageDataGenerator resamples with: 'reflect' mirrors about -0.5 and
    n - 0.5 then clamps, 'wrap' repeats with period n - 1 (scipy's legacy wrap), 'nearest'
    clamps; 'constant' marks coordinates outside [0, n - 1] (they read cval)."""
    if mode == "reflect":
        u = np.mod(c + 0.5, 2.0 * n)
        u = np.where(u >= n, 2.0 * n - u, u) - 0.5
        return np.clip(u, 0, n - 1), None
    if mode == "wrap":  # inside [0, n - 1] unchanged; above: mod n - 1; below: into (0, n - 1]
        if n == 1:
            return np.zeros_like(c), None
        n1 = n - 1.0
        return np.where(c > n1, np.mod(c, n1), np.where(c < 0, n1 - np.mod(-c, n1), c)), None
    if mode == "constant":
        return np.clip(c, 0, n - 1), (c >= 0) & (c <= n - 1)
    return np.clip(c, 0, n - 1), None


def _ndimage_resample(x, mats, fill_mode="nearest", cval=0.0, order=1):
    """affine_resample with scipy.ndimage.affine_transform's boundary rules (Keras's
    apply_affine_transform): x (B, H, W, C) channels-last, mats (B, 3, 3) mapping output
    (row, col, 1) to input coordinates; order 0 rounds half up, order 1 is bilinear."""
    B, H, W, C = x.shape
    rr, cc = np.meshgrid(np.arange(H, dtype=np.float64), np.arange(W, dtype=np.float64),
                         indexing="ij")
    grid = np.stack([rr.ravel(), cc.ravel(), np.ones(H * W)])
    src = np.einsum("bij,jp->bip", np.asarray(mats, np.float64)[:, :2, :], grid)
    sr, vr = _ndimage_coords(src[:, 0], H, fill_mode)
    sc, vc = _ndimage_coords(src[:, 1], W, fill_mode)
    xf = x.reshape(B, H * W, C)
    out_dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float32)

    def gather(ri, ci):
        ri, ci = np.minimum(ri, H - 1), np.minimum(ci, W - 1)
        return np.take_along_axis(xf, (ri * W + ci)[..., None], axis=1).astype(np.float64)

    if order == 0:
        out = gather(np.floor(sr + 0.5).astype(np.int64), np.floor(sc + 0.5).astype(np.int64))
    else:
        r0f, c0f = np.floor(sr), np.floor(sc)
        fr, fc = (sr - r0f)[..., None], (sc - c0f)[..., None]
        r0, c0 = r0f.astype(np.int64), c0f.astype(np.int64)
        out = (gather(r0, c0) * ((1 - fr) * (1 - fc)) + gather(r0, c0 + 1) * ((1 - fr) * fc)
               + gather(r0 + 1, c0) * (fr * (1 - fc)) + gather(r0 + 1, c0 + 1) * (fr * fc))
    if vr is not None:
        out = np.where((vr & vc)[..., None], out, float(cval))
    return out.reshape(B, H, W, C).astype(out_dtype, copy=False)


def _brightness_shift(x, brightness):
    """Keras's apply_brightness_shift(x, brightness, scale=False) on one channels-last image:
    through an 8-bit Pillow image (values truncated to integers; an image outside [0, 255]
    is first min-max scaled to it and scaled back after), ImageEnhance.Brightness (which
    clips at 255), and back to float32."""
    try:
        from PIL import Image, ImageEnhance
    except ImportError:
        raise ImportError("[ImageDataGenerator] brightness_range needs Pillow (as Keras does): "
                          "pip install pillow") from None
    x = np.asarray(x, np.float64)
    lo, hi = float(x.min()), float(x.max())
    local = lo < 0 or hi > 255
    a = x
    if local:
        a = a - lo
        top = a.max()
        if top != 0:
            a = a / top
        a = a * 255
    c = a.shape[-1]
    mode = {1: "L", 3: "RGB", 4: "RGBA"}.get(c)
    if mode is None:
        raise ValueError(f"[ImageDataGenerator] brightness_range needs 1, 3 or 4 channels, "
                         f"got an image of shape {x.shape}")
    u8 = a.astype(np.uint8)
    img = Image.fromarray(u8[..., 0] if c == 1 else u8, mode)
    out = np.asarray(ImageEnhance.Brightness(img).enhance(float(brightness)), np.float32)
    out = out.reshape(x.shape)
    if local:
        out = out / 255 * (hi - lo) + lo
    return out


def smart_resize(x, size, interpolation="bilinear"):
    """tf.keras.preprocessing.image.smart_resize: the largest centred crop of an (height,
    width, channels) image, or of each image of a (batch, height, width, channels) batch,
    with the aspect ratio of `size`, resized to `size` as
    tf.image.resize does ('bilinear': float32; 'nearest': the input dtype). NumPy in, NumPy out; a Tensor
    in, a Tensor out."""
    from ..layers.preprocessing import _smart_resize
    if len(size) != 2:
        raise ValueError(f"[smart_resize] Expected `size` to be a tuple of 2 integers, but "
                         f"got: {size}")
    is_np = isinstance(x, np.ndarray)
    a = np.asarray(x.numpy() if hasattr(x, "numpy") else x)
    if a.ndim not in (3, 4):
        raise ValueError(f"[smart_resize] Expected an image array with shape (height, width, "
                         f"channels) or (batch_size, height, width, channels), but got input "
                         f"with incorrect rank, of shape {a.shape}")
    batch = a if a.ndim == 4 else a[None]
    out = _smart_resize(batch.astype(np.float32), int(size[0]), int(size[1]), interpolation)
    out = out if a.ndim == 4 else out[0]
    if interpolation == "nearest":  # tf.image.resize keeps the input dtype for nearest
        out = np.asarray(out).astype(a.dtype)
    if is_np:
        return np.asarray(out)
    from ...framework.tensor import convert_to_tensor
    return convert_to_tensor(np.asarray(out))


def _transform_matrices(theta, tx, ty, shear, zx, zy, h, w):
    """Keras's composition (rotation @ shift @ shear @ zoom, about the centre), batched."""
    B = theta.shape[0]
    one, zero = np.ones(B), np.zeros(B)
    rot = np.stack([np.stack([np.cos(theta), -np.sin(theta), zero], -1),
                    np.stack([np.sin(theta), np.cos(theta), zero], -1),
                    np.stack([zero, zero, one], -1)], 1)
    shift = np.stack([np.stack([one, zero, tx], -1), np.stack([zero, one, ty], -1),
                      np.stack([zero, zero, one], -1)], 1)
    sh = np.stack([np.stack([one, -np.sin(shear), zero], -1),
                   np.stack([zero, np.cos(shear), zero], -1),
                   np.stack([zero, zero, one], -1)], 1)
    zoom = np.stack([np.stack([zx, zero, zero], -1), np.stack([zero, zy, zero], -1),
                     np.stack([zero, zero, one], -1)], 1)
    m = rot @ shift @ sh @ zoom
    ox, oy = h / 2.0 - 0.5, w / 2.0 - 0.5
    offset = np.array([[1, 0, ox], [0, 1, oy], [0, 0, 1]], np.float64)
    reset = np.array([[1, 0, -ox], [0, 1, -oy], [0, 0, 1]], np.float64)
    # Keras then swaps the first two coordinates (M' = P M P): its matrices are built for
    # (x, y) = (column, row), so tx / zx act along the width and theta turns the other way;
    # the centre offset is applied before the swap, as Keras does
    perm = np.array([[0, 1, 0], [1, 0, 0], [0, 0, 1]], np.float64)
    return perm @ (offset @ m @ reset) @ perm


def apply_affine_transform(x, theta=0, tx=0, ty=0, shear=0, zx=1, zy=1, row_axis=1, col_axis=2,
                           channel_axis=0, fill_mode="nearest", cval=0.0, order=1):
    """One image (Keras signature, its channels-first default axes; angles in degrees;
    tx / zx act along the column axis, ty / zy along the rows, as in Keras)."""
    x = np.asarray(x)
    xl = np.moveaxis(x, (row_axis, col_axis, channel_axis), (0, 1, 2))[None]
    m = _transform_matrices(np.array([np.deg2rad(theta)]), np.array([float(tx)]),
                            np.array([float(ty)]), np.array([np.deg2rad(shear)]),
                            np.array([float(zx)]), np.array([float(zy)]), xl.shape[1], xl.shape[2])
    out = _ndimage_resample(xl, m, fill_mode, cval, order)[0]
    return np.moveaxis(out, (0, 1, 2), (row_axis, col_axis, channel_axis))



# -- Keras 2's single-image random transforms (tf.keras.preprocessing.image.random_*): one draw
# from NumPy's global generator each, as Keras (np.random.seed reproduces TF's values), then
# apply_affine_transform; the default axes are Keras's channels-first ones (1, 2, 0).

def random_rotation(x, rg, row_axis=1, col_axis=2, channel_axis=0, fill_mode="nearest",
                    cval=0.0, interpolation_order=1):
    """Rotates by an angle drawn uniformly from [-rg, rg] degrees."""
    theta = np.random.uniform(-rg, rg)
    return apply_affine_transform(x, theta=theta, row_axis=row_axis, col_axis=col_axis,
                                  channel_axis=channel_axis, fill_mode=fill_mode, cval=cval,
                                  order=interpolation_order)


def random_shift(x, wrg, hrg, row_axis=1, col_axis=2, channel_axis=0, fill_mode="nearest",
                 cval=0.0, interpolation_order=1):
    """Shifts by fractions drawn from [-hrg, hrg] of the height and [-wrg, wrg] of the width
    (Keras passes them as tx, ty in that order)."""
    h, w = x.shape[row_axis], x.shape[col_axis]
    tx = np.random.uniform(-hrg, hrg) * h
    ty = np.random.uniform(-wrg, wrg) * w
    return apply_affine_transform(x, tx=tx, ty=ty, row_axis=row_axis, col_axis=col_axis,
                                  channel_axis=channel_axis, fill_mode=fill_mode, cval=cval,
                                  order=interpolation_order)


def random_shear(x, intensity, row_axis=1, col_axis=2, channel_axis=0, fill_mode="nearest",
                 cval=0.0, interpolation_order=1):
    """Shears by an angle drawn uniformly from [-intensity, intensity] degrees."""
    shear = np.random.uniform(-intensity, intensity)
    return apply_affine_transform(x, shear=shear, row_axis=row_axis, col_axis=col_axis,
                                  channel_axis=channel_axis, fill_mode=fill_mode, cval=cval,
                                  order=interpolation_order)


def random_zoom(x, zoom_range, row_axis=1, col_axis=2, channel_axis=0, fill_mode="nearest",
                cval=0.0, interpolation_order=1):
    """Zooms by (zx, zy) drawn together from [zoom_range[0], zoom_range[1]] (no draw when the
    range is (1, 1))."""
    if len(zoom_range) != 2:
        raise ValueError(f"[random_zoom] `zoom_range` should be a tuple or list of two floats. "
                         f"Received: {zoom_range}")
    if zoom_range[0] == 1 and zoom_range[1] == 1:
        zx, zy = 1, 1
    else:
        zx, zy = np.random.uniform(zoom_range[0], zoom_range[1], 2)
    return apply_affine_transform(x, zx=zx, zy=zy, row_axis=row_axis, col_axis=col_axis,
                                  channel_axis=channel_axis, fill_mode=fill_mode, cval=cval,
                                  order=interpolation_order)


def apply_channel_shift(x, intensity, channel_axis=0):
    """Adds `intensity` to every channel, clipped to the image's own [min, max]."""
    x = np.asarray(x)
    return np.clip(x + intensity, np.min(x), np.max(x))


def random_channel_shift(x, intensity_range, channel_axis=0):
    """apply_channel_shift with an intensity drawn from [-intensity_range, intensity_range]."""
    intensity = np.random.uniform(-intensity_range, intensity_range)
    return apply_channel_shift(x, intensity, channel_axis=channel_axis)


def apply_brightness_shift(x, brightness, scale=True):
    """Keras's: through array_to_img (min-max scaled to [0, 255] when `scale`, or when x leaves
    [0, 255]), Pillow's ImageEnhance.Brightness and img_to_array (channels-last by default);
    with scale=False an out-of-range image is mapped back to its own range."""
    from PIL import ImageEnhance
    x = np.asarray(x)
    x_min, x_max = np.min(x), np.max(x)
    local_scale = x_min < 0 or x_max > 255
    img = array_to_img(x, scale=bool(local_scale or scale))
    out = img_to_array(ImageEnhance.Brightness(img).enhance(brightness))
    if not scale and local_scale:
        out = out / 255 * (x_max - x_min) + x_min
    return out


def random_brightness(x, brightness_range, scale=True):
    """apply_brightness_shift with a factor drawn from [brightness_range[0],
    brightness_range[1]]."""
    if len(brightness_range) != 2:
        raise ValueError(f"[random_brightness] `brightness_range` should be a tuple or list of "
                         f"two floats. Received: {brightness_range}")
    u = np.random.uniform(brightness_range[0], brightness_range[1])
    return apply_brightness_shift(x, u, scale)

class ImageDataGenerator:
    def __init__(self, featurewise_center=False, samplewise_center=False,
                 featurewise_std_normalization=False, samplewise_std_normalization=False,
                 zca_whitening=False, zca_epsilon=1e-6, rotation_range=0, width_shift_range=0.0,
                 height_shift_range=0.0, brightness_range=None, shear_range=0.0, zoom_range=0.0,
                 channel_shift_range=0.0, fill_mode="nearest", cval=0.0, horizontal_flip=False,
                 vertical_flip=False, rescale=None, preprocessing_function=None,
                 data_format=None, validation_split=0.0, interpolation_order=1, dtype=None):
        if zca_whitening:   # Keras: ZCA needs centred data and replaces std normalisation
            if not featurewise_center:
                featurewise_center = True
                warnings.warn("This ImageDataGenerator specifies `zca_whitening`, which "
                              "overrides setting of `featurewise_center`.")
            if featurewise_std_normalization:
                featurewise_std_normalization = False
                warnings.warn("This ImageDataGenerator specifies `zca_whitening` which "
                              "overrides setting of `featurewise_std_normalization`.")
        if fill_mode not in ("constant", "nearest", "reflect", "wrap"):
            raise ValueError(f"[ImageDataGenerator] fill_mode must be 'constant', 'nearest', "
                             f"'reflect' or 'wrap', got {fill_mode!r}")
        if data_format is None:
            from .. import backend
            data_format = backend.image_data_format()
        if data_format not in ("channels_last", "channels_first"):
            raise ValueError(f"[ImageDataGenerator] data_format must be 'channels_last' or "
                             f"'channels_first', got {data_format!r}")
        self.featurewise_center = featurewise_center
        self.samplewise_center = samplewise_center
        self.featurewise_std_normalization = featurewise_std_normalization
        self.samplewise_std_normalization = samplewise_std_normalization
        self.zca_whitening = bool(zca_whitening)
        self.zca_epsilon = float(zca_epsilon)
        self.zca_whitening_matrix = None
        self.rotation_range = _range("rotation_range", rotation_range)
        self.width_shift_range = width_shift_range
        self.height_shift_range = height_shift_range
        self.brightness_range = brightness_range
        self.shear_range = _range("shear_range", shear_range)
        if isinstance(zoom_range, (int, float, np.integer, np.floating)):
            self.zoom_range = (1 - float(zoom_range), 1 + float(zoom_range))
        elif len(zoom_range) == 2:
            self.zoom_range = (float(zoom_range[0]), float(zoom_range[1]))
        else:
            raise ValueError(f"[ImageDataGenerator] zoom_range must be a float or a pair, got "
                             f"{zoom_range!r}")
        self.channel_shift_range = float(channel_shift_range)
        self.fill_mode = fill_mode
        self.cval = cval
        self.horizontal_flip = horizontal_flip
        self.vertical_flip = vertical_flip
        self.rescale = rescale
        self.preprocessing_function = preprocessing_function
        self.data_format = data_format
        self.validation_split = float(validation_split)
        self.interpolation_order = int(interpolation_order)
        self.dtype = np.dtype(dtype or "float32")
        self.mean = None
        self.std = None
        self._rng = np.random.default_rng()

    # ---- parameters ---------------------------------------------------------------------
    def _shift(self, rng, rng_val, n, B):
        if isinstance(rng_val, (list, tuple, np.ndarray)):
            return rng.choice(np.asarray(rng_val, np.float64), B)
        r = float(rng_val)
        if r == 0:
            return np.zeros(B)
        if r >= 1 and float(r).is_integer():
            return rng.integers(-int(r), int(r) + 1, B).astype(np.float64)
        v = rng.uniform(-r, r, B)
        return v * n if r < 1 else v

    def _batch_params(self, B, h, w, rng):
        theta = np.deg2rad(rng.uniform(-self.rotation_range, self.rotation_range, B)) \
            if self.rotation_range else np.zeros(B)
        tx = self._shift(rng, self.height_shift_range, h, B)
        ty = self._shift(rng, self.width_shift_range, w, B)
        shear = np.deg2rad(rng.uniform(-self.shear_range, self.shear_range, B)) \
            if self.shear_range else np.zeros(B)
        if self.zoom_range[0] == 1 and self.zoom_range[1] == 1:
            zx = zy = np.ones(B)
        else:
            zx = rng.uniform(self.zoom_range[0], self.zoom_range[1], B)
            zy = rng.uniform(self.zoom_range[0], self.zoom_range[1], B)
        flip_h = rng.random(B) < 0.5 if self.horizontal_flip else np.zeros(B, bool)
        flip_v = rng.random(B) < 0.5 if self.vertical_flip else np.zeros(B, bool)
        cs = rng.uniform(-self.channel_shift_range, self.channel_shift_range, B) \
            if self.channel_shift_range else None
        br = rng.uniform(self.brightness_range[0], self.brightness_range[1], B) \
            if self.brightness_range is not None else None
        return dict(theta=theta, tx=tx, ty=ty, shear=shear, zx=zx, zy=zy, flip_horizontal=flip_h,
                    flip_vertical=flip_v, channel_shift_intensity=cs, brightness=br)

    def _to_last(self, x):
        return np.moveaxis(x, 1, -1) if self.data_format == "channels_first" else x

    def _from_last(self, x):
        return np.moveaxis(x, -1, 1) if self.data_format == "channels_first" else x

    def _apply_batch(self, x, p):
        """x channels-last (B, H, W, C) float; p from _batch_params."""
        B, H, W, C = x.shape
        dtype = x.dtype
        affine = (np.any(p["theta"] != 0) or np.any(p["tx"] != 0) or np.any(p["ty"] != 0)
                  or np.any(p["shear"] != 0) or np.any(p["zx"] != 1) or np.any(p["zy"] != 1))
        if affine:
            m = _transform_matrices(p["theta"], p["tx"], p["ty"], p["shear"], p["zx"], p["zy"],
                                    H, W)
            x = _ndimage_resample(x, m, self.fill_mode, self.cval, self.interpolation_order)
        if p.get("channel_shift_intensity") is not None:
            lo = x.min(axis=(1, 2, 3), keepdims=True)
            hi = x.max(axis=(1, 2, 3), keepdims=True)
            x = np.clip(x + p["channel_shift_intensity"][:, None, None, None], lo, hi)
        if p["flip_horizontal"].any():
            x = np.where(p["flip_horizontal"][:, None, None, None], x[:, :, ::-1], x)
        if p["flip_vertical"].any():
            x = np.where(p["flip_vertical"][:, None, None, None], x[:, ::-1], x)
        if p.get("brightness") is not None:
            x = np.stack([_brightness_shift(x[b], p["brightness"][b]) for b in range(B)])
        return x.astype(dtype, copy=False)

    def random_transform_batch(self, x, rng=None):
        """Augments a batch in the generator's data_format (one vectorised resample)."""
        rng = rng or self._rng
        xl = np.asarray(self._to_last(np.asarray(x)), self.dtype)
        p = self._batch_params(xl.shape[0], xl.shape[1], xl.shape[2], rng)
        return self._from_last(self._apply_batch(xl, p))

    def get_random_transform(self, img_shape, seed=None):
        rng = np.random.default_rng(seed) if seed is not None else self._rng
        shp = img_shape if self.data_format == "channels_last" else \
            tuple(img_shape[1:]) + (img_shape[0],)
        p = self._batch_params(1, shp[0], shp[1], rng)
        out = {"theta": float(np.rad2deg(p["theta"][0])), "tx": float(p["tx"][0]),
               "ty": float(p["ty"][0]), "shear": float(np.rad2deg(p["shear"][0])),
               "zx": float(p["zx"][0]), "zy": float(p["zy"][0]),
               "flip_horizontal": bool(p["flip_horizontal"][0]),
               "flip_vertical": bool(p["flip_vertical"][0])}
        # Keras always has these two keys, None when the generator does not use them
        out["channel_shift_intensity"] = None if p["channel_shift_intensity"] is None else \
            float(p["channel_shift_intensity"][0])
        out["brightness"] = None if p["brightness"] is None else float(p["brightness"][0])
        return out

    def apply_transform(self, x, transform_parameters):
        t = transform_parameters
        p = {"theta": np.array([np.deg2rad(t.get("theta", 0))]), "tx": np.array([t.get("tx", 0.)]),
             "ty": np.array([t.get("ty", 0.)]), "shear": np.array([np.deg2rad(t.get("shear", 0))]),
             "zx": np.array([t.get("zx", 1.)]), "zy": np.array([t.get("zy", 1.)]),
             "flip_horizontal": np.array([bool(t.get("flip_horizontal", False))]),
             "flip_vertical": np.array([bool(t.get("flip_vertical", False))]),
             "channel_shift_intensity": None if t.get("channel_shift_intensity") is None
             else np.array([t["channel_shift_intensity"]]),
             "brightness": None if t.get("brightness") is None else np.array([t["brightness"]])}
        xl = np.asarray(self._to_last(np.asarray(x)[None]), self.dtype)
        return self._from_last(self._apply_batch(xl, p))[0]

    def random_transform(self, x, seed=None):
        return self.apply_transform(x, self.get_random_transform(np.shape(x), seed))

    # ---- standardisation ----------------------------------------------------------------
    def standardize(self, x):
        """Rescale, preprocessing_function, then sample- and feature-wise normalisation
        (Keras order); x is a single image or a batch, in the generator's data_format."""
        x = np.asarray(x, self.dtype)
        single = x.ndim == 3
        xb = x[None] if single else x
        if self.rescale:
            xb = xb * self.dtype.type(self.rescale)
        if self.preprocessing_function is not None:
            xb = np.stack([np.asarray(self.preprocessing_function(v), self.dtype) for v in xb])
        axes = tuple(range(1, xb.ndim))
        if self.samplewise_center:
            xb = xb - xb.mean(axis=axes, keepdims=True)
        if self.samplewise_std_normalization:
            xb = xb / (xb.std(axis=axes, keepdims=True) + 1e-6)
        if self.featurewise_center:
            if self.mean is None:
                raise ValueError("[ImageDataGenerator] featurewise_center needs fit(x) first")
            xb = xb - self.mean
        if self.featurewise_std_normalization:
            if self.std is None:
                raise ValueError("[ImageDataGenerator] featurewise_std_normalization needs "
                                 "fit(x) first")
            xb = xb / (self.std + 1e-6)
        if self.zca_whitening:
            if self.zca_whitening_matrix is None:
                raise ValueError("[ImageDataGenerator] zca_whitening needs fit(x) first")
            m = self.zca_whitening_matrix
            flat = xb.reshape(xb.shape[0], -1)
            if flat.shape[1] != m.shape[0]:
                raise ValueError(f"[ImageDataGenerator.standardize] zca_whitening was fit on "
                                 f"images of {m.shape[0]} values, got images of shape "
                                 f"{tuple(xb.shape[1:])} ({flat.shape[1]} values)")
            xb = (flat @ m).reshape(xb.shape)
        xb = xb.astype(self.dtype, copy=False)
        return xb[0] if single else xb

    @property
    def principal_components(self):   # the name older Keras versions gave the ZCA matrix
        return self.zca_whitening_matrix

    def fit(self, x, augment=False, rounds=1, seed=None):
        """Computes the feature-wise mean/std (per channel) of x (N, H, W, C or N, C, H, W),
        and for zca_whitening the ZCA matrix of the centred images, as Keras 2.15: with
        X (n, d) the flattened images and X^T = U S V^T (thin SVD),
        W = U diag(sqrt(n) / (S + zca_epsilon)) U^T (~ Sigma^(-1/2), Sigma = X^T X / n)."""
        x = np.asarray(x, self.dtype)
        if x.ndim != 4:
            raise ValueError(f"[ImageDataGenerator.fit] expects a 4-D array, got shape {x.shape}")
        if augment:
            rng = np.random.default_rng(seed)
            x = np.concatenate([self.random_transform_batch(x, rng) for _ in range(int(rounds))])
        if self.rescale:
            x = x * self.dtype.type(self.rescale)
        cax = 1 if self.data_format == "channels_first" else 3
        axes = tuple(a for a in range(4) if a != cax)
        shape = [1, 1, 1]
        shape[cax - 1] = x.shape[cax]
        if self.featurewise_center:
            self.mean = x.mean(axis=axes).reshape(shape).astype(self.dtype)
            x = x - self.mean
        if self.featurewise_std_normalization:
            self.std = x.std(axis=axes).reshape(shape).astype(self.dtype)
            x = x / (self.std + 1e-6)
        if self.zca_whitening:
            n = x.shape[0]
            flat = x.reshape(n, -1).astype(np.float64)
            u, s, _ = np.linalg.svd(flat.T, full_matrices=False)
            s_inv = np.sqrt(n) / (s + self.zca_epsilon)
            self.zca_whitening_matrix = ((u * s_inv) @ u.T).astype(self.dtype)

    # ---- iterators ----------------------------------------------------------------------
    def flow(self, x, y=None, batch_size=32, shuffle=True, sample_weight=None, seed=None,
             save_to_dir=None, save_prefix="", save_format="png", ignore_class_split=False,
             subset=None):
        return NumpyArrayIterator(x, y, self, batch_size=batch_size, shuffle=shuffle,
                                  sample_weight=sample_weight, seed=seed, subset=subset,
                                  ignore_class_split=ignore_class_split)

    def flow_from_directory(self, directory, target_size=(256, 256), color_mode="rgb",
                            classes=None, class_mode="categorical", batch_size=32, shuffle=True,
                            seed=None, save_to_dir=None, save_prefix="", save_format="png",
                            follow_links=False, subset=None, interpolation="nearest",
                            keep_aspect_ratio=False):
        """Batches of images read from `directory`/<class>/... (one subfolder per class)."""
        return DirectoryIterator(directory, self, target_size=target_size,
                                 color_mode=color_mode, classes=classes, class_mode=class_mode,
                                 batch_size=batch_size, shuffle=shuffle, seed=seed,
                                 follow_links=follow_links, subset=subset,
                                 interpolation=interpolation,
                                 keep_aspect_ratio=keep_aspect_ratio)


class Iterator(Sequence):
    """Batches over n indices; `__getitem__` for fit, `__next__` for generator-style use."""

    def __init__(self, n, batch_size, shuffle, seed):
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"[ImageDataGenerator.flow] batch_size must be >= 1, got {batch_size}")
        self.n = int(n)
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.seed = seed
        self.batch_index = 0
        self.total_batches_seen = 0
        self._order_rng = np.random.default_rng(seed)
        self.index_array = None
        self._set_index_array()

    def _set_index_array(self):
        self.index_array = self._order_rng.permutation(self.n) if self.shuffle else \
            np.arange(self.n)

    def __len__(self):
        return math.ceil(self.n / self.batch_size)

    def on_epoch_end(self):
        self._set_index_array()

    def reset(self):
        self.batch_index = 0

    def __getitem__(self, idx):
        if idx < 0:
            idx += len(self)
        if not 0 <= idx < len(self):
            raise IndexError(f"[ImageDataGenerator.flow] batch {idx} out of range "
                             f"(0..{len(self) - 1})")
        sel = self.index_array[self.batch_size * idx: self.batch_size * (idx + 1)]
        return self._get_batches_of_transformed_samples(sel)

    def __iter__(self):
        return self

    def __next__(self):
        if self.batch_index == 0 and self.total_batches_seen > 0:
            self.on_epoch_end()
        i = self.batch_index
        self.batch_index = (self.batch_index + 1) % len(self)
        self.total_batches_seen += 1
        return self[i]

    next = __next__


class NumpyArrayIterator(Iterator):
    def __init__(self, x, y, image_data_generator, batch_size=32, shuffle=False,
                 sample_weight=None, seed=None, subset=None, dtype=None,
                 ignore_class_split=False):
        gen = image_data_generator
        x = np.asarray(x)
        if x.ndim != 4:
            raise ValueError(f"[ImageDataGenerator.flow] x must be 4-D (samples, rows, cols, "
                             f"channels or samples, channels, rows, cols), got shape {x.shape}")
        if y is not None and len(x) != len(y):
            raise ValueError(f"[ImageDataGenerator.flow] x and y have different lengths: "
                             f"{len(x)} vs {len(y)}")
        if sample_weight is not None and len(sample_weight) != len(x):
            raise ValueError("[ImageDataGenerator.flow] sample_weight and x differ in length")
        if subset is not None and subset not in ("training", "validation"):
            raise ValueError(f"[ImageDataGenerator.flow] subset must be 'training' or "
                             f"'validation'. Received: subset={subset!r}")
        if subset is not None and gen.validation_split:
            # Keras: the FIRST int(n * validation_split) samples are the validation subset
            k = int(len(x) * gen.validation_split)
            if y is not None and not ignore_class_split and not np.array_equal(
                    np.unique(np.asarray(y)[:k]), np.unique(np.asarray(y)[k:])):
                raise ValueError("[ImageDataGenerator.flow] Training and validation subsets "
                                 "have different number of classes after the split. If your "
                                 "numpy arrays are sorted by the label, you might want to "
                                 "shuffle them (or pass ignore_class_split=True).")
            sl = slice(k, None) if subset == "training" else slice(None, k)
            x = x[sl]
            y = None if y is None else np.asarray(y)[sl]
            sample_weight = None if sample_weight is None else np.asarray(sample_weight)[sl]
        self.x = x
        self.y = None if y is None else np.asarray(y)
        self.sample_weight = None if sample_weight is None else np.asarray(sample_weight)
        self.image_data_generator = gen
        self._aug_rng = np.random.default_rng(None if seed is None else seed + 1)
        super().__init__(len(x), batch_size, shuffle, seed)

    def _get_batches_of_transformed_samples(self, index_array):
        gen = self.image_data_generator
        xb = gen.random_transform_batch(self.x[index_array], self._aug_rng)
        xb = gen.standardize(xb)
        out = (xb,)
        if self.y is not None:
            out = out + (self.y[index_array],)
        if self.sample_weight is not None:
            out = out + (self.sample_weight[index_array],)
        return out[0] if len(out) == 1 else out


class DirectoryIterator(Iterator):
    """Images from `directory`, one subfolder per class (Keras semantics): the classes are the
    sorted subfolder names (or `classes`), `class_indices` maps each to its index, each
    class's files are found recursively in sorted order (png, jpg, jpeg, bmp, ppm, tif, tiff)
    and `classes` / `filenames` list them class by class. With the generator's
    validation_split, subset 'validation' takes the first int(split * n) files of each class
    and 'training' the rest. A batch is (x, y): y one-hot for class_mode 'categorical',
    the class index as a float for 'binary' and 'sparse', x itself for 'input'; only x
    for class_mode None. Files are loaded with load_img(color_mode, target_size,
    interpolation), then augmented and standardized like `flow`."""

    white_list_formats = ("png", "jpg", "jpeg", "bmp", "ppm", "tif", "tiff")

    def __init__(self, directory, image_data_generator, target_size=(256, 256),
                 color_mode="rgb", classes=None, class_mode="categorical", batch_size=32,
                 shuffle=True, seed=None, data_format=None, follow_links=False, subset=None,
                 interpolation="nearest", keep_aspect_ratio=False, dtype=None):
        import os
        gen = image_data_generator
        if color_mode not in ("rgb", "rgba", "grayscale"):
            raise ValueError(f"[flow_from_directory] color_mode must be 'rgb', 'rgba' or "
                             f"'grayscale'. Received: color_mode={color_mode!r}")
        if class_mode not in ("categorical", "binary", "sparse", "input", None):
            raise ValueError(f"[flow_from_directory] class_mode must be 'categorical', "
                             f"'binary', 'sparse', 'input' or None. Received: "
                             f"class_mode={class_mode!r}")
        if subset is not None and subset not in ("training", "validation"):
            raise ValueError(f"[flow_from_directory] subset must be 'training', 'validation' "
                             f"or None. Received: subset={subset!r}")
        if not os.path.isdir(os.fspath(directory)):
            raise ValueError(f"[flow_from_directory] directory {directory!r} does not exist "
                             f"or is not a folder")
        self.directory = os.fspath(directory)
        self.image_data_generator = gen
        if not (isinstance(target_size, (tuple, list)) and len(target_size) == 2
                and all(isinstance(v, (int, np.integer)) and v > 0 for v in target_size)):
            raise ValueError(f"[flow_from_directory] target_size must be a pair of positive "
                             f"integers (height, width). Received: target_size={target_size!r}")
        self.target_size = (int(target_size[0]), int(target_size[1]))
        self.color_mode = color_mode
        self.data_format = data_format or gen.data_format
        if self.data_format != gen.data_format:
            raise ValueError(f"[flow_from_directory] data_format {self.data_format!r} differs "
                             f"from the generator's {gen.data_format!r}")
        self.dtype = np.dtype(dtype or gen.dtype)
        self.class_mode = class_mode
        self.interpolation = interpolation
        self.keep_aspect_ratio = keep_aspect_ratio
        channels = {"rgb": 3, "rgba": 4, "grayscale": 1}[color_mode]
        self.image_shape = (self.target_size + (channels,) if self.data_format == "channels_last"
                            else (channels,) + self.target_size)
        if not classes:
            classes = [d for d in sorted(os.listdir(self.directory))
                       if os.path.isdir(os.path.join(self.directory, d))]
        self.num_classes = len(classes)
        self.class_indices = dict(zip(classes, range(len(classes))))
        split = gen.validation_split if subset is not None else 0.0
        formats = tuple("." + f for f in self.white_list_formats)
        filepaths, labels = [], []
        for name in classes:
            top = os.path.join(self.directory, name)
            found = []
            walk = sorted(os.walk(top, followlinks=follow_links), key=lambda w: w[0])
            for root, _, files in walk:
                found.extend(os.path.join(root, f) for f in sorted(files)
                             if f.lower().endswith(formats))
            if split:
                k = int(split * len(found))
                found = found[:k] if subset == "validation" else found[k:]
            filepaths.extend(found)
            labels.extend([self.class_indices[name]] * len(found))
        self.filepaths = filepaths
        self.filenames = [os.path.relpath(f, self.directory) for f in filepaths]
        self.classes = np.array(labels, dtype=np.int32)
        self.samples = len(filepaths)
        print(f"Found {self.samples} images belonging to {self.num_classes} classes.")
        self._aug_rng = np.random.default_rng(None if seed is None else seed + 1)
        super().__init__(self.samples, batch_size, shuffle, seed)

    @property
    def labels(self):
        return self.classes

    def _get_batches_of_transformed_samples(self, index_array):
        from ..utils.image_utils import load_img
        gen = self.image_data_generator
        xb = np.zeros((len(index_array),) + self.image_shape, dtype=self.dtype)
        for i, j in enumerate(index_array):
            img = load_img(self.filepaths[j], color_mode=self.color_mode,
                           target_size=self.target_size, interpolation=self.interpolation,
                           keep_aspect_ratio=self.keep_aspect_ratio)
            xb[i] = img_to_array(img, data_format=self.data_format, dtype=self.dtype)
            if hasattr(img, "close"):
                img.close()
        xb = gen.standardize(gen.random_transform_batch(xb, self._aug_rng))
        if self.class_mode == "input":
            return xb, xb.copy()
        if self.class_mode in ("binary", "sparse"):
            return xb, self.classes[index_array].astype(self.dtype)
        if self.class_mode == "categorical":
            yb = np.zeros((len(index_array), self.num_classes), dtype=self.dtype)
            yb[np.arange(len(index_array)), self.classes[index_array]] = 1.0
            return xb, yb
        return xb


def _pil_image(what):
    try:
        from PIL import Image
    except ImportError:
        raise ImportError(f"[{what}] needs Pillow (PIL images), and Pillow is not installed: "
                          "pip install 'nabi[image]' (or pip install pillow)") from None
    return Image


def _data_format(what, data_format):
    if data_format is None:
        from .. import backend
        data_format = backend.image_data_format()
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"[{what}] data_format must be 'channels_last' or 'channels_first'. "
                         f"Received: data_format={data_format!r}")
    return data_format


def img_to_array(img, data_format=None, dtype=None):
    """A PIL image (or any array-like) as a float32 (H, W, C) array -- (C, H, W) with
    channels_first; a 2-D (grayscale) image gets a channel axis (Keras semantics)."""
    data_format = _data_format("img_to_array", data_format)
    if dtype is None:
        from .. import backend
        dtype = backend.floatx()
    a = np.asarray(img, dtype=dtype)
    if a.ndim == 3:
        if data_format == "channels_first":
            a = a.transpose(2, 0, 1)
    elif a.ndim == 2:
        a = a[None] if data_format == "channels_first" else a[..., None]
    else:
        raise ValueError(f"[img_to_array] Unsupported image shape: {a.shape}")
    return a


def array_to_img(x, data_format=None, scale=True, dtype=None):
    """A 3-D image array as a PIL image (Keras semantics): with scale=True the values are
    shifted to start at 0 and stretched to [0, 255]; then truncated to uint8, 4 channels
    RGBA, 3 RGB, 1 'L' (or 32-bit 'I' when a value exceeds 255). Needs Pillow."""
    Image = _pil_image("array_to_img")
    data_format = _data_format("array_to_img", data_format)
    if dtype is None:
        from .. import backend
        dtype = backend.floatx()
    if hasattr(x, "numpy"):
        x = x.numpy()
    x = np.asarray(x, dtype=dtype)
    if x.ndim != 3:
        raise ValueError(f"[array_to_img] Expected image array to have rank 3 (single image). "
                         f"Got array with shape: {x.shape}")
    if data_format == "channels_first":
        x = x.transpose(1, 2, 0)
    if scale:
        x = x - np.min(x)
        x_max = np.max(x)
        if x_max != 0:
            x = x / x_max
        x = x * 255
    if x.shape[2] == 4:
        return Image.fromarray(x.astype("uint8"), "RGBA")
    if x.shape[2] == 3:
        return Image.fromarray(x.astype("uint8"), "RGB")
    if x.shape[2] == 1:
        if np.max(x) > 255:
            return Image.fromarray(x[:, :, 0].astype("int32"), "I")
        return Image.fromarray(x[:, :, 0].astype("uint8"), "L")
    raise ValueError(f"[array_to_img] Unsupported channel number: {x.shape[2]} (shape "
                     f"{x.shape})")


def __getattr__(name):
    # Keras 2 exports load_img/save_img here too; they live in keras.utils.image_utils, which
    # imports this module, hence the lazy lookup
    if name in ("load_img", "save_img"):
        from ..utils import image_utils
        return getattr(image_utils, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
