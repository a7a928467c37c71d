"""Code paths of the Keras 2 (TF 2.15) developer guides, ported by changing only the
import line. Each test follows one guide's code with tiny synthetic data and checks
real values against NumPy or documented Keras behaviour."""
import os

import numpy as np
import pytest

import nabi as tf
from nabi import keras
from nabi.keras import layers


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

    (x_train, _), _ = keras.datasets.mnist.load_data()
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
