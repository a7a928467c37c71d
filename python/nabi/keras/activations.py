"""`keras.activations`: activation functions by name, thin wrappers over `nabi.nn`.

Each function's `__name__` is its Keras name, so layers can pass it to the fused dense op
(`nabi.nn.dense(..., activation=fn.__name__)`) when the name is one the kernel knows.
"""
from .. import ops as _ops
from ..framework.tensor import Tensor, convert_to_tensor
from ..ops import nn_ops as _nn
from . import _logits_cache

__all__ = ["linear", "relu", "relu6", "sigmoid", "tanh", "softmax", "log_softmax", "elu",
           "selu", "softplus", "softsign", "leaky_relu", "gelu", "swish", "silu",
           "hard_sigmoid", "hard_silu", "hard_swish", "exponential", "mish", "celu", "glu",
           "hard_shrink", "hard_tanh", "log_sigmoid", "soft_shrink", "sparse_plus",
           "squareplus", "tanh_shrink", "threshold", "sparsemax", "get",
           "serialize", "deserialize"]


def _t(x):
    return x if isinstance(x, Tensor) else convert_to_tensor(x)


def linear(x):
    """The identity."""
    return _t(x)


def relu(x, negative_slope=0.0, max_value=None, threshold=0.0, alpha=None):
    """max(x, 0), with Keras' optional negative slope, cap and threshold.

    ``alpha`` is Keras 2's name for ``negative_slope`` (tf.keras code writes
    ``relu(x, alpha=0.1)``)."""
    if alpha is not None:
        negative_slope = alpha
    x = _t(x)
    if negative_slope == 0.0 and max_value is None and threshold == 0.0:
        return _nn.relu(x)
    if negative_slope != 0.0 and max_value is None and threshold == 0.0:
        return _nn.leaky_relu(x, alpha=negative_slope)
    if negative_slope != 0.0:
        neg = _nn.relu(_ops.add(_ops.negative(x), threshold)) if threshold != 0 \
            else _nn.relu(_ops.negative(x))
    clip_max = max_value is not None
    if threshold != 0:
        y = _ops.multiply(x, _ops.cast(_ops.greater(x, threshold), x.dtype))
    elif max_value == 6:
        y = _nn.relu6(x)
        clip_max = False
    else:
        y = _nn.relu(x)
    if clip_max:   # a Tensor cap stays a Tensor: clip_by_value gives it its gradient, as TF
        cap = _ops.cast(max_value, y.dtype) if isinstance(max_value, Tensor) else float(max_value)
        y = _ops.clip_by_value(y, 0.0, cap)
    if negative_slope != 0.0:
        y = _ops.subtract(y, _ops.multiply(neg, float(negative_slope)))
    return y


def relu6(x):
    return _nn.relu6(_t(x))


def leaky_relu(x, negative_slope=0.2):
    return _nn.leaky_relu(_t(x), alpha=negative_slope)


def elu(x, alpha=1.0):
    x = _t(x)
    if isinstance(alpha, Tensor) and alpha.dtype.is_floating:
        # Keras's TF backend: where(x > 0, elu(x), alpha * elu(x)), differentiable in alpha
        r = _nn.elu(x)
        return _ops.where(_ops.greater(x, 0.0), r, _ops.multiply(r, _ops.cast(alpha, x.dtype)))
    return _nn.elu(x, alpha=alpha)


def selu(x):
    return _nn.selu(_t(x))


def sigmoid(x):
    x = _t(x)
    # the cross-entropies read the logits back (TF-Keras' `_keras_logits`)
    return _logits_cache.tag(_nn.sigmoid(x), "sigmoid", x)


def tanh(x):
    return _nn.tanh(_t(x))


def softmax(x, axis=-1):
    x = _t(x)
    y = _nn.softmax(x, axis=axis)
    if isinstance(axis, int) and x.ndim and axis % x.ndim == x.ndim - 1:
        _logits_cache.tag(y, "softmax", x)      # TF-Keras' `_keras_logits`
    return y


def log_softmax(x, axis=-1):
    return _nn.log_softmax(_t(x), axis=axis)


def softplus(x):
    return _nn.softplus(_t(x))


def softsign(x):
    return _nn.softsign(_t(x))


def gelu(x, approximate=False):
    return _nn.gelu(_t(x), approximate=approximate)


def swish(x):
    """x * sigmoid(x)."""
    return _nn.swish(_t(x))


silu = swish


def hard_sigmoid(x):
    """Keras 3: relu6(x + 3) / 6."""
    return _nn.hard_sigmoid(_t(x))


def hard_silu(x):
    """x * hard_sigmoid(x)."""
    x = _t(x)
    return _ops.multiply(x, _nn.hard_sigmoid(x))


hard_swish = hard_silu


def exponential(x):
    return _nn.exponential(_t(x))


def mish(x):
    """x * tanh(softplus(x))."""
    x = _t(x)
    return _ops.multiply(x, _nn.tanh(_nn.softplus(x)))


def _kops():
    from . import ops   # keras.ops (imported late: it imports this module's package)
    return ops


def celu(x, alpha=1.0):
    """Keras 3: max(x, 0) + min(0, alpha * (exp(x / alpha) - 1))."""
    return _kops().celu(_t(x), alpha=alpha)


def glu(x, axis=-1):
    """Keras 3: a * sigmoid(b), the halves of x along `axis`."""
    return _kops().glu(_t(x), axis=axis)


def hard_shrink(x, threshold=0.5):
    """Keras 3: x where |x| > threshold, else 0."""
    return _kops().hard_shrink(_t(x), threshold=threshold)


def hard_tanh(x):
    """Keras 3: clip(x, -1, 1)."""
    return _kops().hard_tanh(_t(x))


def log_sigmoid(x):
    """Keras 3: log(sigmoid(x)) = -softplus(-x)."""
    return _kops().log_sigmoid(_t(x))


def soft_shrink(x, threshold=0.5):
    """Keras 3: x - threshold above it, x + threshold below -threshold, else 0."""
    return _kops().soft_shrink(_t(x), threshold=threshold)


def sparse_plus(x):
    """Keras 3: 0 for x <= -1, (x + 1)^2 / 4 for |x| < 1, x for x >= 1."""
    return _kops().sparse_plus(_t(x))


def squareplus(x, b=4):
    """Keras 3: (x + sqrt(x^2 + b)) / 2."""
    return _kops().squareplus(_t(x), b=b)


def tanh_shrink(x):
    """Keras 3: x - tanh(x)."""
    return _kops().tanh_shrink(_t(x))


def sparsemax(x, axis=-1):
    """Keras 3: the projection of x onto the probability simplex along `axis` (the paper's
    tau, as Keras after keras-team/keras#23469; see keras.ops.sparsemax)."""
    return _kops().sparsemax(_t(x), axis=axis)


def threshold(x, threshold, default_value):
    """Keras 3: x where x > threshold, else default_value."""
    return _kops().threshold(_t(x), threshold, default_value)


_FUNCS = {f.__name__: f for f in (linear, relu, relu6, sigmoid, tanh, softmax, log_softmax, elu,
                                  selu, softplus, softsign, leaky_relu, gelu, swish,
                                  hard_sigmoid, hard_silu, exponential, mish, celu, glu,
                                  hard_shrink, hard_tanh, log_sigmoid, soft_shrink, sparse_plus,
                                  squareplus, tanh_shrink, threshold, sparsemax)}
_FUNCS.update({"silu": swish, "hard_swish": hard_silu})


def serialize(activation):
    """A built-in activation -> its name; an Activation-like object with get_config -> dict."""
    if activation is None:
        return "linear"
    name = getattr(activation, "__name__", None)
    if name in _FUNCS and _FUNCS[name] is activation:
        return name
    for k, f in _FUNCS.items():
        if f is activation:
            return k
    if hasattr(activation, "get_config"):
        return {"module": "keras.layers", "class_name": type(activation).__name__,
                "config": activation.get_config(), "registered_name": None}
    if name is not None:
        # a function registered with @register_keras_serializable: its "Package>name"
        from .saving.object_registration import get_registered_name
        return get_registered_name(activation)
    raise ValueError(f"[activations.serialize] cannot serialize {activation!r}")


def deserialize(config, custom_objects=None):
    if isinstance(config, dict):
        if config.get("class_name") == "function":
            return deserialize(config["config"], custom_objects)
        name = config.get("class_name")
        if custom_objects and name in custom_objects:
            return custom_objects[name].from_config(config.get("config", {}))
        from . import layers as _layers   # Keras 2: activation layers (LeakyReLU, PReLU...)
        cls = getattr(_layers, str(name), None)
        if isinstance(cls, type) and issubclass(cls, _layers.Layer):
            return cls.from_config(config.get("config", {}))
        raise ValueError(f"[activations.deserialize] unknown activation {name!r}")
    if custom_objects and config in custom_objects:
        return custom_objects[config]
    return get(config)


def get(identifier):
    """A function from a name ('relu'), None (linear), or a callable."""
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        f = _FUNCS.get(identifier) or _FUNCS.get(identifier.lower())
        if f is None:  # registered with @register_keras_serializable or in a custom scope
            from .saving.object_registration import get_registered_object
            f = get_registered_object(identifier)
            if f is not None and not callable(f):
                f = None
        if f is None:
            raise ValueError(f"[activations.get] unknown activation {identifier!r}; known: "
                             f"{', '.join(sorted(_FUNCS))}")
        return f
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if callable(identifier):
        return identifier
    raise ValueError(f"[activations.get] could not interpret activation {identifier!r}")
