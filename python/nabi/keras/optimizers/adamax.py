"""Adamax, Keras 3 rule: m += (g - m)(1 - b1);  u = max(b2 u, |g|);
p -= lr m / ((1 - b1^t)(u + eps))."""
from . import _kernels
from .base import Optimizer, _base_args


class Adamax(Optimizer):
    _slot_names = ("m", "u")
    _hyper_names = ("beta_1", "beta_2", "epsilon")
    _default_name = "adamax"
    _slot_keras_names = {"m": "momentum", "u": "norm"}   # Keras 3 names

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 loss_scale_factor=None, gradient_accumulation_steps=None, name="adamax",
                 **kwargs):
        super().__init__(**_base_args(locals()))
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)

    def _update(self, params, grads, slots, lr, t):
        _kernels.adamax_update(params, grads, slots[0], slots[1], lr, self.beta_1, self.beta_2,
                               self.epsilon, t)
