"""The objects in `model.metrics` after compile/fit/evaluate speak Keras 2.15's Metric API
(`variables`, `result()`, `reset_state()`, `update_state()`, `name`, `dtype`, `get_config()`),
the containers (`compiled_loss`, `compiled_metrics`, `metrics_names`) list what Keras lists, and
operators on KerasTensors make layers named as Keras 2's TFOpLambda layers. Numbers are checked
against NumPy on predictions frozen by a zero learning rate."""
import numpy as np
import pytest

import nabi
from nabi import keras


def _model_data(seed=0):
    r = np.random.default_rng(seed)
    x = r.standard_normal((37, 5)).astype(np.float32)
    y = r.integers(0, 3, 37)
    m = keras.Sequential([keras.layers.Dense(6, activation="relu", input_shape=(5,)),
                          keras.layers.Dense(3, activation="softmax")])
    return m, x, y


def _ref(m, x, y):
    """NumPy: the model's softmax outputs, the mean cross-entropy and the correct count."""
    (w1, b1, w2, b2) = [w.astype(np.float64) for w in m.get_weights()]
    h = np.maximum(x @ w1 + b1, 0) @ w2 + b2
    p = np.exp(h - h.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    loss = -np.mean(np.log(p[np.arange(len(y)), y]))
    correct = float(np.sum(np.argmax(p, -1) == y))
    return p, loss, correct


def test_metrics_variables_result_after_evaluate(where):
    with nabi.device(where):
        m, x, y = _model_data()
        m.compile(keras.optimizers.SGD(0.0), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
        assert m.metrics == [] and m.metrics_names == []          # Keras: none before a step
        assert m.compiled_loss.metrics == [] and m.compiled_metrics.metrics == []
        loss, acc = m.evaluate(x, y, batch_size=8, verbose=0)
        _, ref_loss, correct = _ref(m, x, y)
        np.testing.assert_allclose(loss, ref_loss, rtol=1e-4)
        assert acc == pytest.approx(correct / 37)
        assert [mm.name for mm in m.metrics] == ["loss", "accuracy"] == m.metrics_names
        assert [mm.name for mm in m.compiled_loss.metrics] == ["loss"]
        assert [mm.name for mm in m.compiled_metrics.metrics] == ["accuracy"]
        vals = [v.numpy() for mm in m.metrics for v in mm.variables]
        np.testing.assert_allclose(vals, [ref_loss * 37, 37, correct, 37], rtol=1e-4)
        acc_m = m.metrics[1]
        r = acc_m.result()
        assert r.dtype == nabi.float32 and r.shape == ()
        assert float(r.numpy()) == pytest.approx(correct / 37)
        assert acc_m.dtype == "float32"
        assert [v.name for v in acc_m.variables] == ["total:0", "count:0"]
        assert acc_m.get_config() == {"name": "accuracy", "dtype": "float32",
                                      "fn": "sparse_categorical_accuracy"}
        assert m.get_metrics_result() == pytest.approx({"loss": ref_loss, "accuracy":
                                                        correct / 37}, rel=1e-4)


def test_metric_update_state_and_reset_state(where):
    with nabi.device(where):
        m, x, y = _model_data(1)
        m.compile(keras.optimizers.SGD(0.0), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
        m.fit(x, y, batch_size=16, epochs=1, verbose=0)
        p, _, correct = _ref(m, x, y)
        acc_m = m.metrics[1]
        acc_m.reset_state()
        assert [float(v.numpy()) for v in acc_m.variables] == [0.0, 0.0]
        assert float(acc_m.result().numpy()) == 0.0
        # update_state takes the model's output (probabilities), as Keras's does
        acc_m.update_state(y, m.predict(x, verbose=0))
        np.testing.assert_allclose([v.numpy() for v in acc_m.variables], [correct, 37])
        w = np.linspace(0.5, 2.0, 37).astype(np.float32)
        acc_m.reset_state()
        acc_m.update_state(y, p.astype(np.float32), sample_weight=w)
        hit = (np.argmax(p, -1) == y).astype(np.float64)
        assert float(acc_m.result().numpy()) == pytest.approx(np.sum(hit * w) / np.sum(w),
                                                              rel=1e-5)
        # a variable view writes the tracker's state
        acc_m.variables[0].assign(3.0)
        acc_m.variables[1].assign(4.0)
        assert float(acc_m.result().numpy()) == pytest.approx(0.75)
        with pytest.raises(ValueError, match="scalar"):
            acc_m.variables[0].assign(np.zeros(2))
        m.reset_metrics()
        assert all(float(v.numpy()) == 0.0 for mm in m.metrics for v in mm.variables)


def test_object_metric_in_model_metrics_is_the_metric():
    m, x, y = _model_data(2)
    auc = keras.metrics.SparseCategoricalAccuracy(name="sca")
    m.compile(keras.optimizers.SGD(0.0), "sparse_categorical_crossentropy", metrics=[auc])
    m.evaluate(x, y, verbose=0)
    _, _, correct = _ref(m, x, y)
    tracked = m.metrics[1]
    assert tracked.name == "sca" and tracked.dtype == "float32"
    np.testing.assert_allclose([v.numpy() for v in tracked.variables], [correct, 37])
    assert float(tracked.result().numpy()) == pytest.approx(correct / 37)
    assert tracked.get_config()["name"] == "sca"


class _TutorialModel(keras.Model):
    """Keras's "customizing what happens in fit()" train_step."""

    def train_step(self, data):
        x, y = data
        with nabi.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compiled_loss(y, y_pred, regularization_losses=self.losses)
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        self.compiled_metrics.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


def test_custom_train_step_tutorial_logs(where):
    with nabi.device(where):
        inp = keras.Input((5,))
        h = keras.layers.Dense(6, activation="relu")(inp)
        out = keras.layers.Dense(3, activation="softmax")(h)
        m = _TutorialModel(inp, out)
        _, x, y = _model_data(3)
        m.compile(keras.optimizers.SGD(0.0), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
        hist = m.fit(x, y, batch_size=37, epochs=2, verbose=0)
        _, ref_loss, correct = _ref(m, x, y)
        np.testing.assert_allclose(hist.history["loss"], [ref_loss] * 2, rtol=1e-4)
        np.testing.assert_allclose(hist.history["accuracy"], [correct / 37] * 2, rtol=1e-6)
        assert m.metrics_names == ["loss", "accuracy"]
        np.testing.assert_allclose([v.numpy() for mm in m.metrics for v in mm.variables],
                                   [ref_loss * 37, 37, correct, 37], rtol=1e-4)


def test_operator_layers_named_as_keras_tfoplambda():
    keras.backend.clear_session()   # the names count from earlier tests' layers otherwise
    inp = keras.Input((3,))
    x = keras.layers.Dense(4)(inp)
    y = x * (1.0 / 6) + 1.0
    z = 2.0 - y / 3.0
    w = -(z ** 2)
    v = abs(w)[:, :2]
    m = keras.Model(inp, v)
    assert [l.name for l in m.layers[2:]] == [
        "tf.math.multiply", "tf.__operators__.add", "tf.math.truediv", "tf.math.subtract",
        "tf.math.pow", "tf.math.negative", "tf.math.abs", "tf.__operators__.getitem"]
    assert {type(l).__name__ for l in m.layers[2:]} == {"TFOpLambda"}
    x2 = keras.layers.Dense(4)(inp) * 2.0
    assert x2._keras_history[0].name == "tf.math.multiply_1"
    lines = []
    m.summary(print_fn=lines.append, line_length=80)
    text = "\n".join(lines)
    assert "tf.math.multiply (TFOpLambda)" in text
    assert "tf.__operators__.add (TFOpLambda)" in text
    a = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    W, b = m.layers[1].get_weights()
    ref = np.abs(-((2.0 - ((a @ W + b) / 6 + 1.0) / 3.0) ** 2))[:, :2]
    np.testing.assert_allclose(m.predict(a, verbose=0), ref, rtol=1e-5, atol=1e-6)
