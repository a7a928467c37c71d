"""Gradients of the Keras augmentation and resizing layers with respect to their images, as in
TF (flip / crop / brightness / contrast are ordinary ops there, resize has ResizeBilinearGrad /
ResizeNearestNeighborGrad, ImageProjectiveTransformV3 its image gradient):

  RandomRotation / RandomTranslation / RandomZoom  the adjoint of the resampling: a scatter of
        the interpolation weights (host: NumPy; GPU: csrc/cuda/image_transform_grad.cu,
        cuda_backend.affine_transform_grad)
  RandomFlip / RandomContrast / RandomBrightness   flips, clip masks, the mean's transpose
  Resizing / RandomHeight / RandomWidth / RandomCrop / CenterCrop   the transposes of the
        resize matrices, of the crop and of the pad

Checked on CPU / emulated GPU / host simulator (conftest's `where`) against independent NumPy
references: the Jacobian of each layer built pixel by pixel from its replayed random draws
(TF's sampling taps in float32, TF's half-pixel resize weights), float64 central differences
of the layer's own forward, and <A x, w> == <x, A^T w> for the linear ones; the gradients'
own gradients (nested tapes: d/dw <A^T w, v> = A v); the kernel directly against the reference
adjoint; and no device-to-host read in the backward pass on GPU inputs (conftest's `d2h`).
"""
import copy
import math

import numpy as np
import pytest

import nabi
from test_cuda_image_transform import _map   # TF's MapCoordinate on one float32 coordinate

L = nabi.keras.layers
f32 = np.float32
MODES = ["reflect", "wrap", "constant", "nearest"]


# ---------------------------------------------------------------- references
def affine_jacobian(t, H, W, mode, interp):
    """(H * W, H * W) float64 matrix of ImageProjectiveTransformV3 for one image with the
    8-parameter row t (fill 0): row = output pixel, column = source pixel, entries the
    interpolation weights, computed pixel by pixel in float32 as TF does."""
    a = [f32(v) for v in t]
    J = np.zeros((H * W, H * W))
    for r in range(H):
        for c in range(W):
            rf, cf = f32(r), f32(c)
            k = a[6] * cf + a[7] * rf + f32(1)
            if k == 0:
                continue
            sx = _map((a[0] * cf + a[1] * rf + a[2]) / k, W, mode)
            sy = _map((a[3] * cf + a[4] * rf + a[5]) / k, H, mode)
            if interp == "nearest":
                taps = [(math.copysign(math.floor(f32(abs(sy)) + f32(0.5)), sy),
                         math.copysign(math.floor(f32(abs(sx)) + f32(0.5)), sx), 1.0)]
            else:
                y0, x0 = np.floor(sy), np.floor(sx)
                wy, wx = sy - y0, sx - x0      # float32 fractions, their products in float64
                wy0, wx0, wy1, wx1 = float(f32(1) - wy), float(f32(1) - wx), float(wy), float(wx)
                taps = [(y0, x0, wy0 * wx0), (y0, x0 + 1, wy0 * wx1), (y0 + 1, x0, wy1 * wx0),
                        (y0 + 1, x0 + 1, wy1 * wx1)]
            for yi, xi, w in taps:
                if 0 <= yi < H and 0 <= xi < W:
                    J[r * W + c, int(yi) * W + int(xi)] += float(w)
    return J


def resize_matrix(n_in, n_out, interp):
    """(n_out, n_in) weights of tf.image.resize along one axis (half-pixel centres, no
    antialiasing): bilinear's two clamped taps, nearest's floor((o + 0.5) * scale)."""
    m = np.zeros((n_out, n_in))
    scale = n_in / n_out
    for o in range(n_out):
        if interp == "nearest":
            m[o, min(int(math.floor((o + 0.5) * scale)), n_in - 1)] = 1
            continue
        src = (o + 0.5) * scale - 0.5
        lo = math.floor(src)
        frac = src - lo
        m[o, min(max(lo, 0), n_in - 1)] += 1 - frac
        m[o, min(max(lo + 1, 0), n_in - 1)] += frac
    return m


def apply_spatial(Js, g):
    """(B, n_in, C): Js[b]^T g[b] per image and channel, the transpose of per-image spatial
    maps Js[b] (n_out, n_in) applied to g (B, h, w, C) with h * w == n_out."""
    B, h, w, C = g.shape
    return np.stack([J.T @ g[b].reshape(h * w, C) for b, J in enumerate(Js)])


def separable(my, mx):
    """The (h * w, H * W) matrix of rows by my then columns by mx."""
    return np.kron(my, mx)


def flip_matrix(n, on):
    return np.eye(n)[::-1] if on else np.eye(n)


# Each case: make the layer; ref(layer, draw, x, g) -> the expected input gradient for the
# output gradient g, from the layer's replayed draws (`draw`, a copy of its generator before
# the call) and NumPy only.
def _ref_affine(layer, draw, x, g):
    B, H, W, C = x.shape
    layer._rng = draw
    t = layer._transforms(B, float(H), float(W))     # (the parameters, not the sampling)
    Js = [affine_jacobian(t[b], H, W, layer.fill_mode, layer.interpolation) for b in range(B)]
    return apply_spatial(Js, g).reshape(x.shape)


def _ref_flip(layer, draw, x, g):
    B, H, W, C = x.shape
    fh = draw.random(B) < 0.5 if layer.horizontal else np.zeros(B, bool)
    fv = draw.random(B) < 0.5 if layer.vertical else np.zeros(B, bool)
    Js = [separable(flip_matrix(H, fv[b]), flip_matrix(W, fh[b])) for b in range(B)]
    return apply_spatial(Js, g).reshape(x.shape)


def _ref_contrast(layer, draw, x, g):
    f = draw.uniform(1.0 - layer.lower, 1.0 + layer.upper)
    x = x.astype(np.float64)
    mean = x.mean(axis=(1, 2), keepdims=True)
    z = (x - mean) * f + mean
    gz = np.where((z >= 0) & (z <= 255), g, 0.0)
    # d z_i / d x_j = f [i == j] + (1 - f) / (H W) over one image and channel
    return f * gz + (1 - f) * gz.mean(axis=(1, 2), keepdims=True)


def _ref_brightness(layer, draw, x, g):
    lo, hi = layer._value_range
    delta = draw.uniform(layer._factor[0], layer._factor[1], (x.shape[0], 1, 1, 1))
    z = x + (delta * (hi - lo)).astype(x.dtype)
    return np.where((z >= lo) & (z <= hi), g, 0.0)


def _resize_ref(x, g, interp):
    B, H, W, C = x.shape
    J = separable(resize_matrix(H, g.shape[1], interp), resize_matrix(W, g.shape[2], interp))
    return apply_spatial([J] * B, g).reshape(x.shape)


def _ref_resize(layer, draw, x, g):
    return _resize_ref(x, g, layer.interpolation)


def _ref_crop(layer, draw, x, g):
    B, H, W, C = x.shape
    h, w = g.shape[1:3]
    r = draw.integers(0, 2 ** 31 - 1, 2)
    h0, w0 = int(r[0] % (H - h + 1)), int(r[1] % (W - w + 1))
    gx = np.zeros(x.shape)
    gx[:, h0:h0 + h, w0:w0 + w] = g
    return gx


def _smart_ref(x, g):
    """Keras's smart_resize: the centred crop with the target aspect ratio, then bilinear."""
    B, H, W, C = x.shape
    h, w = g.shape[1:3]
    ch = min(H, int(f32(W * h) / f32(w)))
    cw = min(W, int(f32(H * w) / f32(h)))
    h0, w0 = int(f32(H - ch) / 2), int(f32(W - cw) / 2)
    gx = np.zeros(x.shape)
    gx[:, h0:h0 + ch, w0:w0 + cw] = _resize_ref(np.zeros((B, ch, cw, C)), g, "bilinear")
    return gx


def _ref_pad(layer, draw, x, g):
    B, H, W, C = x.shape
    h, w = g.shape[1:3]
    ph = max(H, int(f32(W * h) / f32(w)))
    pw = max(W, int(f32(H * w) / f32(h)))
    h0, w0 = int(f32(ph - H) / 2), int(f32(pw - W) / 2)
    gp = _resize_ref(np.zeros((B, H + 2 * h0, W + 2 * w0, C)), g, layer.interpolation)
    return gp[:, h0:h0 + H, w0:w0 + W]


CASES = {
    "rotation": (lambda: L.RandomRotation(0.3, seed=5), _ref_affine),
    "rotation_wrap_nearest": (lambda: L.RandomRotation(0.4, fill_mode="wrap",
                                                       interpolation="nearest", seed=5),
                              _ref_affine),
    "rotation_constant": (lambda: L.RandomRotation((-0.2, 0.5), fill_mode="constant",
                                                   fill_value=3.0, seed=5), _ref_affine),
    "translation_nearest_fill": (lambda: L.RandomTranslation(0.4, 0.3, fill_mode="nearest",
                                                             seed=5), _ref_affine),
    "translation_constant": (lambda: L.RandomTranslation(0.3, 0.4, fill_mode="constant",
                                                         interpolation="nearest", seed=7),
                             _ref_affine),
    "zoom_reflect": (lambda: L.RandomZoom(0.5, (-0.3, 0.6), seed=5), _ref_affine),
    "zoom_wrap_float64": (lambda: L.RandomZoom(0.4, fill_mode="wrap", seed=5, dtype="float64"),
                          _ref_affine),
    "flip": (lambda: L.RandomFlip(seed=5), _ref_flip),
    "flip_vertical": (lambda: L.RandomFlip("vertical", seed=3), _ref_flip),
    "contrast": (lambda: L.RandomContrast(0.6, seed=5), _ref_contrast),
    "contrast_float64": (lambda: L.RandomContrast(0.3, seed=5, dtype="float64"), _ref_contrast),
    "brightness": (lambda: L.RandomBrightness((-0.2, 0.4), seed=5), _ref_brightness),
    "height": (lambda: L.RandomHeight(0.5, interpolation="nearest", seed=5), _ref_resize),
    "width": (lambda: L.RandomWidth((0.3, 0.8), seed=5), _ref_resize),
    "resizing": (lambda: L.Resizing(3, 7), _ref_resize),
    "resizing_nearest": (lambda: L.Resizing(7, 3, interpolation="nearest"), _ref_resize),
    "resizing_crop": (lambda: L.Resizing(3, 7, crop_to_aspect_ratio=True),
                      lambda layer, d, x, g: _smart_ref(x, g)),
    "resizing_pad": (lambda: L.Resizing(3, 7, pad_to_aspect_ratio=True, fill_value=1.5),
                     _ref_pad),
    "random_crop": (lambda: L.RandomCrop(3, 4, seed=5), _ref_crop),
}
# layers whose inference call (training=False) is not the identity: gradient checked too
INFERENCE = {
    "random_crop_inference": (lambda: L.RandomCrop(3, 4, seed=5),
                              lambda layer, d, x, g: _smart_ref(x, g)),
    "center_crop_upscale": (lambda: L.CenterCrop(7, 9), lambda layer, d, x, g: _smart_ref(x, g)),
}


def _images(rng, shape=(2, 5, 6, 2), dtype=np.float32):
    # pixels away from the clip bounds except a few, so that the clip masks are exercised
    x = rng.uniform(20, 235, shape)
    x.flat[::7] = rng.choice([-5.0, 0.0, 255.0, 300.0], x.flat[::7].shape)
    return x.astype(dtype)


def _grad(where, layer, x, w, training=True):
    """(output, d sum(output * w) / d images) on `where`."""
    with nabi.device(where):
        t = nabi.constant(x)
        wt = nabi.constant(w)
        with nabi.GradientTape() as tape:
            tape.watch(t)
            y = layer(t, training=training)
            s = nabi.reduce_sum(y * wt)
        g = tape.gradient(s, t)
    return y, g


def _check(where, make, ref, x, rng, training=True):
    layer = make()
    draw = copy.deepcopy(layer._rng) if hasattr(layer, "_rng") else None
    # the output's shape first (RandomHeight / RandomWidth draw it), with a copy of the layer
    probe = make()
    if draw is not None:
        probe._rng = copy.deepcopy(draw)
    with nabi.device("/CPU:0"):
        y = probe(nabi.constant(x), training=training).numpy()
    w = rng.standard_normal(y.shape)
    w_dtype = y.dtype
    y, g = _grad(where, layer, x, w.astype(w_dtype), training)
    assert g is not None, "no gradient"
    assert ("GPU" in where) == ("GPU" in g.device)
    assert g.numpy().dtype == x.dtype and tuple(g.shape) == x.shape
    xb = x if x.ndim == 4 else x[None]
    wb = w if w.ndim == 4 else w[None]
    expect = ref(layer, copy.deepcopy(draw), xb.astype(np.float64), wb)
    got = g.numpy() if x.ndim == 4 else g.numpy()[None]
    # float32 outputs (the layer's dtype) carry the gradient in float32
    tol = 1e-12 if x.dtype == w_dtype == np.float64 else 2e-5
    np.testing.assert_allclose(got, expect, rtol=tol, atol=tol * np.abs(expect).max())
    return layer, y, g


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradient_matches_reference(where, name, rng):
    make, ref = CASES[name]
    _check(where, make, ref, _images(rng), rng)


@pytest.mark.parametrize("name", ["rotation", "flip", "contrast", "brightness", "width",
                                  "resizing_pad", "random_crop"])
def test_gradient_of_one_image_and_float64_input(where, name, rng):
    make, ref = CASES[name]
    _check(where, make, ref, _images(rng, (5, 6, 3)), rng)                 # unbatched
    _check(where, make, ref, _images(rng, dtype=np.float64), rng)          # float64 images


@pytest.mark.parametrize("name", sorted(INFERENCE))
def test_gradient_of_inference_resizes(where, name, rng):
    make, ref = INFERENCE[name]
    _check(where, make, ref, _images(rng), rng, training=False)


@pytest.mark.parametrize("name", ["rotation", "flip", "contrast", "brightness", "height",
                                  "zoom_reflect"])
def test_inference_is_the_identity_with_unit_gradient(where, name, rng):
    x = _images(rng)
    w = rng.standard_normal(x.shape).astype(np.float32)
    y, g = _grad(where, CASES[name][0](), x, w, training=False)
    np.testing.assert_array_equal(y.numpy(), x)
    np.testing.assert_array_equal(g.numpy(), w)


def test_integer_images_have_no_gradient(where, rng):
    x = rng.integers(0, 255, (2, 4, 5, 3)).astype(np.int32)
    for make in (CASES["rotation"][0], CASES["flip"][0], CASES["resizing"][0]):
        with nabi.device(where):
            t = nabi.constant(x)
            with nabi.GradientTape() as tape:
                with pytest.warns(UserWarning, match="gradient is None"):
                    tape.watch(t)
                y = nabi.reduce_sum(nabi.cast(make()(t, training=True), nabi.float32))
            assert tape.gradient(y, t) is None


# ---------------------------------------------------------------- finite differences
FD = {
    "rotation": lambda: L.RandomRotation(0.3, seed=2, dtype="float64"),
    "translation_wrap": lambda: L.RandomTranslation(0.3, 0.3, fill_mode="wrap", seed=2,
                                                    dtype="float64"),
    "zoom_nearest_interp": lambda: L.RandomZoom(0.3, interpolation="nearest", seed=2,
                                                dtype="float64"),
    "contrast": lambda: L.RandomContrast(0.4, seed=2, dtype="float64"),
    "brightness": lambda: L.RandomBrightness(0.2, seed=2, dtype="float64"),
    "height_bicubic": lambda: L.RandomHeight(0.6, interpolation="bicubic", seed=2,
                                             dtype="float64"),
    "resizing_area": lambda: L.Resizing(2, 5, interpolation="area", dtype="float64"),
    "resizing_lanczos3": lambda: L.Resizing(5, 3, interpolation="lanczos3", dtype="float64"),
}


@pytest.mark.parametrize("name", sorted(FD))
def test_gradient_matches_finite_differences(where, name, rng):
    """Central differences of the layer's own float64 forward (its draws replayed), on a
    1 x 3 x 4 x 1 image away from the clip bounds: exact for these piecewise-linear maps."""
    make = FD[name]
    x = rng.uniform(60, 190, (1, 3, 4, 1))
    layer = make()
    draw = copy.deepcopy(layer._rng) if hasattr(layer, "_rng") else None

    def f(v):
        if draw is not None:
            layer._rng = copy.deepcopy(draw)
        with nabi.device(where):
            return layer(nabi.constant(v), training=True).numpy()
    y0 = f(x)
    w = rng.standard_normal(y0.shape)
    if draw is not None:
        layer._rng = copy.deepcopy(draw)
    _, g = _grad(where, layer, x, w)
    fd = np.zeros(x.size)
    for j in range(x.size):
        e = np.zeros(x.size)
        e[j] = 0.5
        e = e.reshape(x.shape)
        fd[j] = np.sum((f(x + e) - f(x - e)) * w)   # step 0.5: the maps are linear here
    np.testing.assert_allclose(g.numpy().ravel(), fd, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", ["rotation", "rotation_wrap_nearest", "translation_constant",
                                  "zoom_wrap_float64", "flip", "resizing", "width"])
def test_adjoint_identity(where, name, rng):
    """<A x, w> == <x, A^T w> for the linear layers (fill value 0)."""
    make = CASES[name][0]
    layer = make()
    if hasattr(layer, "fill_value"):
        layer.fill_value = 0.0
    draw = copy.deepcopy(layer._rng) if hasattr(layer, "_rng") else None
    x = rng.standard_normal((2, 5, 6, 2))
    with nabi.device(where):
        ax = layer(nabi.constant(x.astype(np.float32)), training=True).numpy()
    w = rng.standard_normal(ax.shape)
    if draw is not None:
        layer._rng = draw
    _, atw = _grad(where, layer, np.zeros_like(x, np.float32), w.astype(ax.dtype))
    lhs, rhs = np.sum(ax * w), np.sum(x * atw.numpy())
    assert abs(lhs - rhs) <= 1e-5 * (np.abs(ax * w).sum() + 1)


# ---------------------------------------------------------------- the kernel
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("interp", ["bilinear", "nearest"])
@pytest.mark.parametrize("mode", MODES)
def test_kernel_grad_matches_reference(backend, mode, interp, dtype, rng):
    B, H, W, C = 3, 5, 7, 2
    ang = rng.uniform(-np.pi, np.pi, B)
    c, s = np.cos(ang) * 1.3, np.sin(ang) * 1.3
    z = np.zeros(B)
    t = np.stack([c, -s, 2.0 + 0.3 * z, s, c, 1.0 - 0.7 * z, z, z], 1).astype(f32)
    t[1, 6] = 0.05                                    # one projective row
    g = rng.standard_normal((B, H, W, C)).astype(dtype)
    out = backend.affine_transform_grad(backend.DeviceBuffer.from_numpy(g),
                                        backend.DeviceBuffer.from_numpy(t), mode, interp)
    got = out.numpy() if hasattr(out, "numpy") else backend.to_numpy(out)
    expect = apply_spatial([affine_jacobian(t[b], H, W, mode, interp) for b in range(B)],
                           g.astype(np.float64)).reshape(g.shape)
    assert got.dtype == dtype and got.shape == g.shape
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(got, expect, rtol=tol, atol=tol * 10)


def test_kernel_grad_one_row_for_the_batch_and_empty(backend, rng):
    t = np.array([[0.8, 0.1, 0.5, -0.2, 1.1, 0.3, 0, 0]], f32)
    g = rng.standard_normal((2, 4, 3, 1)).astype(np.float32)
    out = backend.affine_transform_grad(backend.DeviceBuffer.from_numpy(g),
                                        backend.DeviceBuffer.from_numpy(t), "reflect",
                                        "bilinear")
    got = out.numpy() if hasattr(out, "numpy") else backend.to_numpy(out)
    J = affine_jacobian(t[0], 4, 3, "reflect", "bilinear")
    np.testing.assert_allclose(got, apply_spatial([J, J], g.astype(np.float64)).reshape(g.shape),
                               rtol=1e-5, atol=1e-5)
    e = backend.affine_transform_grad(backend.DeviceBuffer.from_numpy(np.zeros((0, 4, 3, 1),
                                                                               np.float32)),
                                      backend.DeviceBuffer.from_numpy(t))
    assert tuple(e.shape) == (0, 4, 3, 1)


def test_kernel_grad_rejects_bad_arguments(backend):
    def buf(a):
        return backend.DeviceBuffer.from_numpy(np.asarray(a))
    g = np.zeros((2, 3, 4, 1), np.float32)
    t = np.zeros((2, 8), f32)
    cases = [
        ((buf(np.zeros((3, 4, 1), np.float32)), buf(t)), ValueError, r"4-D.*3, 4, 1"),
        ((buf(g.astype(np.int32)), buf(t)), TypeError, "float"),
        ((buf(g), buf(t.astype(np.float64))), TypeError, "transforms must be float32"),
        ((buf(g), buf(np.zeros((3, 8), f32))), ValueError, r"\(2, 8\) or \(1, 8\)"),
        ((buf(g), buf(t), "mirror"), ValueError, "fill_mode"),
        ((buf(g), buf(t), "reflect", "bicubic"), ValueError, "interpolation"),
    ]
    for args, exc, msg in cases:
        with pytest.raises(exc, match=r"\[affine_transform_grad\].*" + msg):
            backend.affine_transform_grad(*args)


# ---------------------------------------------------------------- no copy to the host
def test_backward_reads_nothing_back_on_the_gpu(d2h):
    x = np.random.default_rng(3).uniform(0, 255, (2, 5, 6, 3)).astype(np.float32)
    with nabi.device("/GPU:0"):
        t = nabi.constant(x)
        for name, (make, _) in {**CASES, **INFERENCE}.items():
            layer = make()
            training = name not in INFERENCE
            y0 = layer(t, training=training)
            w = nabi.constant(np.ones(tuple(y0.shape), y0.numpy().dtype))
            with nabi.GradientTape() as tape:
                tape.watch(t)
                s = nabi.reduce_sum(layer(t, training=training) * w)
            out = []
            reads, launches = d2h(lambda: out.append(tape.gradient(s, t)))
            assert reads == 0, name
            assert out[0] is not None and "GPU" in out[0].device, name
        layer = L.RandomRotation(0.3, seed=1)
        with nabi.GradientTape() as tape:
            tape.watch(t)
            y = layer(t, training=True)
        reads, launches = d2h(lambda: tape.gradient(y, t))
        assert reads == 0 and launches <= 2      # (the unit seed) + affine_transform_grad


# ---------------------------------------------------------------- second order
@pytest.mark.parametrize("name", ["rotation_constant", "translation_constant", "flip",
                                  "contrast", "brightness", "resizing_pad", "resizing_crop",
                                  "width", "random_crop", "random_crop_inference"])
def test_gradient_is_differentiable(where, name, rng):
    """d/dw <A^T w, v> = A v, A the layer's Jacobian (its constant part dropped): the
    gradient's own gradient is the linearised forward, on every device (host paths: their
    recorded `linear` maps; GPU: the adjoint kernel's gradient is the forward kernel, the
    other layers' device ops are twice differentiable). A's rows come from the references
    above (row k = A^T e_k), the layer's draws replayed."""
    make, ref = {**CASES, **INFERENCE}[name]
    training = name not in INFERENCE
    x = _images(rng, (2, 4, 5, 1))
    layer = make()
    draw = copy.deepcopy(layer._rng) if hasattr(layer, "_rng") else None
    with nabi.device(where):
        xt = nabi.constant(x)
        y = layer(xt, training=training).numpy()
        w = rng.standard_normal(y.shape).astype(y.dtype)
        v = rng.standard_normal(x.shape).astype(np.float32)
        if draw is not None:
            layer._rng = copy.deepcopy(draw)
        wt, vt = nabi.constant(w), nabi.constant(v)
        with nabi.GradientTape() as outer:
            outer.watch(wt)
            with nabi.GradientTape() as inner:
                inner.watch(xt)
                s = nabi.reduce_sum(layer(xt, training=training) * wt)
            gx = inner.gradient(s, xt)
            q = nabi.reduce_sum(gx * vt)
        gw = outer.gradient(q, wt)
    assert ("GPU" in where) == ("GPU" in gw.device)
    A = np.stack([ref(layer, copy.deepcopy(draw), x.astype(np.float64),
                      np.eye(w.size)[k].reshape(w.shape)).ravel() for k in range(w.size)])
    np.testing.assert_allclose(gw.numpy().ravel(), A @ v.ravel().astype(np.float64),
                               rtol=1e-5, atol=1e-4)
