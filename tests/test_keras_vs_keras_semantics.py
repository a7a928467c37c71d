"""Semantics found by differential testing of nabi's Keras against real Keras (2.15 / 3.x).

Every reference here is NumPy or plain Python, derived from Keras' documented formulas."""
import numpy as np
import pytest

import nabi
from nabi import keras

EPS = 1e-7


def _np(t):
    return np.asarray(t)


# --- activations.relu: Keras 2's `alpha` keyword --------------------------------------------

def test_relu_accepts_keras2_alpha_keyword():
    x = np.array([-3.0, -0.5, 0.2, 0.7, 4.0], np.float32)
    y = _np(keras.activations.relu(x, alpha=0.1, max_value=2.0, threshold=0.3))
    # Keras 2 backend.relu: x * (x > threshold), clipped to max_value, minus alpha*relu(threshold - x)
    ref = np.minimum(x * (x > 0.3), 2.0) - 0.1 * np.maximum(0.3 - x, 0)
    np.testing.assert_allclose(y, ref, rtol=1e-6)
    np.testing.assert_allclose(_np(keras.activations.relu(x, alpha=0.2)),
                               np.where(x > 0, x, 0.2 * x), rtol=1e-6)


# --- sparse categorical crossentropy on probabilities: clip, THEN renormalise ------------------

def _scce_ref(y, p):
    """Keras: log(clip(p, eps, 1-eps)) are treated as logits -> softmax renormalises the
    clipped values: loss = -log(c_t) + log(sum_j c_j)."""
    c = np.clip(p.astype(np.float64), EPS, 1 - EPS)
    return np.log(c.sum(-1)) - np.log(c[np.arange(len(y)), y])


def test_sparse_cce_unnormalised_probabilities_match_keras():
    rng = np.random.RandomState(0)
    p = (rng.rand(6, 4) * 1.3).astype(np.float32)      # rows do not sum to 1 (sigmoid outputs)
    p[0, 1] = 0.0
    p[1, 2] = 1.0
    y = rng.randint(0, 4, 6)
    ref = _scce_ref(y, p)
    np.testing.assert_allclose(_np(keras.losses.sparse_categorical_crossentropy(y, p)), ref,
                               rtol=1e-5)
    np.testing.assert_allclose(_np(keras.losses.SparseCategoricalCrossentropy()(y, p)),
                               ref.mean(), rtol=1e-5)
    # the categorical (one-hot) form normalises first and clips after: unchanged
    q = p / p.sum(-1, keepdims=True)
    ref_c = -np.log(np.clip(q, EPS, 1 - EPS)[np.arange(6), y])
    np.testing.assert_allclose(_np(keras.losses.categorical_crossentropy(np.eye(4)[y], p)),
                               ref_c, rtol=1e-5)


def test_sparse_cce_unnormalised_gradient_and_second_order():
    rng = np.random.RandomState(1)
    p = (rng.rand(5, 3) * 0.9 + 0.05).astype(np.float64)
    y = rng.randint(0, 3, 5)

    def f(pp):
        return _scce_ref(y, pp).sum()
    num = np.zeros_like(p)
    h = 1e-6
    for i in np.ndindex(p.shape):
        d = np.zeros_like(p)
        d[i] = h
        num[i] = (f(p + d) - f(p - d)) / (2 * h)
    t = nabi.constant(p)
    with nabi.GradientTape() as outer:
        outer.watch(t)
        with nabi.GradientTape() as tape:
            tape.watch(t)
            loss = nabi.reduce_sum(keras.losses.sparse_categorical_crossentropy(y, t))
        g = tape.gradient(loss, t)
        gs = nabi.reduce_sum(g * g)
    np.testing.assert_allclose(_np(g), num, rtol=1e-5, atol=1e-7)
    # d/dp sum(g^2) by finite differences of the analytic gradient g_j = 1/s - [j=t]/p_t
    def grad(pp):
        s = pp.sum(-1, keepdims=True)
        gg = 1.0 / s * np.ones_like(pp)
        gg[np.arange(5), y] -= 1.0 / pp[np.arange(5), y]
        return (gg * gg).sum()
    num2 = np.zeros_like(p)
    for i in np.ndindex(p.shape):
        d = np.zeros_like(p)
        d[i] = h
        num2[i] = (grad(p + d) - grad(p - d)) / (2 * h)
    np.testing.assert_allclose(_np(outer.gradient(gs, t)), num2, rtol=1e-4, atol=1e-6)


# --- AUC(label_weights=..., multi_label=False): label weights scale the flattened counts -------

def _np_roc_auc(y, p, w, nt=200):
    """Keras' ROC AUC: counts at thresholds [-eps, 1/(nt-1), ..., 1+eps], trapezoids."""
    th = np.array([-EPS] + [(i + 1) / (nt - 1) for i in range(nt - 2)] + [1 + EPS])
    above = p[None, :] > th[:, None]
    tp = (above * (w * (y == 1))).sum(1)
    fp = (above * (w * (y == 0))).sum(1)
    fn = (~above * (w * (y == 1))).sum(1)
    tn = (~above * (w * (y == 0))).sum(1)
    tpr, fpr = tp / (tp + fn), fp / (fp + tn)
    return np.sum((fpr[:-1] - fpr[1:]) * (tpr[:-1] + tpr[1:]) / 2)


def test_auc_label_weights_without_multi_label():
    rng = np.random.RandomState(12)
    y = (rng.rand(20, 3) > 0.5).astype(np.float32)
    p = rng.rand(20, 3).astype(np.float32)
    sw = rng.rand(20).astype(np.float32)
    lw = np.array([0.2, 0.5, 1.0], np.float32)
    m = keras.metrics.AUC(label_weights=lw)
    m.update_state(y[:12], p[:12], sample_weight=sw[:12])
    m.update_state(y[12:], p[12:], sample_weight=sw[12:])
    ref = _np_roc_auc(y.ravel(), p.ravel(), (sw[:, None] * lw[None, :]).ravel())
    np.testing.assert_allclose(float(m.result()), ref, rtol=1e-5)
    # the weights matter here (the unweighted-by-label value differs)
    assert abs(ref - _np_roc_auc(y.ravel(), p.ravel(), np.repeat(sw, 3))) > 1e-2
    m2 = keras.metrics.AUC(label_weights=lw)
    m2.update_state(y, p)
    np.testing.assert_allclose(float(m2.result()),
                               _np_roc_auc(y.ravel(), p.ravel(), np.tile(lw, 20)), rtol=1e-5)


# --- cross-entropies on a sigmoid/softmax output compute from the logits (TF-Keras'
#     `_keras_logits`): saturated predictions are not capped at -log(1e-7) ----------------------

def _np_log_sigmoid(z):
    return -np.logaddexp(0.0, -z)


def _np_log_softmax(z):
    return z - np.logaddexp.reduce(z, axis=-1, keepdims=True)


X1 = np.array([[1.0], [2.0], [-1.0]], np.float32)


def _weights_for(model, scale):
    ws = model.get_weights()
    k = ws[0]
    ws[0] = (scale * ((np.arange(k.size) % 3) - 1.0)).reshape(k.shape).astype(np.float32) \
        if k.size > 1 else np.full_like(k, scale)
    model.set_weights(ws)
    return ws[0], ws[1]


@pytest.mark.parametrize("head", ["dense", "activation"])
def test_binary_crossentropy_on_sigmoid_output_uses_logits(head):
    layers = [keras.layers.Dense(1, activation="sigmoid")] if head == "dense" else \
        [keras.layers.Dense(1), keras.layers.Activation("sigmoid")]
    m = keras.Sequential([keras.Input((1,))] + layers)
    k, b = _weights_for(m, 25.0)
    y = np.array([[0.0], [1.0], [1.0]], np.float32)
    z = X1.astype(np.float64) @ k + b                    # logits 25, 50, -25
    per = -(y * _np_log_sigmoid(z) + (1 - y) * _np_log_sigmoid(-z))
    with nabi.GradientTape() as tape:
        loss = keras.losses.BinaryCrossentropy()(y, m(X1, training=True))
    np.testing.assert_allclose(float(loss), per.mean(), rtol=1e-5)   # 16.67, not capped
    g = tape.gradient(loss, m.trainable_weights)
    dz = (1.0 / (1.0 + np.exp(-z)) - y) / len(y)       # d mean(bce) / dz
    np.testing.assert_allclose(_np(g[0]), X1.T.astype(np.float64) @ dz, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(_np(g[1]), dz.sum(0), rtol=1e-5, atol=1e-7)
    # the function form and compile/evaluate agree
    np.testing.assert_allclose(_np(keras.losses.binary_crossentropy(y, m(X1))), per[:, 0],
                               rtol=1e-5)
    m.compile(keras.optimizers.SGD(0.0), "binary_crossentropy")
    np.testing.assert_allclose(m.evaluate(X1, y, verbose=0), per.mean(), rtol=1e-5)


@pytest.mark.parametrize("head", ["dense", "softmax_layer", "activation"])
def test_categorical_crossentropies_on_softmax_output_use_logits(head):
    if head == "dense":
        layers = [keras.layers.Dense(3, activation="softmax")]
    elif head == "softmax_layer":
        layers = [keras.layers.Dense(3), keras.layers.Softmax()]
    else:
        layers = [keras.layers.Dense(3), keras.layers.Activation("softmax")]
    m = keras.Sequential([keras.Input((1,))] + layers)
    k, b = _weights_for(m, 25.0)
    yc = np.array([0, 2, 1])
    ls = _np_log_softmax(X1.astype(np.float64) @ k + b)
    ref = -ls[np.arange(3), yc]
    np.testing.assert_allclose(
        _np(keras.losses.sparse_categorical_crossentropy(yc, m(X1))), ref, rtol=1e-5)
    np.testing.assert_allclose(
        float(keras.losses.CategoricalCrossentropy()(np.eye(3)[yc], m(X1))), ref.mean(),
        rtol=1e-5)
    m.compile(keras.optimizers.SGD(0.0), "sparse_categorical_crossentropy")
    np.testing.assert_allclose(m.evaluate(X1, yc, verbose=0), ref.mean(), rtol=1e-5)


def test_probabilities_not_from_a_sigmoid_are_still_clipped():
    p = nabi.constant(np.array([[0.0], [1.0]], np.float32))
    y = np.array([[1.0], [0.0]], np.float32)
    # -log(1e-7) and -log(1 - (1 - 1e-7) in float32)
    v = _np(keras.losses.binary_crossentropy(y, p))
    assert np.all(v < 16.2) and np.all(v > 15.8)
    # a new tensor computed from a sigmoid output is not a sigmoid output
    s = keras.activations.sigmoid(nabi.constant(np.array([[-30.0]], np.float32)))
    v2 = float(keras.losses.binary_crossentropy(np.ones((1, 1), np.float32), s * 1.0)[0])
    np.testing.assert_allclose(v2, -np.log(1e-7), rtol=1e-4)
    v3 = float(keras.losses.binary_crossentropy(np.ones((1, 1), np.float32), s)[0])
    np.testing.assert_allclose(v3, 30.0, rtol=1e-5)


# --- Keras 2 options nabi does not implement fail loudly instead of being ignored --------------

def test_unsupported_keras2_options_raise():
    with pytest.raises(NotImplementedError, match="virtual_batch_size"):
        keras.layers.BatchNormalization(virtual_batch_size=2)
    with pytest.raises(NotImplementedError, match="renorm"):
        keras.layers.BatchNormalization(renorm=True)
    keras.layers.BatchNormalization(renorm=False, virtual_batch_size=None, fused=True,
                                    renorm_momentum=0.99, renorm_clipping=None)
    for cls in (keras.layers.LSTM, keras.layers.GRU, keras.layers.SimpleRNN):
        with pytest.raises(ValueError, match="time_major"):
            cls(3, time_major=True)
        cls(3, time_major=False)


# --- the Keras 2 legacy `decay` survives get_config/from_config --------------------------------

def test_legacy_decay_round_trips_through_config():
    lr, d, b1, b2, eps = 0.1, 0.5, 0.9, 0.999, 1e-7
    opt = keras.optimizers.Adam.from_config(keras.optimizers.Adam(lr, decay=d).get_config())
    v = nabi.Variable(np.array([1.0, 2.0], np.float32))
    w, m, s = np.array([1.0, 2.0]), np.zeros(2), np.zeros(2)
    for it in range(3):
        g = np.array([1.0, -1.0])
        opt.apply_gradients([(nabi.constant(g.astype(np.float32)), v)])
        lrt, t = lr / (1 + d * it), it + 1     # Keras 2: lr / (1 + decay * iterations)
        m = b1 * m + (1 - b1) * g
        s = b2 * s + (1 - b2) * g * g
        w = w - lrt * np.sqrt(1 - b2 ** t) / (1 - b1 ** t) * m / (np.sqrt(s) + eps)
    np.testing.assert_allclose(_np(v), w, rtol=1e-5)


# --- MaxNorm/UnitNorm/MinMaxNorm with a list of axes (Keras' advice for conv kernels) ----------

def test_norm_constraints_accept_a_list_of_axes():
    w = np.random.RandomState(3).randn(2, 2, 3, 4).astype(np.float32)
    n = np.sqrt((w.astype(np.float64) ** 2).sum(axis=(0, 1, 2), keepdims=True))
    ref = w * (np.clip(n, 0, 0.5) / (1e-7 + n))
    np.testing.assert_allclose(_np(keras.constraints.MaxNorm(0.5, axis=[0, 1, 2])(w)), ref,
                               rtol=1e-5)
    np.testing.assert_allclose(_np(keras.constraints.UnitNorm(axis=[0, 1, 2])(w)),
                               w / (1e-7 + n), rtol=1e-5)
    d = 0.5 * np.clip(n, 0.2, 0.6) + 0.5 * n
    np.testing.assert_allclose(
        _np(keras.constraints.MinMaxNorm(0.2, 0.6, rate=0.5, axis=[0, 1, 2])(w)),
        w * (d / (1e-7 + n)), rtol=1e-5)


@pytest.mark.parametrize("head", ["dense", "activation"])
def test_crossentropy_metrics_on_sigmoid_output_use_logits(head):
    layers = [keras.layers.Dense(1, activation="sigmoid")] if head == "dense" else \
        [keras.layers.Dense(1), keras.layers.Activation("sigmoid")]
    m = keras.Sequential([keras.Input((1,))] + layers)
    k, b = _weights_for(m, 25.0)
    y = np.array([[0.0], [1.0], [1.0]], np.float32)
    z = X1.astype(np.float64) @ k + b
    ref = (-(y * _np_log_sigmoid(z) + (1 - y) * _np_log_sigmoid(-z))).mean()
    met = keras.metrics.BinaryCrossentropy()
    met.update_state(y, m(X1))
    np.testing.assert_allclose(float(met.result()), ref, rtol=1e-5)
    m.compile(keras.optimizers.SGD(0.0), "binary_crossentropy",
              metrics=["binary_crossentropy", "accuracy"])
    loss, bce, acc = m.evaluate(X1, y, verbose=0)
    np.testing.assert_allclose([loss, bce], [ref, ref], rtol=1e-5)
    np.testing.assert_allclose(acc, np.mean((z > 0) == (y > 0.5)), rtol=1e-6)


# --- compile(loss=Loss(reduction='none')): gradient of the per-sample sum, logged mean ---------

def test_fit_with_reduction_none_loss():
    rng = np.random.RandomState(24)
    x = rng.randn(7, 4).astype(np.float32)
    y = rng.randn(7, 2).astype(np.float32)
    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    w0, b0 = np.ones((4, 2), np.float32), np.zeros(2, np.float32)
    m.set_weights([w0, b0])
    m.compile(keras.optimizers.SGD(0.01), keras.losses.MeanSquaredError(reduction="none"))
    h = m.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    w, b = w0.astype(np.float64), b0.astype(np.float64)
    tot, n = 0.0, 0
    for s in (slice(0, 4), slice(4, 7)):
        xb, yb = x[s].astype(np.float64), y[s].astype(np.float64)
        r = xb @ w + b - yb
        per = (r ** 2).mean(-1)                      # the per-sample losses
        tot, n = tot + per.mean() * len(xb), n + len(xb)
        g = 2 * r / r.shape[-1]                      # d sum(per) / d pred
        w, b = w - 0.01 * xb.T @ g, b - 0.01 * g.sum(0)
    np.testing.assert_allclose(m.get_weights()[0], w, rtol=1e-5)
    np.testing.assert_allclose(m.get_weights()[1], b, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(h.history["loss"][0], tot / n, rtol=1e-5)
