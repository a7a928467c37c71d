"""`keras.initializers`: Keras 3 initializers by name and class.

An initializer built with an int `seed=` gives Keras's numbers: as Keras 3 and Keras 2
(tf_keras) do, it is a stateless draw, `tf.random.stateless_uniform / stateless_normal /
stateless_truncated_normal` with the seed [seed, 0] (times the computed limit or stddev), so it
returns the same values on every call. Where the two differ nabi follows Keras 2: the seed is
used as given (Keras 3 first takes it modulo 2**31 - 2, which only changes seeds outside
[0, 2**31 - 3]), and a float64 uniform's bounds are not rounded to float32 first (Keras 3's
TF backend does, moving float64 values by ~1e-9).
Unseeded initializers after `keras.utils.set_random_seed(s)` follow Keras 2 (tf_keras): each
instance takes randint(1, 10**9) from random.Random(s) on its first call and draws statelessly
with [that, 0] from then on, so a model built after the same seed gets Keras's initial weights
(and one instance reused for several weights repeats its values, as in Keras).
`tf.random.set_seed(s)` starts the same stream in nabi (in Keras it leaves initial weights
unseeded), so either call makes runs repeat. With no seed set, unseeded draws come from
nabi's global generator.
`Initializer(shape, dtype=None)` returns a Tensor (float32 by default).
"""
import math

import numpy as np

from .. import dtypes as _dt
from ..framework.tensor import Tensor
from ..framework.device import host_scope
from ..ops import random_ops as _rnd

_wrap = _rnd._wrap  # initial values go to the current device (the host in add_weight)

__all__ = ["Initializer", "Zeros", "Ones", "Constant", "RandomUniform", "RandomNormal",
           "TruncatedNormal", "VarianceScaling", "GlorotUniform", "GlorotNormal", "HeNormal",
           "HeUniform", "LecunNormal", "LecunUniform", "Orthogonal", "Identity", "get",
           "serialize", "deserialize"]


def _dtype(dtype):
    if dtype is None:
        try:
            from . import backend
            return _dt.as_dtype(backend.floatx())
        except Exception:  # noqa: BLE001  (backend not importable yet)
            return _dt.float32
    return _dt.as_dtype(dtype)


def _shape(shape):
    if isinstance(shape, Tensor):
        shape = shape._data.tolist()
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    return tuple(int(s) for s in shape)


def _draw(kind, shape, dtype, seed, a, b):
    """A draw of `kind` ('uniform' in [a, b), 'normal' / 'truncated_normal' with mean a and
    stddev b): Keras's stateless draw for an int seed, else nabi's global generator."""
    if seed is not None:
        op = {"uniform": _rnd.stateless_uniform, "normal": _rnd.stateless_normal,
              "truncated_normal": _rnd.stateless_truncated_normal}[kind]
        return op(shape, [int(seed), 0], a, b, dtype=dtype)
    op = {"uniform": _rnd.uniform, "normal": _rnd.normal,
          "truncated_normal": _rnd.truncated_normal}[kind]
    return op(shape, a, b, dtype=dtype, seed=None, _advance=False)


def compute_fans(shape):
    """(fan_in, fan_out) as Keras: conv kernels multiply by the receptive field size."""
    shape = tuple(shape)
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    rf = 1
    for d in shape[:-2]:
        rf *= d
    return shape[-2] * rf, shape[-1] * rf


class Initializer:
    """Base class: `__call__(shape, dtype=None)` returns a Tensor."""

    def __call__(self, shape, dtype=None, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must implement __call__")

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config.pop("dtype", None)
        return cls(**config)

    def clone(self):
        return type(self).from_config(self.get_config())


# Keras 2 (tf_keras) keras.utils.set_random_seed(s) installs random.Random(s); an unseeded
# initializer then takes randint(1, 10**9) from it on its first call and draws statelessly with
# that seed from then on (so one instance repeats its values, as in Keras). nabi installs it in
# tf.random.set_seed too (random_ops._state["init_seeds"]), which keras.utils.set_random_seed
# calls: either seed gives Keras's initial weights. With no seed set, unseeded initializers
# draw from nabi's global generator.
def _keras_seed_generator():
    return _rnd._state.get("init_seeds")


def _set_keras_seed_generator(gen):
    _rnd._state["init_seeds"] = gen


class _Seeded(Initializer):
    def __init__(self, seed=None):
        if seed is not None and not isinstance(seed, (int, np.integer)):
            raise ValueError(f"[{type(self).__name__}] seed must be an int or None, got {seed!r}")
        self.seed = None if seed is None else int(seed)
        self._lazy_seed = None

    def _draw_seed(self):
        """The seed of this call's stateless draw: `seed`, else the one taken from the Keras
        seed generator on the first call (Keras 2's RandomGenerator._create_seed), else None
        (nabi's global generator)."""
        if self.seed is not None:
            return self.seed
        if getattr(self, "_lazy_seed", None) is None:
            gen = _keras_seed_generator()
            if gen is None:
                return None
            self._lazy_seed = gen.randint(1, int(1e9))
        return self._lazy_seed

    def get_config(self):
        return {"seed": self.seed}


class Zeros(Initializer):
    def __call__(self, shape, dtype=None, **kwargs):
        return _wrap(np.zeros(_shape(shape), _dtype(dtype)._np))


class Ones(Initializer):
    def __call__(self, shape, dtype=None, **kwargs):
        return _wrap(np.ones(_shape(shape), _dtype(dtype)._np))


class Constant(Initializer):
    def __init__(self, value=0.0):
        self.value = value

    def __call__(self, shape, dtype=None, **kwargs):
        v = self.value._data if isinstance(self.value, Tensor) else np.asarray(self.value)
        return _wrap(np.array(np.broadcast_to(v, _shape(shape)), dtype=_dtype(dtype)._np))

    def get_config(self):
        v = self.value
        if isinstance(v, Tensor):
            v = v._data
        if isinstance(v, np.ndarray):
            v = v.tolist()
        return {"value": v}


class RandomUniform(_Seeded):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        super().__init__(seed)
        self.minval = minval
        self.maxval = maxval

    def __call__(self, shape, dtype=None, **kwargs):
        return _draw("uniform", _shape(shape), _dtype(dtype), self._draw_seed(), self.minval,
                     self.maxval)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class RandomNormal(_Seeded):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean = mean
        self.stddev = stddev

    def __call__(self, shape, dtype=None, **kwargs):
        return _draw("normal", _shape(shape), _dtype(dtype), self._draw_seed(), self.mean, self.stddev)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class TruncatedNormal(_Seeded):
    """Normal draws redrawn beyond two standard deviations."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean = mean
        self.stddev = stddev

    def __call__(self, shape, dtype=None, **kwargs):
        return _draw("truncated_normal", _shape(shape), _dtype(dtype), self._draw_seed(), self.mean,
                     self.stddev)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class VarianceScaling(_Seeded):
    """Scale / fan (fan_in, fan_out or their mean), drawn from a truncated normal, a normal or a
    uniform distribution with that variance."""

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None,
                 input_axes=None, output_axes=None):
        super().__init__(seed)
        # Keras 3: the kernel axes that count as fan_in / fan_out (EinsumDense sets them)
        self.input_axes = None if input_axes is None else [int(a) for a in input_axes]
        self.output_axes = None if output_axes is None else [int(a) for a in output_axes]
        if scale <= 0.0:
            raise ValueError(f"[VarianceScaling] scale must be positive, got {scale}")
        mode = mode.lower()
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"[VarianceScaling] invalid mode {mode!r}")
        distribution = distribution.lower()
        if distribution == "normal":
            distribution = "truncated_normal"
        if distribution not in ("uniform", "truncated_normal", "untruncated_normal"):
            raise ValueError(f"[VarianceScaling] invalid distribution {distribution!r}")
        self.scale = float(scale)
        self.mode = mode
        self.distribution = distribution

    def __call__(self, shape, dtype=None, **kwargs):
        shape = _shape(shape)
        if self.input_axes is not None and self.output_axes is not None:
            fan_in = int(np.prod([shape[a] for a in self.input_axes]))
            fan_out = int(np.prod([shape[a] for a in self.output_axes]))
        else:
            fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        scale = self.scale / max(1.0, n)
        dt = _dtype(dtype)
        if self.distribution == "truncated_normal":
            # the stddev of a unit normal truncated to (-2, 2): rescale to variance `scale`
            stddev = math.sqrt(scale) / 0.87962566103423978
            return _draw("truncated_normal", shape, dt, self._draw_seed(), 0.0, stddev)
        if self.distribution == "untruncated_normal":
            return _draw("normal", shape, dt, self._draw_seed(), 0.0, math.sqrt(scale))
        limit = math.sqrt(3.0 * scale)
        return _draw("uniform", shape, dt, self._draw_seed(), -limit, limit)

    def get_config(self):
        config = {"scale": self.scale, "mode": self.mode, "distribution": self.distribution,
                  "seed": self.seed}
        if self.input_axes is not None or self.output_axes is not None:
            config.update(input_axes=self.input_axes, output_axes=self.output_axes)
        return config


def _vs(clsname, scale, mode, distribution, doc):
    def __init__(self, seed=None, input_axes=None, output_axes=None):
        VarianceScaling.__init__(self, scale, mode, distribution, seed, input_axes, output_axes)

    def get_config(self):
        config = {"seed": self.seed}
        if self.input_axes is not None or self.output_axes is not None:
            config.update(input_axes=self.input_axes, output_axes=self.output_axes)
        return config
    return type(clsname, (VarianceScaling,), {"__init__": __init__, "get_config": get_config,
                                              "__doc__": doc, "__module__": __name__})


GlorotUniform = _vs("GlorotUniform", 1.0, "fan_avg", "uniform",
                    "U(-l, l) with l = sqrt(6 / (fan_in + fan_out)).")
GlorotNormal = _vs("GlorotNormal", 1.0, "fan_avg", "truncated_normal",
                   "Truncated normal with stddev sqrt(2 / (fan_in + fan_out)).")
HeNormal = _vs("HeNormal", 2.0, "fan_in", "truncated_normal",
               "Truncated normal with stddev sqrt(2 / fan_in).")
HeUniform = _vs("HeUniform", 2.0, "fan_in", "uniform", "U(-l, l) with l = sqrt(6 / fan_in).")
LecunNormal = _vs("LecunNormal", 1.0, "fan_in", "truncated_normal",
                  "Truncated normal with stddev sqrt(1 / fan_in).")
LecunUniform = _vs("LecunUniform", 1.0, "fan_in", "uniform",
                   "U(-l, l) with l = sqrt(3 / fan_in).")


class Orthogonal(_Seeded):
    """A (semi-)orthogonal matrix from the QR decomposition of a normal draw, times `gain`;
    shapes of rank > 2 are flattened to (prod(shape[:-1]), shape[-1]). With an int seed the
    draw is Keras's (a stateless normal in `dtype`), so the result equals Keras's up to the
    rounding of the QR (nabi's runs in float64)."""

    def __init__(self, gain=1.0, seed=None):
        super().__init__(seed)
        self.gain = float(gain)

    def __call__(self, shape, dtype=None, **kwargs):
        shape = _shape(shape)
        if len(shape) < 2:
            raise ValueError(f"[Orthogonal] needs a shape of rank >= 2, got {shape}")
        rows = 1
        for d in shape[:-1]:
            rows *= d
        cols = shape[-1]
        flat = (max(rows, cols), min(rows, cols))
        dt = _dtype(dtype)
        with host_scope():
            seed = self._draw_seed()
            if seed is None:
                a = _rnd.normal(flat, dtype=_dt.float64, seed=None, _advance=False)._data
            else:
                a = _draw("normal", flat, dt, seed, 0.0, 1.0)._data.astype(np.float64)
        q, r = np.linalg.qr(a)
        d = np.diag(r)
        q = q * np.where(d < 0, -1.0, 1.0)
        if rows < cols:
            q = q.T
        return _wrap((self.gain * q.reshape(shape)).astype(dt._np))

    def get_config(self):
        return {"gain": self.gain, "seed": self.seed}


class Identity(Initializer):
    """gain * the identity matrix (2-D shapes; rectangular ones get ones on the diagonal)."""

    def __init__(self, gain=1.0):
        self.gain = float(gain)

    def __call__(self, shape, dtype=None, **kwargs):
        shape = _shape(shape)
        if len(shape) != 2:
            raise ValueError(f"[Identity] needs a 2-D shape, got {shape}")
        return _wrap((self.gain * np.eye(*shape)).astype(_dtype(dtype)._np))

    def get_config(self):
        return {"gain": self.gain}


# functional aliases, as in Keras
zeros = Zeros
ones = Ones
constant = Constant
uniform = random_uniform = RandomUniform
normal = random_normal = RandomNormal
truncated_normal = TruncatedNormal
glorot_uniform = GlorotUniform
glorot_normal = GlorotNormal
he_normal = HeNormal
he_uniform = HeUniform
lecun_normal = LecunNormal
lecun_uniform = LecunUniform
orthogonal = Orthogonal
identity = Identity
variance_scaling = VarianceScaling

_CLASSES = {c.__name__: c for c in (Zeros, Ones, Constant, RandomUniform, RandomNormal,
                                    TruncatedNormal, VarianceScaling, GlorotUniform,
                                    GlorotNormal, HeNormal, HeUniform, LecunNormal,
                                    LecunUniform, Orthogonal, Identity)}
_NAMES = {"zeros": Zeros, "zero": Zeros, "ones": Ones, "one": Ones, "constant": Constant,
          "uniform": RandomUniform, "random_uniform": RandomUniform, "normal": RandomNormal,
          "random_normal": RandomNormal, "truncated_normal": TruncatedNormal,
          "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal,
          "he_normal": HeNormal, "he_uniform": HeUniform, "lecun_normal": LecunNormal,
          "lecun_uniform": LecunUniform, "orthogonal": Orthogonal, "identity": Identity,
          "variance_scaling": VarianceScaling}
# Class names resolve through the same table (serialized configs use them).
_NAMES.update({k: v for k, v in _CLASSES.items()})
_NAMES["IdentityInitializer"] = Identity


def serialize(initializer):
    return {"module": "keras.initializers", "class_name": type(initializer).__name__,
            "config": initializer.get_config(), "registered_name": None}


def deserialize(config, custom_objects=None):
    if isinstance(config, str):
        return get(config)
    name = config.get("class_name")
    cls = (custom_objects or {}).get(name) or _NAMES.get(name)
    if cls is None:
        raise ValueError(f"[initializers.deserialize] unknown initializer {name!r}")
    return cls.from_config(config.get("config", {}))


def get(identifier):
    """An initializer from a name ('glorot_uniform'), a class name, a config dict, an instance
    or a callable(shape, dtype)."""
    if identifier is None:
        return None
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        cls = _NAMES.get(identifier) or _NAMES.get(identifier.lower())
        if cls is None:   # a custom function saved by name (load_model's custom_objects)
            from .saving.object_registration import get_registered_object
            fn = get_registered_object(identifier)
            if fn is not None:
                return fn() if isinstance(fn, type) else fn
        if cls is None:
            raise ValueError(f"[initializers.get] unknown initializer {identifier!r}; known: "
                             f"{', '.join(sorted(k for k in _NAMES if k.islower()))}")
        return cls()
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()
    if callable(identifier):
        return identifier
    raise ValueError(f"[initializers.get] could not interpret initializer {identifier!r}")
