"""`keras.constraints`: projections applied to a variable after each optimizer update."""
import numpy as np

from .. import ops as _ops
from . import _registry
from ..framework.tensor import Tensor, _wrap, convert_to_tensor

__all__ = ["Constraint", "MaxNorm", "NonNeg", "UnitNorm", "MinMaxNorm", "max_norm", "non_neg",
           "unit_norm", "min_max_norm", "get", "serialize", "deserialize"]

_EPS = 1e-7


def _a(w):
    return w._data if isinstance(w, Tensor) else np.asarray(w)


class Constraint:
    """Base class: `__call__(w)` returns the projected weights (a Tensor)."""

    def __call__(self, w):
        return w if isinstance(w, Tensor) else convert_to_tensor(w)

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _norms(w, axis):
    if isinstance(axis, list):          # Keras' axis=[0, 1, 2] for a conv kernel
        axis = tuple(axis)
    return np.sqrt(np.sum(w * w, axis=axis, keepdims=True))


class MaxNorm(Constraint):
    """Rescales slices along `axis` whose L2 norm exceeds max_value."""

    def __init__(self, max_value=2, axis=0):
        self.max_value = max_value
        self.axis = axis

    def __call__(self, w):
        w = _a(w)
        n = _norms(w, self.axis)
        desired = np.clip(n, 0, self.max_value)
        return _wrap((w * (desired / (_EPS + n))).astype(w.dtype, copy=False))

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class NonNeg(Constraint):
    """Zeroes negative weights."""

    def __call__(self, w):
        w = _a(w)
        return _wrap(w * (w >= 0).astype(w.dtype))


class UnitNorm(Constraint):
    """Scales slices along `axis` to unit L2 norm."""

    def __init__(self, axis=0):
        self.axis = axis

    def __call__(self, w):
        w = _a(w)
        return _wrap((w / (_EPS + _norms(w, self.axis))).astype(w.dtype, copy=False))

    def get_config(self):
        return {"axis": self.axis}


class MinMaxNorm(Constraint):
    """Moves slice norms into [min_value, max_value] at `rate` (1.0 = project fully)."""

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value = min_value
        self.max_value = max_value
        self.rate = rate
        self.axis = axis

    def __call__(self, w):
        w = _a(w)
        n = _norms(w, self.axis)
        desired = self.rate * np.clip(n, self.min_value, self.max_value) + (1 - self.rate) * n
        return _wrap((w * (desired / (_EPS + n))).astype(w.dtype, copy=False))

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate,
                "axis": self.axis}


max_norm = MaxNorm
non_neg = NonNeg
unit_norm = UnitNorm
min_max_norm = MinMaxNorm

_CLASSES = {"MaxNorm": MaxNorm, "NonNeg": NonNeg, "UnitNorm": UnitNorm,
            "MinMaxNorm": MinMaxNorm, "max_norm": MaxNorm, "non_neg": NonNeg,
            "unit_norm": UnitNorm, "min_max_norm": MinMaxNorm, "maxnorm": MaxNorm,
            "nonneg": NonNeg, "unitnorm": UnitNorm}


def serialize(constraint):
    return _registry.serialize_object(constraint, "keras.constraints")


def deserialize(config, custom_objects=None):
    if isinstance(config, str):
        return get(config)
    return _registry.from_class_dict(config, custom_objects, _CLASSES, "constraints", "constraint")


def get(identifier):
    return _registry.get_instance(identifier, _CLASSES, deserialize, "constraints", "constraint")
