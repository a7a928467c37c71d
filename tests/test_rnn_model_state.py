"""Model-level reset_states and float64 inputs to float64 layers (engine fixes found by the RNN work)."""
import numpy as np

import nabi as tf


def test_model_reset_states_resets_stateful_lstm():
    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential([tf.keras.layers.LSTM(4, batch_input_shape=(1, 3, 1), stateful=True),
                                 tf.keras.layers.Dense(2)])
    x = np.ones((1, 3, 1), np.float32)
    first = model.predict(x, verbose=0)
    second = model.predict(x, verbose=0)
    assert not np.allclose(first, second)  # the state carried over
    model.reset_states()
    np.testing.assert_allclose(model.predict(x, verbose=0), first, rtol=1e-6)
    tf.keras.Sequential([tf.keras.layers.Dense(2, input_shape=(3,))]).reset_states()  # harmless


def test_float64_layer_keeps_float64_numpy_input():
    layer = tf.keras.layers.Dense(3, dtype="float64")
    x = np.random.default_rng(0).normal(size=(2, 4))
    y = layer(x)
    assert y.dtype == tf.float64
    k, b = layer.get_weights()
    np.testing.assert_allclose(y.numpy(), x @ k + b, rtol=1e-12)
