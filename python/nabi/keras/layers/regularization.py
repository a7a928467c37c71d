"""SpatialDropout1D/2D/3D (whole feature maps dropped) and GaussianNoise, training only."""
import numpy as np

from ...ops import math_ops as _m
from .base import Layer
from .convolutional import _data_format

__all__ = ["SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise", "GaussianDropout",
           "AlphaDropout", "ActivityRegularization"]


def _rng(layer):
    if layer._rng is not None:
        return layer._rng
    from ...ops.random_ops import _generator
    return _generator(None)


class _SpatialDropout(Layer):
    def __init__(self, rate, data_format=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        rate = float(rate)
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"[{self.name}] rate must be in [0, 1], got {rate}")
        self.rate = rate
        self.seed = seed
        self._rng = np.random.default_rng(seed) if seed is not None else None
        self.data_format = data_format

    def _noise_shape(self, shp):
        raise NotImplementedError

    def call(self, inputs, training=None):
        if not training or self.rate == 0.0:
            return inputs
        a = inputs._data
        if self.rate >= 1.0:
            return _m.multiply(inputs, 0.0)
        keep = _rng(self).random(self._noise_shape(a.shape), dtype=np.float32) >= self.rate
        mask = keep.astype(a.dtype) * a.dtype.type(1.0 / (1.0 - self.rate))
        return _m.multiply(inputs, mask)

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "seed": self.seed})
        if self.data_format is not None:
            config["data_format"] = self.data_format
        return config


class SpatialDropout2D(_SpatialDropout):
    def __init__(self, rate, data_format=None, seed=None, **kwargs):
        super().__init__(rate, None, seed, **kwargs)
        self.data_format = _data_format(self.name, data_format)

    def _noise_shape(self, s):
        if len(s) != 4:
            raise ValueError(f"[{self.name}] expected a 4-D input, got shape {s}")
        return (s[0], s[1], 1, 1) if self.data_format == "channels_first" else (s[0], 1, 1, s[3])


class SpatialDropout3D(_SpatialDropout):
    def __init__(self, rate, data_format=None, seed=None, **kwargs):
        super().__init__(rate, None, seed, **kwargs)
        self.data_format = _data_format(self.name, data_format)

    def _noise_shape(self, s):
        if len(s) != 5:
            raise ValueError(f"[{self.name}] expected a 5-D input, got shape {s}")
        return (s[0], s[1], 1, 1, 1) if self.data_format == "channels_first" else \
            (s[0], 1, 1, 1, s[4])


class SpatialDropout1D(_SpatialDropout):
    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(rate, None, seed, **kwargs)

    def _noise_shape(self, s):
        if len(s) != 3:
            raise ValueError(f"[{self.name}] expected a 3-D input, got shape {s}")
        return (s[0], 1, s[2])


class GaussianNoise(Layer):
    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.stddev = float(stddev)
        self.seed = seed
        self._rng = np.random.default_rng(seed) if seed is not None else None

    def call(self, inputs, training=None):
        if not training or self.stddev == 0:
            return inputs
        a = inputs._data
        noise = _rng(self).standard_normal(a.shape).astype(a.dtype) * a.dtype.type(self.stddev)
        return _m.add(inputs, noise)

    def get_config(self):
        config = super().get_config()
        config.update({"stddev": self.stddev, "seed": self.seed})
        return config


class GaussianDropout(Layer):
    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = float(rate)
        self.seed = seed
        self._rng = np.random.default_rng(seed) if seed is not None else None

    def call(self, inputs, training=None):
        if not training or self.rate == 0:
            return inputs
        a = inputs._data
        std = np.sqrt(self.rate / (1.0 - self.rate))
        noise = (1.0 + _rng(self).standard_normal(a.shape) * std).astype(a.dtype)
        return _m.multiply(inputs, noise)

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "seed": self.seed})
        return config


class AlphaDropout(Layer):
    """Dropout for SELU networks (Keras 2): dropped units are set to SELU's negative
    saturation value, then an affine map a * x + b keeps the mean and variance. Training only;
    like Keras, rate outside (0, 1) leaves the inputs unchanged."""

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        rate = float(rate)
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"[{self.name}] AlphaDropout rate must be in [0, 1], got "
                             f"rate={rate}")
        self.rate = rate
        self.noise_shape = None if noise_shape is None else list(noise_shape)
        self.seed = seed
        self._rng = np.random.default_rng(seed) if seed is not None else None
        self.supports_masking = True

    def call(self, inputs, training=None):
        if not training or not 0.0 < self.rate < 1.0:
            return inputs
        a = inputs._data
        if self.noise_shape is None:
            shp = a.shape
        else:
            if len(self.noise_shape) != a.ndim:
                raise ValueError(f"[{self.name}] AlphaDropout noise_shape {self.noise_shape} "
                                 f"does not match the input of shape {tuple(a.shape)}")
            shp = tuple(a.shape[i] if d is None else int(d)
                        for i, d in enumerate(self.noise_shape))
        alpha = 1.6732632423543772848170429916717
        scale = 1.0507009873554804934193349852946
        alpha_p = -alpha * scale
        rate = self.rate
        kept = (_rng(self).random(shp) >= rate).astype(np.float64)
        aa = ((1 - rate) * (1 + rate * alpha_p ** 2)) ** -0.5
        b = -aa * alpha_p * rate
        # a * (x * kept + alpha_p * (1 - kept)) + b, as one multiply and one add
        mul = (aa * kept).astype(a.dtype)
        add = (aa * alpha_p * (1.0 - kept) + b).astype(a.dtype)
        return _m.add(_m.multiply(inputs, mul), add)

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "noise_shape": self.noise_shape, "seed": self.seed})
        return config


class ActivityRegularization(Layer):
    """Passes its input through and adds l1 * sum(|x|) + l2 * sum(x^2), divided by the batch
    size, to the model's losses (Keras's activity regularizer)."""

    def __init__(self, l1=0.0, l2=0.0, **kwargs):
        from ..regularizers import L1L2
        kwargs.pop("activity_regularizer", None)
        super().__init__(activity_regularizer=L1L2(l1=l1, l2=l2), **kwargs)
        self.l1 = float(l1)
        self.l2 = float(l2)
        self.supports_masking = True

    def call(self, inputs):
        return inputs

    def get_config(self):
        config = super().get_config()
        config.update({"l1": self.l1, "l2": self.l2})
        return config
