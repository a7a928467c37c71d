"""tf.image (nabi.image) against NumPy references written here, independent of the
implementation (explicit per-pixel sampling loops, colorsys for HSV), on the CPU and the
emulated GPU (`where`): forward values, tape gradients against float64 central differences
of the references, random ops' seeding, a Dataset.map augmentation pipeline, and errors."""
import colorsys

import numpy as np
import pytest

import nabi as tf
from helpers import assert_array

F32, F64 = np.float32, np.float64


# ---------------------------------------------------------------------- NumPy references


def _clampi(i, n):
    return min(max(i, 0), n - 1)


def _sample_1d(n_in, n_out, method):
    """For each output index: a list of (input index, weight), by TF2's half-pixel rules,
    computed one output at a time."""
    scale = n_in / n_out
    rows = []
    for o in range(n_out):
        if method == "nearest":
            rows.append([(_clampi(int(np.floor((o + 0.5) * scale)), n_in), 1.0)])
        elif method == "bilinear":
            s = (o + 0.5) * scale - 0.5
            i0 = int(np.floor(s))
            t = s - i0
            rows.append([(_clampi(i0, n_in), 1 - t), (_clampi(i0 + 1, n_in), t)])
        elif method == "bicubic":
            s = (o + 0.5) * scale - 0.5
            i0 = int(np.floor(s))
            t = round((s - i0) * 1024) / 1024  # TF's 1024-entry coefficient table

            def keys(d):
                d = abs(d)
                if d < 1:
                    return 1.5 * d ** 3 - 2.5 * d ** 2 + 1
                if d < 2:
                    return -0.5 * d ** 3 + 2.5 * d ** 2 - 4 * d + 2
                return 0.0
            taps = [(i0 + k, keys(t - k)) for k in (-1, 0, 1, 2) if 0 <= i0 + k < n_in]
            tot = sum(w for _, w in taps)
            rows.append([(i, w / tot) for i, w in taps])
        elif method == "area":
            lo, hi = o * scale, (o + 1) * scale
            taps = []
            for i in range(n_in):
                ov = min(i + 1, hi) - max(i, lo)
                if ov > 1e-12:
                    taps.append((i, ov / scale))
            rows.append(taps)
        elif method == "bilinear_aa":  # triangle filter stretched by 1/scale when shrinking
            inv = n_in / n_out
            ks = max(inv, 1.0)
            c = (o + 0.5) * inv
            taps = [(i, max(0.0, 1 - abs((i + 0.5 - c) / ks))) for i in range(n_in)]
            taps = [(i, w) for i, w in taps if w > 0]
            tot = sum(w for _, w in taps)
            rows.append([(i, w / tot) for i, w in taps])
    return rows


def ref_resize(x, h, w, method):
    """x: (N, H, W, C) float64 -> (N, h, w, C), summing weighted taps pixel by pixel."""
    N, H, W, C = x.shape
    ry, rx = _sample_1d(H, h, method), _sample_1d(W, w, method)
    out = np.zeros((N, h, w, C))
    for i in range(h):
        for j in range(w):
            for yi, wy in ry[i]:
                for xj, wx in rx[j]:
                    out[:, i, j, :] += wy * wx * x[:, yi, xj, :]
    return out


def numeric_grad(f, x, c, eps=1e-6):
    """d/dx sum(f(x) * c) by float64 central differences."""
    x = np.array(x, dtype=F64)
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + eps
        fp = np.sum(f(x) * c)
        x[idx] = old - eps
        fm = np.sum(f(x) * c)
        x[idx] = old
        g[idx] = (fp - fm) / (2 * eps)
    return g


def tape_grad(where, f, x, c):
    with tf.device(where):
        t = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(t)
            y = f(t)
            loss = tf.reduce_sum(y * tf.constant(c.astype(y.numpy().dtype)))
        g = tape.gradient(loss, t)
    return y, g


def ref_rgb_to_hsv(x):
    flat = x.reshape(-1, 3)
    return np.array([colorsys.rgb_to_hsv(*p) for p in flat]).reshape(x.shape)


def ref_hsv_to_rgb(x):
    flat = x.reshape(-1, 3)
    return np.array([colorsys.hsv_to_rgb(*p) for p in flat]).reshape(x.shape)


def ref_adjust_hue(x, delta):
    hsv = ref_rgb_to_hsv(x)
    hsv[..., 0] = np.mod(hsv[..., 0] + delta, 1.0)
    return ref_hsv_to_rgb(hsv)


def ref_adjust_saturation(x, f):
    hsv = ref_rgb_to_hsv(x)
    hsv[..., 1] = np.clip(hsv[..., 1] * f, 0, 1)
    return ref_hsv_to_rgb(hsv)


def ref_adjust_contrast(x, f):
    m = x.mean(axis=(-3, -2), keepdims=True)
    return (x - m) * f + m


def ref_ssim(a, b, max_val, size=11, sigma=1.5, k1=0.01, k2=0.03):
    """Per image: 2-D Gaussian window (normalised exp(-r^2 / 2 sigma^2)), valid positions."""
    co = np.arange(size) - (size - 1) / 2
    g2 = np.exp(-(co[:, None] ** 2 + co[None, :] ** 2) / (2 * sigma ** 2))
    g2 /= g2.sum()
    N, H, W, C = a.shape

    def filt(z):
        out = np.zeros((N, H - size + 1, W - size + 1, C))
        for i in range(H - size + 1):
            for j in range(W - size + 1):
                out[:, i, j, :] = np.einsum("nhwc,hw->nc", z[:, i:i + size, j:j + size, :], g2)
        return out
    c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2
    ma, mb = filt(a), filt(b)
    va = filt(a * a) - ma ** 2
    vb = filt(b * b) - mb ** 2
    cov = filt(a * b) - ma * mb
    s = ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma ** 2 + mb ** 2 + c1) * (va + vb + c2))
    return s.mean(axis=(1, 2, 3))


# --------------------------------------------------------------------------------- resize

RESIZE_CASES = [((5, 7), (3, 9)), ((4, 4), (8, 8)), ((6, 5), (6, 5)), ((1, 1), (3, 2)),
                ((9, 6), (2, 3)), ((7, 3), (7, 4))]


@pytest.mark.parametrize("method", ["bilinear", "nearest", "bicubic", "area"])
@pytest.mark.parametrize("case", RESIZE_CASES, ids=lambda c: f"{c[0]}to{c[1]}")
def test_resize_matches_reference(where, method, case, rng):
    (H, W), (h, w) = case
    x = rng.standard_normal((2, H, W, 3)).astype(F32)
    want = ref_resize(x.astype(F64), h, w, method)
    with tf.device(where):
        y = tf.image.resize(tf.constant(x), (h, w), method=method)
        y3 = tf.image.resize(tf.constant(x[1]), [h, w], method=method)
        assert where.split(":")[0].lower().strip("/") in y.device.lower()
    assert_array(y, want, rtol=1e-4, atol=1e-5, dtype=F32)
    assert_array(y3, want[1], rtol=1e-4, atol=1e-5, dtype=F32)


@pytest.mark.parametrize("case", [((9, 6), (2, 3)), ((8, 11), (3, 4)), ((4, 5), (8, 7))],
                         ids=str)
def test_resize_antialias_bilinear(where, case, rng):
    (H, W), (h, w) = case
    x = rng.standard_normal((1, H, W, 2)).astype(F32)
    with tf.device(where):
        y = tf.image.resize(tf.constant(x), (h, w), antialias=True)
    assert_array(y, ref_resize(x.astype(F64), h, w, "bilinear_aa"), dtype=F32)


@pytest.mark.parametrize("method", ["bilinear", "bicubic", "lanczos3", "lanczos5", "gaussian",
                                    "mitchellcubic", "area"])
@pytest.mark.parametrize("antialias", [False, True])
def test_resize_keeps_constant_images(method, antialias):
    x = np.full((1, 9, 7, 2), 3.25, F32)
    for size in [(4, 3), (13, 11)]:
        y = tf.image.resize(x, size, method=method, antialias=antialias)
        assert_array(y, np.full((1,) + size + (2,), 3.25), rtol=1e-5)


@pytest.mark.parametrize("method", ["bilinear", "nearest", "bicubic", "area", "bilinear_aa"])
def test_resize_gradients(where, method, rng):
    x = rng.standard_normal((1, 5, 4, 2))
    h, w = 3, 6
    c = rng.standard_normal((1, h, w, 2))
    m, aa = ("bilinear", True) if method == "bilinear_aa" else (method, False)
    y, g = tape_grad(where, lambda t: tf.image.resize(t, (h, w), method=m, antialias=aa), x, c)
    assert g.dtype == tf.float64 and g.shape == x.shape
    want = numeric_grad(lambda z: ref_resize(z, h, w, method), x, c)
    np.testing.assert_allclose(g.numpy(), want, rtol=1e-4, atol=1e-5)


@pytest.fixture
def on_cpu():
    with tf.device("/CPU:0"):  # uint8 has no GPU storage in nabi
        yield


def test_resize_dtypes_and_aspect_ratio(rng, on_cpu):
    x = rng.integers(0, 256, (10, 20, 3)).astype(np.uint8)
    y = tf.image.resize(x, (5, 6), method="nearest")
    assert y.dtype == tf.uint8
    assert_array(y, ref_resize(x[None].astype(F64), 5, 6, "nearest")[0], dtype=np.uint8)
    yb = tf.image.resize(x, (5, 6))  # bilinear: float32, values not rescaled
    assert_array(yb, ref_resize(x[None].astype(F64), 5, 6, "bilinear")[0], rtol=1e-5,
                 atol=1e-3, dtype=F32)
    assert tf.image.resize(x.astype(F64), (4, 4)).dtype == tf.float32
    y = tf.image.resize(x, (8, 8), preserve_aspect_ratio=True)
    assert y.shape == (4, 8, 3)
    y = tf.image.resize(x, (100, 30), preserve_aspect_ratio=True)
    assert y.shape == (15, 30, 3)
    assert tf.image.resize(x, (3, 3), method=tf.image.ResizeMethod.AREA).shape == (3, 3, 3)


def test_resize_with_pad(where, rng):
    x = rng.standard_normal((2, 4, 8, 3)).astype(F32)
    with tf.device(where):
        y = tf.image.resize_with_pad(tf.constant(x), 6, 6)
    # ratio max(8/6, 4/6) = 4/3 -> resized (3, 6), padded by floor((6 - 3) / 2) = 1 on top
    want = np.zeros((2, 6, 6, 3))
    want[:, 1:4] = ref_resize(x.astype(F64), 3, 6, "bilinear")
    assert_array(y, want, dtype=F32)


def test_crop_and_pad_ops(where, rng):
    x = rng.standard_normal((2, 5, 6, 3)).astype(F32)
    with tf.device(where):
        t = tf.constant(x)
        assert_array(tf.image.crop_to_bounding_box(t, 1, 2, 3, 4), x[:, 1:4, 2:6], rtol=0,
                     atol=0)
        assert_array(tf.image.crop_to_bounding_box(t[0], 0, 0, 5, 6), x[0], rtol=0, atol=0)
        p = tf.image.pad_to_bounding_box(t, 2, 1, 8, 9)
        assert_array(p, np.pad(x, [(0, 0), (2, 1), (1, 2), (0, 0)]), rtol=0, atol=0)
        # crop_or_pad: height 5 -> 3 crops rows 1..3; width 6 -> 9 pads 1 left, 2 right
        r = tf.image.resize_with_crop_or_pad(t, 3, 9)
        assert_array(r, np.pad(x[:, 1:4], [(0, 0), (0, 0), (1, 2), (0, 0)]), rtol=0, atol=0)
        r = tf.image.resize_with_crop_or_pad(t[0], 8, 2)
        assert_array(r, np.pad(x[0, :, 2:4], [(1, 2), (0, 0), (0, 0)]), rtol=0, atol=0)
        c = tf.image.central_crop(t, 0.5)
        assert_array(c, x[:, 1:4, 1:5], rtol=0, atol=0)  # int((5 - 2.5) / 2) = 1, int(1.5)
        assert_array(tf.image.central_crop(t[0], 1.0), x[0], rtol=0, atol=0)


def test_crop_pad_gradients(where, rng):
    x = rng.standard_normal((1, 4, 5, 2))
    c = rng.standard_normal((1, 6, 3, 2))
    _, g = tape_grad(where, lambda t: tf.image.resize_with_crop_or_pad(t, 6, 3), x, c)
    want = numeric_grad(lambda z: np.pad(z[:, :, 1:4], [(0, 0), (1, 1), (0, 0), (0, 0)]), x, c)
    np.testing.assert_allclose(g.numpy(), want, rtol=1e-6, atol=1e-8)


def test_flips_transpose_rot90(where, rng):
    x = rng.standard_normal((2, 3, 5, 2)).astype(F32)
    with tf.device(where):
        t = tf.constant(x)
        assert_array(tf.image.flip_left_right(t), x[:, :, ::-1], rtol=0, atol=0)
        assert_array(tf.image.flip_up_down(t), x[:, ::-1], rtol=0, atol=0)
        assert_array(tf.image.flip_left_right(t[0]), x[0, :, ::-1], rtol=0, atol=0)
        assert_array(tf.image.transpose(t), x.transpose(0, 2, 1, 3), rtol=0, atol=0)
        assert_array(tf.image.transpose(t[1]), x[1].transpose(1, 0, 2), rtol=0, atol=0)
        for k in [0, 1, 2, 3, 4, -1, 5]:
            assert_array(tf.image.rot90(t, k), np.rot90(x, k, axes=(1, 2)), rtol=0, atol=0)
            assert_array(tf.image.rot90(t[0], k), np.rot90(x[0], k, axes=(0, 1)), rtol=0,
                         atol=0)


# --------------------------------------------------------------------------------- random


def _is_flip_of(y, x, axis):
    return np.array_equal(y, x) or np.array_equal(y, np.flip(x, axis))


def test_random_flips_per_image(where, rng):
    x = rng.standard_normal((16, 3, 4, 2)).astype(F32)
    with tf.device(where):
        tf.random.set_seed(7)
        y1 = tf.image.random_flip_left_right(tf.constant(x)).numpy()
        tf.random.set_seed(7)
        y2 = tf.image.random_flip_left_right(tf.constant(x)).numpy()
        z = tf.image.random_flip_up_down(tf.constant(x)).numpy()
        s1 = tf.image.stateless_random_flip_left_right(tf.constant(x), seed=(1, 2)).numpy()
        s2 = tf.image.stateless_random_flip_left_right(tf.constant(x), seed=(1, 2)).numpy()
        single = tf.image.random_flip_up_down(tf.constant(x[0])).numpy()
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(s1, s2)
    flipped = [not np.array_equal(y1[i], x[i]) for i in range(16)]
    assert all(_is_flip_of(y1[i], x[i], 1) for i in range(16))
    assert all(_is_flip_of(z[i], x[i], 0) for i in range(16))
    assert 0 < sum(flipped) < 16  # each image decides on its own
    assert _is_flip_of(single, x[0], 0)
    outs = {tuple(tf.image.stateless_random_flip_up_down(x, seed=(s, 0)).numpy()[:, 0, 0, 0])
            for s in range(4)}
    assert len(outs) > 1


def test_random_crop(where, rng):
    x = rng.standard_normal((6, 7, 3)).astype(F32)
    with tf.device(where):
        y = tf.image.random_crop(tf.constant(x), [3, 4, 3]).numpy()
        a = tf.image.stateless_random_crop(tf.constant(x), [3, 4, 3], seed=(3, 4)).numpy()
        b = tf.image.stateless_random_crop(tf.constant(x), [3, 4, 3], seed=(3, 4)).numpy()
    windows = [x[i:i + 3, j:j + 4] for i in range(4) for j in range(4)]
    assert any(np.array_equal(y, wdw) for wdw in windows)
    assert any(np.array_equal(a, wdw) for wdw in windows)
    np.testing.assert_array_equal(a, b)
    tf.random.set_seed(3)
    c1 = tf.image.random_crop(x, [2, 2, 3], seed=5).numpy()
    tf.random.set_seed(3)
    c2 = tf.image.random_crop(x, [2, 2, 3], seed=5).numpy()
    np.testing.assert_array_equal(c1, c2)


def test_random_colour_ops_stay_in_range(where, rng):
    x = rng.uniform(0.1, 0.9, (2, 4, 5, 3)).astype(F32)
    with tf.device(where):
        t = tf.constant(x)
        d = tf.image.random_brightness(t, 0.2).numpy() - x
        assert np.ptp(d) < 1e-5 and abs(d.flat[0]) <= 0.2 + 1e-6
        y = tf.image.random_contrast(t, 0.5, 1.5).numpy()
        f = (y - x.mean(axis=(1, 2), keepdims=True)).ravel() / \
            (x - x.mean(axis=(1, 2), keepdims=True)).ravel()
        assert np.ptp(f) < 1e-3 and 0.5 <= f[0] <= 1.5
        for fn in [lambda a: tf.image.random_saturation(a, 0.5, 1.5),
                   lambda a: tf.image.random_hue(a, 0.2),
                   lambda a: tf.image.stateless_random_hue(a, 0.2, seed=(1, 1)),
                   lambda a: tf.image.stateless_random_saturation(a, 0.5, 1.5, seed=(1, 1)),
                   lambda a: tf.image.stateless_random_contrast(a, 0.5, 1.5, seed=(1, 1)),
                   lambda a: tf.image.stateless_random_brightness(a, 0.2, seed=(1, 1))]:
            y = fn(t)
            assert y.shape == x.shape and y.dtype == tf.float32
    a = tf.image.stateless_random_hue(x, 0.3, seed=(5, 6)).numpy()
    b = tf.image.stateless_random_hue(x, 0.3, seed=(5, 6)).numpy()
    np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------------- colour


def test_hsv_conversions_match_colorsys(where, rng):
    x = rng.uniform(0, 1, (2, 3, 4, 3))
    x[0, 0, 0] = [0.5, 0.5, 0.5]  # grey: hue and saturation 0
    x[0, 0, 1] = [0, 0, 0]
    x[0, 0, 2] = [1.0, 0.2, 0.2]  # a tie-free red
    with tf.device(where):
        hsv = tf.image.rgb_to_hsv(tf.constant(x))
        back = tf.image.hsv_to_rgb(hsv)
        rgb = tf.image.hsv_to_rgb(tf.constant(ref_rgb_to_hsv(x).astype(F32)))
    assert_array(hsv, ref_rgb_to_hsv(x), rtol=1e-10, atol=1e-12, dtype=F64)
    assert_array(back, x, rtol=1e-10, atol=1e-12)
    assert_array(rgb, x, rtol=1e-5, atol=1e-6, dtype=F32)


@pytest.mark.parametrize("dtype", [F32, F64])
def test_adjust_ops_match_references(where, dtype, rng):
    x = rng.uniform(0.05, 0.95, (2, 3, 4, 3)).astype(dtype)
    xd = x.astype(F64)
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == F32 else dict(rtol=1e-10, atol=1e-12)
    with tf.device(where):
        t = tf.constant(x)
        assert_array(tf.image.adjust_brightness(t, 0.1), xd + 0.1, dtype=dtype, **tol)
        assert_array(tf.image.adjust_contrast(t, 1.7), ref_adjust_contrast(xd, 1.7),
                     dtype=dtype, **tol)
        assert_array(tf.image.adjust_gamma(t, 2.2, 0.9), 0.9 * xd ** 2.2, dtype=dtype, **tol)
        for f in [0.0, 0.4, 2.5]:
            assert_array(tf.image.adjust_saturation(t, f), ref_adjust_saturation(xd, f),
                         dtype=dtype, **tol)
        for d in [-0.7, -0.1, 0.25, 0.9]:
            assert_array(tf.image.adjust_hue(t, d), ref_adjust_hue(xd, d), dtype=dtype, **tol)
        assert_array(tf.image.adjust_hue(t[0], 0.3), ref_adjust_hue(xd[0], 0.3), dtype=dtype,
                     **tol)


@pytest.mark.parametrize("name, fn, ref", [
    ("brightness", lambda t: tf.image.adjust_brightness(t, -0.2), lambda z: z - 0.2),
    ("contrast", lambda t: tf.image.adjust_contrast(t, 1.6),
     lambda z: ref_adjust_contrast(z, 1.6)),
    ("gamma", lambda t: tf.image.adjust_gamma(t, 1.8, 1.2), lambda z: 1.2 * z ** 1.8),
    ("saturation", lambda t: tf.image.adjust_saturation(t, 0.6),
     lambda z: ref_adjust_saturation(z, 0.6)),
    ("hue", lambda t: tf.image.adjust_hue(t, 0.15), lambda z: ref_adjust_hue(z, 0.15)),
    ("rgb_to_hsv", tf.image.rgb_to_hsv, ref_rgb_to_hsv),
    ("grayscale", tf.image.rgb_to_grayscale,
     lambda z: (z @ np.array([0.2989, 0.5870, 0.1140]))[..., None]),
    ("standardization", tf.image.per_image_standardization,
     lambda z: (z - z.mean(axis=(1, 2, 3), keepdims=True)) /
     np.maximum(z.std(axis=(1, 2, 3), keepdims=True), 1 / np.sqrt(18))),
], ids=lambda v: v if isinstance(v, str) else "")
def test_colour_gradients(where, name, fn, ref, rng):
    x = rng.uniform(0.1, 0.9, (2, 2, 3, 3))
    c = rng.standard_normal(np.shape(ref(x)))
    y, g = tape_grad(where, fn, x, c)
    want = numeric_grad(ref, x, c)
    tol = 2e-3 if name == "grayscale" else 1e-5  # grayscale runs in float32, as TF's
    np.testing.assert_allclose(g.numpy(), want, rtol=tol, atol=tol)


def test_grayscale(where, rng):
    x = rng.uniform(0, 1, (2, 3, 4, 3)).astype(F32)
    want = (x.astype(F64) @ np.array([0.2989, 0.5870, 0.1140]))[..., None]
    with tf.device(where):
        g = tf.image.rgb_to_grayscale(tf.constant(x))
        assert_array(g, want, dtype=F32)
        assert_array(tf.image.grayscale_to_rgb(g), np.repeat(g.numpy(), 3, -1), rtol=0, atol=0)
    u = (x * 255).astype(np.uint8)
    with tf.device("/CPU:0"):  # uint8 has no GPU storage in nabi
        gu = tf.image.rgb_to_grayscale(u)
    want_u = ((u / 255.0).astype(F32) @ np.array([0.2989, 0.5870, 0.1140], F32)) * 255.5
    assert_array(gu, want_u.astype(np.uint8)[..., None], rtol=0, atol=1, dtype=np.uint8)


def test_convert_image_dtype(on_cpu):
    u8 = np.array([0, 1, 127, 128, 254, 255], np.uint8)
    assert_array(tf.image.convert_image_dtype(u8, tf.float32), u8 / 255.0, dtype=F32)
    f = np.array([-0.5, 0.0, 0.2, 0.5, 0.999, 1.0, 1.5], F32)
    assert_array(tf.image.convert_image_dtype(f, tf.uint8, saturate=True),
                 np.clip(f * np.float32(255.5), 0, 255).astype(np.uint8), rtol=0, atol=0,
                 dtype=np.uint8)
    inr = np.array([0.0, 0.2, 0.5, 1.0], F32)
    assert_array(tf.image.convert_image_dtype(inr, tf.uint8), [0, 51, 127, 255], rtol=0,
                 atol=0, dtype=np.uint8)
    assert_array(tf.image.convert_image_dtype(u8, tf.int32), u8.astype(np.int64) * 2 ** 23,
                 rtol=0, atol=0, dtype=np.int32)
    i32 = np.array([0, 2 ** 23 - 1, 2 ** 23, 2 ** 31 - 1], np.int32)
    assert_array(tf.image.convert_image_dtype(i32, tf.uint8), [0, 0, 1, 255], rtol=0, atol=0,
                 dtype=np.uint8)
    assert_array(tf.image.convert_image_dtype(f, tf.float64), f, rtol=0, atol=0, dtype=F64)
    assert tf.image.convert_image_dtype(u8, tf.uint8).dtype == tf.uint8
    # round trip float -> uint8 -> float of the 256 levels is exact
    lv = np.arange(256) / 255.0
    back = tf.image.convert_image_dtype(tf.image.convert_image_dtype(lv.astype(F32), tf.uint8),
                                        tf.float32)
    assert_array(back, lv, rtol=0, atol=1e-7)


def test_uint8_colour_ops_saturate(on_cpu):
    x = np.array([[[10, 200, 250], [0, 128, 255]]], np.uint8)
    y = tf.image.adjust_brightness(x, 0.1)
    want = np.clip((x / 255.0).astype(F32) + np.float32(0.1), 0, 1) * np.float32(255.5)
    assert_array(y, want.astype(np.uint8), rtol=0, atol=1, dtype=np.uint8)
    assert tf.image.adjust_hue(x, 0.2).dtype == tf.uint8


def test_per_image_standardization(where, rng):
    x = rng.standard_normal((2, 3, 4, 3)).astype(F32)
    x[1] = 0.5  # a uniform image: stddev 0 -> 1 / sqrt(36)
    m = x.mean(axis=(1, 2, 3), keepdims=True)
    s = np.maximum(x.std(axis=(1, 2, 3), keepdims=True), 1 / np.sqrt(36))
    with tf.device(where):
        assert_array(tf.image.per_image_standardization(tf.constant(x)), (x - m) / s, dtype=F32)
        assert_array(tf.image.per_image_standardization(tf.constant(x[0])), (x[0] - m[0]) / s[0])
    u = rng.integers(0, 256, (3, 3, 1)).astype(np.uint8)
    uf = u.astype(F64)
    assert_array(tf.image.per_image_standardization(u), (uf - uf.mean()) / uf.std(), dtype=F32)


# --------------------------------------------------------------------------------- metrics


def test_image_gradients_and_total_variation(where, rng):
    x = rng.standard_normal((2, 4, 5, 3))
    dy = np.zeros_like(x)
    dx = np.zeros_like(x)
    dy[:, :-1] = x[:, 1:] - x[:, :-1]
    dx[:, :, :-1] = x[:, :, 1:] - x[:, :, :-1]
    tv = np.abs(dy).sum(axis=(1, 2, 3)) + np.abs(dx).sum(axis=(1, 2, 3))
    with tf.device(where):
        gy, gx = tf.image.image_gradients(tf.constant(x))
        assert_array(gy, dy, rtol=1e-12, atol=1e-12)
        assert_array(gx, dx, rtol=1e-12, atol=1e-12)
        assert_array(tf.image.total_variation(tf.constant(x)), tv, rtol=1e-12)
        assert_array(tf.image.total_variation(tf.constant(x[1])), tv[1], rtol=1e-12)
    c = rng.standard_normal(2)
    _, g = tape_grad(where, tf.image.total_variation, x, c)
    want = numeric_grad(lambda z: np.abs(np.diff(z, axis=1)).sum(axis=(1, 2, 3)) +
                        np.abs(np.diff(z, axis=2)).sum(axis=(1, 2, 3)), x, c)
    np.testing.assert_allclose(g.numpy(), want, rtol=1e-5, atol=1e-6)


def test_psnr_and_ssim(where, rng):
    a = rng.uniform(0, 1, (2, 13, 14, 3)).astype(F32)
    b = np.clip(a + rng.normal(0, 0.1, a.shape), 0, 1).astype(F32)
    mse = ((a.astype(F64) - b) ** 2).mean(axis=(1, 2, 3))
    with tf.device(where):
        p = tf.image.psnr(tf.constant(a), tf.constant(b), max_val=1.0)
        s = tf.image.ssim(tf.constant(a), tf.constant(b), max_val=1.0)
        s1 = tf.image.ssim(tf.constant(a[0]), tf.constant(a[0]), 1.0)
    assert_array(p, 20 * np.log10(1.0) - 10 * np.log10(mse), rtol=1e-5, dtype=F32)
    assert_array(s, ref_ssim(a.astype(F64), b.astype(F64), 1.0), rtol=1e-4, atol=1e-5,
                 dtype=F32)
    assert_array(s1, 1.0, rtol=1e-5)
    au, bu = (a * 255).astype(np.uint8), (b * 255).astype(np.uint8)
    pu = tf.image.psnr(au, bu, max_val=255)
    mse_u = ((au / 255.0 - bu / 255.0) ** 2).mean(axis=(1, 2, 3))
    assert_array(pu, -10 * np.log10(mse_u), rtol=1e-4, dtype=F32)


def test_ssim_gradient(where, rng):
    a = rng.uniform(0, 1, (1, 11, 12, 1))
    b = rng.uniform(0, 1, (1, 11, 12, 1)).astype(F32)
    c = np.array([1.0])
    _, g = tape_grad(where, lambda t: tf.image.ssim(t, tf.constant(b), 1.0), a.astype(F32), c)
    want = numeric_grad(lambda z: ref_ssim(z, b.astype(F64), 1.0), a, c, eps=1e-5)
    np.testing.assert_allclose(g.numpy(), want, rtol=2e-3, atol=1e-5)


def ref_extract_patches(x, k, s, r, padding):
    N, H, W, C = x.shape
    ek = [(k[i] - 1) * r[i] + 1 for i in range(2)]
    if padding == "VALID":
        out = [(n - e) // st + 1 for n, e, st in zip((H, W), ek, s)]
        pad0 = [0, 0]
    else:
        out = [-(-n // st) for n, st in zip((H, W), s)]
        pad0 = [max((o - 1) * st + e - n, 0) // 2 for o, st, e, n in zip(out, s, ek, (H, W))]
    res = np.zeros((N, out[0], out[1], k[0] * k[1] * C))
    for i in range(out[0]):
        for j in range(out[1]):
            vals = []
            for a in range(k[0]):
                for b in range(k[1]):
                    y = i * s[0] + a * r[0] - pad0[0]
                    xx = j * s[1] + b * r[1] - pad0[1]
                    vals.append(x[:, y, xx, :] if 0 <= y < H and 0 <= xx < W
                                else np.zeros((N, C)))
            res[:, i, j, :] = np.concatenate(vals, axis=-1)
    return res


@pytest.mark.parametrize("k, s, r, padding", [
    ((2, 2), (2, 2), (1, 1), "VALID"), ((3, 2), (1, 2), (1, 1), "SAME"),
    ((2, 3), (2, 1), (2, 1), "SAME"), ((3, 3), (3, 2), (1, 2), "VALID")])
def test_extract_patches(where, k, s, r, padding, rng):
    x = rng.standard_normal((2, 7, 6, 2))
    with tf.device(where):
        y = tf.image.extract_patches(tf.constant(x), [1, *k, 1], [1, *s, 1], [1, *r, 1],
                                     padding)
    assert_array(y, ref_extract_patches(x, k, s, r, padding), rtol=1e-12, atol=1e-12)
    c = rng.standard_normal(y.shape)
    _, g = tape_grad(where, lambda t: tf.image.extract_patches(
        t, [1, *k, 1], [1, *s, 1], [1, *r, 1], padding), x, c)
    want = numeric_grad(lambda z: ref_extract_patches(z, k, s, r, padding), x, c)
    np.testing.assert_allclose(g.numpy(), want, rtol=1e-6, atol=1e-8)


# ---------------------------------------------------------------------------- pipelines


def test_dataset_map_augmentation_pipeline(rng):
    images = rng.integers(0, 256, (6, 10, 12, 3)).astype(np.uint8)
    labels = np.arange(6)

    def augment(image, label):
        image = tf.image.convert_image_dtype(image, tf.float32)
        image = tf.image.resize(image, [8, 8])
        image = tf.image.random_flip_left_right(image)
        image = tf.image.random_brightness(image, 0.1)
        image = tf.image.random_crop(image, [6, 6, 3])
        return tf.clip_by_value(image, 0.0, 1.0), label

    def run():
        tf.random.set_seed(42)
        ds = tf.data.Dataset.from_tensor_slices((images, labels)).map(augment).batch(4)
        return [(x.numpy(), y.numpy()) for x, y in ds]
    a, b = run(), run()
    assert [x.shape for x, _ in a] == [(4, 6, 6, 3), (2, 6, 6, 3)]
    assert all(x.dtype == F32 and 0 <= x.min() and x.max() <= 1 for x, _ in a)
    for (x1, y1), (x2, y2) in zip(a, b):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)


def test_batch_augmentation_on_device(where, rng):
    x = rng.uniform(0, 1, (4, 9, 9, 3)).astype(F32)
    with tf.device(where):
        t = tf.constant(x)
        y = tf.image.resize(tf.image.random_flip_up_down(t), (5, 5))
        y = tf.image.stateless_random_saturation(y, 0.8, 1.2, seed=(1, 2))
        assert y.shape == (4, 5, 5, 3) and where[-5:].lower() in y.device.lower()


# ------------------------------------------------------------------------------- errors


@pytest.mark.parametrize("fn, match", [
    (lambda x: tf.image.resize(x[0, 0], (2, 2)),
     r"\[resize\] images must be 3-D .* got shape \(5, 3\)"),
    (lambda x: tf.image.resize(x, (2,)), r"\[resize\] size must be a 1-D integer"),
    (lambda x: tf.image.resize(x, (0, 2)), r"\[resize\] size must be positive"),
    (lambda x: tf.image.resize(x, (2, 2), method="cubic"), r"\[resize\] resize method 'cubic'"),
    (lambda x: tf.image.crop_to_bounding_box(x, 1, 1, 4, 5),
     r"\[crop_to_bounding_box\].*height 4 and width 5"),
    (lambda x: tf.image.crop_to_bounding_box(x, -1, 0, 2, 2), r"\[crop_to_bounding_box\] offset"),
    (lambda x: tf.image.pad_to_bounding_box(x, 1, 0, 4, 5), r"\[pad_to_bounding_box\].*height 4"),
    (lambda x: tf.image.central_crop(x, 1.5), r"\[central_crop\] central_fraction must be within"),
    (lambda x: tf.image.flip_left_right(x[0, 0]), r"\[flip_left_right\] image must be 3-D"),
    (lambda x: tf.image.rot90(x[None]), r"\[rot90\] image must be 3-D .* \(1, 2, 4, 5, 3\)"),
    (lambda x: tf.image.random_crop(x, [3, 4, 3]), r"\[random_crop\] size must be .*rank 4"),
    (lambda x: tf.image.random_crop(x, [1, 5, 2, 3]), r"\[random_crop\] need value.shape >= size"),
    (lambda x: tf.image.stateless_random_flip_left_right(x, seed=3), r"seed must be a shape \[2\]"),
    (lambda x: tf.image.random_contrast(x, 1.0, 0.5), r"\[random_contrast\] upper must be > lower"),
    (lambda x: tf.image.random_hue(x, 0.7), r"\[random_hue\] max_delta must be <= 0.5"),
    (lambda x: tf.image.random_brightness(x, -1),
     r"\[random_brightness\] max_delta must be non-neg"),
    (lambda x: tf.image.adjust_hue(x[..., :2], 0.1),
     r"\[adjust_hue\] image must have 3 channels .* \(2, 4, 5, 2\)"),
    (lambda x: tf.image.rgb_to_hsv(tf.cast(x, tf.int32)), r"\[rgb_to_hsv\] images must be a float"),
    (lambda x: tf.image.grayscale_to_rgb(x), r"\[grayscale_to_rgb\] .* last dimension of 1"),
    (lambda x: tf.image.adjust_contrast(x[0, 0], 2.0),
     r"\[adjust_contrast\] images must be at least 3-D"),
    (lambda x: tf.image.adjust_gamma(x, -1.0), r"\[adjust_gamma\] gamma should be"),
    (lambda x: tf.image.image_gradients(x[0]), r"\[image_gradients\] image must be 4-D"),
    (lambda x: tf.image.psnr(x, x[..., :1], 1.0),
     r"\[psnr\] the two images must have the same shape"),
    (lambda x: tf.image.ssim(x, x, 1.0), r"\[ssim\] images must be at least filter_size=11"),
    (lambda x: tf.image.extract_patches(x, [1, 2, 2], [1, 1, 1, 1], [1, 1, 1, 1], "VALID"),
     r"\[extract_patches\] sizes must be"),
    (lambda x: tf.image.extract_patches(x, [1, 2, 2, 1], [1, 1, 1, 1], [1, 1, 1, 1], "FULL"),
     r"\[extract_patches\] padding must be"),
])
def test_errors(where, fn, match):
    x = np.random.default_rng(0).uniform(0, 1, (2, 4, 5, 3)).astype(F32)
    with tf.device(where):
        with pytest.raises((ValueError, TypeError), match=match):
            fn(tf.constant(x))


def test_convert_image_dtype_errors(where):
    with pytest.raises(TypeError, match=r"\[convert_image_dtype\] dtype must be"):
        tf.image.convert_image_dtype(np.zeros((2, 2, 1), F32), tf.bool)
    if where != "/CPU:0":  # uint8 has no GPU storage in nabi: a clear error, not a silent copy
        with tf.device(where):
            with pytest.raises(TypeError, match=r"\[convert_image_dtype\] dtype uint8 cannot "
                                                r"live on the GPU"):
                tf.image.convert_image_dtype(tf.zeros((2, 2, 1)), tf.uint8)


def test_codecs_are_exposed_as_in_tf(rng):
    img = rng.integers(0, 256, (5, 4, 3)).astype(np.uint8)
    with tf.device("/CPU:0"):
        png = tf.image.encode_png(img)
        back = tf.image.decode_png(png)
        assert_array(back, img, rtol=0, atol=0, dtype=np.uint8)
        assert_array(tf.image.decode_image(png), img, rtol=0, atol=0)
    assert tf.image.decode_jpeg is tf.io.decode_jpeg


def test_tf_documentation_examples():
    """The outputs printed in TF's own docstrings for these functions."""
    x = np.arange(1, 13, dtype=F32).reshape(2, 2, 3)
    assert_array(tf.image.adjust_hue(x, 0.2),
                 [[[2.4, 1, 3], [5.4, 4, 6]], [[8.4, 7, 9], [11.4, 10, 12]]], rtol=1e-5)
    assert_array(tf.image.adjust_saturation(x, 0.5),
                 [[[2, 2.5, 3], [5, 5.5, 6]], [[8, 8.5, 9], [11, 11.5, 12]]], rtol=1e-5)
    assert_array(tf.image.adjust_contrast(x, 2.0),
                 [[[-3.5, -2.5, -1.5], [2.5, 3.5, 4.5]], [[8.5, 9.5, 10.5], [14.5, 15.5, 16.5]]])
    assert_array(tf.image.adjust_gamma(x, 0.2)[0, 0], [1.0, 1.1486983, 1.2457309])
    assert_array(tf.image.rgb_to_grayscale(x)[..., 0], [[1.8149, 4.8146], [7.8143, 10.814]],
                 rtol=1e-4)
    assert_array(tf.image.per_image_standardization(x)[0, 0],
                 [-1.593255, -1.3035723, -1.0138896], rtol=1e-5)
    size = (tf.shape(tf.constant(x))[0] * 2, 3)  # sizes may hold scalar tensors
    assert tf.image.resize(x, size).shape == (4, 3, 3)


def test_uint8_arrays_keep_their_range_on_the_gpu(gpu):
    """A host uint8 array cannot become a uint8 GPU tensor (it would be int64): convert_image_
    dtype and the adjust_* ops scale it by 255 on the host, then work on the GPU; asking for a
    uint8 result on the GPU is a clear error, not a silently wrong int64."""
    u = np.array([[[0, 51, 255], [10, 128, 200]]], np.uint8)
    if gpu == "cuda" or not tf.test.is_gpu_available():
        pytest.skip("needs the GPU as default device")
    f = tf.image.convert_image_dtype(u, tf.float32)
    assert "GPU" in f.device
    assert_array(f, u / 255.0, dtype=F32)
    g = tf.image.rgb_to_grayscale(u.astype(F32) / 255)
    assert_array(g, (u / 255.0 @ np.array([0.2989, 0.5870, 0.1140]))[..., None], dtype=F32)
    with pytest.raises(TypeError, match=r"\[convert_image_dtype\] dtype uint8 cannot live"):
        tf.image.adjust_brightness(u, 0.1)
    with pytest.raises(TypeError, match=r"\[convert_image_dtype\] dtype uint8 cannot live"):
        tf.image.rgb_to_grayscale(u)
