"""More special functions under TF's names: tf.math.igamma, igammac, betainc, lbeta, polygamma,
zeta and nextafter, with TF's gradients.

For CPU tensors they compute on the host in float64 NumPy (`extra_math_ops._host_op`),
rounded to the input dtype. igamma, igammac, betainc, zeta and polygamma of GPU tensors run the
CUDA kernel of csrc/cuda/special_incomplete.cu (`backend().special_incomplete`, the same
algorithms in float64 on the device; the arguments broadcast on the device first), and so do
their gradients (the kernel's igamma_grad_a / igamma_dx / betainc_dx pieces, zeta of x + 1,
polygamma of n + 1, times g, summed over broadcast axes on the device): nothing is copied to the
host. SciPy is not used (only the tests' reference). Algorithms (all vectorised; each loop
runs until every element has converged, or a fixed cap):
  * P(a, x) = igamma, Q = igammac = 1 - P: for x < a + 1 the series
    P = x^a e^-x / Gamma(a) * sum_n x^n / (a (a+1) ... (a+n)); otherwise the continued fraction
    Q = x^a e^-x / Gamma(a) * 1/(x+1-a- 1(1-a)/(x+3-a- 2(2-a)/(x+5-a- ...))), evaluated by the
    three-term recurrences A_n = b_n A_{n-1} + a_n A_{n-2} (and B_n), rescaled each step.
    d/da (TF's IgammaGradA) differentiates the same sums: the series term by term, the
    fraction by carrying dA_n/da and dB_n/da through the recurrences (forward mode).
    d/dx = x^(a-1) e^-x / Gamma(a).
  * betainc I_x(a, b): the power series in x where b x <= 1 and x <= 0.95 (as Cephes'
    incbet); otherwise the continued fraction of Numerical Recipes' betacf (modified Lentz),
    on x or, by symmetry, on 1 - x when x > (a+1)/(a+b+2). d/dx = x^(a-1)(1-x)^(b-1)/B(a, b);
    TF has no gradient for a and b (None).
  * zeta(x, q), Hurwitz: direct terms (q+k)^-x until q + N >= 9 (at least 9 of them), then
    Euler-Maclaurin: (q+N)^(1-x)/(x-1) + (q+N)^-x/2 + sum_j B_2j/(2j)! x(x+1)..(x+2j-2)
    (q+N)^(-x-2j+1), twelve Bernoulli terms. d/dq = -x zeta(x+1, q) (none for x, as TF).
  * polygamma(n, x) = (-1)^(n+1) n! zeta(n+1, x) for integer n >= 1, digamma for n = 0, NaN
    for other n (TF takes n as a float tensor of x's dtype). d/dx = polygamma(n+1, x).
  * lbeta(x) = sum(lgamma(x), -1) - lgamma(sum(x, -1)): composed from nabi ops.
  * nextafter: NumPy's, in the input dtype (no gradient, as TF).
"""
import math as _math

import numpy as np

from ..framework.device import DeviceArray, backend
from ._common import (Tensor, _tapes, _wrap, operand_like, record, t_, unbroadcast,
                      unbroadcast_t)
from . import math_ops as _m
from .extra_math_ops import _host_op
from .special_ops import _digamma_np, _lgamma_np, lgamma as _lgamma


# ------------------------------------------------------------------------------ operands


def _operands(op, names, xs):
    """Tensors of one float dtype on one device (non-tensors adapt to the first tensor)."""
    like = next((x for x in xs if isinstance(x, Tensor)), None)
    if like is None:
        like = t_(xs[0])
        if like._data.dtype.kind != "f":
            like = t_(np.asarray(xs[0], np.float32))
    ts = [x if isinstance(x, Tensor) else operand_like(x, like) for x in xs]
    for n, t in zip(names, ts):
        if t._data.dtype.kind != "f" or t._data.dtype.itemsize < 4:
            raise TypeError(f"[{op}] {n} must be float32 or float64, got "
                            f"{t._data.dtype.name} of shape {tuple(t._data.shape)}")
        if t._data.dtype != ts[0]._data.dtype:
            raise TypeError(f"[{op}] dtypes differ: " + ", ".join(
                f"{m} {u._data.dtype.name} {tuple(u._data.shape)}" for m, u in zip(names, ts)))
        if type(t._data) is not type(ts[0]._data):
            raise ValueError(f"[{op}] operands are on different devices: " + ", ".join(
                f"{m} {u.device} {tuple(u._data.shape)}" for m, u in zip(names, ts)))
    return ts


def _bshape(op, names, ts):
    try:
        return np.broadcast_shapes(*[tuple(t._data.shape) for t in ts])
    except ValueError:
        raise ValueError(f"[{op}] incompatible shapes: " + ", ".join(
            f"{n} {tuple(t._data.shape)}" for n, t in zip(names, ts))) from None


def _unb(g, shape):
    g = np.asarray(g)
    extra = g.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(i + extra for i, s in enumerate(shape)
                                       if s == 1 and g.shape[i + extra] != 1)
    return (g.sum(axis=axes) if axes else g).reshape(shape)


def _f64(*arrs):
    shp = np.broadcast_shapes(*[np.shape(a) for a in arrs])
    return [np.broadcast_to(np.asarray(a, np.float64), shp).ravel() for a in arrs], shp


# ------------------------------------------------------------------------ the CUDA kernels


def _on_gpu(t):
    return type(t._data) is DeviceArray


def _kernel(op, *arrs):
    """op of csrc/cuda/special_incomplete.cu on DeviceArrays of one dtype, broadcast to one
    shape on the device first (the kernel wants equal shapes)."""
    shp = np.broadcast_shapes(*[a.shape for a in arrs])
    bufs = [(a if a.shape == shp else np.broadcast_to(a, shp)).buf for a in arrs]
    return DeviceArray(backend().special_incomplete(op, *bufs))


def _gpu_op(op, ts, grads, bwd_t=None):
    """out = op(*ts) on the GPU. grads[i]: None (no gradient for input i) or a function of the
    raw arrays giving d out / d input i (a DeviceArray of out's shape), recorded as
    g * d summed to input i's shape."""
    hs = [t._data for t in ts]
    out = _wrap(_kernel(op, *hs))
    if _tapes and any(f is not None for f in grads):
        def backward(g, needs):
            return tuple(unbroadcast(g * f(*hs), h.shape) if f is not None and need else None
                         for f, need, h in zip(grads, needs, hs))
        backward_t = None if bwd_t is None else (lambda g, needs: bwd_t(g, *ts, out))
        record(tuple(ts), out, backward, backward_t, op)
    return out


# ------------------------------------------------------------------- incomplete gamma (NumPy)
_EPS = 1e-17
_MAXIT = 5000


def _igamma_series(a, x):
    """(S, dS/da) with P = exp(a log x - x - lgamma a) * S."""
    term = 1 / a
    s = term.copy()
    dterm = -term / a  # d(term)/da, term_n = x^n / prod_{k<=n}(a+k)
    ds = dterm.copy()
    act = np.ones(a.shape, bool)
    n = 0
    while act.any() and n < _MAXIT:
        n += 1
        r = x / (a + n)
        dterm = np.where(act, dterm * r - term * r / (a + n), 0.0)
        term = np.where(act, term * r, 0.0)
        s += term
        ds += dterm
        act &= (np.abs(term) > _EPS * np.abs(s)) | (np.abs(dterm) > _EPS * np.abs(ds))
    return s, ds


def _igamma_cf(a, x):
    """(F, dF/da) with Q = exp(a log x - x - lgamma a) * F, F the fraction above."""
    # A_0 = 0, B_0 = 1 (kept as the n-2 terms); step 1: a_1 = 1, b_1 = x+1-a
    am2, bm2, dam2, dbm2 = np.zeros_like(a), np.ones_like(a), np.zeros_like(a), np.zeros_like(a)
    b1 = x + 1 - a
    am1, bm1 = np.ones_like(a), b1  # A_1 = b1*0 + 1*1, B_1 = b1*1 + 1*0
    dam1, dbm1 = np.zeros_like(a), -np.ones_like(a)
    f = am1 / bm1
    df = (dam1 * bm1 - am1 * dbm1) / (bm1 * bm1)
    act = np.ones(a.shape, bool)
    n = 1
    while act.any() and n < _MAXIT:
        n += 1
        an = -(n - 1) * (n - 1 - a)
        dan = float(n - 1)
        bn = x + 2 * n - 1 - a
        A = bn * am1 + an * am2
        B = bn * bm1 + an * bm2
        dA = -am1 + bn * dam1 + dan * am2 + an * dam2
        dB = -bm1 + bn * dbm1 + dan * bm2 + an * dbm2
        sc = np.where(B != 0, 1 / np.where(B != 0, B, 1), 1.0)
        am2, bm2, dam2, dbm2 = am1 * sc, bm1 * sc, dam1 * sc, dbm1 * sc
        am1, bm1, dam1, dbm1 = A * sc, B * sc, dA * sc, dB * sc
        fn = am1 / bm1
        dfn = (dam1 * bm1 - am1 * dbm1) / (bm1 * bm1)
        conv = (np.abs(fn - f) <= _EPS * np.abs(fn)) & (np.abs(dfn - df) <= _EPS * np.abs(dfn))
        f = np.where(act, fn, f)
        df = np.where(act, dfn, df)
        act &= ~conv
    return f, df


def _igamma_parts(a, x, want_da):
    """(P, Q, dP/da) on flat float64 arrays (dP/da None unless want_da)."""
    P = np.full(a.shape, np.nan)
    Q = np.full(a.shape, np.nan)
    dP = np.full(a.shape, np.nan)
    ok = (a > 0) & (x >= 0) & ~np.isnan(a) & ~np.isnan(x)
    z = ok & (x == 0)
    P[z], Q[z], dP[z] = 0.0, 1.0, 0.0
    inf = ok & np.isinf(x) & np.isfinite(a)
    P[inf], Q[inf], dP[inf] = 1.0, 0.0, 0.0
    ainf = ok & np.isposinf(a) & np.isfinite(x)  # (TF: P = 0, Q = 1 there)
    P[ainf], Q[ainf], dP[ainf] = 0.0, 1.0, 0.0
    fin = ok & (x > 0) & np.isfinite(x) & np.isfinite(a)
    ser = fin & (x < a + 1)
    cf = fin & ~ser
    if ser.any():
        aa, xx = a[ser], x[ser]
        lx = np.log(xx)
        pre = np.exp(aa * lx - xx - _lgamma_np(aa))
        s, ds = _igamma_series(aa, xx)
        P[ser] = pre * s
        Q[ser] = 1 - P[ser]
        if want_da:
            dP[ser] = P[ser] * (lx - _digamma_np(aa)) + pre * ds
    if cf.any():
        aa, xx = a[cf], x[cf]
        lx = np.log(xx)
        pre = np.exp(aa * lx - xx - _lgamma_np(aa))
        f, df = _igamma_cf(aa, xx)
        Q[cf] = pre * f
        P[cf] = 1 - Q[cf]
        if want_da:
            dP[cf] = -(Q[cf] * (lx - _digamma_np(aa)) + pre * df)
    return P, Q, (dP if want_da else None)


def _igamma_dx(a, x):
    """x^(a-1) e^-x / Gamma(a), the density of Gamma(a, 1), by TF's formula (so 0 where
    lgamma(a) is +inf, NaN at a = 1, x = 0 as TF's exp(0 * log 0))."""
    with np.errstate(all="ignore"):
        return np.exp((a - 1) * np.log(x) - x - _lgamma_np(a))


def igamma_np(a, x):
    (a, x), shp = _f64(a, x)
    return _igamma_parts(a, x, False)[0].reshape(shp)


def igammac_np(a, x):
    (a, x), shp = _f64(a, x)
    return _igamma_parts(a, x, False)[1].reshape(shp)


def igamma_grad_a_np(a, x):
    """dP(a, x)/da (TF's igamma_grad_a)."""
    (a, x), shp = _f64(a, x)
    return _igamma_parts(a, x, True)[2].reshape(shp)


def _igamma_op(op, a, x, upper):
    a, x = _operands(op, ("a", "x"), (a, x))
    _bshape(op, ("a", "x"), (a, x))
    sa, sx = tuple(a._data.shape), tuple(x._data.shape)
    sign = -1.0 if upper else 1.0
    if _on_gpu(a):
        return _gpu_op(op, [a, x], [
            lambda ha, hx: _kernel("igamma_grad_a", ha, hx) * sign,
            lambda ha, hx: _kernel("igamma_dx", ha, hx) * sign])

    def fwd(ha, hx):
        r = (igammac_np if upper else igamma_np)(ha, hx)
        return r.astype(ha.dtype)

    def bwd(g, ha, hx, out):
        g64 = g.astype(np.float64)
        ga = sign * g64 * igamma_grad_a_np(ha, hx)
        gx = sign * g64 * _igamma_dx(ha.astype(np.float64), hx.astype(np.float64))
        return (_unb(ga, sa).astype(g.dtype), _unb(gx, sx).astype(g.dtype))
    return _host_op(op, [a, x], fwd, bwd)


def igamma(a, x, name=None):
    """The lower regularized incomplete gamma function P(a, x) (a > 0, x >= 0; NaN outside).
    Gradients for a (TF's IgammaGradA) and x."""
    return _igamma_op("igamma", a, x, False)


def igammac(a, x, name=None):
    """The upper regularized incomplete gamma function Q(a, x) = 1 - P(a, x)."""
    return _igamma_op("igammac", a, x, True)


# --------------------------------------------------------------------------------- betainc


def _betacf(a, b, x):
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1, a - 1
    c = np.ones_like(x)
    d = 1 - qab * x / qap
    d = np.where(np.abs(d) < tiny, tiny, d)
    d = 1 / d
    h = d.copy()
    act = np.ones(x.shape, bool)
    m = 0
    while act.any() and m < _MAXIT:
        m += 1
        m2 = 2 * m
        for aa in (m * (b - m) * x / ((qam + m2) * (a + m2)),
                   -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1 + aa * d
            d = np.where(np.abs(d) < tiny, tiny, d)
            c = 1 + aa / c
            c = np.where(np.abs(c) < tiny, tiny, c)
            d = 1 / d
            de = d * c
            h = np.where(act, h * de, h)
        act &= np.abs(de - 1) > 1e-16
    return h


def _beta_pseries(a, b, x):
    """I_x(a, b) = x^a Gamma(a+b) / (Gamma(a) Gamma(b)) * (1/a + sum_n (1-b)..(n-b) x^n /
    (n! (a+n))), for b x <= 1, x <= 0.95 (no 1 - v cancellation when I is tiny, e.g. b -> 0)."""
    t = (1 - b) * x
    s = 1 / a + t / (a + 1)
    act = np.ones(x.shape, bool)
    n = 2
    while act.any() and n < 20000:
        t = np.where(act, t * (n - b) * x / n, 0.0)
        v = t / (a + n)
        s += v
        act &= np.abs(v) > 1e-17 * np.abs(s)
        n += 1
    return s * np.exp(_lgamma_np(a + b) - _lgamma_np(a) - _lgamma_np(b) + a * np.log(x))


def betainc_np(a, b, x):
    (a, b, x), shp = _f64(a, b, x)
    out = np.full(x.shape, np.nan)
    ok = (a > 0) & (b > 0) & (x >= 0) & (x <= 1)
    out[ok & (x == 0)] = 0.0
    out[ok & (x == 1)] = 1.0
    mid = ok & (x > 0) & (x < 1)
    ps = mid & (b * x <= 1) & (x <= 0.95)
    if ps.any():
        out[ps] = _beta_pseries(a[ps], b[ps], x[ps])
    mid &= ~ps
    if mid.any():
        aa, bb, xx = a[mid], b[mid], x[mid]
        lbt = _lgamma_np(aa + bb) - _lgamma_np(aa) - _lgamma_np(bb) + aa * np.log(xx) + \
            bb * np.log1p(-xx)
        flip = xx > (aa + 1) / (aa + bb + 2)
        a2, b2, x2 = np.where(flip, bb, aa), np.where(flip, aa, bb), np.where(flip, 1 - xx, xx)
        # (1 - x exact enough: the flipped side has x > 1/2 or so, where 1 - x is exact)
        cf = _betacf(a2, b2, x2)
        v = np.exp(lbt) * cf / a2
        out[mid] = np.where(flip, 1 - v, v)
    return out.reshape(shp)


def _betainc_dx(a, b, x):
    with np.errstate(all="ignore"):
        lb = _lgamma_np(a) + _lgamma_np(b) - _lgamma_np(a + b)
        return np.exp((a - 1) * np.log(x) + (b - 1) * np.log1p(-x) - lb)  # (TF's formula)


def betainc(a, b, x, name=None):
    """The regularized incomplete beta function I_x(a, b). a, b and x have one shape, or are
    scalars (TF's rule: no other broadcasting). Gradient for x only (None for a and b, as TF)."""
    op = "betainc"
    a, b, x = _operands(op, ("a", "b", "x"), (a, b, x))
    shapes = [tuple(t._data.shape) for t in (a, b, x)]
    full = [s for s in shapes if s != ()]
    if any(s != full[0] for s in full):
        raise ValueError(f"[{op}] a {shapes[0]}, b {shapes[1]} and x {shapes[2]} must have one "
                         "shape or be scalars")
    sx = shapes[2]
    if _on_gpu(a):
        return _gpu_op(op, [a, b, x], [None, None, lambda ha, hb, hx: _kernel(
            "betainc_dx", ha, hb, hx)])

    def fwd(ha, hb, hx):
        return betainc_np(ha, hb, hx).astype(ha.dtype)

    def bwd(g, ha, hb, hx, out):
        r = g.astype(np.float64) * np.broadcast_to(_betainc_dx(
            *[np.asarray(v, np.float64) for v in np.broadcast_arrays(ha, hb, hx)]), g.shape)
        return (None, None, _unb(r, sx).astype(g.dtype))
    return _host_op(op, [a, b, x], fwd, bwd)


# ------------------------------------------------------------------------------ zeta, polygamma
# B_2j / (2j)! for j = 1..12
_BERN = np.array([1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6, -3617 / 510,
                  43867 / 798, -174611 / 330, 854513 / 138, -236364091 / 2730])
_BERN_F = np.array([_BERN[j] / _math.factorial(2 * j + 2) for j in range(12)])


def zeta_np(x, q):
    (x, q), shp = _f64(x, q)
    out = np.full(x.shape, np.nan)
    out[x == 1] = np.inf
    ok = (x > 1) & ~np.isnan(q)
    qint = q == np.floor(q)
    # at the poles q = 0, -1, ...: +inf for an even integer x, NaN otherwise (TF / Eigen)
    xeven = (x == np.floor(x)) & (np.fmod(x, 2) == 0)
    out[ok & (q <= 0) & qint & xeven] = np.inf
    big = ok & np.isposinf(x) & (q > 0)  # (q + k)^-inf: only q <= 1 survives
    out[big] = np.where(q[big] < 1, np.inf, np.where(q[big] == 1, 1.0, 0.0))
    ok &= np.isfinite(x)
    # q < 0 not an integer: defined (a finite sum of real powers) only for integer x, as TF
    run = ok & ((q > 0) | (~qint & (x == np.floor(x))))
    run &= np.isfinite(q) | (q > 0)
    out[ok & np.isposinf(q)] = 0.0
    run &= np.isfinite(q)
    if run.any():
        s, qq = x[run], q[run]
        N = np.maximum(9, np.ceil(9 - qq)).astype(np.int64)
        acc = np.zeros_like(s)
        for k in range(int(N.max())):
            acc += np.where(k < N, (qq + k) ** -s, 0.0)
        w = qq + N
        acc += w ** (1 - s) / (s - 1) + 0.5 * w ** -s
        fac = s * w ** (-s - 1)  # x (x+1)..(x+2j-2) w^(-x-2j+1)
        for j in range(12):
            term = _BERN_F[j] * fac
            acc += term
            fac = fac * (s + 2 * j + 1) * (s + 2 * j + 2) / (w * w)
        out[run] = acc
    return out.reshape(shp)


def polygamma_np(n, x):
    (n, x), shp = _f64(n, x)
    out = np.full(x.shape, np.nan)
    isint = (n == np.floor(n)) & (n >= 0)
    z = isint & (n == 0)
    xz = x[z]
    out[z] = np.where((xz <= 0) & (xz == np.floor(xz)), np.nan, _digamma_np(xz))
    pos = isint & (n > 0)
    if pos.any():
        nn = n[pos]
        lf = _lgamma_np(nn + 1)
        sgn = np.where(nn % 2 == 1, 1.0, -1.0)
        with np.errstate(all="ignore"):
            out[pos] = sgn * np.exp(lf) * zeta_np(nn + 1, x[pos])
    return out.reshape(shp)


def zeta(x, q, name=None):
    """The Hurwitz zeta function sum_k (k + q)^-x (x > 1; +inf at x = 1; at the poles
    q = 0, -1, ... +inf for even integer x, else NaN, as TF; NaN for x < 1). Gradient for q: -x zeta(x + 1, q); none for x (as TF)."""
    op = "zeta"
    x, q = _operands(op, ("x", "q"), (x, q))
    _bshape(op, ("x", "q"), (x, q))
    sq = tuple(q._data.shape)

    def bwd_t(g, xt, qt, ot):
        return (None, unbroadcast_t(_m.multiply(g, _m.negative(_m.multiply(xt, zeta(xt + 1, qt)))),
                                   sq))
    if _on_gpu(x):
        return _gpu_op(op, [x, q], [None, lambda hx, hq: -(hx * _kernel("zeta", hx + 1, hq))],
                       bwd_t)

    def fwd(hx, hq):
        return zeta_np(hx, hq).astype(hx.dtype)

    def bwd(g, hx, hq, out):
        r = -g.astype(np.float64) * hx * zeta_np(hx.astype(np.float64) + 1, hq)
        return (None, _unb(r, sq).astype(g.dtype))
    return _host_op(op, [x, q], fwd, bwd, bwd_t)


def polygamma(a, x, name=None):
    """The a-th derivative of digamma at x, a a float tensor of x's dtype holding an integer
    >= 0 (NaN for other a). Gradient for x: polygamma(a + 1, x); none for a (as TF)."""
    op = "polygamma"
    a, x = _operands(op, ("a", "x"), (a, x))
    _bshape(op, ("a", "x"), (a, x))
    sx = tuple(x._data.shape)

    def bwd_t(g, at, xt, ot):
        return (None, unbroadcast_t(_m.multiply(g, polygamma(at + 1, xt)), sx))
    if _on_gpu(a):
        return _gpu_op(op, [a, x], [None, lambda ha, hx: _kernel("polygamma", ha + 1, hx)],
                       bwd_t)

    def fwd(ha, hx):
        return polygamma_np(ha, hx).astype(hx.dtype)

    def bwd(g, ha, hx, out):
        r = g.astype(np.float64) * polygamma_np(ha.astype(np.float64) + 1, hx)
        return (None, _unb(r, sx).astype(g.dtype))
    return _host_op(op, [a, x], fwd, bwd, bwd_t)


def lbeta(x, name=None):
    """log(|prod Gamma(x_i)| / |Gamma(sum x_i)|) over the last axis (-inf for an empty one)."""
    x = t_(x)
    if x._data.dtype.kind != "f":
        raise TypeError(f"[lbeta] expects a float tensor, got {x._data.dtype.name} of shape "
                        f"{tuple(x._data.shape)}")
    if len(x._data.shape) == 0:
        raise ValueError("[lbeta] expects a tensor of rank >= 1, got a scalar")
    return _m.subtract(_m.reduce_sum(_lgamma(x), axis=-1),
                       _lgamma(_m.reduce_sum(x, axis=-1)))


def nextafter(x1, x2, name=None):
    """The next representable value after x1 toward x2, elementwise (no gradient, as TF)."""
    op = "nextafter"
    x1, x2 = _operands(op, ("x1", "x2"), (x1, x2))
    _bshape(op, ("x1", "x2"), (x1, x2))
    from . import gpu_index_extra as _gx
    if _gx.gpu_ok(x1._data, x2._data):  # the binary_extra kernel, no host copy
        return _gx.binary_extra(op, x1._data, x2._data)
    return _host_op(op, [x1, x2], lambda h1, h2: np.nextafter(h1, h2.astype(h1.dtype)))


# ------------------------------------------------------------------ tf.random.gamma's gradient


def gamma_sample_grad_alpha_np(alpha, x):
    """d x / d alpha for a standard Gamma(alpha) sample x held at fixed CDF value (implicit
    reparameterization): -(dP(alpha, x)/dalpha) / (dP/dx), P the regularized lower incomplete
    gamma function (TF's RandomGammaGrad)."""
    (alpha, x), shp = _f64(alpha, x)
    with np.errstate(all="ignore"):
        r = -_igamma_parts(alpha, x, True)[2] / _igamma_dx(alpha, x)
    return np.where(x > 0, r, 0.0).reshape(shp)


def attach_gamma_grad(out, alpha, beta, std, rate, sample_ndim):
    """Records on the tape the gradients of `out` = std / rate (float64 host arrays, std the
    standard Gamma samples broadcast to out's shape) w.r.t. the Tensors alpha and beta (None
    where not a float Tensor): d out/d alpha = (d std/d alpha) / rate, d out/d beta = -out/beta;
    each summed over the leading sample_ndim axes (and over broadcasting)."""
    from ._common import _tapes, record
    from .extra_math_ops import _host, _like
    ins = [t for t in (alpha, beta) if isinstance(t, Tensor) and t._data.dtype.kind == "f"]
    if not _tapes or not ins:
        return out
    std = np.asarray(std, np.float64)
    rate = np.asarray(rate, np.float64)
    a_full = np.broadcast_to(_host(alpha._data).astype(np.float64), std.shape[sample_ndim:]) \
        if isinstance(alpha, Tensor) else None

    def backward(g, needs):
        g64 = np.asarray(_host(g), np.float64)
        res = []
        for t in ins:
            if t is alpha:
                d = gamma_sample_grad_alpha_np(np.broadcast_to(a_full, std.shape), std) / rate
            else:
                d = -(std / rate) / rate
            r = _unb(g64 * d, tuple(t._data.shape)).astype(t._data.dtype)
            res.append(_like(r, t._data))
        return tuple(res)
    record(tuple(ins), out, backward, None, "random.gamma")
    return out


__all__ = ["igamma", "igammac", "betainc", "lbeta", "polygamma", "zeta", "nextafter"]
