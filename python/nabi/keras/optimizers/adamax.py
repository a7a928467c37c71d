"""Adamax, Keras 3 rule: m += (g - m)(1 - b1);  u = max(b2 u, |g|);
p -= lr m / ((1 - b1^t)(u + eps))."""
from . import _kernels
from .base import Optimizer


class Adamax(Optimizer):
    _slot_names = ("m", "u")
    _hyper_names = ("beta_1", "beta_2", "epsilon")
    _default_name = "adamax"
    _slot_keras_names = {"u": "norm"}

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 loss_scale_factor=None, gradient_accumulation_steps=None, name="adamax",
                 **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay,
                         clipnorm=clipnorm, clipvalue=clipvalue,
                         global_clipnorm=global_clipnorm, use_ema=use_ema,
                         ema_momentum=ema_momentum,
                         ema_overwrite_frequency=ema_overwrite_frequency,
                         loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, name=name,
                         **kwargs)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)

    def build(self, var_list):
        new = super().build(var_list)
        self._add_slots(new, ("m", "u"))
        return new

    def _update(self, params, grads, slots, lr, t):
        _kernels.adamax_update(params, grads, slots[0], slots[1], lr, self.beta_1, self.beta_2,
                               self.epsilon, t)
