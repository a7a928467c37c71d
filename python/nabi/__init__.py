"""nabi (나비): a small, fast deep-learning framework that speaks TensorFlow/Keras.

    import nabi as tf
    x = tf.constant([[1., 2.], [3., 4.]])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(tf.nn.relu(x @ x))
    tape.gradient(y, x)
"""
__version__ = "0.1.0"

import contextlib as _contextlib

from . import _C  # noqa: F401
from . import dtypes
from .dtypes import (DType, as_dtype, bool, float16, float32, float64, int8, int16,  # noqa: F401,A004
                     int32, int64, string, uint8, uint16, uint32, uint64, complex64,
                     complex128)
from .ops.complex_ops import complex  # noqa: F401,A004
from .framework.tape import GradientTape, stop_gradient  # noqa: F401
from .framework.tensor import (Tensor, TensorShape, Variable, constant,  # noqa: F401
                               convert_to_tensor, is_tensor)
from .ops.array_ops import (boolean_mask, broadcast_to, concat, expand_dims, eye, fill,  # noqa: F401
                            gather, gather_nd, get_static_value, identity, linspace, one_hot,
                            ones, ones_like, pad,
                            range, rank, reshape, reverse, shape, size, slice, sort, argsort,
                            split, squeeze, stack, strided_slice, tile, transpose, unique, unstack,
                            where, zeros, zeros_like)
from .ops.math_ops import (abs, add, add_n, argmax, argmin, cast, clip_by_value, cos,  # noqa: F401
                           cumsum, divide, equal, exp, floor, floordiv, greater, greater_equal,
                           less, less_equal, log, logical_and, logical_not, logical_or, matmul,
                           maximum, minimum, multiply, negative, not_equal, pow, reduce_all,
                           reduce_any, reduce_logsumexp, reduce_max, reduce_mean, reduce_min,
                           reduce_prod, reduce_std, reduce_sum, reduce_variance, round, rsqrt,
                           saturate_cast, sign, sin, sqrt, square, squared_difference, subtract,
                           tensordot, truediv)
from .ops.nn_ops import sigmoid, tanh  # noqa: F401
from .ops.linalg_ops import einsum, norm  # noqa: F401
from .ops.clip_ops import clip_by_global_norm, clip_by_norm  # noqa: F401
from .ops.scatter_ops import (scatter_nd, sequence_mask, tensor_scatter_nd_add,  # noqa: F401
                              tensor_scatter_nd_sub, tensor_scatter_nd_update)
from . import math, nn, random, linalg, config, cuda, test, data, train  # noqa: F401,E402
from . import strings, io  # noqa: F401,E402  (host-side string ops; file and image decoding)
from .strings import RaggedTensor  # noqa: F401,E402
from . import ragged, sparse  # noqa: F401,E402  (minimal tf.ragged / tf.sparse)
from .sparse import SparseTensor  # noqa: F401,E402
from . import lookup  # noqa: F401,E402  (tf.lookup tables)
from .ops.farmhash import fingerprint  # noqa: F401,E402
from .ragged import RaggedTensorSpec  # noqa: F401,E402
from .sparse import SparseTensorSpec  # noqa: F401,E402
from .data import TensorSpec  # noqa: F401,E402
from .ops.misc_ops import meshgrid  # noqa: F401,E402
from .framework.module import Module  # noqa: F401,E402
from .framework.custom_gradient import custom_gradient  # noqa: F401,E402
from .ops.misc_ops import (histogram_fixed_width, searchsorted,  # noqa: F401,E402
                           unique_with_counts)
from . import distribute  # noqa: F401,E402  (one-device tf.distribute strategies)
from . import saved_model  # noqa: F401,E402  (Keras models only)
from . import errors  # noqa: F401,E402
from . import nest, debugging  # noqa: F401,E402
from .control_flow import (TensorArray, case, cond, control_dependencies, foldl,  # noqa: F401,E402
                           foldr, group, init_scope, map_fn, name_scope, no_op, scan,
                           switch_case, vectorized_map, while_loop)
from .ops.extra_math_ops import (acos, acosh, asin, asinh, atan, atanh, cosh,  # noqa: F401,E402
                                 broadcast_dynamic_shape, broadcast_static_shape, ensure_shape,
                                 histogram_fixed_width_bins, identity_n, repeat, roll, shape_n,
                                 sinh, tensor_scatter_nd_max, tensor_scatter_nd_min,
                                 truncatediv, truncatemod, unravel_index)
from .ops.math_ops import atan2, realdiv, tan  # noqa: F401,E402
from .debugging import (Assert, assert_equal, assert_greater, assert_less,  # noqa: F401,E402
                        assert_rank)
from .ops.array_ops import where as where_v2  # noqa: F401,E402
from .framework_extras import (UnconnectedGradients, get_logger, grad_pass_through,  # noqa: F401,E402
                               guarantee_const, parallel_stack, recompute_grad,
                               reverse_sequence, timestamp)
from .dtypes import float16 as half, float64 as double  # noqa: F401,E402

newaxis = None


@_contextlib.contextmanager
def device(name):
    """Places new tensors (and so the ops on them) on a device: `with nabi.device('/GPU:0'):`,
    'cuda:0', '/CPU:0', 'cpu'. Asking for a GPU that is not available places on the CPU, as
    TF's soft device placement does (on by default); with
    `tf.config.set_soft_device_placement(False)` it raises a clear error."""
    from .framework import device as _dev
    kind = _dev.parse_device(name)
    if kind is None:
        yield
        return
    if kind == "cuda":
        if config.get_soft_device_placement() and not _dev.gpu_available():
            kind = "cpu"
        else:
            _dev.require_gpu("device", name)
    _dev.push_device(kind)
    try:
        yield
    finally:
        _dev.pop_device()


def executing_eagerly():
    return True


class _Function:
    """What `tf.function` returns: the Python function, run eagerly on every call (nabi builds
    no graphs, so Python side effects such as print run on every call, not only on tracing).
    As TF: an `input_signature` is enforced (a TypeError for an argument it does not fit,
    lists and numbers converted to its dtypes), Python numbers and NumPy arrays returned
    become Tensors, and the function binds as a method."""

    def __init__(self, func, input_signature=None, **kwargs):
        import functools
        functools.update_wrapper(self, func)
        self._func = func
        self.input_signature = input_signature
        self._kwargs = kwargs

    @property
    def python_function(self):
        return self._func

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        import functools
        bound = _Function(functools.partial(self._func, obj), self.input_signature,
                          **self._kwargs)
        bound.__name__ = getattr(self._func, "__name__", "function")
        return bound

    def _bind(self, args, kwargs):
        sig = list(self.input_signature)
        name = getattr(self._func, "__name__", "function")
        if kwargs:
            import inspect
            try:
                bound = inspect.signature(self._func).bind(*args, **kwargs)
            except TypeError as e:
                raise TypeError(f"[function] {name}: {e}") from None
            args, kwargs = bound.args, bound.kwargs
        if len(args) != len(sig) or kwargs:
            raise TypeError(f"[function] {name} takes {len(sig)} argument(s) by its "
                            f"input_signature, got {len(args) + len(kwargs)}")
        return tuple(_fit_spec(name, k, a, sp) for k, (a, sp) in enumerate(zip(args, sig)))

    def __call__(self, *args, **kwargs):
        if self.input_signature is not None:
            args, kwargs = self._bind(args, kwargs), {}
        out = self._func(*args, **kwargs)
        if config._state.get("run_eagerly"):
            return out
        return nest.map_structure(_output_tensor, out)

    def __repr__(self):
        return f"<nabi.function {getattr(self._func, '__name__', '?')}>"


def _fit_spec(name, k, value, spec):
    """An argument checked against (and converted to) its input_signature entry."""
    if not isinstance(spec, TensorSpec):
        flat_v, flat_s = nest.flatten(value), nest.flatten(spec)
        if len(flat_v) != len(flat_s):
            raise TypeError(f"[function] {name}: argument {k} has {len(flat_v)} component(s), "
                            f"its input_signature {spec!r} {len(flat_s)}")
        return nest.pack_sequence_as(value, [_fit_spec(name, k, v, s)
                                             for v, s in zip(flat_v, flat_s)])
    t = value
    if not isinstance(t, Tensor):
        try:
            t = convert_to_tensor(value, dtype=spec.dtype)
        except (TypeError, ValueError) as e:
            raise TypeError(f"[function] {name}: argument {k} {value!r} cannot be converted to "
                            f"its input_signature {spec!r}: {e}") from None
    if not spec.is_compatible_with(t):
        raise TypeError(f"[function] {name}: argument {k} of shape {tuple(t.shape)} and dtype "
                        f"{t.dtype.name} does not fit its input_signature {spec!r}")
    return t


def _output_tensor(x):
    import builtins
    import numpy as _np
    if isinstance(x, (builtins.bool, builtins.int, builtins.float, builtins.complex,
                      _np.generic, _np.ndarray)):
        return convert_to_tensor(x)
    return x


def function(func=None, input_signature=None, **kwargs):
    """`tf.function`: runs the function eagerly (see `_Function`)."""
    if func is None:
        return lambda f: _Function(f, input_signature, **kwargs)
    return _Function(func, input_signature, **kwargs)


def _to_tout(fn, out, Tout):
    """py_function / numpy_function results as tensors of the dtypes in Tout (a dtype, or a
    list of them for several results; an empty list or None for none)."""
    if Tout is None or (isinstance(Tout, (list, tuple)) and not Tout):
        return None
    if isinstance(Tout, (list, tuple)):
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        if len(outs) != len(Tout):
            raise ValueError(f"[{fn}] the function returned {len(outs)} value(s) but Tout "
                             f"lists {len(Tout)} dtype(s)")
        return [_to_tout(fn, o, t) for o, t in zip(outs, Tout)]
    dt = as_dtype(Tout)
    t = out if isinstance(out, Tensor) else convert_to_tensor(out)
    if t.dtype != dt:
        from .ops.math_ops import cast as _cast
        t = _cast(t, dt)
    return t


def numpy_function(func, inp, Tout, stateful=True, name=None):
    """Calls `func` on the inputs as NumPy arrays; its results become tensors of Tout's
    dtypes. No gradient flows through it (as in TF)."""
    out = func(*[x.numpy() if isinstance(x, Tensor) else x for x in inp])
    return _to_tout("numpy_function", out, Tout)


def py_function(func, inp, Tout, name=None):
    """Calls `func` eagerly on the inputs as tensors (so a Dataset.map can run arbitrary
    Python); its results become tensors of Tout's dtypes. Ops inside `func` are recorded on
    the tapes as usual, so gradients flow through it, as in TF."""
    out = func(*[x if isinstance(x, Tensor) else convert_to_tensor(x) for x in inp])
    return _to_tout("py_function", out, Tout)


def print(*args, output_stream=None, summarize=None, sep=" ", end="\n", name=None):  # noqa: A001
    """`tf.print`: tensors print as their values. `output_stream` is a stream (sys.stdout,
    sys.stderr) or 'file://<path>' (appended to); nabi's default stays sys.stdout."""
    import builtins
    import sys
    vals = [a.numpy() if isinstance(a, Tensor) else a for a in args]
    if isinstance(output_stream, str):
        if not output_stream.startswith("file://"):
            raise ValueError(f"[print] output_stream must be a stream or 'file://<path>', got "
                             f"{output_stream!r}")
        with open(output_stream[len("file://"):], "a") as fh:
            builtins.print(*vals, sep=sep, end=end, file=fh)
        return
    builtins.print(*vals, sep=sep, end=end,
                   file=sys.stdout if output_stream is None else output_stream)


def __getattr__(name):
    # Heavier namespaces load on first use: `nabi.keras`, `nabi.compat`, `nabi.examples`.
    if name in ("keras", "compat", "examples", "summary", "image", "signal", "audio"):
        import importlib
        mod = importlib.import_module(f".{name}", __name__)
        globals()[name] = mod
        return mod
    if name == "tuple":  # tf.tuple, kept out of this module's globals (the builtin is used here)
        from .control_flow import tuple_
        return tuple_
    if name in ("constant_initializer", "zeros_initializer", "ones_initializer",
                "random_normal_initializer", "random_uniform_initializer"):
        from .framework_extras import _INITIALIZERS
        from .keras import initializers
        return getattr(initializers, _INITIALIZERS[name])
    if name == "version":
        import types
        return types.SimpleNamespace(VERSION=__version__, GIT_VERSION="", COMPILER_VERSION="")
    if name == "autograph":
        import types
        mod = types.SimpleNamespace(experimental=types.SimpleNamespace(
            do_not_convert=lambda func=None, **kw: func if func is not None else (lambda f: f)),
            to_code=lambda *a, **k: "", set_verbosity=lambda *a, **k: None)
        globals()[name] = mod
        return mod
    if name in ("metrics", "losses", "optimizers", "initializers"):
        # TF2's short aliases: tf.losses is tf.keras.losses, and so on.
        import importlib
        mod = importlib.import_module(f".keras.{name}", __name__)
        globals()[name] = mod
        return mod
    raise AttributeError(f"module 'nabi' has no attribute {name!r}")


# TF ops called on Keras symbolic tensors build TFOpLambda layers (framework/symbolic.py);
# math first, so `tf.reduce_mean` and `tf.math.reduce_mean` share the name Keras 2 gives them.
def _install_symbolic_ops():
    from .framework import symbolic
    import sys
    for mod, prefix in ((math, "math."), (nn, "nn."), (linalg, "linalg."),
                        (sys.modules[__name__], "")):
        symbolic.install(mod, prefix)


_install_symbolic_ops()
