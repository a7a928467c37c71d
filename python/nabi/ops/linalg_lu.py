"""LU factorization, the matrix square root and logarithm (TF's `tf.linalg.lu`, `lu_solve`,
`lu_reconstruct`, `lu_matrix_inverse`, `sqrtm`, `logm`), batched over the leading axes,
float32 / float64 (sqrtm and logm: complex64 / complex128 too; logm only those).

lu: Doolittle elimination with partial pivoting (the largest |entry| of the column, the first
    on ties, as LAPACK's getrf), vectorised over the batch on the host; GPU tensors (lu and
    the lu_* functions below) run on the kernels of linalg_cuda.py (csrc/cuda/linalg_lu.cu),
    with the same pivots. Returns (lu, p): lu packs the unit-lower L below the diagonal
    and U on and above it, and p (output_idx_type, int32 by default) is the row permutation
    with input[p] = L @ U, TF's convention. Gradient (square A, fixed pivots; the standard
    LU backward rule): A[p] = L U, so with G_L (strictly lower) and G_U (upper) the parts of the
    incoming gradient,  G_{A[p]} = L^-T (tril_-1(L^T G_L) + triu(G_U U^T)) U^-T,  and the
    rows go back through p. p has no gradient.
lu_solve / lu_reconstruct / lu_matrix_inverse: compositions of gather (batch_dims),
    band_part-style masks, matmul and triangular_solve, so their gradients follow.
sqrtm: the principal square root (eigenvalues in the open right half plane), by the
    Denman-Beavers iteration with determinant scaling (Higham, "Functions of Matrices" 6.3),
    in float64 on the host; a singular matrix falls back to V sqrt(D) V^-1 from its
    eigenvectors, and a matrix with a negative real eigenvalue (no real principal root) gives
    NaN, as TF's real Schur method does. Gradient: S = sqrtm(A) satisfies S dS + dS S = dA,
    so G_A solves the Sylvester equation S^T G_A + G_A S^T = G_S (a Kronecker-product solve
    as TF's rule, for N <= 24; through the eigenvectors of S^T beyond). Complex inputs (forward only) iterate in complex128;
    eigenvalues on the negative real axis are first rotated off it, sqrt(A) =
    e^(i t/2) sqrt(e^(-i t) A).
logm: complex only and without a gradient, as TF's: inverse scaling and squaring (square
    roots until ||X - I||_1 <= 1/4, then Gauss-Legendre quadrature of log(I + Y), times 2^k).
sqrtm / logm of GPU tensors run the same iterations on the device (linalg_sqrtm_cuda.py,
    one int32 flag read); a batch the device iteration cannot take (a singular matrix, a
    negative real eigenvalue) comes here, the host path below.
"""
import collections

import numpy as np

from .. import dtypes as _dt
from ._common import _tapes, _wrap, const_like, record
from .array_ops import broadcast_to, gather
from .linalg_decomp import _back, _host, _matrix, _mT, _shape, triangular_solve
from .math_ops import add, matmul, multiply
from . import linalg_cuda as _gpu_linalg
from . import linalg_sqrtm_cuda as _sqrtm_gpu

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
    if _gpu_linalg.on_gpu(x):
        return Lu(*_gpu_linalg.lu(x, idx))
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
    if _gpu_linalg.on_gpu(lower_upper):
        return _gpu_linalg.lu_reconstruct(lower_upper, perm)
    x, p = _lu_args("lu_reconstruct", lower_upper, perm)
    batch = tuple(np.broadcast_shapes(_shape(x._data)[:-2], p.shape[:-1]))
    n = p.shape[-1]
    lu_b = broadcast_to(x, batch + (n, n)) if _shape(x._data)[:-2] != batch else x
    p = np.broadcast_to(p, batch + (n,))
    return _rows_back("lu_reconstruct", matmul(_unit_lower(lu_b), _upper(lu_b)), p)


def lu_solve(lower_upper, perm, rhs, validate_args=False, name=None):
    """X with A @ X = rhs (..., N, K) for the A that `lu` factored into (lower_upper, perm);
    batch dimensions broadcast."""
    if _gpu_linalg.on_gpu(lower_upper):
        return _gpu_linalg.lu_solve(lower_upper, perm, rhs)
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
    if _gpu_linalg.on_gpu(lower_upper):
        return _gpu_linalg.lu_matrix_inverse(lower_upper, perm)
    x, p = _lu_args("lu_matrix_inverse", lower_upper, perm)
    n = p.shape[-1]
    batch = tuple(np.broadcast_shapes(_shape(x._data)[:-2], p.shape[:-1]))
    eye = const_like(np.broadcast_to(np.eye(n), batch + (n, n)).copy(), x)
    return lu_solve(x, p, eye)


# ---------------------------------------------------------------- sqrtm, logm


def _square(op, value, complex_only=False):
    """A square matrix argument (..., N, N): float32/float64/complex64/complex128 (complex
    only for logm, as TF's)."""
    from ._common import t_
    x = t_(value)
    a = x._data
    kinds = "c" if complex_only else "fc"
    if a.dtype.kind not in kinds or a.dtype == np.float16:
        want = "complex64 or complex128" if complex_only else \
            "float32, float64, complex64 or complex128"
        raise TypeError(f"[{op}] input must be a {want} tensor, got {a.dtype.name} "
                        f"{_shape(a)}" + ("; cast it, e.g. tf.cast(x, tf.complex128)"
                                          if complex_only else ""))
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ValueError(f"[{op}] input must be square in its last two axes (..., N, N), got "
                         f"shape {_shape(a)}")
    return x


def _sqrtm_eig(a):
    w, v = np.linalg.eig(a)
    r = (v * np.sqrt(w.astype(complex))[..., None, :]) @ np.linalg.pinv(v)
    return r if np.iscomplexobj(a) else r.real


def _db_sqrtm(a):
    """Denman-Beavers with determinant scaling: X -> sqrt(A), Y -> sqrt(A)^-1 (A invertible,
    no eigenvalue on the closed negative real axis)."""
    n = a.shape[-1]
    x, y = a.copy(), np.eye(n, dtype=a.dtype)
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


def _sqrtm_one(a):
    """The principal square root of one matrix (float64 or complex128)."""
    w = np.linalg.eigvals(a)
    scale = max(np.abs(w).max(), np.finfo(float).tiny)
    if not np.iscomplexobj(a) and \
            np.any((np.abs(w.imag) <= 1e-12 * scale) & (w.real < -1e-12 * scale)):
        return np.full_like(a, np.nan)         # a negative real eigenvalue: no real root
    if np.abs(w).min() <= 1e-13 * scale:      # singular: from the eigenvectors
        return _sqrtm_eig(a)
    theta = _branch_rotation(w) if np.iscomplexobj(a) else 0.0
    if theta:   # sqrt(A) = e^(i theta / 2) sqrt(e^(-i theta) A), off the branch cut
        return np.exp(0.5j * theta) * _db_sqrtm(np.exp(-1j * theta) * a)
    return _db_sqrtm(a)


def _branch_rotation(w):
    """An angle theta > 0 that turns eigenvalues on (or next to) the negative real axis off
    it while keeping arg(w) - theta in (-pi, pi) (so the principal branch is kept); 0 when
    none is near the axis. An eigenvalue just below the cut counts as on it (arg pi)."""
    args = np.angle(w)
    args = np.where(args < -np.pi + 1e-9, args + 2 * np.pi, args)
    if args.max() < np.pi - 1e-3:
        return 0.0
    return float(min(0.5 * (args.min() + np.pi), np.pi / 4))


def _sylvester_sym(s, c):
    """G with S^T G + G S^T = C for each pair (..., N, N): up to N = 24 one solve of the
    N^2 x N^2 Kronecker system (S^T (x) I + I (x) S) vec(G) = vec(C) (row-major vec; any S
    whose eigenvalues have no pair summing to 0, defective ones too), beyond that through the
    eigenvectors of S^T (diagonalizable S)."""
    n = s.shape[-1]
    if n <= 24:
        eye = np.eye(n)
        m = np.einsum("...ij,kl->...ikjl", _mT(s), eye) + np.einsum("ij,...kl->...ikjl", eye, s)
        m = m.reshape(s.shape[:-2] + (n * n, n * n))
        return np.linalg.solve(m, c.reshape(c.shape[:-2] + (n * n, 1))).reshape(c.shape)
    w, v = np.linalg.eig(_mT(s))
    vi = np.linalg.inv(v)
    ct = vi @ c @ v
    gt = ct / (w[..., :, None] + w[..., None, :])
    return (v @ gt @ vi).real


def _per_matrix(fn, h):
    n = h.shape[-1]
    nb = int(np.prod(h.shape[:-2], dtype=np.int64))
    if not n or not nb:
        return h.copy()
    return np.stack([fn(m) for m in h.reshape((nb, n, n))]).reshape(h.shape)


def sqrtm(input, name=None):  # noqa: A002
    """The principal square root of each square matrix (..., N, N): S @ S = input, S with
    eigenvalues in the right half plane. A real matrix with a negative real eigenvalue has no
    real principal root and gives NaN, as in TF. Complex inputs: forward only (nabi does not
    differentiate complex values)."""
    x = _square("sqrtm", input)
    if _gpu_linalg.on_gpu(x):
        return _sqrtm_gpu.sqrtm(x, _sqrtm_host)
    return _sqrtm_host(x)


def _sqrtm_host(x):
    A = x._data
    dt = A.dtype
    wide = np.complex128 if dt.kind == "c" else np.float64
    h = np.asarray(_host(A), wide)
    s = _per_matrix(_sqrtm_one, h)
    out = _wrap(_back(s, A, dt))
    if _tapes and dt.kind == "f":
        def bwd(g, needs):
            gh = np.asarray(_host(g), np.float64)
            return (_back(_sylvester_sym(s, gh) if s.size else gh, A, dt),)
        record((x,), out, bwd, None, "sqrtm")
    return out


# Gauss-Legendre nodes and weights on [0, 1]: log(I + Y) = int_0^1 Y (I + t Y)^-1 dt
_GL_T, _GL_W = np.polynomial.legendre.leggauss(12)
_GL_T, _GL_W = 0.5 * (_GL_T + 1), 0.5 * _GL_W


def _logm_one(a):
    """The principal logarithm of one complex matrix: inverse scaling and squaring (square
    roots until ||X - I||_1 <= 0.25), then 12-point Gauss-Legendre quadrature of
    log(I + Y) (error far below double rounding for ||Y|| <= 0.25), times 2^k."""
    n = a.shape[-1]
    eye = np.eye(n, dtype=a.dtype)
    w = np.linalg.eigvals(a)
    if not np.abs(w).min():
        raise ValueError(f"[logm] the matrix logarithm is undefined for a singular matrix "
                         f"(an eigenvalue 0) of shape {_shape(a)}")
    theta = _branch_rotation(w)          # log(A) = log(e^(-i theta) A) + i theta I
    x, k = a * np.exp(-1j * theta), 0
    while np.linalg.norm(x - eye, 1) > 0.25 and k < 64:
        x = _db_sqrtm(x)
        k += 1
    y = x - eye
    log = sum(wj * np.linalg.solve(eye + tj * y, y) for tj, wj in zip(_GL_T, _GL_W))
    return log * 2.0 ** k + 1j * theta * eye


def logm(input, name=None):  # noqa: A002
    """The principal matrix logarithm of each complex square matrix (..., N, N); like TF's,
    complex64 / complex128 only (cast a real matrix first) and without a gradient."""
    x = _square("logm", input, complex_only=True)
    if _gpu_linalg.on_gpu(x):
        return _sqrtm_gpu.logm(x, _logm_host)
    return _logm_host(x)


def _logm_host(x):
    A = x._data
    h = np.asarray(_host(A), np.complex128)
    return _wrap(_back(_per_matrix(_logm_one, h), A, A.dtype))


__all__ = ["lu", "lu_solve", "lu_reconstruct", "lu_matrix_inverse", "sqrtm", "logm"]
