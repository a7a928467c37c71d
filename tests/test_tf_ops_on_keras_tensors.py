"""TF ops called on Keras symbolic tensors become TFOpLambda layers, as in Keras 2
functional models (`tf.reduce_mean(tf.nn.relu(x), axis=-1)`, `x[:, 1:3] * 2`); they run,
train, save and load (in safe mode: by op name and arguments, no bytecode). NumPy
references."""
import numpy as np
import pytest

import nabi as tf
from nabi import keras

from helpers import assert_array


def _model():
    x = keras.Input((6,), name="x")
    h = keras.layers.Dense(4, name="dense")(x)
    a = tf.nn.relu(h)
    m = tf.reduce_mean(a, axis=-1, keepdims=True)
    sl = x[:, 1:3] * 2.0 - 1.0
    out = tf.concat([m, tf.exp(-m), sl, tf.math.square(sl)], axis=-1)
    return keras.Model(x, out)


def _ref(model, xv):
    W, b = model.get_layer("dense").get_weights()
    h = np.maximum(xv @ W + b, 0)
    m = h.mean(-1, keepdims=True)
    sl = xv[:, 1:3] * 2.0 - 1.0
    return np.concatenate([m, np.exp(-m), sl, sl ** 2], -1)


def test_tf_ops_on_keras_tensors_build_run_and_name_layers_like_keras():
    keras.backend.clear_session()  # names count per session: earlier tests made these layers
    model = _model()
    names = [l.name for l in model.layers]
    assert "tf.nn.relu" in names and "tf.math.reduce_mean" in names and "tf.concat" in names
    assert "tf.__operators__.getitem" in names and "tf.math.square" in names
    assert all(type(l).__name__ == "TFOpLambda" for l in model.layers if l.name.startswith("tf."))
    xv = np.random.default_rng(0).standard_normal((5, 6)).astype(np.float32)
    assert_array(model.predict(xv, verbose=0), _ref(model, xv), rtol=1e-5, atol=1e-6)
    assert model.output_shape == (None, 6)
    # the eager path is untouched: same function objects, plain results
    assert tf.reduce_mean is tf.math.reduce_mean
    assert float(tf.reduce_mean(tf.constant([1.0, 3.0]))) == 2.0


def test_tf_op_layers_train_and_round_trip_in_safe_mode(tmp_path):
    model = _model()
    model.compile(keras.optimizers.SGD(0.05), "mse")
    rng = np.random.default_rng(1)
    xv = rng.standard_normal((32, 6)).astype(np.float32)
    yv = _ref(model, xv) * 0.5
    hist = model.fit(xv, yv, epochs=5, verbose=0).history["loss"]
    assert hist[-1] < hist[0]
    for ext in (".keras", ".h5"):
        path = str(tmp_path / f"m{ext}")
        model.save(path)
        loaded = keras.models.load_model(path)          # safe mode: no bytecode needed
        assert_array(loaded.predict(xv, verbose=0), model.predict(xv, verbose=0), atol=1e-6)
        assert [l.name for l in loaded.layers] == [l.name for l in model.layers]
    gi = [l for l in model.layers if l.name.startswith("tf.__operators__.getitem")][0]
    cfg = gi.get_config()
    assert cfg["symbol"] == "__operators__.getitem"


def test_functional_vae_kl_term_from_tf_ops():
    # The Keras subclassing guide's functional VAE builds its KL term with tf ops on symbolic
    # tensors. Here the KL term is a second output, checked against NumPy, and trained through
    # a custom loss; the guide's own `vae.add_loss(kl)` is tested in test_keras_engine_gaps.py.
    enc_in = keras.Input((4,))
    z_mean = keras.layers.Dense(2, name="z_mean")(enc_in)
    z_log_var = keras.layers.Dense(2, name="z_log_var")(enc_in)
    out = keras.layers.Dense(4, name="dec")(z_mean)
    kl = -0.5 * tf.reduce_mean(z_log_var - tf.square(z_mean) - tf.exp(z_log_var) + 1,
                               axis=-1, keepdims=True)
    vae = keras.Model(enc_in, [out, kl])
    xv = np.random.default_rng(2).standard_normal((16, 4)).astype(np.float32)
    rec, klv = vae.predict(xv, verbose=0)
    Wm, bm = vae.get_layer("z_mean").get_weights()
    Wv, bv = vae.get_layer("z_log_var").get_weights()
    Wd, bd = vae.get_layer("dec").get_weights()
    zm, zl = xv @ Wm + bm, xv @ Wv + bv
    assert_array(klv, -0.5 * np.mean(zl - zm ** 2 - np.exp(zl) + 1, -1, keepdims=True),
                 rtol=1e-5, atol=1e-6)
    assert_array(rec, zm @ Wd + bd, rtol=1e-5, atol=1e-6)
    vae.compile(keras.optimizers.Adam(0.01), ["mse", lambda y, p: tf.reduce_mean(p)])
    hist = vae.fit(xv, [xv, np.zeros((16, 1), np.float32)], epochs=5, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]


def test_unserializable_op_argument_is_a_clear_error():
    x = keras.Input((3,))
    y = tf.math.add(x, np.ones(3, np.float32))          # arrays serialize
    m = keras.Model(x, y)
    assert m.get_layer(index=1).get_config()["op_args"][1]["__array__"] == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match=r"\[TFOpLambda\] unknown op 'tf.no_such_op'"):
        keras.layers.TFOpLambda.from_config({"name": "tf.no_such_op", "symbol": "no_such_op",
                                              "op_args": [], "op_kwargs": {}})
