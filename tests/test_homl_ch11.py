"""Hands-On Machine Learning (3rd ed., Geron), chapter 11 notebook
"11_training_deep_neural_networks", run with only the import line changed. Fashion MNIST
becomes a few hundred MNIST digits ($NABI_DATASETS) or synthetic 28x28 class images; fewer
epochs, narrower layers. Initializers, schedules, the 1cycle curve, max-norm, clipping and
MC dropout are checked against NumPy; training against a falling loss."""
import math
import os
from functools import partial

import numpy as np
import pytest

import nabi as tf

K = tf.keras.backend


def setup_function(_):
    tf.keras.backend.clear_session()
    tf.random.set_seed(42)
    np.random.seed(42)


def _image_data(n_train=300, n_valid=100, n_test=100):
    d = os.environ.get("NABI_DATASETS", "")
    n = n_train + n_valid + n_test
    if d and os.path.isdir(os.path.join(d, "mnist")):
        (X_full, y_full), _ = tf.keras.datasets.mnist.load_data()
        X_full, y_full = X_full[:n], y_full[:n]
    else:
        rng = np.random.default_rng(0)
        y_full = rng.integers(0, 10, size=n).astype(np.uint8)
        X_full = (rng.random((n, 28, 28)) * 80).astype(np.uint8)
        for i, k in enumerate(y_full):
            X_full[i, 2 * k:2 * k + 6, 4:24] = 250
    X_full = X_full / 255.
    return ((X_full[:n_train], y_full[:n_train]),
            (X_full[n_train:n_train + n_valid], y_full[n_train:n_train + n_valid]),
            (X_full[n_train + n_valid:], y_full[n_train + n_valid:]))


# ----------------------------------------------------------------------------
# Glorot and He initialization
# ----------------------------------------------------------------------------

def test_he_normal_and_variance_scaling_fan_avg_uniform():
    dense = tf.keras.layers.Dense(50, activation="relu", kernel_initializer="he_normal")
    dense.build((None, 400))
    w = dense.get_weights()[0]
    # he_normal: truncated normal, stddev sqrt(2 / fan_in) (after the truncation)
    np.testing.assert_allclose(w.std(), np.sqrt(2 / 400), rtol=0.05)
    assert np.abs(w).max() <= 2 * np.sqrt(2 / 400) / 0.87962566103423978 + 1e-6

    he_avg_init = tf.keras.initializers.VarianceScaling(scale=2., mode="fan_avg",
                                                        distribution="uniform")
    dense = tf.keras.layers.Dense(50, activation="sigmoid", kernel_initializer=he_avg_init)
    dense.build((None, 400))
    w = dense.get_weights()[0]
    limit = np.sqrt(3 * 2. / ((400 + 50) / 2))
    assert np.abs(w).max() <= limit + 1e-6
    np.testing.assert_allclose(w.std(), limit / np.sqrt(3), rtol=0.05)


def test_leaky_relu_prelu_elu_selu_gelu_swish_values():
    z = np.linspace(-4, 4, 17).astype(np.float32)
    leaky_relu = tf.keras.layers.LeakyReLU(alpha=0.2)
    np.testing.assert_allclose(leaky_relu(z), np.where(z > 0, z, 0.2 * z), rtol=1e-6)
    dense = tf.keras.layers.Dense(5, activation=leaky_relu, kernel_initializer="he_normal")
    x = np.random.randn(3, 4).astype(np.float32)
    out = dense(x)
    W, b = dense.get_weights()
    zz = x @ W + b
    np.testing.assert_allclose(out, np.where(zz > 0, zz, 0.2 * zz), rtol=1e-5, atol=1e-6)
    # the layer-as-activation survives get_config / from_config
    clone = tf.keras.layers.Dense.from_config(dense.get_config())
    clone.build((None, 4))
    clone.set_weights([W, b])
    np.testing.assert_allclose(clone(x), out, rtol=1e-6)

    np.testing.assert_allclose(tf.keras.activations.elu(z), np.where(z > 0, z, np.expm1(z)),
                               rtol=1e-5, atol=1e-6)
    alpha, scale = 1.6732632423543772, 1.0507009873554805
    np.testing.assert_allclose(tf.keras.activations.selu(z),
                               scale * np.where(z > 0, z, alpha * np.expm1(z)), rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(tf.keras.activations.swish(z), z / (1 + np.exp(-z)), rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(tf.keras.activations.mish(z), z * np.tanh(np.log1p(np.exp(z))),
                               rtol=1e-5, atol=1e-6)
    from math import erf
    gelu = np.array([0.5 * v * (1 + erf(v / np.sqrt(2))) for v in z.astype(np.float64)])
    np.testing.assert_allclose(tf.keras.activations.gelu(z), gelu, rtol=1e-3, atol=1e-3)

    prelu = tf.keras.layers.PReLU()
    y = prelu(z.reshape(1, -1))
    np.testing.assert_allclose(y[0], np.maximum(z, 0), atol=1e-7)  # alpha starts at 0
    assert len(prelu.trainable_weights) == 1


def test_leaky_relu_prelu_elu_selu_models_train():
    (X_train, y_train), (X_valid, y_valid), _ = _image_data(n_train=96, n_valid=32, n_test=0)
    for act in ["leaky", "prelu", "elu", "gelu", "swish", "mish"]:
        tf.keras.backend.clear_session()
        hidden = [tf.keras.layers.Dense(20, kernel_initializer="he_normal")]
        if act == "leaky":
            hidden.append(tf.keras.layers.LeakyReLU(alpha=0.2))
        elif act == "prelu":
            hidden.append(tf.keras.layers.PReLU())
        else:
            hidden = [tf.keras.layers.Dense(20, activation=act, kernel_initializer="he_normal")]
        model = tf.keras.Sequential([tf.keras.layers.Flatten(input_shape=[28, 28]), *hidden,
                                     tf.keras.layers.Dense(10, activation="softmax")])
        model.compile(loss="sparse_categorical_crossentropy",
                      optimizer=tf.keras.optimizers.SGD(learning_rate=0.05),
                      metrics=["accuracy"])
        h = model.fit(X_train, y_train, epochs=2, validation_data=(X_valid, y_valid),
                      verbose=0)
        assert h.history["loss"][-1] < h.history["loss"][0], act


def test_selu_deep_net_self_normalizes_with_alpha_dropout():
    (X_train, y_train), _, _ = _image_data(n_train=200, n_valid=0, n_test=0)
    pixel_means = X_train.mean(axis=0, keepdims=True)
    pixel_stds = X_train.std(axis=0, keepdims=True) + 1e-3
    X_train_scaled = (X_train - pixel_means) / pixel_stds

    model = tf.keras.Sequential()
    model.add(tf.keras.layers.Flatten(input_shape=[28, 28]))
    for layer in range(20):
        model.add(tf.keras.layers.Dense(64, activation="selu",
                                        kernel_initializer="lecun_normal"))
    model.add(tf.keras.layers.AlphaDropout(rate=0.1))
    model.add(tf.keras.layers.Dense(10, activation="softmax"))
    model.compile(loss="sparse_categorical_crossentropy",
                  optimizer=tf.keras.optimizers.SGD(learning_rate=0.001), metrics=["accuracy"])
    # Self-normalization: after 20 SELU layers the activations keep mean ~0 and std ~1
    # (random standardized input; lecun_normal keeps the variance).
    rand = np.random.randn(256, 28, 28).astype(np.float32)
    z = rand.reshape(256, -1)
    for layer in model.layers[1:21]:
        W, b = layer.get_weights()
        zz = z @ W + b
        z = 1.0507009873554805 * np.where(zz > 0, zz, 1.6732632423543772 * np.expm1(zz))
    assert abs(z.mean()) < 0.3 and 0.6 < z.std() < 1.4
    feat = tf.keras.Model(model.inputs, model.layers[20].output)
    np.testing.assert_allclose(feat.predict(rand, verbose=0), z, rtol=1e-3, atol=1e-3)

    h = model.fit(X_train_scaled, y_train, epochs=2, verbose=0)
    assert all(np.isfinite(h.history["loss"]))

    # AlphaDropout keeps mean 0 / variance 1 of a standard-normal input in training
    ad = tf.keras.layers.AlphaDropout(rate=0.2)
    big = np.random.randn(200000).astype(np.float32)
    out = np.asarray(ad(big, training=True))
    assert abs(out.mean()) < 0.02 and abs(out.std() - 1) < 0.02
    np.testing.assert_array_equal(np.asarray(ad(big, training=False)), big)


# ----------------------------------------------------------------------------
# Batch Normalization
# ----------------------------------------------------------------------------

def test_batch_normalization_after_activation():
    (X_train, y_train), (X_valid, y_valid), _ = _image_data(n_train=200, n_test=0)
    model = tf.keras.Sequential([
        tf.keras.layers.Flatten(input_shape=[28, 28]),
        tf.keras.layers.BatchNormalization(),
        tf.keras.layers.Dense(30, activation="relu", kernel_initializer="he_normal"),
        tf.keras.layers.BatchNormalization(),
        tf.keras.layers.Dense(20, activation="relu", kernel_initializer="he_normal"),
        tf.keras.layers.BatchNormalization(),
        tf.keras.layers.Dense(10, activation="softmax")
    ])
    lines = []
    model.summary(print_fn=lambda s, **k: lines.append(s))
    text = "\n".join(lines)
    assert "batch_normalization" in text
    assert "3136" in text  # 4 * 784 BN params on the flattened input
    # Non-trainable: the moving means/variances, 2 * (784 + 30 + 20)
    assert "Non-trainable params: 1,668" in text

    assert [(var.name, var.trainable) for var in model.layers[1].variables] == [
        ('batch_normalization/gamma:0', True), ('batch_normalization/beta:0', True),
        ('batch_normalization/moving_mean:0', False),
        ('batch_normalization/moving_variance:0', False)]

    model.compile(loss="sparse_categorical_crossentropy", optimizer="sgd",
                  metrics=["accuracy"])
    h = model.fit(X_train, y_train, epochs=2, validation_data=(X_valid, y_valid), verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0]
    mm = model.layers[1].moving_mean.numpy()
    assert np.abs(mm).max() > 0  # the moving statistics moved


def test_batch_normalization_before_activation_inference_numpy():
    model = tf.keras.Sequential([
        tf.keras.layers.Flatten(input_shape=[28, 28]),
        tf.keras.layers.Dense(30, kernel_initializer="he_normal", use_bias=False),
        tf.keras.layers.BatchNormalization(),
        tf.keras.layers.Activation("relu"),
        tf.keras.layers.Dense(10, kernel_initializer="he_normal", use_bias=False),
        tf.keras.layers.BatchNormalization(),
        tf.keras.layers.Activation("relu"),
        tf.keras.layers.Dense(10, activation="softmax")
    ])
    assert len(model.layers[1].get_weights()) == 1  # no bias
    model.compile(loss="sparse_categorical_crossentropy", optimizer="sgd")
    (X_train, y_train), _, (X_test, _) = _image_data(n_train=100, n_valid=0, n_test=8)
    model.fit(X_train, y_train, epochs=1, verbose=0)
    W1, g1, b1, m1, v1, W2, g2, b2, m2, v2, W3, b3 = model.get_weights()
    assert m1.shape == (30,) and v1.shape == (30,)
    x = X_test.reshape(len(X_test), -1)
    h = np.maximum(g1 * (x @ W1 - m1) / np.sqrt(v1 + 1e-3) + b1, 0)
    h = np.maximum(g2 * (h @ W2 - m2) / np.sqrt(v2 + 1e-3) + b2, 0)
    z = h @ W3 + b3
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    np.testing.assert_allclose(model.predict(X_test, verbose=0), p, rtol=1e-4, atol=1e-5)

    # training=True uses the batch's statistics (population variance)
    bn = tf.keras.layers.BatchNormalization()
    xb = np.random.randn(16, 5).astype(np.float32) * 3 + 1
    out = np.asarray(bn(xb, training=True))
    np.testing.assert_allclose(out, (xb - xb.mean(0)) / np.sqrt(xb.var(0) + 1e-3), rtol=1e-4,
                               atol=1e-4)
    # and moves the moving mean by (1 - momentum)
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.01 * xb.mean(0), rtol=1e-4,
                               atol=1e-6)


# ----------------------------------------------------------------------------
# Gradient clipping
# ----------------------------------------------------------------------------

def test_gradient_clipping_clipvalue_clipnorm():
    v = tf.Variable([1.0, 2.0, 3.0])
    g = tf.constant([0.5, -4.0, 3.0])
    optimizer = tf.keras.optimizers.SGD(clipvalue=1.0)
    optimizer.apply_gradients([(g, v)])
    np.testing.assert_allclose(v.numpy(), np.array([1, 2, 3]) - 0.01 * np.clip([0.5, -4, 3],
                                                                                -1, 1), rtol=1e-6)
    v = tf.Variable([1.0, 2.0, 3.0])
    optimizer = tf.keras.optimizers.SGD(clipnorm=1.0)
    optimizer.apply_gradients([(g, v)])
    gn = np.array([0.5, -4.0, 3.0])
    np.testing.assert_allclose(v.numpy(), np.array([1, 2, 3]) - 0.01 * gn / np.linalg.norm(gn),
                               rtol=1e-6)
    # compile with a clipping optimizer and train
    model = tf.keras.Sequential([tf.keras.layers.Dense(1, input_shape=[3])])
    model.compile(loss="mse", optimizer=tf.keras.optimizers.SGD(clipnorm=1.0))
    X = np.random.randn(32, 3).astype(np.float32)
    h = model.fit(X, X @ np.array([1., 2., 3.]), epochs=3, verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0]


# ----------------------------------------------------------------------------
# Transfer learning
# ----------------------------------------------------------------------------

def test_transfer_learning_with_keras(tmp_path):
    (X_train, y_train), (X_valid, y_valid), (X_test, y_test) = _image_data(300, 150, 150)
    class_names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    pos_class_id = class_names.index("Pullover")
    neg_class_id = class_names.index("T-shirt/top")

    def split_dataset(X, y):
        y_for_B = (y == pos_class_id) | (y == neg_class_id)
        y_A = y[~y_for_B]
        y_B = (y[y_for_B] == pos_class_id).astype(np.float32)
        old_class_ids = list(set(range(10)) - set([neg_class_id, pos_class_id]))
        for old_class_id, new_class_id in zip(old_class_ids, range(8)):
            y_A[y_A == old_class_id] = new_class_id  # reorder class ids for A
        return ((X[~y_for_B], y_A), (X[y_for_B], y_B))

    (X_train_A, y_train_A), (X_train_B, y_train_B) = split_dataset(X_train, y_train.copy())
    (X_valid_A, y_valid_A), (X_valid_B, y_valid_B) = split_dataset(X_valid, y_valid.copy())
    (X_test_A, y_test_A), (X_test_B, y_test_B) = split_dataset(X_test, y_test.copy())
    assert set(np.unique(y_train_A)) <= set(range(8))
    assert set(np.unique(y_train_B)) <= {0.0, 1.0}

    model_A = tf.keras.Sequential([
        tf.keras.layers.Flatten(input_shape=[28, 28]),
        tf.keras.layers.Dense(20, activation="relu", kernel_initializer="he_normal"),
        tf.keras.layers.Dense(20, activation="relu", kernel_initializer="he_normal"),
        tf.keras.layers.Dense(8, activation="softmax")
    ])
    model_A.compile(loss="sparse_categorical_crossentropy",
                    optimizer=tf.keras.optimizers.SGD(learning_rate=0.01),
                    metrics=["accuracy"])
    model_A.fit(X_train_A, y_train_A, epochs=3, validation_data=(X_valid_A, y_valid_A),
                verbose=0)
    model_A.save(str(tmp_path / "my_model_A"))

    model_A = tf.keras.models.load_model(str(tmp_path / "my_model_A"))
    model_B_on_A = tf.keras.Sequential(model_A.layers[:-1])
    model_B_on_A.add(tf.keras.layers.Dense(1, activation="sigmoid"))
    # the layers are shared: training B changes A
    assert model_B_on_A.layers[1] is model_A.layers[1]

    model_A_clone = tf.keras.models.clone_model(model_A)
    model_A_clone.set_weights(model_A.get_weights())
    assert model_A_clone.layers[1] is not model_A.layers[1]
    np.testing.assert_array_equal(model_A_clone.predict(X_test_A[:5], verbose=0),
                                  model_A.predict(X_test_A[:5], verbose=0))
    model_B_on_A = tf.keras.Sequential(model_A_clone.layers[:-1])
    model_B_on_A.add(tf.keras.layers.Dense(1, activation="sigmoid"))

    for layer in model_B_on_A.layers[:-1]:
        layer.trainable = False
    optimizer = tf.keras.optimizers.SGD(learning_rate=0.001)
    model_B_on_A.compile(loss="binary_crossentropy", optimizer=optimizer, metrics=["accuracy"])
    frozen = [w.copy() for w in model_B_on_A.layers[1].get_weights()]
    assert len(model_B_on_A.trainable_weights) == 2
    model_B_on_A.fit(X_train_B, y_train_B, epochs=2, validation_data=(X_valid_B, y_valid_B),
                     verbose=0)
    for a, b in zip(model_B_on_A.layers[1].get_weights(), frozen):
        np.testing.assert_array_equal(a, b)

    for layer in model_B_on_A.layers[:-1]:
        layer.trainable = True
    optimizer = tf.keras.optimizers.SGD(learning_rate=0.001)
    model_B_on_A.compile(loss="binary_crossentropy", optimizer=optimizer, metrics=["accuracy"])
    assert len(model_B_on_A.trainable_weights) == 6
    history = model_B_on_A.fit(X_train_B, y_train_B, epochs=2,
                               validation_data=(X_valid_B, y_valid_B), verbose=0)
    assert not np.array_equal(model_B_on_A.layers[1].get_weights()[0], frozen[0])
    loss, acc = model_B_on_A.evaluate(X_test_B, y_test_B, verbose=0)
    assert np.isfinite(loss) and 0 <= acc <= 1
    # model_A itself is untouched (its clone was trained)
    assert model_A.layers[1] is not model_B_on_A.layers[1]


# ----------------------------------------------------------------------------
# Faster optimizers
# ----------------------------------------------------------------------------

def _opt_steps(optimizer, grads, w0):
    w = tf.Variable(np.array(w0, dtype=np.float32))
    for g in grads:
        optimizer.apply_gradients([(tf.constant(np.array(g, dtype=np.float32)), w)])
    return w.numpy()


def test_optimizers_match_numpy_updates():
    rng = np.random.default_rng(0)
    grads = rng.normal(size=(4, 3))
    w0 = rng.normal(size=3)
    lr = 0.01

    # SGD with momentum / Nesterov (Keras 2.11+ formulas)
    w, v = w0.copy(), np.zeros(3)
    for g in grads:
        v = 0.9 * v - lr * g
        w = w + v
    np.testing.assert_allclose(_opt_steps(tf.keras.optimizers.SGD(learning_rate=lr,
                                                                  momentum=0.9), grads, w0),
                               w, rtol=1e-5)
    w, v = w0.copy(), np.zeros(3)
    for g in grads:
        v = 0.9 * v - lr * g
        w = w + 0.9 * v - lr * g
    np.testing.assert_allclose(_opt_steps(tf.keras.optimizers.SGD(learning_rate=lr,
                                                                  momentum=0.9, nesterov=True),
                                          grads, w0), w, rtol=1e-5)
    # RMSprop
    w, s = w0.copy(), np.zeros(3)
    for g in grads:
        s = 0.9 * s + 0.1 * g * g
        w = w - lr * g / (np.sqrt(s) + 1e-7)
    np.testing.assert_allclose(_opt_steps(tf.keras.optimizers.RMSprop(learning_rate=lr,
                                                                      rho=0.9), grads, w0),
                               w, rtol=1e-4)
    # Adam
    w, m, s = w0.copy(), np.zeros(3), np.zeros(3)
    for t, g in enumerate(grads, 1):
        m = 0.9 * m + 0.1 * g
        s = 0.999 * s + 0.001 * g * g
        alpha = lr * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
        w = w - alpha * m / (np.sqrt(s) + 1e-7 * np.sqrt(1 - 0.999 ** t))
    np.testing.assert_allclose(_opt_steps(tf.keras.optimizers.Adam(learning_rate=lr,
                                                                   beta_1=0.9, beta_2=0.999),
                                          grads, w0), w, rtol=1e-4)
    # AdamW: Adam plus decoupled weight decay w -= lr * wd * w first
    wd = 1e-2
    w, m, s = w0.copy(), np.zeros(3), np.zeros(3)
    for t, g in enumerate(grads, 1):
        w = w - lr * wd * w
        m = 0.9 * m + 0.1 * g
        s = 0.999 * s + 0.001 * g * g
        alpha = lr * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
        w = w - alpha * m / (np.sqrt(s) + 1e-7 * np.sqrt(1 - 0.999 ** t))
    AdamW = getattr(tf.keras.optimizers, "AdamW", None) or \
        tf.keras.optimizers.experimental.AdamW
    np.testing.assert_allclose(_opt_steps(AdamW(weight_decay=wd, learning_rate=lr, beta_1=0.9,
                                                beta_2=0.999), grads, w0), w, rtol=1e-4)
    assert tf.keras.optimizers.experimental.AdamW is not None


def test_all_book_optimizers_train_a_model():
    (X_train, y_train), _, _ = _image_data(n_train=96, n_valid=0, n_test=0)
    opts = [tf.keras.optimizers.SGD(learning_rate=0.01, momentum=0.9),
            tf.keras.optimizers.SGD(learning_rate=0.01, momentum=0.9, nesterov=True),
            tf.keras.optimizers.Adagrad(learning_rate=0.01),
            tf.keras.optimizers.RMSprop(learning_rate=0.001, rho=0.9),
            tf.keras.optimizers.Adam(learning_rate=0.001, beta_1=0.9, beta_2=0.999),
            tf.keras.optimizers.Adamax(learning_rate=0.001, beta_1=0.9, beta_2=0.999),
            tf.keras.optimizers.Nadam(learning_rate=0.001, beta_1=0.9, beta_2=0.999),
            tf.keras.optimizers.experimental.AdamW(weight_decay=1e-5, learning_rate=0.001,
                                                   beta_1=0.9, beta_2=0.999)]
    for optimizer in opts:
        tf.keras.backend.clear_session()
        model = tf.keras.Sequential([
            tf.keras.layers.Flatten(input_shape=[28, 28]),
            tf.keras.layers.Dense(16, activation="relu", kernel_initializer="he_normal"),
            tf.keras.layers.Dense(10, activation="softmax")])
        model.compile(loss="sparse_categorical_crossentropy", optimizer=optimizer,
                      metrics=["accuracy"])
        h = model.fit(X_train, y_train, epochs=2, verbose=0)
        assert h.history["loss"][-1] < h.history["loss"][0], type(optimizer).__name__


# ----------------------------------------------------------------------------
# Learning rate scheduling
# ----------------------------------------------------------------------------

def _lr_model(optimizer):
    model = tf.keras.Sequential([tf.keras.layers.Dense(4, activation="relu", input_shape=[8]),
                                 tf.keras.layers.Dense(1)])
    model.compile(loss="mse", optimizer=optimizer)
    return model


def _reg_data(n=64):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(n, 8)).astype(np.float32)
    return X, X @ rng.normal(size=8).astype(np.float32)


def test_power_scheduling_inverse_time_decay():
    lr_schedule = tf.keras.optimizers.schedules.InverseTimeDecay(
        initial_learning_rate=0.01, decay_steps=10_000, decay_rate=1.0, staircase=False)
    for step in [0, 1, 5000, 10_000, 25_000]:
        np.testing.assert_allclose(float(lr_schedule(step)), 0.01 / (1 + step / 10_000),
                                   rtol=1e-6)
    optimizer = tf.keras.optimizers.SGD(learning_rate=lr_schedule)
    X, y = _reg_data()
    model = _lr_model(optimizer)
    model.fit(X, y, epochs=2, batch_size=16, verbose=0)
    assert int(optimizer.iterations.numpy()) == 8
    np.testing.assert_allclose(float(optimizer.learning_rate), 0.01 / (1 + 8 / 10_000),
                               rtol=1e-6)


def test_power_scheduling_legacy_decay():
    # the book's TF < 2.11 spelling: lr = lr0 / (1 + decay * iterations)
    optimizer = tf.keras.optimizers.legacy.SGD(learning_rate=0.01, decay=1e-1)
    w = tf.Variable([1.0])
    for _ in range(4):
        optimizer.apply_gradients([(tf.constant([1.0]), w)])
    np.testing.assert_allclose(w.numpy(), [1.0 - sum(0.01 / (1 + 0.1 * t) for t in range(4))],
                               rtol=1e-6)
    X, y = _reg_data()
    model = _lr_model(tf.keras.optimizers.legacy.SGD(learning_rate=0.01, decay=1e-4))
    h = model.fit(X, y, epochs=2, verbose=0)
    assert np.all(np.isfinite(h.history["loss"]))


def test_exponential_scheduling_learning_rate_scheduler():
    def exponential_decay(lr0, s):
        def exponential_decay_fn(epoch):
            return lr0 * 0.1 ** (epoch / s)
        return exponential_decay_fn

    exponential_decay_fn = exponential_decay(lr0=0.01, s=20)
    X, y = _reg_data()
    model = _lr_model(tf.keras.optimizers.SGD(learning_rate=0.001))
    lr_scheduler = tf.keras.callbacks.LearningRateScheduler(exponential_decay_fn)
    history = model.fit(X, y, epochs=5, callbacks=[lr_scheduler], verbose=0)
    np.testing.assert_allclose(history.history["lr"], [0.01 * 0.1 ** (e / 20) for e in range(5)],
                               rtol=1e-5)

    def exponential_decay_fn2(epoch, lr):
        return lr * 0.1 ** (1 / 20)

    tf.keras.backend.clear_session()
    model = _lr_model(tf.keras.optimizers.SGD(learning_rate=0.01))
    lr_scheduler = tf.keras.callbacks.LearningRateScheduler(exponential_decay_fn2)
    history = model.fit(X, y, epochs=4, callbacks=[lr_scheduler], verbose=0)
    np.testing.assert_allclose(history.history["lr"],
                               [0.01 * 0.1 ** ((e + 1) / 20) for e in range(4)], rtol=1e-5)


def test_exponential_decay_per_iteration_callback_and_schedule():
    class ExponentialDecay(tf.keras.callbacks.Callback):
        def __init__(self, n_steps=40_000):
            super().__init__()
            self.n_steps = n_steps

        def on_batch_begin(self, batch, logs=None):
            # Note: the `batch` argument is reset at each epoch
            lr = K.get_value(self.model.optimizer.learning_rate)
            new_learning_rate = lr * 0.1 ** (1 / self.n_steps)
            K.set_value(self.model.optimizer.learning_rate, new_learning_rate)

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            logs['lr'] = K.get_value(self.model.optimizer.learning_rate)

    X, y = _reg_data()
    lr0 = 0.01
    model = _lr_model(tf.keras.optimizers.SGD(learning_rate=lr0))
    batch_size = 16
    n_epochs = 3
    n_steps = n_epochs * math.ceil(len(X) / batch_size)
    exp_decay = ExponentialDecay(n_steps)
    history = model.fit(X, y, epochs=n_epochs, batch_size=batch_size, callbacks=[exp_decay],
                        verbose=0)
    np.testing.assert_allclose(history.history["lr"],
                               [lr0 * 0.1 ** ((e + 1) * 4 / n_steps) for e in range(3)],
                               rtol=1e-4)

    scheduled_learning_rate = tf.keras.optimizers.schedules.ExponentialDecay(
        initial_learning_rate=0.01, decay_steps=20_000, decay_rate=0.1)
    for step in [0, 100, 20_000, 30_000]:
        np.testing.assert_allclose(float(scheduled_learning_rate(step)),
                                   0.01 * 0.1 ** (step / 20_000), rtol=1e-5)
    optimizer = tf.keras.optimizers.SGD(learning_rate=scheduled_learning_rate)
    tf.keras.backend.clear_session()
    model = _lr_model(optimizer)
    h = model.fit(X, y, epochs=2, verbose=0)
    assert np.all(np.isfinite(h.history["loss"]))


def test_piecewise_constant_scheduling():
    def piecewise_constant(boundaries, values):
        boundaries = np.array([0] + boundaries)
        values = np.array(values)

        def piecewise_constant_fn(epoch):
            return values[(boundaries > epoch).argmax() - 1]
        return piecewise_constant_fn

    piecewise_constant_fn = piecewise_constant([2, 4], [0.01, 0.005, 0.001])
    X, y = _reg_data()
    model = _lr_model(tf.keras.optimizers.SGD(learning_rate=0.01))
    lr_scheduler = tf.keras.callbacks.LearningRateScheduler(piecewise_constant_fn)
    history = model.fit(X, y, epochs=5, callbacks=[lr_scheduler], verbose=0)
    # note: argmax of all-False is 0, so epochs >= last boundary give values[-1]
    np.testing.assert_allclose(history.history["lr"], [0.01, 0.01, 0.005, 0.005, 0.001],
                               rtol=1e-6)

    n_steps_per_epoch = 4
    scheduled_learning_rate = tf.keras.optimizers.schedules.PiecewiseConstantDecay(
        boundaries=[5. * n_steps_per_epoch, 15. * n_steps_per_epoch],
        values=[0.01, 0.005, 0.001])
    got = [float(scheduled_learning_rate(s)) for s in [0, 20, 21, 60, 61, 1000]]
    np.testing.assert_allclose(got, [0.01, 0.01, 0.005, 0.005, 0.001, 0.001], rtol=1e-6)
    model = _lr_model(tf.keras.optimizers.SGD(learning_rate=scheduled_learning_rate))
    model.fit(X, y, epochs=1, verbose=0)


def test_performance_scheduling_reduce_lr_on_plateau():
    X, _ = _reg_data()
    lr_scheduler = tf.keras.callbacks.ReduceLROnPlateau(factor=0.5, patience=2)
    # a flat validation loss: the targets are the model's own predictions (zero gradient)
    model = _lr_model(tf.keras.optimizers.SGD(learning_rate=0.01))
    y_flat = model.predict(X, verbose=0)[:, 0]
    history = model.fit(X, y_flat, epochs=6, validation_data=(X, y_flat),
                        callbacks=[lr_scheduler], verbose=0)
    # epoch 0 is best; epochs 1, 2 do not improve -> halve at the end of epoch 2, wait
    # restarts; epochs 3, 4 -> halve again. Keras logs the lr each epoch ran with.
    np.testing.assert_allclose(history.history["lr"],
                               [0.01, 0.01, 0.01, 0.005, 0.005, 0.0025], rtol=1e-6)
    np.testing.assert_allclose(float(K.get_value(model.optimizer.learning_rate)), 0.0025,
                               rtol=1e-6)


class ExponentialLearningRate(tf.keras.callbacks.Callback):
    def __init__(self, factor):
        self.factor = factor
        self.rates = []
        self.losses = []

    def on_epoch_begin(self, epoch, logs=None):
        self.sum_of_epoch_losses = 0

    def on_batch_end(self, batch, logs=None):
        mean_epoch_loss = logs["loss"]  # the epoch's mean loss so far
        new_sum_of_epoch_losses = mean_epoch_loss * (batch + 1)
        batch_loss = new_sum_of_epoch_losses - self.sum_of_epoch_losses
        self.sum_of_epoch_losses = new_sum_of_epoch_losses
        lr = self.model.optimizer.learning_rate.numpy()
        self.rates.append(lr)
        self.losses.append(batch_loss)
        self.model.optimizer.learning_rate = lr * self.factor


def find_learning_rate(model, X, y, epochs=1, batch_size=32, min_rate=1e-4, max_rate=1):
    init_weights = model.get_weights()
    iterations = math.ceil(len(X) / batch_size) * epochs
    factor = (max_rate / min_rate) ** (1 / iterations)
    init_lr = K.get_value(model.optimizer.learning_rate)
    model.optimizer.learning_rate = min_rate
    exp_lr = ExponentialLearningRate(factor)
    history = model.fit(X, y, epochs=epochs, batch_size=batch_size, callbacks=[exp_lr],
                        verbose=0)
    model.optimizer.learning_rate = init_lr
    model.set_weights(init_weights)
    return exp_lr.rates, exp_lr.losses


class OneCycleScheduler(tf.keras.callbacks.Callback):
    def __init__(self, iterations, max_lr=1e-3, start_lr=None,
                 last_iterations=None, last_lr=None):
        self.iterations = iterations
        self.max_lr = max_lr
        self.start_lr = start_lr or max_lr / 10
        self.last_iterations = last_iterations or iterations // 10 + 1
        self.half_iteration = (iterations - self.last_iterations) // 2
        self.last_lr = last_lr or self.start_lr / 1000
        self.iteration = 0

    def _interpolate(self, iter1, iter2, lr1, lr2):
        return (lr2 - lr1) * (self.iteration - iter1) / (iter2 - iter1) + lr1

    def on_batch_begin(self, batch, logs):
        if self.iteration < self.half_iteration:
            lr = self._interpolate(0, self.half_iteration, self.start_lr, self.max_lr)
        elif self.iteration < 2 * self.half_iteration:
            lr = self._interpolate(self.half_iteration, 2 * self.half_iteration,
                                   self.max_lr, self.start_lr)
        else:
            lr = self._interpolate(2 * self.half_iteration, self.iterations,
                                   self.start_lr, self.last_lr)
        self.iteration += 1
        self.model.optimizer.learning_rate = lr


def test_find_learning_rate_and_one_cycle():
    (X_train, y_train), (X_valid, y_valid), _ = _image_data(n_train=256, n_test=0)
    model = tf.keras.Sequential([
        tf.keras.layers.Flatten(input_shape=[28, 28]),
        tf.keras.layers.Dense(16, activation="relu", kernel_initializer="he_normal"),
        tf.keras.layers.Dense(10, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy",
                  optimizer=tf.keras.optimizers.SGD(learning_rate=0.001), metrics=["accuracy"])
    w_before = model.get_weights()
    batch_size = 32
    rates, losses = find_learning_rate(model, X_train, y_train, epochs=1,
                                       batch_size=batch_size)
    assert len(rates) == len(losses) == 8
    np.testing.assert_allclose(rates, 1e-4 * (1e4 ** (1 / 8)) ** np.arange(8), rtol=1e-5)
    assert np.all(np.isfinite(losses))
    np.testing.assert_allclose(float(K.get_value(model.optimizer.learning_rate)), 0.001,
                               rtol=1e-6)
    for a, b in zip(model.get_weights(), w_before):
        np.testing.assert_array_equal(a, b)

    class LRLogger(tf.keras.callbacks.Callback):
        def __init__(self):
            self.lrs = []

        def on_train_batch_end(self, batch, logs=None):
            self.lrs.append(float(K.get_value(self.model.optimizer.learning_rate)))

    n_epochs = 3
    iterations = math.ceil(len(X_train) / batch_size) * n_epochs  # 24
    onecycle = OneCycleScheduler(iterations, max_lr=0.1)
    logger = LRLogger()
    history = model.fit(X_train, y_train, epochs=n_epochs, batch_size=batch_size,
                        validation_data=(X_valid, y_valid), callbacks=[onecycle, logger],
                        verbose=0)
    # the 1cycle curve in NumPy: 0.01 -> 0.1 over 10 steps, back over 10, then 4 steps down
    last_it = iterations // 10 + 1   # 3
    half = (iterations - last_it) // 2  # 10
    it = np.arange(iterations)
    ref = np.where(it < half, 0.01 + (0.1 - 0.01) * it / half,
                   np.where(it < 2 * half, 0.1 + (0.01 - 0.1) * (it - half) / half,
                            0.01 + (1e-5 - 0.01) * (it - 2 * half) / (iterations - 2 * half)))
    np.testing.assert_allclose(logger.lrs, ref, rtol=1e-5)
    assert max(logger.lrs) == pytest.approx(0.1, rel=1e-6)
    assert history.history["loss"][-1] < history.history["loss"][0]


# ----------------------------------------------------------------------------
# Regularization
# ----------------------------------------------------------------------------

def test_l2_regularizer_with_partial():
    layer = tf.keras.layers.Dense(10, activation="relu", kernel_initializer="he_normal",
                                  kernel_regularizer=tf.keras.regularizers.l2(0.01))
    layer.build((None, 6))
    W = layer.get_weights()[0]
    np.testing.assert_allclose(float(tf.add_n(layer.losses)), 0.01 * np.sum(W ** 2), rtol=1e-5)
    l1 = tf.keras.regularizers.l1(0.02)
    np.testing.assert_allclose(float(l1(tf.constant(W))), 0.02 * np.abs(W).sum(), rtol=1e-5)
    l1l2 = tf.keras.regularizers.l1_l2(l1=0.1, l2=0.01)
    np.testing.assert_allclose(float(l1l2(tf.constant(W))),
                               0.1 * np.abs(W).sum() + 0.01 * np.sum(W ** 2), rtol=1e-5)

    RegularizedDense = partial(tf.keras.layers.Dense, activation="relu",
                               kernel_initializer="he_normal",
                               kernel_regularizer=tf.keras.regularizers.l2(0.01))
    model = tf.keras.Sequential([
        tf.keras.layers.Flatten(input_shape=[28, 28]),
        RegularizedDense(16),
        RegularizedDense(16),
        RegularizedDense(10, activation="softmax")
    ])
    assert model.layers[-1].activation is tf.keras.activations.softmax or \
        model.layers[-1].get_config()["activation"] == "softmax"
    assert len(model.losses) == 3
    model.compile(loss="sparse_categorical_crossentropy", optimizer="nadam",
                  metrics=["accuracy"])
    (X_train, y_train), _, (X_test, y_test) = _image_data(n_train=100, n_valid=0, n_test=20)
    # evaluate's loss = CE + sum of the three penalties, checked in NumPy
    loss = model.evaluate(X_test, y_test, verbose=0)[0]
    ws = model.get_weights()
    x = X_test.reshape(20, -1)
    h = np.maximum(x @ ws[0] + ws[1], 0)
    h = np.maximum(h @ ws[2] + ws[3], 0)
    z = h @ ws[4] + ws[5]
    z = z - z.max(1, keepdims=True)
    ce = -np.mean(z[np.arange(20), y_test] - np.log(np.exp(z).sum(1)))
    pen = 0.01 * sum(np.sum(ws[i] ** 2) for i in (0, 2, 4))
    np.testing.assert_allclose(loss, ce + pen, rtol=1e-4)
    h = model.fit(X_train, y_train, epochs=2, verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0]


def test_dropout_and_mc_dropout():
    (X_train, y_train), _, (X_test, y_test) = _image_data(n_train=200, n_valid=0, n_test=50)
    model = tf.keras.Sequential([
        tf.keras.layers.Flatten(input_shape=[28, 28]),
        tf.keras.layers.Dropout(rate=0.2),
        tf.keras.layers.Dense(32, activation="relu", kernel_initializer="he_normal"),
        tf.keras.layers.Dropout(rate=0.2),
        tf.keras.layers.Dense(16, activation="relu", kernel_initializer="he_normal"),
        tf.keras.layers.Dropout(rate=0.2),
        tf.keras.layers.Dense(10, activation="softmax")
    ])
    optimizer = tf.keras.optimizers.SGD(learning_rate=0.01, momentum=0.9)
    model.compile(loss="sparse_categorical_crossentropy", optimizer=optimizer,
                  metrics=["accuracy"])
    history = model.fit(X_train, y_train, epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    # evaluate runs without dropout: deterministic
    a = model.evaluate(X_train, y_train, verbose=0)
    b = model.evaluate(X_train, y_train, verbose=0)
    np.testing.assert_allclose(a, b, rtol=1e-6)

    # MC Dropout
    tf.random.set_seed(42)
    y_probas = np.stack([model(X_test, training=True) for sample in range(20)])
    assert y_probas.shape == (20, 50, 10)
    y_proba = y_probas.mean(axis=0)
    assert y_proba.shape == (50, 10)
    np.testing.assert_allclose(y_proba.sum(1), 1.0, rtol=1e-5)
    assert y_probas.std(axis=0).max() > 0  # the samples differ
    det = model.predict(X_test[:1], verbose=0)
    assert det.round(3).shape == (1, 10)
    y_std = y_probas.std(axis=0)
    assert y_std.shape == (50, 10)
    y_pred = y_proba.argmax(axis=1)
    accuracy = (y_pred == y_test).sum() / len(y_test)
    assert 0 <= accuracy <= 1

    # Dropout(training=True) scales kept units by 1 / (1 - rate)
    d = tf.keras.layers.Dropout(0.25)
    out = np.asarray(d(np.ones((100, 100), np.float32), training=True))
    assert set(np.unique(out)) <= {0.0, np.float32(1 / 0.75)}
    assert abs((out == 0).mean() - 0.25) < 0.03

    class MCDropout(tf.keras.layers.Dropout):
        def call(self, inputs, training=None):
            return super().call(inputs, training=True)

    Dropout = tf.keras.layers.Dropout
    mc_model = tf.keras.Sequential([
        MCDropout(layer.rate) if isinstance(layer, Dropout) else layer
        for layer in model.layers
    ])
    mc_model.set_weights(model.get_weights())
    mc_model.summary(print_fn=lambda *a, **k: None)
    p1 = mc_model.predict(X_test[:1], verbose=0)
    p2 = mc_model.predict(X_test[:1], verbose=0)
    assert not np.allclose(p1, p2)
    mean = np.mean([mc_model.predict(X_test[:1], verbose=0) for sample in range(10)], axis=0)
    assert mean.round(2).shape == (1, 10)


def test_max_norm_constraint():
    dense = tf.keras.layers.Dense(
        16, activation="relu", kernel_initializer="he_normal",
        kernel_constraint=tf.keras.constraints.max_norm(1.))
    W = np.random.randn(6, 16).astype(np.float32) * 2
    c = tf.keras.constraints.max_norm(1.)
    norms = np.sqrt((W ** 2).sum(axis=0, keepdims=True))
    ref = W * np.clip(norms, 0, 1.) / (1e-7 + norms)
    np.testing.assert_allclose(np.asarray(c(tf.constant(W))), ref, rtol=1e-5, atol=1e-6)

    MaxNormDense = partial(tf.keras.layers.Dense, activation="relu",
                           kernel_initializer="he_normal",
                           kernel_constraint=tf.keras.constraints.max_norm(1.))
    model = tf.keras.Sequential([
        tf.keras.layers.Flatten(input_shape=[28, 28]),
        MaxNormDense(16),
        MaxNormDense(16),
        tf.keras.layers.Dense(10, activation="softmax")
    ])
    model.compile(loss="sparse_categorical_crossentropy",
                  optimizer=tf.keras.optimizers.SGD(learning_rate=0.5), metrics=["accuracy"])
    (X_train, y_train), _, _ = _image_data(n_train=100, n_valid=0, n_test=0)
    model.fit(X_train, y_train, epochs=2, verbose=0)
    for layer in model.layers[1:3]:
        col_norms = np.sqrt((layer.get_weights()[0] ** 2).sum(axis=0))
        assert col_norms.max() <= 1.0 + 1e-5
    assert dense.kernel_constraint is not None
