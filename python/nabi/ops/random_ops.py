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


class Generator:
    """`tf.random.Generator`: an explicit random stream with its own state (a NumPy Philox
    counter-based generator), independent of `set_seed` and the global stream.

        g = tf.random.Generator.from_seed(1234)
        g.normal((2, 3)); g.uniform((4,), maxval=10, dtype=tf.int32)

    The same seed gives the same sequence; draws happen on the host and the result is
    placed on the current device, as for the other random ops."""

    def __init__(self, rng, seed=None):
        self._rng = rng
        self._seed = seed

    @classmethod
    def from_seed(cls, seed, alg=None):
        return cls(np.random.Generator(np.random.Philox(int(seed))), int(seed))

    @classmethod
    def from_non_deterministic_state(cls, alg=None):
        return cls(np.random.Generator(np.random.Philox()))

    def reset_from_seed(self, seed):
        self._rng = np.random.Generator(np.random.Philox(int(seed)))
        self._seed = int(seed)

    def split(self, count=1):
        """`count` new independent generators; this one's state advances."""
        return [Generator(np.random.Generator(np.random.Philox(
            int(self._rng.integers(0, 2 ** 63 - 1))))) for _ in range(int(count))]

    def _draw(self, fn, *args, **kwargs):
        saved_rng, saved_seed = _state["rng"], _state["seed"]
        _state["rng"] = self._rng
        try:
            return fn(*args, **kwargs)
        finally:
            _state["rng"] = saved_rng
            _state["seed"] = saved_seed

    def normal(self, shape, mean=0.0, stddev=1.0, dtype=_dt.float32, name=None):
        return self._draw(normal, shape, mean, stddev, dtype)

    def uniform(self, shape, minval=0, maxval=None, dtype=_dt.float32, name=None):
        return self._draw(uniform, shape, minval, maxval, dtype)

    def truncated_normal(self, shape, mean=0.0, stddev=1.0, dtype=_dt.float32, name=None):
        return self._draw(truncated_normal, shape, mean, stddev, dtype)

    def uniform_full_int(self, shape, dtype=_dt.int64, name=None):
        dt = _dt.as_dtype(dtype)._np
        info = np.iinfo(dt)
        return _wrap(self._rng.integers(info.min, info.max, _shape(shape), dtype=dt,
                                        endpoint=True))


_global_generator = [None]


def get_global_generator():
    if _global_generator[0] is None:
        _global_generator[0] = Generator.from_non_deterministic_state()
    return _global_generator[0]


def set_global_generator(generator):
    if not isinstance(generator, Generator):
        raise TypeError(f"[random.set_global_generator] expected a Generator, got "
                        f"{type(generator).__name__}")
    _global_generator[0] = generator
