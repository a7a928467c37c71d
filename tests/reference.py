"""Plain NumPy references (forward and backward) for nabi's ops, written independently of
the kernels: float64 math, textbook formulas, no shared code with nabi."""
import math

import numpy as np


def unbroadcast(g, shape):
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for i, s in enumerate(shape):
        if s == 1 and g.shape[i] != 1:
            g = g.sum(axis=i, keepdims=True)
    return g


# ---- activations: (forward, derivative dy/dx as a function of x)
_SELU_A = 1.6732632423543772848170429916717
_SELU_L = 1.0507009873554804934193349852946


def _sig(x):
    return 0.5 * (1 + np.tanh(0.5 * x))


_erf = np.vectorize(math.erf)

ACTIVATIONS = {
    "relu": (lambda x: np.maximum(x, 0), lambda x: (x > 0) * 1.0),
    "relu6": (lambda x: np.clip(x, 0, 6), lambda x: ((x > 0) & (x < 6)) * 1.0),
    "leaky_relu": (lambda x: np.where(x > 0, x, 0.2 * x), lambda x: np.where(x > 0, 1.0, 0.2)),
    "elu": (lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
            lambda x: np.where(x > 0, 1.0, np.exp(np.minimum(x, 0)))),
    "selu": (lambda x: _SELU_L * np.where(x > 0, x, _SELU_A * np.expm1(np.minimum(x, 0))),
             lambda x: _SELU_L * np.where(x > 0, 1.0, _SELU_A * np.exp(np.minimum(x, 0)))),
    "sigmoid": (_sig, lambda x: _sig(x) * (1 - _sig(x))),
    "tanh": (np.tanh, lambda x: 1 - np.tanh(x) ** 2),
    "softplus": (lambda x: np.logaddexp(0, x), _sig),
    "softsign": (lambda x: x / (1 + np.abs(x)), lambda x: 1 / (1 + np.abs(x)) ** 2),
    "swish": (lambda x: x * _sig(x), lambda x: _sig(x) * (1 + x * (1 - _sig(x)))),
    "gelu": (lambda x: 0.5 * x * (1 + _erf(x / np.sqrt(2))),
             lambda x: 0.5 * (1 + _erf(x / np.sqrt(2))) + x * np.exp(-x * x / 2) / np.sqrt(2 * np.pi)),
}


def softmax(x, axis=-1):
    m = np.max(x, axis=axis, keepdims=True)
    e = np.exp(x - m)
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(x, axis=-1):
    m = np.max(x, axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def softmax_grad(g, y, axis=-1):
    return y * (g - (g * y).sum(axis=axis, keepdims=True))


def log_softmax_grad(g, y, axis=-1):
    return g - np.exp(y) * g.sum(axis=axis, keepdims=True)


def softmax_xent(labels, logits):
    """(loss per row, d loss / d logits per row)."""
    ls = log_softmax(logits)
    loss = -(np.where(labels == 0, 0.0, labels * ls)).sum(-1)
    return loss, softmax(logits) * labels.sum(-1, keepdims=True) - labels


def sparse_softmax_xent(labels, logits):
    onehot = np.eye(logits.shape[-1])[labels]
    return softmax_xent(onehot, logits)


def sigmoid_xent(labels, logits):
    loss = np.maximum(logits, 0) - logits * labels + np.log1p(np.exp(-np.abs(logits)))
    return loss, _sig(logits) - labels


def reduce_grad(g, x_shape, axes, keepdims):
    if not keepdims:
        for a in sorted(axes):
            g = np.expand_dims(g, a)
    return np.broadcast_to(g, x_shape)


def numeric_grad(f, xs, i, eps=1e-6):
    """Central differences of the scalar f(*xs) with respect to xs[i], on float64 copies of
    the arrays xs (the caller's arrays are never touched)."""
    xs = [np.array(a, np.float64) for a in xs]
    x = xs[i]
    g = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        old = x[idx]
        x[idx] = old + eps
        fp = f(*xs)
        x[idx] = old - eps
        fm = f(*xs)
        x[idx] = old
        g[idx] = (fp - fm) / (2 * eps)
    return g


# ---- finite differences (float64), shared by the gradient and second-order tests


def fd_grads(f, params, eps=1e-6):
    """Central differences of f(params) with respect to each array in `params` (a list of
    float64 arrays): one array per param, of shape f's output shape + the param's shape (the
    param's shape for a scalar f). f is called with the list, one entry nudged by +-eps."""
    params = [np.array(p, dtype=np.float64) for p in params]
    out = []
    for p in params:
        g = None
        for i in np.ndindex(p.shape):
            old = p[i]
            p[i] = old + eps
            fp = np.asarray(f(params), np.float64)
            p[i] = old - eps
            fm = np.asarray(f(params), np.float64)
            p[i] = old
            if g is None:
                g = np.zeros(fp.shape + p.shape)
            g[(Ellipsis,) + i] = (fp - fm) / (2 * eps)
        out.append(np.zeros(p.shape) if g is None else g)
    return out


def fd_directional(f, params, vs, eps=1e-4):
    """d/de f(params + e v) at e = 0 by a central difference (scalar f): the first-order
    check of a gradient g as sum(g * v). Error O(eps^2)."""
    params = [np.asarray(p, np.float64) for p in params]
    return (float(f([p + eps * v for p, v in zip(params, vs)])) -
            float(f([p - eps * v for p, v in zip(params, vs)]))) / (2 * eps)


def fd_hvp(f, params, us, vs, eps=1e-4):
    """v . H u of the scalar f(params) (H its Hessian over all params) by the float64 central
    second difference (f(x+eu+ev) - f(x+eu-ev) - f(x-eu+ev) + f(x-eu-ev)) / (4 eps^2), whose
    error is O(eps^2) plus rounding ~1e-16 |f| / eps^2 (eps = 1e-4: about 1e-8 relative)."""
    params = [np.asarray(p, np.float64) for p in params]

    def at(k1, k2):
        return float(f([p + k1 * eps * u + k2 * eps * v for p, u, v in zip(params, us, vs)]))
    return (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1)) / (4 * eps * eps)
