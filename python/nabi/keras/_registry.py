"""The serialize / deserialize / get plumbing that `losses`, `metrics`, `constraints` and
`regularizers` share: Keras 3 object dicts, class-name lookup, and the identifier rules."""


def serialize_object(obj, module):
    """An object with `get_config` -> its Keras 3 dict."""
    return {"module": module, "class_name": type(obj).__name__, "config": obj.get_config(),
            "registered_name": None}


def serialize_function(fn, funcs, module):
    """A built-in function (named in `funcs`) -> Keras' function dict, else None."""
    name = getattr(fn, "__name__", None)
    if name in funcs:
        return {"module": module, "class_name": "function", "config": name,
                "registered_name": name}
    return None


def from_class_dict(config, custom_objects, classes, where, kind):
    """Builds the object a `{"class_name": ..., "config": ...}` dict names: a class through its
    `from_config`, a function (`l1_l2`) by calling it with the config."""
    name = config.get("class_name")
    cls = (custom_objects or {}).get(name) or classes.get(name)
    if cls is None:   # load_model(custom_objects=...) / custom_object_scope / registered
        from .saving.object_registration import get_registered_object
        cls = get_registered_object(name, custom_objects)
    if cls is None:
        raise ValueError(f"[{where}.deserialize] unknown {kind} {name!r}")
    cfg = config.get("config", {})
    return cls.from_config(cfg) if isinstance(cls, type) else cls(**cfg)


def get_instance(identifier, classes, deserialize, where, kind):
    """`get` for constraints and regularizers: None, a config dict, a class name (an instance
    with the defaults), or a callable."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        c = classes.get(identifier)
        if c is None:   # a custom function saved by name (load_model's custom_objects)
            from .saving.object_registration import get_registered_object
            c = get_registered_object(identifier)
            if c is not None and not isinstance(c, type):
                return c
        if c is None:
            raise ValueError(f"[{where}.get] unknown {kind} {identifier!r}")
        return c()
    if callable(identifier):
        return identifier
    raise ValueError(f"[{where}.get] could not interpret {kind} {identifier!r}")
