"""The layer-tree caches behind fit/evaluate's per-epoch work (Model.metrics, the add_metric
objects, the callable losses, Layer._flatten_layers): every change of a tree between or
during fits shows, checked against values computed here with NumPy."""
import copy
import pickle

import numpy as np
import pytest

import nabi as tf
from nabi import keras
from nabi.keras import layers


@pytest.fixture(autouse=True)
def _fresh_names():
    keras.backend.clear_session()
    yield


X = np.array([[0.5, -1.0], [2.0, 0.25], [-1.5, 1.0], [0.0, 3.0]], np.float32)
Y = np.array([[1.0], [0.0], [2.0], [-1.0]], np.float32)


def _mse(model, x=X, y=Y):
    """The model's MSE on (x, y) from its current weights (a one-Dense-per-step chain)."""
    h = x.astype(np.float64)
    for layer in model._flatten_layers()[1:]:
        if isinstance(layer, layers.Dense):
            k, b = layer.get_weights()
            h = h @ k + b
    return float(np.mean((h - y) ** 2))


class Chain(keras.Model):
    """Dense layers called in attribute order d0, d1, ... (those present at call time)."""

    def __init__(self):
        super().__init__()
        self.d0 = layers.Dense(1)

    def call(self, x):
        i = 0
        while hasattr(self, f"d{i}"):
            x = getattr(self, f"d{i}")(x)
            i += 1
        return x


def _frozen_sgd():
    return keras.optimizers.SGD(learning_rate=0.0)   # weights stay: losses are predictable


def test_metric_attribute_set_and_deleted_after_fit():
    m = Chain()
    m.compile(_frozen_sgd(), "mse")
    m.fit(X, Y, batch_size=4, epochs=2, verbose=0)
    assert [x.name for x in m.metrics] == ["loss"]
    extra = keras.metrics.Mean(name="extra")
    m.extra = extra
    assert [x.name for x in m.metrics] == ["loss", "extra"]
    assert "extra" in m.metrics_names
    extra.update_state(5.0)
    m.fit(X, Y, batch_size=4, epochs=1, verbose=0)   # reset at the epoch's start
    assert float(extra.result()) == 0.0
    other = keras.metrics.Sum(name="other")
    m.extra = other                                     # replaced
    assert [x.name for x in m.metrics] == ["loss", "other"]
    del m.extra
    assert [x.name for x in m.metrics] == ["loss"]
    # on a sub-layer too
    m.d0.tracker = keras.metrics.Mean(name="inner")
    assert [x.name for x in m.metrics] == ["loss", "inner"]
    assert [x.name for x in m.d0.metrics] == ["inner"]


def test_layer_added_to_subclassed_model_between_fits():
    m = Chain()
    m.compile(_frozen_sgd(), "mse")
    h1 = m.fit(X, Y, batch_size=4, epochs=1, verbose=0)
    np.testing.assert_allclose(h1.history["loss"][0], _mse(m), rtol=1e-5)
    assert len(m._flatten_layers()) == 2 and len(m.weights) == 2
    m.d1 = layers.Dense(1)
    m.d1.build((None, 1))
    assert [l.name for l in m._flatten_layers()[1:]] == [m.d0.name, m.d1.name]
    assert len(m.weights) == 4
    k, b = m.d1.get_weights()
    m.d1.set_weights([k * 0 + 2.0, b * 0 + 0.5])
    h2 = m.evaluate(X, Y, batch_size=4, verbose=0)
    np.testing.assert_allclose(h2, _mse(m), rtol=1e-5)
    # a layer that reports a metric, added between fits, shows in the next fit's logs
    m.d2 = MeanOfInput()
    h3 = m.fit(X, Y, batch_size=4, epochs=1, verbose=0)
    k0, b0 = m.d0.get_weights()
    k1, b1 = m.d1.get_weights()
    expect = ((X @ k0 + b0) @ k1 + b1).mean()
    np.testing.assert_allclose(h3.history["mean_in"][0], expect, rtol=1e-5)


class MeanOfInput(layers.Layer):
    def call(self, x):
        self.add_metric(tf.reduce_mean(x), name="mean_in")
        return x


def test_add_metric_inside_call_sequential_and_reset_per_epoch():
    m = keras.Sequential([layers.Dense(3, input_shape=(2,)), MeanOfInput(), layers.Dense(1)])
    m.compile(_frozen_sgd(), "mse")
    h = m.fit(X, Y, batch_size=2, epochs=2, verbose=0)
    k, b = m.layers[0].get_weights()
    expect = (X @ k + b).mean()    # two equal batches: the mean of the batch means
    np.testing.assert_allclose(h.history["mean_in"], [expect, expect], rtol=1e-5)
    assert "mean_in" in [x.name for x in m.metrics]
    r = m.evaluate(X[:2], Y[:2], batch_size=2, verbose=0, return_dict=True)
    np.testing.assert_allclose(r["mean_in"], (X[:2] @ k + b).mean(), rtol=1e-5)


def test_sequential_add_and_pop_between_fits():
    m = keras.Sequential([layers.Dense(2, input_shape=(2,))])
    m.compile(_frozen_sgd(), "mse")
    m.fit(X, np.zeros((4, 2), np.float32), batch_size=4, epochs=1, verbose=0)
    assert len(m._flatten_layers()) == 2
    m.add(layers.Dense(1))
    m.compile(_frozen_sgd(), "mse")
    h = m.fit(X, Y, batch_size=4, epochs=1, verbose=0)
    assert len(m._flatten_layers()) == 3 and len(m.weights) == 4
    np.testing.assert_allclose(h.history["loss"][0], _mse(m), rtol=1e-5)
    m.pop()
    assert len(m._flatten_layers()) == 2 and len(m.weights) == 2


def test_trainable_flipped_between_fits():
    m = keras.Sequential([layers.Dense(3, input_shape=(2,)), layers.Dense(1)])
    m.compile(keras.optimizers.SGD(0.05), "mse")
    m.fit(X, Y, batch_size=4, epochs=1, verbose=0)
    m.layers[0].trainable = False
    m.compile(keras.optimizers.SGD(0.05), "mse")
    w0 = [w.copy() for w in m.layers[0].get_weights()]
    k1, b1 = [w.copy() for w in m.layers[1].get_weights()]
    m.fit(X, Y, batch_size=4, epochs=1, verbose=0)
    for a, b in zip(w0, m.layers[0].get_weights()):
        np.testing.assert_array_equal(a, b)
    # the one SGD step on the second layer, from NumPy
    h = X @ w0[0] + w0[1]
    d = 2 * (h @ k1 + b1 - Y) / Y.size
    np.testing.assert_allclose(m.layers[1].get_weights()[0], k1 - 0.05 * h.T @ d, rtol=1e-5)
    np.testing.assert_allclose(m.layers[1].get_weights()[1], b1 - 0.05 * d.sum(0), rtol=1e-5)
    m.layers[0].trainable = True
    m.compile(keras.optimizers.SGD(0.05), "mse")
    m.fit(X, Y, batch_size=4, epochs=1, verbose=0)
    assert not np.array_equal(w0[0], m.layers[0].get_weights()[0])


def test_callable_loss_added_between_fits():
    m = Chain()
    m.compile(_frozen_sgd(), "mse")
    h1 = m.fit(X, Y, batch_size=4, epochs=1, verbose=0)
    m.add_loss(lambda: tf.constant(3.0))
    h2 = m.fit(X, Y, batch_size=4, epochs=1, verbose=0)
    np.testing.assert_allclose(h2.history["loss"][0], h1.history["loss"][0] + 3.0, rtol=1e-5)
    # on a sub-model too
    outer = keras.Sequential([keras.Input((2,)), m])
    outer.compile(_frozen_sgd(), "mse")
    h3 = outer.fit(X, Y, batch_size=4, epochs=1, verbose=0)
    np.testing.assert_allclose(h3.history["loss"][0], _mse(m) + 3.0, rtol=1e-5)


def test_layers_list_changed_directly():
    outer = layers.Layer()
    a, b = layers.Dense(1), layers.Dense(2)
    outer.a = a
    assert outer._flatten_layers() == [outer, a]
    outer._layers.append(b)
    assert outer._flatten_layers() == [outer, a, b]
    outer._layers[0] = b
    outer._layers.pop()
    assert outer._flatten_layers() == [outer, b]
    outer._layers = [a, b]                  # replaced through setattr
    assert outer._flatten_layers() == [outer, a, b]
    outer._layers += [layers.Dense(3)]
    assert len(outer._flatten_layers()) == 4
    del outer._layers[1:]
    assert outer._flatten_layers() == [outer, a]
    a.inner = b                             # a deeper change shows at the top
    assert outer._flatten_layers() == [outer, a, b]
    del a.inner
    assert outer._flatten_layers() == [outer, a]


def test_copies_do_not_share_cached_trees():
    d = layers.Dense(2)
    d.build((None, 3))
    assert d._flatten_layers() == [d]
    c = copy.copy(d)
    assert c._flatten_layers()[0] is c
    dc = copy.deepcopy(d)
    assert dc._flatten_layers()[0] is dc
    outer = layers.Layer()
    outer.inner = layers.Dropout(0.5)       # (a Dense's activation does not pickle)
    assert outer._flatten_layers() == [outer, outer.inner]
    p = pickle.loads(pickle.dumps(outer))
    assert p._flatten_layers() == [p, p.inner] and p.inner is not outer.inner
    outer = layers.Layer()
    outer.inner = d
    oc = copy.deepcopy(outer)
    flat = oc._flatten_layers()
    assert flat[0] is oc and flat[1] is oc.inner and flat[1] is not d


def test_list_attribute_appended_later_matches_uncached_walk():
    """A list attribute is tracked when assigned (later appends to it are not, as before the
    cache): the cached tree equals a fresh walk after each change."""
    m = Chain()
    m.blocks = [layers.Dense(1)]
    m.blocks.append(layers.Dense(1))
    assert m._flatten_layers() == m._walk_layers()
    m.blocks = list(m.blocks)
    assert m._flatten_layers() == m._walk_layers()
    assert len(m._flatten_layers()) == 4
