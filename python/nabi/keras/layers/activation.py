"""Activation layers (Keras "advanced activations"): ReLU, LeakyReLU, PReLU, ELU,
ThresholdedReLU, Softmax; and Rescaling.

Each layer is a few existing nabi ops (nabi.nn kernels, math and array ops), so the gradients
come from the tape and the layers run on whichever device holds their inputs.
"""
import numbers

import numpy as np

from ...framework.tensor import Tensor
from ...ops import array_ops as _a
from ...ops import math_ops as _m
from ...ops import nn_ops as _nn
from ...ops._common import operand_like
from .. import _logits_cache
from .base import InputSpec, KerasTensor, Layer, _serialize_obj

__all__ = ["ReLU", "LeakyReLU", "PReLU", "ELU", "ThresholdedReLU", "Softmax", "Rescaling"]

# Keras' `_large_negative_number` for float32/float64 (float16 would be -3e4; nabi's softmax
# takes float32 and float64 only).
_LARGE_NEGATIVE = -1e9


def _number(layer, what, value, allow_none=False, minimum=None):
    """`value` as a Python float, or a ValueError naming the layer and the argument."""
    if value is None:
        if allow_none:
            return None
        raise ValueError(f"[{layer.name}] {type(layer).__name__} {what} cannot be None, got "
                         f"{what}=None")
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.ndarray)) \
            or np.ndim(value) != 0:
        raise ValueError(f"[{layer.name}] {type(layer).__name__} {what} must be a number, got "
                         f"{what}={value!r}")
    v = float(value)
    if minimum is not None and not v >= minimum:
        raise ValueError(f"[{layer.name}] {type(layer).__name__} {what} cannot be negative, got "
                         f"{what}={v}")
    return v


class _Elementwise(Layer):
    """A layer whose output has its input's shape; masks pass through. `_check_shape` raises
    for input shapes the layer cannot take."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def _check_shape(self, shape):
        pass

    def _symbolic_call(self, inputs, args, kwargs):
        # The engine infers shapes by running on zeros with the unknown axes filled in; check
        # the real shape first so that errors show it.
        if isinstance(inputs, KerasTensor):
            self._check_shape(tuple(inputs.shape))
        return super()._symbolic_call(inputs, args, kwargs)

    def compute_output_shape(self, input_shape):
        if isinstance(input_shape, (list, tuple)) and input_shape and \
                isinstance(input_shape[0], (list, tuple)):
            raise ValueError(f"[{self.name}] {type(self).__name__} takes one input, got input "
                             f"shapes {input_shape}")
        shape = tuple(input_shape)
        self._check_shape(shape)
        return shape


# ----------------------------------------------------------------------------- ReLU family


class ReLU(_Elementwise):
    """Keras ReLU: f(x) = min(x, max_value) for x > threshold, negative_slope * (x - threshold)
    otherwise (so f(threshold) = 0, as in Keras' implementation)."""

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        self.max_value = _number(self, "max_value", max_value, allow_none=True, minimum=0.0)
        self.negative_slope = _number(self, "negative_slope", negative_slope, minimum=0.0)
        self.threshold = _number(self, "threshold", threshold, minimum=0.0)

    def call(self, inputs):
        from .. import activations
        return activations.relu(inputs, negative_slope=self.negative_slope,
                                max_value=self.max_value, threshold=self.threshold)

    def get_config(self):
        config = super().get_config()
        config.update({"max_value": self.max_value, "negative_slope": self.negative_slope,
                       "threshold": self.threshold})
        return config


class LeakyReLU(_Elementwise):
    """f(x) = x for x >= 0, alpha * x otherwise. `alpha` is tf.keras' name, `negative_slope`
    Keras 3's; the config uses `alpha`, which both Keras versions load."""

    def __init__(self, alpha=None, negative_slope=None, **kwargs):
        super().__init__(**kwargs)
        if alpha is not None and negative_slope is not None and \
                _number(self, "alpha", alpha) != _number(self, "negative_slope", negative_slope):
            raise ValueError(f"[{self.name}] LeakyReLU got both alpha={alpha} and "
                             f"negative_slope={negative_slope}; they name the same argument, "
                             "pass one")
        if alpha is None:
            alpha = 0.3 if negative_slope is None else negative_slope
            what = "negative_slope" if negative_slope is not None else "alpha"
        else:
            what = "alpha"
        self.alpha = _number(self, what, alpha, minimum=0.0)

    @property
    def negative_slope(self):
        return self.alpha

    def call(self, inputs):
        return _nn.leaky_relu(inputs, alpha=self.alpha)

    def get_config(self):
        config = super().get_config()
        config["alpha"] = self.alpha
        return config


class ELU(_Elementwise):
    """f(x) = x for x > 0, alpha * (exp(x) - 1) otherwise."""

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = _number(self, "alpha", alpha)

    def call(self, inputs):
        return _nn.elu(inputs, alpha=self.alpha)

    def get_config(self):
        config = super().get_config()
        config["alpha"] = self.alpha
        return config


class ThresholdedReLU(_Elementwise):
    """f(x) = x for x > theta, 0 otherwise."""

    def __init__(self, theta=1.0, **kwargs):
        super().__init__(**kwargs)
        self.theta = _number(self, "theta", theta, minimum=0.0)

    def call(self, inputs):
        keep = _m.cast(_m.greater(inputs, self.theta), inputs.dtype)
        return _m.multiply(inputs, keep)

    def get_config(self):
        config = super().get_config()
        config["theta"] = self.theta
        return config


class PReLU(_Elementwise):
    """f(x) = x for x > 0, alpha * x otherwise, with a learned `alpha` of shape input_shape[1:]
    (size 1 along `shared_axes`)."""

    def __init__(self, alpha_initializer="zeros", alpha_regularizer=None, alpha_constraint=None,
                 shared_axes=None, **kwargs):
        super().__init__(**kwargs)
        self.alpha_initializer = alpha_initializer
        self.alpha_regularizer = alpha_regularizer
        self.alpha_constraint = alpha_constraint
        if shared_axes is None:
            self.shared_axes = None
        else:
            axes = list(shared_axes) if isinstance(shared_axes, (list, tuple, np.ndarray)) \
                else [shared_axes]
            for ax in axes:
                if isinstance(ax, (bool, np.bool_)) or not isinstance(ax, numbers.Integral):
                    raise ValueError(f"[{self.name}] PReLU shared_axes must be integers, got "
                                     f"shared_axes={shared_axes!r}")
            self.shared_axes = [int(ax) for ax in axes]

    def _alpha_shape(self, shape):
        shape = tuple(shape)
        rank = len(shape)
        if rank < 2:
            raise ValueError(f"[{self.name}] PReLU needs an input of rank >= 2 (batch, ...), got "
                             f"shape {shape}")
        alpha_shape = list(shape[1:])
        for ax in self.shared_axes or ():
            if not 1 <= ax < rank:
                raise ValueError(f"[{self.name}] PReLU shared_axes must name input axes 1.."
                                 f"{rank - 1} (axis 0 is the batch), got shared_axes="
                                 f"{self.shared_axes} for input shape {shape}")
            alpha_shape[ax - 1] = 1
        if any(d is None for d in alpha_shape):
            raise ValueError(f"[{self.name}] PReLU needs every input axis except the batch and "
                             f"shared_axes to be defined, got input shape {shape} with "
                             f"shared_axes={self.shared_axes}")
        return tuple(int(d) for d in alpha_shape)

    def _check_shape(self, shape):
        self._alpha_shape(shape)

    def build(self, input_shape):
        shape = tuple(input_shape)
        alpha_shape = self._alpha_shape(shape)
        self.alpha = self.add_weight("alpha", alpha_shape, initializer=self.alpha_initializer,
                                     regularizer=self.alpha_regularizer,
                                     constraint=self.alpha_constraint)
        shared = set(self.shared_axes or ())
        # Shape checks happen in `call`; the spec is there for Keras' introspection.
        self.input_spec = InputSpec(ndim=len(shape), axes={i: shape[i] for i in
                                                           range(1, len(shape))
                                                           if i not in shared})
        self._built_shape = tuple(None if i == 0 or i in shared else d
                                  for i, d in enumerate(shape))
        self.built = True

    def call(self, inputs):
        shape = tuple(inputs._data.shape)
        alpha_shape = tuple(self.alpha._data.shape)
        if len(shape) != len(alpha_shape) + 1 or any(
                a != 1 and a != d for a, d in zip(alpha_shape, shape[1:])):
            raise ValueError(f"[{self.name}] PReLU input of shape {shape} does not match its "
                             f"alpha of shape {alpha_shape} (built for input shape "
                             f"{self._built_shape}, shared_axes={self.shared_axes})")
        # Keras's form relu(x) - alpha * relu(-x): the same values, and at x = 0 the same
        # gradient (zero, not alpha) with respect to x
        x = inputs
        return _m.subtract(_nn.relu(x), _m.multiply(self.alpha, _nn.relu(_m.negative(x))))

    def get_config(self):
        config = super().get_config()
        config.update({
            "alpha_initializer": _serialize_obj(self.alpha_initializer, "initializers"),
            "alpha_regularizer": _serialize_obj(self.alpha_regularizer, "regularizers"),
            "alpha_constraint": _serialize_obj(self.alpha_constraint, "constraints"),
            "shared_axes": None if self.shared_axes is None else list(self.shared_axes),
        })
        return config


# ----------------------------------------------------------------------------- Softmax


class Softmax(_Elementwise):
    """softmax over `axis` (an int, or a list of axes: exp(x - logsumexp(x, axis))). With a
    mask, masked positions get a large negative added before the softmax and are zeroed after
    it (Keras 3), so a fully masked row is all zeros."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)):
            axes = list(axis)
        else:
            axes = [axis]
        if not axes or any(isinstance(a, (bool, np.bool_)) or not isinstance(a, numbers.Integral)
                           for a in axes):
            raise ValueError(f"[{self.name}] Softmax axis must be an integer or a non-empty list "
                             f"of integers, got axis={axis!r}")
        self.axis = [int(a) for a in axes] if isinstance(axis, (list, tuple)) else int(axis)

    def _axes(self, shape):
        """The normalised softmax axes for an input of `shape`, or a ValueError."""
        rank = len(shape)
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        out = []
        for a in axes:
            if not -rank <= a < rank:
                raise ValueError(f"[{self.name}] Softmax axis={self.axis} is out of range for an "
                                 f"input of rank {rank} (shape {tuple(shape)})")
            out.append(a % rank)
        if len(set(out)) != len(out):
            raise ValueError(f"[{self.name}] Softmax axis={self.axis} repeats an axis of the input "
                             f"of shape {tuple(shape)}")
        return out

    def _mask_like(self, mask, x):
        """The mask as a float tensor of x's dtype that broadcasts against x. A mask over
        x's leading axes (Keras' (batch, time) masks) is extended over the trailing ones."""
        xs = tuple(x._data.shape)
        if isinstance(mask, Tensor):
            m = _m.cast(mask, x.dtype)
        else:
            m = operand_like(np.asarray(mask).astype(x._data.dtype), x)
        ms = tuple(m._data.shape)
        if len(ms) < len(xs) and ms == xs[:len(ms)]:
            m = _a.reshape(m, ms + (1,) * (len(xs) - len(ms)))
        else:
            try:
                ok = np.broadcast_shapes(ms, xs) == xs
            except ValueError:
                ok = False
            if not ok:
                raise ValueError(f"[{self.name}] Softmax mask of shape {ms} does not broadcast "
                                 f"to the input of shape {xs}")
        return m

    def call(self, inputs, mask=None):
        axes = self._axes(inputs._data.shape)
        x = inputs
        m = None
        if mask is not None:
            m = self._mask_like(mask, x)
            x = _m.add(x, _m.multiply(_m.subtract(1.0, m), _LARGE_NEGATIVE))
        if len(axes) == 1:
            y = _nn.softmax(x, axis=axes[0])
            if m is None and axes[0] == inputs._data.ndim - 1:
                _logits_cache.tag(y, "softmax", x)      # TF-Keras' `_keras_logits`
        else:
            y = _m.exp(_m.subtract(x, _m.reduce_logsumexp(x, axis=axes, keepdims=True)))
        if m is not None:
            y = _m.multiply(y, m)
        return y

    def _check_shape(self, shape):
        self._axes(shape)

    def get_config(self):
        config = super().get_config()
        config["axis"] = list(self.axis) if isinstance(self.axis, list) else self.axis
        return config


# ----------------------------------------------------------------------------- Rescaling


def _scale_value(layer, what, value):
    """A number (kept as a float) or an array-like of numbers (kept as a float64 array)."""
    if isinstance(value, dict) and value.get("class_name") == "__numpy__":  # Keras 3 config
        value = value["config"]["value"]
    if isinstance(value, Tensor):
        value = value.numpy()
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"[{layer.name}] Rescaling {what} must be a number or an array of "
                         f"numbers, got {what}={value!r}")
    if isinstance(value, numbers.Real):
        return float(value)
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):
        arr = None
    if arr is None or arr.dtype.kind not in "iuf":
        raise ValueError(f"[{layer.name}] Rescaling {what} must be a number or an array of "
                         f"numbers, got {what}={value!r}")
    return float(arr) if arr.ndim == 0 else arr.astype(np.float64)


class Rescaling(_Elementwise):
    """inputs * scale + offset in the layer's float dtype (integer inputs such as uint8 images
    are cast first). `scale` and `offset` are numbers or arrays that broadcast to the input,
    e.g. one value per channel."""

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = _scale_value(self, "scale", scale)
        self.offset = _scale_value(self, "offset", offset)
        if self._np_dtype.kind != "f":
            raise ValueError(f"[{self.name}] Rescaling needs a floating dtype, got "
                             f"dtype={self._dtype_name}")

    def _check_shape(self, shape):
        """scale and offset must broadcast to `shape` without growing it (None: any size)."""
        shape = tuple(shape)
        for what, v in (("scale", self.scale), ("offset", self.offset)):
            if not isinstance(v, np.ndarray):
                continue
            ok = v.ndim <= len(shape) and all(
                s == 1 or d is None or s == d for s, d in zip(v.shape[::-1], shape[::-1]))
            if not ok:
                raise ValueError(f"[{self.name}] Rescaling {what} of shape {v.shape} does not "
                                 f"broadcast to the input of shape {shape}")

    def _operand(self, v, dtype):
        return v if isinstance(v, float) else v.astype(dtype)

    def call(self, inputs):
        if inputs._data.dtype != self._np_dtype:
            inputs = _m.cast(inputs, self._dtype_name)
        self._check_shape(inputs._data.shape)
        dtype = inputs._data.dtype
        y = inputs
        if not (isinstance(self.scale, float) and self.scale == 1.0):
            y = _m.multiply(y, self._operand(self.scale, dtype))
        if not (isinstance(self.offset, float) and self.offset == 0.0):
            y = _m.add(y, self._operand(self.offset, dtype))
        return y

    def get_config(self):
        config = super().get_config()
        config.update({"scale": self.scale.tolist() if isinstance(self.scale, np.ndarray)
                       else self.scale,
                       "offset": self.offset.tolist() if isinstance(self.offset, np.ndarray)
                       else self.offset})
        return config
