"""Pooling layers (Keras semantics): MaxPooling2D/1D, AveragePooling2D/1D and the global
poolings. 2-D pooling runs the NHWC C++ kernels (argmax kept for the backward pass)."""
from ...ops import array_ops as _array_ops
from ...ops import conv_ops as _conv
from ...ops import math_ops as _math_ops
from .base import Layer
from .convolutional import _data_format, _tuple

__all__ = ["MaxPooling2D", "AveragePooling2D", "MaxPooling1D", "AveragePooling1D",
           "GlobalAveragePooling2D", "GlobalMaxPooling2D", "GlobalAveragePooling1D",
           "GlobalMaxPooling1D", "MaxPool2D", "AvgPool2D", "MaxPool1D", "AvgPool1D",
           "GlobalAvgPool2D", "GlobalMaxPool2D", "GlobalAvgPool1D", "GlobalMaxPool1D"]


class _Pool(Layer):
    rank = 2
    _fn = None

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        n = self.rank
        self.pool_size = _tuple("pool_size", self.name, pool_size, n)
        self.strides = self.pool_size if strides is None else _tuple("strides", self.name,
                                                                     strides, n)
        p = str(padding).lower()
        if p not in ("valid", "same"):
            raise ValueError(f"[{self.name}] padding must be 'valid' or 'same', got {padding!r}")
        self.padding = p
        self.data_format = _data_format(self.name, data_format)

    def call(self, inputs):
        cf = self.data_format == "channels_first"
        if inputs._data.ndim != self.rank + 2:
            raise ValueError(f"[{self.name}] expected input of rank {self.rank + 2}, got shape "
                             f"{tuple(inputs._data.shape)}")
        if self.rank == 2:
            return type(self)._fn(inputs, self.pool_size, self.strides, self.padding.upper(),
                                  "NCHW" if cf else "NHWC")
        return type(self)._fn(inputs, self.pool_size[0], self.strides[0], self.padding.upper(),
                              "NCW" if cf else "NWC")

    def get_config(self):
        config = super().get_config()
        config.update({"pool_size": self.pool_size, "strides": self.strides,
                       "padding": self.padding, "data_format": self.data_format})
        return config


class MaxPooling2D(_Pool):
    rank = 2
    _fn = staticmethod(_conv.max_pool2d)

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kw):
        super().__init__(pool_size, strides, padding, data_format, **kw)


class AveragePooling2D(_Pool):
    rank = 2
    _fn = staticmethod(_conv.avg_pool2d)

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kw):
        super().__init__(pool_size, strides, padding, data_format, **kw)


class MaxPooling1D(_Pool):
    rank = 1
    _fn = staticmethod(_conv.max_pool1d)

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format="channels_last",
                 **kw):
        super().__init__(pool_size, strides, padding, data_format, **kw)


class AveragePooling1D(_Pool):
    rank = 1
    _fn = staticmethod(_conv.avg_pool1d)

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format="channels_last",
                 **kw):
        super().__init__(pool_size, strides, padding, data_format, **kw)


class _GlobalPool(Layer):
    rank = 2
    _max = False

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = _data_format(self.name, data_format)
        self.keepdims = bool(keepdims)

    def call(self, inputs):
        if inputs._data.ndim != self.rank + 2:
            raise ValueError(f"[{self.name}] expected input of rank {self.rank + 2}, got shape "
                             f"{tuple(inputs._data.shape)}")
        cf = self.data_format == "channels_first"
        axes = list(range(2, 2 + self.rank)) if cf else list(range(1, 1 + self.rank))
        fn = _math_ops.reduce_max if self._max else _math_ops.reduce_mean
        return fn(inputs, axis=axes, keepdims=self.keepdims)

    def get_config(self):
        config = super().get_config()
        config.update({"data_format": self.data_format, "keepdims": self.keepdims})
        return config


class GlobalAveragePooling2D(_GlobalPool):
    rank, _max = 2, False


class GlobalMaxPooling2D(_GlobalPool):
    rank, _max = 2, True


class GlobalAveragePooling1D(_GlobalPool):
    rank, _max = 1, False

    def __init__(self, data_format="channels_last", keepdims=False, **kwargs):
        super().__init__(data_format, keepdims, **kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is None:
            return super().call(inputs)
        # Keras: the mean over the valid (unmasked) steps only.
        from ...framework.device import asarray as _asarray
        from ...framework.tensor import _wrap
        m = _asarray(mask._data if hasattr(mask, "_data") else mask).astype(inputs._data.dtype)
        cf = self.data_format == "channels_first"
        steps = 2 if cf else 1
        m = m[:, None, :] if cf else m[:, :, None]
        total = _math_ops.reduce_sum(_math_ops.multiply(inputs, _wrap(m)), axis=steps,
                                     keepdims=self.keepdims)
        cnt = m.sum(axis=steps, keepdims=self.keepdims)
        return _math_ops.divide(total, _wrap(cnt))

    def compute_mask(self, inputs, mask=None):
        return None


class GlobalMaxPooling1D(_GlobalPool):
    rank, _max = 1, True

    def __init__(self, data_format="channels_last", keepdims=False, **kwargs):
        super().__init__(data_format, keepdims, **kwargs)


MaxPool2D, AvgPool2D, MaxPool1D, AvgPool1D = (MaxPooling2D, AveragePooling2D, MaxPooling1D,
                                              AveragePooling1D)
GlobalAvgPool2D, GlobalMaxPool2D = GlobalAveragePooling2D, GlobalMaxPooling2D
GlobalAvgPool1D, GlobalMaxPool1D = GlobalAveragePooling1D, GlobalMaxPooling1D
_ = _array_ops


# ----------------------------------------------------------------------------- 3-D pooling
# Run ops/conv3d_ops.py's max_pool3d / avg_pool3d (the 2-D pool over H, W, then depth).

from ...ops import conv3d_ops as _conv3d  # noqa: E402


class _Pool3D(_Pool):
    rank = 3

    def __init__(self, pool_size=(2, 2, 2), strides=None, padding="valid", data_format=None,
                 **kw):
        super().__init__(pool_size, strides, padding, data_format, **kw)

    def call(self, inputs):
        if inputs._data.ndim != 5:
            raise ValueError(f"[{self.name}] expected input of rank 5, got shape "
                             f"{tuple(inputs._data.shape)}")
        fmt = "NCDHW" if self.data_format == "channels_first" else "NDHWC"
        return type(self)._fn(inputs, self.pool_size, self.strides, self.padding.upper(), fmt)


class MaxPooling3D(_Pool3D):
    """3-D max pooling over (depth, height, width) windows."""
    _fn = staticmethod(_conv3d.max_pool3d)


class AveragePooling3D(_Pool3D):
    """3-D average pooling; 'same' windows average their valid (unpadded) elements only."""
    _fn = staticmethod(_conv3d.avg_pool3d)


class GlobalAveragePooling3D(_GlobalPool):
    rank, _max = 3, False


class GlobalMaxPooling3D(_GlobalPool):
    rank, _max = 3, True


MaxPool3D, AvgPool3D = MaxPooling3D, AveragePooling3D
GlobalAvgPool3D, GlobalMaxPool3D = GlobalAveragePooling3D, GlobalMaxPooling3D
__all__ += ["MaxPooling3D", "AveragePooling3D", "GlobalAveragePooling3D", "GlobalMaxPooling3D",
            "MaxPool3D", "AvgPool3D", "GlobalAvgPool3D", "GlobalMaxPool3D"]


# ----------------------------------------------------------------------------- adaptive pooling

class _AdaptivePool(Layer):
    """Keras 3's adaptive pooling: bins from keras.ops.nn._adaptive_pool_windows (bin i covers
    [floor(i L / out), ceil((i + 1) L / out)) on each spatial axis), so the output has
    `output_size` whatever the input size."""
    rank = 2
    _max = False

    def __init__(self, output_size, data_format=None, **kwargs):
        n = self.rank
        if isinstance(output_size, int):
            output_size = (output_size,) * n
        elif isinstance(output_size, (tuple, list)):
            if len(output_size) != n:   # Keras 3.15: ValueError in 1D, TypeError in 2D / 3D
                err = ValueError if n == 1 else TypeError
                raise err(f"[{type(self).__name__}] For {n}D input, `output_size` tuple must "
                          f"have length {n}. Received: {output_size}")
            output_size = tuple(int(v) for v in output_size)
        else:
            raise TypeError(f"[{type(self).__name__}] `output_size` must be an integer or tuple "
                            f"of {n} integers. Received: {output_size} of type "
                            f"{type(output_size)}")
        super().__init__(**kwargs)
        self.output_size = output_size
        self.data_format = _data_format(self.name, data_format)

    def call(self, inputs):
        if inputs._data.ndim != self.rank + 2:
            raise ValueError(f"[{self.name}] expected input of rank {self.rank + 2}, got shape "
                             f"{tuple(inputs._data.shape)}")
        from ..ops import nn as _kops_nn
        fn = _kops_nn.adaptive_max_pool if self._max else _kops_nn.adaptive_average_pool
        return fn(inputs, self.output_size, self.data_format)

    def compute_output_shape(self, input_shape):
        s = tuple(input_shape)
        if self.data_format == "channels_last":
            return (s[0], *self.output_size, s[-1])
        return (s[0], s[1], *self.output_size)

    def get_config(self):
        config = super().get_config()
        config.update({"output_size": self.output_size, "data_format": self.data_format})
        return config


class AdaptiveAveragePooling1D(_AdaptivePool):
    rank, _max = 1, False


class AdaptiveAveragePooling2D(_AdaptivePool):
    rank, _max = 2, False


class AdaptiveAveragePooling3D(_AdaptivePool):
    rank, _max = 3, False


class AdaptiveMaxPooling1D(_AdaptivePool):
    rank, _max = 1, True


class AdaptiveMaxPooling2D(_AdaptivePool):
    rank, _max = 2, True


class AdaptiveMaxPooling3D(_AdaptivePool):
    rank, _max = 3, True


__all__ += ["AdaptiveAveragePooling1D", "AdaptiveAveragePooling2D", "AdaptiveAveragePooling3D",
            "AdaptiveMaxPooling1D", "AdaptiveMaxPooling2D", "AdaptiveMaxPooling3D"]
