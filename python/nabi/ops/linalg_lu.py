"""LU factorization and the matrix square root (TF's `tf.linalg.lu`, `lu_solve`,
`lu_reconstruct`, `lu_matrix_inverse`, `sqrtm`), batched over the leading axes, float32 /
float64.

lu: Doolittle elimination with partial pivoting (the largest |entry| of the column, the first
    on ties, as LAPACK's getrf), vectorised over the batch on the host (a GPU tensor is copied
    there and the factors back). Returns (lu, p): lu packs the unit-lower L below the diagonal
    and U on and above it, and p (output_idx_type, int32 by default) is the row permutation
    with input[p] = L @ U, TF's convention. Gradient (square A, fixed pivots; the rule TF
    registers): A[p] = L U, so with G_L (strictly lower) and G_U (upper) the parts of the
    incoming gradient,  G_{A[p]} = L^-T (tril_-1(L^T G_L) + triu(G_U U^T)) U^-T,  and the
    rows go back through p. p has no gradient.
lu_solve / lu_reconstruct / lu_matrix_inverse: compositions of gather (batch_dims),
    band_part-style masks, matmul and triangular_solve, so their gradients follow.
sqrtm: the principal square root (eigenvalues in the open right half plane), by the
    Denman-Beavers iteration with determinant scaling (Higham, "Functions of Matrices" 6.3),
    in float64 on the host; a singular matrix falls back to V sqrt(D) V^-1 from its
    eigenvectors, and a matrix with a negative real eigenvalue (no real principal root) gives
    NaN, as TF's real Schur method does. Gradient: S = sqrtm(A) satisfies S dS + dS S = dA,
    so G_A solves the Sylvester equation S^T G_A + G_A S^T = G_S (solved through the
    eigenvectors of S^T), TF's rule.
"""
import collections

import numpy as np

from .. import dtypes as _dt
from ._common import _tapes, _wrap, const_like, record
from .array_ops import broadcast_to, gather
from .linalg_decomp import _back, _host, _matrix, _mT, _shape, triangular_solve
from .math_ops import add, matmul, multiply

Lu = collections.namedtuple("Lu", "lu p")


# ---------------------------------------------------------------- LU


def _lu_host(h):
    """(lu, perm) of each square matrix in h (..., N, N): partial pivoting in h's dtype."""
    n = h.shape[-1]
    batch = h.shape[:-2]
    m = np.array(h, copy=True).reshape((int(np.prod(batch, dtype=np.int64)), n, n))
    perm = np.tile(np.arange(n, dtype=np.int64), (m.shape[0], 1))
    rows = np.arange(m.shape[0])
    for k in range(n):
        piv = k + np.argmax(np.abs(m[:, k:, k]), axis=1)
        swap = piv != k
        if swap.any():
            r, pk = rows[swap], piv[swap]
            top = m[r, k].copy()
            m[r, k] = m[r, pk]
            m[r, pk] = top
            top = perm[r, k].copy()
            perm[r, k] = perm[r, pk]
            perm[r, pk] = top
        d = m[:, k, k]
        nz = d != 0                     # a zero pivot: the column below it is zero too
        mult = m[:, k + 1:, k] / np.where(nz, d, 1)[:, None]
        m[:, k + 1:, k] = mult
        m[:, k + 1:, k + 1:] -= mult[:, :, None] * m[:, k, None, k + 1:]
    return m.reshape(h.shape), perm.reshape(batch + (n,))


def _lu_grad_host(lu, perm, g):
    n = lu.shape[-1]
    eye = np.eye(n, dtype=lu.dtype)
    l_ = np.tril(lu, -1) + eye
    u = np.triu(lu)
    phi = np.tril(_mT(l_) @ np.tril(g, -1), -1) + np.triu(np.triu(g) @ _mT(u))
    try:
        x = np.linalg.solve(_mT(l_), phi)              # L^-T phi
        gp = _mT(np.linalg.solve(u, _mT(x)))           # ... U^-T
    except np.linalg.LinAlgError:
        raise ValueError(f"[lu] the gradient is undefined for a singular input (a zero pivot "
                         f"in U), lu shape {_shape(lu)}") from None
    ga = np.empty_like(gp)
    np.put_along_axis(ga, np.broadcast_to(perm[..., None], gp.shape), gp, axis=-2)
    return ga


def _unit_lower(lu):
    """L = the strictly lower part of lu plus the identity, with recorded ops."""
    n = lu._data.shape[-1]
    return add(multiply(lu, const_like(np.tril(np.ones((n, n)), -1), lu)),
               const_like(np.eye(n), lu))


def _upper(lu):
    n = lu._data.shape[-1]
    return multiply(lu, const_like(np.triu(np.ones((n, n))), lu))


def _rows_back(op, x, perm):
    """y with y[..., perm[i], :] = x[..., i, :] (a gather by the inverse permutation)."""
    inv = np.empty_like(perm)
    np.put_along_axis(inv, perm, np.broadcast_to(np.arange(perm.shape[-1]), perm.shape), -1)
    return _gather_rows(x, inv)


def _gather_rows(x, idx):
    """x[..., idx[..., i], :] for batched idx (..., N) with x's batch shape."""
    b = idx.ndim - 1
    from .array_ops import _on_device_of
    return gather(x, _on_device_of(idx, x._data), axis=b, batch_dims=b)


def lu(input, output_idx_type=_dt.int32, name=None):  # noqa: A002
    """The LU decomposition with partial pivoting of each square matrix (..., N, N): returns
    Lu(lu, p), lu packing the unit-lower L (below the diagonal) and U (on and above it), p
    (..., N) the permutation with input[..., p, :] = L @ U."""
    x = _matrix("lu", input, square=True)
    A = x._data
    dt = A.dtype
    idx = _dt.as_dtype(output_idx_type)
    if idx not in (_dt.int32, _dt.int64):
        raise TypeError(f"[lu] output_idx_type must be int32 or int64, got {idx.name}")
    f, perm = _lu_host(_host(A))
    out = _wrap(_back(f, A, dt))
    p = _wrap(_back(perm, A, idx._np))
    if _tapes:
        def bwd(grads, needs):
            return (_back(_lu_grad_host(f, perm, _host(grads[0])), A, dt),)

        def bwd_t(grads, needs):  # the same rule with nabi ops (second order)
            from .linalg_ops import matrix_transpose as mt
            g = grads[0]
            n = f.shape[-1]
            l_, u = _unit_lower(out), _upper(out)
            phi = add(multiply(matmul(l_, g, transpose_a=True),
                               const_like(np.tril(np.ones((n, n)), -1), g)),
                      multiply(matmul(g, u, transpose_b=True),
                               const_like(np.triu(np.ones((n, n))), g)))
            y = triangular_solve(l_, phi, lower=True, adjoint=True)
            gp = mt(triangular_solve(u, mt(y), lower=False))
            return (_rows_back("lu", gp, perm),)
        record((x,), [out, p], bwd, bwd_t, "lu")
    return Lu(out, p)


def _lu_args(op, lower_upper, perm):
    x = _matrix(op, lower_upper, square=True)
    from .array_extra_ops import _host_ints
    p = _host_ints(op, "perm", perm)
    n = x._data.shape[-1]
    if p.ndim < 1 or p.shape[-1] != n:
        raise ValueError(f"[{op}] perm must have shape (..., {n}) for lower_upper of shape "
                         f"{_shape(x._data)}, got shape {_shape(p)}")
    if p.size and (np.sort(p, axis=-1) != np.arange(n)).any():
        raise ValueError(f"[{op}] perm must hold a permutation of 0..{n - 1} in its last axis, "
                         f"got {p.tolist()}")
    return x, p


def lu_reconstruct(lower_upper, perm, validate_args=False, name=None):
    """The matrix (..., N, N) that `lu` factored into (lower_upper, perm)."""
    x, p = _lu_args("lu_reconstruct", lower_upper, perm)
    batch = tuple(np.broadcast_shapes(_shape(x._data)[:-2], p.shape[:-1]))
    n = p.shape[-1]
    lu_b = broadcast_to(x, batch + (n, n)) if _shape(x._data)[:-2] != batch else x
    p = np.broadcast_to(p, batch + (n,))
    return _rows_back("lu_reconstruct", matmul(_unit_lower(lu_b), _upper(lu_b)), p)


def lu_solve(lower_upper, perm, rhs, validate_args=False, name=None):
    """X with A @ X = rhs (..., N, K) for the A that `lu` factored into (lower_upper, perm);
    batch dimensions broadcast."""
    op = "lu_solve"
    x, p = _lu_args(op, lower_upper, perm)
    from .linalg_decomp import _system
    lu_t, b, _ = _system(op, x, rhs)
    n = p.shape[-1]
    try:
        batch = tuple(np.broadcast_shapes(_shape(lu_t._data)[:-2], p.shape[:-1],
                                          _shape(b._data)[:-2]))
    except ValueError:
        raise ValueError(f"[{op}] the batch dimensions of lower_upper {_shape(lu_t._data)}, "
                         f"perm {_shape(p)} and rhs {_shape(b._data)} do not broadcast") from None
    k = b._data.shape[-1]
    if _shape(lu_t._data)[:-2] != batch:
        lu_t = broadcast_to(lu_t, batch + (n, n))
    if _shape(b._data)[:-2] != batch:
        b = broadcast_to(b, batch + (n, k))
    pb = np.broadcast_to(p, batch + (n,))
    y = triangular_solve(_unit_lower(lu_t), _gather_rows(b, pb), lower=True)
    return triangular_solve(lu_t, y, lower=False)


def lu_matrix_inverse(lower_upper, perm, validate_args=False, name=None):
    """The inverse (..., N, N) of the A that `lu` factored into (lower_upper, perm)."""
    x, p = _lu_args("lu_matrix_inverse", lower_upper, perm)
    n = p.shape[-1]
    batch = tuple(np.broadcast_shapes(_shape(x._data)[:-2], p.shape[:-1]))
    eye = const_like(np.broadcast_to(np.eye(n), batch + (n, n)).copy(), x)
    return lu_solve(x, p, eye)


# ---------------------------------------------------------------- sqrtm


def _sqrtm_eig(a):
    w, v = np.linalg.eig(a)
    r = (v * np.sqrt(w.astype(complex))[..., None, :]) @ np.linalg.pinv(v)
    return r.real


def _sqrtm_one(a):
    """The principal square root of one real matrix (float64)."""
    n = a.shape[-1]
    w = np.linalg.eigvals(a)
    scale = max(np.abs(w).max(), np.finfo(float).tiny)
    if np.any((np.abs(w.imag) <= 1e-12 * scale) & (w.real < -1e-12 * scale)):
        return np.full_like(a, np.nan)         # a negative real eigenvalue: no real root
    if np.abs(w).min() <= 1e-13 * scale:      # singular: from the eigenvectors
        return _sqrtm_eig(a)
    x, y = a.copy(), np.eye(n)
    scaling = True
    for _ in range(100):
        xi, yi = np.linalg.inv(x), np.linalg.inv(y)
        mu = 1.0
        if scaling:
            mu = np.exp(-(np.linalg.slogdet(x)[1] + np.linalg.slogdet(y)[1]) / (2 * n))
        xn = 0.5 * (mu * x + yi / mu)
        y = 0.5 * (mu * y + xi / mu)
        delta = np.linalg.norm(xn - x, 1) / max(np.linalg.norm(xn, 1), 1e-300)
        x = xn
        if delta < 1e-2:
            scaling = False
        if delta < 1e-15 * n:
            break
    return x


def _sylvester_sym(s, c):
    """G with S^T G + G S^T = C for each pair (..., N, N), through the eigenvectors of S^T."""
    w, v = np.linalg.eig(_mT(s))
    vi = np.linalg.inv(v)
    ct = vi @ c @ v
    gt = ct / (w[..., :, None] + w[..., None, :])
    return (v @ gt @ vi).real


def sqrtm(input, name=None):  # noqa: A002
    """The principal square root of each real square matrix (..., N, N): S @ S = input, S
    with eigenvalues in the right half plane. Matrices with a negative real eigenvalue have
    no real principal root and give NaN, as in TF."""
    x = _matrix("sqrtm", input, square=True)
    A = x._data
    dt = A.dtype
    h = np.asarray(_host(A), np.float64)
    n = h.shape[-1]
    flat = h.reshape((int(np.prod(h.shape[:-2], dtype=np.int64)), n, n))
    s = np.stack([_sqrtm_one(m) for m in flat]).reshape(h.shape) if n and flat.shape[0] \
        else h.copy()
    out = _wrap(_back(s, A, dt))
    if _tapes:
        def bwd(g, needs):
            gh = np.asarray(_host(g), np.float64)
            return (_back(_sylvester_sym(s, gh) if n else gh, A, dt),)
        record((x,), out, bwd, None, "sqrtm")
    return out


__all__ = ["lu", "lu_solve", "lu_reconstruct", "lu_matrix_inverse", "sqrtm"]
