"""RMSprop, Keras 3 rule:
v = rho v + (1 - rho) g^2;  [centered: a = rho a + (1 - rho) g; den = v - a^2 + eps] else den = v + eps
inc = lr g / sqrt(den);  momentum > 0: m = momentum m + inc; p -= m;  else p -= inc."""
from . import _kernels
from .base import Optimizer


class RMSprop(Optimizer):
    _slot_names = ("velocity", "momentum", "average_gradient")
    _hyper_names = ("rho", "momentum", "epsilon", "centered")
    _default_name = "rmsprop"

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7,
                 centered=False, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name="rmsprop", **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay,
                         clipnorm=clipnorm, clipvalue=clipvalue,
                         global_clipnorm=global_clipnorm, use_ema=use_ema,
                         ema_momentum=ema_momentum,
                         ema_overwrite_frequency=ema_overwrite_frequency,
                         loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, name=name,
                         **kwargs)
        self.rho = float(rho)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.centered = bool(centered)

    def build(self, var_list):
        new = super().build(var_list)
        self._add_slots(new, ("velocity",))
        if self.momentum > 0:
            self._add_slots(new, ("momentum",))
        if self.centered:
            self._add_slots(new, ("average_gradient",))
        return new

    def _update(self, params, grads, slots, lr, t):
        _kernels.rmsprop_update(params, grads, slots[0],
                                slots[1] if self.momentum > 0 else None,
                                slots[2] if self.centered else None, lr, self.rho,
                                self.momentum, self.epsilon, self.centered)
