"""SGD with optional (Nesterov) momentum, Keras 3 rule:
m = momentum * m - lr * g;  p += m   (nesterov: p += momentum * m - lr * g)."""
from . import _kernels
from .base import Optimizer, _check_unit


class SGD(Optimizer):
    _slot_names = ("momentum",)
    _hyper_names = ("momentum", "nesterov")
    _default_name = "SGD"

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False,
                 ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name="SGD", **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay,
                         clipnorm=clipnorm, clipvalue=clipvalue,
                         global_clipnorm=global_clipnorm, use_ema=use_ema,
                         ema_momentum=ema_momentum,
                         ema_overwrite_frequency=ema_overwrite_frequency,
                         loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, name=name,
                         **kwargs)
        self.momentum = _check_unit("SGD", "momentum", momentum)
        self.nesterov = bool(nesterov)

    def build(self, var_list):
        new = super().build(var_list)
        if self.momentum != 0:
            self._add_slots(new, ("momentum",))
        return new

    def _update(self, params, grads, slots, lr, t):
        _kernels.sgd_update(params, grads, slots[0] if self.momentum != 0 else None, lr,
                            self.momentum, self.nesterov)
