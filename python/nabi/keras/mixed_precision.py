"""`keras.mixed_precision`: dtype policies.

nabi's kernels compute in float32 (and float64); it has no float16 kernels. The mixed
policies ('mixed_float16', 'mixed_bfloat16') are accepted so that notebooks which set them run
unchanged, and compute in float32 -- the numbers a float32 Keras model gives, not those of a
float16 one -- with a warning saying so. 'float32' and 'float64' set the layers' dtype (as
`keras.backend.set_floatx` does)."""
import warnings

from . import backend

_MIXED = ("mixed_float16", "mixed_bfloat16")
_PLAIN = ("float32", "float64")
_state = {"policy": None}


class Policy:
    def __init__(self, name):
        name = getattr(name, "name", name)
        if name not in _MIXED + _PLAIN:
            raise ValueError(f"[mixed_precision.Policy] unsupported policy {name!r}; nabi "
                             f"supports {', '.join(_PLAIN + _MIXED)}")
        self._name = name

    @property
    def name(self):
        return self._name

    @property
    def compute_dtype(self):
        """What nabi computes in: float32 for the mixed policies (see the module doc)."""
        return "float32" if self._name in _MIXED else self._name

    @property
    def variable_dtype(self):
        return "float32" if self._name in _MIXED else self._name

    def get_config(self):
        return {"name": self._name}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(**config)

    def __eq__(self, other):
        return isinstance(other, Policy) and other._name == self._name

    def __hash__(self):
        return hash(self._name)

    def __repr__(self):
        return f'<Policy "{self._name}">'


DTypePolicy = Policy


def set_global_policy(policy):
    if policy is None:
        policy = backend.floatx() if backend.floatx() in _PLAIN else "float32"
    p = policy if isinstance(policy, Policy) else Policy(policy)
    if p.name in _MIXED:
        warnings.warn(f"[mixed_precision] nabi has no float16 kernels: the {p.name!r} policy "
                      "computes in float32 (the results of a float32 model)", stacklevel=2)
    else:
        backend.set_floatx(p.name)
    _state["policy"] = p


def global_policy():
    if _state["policy"] is not None:
        return _state["policy"]
    fx = backend.floatx()
    return Policy(fx if fx in _PLAIN else "float32")


class LossScaleOptimizer:
    """Keras 2's `mixed_precision.LossScaleOptimizer` (and Keras 3's
    `optimizers.LossScaleOptimizer`): wraps an optimizer with a loss scale.

    `get_scaled_loss(loss)` (Keras 3: `scale_loss`) multiplies by the scale,
    `get_unscaled_gradients(grads)` divides by it. Both training loops work: Keras 2's
    (get_scaled_loss, get_unscaled_gradients, then apply_gradients of the unscaled gradients)
    and Keras 3's (scale_loss, then apply/apply_gradients of the scaled gradients, which
    Keras 3 unscales itself): `apply_gradients` unscales unless get_unscaled_gradients (or
    minimize) already did since the last step. With `dynamic=True`, `apply_gradients`
    checks the gradients: a step with an inf or NaN gradient is skipped and the scale halves
    (not below 1); after `dynamic_growth_steps` finite steps in a row it doubles. nabi computes
    in float32 (see the module doc), so the scale does not change the numbers; the class exists
    so that the mixed-precision guide's training loop runs, and its skip-on-overflow rule is
    kept. Other attributes (learning_rate, iterations, variables, ...) are the inner
    optimizer's."""

    def __init__(self, inner_optimizer, dynamic=True, initial_scale=None,
                 dynamic_growth_steps=None):
        if not hasattr(inner_optimizer, "apply_gradients"):
            raise TypeError(f"[LossScaleOptimizer] inner_optimizer must be an optimizer, got "
                            f"{type(inner_optimizer).__name__}")
        if isinstance(inner_optimizer, LossScaleOptimizer):
            raise TypeError("[LossScaleOptimizer] inner_optimizer is already a "
                            "LossScaleOptimizer")
        if not dynamic and dynamic_growth_steps is not None:
            raise ValueError("[LossScaleOptimizer] dynamic_growth_steps is only for "
                             "dynamic=True")
        if not dynamic and initial_scale is None:
            raise ValueError("[LossScaleOptimizer] a fixed loss scale (dynamic=False) needs "
                             "initial_scale")
        scale = float(2 ** 15 if initial_scale is None else initial_scale)
        if not scale >= 1 and dynamic or not scale > 0:
            raise ValueError(f"[LossScaleOptimizer] initial_scale must be positive (at least "
                             f"1 when dynamic), got {initial_scale}")
        from ..framework.tensor import Variable
        self.inner_optimizer = inner_optimizer
        self.dynamic = bool(dynamic)
        self.initial_scale = scale
        self.dynamic_growth_steps = int(2000 if dynamic_growth_steps is None
                                        else dynamic_growth_steps)
        self._scale = Variable(scale, dtype="float32", trainable=False, name="loss_scale")
        self._counter = Variable(0, dtype="int64", trainable=False, name="dynamic_counter")

    @property
    def loss_scale(self):
        return self._scale

    @property
    def dynamic_counter(self):
        return self._counter

    def get_scaled_loss(self, loss):
        scale = float(self._scale.numpy())   # a Python number adapts to the loss's dtype
        if callable(loss) and not hasattr(loss, "numpy"):
            return lambda: loss() * scale
        return loss * scale

    scale_loss = get_scaled_loss

    def get_unscaled_gradients(self, grads):
        from ..ops import math_ops
        inv = 1.0 / float(self._scale.numpy())
        self.__dict__["_user_unscaled"] = True     # Keras 2 loop: apply_gradients applies as is
        return [None if g is None else math_ops.multiply(g, math_ops.cast(inv, g.dtype))
                for g in grads]

    def apply_gradients(self, grads_and_vars, *args, **kwargs):
        import numpy as np
        pairs = list(grads_and_vars)
        scaled = not self.__dict__.pop("_user_unscaled", False)
        scale = float(self._scale.numpy())
        if self.dynamic:
            finite = all(bool(np.isfinite(np.asarray(g.numpy())).all())
                         for g, _ in pairs if g is not None)
            if not finite:
                self._scale.assign(max(scale / 2.0, 1.0))
                self._counter.assign(0)
                return None
            n = int(self._counter.numpy()) + 1
            if n >= self.dynamic_growth_steps:
                self._scale.assign(scale * 2.0)
                n = 0
            self._counter.assign(n)
        if scaled:      # Keras 3: the gradients of scale_loss(loss), unscaled here
            from ..ops import math_ops
            pairs = [(g if g is None else math_ops.multiply(g, math_ops.cast(1.0 / scale,
                                                                             g.dtype)), v)
                     for g, v in pairs]
        return self.inner_optimizer.apply_gradients(pairs, *args, **kwargs)

    def apply(self, grads, trainable_variables=None):
        if trainable_variables is None:
            trainable_variables = self.inner_optimizer._trainable_variables
        return self.apply_gradients(zip(grads, trainable_variables))

    def minimize(self, loss, var_list, tape=None):
        from ..framework.tape import GradientTape
        if callable(loss) and not hasattr(loss, "numpy"):
            with GradientTape() as tape:
                loss = loss()
        elif tape is None:
            raise ValueError("[LossScaleOptimizer.minimize] `tape` is required when the loss "
                             "is a Tensor")
        var_list = list(var_list() if callable(var_list) else var_list)
        grads = tape.gradient(loss, var_list)
        self.__dict__["_user_unscaled"] = True     # gradients of the unscaled loss
        return self.apply_gradients(zip(grads, var_list))

    def get_config(self):
        from . import optimizers
        return {"inner_optimizer": optimizers.serialize(self.inner_optimizer),
                "dynamic": self.dynamic, "initial_scale": self.initial_scale,
                "dynamic_growth_steps": self.dynamic_growth_steps if self.dynamic else None}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from . import optimizers
        config = dict(config)
        inner = optimizers.deserialize(config.pop("inner_optimizer"),
                                       custom_objects=custom_objects)
        return cls(inner, **config)

    def __getattr__(self, name):
        if name.startswith("__") or name == "inner_optimizer":
            raise AttributeError(name)
        return getattr(self.__dict__["inner_optimizer"], name)

    def __repr__(self):
        return (f"<LossScaleOptimizer of {type(self.inner_optimizer).__name__}, "
                f"loss_scale={float(self._scale.numpy())}, dynamic={self.dynamic}>")
