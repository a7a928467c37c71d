"""Hands-On Machine Learning (3rd ed., Geron), chapter 10 notebook "10_neural_nets_with_keras",
run with only the import line changed. Fashion MNIST becomes a few hundred MNIST digits
(nabi's loader, $NABI_DATASETS) or, without them, synthetic 28x28 class images; California
housing becomes a synthetic regression set with 8 features. Fewer epochs, narrower layers.
Numbers are checked against NumPy where cheap, otherwise shapes and a falling loss."""
import os
from pathlib import Path
from time import strftime

import numpy as np
import pytest

import nabi as tf


def setup_function(_):
    tf.keras.backend.clear_session()
    tf.random.set_seed(42)
    np.random.seed(42)


def _image_data(n_train=400, n_valid=100, n_test=100):
    """(X_train, y_train), (X_valid, y_valid), (X_test, y_test) as the notebook has them after
    scaling to [0, 1]: MNIST digits when $NABI_DATASETS has them, else class-patterned noise."""
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
    X_train, y_train = X_full[:n_train] / 255., y_full[:n_train]
    X_valid, y_valid = X_full[n_train:n_train + n_valid] / 255., y_full[n_train:n_train + n_valid]
    X_test, y_test = X_full[n_train + n_valid:] / 255., y_full[n_train + n_valid:]
    return (X_train, y_train), (X_valid, y_valid), (X_test, y_test)


def _housing(n=600, seed=0):
    """A California-housing-shaped set: 8 float features, a positive target, split like the
    notebook's train_test_split twice."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 8)) * np.array([2., 12., 3., 0.5, 1000., 3., 2., 2.]) \
        + np.array([4., 28., 5., 1., 1400., 3., 35., -119.])
    Xs = (X - X.mean(0)) / X.std(0)
    y = 2.0 + 0.8 * Xs[:, 0] - 0.3 * Xs[:, 2] + 0.4 * np.tanh(Xs[:, 6] * Xs[:, 7]) \
        + 0.05 * rng.normal(size=n)
    X_train, y_train = X[:400], y[:400]
    X_valid, y_valid = X[400:500], y[400:500]
    X_test, y_test = X[500:], y[500:]
    return X_train, X_valid, X_test, y_train, y_valid, y_test


# ----------------------------------------------------------------------------
# Building an image classifier using the Sequential API
# ----------------------------------------------------------------------------

def test_sequential_classifier_notebook_flow(capsys):
    (X_train, y_train), (X_valid, y_valid), (X_test, y_test) = _image_data()
    class_names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

    model = tf.keras.Sequential()
    model.add(tf.keras.layers.Input(shape=[28, 28]))
    model.add(tf.keras.layers.Flatten())
    model.add(tf.keras.layers.Dense(30, activation="relu"))
    model.add(tf.keras.layers.Dense(20, activation="relu"))
    model.add(tf.keras.layers.Dense(10, activation="softmax"))

    tf.keras.backend.clear_session()
    tf.random.set_seed(42)
    model = tf.keras.Sequential([
        tf.keras.layers.Flatten(input_shape=[28, 28]),
        tf.keras.layers.Dense(30, activation="relu"),
        tf.keras.layers.Dense(20, activation="relu"),
        tf.keras.layers.Dense(10, activation="softmax")
    ])
    model.summary()
    out = capsys.readouterr().out
    assert "flatten" in out and "dense" in out
    assert "23550" in out  # 784*30+30, printed as Keras 2 does
    assert "24,380" in out  # total params: 23550 + 620 + 210

    assert len(model.layers) == 4
    hidden1 = model.layers[1]
    assert hidden1.name == "dense"
    assert model.get_layer("dense") is hidden1
    weights, biases = hidden1.get_weights()
    assert weights.shape == (784, 30) and biases.shape == (30,)
    assert np.all(biases == 0)
    # glorot_uniform: limit sqrt(6 / (784 + 30))
    assert np.abs(weights).max() <= np.sqrt(6 / 814) + 1e-6
    assert weights.std() > 0.5 * np.sqrt(6 / 814) / np.sqrt(3)

    model.compile(loss="sparse_categorical_crossentropy", optimizer="sgd",
                  metrics=["accuracy"])
    history = model.fit(X_train, y_train, epochs=8, validation_data=(X_valid, y_valid),
                        verbose=0)
    assert history.params["epochs"] == 8
    assert history.params["steps"] == 13  # ceil(400 / 32)
    assert history.epoch == list(range(8))
    assert set(history.history) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.history["accuracy"][-1] > max(0.2, history.history["accuracy"][0])

    test_loss, test_acc = model.evaluate(X_test, y_test, verbose=0)
    assert np.isfinite(test_loss) and 0.0 <= test_acc <= 1.0

    X_new = X_test[:3]
    y_proba = model.predict(X_new, verbose=0)
    assert y_proba.shape == (3, 10) and y_proba.dtype == np.float32
    np.testing.assert_allclose(y_proba.sum(axis=1), 1.0, rtol=1e-5)
    y_pred = y_proba.argmax(axis=-1)
    names = np.array(class_names)[y_pred]
    assert names.shape == (3,)

    # Forward pass against NumPy, with the trained weights.
    W1, b1, W2, b2, W3, b3 = model.get_weights()
    h = np.maximum(X_new.reshape(3, -1) @ W1 + b1, 0)
    h = np.maximum(h @ W2 + b2, 0)
    z = h @ W3 + b3
    ref = np.exp(z - z.max(1, keepdims=True))
    ref /= ref.sum(1, keepdims=True)
    np.testing.assert_allclose(y_proba, ref, rtol=1e-4, atol=1e-6)


def test_compile_equivalent_spelling_and_to_categorical():
    (X_train, y_train), _, _ = _image_data(n_train=64, n_valid=0, n_test=0)
    model = tf.keras.Sequential([tf.keras.layers.Flatten(input_shape=[28, 28]),
                                 tf.keras.layers.Dense(10, activation="softmax")])
    model.compile(loss=tf.keras.losses.sparse_categorical_crossentropy,
                  optimizer=tf.keras.optimizers.SGD(),
                  metrics=[tf.keras.metrics.sparse_categorical_accuracy])
    h = model.fit(X_train, y_train, epochs=1, verbose=0)
    assert "sparse_categorical_accuracy" in h.history

    onehot = tf.keras.utils.to_categorical([0, 5, 1, 0], num_classes=10)
    assert onehot.shape == (4, 10)
    np.testing.assert_array_equal(onehot, np.eye(10)[[0, 5, 1, 0]])
    np.testing.assert_array_equal(np.argmax(onehot, axis=1), [0, 5, 1, 0])


def test_dense_gradient_matches_numpy():
    """One SGD step of Dense(3, softmax) with sparse CE, vs. the NumPy gradient."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(5, 4)).astype(np.float32)
    y = np.array([0, 2, 1, 1, 0])
    model = tf.keras.Sequential([tf.keras.layers.Dense(3, activation="softmax",
                                                       input_shape=[4])])
    W0, b0 = [w.astype(np.float64) for w in model.get_weights()]
    model.compile(loss="sparse_categorical_crossentropy",
                  optimizer=tf.keras.optimizers.SGD(learning_rate=0.5))
    model.fit(X, y, batch_size=5, epochs=1, shuffle=False, verbose=0)
    z = X.astype(np.float64) @ W0 + b0
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    g = (p - np.eye(3)[y]) / 5
    W1, b1 = model.get_weights()
    np.testing.assert_allclose(W1, W0 - 0.5 * X.T @ g, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(b1, b0 - 0.5 * g.sum(0), rtol=1e-4, atol=1e-6)


# ----------------------------------------------------------------------------
# Regression MLP with a Normalization layer
# ----------------------------------------------------------------------------

def test_regression_mlp_with_normalization_adapt():
    X_train, X_valid, X_test, y_train, y_valid, y_test = _housing()
    norm_layer = tf.keras.layers.Normalization(input_shape=X_train.shape[1:])
    model = tf.keras.Sequential([
        norm_layer,
        tf.keras.layers.Dense(16, activation="relu"),
        tf.keras.layers.Dense(16, activation="relu"),
        tf.keras.layers.Dense(16, activation="relu"),
        tf.keras.layers.Dense(1)
    ])
    optimizer = tf.keras.optimizers.Adam(learning_rate=1e-2)
    model.compile(loss="mse", optimizer=optimizer, metrics=["RootMeanSquaredError"])
    norm_layer.adapt(X_train)
    np.testing.assert_allclose(np.ravel(norm_layer.mean), X_train.mean(0), rtol=1e-4)
    np.testing.assert_allclose(np.ravel(norm_layer.variance), X_train.var(0), rtol=1e-3)
    normed = np.asarray(norm_layer(X_valid[:4].astype(np.float32)))
    np.testing.assert_allclose(normed, (X_valid[:4] - X_train.mean(0)) / X_train.std(0),
                               rtol=1e-3, atol=1e-3)

    history = model.fit(X_train, y_train, epochs=10, validation_data=(X_valid, y_valid),
                        verbose=0)
    assert "root_mean_squared_error" in history.history
    assert "val_root_mean_squared_error" in history.history
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    mse_test, rmse_test = model.evaluate(X_test, y_test, verbose=0)
    np.testing.assert_allclose(rmse_test, np.sqrt(mse_test), rtol=1e-3)
    y_pred = model.predict(X_test[:3], verbose=0)
    assert y_pred.shape == (3, 1)
    np.testing.assert_allclose(np.sqrt(np.mean((model.predict(X_test, verbose=0)[:, 0]
                                                - y_test) ** 2)), rmse_test, rtol=1e-3)


# ----------------------------------------------------------------------------
# Functional API: Wide & Deep
# ----------------------------------------------------------------------------

def test_functional_wide_and_deep_single_input():
    X_train, X_valid, X_test, y_train, y_valid, y_test = _housing()
    normalization_layer = tf.keras.layers.Normalization()
    hidden_layer1 = tf.keras.layers.Dense(16, activation="relu")
    hidden_layer2 = tf.keras.layers.Dense(16, activation="relu")
    concat_layer = tf.keras.layers.Concatenate()
    output_layer = tf.keras.layers.Dense(1)

    input_ = tf.keras.layers.Input(shape=X_train.shape[1:])
    normalized = normalization_layer(input_)
    hidden1 = hidden_layer1(normalized)
    hidden2 = hidden_layer2(hidden1)
    concat = concat_layer([normalized, hidden2])
    output = output_layer(concat)
    model = tf.keras.Model(inputs=[input_], outputs=[output])
    model.summary(print_fn=lambda *a, **k: None)
    assert tuple(concat.shape) == (None, 24)

    optimizer = tf.keras.optimizers.Adam(learning_rate=1e-2)
    model.compile(loss="mse", optimizer=optimizer, metrics=["RootMeanSquaredError"])
    normalization_layer.adapt(X_train)
    history = model.fit(X_train, y_train, epochs=8, validation_data=(X_valid, y_valid),
                        verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    mse_test = model.evaluate(X_test, y_test, verbose=0)
    assert len(mse_test) == 2
    assert model.predict(X_test[:3], verbose=0).shape == (3, 1)


def _wide_deep_split(X_train, X_valid, X_test):
    X_train_wide, X_train_deep = X_train[:, :5], X_train[:, 2:]
    X_valid_wide, X_valid_deep = X_valid[:, :5], X_valid[:, 2:]
    X_test_wide, X_test_deep = X_test[:, :5], X_test[:, 2:]
    X_new_wide, X_new_deep = X_test_wide[:3], X_test_deep[:3]
    return (X_train_wide, X_train_deep, X_valid_wide, X_valid_deep, X_test_wide, X_test_deep,
            X_new_wide, X_new_deep)


def test_functional_two_inputs():
    X_train, X_valid, X_test, y_train, y_valid, y_test = _housing()
    input_wide = tf.keras.layers.Input(shape=[5])  # features 0 to 4
    input_deep = tf.keras.layers.Input(shape=[6])  # features 2 to 7
    norm_layer_wide = tf.keras.layers.Normalization()
    norm_layer_deep = tf.keras.layers.Normalization()
    norm_wide = norm_layer_wide(input_wide)
    norm_deep = norm_layer_deep(input_deep)
    hidden1 = tf.keras.layers.Dense(16, activation="relu")(norm_deep)
    hidden2 = tf.keras.layers.Dense(16, activation="relu")(hidden1)
    concat = tf.keras.layers.concatenate([norm_wide, hidden2])
    output = tf.keras.layers.Dense(1)(concat)
    model = tf.keras.Model(inputs=[input_wide, input_deep], outputs=[output])

    optimizer = tf.keras.optimizers.Adam(learning_rate=1e-2)
    model.compile(loss="mse", optimizer=optimizer, metrics=["RootMeanSquaredError"])
    (X_train_wide, X_train_deep, X_valid_wide, X_valid_deep, X_test_wide, X_test_deep,
     X_new_wide, X_new_deep) = _wide_deep_split(X_train, X_valid, X_test)
    norm_layer_wide.adapt(X_train_wide)
    norm_layer_deep.adapt(X_train_deep)
    history = model.fit((X_train_wide, X_train_deep), y_train, epochs=8,
                        validation_data=((X_valid_wide, X_valid_deep), y_valid), verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    mse_test = model.evaluate((X_test_wide, X_test_deep), y_test, verbose=0)
    assert np.all(np.isfinite(mse_test))
    y_pred = model.predict((X_new_wide, X_new_deep), verbose=0)
    assert y_pred.shape == (3, 1)


def test_functional_two_outputs_loss_weights():
    X_train, X_valid, X_test, y_train, y_valid, y_test = _housing()
    input_wide = tf.keras.layers.Input(shape=[5])
    input_deep = tf.keras.layers.Input(shape=[6])
    norm_layer_wide = tf.keras.layers.Normalization()
    norm_layer_deep = tf.keras.layers.Normalization()
    norm_wide = norm_layer_wide(input_wide)
    norm_deep = norm_layer_deep(input_deep)
    hidden1 = tf.keras.layers.Dense(16, activation="relu")(norm_deep)
    hidden2 = tf.keras.layers.Dense(16, activation="relu")(hidden1)
    concat = tf.keras.layers.concatenate([norm_wide, hidden2])
    output = tf.keras.layers.Dense(1)(concat)
    aux_output = tf.keras.layers.Dense(1)(hidden2)
    model = tf.keras.Model(inputs=[input_wide, input_deep], outputs=[output, aux_output])

    optimizer = tf.keras.optimizers.Adam(learning_rate=1e-2)
    model.compile(loss=("mse", "mse"), loss_weights=(0.9, 0.1), optimizer=optimizer,
                  metrics=["RootMeanSquaredError"])
    (X_train_wide, X_train_deep, X_valid_wide, X_valid_deep, X_test_wide, X_test_deep,
     X_new_wide, X_new_deep) = _wide_deep_split(X_train, X_valid, X_test)
    norm_layer_wide.adapt(X_train_wide)
    norm_layer_deep.adapt(X_train_deep)
    history = model.fit((X_train_wide, X_train_deep), (y_train, y_train), epochs=6,
                        validation_data=((X_valid_wide, X_valid_deep), (y_valid, y_valid)),
                        verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    eval_results = model.evaluate((X_test_wide, X_test_deep), (y_test, y_test), verbose=0)
    weighted_sum_of_losses, main_loss, aux_loss, main_rmse, aux_rmse = eval_results
    np.testing.assert_allclose(weighted_sum_of_losses, 0.9 * main_loss + 0.1 * aux_loss,
                               rtol=1e-4)
    np.testing.assert_allclose(main_rmse, np.sqrt(main_loss), rtol=1e-3)
    np.testing.assert_allclose(aux_rmse, np.sqrt(aux_loss), rtol=1e-3)

    y_pred_main, y_pred_aux = model.predict((X_new_wide, X_new_deep), verbose=0)
    assert y_pred_main.shape == (3, 1) and y_pred_aux.shape == (3, 1)
    y_pred_tuple = model.predict((X_new_wide, X_new_deep), verbose=0)
    y_pred = dict(zip(model.output_names, y_pred_tuple))
    assert len(y_pred) == 2
    # the main loss is the MSE of the main output, checked with NumPy
    p_main, _ = model.predict((X_test_wide, X_test_deep), verbose=0)
    np.testing.assert_allclose(main_loss, np.mean((p_main[:, 0] - y_test) ** 2), rtol=1e-3)


class WideAndDeepModel(tf.keras.Model):
    def __init__(self, units=30, activation="relu", **kwargs):
        super().__init__(**kwargs)  # needed to support naming the model
        self.norm_layer_wide = tf.keras.layers.Normalization()
        self.norm_layer_deep = tf.keras.layers.Normalization()
        self.hidden1 = tf.keras.layers.Dense(units, activation=activation)
        self.hidden2 = tf.keras.layers.Dense(units, activation=activation)
        self.main_output = tf.keras.layers.Dense(1)
        self.aux_output = tf.keras.layers.Dense(1)

    def call(self, inputs):
        input_wide, input_deep = inputs
        norm_wide = self.norm_layer_wide(input_wide)
        norm_deep = self.norm_layer_deep(input_deep)
        hidden1 = self.hidden1(norm_deep)
        hidden2 = self.hidden2(hidden1)
        concat = tf.keras.layers.concatenate([norm_wide, hidden2])
        output = self.main_output(concat)
        aux_output = self.aux_output(hidden2)
        return output, aux_output


def test_subclassed_wide_and_deep_and_saving(tmp_path):
    X_train, X_valid, X_test, y_train, y_valid, y_test = _housing()
    (X_train_wide, X_train_deep, X_valid_wide, X_valid_deep, X_test_wide, X_test_deep,
     X_new_wide, X_new_deep) = _wide_deep_split(X_train, X_valid, X_test)
    model = WideAndDeepModel(16, activation="relu", name="my_cool_model")
    assert model.name == "my_cool_model"
    optimizer = tf.keras.optimizers.Adam(learning_rate=1e-2)
    model.compile(loss="mse", loss_weights=[0.9, 0.1], optimizer=optimizer,
                  metrics=["RootMeanSquaredError"])
    model.norm_layer_wide.adapt(X_train_wide)
    model.norm_layer_deep.adapt(X_train_deep)
    history = model.fit((X_train_wide, X_train_deep), (y_train, y_train), epochs=5,
                        validation_data=((X_valid_wide, X_valid_deep), (y_valid, y_valid)),
                        verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    eval_results = model.evaluate((X_test_wide, X_test_deep), (y_test, y_test), verbose=0)
    weighted_sum_of_losses, main_loss, aux_loss, main_rmse, aux_rmse = eval_results
    np.testing.assert_allclose(weighted_sum_of_losses, 0.9 * main_loss + 0.1 * aux_loss,
                               rtol=1e-4)
    y_pred_main, y_pred_aux = model.predict((X_new_wide, X_new_deep), verbose=0)
    assert y_pred_main.shape == (3, 1) and y_pred_aux.shape == (3, 1)

    # model.save in the SavedModel format (a directory), then load_model
    path = str(tmp_path / "my_keras_model")
    model.save(path, save_format="tf")
    assert os.path.isdir(path)
    loaded = tf.keras.models.load_model(path)
    l_main, l_aux = loaded.predict((X_new_wide, X_new_deep), verbose=0)
    np.testing.assert_allclose(l_main, y_pred_main, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(l_aux, y_pred_aux, rtol=1e-5, atol=1e-6)

    # save_weights / load_weights (TF checkpoint prefix)
    model.save_weights(str(tmp_path / "my_weights"))
    before = model.get_weights()
    model.set_weights([np.zeros_like(w) for w in before])
    model.load_weights(str(tmp_path / "my_weights"))
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_save_and_load_keras_format(tmp_path):
    X_train, X_valid, X_test, y_train, y_valid, y_test = _housing()
    norm_layer = tf.keras.layers.Normalization(input_shape=[8])
    model = tf.keras.Sequential([norm_layer, tf.keras.layers.Dense(8, activation="relu"),
                                 tf.keras.layers.Dense(1)])
    model.compile(loss="mse", optimizer="adam", metrics=["RootMeanSquaredError"])
    norm_layer.adapt(X_train)
    model.fit(X_train, y_train, epochs=2, verbose=0)
    y_pred = model.predict(X_test[:5], verbose=0)

    model.save(str(tmp_path / "my_keras_model.keras"))
    loaded = tf.keras.models.load_model(str(tmp_path / "my_keras_model.keras"))
    np.testing.assert_allclose(loaded.predict(X_test[:5], verbose=0), y_pred, rtol=1e-5,
                               atol=1e-6)
    # the optimizer state and compile arguments survive: training goes on
    h = loaded.fit(X_train, y_train, epochs=1, verbose=0)
    assert np.isfinite(h.history["loss"][0])

    # HDF5, as the book's footnote
    model.save(str(tmp_path / "my_keras_model.h5"))
    loaded_h5 = tf.keras.models.load_model(str(tmp_path / "my_keras_model.h5"))
    np.testing.assert_allclose(loaded_h5.predict(X_test[:5], verbose=0), y_pred, rtol=1e-5,
                               atol=1e-6)

    # the SavedModel directory of a Sequential model
    model.save(str(tmp_path / "my_keras_model"), save_format="tf")
    loaded2 = tf.keras.models.load_model(str(tmp_path / "my_keras_model"))
    np.testing.assert_allclose(loaded2.predict(X_test[:5], verbose=0), y_pred, rtol=1e-5,
                               atol=1e-6)


# ----------------------------------------------------------------------------
# Callbacks
# ----------------------------------------------------------------------------

def _small_regressor():
    model = tf.keras.Sequential([tf.keras.layers.Dense(8, activation="relu", input_shape=[8]),
                                 tf.keras.layers.Dense(1)])
    model.compile(loss="mse", optimizer=tf.keras.optimizers.SGD(learning_rate=0.01))
    return model


def test_model_checkpoint_and_early_stopping(tmp_path):
    X_train, X_valid, X_test, y_train, y_valid, y_test = _housing()
    mu, sd = X_train.mean(0), X_train.std(0)
    X_train, X_valid = (X_train - mu) / sd, (X_valid - mu) / sd
    model = _small_regressor()

    checkpoint_cb = tf.keras.callbacks.ModelCheckpoint(str(tmp_path / "my_checkpoints"),
                                                       save_weights_only=True)
    history = model.fit(X_train, y_train, epochs=2, validation_data=(X_valid, y_valid),
                        callbacks=[checkpoint_cb], verbose=0)
    assert any(p.name.startswith("my_checkpoints") for p in tmp_path.iterdir())
    saved = model.get_weights()
    model.set_weights([np.zeros_like(w) for w in saved])
    model.load_weights(str(tmp_path / "my_checkpoints"))
    for a, b in zip(model.get_weights(), saved):
        np.testing.assert_array_equal(a, b)

    best_path = str(tmp_path / "best.keras")
    checkpoint_cb = tf.keras.callbacks.ModelCheckpoint(best_path, save_best_only=True)
    early_stopping_cb = tf.keras.callbacks.EarlyStopping(patience=2,
                                                         restore_best_weights=True)
    history = model.fit(X_train, y_train, epochs=40, validation_data=(X_valid, y_valid),
                        callbacks=[checkpoint_cb, early_stopping_cb], verbose=0)
    val = history.history["val_loss"]
    best = int(np.argmin(val))
    # EarlyStopping stops `patience` epochs after the best, or the run ends
    assert len(val) == 40 or len(val) == best + 3
    # restore_best_weights: the model's val loss is the best one seen
    np.testing.assert_allclose(model.evaluate(X_valid, y_valid, verbose=0), val[best],
                               rtol=1e-4)
    # save_best_only: the checkpoint on disk is the best model too
    best_model = tf.keras.models.load_model(best_path)
    np.testing.assert_allclose(best_model.evaluate(X_valid, y_valid, verbose=0), val[best],
                               rtol=1e-4)


def test_early_stopping_stops_on_a_plateau():
    X = np.random.rand(64, 8).astype(np.float32)
    y = np.random.rand(64).astype(np.float32)
    model = _small_regressor()
    model.compile(loss="mse", optimizer=tf.keras.optimizers.SGD(learning_rate=0.0))
    es = tf.keras.callbacks.EarlyStopping(patience=3, restore_best_weights=True)
    history = model.fit(X, y, epochs=50, validation_data=(X, y), callbacks=[es], verbose=0)
    assert len(history.history["loss"]) == 4  # the first epoch is best, then 3 more


def test_custom_callback_val_train_ratio(capsys):
    class PrintValTrainRatioCallback(tf.keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs):
            ratio = logs["val_loss"] / logs["loss"]
            print(f"Epoch={epoch}, val/train={ratio:.2f}")

    X_train, X_valid, _, y_train, y_valid, _ = _housing()
    mu, sd = X_train.mean(0), X_train.std(0)
    model = _small_regressor()
    history = model.fit((X_train - mu) / sd, y_train, epochs=3,
                        validation_data=((X_valid - mu) / sd, y_valid),
                        callbacks=[PrintValTrainRatioCallback()], verbose=0)
    lines = [l for l in capsys.readouterr().out.splitlines() if l.startswith("Epoch=")]
    assert len(lines) == 3
    for epoch, line in enumerate(lines):
        ratio = history.history["val_loss"][epoch] / history.history["loss"][epoch]
        assert line == f"Epoch={epoch}, val/train={ratio:.2f}"


def test_tensorboard_callback_and_summary_writer(tmp_path):
    def get_run_logdir(root_logdir=tmp_path / "my_logs"):
        return Path(root_logdir) / strftime("run_%Y_%m_%d_%H_%M_%S")

    X_train, X_valid, _, y_train, y_valid, _ = _housing()
    mu, sd = X_train.mean(0), X_train.std(0)
    model = _small_regressor()
    run_logdir = get_run_logdir()
    tensorboard_cb = tf.keras.callbacks.TensorBoard(run_logdir, profile_batch=(2, 4))
    model.fit((X_train - mu) / sd, y_train, epochs=2,
              validation_data=((X_valid - mu) / sd, y_valid),
              callbacks=[tensorboard_cb], verbose=0)
    files = [p for p in Path(run_logdir).rglob("*") if p.is_file()]
    assert any("tfevents" in p.name for p in files)
    assert (Path(run_logdir) / "train").is_dir() and (Path(run_logdir) / "validation").is_dir()

    test_logdir = get_run_logdir() / "test"
    writer = tf.summary.create_file_writer(str(test_logdir))
    with writer.as_default():
        for step in range(1, 4):
            tf.summary.scalar("my_scalar", np.sin(step / 10), step=step)
            data = (np.random.randn(100) + 2) * step / 100  # gets larger
            tf.summary.histogram("my_hist", data, buckets=50, step=step)
            images = np.random.rand(2, 32, 32, 3) * step / 1000  # gets brighter
            tf.summary.image("my_images", images, step=step)
            texts = ["The step is " + str(step), "Its square is " + str(step ** 2)]
            tf.summary.text("my_text", texts, step=step)
            sine_wave = tf.math.sin(tf.range(1200) / 48000 * 2 * np.pi * step)
            audio = tf.reshape(tf.cast(sine_wave, tf.float32), [1, -1, 1])
            tf.summary.audio("my_audio", audio, sample_rate=48000, step=step)
    writer.flush()
    ev = [p for p in test_logdir.rglob("*") if "tfevents" in p.name]
    assert ev and ev[0].stat().st_size > 1000

    # the audio clip of step 3 decodes to the sine wave (16-bit PCM WAV)
    import io
    import struct
    import wave
    from tensorboardX.proto.event_pb2 import Event
    data, pos, clips = ev[0].read_bytes(), 0, {}
    while pos < len(data):
        (n,) = struct.unpack("<Q", data[pos:pos + 8])
        e = Event.FromString(data[pos + 12:pos + 12 + n])
        pos += 16 + n
        for v in e.summary.value:
            if v.HasField("audio"):
                clips[(v.tag, e.step)] = v.audio
    assert sorted(clips) == [("my_audio/audio", 1), ("my_audio/audio", 2),
                             ("my_audio/audio", 3)]
    a = clips[("my_audio/audio", 3)]
    assert a.sample_rate == 48000 and a.num_channels == 1 and a.length_frames == 1200
    with wave.open(io.BytesIO(a.encoded_audio_string)) as f:
        assert (f.getnchannels(), f.getsampwidth(), f.getframerate()) == (1, 2, 48000)
        pcm = np.frombuffer(f.readframes(f.getnframes()), dtype="<i2")
    ref = np.sin(np.arange(1200) / 48000 * 2 * np.pi * 3)
    np.testing.assert_allclose(pcm / 32767.0, ref, atol=1e-4)


# ----------------------------------------------------------------------------
# Fine-tuning hyperparameters (the keras-tuner build_model, driven by a manual loop)
# ----------------------------------------------------------------------------

def test_hyperparameter_search_manual_loop():
    (X_train, y_train), (X_valid, y_valid), _ = _image_data(n_train=200, n_valid=100,
                                                            n_test=0)

    def build_model(n_hidden=1, n_neurons=16, learning_rate=1e-2, optimizer="sgd"):
        if optimizer == "sgd":
            optimizer = tf.keras.optimizers.SGD(learning_rate=learning_rate)
        else:
            optimizer = tf.keras.optimizers.Adam(learning_rate=learning_rate)
        model = tf.keras.Sequential()
        model.add(tf.keras.layers.Flatten())
        for _ in range(n_hidden):
            model.add(tf.keras.layers.Dense(n_neurons, activation="relu"))
        model.add(tf.keras.layers.Dense(10, activation="softmax"))
        model.compile(loss="sparse_categorical_crossentropy", optimizer=optimizer,
                      metrics=["accuracy"])
        return model

    rng = np.random.default_rng(42)
    trials = []
    for trial in range(3):
        hp = {"n_hidden": int(rng.integers(0, 3)), "n_neurons": int(rng.integers(8, 32)),
              "learning_rate": float(10 ** rng.uniform(-3, -1.5)),
              "optimizer": ["sgd", "adam"][trial % 2]}
        model = build_model(**hp)
        history = model.fit(X_train, y_train, epochs=2, validation_data=(X_valid, y_valid),
                            verbose=0)
        trials.append((max(history.history["val_accuracy"]), hp, model))
        assert len(model.layers) == hp["n_hidden"] + 2
    best_score, best_hp, best_model = max(trials, key=lambda t: t[0])
    assert 0.0 <= best_score <= 1.0
    assert best_model.predict(X_valid[:2], verbose=0).shape == (2, 10)
