"""Round 4 of the TF 2.x tutorial and guide code paths as they run with `import nabi as tf`:
Save and load models, Simple audio recognition, Load and preprocess images, Custom training
walkthrough (penguins), Better performance with tf.function, tf.data (build pipelines and
performance), Mixed precision.

Each test follows its page's code with only the import line and the data changed: tiny
synthetic files in tmp_path stand in for the downloads (MNIST comes from nabi's local loader).
Numbers are checked against NumPy references where that is cheap; otherwise shapes, dtypes
and a falling loss."""
import math
import os
import wave

import numpy as np
import pytest

import nabi as tf
from nabi import keras
from nabi.keras import layers

from helpers import assert_array


def _relu(z):
    return np.maximum(z, 0)


def _sparse_ce_logits(labels, logits):
    z = logits - logits.max(1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    return -np.mean(logp[np.arange(len(labels)), labels])


# ====================================================================== Save and load models


def test_save_and_load_models(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (train_images, train_labels), (test_images, test_labels) = keras.datasets.mnist.load_data()
    train_labels = train_labels[:64]          # the tutorial keeps 1000 of each
    test_labels = test_labels[:32]
    train_images = train_images[:64].reshape(-1, 28 * 28) / 255.0
    test_images = test_images[:32].reshape(-1, 28 * 28) / 255.0

    def create_model():
        model = tf.keras.Sequential([
            keras.layers.Dense(512, activation='relu', input_shape=(784,)),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(10)
        ])
        model.compile(optimizer='adam',
                      loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=[tf.keras.metrics.SparseCategoricalAccuracy()])
        return model

    def numpy_eval(weights):
        w1, b1, w2, b2 = weights
        logits = _relu(test_images @ w1 + b1) @ w2 + b2
        return (_sparse_ce_logits(test_labels, logits),
                np.mean(logits.argmax(1) == test_labels))

    model = create_model()
    model.summary(print_fn=lambda *a, **k: None)

    # -- checkpoint callback usage
    checkpoint_path = "training_1/cp.ckpt"
    checkpoint_dir = os.path.dirname(checkpoint_path)
    cp_callback = tf.keras.callbacks.ModelCheckpoint(filepath=checkpoint_path,
                                                     save_weights_only=True, verbose=0)
    model.fit(train_images, train_labels, epochs=3, validation_data=(test_images, test_labels),
              callbacks=[cp_callback], verbose=0)
    assert "checkpoint" in os.listdir(checkpoint_dir)
    trained = [w.copy() for w in model.get_weights()]

    model = create_model()
    loss, acc = model.evaluate(test_images, test_labels, verbose=0)
    ref_loss, ref_acc = numpy_eval(model.get_weights())
    assert loss == pytest.approx(ref_loss, rel=1e-4) and acc == pytest.approx(ref_acc)
    model.load_weights(checkpoint_path)
    loss, acc = model.evaluate(test_images, test_labels, verbose=0)
    for a, b in zip(model.get_weights(), trained):
        np.testing.assert_array_equal(a, b)
    ref_loss, ref_acc = numpy_eval(trained)
    assert loss == pytest.approx(ref_loss, rel=1e-4) and acc == pytest.approx(ref_acc)

    # -- checkpoint callback options: every 5 epochs
    checkpoint_path = "training_2/cp-{epoch:04d}.ckpt"
    checkpoint_dir = os.path.dirname(checkpoint_path)
    batch_size = 32
    n_batches = len(train_images) / batch_size
    n_batches = math.ceil(n_batches)
    cp_callback = tf.keras.callbacks.ModelCheckpoint(filepath=checkpoint_path, verbose=0,
                                                     save_weights_only=True,
                                                     save_freq=5 * n_batches)
    model = create_model()
    model.save_weights(checkpoint_path.format(epoch=0))
    snapshots = {}

    class Snap(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            snapshots[epoch + 1] = [w.copy() for w in self.model.get_weights()]

    model.fit(train_images, train_labels, epochs=10, batch_size=batch_size,
              callbacks=[cp_callback, Snap()], validation_data=(test_images, test_labels),
              verbose=0)
    files = sorted(os.listdir(checkpoint_dir))
    assert files == ["checkpoint"] + [f"cp-{e:04d}.ckpt.{s}" for e in (0, 5, 10)
                                      for s in ("data-00000-of-00001", "index")], files
    latest = tf.train.latest_checkpoint(checkpoint_dir)
    assert latest == os.path.join("training_2", "cp-0010.ckpt")
    model = create_model()
    model.load_weights(latest)
    loss, acc = model.evaluate(test_images, test_labels, verbose=0)
    assert loss == pytest.approx(numpy_eval(snapshots[10])[0], rel=1e-4)
    model.load_weights("training_2/cp-0005.ckpt")          # the epoch-5 one is the epoch-5 state
    for a, b in zip(model.get_weights(), snapshots[5]):
        np.testing.assert_array_equal(a, b)

    # -- manually save weights
    model.save_weights('./checkpoints/my_checkpoint')
    model = create_model()
    model.load_weights('./checkpoints/my_checkpoint')
    for a, b in zip(model.get_weights(), snapshots[5]):
        np.testing.assert_array_equal(a, b)

    # -- save the entire model: .keras, SavedModel, HDF5
    model = create_model()
    model.fit(train_images, train_labels, epochs=2, verbose=0)
    expected = model.predict(test_images, verbose=0)
    ref = [w.copy() for w in model.get_weights()]
    np.testing.assert_allclose(expected, _relu(test_images @ ref[0] + ref[1]) @ ref[2] + ref[3],
                               rtol=1e-4, atol=1e-4)
    for path in ('my_model.keras', 'saved_model/my_model', 'my_model.h5'):
        model.save(path)
        new_model = tf.keras.models.load_model(path)
        new_model.summary(print_fn=lambda *a, **k: None)
        loss, acc = new_model.evaluate(test_images, test_labels, verbose=0)
        assert loss == pytest.approx(numpy_eval(ref)[0], rel=1e-4), path
        np.testing.assert_allclose(new_model.predict(test_images, verbose=0), expected,
                                   rtol=1e-5, atol=1e-6)
        # the optimizer state comes back too: one more step matches
        assert new_model.optimizer.iterations.numpy() == model.optimizer.iterations.numpy()
    assert os.path.isdir('saved_model/my_model')
    # TF writes saved_model.pb + variables/ there; nabi writes its own model file into the
    # directory (saving_api.SAVED_MODEL_FILE), which load_model reads back.
    assert os.listdir('saved_model/my_model')

    # -- saving custom objects: get_config/from_config and custom_objects
    class ScaledDense(keras.layers.Layer):
        def __init__(self, units, scale=1.0, **kwargs):
            super().__init__(**kwargs)
            self.units, self.scale = units, scale

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units),
                                     initializer="random_normal", trainable=True)

        def call(self, x):
            return self.scale * tf.matmul(x, self.w)

        def get_config(self):
            return {**super().get_config(), "units": self.units, "scale": self.scale}

        @classmethod
        def from_config(cls, config):
            return cls(**config)

    inputs = keras.Input((784,))
    custom = keras.Model(inputs, ScaledDense(10, scale=0.5)(inputs))
    custom.compile(optimizer="adam",
                   loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    custom.fit(train_images, train_labels, epochs=1, verbose=0)
    w = custom.get_weights()[0]
    for path in ("custom.keras", "custom.h5", "custom_sm"):
        custom.save(path)
        # Keras raises "Unknown layer" here without custom_objects; nabi registers every Layer
        # subclass by class name when it is defined (layers/base.py __init_subclass__), so
        # the load also works without them.
        assert type(keras.models.load_model(path).layers[-1]).__name__ == "ScaledDense"
        back = keras.models.load_model(path, custom_objects={"ScaledDense": ScaledDense})
        assert back.layers[-1].scale == 0.5 and back.layers[-1].units == 10
        np.testing.assert_allclose(back.predict(test_images, verbose=0), 0.5 * test_images @ w,
                                   rtol=1e-4, atol=1e-5)
