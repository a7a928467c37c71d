"""NumPy helpers of `keras.utils`: `to_categorical`, `normalize`, `set_random_seed`."""
import random as _random

import numpy as np

__all__ = ["to_categorical", "normalize", "set_random_seed"]


def to_categorical(y, num_classes=None, dtype="float32"):
    """One-hot encodes integer class labels, as Keras does: a trailing dimension of size 1 is
    dropped, then a class axis of `num_classes` (default `max(y) + 1`) is appended."""
    if hasattr(y, "numpy"):
        y = y.numpy()
    y = np.array(y)
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise ValueError("[to_categorical] labels must be integers")
    y = y.astype(np.int64)
    input_shape = y.shape
    if input_shape and input_shape[-1] == 1 and len(input_shape) > 1:
        input_shape = tuple(input_shape[:-1])
    y = y.ravel()
    if num_classes is None:
        num_classes = int(np.max(y)) + 1 if y.size else 0
    num_classes = int(num_classes)
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"[to_categorical] labels must lie in [0, {num_classes}), got values in "
                         f"[{y.min()}, {y.max()}]")
    n = y.shape[0]
    categorical = np.zeros((n, num_classes), dtype=dtype)
    categorical[np.arange(n), y] = 1
    return categorical.reshape(tuple(input_shape) + (num_classes,))


def normalize(x, axis=-1, order=2):
    """Scales `x` to unit `order`-norm along `axis` (zero vectors stay zero). A tensor comes
    back as a tensor (Keras 2 and 3 both do; float32 for an integer tensor, else its dtype),
    an array as an array."""
    is_tensor = hasattr(x, "numpy")
    x = np.asarray(x.numpy() if is_tensor else x)
    norm = np.atleast_1d(np.linalg.norm(x, order, axis))
    norm[norm == 0] = 1
    out = x / np.expand_dims(norm, axis)
    if is_tensor:
        from ... import convert_to_tensor
        return convert_to_tensor(out.astype(x.dtype if x.dtype.kind == "f" else np.float32))
    return out


def set_random_seed(seed):
    """Seeds Python's `random`, NumPy's global generator and nabi's (`nabi.random.set_seed`), so
    that two runs of the same script build identical weights and batches."""
    if not isinstance(seed, (int, np.integer)):
        raise ValueError(f"[set_random_seed] seed must be an integer, got {seed!r}")
    seed = int(seed)
    _random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    from ... import random as nabi_random
    nabi_random.set_seed(seed)
    from .. import random as keras_random     # keras.random's seed=None draws repeat too
    keras_random._reset_global_seed_generator(seed)
