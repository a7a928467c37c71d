"""Adafactor (Shazeer & Stern 2018), the Keras 2.11+/Keras 3 rule at step t (1-based):

    rho     = min(lr, 1 / sqrt(t))                 (the relative step; see below)
    alpha   = max(epsilon_2, rms(w)) * rho         (rms(x) = sqrt(mean(x^2)), over the variable)
    G       = g^2 + epsilon_1
    beta2_t = 1 - t^beta_2_decay
    rank >= 2, factored over the last two axes:
        r = beta2_t r + (1 - beta2_t) mean(G, axis=-1)         r: shape[:-1]
        c = beta2_t c + (1 - beta2_t) mean(G, axis=-2)         c: shape[:-2] + shape[-1:]
        v = (r / mean(r, axis=-1))[..., :, None] * c[..., None, :]
    rank < 2:
        v = beta2_t v + (1 - beta2_t) G
    u  = g / sqrt(v);  u /= max(1, rms(u) / clip_threshold)
    w -= alpha * u

Keras clamps the learning rate to 1/sqrt(t) twice: once when `relative_step` is on and the
learning rate is a constant, and again unconditionally in rho. The second clamp makes the first
a no-op, so `relative_step` does not change the update in Keras either; it is kept for the
configuration. For a variable of rank < 2 Keras makes placeholder r and c scalars that are not
optimizer variables; here too they are not in `variables` (nor saved).

The update is written with array operations on the variables' storage (NumPy on the CPU, the
DeviceArray kernels on the GPU), in place, so the weights and the slots stay the same Variables.
"""
import math

import numpy as np

from ...framework.tensor import Variable
from .base import Optimizer, _base_args, _follow_device


def _rms(x):
    return np.sqrt(np.mean(np.square(x)))


class Adafactor(Optimizer):
    _slot_names = ("r", "c", "velocity")
    _slot_groups = ((),)      # `build` makes them (r and c have their own shapes)
    _hyper_names = ("beta_2_decay", "epsilon_1", "epsilon_2", "clip_threshold",
                    "relative_step")
    _default_name = "adafactor"

    def __init__(self, learning_rate=0.001, beta_2_decay=-0.8, epsilon_1=1e-30, epsilon_2=1e-3,
                 clip_threshold=1.0, relative_step=True, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name="adafactor", **kwargs):
        super().__init__(**_base_args(locals()))
        checks = (("beta_2_decay", beta_2_decay, lambda v: v <= 0, "<= 0"),
                  ("epsilon_1", epsilon_1, lambda v: v >= 0, ">= 0"),
                  ("epsilon_2", epsilon_2, lambda v: v >= 0, ">= 0"),
                  ("clip_threshold", clip_threshold, lambda v: v > 0, "> 0"))
        for name_, value, ok, need in checks:
            v = float(value)
            if math.isnan(v) or not ok(v):
                raise ValueError(f"[Adafactor] `{name_}` must be {need}. "
                                 f"Received: {name_}={value}.")
            setattr(self, name_, v)
        self.relative_step = bool(relative_step)

    def build(self, var_list):
        new = super().build(var_list)
        for v in new:     # Keras's order: r, c (rank >= 2 only), then the velocity
            shape = v._data.shape
            base = v._name.split(":")[0].replace("/", "_")
            if len(shape) >= 2:
                self._slot(v, "r", shape[:-1], f"{base}_r", saved=True)
                self._slot(v, "c", shape[:-2] + shape[-1:], f"{base}_c", saved=True)
            else:
                self._slot(v, "r", (), f"{base}_r", saved=False)
                self._slot(v, "c", (), f"{base}_c", saved=False)
            self._add_slots([v], ("velocity",))
        return new

    def _slot(self, ref, slot, shape, name, saved):
        s = Variable(np.zeros(shape, ref._data.dtype), trainable=False, name=name)
        _follow_device(s, ref)
        self._slots[slot].append(s)
        if saved:
            self._slot_vars.append(s)

    def _update(self, params, grads, slots, lr, t):
        rho = min(lr, 1.0 / math.sqrt(t))
        b2t = 1.0 - float(t) ** self.beta_2_decay
        eps1, eps2, clip = self.epsilon_1, self.epsilon_2, self.clip_threshold
        for p, g, r, c, v in zip(params, grads, *slots):
            alpha = np.maximum(eps2, _rms(p)) * rho
            g2 = np.square(g) + eps1
            if p.ndim >= 2:
                r *= b2t
                r += (1.0 - b2t) * np.mean(g2, axis=-1)
                c *= b2t
                c += (1.0 - b2t) * np.mean(g2, axis=-2)
                row = r / np.mean(r, axis=-1, keepdims=True)
                v[...] = np.expand_dims(row, -1) * np.expand_dims(c, -2)
            else:
                v *= b2t
                v += (1.0 - b2t) * g2
            u = g / np.sqrt(v)
            u = u / np.maximum(1.0, _rms(u) / clip)
            p -= alpha * u
