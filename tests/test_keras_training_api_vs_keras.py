"""fit / evaluate / predict machinery found by a differential sweep against Keras 3.15 (on
TensorFlow 2.21). Every reference is NumPy or plain Python derived from Keras' documented
behaviour; each test says what nabi did before."""
import numpy as np
import pytest

from nabi import keras


@pytest.fixture(autouse=True)
def _fresh_names():
    keras.backend.clear_session()
    yield


def _dense(in_shape, units, w, b, activation=None):
    inp = keras.Input(in_shape)
    m = keras.Model(inp, keras.layers.Dense(units, activation=activation)(inp))
    m.set_weights([np.asarray(w, np.float32), np.asarray(b, np.float32)])
    return m


# --- per-timestep (n, T) sample weights reach the weighted metrics ---------------------------

def test_per_timestep_sample_weight_with_weighted_metrics():
    # nabi before: the metric reshaped the (n, T) weights to (n*T, 1) and raised a broadcast
    # ValueError; Keras weighs each timestep: sum(v * w) / sum(w)
    rng = np.random.RandomState(0)
    x = rng.randn(6, 4, 3).astype(np.float32)
    y = rng.randn(6, 4, 2).astype(np.float32)
    sw = rng.rand(6, 4).astype(np.float32)
    w, b = rng.randn(3, 2) * 0.5, rng.randn(2) * 0.1
    m = _dense((4, 3), 2, w, b)
    m.compile(optimizer="sgd", loss="mse", metrics=["mae"], weighted_metrics=["mae"])
    logs = m.evaluate(x, y, sample_weight=sw, verbose=0, return_dict=True)
    p = x @ w + b
    mse = ((p - y) ** 2).mean(-1)
    mae = np.abs(p - y).mean(-1)
    np.testing.assert_allclose(logs["loss"], (mse * sw).sum() / sw.size, rtol=1e-5)
    np.testing.assert_allclose(logs["mae"], mae.mean(), rtol=1e-5)
    np.testing.assert_allclose(logs["weighted_mae"], (mae * sw).sum() / sw.sum(), rtol=1e-5)
    # fit runs too and reports the same weighted metric on its (only) batch
    h = m.fit(x, y, sample_weight=sw, batch_size=8, epochs=1, verbose=0)
    np.testing.assert_allclose(h.history["weighted_mae"][0], (mae * sw).sum() / sw.sum(),
                               rtol=1e-5)


# --- steps_per_epoch without batch_size: the batch size covers the data in those steps -------

def _sgd_mse_steps(x, y, w, b, batches, lr):
    """Plain SGD on a Dense layer with the mean squared error; per-batch losses too."""
    losses = []
    for idx in batches:
        p = x[idx] @ w + b
        d = p - y[idx]
        losses.append((d ** 2).mean())
        g = 2 * d / d.size
        w, b = w - lr * x[idx].T @ g, b - lr * g.sum(0)
    return w, b, losses


def test_steps_per_epoch_without_batch_size_sets_batch_size():
    # nabi before: batch_size fell back to 32, so steps_per_epoch=2 on 10 rows ran the whole
    # data twice; Keras (2 and 3) takes batch_size = ceil(n / steps) = 5: rows 0-4, then 5-9
    rng = np.random.RandomState(3)
    x = rng.randn(10, 3).astype(np.float32)
    y = rng.randn(10, 2).astype(np.float32)
    w, b = rng.randn(3, 2) * 0.5, rng.randn(2) * 0.1
    m = _dense((3,), 2, w, b)
    m.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    h = m.fit(x, y, steps_per_epoch=2, epochs=1, shuffle=False, verbose=0)
    w2, b2, losses = _sgd_mse_steps(x, y, w, b, [np.arange(5), np.arange(5, 10)], 0.1)
    np.testing.assert_allclose(m.get_weights()[0], w2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(m.get_weights()[1], b2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h.history["loss"][0], np.mean(losses), rtol=1e-5)


# --- per-output sample weights: a list (one per output) or a dict by output name ------------

def _two_output_model(rng, dict_outputs=False):
    inp = keras.Input((3,))
    o1 = keras.layers.Dense(2, name="out1")(inp)
    o2 = keras.layers.Dense(1, activation="sigmoid", name="out2")(inp)
    m = keras.Model(inp, {"out1": o1, "out2": o2} if dict_outputs else [o1, o2])
    ws = [rng.randn(3, 2), np.zeros(2), rng.randn(3, 1) * 0.5, np.zeros(1)]
    m.set_weights([w.astype(np.float32) for w in ws])
    m.compile(optimizer=keras.optimizers.SGD(0.1), loss={"out1": "mse", "out2": "binary_crossentropy"},
              weighted_metrics={"out1": ["mae"], "out2": ["accuracy"]})
    return m, ws


@pytest.mark.parametrize("form", ["list", "dict", "dict_outputs"])
def test_per_output_sample_weights(form):
    # nabi before: a list or dict of sample weights raised TypeError (float() of a dict) or
    # was read as one (2, n) array; Keras weighs each output's loss and weighted metrics by
    # its own array (a dict keyed by output name; an output left out is unweighted)
    rng = np.random.RandomState(5)
    x = rng.randn(10, 3).astype(np.float32)
    y1 = rng.randn(10, 2).astype(np.float32)
    y2 = (rng.rand(10, 1) > 0.5).astype(np.float32)
    sw1, sw2 = rng.rand(10).astype(np.float32), rng.rand(10).astype(np.float32)
    m, (w1, b1, w2, b2) = _two_output_model(rng, form == "dict_outputs")
    y = [y1, y2] if form == "list" else {"out1": y1, "out2": y2}
    sw = [sw1, sw2] if form == "list" else {"out1": sw1, "out2": sw2}
    logs = m.evaluate(x, y, sample_weight=sw, verbose=0, return_dict=True)
    p1 = x @ w1 + b1
    z = (x @ w2 + b2)[:, 0]
    bce = np.maximum(z, 0) - z * y2[:, 0] + np.log1p(np.exp(-np.abs(z)))
    mse = ((p1 - y1) ** 2).mean(-1)
    mae = np.abs(p1 - y1).mean(-1)
    acc = ((z > 0) == (y2[:, 0] > 0.5)).astype(np.float64)
    ref = {"out1_loss": (mse * sw1).sum() / 10, "out2_loss": (bce * sw2).sum() / 10,
           "out1_mae": (mae * sw1).sum() / sw1.sum(), "out2_accuracy": (acc * sw2).sum() / sw2.sum()}
    ref["loss"] = ref["out1_loss"] + ref["out2_loss"]
    assert sorted(logs) == sorted(ref)
    for k in ref:
        np.testing.assert_allclose(logs[k], ref[k], rtol=1e-5, err_msg=k)
    # train_on_batch and fit (one batch) see the same weights before their update
    tob = m.test_on_batch(x, y, sample_weight=sw, return_dict=True)
    np.testing.assert_allclose(tob["loss"], ref["loss"], rtol=1e-5)
    h = m.fit(x, y, sample_weight=sw, batch_size=10, epochs=1, shuffle=False, verbose=0)
    np.testing.assert_allclose(h.history["loss"][0], ref["loss"], rtol=1e-5)
    np.testing.assert_allclose(h.history["out2_accuracy"][0], ref["out2_accuracy"], rtol=1e-5)
    # a dict that leaves an output out: that output is unweighted
    if form != "list":
        logs = m.evaluate(x, y, sample_weight={"out1": sw1}, verbose=0, return_dict=True)
        p1 = x @ m.get_weights()[0] + m.get_weights()[1]
        np.testing.assert_allclose(logs["out1_mae"],
                                   (np.abs(p1 - y1).mean(-1) * sw1).sum() / sw1.sum(), rtol=1e-5)
        with pytest.raises(ValueError, match="not output names"):
            m.evaluate(x, y, sample_weight={"out3": sw1}, verbose=0)


# --- callbacks: the begin hooks get an empty dict, not None ---------------------------------

def test_callback_begin_hooks_get_a_dict():
    # nabi before: on_train_begin / on_epoch_begin / on_*_batch_begin / on_test_begin /
    # on_predict_begin got logs=None; Keras (2 and 3) hands every hook a dict ({} when empty),
    # so a callback calling logs.get(...) there raised AttributeError
    seen = []

    class Rec(keras.callbacks.Callback):
        def _rec(self, name, logs):
            seen.append((name, type(logs).__name__, logs.get("loss")))

        def on_train_begin(self, logs=None):
            self._rec("train_begin", logs)

        def on_epoch_begin(self, epoch, logs=None):
            self._rec("epoch_begin", logs)

        def on_train_batch_begin(self, batch, logs=None):
            self._rec("train_batch_begin", logs)

        def on_test_begin(self, logs=None):
            self._rec("test_begin", logs)

        def on_test_batch_begin(self, batch, logs=None):
            self._rec("test_batch_begin", logs)

        def on_predict_begin(self, logs=None):
            self._rec("predict_begin", logs)

        def on_predict_batch_begin(self, batch, logs=None):
            self._rec("predict_batch_begin", logs)

        def on_predict_end(self, logs=None):
            self._rec("predict_end", logs)

    x = np.ones((4, 3), np.float32)
    y = np.ones((4, 2), np.float32)
    m = _dense((3,), 2, np.zeros((3, 2)), np.zeros(2))
    m.compile(optimizer="sgd", loss="mse")
    m.fit(x, y, epochs=1, verbose=0, validation_data=(x, y), callbacks=[Rec()])
    m.evaluate(x, y, verbose=0, callbacks=[Rec()])
    m.predict(x, verbose=0, callbacks=[Rec()])
    assert {n for n, _, _ in seen} == {"train_begin", "epoch_begin", "train_batch_begin",
                                       "test_begin", "test_batch_begin", "predict_begin",
                                       "predict_batch_begin", "predict_end"}
    assert all(t == "dict" and v is None for _, t, v in seen)


# --- evaluate / predict / validation on arrays with `steps`: one pass from the start ---------

def test_array_steps_in_evaluate_predict_and_validation_do_not_cycle():
    # nabi before: with steps beyond the data, evaluate and predict cycled through the arrays
    # again (predict(10 rows, batch_size=4, steps=5) returned 18 rows, evaluate counted rows
    # 0-7 twice), and validation_steps continued where the previous validation stopped; Keras
    # runs each call once from the first batch, stopping (with a warning) when the data ends
    rng = np.random.RandomState(12)
    x = rng.randn(10, 3).astype(np.float32)
    y = rng.randn(10, 2).astype(np.float32)
    w, b = rng.randn(3, 2) * 0.5, rng.randn(2) * 0.1
    m = _dense((3,), 2, w, b)
    m.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
    se = (x @ w + b - y) ** 2
    with pytest.warns(UserWarning, match="ran out of data"):
        got = m.evaluate(x, y, batch_size=4, steps=5, verbose=0)
    np.testing.assert_allclose(got, se.mean(), rtol=1e-5)
    with pytest.warns(UserWarning, match="ran out of data"):
        assert m.predict(x, batch_size=4, steps=5, verbose=0).shape == (10, 2)
    assert m.predict(x, batch_size=4, steps=2, verbose=0).shape == (8, 2)
    np.testing.assert_allclose(m.evaluate(x, y, batch_size=4, steps=2, verbose=0),
                               se[:8].mean(), rtol=1e-5)
    # validation_steps=2 of batch 4: rows 0-7 every epoch (the weights do not move: lr 0)
    h = m.fit(x, y, validation_data=(x, y), validation_steps=2, batch_size=4, epochs=3,
              shuffle=False, verbose=0)
    np.testing.assert_allclose(h.history["val_loss"], [se[:8].mean()] * 3, rtol=1e-5)


# --- two compiled metrics with one default name both reach the logs -------------------------

def test_metrics_sharing_a_name_are_both_logged():
    # nabi before: metrics=[Precision(thresholds=0.5), Precision(thresholds=0.3)] logged one
    # "precision" key (the second overwrote the first); Keras names each instance uniquely
    # (precision, precision_1 in a fresh session), so History has both
    rng = np.random.RandomState(13)
    x = rng.randn(40, 3).astype(np.float32)
    y = (rng.rand(40, 1) > 0.5).astype(np.float32)
    w, b = rng.randn(3, 1), np.zeros(1)
    m = _dense((3,), 1, w, b, activation="sigmoid")
    m.compile(optimizer="sgd", loss="binary_crossentropy",
              metrics=[keras.metrics.Precision(thresholds=0.5),
                       keras.metrics.Precision(thresholds=0.3)])
    logs = m.evaluate(x, y, verbose=0, return_dict=True)
    p = 1 / (1 + np.exp(-(x @ w + b)))

    def precision(t):
        pos = p > t
        return (pos & (y > 0.5)).sum() / pos.sum()
    assert sorted(logs) == ["loss", "precision", "precision_1"]
    np.testing.assert_allclose(logs["precision"], precision(0.5), rtol=1e-5)
    np.testing.assert_allclose(logs["precision_1"], precision(0.3), rtol=1e-5)
    assert precision(0.5) != precision(0.3)
    assert m.metrics_names == ["loss", "precision", "precision_1"]


def test_bce_metric_alias():
    # nabi before: compile(metrics=["bce"]) raised "unknown metric 'bce'"; Keras 2 and 3 know
    # the alias (binary crossentropy, logged under "bce")
    rng = np.random.RandomState(14)
    x = rng.randn(12, 3).astype(np.float32)
    y = (rng.rand(12, 1) > 0.5).astype(np.float32)
    w, b = rng.randn(3, 1), np.zeros(1)
    m = _dense((3,), 1, w, b, activation="sigmoid")
    m.compile(optimizer="sgd", loss="mse", metrics=["bce"])
    logs = m.evaluate(x, y, verbose=0, return_dict=True)
    z = x @ w + b
    bce = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
    np.testing.assert_allclose(logs["bce"], bce.mean(), rtol=1e-5)
    assert keras.metrics.get("cosine_proximity") is keras.metrics.get("cosine_similarity")


def test_validation_data_as_a_list_for_a_two_input_model():
    # nabi before: validation_data=[[xa, xb], y] (a list, as Keras reads it: (x, y)) raised a
    # NumPy "inhomogeneous shape" ValueError; only a tuple worked
    rng = np.random.RandomState(19)
    x = rng.randn(10, 3).astype(np.float32)
    y = rng.randn(10, 2).astype(np.float32)
    a, b = keras.Input((2,)), keras.Input((1,))
    m = keras.Model([a, b], keras.layers.Dense(2)(keras.layers.Concatenate()([a, b])))
    w = rng.randn(3, 2).astype(np.float32)
    m.set_weights([w, np.zeros(2, np.float32)])
    m.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
    h = m.fit([x[:, :2], x[:, 2:]], y, validation_data=[[x[:3, :2], x[:3, 2:]], y[:3]],
              batch_size=4, epochs=1, verbose=0)
    np.testing.assert_allclose(h.history["val_loss"][0], ((x[:3] @ w - y[:3]) ** 2).mean(),
                               rtol=1e-5)


def test_none_target_for_an_output_without_a_loss():
    # nabi before: fit(x, [y1, None]) with loss=["mse", None] raised TypeError (len() of an
    # unsized object); Keras (2 and 3) skips the output that has neither a target nor a loss
    rng = np.random.RandomState(20)
    x = rng.randn(10, 3).astype(np.float32)
    y1 = rng.randn(10, 2).astype(np.float32)
    w1, w2 = rng.randn(3, 2).astype(np.float32), rng.randn(3, 1).astype(np.float32)
    inp = keras.Input((3,))
    m = keras.Model(inp, [keras.layers.Dense(2, name="out1")(inp),
                          keras.layers.Dense(1, name="out2")(inp)])
    m.set_weights([w1, np.zeros(2, np.float32), w2, np.zeros(1, np.float32)])
    m.compile(optimizer=keras.optimizers.SGD(0.1), loss=["mse", None])
    logs = m.evaluate(x, [y1, None], verbose=0, return_dict=True)
    np.testing.assert_allclose(logs["loss"], ((x @ w1 - y1) ** 2).mean(), rtol=1e-5)
    h = m.fit(x, [y1, None], batch_size=10, epochs=1, shuffle=False, verbose=0,
              validation_data=(x[:3], [y1[:3], None]))
    g = 2 * (x @ w1 - y1) / y1.size
    got = m.get_weights()
    np.testing.assert_allclose(got[0], w1 - 0.1 * x.T @ g, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got[1], -0.1 * g.sum(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got[2], w2)       # no loss reaches out2
    np.testing.assert_allclose(h.history["val_loss"][0],
                               ((x[:3] @ got[0] + got[1] - y1[:3]) ** 2).mean(), rtol=1e-5)


def test_evaluate_on_no_data_raises():
    # nabi before: evaluate(x[:0], y[:0]) returned nan without a word; Keras 2 raises
    # ("Unexpected result of test_function (Empty logs)"), as nabi's predict already did
    m = _dense((3,), 2, np.zeros((3, 2)), np.zeros(2))
    m.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="no data to evaluate"):
        m.evaluate(np.zeros((0, 3), np.float32), np.zeros((0, 2), np.float32), verbose=0)
    with pytest.raises(ValueError, match="no data to predict"):
        m.predict(np.zeros((0, 3), np.float32), verbose=0)


def test_fractional_steps_run_ceil_steps():
    # nabi before: steps were truncated (int(0.625) = 0: validation_steps=len(x_val) / 32 in the
    # TF course notebooks gave no validation batch and val_loss nan); Keras 2 steps while
    # step < steps, so a fraction runs ceil(steps) batches, and without a batch_size the
    # batch is ceil(n / steps) of the fractional value
    rng = np.random.RandomState(21)
    x = rng.randn(10, 3).astype(np.float32)
    y = rng.randn(10, 2).astype(np.float32)
    w, b = rng.randn(3, 2) * 0.5, rng.randn(2) * 0.1
    m = _dense((3,), 2, w, b)
    m.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    se = (x @ w + b - y) ** 2
    np.testing.assert_allclose(m.evaluate(x, y, batch_size=4, steps=0.5, verbose=0),
                               se[:4].mean(), rtol=1e-5)
    assert m.predict(x, batch_size=4, steps=1.2, verbose=0).shape == (8, 2)
    h = m.fit(x, y, steps_per_epoch=1.5, epochs=1, shuffle=False, verbose=0,
              validation_data=(x, y), validation_steps=0.25)
    # batch ceil(10 / 1.5) = 7: rows 0-6, then 7-9
    w2, b2, losses = _sgd_mse_steps(x, y, w, b, [np.arange(7), np.arange(7, 10)], 0.1)
    np.testing.assert_allclose(m.get_weights()[0], w2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h.history["loss"][0], (7 * losses[0] + 3 * losses[1]) / 10,
                               rtol=1e-5)
    # validation_steps=0.25 with the training batch size (ceil(10 / 0.25) = 40): all rows
    np.testing.assert_allclose(h.history["val_loss"][0], ((x @ w2 + b2 - y) ** 2).mean(),
                               rtol=1e-5)
