"""`tf.layers` (TF1 functional layers): variables via `get_variable` in a variable scope named
after the layer ("dense", "dense_1", ... or `name`), maths via the eager nabi ops.

batch_normalization follows TF1: its moving-statistics updates are ops added to
`tf.GraphKeys.UPDATE_OPS`; run them (e.g. `with tf.control_dependencies(
tf.get_collection(tf.GraphKeys.UPDATE_OPS)): train_op = opt.minimize(loss)`). They only change
the moving statistics on runs where `training` is true.
"""
from ... import dtypes as _dt
from ...ops import conv_ops as _C
from ...ops import nn_ops as _N
from ...ops import array_ops as _A
from ...framework.device import asarray as _asarray
from ...framework.tensor import _wrap
from .graph import GraphKeys, Tensor, apply_op, get_default_graph
from .variables import (get_variable, glorot_uniform_initializer, ones_initializer,
                        variable_scope, zeros_initializer)

__all__ = ["dense", "conv2d", "max_pooling2d", "average_pooling2d", "dropout", "flatten",
           "batch_normalization", "Dense", "Flatten", "Dropout"]


def _pair(v, n=2):
    if isinstance(v, int):
        return (v,) * n
    return tuple(int(a) for a in v)


def dense(inputs, units, activation=None, use_bias=True, kernel_initializer=None,
          bias_initializer=None, kernel_regularizer=None, bias_regularizer=None,
          activity_regularizer=None, kernel_constraint=None, bias_constraint=None, trainable=True,
          name=None, reuse=None):
    from . import ops
    shp = inputs.shape
    if shp.rank is None or shp[-1] is None:
        raise ValueError("[layers.dense] the last dimension of the inputs must be defined, got "
                         f"{inputs.shape}")
    with variable_scope(name, default_name="dense", reuse=reuse):
        kernel = get_variable("kernel", [shp[-1], units], dtype=inputs.dtype,
                              initializer=kernel_initializer or glorot_uniform_initializer(),
                              regularizer=kernel_regularizer, trainable=trainable)
        bias = get_variable("bias", [units], dtype=inputs.dtype,
                            initializer=bias_initializer or zeros_initializer(),
                            regularizer=bias_regularizer, trainable=trainable) if use_bias else None
        relu = _is_relu(activation)

        def fn(x, k, b):
            if x._data.ndim == 2:
                return _N.dense(x, k, b, activation="relu" if relu else None)
            y = _M_tensordot(x, k)
            if b is not None:
                y = _N.bias_add(y, b)
            return _N.relu(y) if relu else y
        y = apply_op("Dense", fn, (inputs, kernel, bias),
                     name="Tensordot" if shp.rank > 2 else "MatMul")
        return _apply_act(activation, y, relu)


def _is_relu(act):
    from . import nn
    return act is not None and (act is nn.relu or act is _N.relu or act == "relu")


def _apply_act(act, y, fused):
    if act is None or fused:
        return y
    if isinstance(act, str):
        from . import nn
        act = getattr(nn, act)
    return act(y)


def _M_tensordot(x, k):
    from ...ops import math_ops
    return math_ops.tensordot(x, k, 1)


def conv2d(inputs, filters, kernel_size, strides=(1, 1), padding="valid",
           data_format="channels_last", dilation_rate=(1, 1), activation=None, use_bias=True,
           kernel_initializer=None, bias_initializer=None, kernel_regularizer=None,
           bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
           bias_constraint=None, trainable=True, name=None, reuse=None):
    fmt = "NHWC" if data_format == "channels_last" else "NCHW"
    cin = inputs.shape[-1] if fmt == "NHWC" else inputs.shape[1]
    if cin is None:
        raise ValueError("[layers.conv2d] the channel dimension of the inputs must be defined")
    kh, kw = _pair(kernel_size)
    with variable_scope(name, default_name="conv2d", reuse=reuse):
        kernel = get_variable("kernel", [kh, kw, cin, filters], dtype=inputs.dtype,
                              initializer=kernel_initializer or glorot_uniform_initializer(),
                              regularizer=kernel_regularizer, trainable=trainable)
        bias = get_variable("bias", [filters], dtype=inputs.dtype,
                            initializer=bias_initializer or zeros_initializer(),
                            regularizer=bias_regularizer, trainable=trainable) if use_bias else None
        act = activation
        relu = _is_relu(act)
        st = _pair(strides)
        dl = _pair(dilation_rate)
        pad = padding.upper()

        def fn(x, k, b):
            return _C.conv2d_bias_activation(x, k, b, st, pad, fmt, dl,
                                             activation="relu" if relu else None)
        y = apply_op("Conv2D", fn, (inputs, kernel, bias), name="Conv2D")
        return _apply_act(act, y, relu)


def max_pooling2d(inputs, pool_size, strides, padding="valid", data_format="channels_last",
                  name=None):
    fmt = "NHWC" if data_format == "channels_last" else "NCHW"
    return apply_op("MaxPool", _C.max_pool2d, (inputs, _pair(pool_size), _pair(strides),
                                               padding.upper(), fmt),
                    name=(name + "/MaxPool") if name else "max_pooling2d/MaxPool")


def average_pooling2d(inputs, pool_size, strides, padding="valid", data_format="channels_last",
                      name=None):
    fmt = "NHWC" if data_format == "channels_last" else "NCHW"
    return apply_op("AvgPool", _C.avg_pool2d, (inputs, _pair(pool_size), _pair(strides),
                                               padding.upper(), fmt),
                    name=(name + "/AvgPool") if name else "average_pooling2d/AvgPool")


def _dropout_fn(x, rate, training, noise_shape, seed):
    t = bool(training._data) if hasattr(training, "_data") else bool(training)
    if not t:
        return x
    r = float(rate._data) if hasattr(rate, "_data") else float(rate)
    return _N.dropout(x, rate=r, noise_shape=noise_shape, seed=seed)


def dropout(inputs, rate=0.5, noise_shape=None, seed=None, training=False, name=None):
    """Drops with probability `rate` when `training` (a bool or a boolean placeholder) is true."""
    if not isinstance(training, Tensor) and not training:
        return inputs
    return apply_op("Dropout", _dropout_fn, (inputs, rate, training, noise_shape, seed),
                    name=(name + "/dropout") if name else "dropout",
                    probe_fn=lambda x, *a: x, shape_override=inputs.shape)


def flatten(inputs, name=None, data_format="channels_last"):
    def fn(x):
        return _A.reshape(x, [x._data.shape[0] if x._data.ndim else 1, -1])
    return apply_op("Reshape", fn, (inputs,), name=(name + "/Reshape") if name else "flatten/Reshape")


def batch_normalization(inputs, axis=-1, momentum=0.99, epsilon=0.001, center=True, scale=True,
                        beta_initializer=None, gamma_initializer=None,
                        moving_mean_initializer=None, moving_variance_initializer=None,
                        beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                        gamma_constraint=None, training=False, trainable=True, name=None,
                        reuse=None, renorm=False, renorm_clipping=None, renorm_momentum=0.99,
                        fused=None, virtual_batch_size=None, adjustment=None):
    from .variables import assign  # noqa: F401
    rank = inputs.shape.rank
    ax = axis % rank
    C = inputs.shape[ax]
    if C is None:
        raise ValueError("[layers.batch_normalization] the normalised axis must be defined")
    dt = inputs.dtype
    with variable_scope(name, default_name="batch_normalization", reuse=reuse):
        gamma = get_variable("gamma", [C], dt, gamma_initializer or ones_initializer(),
                             trainable=trainable) if scale else None
        beta = get_variable("beta", [C], dt, beta_initializer or zeros_initializer(),
                            trainable=trainable) if center else None
        mm = get_variable("moving_mean", [C], dt, moving_mean_initializer or zeros_initializer(),
                          trainable=False)
        mv = get_variable("moving_variance", [C], dt,
                          moving_variance_initializer or ones_initializer(), trainable=False)
        eps = float(epsilon)
        mom = float(momentum)

        def fn(x, g, b, m, v, tr):
            t = bool(tr._data) if hasattr(tr, "_data") else bool(tr)
            if t:
                y, bm, bv = _C.batch_norm_channels_last(x, g, b, eps, True, axis=ax)
                n = x._data.size // x._data.shape[ax]
                bv = bv * (n / max(n - 1, 1))   # TF's (fused) moving variance uses Bessel's correction
                return y, _wrap(_asarray(bm, x._data.dtype)), _wrap(_asarray(bv, x._data.dtype))
            y, _, _ = _C.batch_norm_channels_last(x, g, b, eps, False, m, v, axis=ax)
            return y, m, v
        y, bmean, bvar = apply_op("FusedBatchNorm", fn, (inputs, gamma, beta, mm, mv, training),
                                  name="FusedBatchNorm", num_outputs=3)
        y._shape = inputs.shape
        y._rank_unknown = inputs._rank_unknown
        if isinstance(training, Tensor) or training:
            for var, stat in ((mm, bmean), (mv, bvar)):
                def upd(v, s, tr):
                    t = bool(tr._data) if hasattr(tr, "_data") else bool(tr)
                    if t:
                        v._data[...] = v._data * mom + s._data * (1.0 - mom)
                    return v
                u = apply_op("AssignMovingAvg", upd, (var, stat, training), kind="stateful",
                             name="AssignMovingAvg", probe_fn=lambda v, s, tr: v)
                get_default_graph().add_to_collection(GraphKeys.UPDATE_OPS, u.op)
    return y


class _Layer:
    def __init__(self, **kwargs):
        self._kw = kwargs

    def apply(self, inputs, *a, **k):
        return self(inputs, *a, **k)


class Dense(_Layer):
    def __init__(self, units, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.units, self.activation = units, activation
        self._scope = None

    def __call__(self, inputs):
        name = self._kw.get("name")
        reuse = self._scope is not None
        kw = {k: v for k, v in self._kw.items() if k != "name"}
        out = dense(inputs, self.units, self.activation, name=self._scope or name, reuse=reuse or None,
                    **kw)
        if self._scope is None:
            self._scope = out.op.inputs[1].op.name.rsplit("/", 1)[0]
        return out


class Flatten(_Layer):
    def __call__(self, inputs):
        return flatten(inputs)


class Dropout(_Layer):
    def __init__(self, rate=0.5, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate, self.noise_shape, self.seed = rate, noise_shape, seed

    def __call__(self, inputs, training=False):
        return dropout(inputs, self.rate, self.noise_shape, self.seed, training)


_ = _dt
