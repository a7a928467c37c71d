"""BatchNormalization (C++ kernel, channels last internally) and LayerNormalization."""
import numpy as np

from ...ops import array_ops as _a
from ...ops import conv_ops as _conv
from ...ops import math_ops as _m
from ...ops import nn_ops as _nn
from .base import Layer, _pop_inert_options, _serialize_obj

__all__ = ["BatchNormalization", "LayerNormalization", "GroupNormalization", "UnitNormalization",
           "RMSNormalization"]


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
        # Keras 2 options that change the statistics: accepted at their defaults only (ignoring
        # them would train a different model without a word)
        for opt, default in (("renorm", False), ("virtual_batch_size", None),
                             ("adjustment", None)):
            val = kwargs.pop(opt, default)
            if val is not default and val != default:
                raise NotImplementedError(
                    f"[BatchNormalization] {opt}={val!r} is not supported by nabi (only "
                    f"{opt}={default!r})")
        kwargs.pop("renorm_clipping", None)
        kwargs.pop("renorm_momentum", None)
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

    def call(self, inputs, training=None, mask=None):
        nd = inputs._data.ndim
        ax = self.axis % nd
        if mask is not None and len(mask.shape) != nd - 1:
            raise ValueError(f"[{self.name}] the mask must have one dimension less than the "
                             f"inputs, got mask shape {tuple(mask.shape)} and inputs shape "
                             f"{tuple(inputs.shape)}")
        if training and self.trainable and mask is not None:
            y, mean, var = self._masked_batch_norm(inputs, mask, ax)
        elif training and self.trainable:
            y, mean, var = _conv.batch_norm_channels_last(inputs, self.gamma, self.beta,
                                                          self.epsilon, True, axis=ax)
        if training and self.trainable:
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

    def _masked_batch_norm(self, x, mask, ax):
        """Keras 3: while training, the batch moments count only the unmasked positions (the
        mask, of the inputs' shape less the last axis, broadcast over that axis):
        mean = sum(m x) / (sum m + 1e-7), var = sum(m (x - mean)^2) / (sum m + 1e-7), biased;
        every position is then normalised with them. Composed of ops, so gradients flow."""
        nd = x._data.ndim
        red = tuple(a for a in range(nd) if a != ax)
        m = _a.broadcast_to(_a.expand_dims(_m.cast(mask, x.dtype), -1), tuple(x.shape))
        count = _m.add(_m.reduce_sum(m, red, keepdims=True), 1e-7)
        mean = _m.divide(_m.reduce_sum(_m.multiply(x, m), red, keepdims=True), count)
        dev = _m.multiply(_m.subtract(x, mean), m)
        var = _m.divide(_m.reduce_sum(_m.multiply(dev, dev), red, keepdims=True), count)
        y = _m.multiply(_m.subtract(x, mean), _m.rsqrt(_m.add(var, self.epsilon)))
        bshape = [x._data.shape[a] if a == ax else 1 for a in range(nd)]
        if self.gamma is not None:
            y = _m.multiply(y, _a.reshape(self.gamma, bshape))
        if self.beta is not None:
            y = _m.add(y, _a.reshape(self.beta, bshape))
        return y, _a.reshape(mean, (-1,))._data, _a.reshape(var, (-1,))._data

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
        _pop_inert_options("LayerNormalization", kwargs, rms_scaling=False)  # deprecated
        super().__init__(**kwargs)
        self.axis = list(axis) if isinstance(axis, (list, tuple)) else [int(axis)]
        self.epsilon = float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer, self.gamma_initializer = beta_initializer, gamma_initializer
        self.beta_regularizer, self.gamma_regularizer = beta_regularizer, gamma_regularizer
        self.beta_constraint, self.gamma_constraint = beta_constraint, gamma_constraint
        self.supports_masking = True   # as Keras 2: the mask passes through

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


class GroupNormalization(Layer):
    """Normalises each sample over groups of channels (Keras 2.11+): the `axis` channels split
    into `groups` groups; mean and variance over each group and all other non-batch axes;
    then per-channel gamma and beta. groups=-1 is instance normalisation, groups=1 layer norm
    over all axes."""

    def __init__(self, groups=32, axis=-1, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or \
                (groups <= 0 and groups != -1):
            raise ValueError(f"[{self.name}] GroupNormalization groups must be a positive integer "
                             f"(or -1), got groups={groups!r}")
        if isinstance(axis, (list, tuple)):
            if len(axis) != 1:
                raise ValueError(f"[{self.name}] GroupNormalization takes one axis, got "
                                 f"axis={axis!r}")
            axis = axis[0]
        self.groups = int(groups)
        self.axis = int(axis)
        self.epsilon = float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer, self.gamma_initializer = beta_initializer, gamma_initializer
        self.beta_regularizer, self.gamma_regularizer = beta_regularizer, gamma_regularizer
        self.beta_constraint, self.gamma_constraint = beta_constraint, gamma_constraint
        self.supports_masking = True

    def _axis_for(self, shp):
        r = len(shp)
        if not -r <= self.axis < r or self.axis % r == 0:
            raise ValueError(f"[{self.name}] GroupNormalization axis={self.axis} must be a "
                             f"non-batch axis of the input of shape {tuple(shp)}")
        return self.axis % r

    def build(self, input_shape):
        shp = tuple(input_shape)
        ax = self._axis_for(shp)
        dim = shp[ax]
        if dim is None:
            raise ValueError(f"[{self.name}] GroupNormalization axis {self.axis} of input shape "
                             f"{shp} must be defined")
        dim = int(dim)
        if self.groups == -1:
            self.groups = dim
        if dim < self.groups:
            raise ValueError(f"[{self.name}] Number of groups ({self.groups}) cannot be more than "
                             f"the number of channels ({dim}); input shape {shp}")
        if dim % self.groups != 0:
            raise ValueError(f"[{self.name}] Number of groups ({self.groups}) must divide the "
                             f"number of channels ({dim}); input shape {shp}")
        self._dim = dim
        self.gamma = self.add_weight("gamma", (dim,), initializer=self.gamma_initializer,
                                     regularizer=self.gamma_regularizer,
                                     constraint=self.gamma_constraint) if self.scale else None
        self.beta = self.add_weight("beta", (dim,), initializer=self.beta_initializer,
                                    regularizer=self.beta_regularizer,
                                    constraint=self.beta_constraint) if self.center else None
        self.built = True

    def call(self, inputs):
        from ...ops.array_ops import reshape
        shp = tuple(inputs._data.shape)
        ax = self._axis_for(shp)
        if shp[ax] != self._dim:
            raise ValueError(f"[{self.name}] GroupNormalization expected {self._dim} channels on "
                             f"axis {self.axis}, got input shape {shp}")
        g = self.groups
        grouped = shp[:ax] + (g, self._dim // g) + shp[ax + 1:]
        x = reshape(inputs, grouped)
        red = [i for i in range(1, len(grouped)) if i != ax]
        mean, var = _nn.moments(x, red, keepdims=True)
        y = reshape(_m.multiply(_m.subtract(x, mean), _m.rsqrt(_m.add(var, self.epsilon))), shp)
        bshape = [1] * len(shp)
        bshape[ax] = self._dim
        if self.gamma is not None:
            y = _m.multiply(y, reshape(self.gamma, bshape))
        if self.beta is not None:
            y = _m.add(y, reshape(self.beta, bshape))
        return y

    def get_config(self):
        config = super().get_config()
        s = _serialize_obj
        config.update({"groups": self.groups, "axis": self.axis, "epsilon": self.epsilon,
                       "center": self.center, "scale": self.scale,
                       "beta_initializer": s(self.beta_initializer, "initializers"),
                       "gamma_initializer": s(self.gamma_initializer, "initializers"),
                       "beta_regularizer": s(self.beta_regularizer, "regularizers"),
                       "gamma_regularizer": s(self.gamma_regularizer, "regularizers"),
                       "beta_constraint": s(self.beta_constraint, "constraints"),
                       "gamma_constraint": s(self.gamma_constraint, "constraints")})
        return config


class UnitNormalization(Layer):
    """Scales each sample to unit L2 norm over `axis`: x / sqrt(max(sum(x^2), 1e-12))."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)):
            axes = list(axis)
        else:
            axes = [axis]
        if not axes or any(isinstance(a, bool) or not isinstance(a, (int, np.integer))
                           for a in axes):
            raise TypeError(f"[{self.name}] UnitNormalization axis must be an int or a list of "
                            f"ints, got axis={axis!r}")
        self.axis = [int(a) for a in axes] if isinstance(axis, (list, tuple)) else int(axis)
        self.supports_masking = True

    def call(self, inputs):
        shp = tuple(inputs._data.shape)
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        if any(not -len(shp) <= a < len(shp) for a in axes):
            raise ValueError(f"[{self.name}] UnitNormalization axis={self.axis} is out of range "
                             f"for an input of shape {shp}")
        return _nn.normalize_l2(inputs, axis=[a % len(shp) for a in axes])

    def get_config(self):
        config = super().get_config()
        config["axis"] = self.axis
        return config


_ = np


class RMSNormalization(Layer):
    """Keras 3: x * rsqrt(mean(x^2 over `axis`) + epsilon) * scale, with a learned `scale`
    (ones) of the normalised axes' shape (Zhang & Sennrich 2019). No centring."""

    def __init__(self, axis=-1, epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        shp = tuple(input_shape)
        if isinstance(self.axis, (list, tuple)):
            self.axis = sorted(int(a) for a in self.axis)
            shape = tuple(int(shp[a]) for a in self.axis)
        else:
            shape = (int(shp[int(self.axis)]),)
            self.axis = [int(self.axis)]
        self.scale = self.add_weight("scale", shape, initializer="ones")
        self.built = True

    def call(self, inputs):
        from .. import ops as _kops
        return _kops.rms_normalization(inputs, scale=self.scale, axis=self.axis,
                                       epsilon=self.epsilon)

    def get_config(self):
        config = super().get_config()
        config.update({"axis": self.axis, "epsilon": self.epsilon})
        return config
