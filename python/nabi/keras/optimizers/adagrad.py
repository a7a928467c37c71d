"""Adagrad, Keras 3 rule: acc += g^2;  p -= lr g / sqrt(acc + eps)."""
from . import _kernels
from .base import Optimizer


class Adagrad(Optimizer):
    _slot_names = ("accumulator",)
    _hyper_names = ("initial_accumulator_value", "epsilon")
    _default_name = "adagrad"

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 loss_scale_factor=None, gradient_accumulation_steps=None, name="adagrad",
                 **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay,
                         clipnorm=clipnorm, clipvalue=clipvalue,
                         global_clipnorm=global_clipnorm, use_ema=use_ema,
                         ema_momentum=ema_momentum,
                         ema_overwrite_frequency=ema_overwrite_frequency,
                         loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, name=name,
                         **kwargs)
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.epsilon = float(epsilon)

    def build(self, var_list):
        new = super().build(var_list)
        self._add_slots(new, ("accumulator",), self.initial_accumulator_value)
        return new

    def _update(self, params, grads, slots, lr, t):
        _kernels.adagrad_update(params, grads, slots[0], lr, self.epsilon)
