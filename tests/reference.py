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
    """Central differences of the scalar f(*xs) with respect to xs[i] (float64)."""
    x = xs[i]
    g = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        idx = it.multi_index
        old = x[idx]
        x[idx] = old + eps
        fp = f(*xs)
        x[idx] = old - eps
        fm = f(*xs)
        x[idx] = old
        g[idx] = (fp - fm) / (2 * eps)
    return g
