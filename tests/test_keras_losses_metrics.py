"""Keras losses and metrics vs NumPy formulas (values, weights, reductions, gradients)."""
import importlib
import os
import sys
import types

import numpy as np
import pytest

import nabi as tf


def _mod(name):
    try:
        return importlib.import_module(f"nabi.keras.{name}")
    except ImportError:  # the package __init__ is mid-edit elsewhere: load the submodule alone
        pkg = types.ModuleType("nabi.keras")
        pkg.__path__ = [os.path.join(os.path.dirname(tf.__file__), "keras")]
        sys.modules["nabi.keras"] = pkg
        return importlib.import_module(f"nabi.keras.{name}")


L = _mod("losses")
M = _mod("metrics")
EPS = 1e-7
R = np.random.default_rng(0)


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


# ---------------------------------------------------------------- NumPy references (per sample)

def r_bce(t, p, ls=0.0):
    t = t * (1 - ls) + 0.5 * ls
    p = np.clip(p, EPS, 1 - EPS)
    return -(t * np.log(p) + (1 - t) * np.log(1 - p)).mean(-1)


def r_cce(t, p, ls=0.0):
    t = t * (1 - ls) + ls / t.shape[-1]
    p = np.clip(p / p.sum(-1, keepdims=True), EPS, 1 - EPS)
    return -(t * np.log(p)).sum(-1)


def r_hinge_labels(t):
    return 2 * t - 1 if np.all((t == 0) | (t == 1)) else t


REFS = {
    "mean_squared_error": lambda t, p: ((p - t) ** 2).mean(-1),
    "mean_absolute_error": lambda t, p: np.abs(p - t).mean(-1),
    "mean_absolute_percentage_error":
        lambda t, p: 100 * (np.abs(t - p) / np.maximum(np.abs(t), EPS)).mean(-1),
    "mean_squared_logarithmic_error":
        lambda t, p: ((np.log(np.maximum(p, EPS) + 1) - np.log(np.maximum(t, EPS) + 1)) ** 2).mean(-1),
    "hinge": lambda t, p: np.maximum(1 - r_hinge_labels(t) * p, 0).mean(-1),
    "squared_hinge": lambda t, p: (np.maximum(1 - r_hinge_labels(t) * p, 0) ** 2).mean(-1),
    "categorical_hinge":
        lambda t, p: np.maximum(((1 - t) * p).max(-1) - (t * p).sum(-1) + 1, 0),
    "huber": lambda t, p: np.where(np.abs(p - t) <= 1, 0.5 * (p - t) ** 2,
                                   np.abs(p - t) - 0.5).mean(-1),
    "log_cosh": lambda t, p: np.log(np.cosh(p - t)).mean(-1),
    "kl_divergence": lambda t, p: (np.clip(t, EPS, 1) * np.log(np.clip(t, EPS, 1) /
                                                               np.clip(p, EPS, 1))).sum(-1),
    "poisson": lambda t, p: (p - t * np.log(p + EPS)).mean(-1),
    "cosine_similarity": lambda t, p: -((t / np.linalg.norm(t, axis=-1, keepdims=True)) *
                                        (p / np.linalg.norm(p, axis=-1, keepdims=True))).sum(-1),
    "binary_crossentropy": r_bce,
    "categorical_crossentropy": r_cce,
}


def data(name, n=6, c=4):
    if name in ("binary_crossentropy", "hinge", "squared_hinge"):
        return (R.random((n, c)) > 0.5).astype(np.float32), R.uniform(0.02, 0.98, (n, c)).astype(np.float32)
    if name in ("categorical_crossentropy", "categorical_hinge", "kl_divergence"):
        t = np.eye(c, dtype=np.float32)[R.integers(0, c, n)]
        return t, softmax(R.standard_normal((n, c))).astype(np.float32)
    if name in ("poisson", "mean_squared_logarithmic_error"):
        return R.uniform(0, 3, (n, c)).astype(np.float32), R.uniform(0.1, 3, (n, c)).astype(np.float32)
    return R.standard_normal((n, c)).astype(np.float32), R.standard_normal((n, c)).astype(np.float32)


@pytest.mark.parametrize("name", sorted(REFS))
def test_loss_functions_match_numpy(name):
    t, p = data(name)
    fn = L.get(name)
    np.testing.assert_allclose(fn(t, p).numpy(), REFS[name](t.astype(np.float64), p.astype(np.float64)),
                               rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("name", sorted(REFS))
def test_loss_gradients_finite_differences(name):
    t, p = data(name, n=3, c=3)
    p64 = p.astype(np.float64)
    x = tf.Variable(p64)
    fn = L.get(name)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(fn(t.astype(np.float64), x) * np.arange(1, 4, dtype=np.float64))
    g = tape.gradient(loss, x).numpy()
    ref = REFS[name]
    w = np.arange(1, 4)
    num = np.zeros_like(p64)
    h = 1e-6
    for idx in np.ndindex(p64.shape):
        a, b = p64.copy(), p64.copy()
        a[idx] += h
        b[idx] -= h
        num[idx] = ((ref(t, a) * w).sum() - (ref(t, b) * w).sum()) / (2 * h)
    np.testing.assert_allclose(g, num, rtol=1e-4, atol=1e-6)


def test_sparse_categorical_crossentropy():
    p = softmax(R.standard_normal((5, 4))).astype(np.float32)
    y = R.integers(0, 4, 5)
    ref = -np.log(np.clip(p[np.arange(5), y], EPS, 1 - EPS))
    np.testing.assert_allclose(L.sparse_categorical_crossentropy(y, p).numpy(), ref, rtol=1e-5)
    np.testing.assert_allclose(L.sparse_categorical_crossentropy(y[:, None], p).numpy(), ref, rtol=1e-5)
    logits = R.standard_normal((5, 4)).astype(np.float32)
    ref_l = -np.log(softmax(logits.astype(np.float64))[np.arange(5), y])
    np.testing.assert_allclose(L.sparse_categorical_crossentropy(y, logits, from_logits=True).numpy(),
                               ref_l, rtol=1e-5)
    # gradients (probabilities and logits)
    x = tf.Variable(p.astype(np.float64))
    with tf.GradientTape() as tape:
        loss = L.SparseCategoricalCrossentropy()(y, x)
    g = tape.gradient(loss, x).numpy()
    s = p.sum(-1, keepdims=True).astype(np.float64)
    q = p / s
    dq = np.zeros_like(q)
    dq[np.arange(5), y] = -1 / q[np.arange(5), y] / 5
    np.testing.assert_allclose(g, (dq - (dq * q).sum(-1, keepdims=True)) / s, rtol=1e-5)
    z = tf.Variable(logits.astype(np.float64))
    with tf.GradientTape() as tape:
        loss = L.SparseCategoricalCrossentropy(from_logits=True)(y, z)
    oh = np.eye(4)[y]
    np.testing.assert_allclose(tape.gradient(loss, z).numpy(),
                               (softmax(logits.astype(np.float64)) - oh) / 5, rtol=1e-5, atol=1e-7)
    # ignore_class: ignored entries drop out of the mean
    y2 = y.copy()
    y2[0] = -1
    v = L.SparseCategoricalCrossentropy(ignore_class=-1)(y2, p).numpy()
    np.testing.assert_allclose(v, ref[1:].sum() / 4, rtol=1e-4)


def test_from_logits_paths_and_extreme_logits():
    z = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 3.0]], np.float32)
    t = np.array([[1.0, 0.0, 1.0], [1.0, 0.0, 0.0]], np.float32)
    b = L.binary_crossentropy(t, z, from_logits=True).numpy()
    ref = (np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z.astype(np.float64))))).mean(-1)
    assert np.all(np.isfinite(b))
    np.testing.assert_allclose(b, ref, rtol=1e-5)
    oh = np.eye(3, dtype=np.float32)[[0, 2]]
    c = L.categorical_crossentropy(oh, z, from_logits=True).numpy()
    assert np.all(np.isfinite(c))
    np.testing.assert_allclose(c, [0.0, 1e4 - 3.0], rtol=1e-5)
    s = L.sparse_categorical_crossentropy(np.array([1, 1]), z, from_logits=True).numpy()
    np.testing.assert_allclose(s, [2e4, 0.0], rtol=1e-5, atol=1e-3)
    x = tf.Variable(z)
    with tf.GradientTape() as tape:
        loss = L.CategoricalCrossentropy(from_logits=True)(oh, x) + \
            L.BinaryCrossentropy(from_logits=True)(t, x)
    assert np.all(np.isfinite(tape.gradient(loss, x).numpy()))
    # moderate logits: the logits forms equal the probability forms
    z2 = R.standard_normal((4, 3)).astype(np.float64)
    t2 = (R.random((4, 3)) > 0.5).astype(np.float64)
    np.testing.assert_allclose(L.binary_crossentropy(t2, z2, from_logits=True).numpy(),
                               r_bce(t2, sigmoid(z2)), rtol=1e-6)
    oh2 = np.eye(3)[[0, 1, 2, 1]]
    np.testing.assert_allclose(L.categorical_crossentropy(oh2, z2, from_logits=True, label_smoothing=0.1).numpy(),
                               r_cce(oh2, softmax(z2), 0.1), rtol=1e-6)


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "none", None,
                                       "mean_with_sample_weight"])
def test_reductions_and_sample_weight(reduction):
    t, p = data("mean_squared_error", n=5, c=3)
    sw = R.uniform(0, 2, 5).astype(np.float32)
    per = REFS["mean_squared_error"](t, p)
    loss = L.MeanSquaredError(reduction=reduction)
    out = loss(t, p, sample_weight=sw).numpy()
    w = per * sw
    ref = {"sum_over_batch_size": w.sum() / 5, "sum": w.sum(), "none": w, None: w,
           "mean_with_sample_weight": w.sum() / sw.sum()}[reduction]
    np.testing.assert_allclose(out, ref, rtol=1e-5)
    np.testing.assert_allclose(loss(t, p, sample_weight=sw[:, None]).numpy(), ref, rtol=1e-5)
    # gradient of the reduced loss w.r.t. y_pred
    x = tf.Variable(p.astype(np.float64))
    with tf.GradientTape() as tape:
        o = tf.reduce_sum(loss(t.astype(np.float64), x, sample_weight=sw.astype(np.float64)))
    scale = {"sum_over_batch_size": 1 / 5, "sum": 1, "none": 1, None: 1,
             "mean_with_sample_weight": 1 / sw.sum()}[reduction]
    np.testing.assert_allclose(tape.gradient(o, x).numpy(),
                               2 * (p - t) / 3 * sw[:, None] * scale, rtol=1e-5, atol=1e-7)


def test_loss_classes_defaults_and_binary_probabilities():
    t = np.array([[0.0], [1.0], [1.0], [0.0]], np.float32)
    p = np.array([[0.1], [0.8], [1.0], [0.0]], np.float32)
    np.testing.assert_allclose(L.BinaryCrossentropy()(t, p).numpy(), r_bce(t, p).mean(), rtol=1e-5)
    np.testing.assert_allclose(L.BinaryCrossentropy(label_smoothing=0.2)(t, p).numpy(),
                               r_bce(t, p, 0.2).mean(), rtol=1e-5)
    # y_true of shape (N,) against y_pred (N, 1)
    np.testing.assert_allclose(L.BinaryCrossentropy()(t[:, 0], p).numpy(), r_bce(t, p).mean(), rtol=1e-5)
    x = tf.Variable(p)
    with tf.GradientTape() as tape:
        loss = L.BinaryCrossentropy()(t, x)
    g = tape.gradient(loss, x).numpy()
    np.testing.assert_allclose(g[:2, 0], ((p[:2] - t[:2]) / (p[:2] * (1 - p[:2])) / 4)[:, 0], rtol=1e-4)
    np.testing.assert_array_equal(g[2:], 0)  # clipped probabilities
    assert L.MeanSquaredError().name == "mean_squared_error"
    assert L.Huber().name == "huber_loss"
    np.testing.assert_allclose(L.Huber(delta=0.5)(np.zeros((2, 2)), np.array([[0.2, 2.0], [1.0, -0.1]])).numpy(),
                               np.mean([0.02, 0.5 * 2 - 0.125, 0.5 - 0.125, 0.005]), rtol=1e-6)


def test_loss_get_serialize_and_custom():
    assert L.get("mse") is L.mean_squared_error
    assert L.get("mae") is L.mean_absolute_error
    assert isinstance(L.get("BinaryCrossentropy"), L.BinaryCrossentropy)
    c = L.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)
    c2 = L.deserialize(L.serialize(c))
    assert isinstance(c2, L.CategoricalCrossentropy) and c2.from_logits and c2.label_smoothing == 0.1
    assert L.deserialize(L.serialize(L.mse)) is L.mean_squared_error
    with pytest.raises(ValueError):
        L.get("nope")

    class MyLoss(L.Loss):
        def call(self, y_true, y_pred):
            return tf.reduce_mean(tf.abs(y_pred - y_true), axis=-1)
    t, p = data("mean_absolute_error")
    np.testing.assert_allclose(MyLoss()(t, tf.constant(p)).numpy(), np.abs(p - t).mean(), rtol=1e-5)
    w = L.LossFunctionWrapper(lambda a, b: tf.reduce_mean(tf.square(b - a), axis=-1), reduction="sum")
    np.testing.assert_allclose(w(t, tf.constant(p)).numpy(), ((p - t) ** 2).mean(-1).sum(), rtol=1e-5)


def test_fused_logits_loss_helper():
    f = L._fused_logits_loss("categorical_crossentropy", "softmax")
    assert isinstance(f, L.CategoricalCrossentropy) and f.from_logits
    f = L._fused_logits_loss(L.SparseCategoricalCrossentropy(reduction="sum"), "softmax")
    assert f.from_logits and f.reduction == "sum"
    f = L._fused_logits_loss(L.binary_crossentropy, "sigmoid")
    assert isinstance(f, L.BinaryCrossentropy) and f.from_logits
    assert L._fused_logits_loss("mse", "softmax") is None
    assert L._fused_logits_loss("binary_crossentropy", "softmax") is None
    assert L._fused_logits_loss(L.BinaryCrossentropy(from_logits=True), "sigmoid") is None
    z = R.standard_normal((6, 5))
    y = R.integers(0, 5, 6)
    a = L.SparseCategoricalCrossentropy()(y, softmax(z)).numpy()
    b = L._fused_logits_loss("sparse_categorical_crossentropy", "softmax")(y, z).numpy()
    np.testing.assert_allclose(a, b, rtol=1e-6)


# ---------------------------------------------------------------- metrics

def test_metric_functions():
    t = np.array([[1.0], [0.0], [1.0], [0.0]])
    p = np.array([[0.7], [0.6], [0.2], [0.1]])
    np.testing.assert_allclose(M.binary_accuracy(t, p).numpy(), [1, 0, 0, 1])
    np.testing.assert_allclose(M.binary_accuracy(t, p, threshold=0.15).numpy(), [1, 0, 1, 1])
    oh = np.eye(3)[[0, 2, 1]]
    pr = np.array([[0.5, 0.3, 0.2], [0.1, 0.2, 0.7], [0.6, 0.3, 0.1]])
    np.testing.assert_allclose(M.categorical_accuracy(oh, pr).numpy(), [1, 1, 0])
    np.testing.assert_allclose(M.sparse_categorical_accuracy([0, 2, 1], pr).numpy(), [1, 1, 0])
    np.testing.assert_allclose(M.sparse_categorical_accuracy([[0], [2], [1]], pr).numpy(), [[1], [1], [0]])
    np.testing.assert_allclose(M.top_k_categorical_accuracy(oh, pr, k=2).numpy(), [1, 1, 1])
    np.testing.assert_allclose(M.sparse_top_k_categorical_accuracy([2, 0, 2], pr, k=1).numpy(), [0, 0, 0])
    np.testing.assert_allclose(M.sparse_top_k_categorical_accuracy([2, 0, 2], pr, k=2).numpy(), [0, 0, 0])
    np.testing.assert_allclose(M.accuracy([1, 2, 3], [1, 0, 3]).numpy(), [1, 0, 1])
    assert M.get("mse") is L.mean_squared_error and M.get("accuracy") is M.accuracy


def test_stateful_metrics_accumulate():
    m = M.Mean()
    m.update_state([1.0, 2.0, 3.0])
    m.update_state([4.0], sample_weight=[3.0])
    assert np.isclose(float(m.result()), (6 + 12) / 6)
    m.reset_state()
    assert float(m.result()) == 0.0
    s = M.Sum()
    s.update_state([1.0, 2.0], sample_weight=[2.0, 0.5])
    assert np.isclose(float(s.result()), 3.0)
    a = M.BinaryAccuracy()
    a.update_state([[1.0], [0.0]], [[0.9], [0.8]])
    a.update_state([[1.0], [1.0]], [[0.9], [0.8]], sample_weight=[1.0, 3.0])
    assert np.isclose(float(a.result()), (1 + 0 + 1 + 3) / 6)
    assert [v.name for v in a.variables] == ["total:0", "count:0"]
    sc = M.SparseCategoricalAccuracy()
    sc.update_state([[1], [2]], [[0.1, 0.8, 0.1], [0.5, 0.3, 0.2]])
    assert float(sc.result()) == 0.5
    t, p = R.standard_normal((8, 3)), R.standard_normal((8, 3))
    for cls, ref in [(M.MeanSquaredError, ((p - t) ** 2).mean()), (M.MeanAbsoluteError, np.abs(p - t).mean()),
                     (M.RootMeanSquaredError, np.sqrt(((p - t) ** 2).mean()))]:
        mm = cls()
        mm.update_state(t[:4], p[:4])
        mm.update_state(t[4:], p[4:])
        np.testing.assert_allclose(float(mm.result()), ref, rtol=1e-5)
    ce = M.CategoricalCrossentropy()
    oh = np.eye(3)[R.integers(0, 3, 8)]
    pr = softmax(R.standard_normal((8, 3)))
    ce.update_state(oh, pr)
    np.testing.assert_allclose(float(ce.result()), r_cce(oh, pr).mean(), rtol=1e-5)
    bce = M.BinaryCrossentropy(from_logits=True)
    z = R.standard_normal((8, 1))
    tt = (R.random((8, 1)) > 0.5).astype(float)
    bce.update_state(tt, z)
    np.testing.assert_allclose(float(bce.result()), r_bce(tt, sigmoid(z)).mean(), rtol=1e-5)
    sce = M.SparseCategoricalCrossentropy(from_logits=True)
    yy = R.integers(0, 3, 8)
    sce.update_state(yy, z.repeat(3, 1) * [1, 2, 3])
    assert np.isfinite(float(sce.result()))
    cfg = M.serialize(M.BinaryAccuracy(threshold=0.3))
    assert M.deserialize(cfg).threshold == 0.3
    assert isinstance(M.get("AUC"), M.AUC)


def test_precision_recall_thresholds():
    t = np.array([1, 0, 1, 1, 0, 0, 1], np.float32)
    p = np.array([0.9, 0.8, 0.3, 0.6, 0.2, 0.55, 0.45], np.float32)
    sw = np.array([1, 2, 1, 1, 1, 0.5, 2], np.float32)
    for thr in (None, 0.5, [0.25, 0.5, 0.7]):
        pm, rm = M.Precision(thresholds=thr), M.Recall(thresholds=thr)
        pm.update_state(t, p, sample_weight=sw)
        rm.update_state(t, p, sample_weight=sw)
        ths = [0.5] if thr is None else np.atleast_1d(thr)
        pref, rref = [], []
        for th in ths:
            pp = p > th
            tp = (sw * (pp & (t == 1))).sum()
            fp = (sw * (pp & (t == 0))).sum()
            fn = (sw * (~pp & (t == 1))).sum()
            pref.append(tp / (tp + fp))
            rref.append(tp / (tp + fn))
        shape = () if not isinstance(thr, list) else (3,)
        assert np.shape(pm.result().numpy()) == shape
        np.testing.assert_allclose(pm.result().numpy(), np.reshape(pref, shape), rtol=1e-6)
        np.testing.assert_allclose(rm.result().numpy(), np.reshape(rref, shape), rtol=1e-6)
    # top_k and class_id
    y = np.array([[0, 1, 0], [1, 0, 0]], np.float32)
    pr = np.array([[0.2, 0.5, 0.3], [0.1, 0.3, 0.6]], np.float32)
    m = M.Precision(top_k=1)
    m.update_state(y, pr)
    assert float(m.result()) == 0.5
    m = M.Recall(class_id=0)
    m.update_state(y, pr)
    assert float(m.result()) == 0.0
    tpm = M.TruePositives()
    tpm.update_state(t, p)
    assert float(tpm.result()) == 2.0


def _np_auc(t, p, n, curve="ROC", w=None):
    w = np.ones_like(p) if w is None else w
    th = np.array([-EPS] + [(i + 1) / (n - 1) for i in range(n - 2)] + [1 + EPS])
    pp = p[None, :] > th[:, None]
    pos = (t == 1)[None, :]
    tp = (w * (pp & pos)).sum(1)
    fp = (w * (pp & ~pos)).sum(1)
    fn = (w * (~pp & pos)).sum(1)
    tn = (w * (~pp & ~pos)).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rec = np.nan_to_num(tp / (tp + fn))
        if curve == "ROC":
            x, y = np.nan_to_num(fp / (fp + tn)), rec
        else:
            x, y = rec, np.nan_to_num(tp / (tp + fp))
    return np.sum((x[:-1] - x[1:]) * (y[:-1] + y[1:]) / 2)  # trapezoids


def test_auc_roc_vs_numpy_trapezoid():
    t = (R.random(500) > 0.4).astype(np.float32)
    p = np.clip(t * 0.3 + R.random(500) * 0.7, 0, 1).astype(np.float32)
    w = R.uniform(0.5, 2, 500).astype(np.float32)
    for n in (200, 13):
        m = M.AUC(num_thresholds=n)
        m.update_state(t[:250], p[:250], sample_weight=w[:250])
        m.update_state(t[250:], p[250:], sample_weight=w[250:])
        np.testing.assert_allclose(float(m.result()), _np_auc(t, p, n, w=w), rtol=1e-5)
    # the exact (rank) ROC AUC is approached with many thresholds
    m = M.AUC(num_thresholds=2000)
    m.update_state(t, p)
    pos, neg = p[t == 1], p[t == 0]
    exact = ((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean())
    assert abs(float(m.result()) - exact) < 2e-3
    m = M.AUC(curve="PR", summation_method="minoring")
    m.update_state(t, p)
    assert 0 < float(m.result()) <= 1
    m = M.AUC(curve="PR")
    m.update_state(t, p)
    assert abs(float(m.result()) - _np_auc(t, p, 200, "PR")) < 0.02
    m.reset_state()
    assert float(m.result()) == 0.0
    ml = M.AUC(multi_label=True)
    tt = np.stack([t, 1 - t], 1)
    pp = np.stack([p, 1 - p], 1)
    ml.update_state(tt, pp)
    np.testing.assert_allclose(float(ml.result()), _np_auc(t, p, 200), rtol=1e-5)


# ---------------------------------------------------------------- on the GPU (emulated and real)
# The emulated GPU (nabi.framework.cuda_emulator) and, when present, the real one: losses and
# metrics given host labels and GPU predictions (as Keras users write them) compute on the GPU
# and agree with the CPU and with the NumPy references above.

# the `gpu` fixture (emulated and real GPU) is in conftest.py


def _on_gpu(t):
    return t.device.endswith("GPU:0")


def _loss_and_grad(kind, loss, t, p, sw):
    with tf.device(kind):
        x = tf.Variable(p)
        with tf.GradientTape() as tape:
            out = loss(t, x, sample_weight=sw)
        g = tape.gradient(out, x)
    assert _on_gpu(out) == _on_gpu(g) == (kind == "cuda")
    return out.numpy(), g.numpy()


class _AbsLoss(L.Loss):
    """A Loss subclass made of ops (the unfused path)."""

    def call(self, y_true, y_pred):
        return tf.reduce_mean(tf.abs(y_pred - y_true), axis=-1)


GPU_LOSSES = {name: (lambda n=name: L.LossFunctionWrapper(L.get(n))) for name in REFS}
GPU_LOSSES.update({
    "custom_subclass": lambda: _AbsLoss(reduction="mean_with_sample_weight"),
    "bce_logits_smoothed": lambda: L.BinaryCrossentropy(from_logits=True, label_smoothing=0.1),
    "cce_logits": lambda: L.CategoricalCrossentropy(from_logits=True),
    "huber_delta": lambda: L.Huber(delta=0.3),
    "sum_reduction": lambda: L.MeanAbsoluteError(reduction="sum"),
    "mean_with_sample_weight": lambda: L.Poisson(reduction="mean_with_sample_weight"),
})


@pytest.mark.parametrize("name", sorted(GPU_LOSSES))
def test_losses_on_gpu_match_cpu_and_numpy(gpu, name):
    ref_name = name if name in REFS else {"bce_logits_smoothed": "binary_crossentropy",
                                          "cce_logits": "categorical_crossentropy",
                                          "huber_delta": "huber", "sum_reduction":
                                          "mean_absolute_error",
                                          "mean_with_sample_weight": "poisson",
                                          "custom_subclass": "mean_absolute_error"}[name]
    t, p = data(ref_name, n=5, c=3)
    sw = R.uniform(0.2, 2, 5).astype(np.float32)
    vg, gg = _loss_and_grad("cuda", GPU_LOSSES[name](), t, p, sw)
    vc, gc = _loss_and_grad("cpu", GPU_LOSSES[name](), t, p, sw)
    np.testing.assert_allclose(vg, vc, rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(gg, gc, rtol=2e-4, atol=2e-6)
    if name in REFS:
        ref = (REFS[name](t.astype(np.float64), p.astype(np.float64)) * sw).sum() / 5
        np.testing.assert_allclose(vg, ref, rtol=2e-5, atol=2e-6)


def test_sparse_losses_on_gpu(gpu):
    p = softmax(R.standard_normal((6, 4))).astype(np.float32)
    z = R.standard_normal((6, 4)).astype(np.float32)
    y = np.array([0, 3, 1, 2, 2, -1])
    sw = R.uniform(0.2, 2, 6).astype(np.float32)
    for loss, pred in [(lambda: L.SparseCategoricalCrossentropy(ignore_class=-1), p),
                       (lambda: L.SparseCategoricalCrossentropy(from_logits=True,
                                                                ignore_class=-1), z)]:
        vg, gg = _loss_and_grad("cuda", loss(), y, pred, sw)
        vc, gc = _loss_and_grad("cpu", loss(), y, pred, sw)
        np.testing.assert_allclose(vg, vc, rtol=2e-5)
        np.testing.assert_allclose(gg, gc, rtol=2e-4, atol=1e-7)
    ref = -np.log(np.clip(p[np.arange(5), y[:5]], EPS, 1 - EPS))
    out = L.sparse_categorical_crossentropy(y[:5], tf.constant(p[:5]))
    assert _on_gpu(out)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-5)
    with pytest.raises(ValueError, match=r"label 7 is out of range for 4 classes"):
        L.sparse_categorical_crossentropy(np.array([0, 7, 1, 2, 2, 0]), tf.constant(p))
    with tf.device("cpu"):
        y_cpu = tf.constant(np.eye(4, dtype=np.float32)[[0, 1, 2, 3, 0, 1]])
    with pytest.raises(ValueError, match=r"\[Loss\] y_true is on cpu but y_pred is on cuda:0"):
        L.categorical_crossentropy(y_cpu, tf.constant(p))


GPU_METRICS = [
    ("Mean", lambda: M.Mean(), "values"),
    ("Sum", lambda: M.Sum(), "values"),
    ("BinaryAccuracy", lambda: M.BinaryAccuracy(threshold=0.3), "onehot"),
    ("CategoricalAccuracy", lambda: M.CategoricalAccuracy(), "onehot"),
    ("SparseCategoricalAccuracy", lambda: M.SparseCategoricalAccuracy(), "sparse"),
    ("TopKCategoricalAccuracy", lambda: M.TopKCategoricalAccuracy(k=2), "onehot"),
    ("SparseTopKCategoricalAccuracy", lambda: M.SparseTopKCategoricalAccuracy(k=2), "sparse"),
    ("MeanSquaredError", lambda: M.MeanSquaredError(), "onehot"),
    ("RootMeanSquaredError", lambda: M.RootMeanSquaredError(), "onehot"),
    ("CategoricalCrossentropy", lambda: M.CategoricalCrossentropy(), "onehot"),
    ("SparseCategoricalCrossentropy", lambda: M.SparseCategoricalCrossentropy(), "sparse"),
    ("CategoricalHinge", lambda: M.CategoricalHinge(), "onehot"),
    ("LogCoshError", lambda: M.LogCoshError(), "onehot"),
    ("CosineSimilarity", lambda: M.CosineSimilarity(), "onehot"),
    ("Precision_thresholds", lambda: M.Precision(thresholds=[0.7, 0.2, 0.4]), "onehot"),
    ("Precision_class_id", lambda: M.Precision(class_id=1), "onehot"),
    ("Recall_top_k", lambda: M.Recall(top_k=2), "onehot"),
    ("TrueNegatives", lambda: M.TrueNegatives(thresholds=[0.1, 0.5]), "onehot"),
    ("AUC", lambda: M.AUC(num_thresholds=50), "onehot"),
    ("AUC_PR", lambda: M.AUC(curve="PR"), "onehot"),
    ("AUC_PR_minoring", lambda: M.AUC(curve="PR", summation_method="minoring"), "onehot"),
    ("AUC_logits", lambda: M.AUC(from_logits=True), "logits"),
    ("AUC_multi_label", lambda: M.AUC(multi_label=True, label_weights=[1.0, 2.0, 0.5]),
     "onehot"),
]


def _metric_inputs(kind):
    r = np.random.default_rng(5)
    labels = r.integers(0, 3, 12)
    probs = softmax(r.standard_normal((12, 3))).astype(np.float32)
    sw = r.uniform(0.2, 2, 12).astype(np.float32)
    if kind == "values":
        return (r.standard_normal((12, 3)).astype(np.float32),), sw
    if kind == "sparse":
        return (labels, probs), sw
    if kind == "logits":
        return (np.eye(3, dtype=np.float32)[labels], r.standard_normal((12, 3)).astype(
            np.float32)), sw
    return (np.eye(3, dtype=np.float32)[labels], probs), sw


def _metric_result(kind, factory, inputs, sw, feed):
    """The metric built on `kind`, updated with two batches given as host arrays ("numpy"),
    tensors of the current device ("tensor") or CPU tensors ("cpu_tensor")."""
    with tf.device(kind):
        m = factory()
        for sl in (slice(0, 7), slice(7, 12)):
            args = [a[sl] for a in inputs]
            w = sw[sl]
            if feed == "tensor":
                args, w = [tf.constant(a) for a in args], tf.constant(w)
            elif feed == "cpu_tensor":
                with tf.device("cpu"):
                    args, w = [tf.constant(a) for a in args], tf.constant(w)
            m.update_state(*args, sample_weight=w)
        assert all(_on_gpu(v) == (kind == "cuda") for v in m.variables)
        return m.result().numpy()


@pytest.mark.parametrize("name,factory,kind", GPU_METRICS, ids=[g[0] for g in GPU_METRICS])
def test_metrics_on_gpu_match_cpu(gpu, name, factory, kind):
    inputs, sw = _metric_inputs(kind)
    cpu = _metric_result("cpu", factory, inputs, sw, "numpy")
    for feed in ("numpy", "tensor", "cpu_tensor"):
        np.testing.assert_allclose(_metric_result("cuda", factory, inputs, sw, feed), cpu,
                                   rtol=2e-5, atol=1e-6, err_msg=f"{name} fed {feed}")


def test_metric_functions_on_gpu(gpu):
    t = np.array([[1.0], [0.0], [1.0], [0.0]])
    p = tf.constant(np.array([[0.7], [0.6], [0.2], [0.1]]))
    oh = np.eye(3)[[0, 2, 1]]
    pr = tf.constant(np.array([[0.5, 0.3, 0.2], [0.1, 0.2, 0.7], [0.6, 0.3, 0.1]]))
    for out, ref in [(M.binary_accuracy(t, p, threshold=0.15), [1, 0, 1, 1]),
                     (M.categorical_accuracy(oh, pr), [1, 1, 0]),
                     (M.sparse_categorical_accuracy([[0], [2], [1]], pr), [[1], [1], [0]]),
                     (M.top_k_categorical_accuracy(oh, pr, k=2), [1, 1, 1]),
                     (M.sparse_top_k_categorical_accuracy([2, 0, 1], pr, k=2), [0, 0, 1]),
                     (M.sparse_top_k_categorical_accuracy([2, 0, 1], pr, k=3), [1, 1, 1]),
                     (M.cosine_similarity(oh, pr), (oh * pr.numpy()).sum(-1) /
                      np.linalg.norm(pr.numpy(), axis=-1))]:
        assert _on_gpu(out)
        np.testing.assert_allclose(out.numpy(), ref, rtol=1e-6)


def _fit_logs(kind, x, y, sw):
    K = tf.keras
    with tf.device(kind):
        K.utils.set_random_seed(4)
        model = K.Sequential([K.Input((5,)), K.layers.Dense(8, activation="tanh"),
                              K.layers.Dense(1, activation="sigmoid")])
        model.compile(optimizer=K.optimizers.SGD(0.1), loss="binary_crossentropy",
                      metrics=["accuracy", "mae", K.metrics.AUC(), K.metrics.Recall()],
                      weighted_metrics=["mse", K.metrics.Precision(thresholds=0.4)])
        hist = model.fit(x, y, sample_weight=sw, batch_size=8, epochs=2, verbose=0,
                         shuffle=False, validation_data=(x[:16], y[:16]))
        ev = model.evaluate(x, y, sample_weight=sw, verbose=0, return_dict=True)
    return hist.history, ev


def test_fit_metrics_on_gpu_match_cpu(gpu):
    r = np.random.default_rng(2)
    x = r.standard_normal((40, 5)).astype(np.float32)
    y = (x[:, 0] - x[:, 2] > 0).astype(np.float32)[:, None]
    sw = r.uniform(0.5, 1.5, 40).astype(np.float32)
    hg, eg = _fit_logs("cuda", x, y, sw)
    hc, ec = _fit_logs("cpu", x, y, sw)
    assert hg.keys() == hc.keys() and eg.keys() == ec.keys()
    for k in hc:
        np.testing.assert_allclose(hg[k], hc[k], rtol=2e-4, atol=1e-6, err_msg=k)
    for k in ec:
        np.testing.assert_allclose(eg[k], ec[k], rtol=2e-4, atol=1e-6, err_msg=k)
