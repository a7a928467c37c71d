"""`nabi.keras.backend`: global Keras settings (floatx, epsilon, image data format) and the
layer-name counters that `clear_session()` resets."""
import collections

import numpy as np

_CONFIG = {"floatx": "float32", "epsilon": 1e-7, "image_data_format": "channels_last"}
_NAME_UIDS = collections.defaultdict(int)


def floatx():
    return _CONFIG["floatx"]


def set_floatx(value):
    value = str(value)
    if value not in ("float16", "bfloat16", "float32", "float64"):
        raise ValueError(f"[backend.set_floatx] unknown floatx type {value!r}; "
                         "expected one of float16, bfloat16, float32, float64")
    _CONFIG["floatx"] = value


def epsilon():
    return _CONFIG["epsilon"]


def set_epsilon(value):
    _CONFIG["epsilon"] = float(value)


def image_data_format():
    return _CONFIG["image_data_format"]


def set_image_data_format(data_format):
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"[backend.set_image_data_format] unknown data_format {data_format!r}")
    _CONFIG["image_data_format"] = data_format


def backend():
    """"tensorflow", as `keras.config.backend()`: nabi speaks TensorFlow's dialect, so Keras code
    that checks `keras.backend.backend() == "tensorflow"` takes its TensorFlow path. Use
    `is_nabi()` to tell nabi itself apart."""
    return "tensorflow"


def is_nabi():
    """True: this Keras runs on nabi (what `backend()` said before it answered "tensorflow")."""
    return True


def get_uid(prefix=""):
    """Counts calls per prefix: 1, 2, 3, ... (reset by `clear_session`)."""
    _NAME_UIDS[prefix] += 1
    return _NAME_UIDS[prefix]


def unique_object_name(prefix, zero_based=True):
    """Keras naming: `dense`, `dense_1`, `dense_2`, ... (zero_based) or `input_1`, `input_2`."""
    uid = get_uid(prefix)
    if zero_based:
        return prefix if uid == 1 else f"{prefix}_{uid - 1}"
    return f"{prefix}_{uid}"


def reset_uids():
    _NAME_UIDS.clear()


def clear_session(free_memory=True):
    """Resets the name counters (the next Dense is `dense` again)."""
    _NAME_UIDS.clear()
    import gc
    if free_memory:
        gc.collect()


def is_keras_tensor(x):
    from .layers.base import KerasTensor
    return isinstance(x, KerasTensor)


def int_shape(x):
    shp = getattr(x, "shape", None)
    if shp is None:
        shp = np.shape(x)
    return tuple(None if d is None else int(d) for d in shp)


def count_params(x):
    return int(np.prod(int_shape(x)))


def get_value(x):
    from ..framework.tensor import Tensor
    if isinstance(x, Tensor):
        return x.numpy()
    return np.asarray(x)


def set_value(x, value):
    x.assign(np.asarray(value, dtype=x._data.dtype))


def batch_get_value(tensors):
    return [get_value(t) for t in tensors]


def batch_set_value(tuples):
    for x, v in tuples:
        set_value(x, v)


eval = get_value  # noqa: A001


def learning_phase():
    from .layers.base import _CTX
    return 1 if _CTX.training else 0


# -- random tensors (Keras 2 backend; the VAE guides' Sampling layer) -------------------


def random_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    from .. import random as _random
    return _random.normal(shape, mean=mean, stddev=stddev, dtype=dtype or floatx(), seed=seed)


def random_uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    from .. import random as _random
    return _random.uniform(shape, minval=minval, maxval=maxval, dtype=dtype or floatx(),
                           seed=seed)


def random_bernoulli(shape, p=0.0, dtype=None, seed=None):
    from ..ops.math_ops import cast
    u = random_uniform(shape, dtype=dtype, seed=seed)
    return cast(u < p, dtype or floatx())


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    from .. import random as _random
    return _random.truncated_normal(shape, mean=mean, stddev=stddev, dtype=dtype or floatx(),
                                    seed=seed)


# -- reductions and elementwise math (Keras 2 backend; `keras.backend.std` in the training
# guide's add_metric example) ----------------------------------------------------------


def _reduce(fn_name, x, axis, keepdims):
    import nabi
    return getattr(nabi.math, fn_name)(x, axis=axis, keepdims=keepdims)


def _tensor(x):
    """x as is when it has a dtype (tensors, arrays, symbolic KerasTensors), else converted."""
    import nabi
    return x if hasattr(x, "dtype") else nabi.convert_to_tensor(x)


def _bool_to_floatx(x):
    """Keras's mean/std/var average a bool tensor as floatx (the fraction of True)."""
    import nabi
    x = _tensor(x)
    return nabi.cast(x, floatx()) if nabi.as_dtype(x.dtype) == nabi.bool else x


def mean(x, axis=None, keepdims=False):
    return _reduce("reduce_mean", _bool_to_floatx(x), axis, keepdims)


def sum(x, axis=None, keepdims=False):  # noqa: A001
    return _reduce("reduce_sum", x, axis, keepdims)


def max(x, axis=None, keepdims=False):  # noqa: A001
    return _reduce("reduce_max", x, axis, keepdims)


def min(x, axis=None, keepdims=False):  # noqa: A001
    return _reduce("reduce_min", x, axis, keepdims)


def std(x, axis=None, keepdims=False):
    return _reduce("reduce_std", _bool_to_floatx(x), axis, keepdims)


def var(x, axis=None, keepdims=False):
    return _reduce("reduce_variance", _bool_to_floatx(x), axis, keepdims)


def square(x):
    import nabi
    return nabi.math.square(x)


def sqrt(x):
    """Keras's K.sqrt clips negatives to 0 first (0, not NaN)."""
    import nabi
    return nabi.math.sqrt(nabi.maximum(_tensor(x), 0.0))


def exp(x):
    import nabi
    return nabi.math.exp(x)


def log(x):
    import nabi
    return nabi.math.log(x)


def abs(x):  # noqa: A001
    import nabi
    return nabi.math.abs(x)


def transpose(x):
    import nabi
    return nabi.transpose(x)


def dot(x, y):
    """Keras's K.dot: a matmul for 2-D operands; with an n-D operand, np.dot's (Theano's) rule:
    the last axis of x against the second-to-last of y, shape x.shape[:-1] + y.shape[:-2] +
    y.shape[-1:] ((2, 3, 4) . (2, 4, 5) -> (2, 3, 2, 5), not a batched matmul)."""
    import nabi
    x, y = _tensor(x), _tensor(y)
    xs, ys = list(x.shape), list(y.shape)
    if len(ys) <= 2:      # an n-D x against a matrix: matmul's broadcast is the same rule
        return nabi.matmul(x, y)
    perm = list(range(len(ys)))
    perm = [perm.pop(-2)] + perm                 # y's contracted axis first
    xt = nabi.reshape(x, (-1, xs[-1]))
    yt = nabi.reshape(nabi.transpose(y, perm), (ys[-2], -1))
    out_shape = [-1 if d is None else d for d in xs[:-1] + ys[:-2] + ys[-1:]]
    return nabi.reshape(nabi.matmul(xt, yt), out_shape)


def reshape(x, shape):
    import nabi
    return nabi.reshape(x, shape)


def concatenate(tensors, axis=-1):
    import nabi
    return nabi.concat(list(tensors), axis=axis)


def clip(x, min_value, max_value):
    """Keras's K.clip: None is no bound (nabi gave NaN); numeric bounds with max < min clip
    to min."""
    import nabi
    if isinstance(min_value, (int, float)) and isinstance(max_value, (int, float)) \
            and max_value < min_value:
        max_value = min_value
    min_value = -np.inf if min_value is None else min_value
    max_value = np.inf if max_value is None else max_value
    return nabi.clip_by_value(x, min_value, max_value)


def cast(x, dtype):
    import nabi
    return nabi.cast(x, dtype)
