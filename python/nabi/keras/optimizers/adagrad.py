"""Adagrad, Keras 3 rule: acc += g^2;  p -= lr g / sqrt(acc + eps)."""
from . import _kernels
from .base import Optimizer, _base_args


class Adagrad(Optimizer):
    _slot_names = ("accumulator",)
    _hyper_names = ("initial_accumulator_value", "epsilon")
    _default_name = "adagrad"

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 loss_scale_factor=None, gradient_accumulation_steps=None, name="adagrad",
                 **kwargs):
        super().__init__(**_base_args(locals()))
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.epsilon = float(epsilon)

    def _slot_initial(self, name):
        return self.initial_accumulator_value

    def _update(self, params, grads, slots, lr, t):
        _kernels.adagrad_update(params, grads, slots[0], lr, self.epsilon)
