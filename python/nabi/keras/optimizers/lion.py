"""Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms"), Keras rule:
p -= lr * sign(b1 m + (1 - b1) g);  m = b2 m + (1 - b2) g.

The update is written with array operations on the variables' storage (NumPy on the CPU, the
DeviceArray kernels on the GPU), in place, so the weights and the slot stay the same Variables.
"""
import math

import numpy as np

from .base import Optimizer, _base_args, _check_unit


class Lion(Optimizer):
    _slot_names = ("momentum",)
    _hyper_names = ("beta_1", "beta_2")
    _default_name = "lion"

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False,
                 ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name="lion", **kwargs):
        super().__init__(**_base_args(locals()))
        b1 = float(beta_1)
        if not 0.0 < b1 <= 1.0 or math.isnan(b1):
            # Keras: beta_1 = 0 makes the step the sign of the gradient alone (SignSGD)
            raise ValueError("[Lion] Argument `beta_1` must be in the ]0, 1] range. Otherwise, "
                             f"the optimizer degenerates to SignSGD. Received: beta_1={beta_1}.")
        self.beta_1 = b1
        self.beta_2 = _check_unit("Lion", "beta_2", beta_2)

    def _update(self, params, grads, slots, lr, t):
        b1, b2 = self.beta_1, self.beta_2
        for p, g, m in zip(params, grads, slots[0]):
            p -= lr * np.sign(m * b1 + g * (1.0 - b1))
            m *= b2
            m += g * (1.0 - b2)
