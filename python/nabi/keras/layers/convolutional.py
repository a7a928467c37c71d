"""Convolution layers: Conv2D, Conv1D, Conv2DTranspose, ZeroPadding2D/1D, UpSampling2D/1D,
Cropping2D (Keras semantics; kernels (kh, kw, in, out) like Keras).

Conv2D runs one fused C++ call (conv + bias + ReLU) through nn.conv2d_bias_activation."""
import numpy as np

from ...framework.tensor import _wrap
from ...framework.tape import _tapes, record
from ...ops import array_ops as _array_ops
from ...ops import conv_ops as _conv
from ...ops._common import contiguous
from .. import backend
from .base import Layer, _serialize_obj
from .core import _activation_name, get_activation

__all__ = ["Conv2D", "Conv1D", "Conv2DTranspose", "Convolution2D", "Convolution1D",
           "ZeroPadding2D", "ZeroPadding1D", "UpSampling2D", "UpSampling1D", "Cropping2D"]


def _tuple(name, layer, value, n):
    if isinstance(value, (int, np.integer)):
        v = (int(value),) * n
    else:
        v = tuple(int(a) for a in value)
    if len(v) != n or any(a < 1 for a in v):
        raise ValueError(f"[{layer}] {name} must be a positive int or a tuple of {n} positive "
                         f"ints, got {value!r}")
    return v


def _data_format(layer, df):
    df = df or backend.image_data_format()
    if df not in ("channels_last", "channels_first"):
        raise ValueError(f"[{layer}] data_format must be 'channels_last' or 'channels_first', "
                         f"got {df!r}")
    return df


class _Conv(Layer):
    rank = 2

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        n = self.rank
        if filters is None or int(filters) <= 0:
            raise ValueError(f"[{self.name}] filters must be a positive integer, got {filters!r}")
        self.filters = int(filters)
        self.kernel_size = _tuple("kernel_size", self.name, kernel_size, n)
        self.strides = _tuple("strides", self.name, strides, n)
        self.dilation_rate = _tuple("dilation_rate", self.name, dilation_rate, n)
        p = str(padding).lower()
        allowed = ("valid", "same", "causal") if n == 1 else ("valid", "same")
        if p not in allowed:
            raise ValueError(f"[{self.name}] padding must be one of {allowed}, got {padding!r}")
        self.padding = p
        self.data_format = _data_format(self.name, data_format)
        if int(groups) != 1:
            raise ValueError(f"[{self.name}] groups != 1 is not supported yet")
        self.groups = 1
        self.activation, fused, self._activation_name = get_activation(activation)
        self._relu = fused == "relu"
        self._linear = fused == "linear"
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.kernel_regularizer = kernel_regularizer
        self.bias_regularizer = bias_regularizer
        self.kernel_constraint = kernel_constraint
        self.bias_constraint = bias_constraint

    def _channel_axis(self):
        return 1 if self.data_format == "channels_first" else -1

    def build(self, input_shape):
        shp = tuple(input_shape)
        if len(shp) != self.rank + 2:
            raise ValueError(f"[{self.name}] expected input of rank {self.rank + 2}, got shape "
                             f"{shp}")
        cin = shp[self._channel_axis()]
        if cin is None:
            raise ValueError(f"[{self.name}] the channel dimension of the inputs must be defined, "
                             f"got shape {shp}")
        self._in_channels = int(cin)
        self.kernel = self.add_weight("kernel", self._kernel_shape(), initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.bias = self.add_weight("bias", (self.filters,), initializer=self.bias_initializer,
                                    regularizer=self.bias_regularizer,
                                    constraint=self.bias_constraint) if self.use_bias else None
        self.built = True

    def _kernel_shape(self):
        return self.kernel_size + (self._in_channels, self.filters)

    def _post(self, y):
        if self._relu or self._linear:
            return y
        return self.activation(y)

    def get_config(self):
        config = super().get_config()
        config.update({
            "filters": self.filters, "kernel_size": self.kernel_size, "strides": self.strides,
            "padding": self.padding, "data_format": self.data_format,
            "dilation_rate": self.dilation_rate, "groups": self.groups,
            "activation": self._activation_name if isinstance(self._activation_name, str)
            else _activation_name(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": _serialize_obj(self.kernel_initializer, "initializers"),
            "bias_initializer": _serialize_obj(self.bias_initializer, "initializers"),
            "kernel_regularizer": _serialize_obj(self.kernel_regularizer, "regularizers"),
            "bias_regularizer": _serialize_obj(self.bias_regularizer, "regularizers"),
            "activity_regularizer": _serialize_obj(self.activity_regularizer, "regularizers"),
            "kernel_constraint": _serialize_obj(self.kernel_constraint, "constraints"),
            "bias_constraint": _serialize_obj(self.bias_constraint, "constraints"),
        })
        return config


class Conv2D(_Conv):
    """2-D convolution: `activation(conv2d(inputs, kernel) + bias)`."""
    rank = 2

    def call(self, inputs):
        fmt = "NCHW" if self.data_format == "channels_first" else "NHWC"
        y = _conv.conv2d_bias_activation(inputs, self.kernel, self.bias, self.strides,
                                         self.padding.upper(), fmt, self.dilation_rate,
                                         "relu" if self._relu else None)
        return self._post(y)


class Conv1D(_Conv):
    """1-D convolution over (batch, steps, channels); padding 'valid', 'same' or 'causal'."""
    rank = 1

    def call(self, inputs):
        cf = self.data_format == "channels_first"
        k = self.kernel_size[0]
        d = self.dilation_rate[0]
        if self.padding == "causal":
            padding = [[0, 0], [(k - 1) * d, 0]]
        else:
            padding = self.padding.upper()
        ax = 2 if cf else 1
        x4 = _array_ops.expand_dims(inputs, ax)
        w4 = _array_ops.expand_dims(self.kernel, 0)
        y = _conv.conv2d_bias_activation(x4, w4, self.bias, (1, self.strides[0]), padding,
                                         "NCHW" if cf else "NHWC", (1, d),
                                         "relu" if self._relu else None)
        return self._post(_array_ops.squeeze(y, [ax]))


class Conv2DTranspose(_Conv):
    """Transposed 2-D convolution; kernel (kh, kw, filters, in_channels) as Keras."""
    rank = 2

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None,
                 data_format=None, dilation_rate=1, **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate,
                         **kwargs)
        self.output_padding = None if output_padding is None else _tuple(
            "output_padding", self.name, output_padding, 2) if not isinstance(output_padding, int) \
            or output_padding > 0 else (0, 0)

    def _kernel_shape(self):
        return self.kernel_size + (self.filters, self._in_channels)

    def _out_len(self, n, i):
        k = (self.kernel_size[i] - 1) * self.dilation_rate[i] + 1
        s = self.strides[i]
        if self.output_padding is None:
            return n * s if self.padding == "same" else n * s + max(k - s, 0)
        pad = k // 2 if self.padding == "same" else 0
        return (n - 1) * s + k - 2 * pad + self.output_padding[i]

    def call(self, inputs):
        cf = self.data_format == "channels_first"
        shp = inputs._data.shape
        H, W = (shp[2], shp[3]) if cf else (shp[1], shp[2])
        oh, ow = self._out_len(H, 0), self._out_len(W, 1)
        out_shape = [shp[0], self.filters, oh, ow] if cf else [shp[0], oh, ow, self.filters]
        if self.padding == "same" or self.output_padding is None:
            padding = self.padding.upper()
        else:
            padding = "VALID"
        y = _conv.conv2d_transpose(inputs, self.kernel, out_shape, self.strides, padding,
                                   "NCHW" if cf else "NHWC", self.dilation_rate)
        if self.bias is not None:
            from ...ops.nn_ops import bias_add
            y = bias_add(y, self.bias, data_format="NCHW" if cf else "NHWC")
        return self.activation(y) if not self._linear else y

    def get_config(self):
        config = super().get_config()
        config["output_padding"] = self.output_padding
        return config


Convolution2D = Conv2D
Convolution1D = Conv1D


# ----------------------------------------------------------------------------- reshaping


def _pairs(layer, padding, n):
    if isinstance(padding, (int, np.integer)):
        return tuple((int(padding), int(padding)) for _ in range(n))
    out = []
    for p in padding:
        if isinstance(p, (int, np.integer)):
            out.append((int(p), int(p)))
        else:
            a, b = p
            out.append((int(a), int(b)))
    if len(out) != n or any(a < 0 or b < 0 for a, b in out):
        raise ValueError(f"[{layer}] padding/cropping must be an int, {n} ints or {n} pairs of "
                         f"non-negative ints, got {padding!r}")
    return tuple(out)


class ZeroPadding2D(Layer):
    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.padding = _pairs(self.name, padding, 2)
        self.data_format = _data_format(self.name, data_format)

    def call(self, inputs):
        p = [list(q) for q in self.padding]
        pads = [[0, 0], [0, 0]] + p if self.data_format == "channels_first" else \
            [[0, 0]] + p + [[0, 0]]
        return _array_ops.pad(inputs, pads)

    def get_config(self):
        config = super().get_config()
        config.update({"padding": self.padding, "data_format": self.data_format})
        return config


class ZeroPadding1D(Layer):
    def __init__(self, padding=1, **kwargs):
        super().__init__(**kwargs)
        self.padding = _pairs(self.name, [padding] if isinstance(padding, (int, np.integer))
                              else [padding], 1)[0]

    def call(self, inputs):
        return _array_ops.pad(inputs, [[0, 0], list(self.padding), [0, 0]])

    def get_config(self):
        config = super().get_config()
        config["padding"] = self.padding
        return config


def _repeat_op(x, sizes, axes):
    """Nearest-neighbour upsampling by integer factors along `axes` (recorded)."""
    a = x._data
    y = a
    for s, ax in zip(sizes, axes):
        y = np.repeat(y, s, axis=ax)
    out = _wrap(y)
    if _tapes:
        def backward(g, needs):
            shp = []
            red = []
            for i, d in enumerate(a.shape):
                if i in axes:
                    s = sizes[axes.index(i)]
                    shp.extend([d, s])
                    red.append(len(shp) - 1)
                else:
                    shp.append(d)
            return (g.reshape(shp).sum(axis=tuple(red)),)
        record((x,), out, backward)
    return out


class UpSampling2D(Layer):
    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        self.size = _tuple("size", self.name, size, 2)
        self.data_format = _data_format(self.name, data_format)
        if interpolation != "nearest":
            raise ValueError(f"[{self.name}] only interpolation='nearest' is supported, got "
                             f"{interpolation!r}")
        self.interpolation = interpolation

    def call(self, inputs):
        axes = [2, 3] if self.data_format == "channels_first" else [1, 2]
        return _repeat_op(inputs, list(self.size), axes)

    def get_config(self):
        config = super().get_config()
        config.update({"size": self.size, "data_format": self.data_format,
                       "interpolation": self.interpolation})
        return config


class UpSampling1D(Layer):
    def __init__(self, size=2, **kwargs):
        super().__init__(**kwargs)
        self.size = int(size)

    def call(self, inputs):
        return _repeat_op(inputs, [self.size], [1])

    def get_config(self):
        config = super().get_config()
        config["size"] = self.size
        return config


class Cropping2D(Layer):
    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.cropping = _pairs(self.name, cropping, 2)
        self.data_format = _data_format(self.name, data_format)

    def call(self, inputs):
        a = inputs._data
        (t, b), (l, r) = self.cropping
        hs = 2 if self.data_format == "channels_first" else 1
        H, W = a.shape[hs], a.shape[hs + 1]
        if t + b >= H or l + r >= W:
            raise ValueError(f"[{self.name}] cropping {self.cropping} leaves nothing of input "
                             f"shape {a.shape}")
        sl = [slice(None)] * a.ndim
        sl[hs] = slice(t, H - b)
        sl[hs + 1] = slice(l, W - r)
        sl = tuple(sl)
        out = _wrap(contiguous(a[sl]))
        if _tapes:
            def backward(g, needs):
                d = np.zeros_like(g, shape=a.shape)
                d[sl] = g
                return (d,)
            record((inputs,), out, backward)
        return out

    def get_config(self):
        config = super().get_config()
        config.update({"cropping": self.cropping, "data_format": self.data_format})
        return config
