"""Sequential, functional and subclassed models: structure, summary, configs, gradients."""
import gc
import json

import numpy as np
import pytest

import nabi as tf
from nabi import keras
from nabi.keras import layers


@pytest.fixture(autouse=True)
def _fresh_names():
    keras.backend.clear_session()
    yield


def _summary_lines(model):
    lines = []
    model.summary(print_fn=lines.append)
    return lines


def _totals(lines):
    out = {}
    for l in lines:
        for key in ("Total params", "Trainable params", "Non-trainable params"):
            if l.startswith(key + ":"):
                out[key] = int(l.split(":")[1].strip().replace(",", "").split()[0])
    return out


def mnist_mlp():
    return keras.Sequential([
        layers.Dense(256, activation="relu", input_shape=(784,)),
        layers.Dense(256, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])


def test_sequential_summary_counts_like_keras():
    lines = _summary_lines(mnist_mlp())
    assert lines[0] == 'Model: "sequential"'
    assert _totals(lines) == {"Total params": 269322, "Trainable params": 269322,
                              "Non-trainable params": 0}
    body = "\n".join(lines)
    assert "dense (Dense)" in body and "(None, 256)" in body and "200960" in body
    assert "65792" in body and "2570" in body
    assert "Layer (type)" in body and "Output Shape" in body and "Param #" in body


def test_iris_and_tutorial_models_param_counts():
    iris = keras.Sequential([layers.Dense(10, activation="relu", input_shape=(4,)),
                             layers.Dense(20, activation="relu"),
                             layers.Dense(10, activation="relu"),
                             layers.Dense(3, activation="softmax")])
    assert _totals(_summary_lines(iris))["Total params"] == 50 + 220 + 210 + 33
    tut = keras.Sequential([layers.Flatten(input_shape=(28, 28)),
                            layers.Dense(128, activation="relu"), layers.Dropout(0.2),
                            layers.Dense(10)])
    lines = _summary_lines(tut)
    assert _totals(lines)["Total params"] == 101770  # the TF beginner tutorial's number
    assert any("flatten (Flatten)" in l and "(None, 784)" in l for l in lines)


def test_frozen_layer_counts_as_non_trainable():
    m = mnist_mlp()
    m.layers[0].trainable = False
    t = _totals(_summary_lines(m))
    assert t == {"Total params": 269322, "Trainable params": 68362,
                 "Non-trainable params": 200960}


def test_deferred_build_and_add_pop():
    m = keras.Sequential()
    m.add(layers.Dense(4, activation="relu"))
    m.add(layers.Dense(2))
    assert not m.built
    with pytest.raises(ValueError, match="not yet been built"):
        m.summary()
    y = m(np.ones((3, 5), np.float32))
    assert y.shape == (3, 2) and m.built
    assert _totals(_summary_lines(m))["Total params"] == 5 * 4 + 4 + 4 * 2 + 2
    popped = m.pop()
    assert popped.name == "dense_1" and len(m.layers) == 1
    m.add(layers.Dense(7))
    assert m(np.ones((1, 5), np.float32)).shape == (1, 7)


def test_functional_multi_io_shared_layer_matches_numpy():
    a = keras.Input(shape=(4,), name="a")
    b = keras.Input(shape=(4,), name="b")
    shared = layers.Dense(3, activation="tanh", name="shared")
    ha, hb = shared(a), shared(b)
    merged = layers.concatenate([ha, hb])
    out1 = layers.Dense(1, name="out1")(merged)
    out2 = layers.Add(name="out2")([ha, hb])
    m = keras.Model(inputs=[a, b], outputs=[out1, out2])
    rng = np.random.default_rng(0)
    xa, xb = rng.standard_normal((5, 4)).astype(np.float32), \
        rng.standard_normal((5, 4)).astype(np.float32)
    y1, y2 = m([xa, xb])
    W, bias = shared.get_weights()
    W1, b1 = m.get_layer("out1").get_weights()
    ra, rb = np.tanh(xa @ W + bias), np.tanh(xb @ W + bias)
    np.testing.assert_allclose(y2.numpy(), ra + rb, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y1.numpy(), np.concatenate([ra, rb], 1) @ W1 + b1, rtol=1e-5,
                               atol=1e-6)
    # Dict inputs by name.
    y1d, _ = m({"a": xa, "b": xb})
    np.testing.assert_allclose(y1d.numpy(), y1.numpy())
    assert m.input_names == ["a", "b"] and m.output_names == ["out1", "out2"]
    lines = _summary_lines(m)
    assert any("Connected to" in l for l in lines)
    assert any("shared (Dense)" in l for l in lines)
    assert _totals(lines)["Total params"] == 4 * 3 + 3 + 6 + 1
    preds = m.predict([xa, xb], verbose=0)
    assert isinstance(preds, list) and preds[0].shape == (5, 1) and preds[1].shape == (5, 3)


def test_functional_sequential_like_summary_has_input_row():
    inp = keras.Input(shape=(784,))
    x = layers.Dense(256, activation="relu")(inp)
    out = layers.Dense(10, activation="softmax")(x)
    m = keras.Model(inp, out)
    lines = _summary_lines(m)
    assert lines[0] == 'Model: "model"'
    assert any("input_1 (InputLayer)" in l and "[(None, 784)]" in l for l in lines)
    assert _totals(lines)["Total params"] == 200960 + 2570


def test_graph_disconnected_error():
    a = keras.Input(shape=(2,))
    b = keras.Input(shape=(2,))
    out = layers.Add()([a, b])
    with pytest.raises(ValueError, match="Graph disconnected"):
        keras.Model(a, out)


def test_keras_tensor_operators():
    inp = keras.Input(shape=(3,))
    out = layers.Dense(2, kernel_initializer="ones", bias_initializer="zeros")(inp) * 2 + 1
    m = keras.Model(inp, out)
    x = np.ones((2, 3), np.float32)
    np.testing.assert_allclose(m(x).numpy(), np.full((2, 2), 7.0))


def test_subclassed_model_and_custom_training_loop_gradients():
    class MLP(keras.Model):
        def __init__(self):
            super().__init__()
            self.d1 = layers.Dense(4, activation="relu")
            self.d2 = layers.Dense(1)

        def call(self, x, training=False):
            return self.d2(self.d1(x))

    m = MLP()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 3)).astype(np.float32)
    t = rng.standard_normal((6, 1)).astype(np.float32)
    y = m(x)
    assert m.name == "mlp" and len(m.trainable_variables) == 4
    W1, b1, W2, b2 = m.get_weights()
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(m(x) - t))
    grads = tape.gradient(loss, m.trainable_variables)
    # NumPy hand-derived backward.
    z1 = x @ W1 + b1
    h = np.maximum(z1, 0)
    out = h @ W2 + b2
    np.testing.assert_allclose(y.numpy(), out, rtol=1e-5, atol=1e-6)
    g_out = 2 * (out - t) / out.size
    gW2 = h.T @ g_out
    gb2 = g_out.sum(0)
    gh = g_out @ W2.T * (z1 > 0)
    gW1 = x.T @ gh
    gb1 = gh.sum(0)
    for g, r in zip(grads, [gW1, gb1, gW2, gb2]):
        np.testing.assert_allclose(g.numpy(), r, rtol=1e-4, atol=1e-6)
    lines = _summary_lines(m)
    assert _totals(lines)["Total params"] == 3 * 4 + 4 + 4 + 1


def test_sequential_config_roundtrip_and_json():
    m = mnist_mlp()
    cfg = m.get_config()
    assert cfg["name"] == "sequential"
    assert [l["class_name"] for l in cfg["layers"]] == ["InputLayer", "Dense", "Dense", "Dense"]
    assert cfg["layers"][0]["config"]["batch_input_shape"] == [None, 784]
    m2 = keras.Sequential.from_config(cfg)
    assert m2.count_params() == 269322
    assert [l.name for l in m2.layers] == ["dense", "dense_1", "dense_2"]
    js = json.loads(m.to_json())
    assert js["class_name"] == "Sequential" and js["config"]["layers"][1]["config"]["units"] == 256


def test_functional_config_roundtrip():
    a = keras.Input(shape=(4,), name="a")
    b = keras.Input(shape=(4,), name="b")
    shared = layers.Dense(3, name="shared")
    out = layers.Add(name="sum")([shared(a), shared(b)])
    m = keras.Model([a, b], out, name="twin")
    cfg = m.get_config()
    assert cfg["input_layers"] == [["a", 0, 0], ["b", 0, 0]]
    assert cfg["output_layers"] == [["sum", 0, 0]]
    sh = [l for l in cfg["layers"] if l["name"] == "shared"][0]
    assert sh["inbound_nodes"] == [[["a", 0, 0, {}]], [["b", 0, 0, {}]]]
    m2 = keras.Model.from_config(cfg)
    m2.set_weights(m.get_weights())
    x = [np.ones((2, 4), np.float32), np.full((2, 4), 2, np.float32)]
    np.testing.assert_allclose(m2(x).numpy(), m(x).numpy(), rtol=1e-6)
    assert type(m2).__name__ == "Functional" and m2.name == "twin"


def test_clone_model_new_weights_same_structure():
    m = mnist_mlp()
    c = keras.models.clone_model(m)
    assert c.count_params() == m.count_params()
    assert not np.allclose(c.get_weights()[0], m.get_weights()[0])
    inp = keras.Input(shape=(3,))
    f = keras.Model(inp, layers.Dense(2)(layers.Dense(4)(inp)))
    fc = keras.models.clone_model(f)
    assert fc.count_params() == f.count_params()
    fc.set_weights(f.get_weights())
    x = np.ones((2, 3), np.float32)
    np.testing.assert_allclose(fc(x).numpy(), f(x).numpy(), rtol=1e-6)


def test_get_set_weights_order_and_errors():
    m = mnist_mlp()
    ws = m.get_weights()
    assert [w.shape for w in ws] == [(784, 256), (256,), (256, 256), (256,), (256, 10), (10,)]
    m.set_weights([np.zeros_like(w) for w in ws])
    assert all(np.all(w == 0) for w in m.get_weights())
    with pytest.raises(ValueError):
        m.set_weights(ws[:-1])


def test_nested_models():
    inner = keras.Sequential([layers.Dense(4, activation="relu", input_shape=(3,))])
    inp = keras.Input(shape=(3,))
    out = layers.Dense(1)(inner(inp))
    m = keras.Model(inp, out)
    assert m(np.ones((2, 3), np.float32)).shape == (2, 1)
    assert len(m.weights) == 4
    outer = keras.Sequential([inner, layers.Dense(2)])
    assert outer(np.ones((5, 3), np.float32)).shape == (5, 2)


def test_predict_and_call_do_not_grow_memory():
    m = mnist_mlp()
    x = np.random.default_rng(0).random((8, 784)).astype(np.float32)
    import tracemalloc
    for _ in range(3):
        m.predict(x, verbose=0)
        m(x)
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for _ in range(15):
        m.predict(x, verbose=0)
        m(x)
    gc.collect()
    grown = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    assert grown < 1_000_000, grown


def test_summary_size_suffix_trainable_column_and_expand_nested():
    lines = _summary_lines(mnist_mlp())
    # Keras 3's size suffix: 269,322 float32 params = 1,077,288 bytes = 1.03 MB.
    assert "Total params: 269,322 (1.03 MB)" in lines
    assert "Trainable params: 269,322 (1.03 MB)" in lines
    assert "Non-trainable params: 0 (0.00 B)" in lines
    from nabi.keras.models._summary import readable_memory_size
    assert readable_memory_size(1023) == "1023.00 B" and readable_memory_size(2048) == "2.00 KB"

    inner = keras.Sequential([layers.Dense(4, input_shape=(3,), name="in_a"),
                              layers.Dense(2, name="in_b")], name="inner")
    inner.get_layer("in_a").trainable = False
    outer = keras.Sequential([inner, layers.Dense(1, name="head")])
    outer.build((None, 3))
    plain = "\n".join(_summary_lines(outer))
    assert "in_a" not in plain and "Trainable  " not in plain
    out = []
    outer.summary(print_fn=out.append, expand_nested=True, show_trainable=True)
    text = "\n".join(out)
    assert "Trainable" in out[2]
    a = [l for l in out if "in_a (Dense)" in l][0]
    b = [l for l in out if "in_b (Dense)" in l][0]
    assert a.startswith("|") and a.rstrip().endswith("|") and " N " in a and " Y " in b
    assert "(None, 4)" in a and "16" in a
    assert "Non-trainable params: 16 (64.00 B)" in text


def test_functional_input_and_output_shape():
    """Keras: a functional model's input_shape/output_shape are its tensors' shapes (a list
    for several); they raised AttributeError before."""
    K = keras
    i = K.Input((5,))
    o = K.layers.Dense(3)(i)
    m = K.Model(i, o)
    assert m.input_shape == (None, 5) and m.output_shape == (None, 3)
    i2 = K.Input((2, 4))
    m2 = K.Model([i, i2], [o, K.layers.Flatten()(i2)])
    assert m2.input_shape == [(None, 5), (None, 2, 4)]
    assert m2.output_shape == [(None, 3), (None, 8)]


def test_functional_layers_in_keras_depth_order():
    # Keras 2 lists a functional model's layers by decreasing depth (longest path to an
    # output), ties broken by the pre-order walk from the outputs: here the second input sits
    # with d1 (both depth 3); in a ResNet-style block the shortcut (Add's first input, so
    # first in the walk) sits between the main branch's layers of depth 2 and 1. Weight order
    # (get_weights, .h5 by position) follows it.
    from nabi import keras
    a = keras.Input((4,), name="a")
    b = keras.Input((3,), name="b")
    x = keras.layers.Dense(5, name="d1")(a)
    x = keras.layers.Dense(5, name="d2")(x)
    y = keras.layers.Dense(5, name="d3")(b)
    o = keras.layers.Dense(1, name="out")(keras.layers.Concatenate(name="cat")([x, y]))
    m = keras.Model([a, b], o)
    assert [l.name for l in m.layers] == ["a", "d1", "b", "d2", "d3", "cat", "out"]
    assert [w.shape for w in m.get_weights()][:2] == [(4, 5), (5,)]
    inp = keras.Input((8,), name="x")
    h = keras.layers.Dense(4, name="main_1")(inp)
    h = keras.layers.Dense(4, name="main_2")(h)
    s = keras.layers.Dense(4, name="shortcut")(inp)
    out = keras.layers.Add(name="add")([s, h])
    r = keras.Model(inp, out)
    assert [l.name for l in r.layers] == ["x", "main_1", "shortcut", "main_2", "add"]
    assert [w.shape for w in r.get_weights()] == [(8, 4), (4,), (8, 4), (4,), (4, 4), (4,)]
