"""Random tensors (`nabi.random`): one global seedable generator, TF's names and defaults."""
import numpy as np

from .. import dtypes as _dt
from ..framework.device import place
from ._common import _wrap as _host_wrap


def _wrap(arr):
    """Random tensors are drawn on the host by the seeded generator (one stream on every device)
    and placed on the current device."""
    return _host_wrap(place(arr))

_state = {"rng": np.random.default_rng(), "seed": None}


def set_seed(seed):
    """Makes every later random op repeat the same sequence."""
    _state["seed"] = seed
    _state["rng"] = np.random.default_rng(seed)


def _generator(seed=None):
    if seed is not None:
        # An op-level seed gives a stream that depends on both seeds, like TF.
        g = _state["seed"] if _state["seed"] is not None else 0
        return np.random.default_rng([int(g), int(seed)])
    return _state["rng"]


def _shape(shape):
    from .array_ops import _shape_arg
    return _shape_arg(shape)


def normal(shape, mean=0.0, stddev=1.0, dtype=_dt.float32, seed=None, name=None):
    dt = _dt.as_dtype(dtype)._np
    r = _generator(seed).standard_normal(_shape(shape), dtype=np.float64 if dt == np.float64 else np.float32)
    return _wrap((r * stddev + mean).astype(dt, copy=False))


def uniform(shape, minval=0, maxval=None, dtype=_dt.float32, seed=None, name=None):
    dt = _dt.as_dtype(dtype)
    g = _generator(seed)
    if dt.is_integer:
        if maxval is None:
            raise ValueError("[random.uniform] maxval must be given for integer dtypes")
        return _wrap(g.integers(minval, maxval, _shape(shape)).astype(dt._np))
    maxval = 1.0 if maxval is None else maxval
    r = g.random(_shape(shape), dtype=np.float64 if dt._np == np.float64 else np.float32)
    return _wrap((r * (maxval - minval) + minval).astype(dt._np, copy=False))


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=_dt.float32, seed=None, name=None):
    """Normal samples redrawn until they lie within two standard deviations."""
    g = _generator(seed)
    shp = _shape(shape)
    r = g.standard_normal(shp)
    bad = np.abs(r) > 2
    while bad.any():
        r[bad] = g.standard_normal(int(bad.sum()))
        bad = np.abs(r) > 2
    return _wrap((r * stddev + mean).astype(_dt.as_dtype(dtype)._np))


def shuffle(value, seed=None, name=None):
    from ._common import t_
    a = t_(value)._data
    perm = _generator(seed).permutation(a.shape[0])
    if type(a) is not np.ndarray:
        from ..framework.device import to_device
        return _host_wrap(a[to_device(perm, "cuda")])
    return _wrap(a[perm])


def categorical(logits, num_samples, dtype=_dt.int64, seed=None, name=None):
    from ._common import t_
    from ..framework.device import to_device
    lg = to_device(t_(logits)._data, "cpu").astype(np.float64)  # sampled on the host
    p = np.exp(lg - lg.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    g = _generator(seed)
    out = np.stack([g.choice(p.shape[1], size=num_samples, p=row) for row in p])
    return _wrap(out.astype(_dt.as_dtype(dtype)._np))
