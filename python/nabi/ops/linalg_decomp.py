"""Matrix decompositions and solvers (TF's `tf.linalg.solve`, `cholesky`, `qr`, `svd`, `eigh`,
`lstsq`, `pinv`, ...), batched over the leading axes, float32 / float64.

The factorizations (solve, triangular_solve, cholesky, qr, svd, eigh, eigvalsh, pinv,
matrix_rank) run on the host with NumPy's LAPACK: a GPU tensor is copied there and the result
back to the input's device, as TF places an op without a GPU kernel on the CPU. Except: qr, svd,
eigh, eigvalsh, pinv, matrix_rank and lstsq(fast=False) of GPU tensors run on CUDA kernels
(linalg_eig_cuda.py, csrc/cuda/linalg_eig.cu), their gradients with nabi ops on the device;
solve, triangular_solve, cholesky (so cholesky_solve) and logdet of GPU tensors run on the
LU / Cholesky kernels (linalg_cuda.py, csrc/cuda/linalg_lu.cu), gradients on the device too.
Each records its own backward rule, also computed on the host (A: the input, G*: incoming
gradients):

  solve      X = op(A)^-1 B:  GB = op(A)^-T G;  G(op A) = -GB X^T
  triangular_solve: the same, masked to the triangle the forward read
  cholesky   A = L L^T (lower triangle of A read):  P = Phi(L^T GL) (lower part, halved
             diagonal);  GA = sym(L^-T P L^-1)  -- Murray 2016, TF's symmetric gradient
  qr         (M >= N, reduced)  M = R GR^T - GQ^T Q;  GA = (GQ + Q copyltu(M)) R^-T  -- Walter &
             Lehmann 2018 / Liao et al. 2019; M < N: A = [X | Y], R = [U | V] with V = Q^T Y,
             so GY = Q GV and X takes the square rule with GQ + Y GV^T
  svd        (reduced; distinct singular values) F_ij = 1 / (s_j^2 - s_i^2):
             GA = U [(F o (U^T GU - GU^T U)) S + diag(Gs) + S (F o (V^T GV - GV^T V))] V^T
                  + (I - U U^T) GU S^-1 V^T + U S^-1 GV^T (I - V V^T)   -- Townsend 2016
  eigh       (lower triangle read; distinct eigenvalues) F_ij = 1 / (e_j - e_i):
             G~ = V (diag(Ge) + F o (V^T GV)) V^T;  GA = lower part of G~ + G~^T, diagonal G~_ii
  pinv       P = A^+ (constant rank):  GA = -P^T G P^T + (I - A P) G^T P P^T
                                            + P^T P G^T (I - P A)   -- Golub & Pereyra 1973

cholesky_solve, lstsq (fast=True: the normal equations through Cholesky), logdet, cross,
normalize, matvec and adjoint are compositions of ops that have gradients, so theirs follow.
"""
import numpy as np

from ..framework.device import DeviceArray, take, to_device
from ._common import Tensor, _tapes, _wrap, binary_operands, record, t_, unbroadcast
from .array_ops import concat, expand_dims, squeeze, where
from .linalg_ops import diag_part, matrix_transpose, norm
from .math_ops import add, divide, log, matmul, multiply, reduce_sum, subtract
from . import linalg_cuda as _gpu_linalg

_LinAlgError = np.linalg.LinAlgError

from . import linalg_eig_cuda as _eig_gpu  # noqa: E402  (GPU qr / svd / eigh; no cycle)


# ---------------------------------------------------------------- helpers


def _host(a):
    return to_device(a, "cpu")


def _back(r, like, dtype):
    """A host result as a contiguous array of `dtype` on `like`'s device."""
    r = np.asarray(r, dtype=dtype)
    if not r.flags.c_contiguous:
        r = r.copy()                 # (np.ascontiguousarray would make a scalar 1-D)
    return to_device(r, "cuda" if type(like) is DeviceArray else "cpu")


def _mT(v):
    return np.swapaxes(v, -1, -2)


def _shape(a):
    return tuple(a.shape)


def _check_float(op, a, what):
    if a.dtype not in (np.float32, np.float64):
        raise TypeError(f"[{op}] {what} must be a float32 or float64 tensor, got "
                        f"{a.dtype.name} {_shape(a)}")


def _matrix(op, value, what="input", square=False):
    x = t_(value)
    a = x._data
    _check_float(op, a, what)
    if a.ndim < 2:
        raise ValueError(f"[{op}] {what} must have rank >= 2 (..., M, N), got shape {_shape(a)}")
    if square and a.shape[-1] != a.shape[-2]:
        raise ValueError(f"[{op}] {what} must be square in its last two axes (..., N, N), got "
                         f"shape {_shape(a)}")
    return x


def _system(op, matrix, rhs, square=True):
    """matrix (..., M, M) (or (..., M, N)) and rhs (..., M, K): same dtype and device, rows
    agreeing, batch dimensions broadcasting. Returns (a, b, batch shape)."""
    a, b = binary_operands(op, matrix, rhs)
    A, B = a._data, b._data
    _check_float(op, A, "matrix")
    _check_float(op, B, "rhs")
    if A.ndim < 2 or (square and A.shape[-1] != A.shape[-2]):
        want = "(..., M, M)" if square else "(..., M, N)"
        raise ValueError(f"[{op}] matrix must be {want}{' (square)' if square else ''}, got "
                         f"shape {_shape(A)}")
    if B.ndim < 2:
        raise ValueError(f"[{op}] rhs must have rank >= 2 (..., M, K), got shape {_shape(B)}")
    if B.shape[-2] != A.shape[-2]:
        raise ValueError(f"[{op}] matrix {_shape(A)} and rhs {_shape(B)} disagree: rhs must have "
                         f"{A.shape[-2]} rows (..., {A.shape[-2]}, K)")
    try:
        batch = tuple(np.broadcast_shapes(A.shape[:-2], B.shape[:-2]))
    except ValueError:
        raise ValueError(f"[{op}] the batch dimensions of matrix {_shape(A)} and rhs "
                         f"{_shape(B)} do not broadcast") from None
    return a, b, batch


def _solve(op, m, b):
    try:
        return np.linalg.solve(m, b)
    except _LinAlgError:
        raise ValueError(f"[{op}] the matrix of shape {_shape(m)} is not invertible (a matrix "
                         "in the batch is singular)") from None


def _rsolve_upper(x, r):
    """x r^-T for upper-triangular r (no inverse formed): (r^-1 x^T)^T."""
    return _mT(np.linalg.solve(r, _mT(x)))


# ---------------------------------------------------------------- solvers


def solve(matrix, rhs, adjoint=False, name=None):
    """X with matrix @ X = rhs (matrix^T @ X = rhs when adjoint) for each matrix (..., M, M)
    and right-hand sides (..., M, K); batch dimensions broadcast."""
    a, b, batch = _system("solve", matrix, rhs)
    if _gpu_linalg.on_gpu(a):
        return _gpu_linalg.solve(a, b, batch, adjoint)
    A, B = a._data, b._data
    dt = A.dtype
    ha = np.broadcast_to(_host(A), batch + A.shape[-2:])
    hb = np.broadcast_to(_host(B), batch + B.shape[-2:])
    op_a = _mT(ha) if adjoint else ha
    x = _solve("solve", op_a, hb).astype(dt)
    out = _wrap(_back(x, A, dt))
    if _tapes:
        def bwd(g, needs):
            gb = _solve("solve", _mT(op_a), _host(g))
            ga = -(x @ _mT(gb)) if adjoint else -(gb @ _mT(x))
            return (_back(unbroadcast(ga, A.shape), A, dt) if needs[0] else None,
                    _back(unbroadcast(gb, B.shape), B, dt) if needs[1] else None)

        def bwd_t(g, needs):  # the same with nabi ops (second order)
            gb = solve(a, g, adjoint=not adjoint)
            return _solve_grads_t(a, b, out, gb, adjoint, needs)
        record((a, b), out, bwd, bwd_t, "solve")
    return out


def _solve_grads_t(a, b, x, gb, adjoint, needs, mask=None):
    """(d matrix, d rhs) of X = op(matrix)^-1 rhs on Tensors, given gb = op(matrix)^-T g;
    mask: the triangle the op reads (triangular_solve)."""
    from ._common import const_like, unbroadcast_t
    ga = None
    if needs[0]:
        ga = matmul(x, gb, transpose_b=True) if adjoint else matmul(gb, x, transpose_b=True)
        ga = multiply(ga, -1.0)
        if mask is not None:
            ga = multiply(ga, const_like(mask, ga))
        ga = unbroadcast_t(ga, a._data.shape)
    return (ga, unbroadcast_t(gb, b._data.shape) if needs[1] else None)


def triangular_solve(matrix, rhs, lower=True, adjoint=False, name=None):
    """X with T @ X = rhs (T^T @ X = rhs when adjoint), T the lower (or upper) triangle of
    each matrix (..., M, M); the other triangle is not read. Batch dimensions broadcast."""
    a, b, batch = _system("triangular_solve", matrix, rhs)
    if _gpu_linalg.on_gpu(a):
        return _gpu_linalg.triangular_solve(a, b, batch, lower, adjoint)
    A, B = a._data, b._data
    dt = A.dtype
    tri = np.tril if lower else np.triu
    t = tri(np.broadcast_to(_host(A), batch + A.shape[-2:]))
    hb = np.broadcast_to(_host(B), batch + B.shape[-2:])
    op_t = _mT(t) if adjoint else t
    x = _solve("triangular_solve", op_t, hb).astype(dt)
    out = _wrap(_back(x, A, dt))
    if _tapes:
        def bwd(g, needs):
            gb = _solve("triangular_solve", _mT(op_t), _host(g))
            ga = -(x @ _mT(gb)) if adjoint else -(gb @ _mT(x))
            return (_back(unbroadcast(tri(ga), A.shape), A, dt) if needs[0] else None,
                    _back(unbroadcast(gb, B.shape), B, dt) if needs[1] else None)

        def bwd_t(g, needs):  # the same with nabi ops (second order)
            gb = triangular_solve(a, g, lower=lower, adjoint=not adjoint)
            mask = tri(np.ones(A.shape[-2:], dt))
            return _solve_grads_t(a, b, out, gb, adjoint, needs, mask)
        record((a, b), out, bwd, bwd_t, "triangular_solve")
    return out


def cholesky_solve(chol, rhs, name=None):
    """X with A @ X = rhs, given chol = cholesky(A) (..., M, M) lower triangular: two
    triangular solves, L Y = rhs then L^T X = Y."""
    _system("cholesky_solve", chol, rhs)
    y = triangular_solve(chol, rhs, lower=True, adjoint=False)
    return triangular_solve(chol, y, lower=True, adjoint=True)


# ---------------------------------------------------------------- Cholesky


def _cholesky(op, h):
    try:
        return np.linalg.cholesky(h)
    except _LinAlgError:
        raise ValueError(f"[{op}] Cholesky decomposition failed: the input of shape "
                         f"{_shape(h)} is not positive definite (a matrix in the batch)") from None


def cholesky(input, name=None):  # noqa: A002
    """The lower-triangular L with L @ L^T = input for each symmetric positive-definite matrix
    (..., N, N); only the lower triangle of the input is read."""
    x = _matrix("cholesky", input, square=True)
    if _gpu_linalg.on_gpu(x):
        return _gpu_linalg.cholesky(x)
    A = x._data
    dt = A.dtype
    h = _host(A)
    l_ = _cholesky("cholesky", h).astype(dt)
    out = _wrap(_back(l_, A, dt))
    if _tapes:
        def bwd(g, needs):
            n = l_.shape[-1]
            l_inv = np.linalg.solve(l_, np.broadcast_to(np.eye(n, dtype=dt), l_.shape))
            p = np.tril(_mT(l_) @ _host(g))
            idx = np.arange(n)
            p[..., idx, idx] *= 0.5
            s = _mT(l_inv) @ p @ l_inv
            return (_back(0.5 * (s + _mT(s)), A, dt),)

        def bwd_t(g, needs):  # the same with nabi ops on the output L (second order)
            from ._common import const_like
            n = l_.shape[-1]
            eye = const_like(np.broadcast_to(np.eye(n), l_.shape).copy(), out)
            l_inv = triangular_solve(out, eye, lower=True)
            half = np.tril(np.ones((n, n))) - 0.5 * np.eye(n)
            p = multiply(matmul(out, g, transpose_a=True), const_like(half, out))
            s_ = matmul(matmul(l_inv, p, transpose_a=True), l_inv)
            return (multiply(add(s_, matrix_transpose(s_)), 0.5),)
        record((x,), out, bwd, bwd_t, "cholesky")
    return out


def logdet(matrix, name=None):
    """log(det(matrix)) of each Hermitian positive-definite matrix (..., N, N), computed as
    2 sum(log(diag(cholesky(matrix))))."""
    x = _matrix("logdet", matrix, square=True)
    if _gpu_linalg.on_gpu(x):
        return _gpu_linalg.logdet(x)
    _cholesky("logdet", _host(x._data))           # a clear error before the composition
    l_ = cholesky(x)
    return multiply(reduce_sum(log(diag_part(l_)), axis=-1), 2.0)


# ---------------------------------------------------------------- QR


def qr(input, full_matrices=False, name=None):  # noqa: A002
    """(q, r) with input = q @ r for each matrix (..., M, N): q (..., M, P) with orthonormal
    columns and r (..., P, N) upper triangular, P = min(M, N) (P = M when full_matrices)."""
    x = _matrix("qr", input)
    if _eig_gpu.handles(x, "qr"):
        return _eig_gpu.qr(x, full_matrices)
    A = x._data
    dt = A.dtype
    h = _host(A)
    m, n = A.shape[-2:]
    q, r = np.linalg.qr(h, mode="complete" if full_matrices else "reduced")
    q, r = q.astype(dt), r.astype(dt)
    outs = [_wrap(_back(q, A, dt)), _wrap(_back(r, A, dt))]
    if _tapes:
        def bwd(grads, needs):
            if full_matrices and m > n:
                raise NotImplementedError(
                    f"[qr] the gradient is not implemented for full_matrices=True when the "
                    f"input has more rows than columns, got shape {_shape(A)} (as in "
                    "TensorFlow); use full_matrices=False")
            gq, gr = _host(grads[0]), _host(grads[1])
            if m >= n:
                return (_back(_qr_grad_deep(q, r, gq, gr), A, dt),)
            y = h[..., :, m:]
            gv = gr[..., :, m:]
            gx = _qr_grad_deep(q, r[..., :, :m], gq + y @ _mT(gv), gr[..., :, :m])
            gy = q @ gv
            return (_back(np.concatenate([gx, gy], axis=-1), A, dt),)

        def bwd_t(grads, needs):  # the same with nabi ops on the outputs (second order)
            if full_matrices and m > n:
                bwd(None, needs)                        # the same error
            qt, rt = outs
            gq, gr = grads
            if m >= n:
                return (_qr_grad_deep_t(qt, rt, gq, gr),)
            y, gv = x[..., :, m:], gr[..., :, m:]
            gx = _qr_grad_deep_t(qt, rt[..., :, :m], add(gq, matmul(y, gv, transpose_b=True)),
                                 gr[..., :, :m])
            from .array_ops import concat
            return (concat([gx, matmul(qt, gv)], -1),)
        record((x,), outs, bwd, bwd_t, "qr")
    return tuple(outs)


def _qr_grad_deep_t(q, r, gq, gr):
    """`_qr_grad_deep` with nabi ops."""
    from ._common import const_like
    n = r._data.shape[-1]
    mm = subtract(matmul(r, gr, transpose_b=True), matmul(gq, q, transpose_a=True))
    low = multiply(mm, const_like(np.tril(np.ones((n, n))), mm))
    sym = add(low, matrix_transpose(multiply(mm, const_like(np.tril(np.ones((n, n)), -1), mm))))
    rhs = add(gq, matmul(q, sym))
    # rhs r^-T = (r^-1 rhs^T)^T
    return matrix_transpose(triangular_solve(r, matrix_transpose(rhs), lower=False))


def _qr_grad_deep(q, r, gq, gr):
    """The QR gradient for M >= N, reduced q (M, N), r (N, N) upper triangular."""
    mm = r @ _mT(gr) - _mT(gq) @ q
    low = np.tril(mm)
    sym = low + _mT(np.tril(mm, -1))           # copy the lower triangle to the upper one
    return _rsolve_upper(gq + q @ sym, r)


# ---------------------------------------------------------------- SVD


def svd(tensor, full_matrices=False, compute_uv=True, name=None):
    """Singular values of each matrix (..., M, N), in descending order, and (with compute_uv)
    the singular vectors: returns (s, u, v) with tensor = u @ diag(s) @ v^T (TF's order, and v,
    not v^T); s only when compute_uv is False."""
    x = _matrix("svd", tensor)
    if _eig_gpu.handles(x, "svd"):
        return _eig_gpu.svd(x, full_matrices, compute_uv)
    A = x._data
    dt = A.dtype
    h = _host(A)
    m, n = A.shape[-2:]
    if not compute_uv:
        s = np.linalg.svd(h, compute_uv=False).astype(dt)
        out = _wrap(_back(s, A, dt))
        if _tapes:
            def bwd_s(g, needs):
                u, _, vh = np.linalg.svd(h, full_matrices=False)
                ga = (u * _host(g)[..., None, :]) @ vh
                return (_back(ga, A, dt),)

            def bwd_s_t(g, needs):  # u diag(g) v^T from a recorded svd (second order)
                _, ut, vt = svd(x, full_matrices=False)
                return (matmul(multiply(ut, expand_dims(g, -2)), vt, transpose_b=True),)
            record((x,), out, bwd_s, bwd_s_t, "svd")
        return out
    u, s, vh = np.linalg.svd(h, full_matrices=full_matrices)
    v = _mT(vh)
    outs = [_wrap(_back(s.astype(dt), A, dt)), _wrap(_back(u.astype(dt), A, dt)),
            _wrap(_back(v.astype(dt), A, dt))]
    if _tapes:
        def bwd(grads, needs):
            if full_matrices and m != n:
                raise NotImplementedError(
                    f"[svd] the gradient is not implemented for full_matrices=True with a "
                    f"non-square input, got shape {_shape(A)} (as in TensorFlow); use "
                    "full_matrices=False")
            gs, gu, gv = (_host(g) for g in grads)
            return (_back(_svd_grad(u, s, v, gs, gu, gv), A, dt),)

        def bwd_t(grads, needs):
            if full_matrices and m != n:
                bwd(None, needs)                        # the same error
            return (_svd_grad_t(outs[1], outs[0], outs[2], *grads),)
        record((x,), outs, bwd, bwd_t, "svd")
    return tuple(outs)


def _svd_grad_t(u, s, v, gs, gu, gv):
    """`_svd_grad` with nabi ops on the outputs (second order)."""
    from ._common import const_like
    k = s._data.shape[-1]
    eye = np.eye(k)
    s2 = multiply(s, s)
    diff = subtract(expand_dims(s2, -2), expand_dims(s2, -1))        # s_j^2 - s_i^2
    f = multiply(divide(1.0, add(diff, const_like(eye, s))), const_like(1 - eye, s))
    utgu = matmul(u, gu, transpose_a=True)
    vtgv = matmul(v, gv, transpose_a=True)
    j = multiply(f, subtract(utgu, matrix_transpose(utgu)))
    kk = multiply(f, subtract(vtgv, matrix_transpose(vtgv)))
    inner = add(add(multiply(j, expand_dims(s, -2)), multiply(kk, expand_dims(s, -1))),
                multiply(expand_dims(gs, -2), const_like(eye, s)))
    ga = matmul(matmul(u, inner), v, transpose_b=True)
    inv_s = expand_dims(divide(1.0, s), -2)
    if u._data.shape[-2] > k:
        gu_perp = subtract(gu, matmul(u, utgu))
        ga = add(ga, matmul(multiply(gu_perp, inv_s), v, transpose_b=True))
    if v._data.shape[-2] > k:
        gv_perp = subtract(gv, matmul(v, vtgv))
        ga = add(ga, matmul(multiply(u, inv_s), gv_perp, transpose_b=True))
    return ga


def _svd_grad(u, s, v, gs, gu, gv):
    k = s.shape[-1]
    s2 = s * s
    diff = s2[..., None, :] - s2[..., :, None]          # s_j^2 - s_i^2
    eye = np.eye(k, dtype=bool)
    with np.errstate(divide="ignore"):
        f = np.where(eye, 0.0, 1.0 / np.where(eye, 1.0, diff))
    utgu = _mT(u) @ gu
    vtgv = _mT(v) @ gv
    j = f * (utgu - _mT(utgu))
    kk = f * (vtgv - _mT(vtgv))
    inner = j * s[..., None, :] + kk * s[..., :, None]
    idx = np.arange(k)
    inner[..., idx, idx] += gs
    ga = u @ inner @ _mT(v)
    inv_s = 1.0 / s
    m, n = u.shape[-2], v.shape[-2]
    if m > k:       # the part of gu outside the column space of u
        gu_perp = gu - u @ utgu
        ga = ga + (gu_perp * inv_s[..., None, :]) @ _mT(v)
    if n > k:
        gv_perp = gv - v @ vtgv
        ga = ga + (u * inv_s[..., None, :]) @ _mT(gv_perp)
    return ga


def _pinv_host(h, rcond):
    u, s, vh = np.linalg.svd(h, full_matrices=False)
    cutoff = rcond * np.max(s, axis=-1, keepdims=True, initial=0.0)
    keep = s > cutoff
    inv_s = np.where(keep, 1.0 / np.where(keep, s, 1.0), 0.0)
    return (_mT(vh) * inv_s[..., None, :]) @ _mT(u)


def pinv(a, rcond=None, validate_args=False, name=None):
    """The Moore-Penrose pseudo-inverse of each matrix (..., M, N) -> (..., N, M), from the SVD;
    singular values at or below rcond * max(s) are treated as zero (rcond defaults to
    10 * max(M, N) * eps, as TF's). The gradient assumes the rank is locally constant."""
    x = _matrix("pinv", a)
    A = x._data
    dt = A.dtype
    m, n = A.shape[-2:]
    if isinstance(rcond, Tensor):
        rcond = rcond.numpy()
    rcond = 10.0 * max(m, n) * np.finfo(dt).eps if rcond is None else np.asarray(rcond, dt)
    if _eig_gpu.handles(x, "pinv"):
        return _eig_gpu.pinv(x, rcond)
    h = _host(A)
    p = _pinv_host(h, rcond[..., None] if np.ndim(rcond) else rcond).astype(dt)
    out = _wrap(_back(p, A, dt))
    if _tapes:
        def bwd(g, needs):
            gh = _host(g)
            gt = _mT(gh)
            pt = _mT(p)
            ga = -(pt @ gh @ pt)
            ga = ga + (gt - h @ (p @ gt)) @ (p @ pt)      # (I - A P) G^T P P^T
            ga = ga + (pt @ p) @ (gt - (gt @ p) @ h)      # P^T P G^T (I - P A)
            return (_back(ga, A, dt),)

        def bwd_t(g, needs):  # the same formula with nabi ops on x and the output P
            pt = matrix_transpose(out)
            gt = matrix_transpose(g)
            ga = multiply(matmul(matmul(pt, g), pt), -1.0)
            ga = add(ga, matmul(subtract(gt, matmul(x, matmul(out, gt))), matmul(out, pt)))
            ga = add(ga, matmul(matmul(pt, out), subtract(gt, matmul(matmul(gt, out), x))))
            return (ga,)
        record((x,), out, bwd, bwd_t, "pinv")
    return out


def matrix_rank(a, tol=None, validate_args=False, name=None):
    """The number of singular values above tol of each matrix (..., M, N), as int32; tol
    defaults to max(M, N) * eps * max(s), as TF's."""
    x = _matrix("matrix_rank", a)
    if _eig_gpu.handles(x, "matrix_rank"):
        return _eig_gpu.matrix_rank(x, tol)
    A = x._data
    dt = A.dtype
    s = np.linalg.svd(_host(A), compute_uv=False)
    if tol is None:
        m, n = A.shape[-2:]
        tol = max(m, n) * np.finfo(dt).eps * np.max(s, axis=-1, keepdims=True, initial=0.0)
    else:
        if isinstance(tol, Tensor):
            tol = tol.numpy()
        tol = np.asarray(tol, dt)
        tol = tol[..., None] if tol.ndim else tol
    return _wrap(_back(np.sum(s > tol, axis=-1), A, np.int32))


# ---------------------------------------------------------------- eigh


def _eigh_grad_lower(ga):
    """G~ -> the gradient of an op that reads only the lower triangle: G~ + G~^T below the
    diagonal, G~_ii on it, zero above."""
    out = np.tril(ga + _mT(ga))
    n = ga.shape[-1]
    idx = np.arange(n)
    out[..., idx, idx] = ga[..., idx, idx]
    return out


def eigh(tensor, name=None):
    """Eigenvalues (ascending) and eigenvectors (columns) of each self-adjoint matrix
    (..., N, N): returns (e, v) with tensor = v @ diag(e) @ v^T. Only the lower triangle is
    read."""
    x = _matrix("eigh", tensor, square=True)
    if _eig_gpu.handles(x, "eigh"):
        return _eig_gpu.eigh(x)
    A = x._data
    dt = A.dtype
    e, v = np.linalg.eigh(_host(A))
    e, v = e.astype(dt), v.astype(dt)
    outs = [_wrap(_back(e, A, dt)), _wrap(_back(v, A, dt))]
    if _tapes:
        def bwd(grads, needs):
            ge, gv = _host(grads[0]), _host(grads[1])
            n = e.shape[-1]
            diff = e[..., None, :] - e[..., :, None]        # e_j - e_i
            eye = np.eye(n, dtype=bool)
            with np.errstate(divide="ignore"):
                f = np.where(eye, 0.0, 1.0 / np.where(eye, 1.0, diff))
            inner = f * (_mT(v) @ gv)
            idx = np.arange(n)
            inner[..., idx, idx] += ge
            return (_back(_eigh_grad_lower(v @ inner @ _mT(v)), A, dt),)

        def bwd_t(grads, needs):  # the same on the outputs e, v with nabi ops
            return (_eigh_grad_t(outs[0], outs[1], grads[0], grads[1]),)
        record((x,), outs, bwd, bwd_t, "eigh")
    return tuple(outs)


def _eigh_lower_t(ga):
    """`_eigh_grad_lower` on Tensors."""
    from ._common import const_like
    n = ga._data.shape[-1]
    return add(multiply(add(ga, matrix_transpose(ga)), const_like(np.tril(np.ones((n, n)), -1),
                                                                  ga)),
               multiply(ga, const_like(np.eye(n), ga)))


def _eigh_grad_t(e, v, ge, gv):
    """eigh's gradient with nabi ops (second order): v (F o v^T gv + diag(ge)) v^T, F_ij =
    1 / (e_j - e_i) off the diagonal, then the lower-triangle form."""
    from ._common import const_like
    n = e._data.shape[-1]
    eye = np.eye(n)
    diff = subtract(expand_dims(e, -2), expand_dims(e, -1))           # e_j - e_i
    f = multiply(divide(1.0, add(diff, const_like(eye, e))), const_like(1 - eye, e))
    inner = add(multiply(f, matmul(v, gv, transpose_a=True)),
                multiply(expand_dims(ge, -2), const_like(eye, e)))
    return _eigh_lower_t(matmul(matmul(v, inner), v, transpose_b=True))


def eigvalsh(tensor, name=None):
    """The eigenvalues (ascending) of each self-adjoint matrix (..., N, N); only the lower
    triangle is read."""
    x = _matrix("eigvalsh", tensor, square=True)
    if _eig_gpu.handles(x, "eigvalsh"):
        return _eig_gpu.eigvalsh(x)
    A = x._data
    dt = A.dtype
    h = _host(A)
    e = np.linalg.eigvalsh(h).astype(dt)
    out = _wrap(_back(e, A, dt))
    if _tapes:
        def bwd(g, needs):
            _, v = np.linalg.eigh(h)
            ga = (v * _host(g)[..., None, :]) @ _mT(v)
            return (_back(_eigh_grad_lower(ga), A, dt),)

        def bwd_t(g, needs):  # v diag(g) v^T with the eigenvectors of a recorded eigh
            _, vt = eigh(x)
            ga = matmul(multiply(vt, expand_dims(g, -2)), vt, transpose_b=True)
            return (_eigh_lower_t(ga),)
        record((x,), out, bwd, bwd_t, "eigvalsh")
    return out


# ---------------------------------------------------------------- least squares


def lstsq(matrix, rhs, l2_regularizer=0.0, fast=True, name=None):
    """Least-squares solutions X (..., N, K) of matrix (..., M, N) @ X = rhs (..., M, K).
    fast=True (TF's default) solves the regularized normal equations through Cholesky:
    (A^T A + l2 I)^-1 A^T B when M >= N, A^T (A A^T + l2 I)^-1 B when M < N (full rank A).
    fast=False: the minimum-norm solution from an SVD (l2_regularizer ignored, no gradient),
    as TF's complete-orthogonal-decomposition path."""
    a, b, batch = _system("lstsq", matrix, rhs, square=False)
    A, B = a._data, b._data
    dt = A.dtype
    m, n = A.shape[-2:]
    if isinstance(l2_regularizer, Tensor):
        l2_regularizer = l2_regularizer.numpy()
    l2 = float(l2_regularizer)
    if l2 < 0:
        raise ValueError(f"[lstsq] l2_regularizer must be >= 0, got {l2}")
    if not fast:
        if _eig_gpu.handles(a, "lstsq"):
            out = _eig_gpu.lstsq_pinv(a, b, batch)
        else:
            ha = np.broadcast_to(_host(A), batch + A.shape[-2:])
            hb = np.broadcast_to(_host(B), batch + B.shape[-2:])
            x = _pinv_host(ha.astype(np.float64), 10.0 * max(m, n) * np.finfo(dt).eps) @ hb
            out = _wrap(_back(x, A, dt))
        if _tapes:
            def bwd(g, needs):
                raise NotImplementedError("[lstsq] the gradient is not implemented for "
                                          "fast=False (as in TensorFlow); use fast=True")
            record((a, b), out, bwd)
        return out
    if m >= n:
        gram = matmul(a, a, transpose_a=True)
        rhs2 = matmul(a, b, transpose_a=True)
    else:
        gram = matmul(a, a, transpose_b=True)
        rhs2 = b
    k = gram._data.shape[-1]
    if l2:
        gram = add(gram, (l2 * np.eye(k)).astype(dt))
    try:
        if _gpu_linalg.on_gpu(gram):       # the GPU Cholesky checks on the device
            chol = _gpu_linalg.cholesky(gram)
        else:
            _cholesky("lstsq", _host(gram._data))
            chol = cholesky(gram)
    except ValueError:
        raise ValueError(f"[lstsq] the normal equations of matrix {_shape(A)} are not "
                         "positive definite (rank-deficient matrix): use l2_regularizer > 0 or "
                         "fast=False") from None
    x = cholesky_solve(chol, rhs2)
    return x if m >= n else matmul(a, x, transpose_a=True)


# ---------------------------------------------------------------- small compositions


# Higham 2005: the [13/13] Pade approximant with scaling and squaring
_PADE13 = (64764752532480000.0, 32382376266240000.0, 7771770303897600.0, 1187353796428800.0,
           129060195264000.0, 10559470521600.0, 670442572800.0, 33522128640.0, 1323241920.0,
           40840800.0, 960960.0, 16380.0, 182.0, 1.0)
_THETA13 = 5.371920351148152


def expm(input, name=None):  # noqa: A002
    """The matrix exponential of each square matrix (..., N, N): scaling and squaring with the
    [13/13] Pade approximant (Higham 2005). Each matrix is scaled by 2^-s (s from its 1-norm:
    on the host for host tensors, on the device for GPU tensors, which read back only the
    largest s, the number of squarings), so the approximant is a composition of matmul and
    solve and the gradient follows from theirs."""
    x = _matrix("expm", input, square=True)
    A = x._data
    dt = A.dtype
    n = A.shape[-1]
    batch = tuple(A.shape[:-2])
    if type(A) is DeviceArray and n:
        sq, scale = _expm_scaling_gpu(A)
    else:
        l1 = np.max(np.sum(np.abs(_host(A)), axis=-2), axis=-1) if n else np.zeros(batch)
        with np.errstate(divide="ignore"):
            sq = np.maximum(np.ceil(np.log2(l1 / _THETA13)), 0).astype(np.int64)
        scale = np.ldexp(1.0, -sq).astype(dt)[..., None, None]
    a = multiply(x, _wrap(scale) if type(scale) is DeviceArray else scale)
    b = _PADE13
    eye = np.broadcast_to(np.eye(n, dtype=dt), A.shape)
    a2 = matmul(a, a)
    a4 = matmul(a2, a2)
    a6 = matmul(a4, a2)
    u = matmul(a, add(matmul(a6, b[13] * a6 + b[11] * a4 + b[9] * a2),
                      b[7] * a6 + b[5] * a4 + b[3] * a2 + b[1] * eye))
    v = add(matmul(a6, b[12] * a6 + b[10] * a4 + b[8] * a2),
            b[6] * a6 + b[4] * a4 + b[2] * a2 + b[0] * eye)
    r = solve(v - u, v + u)
    if type(sq) is DeviceArray:  # one read: the number of squarings
        for i in range(int(np.max(sq).get()) if sq.size else 0):
            r = where(_wrap(np.greater(sq, i).reshape(batch + (1, 1))), matmul(r, r), r)
        return r
    for i in range(int(sq.max()) if sq.size else 0):
        more = (sq > i).astype(dt)[..., None, None]       # matrices still squaring
        r2 = matmul(r, r)
        r = r2 if more.all() else r2 * more + r * (1 - more)
    return r


def _expm_scaling_gpu(A):
    """The squarings s = max(ceil(log2(|A|_1 / theta13)), 0) of each GPU matrix and their
    scales 2^-s (..., 1, 1), on the device: s counts the powers 2^k (k >= 0) below
    |A|_1 / theta13, which is the host formula's ceil(log2(.)) (exact at powers of two), and
    2^-s is a lookup in the host table np.ldexp(1, -k) in A's dtype."""
    dt = A.dtype
    batch = tuple(A.shape[:-2])
    ratio = np.divide(np.max(np.sum(np.abs(A), axis=-2), axis=-1), dt.type(_THETA13))
    k = np.arange(_EXPM_MAX_SQ)
    with np.errstate(over="ignore"):
        pow2 = to_device(np.ldexp(1.0, k).astype(dt), "cuda")
        table = to_device(np.ldexp(1.0, -k).astype(dt), "cuda")
    sq = np.sum(np.greater(ratio.reshape(-1, 1), pow2.reshape(1, -1)).astype(np.int64), axis=1)
    scale = take(table, sq, 0, True)  # sq lies in [0, _EXPM_MAX_SQ)
    return sq.reshape(batch), scale.reshape(batch + (1, 1))


_EXPM_MAX_SQ = 1100  # above log2(max float64 / theta13) + 1


def adjoint(matrix, name=None):
    """The conjugate transpose of each matrix (..., M, N) -> (..., N, M) (real: the transpose)."""
    return matrix_transpose(matrix, conjugate=True)


def matvec(a, b, transpose_a=False, adjoint_a=False, a_is_sparse=False, b_is_sparse=False,
           name=None):
    """op(a) @ b for matrices a (..., M, N) and vectors b (..., N) -> (..., M)."""
    a, b = binary_operands("matvec", a, b)
    if a._data.ndim < 2 or b._data.ndim < 1:
        raise ValueError(f"[matvec] a must have rank >= 2 (..., M, N) and b rank >= 1 (..., N), "
                         f"got shapes {_shape(a._data)} and {_shape(b._data)}")
    k = a._data.shape[-2] if (transpose_a or adjoint_a) else a._data.shape[-1]
    if b._data.shape[-1] != k:
        raise ValueError(f"[matvec] a {_shape(a._data)}{'^T' if transpose_a or adjoint_a else ''}"
                         f" and b {_shape(b._data)} disagree: b must have {k} entries in its "
                         "last axis")
    return squeeze(matmul(a, expand_dims(b, -1), transpose_a=transpose_a or adjoint_a), -1)


def cross(a, b, name=None):
    """The cross product of 3-vectors along the last axis: a, b (..., 3) -> (..., 3)."""
    a, b = binary_operands("cross", a, b)
    sa, sb = _shape(a._data), _shape(b._data)
    if not sa or not sb or sa[-1] != 3 or sb[-1] != 3:
        raise ValueError(f"[cross] a and b must have 3 entries in their last axis (..., 3), got "
                         f"shapes {sa} and {sb}")
    # components by basic slicing (strided copies; a gather would check its indices on the
    # GPU and read a flag back): c = a_yzx * b_zxy - a_zxy * b_yzx
    def comp(t, i):
        return t[..., i:i + 1]
    a0, a1, a2, b0, b1, b2 = (comp(t, i) for t in (a, b) for i in range(3))
    return concat([subtract(multiply(a1, b2), multiply(a2, b1)),
                   subtract(multiply(a2, b0), multiply(a0, b2)),
                   subtract(multiply(a0, b1), multiply(a1, b0))], axis=-1)


def normalize(tensor, ord="euclidean", axis=None, name=None):  # noqa: A002
    """(tensor / norm, norm) with the norm of tf.norm(tensor, ord, axis, keepdims=True)."""
    x = t_(tensor)
    nrm = norm(x, ord=ord, axis=axis, keepdims=True)
    return x / nrm, nrm


__all__ = ["solve", "triangular_solve", "cholesky", "cholesky_solve", "logdet", "qr", "svd",
           "pinv", "matrix_rank", "eigh", "eigvalsh", "lstsq", "expm", "adjoint", "matvec",
           "cross", "normalize"]
