"""BatchNormalization (C++ kernel, channels last internally) and LayerNormalization."""
import numpy as np

from ...ops import conv_ops as _conv
from ...ops import math_ops as _m
from ...ops import nn_ops as _nn
from .base import Layer, _serialize_obj

__all__ = ["BatchNormalization", "LayerNormalization"]


class BatchNormalization(Layer):
    """Batch statistics while training (and updating the moving statistics:
    moving = moving * momentum + batch * (1 - momentum), biased variance as Keras 3), moving
    statistics at inference. Weights: gamma, beta, moving_mean, moving_variance."""

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, synchronized=False, **kwargs):
        kwargs.pop("fused", None)
        kwargs.pop("renorm", None)
        kwargs.pop("virtual_batch_size", None)
        kwargs.pop("adjustment", None)
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)):
            if len(axis) != 1:
                raise ValueError(f"[{self.name}] only one normalisation axis is supported, got "
                                 f"{axis}")
            axis = axis[0]
        self.axis = int(axis)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = beta_initializer
        self.gamma_initializer = gamma_initializer
        self.moving_mean_initializer = moving_mean_initializer
        self.moving_variance_initializer = moving_variance_initializer
        self.beta_regularizer = beta_regularizer
        self.gamma_regularizer = gamma_regularizer
        self.beta_constraint = beta_constraint
        self.gamma_constraint = gamma_constraint
        self.supports_masking = True

    def build(self, input_shape):
        shp = tuple(input_shape)
        ax = self.axis % len(shp) if len(shp) else 0
        C = shp[ax] if shp else None
        if C is None:
            raise ValueError(f"[{self.name}] axis {self.axis} of input shape {shp} must be "
                             "defined")
        C = int(C)
        self._ax = ax
        self.gamma = self.add_weight("gamma", (C,), initializer=self.gamma_initializer,
                                     regularizer=self.gamma_regularizer,
                                     constraint=self.gamma_constraint) if self.scale else None
        self.beta = self.add_weight("beta", (C,), initializer=self.beta_initializer,
                                    regularizer=self.beta_regularizer,
                                    constraint=self.beta_constraint) if self.center else None
        self.moving_mean = self.add_weight("moving_mean", (C,),
                                           initializer=self.moving_mean_initializer,
                                           trainable=False)
        self.moving_variance = self.add_weight("moving_variance", (C,),
                                               initializer=self.moving_variance_initializer,
                                               trainable=False)
        self.built = True

    def call(self, inputs, training=None):
        nd = inputs._data.ndim
        ax = self.axis % nd
        if training and self.trainable:
            y, mean, var = _conv.batch_norm_channels_last(inputs, self.gamma, self.beta,
                                                          self.epsilon, True, axis=ax)
            mm, mv = self.moving_mean._data, self.moving_variance._data
            m = mm.dtype.type(self.momentum)
            mm *= m
            mm += (1 - m) * mean.astype(mm.dtype, copy=False)
            mv *= m
            mv += (1 - m) * var.astype(mv.dtype, copy=False)
            return y
        y, _, _ = _conv.batch_norm_channels_last(inputs, self.gamma, self.beta, self.epsilon,
                                                 False, self.moving_mean._data,
                                                 self.moving_variance._data, axis=ax)
        return y

    def get_config(self):
        config = super().get_config()
        s = _serialize_obj
        config.update({
            "axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
            "center": self.center, "scale": self.scale,
            "beta_initializer": s(self.beta_initializer, "initializers"),
            "gamma_initializer": s(self.gamma_initializer, "initializers"),
            "moving_mean_initializer": s(self.moving_mean_initializer, "initializers"),
            "moving_variance_initializer": s(self.moving_variance_initializer, "initializers"),
            "beta_regularizer": s(self.beta_regularizer, "regularizers"),
            "gamma_regularizer": s(self.gamma_regularizer, "regularizers"),
            "beta_constraint": s(self.beta_constraint, "constraints"),
            "gamma_constraint": s(self.gamma_constraint, "constraints"),
        })
        return config


class LayerNormalization(Layer):
    """Normalises over `axis` (default the last) per sample: (x - mean) / sqrt(var + eps)."""

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None,
                 beta_constraint=None, gamma_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.axis = list(axis) if isinstance(axis, (list, tuple)) else [int(axis)]
        self.epsilon = float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer, self.gamma_initializer = beta_initializer, gamma_initializer
        self.beta_regularizer, self.gamma_regularizer = beta_regularizer, gamma_regularizer
        self.beta_constraint, self.gamma_constraint = beta_constraint, gamma_constraint

    def build(self, input_shape):
        shp = tuple(input_shape)
        axes = sorted(a % len(shp) for a in self.axis)
        pshape = tuple(int(shp[a]) for a in axes)
        self._axes = axes
        self.gamma = self.add_weight("gamma", pshape, initializer=self.gamma_initializer,
                                     regularizer=self.gamma_regularizer,
                                     constraint=self.gamma_constraint) if self.scale else None
        self.beta = self.add_weight("beta", pshape, initializer=self.beta_initializer,
                                    regularizer=self.beta_regularizer,
                                    constraint=self.beta_constraint) if self.center else None
        self.built = True

    def call(self, inputs):
        nd = inputs._data.ndim
        axes = self._axes
        mean, var = _nn.moments(inputs, axes, keepdims=True)
        y = _m.multiply(_m.subtract(inputs, mean), _m.rsqrt(_m.add(var, self.epsilon)))
        bshape = [inputs._data.shape[a] if a in axes else 1 for a in range(nd)]
        from ...ops.array_ops import reshape
        if self.gamma is not None:
            y = _m.multiply(y, reshape(self.gamma, bshape))
        if self.beta is not None:
            y = _m.add(y, reshape(self.beta, bshape))
        return y

    def get_config(self):
        config = super().get_config()
        s = _serialize_obj
        config.update({"axis": self.axis, "epsilon": self.epsilon, "center": self.center,
                       "scale": self.scale,
                       "beta_initializer": s(self.beta_initializer, "initializers"),
                       "gamma_initializer": s(self.gamma_initializer, "initializers"),
                       "beta_regularizer": s(self.beta_regularizer, "regularizers"),
                       "gamma_regularizer": s(self.gamma_regularizer, "regularizers"),
                       "beta_constraint": s(self.beta_constraint, "constraints"),
                       "gamma_constraint": s(self.gamma_constraint, "constraints")})
        return config


_ = np
