"""Second-order gradients, round 3 (besides the recurrent ops, test_second_order_rnn.py):
cumprod (exclusive, reverse, with zeros), the segment max/min/prod reductions (sorted and
unsorted), tensor_scatter_nd_max/min, categorical_hinge and the focal cross-entropies
(functions and loss objects), ctc_loss, the matrix ops inv/det/slogdet/solve/
triangular_solve/cholesky/logdet and the decompositions eigh/eigvalsh/svd/qr/pinv (and
lstsq, a composition), xlogy/xlog1py/xdivy/multiply_no_nan, lgamma/erfinv/ndtri, floormod,
cumulative_logsumexp and signal.overlap_and_add.

Every number is checked against NumPy: Hessian-vector products against float64 central
second differences (reference.fd_hvp, through test_second_order.hvp_check), gradients of
penalties against reference.fd_grads of a NumPy penalty.
"""
import numpy as np
import pytest
import scipy.special as sp

import nabi as tf
from nabi import keras

import reference as ref
from test_second_order import _sig, hvp_check

# ------------------------------------------------------------------ cumprod


def _cumprod_np(x, axis, exclusive, reverse):
    v = np.flip(x, axis) if reverse else x
    r = np.cumprod(v, axis=axis)
    if exclusive:
        r = np.moveaxis(r, axis, 0)
        r = np.concatenate([np.ones((1,) + r.shape[1:]), r[:-1]], axis=0)
        r = np.moveaxis(r, 0, axis)
    return np.flip(r, axis) if reverse else r


@pytest.mark.parametrize("exclusive", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("axis", [0, -1])
def test_cumprod_hvp(exclusive, reverse, axis):
    rng = np.random.default_rng(1)
    x = rng.uniform(0.5, 1.5, (4, 5)) * rng.choice([-1.0, 1.0], (4, 5))
    x[1, 2] = 0.0                   # zeros: the rule never divides by x
    x[2, 3] = x[2, 4] = 0.0
    hvp_check(lambda x: tf.sin(tf.math.cumprod(x, axis, exclusive=exclusive, reverse=reverse)),
              lambda x: np.sin(_cumprod_np(x, axis, exclusive, reverse)), [x])


def test_cumprod_third_order_and_hessian_exact_with_zeros():
    # f = prod(x) (the last cumprod entry): d2f/dxi dxj = prod of the others, exact at zeros
    x = tf.Variable(np.array([2.0, 0.0, 3.0, -1.5]))
    with tf.GradientTape() as t3:
        with tf.GradientTape() as t2:
            with tf.GradientTape() as t1:
                y = tf.math.cumprod(x)[-1]
            g = t1.gradient(y, x)
        H = t2.jacobian(g, x)
        s = tf.reduce_sum(H)
    d3 = t3.gradient(s, x)
    xv = x.numpy()
    n = len(xv)
    H_np = np.zeros((n, n))
    d3_np = np.zeros(n)
    for i in range(n):
        for j in range(n):
            if i != j:
                H_np[i, j] = np.prod(np.delete(xv, [i, j]))
                for k in range(n):     # d/dxk of the (i, j) entry
                    if k not in (i, j):
                        d3_np[k] += np.prod(np.delete(xv, [i, j, k]))
    np.testing.assert_allclose(g.numpy(), [np.prod(np.delete(xv, i)) for i in range(n)])
    np.testing.assert_allclose(H.numpy(), H_np, atol=1e-15)
    np.testing.assert_allclose(d3.numpy(), d3_np, atol=1e-15)


# ------------------------------------------------------------------ segment reductions


def _seg_np(x, ids, num, fn, init, empty=None):
    out = np.full((num,) + x.shape[1:], init)
    seen = np.zeros(num, bool)
    for i, r in enumerate(ids):
        if r >= 0:
            out[r] = fn(out[r], x[i])
            seen[r] = True
    if empty is not None:
        out[~seen] = empty
    return out


def _distinct(rng, shape):
    n = int(np.prod(shape))
    return (rng.permutation(n) * 0.3 - n * 0.15).reshape(shape) + rng.uniform(0, 0.05, shape)


SORTED = np.array([0, 0, 1, 1, 1, 3])           # segment 2 empty
UNSORTED = np.array([2, 0, -1, 2, 1, 0])        # row 2 dropped; segment 3 empty

SEGMENT_CASES = {
    "segment_max": (lambda x: tf.math.segment_max(x, SORTED),
                    lambda x: _seg_np(x, SORTED, 4, np.maximum, -np.inf, 0.0)),
    "segment_min": (lambda x: tf.math.segment_min(x, SORTED),
                    lambda x: _seg_np(x, SORTED, 4, np.minimum, np.inf, 0.0)),
    "unsorted_segment_max": (lambda x: tf.math.unsorted_segment_max(x, UNSORTED, 3),
                             lambda x: _seg_np(x, UNSORTED, 3, np.maximum, -np.inf)),
    "unsorted_segment_min": (lambda x: tf.math.unsorted_segment_min(x, UNSORTED, 3),
                             lambda x: _seg_np(x, UNSORTED, 3, np.minimum, np.inf)),
    "segment_prod": (lambda x: tf.math.segment_prod(x, SORTED),
                     lambda x: _seg_np(x, SORTED, 4, np.multiply, 1.0)),
    "unsorted_segment_prod": (lambda x: tf.math.unsorted_segment_prod(x, UNSORTED, 4),
                              lambda x: _seg_np(x, UNSORTED, 4, np.multiply, 1.0)),
}


@pytest.mark.parametrize("name", sorted(SEGMENT_CASES))
def test_segment_reduction_hvp(name):
    f_tf, f_np = SEGMENT_CASES[name]
    rng = np.random.default_rng(2)
    if name.endswith("prod"):
        x = rng.uniform(0.5, 1.5, (6, 3)) * rng.choice([-1.0, 1.0], (6, 3))
        x[0, 1] = 0.0                 # one zero in a segment
        x[3, 2] = x[4, 2] = 0.0       # two zeros in a segment
    else:
        x = _distinct(rng, (6, 3))    # no ties: the chosen rows stay put under the steps
    hvp_check(lambda x: tf.sin(f_tf(x)), lambda x: np.sin(f_np(x)), [x])


def test_segment_max_penalty_zeros_for_the_data_and_ties_share():
    # g = d sum(w[seg] * segment_max(x)) / dx = w[seg] * share: linear in w, constant in x,
    # so d sum(g * g) / dx is zeros (connected, as TF), d / dw is 2 sum over the segment's
    # chosen rows of share^2 w
    x = tf.Variable(np.array([[1.0, 2.0], [1.0, -1.0], [0.5, 3.0], [4.0, 3.0]]))
    w = tf.Variable(np.array([[0.5, -2.0], [1.5, 0.25]]))
    ids = np.array([0, 0, 1, 1])
    with tf.GradientTape() as t2:
        with tf.GradientTape() as t1:
            y = tf.reduce_sum(tf.math.segment_max(x, ids) * w)
        g = t1.gradient(y, x)
        s = tf.reduce_sum(g * g)
    dx, dw = t2.gradient(s, [x, w])
    # ties: rows 0 and 1 share segment 0's max in column 0; rows 2 and 3 in column 1
    share = np.array([[0.5, 1.0], [0.5, 0.0], [0.0, 0.5], [1.0, 0.5]])
    np.testing.assert_allclose(g.numpy(), share * w.numpy()[ids])
    np.testing.assert_array_equal(dx.numpy(), np.zeros((4, 2)))
    want = np.zeros((2, 2))
    np.add.at(want, ids, 2 * share ** 2 * w.numpy()[ids])
    np.testing.assert_allclose(dw.numpy(), want)


# ------------------------------------------------------------------ losses

_EPS = 1e-7


def _cat_hinge_np(t, p):
    return np.maximum(((1 - t) * p).max(-1) - (t * p).sum(-1) + 1, 0)


def _bfce_np(t, x, from_logits, gamma=2.0, balance=False, alpha=0.25, ls=0.0, axis=-1):
    t = t * (1 - ls) + 0.5 * ls
    if from_logits:
        s = _sig(x)
        bce = ref.sigmoid_xent(np.broadcast_to(t, x.shape), x)[0]
    else:
        s = x
        c = np.clip(x, _EPS, 1 - _EPS)
        bce = -(t * np.log(c + _EPS) + (1 - t) * np.log(1 - c + _EPS))
    pt = t * s + (1 - t) * (1 - s)
    e = (1 - pt) ** gamma * bce
    if balance:
        e = e * (t * alpha + (1 - t) * (1 - alpha))
    return e.mean(axis)


def _cfce_np(t, x, from_logits, gamma=2.0, alpha=0.25, ls=0.0, axis=-1):
    t = t * (1 - ls) + ls / x.shape[-1]
    p = ref.softmax(x, axis) if from_logits else x
    q = p / p.sum(axis, keepdims=True)
    c = np.clip(q, _EPS, 1 - _EPS)
    return (np.asarray(alpha) * (1 - c) ** gamma * (-t * np.log(c))).sum(axis)


def _loss_cases(rng):
    L = keras.losses
    z = rng.standard_normal((4, 3))
    p = 0.1 + 0.8 * rng.random((4, 3))
    b01 = (rng.random((4, 3)) > 0.5).astype(float)
    oh = np.eye(3)[[0, 2, 1, 2]]
    al = [0.2, 0.5, 0.3]
    return {
        "categorical_hinge": (oh, z, L.categorical_hinge, _cat_hinge_np),
        "bfce_logits": (b01, z, lambda t, x: L.binary_focal_crossentropy(t, x,
                                                                          from_logits=True),
                        lambda t, x: _bfce_np(t, x, True)),
        "bfce_logits_balanced_smoothed_gamma3": (
            b01, z, lambda t, x: L.binary_focal_crossentropy(
                t, x, apply_class_balancing=True, alpha=0.4, gamma=3.0, from_logits=True,
                label_smoothing=0.1),
            lambda t, x: _bfce_np(t, x, True, 3.0, True, 0.4, 0.1)),
        "bfce_probs_gamma1.5_axis0": (
            b01, p, lambda t, x: L.binary_focal_crossentropy(t, x, gamma=1.5, axis=0),
            lambda t, x: _bfce_np(t, x, False, 1.5, axis=0)),
        "bfce_gamma0": (b01, p, lambda t, x: L.binary_focal_crossentropy(t, x, gamma=0.0),
                        lambda t, x: _bfce_np(t, x, False, 0.0)),
        "cfce_logits": (oh, z, lambda t, x: L.categorical_focal_crossentropy(
                            t, x, from_logits=True),
                        lambda t, x: _cfce_np(t, x, True)),
        "cfce_probs_alpha_list_smoothed": (
            oh, p, lambda t, x: L.categorical_focal_crossentropy(t, x, alpha=al, gamma=2.5,
                                                                 label_smoothing=0.1),
            lambda t, x: _cfce_np(t, x, False, 2.5, np.array(al), 0.1)),
        "cfce_logits_axis0_gamma0": (
            oh.T, z.T, lambda t, x: L.categorical_focal_crossentropy(
                t, x, gamma=0.0, from_logits=True, axis=0),
            lambda t, x: _cfce_np(t, x, True, 0.0, axis=0)),
    }


@pytest.mark.parametrize("name", sorted(_loss_cases(np.random.default_rng(0))))
def test_loss_function_hvp(name):
    yt, yp, f_tf, f_np = _loss_cases(np.random.default_rng(3))[name]
    # squared (categorical_hinge is piecewise linear) plus the loss itself; a smaller step
    # (the focal factors' third derivatives are large near p = 0.1: O(eps^2) error)
    hvp_check(lambda p: tf.square(f_tf(yt, p)) + f_tf(yt, p),
              lambda p: f_np(yt, p) ** 2 + f_np(yt, p), [yp], eps=3e-5)


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "none"])
def test_loss_objects_with_weights_hvp(reduction):
    rng = np.random.default_rng(4)
    z = rng.standard_normal((4, 3))
    b01 = (rng.random((4, 3)) > 0.5).astype(float)
    oh = np.eye(3)[[1, 0, 2, 2]]
    w = rng.random(4)
    K = keras.losses

    def red(v):
        return v * w if reduction == "none" else (v * w).sum() / 4
    objs = [
        (K.BinaryFocalCrossentropy(from_logits=True, gamma=2.0, reduction=reduction), b01,
         lambda x: _bfce_np(b01, x, True)),
        (K.CategoricalFocalCrossentropy(from_logits=True, reduction=reduction), oh,
         lambda x: _cfce_np(oh, x, True)),
        (K.CategoricalHinge(reduction=reduction), oh, lambda x: _cat_hinge_np(oh, x)),
    ]
    for obj, t, f in objs:
        hvp_check(lambda x: tf.sin(obj(t, x, sample_weight=w)),
                  lambda x: np.sin(red(f(x))), [z])


def test_focal_loss_gradient_penalty_wrt_dense_weights():
    # ||d loss / d x||^2 for loss = focal(y, Dense(x)), differentiated w.r.t. the kernel
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 2))
    k0, b0 = rng.standard_normal((2, 3)), 0.1 * rng.standard_normal(3)
    oh = np.eye(3)[[0, 2, 1, 1]]
    dense = keras.layers.Dense(3, dtype="float64")
    xt = tf.constant(x)
    dense(xt)
    dense.set_weights([k0, b0])
    loss_obj = keras.losses.CategoricalFocalCrossentropy(from_logits=True)
    with tf.GradientTape() as t2:
        with tf.GradientTape() as t1:
            t1.watch(xt)
            loss = loss_obj(oh, dense(xt))
        gx = t1.gradient(loss, xt)
        pen = tf.reduce_sum(tf.square(gx))
    grads = t2.gradient(pen, dense.trainable_variables)

    def pen_np(ps):
        k, b = ps
        gz = ref.fd_grads(lambda zs: _cfce_np(oh, zs[0], True).mean(), [x @ k + b], 1e-5)[0]
        return np.sum((gz @ k.T) ** 2)
    np.testing.assert_allclose(float(pen), pen_np([k0, b0]), rtol=1e-7)
    for got, num in zip(grads, ref.fd_grads(pen_np, [k0, b0], 1e-4)):
        np.testing.assert_allclose(got.numpy(), num, rtol=1e-4, atol=1e-7)


# ------------------------------------------------------------------ ctc_loss


def _ctc_nll_np(lg, seq, blank):
    """-log p(seq | logits lg (T, C)) by summing over every alignment (T small): an
    independent brute-force reference."""
    import itertools
    T, C = lg.shape
    lp = ref.log_softmax(lg)
    total = -np.inf
    for path in itertools.product(range(C), repeat=T):
        col = [k for i, k in enumerate(path) if i == 0 or k != path[i - 1]]
        if [k for k in col if k != blank] == list(seq):
            total = np.logaddexp(total, lp[np.arange(T), path].sum())
    return -total


def _ctc_case():
    rng = np.random.default_rng(6)
    T, B, C = 4, 3, 3
    x = rng.standard_normal((T, B, C))
    labels = np.array([[1, 2], [2, 2], [1, 0]])
    lab_len, logit_len = np.array([2, 2, 1]), np.array([4, 3, 4])
    return x, labels, lab_len, logit_len


@pytest.mark.parametrize("time_major,blank", [(True, None), (False, -1)])
def test_ctc_loss_hvp(time_major, blank):
    x, labels, lab_len, logit_len = _ctc_case()
    b = 0 if blank is None else x.shape[-1] - 1
    labels = labels if blank is None else np.where(labels == 2, 0, labels)  # avoid the blank
    xs = x if time_major else np.swapaxes(x, 0, 1)

    def f_np(z):
        zt = z if time_major else np.swapaxes(z, 0, 1)
        return np.array([_ctc_nll_np(zt[:logit_len[i], i], labels[i, :lab_len[i]], b)
                         for i in range(len(lab_len))])
    hvp_check(lambda z: tf.nn.ctc_loss(labels, z, lab_len, logit_len,
                                       logits_time_major=time_major, blank_index=blank),
              f_np, [xs], pairs=2)


def test_ctc_loss_impossible_alignment_gives_zero_second_order():
    # "2 2" needs 3 frames (a blank between the repeats): with 2 frames the loss is inf and
    # every derivative is zero, never NaN
    rng = np.random.default_rng(7)
    x = tf.constant(rng.standard_normal((2, 2, 3)))
    labels, lab_len, logit_len = np.array([[2, 2], [1, 0]]), np.array([2, 1]), np.array([2, 2])
    with tf.GradientTape() as t2:
        t2.watch(x)
        with tf.GradientTape() as t1:
            t1.watch(x)
            loss = tf.nn.ctc_loss(labels, x, lab_len, logit_len)
            y = loss[1]
        g = t1.gradient(y, x)
        s = tf.reduce_sum(g * g)
    h = t2.gradient(s, x).numpy()
    assert np.isinf(loss.numpy()[0])
    assert np.all(np.isfinite(h)) and np.all(h[:, 0] == 0)
    xv = x.numpy()

    def pen_np(ps):
        gz = ref.fd_grads(lambda q: _ctc_nll_np(q[0], [1], 0), [ps[0][:, 1]], 1e-5)[0]
        return np.sum(gz ** 2)
    np.testing.assert_allclose(h, ref.fd_grads(pen_np, [xv], 1e-4)[0], rtol=1e-4, atol=1e-6)


# ------------------------------------------------------------------ matrix ops


def _sym(x):
    return 0.5 * (x + np.swapaxes(x, -1, -2))


def _mats():
    rng = np.random.default_rng(8)
    a = 0.5 * rng.standard_normal((2, 3, 3)) + 2 * np.eye(3)   # well conditioned
    m = rng.standard_normal((2, 3, 3))
    return a, rng.standard_normal((2, 3, 2)), m @ np.swapaxes(m, -1, -2) + 3 * np.eye(3)


T_ = np.swapaxes

MATRIX_CASES = {
    "inv": (lambda a, b: tf.linalg.inv(a), lambda a, b: np.linalg.inv(a)),
    "inv_adjoint": (lambda a, b: tf.linalg.inv(a, adjoint=True),
                    lambda a, b: np.linalg.inv(T_(a, -1, -2))),
    "det": (lambda a, b: tf.linalg.det(a), lambda a, b: np.linalg.det(a)),
    "slogdet": (lambda a, b: tf.linalg.slogdet(a)[1], lambda a, b: np.linalg.slogdet(a)[1]),
    "solve": (lambda a, b: tf.linalg.solve(a, b), np.linalg.solve),
    "solve_adjoint_broadcast": (lambda a, b: tf.linalg.solve(a[0], b, adjoint=True),
                                lambda a, b: np.linalg.solve(T_(a[0], -1, -2), b)),
    "triangular_solve_lower": (lambda a, b: tf.linalg.triangular_solve(a, b),
                               lambda a, b: np.linalg.solve(np.tril(a), b)),
    "triangular_solve_upper_adjoint": (
        lambda a, b: tf.linalg.triangular_solve(a, b, lower=False, adjoint=True),
        lambda a, b: np.linalg.solve(T_(np.triu(a), -1, -2), b)),
}


@pytest.mark.parametrize("name", sorted(MATRIX_CASES))
def test_matrix_op_hvp(name):
    f_tf, f_np = MATRIX_CASES[name]
    a, b, _ = _mats()
    hvp_check(lambda a, b: tf.sin(f_tf(a, b)), lambda a, b: np.sin(f_np(a, b)), [a, b])


def test_cholesky_and_logdet_hvp():
    # both read a symmetric input: the gradients are TF's symmetric ones, i.e. those of
    # f(sym(x)) with sym(x) = (x + x^T) / 2
    _, _, spd = _mats()
    hvp_check(lambda x: tf.sin(tf.linalg.cholesky(x)),
              lambda x: np.sin(np.linalg.cholesky(_sym(x))), [spd])
    hvp_check(lambda x: tf.sin(tf.linalg.logdet(x)),
              lambda x: np.sin(np.linalg.slogdet(_sym(x))[1]), [spd])


def _lower_sym(x):
    """The symmetric matrix eigh / eigvalsh read: the lower triangle mirrored."""
    return np.tril(x) + np.swapaxes(np.tril(x, -1), -1, -2)


def _svd_vecs_tf(x):
    s, u, v = tf.linalg.svd(x)
    sg = tf.sign(tf.stop_gradient(u[..., :1, :]))
    return tf.concat([u * sg, v * sg, tf.expand_dims(s, -2)], axis=-2)


def _svd_vecs_np(x):
    u, s, vh = np.linalg.svd(x, full_matrices=False)
    sg = np.sign(u[..., :1, :])
    return np.concatenate([u * sg, np.swapaxes(vh, -1, -2) * sg, s[..., None, :]], axis=-2)


def _eigh_tf(x):
    e, v = tf.linalg.eigh(x)
    return tf.concat([v * tf.sign(tf.stop_gradient(v[..., :1, :])), tf.expand_dims(e, -2)],
                     axis=-2)


def _eigh_np(x):
    e, v = np.linalg.eigh(_lower_sym(x))
    return np.concatenate([v * np.sign(v[..., :1, :]), e[..., None, :]], axis=-2)


def _qr_tf(x):
    q, r = tf.linalg.qr(x)
    return tf.concat([tf.reshape(q, (2, -1)), tf.reshape(r, (2, -1))], 1)


def _qr_np(x):
    q, r = np.linalg.qr(x)
    return np.concatenate([q.reshape(2, -1), r.reshape(2, -1)], 1)


DECOMP_CASES = {
    "eigh": (_eigh_tf, _eigh_np, (2, 3, 3)),
    "eigvalsh": (tf.linalg.eigvalsh, lambda x: np.linalg.eigvalsh(_lower_sym(x)), (2, 3, 3)),
    "svd_values": (lambda x: tf.linalg.svd(x, compute_uv=False),
                   lambda x: np.linalg.svd(x, compute_uv=False), (2, 4, 3)),
    "svd_tall": (_svd_vecs_tf, _svd_vecs_np, (2, 4, 3)),
    "svd_wide": (_svd_vecs_tf, _svd_vecs_np, (2, 3, 4)),
    "qr_tall": (_qr_tf, _qr_np, (2, 4, 3)),
    "qr_wide": (_qr_tf, _qr_np, (2, 3, 4)),
    "pinv_tall": (tf.linalg.pinv, np.linalg.pinv, (2, 4, 3)),
    "pinv_wide": (tf.linalg.pinv, np.linalg.pinv, (2, 3, 4)),
}


@pytest.mark.parametrize("name", sorted(DECOMP_CASES))
def test_decomposition_hvp(name):
    f_tf, f_np, shape = DECOMP_CASES[name]
    x = np.random.default_rng(15).standard_normal(shape)
    if shape[-1] == shape[-2]:
        x = x + np.swapaxes(x, -1, -2)          # symmetric, distinct eigenvalues
    hvp_check(lambda x: tf.sin(f_tf(x)), lambda x: np.sin(f_np(x)), [x])


def test_lstsq_hvp():
    rng = np.random.default_rng(16)
    a, b = rng.standard_normal((2, 4, 3)), rng.standard_normal((2, 4, 2))
    hvp_check(lambda a, b: tf.sin(tf.linalg.lstsq(a, b)),
              lambda a, b: np.sin(np.linalg.pinv(a) @ b), [a, b])


def test_det_second_order_of_a_singular_matrix_raises_naming_the_op():
    x = tf.constant(np.array([[1.0, 2.0], [2.0, 4.0]]))
    with tf.GradientTape() as t2:
        t2.watch(x)
        with tf.GradientTape() as t1:
            t1.watch(x)
            y = tf.linalg.det(x)
        with pytest.raises(ValueError, match=r"det.*singular"):
            t1.gradient(y, x)


# ------------------------------------------------------------------ elementwise specials


def test_xlogy_family_hvp():
    rng = np.random.default_rng(9)
    x = rng.choice([-1.0, 1.0], (3, 4)) * (0.2 + rng.random((3, 4)))
    y = 0.5 + rng.random((3, 4))
    hvp_check(tf.math.xlogy, lambda x, y: x * np.log(y), [x, y])
    hvp_check(tf.math.xlog1py, lambda x, y: x * np.log1p(y), [x, y])
    hvp_check(tf.math.xdivy, lambda x, y: x / y, [x, y])
    hvp_check(lambda x, y: tf.square(tf.math.multiply_no_nan(x, y)),
              lambda x, y: (x * y) ** 2, [x, y])


def test_xlogy_second_order_at_x_zero_follows_tf():
    # TF: d xlogy / dx = xlogy(x != 0, y) and d / dy = xdivy(x, y): at x == 0 both are 0, so
    # the mixed second derivative there is 0 too (and no NaN where y == 0)
    x = tf.constant(np.array([0.0, 2.0, 0.0]))
    y = tf.constant(np.array([0.5, 3.0, 0.0]))
    with tf.GradientTape() as t2:
        t2.watch([x, y])
        with tf.GradientTape() as t1:
            t1.watch([x, y])
            z = tf.reduce_sum(tf.math.xlogy(x, y))
        gx, gy = t1.gradient(z, [x, y])
        s = tf.reduce_sum(gx) + tf.reduce_sum(gy)
    dx, dy = t2.gradient(s, [x, y])
    np.testing.assert_allclose(gx.numpy(), [0.0, np.log(3.0), 0.0])
    np.testing.assert_allclose(gy.numpy(), [0.0, 2.0 / 3.0, 0.0])
    np.testing.assert_allclose(dx.numpy(), [0.0, 1.0 / 3.0, 0.0])
    np.testing.assert_allclose(dy.numpy(), [0.0, 1.0 / 3.0 - 2.0 / 9.0, 0.0])


def test_lgamma_erfinv_ndtri_hvp():
    rng = np.random.default_rng(10)
    p = 0.5 + 2 * rng.random((3, 4))
    q = rng.uniform(-0.8, 0.8, (3, 4))
    hvp_check(tf.math.lgamma, sp.gammaln, [p])
    # (erfinv's float64 value is good to ~1e-13 relative: second differences to ~1e-5)
    hvp_check(tf.math.erfinv, sp.erfinv, [q], rtol=1e-4)
    hvp_check(tf.math.ndtri, sp.ndtri, [0.5 + q / 2], rtol=1e-4)


def test_floormod_hvp():
    rng = np.random.default_rng(11)
    b = rng.uniform(1.2, 1.8, (3, 4))
    a = b * (rng.integers(-3, 3, (3, 4)) + rng.uniform(0.2, 0.8, (3, 4)))  # away from jumps
    hvp_check(lambda x, y: tf.square(tf.math.floormod(x, y)), lambda x, y: np.mod(x, y) ** 2,
              [a, b])


def test_tensor_scatter_nd_max_min_hvp():
    rng = np.random.default_rng(12)
    t0 = _distinct(rng, (4, 3))
    u0 = _distinct(rng, (2, 3)) + 0.01
    idx = np.array([[1], [3]])

    def f_np(t, u, red):
        r = t.copy()
        for k, i in enumerate(idx[:, 0]):
            r[i] = red(r[i], u[k])
        return r
    hvp_check(lambda t, u: tf.sin(tf.tensor_scatter_nd_max(t, idx, u)),
              lambda t, u: np.sin(f_np(t, u, np.maximum)), [t0, u0])
    hvp_check(lambda t, u: tf.sin(tf.tensor_scatter_nd_min(t, idx, u)),
              lambda t, u: np.sin(f_np(t, u, np.minimum)), [t0, u0])


def _lcse_np(x, axis, exclusive, reverse):
    v = np.flip(x, axis) if reverse else x
    r = np.moveaxis(np.logaddexp.accumulate(v, axis=axis), axis, 0)
    if exclusive:
        r = np.concatenate([np.full((1,) + r.shape[1:], -np.inf), r[:-1]])
    r = np.moveaxis(r, 0, axis)
    return np.flip(r, axis) if reverse else r


@pytest.mark.parametrize("exclusive,reverse,axis", [(False, False, 0), (True, False, 1),
                                                    (False, True, 1), (True, True, 0)])
def test_cumulative_logsumexp_hvp(exclusive, reverse, axis):
    x = 2 * np.random.default_rng(13).standard_normal((3, 5))
    # exp of the output: the exclusive -inf entries give 0, and no NaN in any derivative
    hvp_check(lambda x: tf.exp(tf.math.cumulative_logsumexp(x, axis, exclusive=exclusive,
                                                            reverse=reverse) * 0.5),
              lambda x: np.exp(_lcse_np(x, axis, exclusive, reverse) * 0.5), [x])


def test_overlap_and_add_hvp():
    fr = np.random.default_rng(14).standard_normal((2, 4, 5))

    def ola(f, step=2):
        out = np.zeros(f.shape[:-2] + ((f.shape[-2] - 1) * step + f.shape[-1],))
        for i in range(f.shape[-2]):
            out[..., i * step:i * step + f.shape[-1]] += f[..., i, :]
        return out
    hvp_check(lambda f: tf.sin(tf.signal.overlap_and_add(f, 2)), lambda f: np.sin(ola(f)),
              [fr])
