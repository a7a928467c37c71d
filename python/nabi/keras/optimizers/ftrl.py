"""FTRL-Proximal (McMahan et al. 2013), the Keras 2.11+/Keras 3 rule for one variable w with
accumulator n (starts at initial_accumulator_value) and linear z (starts at 0):

    g_s = g + 2 * l2_shrinkage * w                 (shrinkage-type L2: a penalty in the loss)
    n'  = n + g^2
    z  += g_s - (n'^(-lr_power) - n^(-lr_power)) / lr * w
    q   = n'^(-lr_power) / lr + 2 * (l2 + beta / (2 lr))
    w   = (clip(z, -l1, l1) - z) / q               (0 where |z| <= l1)
    n   = n'

The update is written with array operations on the variables' storage (NumPy on the CPU, the
DeviceArray kernels on the GPU), in place, so the weights and the slots stay the same Variables.
"""
import math

import numpy as np

from .base import Optimizer, _base_args


def _check(name, value, ok, need):
    v = float(value)
    if math.isnan(v) or not ok(v):
        # Keras's wording, prefixed with the optimizer
        raise ValueError(f"[Ftrl] `{name}` needs to be {need}. Received: {name}={value}.")
    return v


class Ftrl(Optimizer):
    _slot_names = ("accumulator", "linear")
    _slot_groups = ((),)      # `build` makes them: each variable's accumulator, then its linear
    _hyper_names = ("learning_rate_power", "initial_accumulator_value",
                    "l1_regularization_strength", "l2_regularization_strength",
                    "l2_shrinkage_regularization_strength", "beta")
    _default_name = "ftrl"

    def __init__(self, learning_rate=0.001, learning_rate_power=-0.5,
                 initial_accumulator_value=0.1, l1_regularization_strength=0.0,
                 l2_regularization_strength=0.0, l2_shrinkage_regularization_strength=0.0,
                 beta=0.0, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name="ftrl", **kwargs):
        super().__init__(**_base_args(locals()))
        pos = "positive or zero"
        self.initial_accumulator_value = _check(
            "initial_accumulator_value", initial_accumulator_value, lambda v: v >= 0, pos)
        self.learning_rate_power = _check(
            "learning_rate_power", learning_rate_power, lambda v: v <= 0, "negative or zero")
        self.l1_regularization_strength = _check(
            "l1_regularization_strength", l1_regularization_strength, lambda v: v >= 0, pos)
        self.l2_regularization_strength = _check(
            "l2_regularization_strength", l2_regularization_strength, lambda v: v >= 0, pos)
        self.l2_shrinkage_regularization_strength = _check(
            "l2_shrinkage_regularization_strength", l2_shrinkage_regularization_strength,
            lambda v: v >= 0, pos)
        self.beta = _check("beta", beta, lambda v: v >= 0, pos)

    def build(self, var_list):
        new = super().build(var_list)
        for v in new:     # Keras's order: accumulator and linear per variable, interleaved
            self._add_slots([v], ("accumulator",), self.initial_accumulator_value)
            self._add_slots([v], ("linear",), 0.0)
        return new

    def _update(self, params, grads, slots, lr, t):
        power = -self.learning_rate_power
        l1 = self.l1_regularization_strength
        l2 = self.l2_regularization_strength + self.beta / (2.0 * lr)
        shrink = self.l2_shrinkage_regularization_strength
        for p, g, n, z in zip(params, grads, slots[0], slots[1]):
            g_s = g + (2.0 * shrink) * p if shrink else g
            n_new = n + np.square(g)
            n_pow = np.power(n_new, power)
            z += g_s - (n_pow - np.power(n, power)) / lr * p
            q = n_pow / lr + 2.0 * l2
            p[...] = (np.clip(z, -l1, l1) - z) / q
            n[...] = n_new
