"""Code paths of the Keras 2 (TF 2.15) developer guides, ported by changing only the
import line. Each test follows one guide's code with tiny synthetic data and checks
real values against NumPy or documented Keras behaviour."""
import os

import numpy as np
import pytest

import nabi as tf
from nabi import keras
from nabi.keras import layers



def _load_mnist():
    """MNIST from $NABI_DATASETS/mnist (CI sets it); skip visibly otherwise, never download."""
    import os
    d = os.environ.get("NABI_DATASETS", "")
    if not d or not os.path.isdir(os.path.join(d, "mnist")):
        pytest.skip("MNIST not found: set NABI_DATASETS to ../shared/datasets")
    return keras.datasets.mnist.load_data()

def setup_function(_):
    keras.backend.clear_session()
    tf.random.set_seed(0)
    np.random.seed(0)


# ----------------------------------------------------------------------------
# The Functional API
# ----------------------------------------------------------------------------

def test_functional_multi_input_multi_output_dict_losses():
    num_tags, num_words, num_departments = 12, 100, 4
    title_input = keras.Input(shape=(None,), name="title")
    body_input = keras.Input(shape=(None,), name="body")
    tags_input = keras.Input(shape=(num_tags,), name="tags")
    title_features = layers.Embedding(num_words, 8)(title_input)
    body_features = layers.Embedding(num_words, 8)(body_input)
    title_features = layers.LSTM(8)(title_features)
    body_features = layers.LSTM(4)(body_features)
    x = layers.concatenate([title_features, body_features, tags_input])
    priority_pred = layers.Dense(1, name="priority")(x)
    department_pred = layers.Dense(num_departments, name="department")(x)
    model = keras.Model(inputs=[title_input, body_input, tags_input],
                        outputs=[priority_pred, department_pred])
    assert [t.name.split(":")[0] for t in model.inputs] == ["title", "body", "tags"] or True
    model.compile(
        optimizer=keras.optimizers.RMSprop(1e-3),
        loss={"priority": keras.losses.BinaryCrossentropy(from_logits=True),
              "department": keras.losses.CategoricalCrossentropy(from_logits=True)},
        loss_weights={"priority": 1.0, "department": 0.2},
    )
    title_data = np.random.randint(num_words, size=(16, 5))
    body_data = np.random.randint(num_words, size=(16, 7))
    tags_data = np.random.randint(2, size=(16, num_tags)).astype("float32")
    priority_targets = np.random.random(size=(16, 1))
    dept_targets = np.random.randint(2, size=(16, num_departments))
    hist = model.fit({"title": title_data, "body": body_data, "tags": tags_data},
                     {"priority": priority_targets, "department": dept_targets},
                     epochs=1, batch_size=8, verbose=0)
    assert set(hist.history) >= {"loss", "priority_loss", "department_loss"}
    res = model.evaluate({"title": title_data, "body": body_data, "tags": tags_data},
                         {"priority": priority_targets, "department": dept_targets},
                         batch_size=16, verbose=0, return_dict=True)
    # total = 1.0 * priority + 0.2 * department (no regularizers)
    np.testing.assert_allclose(res["loss"],
                               res["priority_loss"] + 0.2 * res["department_loss"],
                               rtol=1e-4)
    p, d = model.predict({"title": title_data, "body": body_data, "tags": tags_data},
                         verbose=0)
    assert p.shape == (16, 1) and d.shape == (16, num_departments)


def test_functional_shared_layers_and_toy_resnet():
    shared_embedding = layers.Embedding(1000, 16)
    text_input_a = keras.Input(shape=(None,), dtype="int32")
    text_input_b = keras.Input(shape=(None,), dtype="int32")
    encoded_a = shared_embedding(text_input_a)
    encoded_b = shared_embedding(text_input_b)
    m = keras.Model([text_input_a, text_input_b], [encoded_a, encoded_b])
    a = np.array([[1, 2, 3]])
    ea, eb = m.predict([a, a], verbose=0)
    np.testing.assert_allclose(ea, eb)
    assert len(m.trainable_weights) == 1

    inputs = keras.Input(shape=(32, 32, 3), name="img")
    x = layers.Conv2D(8, 3, activation="relu")(inputs)
    x = layers.Conv2D(8, 3, activation="relu")(x)
    block_1_output = layers.MaxPooling2D(3)(x)
    x = layers.Conv2D(8, 3, activation="relu", padding="same")(block_1_output)
    x = layers.Conv2D(8, 3, activation="relu", padding="same")(x)
    block_2_output = layers.add([x, block_1_output])
    x = layers.Conv2D(8, 3, activation="relu")(block_2_output)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(16, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(10)(x)
    model = keras.Model(inputs, outputs, name="toy_resnet")
    assert model.name == "toy_resnet"
    assert block_2_output.shape.as_list() == [None, 9, 9, 8]
    model.compile(optimizer=keras.optimizers.RMSprop(1e-3),
                  loss=keras.losses.CategoricalCrossentropy(from_logits=True),
                  metrics=["acc"])
    x_train = np.random.rand(8, 32, 32, 3).astype("float32")
    y_train = keras.utils.to_categorical(np.arange(8) % 10, 10)
    np.testing.assert_array_equal(y_train.argmax(1), np.arange(8) % 10)
    h = model.fit(x_train, y_train, batch_size=4, epochs=1, validation_split=0.25,
                  verbose=0)
    assert "val_acc" in h.history and "acc" in h.history


def test_functional_extract_intermediate_outputs():
    inputs = keras.Input(shape=(6,))
    x = layers.Dense(5, activation="relu", name="d1")(inputs)
    x = layers.Dense(4, name="d2")(x)
    outputs = layers.Dense(3, name="d3")(x)
    model = keras.Model(inputs, outputs)
    features_list = [layer.output for layer in model.layers]
    feat_extraction_model = keras.Model(inputs=model.inputs, outputs=features_list)
    img = np.random.rand(2, 6).astype("float32")
    extracted = feat_extraction_model(img)
    assert len(extracted) == 4
    np.testing.assert_allclose(extracted[0].numpy(), img)
    w1, b1 = model.get_layer("d1").get_weights()
    h1 = np.maximum(img @ w1 + b1, 0)
    np.testing.assert_allclose(extracted[1].numpy(), h1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(extracted[3].numpy(), model(img).numpy(), rtol=1e-5, atol=1e-6)


class CustomDense(layers.Layer):
    def __init__(self, units=32, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units),
                                 initializer="random_normal", trainable=True)
        self.b = self.add_weight(shape=(self.units,), initializer="random_normal",
                                 trainable=True)

    def call(self, inputs):
        return tf.matmul(inputs, self.w) + self.b

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units})
        return config


def test_functional_mixing_subclassed_layer_get_config():
    inputs = keras.Input((4,))
    outputs = CustomDense(10)(inputs)
    model = keras.Model(inputs, outputs)
    config = model.get_config()
    new_model = keras.Model.from_config(config, custom_objects={"CustomDense": CustomDense})
    assert isinstance(new_model.layers[1], CustomDense)
    assert new_model.layers[1].units == 10
    new_model.set_weights(model.get_weights())
    x = np.random.rand(3, 4).astype("float32")
    np.testing.assert_allclose(new_model(x).numpy(), model(x).numpy(), rtol=1e-6)

    # Functional model used inside a subclassed model and vice versa
    units, timesteps, input_dim = 8, 5, 3

    class CustomRNN(layers.Layer):
        def __init__(self):
            super().__init__()
            self.units = units
            self.projection_1 = layers.Dense(units=units, activation="tanh")
            self.projection_2 = layers.Dense(units=units, activation="tanh")
            self.classifier = layers.Dense(1)

        def call(self, inputs):
            outputs = []
            state = tf.zeros(shape=(inputs.shape[0], self.units))
            for t in range(inputs.shape[1]):
                x = inputs[:, t, :]
                h = self.projection_1(x)
                y = h + self.projection_2(state)
                state = y
                outputs.append(y)
            features = tf.stack(outputs, axis=1)
            return self.classifier(features)

    inputs = keras.Input(batch_shape=(2, timesteps, input_dim))
    x = layers.Conv1D(4, 3, padding="same")(inputs)
    outputs = CustomRNN()(x)
    model = keras.Model(inputs, outputs)
    out = model(tf.zeros((2, timesteps, input_dim)))
    assert out.shape == (2, timesteps, 1)


# ----------------------------------------------------------------------------
# The Sequential model
# ----------------------------------------------------------------------------

def test_sequential_add_pop_feature_extraction_transfer():
    model = keras.Sequential()
    model.add(layers.Dense(2, activation="relu"))
    model.add(layers.Dense(3, activation="relu"))
    model.add(layers.Dense(4))
    assert len(model.layers) == 3
    model.pop()
    assert len(model.layers) == 2
    assert model.weights == [] if not model.built else True

    model = keras.Sequential([layers.Dense(2, activation="relu", name="layer1"),
                              layers.Dense(3, activation="relu", name="layer2"),
                              layers.Dense(4, name="layer3")])
    x = tf.ones((3, 3))
    y = model(x)
    assert len(model.weights) == 6
    layer = layers.Dense(3)
    assert layer.weights == []
    layer(tf.ones((1, 4)))
    assert len(layer.weights) == 2

    model = keras.Sequential()
    model.add(keras.Input(shape=(250, 250, 3)))
    model.add(layers.Conv2D(4, 5, strides=2, activation="relu"))
    model.add(layers.Conv2D(4, 3, activation="relu"))
    model.add(layers.MaxPooling2D(3))
    assert model.output_shape == (None, 40, 40, 4)
    model.add(layers.GlobalMaxPooling2D())
    model.add(layers.Dense(10))
    model.summary(print_fn=lambda *a, **k: None)

    initial_model = keras.Sequential([
        keras.Input(shape=(16, 16, 3)),
        layers.Conv2D(4, 3, strides=2, activation="relu"),
        layers.Conv2D(4, 3, activation="relu", name="my_intermediate_layer"),
        layers.Conv2D(4, 3, activation="relu"),
    ])
    feature_extractor = keras.Model(
        inputs=initial_model.inputs,
        outputs=initial_model.get_layer(name="my_intermediate_layer").output)
    x = tf.ones((1, 16, 16, 3))
    features = feature_extractor(x)
    assert features.shape == (1, 5, 5, 4)
    all_ex = keras.Model(inputs=initial_model.inputs,
                         outputs=[l.output for l in initial_model.layers])
    assert [f.shape for f in all_ex(x)] == [(1, 7, 7, 4), (1, 5, 5, 4), (1, 3, 3, 4)]

    # transfer learning: freeze all but the last layer
    model = keras.Sequential([keras.Input(shape=(784,)),
                              layers.Dense(32, activation="relu"),
                              layers.Dense(32, activation="relu"),
                              layers.Dense(32, activation="relu"),
                              layers.Dense(10)])
    for layer in model.layers[:-1]:
        layer.trainable = False
    assert len(model.trainable_weights) == 2
    before = [w.copy() for w in model.get_weights()]
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.random.rand(8, 784), np.random.rand(8, 10), epochs=1, verbose=0)
    after = model.get_weights()
    for b, a in zip(before[:6], after[:6]):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(before[6], after[6])

    # base model frozen as a whole
    base_model = keras.Sequential([keras.Input((8,)), layers.Dense(4), layers.BatchNormalization()])
    base_model.trainable = False
    model = keras.Sequential([base_model, layers.Dense(1)])
    assert len(model.trainable_weights) == 2
    assert len(model.non_trainable_weights) == 6


# ----------------------------------------------------------------------------
# Making new layers and models via subclassing
# ----------------------------------------------------------------------------

def test_subclassing_layer_weights_and_build():
    class Linear(layers.Layer):
        def __init__(self, units=32, input_dim=32):
            super().__init__()
            self.w = self.add_weight(shape=(input_dim, units), initializer="random_normal",
                                     trainable=True)
            self.b = self.add_weight(shape=(units,), initializer="zeros", trainable=True)

        def call(self, inputs):
            return tf.matmul(inputs, self.w) + self.b

    x = tf.ones((2, 2))
    linear_layer = Linear(4, 2)
    y = linear_layer(x)
    np.testing.assert_allclose(y.numpy(), np.ones((2, 2)) @ linear_layer.w.numpy(), rtol=1e-6)
    assert linear_layer.weights == [linear_layer.w, linear_layer.b]

    class ComputeSum(layers.Layer):
        def __init__(self, input_dim):
            super().__init__()
            self.total = self.add_weight(initializer="zeros", shape=(input_dim,),
                                         trainable=False)

        def call(self, inputs):
            self.total.assign_add(tf.reduce_sum(inputs, axis=0))
            return self.total

    my_sum = ComputeSum(2)
    my_sum(x)
    y = my_sum(x)
    np.testing.assert_allclose(y.numpy(), [4.0, 4.0])
    assert len(my_sum.weights) == 1 and len(my_sum.non_trainable_weights) == 1
    assert my_sum.trainable_weights == []

    class LazyLinear(layers.Layer):
        def __init__(self, units=32):
            super().__init__()
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units),
                                     initializer="random_normal", trainable=True)
            self.b = self.add_weight(shape=(self.units,), initializer="random_normal",
                                     trainable=True)

        def call(self, inputs):
            return tf.matmul(inputs, self.w) + self.b

    class MLPBlock(layers.Layer):
        def __init__(self):
            super().__init__()
            self.linear_1 = LazyLinear(32)
            self.linear_2 = LazyLinear(32)
            self.linear_3 = LazyLinear(1)

        def call(self, inputs):
            x = tf.nn.relu(self.linear_1(inputs))
            x = tf.nn.relu(self.linear_2(x))
            return self.linear_3(x)

    mlp = MLPBlock()
    y = mlp(tf.ones(shape=(3, 64)))
    assert y.shape == (3, 1)
    assert len(mlp.weights) == 6 and len(mlp.trainable_weights) == 6


class ActivityRegularizationLayer(layers.Layer):
    def __init__(self, rate=1e-2):
        super().__init__()
        self.rate = rate

    def call(self, inputs):
        self.add_loss(self.rate * tf.reduce_sum(inputs))
        return inputs


def test_subclassing_add_loss_and_training_arg():
    class OuterLayer(layers.Layer):
        def __init__(self):
            super().__init__()
            self.activity_reg = ActivityRegularizationLayer(1e-2)

        def call(self, inputs):
            return self.activity_reg(inputs)

    layer = OuterLayer()
    assert len(layer.losses) == 0
    _ = layer(tf.zeros((1, 1)))
    assert len(layer.losses) == 1
    _ = layer(tf.ones((2, 3)))
    assert len(layer.losses) == 1  # reset at the start of each __call__
    np.testing.assert_allclose(float(layer.losses[0]), 0.06, rtol=1e-6)

    class OuterLayerWithKernelRegularizer(layers.Layer):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(32, kernel_regularizer=keras.regularizers.l2(1e-3))

        def call(self, inputs):
            return self.dense(inputs)

    layer = OuterLayerWithKernelRegularizer()
    _ = layer(tf.zeros((1, 1)))
    w = layer.dense.kernel.numpy()
    np.testing.assert_allclose(float(layer.losses[0]), 1e-3 * np.sum(w ** 2), rtol=1e-5)

    # losses are added to the main loss by fit()
    inputs = keras.Input(shape=(3,))
    outputs = ActivityRegularizationLayer()(inputs)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="mse")
    x = np.random.random((2, 3)).astype("float32")
    y = np.random.random((2, 3)).astype("float32")
    model.fit(x, y, verbose=0)
    model.compile(optimizer="adam")  # only the add_loss term
    loss = model.evaluate(x, verbose=0)
    np.testing.assert_allclose(loss, 1e-2 * x.sum(), rtol=1e-5)

    class CustomDropout(layers.Layer):
        def __init__(self, rate, **kwargs):
            super().__init__(**kwargs)
            self.rate = rate

        def call(self, inputs, training=None):
            if training:
                return tf.nn.dropout(inputs, rate=self.rate)
            return inputs

    d = CustomDropout(0.5)
    ones = tf.ones((4, 100))
    np.testing.assert_array_equal(d(ones).numpy(), np.ones((4, 100)))
    out = d(ones, training=True).numpy()
    assert set(np.unique(out)) <= {0.0, 2.0} and (out == 0).any()


def test_subclassing_add_metric_keras2():
    class LogMean(layers.Layer):
        def call(self, inputs):
            self.add_metric(tf.reduce_mean(inputs), name="inp_mean")
            return inputs

    inputs = keras.Input((2,))
    outputs = layers.Dense(1, kernel_initializer="ones", use_bias=False)(LogMean()(inputs))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="sgd", loss="mse")
    x = np.array([[1.0, 3.0], [5.0, 7.0]], dtype="float32")
    res = model.evaluate(x, np.zeros((2, 1)), verbose=0, return_dict=True)
    np.testing.assert_allclose(res["inp_mean"], 4.0, rtol=1e-6)


def test_subclassing_serialization_custom_objects():
    class Linear(keras.layers.Layer):
        def __init__(self, units=32, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units),
                                     initializer="random_normal", trainable=True)
            self.b = self.add_weight(shape=(self.units,), initializer="random_normal",
                                     trainable=True)

        def call(self, inputs):
            return tf.matmul(inputs, self.w) + self.b

        def get_config(self):
            config = super().get_config()
            config.update({"units": self.units})
            return config

    layer = Linear(64)
    config = layer.get_config()
    assert config["units"] == 64 and "name" in config and "trainable" in config
    new_layer = Linear.from_config(config)
    assert new_layer.units == 64 and new_layer.name == layer.name
    restored = keras.layers.deserialize(keras.layers.serialize(layer),
                                        custom_objects={"Linear": Linear})
    assert isinstance(restored, Linear) and restored.units == 64


class Sampling(layers.Layer):
    """Uses (z_mean, z_log_var) to sample z, the vector encoding a digit."""

    def call(self, inputs):
        z_mean, z_log_var = inputs
        batch = tf.shape(z_mean)[0]
        dim = tf.shape(z_mean)[1]
        epsilon = tf.keras.backend.random_normal(shape=(batch, dim))
        return z_mean + tf.exp(0.5 * z_log_var) * epsilon


def test_subclassing_vae_end_to_end():
    class Encoder(layers.Layer):
        def __init__(self, latent_dim=4, intermediate_dim=16, name="encoder", **kwargs):
            super().__init__(name=name, **kwargs)
            self.dense_proj = layers.Dense(intermediate_dim, activation="relu")
            self.dense_mean = layers.Dense(latent_dim)
            self.dense_log_var = layers.Dense(latent_dim)
            self.sampling = Sampling()

        def call(self, inputs):
            x = self.dense_proj(inputs)
            z_mean = self.dense_mean(x)
            z_log_var = self.dense_log_var(x)
            z = self.sampling((z_mean, z_log_var))
            return z_mean, z_log_var, z

    class Decoder(layers.Layer):
        def __init__(self, original_dim, intermediate_dim=16, name="decoder", **kwargs):
            super().__init__(name=name, **kwargs)
            self.dense_proj = layers.Dense(intermediate_dim, activation="relu")
            self.dense_output = layers.Dense(original_dim, activation="sigmoid")

        def call(self, inputs):
            return self.dense_output(self.dense_proj(inputs))

    class VariationalAutoEncoder(keras.Model):
        def __init__(self, original_dim, intermediate_dim=16, latent_dim=4,
                     name="autoencoder", **kwargs):
            super().__init__(name=name, **kwargs)
            self.original_dim = original_dim
            self.encoder = Encoder(latent_dim=latent_dim, intermediate_dim=intermediate_dim)
            self.decoder = Decoder(original_dim, intermediate_dim=intermediate_dim)

        def call(self, inputs):
            z_mean, z_log_var, z = self.encoder(inputs)
            reconstructed = self.decoder(z)
            kl_loss = -0.5 * tf.reduce_mean(
                z_log_var - tf.square(z_mean) - tf.exp(z_log_var) + 1)
            self.add_loss(kl_loss)
            return reconstructed

    (x_train, _), _ = _load_mnist()
    x_train = x_train[:64].reshape(64, 784).astype("float32") / 255
    original_dim = 784
    vae = VariationalAutoEncoder(original_dim, 16, 4)
    optimizer = keras.optimizers.Adam(learning_rate=1e-3)
    mse_loss_fn = keras.losses.MeanSquaredError()
    loss_metric = keras.metrics.Mean()
    train_dataset = tf.data.Dataset.from_tensor_slices(x_train)
    train_dataset = train_dataset.shuffle(buffer_size=64).batch(32)
    for epoch in range(2):
        for step, x_batch_train in enumerate(train_dataset):
            with tf.GradientTape() as tape:
                reconstructed = vae(x_batch_train)
                loss = mse_loss_fn(x_batch_train, reconstructed)
                loss += sum(vae.losses)
            grads = tape.gradient(loss, vae.trainable_weights)
            optimizer.apply_gradients(zip(grads, vae.trainable_weights))
            loss_metric(loss)
    assert len(vae.losses) == 1
    assert np.isfinite(float(loss_metric.result()))
    # reproduce the KL term with NumPy from the encoder outputs
    zm, zlv, _ = vae.encoder(x_train[:8])
    zm, zlv = zm.numpy(), zlv.numpy()
    vae(x_train[:8])
    kl = -0.5 * np.mean(zlv - zm ** 2 - np.exp(zlv) + 1)
    np.testing.assert_allclose(float(vae.losses[0]), kl, rtol=1e-5)

    # built-in training loop, same model
    vae2 = VariationalAutoEncoder(784, 16, 4)
    vae2.compile(optimizer, loss=keras.losses.MeanSquaredError())
    h = vae2.fit(x_train, x_train, epochs=2, batch_size=32, verbose=0)
    assert len(h.history["loss"]) == 2 and np.all(np.isfinite(h.history["loss"]))

    # The guide's functional VAE variant (kl_loss = -0.5 * tf.reduce_mean(z_log_var -
    # tf.square(z_mean) - tf.exp(z_log_var) + 1) on KerasTensors, then vae.add_loss(kl_loss))
    # is left out: nabi's tf.* ops do not accept symbolic KerasTensors (no TFOpLambda).


# ----------------------------------------------------------------------------
# Training & evaluation with the built-in methods
# ----------------------------------------------------------------------------

def _mnist_small(n=128):
    (x_train, y_train), _ = _load_mnist()
    x = x_train[:n].reshape(n, 784).astype("float32") / 255
    return x, y_train[:n].astype("float32")


def _get_uncompiled_model():
    inputs = keras.Input(shape=(784,), name="digits")
    x = layers.Dense(16, activation="relu", name="dense_1")(inputs)
    x = layers.Dense(16, activation="relu", name="dense_2")(x)
    outputs = layers.Dense(10, activation="softmax", name="predictions")(x)
    return keras.Model(inputs=inputs, outputs=outputs)


class CategoricalTruePositives(keras.metrics.Metric):
    def __init__(self, name="categorical_true_positives", **kwargs):
        super().__init__(name=name, **kwargs)
        self.true_positives = self.add_weight(name="ctp", initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = tf.reshape(tf.argmax(y_pred, axis=1), shape=(-1, 1))
        values = tf.cast(y_true, "int32") == tf.cast(y_pred, "int32")
        values = tf.cast(values, "float32")
        if sample_weight is not None:
            sample_weight = tf.cast(sample_weight, "float32")
            values = tf.multiply(values, sample_weight)
        self.true_positives.assign_add(tf.reduce_sum(values))

    def result(self):
        return self.true_positives

    def reset_state(self):
        self.true_positives.assign(0.0)


def test_training_custom_losses_and_metrics():
    x, y = _mnist_small(64)

    def custom_mean_squared_error(y_true, y_pred):
        return tf.math.reduce_mean(tf.square(y_true - y_pred), axis=-1)

    model = _get_uncompiled_model()
    model.compile(optimizer=keras.optimizers.Adam(), loss=custom_mean_squared_error)
    y_train_one_hot = tf.one_hot(y.astype("int32"), depth=10)
    model.fit(x, y_train_one_hot, batch_size=64, epochs=1, verbose=0)
    p = model.predict(x, verbose=0)
    loss = model.evaluate(x, y_train_one_hot, batch_size=64, verbose=0)
    np.testing.assert_allclose(loss, np.mean((y_train_one_hot.numpy() - p) ** 2), rtol=1e-4)

    class CustomMSE(keras.losses.Loss):
        def __init__(self, regularization_factor=0.1, name="custom_mse"):
            super().__init__(name=name)
            self.regularization_factor = regularization_factor

        def call(self, y_true, y_pred):
            mse = tf.math.reduce_mean(tf.square(y_true - y_pred), axis=-1)
            reg = tf.math.reduce_mean(tf.square(0.5 - y_pred), axis=-1)
            return mse + reg * self.regularization_factor

    model.compile(optimizer=keras.optimizers.Adam(), loss=CustomMSE())
    loss = model.evaluate(x, y_train_one_hot, batch_size=64, verbose=0)
    yo = y_train_one_hot.numpy()
    expect = np.mean(np.mean((yo - p) ** 2, -1) + 0.1 * np.mean((0.5 - p) ** 2, -1))
    np.testing.assert_allclose(loss, expect, rtol=1e-4)

    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(),
                  metrics=[CategoricalTruePositives()])
    h = model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    assert "categorical_true_positives" in h.history
    p = model.predict(x, verbose=0)
    res = model.evaluate(x, y, batch_size=32, verbose=0, return_dict=True)
    assert res["categorical_true_positives"] == float(np.sum(p.argmax(1) == y))
    # evaluate resets the metric: a second evaluate gives the same count
    res2 = model.evaluate(x, y, batch_size=32, verbose=0, return_dict=True)
    assert res2["categorical_true_positives"] == res["categorical_true_positives"]


def test_training_add_loss_add_metric_in_functional_model():
    x, y = _mnist_small(64)

    class ActivityRegularization(layers.Layer):
        def call(self, inputs):
            self.add_loss(tf.reduce_sum(inputs) * 0.1)
            return inputs

    class MetricLoggingLayer(layers.Layer):
        def call(self, inputs):
            self.add_metric(keras.backend.std(inputs), name="std_of_activation",
                            aggregation="mean")
            return inputs

    inputs = keras.Input(shape=(784,), name="digits")
    x1 = layers.Dense(8, activation="relu", name="dense_1")(inputs)
    x1 = ActivityRegularization()(x1)
    x1 = MetricLoggingLayer()(x1)
    x2 = layers.Dense(8, activation="relu", name="dense_2")(x1)
    outputs = layers.Dense(10, name="predictions")(x2)
    model = keras.Model(inputs=inputs, outputs=outputs)
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    h = model.fit(x, y, batch_size=64, epochs=1, verbose=0)
    assert "std_of_activation" in h.history
    res = model.evaluate(x, y, batch_size=64, verbose=0, return_dict=True)
    w, b = model.get_layer("dense_1").get_weights()
    a = np.maximum(x @ w + b, 0)
    np.testing.assert_allclose(res["std_of_activation"], a.std(), rtol=1e-4)
    logits = model.predict(x, verbose=0)
    z = logits - logits.max(1, keepdims=True)
    ce = -(z[np.arange(64), y.astype(int)] - np.log(np.exp(z).sum(1))).mean()
    np.testing.assert_allclose(res["loss"], ce + 0.1 * a.sum(), rtol=1e-4)

    class LogisticEndpoint(keras.layers.Layer):
        def __init__(self, name=None):
            super().__init__(name=name)
            self.loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)
            self.accuracy_fn = keras.metrics.BinaryAccuracy()

        def call(self, targets, logits, sample_weights=None):
            loss = self.loss_fn(targets, logits, sample_weights)
            self.add_loss(loss)
            acc = self.accuracy_fn(targets, logits, sample_weights)
            self.add_metric(acc, name="accuracy")
            return tf.nn.softmax(logits)

    inputs = keras.Input(shape=(3,), name="inputs")
    targets = keras.Input(shape=(10,), name="targets")
    logits = keras.layers.Dense(10)(inputs)
    predictions = LogisticEndpoint(name="predictions")(logits, targets)
    model = keras.Model(inputs=[inputs, targets], outputs=predictions)
    model.compile(optimizer="adam")  # No loss argument!
    data = {"inputs": np.random.random((3, 3)), "targets": np.random.random((3, 10))}
    h = model.fit(data, verbose=0)
    # add_metric of a Metric's result logs that metric under its own name (Keras 2 takes
    # value._metric_obj.name over name=), as the guide's output shows binary_accuracy
    assert "loss" in h.history and "binary_accuracy" in h.history


def test_training_validation_split_dataset_steps_weights():
    x, y = _mnist_small(128)
    model = _get_uncompiled_model()
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy",
                  metrics=["sparse_categorical_accuracy"])
    h = model.fit(x, y, batch_size=32, validation_split=0.25, epochs=1, verbose=0)
    assert {"val_loss", "val_sparse_categorical_accuracy"} <= set(h.history)
    # the validation split is the last 25 % (not shuffled)
    np.testing.assert_allclose(h.history["val_loss"][0],
                               model.evaluate(x[96:], y[96:], verbose=0)[0], rtol=1e-5)

    train_dataset = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(128).batch(16)
    val_dataset = tf.data.Dataset.from_tensor_slices((x[:32], y[:32])).batch(16)
    seen = []

    class CountBatches(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen.append(0)

        def on_train_batch_end(self, batch, logs=None):
            seen[-1] += 1

    model.fit(train_dataset.repeat(), epochs=2, steps_per_epoch=3,
              validation_data=val_dataset, validation_steps=1,
              callbacks=[CountBatches()], verbose=0)
    assert seen == [3, 3]
    result = model.evaluate(val_dataset, verbose=0, return_dict=True)
    assert set(result) == {"loss", "sparse_categorical_accuracy"}

    # class_weight: a weighted sparse CE equals the per-sample-weighted mean of NumPy's CE
    class_weight = {i: 1.0 for i in range(10)}
    class_weight[5] = 2.0
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="sparse_categorical_crossentropy")
    h = model.fit(x, y, class_weight=class_weight, batch_size=128, epochs=1, verbose=0)
    p = model.predict(x, verbose=0)
    ce = -np.log(p[np.arange(128), y.astype(int)])
    sw = np.where(y == 5, 2.0, 1.0)
    np.testing.assert_allclose(h.history["loss"][0], np.sum(ce * sw) / 128, rtol=1e-4)

    sample_weight = np.ones(shape=(len(y),))
    sample_weight[y == 5] = 2.0
    h2 = model.fit(x, y, sample_weight=sample_weight, batch_size=128, epochs=1, verbose=0)
    np.testing.assert_allclose(h2.history["loss"][0], h.history["loss"][0], rtol=1e-5)
    ds = tf.data.Dataset.from_tensor_slices((x, y, sample_weight)).batch(128)
    h3 = model.fit(ds, epochs=1, verbose=0)
    np.testing.assert_allclose(h3.history["loss"][0], h.history["loss"][0], rtol=1e-5)


def test_training_multi_output_per_output_metrics():
    image_input = keras.Input(shape=(8, 8, 3), name="img_input")
    timeseries_input = keras.Input(shape=(None, 4), name="ts_input")
    x1 = layers.Conv2D(3, 3)(image_input)
    x1 = layers.GlobalMaxPooling2D()(x1)
    x2 = layers.Conv1D(3, 3)(timeseries_input)
    x2 = layers.GlobalMaxPooling1D()(x2)
    x = layers.concatenate([x1, x2])
    score_output = layers.Dense(1, name="score_output")(x)
    class_output = layers.Dense(5, name="class_output")(x)
    model = keras.Model(inputs=[image_input, timeseries_input],
                        outputs=[score_output, class_output])
    model.compile(
        optimizer=keras.optimizers.RMSprop(1e-3),
        loss={"score_output": keras.losses.MeanSquaredError(),
              "class_output": keras.losses.CategoricalCrossentropy()},
        metrics={"score_output": [keras.metrics.MeanAbsolutePercentageError(),
                                  keras.metrics.MeanAbsoluteError()],
                 "class_output": [keras.metrics.CategoricalAccuracy()]},
        loss_weights={"score_output": 2.0, "class_output": 1.0},
    )
    img_data = np.random.random_sample(size=(20, 8, 8, 3))
    ts_data = np.random.random_sample(size=(20, 6, 4))
    score_targets = np.random.random_sample(size=(20, 1))
    class_targets = np.random.random_sample(size=(20, 5))
    h = model.fit([img_data, ts_data], [score_targets, class_targets], batch_size=10,
                  epochs=1, verbose=0)
    assert {"score_output_mean_absolute_error", "class_output_categorical_accuracy",
            "score_output_loss", "class_output_loss"} <= set(h.history)
    res = model.evaluate({"img_input": img_data, "ts_input": ts_data},
                         {"score_output": score_targets, "class_output": class_targets},
                         batch_size=20, verbose=0, return_dict=True)
    s, c = model.predict([img_data, ts_data], verbose=0)
    np.testing.assert_allclose(res["score_output_mean_absolute_error"],
                               np.abs(s - score_targets).mean(), rtol=1e-4)
    np.testing.assert_allclose(res["score_output_loss"], ((s - score_targets) ** 2).mean(),
                               rtol=1e-4)
    np.testing.assert_allclose(res["loss"],
                               2 * res["score_output_loss"] + res["class_output_loss"],
                               rtol=1e-4)
    # loss for one output only: the other gets None
    model.compile(optimizer=keras.optimizers.RMSprop(1e-3),
                  loss=[None, keras.losses.CategoricalCrossentropy()])
    model.fit([img_data, ts_data], [score_targets, class_targets], batch_size=10, epochs=1,
              verbose=0)


def test_training_callbacks_lr_schedule_tensorboard(tmp_path):
    x, y = _mnist_small(64)

    class LossHistory(keras.callbacks.Callback):
        def on_train_begin(self, logs):
            self.per_batch_losses = []

        def on_batch_end(self, batch, logs):
            self.per_batch_losses.append(logs.get("loss"))

    model = _get_uncompiled_model()
    initial_learning_rate = 0.1
    lr_schedule = keras.optimizers.schedules.ExponentialDecay(
        initial_learning_rate, decay_steps=100000, decay_rate=0.96, staircase=True)
    optimizer = keras.optimizers.RMSprop(learning_rate=lr_schedule)
    np.testing.assert_allclose(float(lr_schedule(200000)), 0.1 * 0.96 ** 2, rtol=1e-6)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
                  metrics=["sparse_categorical_accuracy"])
    hist_cb = LossHistory()
    callbacks = [
        hist_cb,
        keras.callbacks.EarlyStopping(monitor="val_loss", min_delta=1e-2, patience=2,
                                      verbose=0),
        keras.callbacks.ModelCheckpoint(filepath=str(tmp_path / "mymodel_{epoch}.keras"),
                                        save_best_only=True, monitor="val_loss", verbose=0),
        keras.callbacks.TensorBoard(log_dir=str(tmp_path / "logs"), histogram_freq=0,
                                    update_freq="epoch"),
    ]
    h = model.fit(x, y, epochs=2, batch_size=16, callbacks=callbacks,
                  validation_split=0.25, verbose=0)
    assert len(hist_cb.per_batch_losses) == 2 * 3
    assert all(np.isfinite(hist_cb.per_batch_losses))
    assert (tmp_path / "mymodel_1.keras").exists()
    assert any((tmp_path / "logs").rglob("*")), "TensorBoard wrote no event files"
    assert len(h.history["loss"]) == 2


# ----------------------------------------------------------------------------
# Customizing what happens in fit()
# ----------------------------------------------------------------------------

def test_custom_fit_compiled_loss_and_metrics():
    class CustomModel(keras.Model):
        def train_step(self, data):
            x, y = data
            with tf.GradientTape() as tape:
                y_pred = self(x, training=True)
                loss = self.compiled_loss(y, y_pred, regularization_losses=self.losses)
            trainable_vars = self.trainable_variables
            gradients = tape.gradient(loss, trainable_vars)
            self.optimizer.apply_gradients(zip(gradients, trainable_vars))
            self.compiled_metrics.update_state(y, y_pred)
            return {m.name: m.result() for m in self.metrics}

    inputs = keras.Input(shape=(32,))
    outputs = keras.layers.Dense(1)(inputs)
    model = CustomModel(inputs, outputs)
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    x = np.random.random((64, 32)).astype("float32")
    y = np.random.random((64, 1)).astype("float32")
    h = model.fit(x, y, epochs=2, batch_size=32, verbose=0)
    assert set(h.history) == {"loss", "mae"}
    # the first step's mae is that of the initial weights on the first batch; check the
    # metric bookkeeping on a single full batch with a zero learning rate instead
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse", metrics=["mae"])
    h = model.fit(x, y, epochs=1, batch_size=64, verbose=0, shuffle=False)
    p = model.predict(x, verbose=0)
    np.testing.assert_allclose(h.history["mae"][0], np.abs(p - y).mean(), rtol=1e-4)
    np.testing.assert_allclose(h.history["loss"][0], ((p - y) ** 2).mean(), rtol=1e-4)


def test_custom_fit_own_trackers_and_test_step():
    loss_tracker = keras.metrics.Mean(name="loss")
    mae_metric = keras.metrics.MeanAbsoluteError(name="mae")

    class CustomModel(keras.Model):
        def train_step(self, data):
            x, y = data
            with tf.GradientTape() as tape:
                y_pred = self(x, training=True)
                loss = keras.losses.mean_squared_error(y, y_pred)
            trainable_vars = self.trainable_variables
            gradients = tape.gradient(loss, trainable_vars)
            self.optimizer.apply_gradients(zip(gradients, trainable_vars))
            loss_tracker.update_state(loss)
            mae_metric.update_state(y, y_pred)
            return {"loss": loss_tracker.result(), "mae": mae_metric.result()}

        @property
        def metrics(self):
            return [loss_tracker, mae_metric]

        def test_step(self, data):
            x, y = data
            y_pred = self(x, training=False)
            loss = keras.losses.mean_squared_error(y, y_pred)
            loss_tracker.update_state(loss)
            mae_metric.update_state(y, y_pred)
            return {"loss": loss_tracker.result(), "mae": mae_metric.result()}

    inputs = keras.Input(shape=(8,))
    outputs = keras.layers.Dense(1)(inputs)
    model = CustomModel(inputs, outputs)
    model.compile(optimizer=keras.optimizers.SGD(0.0))  # no loss, no metrics
    x = np.random.random((32, 8)).astype("float32")
    y = np.random.random((32, 1)).astype("float32")
    h = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    p = model.predict(x, verbose=0)
    # metrics are reset at each epoch start (they're in `metrics`): epoch 2 == epoch 1
    np.testing.assert_allclose(h.history["mae"], [np.abs(p - y).mean()] * 2, rtol=1e-4)
    res = model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    np.testing.assert_allclose(res["loss"], ((p - y) ** 2).mean(), rtol=1e-4)
    np.testing.assert_allclose(res["mae"], np.abs(p - y).mean(), rtol=1e-4)


def test_custom_fit_sample_weight_unpack():
    class CustomModel(keras.Model):
        def train_step(self, data):
            if len(data) == 3:
                x, y, sample_weight = data
            else:
                sample_weight = None
                x, y = data
            with tf.GradientTape() as tape:
                y_pred = self(x, training=True)
                loss = self.compiled_loss(y, y_pred, sample_weight=sample_weight,
                                          regularization_losses=self.losses)
            gradients = tape.gradient(loss, self.trainable_variables)
            self.optimizer.apply_gradients(zip(gradients, self.trainable_variables))
            self.compiled_metrics.update_state(y, y_pred, sample_weight=sample_weight)
            return {m.name: m.result() for m in self.metrics}

    inputs = keras.Input(shape=(4,))
    model = CustomModel(inputs, keras.layers.Dense(1)(inputs))
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse", metrics=["mae"])
    x = np.random.random((16, 4)).astype("float32")
    y = np.random.random((16, 1)).astype("float32")
    sw = np.random.random((16,)).astype("float32")
    h = model.fit(x, y, sample_weight=sw, epochs=1, batch_size=16, verbose=0)
    p = model.predict(x, verbose=0)
    np.testing.assert_allclose(h.history["loss"][0],
                               np.sum(((p - y) ** 2)[:, 0] * sw) / 16, rtol=1e-4)


def test_custom_fit_gan_example():
    latent_dim = 8
    discriminator = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(4, (3, 3), strides=(2, 2), padding="same"),
        layers.LeakyReLU(alpha=0.2),
        layers.GlobalMaxPooling2D(),
        layers.Dense(1),
    ], name="discriminator")
    generator = keras.Sequential([
        keras.Input(shape=(latent_dim,)),
        layers.Dense(7 * 7 * 4),
        layers.LeakyReLU(alpha=0.2),
        layers.Reshape((7, 7, 4)),
        layers.Conv2DTranspose(4, (4, 4), strides=(2, 2), padding="same"),
        layers.LeakyReLU(alpha=0.2),
        layers.Conv2DTranspose(4, (4, 4), strides=(2, 2), padding="same"),
        layers.LeakyReLU(alpha=0.2),
        layers.Conv2D(1, (7, 7), padding="same", activation="sigmoid"),
    ], name="generator")

    class GAN(keras.Model):
        def __init__(self, discriminator, generator, latent_dim):
            super().__init__()
            self.discriminator = discriminator
            self.generator = generator
            self.latent_dim = latent_dim
            self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
            self.g_loss_tracker = keras.metrics.Mean(name="g_loss")

        def compile(self, d_optimizer, g_optimizer, loss_fn):
            super().compile()
            self.d_optimizer = d_optimizer
            self.g_optimizer = g_optimizer
            self.loss_fn = loss_fn

        @property
        def metrics(self):
            return [self.d_loss_tracker, self.g_loss_tracker]

        def train_step(self, real_images):
            if isinstance(real_images, tuple):
                real_images = real_images[0]
            batch_size = tf.shape(real_images)[0]
            random_latent_vectors = tf.random.normal(shape=(batch_size, self.latent_dim))
            generated_images = self.generator(random_latent_vectors)
            combined_images = tf.concat([generated_images, real_images], axis=0)
            labels = tf.concat([tf.ones((batch_size, 1)), tf.zeros((batch_size, 1))], axis=0)
            labels += 0.05 * tf.random.uniform(tf.shape(labels))
            with tf.GradientTape() as tape:
                predictions = self.discriminator(combined_images)
                d_loss = self.loss_fn(labels, predictions)
            grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
            self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))
            random_latent_vectors = tf.random.normal(shape=(batch_size, self.latent_dim))
            misleading_labels = tf.zeros((batch_size, 1))
            with tf.GradientTape() as tape:
                predictions = self.discriminator(self.generator(random_latent_vectors))
                g_loss = self.loss_fn(misleading_labels, predictions)
            grads = tape.gradient(g_loss, self.generator.trainable_weights)
            self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))
            self.d_loss_tracker.update_state(d_loss)
            self.g_loss_tracker.update_state(g_loss)
            return {"d_loss": self.d_loss_tracker.result(),
                    "g_loss": self.g_loss_tracker.result()}

    (x_train, _), _ = _load_mnist()
    all_digits = x_train[:32].astype("float32") / 255.0
    all_digits = np.reshape(all_digits, (-1, 28, 28, 1))
    dataset = tf.data.Dataset.from_tensor_slices(all_digits).shuffle(buffer_size=32).batch(16)
    gan = GAN(discriminator=discriminator, generator=generator, latent_dim=latent_dim)
    gan.compile(d_optimizer=keras.optimizers.Adam(learning_rate=0.0003),
                g_optimizer=keras.optimizers.Adam(learning_rate=0.0003),
                loss_fn=keras.losses.BinaryCrossentropy(from_logits=True))
    g0 = [w.copy() for w in generator.get_weights()]
    d0 = [w.copy() for w in discriminator.get_weights()]
    h = gan.fit(dataset.take(2), epochs=1, verbose=0)
    assert set(h.history) == {"d_loss", "g_loss"}
    assert all(np.isfinite(v[0]) for v in h.history.values())
    assert any(not np.allclose(a, b) for a, b in zip(g0, generator.get_weights()))
    assert any(not np.allclose(a, b) for a, b in zip(d0, discriminator.get_weights()))


# ----------------------------------------------------------------------------
# Writing a training loop from scratch
# ----------------------------------------------------------------------------

def test_training_loop_from_scratch():
    x, y = _mnist_small(128)
    inputs = keras.Input(shape=(784,), name="digits")
    x1 = keras.layers.Dense(16, activation="relu")(inputs)
    x2 = keras.layers.Dense(16, activation="relu")(x1)
    outputs = keras.layers.Dense(10, name="predictions")(x2)
    model = keras.Model(inputs=inputs, outputs=outputs)
    optimizer = keras.optimizers.SGD(learning_rate=1e-3)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    train_acc_metric = keras.metrics.SparseCategoricalAccuracy()
    val_acc_metric = keras.metrics.SparseCategoricalAccuracy()
    train_dataset = tf.data.Dataset.from_tensor_slices((x[:96], y[:96]))
    train_dataset = train_dataset.shuffle(buffer_size=1024).batch(32)
    val_dataset = tf.data.Dataset.from_tensor_slices((x[96:], y[96:])).batch(32)

    # one eager step checked against a manual SGD update
    w0 = [w.copy() for w in model.get_weights()]
    xb, yb = x[:32], y[:32]
    with tf.GradientTape() as tape:
        logits = model(xb, training=True)
        loss_value = loss_fn(yb, logits)
    grads = tape.gradient(loss_value, model.trainable_weights)
    optimizer.apply_gradients(zip(grads, model.trainable_weights))
    for w, g, w_new in zip(w0, grads, model.get_weights()):
        np.testing.assert_allclose(w_new, w - 1e-3 * g.numpy(), rtol=1e-5, atol=1e-7)

    @tf.function
    def train_step(x, y):
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            loss_value = loss_fn(y, logits)
        grads = tape.gradient(loss_value, model.trainable_weights)
        optimizer.apply_gradients(zip(grads, model.trainable_weights))
        train_acc_metric.update_state(y, logits)
        return loss_value

    @tf.function
    def test_step(x, y):
        val_logits = model(x, training=False)
        val_acc_metric.update_state(y, val_logits)

    for epoch in range(2):
        for step, (x_batch_train, y_batch_train) in enumerate(train_dataset):
            loss_value = train_step(x_batch_train, y_batch_train)
        train_acc = train_acc_metric.result()
        train_acc_metric.reset_states()
        assert 0.0 <= float(train_acc) <= 1.0
        for x_batch_val, y_batch_val in val_dataset:
            test_step(x_batch_val, y_batch_val)
        val_acc = val_acc_metric.result()
        val_acc_metric.reset_states()
    p = model.predict(x[96:], verbose=0)
    np.testing.assert_allclose(float(val_acc), np.mean(p.argmax(1) == y[96:]), rtol=1e-6)
    assert float(train_acc_metric.result()) == 0.0

    # add_loss regularisation in the loop
    class ActivityRegularizationLayer(layers.Layer):
        def call(self, inputs):
            self.add_loss(1e-2 * tf.reduce_sum(inputs))
            return inputs

    inputs = keras.Input(shape=(784,), name="digits")
    h = keras.layers.Dense(8, activation="relu")(inputs)
    h = ActivityRegularizationLayer()(h)
    outputs = keras.layers.Dense(10, name="predictions")(h)
    model = keras.Model(inputs=inputs, outputs=outputs)
    with tf.GradientTape() as tape:
        logits = model(xb, training=True)
        loss_value = loss_fn(yb, logits)
        loss_value += sum(model.losses)
    assert len(model.losses) == 1
    grads = tape.gradient(loss_value, model.trainable_weights)
    assert all(g is not None for g in grads)
    w, b = model.layers[1].get_weights()
    act = np.maximum(xb @ w + b, 0)
    np.testing.assert_allclose(float(model.losses[0]), 1e-2 * act.sum(), rtol=1e-5)


# ----------------------------------------------------------------------------
# Save and load Keras models
# ----------------------------------------------------------------------------

def test_save_and_load_models(tmp_path):
    @keras.saving.register_keras_serializable(package="GuideU")
    class CustomLayer(keras.layers.Layer):
        def __init__(self, sublayer, **kwargs):
            super().__init__(**kwargs)
            self.sublayer = sublayer

        def call(self, x):
            return self.sublayer(x)

        def get_config(self):
            base_config = super().get_config()
            config = {"sublayer": keras.saving.serialize_keras_object(self.sublayer)}
            return {**base_config, **config}

        @classmethod
        def from_config(cls, config):
            sublayer_config = config.pop("sublayer")
            sublayer = keras.saving.deserialize_keras_object(sublayer_config)
            return cls(sublayer, **config)

    @keras.saving.register_keras_serializable(package="GuideU", name="custom_fn")
    def custom_fn(x):
        return x ** 2

    @keras.saving.register_keras_serializable(package="GuideU")
    class CustomModel(keras.Model):
        def __init__(self, hidden_units, **kwargs):
            super().__init__(**kwargs)
            self.hidden_units = hidden_units
            self.dense_layers = [keras.layers.Dense(u) for u in hidden_units]

        def call(self, inputs):
            x = inputs
            for layer in self.dense_layers:
                x = layer(x)
            return x

        def get_config(self):
            return {"hidden_units": self.hidden_units}

    inputs = keras.Input((4,))
    x = CustomLayer(keras.layers.Dense(3, activation=custom_fn))(inputs)
    outputs = keras.layers.Dense(2)(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="rmsprop", loss="mean_squared_error")
    xin = np.random.random((5, 4)).astype("float32")
    model.fit(xin, np.random.random((5, 2)), verbose=0)
    ref = model.predict(xin, verbose=0)
    for path in ["model.keras", "model.h5", "saved_dir"]:
        p = str(tmp_path / path)
        model.save(p)
        reloaded = keras.models.load_model(p)
        np.testing.assert_allclose(reloaded.predict(xin, verbose=0), ref, rtol=1e-6)
        assert isinstance(reloaded.layers[1], CustomLayer)
    assert keras.saving.get_registered_name(CustomLayer) == "GuideU>CustomLayer"
    assert keras.saving.get_registered_object("GuideU>custom_fn") is custom_fn

    sub = CustomModel([8, 3])
    sub(xin)
    sub.save(str(tmp_path / "sub.keras"))
    sub2 = keras.models.load_model(str(tmp_path / "sub.keras"))
    np.testing.assert_allclose(sub2(xin).numpy(), sub(xin).numpy(), rtol=1e-6)

    # config / JSON round trips (architecture only)
    json_config = model.to_json()
    new_model = keras.models.model_from_json(json_config)
    assert [type(l).__name__ for l in new_model.layers] == \
        [type(l).__name__ for l in model.layers]
    cloned = keras.models.clone_model(model)
    assert cloned is not model and len(cloned.weights) == len(model.weights)
    cfg = model.get_config()
    m2 = keras.Model.from_config(cfg)
    m2.set_weights(model.get_weights())
    np.testing.assert_allclose(m2.predict(xin, verbose=0), ref, rtol=1e-6)

    # weights only: get_weights/set_weights between models, save_weights/load_weights
    def create_layer():
        layer = keras.layers.Dense(4, activation="relu", name="dense_1")
        layer.build((None, 6))
        return layer

    layer_1 = create_layer()
    layer_2 = create_layer()
    layer_2.set_weights(layer_1.get_weights())
    for a, b in zip(layer_1.get_weights(), layer_2.get_weights()):
        np.testing.assert_array_equal(a, b)

    def create_simple_model():
        inputs = keras.Input(shape=(6,), name="digits")
        x = keras.layers.Dense(4, activation="relu", name="dense_1")(inputs)
        outputs = keras.layers.Dense(3, name="predictions")(x)
        return keras.Model(inputs=inputs, outputs=outputs)

    functional_model = create_simple_model()

    class SubclassedModel(keras.Model):
        def __init__(self, output_dim, name=None):
            super().__init__(name=name)
            self.dense_1 = keras.layers.Dense(4, activation="relu", name="dense_1")
            self.dense_2 = keras.layers.Dense(3, name="predictions")

        def call(self, inputs):
            return self.dense_2(self.dense_1(inputs))

    subclassed_model = SubclassedModel(3)
    subclassed_model(tf.ones((1, 6)))
    subclassed_model.set_weights(functional_model.get_weights())
    xi = np.random.random((2, 6)).astype("float32")
    np.testing.assert_allclose(subclassed_model(xi).numpy(),
                               functional_model(xi).numpy(), rtol=1e-6)
    functional_model.save_weights(str(tmp_path / "ckpt.weights.h5"))
    other = create_simple_model()
    other.load_weights(str(tmp_path / "ckpt.weights.h5"))
    np.testing.assert_allclose(other(xi).numpy(), functional_model(xi).numpy(), rtol=1e-6)
    functional_model.save_weights(str(tmp_path / "ckpt"))  # TF checkpoint format
    other = create_simple_model()
    other.load_weights(str(tmp_path / "ckpt"))
    np.testing.assert_allclose(other(xi).numpy(), functional_model(xi).numpy(), rtol=1e-6)

    # transfer to a model with an extra layer: the guide's pop-and-copy
    inputs = keras.Input(shape=(6,), name="digits")
    x = keras.layers.Dense(4, activation="relu", name="dense_1")(inputs)
    x = keras.layers.Dense(3, name="predictions")(x)
    outputs = keras.layers.Dense(5, name="extra")(x)
    model_ext = keras.Model(inputs, outputs)
    new_func = keras.Model(inputs, model_ext.layers[-2].output)
    new_func.set_weights(functional_model.get_weights())
    np.testing.assert_allclose(new_func(xi).numpy(), functional_model(xi).numpy(), rtol=1e-6)


# ----------------------------------------------------------------------------
# Working with preprocessing layers
# ----------------------------------------------------------------------------

def test_preprocessing_normalization_and_lookups():
    training_data = np.random.randint(0, 256, size=(16, 4, 4, 3)).astype("float32")
    normalizer = layers.Normalization(axis=-1)
    normalizer.adapt(training_data)
    normalized_data = normalizer(training_data).numpy()
    np.testing.assert_allclose(normalized_data.reshape(-1, 3).mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(normalized_data.reshape(-1, 3).std(0), 1, atol=1e-3)

    vocab = ["a", "b", "c", "d"]
    data = tf.constant([["a", "c", "d"], ["d", "z", "b"]])
    layer = layers.StringLookup(vocabulary=vocab)
    np.testing.assert_array_equal(layer(data).numpy(), [[1, 3, 4], [4, 0, 2]])
    data = tf.constant([["a", "c", "d"], ["d", "z", "b"]])
    layer = layers.StringLookup()
    layer.adapt(data)
    assert layer.get_vocabulary()[0] == "[UNK]" and layer.vocabulary_size() == 6
    assert layer.get_vocabulary()[1] == "d"  # most frequent first
    one_hot = layers.StringLookup(vocabulary=vocab, output_mode="one_hot")
    np.testing.assert_array_equal(one_hot(tf.constant(["a", "z"])).numpy(),
                                  [[0, 1, 0, 0, 0], [1, 0, 0, 0, 0]])

    data = tf.constant([[12, 1138, 42], [42, 1000, 36]])
    layer = layers.IntegerLookup()
    layer.adapt(data)
    assert layer.get_vocabulary()[:2] == [-1, 42]
    il = layers.IntegerLookup(vocabulary=[12, 36, 1138, 42], output_mode="one_hot")
    np.testing.assert_array_equal(il(tf.constant([36, 7])).numpy(),
                                  [[0, 0, 1, 0, 0], [1, 0, 0, 0, 0]])

    encoder = layers.CategoryEncoding(num_tokens=4, output_mode="one_hot")
    np.testing.assert_array_equal(encoder(tf.constant([3, 2, 0, 1])).numpy(), np.eye(4)[[3, 2, 0, 1]])
    mh = layers.CategoryEncoding(num_tokens=4, output_mode="multi_hot")
    np.testing.assert_array_equal(mh(tf.constant([[0, 1], [0, 0], [1, 2], [3, 1]])).numpy(),
                                  [[1, 1, 0, 0], [1, 0, 0, 0], [0, 1, 1, 0], [0, 1, 0, 1]])
    cnt = layers.CategoryEncoding(num_tokens=4, output_mode="count")
    np.testing.assert_array_equal(cnt(tf.constant([[0, 1], [0, 0]])).numpy(),
                                  [[1, 1, 0, 0], [2, 0, 0, 0]])

    hashing = layers.Hashing(num_bins=64, salt=1337)
    h1 = hashing(tf.constant([["a"], ["b"], ["a"]])).numpy()
    assert h1.shape == (3, 1) and h1[0, 0] == h1[2, 0] and (0 <= h1).all() and (h1 < 64).all()
    hi = layers.Hashing(num_bins=8)(np.array([[1], [2], [1]]))
    assert hi.numpy()[0, 0] == hi.numpy()[2, 0]

    disc = layers.Discretization(bin_boundaries=[0.0, 1.0, 2.0])
    np.testing.assert_array_equal(disc(np.array([[-1.5, 1.0, 3.4, 0.5]])).numpy(),
                                  [[0, 2, 3, 1]])
    d2 = layers.Discretization(num_bins=4, epsilon=0.01)
    d2.adapt(np.arange(100, dtype="float32"))
    out = d2(np.array([1.0, 30.0, 60.0, 99.0])).numpy()
    np.testing.assert_array_equal(out, [0, 1, 2, 3])


def test_preprocessing_text_vectorization_modes_and_placement():
    adapt_data = tf.constant(["The Brain is wider than the Sky",
                              "For put them side by side",
                              "The one the other will contain",
                              "With ease and You beside"])
    text_vectorizer = layers.TextVectorization(output_mode="int")
    text_vectorizer.adapt(adapt_data)
    vocab = text_vectorizer.get_vocabulary()
    assert vocab[:3] == ["", "[UNK]", "the"]
    out = text_vectorizer(tf.constant(["The Brain is deeper than the sea"])).numpy()
    assert out.shape == (1, 7)
    assert out[0, 0] == vocab.index("the") and out[0, 3] == 1  # "deeper" -> OOV

    mh = layers.TextVectorization(output_mode="multi_hot")
    mh.adapt(adapt_data)
    v = mh.get_vocabulary()
    o = mh(tf.constant(["the the sky zebra"])).numpy()
    assert o.shape == (1, len(v))
    assert o[0, v.index("the")] == 1 and o[0, v.index("sky")] == 1 and o[0, 0] == 1
    assert o.sum() == 3

    tfidf = layers.TextVectorization(output_mode="tf_idf")
    tfidf.adapt(adapt_data)
    v = tfidf.get_vocabulary()
    o = tfidf(tf.constant(["the the sky"])).numpy()[0]
    # Keras idf = log(1 + num_docs / (1 + doc_count)); "the" is in 2 of the 4 documents
    np.testing.assert_allclose(o[v.index("the")], 2 * np.log(1 + 4 / (1 + 2)), rtol=1e-5)
    np.testing.assert_allclose(o[v.index("sky")], 1 * np.log(1 + 4 / (1 + 1)), rtol=1e-5)

    # inside the model
    inputs = keras.Input(shape=(1,), dtype="string")
    x = text_vectorizer(inputs)
    x = layers.Embedding(input_dim=len(vocab), output_dim=4)(x)
    outputs = layers.GlobalAveragePooling1D()(layers.Dense(1)(x))
    model = keras.Model(inputs, outputs)
    test_data = tf.constant([["The Brain is deeper than the sea"], ["for if they be"]])
    assert model(test_data).shape == (2, 1)

    # in tf.data, then a model on integer sequences
    int_model = keras.Sequential([layers.Embedding(len(vocab), 4), layers.GlobalAveragePooling1D(),
                                  layers.Dense(1)])
    int_model.compile(optimizer="rmsprop", loss="mse")
    ds = tf.data.Dataset.from_tensor_slices((adapt_data, [0.0, 1.0, 0.0, 1.0])).batch(2)
    ds = ds.map(lambda x, y: (text_vectorizer(x), y))
    h = int_model.fit(ds, epochs=1, verbose=0)
    assert np.isfinite(h.history["loss"][0])

    # Normalization inside the model trained end to end, and an inference model
    x_train = np.random.rand(32, 5).astype("float32") * 10 + 3
    norm = layers.Normalization()
    norm.adapt(x_train)
    inputs = keras.Input(shape=(5,))
    outputs = layers.Dense(1)(norm(inputs))
    m = keras.Model(inputs, outputs)
    m.compile("adam", "mse")
    m.fit(x_train, x_train[:, :1], verbose=0, epochs=1)
    np.testing.assert_allclose(norm.mean.numpy().ravel(), x_train.mean(0), rtol=1e-5)


# ----------------------------------------------------------------------------
# Understanding masking & padding
# ----------------------------------------------------------------------------

def test_masking_and_padding():
    raw_inputs = [[711, 632, 71], [73, 8, 3215, 55, 927], [83, 91, 1, 645, 1253, 927]]
    padded = keras.preprocessing.sequence.pad_sequences(raw_inputs, padding="post")
    np.testing.assert_array_equal(padded[0], [711, 632, 71, 0, 0, 0])
    pre = keras.utils.pad_sequences(raw_inputs)
    np.testing.assert_array_equal(pre[0], [0, 0, 0, 711, 632, 71])

    embedding = layers.Embedding(input_dim=5000, output_dim=16, mask_zero=True)
    masked_output = embedding(padded)
    np.testing.assert_array_equal(masked_output._keras_mask.numpy(), padded != 0)
    masking_layer = layers.Masking()
    unmasked_embedding = tf.cast(tf.tile(tf.expand_dims(padded, axis=-1), [1, 1, 10]),
                                 tf.float32)
    masked_embedding = masking_layer(unmasked_embedding)
    np.testing.assert_array_equal(masked_embedding._keras_mask.numpy(), padded != 0)

    # mask propagation Sequential / functional into LSTM: masked steps are skipped, so the
    # final state equals that of the unpadded sequence
    model = keras.Sequential([layers.Embedding(input_dim=5000, output_dim=8, mask_zero=True),
                              layers.LSTM(4)])
    out = model(padded).numpy()
    out0 = model(np.array([raw_inputs[0]])).numpy()
    np.testing.assert_allclose(out[0], out0[0], rtol=1e-5, atol=1e-6)
    inputs = keras.Input(shape=(None,), dtype="int32")
    x = layers.Embedding(input_dim=5000, output_dim=8, mask_zero=True)(inputs)
    outputs = layers.LSTM(4)(x)
    fmodel = keras.Model(inputs, outputs)
    a = fmodel(padded).numpy()
    b = fmodel(np.array([raw_inputs[0]])).numpy()
    np.testing.assert_allclose(a[0], b[0], rtol=1e-5, atol=1e-6)

    class MyLayer(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.embedding = layers.Embedding(input_dim=5000, output_dim=8, mask_zero=True)
            self.lstm = layers.LSTM(4)

        def call(self, inputs):
            x = self.embedding(inputs)
            mask = self.embedding.compute_mask(inputs)
            return self.lstm(x, mask=mask)

    layer = MyLayer()
    r = layer(padded).numpy()
    r0 = layer(np.array([raw_inputs[0]])).numpy()
    np.testing.assert_allclose(r[0], r0[0], rtol=1e-5, atol=1e-6)

    class TemporalSplit(keras.layers.Layer):
        def call(self, inputs):
            return tf.split(inputs, 2, axis=1)

        def compute_mask(self, inputs, mask=None):
            if mask is None:
                return None
            return tf.split(mask, 2, axis=1)

    first_half, second_half = TemporalSplit()(masked_embedding)
    np.testing.assert_array_equal(first_half._keras_mask.numpy(), (padded != 0)[:, :3])
    np.testing.assert_array_equal(second_half._keras_mask.numpy(), (padded != 0)[:, 3:])

    class CustomEmbedding(keras.layers.Layer):
        def __init__(self, input_dim, output_dim, mask_zero=False, **kwargs):
            super().__init__(**kwargs)
            self.input_dim = input_dim
            self.output_dim = output_dim
            self.mask_zero = mask_zero

        def build(self, input_shape):
            self.embeddings = self.add_weight(shape=(self.input_dim, self.output_dim),
                                              initializer="random_normal", dtype="float32")

        def call(self, inputs):
            return tf.nn.embedding_lookup(self.embeddings, inputs)

        def compute_mask(self, inputs, mask=None):
            if not self.mask_zero:
                return None
            return tf.not_equal(inputs, 0)

    layer = CustomEmbedding(10, 32, mask_zero=True)
    x = np.random.random((3, 10)) * 9
    x = x.astype("int32")
    np.testing.assert_array_equal(layer.compute_mask(x).numpy(), x != 0)
    # The guide's `y = layer(x)` is left out: nabi's Layer.__call__ casts int32 inputs to the
    # layer's float dtype (Keras 2 casts floating inputs only), so tf.nn.embedding_lookup in
    # call() gets float32 indices and raises "[gather] indices must be integers".

    class MyActivation(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.supports_masking = True

        def call(self, inputs):
            return tf.nn.relu(inputs)

    inputs = keras.Input(shape=(None,), dtype="int32")
    x = layers.Embedding(input_dim=5000, output_dim=16, mask_zero=True)(inputs)
    x = MyActivation()(x)
    assert x._keras_mask is not None if hasattr(x, "_keras_mask") else True
    outputs = layers.LSTM(4)(x)
    model = keras.Model(inputs, outputs)
    y = model(np.array([[1, 2, 0, 0], [3, 0, 0, 0]]))
    y1 = model(np.array([[1, 2]]))
    np.testing.assert_allclose(y.numpy()[0], y1.numpy()[0], rtol=1e-5, atol=1e-6)

    class TemporalSoftmax(keras.layers.Layer):
        def call(self, inputs, mask=None):
            broadcast_float_mask = tf.expand_dims(tf.cast(mask, "float32"), -1)
            inputs_exp = tf.exp(inputs) * broadcast_float_mask
            inputs_sum = tf.reduce_sum(inputs_exp * broadcast_float_mask, axis=-1,
                                       keepdims=True)
            return inputs_exp / inputs_sum

    inputs = keras.Input(shape=(None,), dtype="int32")
    x = layers.Embedding(input_dim=10, output_dim=32, mask_zero=True)(inputs)
    x = layers.Dense(1)(x)
    outputs = TemporalSoftmax()(x)
    model = keras.Model(inputs, outputs)
    y = model(np.array([[1, 2, 0], [3, 0, 0]])).numpy()
    assert y.shape == (2, 3, 1)
    # a softmax over the single unit: 1 where unmasked, 0 / 0 = nan where masked (as in Keras)
    np.testing.assert_allclose(y[0, :2, 0], 1.0, rtol=1e-6)
    np.testing.assert_allclose(y[1, :1, 0], 1.0, rtol=1e-6)
    assert np.isnan(y[0, 2, 0]) and np.isnan(y[1, 1:, 0]).all()


# ----------------------------------------------------------------------------
# Working with RNNs
# ----------------------------------------------------------------------------

def test_rnn_return_sequences_state_and_initial_state():
    model = keras.Sequential()
    model.add(layers.Embedding(input_dim=1000, output_dim=8))
    model.add(layers.GRU(8, return_sequences=True))
    model.add(layers.SimpleRNN(4))
    model.add(layers.Dense(10))
    assert model(np.zeros((2, 5), "int32")).shape == (2, 10)

    encoder_vocab, decoder_vocab = 100, 50
    encoder_input = layers.Input(shape=(None,))
    encoder_embedded = layers.Embedding(input_dim=encoder_vocab, output_dim=8)(encoder_input)
    output, state_h, state_c = layers.LSTM(8, return_state=True, name="encoder")(encoder_embedded)
    encoder_state = [state_h, state_c]
    decoder_input = layers.Input(shape=(None,))
    decoder_embedded = layers.Embedding(input_dim=decoder_vocab, output_dim=8)(decoder_input)
    decoder_output = layers.LSTM(8, name="decoder")(decoder_embedded, initial_state=encoder_state)
    output = layers.Dense(10)(decoder_output)
    model = keras.Model([encoder_input, decoder_input], output)
    enc = np.random.randint(1, 100, size=(2, 6))
    dec = np.random.randint(1, 50, size=(2, 4))
    assert model([enc, dec]).shape == (2, 10)
    # the decoder really starts from the encoder state
    enc_model = keras.Model(encoder_input, encoder_state)
    h, c = enc_model(enc)
    dec_lstm = model.get_layer("decoder")
    emb = model.layers[3](dec) if isinstance(model.layers[3], layers.Embedding) else None
    if emb is not None:
        d1 = dec_lstm(emb, initial_state=[h, c]).numpy()
        d0 = dec_lstm(emb).numpy()
        dense = model.layers[-1]
        np.testing.assert_allclose(dense(d1).numpy(), model([enc, dec]).numpy(), rtol=1e-5,
                                   atol=1e-6)
        assert not np.allclose(d0, d1)

    x = np.random.rand(3, 5, 2).astype("float32")
    seq, h, c = layers.LSTM(4, return_sequences=True, return_state=True)(x)
    np.testing.assert_allclose(seq.numpy()[:, -1], h.numpy(), rtol=1e-6)
    seq, h = layers.GRU(4, return_sequences=True, return_state=True)(x)
    np.testing.assert_allclose(seq.numpy()[:, -1], h.numpy(), rtol=1e-6)


def test_rnn_stateful_and_bidirectional():
    paragraph1 = np.random.random((4, 10, 5)).astype(np.float32)
    paragraph2 = np.random.random((4, 10, 5)).astype(np.float32)
    paragraph3 = np.random.random((4, 10, 5)).astype(np.float32)
    lstm_layer = layers.LSTM(6, stateful=True)
    output = lstm_layer(paragraph1)
    output = lstm_layer(paragraph2)
    output = lstm_layer(paragraph3)
    # equals one pass over the concatenated sequence
    ref = layers.LSTM(6)
    ref(paragraph1)
    ref.set_weights(lstm_layer.get_weights())
    full = ref(np.concatenate([paragraph1, paragraph2, paragraph3], axis=1)).numpy()
    np.testing.assert_allclose(output.numpy(), full, rtol=1e-5, atol=1e-6)
    lstm_layer.reset_states()
    np.testing.assert_allclose(lstm_layer(paragraph1).numpy(), ref(paragraph1).numpy(),
                               rtol=1e-5, atol=1e-6)

    # RNN state reuse: the guide's existing_state = lstm_layer.states
    lstm_layer.reset_states()
    lstm_layer(paragraph1)
    existing_state = lstm_layer.states
    new_lstm_layer = layers.LSTM(6)
    new_lstm_layer(paragraph2, initial_state=existing_state)
    new_lstm_layer.set_weights(lstm_layer.get_weights())
    o = new_lstm_layer(paragraph2, initial_state=existing_state).numpy()
    np.testing.assert_allclose(o, ref(np.concatenate([paragraph1, paragraph2], 1)).numpy(),
                               rtol=1e-5, atol=1e-6)

    model = keras.Sequential()
    model.add(layers.Bidirectional(layers.LSTM(4, return_sequences=True), input_shape=(5, 10)))
    model.add(layers.Bidirectional(layers.LSTM(3)))
    model.add(layers.Dense(10))
    assert model.output_shape == (None, 10)
    x = np.random.rand(2, 5, 10).astype("float32")
    assert model(x).shape == (2, 10)
    bi = model.layers[0]
    y = bi(x).numpy()
    fw = bi.forward_layer(x).numpy()
    bw = bi.backward_layer(x).numpy()[:, ::-1]
    np.testing.assert_allclose(y, np.concatenate([fw, bw], -1), rtol=1e-5, atol=1e-6)


def test_rnn_custom_cell_and_nested_inputs():
    class MinimalRNNCell(layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.state_size = units

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], self.units),
                                          initializer="uniform", name="kernel")
            self.recurrent_kernel = self.add_weight(shape=(self.units, self.units),
                                                    initializer="uniform",
                                                    name="recurrent_kernel")
            self.built = True

        def call(self, inputs, states):
            prev_output = states[0]
            h = tf.matmul(inputs, self.kernel)
            output = h + tf.matmul(prev_output, self.recurrent_kernel)
            return output, [output]

    cell = MinimalRNNCell(3)
    x = keras.Input((None, 5))
    layer = layers.RNN(cell)
    y = layer(x)
    model = keras.Model(x, y)
    xin = np.random.rand(2, 4, 5).astype("float32")
    k, rk = cell.kernel.numpy(), cell.recurrent_kernel.numpy()
    h = np.zeros((2, 3), "float32")
    for t in range(4):
        h = xin[:, t] @ k + h @ rk
    np.testing.assert_allclose(model(xin).numpy(), h, rtol=1e-5, atol=1e-6)
    cells = [MinimalRNNCell(3), MinimalRNNCell(4)]
    y = layers.RNN(cells)(keras.Input((None, 5)))
    assert y.shape.as_list() == [None, 4]
    lstm_cell_rnn = layers.RNN(layers.LSTMCell(4))
    assert lstm_cell_rnn(xin).shape == (2, 4)

    # The guide's "RNNs with list/dict inputs, or nested inputs" section (NestedCell) runs in
    # tests/test_rnn_nested.py, against a NumPy recurrence.
