"""Saving objects that have no config: subclassed Keras models without `get_config` (the text
generation tutorial's `OneStep(tf.keras.Model)` holding a model and two StringLookups) and
`tf.Module` subclasses, for `tf.saved_model.save` / `load` and `model.save(dir)` /
`load_model`.

TensorFlow saves such an object as a graph and restores it without its Python class. nabi has
no graphs: it stores the class's import path (`module` + `qualname`), the constructor
arguments, and the object's variables (a `tf.train.Checkpoint` of the object), and loading
imports the class, calls it with those arguments and restores the variables into the new
object (deferred, as TF does, for layers that build on their first call). So:

- the class must be importable when loading (a module-level class of an importable module, or
  of `__main__` when the same script loads it), or be given in `custom_objects` /
  `custom_object_scope`; a class defined inside a function is found only that way;
- the constructor arguments must be known. They come from `record_init_args` (called at
  construction when the model base class records them) or, failing that, from attributes of
  the same name (`self.temperature = temperature`), `_name` too; parameters with a default may
  be missing. Arguments may be None/bool/int/float/str, lists/tuples/dicts of them, NumPy
  arrays or Tensors, DTypes, Keras layers/models with a config, and other objects of this
  kind (recursively). Otherwise saving warns and loading raises a ValueError that names the
  class and the reason;
- methods (`@tf.function def generate_one_step`) are the class's own code, so a changed class
  runs its new code on old variables; other attributes are what `__init__` makes of the
  arguments.

The saved `.keras` zip holds `config.json` (`"nabi_subclassed"`: the class path and the
arguments, objects numbered so that one shared object stays shared), `metadata.json` and the
checkpoint's two files under `variables/` (TF's SavedModel names, nabi's checkpoint format).
No pickle: arguments are JSON, values NumPy `.npz`.
"""
import importlib
import inspect
import io
import json
import os
import shutil
import tempfile
import warnings
import weakref
import zipfile

import numpy as np

from . import _common as C
from .object_registration import _all_custom_objects

KEY = "nabi_subclassed"
VARIABLES_PREFIX = "variables/variables"
_DATA_SUFFIX = ".data-00000-of-00001"

_INIT_ARGS = weakref.WeakKeyDictionary()   # object -> (args, kwargs) of its construction


def record_init_args(obj, args, kwargs):
    """Records the arguments `obj` was constructed with (for saving it without a config).
    Meant for the model base class's `__new__`; harmless to call more than once."""
    try:
        _INIT_ARGS[obj] = (tuple(args), dict(kwargs))
    except TypeError:   # not weak-referenceable
        pass


class _NotCaptured(Exception):
    """The constructor arguments cannot be stored; the message says why."""


def _model_cls():
    from ..models.model import Model
    return Model


def _layer_cls():
    from ..layers.base import Layer
    return Layer


def _module_cls():
    from ...framework.module import Module
    return Module


def needs_it(obj):
    """Whether `obj` is saved this way: a subclassed Keras model that does not override
    `get_config` (and is not a functional or Sequential model), or a tf.Module subclass that is
    not a Keras layer."""
    Model, Layer, Module = _model_cls(), _layer_cls(), _module_cls()
    if isinstance(obj, Model):
        if obj.__dict__.get("_is_graph_network") or "_seq_layers" in obj.__dict__:
            return False
        return type(obj).get_config is Model.get_config
    return isinstance(obj, Module) and not isinstance(obj, Layer) and type(obj) is not Module


# ------------------------------------------------------------------------ the arguments
def _user_class(obj):
    cls = type(obj)
    return cls.__dict__.get("_nabi_user_class", cls)


def _signature(cls):
    try:
        return inspect.signature(cls.__init__)
    except (TypeError, ValueError) as e:
        raise _NotCaptured(f"the signature of {cls.__name__}.__init__ cannot be read ({e})")


def _captured_call(obj):
    """(positional args, keyword args) to rebuild `obj`, or _NotCaptured."""
    cls = _user_class(obj)
    sig = _signature(cls)
    params = list(sig.parameters.values())[1:]   # without self
    rec = _INIT_ARGS.get(obj)
    if rec is not None:
        try:
            bound = sig.bind(None, *rec[0], **rec[1])
        except TypeError as e:
            raise _NotCaptured(f"its recorded constructor arguments do not fit its __init__ "
                               f"({e})") from None
        args, kwargs = [], {}
        for p in params:
            if p.name not in bound.arguments:
                continue
            v = bound.arguments[p.name]
            if p.kind is p.POSITIONAL_ONLY:
                args.append(v)
            elif p.kind is p.VAR_POSITIONAL:
                # the parameters before *args must then be passed by position too
                args = [bound.arguments[q.name] for q in params
                        if q.kind in (q.POSITIONAL_ONLY, q.POSITIONAL_OR_KEYWORD)
                        and q.name in bound.arguments] + list(v)
                for q in params:
                    if q.kind is q.POSITIONAL_OR_KEYWORD:
                        kwargs.pop(q.name, None)
            elif p.kind is p.VAR_KEYWORD:
                kwargs.update(v)
            else:
                kwargs[p.name] = v
        return args, kwargs
    # Not recorded: the attributes of the same name, as most subclasses keep them.
    d = obj.__dict__
    kwargs, missing = {}, []
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        for key in (p.name, "_" + p.name):
            if key in d:
                kwargs[p.name] = d[key]
                break
        else:
            if p.default is p.empty:
                missing.append(p.name)
    if missing:
        raise _NotCaptured(
            f"its constructor argument(s) {', '.join(repr(m) for m in missing)} were not "
            f"recorded when it was built and are not kept as attributes of the same name "
            f"(self.{missing[0]} = {missing[0]})")
    if any(p.kind is p.POSITIONAL_ONLY for p in params):
        raise _NotCaptured(f"{cls.__name__}.__init__ has positional-only parameters")
    return [], kwargs


class _Writer:
    """Serialises constructor arguments to JSON; objects are numbered (a shared one is stored
    once and referred to by number)."""

    def __init__(self):
        self.ids = {}
        self.keep = []   # keeps the numbered objects alive while ids may be reused

    def value(self, v, where):
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        if isinstance(v, np.generic):
            return v.item()
        if isinstance(v, list):
            return [self.value(x, f"{where}[{i}]") for i, x in enumerate(v)]
        if isinstance(v, tuple):
            return {"__nabi__": "tuple",
                    "items": [self.value(x, f"{where}[{i}]") for i, x in enumerate(v)]}
        if isinstance(v, dict):
            if not all(isinstance(k, str) for k in v):
                raise _NotCaptured(f"argument {where} is a dict with non-string keys")
            return {"__nabi__": "dict",
                    "items": {k: self.value(x, f"{where}[{k!r}]") for k, x in v.items()}}
        from ...framework.tensor import Tensor, Variable
        from ... import dtypes as _dt
        if isinstance(v, _dt.DType):
            return {"__nabi__": "dtype", "name": v.name}
        if isinstance(v, (_layer_cls(), _module_cls())):
            return self.obj(v, where)
        if isinstance(v, (np.ndarray, Tensor)):
            a = C.weight_value(v) if isinstance(v, Tensor) else v
            a = np.asarray(a)
            if a.dtype == object or a.dtype.kind in "SU":
                flat = [x.decode("latin-1") if isinstance(x, bytes) else str(x)
                        for x in a.reshape(-1)]
                kind = "bytes" if a.dtype.kind == "S" or (a.size and isinstance(
                    a.reshape(-1)[0], bytes)) else "str"
                return {"__nabi__": "array", "dtype": kind, "shape": list(a.shape),
                        "value": flat, "variable": isinstance(v, Variable)}
            if a.dtype.kind not in "biuf":
                raise _NotCaptured(f"argument {where} is an array of dtype {a.dtype}")
            return {"__nabi__": "array", "dtype": a.dtype.name, "shape": list(a.shape),
                    "value": a.reshape(-1).tolist(), "variable": isinstance(v, Variable)}
        raise _NotCaptured(f"argument {where} is a {type(v).__module__}.{type(v).__name__}, "
                           "which nabi cannot store (it stores numbers, strings, lists, "
                           "tuples, dicts, arrays, Keras layers and models, and tf.Modules)")

    def obj(self, v, where):
        if id(v) in self.ids:
            return {"__nabi__": "ref", "id": self.ids[id(v)]}
        n = self.ids[id(v)] = len(self.ids)
        self.keep.append(v)
        if needs_it(v):
            try:
                spec = self.describe(v)
            except _NotCaptured as e:
                raise _NotCaptured(f"argument {where} ({type(v).__name__}): {e}") from None
            return {"__nabi__": "object", "id": n, **spec}
        if not hasattr(v, "get_config"):
            raise _NotCaptured(f"argument {where} is a {type(v).__name__} without get_config")
        if isinstance(v, _model_cls()):
            cfg = C.model_config(v)
        else:
            from .object_registration import serialize_keras_object
            cfg = json.loads(C.to_json(serialize_keras_object(v)))
            cfg.setdefault("module", type(v).__module__)
        return {"__nabi__": "keras", "id": n, "config": cfg}

    def describe(self, obj):
        cls = _user_class(obj)
        args, kwargs = _captured_call(obj)
        spec = {"module": cls.__module__, "qualname": cls.__qualname__,
                "class_name": cls.__name__,
                "name": getattr(obj, "name", None) if isinstance(obj, _layer_cls()) else None,
                "args": [self.value(a, f"#{i}") for i, a in enumerate(args)],
                "kwargs": {k: self.value(a, repr(k)) for k, a in kwargs.items()}}
        bc = C.build_config(obj) if isinstance(obj, _model_cls()) and obj.built else None
        if bc:
            spec["build_config"] = bc
        return spec


def _resolve_class(spec, custom_objects, op):
    name, module, qualname = spec["class_name"], spec["module"], spec["qualname"]
    objs = _all_custom_objects(custom_objects)
    for key in (qualname, name):
        if isinstance(objs.get(key), type):
            return objs[key]
    why = ("nabi rebuilds such an object from its Python class (TensorFlow restores a "
           "SavedModel without it, from the saved graph; nabi saves no graph)")
    hint = (f"define {name} at module level in an importable module, or pass it as "
            f"custom_objects={{'{name}': {name}}} (or inside keras.utils.custom_object_scope)")
    if "<locals>" in qualname:
        raise ValueError(f"[{op}] cannot restore {module}.{qualname}: the class was defined "
                         f"inside a function, so it cannot be imported when loading; {why}. "
                         f"Pass it as custom_objects={{'{name}': {name}}} (or inside "
                         "keras.utils.custom_object_scope), or define it at module level")
    try:
        cls = importlib.import_module(module)
    except ImportError as e:
        raise ValueError(f"[{op}] cannot restore {module}.{qualname}: its module {module!r} "
                         f"cannot be imported ({e}); {why}. {hint[0].upper() + hint[1:]}") \
            from None
    for part in qualname.split("."):
        cls = getattr(cls, part, None)
        if cls is None:
            where = ("the running program's __main__" if module == "__main__"
                     else f"module {module!r}")
            raise ValueError(f"[{op}] cannot restore {module}.{qualname}: {where} has no "
                             f"class {qualname!r}; {why}. {hint[0].upper() + hint[1:]}")
    if not (isinstance(cls, type) and issubclass(cls, (_layer_cls(), _module_cls()))):
        raise ValueError(f"[{op}] {module}.{qualname} is not a Keras model/layer or tf.Module "
                         "class")
    return cls


class _Reader:
    def __init__(self, custom_objects, op):
        self.custom_objects = custom_objects
        self.op = op
        self.objs = {}

    def value(self, v):
        if isinstance(v, list):
            return [self.value(x) for x in v]
        if not isinstance(v, dict):
            return v
        tag = v.get("__nabi__")
        if tag == "tuple":
            return tuple(self.value(x) for x in v["items"])
        if tag == "dict":
            return {k: self.value(x) for k, x in v["items"].items()}
        if tag == "dtype":
            from ... import dtypes as _dt
            return _dt.as_dtype(v["name"])
        if tag == "array":
            return self.array(v)
        if tag == "ref":
            return self.objs[v["id"]]
        if tag == "keras":
            o = C.model_from_config(v["config"], self.custom_objects)
            self.objs[v["id"]] = o
            return o
        if tag == "object":
            o = self.build(v)
            self.objs[v["id"]] = o
            return o
        raise ValueError(f"[{self.op}] unknown stored argument {str(v)[:100]}")

    def array(self, v):
        from ...framework.tensor import Variable
        from ... import constant
        if v["dtype"] in ("bytes", "str"):
            flat = [x.encode("latin-1") for x in v["value"]] if v["dtype"] == "bytes" \
                else list(v["value"])
            a = np.empty(len(flat), dtype=object)
            a[:] = flat
            a = a.reshape(v["shape"])
        else:
            a = np.array(v["value"], dtype=v["dtype"]).reshape(v["shape"])
        return Variable(a) if v.get("variable") else constant(a)

    def build(self, spec):
        cls = _resolve_class(spec, self.custom_objects, self.op)
        args = [self.value(a) for a in spec["args"]]
        kwargs = {k: self.value(a) for k, a in spec["kwargs"].items()}
        try:
            obj = cls(*args, **kwargs)
        except Exception as e:
            raise type(e)(f"[{self.op}] rebuilding {spec['module']}.{spec['qualname']} from its "
                          f"stored constructor arguments {sorted(kwargs)} failed: {e}") from e
        if spec.get("name") and isinstance(obj, _layer_cls()):
            obj.name = spec["name"]
        record_init_args(obj, args, kwargs)
        if spec.get("build_config") and isinstance(obj, _model_cls()):
            _try_build(obj, spec["build_config"])
        return obj


def _try_build(model, build_config):
    """Builds a rebuilt model from its saved input shape, so that its variables exist (and are
    restored) before its first call, as TF's restored object has them. A model whose call
    cannot run on the placeholder input (zeros of the layer dtype) builds on its first real
    call instead; its values wait for it (deferred restore)."""
    if model.built or not build_config.get("input_shape"):
        return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.build(build_config["input_shape"])
    except Exception:  # noqa: BLE001 -- see the docstring
        model.__dict__["built"] = False


# ------------------------------------------------------------------------ save / load
def config_of(obj):
    """The `config.json` content for `obj`: the class path and the constructor arguments, or
    the reason they cannot be stored (warned now, raised when loading)."""
    cls = _user_class(obj)
    try:
        spec = _Writer().describe(obj)
    except _NotCaptured as e:
        warnings.warn(f"[save] {cls.__module__}.{cls.__qualname__} has no get_config and "
                      f"{e}; the saved file cannot be loaded. Keep the constructor arguments "
                      "as attributes of the same name, or implement get_config/from_config.",
                      stacklevel=4)
        spec = {"module": cls.__module__, "qualname": cls.__qualname__,
                "class_name": cls.__name__, "error": str(e)}
    cfg = {"module": cls.__module__, "class_name": cls.__name__, KEY: spec}
    if isinstance(obj, _model_cls()):
        cfg["config"] = C.model_config(obj)["config"]
        cc = C.compile_config(obj)
        if cc is not None:
            cfg["compile_config"] = cc
        bc = C.build_config(obj)
        if bc is not None:
            cfg["build_config"] = bc
    return cfg


def save(obj, filepath, overwrite=True, include_optimizer=True):
    """Writes `obj` (see `needs_it`) as a `.keras` zip at `filepath`."""
    from ... import train
    from . import saving_lib
    cfg = config_of(obj)
    metadata = {"keras_version": C.KERAS_VERSION, "nabi_version": C.nabi_version(),
                "format": "nabi subclassed object (class path, constructor arguments, "
                          "checkpoint)"}
    tmpdir = tempfile.mkdtemp(prefix="nabi_save_")
    try:
        prefix = os.path.join(tmpdir, "variables")
        # the object's attributes, the optimizer of a compiled model included (its state is
        # saved even with include_optimizer=False: the checkpoint follows the attributes)
        train.Checkpoint(root=obj).write(prefix)
        with C.atomic_path(filepath, overwrite) as tmp:
            with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as z:
                z.writestr(saving_lib.METADATA, json.dumps(metadata, indent=2))
                z.writestr(saving_lib.CONFIG, C.to_json(cfg))
                z.write(prefix + ".index", VARIABLES_PREFIX + ".index")
                z.write(prefix + _DATA_SUFFIX, VARIABLES_PREFIX + _DATA_SUFFIX)
                weights = _weights_h5(obj, include_optimizer)
                if weights is not None:
                    z.writestr(saving_lib.WEIGHTS, weights)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def _weights_h5(model, include_optimizer):
    """The usual weights file of a model (model.load_weights("x.keras") reads it), or None
    (a tf.Module; no h5py; layer names that repeat): loading needs only the checkpoint."""
    if not isinstance(model, _model_cls()):
        return None
    from . import saving_lib
    try:
        h5py = C.h5py()
        buf = io.BytesIO()
        with h5py.File(buf, "w", track_order=True) as f:
            saving_lib.write_weights_store(f, model, include_optimizer=include_optimizer)
    except (ImportError, ValueError):
        return None
    return buf.getvalue()


def load(config, z, filepath, custom_objects=None, compile=True, op="load_model"):
    """Rebuilds the object described by `config` (from the open zip `z`) and restores its
    variables."""
    from ... import train
    spec = config[KEY]
    if "error" in spec:
        raise ValueError(f"[{op}] cannot restore {spec['module']}.{spec['qualname']} from "
                         f"{filepath}: it has no get_config and {spec['error']}. nabi rebuilds "
                         "such an object by calling its class with its constructor arguments "
                         "(TensorFlow restores a SavedModel without the Python class, from its "
                         "graph): keep the arguments as attributes of the same name, or "
                         "implement get_config/from_config, and save it again")
    obj = _Reader(custom_objects, op).build(spec)
    cc = config.get("compile_config")
    if compile and cc and isinstance(obj, _model_cls()):
        C.compile_from_config(obj, cc, custom_objects)
    names = set(z.namelist())
    if VARIABLES_PREFIX + ".index" in names:
        tmpdir = tempfile.mkdtemp(prefix="nabi_load_")
        try:
            prefix = os.path.join(tmpdir, "variables")
            with open(prefix + ".index", "wb") as fh:
                fh.write(z.read(VARIABLES_PREFIX + ".index"))
            with open(prefix + _DATA_SUFFIX, "wb") as fh:
                fh.write(z.read(VARIABLES_PREFIX + _DATA_SUFFIX))
            # values of layers that build on their first call wait for their variables
            train.Checkpoint(root=obj).read(prefix)
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)
    return obj


def is_subclassed_config(config):
    return isinstance(config, dict) and KEY in config


__all__ = ["record_init_args", "needs_it", "save", "load"]
