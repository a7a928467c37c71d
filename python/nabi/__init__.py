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
from .framework.tensor import VariableAggregation, VariableSynchronization  # noqa: F401
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
from . import bitwise  # noqa: F401,E402  (tf.bitwise, host-side NumPy)
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
                               reverse_sequence, timestamp, IndexedSlices)
from .dtypes import float16 as half, float64 as double  # noqa: F401,E402
from .framework.function import function  # noqa: F401,E402  (eager tf.function)
from .ops.array_extra_ops import (batch_to_space, dynamic_partition,  # noqa: F401,E402
                                  dynamic_stitch, space_to_batch, space_to_batch_nd)

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
    if name in ("keras", "compat", "examples", "summary", "image", "signal", "audio", "sets",
                "queue"):
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
        from .framework import function as _fn
        mod = types.SimpleNamespace(
            experimental=types.SimpleNamespace(do_not_convert=_fn.do_not_convert,
                                               Feature=types.SimpleNamespace(ALL="ALL")),
            to_code=_fn.to_code, to_graph=_fn.to_graph, do_not_convert=_fn.do_not_convert,
            set_verbosity=lambda *a, **k: None, trace=lambda *a, **k: None)
        globals()[name] = mod
        return mod
    if name == "autodiff":
        import types
        from .framework.forward import ForwardAccumulator
        mod = types.SimpleNamespace(ForwardAccumulator=ForwardAccumulator,
                                    GradientTape=GradientTape)
        globals()[name] = mod
        return mod
    if name == "experimental":
        # tf.experimental: the parts nabi has (Optional, from tf.data's get_next_as_optional)
        import types
        from .data.optional import Optional
        mod = types.SimpleNamespace(Optional=Optional)
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
