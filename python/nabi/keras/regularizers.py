"""`keras.regularizers`: weight penalties built from nabi ops (differentiable)."""
import numpy as np

from .. import ops as _ops
from . import _registry
from ..ops import nn_ops as _nn
from ..framework.tensor import Tensor, convert_to_tensor

__all__ = ["Regularizer", "L1", "L2", "L1L2", "OrthogonalRegularizer", "l1", "l2", "l1_l2",
           "orthogonal_regularizer", "get", "serialize", "deserialize"]


def _t(x):
    return x if isinstance(x, Tensor) else convert_to_tensor(x)


class Regularizer:
    """Base class: `__call__(weights)` returns a scalar Tensor penalty."""

    def __call__(self, x):
        return convert_to_tensor(np.zeros((), np.float32))

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class L1L2(Regularizer):
    """l1 * sum(|x|) + l2 * sum(x^2)."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = float(l1 or 0.0)
        self.l2 = float(l2 or 0.0)

    def __call__(self, x):
        x = _t(x)
        out = None
        if self.l1:
            out = _ops.multiply(_ops.reduce_sum(_ops.abs(x)), self.l1)
        if self.l2:
            t = _ops.multiply(_ops.reduce_sum(_ops.square(x)), self.l2)
            out = t if out is None else _ops.add(out, t)
        if out is None:
            return convert_to_tensor(np.zeros((), x._data.dtype))
        return out

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    def __init__(self, l1=0.01, **kwargs):
        super().__init__(l1=kwargs.pop("l", l1))

    def get_config(self):
        return {"l1": self.l1}


class L2(L1L2):
    def __init__(self, l2=0.01, **kwargs):
        super().__init__(l2=kwargs.pop("l", l2))

    def get_config(self):
        return {"l2": self.l2}


class OrthogonalRegularizer(Regularizer):
    """factor * mean of |off-diagonal entries| of the normalised rows' (or columns') Gram matrix."""

    def __init__(self, factor=0.01, mode="rows"):
        if mode not in ("rows", "columns"):
            raise ValueError(f"[OrthogonalRegularizer] mode must be 'rows' or 'columns', got {mode!r}")
        self.factor = float(factor)
        self.mode = mode

    def __call__(self, x):
        x = _t(x)
        if x.ndim != 2:
            raise ValueError(f"[OrthogonalRegularizer] needs a 2-D weight, got shape {x.shape}")
        if self.mode == "columns":
            x = _ops.transpose(x)
        x = _nn.normalize_l2(x, axis=1)
        prod = _ops.matmul(x, _ops.transpose(x))
        n = x._data.shape[0]
        off = _ops.multiply(prod, convert_to_tensor(1.0 - np.eye(n, dtype=x._data.dtype)))
        denom = n * (n - 1) / 2.0 if n > 1 else 1.0
        return _ops.multiply(_ops.reduce_sum(_ops.abs(off)), self.factor / (2.0 * denom))

    def get_config(self):
        return {"factor": self.factor, "mode": self.mode}


def l1_l2(l1=0.01, l2=0.01):
    return L1L2(l1=l1, l2=l2)


l1 = L1
l2 = L2
orthogonal_regularizer = OrthogonalRegularizer

_CLASSES = {"L1L2": L1L2, "L1": L1, "L2": L2, "OrthogonalRegularizer": OrthogonalRegularizer,
            "l1": L1, "l2": L2, "l1_l2": l1_l2, "orthogonal_regularizer": OrthogonalRegularizer}


def serialize(regularizer):
    return _registry.serialize_object(regularizer, "keras.regularizers")


def deserialize(config, custom_objects=None):
    if isinstance(config, str):
        return get(config)
    return _registry.from_class_dict(config, custom_objects, _CLASSES, "regularizers", "regularizer")


def get(identifier):
    return _registry.get_instance(identifier, _CLASSES, deserialize, "regularizers", "regularizer")
