"""SGD with optional (Nesterov) momentum, Keras 3 rule:
m = momentum * m - lr * g;  p += m   (nesterov: p += momentum * m - lr * g)."""
from . import _kernels
from .base import Optimizer, _base_args, _check_unit


class SGD(Optimizer):
    _slot_names = ("momentum",)
    _hyper_names = ("momentum", "nesterov")
    _default_name = "SGD"

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False,
                 ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name="SGD", **kwargs):
        super().__init__(**_base_args(locals()))
        self.momentum = _check_unit("SGD", "momentum", momentum)
        self.nesterov = bool(nesterov)

    def _uses_slot(self, name):
        return self.momentum != 0

    def _update(self, params, grads, slots, lr, t):
        _kernels.sgd_update(params, grads, slots[0] if self.momentum != 0 else None, lr,
                            self.momentum, self.nesterov)
