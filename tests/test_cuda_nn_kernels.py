"""CUDA conv2d, pooling and batch-norm kernels of nabi._C.cuda_backend (csrc/cuda/conv2d.cu,
pooling.cu, batchnorm.cu, csrc/bindings/bind_cuda_nn.cpp).

Every kernel test runs on a `backend` fixture: "cuda" is nabi._C.cuda_backend (skips without a
GPU); "emu" is nabi.framework.cuda_emulator (a NumPy stand-in with the same API whose nn
kernels run the CPU ones). Each function is compared with
  * the CPU nabi._C function of the same name on the same inputs (copied with .numpy()),
  * an independent NumPy reference written here (tap-by-tap einsum over a padded input for
    the convolution and its adjoints, loops over windows for pooling, axis reductions for
    batch norm), in float64,
  * float64 central differences of the backend's own forward for the backward passes (tiny
    cases),
in float32 and float64. The last tests run without a GPU: the entry points exist in every
build, and in a CUDA build their Python signatures equal the CPU ones.
"""
import re

import numpy as np
import pytest

import nabi
from nabi import _C

cb = _C.cuda_backend
F32, F64 = np.float32, np.float64
DTYPES = [F32, F64]

CONV_ENTRIES = ["conv2d_forward", "conv2d_backward"]
POOL_ENTRIES = ["max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward",
                "avg_pool2d_backward"]
BN_ENTRIES = ["batch_norm_forward_train", "batch_norm_forward_infer", "batch_norm_backward"]
ALL_ENTRIES = CONV_ENTRIES + POOL_ENTRIES + BN_ENTRIES


# ------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module", params=["cuda", "emu"])
def backend(request):
    if request.param == "cuda":
        if not cb.is_available():
            pytest.skip("no CUDA GPU available (" + cb.unavailable_reason() + ")")
        return cb
    try:
        from nabi.framework import cuda_emulator as emu
    except Exception as e:  # pragma: no cover - depends on the checkout
        pytest.skip(f"nabi.framework.cuda_emulator cannot be imported ({e})")
    return emu


def fn(backend, name):
    f = getattr(backend, name, None)
    if f is None:
        pytest.skip(f"{getattr(backend, '__name__', backend)} has no {name}")
    return f


def up(backend, a):
    return None if a is None else backend.DeviceBuffer.from_numpy(np.ascontiguousarray(a))


def down(b):
    return None if b is None else b.numpy()


def tol(dtype):
    return dict(rtol=1e-4, atol=1e-4) if dtype == F32 else dict(rtol=1e-10, atol=1e-10)


def close(actual, expected, dtype, what, **kw):
    t = tol(dtype)
    t.update(kw)
    assert actual is not None, what + " is None"
    actual = np.asarray(actual)
    assert actual.shape == np.shape(expected), f"{what}: shape {actual.shape} vs {np.shape(expected)}"
    assert actual.dtype == dtype, f"{what}: dtype {actual.dtype} vs {np.dtype(dtype)}"
    np.testing.assert_allclose(actual, expected, err_msg=what, **t)


def rnd(rng, shape, dtype, scale=1.0, shift=0.0):
    return (rng.standard_normal(shape) * scale + shift).astype(dtype)


def same_pads(n, k, s, d=1):
    """TF 'SAME' padding (before, after) along one axis: the extra element goes after."""
    ek = (k - 1) * d + 1
    out = -(-n // s)
    total = max((out - 1) * s + ek - n, 0)
    return total // 2, total - total // 2


# ============================================================ NumPy references (float64)
def out_size(n, k, s, d, p0, p1):
    return (n + p0 + p1 - ((k - 1) * d + 1)) // s + 1


def _taps(KH, KW, OH, OW, strides, dilations):
    """(i, j, index) for every filter tap: index selects the tap's input pixels of all outputs
    in the padded input."""
    (sh, sw), (dh, dw) = strides, dilations
    for i in range(KH):
        for j in range(KW):
            yield i, j, (slice(None), slice(i * dh, i * dh + (OH - 1) * sh + 1, sh),
                         slice(j * dw, j * dw + (OW - 1) * sw + 1, sw), slice(None))


def conv_ref(x, w, b, strides, dilations, padding, relu=False):
    x, w = x.astype(F64), w.astype(F64)
    N, H, W, C = x.shape
    KH, KW, _, CO = w.shape
    pt, pb, pl, pr = padding
    OH = out_size(H, KH, strides[0], dilations[0], pt, pb)
    OW = out_size(W, KW, strides[1], dilations[1], pl, pr)
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    y = np.zeros((N, OH, OW, CO))
    for i, j, sl in _taps(KH, KW, OH, OW, strides, dilations):
        y += np.einsum("nhwc,co->nhwo", xp[sl], w[i, j])
    if b is not None:
        y += b.astype(F64)
    return np.maximum(y, 0) if relu else y


def conv_grads_ref(dy, x, w, strides, dilations, padding, y=None):
    """(dx, dw, db) of conv_ref; y (the forward output of a fused ReLU) masks dy."""
    dy, x, w = dy.astype(F64), x.astype(F64), w.astype(F64)
    if y is not None:
        dy = np.where(y > 0, dy, 0.0)
    N, H, W, C = x.shape
    KH, KW, _, CO = w.shape
    OH, OW = dy.shape[1:3]
    pt, pb, pl, pr = padding
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    dxp = np.zeros_like(xp)
    dw = np.zeros((KH, KW, C, CO))
    for i, j, sl in _taps(KH, KW, OH, OW, strides, dilations):
        dxp[sl] += np.einsum("nhwo,co->nhwc", dy, w[i, j])
        dw[i, j] = np.einsum("nhwc,nhwo->co", xp[sl], dy)
    return dxp[:, pt:pt + H, pl:pl + W, :], dw, dy.sum(axis=(0, 1, 2))


def _windows(H, W, k, s, padding):
    pt, pb, pl, pr = padding
    OH, OW = out_size(H, k[0], s[0], 1, pt, pb), out_size(W, k[1], s[1], 1, pl, pr)
    for oh in range(OH):
        for ow in range(OW):
            h, w = oh * s[0] - pt, ow * s[1] - pl
            yield oh, ow, max(h, 0), min(h + k[0], H), max(w, 0), min(w + k[1], W)


def pool_out_shape(x_shape, k, s, padding):
    N, H, W, C = x_shape
    return (N, out_size(H, k[0], s[0], 1, padding[0], padding[1]),
            out_size(W, k[1], s[1], 1, padding[2], padding[3]), C)


def max_pool_ref(x, k, s, padding):
    """(y, argmax): argmax = flat NHWC index of the first maximum in row-major window order,
    -1 (and y = 0) for a window entirely in the padding."""
    N, H, W, C = x.shape
    y = np.zeros(pool_out_shape(x.shape, k, s, padding), x.dtype)
    idx = np.full(y.shape, -1, np.int64)
    n_ = np.arange(N)[:, None]
    c_ = np.arange(C)[None, :]
    for oh, ow, h0, h1, w0, w1 in _windows(H, W, k, s, padding):
        if h0 >= h1 or w0 >= w1:
            continue
        win = x[:, h0:h1, w0:w1, :].reshape(N, -1, C)
        a = win.argmax(axis=1)                       # first occurrence of the maximum
        hh, ww = h0 + a // (w1 - w0), w0 + a % (w1 - w0)
        y[:, oh, ow, :] = np.take_along_axis(win, a[:, None, :], axis=1)[:, 0, :]
        idx[:, oh, ow, :] = n_ * H * W * C + (hh * W + ww) * C + c_
    return y, idx


def max_pool_backward_ref(dy, idx, x_shape):
    dx = np.zeros(int(np.prod(x_shape)))
    ok = idx.ravel() >= 0
    np.add.at(dx, idx.ravel()[ok], dy.astype(F64).ravel()[ok])
    return dx.reshape(x_shape)


def avg_pool_ref(x, k, s, padding):
    N, H, W, C = x.shape
    y = np.zeros(pool_out_shape(x.shape, k, s, padding))
    for oh, ow, h0, h1, w0, w1 in _windows(H, W, k, s, padding):
        if h0 < h1 and w0 < w1:
            y[:, oh, ow, :] = x[:, h0:h1, w0:w1, :].astype(F64).mean(axis=(1, 2))
    return y


def avg_pool_backward_ref(dy, x_shape, k, s, padding):
    N, H, W, C = x_shape
    dx = np.zeros(x_shape)
    for oh, ow, h0, h1, w0, w1 in _windows(H, W, k, s, padding):
        if h0 < h1 and w0 < w1:
            dx[:, h0:h1, w0:w1, :] += dy[:, oh, ow, None, None, :].astype(F64) / ((h1 - h0) * (w1 - w0))
    return dx


def bn_train_ref(x, gamma, beta, eps):
    x = x.astype(F64)
    axes = tuple(range(x.ndim - 1))
    mean, var = x.mean(axis=axes), x.var(axis=axes)
    inv = 1.0 / np.sqrt(var + eps)
    g = 1.0 if gamma is None else gamma.astype(F64)
    b = 0.0 if beta is None else beta.astype(F64)
    return (x - mean) * inv * g + b, mean, var, inv


def bn_infer_ref(x, gamma, beta, mean, var, eps):
    g = 1.0 if gamma is None else gamma.astype(F64)
    b = 0.0 if beta is None else beta.astype(F64)
    return (x.astype(F64) - mean.astype(F64)) / np.sqrt(var.astype(F64) + eps) * g + b


def bn_backward_ref(dy, x, gamma, mean, inv, training):
    dy, x, mean, inv = (a.astype(F64) for a in (dy, x, mean, inv))
    axes = tuple(range(x.ndim - 1))
    M = x.size // x.shape[-1]
    g = 1.0 if gamma is None else gamma.astype(F64)
    xhat = (x - mean) * inv
    dbeta, dgamma = dy.sum(axis=axes), (dy * xhat).sum(axis=axes)
    if training:
        dx = g * inv / M * (M * dy - dbeta - xhat * dgamma)
    else:
        dx = dy * g * inv
    return dx, dgamma, dbeta


def central_diff(f, arrays, i, eps=1e-6):
    """d f(arrays) / d arrays[i] (f returns a float) by central differences, float64."""
    a = arrays[i]
    g = np.zeros_like(a)
    for k in np.ndindex(a.shape):
        old = a[k]
        a[k] = old + eps
        fp = f(arrays)
        a[k] = old - eps
        fm = f(arrays)
        a[k] = old
        g[k] = (fp - fm) / (2 * eps)
    return g


# ============================================================ conv2d
# (N, H, W, C, KH, KW, CO, strides, dilations, padding)
def _same(H, W, KH, KW, s, d=(1, 1)):
    return same_pads(H, KH, s[0], d[0]) + same_pads(W, KW, s[1], d[1])


CONV_CASES = [
    (3, 11, 11, 5, 3, 3, 7, (1, 1), (1, 1), (1, 1, 1, 1)),
    (3, 11, 11, 5, 3, 3, 7, (1, 1), (1, 1), (0, 0, 0, 0)),                   # VALID
    (3, 11, 10, 5, 3, 3, 7, (2, 2), (1, 1), _same(11, 10, 3, 3, (2, 2))),     # SAME, asymmetric
    (3, 11, 11, 5, 5, 5, 7, (1, 1), (1, 1), _same(11, 11, 5, 5, (1, 1))),
    (3, 11, 11, 5, 5, 5, 7, (2, 2), (1, 1), _same(11, 11, 5, 5, (2, 2))),
    (3, 11, 11, 5, 3, 3, 7, (1, 1), (2, 2), _same(11, 11, 3, 3, (1, 1), (2, 2))),  # dilation 2
    (3, 11, 11, 5, 3, 3, 7, (2, 2), (2, 2), (0, 1, 2, 0)),                   # odd explicit pads
    (3, 11, 11, 5, 1, 1, 7, (1, 1), (1, 1), (0, 0, 0, 0)),                   # 1x1
    (3, 11, 11, 5, 1, 1, 7, (2, 2), (1, 1), (0, 0, 0, 0)),                   # 1x1 stride 2
    (2, 9, 13, 3, 3, 2, 4, (2, 1), (1, 2), (1, 0, 0, 2)),                    # rectangular
    (1, 5, 5, 1, 5, 5, 1, (1, 1), (1, 1), (0, 0, 0, 0)),                     # one output pixel
    (2, 17, 19, 33, 3, 3, 70, (1, 1), (1, 1), (1, 1, 1, 1)),                 # several 64-tiles
    (2, 4, 4, 2, 3, 3, 3, (1, 1), (1, 1), (3, 3, 3, 3)),                     # all-padding taps
    # stride > 1, dilation 1: dx by sub-pixel phases (one launch each), a GAN's 4x4/2 and
    # stride 3 x 2 with uneven taps and padding
    (2, 7, 7, 16, 4, 4, 12, (2, 2), (1, 1), (1, 1, 1, 1)),
    (2, 10, 11, 6, 4, 5, 5, (3, 2), (1, 1), (2, 1, 0, 3)),
    # narrow output (CO <= 8, C >= 32): warp-per-pixel forward, thread-per-row filter grad
    (2, 9, 10, 40, 3, 3, 1, (1, 1), (1, 1), (1, 1, 1, 1)),
    (2, 8, 7, 64, 5, 5, 3, (2, 2), (1, 1), _same(8, 7, 5, 5, (2, 2))),
    (1, 6, 9, 33, 3, 2, 8, (1, 2), (2, 1), (1, 0, 0, 2)),
    (3, 7, 7, 32, 7, 7, 1, (1, 1), (1, 1), (3, 3, 3, 3)),                    # a GAN's last conv
]


def _conv_id(c):
    N, H, W, C, KH, KW, CO, s, d, p = c
    return f"n{N}-{H}x{W}x{C}-k{KH}x{KW}x{CO}-s{s[0]}{s[1]}-d{d[0]}{d[1]}-p{''.join(map(str, p))}"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_CASES, ids=_conv_id)
def test_conv2d_forward(backend, case, dtype):
    N, H, W, C, KH, KW, CO, s, d, p = case
    rng = np.random.default_rng(1)
    x, w, b = rnd(rng, (N, H, W, C), dtype), rnd(rng, (KH, KW, C, CO), dtype, 0.3), rnd(rng, CO, dtype)
    f = fn(backend, "conv2d_forward")
    xb, wb, bb = up(backend, x), up(backend, w), up(backend, b)
    for bias, relu in [(False, False), (True, False), (True, True), (False, True)]:
        what = f"conv2d_forward bias={bias} relu={relu}"
        y = down(f(xb, wb, bb if bias else None, s, d, p, relu=relu))
        close(y, conv_ref(x, w, b if bias else None, s, d, p, relu), dtype, what + " vs NumPy")
        cpu = _C.conv2d_forward(xb.numpy(), wb.numpy(), bb.numpy() if bias else None, s, d, p,
                                relu)
        close(y, cpu, dtype, what + " vs CPU")
    # default relu=False, keyword arguments
    y = down(f(x=xb, w=wb, b=None, strides=s, dilations=d, padding=p))
    close(y, conv_ref(x, w, None, s, d, p), dtype, "conv2d_forward keywords")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("C,CO", [(3, 8), (32, 2)], ids=["tiled", "narrow"])
def test_conv2d_filter_gradient_many_splits_is_deterministic(backend, dtype, C, CO):
    """A long pixel reduction (8 x 32 x 32 output pixels) is split over ~30 blocks per tile;
    the splits' partial sums are added in a fixed order (no atomics), so two runs give the
    same bits, and dw and db match NumPy."""
    rng = np.random.default_rng(9)
    s, d, p = (1, 1), (1, 1), (1, 1, 1, 1)
    x, w = rnd(rng, (8, 32, 32, C), dtype), rnd(rng, (3, 3, C, CO), dtype, 0.3)
    g = rnd(rng, (8, 32, 32, CO), dtype)
    bwd = fn(backend, "conv2d_backward")
    xb, wb, gb = up(backend, x), up(backend, w), up(backend, g)
    runs = [[down(a) for a in bwd(gb, xb, wb, None, s, d, p, False, True, True)[1:]]
            for _ in range(2)]
    ref = conv_grads_ref(g, x, w, s, d, p)[1:]
    for k, name in enumerate(["dw", "db"]):  # db rides in the same GEMM as a row of ones
        np.testing.assert_array_equal(runs[0][k], runs[1][k], err_msg=name)
        close(runs[0][k], ref[k], dtype, name + " vs NumPy",
              **(dict(atol=1e-4 * np.sqrt(8 * 32 * 32)) if dtype == F32 else {}))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_CASES, ids=_conv_id)
def test_conv2d_backward(backend, case, dtype):
    N, H, W, C, KH, KW, CO, s, d, p = case
    rng = np.random.default_rng(2)
    x, w, b = rnd(rng, (N, H, W, C), dtype), rnd(rng, (KH, KW, C, CO), dtype, 0.3), rnd(rng, CO, dtype)
    fwd, bwd = fn(backend, "conv2d_forward"), fn(backend, "conv2d_backward")
    xb, wb, bb = up(backend, x), up(backend, w), up(backend, b)
    for relu in (False, True):
        yb = fwd(xb, wb, bb, s, d, p, relu)
        y = down(yb)
        g = rnd(rng, y.shape, dtype)
        gb = up(backend, g)
        ref = conv_grads_ref(g, x, w, s, d, p, y if relu else None)
        got = bwd(gb, xb, wb, yb if relu else None, s, d, p, True, True, True)
        assert isinstance(got, tuple) and len(got) == 3
        cpu = _C.conv2d_backward(gb.numpy(), xb.numpy(), wb.numpy(), y if relu else None, s, d, p,
                                 True, True, True)
        K = KH * KW * max(C, CO)
        for name, a, r, c in zip(("dx", "dw", "db"), got, ref, cpu):
            what = f"conv2d_backward {name} relu={relu}"
            extra = dict(atol=1e-4 * max(1.0, np.sqrt(K) / 4)) if dtype == F32 else {}
            close(down(a), r, dtype, what + " vs NumPy", **extra)
            close(down(a), c, dtype, what + " vs CPU", **extra)
    # outputs that are not asked for are None; the others are unchanged
    g = rnd(rng, down(fwd(xb, wb, None, s, d, p)).shape, dtype)
    gb = up(backend, g)
    ref = conv_grads_ref(g, x, w, s, d, p)
    for need in [(True, False, False), (False, True, False), (False, False, True),
                 (False, False, False), (False, True, True)]:
        got = bwd(grad_y=gb, x=xb, w=wb, y=None, strides=s, dilations=d, padding=p,
                  need_dx=need[0], need_dw=need[1], need_db=need[2])
        for k in range(3):
            if need[k]:
                close(down(got[k]), ref[k], dtype, f"need={need} output {k}",
                      **(dict(atol=1e-3) if dtype == F32 else {}))
            else:
                assert got[k] is None, f"need={need}: output {k} should be None"


def test_conv2d_mnist_sized(backend):
    """The first layer of the MNIST CNN: N=32, 28x28, 1 -> 32 channels, 5x5 SAME, bias+ReLU."""
    rng = np.random.default_rng(3)
    s, d, p = (1, 1), (1, 1), (2, 2, 2, 2)
    x = rng.random((32, 28, 28, 1)).astype(F32)
    w = rnd(rng, (5, 5, 1, 32), F32, 0.2)
    b = rnd(rng, 32, F32, 0.1)
    xb, wb, bb = up(backend, x), up(backend, w), up(backend, b)
    yb = fn(backend, "conv2d_forward")(xb, wb, bb, s, d, p, True)
    y = down(yb)
    close(y, conv_ref(x, w, b, s, d, p, True), F32, "mnist forward")
    close(y, _C.conv2d_forward(x, w, b, s, d, p, True), F32, "mnist forward vs CPU")
    g = rnd(rng, y.shape, F32)
    got = fn(backend, "conv2d_backward")(up(backend, g), xb, wb, yb, s, d, p, True, True, True)
    ref = conv_grads_ref(g, x, w, s, d, p, y)
    cpu = _C.conv2d_backward(g, x, w, y, s, d, p, True, True, True)
    for name, a, r, c in zip(("dx", "dw", "db"), got, ref, cpu):
        # dw sums 32*28*28 products: a looser absolute tolerance in float32
        close(down(a), r, F32, "mnist " + name, atol=2e-3)
        close(down(a), c, F32, "mnist " + name + " vs CPU", atol=2e-3)


def test_conv2d_gradients_central_differences(backend):
    """float64: the backend's backward equals central differences of its own forward."""
    rng = np.random.default_rng(4)
    s, d, p = (2, 1), (1, 2), (1, 0, 0, 1)
    x, w, b = rnd(rng, (2, 5, 4, 2), F64), rnd(rng, (3, 2, 2, 3), F64), rnd(rng, 3, F64)
    fwd = fn(backend, "conv2d_forward")
    r = rnd(rng, down(fwd(up(backend, x), up(backend, w), up(backend, b), s, d, p)).shape, F64)

    def loss(arrs):
        y = down(fwd(up(backend, arrs[0]), up(backend, arrs[1]), up(backend, arrs[2]), s, d, p))
        return float((y * r).sum())

    arrs = [x.copy(), w.copy(), b.copy()]
    got = fn(backend, "conv2d_backward")(up(backend, r), up(backend, x), up(backend, w), None,
                                         s, d, p, True, True, True)
    for i, name in enumerate(("dx", "dw", "db")):
        np.testing.assert_allclose(down(got[i]), central_diff(loss, arrs, i), rtol=1e-6,
                                   atol=1e-7, err_msg=name)


def test_conv2d_empty_batch(backend):
    x = np.zeros((0, 6, 6, 3), F32)
    w = rnd(np.random.default_rng(5), (3, 3, 3, 4), F32)
    xb, wb = up(backend, x), up(backend, w)
    y = down(fn(backend, "conv2d_forward")(xb, wb, None, (1, 1), (1, 1), (1, 1, 1, 1)))
    assert y.shape == (0, 6, 6, 4)
    dx, dw, db = fn(backend, "conv2d_backward")(up(backend, y), xb, wb, None, (1, 1), (1, 1),
                                                (1, 1, 1, 1), True, True, True)
    assert down(dx).shape == x.shape
    np.testing.assert_array_equal(down(dw), np.zeros_like(w))
    np.testing.assert_array_equal(down(db), np.zeros(4, F32))


def test_conv2d_bad_inputs(backend):
    rng = np.random.default_rng(6)
    x = up(backend, rnd(rng, (2, 6, 6, 3), F32))
    w = up(backend, rnd(rng, (3, 3, 3, 4), F32))
    f, bwd = fn(backend, "conv2d_forward"), fn(backend, "conv2d_backward")
    s, d, p = (1, 1), (1, 1), (0, 0, 0, 0)
    with pytest.raises(ValueError, match=r"^\[conv2d\] input must be 4-D"):
        f(up(backend, rnd(rng, (6, 6, 3), F32)), w, None, s, d, p)
    with pytest.raises(ValueError, match=r"^\[conv2d\] filters must be 4-D"):
        f(x, up(backend, rnd(rng, (3, 3, 3), F32)), None, s, d, p)
    with pytest.raises(ValueError, match=r"^\[conv2d\] input channels 3 .* do not match filters"):
        f(x, up(backend, rnd(rng, (3, 3, 5, 4), F32)), None, s, d, p)
    with pytest.raises(TypeError, match=r"^\[conv2d\] input and filters dtypes differ"):
        f(x, up(backend, rnd(rng, (3, 3, 3, 4), F64)), None, s, d, p)
    with pytest.raises(TypeError, match=r"^\[conv2d\] input must be float32 or float64"):
        f(up(backend, np.zeros((2, 6, 6, 3), np.int32)), w, None, s, d, p)
    with pytest.raises(ValueError, match=r"^\[conv2d\] bias \(5,\) does not match filters"):
        f(x, w, up(backend, np.zeros(5, F32)), s, d, p)
    with pytest.raises(TypeError, match=r"^\[conv2d\] bias and input dtypes differ"):
        f(x, w, up(backend, np.zeros(4, F64)), s, d, p)
    with pytest.raises(ValueError, match=r"^\[conv2d\] strides must be >= 1"):
        f(x, w, None, (0, 1), d, p)
    with pytest.raises(ValueError, match=r"^\[conv2d\] padding must be >= 0"):
        f(x, w, None, s, d, (0, -1, 0, 0))
    with pytest.raises(ValueError, match=r"^\[conv2d\] strides and dilations need 2 values"):
        f(x, w, None, s, d, (0, 0))
    with pytest.raises(ValueError, match=r"^\[conv2d\] filter .* is larger than the padded input"):
        f(x, w, None, s, (4, 4), p)
    with pytest.raises(ValueError, match=r"^\[conv2d\] grad_y \(2, 5, 5, 4\) does not match the "
                       r"output shape \(2, 4, 4, 4\)"):
        bwd(up(backend, np.zeros((2, 5, 5, 4), F32)), x, w, None, s, d, p, True, True, True)
    with pytest.raises(ValueError, match=r"^\[conv2d\] y \(2, 4, 4, 3\) does not match"):
        bwd(up(backend, np.zeros((2, 4, 4, 4), F32)), x, w, up(backend, np.zeros((2, 4, 4, 3), F32)),
            s, d, p, True, True, True)


# ============================================================ pooling
# (N, H, W, C, ksize, strides, padding)
POOL_CASES = [
    (3, 11, 11, 5, (2, 2), (2, 2), (0, 0, 0, 0)),                        # disjoint, VALID
    (3, 11, 11, 5, (2, 2), (2, 2), (0, 1, 0, 1)),                        # disjoint, SAME
    (3, 11, 11, 5, (3, 3), (2, 2), (1, 1, 1, 1)),                        # overlapping, SAME
    (3, 11, 10, 5, (3, 3), (1, 1), (0, 2, 1, 1)),                        # stride 1, asymmetric
    (2, 11, 10, 5, (3, 2), (3, 2), (1, 2, 0, 1)),                        # rectangular, disjoint
    (2, 5, 5, 3, (2, 2), (2, 2), (3, 3, 3, 3)),                          # empty windows
    (2, 13, 13, 3, (5, 4), (3, 3), (2, 2, 1, 2)),
    (2, 7, 6, 1, (1, 1), (1, 1), (0, 0, 0, 0)),                          # 1x1 window
    (4, 16, 16, 40, (2, 2), (2, 2), (0, 0, 0, 0)),                       # many blocks
]


def _pool_id(c):
    N, H, W, C, k, s, p = c
    return f"n{N}-{H}x{W}x{C}-k{k[0]}{k[1]}-s{s[0]}{s[1]}-p{''.join(map(str, p))}"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", POOL_CASES, ids=_pool_id)
def test_max_pool2d(backend, case, dtype):
    N, H, W, C, k, s, p = case
    rng = np.random.default_rng(7)
    fwd, bwd = fn(backend, "max_pool2d_forward"), fn(backend, "max_pool2d_backward")
    for ties in (False, True):
        # ties: small integers, so windows hold repeated maxima (the first one must win)
        x = (rng.integers(-2, 3, (N, H, W, C)) if ties else rng.standard_normal((N, H, W, C)))
        x = x.astype(dtype)
        xb = up(backend, x)
        y_ref, idx_ref = max_pool_ref(x, k, s, p)
        for index_dtype in ("int32", "int64"):
            yb, ib = fwd(xb, k, s, p, True, index_dtype)
            y, idx = down(yb), down(ib)
            assert y.dtype == dtype and y.shape == y_ref.shape
            np.testing.assert_array_equal(y, y_ref)
            assert idx.dtype == np.dtype(index_dtype)
            np.testing.assert_array_equal(idx, idx_ref)
            y_cpu, idx_cpu = _C.max_pool2d_forward(xb.numpy(), k, s, p, True, index_dtype)
            np.testing.assert_array_equal(y, y_cpu)
            np.testing.assert_array_equal(idx, idx_cpu)
            assert idx.dtype == idx_cpu.dtype
            g = rnd(rng, y.shape, dtype)
            gb = up(backend, g)
            dx_ref = max_pool_backward_ref(g, idx_ref, x.shape)
            for window in (True, False):
                extra = (k, s, p) if window else ()
                dx = down(bwd(gb, ib, x.shape, *extra))
                close(dx, dx_ref, dtype, f"max_pool2d_backward window={window} {index_dtype}")
                close(dx, _C.max_pool2d_backward(g, idx, x.shape, *extra), dtype,
                      "max_pool2d_backward vs CPU")
            # CPU and GPU argmax buffers are interchangeable
            dx = down(bwd(gb, up(backend, idx_cpu), x.shape, k, s, p))
            close(dx, dx_ref, dtype, "max_pool2d_backward with the CPU's argmax")
    # without argmax: None; default index dtype int32
    y, none = fwd(xb, k, s, p, with_argmax=False)
    assert none is None
    np.testing.assert_array_equal(down(y), max_pool_ref(x, k, s, p)[0])
    assert down(fwd(xb, k, s, p)[1]).dtype == np.int32


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", POOL_CASES, ids=_pool_id)
def test_avg_pool2d(backend, case, dtype):
    N, H, W, C, k, s, p = case
    rng = np.random.default_rng(8)
    x = rnd(rng, (N, H, W, C), dtype)
    xb = up(backend, x)
    y = down(fn(backend, "avg_pool2d_forward")(xb, k, s, p))
    close(y, avg_pool_ref(x, k, s, p), dtype, "avg_pool2d_forward")
    close(y, _C.avg_pool2d_forward(xb.numpy(), k, s, p), dtype, "avg_pool2d_forward vs CPU")
    g = rnd(rng, y.shape, dtype)
    gb = up(backend, g)
    dx = down(fn(backend, "avg_pool2d_backward")(gb, x.shape, k, s, p))
    close(dx, avg_pool_backward_ref(g, x.shape, k, s, p), dtype, "avg_pool2d_backward")
    close(dx, _C.avg_pool2d_backward(gb.numpy(), x.shape, k, s, p), dtype,
          "avg_pool2d_backward vs CPU")
    # adjoint identity <avg(x), g> == <x, avg_backward(g)>
    lhs = float((avg_pool_ref(x, k, s, p) * g).sum())
    rhs = float((x.astype(F64) * dx).sum())
    assert abs(lhs - rhs) <= (1e-3 if dtype == F32 else 1e-9) * max(1.0, abs(lhs))


def test_pooling_gradients_central_differences(backend):
    rng = np.random.default_rng(9)
    k, s, p = (3, 2), (2, 1), (1, 1, 0, 1)
    x = rng.permutation(2 * 5 * 4 * 2).reshape(2, 5, 4, 2).astype(F64) / 7  # distinct values
    fwd_max, fwd_avg = fn(backend, "max_pool2d_forward"), fn(backend, "avg_pool2d_forward")
    y, idx = fwd_max(up(backend, x), k, s, p)
    r = rnd(rng, down(y).shape, F64)
    dx = down(fn(backend, "max_pool2d_backward")(up(backend, r), idx, x.shape, k, s, p))
    num = central_diff(lambda a: float((down(fwd_max(up(backend, a[0]), k, s, p)[0]) * r).sum()),
                       [x.copy()], 0, eps=1e-4)
    np.testing.assert_allclose(dx, num, rtol=1e-6, atol=1e-8, err_msg="max_pool2d")
    dx = down(fn(backend, "avg_pool2d_backward")(up(backend, r), x.shape, k, s, p))
    num = central_diff(lambda a: float((down(fwd_avg(up(backend, a[0]), k, s, p)) * r).sum()),
                       [x.copy()], 0)
    np.testing.assert_allclose(dx, num, rtol=1e-6, atol=1e-8, err_msg="avg_pool2d")


def test_pooling_bad_inputs(backend):
    rng = np.random.default_rng(10)
    x = up(backend, rnd(rng, (2, 6, 6, 3), F32))
    k, s, p = (2, 2), (2, 2), (0, 0, 0, 0)
    mf, mb = fn(backend, "max_pool2d_forward"), fn(backend, "max_pool2d_backward")
    af, ab = fn(backend, "avg_pool2d_forward"), fn(backend, "avg_pool2d_backward")
    with pytest.raises(ValueError, match=r"^\[max_pool2d\] input must be 4-D"):
        mf(up(backend, rnd(rng, (6, 6, 3), F32)), k, s, p)
    with pytest.raises(ValueError, match=r"^\[avg_pool2d\] input must be 4-D"):
        af(up(backend, rnd(rng, (6, 6, 3), F32)), k, s, p)
    with pytest.raises(TypeError, match=r"^\[max_pool2d\] input must be float32 or float64"):
        mf(up(backend, np.zeros((2, 6, 6, 3), np.int64)), k, s, p)
    with pytest.raises(ValueError, match=r"^\[max_pool2d\] index_dtype must be 'int32' or 'int64'"):
        mf(x, k, s, p, True, "int16")
    with pytest.raises(ValueError, match=r"^\[max_pool2d\] window .* is larger than the padded"):
        mf(x, (7, 7), s, p)
    with pytest.raises(ValueError, match=r"^\[avg_pool2d\] window must be >= 1"):
        af(x, (0, 2), s, p)
    with pytest.raises(ValueError, match=r"^\[avg_pool2d\] ksize and strides need 2 values"):
        af(x, k, s, (0, 0))
    y, idx = mf(x, k, s, p)
    with pytest.raises(TypeError, match=r"^\[max_pool2d\] argmax must be int32 or int64"):
        mb(y, y, (2, 6, 6, 3))
    with pytest.raises(ValueError, match=r"^\[max_pool2d\] grad_y and argmax shapes differ"):
        mb(up(backend, np.zeros((2, 3, 3, 2), F32)), idx, (2, 6, 6, 3))
    with pytest.raises(ValueError, match=r"^\[max_pool2d\] grad_y .* does not match input_shape"):
        mb(y, idx, (3, 6, 6, 3))
    with pytest.raises(ValueError, match=r"^\[max_pool2d\] give all of ksize, strides and padding"):
        mb(y, idx, (2, 6, 6, 3), k)
    with pytest.raises(ValueError, match=r"^\[max_pool2d\] grad_y .* does not match the output"):
        mb(y, idx, (2, 6, 6, 3), (3, 3), (3, 3), p)
    with pytest.raises(ValueError, match=r"^\[avg_pool2d\] grad_y .* does not match the output"):
        ab(up(backend, np.zeros((2, 2, 3, 3), F32)), (2, 6, 6, 3), k, s, p)


# ============================================================ batch norm
BN_SHAPES = [(3, 11, 11, 5), (7, 13), (1, 3), (4,), (2, 3, 4, 70), (5000, 3), (300, 1)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", BN_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_batch_norm(backend, shape, dtype):
    rng = np.random.default_rng(11)
    C = shape[-1]
    eps = 1e-3
    x = rnd(rng, shape, dtype, 2.0, 3.0)   # offset mean: the variance must not cancel
    gamma, beta = rnd(rng, C, dtype), rnd(rng, C, dtype)
    ft, fi = fn(backend, "batch_norm_forward_train"), fn(backend, "batch_norm_forward_infer")
    fb = fn(backend, "batch_norm_backward")
    xb = up(backend, x)
    for hg, hb in [(True, True), (False, False), (True, False), (False, True)]:
        g_, b_ = (gamma if hg else None), (beta if hb else None)
        gb_, bb_ = up(backend, g_), up(backend, b_)
        tag = f"gamma={hg} beta={hb}"
        out = ft(xb, gb_, bb_, eps)
        assert isinstance(out, tuple) and len(out) == 4
        got = [down(o) for o in out]
        ref = bn_train_ref(x, g_, b_, eps)
        cpu = _C.batch_norm_forward_train(xb.numpy(), g_, b_, eps)
        for name, a, r, c in zip(("y", "mean", "var", "inv_std"), got, ref, cpu):
            close(a, r, dtype, f"train {name} {tag}")
            close(a, c, dtype, f"train {name} {tag} vs CPU")
        mean, var, inv = got[1], got[2], got[3]
        y = down(fi(xb, gb_, bb_, out[1], out[2], eps))
        close(y, bn_infer_ref(x, g_, b_, mean, var, eps), dtype, f"infer {tag}")
        close(y, _C.batch_norm_forward_infer(x, g_, b_, mean, var, eps), dtype, f"infer {tag} CPU")
        dy = rnd(rng, shape, dtype)
        dyb = up(backend, dy)
        for training in (True, False):
            res = fb(dyb, xb, gb_, out[1], out[3], training)
            assert isinstance(res, tuple) and len(res) == 3
            ref = bn_backward_ref(dy, x, g_, mean, inv, training)
            cpu = _C.batch_norm_backward(dy, x, g_, mean, inv, training)
            for name, a, r, c in zip(("dx", "dgamma", "dbeta"), res, ref, cpu):
                extra = dict(atol=1e-3) if dtype == F32 and name != "dx" else {}
                close(down(a), r, dtype, f"backward {name} training={training} {tag}", **extra)
                close(down(a), c, dtype, f"backward {name} training={training} {tag} CPU",
                      **extra)


def test_batch_norm_keywords_and_empty_rows(backend):
    ft = fn(backend, "batch_norm_forward_train")
    x = np.zeros((0, 4), F32)
    y, mean, var, inv = ft(x=up(backend, x), gamma=None, beta=None, eps=1e-3)
    assert down(y).shape == (0, 4)
    for a, c in zip((mean, var, inv), _C.batch_norm_forward_train(x, None, None, 1e-3)[1:]):
        close(down(a), c, F32, "empty rows vs CPU")


def test_batch_norm_gradients_central_differences(backend):
    rng = np.random.default_rng(12)
    x, gamma, beta = rnd(rng, (3, 2, 4), F64), rnd(rng, 4, F64), rnd(rng, 4, F64)
    r = rnd(rng, x.shape, F64)
    ft = fn(backend, "batch_norm_forward_train")
    eps = 1e-3

    def loss(a):
        y = down(ft(up(backend, a[0]), up(backend, a[1]), up(backend, a[2]), eps)[0])
        return float((y * r).sum())

    _, mean, _, inv = ft(up(backend, x), up(backend, gamma), up(backend, beta), eps)
    got = fn(backend, "batch_norm_backward")(up(backend, r), up(backend, x), up(backend, gamma),
                                             mean, inv, True)
    arrs = [x.copy(), gamma.copy(), beta.copy()]
    for i, name in enumerate(("dx", "dgamma", "dbeta")):
        np.testing.assert_allclose(down(got[i]), central_diff(loss, arrs, i), rtol=1e-6,
                                   atol=1e-7, err_msg=name)


def test_batch_norm_bad_inputs(backend):
    rng = np.random.default_rng(13)
    x = up(backend, rnd(rng, (6, 4), F32))
    g4 = up(backend, np.ones(4, F32))
    ft, fi = fn(backend, "batch_norm_forward_train"), fn(backend, "batch_norm_forward_infer")
    fb = fn(backend, "batch_norm_backward")
    with pytest.raises(ValueError, match=r"^\[batch_norm\] gamma \(5,\) must have shape \(4,\)"):
        ft(x, up(backend, np.ones(5, F32)), None, 1e-3)
    with pytest.raises(TypeError, match=r"^\[batch_norm\] beta and x dtypes differ"):
        ft(x, None, up(backend, np.ones(4, F64)), 1e-3)
    with pytest.raises(TypeError, match=r"^\[batch_norm\] x must be float32 or float64"):
        ft(up(backend, np.ones((6, 4), np.int32)), None, None, 1e-3)
    with pytest.raises(ValueError, match=r"^\[batch_norm\] variance \(3,\) must have shape"):
        fi(x, g4, None, g4, up(backend, np.ones(3, F32)), 1e-3)
    with pytest.raises(ValueError, match=r"^\[batch_norm\] grad_y and x shapes differ"):
        fb(up(backend, np.ones((6, 5), F32)), x, g4, g4, g4, True)
    with pytest.raises(TypeError, match=r"^\[batch_norm\] grad_y and x dtypes differ"):
        fb(up(backend, np.ones((6, 4), F64)), x, g4, g4, g4, True)
    with pytest.raises(ValueError, match=r"^\[batch_norm\] inv_std \(2, 2\) must have shape"):
        fb(x, x, g4, g4, up(backend, np.ones((2, 2), F32)), True)


# ============================================================ contract (no GPU needed)
def test_entries_registered_and_callable():
    entries = list(cb.KERNEL_ENTRIES)
    for name in ALL_ENTRIES:
        assert entries.count(name) == 1, name
        assert callable(getattr(cb, name)), name


@pytest.mark.skipif(bool(cb.built_with_cuda), reason="nabi built with CUDA")
@pytest.mark.parametrize("name", ALL_ENTRIES)
def test_entries_raise_without_cuda(name):
    with pytest.raises(RuntimeError, match=r"^\[" + name + r"\] has no CUDA implementation.*"
                       r"built without CUDA"):
        getattr(cb, name)(None, None)


def _split_top(s):
    """Split at the commas that are not inside brackets."""
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    return [p.strip() for p in out + [cur] if p.strip()]


def _signature(f):
    """[(name, default or None)] from a pybind11 docstring's first line."""
    line = f.__doc__.strip().splitlines()[0]
    inner = line[line.index("(") + 1:line.rindex(") ->")]
    out = []
    for part in _split_top(inner):
        m = re.match(r"(\w+)(?::[^=]*)?(?:=\s*(.*))?$", part)
        out.append((m.group(1), m.group(2).strip() if m.group(2) else None))
    return out


@pytest.mark.skipif(not cb.built_with_cuda, reason="nabi built without CUDA")
@pytest.mark.parametrize("name", ALL_ENTRIES)
def test_signatures_equal_the_cpu_ones(name):
    assert _signature(getattr(cb, name)) == _signature(getattr(_C, name))


@pytest.mark.skipif(not cb.built_with_cuda or cb.is_available(),
                    reason="needs a CUDA build on a machine without a GPU")
def test_bad_arguments_rejected_before_any_allocation():
    """Validation runs before any device work, so some of it is visible without a GPU."""
    with pytest.raises(TypeError, match=r"^\[conv2d\] input must be a DeviceBuffer, got None"):
        cb.conv2d_forward(None, None, None, (1, 1), (1, 1), (0, 0, 0, 0))
    with pytest.raises(TypeError, match=r"^\[max_pool2d\] input must be a DeviceBuffer, got None"):
        cb.max_pool2d_forward(None, (2, 2), (2, 2), (0, 0, 0, 0))
    with pytest.raises(ValueError, match=r"^\[avg_pool2d\] ksize and strides need 2 values"):
        cb.avg_pool2d_backward(None, (2, 4, 4, 3), (2, 2), (2, 2), (0, 0))
    with pytest.raises(TypeError, match=r"^\[max_pool2d\] grad_y must be a DeviceBuffer, got None"):
        cb.max_pool2d_backward(None, None, (2, 4, 4))
    with pytest.raises(TypeError, match=r"^\[batch_norm\] x must be a DeviceBuffer, got None"):
        cb.batch_norm_forward_train(None, None, None, 1e-3)
