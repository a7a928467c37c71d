"""Transposed convolution (conv2d_transpose: conv2d's backward-data kernel run as a forward)
and both of its gradients against a float64 NumPy loop reference written here.

The CPU kernel splits a strided transposed convolution into its sub-pixel phases (one dense
stride-1 convolution per (row, column) remainder, csrc/cpu/conv2d.cpp
ig_backward_data_strided); on AVX-512 the tiles of each phase skip the taps that fall in
dy's zero padding, all phases read one padded copy of each image, and the tiles of a phase
run group by group inside each (panel, K chunk) pass (conv2d_avx512.cpp group_tiles). The
cases cover strides 1, 2, 3 (and unequal), kernels 1..5 (kernels smaller than the stride
leave phases no tap reaches), 'SAME' / 'VALID' / explicit padding, odd sizes, output sizes
that are not a multiple of the stride (Keras's output_padding), dilation, channel counts with
16- and 32-lane tails, a fused bias + ReLU, and float64 (the im2col + GEMM path). The same
cases run again in subprocesses with NABI_CONV_ISA=avx2 (the 6 x 16 AVX2 tiles) and with
NABI_GEMM_ISA=portable as well (both switches are read once per process).
"""
import os
import subprocess
import sys

import numpy as np
import pytest

import nabi as tf
from nabi import keras

rng = np.random.default_rng(121)


def same_pads(n, k, s, d):
    """TF 'SAME' padding (before, after) of a convolution over n with a (k, dilation d) filter."""
    ek = (k - 1) * d + 1
    total = max((-(-n // s) - 1) * s + ek - n, 0)
    return total // 2, total - total // 2


def conv_out(n, k, s, d, p0, p1):
    return (n + p0 + p1 - ((k - 1) * d + 1)) // s + 1


def taps(u_shape, out_hw, w_shape, strides, dil, pads):
    """(input pixel, output pixel, tap) triples of the transposed convolution, by loops."""
    _, H, W, _ = u_shape
    OH, OW = out_hw
    KH, KW = w_shape[:2]
    for h in range(H):
        for x in range(W):
            for i in range(KH):
                oh = h * strides[0] - pads[0] + i * dil[0]
                if not 0 <= oh < OH:
                    continue
                for j in range(KW):
                    ow = x * strides[1] - pads[2] + j * dil[1]
                    if 0 <= ow < OW:
                        yield h, x, oh, ow, i, j


def reference(u, w, b, g, out_hw, strides, dil, pads, relu=False):
    """y = [relu](conv2d_transpose(u, w) + b) and the gradients of sum(y * g) for u, w, b;
    u (N, H, W, CI), w (KH, KW, CO, CI), float64 loops over pixels and taps."""
    u, w, g = u.astype(np.float64), w.astype(np.float64), g.astype(np.float64)
    N, CO = u.shape[0], w.shape[2]
    y = np.zeros((N,) + tuple(out_hw) + (CO,))
    tl = list(taps(u.shape, out_hw, w.shape, strides, dil, pads))
    for h, x, oh, ow, i, j in tl:
        y[:, oh, ow, :] += u[:, h, x, :] @ w[i, j].T
    if b is not None:
        y += b.astype(np.float64)
    if relu:
        g = g * (y > 0)
        y = np.maximum(y, 0)
    du, dw = np.zeros_like(u), np.zeros_like(w)
    for h, x, oh, ow, i, j in tl:
        du[:, h, x, :] += g[:, oh, ow, :] @ w[i, j]
        dw[i, j] += g[:, oh, ow, :].T @ u[:, h, x, :]
    return y, du, dw, g.sum(axis=(0, 1, 2))


def check_close(got, ref, what, dtype):
    got = np.asarray(got)
    assert got.shape == ref.shape, f"{what}: shape {got.shape} vs {ref.shape}"
    assert got.dtype == dtype, f"{what}: dtype {got.dtype}"
    tol = 1e-4 if dtype == np.float32 else 1e-10
    scale = max(1.0, float(np.abs(ref).max()))
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol * scale, err_msg=what)


# (N, OH, OW, CO, CI, KH, KW, strides, dilations, padding): the transposed convolution maps
# u (N, H, W, CI) to y (N, OH, OW, CO) with filters (KH, KW, CO, CI); H, W follow from the
# forward convolution of y's shape.
CASES = [
    (2, 14, 14, 40, 24, 4, 4, (2, 2), (1, 1), "SAME"),   # the GAN layer, smaller (CO 32 + 8)
    (1, 8, 8, 128, 16, 4, 4, (2, 2), (1, 1), "SAME"),    # four full 32-lane panels
    (2, 15, 13, 17, 9, 4, 4, (2, 2), (1, 1), "SAME"),    # odd sizes: phases of unequal size
    (1, 11, 9, 33, 8, 3, 3, (2, 2), (1, 1), "SAME"),     # CO 32 + 1
    (2, 9, 12, 16, 10, 5, 5, (2, 2), (1, 1), "SAME"),    # sub-filters 3x3, 3x2, 2x3, 2x2
    (1, 13, 13, 24, 12, 5, 3, (3, 3), (1, 1), "SAME"),   # stride 3, 9 phases
    (2, 10, 11, 12, 16, 2, 2, (3, 3), (1, 1), "SAME"),   # kernel < stride: untouched phases
    (1, 9, 7, 20, 8, 1, 1, (2, 2), (1, 1), "VALID"),     # 1x1 filter: 3 of 4 phases empty
    (2, 12, 12, 8, 24, 3, 3, (2, 3), (1, 1), "VALID"),   # unequal strides
    (2, 17, 15, 40, 20, 4, 4, (2, 2), (1, 1), "VALID"),  # output_padding (odd, stride 2)
    (1, 16, 14, 16, 8, 5, 4, (3, 2), (1, 1), "VALID"),   # output_padding 2 along rows
    (2, 10, 9, 32, 16, 4, 3, (2, 2), (1, 1), (1, 2, 0, 1)),   # explicit, asymmetric
    (1, 9, 10, 24, 12, 3, 3, (2, 2), (1, 1), (3, 3, 2, 2)),   # padding larger than needed
    (2, 7, 8, 16, 12, 3, 3, (1, 1), (1, 1), "SAME"),     # stride 1 (one phase)
    (1, 6, 6, 24, 16, 5, 5, (1, 1), (1, 1), "VALID"),    # stride 1, little padding
    (1, 12, 11, 16, 8, 3, 3, (1, 1), (2, 2), "SAME"),    # dilation 2
    (1, 13, 10, 12, 8, 2, 3, (2, 2), (2, 1), "VALID"),   # dilation with a stride
    (1, 3, 2, 24, 16, 4, 4, (2, 2), (1, 1), "SAME"),     # tiny image
    (3, 5, 5, 2, 3, 3, 3, (2, 2), (1, 1), "SAME"),       # few channels
]


def run_case(case, dtype=np.float32, relu=False):
    N, OH, OW, CO, CI, KH, KW, st, dl, padding = case
    if isinstance(padding, str) and padding == "SAME":
        pads = same_pads(OH, KH, st[0], dl[0]) + same_pads(OW, KW, st[1], dl[1])
        op_pad = "SAME"
    elif padding == "VALID":
        pads, op_pad = (0, 0, 0, 0), "VALID"
    else:
        pads = padding
        op_pad = [[0, 0], [pads[0], pads[1]], [pads[2], pads[3]], [0, 0]]
    H = conv_out(OH, KH, st[0], dl[0], pads[0], pads[1])
    W = conv_out(OW, KW, st[1], dl[1], pads[2], pads[3])
    u = rng.standard_normal((N, H, W, CI)).astype(dtype)
    w = rng.standard_normal((KH, KW, CO, CI)).astype(dtype)
    b = rng.standard_normal(CO).astype(dtype)
    g = rng.standard_normal((N, OH, OW, CO)).astype(dtype)
    uv, wv, bv = tf.Variable(u), tf.Variable(w), tf.Variable(b)
    with tf.GradientTape() as tape:
        y = tf.nn.conv2d_transpose(uv, wv, [N, OH, OW, CO], st, op_pad, dilations=dl)
        y = tf.nn.bias_add(y, bv)
        if relu:
            y = tf.nn.relu(y)
    du, dw, db = tape.gradient(y, [uv, wv, bv], output_gradients=g)
    ry, rdu, rdw, rdb = reference(u, w, b, g, (OH, OW), st, dl, pads, relu)
    what = f"{case} {np.dtype(dtype).name}{' relu' if relu else ''}"
    check_close(y.numpy(), ry, "y " + what, dtype)
    check_close(du.numpy(), rdu, "du " + what, dtype)
    check_close(dw.numpy(), rdw, "dW " + what, dtype)
    check_close(db.numpy(), rdb, "db " + what, dtype)


@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c[1:7])) + f"_s{c[7]}"
                         f"_d{c[8]}_{c[9]}")
def test_conv2d_transpose_and_gradients(case):
    run_case(case)


@pytest.mark.parametrize("case", [CASES[i] for i in (0, 2, 6, 9, 15)])
def test_conv2d_transpose_float64(case):
    run_case(case, np.float64)


def layer_case(filters, kernel, strides, padding, output_padding, in_hw, ci, dilation=1):
    """Keras Conv2DTranspose with a fused bias + ReLU (one kernel call) against the loops; the
    reference's padding is what the layer hands the op (TF 'SAME' of its output size, or none
    with 'valid' / output_padding)."""
    layer = keras.layers.Conv2DTranspose(filters, kernel, strides, padding,
                                         output_padding=output_padding, activation="relu",
                                         dilation_rate=dilation)
    x = rng.standard_normal((2,) + tuple(in_hw) + (ci,)).astype(np.float32)
    layer.build((None,) + tuple(in_hw) + (ci,))
    b = rng.standard_normal(filters).astype(np.float32)
    layer.bias.assign(b)
    xv = tf.Variable(x)
    with tf.GradientTape() as tape:
        y = layer(xv)
    OH, OW = y.shape[1:3]
    g = rng.standard_normal(y.shape).astype(np.float32)
    dx, dw, db = tape.gradient(y, [xv, layer.kernel, layer.bias], output_gradients=g)
    k, s = layer.kernel_size, layer.strides
    d = layer.dilation_rate
    if padding == "same":
        pads = same_pads(OH, k[0], s[0], d[0]) + same_pads(OW, k[1], s[1], d[1])
    else:
        pads = (0, 0, 0, 0)
    w = layer.kernel.numpy()
    ry, rdx, rdw, rdb = reference(x, w, b, g, (OH, OW), s, d, pads, relu=True)
    what = f"Conv2DTranspose({filters}, {kernel}, {strides}, {padding}, {output_padding})"
    check_close(y.numpy(), ry, "y " + what, np.float32)
    check_close(dx.numpy(), rdx, "dx " + what, np.float32)
    check_close(dw.numpy(), rdw, "dW " + what, np.float32)
    check_close(db.numpy(), rdb, "db " + what, np.float32)


LAYER_CASES = [
    (40, 4, 2, "same", None, (7, 7), 16),       # the GAN's generator layer, fewer channels
    (16, 3, 2, "valid", 1, (6, 5), 8),          # output_padding 1: the last row / column
    (24, 5, 3, "valid", (2, 1), (4, 5), 8),     # unequal output_padding, stride 3
    (32, 3, 2, "same", 1, (5, 6), 12),
    (16, 3, 1, "same", None, (6, 7), 8, 2),     # dilation 2
]


@pytest.mark.parametrize("case", LAYER_CASES)
def test_conv2d_transpose_layer_bias_relu(case):
    layer_case(*case)


def test_strided_conv_relu_input_gradient():
    """A strided Conv2D with a fused ReLU: its dx is the phase kernel with dy masked by y > 0
    while the image is padded (conv2d_backward's relu_y)."""
    layer = keras.layers.Conv2D(24, 3, strides=2, padding="same", activation="relu")
    x = rng.standard_normal((2, 11, 9, 16)).astype(np.float32)
    xv = tf.Variable(x)
    with tf.GradientTape() as tape:
        y = layer(xv)
    g = rng.standard_normal(y.shape).astype(np.float32)
    dx = tape.gradient(y, xv, output_gradients=g).numpy()
    pads = same_pads(11, 3, 2, 1) + same_pads(9, 3, 2, 1)
    # dx is the transposed convolution of g * (y > 0) with the HWIO kernel read as
    # (KH, KW, C_out, C_in) of that transposed convolution
    gm = g * (y.numpy() > 0)
    ref = reference(gm, layer.kernel.numpy(), None, np.zeros((2, 11, 9, 16)), (11, 9), (2, 2),
                    (1, 1), pads)[0]
    check_close(dx, ref, "dx of a strided Conv2D + ReLU", np.float32)


def _run_in_subprocess(env_extra):
    env = dict(os.environ, **env_extra)
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import test_conv_transpose_phases as t\n"
            "for c in t.CASES: t.run_case(c)\n"
            "for c in t.CASES[:4]: t.run_case(c, relu=True)\n"
            "for c in t.LAYER_CASES: t.layer_case(*c)\n"
            "t.test_strided_conv_relu_input_gradient()\n"
            "print('ok', len(t.CASES))")
    r = subprocess.run([sys.executable, "-c", code, os.path.dirname(os.path.abspath(__file__))],
                       env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and r.stdout.strip() == f"ok {len(CASES)}", r.stdout + r.stderr


@pytest.mark.parametrize("case", CASES[:4])
def test_conv2d_transpose_relu(case):
    run_case(case, relu=True)


def test_conv2d_transpose_avx2_tiles():
    """The same cases on the AVX2 6 x 16 tiles (NABI_CONV_ISA is read once per process)."""
    _run_in_subprocess({"NABI_CONV_ISA": "avx2"})


def test_conv2d_transpose_portable_gemm():
    """And with the portable GEMM under the im2col paths (NABI_GEMM_ISA=portable)."""
    _run_in_subprocess({"NABI_CONV_ISA": "avx2", "NABI_GEMM_ISA": "portable"})
