"""The transposed convolution with its bias and ReLU fused into the kernel (conv2d_backward_data
in csrc/cpu/conv2d.cpp and csrc/cuda/conv2d.cu; conv_ops.conv2d_transpose_bias_activation; the
Conv2DTranspose / Conv1DTranspose layers), on every device (`where`: CPU, emulated GPU, real
GPU when present), against NumPy references written here:

- the transposed convolution as an explicit scatter of every input position through the
  filter into the zero-padded output, then cropped; + bias, then ReLU;
- its gradients from the same scatter read backwards (du gathers, dW correlates, db sums the
  ReLU-masked output gradient); float64 central differences check the reference itself.

Shapes are chosen to reach each kernel path: stride 1 (implicit GEMM on the padded dy), stride
2 and 3 (sub-pixel phases, including phases no tap reaches: kernel smaller than the stride),
one input channel (the direct kernel), channel counts off 16/32 (masked tile columns), odd
spatial sizes, 'valid' and 'same', dilation (the im2col fallback), float64.
"""
import numpy as np
import pytest

import nabi as tf
from nabi import _C
from nabi.ops import conv_ops

L = tf.keras.layers
F32, F64 = np.float32, np.float64


# ------------------------------------------------------------------------------ references
def ref_ct(u, w, b, st, dl, pads, out_hw, relu):
    """y (N, OH, OW, CO) of a transposed conv: u (N, H, W, CI), w (KH, KW, CO, CI); output
    position (h*sh + i*dh - pt, w*sw + j*dw - pl) receives u[h, w] @ w[i, j]^T."""
    N, H, W, CI = u.shape
    KH, KW, CO, _ = w.shape
    (sh, sw), (dh, dw) = st, dl
    OH, OW = out_hw
    big = np.zeros((N, max(OH + pads[0], (H - 1) * sh + (KH - 1) * dh + 1),
                    max(OW + pads[2], (W - 1) * sw + (KW - 1) * dw + 1), CO), np.float64)
    u64, w64 = u.astype(np.float64), w.astype(np.float64)
    for h in range(H):
        for x in range(W):
            for i in range(KH):
                for j in range(KW):
                    big[:, h * sh + i * dh, x * sw + j * dw, :] += u64[:, h, x, :] @ w64[i, j].T
    y = big[:, pads[0]:pads[0] + OH, pads[2]:pads[2] + OW, :]
    if b is not None:
        y = y + b.astype(np.float64)
    return np.maximum(y, 0) if relu else y


def ref_ct_grads(u, w, b, st, dl, pads, out_hw, relu, gy):
    """(du, dw, db) of sum(ref_ct(...) * gy)."""
    N, H, W, CI = u.shape
    KH, KW, CO, _ = w.shape
    (sh, sw), (dh, dw) = st, dl
    OH, OW = out_hw
    g = gy.astype(np.float64)
    if relu:
        g = g * (ref_ct(u, w, b, st, dl, pads, out_hw, False) > 0)
    big = np.zeros((N, max(OH + pads[0], (H - 1) * sh + (KH - 1) * dh + 1),
                    max(OW + pads[2], (W - 1) * sw + (KW - 1) * dw + 1), CO), np.float64)
    big[:, pads[0]:pads[0] + OH, pads[2]:pads[2] + OW, :] = g
    u64, w64 = u.astype(np.float64), w.astype(np.float64)
    du = np.zeros(u.shape, np.float64)
    dwt = np.zeros(w.shape, np.float64)
    for h in range(H):
        for x in range(W):
            for i in range(KH):
                for j in range(KW):
                    gp = big[:, h * sh + i * dh, x * sw + j * dw, :]   # (N, CO)
                    du[:, h, x, :] += gp @ w64[i, j]
                    dwt[i, j] += gp.T @ u64[:, h, x, :]
    return du, dwt, g.sum(axis=(0, 1, 2))


def same_pads(n_out, n_in, k, s, d):
    """TF 'SAME' padding (before) of the conv mapping n_out -> n_in."""
    ek = (k - 1) * d + 1
    total = max((n_in - 1) * s + ek - n_out, 0)
    return total // 2


def geometry(H, W, k, st, dl, padding):
    """Output size and (top, _, left, _) pads of a Keras transposed conv (output_padding None)."""
    out, pads = [], []
    for n, kk, s, d in zip((H, W), k, st, dl):
        ek = (kk - 1) * d + 1
        o = n * s if padding == "same" else n * s + max(ek - s, 0)
        out.append(o)
        pads.append(same_pads(o, n, kk, s, d) if padding == "same" else 0)
    return tuple(out), (pads[0], 0, pads[1], 0)


def check(name, a, e, dtype):
    assert a.shape == e.shape, f"{name}: shape {a.shape} vs {e.shape}"
    assert a.dtype == dtype, f"{name}: dtype {a.dtype}"
    tol = dict(rtol=2e-4, atol=2e-4) if dtype == F32 else dict(rtol=1e-10, atol=1e-10)
    scale = max(1.0, float(np.abs(e).max()))
    np.testing.assert_allclose(a, e, rtol=tol["rtol"], atol=tol["atol"] * scale, err_msg=name)


def test_reference_gradients_match_finite_differences(rng):
    u = rng.standard_normal((1, 3, 2, 2))
    w = rng.standard_normal((3, 2, 3, 2))
    b = rng.standard_normal(3)
    st, dl, out_hw, pads = (2, 1), (1, 1), (6, 3), (1, 0, 0, 0)
    gy = rng.standard_normal((1,) + out_hw + (3,))
    du, dw, db = ref_ct_grads(u, w, b, st, dl, pads, out_hw, True, gy)

    def f(u_, w_, b_):
        return float((ref_ct(u_, w_, b_, st, dl, pads, out_hw, True) * gy).sum())
    for arr, grad in ((u, du), (w, dw), (b, db)):
        num = np.zeros_like(arr)
        for idx in np.ndindex(arr.shape):
            old = arr[idx]
            arr[idx] = old + 1e-6
            fp = f(u, w, b)
            arr[idx] = old - 1e-6
            fm = f(u, w, b)
            arr[idx] = old
            num[idx] = (fp - fm) / 2e-6
        np.testing.assert_allclose(grad, num, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ Keras layer, every device
# (N, H, W, CI, filters, kernel, strides, padding, dilation, activation, dtype)
LAYER_CASES = [
    (2, 7, 7, 16, 24, (4, 4), (2, 2), "same", (1, 1), None, F32),      # the GAN's layer, small
    (2, 5, 6, 9, 33, (3, 3), (2, 2), "valid", (1, 1), "relu", F32),    # tails: 33 = 32 + 1
    (3, 4, 5, 12, 17, (3, 3), (1, 1), "same", (1, 1), "relu", F32),    # stride 1 implicit GEMM
    (2, 5, 4, 8, 20, (3, 2), (1, 1), "valid", (1, 1), None, F32),
    (2, 4, 4, 1, 40, (3, 3), (1, 1), "same", (1, 1), "relu", F32),     # one input channel
    (2, 3, 4, 6, 10, (1, 1), (2, 3), "valid", (1, 1), "relu", F32),    # phases no tap reaches
    (1, 5, 3, 5, 7, (3, 3), (3, 2), "same", (1, 1), None, F32),        # stride 3, odd sizes
    (2, 4, 5, 6, 5, (3, 3), (1, 1), "same", (2, 1), "relu", F32),      # dilation: fallback
    (1, 3, 4, 4, 6, (2, 3), (2, 1), "valid", (1, 1), "sigmoid", F32),  # unfused activation
    (2, 4, 3, 5, 9, (3, 3), (2, 2), "same", (1, 1), "relu", F64),
]


def _lid(c):
    return (f"{c[0]}x{c[1]}x{c[2]}x{c[3]}-f{c[4]}-k{c[5][0]}{c[5][1]}-s{c[6][0]}{c[6][1]}-"
            f"{c[7]}-d{c[8][0]}-{c[9]}-{np.dtype(c[10]).name}")


@pytest.mark.parametrize("case", LAYER_CASES, ids=_lid)
def test_conv2d_transpose_layer_fused(where, case, rng):
    N, H, W, CI, F, k, st, padding, dl, act, dtype = case
    u = rng.standard_normal((N, H, W, CI)).astype(dtype)
    w = (rng.standard_normal(k + (F, CI)) * 0.5).astype(dtype)
    b = rng.standard_normal(F).astype(dtype)
    out_hw, pads = geometry(H, W, k, st, dl, padding)
    relu = act == "relu"
    y_ref = ref_ct(u, w, b, st, dl, pads, out_hw, relu)
    gy = rng.standard_normal(y_ref.shape).astype(dtype)
    if act == "sigmoid":
        s = 1 / (1 + np.exp(-y_ref))
        du, dw, db = ref_ct_grads(u, w, b, st, dl, pads, out_hw, False, gy * s * (1 - s))
        y_ref = s
    else:
        du, dw, db = ref_ct_grads(u, w, b, st, dl, pads, out_hw, relu, gy)
    with tf.device(where):
        layer = L.Conv2DTranspose(F, k, st, padding, dilation_rate=dl, activation=act,
                                  dtype=np.dtype(dtype).name)
        layer.build((None, H, W, CI))
        layer.kernel.assign(w)
        layer.bias.assign(b)
        ut = tf.Variable(u)
        with tf.GradientTape() as tape:
            y = layer(ut)
        g_u, g_w, g_b = tape.gradient(y, [ut, layer.kernel, layer.bias],
                                      output_gradients=tf.constant(gy))
    check("y", y.numpy(), y_ref.astype(dtype), dtype)
    check("du", g_u.numpy(), du.astype(dtype), dtype)
    check("dw", g_w.numpy(), dw.astype(dtype), dtype)
    check("db", g_b.numpy(), db.astype(dtype), dtype)


def test_conv2d_transpose_layer_channels_first_and_no_bias(where, rng):
    w = rng.standard_normal((3, 3, 6, 5)).astype(F32)
    out_hw, pads = geometry(4, 3, (3, 3), (2, 2), (1, 1), "same")
    for use_bias in (True, False):
        b = rng.standard_normal(6).astype(F32) if use_bias else None
        uu = rng.standard_normal((2, 4, 3, 5)).astype(F32)   # NHWC; the layer sees NCHW
        y_ref = ref_ct(uu, w, b, (2, 2), (1, 1), pads, out_hw, True)
        gy = rng.standard_normal(y_ref.shape).astype(F32)
        du, dw, db = ref_ct_grads(uu, w, b, (2, 2), (1, 1), pads, out_hw, True, gy)
        with tf.device(where):
            layer = L.Conv2DTranspose(6, 3, 2, "same", data_format="channels_first",
                                      activation="relu", use_bias=use_bias)
            layer.build((None, 5, 4, 3))
            layer.kernel.assign(w)
            if use_bias:
                layer.bias.assign(b)
            ut = tf.Variable(uu.transpose(0, 3, 1, 2))
            with tf.GradientTape() as tape:
                y = layer(ut)
            grads = tape.gradient(y, [ut] + layer.trainable_weights,
                                  output_gradients=tf.constant(gy.transpose(0, 3, 1, 2)))
        check("y", y.numpy(), y_ref.transpose(0, 3, 1, 2).astype(F32), F32)
        check("du", grads[0].numpy(), du.transpose(0, 3, 1, 2).astype(F32), F32)
        check("dw", grads[1].numpy(), dw.astype(F32), F32)
        if use_bias:
            check("db", grads[2].numpy(), db.astype(F32), F32)
        else:
            assert len(grads) == 2


def test_conv1d_transpose_layer_fused(where, rng):
    u = rng.standard_normal((3, 7, 4)).astype(F32)
    w = rng.standard_normal((3, 5, 4)).astype(F32)   # Keras (kw, filters, in)
    b = rng.standard_normal(5).astype(F32)
    out_hw, pads = geometry(1, 7, (1, 3), (1, 2), (1, 1), "valid")
    y_ref = ref_ct(u[:, None], w[None], b, (1, 2), (1, 1), pads, out_hw, True)[:, 0]
    gy = rng.standard_normal(y_ref.shape).astype(F32)
    du, dw, db = ref_ct_grads(u[:, None], w[None], b, (1, 2), (1, 1), pads, out_hw, True,
                              gy[:, None])
    with tf.device(where):
        layer = L.Conv1DTranspose(5, 3, 2, "valid", activation="relu")
        layer.build((None, 7, 4))
        layer.kernel.assign(w)
        layer.bias.assign(b)
        ut = tf.Variable(u)
        with tf.GradientTape() as tape:
            y = layer(ut)
        g_u, g_w, g_b = tape.gradient(y, [ut, layer.kernel, layer.bias],
                                      output_gradients=tf.constant(gy))
    check("y", y.numpy(), y_ref.astype(F32), F32)
    check("du", g_u.numpy(), du[:, 0].astype(F32), F32)
    check("dw", g_w.numpy(), dw[0].astype(F32), F32)
    check("db", g_b.numpy(), db.astype(F32), F32)


# ------------------------------------------------------------------ the op: second order
def test_second_order_through_fused_op(where, rng):
    """d/du of sum(dL/dw * c), L = sum(relu(ct(u, w) + b) * gy): the recorded backward of the
    fused op differentiated again, against central differences of the reference's dw."""
    u = rng.standard_normal((1, 3, 3, 2))
    w = rng.standard_normal((2, 2, 3, 2))
    b = rng.standard_normal(3) * 0.1
    st, pads = (2, 2), (0, 0, 0, 0)
    out_hw = (6, 6)
    gy = rng.standard_normal((1, 6, 6, 3))
    c = rng.standard_normal(w.shape)
    with tf.device(where):
        ut, wt, bt = tf.Variable(u), tf.Variable(w), tf.Variable(b)
        with tf.GradientTape() as outer:
            with tf.GradientTape() as inner:
                y = conv_ops.conv2d_transpose_bias_activation(ut, wt, (1, 6, 6, 3), st, bt,
                                                              "VALID", activation="relu")
                loss = tf.reduce_sum(y * tf.constant(gy))
            gw = inner.gradient(loss, wt)
            z = tf.reduce_sum(gw * tf.constant(c))
        d2 = outer.gradient(z, ut).numpy()
    num = np.zeros_like(u)
    for idx in np.ndindex(u.shape):
        up, um = u.copy(), u.copy()
        up[idx] += 1e-6
        um[idx] -= 1e-6
        fp = (ref_ct_grads(up, w, b, st, (1, 1), pads, out_hw, True, gy)[1] * c).sum()
        fm = (ref_ct_grads(um, w, b, st, (1, 1), pads, out_hw, True, gy)[1] * c).sum()
        num[idx] = (fp - fm) / 2e-6
    np.testing.assert_allclose(d2, num, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ the kernel entry
# (input_shape (N, H, W, C) of the conv, filters (KH, KW, C, CO), strides, dilations, pads)
KERNEL_CASES = [
    ((2, 9, 8, 16, ), (3, 3, 16, 20), (1, 1), (1, 1), (1, 1, 1, 1)),   # stride 1, C >= 8
    ((2, 6, 7, 33, ), (3, 3, 33, 5), (1, 1), (1, 1), (0, 0, 0, 0)),    # 'valid', C tail
    ((2, 8, 9, 40, ), (3, 3, 40, 1), (1, 1), (1, 1), (1, 1, 1, 1)),    # CO == 1: direct
    ((2, 14, 13, 24), (4, 4, 24, 12), (2, 2), (1, 1), (1, 2, 1, 1)),   # phases
    ((1, 9, 10, 17), (1, 2, 17, 6), (3, 4), (1, 1), (0, 0, 0, 1)),     # phases without taps
    ((2, 7, 6, 4, ), (3, 3, 4, 6), (1, 1), (1, 1), (1, 1, 1, 1)),      # C < 8: fallback
    ((1, 9, 9, 10), (3, 3, 10, 4), (1, 1), (2, 2), (2, 2, 2, 2)),      # dilation: fallback
]


def _out(n, k, s, d, p0, p1):
    return (n + p0 + p1 - ((k - 1) * d + 1)) // s + 1


@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("case", KERNEL_CASES, ids=lambda c: "x".join(map(str, c[0] + c[1])))
def test_kernel_backward_data_bias_relu(case, relu, dtype, rng):
    xs, ws, st, dl, pads = case
    OH = _out(xs[1], ws[0], st[0], dl[0], pads[0], pads[1])
    OW = _out(xs[2], ws[1], st[1], dl[1], pads[2], pads[3])
    gy = rng.standard_normal((xs[0], OH, OW, ws[3])).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(xs[3]).astype(dtype)
    # the conv's filters (KH, KW, C, CO) are the transposed conv's (KH, KW, C_out, C_in)
    y_ref = ref_ct(gy, w, b, st, dl, pads, xs[1:3], relu)
    for bias in (b, None):
        r = y_ref if bias is not None else ref_ct(gy, w, None, st, dl, pads, xs[1:3], relu)
        got = _C.conv2d_backward_data(gy, w, bias, xs, st, dl, pads, relu)
        check("dx", got, r.astype(dtype), dtype)


def test_kernel_backward_data_empty_batch(rng):
    w = rng.standard_normal((3, 3, 4, 5)).astype(F32)
    got = _C.conv2d_backward_data(np.zeros((0, 2, 2, 5), F32), w, np.ones(4, F32), (0, 4, 4, 4),
                                  (1, 1), (1, 1), (0, 0, 0, 0), True)
    assert got.shape == (0, 4, 4, 4)


def test_kernel_backward_data_errors(rng):
    w = rng.standard_normal((3, 3, 4, 5)).astype(F32)
    gy = rng.standard_normal((2, 4, 4, 5)).astype(F32)
    xs = (2, 6, 6, 4)
    args = ((1, 1), (1, 1), (0, 0, 0, 0))
    with pytest.raises(ValueError, match=r"\[conv2d\] bias .*needs 4 values"):
        _C.conv2d_backward_data(gy, w, np.ones(5, F32), xs, *args)
    with pytest.raises(TypeError, match=r"\[conv2d\]"):
        _C.conv2d_backward_data(gy, w, np.ones(4, F64), xs, *args)
    with pytest.raises(ValueError, match=r"\[conv2d\] grad_y \(2, 4, 4, 5\) does not match"):
        _C.conv2d_backward_data(gy, w, None, (2, 7, 6, 4), *args)
    with pytest.raises(ValueError, match=r"\[conv2d\] input_shape must have 4 values"):
        _C.conv2d_backward_data(gy, w, None, (2, 6, 6), *args)
    with pytest.raises(ValueError, match=r"\[conv2d\] input channels"):
        _C.conv2d_backward_data(gy, w, None, (2, 6, 6, 3), *args)
    with pytest.raises(ValueError, match=r"\[conv2d\] input shape .* negative"):
        _C.conv2d_backward_data(gy, w, None, (2, -6, 6, 4), *args)
    with pytest.raises(ValueError, match=r"\[conv2d\]"):
        _C.conv2d_backward_data(gy[:, :, :, :1], w, None, xs, *args)   # not contiguous
    with pytest.raises(ValueError, match=r"\[conv2d_transpose\] bias must have shape \(5,\)"):
        conv_ops.conv2d_transpose_bias_activation(
            rng.standard_normal((1, 3, 3, 4)).astype(F32),
            rng.standard_normal((2, 2, 5, 4)).astype(F32), (1, 6, 6, 5), 2,
            np.ones(4, F32), "VALID")


# ------------------------------------------------------------------ conv2d's dx by filter tap
# Small images with little padding ('valid'): dx summed tap by tap straight from dy (the
# AVX-512 path; elsewhere the padded transposed convolution). Channel tails, 'valid', partial
# padding, row dilation, a 1x1 output, the fused-ReLU mask.
SCATTER_CASES = [
    ((3, 6, 6, 64), (3, 3, 64, 64), (1, 1), (0, 0, 0, 0)),     # the cifar CNN's last conv
    ((2, 7, 5, 9), (3, 2, 9, 33), (1, 1), (0, 0, 0, 0)),       # C 9, CO 33: column tails
    ((2, 8, 9, 40), (3, 3, 40, 17), (1, 1), (1, 0, 0, 1)),     # partial padding
    ((1, 9, 8, 16), (3, 3, 16, 24), (2, 1), (0, 0, 0, 0)),     # row dilation
    ((2, 3, 3, 12), (3, 3, 12, 10), (1, 1), (0, 0, 0, 0)),     # one output pixel
]


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("case", SCATTER_CASES, ids=lambda c: "x".join(map(str, c[0] + c[1])))
def test_conv_backward_data_by_tap(case, relu, rng):
    xs, ws, dl, pads = case
    OH = _out(xs[1], ws[0], 1, dl[0], pads[0], pads[1])
    OW = _out(xs[2], ws[1], 1, dl[1], pads[2], pads[3])
    x = rng.standard_normal(xs).astype(F32)
    w = rng.standard_normal(ws).astype(F32)
    gy = rng.standard_normal((xs[0], OH, OW, ws[3])).astype(F32)
    y = rng.standard_normal(gy.shape).astype(F32) if relu else None
    g_eff = gy * (y > 0) if relu else gy
    ref = ref_ct(g_eff, w, None, (1, 1), dl, pads, xs[1:3], False)
    dx, dw, db = _C.conv2d_backward(gy, x, w, y, (1, 1), dl, pads, True, True, True)
    check("dx", dx, ref.astype(F32), F32)
    # dw and db of the same call (the im2col path shares nothing with dx any more)
    xp = np.pad(x.astype(np.float64), ((0, 0), pads[:2], pads[2:], (0, 0)))
    dw_ref = np.zeros(ws)
    for i in range(ws[0]):
        for j in range(ws[1]):
            tap = xp[:, i * dl[0]:i * dl[0] + OH, j * dl[1]:j * dl[1] + OW, :]
            dw_ref[i, j] = np.einsum("nhwc,nhwo->co", tap, g_eff)
    check("dw", dw, dw_ref.astype(F32), F32)
    check("db", db, g_eff.astype(np.float64).sum(axis=(0, 1, 2)).astype(F32), F32)


# ------------------------------------------------------------------ conv2d's filter gradient
# The AVX-512 MR x 32 filter-gradient tiles (CO % 16 == 0): a half panel (48), runs KW*C that
# 8 does not divide (15, 9), stride 2, row dilation, one input channel, images of fewer than
# 64 output pixels reduced several at a time (5 of them: uneven batches), the ReLU mask.
DW_CASES = [
    ((2, 7, 6, 5), (3, 3, 5, 48), (1, 1), (1, 1), (1, 1, 1, 1)),
    ((2, 9, 8, 3), (3, 3, 3, 16), (2, 2), (1, 1), (0, 1, 0, 1)),
    ((1, 9, 7, 24), (2, 4, 24, 128), (2, 1), (2, 1), (0, 0, 1, 2)),
    ((2, 6, 6, 1), (3, 3, 1, 32), (1, 1), (1, 1), (1, 1, 1, 1)),
    ((5, 4, 5, 8), (3, 3, 8, 32), (1, 1), (1, 1), (0, 0, 0, 0)),   # tiny images, in batches
]


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("case", DW_CASES, ids=lambda c: "x".join(map(str, c[0] + c[1])))
def test_conv_backward_filter_tiles(case, relu, rng):
    xs, ws, st, dl, pads = case
    OH = _out(xs[1], ws[0], st[0], dl[0], pads[0], pads[1])
    OW = _out(xs[2], ws[1], st[1], dl[1], pads[2], pads[3])
    x = rng.standard_normal(xs).astype(F32)
    w = rng.standard_normal(ws).astype(F32)
    gy = rng.standard_normal((xs[0], OH, OW, ws[3])).astype(F32)
    y = rng.standard_normal(gy.shape).astype(F32) if relu else None
    g_eff = (gy * (y > 0) if relu else gy).astype(np.float64)
    _, dw, db = _C.conv2d_backward(gy, x, w, y, st, dl, pads, False, True, True)
    xp = np.pad(x.astype(np.float64), ((0, 0), pads[:2], pads[2:], (0, 0)))
    dw_ref = np.zeros(ws)
    for i in range(ws[0]):
        for j in range(ws[1]):
            tap = xp[:, i * dl[0]:i * dl[0] + (OH - 1) * st[0] + 1:st[0],
                     j * dl[1]:j * dl[1] + (OW - 1) * st[1] + 1:st[1], :]
            dw_ref[i, j] = np.einsum("nhwc,nhwo->co", tap, g_eff)
    check("dw", dw, dw_ref.astype(F32), F32)
    check("db", db, g_eff.sum(axis=(0, 1, 2)).astype(F32), F32)
