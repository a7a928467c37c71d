"""Hands-On Machine Learning (3rd ed., Geron), chapter 12 notebook
"12_custom_models_and_training_with_tensorflow", run with only the import line changed.
California housing becomes a synthetic regression set with 8 features; fewer epochs, narrower
layers. Tensor ops, the Huber loss, the streaming HuberMetric, custom layers and gradients
(my_softplus at large inputs) are checked against NumPy; training against a falling loss."""
import numpy as np
import pytest

import nabi as tf


def setup_function(_):
    tf.keras.backend.clear_session()
    tf.random.set_seed(42)
    np.random.seed(42)


def _housing_scaled(n=500, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 8)) * 3 + 5
    y = 1.5 + 0.7 * X[:, 0] / 3 - 0.4 * X[:, 3] / 3 + 0.3 * np.sin(X[:, 5]) \
        + 0.05 * rng.normal(size=n)
    X_train, X_valid, X_test = X[:300], X[300:400], X[400:]
    y_train, y_valid, y_test = y[:300], y[300:400], y[400:]
    mu, sd = X_train.mean(0), X_train.std(0)
    return ((X_train - mu) / sd, (X_valid - mu) / sd, (X_test - mu) / sd,
            y_train, y_valid, y_test)


# ----------------------------------------------------------------------------
# Using TensorFlow like NumPy
# ----------------------------------------------------------------------------

def test_tensors_and_operations():
    t = tf.constant([[1., 2., 3.], [4., 5., 6.]])  # matrix
    assert tf.constant(42).shape == ()  # scalar
    assert t.shape == (2, 3) and t.dtype == tf.float32
    np.testing.assert_array_equal(t[:, 1:], [[2., 3.], [5., 6.]])
    np.testing.assert_array_equal(t[..., 1, tf.newaxis], [[2.], [5.]])
    np.testing.assert_array_equal(t + 10, np.array([[11., 12., 13.], [14., 15., 16.]]))
    np.testing.assert_array_equal(tf.square(t), np.square(t.numpy()))
    np.testing.assert_array_equal(t @ tf.transpose(t), t.numpy() @ t.numpy().T)

    K = tf.keras.backend
    np.testing.assert_array_equal(K.square(K.transpose(t)) + 10, t.numpy().T ** 2 + 10)

    a = np.array([2., 4., 5.])
    c = tf.constant(a)
    assert c.dtype == tf.float64
    np.testing.assert_array_equal(t.numpy(), np.array(t))
    np.testing.assert_array_equal(tf.square(a), a ** 2)
    np.testing.assert_array_equal(np.square(t), t.numpy() ** 2)

    # no automatic type conversions
    with pytest.raises(tf.errors.InvalidArgumentError):
        tf.constant(2.0) + tf.constant(40)
    with pytest.raises(tf.errors.InvalidArgumentError):
        tf.constant(2.0) + tf.constant(40., dtype=tf.float64)
    t2 = tf.constant(40., dtype=tf.float64)
    r = tf.constant(2.0) + tf.cast(t2, tf.float32)
    assert r.dtype == tf.float32 and float(r) == 42.0


def test_variables():
    v = tf.Variable([[1., 2., 3.], [4., 5., 6.]])
    v.assign(2 * v)
    np.testing.assert_array_equal(v.numpy(), [[2., 4., 6.], [8., 10., 12.]])
    v[0, 1].assign(42)
    v[:, 2].assign([0., 1.])
    np.testing.assert_array_equal(v.numpy(), [[2., 42., 0.], [8., 10., 1.]])
    v.scatter_nd_update(indices=[[0, 0], [1, 2]], updates=[100., 200.])
    np.testing.assert_array_equal(v.numpy(), [[100., 42., 0.], [8., 10., 200.]])
    sparse_delta = tf.IndexedSlices(values=[[1., 2., 3.], [4., 5., 6.]], indices=[1, 0])
    v.scatter_update(sparse_delta)
    np.testing.assert_array_equal(v.numpy(), [[4., 5., 6.], [1., 2., 3.]])
    with pytest.raises(TypeError):
        v[1] = [7., 8., 9.]


def test_strings_and_ragged():
    assert tf.constant(b"hello world").dtype == tf.string
    assert tf.constant("café").numpy() == "café".encode("utf-8")
    u = tf.constant([ord(c) for c in "café"])
    np.testing.assert_array_equal(u, [99, 97, 102, 233])
    b = tf.strings.unicode_encode(u, "UTF-8")
    assert b.numpy() == "café".encode("utf-8")
    assert int(tf.strings.length(b, unit="UTF8_CHAR")) == 4
    assert int(tf.strings.length(b)) == 5  # bytes
    np.testing.assert_array_equal(tf.strings.unicode_decode(b, "UTF-8"), [99, 97, 102, 233])

    p = tf.constant(["Café", "Coffee", "caffè", "咖啡"])
    np.testing.assert_array_equal(tf.strings.length(p, unit="UTF8_CHAR"), [4, 6, 5, 2])
    r = tf.strings.unicode_decode(p, "UTF8")
    assert r.to_list() == [[ord(c) for c in s] for s in ["Café", "Coffee", "caffè", "咖啡"]]
    np.testing.assert_array_equal(r[1], [ord(c) for c in "Coffee"])
    assert r[1:3].to_list() == [[ord(c) for c in "Coffee"], [ord(c) for c in "caffè"]]

    r2 = tf.ragged.constant([[65, 66], [], [67]])
    assert tf.concat([r, r2], axis=0).to_list() == r.to_list() + [[65, 66], [], [67]]
    r3 = tf.ragged.constant([[68, 69, 70], [71], [], [72, 73]])
    assert tf.concat([r, r3], axis=1).to_list() == [a + b for a, b in zip(r.to_list(),
                                                                          r3.to_list())]
    dense = r.to_tensor()
    assert dense.shape == (4, 6)
    np.testing.assert_array_equal(dense[3], [21654, 21857, 0, 0, 0, 0])


def test_sparse_tensors():
    s = tf.SparseTensor(indices=[[0, 1], [1, 0], [2, 3]], values=[1., 2., 3.],
                        dense_shape=[3, 4])
    ref = np.zeros((3, 4), np.float32)
    ref[0, 1], ref[1, 0], ref[2, 3] = 1., 2., 3.
    np.testing.assert_array_equal(tf.sparse.to_dense(s), ref)
    np.testing.assert_array_equal(tf.sparse.to_dense(s * 42.0), ref * 42)
    with pytest.raises(TypeError):
        s + 1.
    s4 = tf.constant([[10., 20.], [30., 40.], [50., 60.], [70., 80.]])
    np.testing.assert_array_equal(tf.sparse.sparse_dense_matmul(s, s4), ref @ s4.numpy())

    s5 = tf.SparseTensor(indices=[[0, 2], [0, 1]], values=[1., 2.], dense_shape=[3, 4])
    with pytest.raises(tf.errors.InvalidArgumentError):
        tf.sparse.to_dense(s5)
    s6 = tf.sparse.reorder(s5)
    ref6 = np.zeros((3, 4), np.float32)
    ref6[0, 1], ref6[0, 2] = 2., 1.
    np.testing.assert_array_equal(tf.sparse.to_dense(s6), ref6)


def test_tensor_arrays_sets_and_queues():
    array = tf.TensorArray(dtype=tf.float32, size=3)
    array = array.write(0, tf.constant([1., 2.]))
    array = array.write(1, tf.constant([3., 10.]))
    array = array.write(2, tf.constant([5., 7.]))
    tensor1 = array.read(1)
    np.testing.assert_array_equal(tensor1, [3., 10.])
    stacked = array.stack()
    assert stacked.shape == (3, 2)
    np.testing.assert_array_equal(stacked[0], [1., 2.])
    np.testing.assert_array_equal(stacked[2], [5., 7.])
    array2 = tf.TensorArray(dtype=tf.float32, size=3, clear_after_read=False)
    array2 = array2.write(0, tf.constant([1., 2.]))
    array2 = array2.write(1, tf.constant([3., 10.]))
    array2 = array2.write(2, tf.constant([5., 7.]))
    np.testing.assert_array_equal(array2.read(1), [3., 10.])
    np.testing.assert_array_equal(array2.stack(), [[1., 2.], [3., 10.], [5., 7.]])

    a = tf.constant([[1, 5, 9]])
    b = tf.constant([[5, 6, 9, 11]])
    u = tf.sets.union(a, b)
    np.testing.assert_array_equal(tf.sparse.to_dense(u), [[1, 5, 6, 9, 11]])
    a = tf.constant([[1, 5, 9], [10, 0, 0]])
    b = tf.constant([[5, 6, 9, 11], [13, 0, 0, 0]])
    u = tf.sets.union(a, b)
    np.testing.assert_array_equal(tf.sparse.to_dense(u), [[1, 5, 6, 9, 11], [0, 10, 13, 0, 0]])
    np.testing.assert_array_equal(tf.sparse.to_dense(u, default_value=-1),
                                  [[1, 5, 6, 9, 11], [0, 10, 13, -1, -1]])
    set1 = tf.constant([[2, 3, 5, 7], [7, 9, 0, 0]])
    set2 = tf.constant([[4, 5, 6], [9, 10, 0]])
    np.testing.assert_array_equal(tf.sparse.to_dense(tf.sets.difference(set1, set2)),
                                  [[2, 3, 7], [7, 0, 0]])
    np.testing.assert_array_equal(tf.sparse.to_dense(tf.sets.intersection(set1, set2)),
                                  [[5, 0], [0, 9]])
    np.testing.assert_array_equal(tf.sets.size(set1), [4, 3])

    if not hasattr(tf, "queue"):
        pytest.skip("tf.queue is not part of nabi")
    q = tf.queue.FIFOQueue(3, [tf.int32, tf.string], shapes=[[], []])
    q.enqueue([10, b"windy"])
    q.enqueue([15, b"sunny"])
    assert int(q.size()) == 2
    n, s = q.dequeue()
    assert int(n) == 10 and s.numpy() == b"windy"
    q.enqueue_many([[13, 16], [b'cloudy', b'rainy']])
    ns, ss = q.dequeue_many(3)
    np.testing.assert_array_equal(ns, [15, 13, 16])
    assert list(ss.numpy()) == [b"sunny", b"cloudy", b"rainy"]


# ----------------------------------------------------------------------------
# Custom loss functions
# ----------------------------------------------------------------------------

def huber_fn(y_true, y_pred):
    error = y_true - y_pred
    is_small_error = tf.abs(error) < 1
    squared_loss = tf.square(error) / 2
    linear_loss = tf.abs(error) - 0.5
    return tf.where(is_small_error, squared_loss, linear_loss)


def create_huber(threshold=1.0):
    def huber_fn(y_true, y_pred):
        error = y_true - y_pred
        is_small_error = tf.abs(error) < threshold
        squared_loss = tf.square(error) / 2
        linear_loss = threshold * tf.abs(error) - threshold ** 2 / 2
        return tf.where(is_small_error, squared_loss, linear_loss)
    return huber_fn


class HuberLoss(tf.keras.losses.Loss):
    def __init__(self, threshold=1.0, **kwargs):
        self.threshold = threshold
        super().__init__(**kwargs)

    def call(self, y_true, y_pred):
        error = y_true - y_pred
        is_small_error = tf.abs(error) < self.threshold
        squared_loss = tf.square(error) / 2
        linear_loss = self.threshold * tf.abs(error) - self.threshold**2 / 2
        return tf.where(is_small_error, squared_loss, linear_loss)

    def get_config(self):
        base_config = super().get_config()
        return {**base_config, "threshold": self.threshold}


def _np_huber(y_true, y_pred, t=1.0):
    e = np.abs(np.asarray(y_true, np.float64) - np.asarray(y_pred, np.float64))
    return np.where(e < t, e ** 2 / 2, t * e - t ** 2 / 2)


def _regressor(input_shape=(8,)):
    return tf.keras.Sequential([
        tf.keras.layers.Dense(16, activation="relu", kernel_initializer="he_normal",
                              input_shape=input_shape),
        tf.keras.layers.Dense(1),
    ])


def test_huber_fn_values_and_gradient():
    y_true = np.array([[0.], [1.], [2.], [-3.]], np.float32)
    y_pred = np.array([[0.5], [3.], [2.2], [1.]], np.float32)
    np.testing.assert_allclose(huber_fn(y_true, y_pred), _np_huber(y_true, y_pred), rtol=1e-6)
    np.testing.assert_allclose(create_huber(2.0)(y_true, y_pred),
                               _np_huber(y_true, y_pred, 2.0), rtol=1e-6)
    np.testing.assert_allclose(HuberLoss(2.)(y_true, y_pred),
                               _np_huber(y_true, y_pred, 2.0).mean(), rtol=1e-6)
    np.testing.assert_allclose(tf.keras.losses.Huber(2.)(y_true, y_pred),
                               _np_huber(y_true, y_pred, 2.0).mean(), rtol=1e-6)
    yp = tf.Variable(y_pred)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(huber_fn(y_true, yp))
    g = tape.gradient(loss, yp).numpy()
    e = y_pred.astype(np.float64) - y_true
    np.testing.assert_allclose(g, np.where(np.abs(e) < 1, e, np.sign(e)) / 4, rtol=1e-6)


def test_custom_loss_fit_save_load(tmp_path):
    X_train, X_valid, X_test, y_train, y_valid, y_test = _housing_scaled()
    model = _regressor(X_train.shape[1:])
    model.compile(loss=huber_fn, optimizer="nadam", metrics=["mae"])
    h = model.fit(X_train, y_train, epochs=3, validation_data=(X_valid, y_valid), verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0]
    pred = model.predict(X_test, verbose=0)
    # the fitted loss is the NumPy Huber of the predictions
    np.testing.assert_allclose(model.evaluate(X_test, y_test, verbose=0)[0],
                               _np_huber(y_test, pred[:, 0]).mean(), rtol=1e-4)
    model.save(str(tmp_path / "my_model_with_a_custom_loss.keras"))
    model = tf.keras.models.load_model(str(tmp_path / "my_model_with_a_custom_loss.keras"),
                                       custom_objects={"huber_fn": huber_fn})
    model.fit(X_train, y_train, epochs=1, verbose=0)

    model = _regressor(X_train.shape[1:])
    model.compile(loss=create_huber(2.0), optimizer="nadam", metrics=["mae"])
    model.fit(X_train, y_train, epochs=1, verbose=0)
    model.save(str(tmp_path / "my_model_with_a_custom_loss_threshold_2.keras"))
    model = tf.keras.models.load_model(
        str(tmp_path / "my_model_with_a_custom_loss_threshold_2.keras"),
        custom_objects={"huber_fn": create_huber(2.0)})
    model.fit(X_train, y_train, epochs=1, verbose=0)


def test_huber_loss_class_sgd_step_matches_numpy():
    """A Loss subclass gets (N, 1) targets for (N,) labels (Keras 2 match_dtype_and_rank):
    one SGD step of Dense(1) with HuberLoss(2.) against the NumPy gradient."""
    rng = np.random.default_rng(5)
    X = rng.normal(size=(16, 3)).astype(np.float32)
    y = (rng.normal(size=16) * 4).astype(np.float32)
    model = tf.keras.Sequential([tf.keras.layers.Dense(1, input_shape=[3])])
    W0, b0 = [w.astype(np.float64) for w in model.get_weights()]
    model.compile(loss=HuberLoss(2.), optimizer=tf.keras.optimizers.SGD(learning_rate=0.1))
    h = model.fit(X, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    e = (X @ W0 + b0)[:, 0] - y
    np.testing.assert_allclose(h.history["loss"][0], _np_huber(y, y + e, 2.0).mean(), rtol=1e-5)
    g = np.where(np.abs(e) < 2, e, 2 * np.sign(e)) / 16
    W1, b1 = model.get_weights()
    np.testing.assert_allclose(W1[:, 0], W0[:, 0] - 0.1 * X.T @ g, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b1, b0 - 0.1 * g.sum(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fmt", ["keras", "tf"])
def test_huber_loss_class_get_config_save_load(tmp_path, fmt):
    X_train, X_valid, X_test, y_train, y_valid, y_test = _housing_scaled()
    model = _regressor(X_train.shape[1:])
    model.compile(loss=HuberLoss(2.), optimizer="nadam", metrics=["mae"])
    model.fit(X_train, y_train, epochs=2, verbose=0)
    pred = model.predict(X_test, verbose=0)
    np.testing.assert_allclose(model.evaluate(X_test, y_test, verbose=0)[0],
                               _np_huber(y_test, pred[:, 0], 2.0).mean(), rtol=1e-4)
    cfg = HuberLoss(2.).get_config()
    assert cfg["threshold"] == 2.0 and "name" in cfg and "reduction" in cfg
    path = str(tmp_path / ("my_model_with_a_custom_loss_class" +
                           (".keras" if fmt == "keras" else "")))
    model.save(path) if fmt == "keras" else model.save(path, save_format="tf")
    model = tf.keras.models.load_model(path, custom_objects={"HuberLoss": HuberLoss})
    assert isinstance(model.loss, HuberLoss)
    assert model.loss.threshold == 2.0
    np.testing.assert_allclose(model.predict(X_test, verbose=0), pred, rtol=1e-5, atol=1e-6)
    model.fit(X_train, y_train, epochs=1, verbose=0)


# ----------------------------------------------------------------------------
# Custom activation, initializer, regularizer and constraint
# ----------------------------------------------------------------------------

def my_softplus(z):
    return tf.math.log(1.0 + tf.exp(z))


def my_glorot_initializer(shape, dtype=tf.float32):
    stddev = tf.sqrt(2. / (shape[0] + shape[1]))
    return tf.random.normal(shape, stddev=stddev, dtype=dtype)


def my_l1_regularizer(weights):
    return tf.reduce_sum(tf.abs(0.01 * weights))


def my_positive_weights(weights):  # return value is just tf.nn.relu(weights)
    return tf.where(weights < 0., tf.zeros_like(weights), weights)


class MyL1Regularizer(tf.keras.regularizers.Regularizer):
    def __init__(self, factor):
        self.factor = factor

    def __call__(self, weights):
        return tf.reduce_sum(tf.abs(self.factor * weights))

    def get_config(self):
        return {"factor": self.factor}


def test_custom_activation_initializer_regularizer_constraint(tmp_path):
    layer = tf.keras.layers.Dense(1, activation=my_softplus,
                                  kernel_initializer=my_glorot_initializer,
                                  kernel_regularizer=my_l1_regularizer,
                                  kernel_constraint=my_positive_weights)
    x = np.random.randn(4, 8).astype(np.float32)
    out = layer(x).numpy()
    W, b = layer.get_weights()
    np.testing.assert_allclose(out, np.log1p(np.exp(x @ W + b)), rtol=1e-5)
    np.testing.assert_allclose(float(layer.losses[0]), 0.01 * np.abs(W).sum(), rtol=1e-5)

    X_train, X_valid, X_test, y_train, y_valid, y_test = _housing_scaled()
    model = tf.keras.Sequential([
        tf.keras.layers.Dense(16, activation="relu", kernel_initializer="he_normal",
                              input_shape=[8]),
        tf.keras.layers.Dense(1, activation=my_softplus,
                              kernel_initializer=my_glorot_initializer,
                              kernel_regularizer=my_l1_regularizer,
                              kernel_constraint=my_positive_weights)
    ])
    model.compile(loss="mse", optimizer="nadam", metrics=["mae"])
    h = model.fit(X_train, y_train, epochs=3, validation_data=(X_valid, y_valid), verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0]
    assert model.layers[1].get_weights()[0].min() >= 0.0  # the constraint applied
    pred = model.predict(X_test, verbose=0)
    model.save(str(tmp_path / "my_model_with_many_custom_parts.keras"))
    model = tf.keras.models.load_model(
        str(tmp_path / "my_model_with_many_custom_parts.keras"),
        custom_objects={
            "my_l1_regularizer": my_l1_regularizer,
            "my_positive_weights": my_positive_weights,
            "my_glorot_initializer": my_glorot_initializer,
            "my_softplus": my_softplus,
        })
    np.testing.assert_allclose(model.predict(X_test, verbose=0), pred, rtol=1e-5, atol=1e-6)

    tf.keras.backend.clear_session()
    model = tf.keras.Sequential([
        tf.keras.layers.Dense(16, activation="relu", kernel_initializer="he_normal",
                              input_shape=[8]),
        tf.keras.layers.Dense(1, activation=my_softplus,
                              kernel_regularizer=MyL1Regularizer(0.01),
                              kernel_constraint=my_positive_weights,
                              kernel_initializer=my_glorot_initializer),
    ])
    model.compile(loss="mse", optimizer="nadam", metrics=["mae"])
    model.fit(X_train, y_train, epochs=1, verbose=0)
    W = model.layers[1].get_weights()[0]
    np.testing.assert_allclose(float(model.losses[0]), 0.01 * np.abs(W).sum(), rtol=1e-5)
    model.save(str(tmp_path / "my_model_with_many_custom_parts2.keras"))
    model = tf.keras.models.load_model(
        str(tmp_path / "my_model_with_many_custom_parts2.keras"),
        custom_objects={
            "MyL1Regularizer": MyL1Regularizer,
            "my_positive_weights": my_positive_weights,
            "my_glorot_initializer": my_glorot_initializer,
            "my_softplus": my_softplus,
        })
    W = model.layers[1].get_weights()[0]   # the reloaded MyL1Regularizer(0.01) applies
    np.testing.assert_allclose(float(model.losses[0]), 0.01 * np.abs(W).sum(), rtol=1e-5)


# ----------------------------------------------------------------------------
# Custom metrics
# ----------------------------------------------------------------------------

class HuberMetric(tf.keras.metrics.Metric):
    def __init__(self, threshold=1.0, **kwargs):
        super().__init__(**kwargs)  # handles base args (e.g., dtype)
        self.threshold = threshold
        self.huber_fn = create_huber(threshold)
        self.total = self.add_weight("total", initializer="zeros")
        self.count = self.add_weight("count", initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        sample_metrics = self.huber_fn(y_true, y_pred)
        self.total.assign_add(tf.reduce_sum(sample_metrics))
        self.count.assign_add(tf.cast(tf.size(y_true), tf.float32))

    def result(self):
        return self.total / self.count

    def get_config(self):
        base_config = super().get_config()
        return {**base_config, "threshold": self.threshold}


def test_precision_streaming_and_huber_metric():
    precision = tf.keras.metrics.Precision()
    np.testing.assert_allclose(float(precision([0, 1, 1, 1, 0, 1, 0, 1],
                                               [1, 1, 0, 1, 0, 1, 0, 1])), 0.8)
    np.testing.assert_allclose(float(precision([0, 1, 0, 0, 1, 0, 1, 1],
                                               [1, 0, 1, 1, 0, 0, 0, 0])), 0.5)
    np.testing.assert_allclose(float(precision.result()), 0.5)
    vals = sorted(float(np.ravel(v.numpy())[0]) for v in precision.variables)
    assert vals == [4.0, 4.0]  # true_positives, false_positives
    precision.reset_states()
    assert [float(np.ravel(v.numpy())[0]) for v in precision.variables] == [0.0, 0.0]

    m = HuberMetric(2.)
    # total = 2 * |10 - 2| - 2^2/2 = 14; count = 1; result = 14
    np.testing.assert_allclose(float(m(tf.constant([[2.]]), tf.constant([[10.]]))), 14.0)
    # total = 14 + |1 - 0|^2/2 + (2 * |9.25 - 5| - 2^2/2) = 21; count = 3; result = 7
    np.testing.assert_allclose(float(m(tf.constant([[0.], [5.]]),
                                       tf.constant([[1.], [9.25]]))), 7.0)
    np.testing.assert_allclose(float(m.result()), 7.0)
    assert sorted(float(v.numpy()) for v in m.variables) == [3.0, 21.0]
    m.reset_states()
    assert [float(v.numpy()) for v in m.variables] == [0.0, 0.0]
    m.reset_state()


def test_huber_metric_in_fit_and_save(tmp_path):
    X_train, X_valid, X_test, y_train, y_valid, y_test = _housing_scaled()
    model = _regressor()
    model.compile(loss=create_huber(2.0), optimizer="nadam", metrics=[HuberMetric(2.0)])
    h = model.fit(X_train, y_train, epochs=2, verbose=0)
    assert "huber_metric" in h.history
    # evaluate: the metric over the whole set equals the NumPy Huber mean
    loss, metric = model.evaluate(X_test, y_test, verbose=0)
    pred = model.predict(X_test, verbose=0)[:, 0]
    np.testing.assert_allclose(metric, _np_huber(y_test, pred, 2.0).mean(), rtol=1e-4)
    np.testing.assert_allclose(loss, metric, rtol=1e-4)

    model.save(str(tmp_path / "my_model_with_a_custom_metric.keras"))
    model = tf.keras.models.load_model(
        str(tmp_path / "my_model_with_a_custom_metric.keras"),
        custom_objects={"huber_fn": create_huber(2.0), "HuberMetric": HuberMetric})
    model.fit(X_train, y_train, epochs=1, verbose=0)
    assert model.metrics[-1].threshold == 2.0


def test_huber_metric_subclass_of_mean_weighted_metrics():
    class HuberMetric(tf.keras.metrics.Mean):
        def __init__(self, threshold=1.0, name='HuberMetric', dtype=None):
            self.threshold = threshold
            self.huber_fn = create_huber(threshold)
            super().__init__(name=name, dtype=dtype)

        def update_state(self, y_true, y_pred, sample_weight=None):
            metric = self.huber_fn(y_true, y_pred)
            super(HuberMetric, self).update_state(metric, sample_weight)

        def get_config(self):
            base_config = super().get_config()
            return {**base_config, "threshold": self.threshold}

    X_train, _, _, y_train, _, _ = _housing_scaled()
    model = _regressor()
    model.compile(loss=tf.keras.losses.Huber(2.0), optimizer="nadam",
                  weighted_metrics=[HuberMetric(2.0)])
    sample_weight = np.random.rand(len(y_train))
    history = model.fit(X_train, y_train, epochs=2, sample_weight=sample_weight, verbose=0)
    # Keras: the loss is sum(w * l) / n, the weighted metric sum(w * l) / sum(w); the book
    # compares loss with HuberMetric * mean(w)
    np.testing.assert_allclose(history.history["loss"][0],
                               history.history["HuberMetric"][0] * sample_weight.mean(),
                               rtol=1e-3)


# ----------------------------------------------------------------------------
# Custom layers
# ----------------------------------------------------------------------------

class MyDense(tf.keras.layers.Layer):
    def __init__(self, units, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.activation = tf.keras.activations.get(activation)

    def build(self, batch_input_shape):
        self.kernel = self.add_weight(
            name="kernel", shape=[batch_input_shape[-1], self.units],
            initializer="he_normal")
        self.bias = self.add_weight(
            name="bias", shape=[self.units], initializer="zeros")
        super().build(batch_input_shape)  # must be at the end

    def call(self, X):
        return self.activation(X @ self.kernel + self.bias)

    def compute_output_shape(self, batch_input_shape):
        return tf.TensorShape(batch_input_shape.as_list()[:-1] + [self.units])

    def get_config(self):
        base_config = super().get_config()
        return {**base_config, "units": self.units,
                "activation": tf.keras.activations.serialize(self.activation)}


class MyMultiLayer(tf.keras.layers.Layer):
    def call(self, X):
        X1, X2 = X
        return X1 + X2, X1 * X2, X1 / X2

    def compute_output_shape(self, batch_input_shape):
        batch_input_shape1, batch_input_shape2 = batch_input_shape
        return [batch_input_shape1, batch_input_shape1, batch_input_shape1]


class MyGaussianNoise(tf.keras.layers.Layer):
    def __init__(self, stddev, **kwargs):
        super().__init__(**kwargs)
        self.stddev = stddev

    def call(self, X, training=False):
        if training:
            noise = tf.random.normal(tf.shape(X), stddev=self.stddev)
            return X + noise
        else:
            return X

    def compute_output_shape(self, batch_input_shape):
        return batch_input_shape


def test_lambda_layer_and_my_dense(tmp_path):
    exponential_layer = tf.keras.layers.Lambda(lambda x: tf.exp(x))
    np.testing.assert_allclose(exponential_layer(np.array([-1., 0., 1.], np.float32)),
                               np.exp([-1., 0., 1.]), rtol=1e-6)

    X_train, X_valid, X_test, y_train, y_valid, y_test = _housing_scaled()
    model = tf.keras.Sequential([
        MyDense(16, activation="relu", input_shape=X_train.shape[1:]),
        MyDense(1)
    ])
    assert model.layers[0].compute_output_shape(tf.TensorShape([None, 8])).as_list() == \
        [None, 16]
    model.compile(loss="mse", optimizer="nadam")
    h = model.fit(X_train, y_train, epochs=3, validation_data=(X_valid, y_valid), verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0]
    W1, b1, W2, b2 = model.get_weights()
    ref = np.maximum(X_test @ W1 + b1, 0) @ W2 + b2
    pred = model.predict(X_test, verbose=0)
    np.testing.assert_allclose(pred, ref, rtol=1e-4, atol=1e-5)
    # gradient of the MSE w.r.t. the first kernel, vs NumPy
    xb, yb = X_test[:10].astype(np.float32), y_test[:10].astype(np.float32)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(xb)[:, 0] - yb))
    gW1 = tape.gradient(loss, model.layers[0].kernel).numpy()
    z1 = xb @ W1 + b1
    out = np.maximum(z1, 0) @ W2 + b2
    d_out = 2 * (out[:, 0] - yb)[:, None] / 10
    d_z1 = (d_out @ W2.T) * (z1 > 0)
    np.testing.assert_allclose(gW1, xb.T @ d_z1, rtol=1e-3, atol=1e-5)

    model.save(str(tmp_path / "my_model_with_a_custom_layer.keras"))
    model = tf.keras.models.load_model(str(tmp_path / "my_model_with_a_custom_layer.keras"),
                                       custom_objects={"MyDense": MyDense})
    np.testing.assert_allclose(model.predict(X_test, verbose=0), pred, rtol=1e-5, atol=1e-6)


def test_my_multi_layer_and_gaussian_noise():
    inputs1 = tf.keras.layers.Input(shape=[2])
    inputs2 = tf.keras.layers.Input(shape=[2])
    outs = MyMultiLayer()((inputs1, inputs2))
    assert len(outs) == 3 and all(tuple(o.shape) == (None, 2) for o in outs)
    X1, X2 = np.array([[3., 6.], [2., 7.]]), np.array([[6., 12.], [4., 3.]])
    s, p, d = MyMultiLayer()((X1, X2))
    np.testing.assert_allclose(s, X1 + X2)
    np.testing.assert_allclose(p, X1 * X2)
    np.testing.assert_allclose(d, X1 / X2, rtol=1e-6)

    def split_data(data):
        columns_count = data.shape[-1]
        half = columns_count // 2
        return data[:, :half], data[:, half:]

    X_train, X_valid, X_test, y_train, y_valid, y_test = _housing_scaled()
    X_train_scaled_A, X_train_scaled_B = split_data(X_train)
    X_valid_scaled_A, X_valid_scaled_B = split_data(X_valid)
    X_test_scaled_A, X_test_scaled_B = split_data(X_test)
    input_A = tf.keras.layers.Input(shape=X_train_scaled_A.shape[-1])
    input_B = tf.keras.layers.Input(shape=X_train_scaled_B.shape[-1])
    hidden_A, hidden_B = MyMultiLayer()((input_A, input_B))[:2]
    hidden_A = tf.keras.layers.Dense(16, activation='selu')(hidden_A)
    hidden_B = tf.keras.layers.Dense(16, activation='selu')(hidden_B)
    concat = tf.keras.layers.Concatenate()((hidden_A, hidden_B))
    output = tf.keras.layers.Dense(1)(concat)
    model = tf.keras.Model(inputs=[input_A, input_B], outputs=[output])
    model.compile(loss='mse', optimizer='nadam')
    h = model.fit((X_train_scaled_A, X_train_scaled_B), y_train, epochs=3,
                  validation_data=((X_valid_scaled_A, X_valid_scaled_B), y_valid), verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0]
    assert model.predict((X_test_scaled_A, X_test_scaled_B), verbose=0).shape == (100, 1)

    noise = MyGaussianNoise(stddev=1.0)
    x = np.zeros((20000, 4), np.float32)
    np.testing.assert_array_equal(noise(x), x)
    out = noise(x, training=True).numpy()
    assert abs(out.mean()) < 0.03 and abs(out.std() - 1.0) < 0.03
    model = tf.keras.Sequential([MyGaussianNoise(stddev=1.0, input_shape=[8]),
                                 tf.keras.layers.Dense(16, activation="relu"),
                                 tf.keras.layers.Dense(1)])
    model.compile(loss="mse", optimizer="nadam")
    model.fit(X_train, y_train, epochs=1, verbose=0)
    p1 = model.predict(X_test, verbose=0)
    np.testing.assert_array_equal(p1, model.predict(X_test, verbose=0))  # no noise


# ----------------------------------------------------------------------------
# Custom models
# ----------------------------------------------------------------------------

class ResidualBlock(tf.keras.layers.Layer):
    def __init__(self, n_layers, n_neurons, **kwargs):
        super().__init__(**kwargs)
        self.hidden = [tf.keras.layers.Dense(n_neurons, activation="relu",
                                             kernel_initializer="he_normal")
                       for _ in range(n_layers)]

    def call(self, inputs):
        Z = inputs
        for layer in self.hidden:
            Z = layer(Z)
        return inputs + Z


class ResidualRegressor(tf.keras.Model):
    def __init__(self, output_dim, **kwargs):
        super().__init__(**kwargs)
        self.hidden1 = tf.keras.layers.Dense(16, activation="relu",
                                             kernel_initializer="he_normal")
        self.block1 = ResidualBlock(2, 16)
        self.block2 = ResidualBlock(2, 16)
        self.out = tf.keras.layers.Dense(output_dim)

    def call(self, inputs):
        Z = self.hidden1(inputs)
        for _ in range(1 + 3):
            Z = self.block1(Z)
        Z = self.block2(Z)
        return self.out(Z)


def test_residual_regressor(tmp_path):
    X_train, X_valid, X_test, y_train, y_valid, y_test = _housing_scaled()
    model = ResidualRegressor(1)
    model.compile(loss="mse", optimizer="nadam")
    history = model.fit(X_train, y_train, epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    score = model.evaluate(X_test, y_test, verbose=0)
    assert np.isfinite(score)
    # weights: hidden1 (2) + block1 (4) + block2 (4) + out (2)
    assert len(model.trainable_weights) == 12
    ws = {id(w): w.numpy() for w in model.weights}

    def dense(layer, z, relu=True):
        o = z @ ws[id(layer.kernel)] + ws[id(layer.bias)]
        return np.maximum(o, 0) if relu else o

    def block(b, z):
        zz = z
        for l in b.hidden:
            zz = dense(l, zz)
        return z + zz

    Z = dense(model.hidden1, X_test[:7])
    for _ in range(4):
        Z = block(model.block1, Z)
    Z = block(model.block2, Z)
    ref = dense(model.out, Z, relu=False)
    pred = model.predict(X_test[:7], verbose=0)
    np.testing.assert_allclose(pred, ref, rtol=1e-4, atol=1e-5)

    model.save(str(tmp_path / "my_custom_model"), save_format="tf")
    model = tf.keras.models.load_model(str(tmp_path / "my_custom_model"))
    np.testing.assert_allclose(model.predict(X_test[:7], verbose=0), pred, rtol=1e-5,
                               atol=1e-6)
    history = model.fit(X_train, y_train, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])

    # the same architecture as a Sequential model with a shared block
    block1 = ResidualBlock(2, 16)
    model = tf.keras.Sequential([
        tf.keras.layers.Dense(16, activation="relu", kernel_initializer="he_normal"),
        block1, block1, block1, block1,
        ResidualBlock(2, 16),
        tf.keras.layers.Dense(1)
    ])
    model.compile(loss="mse", optimizer="nadam")
    model.fit(X_train, y_train, epochs=1, verbose=0)
    assert len(model.trainable_weights) == 12


def test_reconstructing_regressor_add_loss_and_metric():
    class ReconstructingRegressor(tf.keras.Model):
        def __init__(self, output_dim, **kwargs):
            super().__init__(**kwargs)
            self.hidden = [tf.keras.layers.Dense(16, activation="relu",
                                                 kernel_initializer="he_normal")
                           for _ in range(3)]
            self.out = tf.keras.layers.Dense(output_dim)
            self.reconstruction_mean = tf.keras.metrics.Mean(
                name="reconstruction_error")

        def build(self, batch_input_shape):
            n_inputs = batch_input_shape[-1]
            self.reconstruct = tf.keras.layers.Dense(n_inputs)
            super().build(batch_input_shape)

        def call(self, inputs, training=None):
            Z = inputs
            for layer in self.hidden:
                Z = layer(Z)
            reconstruction = self.reconstruct(Z)
            recon_loss = tf.reduce_mean(tf.square(reconstruction - inputs))
            self.add_loss(0.05 * recon_loss)
            if training:
                result = self.reconstruction_mean(recon_loss)
                self.add_metric(result)
            return self.out(Z)

    X_train, X_valid, X_test, y_train, y_valid, y_test = _housing_scaled()
    model = ReconstructingRegressor(1)
    model.compile(loss="mse", optimizer="nadam")
    history = model.fit(X_train, y_train, epochs=3, verbose=0)
    assert "reconstruction_error" in history.history
    r = history.history["reconstruction_error"]
    assert r[-1] < r[0]
    assert history.history["loss"][-1] < history.history["loss"][0]
    y_pred = model.predict(X_test, verbose=0)
    assert y_pred.shape == (100, 1)

    # evaluate's loss = MSE + 0.05 * reconstruction MSE, computed in NumPy
    ws = model.get_weights()
    layers = model.hidden + [model.reconstruct, model.out]
    wmap = {id(w): w.numpy() for w in model.weights}
    Z = X_test
    for l in model.hidden:
        Z = np.maximum(Z @ wmap[id(l.kernel)] + wmap[id(l.bias)], 0)
    rec = Z @ wmap[id(model.reconstruct.kernel)] + wmap[id(model.reconstruct.bias)]
    out = Z @ wmap[id(model.out.kernel)] + wmap[id(model.out.bias)]
    assert len(ws) == 2 * len(layers)
    np.testing.assert_allclose(out, y_pred, rtol=1e-4, atol=1e-5)
    # evaluate averages per-batch losses (the add_loss term is per batch): use one batch
    ev = model.evaluate(X_test, y_test, batch_size=100, verbose=0)
    ev = ev[0] if isinstance(ev, list) else ev
    ref = np.mean((out[:, 0] - y_test) ** 2) + 0.05 * np.mean((rec - X_test) ** 2)
    np.testing.assert_allclose(ev, ref, rtol=1e-4)


# ----------------------------------------------------------------------------
# Computing gradients using autodiff
# ----------------------------------------------------------------------------

def f(w1, w2):
    return 3 * w1 ** 2 + 2 * w1 * w2


def test_gradient_tape_basics():
    w1, w2 = 5, 3
    eps = 1e-6
    assert abs((f(w1 + eps, w2) - f(w1, w2)) / eps - 36) < 1e-4
    assert abs((f(w1, w2 + eps) - f(w1, w2)) / eps - 10) < 1e-4

    w1, w2 = tf.Variable(5.), tf.Variable(3.)
    with tf.GradientTape() as tape:
        z = f(w1, w2)
    gradients = tape.gradient(z, [w1, w2])
    assert [float(g) for g in gradients] == [36.0, 10.0]
    with pytest.raises(RuntimeError):
        tape.gradient(z, w2)  # the tape was used up

    with tf.GradientTape(persistent=True) as tape:
        z = f(w1, w2)
    dz_dw1 = tape.gradient(z, w1)
    dz_dw2 = tape.gradient(z, w2)  # works now!
    assert (float(dz_dw1), float(dz_dw2)) == (36.0, 10.0)
    del tape

    c1, c2 = tf.constant(5.), tf.constant(3.)
    with tf.GradientTape() as tape:
        z = f(c1, c2)
    assert tape.gradient(z, [c1, c2]) == [None, None]
    with tf.GradientTape() as tape:
        tape.watch(c1)
        tape.watch(c2)
        z = f(c1, c2)
    assert [float(g) for g in tape.gradient(z, [c1, c2])] == [36.0, 10.0]

    with tf.GradientTape() as tape:
        z1 = f(w1, w2 + 2.)
        z2 = f(w1, w2 + 5.)
        z3 = f(w1, w2 + 7.)
    assert [float(g) for g in tape.gradient([z1, z2, z3], [w1, w2])] == [136.0, 30.0]

    with tf.GradientTape(persistent=True) as tape:
        z1 = f(w1, w2 + 2.)
        z2 = f(w1, w2 + 5.)
        z3 = f(w1, w2 + 7.)
    total = sum(tape.gradient(z, [w1, w2])[0] for z in (z1, z2, z3))
    assert float(total) == 136.0
    del tape

    with tf.GradientTape(persistent=True) as hessian_tape:
        with tf.GradientTape() as jacobian_tape:
            z = f(w1, w2)
        jacobians = jacobian_tape.gradient(z, [w1, w2])
    hessians = [hessian_tape.gradient(jacobian, [w1, w2]) for jacobian in jacobians]
    del hessian_tape
    assert [float(h) for h in hessians[0]] == [6.0, 2.0]
    assert float(hessians[1][0]) == 2.0 and hessians[1][1] is None


def test_stop_gradient_and_numerical_issues():
    def f(w1, w2):
        return 3 * w1 ** 2 + tf.stop_gradient(2 * w1 * w2)

    w1, w2 = tf.Variable(5.), tf.Variable(3.)
    with tf.GradientTape() as tape:
        z = f(w1, w2)  # the forward pass is not affected by stop_gradient()
    assert float(z) == 105.0
    g = tape.gradient(z, [w1, w2])
    assert float(g[0]) == 30.0 and g[1] is None

    x = tf.Variable(1e-50)
    with tf.GradientTape() as tape:
        z = tf.sqrt(x)
    assert np.isinf(tape.gradient(z, [x])[0].numpy())

    np.testing.assert_allclose(float(tf.math.log(tf.exp(tf.constant(30., dtype=tf.float32))
                                                 + 1.)), 30.0, rtol=1e-6)
    x = tf.Variable([1.0e30])
    with tf.GradientTape() as tape:
        z = my_softplus(x)
    assert np.isnan(tape.gradient(z, [x])[0].numpy()).all()


def test_custom_gradient_my_softplus():
    def my_softplus_stable(z):
        return tf.math.log(1 + tf.exp(-tf.abs(z))) + tf.maximum(0., z)

    x = tf.Variable([1.0e30])
    with tf.GradientTape() as tape:
        z = my_softplus_stable(x)
    np.testing.assert_allclose(z.numpy(), [1e30], rtol=1e-6)
    # no NaN now; (the gradient of max(0, z) is 1 and of log(1+exp(-|z|)) is ~0)
    assert np.isfinite(tape.gradient(z, [x])[0].numpy()).all()

    @tf.custom_gradient
    def my_softplus(z):
        def my_softplus_gradients(grads):  # grads = backprop'ed from upper layers
            return grads * (1 - 1 / (1 + tf.exp(z)))  # stable grads of softplus

        result = tf.math.log(1 + tf.exp(-tf.abs(z))) + tf.maximum(0., z)
        return result, my_softplus_gradients

    x = tf.Variable([1000.])
    with tf.GradientTape() as tape:
        z = my_softplus(x)
    np.testing.assert_allclose(z.numpy(), [1000.], rtol=1e-7)
    np.testing.assert_array_equal(tape.gradient(z, [x])[0].numpy(), [1.0])

    # at moderate values: softplus and its gradient (the sigmoid) vs NumPy, float64
    xs = np.array([-30., -2., -0.5, 0., 0.5, 3., 40.])
    v = tf.Variable(xs)
    with tf.GradientTape(persistent=True) as tape:
        z = my_softplus(v)
    np.testing.assert_allclose(z.numpy(), np.log(1 + np.exp(-np.abs(xs))) + np.maximum(0, xs),
                               rtol=1e-12)
    np.testing.assert_allclose(z.numpy(), np.logaddexp(0, xs), rtol=2e-3)
    np.testing.assert_allclose(tape.gradient(z, v).numpy(), 1 - 1 / (1 + np.exp(xs)),
                               rtol=1e-12)
    np.testing.assert_allclose(tape.gradient(z, v).numpy(), 1 / (1 + np.exp(-xs)), rtol=2e-3)


# ----------------------------------------------------------------------------
# Custom training loops
# ----------------------------------------------------------------------------

def random_batch(X, y, batch_size=32):
    idx = np.random.randint(len(X), size=batch_size)
    return X[idx], y[idx]


def print_status_bar(step, total, loss, metrics=None):
    metrics = " - ".join([f"{m.name}: {m.result():.4f}" for m in [loss] + (metrics or [])])
    end = "" if step < total else "\n"
    print(f"\r{step}/{total} - " + metrics, end=end)


def test_custom_training_loop(capsys):
    X_train, X_valid, X_test, y_train, y_valid, y_test = _housing_scaled()
    l2_reg = tf.keras.regularizers.l2(0.05)
    model = tf.keras.models.Sequential([
        tf.keras.layers.Dense(16, activation="relu", kernel_initializer="he_normal",
                              kernel_regularizer=l2_reg,
                              kernel_constraint=tf.keras.constraints.max_norm(1.)),
        tf.keras.layers.Dense(1, kernel_regularizer=l2_reg)
    ])
    n_epochs = 3
    batch_size = 32
    n_steps = len(X_train) // batch_size
    optimizer = tf.keras.optimizers.SGD(learning_rate=0.01)
    loss_fn = tf.keras.losses.mean_squared_error
    mean_loss = tf.keras.metrics.Mean(name="mean_loss")
    metrics = [tf.keras.metrics.MeanAbsoluteError()]

    epoch_losses = []
    for epoch in range(1, n_epochs + 1):
        print(f"Epoch {epoch}/{n_epochs}")
        for step in range(1, n_steps + 1):
            X_batch, y_batch = random_batch(X_train, y_train)
            with tf.GradientTape() as tape:
                y_pred = model(X_batch, training=True)
                main_loss = tf.reduce_mean(loss_fn(y_batch, y_pred))
                loss = tf.add_n([main_loss] + model.losses)

            gradients = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(gradients, model.trainable_variables))

            # extra code – if your model has variable constraints
            for variable in model.variables:
                if variable.constraint is not None:
                    variable.assign(variable.constraint(variable))

            mean_loss(loss)
            for metric in metrics:
                metric(y_batch, y_pred)

            print_status_bar(step, n_steps, mean_loss, metrics)

        epoch_losses.append(float(mean_loss.result()))
        for metric in [mean_loss] + metrics:
            metric.reset_states()

    out = capsys.readouterr().out
    assert "Epoch 1/3" in out and f"\r{n_steps}/{n_steps} - mean_loss: " in out
    assert "mean_absolute_error: " in out
    assert epoch_losses[-1] < epoch_losses[0]
    k = model.layers[0].kernel.numpy()
    assert np.sqrt((k ** 2).sum(axis=0)).max() <= 1.0 + 1e-5  # the constraint was applied
    assert model.layers[0].kernel.constraint is not None
    assert model.layers[0].bias.constraint is None

    # one step's regularized loss and gradient against NumPy
    xb, yb = X_test[:8].astype(np.float32), y_test[:8].astype(np.float32)
    W1, b1, W2, b2 = [w.astype(np.float64) for w in model.get_weights()]
    with tf.GradientTape() as tape:
        y_pred = model(xb, training=True)
        main_loss = tf.reduce_mean(loss_fn(yb, y_pred))
        loss = tf.add_n([main_loss] + model.losses)
    gW2 = tape.gradient(loss, model.layers[1].kernel).numpy()
    h = np.maximum(xb @ W1 + b1, 0)
    out = h @ W2 + b2
    ref_loss = np.mean((out[:, 0] - yb) ** 2) + 0.05 * ((W1 ** 2).sum() + (W2 ** 2).sum())
    np.testing.assert_allclose(float(loss), ref_loss, rtol=1e-4)
    ref_gW2 = h.T @ (2 * (out[:, 0] - yb)[:, None] / 8) + 2 * 0.05 * W2
    np.testing.assert_allclose(gW2, ref_gW2, rtol=1e-3, atol=1e-5)


# ----------------------------------------------------------------------------
# TensorFlow functions and graphs
# ----------------------------------------------------------------------------

def test_tf_function_basics_and_retracing(capsys):
    def cube(x):
        return x ** 3

    assert cube(2) == 8
    assert float(cube(tf.constant(2.0))) == 8.0
    tf_cube = tf.function(cube)
    assert int(tf_cube(2)) == 8
    assert float(tf_cube(tf.constant(2.0))) == 8.0

    concrete_function = tf_cube.get_concrete_function(tf.constant(2.0))
    assert float(concrete_function(tf.constant(2.0))) == 8.0
    assert concrete_function is tf_cube.get_concrete_function(tf.constant(2.0))

    # nabi builds no graph: the Python body (print included) runs on every call, so the
    # traces TF would make are counted by experimental_get_tracing_count() instead
    @tf.function
    def tf_cube(x):
        print(f"x = {x}")
        return x ** 3

    result = tf_cube(tf.constant(2.0))
    assert float(result) == 8.0
    assert capsys.readouterr().out.startswith("x = ")
    assert tf_cube.experimental_get_tracing_count() == 1
    result = tf_cube(2)     # new Python value: trace!
    result = tf_cube(3)     # new Python value: trace!
    assert int(result) == 27
    assert tf_cube.experimental_get_tracing_count() == 3
    result = tf_cube(tf.constant([[1., 2.]]))  # New shape: trace!
    result = tf_cube(tf.constant([[3., 4.], [5., 6.]]))  # New shape: trace!
    assert tf_cube.experimental_get_tracing_count() == 5
    result = tf_cube(tf.constant([[7., 8.], [9., 10.]]))  # Same shape: no trace
    assert tf_cube.experimental_get_tracing_count() == 5
    np.testing.assert_array_equal(result, np.array([[7., 8.], [9., 10.]]) ** 3)


def test_tf_function_input_signature():
    @tf.function(input_signature=[tf.TensorSpec([None, 28, 28], tf.float32)])
    def shrink(images):
        return images[:, ::2, ::2]  # drop half the rows and columns

    img_batch_1 = tf.random.uniform(shape=[100, 28, 28])
    img_batch_2 = tf.random.uniform(shape=[50, 28, 28])
    preprocessed_images = shrink(img_batch_1)  # Traces the function.
    assert preprocessed_images.shape == (100, 14, 14)
    np.testing.assert_array_equal(preprocessed_images, img_batch_1.numpy()[:, ::2, ::2])
    preprocessed_images = shrink(img_batch_2)  # Reuses the same concrete function.
    assert preprocessed_images.shape == (50, 14, 14)
    assert shrink.experimental_get_tracing_count() == 1
    img_batch_3 = tf.random.uniform(shape=[2, 2, 2])
    with pytest.raises((TypeError, ValueError)):
        shrink(img_batch_3)  # rejects incompatible inputs


def test_autograph_loops_and_variables():
    @tf.function
    def add_10(x):
        for i in range(10):
            x += 1
        return x

    assert int(add_10(tf.constant(5))) == 15

    @tf.function
    def add_10(x):
        condition = lambda i, x: tf.less(i, 10)
        body = lambda i, x: (tf.add(i, 1), tf.add(x, 1))
        final_i, final_x = tf.while_loop(condition, body, [tf.constant(0), x])
        return final_x

    assert int(add_10(tf.constant(5))) == 15

    @tf.function
    def add_10(x):
        for i in tf.range(10):
            x = x + 1
        return x

    assert int(add_10(tf.constant(5))) == 15
    code = tf.autograph.to_code(add_10.python_function)
    assert isinstance(code, str) and "add_10" in code

    counter = tf.Variable(0)

    @tf.function
    def increment(counter, c=1):
        return counter.assign_add(c)

    increment(counter)  # counter is now equal to 1
    increment(counter)  # counter is now equal to 2
    assert int(counter.numpy()) == 2

    counter = tf.Variable(0)

    @tf.function
    def increment(c=1):
        return counter.assign_add(c)

    increment()
    increment()
    assert int(counter.numpy()) == 2

    class Counter:
        def __init__(self):
            self.counter = tf.Variable(0)

        @tf.function
        def increment(self, c=1):
            return self.counter.assign_add(c)

    c = Counter()
    c.increment()
    c.increment()
    assert int(c.counter.numpy()) == 2

    @tf.function
    def sum_squares(n):
        s = tf.constant(0)
        for i in tf.range(n):
            s += i * i
        return s

    assert int(sum_squares(tf.constant(10))) == sum(i * i for i in range(10))


def test_tf_function_with_keras_and_run_eagerly():
    calls = []

    def my_mse(y_true, y_pred):
        calls.append(1)
        return tf.reduce_mean(tf.square(y_pred - y_true))

    def my_mae(y_true, y_pred):
        return tf.reduce_mean(tf.abs(y_pred - y_true))

    class MyDense2(tf.keras.layers.Layer):
        def __init__(self, units, activation=None, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.activation = tf.keras.activations.get(activation)

        def build(self, input_shape):
            self.kernel = self.add_weight(name='kernel', shape=(input_shape[1], self.units),
                                          initializer='uniform', trainable=True)
            self.biases = self.add_weight(name='bias', shape=(self.units,),
                                          initializer='zeros', trainable=True)
            super().build(input_shape)

        def call(self, X):
            return self.activation(X @ self.kernel + self.biases)

    class MyModel(tf.keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.hidden1 = MyDense2(16, activation="relu")
            self.hidden2 = MyDense2(16, activation="relu")
            self.output_ = MyDense2(1)

        def call(self, input):
            hidden1 = self.hidden1(input)
            hidden2 = self.hidden2(hidden1)
            concat = tf.keras.layers.concatenate([input, hidden2])
            output = self.output_(concat)
            return output

    X_train, X_valid, X_test, y_train, y_valid, y_test = _housing_scaled()
    model = MyModel()
    model.compile(loss=my_mse, optimizer="nadam", metrics=[my_mae])
    h = model.fit(X_train, y_train, epochs=2, validation_data=(X_valid, y_valid), verbose=0)
    assert "my_mae" in h.history and "val_my_mae" in h.history
    assert calls

    model = MyModel(dynamic=True)
    model.compile(loss=my_mse, optimizer="nadam", metrics=[my_mae])
    model.fit(X_train[:64], y_train[:64], epochs=1, verbose=0)

    model = MyModel()
    model.compile(loss=my_mse, optimizer="nadam", metrics=[my_mae], run_eagerly=True)
    model.fit(X_train[:64], y_train[:64], epochs=1, verbose=0)
    # my_mae returns one mean per batch and Keras averages those: one batch of 100 here
    ev = model.evaluate(X_test, y_test, batch_size=100, verbose=0)
    pred = model.predict(X_test, verbose=0)[:, 0]
    np.testing.assert_allclose(ev[1], np.mean(np.abs(pred - y_test)), rtol=1e-4)
    ev = model.evaluate(X_test, y_test, batch_size=32, verbose=0)
    e = np.abs(pred - y_test)
    np.testing.assert_allclose(ev[1], np.mean([e[i:i + 32].mean() for i in range(0, 100, 32)]),
                               rtol=1e-4)


# ----------------------------------------------------------------------------
# Exercise: a custom LayerNormalization
# ----------------------------------------------------------------------------

def test_custom_layer_normalization_exercise():
    class LayerNormalization(tf.keras.layers.Layer):
        def __init__(self, eps=0.001, **kwargs):
            super().__init__(**kwargs)
            self.eps = eps

        def build(self, batch_input_shape):
            self.alpha = self.add_weight(
                name="alpha", shape=batch_input_shape[-1:],
                initializer="ones")
            self.beta = self.add_weight(
                name="beta", shape=batch_input_shape[-1:],
                initializer="zeros")

        def call(self, X):
            mean, variance = tf.nn.moments(X, axes=-1, keepdims=True)
            return self.alpha * (X - mean) / (tf.sqrt(variance + self.eps)) + self.beta

        def get_config(self):
            base_config = super().get_config()
            return {**base_config, "eps": self.eps}

    X = np.random.randn(16, 8).astype(np.float32) * 3 + 1
    custom_layer_norm = LayerNormalization()
    keras_layer_norm = tf.keras.layers.LayerNormalization()
    ref = (X - X.mean(-1, keepdims=True)) / np.sqrt(X.var(-1, keepdims=True) + 0.001)
    np.testing.assert_allclose(custom_layer_norm(X), ref, rtol=1e-4, atol=1e-5)
    err = tf.reduce_mean(tf.keras.losses.MeanAbsoluteError()(
        keras_layer_norm(X), custom_layer_norm(X)))
    assert float(err) < 1e-5

    random_alpha = np.random.rand(X.shape[-1]).astype(np.float32)
    random_beta = np.random.rand(X.shape[-1]).astype(np.float32)
    custom_layer_norm.set_weights([random_alpha, random_beta])
    keras_layer_norm.set_weights([random_alpha, random_beta])
    np.testing.assert_allclose(custom_layer_norm(X), keras_layer_norm(X), rtol=1e-4,
                               atol=1e-5)


# ----------------------------------------------------------------------------
# The pieces nabi gained for this notebook, beyond the notebook's own calls
# ----------------------------------------------------------------------------

def test_sets_against_python_sets():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 6, size=(2, 3, 5))
    b = rng.integers(0, 6, size=(2, 3, 4))
    for op, fn in [(tf.sets.union, lambda x, y: x | y),
                   (tf.sets.intersection, lambda x, y: x & y),
                   (tf.sets.difference, lambda x, y: x - y)]:
        out = op(tf.constant(a), tf.constant(b))
        dense = tf.sparse.to_dense(out, default_value=-1).numpy()
        rows = [sorted(fn(set(x), set(y))) for x, y in zip(a.reshape(6, 5).tolist(),
                                                          b.reshape(6, 4).tolist())]
        width = max(len(r) for r in rows)
        ref = np.array([r + [-1] * (width - len(r)) for r in rows]).reshape(2, 3, width)
        np.testing.assert_array_equal(dense, ref)
    np.testing.assert_array_equal(tf.sets.difference(a, b, aminusb=False).values,
                                  np.concatenate([sorted(set(y) - set(x)) for x, y in zip(
                                      a.reshape(6, 5).tolist(), b.reshape(6, 4).tolist())]))
    np.testing.assert_array_equal(tf.sets.size(a),
                                  [[len(set(r)) for r in m] for m in a.tolist()])
    # a SparseTensor holds only its present values
    sp = tf.SparseTensor(indices=[[0, 0], [0, 2], [1, 1]], values=[7, 3, 7], dense_shape=[2, 4])
    np.testing.assert_array_equal(tf.sets.size(sp), [2, 1])
    np.testing.assert_array_equal(tf.sparse.to_dense(tf.sets.union(sp, [[3, 3], [1, 1]])),
                                  [[3, 7], [1, 7]])
    with pytest.raises(ValueError, match=r"sets.union.*batch shape"):
        tf.sets.union(tf.constant([[1, 2]]), tf.constant([[1], [2]]))
    with pytest.raises(ValueError, match="rank >= 2"):
        tf.sets.size(tf.constant([1, 2]))


def test_queues_padding_shuffle_and_errors():
    q = tf.queue.FIFOQueue(2, tf.float32, shapes=[[2]])
    q.enqueue(tf.constant([1., 2.]))
    q.enqueue([3., 4.])
    with pytest.raises(ValueError, match="full"):
        q.enqueue([5., 6.])
    with pytest.raises(ValueError, match="component 0 has shape"):
        tf.queue.FIFOQueue(3, tf.float32, shapes=[[2]]).enqueue([1., 2., 3.])
    np.testing.assert_array_equal(q.dequeue_many(2), [[1., 2.], [3., 4.]])
    with pytest.raises(ValueError, match="block forever"):
        q.dequeue()
    q.close()
    with pytest.raises(tf.errors.OutOfRangeError):
        q.dequeue()

    pq = tf.queue.PaddingFIFOQueue(5, [tf.int32], shapes=[[None]])
    pq.enqueue([[1, 2, 3]])
    pq.enqueue([[4]])
    np.testing.assert_array_equal(pq.dequeue_many(2)[0], [[1, 2, 3], [4, 0, 0]])

    rq = tf.queue.RandomShuffleQueue(10, 2, tf.int32, seed=1)
    rq.enqueue_many([np.arange(6, dtype=np.int32)])
    got = [int(rq.dequeue()) for _ in range(4)]
    with pytest.raises(ValueError, match="min_after_dequeue"):
        rq.dequeue()
    rq.close()
    got += [int(rq.dequeue()) for _ in range(2)]
    assert sorted(got) == list(range(6))


def test_variable_scatter_methods_and_indexed_slices():
    v = tf.Variable(np.arange(12, dtype=np.float32).reshape(4, 3))
    ref = np.arange(12, dtype=np.float32).reshape(4, 3)
    v.scatter_nd_add([[0, 1], [3, 2], [0, 1]], [1., 2., 3.])
    ref[0, 1] += 4.
    ref[3, 2] += 2.
    np.testing.assert_array_equal(v.numpy(), ref)
    v.scatter_nd_sub([[2]], [[1., 1., 1.]])   # a whole row
    ref[2] -= 1.
    np.testing.assert_array_equal(v.numpy(), ref)
    delta = tf.IndexedSlices(values=[[10., 20., 30.]], indices=[1])
    v.scatter_add(delta)
    ref[1] += [10., 20., 30.]
    np.testing.assert_array_equal(v.numpy(), ref)
    v.scatter_sub(delta)
    ref[1] -= [10., 20., 30.]
    np.testing.assert_array_equal(v.numpy(), ref)
    s = tf.IndexedSlices(values=[[1., 2.], [3., 4.], [5., 6.]], indices=[2, 0, 2],
                         dense_shape=[3, 2])
    np.testing.assert_array_equal(s.to_dense(), [[3., 4.], [0., 0.], [6., 8.]])
    assert s.shape == (3, 2) and s.dtype == tf.float32
    with pytest.raises(ValueError, match="IndexedSlices"):
        tf.IndexedSlices(values=[[1., 2.]], indices=[0, 1])


def test_sparse_dense_cwise_and_dtype_errors():
    s = tf.SparseTensor(indices=[[0, 1], [1, 0], [2, 3]], values=[1., 2., 3.],
                        dense_shape=[3, 4])
    d = np.arange(4, dtype=np.float32) + 1
    ref = np.zeros((3, 4), np.float32)
    ref[0, 1], ref[1, 0], ref[2, 3] = 1., 2., 3.
    np.testing.assert_array_equal(tf.sparse.to_dense(s * tf.constant(d)), ref * d)
    np.testing.assert_array_equal(tf.sparse.to_dense(s / 2.), ref / 2)
    np.testing.assert_array_equal(tf.sparse.to_dense(3. * s), ref * 3)
    with pytest.raises(ValueError, match="does not broadcast"):
        s * tf.constant([1., 2.])
    # a dtype mismatch is TF's InvalidArgumentError and still a TypeError
    with pytest.raises(TypeError):
        tf.constant(1.0) * tf.constant(2)
    # Keras 2 backend functions the notebook uses
    K = tf.keras.backend
    t = np.array([[1., 2.], [3., 4.]], np.float32)
    np.testing.assert_array_equal(K.transpose(t), t.T)
    np.testing.assert_array_equal(K.dot(t, t), t @ t)
    np.testing.assert_array_equal(K.clip(t, 1.5, 3.5), np.clip(t, 1.5, 3.5))
    np.testing.assert_array_equal(K.concatenate([t, t]), np.concatenate([t, t], -1))
    # tensor arguments to the random ops (my_glorot_initializer's stddev=tf.sqrt(...))
    tf.random.set_seed(3)
    x = tf.random.normal([20000], mean=tf.constant(1.0), stddev=tf.sqrt(4.0)).numpy()
    assert x.dtype == np.float32 and abs(x.mean() - 1) < 0.05 and abs(x.std() - 2) < 0.05
    u = tf.random.uniform([20000], minval=tf.constant(-1.), maxval=tf.constant(3.)).numpy()
    assert u.min() >= -1 and u.max() < 3 and abs(u.mean() - 1) < 0.05


def test_exercise_custom_loop_with_two_optimizers():
    """Exercise 13: lower layers with SGD, upper layers with Nadam, one persistent tape."""
    rng = np.random.default_rng(0)
    y_train = rng.integers(0, 10, size=128)
    X_train = rng.random((128, 28, 28)).astype(np.float32) * 0.3
    for i, k in enumerate(y_train):
        X_train[i, 2 * k:2 * k + 6, 4:24] = 1.0
    X_valid, y_valid = X_train[:32], y_train[:32]

    lower_layers = tf.keras.Sequential([
        tf.keras.layers.Flatten(input_shape=[28, 28]),
        tf.keras.layers.Dense(32, activation="relu"),
    ])
    upper_layers = tf.keras.Sequential([
        tf.keras.layers.Dense(10, activation="softmax"),
    ])
    model = tf.keras.Sequential([lower_layers, upper_layers])
    lower_optimizer = tf.keras.optimizers.SGD(learning_rate=1e-2)
    upper_optimizer = tf.keras.optimizers.Nadam(learning_rate=1e-2)
    n_epochs, batch_size = 3, 32
    n_steps = len(X_train) // batch_size
    loss_fn = tf.keras.losses.sparse_categorical_crossentropy
    mean_loss = tf.keras.metrics.Mean()
    metrics = [tf.keras.metrics.SparseCategoricalAccuracy()]

    w_lower = lower_layers.get_weights()[0].copy()
    val_losses = []
    for epoch in range(1, n_epochs + 1):
        for step in range(1, n_steps + 1):
            X_batch, y_batch = random_batch(X_train, y_train)
            with tf.GradientTape(persistent=True) as tape:
                y_pred = model(X_batch)
                main_loss = tf.reduce_mean(loss_fn(y_batch, y_pred))
                loss = tf.add_n([main_loss] + model.losses)
            for layers, optimizer in ((lower_layers, lower_optimizer),
                                      (upper_layers, upper_optimizer)):
                gradients = tape.gradient(loss, layers.trainable_variables)
                optimizer.apply_gradients(zip(gradients, layers.trainable_variables))
            del tape
            for variable in model.variables:
                if variable.constraint is not None:
                    variable.assign(variable.constraint(variable))
            mean_loss(loss)
            for metric in metrics:
                metric(y_batch, y_pred)
        y_pred = model(X_valid)
        val_losses.append(np.mean(loss_fn(y_valid, y_pred)))
        val_acc = np.mean(tf.keras.metrics.sparse_categorical_accuracy(
            tf.constant(y_valid, dtype=np.float32), y_pred))
        assert 0 <= val_acc <= 1
        for metric in [mean_loss] + metrics:
            metric.reset_states()
    assert val_losses[-1] < val_losses[0]
    assert int(lower_optimizer.iterations.numpy()) == n_epochs * n_steps
    assert int(upper_optimizer.iterations.numpy()) == n_epochs * n_steps
    assert not np.array_equal(lower_layers.get_weights()[0], w_lower)
    # the validation loss is the NumPy cross-entropy of the predictions
    p = np.asarray(model(X_valid), np.float64)
    np.testing.assert_allclose(val_losses[-1], -np.mean(np.log(p[np.arange(32), y_valid])),
                               rtol=1e-4)
