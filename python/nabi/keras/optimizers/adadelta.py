"""Adadelta, Keras 3 rule:
ag = rho ag + (1 - rho) g^2;  d = -sqrt(ad + eps) g / sqrt(ag + eps);
ad = rho ad + (1 - rho) d^2;  p += lr d."""
from . import _kernels
from .base import Optimizer, _base_args


class Adadelta(Optimizer):
    _slot_names = ("accumulated_grad", "accumulated_delta_var")
    _hyper_names = ("rho", "epsilon")
    _default_name = "adadelta"

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False,
                 ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name="adadelta", **kwargs):
        super().__init__(**_base_args(locals()))
        self.rho = float(rho)
        self.epsilon = float(epsilon)

    def _update(self, params, grads, slots, lr, t):
        _kernels.adadelta_update(params, grads, slots[0], slots[1], lr, self.rho, self.epsilon)
