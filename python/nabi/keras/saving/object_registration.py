"""Custom-object registration as Keras has it: `register_keras_serializable`,
`get_custom_objects`, `custom_object_scope`, and generic `serialize_keras_object` /
`deserialize_keras_object` (JSON-able dicts; never pickle)."""
import inspect
import threading

__all__ = ["register_keras_serializable", "get_custom_objects", "custom_object_scope",
           "CustomObjectScope", "get_registered_name", "get_registered_object",
           "serialize_keras_object", "deserialize_keras_object"]

_GLOBAL_CUSTOM_OBJECTS = {}   # registered name ("package>Name") and plain name -> object
_GLOBAL_CUSTOM_NAMES = {}     # object -> registered name
_scope = threading.local()


def _scope_stack():
    if not hasattr(_scope, "stack"):
        _scope.stack = []
    return _scope.stack


def get_custom_objects():
    """The global dict of custom objects; adding to it makes names known to deserialisation."""
    return _GLOBAL_CUSTOM_OBJECTS


def register_keras_serializable(package="Custom", name=None):
    """Class/function decorator: registers the object under `"package>name"` (and its plain
    name) so that `load_model` and `deserialize` find it without `custom_objects`."""
    def decorator(arg):
        class_name = name if name is not None else arg.__name__
        registered = f"{package}>{class_name}"
        if inspect.isclass(arg) and not hasattr(arg, "get_config"):
            raise ValueError("[register_keras_serializable] a registered class must implement "
                             "get_config()")
        _GLOBAL_CUSTOM_OBJECTS[registered] = arg
        _GLOBAL_CUSTOM_OBJECTS.setdefault(class_name, arg)
        _GLOBAL_CUSTOM_NAMES[arg] = registered
        return arg
    return decorator


def get_registered_name(obj):
    return _GLOBAL_CUSTOM_NAMES.get(obj, getattr(obj, "__name__", type(obj).__name__))


class CustomObjectScope:
    """`with custom_object_scope({"MyLayer": MyLayer}): load_model(...)`."""

    def __init__(self, *custom_objects):
        self.custom_objects = {}
        for d in custom_objects:
            if d:
                self.custom_objects.update(d)

    def __enter__(self):
        _scope_stack().append(self.custom_objects)
        return self

    def __exit__(self, *exc):
        _scope_stack().pop()
        return False


custom_object_scope = CustomObjectScope


def _all_custom_objects(custom_objects=None):
    objs = dict(_GLOBAL_CUSTOM_OBJECTS)
    for d in _scope_stack():
        objs.update(d)
    if custom_objects:
        objs.update(custom_objects)
    return objs


def get_registered_object(name, custom_objects=None, module_objects=None):
    """Looks `name` up in `custom_objects`, the active scopes, the global registry and then
    `module_objects`; None when it is unknown."""
    objs = _all_custom_objects(custom_objects)
    if name in objs:
        return objs[name]
    if module_objects and name in module_objects:
        return module_objects[name]
    return None


def serialize_keras_object(obj):
    """`{"class_name", "config", "registered_name", "module"}` for objects with get_config;
    a function's name for functions; plain JSON values as they are."""
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, (list, tuple)):
        return [serialize_keras_object(o) for o in obj]
    if isinstance(obj, dict):
        return {k: serialize_keras_object(v) for k, v in obj.items()}
    if hasattr(obj, "get_config") and not inspect.isclass(obj):
        cls = type(obj)
        return {"module": cls.__module__, "class_name": cls.__name__,
                "config": _jsonable(obj.get_config()),
                "registered_name": _GLOBAL_CUSTOM_NAMES.get(cls, cls.__name__)}
    if callable(obj):
        return _GLOBAL_CUSTOM_NAMES.get(obj, getattr(obj, "__name__", None)) or repr(obj)
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"[serialize_keras_object] cannot serialise {obj!r} "
                    f"(type {type(obj).__name__}): it has no get_config()")


def _jsonable(v):
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if hasattr(v, "as_list"):
        return v.as_list()
    if hasattr(v, "tolist") and not isinstance(v, (str, bytes)):
        return v.tolist()
    if hasattr(v, "name") and hasattr(v, "as_numpy_dtype") or type(v).__name__ == "DType":
        return v.name
    if hasattr(v, "get_config") and not inspect.isclass(v):
        return serialize_keras_object(v)
    return v


_KERAS_FAMILIES = ("layers", "losses", "metrics", "optimizers", "initializers",
                   "regularizers", "constraints", "activations", "models")


def _builtin_from_module(config):
    """Keras 2.15 resolves a built-in class through the config's "module" field (e.g.
    `{"module": "keras.layers", "class_name": "Dense"}`), so deserialize_keras_object works
    on a layer's own serialize_keras_object output without custom_objects."""
    import importlib
    name = config.get("class_name")
    module = config.get("module") or ""
    candidates = []
    if module.startswith("nabi."):
        candidates.append(module)
    parts = module.split(".")
    for fam in _KERAS_FAMILIES:
        if fam in parts:
            candidates.append("nabi.keras." + fam)
    for mod in candidates:
        try:
            obj = getattr(importlib.import_module(mod), name, None)
        except ImportError:
            obj = None
        if obj is not None and inspect.isclass(obj) and hasattr(obj, "get_config"):
            return obj
    return None


def deserialize_keras_object(config, module_objects=None, custom_objects=None,
                             printable_module_name="object"):
    """Inverse of `serialize_keras_object`: a name (looked up) or a `{"class_name", "config"}`
    dict (the class's `from_config`, else its constructor)."""
    if config is None:
        return None
    if isinstance(config, str):
        obj = get_registered_object(config, custom_objects, module_objects)
        if obj is None:
            raise ValueError(f"Unknown {printable_module_name}: {config!r}. Pass it in "
                             "`custom_objects` or register it with "
                             "@register_keras_serializable().")
        return obj
    if isinstance(config, dict) and "class_name" in config:
        cls = None
        for key in (config.get("registered_name"), config["class_name"]):
            if key:
                cls = get_registered_object(key, custom_objects, module_objects)
                if cls is not None:
                    break
        if cls is None:
            cls = _builtin_from_module(config)
        if cls is None:
            raise ValueError(f"Unknown {printable_module_name}: {config['class_name']!r}. Pass "
                             "it in `custom_objects` or register it with "
                             "@register_keras_serializable().")
        inner = config.get("config", {})
        if not inspect.isclass(cls):
            return cls
        if hasattr(cls, "from_config"):
            fc = cls.from_config
            try:
                params = inspect.signature(fc).parameters
            except (TypeError, ValueError):
                params = {}
            if "custom_objects" in params:
                return fc(inner, custom_objects=_all_custom_objects(custom_objects))
            with CustomObjectScope(custom_objects or {}):
                return fc(inner)
        return cls(**inner)
    if callable(config):
        return config
    raise ValueError(f"Could not interpret serialized {printable_module_name}: {config!r}")
