"""Adadelta, Keras 3 rule:
ag = rho ag + (1 - rho) g^2;  d = -sqrt(ad + eps) g / sqrt(ag + eps);
ad = rho ad + (1 - rho) d^2;  p += lr d."""
from . import _kernels
from .base import Optimizer


class Adadelta(Optimizer):
    _slot_names = ("accumulated_grad", "accumulated_delta_var")
    _hyper_names = ("rho", "epsilon")
    _default_name = "adadelta"

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False,
                 ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name="adadelta", **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay,
                         clipnorm=clipnorm, clipvalue=clipvalue,
                         global_clipnorm=global_clipnorm, use_ema=use_ema,
                         ema_momentum=ema_momentum,
                         ema_overwrite_frequency=ema_overwrite_frequency,
                         loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, name=name,
                         **kwargs)
        self.rho = float(rho)
        self.epsilon = float(epsilon)

    def build(self, var_list):
        new = super().build(var_list)
        self._add_slots(new, ("accumulated_grad", "accumulated_delta_var"))
        return new

    def _update(self, params, grads, slots, lr, t):
        _kernels.adadelta_update(params, grads, slots[0], slots[1], lr, self.rho, self.epsilon)
