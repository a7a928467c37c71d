"""The Keras `Layer` base class, `InputSpec`, and the symbolic `KerasTensor`/`Node` pieces the
functional API is built from.

A layer called on concrete tensors runs eagerly (`call`). Called on KerasTensors (from `Input`),
it infers its output shape by running once on a small zero batch (batch 2, or the fixed batch
size), records a `Node` and returns new KerasTensors; a functional model later replays the nodes.
"""
import inspect
import re
import weakref

import numpy as np

from ...framework.device import asarray as _asarray

from ... import dtypes as _dt
from ...framework import tape as _tape
from ...framework.tensor import Tensor, TensorShape, Variable, _wrap
from ...framework.device import current_device, host_scope, place, to_device
from .. import backend

__all__ = ["Layer", "InputSpec", "KerasTensor", "Node", "get_mask", "set_mask"]


# ----------------------------------------------------------------------------- call context


class _CallContext:
    """Per-process call state: the `training` flag inherited by nested calls, whether a call is
    already under way (outermost calls reset `layer.losses`), and an optional sink collecting
    `add_loss` values during a training step."""
    __slots__ = ("training", "depth", "loss_sink", "call_id", "symbolic")

    def __init__(self):
        self.training = None
        self.depth = 0
        self.loss_sink = None
        self.call_id = 0
        self.symbolic = 0  # > 0 while a layer runs on dummy data to trace a KerasTensor call


_CTX = _CallContext()


# ---------------------------------------------------------------------- layer-tree caches

# Generation of every layer tree: bumped by each change that can alter what
# `_flatten_layers` returns or which Metric objects and callable losses a tree holds (a
# `_layers` list changed, an attribute holding a Metric set or deleted, an `add_metric`
# or callable `add_loss`). Results computed from a tree are cached under it, so fit's
# per-epoch `model.metrics` / logs / reset do not walk the layers again (see _tree_cache).
_TREE_GEN = [0]
_METRIC_TYPES = ()  # (keras.metrics.Metric,) once metrics.py has defined it


def _bump_tree():
    _TREE_GEN[0] += 1


class _LayerList(list):
    """A layer's `_layers`: a list whose every change bumps the tree generation."""

    __slots__ = ()

    def append(self, v):
        _bump_tree()
        list.append(self, v)

    def extend(self, vs):
        _bump_tree()
        list.extend(self, vs)

    def insert(self, i, v):
        _bump_tree()
        list.insert(self, i, v)

    def pop(self, *i):
        _bump_tree()
        return list.pop(self, *i)

    def remove(self, v):
        _bump_tree()
        list.remove(self, v)

    def clear(self):
        _bump_tree()
        list.clear(self)

    def sort(self, *, key=None, reverse=False):
        _bump_tree()
        list.sort(self, key=key, reverse=reverse)

    def reverse(self):
        _bump_tree()
        list.reverse(self)

    def __setitem__(self, i, v):
        _bump_tree()
        list.__setitem__(self, i, v)

    def __delitem__(self, i):
        _bump_tree()
        list.__delitem__(self, i)

    def __iadd__(self, vs):
        _bump_tree()
        return list.__iadd__(self, vs)

    def __imul__(self, n):
        _bump_tree()
        return list.__imul__(self, n)


def _tree_cache(layer, key, compute):
    """compute(), cached in `layer` until the tree generation changes. The cache notes its
    owner's id, so a shallow copy of the layer (which shares the cache) recomputes; pickles
    and deep copies rebuild `_layers`, which bumps the generation. Cached values must not
    hold the layer itself (no reference cycle)."""
    gen = _TREE_GEN[0]
    d = layer.__dict__
    c = d.get("_tree_cache")
    if c is None or c[0] != id(layer):
        c = d["_tree_cache"] = (id(layer), {})
    hit = c[1].get(key)
    if hit is not None and hit[0] == gen:
        return hit[1]
    value = compute()
    c[1][key] = (gen, value)
    return value


# ----------------------------------------------------------------------------- masks

# Keras attaches a layer's output mask to the output tensor (`tensor._keras_mask`). nabi
# Tensors have __slots__, so the engine keeps masks in this side table instead:
# id(tensor) -> (weakref to the tensor, mask Tensor). An entry goes away with its tensor (the
# weakref callback), so ids are never confused. The table is empty unless some layer produced a
# mask, which keeps the unmasked call path to one dict truth test.
_MASKS = {}


def set_mask(tensor, mask):
    """Attaches `mask` (a boolean Tensor/array, or None to clear) to `tensor`."""
    k = id(tensor)
    if mask is None:
        e = _MASKS.get(k)
        if e is not None and e[0]() is tensor:
            del _MASKS[k]
        return
    if not isinstance(mask, Tensor):
        mask = _wrap(_asarray(mask))

    def drop(ref, k=k):
        e = _MASKS.get(k)
        if e is not None and e[0] is ref:
            del _MASKS[k]
    _MASKS[k] = (weakref.ref(tensor, drop), mask)


def get_mask(tensor):
    """The Keras mask attached to `tensor` (a Tensor), or None."""
    if not _MASKS:
        return None
    e = _MASKS.get(id(tensor))
    if e is not None and e[0]() is tensor:
        return e[1]
    return None


def _pop_inert_options(cls_name, kwargs, **defaults):
    """Keras 3 options that nabi supports only at their inert default: configs saved by
    Keras 3 carry them (quantization_config=None, rms_scaling=False, ...), so they load;
    any other value raises instead of training a different model."""
    for key, default in defaults.items():
        val = kwargs.pop(key, default)
        if val is not default and val != default:
            raise NotImplementedError(f"[{cls_name}] {key}={val!r} is not supported by nabi "
                                      f"(only {key}={default!r})")


def _input_mask(inputs):
    """The mask structure of a layer's inputs: one mask, a list of masks, or None."""
    if isinstance(inputs, (list, tuple)):
        ms = [get_mask(x) if isinstance(x, Tensor) else None for x in inputs]
        return ms if any(m is not None for m in ms) else None
    if isinstance(inputs, Tensor):
        return get_mask(inputs)
    return None


def _attach_masks(outputs, masks):
    if isinstance(outputs, Tensor):
        if isinstance(masks, (list, tuple)):
            masks = masks[0] if masks else None
        if masks is not None and get_mask(outputs) is None:
            set_mask(outputs, masks)
        return
    if isinstance(outputs, (list, tuple)):
        if not isinstance(masks, (list, tuple)):
            masks = [masks] + [None] * (len(outputs) - 1)
        for o, m in zip(outputs, masks):
            if isinstance(o, Tensor) and m is not None and get_mask(o) is None:
                set_mask(o, m)


# ----------------------------------------------------------------------------- nest helpers


def flatten(x):
    if isinstance(x, (list, tuple)):
        out = []
        for v in x:
            out.extend(flatten(v))
        return out
    if isinstance(x, dict):
        out = []
        for k in sorted(x):
            out.extend(flatten(x[k]))
        return out
    return [x]


def map_structure(fn, x):
    if isinstance(x, list):
        return [map_structure(fn, v) for v in x]
    if isinstance(x, tuple):
        return tuple(map_structure(fn, v) for v in x)
    if isinstance(x, dict):
        return {k: map_structure(fn, v) for k, v in x.items()}
    return fn(x)


def pack_like(structure, flat):
    it = iter(flat)

    def pack(s):
        if isinstance(s, list):
            return [pack(v) for v in s]
        if isinstance(s, tuple):
            return tuple(pack(v) for v in s)
        if isinstance(s, dict):
            vals = {k: pack(s[k]) for k in sorted(s)}
            return {k: vals[k] for k in s}
        return next(it)
    return pack(structure)


def to_snake_case(name):
    intermediate = re.sub("(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    insecure = re.sub("([a-z])([A-Z])", r"\1_\2", intermediate).lower()
    if insecure[0] != "_":
        return insecure
    return "private" + insecure


def _shape_tuple(s):
    if s is None:
        return None
    if isinstance(s, (int, np.integer)):
        return (int(s),)
    return tuple(None if d is None else int(d) for d in s)


def _np_dtype(dtype):
    if dtype is None:
        return np.dtype(backend.floatx())
    if isinstance(dtype, np.dtype):
        return dtype
    return np.dtype(_dt.as_dtype(dtype)._np)


def _dtype_name(dtype):
    return _np_dtype(dtype).name


# ----------------------------------------------------------------------------- KerasTensor


class KerasTensor:
    """A symbolic tensor: a shape (batch dimension usually None), a dtype and the layer call
    that produced it (`_keras_history = (layer, node_index, tensor_index)`)."""

    _is_keras_tensor = True     # how nabi's TF ops recognise one (framework/symbolic.py)
    _mask_ndim = None           # rank of the mask its layer attaches (None: no mask)

    def __init__(self, shape, dtype="float32", name=None, history=None):
        self._shape = TensorShape(shape)
        self._np_dtype = _np_dtype(dtype)
        self.name = name
        self._keras_history = history

    @property
    def shape(self):
        return self._shape

    @property
    def dtype(self):
        return _dt.as_dtype(self._np_dtype)

    @property
    def ndim(self):
        return len(self._shape)

    def get_shape(self):
        return self._shape

    @property
    def node(self):
        layer, ni, _ = self._keras_history
        return layer._inbound_nodes[ni]

    def __repr__(self):
        layer = self._keras_history[0].name if self._keras_history else None
        return (f"<KerasTensor shape={tuple(self._shape)}, dtype={self._np_dtype.name}, "
                f"name={self.name or layer}>")

    def __hash__(self):
        return id(self)

    def __len__(self):
        raise TypeError("len() is not defined for a symbolic KerasTensor; use .shape")

    def __iter__(self):
        raise TypeError("a symbolic KerasTensor is not iterable")

    def __bool__(self):
        raise TypeError("a symbolic KerasTensor has no truth value")

    def numpy(self):
        raise ValueError("a symbolic KerasTensor (from keras.Input) has no value; build a Model "
                         "and call it on data instead")

    # Operators on KerasTensors become small op layers (TFOpLambda), so `Input(...) * 2`
    # works; they save by operator name and constant operand, as Keras 2's do.
    def _op(self, fn, other=None, name="op", reverse=False):
        from .core import TFOpLambda, call_tf_op
        if name in TFOpLambda._SYMBOLS:
            symbol = TFOpLambda._SYMBOLS[name][len("tf."):]
            if other is None:
                return call_tf_op(symbol, None, (self,), {})
            return call_tf_op(symbol, None, (other, self) if reverse else (self, other), {})
        # any other function (e.g. an application's preprocess_input): a Lambda of `fn`
        if other is None:
            return TFOpLambda(fn, name=name)(self)
        if isinstance(other, KerasTensor):
            pair = [other, self] if reverse else [self, other]
            return TFOpLambda(lambda xs: fn(xs[0], xs[1]), name=name)(pair)
        if reverse:
            return TFOpLambda(lambda x: fn(other, x), name=name)(self)
        return TFOpLambda(lambda x: fn(x, other), name=name)(self)

    def __add__(self, o): return self._op(lambda a, b: a + b, o, "add")
    def __radd__(self, o): return self._op(lambda a, b: a + b, o, "add", True)
    def __sub__(self, o): return self._op(lambda a, b: a - b, o, "subtract")
    def __rsub__(self, o): return self._op(lambda a, b: a - b, o, "subtract", True)
    def __mul__(self, o): return self._op(lambda a, b: a * b, o, "multiply")
    def __rmul__(self, o): return self._op(lambda a, b: a * b, o, "multiply", True)
    def __truediv__(self, o): return self._op(lambda a, b: a / b, o, "truediv")
    def __rtruediv__(self, o): return self._op(lambda a, b: a / b, o, "truediv", True)
    def __pow__(self, o): return self._op(lambda a, b: a ** b, o, "pow")
    def __matmul__(self, o): return self._op(lambda a, b: a @ b, o, "matmul")
    def __neg__(self): return self._op(lambda a: -a, None, "negative")
    def __abs__(self): return self._op(lambda a: abs(a), None, "abs")
    def __getitem__(self, idx):
        from .core import call_tf_op
        return call_tf_op("__operators__.getitem", None, (self, idx), {})

    # & | ^ ~: logical ops on bool tensors (a causal mask & a padding mask), bitwise on ints,
    # as TF's Tensor operators dispatch
    def _logic(self, other, kind, reverse=False):
        from .core import call_tf_op
        symbol = (f"math.logical_{kind}" if self._np_dtype == np.bool_ else
                  f"bitwise.bitwise_{kind}")
        return call_tf_op(symbol, None, (other, self) if reverse else (self, other), {})

    def __and__(self, o): return self._logic(o, "and")
    def __rand__(self, o): return self._logic(o, "and", True)
    def __or__(self, o): return self._logic(o, "or")
    def __ror__(self, o): return self._logic(o, "or", True)
    def __xor__(self, o): return self._logic(o, "xor")
    def __rxor__(self, o): return self._logic(o, "xor", True)

    def __invert__(self):
        from .core import call_tf_op
        symbol = "math.logical_not" if self._np_dtype == np.bool_ else "bitwise.invert"
        return call_tf_op(symbol, None, (self,), {})


def _is_symbolic(x):
    if isinstance(x, KerasTensor):
        return True
    if isinstance(x, (list, tuple)):
        return any(_is_symbolic(v) for v in x)
    if isinstance(x, dict):
        return any(_is_symbolic(v) for v in x.values())
    return False


class Node:
    """One call of `layer` on symbolic inputs: `call_inputs` (a structure of KerasTensors),
    constant extra `call_args`/`call_kwargs`, and the `outputs` structure."""

    def __init__(self, layer, call_inputs, call_args, call_kwargs, outputs):
        self.layer = layer
        self.call_inputs = call_inputs
        self.call_args = call_args
        self.call_kwargs = call_kwargs
        self.input_tensors = [t for t in flatten(call_inputs) if isinstance(t, KerasTensor)]
        # Keras 2: KerasTensors passed as extra positional/keyword arguments (the training
        # guide's `LogisticEndpoint()(logits, targets)`) are inputs of the node too.
        extra = [t for t in flatten([list(call_args), list(call_kwargs.values())])
                 if isinstance(t, KerasTensor)]
        self.symbolic_args = bool(extra)
        self.input_tensors += [t for t in extra
                               if not any(t is u for u in self.input_tensors)]
        self.outputs = outputs
        self.output_tensors = flatten(outputs)
        layer._inbound_nodes.append(self)
        index = len(layer._inbound_nodes) - 1
        for i, t in enumerate(self.output_tensors):
            t._keras_history = (layer, index, i)

    @property
    def parent_nodes(self):
        return [t.node for t in self.input_tensors if t._keras_history is not None]

    @property
    def input_shapes(self):
        return map_structure(lambda t: tuple(t.shape) if isinstance(t, KerasTensor) else None,
                             self.call_inputs)

    @property
    def output_shapes(self):
        return map_structure(lambda t: tuple(t.shape), self.outputs)


class InputSpec:
    """Specifies the rank, dtype and shape of every input to a layer (checked on call)."""

    def __init__(self, dtype=None, shape=None, ndim=None, max_ndim=None, min_ndim=None,
                 axes=None, allow_last_axis_squeeze=False, name=None):
        self.dtype = dtype
        self.shape = _shape_tuple(shape)
        self.ndim = len(self.shape) if shape is not None else ndim
        self.max_ndim = max_ndim
        self.min_ndim = min_ndim
        self.axes = {int(k): v for k, v in (axes or {}).items()}
        self.name = name

    def check(self, layer_name, shape):
        r = len(shape)
        if self.ndim is not None and r != self.ndim:
            raise ValueError(f"[{layer_name}] expected input of rank {self.ndim}, got shape "
                             f"{tuple(shape)}")
        if self.min_ndim is not None and r < self.min_ndim:
            raise ValueError(f"[{layer_name}] expected input of rank >= {self.min_ndim}, got shape "
                             f"{tuple(shape)}")
        if self.max_ndim is not None and r > self.max_ndim:
            raise ValueError(f"[{layer_name}] expected input of rank <= {self.max_ndim}, got shape "
                             f"{tuple(shape)}")
        for ax, v in self.axes.items():
            if v is not None and -r <= ax < r and shape[ax] is not None and shape[ax] != v:
                raise ValueError(f"[{layer_name}] expected axis {ax} of input to have value {v}, "
                                 f"got shape {tuple(shape)}")

    def get_config(self):
        return {"dtype": self.dtype, "shape": self.shape, "ndim": self.ndim,
                "max_ndim": self.max_ndim, "min_ndim": self.min_ndim, "axes": self.axes}

    def __repr__(self):
        return f"InputSpec(shape={self.shape}, ndim={self.ndim}, axes={self.axes})"


# ----------------------------------------------------------------------------- helpers


def _shape_of(x):
    if isinstance(x, (Tensor, KerasTensor, np.ndarray)):
        return tuple(x.shape)
    if isinstance(x, (list, tuple)):
        return [_shape_of(v) for v in x]
    if isinstance(x, dict):
        return {k: _shape_of(v) for k, v in x.items()}
    return tuple(np.shape(x))


def _number_nest(x, depth=0):
    """Whether x is a (nested) list/tuple of Python numbers only."""
    if isinstance(x, (list, tuple)):
        return depth < 8 and len(x) > 0 and all(_number_nest(v, depth + 1) for v in x)
    return isinstance(x, (int, float, np.number))


def _to_current_device(x):
    """A host Tensor (a decoded image, a host op's result) fed to a layer whose weights are on
    the GPU moves there, as TF runs an eager op where its variables live and copies the
    inputs; the copy is recorded, so input gradients (FGSM, DeepDream) reach the host tensor."""
    d = x._data
    if d.dtype.kind not in "fiub" or d.dtype.itemsize < 4 and d.dtype.kind != "b" or \
            current_device() != "cuda":
        return x
    return _recorded_copy(x, "cuda")


def _mixed_to_gpu(xs):
    """A list of tensors on both devices (Concatenate of a decoded image and a generator's
    output): the host ones join the GPU ones, as TF's op placement copies them."""
    kinds = [type(x._data) is np.ndarray for x in xs if type(x) is Tensor]
    if not (any(kinds) and not all(kinds)):
        return xs
    return type(xs)(_to_current_device(x) if type(x) is Tensor else x for x in xs)


def _recorded_copy(x, kind):
    out = _wrap(to_device(x._data, kind))
    if _tape._tapes:
        back = "cpu" if kind == "cuda" else "cuda"
        _tape.record((x,), out, lambda g, n: (to_device(g, back),),
                     lambda g, n: (_recorded_copy(g, back),), "copy_to_device")
    return out


def _convert_input(x, np_dtype, kinds):
    """NumPy arrays / Python numbers -> Tensor; inputs whose dtype kind is in `kinds` ("f":
    floats, as Keras 2 autocasts; "fiub": nabi's built-in float layers, which also take
    integers; "": none) adopt the layer dtype."""
    if isinstance(x, Tensor):
        d = x._data
        if kinds and d.dtype != np_dtype and d.dtype.kind in kinds:
            from ...ops.math_ops import cast
            return cast(x, _dt.as_dtype(np_dtype))
        return x
    if isinstance(x, (list, tuple)):
        if x and _number_nest(x):       # [[2.0, 2.0, 2.0]]: one tensor, as Keras converts it
            return _convert_input(_asarray(x), np_dtype, kinds)
        return type(x)(_convert_input(v, np_dtype, kinds) for v in x)
    if isinstance(x, dict):
        return {k: _convert_input(v, np_dtype, kinds) for k, v in x.items()}
    if x is None or isinstance(x, KerasTensor):
        return x
    a = _asarray(x)
    if kinds and a.dtype != np_dtype and a.dtype.kind in kinds:
        a = a.astype(np_dtype)
    elif a.dtype == np.float64 and "f" not in kinds:
        a = a.astype(np.float32)
    return _wrap(place(a))


# The size a None entry of a shape value (KerasTensor._inferred_value) stands for in a
# symbolic trial run: 2, as the unknown batch axis; 3 in the second run that tells which
# entries of an op's output follow it.
_INFER_NONE = [2]


def _dummy_for(kt, batch, fill_none):
    iv = getattr(kt, "_inferred_value", None)
    if iv is not None:  # tf.shape(x)[1] in a functional model: the trial sees the real sizes
        a = np.array([_INFER_NONE[0] if v is None else v for v in iv], dtype=kt._np_dtype)
        return _wrap(place(a.reshape(tuple(kt.shape))))
    shp = tuple(kt.shape)
    dims = []
    for i, d in enumerate(shp):
        if d is None:
            dims.append(batch if i == 0 else fill_none)
        else:
            dims.append(d)
    t = _wrap(place(np.zeros(dims, dtype=kt._np_dtype)))
    if kt._mask_ndim is not None:
        # a masked symbolic tensor: the trial run sees an all-true mask, so a layer whose call
        # takes `mask` builds as it will run (not with mask=None)
        set_mask(t, _wrap(place(np.ones(dims[:kt._mask_ndim], dtype=bool))))
    return t


class _no_tape:
    """Hides every recording tape (symbolic shape inference must not be recorded)."""

    def __enter__(self):
        self.saved = list(_tape._tapes)
        _tape._tapes.clear()

    def __exit__(self, *exc):
        _tape._tapes.extend(self.saved)
        return False


_ADD_WEIGHT_K2 = ("name", "shape", "dtype", "initializer", "regularizer", "trainable",
                  "constraint", "use_resource", "synchronization", "aggregation")
_ADD_WEIGHT_K3 = ("shape", "initializer", "dtype", "trainable", "autocast", "regularizer",
                  "constraint", "aggregation", "overwrite_with_gradient", "name")


class _KerasVariableMeta(type):
    # every nabi Variable (a layer's weights included) is a keras.Variable, as in Keras 3
    def __instancecheck__(cls, obj):
        return isinstance(obj, Variable)


class KerasVariable(Variable, metaclass=_KerasVariableMeta):
    """`keras.Variable` (Keras 3): `Variable(initializer, shape=None, dtype=None,
    trainable=True, autocast=True, aggregation="none", name=None)`. `initializer` is a value
    or an initializer (a callable or its name) called with `shape`; dtype defaults to
    floatx. It is a nabi (tf) Variable; `.value` is its current value as a Tensor (Keras 3's
    property; on tf.Variable `value()` is a method)."""

    def __init__(self, initializer, shape=None, dtype=None, trainable=True, autocast=True,
                 aggregation="none", synchronization="auto", name=None, **kwargs):
        if isinstance(initializer, (str, dict)):
            initializer = _resolve("initializers", initializer)
        dt = _dt.as_dtype(dtype if dtype is not None else backend.floatx())
        if callable(initializer) and not isinstance(initializer, Tensor):
            if shape is None:
                raise ValueError("[keras.Variable] when creating a Variable from an "
                                 "initializer, the `shape` argument should be specified. "
                                 f"Received: initializer={initializer} and shape={shape}")
            shape = tuple(int(d) for d in _shape_tuple(shape))
            with host_scope():
                try:
                    value = initializer(shape, dtype=dt)
                except TypeError:
                    value = initializer(shape)
        else:
            value = initializer
        arr = to_device(value._data, "cpu") if isinstance(value, Tensor) else _asarray(value)
        arr = np.array(to_device(arr, "cpu"), dtype=dt._np, order="C")
        if shape is not None and tuple(arr.shape) != tuple(_shape_tuple(shape)):
            raise ValueError(f"[keras.Variable] initial value has shape {arr.shape}, which "
                             f"does not match shape={tuple(_shape_tuple(shape))}")
        name = name or "variable"
        super().__init__(arr, trainable=trainable, name=name)
        self.path = name
        self._keras_name = name

    @property
    def value(self):
        return Variable.value(self)


def _serialize_obj(obj, module_name):
    """Keras-style config for an initializer/regularizer/constraint/activation."""
    if obj is None:
        return None
    if isinstance(obj, (str, dict)):
        return obj
    if not hasattr(obj, "get_config") and hasattr(obj, "__name__"):
        # a plain function (HOML's my_glorot_initializer / my_positive_weights): its
        # registered name, as Keras 2 writes it; load_model's custom_objects resolve it
        from ..saving.object_registration import get_registered_name
        try:
            import importlib
            mod = importlib.import_module(f"nabi.keras.{module_name}")
            return mod.serialize(obj)
        except (ImportError, AttributeError, ValueError, TypeError):
            return get_registered_name(obj)
    try:
        import importlib
        mod = importlib.import_module(f"nabi.keras.{module_name}")
        ser = getattr(mod, "serialize", None)
        if ser is not None:
            return ser(obj)
    except ImportError:
        pass
    if hasattr(obj, "get_config"):
        return {"class_name": type(obj).__name__, "config": obj.get_config()}
    return getattr(obj, "__name__", str(obj))


def _resolve(module_name, identifier):
    if identifier is None:
        return None
    import importlib
    mod = importlib.import_module(f"nabi.keras.{module_name}")
    return mod.get(identifier)


# ----------------------------------------------------------------------------- Layer

_LAYER_KWARGS = {"input_shape", "batch_input_shape", "batch_size", "weights",
                 "activity_regularizer", "autocast", "input_dim", "dynamic", "implementation",
                 "batch_shape", "input_dtype"}


class Layer:
    """Base class of all layers (Keras semantics)."""

    _call_accepts_training = False
    _call_accepts_mask = False
    _call_first_arg = "inputs"
    _computes_mask = False
    _autocast = True
    # Keras 2 autocasts only floating-point inputs to the compute dtype; integer and bool
    # inputs reach call() unchanged (a custom embedding's ids). nabi's own float layers (Dense
    # on an int input) also cast integers, as Keras's Dense does inside its call; a user's
    # Layer subclass that defines call() gets Keras's rule.
    _autocast_ints = True

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        call = cls.__dict__.get("call")
        if call is not None:
            try:
                params = inspect.signature(call).parameters
            except (TypeError, ValueError):
                params = {}
            var_kw = any(p.kind == p.VAR_KEYWORD for p in params.values())
            cls._call_accepts_training = "training" in params or var_kw
            cls._call_accepts_mask = "mask" in params
            names = list(params)
            if len(names) > 1:
                cls._call_first_arg = names[1]
        cls._computes_mask = cls.compute_mask is not Layer.compute_mask
        if call is not None and not (cls.__module__ or "").startswith("nabi."):
            # a user's layer built on Layer itself; one built on a nabi layer (class
            # MyDense(Dense) calling super().call) keeps that layer's casting, as Keras's
            # Dense casts inside its own call
            base = next((b for b in cls.__mro__[1:]
                         if (b.__module__ or "").startswith("nabi.")), Layer)
            if base is Layer:
                cls._autocast_ints = False
        # Registry for deserialisation by class name: a user's class replaces an earlier user
        # class of the same name (a notebook cell run again, or another script's class), never
        # a nabi layer
        prev = _LAYER_REGISTRY.get(cls.__name__)
        if prev is None or not (prev.__module__ or "").startswith("nabi."):
            _LAYER_REGISTRY[cls.__name__] = cls

    def __init__(self, trainable=True, name=None, dtype=None, dynamic=False, **kwargs):
        unknown = set(kwargs) - _LAYER_KWARGS
        if unknown:
            raise TypeError(f"[{type(self).__name__}] keyword argument(s) not understood: "
                            f"{sorted(unknown)}")
        d = self.__dict__
        d["_layers"] = _LayerList()
        d["_trainable_weights"] = []
        d["_non_trainable_weights"] = []
        d["_inbound_nodes"] = []
        d["_trainable"] = bool(trainable)
        d["built"] = False
        d["_eager_losses"] = []
        d["_loss_call_id"] = -1
        d["_regularized"] = []
        d["_build_input_shape"] = None
        d["_last_output_shape"] = None
        if isinstance(dtype, dict):  # a serialised DTypePolicy
            dtype = dtype.get("config", {}).get("name", None)
        elif type(dtype).__name__ in ("Policy", "DTypePolicy"):  # keras.mixed_precision
            dtype = dtype.name
        self._dtype_name = _dtype_name(dtype if dtype not in ("mixed_float16", "mixed_bfloat16")
                                       else None)
        self._np_dtype = np.dtype(self._dtype_name)
        self.name = name if name else backend.unique_object_name(to_snake_case(type(self).__name__))
        self.dynamic = dynamic
        # Keras 2: a layer that overrides compute_mask supports masking unless it says
        # otherwise (the Transformer tutorial's PositionalEmbedding relies on this).
        self.supports_masking = type(self)._computes_mask
        self.input_spec = None
        self.stateful = False
        if kwargs.get("autocast") is False:
            self._autocast = False
        # First-layer shape arguments, Keras 2 style.
        batch_input_shape = kwargs.get("batch_input_shape", kwargs.get("batch_shape"))
        if batch_input_shape is None:
            input_shape = kwargs.get("input_shape")
            if input_shape is None and kwargs.get("input_dim") is not None:
                input_shape = (kwargs["input_dim"],)
            if input_shape is not None:
                batch_input_shape = (kwargs.get("batch_size"),) + tuple(_shape_tuple(input_shape))
        self._batch_input_shape = _shape_tuple(batch_input_shape)
        self._initial_weights = kwargs.get("weights")
        ar = kwargs.get("activity_regularizer")
        self.activity_regularizer = _resolve("regularizers", ar) if ar is not None else None

    # -- attribute tracking ------------------------------------------------------------
    def __setattr__(self, name, value):
        if not name.startswith("__"):
            d = self.__dict__
            if name == "_layers":
                value = _LayerList(value)
                _bump_tree()
            elif isinstance(value, _METRIC_TYPES) or isinstance(d.get(name), _METRIC_TYPES):
                _bump_tree()  # Model.metrics lists the Metric attributes
            layers = d.get("_layers")
            if layers is not None:
                if isinstance(value, Layer) and value is not self:
                    if not any(l is value for l in layers):
                        layers.append(value)
                elif isinstance(value, (list, tuple)) and value and name not in (
                        "_layers", "_inbound_nodes", "_trainable_weights",
                        "_non_trainable_weights", "_eager_losses", "_regularized"):
                    for v in value:
                        if isinstance(v, Layer) and v is not self and \
                                not any(l is v for l in layers):
                            layers.append(v)
                elif getattr(value, "_layer_tracked_state", False):
                    # a keras.random.SeedGenerator: its state is one of the layer's
                    # `variables`, not of its weights (see `variables`)
                    seeds = d.setdefault("_seed_states", [])
                    if not any(w is value.state for w in seeds):
                        seeds.append(value.state)
                elif isinstance(value, Variable) and name not in ("_trainable_weights",):
                    if not any(w is value for w in d["_trainable_weights"]) and \
                            not any(w is value for w in d["_non_trainable_weights"]):
                        (d["_trainable_weights"] if value.trainable
                         else d["_non_trainable_weights"]).append(value)
                        if "_checkpoint_deferred" in d:   # a restore waits for it
                            from ...train.checkpoint import restore_deferred_weight
                            restore_deferred_weight(self, value, name)
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        value = self.__dict__.get(name)
        if isinstance(value, _METRIC_TYPES):
            _bump_tree()
        if isinstance(value, Layer):
            self._layers[:] = [l for l in self._layers if l is not value]
        object.__delattr__(self, name)

    # -- properties ----------------------------------------------------------------------
    @property
    def dtype(self):
        return self._dtype_name

    @property
    def compute_dtype(self):
        return self._dtype_name

    @property
    def variable_dtype(self):
        return self._dtype_name

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        value = bool(value)
        self._trainable = value
        for l in self._flatten_layers(include_self=False):
            l._trainable = value

    def _flatten_layers(self, include_self=True):
        if include_self:  # a fresh list: callers may change it
            return [self] + _tree_cache(self, "sublayers", lambda: self._walk_layers()[1:])
        return self._walk_layers(include_self)

    def _walk_layers(self, include_self=True):
        seen = set()
        out = []

        def visit(l):
            if id(l) in seen:
                return
            seen.add(id(l))
            out.append(l)
            for s in l._layers:
                visit(s)
        if include_self:
            visit(self)
        else:
            for s in self._layers:
                visit(s)
        return out

    @property
    def weights(self):
        out, seen = [], set()
        layers = self._flatten_layers()
        for l in layers:
            for w in l._trainable_weights + l._non_trainable_weights:
                if id(w) not in seen:
                    seen.add(id(w))
                    out.append(w)
        return out

    @staticmethod
    def _seed_states_of(layers, seen):
        """The SeedGenerator states the layers hold and `seen` lacks."""
        out = []
        for l in layers:
            for w in l.__dict__.get("_seed_states", ()):
                if id(w) not in seen:
                    seen.add(id(w))
                    out.append(w)
        return out

    @property
    def variables(self):
        """The weights, then the state of each keras.random.SeedGenerator the layers hold: as
        Keras 3, which lists that state in `variables` but not in `weights` (so get_weights and
        save_weights leave it out)."""
        out = self.weights
        return out + self._seed_states_of(self._flatten_layers(), {id(w) for w in out})

    @property
    def trainable_weights(self):
        if not self._trainable:
            return []
        return self._own_then_sublayers(self._trainable_weights, "trainable_weights")

    trainable_variables = trainable_weights

    @property
    def non_trainable_weights(self):
        if not self._trainable:
            return self.weights
        return self._own_then_sublayers(self._non_trainable_weights, "non_trainable_weights")

    def _own_then_sublayers(self, own, attr):
        """This layer's variables, then each sub-layer's `attr`, each variable once."""
        out, seen = [], set()
        for group in [own] + [getattr(l, attr) for l in self._layers]:
            for w in group:
                if id(w) not in seen:
                    seen.add(id(w))
                    out.append(w)
        return out

    @property
    def non_trainable_variables(self):
        """non_trainable_weights and the SeedGenerator states (see `variables`)."""
        out = self.non_trainable_weights
        return out + self._seed_states_of(self._flatten_layers(), {id(w) for w in out})

    @property
    def layers(self):
        return list(self._layers)

    @property
    def submodules(self):
        return self._flatten_layers(include_self=False)

    # -- weights -------------------------------------------------------------------------
    def add_weight(self, *args, **kwargs):
        """Keras 2's `add_weight(name, shape, dtype, initializer, ...)` and Keras 3's
        `add_weight(shape, initializer, dtype, trainable, ...)`: a first positional argument that
        is a str is a name (Keras 2's order), anything else is a shape (Keras 3's order)."""
        order = _ADD_WEIGHT_K2 if not args or args[0] is None or isinstance(args[0], str) \
            else _ADD_WEIGHT_K3
        if len(args) > len(order):
            raise TypeError(f"[{self.name}.add_weight] takes at most {len(order)} positional "
                            f"arguments, got {len(args)}")
        for key, value in zip(order, args):
            if key in kwargs:
                raise TypeError(f"[{self.name}.add_weight] got multiple values for argument "
                                f"{key!r}")
            kwargs[key] = value
        kwargs.pop("autocast", None)                  # Keras 3: nabi casts by layer dtype
        kwargs.pop("overwrite_with_gradient", None)
        return self._add_weight(**kwargs)

    def _add_weight(self, name=None, shape=None, dtype=None, initializer=None, regularizer=None,
                    trainable=True, constraint=None, use_resource=None, synchronization=None,
                    aggregation=None, **kwargs):
        shape = () if shape is None else tuple(int(d) for d in _shape_tuple(shape))
        np_dtype = _np_dtype(dtype) if dtype is not None else self._np_dtype
        if initializer is None:
            initializer = "glorot_uniform" if np_dtype.kind == "f" else "zeros"
        if isinstance(initializer, (str, dict)):
            initializer = _resolve("initializers", initializer)
        if callable(initializer):
            with host_scope():  # built on the host; the Variable places it once
                try:
                    value = initializer(shape, dtype=_dt.as_dtype(np_dtype))
                except TypeError:
                    value = initializer(shape)
        else:
            value = initializer
        # Built on the host, then placed by Variable (one copy per weight at build time).
        arr = to_device(value._data, "cpu") if isinstance(value, Tensor) else _asarray(value)
        arr = np.array(np.broadcast_to(to_device(arr, "cpu"), shape), dtype=np_dtype, order="C")
        name = name or "Variable"
        var = Variable(arr, trainable=trainable, name=f"{self.name}/{name}",
                       constraint=_resolve("constraints", constraint)
                       if isinstance(constraint, (str, dict)) else constraint)
        var.path = f"{self.name}/{name}"
        var._keras_name = name
        if trainable:
            self._trainable_weights.append(var)
        else:
            self._non_trainable_weights.append(var)
        if "_checkpoint_deferred" in self.__dict__:   # nabi.train restore waits for this weight
            from ...train.checkpoint import restore_deferred_weight
            restore_deferred_weight(self, var)
        if regularizer is not None:
            if isinstance(regularizer, (str, dict)):
                regularizer = _resolve("regularizers", regularizer)
            self._regularized.append((regularizer, var))
        return var

    add_variable = add_weight

    def get_weights(self):
        return [w.numpy() for w in self.weights]

    def set_weights(self, weights):
        params = self.weights
        weights = list(weights)
        if len(params) != len(weights):
            raise ValueError(f"[{self.name}] set_weights expected {len(params)} weight arrays "
                             f"({[tuple(p.shape) for p in params]}), got {len(weights)}")
        for p, w in zip(params, weights):
            w = _asarray(w._data if isinstance(w, Tensor) else w)
            if tuple(w.shape) != tuple(p._data.shape):
                raise ValueError(f"[{self.name}] weight {getattr(p, 'path', p.name)} has shape "
                                 f"{tuple(p._data.shape)}, but the provided array has shape "
                                 f"{tuple(w.shape)}")
        for p, w in zip(params, weights):
            np.copyto(p._data, _asarray(w._data if isinstance(w, Tensor) else w),
                      casting="unsafe")

    def count_params(self):
        if not self.built:
            raise ValueError(f"[{self.name}] you tried to call count_params on layer {self.name}, "
                             "but the layer isn't built. Build it first (call it on data or "
                             "call build(input_shape)).")
        return int(sum(int(np.prod(w._data.shape)) for w in self.weights))

    # -- losses --------------------------------------------------------------------------
    def add_loss(self, losses, inputs=None):
        if callable(losses) and not isinstance(losses, Tensor):
            losses = losses()
        for l in losses if isinstance(losses, (list, tuple)) else [losses]:
            if l is None:
                continue
            if not isinstance(l, Tensor):
                l = _wrap(_asarray(l, dtype=np.float32))
            if self._loss_call_id != _CTX.call_id:
                self._eager_losses = []
                self._loss_call_id = _CTX.call_id
            self._eager_losses.append(l)
            if _CTX.loss_sink is not None:
                _CTX.loss_sink.append(l)

    # -- metrics (Keras 2 `add_metric`, removed in Keras 3) ---------------------------------
    def add_metric(self, value, name=None, aggregation=None, **kwargs):
        """Keras 2: tracks `value` (a Tensor computed in `call`) in a Mean metric called
        `name`, reported by fit/evaluate with the model's metrics and reset with them.
        A Metric object is tracked as it is (its result is reported)."""
        from ..metrics import Metric, Mean
        if aggregation not in (None, "mean"):
            raise ValueError(f"[{self.name}.add_metric] aggregation must be None or 'mean', "
                             f"got {aggregation!r}")
        if _is_symbolic(value):
            raise NotImplementedError(
                f"[{self.name}.add_metric] a metric of a symbolic KerasTensor needs a "
                "functional model (keras.Model(inputs, outputs).add_metric); in a layer or a "
                "subclassed model, call add_metric inside call() instead")
        metrics = self.__dict__.setdefault("_added_metrics", {})
        if isinstance(value, Metric):
            metrics[name or value.name] = value
            _bump_tree()  # every change of _added_metrics does (Model.metrics caches them)
            return
        from ..metrics import metric_of_result
        metric_obj = metric_of_result(value)
        if metric_obj is not None:  # a Metric's result: that metric, already updated (Keras 2)
            if metric_obj.name not in metrics:
                metrics[metric_obj.name] = metric_obj
                _bump_tree()
            return
        if name is None:
            raise ValueError(f"[{self.name}.add_metric] please provide a name for your metric")
        if _CTX.symbolic:  # tracing a functional call on dummy data: create, don't update
            if name not in metrics:
                metrics[name] = None
                _bump_tree()
            return
        m = metrics.get(name)
        if m is None:
            m = metrics[name] = Mean(name=name)
            _bump_tree()
        with _no_tape():
            m.update_state(value)

    @property
    def metrics(self):
        """The Metric objects of this layer and its sublayers: attributes and add_metric's."""
        return list(_tree_cache(self, "metrics", self._walk_metrics))

    def _walk_metrics(self):
        out = []
        for layer in self._flatten_layers():
            for v in list(layer.__dict__.values()) + [
                    m for m in layer.__dict__.get("_added_metrics", {}).values()
                    if m is not None]:
                if isinstance(v, _METRIC_TYPES) and not any(v is o for o in out):
                    out.append(v)
        return out

    def _regularization_losses(self):
        out = []
        for l in self._flatten_layers():
            for reg, var in l._regularized:
                out.append(reg(var))
        return out

    @property
    def losses(self):
        out = []
        for l in self._flatten_layers():
            if l._loss_call_id == _CTX.call_id or _CTX.depth == 0:
                out.extend(l._eager_losses)
        out.extend(self._regularization_losses())
        return out

    # -- build / call --------------------------------------------------------------------
    def build(self, input_shape):
        self._build_input_shape = input_shape
        self.built = True

    def _maybe_build(self, inputs):
        if self.built:
            return
        shapes = _shape_of(inputs)
        if isinstance(shapes, list) and len(shapes) == 1 and not isinstance(inputs, (list, tuple)):
            shapes = shapes[0]
        if self.input_spec is not None and isinstance(shapes, tuple):
            for spec in (self.input_spec if isinstance(self.input_spec, (list, tuple))
                         else [self.input_spec]):
                spec.check(self.name, shapes)
        build = type(self).build
        if build is not Layer.build:
            self.build(_as_tensor_shapes(shapes))
        self._build_input_shape = shapes
        self.built = True
        if self._initial_weights is not None:
            w = self._initial_weights
            self._initial_weights = None
            self.set_weights(w)

    def call(self, inputs, *args, **kwargs):
        return inputs

    def _autocast_kinds(self):
        """The input dtype kinds __call__ casts to the layer's dtype ("" when it casts none)."""
        if not self._autocast:
            return ""
        return "fiub" if self._autocast_ints else "f"

    def _own_weights_on_gpu(self):
        w = self.__dict__.get("_trainable_weights") or self.__dict__.get("_non_trainable_weights")
        return bool(w) and w[0]._data.__class__ is not np.ndarray

    def _casts_int_inputs(self):
        return bool(self._autocast and self._autocast_ints)

    def __call__(self, inputs=None, *args, **kwargs):
        if inputs is None and kwargs and self._call_first_arg in kwargs:
            inputs = kwargs.pop(self._call_first_arg)  # layer(logits=x): Keras 2 takes it out
        t = type(inputs)
        if t is not Tensor and t is not Variable:
            if _is_symbolic(inputs):
                return self._symbolic_call(inputs, args, kwargs)
            inputs = _convert_input(inputs, self._np_dtype, self._autocast_kinds())
        elif self._autocast and inputs._data.dtype != self._np_dtype:
            inputs = _convert_input(inputs, self._np_dtype, self._autocast_kinds())
        if not self.built:
            self._maybe_build(inputs)
        if type(inputs) is Tensor:
            if type(inputs._data) is np.ndarray and self._own_weights_on_gpu():
                inputs = _to_current_device(inputs)
        elif type(inputs) in (list, tuple) and len(inputs) > 1:
            inputs = _mixed_to_gpu(inputs)
        ctx = _CTX
        prev = ctx.training
        training = kwargs.pop("training", None) if kwargs else None
        if training is None:
            training = prev
        if self._call_accepts_training:
            kwargs["training"] = training
        mask = kwargs.pop("mask", None) if kwargs else None
        if mask is None and _MASKS:
            mask = _input_mask(inputs)
        if mask is not None and self._call_accepts_mask:
            kwargs["mask"] = mask
        ctx.training = training
        if ctx.depth == 0:
            ctx.call_id += 1
        ctx.depth += 1
        try:
            out = self.call(inputs, *args, **kwargs)
        finally:
            ctx.depth -= 1
            ctx.training = prev
        if (mask is not None or self._computes_mask) and self.supports_masking:
            out_mask = self.compute_mask(inputs, mask)
            if out_mask is not None:
                _attach_masks(out, out_mask)
        if self.activity_regularizer is not None:
            for o in flatten(out):
                if isinstance(o, Tensor):
                    n = o._data.shape[0] if o._data.ndim else 1
                    self.add_loss(self.activity_regularizer(o) / float(n))
        return out

    def _symbolic_call(self, inputs, args, kwargs):
        flat_in = [t for t in flatten([inputs, list(args), list(kwargs.values())])
                   if isinstance(t, KerasTensor)]
        batch = None
        for t in flat_in:
            if len(t.shape) and t.shape[0] is not None:
                batch = t.shape[0]
                break
        has_var = any(d is None for t in flat_in for d in tuple(t.shape)[1:])
        none_batch = batch is None
        b = 2 if batch is None else batch

        def run(fill):
            def fill_in(struct):
                return map_structure(lambda t: _dummy_for(t, b, fill)
                                     if isinstance(t, KerasTensor) else t, struct)
            dummy = fill_in(inputs)
            d_args, d_kwargs = args, dict(kwargs)
            if any(isinstance(t, KerasTensor) for t in flatten([list(args),
                                                                 list(kwargs.values())])):
                d_args = tuple(fill_in(a) for a in args)
                d_kwargs = {k: fill_in(v) for k, v in kwargs.items()}
            _CTX.symbolic += 1
            try:
                # the trial inputs are zeros, so x / y warns 0/0 (keras.ops.divide(h, norm(h)))
                with _no_tape(), np.errstate(divide="ignore", invalid="ignore"):
                    return self.__call__(dummy, *d_args, **d_kwargs)
            finally:
                _CTX.symbolic -= 1
        if not has_var:
            out, out2 = run(2), None
        else:
            # Axes of unknown size (None) are tried at two sizes, n and 2n; the output axes
            # that differ are unknown too. Small sizes first (cheap); larger ones when a layer
            # needs more room (a VALID convolution or a pooling chain on an unknown image size).
            out = out2 = None
            for fill in (2, 8, 32, 64):
                state = self._build_state()
                try:
                    out = run(fill)
                except Exception:
                    self._restore_build_state(state)
                    if fill == 64:
                        raise
                    continue
                try:
                    out2 = run(2 * fill)
                except Exception as e:
                    self._restore_build_state(state)
                    unknown = [(i, tuple(t.shape)) for t in flat_in
                               for i, d in enumerate(tuple(t.shape)) if i and d is None]
                    raise ValueError(
                        f"[{self.name}] the output or the weights of this layer depend on an "
                        f"input axis of unknown size (None): "
                        + ", ".join(f"axis {i} of input shape {s}" for i, s in unknown)
                        + "; give that axis a size (e.g. keras.Input(shape=...)) before this "
                        f"layer ({type(e).__name__}: {e})") from e
                break

        def to_kt(o, o2=None):
            if not isinstance(o, Tensor):
                o = _wrap(_asarray(o))
            shp = list(o._data.shape)
            if shp and none_batch and shp[0] == b:
                shp[0] = None
            if o2 is not None:
                s2 = o2._data.shape
                for i in range(1, min(len(shp), len(s2))):
                    if shp[i] != s2[i]:
                        shp[i] = None
            kt = KerasTensor(shp, o._data.dtype)
            m = get_mask(o)
            if m is not None:
                kt._mask_ndim = m._data.ndim
            return kt
        flat_out = flatten(out)
        flat_out2 = flatten(out2) if out2 is not None else [None] * len(flat_out)
        kts = [to_kt(o, o2) for o, o2 in zip(flat_out, flat_out2)]
        if len(kts) == 1 and isinstance(flat_out[0], Tensor):
            self._infer_shape_value(kts[0], flat_out[0], flat_in, run)
        outputs = pack_like(out, kts) if isinstance(out, (list, tuple, dict)) else kts[0]
        Node(self, inputs, args, dict(kwargs), outputs)
        if self._last_output_shape is None:
            self._last_output_shape = map_structure(lambda t: tuple(t.shape), outputs)
        return outputs

    def _infer_shape_value(self, kt, value, flat_in, run):
        """Keras 2's KerasTensor inferred_value: the value of a small int vector computed
        from static shapes (tf.shape(x), then tf.shape(x)[1], tf.range of it...), None where
        it follows an unknown size, so the trial runs downstream see the real sizes."""
        a = value._data
        if getattr(a, "dtype", None) is None or a.dtype.kind not in "iu" or a.ndim > 1 or \
                a.size > 16 or not flat_in:
            return
        if getattr(self, "symbol", None) == "shape" and len(flat_in) == 1:
            iv = list(flat_in[0].shape)
            kt._shape = TensorShape([len(iv)])
        elif all(getattr(t, "_inferred_value", None) is not None for t in flat_in):
            first = np.asarray(value.numpy()).reshape(-1).tolist()
            _INFER_NONE[0] = 3
            try:
                again = flatten(run(2))[0]
            finally:
                _INFER_NONE[0] = 2
            second = np.asarray(again.numpy()).reshape(-1).tolist()
            if len(first) != len(second):
                return
            iv = [int(u) if u == v else None for u, v in zip(first, second)]
        else:
            return
        if None in tuple(kt.shape) or int(np.prod(tuple(kt.shape), dtype=int)) != len(iv):
            return
        kt._inferred_value = iv

    def _build_state(self):
        """What a first call may change: the built flag and the weight lists (restored when a
        symbolic call's trial run fails, so no weights built from a made-up size remain)."""
        if self.built:
            return None
        return (self._build_input_shape, len(self._trainable_weights),
                len(self._non_trainable_weights), len(self._regularized))

    def _restore_build_state(self, state):
        if state is None:
            return
        d = self.__dict__
        d["built"] = False
        d["_build_input_shape"] = state[0]
        del self._trainable_weights[state[1]:]
        del self._non_trainable_weights[state[2]:]
        del self._regularized[state[3]:]

    def compute_mask(self, inputs, mask=None):
        """The output mask: the input mask, passed through by layers that support masking."""
        if not self.supports_masking:
            return None
        return mask

    def compute_output_shape(self, input_shape):
        def kt(s):
            return KerasTensor(s, self._np_dtype)
        if isinstance(input_shape, list) and input_shape and isinstance(input_shape[0], (list, tuple)):
            ins = [kt(s) for s in input_shape]
        else:
            ins = kt(input_shape)
        saved = len(self._inbound_nodes)
        out = self._symbolic_call(ins, (), {})
        del self._inbound_nodes[saved:]
        return map_structure(lambda t: tuple(t.shape), out)

    # -- shapes ----------------------------------------------------------------------------
    def _node_in_out(self):
        if self._inbound_nodes:
            return self._inbound_nodes[0]
        return None

    @property
    def input(self):
        n = self._node_in_out()
        if n is None:
            raise AttributeError(f"[{self.name}] layer has never been called and thus has no "
                                 "defined input")
        return n.call_inputs

    @property
    def output(self):
        n = self._node_in_out()
        if n is None:
            raise AttributeError(f"[{self.name}] layer has never been called and thus has no "
                                 "defined output")
        return n.outputs

    @property
    def input_shape(self):
        n = self._node_in_out()
        if n is not None:
            shapes = n.input_shapes
            return shapes
        if self._build_input_shape is not None:
            return _with_none_batch(self._build_input_shape)
        if self._batch_input_shape is not None:
            return self._batch_input_shape
        raise AttributeError(f"[{self.name}] the layer has never been called and thus has no "
                             "defined input shape")

    @property
    def output_shape(self):
        n = self._node_in_out()
        if n is not None:
            return n.output_shapes
        if self._last_output_shape is not None:
            return self._last_output_shape
        raise AttributeError(f"[{self.name}] the layer has never been called and thus has no "
                             "defined output shape")

    # -- config ----------------------------------------------------------------------------
    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable, "dtype": self._dtype_name}
        if self._batch_input_shape is not None:
            config["batch_input_shape"] = list(self._batch_input_shape)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if "batch_shape" in config and "batch_input_shape" not in config:
            config["batch_input_shape"] = config.pop("batch_shape")
        try:
            return cls(**config)
        except TypeError as e:
            raise TypeError(f"[{cls.__name__}.from_config] cannot rebuild the layer from "
                            f"{config}: {e}") from None

    def get_build_config(self):
        if self._build_input_shape is not None:
            return {"input_shape": _with_none_batch(self._build_input_shape)}
        return None

    def build_from_config(self, config):
        if config and config.get("input_shape") is not None and not self.built:
            self.build(_as_tensor_shapes(config["input_shape"]))
            self.built = True

    def save_own_variables(self, store):
        """Keras 3's `.keras` hook: writes this layer's weights into the dict-like `store`
        under "0", "1", ... (a subclass may add its own keys)."""
        for i, w in enumerate(self.weights):
            store[str(i)] = np.asarray(w.numpy())

    def load_own_variables(self, store):
        """Keras 3's `.keras` hook: assigns this layer's weights from `store["0"]`, ..."""
        ws = self.weights
        n = sum(1 for k in store.keys() if str(k).isdigit())
        if n != len(ws):
            raise ValueError(f"[{type(self).__name__}.load_own_variables] layer '{self.name}' "
                             f"has {len(ws)} weights but the store holds {n}")
        for i, w in enumerate(ws):
            w.assign(store[str(i)])

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


def _with_none_batch(shape):
    if isinstance(shape, tuple):
        return (None,) + tuple(shape[1:]) if shape else shape
    if isinstance(shape, list):
        return [_with_none_batch(s) for s in shape]
    if isinstance(shape, dict):
        return {k: _with_none_batch(s) for k, s in shape.items()}
    return shape


def _as_tensor_shapes(shapes):
    if isinstance(shapes, tuple):
        return TensorShape(shapes)
    if isinstance(shapes, list):
        if shapes and all(isinstance(d, (int, type(None))) for d in shapes):
            return TensorShape(shapes)
        return [_as_tensor_shapes(s) for s in shapes]
    if isinstance(shapes, dict):
        return {k: _as_tensor_shapes(s) for k, s in shapes.items()}
    return shapes


_LAYER_REGISTRY = {"Layer": Layer}
