"""Two custom layers registered under different packages with the same class name: saving
writes Keras 3's "registered_name" ("package>Name") and loading resolves it before the bare
class name, so each model gets back its own class (it silently got the first registered)."""
import numpy as np
import pytest

from nabi import keras


def _make(package, scale):
    @keras.saving.register_keras_serializable(package=package)
    class Twin(keras.layers.Layer):
        def __init__(self, a=1.0, **kwargs):
            super().__init__(**kwargs)
            self.a = a

        def call(self, x):
            return x * self.a + scale     # the class itself adds its own constant

        def get_config(self):
            config = super().get_config()
            config["a"] = self.a
            return config
    return Twin


TwinA = _make("twins_a", 100.0)
TwinB = _make("twins_b", -7.0)


@pytest.mark.parametrize("fmt", ["keras", "h5", "json"])
def test_same_name_classes_resolve_by_registered_name(tmp_path, fmt):
    x = np.array([[1.0, 2.0]], np.float32)
    for cls, shift in ((TwinB, -7.0), (TwinA, 100.0)):
        inp = keras.Input((2,))
        model = keras.Model(inp, cls(3.0)(inp))
        if fmt == "json":
            back = keras.models.model_from_json(model.to_json())
        else:
            path = str(tmp_path / f"twin_{shift}.{fmt}")
            model.save(path)
            back = keras.models.load_model(path)
        assert type(back.layers[1]) is cls
        np.testing.assert_allclose(back.predict(x, verbose=0), x * 3.0 + shift)


def test_layer_serialize_carries_registered_name():
    cfg = keras.layers.serialize(TwinB(2.0))
    assert cfg["class_name"] == "Twin" and cfg["registered_name"] == "twins_b>Twin"
    assert type(keras.layers.deserialize(cfg)) is TwinB
    assert "registered_name" not in keras.layers.serialize(keras.layers.Dense(2))


def _unregistered(scale):
    class Twin(keras.layers.Layer):          # same class name, not registered
        def call(self, x):
            return x + scale
    return Twin


@pytest.mark.parametrize("fmt", ["keras", "h5"])
def test_unregistered_class_is_not_taken_for_a_registered_namesake(tmp_path, fmt):
    """An unregistered class named like a registered one (another module's, another test
    file's) is saved by its plain name and loads as itself, without custom_objects; it
    silently came back as the registered namesake. A class defined again (a notebook cell run
    twice) replaces the earlier one, as the newest definition is the one in use."""
    x = np.array([[1.0, 2.0]], np.float32)
    for shift in (0.5, 4.0):                 # the second definition replaces the first
        cls = _unregistered(shift)
        inp = keras.Input((2,))
        model = keras.Model(inp, cls()(inp))
        path = str(tmp_path / f"plain_{shift}.{fmt}")
        model.save(path)
        back = keras.models.load_model(path)
        assert type(back.layers[1]) is cls
        np.testing.assert_allclose(back.predict(x, verbose=0), x + shift)
    cfg = keras.layers.serialize(cls())
    assert cfg["registered_name"] == "Twin"
