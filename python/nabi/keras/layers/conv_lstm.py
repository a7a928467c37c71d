"""ConvLSTM1D / ConvLSTM2D / ConvLSTM3D (Keras 3 semantics): an LSTM whose input and
recurrent transforms are convolutions (Shi et al. 2015), over (batch, time, *spatial, channels).

Per timestep t, with * a convolution (the input one with the layer's strides, padding and
dilation; the recurrent one 'same' with stride 1), kernels split in the Keras gate order
i, f, c, o along their last axis:

    z = x_t * kernel + bias + h * recurrent_kernel
    i = rec_act(z_i);  f = rec_act(z_f);  o = rec_act(z_o)
    c = f c + i act(z_c);  h = o act(c)

Algorithm: the input convolution of every timestep runs as ONE call on the (batch * time)
images, then a Python loop over time runs the recurrent convolution and the gates, all
with nabi ops, so it differentiates (through the tape) and runs on every device. Dropout
masks (one per gate, as Keras draws them) are fixed over the sequence; with input dropout the
input convolution runs once per gate.
Weights: kernel (*k, C, 4F), recurrent_kernel (*k, F, 4F), bias (4F,) -- Keras's shapes and
order, so .h5/.keras files carry over. recurrent_activation defaults to 'sigmoid' as in
Keras 3 (Keras 2's default 'hard_sigmoid' was 0.2 x + 0.5, not Keras 3's relu6(x + 3) / 6;
Keras 2 configs name it explicitly). Not supported: stateful=True, masks, initial_state in
a functional (symbolic) call.
"""
import numpy as np

from ...framework.tensor import Tensor, _wrap
from ...framework.device import place
from ...ops import array_ops as _array_ops
from ...ops import conv3d_ops as _conv
from .base import Layer, _serialize_obj
from .convolutional import _data_format, _tuple
from .recurrent import _act, _dropout_mask, _init_value, _initializer, _is_training

__all__ = ["ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"]


def _conv_out(n, k, s, d, padding):
    if n is None:
        return None
    if padding == "same":
        return -(-n // s)
    return (n - (k - 1) * d - 1) // s + 1


class _ConvLSTM(Layer):
    rank = 2

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, activation="tanh", recurrent_activation="sigmoid",
                 use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, return_sequences=False,
                 return_state=False, go_backwards=False, stateful=False, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, **kwargs):
        kwargs.pop("unroll", None)
        kwargs.pop("zero_output_for_mask", None)   # Keras 3 configs; nabi's ConvLSTM has no masks
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        n = self.rank
        if filters is None or isinstance(filters, bool) or int(filters) <= 0:
            raise ValueError(f"[{self.name}] filters must be a positive integer, got {filters!r}")
        self.filters = int(filters)
        self.kernel_size = _tuple("kernel_size", self.name, kernel_size, n)
        self.strides = _tuple("strides", self.name, strides, n)
        self.dilation_rate = _tuple("dilation_rate", self.name, dilation_rate, n)
        if any(s > 1 for s in self.strides) and any(d > 1 for d in self.dilation_rate):
            raise ValueError(f"[{self.name}] strides > 1 are not compatible with "
                             f"dilation_rate > 1; got strides={self.strides}, "
                             f"dilation_rate={self.dilation_rate}")
        p = str(padding).lower()
        if p not in ("valid", "same"):
            raise ValueError(f"[{self.name}] padding must be 'valid' or 'same', got {padding!r}")
        self.padding = p
        self.data_format = _data_format(self.name, data_format)
        self.activation, self._act_ser = _act(activation)
        self.recurrent_activation, self._rec_ser = _act(recurrent_activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.recurrent_initializer = recurrent_initializer
        self.bias_initializer = bias_initializer
        self.unit_forget_bias = bool(unit_forget_bias)
        self.kernel_regularizer = kernel_regularizer
        self.recurrent_regularizer = recurrent_regularizer
        self.bias_regularizer = bias_regularizer
        self.kernel_constraint = kernel_constraint
        self.recurrent_constraint = recurrent_constraint
        self.bias_constraint = bias_constraint
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        if stateful:
            raise NotImplementedError(f"[{self.name}] stateful=True is not supported by "
                                      f"{type(self).__name__} in nabi")
        self.stateful = False
        self.dropout = min(1.0, max(0.0, float(dropout)))
        self.recurrent_dropout = min(1.0, max(0.0, float(recurrent_dropout)))
        self.seed = seed

    # -- shapes ----------------------------------------------------------------------------
    def _check_shape(self, shp):
        if len(shp) != self.rank + 3:
            raise ValueError(f"[{self.name}] expected input of rank {self.rank + 3} (batch, "
                             f"time, {', '.join(['...'] * self.rank)}, channels), got shape "
                             f"{tuple(shp)}")

    def _spatial_in(self, shp):
        return tuple(shp[3:]) if self.data_format == "channels_first" else tuple(shp[2:-1])

    def _channels_in(self, shp):
        return shp[2] if self.data_format == "channels_first" else shp[-1]

    def _spatial_out(self, spatial):
        return tuple(_conv_out(n, k, s, d, self.padding) for n, k, s, d in
                     zip(spatial, self.kernel_size, self.strides, self.dilation_rate))

    def build(self, input_shape):
        if isinstance(input_shape, list) and input_shape and \
                not isinstance(input_shape[0], (int, type(None))):
            input_shape = input_shape[0]
        shp = tuple(input_shape)
        self._check_shape(shp)
        cin = self._channels_in(shp)
        if cin is None:
            raise ValueError(f"[{self.name}] the channel dimension of the inputs must be defined, "
                             f"got shape {shp}")
        F = self.filters
        self.kernel = self.add_weight("kernel", self.kernel_size + (int(cin), 4 * F),
                                      initializer=_initializer(self.kernel_initializer),
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.recurrent_kernel = self.add_weight(
            "recurrent_kernel", self.kernel_size + (F, 4 * F),
            initializer=_initializer(self.recurrent_initializer),
            regularizer=self.recurrent_regularizer, constraint=self.recurrent_constraint)
        if self.use_bias:
            base = _initializer(self.bias_initializer)

            def forget_one(shape, dtype=None):     # Keras's unit_forget_bias
                return np.concatenate([_init_value(base, (F,), dtype), np.ones(F),
                                       _init_value(base, (2 * F,), dtype)])
            init = forget_one if self.unit_forget_bias else base
            self.bias = self.add_weight("bias", (4 * F,), initializer=init,
                                        regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint)
        else:
            self.bias = None
        self.built = True

    def compute_output_shape(self, input_shape):
        shp = tuple(input_shape)
        self._check_shape(shp)
        sp = self._spatial_out(self._spatial_in(shp))
        F = self.filters
        step = (F,) + sp if self.data_format == "channels_first" else sp + (F,)
        out = (shp[0], shp[1]) + step if self.return_sequences else (shp[0],) + step
        if self.return_state:
            st = (shp[0],) + step
            return [out, st, st]
        return out

    # -- call ------------------------------------------------------------------------------
    def _conv(self, x, w, strides, padding, dilations):
        return _conv.convolution(x, w, strides, padding, None, dilations)

    def call(self, inputs, training=None, initial_state=None, mask=None):
        x = inputs if isinstance(inputs, Tensor) else _wrap(place(np.asarray(inputs)))
        shp = tuple(x._data.shape)
        self._check_shape(shp)
        n = self.rank
        cf = self.data_format == "channels_first"
        if cf:   # compute channels-last: (B, T, C, *S) -> (B, T, *S, C)
            x = _array_ops.transpose(x, (0, 1) + tuple(range(3, 3 + n)) + (2,))
        B, T = int(x._data.shape[0]), int(x._data.shape[1])
        S, C = tuple(x._data.shape[2:-1]), int(x._data.shape[-1])
        if C != int(self.kernel._data.shape[-2]):
            raise ValueError(f"[{self.name}] expected {int(self.kernel._data.shape[-2])} input "
                             f"channels, got input shape {shp}")
        F = self.filters
        So = self._spatial_out(S)
        if any(s <= 0 for s in So):
            raise ValueError(f"[{self.name}] input spatial size {S} is too small for kernel "
                             f"{self.kernel_size} with padding '{self.padding}'")
        train = _is_training(training)
        dt = x._data.dtype
        pad = self.padding.upper()
        # input convolution of every timestep at once
        xs = _array_ops.reshape(x, (B * T,) + S + (C,))
        if train and self.dropout > 0:
            zs = []
            kernels = _array_ops.split(self.kernel, 4, axis=-1)
            for g in range(4):
                m = _dropout_mask((B, 1) + S + (C,), self.dropout, dt, x._data)
                xg = _array_ops.reshape(x * m, (B * T,) + S + (C,))
                zs.append(self._conv(xg, kernels[g], self.strides, pad, self.dilation_rate))
            zx = _array_ops.concat(zs, axis=-1)
        else:
            zx = self._conv(xs, self.kernel, self.strides, pad, self.dilation_rate)
        if self.bias is not None:
            zx = zx + self.bias
        zx = _array_ops.reshape(zx, (B, T) + So + (4 * F,))
        # states
        if initial_state is not None:
            init = list(initial_state) if isinstance(initial_state, (list, tuple)) \
                else [initial_state]
            if len(init) != 2:
                raise ValueError(f"[{self.name}] initial_state must be [h, c], got "
                                 f"{len(init)} tensor(s)")
            h, c = [s if isinstance(s, Tensor) else _wrap(place(np.asarray(s, dt)))
                    for s in init]
            if cf:
                perm = (0,) + tuple(range(2, 2 + n)) + (1,)
                h, c = _array_ops.transpose(h, perm), _array_ops.transpose(c, perm)
            want = (B,) + So + (F,)
            for s in (h, c):
                if tuple(s._data.shape) != want:
                    raise ValueError(f"[{self.name}] initial state must have shape {want} "
                                     f"(channels last), got {tuple(s._data.shape)}")
        else:
            h = _wrap(place(np.zeros((B,) + So + (F,), dt)))
            c = h
        rmasks = None
        if train and self.recurrent_dropout > 0:
            rmasks = [_dropout_mask((B,) + So + (F,), self.recurrent_dropout, dt, x._data)
                      for _ in range(4)]
            rkernels = _array_ops.split(self.recurrent_kernel, 4, axis=-1)
        ones = (1,) * n
        steps = range(T - 1, -1, -1) if self.go_backwards else range(T)
        outs = []
        for t in steps:
            if rmasks is None:
                zh = self._conv(h, self.recurrent_kernel, ones, "SAME", ones)
            else:
                zh = _array_ops.concat([self._conv(h * rmasks[g], rkernels[g], ones, "SAME",
                                                   ones) for g in range(4)], axis=-1)
            z = zx[:, t] + zh
            zi, zf, zc, zo = _array_ops.split(z, 4, axis=-1)
            i = self.recurrent_activation(zi)
            f = self.recurrent_activation(zf)
            c = f * c + i * self.activation(zc)
            o = self.recurrent_activation(zo)
            h = o * self.activation(c)
            if self.return_sequences:
                outs.append(h)
        y = _array_ops.stack(outs, axis=1) if self.return_sequences else h
        if cf:
            back = (0,) + (1 + n,) + tuple(range(1, 1 + n))
            h_out, c_out = _array_ops.transpose(h, back), _array_ops.transpose(c, back)
            if self.return_sequences:
                y = _array_ops.transpose(y, (0, 1, 2 + n) + tuple(range(2, 2 + n)))
            else:
                y = h_out
        else:
            h_out, c_out = h, c
        if self.return_state:
            return [y, h_out, c_out]
        return y

    def get_config(self):
        cfg = super().get_config()
        cfg.update({
            "filters": self.filters, "kernel_size": self.kernel_size, "strides": self.strides,
            "padding": self.padding, "data_format": self.data_format,
            "dilation_rate": self.dilation_rate, "activation": self._act_ser,
            "recurrent_activation": self._rec_ser, "use_bias": self.use_bias,
            "kernel_initializer": _serialize_obj(self.kernel_initializer, "initializers"),
            "recurrent_initializer": _serialize_obj(self.recurrent_initializer, "initializers"),
            "bias_initializer": _serialize_obj(self.bias_initializer, "initializers"),
            "unit_forget_bias": self.unit_forget_bias,
            "kernel_regularizer": _serialize_obj(self.kernel_regularizer, "regularizers"),
            "recurrent_regularizer": _serialize_obj(self.recurrent_regularizer, "regularizers"),
            "bias_regularizer": _serialize_obj(self.bias_regularizer, "regularizers"),
            "activity_regularizer": _serialize_obj(self.activity_regularizer, "regularizers"),
            "kernel_constraint": _serialize_obj(self.kernel_constraint, "constraints"),
            "recurrent_constraint": _serialize_obj(self.recurrent_constraint, "constraints"),
            "bias_constraint": _serialize_obj(self.bias_constraint, "constraints"),
            "return_sequences": self.return_sequences, "return_state": self.return_state,
            "go_backwards": self.go_backwards, "stateful": self.stateful,
            "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed})
        return cfg


class ConvLSTM1D(_ConvLSTM):
    """ConvLSTM over (batch, time, steps, channels)."""
    rank = 1


class ConvLSTM2D(_ConvLSTM):
    """ConvLSTM over (batch, time, rows, cols, channels), e.g. next-frame prediction."""
    rank = 2


class ConvLSTM3D(_ConvLSTM):
    """ConvLSTM over (batch, time, depth, rows, cols, channels)."""
    rank = 3
