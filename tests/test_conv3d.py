"""conv3d / conv3d_transpose / max_pool3d / avg_pool3d (ops/conv3d_ops.py, composed from the 2-D
ops) and the Keras layers on them (Conv3D, Conv3DTranspose, MaxPooling3D, AveragePooling3D, the
3-D global poolings), on every device (`where`), against NumPy references written here:

- convolution: a sum over the KD*KH*KW filter taps of strided slices of the zero-padded input
  (einsum per tap), its adjoints (dx, dw) from the same taps; the transposed convolution as an
  explicit scatter of every input position through the filter into the padded output;
- pooling: explicit loops over output windows clipped to the valid (unpadded) input, the max
  gradient routed to the first maximum of each window, the average one spread over the valid
  elements;
- float64 central differences check the references themselves.
"""
import numpy as np
import pytest

import nabi as tf

L = tf.keras.layers
F32, F64 = np.float32, np.float64


# ------------------------------------------------------------------------------ references
def _pads(sizes, ks, st, dl, padding):
    out = []
    for n, k, s, d in zip(sizes, ks, st, dl):
        if padding == "VALID":
            out.append((0, 0))
        else:
            ek = (k - 1) * d + 1
            total = max((-(-n // s) - 1) * s + ek - n, 0)
            out.append((total // 2, total - total // 2))
    return out


def _outs(sizes, ks, st, dl, pads):
    return [(n + p[0] + p[1] - (k - 1) * d - 1) // s + 1
            for n, k, s, d, p in zip(sizes, ks, st, dl, pads)]


def _tap_slices(ks, st, dl, outs):
    for i in range(ks[0]):
        for j in range(ks[1]):
            for m in range(ks[2]):
                yield (i, j, m), tuple(slice(t * d, t * d + (o - 1) * s + 1, s)
                                       for t, d, s, o in zip((i, j, m), dl, st, outs))


def ref_conv3d(x, w, st, dl, padding):
    x, w = x.astype(F64), w.astype(F64)
    N, D, H, W, C = x.shape
    ks = w.shape[:3]
    pads = _pads((D, H, W), ks, st, dl, padding)
    outs = _outs((D, H, W), ks, st, dl, pads)
    xp = np.pad(x, [(0, 0)] + pads + [(0, 0)])
    y = np.zeros([N] + outs + [w.shape[4]])
    for tap, sl in _tap_slices(ks, st, dl, outs):
        y += np.einsum("ndhwc,cf->ndhwf", xp[(slice(None),) + sl], w[tap])
    return y


def ref_conv3d_grads(x, w, dy, st, dl, padding):
    """(dx, dw) of sum(conv3d(x, w) * dy)."""
    x, w, dy = x.astype(F64), w.astype(F64), dy.astype(F64)
    N, D, H, W, C = x.shape
    ks = w.shape[:3]
    pads = _pads((D, H, W), ks, st, dl, padding)
    outs = _outs((D, H, W), ks, st, dl, pads)
    xp = np.pad(x, [(0, 0)] + pads + [(0, 0)])
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    for tap, sl in _tap_slices(ks, st, dl, outs):
        s5 = (slice(None),) + sl
        dxp[s5] += np.einsum("ndhwf,cf->ndhwc", dy, w[tap])
        dw[tap] = np.einsum("ndhwc,ndhwf->cf", xp[s5], dy)
    crop = (slice(None),) + tuple(slice(p[0], p[0] + n) for p, n in zip(pads, (D, H, W)))
    return dxp[crop], dw


def ref_conv3d_transpose(u, w, out_spatial, st, dl, padding):
    """u (N, Do, Ho, Wo, CI), w (KD, KH, KW, CO, CI): every input position scattered through
    the filter into the padded output, then the pads cut."""
    u, w = u.astype(F64), w.astype(F64)
    N, Do, Ho, Wo, CI = u.shape
    ks, CO = w.shape[:3], w.shape[3]
    pads = _pads(out_spatial, ks, st, dl, padding)
    full = np.zeros([N] + [n + p[0] + p[1] for n, p in zip(out_spatial, pads)] + [CO])
    for a in range(Do):
        for b in range(Ho):
            for c in range(Wo):
                for (i, j, m), _ in _tap_slices(ks, st, dl, (1, 1, 1)):
                    full[:, a * st[0] + i * dl[0], b * st[1] + j * dl[1],
                         c * st[2] + m * dl[2]] += u[:, a, b, c] @ w[i, j, m].T
    crop = (slice(None),) + tuple(slice(p[0], p[0] + n) for p, n in zip(pads, out_spatial))
    return full[crop]


def ref_conv3d_transpose_grads(u, w, g, st, dl, padding):
    """(du, dw) of sum(conv3d_transpose(u, w) * g), by the same scatter read backwards."""
    u, w, g = u.astype(F64), w.astype(F64), g.astype(F64)
    N, Do, Ho, Wo, CI = u.shape
    ks = w.shape[:3]
    out_spatial = g.shape[1:4]
    pads = _pads(out_spatial, ks, st, dl, padding)
    gp = np.pad(g, [(0, 0)] + pads + [(0, 0)])
    du = np.zeros_like(u)
    dw = np.zeros_like(w)
    for a in range(Do):
        for b in range(Ho):
            for c in range(Wo):
                for (i, j, m), _ in _tap_slices(ks, st, dl, (1, 1, 1)):
                    gv = gp[:, a * st[0] + i * dl[0], b * st[1] + j * dl[1],
                            c * st[2] + m * dl[2]]                      # (N, CO)
                    du[:, a, b, c] += gv @ w[i, j, m]
                    dw[i, j, m] += gv.T @ u[:, a, b, c]
    return du, dw


def _windows(sizes, k, st, padding):
    pads = _pads(sizes, k, st, (1, 1, 1), padding)
    outs = _outs(sizes, k, st, (1, 1, 1), pads)
    for idx in np.ndindex(*outs):
        yield idx, tuple(slice(max(o * s - p[0], 0), min(o * s - p[0] + kk, n))
                         for o, s, p, kk, n in zip(idx, st, pads, k, sizes))


def _pool_out_shape(x, k, st, padding):
    sizes = x.shape[1:4]
    pads = _pads(sizes, k, st, (1, 1, 1), padding)
    return (x.shape[0], *_outs(sizes, k, st, (1, 1, 1), pads), x.shape[4])


def ref_pool3d(x, k, st, padding, is_max):
    x = x.astype(F64)
    y = np.zeros(_pool_out_shape(x, k, st, padding))
    for idx, win in _windows(x.shape[1:4], k, st, padding):
        blk = x[(slice(None),) + win]
        y[(slice(None),) + idx] = blk.max(axis=(1, 2, 3)) if is_max else blk.mean(axis=(1, 2, 3))
    return y


def ref_pool3d_grad(x, dy, k, st, padding, is_max):
    x, dy = x.astype(F64), dy.astype(F64)
    N, C = x.shape[0], x.shape[4]
    dx = np.zeros_like(x)
    for idx, win in _windows(x.shape[1:4], k, st, padding):
        s5 = (slice(None),) + win
        blk = x[s5]
        g = dy[(slice(None),) + idx]                                    # (N, C)
        if is_max:
            flat = blk.reshape(N, -1, C)
            am = flat.argmax(axis=1)                                    # first maximum
            shp = blk.shape[1:4]
            for n in range(N):
                for c in range(C):
                    d, h, w = np.unravel_index(am[n, c], shp)
                    dx[n, win[0].start + d, win[1].start + h, win[2].start + w, c] += g[n, c]
        else:
            dx[s5] += g[:, None, None, None, :] / np.prod(blk.shape[1:4])
    return dx


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


def test_reference_gradients_match_finite_differences(rng):
    st, dl = (2, 1, 1), (1, 2, 1)
    x = rng.standard_normal((1, 4, 5, 3, 2))
    w = rng.standard_normal((2, 2, 2, 2, 2))
    dy = rng.standard_normal(ref_conv3d(x, w, st, dl, "SAME").shape)
    dx, dw = ref_conv3d_grads(x, w, dy, st, dl, "SAME")
    np.testing.assert_allclose(dx, _fd(lambda a: np.sum(ref_conv3d(a, w, st, dl, "SAME") * dy), x),
                               rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dw, _fd(lambda a: np.sum(ref_conv3d(x, a, st, dl, "SAME") * dy), w),
                               rtol=1e-6, atol=1e-8)
    # transposed convolution: both gradients, and it is the adjoint of the convolution
    u = rng.standard_normal(dy.shape)
    g = rng.standard_normal(x.shape)
    out = x.shape[1:4]
    du, dwt = ref_conv3d_transpose_grads(u, w, g, st, dl, "SAME")
    np.testing.assert_allclose(
        du, _fd(lambda a: np.sum(ref_conv3d_transpose(a, w, out, st, dl, "SAME") * g), u),
        rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(
        dwt, _fd(lambda a: np.sum(ref_conv3d_transpose(u, a, out, st, dl, "SAME") * g), w),
        rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(np.sum(ref_conv3d(g, w, st, dl, "SAME") * u),
                               np.sum(g * ref_conv3d_transpose(u, w, out, st, dl, "SAME")),
                               rtol=1e-10)
    # pools (SAME windows clipped at the border)
    xp = rng.standard_normal((1, 3, 4, 3, 2))
    for is_max in (True, False):
        k, s = (2, 3, 2), (2, 2, 1)
        dyp = rng.standard_normal(ref_pool3d(xp, k, s, "SAME", is_max).shape)
        np.testing.assert_allclose(
            ref_pool3d_grad(xp, dyp, k, s, "SAME", is_max),
            _fd(lambda a: np.sum(ref_pool3d(a, k, s, "SAME", is_max) * dyp), xp),
            rtol=1e-6, atol=1e-8)


# ------------------------------------------------------------------------------ the ops
# (x shape (N, D, H, W, C), filter (KD, KH, KW), F, strides, dilations, padding)
CONV_CASES = [
    ((2, 4, 5, 6, 3), (2, 3, 3), 4, (1, 1, 1), (1, 1, 1), "VALID"),
    ((1, 5, 6, 5, 2), (3, 3, 2), 3, (1, 1, 1), (1, 1, 1), "SAME"),
    ((2, 7, 5, 6, 2), (3, 2, 3), 2, (2, 1, 2), (1, 1, 1), "SAME"),   # unequal strides
    ((1, 6, 7, 5, 3), (2, 3, 2), 2, (2, 3, 1), (1, 1, 1), "VALID"),
    ((1, 7, 6, 6, 2), (3, 2, 2), 3, (1, 2, 1), (2, 1, 2), "SAME"),   # dilation in D and W
    ((2, 3, 4, 4, 1), (1, 1, 1), 2, (1, 1, 1), (1, 1, 1), "VALID"),  # 1x1x1
]


def _cid(c):
    return (f"k{''.join(map(str, c[1]))}-s{''.join(map(str, c[3]))}"
            f"d{''.join(map(str, c[4]))}-{c[5]}")


def _grads(where, fn, a, b, dy):
    with tf.device(where):
        at, bt = tf.constant(a), tf.constant(b)
        with tf.GradientTape() as tape:
            tape.watch([at, bt])
            y = fn(at, bt)
            loss = tf.reduce_sum(y * tf.constant(dy))
        da, db = tape.gradient(loss, [at, bt])
    return y.numpy(), da.numpy(), db.numpy()


def _check(name, a, e, dtype):
    assert a.shape == e.shape, f"{name}: shape {a.shape} vs {e.shape}"
    assert a.dtype == dtype, f"{name}: dtype {a.dtype}"
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == F32 else dict(rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(a, e, err_msg=name, **tol)


@pytest.mark.parametrize("case", CONV_CASES, ids=_cid)
def test_conv3d_forward_and_gradients(where, case, rng):
    shape, ks, F, st, dl, padding = case
    dtype = F64 if case is CONV_CASES[2] else F32
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal(ks + (shape[4], F)).astype(dtype)
    y_ref = ref_conv3d(x, w, st, dl, padding)
    dy = rng.standard_normal(y_ref.shape).astype(dtype)
    dx_ref, dw_ref = ref_conv3d_grads(x, w, dy, st, dl, padding)
    y, dx, dw = _grads(where, lambda a, b: tf.nn.conv3d(a, b, [1, *st, 1], padding,
                                                        dilations=[1, *dl, 1]), x, w, dy)
    for name, a, e in (("y", y, y_ref), ("dx", dx, dx_ref), ("dw", dw, dw_ref)):
        _check(name, a, e, dtype)


@pytest.mark.parametrize("case", CONV_CASES, ids=_cid)
def test_conv3d_transpose_forward_and_gradients(where, case, rng):
    shape, ks, F, st, dl, padding = case
    dtype = F64 if case is CONV_CASES[2] else F32
    out_shape = shape[:4] + (F,)           # the transposed conv maps back to shape
    CI = shape[4]
    w = rng.standard_normal(ks + (F, CI)).astype(dtype)
    in_shape = ref_conv3d(np.zeros(out_shape[:4] + (F,)), np.zeros(ks + (F, 1)), st, dl,
                          padding).shape[:4] + (CI,)
    u = rng.standard_normal(in_shape).astype(dtype)
    y_ref = ref_conv3d_transpose(u, w, out_shape[1:4], st, dl, padding)
    g = rng.standard_normal(y_ref.shape).astype(dtype)
    du_ref, dw_ref = ref_conv3d_transpose_grads(u, w, g, st, dl, padding)
    y, du, dw = _grads(where, lambda a, b: tf.nn.conv3d_transpose(
        a, b, out_shape, st, padding, dilations=list(dl)), u, w, g)
    for name, a, e in (("y", y, y_ref), ("du", du, du_ref), ("dw", dw, dw_ref)):
        _check(name, a, e, dtype)


def test_conv3d_ncdhw_and_transpose_ncdhw(where, rng):
    x = rng.standard_normal((2, 4, 5, 6, 3)).astype(F32)
    w = rng.standard_normal((2, 3, 2, 3, 2)).astype(F32)
    st = (1, 2, 1)
    y_ref = ref_conv3d(x, w, st, (1, 1, 1), "SAME")
    dy = rng.standard_normal(y_ref.shape).astype(F32)
    dx_ref, dw_ref = ref_conv3d_grads(x, w, dy, st, (1, 1, 1), "SAME")
    to_cf = (0, 4, 1, 2, 3)
    y, dx, dw = _grads(where, lambda a, b: tf.nn.conv3d(a, b, [1, 1, *st], "SAME",
                                                        data_format="NCDHW"),
                       x.transpose(to_cf).copy(), w, dy.transpose(to_cf).copy())
    _check("y", y, y_ref.transpose(to_cf), F32)
    _check("dx", dx, dx_ref.transpose(to_cf), F32)
    _check("dw", dw, dw_ref, F32)
    # transposed, channels first: maps dy's shape back to x's
    wt = rng.standard_normal((2, 3, 2, 3, 2)).astype(F32)           # (.., C_out=3, C_in=2)
    t_ref = ref_conv3d_transpose(dy, wt, x.shape[1:4], st, (1, 1, 1), "SAME")
    with tf.device(where):
        t = tf.nn.conv3d_transpose(dy.transpose(to_cf).copy(), wt,
                                   tf.constant([2, 3, 4, 5, 6]), [1, 1, *st], "SAME",
                                   data_format="NCDHW").numpy()
    _check("transpose y", t, t_ref.transpose(to_cf), F32)


POOL_CASES = [
    ((2, 4, 6, 5, 3), (2, 2, 2), (2, 2, 2), "VALID"),
    ((1, 5, 7, 6, 2), (3, 3, 3), (2, 2, 2), "SAME"),
    ((2, 5, 6, 7, 2), (2, 3, 2), (1, 2, 3), "SAME"),     # unequal, overlapping windows
    ((1, 7, 5, 6, 3), (3, 2, 2), (2, 1, 2), "VALID"),
    ((1, 4, 5, 4, 2), (4, 2, 3), (3, 1, 1), "SAME"),     # depth window 4 (pad front 1, back 2)
    ((2, 3, 4, 4, 2), (1, 2, 2), (1, 2, 2), "VALID"),    # no depth pooling
]


@pytest.mark.parametrize("is_max", [True, False], ids=["max", "avg"])
@pytest.mark.parametrize("case", POOL_CASES,
                         ids=lambda c: f"k{''.join(map(str, c[1]))}-s{''.join(map(str, c[2]))}"
                                       f"-{c[3]}")
def test_pool3d_forward_and_gradient(where, case, is_max, rng):
    shape, k, st, padding = case
    x = rng.standard_normal(shape).astype(F32)
    y_ref = ref_pool3d(x, k, st, padding, is_max)
    dy = rng.standard_normal(y_ref.shape).astype(F32)
    dx_ref = ref_pool3d_grad(x, dy, k, st, padding, is_max)
    fn = tf.nn.max_pool3d if is_max else tf.nn.avg_pool3d
    with tf.device(where):
        xt = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            y = fn(xt, [1, *k, 1], [1, *st, 1], padding)
            loss = tf.reduce_sum(y * tf.constant(dy))
        dx = tape.gradient(loss, xt)
    _check("y", y.numpy(), y_ref, F32)
    _check("dx", dx.numpy(), dx_ref, F32)


def test_pool3d_ncdhw_and_generic_entries(where, rng):
    x = rng.standard_normal((2, 5, 4, 6, 3)).astype(F32)
    to_cf = (0, 4, 1, 2, 3)
    with tf.device(where):
        y = tf.nn.max_pool3d(x.transpose(to_cf).copy(), 3, 2, "SAME", data_format="NCDHW")
        np.testing.assert_allclose(y.numpy(), ref_pool3d(x, (3, 3, 3), (2, 2, 2), "SAME",
                                                         True).transpose(to_cf), rtol=1e-6)
        a = tf.nn.avg_pool(x, [2, 2, 3], [1, 2, 3], "VALID")          # rank 5 -> avg_pool3d
        np.testing.assert_allclose(a.numpy(), ref_pool3d(x, (2, 2, 3), (1, 2, 3), "VALID",
                                                         False), rtol=1e-5, atol=1e-6)
        m = tf.nn.max_pool(x, 2, 2, "SAME")
        np.testing.assert_allclose(m.numpy(), ref_pool3d(x, (2, 2, 2), (2, 2, 2), "SAME", True),
                                   rtol=1e-6)
        w = rng.standard_normal((2, 2, 2, 3, 2)).astype(F32)
        c = tf.nn.convolution(x, w, padding="SAME")
        np.testing.assert_allclose(c.numpy(), ref_conv3d(x, w, (1, 1, 1), (1, 1, 1), "SAME"),
                                   rtol=1e-4, atol=1e-4)
    # the 2-D entries still work
    x4 = rng.standard_normal((1, 4, 4, 2)).astype(F32)
    assert tuple(tf.nn.max_pool(x4, 2, 2, "VALID").shape) == (1, 2, 2, 2)


def test_max_pool3d_same_ignores_padding_with_negative_inputs(where):
    """All inputs negative: a padded zero must never win a SAME window."""
    x = -np.arange(1, 1 + 2 * 3 * 3 * 2, dtype=F32).reshape(1, 2, 3, 3, 2)
    with tf.device(where):
        y = tf.nn.max_pool3d(x, 3, 1, "SAME").numpy()
    np.testing.assert_array_equal(y, ref_pool3d(x, (3, 3, 3), (1, 1, 1), "SAME", True))
    assert (y < 0).all()


def test_conv3d_reused_input_accumulates(where, rng):
    x = rng.standard_normal((1, 3, 4, 3, 2))
    w = rng.standard_normal((2, 2, 2, 2, 2))
    dy = np.ones(ref_conv3d(x, w, (1, 1, 1), (1, 1, 1), "VALID").shape)
    dx_ref, dw_ref = ref_conv3d_grads(x, w, dy, (1, 1, 1), (1, 1, 1), "VALID")
    with tf.device(where):
        xt, wt = tf.constant(x), tf.constant(w)
        with tf.GradientTape() as tape:
            tape.watch([xt, wt])
            y = tf.nn.conv3d(xt, wt, 1, "VALID") + tf.nn.conv3d(xt, wt, 1, "VALID")
            loss = tf.reduce_sum(y)
        dx, dw = tape.gradient(loss, [xt, wt])
    np.testing.assert_allclose(dx.numpy(), 2 * dx_ref, rtol=1e-10)
    np.testing.assert_allclose(dw.numpy(), 2 * dw_ref, rtol=1e-10)


# ------------------------------------------------------------------------------ op errors
def test_op_errors_name_the_op_and_shapes():
    x = np.zeros((1, 4, 4, 4, 3), F32)
    w = np.zeros((2, 2, 2, 3, 5), F32)
    with pytest.raises(ValueError, match=r"\[conv3d\] input must be 5-D \(N, D, H, W, C\), got "
                                         r"shape \(2, 3\)"):
        tf.nn.conv3d(np.zeros((2, 3), F32), w, 1, "VALID")
    with pytest.raises(ValueError, match=r"\[conv3d\] filters must be 5-D .*\(2, 2, 3, 5\)"):
        tf.nn.conv3d(x, np.zeros((2, 2, 3, 5), F32), 1, "VALID")
    with pytest.raises(ValueError, match=r"\[conv3d\] input has 2 channels but filters "
                                         r"\(2, 2, 2, 3, 5\) expect 3 .*\(1, 4, 4, 4, 2\)"):
        tf.nn.conv3d(np.zeros((1, 4, 4, 4, 2), F32), w, 1, "VALID")
    with pytest.raises(ValueError, match=r"\[conv3d\] filter 5x2x2 .* larger than the padded "
                                         r"input 4x4x4"):
        tf.nn.conv3d(x, np.zeros((5, 2, 2, 3, 1), F32), 1, "VALID")
    with pytest.raises(ValueError, match=r"\[conv3d\] padding must be 'SAME' or 'VALID'"):
        tf.nn.conv3d(x, w, 1, "CAUSAL")
    with pytest.raises(ValueError, match=r"\[conv3d\] strides .* must be 1 in the batch"):
        tf.nn.conv3d(x, w, [2, 1, 1, 1, 1], "VALID")
    with pytest.raises(ValueError, match=r"\[conv3d\] data_format"):
        tf.nn.conv3d(x, w, 1, "VALID", data_format="NHWC")
    with pytest.raises(TypeError, match=r"\[conv3d\] input and filters dtypes differ"):
        tf.nn.conv3d(x, w.astype(F64), 1, "VALID")
    u = np.zeros((1, 3, 3, 3, 5), F32)
    with pytest.raises(ValueError, match=r"\[conv3d_transpose\] input spatial shape \(3, 3, 3\) "
                                         r"does not match output_shape \(1, 6, 4, 4, 3\)"):
        tf.nn.conv3d_transpose(u, w, [1, 6, 4, 4, 3], 1, "VALID")
    with pytest.raises(ValueError, match=r"\[conv3d_transpose\] filters \(2, 2, 2, 3, 5\) .* "
                                         r"output channels 4"):
        tf.nn.conv3d_transpose(u, w, [1, 4, 4, 4, 4], 1, "VALID")
    with pytest.raises(ValueError, match=r"\[conv3d_transpose\] output_shape must have 5 values"):
        tf.nn.conv3d_transpose(u, w, [1, 4, 4, 3], 1, "VALID")
    with pytest.raises(ValueError, match=r"\[max_pool3d\] input must be 5-D .*\(1, 4, 4, 3\)"):
        tf.nn.max_pool3d(np.zeros((1, 4, 4, 3), F32), 2, 2, "VALID")
    with pytest.raises(ValueError, match=r"\[avg_pool3d\] window 5x2x2 is larger than the padded "
                                         r"input 4x4x4"):
        tf.nn.avg_pool3d(x, [5, 2, 2], 1, "VALID")
    with pytest.raises(ValueError, match=r"\[avg_pool\] input must be 3-D, 4-D or 5-D"):
        tf.nn.avg_pool(np.zeros((2, 2), F32), 1, 1, "VALID")


# ------------------------------------------------------------------------------ layers
def _layer_out(layer, x):
    return layer(tf.constant(x)).numpy()


def test_conv3d_layer_matches_reference_and_channels_first(rng):
    x = rng.standard_normal((2, 5, 6, 4, 3)).astype(F32)
    lay = L.Conv3D(4, (3, 2, 2), strides=(2, 1, 2), padding="same", dilation_rate=1,
                   activation="relu", bias_initializer="glorot_uniform")
    y = _layer_out(lay, x)
    assert lay.kernel.shape == (3, 2, 2, 3, 4) and lay.bias.shape == (4,)
    assert [v.name.split("/")[-1].split(":")[0] for v in lay.weights] == ["kernel", "bias"]
    k, b = lay.get_weights()
    np.testing.assert_allclose(y, np.maximum(ref_conv3d(x, k, (2, 1, 2), (1, 1, 1), "SAME") + b,
                                             0), rtol=1e-4, atol=1e-5)
    cf = L.Conv3D(4, (3, 2, 2), strides=(2, 1, 2), padding="same", activation="relu",
                  data_format="channels_first")
    cf.build((None, 3, 5, 6, 4))
    cf.set_weights([k, b])
    ycf = _layer_out(cf, x.transpose(0, 4, 1, 2, 3).copy())
    np.testing.assert_allclose(ycf, y.transpose(0, 4, 1, 2, 3), rtol=1e-5, atol=1e-5)
    # groups: each half of the channels convolved by its half of the kernel
    xg = rng.standard_normal((1, 4, 4, 4, 4)).astype(F32)
    g = L.Conv3D(6, 2, groups=2, use_bias=False)
    yg = _layer_out(g, xg)
    kg = g.get_weights()[0]
    assert kg.shape == (2, 2, 2, 2, 6)
    ref = np.concatenate([ref_conv3d(xg[..., :2], kg[..., :3], (1, 1, 1), (1, 1, 1), "VALID"),
                          ref_conv3d(xg[..., 2:], kg[..., 3:], (1, 1, 1), (1, 1, 1), "VALID")],
                         axis=-1)
    np.testing.assert_allclose(yg, ref, rtol=1e-4, atol=1e-5)


def test_conv3d_transpose_layer_matches_reference(rng):
    x = rng.standard_normal((2, 3, 4, 2, 3)).astype(F32)
    lay = L.Conv3DTranspose(2, (2, 3, 3), strides=(2, 1, 2), padding="same",
                            bias_initializer="ones")
    y = _layer_out(lay, x)
    k, b = lay.get_weights()
    assert k.shape == (2, 3, 3, 2, 3)
    assert y.shape == (2, 6, 4, 4, 2)
    np.testing.assert_allclose(y, ref_conv3d_transpose(x, k, (6, 4, 4), (2, 1, 2), (1, 1, 1),
                                                       "SAME") + b, rtol=1e-4, atol=1e-5)
    v = L.Conv3DTranspose(2, 3, strides=2, padding="valid", output_padding=(1, 0, 1))
    yv = _layer_out(v, x)
    assert yv.shape == (2, 8, 9, 6, 2)         # (n - 1) * s + k + output_padding
    kv, bv = v.get_weights()
    np.testing.assert_allclose(yv, ref_conv3d_transpose(x, kv, (8, 9, 6), (2, 2, 2), (1, 1, 1),
                                                        "VALID") + bv, rtol=1e-4, atol=1e-5)
    cf = L.Conv3DTranspose(2, (2, 3, 3), strides=(2, 1, 2), padding="same",
                           data_format="channels_first")
    cf.build((None, 3, 3, 4, 2))
    cf.set_weights([k, b])
    np.testing.assert_allclose(_layer_out(cf, x.transpose(0, 4, 1, 2, 3).copy()),
                               y.transpose(0, 4, 1, 2, 3), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("layer,in_shape,out_shape", [
    (lambda: L.Conv3D(5, 3), (None, 6, 7, 8, 2), (None, 4, 5, 6, 5)),
    (lambda: L.Conv3D(5, (3, 1, 2), strides=(2, 1, 3), padding="same"), (None, 6, 7, 8, 2),
     (None, 3, 7, 3, 5)),
    (lambda: L.Conv3D(4, 3, dilation_rate=(2, 1, 1)), (None, 6, 7, 8, 2), (None, 2, 5, 6, 4)),
    (lambda: L.Conv3D(4, 2, data_format="channels_first"), (None, 2, 5, 6, 7),
     (None, 4, 4, 5, 6)),
    (lambda: L.Conv3DTranspose(3, 3, strides=2), (None, 3, 4, 5, 2), (None, 7, 9, 11, 3)),
    (lambda: L.Conv3DTranspose(3, 3, strides=(1, 2, 3), padding="same"), (None, 3, 4, 5, 2),
     (None, 3, 8, 15, 3)),
    (lambda: L.MaxPooling3D(), (None, 6, 7, 8, 2), (None, 3, 3, 4, 2)),
    (lambda: L.MaxPool3D((3, 2, 2), strides=1, padding="same"), (None, 6, 7, 8, 2),
     (None, 6, 7, 8, 2)),
    (lambda: L.AveragePooling3D((2, 3, 3), strides=(1, 2, 2)), (None, 6, 7, 8, 2),
     (None, 5, 3, 3, 2)),
    (lambda: L.AvgPool3D(2, data_format="channels_first"), (None, 2, 6, 7, 8),
     (None, 2, 3, 3, 4)),
    (lambda: L.GlobalAveragePooling3D(), (None, 3, 4, 5, 6), (None, 6)),
    (lambda: L.GlobalMaxPool3D(keepdims=True), (None, 3, 4, 5, 6), (None, 1, 1, 1, 6)),
    (lambda: L.GlobalAvgPool3D(data_format="channels_first"), (None, 6, 3, 4, 5), (None, 6)),
])
def test_layer_output_shapes(layer, in_shape, out_shape):
    lay = layer()
    assert tuple(lay.compute_output_shape(in_shape)) == out_shape
    x = np.random.default_rng(0).standard_normal((2,) + in_shape[1:]).astype(F32)
    assert lay(tf.constant(x)).shape == (2,) + out_shape[1:]


def test_pool_and_global_pool_layers_values(rng):
    x = rng.standard_normal((2, 5, 4, 6, 3)).astype(F32)
    np.testing.assert_allclose(_layer_out(L.MaxPooling3D((2, 3, 2), padding="same"), x),
                               ref_pool3d(x, (2, 3, 2), (2, 3, 2), "SAME", True), rtol=1e-6)
    np.testing.assert_allclose(_layer_out(L.AveragePooling3D(3, strides=2, padding="same"), x),
                               ref_pool3d(x, (3, 3, 3), (2, 2, 2), "SAME", False),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_layer_out(L.GlobalMaxPooling3D(), x), x.max(axis=(1, 2, 3)))
    np.testing.assert_allclose(_layer_out(L.GlobalAveragePooling3D(), x), x.mean(axis=(1, 2, 3)),
                               rtol=1e-5, atol=1e-6)


def test_layer_config_round_trip():
    lay = L.Conv3D(4, (3, 2, 1), strides=(1, 2, 1), padding="same", dilation_rate=(2, 1, 1),
                   activation="tanh", use_bias=False, kernel_regularizer="l2", name="c3")
    cfg = lay.get_config()
    assert cfg["kernel_size"] == (3, 2, 1) and cfg["strides"] == (1, 2, 1)
    assert cfg["dilation_rate"] == (2, 1, 1) and cfg["padding"] == "same"
    again = L.Conv3D.from_config(cfg)
    assert again.get_config() == cfg
    t = L.Conv3DTranspose(3, 2, strides=2, output_padding=1, name="t3")
    tc = t.get_config()
    assert tc["output_padding"] == (1, 1, 1) and tc["strides"] == (2, 2, 2)
    assert L.Conv3DTranspose.from_config(tc).get_config() == tc
    p = L.MaxPooling3D((1, 2, 2), padding="same", name="p3")
    assert L.MaxPooling3D.from_config(p.get_config()).get_config() == p.get_config()
    assert L.deserialize(L.serialize(L.GlobalAvgPool3D(keepdims=True))).keepdims is True
    assert L.Convolution3D is L.Conv3D and L.Convolution3DTranspose is L.Conv3DTranspose


def test_layer_errors_name_the_layer_and_shapes():
    with pytest.raises(ValueError, match=r"\[c\] expected input of rank 5, got shape "
                                         r"\(2, 4, 4, 3\)"):
        L.Conv3D(2, 2, name="c")(tf.constant(np.zeros((2, 4, 4, 3), F32)))
    c = L.Conv3D(2, 2, name="cc")
    c(tf.constant(np.zeros((1, 3, 3, 3, 3), F32)))
    with pytest.raises(ValueError, match=r"\[cc\] expected axis -1 of the input to have value 3"
                                         r".*\(1, 3, 3, 3, 4\)"):
        c(tf.constant(np.zeros((1, 3, 3, 3, 4), F32)))
    with pytest.raises(ValueError, match=r"\[p\] expected input of rank 5, got shape \(2, 4, 3\)"):
        L.MaxPooling3D(name="p")(tf.constant(np.zeros((2, 4, 3), F32)))
    with pytest.raises(ValueError, match=r"\[g\] expected input of rank 5"):
        L.GlobalAveragePooling3D(name="g")(tf.constant(np.zeros((2, 4, 3, 3), F32)))
    with pytest.raises(ValueError, match=r"kernel_size must be .* tuple of 3"):
        L.Conv3D(2, (2, 2))
    with pytest.raises(ValueError, match=r"padding must be one of"):
        L.Conv3D(2, 2, padding="causal")
    with pytest.raises(ValueError, match=r"\[t\] strides \(2, 2, 2\) must be greater than output "
                                         r"padding. Received: output_padding=\(2, 0, 0\)"):
        L.Conv3DTranspose(2, 3, strides=2, output_padding=(2, 0, 0), name="t")
    with pytest.raises(ValueError, match=r"groups"):
        L.Conv3D(3, 2, groups=2)                       # filters not divisible by groups


def test_sequential_conv3d_fits(rng):
    tf.keras.utils.set_random_seed(0)
    n = 32
    x = rng.standard_normal((n, 4, 6, 6, 1)).astype(F32)
    yv = (x[:, :2].mean(axis=(1, 2, 3, 4)) > x[:, 2:].mean(axis=(1, 2, 3, 4))).astype(F32)
    model = tf.keras.Sequential([
        tf.keras.Input((4, 6, 6, 1)),
        L.Conv3D(4, 3, padding="same", activation="relu"),
        L.MaxPooling3D((2, 2, 2)),
        L.GlobalAveragePooling3D(),
        L.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer=tf.keras.optimizers.Adam(0.05), loss="binary_crossentropy")
    before = model.evaluate(x, yv, verbose=0)
    hist = model.fit(x, yv, epochs=6, batch_size=8, verbose=0)
    after = model.evaluate(x, yv, verbose=0)
    assert np.isfinite(hist.history["loss"]).all()
    assert after < before, (before, hist.history["loss"], after)


@pytest.mark.parametrize("ext", [".keras", ".h5"])
def test_save_load_round_trip(tmp_path, ext, rng):
    pytest.importorskip("h5py")
    tf.keras.utils.set_random_seed(1)
    model = tf.keras.Sequential([
        tf.keras.Input((4, 5, 6, 2)),
        L.Conv3D(3, (2, 3, 3), strides=(1, 2, 1), padding="same", activation="relu"),
        L.Conv3DTranspose(2, 2, strides=(2, 1, 1), output_padding=(1, 0, 0)),
        L.AveragePooling3D((2, 1, 2)),
        L.MaxPool3D(1),
        L.GlobalMaxPooling3D(),
        L.Dense(2),
    ])
    model.compile(optimizer="adam", loss="mse")
    x = rng.standard_normal((3, 4, 5, 6, 2)).astype(F32)
    before = model.predict(x, verbose=0)
    path = str(tmp_path / f"m{ext}")
    model.save(path)
    loaded = tf.keras.models.load_model(path)
    assert [type(a).__name__ for a in loaded.layers] == [type(a).__name__ for a in model.layers]
    assert loaded.layers[0].get_config() == model.layers[0].get_config()
    assert loaded.layers[1].get_config() == model.layers[1].get_config()
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), before)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
