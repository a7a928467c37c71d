"""keras.io developer guides in their Keras 3 form (`import keras`, `from keras import layers,
ops`), run with `from nabi import keras`: each test follows one guide's code with the import
lines changed, tiny synthetic data and narrower layers. The Keras 2 forms are in
test_guides_keras.py; here are the parts where Keras 3 code differs (keras.ops, shape-first
add_weight, keras.random.SeedGenerator, optimizer.apply, compute_loss, the .keras format's
build/variable hooks). Numbers are checked against NumPy references written here."""
import os

import numpy as np
import pytest

import nabi as tf
from nabi import keras
from nabi.keras import layers, ops


@pytest.fixture(autouse=True)
def _clean_state():
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    yield


def _np(t):
    return np.asarray(ops.convert_to_numpy(t))


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


# ----------------------------------------------------------------------------------------------
# guides/making_new_layers_and_models_via_subclassing.py (Keras 3)
# ----------------------------------------------------------------------------------------------

class Linear(keras.layers.Layer):
    def __init__(self, units=32, input_dim=32):
        super().__init__()
        self.w = self.add_weight(shape=(input_dim, units), initializer="random_normal",
                                 trainable=True)
        self.b = self.add_weight(shape=(units,), initializer="zeros", trainable=True)

    def call(self, inputs):
        return ops.matmul(inputs, self.w) + self.b


class ComputeSum(keras.layers.Layer):
    def __init__(self, input_dim):
        super().__init__()
        self.total = self.add_weight(initializer="zeros", shape=(input_dim,), trainable=False)

    def call(self, inputs):
        self.total.assign_add(ops.sum(inputs, axis=0))
        return self.total


class LazyLinear(keras.layers.Layer):
    def __init__(self, units=32):
        super().__init__()
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units),
                                 initializer="random_normal", trainable=True)
        self.b = self.add_weight(shape=(self.units,), initializer="random_normal",
                                 trainable=True)

    def call(self, inputs):
        return ops.matmul(inputs, self.w) + self.b


class MLPBlock(keras.layers.Layer):
    def __init__(self):
        super().__init__()
        self.linear_1 = LazyLinear(8)
        self.linear_2 = LazyLinear(8)
        self.linear_3 = LazyLinear(1)

    def call(self, inputs):
        x = self.linear_1(inputs)
        x = keras.activations.relu(x)
        x = self.linear_2(x)
        x = keras.activations.relu(x)
        return self.linear_3(x)


class ActivityRegularizationLayer(keras.layers.Layer):
    def __init__(self, rate=1e-2):
        super().__init__()
        self.rate = rate

    def call(self, inputs):
        self.add_loss(self.rate * ops.mean(inputs))
        return inputs


class OuterLayer(keras.layers.Layer):
    def __init__(self):
        super().__init__()
        self.activity_reg = ActivityRegularizationLayer(1e-2)

    def call(self, inputs):
        return self.activity_reg(inputs)


class OuterLayerWithKernelRegularizer(keras.layers.Layer):
    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(4, kernel_regularizer=keras.regularizers.l2(1e-3))

    def call(self, inputs):
        return self.dense(inputs)


class CustomDropout(keras.layers.Layer):
    def __init__(self, rate, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, inputs, training=None):
        if training:
            return keras.random.dropout(inputs, rate=self.rate, seed=self.seed_generator)
        return inputs


class SerializableLinear(keras.layers.Layer):
    def __init__(self, units=32, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units),
                                 initializer="random_normal", trainable=True)
        self.b = self.add_weight(shape=(self.units,), initializer="random_normal",
                                 trainable=True)

    def call(self, inputs):
        return ops.matmul(inputs, self.w) + self.b

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units})
        return config


def test_subclassing_guide_layers_weights_losses_and_training_arg():
    x = ops.ones((2, 2))
    linear_layer = Linear(4, 2)
    y = linear_layer(x)
    w, b = _np(linear_layer.w), _np(linear_layer.b)
    np.testing.assert_allclose(_np(y), np.ones((2, 2)) @ w + b, rtol=1e-6)
    assert linear_layer.weights == [linear_layer.w, linear_layer.b]
    assert w.shape == (2, 4) and np.all(b == 0) and 0 < np.std(w) < 0.2  # random_normal(0.05)

    x = ops.ones((2, 2))
    my_sum = ComputeSum(2)
    y = my_sum(x)
    np.testing.assert_array_equal(_np(y), [2.0, 2.0])
    y = my_sum(x)
    np.testing.assert_array_equal(_np(y), [4.0, 4.0])
    assert len(my_sum.weights) == 1 and len(my_sum.non_trainable_weights) == 1
    assert my_sum.trainable_weights == []

    linear_layer = LazyLinear(32)
    assert linear_layer.weights == []
    y = linear_layer(x)
    assert [tuple(v.shape) for v in linear_layer.weights] == [(2, 32), (32,)]

    mlp = MLPBlock()
    y = mlp(ops.ones(shape=(3, 64)))
    assert tuple(y.shape) == (3, 1)
    assert len(mlp.weights) == 6 and len(mlp.trainable_weights) == 6

    # add_loss: the losses of the last __call__ only, collected from sublayers
    layer = OuterLayer()
    assert len(layer.losses) == 0
    _ = layer(ops.zeros((1, 1)))
    assert len(layer.losses) == 1
    _ = layer(ops.zeros((1, 1)))
    assert len(layer.losses) == 1
    _ = layer(ops.full((2, 3), 2.0))
    np.testing.assert_allclose(_np(layer.losses[0]), 1e-2 * 2.0, rtol=1e-6)

    layer = OuterLayerWithKernelRegularizer()
    _ = layer(ops.zeros((1, 1)))
    assert len(layer.losses) == 1
    k = _np(layer.dense.kernel)
    np.testing.assert_allclose(_np(layer.losses[0]), 1e-3 * np.sum(k.astype(np.float64) ** 2),
                               rtol=1e-5)

    # the losses take part in training: model.fit adds them to the compiled loss
    inputs = keras.Input(shape=(3,))
    outputs = ActivityRegularizationLayer()(inputs)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="mse")
    xs = np.random.default_rng(0).random((4, 3)).astype("float32")
    loss = model.evaluate(xs, np.zeros((4, 3), "float32"), batch_size=4, verbose=0)
    xs64 = xs.astype(np.float64)
    np.testing.assert_allclose(loss, np.mean(xs64 ** 2) + 1e-2 * np.mean(xs64), rtol=1e-5)
    model.compile(optimizer="adam")   # the loss can be only the added one
    history = model.fit(xs, epochs=1, batch_size=4, verbose=0)
    np.testing.assert_allclose(history.history["loss"][0], 1e-2 * np.mean(xs64), rtol=1e-5)

    # the training argument with a SeedGenerator-driven dropout
    layer = CustomDropout(0.5)
    ones = ops.ones((8, 50))
    np.testing.assert_array_equal(_np(layer(ones)), 1.0)
    d1 = _np(layer(ones, training=True))
    d2 = _np(layer(ones, training=True))
    assert set(np.unique(d1)) <= {0.0, 2.0} and not np.array_equal(d1, d2)
    assert 0.35 < np.mean(d1 == 0) < 0.65
    # the seed state is a variable of the layer, but not one of its weights (as in Keras 3)
    assert len(layer.variables) == 1 and layer.weights == []

    # get_config / from_config
    layer = SerializableLinear(units=64)
    config = layer.get_config()
    assert config["units"] == 64 and config["name"] == layer.name
    new_layer = SerializableLinear.from_config(config)
    assert new_layer.units == 64 and new_layer.name == layer.name


# ----------------------------------------------------------------------------------------------
# guides/understanding_masking_and_padding.py (Keras 3)
# ----------------------------------------------------------------------------------------------

class MyLayer(layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.embedding = layers.Embedding(input_dim=50, output_dim=4, mask_zero=True)
        self.lstm = layers.LSTM(3)

    def call(self, inputs):
        x = self.embedding(inputs)
        mask = self.embedding.compute_mask(inputs)
        return self.lstm(x, mask=mask)


class TemporalSplit(keras.layers.Layer):
    """Split the input tensor into 2 tensors along the time dimension."""

    def call(self, inputs):
        return ops.split(inputs, 2, axis=1)

    def compute_mask(self, inputs, mask=None):
        if mask is None:
            return None
        return ops.split(mask, 2, axis=1)


class CustomEmbedding(keras.layers.Layer):
    def __init__(self, input_dim, output_dim, mask_zero=False, **kwargs):
        super().__init__(**kwargs)
        self.input_dim = input_dim
        self.output_dim = output_dim
        self.mask_zero = mask_zero
        self.embeddings = self.add_weight(shape=(input_dim, output_dim),
                                          initializer="random_normal", dtype="float32")

    def call(self, inputs):
        inputs = ops.cast(inputs, "int32")
        return ops.take(self.embeddings, inputs)

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        return ops.not_equal(inputs, 0)


class MyActivation(keras.layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs):
        return ops.relu(inputs)


class TemporalSoftmax(keras.layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        assert mask is not None
        broadcast_float_mask = ops.expand_dims(ops.cast(mask, "float32"), -1)
        inputs_exp = ops.exp(inputs) * broadcast_float_mask
        inputs_sum = ops.sum(inputs_exp * broadcast_float_mask, axis=1, keepdims=True)
        return inputs_exp / inputs_sum


def test_masking_and_padding_guide():
    raw_inputs = [[711, 632, 71], [73, 8, 3215, 55, 927], [83, 91, 1, 645, 1253, 927]]
    padded_inputs = keras.utils.pad_sequences(raw_inputs, padding="post")
    np.testing.assert_array_equal(padded_inputs, [[711, 632, 71, 0, 0, 0],
                                                  [73, 8, 3215, 55, 927, 0],
                                                  [83, 91, 1, 645, 1253, 927]])
    assert padded_inputs.dtype == np.int32
    pre = keras.utils.pad_sequences(raw_inputs)
    np.testing.assert_array_equal(pre[0], [0, 0, 0, 711, 632, 71])
    ref_mask = padded_inputs != 0

    embedding = layers.Embedding(input_dim=5000, output_dim=4, mask_zero=True)
    masked_output = embedding(padded_inputs)
    np.testing.assert_array_equal(_np(masked_output._keras_mask), ref_mask)

    masking_layer = layers.Masking()
    unmasked_embedding = ops.cast(
        ops.tile(ops.expand_dims(padded_inputs, axis=-1), [1, 1, 3]), "float32")
    masked_embedding = masking_layer(unmasked_embedding)
    np.testing.assert_array_equal(_np(masked_embedding._keras_mask), ref_mask)

    # mask-consuming LSTM: the padded sequence ends where its mask ends
    small = np.array([[5, 7, 0, 0], [3, 0, 0, 0]], np.int32)
    layer = MyLayer()
    out = _np(layer(small))
    trimmed = [_np(layer(small[:1, :2]))[0], _np(layer(small[1:, :1]))[0]]
    np.testing.assert_allclose(out, np.stack(trimmed), rtol=1e-5, atol=1e-6)

    # Sequential and functional models carry the mask to the LSTM automatically
    model = keras.Sequential([layers.Embedding(input_dim=50, output_dim=4, mask_zero=True),
                              layers.LSTM(3)])
    out = _np(model(small))
    np.testing.assert_allclose(out[0], _np(model(small[:1, :2]))[0], rtol=1e-5, atol=1e-6)

    first_half, second_half = TemporalSplit()(masked_embedding)
    np.testing.assert_array_equal(_np(first_half._keras_mask), ref_mask[:, :3])
    np.testing.assert_array_equal(_np(second_half._keras_mask), ref_mask[:, 3:])

    layer = CustomEmbedding(10, 4, mask_zero=True)
    x = np.random.default_rng(0).integers(0, 10, size=(3, 10))
    y = layer(x)
    # ops.take without an axis indexes the flattened table (NumPy's np.take), so this guide
    # layer's output is (3, 10), one table entry per token, as with Keras 3
    np.testing.assert_allclose(_np(y), np.take(_np(layer.embeddings), x), rtol=1e-6)
    mask = layer.compute_mask(x)
    np.testing.assert_array_equal(_np(mask), x != 0)

    # a mask passes through a supports_masking layer
    inputs = keras.Input(shape=(None,), dtype="int32")
    x = layers.Embedding(input_dim=50, output_dim=4, mask_zero=True)(inputs)
    x = MyActivation()(x)
    outputs = layers.LSTM(3)(x)
    model = keras.Model(inputs, outputs)
    np.testing.assert_allclose(_np(model(small))[0], _np(model(small[:1, :2]))[0], rtol=1e-5,
                               atol=1e-6)

    # TemporalSoftmax: a softmax over the unmasked time steps
    inputs = keras.Input(shape=(None,), dtype="int32")
    x = layers.Embedding(input_dim=10, output_dim=4, mask_zero=True)(inputs)
    x = layers.Dense(1)(x)
    outputs = TemporalSoftmax()(x)
    model = keras.Model(inputs, outputs)
    data = np.random.default_rng(1).integers(0, 10, size=(4, 12))
    data[:, -3:] = 0
    data[:, 0] = np.maximum(data[:, 0], 1)
    y = _np(model(data))
    emb = _np(model.layers[1].embeddings).astype(np.float64)
    kd, bd = [v.astype(np.float64) for v in model.layers[2].get_weights()]
    z = emb[data] @ kd + bd
    m = (data != 0)[..., None]
    e = np.exp(z) * m
    np.testing.assert_allclose(y, e / e.sum(axis=1, keepdims=True), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-5)


# ----------------------------------------------------------------------------------------------
# guides/serialization_and_saving.py (Keras 3)
# ----------------------------------------------------------------------------------------------

@keras.saving.register_keras_serializable(package="k3guide", name="custom_fn")
def custom_fn(x):
    return x**2


@keras.saving.register_keras_serializable(package="k3guide")
class FactorLayer(keras.layers.Layer):
    def __init__(self, factor, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, x):
        return x * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@keras.saving.register_keras_serializable(package="k3guide")
class LayerWithCustomVariable(keras.layers.Dense):
    def __init__(self, units, **kwargs):
        super().__init__(units, **kwargs)
        self.my_variable = keras.Variable(np.random.random((units,)), name="my_variable",
                                          dtype="float32")

    def save_own_variables(self, store):
        super().save_own_variables(store)
        # Stores the value of the variable upon saving
        store["variables"] = self.my_variable.numpy()

    def load_own_variables(self, store):
        # Assigns the value of the variable upon loading
        self.my_variable.assign(store["variables"])
        # Load the remaining weights
        for i, v in enumerate(self.weights):
            v.assign(store[f"{i}"])

    def call(self, inputs):
        dense_out = super().call(inputs)
        return dense_out + self.my_variable


@keras.saving.register_keras_serializable(package="k3guide")
class LayerWithCustomAssets(keras.layers.Dense):
    def __init__(self, vocab=None, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.vocab = vocab

    def save_assets(self, inner_path):
        with open(os.path.join(inner_path, "vocabulary.txt"), "w") as f:
            f.write(self.vocab)

    def load_assets(self, inner_path):
        with open(os.path.join(inner_path, "vocabulary.txt"), "r") as f:
            text = f.read()
        self.vocab = text.replace("<unk>", "little")


@keras.saving.register_keras_serializable(package="k3guide")
class LayerWithCustomBuild(keras.layers.Layer):
    def __init__(self, units=32, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def call(self, inputs):
        return ops.matmul(inputs, self.w) + self.b

    def get_config(self):
        return dict(units=self.units, **super().get_config())

    def build(self, input_shape, layer_init):
        # build() takes an extra argument, so it is called by hand before call()
        super().build(input_shape)
        self._input_shape = input_shape
        self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer=layer_init,
                                 trainable=True)
        self.b = self.add_weight(shape=(self.units,), initializer=layer_init, trainable=True)
        self.layer_init = layer_init

    def get_build_config(self):
        return {"layer_init": self.layer_init, "input_shape": self._input_shape}

    def build_from_config(self, config):
        self.build(config["input_shape"], config["layer_init"])


def test_serialization_and_saving_guide(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)

    def get_model():
        inputs = keras.Input(shape=(6,))
        x = FactorLayer(0.5)(inputs)
        x = keras.layers.Activation(custom_fn)(x)
        outputs = keras.layers.Dense(1)(x)
        model = keras.Model(inputs, outputs)
        model.compile(optimizer=keras.optimizers.Adam(), loss="mean_squared_error")
        return model

    model = get_model()
    test_input = rng.random((16, 6)).astype("float32")
    test_target = rng.random((16, 1)).astype("float32")
    model.fit(test_input, test_target, verbose=0)
    k, b = [v.astype(np.float64) for v in model.layers[-1].get_weights()]
    np.testing.assert_allclose(model.predict(test_input, verbose=0),
                               (0.5 * test_input.astype(np.float64)) ** 2 @ k + b, rtol=1e-5)
    model.save("my_model.keras")
    reconstructed_model = keras.models.load_model("my_model.keras")
    np.testing.assert_allclose(model.predict(test_input, verbose=0),
                               reconstructed_model.predict(test_input, verbose=0), rtol=1e-6)
    assert type(reconstructed_model.layers[1]) is FactorLayer
    assert reconstructed_model.layers[1].factor == 0.5
    assert keras.saving.get_registered_name(FactorLayer) == "k3guide>FactorLayer"
    assert keras.saving.get_registered_object("k3guide>custom_fn") is custom_fn
    # the optimizer state travels too: one more step gives the same weights
    reconstructed_model.fit(test_input, test_target, verbose=0, shuffle=False)
    model.fit(test_input, test_target, verbose=0, shuffle=False)
    for a, c in zip(model.get_weights(), reconstructed_model.get_weights()):
        np.testing.assert_allclose(a, c, rtol=1e-6)

    # config round trips
    layer = keras.layers.Dense(3, activation="relu")
    new_layer = keras.layers.Dense.from_config(layer.get_config())
    assert new_layer.units == 3 and new_layer.activation is keras.activations.relu
    seq = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    assert len(keras.Sequential.from_config(seq.get_config()).weights) == 2
    new_model = keras.models.model_from_json(seq.to_json())
    assert new_model.output_shape == (None, 1)
    my_reg = keras.regularizers.L1(0.005)
    config = keras.saving.serialize_keras_object(my_reg)
    new_reg = keras.saving.deserialize_keras_object(config)
    assert isinstance(new_reg, keras.regularizers.L1)
    np.testing.assert_allclose(float(new_reg(ops.ones((2, 2)))), 0.005 * 4, rtol=1e-6)

    # weights only
    seq.save_weights("my_model.weights.h5")
    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    other.load_weights("my_model.weights.h5")
    for a, c in zip(seq.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, c)

    # save_own_variables / load_own_variables
    model = keras.Sequential([LayerWithCustomVariable(1)])
    ref_input = rng.random((8, 10)).astype("float32")
    ref_output = rng.random((8, 10)).astype("float32")
    model.compile(optimizer="adam", loss="mean_squared_error")
    model.fit(ref_input, ref_output, verbose=0)
    model.save("custom_vars_model.keras")
    restored_model = keras.models.load_model("custom_vars_model.keras")
    np.testing.assert_allclose(model.layers[0].my_variable.numpy(),
                               restored_model.layers[0].my_variable.numpy())
    np.testing.assert_allclose(model.predict(ref_input, verbose=0),
                               restored_model.predict(ref_input, verbose=0), rtol=1e-6)

    # save_assets / load_assets
    model = keras.Sequential([LayerWithCustomAssets(vocab="Mary had a <unk> lamb.", units=5)])
    x = rng.random((10, 10))
    model(x)
    model.save("custom_assets_model.keras")
    restored_model = keras.models.load_model("custom_assets_model.keras")
    np.testing.assert_string_equal(restored_model.layers[0].vocab, "Mary had a little lamb.")

    # get_build_config / build_from_config
    custom_layer = LayerWithCustomBuild(units=16)
    custom_layer.build(input_shape=(8,), layer_init="random_normal")
    model = keras.Sequential([custom_layer, keras.layers.Dense(1, activation="sigmoid")])
    x = rng.random((16, 8))
    y = model(x)
    model.save("custom_build_model.keras")
    restored_model = keras.models.load_model("custom_build_model.keras")
    np.testing.assert_equal(restored_model.layers[0].layer_init, "random_normal")
    np.testing.assert_equal(restored_model.built, True)
    np.testing.assert_allclose(_np(restored_model(x)), _np(y), rtol=1e-6)


def test_save_own_variables_writes_its_entries_and_mse_broadcast_gradient(tmp_path):
    """The Keras 3 hooks' entries are in the file; and the guide's LayerWithCustomVariable
    trains an (n, 1) output against (n, 10) targets: MSE broadcasts y_true against y_pred, so
    the gradient for y_pred sums over the broadcast axis."""
    h5py = pytest.importorskip("h5py")
    import io
    import zipfile
    model = keras.Sequential([keras.Input((3,)), LayerWithCustomVariable(1)])
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as z:
        with h5py.File(io.BytesIO(z.read("model.weights.h5")), "r") as f:
            v = f["layers"][model.layers[0].name]["vars"]
            assert sorted(v.keys()) == ["0", "1", "2", "variables"]
            np.testing.assert_array_equal(v["variables"][()], model.layers[0].my_variable.numpy())

    rng = np.random.default_rng(0)
    yt = rng.normal(size=(4, 3)).astype("float32")
    yp = tf.Variable(rng.normal(size=(4, 1)).astype("float32"))
    d = yp.numpy().astype(np.float64) - yt.astype(np.float64)
    ref_loss = np.mean(np.mean(d ** 2, axis=-1))
    ref_grad = (2 * d / (3 * 4)).sum(axis=1, keepdims=True)
    for fn in (keras.losses.MeanSquaredError(),
               lambda a, b: ops.mean(keras.losses.mean_squared_error(a, b))):
        with tf.GradientTape() as tape:
            loss = fn(yt, yp)
        g = tape.gradient(loss, yp)
        np.testing.assert_allclose(float(loss), ref_loss, rtol=1e-6)
        assert tuple(g.shape) == (4, 1)
        np.testing.assert_allclose(g.numpy(), ref_grad, rtol=1e-5)
    # mean absolute error likewise
    with tf.GradientTape() as tape:
        loss = keras.losses.MeanAbsoluteError()(yt, yp)
    np.testing.assert_allclose(tape.gradient(loss, yp).numpy(),
                               (np.sign(d) / 12).sum(axis=1, keepdims=True), rtol=1e-5)


# ----------------------------------------------------------------------------------------------
# guides/custom_train_step_in_tensorflow.py (Keras 3)
# ----------------------------------------------------------------------------------------------

class LowLevelModel(keras.Model):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.mae_metric = keras.metrics.MeanAbsoluteError(name="mae")
        self.loss_fn = keras.losses.MeanSquaredError()

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)  # Forward pass
            # Compute our own loss
            loss = self.loss_fn(y, y_pred)
        # Compute gradients
        trainable_vars = self.trainable_variables
        gradients = tape.gradient(loss, trainable_vars)
        # Update weights
        self.optimizer.apply(gradients, trainable_vars)
        # Compute our own metrics
        self.loss_tracker.update_state(loss)
        self.mae_metric.update_state(y, y_pred)
        return {"loss": self.loss_tracker.result(), "mae": self.mae_metric.result()}

    @property
    def metrics(self):
        # Listing the metrics here lets reset_states() run on them at each epoch start
        return [self.loss_tracker, self.mae_metric]


class WeightedModel(keras.Model):
    def train_step(self, data):
        if len(data) == 3:
            x, y, sample_weight = data
        else:
            sample_weight = None
            x, y = data
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred, sample_weight=sample_weight)
        trainable_vars = self.trainable_variables
        gradients = tape.gradient(loss, trainable_vars)
        self.optimizer.apply(gradients, trainable_vars)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred, sample_weight=sample_weight)
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, data):
        x, y = data
        y_pred = self(x, training=False)
        loss = self.compute_loss(y=y, y_pred=y_pred)
        for metric in self.metrics:
            if metric.name != "loss":
                metric.update_state(y, y_pred)
            else:
                metric.update_state(loss)
        return {m.name: m.result() for m in self.metrics}


def test_customizing_fit_guide_low_level_and_sample_weights():
    rng = np.random.default_rng(0)
    x = rng.random((8, 3)).astype("float32")
    y = rng.random((8, 1)).astype("float32")
    sw = rng.random((8,)).astype("float32")
    x64, y64, sw64 = x.astype(np.float64), y.astype(np.float64), sw.astype(np.float64)

    inputs = keras.Input(shape=(3,))
    outputs = keras.layers.Dense(1)(inputs)
    model = LowLevelModel(inputs, outputs)
    model.compile(optimizer=keras.optimizers.SGD(0.1))   # no loss, no metrics passed
    k0, b0 = [w.astype(np.float64) for w in model.get_weights()]
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    # two full-batch SGD steps on the MSE, replayed in NumPy
    k, b = k0.copy(), b0.copy()
    losses, maes = [], []
    for _ in range(2):
        p = x64 @ k + b
        losses.append(np.mean((p - y64) ** 2))
        maes.append(np.mean(np.abs(p - y64)))
        g = 2 * (p - y64) / 8
        k, b = k - 0.1 * x64.T @ g, b - 0.1 * g.sum(0)
    np.testing.assert_allclose(history.history["loss"], losses, rtol=1e-5)   # reset each epoch
    np.testing.assert_allclose(history.history["mae"], maes, rtol=1e-5)
    np.testing.assert_allclose(model.get_weights()[0], k, rtol=1e-5)

    inputs = keras.Input(shape=(3,))
    outputs = keras.layers.Dense(1)(inputs)
    model = WeightedModel(inputs, outputs)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", metrics=["mae"])
    k0, b0 = [w.astype(np.float64) for w in model.get_weights()]
    history = model.fit(x, y, sample_weight=sw, batch_size=8, epochs=1, verbose=0)
    p = x64 @ k0 + b0
    se = ((p - y64) ** 2)[:, 0]
    # Keras reduces a weighted loss by the batch size (sum_over_batch_size)
    np.testing.assert_allclose(history.history["loss"][0], np.sum(sw64 * se) / 8, rtol=1e-5)
    np.testing.assert_allclose(history.history["mae"][0],
                               np.sum(sw64 * np.abs(p - y64)[:, 0]) / np.sum(sw64), rtol=1e-5)
    g = 2 * sw64[:, None] * (p - y64) / 8
    np.testing.assert_allclose(model.get_weights()[0], k0 - 0.1 * x64.T @ g, rtol=1e-5)

    # the custom test_step
    k1, b1 = [w.astype(np.float64) for w in model.get_weights()]
    p = x64 @ k1 + b1
    loss, mae = model.evaluate(x, y, batch_size=8, verbose=0)
    np.testing.assert_allclose(loss, np.mean((p - y64) ** 2), rtol=1e-5)
    np.testing.assert_allclose(mae, np.mean(np.abs(p - y64)), rtol=1e-5)


# ----------------------------------------------------------------------------------------------
# guides/writing_a_custom_training_loop_in_tensorflow.py (Keras 3)
# ----------------------------------------------------------------------------------------------

class ActivityRegularizationLayer2(keras.layers.Layer):
    def call(self, inputs):
        self.add_loss(1e-2 * tf.reduce_sum(inputs))
        return inputs


def test_training_loop_from_scratch_guide():
    def get_model():
        inputs = keras.Input(shape=(16,), name="digits")
        x1 = keras.layers.Dense(8, activation="relu")(inputs)
        x2 = keras.layers.Dense(8, activation="relu")(x1)
        outputs = keras.layers.Dense(3, name="predictions")(x2)
        return keras.Model(inputs=inputs, outputs=outputs)

    rng = np.random.default_rng(0)
    centers = rng.normal(size=(3, 16)) * 2
    y_all = rng.integers(0, 3, 96)
    x_all = (centers[y_all] + rng.normal(size=(96, 16))).astype("float32")
    x_train, y_train = x_all[:64], y_all[:64]
    x_val, y_val = x_all[64:], y_all[64:]
    batch_size = 16

    model = get_model()
    optimizer = keras.optimizers.Adam(learning_rate=1e-2)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    train_dataset = tf.data.Dataset.from_tensor_slices((x_train, y_train))
    train_dataset = train_dataset.shuffle(buffer_size=1024).batch(batch_size)
    val_dataset = tf.data.Dataset.from_tensor_slices((x_val, y_val))
    val_dataset = val_dataset.batch(batch_size)

    # the first step in NumPy: the loss value, then Adam's first update is lr * g / (|g| + eps)
    x0, y0 = x_train[:batch_size], y_train[:batch_size]
    ws = [w.numpy().astype(np.float64) for w in model.trainable_weights]
    with tf.GradientTape() as tape:
        logits = model(x0, training=True)
        loss_value = loss_fn(y0, logits)
    grads = tape.gradient(loss_value, model.trainable_weights)
    h1 = np.maximum(x0 @ ws[0] + ws[1], 0)
    h2 = np.maximum(h1 @ ws[2] + ws[3], 0)
    z = h2 @ ws[4] + ws[5]
    np.testing.assert_allclose(float(loss_value),
                               -np.mean(_log_softmax(z)[np.arange(batch_size), y0]), rtol=1e-5)
    optimizer.apply(grads, model.trainable_weights)
    g_last = grads[-1].numpy().astype(np.float64)
    step = 1e-2 * g_last / (np.abs(g_last) + 1e-7)
    np.testing.assert_allclose(model.trainable_weights[-1].numpy(), ws[5] - step, rtol=1e-4,
                               atol=1e-6)
    assert int(optimizer.iterations.numpy()) == 1

    # the tf.function train/test steps with metrics
    model = get_model()
    optimizer = keras.optimizers.Adam(learning_rate=1e-2)
    train_acc_metric = keras.metrics.SparseCategoricalAccuracy()
    val_acc_metric = keras.metrics.SparseCategoricalAccuracy()

    @tf.function
    def train_step(x, y):
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            loss_value = loss_fn(y, logits)
        grads = tape.gradient(loss_value, model.trainable_weights)
        optimizer.apply(grads, model.trainable_weights)
        train_acc_metric.update_state(y, logits)
        return loss_value

    @tf.function
    def test_step(x, y):
        val_logits = model(x, training=False)
        val_acc_metric.update_state(y, val_logits)

    epoch_losses = []
    for epoch in range(4):
        losses = []
        for step, (x_batch_train, y_batch_train) in enumerate(train_dataset):
            losses.append(float(train_step(x_batch_train, y_batch_train)))
        epoch_losses.append(np.mean(losses))
        train_acc = float(train_acc_metric.result())
        train_acc_metric.reset_state()
        assert float(train_acc_metric.result()) == 0.0
        for x_batch_val, y_batch_val in val_dataset:
            test_step(x_batch_val, y_batch_val)
        val_acc = float(val_acc_metric.result())
        val_acc_metric.reset_state()
    assert step == 3 and epoch_losses[-1] < epoch_losses[0]
    assert train_acc > 0.8 and val_acc > 0.8
    assert int(optimizer.iterations.numpy()) == 16
    p = model.predict(x_val, verbose=0)
    np.testing.assert_allclose(val_acc, np.mean(p.argmax(1) == y_val), atol=1e-6)

    # model.losses from add_loss enter the loss by hand
    inputs = keras.Input(shape=(16,), name="digits")
    x = keras.layers.Dense(8, activation="relu")(inputs)
    x = ActivityRegularizationLayer2()(x)
    x = keras.layers.Dense(8, activation="relu")(x)
    outputs = keras.layers.Dense(3, name="predictions")(x)
    model = keras.Model(inputs=inputs, outputs=outputs)
    with tf.GradientTape() as tape:
        logits = model(x0, training=True)
        loss_value = loss_fn(y0, logits)
        extra = sum(model.losses)
        loss_value += extra
    assert len(model.losses) == 1
    k, b = [w.astype(np.float64) for w in model.layers[1].get_weights()]
    np.testing.assert_allclose(float(extra), 1e-2 * np.maximum(x0 @ k + b, 0).sum(), rtol=1e-5)
    grads = tape.gradient(loss_value, model.trainable_weights)
    assert all(g is not None for g in grads)


# ----------------------------------------------------------------------------------------------
# guides/transfer_learning.py (Keras 3; a small base model with weights=None-style init)
# ----------------------------------------------------------------------------------------------

def test_transfer_learning_guide():
    layer = keras.layers.Dense(3)
    layer.build((None, 4))
    assert (len(layer.weights), len(layer.trainable_weights),
            len(layer.non_trainable_weights)) == (2, 2, 0)
    layer = keras.layers.BatchNormalization()
    layer.build((None, 4))
    assert (len(layer.weights), len(layer.trainable_weights),
            len(layer.non_trainable_weights)) == (4, 2, 2)
    layer = keras.layers.Dense(3)
    layer.build((None, 4))
    layer.trainable = False
    assert (len(layer.weights), len(layer.trainable_weights),
            len(layer.non_trainable_weights)) == (2, 0, 2)

    rng = np.random.default_rng(0)
    layer1 = keras.layers.Dense(3, activation="relu")
    layer2 = keras.layers.Dense(3, activation="sigmoid")
    model = keras.Sequential([keras.Input(shape=(3,)), layer1, layer2])
    layer1.trainable = False
    initial_layer1_weights_values = layer1.get_weights()
    initial_layer2_weights_values = layer2.get_weights()
    model.compile(optimizer="adam", loss="mse")
    model.fit(rng.random((2, 3)), rng.random((2, 3)), verbose=0)
    for a, c in zip(initial_layer1_weights_values, layer1.get_weights()):
        np.testing.assert_array_equal(a, c)
    assert not np.array_equal(initial_layer2_weights_values[0], layer2.get_weights()[0])

    inner_model = keras.Sequential([keras.Input(shape=(3,)),
                                    keras.layers.Dense(3, activation="relu"),
                                    keras.layers.Dense(3, activation="relu")])
    model = keras.Sequential([keras.Input(shape=(3,)), inner_model,
                              keras.layers.Dense(3, activation="sigmoid")])
    model.trainable = False
    assert inner_model.trainable is False
    assert inner_model.layers[0].trainable is False

    # the workflow: a frozen base called with training=False, a new head, then fine-tuning
    def make_base():
        inputs = keras.Input(shape=(12, 12, 3))
        x = keras.layers.Conv2D(4, 3, padding="same")(inputs)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.Activation("relu")(x)
        x = keras.layers.MaxPooling2D()(x)
        return keras.Model(inputs, x, name="base")

    base_model = make_base()
    bn = base_model.layers[2]
    base_model.trainable = False
    data_augmentation_layers = [layers.RandomFlip("horizontal"), layers.RandomRotation(0.1)]

    def data_augmentation(x):
        for layer in data_augmentation_layers:
            x = layer(x)
        return x

    imgs = rng.integers(0, 255, (32, 12, 12, 3)).astype("float32")
    labels = rng.integers(0, 2, (32, 1)).astype("float32")
    imgs[labels[:, 0] == 1, :, :, 0] = 250.0
    train_ds = tf.data.Dataset.from_tensor_slices((imgs, labels)).batch(8)
    train_ds = train_ds.map(lambda x, y: (data_augmentation(x), y))

    inputs = keras.Input(shape=(12, 12, 3))
    scale_layer = keras.layers.Rescaling(scale=1 / 127.5, offset=-1)
    x = scale_layer(inputs)
    # The base model contains batchnorm layers. We want to keep them in inference mode
    # when we unfreeze the base model for fine-tuning, so we make sure that the
    # base_model is running in inference mode here.
    x = base_model(x, training=False)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.2)(x)
    outputs = keras.layers.Dense(1)(x)
    model = keras.Model(inputs, outputs)
    assert len(model.trainable_weights) == 2
    model.compile(optimizer=keras.optimizers.Adam(0.05),
                  loss=keras.losses.BinaryCrossentropy(from_logits=True),
                  metrics=[keras.metrics.BinaryAccuracy()])
    frozen = [w.copy() for w in base_model.get_weights()]
    l0 = model.evaluate(imgs, labels, verbose=0)[0]
    model.fit(train_ds, epochs=8, verbose=0)
    assert model.evaluate(imgs, labels, verbose=0)[0] < l0
    for a, c in zip(frozen, base_model.get_weights()):
        np.testing.assert_array_equal(a, c)

    # fine-tuning: the base trains, but its BatchNormalization stays in inference mode
    base_model.trainable = True
    assert len(model.trainable_weights) == 2 + 4
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.BinaryCrossentropy(from_logits=True),
                  metrics=[keras.metrics.BinaryAccuracy()])
    mean0 = bn.moving_mean.numpy().copy()
    var0 = bn.moving_variance.numpy().copy()
    kernel0 = base_model.layers[1].kernel.numpy().copy()
    model.fit(train_ds, epochs=1, verbose=0)
    np.testing.assert_array_equal(bn.moving_mean.numpy(), mean0)
    np.testing.assert_array_equal(bn.moving_variance.numpy(), var0)
    assert not np.array_equal(base_model.layers[1].kernel.numpy(), kernel0)


def test_model_export_and_reload_the_artifact(tmp_path):
    """The saving guide's `model.export(...)` / `tf.saved_model.load(...).serve(x)`: serve runs
    the model in inference mode (dropout off) with the saved weights."""
    inputs = keras.Input(shape=(3,))
    x = keras.layers.Dense(4, activation="relu")(inputs)
    x = keras.layers.Dropout(0.5)(x)
    outputs = keras.layers.Dense(2)(x)
    model = keras.Model(inputs, outputs)
    model.export(str(tmp_path / "path_to_saved_model"), format="tf_saved_model")
    reloaded_artifact = tf.saved_model.load(str(tmp_path / "path_to_saved_model"))
    input_data = np.random.default_rng(0).random((5, 3)).astype("float32")
    k1, b1, k2, b2 = [w.astype(np.float64) for w in model.get_weights()]
    ref = np.maximum(input_data @ k1 + b1, 0) @ k2 + b2
    predictions = reloaded_artifact.serve(input_data)
    np.testing.assert_allclose(_np(predictions), ref, rtol=1e-5, atol=1e-6)
    out = reloaded_artifact.signatures["serving_default"](tf.constant(input_data))
    assert list(out) == ["output_0"]
    np.testing.assert_allclose(_np(out["output_0"]), ref, rtol=1e-5, atol=1e-6)
    assert len(reloaded_artifact.variables) == 4
    with pytest.raises(ValueError, match="tf_saved_model"):
        model.export(str(tmp_path / "m.onnx"), format="onnx")
    # a plain tf.saved_model.save still loads as the model itself
    tf.saved_model.save(model, str(tmp_path / "plain"))
    assert isinstance(tf.saved_model.load(str(tmp_path / "plain")), keras.Model)


# ----------------------------------------------------------------------------------------------
# guides/writing_your_own_callbacks.py (Keras 3)
# ----------------------------------------------------------------------------------------------

class EarlyStoppingAtMinLoss(keras.callbacks.Callback):
    """Stop training when the loss is at its min, i.e. the loss stops decreasing."""

    def __init__(self, patience=0):
        super().__init__()
        self.patience = patience
        self.best_weights = None

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = np.inf

    def on_epoch_end(self, epoch, logs=None):
        current = logs.get("loss")
        if np.less(current, self.best):
            self.best = current
            self.wait = 0
            self.best_weights = self.model.get_weights()
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.stopped_epoch = epoch
                self.model.stop_training = True
                self.model.set_weights(self.best_weights)


class CustomLearningRateScheduler(keras.callbacks.Callback):
    def __init__(self, schedule):
        super().__init__()
        self.schedule = schedule
        self.seen = []

    def on_epoch_begin(self, epoch, logs=None):
        if not hasattr(self.model.optimizer, "learning_rate"):
            raise ValueError('Optimizer must have a "learning_rate" attribute.')
        lr = self.model.optimizer.learning_rate
        scheduled_lr = self.schedule(epoch, lr)
        self.model.optimizer.learning_rate = scheduled_lr
        self.seen.append(float(ops.convert_to_numpy(self.model.optimizer.learning_rate)))


class LossAndErrorPrintingCallback(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.batch_logs = []

    def on_train_batch_end(self, batch, logs=None):
        self.batch_logs.append((batch, logs["loss"]))

    def on_test_batch_end(self, batch, logs=None):
        self.batch_logs.append(("test", batch, logs["loss"]))


def test_writing_your_own_callbacks_guide():
    def get_model():
        model = keras.Sequential()
        model.add(keras.layers.Dense(1))
        model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=0.1),
                      loss="mean_squared_error", metrics=["mean_absolute_error"])
        return model

    rng = np.random.default_rng(0)
    x_train = rng.random((64, 4)).astype("float32")
    y_train = (x_train @ np.array([1.0, -2.0, 0.5, 3.0], np.float32))[:, None]

    model = get_model()
    cb = LossAndErrorPrintingCallback()
    history = model.fit(x_train, y_train, batch_size=16, epochs=1, verbose=0, callbacks=[cb])
    assert [b for b, _ in cb.batch_logs] == [0, 1, 2, 3]
    # Keras 3 logs a running mean of the batch losses; the epoch's loss is the last one
    np.testing.assert_allclose(cb.batch_logs[-1][1], history.history["loss"][0], rtol=1e-6)
    model.evaluate(x_train, y_train, batch_size=32, verbose=0, callbacks=[cb])
    assert [e[:2] for e in cb.batch_logs[4:]] == [("test", 0), ("test", 1)]

    model = get_model()
    model.optimizer.learning_rate = 1.0   # large steps: the loss soon stops falling
    stopper = EarlyStoppingAtMinLoss(patience=1)
    history = model.fit(x_train, y_train, batch_size=64, epochs=30, verbose=0,
                        callbacks=[stopper])
    losses = history.history["loss"]
    assert 0 < stopper.stopped_epoch < 29
    assert len(losses) == stopper.stopped_epoch + 1 and losses[-1] >= min(losses[:-1])
    assert stopper.best == min(losses)
    for a, c in zip(model.get_weights(), stopper.best_weights):
        np.testing.assert_array_equal(a, c)

    LR_SCHEDULE = [(3, 0.05), (6, 0.01), (9, 0.005), (12, 0.001)]

    def lr_schedule(epoch, lr):
        if epoch < LR_SCHEDULE[0][0] or epoch > LR_SCHEDULE[-1][0]:
            return lr
        for i in range(len(LR_SCHEDULE)):
            if epoch == LR_SCHEDULE[i][0]:
                return LR_SCHEDULE[i][1]
        return lr

    model = get_model()
    sched = CustomLearningRateScheduler(lr_schedule)
    model.fit(x_train, y_train, batch_size=64, epochs=14, verbose=0, callbacks=[sched])
    np.testing.assert_allclose(sched.seen, [0.1] * 3 + [0.05] * 3 + [0.01] * 3 +
                               [0.005] * 3 + [0.001] * 2, rtol=1e-6)
