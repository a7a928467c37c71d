"""Diagonal bands and tridiagonal systems under TF's names: tf.linalg.diag_part / diag with any
k (a diagonal or a band k = (k0, k1)), num_rows, num_cols, padding_value and align;
tf.linalg.set_diag (tf.linalg.matrix_set_diag); tf.linalg.tridiagonal_matmul and
tridiagonal_solve.

All are compositions of nabi ops, so they run where their input lives and take their gradients
from those ops:
  * the diagonal ops build, once in NumPy, a table of flat indices (which element of the
    flattened source feeds each output element, -1 for padding) following TF's definition
    (MatrixDiagPartV3 / MatrixDiagV3 / MatrixSetDiagV3): diagonal d = k1 - j of the band holds
    input[n + y, n + x] at position n, y = max(-d, 0) - offset, x = max(d, 0) - offset, with
    offset = max_diag_len - diag_len(d) where the diagonal is right-aligned ("RIGHT" for d >= 0
    is align's first word, for d <= 0 its second), else 0; then gather + where;
  * tridiagonal_matmul: main * rhs plus the shifted super- and subdiagonal products;
  * tridiagonal_solve: the dense tridiagonal matrix (scattered from the three diagonals) and
    nabi's batched solve (LU with partial pivoting; partial_pivoting=False gives the same
    solution where the unpivoted Thomas algorithm succeeds).
"""
import builtins

import numpy as np

from ._common import Tensor, _wrap, t_
from .array_ops import concat, expand_dims, gather, reshape, stack, where
from .array_ops import transpose as _transpose
from .linalg_ops import _like_device
from .linalg_ops import diag as _diag0, diag_part as _diag_part0
from .math_ops import add, multiply
from .complex_ops import conj as _conj

_ALIGNS = ("RIGHT_LEFT", "LEFT_RIGHT", "LEFT_LEFT", "RIGHT_RIGHT")


def _ints(op, k):
    if isinstance(k, Tensor):
        k = k._data.tolist() if type(k._data) is np.ndarray else np.asarray(k.numpy()).tolist()
    if isinstance(k, np.ndarray):
        k = k.tolist()
    if isinstance(k, (list, tuple)):
        if not 1 <= len(k) <= 2:
            raise ValueError(f"[{op}] k must be a scalar or a pair (k0, k1), got {k!r}")
        k0, k1 = int(k[0]), int(k[-1])
    else:
        k0 = k1 = int(k)
    if k0 > k1:
        raise ValueError(f"[{op}] the lower diagonal index k[0]={k0} must not exceed the upper "
                         f"k[1]={k1}")
    return k0, k1


def _align(op, align):
    if align not in _ALIGNS:
        raise ValueError(f"[{op}] align must be one of {_ALIGNS}, got {align!r}")
    sup, sub = align.split("_")
    return sup == "RIGHT", sub == "RIGHT"


def _diag_len(d, m, n):
    return builtins.min(m + builtins.min(0, d), n - builtins.max(0, d))


def _offset(d, max_len, m, n, right):
    sup_r, sub_r = right
    if (d >= 0 and sup_r) or (d <= 0 and sub_r):
        return max_len - _diag_len(d, m, n)
    return 0


def _band_table(k0, k1, m, n, right):
    """(num_diags, max_diag_len) flat indices into an (m, n) matrix, -1 for padding."""
    max_len = builtins.min(m + builtins.min(k1, 0), n - builtins.max(k0, 0))
    tab = np.full((k1 - k0 + 1, builtins.max(max_len, 0)), -1, np.int64)
    for j, d in enumerate(range(k1, k0 - 1, -1)):
        off = _offset(d, max_len, m, n, right)
        p = np.arange(max_len)
        r = p + builtins.max(-d, 0) - off
        c = p + builtins.max(d, 0) - off
        ok = (r >= 0) & (r < m) & (c >= 0) & (c < n)
        tab[j, ok] = r[ok] * n + c[ok]
    return tab, max_len


def _matrix_table(k0, k1, m, n, max_len, right):
    """(m, n) flat indices into a (num_diags, max_len) diagonal array, -1 off the band."""
    tab = np.full((m, n), -1, np.int64)
    i = np.arange(m)[:, None]
    jj = np.arange(n)[None, :]
    d = jj - i
    for dd in range(k0, k1 + 1):
        sel = d == dd
        if not sel.any():
            continue
        off = _offset(dd, max_len, m, n, right)
        pos = np.broadcast_to(np.minimum(i, jj) + off, (m, n))[sel]
        tab[sel] = (k1 - dd) * max_len + pos
    return tab


def _pad_value(op, padding_value, like):
    pv = padding_value
    if isinstance(pv, Tensor):
        pv = pv.numpy()
    return _wrap(_like_device(np.asarray(pv, dtype=like._data.dtype), like._data))


def diag_part(input, name=None, k=0, padding_value=0, align="RIGHT_LEFT"):  # noqa: A002
    """The diagonal k (..., max_diag_len), or the band k = (k0, k1) (..., k1 - k0 + 1,
    max_diag_len) of each matrix (..., M, N), the shorter diagonals padded with padding_value
    as `align` says (TF's matrix_diag_part)."""
    op = "diag_part"
    k0, k1 = _ints(op, k)
    right = _align(op, align)
    x = t_(input)
    if x._data.ndim < 2:
        raise ValueError(f"[{op}] input must have rank >= 2 (..., M, N), got shape "
                         f"{tuple(x._data.shape)}")
    m, n = x._data.shape[-2:]
    if k0 == k1 == 0:
        return _diag_part0(x)
    if not (-m < k0 <= k1 < n) and (m > 0 and n > 0):
        raise ValueError(f"[{op}] k=({k0}, {k1}) out of range for matrices of shape "
                         f"{tuple(x._data.shape[-2:])}: need -{m} < k[0] <= k[1] < {n}")
    tab, _ = _band_table(k0, k1, m, n, right)
    if k0 == k1:
        tab = tab[0]
    flat = reshape(x, tuple(x._data.shape[:-2]) + (m * n,))
    g = gather(flat, np.maximum(tab, 0), axis=-1)
    if (tab >= 0).all():
        return g
    valid = _wrap(_like_device(tab >= 0, x._data))
    return where(valid, g, _pad_value(op, padding_value, x))


def diag(diagonal, name=None, k=0, num_rows=-1, num_cols=-1, padding_value=0,
         align="RIGHT_LEFT"):
    """Matrices (..., num_rows, num_cols) with `diagonal` on diagonal k, or the band k = (k0, k1)
    from diagonal (..., k1 - k0 + 1, max_diag_len), the rest padding_value (TF's matrix_diag;
    num_rows / num_cols -1 are inferred, square when both are)."""
    op = "diag"
    k0, k1 = _ints(op, k)
    right = _align(op, align)
    v = t_(diagonal)
    a = v._data
    num_rows = -1 if num_rows is None else int(num_rows)
    num_cols = -1 if num_cols is None else int(num_cols)
    if a.ndim < 1:
        raise ValueError(f"[{op}] diagonal must have rank >= 1 (..., N), got a scalar")
    if k0 == k1 == 0 and num_rows in (-1, a.shape[-1]) and num_cols in (-1, a.shape[-1]):
        return _diag0(v, padding_value=padding_value)
    nd = k1 - k0 + 1
    if k0 != k1:
        if a.ndim < 2 or a.shape[-2] != nd:
            raise ValueError(f"[{op}] for the band k=({k0}, {k1}) diagonal must have shape "
                             f"(..., {nd}, max_diag_len), got {tuple(a.shape)}")
    max_len = a.shape[-1]
    min_rows = max_len - builtins.min(k1, 0)
    min_cols = max_len + builtins.max(k0, 0)
    if num_rows == -1 and num_cols == -1:
        num_rows = num_cols = builtins.max(min_rows, min_cols)
    elif num_rows == -1:
        num_rows = min_rows
    elif num_cols == -1:
        num_cols = min_cols
    if num_rows != min_rows and num_cols != min_cols:
        raise ValueError(f"[{op}] num_rows={num_rows} or num_cols={num_cols} must be the "
                         f"smallest size that fits diagonal {tuple(a.shape)} at k=({k0}, {k1}): "
                         f"{min_rows} rows or {min_cols} columns")
    if num_rows < min_rows or num_cols < min_cols:
        raise ValueError(f"[{op}] num_rows={num_rows}, num_cols={num_cols} are too small for "
                         f"diagonal {tuple(a.shape)} at k=({k0}, {k1})")
    tab = _matrix_table(k0, k1, num_rows, num_cols, max_len, right)
    batch = tuple(a.shape[:-2]) if k0 != k1 else tuple(a.shape[:-1])
    flat = reshape(v, batch + (nd * max_len,))
    g = gather(flat, np.maximum(tab, 0), axis=-1)
    valid = _wrap(_like_device(tab >= 0, a))
    return where(valid, g, _pad_value(op, padding_value, v))


def set_diag(input, diagonal, name=None, k=0, align="RIGHT_LEFT"):  # noqa: A002
    """input with diagonal k (or the band k = (k0, k1)) replaced by `diagonal`, shaped as
    diag_part(input, k) would return it (TF's matrix_set_diag)."""
    op = "set_diag"
    k0, k1 = _ints(op, k)
    right = _align(op, align)
    x = t_(input)
    v = diagonal if isinstance(diagonal, Tensor) else t_(diagonal, dtype=x.dtype)
    if x._data.ndim < 2:
        raise ValueError(f"[{op}] input must have rank >= 2 (..., M, N), got shape "
                         f"{tuple(x._data.shape)}")
    if v._data.dtype != x._data.dtype:
        raise TypeError(f"[{op}] input {x._data.dtype.name} {tuple(x._data.shape)} and diagonal "
                        f"{v._data.dtype.name} {tuple(v._data.shape)} must have one dtype")
    shp = tuple(x._data.shape)
    m, n = shp[-2:]
    if not (-m < k0 <= k1 < n) and (m > 0 and n > 0):
        raise ValueError(f"[{op}] k=({k0}, {k1}) out of range for matrices of shape {(m, n)}")
    max_len = builtins.min(m + builtins.min(k1, 0), n - builtins.max(k0, 0))
    nd = k1 - k0 + 1
    want = shp[:-2] + ((max_len,) if k0 == k1 else (nd, max_len))
    if tuple(v._data.shape) != want:
        raise ValueError(f"[{op}] diagonal must have shape {want} for input {shp} and "
                         f"k=({k0}, {k1}), got {tuple(v._data.shape)}")
    tab = _matrix_table(k0, k1, m, n, max_len, right)
    flat = reshape(v, shp[:-2] + (nd * max_len,))
    g = gather(flat, np.maximum(tab, 0), axis=-1)
    valid = _wrap(_like_device(tab >= 0, x._data))
    return where(valid, g, x)


matrix_set_diag = set_diag
matrix_diag = diag
matrix_diag_part = diag_part


# ----------------------------------------------------------------------------- tridiagonal


def _tri_parts(op, diagonals, diagonals_format):
    """(superdiag, maindiag, subdiag), each (..., M), from TF's three formats."""
    if diagonals_format == "compact":
        d = t_(diagonals)
        s = tuple(d._data.shape)
        if len(s) < 2 or s[-2] != 3:
            raise ValueError(f"[{op}] compact diagonals must have shape (..., 3, M), got {s}")
        return d[..., 0, :], d[..., 1, :], d[..., 2, :]
    if diagonals_format == "sequence":
        if not isinstance(diagonals, (list, tuple)) or len(diagonals) != 3:
            raise ValueError(f"[{op}] sequence diagonals must be a list of three tensors "
                             "(superdiag, maindiag, subdiag)")
        ps = [t_(p) for p in diagonals]
        shapes = [tuple(p._data.shape) for p in ps]
        if len(set(shapes)) != 1 or len(shapes[0]) < 1:
            raise ValueError(f"[{op}] the three diagonals must have one shape (..., M), got "
                             f"{shapes}")
        return tuple(ps)
    if diagonals_format == "matrix":
        a = t_(diagonals)
        s = tuple(a._data.shape)
        if len(s) < 2 or s[-1] != s[-2]:
            raise ValueError(f"[{op}] matrix diagonals must be square (..., M, M), got {s}")
        m = s[-1]
        if m == 1:
            z = multiply(a[..., 0, :], 0)
            return z, a[..., 0, :], z
        band = diag_part(a, k=(-1, 1), align="LEFT_RIGHT")  # super right-padded, sub left-pad
        return band[..., 0, :], band[..., 1, :], band[..., 2, :]
    raise ValueError(f"[{op}] unknown diagonals_format {diagonals_format!r} (compact, "
                     "sequence or matrix)")


def _dense(op, sup, main, sub):
    m = main._data.shape[-1]
    if m == 1:
        return expand_dims(main, -1)
    band = stack([sup, main, sub], axis=-2)  # super right-padded, sub left-padded (LEFT_RIGHT)
    return diag(band, k=(-1, 1), num_rows=m, num_cols=m, align="LEFT_RIGHT")


def tridiagonal_matmul(diagonals, rhs, diagonals_format="compact", name=None):
    """A @ rhs for the tridiagonal A (..., M, M) given by its diagonals (superdiag's last and
    subdiag's first element are ignored) and rhs (..., M, N)."""
    op = "tridiagonal_matmul"
    sup, main, sub = _tri_parts(op, diagonals, diagonals_format)
    b = t_(rhs)
    m = main._data.shape[-1]
    if b._data.ndim < 2 or b._data.shape[-2] != m:
        raise ValueError(f"[{op}] rhs must have shape (..., {m}, N) for diagonals of length "
                         f"{m}, got {tuple(b._data.shape)}")
    out = multiply(expand_dims(main, -1), b)
    if m == 1:
        return out
    up = multiply(expand_dims(sup[..., :-1], -1), b[..., 1:, :])
    lo = multiply(expand_dims(sub[..., 1:], -1), b[..., :-1, :])
    zero = multiply(b[..., :1, :], 0)
    return add(out, add(concat([up, zero], axis=-2), concat([zero, lo], axis=-2)))


def tridiagonal_solve(diagonals, rhs, diagonals_format="compact", transpose_rhs=False,
                      conjugate_rhs=False, name=None, partial_pivoting=True,
                      perturb_singular=False):
    """X with A @ X = rhs for the tridiagonal A given by its diagonals; rhs (..., M, K), or
    (..., M) for a single right-hand side, or (..., K, M) with transpose_rhs."""
    op = "tridiagonal_solve"
    if perturb_singular:
        raise NotImplementedError(f"[{op}] perturb_singular=True is not supported")
    sup, main, sub = _tri_parts(op, diagonals, diagonals_format)
    b = t_(rhs)
    m = main._data.shape[-1]
    vec = False
    if transpose_rhs:
        if b._data.ndim < 2:
            raise ValueError(f"[{op}] with transpose_rhs rhs must have shape (..., K, {m}), got "
                             f"{tuple(b._data.shape)}")
        b = _transpose(b, list(range(b._data.ndim - 2)) + [b._data.ndim - 1, b._data.ndim - 2])
    elif b._data.ndim == main._data.ndim and tuple(b._data.shape) == tuple(main._data.shape):
        vec = True
        b = expand_dims(b, -1)
    if b._data.ndim < 2 or b._data.shape[-2] != m:
        raise ValueError(f"[{op}] rhs of shape {tuple(t_(rhs)._data.shape)} does not match "
                         f"diagonals of length {m}")
    if conjugate_rhs:
        b = _conj(b)
    from .linalg_decomp import solve
    try:
        x = solve(_dense(op, sup, main, sub), b)
    except ValueError as e:
        raise ValueError(f"[{op}] diagonals of length {m}, rhs {tuple(b._data.shape)}: "
                         f"{e}") from None
    return reshape(x, tuple(x._data.shape[:-1])) if vec else x


__all__ = ["diag_part", "diag", "set_diag", "matrix_set_diag", "matrix_diag",
           "matrix_diag_part", "tridiagonal_matmul", "tridiagonal_solve"]
