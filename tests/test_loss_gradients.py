"""Gradients of every Keras loss through GradientTape, against central differences of the
loss's forward value (the forward values are checked against NumPy references in
tests/test_keras_losses_metrics.py), in float64: every reduction, sample weights, an explicit
upstream gradient, and one and several values per sample (the per-sample mean over the last
axis). The usual training step's path -- the tape's seed times the reduction's 1/n, which the
fused losses fold into one scaling of their saved gradient -- and the general path (an
upstream gradient that is not the seed) must agree with the numbers."""
import numpy as np
import pytest

import nabi
from nabi.framework import tape as tape_mod

L = nabi.keras.losses
rng = np.random.default_rng(42)


def _probs(shape):
    p = rng.uniform(0.1, 1.0, shape)
    return p / p.sum(-1, keepdims=True)


def _case(name, C):
    """(loss object factory, y_true, y_pred) with y_pred away from kinks and clipping."""
    B = 5
    yp = rng.uniform(-1.5, 1.5, (B, C))
    yt = rng.uniform(-1.0, 1.0, (B, C))
    if name == "mse":
        return L.MeanSquaredError, yt, yp
    if name == "mae":
        return L.MeanAbsoluteError, yt, yp
    if name == "mape":
        return L.MeanAbsolutePercentageError, yt + 3.0, yp
    if name == "msle":
        return L.MeanSquaredLogarithmicError, np.abs(yt), np.abs(yp) + 0.1
    if name == "bce":
        return L.BinaryCrossentropy, (yt > 0).astype(float), rng.uniform(0.1, 0.9, (B, C))
    if name == "bce_logits":
        return (lambda **k: L.BinaryCrossentropy(from_logits=True, **k)), (yt > 0) * 1.0, yp
    if name == "cce":
        return L.CategoricalCrossentropy, _probs((B, C)), _probs((B, C))
    if name == "cce_logits":
        return (lambda **k: L.CategoricalCrossentropy(from_logits=True, **k)), \
            _probs((B, C)), yp
    if name == "scce":
        return L.SparseCategoricalCrossentropy, rng.integers(0, C, B), _probs((B, C))
    if name == "scce_logits":
        return (lambda **k: L.SparseCategoricalCrossentropy(from_logits=True, **k)), \
            rng.integers(0, C, B), yp
    if name == "hinge":
        return L.Hinge, np.sign(yt), yp
    if name == "squared_hinge":
        return L.SquaredHinge, np.sign(yt), yp
    if name == "categorical_hinge":
        return L.CategoricalHinge, np.eye(C)[rng.integers(0, C, B)], yp
    if name == "huber":
        return L.Huber, yt, yp
    if name == "log_cosh":
        return L.LogCosh, yt, yp
    if name == "poisson":
        return L.Poisson, np.abs(yt), np.abs(yp) + 0.2
    if name == "kld":
        return L.KLDivergence, _probs((B, C)), _probs((B, C))
    if name == "cosine":
        return L.CosineSimilarity, yt, yp
    raise KeyError(name)


NAMES = ["mse", "mae", "mape", "msle", "bce", "bce_logits", "cce", "cce_logits", "scce",
         "scce_logits", "hinge", "squared_hinge", "categorical_hinge", "huber", "log_cosh",
         "poisson", "kld", "cosine"]
ONE_COLUMN_OK = {"mse", "mae", "mape", "msle", "bce", "bce_logits", "hinge", "squared_hinge",
                 "huber", "log_cosh", "poisson"}


def _numgrad(f, x, eps=1e-6):
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += eps
        xm[i] -= eps
        g[i] = (f(xp) - f(xm)) / (2 * eps)
    return g


@pytest.mark.parametrize("C", [3, 1], ids=["C3", "C1"])
@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True], ids=["", "weighted"])
@pytest.mark.parametrize("name", NAMES)
def test_loss_gradient_matches_central_differences(name, reduction, weighted, C):
    if C == 1 and name not in ONE_COLUMN_OK:
        pytest.skip("needs several classes")
    make, yt, yp = _case(name, C)
    loss = make(reduction=reduction)
    sw = rng.uniform(0.2, 2.0, yp.shape[0]) if weighted else None
    up = rng.uniform(0.5, 1.5, yp.shape[0])   # an upstream gradient for reduction="none"

    def value(p):
        v = loss(yt, nabi.constant(p), sample_weight=sw).numpy()
        return float(np.sum(v * up)) if reduction == "none" else float(v)

    want = _numgrad(value, yp)
    p = nabi.constant(yp)
    for upstream in ([None, 2.5] if reduction != "none" else [up]):
        with nabi.GradientTape() as tape:
            tape.watch(p)
            out = loss(yt, p, sample_weight=sw)
        og = None if upstream is None else nabi.constant(np.asarray(upstream, np.float64) *
                                                        np.ones(out.shape))
        g = tape.gradient(out, p, output_gradients=og).numpy()
        scale = 1.0 if upstream is None or reduction == "none" else upstream
        np.testing.assert_allclose(g, scale * want, rtol=1e-6, atol=1e-8,
                                   err_msg=f"{name} {reduction} upstream={upstream}")


def test_seed_is_shared_and_never_handed_out():
    """The tape's seed of ones is one shared read-only array; asking for the gradient of the
    target itself hands out a fresh copy, so writing into it cannot change later gradients."""
    x = nabi.constant(np.array([1.0, 2.0]))
    for _ in range(2):
        with nabi.GradientTape() as tape:
            tape.watch(x)
            y = nabi.reduce_sum(x * x)
        gy, gx = tape.gradient(y, [y, x])
        np.testing.assert_array_equal(gx.numpy(), [2.0, 4.0])
        assert gy.numpy() == 1.0
        assert tape_mod._CONST_VALUE.get(id(gy._data)) is None  # not the shared seed
        a = gy.numpy()
        if a.flags.writeable:
            a[...] = 7.0
