"""`keras.random` (Keras 3): random tensors from explicit seeds.

Every function is stateless in its seed, as in Keras 3:
- an integer seed gives the same numbers on every call (`normal((2,), seed=1)` twice is equal);
- a `SeedGenerator` gives new numbers on every draw, and two generators made with the same
  seed give the same sequence (`SeedGenerator(s)`'s first draw equals `seed=s`);
- `seed=None` draws from a global SeedGenerator (fresh numbers each call), which
  `keras.utils.set_random_seed` resets so that a script repeats.

The numbers come from nabi's stateless random ops (`tf.random.stateless_*`, shape [2] seeds
[seed, counter]); they are nabi's own, not those of Keras's TensorFlow or JAX backends. Draws run
on the host and are placed on the current device. A SeedGenerator's state is a non-trainable
int64 `keras.Variable` of shape [2] (kept on the host); a layer that holds a SeedGenerator as an
attribute lists that state in `layer.variables` and `non_trainable_variables` but not among its
weights, as Keras 3 does: get_weights / save_weights leave it out."""
import random as _python_random

import numpy as np

from .. import dtypes as _dt
from ..framework.device import place as _place
from ..ops import random_ops as _ro
from ..ops._common import _wrap

__all__ = ["SeedGenerator", "normal", "uniform", "truncated_normal", "randint", "categorical",
           "dropout", "shuffle", "gamma", "beta", "binomial"]


def make_default_seed():
    """A seed from Python's `random` (so `random.seed` / set_random_seed make it repeat)."""
    return _python_random.randint(1, int(1e9))


class SeedGenerator:
    """A stateful seed: each draw with `seed=seed_generator` returns new numbers.

        gen = keras.random.SeedGenerator(seed=42)
        a = keras.random.normal((2, 3), seed=gen)
        b = keras.random.normal((2, 3), seed=gen)     # different from a

    The state is [seed, counter]; each `next()` returns it and adds one to the counter."""

    _layer_tracked_state = True   # a Layer attribute: `state` joins the layer's variables

    def __init__(self, seed=None, name=None, **kwargs):
        kwargs.pop("backend", None)
        if kwargs:
            raise ValueError(f"[SeedGenerator] unrecognized keyword arguments: {kwargs}")
        self._initial_seed = seed
        if seed is None:
            seed = make_default_seed()
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise ValueError(f"[SeedGenerator] argument `seed` must be an integer. Received: "
                             f"seed={seed!r}")
        from ..framework.device import host_scope
        from .layers.base import KerasVariable
        self.name = name or "seed_generator"
        with host_scope():   # read back on every draw: keep it on the host
            self.state = KerasVariable(np.array([int(seed), 0], np.int64), shape=(2,),
                                       dtype="int64", trainable=False,
                                       name=f"{self.name}_state")

    def next(self, ordered=True):
        """The current [seed, counter] (a NumPy int64 pair); the counter moves on by one,
        except while a layer runs on dummy data to trace a functional-model call (Keras 3's
        symbolic calls consume no draws)."""
        from .layers.base import _CTX
        s = np.asarray(self.state.numpy(), np.int64)
        if not _CTX.symbolic:
            self.state.assign(s + np.array([0, 1], np.int64))
        return s

    def get_config(self):
        return {"seed": self._initial_seed}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<SeedGenerator name={self.name!r} state={self.state.numpy().tolist()}>"


_global = {"generator": None}


def global_seed_generator():
    """The SeedGenerator behind `seed=None` (made on first use)."""
    if _global["generator"] is None:
        _global["generator"] = SeedGenerator(name="global_seed_generator")
    return _global["generator"]


def _reset_global_seed_generator(seed=None):
    """keras.utils.set_random_seed: later `seed=None` draws repeat the same sequence."""
    _global["generator"] = None if seed is None else SeedGenerator(int(seed) % (1 << 62),
                                                                    name="global_seed_generator")


def draw_seed(seed):
    """The shape [2] int64 seed of one draw: [seed, 0] for an integer, the generator's next
    state for a SeedGenerator, the global generator's for None; a pair is taken as it is."""
    if isinstance(seed, SeedGenerator):
        return seed.next()
    if seed is None:
        return global_seed_generator().next()
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return np.array([int(seed), 0], np.int64)
    a = _ro._host_value(seed)
    if a.shape == (2,) and a.dtype.kind in "iu":
        return a.astype(np.int64)
    raise ValueError(f"Argument `seed` must be either an integer or an instance of "
                     f"`SeedGenerator`. Received: seed={seed!r} (of type {type(seed)})")


def _float_dtype(op, dtype):
    from . import backend
    dt = _dt.as_dtype(dtype if dtype is not None else backend.floatx())
    if not dt.is_floating:
        raise ValueError(f"[keras.random.{op}] requires a floating point `dtype`. Received: "
                         f"dtype={dt.name}")
    return dt


def _seed_int(seed):
    """The [seed, counter] pair as the uint64 words the stateless ops read."""
    return np.asarray([int(v) % (1 << 64) for v in seed], np.uint64)


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Samples of N(mean, stddev**2) of `shape`."""
    dt = _float_dtype("normal", dtype)
    return _ro.stateless_normal(shape, _seed_int(draw_seed(seed)), mean=mean, stddev=stddev,
                                dtype=dt)


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    """Samples of U[minval, maxval) of `shape`; floating dtypes only (see `randint`)."""
    dt = _float_dtype("uniform", dtype)
    return _ro.stateless_uniform(shape, _seed_int(draw_seed(seed)), minval=minval,
                                 maxval=maxval, dtype=dt)


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Normal samples redrawn until they lie within two standard deviations of the mean."""
    dt = _float_dtype("truncated_normal", dtype)
    return _ro.stateless_truncated_normal(shape, _seed_int(draw_seed(seed)), mean=mean,
                                          stddev=stddev, dtype=dt)


def randint(shape, minval, maxval, dtype="int32", seed=None):
    """Integers uniform in [minval, maxval)."""
    dt = _dt.as_dtype(dtype)
    if not dt.is_integer:
        raise ValueError(f"[keras.random.randint] requires an integer `dtype`. Received: "
                         f"dtype={dt.name}")
    if not int(_ro._host_value(minval)) < int(_ro._host_value(maxval)):
        raise ValueError(f"[keras.random.randint] need minval < maxval. Received: "
                         f"minval={minval}, maxval={maxval}")
    return _ro.stateless_uniform(shape, _seed_int(draw_seed(seed)), minval=minval,
                                 maxval=maxval, dtype=dt)


def categorical(logits, num_samples, dtype="int32", seed=None):
    """(batch, num_samples) class ids drawn from the softmax of 2-D `logits`."""
    shp = tuple(getattr(logits, "shape", np.shape(logits)))
    if len(shp) != 2:
        raise ValueError(f"[keras.random.categorical] `logits` should be a 2-D tensor with "
                         f"shape [batch_size, num_classes]. Received: logits.shape={shp}")
    return _ro.stateless_categorical(logits, num_samples, _seed_int(draw_seed(seed)),
                                     dtype=dtype)


def _generator(op, seed):
    return _ro.stateless_generator(f"keras.random.{op}", _seed_int(draw_seed(seed)))


def dropout(inputs, rate, noise_shape=None, seed=None):
    """inputs * mask / (1 - rate), each mask entry kept with probability 1 - rate (the mask
    has `noise_shape`, broadcast to the inputs); differentiable in `inputs`."""
    from ..ops._common import t_
    rate = float(rate)
    if not 0 <= rate < 1:
        raise ValueError(f"[keras.random.dropout] `rate` must be in [0, 1). Received: "
                         f"rate={rate}")
    x = t_(inputs)
    shp = tuple(x.shape) if noise_shape is None else tuple(
        int(s) if s is not None else int(d) for s, d in zip(noise_shape, x.shape))
    keep = _generator("dropout", seed).random(shp) >= rate
    mask = _wrap(_place((keep / (1.0 - rate)).astype(_dt.as_dtype(x.dtype)._np)))
    return x * mask


def shuffle(x, axis=0, seed=None):
    """x with its slices along `axis` in a random order (a gather, differentiable in x)."""
    from ..ops._common import t_
    from ..ops.array_ops import gather
    x = t_(x)
    axis = int(axis) % max(len(x.shape), 1)
    perm = _generator("shuffle", seed).permutation(int(x.shape[axis]))
    return gather(x, _wrap(_place(perm.astype(np.int64))), axis=axis)


def gamma(shape, alpha, dtype=None, seed=None):
    """Gamma(alpha, 1) samples of `shape` (alpha broadcast to it)."""
    dt = _float_dtype("gamma", dtype)
    return _ro.stateless_gamma(shape, _seed_int(draw_seed(seed)), alpha, dtype=dt)


def binomial(shape, counts, probabilities, dtype=None, seed=None):
    """Binomial(counts, probabilities) samples of `shape`, as floats (Keras 3's default)."""
    dt = _float_dtype("binomial", dtype)
    return _ro.stateless_binomial(shape, _seed_int(draw_seed(seed)), counts, probabilities,
                                  output_dtype=dt)


def beta(shape, alpha, beta, dtype=None, seed=None):  # noqa: A002 -- Keras's argument name
    """Beta(alpha, beta) samples of `shape`."""
    dt = _float_dtype("beta", dtype)
    a = np.broadcast_to(_ro._host_value(alpha).astype(np.float64), _ro._shape(shape))
    b = np.broadcast_to(_ro._host_value(beta).astype(np.float64), _ro._shape(shape))
    r = _generator("beta", seed).beta(a, b)
    return _wrap(_place(r.astype(dt._np)))
