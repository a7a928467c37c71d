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
