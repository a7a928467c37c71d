"""Winograd convolution on the CPU (csrc/cpu/conv2d_winograd*.cpp: F(2x2, 3x3) forward and
backward-data, F(3x3, 2x2) filter gradient) against a float64 NumPy reference written here (a
loop over the 9 taps, one einsum each).

Every 3x3 stride-1 float32 conv runs with NABI_CONV_WINOGRAD forced on ("1": the Winograd
kernels) and off ("0": the direct kernels), set in-process (the C++ side reads the variable on
each call), for every CPU ISA (the `isa` fixture forces portable / avx2 / avx512 in-process; the
Winograd kernels follow it). Shapes: 'same' / 'valid' / explicit pads (asymmetric, larger than
the filter), odd and even H / W (partial 2x2 tiles at the borders), H or W < 3, C and CO not
multiples of 16, batch 1 and > 1; forward with bias and ReLU, backward-data and the filter /
bias gradients with and without a fused ReLU's mask, a stride-1 Conv2DTranspose's forward
(bias + ReLU over dx), the full layer gradients through tf.nn.conv2d / keras Conv2D under a
GradientTape, a > 16 MiB input, and non-contiguous / misaligned inputs.

    PYTHONPATH=python python3 -m pytest -q -p no:randomly tests/test_conv_winograd.py
"""
import numpy as np
import pytest

import nabi as tf
from nabi import _C

from helpers import isa  # noqa: F401  (the per-ISA fixture)

rng = np.random.default_rng(131)
TOL = dict(rtol=1e-4, atol=2e-4)
S1 = (1, 1)


def data(shape):
    return rng.standard_normal(shape).astype(np.float32)


# ---- float64 references: x NHWC, w HWIO (3, 3, C, CO), pads (top, bottom, left, right) ----
def ref_conv(x, w, pads):
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    t, b, l, r = pads
    xp = np.pad(x, ((0, 0), (t, b), (l, r), (0, 0)))
    OH, OW = xp.shape[1] - 2, xp.shape[2] - 2
    y = np.zeros((x.shape[0], OH, OW, w.shape[3]))
    for i in range(3):
        for j in range(3):
            y += np.einsum("nhwc,co->nhwo", xp[:, i:i + OH, j:j + OW], w[i, j])
    return y


def ref_dx(g, w, xshape, pads):
    g, w = np.asarray(g, np.float64), np.asarray(w, np.float64)
    N, H, W, C = xshape
    t, b, l, r = pads
    OH, OW = g.shape[1], g.shape[2]
    dxp = np.zeros((N, H + t + b, W + l + r, C))
    for i in range(3):
        for j in range(3):
            dxp[:, i:i + OH, j:j + OW] += np.einsum("nhwo,co->nhwc", g, w[i, j])
    return dxp[:, t:t + H, l:l + W]


def ref_dw(x, g, pads):
    x, g = np.asarray(x, np.float64), np.asarray(g, np.float64)
    t, b, l, r = pads
    xp = np.pad(x, ((0, 0), (t, b), (l, r), (0, 0)))
    OH, OW = g.shape[1], g.shape[2]
    return np.stack([np.stack([np.einsum("nhwc,nhwo->co", xp[:, i:i + OH, j:j + OW], g)
                               for j in range(3)]) for i in range(3)])


@pytest.fixture(params=["1", "0"], ids=["winograd", "direct"])
def mode(request, monkeypatch):
    monkeypatch.setenv("NABI_CONV_WINOGRAD", request.param)
    return request.param


# (N, H, W, C, CO, pads)
CASES = [
    (2, 14, 14, 32, 64, (1, 1, 1, 1)),    # the MNIST CNN's second conv, 'same'
    (1, 7, 9, 17, 23, (1, 1, 1, 1)),      # odd H and W: partial tiles; C, CO not % 16
    (3, 8, 6, 16, 16, (0, 0, 0, 0)),      # 'valid', even
    (2, 9, 10, 5, 40, (0, 0, 0, 0)),      # 'valid': 7 x 8 outputs
    (1, 2, 5, 19, 33, (1, 1, 1, 1)),      # H < 3 with padding
    (2, 1, 1, 8, 12, (1, 1, 1, 1)),       # 1 x 1 image
    (1, 6, 7, 24, 20, (2, 0, 1, 3)),      # explicit, asymmetric
    (2, 5, 4, 12, 9, (3, 3, 3, 3)),       # pads past the filter: outputs all padding
    (1, 6, 6, 64, 64, (0, 0, 0, 0)),      # the CIFAR CNN's 6x6 -> 4x4
    (2, 9, 9, 1, 32, (1, 1, 1, 1)),       # one input channel
    (1, 11, 5, 3, 2, (0, 2, 2, 0)),       # few channels, one-sided pads
]


@pytest.mark.parametrize("case", CASES)
def test_winograd_forward(case, isa, mode):  # noqa: F811
    N, H, W, C, CO, pads = case
    x, w, b = data((N, H, W, C)), data((3, 3, C, CO)), data((CO,))
    ref = ref_conv(x, w, pads)
    y = _C.conv2d_forward(x, w, None, S1, S1, pads, False)
    assert y.shape == ref.shape and y.dtype == np.float32
    np.testing.assert_allclose(y, ref, **TOL)
    y = _C.conv2d_forward(x, w, b, S1, S1, pads, True)
    np.testing.assert_allclose(y, np.maximum(ref + b, 0), **TOL)


@pytest.mark.parametrize("case", CASES)
def test_winograd_backward_data(case, isa, mode):  # noqa: F811
    N, H, W, C, CO, pads = case
    x, w, b = data((N, H, W, C)), data((3, 3, C, CO)), data((CO,))
    y = _C.conv2d_forward(x, w, b, S1, S1, pads, True)
    g = data(y.shape)
    for masked in (False, True):
        dx, dw, db = _C.conv2d_backward(g, x, w, y if masked else None, S1, S1, pads, True,
                                        False, False)
        assert dw is None and db is None
        gm = g * (y > 0) if masked else g
        ref = ref_dx(gm, w, x.shape, pads)
        assert dx.shape == x.shape and dx.dtype == np.float32
        np.testing.assert_allclose(dx, ref, **TOL)
    # all three gradients at once (dx by Winograd, dw / db by the direct kernels)
    dx, dw, db = _C.conv2d_backward(g, x, w, y, S1, S1, pads, True, True, True)
    gm = g * (y > 0)
    np.testing.assert_allclose(dx, ref_dx(gm, w, x.shape, pads), **TOL)
    np.testing.assert_allclose(dw, ref_dw(x, gm, pads), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(db, gm.sum(axis=(0, 1, 2)), rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("case", CASES)
def test_winograd_backward_filter(case, isa, mode):  # noqa: F811
    """dw and db without dx (F(3x3, 2x2) over the forward's 2x2 output blocks), with and
    without a fused ReLU's mask; dw alone."""
    N, H, W, C, CO, pads = case
    x, w, b = data((N, H, W, C)), data((3, 3, C, CO)), data((CO,))
    y = _C.conv2d_forward(x, w, b, S1, S1, pads, True)
    g = data(y.shape)
    for masked in (False, True):
        dx, dw, db = _C.conv2d_backward(g, x, w, y if masked else None, S1, S1, pads, False,
                                        True, True)
        assert dx is None and dw.shape == w.shape and dw.dtype == np.float32
        gm = g * (y > 0) if masked else g
        np.testing.assert_allclose(dw, ref_dw(x, gm, pads), rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(db, gm.sum(axis=(0, 1, 2)), rtol=1e-4, atol=1e-3)
    _, dw, db = _C.conv2d_backward(g, x, w, None, S1, S1, pads, False, True, False)
    assert db is None
    np.testing.assert_allclose(dw, ref_dw(x, g, pads), rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("case", CASES[:8])
def test_winograd_conv_transpose_forward(case, isa, mode):  # noqa: F811
    """conv2d_backward_data (a stride-1 3x3 Conv2DTranspose's forward): bias over dx's
    channels, then ReLU."""
    N, H, W, C, CO, pads = case
    w, bx = data((3, 3, C, CO)), data((C,))
    OH, OW = H + pads[0] + pads[1] - 2, W + pads[2] + pads[3] - 2
    g = data((N, OH, OW, CO))
    ref = ref_dx(g, w, (N, H, W, C), pads)
    dx = _C.conv2d_backward_data(g, w, None, (N, H, W, C), S1, S1, pads, False)
    np.testing.assert_allclose(dx, ref, **TOL)
    dx = _C.conv2d_backward_data(g, w, bx, (N, H, W, C), S1, S1, pads, True)
    np.testing.assert_allclose(dx, np.maximum(ref + bx, 0), **TOL)


@pytest.mark.parametrize("padding", ["SAME", "VALID", [[0, 0], [2, 1], [0, 3], [0, 0]]])
@pytest.mark.parametrize("shape", [(2, 9, 8, 20, 24), (1, 4, 7, 16, 17)])
def test_winograd_op_gradients(shape, padding, isa, mode):  # noqa: F811
    """tf.nn.conv2d + bias + ReLU under a GradientTape: y, dx, dw, db."""
    N, H, W, C, CO = shape
    pads = ({"SAME": (1, 1, 1, 1), "VALID": (0, 0, 0, 0)}[padding] if isinstance(padding, str)
            else (padding[1][0], padding[1][1], padding[2][0], padding[2][1]))
    x, w, b = data((N, H, W, C)), data((3, 3, C, CO)), data((CO,))
    z = ref_conv(x, w, pads) + b
    g = data(z.shape)
    xv, wv, bv = tf.Variable(x), tf.Variable(w), tf.Variable(b)
    with tf.GradientTape() as tape:
        y = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(xv, wv, 1, padding), bv))
    dx, dw, db = tape.gradient(y, [xv, wv, bv], output_gradients=g)
    np.testing.assert_allclose(y.numpy(), np.maximum(z, 0), **TOL)
    gm = g * (z > 0)
    np.testing.assert_allclose(dx.numpy(), ref_dx(gm, w, x.shape, pads), **TOL)
    np.testing.assert_allclose(dw.numpy(), ref_dw(x, gm, pads), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(db.numpy(), gm.sum(axis=(0, 1, 2)), rtol=1e-4, atol=1e-3)


def test_winograd_keras_conv2d_layer(mode):
    """keras Conv2D(relu, 'same') inside a small model: forward and every gradient."""
    x = data((3, 10, 11, 18))
    layer = tf.keras.layers.Conv2D(20, 3, padding="same", activation="relu")
    layer.build(x.shape)
    k, bias = data((3, 3, 18, 20)), data((20,)) * 0.5
    layer.set_weights([k, bias])
    xv = tf.Variable(x)
    g = data((3, 10, 11, 20))
    with tf.GradientTape() as tape:
        y = layer(xv)
    dx, dk, dbias = tape.gradient(y, [xv] + layer.trainable_variables, output_gradients=g)
    z = ref_conv(x, k, (1, 1, 1, 1)) + bias
    np.testing.assert_allclose(y.numpy(), np.maximum(z, 0), **TOL)
    gm = g * (z > 0)
    np.testing.assert_allclose(dx.numpy(), ref_dx(gm, k, x.shape, (1, 1, 1, 1)), **TOL)
    np.testing.assert_allclose(dk.numpy(), ref_dw(x, gm, (1, 1, 1, 1)), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(dbias.numpy(), gm.sum(axis=(0, 1, 2)), rtol=1e-4, atol=1e-3)


def test_winograd_large_input(mode):
    """A > 16 MiB input (many tile blocks per thread) and a 130-channel tail; dw sums 33k
    pixels (its atol scales with that)."""
    x, w, b = data((2, 130, 128, 130)), data((3, 3, 130, 16)), data((16,))
    assert x.nbytes > 16 * 2**20
    y = _C.conv2d_forward(x, w, b, S1, S1, (1, 1, 1, 1), False)
    np.testing.assert_allclose(y, ref_conv(x, w, (1, 1, 1, 1)) + b, **TOL)
    g = data(y.shape)
    dx, dw, db = _C.conv2d_backward(g, x, w, None, S1, S1, (1, 1, 1, 1), True, True, True)
    np.testing.assert_allclose(dx, ref_dx(g, w, x.shape, (1, 1, 1, 1)), **TOL)
    np.testing.assert_allclose(dw, ref_dw(x, g, (1, 1, 1, 1)), rtol=1e-4, atol=2e-2)
    np.testing.assert_allclose(db, g.sum(axis=(0, 1, 2)), rtol=1e-4, atol=1e-2)


def test_winograd_misaligned_and_strided_inputs(isa, mode):  # noqa: F811
    """Inputs that are numpy slices: non-contiguous, and contiguous but 4 bytes off any
    vector alignment."""
    base = data((2, 9, 10, 24 + 5))
    x = base[..., 5:]                                   # non-contiguous view
    raw = np.empty(x.size + 1, np.float32)
    xm = raw[1:].reshape(x.shape)                       # contiguous, misaligned by 4 bytes
    xm[...] = x
    assert xm.ctypes.data % 64 != 0
    wraw = np.empty(3 * 3 * 24 * 20 + 3, np.float32)
    w = wraw[3:].reshape(3, 3, 24, 20)
    w[...] = data((3, 3, 24, 20))
    ref = ref_conv(x, w, (1, 1, 1, 1))
    np.testing.assert_allclose(_C.conv2d_forward(xm, w, None, S1, S1, (1, 1, 1, 1), False),
                               ref, **TOL)
    for xi in (x, xm):  # the op copies a non-contiguous input (the kernel entry wants C order)
        np.testing.assert_allclose(tf.nn.conv2d(tf.constant(xi), tf.constant(w), 1,
                                                "SAME").numpy(), ref, **TOL)
    g = data(ref.shape)
    graw = np.empty(g.size + 1, np.float32)
    gm = graw[1:].reshape(g.shape)
    gm[...] = g
    dx, _, _ = _C.conv2d_backward(gm, xm, w, None, S1, S1, (1, 1, 1, 1), True, False, False)
    np.testing.assert_allclose(dx, ref_dx(g, w, x.shape, (1, 1, 1, 1)), **TOL)


@pytest.mark.parametrize("case", [(4, 14, 14, 32, 64, 1), (2, 16, 16, 64, 64, 0),
                                  (3, 6, 6, 64, 64, 0), (2, 12, 12, 32, 32, 0)])
def test_winograd_auto_mode(case, monkeypatch):
    """The default (auto) choice gives the reference results on the benchmarks' shapes."""
    monkeypatch.delenv("NABI_CONV_WINOGRAD", raising=False)
    N, H, W, C, CO, p = case
    pads = (p, p, p, p)
    x, w, b = data((N, H, W, C)), data((3, 3, C, CO)), data((CO,))
    y = _C.conv2d_forward(x, w, b, S1, S1, pads, True)
    z = ref_conv(x, w, pads) + b
    np.testing.assert_allclose(y, np.maximum(z, 0), **TOL)
    g = data(y.shape)
    dx, _, _ = _C.conv2d_backward(g, x, w, y, S1, S1, pads, True, False, False)
    np.testing.assert_allclose(dx, ref_dx(g * (z > 0), w, x.shape, pads), **TOL)


def test_winograd_switch_is_read_per_call(monkeypatch):
    """NABI_CONV_WINOGRAD changes the path between calls (the results differ in rounding
    only); a float64 or a strided conv ignores it."""
    x, w = data((2, 8, 8, 16)), data((3, 3, 16, 16))
    outs = []
    for m in ("0", "1"):
        monkeypatch.setenv("NABI_CONV_WINOGRAD", m)
        outs.append(_C.conv2d_forward(x, w, None, S1, S1, (1, 1, 1, 1), False))
    assert not np.array_equal(outs[0], outs[1])  # two different algorithms ran
    np.testing.assert_allclose(outs[0], outs[1], **TOL)
    monkeypatch.setenv("NABI_CONV_WINOGRAD", "1")
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    np.testing.assert_allclose(_C.conv2d_forward(x64, w64, None, S1, S1, (1, 1, 1, 1), False),
                               ref_conv(x, w, (1, 1, 1, 1)), rtol=1e-12, atol=1e-12)
    y2 = _C.conv2d_forward(x, w, None, (2, 2), S1, (1, 1, 1, 1), False)
    np.testing.assert_allclose(y2, ref_conv(x, w, (1, 1, 1, 1))[:, ::2, ::2], **TOL)
