"""More of `tf.nn`: weighted_moments, normalize_moments, sufficient_statistics,
log_poisson_loss, compute_average_loss, scale_regularization_loss,
local_response_normalization, crelu, zero_fraction, ctc_loss, ctc_greedy_decoder and
ctc_beam_search_decoder.

Everything but CTC is composed from differentiable nabi ops (so it runs on every device and
its gradient comes from those ops). ctc_loss runs Graves' forward-backward recursion in log
space, in float64 on the host, one sequence at a time; its gradient with respect to the
logits is softmax - (state occupancy per class), computed in the same pass. GPU logits run the
same recursion (and the greedy decoder its argmax / merge) on the kernels of csrc/cuda/ctc.cu,
without copying the logits or the gradient to the host.
"""
import numpy as np

from .. import dtypes as _dt
from ..framework.device import DeviceArray, to_device
from ._common import Tensor, _tapes, _wrap, operand_like, record, t_
from . import math_ops as _m
from . import array_ops as _a
from .nn_ops import relu


def _host(a):
    return to_device(a, "cpu") if type(a) is DeviceArray else np.asarray(a)


def _like(arr, like):
    arr = np.asarray(arr)
    if not arr.flags.c_contiguous:  # (np.ascontiguousarray would make a 0-d array 1-d)
        arr = arr.copy()
    return to_device(arr, "cuda") if type(like) is DeviceArray else arr


def _as_float(op, x):
    x = t_(x)
    if x._data.dtype.kind != "f":
        raise TypeError(f"[{op}] expects a float tensor, got {x._data.dtype.name} of shape "
                        f"{tuple(x._data.shape)}")
    return x


def weighted_moments(x, axes, frequency_weights, keepdims=False, name=None):
    """Mean and variance of x over axes, each element counted frequency_weights times
    (weights broadcast to x): sum(w x) / sum(w) and sum(w (x - mean)^2) / sum(w)."""
    x = _as_float("weighted_moments", x)
    w = frequency_weights if isinstance(frequency_weights, Tensor) else \
        operand_like(frequency_weights, x)
    if w.dtype != x.dtype:
        w = _m.cast(w, x.dtype)
    try:
        np.broadcast_shapes(tuple(x._data.shape), tuple(w._data.shape))
    except ValueError:
        raise ValueError(f"[weighted_moments] frequency_weights of shape "
                         f"{tuple(w._data.shape)} do not broadcast to x of shape "
                         f"{tuple(x._data.shape)}") from None
    wb = _m.add(w, _a.zeros_like(x))
    sw = _m.reduce_sum(wb, axis=axes, keepdims=True)
    mean = _m.divide_no_nan(_m.reduce_sum(_m.multiply(wb, x), axis=axes, keepdims=True), sw)
    var = _m.divide_no_nan(_m.reduce_sum(_m.multiply(wb, _m.square(_m.subtract(x, mean))),
                                         axis=axes, keepdims=True), sw)
    if not keepdims:
        ax = axes if isinstance(axes, (list, tuple)) else [axes]
        mean = _a.squeeze(mean, axis=list(ax))
        var = _a.squeeze(var, axis=list(ax))
    return mean, var


def sufficient_statistics(x, axes, shift=None, keepdims=False, name=None):
    """(count, sum(x - shift), sum((x - shift)^2), shift) over axes."""
    x = _as_float("sufficient_statistics", x)
    shp = tuple(x._data.shape)
    ax = [a % len(shp) for a in (axes if isinstance(axes, (list, tuple)) else [axes])]
    count = _a.fill([], np.prod([shp[a] for a in ax], dtype=np.float64))
    count = _m.cast(count, x.dtype)
    if type(x._data) is DeviceArray:
        count = _wrap(_like(_host(count._data), x._data))
    d = x if shift is None else _m.subtract(x, shift)
    m_ss = _m.reduce_sum(d, axis=ax, keepdims=keepdims)
    v_ss = _m.reduce_sum(_m.square(d), axis=ax, keepdims=keepdims)
    return count, m_ss, v_ss, (None if shift is None else
                               shift if isinstance(shift, Tensor) else operand_like(shift, x))


def normalize_moments(counts, mean_ss, variance_ss, shift, name=None):
    """(mean, variance) from sufficient statistics: mean_ss / counts (+ shift) and
    variance_ss / counts - (mean_ss / counts)^2."""
    d = _m.divide(mean_ss, counts)
    var = _m.subtract(_m.divide(variance_ss, counts), _m.square(d))
    mean = d if shift is None else _m.add(d, shift)
    return mean, var


def log_poisson_loss(targets, log_input, compute_full_loss=False, name=None):
    """exp(log_input) - targets * log_input; compute_full_loss adds Stirling's approximation
    of log(targets!) (targets*log(targets) - targets + 0.5*log(2*pi*targets)) where
    targets > 1."""
    c = _as_float("log_poisson_loss", log_input)
    z = t_(targets) if isinstance(targets, Tensor) else \
        t_(np.asarray(targets, dtype=c._data.dtype))
    if tuple(z._data.shape) != tuple(c._data.shape):
        raise ValueError(f"[log_poisson_loss] targets {tuple(z._data.shape)} and log_input "
                         f"{tuple(c._data.shape)} must have the same shape")
    loss = _m.subtract(_m.exp(c), _m.multiply(z, c))
    if compute_full_loss:
        big = _m.greater(z, 1)
        safe = _a.where(big, z, _a.ones_like(z))
        st = _m.add(_m.subtract(_m.multiply(safe, _m.log(safe)), safe),
                    _m.multiply(_m.log(_m.multiply(safe, 2 * np.pi)), 0.5))
        loss = _m.add(loss, _a.where(big, st, _a.zeros_like(st)))
    return loss


def compute_average_loss(per_example_loss, sample_weight=None, global_batch_size=None,
                         name=None):
    """sum(per_example_loss * sample_weight) / global_batch_size (default: the first
    dimension, one replica)."""
    loss = _as_float("compute_average_loss", per_example_loss)
    if sample_weight is not None:
        loss = _m.multiply(loss, sample_weight)
    if global_batch_size is None:
        if loss._data.ndim == 0:
            global_batch_size = 1
        else:
            global_batch_size = loss._data.shape[0]
    n = int(global_batch_size.numpy() if isinstance(global_batch_size, Tensor)
            else global_batch_size)
    if n <= 0:
        raise ValueError(f"[compute_average_loss] global_batch_size must be > 0, got {n}")
    return _m.divide(_m.reduce_sum(loss), n)


def scale_regularization_loss(regularization_loss, name=None):
    """The regularisation loss (a sum if given a list) divided by the replica count (1)."""
    if isinstance(regularization_loss, (list, tuple)):
        return _m.add_n(list(regularization_loss))
    return _m.reduce_sum(regularization_loss)


def local_response_normalization(input, depth_radius=5, bias=1.0, alpha=1.0, beta=0.5,  # noqa: A002
                                 name=None):
    """x / (bias + alpha * sum of x^2 over the 2r+1 neighbouring channels) ** beta, for NHWC
    input."""
    x = _as_float("local_response_normalization", input)
    if x._data.ndim != 4:
        raise ValueError(f"[local_response_normalization] input must be 4-D (N, H, W, C), got "
                         f"shape {tuple(x._data.shape)}")
    r = int(depth_radius)
    if r < 0:
        raise ValueError(f"[local_response_normalization] depth_radius must be >= 0, got {r}")
    c = x._data.shape[3]
    sq = _a.pad(_m.square(x), [[0, 0], [0, 0], [0, 0], [r, r]])
    acc = None
    for k in range(2 * r + 1):
        s = sq[:, :, :, k:k + c]
        acc = s if acc is None else _m.add(acc, s)
    return _m.divide(x, _m.pow(_m.add(_m.multiply(acc, alpha), bias), beta))


lrn = local_response_normalization


def crelu(features, axis=-1, name=None):
    """concat([relu(x), relu(-x)], axis)."""
    x = t_(features)
    return _a.concat([relu(x), relu(_m.negative(x))], axis=axis)


def zero_fraction(value, name=None):
    from .extra_math_ops import zero_fraction as _zf
    return _zf(value)


# ------------------------------------------------------------------------------------ CTC


def _ctc_one(lp, lab, blank):
    """-log p(lab | lp) and its gradient w.r.t. the logits, for one sequence.
    lp: (T, C) log-softmax, float64; lab: 1-D int labels (no blanks)."""
    T, C = lp.shape
    L = 2 * len(lab) + 1
    ext = np.full(L, blank, np.int64)
    ext[1::2] = lab
    ninf = -np.inf
    # Transitions s-2 -> s are allowed onto a label that differs from the one two back.
    skip = np.zeros(L, bool)
    skip[2:] = (ext[2:] != blank) & (ext[2:] != ext[:-2])
    la = np.full((T, L), ninf)
    lb = np.full((T, L), ninf)
    if T == 0:
        return (np.inf if L > 1 else 0.0), np.zeros((0, C))
    la[0, 0] = lp[0, ext[0]]
    if L > 1:
        la[0, 1] = lp[0, ext[1]]
    for t in range(1, T):
        prev = la[t - 1]
        a = prev.copy()
        a[1:] = np.logaddexp(a[1:], prev[:-1])
        a[2:] = np.where(skip[2:], np.logaddexp(a[2:], prev[:-2]), a[2:])
        la[t] = a + lp[t, ext]
    lb[T - 1, L - 1] = lp[T - 1, ext[L - 1]]
    if L > 1:
        lb[T - 1, L - 2] = lp[T - 1, ext[L - 2]]
    for t in range(T - 2, -1, -1):
        nxt = lb[t + 1]
        b = nxt.copy()
        b[:-1] = np.logaddexp(b[:-1], nxt[1:])
        b[:-2] = np.where(skip[2:], np.logaddexp(b[:-2], nxt[2:]), b[:-2])
        lb[t] = b + lp[t, ext]
    ll = np.logaddexp(la[T - 1, L - 1], la[T - 1, L - 2]) if L > 1 else la[T - 1, 0]
    if not np.isfinite(ll):
        return np.inf, np.zeros((T, C))
    occ = la + lb - lp[:, ext]          # log of sum over paths through (t, s)
    post = np.zeros((T, C))
    for s in range(L):
        post[:, ext[s]] += np.exp(occ[:, s] - ll)
    return -ll, np.exp(lp) - post


def ctc_loss(labels, logits, label_length, logit_length, logits_time_major=True, unique=None,
             blank_index=None, name=None):
    """CTC negative log-likelihood per sequence, shape [batch] (TF 2's ctc_loss with dense,
    zero-padded labels of shape [batch, max_label_length] and label_length; logits are
    unnormalised, [frames, batch, classes] when logits_time_major else [batch, frames,
    classes]; the blank is class 0 unless blank_index says otherwise, negative counting from
    the end). An impossible alignment gives +inf and a zero gradient. On the GPU with labels
    or lengths held on the GPU, the kernel flags out-of-range values and the op reads that
    flag back: one 4-byte read per call, to raise the CPU path's error (not a NaN loss)."""
    op = "ctc_loss"
    x = _as_float(op, logits)
    if x._data.ndim != 3:
        raise ValueError(f"[{op}] logits must be 3-D, got shape {tuple(x._data.shape)}")
    if type(x._data) is DeviceArray:
        return _ctc_loss_gpu(labels, x, label_length, logit_length, logits_time_major,
                             blank_index)
    from ..sparse import SparseTensor
    if isinstance(labels, SparseTensor):
        lab = np.zeros(tuple(int(d) for d in labels.dense_shape.numpy()), np.int64)
        ind = labels.indices.numpy()
        lab[ind[:, 0], ind[:, 1]] = labels.values.numpy()
        ll_ = np.zeros(lab.shape[0], np.int64)
        np.maximum.at(ll_, ind[:, 0], ind[:, 1] + 1)
    else:
        lab = _host(t_(labels)._data)
        if label_length is None:
            raise ValueError(f"[{op}] label_length is required with dense labels")
        ll_ = _host(t_(label_length)._data).astype(np.int64).reshape(-1)
    if lab.dtype.kind not in "iu" or lab.ndim != 2:
        raise ValueError(f"[{op}] labels must be a 2-D integer tensor [batch, max_label_length], "
                         f"got {lab.dtype.name} of shape {tuple(lab.shape)}")
    a = _host(x._data)
    lg = a if logits_time_major else np.swapaxes(a, 0, 1)
    T, B, C = lg.shape
    tl = _host(t_(logit_length)._data).astype(np.int64).reshape(-1)
    if lab.shape[0] != B or ll_.shape[0] != B or tl.shape[0] != B:
        raise ValueError(f"[{op}] batch sizes differ: labels {tuple(lab.shape)}, label_length "
                         f"{tuple(ll_.shape)}, logit_length {tuple(tl.shape)}, logits "
                         f"{tuple(a.shape)} (time_major={logits_time_major})")
    if np.any(tl < 0) or np.any(tl > T):
        raise ValueError(f"[{op}] logit_length must be in [0, {T}], got {tl.tolist()}")
    if np.any(ll_ < 0) or np.any(ll_ > lab.shape[1]):
        raise ValueError(f"[{op}] label_length must be in [0, {lab.shape[1]}], got "
                         f"{ll_.tolist()}")
    blank = 0 if blank_index is None else int(blank_index)
    if blank < 0:
        blank += C
    if not 0 <= blank < C:
        raise ValueError(f"[{op}] blank_index {blank_index} is out of range for {C} classes")
    lg64 = lg.astype(np.float64)
    m = lg64.max(axis=2, keepdims=True)
    lp = lg64 - m - np.log(np.exp(lg64 - m).sum(axis=2, keepdims=True))
    losses = np.zeros(B)
    grad = np.zeros((T, B, C))
    for b in range(B):
        seq = lab[b, :ll_[b]].astype(np.int64)
        if seq.size and (seq.min() < 0 or seq.max() >= C or np.any(seq == blank)):
            raise ValueError(f"[{op}] labels[{b}] = {seq.tolist()} must lie in [0, {C}) and "
                             f"not use the blank {blank}")
        losses[b], g = _ctc_one(lp[:tl[b], b], seq, blank)
        grad[:tl[b], b] = g
    out = _wrap(_like(losses.astype(a.dtype), x._data))
    if _tapes:
        gfull = grad if logits_time_major else np.swapaxes(grad, 0, 1)

        def bwd(g, n):
            gh = _host(g).astype(np.float64).reshape(1, B, 1) if logits_time_major else \
                _host(g).astype(np.float64).reshape(B, 1, 1)
            return (_like((gfull * gh).astype(a.dtype), g),)

        def bwd_t(g, n):
            return (_ctc_vjp_t(g, x, lab, ll_, tl, blank, logits_time_major, losses),)
        record((x,), out, bwd, bwd_t, op)
    return out


def _ctc_index_gpu(v, cast=True):
    """An integer tensor's array for the CTC kernels: device int32/int64 arrays as they are
    (never read back; other dtypes cast to int64 on the device, floats only with cast, as the
    host path's astype), host values (Python lists, NumPy, CPU tensors) as NumPy (checked by
    the caller, then uploaded)."""
    if not isinstance(v, Tensor):
        return np.asarray(v)
    a = v._data
    if type(a) is DeviceArray:
        if a.dtype in (np.int32, np.int64) or not (cast or a.dtype.kind in "iu"):
            return a
        return a.astype(np.int64)
    return np.asarray(a)


def _ctc_loss_gpu(labels, x, label_length, logit_length, time_major, blank_index):
    """ctc_loss for GPU logits: the kernels of csrc/cuda/ctc.cu (log-softmax, alpha-beta and
    the gradient on the device, in float64). Lengths and labels held on the host get the CPU
    path's checks before the launch; those on the GPU are checked by the kernel, which flags a
    sequence with a length or label out of range (status, one int32 per sequence): when any of
    them is on the GPU this is one read per call (the flags' maximum, 4 bytes), and a bad
    value raises the CPU path's error (its values read back then, for the message). Sparse
    labels are densified from their indices on the host."""
    op = "ctc_loss"
    a = x._data
    T, B, C = a.shape if time_major else (a.shape[1], a.shape[0], a.shape[2])
    from ..sparse import SparseTensor
    if isinstance(labels, SparseTensor):
        ind = _host(t_(labels.indices)._data).astype(np.int64).reshape(-1, 2)
        lab = np.zeros(tuple(int(d) for d in _host(t_(labels.dense_shape)._data)), np.int64)
        lab[ind[:, 0], ind[:, 1]] = _host(t_(labels.values)._data)
        lens = np.zeros(lab.shape[0], np.int64)
        np.maximum.at(lens, ind[:, 0], ind[:, 1] + 1)
    else:
        if label_length is None:
            raise ValueError(f"[{op}] label_length is required with dense labels")
        lab = _ctc_index_gpu(labels, cast=False)
        lens = _ctc_index_gpu(label_length).reshape(-1)
    if lab.dtype.kind not in "iu" or lab.ndim != 2:
        raise ValueError(f"[{op}] labels must be a 2-D integer tensor [batch, max_label_length], "
                         f"got {lab.dtype.name} of shape {tuple(lab.shape)}")
    tl = _ctc_index_gpu(logit_length).reshape(-1)
    if lab.shape[0] != B or lens.shape[0] != B or tl.shape[0] != B:
        raise ValueError(f"[{op}] batch sizes differ: labels {tuple(lab.shape)}, label_length "
                         f"{tuple(lens.shape)}, logit_length {tuple(tl.shape)}, logits "
                         f"{tuple(a.shape)} (time_major={time_major})")
    blank = 0 if blank_index is None else int(blank_index)
    if blank < 0:
        blank += C
    on_gpu = any(type(v) is DeviceArray for v in (lab, lens, tl))
    _ctc_check_values(op, lab, lens, tl, T, C, blank, blank_index)   # the host-held ones

    def dev(v):  # host index arrays go up (int32 when they fit, else int64)
        if type(v) is DeviceArray:
            return v
        v = np.ascontiguousarray(v, np.int64)
        small = not v.size or (v.min() >= -2**31 and v.max() < 2**31)
        return to_device(v.astype(np.int32) if small else v, "cuda")
    labd, lensd, tld = dev(lab), dev(lens), dev(tl)
    from ..framework.device import backend
    want = bool(_tapes)
    res = backend().ctc_loss(a.buf, labd.buf, lensd.buf, tld.buf, blank, bool(time_major), want,
                             on_gpu)
    loss, grad = res[0], res[1]
    if on_gpu and B and int(DeviceArray(res[2]).max()):   # the one read: any sequence flagged
        labh, lh, th = (_host(v).astype(np.int64) for v in (lab, lens, tl))
        _ctc_check_values(op, labh, lh.reshape(-1), th.reshape(-1), T, C, blank, blank_index)
        raise ValueError(f"[{op}] a length or label is out of range (logits {tuple(a.shape)})")
    out = _wrap(DeviceArray(loss))
    if want:
        g_all = DeviceArray(grad)
        shape = (1, B, 1) if time_major else (B, 1, 1)

        def bwd(g, n):  # the kernel's gradient scaled per sequence, on the device
            if type(g) is not DeviceArray:
                g = to_device(np.ascontiguousarray(g, a.dtype), "cuda")
            return (g_all * g.astype(a.dtype).reshape(shape),)

        def bwd_t(g, n):  # second order: the Tensor rule, lengths and labels where they are
            return (_ctc_vjp_t(g, x, lab, lens, tl, blank, time_major, out._data),)
        record((x,), out, bwd, bwd_t, op)
    return out


def _ctc_check_values(op, lab, lens, tl, T, C, blank, blank_index):
    """The CPU path's value checks, in its order, on those of the lengths / labels that are
    host arrays (GPU ones are checked by the kernel): logit_length in [0, T], label_length in
    [0, max_label_length], blank_index in range, each sequence's labels in [0, C) and not the
    blank."""
    if type(tl) is not DeviceArray and (np.any(tl < 0) or np.any(tl > T)):
        raise ValueError(f"[{op}] logit_length must be in [0, {T}], got {tl.tolist()}")
    if type(lens) is not DeviceArray and (np.any(lens < 0) or np.any(lens > lab.shape[1])):
        raise ValueError(f"[{op}] label_length must be in [0, {lab.shape[1]}], got "
                         f"{lens.tolist()}")
    if not 0 <= blank < C:
        raise ValueError(f"[{op}] blank_index {blank_index} is out of range for {C} classes")
    if type(lab) is not DeviceArray and type(lens) is not DeviceArray:
        for b in range(lab.shape[0]):
            seq = lab[b, :lens[b]]
            if seq.size and (seq.min() < 0 or seq.max() >= C or np.any(seq == blank)):
                raise ValueError(f"[{op}] labels[{b}] = {seq.tolist()} must lie in [0, {C}) "
                                 f"and not use the blank {blank}")


def _ctc_vjp_t(g, x, lab, lens, tl, blank, time_major, loss):
    """The Tensor rule of ctc_loss (second order): every sequence's -log p recomputed at once
    with nabi ops under an inner tape and differentiated for the upstream gradient g (B,).
    The forward (alpha) recursion runs over the batch in log space, -1e30 standing in for
    log 0 (finite, so every step stays differentiable): label states from a one-hot matmul of
    the log-softmax, a sequence's alphas kept as they were from its logit_length on, its end
    states picked by a mask from its label_length. lab / lens / tl and the loss may be device
    arrays: nothing is read back. Impossible alignments (+inf loss) and empty sequences give
    zeros, as the kernel's rule."""
    from ..framework.tape import GradientTape
    from ._common import const_like
    B, S = lab.shape
    T = x._data.shape[0] if time_major else x._data.shape[1]
    if not T or not B:
        return _m._zero_grad_step(np.zeros(x._data.shape, x._data.dtype), g, (x,))
    dev = "cuda" if type(x._data) is DeviceArray else "cpu"
    neg = -1e30

    def ints(v):   # an int64 Tensor on x's device
        v = v.astype(np.int64) if v.dtype != np.int64 else v
        return _wrap(to_device(v, dev) if type(v) is not DeviceArray or dev != "cuda" else v)

    def const(v):
        return const_like(np.asarray(v, np.float64), x)

    def fl(c):     # a bool Tensor as 0 / 1 in x's dtype
        return _m.cast(c, x.dtype)
    labt, lens_t, tl_t = ints(lab), ints(lens.reshape(-1)), ints(tl.reshape(-1))
    frames = _m.less(ints(np.arange(T)[None, :]), tl_t[:, None])        # (B, T): t < tl[b]
    live = fl(frames)
    # skip transitions onto label j >= 1 that differs from label j - 1 (blanks: none)
    skip_lab = const(np.zeros((B, S)))
    if S > 1:
        skip_lab = _a.concat([const(np.zeros((B, 1))),
                              fl(_m.not_equal(labt[:, 1:], labt[:, :-1]))], 1)
    skip_add = _a.concat([_a.reshape(_a.stack([const(np.full((B, S), neg)),
                                                _m.multiply(_m.subtract(1.0, skip_lab), neg)], 2),
                                     (B, 2 * S)), const(np.full((B, 1), neg))], 1)   # (B, L)
    pos = ints(np.arange(2 * S + 1)[None, :])
    two = _m.multiply(lens_t[:, None], 2)
    end_add = _m.multiply(_m.subtract(1.0, fl(_m.logical_or(_m.equal(pos, two), _m.equal(
        pos, _m.subtract(two, 1))))), neg)                                  # (B, L)
    weight = fl(_m.logical_and(_m.is_finite(_wrap(loss)), _m.greater(tl_t, 0)))
    oh = _a.one_hot(labt, x._data.shape[2], dtype=x.dtype) if S else None  # (B, S, C)
    start = np.full(2 * S + 1, neg)
    start[:2] = 0.0
    with GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(x)
        xb = _a.transpose(x, [1, 0, 2]) if time_major else x              # (B, T, C)
        xb = _a.where(frames[:, :, None], xb, const(np.zeros((1, 1, 1))))  # (NaN padding)
        lp = _m.maximum(_m.subtract(xb, _m.reduce_logsumexp(xb, 2, keepdims=True)), neg)
        lpe = lp[:, :, blank:blank + 1]                                    # (B, T, L)
        if S:
            lp_lab = _m.matmul(lp, oh, transpose_b=True)                   # (B, T, S)
            lpe = _a.concat([_a.reshape(_a.stack([_a.broadcast_to(lpe, (B, T, S)), lp_lab], 3),
                                        (B, T, 2 * S)), lpe], 2)
        alpha = _m.add(lpe[:, 0], const(start))
        pad1, pad2 = const(np.full((B, 1), neg)), const(np.full((B, 2), neg))
        for t in range(1, T):
            cand = [alpha, _a.concat([pad1, alpha[:, :-1]], 1)]
            if S:
                cand.append(_a.concat([pad2, _m.add(alpha[:, :-2], skip_add[:, 2:])], 1))
            new = _m.add(_m.reduce_logsumexp(_a.stack(cand, 0), 0), lpe[:, t])
            m = live[:, t:t + 1]
            alpha = _m.add(_m.multiply(new, m), _m.multiply(alpha, _m.subtract(1.0, m)))
        nll = _m.negative(_m.reduce_logsumexp(_m.add(alpha, end_add), 1))
        total = _m.reduce_sum(_m.multiply(_m.multiply(nll, weight), g))
    return tape.gradient(total, x)


def ctc_greedy_decoder(inputs, sequence_length, merge_repeated=True, blank_index=None):
    """Best-path decoding of time-major logits [max_time, batch, classes]: the argmax class
    per frame, repeats merged (merge_repeated), blanks (the last class unless blank_index
    says otherwise) removed. Returns ([SparseTensor of shape [batch, max_decoded_length]],
    neg_sum_logits of shape [batch, 1])."""
    op = "ctc_greedy_decoder"
    x = _as_float(op, inputs)
    if type(x._data) is DeviceArray:
        r = _ctc_greedy_gpu(x, sequence_length, merge_repeated, blank_index)
        if r is not None:
            return r
    a = _host(x._data)
    if a.ndim != 3:
        raise ValueError(f"[{op}] inputs must be 3-D [max_time, batch, classes], got shape "
                         f"{tuple(a.shape)}")
    T, B, C = a.shape
    sl = _host(t_(sequence_length)._data).astype(np.int64).reshape(-1)
    if sl.shape[0] != B or np.any(sl < 0) or np.any(sl > T):
        raise ValueError(f"[{op}] sequence_length must have {B} entries in [0, {T}], got "
                         f"{sl.tolist()}")
    blank = C - 1 if blank_index is None else int(blank_index)
    if blank < 0:
        blank += C
    idx, vals, neg = [], [], np.zeros((B, 1), a.dtype)
    maxlen = 0
    for b in range(B):
        best = a[:sl[b], b].argmax(axis=1) if sl[b] else np.zeros(0, np.int64)
        neg[b, 0] = -a[:sl[b], b].max(axis=1).sum() if sl[b] else 0
        out, prev = [], -1
        for k in best.tolist():
            if k != blank and not (merge_repeated and k == prev):
                out.append(k)
            prev = k
        for j, k in enumerate(out):
            idx.append([b, j])
            vals.append(k)
        maxlen = max(maxlen, len(out))
    from ..sparse import SparseTensor
    st = SparseTensor(np.asarray(idx, np.int64).reshape(-1, 2),
                      _wrap(np.asarray(vals, np.int64)), [B, maxlen])
    return [st], _wrap(_like(neg, x._data))


def _ctc_greedy_gpu(x, sequence_length, merge_repeated, blank_index):
    """ctc_greedy_decoder for GPU inputs: the argmax, merge and compaction run on the device
    (csrc/cuda/ctc.cu); the decoded lengths (B int64) are read back once, as the SparseTensor's
    indices and dense shape live on the host; the values are packed on the device. None (the
    caller takes the host path) for a blank_index outside the classes."""
    op = "ctc_greedy_decoder"
    a = x._data
    if a.ndim != 3:
        raise ValueError(f"[{op}] inputs must be 3-D [max_time, batch, classes], got shape "
                         f"{tuple(a.shape)}")
    T, B, C = a.shape
    sl = _ctc_index_gpu(sequence_length).reshape(-1)
    if sl.shape[0] != B or (type(sl) is not DeviceArray and (np.any(sl < 0) or np.any(sl > T))):
        raise ValueError(f"[{op}] sequence_length must have {B} entries in [0, {T}], got "
                         f"{sl.tolist() if type(sl) is not DeviceArray else sl.shape}")
    blank = C - 1 if blank_index is None else int(blank_index)
    if blank < 0:
        blank += C
    if not 0 <= blank < C:  # no class is dropped: the host path's loop handles that
        return None
    if type(sl) is not DeviceArray:
        sl = to_device(np.ascontiguousarray(sl, np.int64), "cuda")
    from ..framework.device import backend
    dec, cnt, score = backend().ctc_greedy(a.buf, sl.buf, blank, bool(merge_repeated), True)
    counts = to_device(DeviceArray(cnt), "cpu").astype(np.int64)   # the one read-back
    maxlen = int(counts.max()) if B else 0
    rows = np.repeat(np.arange(B, dtype=np.int64), counts)
    cols = np.arange(rows.size, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    offs = to_device(np.concatenate([[0], np.cumsum(counts)]).astype(np.int64), "cuda")
    vals = DeviceArray(backend().ctc_pack(dec, offs.buf, int(rows.size)))
    from ..sparse import SparseTensor
    st = SparseTensor(np.stack([rows, cols], 1).reshape(-1, 2), _wrap(vals), [B, maxlen])
    return [st], _wrap(DeviceArray(score).reshape(B, 1))


def _log_softmax_np(a):
    m = a.max(axis=-1, keepdims=True)
    z = a - m
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def ctc_prefix_beam_search(logp, blank, beam_width, top_paths):
    """CTC prefix beam search over the log-probabilities logp (T, C) (NumPy, float64): the
    top_paths labelings (tuples of class ids) with the highest total probability (summed over
    the alignments that collapse to them) among those kept in a beam of beam_width prefixes,
    best first, as [(labels, log_prob)]. Each prefix carries the log-probabilities of its
    alignments that end in a blank and in its last label; at each step it is extended by every
    class (a repeat of the last label extends only the alignments ending in a blank). With C
    above beam_width + 2 only the beam_width + 2 likeliest classes of the step (and the last
    label, and those giving a prefix already in the beam) are tried per prefix: no other
    extension can enter the beam (beam_width new prefixes of this one score at least as
    high)."""
    neg = -np.inf
    T, C = logp.shape
    beams = {(): (0.0, neg)}          # prefix -> (log p ending in blank, ... in its last label)
    la = np.logaddexp
    for t in range(T):
        row = logp[t]
        if C > beam_width + 2:
            top = set(np.argpartition(-row, beam_width + 1)[:beam_width + 2].tolist())
            children = {}
            for p in beams:
                if p:
                    children.setdefault(p[:-1], set()).add(p[-1])
        nxt = {}

        def add(prefix, pb, pnb):
            ob, onb = nxt.get(prefix, (neg, neg))
            nxt[prefix] = (la(ob, pb), la(onb, pnb))
        for prefix, (pb, pnb) in beams.items():
            tot = la(pb, pnb)
            add(prefix, tot + row[blank], neg)
            last = prefix[-1] if prefix else -1
            if C > beam_width + 2:
                cands = top | children.get(prefix, set())
                if last >= 0:
                    cands.add(last)
            else:
                cands = range(C)
            for c in cands:
                if c == blank:
                    continue
                if c == last:
                    add(prefix, neg, pnb + row[c])               # the repeat collapses
                    add(prefix + (c,), neg, pb + row[c])         # a new label after a blank
                else:
                    add(prefix + (c,), neg, tot + row[c])
        ranked = sorted(nxt.items(), key=lambda kv: -la(*kv[1]))
        beams = dict(ranked[:beam_width])
    ranked = sorted(((p, float(la(*v))) for p, v in beams.items()), key=lambda kv: -kv[1])
    return ranked[:top_paths]


def ctc_beam_search_decoder(inputs, sequence_length, beam_width=100, top_paths=1, name=None):
    """CTC beam search decoding of time-major logits [max_time, batch, classes] (the last
    class is the blank; the logits are log-softmax-normalised per step): prefix beam search
    keeping beam_width prefixes. Returns (decoded, log_probabilities): decoded a list of
    top_paths SparseTensors, the k-th holding each batch entry's k-th best labeling (int64,
    dense_shape [batch, its longest labeling]); log_probabilities [batch, top_paths] the
    log-probability of each labeling (summed over its alignments in the beam). A sequence with
    fewer distinct labelings than top_paths pads with empty ones of log-probability -inf.
    Host-side, no gradient."""
    op = "ctc_beam_search_decoder"
    x = _as_float(op, inputs)
    a = _host(x._data)
    if a.ndim != 3:
        raise ValueError(f"[{op}] inputs must be 3-D [max_time, batch, classes], got shape "
                         f"{tuple(a.shape)}")
    T, B, C = a.shape
    bw, tp = int(beam_width), int(top_paths)
    if bw < 1 or not 1 <= tp <= bw:
        raise ValueError(f"[{op}] need beam_width >= 1 and 1 <= top_paths <= beam_width, got "
                         f"beam_width={beam_width}, top_paths={top_paths}")
    if C < 1:
        raise ValueError(f"[{op}] inputs need at least one class (the blank), got shape "
                         f"{tuple(a.shape)}")
    sl = _host(t_(sequence_length)._data).astype(np.int64).reshape(-1)
    if sl.shape[0] != B or np.any(sl < 0) or np.any(sl > T):
        raise ValueError(f"[{op}] sequence_length must have {B} entries in [0, {T}], got "
                         f"{sl.tolist()}")
    paths = [ctc_prefix_beam_search(_log_softmax_np(a[:sl[b], b].astype(np.float64)), C - 1,
                                    bw, tp) for b in range(B)]
    return _beam_outputs(paths, B, tp, x)


def _beam_outputs(paths, B, tp, x):
    from ..sparse import SparseTensor
    logp = np.full((B, tp), -np.inf)
    decoded = []
    for k in range(tp):
        idx, vals, maxlen = [], [], 0
        for b in range(B):
            if k < len(paths[b]):
                labels, lp = paths[b][k]
                logp[b, k] = lp
                idx.extend([b, j] for j in range(len(labels)))
                vals.extend(labels)
                maxlen = max(maxlen, len(labels))
        decoded.append(SparseTensor(np.asarray(idx, np.int64).reshape(-1, 2),
                                    _wrap(np.asarray(vals, np.int64)), [B, maxlen]))
    return decoded, _wrap(_like(logp.astype(x._data.dtype), x._data))


# ------------------------------------------------------------ candidate sampling losses
# The samplers draw on the host from nabi's seeded stream (tf.random.set_seed / seed=), so a
# run repeats for a seed; the draws are not TF's (its samplers use their own generator).


def _true_classes(op, true_classes, num_true):
    tc = _host(t_(true_classes)._data)
    if tc.dtype.kind not in "iu" or tc.ndim != 2 or tc.shape[1] != int(num_true):
        raise ValueError(f"[{op}] true_classes must be an integer [batch, num_true={num_true}] "
                         f"tensor, got {tc.dtype.name} of shape {tuple(tc.shape)}")
    return tc.astype(np.int64)


def _candidate_sampler(op, probs_of, true_classes, num_true, num_sampled, unique, range_max,
                       seed):
    from .random_ops import _generator
    tc = _true_classes(op, true_classes, num_true)
    n, rm = int(num_sampled), int(range_max)
    if rm <= 0 or n < 0 or (unique and n > rm):
        raise ValueError(f"[{op}] need range_max > 0 and 0 <= num_sampled (<= range_max when "
                         f"unique), got num_sampled={n}, range_max={rm}")
    p = probs_of(np.arange(rm))
    g = _generator(seed)
    if unique:
        # draw with replacement until n distinct classes appear; TF's expected counts for a
        # class are then 1 - (1 - p)^tries
        picked, seen, tries = [], set(), 0
        while len(picked) < n:
            batch = g.choice(rm, size=max(2 * (n - len(picked)), 16), p=p)
            for c in batch.tolist():
                tries += 1
                if c not in seen:
                    seen.add(c)
                    picked.append(c)
                    if len(picked) == n:
                        break
        sampled = np.asarray(picked, np.int64)

        def expected(c):
            return -np.expm1(tries * np.log1p(-np.minimum(probs_of(c), 1 - 1e-12)))
    else:
        sampled = g.choice(rm, size=n, p=p).astype(np.int64)

        def expected(c):
            return probs_of(c) * n
    from ..framework.device import place      # results on the current device, as TF's ops
    return (_wrap(place(sampled)), _wrap(place(expected(tc).astype(np.float32))),
            _wrap(place(expected(sampled).astype(np.float32))))


def log_uniform_candidate_sampler(true_classes, num_true, num_sampled, unique, range_max,
                                  seed=None, name=None):
    """Classes drawn from the log-uniform (Zipf) distribution
    P(c) = (log(c + 2) - log(c + 1)) / log(range_max + 1); returns (sampled_candidates,
    true_expected_count, sampled_expected_count)."""
    rm = int(range_max)
    return _candidate_sampler("log_uniform_candidate_sampler",
                              lambda c: (np.log(c + 2.0) - np.log(c + 1.0)) / np.log(rm + 1.0),
                              true_classes, num_true, num_sampled, unique, range_max, seed)


def uniform_candidate_sampler(true_classes, num_true, num_sampled, unique, range_max,
                              seed=None, name=None):
    """Classes drawn uniformly from [0, range_max); returns (sampled_candidates,
    true_expected_count, sampled_expected_count)."""
    rm = int(range_max)
    return _candidate_sampler("uniform_candidate_sampler",
                              lambda c: np.full(np.shape(c), 1.0 / rm),
                              true_classes, num_true, num_sampled, unique, range_max, seed)


def _sampled_logits(op, weights, biases, labels, inputs, num_sampled, num_classes, num_true,
                    sampled_values, remove_accidental_hits, seed):
    if isinstance(weights, (list, tuple)):
        weights = _a.concat(list(weights), axis=0)
    w = _as_float(op, weights)
    x = _as_float(op, inputs)
    bias = t_(biases)
    wd, xd = w._data, x._data
    if wd.ndim != 2 or xd.ndim != 2 or wd.shape[1] != xd.shape[1]:
        raise ValueError(f"[{op}] weights must be [num_classes, dim] and inputs [batch, dim], "
                         f"got {tuple(wd.shape)} and {tuple(xd.shape)}")
    if tuple(bias._data.shape) != (wd.shape[0],):
        raise ValueError(f"[{op}] biases must have shape ({wd.shape[0]},), got "
                         f"{tuple(bias._data.shape)}")
    lab = _host(t_(labels)._data)
    if lab.ndim == 1:
        lab = lab.reshape(-1, 1)
    if lab.dtype.kind not in "iu" or lab.shape != (xd.shape[0], int(num_true)):
        raise ValueError(f"[{op}] labels must be integers of shape [batch={xd.shape[0]}, "
                         f"num_true={num_true}], got {lab.dtype.name} {tuple(lab.shape)}")
    if lab.size and (lab.min() < 0 or lab.max() >= int(num_classes)):
        raise ValueError(f"[{op}] labels must be in [0, {num_classes})")
    lab = lab.astype(np.int64)
    if sampled_values is None:
        sampled_values = log_uniform_candidate_sampler(lab, num_true, num_sampled, True,
                                                       num_classes, seed=seed)
    sampled, t_exp, s_exp = sampled_values
    # TF stop_gradients the sampler's outputs: the expected counts are constants of the loss
    t_exp, s_exp = _wrap(t_(t_exp)._data), _wrap(t_(s_exp)._data)
    sh = _host(t_(sampled)._data).astype(np.int64).reshape(-1)
    b, nt = lab.shape
    # true logits (batch, num_true): <x, w[label]> + b[label] - log(true_expected_count)
    tw = _a.reshape(_a.gather(w, lab.reshape(-1)), (b, nt, wd.shape[1]))
    true_logits = _m.add(_m.reduce_sum(_m.multiply(tw, _a.expand_dims(x, 1)), axis=2),
                         _a.reshape(_a.gather(bias, lab.reshape(-1)), (b, nt)))
    true_logits = _m.subtract(true_logits, _m.log(_m.cast(t_(t_exp), x.dtype)))
    sw = _a.gather(w, sh)
    sampled_logits = _m.add(_m.matmul(x, sw, transpose_b=True), _a.gather(bias, sh))
    sampled_logits = _m.subtract(sampled_logits, _m.log(_m.cast(t_(s_exp), x.dtype)))
    if remove_accidental_hits:
        hit = (lab[:, :, None] == sh[None, None, :]).any(axis=1)
        pen = np.where(hit, np.finfo(np.float32).min, 0).astype(xd.dtype)
        sampled_logits = _m.add(sampled_logits, operand_like(pen, x))
    logits = _a.concat([true_logits, sampled_logits], axis=1)
    lab_out = np.concatenate([np.full((b, nt), 1.0 / nt), np.zeros((b, sh.size))], axis=1)
    return logits, operand_like(lab_out.astype(xd.dtype), x)


def nce_loss(weights, biases, labels, inputs, num_sampled, num_classes, num_true=1,
             sampled_values=None, remove_accidental_hits=False, name="nce_loss"):
    """Noise-contrastive estimation loss per example, shape [batch]: sigmoid cross-entropy
    of the true classes (target 1/num_true) and the sampled ones (target 0), logits corrected
    by -log(expected count). Default sampler: log-uniform, unique, over num_classes."""
    from .nn_ops import sigmoid_cross_entropy_with_logits
    logits, lab = _sampled_logits("nce_loss", weights, biases, labels, inputs, num_sampled,
                                  num_classes, num_true, sampled_values, remove_accidental_hits,
                                  None)
    return _m.reduce_sum(sigmoid_cross_entropy_with_logits(labels=lab, logits=logits), axis=1)


def sampled_softmax_loss(weights, biases, labels, inputs, num_sampled, num_classes, num_true=1,
                         sampled_values=None, remove_accidental_hits=True, seed=None,
                         name="sampled_softmax_loss"):
    """Softmax cross-entropy over the true classes and num_sampled sampled classes, shape
    [batch]; sampled classes equal to a true label are masked out (remove_accidental_hits)."""
    from .nn_ops import softmax_cross_entropy_with_logits
    logits, lab = _sampled_logits("sampled_softmax_loss", weights, biases, labels, inputs,
                                  num_sampled, num_classes, num_true, sampled_values,
                                  remove_accidental_hits, seed)
    return softmax_cross_entropy_with_logits(labels=lab, logits=logits)


__all__ = ["weighted_moments", "sufficient_statistics", "normalize_moments",
           "log_poisson_loss", "compute_average_loss", "scale_regularization_loss",
           "local_response_normalization", "lrn", "crelu", "zero_fraction", "ctc_loss",
           "ctc_greedy_decoder", "ctc_beam_search_decoder", "log_uniform_candidate_sampler", "uniform_candidate_sampler",
           "nce_loss", "sampled_softmax_loss"]
