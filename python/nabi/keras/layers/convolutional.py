"""Convolution layers: Conv2D, Conv1D (both with groups), Conv2DTranspose, Conv1DTranspose,
DepthwiseConv2D/1D, SeparableConv2D/1D, ZeroPadding2D/1D, UpSampling2D/1D, Cropping2D (Keras
semantics; kernels (kh, kw, in, out), depthwise kernels (kh, kw, in, depth_multiplier) and
pointwise kernels (1, 1, in * depth_multiplier, filters) like Keras).

Conv2D runs one fused C++ call (conv + bias + ReLU) through nn.conv2d_bias_activation, and
Conv2DTranspose/Conv1DTranspose likewise through conv2d_transpose_bias_activation; the
depthwise layers (and Conv2D with groups == input channels) run nn.depthwise_conv2d."""
import numpy as np

from ...framework.tensor import _wrap
from ...framework.tape import _tapes, record
from ...ops import array_ops as _array_ops
from ...ops import conv_ops as _conv
from ...ops._common import contiguous
from .. import backend
from .base import Layer, _serialize_obj
from .core import _activation_name, get_activation

__all__ = ["Conv2D", "Conv1D", "Conv2DTranspose", "Conv1DTranspose", "Convolution2D",
           "Convolution1D", "Convolution2DTranspose", "Convolution1DTranspose", "DepthwiseConv2D",
           "DepthwiseConv1D", "SeparableConv2D", "SeparableConv1D", "SeparableConvolution2D",
           "SeparableConvolution1D", "ZeroPadding2D", "ZeroPadding1D", "UpSampling2D", "UpSampling1D", "Cropping2D"]


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


def _output_padding(layer, value, strides):
    """Keras's output_padding of a transposed conv: None, or an int / tuple of len(strides)
    non-negative ints, each smaller than its stride."""
    if value is None:
        return None
    n = len(strides)
    op = (value,) * n if isinstance(value, (int, np.integer)) else value
    try:
        op = tuple(int(a) for a in op)
    except (TypeError, ValueError):
        op = ()
    if len(op) != n or any(a < 0 for a in op):
        raise ValueError(f"[{layer.name}] output_padding must be a non-negative int or a tuple "
                         f"of {n} non-negative ints. Received: output_padding={value!r}")
    if any(a >= s for a, s in zip(op, strides)):
        raise ValueError(f"[{layer.name}] strides {tuple(strides)} must be greater than output "
                         f"padding. Received: output_padding={op}")
    return op


class _Conv(Layer):
    rank = 2
    _supports_groups = False

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
        if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
            raise ValueError(f"[{self.name}] groups must be a positive integer, got {groups!r}")
        self.groups = int(groups)
        if self.groups != 1 and not self._supports_groups:
            raise ValueError(f"[{self.name}] groups != 1 is not supported by "
                             f"{type(self).__name__}, got groups={groups}")
        if self.filters % self.groups:
            raise ValueError(f"[{self.name}] filters ({self.filters}) must be divisible by "
                             f"groups ({self.groups})")
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
        if self._in_channels % self.groups:
            raise ValueError(f"[{self.name}] the number of input channels ({cin}) must be "
                             f"divisible by groups ({self.groups}); input shape {shp}")
        self.kernel = self.add_weight("kernel", self._kernel_shape(), initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.bias = self.add_weight("bias", (self.filters,), initializer=self.bias_initializer,
                                    regularizer=self.bias_regularizer,
                                    constraint=self.bias_constraint) if self.use_bias else None
        self.built = True

    def _kernel_shape(self):
        return self.kernel_size + (self._in_channels // self.groups, self.filters)

    def _grouped(self, x4, w4, strides, padding, fmt, dilations):
        """act(grouped conv2d + bias) of 4-D x4 with the (KH, KW, C/g, F) kernel w4: the
        depthwise op when every group has one input channel, else g conv2d calls."""
        from ...ops.nn_ops import bias_add
        C, F, g = self._in_channels, self.filters, self.groups
        cax = 1 if fmt == "NCHW" else 3
        if g == C:
            kh, kw = w4.shape[0], w4.shape[1]
            wd = _array_ops.reshape(w4, (kh, kw, C, F // C))  # output channel c*M + m
            y = _conv.depthwise_conv2d(x4, wd, strides, padding, fmt, dilations)
        else:
            xs = _array_ops.split(x4, g, axis=cax)
            ws = _array_ops.split(w4, g, axis=3)
            y = _array_ops.concat([_conv.conv2d(a, b, strides, padding, fmt, dilations)
                                   for a, b in zip(xs, ws)], axis=cax)
        if self.bias is not None:
            y = bias_add(y, self.bias, data_format=fmt)
        return y if self._linear else self.activation(y)

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
    """2-D convolution: `activation(conv2d(inputs, kernel) + bias)`; with groups = g the
    input channels are cut into g groups, each convolved to filters / g output channels."""
    rank = 2
    _supports_groups = True

    def call(self, inputs):
        fmt = "NCHW" if self.data_format == "channels_first" else "NHWC"
        if self.groups != 1:
            return self._grouped(inputs, self.kernel, self.strides, self.padding.upper(), fmt,
                                 self.dilation_rate)
        y = _conv.conv2d_bias_activation(inputs, self.kernel, self.bias, self.strides,
                                         self.padding.upper(), fmt, self.dilation_rate,
                                         "relu" if self._relu else None)
        return self._post(y)


class Conv1D(_Conv):
    """1-D convolution over (batch, steps, channels); padding 'valid', 'same' or 'causal'."""
    rank = 1
    _supports_groups = True

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
        if self.groups != 1:
            y = self._grouped(x4, w4, (1, self.strides[0]), padding, "NCHW" if cf else "NHWC",
                              (1, d))
            return _array_ops.squeeze(y, [ax])
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
        self.output_padding = _output_padding(self, output_padding, self.strides)

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
        # one kernel call: transposed conv + bias (+ ReLU), no extra pass over the output
        y = _conv.conv2d_transpose_bias_activation(
            inputs, self.kernel, out_shape, self.strides, self.bias, padding,
            "NCHW" if cf else "NHWC", self.dilation_rate, "relu" if self._relu else None)
        return self._post(y)

    def get_config(self):
        config = super().get_config()
        config["output_padding"] = self.output_padding
        if config.get("groups") == 1:
            del config["groups"]   # Keras 3's transposed convolutions refuse the argument
        return config


class Conv1DTranspose(Conv2DTranspose):
    """Transposed 1-D convolution over (batch, steps, channels); kernel (kw, filters,
    in_channels) as Keras. Runs conv2d_transpose on an inserted axis of length 1."""
    rank = 1

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None,
                 data_format=None, dilation_rate=1, **kwargs):
        _Conv.__init__(self, filters, kernel_size, strides, padding, data_format, dilation_rate,
                       **kwargs)
        if self.padding == "causal":
            raise ValueError(f"[{self.name}] padding must be 'valid' or 'same', got 'causal'")
        self.output_padding = _output_padding(self, output_padding, self.strides)

    def call(self, inputs):
        cf = self.data_format == "channels_first"
        shp = inputs._data.shape
        ol = self._out_len(shp[2] if cf else shp[1], 0)
        ax = 2 if cf else 1
        out_shape = [shp[0], self.filters, 1, ol] if cf else [shp[0], 1, ol, self.filters]
        if self.padding == "same" or self.output_padding is None:
            padding = self.padding.upper()
        else:
            padding = "VALID"
        fmt = "NCHW" if cf else "NHWC"
        y = _conv.conv2d_transpose_bias_activation(
            _array_ops.expand_dims(inputs, ax), _array_ops.expand_dims(self.kernel, 0),
            out_shape, (1, self.strides[0]), self.bias, padding, fmt,
            (1, self.dilation_rate[0]), "relu" if self._relu else None)
        return self._post(_array_ops.squeeze(y, [ax]))


class _DepthwiseConv(Layer):
    """Depthwise convolution of rank 1 or 2: each input channel convolved with its own
    depth_multiplier filters (output channel c * depth_multiplier + m), + bias, activation."""
    rank = 2
    _padding_modes = ("valid", "same")

    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1,
                 data_format=None, dilation_rate=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, bias_constraint=None, **kwargs):
        # Keras 2 configs of these layers carry Conv's keys (groups, kernel_*): ignored.
        for k in ("filters", "kernel_initializer", "kernel_regularizer", "kernel_constraint"):
            kwargs.pop(k, None)
        groups = kwargs.pop("groups", 1)
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        if groups not in (1, None):
            raise ValueError(f"[{self.name}] groups must be 1, got {groups!r}")
        n = self.rank
        self.kernel_size = _tuple("kernel_size", self.name, kernel_size, n)
        self.strides = _tuple("strides", self.name, strides, n)
        self.dilation_rate = _tuple("dilation_rate", self.name, dilation_rate, n)
        if isinstance(depth_multiplier, bool) or not isinstance(
                depth_multiplier, (int, np.integer)) or depth_multiplier < 1:
            raise ValueError(f"[{self.name}] depth_multiplier must be a positive integer, got "
                             f"{depth_multiplier!r}")
        self.depth_multiplier = int(depth_multiplier)
        p = str(padding).lower()
        allowed = ("valid", "same", "causal") if n == 1 else ("valid", "same")
        if p not in allowed:
            raise ValueError(f"[{self.name}] padding must be one of {allowed}, got {padding!r}")
        self.padding = p
        self.data_format = _data_format(self.name, data_format)
        self.activation, fused, self._activation_name = get_activation(activation)
        self._linear = fused == "linear"
        self.use_bias = bool(use_bias)
        self.depthwise_initializer = depthwise_initializer
        self.bias_initializer = bias_initializer
        self.depthwise_regularizer = depthwise_regularizer
        self.bias_regularizer = bias_regularizer
        self.depthwise_constraint = depthwise_constraint
        self.bias_constraint = bias_constraint

    def _in_channels_of(self, input_shape):
        shp = tuple(input_shape)
        if len(shp) != self.rank + 2:
            raise ValueError(f"[{self.name}] expected input of rank {self.rank + 2}, got shape "
                             f"{shp}")
        cin = shp[1 if self.data_format == "channels_first" else -1]
        if cin is None:
            raise ValueError(f"[{self.name}] the channel dimension of the inputs must be defined, "
                             f"got shape {shp}")
        return int(cin)

    def _out_channels(self):
        return self._in_channels * self.depth_multiplier

    def build(self, input_shape):
        self._in_channels = self._in_channels_of(input_shape)
        self.depthwise_kernel = self.add_weight(
            "depthwise_kernel", self.kernel_size + (self._in_channels, self.depth_multiplier),
            initializer=self.depthwise_initializer, regularizer=self.depthwise_regularizer,
            constraint=self.depthwise_constraint)
        self._build_pointwise()
        self.bias = self.add_weight("bias", (self._out_channels(),),
                                    initializer=self.bias_initializer,
                                    regularizer=self.bias_regularizer,
                                    constraint=self.bias_constraint) if self.use_bias else None
        self.built = True

    def _build_pointwise(self):
        pass

    def _padding_arg(self):
        if self.padding == "causal":
            return [[0, 0], [(self.kernel_size[0] - 1) * self.dilation_rate[0], 0]]
        return self.padding.upper()

    def _conv(self, x4, dk4, strides, dilations, fmt):
        return _conv.depthwise_conv2d(x4, dk4, strides, self._padding_arg(), fmt, dilations)

    def call(self, inputs):
        cf = self.data_format == "channels_first"
        fmt = "NCHW" if cf else "NHWC"
        if self.rank == 2:
            y = self._conv(inputs, self.depthwise_kernel, self.strides, self.dilation_rate, fmt)
        else:
            ax = 2 if cf else 1
            y = self._conv(_array_ops.expand_dims(inputs, ax),
                           _array_ops.expand_dims(self.depthwise_kernel, 0),
                           (1, self.strides[0]), (1, self.dilation_rate[0]), fmt)
            y = _array_ops.squeeze(y, [ax])
        if self.bias is not None:
            from ...ops.nn_ops import bias_add
            y = bias_add(y, self.bias, data_format="NC" if cf else None)
        return y if self._linear else self.activation(y)

    def get_config(self):
        config = super().get_config()
        config.update({
            "kernel_size": self.kernel_size, "strides": self.strides, "padding": self.padding,
            "depth_multiplier": self.depth_multiplier, "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "activation": self._activation_name if isinstance(self._activation_name, str)
            else _activation_name(self.activation),
            "use_bias": self.use_bias,
            "depthwise_initializer": _serialize_obj(self.depthwise_initializer, "initializers"),
            "bias_initializer": _serialize_obj(self.bias_initializer, "initializers"),
            "depthwise_regularizer": _serialize_obj(self.depthwise_regularizer, "regularizers"),
            "bias_regularizer": _serialize_obj(self.bias_regularizer, "regularizers"),
            "activity_regularizer": _serialize_obj(self.activity_regularizer, "regularizers"),
            "depthwise_constraint": _serialize_obj(self.depthwise_constraint, "constraints"),
            "bias_constraint": _serialize_obj(self.bias_constraint, "constraints"),
        })
        return config


class DepthwiseConv2D(_DepthwiseConv):
    """Depthwise 2-D convolution; depthwise_kernel (kh, kw, in_channels, depth_multiplier)."""
    rank = 2


class DepthwiseConv1D(_DepthwiseConv):
    """Depthwise 1-D convolution; depthwise_kernel (kw, in_channels, depth_multiplier); padding
    'valid', 'same' or 'causal'."""
    rank = 1


class _SeparableConv(_DepthwiseConv):
    """Depthwise convolution followed by a pointwise (1x1) convolution to `filters` channels,
    + bias, activation."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, depth_multiplier=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None,
                 pointwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, pointwise_constraint=None, bias_constraint=None,
                 **kwargs):
        super().__init__(kernel_size, strides, padding, depth_multiplier, data_format,
                         dilation_rate, activation, use_bias, depthwise_initializer,
                         bias_initializer, depthwise_regularizer, bias_regularizer,
                         activity_regularizer, depthwise_constraint, bias_constraint, **kwargs)
        if filters is None or isinstance(filters, bool) or int(filters) <= 0:
            raise ValueError(f"[{self.name}] filters must be a positive integer, got {filters!r}")
        self.filters = int(filters)
        self.pointwise_initializer = pointwise_initializer
        self.pointwise_regularizer = pointwise_regularizer
        self.pointwise_constraint = pointwise_constraint

    def _out_channels(self):
        return self.filters

    def _build_pointwise(self):
        self.pointwise_kernel = self.add_weight(
            "pointwise_kernel",
            (1,) * self.rank + (self._in_channels * self.depth_multiplier, self.filters),
            initializer=self.pointwise_initializer, regularizer=self.pointwise_regularizer,
            constraint=self.pointwise_constraint)

    def _conv(self, x4, dk4, strides, dilations, fmt):
        pk = self.pointwise_kernel
        if self.rank == 1:
            pk = _array_ops.expand_dims(pk, 0)
        return _conv.separable_conv2d(x4, dk4, pk, strides, self._padding_arg(), fmt, dilations)

    def get_config(self):
        config = super().get_config()
        config.update({
            "filters": self.filters,
            "pointwise_initializer": _serialize_obj(self.pointwise_initializer, "initializers"),
            "pointwise_regularizer": _serialize_obj(self.pointwise_regularizer, "regularizers"),
            "pointwise_constraint": _serialize_obj(self.pointwise_constraint, "constraints"),
        })
        return config


class SeparableConv2D(_SeparableConv):
    """Separable 2-D convolution: depthwise_kernel (kh, kw, in, depth_multiplier), then
    pointwise_kernel (1, 1, in * depth_multiplier, filters)."""
    rank = 2


class SeparableConv1D(_SeparableConv):
    """Separable 1-D convolution: depthwise_kernel (kw, in, depth_multiplier), then
    pointwise_kernel (1, in * depth_multiplier, filters); padding 'valid', 'same' or 'causal'."""
    rank = 1


Convolution2D = Conv2D
Convolution1D = Conv1D
Convolution2DTranspose = Conv2DTranspose
Convolution1DTranspose = Conv1DTranspose
SeparableConvolution2D = SeparableConv2D
SeparableConvolution1D = SeparableConv1D


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
    _autocast_ints = False  # integer inputs keep their dtype, as in Keras

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
    _autocast_ints = False  # integer inputs keep their dtype, as in Keras

    def __init__(self, padding=1, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.padding = _pairs(self.name, [padding] if isinstance(padding, (int, np.integer))
                              else [padding], 1)[0]
        # Keras 3: (batch, steps, features), or (batch, features, steps) for channels_first
        self.data_format = _data_format(self.name, data_format)

    def call(self, inputs):
        if self.data_format == "channels_first":
            return _array_ops.pad(inputs, [[0, 0], [0, 0], list(self.padding)])
        return _array_ops.pad(inputs, [[0, 0], list(self.padding), [0, 0]])

    def get_config(self):
        config = super().get_config()
        config.update({"padding": self.padding, "data_format": self.data_format})
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

        def backward_t(g, needs):  # the same sum, with recorded ops (second order)
            from ...ops.math_ops import reduce_sum
            shp, red = [], []
            for i, d in enumerate(a.shape):
                shp.extend([d, sizes[axes.index(i)]] if i in axes else [d])
                if i in axes:
                    red.append(len(shp) - 1)
            return (reduce_sum(_array_ops.reshape(g, shp), tuple(red)),)
        record((x,), out, backward, backward_t, "upsampling")
    return out


_UPSAMPLING_METHODS = ("nearest", "bilinear", "bicubic", "area", "gaussian", "lanczos3",
                       "lanczos5", "mitchellcubic")


class UpSampling2D(Layer):
    _autocast_ints = False  # integer inputs keep their dtype, as in Keras

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        self.size = _tuple("size", self.name, size, 2)
        self.data_format = _data_format(self.name, data_format)
        if interpolation not in _UPSAMPLING_METHODS:
            raise ValueError(f"[{self.name}] interpolation must be one of "
                             f"{list(_UPSAMPLING_METHODS)}, got {interpolation!r}")
        self.interpolation = interpolation

    def call(self, inputs):
        axes = [2, 3] if self.data_format == "channels_first" else [1, 2]
        if self.interpolation == "nearest":
            return _repeat_op(inputs, list(self.size), axes)
        # Keras: tf.image.resize to (H * size[0], W * size[1]) with half-pixel centres; the
        # output is float (the layer's dtype), differentiable through the resize matrices
        from ... import image as _image
        x = inputs
        if self.data_format == "channels_first":
            x = _array_ops.transpose(x, (0, 2, 3, 1))
        shp = x._data.shape
        if len(shp) != 4:
            raise ValueError(f"[{self.name}] expected a 4-D input (batch, rows, cols, "
                             f"channels), got shape {tuple(shp)}")
        y = _image.resize(x, (shp[1] * self.size[0], shp[2] * self.size[1]),
                          method=self.interpolation)
        if y._data.dtype != self._np_dtype:
            from ...ops.math_ops import cast
            y = cast(y, self.dtype)
        if self.data_format == "channels_first":
            y = _array_ops.transpose(y, (0, 3, 1, 2))
        return y

    def get_config(self):
        config = super().get_config()
        config.update({"size": self.size, "data_format": self.data_format,
                       "interpolation": self.interpolation})
        return config


class UpSampling1D(Layer):
    _autocast_ints = False  # integer inputs keep their dtype, as in Keras

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
    _autocast_ints = False  # integer inputs keep their dtype, as in Keras

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
            pads = [[0, 0]] * a.ndim
            pads[hs], pads[hs + 1] = [t, b], [l, r]
            record((inputs,), out, backward,
                   lambda g, needs: (_array_ops.pad(g, pads),), "cropping2d")
        return out

    def get_config(self):
        config = super().get_config()
        config.update({"cropping": self.cropping, "data_format": self.data_format})
        return config


# ----------------------------------------------------------------------------- 3-D convolution
# Conv3D / Conv3DTranspose share _Conv's arguments, weights and config; they run the composed
# ops of ops/conv3d_ops.py (conv3d via one conv2d over the depth taps stacked on channels).

from ...ops import conv3d_ops as _conv3d  # noqa: E402


def _check_in_channels(layer, inputs, rank):
    shp = tuple(inputs._data.shape)
    if len(shp) != rank + 2:
        raise ValueError(f"[{layer.name}] expected input of rank {rank + 2}, got shape {shp}")
    cax = 1 if layer.data_format == "channels_first" else -1
    if shp[cax] != layer._in_channels:
        raise ValueError(f"[{layer.name}] expected axis {cax} of the input to have value "
                         f"{layer._in_channels} (the layer was built for it), but received input "
                         f"with shape {shp}")


class Conv3D(_Conv):
    """3-D convolution over (batch, depth, height, width, channels): activation(conv3d(inputs,
    kernel) + bias); kernel (kd, kh, kw, in_channels / groups, filters) as Keras. With groups
    = g the input channels are cut into g groups, each convolved to filters / g channels."""
    rank = 3
    _supports_groups = True

    def call(self, inputs):
        from ...ops.nn_ops import bias_add
        _check_in_channels(self, inputs, 3)
        cf = self.data_format == "channels_first"
        fmt = "NCDHW" if cf else "NDHWC"
        pad = self.padding.upper()
        if self.groups == 1:
            y = _conv3d.conv3d(inputs, self.kernel, self.strides, pad, fmt, self.dilation_rate)
        else:
            cax = 1 if cf else 4
            xs = _array_ops.split(inputs, self.groups, axis=cax)
            ws = _array_ops.split(self.kernel, self.groups, axis=4)
            y = _array_ops.concat([_conv3d.conv3d(a, b, self.strides, pad, fmt,
                                                  self.dilation_rate)
                                   for a, b in zip(xs, ws)], axis=cax)
        if self.bias is not None:
            y = bias_add(y, self.bias, data_format=fmt)
        return y if self._linear else self.activation(y)


class Conv3DTranspose(Conv2DTranspose):
    """Transposed 3-D convolution; kernel (kd, kh, kw, filters, in_channels) as Keras. Output
    length per axis: n * s ('same') or n * s + max(k - s, 0) ('valid', k the dilated kernel);
    with output_padding p: (n - 1) * s + k - 2 * pad + p."""
    rank = 3

    def __init__(self, filters, kernel_size, strides=(1, 1, 1), padding="valid",
                 output_padding=None, data_format=None, dilation_rate=(1, 1, 1), **kwargs):
        _Conv.__init__(self, filters, kernel_size, strides, padding, data_format, dilation_rate,
                       **kwargs)
        self.output_padding = _output_padding(self, output_padding, self.strides)

    def call(self, inputs):
        from ...ops.nn_ops import bias_add
        _check_in_channels(self, inputs, 3)
        cf = self.data_format == "channels_first"
        shp = inputs._data.shape
        sizes = shp[2:5] if cf else shp[1:4]
        out = [self._out_len(n, i) for i, n in enumerate(sizes)]
        out_shape = [shp[0], self.filters] + out if cf else [shp[0]] + out + [self.filters]
        if self.padding == "same" or self.output_padding is None:
            padding = self.padding.upper()
        else:
            padding = "VALID"
        fmt = "NCDHW" if cf else "NDHWC"
        y = _conv3d.conv3d_transpose(inputs, self.kernel, out_shape, self.strides, padding, fmt,
                                     self.dilation_rate)
        if self.bias is not None:
            y = bias_add(y, self.bias, data_format=fmt)
        return y if self._linear else self.activation(y)


Convolution3D = Conv3D
Convolution3DTranspose = Conv3DTranspose
__all__ += ["Conv3D", "Conv3DTranspose", "Convolution3D", "Convolution3DTranspose"]
