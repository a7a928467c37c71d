"""`RepeatVector(n)`: (batch, features) -> (batch, n, features); Cropping1D, and the 3-D
ZeroPadding3D / Cropping3D / UpSampling3D (slicing, pad, reshape + broadcast: recorded ops)."""
import numpy as np

from ...framework.tensor import Tensor, _wrap
from ...ops import array_ops as _array_ops
from .. import backend
from .base import InputSpec, Layer

__all__ = ["RepeatVector", "Cropping1D", "ZeroPadding3D", "Cropping3D", "UpSampling3D"]


class RepeatVector(Layer):
    _autocast_ints = False  # integer inputs keep their dtype, as in Keras

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        if int(n) <= 0:
            raise ValueError(f"[{self.name}] n must be a positive integer, got {n!r}")
        self.n = int(n)
        self.input_spec = InputSpec(ndim=2)

    def call(self, inputs):
        x = inputs if isinstance(inputs, Tensor) else _wrap(inputs)
        if x._data.ndim != 2:
            raise ValueError(f"[{self.name}] expected input of shape (batch, features), got "
                             f"{tuple(x._data.shape)}")
        return _array_ops.tile(_array_ops.expand_dims(x, 1), [1, self.n, 1])

    def get_config(self):
        cfg = super().get_config()
        cfg["n"] = self.n
        return cfg


def _int_pairs(layer, what, value, n):
    """An int, n ints or n pairs of non-negative ints -> n (before, after) pairs."""
    def is_int(v):
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool)
    try:
        if is_int(value):
            out = [(int(value), int(value))] * n
        elif len(value) == n and all(is_int(v) for v in value):
            out = [(int(v), int(v)) for v in value]
        elif len(value) == n and all(len(v) == 2 and all(is_int(u) for u in v) for v in value):
            out = [(int(v[0]), int(v[1])) for v in value]
        else:
            out = None
    except TypeError:
        out = None
    if out is None or any(a < 0 or b < 0 for a, b in out):
        raise ValueError(f"[{layer}] {what} must be an int, {n} ints or {n} pairs of "
                         f"non-negative ints, got {what}={value!r}")
    return tuple(out)


def _data_format(layer, value):
    value = value or backend.image_data_format()
    if value not in ("channels_last", "channels_first"):
        raise ValueError(f"[{layer}] data_format must be 'channels_last' or 'channels_first', "
                         f"got {value!r}")
    return value


def _check_rank(layer, x, rank, what):
    shp = tuple(x._data.shape)
    if len(shp) != rank:
        raise ValueError(f"[{layer.name}] {type(layer).__name__} expects a {rank}-D input "
                         f"{what}, got shape {shp}")
    return shp


def _crop(layer, inputs, first_axis, cropping):
    shp = tuple(inputs._data.shape)
    idx = [slice(None)] * len(shp)
    for i, (lo, hi) in enumerate(cropping):
        d = shp[first_axis + i]
        if lo + hi >= d:
            raise ValueError(f"[{layer.name}] {type(layer).__name__} cropping "
                             f"{tuple(cropping)} must leave something of each axis, got input "
                             f"shape {shp}")
        idx[first_axis + i] = slice(lo, d - hi)
    return inputs[tuple(idx)]


class Cropping1D(Layer):
    """(batch, steps, features) -> (batch, steps - left - right, features)."""
    _autocast_ints = False  # integer inputs keep their dtype, as in Keras

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(**kwargs)
        c = (cropping, cropping) if isinstance(cropping, (int, np.integer)) else cropping
        try:
            ok = len(c) == 2 and all(isinstance(v, (int, np.integer)) and
                                     not isinstance(v, bool) and v >= 0 for v in c)
        except TypeError:
            ok = False
        if not ok:
            raise ValueError(f"[{self.name}] Cropping1D cropping must be a non-negative int or a "
                             f"tuple of 2 non-negative ints, got cropping={cropping!r}")
        self.cropping = (int(c[0]), int(c[1]))
        self.input_spec = InputSpec(ndim=3)
        self.supports_masking = False

    def call(self, inputs):
        _check_rank(self, inputs, 3, "(batch, steps, features)")
        return _crop(self, inputs, 1, [self.cropping])

    def get_config(self):
        config = super().get_config()
        config["cropping"] = self.cropping
        return config


class ZeroPadding3D(Layer):
    """Zero rows around the three spatial axes of (batch, d1, d2, d3, channels)."""
    _autocast_ints = False  # integer inputs keep their dtype, as in Keras

    def __init__(self, padding=(1, 1, 1), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.padding = _int_pairs(self.name, "padding", padding, 3)
        self.data_format = _data_format(self.name, data_format)
        self.input_spec = InputSpec(ndim=5)

    def call(self, inputs):
        _check_rank(self, inputs, 5, "(batch, d1, d2, d3, channels)")
        p = [list(q) for q in self.padding]
        pads = [[0, 0], [0, 0]] + p if self.data_format == "channels_first" else \
            [[0, 0]] + p + [[0, 0]]
        return _array_ops.pad(inputs, pads)

    def get_config(self):
        config = super().get_config()
        config.update({"padding": self.padding, "data_format": self.data_format})
        return config


class Cropping3D(Layer):
    """Crops the three spatial axes of (batch, d1, d2, d3, channels)."""
    _autocast_ints = False  # integer inputs keep their dtype, as in Keras

    def __init__(self, cropping=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.cropping = _int_pairs(self.name, "cropping", cropping, 3)
        self.data_format = _data_format(self.name, data_format)
        self.input_spec = InputSpec(ndim=5)

    def call(self, inputs):
        _check_rank(self, inputs, 5, "(batch, d1, d2, d3, channels)")
        first = 2 if self.data_format == "channels_first" else 1
        return _crop(self, inputs, first, self.cropping)

    def get_config(self):
        config = super().get_config()
        config.update({"cropping": self.cropping, "data_format": self.data_format})
        return config


class UpSampling3D(Layer):
    """Repeats each voxel size[i] times along the three spatial axes (nearest neighbour)."""
    _autocast_ints = False  # integer inputs keep their dtype, as in Keras

    def __init__(self, size=(2, 2, 2), data_format=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(size, (int, np.integer)):
            size = (size,) * 3
        size = tuple(size)
        if len(size) != 3 or any(not isinstance(s, (int, np.integer)) or s < 1 for s in size):
            raise ValueError(f"[{self.name}] UpSampling3D size must be a positive int or 3 "
                             f"positive ints, got size={size!r}")
        self.size = tuple(int(s) for s in size)
        self.data_format = _data_format(self.name, data_format)
        self.input_spec = InputSpec(ndim=5)

    def call(self, inputs):
        shp = _check_rank(self, inputs, 5, "(batch, d1, d2, d3, channels)")
        first = 2 if self.data_format == "channels_first" else 1
        # (.., d, 1, ..) broadcast to (.., d, s, ..) then merged: a recorded nearest repeat
        split, big, out = list(shp[:first]), list(shp[:first]), list(shp[:first])
        for i, s in enumerate(self.size):
            d = shp[first + i]
            split += [d, 1]
            big += [d, s]
            out.append(d * s)
        rest = list(shp[first + 3:])
        x = _array_ops.reshape(inputs, split + rest)
        x = _array_ops.broadcast_to(x, big + rest)
        return _array_ops.reshape(x, out + rest)

    def get_config(self):
        config = super().get_config()
        config.update({"size": self.size, "data_format": self.data_format})
        return config
