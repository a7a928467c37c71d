"""tf.linalg's LU / Cholesky family on GPU tensors: the CUDA kernels of csrc/cuda/linalg_lu.cu
(cuda_backend.lu_factor, lu_solve, triangular_solve, cholesky, lu_det, lu_slogdet,
lu_adjugate_t, perm_inverse, permute_rows) instead of a copy to NumPy and back. The op files
(linalg_decomp.py, linalg_ops.py, linalg_lu.py) call these when the input lives on the GPU;
results equal the host path's within float rounding (the same pivots: LAPACK's rule).

Reads back to the host: only where the host path raises on the values, one int32 scalar
(the largest zero-pivot / failure count of the batch): cholesky and logdet (not positive
definite), solve, inv, triangular_solve (singular), lu_solve / lu_matrix_inverse /
lu_reconstruct (perm not a permutation; lu_solve's U singular), and the gradients of slogdet
and lu (singular input), which the host path also refuses. Forward det, slogdet and lu read
nothing; the first-order gradients of cholesky, solve, triangular_solve, inv, det, lu_solve,
cholesky_solve and logdet read nothing (they reuse the factors on the device).

Backward rules (raw, on DeviceArrays; the Tensor rules for second order are the host path's
formulas written with nabi ops):
  solve / triangular_solve  GB = op(A)^-T G (the same factors), GA = -GB X^T (-X GB^T adjoint),
                            masked to the triangle read
  cholesky                  S = L^-T Phi(L^T G) L^-1 (two triangular solves), GA = sym(S) / 2
  inv                       -inv^T G inv^T
  det                       G adj(A)^T (the adjugate kernel: exact for singular A too)
  slogdet                   G inv(A)^T
  lu                        L^-T (tril_-1(L^T G_L) + triu(G_U U^T)) U^-T, rows back through p
"""
import numpy as np

from ..framework.device import DeviceArray, backend, current_device, to_device
from ._common import Tensor, _tapes, _wrap, const_like, record


def on_gpu(x):
    """True for a Tensor (or array) whose values are on the GPU, and for a host value (list,
    NumPy array) that becomes a GPU tensor in the current device scope."""
    if isinstance(x, Tensor):
        return type(x._data) is DeviceArray
    return type(x) is DeviceArray or current_device() == "cuda"


def _d(buf):
    return DeviceArray(buf)


def _count(flags):
    """The largest entry of an int32 device array (one scalar read), 0 when empty."""
    return int(flags.max()) if flags.size else 0


def _mT(v):
    return v.swapaxes(-1, -2)


def _mask(kind, n, like_arr):
    m = {"lower": np.tril(np.ones((n, n))), "upper": np.triu(np.ones((n, n))),
         "strict_lower": np.tril(np.ones((n, n)), -1)}[kind]
    return to_device(m.astype(like_arr.dtype), "cuda")


def _bcast(x, shape):
    """x (a Tensor) broadcast to shape with a recorded op (its gradient sums back)."""
    if tuple(x._data.shape) == tuple(shape):
        return x
    from .array_ops import broadcast_to
    return broadcast_to(x, shape)


def _tsolve(t, b, lower, adjoint, unit=False):
    """op(T)^-1 b on DeviceArrays (no checks): the raw backward rules' solve."""
    return _d(backend().triangular_solve(t.buf, b.buf, lower, adjoint, unit))


def _eye_like(a):
    n = a.shape[-1]
    return to_device(np.ascontiguousarray(np.broadcast_to(np.eye(n, dtype=a.dtype), a.shape)),
                     "cuda")


# ---------------------------------------------------------------- row permutations


def permute_rows(x, perm, inverse=False):
    """x (..., N, K) Tensor -> x[..., perm[i], :] (inverse: the rows scattered to perm[i]),
    perm a DeviceArray (..., N) with x's batch; recorded (each direction is the other's
    gradient)."""
    out = _wrap(_d(backend().permute_rows(x._data.buf, perm.buf, inverse)))
    if _tapes and x._data.dtype.kind == "f":
        record((x,), out,
               lambda g, n: (_d(backend().permute_rows(g.buf, perm.buf, not inverse)),),
               lambda g, n: (permute_rows(g, perm, not inverse),), "permute_rows")
    return out


# ---------------------------------------------------------------- triangular solves


def _tri(op, a, b, lower, adjoint, unit=False, check=True):
    """op(T)^-1 b for Tensors a (..., M, M), b (..., M, K) with equal batch shapes."""
    A, B = a._data, b._data
    r = backend().triangular_solve(A.buf, B.buf, lower, adjoint, unit, check)
    if check:
        x, zeros = r
        if _count(_d(zeros)):
            raise ValueError(f"[{op}] the matrix of shape {tuple(A.shape)} is not invertible "
                             "(a matrix in the batch is singular)")
        r = x
    out = _wrap(_d(r))
    if _tapes:
        n = A.shape[-1]
        mask = "strict_lower" if unit and lower else ("lower" if lower else "upper")
        if unit and not lower:
            mask = None  # (no caller: the strictly upper mask)

        def bwd(g, needs):
            gb = _tsolve(A, g, lower, not adjoint, unit)
            ga = None
            if needs[0]:
                x = out._data
                ga = -(x @ _mT(gb)) if adjoint else -(gb @ _mT(x))
                ga = ga * _mask(mask, n, ga)
            return ga, (gb if needs[1] else None)

        def bwd_t(g, needs):
            from .linalg_decomp import _solve_grads_t
            gb = _tri(op, a, g, lower, not adjoint, unit, check=False)
            m = {"lower": np.tril, "upper": np.triu}.get(mask, lambda v: np.tril(v, -1))
            return _solve_grads_t(a, b, out, gb, adjoint, needs, m(np.ones((n, n))))
        record((a, b), out, bwd, bwd_t, op)
    return out


def triangular_solve(a, b, batch, lower, adjoint):
    """tf.linalg.triangular_solve after the host path's argument checks."""
    m = a._data.shape[-1]
    a = _bcast(a, batch + (m, m))
    b = _bcast(b, batch + tuple(b._data.shape[-2:]))
    return _tri("triangular_solve", a, b, lower, adjoint)


# ---------------------------------------------------------------- LU: solve, inv, det


def _factor(a, perm_dtype="int32"):
    lu, p, s, z = backend().lu_factor(a.buf, perm_dtype)
    return _d(lu), _d(p), _d(s), _d(z)


def solve(a, b, batch, adjoint):
    """tf.linalg.solve after the host path's argument checks: LU with partial pivoting, then
    the two substitutions; the gradient reuses the factors."""
    m = a._data.shape[-1]
    a = _bcast(a, batch + (m, m))
    b = _bcast(b, batch + tuple(b._data.shape[-2:]))
    lu, p, _, z = _factor(a._data)
    if _count(z):
        raise ValueError(f"[solve] the matrix of shape {batch + (m, m)} is not invertible (a "
                         "matrix in the batch is singular)")
    out = _wrap(_d(backend().lu_solve(lu.buf, p.buf, b._data.buf, adjoint)))
    if _tapes:
        def bwd(g, needs):
            gb = _d(backend().lu_solve(lu.buf, p.buf, g.buf, not adjoint))
            x = out._data
            ga = (-(x @ _mT(gb)) if adjoint else -(gb @ _mT(x))) if needs[0] else None
            return ga, (gb if needs[1] else None)

        def bwd_t(g, needs):
            from .linalg_decomp import _solve_grads_t
            from .linalg_decomp import solve as solve_op
            return _solve_grads_t(a, b, out, solve_op(a, g, adjoint=not adjoint), adjoint, needs)
        record((a, b), out, bwd, bwd_t, "solve")
    return out


def inv(x, adjoint):
    """tf.linalg.inv: LU, then the solve against the identity (no identity is uploaded)."""
    A = x._data
    lu, p, _, z = _factor(A)
    if _count(z):
        raise ValueError(f"[inv] input of shape {tuple(A.shape)} is not invertible (a matrix "
                         "is singular)")
    out = _wrap(_d(backend().lu_solve(lu.buf, p.buf, None, adjoint)))
    if _tapes:
        from .linalg_ops import _swap_t
        from .math_ops import matmul

        def bwd(g, n):
            it = _mT(out._data)
            gx = -(it @ g @ it)
            return (_mT(gx) if adjoint else gx,)

        def bwd_t(g, n):
            gx = -matmul(matmul(out, g, transpose_a=True), out, transpose_b=True)
            return (_swap_t(gx) if adjoint else gx,)
        record((x,), out, bwd, bwd_t, "inv")
    return out


def det(x):
    """tf.linalg.det: the product of the LU pivots times the permutation's sign; gradient
    G adj(A)^T from the adjugate kernel (exact for singular matrices, as the host's SVD)."""
    A = x._data
    lu, p, s, _ = _factor(A)
    out = _wrap(_d(backend().lu_det(lu.buf, s.buf)))
    if _tapes:
        from .array_ops import expand_dims
        from .linalg_ops import _inv_T_t
        from .math_ops import multiply

        def bwd(g, n):
            adjt = _d(backend().lu_adjugate_t(lu.buf, p.buf, s.buf))
            return (adjt * g[..., None, None],)

        def bwd_t(g, n):
            return (multiply(expand_dims(expand_dims(multiply(g, out), -1), -1),
                             _inv_T_t(x, "det")),)
        record((x,), out, bwd, bwd_t, "det")
    return out


def slogdet(x):
    """tf.linalg.slogdet: (sign, log|det|) from the LU pivots; gradient G inv(A)^T."""
    A = x._data
    lu, p, s, z = _factor(A)
    sg, la = backend().lu_slogdet(lu.buf, s.buf)
    sg, la = _wrap(_d(sg)), _wrap(_d(la))
    if _tapes:
        from .array_ops import expand_dims
        from .linalg_ops import _inv_T_t
        from .math_ops import multiply

        def bwd(grads, n):
            if _count(z):
                raise ValueError(f"[slogdet] the gradient of log|det| is undefined: the input "
                                 f"of shape {tuple(A.shape)} is singular")
            it = _d(backend().lu_solve(lu.buf, p.buf, None, True))
            return (it * grads[1][..., None, None],)

        def bwd_t(grads, n):
            return (multiply(expand_dims(expand_dims(grads[1], -1), -1),
                             _inv_T_t(x, "slogdet")),)
        record((x,), [sg, la], bwd, bwd_t, "slogdet")
    return sg, la


# ---------------------------------------------------------------- Cholesky


def cholesky(x, op="cholesky"):
    """tf.linalg.cholesky (lower triangle read); a matrix that is not positive definite
    raises as on the host (one scalar read)."""
    A = x._data
    l_, info = backend().cholesky(A.buf)
    if _count(_d(info)):
        raise ValueError(f"[{op}] Cholesky decomposition failed: the input of shape "
                         f"{tuple(A.shape)} is not positive definite (a matrix in the batch)")
    out = _wrap(_d(l_))
    if _tapes:
        n = A.shape[-1]

        def bwd(g, needs):
            L = out._data
            half = to_device((np.tril(np.ones((n, n))) - 0.5 * np.eye(n)).astype(L.dtype),
                             "cuda")
            ph = (_mT(L) @ g) * half                     # Phi(L^T G)
            y = _mT(_tsolve(L, _mT(ph), True, True))     # Phi L^-1 = (L^-T Phi^T)^T
            s_ = _tsolve(L, y, True, True)               # L^-T Phi L^-1
            return ((s_ + _mT(s_)) * 0.5,)

        def bwd_t(g, needs):
            from .linalg_ops import matrix_transpose
            from .math_ops import add, matmul, multiply
            eye = const_like(np.broadcast_to(np.eye(n), A.shape).copy(), out)
            l_inv = _tri("cholesky", out, eye, True, False, check=False)
            half = np.tril(np.ones((n, n))) - 0.5 * np.eye(n)
            p = multiply(matmul(out, g, transpose_a=True), const_like(half, out))
            s_ = matmul(matmul(l_inv, p, transpose_a=True), l_inv)
            return (multiply(add(s_, matrix_transpose(s_)), 0.5),)
        record((x,), out, bwd, bwd_t, "cholesky")
    return out


def logdet(x):
    """tf.linalg.logdet: 2 sum(log(diag(cholesky(x)))) with the GPU Cholesky (the diagonal
    taken by an identity mask: diag_part's gather reads its indices' range back)."""
    from .math_ops import log, multiply, reduce_sum
    l_ = cholesky(x, "logdet")
    eye = const_like(np.eye(x._data.shape[-1]), l_)
    return multiply(reduce_sum(log(reduce_sum(multiply(l_, eye), axis=-1)), axis=-1), 2.0)


# ---------------------------------------------------------------- tf.linalg.lu and friends


def lu(x, idx):
    """tf.linalg.lu: (lu, p) with x[..., p, :] = L U, p of idx (int32 / int64)."""
    A = x._data
    f, p, _, z = _factor(A, idx.name)
    out, pt = _wrap(f), _wrap(p)
    if _tapes:
        n = A.shape[-1]

        def bwd(grads, needs):
            if _count(z):
                raise ValueError(f"[lu] the gradient is undefined for a singular input (a zero "
                                 f"pivot in U), lu shape {tuple(A.shape)}")
            g = grads[0]
            low = f * _mask("strict_lower", n, f)
            up = f * _mask("upper", n, f)
            phi = (_mT(low) @ g + g) * _mask("strict_lower", n, f) + (g @ _mT(up)) * \
                _mask("upper", n, f)
            y = _tsolve(f, phi, True, True, unit=True)              # L^-T phi
            gp = _mT(_tsolve(f, _mT(y), False, False))              # ... U^-T
            return (_d(backend().permute_rows(gp.buf, p.buf, True)),)

        def bwd_t(grads, needs):
            from .linalg_lu import _unit_lower, _upper
            from .linalg_ops import matrix_transpose as mt
            from .math_ops import add, matmul, multiply
            g = grads[0]
            l_, u = _unit_lower(out), _upper(out)
            phi = add(multiply(matmul(l_, g, transpose_a=True),
                               const_like(np.tril(np.ones((n, n)), -1), g)),
                      multiply(matmul(g, u, transpose_b=True),
                               const_like(np.triu(np.ones((n, n))), g)))
            y = _tri("lu", out, phi, True, True, unit=True, check=False)
            gp = mt(_tri("lu", out, mt(y), False, False))
            return (permute_rows(gp, p, True),)
        record((x,), [out, pt], bwd, bwd_t, "lu")
    return out, pt


def lu_pivots(x):
    """keras.ops.lu_factor on the GPU: (lu, pivots int32) as scipy.linalg.lu_factor (pivots[k]
    the row swapped with row k), no gradient (the caller records that)."""
    lu_, _, _, _, piv = backend().lu_factor(x._data.buf, "int32", True)
    return _wrap(_d(lu_)), _wrap(_d(piv))


def lu_args(op, lower_upper, perm):
    """The host path's _lu_args on the GPU: (lower_upper Tensor, perm DeviceArray); perm is
    checked to be a permutation on the device (one scalar read)."""
    from .linalg_decomp import _matrix
    x = _matrix(op, lower_upper, square=True)
    v = perm._data if isinstance(perm, Tensor) else np.asarray(perm)
    if v.dtype.kind not in "iu":
        raise TypeError(f"[{op}] perm must be integers, got {v.dtype.name} {tuple(v.shape)}")
    if type(v) is not DeviceArray:
        v = to_device(np.ascontiguousarray(v, dtype=np.int64), "cuda")
    elif v.dtype not in (np.int32, np.int64):
        v = v.astype(np.int64)
    n = x._data.shape[-1]
    if v.ndim < 1 or v.shape[-1] != n:
        raise ValueError(f"[{op}] perm must have shape (..., {n}) for lower_upper of shape "
                         f"{tuple(x._data.shape)}, got shape {tuple(v.shape)}")
    _, bad = backend().perm_inverse(v.buf)
    if int(_d(bad).item()):
        raise ValueError(f"[{op}] perm must hold a permutation of 0..{n - 1} in its last axis, "
                         f"got {np.asarray(v.get()).tolist()}")
    return x, v


def _batch(op, *shapes):
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise ValueError(f"[{op}] the batch dimensions {shapes} do not broadcast") from None


def _perm_to(p, batch):
    if tuple(p.shape[:-1]) == batch:
        return p
    return np.broadcast_to(p, batch + (p.shape[-1],)).copy()


def _lu_solve(op, x, p, rhs):
    from .linalg_decomp import _system
    lu_t, b, _ = _system(op, x, rhs)
    n = p.shape[-1]
    shp = lambda v: tuple(v._data.shape)   # noqa: E731
    try:
        batch = tuple(np.broadcast_shapes(shp(lu_t)[:-2], tuple(p.shape[:-1]), shp(b)[:-2]))
    except ValueError:
        raise ValueError(f"[{op}] the batch dimensions of lower_upper {shp(lu_t)}, perm "
                         f"{tuple(p.shape)} and rhs {shp(b)} do not broadcast") from None
    lu_t = _bcast(lu_t, batch + (n, n))
    b = _bcast(b, batch + (n, shp(b)[-1]))
    y = _tri(op, lu_t, permute_rows(b, _perm_to(p, batch)), True, False, unit=True,
             check=False)
    return _tri(op, lu_t, y, False, False)


def lu_solve(lower_upper, perm, rhs):
    x, p = lu_args("lu_solve", lower_upper, perm)
    return _lu_solve("lu_solve", x, p, rhs)


def lu_matrix_inverse(lower_upper, perm):
    x, p = lu_args("lu_matrix_inverse", lower_upper, perm)
    n = p.shape[-1]
    batch = _batch("lu_matrix_inverse", tuple(x._data.shape[:-2]), tuple(p.shape[:-1]))
    eye = const_like(np.broadcast_to(np.eye(n), batch + (n, n)).copy(), x)
    return _lu_solve("lu_matrix_inverse", x, p, eye)


def lu_reconstruct(lower_upper, perm):
    from .linalg_lu import _unit_lower, _upper
    from .math_ops import matmul
    x, p = lu_args("lu_reconstruct", lower_upper, perm)
    n = p.shape[-1]
    batch = _batch("lu_reconstruct", tuple(x._data.shape[:-2]), tuple(p.shape[:-1]))
    lu_b = _bcast(x, batch + (n, n))
    return permute_rows(matmul(_unit_lower(lu_b), _upper(lu_b)), _perm_to(p, batch), True)
