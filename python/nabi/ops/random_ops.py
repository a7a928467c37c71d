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

    def make_seeds(self, count=1):
        """Seeds for the stateless ops: an int64 tensor of shape [2, count], one seed per
        column (so `make_seeds(2)[0]` is one shape [2] seed); this generator advances."""
        return _wrap(self._rng.integers(0, 2 ** 63 - 1, (2, int(count)), dtype=np.int64))

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


# ------------------------------------------------------------------ stateless random ops
# A shape [2] integer seed picks a NumPy generator deterministically (the same seed gives the
# same values on every call and device; the values differ from TF's Philox streams). tf.image's
# stateless_random_* draw from the same seed -> generator function.


def _seed_pair(op, seed):
    s = seed.numpy() if hasattr(seed, "numpy") else seed
    a = np.asarray(s)
    if a.shape != (2,) or a.dtype.kind not in "iu":
        raise ValueError(f"[{op}] seed must be a shape [2] integer tensor (a, b), got {s!r}")
    return [int(v) % (1 << 64) for v in a]


def stateless_generator(op, seed):
    """The NumPy generator of a stateless op's shape [2] integer seed."""
    return np.random.default_rng(_seed_pair(op, seed) + [0x1A6E])


def _host_value(v):
    from ..framework.device import to_device
    if hasattr(v, "_data"):
        return np.asarray(to_device(v._data, "cpu"))
    return np.asarray(v)


def stateless_uniform(shape, seed, minval=0, maxval=None, dtype=_dt.float32, name=None,
                      alg="auto_select"):
    dt = _dt.as_dtype(dtype)
    g = stateless_generator("random.stateless_uniform", seed)
    shp = _shape(shape)
    if dt.is_integer:
        if maxval is None:
            raise ValueError("[random.stateless_uniform] integer dtypes need both minval and "
                             "maxval")
        return _wrap(g.integers(_host_value(minval), _host_value(maxval), shp).astype(dt._np))
    maxval = 1.0 if maxval is None else maxval
    r = g.random(shp)
    lo, hi = _host_value(minval), _host_value(maxval)
    return _wrap((r * (hi - lo) + lo).astype(dt._np))


def stateless_normal(shape, seed, mean=0.0, stddev=1.0, dtype=_dt.float32, name=None,
                     alg="auto_select"):
    g = stateless_generator("random.stateless_normal", seed)
    r = g.standard_normal(_shape(shape))
    return _wrap((r * _host_value(stddev) + _host_value(mean)).astype(_dt.as_dtype(dtype)._np))


def _truncated(g, shp):
    r = g.standard_normal(shp)
    bad = np.abs(r) > 2
    while bad.any():
        r[bad] = g.standard_normal(int(bad.sum()))
        bad = np.abs(r) > 2
    return r


def stateless_truncated_normal(shape, seed, mean=0.0, stddev=1.0, dtype=_dt.float32,
                               name=None, alg="auto_select"):
    g = stateless_generator("random.stateless_truncated_normal", seed)
    r = _truncated(g, _shape(shape))
    return _wrap((r * _host_value(stddev) + _host_value(mean)).astype(_dt.as_dtype(dtype)._np))


def _categorical(op, g, logits, num_samples, dtype):
    lg = _host_value(logits).astype(np.float64)
    if lg.ndim != 2:
        raise ValueError(f"[{op}] logits must be 2-D (batch, classes), got shape {lg.shape}")
    p = np.exp(lg - lg.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    out = np.stack([g.choice(p.shape[1], size=int(num_samples), p=row) for row in p]) \
        if lg.shape[0] else np.zeros((0, int(num_samples)), np.int64)
    return _wrap(out.astype(_dt.as_dtype(dtype)._np))


def stateless_categorical(logits, num_samples, seed, dtype=_dt.int64, name=None):
    op = "random.stateless_categorical"
    return _categorical(op, stateless_generator(op, seed), logits, num_samples, dtype)


def stateless_binomial(shape, seed, counts, probs, output_dtype=_dt.int32, name=None):
    g = stateless_generator("random.stateless_binomial", seed)
    shp = _shape(shape)
    n = np.broadcast_to(_host_value(counts), shp)
    p = np.broadcast_to(_host_value(probs), shp)
    return _wrap(g.binomial(n.astype(np.int64), p.astype(np.float64)).astype(
        _dt.as_dtype(output_dtype)._np))


def stateless_poisson(shape, seed, lam, dtype=_dt.int32, name=None):
    g = stateless_generator("random.stateless_poisson", seed)
    shp = _shape(shape)
    lam = np.broadcast_to(_host_value(lam).astype(np.float64), shp)
    return _wrap(g.poisson(lam).astype(_dt.as_dtype(dtype)._np))


def stateless_gamma(shape, seed, alpha, beta=None, dtype=_dt.float32, name=None):
    """Gamma(alpha) samples divided by the rate beta, of `shape` (alpha, beta broadcast to
    it)."""
    g = stateless_generator("random.stateless_gamma", seed)
    shp = _shape(shape)
    a = np.broadcast_to(_host_value(alpha).astype(np.float64), shp)
    b = np.broadcast_to(_host_value(1.0 if beta is None else beta).astype(np.float64), shp)
    return _wrap((g.standard_gamma(a) / b).astype(_dt.as_dtype(dtype)._np))


def gamma(shape, alpha, beta=None, dtype=_dt.float32, seed=None, name=None):
    """Samples of shape `shape + broadcast(alpha, beta).shape`: Gamma(alpha) / beta (beta is
    the rate). No gradient with respect to alpha (TF has an implicit one)."""
    a = _host_value(alpha).astype(np.float64)
    b = _host_value(1.0 if beta is None else beta).astype(np.float64)
    ab = np.broadcast_shapes(a.shape, b.shape)
    shp = _shape(shape) + tuple(ab)
    r = _generator(seed).standard_gamma(np.broadcast_to(a, shp)) / np.broadcast_to(b, shp)
    return _wrap(r.astype(_dt.as_dtype(dtype)._np))


def poisson(shape, lam, dtype=_dt.float32, seed=None, name=None):
    """Samples of shape `shape + lam.shape`."""
    lam = _host_value(lam).astype(np.float64)
    shp = _shape(shape) + tuple(lam.shape)
    r = _generator(seed).poisson(np.broadcast_to(lam, shp))
    return _wrap(r.astype(_dt.as_dtype(dtype)._np))


def stateless_split(seed, num=2, alg="auto_select"):
    """`num` new seeds (a (num, 2) int64 tensor) derived from `seed`."""
    g = np.random.default_rng(_seed_pair("random.experimental.stateless_split", seed) + [0x5B17])
    return _wrap(g.integers(0, 2 ** 63 - 1, (int(num), 2), dtype=np.int64))


def stateless_fold_in(seed, data, alg="auto_select"):
    """A new seed (shape [2], int64) derived from `seed` and the integer `data`."""
    d = int(_host_value(data))
    g = np.random.default_rng(_seed_pair("random.experimental.stateless_fold_in", seed) +
                              [d % (1 << 64), 0xF01D])
    return _wrap(g.integers(0, 2 ** 63 - 1, (2,), dtype=np.int64))
