"""Gradients of the built-in Keras losses with respect to y_true, when y_true is itself computed
from watched values (a loss between two model outputs: feature matching, a cosine between two
branches, the keras.io guide's endpoint layer called with its arguments swapped). TF's losses
are ordinary ops, so the gradient reaches y_true; nabi's fused loss kernels treat y_true as a
constant, so a tracked y_true takes the composite path. Checked against central differences of
independent NumPy forms of Keras's formulas (float64), for the function and the class forms,
every reduction and sample weights; and on the emulated GPU."""
import numpy as np
import pytest

import nabi
from reference import numeric_grad

K = nabi.keras
EPS = 1e-7


def _sig(x):
    return 1 / (1 + np.exp(-x))


def _unit(x):
    return x / np.sqrt(np.maximum((x * x).sum(-1, keepdims=True), 1e-12))


# per-sample losses (B,) of y_true t and y_pred p, (B, C) each: Keras 3's formulas
REF = {
    "mean_squared_error": lambda t, p: ((p - t) ** 2).mean(-1),
    "mean_absolute_error": lambda t, p: np.abs(p - t).mean(-1),
    "mean_absolute_percentage_error":
        lambda t, p: 100 * (np.abs(t - p) / np.maximum(np.abs(t), EPS)).mean(-1),
    "mean_squared_logarithmic_error":
        lambda t, p: ((np.log1p(np.maximum(p, EPS)) - np.log1p(np.maximum(t, EPS))) ** 2).mean(-1),
    "binary_crossentropy":
        lambda t, p: -(t * np.log(np.clip(p, EPS, 1 - EPS)) +
                       (1 - t) * np.log(1 - np.clip(p, EPS, 1 - EPS))).mean(-1),
    "categorical_crossentropy":
        lambda t, p: -(t * np.log(np.clip(p / p.sum(-1, keepdims=True), EPS, 1 - EPS))).sum(-1),
    "huber": lambda t, p: np.where(np.abs(p - t) <= 1, 0.5 * (p - t) ** 2,
                                   np.abs(p - t) - 0.5).mean(-1),
    "log_cosh": lambda t, p: np.log(np.cosh(p - t)).mean(-1),
    "poisson": lambda t, p: (p - t * np.log(p + EPS)).mean(-1),
    "kl_divergence": lambda t, p: (np.clip(t, EPS, 1) * np.log(np.clip(t, EPS, 1) /
                                                                np.clip(p, EPS, 1))).sum(-1),
    "cosine_similarity": lambda t, p: -(_unit(t) * _unit(p)).sum(-1),
    "hinge": lambda t, p: np.maximum(1 - t * p, 0).mean(-1),
    "squared_hinge": lambda t, p: (np.maximum(1 - t * p, 0) ** 2).mean(-1),
}


def _inputs(seed=0):
    r = np.random.default_rng(seed)
    return r.uniform(-1.2, 1.2, (4, 3)), r.uniform(-1.5, 1.5, (4, 3))


def _ref_total(name, a, b, sw=None, reduction="sum_over_batch_size"):
    """The loss of y_true = sigmoid(2a), y_pred = sigmoid(b) (probabilities), summed."""
    v = REF[name](_sig(2 * a), _sig(b))
    if sw is not None:
        v = v * sw
    if reduction == "sum_over_batch_size":
        return v.sum() / v.size
    return v.sum()


def _nabi_grads(loss, a, b, sw=None):
    va, vb = nabi.Variable(a), nabi.Variable(b)
    with nabi.GradientTape() as tape:
        yt = nabi.nn.sigmoid(va * 2.0)       # y_true computed from a watched variable
        yp = nabi.nn.sigmoid(vb)
        v = loss(yt, yp) if sw is None else loss(yt, yp, sample_weight=sw)
        total = nabi.reduce_sum(v)
    ga, gb = tape.gradient(total, [va, vb])
    return total.numpy(), ga, gb


@pytest.mark.parametrize("name", sorted(REF))
def test_function_form_gives_y_true_its_gradient(name):
    a, b = _inputs()
    total, ga, gb = _nabi_grads(K.losses.get(name), a, b)
    ref = lambda a_, b_: float(REF[name](_sig(2 * a_), _sig(b_)).sum())  # noqa: E731
    np.testing.assert_allclose(total, ref(a, b), rtol=1e-6)
    assert ga is not None, f"{name}: no gradient for y_true"
    np.testing.assert_allclose(ga.numpy(), numeric_grad(ref, [a, b], 0), rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(gb.numpy(), numeric_grad(ref, [a, b], 1), rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "none"])
@pytest.mark.parametrize("cls,name", [(K.losses.MeanSquaredError, "mean_squared_error"),
                                      (K.losses.BinaryCrossentropy, "binary_crossentropy"),
                                      (K.losses.CosineSimilarity, "cosine_similarity"),
                                      (K.losses.KLDivergence, "kl_divergence")])
def test_class_form_with_sample_weights(cls, name, reduction):
    a, b = _inputs(1)
    sw = np.array([1.0, 0.5, 0.0, 2.0])
    total, ga, gb = _nabi_grads(cls(reduction=reduction), a, b, sw)
    red = "sum" if reduction == "none" else reduction
    ref = lambda a_, b_: _ref_total(name, a_, b_, sw, red)  # noqa: E731
    np.testing.assert_allclose(total, ref(a, b), rtol=1e-6)
    np.testing.assert_allclose(ga.numpy(), numeric_grad(ref, [a, b], 0), rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(gb.numpy(), numeric_grad(ref, [a, b], 1), rtol=1e-5, atol=1e-8)


def test_from_logits_and_label_smoothing():
    """BCE from logits with label smoothing: y_true's gradient through the smoothing."""
    a, b = _inputs(2)
    s = 0.2

    def ref(a_, b_):
        t = _sig(2 * a_) * (1 - s) + 0.5 * s
        z = b_
        return float((np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))).mean(-1).sum())

    va, vb = nabi.Variable(a), nabi.Variable(b)
    loss = K.losses.BinaryCrossentropy(from_logits=True, label_smoothing=s, reduction="sum")
    with nabi.GradientTape() as tape:
        total = loss(nabi.nn.sigmoid(va * 2.0), vb)
    ga, gb = tape.gradient(total, [va, vb])
    np.testing.assert_allclose(total.numpy(), ref(a, b), rtol=1e-6)
    np.testing.assert_allclose(ga.numpy(), numeric_grad(ref, [a, b], 0), rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(gb.numpy(), numeric_grad(ref, [a, b], 1), rtol=1e-5, atol=1e-8)


def test_constant_labels_keep_the_fused_path():
    """Labels that no tape tracks (the usual case) still give y_pred's gradient only."""
    a, b = _inputs(3)
    vb = nabi.Variable(b)
    with nabi.GradientTape() as tape:
        total = K.losses.MeanSquaredError()(nabi.constant(_sig(2 * a)), nabi.nn.sigmoid(vb))
    ref = lambda b_: _ref_total("mean_squared_error", a, b_)  # noqa: E731
    np.testing.assert_allclose(tape.gradient(total, vb).numpy(), numeric_grad(ref, [b], 0),
                               rtol=1e-5, atol=1e-8)


def test_swapped_endpoint_arguments_train_the_layer():
    """The keras.io guide's LogisticEndpoint is called as (logits, targets) while its call
    takes (targets, logits): the Dense output lands in y_true, and in Keras the Dense still
    trains through it (the loss's gradient with respect to its labels)."""
    class Endpoint(K.layers.Layer):
        def __init__(self):
            super().__init__()
            self.loss_fn = K.losses.BinaryCrossentropy(from_logits=True)

        def call(self, targets, logits):
            self.add_loss(self.loss_fn(targets, logits))
            return nabi.nn.softmax(logits)

    inputs = K.Input((3,))
    targets = K.Input((2,))
    logits = K.layers.Dense(2)(inputs)
    model = K.Model([inputs, targets], Endpoint()(logits, targets))
    model.compile(optimizer=K.optimizers.SGD(0.1))
    r = np.random.default_rng(4)
    x, y = r.standard_normal((8, 3)), r.uniform(-1, 1, (8, 2))
    w0, b0 = [v.copy() for v in model.get_weights()]
    model.fit([x, y], batch_size=8, epochs=1, verbose=0)
    # loss = mean over all of max(y, 0) - y * l + log1p(exp(-|y|)) with l = x w + b (the
    # labels) and y the logits: d/dl = -y / (8 * 2)
    gl = -y / y.size
    np.testing.assert_allclose(model.get_weights()[0], w0 - 0.1 * x.T @ gl, rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(model.get_weights()[1], b0 - 0.1 * gl.sum(0), rtol=1e-5,
                               atol=1e-6)


def test_on_the_emulated_gpu_device():
    if not nabi.test.is_gpu_available() and not nabi.framework.device.emulated():
        pytest.skip("no GPU (real or emulated): NABI_EMULATE_CUDA=1 runs this on the emulator")
    a, b = _inputs(5)
    with nabi.device("/GPU:0"):
        total, ga, gb = _nabi_grads(K.losses.get("cosine_similarity"), a, b)
    assert "GPU" in ga.device
    ref = lambda a_, b_: float(REF["cosine_similarity"](_sig(2 * a_), _sig(b_)).sum())  # noqa: E731
    np.testing.assert_allclose(ga.numpy(), numeric_grad(ref, [a, b], 0), rtol=1e-5, atol=1e-8)
