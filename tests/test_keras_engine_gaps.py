"""Keras 2.15 engine behaviours: input autocasting in Layer.__call__, symbolic add_loss /
add_metric on functional models, per-output losses of multi-output models, and the shapes
summary(expand_nested=True) shows inside a Sequential called in a functional graph.

Numbers are checked against NumPy computations on the model's own weights or against values
the Keras documentation states; never against another nabi computation."""
import io
import os
import re

import numpy as np
import pytest

import nabi as tf
from nabi import keras


# ----------------------------------------------------------------------------- (b) autocast


class CustomEmbedding(keras.layers.Layer):
    """The masking guide's CustomEmbedding, verbatim apart from recording the input dtype."""

    def __init__(self, input_dim, output_dim, mask_zero=False, **kwargs):
        super().__init__(**kwargs)
        self.input_dim = input_dim
        self.output_dim = output_dim
        self.mask_zero = mask_zero
        self.seen_dtypes = []

    def build(self, input_shape):
        self.embeddings = self.add_weight(shape=(self.input_dim, self.output_dim),
                                          initializer="random_normal", dtype="float32")

    def call(self, inputs):
        self.seen_dtypes.append(inputs.numpy().dtype.name)
        return tf.nn.embedding_lookup(self.embeddings, inputs)

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        return tf.math.not_equal(inputs, 0)


class DtypeProbe(keras.layers.Layer):
    """Returns its input unchanged; records the dtype call() received."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seen = []

    def call(self, inputs):
        self.seen.append(inputs.numpy().dtype)
        return inputs


def _int_ids(shape=(3, 10), high=9, seed=0):
    x = np.random.default_rng(seed).random(shape) * high
    return x.astype("int32")


def test_custom_embedding_of_the_masking_guide_runs_on_int_ids():
    layer = CustomEmbedding(10, 32, mask_zero=True)
    x = _int_ids()
    x[0, :3] = 0
    y = layer(x)
    mask = layer.compute_mask(x)
    emb = layer.embeddings.numpy()
    assert tuple(y.shape) == (3, 10, 32)
    np.testing.assert_allclose(y.numpy(), emb[x], rtol=0, atol=0)
    np.testing.assert_array_equal(mask.numpy(), x != 0)
    # the mask travels with the output, as Keras attaches `_keras_mask`
    np.testing.assert_array_equal(keras.layers.base.get_mask(y).numpy(), x != 0)
    assert layer.seen_dtypes == ["int32"]


@pytest.mark.parametrize("dtype, expected", [
    ("float64", "float32"), ("float32", "float32"),
    ("int32", "int32"), ("int64", "int64"), ("bool", "bool")])  # (the GPU has no 8-bit ints)
def test_custom_layer_casts_only_floating_inputs(dtype, expected):
    """Keras 2 base_layer autocast: floating inputs take the compute dtype, others pass."""
    probe = DtypeProbe()
    x = (np.arange(6).reshape(2, 3) % 2).astype(dtype)
    out = probe(x)
    assert np.dtype(probe.seen[-1]).name == expected
    assert out.numpy().dtype == np.dtype(expected)
    np.testing.assert_array_equal(out.numpy(), x.astype(expected))
    # a Tensor input too (the fast path of __call__)
    probe(tf.constant(x))
    assert np.dtype(probe.seen[-1]).name == expected


def test_autocast_false_keeps_float64():
    probe = DtypeProbe(autocast=False)
    probe(tf.constant(np.ones((2, 2), np.float64)))
    assert np.dtype(probe.seen[-1]).name == "float64"


def test_dense_still_takes_int_inputs():
    """Keras 2's Dense casts its input inside call(), so Dense on ints works eagerly and in a
    functional model whose Input is int32."""
    x = np.array([[1, 2, 3], [4, 5, 6]], np.int32)
    d = keras.layers.Dense(2, kernel_initializer="ones", bias_initializer="ones")
    y = d(x)
    assert y.numpy().dtype == np.float32
    np.testing.assert_allclose(y.numpy(), x.astype(np.float32) @ np.ones((3, 2)) + 1)
    inp = keras.Input((3,), dtype="int32")
    m = keras.Model(inp, keras.layers.Dense(2, kernel_initializer="ones")(inp))
    np.testing.assert_allclose(m.predict(x, verbose=0), x.sum(1, keepdims=True) * [1, 1])


def test_subclass_of_dense_calling_super_still_takes_ints():
    """class MyDense(Dense) whose call reaches Dense.call: Keras's Dense casts there."""
    class MyDense(keras.layers.Dense):
        def call(self, inputs):
            return super().call(inputs) * 2.0

    x = np.array([[1, 2, 3]], np.int32)
    d = MyDense(2, kernel_initializer="ones", bias_initializer="zeros")
    np.testing.assert_allclose(d(x).numpy(), [[12.0, 12.0]])


def test_custom_embedding_in_functional_and_sequential_models():
    x = _int_ids((4, 6), seed=1)
    x[:, -2:] = 0
    # functional: int Input -> CustomEmbedding -> masked average (GlobalAveragePooling1D
    # honours the mask)
    emb = CustomEmbedding(10, 5, mask_zero=True)
    inp = keras.Input((None,), dtype="int32")
    out = keras.layers.GlobalAveragePooling1D()(emb(inp))
    model = keras.Model(inp, out)
    got = model.predict(x, verbose=0)
    e = emb.embeddings.numpy()[x]
    m = (x != 0).astype(np.float32)[..., None]
    np.testing.assert_allclose(got, (e * m).sum(1) / m.sum(1), rtol=1e-5, atol=1e-6)
    # Sequential without Input: fit feeds the ids as integers (the data adapter keeps them)
    emb2 = CustomEmbedding(10, 3, mask_zero=True)
    seq = keras.Sequential([emb2, keras.layers.GlobalAveragePooling1D(),
                            keras.layers.Dense(1)])
    seq.compile("sgd", "mse")
    hist = seq.fit(x, np.zeros((4, 1), np.float32), epochs=1, verbose=0)
    assert np.isfinite(hist.history["loss"][0])
    assert set(emb2.seen_dtypes) <= {"int32", "int64"}


# ----------------------------------------------------------------------------- (a) add_loss


def _np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _deterministic_vae(original_dim=6, intermediate_dim=5, latent_dim=3):
    """The functional VAE of the subclassing guide with z = z_mean (no sampling noise), so
    that every number has a NumPy reference; the KL term is built from tf ops on
    KerasTensors and added with vae.add_loss, as in the guide."""
    inp = keras.Input(shape=(original_dim,), name="encoder_input")
    h = keras.layers.Dense(intermediate_dim, activation="relu", name="hidden")(inp)
    z_mean = keras.layers.Dense(latent_dim, name="z_mean")(h)
    z_log_var = keras.layers.Dense(latent_dim, name="z_log_var")(h)
    out = keras.layers.Dense(original_dim, activation="sigmoid", name="dec")(z_mean)
    vae = keras.Model(inputs=inp, outputs=out, name="vae")
    kl_loss = -0.5 * tf.reduce_mean(z_log_var - tf.square(z_mean) - tf.exp(z_log_var) + 1)
    vae.add_loss(kl_loss)
    # weights from a fixed generator, not the global seed: with random (glorot) weights the
    # hidden ReLUs could all be dead on the data (then kl == 0), depending on earlier tests
    r = np.random.default_rng(11)
    for layer in (vae.get_layer(n) for n in ("hidden", "z_mean", "z_log_var", "dec")):
        k, b = layer.get_weights()
        k = r.normal(0, 0.5, k.shape)
        if layer.name == "hidden":
            k = np.abs(k)           # x >= 0, so every hidden unit is active
        layer.set_weights([k.astype(np.float32), r.normal(0, 0.1, b.shape).astype(np.float32)])
    return vae, kl_loss


def _np_vae(vae, x):
    """(reconstruction MSE, kl, intermediates) in float64 from the model's weights."""
    W = {n: [w.astype(np.float64) for w in vae.get_layer(n).get_weights()]
         for n in ("hidden", "z_mean", "z_log_var", "dec")}
    x = x.astype(np.float64)
    h = np.maximum(x @ W["hidden"][0] + W["hidden"][1], 0)
    zm = h @ W["z_mean"][0] + W["z_mean"][1]
    zl = h @ W["z_log_var"][0] + W["z_log_var"][1]
    rec = _np_sigmoid(zm @ W["dec"][0] + W["dec"][1])
    mse = np.mean((x - rec) ** 2)
    kl = -0.5 * np.mean(zl - zm ** 2 - np.exp(zl) + 1)
    return mse, kl, h, zl


def _vae_data(n=8, d=6, seed=3):
    return np.random.default_rng(seed).random((n, d)).astype(np.float32)


def test_symbolic_add_loss_is_evaluated_per_batch():
    vae, _ = _deterministic_vae()
    x = _vae_data()
    vae.compile(keras.optimizers.SGD(0.1), loss=keras.losses.MeanSquaredError())
    mse, kl, _, _ = _np_vae(vae, x)
    assert kl > 0
    # evaluate over one batch: reconstruction + kl
    got = vae.evaluate(x, x, batch_size=len(x), verbose=0)
    np.testing.assert_allclose(got, mse + kl, rtol=1e-5)
    # two batches: the batch-size weighted mean of the per-batch totals
    m1, k1, _, _ = _np_vae(vae, x[:5])
    m2, k2, _, _ = _np_vae(vae, x[5:])
    got = vae.evaluate(x, x, batch_size=5, verbose=0, return_dict=True)
    np.testing.assert_allclose(got["loss"], (5 * (m1 + k1) + 3 * (m2 + k2)) / 8, rtol=1e-5)
    # model.losses after a call holds the kl value of that call (Keras's vae.losses)
    vae(x[:5])
    assert len(vae.losses) == 1
    np.testing.assert_allclose(float(vae.losses[0].numpy()), k1, rtol=1e-5)
    # the AddLoss layer and the ops computing the kl term joined model.layers (as in Keras)
    names = [l.name for l in vae.layers]
    assert type(vae.layers[-1]).__name__ == "AddLoss"
    assert any(n.startswith("tf.math.reduce_mean") for n in names)


def test_symbolic_add_loss_trains_the_kl_term():
    vae, _ = _deterministic_vae()
    x = _vae_data()
    lr = 0.1
    vae.compile(keras.optimizers.SGD(lr), loss=keras.losses.MeanSquaredError())
    mse, kl, h, zl = _np_vae(vae, x)
    Wv, bv = [w.astype(np.float64) for w in vae.get_layer("z_log_var").get_weights()]
    hist = vae.fit(x, x, batch_size=len(x), epochs=1, shuffle=False, verbose=0)
    # the loss fit reports is the one computed before the step: reconstruction + kl
    np.testing.assert_allclose(hist.history["loss"][0], mse + kl, rtol=1e-5)
    # z_log_var only reaches the loss through the kl term: its step is -lr * d kl / d W
    dzl = -0.5 * (1.0 - np.exp(zl)) / zl.size
    Wv2, bv2 = vae.get_layer("z_log_var").get_weights()
    np.testing.assert_allclose(Wv2, Wv - lr * (h.T @ dzl), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(bv2, bv - lr * dzl.sum(0), rtol=1e-4, atol=1e-6)


def test_symbolic_add_metric_reports_its_mean():
    vae, kl_loss = _deterministic_vae()
    vae.add_metric(kl_loss, name="kl_loss")
    x = _vae_data()
    vae.compile(keras.optimizers.SGD(0.0), loss="mse")
    _, k1, _, _ = _np_vae(vae, x[:5])
    _, k2, _, _ = _np_vae(vae, x[5:])
    logs = vae.evaluate(x, x, batch_size=5, verbose=0, return_dict=True)
    assert set(logs) == {"loss", "kl_loss"}
    # Keras's Mean of the per-batch values (each batch counts once)
    np.testing.assert_allclose(logs["kl_loss"], (k1 + k2) / 2, rtol=1e-5)
    hist = vae.fit(x, x, batch_size=8, epochs=2, verbose=0)
    assert set(hist.history) == {"loss", "kl_loss"}
    assert vae.metrics_names == ["loss", "kl_loss"]


@pytest.mark.parametrize("ext", [".keras", ".h5"])
def test_symbolic_add_loss_survives_save_and_load(tmp_path, ext):
    vae, kl_loss = _deterministic_vae()
    vae.add_metric(kl_loss, name="kl_loss")
    x = _vae_data()
    vae.compile(keras.optimizers.SGD(0.1), loss="mse")
    vae.fit(x, x, epochs=1, verbose=0)
    path = str(tmp_path / f"vae{ext}")
    vae.save(path)
    loaded = keras.models.load_model(path)
    assert [l.name for l in loaded.layers] == [l.name for l in vae.layers]
    mse, kl, _, _ = _np_vae(loaded, x)
    if not loaded.compiled:
        loaded.compile(keras.optimizers.SGD(0.1), loss="mse")
    logs = loaded.evaluate(x, x, batch_size=len(x), verbose=0, return_dict=True)
    np.testing.assert_allclose(logs["loss"], mse + kl, rtol=1e-5)
    np.testing.assert_allclose(logs["kl_loss"], kl, rtol=1e-5)


def test_symbolic_add_loss_is_kept_by_clone_model_and_json():
    vae, _ = _deterministic_vae()
    x = _vae_data()
    mse, kl, _, _ = _np_vae(vae, x)
    clone = keras.models.clone_model(vae)
    clone.set_weights(vae.get_weights())
    assert type(clone.layers[-1]).__name__ == "AddLoss"
    rebuilt = keras.models.model_from_json(vae.to_json())
    rebuilt.set_weights(vae.get_weights())
    for m in (clone, rebuilt):
        m.compile("sgd", loss="mse")
        np.testing.assert_allclose(m.evaluate(x, x, batch_size=len(x), verbose=0), mse + kl,
                                   rtol=1e-5)


def test_guide_functional_vae_fits():
    """The guide's functional VAE as written (random sampling, nested encoder/decoder)."""
    from nabi.keras import layers

    class Sampling(layers.Layer):
        def call(self, inputs):
            z_mean, z_log_var = inputs
            batch = tf.shape(z_mean)[0]
            dim = tf.shape(z_mean)[1]
            epsilon = tf.keras.backend.random_normal(shape=(batch, dim))
            return z_mean + tf.exp(0.5 * z_log_var) * epsilon

    original_dim, intermediate_dim, latent_dim = 784, 64, 32
    original_inputs = tf.keras.Input(shape=(original_dim,), name="encoder_input")
    x = layers.Dense(intermediate_dim, activation="relu")(original_inputs)
    z_mean = layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(x)
    z = Sampling()((z_mean, z_log_var))
    encoder = tf.keras.Model(inputs=original_inputs, outputs=z, name="encoder")
    latent_inputs = tf.keras.Input(shape=(latent_dim,), name="z_sampling")
    x = layers.Dense(intermediate_dim, activation="relu")(latent_inputs)
    outputs = layers.Dense(original_dim, activation="sigmoid")(x)
    decoder = tf.keras.Model(inputs=latent_inputs, outputs=outputs, name="decoder")
    outputs = decoder(z)
    vae = tf.keras.Model(inputs=original_inputs, outputs=outputs, name="vae")
    kl_loss = -0.5 * tf.reduce_mean(z_log_var - tf.square(z_mean) - tf.exp(z_log_var) + 1)
    vae.add_loss(kl_loss)
    optimizer = tf.keras.optimizers.Adam(learning_rate=1e-3)
    vae.compile(optimizer, loss=tf.keras.losses.MeanSquaredError())
    x_train = np.random.default_rng(0).random((128, original_dim)).astype("float32")
    hist = vae.fit(x_train, x_train, epochs=3, batch_size=64, verbose=0)
    losses = hist.history["loss"]
    assert list(hist.history) == ["loss"] and all(np.isfinite(losses))
    assert losses[-1] < losses[0]
    assert len(encoder.layers) == 5          # the encoder does not take the kl layers


def test_symbolic_add_loss_errors():
    vae, _ = _deterministic_vae()
    other = keras.Input((6,))
    with pytest.raises(ValueError, match=r"\[vae.add_loss\] Graph disconnected"):
        vae.add_loss(tf.reduce_mean(other))
    with pytest.raises(ValueError, match=r"add_metric\] please provide a name"):
        vae.add_metric(tf.reduce_mean(vae.output))
    seq = keras.Sequential([keras.layers.Dense(2)])
    with pytest.raises(ValueError, match=r"add_loss\] a symbolic KerasTensor loss needs a "
                                         r"functional model"):
        seq.add_loss(tf.reduce_mean(other))


# ----------------------------------------------------------------------------- (c) per-output


def _two_output_model():
    inp = keras.Input((4,), name="x")
    a = keras.layers.Dense(2, name="out_a")(inp)
    b = keras.layers.Dense(3, activation="softmax", name="out_b")(inp)
    return keras.Model(inp, [a, b])


def _two_output_data(n=10, seed=4):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    ya = rng.standard_normal((n, 2)).astype(np.float32)
    yb = rng.integers(0, 3, n)
    return x, ya, yb


def _np_two_output(model, x, ya, yb):
    Wa, ba = model.get_layer("out_a").get_weights()
    Wb, bb = model.get_layer("out_b").get_weights()
    pa = x.astype(np.float64) @ Wa + ba
    lb = x.astype(np.float64) @ Wb + bb
    pb = np.exp(lb - lb.max(1, keepdims=True))
    pb /= pb.sum(1, keepdims=True)
    mse = np.mean((pa - ya) ** 2)
    scce = np.mean(-np.log(pb[np.arange(len(yb)), yb]))
    acc = np.mean(np.argmax(pb, 1) == yb)
    return mse, scce, acc


KERAS_NAMES = ["loss", "out_a_loss", "out_b_loss", "out_b_accuracy"]


def test_multi_output_metrics_list_the_per_output_losses():
    model = _two_output_model()
    model.compile(keras.optimizers.SGD(0.05),
                  loss=["mse", "sparse_categorical_crossentropy"], loss_weights=[1.0, 0.5],
                  metrics={"out_b": "accuracy"})
    # Keras 2: empty until fit/evaluate has built the containers
    assert model.metrics_names == [] and model.metrics == []
    x, ya, yb = _two_output_data()
    hist = model.fit(x, [ya, yb], epochs=2, batch_size=4, verbose=0,
                     validation_data=(x, [ya, yb]))
    assert list(hist.history) == KERAS_NAMES + ["val_" + k for k in KERAS_NAMES]
    assert model.metrics_names == KERAS_NAMES
    assert [m.name for m in model.metrics] == KERAS_NAMES
    mse, scce, acc = _np_two_output(model, x, ya, yb)
    logs = model.evaluate(x, [ya, yb], batch_size=len(x), verbose=0, return_dict=True)
    assert list(logs) == KERAS_NAMES
    np.testing.assert_allclose([logs[k] for k in KERAS_NAMES],
                               [mse + 0.5 * scce, mse, scce, acc], rtol=1e-5)
    vals = model.evaluate(x, [ya, yb], batch_size=len(x), verbose=0)
    np.testing.assert_allclose(vals, [mse + 0.5 * scce, mse, scce, acc], rtol=1e-5)
    # the Mean objects hold the same values (model.metrics[1] is "out_a_loss")
    np.testing.assert_allclose(float(model.metrics[1].result().numpy()), mse, rtol=1e-5)
    np.testing.assert_allclose(float(model.metrics[2].result().numpy()), scce, rtol=1e-5)
    res = model.get_metrics_result()
    np.testing.assert_allclose([res[k] for k in KERAS_NAMES],
                               [mse + 0.5 * scce, mse, scce, acc], rtol=1e-5)
    model.reset_metrics()
    assert float(model.metrics[1].result().numpy()) == 0.0


def test_multi_output_on_batch_results():
    model = _two_output_model()
    model.compile("sgd", loss={"out_a": "mse", "out_b": "sparse_categorical_crossentropy"},
                  metrics={"out_b": "accuracy"})
    x, ya, yb = _two_output_data()
    mse, scce, acc = _np_two_output(model, x, ya, yb)
    out = model.test_on_batch(x, [ya, yb], return_dict=True)
    assert list(out) == KERAS_NAMES
    np.testing.assert_allclose([out[k] for k in KERAS_NAMES], [mse + scce, mse, scce, acc],
                               rtol=1e-5)
    # model.metrics hold what the batch computed (the "loss" Mean included)
    res = model.get_metrics_result()
    np.testing.assert_allclose([res[k] for k in KERAS_NAMES], [mse + scce, mse, scce, acc],
                               rtol=1e-5)
    # reset_metrics=False accumulates: the running means of two equal batches are unchanged
    out2 = model.test_on_batch(x, [ya, yb], reset_metrics=False, return_dict=True)
    np.testing.assert_allclose([out2[k] for k in KERAS_NAMES], [mse + scce, mse, scce, acc],
                               rtol=1e-5)
    vals = model.train_on_batch(x, [ya, yb])
    np.testing.assert_allclose(vals, [mse + scce, mse, scce, acc], rtol=1e-5)


def test_multi_output_with_a_loss_on_one_output_only():
    model = _two_output_model()
    model.compile("sgd", loss={"out_a": "mse"})
    x, ya, yb = _two_output_data()
    mse, _, _ = _np_two_output(model, x, ya, yb)
    logs = model.evaluate(x, [ya, yb], batch_size=len(x), verbose=0, return_dict=True)
    assert list(logs) == ["loss", "out_a_loss"]
    np.testing.assert_allclose([logs["loss"], logs["out_a_loss"]], [mse, mse], rtol=1e-5)
    assert model.metrics_names == ["loss", "out_a_loss"]


def test_multi_output_custom_train_step_sees_the_per_output_means():
    class MyModel(keras.Model):
        def train_step(self, data):
            x, y = data
            with tf.GradientTape() as tape:
                y_pred = self(x, training=True)
                loss = self.compiled_loss(y, y_pred)
            grads = tape.gradient(loss, self.trainable_variables)
            self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
            self.compiled_metrics.update_state(y, y_pred)
            return {m.name: m.result() for m in self.metrics}

    inp = keras.Input((4,), name="x")
    a = keras.layers.Dense(2, name="out_a")(inp)
    b = keras.layers.Dense(3, activation="softmax", name="out_b")(inp)
    model = MyModel(inp, [a, b])
    model.compile(keras.optimizers.SGD(0.0),
                  loss=["mse", "sparse_categorical_crossentropy"], metrics={"out_b": "accuracy"})
    x, ya, yb = _two_output_data()
    mse, scce, acc = _np_two_output(model, x, ya, yb)
    hist = model.fit(x, [ya, yb], batch_size=len(x), epochs=1, verbose=0)
    assert list(hist.history) == KERAS_NAMES
    np.testing.assert_allclose([hist.history[k][0] for k in KERAS_NAMES],
                               [mse + scce, mse, scce, acc], rtol=1e-5)


# ----------------------------------------------------------------------------- (d) summary


def _table_rows(model, **kwargs):
    """The summary lines between the '=' rules (the layer table), as printed."""
    lines = []
    model.summary(print_fn=lines.append, **kwargs)
    rules = [i for i, l in enumerate(lines) if l and set(l) == {"="}]
    return lines[rules[0] + 1:rules[1]]


_BAR = "\u00af"


def test_summary_expand_nested_sequential_without_input_shows_shapes():
    inner = keras.Sequential([keras.layers.Dense(8, activation="relu", name="dense_a"),
                              keras.layers.Dense(3, name="dense_b")], name="inner")
    inp = keras.Input((5,), name="x_in")
    out = keras.layers.Dense(1, name="head")(inner(inp))
    model = keras.Model(inp, out)
    expected = [
        " x_in (InputLayer)           [(None, 5)]               0         ",
        "                                                                 ",
        " inner (Sequential)          (None, 3)                 75        ",
        "|" + _BAR * 63 + "|",
        "| dense_a (Dense)            (None, 8)                 48       |",
        "|                                                               |",
        "| dense_b (Dense)            (None, 3)                 27       |",
        _BAR * 65,
        " head (Dense)                (None, 1)                 4         ",
        "                                                                 ",
    ]
    assert _table_rows(model, expand_nested=True) == expected
    # Keras 2 builds the Sequential's graph on the symbolic input's shape
    assert inner.input_shape == (None, 5)
    assert inner.get_layer("dense_a").output_shape == (None, 8)
    assert _table_rows(inner) == [
        " dense_a (Dense)             (None, 8)                 48        ",
        "                                                                 ",
        " dense_b (Dense)             (None, 3)                 27        ",
        "                                                                 "]
    # and the model computes what its weights say
    x = np.random.default_rng(5).standard_normal((4, 5)).astype(np.float32)
    Wa, ba = inner.get_layer("dense_a").get_weights()
    Wb, bb = inner.get_layer("dense_b").get_weights()
    Wh, bh = model.get_layer("head").get_weights()
    ref = (np.maximum(x @ Wa + ba, 0) @ Wb + bb) @ Wh + bh
    np.testing.assert_allclose(model.predict(x, verbose=0), ref, rtol=1e-5, atol=1e-6)


def _keras_nested_conv_model(untrainable_conv, input_names=("input1", "input2", "input3")):
    """keras/utils/layer_utils_test.py's doubly nested functional model (names explicit)."""
    shape = (None, None, 3)
    x = inputs = keras.Input(shape, name=input_names[1])
    conv = keras.layers.Conv2D(3, 1, name="conv2d")
    if untrainable_conv:
        conv.trainable = False
    x = keras.layers.BatchNormalization(name="batch_normalization")(conv(x))
    innermost = keras.Model(inputs, x, name="model")
    x = inner_inputs = keras.Input(shape, name=input_names[0])
    inner = keras.Model(inner_inputs, innermost(x), name="model_1")
    inputs = keras.Input(shape, name=input_names[2])
    return keras.Model(inputs, inner(inputs), name="model_2")


def test_summary_expand_nested_matches_keras_layout():
    """The table Keras 2.15's layer_utils_test expects for expand_nested + show_trainable."""
    model = _keras_nested_conv_model(untrainable_conv=True)
    expected = [
        " input3 (InputLayer)         [(None, None, None, 3)]   0         Y          ",
        "                                                                            ",
        " model_1 (Functional)        (None, None, None, 3)     24        Y          ",
        "|" + _BAR * 74 + "|",
        "| input1 (InputLayer)        [(None, None, None, 3)]   0         Y         |",
        "|                                                                          |",
        "| model (Functional)         (None, None, None, 3)     24        Y         |",
        "||" + _BAR * 72 + "||",
        "|| input2 (InputLayer)       [(None, None, None, 3)]   0         Y        ||",
        "||                                                                        ||",
        "|| conv2d (Conv2D)           (None, None, None, 3)     12        N        ||",
        "||                                                                        ||",
        "|| batch_normalization (Bat  (None, None, None, 3)     12        Y        ||",
        "|| chNormalization)                                                       ||",
        "|" + _BAR * 74 + "|",
        _BAR * 76,
    ]
    assert _table_rows(model, expand_nested=True, show_trainable=True) == expected
    lines = []
    model.summary(print_fn=lines.append, expand_nested=True, show_trainable=True)
    assert "Trainable params: 6 " in "\n".join(lines)
    assert "Non-trainable params: 18 " in "\n".join(lines)


def test_summary_expand_nested_without_trainable_column_matches_keras():
    model = _keras_nested_conv_model(False, ("input_1", "input_2", "input_3"))
    rows = _table_rows(model, expand_nested=True)
    assert rows[0] == " input_3 (InputLayer)        [(None, None, None, 3)]   0         "
    assert rows[4] == "| input_1 (InputLayer)       [(None, None, None, 3)]   0        |"
    assert rows[8] == "|| input_2 (InputLayer)      [(None, None, None, 3)]   0       ||"
    assert rows[12] == "|| batch_normalization (Bat  (None, None, None, 3)     12      ||"
    assert rows[13] == "|| chNormalization)                                            ||"
    assert len(rows) == 16
