"""Winograd F(3x3, 2x2) over the sub-pixel phases of a stride-2 4x4 transposed convolution
(csrc/cpu/conv2d_winograd_phase*.cpp: the backward-data of a stride-2 4x4 conv, i.e. the
forward of Conv2DTranspose(k, 4, strides=2), as in the DCGAN generator, and the forward of that
conv, i.e. the transposed conv's input gradient) against a float64
NumPy reference written here (one einsum per filter tap).

Every case runs with NABI_CONV_WINOGRAD forced on ("1") and off ("0": the direct kernels),
set in-process (read on each call), for every CPU ISA (the `isa` fixture). Shapes: 'SAME' /
'VALID' / explicit (asymmetric, larger than needed) padding, output sizes with output_padding
(odd output: the two phases of an axis of unequal size), 1-pixel inputs, channel counts that
are not multiples of 16 (vector and register-tile tails), few channels (forced on only), and
kernel 2 (no 2x2 phase sub-filters: never this path). Checked: the op's forward and its
three gradients under a GradientTape, Keras Conv2DTranspose with a fused bias + ReLU, and a
stride-2 4x4 conv's forward (the same F(3x3, 2x2) over its four tap-parity sub-images) with a
fused bias + ReLU, its dx (the ReLU output masks dy inside the kernel) and its dw / db.

    PYTHONPATH=python python3 -m pytest -q -p no:randomly tests/test_conv_winograd_phase.py
"""
import numpy as np
import pytest

import nabi as tf
from nabi import _C

from helpers import isa  # noqa: F401  (the per-ISA fixture)

rng = np.random.default_rng(134)
S1 = (1, 1)


def data(shape):
    return rng.standard_normal(shape).astype(np.float32)


def check(got, ref, what):
    got = np.asarray(got)
    assert got.shape == ref.shape, f"{what}: shape {got.shape} vs {ref.shape}"
    scale = max(1.0, float(np.abs(ref).max()))
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4 * scale, err_msg=what)


@pytest.fixture(params=["1", "0"], ids=["winograd", "direct"])
def mode(request, monkeypatch):
    monkeypatch.setenv("NABI_CONV_WINOGRAD", request.param)
    return request.param


def same_pads(n, k, s):
    total = max((-(-n // s) - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def ref_transpose(u, w, out_hw, pads, s=2):
    """y (N, OH, OW, CO) of the transposed conv: y[s h - pt + i, s x - pl + j] += u[h, x] w[i, j]^T,
    u (N, H, W, CI), w (KH, KW, CO, CI); returned with the padded buffer's crop offsets."""
    u, w = u.astype(np.float64), w.astype(np.float64)
    N, H, W, _ = u.shape
    KH, KW, CO, _ = w.shape
    pt, _, pl, _ = pads
    OH, OW = out_hw
    PH = max(s * (H - 1) + KH, pt + OH)
    PW = max(s * (W - 1) + KW, pl + OW)
    yp = np.zeros((N, PH, PW, CO))
    for i in range(KH):
        for j in range(KW):
            yp[:, i:i + s * H:s, j:j + s * W:s] += np.einsum("nhwc,oc->nhwo", u, w[i, j])
    return yp[:, pt:pt + OH, pl:pl + OW]


def ref_transpose_grads(u, w, g, pads, s=2):
    """du, dw of sum(y * g) for ref_transpose's y."""
    u, w, g = u.astype(np.float64), w.astype(np.float64), g.astype(np.float64)
    N, H, W, _ = u.shape
    KH, KW = w.shape[:2]
    pt, _, pl, _ = pads
    OH, OW = g.shape[1:3]
    PH = max(s * (H - 1) + KH, pt + OH)
    PW = max(s * (W - 1) + KW, pl + OW)
    gp = np.zeros((N, PH, PW, g.shape[3]))
    gp[:, pt:pt + OH, pl:pl + OW] = g
    du, dw = np.zeros_like(u), np.zeros_like(w)
    for i in range(KH):
        for j in range(KW):
            gs = gp[:, i:i + s * H:s, j:j + s * W:s]
            du += np.einsum("nhwo,oc->nhwc", gs, w[i, j])
            dw[i, j] = np.einsum("nhwo,nhwc->oc", gs, u)
    return du, dw


def conv_out(n, k, s, p0, p1):
    return (n + p0 + p1 - k) // s + 1


# (N, OH, OW, CO (dx channels), CI (dy channels), K, padding)
CASES = [
    (2, 14, 14, 40, 24, 4, "SAME"),             # the GAN layer, smaller; CO 32 + 8
    (1, 9, 11, 20, 17, 4, "SAME"),              # odd outputs: phases of unequal size
    (2, 12, 10, 33, 16, 4, "VALID"),            # 'valid' (other phase offsets)
    (1, 13, 11, 16, 48, 4, "VALID"),            # output_padding 1 (odd, 'valid')
    (1, 12, 11, 20, 16, 4, (1, 2, 0, 1)),       # explicit, asymmetric
    (1, 6, 8, 16, 20, 4, (3, 3, 2, 2)),         # padding larger than the kernel needs
    (1, 2, 3, 24, 16, 4, "SAME"),               # 1x2 input
    (3, 8, 7, 64, 32, 4, "SAME"),               # two full AVX-512 panels, 3 images
    (2, 8, 10, 16, 16, 2, "SAME"),              # kernel 2: 1x1 phase filters (direct path)
    (1, 9, 7, 24, 16, 2, "VALID"),              # kernel 2, output_padding
]


def pads_of(case):
    N, OH, OW, CO, CI, K, padding = case
    if padding == "SAME":
        return same_pads(OH, K, 2) + same_pads(OW, K, 2), "SAME"
    if padding == "VALID":
        return (0, 0, 0, 0), "VALID"
    p = padding
    return p, [[0, 0], [p[0], p[1]], [p[2], p[3]], [0, 0]]


def run_op_case(case):
    N, OH, OW, CO, CI, K, _ = case
    pads, op_pad = pads_of(case)
    H, W = conv_out(OH, K, 2, pads[0], pads[1]), conv_out(OW, K, 2, pads[2], pads[3])
    u, w, g = data((N, H, W, CI)), data((K, K, CO, CI)), data((N, OH, OW, CO))
    uv, wv = tf.Variable(u), tf.Variable(w)
    with tf.GradientTape() as tape:
        y = tf.nn.conv2d_transpose(uv, wv, [N, OH, OW, CO], 2, op_pad)
    du, dw = tape.gradient(y, [uv, wv], output_gradients=g)
    rdu, rdw = ref_transpose_grads(u, w, g, pads)
    check(y.numpy(), ref_transpose(u, w, (OH, OW), pads), f"y {case}")
    check(du.numpy(), rdu, f"du {case}")
    check(dw.numpy(), rdw, f"dw {case}")


@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c[1:6])) + f"_{c[6]}")
def test_phase_conv_transpose_and_gradients(case, isa, mode):  # noqa: F811
    run_op_case(case)


@pytest.mark.parametrize("case", [(2, 10, 10, 5, 3, 4, "SAME"), (1, 7, 9, 8, 2, 4, "VALID")])
def test_phase_few_channels(case, isa, mode):  # noqa: F811
    """Channels far below one vector (the auto rule leaves these to the direct kernels)."""
    run_op_case(case)


@pytest.mark.parametrize("case", [(20, "same", None, (7, 7), 24), (33, "valid", 1, (5, 4), 16),
                                  (16, "same", 1, (4, 5), 20)])
def test_phase_keras_conv2d_transpose_bias_relu(case, isa, mode):  # noqa: F811
    """Conv2DTranspose(filters, 4, 2, activation='relu'): bias + ReLU fused into the kernel."""
    filters, padding, output_padding, in_hw, ci = case
    layer = tf.keras.layers.Conv2DTranspose(filters, 4, 2, padding, output_padding=output_padding,
                                            activation="relu")
    x = data((2,) + in_hw + (ci,))
    layer.build(x.shape)
    b = data((filters,))
    layer.bias.assign(b)
    xv = tf.Variable(x)
    with tf.GradientTape() as tape:
        y = layer(xv)
    OH, OW = y.shape[1:3]
    if padding == "same":
        pads = same_pads(OH, 4, 2) + same_pads(OW, 4, 2)
    else:
        pads = (0, 0, 0, 0)
    assert (conv_out(OH, 4, 2, *pads[:2]), conv_out(OW, 4, 2, *pads[2:])) == in_hw
    g = data(y.shape)
    dx, dw, db = tape.gradient(y, [xv, layer.kernel, layer.bias], output_gradients=g)
    w = layer.kernel.numpy()
    z = ref_transpose(x, w, (OH, OW), pads) + b
    gm = g * (z > 0)
    rdx, rdw = ref_transpose_grads(x, w, gm, pads)
    what = f"Conv2DTranspose{case}"
    check(y.numpy(), np.maximum(z, 0), "y " + what)
    check(dx.numpy(), rdx, "dx " + what)
    check(dw.numpy(), rdw, "dW " + what)
    check(db.numpy(), gm.sum(axis=(0, 1, 2)), "db " + what)


@pytest.mark.parametrize("case", [(2, 14, 14, 24, 40, (1, 1, 1, 1)),
                                  (1, 11, 9, 16, 20, (0, 0, 0, 0)),
                                  (2, 9, 10, 17, 33, (2, 1, 1, 2)),
                                  (2, 15, 13, 40, 24, (1, 2, 1, 2)),
                                  (1, 4, 5, 5, 3, (1, 1, 1, 1)),
                                  (1, 6, 7, 16, 16, (0, 0, 0, 0))])
def test_phase_conv2d_forward_and_gradients(case, isa, mode):  # noqa: F811
    """A stride-2 4x4 conv with a fused bias + ReLU (forward: the four tap-parity sub-images'
    2x2 convs, one F(3x3, 2x2) GEMM), its dx (the forward's output masks dy) and its dw / db
    (F(2x2, 3x3) per tap-parity pair), with and without the mask."""
    N, H, W, C, CO, pads = case
    x, w, b = data((N, H, W, C)), data((4, 4, C, CO)), data((CO,))
    y = _C.conv2d_forward(x, w, b, (2, 2), S1, pads, True)
    OH, OW = y.shape[1:3]
    g = data(y.shape)
    dx, _, _ = _C.conv2d_backward(g, x, w, y, (2, 2), S1, pads, True, False, False)
    ref_y = np.zeros((N, OH, OW, CO))
    xp = np.pad(x.astype(np.float64), ((0, 0), (pads[0], pads[1] + 4), (pads[2], pads[3] + 4),
                                        (0, 0)))
    for i in range(4):
        for j in range(4):
            ref_y += np.einsum("nhwc,co->nhwo", xp[:, i:i + 2 * OH:2, j:j + 2 * OW:2],
                               w[i, j].astype(np.float64))
    ref_y += b
    check(y, np.maximum(ref_y, 0), f"y {case}")
    # dx: the transposed conv (CO -> C) of the masked dy, w (4, 4, C, CO) read as its filter
    gm = g * (ref_y > 0)
    check(dx, ref_transpose(gm, w, (H, W), pads), f"dx {case}")
    # dw, db with and without the mask (dw: ref_transpose_grads with the roles of x and dy
    # swapped: the transposed conv of dy gives x's shape), then dw alone
    for masked in (False, True):
        gg = gm if masked else g
        _, dw, db = _C.conv2d_backward(g, x, w, y if masked else None, (2, 2), S1, pads, False,
                                       True, True)
        _, rdw = ref_transpose_grads(gg, w, x, pads)
        check(dw, rdw, f"dw {case} masked={masked}")
        check(db, gg.sum(axis=(0, 1, 2)).astype(np.float64), f"db {case} masked={masked}")
    _, dw, db = _C.conv2d_backward(g, x, w, None, (2, 2), S1, pads, False, True, False)
    assert db is None
    check(dw, ref_transpose_grads(g, w, x, pads)[1], f"dw alone {case}")


def test_phase_switch_is_read_per_call(monkeypatch):
    """NABI_CONV_WINOGRAD=0 / 1 switch the path between calls (the results differ in rounding
    only); the default picks the same results on the GAN's shape, fewer images. On the CPU
    (the switch is the CPU kernels'; the GPU passes of the suite place ops on the GPU)."""
    u, w = data((2, 7, 7, 32)), data((4, 4, 32, 32))
    outs = []
    for m in ("0", "1", None):
        if m is None:
            monkeypatch.delenv("NABI_CONV_WINOGRAD", raising=False)
        else:
            monkeypatch.setenv("NABI_CONV_WINOGRAD", m)
        with tf.device("/CPU:0"):
            outs.append(tf.nn.conv2d_transpose(u, w, [2, 14, 14, 32], 2, "SAME").numpy())
    assert not np.array_equal(outs[0], outs[1])  # two different algorithms ran
    ref = ref_transpose(u, w, (14, 14), same_pads(14, 4, 2) * 2)
    for o in outs:
        check(o, ref, "switch")
