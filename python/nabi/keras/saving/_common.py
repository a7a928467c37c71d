"""Shared pieces of the savers: h5py import, atomic writes, JSON encoding, model (de)serialisation,
compile configuration, weight matching with clear errors, optimizer state."""
import contextlib
import json
import os
import tempfile
import warnings

import numpy as np

from ...framework.device import to_device
from .object_registration import (CustomObjectScope, _all_custom_objects,
                                  get_registered_object)

KERAS_VERSION = "3.3.3"      # the Keras layout written by the .keras saver
KERAS2_VERSION = "2.15.0"    # the Keras layout written by the legacy .h5 saver


def h5py():
    try:
        import h5py as _h5py
    except ImportError:
        raise ImportError("Saving and loading .keras / .h5 / .weights.h5 files needs h5py: "
                          "`pip install h5py` (it is in nabi's `test` extra: "
                          "`pip install nabi[test]`).") from None
    return _h5py


def nabi_version():
    from ... import __version__
    return __version__


# --------------------------------------------------------------------------------------------
# Files

@contextlib.contextmanager
def atomic_path(filepath, overwrite=True):
    """Yields a temporary path in `filepath`'s directory; on success it replaces `filepath`
    (os.replace), on failure it is removed and `filepath` is left untouched."""
    filepath = os.fspath(filepath)
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"{filepath} exists and overwrite=False")
    d = os.path.dirname(os.path.abspath(filepath))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(filepath) + ".", suffix=".tmp",
                               dir=d)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, filepath)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def file_kind(filepath):
    """'zip', 'hdf5' or None, from the file's magic bytes."""
    with open(filepath, "rb") as f:
        head = f.read(8)
    if head[:4] == b"PK\x03\x04":
        return "zip"
    if head == b"\x89HDF\r\n\x1a\n":
        return "hdf5"
    return None


class _Encoder(json.JSONEncoder):
    def default(self, o):
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, (set, frozenset)):
            return sorted(o)
        if hasattr(o, "as_list"):
            return o.as_list()
        if type(o).__name__ == "DType" and hasattr(o, "name"):
            return o.name
        if hasattr(o, "get_config"):
            from .object_registration import serialize_keras_object
            return serialize_keras_object(o)
        if callable(o) and hasattr(o, "__name__"):
            return o.__name__
        return super().default(o)


def to_json(obj, **kw):
    return json.dumps(obj, cls=_Encoder, **kw)


# --------------------------------------------------------------------------------------------
# Models from configs

def model_config(model):
    """`{"class_name", "config"}` of the model, Keras layout."""
    try:
        inner = model.get_config()
    except NotImplementedError:
        raise NotImplementedError(
            f"Model {getattr(model, 'name', '')!r} ({type(model).__name__}) does not implement "
            "get_config(), so its architecture cannot be saved: implement get_config (and "
            "from_config if needed), or save the weights only with save_weights().") from None
    cls = type(model)
    cls = cls.__dict__.get("_nabi_user_class", cls)  # see functional.functional_subclass
    name = cls.__name__
    if name == "Model" and inner and "layers" in inner and "input_layers" in inner:
        name = "Functional"
    from .object_registration import _GLOBAL_CUSTOM_NAMES
    module, registered = cls.__module__, _GLOBAL_CUSTOM_NAMES.get(cls, name)
    if module.startswith("nabi.keras.") and cls not in _GLOBAL_CUSTOM_NAMES:
        # the module and registered name Keras 3 writes, by which it finds its classes
        module, registered = (("keras.src.models.functional", "Functional")
                              if name == "Functional" else ("keras", None))
    return json.loads(to_json({"module": module, "class_name": name, "config": inner,
                               "registered_name": registered}))


_KERAS3_MODULES = (("layers", "keras.layers"), ("initializers", "keras.initializers"),
                   ("regularizers", "keras.regularizers"), ("constraints", "keras.constraints"))


# nabi's op layers (TFOpLambda) that Keras 3 has as ops: function -> (class, constructor
# arguments). Operators are named by their Keras 2 TF symbol.
_KERAS3_OPS = {
    **{f: (cls, ()) for f, cls in (
        ("add", "Add"), ("subtract", "Subtract"), ("multiply", "Multiply"),
        ("divide", "Divide"), ("true_divide", "TrueDivide"), ("power", "Power"),
        ("matmul", "Matmul"), ("negative", "Negative"), ("absolute", "Absolute"),
        ("abs", "Absolute"), ("maximum", "Maximum"), ("minimum", "Minimum"),
        ("equal", "Equal"), ("not_equal", "NotEqual"), ("less", "Less"),
        ("greater", "Greater"), ("less_equal", "LessEqual"),
        ("greater_equal", "GreaterEqual"), ("exp", "Exp"), ("log", "Log"), ("sqrt", "Sqrt"),
        ("square", "Square"), ("tanh", "Tanh"), ("sin", "Sin"), ("cos", "Cos"),
        ("logical_and", "LogicalAnd"), ("logical_or", "LogicalOr"),
        ("logical_not", "LogicalNot"), ("get_item", "GetItem"))},
    "mean": ("Mean", ("axis", "keepdims")), "sum": ("Sum", ("axis", "keepdims")),
    "max": ("Max", ("axis", "keepdims")), "min": ("Min", ("axis", "keepdims")),
    "concatenate": ("Concatenate", ("axis",)), "expand_dims": ("ExpandDims", ("axis",)),
    "squeeze": ("Squeeze", ("axis",)), "transpose": ("Transpose", ("axes",)),
    "reshape": ("Reshape", ("newshape",)),
}
_TF_OPERATORS = {"__operators__.add": "add", "math.add": "add", "math.subtract": "subtract",
                 "math.multiply": "multiply", "math.truediv": "true_divide",
                 "math.pow": "power", "linalg.matmul": "matmul", "math.negative": "negative",
                 "math.abs": "absolute", "__operators__.getitem": "get_item"}


def _keras3_op(entry):
    """nabi's op layer entry as Keras 3's op entry (module keras.src.ops.numpy), or None when
    Keras 3 has no such op or the arguments do not fit it (the entry stays as it is and
    Keras 3 refuses it by name)."""
    cfg = entry.get("config") or {}
    sym = str(cfg.get("symbol") or "")
    fn = _TF_OPERATORS.get(sym) or (sym[len("keras.ops."):]
                                    if sym.startswith("keras.ops.") else None)
    if fn not in _KERAS3_OPS:
        return None
    cls, ctor = _KERAS3_OPS[fn]
    nodes = entry.get("inbound_nodes") or []
    if len(nodes) != 1 or not isinstance(nodes[0], list):
        return None
    refs = nodes[0]
    kwargs = dict(cfg.get("op_kwargs") or {})
    args = list(cfg.get("op_args") or [])
    ctor_cfg = {k: kwargs.pop(k) for k in ctor if k in kwargs}
    if kwargs:
        return None
    n_tensor = [0]

    def conv(a):
        if isinstance(a, dict) and "__keras_tensor__" in a:
            r = refs[a["__keras_tensor__"]]
            n_tensor[0] += 1
            return {"class_name": "__keras_tensor__",
                    "config": {"shape": [], "dtype": "float32",   # placeholders: Keras
                               "keras_history": [r[0], r[1], r[2]]}}   # links the tensor
        if isinstance(a, dict) and "__slice__" in a:
            st = a["__slice__"]
            return {"class_name": "__slice__",
                    "config": {"start": st[0], "stop": st[1], "step": st[2]}}
        if isinstance(a, dict) and "__tuple__" in a:
            return [conv(b) for b in a["__tuple__"]]
        if isinstance(a, list):
            return [conv(b) for b in a]
        if a is None or isinstance(a, (bool, int, float, str)):
            return a
        raise TypeError
    try:
        args = conv(args)
    except TypeError:
        return None
    if ctor and len(args) > 1:   # a constructor argument given by position
        return None
    return {"module": "keras.src.ops.numpy", "class_name": cls,
            "config": {"name": entry.get("name", cfg.get("name")), **ctor_cfg},
            "registered_name": cls, "name": entry.get("name", cfg.get("name")),
            "inbound_nodes": [{"args": args, "kwargs": {}}]}


def _keras3_mha_node(node):
    """nabi files a MultiHeadAttention call as the list [query, value, key]; Keras 3 calls
    the layer with what the node holds, so it gets mha(query, value, key=key)."""
    if not isinstance(node, list) or len(node) not in (2, 3) or \
            any(not isinstance(r, list) or len(r) < 3 for r in node):
        return node
    kwargs = dict(node[0][3]) if len(node[0]) > 3 and isinstance(node[0][3], dict) else {}

    def kt(r):
        return {"class_name": "__keras_tensor__",
                "config": {"shape": [], "dtype": "float32", "keras_history": list(r[:3])}}
    if len(node) == 3:
        kwargs["key"] = kt(node[2])
    return {"args": [kt(node[0]), kt(node[1])], "kwargs": kwargs}


def keras3_annotate(obj):
    """Adds Keras 3's `module` / `registered_name` to every serialised object in a config
    (nabi writes Keras 2's `{"class_name", "config"}`): Keras 3 finds a built-in class by its
    module (a Bidirectional's inner LSTM, an initializer given as a dict) and a registered
    custom class by its registered name ("package>Name"); a string input's dtype is "string"."""
    import importlib
    from .object_registration import _GLOBAL_CUSTOM_NAMES, _GLOBAL_CUSTOM_OBJECTS
    if isinstance(obj, list):
        return [keras3_annotate(v) for v in obj]
    if not isinstance(obj, dict):
        return obj
    out = {k: keras3_annotate(v) for k, v in obj.items()}
    name = out.get("class_name")
    if not isinstance(name, str) or not isinstance(out.get("config"), dict) or \
            name.startswith("__"):
        return out
    if name == "InputLayer" and out["config"].get("dtype") == "object":
        out["config"] = {**out["config"], "dtype": "string"}
    if name in ("Sequential", "Functional"):
        layers = out["config"].get("layers") or []
        for i, lc in enumerate(layers):
            if isinstance(lc, dict) and lc.get("class_name") == "TFOpLambda":
                layers[i] = _keras3_op(lc) or lc
            elif isinstance(lc, dict) and lc.get("class_name") == "MultiHeadAttention":
                lc["inbound_nodes"] = [_keras3_mha_node(n) for n in lc.get("inbound_nodes", [])]
        if any(isinstance(lc, dict) and lc.get("class_name") == "InputLayer" for lc in layers):
            # Keras 3 layers refuse Keras 2's batch_input_shape (nabi's Embedding always has
            # one); the model's InputLayer carries the shape
            for lc in layers:
                if isinstance(lc, dict) and lc.get("class_name") != "InputLayer" and \
                        isinstance(lc.get("config"), dict):
                    lc["config"].pop("batch_input_shape", None)
    if "module" in out and "registered_name" in out:
        return out
    reg = out.get("registered_name")
    # a plain registered_name is an unregistered class named by its own class (layers.
    # serialize): the registry's entry under that plain name may be another class
    custom = None if reg and ">" not in reg else _GLOBAL_CUSTOM_OBJECTS.get(reg or name)
    if custom is not None and custom in _GLOBAL_CUSTOM_NAMES:
        out.setdefault("module", None)   # as Keras 3: found by its registered name
        out["registered_name"] = _GLOBAL_CUSTOM_NAMES[custom]
        return out
    if name in ("Sequential", "Functional"):
        out.setdefault("module", "keras" if name == "Sequential" else
                       "keras.src.models.functional")
        out.setdefault("registered_name", None if name == "Sequential" else "Functional")
        return out
    for sub, module in _KERAS3_MODULES:
        mod = importlib.import_module(f"..{sub}", __package__)
        if isinstance(getattr(mod, name, None), type):
            out.setdefault("module", module)
            out.setdefault("registered_name", None)
            break
    return out


def model_from_config(config, custom_objects=None):
    """A model (or layer) from `{"class_name", "config"}`."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"[model_from_config] expected a dict with 'class_name' and 'config', "
                         f"got {str(config)[:200]}")
    cls_name = config["class_name"]
    inner = config.get("config", {})
    objs = _all_custom_objects(custom_objects)
    with CustomObjectScope(custom_objects or {}):
        cls = None
        for key in (config.get("registered_name"), cls_name):
            if key and key in objs:
                cls = objs[key]
                break
        if cls is None:
            from .. import models as M
            if cls_name == "Sequential":
                cls = M.Sequential
            elif cls_name in ("Functional", "Model"):
                cls = M.Model
        if cls is not None:
            return _call_from_config(cls, inner, objs)
        from .. import layers as L
        deser = getattr(L, "deserialize", None)
        if deser is None:
            raise ValueError(f"Unknown model class {cls_name!r}: pass it in custom_objects")
        return deser(config, custom_objects=objs)


def _call_from_config(cls, inner, objs):
    import inspect
    fc = getattr(cls, "from_config", None)
    if fc is None:
        return cls(**inner)
    try:
        params = inspect.signature(fc).parameters
    except (TypeError, ValueError):
        params = {}
    if "custom_objects" in params:
        return fc(inner, custom_objects=objs)
    return fc(inner)


# --------------------------------------------------------------------------------------------
# Compile configuration

def _ser_fn_or_obj(v, module_name):
    if v is None or isinstance(v, (str, int, float, bool)):
        return v
    if isinstance(v, dict):
        return {k: _ser_fn_or_obj(x, module_name) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_ser_fn_or_obj(x, module_name) for x in v]
    import importlib
    try:
        mod = importlib.import_module(f"..{module_name}", __package__)
        ser = getattr(mod, "serialize", None)
    except ImportError:
        ser = None
    if ser is not None:
        try:
            out = ser(v)
            json.dumps(out, cls=_Encoder)
            return json.loads(to_json(out))
        except Exception:  # noqa: BLE001
            pass
    from .object_registration import serialize_keras_object
    return json.loads(to_json(serialize_keras_object(v)))


def compile_config(model):
    """The model's compile arguments as a JSON-able dict (Keras 3 `compile_config` layout), or
    None when the model is not compiled."""
    opt = getattr(model, "optimizer", None)
    get_cc = getattr(model, "get_compile_config", None)
    cc = None
    if get_cc is not None:
        try:
            cc = get_cc()
        except Exception:  # noqa: BLE001
            cc = None
    if cc is None:
        cc = getattr(model, "_compile_config", None)
        if cc is not None and hasattr(cc, "config") and not isinstance(cc, dict):
            cc = cc.config
    if cc is None and opt is None:
        return None
    cc = dict(cc or {})
    for key, default in (("run_eagerly", False), ("steps_per_execution", 1),
                         ("jit_compile", False)):   # Keras 3 compares these with numbers
        if cc.get(key) is None:
            cc[key] = default
    if opt is not None or "optimizer" in cc:
        cc["optimizer"] = serialize_optimizer(opt if opt is not None else cc["optimizer"])
    for key, mod in (("loss", "losses"), ("metrics", "metrics"),
                     ("weighted_metrics", "metrics")):
        if key in cc:
            cc[key] = _ser_fn_or_obj(cc[key], mod)
    return json.loads(to_json(cc))


def serialize_optimizer(opt):
    if opt is None or isinstance(opt, str):
        return opt
    if isinstance(opt, dict):
        return opt
    from .. import optimizers as O
    ser = getattr(O, "serialize", None)
    if ser is not None:
        return json.loads(to_json(ser(opt)))
    return {"class_name": type(opt).__name__, "config": json.loads(to_json(opt.get_config()))}


def deserialize_optimizer(cfg, custom_objects=None):
    from .. import optimizers as O
    if isinstance(cfg, dict) and "class_name" in cfg:
        objs = _all_custom_objects(custom_objects)
        for key in (cfg.get("registered_name"), cfg["class_name"]):
            if key and key in objs:
                return _call_from_config(objs[key], cfg.get("config", {}), objs)
        return O.deserialize(cfg, custom_objects=custom_objects) if _accepts_co(O.deserialize) \
            else O.deserialize(cfg)
    return O.get(cfg)


def _accepts_co(fn):
    import inspect
    try:
        return "custom_objects" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def _deser_fn_or_obj(v, module_name, custom_objects):
    if v is None or isinstance(v, (int, float, bool)):
        return v
    if isinstance(v, list):
        return [_deser_fn_or_obj(x, module_name, custom_objects) for x in v]
    if isinstance(v, dict) and "class_name" not in v:
        return {k: _deser_fn_or_obj(x, module_name, custom_objects) for k, x in v.items()}
    objs = _all_custom_objects(custom_objects)
    if isinstance(v, str):
        return objs.get(v, v)   # built-in names stay strings: compile() resolves them
    for key in (v.get("registered_name"), v["class_name"]):
        if key and key in objs:
            o = objs[key]
            return _call_from_config(o, v.get("config", {}), objs) if isinstance(o, type) else o
    import importlib
    mod = importlib.import_module(f"..{module_name}", __package__)
    deser = getattr(mod, "deserialize", None)
    if deser is not None:
        return deser(v, custom_objects=custom_objects) if _accepts_co(deser) else deser(v)
    cls = get_registered_object(v["class_name"], custom_objects, vars(mod))
    if cls is None:
        raise ValueError(f"Unknown {module_name[:-1]} {v['class_name']!r}: pass it in "
                         "custom_objects")
    return _call_from_config(cls, v.get("config", {}), objs)


def compile_from_config(model, cc, custom_objects=None):
    """Compiles `model` with a saved compile configuration (Keras 3 or Keras 2 layout)."""
    if not cc:
        return
    cc = dict(cc)
    if "optimizer_config" in cc and "optimizer" not in cc:   # Keras 2 training_config
        cc["optimizer"] = cc.pop("optimizer_config")
    kwargs = {}
    if cc.get("optimizer") is not None:
        kwargs["optimizer"] = deserialize_optimizer(cc["optimizer"], custom_objects)
    for key, mod in (("loss", "losses"), ("metrics", "metrics"),
                     ("weighted_metrics", "metrics")):
        if cc.get(key) is not None:
            kwargs[key] = _deser_fn_or_obj(cc[key], mod, custom_objects)
    for key in ("loss_weights", "run_eagerly", "steps_per_execution", "jit_compile"):
        if cc.get(key) is not None:
            kwargs[key] = cc[key]
    import inspect
    try:
        params = inspect.signature(model.compile).parameters
        if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
            kwargs = {k: v for k, v in kwargs.items() if k in params}
    except (TypeError, ValueError):
        pass
    model.compile(**kwargs)


# --------------------------------------------------------------------------------------------
# Weights

def weight_value(v):
    d = getattr(v, "_data", None)
    if d is not None and type(d) is not np.ndarray:
        return to_device(d, "cpu")  # a GPU weight: the copy to the host is the snapshot
    return np.array(d if d is not None else np.asarray(v), copy=True)


def assign(var, value):
    value = np.asarray(value)
    data = getattr(var, "_data", None)
    if data is not None:
        if value.shape != data.shape:
            raise ValueError(f"shape {value.shape} does not match {data.shape}")
        np.copyto(data, value, casting="unsafe")
    else:
        var.assign(value.astype(np.dtype(var.dtype.name if hasattr(var.dtype, "name")
                                         else var.dtype)))


def layer_weights(layer):
    return list(getattr(layer, "weights", []) or [])


def weighted_layers(model):
    return [layer for layer in model.layers if layer_weights(layer)]


def ensure_built(model, build_config=None):
    """Builds a model that is not built yet from its build config (input shape)."""
    if getattr(model, "built", True) and (model.weights or not build_config):
        return
    if not build_config:
        return
    bfc = getattr(model, "build_from_config", None)
    if bfc is not None:
        bfc(build_config)
    elif "input_shape" in build_config:
        model.build(build_config["input_shape"])


def build_config(model):
    gbc = getattr(model, "get_build_config", None)
    if gbc is not None:
        try:
            return json.loads(to_json(gbc()))
        except Exception:  # noqa: BLE001
            return None
    return None


def assign_layer_list(pairs, source, skip_mismatch=False):
    """`pairs`: [(model_layer, [arrays from the file], file_layer_name)]. Checks every shape
    first (nothing is assigned when one differs, unless skip_mismatch), then assigns."""
    todo = []
    for layer, arrays, fname in pairs:
        ws = layer_weights(layer)
        problem = None
        if len(ws) != len(arrays):
            problem = (f"Layer '{layer.name}' ({type(layer).__name__}) has {len(ws)} weights "
                       f"{[tuple(np.shape(weight_value(w))) for w in ws]} but the file's layer "
                       f"'{fname}' has {len(arrays)} "
                       f"{[tuple(a.shape) for a in arrays]}")
        else:
            for j, (w, a) in enumerate(zip(ws, arrays)):
                ms = tuple(np.shape(w._data) if hasattr(w, "_data") else w.shape)
                if ms != tuple(a.shape):
                    problem = (f"Layer '{layer.name}' ({type(layer).__name__}) weight {j} "
                               f"('{getattr(w, 'name', j)}') has shape {ms} in the model but "
                               f"shape {tuple(a.shape)} in the file (layer '{fname}')")
                    break
        if problem:
            if skip_mismatch:
                warnings.warn(f"Skipping loading weights of layer '{layer.name}': {problem}",
                              stacklevel=3)
                continue
            raise ValueError(f"Cannot load weights from {source}: the model's architecture "
                             f"differs from the saved one. {problem}.")
        todo.append((ws, arrays))
    for ws, arrays in todo:
        for w, a in zip(ws, arrays):
            assign(w, a)


def match_layers(model_layers, file_layers, source, by_name=False, skip_mismatch=False):
    """`file_layers`: [(name, [arrays])] in file order, only layers with weights. Pairs them
    with the model's layers that have weights (by name, or by order) and assigns."""
    if by_name:
        fmap = dict(file_layers)
        pairs = [(layer, fmap[layer.name], layer.name) for layer in model_layers
                 if layer.name in fmap]
        return assign_layer_list(pairs, source, skip_mismatch)
    mw = [layer for layer in model_layers if layer_weights(layer)]
    n = min(len(mw), len(file_layers))
    pairs = [(mw[i], file_layers[i][1], file_layers[i][0]) for i in range(n)]
    if len(mw) != len(file_layers):
        # Report the first layer whose shapes differ, else the first extra one.
        for layer, arrays, fname in pairs:
            ws = layer_weights(layer)
            if len(ws) != len(arrays) or any(tuple(weight_value(w).shape) != tuple(a.shape)
                                             for w, a in zip(ws, arrays)):
                assign_layer_list([(layer, arrays, fname)], source, False)
        if len(mw) > len(file_layers):
            extra = mw[n]
            shapes = [tuple(weight_value(w).shape) for w in layer_weights(extra)]
            detail = (f"the model's layer '{extra.name}' ({type(extra).__name__}, weights "
                      f"{shapes}) has no counterpart in the file")
        else:
            fname, arrays = file_layers[n]
            detail = (f"the file's layer '{fname}' (weights {[tuple(a.shape) for a in arrays]}) "
                      "has no counterpart in the model")
        raise ValueError(f"Cannot load weights from {source}: the model's architecture differs "
                         f"from the saved one. The file holds weights for {len(file_layers)} "
                         f"layers, the model has {len(mw)} layers with weights; {detail}.")
    assign_layer_list(pairs, source, skip_mismatch)


# --------------------------------------------------------------------------------------------
# Optimizer state

def restore_optimizer(model, arrays, source):
    """Builds the optimizer's slots on the model's trainable variables and fills them (and
    `iterations`) from `arrays`, in `optimizer.variables` order."""
    opt = getattr(model, "optimizer", None)
    if opt is None or not arrays:
        return False
    try:
        tv = list(model.trainable_variables)
    except AttributeError:
        tv = list(model.trainable_weights)
    build = getattr(opt, "build", None)
    if build is not None:
        build(tv)
    try:
        if hasattr(opt, "set_weights"):
            opt.set_weights(list(arrays))
        else:
            vs = opt.variables
            if callable(vs):
                vs = vs()
            if len(vs) != len(arrays):
                raise ValueError(f"expected {len(vs)} arrays, got {len(arrays)}")
            for v, a in zip(vs, arrays):
                assign(v, a)
    except ValueError as e:
        warnings.warn(f"Could not restore the optimizer state from {source} ({e}); the "
                      "optimizer starts afresh.", stacklevel=3)
        return False
    return True


def optimizer_variables(model):
    opt = getattr(model, "optimizer", None)
    if opt is None or isinstance(opt, str):
        return []
    vs = getattr(opt, "variables", [])
    if callable(vs):
        vs = vs()
    if not getattr(opt, "built", True):
        return []
    return list(vs)
