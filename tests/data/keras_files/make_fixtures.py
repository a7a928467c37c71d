"""Writes the Keras fixtures of tests/test_keras_file_interop.py (run with real TensorFlow /
Keras 3, see README.md). Each model `<name>` gets `<name>.<ext>` for the formats listed in
FORMATS and `<name>.io.npz` (the inputs x0, x1, ... and Keras's predictions y)."""
import os
import sys

import numpy as np
import keras
from keras import layers

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)


@keras.saving.register_keras_serializable(package="nabitest")
class ScaledDense(layers.Layer):
    def __init__(self, units, scale=2.0, **kw):
        super().__init__(**kw)
        self.units, self.scale = units, scale

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), name="w")
        self.b = self.add_weight(shape=(self.units,), initializer="ones", name="b")

    def call(self, x):
        return self.scale * (keras.ops.matmul(x, self.w) + self.b)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "scale": self.scale}


@keras.saving.register_keras_serializable(package="nabitest")
class TwoTower(keras.Model):
    def __init__(self, units=4, **kw):
        super().__init__(**kw)
        self.units = units
        self.d1 = layers.Dense(units, activation="relu")
        self.d2 = layers.Dense(2)

    def call(self, x):
        return self.d2(self.d1(x))

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def mlp():   # Sequential, trained with Adam: compile state and optimizer variables
    m = keras.Sequential([keras.Input((8,)), layers.Dense(16, activation="relu", name="d1"),
                          layers.BatchNormalization(name="bn"), layers.Dropout(0.3),
                          layers.Dense(3, activation="softmax", name="out")], name="mlp")
    x = rng.normal(size=(32, 8)).astype("float32")
    m.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"])
    m.fit(x, rng.integers(0, 3, 32), epochs=2, batch_size=8, verbose=0)
    return m, [x[:6]]


def mlp_func():   # functional with branches; BatchNormalization(center=False): 3 weights
    inp = keras.Input((6,), name="x")
    h = layers.Dense(10, activation="tanh")(inp)
    h = layers.BatchNormalization(momentum=0.9, epsilon=1e-3, center=False)(h)
    a = layers.Dense(4)(h)
    b = layers.Dense(4, use_bias=False)(inp)
    o = layers.Dense(2)(layers.Concatenate()([layers.Add()([a, b]), h]))
    m = keras.Model(inp, o, name="mlp_func")
    x = rng.normal(size=(16, 6)).astype("float32")
    m.compile(optimizer="rmsprop", loss="mse")
    m.fit(x, rng.normal(size=(16, 2)), epochs=1, verbose=0)
    return m, [x[:5]]


def cnn():
    m = keras.Sequential([keras.Input((8, 8, 3)),
                          layers.Conv2D(4, 3, padding="same", activation="relu"),
                          layers.BatchNormalization(), layers.MaxPooling2D(2),
                          layers.Conv2D(5, 3, padding="valid", use_bias=False),
                          layers.GlobalAveragePooling2D(), layers.Dense(3)], name="cnn")
    x = rng.normal(size=(8, 8, 8, 3)).astype("float32")
    m.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss="mse")
    m.fit(x, rng.normal(size=(8, 3)), epochs=1, verbose=0)
    return m, [x[:3]]


def rnn():   # Embedding(mask_zero) -> Bidirectional(LSTM) -> GRU: the mask skips the padding;
    # Keras 3 puts the mask's ops.not_equal in the config and passes it as mask=
    inp = keras.Input((7,), dtype="int32")
    e = layers.Embedding(20, 5, mask_zero=True)(inp)
    h = layers.Bidirectional(layers.LSTM(6, return_sequences=True))(e)
    h = layers.GRU(4)(h)
    m = keras.Model(inp, layers.Dense(1, activation="sigmoid")(h), name="rnn")
    x = rng.integers(1, 20, size=(4, 7)).astype("int32")
    x[0, 4:] = 0
    x[1, 2:] = 0
    return m, [x]


def mha():
    inp = keras.Input((5, 8))
    a = layers.MultiHeadAttention(num_heads=2, key_dim=4, name="mha")(inp, inp)
    h = layers.LayerNormalization(epsilon=1e-5)(layers.Add()([inp, a]))
    o = layers.GlobalAveragePooling1D()(h + inp)   # `+`: a Keras op (ops.Add) in the config
    m = keras.Model(inp, layers.Dense(2)(o), name="mha_model")
    return m, [rng.normal(size=(3, 5, 8)).astype("float32")]


def nested():   # a Sequential inside a functional model
    inner = keras.Sequential([keras.Input((4,)), layers.Dense(6, activation="relu"),
                              layers.Dense(5)], name="inner")
    inp = keras.Input((4,))
    o = layers.Dense(2)(layers.Concatenate()([inner(inp), inp]))
    return keras.Model(inp, o, name="nested"), [rng.normal(size=(5, 4)).astype("float32")]


def custom():   # a registered custom layer
    inp = keras.Input((4,))
    o = layers.Dense(2)(ScaledDense(3, scale=0.5, name="scaled")(inp))
    return keras.Model(inp, o, name="custom"), [rng.normal(size=(5, 4)).astype("float32")]


def ops():   # Keras ops on symbolic tensors: ops.Mean(axis=...), GetItem (slices), ...
    inp = keras.Input((4, 3))
    a = keras.ops.mean(inp, axis=1, keepdims=False)
    c = keras.ops.concatenate([a, inp[:, 0]], axis=-1) * 2.0
    return keras.Model(inp, layers.Dense(2)(c), name="ops"), [
        rng.normal(size=(3, 4, 3)).astype("float32")]


def prep():   # an adapted Normalization layer
    norm = layers.Normalization(name="norm")
    xs = rng.normal(3, 2, size=(50, 3)).astype("float32")
    norm.adapt(xs)
    inp = keras.Input((3,))
    return keras.Model(inp, layers.Dense(2)(norm(inp)), name="prep"), [xs[:5]]


def prep_text():   # adapted TextVectorization (vocabulary in the .keras assets), StringLookup
    tv = layers.TextVectorization(max_tokens=20, output_sequence_length=6, name="tv")
    tv.adapt(["the cat sat", "the dog ran fast", "a cat and a dog"])
    sl = layers.StringLookup(vocabulary=["red", "green", "blue"], name="sl")
    tin = keras.Input((1,), dtype="string", name="text")
    cin = keras.Input((1,), dtype="string", name="color")
    e = layers.GlobalAveragePooling1D()(layers.Embedding(21, 3)(tv(tin)))
    c = layers.CategoryEncoding(num_tokens=4, output_mode="one_hot")(sl(cin))
    m = keras.Model([tin, cin], layers.Dense(2)(layers.Concatenate()([e, c])), name="prep_text")
    return m, [np.array([["The cat ran!"], ["a dog"], ["zebra cat"]]),
               np.array([["red"], ["blue"], ["pink"]])]


def multi():   # a functional model inside a functional one, a shared layer, dict in/out
    a, b = keras.Input((4,), name="a"), keras.Input((4,), name="b")
    shared = layers.Dense(3, name="shared")
    inner_in = keras.Input((3,))
    inner = keras.Model(inner_in, layers.Dense(2)(layers.Dense(5, activation="relu")(inner_in)),
                        name="inner_f")
    ha, hb = shared(a), shared(b)
    o2 = layers.Dense(1, name="o2")(layers.Concatenate()([ha, hb]))
    m = keras.Model({"a": a, "b": b}, {"o1": inner(ha), "o2": o2}, name="multi")
    return m, [rng.normal(size=(3, 4)).astype("float32"), rng.normal(size=(3, 4)).astype("float32")]


def subclassed():   # a registered subclassed Model: weights filed under attribute names
    x = rng.normal(size=(6, 5)).astype("float32")
    m = TwoTower(4, name="tt")
    m(x)
    m.compile(optimizer="adam", loss="mse")
    m.fit(x, rng.normal(size=(6, 2)), epochs=2, verbose=0)
    return m, [x[:3]]


def dict_out():   # dict outputs: Keras walks them in sorted key order ("a" before "z")
    inp = keras.Input((4,))
    h = layers.Dense(3, activation="tanh")(inp)
    m = keras.Model(inp, {"z": layers.Dense(2, name="z")(h), "a": layers.Dense(2, name="a")(h)},
                    name="dict_out")
    return m, [rng.normal(size=(3, 4)).astype("float32")]


FORMATS = {"mlp": ("keras", "weights.h5", "h5"), "mlp_func": ("keras", "weights.h5"),
           "cnn": ("weights.h5", "h5"), "rnn": ("keras", "weights.h5", "h5"),
           "mha": ("keras", "weights.h5", "h5"),
           "nested": ("keras", "weights.h5"), "custom": ("keras", "weights.h5"),
           "prep": ("keras", "weights.h5"), "ops": ("keras", "h5"),
           "prep_text": ("keras", "h5"), "multi": ("keras", "weights.h5"),
           "subclassed": ("keras", "weights.h5"), "dict_out": ("keras", "weights.h5")}

if __name__ == "__main__":
    for name, exts in FORMATS.items():
        model, xs = globals()[name]()
        if name == "multi":   # dict inputs and outputs
            y = model.predict({"a": xs[0], "b": xs[1]}, verbose=0)
            y = np.concatenate([y["o1"], y["o2"]], -1)
        elif name == "dict_out":
            y = model.predict(xs[0], verbose=0)
            y = np.concatenate([y["z"], y["a"]], -1)
        elif xs[0].dtype.kind == "U":   # Keras predicts on string tensors, not NumPy strings
            import tensorflow as tf
            y = model.predict([tf.constant(x) for x in xs], verbose=0)
        else:
            y = model.predict(xs[0] if len(xs) == 1 else xs, verbose=0)
        np.savez(os.path.join(OUT, f"{name}.io.npz"), y=y,
                 **{f"x{i}": a for i, a in enumerate(xs)})
        for ext in exts:
            path = os.path.join(OUT, f"{name}.{ext}")
            (model.save_weights if ext == "weights.h5" else model.save)(path)
        print(name, exts)
