"""`keras.ops` core ops (Keras 3's keras/src/ops/core.py): conversion, dtype and shape queries,
control flow (run eagerly in Python, so tapes record every step) and scatter/slice updates."""
import numpy as np

import nabi as tf
from nabi import nest
from nabi.framework.device import DeviceArray, to_device
from nabi.framework.tensor import Tensor, _wrap

from ._common import is_kt, shape_of, static_ints, t_


def cast(x, dtype):
    return tf.cast(t_(x), tf.as_dtype(dtype))


def saturate_cast(x, dtype):
    return tf.saturate_cast(t_(x), tf.as_dtype(dtype))


def convert_to_tensor(x, dtype=None, sparse=None, ragged=None):
    if sparse:
        raise NotImplementedError("[convert_to_tensor] sparse=True is not supported by nabi")
    return t_(x, None if dtype is None else tf.as_dtype(dtype))


def convert_to_numpy(x):
    if is_kt(x):
        raise ValueError("[convert_to_numpy] a symbolic Keras tensor has no value; call it on a "
                         "concrete tensor")
    return x.numpy() if isinstance(x, Tensor) else np.asarray(x)


def is_tensor(x):
    return isinstance(x, Tensor)


def shape(x):
    """A tuple: ints, and None for unknown dims of a symbolic tensor."""
    if is_kt(x):
        return tuple(x.shape)
    return shape_of(x)


def dtype(x):
    """The dtype's name, e.g. 'float32' (Keras 3 returns a string)."""
    d = x.dtype if (is_kt(x) or isinstance(x, Tensor)) else t_(x).dtype
    return getattr(d, "name", str(d))


def stop_gradient(variable):
    return tf.stop_gradient(t_(variable))


def _pred(op, pred):
    if is_kt(pred):
        raise ValueError(f"[{op}] the predicate is a symbolic Keras tensor, whose value is only "
                         f"known when the model runs: call keras.ops.{op} inside a layer's "
                         "call() instead")
    p = pred.numpy() if isinstance(pred, Tensor) else np.asarray(pred)
    if p.size != 1:
        raise ValueError(f"[{op}] the predicate must be a scalar, got shape {p.shape}")
    return bool(p.reshape(()))


def cond(pred, true_fn, false_fn):
    return true_fn() if _pred("cond", pred) else false_fn()


def switch(index, branches, *operands):
    i = int(t_(index).numpy())
    i = min(max(i, 0), len(branches) - 1)
    return branches[i](*operands)


def while_loop(cond, body, loop_vars, maximum_iterations=None):
    """Runs eagerly; a tuple/list of loop_vars is passed unpacked, as Keras 3 does."""
    is_tuple = isinstance(loop_vars, (tuple, list))
    vs = tuple(loop_vars) if is_tuple else (loop_vars,)
    n = 0
    while (maximum_iterations is None or n < maximum_iterations) and _pred("while_loop",
                                                                           cond(*vs)):
        out = body(*vs)
        if is_tuple:
            out = tuple(out)
            if len(out) != len(vs):
                raise ValueError(f"[while_loop] body returned {len(out)} values for "
                                 f"{len(vs)} loop_vars")
            vs = out
        else:
            vs = (out,)
        n += 1
    return vs if is_tuple else vs[0]


def fori_loop(lower, upper, body_fun, init_val):
    v = init_val
    for i in range(int(t_(lower).numpy()), int(t_(upper).numpy())):
        v = body_fun(i, v)
    return v


def _stack_tree(items):
    flat = [nest.flatten(it) for it in items]
    return nest.pack_sequence_as(items[0], [tf.stack([t_(e) for e in col])
                                            for col in zip(*flat)])


def scan(f, init, xs=None, length=None, reverse=False, unroll=1):
    """JAX-style scan: f(carry, x) -> (carry, y); returns (final carry, stacked ys)."""
    if xs is None:
        if length is None:
            raise ValueError("[scan] give xs or length")
        n = int(length)
        slices = [None] * n
    else:
        flat = [t_(e) for e in nest.flatten(xs)]
        n = shape_of(flat[0])[0]
        if length is not None and int(length) != n:
            raise ValueError(f"[scan] length={length} but xs has {n} rows")
        slices = [nest.pack_sequence_as(xs, [e[i] for e in flat]) for i in range(n)]
    order = range(n - 1, -1, -1) if reverse else range(n)
    carry, ys = init, [None] * n
    for i in order:
        carry, ys[i] = f(carry, slices[i])
    if n == 0 or ys[0] is None:
        return carry, None
    return carry, _stack_tree(ys)


def map(f, xs):  # noqa: A001
    flat = [t_(e) for e in nest.flatten(xs)]
    n = shape_of(flat[0])[0]
    outs = [f(nest.pack_sequence_as(xs, [e[i] for e in flat])) for i in range(n)]
    return _stack_tree(outs)


def associative_scan(f, elems, reverse=False, axis=0):
    flat = [t_(e) for e in nest.flatten(elems)]
    n = shape_of(flat[0])[axis]
    rows = [[tf.gather(e, i, axis=axis) for e in flat] for i in range(n)]
    order = list(range(n - 1, -1, -1)) if reverse else list(range(n))
    acc, out = None, [None] * n
    for i in order:
        cur = nest.pack_sequence_as(elems, rows[i])
        acc = cur if acc is None else f(acc, cur)
        out[i] = acc
    return nest.pack_sequence_as(elems, [tf.stack(c, axis=axis)
                                         for c in zip(*[nest.flatten(o) for o in out])])


def vectorized_map(function, elements):
    return tf.vectorized_map(function, elements)


def unstack(x, num=None, axis=0):
    x = t_(x)
    n = shape_of(x)[axis]
    if num is not None and int(num) != n:
        raise ValueError(f"[unstack] num={num} but axis {axis} of shape {shape_of(x)} has {n}")
    return tf.unstack(x, axis=axis)


def slice(inputs, start_indices, shape):  # noqa: A001
    x = t_(inputs)
    st = list(static_ints("slice", start_indices, "start_indices"))
    sz = list(static_ints("slice", shape, "shape"))
    xs = shape_of(x)
    if len(st) != len(xs) or len(sz) != len(xs):
        raise ValueError(f"[slice] start_indices {st} and shape {sz} must have one entry per "
                         f"axis of inputs {xs}")
    for s, z, d in zip(st, sz, xs):
        if s < 0 or (z >= 0 and s + z > d):
            raise ValueError(f"[slice] slice start {st} size {sz} is out of bounds for inputs "
                             f"of shape {xs}")
    return tf.slice(x, st, sz)


def slice_update(inputs, start_indices, updates):
    """inputs with the block at start_indices replaced by updates: where(mask, pad(updates),
    inputs), the mask the padded ones of updates' shape, so it runs on inputs' device
    (nothing read back on the GPU) and the gradients are where's and pad's (inputs get
    theirs outside the block, updates the block's)."""
    x = t_(inputs)
    dev = "cuda" if type(x._data) is DeviceArray else "cpu"
    u = t_(updates, x.dtype)
    if not isinstance(updates, Tensor) and type(u._data) is not type(x._data):
        u = _wrap(to_device(u._data, dev))     # a constant goes to the inputs' device
    st = np.asarray(static_ints("slice_update", start_indices, "start_indices"))
    xs, us = shape_of(x), shape_of(u)
    if len(st) != len(xs) or len(us) != len(xs) or \
            any(s < 0 or s + z > d for s, z, d in zip(st, us, xs)):
        raise ValueError(f"[slice_update] updates of shape {us} at {st.tolist()} do not fit "
                         f"inputs of shape {xs}")
    if u.shape.num_elements() == 0:
        return x
    pads = [[int(s), int(d - s - z)] for s, z, d in zip(st, us, xs)]
    ones = _wrap(to_device(np.ones(us, np.bool_), dev))
    return tf.where(tf.pad(ones, pads), tf.pad(u, pads), x)


def scatter(indices, values, shape):
    """A zeros tensor of `shape` with `values` added at `indices` (duplicates sum)."""
    v = t_(values)
    return tf.scatter_nd(t_(indices, tf.int32), v, list(static_ints("scatter", shape, "shape")))


_SCATTER = {None: "tensor_scatter_nd_update", "add": "tensor_scatter_nd_add",
            "max": "tensor_scatter_nd_max", "min": "tensor_scatter_nd_min"}


def scatter_update(inputs, indices, updates, reduction=None):
    """inputs with `updates` written at `indices`; reduction (Keras 3) combines them with
    the values there instead: "add", "max", "min" or "mul" (repeated indices compound)."""
    x = t_(inputs)
    idx, u = t_(indices, tf.int32), t_(updates, x.dtype)
    if reduction == "mul":
        for i in range(shape_of(idx)[0]):
            at = idx[i:i + 1]
            x = tf.tensor_scatter_nd_update(x, at, tf.gather_nd(x, at) * u[i:i + 1])
        return x
    if reduction not in _SCATTER:
        raise ValueError(f"[scatter_update] reduction must be None, 'add', 'max', 'min' or "
                         f"'mul', got {reduction!r}")
    return getattr(tf, _SCATTER[reduction])(x, idx, u)


def custom_gradient(f):
    """f returns (y, grad_fn); grad_fn takes the upstream gradient (Keras 3's TF form)."""
    return tf.custom_gradient(f)
