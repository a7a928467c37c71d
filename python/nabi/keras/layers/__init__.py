"""`nabi.keras.layers`: the Keras layers, plus the layer registry used by (de)serialisation.

Layer files written by other engineers are imported tolerantly, so an unfinished file never
breaks `import nabi.keras`.
"""
import importlib as _importlib

from .base import InputSpec, KerasTensor, Layer, _LAYER_REGISTRY
from .core import (Activation, Dense, Dropout, Flatten, Identity, Input, InputLayer, Lambda,
                   Masking, Permute, Reshape, TFOpLambda)
from .merging import (Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply, Subtract, add,
                      average, concatenate, dot, maximum, minimum, multiply, subtract)

# Optional layer families (each module defines `__all__`); a missing or broken file is skipped.
_OPTIONAL = ("convolutional", "pooling", "normalization", "recurrent", "embedding", "embeddings",
             "reshaping", "regularization", "activation", "activations_layers", "attention",
             "preprocessing", "advanced_activations", "repeat_vector", "wrappers", "noise",
             "locally_connected", "misc", "text_vectorization", "conv_lstm")
_OPTIONAL_ERRORS = {}
for _m in _OPTIONAL:
    try:
        _mod = _importlib.import_module(f".{_m}", __name__)
    except ImportError as _e:
        if getattr(_e, "name", None) != f"{__name__}.{_m}":
            _OPTIONAL_ERRORS[_m] = _e
        continue
    except Exception as _e:  # noqa: BLE001 - a half-written file must not break the package
        _OPTIONAL_ERRORS[_m] = _e
        continue
    for _n in getattr(_mod, "__all__", [n for n in dir(_mod) if not n.startswith("_")]):
        _obj = getattr(_mod, _n, None)
        if _obj is not None and _n not in globals():
            globals()[_n] = _obj
del _m

# Keras aliases.
Concat = Concatenate
try:  # keras.layers.experimental.preprocessing (needs the optional preprocessing module)
    from . import experimental  # noqa: F401
except ImportError as _e:
    _OPTIONAL_ERRORS["experimental"] = _e


def get_layer_class(name, custom_objects=None):
    """The Layer class registered under `name` (a Keras class name), else KeyError."""
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    cls = _LAYER_REGISTRY.get(name)
    if cls is None:
        g = globals().get(name)
        if isinstance(g, type) and issubclass(g, Layer):
            cls = g
    if cls is None and name in ("Sequential", "Functional", "Model"):
        from .. import models
        cls = {"Sequential": models.Sequential, "Functional": models.Model,
               "Model": models.Model}[name]
    if cls is None:
        raise ValueError(f"[layers.deserialize] unknown layer class {name!r}; if it is a custom "
                         "layer, pass it in custom_objects or register it")
    return cls


def register_layer(cls, name=None):
    _LAYER_REGISTRY[name or cls.__name__] = cls
    return cls


def serialize(layer):
    """{"class_name": ..., "config": ...} for a layer (Keras layout), with the layer's
    "build_config" when its class defines its own get_build_config (Keras 3 saves it so that
    `deserialize` can call build_from_config, e.g. for a build() with extra arguments)."""
    out = {"class_name": type(layer).__name__, "config": layer.get_config()}
    from ..saving.object_registration import _GLOBAL_CUSTOM_NAMES
    registered = _GLOBAL_CUSTOM_NAMES.get(type(layer))
    if registered is None and not type(layer).__module__.startswith("nabi."):
        registered = type(layer).__name__    # Keras 3: an unregistered class by its own name
    if registered is not None:   # "package>Name": two registered classes may share a name
        out["registered_name"] = registered
    if getattr(layer, "built", False) and \
            getattr(type(layer), "get_build_config", None) is not Layer.get_build_config:
        bc = layer.get_build_config()
        if bc is not None:
            out["build_config"] = bc
    return out


def deserialize(config, custom_objects=None):
    """Rebuilds a layer (or model) from `serialize` output."""
    if isinstance(config, Layer):
        return config
    cls = None
    reg = config.get("registered_name")
    if reg and reg != config["class_name"]:   # Keras 3 names a registered class "package>Name"
        from ..saving.object_registration import _GLOBAL_CUSTOM_OBJECTS
        cls = (custom_objects or {}).get(reg) or _GLOBAL_CUSTOM_OBJECTS.get(reg)
    elif reg:
        # a plain registered_name: the writer's class was not registered (layers.serialize);
        # a registered class reached through its plain-name alias is another class
        from ..saving.object_registration import _GLOBAL_CUSTOM_NAMES
        cand = (custom_objects or {}).get(reg)
        if cand is not None and ">" in _GLOBAL_CUSTOM_NAMES.get(cand, ""):
            cls = _LAYER_REGISTRY.get(reg)
    if cls is None:
        cls = get_layer_class(config["class_name"], custom_objects)
    cfg = config.get("config", {})
    import inspect
    fc = cls.from_config
    try:
        params = inspect.signature(fc).parameters
    except (TypeError, ValueError):
        params = {}
    if "custom_objects" in params:
        layer = fc(cfg, custom_objects=custom_objects)
    else:
        layer = fc(cfg)
    bc = config.get("build_config")
    if bc and hasattr(layer, "build_from_config") and not layer.built:
        layer.build_from_config(bc)
    return layer


def __getattr__(name):
    if name in _OPTIONAL_ERRORS:
        raise AttributeError(f"module 'nabi.keras.layers' has no attribute {name!r} "
                             f"(optional layer module failed to import: {_OPTIONAL_ERRORS[name]})")
    raise AttributeError(f"module 'nabi.keras.layers' has no attribute {name!r}")
