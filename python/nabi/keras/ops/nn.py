"""`keras.ops` neural-network ops (Keras 3's keras/src/ops/nn.py) on nabi.nn. Convolutions and
pools take Keras 3's arguments (`strides`, `padding='valid'|'same'`, `data_format`,
`dilation_rate`, kernels laid out (*spatial, in, out)) and run channels-last."""
import numpy as np

import nabi as tf

from ._common import FLOATX, norm_axis, shape_of, t_, to_float

EPSILON = 1e-7


def relu(x):
    x = t_(x)
    if x.dtype.is_integer:          # Keras 3 (tf.nn.relu) keeps integer dtypes
        return tf.maximum(x, tf.zeros_like(x))
    return tf.nn.relu(x)


def relu6(x):
    x = t_(x)
    if x.dtype.is_integer:
        return tf.clip_by_value(x, t_(0, x.dtype), t_(6, x.dtype))
    return tf.nn.relu6(x)


def sigmoid(x):
    return tf.sigmoid(to_float(x))


def softplus(x):
    return tf.nn.softplus(to_float(x))


def softsign(x):
    return tf.nn.softsign(to_float(x))


def silu(x):
    x = to_float(x)
    return x * tf.sigmoid(x)


swish = silu


def log_sigmoid(x):
    return tf.math.log_sigmoid(to_float(x))


def leaky_relu(x, negative_slope=0.2):
    return tf.nn.leaky_relu(to_float(x), alpha=negative_slope)


def hard_sigmoid(x):
    """relu6(x + 3) / 6, Keras 3's definition."""
    x = to_float(x)
    return tf.nn.relu6(x + t_(3.0, x.dtype)) / t_(6.0, x.dtype)


def hard_silu(x):
    x = to_float(x)
    return x * hard_sigmoid(x)


hard_swish = hard_silu


def elu(x, alpha=1.0):
    x = to_float(x)
    r = tf.nn.elu(x)
    return r if alpha == 1.0 else tf.where(x > 0, x, r * t_(alpha, x.dtype))


def selu(x):
    return tf.nn.selu(to_float(x))


def gelu(x, approximate=True):
    """Keras 3's default is the tanh approximation."""
    return tf.nn.gelu(to_float(x), approximate=approximate)


def softmax(x, axis=-1):
    x = to_float(x)
    if isinstance(axis, (list, tuple)):
        return tf.exp(x - tf.reduce_logsumexp(x, axis=list(axis), keepdims=True))
    return tf.nn.softmax(x, axis=norm_axis("softmax", axis, x.shape.rank))


def log_softmax(x, axis=-1):
    x = to_float(x)
    if isinstance(axis, (list, tuple)):
        return x - tf.reduce_logsumexp(x, axis=list(axis), keepdims=True)
    return tf.nn.log_softmax(x, axis=norm_axis("log_softmax", axis, x.shape.rank))


def one_hot(x, num_classes, axis=-1, dtype=None, sparse=False):
    if sparse:
        raise NotImplementedError("[one_hot] sparse=True is not supported by nabi")
    x = t_(x)
    if x.dtype.is_floating:
        x = tf.cast(x, tf.int32)
    return tf.one_hot(x, int(num_classes), axis=axis, dtype=tf.as_dtype(dtype or FLOATX))


def multi_hot(inputs, num_classes=None, axis=-1, dtype=None, sparse=False, **kwargs):
    num_classes = kwargs.pop("num_tokens", num_classes)
    if num_classes is None:
        raise ValueError("[multi_hot] num_classes is required")
    x = t_(inputs)
    rank1 = x.shape.rank == 1
    if rank1:
        x = tf.expand_dims(x, 0)
    oh = one_hot(x, num_classes, axis=axis, dtype=dtype, sparse=sparse)
    r = tf.reduce_max(oh, axis=-2 if axis == -1 else 1)
    return tf.squeeze(r, 0) if rank1 else r


# ----------------------------------------------------------------------------- convolutions
def _fmt(op, data_format):
    df = data_format or "channels_last"
    if df not in ("channels_last", "channels_first"):
        raise ValueError(f"[{op}] data_format must be 'channels_last' or 'channels_first', "
                         f"got {data_format!r}")
    return df


def _to_last(x, df):
    if df == "channels_first":
        nd = x.shape.rank
        return tf.transpose(x, [0] + list(range(2, nd)) + [1])
    return x


def _from_last(x, df):
    if df == "channels_first":
        nd = x.shape.rank
        return tf.transpose(x, [0, nd - 1] + list(range(1, nd - 1)))
    return x


def _tuple(op, v, n, what):
    if isinstance(v, int):
        return [v] * n
    v = list(v)
    if len(v) == 1:
        v = v * n
    if len(v) != n:
        raise ValueError(f"[{op}] {what} must be an int or {n} ints, got {v}")
    return [int(e) for e in v]


def _pad(op, padding):
    p = str(padding).lower()
    if p not in ("valid", "same"):
        raise ValueError(f"[{op}] padding must be 'valid' or 'same', got {padding!r}")
    return p.upper()


def _check_conv(op, x, k, n_extra=2):
    xs, ks = shape_of(x), shape_of(k)
    if x.shape.rank not in (3, 4, 5) or k.shape.rank != x.shape.rank:
        raise ValueError(f"[{op}] inputs must be 3-D to 5-D (batch, *spatial, channels) and the "
                         f"kernel of the same rank (*spatial, in, out); got inputs {xs}, "
                         f"kernel {ks}")


def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    df = _fmt("conv", data_format)
    x = _to_last(t_(inputs), df)
    k = t_(kernel, x.dtype)
    _check_conv("conv", x, k)
    n = x.shape.rank - 2
    cin, kin, cout = shape_of(x)[-1], shape_of(k)[-2], shape_of(k)[-1]
    groups = cin // kin if kin else 0
    if kin == 0 or cin % kin or cout % groups:
        raise ValueError(f"[conv] the kernel's input channels ({kin}) must equal the inputs' "
                         f"channels ({cin}) or divide them into groups that also divide the "
                         f"{cout} output channels: inputs {shape_of(x)} (channels last), "
                         f"kernel {shape_of(k)}")
    kw = dict(strides=_tuple("conv", strides, n, "strides"), padding=_pad("conv", padding),
              dilations=_tuple("conv", dilation_rate, n, "dilation_rate"))
    if groups == 1:
        y = tf.nn.convolution(x, k, **kw)
    else:       # grouped (Keras 3's groups): input group g meets output channels of group g
        xs, ks = tf.split(x, groups, axis=-1), tf.split(k, groups, axis=-1)
        y = tf.concat([tf.nn.convolution(a, b, **kw) for a, b in zip(xs, ks)], axis=-1)
    return _from_last(y, df)


def depthwise_conv(inputs, kernel, strides=1, padding="valid", data_format=None,
                   dilation_rate=1):
    df = _fmt("depthwise_conv", data_format)
    x = _to_last(t_(inputs), df)
    k = t_(kernel, x.dtype)
    _check_conv("depthwise_conv", x, k)
    n = x.shape.rank - 2
    if n == 3:
        raise NotImplementedError("[depthwise_conv] 3-D depthwise convolution is not in nabi")
    if shape_of(k)[-2] != shape_of(x)[-1]:
        raise ValueError(f"[depthwise_conv] kernel {shape_of(k)} must have the inputs' "
                         f"{shape_of(x)[-1]} channels in its second-to-last dim")
    s = _tuple("depthwise_conv", strides, n, "strides")
    d = _tuple("depthwise_conv", dilation_rate, n, "dilation_rate")
    if n == 1:
        x, k = tf.expand_dims(x, 1), tf.expand_dims(k, 0)
        s, d = [1] + s, [1] + d
    y = tf.nn.depthwise_conv2d(x, k, strides=[1] + s + [1], padding=_pad("depthwise_conv", padding),
                               dilations=d)
    if n == 1:
        y = tf.squeeze(y, 1)
    return _from_last(y, df)


def separable_conv(inputs, depthwise_kernel, pointwise_kernel, strides=1, padding="valid",
                   data_format=None, dilation_rate=1):
    y = depthwise_conv(inputs, depthwise_kernel, strides, padding, data_format, dilation_rate)
    return conv(y, pointwise_kernel, 1, "valid", data_format, 1)


def _deconv_length(n, k, padding, output_padding, stride, dilation):
    k = k + (k - 1) * (dilation - 1)
    if output_padding is None:
        return n * stride + max(k - stride, 0) if padding == "VALID" else n * stride
    pad = k // 2 if padding == "SAME" else 0
    return (n - 1) * stride + k - 2 * pad + output_padding


def conv_transpose(inputs, kernel, strides, padding="valid", output_padding=None,
                   data_format=None, dilation_rate=1):
    """Kernel laid out (*spatial, out_channels, in_channels), as Keras 3."""
    df = _fmt("conv_transpose", data_format)
    x = _to_last(t_(inputs), df)
    k = t_(kernel, x.dtype)
    _check_conv("conv_transpose", x, k)
    n = x.shape.rank - 2
    if shape_of(k)[-1] != shape_of(x)[-1]:
        raise ValueError(f"[conv_transpose] kernel {shape_of(k)} (*spatial, out, in) must have "
                         f"the inputs' {shape_of(x)[-1]} channels last")
    s = _tuple("conv_transpose", strides, n, "strides")
    d = _tuple("conv_transpose", dilation_rate, n, "dilation_rate")
    p = _pad("conv_transpose", padding)
    op_ = [None] * n if output_padding is None else _tuple("conv_transpose", output_padding, n,
                                                          "output_padding")
    xs, ks = shape_of(x), shape_of(k)
    out = [xs[0]] + [_deconv_length(xs[1 + i], ks[i], p, op_[i], s[i], d[i]) for i in range(n)] \
        + [ks[-2]]
    fn = {1: tf.nn.conv1d_transpose, 2: tf.nn.conv2d_transpose, 3: tf.nn.conv3d_transpose}[n]
    kw = {} if all(e == 1 for e in d) else {"dilations": d}
    y = fn(x, k, out, s, padding=p, **kw)
    return _from_last(y, df)


def _pool(op, fn, inputs, pool_size, strides, padding, data_format):
    df = _fmt(op, data_format)
    x = _to_last(t_(inputs), df)
    if x.shape.rank not in (3, 4, 5):
        raise ValueError(f"[{op}] inputs must be 3-D to 5-D (batch, *spatial, channels), got "
                         f"shape {shape_of(x)}")
    n = x.shape.rank - 2
    ps = _tuple(op, pool_size, n, "pool_size")
    st = ps if strides is None else _tuple(op, strides, n, "strides")
    return _from_last(fn(x, ps, st, _pad(op, padding)), df)


def max_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    return _pool("max_pool", tf.nn.max_pool, inputs, pool_size, strides, padding, data_format)


def average_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    return _pool("average_pool", tf.nn.avg_pool, inputs, pool_size, strides, padding,
                 data_format)


def _adaptive_pool_windows(length, out):
    """Keras 3.15's adaptive pooling bins along one axis: bin i covers
    [floor(i * length / out), ceil((i + 1) * length / out)), so bins overlap when the length
    does not divide (7 -> 3 gives [0, 3), [2, 5), [4, 7)) and repeat when out > length."""
    return [((i * length) // out, -((-(i + 1) * length) // out)) for i in range(out)]


def _adaptive_pool(op, reduce, inputs, output_size, data_format):
    x = t_(inputs)
    if x.shape.rank not in (3, 4, 5):
        raise ValueError(f"[{op}] inputs must be 3-D to 5-D (batch, *spatial, channels), got "
                         f"shape {shape_of(x)}")
    df = _fmt(op, data_format)
    x = _to_last(x, df)
    n = x.shape.rank - 2
    outs = _tuple(op, output_size, n, "output_size")
    sizes = shape_of(x)[1:-1]
    if any(o < 1 for o in outs) or any(s < 1 for s in sizes):
        raise ValueError(f"[{op}] output_size {tuple(outs)} and the spatial sizes {tuple(sizes)} "
                         f"of inputs {shape_of(inputs)} must be positive")
    for ax in range(1, n + 1):      # axis by axis, as Keras (a box pools separably)
        bins = _adaptive_pool_windows(sizes[ax - 1], outs[ax - 1])
        parts = []
        for a, b in bins:
            idx = [slice(None)] * (n + 2)
            idx[ax] = slice(a, b)
            parts.append(reduce(x[tuple(idx)], axis=ax, keepdims=True))
        x = tf.concat(parts, axis=ax)
    return _from_last(x, df)


def adaptive_average_pool(inputs, output_size, data_format=None):
    """Keras 3: average over the bins of _adaptive_pool_windows on each spatial axis, so any
    input size gives `output_size` (an int or one per spatial axis)."""
    return _adaptive_pool("adaptive_average_pool", tf.reduce_mean, inputs, output_size,
                          data_format)


def adaptive_max_pool(inputs, output_size, data_format=None):
    """Keras 3: the maximum over the bins of _adaptive_pool_windows on each spatial axis."""
    return _adaptive_pool("adaptive_max_pool", tf.reduce_max, inputs, output_size, data_format)


# ----------------------------------------------------------------------------- losses
def _check_same(op, a, b):
    if shape_of(a) != shape_of(b):
        raise ValueError(f"[{op}] target and output must have the same shape, got "
                         f"{shape_of(a)} and {shape_of(b)}")


def binary_crossentropy(target, output, from_logits=False):
    """Elementwise; probabilities are clipped to [eps, 1 - eps] (eps = 1e-7), as Keras 3."""
    output = to_float(output)
    target = t_(target, output.dtype)
    _check_same("binary_crossentropy", target, output)
    if from_logits:
        return tf.nn.sigmoid_cross_entropy_with_logits(labels=target, logits=output)
    o = tf.clip_by_value(output, EPSILON, 1.0 - EPSILON)
    one = t_(1.0, o.dtype)
    return -(target * tf.math.log(o) + (one - target) * tf.math.log(one - o))


def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    output = to_float(output)
    target = t_(target, output.dtype)
    _check_same("categorical_crossentropy", target, output)
    if from_logits:   # Keras's TF backend: the fused op, whose logits gradient is
        # softmax - target (TF's; exact only for targets summing to 1)
        return tf.nn.softmax_cross_entropy_with_logits(labels=target, logits=output, axis=axis)
    o = output / tf.reduce_sum(output, axis=axis, keepdims=True)
    o = tf.clip_by_value(o, EPSILON, 1.0 - EPSILON)
    return -tf.reduce_sum(target * tf.math.log(o), axis=axis)


def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    output = to_float(output)
    target = t_(target)
    if target.dtype.is_floating:
        target = tf.cast(target, tf.int32)
    if len(shape_of(target)) == len(shape_of(output)) and shape_of(target)[-1] == 1:
        target = tf.squeeze(target, -1)
    if shape_of(target) != shape_of(output)[:-1]:
        raise ValueError(f"[sparse_categorical_crossentropy] target shape {shape_of(target)} "
                         f"must be output shape {shape_of(output)} without its last axis")
    oh = tf.one_hot(target, shape_of(output)[axis], dtype=output.dtype, axis=axis)
    return categorical_crossentropy(oh, output, from_logits=from_logits, axis=axis)


# ----------------------------------------------------------------------------- normalization
def moments(x, axes, keepdims=False, synchronized=False):
    x = to_float(x)
    axes = norm_axis("moments", list(axes) if isinstance(axes, (list, tuple)) else [axes],
                     x.shape.rank)
    m = tf.reduce_mean(x, axis=axes, keepdims=True)
    v = tf.reduce_mean(tf.square(x - m), axis=axes, keepdims=True)
    if not keepdims:
        m, v = tf.squeeze(m, axes), tf.squeeze(v, axes)
    return m, v


def batch_normalization(x, mean, variance, axis, offset=None, scale=None, epsilon=1e-3):
    x = to_float(x)
    nd = x.shape.rank
    a = norm_axis("batch_normalization", axis, nd)
    shape = [-1 if i == a else 1 for i in range(nd)]

    def b(v):
        v = t_(v, x.dtype)
        if v.shape.rank == nd and v.shape.rank > 1:     # already laid out (1, .., C, .., 1)
            np.broadcast_shapes(shape_of(v), shape_of(x))
            return v
        if v.shape.rank != 1 or shape_of(v)[0] != shape_of(x)[a]:
            raise ValueError(f"[batch_normalization] mean/variance/offset/scale must be 1-D of "
                             f"length {shape_of(x)[a]} (axis {axis} of x {shape_of(x)}), got "
                             f"shape {shape_of(v)}")
        return tf.reshape(v, shape)
    inv = tf.math.rsqrt(b(variance) + t_(epsilon, x.dtype))
    if scale is not None:
        inv = inv * b(scale)
    y = (x - b(mean)) * inv
    return y if offset is None else y + b(offset)


def normalize(x, axis=-1, order=2, epsilon=None):
    from .linalg import norm
    x = to_float(x)
    eps = 1e-7 if epsilon is None else epsilon
    if order == 2:      # Keras 3: the L2 norm over all of `axis` (a 2-tuple too, not the
        ax = norm_axis("normalize", axis, x.shape.rank)      # matrix 2-norm)
        nrm = tf.sqrt(tf.reduce_sum(tf.square(x), axis=ax, keepdims=True))
        return x / tf.maximum(nrm, t_(eps, x.dtype))
    nrm = norm(x, ord=order, axis=axis, keepdims=True)
    return x / tf.maximum(nrm, t_(eps, x.dtype))


def ctc_loss(target, output, target_length, output_length, mask_index=0):
    """Per-sequence CTC loss; output holds logits (batch, time, classes)."""
    output = to_float(output)
    return tf.nn.ctc_loss(labels=t_(target, tf.int32), logits=output,
                          label_length=t_(target_length, tf.int32),
                          logit_length=t_(output_length, tf.int32),
                          logits_time_major=False, blank_index=mask_index)


# ----------------------------------------------------------------------------- more of Keras 3
def celu(x, alpha=1.0):
    x = to_float(x)
    a = t_(alpha, x.dtype)
    return tf.maximum(x, 0.0) + a * tf.math.expm1(tf.minimum(x, 0.0) / a)


def glu(x, axis=-1):
    """a * sigmoid(b), a and b the halves of x along axis."""
    x = to_float(x)
    n = shape_of(x)[axis]
    if n % 2:
        raise ValueError(f"[glu] axis {axis} of x {shape_of(x)} must have an even size")
    a, b = tf.split(x, 2, axis=axis)
    return a * tf.sigmoid(b)


def sparsemax(x, axis=-1):
    """Sparsemax (Martins & Astudillo 2016): the Euclidean projection of x onto the
    probability simplex along `axis`, max(x - tau, 0) with tau = (sum of the k largest - 1) / k,
    k the support size (the largest j with 1 + j * z_(j) > z_(1) + ... + z_(j), z sorted
    descending). Outputs are >= 0 and sum to 1. Keras 3.15.1 sums the support's cumulative sums
    instead (keras-team/keras#23425, fixed upstream by #23469), which gives outputs that do not
    sum to 1 once two or more entries are in the support; nabi follows the paper and the fix.
    Gradients go through sort and the support's sum (the support is piecewise constant)."""
    x = t_(x)
    if not x.dtype.is_floating:
        raise TypeError(f"[sparsemax] x must be floating, got dtype {x.dtype.name} "
                        f"(shape {shape_of(x)})")
    nd = x.shape.rank
    if nd == 0:
        raise ValueError("[sparsemax] x must have rank >= 1, got a scalar")
    ax = norm_axis("sparsemax", axis, nd)
    srt = tf.sort(x, direction="DESCENDING", axis=ax)
    csum = tf.cumsum(srt, axis=ax)
    rshape = [1] * nd
    rshape[ax] = -1
    r = t_(np.arange(1, shape_of(x)[ax] + 1).reshape(rshape), x.dtype)
    support = tf.greater(srt - (csum - 1.0) / r, 0.0)
    k = tf.reduce_sum(tf.cast(support, x.dtype), axis=ax, keepdims=True)
    tau = (tf.reduce_sum(tf.where(support, srt, tf.zeros_like(srt)), axis=ax,
                         keepdims=True) - 1.0) / k
    return tf.maximum(x - tau, tf.zeros_like(x))


def hard_tanh(x):
    x = to_float(x)
    return tf.clip_by_value(x, -1.0, 1.0)


def hard_shrink(x, threshold=0.5):
    x = to_float(x)
    return tf.where(tf.abs(x) > threshold, x, tf.zeros_like(x))


def soft_shrink(x, threshold=0.5):
    x = to_float(x)
    th = t_(threshold, x.dtype)
    return tf.where(x > th, x - th, tf.where(x < -th, x + th, tf.zeros_like(x)))


def tanh_shrink(x):
    x = to_float(x)
    return x - tf.tanh(x)


def squareplus(x, b=4):
    x = to_float(x)
    return (x + tf.sqrt(tf.square(x) + t_(b, x.dtype))) / 2.0


def sparse_plus(x):
    """0 for x <= -1, (x + 1)^2 / 4 for |x| < 1, x for x >= 1."""
    x = to_float(x)
    return tf.where(x <= -1.0, tf.zeros_like(x),
                    tf.where(x < 1.0, tf.square(x + 1.0) / 4.0, x))


def threshold(x, threshold, default_value):
    x = to_float(x)
    return tf.where(x > threshold, x, t_(default_value, x.dtype))


def psnr(x1, x2, max_val):
    from ._common import pair
    a, b = pair(x1, x2)
    a, b = to_float(a), to_float(b)
    if shape_of(a) != shape_of(b):
        raise ValueError(f"[psnr] x1 and x2 must have one shape, got {shape_of(a)} and "
                         f"{shape_of(b)}")
    mse = tf.reduce_mean(tf.square(a - b))
    return 20.0 * tf.math.log(t_(max_val, a.dtype)) / np.log(10.0) \
        - 10.0 * tf.math.log(mse) / np.log(10.0)


def layer_normalization(x, gamma=None, beta=None, axis=-1, epsilon=None, rms_scaling=False):
    """Keras 3: gamma/beta of a lower rank than x are laid along `axis` (shape (3,) for
    axis=1 of a (2, 3, 4) x), unless axis is the last one; rms_scaling divides by the
    standard deviation without centring."""
    x = to_float(x)
    eps = 1e-7 if epsilon is None else epsilon
    nd = x.shape.rank
    ax = sorted(norm_axis("layer_normalization", list(axis) if isinstance(axis, (list, tuple))
                          else [axis], nd))
    bshape = [shape_of(x)[i] if i in ax else 1 for i in range(nd)]

    def along(v):
        v = t_(v, x.dtype)
        return tf.reshape(v, bshape) if v.shape.rank != nd and ax != [nd - 1] else v
    m = tf.reduce_mean(x, axis=ax, keepdims=True)
    v = tf.reduce_mean(tf.square(x - m), axis=ax, keepdims=True)
    inv = tf.math.rsqrt(v + t_(eps, x.dtype))
    if rms_scaling:
        y = x * inv
        return y if gamma is None else y * along(gamma)
    y = (x - m) * inv
    if gamma is not None:
        y = y * along(gamma)
    return y if beta is None else y + along(beta)


def rms_normalization(x, scale=None, axis=-1, epsilon=None):
    x = to_float(x)
    eps = 1e-7 if epsilon is None else epsilon
    ms = tf.reduce_mean(tf.square(x), axis=norm_axis("rms_normalization", axis, x.shape.rank),
                        keepdims=True)
    y = x * tf.math.rsqrt(ms + t_(eps, x.dtype))
    return y if scale is None else y * t_(scale, x.dtype)


def dot_product_attention(query, key, value, bias=None, mask=None, scale=None, is_causal=False,
                          flash_attention=None, attn_logits_soft_cap=None):
    """Keras 3's layout: query (B, T, N, H), key/value (B, S, N, H) (3-D without B works
    too); softmax(q k^T * scale + bias, masked) v, scale defaulting to 1/sqrt(H)."""
    q = to_float(query)
    k, v = t_(key, q.dtype), t_(value, q.dtype)
    unbatched = q.shape.rank == 3
    if unbatched:
        q, k, v = tf.expand_dims(q, 0), tf.expand_dims(k, 0), tf.expand_dims(v, 0)
    if q.shape.rank != 4 or k.shape.rank != 4 or v.shape.rank != 4:
        raise ValueError(f"[dot_product_attention] query, key and value must be 4-D (B, T, N, H),"
                         f" got {shape_of(query)}, {shape_of(key)}, {shape_of(value)}")
    B, T, N, H = shape_of(q)
    S, Nk = shape_of(k)[1], shape_of(k)[2]
    if Nk != N and Nk > 0 and N % Nk == 0 and shape_of(v)[2] == Nk:
        # grouped-query attention (Keras 3): each key/value head serves N // Nk query heads
        k, v = tf.repeat(k, N // Nk, axis=2), tf.repeat(v, N // Nk, axis=2)
    if shape_of(k)[0] != B or shape_of(k)[2:] != (N, H) or shape_of(v)[:3] != (B, S, N):
        raise ValueError(f"[dot_product_attention] key {shape_of(key)} and value "
                         f"{shape_of(value)} do not fit query {shape_of(query)}")
    sc = 1.0 / np.sqrt(H) if scale is None else scale
    logits = tf.einsum("btnh,bsnh->bnts", q, k) * t_(sc, q.dtype)
    if attn_logits_soft_cap is not None:
        cap = t_(attn_logits_soft_cap, q.dtype)
        logits = tf.tanh(logits / cap) * cap
    if bias is not None:
        logits = logits + t_(bias, q.dtype)
    keep = None
    if mask is not None:
        keep = t_(mask, tf.bool)
    if is_causal:
        causal = t_(np.tril(np.ones((T, S), bool)))
        keep = causal if keep is None else tf.logical_and(keep, causal)
    if keep is not None:
        big = t_(np.finfo(q.dtype.as_numpy_dtype).min / 2, q.dtype)
        logits = tf.where(keep, logits, big)
    w = tf.nn.softmax(logits, axis=-1)
    out = tf.einsum("bnts,bsnh->btnh", w, v)
    return tf.squeeze(out, 0) if unbatched else out


def _ctc_decode_greedy_gpu(x, sequence_lengths, merge_repeated, mask_index):
    """Greedy ctc_decode of GPU logits (batch, time, classes) on the device
    (cuda_backend.ctc_greedy, csrc/cuda/ctc.cu): nothing is read back (the lengths are clamped
    to [0, time] on the device, as the host path does). None where it does not apply (host
    logits), so the host path runs and raises its errors."""
    from ...framework.device import DeviceArray, backend
    from ...ops._common import _wrap
    from ...ops.nn_extra_ops import _ctc_index_gpu
    a = x._data
    if type(a) is not DeviceArray or a.ndim != 3 or a.shape[2] < 1:
        return None
    B, T, C = a.shape
    lens = _ctc_index_gpu(sequence_lengths).reshape(-1)
    blank = C - 1 if mask_index is None else int(mask_index)
    if lens.shape != (B,) or not 0 <= blank < C:
        return None
    if type(lens) is not DeviceArray:
        lens = DeviceArray.from_numpy(np.ascontiguousarray(lens, np.int64))
    dec, _, score = backend().ctc_greedy(a.buf, lens.buf, blank, bool(merge_repeated), False)
    out = DeviceArray(dec).astype(np.int32).reshape(1, B, T)
    return _wrap(out), _wrap(DeviceArray(score).reshape(B, 1))


def ctc_decode(inputs, sequence_lengths, strategy="greedy", beam_width=100, top_paths=1,
               merge_repeated=True, mask_index=0):
    """CTC decoding of logits (batch, time, classes), the mask (blank) class mask_index
    (None: the last class). strategy="greedy": per step the top class; repeats merged (when
    merge_repeated) and blanks dropped; returns (decoded (1, batch, time) padded with -1,
    scores (batch, 1) = -sum of the top logits). strategy="beam_search": prefix beam search
    over the log-softmax of the logits keeping beam_width prefixes (as
    tf.nn.ctc_beam_search_decoder); returns (decoded (top_paths, batch, time) padded with -1,
    scores (batch, top_paths) = the labelings' log-probabilities). Host-side, no gradient."""
    if strategy not in ("greedy", "beam_search"):
        raise ValueError(f"[ctc_decode] strategy must be 'greedy' or 'beam_search', got "
                         f"{strategy!r}")
    if strategy == "greedy":
        r = _ctc_decode_greedy_gpu(to_float(inputs), sequence_lengths, merge_repeated,
                                   mask_index)
        if r is not None:
            return r
    x = to_float(inputs).numpy()
    if x.ndim != 3:
        raise ValueError(f"[ctc_decode] inputs must be 3-D (batch, time, classes), got shape "
                         f"{x.shape}")
    B, T, C = x.shape
    lens = np.asarray(t_(sequence_lengths).numpy()).reshape(-1)
    if lens.shape != (B,):
        raise ValueError(f"[ctc_decode] sequence_lengths must have shape ({B},), got "
                         f"{lens.shape}")
    blank = C - 1 if mask_index is None else int(mask_index)
    if not 0 <= blank < C:
        raise ValueError(f"[ctc_decode] mask_index={mask_index} is out of range for {C} "
                         f"classes (inputs of shape {x.shape})")
    if strategy == "beam_search":
        from ...ops.nn_extra_ops import _log_softmax_np, ctc_prefix_beam_search
        bw, tp = int(beam_width), int(top_paths)
        if bw < 1 or not 1 <= tp <= bw:
            raise ValueError(f"[ctc_decode] need beam_width >= 1 and 1 <= top_paths <= "
                             f"beam_width, got beam_width={beam_width}, top_paths={top_paths}")
        out = np.full((tp, B, T), -1, np.int32)
        scores = np.full((B, tp), -np.inf, x.dtype)
        for b in range(B):
            n = int(min(max(lens[b], 0), T))
            lp = _log_softmax_np(x[b, :n].astype(np.float64))
            for k, (labels, s) in enumerate(ctc_prefix_beam_search(lp, blank, bw, tp)):
                out[k, b, :len(labels)] = labels
                scores[b, k] = s
        return t_(out), t_(scores)
    out = np.full((1, B, T), -1, np.int32)
    scores = np.zeros((B, 1), x.dtype)
    for b in range(B):
        n = int(min(max(lens[b], 0), T))
        best = x[b, :n].argmax(-1)
        scores[b, 0] = -x[b, :n].max(-1).sum()
        prev, j = None, 0
        for c in best:
            if c != blank and not (merge_repeated and c == prev):
                out[0, b, j] = c
                j += 1
            prev = c
    return t_(out), t_(scores)
