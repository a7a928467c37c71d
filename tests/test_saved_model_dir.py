"""model.save('dir') (TF2 Keras's SavedModel default: no .keras/.h5 ending) and
tf.saved_model.save/load: nabi writes a directory holding the model as a .keras file and
reads it back with weights, compile state and optimizer state."""
import os

import numpy as np
import pytest

import nabi
from nabi import keras

from helpers import assert_array


def _model():
    m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="relu"),
                          keras.layers.Dense(1)])
    m.compile(keras.optimizers.Adam(0.01), "mse", metrics=["mae"])
    return m


def test_model_save_to_directory_round_trip_and_resume(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 3)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5], np.float32))[:, None]
    m = _model()
    m.fit(x, y, epochs=2, batch_size=8, verbose=0)
    d = tmp_path / "saved_model" / "my_model"
    m.save(str(d))                           # the TF tutorial's call
    assert os.path.isdir(d) and nabi.saved_model.contains_saved_model(d)
    r = keras.models.load_model(str(d))
    assert_array(r.predict(x, verbose=0), m.predict(x, verbose=0), atol=0)
    # the optimizer state came along: one more step from both gives the same weights
    m.train_on_batch(x[:8], y[:8])
    r.train_on_batch(x[:8], y[:8])
    for a, b in zip(m.get_weights(), r.get_weights()):
        assert_array(b, a, rtol=1e-6, atol=1e-7)
    # tf.saved_model.save / load, and save_format='tf' with any name
    nabi.saved_model.save(m, str(tmp_path / "exported"))
    loaded = nabi.saved_model.load(str(tmp_path / "exported"))
    assert_array(loaded(x), m(x), atol=0)
    m.save(str(tmp_path / "as_tf.keras_dir"), save_format="tf")
    assert os.path.isdir(tmp_path / "as_tf.keras_dir")
    with pytest.raises(FileExistsError, match=r"overwrite=False"):
        m.save(str(d), overwrite=False)


def test_saved_model_errors(tmp_path):
    m = _model()
    (tmp_path / "tf_saved").mkdir()
    (tmp_path / "tf_saved" / "saved_model.pb").write_bytes(b"\x08\x01")
    with pytest.raises(ValueError, match=r"\[load_model\].*written by TensorFlow.*\.keras"):
        keras.models.load_model(str(tmp_path / "tf_saved"))
    assert nabi.saved_model.contains_saved_model(tmp_path / "tf_saved")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"\[load_model\].*holds no saved model"):
        keras.models.load_model(str(tmp_path / "empty"))
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ValueError, match=r"\[save_model\].*is a file"):
        m.save(str(tmp_path / "afile"))
    with pytest.raises(ValueError, match=r"\[save_model\] unknown save_format='pb'"):
        m.save(str(tmp_path / "x"), save_format="pb")
    with pytest.raises(NotImplementedError, match=r"\[saved_model.save\].*Module"):
        nabi.saved_model.save(nabi.Module(), str(tmp_path / "mod"))
