"""tf.math.igamma, igammac, betainc, lbeta, polygamma, zeta, nextafter
(python/nabi/ops/special_more_ops.py) and tf.random.gamma's gradient, against scipy.special (a
test extra) and NumPy: forward, gradients (analytic where scipy has the derivative, central
differences of scipy otherwise), float32 and float64, on the CPU and the (emulated) GPU through
conftest's `where` fixture.
"""
import numpy as np
import pytest

import nabi as tf

sp = pytest.importorskip("scipy.special")

FLOATS = [np.float32, np.float64]
RTOL = {np.float32: 2e-5, np.float64: 1e-11}


def _close(got, want, dtype, rtol=None):
    rtol = RTOL[dtype] if rtol is None else rtol
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape
    assert np.array_equal(np.isnan(got), np.isnan(want)), (got, want)
    inf = np.isinf(want)
    assert np.array_equal(got[inf], want[inf]), (got, want)
    fin = np.isfinite(want)
    tiny = np.finfo(dtype).tiny * 1e3
    np.testing.assert_allclose(got[fin], want[fin], rtol=rtol, atol=tiny)


def _on(where, t):
    if where != "/CPU:0":
        assert "GPU" in t.device
    return t.numpy()


rs = np.random.default_rng(7)
_A = np.concatenate([np.exp(rs.uniform(np.log(0.05), np.log(150), 60)), [0.5, 1.0, 3.0, 40.0]])
_X = np.concatenate([np.exp(rs.uniform(np.log(1e-3), np.log(300), 60)), [0.5, 2.0, 5.0, 39.0]])


# -------------------------------------------------------------------------- igamma, igammac
@pytest.mark.parametrize("dtype", FLOATS)
def test_igamma_forward(where, dtype):
    a, x = _A.astype(dtype), _X.astype(dtype)
    with tf.device(where):
        p = tf.math.igamma(tf.constant(a), tf.constant(x))
        q = tf.math.igammac(tf.constant(a), tf.constant(x))
    assert p.dtype == tf.as_dtype(dtype)
    _close(_on(where, p), sp.gammainc(a.astype(np.float64), x.astype(np.float64)), dtype)
    _close(_on(where, q), sp.gammaincc(a.astype(np.float64), x.astype(np.float64)), dtype)


def test_igamma_edges_and_broadcast():
    a = np.array([0., -1, 1, 1, 1, 2, 2.5], np.float64)
    x = np.array([1., 1, 0, -1, np.inf, np.nan, 0], np.float64)
    p = tf.math.igamma(a, x).numpy()
    np.testing.assert_array_equal(p, [np.nan, np.nan, 0, np.nan, 1, np.nan, 0])
    q = tf.math.igammac(a, x).numpy()
    np.testing.assert_array_equal(q, [np.nan, np.nan, 1, np.nan, 0, np.nan, 1])
    a2 = np.array([[0.5], [2.0], [7.0]])
    x2 = np.array([0.1, 1.0, 9.0, 30.0])
    _close(tf.math.igamma(tf.constant(a2), tf.constant(x2)).numpy(), sp.gammainc(a2, x2),
           np.float64)


def _fd_p_a(a, x, h=1e-6):
    """dP/da by scipy central differences, of P where P < 1/2, else of -Q (no cancellation)."""
    hh = h * a
    fp = (sp.gammainc(a + hh, x) - sp.gammainc(a - hh, x)) / (2 * hh)
    fq = -(sp.gammaincc(a + hh, x) - sp.gammaincc(a - hh, x)) / (2 * hh)
    return np.where(sp.gammainc(a, x) < 0.5, fp, fq)


@pytest.mark.parametrize("dtype", FLOATS)
def test_igamma_gradients(where, dtype):
    a = np.array([[0.3, 2.0, 3.0], [7.5, 40.0, 0.9]])
    x = np.array([0.2, 5.0, 35.0])  # broadcast over a's rows
    with tf.device(where):
        at, xt = tf.constant(a.astype(dtype)), tf.constant(x.astype(dtype))
        with tf.GradientTape(persistent=True) as tape:
            tape.watch([at, xt])
            p = tf.math.igamma(at, xt)
            q = tf.math.igammac(at, xt)
            lp = tf.reduce_sum(p * np.arange(1.0, 7.0).reshape(2, 3).astype(dtype))
        ga, gx = tape.gradient(lp, [at, xt])
        qa, qx = tape.gradient(q, [at, xt])
    w = np.arange(1.0, 7.0).reshape(2, 3)
    fda = _fd_p_a(a, x)
    pdf = np.exp((a - 1) * np.log(x) - x - sp.gammaln(a))
    tol = 1e-4 if dtype == np.float32 else 1e-6
    np.testing.assert_allclose(_on(where, ga), w * fda, rtol=tol, atol=1e-12)
    np.testing.assert_allclose(_on(where, gx), (w * pdf).sum(0), rtol=tol, atol=1e-12)
    np.testing.assert_allclose(_on(where, qa), -fda, rtol=tol, atol=1e-12)
    np.testing.assert_allclose(_on(where, qx), -pdf.sum(0), rtol=tol, atol=1e-12)


def test_igamma_grad_a_accuracy():
    # the a-gradient is accurate far beyond finite differences: against Richardson-extrapolated
    # central differences of scipy in float64 (error ~1e-10)
    from nabi.ops.special_more_ops import igamma_grad_a_np
    a = np.array([0.2, 1.0, 2.5, 10.0, 60.0, 3.0])
    x = np.array([0.05, 3.0, 1.0, 12.0, 55.0, 5.0])

    def d(hh):
        return (sp.gammainc(a + hh, x) - sp.gammainc(a - hh, x)) / (2 * hh)
    h = 1e-3 * a
    ref = (4 * d(h / 2) - d(h)) / 3
    np.testing.assert_allclose(igamma_grad_a_np(a, x), ref, rtol=1e-7)


# ---------------------------------------------------------------------------------- betainc
@pytest.mark.parametrize("dtype", FLOATS)
def test_betainc_forward_and_grad(where, dtype):
    a = np.exp(rs.uniform(np.log(0.1), np.log(60), 40))
    b = np.exp(rs.uniform(np.log(0.1), np.log(60), 40))
    x = rs.uniform(0.001, 0.999, 40)
    want = sp.betainc(a, b, x)
    with tf.device(where):
        at, bt, xt = (tf.constant(v.astype(dtype)) for v in (a, b, x))
        with tf.GradientTape() as tape:
            tape.watch([at, bt, xt])
            y = tf.math.betainc(at, bt, xt)
        ga, gb, gx = tape.gradient(y, [at, bt, xt])
    _close(_on(where, y), sp.betainc(*(v.astype(dtype).astype(np.float64) for v in (a, b, x))),
           dtype, 1e-4 if dtype == np.float32 else 1e-10)
    assert ga is None and gb is None  # (TF has no gradient for a and b)
    a64, b64, x64 = (v.astype(dtype).astype(np.float64) for v in (a, b, x))
    dens = x64 ** (a64 - 1) * (1 - x64) ** (b64 - 1) / sp.beta(a64, b64)
    np.testing.assert_allclose(_on(where, gx), dens, rtol=1e-4 if dtype == np.float32 else 1e-9,
                               atol=np.finfo(dtype).tiny * 1e3)
    assert want.shape == (40,)


def test_betainc_edges_scalars_and_shape_error():
    y = tf.math.betainc(tf.constant([0., 1, 1, 1, 1, 2], tf.float64),
                        tf.constant([1., 1, 1, 0, 1, 3], tf.float64),
                        tf.constant([.5, 0, 1, .5, 1.5, .3], tf.float64)).numpy()
    np.testing.assert_allclose(y, [np.nan, 0, 1, np.nan, np.nan, sp.betainc(2, 3, .3)])
    x = np.array([[0.1, 0.5], [0.7, 0.99]])
    _close(tf.math.betainc(2.0, 3.5, tf.constant(x)).numpy(), sp.betainc(2.0, 3.5, x),
           np.float64)
    with pytest.raises(ValueError, match=r"betainc.*\(2,\).*\(3,\)"):
        tf.math.betainc(tf.constant([1., 2]), tf.constant([1., 2, 3]), tf.constant([.5, .5]))


# --------------------------------------------------------------------------- zeta, polygamma
@pytest.mark.parametrize("dtype", FLOATS)
def test_zeta_forward_and_grad(where, dtype):
    s = rs.uniform(1.05, 15, 30)
    q = np.exp(rs.uniform(np.log(0.05), np.log(80), 30))
    s64, q64 = s.astype(dtype).astype(np.float64), q.astype(dtype).astype(np.float64)
    with tf.device(where):
        st, qt = tf.constant(s.astype(dtype)), tf.constant(q.astype(dtype))
        with tf.GradientTape() as tape:
            tape.watch([st, qt])
            z = tf.math.zeta(st, qt)
        gs, gq = tape.gradient(z, [st, qt])
    _close(_on(where, z), sp.zeta(s64, q64), dtype, 1e-5 if dtype == np.float32 else 1e-12)
    assert gs is None
    np.testing.assert_allclose(_on(where, gq), -s64 * sp.zeta(s64 + 1, q64),
                               rtol=1e-5 if dtype == np.float32 else 1e-12)


def test_zeta_edges():
    z = tf.math.zeta(tf.constant([1., 0.5, 2, 2, 2, 2, 3], tf.float64),
                     tf.constant([1., 1, 0, -1, -1.5, 1, -2.5], tf.float64)).numpy()
    ref = [np.inf, np.nan, np.inf, np.inf, sp.zeta(2, -1.5), np.pi ** 2 / 6, sp.zeta(3, -2.5)]
    _close(z, ref, np.float64)
    # TF's (Eigen's) poles: +inf for an even integer x only; x = inf leaves 1^-inf = 1
    z = tf.math.zeta(tf.constant([3., 2.5, 4, np.inf], tf.float64),
                     tf.constant([-1., 0, -2, 1], tf.float64)).numpy()
    np.testing.assert_array_equal(z, [np.nan, np.nan, np.inf, 1.0])


def test_more_edges_as_tf():
    np.testing.assert_array_equal(tf.math.igamma(np.inf, 2.0).numpy(), 0.0)
    np.testing.assert_array_equal(tf.math.igammac(np.inf, 2.0).numpy(), 1.0)
    pg = tf.math.polygamma(tf.constant([0., 0, 1, 2]), tf.constant([0., -1, 0, 0])).numpy()
    np.testing.assert_array_equal(pg, [np.nan, np.nan, np.inf, np.nan])
    # b -> 0: I_x(a, b) ~ b, no cancellation against 1 (the power series branch)
    np.testing.assert_allclose(tf.math.betainc(0.5, 1e-300, tf.constant(0.7, tf.float64)),
                               sp.betainc(0.5, 1e-300, 0.7), rtol=1e-12)


@pytest.mark.parametrize("dtype", FLOATS)
def test_polygamma_forward_and_grad(where, dtype):
    n = np.array([0., 1, 2, 3, 4, 1, 0, 5])
    x = np.array([2.0, 0.3, 7.5, 1.2, 25.0, -1.5, -0.5, 3.3])
    x64 = x.astype(dtype).astype(np.float64)
    with tf.device(where):
        nt, xt = tf.constant(n.astype(dtype)), tf.constant(x.astype(dtype))
        with tf.GradientTape() as tape:
            tape.watch([nt, xt])
            y = tf.math.polygamma(nt, xt)
        gn, gx = tape.gradient(y, [nt, xt])
    tol = 1e-5 if dtype == np.float32 else 1e-11
    _close(_on(where, y), sp.polygamma(n.astype(int), x64), dtype, tol)
    assert gn is None
    np.testing.assert_allclose(_on(where, gx), sp.polygamma(n.astype(int) + 1, x64), rtol=tol)
    bad = tf.math.polygamma(tf.constant([1.5, -1.0, 1.0]), tf.constant([2.0, 2.0, 0.0])).numpy()
    assert np.isnan(bad[0]) and np.isnan(bad[1]) and bad[2] == np.inf


def test_polygamma_second_order():
    x = tf.constant([1.5, 4.0], tf.float64)
    with tf.GradientTape() as t2:
        t2.watch(x)
        with tf.GradientTape() as t1:
            t1.watch(x)
            y = tf.math.polygamma(tf.constant([1.0, 2.0], tf.float64), x)
        g = t1.gradient(y, x)
    np.testing.assert_allclose(t2.gradient(g, x).numpy(), sp.polygamma([3, 4], [1.5, 4.0]),
                               rtol=1e-11)


def test_polygamma_dtype_errors():
    with pytest.raises(TypeError, match="polygamma"):
        tf.math.polygamma(tf.constant(1), tf.constant(2.0))
    with pytest.raises(TypeError, match="polygamma.*float32.*float64"):
        tf.math.polygamma(tf.constant(1.0), tf.constant(2.0, tf.float64))
    with pytest.raises(ValueError, match=r"zeta.*\(2,\).*\(3,\)"):
        tf.math.zeta(tf.constant([2., 3]), tf.constant([1., 2, 3]))


# ---------------------------------------------------------------------------------- lbeta
@pytest.mark.parametrize("dtype", FLOATS)
def test_lbeta(where, dtype):
    x = np.exp(rs.uniform(np.log(0.2), np.log(20), (3, 4)))
    x64 = x.astype(dtype).astype(np.float64)
    with tf.device(where):
        xt = tf.constant(x.astype(dtype))
        with tf.GradientTape() as tape:
            tape.watch(xt)
            y = tf.math.lbeta(xt)
        g = tape.gradient(y, xt)
    want = sp.gammaln(x64).sum(-1) - sp.gammaln(x64.sum(-1))
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(_on(where, y), want, rtol=tol, atol=tol)
    np.testing.assert_allclose(_on(where, g), sp.digamma(x64) - sp.digamma(x64.sum(-1))[:, None],
                               rtol=tol * 10, atol=tol * 10)
    assert np.all(tf.math.lbeta(tf.zeros((2, 0))).numpy() == -np.inf)


# ------------------------------------------------------------------------------ nextafter
@pytest.mark.parametrize("dtype", FLOATS)
def test_nextafter(where, dtype):
    a = np.array([1.0, 0.0, -2.5, 3.0, np.inf], dtype)
    b = np.array([2.0, -1.0, -2.5, 0.0, 0.0], dtype)
    with tf.device(where):
        y = tf.math.nextafter(tf.constant(a), tf.constant(b))
        y2 = tf.math.nextafter(tf.constant(a), 2.0)
    assert y.dtype == tf.as_dtype(dtype)
    np.testing.assert_array_equal(_on(where, y), np.nextafter(a, b))
    np.testing.assert_array_equal(_on(where, y2), np.nextafter(a, dtype(2.0)))


# ----------------------------------------------------------------------- random.gamma grad
def _implicit_grad_ref(alpha, x):
    """-(dF/dalpha)/(dF/dx), F = scipy's gamma CDF, both by central differences."""
    hx = 1e-6 * x
    dfa = _fd_p_a(alpha, x)
    dfx = (sp.gammainc(alpha, x + hx) - sp.gammainc(alpha, x - hx)) / (2 * hx)
    return -dfa / dfx


@pytest.mark.parametrize("dtype", FLOATS)
def test_random_gamma_gradient(dtype):
    alpha = tf.constant(np.array([0.7, 2.0, 9.0], dtype))
    beta = tf.constant(np.array([[2.0], [0.5]], dtype))
    w = np.arange(1.0, 4 * 2 * 3 + 1).reshape(4, 2, 3).astype(dtype)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([alpha, beta])
        s = tf.random.gamma([4], alpha, beta=beta, dtype=tf.as_dtype(dtype), seed=3)
        loss = tf.reduce_sum(s * w)
    assert tuple(s.shape) == (4, 2, 3)
    ga, gb = tape.gradient(loss, [alpha, beta])
    sv = s.numpy().astype(np.float64)
    b64 = beta.numpy().astype(np.float64)
    std = sv * b64  # standard Gamma(alpha) samples
    a64 = np.broadcast_to(alpha.numpy().astype(np.float64), std.shape)
    ref_a = (w * _implicit_grad_ref(a64, std) / b64).sum(axis=(0, 1))
    ref_b = (w * -sv / b64).sum(axis=(0, 2)).reshape(2, 1)
    tol = 2e-3 if dtype == np.float32 else 1e-5
    np.testing.assert_allclose(ga.numpy(), ref_a, rtol=tol)
    np.testing.assert_allclose(gb.numpy(), ref_b, rtol=tol)
    assert tape.gradient(s, alpha).dtype == tf.as_dtype(dtype)


def test_random_gamma_no_tape_and_plain_alpha():
    s = tf.random.gamma([5], 2.0, seed=1)
    assert tuple(s.shape) == (5,) and s.dtype == tf.float32 and np.all(s.numpy() > 0)


# ---------------------------------------------------------------- diagonal bands (linalg)
def _ref_offset(d, max_len, m, n, align):
    sup, sub = align.split("_")
    dl = min(m + min(0, d), n - max(0, d))
    return max_len - dl if (d >= 0 and sup == "RIGHT") or (d <= 0 and sub == "RIGHT") else 0


def _ref_diag_part(x, k0, k1, pad, align):
    """TF's MatrixDiagPartV3 definition, element by element."""
    m, n = x.shape[-2:]
    max_len = min(m + min(k1, 0), n - max(k0, 0))
    out = np.full(x.shape[:-2] + (k1 - k0 + 1, max_len), pad, x.dtype)
    for j in range(k1 - k0 + 1):
        d = k1 - j
        off = _ref_offset(d, max_len, m, n, align)
        for p in range(max_len):
            r, c = p + max(-d, 0) - off, p + max(d, 0) - off
            if 0 <= r < m and 0 <= c < n:
                out[..., j, p] = x[..., r, c]
    return out[..., 0, :] if k0 == k1 else out


def _ref_set(x, diag, k0, k1, align):
    m, n = x.shape[-2:]
    max_len = min(m + min(k1, 0), n - max(k0, 0))
    out = x.copy()
    dg = diag[..., None, :] if k0 == k1 else diag
    for r in range(m):
        for c in range(n):
            d = c - r
            if k0 <= d <= k1:
                out[..., r, c] = dg[..., k1 - d, min(r, c) + _ref_offset(d, max_len, m, n, align)]
    return out


_KS = [1, -1, 2, (-1, 1), (0, 2), (-2, 0), (1, 3), (-2, -1), (0, 0)]
_ALIGNS = ["RIGHT_LEFT", "LEFT_RIGHT", "LEFT_LEFT", "RIGHT_RIGHT"]


@pytest.mark.parametrize("align", _ALIGNS)
@pytest.mark.parametrize("k", _KS)
def test_diag_part_diag_set_diag(k, align):
    x = np.arange(2 * 3 * 4, dtype=np.float64).reshape(2, 3, 4) + 1
    k0, k1 = (k, k) if isinstance(k, int) else k
    want = _ref_diag_part(x, k0, k1, 9.0, align)
    d = tf.linalg.diag_part(tf.constant(x), k=k, padding_value=9, align=align)
    np.testing.assert_array_equal(d.numpy(), want)
    # diag builds the 3 x 4 matrices back (band entries from x, the rest the padding)
    m = tf.linalg.diag(tf.constant(want), k=k, num_rows=3, num_cols=4, padding_value=-1,
                       align=align).numpy()
    np.testing.assert_array_equal(m, _ref_set(np.full_like(x, -1), want, k0, k1, align))
    s = tf.linalg.set_diag(tf.constant(x), tf.constant(want * 100), k=k, align=align).numpy()
    np.testing.assert_array_equal(s, _ref_set(x, want * 100, k0, k1, align))


def test_diag_inferred_sizes_and_errors():
    v = np.arange(1, 4.0)
    np.testing.assert_array_equal(tf.linalg.diag(v, k=1).numpy(), np.diag(v, 1))
    np.testing.assert_array_equal(tf.linalg.diag(v, k=-2).numpy(), np.diag(v, -2))
    np.testing.assert_array_equal(tf.linalg.diag(v, k=1, num_cols=5).numpy(),
                                  _ref_set(np.zeros((3, 5)), v, 1, 1, "RIGHT_LEFT"))
    np.testing.assert_array_equal(tf.linalg.diag(v, num_rows=3, num_cols=5).numpy(),
                                  np.eye(3, 5) * v[:, None])
    with pytest.raises(ValueError, match="diag"):
        tf.linalg.diag(v, num_rows=5, num_cols=6)
    with pytest.raises(ValueError, match=r"set_diag.*\(2, 3\)"):
        tf.linalg.set_diag(tf.zeros((2, 3, 4)), tf.zeros((2, 4)))
    with pytest.raises(ValueError, match="diag_part.*k"):
        tf.linalg.diag_part(tf.zeros((3, 4)), k=(2, 1))
    with pytest.raises(ValueError, match="align"):
        tf.linalg.diag_part(tf.zeros((3, 4)), k=1, align="MIDDLE")


@pytest.mark.parametrize("dtype", FLOATS)
def test_diag_band_gradients(where, dtype):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 4, 3)).astype(dtype)
    dg = rng.normal(size=(2, 3, 3)).astype(dtype)  # band k=(-1, 1) of a 4 x 3 matrix
    w1 = rng.normal(size=(2, 3, 3))
    w2 = rng.normal(size=(2, 4, 3))
    with tf.device(where):
        xt, dt = tf.constant(x), tf.constant(dg)
        with tf.GradientTape(persistent=True) as tape:
            tape.watch([xt, dt])
            p = tf.reduce_sum(tf.linalg.diag_part(xt, k=(-1, 1)) * w1.astype(dtype))
            s = tf.reduce_sum(tf.linalg.set_diag(xt, dt, k=(-1, 1), align="LEFT_RIGHT")
                              * w2.astype(dtype))
        gp = tape.gradient(p, xt)
        gsx, gsd = tape.gradient(s, [xt, dt])
    ref = __import__("reference")
    x64, d64 = x.astype(np.float64), dg.astype(np.float64)

    def fp(a):
        return (_ref_diag_part(a, -1, 1, 0.0, "RIGHT_LEFT") * w1).sum()

    def fs(a, b):
        return (_ref_set(a, b, -1, 1, "LEFT_RIGHT") * w2).sum()
    np.testing.assert_allclose(_on(where, gp), ref.numeric_grad(fp, [x64], 0), atol=1e-6)
    np.testing.assert_allclose(_on(where, gsx), ref.numeric_grad(fs, [x64, d64], 0), atol=1e-6)
    np.testing.assert_allclose(_on(where, gsd), ref.numeric_grad(fs, [x64, d64], 1), atol=1e-6)


# ---------------------------------------------------------------------------- tridiagonal
def _ref_dense(dg):
    """(..., 3, M) compact diagonals -> (..., M, M), by loops."""
    m = dg.shape[-1]
    a = np.zeros(dg.shape[:-2] + (m, m))
    for i in range(m):
        a[..., i, i] = dg[..., 1, i]
        if i + 1 < m:
            a[..., i, i + 1] = dg[..., 0, i]
            a[..., i + 1, i] = dg[..., 2, i + 1]
    return a


@pytest.mark.parametrize("dtype", FLOATS)
def test_tridiagonal_matmul_and_solve(where, dtype):
    rng = np.random.default_rng(5)
    dg = rng.normal(size=(2, 3, 5))
    dg[:, 1] += 4.0
    rhs = rng.normal(size=(2, 5, 2))
    dg, rhs = dg.astype(dtype), rhs.astype(dtype)
    w = rng.normal(size=(2, 5, 2))
    with tf.device(where):
        dt, bt = tf.constant(dg), tf.constant(rhs)
        with tf.GradientTape(persistent=True) as tape:
            tape.watch([dt, bt])
            y = tf.linalg.tridiagonal_matmul(dt, bt)
            x = tf.linalg.tridiagonal_solve(dt, bt)
            ly, lx = (tf.reduce_sum(v * w.astype(dtype)) for v in (y, x))
        gyd, gyb = tape.gradient(ly, [dt, bt])
        gxd, gxb = tape.gradient(lx, [dt, bt])
        xs = tf.linalg.tridiagonal_solve([dt[:, 0], dt[:, 1], dt[:, 2]], bt,
                                         diagonals_format="sequence")
        xm = tf.linalg.tridiagonal_solve(tf.constant(_ref_dense(dg).astype(dtype)), bt,
                                         diagonals_format="matrix", partial_pivoting=False)
        xv = tf.linalg.tridiagonal_solve(dt, bt[..., 0])
        xtr = tf.linalg.tridiagonal_solve(dt, tf.constant(np.swapaxes(rhs, -1, -2)),
                                          transpose_rhs=True)
    d64, b64 = dg.astype(np.float64), rhs.astype(np.float64)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(_on(where, y), _ref_dense(d64) @ b64, **tol)
    want = np.linalg.solve(_ref_dense(d64), b64)
    for got in (x, xs, xm, xtr):
        np.testing.assert_allclose(_on(where, got), want, **tol)
    np.testing.assert_allclose(_on(where, xv), want[..., 0], **tol)
    ref = __import__("reference")

    def fy(a, b):
        return ((_ref_dense(a) @ b) * w).sum()

    def fx(a, b):
        return (np.linalg.solve(_ref_dense(a), b) * w).sum()
    gtol = dict(rtol=1e-3, atol=1e-3) if dtype == np.float32 else dict(rtol=1e-6, atol=1e-7)
    for got, f, i in ((gyd, fy, 0), (gyb, fy, 1), (gxd, fx, 0), (gxb, fx, 1)):
        np.testing.assert_allclose(_on(where, got), ref.numeric_grad(f, [d64, b64], i), **gtol)


def test_tridiagonal_errors():
    with pytest.raises(ValueError, match=r"tridiagonal_solve.*\(2, 5\)"):
        tf.linalg.tridiagonal_solve(tf.zeros((2, 5)), tf.zeros((5, 1)))
    with pytest.raises(ValueError, match="tridiagonal_matmul.*rhs"):
        tf.linalg.tridiagonal_matmul(tf.ones((3, 4)), tf.zeros((5, 1)))
    with pytest.raises(ValueError, match="tridiagonal_solve.*not invertible"):
        tf.linalg.tridiagonal_solve(tf.zeros((3, 4)), tf.ones((4, 1)))
    with pytest.raises(ValueError, match="diagonals_format"):
        tf.linalg.tridiagonal_solve(tf.ones((3, 4)), tf.zeros((4, 1)), diagonals_format="band")


# ------------------------------------------------------------- morphology (dilation/erosion)
def _same(n, k_eff, s):
    out = -(-n // s)
    return out, max((out - 1) * s + k_eff - n, 0) // 2


def _ref_dilation(x, f, st, rt, pad, w):
    """Loops: (out, d loss/d x, d loss/d f) for loss = sum(out * w), the gradient to the first
    maximizing tap (TF's Dilation2DBackprop)."""
    B, H, W, C = x.shape
    kh, kw, _ = f.shape
    eh, ew = (kh - 1) * rt[0] + 1, (kw - 1) * rt[1] + 1
    if pad == "SAME":
        (oh, pt), (ow, pl) = _same(H, eh, st[0]), _same(W, ew, st[1])
    else:
        oh, ow, pt, pl = (H - eh) // st[0] + 1, (W - ew) // st[1] + 1, 0, 0
    out = np.zeros((B, oh, ow, C))
    gx, gf = np.zeros(x.shape), np.zeros(f.shape)
    for b, y, xo, c in np.ndindex(B, oh, ow, C):
        best, arg = -np.inf, None
        for dy, dx in np.ndindex(kh, kw):
            r, q = y * st[0] + dy * rt[0] - pt, xo * st[1] + dx * rt[1] - pl
            if 0 <= r < H and 0 <= q < W and x[b, r, q, c] + f[dy, dx, c] > best:
                best, arg = x[b, r, q, c] + f[dy, dx, c], (r, q, dy, dx)
        out[b, y, xo, c] = best
        gx[b, arg[0], arg[1], c] += w[b, y, xo, c]
        gf[arg[2], arg[3], c] += w[b, y, xo, c]
    return out, gx, gf


_MORPH = [((1, 1), (1, 1), "SAME"), ((2, 1), (1, 2), "VALID"), ((2, 3), (2, 2), "SAME")]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("st,rt,pad", _MORPH)
def test_dilation2d_erosion2d(where, dtype, st, rt, pad):
    rng = np.random.default_rng(11)
    x = rng.normal(size=(2, 7, 6, 3)).astype(dtype)
    f = rng.normal(size=(3, 2, 3)).astype(dtype)
    x[0, 2, 2, 0] = x[0, 2, 3, 0]  # a tie between taps
    x64, f64 = x.astype(np.float64), f.astype(np.float64)
    with tf.device(where):
        xt, ft = tf.constant(x), tf.constant(f)
        outs = []
        for fn in (tf.nn.dilation2d, tf.nn.erosion2d):
            with tf.GradientTape() as tape:
                tape.watch([xt, ft])
                y = fn(xt, ft, [1, st[0], st[1], 1], pad, "NHWC", [1, rt[0], rt[1], 1])
                w = np.cos(np.arange(int(np.prod(y.shape)))).reshape(tuple(y.shape))
                loss = tf.reduce_sum(y * w.astype(dtype))
            outs.append((y, *tape.gradient(loss, [xt, ft]), w))
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    y, gx, gf, w = outs[0]
    want, wgx, wgf = _ref_dilation(x64, f64, st, rt, pad, w)
    np.testing.assert_allclose(_on(where, y), want, **tol)
    np.testing.assert_allclose(_on(where, gx), wgx, **tol)
    np.testing.assert_allclose(_on(where, gf), wgf, **tol)
    # erosion: out = min over taps of x[y*s - ...] - f, i.e. -dilation(-x, f reversed)
    y, gx, gf, w = outs[1]
    want, wgx, wgf = _ref_dilation(-x64, f64[::-1, ::-1], st, rt, pad, -w)
    np.testing.assert_allclose(_on(where, y), -want, **tol)
    np.testing.assert_allclose(_on(where, gx), -wgx, **tol)
    np.testing.assert_allclose(_on(where, gf), wgf[::-1, ::-1], **tol)


def test_dilation2d_errors():
    with pytest.raises(ValueError, match=r"dilation2d.*depth.*\(1, 4, 4, 2\).*\(2, 2, 3\)"):
        tf.nn.dilation2d(tf.zeros((1, 4, 4, 2)), tf.zeros((2, 2, 3)), [1, 1, 1, 1], "SAME",
                         "NHWC", [1, 1, 1, 1])
    with pytest.raises(ValueError, match="dilation2d.*NHWC"):
        tf.nn.dilation2d(tf.zeros((1, 4, 4, 2)), tf.zeros((2, 2, 2)), [1, 1, 1, 1], "SAME",
                         "NCHW", [1, 1, 1, 1])


# ------------------------------------------------------------------------ atrous convolution
def _ref_conv(x, w, r, pad):
    """Stride-1 conv2d with dilation r by loops (NHWC, HWIO)."""
    B, H, W, _ = x.shape
    kh, kw, _, co = w.shape
    eh, ew = (kh - 1) * r + 1, (kw - 1) * r + 1
    if pad == "SAME":
        pt, pl = (eh - 1) // 2, (ew - 1) // 2
        oh, ow = H, W
    else:
        pt = pl = 0
        oh, ow = H - eh + 1, W - ew + 1
    out = np.zeros((B, oh, ow, co))
    for dy, dx in np.ndindex(kh, kw):
        for y, xo in np.ndindex(oh, ow):
            i, j = y + dy * r - pt, xo + dx * r - pl
            if 0 <= i < H and 0 <= j < W:
                out[:, y, xo] += x[:, i, j] @ w[dy, dx]
    return out


@pytest.mark.parametrize("rate,pad", [(1, "SAME"), (2, "SAME"), (2, "VALID"), (3, "VALID")])
def test_atrous_conv2d_and_transpose(where, rate, pad):
    rng = np.random.default_rng(13)
    v = rng.normal(size=(1, 9, 8, 2))
    w = rng.normal(size=(3, 3, 2, 4))
    with tf.device(where):
        vt, wt = tf.constant(v), tf.constant(w)
        with tf.GradientTape() as tape:
            tape.watch([vt, wt])
            y = tf.nn.atrous_conv2d(vt, wt, rate, pad)
            loss = tf.reduce_sum(y * y)
        gv, gw = tape.gradient(loss, [vt, wt])
        yv = y.numpy()
        # the transpose maps y's shape back to v's: its value is the adjoint <T(u), v> = <u, C(v)>
        u = rng.normal(size=yv.shape)
        w2 = rng.normal(size=(3, 3, 2, 4))  # (KH, KW, out = v's channels, in = y's channels)
        tt = tf.nn.atrous_conv2d_transpose(tf.constant(u), tf.constant(w2), list(v.shape),
                                           rate, pad)
    ref = __import__("reference")
    np.testing.assert_allclose(_on(where, y), _ref_conv(v, w, rate, pad), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(_on(where, gv), ref.numeric_grad(
        lambda a, b: (_ref_conv(a, b, rate, pad) ** 2).sum(), [v, w], 0), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(_on(where, gw), ref.numeric_grad(
        lambda a, b: (_ref_conv(a, b, rate, pad) ** 2).sum(), [v, w], 1), rtol=1e-6, atol=1e-6)
    # <T(u), e_k> = <u, conv(e_k, w2)> for every basis element e_k of v's space
    tv = _on(where, tt)
    assert tv.shape == v.shape
    want = np.zeros(v.shape)
    for k in np.ndindex(*v.shape):
        e = np.zeros(v.shape)
        e[k] = 1
        want[k] = (u * _ref_conv(e, w2, rate, pad)).sum()
    np.testing.assert_allclose(tv, want, rtol=1e-10, atol=1e-10)
    with pytest.raises(ValueError, match="atrous_conv2d.*less than one"):
        tf.nn.atrous_conv2d(tf.constant(v), tf.constant(w), 0, pad)


# --------------------------------------------------------------------------- pool, conv_transpose
def _ref_pool(x, win, kind, st, dil, pad):
    """Channels-last N-d pooling by loops; 'SAME' windows use their valid elements only."""
    sp = x.shape[1:-1]
    n = len(sp)
    eff = [(w - 1) * d + 1 for w, d in zip(win, dil)]
    if pad == "SAME":
        outs = [-(-s // t) for s, t in zip(sp, st)]
        pads = [max((o - 1) * t + e - s, 0) // 2 for o, t, e, s in zip(outs, st, eff, sp)]
    else:
        outs = [(s - e) // t + 1 for s, e, t in zip(sp, eff, st)]
        pads = [0] * n
    out = np.zeros((x.shape[0],) + tuple(outs) + (x.shape[-1],))
    for o in np.ndindex(*outs):
        vals = []
        for k in np.ndindex(*win):
            idx = [o[i] * st[i] + k[i] * dil[i] - pads[i] for i in range(n)]
            if all(0 <= idx[i] < sp[i] for i in range(n)):
                vals.append(x[(slice(None),) + tuple(idx)])
        vals = np.stack(vals)
        out[(slice(None),) + o] = vals.max(0) if kind == "MAX" else vals.mean(0)
    return out


_POOLS = [((2, 9, 3), [3], dict(dilations=[2])),
          ((2, 9, 3), [3], dict(strides=[2], padding="SAME")),
          ((1, 8, 7, 2), [2, 3], dict(dilations=[2, 1])),
          ((1, 8, 7, 2), [2, 2], dict(strides=[2, 1], padding="SAME")),
          ((1, 5, 6, 7, 2), [2, 2, 2], dict(dilations=[1, 2, 2])),
          ((1, 5, 6, 7, 2), [2, 3, 2], dict(strides=[2, 2, 1]))]


@pytest.mark.parametrize("kind", ["MAX", "AVG"])
@pytest.mark.parametrize("shape,win,kw", _POOLS)
def test_pool(where, shape, win, kw, kind):
    rng = np.random.default_rng(17)
    x = rng.normal(size=shape).astype(np.float32)
    n = len(win)
    st = kw.get("strides", [1] * n)
    dil = kw.get("dilations", [1] * n)
    pad = kw.get("padding", "VALID")
    with tf.device(where):
        xt = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            y = tf.nn.pool(xt, win, kind, **kw)
            loss = tf.reduce_sum(y * y)
        g = tape.gradient(loss, xt)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(_on(where, y), _ref_pool(x64, win, kind, st, dil, pad),
                               rtol=1e-5, atol=1e-6)
    ref = __import__("reference")
    want = ref.numeric_grad(lambda a: (_ref_pool(a, win, kind, st, dil, pad) ** 2).sum(),
                            [x64], 0)
    np.testing.assert_allclose(_on(where, g), want, rtol=1e-3, atol=1e-4)


def test_pool_channels_first_and_errors():
    x = np.random.default_rng(19).normal(size=(1, 2, 8, 7))
    y = tf.nn.pool(tf.constant(x), [2, 3], "MAX", dilations=[2, 2], data_format="NCHW").numpy()
    want = _ref_pool(x.transpose(0, 2, 3, 1), [2, 3], "MAX", [1, 1], [2, 2], "VALID")
    np.testing.assert_allclose(y, want.transpose(0, 3, 1, 2))
    xt = tf.zeros((1, 5, 5, 1))
    with pytest.raises(ValueError, match="pool.*strides.*dilations"):
        tf.nn.pool(xt, [2, 2], "MAX", strides=[2, 2], dilations=[2, 2])
    with pytest.raises(ValueError, match="pool.*SAME"):
        tf.nn.pool(xt, [2, 2], "MAX", padding="SAME", dilations=[2, 2])
    with pytest.raises(ValueError, match="pool.*window_shape"):
        tf.nn.pool(xt, [2, 2], "MAX", strides=[3, 3])
    with pytest.raises(ValueError, match="pooling_type"):
        tf.nn.pool(xt, [2, 2], "MIN")


def _ref_conv_transpose(x, w, out_shape, s):
    """'SAME' transposed convolution by scatter loops: w (*K, C_out, C_in)."""
    n = x.ndim - 2
    ks = w.shape[:n]
    sp = out_shape[1:-1]
    pads = [max((xi - 1) * s + k - o, 0) // 2 for xi, k, o in zip(x.shape[1:-1], ks, sp)]
    out = np.zeros(out_shape)
    for i in np.ndindex(*x.shape[1:-1]):
        for k in np.ndindex(*ks):
            o = [i[a] * s + k[a] - pads[a] for a in range(n)]
            if all(0 <= o[a] < sp[a] for a in range(n)):
                out[(slice(None),) + tuple(o)] += x[(slice(None),) + i] @ w[k].T
    return out


@pytest.mark.parametrize("shape,fshape,oshape", [
    ((1, 5, 3), (3, 4, 3), (1, 10, 4)), ((1, 4, 5, 3), (3, 3, 2, 3), (1, 8, 10, 2)),
    ((1, 3, 4, 4, 3), (2, 2, 2, 2, 3), (1, 6, 8, 8, 2))])
def test_conv_transpose_dispatch(shape, fshape, oshape):
    rng = np.random.default_rng(23)
    x, w = rng.normal(size=shape), rng.normal(size=fshape)
    y = tf.nn.conv_transpose(tf.constant(x), tf.constant(w), list(oshape), 2).numpy()
    np.testing.assert_allclose(y, _ref_conv_transpose(x, w, oshape, 2), rtol=1e-10, atol=1e-10)
    with pytest.raises(ValueError, match="conv_transpose.*rank"):
        tf.nn.conv_transpose(tf.zeros((2, 3)), tf.zeros((1, 1)), [2, 3], 1)


def test_stateless_gamma_gradient():
    alpha = tf.Variable([2.0, 0.4], dtype=tf.float64)  # a trainable Variable is watched
    with tf.GradientTape() as tape:
        s = tf.random.stateless_gamma([3, 2], seed=[1, 2], alpha=alpha, beta=2.0,
                                      dtype=tf.float64)
    g = tape.gradient(s, alpha).numpy()
    std = s.numpy() * 2.0
    a64 = np.broadcast_to(np.array([2.0, 0.4]), std.shape)
    np.testing.assert_allclose(g, (_implicit_grad_ref(a64, std) / 2.0).sum(0), rtol=1e-5)
