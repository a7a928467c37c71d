"""TF1 math/array/random ops as graph ops. Each one records a call to the eager nabi op of the
same meaning (nabi.ops.*); only TF1 argument spellings are translated here."""
import builtins as _b

import numpy as np

import nabi as _n
from ... import dtypes as _dt
from ...framework.device import to_device
from ...framework.tensor import Tensor as EagerTensor
from ...ops import array_ops as _A
from ...ops import math_ops as _M
from ...ops import random_ops as _R
from .graph import (Operation, Tensor, _eager_error, apply_op, dummy_value, get_default_graph,
                    _graph_of, host_tensor, on_host)


def _w(eager_fn, op_type):
    def f(*args, name=None, **kwargs):
        return apply_op(op_type, eager_fn, args, kwargs, name=name)
    f.__name__ = getattr(eager_fn, "__name__", op_type)
    f.__doc__ = f"Graph version of `nabi.{f.__name__}` (op type {op_type})."
    return f


# -- elementwise ---------------------------------------------------------------------------
add = _w(_M.add, "Add")
subtract = _w(_M.subtract, "Sub")
sub = subtract
multiply = _w(_M.multiply, "Mul")
mul = multiply
divide = _w(_M.divide, "RealDiv")
truediv = _w(_M.truediv, "RealDiv")
div = _w(_M.divide, "Div")
floordiv = _w(_M.floordiv, "FloorDiv")
floormod = _w(_M.floormod, "FloorMod")
mod = floormod
pow = _w(_M.pow, "Pow")  # noqa: A001
maximum = _w(_M.maximum, "Maximum")
minimum = _w(_M.minimum, "Minimum")
squared_difference = _w(_M.squared_difference, "SquaredDifference")
negative = _w(_M.negative, "Neg")
neg = negative
abs = _w(_M.abs, "Abs")  # noqa: A001
sign = _w(_M.sign, "Sign")
exp = _w(_M.exp, "Exp")
expm1 = _w(_M.expm1, "Expm1")
log = _w(_M.log, "Log")
log1p = _w(_M.log1p, "Log1p")
sqrt = _w(_M.sqrt, "Sqrt")
rsqrt = _w(_M.rsqrt, "Rsqrt")
square = _w(_M.square, "Square")
reciprocal = _w(_M.reciprocal, "Reciprocal")
sin = _w(_M.sin, "Sin")
cos = _w(_M.cos, "Cos")
tan = _w(_M.tan, "Tan")
floor = _w(_M.floor, "Floor")
ceil = _w(_M.ceil, "Ceil")
round = _w(_M.round, "Round")  # noqa: A001
erf = _w(_M.erf, "Erf")
is_nan = _w(_M.is_nan, "IsNan")
is_inf = _w(_M.is_inf, "IsInf")
is_finite = _w(_M.is_finite, "IsFinite")
logical_not = _w(_M.logical_not, "LogicalNot")
logical_and = _w(_M.logical_and, "LogicalAnd")
logical_or = _w(_M.logical_or, "LogicalOr")
logical_xor = _w(_M.logical_xor, "LogicalXor")
less = _w(_M.less, "Less")
less_equal = _w(_M.less_equal, "LessEqual")
greater = _w(_M.greater, "Greater")
greater_equal = _w(_M.greater_equal, "GreaterEqual")
equal = _w(_M.equal, "Equal")
not_equal = _w(_M.not_equal, "NotEqual")
clip_by_value = _w(_M.clip_by_value, "ClipByValue")
sigmoid = _w(_n.sigmoid, "Sigmoid")
tanh = _w(_n.tanh, "Tanh")
matmul = _w(_M.matmul, "MatMul")
tensordot = _w(_M.tensordot, "Tensordot")
cumsum = _w(_M.cumsum, "Cumsum")


def add_n(inputs, name=None):
    return apply_op("AddN", _M.add_n, (list(inputs),), name=name)


def cast(x, dtype, name=None):
    return apply_op("Cast", _M.cast, (x, _dt.as_dtype(dtype)), name=name)


def to_float(x, name="ToFloat"):
    return cast(x, _dt.float32, name=name)


def to_double(x, name="ToDouble"):
    return cast(x, _dt.float64, name=name)


def to_int32(x, name="ToInt32"):
    return cast(x, _dt.int32, name=name)


def to_int64(x, name="ToInt64"):
    return cast(x, _dt.int64, name=name)


# -- reductions (TF1 spellings: reduction_indices, keep_dims) ---------------------------------
def _reduction(eager_fn, op_type):
    def f(input_tensor, axis=None, keepdims=None, name=None, reduction_indices=None,
          keep_dims=None):
        if axis is None:
            axis = reduction_indices
        elif reduction_indices is not None:
            raise ValueError(f"[{op_type}] give axis or reduction_indices, not both")
        k = bool(keepdims if keepdims is not None else (keep_dims or False))
        return apply_op(op_type, eager_fn, (input_tensor,), {"axis": axis, "keepdims": k},
                        name=name)
    f.__name__ = eager_fn.__name__
    return f


reduce_sum = _reduction(_M.reduce_sum, "Sum")
reduce_mean = _reduction(_M.reduce_mean, "Mean")
reduce_max = _reduction(_M.reduce_max, "Max")
reduce_min = _reduction(_M.reduce_min, "Min")
reduce_prod = _reduction(_M.reduce_prod, "Prod")
reduce_any = _reduction(_M.reduce_any, "Any")
reduce_all = _reduction(_M.reduce_all, "All")
reduce_logsumexp = _reduction(_M.reduce_logsumexp, "ReduceLogSumExp")


def _arg(eager_fn, op_type):
    def f(input, axis=None, name=None, dimension=None, output_type=_dt.int64):  # noqa: A002
        if axis is None:
            axis = dimension if dimension is not None else 0   # TF1: axis defaults to 0
        return apply_op(op_type, eager_fn, (input,),
                        {"axis": axis, "output_type": _dt.as_dtype(output_type)}, name=name)
    return f


argmax = _arg(_M.argmax, "ArgMax")
argmin = _arg(_M.argmin, "ArgMin")
arg_max = argmax
arg_min = argmin


# -- creation ----------------------------------------------------------------------------------
def constant(value, dtype=None, shape=None, name="Const", verify_shape=False):
    if isinstance(value, Tensor):
        raise TypeError("[constant] value must not be a graph Tensor")
    if isinstance(value, EagerTensor):
        raise _eager_error("Const", get_default_graph())
    if isinstance(value, str) or (isinstance(value, (list, tuple)) and value and
                                  isinstance(value[0], (str, bytes))):
        arr = np.array(value, dtype=object)
        if arr.ndim == 0:
            arr = np.array(value if isinstance(value, bytes) else value, dtype=object)
        val = host_tensor(arr)
    else:
        with on_host():
            val = _n.constant(value, dtype=dtype, shape=shape)
    return apply_op("Const", lambda: val, (), name=name)


def zeros(shape, dtype=_dt.float32, name=None):
    return apply_op("Zeros", _A.zeros, (shape, _dt.as_dtype(dtype)), name=name or "zeros")


def ones(shape, dtype=_dt.float32, name=None):
    return apply_op("Ones", _A.ones, (shape, _dt.as_dtype(dtype)), name=name or "ones")


def zeros_like(tensor, dtype=None, name=None, optimize=True):
    return apply_op("ZerosLike", _A.zeros_like, (tensor,), {"dtype": dtype}, name=name)


def ones_like(tensor, dtype=None, name=None, optimize=True):
    return apply_op("OnesLike", _A.ones_like, (tensor,), {"dtype": dtype}, name=name)


def _fill_on_host(dims, value):
    # nabi.fill builds its result with np.full, which cannot take a GPU fill value: fill on the
    # host (the session moves the result to the run device)
    with on_host():
        return _A.fill(_arr(dims), _arr(value))


def fill(dims, value, name=None):
    return apply_op("Fill", _fill_on_host, (dims, value), name=name)


range = _w(_A.range, "Range")  # noqa: A001
linspace = _w(_A.linspace, "LinSpace")
eye = _w(_A.eye, "Eye")
one_hot = _w(_A.one_hot, "OneHot")


def convert_to_tensor(value, dtype=None, name=None, preferred_dtype=None, dtype_hint=None):
    if isinstance(value, Tensor):
        if dtype is not None and value.dtype != _dt.as_dtype(dtype):
            raise ValueError(f"Tensor conversion requested dtype {_dt.as_dtype(dtype).name} for "
                             f"Tensor with dtype {value.dtype.name}: {value!r}")
        return value
    return constant(value, dtype=dtype, name=name or "Const")


# -- random ---------------------------------------------------------------------------------
def set_random_seed(seed):
    """Graph-level seed: makes the random ops (and initialisers) repeat across program runs."""
    get_default_graph().seed = seed
    _R.set_seed(seed)


def _arr(v):
    """Shapes and distribution parameters as host values (the samplers draw on the host)."""
    if isinstance(v, EagerTensor):
        return to_device(v._data, "cpu")
    if isinstance(v, (list, tuple)):
        return [_arr(a) for a in v]
    return v


def _rand(fn):
    def f(shape, a, b, dtype, seed):
        shape = _arr(shape)
        if isinstance(shape, np.ndarray):
            shape = shape.tolist()
        elif isinstance(shape, list):
            shape = [int(d) for d in shape]
        return fn(shape, _arr(a), _arr(b), dtype, seed)
    return f


def random_normal(shape, mean=0.0, stddev=1.0, dtype=_dt.float32, seed=None, name=None):
    return apply_op("RandomStandardNormal", _rand(_R.normal), (shape, mean, stddev, _dt.as_dtype(dtype),
                                                        seed), name=name or "random_normal")


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=_dt.float32, seed=None, name=None):
    return apply_op("TruncatedNormal", _rand(_R.truncated_normal),
                    (shape, mean, stddev, _dt.as_dtype(dtype), seed), name=name or "truncated_normal")


def random_uniform(shape, minval=0, maxval=None, dtype=_dt.float32, seed=None, name=None):
    return apply_op("RandomUniform", _rand(_R.uniform), (shape, minval, maxval, _dt.as_dtype(dtype), seed),
                    name=name or "random_uniform")


random_shuffle = _w(_R.shuffle, "RandomShuffle")


def multinomial(logits, num_samples, seed=None, name=None, output_dtype=None):
    return apply_op("Multinomial", _R.categorical, (logits, num_samples),
                    {"dtype": output_dtype or _dt.int64, "seed": seed}, name=name)


# -- shapes and arrays --------------------------------------------------------------------------
reshape = _w(_A.reshape, "Reshape")
transpose = _w(_A.transpose, "Transpose")
expand_dims = _w(_A.expand_dims, "ExpandDims")
tile = _w(_A.tile, "Tile")
pad = _w(_A.pad, "Pad")
reverse = _w(_A.reverse, "ReverseV2")
gather_nd = _w(_A.gather_nd, "GatherNd")
boolean_mask = _w(_A.boolean_mask, "BooleanMask")
broadcast_to = _w(_A.broadcast_to, "BroadcastTo")
identity = _w(_A.identity, "Identity")
shape = _w(_A.shape, "Shape")
size = _w(_A.size, "Size")
rank = _w(_A.rank, "Rank")
slice = _w(_A.slice, "Slice")  # noqa: A001
strided_slice = _w(_A.strided_slice, "StridedSlice")
sort = _w(_A.sort, "Sort")
argsort = _w(_A.argsort, "Argsort")


def squeeze(input, axis=None, name=None, squeeze_dims=None):  # noqa: A002
    if axis is None:
        axis = squeeze_dims
    return apply_op("Squeeze", _A.squeeze, (input,), {"axis": axis}, name=name)


def concat(values, axis, name="concat"):
    """TF1 argument order: concat(values, axis)."""
    if isinstance(values, (Tensor, EagerTensor)) or not isinstance(values, (list, tuple)):
        raise TypeError("[concat] values must be a list of tensors (TF1 order: concat(values, axis))")
    return apply_op("ConcatV2", _A.concat, (list(values), axis), name=name)


def stack(values, axis=0, name="stack"):
    return apply_op("Pack", _A.stack, (list(values), axis), name=name)


pack = stack


def unstack(value, num=None, axis=0, name="unstack"):
    return tuple(apply_op("Unpack", lambda v: tuple(_A.unstack(v, num, axis)), (value,),
                          name=name, num_outputs=num))


unpack = unstack


def split(value, num_or_size_splits, axis=0, num=None, name="split"):
    n = num_or_size_splits if isinstance(num_or_size_splits, int) else None
    return list(apply_op("Split", lambda v: tuple(_A.split(v, num_or_size_splits, axis, num)),
                         (value,), name=name, num_outputs=n or num))


def gather(params, indices, validate_indices=None, name=None, axis=0, batch_dims=0):
    return apply_op("GatherV2", _A.gather, (params, indices), {"axis": axis,
                                                               "batch_dims": batch_dims}, name=name)


def where(condition, x=None, y=None, name=None):
    if x is None and y is None:
        return apply_op("Where", _A.where, (condition,), name=name)
    return apply_op("Select", _A.where, (condition, x, y), name=name)


def _getitem(x, idx):
    if isinstance(idx, list) and not any(isinstance(i, (Tensor, EagerTensor)) for i in idx):
        idx = np.asarray(idx)
    if isinstance(idx, (_b.tuple, _b.slice)) and _has_graph_slice(idx):
        # slice bounds given as graph scalars: pass them as separate inputs
        parts = idx if isinstance(idx, _b.tuple) else (idx,)
        flat = []
        spec = []
        for p in parts:
            if isinstance(p, _b.slice):
                spec.append(("s", [_put(flat, p.start), _put(flat, p.stop), _put(flat, p.step)]))
            else:
                spec.append(("i", _put(flat, p)))

        def fn(v, *vals):
            def get(k):
                if k is None or not isinstance(k, _b.tuple):
                    return k
                a = vals[k[1]]
                return int(a._data) if isinstance(a, EagerTensor) else a
            out = []
            for kind, s in spec:
                if kind == "s":
                    out.append(_b.slice(get(s[0]), get(s[1]), get(s[2])))
                else:
                    out.append(get(s))
            return _A.getitem(v, _b.tuple(out))
        return apply_op("StridedSlice", fn, (x, *flat), name="strided_slice")
    return apply_op("StridedSlice", _A.getitem, (x, idx), name="strided_slice")


def _has_graph_slice(idx):
    parts = idx if isinstance(idx, _b.tuple) else (idx,)
    for p in parts:
        if isinstance(p, _b.slice) and any(isinstance(b, Tensor) for b in (p.start, p.stop, p.step)):
            return True
    return False


def _put(flat, v):
    if isinstance(v, Tensor):
        flat.append(v)
        return ("t", len(flat) - 1)
    return v


# -- control flow / grouping ---------------------------------------------------------------------
def no_op(name="NoOp"):
    return Operation(get_default_graph(), "NoOp", name, [], lambda vals: None)


def group(*inputs, name="group_deps"):
    g = None
    ops = []
    for x in inputs:
        for y in (x if isinstance(x, (list, tuple)) else [x]):
            if y is None:
                continue
            y = y.op if isinstance(y, Tensor) else y
            if not isinstance(y, Operation):
                raise TypeError(f"[group] expected ops or tensors, got {type(y).__name__}")
            ops.append(y)
            g = y.graph
    op = Operation(g or get_default_graph(), "NoOp", name, [], lambda vals: None)
    for o in ops:
        op._add_control_input(o)
    return op


def tuple_(tensors, name=None, control_inputs=None):
    gate = group(*[t for t in tensors if t is not None], *(control_inputs or []))
    out = []
    g = gate.graph
    with g.control_dependencies([gate]):
        for t in tensors:
            out.append(None if t is None else identity(t))
    return out


def cond(pred, true_fn=None, false_fn=None, strict=False, name=None, fn1=None, fn2=None):
    """Both branches are built and evaluated; the predicate picks the result (so branches must
    be free of side effects that matter)."""
    true_fn = true_fn or fn1
    false_fn = false_fn or fn2
    if not isinstance(pred, Tensor):
        return true_fn() if pred else false_fn()
    a = true_fn()
    b = false_fn()
    multi = isinstance(a, (list, tuple))
    la = list(a) if multi else [a]
    lb = list(b) if multi else [b]
    outs = []
    for x, y in zip(la, lb):
        outs.append(apply_op("Cond", lambda p, u, v: u if bool(p._data) else v, (pred, x, y),
                             name=name or "cond", probe_fn=lambda p, u, v: u,
                             shape_override=x.shape))
    return type(a)(outs) if multi else outs[0]


def stop_gradient(input, name=None):  # noqa: A002
    return apply_op("StopGradient", _n.stop_gradient, (input,), name=name)


def Print(input_, data, message=None, first_n=None, summarize=None, name=None):  # noqa: N802
    def fn(x, *ds):
        print(message or "", *[d.numpy() for d in ds])
        return x
    return apply_op("Print", fn, (input_, *data), name=name, probe_fn=lambda x, *ds: x,
                    shape_override=input_.shape if isinstance(input_, Tensor) else None)


def gradients(ys, xs, grad_ys=None, name="gradients", stop_gradients=None, **kwargs):
    """Symbolic gradients d(sum ys)/d(xs): a graph op whose run reuses the eager GradientTape
    (the same backward rules as eager mode). Unconnected xs give None (as TF1)."""
    from .graph import _probe  # noqa: F401
    ys_l = list(ys) if isinstance(ys, (list, tuple)) else [ys]
    xs_l = list(xs) if isinstance(xs, (list, tuple)) else [xs]
    gys = None if grad_ys is None else (list(grad_ys) if isinstance(grad_ys, (list, tuple))
                                        else [grad_ys])
    for t in ys_l + xs_l + (gys or []):
        if isinstance(t, EagerTensor):
            raise _eager_error("gradients", get_default_graph())
        if not isinstance(t, Tensor):
            raise TypeError(f"[gradients] expected graph tensors, got {type(t).__name__}")
    g = _graph_of(ys_l + xs_l, "gradients")
    # which xs the ys depend on (through data edges)
    seen = set()
    stack = [t.op for t in ys_l]
    reach = set(ys_l)
    while stack:
        op = stack.pop()
        if op._index in seen:
            continue
        seen.add(op._index)
        for t in op.inputs:
            reach.add(t)
            stack.append(t.op)
    connected = [x for x in xs_l if x in reach]
    ny = len(ys_l)
    inputs = ys_l + (gys or [])

    def fn(sess, vals, tape, values):
        targets = vals[:ny]
        ogs = vals[ny:] if gys is not None else None
        srcs = [values[x] for x in connected]
        grads = tape.gradient(targets, srcs, output_gradients=ogs) if srcs else []
        out = []
        for gr, s in zip(grads, srcs):
            out.append(_A.zeros_like(s) if gr is None else gr)
        return out
    op = Operation(g, "Gradients", name, inputs, fn, kind="gradients")
    op._sources = connected
    outs = []
    for i, x in enumerate(connected):
        probes = None if x._probes is None else tuple(_A.zeros_like(p) for p in x._probes)
        outs.append(Tensor(op, i, None if probes is None else list(x.shape), x.dtype, probes))
        if probes is None:
            outs[-1]._shape = x.shape
    op.outputs = outs
    it = iter(outs)
    return [next(it) if x in reach else None for x in xs_l]


def placeholder(dtype, shape=None, name=None):
    """`tf.placeholder(dtype, shape=None, name=None)`; `None` dims accept any size when fed."""
    from ...framework.tensor import TensorShape
    dt = _dt.as_dtype(dtype)
    g = get_default_graph()
    op = Operation(g, "Placeholder", name or "Placeholder", [], None, kind="placeholder")
    if shape is None:
        # unknown rank: probe with a scalar, but keep the derived static shapes unknown
        t = Tensor(op, 0, None, dt, (dummy_value((), dt, 0),))
        t._rank_unknown = True
    else:
        shp = TensorShape(shape)
        probes = (dummy_value(shp, dt, 0),) if shp.is_fully_defined() else \
            (dummy_value(shp, dt, 0), dummy_value(shp, dt, 1))
        t = Tensor(op, 0, shp, dt, probes)
    t._tainted_int = not dt.is_floating
    op.outputs = [t]
    return t


def placeholder_with_default(input, shape, name=None):  # noqa: A002
    from ...framework.tensor import TensorShape
    if not isinstance(input, Tensor):
        input = constant(input)
    shp = TensorShape(shape) if shape is not None else None
    t = apply_op("PlaceholderWithDefault", _A.identity, (input,), name=name or
                 "PlaceholderWithDefault", shape_override=shp)
    if shp is not None and not shp.is_fully_defined():
        t._probes = None if t._probes is None else t._probes
    return t


# -- space <-> batch: TF1's spellings (a scalar block_size) and the _nd ops -----------------
from ...ops import array_extra_ops as _X  # noqa: E402
space_to_batch = _w(_X.space_to_batch_v1, "SpaceToBatch")
batch_to_space = _w(_X.batch_to_space_v1, "BatchToSpace")
space_to_batch_nd = _w(_X.space_to_batch_nd, "SpaceToBatchND")
batch_to_space_nd = _w(_X.batch_to_space_nd, "BatchToSpaceND")


def dynamic_partition(data, partitions, num_partitions, name=None):
    return list(apply_op("DynamicPartition",
                         lambda d, p: tuple(_X.dynamic_partition(d, p, num_partitions)),
                         (data, partitions), name=name, num_outputs=int(num_partitions)))


dynamic_stitch = _w(_X.dynamic_stitch, "DynamicStitch")
