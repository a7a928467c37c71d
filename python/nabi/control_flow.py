"""Eager control flow under TF 2's names: `cond`, `case`, `switch_case`, `while_loop`,
`map_fn`, `vectorized_map`, `foldl`, `foldr`, `scan`, `TensorArray`, plus `no_op`, `group`,
`tuple`, `control_dependencies`, `name_scope` and `init_scope`.

nabi runs eagerly, so each of these is a Python loop or branch with TF's argument
conventions (nested structures of tensors included). The ops inside are recorded on the
tapes as usual, so gradients flow through every branch and iteration that ran.
"""
import contextlib as _contextlib

import numpy as np

from . import nest as _nest
from .framework.tensor import Tensor, convert_to_tensor

__all__ = ["cond", "case", "switch_case", "while_loop", "map_fn", "vectorized_map", "foldl",
           "foldr", "scan", "TensorArray", "no_op", "group", "tuple_", "control_dependencies",
           "name_scope", "init_scope"]


def _bool(op, pred):
    if isinstance(pred, Tensor):
        a = pred.numpy()
        if a.size != 1:
            raise ValueError(f"[{op}] the predicate must be a scalar, got shape {tuple(a.shape)}")
        return builtins_bool(a.reshape(()))
    if isinstance(pred, np.ndarray) and pred.size != 1:
        raise ValueError(f"[{op}] the predicate must be a scalar, got shape {pred.shape}")
    return builtins_bool(pred)


builtins_bool = bool


def _as_tensors(structure):
    return _nest.map_structure(
        lambda v: v if isinstance(v, (Tensor, TensorArray)) or v is None else convert_to_tensor(v),
        structure)


def cond(pred, true_fn=None, false_fn=None, name=None):
    """Calls true_fn() when pred is true, else false_fn(), and returns its result."""
    if not callable(true_fn) or not callable(false_fn):
        raise TypeError("[cond] true_fn and false_fn must both be callables")
    return true_fn() if _bool("cond", pred) else false_fn()


def case(pred_fn_pairs, default=None, exclusive=False, strict=False, name="case"):
    """Runs the fn of the first pair whose predicate is true (with exclusive=True, more than
    one true predicate is an error); with none true, `default` (without one, an
    InvalidArgumentError, as TF's runtime assertion)."""
    if isinstance(pred_fn_pairs, dict):
        pred_fn_pairs = list(pred_fn_pairs.items())
    pairs = list(pred_fn_pairs)
    if not pairs and default is None:
        raise ValueError("[case] needs at least one (pred, fn) pair or a default")
    for p, f in pairs:
        if not callable(f):
            raise TypeError(f"[case] each pair must be (predicate, callable), got fn {f!r}")
    truth = [_bool("case", p) for p, _ in pairs]
    if exclusive and sum(truth) > 1:
        which = [i for i, t in enumerate(truth) if t]
        raise ValueError(f"[case] exclusive=True but predicates {which} are all true")
    for t, (_, f) in zip(truth, pairs):
        if t:
            return f()
    if default is None:
        from .errors import InvalidArgumentError
        raise InvalidArgumentError(f"[case] none of the {len(pairs)} predicates is true and no "
                                   "default was given")
    return default()


def switch_case(branch_index, branch_fns, default=None, name="switch_case"):
    """Runs branch_fns[branch_index] (a list, or a dict / list of (int, fn) pairs); an index
    out of range runs `default`, or without one the last branch, as TF."""
    i = branch_index.numpy() if isinstance(branch_index, Tensor) else np.asarray(branch_index)
    if i.shape != () or i.dtype.kind not in "iu":
        raise TypeError(f"[switch_case] branch_index must be an integer scalar, got "
                        f"{i.dtype.name} of shape {tuple(i.shape)}")
    i = int(i)
    if isinstance(branch_fns, dict):
        table = dict(branch_fns)
    elif branch_fns and isinstance(branch_fns[0], (list, tuple)):
        table = dict(branch_fns)
    else:
        table = dict(enumerate(branch_fns))
    if not table:
        raise ValueError("[switch_case] branch_fns must not be empty")
    if sorted(table) != list(range(len(table))):
        raise ValueError(f"[switch_case] branch indices (keys) must form the contiguous range "
                         f"[0, {len(table)}), got {sorted(table)}")
    if i in table:
        return table[i]()
    return default() if default is not None else table[max(table)]()


def while_loop(cond, body, loop_vars, shape_invariants=None, parallel_iterations=10,
               back_prop=True, swap_memory=False, maximum_iterations=None, name=None):
    """Repeats `loop_vars = body(*loop_vars)` while `cond(*loop_vars)` is true (at most
    maximum_iterations times) and returns loop_vars in their original structure."""
    if not callable(cond) or not callable(body):
        raise TypeError("[while_loop] cond and body must be callables")
    # a namedtuple is unpacked into its fields, as any tuple (TF: cond(*loop_vars))
    single = not isinstance(loop_vars, (list, tuple))
    vars_ = _as_tensors([loop_vars] if single else list(loop_vars))
    kind = type(loop_vars) if not single else None
    limit = None
    if maximum_iterations is not None:
        limit = int(maximum_iterations.numpy() if isinstance(maximum_iterations, Tensor)
                    else maximum_iterations)
    n = 0
    while (limit is None or n < limit) and _bool("while_loop", cond(*vars_)):
        out = body(*vars_)
        if single or not isinstance(out, (list, tuple)) or (len(vars_) == 1 and len(out) != 1):
            out = [out]  # one loop variable: body may return it bare
        out = list(out)
        if len(out) != len(vars_):
            raise ValueError(f"[while_loop] body returned {len(out)} value(s) for "
                             f"{len(vars_)} loop variable(s)")
        try:
            _nest.assert_same_structure(vars_, out, check_types=False)
        except (ValueError, TypeError) as e:
            raise ValueError(f"[while_loop] body must return the structure of loop_vars: {e}") \
                from None
        vars_ = _as_tensors(out)
        n += 1
    if single:
        return vars_[0]
    if kind is not None and hasattr(kind, "_fields"):
        return kind(*vars_)
    return tuple(vars_) if kind is tuple else vars_


def _unstacked(op, elems):
    from .ops.array_ops import unstack
    flat = [convert_to_tensor(e) if not isinstance(e, Tensor) else e for e in _nest.flatten(elems)]
    if not flat:
        raise ValueError(f"[{op}] elems must contain at least one tensor")
    ns = set()
    for e in flat:
        if e.shape.rank == 0:
            raise ValueError(f"[{op}] elements must have rank >= 1 to be split along axis 0, "
                             "got a scalar")
        ns.add(e.shape[0])
    if len(ns) != 1:
        raise ValueError(f"[{op}] all elems must have the same first dimension, got "
                         f"{[tuple(e.shape) for e in flat]}")
    n = ns.pop()
    cols = [unstack(e, num=n, axis=0) if n else [] for e in flat]
    items = [_nest.pack_sequence_as(elems, [c[i] for c in cols]) for i in range(n)]
    return items, n, flat


def _stack_results(op, results):
    from .ops.array_ops import stack
    first = results[0]
    flats = [_nest.flatten(r) for r in results]
    out = []
    for j in range(len(flats[0])):
        col = [convert_to_tensor(f[j]) if not isinstance(f[j], Tensor) else f[j] for f in flats]
        shapes = {tuple(c.shape) for c in col}
        if len(shapes) != 1:
            raise ValueError(f"[{op}] fn returned tensors of different shapes {sorted(shapes)} "
                             "for different elements")
        out.append(stack(col, axis=0))
    return _nest.pack_sequence_as(first, out)


def map_fn(fn, elems, dtype=None, parallel_iterations=None, back_prop=True, swap_memory=False,
           infer_shape=True, name=None, fn_output_signature=None):
    """fn applied to each slice elems[i] (of a tensor, or of a nest of tensors sharing the
    first dimension); the results are stacked along a new axis 0. A RaggedTensor in elems
    passes its rows (Tensors, or RaggedTensors with one ragged dimension fewer); outputs
    with a tf.RaggedTensorSpec signature (the default for ragged elems) stack into a
    RaggedTensor, those with a dtype / tf.TensorSpec into a Tensor, as in TF."""
    sig = fn_output_signature if fn_output_signature is not None else dtype
    if any(_is_ragged(e) for e in _nest.flatten(elems)) or \
            (sig is not None and any(_is_ragged_spec(s) for s in _nest.flatten(sig))):
        return _map_fn_ragged(fn, elems, sig)
    items, n, flat = _unstacked("map_fn", elems)
    if n == 0:
        sig = fn_output_signature if fn_output_signature is not None else dtype
        from .ops.array_ops import zeros
        from . import dtypes as _dt

        def empty(e, s=None):
            dt = getattr(s, "dtype", s) if s is not None else e.dtype
            return zeros((0,) + tuple(e.shape[1:]), dtype=_dt.as_dtype(dt))
        if sig is None:
            return _nest.map_structure(empty, elems)
        return _nest.map_structure(lambda s: zeros((0,) + tuple(getattr(s, "shape", ()) or ()),
                                                   dtype=_dt.as_dtype(getattr(s, "dtype", s))),
                                   sig)
    want = _nest.map_structure(lambda e: e.dtype, items[0]) if sig is None else \
        _nest.map_structure(lambda s: _dt_of(s), sig)
    return _stack_results("map_fn", [_fit_map_output(fn(x), want, sig is None) for x in items])


def _fit_scan_output(out, want):
    try:
        _nest.assert_same_structure(want, out, check_types=False)
    except (ValueError, TypeError) as e:
        raise ValueError(f"[scan] fn's output does not have the structure of the "
                         f"accumulator (initializer or elems[0]): {e}") from None

    def fit(o, dt):
        o = o if isinstance(o, Tensor) else convert_to_tensor(o, dtype=dt)
        if o.dtype != dt:
            from .errors import InvalidArgumentError
            raise InvalidArgumentError(f"[scan] fn returned {o.dtype.name} of shape "
                                       f"{tuple(o.shape)} for an accumulator of dtype "
                                       f"{dt.name}")
        return o
    return _nest.map_structure(fit, out, want)


def _dt_of(spec):
    from . import dtypes as _dt
    return _dt.as_dtype(getattr(spec, "dtype", spec))


def _fit_map_output(out, want, from_elems):
    """fn's result checked as TF's map_fn does: the structure and dtypes of
    fn_output_signature (without one, of elems); Python values converted to those dtypes."""
    what = "elems (give fn_output_signature when fn changes them)" if from_elems else \
        "fn_output_signature"
    try:
        _nest.assert_same_structure(want, out, check_types=False)
    except (ValueError, TypeError) as e:
        raise ValueError(f"[map_fn] fn's output does not have the structure of {what}: {e}") \
            from None

    def fit(o, dt):
        if not isinstance(o, Tensor):
            return convert_to_tensor(o, dtype=dt)
        if o.dtype != dt:
            from .errors import InvalidArgumentError
            raise InvalidArgumentError(f"[map_fn] fn returned {o.dtype.name} of shape "
                                       f"{tuple(o.shape)} where the dtype of {what} is {dt.name}")
        return o
    return _nest.map_structure(fit, out, want)


def _is_ragged(v):
    return getattr(type(v), "_is_ragged_tensor", False)


def _is_ragged_spec(s):
    return type(s).__name__ == "RaggedTensorSpec"


def _map_fn_ragged(fn, elems, sig):
    """map_fn with RaggedTensors among the elems or RaggedTensorSpecs in the signature."""
    from . import dtypes as _dt
    from .ops.array_ops import stack, unstack, zeros
    from .ragged import RaggedTensor, RaggedTensorSpec
    from .ragged import stack as ragged_stack
    flat = [e if isinstance(e, (Tensor, RaggedTensor)) else convert_to_tensor(e)
            for e in _nest.flatten(elems)]
    if not flat:
        raise ValueError("[map_fn] elems must contain at least one tensor")
    for e in flat:
        if len(e.shape) == 0:
            raise ValueError("[map_fn] elements must have rank >= 1 to be split along axis 0, "
                             "got a scalar")
    ns = {len(e) if isinstance(e, RaggedTensor) else e.shape[0] for e in flat}
    if len(ns) != 1:
        raise ValueError(f"[map_fn] all elems must have the same first dimension, got "
                         f"{[str(e.shape) for e in flat]}")
    n = ns.pop()
    cols = [list(e) if isinstance(e, RaggedTensor) else (unstack(e, num=n, axis=0) if n else [])
            for e in flat]
    results = [fn(_nest.pack_sequence_as(elems, [c[i] for c in cols])) for i in range(n)]
    if sig is None:     # TF: the elems' own specs, one dimension fewer
        sig = _nest.pack_sequence_as(elems, [
            RaggedTensorSpec(None, e.dtype, e.ragged_rank - 1) if isinstance(e, RaggedTensor)
            else e.dtype for e in flat])
    specs = _nest.flatten(sig)
    outs = []
    for j, spec in enumerate(specs):
        col = []
        for r in results:
            fr = _nest.flatten(r)
            if len(fr) != len(specs):
                raise ValueError(f"[map_fn] fn returned {len(fr)} value(s) but "
                                 f"fn_output_signature describes {len(specs)}")
            col.append(fr[j])
        dt = _dt.as_dtype(getattr(spec, "dtype", spec))
        if _is_ragged_spec(spec):
            col = [v if isinstance(v, (Tensor, RaggedTensor)) else convert_to_tensor(v, dt)
                   for v in col]
            for v in col:
                rr = v.ragged_rank if isinstance(v, RaggedTensor) else 0
                if v.dtype != dt or rr != spec.ragged_rank:
                    raise TypeError(f"[map_fn] fn returned a {type(v).__name__} of dtype "
                                    f"{v.dtype.name} and ragged_rank {rr}, but "
                                    f"fn_output_signature is {spec!r}")
            if not col:
                outs.append(RaggedTensor.from_row_lengths(zeros((0,), dt), []))
            else:
                outs.append(ragged_stack(col, axis=0))
            continue
        for v in col:
            if isinstance(v, RaggedTensor):
                raise TypeError(f"[map_fn] fn returned a RaggedTensor {v!r} but "
                                f"fn_output_signature is {spec!r}; use a tf.RaggedTensorSpec")
        col = [v if isinstance(v, Tensor) else convert_to_tensor(v, dt) for v in col]
        for v in col:
            if v.dtype != dt:
                raise TypeError(f"[map_fn] fn returned dtype {v.dtype.name} but "
                                f"fn_output_signature says {dt.name}")
        shapes = {tuple(v.shape) for v in col}
        if len(shapes) > 1:
            raise ValueError(f"[map_fn] fn returned tensors of different shapes "
                             f"{sorted(shapes)} for different elements; use a "
                             "tf.RaggedTensorSpec fn_output_signature to stack them ragged")
        if col:
            outs.append(stack(col, axis=0))
        else:
            outs.append(zeros((0,) + tuple(getattr(spec, "shape", None) or ()), dt))
    return _nest.pack_sequence_as(sig, outs)


def vectorized_map(fn, elems, fallback_to_while_loop=True, warn=True):
    """map_fn's results (nabi runs the loop; there is no graph to vectorise); fn may change
    dtypes, as TF's pfor allows."""
    items, n, _ = _unstacked("vectorized_map", elems)
    if n == 0:
        return map_fn(fn, elems)
    return _stack_results("vectorized_map", [fn(x) for x in items])


def _fold(op, fn, elems, initializer, reverse):
    items, n, _ = _unstacked(op, elems)
    if reverse:
        items = items[::-1]
    if initializer is None:
        if n == 0:
            raise ValueError(f"[{op}] elems is empty and no initializer was given")
        acc, items = items[0], items[1:]
    else:
        acc = _as_tensors(initializer)
    for x in items:
        acc = fn(acc, x)
    return acc


def foldl(fn, elems, initializer=None, parallel_iterations=10, back_prop=True, swap_memory=False,
          name=None):
    """acc = fn(acc, elems[i]) for i = 0, 1, ...; acc starts at initializer or elems[0]."""
    return _fold("foldl", fn, elems, initializer, False)


def foldr(fn, elems, initializer=None, parallel_iterations=10, back_prop=True, swap_memory=False,
          name=None):
    """acc = fn(acc, elems[i]) for i = n-1, ..., 0; acc starts at initializer or elems[-1]."""
    return _fold("foldr", fn, elems, initializer, True)


def scan(fn, elems, initializer=None, parallel_iterations=10, back_prop=True, swap_memory=False,
         infer_shape=True, reverse=False, name=None):
    """The running accumulators acc_i = fn(acc_{i-1}, elems[i]) stacked along axis 0 (in
    elems' order, also when reverse=True). Without an initializer, acc_0 = elems[0] and it is
    the first output."""
    items, n, _ = _unstacked("scan", elems)
    order = list(range(n))[::-1] if reverse else list(range(n))
    outs = [None] * n
    if initializer is None:
        if n == 0:
            raise ValueError("[scan] elems is empty and no initializer was given")
        acc = items[order[0]]
        outs[order[0]] = acc
        order = order[1:]
    else:
        acc = _as_tensors(initializer)
    # TF writes the accumulators to TensorArrays of the first one's structure and dtypes
    want = _nest.map_structure(lambda a: a.dtype, acc)
    for i in order:
        acc = _fit_scan_output(fn(acc, items[i]), want)
        outs[i] = acc
    if n == 0:
        from .ops.array_ops import zeros
        return _nest.map_structure(lambda a: zeros((0,) + tuple(a.shape), dtype=a.dtype), acc)
    return _stack_results("scan", outs)


class TensorArray:
    """Eager `tf.TensorArray`: a list of same-shaped tensors of one dtype. write/scatter/unstack
    return the array itself (as TF's eager TensorArray); gradients flow through stack/read."""

    def __init__(self, dtype, size=None, dynamic_size=None, clear_after_read=None,
                 tensor_array_name=None, handle=None, flow=None, infer_shape=True,
                 element_shape=None, colocate_with_first_write_call=True, name=None):
        from . import dtypes as _dt
        self._dtype = _dt.as_dtype(dtype)
        if isinstance(size, Tensor):
            size = int(size.numpy())
        if size is None and not dynamic_size:
            raise ValueError("[TensorArray] give a size, or dynamic_size=True")
        self._dynamic = bool(dynamic_size)
        self._items = [None] * int(size or 0)
        self._infer = infer_shape
        self._elem_shape = None
        self._partial = None      # an element_shape with None dims: writes must fit it
        if element_shape is not None:
            from .framework.tensor import TensorShape
            es = TensorShape(element_shape)
            if es.rank is not None and es.is_fully_defined():
                self._elem_shape = tuple(es)
            elif es.rank is not None:
                self._partial = es

    @property
    def dtype(self):
        return self._dtype

    @property
    def element_shape(self):
        from .framework.tensor import TensorShape
        if self._elem_shape is None and self._partial is not None:
            return self._partial
        return TensorShape(self._elem_shape)

    @property
    def dynamic_size(self):
        return self._dynamic

    def size(self, name=None):
        from . import dtypes as _dt
        return convert_to_tensor(len(self._items), dtype=_dt.int32)

    def _index(self, op, index, writing):
        i = int(index.numpy() if isinstance(index, Tensor) else index)
        if i < 0:
            raise IndexError(f"[TensorArray.{op}] index {i} is negative")
        if i >= len(self._items):
            if writing and self._dynamic:
                self._items.extend([None] * (i + 1 - len(self._items)))
            else:
                raise IndexError(f"[TensorArray.{op}] index {i} is out of range for a "
                                 f"TensorArray of size {len(self._items)}")
        return i

    def _check(self, op, value):
        t = value if isinstance(value, Tensor) else convert_to_tensor(value, dtype=self._dtype)
        if t.dtype != self._dtype:
            raise TypeError(f"[TensorArray.{op}] the array holds {self._dtype.name} but the "
                            f"value is {t.dtype.name} of shape {tuple(t.shape)}")
        shp = tuple(t.shape)
        if self._partial is not None and not self._partial.is_compatible_with(shp):
            raise ValueError(f"[TensorArray.{op}] element shape {shp} does not match the "
                             f"array's element shape {list(self._partial)}")
        if self._infer and self._elem_shape is not None and shp != self._elem_shape:
            raise ValueError(f"[TensorArray.{op}] element shape {shp} does not match the "
                             f"array's element shape {self._elem_shape}")
        if self._infer and self._elem_shape is None:
            self._elem_shape = shp
        return t

    def write(self, index, value, name=None):
        i = self._index("write", index, True)
        self._items[i] = self._check("write", value)
        return self

    def read(self, index, name=None):
        i = self._index("read", index, False)
        v = self._items[i]
        if v is None:
            if self._elem_shape is None:
                raise ValueError(f"[TensorArray.read] element {i} was never written and the "
                                 "element shape is unknown")
            from .ops.array_ops import zeros
            return zeros(self._elem_shape, dtype=self._dtype)
        return v

    def _all(self, op):
        return [self.read(i) for i in range(len(self._items))]

    def stack(self, name=None):
        from .ops.array_ops import stack, zeros
        if not self._items:
            if self._elem_shape is None:
                raise ValueError("[TensorArray.stack] the array is empty and its element shape "
                                 "is unknown")
            return zeros((0,) + self._elem_shape, dtype=self._dtype)
        return stack(self._all("stack"), axis=0)

    def gather(self, indices, element_shape=None, name=None):
        from .ops.array_ops import stack
        idx = indices.numpy() if isinstance(indices, Tensor) else np.asarray(indices)
        return stack([self.read(int(i)) for i in idx.reshape(-1)], axis=0)

    def concat(self, name=None):
        from .ops.array_ops import concat
        items = self._all("concat")
        if not items:
            raise ValueError("[TensorArray.concat] the array is empty")
        return concat(items, axis=0)

    def unstack(self, value, name=None):
        from .ops.array_ops import unstack
        t = value if isinstance(value, Tensor) else convert_to_tensor(value, dtype=self._dtype)
        n = t.shape[0]
        if not self._dynamic and n > len(self._items):
            raise ValueError(f"[TensorArray.unstack] value has {n} rows but the array has "
                             f"size {len(self._items)}")
        for i, v in enumerate(unstack(t, num=n, axis=0) if n else []):
            self.write(i, v)
        return self

    def scatter(self, indices, value, name=None):
        from .ops.array_ops import unstack
        idx = indices.numpy() if isinstance(indices, Tensor) else np.asarray(indices)
        t = value if isinstance(value, Tensor) else convert_to_tensor(value, dtype=self._dtype)
        if idx.ndim != 1 or idx.shape[0] != t.shape[0]:
            raise ValueError(f"[TensorArray.scatter] indices of shape {tuple(idx.shape)} must "
                             f"be 1-D with one entry per row of value {tuple(t.shape)}")
        for i, v in zip(idx.tolist(), unstack(t, num=t.shape[0], axis=0) if t.shape[0] else []):
            self.write(i, v)
        return self

    def split(self, value, lengths, name=None):
        from .ops.array_ops import split
        ls = [int(v) for v in (lengths.numpy() if isinstance(lengths, Tensor) else lengths)]
        parts = split(value, ls, axis=0)
        for i, p in enumerate(parts):
            self.write(i, p)
        return self

    def identity(self):
        return self

    def close(self, name=None):
        self._items = []

    def mark_used(self):
        pass


def no_op(name=None):
    return None


def group(*inputs, **kwargs):
    return None


def tuple_(tensors, name=None, control_inputs=None):
    """`tf.tuple` (exported under that name by nabi/__init__.py's __getattr__, so that the
    builtin stays usable in modules that import names from here)."""
    from .ops.array_ops import identity
    return [identity(t) if isinstance(t, Tensor) else t for t in tensors]


@_contextlib.contextmanager
def control_dependencies(control_inputs):
    """Eager ops run in program order, so the dependencies already hold."""
    yield


class name_scope:
    """`tf.name_scope(name)`: a context manager; `with tf.name_scope('x') as scope` gives
    'x/' (nested scopes join with '/')."""
    _stack = []

    def __init__(self, name):
        if not isinstance(name, str):
            raise TypeError(f"[name_scope] name must be a string, got {name!r}")
        self._name = name

    @property
    def name(self):
        return self._name

    def __enter__(self):
        prefix = name_scope._stack[-1] if name_scope._stack else ""
        scope = prefix + self._name + "/" if self._name else ""
        name_scope._stack.append(scope)
        return scope

    def __exit__(self, *exc):
        name_scope._stack.pop()
        return False


@_contextlib.contextmanager
def init_scope():
    yield
