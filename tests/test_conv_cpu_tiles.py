"""CPU conv2d / depthwise_conv2d kernel paths added for speed, against the naive NumPy
references of reference_conv.py (float64):

- the AVX-512 direct kernel for one input channel (C == 1; csrc/cpu/conv2d_c1_avx512.cpp):
  P x 32 register tiles, any CO (tails of 16 and of 32), border pixels over their valid
  columns only, strides, dilations, 'same' / 'valid' / explicit padding, widths smaller than
  the filter; it also computes dx of a CO == 1 convolution at stride 1 (the flipped filter);
- the implicit-GEMM tiles that skip the zero padding (ig_tiles in csrc/cpu/conv2d.cpp):
  pixels reordered by which filter rows / columns meet the image, forward and backward-data
  (the transposed convolution runs the same tiles), pixels whose whole field is padding;
- the depthwise forward's far prefetch for inputs over 16 MiB (csrc/cpu/depthwise_conv2d.cpp).

On CPUs without AVX-512 the same cases run the AVX2 / portable kernels.
"""
import numpy as np
import pytest

import nabi as tf
from nabi import _C

import reference_conv as R

rng = np.random.default_rng(107)


def data(shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


def pads_of(H, W, KH, KW, s, d, padding):
    if padding == "SAME":
        return R.same_pads(H, KH, s[0], d[0]) + R.same_pads(W, KW, s[1], d[1])
    if padding == "VALID":
        return (0, 0, 0, 0)
    return tuple(padding)


TOL = dict(rtol=1e-4, atol=2e-4)

# (N, H, W, KH, KW, CO, strides, dilations, padding): C == 1
C1_CASES = [
    (3, 28, 28, 3, 3, 32, (1, 1), (1, 1), "SAME"),    # the MNIST first layer, smaller batch
    (2, 13, 31, 3, 3, 32, (1, 1), (1, 1), "SAME"),    # 29 interior pixels: 12 + 12 + 4 + 1
    (2, 9, 10, 3, 3, 1, (1, 1), (1, 1), "SAME"),      # CO 1 (one masked vector)
    (2, 9, 11, 3, 3, 17, (1, 1), (1, 1), "VALID"),    # CO 17: 16 + a 1-lane tail
    (1, 7, 26, 5, 5, 48, (1, 1), (1, 1), "SAME"),     # CO 48: 32 + 16
    (2, 8, 21, 3, 3, 33, (2, 2), (1, 1), "SAME"),     # CO 33: 32 + 1, stride 2
    (1, 12, 19, 3, 2, 16, (2, 3), (1, 2), "SAME"),    # strides, column dilation
    (2, 11, 15, 3, 3, 40, (1, 1), (2, 2), "SAME"),    # dilation 2
    (1, 6, 2, 3, 5, 20, (1, 1), (1, 1), "SAME"),      # W < KW: every pixel a border pixel
    (1, 5, 1, 3, 3, 8, (1, 1), (1, 1), "SAME"),       # W == 1
    (2, 8, 9, 2, 4, 100, (1, 1), (1, 1), (1, 2, 3, 0)),   # explicit, asymmetric
    (1, 7, 8, 3, 3, 24, (1, 1), (1, 1), (4, 4, 5, 5)),    # pixels entirely in the padding
    (1, 9, 30, 1, 7, 64, (1, 1), (1, 1), "SAME"),     # 1 x 7 filter
]


@pytest.mark.parametrize("case", C1_CASES)
def test_conv2d_one_input_channel_forward(case):
    N, H, W, KH, KW, CO, st, d, padding = case
    pads = pads_of(H, W, KH, KW, st, d, padding)
    x, w, b = data((N, H, W, 1)), data((KH, KW, 1, CO)), data((CO,))
    ref = R.conv2d(x.astype(np.float64), w.astype(np.float64), st, d, pads)
    y = _C.conv2d_forward(x, w, None, st, d, pads, False)
    assert y.shape == ref.shape and y.dtype == np.float32
    np.testing.assert_allclose(y, ref, **TOL)
    y = _C.conv2d_forward(x, w, b, st, d, pads, True)
    np.testing.assert_allclose(y, np.maximum(ref + b, 0), **TOL)


def test_conv2d_one_input_channel_op_and_gradients():
    """tf.nn.conv2d on C == 1 (the direct forward) with its gradients vs the references."""
    x, w, b = data((2, 11, 13, 1)), data((3, 3, 1, 32)), data((32,))
    g = data((2, 11, 13, 32))
    xv, wv, bv = tf.Variable(x), tf.Variable(w), tf.Variable(b)
    with tf.GradientTape() as tape:
        y = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(xv, wv, 1, "SAME"), bv))
    dx, dw, db = tape.gradient(y, [xv, wv, bv], output_gradients=g)
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    pads = (1, 1, 1, 1)
    z = R.conv2d(x64, w64, (1, 1), (1, 1), pads) + b
    np.testing.assert_allclose(y.numpy(), np.maximum(z, 0), **TOL)
    gm = g * (z > 0)
    np.testing.assert_allclose(dx.numpy(), R.conv2d_backward_data(gm, x.shape, w64, (1, 1),
                                                                  (1, 1), pads), **TOL)
    np.testing.assert_allclose(dw.numpy(), R.conv2d_backward_filter(x64, gm, w.shape, (1, 1),
                                                                    (1, 1), pads), rtol=1e-4,
                               atol=1e-3)
    np.testing.assert_allclose(db.numpy(), gm.sum(axis=(0, 1, 2)), rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("case", [
    (2, 9, 10, 24, 7, 7, "SAME"),     # dx channels 24: 16 + 8 (masked)
    (2, 8, 9, 40, 3, 3, "SAME"),      # 32 + 8
    (1, 6, 20, 5, 3, 5, "VALID"),
])
def test_conv2d_one_output_channel_input_gradient(case):
    """dx of a CO == 1 convolution at stride 1 is the C == 1 direct kernel on dy."""
    N, H, W, C, KH, KW, padding = case
    pads = pads_of(H, W, KH, KW, (1, 1), (1, 1), padding)
    x, w = data((N, H, W, C)), data((KH, KW, C, 1))
    y = _C.conv2d_forward(x, w, None, (1, 1), (1, 1), pads, False)
    g = data(y.shape)
    dx, _, _ = _C.conv2d_backward(g, x, w, None, (1, 1), (1, 1), pads, True, False, False)
    ref = R.conv2d_backward_data(g.astype(np.float64), x.shape, w.astype(np.float64), (1, 1),
                                 (1, 1), pads)
    np.testing.assert_allclose(dx, ref, **TOL)


# (N, H, W, C, KH, KW, CO, strides, dilations, padding): implicit GEMM (C >= 2) with padding
IG_CASES = [
    (3, 14, 14, 32, 3, 3, 64, (1, 1), (1, 1), "SAME"),   # the MNIST second layer
    (2, 7, 7, 16, 3, 3, 40, (1, 1), (1, 1), "SAME"),
    (2, 9, 13, 8, 5, 5, 33, (1, 1), (1, 1), "SAME"),     # two border rows/columns each side
    (2, 11, 10, 12, 3, 3, 32, (2, 2), (1, 1), "SAME"),   # stride 2: padding on one side
    (1, 12, 9, 8, 3, 3, 20, (1, 1), (2, 1), "SAME"),     # row dilation 2
    (2, 8, 9, 6, 4, 2, 24, (1, 1), (1, 1), (3, 0, 0, 2)),  # explicit, one-sided
    (1, 5, 6, 8, 3, 3, 16, (1, 1), (1, 1), (4, 4, 4, 4)),  # whole fields in the padding
    (2, 1, 17, 8, 3, 3, 32, (1, 1), (1, 1), "SAME"),     # one row: both filter edges outside
]


@pytest.mark.parametrize("case", IG_CASES)
def test_conv2d_padding_skipping_tiles(case):
    N, H, W, C, KH, KW, CO, st, d, padding = case
    pads = pads_of(H, W, KH, KW, st, d, padding)
    x, w, b = data((N, H, W, C)), data((KH, KW, C, CO)), data((CO,))
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    ref = R.conv2d(x64, w64, st, d, pads)
    np.testing.assert_allclose(_C.conv2d_forward(x, w, None, st, d, pads, False), ref, **TOL)
    y = _C.conv2d_forward(x, w, b, st, d, pads, True)
    np.testing.assert_allclose(y, np.maximum(ref + b, 0), **TOL)
    g = data(y.shape)
    for masked in (False, True):
        dx, _, _ = _C.conv2d_backward(g, x, w, y if masked else None, st, d, pads, True, False,
                                      False)
        gm = (g * (y > 0)).astype(np.float64) if masked else g.astype(np.float64)
        np.testing.assert_allclose(dx, R.conv2d_backward_data(gm, x.shape, w64, st, d, pads),
                                   **TOL)


def test_conv2d_padding_skip_keeps_results():
    """The skipped taps only ever added 0 * w: the outputs equal a run without padding (the
    same input padded by hand into a 'valid' convolution) to float rounding."""
    x, w = data((4, 14, 14, 32)), data((3, 3, 32, 64))
    y = _C.conv2d_forward(x, w, None, (1, 1), (1, 1), (1, 1, 1, 1), False)
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    y0 = _C.conv2d_forward(xp, w, None, (1, 1), (1, 1), (0, 0, 0, 0), False)
    np.testing.assert_allclose(y, y0, rtol=1e-5, atol=1e-5)


def test_depthwise_large_input_far_prefetch():
    """An input over 16 MiB takes the far-prefetch sweep; 'same' 3x3 and a channel tail."""
    N, H, W, C = 2, 128, 128, 130     # 4.26 M floats = 17 MB
    x, w = data((N, H, W, C)), data((3, 3, C, 1))
    y = _C.depthwise_conv2d_forward(x, w, (1, 1), (1, 1), (1, 1, 1, 1))
    xp = np.pad(x.astype(np.float64), ((0, 0), (1, 1), (1, 1), (0, 0)))
    ref = sum(xp[:, i:i + H, j:j + W] * w[i, j, :, 0] for i in range(3) for j in range(3))
    assert y.shape == ref.shape and y.dtype == np.float32
    np.testing.assert_allclose(y, ref, **TOL)
