"""The TensorFlow "Mixed precision" guide with only the import line changed (tiny synthetic
data in place of MNIST): the policy, the float32 output activation, and the custom training
loop with LossScaleOptimizer (get_scaled_loss / get_unscaled_gradients / apply_gradients),
checked against NumPy. nabi computes the mixed policies in float32 (a documented warning), so
the layer outputs are float32 where TF's are float16."""
import warnings

import numpy as np
import pytest

import nabi as tf
from nabi import keras
from nabi.keras import layers, mixed_precision


@pytest.fixture(autouse=True)
def _float32_after():
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mixed_precision.set_global_policy("float32")


def _model():
    inputs = keras.Input(shape=(12,), name="digits")
    dense1 = layers.Dense(16, activation="relu", name="dense_1")
    x = dense1(inputs)
    x = layers.Dense(16, activation="relu", name="dense_2")(x)
    x = layers.Dense(4, name="dense_logits")(x)
    outputs = layers.Activation("softmax", dtype="float32", name="predictions")(x)
    return keras.Model(inputs=inputs, outputs=outputs), dense1, outputs


def _np_forward(model, x):
    h = x
    for name in ("dense_1", "dense_2"):
        W, b = model.get_layer(name).get_weights()
        h = np.maximum(h @ W + b, 0)
    W, b = model.get_layer("dense_logits").get_weights()
    z = h @ W + b
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_policy_and_model_dtypes():
    with pytest.warns(UserWarning, match="no float16 kernels"):
        policy = mixed_precision.Policy("mixed_float16")
        mixed_precision.set_global_policy(policy)
    assert policy.name == "mixed_float16" and policy.variable_dtype == "float32"
    assert policy.compute_dtype == "float32"   # TF: float16 (nabi computes in float32)
    model, dense1, outputs = _model()
    assert dense1.kernel.dtype.name == "float32"
    assert outputs.dtype.name == "float32"
    x = np.random.default_rng(0).random((8, 12)).astype("float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), _np_forward(model, x), rtol=1e-5,
                               atol=1e-6)
    model.compile(loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.RMSprop(),
                  metrics=["accuracy"])
    y = np.arange(8) % 4
    h = model.fit(x, y, batch_size=4, epochs=3, verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0]


def test_loss_scale_optimizer_training_loop():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mixed_precision.set_global_policy("mixed_float16")
    model, _, _ = _model()
    optimizer = keras.optimizers.SGD(learning_rate=0.1)
    optimizer = mixed_precision.LossScaleOptimizer(optimizer)
    assert float(optimizer.loss_scale.numpy()) == 2.0 ** 15   # Keras 2's initial scale
    assert optimizer.dynamic and optimizer.dynamic_growth_steps == 2000
    loss_object = keras.losses.SparseCategoricalCrossentropy()
    rng = np.random.default_rng(1)
    x = rng.random((6, 12)).astype("float32")
    y = np.array([0, 1, 2, 3, 0, 1])

    def train_step(x, y):
        with tf.GradientTape() as tape:
            predictions = model(x)
            loss = loss_object(y, predictions)
            scaled_loss = optimizer.get_scaled_loss(loss)
        scaled_gradients = tape.gradient(scaled_loss, model.trainable_variables)
        gradients = optimizer.get_unscaled_gradients(scaled_gradients)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return loss, scaled_loss, gradients

    before = [w.copy() for w in model.get_weights()]
    p = _np_forward(model, x)
    ref_loss = -np.mean(np.log(p[np.arange(6), y]))
    loss, scaled, grads = train_step(x, y)
    np.testing.assert_allclose(float(loss), ref_loss, rtol=1e-5)
    np.testing.assert_allclose(float(scaled), ref_loss * 2 ** 15, rtol=1e-5)
    # the unscaled gradient is the plain one: SGD moved every weight by -0.1 * grad
    for w0, w1, g in zip(before, model.get_weights(), grads):
        np.testing.assert_allclose(w1, w0 - 0.1 * g.numpy(), rtol=1e-5, atol=1e-7)
    # the last layer's bias gradient against NumPy: mean(p - onehot)
    onehot = np.eye(4)[y]
    np.testing.assert_allclose(grads[-1].numpy(), (p - onehot).mean(0), rtol=1e-4, atol=1e-6)
    assert int(optimizer.dynamic_counter.numpy()) == 1
    # Keras 3 spelling, and attributes of the inner optimizer
    np.testing.assert_allclose(float(optimizer.scale_loss(tf.constant(2.0))), 2.0 ** 16)
    assert float(optimizer.learning_rate.numpy()) == pytest.approx(0.1)


def test_dynamic_loss_scale_skips_non_finite_steps_and_grows():
    v = tf.Variable([1.0, 2.0])
    opt = mixed_precision.LossScaleOptimizer(keras.optimizers.SGD(1.0), initial_scale=8.0,
                                             dynamic_growth_steps=2)
    # gradients straight to apply_gradients are those of scale_loss(loss) (Keras 3): the
    # optimizer divides them by the scale it holds at that step
    opt.apply_gradients([(tf.constant([np.inf, 0.0]), v)])
    np.testing.assert_array_equal(v.numpy(), [1.0, 2.0])        # skipped
    assert float(opt.loss_scale.numpy()) == 4.0                  # halved
    opt.apply_gradients([(tf.constant([1.0, 1.0]), v)])
    assert float(opt.loss_scale.numpy()) == 4.0
    opt.apply_gradients([(tf.constant([1.0, 1.0]), v)])
    np.testing.assert_array_equal(v.numpy(), [0.5, 1.5])         # two steps of 1/4 applied
    assert float(opt.loss_scale.numpy()) == 8.0                  # doubled after 2 finite steps
    # Keras 2's loop: get_unscaled_gradients first, then apply_gradients applies them as given
    opt.apply_gradients(zip(opt.get_unscaled_gradients([tf.constant([8.0, 8.0])]), [v]))
    np.testing.assert_array_equal(v.numpy(), [-0.5, 0.5])
    for _ in range(5):
        opt.apply_gradients([(tf.constant([np.nan, 0.0]), v)])
    assert float(opt.loss_scale.numpy()) == 1.0                  # never below 1
    fixed = mixed_precision.LossScaleOptimizer(keras.optimizers.SGD(1.0), dynamic=False,
                                               initial_scale=4.0)
    fixed.apply_gradients([(tf.constant([1.0, 1.0]), v)])
    assert float(fixed.loss_scale.numpy()) == 4.0
    np.testing.assert_array_equal(v.numpy(), [-0.75, 0.25])


def test_loss_scale_optimizer_in_fit_config_and_errors():
    model, _, _ = _model()
    opt = keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(1e-2))
    model.compile(loss="sparse_categorical_crossentropy", optimizer=opt)
    x = np.random.default_rng(2).random((8, 12)).astype("float32")
    h = model.fit(x, np.arange(8) % 4, batch_size=4, epochs=3, verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0]
    cfg = keras.optimizers.serialize(opt)
    back = keras.optimizers.deserialize(cfg)
    assert type(back).__name__ == "LossScaleOptimizer" and back.dynamic
    assert float(back.learning_rate.numpy()) == pytest.approx(1e-2)
    with pytest.raises(TypeError, match=r"\[LossScaleOptimizer\] inner_optimizer must be"):
        mixed_precision.LossScaleOptimizer("adam")
    with pytest.raises(ValueError, match=r"needs initial_scale"):
        mixed_precision.LossScaleOptimizer(keras.optimizers.SGD(), dynamic=False)
