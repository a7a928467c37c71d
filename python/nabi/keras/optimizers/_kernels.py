"""The fused optimizer kernels (`nabi._C.*_update`), with NumPy stand-ins of the same rules.

Every kernel takes Python lists of C-contiguous float32/float64 arrays and updates params and
state in place. The C++ kernels are used when the build has them; the NumPy versions here
implement the identical Keras 3 rules and serve as fallback (and document the maths).
"""
import math

import numpy as np

from ... import _C
from ...framework.device import DeviceArray, gpu_kernels


def _np_sgd(params, grads, moms, lr, momentum, nesterov):
    for i, (p, g) in enumerate(zip(params, grads)):
        if moms is None:
            p -= lr * g
            continue
        m = moms[i]
        m *= momentum
        m -= lr * g
        if nesterov:
            p += m * momentum - lr * g
        else:
            p += m


def _np_adam(params, grads, ms, vs, vhats, lr, b1, b2, eps, t):
    alpha = lr * math.sqrt(1.0 - b2 ** t) / (1.0 - b1 ** t)
    for i, (p, g) in enumerate(zip(params, grads)):
        m, v = ms[i], vs[i]
        m += (g - m) * (1.0 - b1)
        v += (g * g - v) * (1.0 - b2)
        if vhats is not None:
            np.maximum(vhats[i], v, out=vhats[i])
            v = vhats[i]
        p -= (m * alpha) / (np.sqrt(v) + eps)


def _np_rmsprop(params, grads, vels, moms, avgs, lr, rho, momentum, eps, centered):
    for i, (p, g) in enumerate(zip(params, grads)):
        v = vels[i]
        v *= rho
        v += (1.0 - rho) * g * g
        if centered:
            a = avgs[i]
            a *= rho
            a += (1.0 - rho) * g
            den = v - a * a + eps
        else:
            den = v + eps
        inc = lr * g / np.sqrt(den)
        if momentum > 0:
            mo = moms[i]
            mo *= momentum
            mo += inc
            p -= mo
        else:
            p -= inc


def _np_adagrad(params, grads, accs, lr, eps):
    for p, g, a in zip(params, grads, accs):
        a += g * g
        p -= lr * g / np.sqrt(a + eps)


def _np_adadelta(params, grads, acc_g, acc_d, lr, rho, eps):
    for p, g, ag, ad in zip(params, grads, acc_g, acc_d):
        ag *= rho
        ag += (1.0 - rho) * g * g
        delta = -np.sqrt(ad + eps) * g / np.sqrt(ag + eps)
        ad *= rho
        ad += (1.0 - rho) * delta * delta
        p += lr * delta


def _np_adamax(params, grads, ms, us, lr, b1, b2, eps, t):
    b1p = b1 ** t
    for p, g, m, u in zip(params, grads, ms, us):
        m += (g - m) * (1.0 - b1)
        np.maximum(b2 * u, np.abs(g), out=u)
        p -= (lr * m) / ((1.0 - b1p) * (u + eps))


def _np_nadam(params, grads, ms, vs, lr, b1, b2, eps, t, u_product_prev):
    u_t = b1 * (1.0 - 0.5 * 0.96 ** t)
    u_t_1 = b1 * (1.0 - 0.5 * 0.96 ** (t + 1))
    u_product_t = u_product_prev * u_t
    u_product_t_1 = u_product_t * u_t_1
    b2p = b2 ** t
    for p, g, m, v in zip(params, grads, ms, vs):
        m += (g - m) * (1.0 - b1)
        v += (g * g - v) * (1.0 - b2)
        m_hat = u_t_1 * m / (1.0 - u_product_t_1) + (1.0 - u_t) * g / (1.0 - u_product_t)
        v_hat = v / (1.0 - b2p)
        p -= m_hat * lr / (np.sqrt(v_hat) + eps)
    return u_product_t


def _np_global_norm(grads):
    s = 0.0
    for g in grads:
        g = g.ravel()
        s += float(np.dot(g, g))
    return math.sqrt(s)


def _dispatch(name, fallback):
    """The CPU kernel (or its NumPy stand-in) for host params, the CUDA one for GPU params."""
    cpu = getattr(_C, name, fallback)

    def call(params, *args, **kwargs):
        if params and type(params[0]) is DeviceArray:
            return getattr(gpu_kernels, name)(params, *args, **kwargs)
        return cpu(params, *args, **kwargs)
    call.__name__ = name
    return call


sgd_update = _dispatch("sgd_update", _np_sgd)
adam_update = _dispatch("adam_update", _np_adam)
rmsprop_update = _dispatch("rmsprop_update", _np_rmsprop)
adagrad_update = _dispatch("adagrad_update", _np_adagrad)
adadelta_update = _dispatch("adadelta_update", _np_adadelta)
adamax_update = _dispatch("adamax_update", _np_adamax)
nadam_update = _dispatch("nadam_update", _np_nadam)
_cpu_global_norm = getattr(_C, "global_norm", _np_global_norm)


def global_norm(grads):
    if grads and type(grads[0]) is DeviceArray:
        return _np_global_norm(grads)  # dot products on the device, one float each
    return _cpu_global_norm(grads)
NUMPY = {"sgd": _np_sgd, "adam": _np_adam, "rmsprop": _np_rmsprop, "adagrad": _np_adagrad,
         "adadelta": _np_adadelta, "adamax": _np_adamax, "nadam": _np_nadam}
