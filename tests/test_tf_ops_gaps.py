"""TF 2 names filled in for notebooks: extra math/array ops, segment reductions, CTC, more
tf.nn, stateless random ops, eager control flow, tf.nest, tf.debugging. Values and
gradients are checked against NumPy references (gradients: float64 central differences of
the NumPy forward, or analytic formulas)."""
import collections
import itertools
import math

import numpy as np
import pytest

import nabi as tf
from helpers import assert_array


def num_grad(np_f, arrays, c, eps=1e-6):
    """Central differences of sum(np_f(*arrays) * c) in float64."""
    arrays = [np.array(a, np.float64) for a in arrays]
    out = []
    for i, a in enumerate(arrays):
        g = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            old = a[idx]
            a[idx] = old + eps
            hi = np.sum(np_f(*arrays) * c)
            a[idx] = old - eps
            lo = np.sum(np_f(*arrays) * c)
            a[idx] = old
            g[idx] = (hi - lo) / (2 * eps)
        out.append(g)
    return out


def grad_check(tf_f, np_f, arrays, rtol=1e-4, atol=1e-6, seed=0):
    arrays = [np.array(a, np.float64) for a in arrays]
    ts = [tf.constant(a) for a in arrays]
    with tf.GradientTape() as tape:
        for t in ts:
            tape.watch(t)
        y = tf_f(*ts)
        c = np.random.default_rng(seed).standard_normal(tuple(y.shape))
        loss = tf.reduce_sum(y * tf.constant(c))
    grads = tape.gradient(loss, ts)
    assert_array(y, np_f(*arrays), rtol=1e-6, atol=1e-9)
    for g, n in zip(grads, num_grad(np_f, arrays, c)):
        assert_array(g, n, rtol=rtol, atol=atol)


RNG = np.random.default_rng(7)

# ------------------------------------------------------------------------- array ops


def test_roll_matches_numpy_and_gradient(where):
    x = RNG.standard_normal((3, 5, 2)).astype(np.float32)
    with tf.device(where):
        assert_array(tf.roll(x, 2, 1), np.roll(x, 2, 1))
        assert_array(tf.roll(x, [-1, 7], [0, 1]), np.roll(x, (-1, 7), (0, 1)))
        assert_array(tf.roll(x, [1, 2], [1, 1]), np.roll(x, 3, 1))
        assert_array(tf.roll(x, 0, 2), x)
    grad_check(lambda t: tf.roll(t, [1, -2], [0, 1]), lambda a: np.roll(a, (1, -2), (0, 1)),
               [x])
    with pytest.raises(ValueError, match=r"\[roll\]"):
        tf.roll(x, [1, 2], [0])
    with pytest.raises(ValueError, match=r"\[roll\] axis 3"):
        tf.roll(x, 1, 3)


def test_repeat(where):
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    with tf.device(where):
        assert_array(tf.repeat(x, 2, axis=0), np.repeat(x, 2, axis=0))
        assert_array(tf.repeat(x, [1, 0, 3, 2], axis=1), np.repeat(x, [1, 0, 3, 2], axis=1))
        assert_array(tf.repeat(x, 2), np.repeat(x, 2))
        assert_array(tf.repeat(5, 3), np.repeat(5, 3))
    grad_check(lambda t: tf.repeat(t, [2, 0, 1], axis=0),
               lambda a: np.repeat(a, [2, 0, 1], axis=0), [x])
    with pytest.raises(ValueError, match=r"\[repeat\].*one entry per element"):
        tf.repeat(x, [1, 2], axis=1)


def test_tensor_scatter_nd_max_min_and_gradient():
    t = np.array([1., 5., -2., 0.])
    ind = np.array([[0], [2], [0], [3]])
    u = np.array([3., -4., 2., 0.])

    def ref(a, b, fn):
        r = a.copy()
        for i, v in zip(ind[:, 0], b):
            r[i] = fn(r[i], v)
        return r
    assert_array(tf.tensor_scatter_nd_max(t, ind, u), ref(t, u, max))
    assert_array(tf.tensor_scatter_nd_min(t, ind, u), ref(t, u, min))
    # at index 3 the tensor and the update tie (0 == 0): the gradient is split evenly
    with tf.GradientTape() as tape:
        tt, ut = tf.constant(t), tf.constant(u)
        tape.watch([tt, ut])
        y = tf.tensor_scatter_nd_max(tt, ind, ut)
    gt, gu = tape.gradient(y, [tt, ut])
    assert_array(gt, [0., 1., 1., 0.5])
    assert_array(gu, [1., 0., 0., 0.5])
    with pytest.raises(IndexError, match=r"\[tensor_scatter_nd_max\]"):
        tf.tensor_scatter_nd_max(t, [[4]], [1.])


def test_shape_helpers():
    a = tf.zeros([2, 3])
    assert [s.numpy().tolist() for s in tf.shape_n([a, tf.zeros([4])])] == [[2, 3], [4]]
    assert tf.broadcast_static_shape(tf.TensorShape([1, 3]), tf.TensorShape([2, 1])) \
        .as_list() == [2, 3]
    assert tf.broadcast_dynamic_shape(tf.constant([5, 1, 3]), tf.constant([4, 1])) \
        .numpy().tolist() == [5, 4, 3]
    with pytest.raises(ValueError, match=r"\[broadcast_static_shape\]"):
        tf.broadcast_static_shape(tf.TensorShape([2]), tf.TensorShape([3]))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"\[broadcast_dynamic_shape\]"):
        tf.broadcast_dynamic_shape([2], [3])
    assert tf.ensure_shape(a, [None, 3]) is not None
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"\[ensure_shape\].*\(2, 3\)"):
        tf.ensure_shape(a, [2, 4])
    x, y = tf.identity_n([a, tf.ones([1])])
    assert_array(y, [1.])
    assert tf.math.invert_permutation([2, 0, 1]).numpy().tolist() == [1, 2, 0]
    assert_array(tf.unravel_index([5, 7], [3, 4]), np.stack(np.unravel_index([5, 7], (3, 4))))
    v = np.array([-1., 0., 0.5, 2.4, 9.])
    expect = np.clip(np.floor((v - 0) / 5. * 5), 0, 4)
    assert_array(tf.histogram_fixed_width_bins(v, [0., 5.], nbins=5), expect, dtype=np.int32)


# -------------------------------------------------------------------------- math ops

UNARY = [
    ("asin", np.arcsin, lambda a: 1 / np.sqrt(1 - a * a), (-0.9, 0.9)),
    ("acos", np.arccos, lambda a: -1 / np.sqrt(1 - a * a), (-0.9, 0.9)),
    ("atan", np.arctan, lambda a: 1 / (1 + a * a), (-3, 3)),
    ("sinh", np.sinh, np.cosh, (-3, 3)),
    ("cosh", np.cosh, np.sinh, (-3, 3)),
    ("asinh", np.arcsinh, lambda a: 1 / np.sqrt(a * a + 1), (-3, 3)),
    ("acosh", np.arccosh, lambda a: 1 / np.sqrt(a * a - 1), (1.1, 4)),
    ("atanh", np.arctanh, lambda a: 1 / (1 - a * a), (-0.9, 0.9)),
]


@pytest.mark.parametrize("name,fn,dfn,rng", UNARY, ids=[u[0] for u in UNARY])
def test_inverse_trig_hyperbolic(name, fn, dfn, rng, where):
    x = RNG.uniform(*rng, size=(3, 7))
    with tf.device(where):
        f = getattr(tf.math, name)
        assert_array(f(x.astype(np.float32)), fn(x).astype(np.float32), rtol=1e-5)
        xt = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            y = tf.reduce_sum(f(xt))
        assert_array(tape.gradient(y, xt), dfn(x), rtol=1e-10)
    assert getattr(tf, name) is f


def test_special_functions_against_scipy(where):
    sp = pytest.importorskip("scipy.special")
    x = np.array([0.1, 0.5, 1.0, 2.5, 7.3, 30.0, -0.5, -2.7])
    with tf.device(where):
        assert_array(tf.math.lgamma(x), sp.gammaln(x), rtol=1e-10)
        assert_array(tf.math.digamma(x), sp.digamma(x), rtol=1e-10)
        z = np.array([-0.999, -0.5, 0.0, 0.3, 0.9, 0.99999])
        assert_array(tf.math.erfinv(z), sp.erfinv(z), rtol=1e-9)
        p = np.array([1e-6, 0.02, 0.5, 0.8, 0.999])
        assert_array(tf.math.ndtri(p), sp.ndtri(p), rtol=1e-7)
        w = np.array([-2., 0., 1.5, 6., 20.])
        assert_array(tf.math.erfc(w), sp.erfc(w), rtol=1e-10, atol=0)
        assert_array(tf.math.erf(w.astype(np.float32)), sp.erf(w).astype(np.float32))
    lg = tf.math.lgamma(tf.constant([0., -1., -2.]))
    assert np.all(np.isinf(lg.numpy()))
    assert np.isnan(tf.math.digamma(tf.constant([-3.])).numpy()).all()
    assert tf.math.erfinv(tf.constant([1.0, -1.0, 2.0])).numpy().tolist()[:2] == [np.inf, -np.inf]
    with pytest.raises(TypeError, match=r"\[lgamma\]"):
        tf.math.lgamma(tf.constant([1, 2]))


def test_special_function_gradients():
    sp = pytest.importorskip("scipy.special")
    x = np.array([0.3, 1.7, 4.2, -0.4])
    grad_check(tf.math.lgamma, sp.gammaln, [x], rtol=1e-5)
    grad_check(tf.math.digamma, sp.digamma, [x], rtol=1e-4)
    grad_check(tf.math.erfinv, sp.erfinv, [np.array([-0.7, 0.1, 0.95])], rtol=1e-5)
    grad_check(tf.math.erfc, sp.erfc, [np.array([-1.0, 0.2, 2.0])], rtol=1e-5)
    grad_check(tf.math.ndtri, sp.ndtri, [np.array([0.1, 0.5, 0.93])], rtol=1e-5)


def test_xlogy_xdivy_xlog1py(where):
    x = np.array([0., 0., 1.5, -2., 3.])
    y = np.array([0., 2., 0.5, 3., -0.5])
    with np.errstate(all="ignore"):
        e1 = np.where(x == 0, 0, x * np.log(np.where(x == 0, 1, y)))
        e2 = np.where(x == 0, 0, x / np.where(x == 0, 1, y))
        e3 = np.where(x == 0, 0, x * np.log1p(y))
    with tf.device(where):
        assert_array(tf.math.xlogy(x, y), e1)
        assert_array(tf.math.xdivy(x, y), e2)
        assert_array(tf.math.xlog1py(x, y), e3)
    xs, ys = np.array([[0., 1.3], [2., 0.]]), np.array([[0.5, 2.], [0.7, 0.]])
    for f, ref in [(tf.math.xlogy, lambda a, b: a * np.log(b)),
                   (tf.math.xdivy, lambda a, b: a / b),
                   (tf.math.xlog1py, lambda a, b: a * np.log1p(b))]:
        with tf.GradientTape() as tape:
            a, b = tf.constant(xs), tf.constant(ys)
            tape.watch([a, b])
            s = tf.reduce_sum(f(a, b))
        ga, gb = tape.gradient(s, [a, b])
        # where x == 0 both gradients are 0 (TF), elsewhere the ordinary derivatives
        nz = xs != 0
        na, nb = num_grad(lambda p, q: np.where(nz, ref(p, np.where(nz, q, 1)), 0),
                          [xs, ys], np.ones((2, 2)))
        assert_array(ga, np.where(nz, na, 0), rtol=1e-5)
        assert_array(gb, np.where(nz, nb, 0), rtol=1e-5)


def test_no_nan_ops(where):
    x = np.array([np.inf, np.nan, 2., -3.])
    y = np.array([0., 0., 4., 0.5])
    with tf.device(where):
        assert_array(tf.math.multiply_no_nan(x, y), [0., 0., 8., -1.5])
        assert_array(tf.math.reciprocal_no_nan(np.array([0., 2., -0.5])), [0., 0.5, -2.])
    grad_check(tf.math.reciprocal_no_nan, lambda a: 1 / a, [np.array([0.5, -2., 3.])])
    grad_check(tf.math.multiply_no_nan, lambda a, b: a * b,
               [np.array([1., -2.]), np.array([0.5, 3.])])


def test_truncatediv_truncatemod():
    a = np.array([-7, 7, -7, 7, 0])
    b = np.array([2, 2, -2, -2, 3])
    assert tf.math.truncatediv(a, b).numpy().tolist() == [int(p / q) for p, q in zip(a, b)]
    assert tf.truncatemod(a, b).numpy().tolist() == [math.fmod(p, q) for p, q in zip(a, b)]
    af, bf = np.array([-7.5, 7.5, 2.25]), np.array([2., -2., 0.5])
    assert_array(tf.math.truncatemod(af, bf), np.fmod(af, bf))
    grad_check(tf.math.truncatemod, np.fmod, [af, bf])
    with pytest.raises(ZeroDivisionError, match=r"\[truncatediv\]"):
        tf.math.truncatediv(a, np.zeros(5, np.int64))


def test_reduce_euclidean_norm_and_zero_fraction(where):
    x = RNG.standard_normal((3, 4))
    with tf.device(where):
        assert_array(tf.math.reduce_euclidean_norm(x), np.sqrt((x ** 2).sum()))
        assert_array(tf.math.reduce_euclidean_norm(x, axis=1, keepdims=True),
                     np.sqrt((x ** 2).sum(1, keepdims=True)))
        assert_array(tf.math.reduce_euclidean_norm(tf.constant([[3, 4], [1, 1]]), 1), [5, 1])
        z = np.array([[0., 1.], [0., 0.], [2., 0.]])
        assert_array(tf.math.zero_fraction(z), np.float32(4 / 6), dtype=np.float32)
        assert_array(tf.nn.zero_fraction(z), np.float32(4 / 6))
    grad_check(lambda t: tf.math.reduce_euclidean_norm(t, axis=0),
               lambda a: np.sqrt((a ** 2).sum(0)), [x])


def _ref_cumlse(x, axis, exclusive, reverse):
    v = np.flip(x, axis) if reverse else x
    v = np.moveaxis(v, axis, -1)
    out = np.empty_like(v)
    for idx in np.ndindex(v.shape[:-1]):
        row = v[idx]
        for j in range(row.shape[0]):
            part = row[:j] if exclusive else row[:j + 1]
            if part.size == 0:
                out[idx + (j,)] = -np.inf
            else:
                m = part.max()
                out[idx + (j,)] = m + np.log(np.exp(part - m).sum())
    out = np.moveaxis(out, -1, axis)
    return np.flip(out, axis) if reverse else out


@pytest.mark.parametrize("exclusive,reverse", list(itertools.product([False, True], repeat=2)))
def test_cumulative_logsumexp(exclusive, reverse, where):
    x = RNG.standard_normal((3, 5)) * 3
    x[0, 0] = -1000.0  # far below the rest: no underflow to -inf
    with tf.device(where):
        got = tf.math.cumulative_logsumexp(x, axis=1, exclusive=exclusive, reverse=reverse)
        assert_array(got, _ref_cumlse(x, 1, exclusive, reverse), rtol=1e-10)
    xs = x.copy()
    xs[0, 0] = -2.0

    def ref(a):
        r = _ref_cumlse(a, 0, exclusive, reverse)
        return np.where(np.isinf(r), 0, r)

    def f(t):
        r = tf.math.cumulative_logsumexp(t, axis=0, exclusive=exclusive, reverse=reverse)
        return tf.where(tf.math.is_inf(r), tf.zeros_like(r), r)
    grad_check(f, ref, [xs])


# ------------------------------------------------------------------- segment reductions


def _seg_ref(data, ids, num, fn, empty):
    out = np.full((num,) + data.shape[1:], empty, dtype=np.float64)
    for s in range(num):
        rows = data[ids == s]
        if len(rows):
            out[s] = fn(rows, axis=0)
    return out


def test_unsorted_segment_reductions(where):
    data = RNG.standard_normal((6, 3))
    ids = np.array([2, 0, 2, -1, 0, 2])
    with tf.device(where):
        assert_array(tf.math.unsorted_segment_max(data, ids, 4),
                     _seg_ref(data, ids, 4, np.max, np.finfo(np.float64).min))  # TF: lowest()
        assert_array(tf.math.unsorted_segment_min(data, ids, 4),
                     _seg_ref(data, ids, 4, np.min, np.finfo(np.float64).max))  # not +-inf
        assert_array(tf.math.unsorted_segment_prod(data, ids, 4),
                     _seg_ref(data, ids, 4, np.prod, 1.0))
        assert_array(tf.math.unsorted_segment_mean(data, ids, 4),
                     _seg_ref(data, ids, 4, np.mean, 0.0))
        cnt = np.maximum(np.bincount(ids[ids >= 0], minlength=4), 1)[:, None]
        assert_array(tf.math.unsorted_segment_sqrt_n(data, ids, 4),
                     _seg_ref(data, ids, 4, np.sum, 0.0) / np.sqrt(cnt))
    ii = np.array([[3, 1], [2, 1]])
    assert_array(tf.math.unsorted_segment_max(np.array([[1, 5], [7, 2]]), ii, 4),
                 [np.iinfo(np.int64).min, 5, 7, 1])
    full = np.array([2, 0, 1, -1, 0, 2])   # no empty segment (their max is -inf)
    for f, fn in [(tf.math.unsorted_segment_max, np.max), (tf.math.unsorted_segment_min, np.min),
                  (tf.math.unsorted_segment_prod, np.prod),
                  (tf.math.unsorted_segment_mean, np.mean)]:
        grad_check(lambda t: f(t, full, 3), lambda a: _seg_ref(a, full, 3, fn, 0.0), [data])
    with pytest.raises(ValueError, match=r"\[unsorted_segment_max\] segment id 2"):
        tf.math.unsorted_segment_max(data, ids, 2)


def test_segment_min_prod_sorted():
    data = RNG.standard_normal((5, 2))
    ids = np.array([0, 0, 2, 2, 2])
    assert_array(tf.math.segment_min(data, ids), _seg_ref(data, ids, 3, np.min, 0.0))
    assert_array(tf.math.segment_prod(data, ids), _seg_ref(data, ids, 3, np.prod, 1.0))
    grad_check(lambda t: tf.math.segment_prod(t, ids),
               lambda a: _seg_ref(a, ids, 3, np.prod, 1.0), [data])
    # products with zeros: one zero gives the product of the others, two give 0
    z = np.array([[0.0], [3.0], [0.0], [0.0], [2.0]])
    with tf.GradientTape() as tape:
        t = tf.constant(z)
        tape.watch(t)
        y = tf.reduce_sum(tf.math.segment_prod(t, np.array([0, 0, 1, 1, 1])))
    assert_array(tape.gradient(y, t), [[3.0], [0.0], [0.0], [0.0], [0.0]])
    with pytest.raises(ValueError, match=r"\[segment_min\] segment_ids must be sorted"):
        tf.math.segment_min(data, [1, 0, 0, 0, 0])


# --------------------------------------------------------------------------------- tf.nn


def test_weighted_and_normalized_moments(where):
    x = RNG.standard_normal((4, 3))
    w = np.array([[1.], [2.], [0.5], [3.]])
    m = (w * x).sum(0) / w.sum()
    v = (w * (x - m) ** 2).sum(0) / w.sum()
    with tf.device(where):
        mt, vt = tf.nn.weighted_moments(x, [0], w)
        assert_array(mt, m)
        assert_array(vt, v)
        mk, _ = tf.nn.weighted_moments(x, [0, 1], 2.0, keepdims=True)
        assert_array(mk, np.full((1, 1), x.mean()))
        cnt, mss, vss, sh = tf.nn.sufficient_statistics(x, [0], shift=0.5)
        assert_array(cnt, 4.0)
        assert_array(mss, (x - 0.5).sum(0))
        assert_array(vss, ((x - 0.5) ** 2).sum(0))
        mean, var = tf.nn.normalize_moments(cnt, mss, vss, sh)
        assert_array(mean, x.mean(0))
        assert_array(var, x.var(0))
    grad_check(lambda t: tf.nn.weighted_moments(t, [0], w)[1],
               lambda a: (w * (a - (w * a).sum(0) / w.sum()) ** 2).sum(0) / w.sum(), [x])


def test_log_poisson_loss_and_average_losses(where):
    z = np.array([0., 1., 2., 5.])
    c = np.array([0.3, -1., 0.5, 1.2])
    base = np.exp(c) - z * c
    zz = np.where(z > 1, z, 1)
    full = base + np.where(z > 1, zz * np.log(zz) - zz + 0.5 * np.log(2 * np.pi * zz), 0)
    with tf.device(where):
        assert_array(tf.nn.log_poisson_loss(z, tf.constant(c)), base)
        assert_array(tf.nn.log_poisson_loss(z, tf.constant(c), compute_full_loss=True), full)
        per = tf.constant([1., 2., 3., 6.])
        assert_array(tf.nn.compute_average_loss(per), 3.0)
        assert_array(tf.nn.compute_average_loss(per, global_batch_size=8), 1.5)
        assert_array(tf.nn.compute_average_loss(per, sample_weight=[1., 0., 0., 1.]), 7 / 4)
        assert_array(tf.nn.scale_regularization_loss([tf.constant(1.), tf.constant(2.)]), 3.0)
    grad_check(lambda t: tf.nn.log_poisson_loss(z, t, compute_full_loss=True),
               lambda a: full - base + np.exp(a) - z * a, [c])


def _lrn_ref(x, r, bias, alpha, beta):
    out = np.empty_like(x)
    C = x.shape[-1]
    for d in range(C):
        s = (x[..., max(0, d - r):min(C, d + r + 1)] ** 2).sum(-1)
        out[..., d] = x[..., d] / (bias + alpha * s) ** beta
    return out


def test_local_response_normalization(where):
    x = RNG.standard_normal((2, 3, 2, 7))
    with tf.device(where):
        assert_array(tf.nn.local_response_normalization(x, 2, 1.5, 0.3, 0.75),
                     _lrn_ref(x, 2, 1.5, 0.3, 0.75))
        assert_array(tf.nn.lrn(x), _lrn_ref(x, 5, 1.0, 1.0, 0.5))
    grad_check(lambda t: tf.nn.lrn(t, 1, 1.0, 0.5, 0.75),
               lambda a: _lrn_ref(a, 1, 1.0, 0.5, 0.75), [x[:1, :2, :1]])
    with pytest.raises(ValueError, match=r"\[local_response_normalization\].*4-D"):
        tf.nn.lrn(tf.zeros([3, 4]))


def test_crelu():
    x = np.array([[-1., 2.], [0.5, -3.]])
    assert_array(tf.nn.crelu(x), np.concatenate([np.maximum(x, 0), np.maximum(-x, 0)], -1))


def _ctc_brute(logits, label, T, blank):
    """-log sum over all frame paths (T x C) that collapse to `label` (brute force)."""
    lg = logits[:T]
    lp = lg - lg.max(1, keepdims=True)
    lp = lp - np.log(np.exp(lp).sum(1, keepdims=True))
    total = -np.inf
    for path in itertools.product(range(lg.shape[1]), repeat=T):
        out, prev = [], None
        for k in path:
            if k != prev and k != blank:
                out.append(k)
            prev = k
        if out == list(label):
            total = np.logaddexp(total, sum(lp[t, k] for t, k in enumerate(path)))
    return -total


@pytest.mark.parametrize("time_major,blank", [(True, None), (False, 2), (True, -1)])
def test_ctc_loss_against_brute_force(time_major, blank, where):
    B, T, C = 3, 4, 3
    lg = RNG.standard_normal((B, T, C))
    b = 0 if blank is None else blank % C
    others = [k for k in range(C) if k != b]
    labels = np.array([[others[0], others[1]], [others[1], others[1]], [others[0], 0]])
    label_len = np.array([2, 2, 1])
    logit_len = np.array([4, 4, 3])

    def ref(l3):
        return np.array([_ctc_brute(l3[i], labels[i, :label_len[i]], logit_len[i], b)
                         for i in range(B)])
    inp = lg if not time_major else np.swapaxes(lg, 0, 1)
    with tf.device(where):
        got = tf.nn.ctc_loss(labels, tf.constant(inp), label_len, logit_len,
                             logits_time_major=time_major, blank_index=blank)
        assert_array(got, ref(lg), rtol=1e-9)
    if time_major:
        grad_check(lambda t: tf.nn.ctc_loss(labels, t, label_len, logit_len,
                                            blank_index=blank),
                   lambda a: ref(np.swapaxes(a, 0, 1)), [inp], rtol=1e-5, atol=1e-7)
    else:
        grad_check(lambda t: tf.nn.ctc_loss(labels, t, label_len, logit_len,
                                            logits_time_major=False, blank_index=blank),
                   ref, [inp], rtol=1e-5, atol=1e-7)


def test_ctc_loss_errors_and_impossible():
    lg = tf.constant(np.zeros((2, 1, 3)))
    # a repeated label needs a blank between: 3 frames for [1, 1]; 2 frames is impossible
    assert np.isinf(tf.nn.ctc_loss([[1, 1]], lg, [2], [2]).numpy()[0])
    with pytest.raises(ValueError, match=r"\[ctc_loss\].*blank"):
        tf.nn.ctc_loss([[0, 1]], lg, [2], [2])
    with pytest.raises(ValueError, match=r"\[ctc_loss\] batch sizes differ"):
        tf.nn.ctc_loss([[1], [2]], lg, [1, 1], [2, 2])


def test_ctc_greedy_decoder():
    T, B, C = 6, 2, 4
    lg = RNG.standard_normal((T, B, C)).astype(np.float32)
    best = [[1, 1, 3, 1, 2, 2], [3, 0, 0, 3, 3, 0]]
    for b in range(B):
        for t, k in enumerate(best[b]):
            lg[t, b, k] = 10.0
    seq = [6, 5]
    (dec,), neg = tf.nn.ctc_greedy_decoder(lg, seq)
    # blank is the last class (3); repeats merge first
    assert dec.values.numpy().tolist() == [1, 1, 2, 0]
    assert dec.indices.numpy().tolist() == [[0, 0], [0, 1], [0, 2], [1, 0]]
    assert dec.dense_shape.numpy().tolist() == [2, 3]
    assert_array(neg, np.array([[-lg[:6, 0].max(1).sum()], [-lg[:5, 1].max(1).sum()]]))
    (dec2,), _ = tf.nn.ctc_greedy_decoder(lg, seq, merge_repeated=False, blank_index=0)
    assert dec2.values.numpy().tolist() == [1, 1, 3, 1, 2, 2, 3, 3, 3]


# ------------------------------------------------------------------------------ random


def test_stateless_random_deterministic_and_distributed():
    s = (3, 14)
    for f in [lambda seed: tf.random.stateless_uniform([2000], seed),
              lambda seed: tf.random.stateless_normal([2000], seed, mean=1.0, stddev=2.0),
              lambda seed: tf.random.stateless_truncated_normal([2000], seed),
              lambda seed: tf.random.stateless_uniform([50], seed, 3, 9, dtype=tf.int32),
              lambda seed: tf.random.stateless_categorical(tf.math.log([[0.2, 0.8]]), 50,
                                                           seed),
              lambda seed: tf.random.stateless_binomial([50], seed, 10, 0.3),
              lambda seed: tf.random.stateless_poisson([50], seed, 4.0),
              lambda seed: tf.random.stateless_gamma([50], seed, 2.0)]:
        a, b, c = f(s), f(s), f((3, 15))
        assert np.array_equal(a.numpy(), b.numpy())
        assert not np.array_equal(a.numpy(), c.numpy())
    u = tf.random.stateless_uniform([20000], s, minval=-1., maxval=3.).numpy()
    assert u.dtype == np.float32 and u.min() >= -1 and u.max() < 3
    assert abs(u.mean() - 1.0) < 0.05
    n = tf.random.stateless_normal([20000], s, mean=1.0, stddev=2.0).numpy()
    assert abs(n.mean() - 1) < 0.06 and abs(n.std() - 2) < 0.06
    t = tf.random.stateless_truncated_normal([20000], s).numpy()
    assert np.abs(t).max() <= 2
    i = tf.random.stateless_uniform([1000], s, 3, 9, dtype=tf.int32).numpy()
    assert i.dtype == np.int32 and set(np.unique(i)) == set(range(3, 9))
    g = tf.random.stateless_gamma([20000], s, alpha=3.0, beta=2.0).numpy()
    assert abs(g.mean() - 1.5) < 0.05          # alpha / beta (beta is a rate)
    cat = tf.random.stateless_categorical(tf.math.log([[0.2, 0.8]]), 20000, s).numpy()
    assert cat.shape == (1, 20000) and abs(cat.mean() - 0.8) < 0.02
    with pytest.raises(ValueError, match=r"\[random.stateless_uniform\] seed"):
        tf.random.stateless_uniform([2], seed=3)
    with pytest.raises(ValueError, match=r"\[random.stateless_uniform\] integer"):
        tf.random.stateless_uniform([2], s, dtype=tf.int32)


def test_stateless_split_fold_in_and_stateful_gamma_poisson():
    seeds = tf.random.experimental.stateless_split((1, 2), num=3)
    assert seeds.shape == (3, 2) and seeds.dtype == tf.int32   # the seed's dtype, as TF
    assert np.array_equal(seeds.numpy(), tf.random.experimental.stateless_split((1, 2), 3).numpy())
    assert len({tuple(r) for r in seeds.numpy().tolist()}) == 3
    f1 = tf.random.experimental.stateless_fold_in((1, 2), 5).numpy()
    assert f1.shape == (2,) and not np.array_equal(f1, tf.random.experimental
                                                   .stateless_fold_in((1, 2), 6).numpy())
    tf.random.set_seed(4)
    g = tf.random.gamma([5000], alpha=[1.0, 4.0], beta=[1.0, 2.0])
    assert g.shape == (5000, 2)
    assert np.allclose(g.numpy().mean(0), [1.0, 2.0], atol=0.1)
    p = tf.random.poisson([4000], lam=[1.0, 6.0], dtype=tf.int32)
    assert p.shape == (4000, 2) and p.dtype == tf.int32
    assert np.allclose(p.numpy().mean(0), [1.0, 6.0], atol=0.15)


def test_image_stateless_ops_share_the_seed_function():
    img = np.arange(2 * 3 * 4 * 1, dtype=np.float32).reshape(2, 3, 4, 1)
    out = tf.image.stateless_random_flip_left_right(img, seed=(5, 6)).numpy()
    # TF's rule: a batch's image flips where stateless_uniform([batch], seed) rounds to 1
    flips = tf.random.stateless_uniform([2], seed=(5, 6)).numpy() > 0.5
    for i in range(2):
        assert np.array_equal(out[i], img[i, :, ::-1] if flips[i] else img[i])


# ------------------------------------------------------------------------ control flow


def test_cond_case_switch_case():
    x = tf.constant(3.0)
    assert tf.cond(x > 2, lambda: x * 2, lambda: x).numpy() == 6.0
    assert tf.cond(tf.constant(False), lambda: 1, lambda: 2) == 2
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.cond(x > 2, lambda: x * x, lambda: x)
    assert tape.gradient(y, x).numpy() == 6.0
    r = tf.case([(x < 0, lambda: 10), (x > 1, lambda: 20), (x > 2, lambda: 30)],
                default=lambda: 0)
    assert r == 20
    assert tf.case([(x < 0, lambda: 10)], default=lambda: 0) == 0
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"\[case\] none of the 1"):
        tf.case([(x < 0, lambda: 10)])
    assert tf.case({x > 0: lambda: "dict"}) == "dict"
    with pytest.raises(ValueError, match=r"\[case\] exclusive"):
        tf.case([(x > 1, lambda: 20), (x > 2, lambda: 30)], exclusive=True)
    fns = [lambda: "a", lambda: "b", lambda: "c"]
    assert tf.switch_case(tf.constant(1), fns) == "b"
    assert tf.switch_case(7, fns) == "c"                        # out of range: last branch
    assert tf.switch_case(7, fns, default=lambda: "d") == "d"
    assert tf.switch_case(1, {0: lambda: "x", 1: lambda: "z"}) == "z"
    with pytest.raises(ValueError, match="contiguous"):      # TF: keys must be 0..n-1
        tf.switch_case(2, {0: lambda: "x", 2: lambda: "z"})
    with pytest.raises(ValueError, match=r"\[cond\] the predicate must be a scalar"):
        tf.cond(tf.constant([True, False]), lambda: 1, lambda: 2)


def test_while_loop_structures_and_gradient():
    i, s = tf.while_loop(lambda i, s: i < 5, lambda i, s: (i + 1, s + i), [0, 0])
    assert (int(i), int(s)) == (5, 10)
    n = tf.while_loop(lambda v: v < 100, lambda v: v * 3, tf.constant(1))
    assert int(n) == 243
    Pair = collections.namedtuple("Pair", "a b")
    out = tf.while_loop(lambda p: p.a < 3, lambda p: Pair(p.a + 1, p.b * 2.0),
                        [Pair(tf.constant(0), tf.constant(1.0))])
    assert isinstance(out[0], Pair) and float(out[0].b) == 8.0
    k, = tf.while_loop(lambda k: True, lambda k: (k + 1,), (0,), maximum_iterations=4)
    assert int(k) == 4
    x = tf.constant(1.5, dtype=tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(x)
        _, p = tf.while_loop(lambda j, p: j < 4, lambda j, p: (j + 1, p * x),
                             [tf.constant(0), tf.constant(1.0, dtype=tf.float64)])
    assert_array(p, 1.5 ** 4)
    assert_array(tape.gradient(p, x), 4 * 1.5 ** 3)
    with pytest.raises(ValueError, match=r"\[while_loop\] body returned 1"):
        tf.while_loop(lambda a, b: a < 2, lambda a, b: a + 1, [0, 0])


def test_map_fn_scan_fold_with_structures():
    x = RNG.standard_normal((4, 3))
    y = RNG.standard_normal((4,))
    got = tf.map_fn(lambda t: tf.reduce_sum(t ** 2), tf.constant(x))
    assert_array(got, (x ** 2).sum(1))
    out = tf.map_fn(lambda e: {"s": e[0] * e[1][:, None] if False else e[0] * e[1], "t": e[1]},
                    (tf.constant(x), tf.constant(y)),
                    fn_output_signature={"s": tf.float64, "t": tf.float64})  # TF needs it
    assert_array(out["s"], x * y[:, None])
    assert_array(out["t"], y)
    assert tf.map_fn(lambda t: t, tf.zeros([0, 3])).shape == (0, 3)
    grad_check(lambda t: tf.map_fn(lambda r: tf.reduce_sum(tf.sin(r) * r), t),
               lambda a: (np.sin(a) * a).sum(1), [x])
    assert_array(tf.vectorized_map(lambda r: r * 2, tf.constant(x)), x * 2)
    v = np.array([1., 2., 3., 4.])
    assert_array(tf.scan(lambda a, e: a + e, v), np.cumsum(v))
    assert_array(tf.scan(lambda a, e: a * e, v, initializer=tf.constant(2.0, tf.float64)),
                 2 * np.cumprod(v))
    assert_array(tf.scan(lambda a, e: a + e, v, reverse=True), np.cumsum(v[::-1])[::-1])
    fib = tf.scan(lambda a, _: (a[1], a[0] + a[1]), tf.range(6),
                  initializer=(tf.constant(0), tf.constant(1)))
    assert fib[0].numpy().tolist() == [1, 1, 2, 3, 5, 8]
    assert float(tf.foldl(lambda a, e: a - e, v)) == 1 - 2 - 3 - 4
    assert float(tf.foldr(lambda a, e: a - e, v)) == 4 - 3 - 2 - 1
    assert float(tf.foldl(lambda a, e: a + e[0] * e[1], (v, v), initializer=tf.constant(0.0, tf.float64))) == 30.0
    grad_check(lambda t: tf.scan(lambda a, e: a * e, t), np.cumprod, [v])
    with pytest.raises(ValueError, match=r"\[map_fn\] all elems must have the same first"):
        tf.map_fn(lambda e: e, (tf.zeros([2]), tf.zeros([3])))


def test_tensor_array():
    ta = tf.TensorArray(tf.float32, size=3)
    for i in range(3):
        ta = ta.write(i, tf.constant([i, i + 0.5]))
    assert_array(ta.stack(), [[0, 0.5], [1, 1.5], [2, 2.5]])
    assert_array(ta.read(1), [1, 1.5])
    assert_array(ta.gather([2, 0]), [[2, 2.5], [0, 0.5]])
    assert_array(ta.concat(), [0, 0.5, 1, 1.5, 2, 2.5])
    assert int(ta.size()) == 3
    tb = tf.TensorArray(tf.float32, size=0, dynamic_size=True).unstack(tf.constant([[1.], [2.]]))
    tb = tb.write(3, [4.])
    assert int(tb.size()) == 4
    assert_array(tb.stack(), [[1.], [2.], [0.], [4.]])
    tc = tf.TensorArray(tf.float32, size=4).scatter([3, 0], tf.constant([[7.], [8.]]))
    assert_array(tc.read(0), [8.])
    with pytest.raises(IndexError, match=r"\[TensorArray.write\] index 3"):
        tf.TensorArray(tf.float32, size=3).write(3, 1.0)
    with pytest.raises(TypeError, match=r"\[TensorArray.write\].*int32"):
        tf.TensorArray(tf.float32, size=1).write(0, tf.constant(1))
    with pytest.raises(ValueError, match=r"\[TensorArray.write\] element shape"):
        ta.write(0, tf.constant([1.0]))
    # gradients flow through write -> stack, in a while_loop building the array
    x = tf.constant([1.0, 2.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        arr = tf.TensorArray(tf.float32, size=3)
        _, arr = tf.while_loop(lambda i, a: i < 3,
                               lambda i, a: (i + 1, a.write(i, x * tf.cast(i + 1, tf.float32))),
                               [0, arr])
        total = tf.reduce_sum(arr.stack())
    assert_array(tape.gradient(total, x), [6.0, 6.0])


def test_misc_namespace():
    with tf.name_scope("outer") as a:
        with tf.name_scope("inner") as b:
            assert (a, b) == ("outer/", "outer/inner/")
    with tf.control_dependencies([tf.no_op()]):
        pass
    assert tf.group(tf.constant(1)) is None
    assert tf.tuple([tf.constant(1.)])[0].numpy() == 1.0
    assert tf.executing_eagerly()
    assert tf.autograph.experimental.do_not_convert(lambda: 5)() == 5
    assert tf.autograph.experimental.do_not_convert()(lambda: 6)() == 6
    assert isinstance(tf.config.experimental.list_physical_devices("CPU"), list)
    assert tuple([1, 2]) == (1, 2)   # the builtin is not shadowed in test modules


# ----------------------------------------------------------------------------- tf.nest


def test_nest():
    Point = collections.namedtuple("Point", "x y")
    s = {"b": [1, (2, 3)], "a": Point(4, None)}
    assert tf.nest.flatten(s) == [4, None, 1, 2, 3]
    assert tf.nest.flatten(5) == [5]
    packed = tf.nest.pack_sequence_as(s, list("abcde"))
    assert packed == {"b": ["c", ("d", "e")], "a": Point("a", "b")}
    assert tf.nest.map_structure(lambda p, q: p * q, (1, [2]), (3, [4])) == (3, [8])
    assert tf.nest.is_nested([]) and not tf.nest.is_nested(tf.constant(1))
    tf.nest.assert_same_structure((1, [2]), (3, [4]))
    with pytest.raises(ValueError, match=r"\[nest.assert_same_structure\]"):
        tf.nest.assert_same_structure((1, [2]), (3, 4))
    with pytest.raises(TypeError, match=r"\[nest.assert_same_structure\]"):
        tf.nest.assert_same_structure((1, 2), [3, 4])
    with pytest.raises(ValueError, match=r"\[nest.pack_sequence_as\] the structure has 2"):
        tf.nest.pack_sequence_as((1, 2), [1])


# ------------------------------------------------------------------------ tf.debugging


def test_debugging_assertions():
    E = tf.errors.InvalidArgumentError
    x = tf.constant([1.0, 2.0])
    assert tf.debugging.assert_equal(x, [1.0, 2.0]) is None
    with pytest.raises(E, match=r"my msg\n\[assert_equal\].*first at \[1\]"):
        tf.debugging.assert_equal(x, [1.0, 3.0], message="my msg")
    tf.debugging.assert_near(x, x + 1e-7)
    with pytest.raises(E, match=r"\[assert_near\]"):
        tf.debugging.assert_near(x, x + 1e-3)
    tf.debugging.assert_near(x, x + 1e-3, atol=1e-2)
    tf.debugging.assert_positive(x)
    with pytest.raises(E, match=r"\[assert_non_negative\]"):
        tf.debugging.assert_non_negative(-x)
    tf.debugging.assert_less(x, 3.0)
    tf.assert_greater(x, 0.0)
    tf.debugging.assert_rank(x, 1)
    with pytest.raises(E, match=r"\[assert_rank\].*rank 2, got rank 1"):
        tf.assert_rank(x, 2)
    tf.debugging.assert_shapes([(tf.zeros([2, 3]), ("N", "D")), (tf.zeros([2]), ("N",)),
                                (tf.zeros([5, 2, 3]), ("...", "N", 3))])
    with pytest.raises(E, match=r"\[assert_shapes\] dimension 'N' is 2"):
        tf.debugging.assert_shapes([(tf.zeros([2, 3]), ("N", "D")), (tf.zeros([4]), ("N",))])
    assert tf.debugging.check_numerics(x, "ok") is x
    with pytest.raises(E, match=r"bad : \[check_numerics\].*NaN"):
        tf.debugging.check_numerics(tf.constant([1.0, np.nan]), "bad")
    with pytest.raises(E, match=r"\[Assert\]"):
        tf.debugging.Assert(tf.constant(False), ["value", x])
    with pytest.raises(TypeError, match=r"\[assert_type\]"):
        tf.debugging.assert_type(x, tf.int32)


# ------------------------------------------------------------- gather batch_dims, unique


def _gather_batched_ref(p, ind, axis, b):
    """out[i..., :] = np.take(p[i...], ind[i...], axis - b), looping over the batch dims."""
    bshape = p.shape[:b]
    out = None
    for bi in np.ndindex(bshape):
        r = np.take(p[bi], ind[bi], axis=axis - b)
        if out is None:
            out = np.empty(bshape + r.shape, r.dtype)
        out[bi] = r
    return out


@pytest.mark.parametrize("pshape,ishape,axis,b", [
    ((2, 3, 4), (2, 2), 1, 1),
    ((2, 3, 5, 4), (2, 3, 2), 2, 2),
    ((2, 5, 3, 4), (2, 2, 3), 2, 1),       # a middle axis between batch and gathered axis
    ((3, 4, 2), (3, 1, 2), -1, 1),
    ((2, 3), (2, 4), 1, -1),
])
def test_gather_batch_dims(pshape, ishape, axis, b, where):
    p = RNG.standard_normal(pshape)
    n = pshape[axis]
    ind = RNG.integers(0, n, ishape)   # TF (CPU) rejects negative indices
    bb = b % len(ishape)
    expect = _gather_batched_ref(p, np.mod(ind, n), axis % len(pshape), bb)
    with tf.device(where):
        assert_array(tf.gather(p, ind, axis=axis, batch_dims=b), expect)
    c = RNG.standard_normal(expect.shape)
    pt = tf.constant(p)
    with tf.GradientTape() as tape:
        tape.watch(pt)
        y = tf.reduce_sum(tf.gather(pt, ind, axis=axis, batch_dims=b) * c)
    # analytic: each gathered element sends its c back to where it came from
    g = np.zeros_like(p)
    ax = axis % len(pshape)
    for bi in np.ndindex(pshape[:bb]):
        gm = np.moveaxis(g[bi], ax - bb, 0)
        cm = np.moveaxis(c[bi], tuple(range(ax - bb, ax - bb + len(ishape) - bb)),
                         tuple(range(len(ishape) - bb)))
        np.add.at(gm, np.mod(ind[bi], n), cm)
    assert_array(tape.gradient(y, pt), g)


def test_gather_batch_dims_errors():
    with pytest.raises(ValueError, match=r"\[gather\] the batch dimensions"):
        tf.gather(tf.zeros([2, 3]), [[0], [1], [2]], axis=1, batch_dims=1)
    with pytest.raises(ValueError, match=r"\[gather\] need 0 <= batch_dims"):
        tf.gather(tf.zeros([2, 3]), [[0], [1]], axis=0, batch_dims=1)
    with pytest.raises(IndexError, match=r"\[gather\] indices must be in \[0, 3\)"):
        tf.gather(tf.zeros([2, 3]), [[0], [3]], axis=1, batch_dims=1)


def test_unique_results_are_named():
    u = tf.unique([4, 4, 1, 4, 7])
    assert u.y.numpy().tolist() == [4, 1, 7] and u.idx.numpy().tolist() == [0, 0, 1, 0, 2]
    y, idx = u
    c = tf.unique_with_counts([4, 4, 1])
    assert c.count.numpy().tolist() == [2, 1] and c.y.numpy().tolist() == [4, 1]


# ------------------------------------------------------ sampled softmax / NCE and samplers


def _np_sampled(w, b, x, lab, sampled, t_exp, s_exp, remove_hits):
    nt = lab.shape[1]
    tl = np.einsum("bd,btd->bt", x, w[lab]) + b[lab] - np.log(t_exp)
    sl = x @ w[sampled].T + b[sampled] - np.log(s_exp)
    if remove_hits:
        hit = (lab[:, :, None] == sampled[None, None, :]).any(1)
        sl = sl + np.where(hit, np.finfo(np.float32).min, 0)
    logits = np.concatenate([tl, sl], 1)
    target = np.concatenate([np.full(tl.shape, 1 / nt), np.zeros(sl.shape)], 1)
    return logits, target


def _np_sampled_softmax(*a):
    logits, z = _np_sampled(*a)
    m = logits.max(1, keepdims=True)
    lsm = logits - m - np.log(np.exp(logits - m).sum(1, keepdims=True))
    return -(z * lsm).sum(1)


def _np_nce(*a):
    x, z = _np_sampled(*a)
    return (np.maximum(x, 0) - x * z + np.log1p(np.exp(-np.abs(x)))).sum(1)


@pytest.mark.parametrize("which", ["sampled_softmax", "nce"])
def test_sampled_softmax_and_nce_against_numpy(which):
    C, D, B, NT = 11, 3, 4, 2
    w, b, x = RNG.standard_normal((C, D)), RNG.standard_normal(C), RNG.standard_normal((B, D))
    lab = np.array([[0, 3], [5, 1], [2, 2], [10, 4]])
    sampled = np.array([3, 7, 9, 2, 6])
    t_exp = RNG.uniform(0.1, 0.9, (B, NT))
    s_exp = RNG.uniform(0.1, 0.9, 5)
    sv = (tf.constant(sampled), tf.constant(t_exp), tf.constant(s_exp))
    hits = which == "sampled_softmax"
    if which == "sampled_softmax":
        def f(wt, bt, xt):
            return tf.nn.sampled_softmax_loss(wt, bt, lab, xt, 5, C, num_true=NT,
                                              sampled_values=sv)
        ref = _np_sampled_softmax
    else:
        def f(wt, bt, xt):
            return tf.nn.nce_loss(wt, bt, lab, xt, 5, C, num_true=NT, sampled_values=sv)
        ref = _np_nce
    grad_check(f, lambda wa, ba, xa: ref(wa, ba, xa, lab, sampled, t_exp, s_exp, hits),
               [w, b, x], rtol=1e-5)


def test_sampled_losses_default_sampler_and_errors():
    tf.random.set_seed(3)
    w, b = tf.constant(RNG.standard_normal((40, 3))), tf.zeros([40], tf.float64)
    x = tf.constant(RNG.standard_normal((5, 3)))
    lab = [[1], [2], [3], [4], [5]]
    l1 = tf.nn.sampled_softmax_loss(w, b, lab, x, 8, 40, seed=9)
    l2 = tf.nn.sampled_softmax_loss(w, b, lab, x, 8, 40, seed=9)
    assert l1.shape == (5,) and np.array_equal(l1.numpy(), l2.numpy())
    assert tf.nn.nce_loss(w, b, lab, x, 8, 40).shape == (5,)
    with pytest.raises(ValueError, match=r"\[sampled_softmax_loss\] labels must be integers"):
        tf.nn.sampled_softmax_loss(w, b, [[1, 2]], x, 8, 40)
    with pytest.raises(ValueError, match=r"\[nce_loss\] weights must be"):
        tf.nn.nce_loss(tf.zeros([40, 2], tf.float64), b, lab, x, 8, 40)


def test_candidate_samplers():
    R, N = 20, 40000
    p = (np.log(np.arange(R) + 2.0) - np.log(np.arange(R) + 1.0)) / np.log(R + 1.0)
    tf.random.set_seed(1)
    s, te, se = tf.random.log_uniform_candidate_sampler([[0], [7]], 1, N, False, R)
    freq = np.bincount(s.numpy(), minlength=R) / N
    assert np.allclose(freq, p, atol=0.01)
    assert_array(te, (p[[0, 7]] * N).reshape(2, 1).astype(np.float32))
    assert_array(se, (p[s.numpy()] * N).astype(np.float32))
    s, te, se = tf.nn.log_uniform_candidate_sampler([[3]], 1, 10, True, R, seed=5)
    assert len(set(s.numpy().tolist())) == 10 and s.dtype == tf.int64
    # unique: expected count 1 - (1 - p)^tries for the same number of tries for every class
    tries = np.log1p(-se.numpy()) / np.log1p(-p[s.numpy()])
    assert np.allclose(tries, tries[0], rtol=1e-3) and tries[0] >= 10
    u, ute, _ = tf.random.uniform_candidate_sampler([[1, 2]], 2, 6, True, 6, seed=2)
    assert sorted(u.numpy().tolist()) == list(range(6))
    with pytest.raises(ValueError, match=r"\[uniform_candidate_sampler\]"):
        tf.random.uniform_candidate_sampler([[1]], 1, 7, True, 6)


# ------------------------------------------------------------------- small top-level names


def _reverse_sequence_ref(x, lens, sa, ba):
    out = x.copy()
    for b, n in enumerate(lens):
        src = np.take(x, b, axis=ba)
        dst = np.take(out, b, axis=ba)  # a copy: write back below
        s = sa - (1 if sa > ba else 0)
        idx = [slice(None)] * src.ndim
        idx[s] = slice(0, n)
        dst[tuple(idx)] = np.flip(src[tuple(idx)], axis=s)
        sel = [slice(None)] * x.ndim
        sel[ba] = b
        out[tuple(sel)] = dst
    return out


@pytest.mark.parametrize("shape,sa,ba", [((2, 5), 1, 0), ((4, 3, 2), 0, 1), ((3, 2, 4), 2, 0)])
def test_reverse_sequence(shape, sa, ba):
    x = RNG.standard_normal(shape)
    lens = RNG.integers(0, shape[sa] + 1, shape[ba])
    assert_array(tf.reverse_sequence(x, lens, seq_axis=sa, batch_axis=ba),
                 _reverse_sequence_ref(x, lens, sa, ba))
    grad_check(lambda t: tf.reverse_sequence(t, lens, seq_axis=sa, batch_axis=ba),
               lambda a: _reverse_sequence_ref(a, lens, sa, ba), [x])
    with pytest.raises(ValueError, match=r"\[reverse_sequence\] seq_lengths"):
        tf.reverse_sequence(x, [99] * shape[ba], seq_axis=sa, batch_axis=ba)


def test_small_top_level_names():
    x = tf.constant([0.4, 1.6])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(tf.grad_pass_through(tf.round)(x * 3.0))
    assert float(y) == 1.0 + 5.0
    assert_array(tape.gradient(y, x), [3.0, 3.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        z = tf.reduce_sum(x)
    gz = tape.gradient(z, [x, tf.constant(1.0)], unconnected_gradients=tf.UnconnectedGradients.ZERO)
    assert float(gz[1]) == 0.0
    assert tf.parallel_stack([x, x]).shape == (2, 2)
    assert tf.timestamp().dtype == tf.float64
    assert tf.version.VERSION == tf.__version__
    assert tf.half is tf.float16 and tf.double is tf.float64
    assert_array(tf.constant_initializer(2.0)([3]), [2.0, 2.0, 2.0])
    assert_array(tf.zeros_initializer()([2]), [0.0, 0.0])
    assert tf.random_normal_initializer(stddev=0.1)([4, 5]).shape == (4, 5)
    f = tf.recompute_grad(lambda t: t * 2)
    assert_array(f(x), [0.8, 3.2])
    assert_array(tf.guarantee_const(x), [0.4, 1.6])
    tf.config.experimental.enable_op_determinism()
    assert tf.get_logger().name == "nabi"
