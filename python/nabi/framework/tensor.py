"""`Tensor` and `Variable`: eager tensors whose storage is a NumPy array (CPU) or a
`DeviceArray` (GPU, nabi.framework.device).

Kernels receive the array itself (no copy); ops that need C-contiguous input make it so.
New tensors made from host values go to the current device (`nabi.device`, else the GPU when
one is available); ops keep their inputs' device, and mixing devices in one op is an error.
"""
import enum
import itertools
import weakref

import numpy as np

from .. import dtypes as _dt
from . import tape as _tape
from .device import DeviceArray, parse_device, place, require_gpu, to_device

__all__ = ["Tensor", "Variable", "TensorShape", "convert_to_tensor", "constant", "is_tensor"]


class TensorShape(tuple):
    """A tuple of dimensions (None for unknown) with TF's helpers. TensorShape(None) has an
    unknown rank (rank None, compatible with every shape, as_list() raises, as TF); as a
    tuple it is empty."""
    _unknown = False

    def __new__(cls, dims=()):
        if dims is None or (isinstance(dims, TensorShape) and dims._unknown):
            t = super().__new__(cls, ())
            t._unknown = True
            return t
        if isinstance(dims, int):
            dims = (dims,)
        return super().__new__(cls, (None if d is None else int(d) for d in dims))

    def as_list(self):
        if self._unknown:
            raise ValueError("as_list() is not defined on an unknown TensorShape.")
        return list(self)

    @property
    def rank(self):
        return None if self._unknown else len(self)

    ndims = rank

    @property
    def dims(self):
        return None if self._unknown else list(self)

    def num_elements(self):
        if self._unknown or any(d is None for d in self):
            return None
        n = 1
        for d in self:
            n *= d
        return n

    def is_fully_defined(self):
        return not self._unknown and all(d is not None for d in self)

    def is_compatible_with(self, other):
        """Same rank and every pair of dimensions equal or one of them unknown (None); an
        unknown rank is compatible with every shape."""
        other = TensorShape(other)
        if self._unknown or other._unknown:
            return True
        return len(self) == len(other) and all(
            a is None or b is None or a == b for a, b in zip(self, other))

    def merge_with(self, other):
        """The most specific shape compatible with both; ValueError when there is none."""
        other = TensorShape(other)
        if not self.is_compatible_with(other):
            raise ValueError(f"Shapes {list(self)} and {list(other)} are not compatible")
        if self._unknown or other._unknown:
            return other if self._unknown else self
        return TensorShape(a if a is not None else b for a, b in zip(self, other))

    def concatenate(self, other):
        return TensorShape(tuple(self) + tuple(TensorShape(other)))

    def assert_is_compatible_with(self, other):
        if not self.is_compatible_with(other):
            raise ValueError(f"Shapes {list(self)} and {list(TensorShape(other))} are "
                             "incompatible")

    def with_rank(self, rank):
        if len(self) != rank:
            raise ValueError(f"Shape {list(self)} must have rank {rank}")
        return self

    def __getitem__(self, i):
        r = tuple.__getitem__(self, i)
        return TensorShape(r) if isinstance(i, slice) else r

    def __repr__(self):
        return "TensorShape(None)" if self._unknown else f"TensorShape({list(self)})"


    # TF: a TensorShape equals a list of the same dimensions (x.shape == [2, 3] was False)
    def __eq__(self, other):
        if isinstance(other, list):
            other = tuple(other)
        if self._unknown or getattr(other, "_unknown", False):
            return self._unknown and getattr(other, "_unknown", False)
        return tuple.__eq__(self, other) if isinstance(other, tuple) else NotImplemented

    def __ne__(self, other):
        r = self.__eq__(other)
        return r if r is NotImplemented else not r

    __hash__ = tuple.__hash__


def _default_dtype_for(value):
    """TF's defaults: Python floats -> float32, ints -> int32 (int64 if too large)."""
    if isinstance(value, bool) or isinstance(value, np.bool_):
        return np.bool_
    if isinstance(value, float):
        return np.float32
    if isinstance(value, int):
        return np.int32 if -2**31 <= value < 2**31 else np.int64
    return None


class Tensor:
    """An immutable n-dimensional array that GradientTape can differentiate through."""

    # _static (set only by shape/size/rank and indexing of their results): the value as a host
    # NumPy array, as TF knows a shape tensor's value on the host. A GPU model's tf.shape(x)[0]
    # then feeds tf.zeros/tf.random.normal shapes without reading the GPU (a synchronisation).
    # Tensors are immutable, so it cannot go stale; unset on every other tensor.
    __slots__ = ("_data", "_static", "__weakref__")
    __array_priority__ = 1000
    _is_variable = False

    def __init__(self, value, dtype=None):
        self._data = convert_to_tensor(value, dtype)._data

    # -- properties ------------------------------------------------------------------
    @property
    def shape(self):
        return TensorShape(self._data.shape)

    def get_shape(self):
        return self.shape

    def set_shape(self, shape):
        """TF's shape assertion: an eager tensor's shape is already fully known, so this only
        checks that `shape` (None for an unknown dimension) is compatible with it."""
        want = TensorShape(shape.as_list() if hasattr(shape, "as_list") else shape)
        if not self.shape.is_compatible_with(want):
            raise ValueError(f"[set_shape] Tensor's shape {tuple(self._data.shape)} is not "
                             f"compatible with supplied shape {tuple(want)}")

    @property
    def dtype(self):
        return _dt.as_dtype(self._data.dtype)

    @property
    def ndim(self):
        return self._data.ndim

    @property
    def device(self):
        kind = "GPU" if type(self._data) is DeviceArray else "CPU"
        return f"/job:localhost/replica:0/task:0/device:{kind}:0"

    @property
    def name(self):
        return None

    # Keras's mask attribute, kept in the engine's side table (keras/layers/base.py) since
    # Tensors have __slots__. As on a TF eager tensor, reading or deleting it when no mask is
    # attached raises AttributeError (`getattr(t, "_keras_mask", None)` and the NMT tutorial's
    # `try: del logits._keras_mask except AttributeError` work).
    @property
    def _keras_mask(self):
        from ..keras.layers.base import get_mask
        m = get_mask(self)
        if m is None:
            raise AttributeError("'Tensor' object has no attribute '_keras_mask'")
        return m

    @_keras_mask.setter
    def _keras_mask(self, mask):
        from ..keras.layers.base import set_mask
        set_mask(self, mask)

    @_keras_mask.deleter
    def _keras_mask(self):
        from ..keras.layers.base import get_mask, set_mask
        if get_mask(self) is None:
            raise AttributeError("_keras_mask")
        set_mask(self, None)

    def numpy(self):
        a = self._data
        if type(a) is DeviceArray:
            return a.get()
        if a.ndim == 0 and a.dtype.kind in "OSU":
            # a scalar string is `bytes`, as in TF (`.numpy().decode()`), also when it came
            # from indexing a string tensor (a 0-d 'S' array) or holds str
            v = a.item()
            return v.encode("utf-8") if isinstance(v, str) else v
        return a

    def __array__(self, dtype=None, copy=None):
        a = self._data
        if type(a) is DeviceArray:
            a = a.get()
        if dtype is not None and a.dtype != dtype:
            return a.astype(dtype)
        return a.copy() if copy else a

    def __len__(self):
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        for i in range(self._data.shape[0]):
            yield self[i]

    def __bool__(self):
        if self._data.size != 1:
            raise ValueError(f"The truth value of a tensor of shape {self._data.shape} is ambiguous")
        return bool(self._data.reshape(()))

    # float()/int() take any one-element tensor, as TF's did on the NumPy of its day (the DLWP
    # notebooks' float(predictions[0] * 100) on a shape-(1,) row); NumPy 2 refuses ndim > 0.
    def __float__(self):
        return float(self._scalar("float"))

    def __int__(self):
        return int(self._scalar("int"))

    def _scalar(self, op):
        if self._data.size != 1:
            raise TypeError(f"[{op}] only a tensor with one element converts to a Python "
                            f"scalar, got shape {tuple(self._data.shape)}")
        return self._data.reshape(())

    def __index__(self):
        if self._data.dtype.kind not in "iu":
            raise TypeError("only integer tensors can be used as an index")
        return int(self._data)

    def __hash__(self):
        return id(self)

    def ref(self):
        return _Ref(self)

    experimental_ref = ref

    def _body(self, separator):
        v = self.numpy()
        if not isinstance(v, np.ndarray):      # a scalar string's numpy() is bytes, as in TF
            return repr(v)
        return np.array2string(v, separator=separator)

    def __repr__(self):
        body = self._body(", " if self._data.ndim == 0 else " ")
        return f"<nabi.Tensor: shape={tuple(self._data.shape)}, dtype={self.dtype.name}, numpy={body}>"

    def __str__(self):
        body = self._body(" ")
        return f"nabi.Tensor({body}, shape={tuple(self._data.shape)}, dtype={self.dtype.name})"

    def __format__(self, format_spec):
        """f"{loss:2.5f}" formats the value, as a TF eager tensor does (a scalar)."""
        if not format_spec:
            return str(self)
        return format(self.numpy(), format_spec)

    # -- conversions -----------------------------------------------------------------
    def cpu(self):
        return self.to("cpu")

    def to(self, device):
        """This tensor on `device` ('cpu', 'cuda', 'cuda:0', '/GPU:0', ...): itself when it is
        there already, else a copy (not recorded on tapes, as in PyTorch's .detach().to())."""
        kind = parse_device(device)
        if kind == "cuda":
            require_gpu("Tensor.to", device)
        arr = to_device(self._data, kind)
        return self if arr is self._data else _wrap(arr)

    def cuda(self, device=None):
        return self.to("cuda:0" if device is None else device)

    @property
    def is_cuda(self):
        return type(self._data) is DeviceArray

    # -- operators (implemented in nabi.ops) -----------------------------------------
    def __add__(self, o): return _ops().add(self, o)
    def __radd__(self, o): return _ops().add(o, self)
    def __sub__(self, o): return _ops().subtract(self, o)
    def __rsub__(self, o): return _ops().subtract(o, self)
    def __mul__(self, o): return _ops().multiply(self, o)
    def __rmul__(self, o): return _ops().multiply(o, self)
    def __truediv__(self, o): return _ops().divide(self, o)
    def __rtruediv__(self, o): return _ops().divide(o, self)
    def __floordiv__(self, o): return _ops().floordiv(self, o)
    def __rfloordiv__(self, o): return _ops().floordiv(o, self)
    def __mod__(self, o): return _ops().floormod(self, o)
    def __rmod__(self, o): return _ops().floormod(o, self)
    def __pow__(self, o): return _ops().pow(self, o)
    def __rpow__(self, o): return _ops().pow(o, self)
    def __matmul__(self, o): return _ops().matmul(self, o)
    def __rmatmul__(self, o): return _ops().matmul(o, self)
    def __neg__(self): return _ops().negative(self)
    def __pos__(self): return self
    def __abs__(self): return _ops().abs(self)
    # ~ & | ^: logical on bool tensors, bitwise on integer ones (as TF; logical ops on ints
    # gave bool)
    def __invert__(self):
        return _ops().logical_not(self) if self._data.dtype.kind == "b" else _bitwise().invert(self)

    def __and__(self, o):
        return _ops().logical_and(self, o) if self._data.dtype.kind == "b" else \
            _bitwise().bitwise_and(self, o)

    def __or__(self, o):
        return _ops().logical_or(self, o) if self._data.dtype.kind == "b" else \
            _bitwise().bitwise_or(self, o)

    def __xor__(self, o):
        return _ops().logical_xor(self, o) if self._data.dtype.kind == "b" else \
            _bitwise().bitwise_xor(self, o)
    def __lt__(self, o): return _ops().less(self, o)
    def __le__(self, o): return _ops().less_equal(self, o)
    def __gt__(self, o): return _ops().greater(self, o)
    def __ge__(self, o): return _ops().greater_equal(self, o)
    def __eq__(self, o): return _ops().equal(self, o)
    def __ne__(self, o): return _ops().not_equal(self, o)
    def __getitem__(self, idx): return _ops().getitem(self, idx)

    # TF-style method helpers
    def eval(self, feed_dict=None, session=None):
        return self.numpy()


class _Ref:
    __slots__ = ("_t",)

    def __init__(self, t):
        self._t = t

    def deref(self):
        return self._t

    def __hash__(self):
        return id(self._t)

    def __eq__(self, o):
        return isinstance(o, _Ref) and o._t is self._t


_OPS = None


def _bitwise():
    from .. import bitwise
    return bitwise


def _scatter_ufunc(ufunc):
    """A `fn(value, indices (n, 1), updates)` for Variable._scatter: ufunc.at on the host, so
    repeated rows combine (as TF's scatter_mul / scatter_div)."""
    def fn(value, indices, updates):
        out = np.array(to_device(value._data, "cpu"), copy=True)
        idx = np.asarray(to_device(indices._data, "cpu")).reshape(-1)
        ufunc.at(out, idx, np.asarray(to_device(updates._data, "cpu"), out.dtype))
        return _wrap(out if type(value._data) is np.ndarray else to_device(out, "cuda"))
    return fn


def _ops():
    global _OPS
    if _OPS is None:
        from .. import ops as _o
        _OPS = _o
    return _OPS


def _wrap(arr):
    """A Tensor around `arr` (no copy, no checks): the ops' fast constructor."""
    if type(arr) is not np.ndarray and type(arr) is not DeviceArray:
        arr = np.asarray(arr)
    t = Tensor.__new__(Tensor)
    t._data = arr
    return t


def is_tensor(x):
    return isinstance(x, Tensor)


def convert_to_tensor(value, dtype=None, dtype_hint=None, name=None):
    """Converts a Tensor, NumPy array, Python number or nested list to a Tensor.

    Non-tensors adapt to `dtype` (or `dtype_hint`) and go to the current device; a Tensor of
    another dtype is an error. A Variable becomes a Tensor holding a snapshot of its value (as
    TF reads it), through which gradients flow back to the variable.
    """
    if isinstance(value, Tensor) and value._is_variable:
        return _read_variable(value, dtype, "convert_to_tensor")
    if type(value) in (list, tuple):
        first = _first_tensor(value)
        if first is not None:  # TF packs a list of tensors (a Pack op): on their device, and
            # gradients flow
            from ..ops.array_ops import stack
            dt = dtype if dtype is not None else first.dtype
            return stack([convert_to_tensor(v, dt) for v in value])
    t = _host_tensor(value, dtype, dtype_hint)
    if t is not value and type(t._data) is np.ndarray:
        d = place(t._data)
        if d is not t._data:
            t._data = d
    return t


def _first_tensor(value):
    for v in value:
        if isinstance(v, Tensor):
            return v
        if type(v) in (list, tuple):
            t = _first_tensor(v)
            if t is not None:
                return t
    return None


def _read_variable(var, dtype=None, op="Variable.read_value"):
    """A Tensor holding a copy of `var`'s current value; tapes see it as identity(var), so the
    gradient reaches the variable (TF's ReadVariableOp)."""
    if dtype is not None and var._data.dtype != _dt.as_dtype(dtype)._np:
        raise TypeError(f"[{op}] variable {var.name} has dtype {var.dtype.name}, requested "
                        f"{_dt.as_dtype(dtype).name}")
    out = _wrap(var._data.copy())
    if _tape._tapes:
        if _RECORD_TAKES_TENSOR_RULE:   # the rule passes g through: arrays and Tensors alike
            _tape.record((var,), out, _pass_gradient, _pass_gradient, op)
        else:
            _tape.record((var,), out, _pass_gradient)
    return out


# A tape whose record() also takes the rule on Tensors (second-order gradients) gets it.
_RECORD_TAKES_TENSOR_RULE = "backward_t" in __import__("inspect").signature(_tape.record).parameters


def _pass_gradient(g, needs):
    return (g,)


def _host_tensor(value, dtype=None, dtype_hint=None):
    """convert_to_tensor without the placement: non-tensors become host tensors."""
    t = _host_tensor_any(value, dtype, dtype_hint)
    if t is not value and t._data.dtype.kind in "USO" and type(t._data) is np.ndarray:
        t._data = _utf8_storage(t._data)
    return t


def _utf8_storage(arr):
    """String tensors hold bytes in an object array, as TF's .numpy() shows them: str
    elements are UTF-8 encoded (other objects, e.g. pandas' numbers, are left alone)."""
    if arr.dtype.kind == "S":
        return arr.astype(object)
    flat = arr.reshape(-1).tolist()
    if not any(isinstance(v, str) for v in flat):
        return arr if arr.dtype.kind == "O" else arr.astype(object)
    out = np.empty(len(flat), dtype=object)
    out[:] = [v.encode("utf-8") if isinstance(v, str) else v for v in flat]
    return out.reshape(arr.shape)


def _host_tensor_any(value, dtype=None, dtype_hint=None):
    if isinstance(value, Tensor):
        if dtype is not None and value._data.dtype != _dt.as_dtype(dtype)._np:
            raise TypeError(f"[convert_to_tensor] tensor has dtype {value.dtype.name}, "
                            f"requested {_dt.as_dtype(dtype).name}")
        return value
    if value is None:       # TF's error; a silent NaN or None-string tensor hid the mistake
        raise ValueError("[convert_to_tensor] Attempt to convert a value (None) with an "
                         "unsupported type (<class 'NoneType'>) to a Tensor.")
    kind = type(value).__name__
    if kind in ("RaggedTensor", "SparseTensor") and type(value).__module__.startswith("nabi."):
        how = ("rt.to_tensor() or tf.ragged.map_flat_values(op, rt)" if kind == "RaggedTensor"
               else "tf.sparse.to_dense(st) or tf.sparse.map_values(op, st)")
        raise ValueError(f"[convert_to_tensor] a {kind} is not a dense Tensor, and this op "
                         f"does not take one on nabi; use {how}")
    want = dtype if dtype is not None else dtype_hint
    if want is not None:
        want = _dt.as_dtype(want)._np
    if isinstance(value, np.ndarray):
        if want is not None and value.dtype != want and dtype is not None:
            value = value.astype(want)
        elif want is not None and value.dtype != want and dtype_hint is not None:
            if _can_adapt(value.dtype, want):
                value = value.astype(want)
        return _wrap(value)
    if isinstance(value, np.generic):
        arr = np.asarray(value)
        if want is not None and arr.dtype != want and (dtype is not None or _can_adapt(arr.dtype, want)):
            arr = arr.astype(want)
        return _wrap(arr)
    if want is None:
        d = _default_dtype_for(value)
        if d is None:
            arr = np.asarray(_unwrap_nested(value))
            if arr.dtype == np.float64 and not _has_numpy_leaf(value):
                arr = arr.astype(np.float32)
            elif arr.dtype == np.int64 and not _has_numpy_leaf(value) and arr.size and \
                    arr.min() >= -2**31 and arr.max() < 2**31:
                arr = arr.astype(np.int32)
            elif arr.dtype.kind in "US":
                arr = _exact_strings(value, arr)
            return _wrap(arr)
        return _wrap(np.asarray(value, dtype=d))
    arr = np.asarray(_unwrap_nested(value))
    if arr.dtype.kind in "US" and np.dtype(want).kind == "O":
        arr = _exact_strings(value, arr)
    if arr.dtype.kind in "fO" and np.dtype(want).kind in "iu" and not _has_numpy_leaf(value):
        # Python ints beyond int64 ([0, 2**64 - 1] would become float64): kept exact
        obj = np.array(_unwrap_nested(value), dtype=object)
        if obj.size and all(type(v) is int for v in obj.reshape(-1)):
            arr = obj
    if arr.dtype.kind in "fc" and np.dtype(want).kind in "iub" and dtype is not None:
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise TypeError(f"[convert_to_tensor] cannot convert {value!r} to {np.dtype(want).name} "
                            "without losing information")
    if arr.dtype.kind in "iuO" and np.dtype(want).kind in "iu" and dtype is not None and \
            arr.size and not _has_numpy_leaf(value):
        # TF refuses Python ints outside the dtype's range (tf.constant(-1, tf.uint32))
        info = np.iinfo(want)
        if arr.min() < int(info.min) or arr.max() > int(info.max):
            raise TypeError(f"[convert_to_tensor] cannot convert {value!r} to "
                            f"{np.dtype(want).name}: out of its range [{info.min}, {info.max}]")
    return _wrap(arr.astype(want, copy=False))


def _exact_strings(value, arr):
    """An object array of the Python strings in `value`: NumPy's fixed-width 'U'/'S' arrays
    drop trailing NUL characters (b'a\\x00' reads back as b'a'), TF keeps every byte."""
    obj = np.array(_unwrap_nested(value), dtype=object)
    return obj if obj.shape == arr.shape else arr.astype(object)


def _can_adapt(src, want):
    src, want = np.dtype(src), np.dtype(want)
    if src.kind == want.kind:
        return True
    return src.kind in "iub" and want.kind == "f"


def _has_numpy_leaf(value):
    if isinstance(value, (np.ndarray, np.generic)):
        return True
    if isinstance(value, (list, tuple)) and value:
        return _has_numpy_leaf(value[0])
    return False


def _unwrap_nested(value):
    if isinstance(value, Tensor):
        return value._data
    if isinstance(value, (list, tuple)):
        if any(isinstance(v, (Tensor, list, tuple)) for v in value):
            return [_unwrap_nested(v) for v in value]
    return value


def constant(value, dtype=None, shape=None, name=None):
    """A constant tensor (a copy of `value`), optionally cast and reshaped/broadcast."""
    if isinstance(value, Tensor):
        arr = value.numpy().copy()
        if dtype is not None:
            arr = arr.astype(_dt.as_dtype(dtype)._np)
    else:
        t = _host_tensor(value, dtype=dtype)
        arr = np.array(t._data, copy=True)
    if shape is not None:
        shape = tuple(shape)
        if arr.size == 1:
            arr = np.full(shape, arr.reshape(()), dtype=arr.dtype)
        else:
            if int(np.prod(shape)) != arr.size:
                raise ValueError(f"[constant] cannot reshape {arr.size} elements to shape {shape}")
            arr = arr.reshape(shape)
    return _wrap(place(arr))


_VAR_COUNT = [0]


# The tf.function calls running now, innermost last (function.Function.__call__): each is told
# when a Variable is created, so that it can enforce TF's "variables on the first call only".
_variable_watchers = []


class VariableSynchronization(enum.Enum):
    """`tf.VariableSynchronization` (nabi has one replica: kept on the variable only)."""
    AUTO = 0
    NONE = 1
    ON_WRITE = 2
    ON_READ = 3


class VariableAggregation(enum.Enum):
    """`tf.VariableAggregation` (nabi has one replica: kept on the variable only)."""
    NONE = 0
    SUM = 1
    MEAN = 2
    ONLY_FIRST_REPLICA = 3


_variable_uids = itertools.count(1)   # creation order (GradientTape.watched_variables)


def _enum_arg(cls, v):
    """A synchronization / aggregation argument: None (the first member), a member, its value,
    its name in any case ('on_read', Keras's 'mean') or another enum with such a name."""
    if v is None:
        return next(iter(cls))
    if isinstance(v, cls):
        return v
    name = getattr(v, "name", v)
    try:
        return cls[name.upper()] if isinstance(name, str) else cls(int(v))
    except (KeyError, ValueError, TypeError):
        raise ValueError(f"[Variable] invalid {cls.__name__}: {v!r}") from None


def _name_scope_prefix():
    from ..control_flow import name_scope
    return name_scope._stack[-1] if name_scope._stack else ""


class Variable(Tensor):
    """A mutable tensor; trainable Variables are watched by GradientTape automatically.

    Updates happen in place, so kernels (the fused optimizer updates) may write into
    `_data` directly.
    """

    __slots__ = ("_name", "trainable", "_constraint", "_aggregation", "__dict__")
    _is_variable = True
    _declared = None     # the declared shape when it has None dims (see __init__)
    _sync = VariableSynchronization.AUTO

    def __init__(self, initial_value=None, trainable=None, name=None, dtype=None, shape=None,
                 constraint=None, validate_shape=True, synchronization=None, aggregation=None,
                 **kwargs):
        if initial_value is None:
            raise ValueError("[Variable] initial_value must be given")
        if _variable_watchers:   # inside a tf.function: its rule on creating variables
            _variable_watchers[-1].variable_created()
        if callable(initial_value) and not isinstance(initial_value, Tensor):
            initial_value = initial_value()
        t = _host_tensor(initial_value, dtype=dtype) if not isinstance(initial_value, Tensor) \
            else initial_value
        if dtype is not None and isinstance(initial_value, Tensor):
            t = _wrap(t._data.astype(_dt.as_dtype(dtype)._np))
        data = t._data.copy() if type(t._data) is DeviceArray else \
            np.array(t._data, copy=True, order="C")
        self._data = place(data) if type(data) is np.ndarray else data
        self._uid = next(_variable_uids)
        # TF's declared shape: `shape` (None dims, or TensorShape(None)) is what later assigns
        # must fit; validate_shape=False allows any shape
        self._declared = None
        if shape is not None or not validate_shape:
            decl = TensorShape(None) if not validate_shape else TensorShape(
                shape.as_list() if hasattr(shape, "as_list") and shape.rank is not None
                else shape)
            if not decl.is_compatible_with(data.shape):
                raise ValueError(f"[Variable] the initial value's shape {tuple(data.shape)} is "
                                 f"not compatible with the explicitly supplied `shape` "
                                 f"argument {decl!r}")
            if not decl.is_fully_defined():
                self._declared = decl
        # TF: a variable made inside tf.name_scope('a') is named 'a/<name>:0'
        self._name = _name_scope_prefix() + ("Variable" if name is None else name)
        self._sync = _enum_arg(VariableSynchronization, synchronization)
        self._aggregation = _enum_arg(VariableAggregation, aggregation)
        if trainable is None:   # TF: an ON_READ variable (a metric's) is not trainable
            trainable = self._sync is not VariableSynchronization.ON_READ
        self.trainable = bool(trainable)
        self._constraint = constraint

    @property
    def shape(self):
        return self._declared if self._declared is not None else TensorShape(self._data.shape)

    @property
    def synchronization(self):
        return self._sync

    @property
    def aggregation(self):
        return getattr(self, "_aggregation", VariableAggregation.NONE)

    @property
    def name(self):
        return self._name if self._name.endswith(":0") or "/" in self._name and ":" in self._name \
            else self._name + ":0"

    @property
    def constraint(self):
        return self._constraint

    @property
    def value_tensor(self):
        return _wrap(self._data)

    def value(self):
        return _read_variable(self, op="Variable.value")

    def read_value(self):
        return _read_variable(self)

    def numpy(self):
        a = self._data
        return a.get() if type(a) is DeviceArray else a.copy()

    def _check(self, v, op):
        if not isinstance(v, (Tensor, np.ndarray, np.generic)):
            # TF converts Python values to the variable's dtype: [1.5] for an int variable
            # raises (it was truncated to 1)
            try:
                convert_to_tensor(v, dtype=self.dtype)
            except (TypeError, ValueError) as e:
                raise TypeError(f"[Variable.{op}] {e} ({self._name})") from None
        arr = v._data if isinstance(v, Tensor) else np.asarray(v)
        if type(self._data) is DeviceArray and type(arr) is np.ndarray and arr.size > 1:
            arr = DeviceArray.from_numpy(arr.astype(self._data.dtype, copy=False))
        if arr.shape != self._data.shape and op == "assign" and self._declared is not None \
                and self._declared.is_compatible_with(arr.shape):
            return arr    # a new shape the declared one allows
        if arr.shape != self._data.shape:
            raise ValueError(f"[Variable.{op}] shape {arr.shape} does not match the variable's "
                             f"shape {self._data.shape} ({self._name})")
        if isinstance(v, Tensor) and arr.dtype != self._data.dtype:
            raise TypeError(f"[Variable.{op}] dtype {arr.dtype} does not match the variable's "
                            f"dtype {self._data.dtype} ({self._name})")
        return arr

    # TF returns the variable (None with read_value=False)
    def assign(self, value, use_locking=None, name=None, read_value=True):
        arr = self._check(value, "assign")
        if arr.shape != self._data.shape:     # allowed by the declared shape: a new buffer
            self._data = arr.astype(self._data.dtype) if type(arr) is DeviceArray else \
                place(np.array(arr, dtype=self._data.dtype, copy=True, order="C"))
        else:
            np.copyto(self._data, arr, casting="unsafe")
        return self if read_value else None

    def assign_add(self, delta, use_locking=None, name=None, read_value=True):
        arr = self._check(delta, "assign_add")
        np.add(self._data, arr, out=self._data, casting="unsafe")
        return self if read_value else None

    def assign_sub(self, delta, use_locking=None, name=None, read_value=True):
        arr = self._check(delta, "assign_sub")
        np.subtract(self._data, arr, out=self._data, casting="unsafe")
        return self if read_value else None

    def _scatter(self, op, fn, indices, updates):
        """`fn(current value, indices, updates)` (an op of nabi.ops) written into the variable."""
        u = updates._data if isinstance(updates, Tensor) else \
            np.asarray(updates, dtype=self._data.dtype)
        on_gpu = type(self._data) is DeviceArray
        if on_gpu != (type(u) is DeviceArray):   # the updates follow the variable's device
            u = to_device(u, "cuda" if on_gpu else "cpu")
        new = fn(_wrap(self._data), indices, _wrap(u))
        return self.assign(new)

    def scatter_nd_update(self, indices, updates, use_locking=None, name=None):
        """v[indices[i]] = updates[i] (indices index the leading axes, as tf.scatter_nd)."""
        return self._scatter("scatter_nd_update", _ops().tensor_scatter_nd_update, indices,
                             updates)

    def scatter_nd_add(self, indices, updates, use_locking=None, name=None):
        return self._scatter("scatter_nd_add", _ops().tensor_scatter_nd_add, indices, updates)

    def scatter_nd_sub(self, indices, updates, use_locking=None, name=None):
        return self._scatter("scatter_nd_sub", _ops().tensor_scatter_nd_sub, indices, updates)

    def _scatter_rows(self, sparse_delta, op, fn):
        ind = sparse_delta.indices
        ind = _ops().expand_dims(ind, -1)
        return self._scatter(op, fn, ind, sparse_delta.values)

    def scatter_update(self, sparse_delta, use_locking=None, name=None):
        """Rows sparse_delta.indices of v set to sparse_delta.values (a tf.IndexedSlices)."""
        return self._scatter_rows(sparse_delta, "scatter_update",
                                  _ops().tensor_scatter_nd_update)

    def scatter_add(self, sparse_delta, use_locking=None, name=None):
        return self._scatter_rows(sparse_delta, "scatter_add", _ops().tensor_scatter_nd_add)

    def scatter_sub(self, sparse_delta, use_locking=None, name=None):
        return self._scatter_rows(sparse_delta, "scatter_sub", _ops().tensor_scatter_nd_sub)

    def scatter_max(self, sparse_delta, use_locking=None, name=None):
        from ..ops.extra_math_ops import tensor_scatter_nd_max
        return self._scatter_rows(sparse_delta, "scatter_max", tensor_scatter_nd_max)

    def scatter_min(self, sparse_delta, use_locking=None, name=None):
        from ..ops.extra_math_ops import tensor_scatter_nd_min
        return self._scatter_rows(sparse_delta, "scatter_min", tensor_scatter_nd_min)

    def scatter_mul(self, sparse_delta, use_locking=None, name=None):
        return self._scatter_rows(sparse_delta, "scatter_mul", _scatter_ufunc(np.multiply))

    def scatter_div(self, sparse_delta, use_locking=None, name=None):
        return self._scatter_rows(sparse_delta, "scatter_div", _scatter_ufunc(np.divide))

    # TF 2.21: `v += x` would silently rebind v to a new Tensor (leaving the variable as it
    # was), so it raises
    def _no_inplace(self, other):
        raise RuntimeError("[Variable] `variable += value` (and -=, *=, /=, **=) with "
                           "tf.Variables is not supported. Use `variable.assign_add(value)` "
                           "to modify the variable, or `out = variable + value` for a new "
                           "Tensor.")

    __iadd__ = __isub__ = __imul__ = __itruediv__ = __ipow__ = _no_inplace

    def sparse_read(self, indices, name=None):
        """tf.gather(v, indices): rows of the variable (differentiable)."""
        return _ops().gather(self, indices)

    def gather_nd(self, indices, name=None):
        return _ops().gather_nd(self, indices)

    def __getitem__(self, idx):
        # TF's v[idx]: the read value, which also has assign/assign_add/assign_sub that write
        # into that slice of the variable (v[0, 0].assign(3.)).
        out = _ops().getitem(self, idx)
        if type(out) is not Tensor:   # a symbolic/graph result: a plain read
            return out
        out.__class__ = _VariableSlice
        k = id(out)
        _VARIABLE_SLICES[k] = (self, idx, weakref.ref(out, lambda r: _VARIABLE_SLICES.pop(k, None)))
        return out

    def __repr__(self):
        body = np.array2string(self.numpy(), separator=", ", prefix="numpy=array(")
        return (f"<nabi.Variable '{self.name}' shape={tuple(self._data.shape)} "
                f"dtype={self.dtype.name}, numpy=array({body}, dtype={self.dtype.name})>")

    __hash__ = Tensor.__hash__

Variable.__str__ = Variable.__repr__

_VARIABLE_SLICES = {}   # id(slice) -> (variable, index, weakref dropping the entry on its death)


class _VariableSlice(Tensor):
    """`variable[idx]`: a Tensor (the value read) whose assign, assign_add and assign_sub
    update that slice of the variable in place and return the variable (TF's sliced
    assignment). The value is broadcast to the slice's shape."""

    __slots__ = ()

    def _update(self, value, op, fn):
        var, idx, _ = _VARIABLE_SLICES[id(self)]
        from ..ops.array_ops import _index_arg
        i = _index_arg(idx)
        cur = var._data[i]
        arr = value._data if isinstance(value, Tensor) else np.asarray(value)
        if type(arr) is DeviceArray:
            arr = arr.get()
        arr = np.asarray(arr).astype(var._data.dtype, copy=False)
        shape = tuple(np.shape(cur))
        try:
            np.broadcast_to(arr, shape)
        except ValueError:
            raise ValueError(f"[Variable.{op}] value of shape {arr.shape} does not fit the "
                             f"slice {idx!r} of shape {shape} of variable {var._name} "
                             f"(shape {tuple(var._data.shape)})") from None
        new = fn(cur.get() if type(cur) is DeviceArray else np.asarray(cur), arr)
        var._data[i] = new if type(var._data) is np.ndarray else np.broadcast_to(new, shape)
        return var

    def assign(self, value, use_locking=None, name=None, read_value=True):
        return self._update(value, "assign", lambda cur, v: v)

    def assign_add(self, delta, use_locking=None, name=None, read_value=True):
        return self._update(delta, "assign_add", lambda cur, v: cur + v)

    def assign_sub(self, delta, use_locking=None, name=None, read_value=True):
        return self._update(delta, "assign_sub", lambda cur, v: cur - v)
