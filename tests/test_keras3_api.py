"""Keras 3's API surface outside keras.ops: keras.random (seeds, distributions), keras.config,
keras.tree, and the trainer/layer API where Keras 3 differs from Keras 2 (compute_loss from a
custom train_step, self.metrics, add_weight's shape-first order, keras.Variable, weights made in
__init__, optimizer.apply, InputLayer(shape=), Input(batch_shape=)), with a conformance test of
keras.io's Keras 3 DCGAN (`dcgan_overriding_train_step.py`) on small dense models.

Numbers are checked against NumPy references; random draws are checked by their moments (each
tolerance is a number of standard errors for the sample size) and by exact reproducibility."""
import logging
import math
import random as py_random
import types

import numpy as np
import pytest

import nabi as tf
from nabi import keras
from nabi.keras import layers


@pytest.fixture(autouse=True)
def _clean_state():
    keras.backend.clear_session()
    yield
    keras.config.set_floatx("float32")
    keras.config.set_epsilon(1e-7)
    keras.config.set_image_data_format("channels_last")
    keras.mixed_precision._state["policy"] = None
    keras.config.enable_interactive_logging()


def _np(t):
    return np.asarray(t.numpy() if hasattr(t, "numpy") else t)


def assert_array(actual, expected_shape, expected_dtype, values=None, rtol=1e-5, atol=1e-6):
    """Shape, then dtype, then values."""
    a = _np(actual)
    assert a.shape == tuple(expected_shape)
    assert a.dtype == np.dtype(expected_dtype)
    if values is not None:
        np.testing.assert_allclose(a, values, rtol=rtol, atol=atol)


# ------------------------------------------------------------------ keras.random: seeds
DRAWS = {
    "normal": lambda seed: keras.random.normal((3, 5), seed=seed),
    "uniform": lambda seed: keras.random.uniform((3, 5), seed=seed),
    "truncated_normal": lambda seed: keras.random.truncated_normal((3, 5), seed=seed),
    "randint": lambda seed: keras.random.randint((3, 5), 0, 1000, seed=seed),
    "categorical": lambda seed: keras.random.categorical(np.zeros((3, 50), np.float32), 5,
                                                         seed=seed),
    "dropout": lambda seed: keras.random.dropout(np.ones((3, 50), np.float32), 0.5, seed=seed),
    "shuffle": lambda seed: keras.random.shuffle(np.arange(40), seed=seed),
    "gamma": lambda seed: keras.random.gamma((3, 5), 2.0, seed=seed),
    "beta": lambda seed: keras.random.beta((3, 5), 2.0, 3.0, seed=seed),
    "binomial": lambda seed: keras.random.binomial((3, 5), 100, 0.5, seed=seed),
}


@pytest.mark.parametrize("name", sorted(DRAWS))
def test_integer_seed_repeats_and_seed_generator_advances(name):
    draw = DRAWS[name]
    a, b = _np(draw(7)), _np(draw(7))
    np.testing.assert_array_equal(a, b)                   # stateless in an integer seed
    assert not np.array_equal(a, _np(draw(8)))
    gen = keras.random.SeedGenerator(7)
    first, second = _np(draw(gen)), _np(draw(gen))
    np.testing.assert_array_equal(first, a)               # first draw == seed=7 (Keras 3)
    assert not np.array_equal(first, second)              # each draw is new
    again = keras.random.SeedGenerator(7)                 # same seed -> same sequence
    np.testing.assert_array_equal(_np(draw(again)), first)
    np.testing.assert_array_equal(_np(draw(again)), second)
    assert not np.array_equal(_np(draw(None)), _np(draw(None)))   # fresh randomness


def test_seed_generator_state_and_errors():
    gen = keras.random.SeedGenerator(seed=42)
    np.testing.assert_array_equal(gen.state.numpy(), [42, 0])
    keras.random.normal((2,), seed=gen)
    keras.random.uniform((2,), seed=gen)
    np.testing.assert_array_equal(gen.state.numpy(), [42, 2])
    assert gen.get_config() == {"seed": 42}
    with pytest.raises(ValueError, match="seed"):
        keras.random.SeedGenerator(seed=1.5)
    with pytest.raises(ValueError, match="seed"):
        keras.random.normal((2,), seed="abc")
    with pytest.raises(ValueError, match="floating point"):
        keras.random.uniform((2,), dtype="int32", seed=1)
    with pytest.raises(ValueError, match="2-D"):
        keras.random.categorical(np.zeros(3, np.float32), 2, seed=1)


def test_set_random_seed_repeats_global_draws_and_initial_weights():
    def run():
        keras.utils.set_random_seed(1234)
        model = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(3),
                                  layers.Dense(2, kernel_initializer="random_normal")])
        unseeded = keras.random.SeedGenerator()       # its seed comes from Python's random
        return ([w.copy() for w in model.get_weights()],
                np.concatenate([_np(keras.random.normal((5,))),
                                _np(keras.random.uniform((3,), seed=unseeded))]),
                py_random.random(), np.random.rand())
    w1, r1, p1, n1 = run()
    w2, r2, p2, n2 = run()
    for a, b in zip(w1, w2):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(r1, r2)
    assert p1 == p2 and n1 == n2
    with pytest.raises(ValueError, match="integer"):
        keras.utils.set_random_seed(1.5)


# ------------------------------------------------------------------ keras.random: values
N = 200_000
Z = 5.0   # tolerances below are Z standard errors of the statistic for a sample of N


def _check_mean_var(x, mean, var, n=N):
    x = _np(x).astype(np.float64).ravel()
    assert x.size == n
    # SE(mean) = sqrt(var / n); SE(sample variance) ~ var * sqrt(2 / n) for near-normal data,
    # taken with a factor 2 margin for the skewed gamma/binomial/beta cases
    assert abs(x.mean() - mean) < Z * math.sqrt(var / n)
    assert abs(x.var() - var) < Z * 2 * var * math.sqrt(2 / n)


def test_normal_and_uniform_moments_shapes_dtypes():
    x = keras.random.normal((400, 500), mean=2.0, stddev=3.0, seed=1)
    assert_array(x, (400, 500), np.float32)
    _check_mean_var(x, 2.0, 9.0)
    u = keras.random.uniform((N,), minval=-1.0, maxval=3.0, seed=2)
    assert_array(u, (N,), np.float32)
    assert _np(u).min() >= -1.0 and _np(u).max() < 3.0
    _check_mean_var(u, 1.0, 16.0 / 12.0)
    keras.config.set_floatx("float64")
    assert_array(keras.random.normal((2, 3), seed=1), (2, 3), np.float64)
    keras.config.set_floatx("float32")
    assert_array(keras.random.uniform(tf.constant([2, 3]), dtype="float64", seed=1), (2, 3),
                 np.float64)


def test_truncated_normal_moments():
    x = _np(keras.random.truncated_normal((N,), mean=1.0, stddev=2.0, seed=3))
    assert x.dtype == np.float32
    assert np.all(np.abs(x - 1.0) <= 4.0 + 1e-5)
    # Var of N(0, 1) truncated to [-2, 2]: 1 - 2 * 2 * phi(2) / (Phi(2) - Phi(-2))
    phi2 = math.exp(-2.0) / math.sqrt(2 * math.pi)
    var = 4.0 * (1 - 4 * phi2 / math.erf(2 / math.sqrt(2)))
    _check_mean_var(x, 1.0, var)


def test_randint_and_categorical_frequencies():
    r = _np(keras.random.randint((N,), 3, 13, seed=4))
    assert r.dtype == np.int32 and r.min() == 3 and r.max() == 12
    freq = np.bincount(r - 3, minlength=10) / N
    np.testing.assert_allclose(freq, 0.1, atol=Z * math.sqrt(0.1 * 0.9 / N))
    assert _np(keras.random.randint((4,), 0, 5, dtype="int64", seed=1)).dtype == np.int64
    logits = np.log(np.array([[0.2, 0.5, 0.3], [0.9, 0.05, 0.05]], np.float32))
    c = _np(keras.random.categorical(logits, 50_000, seed=5))
    assert c.shape == (2, 50_000) and c.dtype == np.int32
    for row, p in zip(c, np.exp(logits)):
        f = np.bincount(row, minlength=3) / row.size
        np.testing.assert_allclose(f, p, atol=Z * math.sqrt(0.25 / row.size))


def test_dropout_mask_scale_and_gradient():
    x = tf.constant(np.full((500, 400), 2.0, np.float32))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = keras.random.dropout(x, 0.3, seed=6)
        s = tf.reduce_sum(y)
    yv = _np(y)
    assert yv.shape == (500, 400) and yv.dtype == np.float32
    kept = yv != 0
    np.testing.assert_allclose(yv[kept], 2.0 / 0.7, rtol=1e-6)
    p = kept.mean()
    assert abs(p - 0.7) < Z * math.sqrt(0.21 / kept.size)
    g = _np(tape.gradient(s, x))
    np.testing.assert_allclose(g, kept / 0.7, rtol=1e-6)
    # noise_shape: one mask per column, broadcast over the rows
    y2 = _np(keras.random.dropout(np.ones((6, 300), np.float32), 0.5, noise_shape=(1, 300),
                                  seed=1))
    assert np.all(y2 == y2[:1])
    with pytest.raises(ValueError, match="rate"):
        keras.random.dropout(x, 1.0, seed=1)


def test_shuffle_is_a_permutation_along_the_axis():
    x = np.arange(60, dtype=np.float32).reshape(6, 10)
    s0 = _np(keras.random.shuffle(x, seed=9))
    assert s0.shape == (6, 10)
    assert sorted(s0[:, 0].tolist()) == x[:, 0].tolist()
    np.testing.assert_array_equal(s0 - s0[:, :1], x - x[:, :1])     # rows stay whole
    s1 = _np(keras.random.shuffle(x, axis=1, seed=9))
    np.testing.assert_array_equal(np.sort(s1, axis=1), x)
    np.testing.assert_array_equal(s1 - s1[:1], x - x[:1])           # columns stay whole


def test_gamma_beta_binomial_moments():
    g = keras.random.gamma((N,), alpha=3.0, seed=10)
    assert_array(g, (N,), np.float32)
    _check_mean_var(g, 3.0, 3.0)
    a, b = 2.0, 5.0
    be = keras.random.beta((N,), a, b, seed=11)
    assert_array(be, (N,), np.float32)
    _check_mean_var(be, a / (a + b), a * b / ((a + b) ** 2 * (a + b + 1)))
    bi = keras.random.binomial((N,), counts=10, probabilities=0.3, seed=12)
    assert_array(bi, (N,), np.float32)
    v = _np(bi)
    assert np.all(v == np.round(v)) and v.min() >= 0 and v.max() <= 10
    _check_mean_var(bi, 3.0, 2.1)


def test_sampling_layer_with_seed_generator_in_a_model():
    # keras.io VAE (Keras 3): Sampling draws epsilon with seed=self.seed_generator
    class Sampling(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.seed_generator = keras.random.SeedGenerator(1337)

        def call(self, inputs):
            z_mean, z_log_var = inputs
            eps = keras.random.normal(shape=tf.shape(z_mean), seed=self.seed_generator)
            return z_mean + tf.exp(0.5 * z_log_var) * eps

    zm = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    zv = np.random.default_rng(1).normal(size=(4, 3)).astype(np.float32)
    layer = Sampling()
    out1, out2 = _np(layer([zm, zv])), _np(layer([zm, zv]))
    assert not np.array_equal(out1, out2)
    eps = _np(keras.random.normal((4, 3), seed=1337))       # the generator's first draw
    np.testing.assert_allclose(out1, zm + np.exp(0.5 * zv) * eps, rtol=1e-5, atol=1e-6)
    # the seed state is the layer's one variable, not a weight, as in Keras 3 (it advanced twice)
    assert layer.trainable_weights == [] and layer.weights == []
    assert layer.variables == [layer.seed_generator.state]
    np.testing.assert_array_equal(_np(layer.seed_generator.state), [1337, 2])


# ------------------------------------------------------------------ keras.config
def test_config_settings():
    assert keras.config.backend() == "tensorflow"
    assert keras.config.floatx() == "float32"
    keras.config.set_floatx("float64")
    assert keras.backend.floatx() == "float64"
    layer = layers.Dense(2)
    layer.build((None, 3))
    assert layer.kernel.dtype == tf.float64
    keras.config.set_floatx("float32")
    keras.config.set_epsilon(1e-5)
    assert keras.config.epsilon() == keras.backend.epsilon() == 1e-5
    keras.config.set_image_data_format("channels_first")
    assert keras.config.image_data_format() == "channels_first"
    keras.config.set_image_data_format("channels_last")
    with pytest.raises(ValueError):
        keras.config.set_floatx("int7")


def test_config_dtype_policy():
    assert keras.config.dtype_policy().name == "float32"
    keras.config.set_dtype_policy("float64")
    assert keras.config.dtype_policy().name == "float64"
    assert keras.mixed_precision.global_policy().name == "float64"
    layer = layers.Dense(2)
    layer.build((None, 3))
    assert layer.kernel.dtype == tf.float64
    keras.config.set_dtype_policy(keras.DTypePolicy("float32"))
    assert keras.config.floatx() == "float32"
    with pytest.warns(UserWarning, match="float32"):
        keras.config.set_dtype_policy("mixed_float16")
    assert keras.config.dtype_policy().compute_dtype == "float32"
    with pytest.raises(ValueError):
        keras.config.set_dtype_policy(3)


def test_interactive_logging_switch_governs_fit_progress(capsys, caplog):
    x = np.ones((8, 2), np.float32)
    model = keras.Sequential([keras.Input(shape=(2,)), layers.Dense(1)])
    model.compile("sgd", "mse")
    keras.config.disable_interactive_logging()
    assert not keras.config.is_interactive_logging_enabled()
    with caplog.at_level(logging.INFO, logger="nabi.keras"):
        model.fit(x, x[:, :1], epochs=1, verbose=2, batch_size=4)
    assert capsys.readouterr().out == ""
    assert any("loss" in r.getMessage() for r in caplog.records)
    keras.config.enable_interactive_logging()
    assert keras.utils.is_interactive_logging_enabled()
    model.fit(x, x[:, :1], epochs=1, verbose=2, batch_size=4)
    assert "loss" in capsys.readouterr().out


def test_unsafe_deserialization_allows_lambda_bytecode(tmp_path, monkeypatch):
    from nabi.keras.layers import core
    monkeypatch.setattr(core, "_UNSAFE_DESERIALIZATION", False)    # restored afterwards
    model = keras.Sequential([keras.Input(shape=(2,)), layers.Lambda(lambda t: t * 3.0)])
    path = str(tmp_path / "lam.keras")
    model.save(path)
    with pytest.raises(ValueError):
        keras.models.load_model(path)
    keras.config.enable_unsafe_deserialization()
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(_np(loaded(np.ones((1, 2), np.float32))), [[3.0, 3.0]])


# ------------------------------------------------------------------ keras.tree
def test_tree_flatten_pack_map():
    s = {"b": [1, (2, 3)], "a": 4, "c": None}
    assert keras.tree.flatten(s) == [4, 1, 2, 3, None]        # sorted keys; None is a leaf
    assert keras.tree.pack_sequence_as(s, [10, 11, 12, 13, 14]) == \
        {"b": [11, (12, 13)], "a": 10, "c": 14}
    assert keras.tree.map_structure(lambda x, y: x + y, [1, (2, 3)], [10, (20, 30)]) == \
        [11, (22, 33)]
    assert keras.tree.is_nested([1]) and keras.tree.is_nested({}) and \
        not keras.tree.is_nested(np.zeros(3)) and not keras.tree.is_nested("ab")
    keras.tree.assert_same_structure([1, (2, 3)], [4, (5, 6)])
    with pytest.raises(ValueError):
        keras.tree.assert_same_structure([1, (2, 3)], [4, [5, 6]])
    with pytest.raises(ValueError):
        keras.tree.assert_same_structure([1, 2], [1, 2, 3])
    with pytest.raises(ValueError):
        keras.tree.map_structure(lambda x, y: x, [1, 2], [1])
    assert keras.tree.map_structure(lambda x: 0 if x is None else x * 2, [1, None]) == [2, 0]
    assert keras.tree.map_structure(lambda x: x * 2, [1, None], none_is_leaf=False) == [2, None]
    assert keras.tree.flatten_with_path([{"foo": 42}]) == [((0, "foo"), 42)]
    assert keras.tree.lists_to_tuples([1, [2, {"a": [3]}]]) == (1, (2, {"a": (3,)}))
    assert keras.tree.map_structure_up_to([0, 0], lambda x: len(x), [[1, 2], (3,)]) == [2, 1]
    keras.tree.assert_same_paths([0, 1], (2, 3))
    with pytest.raises(ValueError):
        keras.tree.assert_same_paths([0, 1], [0])


def test_tree_traverse_and_map_shape_structure():
    s = [1, (2, [3, 4]), {"k": 5}]
    # top-down: a non-None result replaces the subtree and stops the descent
    out = keras.tree.traverse(lambda x: "T" if isinstance(x, tuple) else None, s)
    assert out == [1, "T", {"k": 5}]
    out = keras.tree.traverse(
        lambda x: keras.tree.MAP_TO_NONE if x == 5 else None, s)
    assert out == [1, (2, [3, 4]), {"k": None}]
    # bottom-up: func sees the rebuilt children
    out = keras.tree.traverse(
        lambda x: sum(x) if isinstance(x, list) and all(isinstance(v, int) for v in x)
        else None, s, top_down=False)
    assert out == [1, (2, 7), {"k": 5}]
    shapes = {"x": (None, 3), "y": [(2, 4), (5,)]}
    assert keras.tree.map_shape_structure(lambda sh: int(np.prod([d or 1 for d in sh])),
                                          shapes) == {"x": 3, "y": [8, 5]}


# ------------------------------------------------------------------ layers
def test_add_weight_keras3_and_keras2_orders_and_weights_in_init():
    class Linear(keras.layers.Layer):          # Keras 3: weights made in __init__
        def __init__(self, units=2, input_dim=3):
            super().__init__()
            self.w = self.add_weight(shape=(input_dim, units), initializer="ones",
                                     trainable=True)
            self.b = self.add_weight((units,), "zeros", name="bias")    # shape first
            self.k2 = self.add_weight("k2", (1,), "float32", "ones", trainable=False)

        def call(self, x):
            return tf.matmul(x, self.w) + self.b

    layer = Linear()
    assert [tuple(w.shape) for w in layer.trainable_weights] == [(3, 2), (2,)]
    assert [w.name for w in layer.non_trainable_weights] == [f"{layer.name}/k2:0"]
    assert layer.b.name == f"{layer.name}/bias:0"
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_allclose(_np(layer(x)), x.sum(1, keepdims=True) * np.ones((1, 2)))
    with pytest.raises(TypeError, match="multiple values"):
        layer.add_weight((2,), shape=(3,))

    inp = keras.Input(shape=(3,))
    model = keras.Model(inp, Linear()(inp))
    model.compile(keras.optimizers.SGD(0.1), "mse")
    y = np.ones((2, 2), np.float32)
    model.fit(x, y, epochs=1, batch_size=2, verbose=0, shuffle=False)
    # one SGD step on mse: w -= 0.1 * 2/n * x^T (xw + b - y) / units ... vs NumPy
    w0, b0 = np.ones((3, 2)), np.zeros(2)
    err = x @ w0 + b0 - y
    gw = x.T @ (2 * err / err.size)
    gb = (2 * err / err.size).sum(0)
    w, b, _ = model.layers[1].get_weights()
    np.testing.assert_allclose(w, w0 - 0.1 * gw, rtol=1e-5)
    np.testing.assert_allclose(b, b0 - 0.1 * gb, rtol=1e-5, atol=1e-6)


def test_build_gets_a_tuple_and_keras_variable():
    seen = {}

    class Scale(keras.layers.Layer):
        def build(self, input_shape):
            seen["shape"] = input_shape
            self.s = self.add_weight(shape=input_shape[1:], initializer="ones")

        def call(self, x):
            return x * self.s

    Scale()(np.ones((2, 3, 4), np.float32))
    assert isinstance(seen["shape"], tuple) and tuple(seen["shape"]) == (2, 3, 4)

    v = keras.Variable(initializer="ones", shape=(2, 3), name="v")
    assert_array(v, (2, 3), np.float32, np.ones((2, 3)))
    assert isinstance(v, keras.Variable) and isinstance(v, tf.Variable)
    assert_array(v.value, (2, 3), np.float32, np.ones((2, 3)))
    v.assign(np.full((2, 3), 2.0))
    np.testing.assert_allclose(_np(v), 2.0)
    w = keras.Variable(np.array([1, 2]), dtype="float64", trainable=False)
    assert w.dtype == tf.float64 and not w.trainable
    assert keras.Variable(np.array([1, 2])).dtype == tf.float32     # dtype None -> floatx
    layer = layers.Dense(2)
    layer.build((None, 3))
    assert isinstance(layer.kernel, keras.Variable)
    with pytest.raises(ValueError, match="shape"):
        keras.Variable(keras.initializers.Ones())


def test_input_batch_shape_and_input_layer_shape():
    t = keras.Input(batch_shape=(4, 3))
    assert tuple(t.shape) == (4, 3)
    model = keras.Sequential([keras.layers.InputLayer(shape=(3,)), layers.Dense(2)])
    assert tuple(model.output_shape) == (None, 2)
    il = keras.layers.InputLayer(shape=(5, 2), batch_size=7)
    assert tuple(il.output.shape) == (7, 5, 2)
    assert keras.Layer is keras.layers.Layer and keras.version()
    assert keras.utils.unpack_x_y_sample_weight([1, 2]) == (1, 2, None)
    assert keras.utils.unpack_x_y_sample_weight(5) == (5, None, None)
    assert keras.utils.pack_x_y_sample_weight([1, 2]) == ([1, 2],)
    assert keras.utils.pack_x_y_sample_weight(1, 2, 3) == (1, 2, 3)
    with pytest.raises(ValueError):
        keras.utils.unpack_x_y_sample_weight((1, 2, 3, 4))


# ------------------------------------------------------------------ trainer
def _regression_data():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(8, 3)).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0], [0.5]]) + 0.3).astype(np.float32)
    return x, y


def _linear_model():
    inp = keras.Input(shape=(3,))
    out = layers.Dense(1, kernel_initializer="zeros", bias_initializer="zeros")(inp)
    return inp, out


def _numpy_sgd_linear(x, y, lr, epochs, batch, lr_at=None):
    """Reference: per-epoch mean of the step losses, the epoch mae over samples, final w, b."""
    w, b = np.zeros((3, 1)), np.zeros(1)
    losses, maes, step = [], [], 0
    for _ in range(epochs):
        ls, ae = [], []
        for i in range(0, len(x), batch):
            xb, yb = x[i:i + batch].astype(np.float64), y[i:i + batch].astype(np.float64)
            p = xb @ w + b
            ls.append(np.mean((p - yb) ** 2))
            ae.append(np.abs(p - yb).ravel())
            g = 2 * (p - yb) / p.size
            rate = lr if lr_at is None else lr_at(step)
            w, b = w - rate * xb.T @ g, b - rate * g.sum(0)
            step += 1
        losses.append(np.mean(ls))
        maes.append(np.concatenate(ae).mean())
    return losses, maes, w, b


def test_keras3_custom_train_step_compute_loss_and_metrics_loop():
    # keras.io "Customizing what happens in fit() with TensorFlow" (Keras 3)
    class CustomModel(keras.Model):
        def train_step(self, data):
            x, y = data
            with tf.GradientTape() as tape:
                y_pred = self(x, training=True)
                loss = self.compute_loss(y=y, y_pred=y_pred)
            trainable_vars = self.trainable_variables
            gradients = tape.gradient(loss, trainable_vars)
            self.optimizer.apply(gradients, trainable_vars)
            for metric in self.metrics:
                if metric.name == "loss":
                    metric.update_state(loss)
                else:
                    metric.update_state(y, y_pred)
            return {m.name: m.result() for m in self.metrics}

        def test_step(self, data):
            x, y = data
            y_pred = self(x, training=False)
            loss = self.compute_loss(y=y, y_pred=y_pred)
            for metric in self.metrics:
                if metric.name == "loss":
                    metric.update_state(loss)
                else:
                    metric.update_state(y, y_pred)
            return {m.name: m.result() for m in self.metrics}

    x, y = _regression_data()
    inp, out = _linear_model()
    model = CustomModel(inp, out)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", metrics=["mae"])
    # batches of 3, 3, 2: Keras 3's "loss" is the plain mean of the step losses (counting
    # compute_loss's batch-weighted addition as well would give another number)
    hist = model.fit(x, y, epochs=3, batch_size=3, shuffle=False, verbose=0)
    losses, maes, w, b = _numpy_sgd_linear(x, y, 0.1, 3, 3)
    np.testing.assert_allclose(hist.history["loss"], losses, rtol=1e-5)
    np.testing.assert_allclose(hist.history["mae"], maes, rtol=1e-5)
    assert [m.name for m in model.metrics] == ["loss", "mae"]
    kw, kb = model.get_weights()
    np.testing.assert_allclose(kw, w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(kb, b, rtol=1e-5, atol=1e-6)
    res = model.evaluate(x, y, batch_size=4, verbose=0, return_dict=True)
    p = x.astype(np.float64) @ w + b
    np.testing.assert_allclose(res["loss"], np.mean((p - y) ** 2), rtol=1e-5)
    np.testing.assert_allclose(res["mae"], np.mean(np.abs(p - y)), rtol=1e-5)


def test_keras3_metrics_loop_without_compute_loss():
    # a Keras 3 train_step that computes its own loss and loops over self.metrics at once:
    # the "loss" Mean and the compiled metrics are listed before anything updated them
    class CustomModel(keras.Model):
        def train_step(self, data):
            x, y = data
            names.append([m.name for m in self.metrics])
            with tf.GradientTape() as tape:
                y_pred = self(x, training=True)
                loss = tf.reduce_mean(tf.square(y_pred - y))
            self.optimizer.apply(tape.gradient(loss, self.trainable_variables),
                                 self.trainable_variables)
            for metric in self.metrics:
                if metric.name == "loss":
                    metric.update_state(loss)
                else:
                    metric.update_state(y, y_pred)
            return {m.name: m.result() for m in self.metrics}

    names = []
    x, y = _regression_data()
    inp, out = _linear_model()
    model = CustomModel(inp, out)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", metrics=["mae"])
    assert model.metrics == []                       # Keras 2: none before a step
    hist = model.fit(x, y, epochs=2, batch_size=3, shuffle=False, verbose=0)
    assert names[0] == ["loss", "mae"]
    losses, maes, _, _ = _numpy_sgd_linear(x, y, 0.1, 2, 3)
    np.testing.assert_allclose(hist.history["loss"], losses, rtol=1e-5)
    np.testing.assert_allclose(hist.history["mae"], maes, rtol=1e-5)


def test_compute_loss_training_kwarg_and_compute_metrics():
    x, y = _regression_data()

    class CustomModel(keras.Model):
        def train_step(self, data):
            x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
            with tf.GradientTape() as tape:
                y_pred = self(x, training=True)
                loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                                         training=True)
            grads = tape.gradient(loss, self.trainable_variables)
            self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
            return self.compute_metrics(x, y, y_pred, sample_weight)   # Keras 2.11 / 3 style

    inp, out = _linear_model()
    model = CustomModel(inp, out)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", metrics=["mae"])
    hist = model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0,
                     steps_per_execution=2)
    losses, maes, _, _ = _numpy_sgd_linear(x, y, 0.1, 2, 4)
    np.testing.assert_allclose(hist.history["loss"], losses, rtol=1e-5)
    np.testing.assert_allclose(hist.history["mae"], maes, rtol=1e-5)


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_keras3_distiller_overrides_only_compute_loss():
    """keras.io examples/vision/knowledge_distillation.py (Keras 3 form): the Distiller
    overrides compute_loss (not train_step), so fit/evaluate run Keras 3's default steps through
    it; a linear student vs a NumPy SGD on the distillation loss."""
    ops = _ops()
    softmax = getattr(ops, "softmax", None) or (lambda z, axis=-1: tf.nn.softmax(z, axis=axis))

    class Distiller(keras.Model):
        def __init__(self, student, teacher):
            super().__init__()
            self.teacher = teacher
            self.student = student

        def compile(self, optimizer, metrics, student_loss_fn, distillation_loss_fn, alpha=0.1,
                    temperature=3):
            super().compile(optimizer=optimizer, metrics=metrics)
            self.student_loss_fn = student_loss_fn
            self.distillation_loss_fn = distillation_loss_fn
            self.alpha = alpha
            self.temperature = temperature

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None,
                         allow_empty=False):
            teacher_pred = self.teacher(x, training=False)
            student_loss = self.student_loss_fn(y, y_pred)
            distillation_loss = self.distillation_loss_fn(
                softmax(teacher_pred / self.temperature, axis=1),
                softmax(y_pred / self.temperature, axis=1)) * (self.temperature ** 2)
            return self.alpha * student_loss + (1 - self.alpha) * distillation_loss

        def call(self, x):
            return self.student(x)

    rng = np.random.default_rng(5)
    x = rng.normal(size=(12, 4)).astype(np.float32)
    y = rng.integers(0, 3, size=12)
    teacher = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(3)], name="teacher")
    student = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(3)], name="student")
    tW, tb = [w.astype(np.float64) for w in teacher.get_weights()]
    W, b = [w.astype(np.float64) for w in student.get_weights()]
    alpha, T, lr = 0.1, 10.0, 0.5
    distiller = Distiller(student=student, teacher=teacher)
    distiller.compile(optimizer=keras.optimizers.SGD(lr),
                      metrics=[keras.metrics.SparseCategoricalAccuracy()],
                      student_loss_fn=keras.losses.SparseCategoricalCrossentropy(
                          from_logits=True),
                      distillation_loss_fn=keras.losses.KLDivergence(), alpha=alpha,
                      temperature=T)
    hist = distiller.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0)

    def loss_and_grad(xb, yb, W, b, tW, tb):
        s = xb @ W + b
        q, p = _softmax((xb @ tW + tb) / T), _softmax(s / T)
        onehot = np.eye(3)[yb]
        ce = -np.mean(np.log(_softmax(s)[np.arange(len(yb)), yb]))
        kl = np.mean(np.sum(q * np.log(q / p), axis=1))
        g = (alpha * (_softmax(s) - onehot) + (1 - alpha) * T * (p - q)) / len(yb)
        return alpha * ce + (1 - alpha) * T * T * kl, s, g

    def teacher_grad(xb, W, b, tW, tb):
        """d loss / d teacher logits: the teacher is among the Distiller's trainable variables
        (an attribute), and in Keras 3 the KL's gradient reaches it through y_true, so the
        default train step updates it too (checked against Keras 3.15 / TF 2.21)."""
        q, p = _softmax((xb @ tW + tb) / T), _softmax((xb @ W + b) / T)
        L = np.log(q) - np.log(p)
        return (1 - alpha) * T * q * (L - (q * L).sum(1, keepdims=True)) / len(xb)

    xs = x.astype(np.float64)
    for epoch in range(2):
        losses, hits = [], []
        for i in range(0, 12, 4):
            l, s, g = loss_and_grad(xs[i:i + 4], y[i:i + 4], W, b, tW, tb)
            gt = teacher_grad(xs[i:i + 4], W, b, tW, tb)
            losses.append(l)
            hits.append(np.argmax(s, axis=1) == y[i:i + 4])
            W, b = W - lr * xs[i:i + 4].T @ g, b - lr * g.sum(0)
            tW, tb = tW - lr * xs[i:i + 4].T @ gt, tb - lr * gt.sum(0)
        np.testing.assert_allclose(hist.history["loss"][epoch], np.mean(losses), rtol=1e-4)
        np.testing.assert_allclose(hist.history["sparse_categorical_accuracy"][epoch],
                                   np.concatenate(hits).mean(), rtol=1e-6)
    kW, kb = student.get_weights()
    np.testing.assert_allclose(kW, W, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(kb, b, rtol=1e-4, atol=1e-6)
    res = distiller.evaluate(x, y, batch_size=6, verbose=0, return_dict=True)
    np.testing.assert_allclose(teacher.get_weights()[0], tW, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(teacher.get_weights()[1], tb, rtol=1e-4, atol=1e-6)
    l1, s1, _ = loss_and_grad(xs[:6], y[:6], W, b, tW, tb)
    l2, s2, _ = loss_and_grad(xs[6:], y[6:], W, b, tW, tb)
    np.testing.assert_allclose(res["loss"], (l1 + l2) / 2, rtol=1e-4)
    np.testing.assert_allclose(res["sparse_categorical_accuracy"],
                               np.mean(np.argmax(np.concatenate([s1, s2]), 1) == y), rtol=1e-6)


def test_compute_loss_override_calling_super_is_counted_once():
    class Doubled(keras.Model):
        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            seen.append(training)
            return super().compute_loss(x, y, y_pred, sample_weight) * 2.0

    seen = []
    x, y = _regression_data()
    inp, out = _linear_model()
    model = Doubled(inp, out)
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse", metrics=["mae"])
    hist = model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    # twice the loss is twice the gradient: SGD(0.05) on 2 * mse == SGD(0.1) on mse
    losses, maes, w, b = _numpy_sgd_linear(x, y, 0.1, 2, 4)
    np.testing.assert_allclose(hist.history["loss"], 2 * np.array(losses), rtol=1e-5)
    np.testing.assert_allclose(hist.history["mae"], maes, rtol=1e-5)
    np.testing.assert_allclose(model.get_weights()[0], w, rtol=1e-5, atol=1e-6)
    assert seen == [True] * 4
    res = model.evaluate(x, y, batch_size=4, verbose=0, return_dict=True)
    p = x.astype(np.float64) @ w + b
    np.testing.assert_allclose(res["loss"], 2 * np.mean((p - y) ** 2), rtol=1e-5)
    assert seen[-1] is False


def test_optimizer_apply_with_a_schedule():
    sched = keras.optimizers.schedules.ExponentialDecay(0.5, decay_steps=1, decay_rate=0.5)
    opt = keras.optimizers.SGD(learning_rate=sched)
    v = keras.Variable(np.array([1.0, -2.0], np.float32))
    expected = np.array([1.0, -2.0])
    for step in range(3):
        g = np.array([0.2, 0.4], np.float32) * (step + 1)
        opt.apply([tf.constant(g)], [v])
        expected = expected - 0.5 * 0.5 ** step * g
        np.testing.assert_allclose(_np(v), expected, rtol=1e-6)
    assert int(_np(opt.iterations)) == 3
    # compile with a scheduled optimizer and the Keras 3 fit argument
    x, y = _regression_data()
    inp, out = _linear_model()
    model = keras.Model(inp, out)
    model.compile(keras.optimizers.SGD(learning_rate=keras.optimizers.schedules.ExponentialDecay(
        0.1, decay_steps=1, decay_rate=0.9)), "mse", steps_per_execution=2)
    hist = model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    losses, _, _, _ = _numpy_sgd_linear(x, y, None, 2, 4, lr_at=lambda s: 0.1 * 0.9 ** s)
    np.testing.assert_allclose(hist.history["loss"], losses, rtol=1e-5)


def test_keras3_custom_optimizer_build_and_update_step():
    # Keras 3's optimizer subclass API: build(var_list) + update_step(gradient, variable,
    # learning_rate), slots from add_variable_from_reference, a schedule as learning_rate
    class MomentumSGD(keras.optimizers.Optimizer):
        def __init__(self, learning_rate=0.01, momentum=0.9, name="momentum_sgd", **kwargs):
            super().__init__(learning_rate=learning_rate, name=name, **kwargs)
            self.momentum = momentum

        def build(self, var_list):
            if self.built:
                return
            super().build(var_list)
            self.momentums = [self.add_variable_from_reference(v, "momentum")
                              for v in var_list]

        def update_step(self, gradient, variable, learning_rate):
            lr = tf.cast(learning_rate, variable.dtype)
            m = self.momentums[self._get_variable_index(variable)]
            self.assign(m, self.momentum * m - lr * gradient)
            self.assign_add(variable, m)

    sched = keras.optimizers.schedules.ExponentialDecay(0.2, decay_steps=1, decay_rate=0.5)
    x, y = _regression_data()
    inp, out = _linear_model()
    model = keras.Model(inp, out)
    model.compile(MomentumSGD(learning_rate=sched, momentum=0.5), "mse")
    hist = model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    w, b = np.zeros((3, 1)), np.zeros(1)
    mw, mb, losses, step = np.zeros((3, 1)), np.zeros(1), [], 0
    for _ in range(2):
        ls = []
        for i in range(0, 8, 4):
            xb, yb = x[i:i + 4].astype(np.float64), y[i:i + 4].astype(np.float64)
            p = xb @ w + b
            ls.append(np.mean((p - yb) ** 2))
            g = 2 * (p - yb) / p.size
            lr = 0.2 * 0.5 ** step
            mw, mb = 0.5 * mw - lr * xb.T @ g, 0.5 * mb - lr * g.sum(0)
            w, b, step = w + mw, b + mb, step + 1
        losses.append(np.mean(ls))
    np.testing.assert_allclose(hist.history["loss"], losses, rtol=1e-5)
    np.testing.assert_allclose(model.get_weights()[0], w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.get_weights()[1], b, rtol=1e-5, atol=1e-6)
    assert int(_np(model.optimizer.iterations)) == 4


def test_register_keras_serializable_keras3_layer_roundtrip(tmp_path):
    @keras.saving.register_keras_serializable(package="k3test")
    class Offset(keras.layers.Layer):
        def __init__(self, offset=1.0, **kwargs):
            super().__init__(**kwargs)
            self.offset = offset
            self.scale = self.add_weight(shape=(), initializer="ones", name="scale")

        def call(self, x):
            return x * self.scale + self.offset

        def get_config(self):
            return {**super().get_config(), "offset": self.offset}

    inp = keras.Input(shape=(2,))
    model = keras.Model(inp, Offset(2.5)(inp))
    model.layers[1].scale.assign(3.0)
    path = str(tmp_path / "off.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    x = np.array([[1.0, -1.0]], np.float32)
    np.testing.assert_allclose(_np(loaded(x)), x * 3.0 + 2.5)


# ------------------------------------------------------------------ DCGAN conformance
def _ops():
    """keras.ops if it is there (another part of the project), else tf equivalents."""
    try:
        from nabi.keras import ops
        if all(hasattr(ops, n) for n in ("shape", "concatenate", "ones", "zeros", "mean", "sum",
                                         "square", "exp")):
            return ops
    except ImportError:
        pass
    return types.SimpleNamespace(
        shape=tf.shape, concatenate=lambda xs, axis=0: tf.concat(xs, axis=axis), ones=tf.ones,
        zeros=tf.zeros, mean=lambda x, axis=None: tf.reduce_mean(x, axis=axis),
        sum=lambda x, axis=None: tf.reduce_sum(x, axis=axis), square=tf.square, exp=tf.exp)


def test_keras3_vae_sampling_and_losses():
    """keras.io examples/generative/vae.py (Keras 3 form: Sampling with a SeedGenerator, the
    metrics property, ops.*), on a small dense encoder/decoder: the symbolic build consumes no
    draw, and the first step's losses match a NumPy forward pass with that step's epsilon."""
    ops = _ops()

    class Sampling(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.seed_generator = keras.random.SeedGenerator(1337)

        def call(self, inputs):
            z_mean, z_log_var = inputs
            batch = ops.shape(z_mean)[0]
            dim = ops.shape(z_mean)[1]
            epsilon = keras.random.normal(shape=(batch, dim), seed=self.seed_generator)
            return z_mean + ops.exp(0.5 * z_log_var) * epsilon

    latent_dim, d = 2, 6
    enc_in = keras.Input(shape=(d,))
    h = layers.Dense(4, activation="relu")(enc_in)
    z_mean = layers.Dense(latent_dim, name="z_mean")(h)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(h)
    sampling = Sampling()
    z = sampling([z_mean, z_log_var])
    encoder = keras.Model(enc_in, [z_mean, z_log_var, z], name="encoder")
    np.testing.assert_array_equal(sampling.seed_generator.state.numpy(), [1337, 0])
    lat_in = keras.Input(shape=(latent_dim,))
    dec_h = layers.Dense(4, activation="relu")(lat_in)
    decoder = keras.Model(lat_in, layers.Dense(d, activation="sigmoid")(dec_h), name="decoder")

    class VAE(keras.Model):
        def __init__(self, encoder, decoder, **kwargs):
            super().__init__(**kwargs)
            self.encoder = encoder
            self.decoder = decoder
            self.total_loss_tracker = keras.metrics.Mean(name="total_loss")
            self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
            self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

        @property
        def metrics(self):
            return [self.total_loss_tracker, self.reconstruction_loss_tracker,
                    self.kl_loss_tracker]

        def train_step(self, data):
            with tf.GradientTape() as tape:
                z_mean, z_log_var, z = self.encoder(data)
                reconstruction = self.decoder(z)
                reconstruction_loss = ops.mean(
                    ops.sum(keras.losses.binary_crossentropy(data[:, :, None],
                                                             reconstruction[:, :, None]),
                            axis=1))
                kl_loss = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
                kl_loss = ops.mean(ops.sum(kl_loss, axis=1))
                total_loss = reconstruction_loss + kl_loss
            grads = tape.gradient(total_loss, self.trainable_weights)
            self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
            self.total_loss_tracker.update_state(total_loss)
            self.reconstruction_loss_tracker.update_state(reconstruction_loss)
            self.kl_loss_tracker.update_state(kl_loss)
            return {"loss": self.total_loss_tracker.result(),
                    "reconstruction_loss": self.reconstruction_loss_tracker.result(),
                    "kl_loss": self.kl_loss_tracker.result()}

    data = np.random.default_rng(2).uniform(0.05, 0.95, size=(5, d)).astype(np.float32)
    vae = VAE(encoder, decoder)
    vae.compile(optimizer=keras.optimizers.Adam())
    ew = [w.astype(np.float64) for w in encoder.get_weights()]
    dw = [w.astype(np.float64) for w in decoder.get_weights()]
    hist = vae.fit(data, epochs=1, batch_size=5, verbose=0)
    np.testing.assert_array_equal(sampling.seed_generator.state.numpy(), [1337, 1])
    eps = _np(keras.random.normal((5, latent_dim), seed=1337)).astype(np.float64)

    x = data.astype(np.float64)
    hh = np.maximum(x @ ew[0] + ew[1], 0)
    zm, zlv = hh @ ew[2] + ew[3], hh @ ew[4] + ew[5]
    zz = zm + np.exp(0.5 * zlv) * eps
    rec = 1 / (1 + np.exp(-(np.maximum(zz @ dw[0] + dw[1], 0) @ dw[2] + dw[3])))
    eps_k = 1e-7            # Keras clips probabilities to [eps, 1 - eps] in binary_crossentropy
    r = np.clip(rec, eps_k, 1 - eps_k)
    rec_loss = np.mean(np.sum(-(x * np.log(r) + (1 - x) * np.log(1 - r)), axis=1))
    kl = np.mean(np.sum(-0.5 * (1 + zlv - zm ** 2 - np.exp(zlv)), axis=1))
    np.testing.assert_allclose(hist.history["reconstruction_loss"], [rec_loss], rtol=1e-5)
    np.testing.assert_allclose(hist.history["kl_loss"], [kl], rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(hist.history["loss"], [rec_loss + kl], rtol=1e-5)


def _leaky(z, a=0.2):
    return np.where(z > 0, z, a * z)


def _bce_logits(y, z):
    return np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))))


def _adam_first_step(w, g, lr, eps=1e-7, beta_1=0.9, beta_2=0.999):
    # Keras's Adam, step 1: m = (1 - b1) g, v = (1 - b2) g^2, epsilon added to sqrt(v)
    m, v = (1 - beta_1) * g, (1 - beta_2) * g * g
    alpha = lr * np.sqrt(1 - beta_2) / (1 - beta_1)
    return w - alpha * m / (np.sqrt(v) + eps)


def test_keras3_dcgan_train_step_conformance(monkeypatch):
    """keras.io examples/generative/dcgan_overriding_train_step.py (Keras 3 form: SeedGenerator,
    keras.random.normal(..., seed=self.seed_generator), ops.*, metrics property), with dense
    generator/discriminator; one step vs a NumPy forward/backward and Adam update."""
    ops = _ops()
    latent_dim, img_dim, batch_size = 4, 6, 5

    discriminator = keras.Sequential([keras.Input(shape=(img_dim,)), layers.Dense(7),
                                      layers.LeakyReLU(negative_slope=0.2), layers.Dense(1)],
                                     name="discriminator")
    generator = keras.Sequential([keras.Input(shape=(latent_dim,)), layers.Dense(8),
                                  layers.LeakyReLU(negative_slope=0.2),
                                  layers.Dense(img_dim, activation="sigmoid")],
                                 name="generator")

    class GAN(keras.Model):
        def __init__(self, discriminator, generator, latent_dim):
            super().__init__()
            self.discriminator = discriminator
            self.generator = generator
            self.latent_dim = latent_dim
            self.seed_generator = keras.random.SeedGenerator(1337)

        def compile(self, d_optimizer, g_optimizer, loss_fn):
            super().compile()
            self.d_optimizer = d_optimizer
            self.g_optimizer = g_optimizer
            self.loss_fn = loss_fn
            self.d_loss_metric = keras.metrics.Mean(name="d_loss")
            self.g_loss_metric = keras.metrics.Mean(name="g_loss")

        @property
        def metrics(self):
            return [self.d_loss_metric, self.g_loss_metric]

        def train_step(self, real_images):
            batch_size = ops.shape(real_images)[0]
            random_latent_vectors = keras.random.normal(
                shape=(batch_size, self.latent_dim), seed=self.seed_generator)
            generated_images = self.generator(random_latent_vectors)
            combined_images = ops.concatenate([generated_images, real_images], axis=0)
            labels = ops.concatenate([ops.ones((batch_size, 1)), ops.zeros((batch_size, 1))],
                                     axis=0)
            labels += 0.05 * tf.random.uniform(tf.shape(labels))
            with tf.GradientTape() as tape:
                predictions = self.discriminator(combined_images)
                d_loss = self.loss_fn(labels, predictions)
            grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
            self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))
            random_latent_vectors = keras.random.normal(
                shape=(batch_size, self.latent_dim), seed=self.seed_generator)
            misleading_labels = ops.zeros((batch_size, 1))
            with tf.GradientTape() as tape:
                predictions = self.discriminator(self.generator(random_latent_vectors))
                g_loss = self.loss_fn(misleading_labels, predictions)
            grads = tape.gradient(g_loss, self.generator.trainable_weights)
            self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))
            self.d_loss_metric.update_state(d_loss)
            self.g_loss_metric.update_state(g_loss)
            return {"d_loss": self.d_loss_metric.result(),
                    "g_loss": self.g_loss_metric.result()}

    # record the random draws the step makes (the label noise comes from tf.random)
    drawn = {"normal": [], "uniform": []}
    real_normal, real_uniform = keras.random.normal, tf.random.uniform

    def normal(*a, **k):
        out = real_normal(*a, **k)
        drawn["normal"].append(_np(out).astype(np.float64))
        return out

    def uniform(*a, **k):
        out = real_uniform(*a, **k)
        drawn["uniform"].append(_np(out).astype(np.float64))
        return out
    monkeypatch.setattr(keras.random, "normal", normal)
    monkeypatch.setattr(tf.random, "uniform", uniform)

    real = np.random.default_rng(0).uniform(size=(batch_size, img_dim)).astype(np.float32)
    gan = GAN(discriminator=discriminator, generator=generator, latent_dim=latent_dim)
    lr = 3e-4
    gan.compile(d_optimizer=keras.optimizers.Adam(learning_rate=lr),
                g_optimizer=keras.optimizers.Adam(learning_rate=lr),
                loss_fn=keras.losses.BinaryCrossentropy(from_logits=True))
    dW1, db1, dW2, db2 = [w.astype(np.float64) for w in discriminator.get_weights()]
    gW1, gb1, gW2, gb2 = [w.astype(np.float64) for w in generator.get_weights()]
    dataset = tf.data.Dataset.from_tensor_slices(real).batch(batch_size)
    hist = gan.fit(dataset, epochs=1, verbose=0)

    assert len(drawn["normal"]) == 2 and len(drawn["uniform"]) == 1
    z1, z2 = drawn["normal"]
    assert z1.shape == (batch_size, latent_dim) and not np.array_equal(z1, z2)
    np.testing.assert_array_equal(gan.seed_generator.state.numpy(), [1337, 2])
    # the draws are SeedGenerator(1337)'s first two, reproducibly
    again = keras.random.SeedGenerator(1337)
    np.testing.assert_array_equal(_np(real_normal((batch_size, latent_dim), seed=again)), z1)
    np.testing.assert_array_equal(_np(real_normal((batch_size, latent_dim), seed=again)), z2)

    def gen_fwd(z, W1, b1, W2, b2):
        h_pre = z @ W1 + b1
        h = _leaky(h_pre)
        o = 1 / (1 + np.exp(-(h @ W2 + b2)))
        return h_pre, h, o

    def disc_fwd(x, W1, b1, W2, b2):
        h_pre = x @ W1 + b1
        return h_pre, _leaky(h_pre), _leaky(h_pre) @ W2 + b2

    # discriminator step
    _, _, fake = gen_fwd(z1, gW1, gb1, gW2, gb2)
    xc = np.concatenate([fake, real.astype(np.float64)])
    labels = np.concatenate([np.ones((batch_size, 1)), np.zeros((batch_size, 1))]) + \
        0.05 * drawn["uniform"][0]
    h_pre, h, logits = disc_fwd(xc, dW1, db1, dW2, db2)
    d_loss = _bce_logits(labels, logits)
    dz = (1 / (1 + np.exp(-logits)) - labels) / logits.size
    g_dW2, g_db2 = h.T @ dz, dz.sum(0)
    dh = (dz @ dW2.T) * np.where(h_pre > 0, 1.0, 0.2)
    g_dW1, g_db1 = xc.T @ dh, dh.sum(0)
    dW1n, db1n, dW2n, db2n = [_adam_first_step(w, g, lr) for w, g in
                              ((dW1, g_dW1), (db1, g_db1), (dW2, g_dW2), (db2, g_db2))]
    for got, want in zip(discriminator.get_weights(), (dW1n, db1n, dW2n, db2n)):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)

    # generator step through the updated discriminator
    gh_pre, gh, out = gen_fwd(z2, gW1, gb1, gW2, gb2)
    h_pre, h, logits = disc_fwd(out, dW1n, db1n, dW2n, db2n)
    g_loss = _bce_logits(np.zeros_like(logits), logits)
    dz = (1 / (1 + np.exp(-logits))) / logits.size
    dx = ((dz @ dW2n.T) * np.where(h_pre > 0, 1.0, 0.2)) @ dW1n.T
    do = dx * out * (1 - out)
    g_gW2, g_gb2 = gh.T @ do, do.sum(0)
    dgh = (do @ gW2.T) * np.where(gh_pre > 0, 1.0, 0.2)
    g_gW1, g_gb1 = z2.T @ dgh, dgh.sum(0)
    for got, want in zip(generator.get_weights(),
                         [_adam_first_step(w, g, lr) for w, g in
                          ((gW1, g_gW1), (gb1, g_gb1), (gW2, g_gW2), (gb2, g_gb2))]):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)

    np.testing.assert_allclose(hist.history["d_loss"], [d_loss], rtol=1e-5)
    np.testing.assert_allclose(hist.history["g_loss"], [g_loss], rtol=1e-5)
    assert [m.name for m in gan.metrics] == ["d_loss", "g_loss"]
