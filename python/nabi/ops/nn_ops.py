"""Activations, softmax, fused losses, bias_add and the fused dense op (`nabi.nn`).

Forward and backward run in C++ (csrc/cpu/activations.cpp, softmax.cpp, losses.cpp,
bias.cpp, dense.cpp); this layer checks arguments and records the backward rules.
"""
import numpy as np

from ..framework.device import asarray as _asarray

from .. import _C
from ..framework.device import in_range, kernels
from ._common import (Tensor, _tapes, _wrap, binary_operands, const_like, contiguous, record,
                      t_)
from .math_ops import cast, multiply


def _float_input(op, x):
    x = t_(x)
    if x._data.dtype.kind != "f" or x._data.dtype == np.float16:
        raise TypeError(f"[{op}] expects a float32 or float64 tensor, got {x._data.dtype.name} "
                        f"of shape {tuple(x._data.shape)}")
    return x


def _activation(kind, x, alpha=0.0, op=None):
    x = _float_input(op or kind, x)
    a = contiguous(x._data)
    y = kernels(a).activation_forward(kind, a, alpha)
    out = _wrap(y)
    if _tapes:
        record((x,), out,
               lambda g, n: (kernels(a).activation_backward(kind, contiguous(_nd(g)), a, y,
                                                            alpha),),
               lambda g, n: (_act_grad_t(kind, g, lambda: x, out, alpha, (x,)),), kind)
    return out


def _nd(g):
    """A NumPy scalar (what NumPy's elementwise ops give for 0-d arrays) as a 0-d array."""
    return np.asarray(g) if isinstance(g, np.generic) else g


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _act_grad_t(kind, g, pre, y, alpha, conn=()):
    """d act(x) / dx times g, written with nabi ops (the activations' second-order rules).
    pre() gives the pre-activation Tensor x (recomputed by the fused dense op, so it is only
    asked for where the rule needs x itself); y is the output Tensor act(x). The slopes of the
    piecewise-linear activations are constants connected to `conn` (the op's inputs) with a
    zero derivative, as TF's ReluGrad: a penalty reaching them only that way gives zeros."""
    from . import math_ops as m
    if kind == "linear":
        return g
    if kind == "relu":
        return m._masked(g, y._data > 0, conn)
    if kind == "relu6":
        return m._masked(g, (y._data > 0) & (y._data < 6), conn)
    if kind == "leaky_relu":
        xa = y._data if alpha > 0 else pre()._data
        return m.multiply(g, m._zero_grad_step(np.where(xa > 0, 1.0, alpha), g, conn))
    if kind in ("elu", "selu"):
        from .array_ops import where
        pos = _wrap(y._data > 0)
        if kind == "elu":
            return where(pos, g, m.multiply(g, m.add(y, alpha)))
        return where(pos, m.multiply(g, _SELU_SCALE),
                     m.multiply(g, m.add(y, _SELU_SCALE * _SELU_ALPHA)))
    if kind == "sigmoid":
        return m.multiply(g, m.multiply(y, m.subtract(1.0, y)))
    if kind == "tanh":
        return m.multiply(g, m.subtract(1.0, m.multiply(y, y)))
    if kind in ("exponential",):
        return m.multiply(g, y)
    if kind == "hard_sigmoid":
        xa = pre()._data
        return m.multiply(g, m._zero_grad_step(((xa > -3) & (xa < 3)) * (1.0 / 6.0), g, conn))
    if kind == "softmax":
        return m.multiply(y, m.subtract(g, m.reduce_sum(m.multiply(g, y), -1, keepdims=True)))
    x = pre()
    if kind == "softplus":
        return m.multiply(g, sigmoid(x))
    if kind == "softsign":
        return m.divide(g, m.square(m.add(m.abs(x), 1.0)))
    if kind == "swish":
        s_ = sigmoid(x)
        return m.multiply(g, m.multiply(s_, m.add(m.multiply(x, m.subtract(1.0, s_)), 1.0)))
    if kind == "gelu":
        from .extra_math_ops import erf
        cdf = m.multiply(m.add(erf(m.multiply(x, 0.7071067811865476)), 1.0), 0.5)
        pdf = m.multiply(m.exp(m.multiply(m.square(x), -0.5)), 0.3989422804014327)
        return m.multiply(g, m.add(cdf, m.multiply(x, pdf)))
    if kind == "gelu_tanh":
        c, k = 0.7978845608028654, 0.044715
        t = tanh(m.multiply(m.add(x, m.multiply(m.multiply(x, m.square(x)), k)), c))
        du = m.multiply(m.add(m.multiply(m.square(x), 3 * k), 1.0), c)
        d = m.add(m.multiply(m.add(t, 1.0), 0.5),
                  m.multiply(m.multiply(x, 0.5), m.multiply(m.subtract(1.0, m.square(t)), du)))
        return m.multiply(g, d)
    raise NotImplementedError(f"[{kind}] has no second-order gradient rule")


def relu(features, name=None):
    return _activation("relu", features)


def relu6(features, name=None):
    return _activation("relu6", features)


def leaky_relu(features, alpha=0.2, name=None):
    return _activation("leaky_relu", features, float(alpha))


def elu(features, alpha=1.0, name=None):
    return _activation("elu", features, float(alpha))


def selu(features, name=None):
    return _activation("selu", features)


def sigmoid(x, name=None):
    return _activation("sigmoid", x)


def tanh(x, name=None):
    x = t_(x)
    if x._data.dtype.kind == "c":  # TF's complex tanh (the GPU: complex.cu); conj(1 - y^2) g
        from .math_ops import _unary
        return _unary("tanh", x, np.tanh, lambda g, a, o: g * (1 - o * o))
    return _activation("tanh", x)


def softplus(features, name=None):
    return _activation("softplus", features)


def softsign(features, name=None):
    return _activation("softsign", features)


def swish(features, beta=1.0, name=None):
    if beta != 1.0:
        from .math_ops import multiply
        return multiply(features, sigmoid(multiply(features, beta)))
    return _activation("swish", features)


silu = swish


def gelu(features, approximate=False, name=None):
    return _activation("gelu_tanh" if approximate else "gelu", features)


def hard_sigmoid(x, name=None):
    return _activation("hard_sigmoid", x)


def exponential(x, name=None):
    return _activation("exponential", x)


def _last_axis_op(op, fwd, bwd, x, axis):
    x = _float_input(op, x)
    a = x._data
    if a.ndim == 0:
        raise ValueError(f"[{op}] needs a tensor of rank >= 1, got a scalar")
    from ._common import _axis_in_range
    ax = _axis_in_range(op, axis, a.ndim, a.shape)
    moved = ax != a.ndim - 1
    src = contiguous(np.moveaxis(a, ax, -1) if moved else a)
    K = kernels(a)
    fwd, bwd = getattr(K, fwd), getattr(K, bwd)
    y = fwd(src)
    out = _wrap(np.moveaxis(y, -1, ax) if moved else y)
    if _tapes:
        def backward(g, n):
            gm = contiguous(np.moveaxis(g, ax, -1) if moved else g)
            d = bwd(gm, y)
            return (np.moveaxis(d, -1, ax) if moved else d,)

        def backward_t(g, n):
            from . import math_ops as m
            if op == "softmax":  # y * (g - sum(g * y))
                return (m.multiply(out, m.subtract(g, m.reduce_sum(m.multiply(g, out), ax,
                                                                   keepdims=True))),)
            # log_softmax: g - softmax * sum(g)
            return (m.subtract(g, m.multiply(m.exp(out), m.reduce_sum(g, ax, keepdims=True))),)
        record((x,), out, backward, backward_t, op)
    return out


def softmax(logits, axis=None, name=None):
    return _last_axis_op("softmax", "softmax_forward", "softmax_backward", logits,
                         -1 if axis is None else axis)


def log_softmax(logits, axis=None, name=None):
    return _last_axis_op("log_softmax", "log_softmax_forward", "log_softmax_backward", logits,
                         -1 if axis is None else axis)


# ---------------------------------------------------------------- fused losses


def softmax_cross_entropy_with_logits(labels, logits, axis=-1, name=None):
    """-sum(labels * log_softmax(logits)) over `axis`, in one stable C++ pass."""
    logits = _float_input("softmax_cross_entropy_with_logits", logits)
    labels = t_(labels)
    if labels._data.dtype != logits._data.dtype:
        labels = cast(labels, logits.dtype) if not isinstance(labels, Tensor) or \
            labels._data.dtype.kind != "f" else labels
    labels, logits = binary_operands("softmax_cross_entropy_with_logits", labels, logits)
    L, X = labels._data, logits._data
    if L.shape != X.shape:
        raise ValueError(f"[softmax_cross_entropy_with_logits] labels {tuple(L.shape)} and logits "
                         f"{tuple(X.shape)} must have the same shape")
    if X.ndim == 0:
        raise ValueError("[softmax_cross_entropy_with_logits] logits must have rank >= 1")
    from ._common import _axis_in_range
    ax = _axis_in_range("softmax_cross_entropy_with_logits", axis, X.ndim, X.shape)
    if ax != X.ndim - 1:
        L, X = np.moveaxis(L, ax, -1), np.moveaxis(X, ax, -1)
    lead = X.shape[:-1]
    C = X.shape[-1]
    loss, backprop = kernels(X).softmax_xent_forward(contiguous(L).reshape(-1, C),
                                             contiguous(X).reshape(-1, C))
    out = _wrap(loss.reshape(lead))
    if _tapes:
        def backward(g, needs):
            gl = g.reshape(-1, 1)
            glog = (gl * backprop).reshape(lead + (C,))
            glab = None
            if needs[0]:
                lsm = kernels(X).log_softmax_forward(contiguous(X).reshape(-1, C))
                glab = (-gl * lsm).reshape(lead + (C,))
                if ax != X.ndim - 1:
                    glab = np.moveaxis(glab, -1, ax)
            if ax != X.ndim - 1:
                glog = np.moveaxis(glog, -1, ax)
            return glab, glog

        def backward_t(g, needs):
            from . import math_ops as m
            from .array_ops import expand_dims
            ge = expand_dims(g, ax)
            glab = None
            if needs[0]:
                glab = m.negative(m.multiply(ge, log_softmax(logits, axis=ax)))
            glog = m.multiply(ge, m.subtract(softmax(logits, axis=ax), labels)) \
                if needs[1] else None
            return glab, glog
        record((labels, logits), out, backward, backward_t, "softmax_cross_entropy_with_logits")
    return out


softmax_cross_entropy_with_logits_v2 = softmax_cross_entropy_with_logits


def sparse_softmax_cross_entropy_with_logits(labels, logits, name=None):
    """-log_softmax(logits)[label] per row, in one stable C++ pass; labels are class ids."""
    logits = _float_input("sparse_softmax_cross_entropy_with_logits", logits)
    L = t_(labels)._data
    X = logits._data
    if L.dtype.kind not in "iu":
        if L.dtype.kind == "f" and np.all(L == np.round(L)):
            L = L.astype(np.int64)
        else:
            raise TypeError(f"[sparse_softmax_cross_entropy_with_logits] labels must be integers, "
                            f"got {L.dtype.name}")
    if L.dtype not in (np.int32, np.int64):
        L = L.astype(np.int64)
    if X.ndim < 1 or L.shape != X.shape[:-1]:
        raise ValueError(f"[sparse_softmax_cross_entropy_with_logits] labels shape {tuple(L.shape)} "
                         f"must equal logits shape {tuple(X.shape)} without its last axis")
    C = X.shape[-1]
    # GPU labels whose range the host knows in [0, C) (device.in_range: a Keras step's
    # uploaded batch) skip the kernel's label check, whose flag would be read back; others
    # are checked by the kernel (one 4-byte read), with the same error
    loss, backprop = kernels(X).sparse_softmax_xent_forward(contiguous(L).reshape(-1),
                                                    contiguous(X).reshape(-1, C),
                                                    checked=in_range(L, C))
    out = _wrap(loss.reshape(L.shape))
    if _tapes:
        def backward_t(g, n):
            from . import math_ops as m
            from .array_ops import expand_dims, one_hot
            oh = one_hot(_wrap(L), C, dtype=X.dtype.name)
            oh = const_like(oh._data, logits)
            return (m.multiply(expand_dims(g, -1), m.subtract(softmax(logits), oh)),)
        record((logits,), out, lambda g, n: ((g.reshape(-1, 1) * backprop).reshape(X.shape),),
               backward_t, "sparse_softmax_cross_entropy_with_logits")
    return out


def sigmoid_cross_entropy_with_logits(labels=None, logits=None, name=None):
    """max(x, 0) - x * z + log1p(exp(-|x|)), elementwise, in C++."""
    logits = _float_input("sigmoid_cross_entropy_with_logits", logits)
    labels = t_(labels)
    if labels._data.dtype != logits._data.dtype and labels._data.dtype.kind != "f":
        labels = cast(labels, logits.dtype)
    labels, logits = binary_operands("sigmoid_cross_entropy_with_logits", labels, logits)
    Z, X = labels._data, logits._data
    if Z.shape != X.shape:
        raise ValueError(f"[sigmoid_cross_entropy_with_logits] labels {tuple(Z.shape)} and logits "
                         f"{tuple(X.shape)} must have the same shape")
    loss, backprop = kernels(X).sigmoid_xent_forward(contiguous(Z), contiguous(X))
    out = _wrap(loss)
    if _tapes:
        def backward_t(g, n):
            from . import math_ops as m
            return (m.negative(m.multiply(g, logits)) if n[0] else None,
                    m.multiply(g, m.subtract(sigmoid(logits), labels)) if n[1] else None)
        record((labels, logits), out,
               lambda g, n: (-g * X if n[0] else None, g * backprop), backward_t,
               "sigmoid_cross_entropy_with_logits")
    return out


def weighted_cross_entropy_with_logits(labels, logits, pos_weight, name=None):
    from . import math_ops as m
    labels, logits = binary_operands("weighted_cross_entropy_with_logits", labels, logits)
    log_weight = 1 + (pos_weight - 1) * labels
    return m.add((1 - labels) * logits,
                 log_weight * (m.log1p(m.exp(-m.abs(logits))) + relu(-logits)))


# ---------------------------------------------------------------- bias and dense


def bias_add(value, bias, data_format=None, name=None):
    value, bias = binary_operands("bias_add", value, bias)
    X, b = value._data, bias._data
    if b.ndim != 1:
        raise ValueError(f"[bias_add] bias must be 1-D, got shape {tuple(b.shape)}")
    channels_first = data_format is not None and data_format.upper().startswith("NC")
    if X.ndim < 2 and channels_first or X.ndim < 1:
        raise ValueError(f"[bias_add] value must have rank >= 1, got {tuple(X.shape)}")
    cax = 1 if channels_first else X.ndim - 1
    if X.shape[cax] != b.shape[0]:
        raise ValueError(f"[bias_add] bias of shape {tuple(b.shape)} does not match the channel "
                         f"axis of value {tuple(X.shape)}")
    if channels_first:
        shp = [1] * X.ndim
        shp[1] = -1
        y = X + b.reshape(shp)
    else:
        y = kernels(X).bias_add_forward(contiguous(X), contiguous(b))
    out = _wrap(y)
    if _tapes:
        def backward(g, needs):
            if channels_first:
                db = g.sum(axis=tuple(i for i in range(g.ndim) if i != 1))
            else:
                db = kernels(g).bias_add_backward(contiguous(g)) if needs[1] else None
            return g, db

        def backward_t(g, needs):
            from .math_ops import reduce_sum
            db = reduce_sum(g, tuple(i for i in range(X.ndim) if i != cax)) if needs[1] else None
            return g, db
        record((value, bias), out, backward, backward_t, "bias_add")
    return out


_DENSE_ACTS = {None: "linear", "linear": "linear", "relu": "relu", "relu6": "relu6",
               "sigmoid": "sigmoid", "tanh": "tanh", "softmax": "softmax", "elu": "elu",
               "selu": "selu", "softplus": "softplus", "softsign": "softsign", "swish": "swish",
               "silu": "swish", "gelu": "gelu", "leaky_relu": "leaky_relu",
               "hard_sigmoid": "hard_sigmoid", "exponential": "exponential"}
_DENSE_ALPHA = {"leaky_relu": 0.2, "elu": 1.0}  # the default alpha (0 for the others)


def dense(x, kernel, bias=None, activation=None, alpha=None, name=None):
    """act(x @ kernel + bias) in one fused C++ call (GEMM + bias/activation epilogue).

    x: (M, K), kernel: (K, N), bias: (N,) or None; activation a name from _DENSE_ACTS.
    """
    x, kernel = binary_operands("dense", x, kernel)
    if bias is not None:
        _, bias = binary_operands("dense", x, bias)
    kind = _DENSE_ACTS.get(activation)
    if kind is None:
        raise ValueError(f"[dense] unsupported fused activation {activation!r}")
    if alpha is None:
        alpha = _DENSE_ALPHA.get(kind, 0.0)
    X, W = x._data, kernel._data
    if X.ndim != 2 or W.ndim != 2 or X.shape[1] != W.shape[0]:
        raise ValueError(f"[dense] input {tuple(X.shape)} does not match kernel {tuple(W.shape)}")
    X = contiguous(X)
    b = None if bias is None else bias._data
    y, z = kernels(X).dense_forward(X, W, b, kind, float(alpha))
    out = _wrap(y)
    if _tapes:
        has_bias = b is not None

        def backward(g, needs):
            dx, dw, db = kernels(X).dense_backward(contiguous(g), X, W, y, z, kind, float(alpha),
                                           bool(needs[0]), has_bias)
            return (dx, dw, db) if has_bias else (dx, dw)

        def backward_t(g, needs):
            from . import math_ops as m

            def pre():  # the pre-activation, recomputed with recorded ops
                zt = m.matmul(x, kernel)
                return bias_add(zt, bias) if has_bias else zt
            dz = _act_grad_t(kind, g, pre, out, float(alpha),
                             (x, kernel, bias) if has_bias else (x, kernel))
            dx = m.matmul(dz, kernel, transpose_b=True) if needs[0] else None
            dw = m.matmul(x, dz, transpose_a=True) if needs[1] else None
            if not has_bias:
                return dx, dw
            return dx, dw, (m.reduce_sum(dz, 0) if needs[2] else None)
        record((x, kernel, bias) if has_bias else (x, kernel), out, backward, backward_t,
               "dense")
    return out


# ---------------------------------------------------------------- misc


def l2_loss(t, name=None):
    from .math_ops import reduce_sum, square
    return reduce_sum(square(t)) / 2


def moments(x, axes, shift=None, keepdims=False, name=None):
    # The variance sees the mean's dependence on x (TF's moments stops its gradient): the
    # first derivative is the same (that term is zero), and the second is right, as the
    # Hessians and gradient penalties through LayerNormalization/GroupNormalization need.
    from .math_ops import reduce_mean, square, subtract
    from .array_ops import squeeze
    mean = reduce_mean(x, axes, keepdims=True)
    var = reduce_mean(square(subtract(x, mean)), axes, keepdims=True)
    if not keepdims:
        mean, var = squeeze(mean, axes), squeeze(var, axes)
    return mean, var


def batch_normalization(x, mean, variance, offset, scale, variance_epsilon, name=None):
    from . import math_ops as m
    inv = m.rsqrt(m.add(variance, variance_epsilon))
    if scale is not None:
        inv = m.multiply(inv, scale)
    y = m.multiply(x, inv)
    shift = m.negative(m.multiply(mean, inv))
    if offset is not None:
        shift = m.add(shift, offset)
    return m.add(y, shift)


def _philox_dropout(x, rate, rng):
    """Dropout of a GPU tensor: the counter-based Philox kernel regenerates the same mask in the
    backward pass from (seed, offset), so no mask is stored. The seed is drawn from the seeded
    host stream `rng`, so seeded runs repeat."""
    a = x._data
    k = kernels(a)
    s = int(rng.integers(0, 2**63 - 1))
    out = _wrap(k.dropout(a, rate, s, 0))
    if _tapes:
        _record_philox(x, out, k, rate, s)
    return out


def _philox_mask(g, k, rate, s):
    """g times the dropout mask of seed s (linear in g: its gradient is the same op)."""
    out = _wrap(k.dropout_backward(g._data, rate, s, 0))
    if _tapes:
        _record_philox(g, out, k, rate, s)
    return out


def _record_philox(x, out, k, rate, s):
    record((x,), out, lambda g, n: (k.dropout_backward(g, rate, s, 0),),
           lambda g, n: (_philox_mask(g, k, rate, s),), "dropout")


def dropout(x, rate=None, noise_shape=None, seed=None, name=None, keep_prob=None):
    """Zeroes elements with probability `rate` and scales the rest by 1/(1-rate)."""
    from .random_ops import _generator
    x = _float_input("dropout", x)
    if rate is None:
        if keep_prob is None:
            raise ValueError("[dropout] give rate (or keep_prob)")
        rate = 1.0 - float(keep_prob)
    rate = float(rate._data) if isinstance(rate, Tensor) else float(rate)
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"[dropout] rate must be in [0, 1), got {rate}")
    if rate == 0.0:
        return x
    a = x._data
    shp = a.shape if noise_shape is None else tuple(
        a.shape[i] if s is None else int(s) for i, s in enumerate(noise_shape))
    if type(a) is np.ndarray:
        from .random_ops import _tf_kernel_stream
        tfg = _tf_kernel_stream("uniform", a.dtype, seed)
        if tfg is not None:   # seeded: TF's mask, uniform(noise_shape, seed) >= rate
            keep = tfg.uniform(shp, dtype=a.dtype)._data >= rate
            mask = (keep * _asarray(1.0 / (1.0 - rate), a.dtype)).astype(a.dtype, copy=False)
            out = _wrap(a * mask)
            if _tapes:
                record((x,), out, lambda g, n: (g * mask,),
                       lambda g, n: (multiply(g, _wrap(mask)),), "dropout")
            return out
    rng = _generator(seed, advance=True)   # TF: a fixed seed still gives a new mask per call
    if type(a) is not np.ndarray and shp == a.shape:
        return _philox_dropout(x, rate, rng)
    keep = (rng.random(shp, dtype=np.float32) >= rate)
    scale = _asarray(1.0 / (1.0 - rate), a.dtype)
    mask = keep * scale
    mask = mask.astype(a.dtype, copy=False)
    if type(a) is not np.ndarray:
        from ..framework.device import to_device
        mask = to_device(mask, "cuda")
    out = _wrap(a * mask)
    if _tapes:
        record((x,), out, lambda g, n: (g * mask,),
               lambda g, n: (multiply(g, _wrap(mask)),), "dropout")
    return out


def normalize_l2(x, axis=None, epsilon=1e-12, name=None):
    from . import math_ops as m
    sq = m.reduce_sum(m.square(x), axis, keepdims=True)
    return m.multiply(x, m.rsqrt(m.maximum(sq, epsilon)))


l2_normalize = normalize_l2
