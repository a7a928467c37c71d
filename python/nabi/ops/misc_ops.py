"""Small TF ops that notebooks reach for, composed of other ops: `tf.meshgrid`,
`tf.nn.embedding_lookup`, `tf.math.confusion_matrix`, `tf.nn.space_to_depth` /
`depth_to_space`, `tf.math.bincount`, `tf.searchsorted`, `tf.unique_with_counts`,
`tf.histogram_fixed_width`, `tf.math.log_sigmoid`, `tf.math.polyval`."""
import collections as _collections

import numpy as np

from .. import dtypes as _dt
from ..framework.device import DeviceArray, backend, place, to_device
from ._common import Tensor, _wrap, t_
from .array_ops import _on_device_of, _on_host, broadcast_to, gather, reshape, transpose


def meshgrid(*args, **kwargs):
    """N-d coordinate grids from N 1-D tensors (NumPy's and TF's `meshgrid`). With
    indexing='xy' (the default) the first two output axes are swapped, as for plotting.
    Differentiable: each output is a reshape and a broadcast of its input."""
    indexing = kwargs.pop("indexing", "xy")
    kwargs.pop("name", None)
    if kwargs:
        raise TypeError(f"[meshgrid] unexpected keyword arguments {sorted(kwargs)}")
    if indexing not in ("xy", "ij"):
        raise ValueError(f"[meshgrid] indexing must be 'xy' or 'ij', got {indexing!r}")
    ts = [t_(a) for a in args]
    for i, t in enumerate(ts):
        if t._data.ndim != 1:
            raise ValueError(f"[meshgrid] every input must be 1-D, got shape "
                             f"{tuple(t._data.shape)} for input {i}")
    n = len(ts)
    sizes = [int(t._data.shape[0]) for t in ts]
    if indexing == "xy" and n >= 2:
        sizes[0], sizes[1] = sizes[1], sizes[0]
    outs = []
    for i, t in enumerate(ts):
        ax = i
        if indexing == "xy" and n >= 2 and i < 2:
            ax = 1 - i
        shape = [1] * n
        shape[ax] = sizes[ax]
        outs.append(broadcast_to(reshape(t, shape), sizes))
    return outs


def embedding_lookup(params, ids, max_norm=None, name=None):
    """Rows of `params` at `ids` (`tf.nn.embedding_lookup`): gather on axis 0, so the
    gradient flows to the rows looked up."""
    if isinstance(params, (list, tuple)):
        if len(params) != 1:
            raise NotImplementedError(f"[embedding_lookup] partitioned params (a list of "
                                      f"{len(params)} tensors) are not supported")
        params = params[0]
    out = gather(params, ids, axis=0)
    if max_norm is not None:   # TF: each looked-up row whose L2 norm exceeds max_norm is
        from .clip_ops import clip_by_norm   # scaled down to it
        nd, ni = out._data.ndim, np.ndim(ids._data if isinstance(ids, Tensor) else ids)
        out = clip_by_norm(out, max_norm, axes=list(range(ni, nd)) if nd > ni else None)
    return out


def _host_ints(name, v):
    a = v.numpy() if isinstance(v, Tensor) else np.asarray(v)
    if a.dtype.kind not in "iu" and not (a.dtype.kind == "f" and a.size and
                                         np.all(a == np.round(a))) and a.size:
        raise TypeError(f"[confusion_matrix] {name} must hold integer class ids, got dtype "
                        f"{a.dtype}")
    return a.astype(np.int64).reshape(-1) if a.ndim <= 1 else a


def confusion_matrix(labels, predictions, num_classes=None, weights=None, dtype=_dt.int32,
                     name=None):
    """The (num_classes, num_classes) matrix whose [i, j] counts (or sums the weights of) the
    samples with label i predicted as j (`tf.math.confusion_matrix`). Counting happens on
    the host (labels and predictions are small integer vectors); the result is placed on the
    current device."""
    from . import gpu_index_extra as _gx
    yd, pd = _gx.device_indices(labels), _gx.device_indices(predictions)
    if yd is not None and pd is not None and yd.ndim == pd.ndim == 1 and \
            yd.shape == pd.shape and np.dtype(_dt.as_dtype(dtype)._np) in _gx.NUM:
        return _gx.confusion_matrix(yd, pd, num_classes, weights, _dt.as_dtype(dtype)._np)
    y = _host_ints("labels", labels)
    p = _host_ints("predictions", predictions)
    if y.ndim != 1 or p.ndim != 1 or y.shape != p.shape:
        raise ValueError(f"[confusion_matrix] labels and predictions must be 1-D of the same "
                         f"length, got shapes {tuple(np.shape(y))} and {tuple(np.shape(p))}")
    if y.size and (y.min() < 0 or p.min() < 0):
        raise ValueError("[confusion_matrix] labels and predictions must be non-negative, got "
                         f"minimums {y.min()} and {p.min()}")
    if num_classes is None:
        num_classes = int(max(y.max(initial=-1), p.max(initial=-1))) + 1
    num_classes = int(num_classes)
    if y.size and (y.max() >= num_classes or p.max() >= num_classes):
        raise ValueError(f"[confusion_matrix] labels and predictions must be < num_classes="
                         f"{num_classes}, got maximums {y.max()} and {p.max()}")
    dt = _dt.as_dtype(dtype)._np
    w = None
    if weights is not None:
        w = weights.numpy() if isinstance(weights, Tensor) else np.asarray(weights)
        w = np.broadcast_to(w, y.shape) if w.ndim == 0 else w.reshape(-1)
        if w.shape != y.shape:
            raise ValueError(f"[confusion_matrix] weights must have the labels' shape "
                             f"{tuple(y.shape)}, got {tuple(np.shape(weights))}")
    m = np.zeros((num_classes, num_classes), dtype=np.float64 if w is not None else np.int64)
    np.add.at(m, (y, p), 1 if w is None else w)
    out = _wrap(place(m.astype(dt)))
    if isinstance(weights, Tensor) and weights._data.dtype.kind == "f" and np.dtype(dt).kind == "f":
        _record_weights(weights, out, y, p)   # TF's scatter_nd: weights[k] gets g[y[k], p[k]]
    return out


def _record_weights(weights, out, y, p):
    from ._common import _tapes, record
    if not _tapes:
        return
    from ..framework.device import to_device
    from .array_ops import gather_nd
    from .math_ops import cast, reduce_sum
    shape, src = weights._data.shape, weights._data.dtype
    idx = np.stack([y, p], axis=1).astype(np.int64)

    def backward(g, n):
        v = to_device(g, "cpu")[y, p].astype(src)
        return (_on_device_of(np.asarray(v.sum() if not shape else v.reshape(shape)), g),)

    def backward_t(g, n):
        v = cast(gather_nd(g, idx), weights.dtype)
        return (reduce_sum(v) if not shape else reshape(v, shape),)
    record((weights,), out, backward, backward_t, "confusion_matrix")


# ------------------------------------------------------------------ space_to_depth family
def _block_args(op, input, block_size, data_format):
    x = t_(input)
    if data_format not in ("NHWC", "NCHW"):
        raise ValueError(f"[{op}] data_format must be 'NHWC' or 'NCHW', got {data_format!r}")
    if x._data.ndim != 4:
        raise ValueError(f"[{op}] input must be 4-D ({data_format}), got shape "
                         f"{tuple(x._data.shape)}")
    if isinstance(block_size, bool) or not isinstance(block_size, (int, np.integer)) \
            or block_size < 2:
        raise ValueError(f"[{op}] block_size must be an integer >= 2, got {block_size!r}")
    if data_format == "NCHW":
        x = transpose(x, (0, 2, 3, 1))
    return x, int(block_size)


def space_to_depth(input, block_size, data_format="NHWC", name=None):
    """Moves each block_size x block_size spatial block into the channels: (N, H, W, C) ->
    (N, H/b, W/b, b*b*C), the channel index being (row in block, column in block, c), as
    TF orders it. A reshape, a transpose and a reshape, so it differentiates everywhere."""
    op = "space_to_depth"
    x, b = _block_args(op, input, block_size, data_format)
    N, H, W, C = x._data.shape
    if H % b or W % b:
        raise ValueError(f"[{op}] height and width ({H}, {W}) must be divisible by "
                         f"block_size {b} (input shape {tuple(x._data.shape)})")
    y = reshape(x, (N, H // b, b, W // b, b, C))
    y = reshape(transpose(y, (0, 1, 3, 2, 4, 5)), (N, H // b, W // b, b * b * C))
    return transpose(y, (0, 3, 1, 2)) if data_format == "NCHW" else y


def depth_to_space(input, block_size, data_format="NHWC", name=None):
    """The inverse of space_to_depth (the sub-pixel convolution's shuffle): (N, H, W, C) ->
    (N, H*b, W*b, C/(b*b))."""
    op = "depth_to_space"
    x, b = _block_args(op, input, block_size, data_format)
    N, H, W, C = x._data.shape
    if C % (b * b):
        raise ValueError(f"[{op}] depth {C} must be divisible by block_size*block_size = "
                         f"{b * b} (input shape {tuple(x._data.shape)})")
    c = C // (b * b)
    y = reshape(x, (N, H, W, b, b, c))
    y = reshape(transpose(y, (0, 1, 3, 2, 4, 5)), (N, H * b, W * b, c))
    return transpose(y, (0, 3, 1, 2)) if data_format == "NCHW" else y


# ------------------------------------------------------------------- counting on the GPU
_GPU_NUM = (np.float32, np.float64, np.int32, np.int64)


def _dev(x):
    """x's array, or None for None."""
    return None if x is None else t_(x)._data


def _gpu_count_ok(arr, weights, dtype):
    """bincount runs on the GPU when arr is a GPU tensor of int32/int64 and the weights (if
    any, moved to the GPU) and the result's dtype are ones the kernel handles."""
    a, w = _dev(arr), _dev(weights)
    if type(a) is not DeviceArray or a.dtype not in (np.int32, np.int64):
        return False
    if w is not None:
        return w.dtype in _GPU_NUM
    return np.dtype(_dt.as_dtype(dtype)._np) in _GPU_NUM


def _bincount_gpu(arr, weights, minlength, maxlength, dtype, axis, binary_output):
    op = "bincount"
    a = t_(arr)._data
    if axis not in (None, 0, -1):
        raise ValueError(f"[{op}] axis must be None, 0 or -1, got {axis!r}")
    w = None
    if weights is not None:
        w = to_device(t_(weights)._data, "cuda")
        if w.shape != a.shape:
            raise ValueError(f"[{op}] weights must have arr's shape {tuple(a.shape)}, got "
                             f"{tuple(w.shape)}")
    if axis == -1 and a.ndim != 2:
        raise ValueError(f"[{op}] axis=-1 needs a 2-D arr, got shape {tuple(a.shape)}")
    length = 0
    if a.size:  # two scalar reads: the result's size depends on the data (as in TF)
        lo = int(a.min())
        if lo < 0:
            raise ValueError(f"[{op}] arr must be non-negative, got minimum {lo}")
        length = int(a.max()) + 1
    if minlength is not None:
        length = max(length, int(minlength))
    if maxlength is not None:
        length = min(length, int(maxlength))
    out = np.dtype(_dt.as_dtype(dtype)._np).name
    y = backend().bincount(a.buf, max(length, 0), None if w is None else w.buf, axis == -1,
                           bool(binary_output), out)
    return _wrap(DeviceArray(y))


def _fixed_width_bins_gpu(v, lo, hi, nbins):
    """int64 bins clip(floor((v - lo) / (hi - lo) * nbins), 0, nbins - 1) of the GPU array v,
    computed in float64 on the device (the host path's arithmetic)."""
    b = np.floor((v.astype(np.float64) - lo) / (hi - lo) * nbins)
    return np.minimum(np.maximum(b, 0.0), float(nbins - 1)).astype(np.int64)


def _gpu_search_ok(sorted_sequence, values, out_type):
    s, v = _dev(sorted_sequence), _dev(values)
    if DeviceArray not in (type(s), type(v)):
        return False
    return (np.dtype(_dt.as_dtype(out_type)._np) in (np.int32, np.int64)
            and s.dtype in _GPU_NUM and v.dtype in _GPU_NUM)


def _searchsorted_gpu(sorted_sequence, values, side, out_type):
    """tf.searchsorted on the GPU (csrc/cuda/searchsorted.cu): no copy to the host; both
    operands go to the GPU (in their common dtype) and so does the result."""
    s = to_device(t_(sorted_sequence)._data, "cuda")
    v = to_device(t_(values)._data, "cuda")
    if s.ndim == 0 or v.ndim == 0 or s.shape[:-1] != v.shape[:-1]:
        raise ValueError(f"[searchsorted] sorted_sequence {tuple(s.shape)} and values "
                         f"{tuple(v.shape)} must have the same leading axes (rank >= 1)")
    common = np.result_type(s.dtype, v.dtype)
    if common not in _GPU_NUM:
        common = np.dtype(np.float64)
    s, v = s.astype(common, copy=False), v.astype(common, copy=False)
    out = np.dtype(_dt.as_dtype(out_type)._np).name
    return _wrap(DeviceArray(backend().searchsorted(s.buf, v.buf, side == "right", out)))


# ------------------------------------------------------------------- counting (host side)
def _host(x):
    """A tensor's values on the host, and the tensor (for placing the result back)."""
    t = t_(x)
    return np.asarray(_on_host(t._data)), t


def bincount(arr, weights=None, minlength=None, maxlength=None, dtype=_dt.int32,
             name=None, axis=None, binary_output=False):
    """Counts of each value in a non-negative integer tensor (`tf.math.bincount`): length
    max(arr) + 1, at least `minlength`, at most `maxlength`; with `weights`, sums of the
    weights (in the weights' dtype). `axis=-1` counts each row of a 2-D input separately.
    GPU tensors count with the kernel of csrc/cuda/bincount.cu (reading back only the
    minimum and maximum, which size the result); host tensors with NumPy."""
    op = "bincount"
    if _gpu_count_ok(arr, weights, dtype):
        return _bincount_gpu(arr, weights, minlength, maxlength, dtype, axis, binary_output)
    a, t = _host(arr)
    if a.dtype.kind not in "iu":
        raise TypeError(f"[{op}] arr must hold integers, got dtype {a.dtype}")
    if a.size and a.min() < 0:
        raise ValueError(f"[{op}] arr must be non-negative, got minimum {a.min()}")
    if axis not in (None, 0, -1):
        raise ValueError(f"[{op}] axis must be None, 0 or -1, got {axis!r}")
    w = None
    if weights is not None:
        w, _ = _host(weights)
        if w.shape != a.shape:
            raise ValueError(f"[{op}] weights must have arr's shape {tuple(a.shape)}, got "
                             f"{tuple(w.shape)}")
    length = int(a.max()) + 1 if a.size else 0
    if minlength is not None:
        length = max(length, int(minlength))
    if maxlength is not None:
        length = min(length, int(maxlength))
    out_dt = w.dtype if w is not None else _dt.as_dtype(dtype)._np

    def count(v, wv):
        keep = v < length
        v = v[keep]
        wv = None if wv is None else wv[keep]
        if binary_output:
            r = np.zeros(length, out_dt)
            r[v] = 1
            return r
        return np.bincount(v, weights=wv, minlength=length)[:length].astype(out_dt)

    if axis == -1:
        if a.ndim != 2:
            raise ValueError(f"[{op}] axis=-1 needs a 2-D arr, got shape {tuple(a.shape)}")
        r = np.stack([count(a[i], None if w is None else w[i]) for i in range(a.shape[0])])
    else:
        r = count(a.reshape(-1), None if w is None else w.reshape(-1))
    return _wrap(_on_device_of(np.ascontiguousarray(r), t._data))


def searchsorted(sorted_sequence, values, side="left", out_type=_dt.int32, name=None):
    """For each value, the index where it would be inserted in the innermost axis of
    `sorted_sequence` to keep it sorted (`tf.searchsorted`); leading axes must agree. When
    either operand is on the GPU it runs there (csrc/cuda/searchsorted.cu), with no copy to
    the host; otherwise NumPy."""
    op = "searchsorted"
    if side in ("left", "right") and _gpu_search_ok(sorted_sequence, values, out_type):
        return _searchsorted_gpu(sorted_sequence, values, side, out_type)
    s, t = _host(sorted_sequence)
    v, _ = _host(values)
    if side not in ("left", "right"):
        raise ValueError(f"[{op}] side must be 'left' or 'right', got {side!r}")
    if s.ndim == 0 or v.ndim == 0 or s.shape[:-1] != v.shape[:-1]:
        raise ValueError(f"[{op}] sorted_sequence {tuple(s.shape)} and values "
                         f"{tuple(v.shape)} must have the same leading axes (rank >= 1)")
    s2 = s.reshape(-1, s.shape[-1])
    v2 = v.reshape(-1, v.shape[-1])
    r = np.stack([np.searchsorted(s2[i], v2[i], side=side) for i in range(s2.shape[0])])
    r = r.reshape(v.shape).astype(_dt.as_dtype(out_type)._np)
    return _wrap(_on_device_of(np.ascontiguousarray(r), t._data))


def unique_with_counts(x, out_idx=_dt.int32, name=None):
    """(y, idx, count): the unique values of a 1-D tensor in order of first appearance, the
    index of each element in y, and how often each appears (`tf.unique_with_counts`)."""
    from .array_ops import _unique_on_gpu, unique
    on_gpu = _unique_on_gpu(t_(x)._data, out_idx, True)
    if on_gpu is not None:  # csrc/cuda/unique.cu: counts too, no copy of x to the host
        return UniqueWithCounts(*on_gpu)
    a, t = _host(x)
    if a.ndim != 1:
        raise ValueError(f"[unique_with_counts] x must be 1-D, got shape {tuple(a.shape)}")
    y, idx = unique(x, out_idx)
    counts = np.bincount(np.asarray(_on_host(idx._data)), minlength=int(y._data.shape[0]))
    return UniqueWithCounts(y, idx, _wrap(_on_device_of(counts.astype(_dt.as_dtype(out_idx)._np),
                                                        t._data)))


UniqueWithCounts = _collections.namedtuple("UniqueWithCounts", "y idx count")


def histogram_fixed_width(values, value_range, nbins=100, dtype=_dt.int32, name=None):
    """Counts of `values` in `nbins` equal bins over [value_range[0], value_range[1]]; values
    below the range go to the first bin, above it to the last (`tf.histogram_fixed_width`)."""
    op = "histogram_fixed_width"
    rng = _host(value_range)[0] if isinstance(value_range, Tensor) else value_range
    lo, hi = (float(a) for a in np.asarray(rng, np.float64).reshape(-1)[:2])  # (no upload)
    nbins = int(nbins.numpy() if isinstance(nbins, Tensor) else nbins)
    if nbins < 1:
        raise ValueError(f"[{op}] nbins must be positive, got {nbins}")
    if not hi > lo:
        raise ValueError(f"[{op}] value_range must be increasing, got [{lo}, {hi}]")
    d, out = _dev(values), np.dtype(_dt.as_dtype(dtype)._np)
    if type(d) is DeviceArray and d.dtype in _GPU_NUM and out in _GPU_NUM:
        # on the GPU: the bin arithmetic on the device, then the bincount kernel
        b = _fixed_width_bins_gpu(d.reshape(-1), lo, hi, nbins)
        return _wrap(DeviceArray(backend().bincount(b.buf, nbins, None, False, False,
                                                    out.name)))
    v, t = _host(values)
    b = np.floor((v.reshape(-1).astype(np.float64) - lo) / (hi - lo) * nbins)
    b = np.clip(b, 0, nbins - 1).astype(np.int64)
    r = np.bincount(b, minlength=nbins).astype(_dt.as_dtype(dtype)._np)
    return _wrap(_on_device_of(r, t._data))


# ------------------------------------------------------------------------ small math ops
def log_sigmoid(x, name=None):
    """log(sigmoid(x)) = -softplus(-x), stable for large |x|; differentiable."""
    from .math_ops import negative
    from .nn_ops import softplus
    return negative(softplus(negative(x)))


def polyval(coeffs, x, name=None):
    """sum_i coeffs[i] * x**(n-1-i) by Horner's rule (`tf.math.polyval`): coeffs is a list of
    tensors (highest power first); differentiable in both."""
    from .math_ops import add, multiply
    if not isinstance(coeffs, (list, tuple)):
        raise ValueError(f"[polyval] coeffs must be a list of tensors, got "
                         f"{type(coeffs).__name__}")
    x = t_(x)
    if not coeffs:
        return _wrap(_on_device_of(np.zeros(x._data.shape, x._data.dtype), x._data))
    y = t_(coeffs[0])
    for c in coeffs[1:]:
        y = add(multiply(y, x), c)
    return y
