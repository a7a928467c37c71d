"""RMSprop, Keras 3 rule:
v = rho v + (1 - rho) g^2;  [centered: a = rho a + (1 - rho) g; den = v - a^2 + eps] else den = v + eps
inc = lr g / sqrt(den);  momentum > 0: m = momentum m + inc; p -= m;  else p -= inc."""
from . import _kernels
from .base import Optimizer, _base_args


class RMSprop(Optimizer):
    _slot_names = ("velocity", "momentum", "average_gradient")
    _slot_groups = (("velocity",), ("momentum",), ("average_gradient",))
    _hyper_names = ("rho", "momentum", "epsilon", "centered")
    _default_name = "rmsprop"

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7,
                 centered=False, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name="rmsprop", **kwargs):
        super().__init__(**_base_args(locals()))
        self.rho = float(rho)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.centered = bool(centered)

    def _uses_slot(self, name):
        return {"velocity": True, "momentum": self.momentum > 0,
                "average_gradient": self.centered}[name]

    def _update(self, params, grads, slots, lr, t):
        _kernels.rmsprop_update(params, grads, slots[0],
                                slots[1] if self.momentum > 0 else None,
                                slots[2] if self.centered else None, lr, self.rho,
                                self.momentum, self.epsilon, self.centered)
