"""Core layers: InputLayer/Input, Dense, Activation, Dropout, Flatten, Reshape, Permute, Lambda."""
import numpy as np

from ...framework.device import asarray as _asarray

from ... import _C
from ... import nn as _nn
from ...framework.tensor import Tensor, _wrap
from ...ops import array_ops as _array_ops
from ...ops import math_ops as _math_ops
from .. import backend
from .. import _logits_cache
from .base import (KerasTensor, Layer, Node, _CTX, _np_dtype, _pop_inert_options, _shape_tuple,
                   map_structure)

__all__ = ["InputLayer", "Input", "Dense", "Activation", "Dropout", "Flatten", "Reshape",
           "Permute", "Lambda", "Masking", "Identity", "TFOpLambda"]

_FUSED = {"linear", "relu", "relu6", "sigmoid", "tanh", "softmax", "elu", "selu", "softplus",
          "softsign", "swish", "silu", "gelu", "leaky_relu", "hard_sigmoid", "exponential"}
_HAS_FUSED_DENSE = hasattr(_C, "dense_forward")

_FALLBACK_ACTS = {
    "linear": lambda x: x, "relu": _nn.relu, "relu6": _nn.relu6, "sigmoid": _nn.sigmoid,
    "tanh": _nn.tanh, "softmax": lambda x: _nn.softmax(x), "elu": _nn.elu, "selu": _nn.selu,
    "softplus": _nn.softplus, "softsign": _nn.softsign, "swish": _nn.swish, "silu": _nn.swish,
    "gelu": _nn.gelu, "leaky_relu": _nn.leaky_relu, "hard_sigmoid": _nn.hard_sigmoid,
    "exponential": _nn.exponential,
}


def _activation_name(fn):
    if fn is None:
        return "linear"
    if isinstance(fn, str):
        return fn
    try:
        from .. import activations
        name = activations.serialize(fn)
        if isinstance(name, str):
            return name
        if isinstance(name, dict):   # a registered function, or a layer (LeakyReLU(0.2))
            cfg = name.get("config")
            return cfg if isinstance(cfg, str) else name
    except (ImportError, AttributeError, ValueError, TypeError):
        pass
    return getattr(fn, "__name__", type(fn).__name__)


def get_activation(identifier):
    """(function, fused kernel name or None, serialised name) for an activation identifier."""
    if identifier is None:
        return (lambda x: x), "linear", "linear"
    if isinstance(identifier, str):
        key = identifier.lower() if identifier.lower() in _FUSED else identifier
        fn = None
        try:
            from .. import activations
            fn = activations.get(identifier)
        except ImportError:
            fn = _FALLBACK_ACTS.get(key)
        if fn is None:
            raise ValueError(f"[activations] unknown activation {identifier!r}")
        return fn, (key if key in _FUSED else None), identifier
    if isinstance(identifier, dict):
        from .. import activations
        fn = activations.get(identifier)
        return get_activation(fn) if not isinstance(fn, dict) else (fn, None, identifier)
    if callable(identifier):
        name = _activation_name(identifier)
        fused = None
        if isinstance(name, str) and name in _FUSED:
            # Only fuse when the callable is the library's own activation of that name.
            try:
                from .. import activations
                if activations.get(name) is identifier:
                    fused = name
            except (ImportError, ValueError):
                pass
            if fused is None and _FALLBACK_ACTS.get(name) is identifier:
                fused = name
            nn_fn = getattr(_nn, name, None)
            if nn_fn is identifier:
                fused = name
        return identifier, fused, name
    raise ValueError(f"[activations] could not interpret activation {identifier!r}")


# ----------------------------------------------------------------------------- Input


class InputLayer(Layer):
    """The entry point of a functional model; holds the symbolic input tensor."""

    def __init__(self, input_shape=None, batch_size=None, dtype=None, input_tensor=None,
                 sparse=None, name=None, ragged=None, type_spec=None, batch_input_shape=None,
                 batch_shape=None, shape=None, **kwargs):
        if shape is not None and input_shape is None:   # Keras 3's name for input_shape
            input_shape = shape
        if name is None:
            name = backend.unique_object_name("input", zero_based=False)
        kwargs.pop("trainable", None)
        _pop_inert_options("InputLayer", kwargs, optional=False)
        super().__init__(name=name, dtype=dtype if dtype is not None else None, **kwargs)
        if batch_shape is not None and batch_input_shape is None:
            batch_input_shape = batch_shape
        if batch_input_shape is None:
            if input_shape is None:
                if input_tensor is not None:
                    batch_input_shape = tuple(input_tensor.shape)
                else:
                    raise ValueError(f"[{name}] InputLayer needs `shape` (or `batch_shape`)")
            else:
                batch_input_shape = (batch_size,) + tuple(_shape_tuple(input_shape))
        self._batch_input_shape = _shape_tuple(batch_input_shape)
        self.sparse = bool(sparse)
        self.ragged = bool(ragged)
        self.built = True
        if input_tensor is not None and isinstance(input_tensor, KerasTensor):
            kt = input_tensor
        else:
            kt = KerasTensor(self._batch_input_shape, self._np_dtype, name=name)
        Node(self, [], (), {}, kt)
        self._output_tensor = kt

    def call(self, inputs):
        return inputs

    @property
    def output_shape(self):
        return [self._batch_input_shape]

    def get_config(self):
        return {"batch_input_shape": list(self._batch_input_shape), "dtype": self._dtype_name,
                "sparse": self.sparse, "ragged": self.ragged, "name": self.name}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if "batch_shape" in config:
            config["batch_input_shape"] = config.pop("batch_shape")
        config.pop("trainable", None)
        return cls(**config)


def Input(shape=None, batch_size=None, name=None, dtype=None, sparse=None, tensor=None,
          ragged=None, type_spec=None, batch_shape=None, **kwargs):
    """A symbolic input (KerasTensor) for the functional API: `Input(shape=(784,))`."""
    if shape is None and batch_shape is None and tensor is None:
        raise ValueError("[Input] give `shape` (without the batch dimension) or `batch_shape`")
    layer = InputLayer(input_shape=shape, batch_size=batch_size, name=name, dtype=dtype,
                       sparse=sparse, ragged=ragged, batch_shape=batch_shape, input_tensor=tensor,
                       **kwargs)
    return layer._output_tensor


# ----------------------------------------------------------------------------- Dense


class Dense(Layer):
    """`activation(inputs @ kernel + bias)`, run by the fused C++ dense kernel."""

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):
        if "init" in kwargs:  # Keras 1 alias
            kernel_initializer = kwargs.pop("init")
        if "output_dim" in kwargs:  # Keras 1 alias
            units = kwargs.pop("output_dim")
        _pop_inert_options("Dense", kwargs, quantization_config=None)
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        if units is None or int(units) <= 0:
            raise ValueError(f"[{self.name}] units must be a positive integer, got {units!r}")
        self.units = int(units)
        self.activation, fused, self._activation_name = get_activation(activation)
        self._fused = fused if _HAS_FUSED_DENSE else None
        self._post_act = None if self._fused is not None else self.activation
        self._emit_logits = False
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.kernel_regularizer = kernel_regularizer
        self.bias_regularizer = bias_regularizer
        self.kernel_constraint = kernel_constraint
        self.bias_constraint = bias_constraint
        self.supports_masking = True
        self._in_dim = None

    def build(self, input_shape):
        last = input_shape[-1] if len(input_shape) else None
        if last is None:
            raise ValueError(f"[{self.name}] the last dimension of the inputs to Dense must be "
                             f"defined, got shape {tuple(input_shape)}")
        self._in_dim = int(last)
        self.kernel = self.add_weight("kernel", (self._in_dim, self.units),
                                      initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.bias = self.add_weight("bias", (self.units,), initializer=self.bias_initializer,
                                    regularizer=self.bias_regularizer,
                                    constraint=self.bias_constraint) if self.use_bias else None
        self.built = True

    def call(self, inputs):
        d = inputs._data
        shp = d.shape
        if not shp or shp[-1] != self._in_dim:
            raise ValueError(f"[{self.name}] expected input with last dimension {self._in_dim}, "
                             f"got shape {tuple(shp)}")
        logits = self._emit_logits
        if d.ndim != 2:
            x2 = _array_ops.reshape(inputs, (-1, self._in_dim))
        else:
            x2 = inputs
        if self._fused is not None:
            # a plain Tensor input skips the op's symbolic dispatch (its weights are Variables)
            dense = _nn.dense.__nabi_op__ if type(x2) is Tensor else _nn.dense
            y = dense(x2, self.kernel, self.bias, "linear" if logits else self._fused)
        else:
            y = _math_ops.matmul(x2, self.kernel)
            if self.bias is not None:
                y = _nn.bias_add(y, self.bias)
        if d.ndim != 2:
            y = _array_ops.reshape(y, tuple(shp[:-1]) + (self.units,))
        if self._post_act is not None and not logits:
            y = self._post_act(y)
        elif self._fused in ("sigmoid", "softmax") and not logits:
            # TF-Keras' `_keras_logits`: a probability cross-entropy on this output computes
            # from the pre-activation, which is only evaluated if a loss asks for it
            def pre_activation(x2=x2, lead=tuple(shp[:-1]) if d.ndim != 2 else None):
                z = _nn.dense(x2, self.kernel, self.bias, "linear")
                return z if lead is None else _array_ops.reshape(z, lead + (self.units,))
            _logits_cache.tag(y, self._fused, pre_activation)
        return y

    def get_config(self):
        from .base import _serialize_obj
        config = super().get_config()
        config.update({
            "units": self.units,
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


# ----------------------------------------------------------------------------- simple layers


class Activation(Layer):
    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation, _, self._activation_name = get_activation(activation)
        self.supports_masking = True

    def call(self, inputs):
        return self.activation(inputs)

    def get_config(self):
        config = super().get_config()
        config["activation"] = self._activation_name if isinstance(self._activation_name, str) \
            else _activation_name(self.activation)
        return config


class Dropout(Layer):
    """Zeroes a fraction `rate` of the inputs (scaling the rest by 1/(1-rate)) while training.
    `noise_shape` (one entry per input axis; None takes the input's size) shares one keep/drop
    draw along the axes where it is 1: `(None, 1, 1, 1)` drops whole samples (drop-connect)."""

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        rate = float(rate)
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"[{self.name}] rate must be in [0, 1], got {rate}")
        self.rate = rate
        self.noise_shape = noise_shape
        self.seed = seed
        self._rng = np.random.default_rng(seed) if seed is not None else None
        self.supports_masking = True

    def call(self, inputs, training=None):
        if not training or self.rate == 0.0:
            return inputs
        if self.rate >= 1.0:
            return _math_ops.multiply(inputs, 0.0)
        a = inputs._data
        if self.noise_shape is None:
            shp = a.shape
        else:
            shp = tuple(a.shape[i] if s is None else int(s) for i, s in enumerate(self.noise_shape))
            if len(shp) != a.ndim or any(s not in (1, d) for s, d in zip(shp, a.shape)):
                raise ValueError(f"[{self.name}] Dropout noise_shape={tuple(self.noise_shape)} "
                                 f"does not broadcast to the input of shape {tuple(a.shape)}: "
                                 "it needs one entry per input axis, each None, 1 or the "
                                 "input's size")
        if self._rng is not None:
            rng = self._rng
        else:
            from ...ops.random_ops import _generator
            rng = _generator(None)
        if type(a) is not np.ndarray and shp == a.shape:
            from ...ops.nn_ops import _philox_dropout
            return _philox_dropout(inputs, self.rate, rng)
        keep = rng.random(shp, dtype=np.float32) >= self.rate
        mask = keep.astype(a.dtype) * a.dtype.type(1.0 / (1.0 - self.rate))
        return _math_ops.multiply(inputs, mask)

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "noise_shape": self.noise_shape, "seed": self.seed})
        return config


class Masking(Layer):
    """Masks timesteps whose features all equal `mask_value`: the output is the input with
    those timesteps zeroed, and it carries the mask `any(inputs != mask_value, axis=-1)`."""
    _autocast_ints = False  # integer inputs keep their dtype, as in Keras

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        self.mask_value = mask_value
        self.supports_masking = True

    def _mask_array(self, inputs):
        a = inputs._data if isinstance(inputs, Tensor) else _asarray(inputs)
        return np.any(a != self.mask_value, axis=-1)

    def compute_mask(self, inputs, mask=None):
        return _wrap(self._mask_array(inputs))

    def call(self, inputs):
        keep = self._mask_array(inputs)[..., None].astype(inputs._data.dtype)
        return _math_ops.multiply(inputs, _wrap(keep))

    def get_config(self):
        config = super().get_config()
        config["mask_value"] = self.mask_value
        return config


class Identity(Layer):
    """Returns its input (a placeholder layer, as keras.layers.Identity); keeps the mask."""
    _autocast_ints = False  # integer inputs keep their dtype, as in Keras

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs):
        return map_structure(lambda t: _array_ops.identity(t) if isinstance(t, Tensor) else t,
                             inputs)


class Flatten(Layer):
    _autocast_ints = False  # integer inputs keep their dtype, as in Keras

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = data_format or backend.image_data_format()

    def call(self, inputs):
        a = inputs._data
        if a.ndim == 1:
            return _array_ops.reshape(inputs, (a.shape[0], 1))
        if self.data_format == "channels_first" and a.ndim > 2:
            inputs = _array_ops.transpose(inputs, (0,) + tuple(range(2, a.ndim)) + (1,))
        return _array_ops.reshape(inputs, (a.shape[0], -1))

    def get_config(self):
        config = super().get_config()
        config["data_format"] = self.data_format
        return config


class Reshape(Layer):
    _autocast_ints = False  # integer inputs keep their dtype, as in Keras

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(int(d) for d in target_shape)

    def call(self, inputs):
        a = inputs._data
        n = int(np.prod(a.shape[1:])) if a.ndim > 1 else 1
        tgt = self.target_shape
        known = int(np.prod([d for d in tgt if d != -1])) if tgt else 1
        if (-1 not in tgt and known != n) or (-1 in tgt and (known == 0 or n % known)):
            raise ValueError(f"[{self.name}] cannot reshape input of shape {tuple(a.shape)} "
                             f"({n} values per sample) to target shape {tgt}")
        return _array_ops.reshape(inputs, (a.shape[0],) + tgt)

    def get_config(self):
        config = super().get_config()
        config["target_shape"] = list(self.target_shape)
        return config


class Permute(Layer):
    _autocast_ints = False  # integer inputs keep their dtype, as in Keras

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        self.dims = tuple(int(d) for d in dims)
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ValueError(f"[{self.name}] invalid permutation dims {self.dims}: it must be a "
                             f"permutation of 1..{len(self.dims)}")

    def call(self, inputs):
        if inputs._data.ndim != len(self.dims) + 1:
            raise ValueError(f"[{self.name}] expected input of rank {len(self.dims) + 1}, got "
                             f"shape {tuple(inputs._data.shape)}")
        return _array_ops.transpose(inputs, (0,) + self.dims)

    def get_config(self):
        config = super().get_config()
        config["dims"] = list(self.dims)
        return config


class Lambda(Layer):
    """Wraps an arbitrary function of the inputs as a layer."""

    _call_accepts_training = False

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        if not callable(function):
            raise ValueError(f"[{self.name}] Lambda needs a callable, got {function!r}")
        self.function = function
        self.arguments = dict(arguments or {})
        self._output_shape_arg = output_shape
        self.mask = mask
        self.supports_masking = mask is not None
        self._autocast = False

    def call(self, inputs, mask=None, training=None):
        return self.function(inputs, **self.arguments)

    def compute_mask(self, inputs, mask=None):
        if callable(self.mask):
            return self.mask(inputs, mask)
        return self.mask

    def get_config(self):
        config = super().get_config()
        config.update({"function": _serialize_function(self.function),
                       "output_shape": self._output_shape_arg,
                       "arguments": self.arguments})
        if self.mask is not None:
            config["mask"] = _serialize_function(self.mask) if callable(self.mask) else None
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None, safe_mode=None):
        config = dict(config)
        fn = _deserialize_function(config.pop("function"), config.pop("module", None),
                                   config.pop("function_type", None), config.get("name"),
                                   custom_objects, safe_mode)
        mask = config.pop("mask", None)
        if mask is not None:
            mask = _deserialize_function(mask, None, None, config.get("name"), custom_objects,
                                         safe_mode)
        return cls(fn, mask=mask, **config)


# ----------------------------------------------------------------------------- Lambda code

# Keras 3 stores a Python lambda's bytecode in the config (marshal + base64, not pickle) and
# refuses to load it in safe mode, since loading runs arbitrary code. Safe mode is on unless
# `safe_mode=False` is passed, `enable_unsafe_deserialization()` was called, or the loading
# code runs inside `SafeModeScope(False)`.
_UNSAFE_DESERIALIZATION = False
_SAFE_MODE_SCOPE = []


def enable_unsafe_deserialization():
    """Allows loading Lambda bytecode from configs (as `keras.config.enable_unsafe_...`)."""
    global _UNSAFE_DESERIALIZATION
    _UNSAFE_DESERIALIZATION = True


class SafeModeScope:
    """`with SafeModeScope(False): model = model_from_json(...)` loads lambdas' bytecode."""

    def __init__(self, safe_mode=True):
        self.safe_mode = safe_mode

    def __enter__(self):
        _SAFE_MODE_SCOPE.append(self.safe_mode)
        return self

    def __exit__(self, *exc):
        _SAFE_MODE_SCOPE.pop()
        return False


def in_safe_mode():
    if _SAFE_MODE_SCOPE and _SAFE_MODE_SCOPE[-1] is not None:
        return bool(_SAFE_MODE_SCOPE[-1])
    return not _UNSAFE_DESERIALIZATION


def _serialize_function(fn):
    import types
    if isinstance(fn, types.FunctionType) and fn.__name__ == "<lambda>":
        import base64
        import marshal
        code = base64.b64encode(marshal.dumps(fn.__code__)).decode("ascii")
        closure = None
        if fn.__closure__:
            closure = [_json_safe(c.cell_contents) for c in fn.__closure__]
        defaults = [_json_safe(d) for d in fn.__defaults__] if fn.__defaults__ else None
        import sys
        return {"class_name": "__lambda__",
                "config": {"code": code, "defaults": defaults, "closure": closure,
                           "python_version": "%d.%d" % sys.version_info[:2]}}
    return {"class_name": "function", "config": getattr(fn, "__name__", repr(fn)),
            "module": getattr(fn, "__module__", None)}


def _json_safe(v):
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, (np.integer, np.floating)):
        return v.item()
    if isinstance(v, tuple):
        return list(v)
    return v


def _deserialize_function(spec, module, function_type, layer_name, custom_objects, safe_mode):
    if isinstance(spec, dict) and spec.get("class_name") == "__lambda__":
        if safe_mode is None:
            safe_mode = in_safe_mode()
        if safe_mode:
            raise ValueError(
                f"[Lambda.from_config] layer {layer_name!r}: requested the deserialization of a "
                "Lambda layer whose function is a Python lambda. Loading it runs the stored "
                "bytecode, which can execute arbitrary code, so it is disallowed by default. If "
                "you trust the source of this model, pass `safe_mode=False` (to load_model / "
                "from_config), call `nabi.keras.layers.core.enable_unsafe_deserialization()`, or "
                "load inside `SafeModeScope(False)`.")
        import base64
        import builtins
        import marshal
        import sys
        import types
        cfg = spec["config"]
        want = cfg.get("python_version")
        have = "%d.%d" % sys.version_info[:2]
        try:
            code = marshal.loads(base64.b64decode(cfg["code"].encode("ascii")))
        except (ValueError, EOFError, TypeError) as e:
            raise ValueError(f"[Lambda.from_config] layer {layer_name!r}: cannot load the "
                             f"lambda's bytecode (saved by Python {want}, this is Python "
                             f"{have}; bytecode only round-trips within one Python version): "
                             f"{e}") from None
        if want is not None and want != have:
            raise ValueError(f"[Lambda.from_config] layer {layer_name!r}: the lambda was saved "
                             f"by Python {want}; its bytecode cannot run on Python {have}. "
                             "Pass the function in custom_objects instead.")
        import nabi
        glob = {"__builtins__": builtins, "np": np, "numpy": np, "tf": nabi, "nabi": nabi,
                "keras": nabi.keras, "K": nabi.keras.backend}
        closure = None
        if cfg.get("closure"):
            closure = tuple(types.CellType(v) for v in cfg["closure"])
        defaults = tuple(cfg["defaults"]) if cfg.get("defaults") else None
        return types.FunctionType(code, glob, code.co_name, defaults, closure)
    if isinstance(spec, dict) and spec.get("class_name") == "function":
        module = spec.get("module", module)
        spec = spec.get("config")
    fn = spec
    if isinstance(fn, str):
        found = (custom_objects or {}).get(fn)
        if found is None and module and fn != "<lambda>":
            import importlib
            try:
                found = getattr(importlib.import_module(module), fn, None)
            except ImportError:
                found = None
        if found is None:
            raise ValueError(f"[Lambda.from_config] cannot restore function {fn!r} of layer "
                             f"{layer_name!r}: pass it in custom_objects")
        fn = found
    return fn


Lambda._call_accepts_training = False
Lambda._call_accepts_mask = False


class TFOpLambda(Lambda):
    """A TF op or operator applied to KerasTensors (`Input(...) * 2`, `tf.reduce_mean(x)`);
    Keras 2 calls this layer class TFOpLambda, and summary() shows it so. It holds the op's
    name (`symbol`, e.g. 'math.reduce_mean' or '__operators__.add') and its arguments with
    the symbolic tensors' places marked, and saves just those (loadable in safe mode)."""

    # The TF symbol Keras 2 names the TFOpLambda of each operator after: `x + y` dispatches to
    # tf.__operators__.add, `x * y` to tf.math.multiply, `x[i]` to tf.__operators__.getitem...
    _SYMBOLS = {"add": "tf.__operators__.add", "subtract": "tf.math.subtract",
                "multiply": "tf.math.multiply", "truediv": "tf.math.truediv",
                "pow": "tf.math.pow", "matmul": "tf.linalg.matmul",
                "negative": "tf.math.negative", "abs": "tf.math.abs",
                "getitem": "tf.__operators__.getitem"}

    def __init__(self, function=None, name="op", symbol=None, op_args=None, op_kwargs=None,
                 **kwargs):
        if name.startswith("tf."):      # from_config: the saved (already unique) name
            uname = name
        elif symbol is not None:
            uname = backend.unique_object_name("tf." + symbol)
        else:
            uname = backend.unique_object_name(
                self._SYMBOLS.get(name, f"tf.__operators__.{name}"))
        self.symbol = symbol
        self.op_args = list(op_args or [])
        self.op_kwargs = dict(op_kwargs or {})
        if function is None:
            if symbol is None:
                raise ValueError(f"[{uname}] TFOpLambda needs a function or an op symbol")
            op = _resolve_op(symbol)
            args, kw = self.op_args, self.op_kwargs

            def function(xs):
                vals = xs if isinstance(xs, (list, tuple)) else [xs]
                return op(*_fill(args, vals), **_fill(kw, vals))
        super().__init__(function, name=uname, **kwargs)

    def get_config(self):
        if self.symbol is None:         # made from a Python function: Lambda's config
            return super().get_config()
        config = Layer.get_config(self)
        try:
            config.update({"symbol": self.symbol, "op_args": _to_json(self.op_args),
                           "op_kwargs": _to_json(self.op_kwargs)})
        except TypeError as e:
            raise ValueError(f"[{self.name}] cannot save this op layer: {e}") from None
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None, safe_mode=None):
        if "symbol" not in config:      # saved as a Lambda (bytecode) by an older nabi
            return super().from_config(config, custom_objects, safe_mode)
        config = dict(config)
        config["op_args"] = _from_json(config.get("op_args", []))
        config["op_kwargs"] = _from_json(config.get("op_kwargs", {}))
        return cls(None, **config)


_OpLambda = TFOpLambda

# Operators (KerasTensor.__add__ etc.) by their Keras 2 symbol.
import operator as _operator  # noqa: E402

_OPERATORS = {"__operators__.add": _operator.add, "math.subtract": _operator.sub,
              "math.multiply": _operator.mul, "math.truediv": _operator.truediv,
              "math.pow": _operator.pow, "linalg.matmul": _operator.matmul,
              "math.negative": _operator.neg, "math.abs": _operator.abs,
              "__operators__.getitem": _operator.getitem}


def _resolve_op(symbol):
    f = _OPERATORS.get(symbol)
    if f is not None:
        return f
    from ...framework.symbolic import resolve
    try:
        return resolve(symbol)
    except AttributeError:
        raise ValueError(f"[TFOpLambda] unknown op 'tf.{symbol}'") from None


class _KT:
    """The place of the i-th symbolic tensor in an op's arguments."""
    __slots__ = ("i",)

    def __init__(self, i):
        self.i = i


def _template(v, kts):
    """v with each KerasTensor replaced by its _KT place (appended to kts)."""
    if getattr(type(v), "_is_keras_tensor", False):
        kts.append(v)
        return _KT(len(kts) - 1)
    if isinstance(v, list):
        return [_template(e, kts) for e in v]
    if isinstance(v, tuple):
        return tuple(_template(e, kts) for e in v)
    if isinstance(v, dict):
        return {k: _template(e, kts) for k, e in v.items()}
    return v


def _fill(v, vals):
    if isinstance(v, _KT):
        return vals[v.i]
    if isinstance(v, list):
        return [_fill(e, vals) for e in v]
    if isinstance(v, tuple):
        return tuple(_fill(e, vals) for e in v)
    if isinstance(v, dict):
        return {k: _fill(e, vals) for k, e in v.items()}
    return v


def _to_json(v):
    from ... import dtypes as _dtypes
    if isinstance(v, _KT):
        return {"__keras_tensor__": v.i}
    if isinstance(v, slice):
        return {"__slice__": [_to_json(v.start), _to_json(v.stop), _to_json(v.step)]}
    if v is Ellipsis:
        return {"__ellipsis__": True}
    if isinstance(v, _dtypes.DType):
        return {"__dtype__": v.name}
    if isinstance(v, tuple):
        return {"__tuple__": [_to_json(e) for e in v]}
    if isinstance(v, list):
        return [_to_json(e) for e in v]
    if isinstance(v, dict):
        return {str(k): _to_json(e) for k, e in v.items()}
    if isinstance(v, (np.integer, np.floating, np.bool_)):
        return v.item()
    if isinstance(v, np.ndarray):
        return {"__array__": v.tolist(), "dtype": v.dtype.name}
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    raise TypeError(f"argument of type {type(v).__name__} ({v!r}) is not serializable")


def _from_json(v):
    from ... import dtypes as _dtypes
    if isinstance(v, dict):
        if "__keras_tensor__" in v:
            return _KT(v["__keras_tensor__"])
        if "__slice__" in v:
            return slice(*[_from_json(e) for e in v["__slice__"]])
        if "__ellipsis__" in v:
            return Ellipsis
        if "__dtype__" in v:
            return _dtypes.as_dtype(v["__dtype__"])
        if "__tuple__" in v:
            return tuple(_from_json(e) for e in v["__tuple__"])
        if "__array__" in v:
            return np.asarray(v["__array__"], dtype=v.get("dtype"))
        return {k: _from_json(e) for k, e in v.items()}
    if isinstance(v, list):
        return [_from_json(e) for e in v]
    return v


def call_tf_op(symbol, fn, args, kwargs):
    """Applies the op `symbol` (fn: its function, or None to resolve the symbol) to arguments
    holding KerasTensors: a TFOpLambda layer called on those tensors."""
    kts = []
    t_args = _template(list(args), kts)
    t_kwargs = _template(dict(kwargs), kts)
    t_kwargs.pop("name", None)
    layer = TFOpLambda(None, symbol=symbol, op_args=t_args, op_kwargs=t_kwargs)
    if fn is not None and symbol not in _OPERATORS:
        op = getattr(fn, "__nabi_op__", fn)

        def function(xs):
            vals = xs if isinstance(xs, (list, tuple)) else [xs]
            return op(*_fill(t_args, vals), **_fill(t_kwargs, vals))
        layer.function = function
    return layer(kts if len(kts) > 1 else kts[0])
