"""Adam (Kingma & Ba), Keras 3 rule with optional AMSGrad:
m += (g - m)(1 - b1);  v += (g^2 - v)(1 - b2);  [vhat = max(vhat, v); v = vhat]
p -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)."""
from . import _kernels
from .base import Optimizer, _base_args


class Adam(Optimizer):
    _slot_names = ("momentum", "velocity", "velocity_hat")
    _slot_groups = (("momentum", "velocity"), ("velocity_hat",))
    _hyper_names = ("beta_1", "beta_2", "epsilon", "amsgrad")
    _default_name = "adam"

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name="adam", **kwargs):
        super().__init__(**_base_args(locals()))
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        self.amsgrad = bool(amsgrad)

    def _uses_slot(self, name):
        return name != "velocity_hat" or self.amsgrad

    def _update(self, params, grads, slots, lr, t):
        _kernels.adam_update(params, grads, slots[0], slots[1], slots[2], lr, self.beta_1,
                             self.beta_2, self.epsilon, t)
