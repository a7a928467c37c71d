"""Linear algebra (TF's `tf.einsum`, `tf.norm`, `tf.linalg.*`).

einsum, norm, trace, diag, diag_part and band_part are compositions of existing ops
(transpose, reshape, matmul, reduce_sum, gather, where), so they have gradients and run on
the GPU. inv, det and slogdet are small dense factorizations: they run on the host with
NumPy, GPU tensors on the LU kernels of linalg_cuda.py (csrc/cuda/linalg_lu.cu), and record
their own gradients:
d inv = -inv^T g inv^T, d det = g adj(A)^T (= det inv^T, but defined for singular matrices
too), d log|det| = g inv^T.
"""
import builtins

import numpy as np

from ..framework.device import DeviceArray, to_device
from ._common import Tensor, _tapes, _wrap, binary_operands, norm_axis, record, t_
from .array_ops import broadcast_to, expand_dims, gather, reshape, transpose, where
from .math_ops import (abs, add_n, cast, matmul, multiply, pow, reduce_max, reduce_sum, sqrt,
                       square)
from . import linalg_cuda as _gpu_linalg

_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _like_device(arr, like):
    return to_device(arr, "cuda" if type(like) is DeviceArray else "cpu")


# ---------------------------------------------------------------- einsum


def _einsum_error(equation, shapes, msg):
    return ValueError(f"[einsum] equation {equation!r} with input shapes "
                      f"{[tuple(s) for s in shapes]}: {msg}")


def _parse_term(equation, shapes, term, where_, ndim=None):
    """'ab...c' -> (letters before '...', has ellipsis, letters after)."""
    if term.count("...") > 1:
        raise _einsum_error(equation, shapes, f"{where_} {term!r} has more than one '...'")
    pre, ell, post = term.partition("...")
    for ch in pre + post:
        if ch not in _LETTERS:
            raise _einsum_error(equation, shapes, f"{where_} {term!r} has the character {ch!r} "
                                "(subscripts are letters and at most one '...')")
    if ndim is not None:
        n = len(pre) + len(post)
        if (not ell and n != ndim) or (ell and n > ndim):
            raise _einsum_error(equation, shapes, f"{where_} {term!r} has {n} subscript(s) but "
                                f"the input has rank {ndim}")
    return list(pre), bool(ell), list(post)


def einsum(equation, *inputs, **kwargs):
    """Einstein summation over the subscripts in `equation` (TF's `tf.einsum`): matmul
    ('ij,jk->ik'), batch matmul ('bij,bjk->bik', 'bhqd,bhkd->bhqk'), transposes ('ij->ji'),
    outer products ('i,j->ij'), reductions ('ij->i', 'ij->'), elementwise products and
    broadcasting with '...'. Any number of inputs, contracted left to right. A subscript
    repeated within one input takes its diagonal ('ii->i', 'bxby->bxy'; 'ii->' is the
    trace)."""
    if not isinstance(equation, str):
        raise TypeError(f"[einsum] equation must be a string, got {equation!r}")
    if len(inputs) == 1 and isinstance(inputs[0], (list, tuple)):
        inputs = tuple(inputs[0])
    if not inputs:
        raise ValueError(f"[einsum] equation {equation!r} needs at least one input")
    # non-tensors (lists, NumPy arrays, numbers) adapt to the first tensor's dtype and device
    ref = next((x for x in inputs if isinstance(x, Tensor)), None)
    ref = t_(inputs[0]) if ref is None else ref
    xs = [binary_operands("einsum", ref, x)[1] for x in inputs]
    shapes = [tuple(x._data.shape) for x in xs]
    eq = "".join(equation.split())
    if eq.count("->") > 1:
        raise _einsum_error(equation, shapes, "more than one '->'")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(xs):
        raise _einsum_error(equation, shapes, f"the equation has {len(terms)} input term(s) but "
                            f"{len(xs)} input(s) were given")
    parsed = [_parse_term(equation, shapes, t, f"input {i}", len(shapes[i]))
              for i, t in enumerate(terms)]
    # ellipsis dims get labels '.0', '.1', ... aligned from the right (broadcasting)
    n_ell = builtins.max([len(shapes[i]) - len(p) - len(q) for i, (p, e, q) in
                          enumerate(parsed) if e] or [0])
    ell_labels = [f".{j}" for j in builtins.range(n_ell)]
    labels, raw_labels = [], []
    for i, (pre, ell, post) in enumerate(parsed):
        k = len(shapes[i]) - len(pre) - len(post) if ell else 0
        lab = pre + ell_labels[n_ell - k:] + post
        raw_labels.append(lab)
        if len(set(lab)) != len(lab):
            # a subscript repeated within one input takes the diagonal ('ii->i', 'bxby->bxy')
            xs[i], lab = _einsum_diagonal(equation, shapes, i, terms[i], xs[i], lab)
        labels.append(lab)
    # sizes: letters must agree exactly; ellipsis dims broadcast (1 against n)
    size = {}
    for i, lab in enumerate(labels):
        for ch, d in zip(lab, xs[i]._data.shape):
            if ch not in size or size[ch] == d:
                size[ch] = d
            elif ch.startswith(".") and (size[ch] == 1 or d == 1):
                size[ch] = builtins.max(size[ch], d)
            else:
                where_ = "the '...' dimensions" if ch.startswith(".") else f"subscript {ch!r}"
                raise _einsum_error(equation, shapes, f"{where_} have sizes {size[ch]} and {d} "
                                    f"(input {i} {terms[i]!r} disagrees with an earlier input)")
    any_ell = any(e for _, e, _ in parsed)
    if arrow:
        pre, ell, post = _parse_term(equation, shapes, rhs, "the output")
        if any_ell and not ell and n_ell:
            raise _einsum_error(equation, shapes, "the inputs use '...' but the output does not")
        out = pre + (ell_labels if ell else []) + post
        if len(set(out)) != len(out):
            raise _einsum_error(equation, shapes, f"the output {rhs!r} repeats a subscript")
        for ch in pre + post:
            if ch not in size:
                raise _einsum_error(equation, shapes, f"output subscript {ch!r} is in no input")
    else:
        counts = {}   # implicit output: the subscripts that appear once ('ii' is a trace)
        for lab in raw_labels:
            for ch in lab:
                counts[ch] = counts.get(ch, 0) + 1
        out = ell_labels + sorted(ch for ch, c in counts.items()
                                  if c == 1 and not ch.startswith("."))
    # broadcast size-1 '...' dims up front
    ops = []
    for x, lab in zip(xs, labels):
        want = tuple(size[ch] for ch in lab)
        if tuple(x._data.shape) != want:
            x = broadcast_to(x, want)
        ops.append((x, lab))
    x, lab = ops[0]
    for i in builtins.range(1, len(ops)):
        rest = set(out)
        for _, lb in ops[i + 1:]:
            rest.update(lb)
        x, lab = _contract(x, lab, ops[i][0], ops[i][1], rest, size)
    # final: sum what the output drops, order as the output
    drop = [j for j, ch in enumerate(lab) if ch not in out]
    if drop:
        x = reduce_sum(x, axis=drop)
        lab = [ch for ch in lab if ch in out]
    perm = [lab.index(ch) for ch in out]
    if perm != list(builtins.range(len(perm))):
        x = transpose(x, perm)
    return x


def _einsum_diagonal(equation, shapes, i, term, x, lab):
    """Input `x` labelled `lab` with repeated subscripts -> its diagonal over each repeat
    (the later axis is dropped): x * eye summed over that axis, so gradients flow."""
    lab = list(lab)
    while True:
        dup = next(((j, k) for j in builtins.range(len(lab))
                    for k in builtins.range(j + 1, len(lab)) if lab[j] == lab[k]), None)
        if dup is None:
            return x, lab
        j, k = dup
        n, m = x._data.shape[j], x._data.shape[k]
        if n != m:
            raise _einsum_error(equation, shapes, f"subscript {lab[j]!r} repeats in input {i} "
                                f"{term!r} over axes of sizes {n} and {m}")
        eye_shape = [1] * len(lab)
        eye_shape[j] = eye_shape[k] = n
        eye = np.eye(n, dtype=x._data.dtype).reshape(eye_shape)
        x = reduce_sum(multiply(x, binary_operands("einsum", x, eye)[1]), axis=k)
        del lab[k]


def _contract(a, la, b, lb, rest, size):
    """Two operands -> their product, keeping the labels in `rest` (batch matmul)."""
    da = [j for j, ch in enumerate(la) if ch not in lb and ch not in rest]
    if da:
        a = reduce_sum(a, axis=da)
        la = [ch for ch in la if ch in lb or ch in rest]
    db = [j for j, ch in enumerate(lb) if ch not in la and ch not in rest]
    if db:
        b = reduce_sum(b, axis=db)
        lb = [ch for ch in lb if ch in la or ch in rest]
    batch = [ch for ch in la if ch in lb and ch in rest]
    contr = [ch for ch in la if ch in lb and ch not in rest]
    fa = [ch for ch in la if ch not in lb]
    fb = [ch for ch in lb if ch not in la]
    bs = [size[ch] for ch in batch]
    fas = [size[ch] for ch in fa]
    fbs = [size[ch] for ch in fb]
    if not contr or a._data.dtype.kind != "f":
        # an elementwise (outer) product with broadcasting, summed over the contracted labels
        # (integers take this path too: the GPU GEMM is float-only)
        cs = [size[ch] for ch in contr]
        a = _arrange(a, la, batch + fa + contr)
        b = _arrange(b, lb, batch + fb + contr)
        a = reshape(a, bs + fas + [1] * len(fb) + cs)
        b = reshape(b, bs + [1] * len(fa) + fbs + cs)
        p = multiply(a, b)
        if contr:
            nd = len(bs) + len(fas) + len(fbs)
            p = reduce_sum(p, axis=list(builtins.range(nd, nd + len(cs))))
        return p, batch + fa + fb
    m = int(np.prod(fas, dtype=np.int64))
    n = int(np.prod(fbs, dtype=np.int64))
    k = int(np.prod([size[ch] for ch in contr], dtype=np.int64))
    lead = [int(np.prod(bs, dtype=np.int64))] if batch else []
    # take each operand as it is laid out when it already is (batch, M, K) or (batch, K, M)
    if la == batch + contr + fa:
        a2, ta = reshape(a, lead + [k, m]), True
    else:
        a2, ta = reshape(_arrange(a, la, batch + fa + contr), lead + [m, k]), False
    if lb == batch + fb + contr:
        b2, tb = reshape(b, lead + [n, k]), True
    else:
        b2, tb = reshape(_arrange(b, lb, batch + contr + fb), lead + [k, n]), False
    c = matmul(a2, b2, transpose_a=ta, transpose_b=tb)
    return reshape(c, bs + fas + fbs), batch + fa + fb


def _arrange(x, lab, order):
    perm = [lab.index(ch) for ch in order]
    return x if perm == list(builtins.range(len(perm))) else transpose(x, perm)


# ---------------------------------------------------------------- norms


def _float_input(op, tensor):
    x = t_(tensor)
    if x._data.dtype.kind != "f":
        raise TypeError(f"[{op}] input must be a floating-point tensor, got "
                        f"{x._data.dtype.name} {tuple(x._data.shape)}")
    return x


def norm(tensor, ord="euclidean", axis=None, keepdims=None, name=None):  # noqa: A002
    """Vector and matrix norms (TF's `tf.norm`). axis None: the whole tensor as one vector;
    an int: vector norms along it; a pair: matrix norms over those two axes. Vector `ord`:
    'euclidean' (2), 1, np.inf or any p > 0; matrix `ord`: 'euclidean' / 'fro', 1 (max
    column sum), np.inf (max row sum). ('fro' with axis None is the Frobenius norm of the
    whole tensor, which TF rejects.)"""
    x = _float_input("norm", tensor)
    a = x._data
    keepdims = bool(keepdims)
    if isinstance(axis, Tensor):
        axis = axis._data.tolist()
    if isinstance(axis, np.ndarray):
        axis = axis.tolist()
    if axis is None:
        axes = tuple(builtins.range(a.ndim))
        matrix = False
    elif isinstance(axis, (int, np.integer)):
        axes = norm_axis("norm", axis, a.ndim)
        matrix = False
    else:
        axis = [int(v) for v in axis]
        if len(axis) not in (1, 2):
            raise ValueError(f"[norm] axis must be None, an int or a pair of ints, got {axis}")
        axes = norm_axis("norm", axis, a.ndim)
        if len(axes) != len(axis):
            raise ValueError(f"[norm] axis {axis} names the same dimension twice")
        matrix = len(axis) == 2
    if isinstance(ord, str):
        if ord not in ("euclidean", "fro"):
            raise ValueError(f"[norm] ord must be 'euclidean', 'fro', 1, 2, np.inf or a "
                             f"positive number, got {ord!r}")
        if ord == "fro" and axis is not None and not matrix:
            raise ValueError("[norm] ord='fro' is a matrix norm: give axis as a pair of ints")
    elif isinstance(ord, (bool, np.bool_)) or not isinstance(ord, (int, float, np.number)) \
            or not ord > 0:
        raise ValueError(f"[norm] ord must be 'euclidean', 'fro', 1, 2, np.inf or a positive "
                         f"number, got {ord!r}")
    if ord in ("euclidean", "fro") or (not matrix and ord == 2):
        return sqrt(reduce_sum(square(x), axes, keepdims))
    if not matrix:
        if ord == 1:
            return reduce_sum(abs(x), axes, keepdims)
        if ord == np.inf:
            return reduce_max(abs(x), axes, keepdims)
        p = float(ord)
        return pow(reduce_sum(pow(abs(x), p), axes, keepdims), 1.0 / p)
    r0, c0 = [int(v) % a.ndim for v in axis]
    if ord == 1:       # max over columns of the column sums
        first, second = r0, c0
    elif ord == np.inf:  # max over rows of the row sums
        first, second = c0, r0
    else:
        raise ValueError(f"[norm] matrix norm ord={ord!r} is not supported (use 'euclidean', "
                         "'fro', 1 or np.inf)")
    s = reduce_sum(abs(x), first, keepdims=True)
    r = reduce_max(s, second, keepdims=True)
    if not keepdims:
        r = reshape(r, [d for i, d in enumerate(a.shape) if i not in (r0, c0)])
    return r


def global_norm(t_list, name=None):
    """sqrt(sum of the squared entries of every tensor in t_list); None entries are skipped."""
    if isinstance(t_list, Tensor) or not isinstance(t_list, (list, tuple)):
        raise TypeError(f"[global_norm] t_list must be a list or tuple of tensors, got "
                        f"{type(t_list).__name__}")
    ts = [_float_input("global_norm", t) for t in t_list if t is not None]
    if not ts:
        raise ValueError("[global_norm] t_list has no tensors (every entry is None)")
    dt = np.result_type(*[t._data.dtype for t in ts])
    sums = [reduce_sum(square(t)) for t in ts]
    sums = [s if s._data.dtype == dt else cast(s, dt.name) for s in sums]
    return sqrt(add_n(sums))


# ---------------------------------------------------------------- matrix ops on the host


def _square_input(op, input, host=True):  # noqa: A002
    x = _float_input(op, input)
    a = x._data
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ValueError(f"[{op}] input must be a square matrix or a batch of them (..., N, N), "
                         f"got shape {tuple(a.shape)}")
    if a.dtype == np.float16:
        raise TypeError(f"[{op}] float16 is not supported; cast to float32")
    return x, a, (to_device(a, "cpu") if host else None)


def _mT(v):
    return np.swapaxes(v, -1, -2)


def inv(input, adjoint=False, name=None):  # noqa: A002
    """The inverse of each square matrix in the last two axes (host NumPy; GPU tensors: the
    LU kernels of linalg_cuda)."""
    if _gpu_linalg.on_gpu(input):
        return _gpu_linalg.inv(_square_input("inv", input, host=False)[0], adjoint)
    x, a, h = _square_input("inv", input)
    try:
        r = np.linalg.inv(_mT(h) if adjoint else h).astype(a.dtype)
    except np.linalg.LinAlgError:
        raise ValueError(f"[inv] input of shape {tuple(a.shape)} is not invertible (a matrix "
                         "is singular)") from None
    out = _wrap(_like_device(np.ascontiguousarray(r), a))
    if _tapes:
        def bwd(g, n):
            it = _mT(out._data)
            gx = -(it @ g @ it)
            return (_mT(gx) if adjoint else gx,)

        def bwd_t(g, n):  # the same with nabi ops on the output: differentiable again
            gx = -matmul(matmul(out, g, transpose_a=True), out, transpose_b=True)
            return (_swap_t(gx) if adjoint else gx,)
        record((x,), out, bwd, bwd_t, "inv")
    return out


def _swap_t(v):
    """The last two axes of a Tensor swapped (recorded)."""
    nd = v._data.ndim
    return transpose(v, list(range(nd - 2)) + [nd - 1, nd - 2])


def _inv_T_t(x, op):
    """inv(x)^T with nabi ops, for the second-order rules of det and slogdet (singular
    matrices raise, naming the op: their Hessian needs the inverse)."""
    try:
        return _swap_t(inv(x))
    except ValueError:
        raise ValueError(f"[{op}] the second-order gradient needs the inverse: the input of "
                         f"shape {tuple(x._data.shape)} is singular") from None


def _adjugate_T(h):
    """adj(A)^T for each matrix of h (host), the gradient of det: from the SVD A = U S V^T,
    adj(A) = det(U) det(V) V adj(S) U^T with adj(S) = diag(prod of the other singular values),
    which stays exact for singular matrices."""
    if h.shape[-1] == 0:
        return np.zeros_like(h)
    u, s, vt = np.linalg.svd(h)
    ones = np.ones_like(s[..., :1])
    left = np.concatenate([ones, np.cumprod(s[..., :-1], axis=-1)], axis=-1)
    right = np.concatenate([np.cumprod(s[..., :0:-1], axis=-1)[..., ::-1], ones], axis=-1)
    others = left * right
    d = np.linalg.det(u) * np.linalg.det(vt)
    adj = _mT(vt) @ (others[..., :, None] * _mT(u))
    return _mT(adj * d[..., None, None])


def det(input, name=None):  # noqa: A002
    """The determinant of each square matrix in the last two axes (host NumPy; GPU tensors: the
    LU kernels of linalg_cuda)."""
    if _gpu_linalg.on_gpu(input):
        return _gpu_linalg.det(_square_input("det", input, host=False)[0])
    x, a, h = _square_input("det", input)
    out = _wrap(_like_device(np.asarray(np.linalg.det(h), dtype=a.dtype), a))
    if _tapes:
        def bwd(g, n):
            adjt = _like_device(np.ascontiguousarray(_adjugate_T(h).astype(a.dtype)), g)
            return (adjt * g[..., None, None],)

        def bwd_t(g, n):  # g det(x) inv(x)^T
            return (multiply(expand_dims(expand_dims(multiply(g, out), -1), -1),
                             _inv_T_t(x, "det")),)
        record((x,), out, bwd, bwd_t, "det")
    return out


def slogdet(input, name=None):  # noqa: A002
    """(sign, log|det|) of each square matrix in the last two axes (host NumPy); the gradient
    flows through log|det| (g inv^T). GPU tensors: the LU kernels of linalg_cuda."""
    if _gpu_linalg.on_gpu(input):
        return _gpu_linalg.slogdet(_square_input("slogdet", input, host=False)[0])
    x, a, h = _square_input("slogdet", input)
    sign, logabs = np.linalg.slogdet(h)
    s = _wrap(_like_device(np.asarray(sign, dtype=a.dtype), a))
    la = _wrap(_like_device(np.asarray(logabs, dtype=a.dtype), a))
    if _tapes:
        def bwd(grads, n):
            g = grads[1]
            try:
                it = _mT(np.linalg.inv(h)).astype(a.dtype)
            except np.linalg.LinAlgError:
                raise ValueError(f"[slogdet] the gradient of log|det| is undefined: the input "
                                 f"of shape {tuple(a.shape)} is singular") from None
            return (_like_device(np.ascontiguousarray(it), g) * g[..., None, None],)

        def bwd_t(grads, n):
            return (multiply(expand_dims(expand_dims(grads[1], -1), -1),
                             _inv_T_t(x, "slogdet")),)
        record((x,), [s, la], bwd, bwd_t, "slogdet")
    return s, la


# ---------------------------------------------------------------- diagonals and bands


def _matrix_input(op, input):  # noqa: A002
    x = t_(input)
    if x._data.ndim < 2:
        raise ValueError(f"[{op}] input must have rank >= 2 (..., M, N), got shape "
                         f"{tuple(x._data.shape)}")
    return x


def _k_zero(op, k):
    if isinstance(k, Tensor):
        k = k._data.tolist()
    if k not in (0, (0, 0), [0, 0]):
        raise NotImplementedError(f"[{op}] only the main diagonal (k=0) is supported, got k={k}")


def diag_part(input, name=None, k=0, padding_value=0, align="RIGHT_LEFT"):  # noqa: A002
    """The main diagonal of each matrix in the last two axes: (..., M, N) -> (..., min(M, N))."""
    _k_zero("diag_part", k)
    x = _matrix_input("diag_part", input)
    m, n = x._data.shape[-2:]
    d = builtins.min(m, n)
    flat = reshape(x, tuple(x._data.shape[:-2]) + (m * n,))
    return gather(flat, np.arange(d, dtype=np.int64) * (n + 1), axis=-1)


def trace(x, name=None):
    """Sum of the main diagonal of each matrix in the last two axes."""
    return reduce_sum(diag_part(_matrix_input("trace", x)), axis=-1)


def diag(diagonal, name=None, k=0, num_rows=-1, num_cols=-1, padding_value=0,
         align="RIGHT_LEFT"):
    """Square matrices with `diagonal` (..., N) on their main diagonal: (..., N, N)."""
    _k_zero("diag", k)
    v = t_(diagonal)
    a = v._data
    if a.ndim < 1:
        raise ValueError("[diag] diagonal must have rank >= 1 (..., N), got a scalar")
    n = a.shape[-1]
    if (num_rows not in (-1, None, n)) or (num_cols not in (-1, None, n)):
        raise NotImplementedError(f"[diag] only square N x N output is supported (N={n}), got "
                                  f"num_rows={num_rows}, num_cols={num_cols}")
    eye = _wrap(_like_device(np.eye(n, dtype=bool), a))
    fill = _wrap(_like_device(np.asarray(padding_value, dtype=a.dtype), a))
    return where(eye, expand_dims(v, -1), fill)


def band_part(input, num_lower, num_upper, name=None):  # noqa: A002
    """Keeps the band of each matrix with num_lower subdiagonals and num_upper superdiagonals
    (negative: all of them), zeroing the rest: band_part(x, 0, -1) is the upper triangle."""
    x = _matrix_input("band_part", input)
    a = x._data

    def arg(v, nm):
        if isinstance(v, Tensor):
            v = v._data.item()
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"[band_part] {nm} must be an integer, got {v!r}")
        return int(v)
    lo, up = arg(num_lower, "num_lower"), arg(num_upper, "num_upper")
    m, n = a.shape[-2:]
    i = np.arange(m)[:, None]
    j = np.arange(n)[None, :]
    keep = ((lo < 0) | (i - j <= lo)) & ((up < 0) | (j - i <= up))
    zero = _wrap(_like_device(np.zeros((), a.dtype), a))
    return where(_wrap(_like_device(keep, a)), x, zero)


def matrix_transpose(a, name=None, conjugate=False):
    """Swaps the last two axes."""
    x = _matrix_input("matrix_transpose", a)
    nd = x._data.ndim
    return transpose(x, list(builtins.range(nd - 2)) + [nd - 1, nd - 2], conjugate=conjugate)


__all__ = ["einsum", "norm", "global_norm", "inv", "det", "slogdet", "trace", "diag",
           "diag_part", "band_part", "matrix_transpose"]
