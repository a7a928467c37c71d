"""tf.math.igamma, igammac, betainc, zeta and polygamma on GPU tensors: the CUDA kernel of
csrc/cuda/special_incomplete.cu (bound as cuda_backend.special_incomplete in
csrc/bindings/bind_cuda_special_incomplete.cpp), and their gradients, which stay on the device.

References are independent: scipy.special (gammainc, gammaincc, betainc, zeta, polygamma,
digamma), scipy.stats' gamma and beta densities (the x-gradients), central differences of
scipy.special.gammainc in a (igamma's a-gradient), and TF's documented values at the edges.

Kernel tests take the `backend` fixture ("cuda": the real module, the host simulator under
NABI_TEST_PACKAGE_DIR=build/sim/pkg, skipped without a GPU otherwise; "emu": the NumPy
emulator); they also compare the kernel with the CPU path's NumPy functions (GPU == CPU to
float64 rounding). Op tests take conftest's `where` fixture (CPU, emulated GPU, real GPU or
the simulator). The copy tests count device-to-host reads (none for the ops and gradients).
Shapes are tiny: the simulator runs every CUDA thread on the CPU.
"""
import numpy as np
import pytest

import nabi
from nabi import _C
from nabi.ops import special_more_ops as smo

sp = pytest.importorskip("scipy.special")
stats = pytest.importorskip("scipy.stats")

cb = _C.cuda_backend
FLOATS = [np.float32, np.float64]


# (the `backend` fixture, the kernel module or its emulator, is conftest.py's)


def _buf(be, a):
    return be.DeviceBuffer.from_numpy(np.array(a, order="C"))


def _np(be, b):
    return b.numpy() if hasattr(b, "numpy") else be.to_numpy(b)


def _run(be, op, *args):
    return _np(be, be.special_incomplete(op, *[_buf(be, a) for a in args]))


def _close(got, want, rtol, atol=0.0):
    """NaN where want is NaN, infinities equal, finite values within rtol / atol."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert np.array_equal(np.isnan(got), np.isnan(want)), (got, want)
    inf = np.isinf(want)
    assert np.array_equal(got[inf], want[inf]), (got[inf], want[inf])
    fin = np.isfinite(want)
    np.testing.assert_allclose(got[fin], want[fin], rtol=rtol, atol=atol)


def _tol(dtype):
    """(rtol, atol): float32 results are float64 values rounded once (<= 1/2 ulp, plus the
    float64 error); float64 to ~1e-13 at these arguments."""
    return (2e-7, 1e-37) if dtype == np.float32 else (1e-11, 1e-300)


def _grid(*axes):
    g = np.meshgrid(*[np.asarray(v, np.float64) for v in axes], indexing="ij")
    return [v.ravel() for v in g]


# a grid over the series / continued fraction switch (x < a + 1) with the edges x = 0, inf
IG_A, IG_X = _grid([0.1, 0.5, 1.0, 2.5, 7.0, 20.0, 60.0],
                   [0.0, 1e-3, 0.3, 1.0, 3.0, 8.0, 25.0, 80.0, np.inf])
# betainc: both sides of the flip x > (a+1)/(a+b+2), the power series (b x <= 1, x <= 0.95)
BI_A, BI_B, BI_X = _grid([0.2, 1.0, 3.5, 12.0], [0.3, 1.0, 4.0, 15.0],
                         [0.0, 0.01, 0.2, 0.5, 0.8, 0.97, 1.0])
ZE_X, ZE_Q = _grid([1.5, 2.0, 3.3, 6.0, 12.0], [0.1, 0.5, 1.0, 2.7, 10.0, 50.0])
PG_N, PG_X = _grid([0.0, 1.0, 2.0, 3.0, 5.0], [0.1, 0.7, 2.5, 9.0, 40.0, -1.5, -0.3])


def _fd_igamma_a(a, x):
    """dP/da by central differences of scipy, taken on the smaller of P and Q = 1 - P (no
    cancellation in the tail; dQ/da = -dP/da)."""
    h = 1e-5 * a
    upper = sp.gammainc(a, x) > 0.5
    f = np.where(upper, -1.0, 1.0)
    fp = np.where(upper, sp.gammaincc(a + h, x), sp.gammainc(a + h, x))
    fm = np.where(upper, sp.gammaincc(a - h, x), sp.gammainc(a - h, x))
    return f * (fp - fm) / (2 * h)


def _f(dtype, *arrs):
    """The arguments in dtype, and the same values in float64 for the reference."""
    r = [np.asarray(a, np.float64).astype(dtype) for a in arrs]
    return r, [v.astype(np.float64) for v in r]


# ---------------------------------------------------------------- kernel vs scipy and the CPU
@pytest.mark.parametrize("dtype", FLOATS)
def test_kernel_igamma_igammac(backend, dtype):
    (a, x), (a64, x64) = _f(dtype, IG_A, IG_X)
    rtol, atol = _tol(dtype)
    p, q = _run(backend, "igamma", a, x), _run(backend, "igammac", a, x)
    assert p.dtype == dtype and p.shape == a.shape
    _close(p, sp.gammainc(a64, x64), rtol, atol)
    _close(q, sp.gammaincc(a64, x64), rtol, atol)
    # GPU == CPU path (same algorithm, both float64 inside)
    _close(p, smo.igamma_np(a64, x64).astype(dtype), 1e-13 if dtype == np.float64 else 1e-7)
    _close(q, smo.igammac_np(a64, x64).astype(dtype), 1e-13 if dtype == np.float64 else 1e-7)


def test_kernel_igamma_large_arguments(backend):
    a, x = _grid([150.0, 1000.0, 4000.0], [0.8, 0.97, 1.0, 1.03, 1.3])
    x = a * x  # around the mean, where the series needs ~sqrt(a) terms
    # the prefactor's exponent (~a log x) carries its rounding: ~1e-16 * a |log x| relative
    _close(_run(backend, "igamma", a, x), sp.gammainc(a, x), 2e-10, 1e-300)
    _close(_run(backend, "igammac", a, x), sp.gammaincc(a, x), 2e-10, 1e-300)


def test_kernel_igamma_edges(backend):
    # TF's domain: NaN for a <= 0 (a = 0 too), x < 0 or NaN; P(a, 0) = 0; P(a, inf) = 1;
    # P(inf, x) = 0 for finite x; NaN at a = x = inf
    a = np.array([0.0, -1.0, 1.0, 1.0, 2.0, np.nan, 2.5, 3.0, np.inf, np.inf, 0.0])
    x = np.array([1.0, 1.0, 0.0, -1.0, np.nan, 1.0, np.inf, 1e-300, 2.0, np.inf, 0.0])
    p = [np.nan, np.nan, 0.0, np.nan, np.nan, np.nan, 1.0, 0.0, 0.0, np.nan, np.nan]
    for dt in FLOATS:
        _close(_run(backend, "igamma", a.astype(dt), x.astype(dt)), p, 0)
        _close(_run(backend, "igammac", a.astype(dt), x.astype(dt)),
               [v if np.isnan(v) else 1 - v for v in p], 0)
    # a -> 0+: P -> 1 for x > 0 (scipy's limit; TF's NaN holds only at a = 0 itself)
    _close(_run(backend, "igamma", np.array([1e-8, 1e-3]), np.array([0.5, 0.5])),
           sp.gammainc([1e-8, 1e-3], 0.5), 1e-11)


@pytest.mark.parametrize("dtype", FLOATS)
def test_kernel_igamma_derivatives(backend, dtype):
    a, x = _grid([0.3, 1.0, 2.5, 9.0, 30.0], [0.05, 0.7, 2.0, 6.0, 15.0, 45.0])
    (a, x), (a64, x64) = _f(dtype, a, x)
    ga = _run(backend, "igamma_grad_a", a, x)
    np.testing.assert_allclose(ga, _fd_igamma_a(a64, x64), rtol=1e-6, atol=_tol(dtype)[1])
    _close(ga, smo.igamma_grad_a_np(a64, x64).astype(dtype), 1e-12 if dtype == np.float64
           else 1e-7)
    gx = _run(backend, "igamma_dx", a, x)
    _close(gx, stats.gamma.pdf(x64, a64), *_tol(dtype))
    # at the edges: 0 at x = 0 and x = inf; TF's raw formula (NaN at a = 1, x = 0: 0 * log 0)
    e = _run(backend, "igamma_grad_a", np.array([2.0, 2.0, np.inf, -1.0]),
             np.array([0.0, np.inf, 3.0, 1.0]))
    _close(e, [0.0, 0.0, 0.0, np.nan], 0)
    _close(_run(backend, "igamma_dx", np.array([1.0, 2.0, 0.5]), np.array([0.0, 0.0, 0.0])),
           [np.nan, 0.0, np.inf], 0)


@pytest.mark.parametrize("dtype", FLOATS)
def test_kernel_betainc(backend, dtype):
    (a, b, x), (a64, b64, x64) = _f(dtype, BI_A, BI_B, BI_X)
    rtol, atol = _tol(dtype)
    y = _run(backend, "betainc", a, b, x)
    assert y.dtype == dtype
    # (a result taken as 1 - v on the flipped side has an absolute error of ~1e-16)
    _close(y, sp.betainc(a64, b64, x64), rtol, max(atol, 1e-15 if dtype == np.float64 else 0))
    _close(y, smo.betainc_np(a64, b64, x64).astype(dtype), 1e-13 if dtype == np.float64
           else 1e-7, 1e-16)
    inner = (x64 > 0) & (x64 < 1)
    d = _run(backend, "betainc_dx", a[inner], b[inner], x[inner])
    _close(d, stats.beta.pdf(x64[inner], a64[inner], b64[inner]), 1e-10 if dtype == np.float64
           else 2e-7, 1e-37)


def test_kernel_betainc_edges(backend):
    # NaN for a <= 0, b <= 0, x outside [0, 1] or NaN; 0 at x = 0, 1 at x = 1
    a = np.array([0.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 0.5])
    b = np.array([1.0, -1.0, 1.0, 1.0, 3.0, 3.0, np.nan, 1e-300])
    x = np.array([0.5, 0.5, -0.1, 1.1, 0.0, 1.0, 0.5, 0.7])
    want = [np.nan, np.nan, np.nan, np.nan, 0.0, 1.0, np.nan, sp.betainc(0.5, 1e-300, 0.7)]
    _close(_run(backend, "betainc", a, b, x), want, 1e-12)


@pytest.mark.parametrize("dtype", FLOATS)
def test_kernel_zeta(backend, dtype):
    (x, q), (x64, q64) = _f(dtype, ZE_X, ZE_Q)
    rtol, atol = _tol(dtype)
    z = _run(backend, "zeta", x, q)
    _close(z, sp.zeta(x64, q64), rtol, atol)
    _close(z, smo.zeta_np(x64, q64).astype(dtype), 1e-13 if dtype == np.float64 else 1e-7)


def test_kernel_zeta_edges(backend):
    # +inf at x = 1; NaN for x < 1 or NaN; at q = 0, -1, ...: +inf for even integer x, NaN
    # otherwise; negative non-integer q: integer x only; q = inf: 0; x = inf: inf / 1 / 0 for
    # q < 1 / q = 1 / q > 1
    x = np.array([1.0, 0.5, np.nan, 2.0, 3.0, 2.0, 3.0, 2.5, 4.0, 3.0, np.inf, np.inf, np.inf,
                  2.0])
    q = np.array([2.0, 1.0, 1.0, 0.0, -1.0, -1.5, -2.5, -1.5, np.inf, np.nan, 0.5, 1.0, 2.0,
                  -2.0])
    want = [np.inf, np.nan, np.nan, np.inf, np.nan, sp.zeta(2, -1.5), sp.zeta(3, -2.5), np.nan,
            0.0, np.nan, np.inf, 1.0, 0.0, np.inf]
    _close(_run(backend, "zeta", x, q), want, 1e-11)


@pytest.mark.parametrize("dtype", FLOATS)
def test_kernel_polygamma(backend, dtype):
    (n, x), (n64, x64) = _f(dtype, PG_N, PG_X)
    rtol, atol = _tol(dtype)
    y = _run(backend, "polygamma", n, x)
    # digamma's reflection (pi cot(pi x)) amplifies x's rounding: an absolute term near 0
    _close(y, sp.polygamma(n64.astype(int), x64), max(rtol, 1e-12), max(atol, 1e-13))
    _close(y, smo.polygamma_np(n64, x64).astype(dtype), 1e-12 if dtype == np.float64 else 1e-7)
    # NaN for n not an integer >= 0 and at digamma's poles; poles of n >= 1 as zeta's
    e = _run(backend, "polygamma", np.array([0.5, -1.0, 0.0, 0.0, 1.0, 2.0, np.nan]),
             np.array([1.0, 1.0, 0.0, -2.0, 0.0, 0.0, 1.0]))
    _close(e, [np.nan, np.nan, np.nan, np.nan, np.inf, np.nan, np.nan], 0)


def test_kernel_shapes_empty_and_scalar(backend):
    for op in ("igamma", "zeta", "polygamma"):
        assert _run(backend, op, np.zeros((2, 0)), np.zeros((2, 0))).shape == (2, 0)
    assert _run(backend, "betainc", *[np.zeros((0,), np.float32)] * 3).dtype == np.float32
    r = _run(backend, "igamma", np.float64(2.0), np.float64(1.5))
    assert r.shape == () and np.isclose(r, sp.gammainc(2.0, 1.5), rtol=1e-13)
    big = _run(backend, "igammac", np.full((3, 4, 5), 2.0, np.float32),
               np.linspace(0.1, 9, 60).reshape(3, 4, 5).astype(np.float32))
    _close(big, sp.gammaincc(2.0, np.linspace(0.1, 9, 60).astype(np.float32)
                             .astype(np.float64)).reshape(3, 4, 5), 2e-7)


def test_kernel_many_blocks(backend, rng):
    # 1100 elements: several 256-thread blocks (and a partial last one)
    a = np.exp(rng.uniform(np.log(0.05), np.log(80), 1100))
    x = np.exp(rng.uniform(np.log(1e-3), np.log(200), 1100))
    _close(_run(backend, "igamma", a, x), sp.gammainc(a, x), 1e-11, 1e-300)
    u = rng.uniform(0, 1, 1100)
    _close(_run(backend, "betainc", a, x / 10, u), sp.betainc(a, x / 10, u), 1e-10, 1e-15)


def test_kernel_rejects_bad_arguments(backend):
    f2, f3 = np.ones((2, 3)), np.ones(3)
    with pytest.raises(ValueError, match=r"unknown op 'gamma'.*igamma"):
        _run(backend, "gamma", f2, f2)
    with pytest.raises(ValueError, match=r"\[igamma\] takes 2 arguments \(a, x\), got a third"):
        _run(backend, "igamma", f2, f2, f2)
    with pytest.raises(ValueError, match=r"\[betainc\] takes 3 arguments"):
        _run(backend, "betainc", f2, f2)
    with pytest.raises(ValueError, match=r"\[zeta\] the arguments must have one shape .*x "
                                         r"\[?\(?2, 3.*q \[?\(?3"):
        _run(backend, "zeta", f2, f3)
    with pytest.raises(TypeError, match=r"\[polygamma\] n must be float32 or float64, got int32"):
        _run(backend, "polygamma", np.ones(3, np.int32), f3)
    with pytest.raises(TypeError, match=r"\[betainc_dx\] dtypes differ: a float64, x float32"):
        _run(backend, "betainc_dx", f3, f3, f3.astype(np.float32))


# ---------------------------------------------------------------- the ops on every device
def _dev(where, t):
    if where != "/CPU:0":
        assert "GPU" in t.device, t.device
    return t.numpy()


@pytest.mark.parametrize("dtype", FLOATS)
def test_igamma_ops_broadcast_and_gradients(where, dtype):
    a = np.array([[0.4], [1.5], [6.0]], dtype)          # (3, 1)
    x = np.array([0.2, 1.0, 3.0, 9.0], dtype)           # (4,)  -> (3, 4)
    a64, x64 = a.astype(np.float64), x.astype(np.float64)
    rtol, atol = _tol(dtype)
    with nabi.device(where):
        at, xt = nabi.constant(a), nabi.constant(x)
        with nabi.GradientTape(persistent=True) as tape:
            tape.watch(at)
            tape.watch(xt)
            p = nabi.math.igamma(at, xt)
            q = nabi.math.igammac(at, xt)
            w = nabi.reduce_sum(p * np.arange(1, 13, dtype=dtype).reshape(3, 4))
        ga, gx = tape.gradient(w, [at, xt])
        gqa, gqx = tape.gradient(q, [at, xt])
    assert p.shape == (3, 4) and p.dtype == nabi.as_dtype(dtype)
    _close(_dev(where, p), sp.gammainc(a64, x64), rtol, atol)
    _close(_dev(where, q), sp.gammaincc(a64, x64), rtol, atol)
    wts = np.arange(1, 13).reshape(3, 4)
    da = _fd_igamma_a(np.broadcast_to(a64, (3, 4)), np.broadcast_to(x64, (3, 4)))
    dx = stats.gamma.pdf(x64, a64)
    gtol = 2e-6 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(_dev(where, ga), (wts * da).sum(1, keepdims=True), rtol=gtol)
    np.testing.assert_allclose(_dev(where, gx), (wts * dx).sum(0), rtol=gtol)
    np.testing.assert_allclose(_dev(where, gqa), -da.sum(1, keepdims=True), rtol=gtol)
    np.testing.assert_allclose(_dev(where, gqx), -dx.sum(0), rtol=gtol)


@pytest.mark.parametrize("dtype", FLOATS)
def test_betainc_op_and_gradient(where, dtype):
    a = np.array([0.5, 2.0, 3.0, 9.0], dtype)
    b = np.array([1.5, 2.0, 0.7, 4.0], dtype)
    x = np.array([0.1, 0.5, 0.93, 0.6], dtype)
    a64, b64, x64 = (v.astype(np.float64) for v in (a, b, x))
    with nabi.device(where):
        at, bt, xt = nabi.constant(a), nabi.constant(b), nabi.constant(x)
        with nabi.GradientTape() as tape:
            tape.watch([at, bt, xt])
            y = nabi.math.betainc(at, bt, xt)
        g = tape.gradient(y, [at, bt, xt])
        ys = nabi.math.betainc(2.0, 3.5, xt)  # scalars with a tensor x
    assert g[0] is None and g[1] is None  # (TF has no gradient for a and b)
    rtol, atol = _tol(dtype)
    _close(_dev(where, y), sp.betainc(a64, b64, x64), rtol, max(atol, 1e-15))
    _close(_dev(where, g[2]), stats.beta.pdf(x64, a64, b64), max(rtol, 1e-10))
    _close(_dev(where, ys), sp.betainc(2.0, 3.5, x64), rtol, max(atol, 1e-15))


@pytest.mark.parametrize("dtype", FLOATS)
def test_zeta_op_and_gradients(where, dtype):
    s = np.array([[2.0], [3.5], [7.0]], dtype)
    q = np.array([0.3, 1.0, 4.5], dtype)
    s64, q64 = s.astype(np.float64), q.astype(np.float64)
    with nabi.device(where):
        st, qt = nabi.constant(s), nabi.constant(q)
        with nabi.GradientTape() as t2:
            t2.watch(qt)
            with nabi.GradientTape() as t1:
                t1.watch([st, qt])
                z = nabi.math.zeta(st, qt)
            gs, gq = t1.gradient(z, [st, qt])
        gqq = t2.gradient(gq, qt)
    rtol, atol = _tol(dtype)
    assert gs is None  # (none for x, as TF)
    _close(_dev(where, z), sp.zeta(s64, q64), max(rtol, 1e-12), atol)
    gtol = max(rtol, 1e-12) * 4
    _close(_dev(where, gq), (-s64 * sp.zeta(s64 + 1, q64)).sum(0), gtol)
    _close(_dev(where, gqq), (s64 * (s64 + 1) * sp.zeta(s64 + 2, q64)).sum(0), gtol)


@pytest.mark.parametrize("dtype", FLOATS)
def test_polygamma_op_and_gradients(where, dtype):
    n = np.array([0.0, 1.0, 2.0, 4.0], dtype)
    x = np.array([[0.6], [3.2], [-1.4]], dtype)
    n64, x64 = n.astype(np.float64), x.astype(np.float64)
    ni = n64.astype(int)
    with nabi.device(where):
        nt, xt = nabi.constant(n), nabi.constant(x)
        with nabi.GradientTape() as t2:
            t2.watch(xt)
            with nabi.GradientTape() as t1:
                t1.watch([nt, xt])
                y = nabi.math.polygamma(nt, xt)
            gn, gx = t1.gradient(y, [nt, xt])
        gxx = t2.gradient(gx, xt)
    assert gn is None and y.shape == (3, 4)
    tol = 1e-11 if dtype == np.float64 else 2e-6  # (reflection at x = -1.4)
    _close(_dev(where, y), sp.polygamma(ni, x64), tol)
    _close(_dev(where, gx), sp.polygamma(ni + 1, x64).sum(1, keepdims=True), tol)
    _close(_dev(where, gxx), sp.polygamma(ni + 2, x64).sum(1, keepdims=True), tol)


def test_ops_edges_on_every_device(where):
    with nabi.device(where):
        p = nabi.math.igamma(nabi.constant([0.0, -1.0, 2.0, 2.0], nabi.float64),
                             nabi.constant([1.0, 1.0, 0.0, np.inf], nabi.float64))
        z = nabi.math.zeta(nabi.constant([1.0, 0.5, 2.0], nabi.float64),
                           nabi.constant([2.0, 1.0, 0.0], nabi.float64))
        pg = nabi.math.polygamma(nabi.constant([0.0, 1.0, 0.5]), nabi.constant([0.0, 0.0, 1.0]))
        bi = nabi.math.betainc(nabi.constant([0.0, 1.0]), nabi.constant([1.0, 1.0]),
                               nabi.constant([0.5, 1.5]))
    _close(_dev(where, p), [np.nan, np.nan, 0.0, 1.0], 0)
    _close(_dev(where, z), [np.inf, np.nan, np.inf], 0)
    _close(_dev(where, pg), [np.nan, np.inf, np.nan], 0)
    _close(_dev(where, bi), [np.nan, np.nan], 0)


def test_ops_refuse_mixed_dtypes_and_shapes(where):
    with nabi.device(where):
        with pytest.raises(TypeError, match=r"\[igamma\] dtypes differ"):
            nabi.math.igamma(nabi.constant([1.0], nabi.float32), nabi.constant([1.0], nabi.float64))
        with pytest.raises(ValueError, match=r"\[zeta\] incompatible shapes: x \(2,\), q \(3,\)"):
            nabi.math.zeta(nabi.constant([2.0, 3.0]), nabi.constant([1.0, 2.0, 3.0]))
        with pytest.raises(ValueError, match=r"\[betainc\] a \(2,\), b \(3,\)"):
            nabi.math.betainc(nabi.constant([1.0, 2]), nabi.constant([1.0, 2, 3]),
                              nabi.constant([0.5, 0.5]))


# ---------------------------------------------------------------- no copy to the host
# (the d2h fixture, the read-back counter, is conftest.py's)


def test_ops_and_gradients_do_not_copy_to_the_host(d2h):
    with nabi.device("/GPU:0"):
        a = nabi.constant(np.array([[0.5], [2.0]], np.float32))
        x = nabi.constant(np.array([0.3, 1.0, 4.0], np.float32))
        b = nabi.constant(np.array([[1.5, 2.0, 3.0], [0.5, 1.0, 2.0]], np.float32))
        u = nabi.constant(np.array([[0.2, 0.5, 0.9], [0.1, 0.4, 0.7]], np.float32))
        s = nabi.constant(np.array([2.0, 3.0, 4.5], np.float32))
        n = nabi.constant(np.array([0.0, 1.0, 3.0], np.float32))
        for name, f in [("igamma", lambda: nabi.math.igamma(a, x)),
                        ("igammac", lambda: nabi.math.igammac(a, x)),
                        ("betainc", lambda: nabi.math.betainc(b, b, u)),
                        ("zeta", lambda: nabi.math.zeta(s, x)),
                        ("polygamma", lambda: nabi.math.polygamma(n, x))]:
            reads, launches = d2h(f)
            assert reads == 0 and launches >= 1, (name, reads, launches)
            r = f()
            assert type(r._data).__name__ == "DeviceArray", name

        def grads():
            with nabi.GradientTape(persistent=True) as tape:
                tape.watch([a, x, u, s])
                ys = [nabi.math.igamma(a, x), nabi.math.igammac(a, x),
                      nabi.math.betainc(b, b, u), nabi.math.zeta(s, x),
                      nabi.math.polygamma(n, x)]
            out = [tape.gradient(ys[0], [a, x]), tape.gradient(ys[1], [a, x]),
                   tape.gradient(ys[2], u), tape.gradient(ys[3], x),
                   tape.gradient(ys[4], x)]
            grads.out = out
        reads, launches = d2h(grads)
        assert reads == 0 and launches >= 5, (reads, launches)
        (ga, gx), _, gu, gz, gp = grads.out
    for g in (ga, gx, gu, gz, gp):
        assert type(g._data).__name__ == "DeviceArray"
