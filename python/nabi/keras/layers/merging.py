"""Merge layers: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot and their
functional forms (`add([a, b])`, `concatenate([a, b], axis=-1)`, ...)."""
import numpy as np

from ...framework.device import asarray as _asarray

from ...ops import array_ops as _array_ops
from ...ops import math_ops as _math_ops
from ...framework.tensor import Tensor
from .base import Layer

__all__ = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot",
           "add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate", "dot"]


class _Merge(Layer):
    # Integer inputs keep their dtype (Add of two int tensors is int, as in Keras); a list
    # that mixes integer and float inputs has the integers cast to the layer's dtype.
    _autocast_ints = False
    _min_inputs = 2
    _max_inputs = None

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def _check_list(self, inputs):
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f"[{self.name}] a merge layer must be called on a list of inputs, "
                             f"got {type(inputs).__name__}")
        n = len(inputs)
        if n < self._min_inputs or (self._max_inputs is not None and n > self._max_inputs):
            want = (f"exactly {self._min_inputs}" if self._max_inputs == self._min_inputs
                    else f"at least {self._min_inputs}")
            raise ValueError(f"[{self.name}] expects {want} inputs, got {n}")

    def build(self, input_shape):
        self._check_list(input_shape)
        self._check_shapes([tuple(s) for s in input_shape])
        self.built = True

    def _check_shapes(self, shapes):
        ref = None
        for s in shapes:
            body = s[1:]
            if ref is None:
                ref = body
                continue
            try:
                np.broadcast_shapes(tuple(1 if d is None else d for d in ref),
                                    tuple(1 if d is None else d for d in body))
            except ValueError:
                raise ValueError(f"[{self.name}] inputs must have compatible shapes, got "
                                 f"{[tuple(x) for x in shapes]}") from None

    def call(self, inputs):
        self._check_list(inputs)
        xs = list(inputs)
        kinds = {x._data.dtype.kind for x in xs if isinstance(x, Tensor)}
        if "f" in kinds and kinds & set("iub"):
            xs = [_math_ops.cast(x, self.dtype) if isinstance(x, Tensor) and
                  x._data.dtype.kind in "iub" else x for x in xs]
        return self._merge(xs)

    def compute_mask(self, inputs, mask=None):
        """Keras: the output step is valid where every input's step is valid."""
        if mask is None:
            return None
        if not isinstance(mask, (list, tuple)):
            return mask
        ms = [_asarray(m._data if hasattr(m, "_data") else m, bool) for m in mask
              if m is not None]
        if not ms:
            return None
        out = ms[0]
        for m in ms[1:]:
            out = out & m
        return out


class Add(_Merge):
    def _merge(self, xs):
        out = xs[0]
        for x in xs[1:]:
            out = _math_ops.add(out, x)
        return out


class Subtract(_Merge):
    _max_inputs = 2

    def _merge(self, xs):
        return _math_ops.subtract(xs[0], xs[1])


class Multiply(_Merge):
    def _merge(self, xs):
        out = xs[0]
        for x in xs[1:]:
            out = _math_ops.multiply(out, x)
        return out


class Average(_Merge):
    _autocast_ints = True  # a mean / dot product is computed in the layer's float dtype

    def _merge(self, xs):
        out = xs[0]
        for x in xs[1:]:
            out = _math_ops.add(out, x)
        return _math_ops.multiply(out, 1.0 / len(xs))


class Maximum(_Merge):
    def _merge(self, xs):
        out = xs[0]
        for x in xs[1:]:
            out = _math_ops.maximum(out, x)
        return out


class Minimum(_Merge):
    def _merge(self, xs):
        out = xs[0]
        for x in xs[1:]:
            out = _math_ops.minimum(out, x)
        return out


class Concatenate(_Merge):
    _min_inputs = 1

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)

    def _check_shapes(self, shapes):
        rank = len(shapes[0])
        ax = self.axis % rank if rank else 0
        for s in shapes:
            if len(s) != rank or any(a != b and a is not None and b is not None
                                     for i, (a, b) in enumerate(zip(s, shapes[0]))
                                     if i != ax and i != 0):
                raise ValueError(f"[{self.name}] a Concatenate layer requires inputs with matching "
                                 f"shapes except for the concatenation axis {self.axis}, got "
                                 f"inputs shapes: {[tuple(x) for x in shapes]}")

    def _merge(self, xs):
        self._check_shapes([tuple(x._data.shape) for x in xs])
        return _array_ops.concat(xs, self.axis)

    def compute_mask(self, inputs, mask=None):
        """Keras: masks broadcast to the input shapes, concatenated along `axis`, then
        reduced with `all` over the last axis."""
        if mask is None or not isinstance(mask, (list, tuple)):
            return mask
        if all(m is None for m in mask):
            return None
        full = []
        for x, m in zip(inputs, mask):
            shp = x._data.shape
            if m is None:
                full.append(np.ones_like(x._data, dtype=bool))
                continue
            m = _asarray(m._data if hasattr(m, "_data") else m, bool)
            if m.ndim < len(shp):
                m = m[..., None]
            full.append(np.broadcast_to(m, shp))
        return np.concatenate(full, axis=self.axis).all(axis=-1)

    def get_config(self):
        config = super().get_config()
        config["axis"] = self.axis
        return config


class Dot(_Merge):
    _autocast_ints = True  # a mean / dot product is computed in the layer's float dtype

    _max_inputs = 2

    def __init__(self, axes, normalize=False, **kwargs):
        super().__init__(**kwargs)
        self.axes = axes if isinstance(axes, int) else tuple(axes)
        self.normalize = bool(normalize)

    def _check_shapes(self, shapes):
        pass

    def _merge(self, xs):
        a, b = xs
        from ... import nn
        axes = self.axes if isinstance(self.axes, tuple) else (self.axes, self.axes)
        ra, rb = a._data.ndim, b._data.ndim
        axes = (axes[0] % ra, axes[1] % rb)
        if self.normalize:
            a = nn.l2_normalize(a, axis=axes[0])
            b = nn.l2_normalize(b, axis=axes[1])
        if ra == 2 and rb == 2:
            return _math_ops.reduce_sum(_math_ops.multiply(a, b), axis=1, keepdims=True)
        # Batched contraction over one axis each: move it last / second to last and matmul.
        a_m = _array_ops.transpose(a, [i for i in range(ra) if i != axes[0]] + [axes[0]])
        b_m = _array_ops.transpose(b, [0, axes[1]] + [i for i in range(1, rb) if i != axes[1]])
        if ra == 2:
            a_m = _array_ops.expand_dims(a_m, 1)
        if rb == 2:
            b_m = _array_ops.expand_dims(b_m, 2)
        out = _math_ops.matmul(a_m, b_m)
        if ra == 2:
            out = _array_ops.squeeze(out, 1)
        if rb == 2:
            out = _array_ops.squeeze(out, -1)
        return out

    def get_config(self):
        config = super().get_config()
        config.update({"axes": self.axes, "normalize": self.normalize})
        return config


def add(inputs, **kwargs):
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    return Minimum(**kwargs)(inputs)


def concatenate(inputs, axis=-1, **kwargs):
    return Concatenate(axis=axis, **kwargs)(inputs)


def dot(inputs, axes, normalize=False, **kwargs):
    return Dot(axes=axes, normalize=normalize, **kwargs)(inputs)
