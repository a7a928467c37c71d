"""Nadam, Keras 3 rule (Dozat's momentum schedule, decay 0.96):
u_t = b1 (1 - 0.5 * 0.96^t), u_{t+1} likewise; u_prod_t = u_prod_{t-1} u_t;
m += (g - m)(1 - b1);  v += (g^2 - v)(1 - b2);
m_hat = u_{t+1} m / (1 - u_prod_t u_{t+1}) + (1 - u_t) g / (1 - u_prod_t);  v_hat = v / (1 - b2^t)
p -= lr m_hat / (sqrt(v_hat) + eps)."""
import numpy as np

from ...framework.device import DeviceArray
from ...framework.tensor import Variable
from . import _kernels
from .base import Optimizer, _base_args


class Nadam(Optimizer):
    _slot_names = ("momentum", "velocity")
    _hyper_names = ("beta_1", "beta_2", "epsilon")
    _default_name = "nadam"

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 loss_scale_factor=None, gradient_accumulation_steps=None, name="nadam",
                 **kwargs):
        super().__init__(**_base_args(locals()))
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        self._u_product = None

    def build(self, var_list):
        first = not self.built
        new = super().build(var_list)
        if first:
            dt = var_list[0]._data.dtype if var_list else np.float32
            self._u_product = Variable(np.asarray(1.0, dt), trainable=False, name="u_product")
            self._extra_vars.append(self._u_product)
        return new

    def _update(self, params, grads, slots, lr, t):
        u = self._u_product._data
        if type(u) is DeviceArray and params and type(params[0]) is DeviceArray:
            # the running product stays on the device: the kernel reads and updates it in
            # place (the same numbers; no read back per step)
            r = _kernels.nadam_update(params, grads, slots[0], slots[1], lr, self.beta_1,
                                      self.beta_2, self.epsilon, t, u)
            if r is not None:   # a stand-in that returns the product (_np_nadam: on the GPU)
                u[()] = r
            return
        u[()] = _kernels.nadam_update(params, grads, slots[0], slots[1], lr, self.beta_1,
                                      self.beta_2, self.epsilon, t, float(u))
