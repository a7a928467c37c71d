"""compile/fit/evaluate/predict/*_on_batch: numerics against NumPy, data formats."""
import numpy as np
import pytest

import nabi as tf
from nabi import keras
from nabi.keras import layers


@pytest.fixture(autouse=True)
def _fresh_names():
    keras.backend.clear_session()
    yield


class PlainSGD:
    """A tiny stand-in optimizer (the engine needs only apply_gradients)."""

    def __init__(self, learning_rate=0.1):
        self.learning_rate = learning_rate
        self.calls = 0

    def apply_gradients(self, grads_and_vars):
        self.calls += 1
        for g, v in grads_and_vars:
            v.assign_sub(self.learning_rate * g.numpy())


def _sig(z):
    return 1 / (1 + np.exp(-z))


def test_one_sgd_step_matches_numpy_mse():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 3)).astype(np.float32)
    y = rng.standard_normal((8, 2)).astype(np.float32)
    m = keras.Sequential([layers.Dense(2, input_shape=(3,))])
    opt = PlainSGD(0.1)
    m.compile(optimizer=opt, loss="mse")
    W, b = m.get_weights()
    hist = m.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    pred = x @ W + b
    loss = np.mean((pred - y) ** 2)
    g = 2 * (pred - y) / pred.size
    W1, b1 = W - 0.1 * x.T @ g, b - 0.1 * g.sum(0)
    np.testing.assert_allclose(hist.history["loss"][0], loss, rtol=1e-5)
    np.testing.assert_allclose(m.get_weights()[0], W1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(m.get_weights()[1], b1, rtol=1e-5, atol=1e-6)
    assert opt.calls == 1


def test_bce_sigmoid_head_loss_and_accuracy_match_numpy():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((10, 4)).astype(np.float32)
    y = (rng.random((10, 1)) > 0.5).astype(np.float32)
    m = keras.Sequential([layers.Dense(1, activation="sigmoid", input_shape=(4,))])
    m.compile(optimizer=PlainSGD(0.0), loss="binary_crossentropy", metrics=["accuracy"])
    W, b = m.get_weights()
    p = _sig(x @ W + b)
    ref_loss = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    ref_acc = np.mean((p > 0.5) == (y > 0.5))
    loss, acc = m.evaluate(x, y, verbose=0)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-4)
    np.testing.assert_allclose(acc, ref_acc)
    assert m.metrics_names == ["loss", "accuracy"]
    np.testing.assert_allclose(m.predict(x, verbose=0), p, rtol=1e-5, atol=1e-6)


def test_epoch_loss_is_batch_size_weighted_mean():
    x = np.arange(10, dtype=np.float32).reshape(10, 1)
    y = np.zeros((10, 1), np.float32)
    m = keras.Sequential([layers.Dense(1, input_shape=(1,), kernel_initializer="ones",
                                       bias_initializer="zeros")])
    m.compile(optimizer=PlainSGD(0.0), loss="mse")
    h = m.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    np.testing.assert_allclose(h.history["loss"][0], np.mean(x ** 2), rtol=1e-6)
    for bs in (3, 10, 1):
        np.testing.assert_allclose(m.evaluate(x, y, batch_size=bs, verbose=0),
                                   np.mean(x ** 2), rtol=1e-6)
    # batches of uneven sizes from a generator, the first one short: 2, 4, 4
    parts = [(x[:2], y[:2]), (x[2:6], y[2:6]), (x[6:], y[6:])]
    h = m.fit(iter(parts), epochs=1, steps_per_epoch=3, verbose=0)
    np.testing.assert_allclose(h.history["loss"][0], np.mean(x ** 2), rtol=1e-6)


def test_shuffled_batches_are_gathered_right_every_epoch():
    """Shuffled epochs gather each batch when its step comes (on the GPU into reused host
    buffers): with a frozen model the epoch loss is the data set's mean loss whatever the
    order, for full and partial batches, with and without sample weights, epoch after epoch;
    labels and weights stay paired with their rows."""
    r = np.random.default_rng(0)
    x = r.standard_normal((10, 3)).astype(np.float32)
    y = r.standard_normal((10, 1)).astype(np.float32)
    w0 = np.array([[0.5], [-1.0], [2.0]], np.float32)
    m = keras.Sequential([layers.Dense(1, input_shape=(3,), use_bias=False)])
    m.compile(optimizer=PlainSGD(0.0), loss="mse")
    m.layers[0].set_weights([w0])
    per_sample = ((x @ w0 - y) ** 2)[:, 0]
    sw = r.uniform(0.5, 2.0, 10).astype(np.float32)
    for bs in (3, 4, 10):
        h = m.fit(x, y, batch_size=bs, epochs=3, verbose=0, shuffle=True)
        np.testing.assert_allclose(h.history["loss"], [per_sample.mean()] * 3, rtol=1e-5)
        h = m.fit(x, y, batch_size=bs, epochs=2, verbose=0, shuffle=True, sample_weight=sw)
        np.testing.assert_allclose(h.history["loss"], [np.mean(per_sample * sw)] * 2,
                                   rtol=1e-5)


def test_accuracy_resolution_sparse_categorical_binary():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((12, 5)).astype(np.float32)
    ys = rng.integers(0, 3, 12)
    m = keras.Sequential([layers.Dense(3, activation="softmax", input_shape=(5,))])
    m.compile(optimizer=PlainSGD(0.0), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"])
    _, acc = m.evaluate(x, ys, verbose=0)
    assert acc == pytest.approx(np.mean(m.predict(x, verbose=0).argmax(1) == ys))
    m.compile(optimizer=PlainSGD(0.0), loss="categorical_crossentropy", metrics=["acc"])
    onehot = np.eye(3, dtype=np.float32)[ys]
    loss, acc2 = m.evaluate(x, onehot, verbose=0)
    assert acc2 == pytest.approx(acc)
    p = m.predict(x, verbose=0)
    np.testing.assert_allclose(loss, -np.mean(np.log(p[np.arange(12), ys])), rtol=1e-4)
    assert m.metrics_names == ["loss", "acc"]


def test_xor_trains_and_history():
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
    y = np.array([[0], [1], [1], [0]], np.float32)
    tf.random.set_seed(3)
    m = keras.Sequential([layers.Dense(8, activation="tanh", input_dim=2),
                          layers.Dense(1, activation="sigmoid")])
    m.compile(optimizer=PlainSGD(0.5), loss="binary_crossentropy", metrics=["accuracy"])
    h = m.fit(x, y, batch_size=4, epochs=400, verbose=0)
    assert set(h.history) == {"loss", "accuracy"}
    assert h.epoch == list(range(400)) and h.params["epochs"] == 400
    assert h.history["loss"][-1] < h.history["loss"][0] * 0.5
    assert m.history is h


def test_xor_fit_many_small_steps():
    """500 epochs of 4-row batches (the speed of this is bench/bench_fit.py's XOR row: timing
    belongs to the benchmarks, never to a test)."""
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
    y = np.array([[0], [1], [1], [0]], np.float32)
    m = keras.Sequential([layers.Dense(2, activation="sigmoid", input_dim=2),
                          layers.Dense(1, activation="sigmoid")])
    try:
        opt = keras.optimizers.SGD(learning_rate=0.1)
    except AttributeError:
        opt = PlainSGD(0.1)
    m.compile(optimizer=opt, loss="binary_crossentropy")
    h0 = m.fit(x, y, batch_size=4, epochs=20, verbose=0).history["loss"]
    h = m.fit(x, y, batch_size=4, epochs=500, verbose=0).history["loss"]
    assert len(h) == 500 and np.isfinite(h).all() and h[-1] < h0[0]


def test_validation_split_data_and_val_keys():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((50, 3)).astype(np.float32)
    y = (x.sum(1, keepdims=True) > 0).astype(np.float32)
    m = keras.Sequential([layers.Dense(1, activation="sigmoid", input_shape=(3,))])
    m.compile(optimizer=PlainSGD(0.1), loss="binary_crossentropy", metrics=["accuracy"])
    h = m.fit(x, y, epochs=2, batch_size=16, validation_split=0.2, verbose=0)
    assert set(h.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    ref = m.evaluate(x[40:], y[40:], verbose=0)
    h2 = m.fit(x, y, epochs=1, batch_size=16, validation_data=(x[40:], y[40:]), verbose=0)
    assert len(h2.history["val_loss"]) == 1
    w = m.get_weights()
    assert np.isfinite(ref[0]) and len(w) == 2


def test_sample_weight_and_class_weight():
    x = np.array([[1.0], [2.0]], np.float32)
    y = np.zeros((2, 1), np.float32)
    m = keras.Sequential([layers.Dense(1, input_shape=(1,), kernel_initializer="ones",
                                       bias_initializer="zeros")])
    m.compile(optimizer=PlainSGD(0.0), loss="mse")
    h = m.fit(x, y, sample_weight=np.array([1.0, 3.0]), epochs=1, verbose=0)
    np.testing.assert_allclose(h.history["loss"][0], (1 * 1 + 3 * 4) / 2, rtol=1e-6)
    m2 = keras.Sequential([layers.Dense(2, activation="softmax", input_shape=(1,))])
    m2.compile(optimizer=PlainSGD(0.0), loss="sparse_categorical_crossentropy")
    yc = np.array([0, 1])
    p = m2.predict(x, verbose=0)
    h = m2.fit(x, yc, class_weight={0: 1.0, 1: 5.0}, epochs=1, verbose=0)
    ref = -(1.0 * np.log(p[0, 0]) + 5.0 * np.log(p[1, 1])) / 2
    np.testing.assert_allclose(h.history["loss"][0], ref, rtol=1e-4)


def test_generator_sequence_and_dict_inputs():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((32, 4)).astype(np.float32)
    y = rng.standard_normal((32, 1)).astype(np.float32)

    def gen():
        while True:
            for i in range(0, 32, 8):
                yield x[i:i + 8], y[i:i + 8]

    class Seq:
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return x[i * 8:(i + 1) * 8], y[i * 8:(i + 1) * 8]

    inp = keras.Input(shape=(4,), name="feat")
    m = keras.Model(inp, layers.Dense(1)(inp))
    m.compile(optimizer=PlainSGD(0.01), loss="mse")
    h = m.fit(gen(), steps_per_epoch=4, epochs=2, verbose=0)
    assert len(h.history["loss"]) == 2
    h = m.fit(Seq(), epochs=2, verbose=0)
    assert len(h.history["loss"]) == 2
    h = m.fit({"feat": x}, y, epochs=1, verbose=0)
    assert m.evaluate(Seq(), verbose=0) == pytest.approx(m.evaluate(x, y, verbose=0), rel=1e-5)
    assert m.predict(Seq(), verbose=0).shape == (32, 1)


def test_multi_output_losses_and_weights():
    rng = np.random.default_rng(6)
    inp = keras.Input(shape=(3,))
    o1 = layers.Dense(1, name="reg")(inp)
    o2 = layers.Dense(2, activation="softmax", name="cls")(inp)
    m = keras.Model(inp, [o1, o2])
    m.compile(optimizer=PlainSGD(0.0), loss={"reg": "mse", "cls": "sparse_categorical_crossentropy"},
              loss_weights={"reg": 2.0, "cls": 1.0}, metrics={"cls": ["accuracy"]})
    x = rng.standard_normal((6, 3)).astype(np.float32)
    y1 = rng.standard_normal((6, 1)).astype(np.float32)
    y2 = rng.integers(0, 2, 6)
    res = m.evaluate(x, [y1, y2], verbose=0, return_dict=True)
    p1, p2 = m.predict(x, verbose=0)
    l1 = np.mean((p1 - y1) ** 2)
    l2 = -np.mean(np.log(p2[np.arange(6), y2]))
    np.testing.assert_allclose(res["loss"], 2 * l1 + l2, rtol=1e-4)
    np.testing.assert_allclose(res["reg_loss"], l1, rtol=1e-4)
    np.testing.assert_allclose(res["cls_loss"], l2, rtol=1e-4)
    assert m.metrics_names == ["loss", "reg_loss", "cls_loss", "cls_accuracy"]


def test_on_batch_methods_and_stop_training():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((4, 2)).astype(np.float32)
    y = rng.standard_normal((4, 1)).astype(np.float32)
    m = keras.Sequential([layers.Dense(1, input_shape=(2,))])
    m.compile(optimizer=PlainSGD(0.1), loss="mse", metrics=["mae"])
    l0 = m.test_on_batch(x, y)
    assert isinstance(l0, list) and len(l0) == 2
    m.train_on_batch(x, y)
    l1 = m.test_on_batch(x, y)
    assert l1[0] < l0[0]
    assert m.predict_on_batch(x).shape == (4, 1)
    assert set(m.train_on_batch(x, y, return_dict=True)) == {"loss", "mae"}

    class Stop(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 2:
                self.model.stop_training = True
    h = m.fit(x, y, epochs=10, verbose=0, callbacks=[Stop()])
    assert len(h.history["loss"]) == 3


def test_regularization_added_to_loss():
    pytest.importorskip("nabi.keras.regularizers")
    x = np.ones((2, 1), np.float32)
    y = np.zeros((2, 1), np.float32)
    m = keras.Sequential([layers.Dense(1, input_shape=(1,), kernel_initializer="ones",
                                       bias_initializer="zeros", kernel_regularizer="l2")])
    m.compile(optimizer=PlainSGD(0.0), loss="mse")
    h = m.fit(x, y, epochs=1, verbose=0)
    np.testing.assert_allclose(h.history["loss"][0], 1.0 + 0.01, rtol=1e-5)


def test_fit_never_prints_when_silent_and_verbose_outputs(capsys):
    x = np.zeros((8, 2), np.float32)
    y = np.zeros((8, 1), np.float32)
    m = keras.Sequential([layers.Dense(1, input_shape=(2,))])
    m.compile(optimizer=PlainSGD(0.1), loss="mse")
    m.fit(x, y, epochs=2, verbose=0)
    m.evaluate(x, y, verbose=0)
    m.predict(x, verbose=0)
    assert capsys.readouterr().out == ""
    m.fit(x, y, epochs=2, batch_size=4, verbose=2)
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and out.count("loss:") == 2 and "\r" not in out
    m.fit(x, y, epochs=1, batch_size=4, verbose=1)
    out = capsys.readouterr().out
    assert "2/2 [==============================]" in out and "loss:" in out


def test_errors_are_clear():
    m = keras.Sequential([layers.Dense(1, input_shape=(2,))])
    with pytest.raises(RuntimeError, match="compile"):
        m.fit(np.zeros((2, 2)), np.zeros((2, 1)))
    m.compile(optimizer=PlainSGD(), loss="mse")
    with pytest.raises(ValueError, match="cardinality"):
        m.fit(np.zeros((3, 2)), np.zeros((2, 1)), verbose=0)
    with pytest.raises(ValueError, match="expected input with last dimension 2"):
        m.fit(np.zeros((3, 5)), np.zeros((3, 1)), verbose=0)
