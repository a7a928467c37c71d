"""Keras 2.15 Model/training/callback API details that ported notebooks use: the "lr"
history key, RemoteMonitor, predict on dict-output models, ... (numbers against NumPy)."""
import http.server
import json
import threading
import urllib.parse
import warnings

import numpy as np
import pytest

from nabi import keras
from nabi.keras import layers


@pytest.fixture(autouse=True)
def _fresh_names():
    keras.backend.clear_session()
    yield


def _data(n=32, d=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    y = (x @ rng.standard_normal((d, 1)).astype(np.float32) + 0.25).astype(np.float32)
    return x, y


def _linear(d=3, lr=0.1):
    m = keras.Sequential([layers.Input((d,)), layers.Dense(1)])
    m.compile(optimizer=keras.optimizers.SGD(lr), loss="mse")
    return m


# ---------------------------------------------------------------- learning-rate history key
def test_lr_scheduler_logs_keras2_lr_key():
    # Keras 2 writes logs["lr"] (history.history["lr"]); Keras 3 "learning_rate": both here
    x, y = _data()
    m = _linear()
    cb = keras.callbacks.LearningRateScheduler(lambda epoch, lr: 0.1 * 0.5 ** epoch)
    h = m.fit(x, y, epochs=3, batch_size=8, callbacks=[cb], verbose=0)
    np.testing.assert_allclose(h.history["lr"], 0.1 * 0.5 ** np.arange(3), rtol=1e-6)
    assert h.history["lr"] == h.history["learning_rate"]


def test_reduce_lr_on_plateau_logs_lr_before_reducing():
    x, y = _data()
    m = _linear(lr=0.2)
    m.optimizer.learning_rate = 0.0  # weights fixed: the loss never improves after epoch 0
    m.optimizer.learning_rate = 0.2
    cb = keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0,
                                           min_delta=1e9)
    h = m.fit(x, y, epochs=3, batch_size=32, callbacks=[cb], verbose=0)
    # epoch 0 improves on +inf; epochs 1 and 2 do not (min_delta) and halve the rate after
    # it was logged, as Keras does
    np.testing.assert_allclose(h.history["lr"], [0.2, 0.2, 0.1], rtol=1e-6)
    assert float(keras.backend.get_value(m.optimizer.learning_rate)) == pytest.approx(0.05)


# ---------------------------------------------------------------- RemoteMonitor
class _Recorder(http.server.BaseHTTPRequestHandler):
    posts = []

    def do_POST(self):  # noqa: N802
        n = int(self.headers.get("Content-Length", 0))
        type(self).posts.append((self.path, self.headers.get("Content-Type"),
                                 self.rfile.read(n).decode()))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    _Recorder.posts = []
    srv = http.server.HTTPServer(("127.0.0.1", 0), _Recorder)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", _Recorder.posts
    srv.shutdown()
    srv.server_close()


def test_remote_monitor_posts_form_field(server):
    root, posts = server
    x, y = _data()
    m = _linear()
    h = m.fit(x, y, epochs=2, batch_size=16, verbose=0,
              callbacks=[keras.callbacks.RemoteMonitor(root=root)])
    assert [p[0] for p in posts] == ["/publish/epoch/end/"] * 2
    for epoch, (_, ctype, body) in enumerate(posts):
        assert ctype == "application/x-www-form-urlencoded"
        sent = json.loads(urllib.parse.parse_qs(body)["data"][0])
        assert sent["epoch"] == epoch
        assert sent["loss"] == pytest.approx(h.history["loss"][epoch], rel=1e-6)


def test_remote_monitor_send_as_json(server):
    root, posts = server
    x, y = _data()
    m = _linear()
    m.fit(x, y, epochs=1, verbose=0, validation_data=(x, y),
          callbacks=[keras.callbacks.RemoteMonitor(root=root, path="/p", send_as_json=True,
                                                   headers={"X-Run": "7"})])
    (path, ctype, body), = posts
    assert path == "/p" and ctype == "application/json"
    assert set(json.loads(body)) == {"epoch", "loss", "val_loss"}


def test_remote_monitor_offline_only_warns():
    x, y = _data()
    m = _linear()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        # port 9 (discard) on localhost: nothing listens, the connection is refused at once
        h = m.fit(x, y, epochs=2, verbose=0,
                  callbacks=[keras.callbacks.RemoteMonitor(root="http://127.0.0.1:9")])
    assert len(h.history["loss"]) == 2
    assert any("could not reach RemoteMonitor root server" in str(i.message) for i in w)


# ---------------------------------------------------------------- dict outputs
def _dict_model():
    a = keras.Input((3,), name="a")
    b = keras.Input((2,), name="b")
    h = layers.Concatenate()([a, b])
    reg = layers.Dense(1, name="reg")(h)
    cls = layers.Dense(4, activation="softmax", name="cls")(h)
    return keras.Model(inputs={"a": a, "b": b}, outputs={"reg": reg, "cls": cls})


def _dict_reference(m, xa, xb):
    h = np.concatenate([xa, xb], axis=1).astype(np.float64)
    kr, br = m.get_layer("reg").get_weights()
    kc, bc = m.get_layer("cls").get_weights()
    z = h @ kc + bc
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return {"reg": h @ kr + br, "cls": e / e.sum(axis=1, keepdims=True)}


def test_predict_dict_outputs_returns_dict():
    # Keras 2: a functional model built with outputs={...} predicts a dict of arrays
    rng = np.random.default_rng(1)
    xa = rng.standard_normal((10, 3)).astype(np.float32)
    xb = rng.standard_normal((10, 2)).astype(np.float32)
    m = _dict_model()
    ref = _dict_reference(m, xa, xb)
    for out in (m.predict({"a": xa, "b": xb}, batch_size=3, verbose=0),
                m.predict_on_batch({"a": xa, "b": xb})):
        assert isinstance(out, dict) and set(out) == {"reg", "cls"}
        for k in ref:
            assert out[k].shape == ref[k].shape
            np.testing.assert_allclose(out[k], ref[k], rtol=1e-5, atol=1e-6)


def test_fit_dict_outputs_with_loss_dict_and_weights():
    rng = np.random.default_rng(2)
    xa = rng.standard_normal((16, 3)).astype(np.float32)
    xb = rng.standard_normal((16, 2)).astype(np.float32)
    yr = rng.standard_normal((16, 1)).astype(np.float32)
    yc = rng.integers(0, 4, 16)
    m = _dict_model()
    m.compile("sgd", loss={"reg": "mse", "cls": "sparse_categorical_crossentropy"},
              loss_weights={"reg": 0.5, "cls": 2.0})
    ref = _dict_reference(m, xa, xb)
    mse = np.mean((ref["reg"] - yr) ** 2)
    ce = -np.mean(np.log(ref["cls"][np.arange(16), yc]))
    r = m.evaluate({"a": xa, "b": xb}, {"reg": yr, "cls": yc}, return_dict=True, verbose=0)
    assert r["reg_loss"] == pytest.approx(mse, rel=1e-5)
    assert r["cls_loss"] == pytest.approx(ce, rel=1e-5)
    assert r["loss"] == pytest.approx(0.5 * mse + 2.0 * ce, rel=1e-5)


# ---------------------------------------------------------------- model.input / model.output
def test_model_input_output_structure():
    a = keras.Input((3,), name="a")
    b = keras.Input((2,), name="b")
    h = layers.Dense(4, name="h")(a)
    f = keras.Model(a, h)
    assert f.input is a and f.output is h                     # one input: the bare tensor
    g = keras.Model([a, b], [h, layers.Dense(1)(b)])
    assert isinstance(g.input, list) and [t is u for t, u in zip(g.input, [a, b])] == [1, 1]
    assert isinstance(g.output, list) and len(g.output) == 2
    d = _dict_model()
    assert isinstance(d.input, dict) and set(d.input) == {"a", "b"}
    assert isinstance(d.output, dict) and set(d.output) == {"reg", "cls"}
    s = keras.Sequential([layers.Input((3,)), layers.Dense(2)])
    assert s.input is s.inputs[0] and s.output is s.outputs[0]
    with pytest.raises(AttributeError, match="never been called"):
        keras.Sequential([layers.Dense(2)]).input   # no input shape yet: as Keras, no input


def test_feature_extractor_from_sequential_layers():
    # the transfer-learning idiom keras.Model(model.input, model.layers[i].output)
    x, _ = _data(n=7)
    m = keras.Sequential([layers.Input((3,)), layers.Dense(5, activation="relu"),
                          layers.Dense(1)])
    fe = keras.Model(inputs=m.input, outputs=m.layers[0].output)
    k, b = m.layers[0].get_weights()
    np.testing.assert_allclose(fe.predict(x, verbose=0), np.maximum(x @ k + b, 0), rtol=1e-5,
                               atol=1e-6)
    head = layers.Dense(2, name="head")(m.layers[0].output)
    t = keras.Model(m.input, head)
    m.layers[0].trainable = False
    t.compile("sgd", "mse")
    t.fit(x, np.zeros((7, 2), np.float32), epochs=1, verbose=0)
    np.testing.assert_array_equal(m.layers[0].get_weights()[0], k)  # frozen base unchanged


# ---------------------------------------------------------------- x given as [array]
def test_single_input_given_as_one_element_list():
    # Keras flattens x: fit([x], y) / predict([x]) on a one-input model use x itself
    x, y = _data(n=9)
    for m in (keras.Sequential([layers.Input((3,)), layers.Dense(1)]),
              keras.Sequential([layers.Dense(1)])):            # built by fit
        m.compile(keras.optimizers.SGD(0.0), "mse")
        h = m.fit([x], y, batch_size=9, verbose=0)
        k, b = m.layers[0].get_weights()
        ref = x.astype(np.float64) @ k + b
        assert h.history["loss"][0] == pytest.approx(np.mean((ref - y) ** 2), rel=1e-5)
        np.testing.assert_allclose(m.predict([x], verbose=0), ref, rtol=1e-5, atol=1e-6)
    # a list holding one sample's features is still a batch of one (the input rank says so)
    m = keras.Sequential([layers.Input((3,)), layers.Dense(1)])
    np.testing.assert_allclose(m.predict([x[0]], verbose=0), m.predict(x[:1], verbose=0))


# ---------------------------------------------------------------- interactive logging
def test_disable_interactive_logging_routes_progress_to_logger(capsys, caplog):
    x, y = _data(n=8)
    m = _linear()
    keras.utils.disable_interactive_logging()
    try:
        assert not keras.utils.is_interactive_logging_enabled()
        with caplog.at_level("INFO", logger="nabi.keras"):
            m.fit(x, y, epochs=2, verbose=2,
                  callbacks=[keras.callbacks.LearningRateScheduler(lambda e: 0.05, verbose=1)])
        assert capsys.readouterr().out == ""
        msgs = [r.getMessage() for r in caplog.records]
        assert "Epoch 2/2" in msgs and any("loss:" in s for s in msgs)
        assert any("setting learning rate to 0.05" in s for s in msgs)
    finally:
        keras.utils.enable_interactive_logging()
    m.fit(x, y, epochs=2, verbose=2)
    assert "Epoch 2/2" in capsys.readouterr().out
