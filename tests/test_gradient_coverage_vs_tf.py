"""Gradients of op arguments that TF differentiates and nabi once treated as constants
(converted to host arrays, not recorded on the tape, so tape.gradient gave None): bounds of
clip_by_value, the value of fill, the ends of linspace / keras.ops.linspace / logspace...
Each is checked against central differences of an independent NumPy reference."""
import numpy as np
import pytest

import nabi as tf
from reference import numeric_grad

R = np.random.default_rng(7)


def _grads(fn, arrays, dtype=np.float64):
    xs = [tf.constant(a.astype(dtype)) for a in arrays]
    with tf.GradientTape() as tape:
        for x in xs:
            tape.watch(x)
        y = fn(*xs)
    return [None if g is None else g.numpy() for g in tape.gradient(y, xs)]


def _check(fn, ref, arrays, tol=1e-6):
    gs = _grads(fn, arrays)
    for i, g in enumerate(gs):
        assert g is not None, f"argument {i} got no gradient"
        np.testing.assert_allclose(g, numeric_grad(ref, arrays, i), rtol=tol, atol=tol)


def _np_clip(x, lo, hi):     # TF: maximum(minimum(x, hi), lo)
    return np.maximum(np.minimum(x, hi), lo)


def test_clip_by_value_tensor_bounds():
    x = R.uniform(-2, 2, (3, 4))
    lo, hi = R.uniform(-1.5, -0.5, (1, 4)), np.array(0.6)
    w = R.normal(size=(3, 4))
    _check(lambda x, lo, hi: tf.reduce_sum(tf.clip_by_value(x, lo, hi) * w),
           lambda x, lo, hi: np.sum(_np_clip(x, lo, hi) * w), [x, lo, hi])


def test_clip_by_value_bound_second_order():
    x = R.uniform(-2, 2, (3, 4))
    hi = R.uniform(0.2, 0.5, (4,))

    def f(x, hi):   # d/dx of sum(clip(x*x, -0.3, hi) * x), then its squared norm
        with tf.GradientTape() as inner:
            inner.watch(x)
            y = tf.reduce_sum(tf.clip_by_value(x * x, -0.3, hi) * x)
        return tf.reduce_sum(inner.gradient(y, x) ** 2)

    def ref(x, hi):
        inside = x * x <= hi
        g = np.where(inside, 3 * x * x, np.minimum(x * x, hi))
        return np.sum(g ** 2)
    _check(f, ref, [x, hi], tol=1e-5)


def test_clip_by_value_constant_bounds_unchanged():
    x = R.uniform(-2, 2, (3, 4))
    g, = _grads(lambda x: tf.reduce_sum(tf.clip_by_value(x, -0.5, 0.5)), [x])
    np.testing.assert_array_equal(g, (np.abs(x) <= 0.5).astype(float))


def test_fill_value_gradient():
    v = np.array(0.4)
    _check(lambda v: tf.reduce_sum(tf.fill([2, 3], v) ** 3), lambda v: 6 * v ** 3, [v])


@pytest.mark.parametrize("num,axis", [(5, 0), (4, 1), (1, 0)])
def test_linspace_ends(num, axis):
    a, b = R.normal(size=(3,)), R.normal(size=(3,))
    w = R.normal(size=(num, 3) if axis == 0 else (3, num))

    def ref(a, b):
        r = np.linspace(a, b, num, axis=axis)
        return np.sum(r ** 2 * w)
    _check(lambda a, b: tf.reduce_sum(tf.linspace(a, b, num, axis=axis) ** 2 * w), ref, [a, b])


def test_linspace_broadcast_ends_float32():
    a, b = R.normal(size=(2, 1)), R.normal(size=(3,))
    gs = _grads(lambda a, b: tf.reduce_sum(tf.linspace(a, b, 4)), [a, b], np.float32)
    ref = lambda a, b: np.sum(np.linspace(a, b, 4))   # noqa: E731
    for i, g in enumerate(gs):
        assert g.dtype == np.float32
        np.testing.assert_allclose(g, numeric_grad(ref, [a, b], i), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("endpoint", [True, False])
def test_keras_linspace_logspace_ends(endpoint):
    ops = tf.keras.ops
    a, b = R.normal(size=(3,)), R.normal(size=(3,))
    w = R.normal(size=(3, 4))
    _check(lambda a, b: tf.reduce_sum(ops.linspace(a, b, 4, endpoint=endpoint, axis=1) * w),
           lambda a, b: np.sum(np.linspace(a, b, 4, endpoint=endpoint, axis=1) * w), [a, b])
    w = R.normal(size=(4, 3))
    _check(lambda a, b: tf.reduce_sum(ops.logspace(a, b, 4, endpoint=endpoint, base=2) * w),
           lambda a, b: np.sum(np.logspace(a, b, 4, endpoint=endpoint, base=2) * w), [a, b])


def test_adjust_brightness_delta():
    x, d = R.uniform(-1, 1, (4, 4, 3)), np.array(0.2)
    w = R.normal(size=(4, 4, 3))
    _check(lambda x, d: tf.reduce_sum(tf.image.adjust_brightness(x, d) ** 2 * w),
           lambda x, d: np.sum((x + d) ** 2 * w), [x, d])


def test_adjust_gamma_gamma_and_gain():
    x, g, k = R.uniform(0.1, 1, (4, 4, 3)), np.array(1.5), np.array(0.7)
    w = R.normal(size=(4, 4, 3))
    _check(lambda x, g, k: tf.reduce_sum(tf.image.adjust_gamma(x, g, k) * w),
           lambda x, g, k: np.sum(k * x ** g * w), [x, g, k])
    gs = _grads(lambda x, g: tf.reduce_sum(tf.image.adjust_gamma(x, g)), [x, g], np.float32)
    assert gs[1] is not None and gs[1].dtype == np.float32


def test_nce_loss_expected_counts_are_constants():
    """TF stop_gradients sampled_values: a watched expected count gets None; the weights,
    biases and inputs get the gradient of the NumPy NCE loss."""
    w, b, x = R.normal(size=(5, 4)), R.normal(size=(5,)), R.normal(size=(3, 4))
    te, se = R.uniform(0.5, 1.5, (3, 1)), R.uniform(0.5, 1.5, (2,))
    lab, samp = np.array([[1], [2], [0]]), np.array([3, 4])

    def f(w, b, x, te, se):
        sv = (tf.constant(samp, dtype=tf.int64), te, se)
        return tf.reduce_sum(tf.nn.nce_loss(w, b, tf.constant(lab, dtype=tf.int64), x, 2, 5,
                                            sampled_values=sv))

    def ref(w, b, x):
        t = np.sum(x * w[lab[:, 0]], 1, keepdims=True) + b[lab] - np.log(te)
        s = x @ w[samp].T + b[samp] - np.log(se)
        z, y = np.concatenate([t, s], 1), np.concatenate([np.ones((3, 1)), np.zeros((3, 2))], 1)
        return np.sum(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))))
    gs = _grads(f, [w, b, x, te, se])
    assert gs[3] is None and gs[4] is None
    for i in range(3):
        np.testing.assert_allclose(gs[i], numeric_grad(ref, [w, b, x], i), rtol=1e-6, atol=1e-6)


def _np_softmax(z, axis=-1):
    e = np.exp(z - z.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


@pytest.mark.parametrize("axis", [-1, 0])
def test_keras_ops_categorical_crossentropy_logits_gradient_is_tfs(axis):
    """keras.ops.categorical_crossentropy(from_logits=True) is TF's fused op under Keras's TF
    backend: the logits get softmax - target (TF's rule, which assumes targets summing to 1;
    nabi gave sum(target) * softmax - target), the target gets -log_softmax."""
    t, z = R.uniform(0, 1, (3, 4)), R.normal(size=(3, 4))
    w = R.normal(size=(3,) if axis == -1 else (4,))
    f = lambda t, z: tf.reduce_sum(        # noqa: E731
        tf.keras.ops.categorical_crossentropy(t, z, from_logits=True, axis=axis) * w)
    wb = np.expand_dims(w, axis)
    gt, gz = _grads(f, [t, z])
    np.testing.assert_allclose(gz, wb * (_np_softmax(z, axis) - t), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gt, -wb * np.log(_np_softmax(z, axis)), rtol=1e-12, atol=1e-12)
    tn = t / t.sum(axis, keepdims=True)   # targets summing to 1: the exact gradient
    ref = lambda t, z: np.sum(-np.sum(t * np.log(_np_softmax(z, axis)), axis) * w)  # noqa: E731
    _check(f, ref, [tn, z])


def test_keras_activations_tensor_parameters():
    """keras.activations.relu's Tensor max_value and elu's Tensor alpha get their gradients
    (Keras's TF backend: clip_by_value with the cap; where(x > 0, elu(x), alpha * elu(x)))."""
    act = tf.keras.activations
    x = R.uniform(-2, 2, (3, 4))
    w = R.normal(size=(3, 4))
    _check(lambda x, c: tf.reduce_sum(act.relu(x, max_value=c) * w),
           lambda x, c: np.sum(np.minimum(np.maximum(x, 0), c) * w), [x, np.array(0.8)])
    _check(lambda x, c: tf.reduce_sum(act.relu(x, max_value=c, threshold=0.2) * w),
           lambda x, c: np.sum(np.minimum(np.where(x > 0.2, x, 0), c) * w), [x, np.array(0.8)])
    _check(lambda x, a: tf.reduce_sum(act.elu(x, a) ** 2 * w),
           lambda x, a: np.sum(np.where(x > 0, x, a * np.expm1(x)) ** 2 * w), [x, np.array(0.7)])


_RANDOM_DRAWS = {
    "normal": lambda lo, hi, d: tf.random.normal([3, 4], lo, hi, d, seed=5),
    "truncated_normal": lambda lo, hi, d: tf.random.truncated_normal([3, 4], lo, hi, d, seed=5),
    "uniform": lambda lo, hi, d: tf.random.uniform([3, 4], lo, hi, d, seed=5),
    "stateless_normal": lambda lo, hi, d: tf.random.stateless_normal([3, 4], [1, 2], lo, hi, d),
    "stateless_truncated_normal":
        lambda lo, hi, d: tf.random.stateless_truncated_normal([3, 4], [1, 2], lo, hi, d),
    "stateless_uniform":
        lambda lo, hi, d: tf.random.stateless_uniform([3, 4], [1, 2], lo, hi, d),
    "Generator.normal":
        lambda lo, hi, d: tf.random.Generator.from_seed(3).normal([3, 4], lo, hi, d),
    "Generator.truncated_normal":
        lambda lo, hi, d: tf.random.Generator.from_seed(3).truncated_normal([3, 4], lo, hi, d),
    "Generator.uniform":
        lambda lo, hi, d: tf.random.Generator.from_seed(3).uniform([3, 4], lo, hi, d),
    "keras.normal": lambda lo, hi, d: tf.keras.random.normal((3, 4), lo, hi, d, seed=4),
    "keras.uniform": lambda lo, hi, d: tf.keras.random.uniform((3, 4), lo, hi, d, seed=4),
}


@pytest.mark.parametrize("name", sorted(_RANDOM_DRAWS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_random_draws_differentiate_their_parameters(name, dtype):
    """TF differentiates mean/stddev (minval/maxval): out = mean + stddev * z, so
    d/dmean = 1, d/dstddev = z = (out - mean) / stddev (uniform: d/dmaxval = u, d/dminval =
    1 - u with u = (out - minval) / (maxval - minval)); the parameters here have shape [4]."""
    draw = _RANDOM_DRAWS[name]
    lo, hi = R.uniform(-1, 0, (4,)).astype(dtype), R.uniform(1, 2, (4,)).astype(dtype)
    w = R.normal(size=(3, 4))
    if "keras" in name:
        lo, hi = lo[0], hi[0]
    a, b = tf.constant(lo), tf.constant(hi)
    with tf.GradientTape() as tape:
        tape.watch([a, b])
        out = draw(a, b, tf.as_dtype(dtype))
        y = tf.reduce_sum(out * w.astype(dtype))
    ga, gb = tape.gradient(y, [a, b])
    o = out.numpy().astype(np.float64)
    lo64, hi64 = lo.astype(np.float64), hi.astype(np.float64)
    axes = (0, 1) if "keras" in name else 0
    if "uniform" in name:
        u = (o - lo64) / (hi64 - lo64)
        want_a, want_b = np.sum(w * (1 - u), axis=axes), np.sum(w * u, axis=axes)
    else:
        want_a, want_b = np.sum(w, axis=axes), np.sum(w * (o - lo64) / hi64, axis=axes)
    tol = 1e-4 if dtype == np.float32 else 1e-9
    assert ga.dtype == dtype and gb.dtype == dtype
    np.testing.assert_allclose(ga.numpy(), want_a, rtol=tol, atol=tol)
    np.testing.assert_allclose(gb.numpy(), want_b, rtol=tol, atol=tol)


def test_random_constant_parameters_unchanged():
    tf.random.set_seed(1)
    a = tf.random.normal([3], mean=0.5, stddev=2.0, seed=2).numpy()
    tf.random.set_seed(1)
    with tf.GradientTape():
        b = tf.random.normal([3], mean=tf.constant(0.5), stddev=tf.constant(2.0), seed=2).numpy()
    np.testing.assert_array_equal(a, b)


def test_psnr_ssim_tensor_max_val():
    """A float Tensor max_val of tf.image.psnr / ssim gets its gradient (TF casts it and
    differentiates the formulas). ssim with filter_size=1: cs = 1, the map is the luminance
    term (2xy + c1) / (x^2 + y^2 + c1), c1 = (0.01 * max_val)^2."""
    a, b = R.uniform(0, 1, (2, 4, 4, 3)), R.uniform(0, 1, (2, 4, 4, 3))
    mv = np.array(2.0)
    w = np.array([0.7, -1.3])

    def psnr_ref(a, b, mv):
        mse = np.mean((a - b) ** 2, axis=(1, 2, 3))
        return np.sum((20 * np.log10(mv) - 10 * np.log10(mse)) * w)
    _check(lambda a, b, mv: tf.reduce_sum(tf.image.psnr(a, b, mv) * w), psnr_ref, [a, b, mv],
           tol=2e-3)   # float32 results

    def ssim_ref(a, b, mv):
        c1 = (0.01 * mv) ** 2
        return np.sum(np.mean((2 * a * b + c1) / (a * a + b * b + c1), axis=(1, 2, 3)) * w)
    gs = _grads(lambda a, b, mv: tf.reduce_sum(tf.image.ssim(a, b, mv, filter_size=1) * w),
                [a, b, mv])
    np.testing.assert_allclose(gs[2], numeric_grad(ssim_ref, [a, b, mv], 2), rtol=2e-3)


def test_confusion_matrix_weights_gradient():
    """TF builds the matrix with scatter_nd of the weights: weights[k] gets g[label, pred]."""
    y, p = np.array([0, 1, 2, 1]), np.array([0, 2, 2, 2])
    w = R.uniform(0.5, 1.5, (4,))
    q = R.normal(size=(3, 3))

    def ref(w):
        m = np.zeros((3, 3))
        np.add.at(m, (y, p), w)
        return np.sum(m ** 2 * q)
    _check(lambda w: tf.reduce_sum(tf.math.confusion_matrix(y, p, 3, weights=w,
                                                            dtype=tf.float64) ** 2 * q),
           ref, [w])


def test_gather_batch_dims_default_axis():
    """tf.gather's axis defaults to batch_dims (nabi took 0 and raised for batch_dims=1)."""
    p = R.normal(size=(3, 4, 2))
    idx = np.array([[0, 3], [1, 1], [2, 0]])
    w = R.normal(size=(3, 2, 2))
    f = lambda p: tf.reduce_sum(tf.gather(p, idx, batch_dims=1) * w)   # noqa: E731
    ref = lambda p: np.sum(np.take_along_axis(p, idx[:, :, None], axis=1) * w)   # noqa: E731
    np.testing.assert_allclose(f(tf.constant(p)).numpy(), ref(p), rtol=1e-12)
    _check(f, ref, [p])
