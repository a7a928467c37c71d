"""Keras's "customizing what happens in fit()": subclasses of keras.Model that override
train_step / test_step / predict_step, model.compiled_loss / compiled_metrics / compute_loss /
metrics, and Model subclasses built from (inputs, outputs). Every number is checked against a
NumPy re-implementation of the same training (linear model, MSE, plain SGD), on the CPU and on
the GPU backends (the NumPy emulator of the CUDA kernels; a real GPU when there is one)."""
import numpy as np
import pytest

import nabi
from nabi import keras


def _data(n=40, d=5, seed=0):
    r = np.random.default_rng(seed)
    x = r.standard_normal((n, d)).astype(np.float32)
    y = (x @ r.standard_normal((d, 1)) + 0.3).astype(np.float32)
    return x, y


def _linear_sgd_reference(x, y, w, b, lr, batch, epochs, per_sample=False):
    """NumPy: SGD on mean((x w + b - y)^2) over batches in order (per_sample: on the vector of
    per-sample losses, whose gradient is that of their sum, as in TF); per epoch, the Keras
    logs (the batch losses and mean absolute errors before each update, averaged over
    samples)."""
    w, b = w.astype(np.float64).copy(), b.astype(np.float64).copy()
    logs = []
    for _ in range(epochs):
        lsum = asum = 0.0
        for a in range(0, len(x), batch):
            xb, yb = x[a:a + batch].astype(np.float64), y[a:a + batch].astype(np.float64)
            e = xb @ w + b - yb
            lsum += np.mean(e * e) * len(xb)
            asum += np.abs(e).sum()
            scale = 2.0 if per_sample else 2.0 / e.size
            w -= lr * scale * xb.T @ e
            b -= lr * scale * e.sum(axis=0)
        logs.append((lsum / len(x), asum / len(x)))
    return w, b, logs


def _functional(cls, d=5, seed=3):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=(d,))
    return cls(inputs, keras.layers.Dense(1)(inputs))


class GuideModel(keras.Model):
    """The first example of Keras's guide, counting its calls."""
    calls = 0

    def train_step(self, data):
        type(self).calls += 1
        x, y = data
        with nabi.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compiled_loss(y, y_pred, regularization_losses=self.losses)
        trainable_vars = self.trainable_variables
        gradients = tape.gradient(loss, trainable_vars)
        self.optimizer.apply_gradients(zip(gradients, trainable_vars))
        self.compiled_metrics.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


def test_functional_subclass_runs_its_graph(where, tmp_path):
    """class M(keras.Model) built as M(inputs, outputs) is a functional model (as in Keras):
    its call runs the graph. It used to return its input unchanged."""
    class Plain(keras.Model):
        pass
    x, y = _data()
    with nabi.device(where):
        m = _functional(Plain)
        assert isinstance(m, Plain) and type(m).__name__ == "Plain"
        w, b = [v.copy() for v in m.get_weights()]
        np.testing.assert_allclose(m.predict(x, verbose=0), x @ w + b, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(m(x).numpy(), x @ w + b, rtol=1e-5, atol=1e-5)
        m.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
        h = m.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    rw, rb, rlogs = _linear_sgd_reference(x, y, w, b, 0.05, 8, 2)
    np.testing.assert_allclose(m.get_weights()[0], rw, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(h.history["loss"], [l for l, _ in rlogs], rtol=1e-4)
    # as in Keras, model.metrics[0] is the "loss" Mean, holding the last epoch's loss
    assert [mm.name for mm in m.metrics] == ["loss"]
    np.testing.assert_allclose(float(m.metrics[0].result().numpy()), rlogs[-1][0], rtol=1e-4)
    for ext in ("h5", "keras"):
        path = str(tmp_path / f"m.{ext}")
        m.save(path)
        back = keras.models.load_model(path, custom_objects={"Plain": Plain})
        assert isinstance(back, Plain)
        np.testing.assert_allclose(back.predict(x, verbose=0), m.predict(x, verbose=0),
                                   rtol=1e-6)


def test_train_step_override_with_compiled_loss_and_metrics(where):
    x, y = _data()
    with nabi.device(where):
        m = _functional(GuideModel)
        w, b = [v.copy() for v in m.get_weights()]
        m.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse", metrics=["mae"])
        GuideModel.calls = 0
        h = m.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    assert GuideModel.calls == 15
    rw, rb, rlogs = _linear_sgd_reference(x, y, w, b, 0.05, 8, 3)
    np.testing.assert_allclose(m.get_weights()[0], rw, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(m.get_weights()[1], rb, rtol=1e-4, atol=1e-5)
    # the logs are the metrics' running means, reset at each epoch
    np.testing.assert_allclose(h.history["loss"], [l for l, _ in rlogs], rtol=1e-4)
    np.testing.assert_allclose(h.history["mae"], [a for _, a in rlogs], rtol=1e-4)
    assert [mm.name for mm in m.metrics] == ["loss", "mae"]
    assert m.metrics_names == ["loss", "mae"]


def test_train_step_with_own_trackers_and_metrics_property(where):
    """The guide's second example: Mean/MAE trackers of the model's own, listed by an
    overridden `metrics` property (so fit resets them each epoch), compile() without a loss."""
    x, y = _data()
    with nabi.device(where):
        loss_tracker = keras.metrics.Mean(name="loss")
        mae_metric = keras.metrics.MeanAbsoluteError(name="mae")

        class Own(keras.Model):
            def train_step(self, data):
                x, y = data
                with nabi.GradientTape() as tape:
                    y_pred = self(x, training=True)
                    loss = keras.losses.mean_squared_error(y, y_pred)
                grads = tape.gradient(loss, self.trainable_variables)
                self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
                loss_tracker.update_state(loss)
                mae_metric.update_state(y, y_pred)
                return {"loss": loss_tracker.result(), "mae": mae_metric.result()}

            @property
            def metrics(self):
                return [loss_tracker, mae_metric]

        m = _functional(Own)
        w, b = [v.copy() for v in m.get_weights()]
        m.compile(optimizer=keras.optimizers.SGD(0.05))
        h = m.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    rw, _, rlogs = _linear_sgd_reference(x, y, w, b, 0.05, 8, 2, per_sample=True)
    np.testing.assert_allclose(m.get_weights()[0], rw, rtol=1e-4, atol=1e-5)
    # keras.losses.mean_squared_error is per sample: the Mean averages over samples
    np.testing.assert_allclose(h.history["loss"], [l for l, _ in rlogs], rtol=1e-4)
    np.testing.assert_allclose(h.history["mae"], [a for _, a in rlogs], rtol=1e-4)
    assert m.metrics_names == ["loss", "mae"]


def test_compute_loss_compute_metrics_and_super_train_step(where):
    """Keras 2.11+'s compute_loss/compute_metrics, and an override that hands the batch on to
    the default train_step through super() -- both train like plain fit."""
    x, y = _data()

    class Modern(keras.Model):
        def train_step(self, data):
            x, y = data
            with nabi.GradientTape() as tape:
                y_pred = self(x, training=True)
                loss = self.compute_loss(x, y, y_pred)
            grads = tape.gradient(loss, self.trainable_variables)
            self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
            return self.compute_metrics(x, y, y_pred, None)

    class Delegating(keras.Model):
        seen = []

        def train_step(self, data):
            type(self).seen.append(type(data[0]).__name__)
            return super().train_step(data)

    for cls in (Modern, Delegating):
        with nabi.device(where):
            m = _functional(cls)
            w, b = [v.copy() for v in m.get_weights()]
            m.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse", metrics=["mae"])
            h = m.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
        rw, _, rlogs = _linear_sgd_reference(x, y, w, b, 0.05, 8, 2)
        np.testing.assert_allclose(m.get_weights()[0], rw, rtol=1e-4, atol=1e-5,
                                   err_msg=cls.__name__)
        np.testing.assert_allclose(h.history["loss"], [l for l, _ in rlogs], rtol=1e-4,
                                   err_msg=cls.__name__)
        np.testing.assert_allclose(h.history["mae"], [a for _, a in rlogs], rtol=1e-4,
                                   err_msg=cls.__name__)
    assert Delegating.seen == ["Tensor"] * 10


def test_test_step_and_predict_step_overrides(where):
    x, y = _data()

    class Eval(keras.Model):
        def test_step(self, data):
            x, y = data
            y_pred = self(x, training=False)
            self.compiled_loss(y, y_pred, regularization_losses=self.losses)
            self.compiled_metrics.update_state(y, y_pred)
            return {m.name: m.result() for m in self.metrics}

        def predict_step(self, data):
            p = self(data, training=False)
            return {"pred": p, "twice": p * 2.0}

    with nabi.device(where):
        m = _functional(Eval)
        w, b = [v.copy() for v in m.get_weights()]
        m.compile(loss="mse", metrics=["mae"])
        res = m.evaluate(x, y, batch_size=16, verbose=0)
        d = m.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
        out = m.predict(x, batch_size=16, verbose=0)
        tb = m.test_on_batch(x[:8], y[:8], return_dict=True)
        pb = m.predict_on_batch(x[:8])
    e = x.astype(np.float64) @ w + b - y
    np.testing.assert_allclose(res, [np.mean(e * e), np.mean(np.abs(e))], rtol=1e-5)
    assert set(d) == {"loss", "mae"}
    np.testing.assert_allclose(d["loss"], np.mean(e * e), rtol=1e-5)
    assert set(out) == {"pred", "twice"} and out["pred"].shape == (40, 1)
    np.testing.assert_allclose(out["pred"], x @ w + b, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out["twice"], 2 * (x @ w + b), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(tb["loss"], np.mean(e[:8] ** 2), rtol=1e-5)
    np.testing.assert_allclose(pb["pred"], x[:8] @ w + b, rtol=1e-5, atol=1e-5)


def test_fit_without_targets_hands_train_step_x_alone(where):
    """A GAN's fit(images): train_step gets the batch Tensor itself (Keras does not wrap a
    single x); tracked Metric attributes are listed in model.metrics and reset each epoch."""
    x, _ = _data(n=24)

    class Unsupervised(keras.Model):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.dense = keras.layers.Dense(1)
            self.tracker = keras.metrics.Mean(name="energy")
            self.batches = []

        def call(self, x):
            return self.dense(x)

        def train_step(self, data):
            self.batches.append((type(data).__name__, tuple(data.shape)))
            with nabi.GradientTape() as tape:
                loss = nabi.reduce_mean(nabi.square(self(data, training=True)))
            grads = tape.gradient(loss, self.trainable_variables)
            self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
            self.tracker.update_state(loss)
            return {"energy": self.tracker.result()}

    with nabi.device(where):
        m = Unsupervised()
        m(x[:2])
        w, b = [v.copy() for v in m.get_weights()]
        m.compile(optimizer=keras.optimizers.SGD(0.1))
        h = m.fit(x, batch_size=10, epochs=2, shuffle=False, verbose=0)
    assert m.batches == [("Tensor", (10, 5)), ("Tensor", (10, 5)), ("Tensor", (4, 5))] * 2
    assert [mm.name for mm in m.metrics] == ["energy"]
    # NumPy: gradient descent on mean((x w + b)^2); the log is the mean of the batch losses
    # (the Mean is unweighted: each update_state adds one scalar), reset each epoch
    w, b = w.astype(np.float64), b.astype(np.float64)
    for ep in range(2):
        losses = []
        for a in range(0, 24, 10):
            xb = x[a:a + 10].astype(np.float64)
            o = xb @ w + b
            losses.append(np.mean(o * o))
            w = w - 0.1 * 2.0 / o.size * xb.T @ o
            b = b - 0.1 * 2.0 / o.size * o.sum(axis=0)
        np.testing.assert_allclose(h.history["energy"][ep], np.mean(losses), rtol=1e-4)
    np.testing.assert_allclose(m.get_weights()[0], w, rtol=1e-4, atol=1e-5)


def test_train_on_batch_uses_the_override_and_bad_returns_are_named(where):
    x, y = _data()
    with nabi.device(where):
        m = _functional(GuideModel)
        w, b = [v.copy() for v in m.get_weights()]
        m.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse", metrics=["mae"])
        GuideModel.calls = 0
        r = m.train_on_batch(x[:8], y[:8])
    assert GuideModel.calls == 1
    e = x[:8].astype(np.float64) @ w + b - y[:8]
    np.testing.assert_allclose(r, [np.mean(e * e), np.mean(np.abs(e))], rtol=1e-5)

    class Bad(keras.Model):
        def train_step(self, data):
            return 3.0
    with nabi.device(where):
        m = _functional(Bad)
        m.compile(optimizer="sgd", loss="mse")
        with pytest.raises(TypeError, match=r"bad.*train_step.*dict.*float"):
            m.fit(x, y, epochs=1, verbose=0)


def test_progress_bar_shows_custom_logs(where, capsys):
    x, y = _data()
    with nabi.device(where):
        m = _functional(GuideModel)
        m.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse", metrics=["mae"])
        m.fit(x, y, batch_size=8, epochs=1, verbose=2)
    out = capsys.readouterr().out
    assert "loss:" in out and "mae:" in out


def test_custom_step_after_fused_softmax_evaluate(where):
    """evaluate (built-in: the softmax head's logits go to a fused cross-entropy) and then a
    train_step override (compiled_loss and compiled_metrics on the softmax's output) agree with
    NumPy's cross-entropy and accuracy: the override never sees the fused logits path."""
    r = np.random.default_rng(5)
    x = r.standard_normal((30, 4)).astype(np.float32)
    y = r.integers(0, 3, 30)
    with nabi.device(where):
        keras.utils.set_random_seed(2)
        inputs = keras.Input(shape=(4,))
        m = GuideModel(inputs, keras.layers.Dense(3, activation="softmax")(inputs))
        w, b = [v.copy() for v in m.get_weights()]
        m.compile(optimizer=keras.optimizers.SGD(0.0), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
        ev = m.evaluate(x, y, batch_size=10, verbose=0, return_dict=True)
        h = m.fit(x, y, batch_size=10, epochs=1, shuffle=False, verbose=0)
    z = x.astype(np.float64) @ w + b
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    ce = -np.log(p[np.arange(30), y]).mean()
    acc = (p.argmax(1) == y).mean()
    np.testing.assert_allclose(ev["loss"], ce, rtol=1e-5)
    np.testing.assert_allclose(h.history["loss"][0], ce, rtol=1e-5)
    np.testing.assert_allclose(ev["accuracy"], acc)
    np.testing.assert_allclose(h.history["accuracy"][0], acc)
