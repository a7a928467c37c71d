"""The Keras image layers on GPU inputs compute on the device (bench/results/gpu_host_ops.md,
"Keras layers on GPU inputs": they copied the batch to the host and back on every call):

  RandomRotation / RandomTranslation / RandomZoom  csrc/cuda/image_transform.cu
                                                   (cuda_backend.affine_transform)
  RandomFlip / RandomContrast / RandomBrightness   device ops (reverse, where, mean, clip)
  Resizing / RandomHeight / RandomWidth            resize matrices (einsum)

The kernel is checked against an independent reference of TF's ImageProjectiveTransformV3
(a per-pixel Python loop over float32 scalars: every fill mode, both interpolations,
fill_value, projective rows); the layers on CPU / emulated GPU / host simulator (conftest's
`where`) against that reference and against the CPU result for the same seed; and the layers
on GPU inputs read nothing back (test_cuda_host_ops's counter).
"""
import copy
import math

import numpy as np
import pytest

import nabi
from nabi import _C

cb = _C.cuda_backend
f32 = np.float32
MODES = ["reflect", "wrap", "constant", "nearest"]


# (the `backend` fixture, the kernel module or its emulator, is conftest.py's)


def _buf(be, a):
    return be.DeviceBuffer.from_numpy(np.ascontiguousarray(a))


def _np(be, b):
    return b.numpy() if hasattr(b, "numpy") else be.to_numpy(b)


# ---------------------------------------------------------------- reference
def _map(v, n, mode):
    """TF's MapCoordinate for one float32 coordinate along an axis of n pixels."""
    if mode == "constant" or math.isnan(v):
        return v
    if n <= 1:
        return f32(0)
    if mode == "reflect":
        sz2 = f32(2 * n)
        if v < 0:
            v = v + sz2 * np.trunc(-v / sz2)
            v = v + sz2 if v < -n else -v - f32(1)
        elif v > n - 1:
            v = v - sz2 * np.trunc(v / sz2)
            v = sz2 - v - f32(1) if v >= n else v
    elif mode == "wrap":
        sz = f32(n - 1)
        if v < 0:
            v = v + f32(n) * (np.trunc(-v / sz) + f32(1))
        elif v > n - 1:
            v = v - f32(n) * np.trunc(v / sz)
    return min(max(v, f32(0)), f32(n - 1))


def ref_transform(x, t, mode, interp, fill=0.0):
    """ImageProjectiveTransformV3 pixel by pixel: float32 coordinates (one rounding per
    operation), blend in x's dtype; nearest reads sign(v) floor(|v| + 0.5)."""
    B, H, W, C = x.shape
    t = np.broadcast_to(np.asarray(t, f32), (B, 8))
    T = x.dtype.type
    fv = T(fill)
    y = np.empty_like(x)

    def px(b, r, c):
        if 0 <= r < H and 0 <= c < W:
            return x[b, int(r), int(c)]
        return np.full(C, fv, x.dtype)

    for b in range(B):
        a = [f32(v) for v in t[b]]
        for r in range(H):
            for c in range(W):
                rf, cf = f32(r), f32(c)
                k = a[6] * cf + a[7] * rf + f32(1)
                if k == 0:
                    y[b, r, c] = fv
                    continue
                sx = _map((a[0] * cf + a[1] * rf + a[2]) / k, W, mode)
                sy = _map((a[3] * cf + a[4] * rf + a[5]) / k, H, mode)
                if math.isnan(sx) or math.isnan(sy):
                    y[b, r, c] = fv if interp == "nearest" else np.nan
                    continue
                if interp == "nearest":
                    ry = math.copysign(math.floor(f32(abs(sy)) + f32(0.5)), sy)
                    rx = math.copysign(math.floor(f32(abs(sx)) + f32(0.5)), sx)
                    y[b, r, c] = px(b, ry, rx)
                    continue
                y0, x0 = np.floor(sy), np.floor(sx)
                wy, wx = sy - y0, sx - x0
                wy0, wx0, wy1, wx1 = T(f32(1) - wy), T(f32(1) - wx), T(wy), T(wx)
                top = wx0 * px(b, y0, x0) + wx1 * px(b, y0, x0 + 1)
                bot = wx0 * px(b, y0 + 1, x0) + wx1 * px(b, y0 + 1, x0 + 1)
                y[b, r, c] = wy0 * top + wy1 * bot
    return y


def _rotations(B, H, W, rng, scale=1.0):
    ang = rng.uniform(-np.pi, np.pi, B)
    c, s = np.cos(ang) * scale, np.sin(ang) * scale
    xo = ((W - 1) - (c * (W - 1) - s * (H - 1))) / 2
    yo = ((H - 1) - (s * (W - 1) + c * (H - 1))) / 2
    z = np.zeros(B)
    return np.stack([c, -s, xo + 0.3, s, c, yo - 0.7, z, z], 1).astype(f32)


# ---------------------------------------------------------------- kernel
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("interp", ["bilinear", "nearest"])
@pytest.mark.parametrize("mode", MODES)
def test_kernel_matches_reference(backend, mode, interp, dtype, rng):
    x = rng.uniform(-5, 5, (3, 5, 7, 2)).astype(dtype)
    for scale in (0.8, 1.7, 6.0):                    # zoomed out: periods outside the image
        t = _rotations(3, 5, 7, rng, scale=scale)
        y = _np(backend, backend.affine_transform(_buf(backend, x), _buf(backend, t), mode,
                                                  interp, 2.5))
        assert y.dtype == dtype and y.shape == x.shape
        np.testing.assert_array_equal(y, ref_transform(x, t, mode, interp, 2.5))


@pytest.mark.parametrize("interp", ["bilinear", "nearest"])
def test_kernel_projective_rows_and_broadcast(backend, interp, rng):
    x = rng.standard_normal((2, 4, 6, 3)).astype(np.float32)
    t = np.array([[0.9, 0.2, 0.5, -0.1, 1.1, 0.25, 0.05, -0.08],
                  [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, -0.5, 0.0]], f32)   # k = 0 at column 2
    for tt in (t, t[1:]):                                # (B, 8) and one row for the batch
        y = _np(backend, backend.affine_transform(_buf(backend, x), _buf(backend, tt),
                                                  "constant", interp, -1.0))
        np.testing.assert_array_equal(y, ref_transform(x, tt, "constant", interp, -1.0))
    # the identity gives the image back; a shift by whole pixels moves it
    ident = np.array([[1, 0, 0, 0, 1, 0, 0, 0]], f32)
    y = _np(backend, backend.affine_transform(_buf(backend, x), _buf(backend, ident)))
    np.testing.assert_array_equal(y, x)
    shift = np.array([[1, 0, -2, 0, 1, 1, 0, 0]], f32)   # out(r, c) = in(r + 1, c - 2)
    y = _np(backend, backend.affine_transform(_buf(backend, x), _buf(backend, shift),
                                              "constant", interp, 0.0))
    np.testing.assert_array_equal(y[:, :3, 2:], x[:, 1:, :4])
    assert (y[:, 3] == 0).all() and (y[:, :, :2] == 0).all()


def test_kernel_many_blocks(backend, rng):
    x = rng.standard_normal((2, 17, 19, 3)).astype(np.float32)     # 646 pixels: 3 blocks
    t = _rotations(2, 17, 19, rng, scale=1.3)
    for mode, interp in (("reflect", "bilinear"), ("wrap", "nearest")):
        y = _np(backend, backend.affine_transform(_buf(backend, x), _buf(backend, t), mode,
                                                  interp))
        np.testing.assert_array_equal(y, ref_transform(x, t, mode, interp))


def test_kernel_single_pixel_axes_and_empty(backend, rng):
    x = rng.standard_normal((2, 1, 5, 1)).astype(np.float32)
    t = _rotations(2, 1, 5, rng)
    for mode in MODES:
        y = _np(backend, backend.affine_transform(_buf(backend, x), _buf(backend, t), mode))
        np.testing.assert_array_equal(y, ref_transform(x, t, mode, "bilinear"))
    e = np.zeros((0, 3, 3, 2), np.float32)
    y = backend.affine_transform(_buf(backend, e), _buf(backend, np.zeros((1, 8), f32)))
    assert _np(backend, y).shape == (0, 3, 3, 2)


def test_kernel_rejects_bad_arguments(backend):
    x = _buf(backend, np.zeros((2, 3, 4, 1), np.float32))
    t = _buf(backend, np.zeros((2, 8), f32))
    cases = [
        ((_buf(backend, np.zeros((3, 4, 1), np.float32)), t), ValueError, "4-D"),
        ((_buf(backend, np.zeros((2, 3, 4, 1), np.int32)), t), TypeError, "float32 or float64"),
        ((x, _buf(backend, np.zeros((2, 8), np.float64))), TypeError, "transforms must be"),
        ((x, _buf(backend, np.zeros((3, 8), f32))), ValueError, r"\(2, 8\) or \(1, 8\)"),
        ((x, _buf(backend, np.zeros((2, 6), f32))), ValueError, r"\(2, 8\) or \(1, 8\)"),
        ((x, t, "mirror"), ValueError, "fill_mode"),
        ((x, t, "reflect", "bicubic"), ValueError, "interpolation"),
    ]
    for args, exc, msg in cases:
        with pytest.raises(exc, match=r"\[affine_transform\].*" + msg):
            backend.affine_transform(*args)


# ---------------------------------------------------------------- layers
L = nabi.keras.layers
AFFINE = {
    "rotation": lambda: L.RandomRotation(0.3, seed=5),
    "rotation_wrap_nearest": lambda: L.RandomRotation(0.4, fill_mode="wrap",
                                                      interpolation="nearest", seed=5),
    "rotation_constant": lambda: L.RandomRotation((-0.2, 0.5), fill_mode="constant",
                                                  fill_value=3.0, seed=5),
    "translation": lambda: L.RandomTranslation(0.4, 0.3, fill_mode="nearest", seed=5),
    "zoom": lambda: L.RandomZoom(0.5, (-0.3, 0.6), fill_mode="reflect", seed=5),
    "zoom_float64": lambda: L.RandomZoom(0.4, fill_mode="wrap", seed=5, dtype="float64"),
}
OTHERS = {
    "flip": lambda: L.RandomFlip(seed=5),
    "flip_h": lambda: L.RandomFlip("horizontal", seed=5),
    "contrast": lambda: L.RandomContrast(0.6, seed=5),
    "brightness": lambda: L.RandomBrightness((-0.2, 0.4), seed=5),
    "contrast_float64": lambda: L.RandomContrast(0.3, seed=5, dtype="float64"),
    "height": lambda: L.RandomHeight(0.5, interpolation="nearest", seed=5),
    "width": lambda: L.RandomWidth(0.5, seed=5),
    "resizing": lambda: L.Resizing(3, 7),
    "resizing_nearest": lambda: L.Resizing(7, 3, interpolation="nearest"),
    "resizing_crop": lambda: L.Resizing(3, 7, crop_to_aspect_ratio=True),
    "resizing_pad": lambda: L.Resizing(3, 7, pad_to_aspect_ratio=True, fill_value=1.5),
}
EXACT_ON_GPU = set(AFFINE) | {"flip", "flip_h", "contrast", "contrast_float64", "brightness",
                              "height", "resizing_nearest"}


def _images(rng, shape=(3, 5, 6, 2)):
    return rng.uniform(0, 255, shape).astype(np.float32)


def _run(make, x, where, training=True):
    with nabi.device(where):
        layer = make()
        t = nabi.constant(x)
        return layer, layer(t, training=training)


@pytest.mark.parametrize("name", sorted(AFFINE))
def test_affine_layers_match_reference(where, name, rng):
    x = _images(rng)
    with nabi.device(where):
        layer = AFFINE[name]()
        draw = copy.deepcopy(layer._rng)          # the parameters the call will draw
        y = layer(nabi.constant(x), training=True)
    layer._rng = draw
    t = layer._transforms(x.shape[0], float(x.shape[1]), float(x.shape[2]))
    assert ("GPU" in where) == ("GPU" in y.device)
    xl = x.astype(y.numpy().dtype)                # (the layer casts to its dtype first)
    np.testing.assert_array_equal(y.numpy(), ref_transform(xl, t, layer.fill_mode,
                                                           layer.interpolation,
                                                           layer.fill_value))


@pytest.mark.parametrize("name", sorted(AFFINE) + sorted(OTHERS))
def test_layers_on_the_gpu_equal_the_cpu(where, name, rng):
    make = {**AFFINE, **OTHERS}[name]
    for shape in ((3, 5, 6, 2), (4, 6, 3)):               # batched and one image
        x = _images(rng, shape)
        _, ref = _run(make, x, "/CPU:0")
        _, y = _run(make, x, where)
        assert ("GPU" in where) == ("GPU" in y.device)
        assert y.dtype == ref.dtype and y.shape == ref.shape
        if "CPU" in where or name in EXACT_ON_GPU:
            np.testing.assert_array_equal(y.numpy(), ref.numpy())
        else:   # the blends by resize matrices round differently from the host's lerp
            np.testing.assert_allclose(y.numpy(), ref.numpy(), rtol=1e-6, atol=1e-4)
        _, same = _run(make, x, where, training=False)       # inference: the identity
        if not name.startswith("resizing"):
            np.testing.assert_array_equal(same.numpy(), x)


def test_layers_take_integer_images_on_the_gpu(where, rng):
    x = rng.integers(0, 255, (2, 4, 5, 3)).astype(np.int32)
    for make in (AFFINE["rotation"], OTHERS["flip"], OTHERS["brightness"]):
        _, ref = _run(make, x, "/CPU:0")
        _, y = _run(make, x, where)
        assert y.dtype == ref.dtype == nabi.float32
        np.testing.assert_array_equal(y.numpy(), ref.numpy())
    for make in (OTHERS["resizing"], OTHERS["resizing_nearest"]):   # keep their dtype
        _, ref = _run(make, x, "/CPU:0")
        _, y = _run(make, x, where)
        assert y.dtype == ref.dtype == nabi.int32
        np.testing.assert_allclose(y.numpy(), ref.numpy(), atol=1)   # (a .5 may round apart)


# ---------------------------------------------------------------- no copy to the host
# (the d2h fixture, the read-back counter, is conftest.py's)


def test_layers_do_not_copy_gpu_images_to_the_host(d2h):
    x = np.random.default_rng(3).uniform(0, 255, (2, 5, 6, 3)).astype(np.float32)
    with nabi.device("/GPU:0"):
        for name, make in {**AFFINE, **OTHERS}.items():
            layer = make()
            t = nabi.constant(x)
            layer(t, training=True)                  # builds the layer (uncounted)
            out = []
            reads, launches = d2h(lambda: out.append(layer(t, training=True)))
            assert reads == 0, name
            # (RandomHeight / RandomWidth may draw the input's own size and return it as is:
            # their draw depends on the global seed earlier tests left, so no launch is fine)
            assert launches >= 1 or tuple(out[0].shape) == x.shape, name
        layer = AFFINE["rotation"]()
        reads, launches = d2h(lambda: layer(t, training=True))
        assert reads == 0 and launches == 1          # the one affine_transform kernel
        layer, ti = OTHERS["resizing"](), nabi.constant(x.astype(np.int32))
        layer(ti)
        reads, _ = d2h(lambda: layer(ti))            # integer images: rounded on the device
        assert reads == 0
