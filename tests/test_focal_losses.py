"""Keras 2.15 focal losses: `BinaryFocalCrossentropy` / `binary_focal_crossentropy` and
`CategoricalFocalCrossentropy` / `categorical_focal_crossentropy`.

Values and gradients (w.r.t. y_pred) against NumPy references written here from the published
formulas (Lin et al. 2018 as Keras 2.15 computes them: label smoothing first, the focal factor
from the unclipped probability, the probability bce clipped to [eps, 1 - eps] with eps added
inside the logs, the categorical loss renormalised then clipped), with sample weights and each
reduction, on the CPU and the emulated GPU; gradients by central differences of the NumPy loss
in float64. Also the numbers printed in Keras's docstrings, string lookup in compile and a short
fit, the metrics functions, config round trips and the argument errors."""
import warnings

import numpy as np
import pytest

import nabi
from nabi import keras

L = keras.losses
EPS = 1e-7


# --------------------------------------------------------------------------- NumPy references

def ref_bfce(y, x, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
             label_smoothing=0.0, axis=-1):
    y = np.asarray(y, np.float64)
    x = np.asarray(x, np.float64)
    y = y * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        s = 1.0 / (1.0 + np.exp(-x))
        bce = np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))
    else:
        s = x
        c = np.clip(x, EPS, 1 - EPS)
        bce = -(y * np.log(c + EPS) + (1 - y) * np.log(1 - c + EPS))
    p_t = y * s + (1 - y) * (1 - s)
    e = (1 - p_t) ** gamma * bce
    if apply_class_balancing:
        e = e * (y * alpha + (1 - y) * (1 - alpha))
    return e.mean(axis=axis)


def ref_cfce(y, x, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1):
    y = np.asarray(y, np.float64)
    x = np.asarray(x, np.float64)
    y = y * (1.0 - label_smoothing) + label_smoothing / y.shape[-1]
    if from_logits:
        ex = np.exp(x - x.max(axis=axis, keepdims=True))
        x = ex / ex.sum(axis=axis, keepdims=True)
    q = x / x.sum(axis=axis, keepdims=True)
    q = np.clip(q, EPS, 1 - EPS)
    return (np.asarray(alpha, np.float64) * (1 - q) ** gamma * (-y * np.log(q))).sum(axis=axis)


def ref_reduce(v, sw, reduction):
    if sw is not None:
        sw = np.asarray(sw, np.float64)
        while sw.ndim < v.ndim:
            sw = sw[..., None]
        v = v * sw
    if reduction == "none":
        return v
    if reduction == "sum":
        return v.sum()
    return v.sum() / v.size


def numgrad(f, x, eps=1e-6):
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += eps
        xm[i] -= eps
        g[i] = (f(xp) - f(xm)) / (2 * eps)
    return g


# --------------------------------------------------------------------------- cases

rng = np.random.default_rng(7)

BINARY = [
    dict(),
    dict(gamma=1.5, apply_class_balancing=True, alpha=0.4),
    dict(label_smoothing=0.2),
    dict(from_logits=True),
    dict(from_logits=True, apply_class_balancing=True, gamma=3.0, label_smoothing=0.1),
    dict(gamma=0.0),
    dict(axis=1),                      # 3-D, mean over the middle axis
]
CATEGORICAL = [
    dict(),
    dict(alpha=[0.2, 0.3, 0.5, 0.1], gamma=1.5),
    dict(label_smoothing=0.1, alpha=0.6),
    dict(from_logits=True),
    dict(from_logits=True, label_smoothing=0.2, gamma=0.0),
    dict(axis=1),                      # 3-D, classes on the middle axis
]


def _binary_data(kw, dtype):
    shape = (4, 3, 5) if kw.get("axis", -1) != -1 else (6, 5)
    y = (rng.uniform(size=shape) > 0.5).astype(dtype)
    if kw.get("from_logits"):
        x = rng.uniform(-3, 3, shape)
    else:
        x = rng.uniform(0.05, 0.95, shape)
    return y, x.astype(dtype)


def _categorical_data(kw, dtype):
    if kw.get("axis", -1) != -1:
        shape, ax = (3, 4, 2), 1
    else:
        shape, ax = (6, 4), -1
    C = shape[ax]
    lab = rng.integers(0, C, [s for i, s in enumerate(shape) if i != ax % len(shape)])
    y = np.moveaxis(np.eye(C)[lab], -1, ax).astype(dtype)
    if kw.get("from_logits"):
        x = rng.uniform(-3, 3, shape)
    else:
        x = rng.uniform(0.05, 1.0, shape)
        x = x / x.sum(axis=ax, keepdims=True)
    return y, x.astype(dtype)


def _sw(shape, weighted):
    return rng.uniform(0.2, 2.0, shape[0]) if weighted else None


def _check_values(where, cls, fn, ref, kw, data, reduction, weighted):
    y, x = data(kw, np.float32)
    sw = _sw(x.shape, weighted)
    want_vals = ref(y, x, **kw)
    with nabi.device(where):
        got = fn(nabi.constant(y), nabi.constant(x), **kw)
        assert got.shape == want_vals.shape
        assert got.dtype == nabi.float32
        np.testing.assert_allclose(got.numpy(), want_vals, rtol=2e-5, atol=1e-6)
        loss = cls(reduction=reduction, **kw)
        out = loss(nabi.constant(y), nabi.constant(x),
                   sample_weight=None if sw is None else nabi.constant(sw.astype(np.float32)))
    want = ref_reduce(want_vals, sw, reduction)
    assert out.shape == np.shape(want)
    np.testing.assert_allclose(out.numpy(), want, rtol=2e-5, atol=1e-6)


def _check_grads(where, cls, ref, kw, data, reduction, weighted):
    y, x = data(kw, np.float64)
    sw = _sw(x.shape, weighted)
    want_shape = ref(y, x, **kw).shape
    up = rng.uniform(0.5, 1.5, want_shape)      # an upstream gradient for reduction="none"

    def f(p):
        v = ref_reduce(ref(y, p, **kw), sw, reduction)
        return float(np.sum(v * up)) if reduction == "none" else float(v)

    want = numgrad(f, x)
    loss = cls(reduction=reduction, **kw)
    with nabi.device(where):
        p = nabi.constant(x)
        with nabi.GradientTape() as tape:
            tape.watch(p)
            out = loss(nabi.constant(y), p, sample_weight=None if sw is None else
                       nabi.constant(sw))
        og = nabi.constant(up) if reduction == "none" else None
        g = tape.gradient(out, p, output_gradients=og)
    assert g.shape == x.shape
    np.testing.assert_allclose(g.numpy(), want, rtol=1e-5, atol=1e-8)


REDUCTIONS = ["sum_over_batch_size", "sum", "none"]


@pytest.mark.parametrize("weighted", [False, True], ids=["", "weighted"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("kw", BINARY, ids=lambda k: ",".join(f"{a}={b}" for a, b in k.items())
                         or "default")
def test_binary_focal_values_and_gradients(where, kw, reduction, weighted):
    _check_values(where, L.BinaryFocalCrossentropy, L.binary_focal_crossentropy, ref_bfce, kw,
                  _binary_data, reduction, weighted)
    _check_grads(where, L.BinaryFocalCrossentropy, ref_bfce, kw, _binary_data, reduction,
                 weighted)


@pytest.mark.parametrize("weighted", [False, True], ids=["", "weighted"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("kw", CATEGORICAL,
                         ids=lambda k: ",".join(f"{a}={b}" for a, b in k.items()) or "default")
def test_categorical_focal_values_and_gradients(where, kw, reduction, weighted):
    _check_values(where, L.CategoricalFocalCrossentropy, L.categorical_focal_crossentropy,
                  ref_cfce, kw, _categorical_data, reduction, weighted)
    _check_grads(where, L.CategoricalFocalCrossentropy, ref_cfce, kw, _categorical_data,
                 reduction, weighted)


def test_mean_with_sample_weight_reduction():
    y, x = _binary_data({}, np.float32)
    sw = rng.uniform(0.2, 2.0, x.shape[0])
    v = ref_bfce(y, x) * sw
    got = L.BinaryFocalCrossentropy(reduction="mean_with_sample_weight")(y, x, sample_weight=sw)
    np.testing.assert_allclose(got.numpy(), v.sum() / sw.sum(), rtol=2e-5)


def test_clipped_probabilities():
    """Probabilities of exactly 0 and 1: Keras clips only inside the bce (the focal factor sees
    the raw value), and the clipped entries pass no bce gradient."""
    y = np.array([[1.0, 0.0, 1.0, 0.0]])
    x = np.array([[1.0, 0.0, 0.0, 1.0]])
    got = L.binary_focal_crossentropy(y, x).numpy()          # float64: no float32 1 - eps
    np.testing.assert_allclose(got, ref_bfce(y, x), rtol=1e-10)
    p = nabi.constant(x)
    with nabi.GradientTape() as tape:
        tape.watch(p)
        out = L.binary_focal_crossentropy(y, p, gamma=2.0)
    g = tape.gradient(out, p).numpy()
    assert np.all(np.isfinite(g))
    # right answers (p_t = 1): focal factor 0 and its derivative 0 -> no gradient
    assert g[0, 0] == 0 and g[0, 1] == 0


# --------------------------------------------------------------------------- Keras's docstrings

def test_keras_docstring_numbers():
    got = L.binary_focal_crossentropy([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]], gamma=2)
    np.testing.assert_allclose(got.numpy(), [0.330, 0.206], atol=1e-3)
    yt, yp = [0, 1, 0, 0], [-18.6, 0.51, 2.94, -12.8]
    assert abs(float(L.BinaryFocalCrossentropy(gamma=2, from_logits=True)(yt, yp)) - 0.691) < 1e-3
    assert abs(float(L.BinaryFocalCrossentropy(apply_class_balancing=True, gamma=2,
                                               from_logits=True)(yt, yp)) - 0.51) < 1e-3
    yt2, yp2 = [[0, 1], [0, 0]], [[-18.6, 0.51], [2.94, -12.8]]
    assert abs(float(L.BinaryFocalCrossentropy(gamma=3, from_logits=True)(yt2, yp2)) -
               0.647) < 1e-3
    got = L.categorical_focal_crossentropy([[0, 1, 0], [0, 0, 1]],
                                           [[0.05, 0.9, 0.05], [0.1, 0.85, 0.05]])
    np.testing.assert_allclose(got.numpy(), [2.63401289e-04, 6.75912094e-01], rtol=1e-5)
    c = L.CategoricalFocalCrossentropy()
    yt3, yp3 = [[0., 1., 0.], [0., 0., 1.]], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]]
    np.testing.assert_allclose(float(c(yt3, yp3)), 0.23315276, rtol=1e-5)
    np.testing.assert_allclose(float(c(yt3, yp3, sample_weight=nabi.constant([0.3, 0.7]))),
                               0.1632, rtol=1e-3)
    np.testing.assert_allclose(
        L.CategoricalFocalCrossentropy(reduction="none")(yt3, yp3).numpy(),
        [3.2058331e-05, 4.6627346e-01], rtol=1e-5)


# --------------------------------------------------------------------------- Keras API

def test_lookup_and_metrics_functions():
    assert L.get("binary_focal_crossentropy") is L.binary_focal_crossentropy
    assert L.get("categorical_focal_crossentropy") is L.categorical_focal_crossentropy
    assert isinstance(L.get("BinaryFocalCrossentropy"), L.BinaryFocalCrossentropy)
    assert isinstance(L.get("CategoricalFocalCrossentropy"), L.CategoricalFocalCrossentropy)
    assert keras.metrics.binary_focal_crossentropy is L.binary_focal_crossentropy
    assert keras.metrics.categorical_focal_crossentropy is L.categorical_focal_crossentropy
    assert keras.metrics.get("binary_focal_crossentropy") is L.binary_focal_crossentropy
    assert nabi.losses.BinaryFocalCrossentropy is L.BinaryFocalCrossentropy


@pytest.mark.parametrize("obj", [
    L.BinaryFocalCrossentropy(apply_class_balancing=True, alpha=0.3, gamma=1.5,
                              from_logits=True, label_smoothing=0.1, axis=-1,
                              reduction="sum", name="bf"),
    L.CategoricalFocalCrossentropy(alpha=[0.1, 0.2, 0.7], gamma=3.0, from_logits=True,
                                   label_smoothing=0.05, reduction="none", name="cf"),
], ids=["binary", "categorical"])
def test_config_round_trip(obj):
    cfg = obj.get_config()
    want = {"name", "reduction", "alpha", "gamma", "from_logits", "label_smoothing", "axis"}
    if isinstance(obj, L.BinaryFocalCrossentropy):
        want.add("apply_class_balancing")
    assert set(cfg) == want
    back = type(obj).from_config(cfg)
    assert back.get_config() == cfg
    back2 = L.deserialize(L.serialize(obj))
    assert type(back2) is type(obj) and back2.get_config() == cfg
    y, x = (np.eye(3)[[0, 2, 1, 1]], rng.uniform(-2, 2, (4, 3)))
    np.testing.assert_allclose(back2(y, x).numpy(), obj(y, x).numpy())


def test_defaults_match_keras():
    b = L.BinaryFocalCrossentropy()
    assert (b.apply_class_balancing, b.alpha, b.gamma, b.from_logits, b.label_smoothing,
            b.axis, b.reduction, b.name) == (False, 0.25, 2.0, False, 0.0, -1,
                                             "sum_over_batch_size", "binary_focal_crossentropy")
    c = L.CategoricalFocalCrossentropy()
    assert (c.alpha, c.gamma, c.from_logits, c.label_smoothing, c.axis, c.name) == \
        (0.25, 2.0, False, 0.0, -1, "categorical_focal_crossentropy")


def test_errors():
    with pytest.raises(ValueError, match=r"binary_focal_crossentropy.*\(2, 3\).*\(2, 4\)"):
        L.binary_focal_crossentropy(np.zeros((2, 3)), np.full((2, 4), 0.5))
    with pytest.raises(ValueError, match=r"categorical_focal_crossentropy.*\(2, 3\).*\(2, 4\)"):
        L.categorical_focal_crossentropy(np.zeros((2, 3)), np.full((2, 4), 0.25))
    with pytest.raises(ValueError, match=r"categorical_focal_crossentropy.*alpha"):
        L.CategoricalFocalCrossentropy(alpha=[0.5, 0.5])(np.eye(3), np.full((3, 3), 1 / 3))
    with pytest.raises(ValueError, match=r"binary_focal_crossentropy.*axis"):
        L.binary_focal_crossentropy(np.zeros((2, 3)), np.full((2, 3), 0.5), axis=True)
    with pytest.raises(ValueError, match=r"binary_focal_crossentropy.*axis 2"):
        L.binary_focal_crossentropy(np.zeros((2, 3)), np.full((2, 3), 0.5), axis=2)
    with pytest.warns(SyntaxWarning, match="categorical_focal_crossentropy"):
        L.categorical_focal_crossentropy(np.ones((2, 1)), np.ones((2, 1)))


# --------------------------------------------------------------------------- compile and fit

def _binary_model(seed):
    nabi.random.set_seed(seed)
    m = keras.Sequential([keras.layers.Input((4,)), keras.layers.Dense(3, activation="tanh"),
                          keras.layers.Dense(1, activation="sigmoid")])
    return m


def test_compile_string_lookup_and_fit(where):
    x = rng.normal(size=(32, 4)).astype(np.float32)
    y = (x[:, :1] + 0.5 * x[:, 1:2] > 0).astype(np.float32)
    with nabi.device(where):
        m = _binary_model(3)
        # learning rate 0: the logged loss is the loss of the initial weights
        m.compile(optimizer=keras.optimizers.SGD(0.0), loss="binary_focal_crossentropy",
                  metrics=["binary_focal_crossentropy"])
        p0 = m.predict(x, verbose=0)
        h = m.fit(x, y, batch_size=32, epochs=1, verbose=0)
        want = ref_bfce(y, p0).mean()
        np.testing.assert_allclose(h.history["loss"][0], want, rtol=1e-4)
        np.testing.assert_allclose(h.history["binary_focal_crossentropy"][0], want, rtol=1e-4)
        m.compile(optimizer=keras.optimizers.Adam(0.05),
                  loss=L.BinaryFocalCrossentropy(apply_class_balancing=True, gamma=1.0))
        h = m.fit(x, y, batch_size=8, epochs=8, verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0]


def test_categorical_focal_in_fit(where):
    x = rng.normal(size=(30, 4)).astype(np.float32)
    y = np.eye(3)[np.argmax(x[:, :3], axis=1)].astype(np.float32)
    with nabi.device(where):
        nabi.random.set_seed(5)
        m = keras.Sequential([keras.layers.Input((4,)),
                              keras.layers.Dense(3, activation="softmax")])
        m.compile(optimizer=keras.optimizers.SGD(0.0), loss="categorical_focal_crossentropy")
        p0 = m.predict(x, verbose=0)
        h = m.fit(x, y, batch_size=30, epochs=1, verbose=0)
        np.testing.assert_allclose(h.history["loss"][0], ref_cfce(y, p0).mean(), rtol=1e-4)
        m.compile(optimizer=keras.optimizers.Adam(0.05),
                  loss=L.CategoricalFocalCrossentropy(alpha=[0.3, 0.3, 0.4]))
        h = m.fit(x, y, batch_size=10, epochs=8, verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0]


def test_saved_model_keeps_focal_loss(tmp_path):
    m = _binary_model(1)
    m.compile(optimizer="sgd", loss=L.BinaryFocalCrossentropy(gamma=3.0, alpha=0.4,
                                                               apply_class_balancing=True))
    x = rng.normal(size=(8, 4)).astype(np.float32)
    y = (x[:, :1] > 0).astype(np.float32)
    m.fit(x, y, epochs=1, verbose=0)
    path = str(tmp_path / "m.keras")
    m.save(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m2 = keras.models.load_model(path)
    assert m2.evaluate(x, y, verbose=0) == pytest.approx(m.evaluate(x, y, verbose=0), rel=1e-6)
