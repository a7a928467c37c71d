"""depthwise_conv2d / separable_conv2d and the layers built on them (DepthwiseConv2D/1D,
SeparableConv2D/1D, Conv2D/Conv1D with groups, Conv1DTranspose), on every device (`where`),
against NumPy references written here: the forward as a sum over filter taps of strided slices
of the zero-padded input, its adjoints (dx, dw) from the same taps, float64 central differences
for the references themselves. Kernels: csrc/cpu/depthwise_conv2d.cpp,
csrc/cuda/depthwise_conv2d.cu (the `backend` tests run the CUDA entries -- emulator, or the real
kernels on a GPU / the host simulator -- against the CPU ones and the references)."""
import numpy as np
import pytest

import nabi as tf
from nabi import _C

L = tf.keras.layers
F32, F64 = np.float32, np.float64


# ------------------------------------------------------------------------------ references
def same_pads(n, k, s, d):
    ek = (k - 1) * d + 1
    total = max((-(-n // s) - 1) * s + ek - n, 0)
    return total // 2, total - total // 2


def pads_of(H, W, KH, KW, st, dl, padding):
    if padding == "SAME":
        return same_pads(H, KH, st[0], dl[0]) + same_pads(W, KW, st[1], dl[1])
    if padding == "VALID":
        return (0, 0, 0, 0)
    return tuple(a for p in padding for a in p)


def _taps(x, KH, KW, st, dl, pads):
    """(i, j, strided slice of the padded input met by tap (i, j)), and OH, OW."""
    N, H, W, C = x.shape
    xp = np.pad(x, ((0, 0), pads[:2], pads[2:], (0, 0)))
    OH = (H + pads[0] + pads[1] - (KH - 1) * dl[0] - 1) // st[0] + 1
    OW = (W + pads[2] + pads[3] - (KW - 1) * dl[1] - 1) // st[1] + 1
    out = []
    for i in range(KH):
        for j in range(KW):
            hs = slice(i * dl[0], i * dl[0] + (OH - 1) * st[0] + 1, st[0])
            ws = slice(j * dl[1], j * dl[1] + (OW - 1) * st[1] + 1, st[1])
            out.append((i, j, hs, ws))
    return xp, out, OH, OW


def ref_depthwise(x, w, st, dl, pads):
    x, w = x.astype(F64), w.astype(F64)
    KH, KW, C, M = w.shape
    xp, taps, OH, OW = _taps(x, KH, KW, st, dl, pads)
    y = np.zeros((x.shape[0], OH, OW, C, M))
    for i, j, hs, ws in taps:
        y += xp[:, hs, ws, :, None] * w[i, j]
    return y.reshape(x.shape[0], OH, OW, C * M)


def ref_depthwise_grads(x, w, dy, st, dl, pads):
    """(dx, dw) of sum(depthwise(x, w) * dy)."""
    x, w, dy = x.astype(F64), w.astype(F64), dy.astype(F64)
    KH, KW, C, M = w.shape
    N, H, W, _ = x.shape
    xp, taps, OH, OW = _taps(x, KH, KW, st, dl, pads)
    g = dy.reshape(N, OH, OW, C, M)
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    for i, j, hs, ws in taps:
        dxp[:, hs, ws, :] += np.einsum("nhwcm,cm->nhwc", g, w[i, j])
        dw[i, j] = np.einsum("nhwc,nhwcm->cm", xp[:, hs, ws, :], g)
    return dxp[:, pads[0]:pads[0] + H, pads[2]:pads[2] + W, :], dw


def ref_conv2d(x, w, st=(1, 1), dl=(1, 1), pads=(0, 0, 0, 0)):
    x, w = x.astype(F64), w.astype(F64)
    KH, KW = w.shape[:2]
    xp, taps, OH, OW = _taps(x, KH, KW, st, dl, pads)
    y = np.zeros((x.shape[0], OH, OW, w.shape[3]))
    for i, j, hs, ws in taps:
        y += np.einsum("nhwc,co->nhwo", xp[:, hs, ws, :], w[i, j])
    return y


def ref_conv1d_transpose(u, w, stride, out_len, pad_left):
    """Transposed conv1d: u (N, L, CI) scattered through w (KW, CO, CI) into (N, out_len, CO)
    with the first pad_left positions cut."""
    N, Lu, CI = u.shape
    KW, CO, _ = w.shape
    full = np.zeros((N, (Lu - 1) * stride + KW + out_len + pad_left, CO))
    for t in range(Lu):
        for j in range(KW):
            full[:, t * stride + j, :] += u[:, t, :].astype(F64) @ w[j].T.astype(F64)
    return full[:, pad_left:pad_left + out_len, :]


def _fd(f, a, eps=1e-6):
    a = a.astype(F64).copy()
    g = np.zeros_like(a)
    for idx in np.ndindex(*a.shape):
        old = a[idx]
        a[idx] = old + eps
        fp = f(a)
        a[idx] = old - eps
        fm = f(a)
        a[idx] = old
        g[idx] = (fp - fm) / (2 * eps)
    return g


def test_reference_adjoints_match_finite_differences(rng):
    x = rng.standard_normal((1, 5, 4, 2))
    w = rng.standard_normal((3, 2, 2, 2))
    st, dl, pads = (2, 1), (1, 2), (1, 1, 2, 0)
    dy = rng.standard_normal(ref_depthwise(x, w, st, dl, pads).shape)
    dx, dw = ref_depthwise_grads(x, w, dy, st, dl, pads)
    np.testing.assert_allclose(dx, _fd(lambda a: np.sum(ref_depthwise(a, w, st, dl, pads) * dy),
                                       x), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dw, _fd(lambda a: np.sum(ref_depthwise(x, a, st, dl, pads) * dy),
                                       w), rtol=1e-6, atol=1e-8)


# ------------------------------------------------------------------------------ the op
# (N, H, W, C, KH, KW, M, strides, dilations, padding)
CASES = [
    (2, 7, 9, 3, 3, 3, 1, (1, 1), (1, 1), "SAME"),
    (2, 8, 8, 16, 3, 3, 1, (2, 2), (1, 1), "SAME"),        # MobileNet stride-2 block
    (1, 9, 7, 5, 3, 3, 2, (1, 1), (1, 1), "VALID"),
    (2, 6, 7, 4, 2, 2, 3, (1, 1), (1, 1), "SAME"),         # even kernel: extra pad bottom/right
    (1, 11, 10, 3, 5, 3, 1, (2, 3), (1, 1), "SAME"),
    (2, 9, 9, 2, 3, 3, 1, (1, 1), (2, 2), "SAME"),         # dilation 2
    (1, 10, 8, 6, 3, 2, 2, (2, 1), (2, 1), "VALID"),
    (1, 6, 5, 3, 3, 3, 1, (1, 2), (1, 1), [[2, 0], [1, 3]]),  # explicit padding
    (3, 5, 6, 1, 1, 1, 4, (1, 1), (1, 1), "VALID"),        # 1x1, one channel
    (1, 4, 4, 37, 3, 3, 1, (3, 3), (1, 1), "SAME"),        # C off the vector width
    # float32 M == 1 AVX2 kernels: 4-pixel blocks (16-channel steps + tails) and single pixels
    (1, 5, 13, 21, 3, 3, 1, (1, 1), (1, 1), "SAME"),
    (2, 6, 14, 40, 3, 3, 1, (1, 2), (1, 2), "VALID"),
    (1, 7, 11, 8, 5, 5, 1, (1, 1), (1, 1), "SAME"),
    # float32 M == 1 KW == 3 AVX-512 forward: two-row blocks (4/2/1 pixels) and one-row
    # blocks (8/4/1 pixels), 16-channel steps with masked tails, border columns and rows
    (2, 9, 23, 37, 3, 3, 1, (1, 1), (1, 1), "SAME"),
    (1, 12, 30, 64, 3, 3, 1, (1, 1), (1, 1), "SAME"),
    (1, 8, 20, 16, 3, 3, 1, (2, 1), (1, 1), "SAME"),       # row stride 2: one-row path
    (1, 10, 12, 48, 3, 3, 1, (1, 1), (2, 1), "VALID"),     # row dilation 2
    (2, 7, 2, 19, 3, 3, 1, (1, 1), (1, 1), "SAME"),        # W = 2: no interior column
    (1, 6, 11, 33, 2, 3, 1, (1, 1), (1, 1), "VALID"),      # KH = 2
    (1, 3, 9, 20, 3, 3, 1, (1, 1), (1, 1), [[4, 4], [2, 0]]),  # rows that meet no tap
    (3, 4, 5, 1, 1, 3, 1, (1, 1), (1, 1), "SAME"),         # C = 1, KH = 1
]


def _ids(c):
    return f"{c[0]}x{c[1]}x{c[2]}x{c[3]}-k{c[4]}{c[5]}m{c[6]}-s{c[7][0]}{c[7][1]}" \
           f"d{c[8][0]}{c[8][1]}-{c[9] if isinstance(c[9], str) else 'explicit'}"


def _run_depthwise(where, x, w, dy, st, dl, padding, fmt="NHWC"):
    with tf.device(where):
        xt, wt = tf.constant(x), tf.constant(w)
        with tf.GradientTape() as tape:
            tape.watch([xt, wt])
            strides = [1, 1, st[0], st[1]] if fmt == "NCHW" else [1, st[0], st[1], 1]
            y = tf.nn.depthwise_conv2d(xt, wt, strides=strides, padding=padding,
                                       data_format=fmt, dilations=list(dl))
            loss = tf.reduce_sum(y * tf.constant(dy))
        dx, dw = tape.gradient(loss, [xt, wt])
    return y.numpy(), dx.numpy(), dw.numpy()


@pytest.mark.parametrize("case", CASES, ids=_ids)
@pytest.mark.parametrize("dtype", [F32, F64])
def test_depthwise_forward_and_gradients(where, case, dtype, rng):
    N, H, W, C, KH, KW, M, st, dl, padding = case
    x = rng.standard_normal((N, H, W, C)).astype(dtype)
    w = rng.standard_normal((KH, KW, C, M)).astype(dtype)
    pads = pads_of(H, W, KH, KW, st, dl, padding)
    y_ref = ref_depthwise(x, w, st, dl, pads)
    dy = rng.standard_normal(y_ref.shape).astype(dtype)
    dx_ref, dw_ref = ref_depthwise_grads(x, w, dy, st, dl, pads)
    pad_arg = padding if isinstance(padding, str) else [[0, 0]] + padding + [[0, 0]]
    y, dx, dw = _run_depthwise(where, x, w, dy, st, dl, pad_arg)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == F32 else dict(rtol=1e-10, atol=1e-10)
    for name, a, e in (("y", y, y_ref), ("dx", dx, dx_ref), ("dw", dw, dw_ref)):
        assert a.shape == e.shape, f"{name}: shape {a.shape} vs {e.shape}"
        assert a.dtype == dtype, f"{name}: dtype {a.dtype}"
        np.testing.assert_allclose(a, e, err_msg=name, **tol)


def test_depthwise_nchw(where, rng):
    x = rng.standard_normal((2, 5, 6, 3)).astype(F32)  # NHWC data
    w = rng.standard_normal((3, 3, 3, 2)).astype(F32)
    st, dl = (2, 1), (1, 1)
    pads = pads_of(5, 6, 3, 3, st, dl, "SAME")
    y_ref = ref_depthwise(x, w, st, dl, pads)
    dy = rng.standard_normal(y_ref.shape).astype(F32)
    dx_ref, dw_ref = ref_depthwise_grads(x, w, dy, st, dl, pads)
    y, dx, dw = _run_depthwise(where, x.transpose(0, 3, 1, 2).copy(), w,
                               dy.transpose(0, 3, 1, 2).copy(), st, dl, "SAME", "NCHW")
    np.testing.assert_allclose(y, y_ref.transpose(0, 3, 1, 2), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dx, dx_ref.transpose(0, 3, 1, 2), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dw, dw_ref, rtol=1e-4, atol=1e-4)


def test_depthwise_reused_input_accumulates(where, rng):
    """y = depthwise(x, w) + depthwise(x, w): the gradients double."""
    x = rng.standard_normal((1, 4, 5, 2)).astype(F64)
    w = rng.standard_normal((2, 2, 2, 1)).astype(F64)
    with tf.device(where):
        xt, wt = tf.constant(x), tf.constant(w)
        with tf.GradientTape() as tape:
            tape.watch([xt, wt])
            y = tf.nn.depthwise_conv2d(xt, wt, [1, 1, 1, 1], "VALID")
            loss = tf.reduce_sum(y + tf.nn.depthwise_conv2d(xt, wt, [1, 1, 1, 1], "VALID"))
        dx, dw = tape.gradient(loss, [xt, wt])
    rx, rw = ref_depthwise_grads(x, w, np.ones(y.shape), (1, 1), (1, 1), (0, 0, 0, 0))
    np.testing.assert_allclose(dx.numpy(), 2 * rx, rtol=1e-10)
    np.testing.assert_allclose(dw.numpy(), 2 * rw, rtol=1e-10)


def test_separable_conv2d(where, rng):
    x = rng.standard_normal((2, 7, 6, 3)).astype(F32)
    dwf = rng.standard_normal((3, 3, 3, 2)).astype(F32)
    pwf = rng.standard_normal((1, 1, 6, 4)).astype(F32)
    st, dl = (1, 1), (2, 2)
    pads = pads_of(7, 6, 3, 3, st, dl, "SAME")
    mid = ref_depthwise(x, dwf, st, dl, pads)
    y_ref = np.einsum("nhwc,cf->nhwf", mid, pwf[0, 0].astype(F64))
    dy = rng.standard_normal(y_ref.shape).astype(F32)
    dmid = np.einsum("nhwf,cf->nhwc", dy, pwf[0, 0].astype(F64))
    dx_ref, ddw_ref = ref_depthwise_grads(x, dwf, dmid, st, dl, pads)
    dpw_ref = np.einsum("nhwc,nhwf->cf", mid, dy)[None, None]
    with tf.device(where):
        ts = [tf.constant(a) for a in (x, dwf, pwf)]
        with tf.GradientTape() as tape:
            tape.watch(ts)
            y = tf.nn.separable_conv2d(*ts, strides=[1, 1, 1, 1], padding="SAME",
                                       dilations=[2, 2])
            loss = tf.reduce_sum(y * tf.constant(dy))
        grads = tape.gradient(loss, ts)
    np.testing.assert_allclose(y.numpy(), y_ref, rtol=1e-4, atol=1e-4)
    for g, e in zip(grads, (dx_ref, ddw_ref, dpw_ref)):
        np.testing.assert_allclose(g.numpy(), e, rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------------------ errors
@pytest.mark.parametrize("args, match", [
    (((2, 5, 5, 3), (3, 3, 4, 1)), r"\[depthwise_conv2d\] input has 3 channels but filter "
                                   r"\(3, 3, 4, 1\) expects 4"),
    (((2, 5, 5), (3, 3, 3, 1)), r"\[depthwise_conv2d\] input must be 4-D .*\(2, 5, 5\)"),
    (((2, 5, 5, 3), (3, 3, 3)), r"\[depthwise_conv2d\] filter must be 4-D .*\(3, 3, 3\)"),
    (((1, 2, 2, 3), (3, 3, 3, 1)), r"\[depthwise_conv2d\] filter 3x3 .* larger than the padded "
                                   r"input 2x2 .*\(1, 2, 2, 3\)"),
])
def test_depthwise_bad_shapes(where, args, match):
    with tf.device(where):
        x, w = tf.zeros(args[0]), tf.zeros(args[1])
        with pytest.raises(ValueError, match=match):
            tf.nn.depthwise_conv2d(x, w, [1, 1, 1, 1], "VALID")


def test_depthwise_bad_arguments(where):
    with tf.device(where):
        x, w = tf.zeros((1, 4, 4, 2)), tf.zeros((2, 2, 2, 1))
        with pytest.raises(TypeError, match=r"\[depthwise_conv2d\] input and filter dtypes"):
            tf.nn.depthwise_conv2d(x, tf.zeros((2, 2, 2, 1), tf.float64), [1, 1, 1, 1], "SAME")
        with pytest.raises(ValueError, match=r"\[depthwise_conv2d\] padding must be"):
            tf.nn.depthwise_conv2d(x, w, [1, 1, 1, 1], "FULL")
        with pytest.raises(ValueError, match=r"\[depthwise_conv2d\] strides must be >= 1"):
            tf.nn.depthwise_conv2d(x, w, [1, 0, 1, 1], "SAME")
        with pytest.raises(ValueError, match=r"\[separable_conv2d\] pointwise_filter must have "
                                             r"shape \(1, 1, 2, F\)"):
            tf.nn.separable_conv2d(x, w, tf.zeros((1, 1, 3, 4)), [1, 1, 1, 1], "SAME")


def test_kernel_entry_checks_shapes():
    """The C++ binding validates before touching memory (the Python op is bypassed)."""
    x = np.zeros((1, 4, 4, 2), F32)
    with pytest.raises(ValueError, match=r"\[depthwise_conv2d\] input \(1, 4, 4, 2\) has 2 "
                                         r"channels but filter \(3, 3, 5, 1\) expects 5"):
        _C.depthwise_conv2d_forward(x, np.zeros((3, 3, 5, 1), F32), [1, 1], [1, 1], [0] * 4)
    with pytest.raises(ValueError, match=r"\[depthwise_conv2d\] grad_y \(1, 4, 4, 3\) does not "
                                         r"match the output shape \(1, 4, 4, 2\)"):
        _C.depthwise_conv2d_backward_data(np.zeros((1, 4, 4, 3), F32), np.zeros((3, 3, 2, 1), F32),
                                          [1, 4, 4, 2], [1, 1], [1, 1], [1, 1, 1, 1])
    with pytest.raises(TypeError, match=r"\[depthwise_conv2d\] .*float32 or float64"):
        _C.depthwise_conv2d_forward(x.astype(np.int32), np.zeros((1, 1, 2, 1), np.int32),
                                    [1, 1], [1, 1], [0] * 4)
    with pytest.raises(ValueError, match=r"\[depthwise_conv2d\] padding must be >= 0"):
        _C.depthwise_conv2d_backward_filter(np.zeros((1, 4, 4, 2), F32), x, [1, 1, 2, 1],
                                            [1, 1], [1, 1], [0, 0, -1, 0])


# ------------------------------------------------------------------------------ CUDA entries
@pytest.fixture(scope="module", params=["cuda", "emu"])
def backend(request):
    cb = _C.cuda_backend
    if request.param == "cuda":
        if not cb.is_available():
            pytest.skip("no CUDA GPU available (" + cb.unavailable_reason() + ")")
        return cb
    from nabi.framework import cuda_emulator
    return cuda_emulator


@pytest.mark.parametrize("case", [CASES[1], CASES[2], CASES[6], CASES[9],
                                  (2, 13, 12, 40, 3, 3, 1, (1, 1), (1, 1), "SAME")], ids=_ids)
def test_cuda_entries_match_cpu_and_reference(backend, case, rng):
    N, H, W, C, KH, KW, M, st, dl, padding = case
    pads = list(pads_of(H, W, KH, KW, st, dl, padding))
    x = rng.standard_normal((N, H, W, C)).astype(F32)
    w = rng.standard_normal((KH, KW, C, M)).astype(F32)
    y_cpu = _C.depthwise_conv2d_forward(x, w, st, dl, pads)
    dy = rng.standard_normal(y_cpu.shape).astype(F32)
    up = backend.DeviceBuffer.from_numpy
    y = backend.depthwise_conv2d_forward(up(x), up(w), st, dl, pads).numpy()
    dx = backend.depthwise_conv2d_backward_data(up(dy), up(w), x.shape, st, dl, pads).numpy()
    dw1 = backend.depthwise_conv2d_backward_filter(up(dy), up(x), w.shape, st, dl, pads).numpy()
    dw2 = backend.depthwise_conv2d_backward_filter(up(dy), up(x), w.shape, st, dl, pads).numpy()
    dx_ref, dw_ref = ref_depthwise_grads(x, w, dy, st, dl, pads)
    np.testing.assert_allclose(y, ref_depthwise(x, w, st, dl, pads), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(y, y_cpu, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dx, _C.depthwise_conv2d_backward_data(dy, w, x.shape, st, dl, pads),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dw1, dw_ref, rtol=1e-4, atol=1e-4)
    assert np.array_equal(dw1, dw2), "filter gradient is not deterministic"


def test_cuda_entries_check_shapes(backend):
    up = backend.DeviceBuffer.from_numpy
    with pytest.raises(ValueError, match=r"\[depthwise_conv2d\] input \(1, 4, 4, 2\) has 2 "
                                         r"channels but filter \(3, 3, 5, 1\) expects 5"):
        backend.depthwise_conv2d_forward(up(np.zeros((1, 4, 4, 2), F32)),
                                         up(np.zeros((3, 3, 5, 1), F32)), [1, 1], [1, 1], [0] * 4)


# ------------------------------------------------------------------------------ layers
def _layer_grads(where, layer, x, dy=None, seed=0):
    """(y, dx, [grads of the weights]) of sum(layer(x) * dy) on `where`."""
    with tf.device(where):
        xt = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            y = layer(xt)
            if dy is None:
                dy = np.random.default_rng(seed).standard_normal(y.shape).astype(x.dtype)
            loss = tf.reduce_sum(y * tf.constant(dy))
        grads = tape.gradient(loss, [xt] + list(layer.trainable_weights))
    return y.numpy(), dy, [g.numpy() for g in grads]


def _close(a, e, what):
    assert a.shape == e.shape, f"{what}: shape {a.shape} vs {e.shape}"
    np.testing.assert_allclose(a, e, rtol=2e-4, atol=2e-4, err_msg=what)


@pytest.mark.parametrize("fmt", ["channels_last", "channels_first"])
def test_depthwise_conv2d_layer(where, fmt, rng):
    x = rng.standard_normal((2, 7, 6, 3)).astype(F32)
    with tf.device(where):
        layer = L.DepthwiseConv2D((3, 2), strides=(2, 1), padding="same", depth_multiplier=2,
                                  activation="relu", bias_initializer="random_normal",
                                  data_format=fmt)
        xin = x.transpose(0, 3, 1, 2).copy() if fmt == "channels_first" else x
        y, dy, (dx, dk, db) = _layer_grads(where, layer, xin)
    assert [w.name.split("/")[-1].split(":")[0] for w in layer.weights] == \
        ["depthwise_kernel", "bias"]
    k, b = layer.depthwise_kernel.numpy(), layer.bias.numpy()
    assert k.shape == (3, 2, 3, 2) and b.shape == (6,)
    pads = pads_of(7, 6, 3, 2, (2, 1), (1, 1), "SAME")
    z = ref_depthwise(x, k, (2, 1), (1, 1), pads) + b
    dyl = dy.transpose(0, 2, 3, 1) if fmt == "channels_first" else dy
    gz = dyl * (z > 0)
    dx_ref, dk_ref = ref_depthwise_grads(x, k, gz, (2, 1), (1, 1), pads)
    y_ref = np.maximum(z, 0)
    if fmt == "channels_first":
        y_ref, dx_ref = y_ref.transpose(0, 3, 1, 2), dx_ref.transpose(0, 3, 1, 2)
    _close(y, y_ref, "y")
    _close(dx, dx_ref, "dx")
    _close(dk, dk_ref, "d depthwise_kernel")
    _close(db, gz.sum(axis=(0, 1, 2)), "d bias")


def test_separable_conv2d_layer(where, rng):
    x = rng.standard_normal((2, 8, 7, 3)).astype(F32)
    with tf.device(where):
        layer = L.SeparableConv2D(4, 3, strides=2, padding="valid", depth_multiplier=2,
                                  bias_initializer="ones")
        y, dy, (dx, dk, pk, db) = _layer_grads(where, layer, x)
    k, p, b = (w.numpy() for w in layer.weights)
    assert k.shape == (3, 3, 3, 2) and p.shape == (1, 1, 6, 4) and b.shape == (4,)
    mid = ref_depthwise(x, k, (2, 2), (1, 1), (0, 0, 0, 0))
    _close(y, mid @ p[0, 0] + b, "y")
    dx_ref, dk_ref = ref_depthwise_grads(x, k, dy @ p[0, 0].T, (2, 2), (1, 1), (0, 0, 0, 0))
    _close(dx, dx_ref, "dx")
    _close(dk, dk_ref, "d depthwise_kernel")
    _close(pk, np.einsum("nhwc,nhwf->cf", mid, dy)[None, None], "d pointwise_kernel")
    _close(db, dy.sum(axis=(0, 1, 2)), "d bias")


@pytest.mark.parametrize("padding", ["valid", "same", "causal"])
def test_depthwise_and_separable_conv1d_layers(where, padding, rng):
    x = rng.standard_normal((2, 9, 3)).astype(F32)
    k = 3
    if padding == "causal":
        pl = (0, 0, 2 * 2, 0)
    elif padding == "same":
        pl = (0, 0) + same_pads(9, k, 1, 2)
    else:
        pl = (0, 0, 0, 0)
    with tf.device(where):
        dwl = L.DepthwiseConv1D(k, padding=padding, dilation_rate=2, depth_multiplier=2,
                                bias_initializer="random_normal")
        y, dy, (dx, dk, db) = _layer_grads(where, dwl, x)
    kk, b = dwl.depthwise_kernel.numpy(), dwl.bias.numpy()
    assert kk.shape == (3, 3, 2)
    y_ref = ref_depthwise(x[:, None], kk[None], (1, 1), (1, 2), pl)[:, 0] + b
    dx_ref, dk_ref = ref_depthwise_grads(x[:, None], kk[None], dy[:, None], (1, 1), (1, 2), pl)
    _close(y, y_ref, "y")
    _close(dx, dx_ref[:, 0], "dx")
    _close(dk, dk_ref[0], "d depthwise_kernel")
    _close(db, dy.sum(axis=(0, 1)), "d bias")
    with tf.device(where):
        sep = L.SeparableConv1D(5, k, padding=padding, dilation_rate=2, use_bias=False)
        y2, dy2, (dx2, dk2, pk2) = _layer_grads(where, sep, x)
    kk, p = sep.depthwise_kernel.numpy(), sep.pointwise_kernel.numpy()
    assert kk.shape == (3, 3, 1) and p.shape == (1, 3, 5)
    mid = ref_depthwise(x[:, None], kk[None], (1, 1), (1, 2), pl)[:, 0]
    _close(y2, mid @ p[0], "separable y")
    dx_ref, dk_ref = ref_depthwise_grads(x[:, None], kk[None], (dy2 @ p[0].T)[:, None], (1, 1),
                                         (1, 2), pl)
    _close(dx2, dx_ref[:, 0], "separable dx")
    _close(dk2, dk_ref[0], "separable d depthwise_kernel")
    _close(pk2, np.einsum("nlc,nlf->cf", mid, dy2)[None], "separable d pointwise_kernel")


def _ref_grouped(x, k, g, st, pads):
    C, F = x.shape[3], k.shape[3]
    outs = [ref_conv2d(x[..., i * C // g:(i + 1) * C // g], k[..., i * F // g:(i + 1) * F // g],
                       st, (1, 1), pads) for i in range(g)]
    return np.concatenate(outs, axis=3)


@pytest.mark.parametrize("groups, filters", [(4, 8), (2, 6), (4, 4)])
def test_conv2d_groups(where, groups, filters, rng):
    x = rng.standard_normal((2, 6, 7, 4)).astype(F32)
    with tf.device(where):
        layer = L.Conv2D(filters, 3, strides=(1, 2), padding="same", groups=groups,
                         bias_initializer="random_normal")
        y, dy, (dx, dk, db) = _layer_grads(where, layer, x)
    k, b = layer.kernel.numpy(), layer.bias.numpy()
    assert k.shape == (3, 3, 4 // groups, filters)
    pads = pads_of(6, 7, 3, 3, (1, 2), (1, 1), "SAME")
    _close(y, _ref_grouped(x, k, groups, (1, 2), pads) + b, "y")
    # gradients by float64 differences of the reference (linear in x and k)
    f64 = dy.astype(F64)
    _close(dx, _fd(lambda a: np.sum(_ref_grouped(a, k, groups, (1, 2), pads) * f64), x), "dx")
    _close(dk, _fd(lambda a: np.sum(_ref_grouped(x, a, groups, (1, 2), pads) * f64), k), "dk")
    _close(db, dy.sum(axis=(0, 1, 2)), "d bias")


def test_conv1d_groups(where, rng):
    x = rng.standard_normal((2, 8, 6)).astype(F32)
    with tf.device(where):
        layer = L.Conv1D(6, 3, padding="causal", groups=3, use_bias=False)
        y = layer(tf.constant(x)).numpy()
    k = layer.kernel.numpy()
    assert k.shape == (3, 2, 6)
    _close(y, _ref_grouped(x[:, None], k[None], 3, (1, 1), (0, 0, 2, 0))[:, 0], "y")


@pytest.mark.parametrize("strides, padding, output_padding", [
    (2, "valid", None), (2, "same", None), (3, "valid", 1), (1, "same", None)])
def test_conv1d_transpose(where, strides, padding, output_padding, rng):
    x = rng.standard_normal((2, 5, 3)).astype(F32)
    with tf.device(where):
        layer = L.Conv1DTranspose(4, 3, strides=strides, padding=padding,
                                  output_padding=output_padding,
                                  bias_initializer="random_normal")
        y, dy, (dx, dk, db) = _layer_grads(where, layer, x)
    k, b = layer.kernel.numpy(), layer.bias.numpy()
    assert k.shape == (3, 4, 3)
    # Keras's output length, then the pad cut at the start (TF's SAME rule on the output)
    if output_padding is None:
        out_len = 5 * strides if padding == "same" else 5 * strides + max(3 - strides, 0)
    else:
        out_len = (5 - 1) * strides + 3 - 2 * (1 if padding == "same" else 0) + output_padding
    pad_left = same_pads(out_len, 3, strides, 1)[0] if padding == "same" else 0
    y_ref = ref_conv1d_transpose(x, k, strides, out_len, pad_left) + b
    _close(y, y_ref, "y")
    f64 = dy.astype(F64)
    _close(dx, _fd(lambda a: np.sum(ref_conv1d_transpose(a, k, strides, out_len, pad_left) * f64),
                   x), "dx")
    _close(dk, _fd(lambda a: np.sum(ref_conv1d_transpose(x, a, strides, out_len, pad_left) * f64),
                   k), "dk")
    _close(db, dy.sum(axis=(0, 1)), "d bias")


def test_layer_errors():
    with pytest.raises(ValueError, match=r"groups \(3\)"):
        L.Conv2D(4, 3, groups=3)
    with pytest.raises(ValueError, match=r"input channels \(6\) must be divisible by groups "
                                         r"\(4\); input shape \(1, 5, 5, 6\)"):
        L.Conv2D(8, 3, groups=4)(np.zeros((1, 5, 5, 6), F32))
    with pytest.raises(ValueError, match=r"depth_multiplier must be a positive integer"):
        L.DepthwiseConv2D(3, depth_multiplier=0)
    with pytest.raises(ValueError, match=r"padding must be one of"):
        L.DepthwiseConv2D(3, padding="causal")
    with pytest.raises(ValueError, match=r"groups != 1 is not supported by Conv2DTranspose"):
        L.Conv2DTranspose(4, 3, groups=2)
    with pytest.raises(ValueError, match=r"depthwise_conv2d.*expected input of rank 4"):
        L.DepthwiseConv2D(3)(np.zeros((2, 5, 3), F32))


# ------------------------------------------------------------------------------ config, saving
def _model():
    return tf.keras.Sequential([
        L.Input((8, 8, 4)),
        L.DepthwiseConv2D(3, padding="same", depth_multiplier=2, activation="relu"),
        L.SeparableConv2D(6, 3, strides=2, depthwise_initializer="he_normal"),
        L.Conv2D(6, 1, groups=3),
        L.Conv2D(6, 3, groups=6, padding="same"),
        L.Reshape((3 * 3, 6)),
        L.DepthwiseConv1D(2, padding="causal"),
        L.SeparableConv1D(4, 2),
        L.Conv1DTranspose(2, 3, strides=2),
        L.Flatten(),
        L.Dense(2),
    ])


def test_get_config_round_trip():
    for layer in _model().layers:
        cfg = layer.get_config()
        clone = type(layer).from_config(cfg)
        assert clone.get_config() == cfg
    cfg = L.DepthwiseConv2D(3).get_config()
    for key in ("depth_multiplier", "depthwise_initializer", "depthwise_regularizer",
                "depthwise_constraint"):
        assert key in cfg
    assert "filters" not in cfg and "kernel_initializer" not in cfg
    # Keras 2 configs of DepthwiseConv2D keep Conv's "groups": accepted
    assert L.DepthwiseConv2D.from_config(dict(cfg, groups=1)).depth_multiplier == 1


@pytest.mark.parametrize("ext", [".h5", ".keras"])
def test_save_load_round_trip(tmp_path, ext, rng):
    m = _model()
    x = rng.standard_normal((2, 8, 8, 4)).astype(F32)
    y = m.predict(x, verbose=0)
    path = str(tmp_path / ("m" + ext))
    m.save(path)
    m2 = tf.keras.models.load_model(path)
    assert [type(a).__name__ for a in m2.layers] == [type(a).__name__ for a in m.layers]
    for a, b in zip(m.weights, m2.weights):
        assert a.shape == b.shape
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_allclose(m2.predict(x, verbose=0), y, rtol=1e-6, atol=1e-6)


def test_tiny_model_trains(where, rng):
    """A few SGD steps of a MobileNet-style block lower the loss on a fixed batch."""
    x = rng.standard_normal((8, 6, 6, 3)).astype(F32)
    t = rng.standard_normal((8, 2)).astype(F32)
    tf.keras.utils.set_random_seed(0)
    with tf.device(where):
        m = tf.keras.Sequential([L.Input((6, 6, 3)), L.DepthwiseConv2D(3, padding="same"),
                                 L.SeparableConv2D(4, 3, activation="relu"),
                                 L.GlobalAveragePooling2D(), L.Dense(2)])
        m.compile(optimizer=tf.keras.optimizers.SGD(0.05), loss="mse")
        h = m.fit(x, t, epochs=5, batch_size=8, verbose=0)
    losses = h.history["loss"]
    assert losses[-1] < losses[0]


DW_ENTRIES = ["depthwise_conv2d_forward", "depthwise_conv2d_backward_data",
              "depthwise_conv2d_backward_filter"]


def test_cuda_entries_registered():
    cb = _C.cuda_backend
    for name in DW_ENTRIES:
        assert list(cb.KERNEL_ENTRIES).count(name) == 1, name
        if not cb.built_with_cuda:
            with pytest.raises(RuntimeError, match=r"^\[" + name + r"\] has no CUDA "
                               r"implementation.*built without CUDA"):
                getattr(cb, name)(None, None)
