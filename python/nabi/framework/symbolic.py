"""TF ops called on Keras symbolic tensors, as Keras 2 allows in functional models:

    x = keras.Input((8,))
    y = tf.reduce_mean(tf.nn.relu(x), axis=-1, keepdims=True)   # TFOpLambda layers
    model = keras.Model(x, y)

Every public op function of nabi (and of nabi.math, nn, linalg) is wrapped once by `install`:
when none of its arguments is a KerasTensor (the eager path) it calls the op straight away;
otherwise it builds a `TFOpLambda` layer named after the op (`tf.math.reduce_mean`, as Keras 2
names it) that records the op, its constant arguments and where the symbolic tensors go, and
calls it on those tensors. The layer saves by op name and arguments (no bytecode), so such
models save and load in safe mode. KerasTensor is recognised by a class attribute, so this
module never imports Keras.
"""
import functools

__all__ = ["install", "has_keras_tensor"]


def _is_kt(v):
    return getattr(type(v), "_is_keras_tensor", False)


def has_keras_tensor(v, depth=0):
    if _is_kt(v):
        return True
    if depth < 3:
        if isinstance(v, (list, tuple)):
            return any(has_keras_tensor(e, depth + 1) for e in v)
        if isinstance(v, dict):
            return any(has_keras_tensor(e, depth + 1) for e in v.values())
    return False


_PLAIN = (int, float, bool, str, type(None))
_NESTED = (list, tuple, dict)


def _has_special(v, depth=0):
    """A KerasTensor or a RaggedTensor (class attributes, so no import) in v."""
    t = type(v)
    if getattr(t, "_is_keras_tensor", False) or getattr(t, "_is_ragged_tensor", False):
        return True
    if depth < 3:
        if t in (list, tuple):
            return any(_has_special(e, depth + 1) for e in v)
        if t is dict:
            return any(_has_special(e, depth + 1) for e in v.values())
    return False


def _symbolic_in(values):
    """Whether values hold a KerasTensor or a RaggedTensor (plain values and Tensors are
    skipped by type, so the eager check stays cheap)."""
    for a in values:
        t = type(a)
        if t in _PLAIN or t.__name__ in ("Tensor", "Variable", "ndarray"):
            continue
        if getattr(t, "_is_keras_tensor", False) or getattr(t, "_is_ragged_tensor", False) \
                or (t in _NESTED and _has_special(a)):
            return True
    return False


def _wrap(fn, symbol):
    @functools.wraps(fn)
    def op(*args, **kwargs):
        if not _symbolic_in(args) and not (kwargs and _symbolic_in(kwargs.values())):
            return fn(*args, **kwargs)
        if not has_keras_tensor(args) and not has_keras_tensor(kwargs):
            from ..ragged import dispatch      # RaggedTensor arguments (nabi/ragged.py)
            return dispatch(fn, args, kwargs)
        from ..keras.layers.core import call_tf_op
        return call_tf_op(symbol, fn, args, kwargs)
    op.__nabi_op__ = fn
    op.__nabi_symbol__ = symbol
    return op


_WRAPPED = {}      # id(original function) -> wrapper (one wrapper per op, shared by aliases)


def install(namespace, prefix):
    """Wraps the op functions (defined in nabi.ops.*) that `namespace` exports; `prefix` is
    the TF module path Keras names their layers by ('math.', 'nn.', 'linalg.' or '')."""
    import types
    for name in list(vars(namespace)):
        if name.startswith("_"):
            continue
        obj = vars(namespace)[name]
        if not isinstance(obj, types.FunctionType):
            continue
        mod = getattr(obj, "__module__", "") or ""
        if not mod.startswith("nabi.ops.") or getattr(obj, "__nabi_op__", None) is not None:
            w = _WRAPPED.get(id(getattr(obj, "__nabi_op__", obj)))
            if w is not None and obj is not w:
                setattr(namespace, name, w)
            continue
        w = _WRAPPED.get(id(obj))
        if w is None:
            w = _wrap(obj, prefix + name)
            _WRAPPED[id(obj)] = w
        setattr(namespace, name, w)


def resolve(symbol):
    """The op function a saved TFOpLambda names ('math.reduce_mean' -> nabi.math.reduce_mean)."""
    import nabi
    obj = nabi
    for part in symbol.split("."):
        obj = getattr(obj, part)
    return getattr(obj, "__nabi_op__", obj)
