"""GPU paths of tf.linalg.qr / svd / eigh / eigvalsh, and of pinv, matrix_rank and
lstsq(fast=False) built on svd: the CUDA kernels of csrc/cuda/linalg_eig.cu
(cuda_backend.linalg_qr / linalg_eigh / linalg_svd / linalg_solve_upper) instead of a copy to
NumPy and back. linalg_decomp.py calls `handles(x)` and hands GPU tensors here.

Conventions, as the host path: qr's r has NumPy's (LAPACK's) diagonal signs (the kernel makes
the same Householder reflectors); eigenvalues ascending, singular values descending. The signs
of eigenvectors and singular vectors are the Jacobi rotations' (LAPACK leaves them arbitrary
too): a vector may come out negated relative to the CPU path.

Gradients stay on the device: linalg_decomp's rules written with nabi ops (the same formulas
as the host rules), for the first order too; qr's R^-T step runs on linalg_solve_upper (its
own gradient is recorded, so second order works).
Matrices whose Jacobi dimension (eigh: n, svd: min(m, n)) is above 2048 take the host path.
"""
import numpy as np

from ..framework.device import DeviceArray, backend
from ._common import Tensor, _tapes, _wrap, const_like, record
from .array_ops import broadcast_to, concat, expand_dims
from .linalg_ops import matrix_transpose
from .math_ops import add, cast, divide, matmul, multiply, reduce_max, reduce_sum, subtract

MAX_JACOBI = 2048


def handles(x, op):
    """True when Tensor x is on the GPU and the kernels take it (qr: any size)."""
    a = x._data
    if type(a) is not DeviceArray:
        return False
    return op == "qr" or min(a.shape[-2:]) <= MAX_JACOBI


def _dev(buf):
    return _wrap(DeviceArray(buf))


def _mask(arr, like):
    return const_like(np.asarray(arr, np.float64), like)


def _rules(inputs, outs, rule, op):
    """Records `rule(inputs, outs, grads, needs)` (nabi ops on Tensors) as both rules: the
    first-order one gets untracked Tensors over the same device arrays (nothing is recorded
    while it runs) and returns arrays."""
    def bwd(grads, needs):
        ins = [_wrap(t._data) for t in inputs]
        os_ = [_wrap(t._data) for t in outs]
        gs = [_wrap(g) for g in grads] if isinstance(grads, (list, tuple)) else _wrap(grads)
        return tuple(None if g is None else g._data for g in rule(ins, os_, gs, needs))

    def bwd_t(grads, needs):
        return rule(inputs, outs, grads, needs)
    record(tuple(inputs), outs if len(outs) > 1 else outs[0], bwd, bwd_t, op)


# ---------------------------------------------------------------- b r^-T, b r^-1


def solve_upper(r, b, transpose=True):
    """X = b r^-T (transpose) or b r^-1 for upper-triangular r (..., N, N), b (..., M, N), on
    the GPU; differentiable (X r^T = b: Gb = G r^-1, Gr = -triu(Gb^T X); X r = b: Gb = G r^-T,
    Gr = -triu(X^T Gb))."""
    out = _dev(backend().linalg_solve_upper(r._data.buf, b._data.buf, bool(transpose)))
    if _tapes:
        def rule(ins, outs, g, needs):
            rt, x = ins[0], outs[0]
            gb = solve_upper(rt, g, not transpose)
            gr = None
            if needs[0]:
                n = r._data.shape[-1]
                prod = (matmul(gb, x, transpose_a=True) if transpose
                        else matmul(x, gb, transpose_a=True))
                gr = multiply(prod, const_like(-np.triu(np.ones((n, n))), prod))
            return (gr, gb if needs[1] else None)
        _rules((r, b), [out], rule, "qr")
    return out


# ---------------------------------------------------------------- QR


def _qr_grad_deep(q, r, gq, gr):
    """linalg_decomp's QR rule for M >= N with the R^-T step on the GPU."""
    n = r._data.shape[-1]
    mm = subtract(matmul(r, gr, transpose_b=True), matmul(gq, q, transpose_a=True))
    low = multiply(mm, _mask(np.tril(np.ones((n, n))), mm))
    sym = add(low, matrix_transpose(multiply(mm, _mask(np.tril(np.ones((n, n)), -1), mm))))
    return solve_upper(r, add(gq, matmul(q, sym)), transpose=True)


def qr(x, full_matrices):
    A = x._data
    m, n = A.shape[-2:]
    q, r = backend().linalg_qr(A.buf, bool(full_matrices))
    outs = [_dev(q), _dev(r)]
    if _tapes:
        def rule(ins, os_, grads, needs):
            if full_matrices and m > n:
                raise NotImplementedError(
                    f"[qr] the gradient is not implemented for full_matrices=True when the "
                    f"input has more rows than columns, got shape {tuple(A.shape)} (as in "
                    "TensorFlow); use full_matrices=False")
            (xt,), (qt, rt) = ins, os_
            gq, gr = grads
            if m >= n:
                return (_qr_grad_deep(qt, rt, gq, gr),)
            y, gv = xt[..., :, m:], gr[..., :, m:]
            gx = _qr_grad_deep(qt, rt[..., :, :m], add(gq, matmul(y, gv, transpose_b=True)),
                               gr[..., :, :m])
            return (concat([gx, matmul(qt, gv)], -1),)
        _rules([x], outs, rule, "qr")
    return tuple(outs)


# ---------------------------------------------------------------- SVD


def _svd_values(A, full=False, compute_uv=False):
    s, u, v = backend().linalg_svd(A.buf, bool(full), bool(compute_uv))
    return _dev(s), (None if u is None else _dev(u)), (None if v is None else _dev(v))


def svd(x, full_matrices, compute_uv):
    A = x._data
    m, n = A.shape[-2:]
    if not compute_uv:
        s, u, v = _svd_values(A, False, bool(_tapes))
        if _tapes:
            def rule_s(ins, os_, g, needs):
                if ins[0] is x:          # second order: vectors from a recorded svd
                    _, ut, vt = svd(x, False, True)
                else:
                    ut, vt = u, v
                return (matmul(multiply(ut, expand_dims(g, -2)), vt, transpose_b=True),)
            _rules([x], [s], rule_s, "svd")
        return s
    s, u, v = _svd_values(A, full_matrices, True)
    outs = [s, u, v]
    if _tapes:
        def rule(ins, os_, grads, needs):
            if full_matrices and m != n:
                raise NotImplementedError(
                    f"[svd] the gradient is not implemented for full_matrices=True with a "
                    f"non-square input, got shape {tuple(A.shape)} (as in TensorFlow); use "
                    "full_matrices=False")
            from .linalg_decomp import _svd_grad_t   # (it imports this module)
            return (_svd_grad_t(os_[1], os_[0], os_[2], *grads),)
        _rules([x], outs, rule, "svd")
    return tuple(outs)


# ---------------------------------------------------------------- eigh


def eigh(x):
    e, v = backend().linalg_eigh(x._data.buf, True)
    outs = [_dev(e), _dev(v)]
    if _tapes:
        def rule(ins, os_, grads, needs):
            from .linalg_decomp import _eigh_grad_t
            return (_eigh_grad_t(os_[0], os_[1], grads[0], grads[1]),)
        _rules([x], outs, rule, "eigh")
    return tuple(outs)


def eigvalsh(x):
    e, v = backend().linalg_eigh(x._data.buf, bool(_tapes))
    out = _dev(e)
    if _tapes:
        vec = _dev(v)

        def rule(ins, os_, g, needs):
            from .linalg_decomp import _eigh_lower_t
            vt = eigh(x)[1] if ins[0] is x else vec   # second order: a recorded eigh
            return (_eigh_lower_t(matmul(multiply(vt, expand_dims(g, -2)), vt,
                                         transpose_b=True)),)
        _rules([x], [out], rule, "eigvalsh")
    return out


# ---------------------------------------------------------------- pinv, rank, lstsq


def _pinv_values(A, rcond):
    """A^+ of the device array A from its SVD (nothing recorded); rcond a float or an array
    of the batch shape."""
    s, u, v = _svd_values(A, False, True)
    rc = const_like(np.asarray(rcond)[..., None] if np.ndim(rcond) else np.asarray(rcond), s)
    cutoff = multiply(rc, reduce_max(s, axis=-1, keepdims=True)) if s._data.shape[-1] else s
    keep = cast(s > cutoff, s.dtype)
    inv_s = multiply(keep, divide(1.0, add(s, subtract(1.0, keep))))
    return matmul(multiply(v, expand_dims(inv_s, -2)), u, transpose_b=True)


def pinv(x, rcond):
    out = _wrap(_pinv_values(x._data, rcond)._data)
    if _tapes:
        def rule(ins, os_, g, needs):  # linalg_decomp.pinv's rule
            xt, p = ins[0], os_[0]
            pt, gt = matrix_transpose(p), matrix_transpose(g)
            ga = multiply(matmul(matmul(pt, g), pt), -1.0)
            ga = add(ga, matmul(subtract(gt, matmul(xt, matmul(p, gt))), matmul(p, pt)))
            ga = add(ga, matmul(matmul(pt, p), subtract(gt, matmul(matmul(gt, p), xt))))
            return (ga,)
        _rules([x], [out], rule, "pinv")
    return out


def matrix_rank(x, tol):
    A = x._data
    m, n = A.shape[-2:]
    s, _, _ = _svd_values(A)
    if tol is None:
        eps = float(np.finfo(A.dtype).eps)
        t = multiply(reduce_max(s, axis=-1, keepdims=True), max(m, n) * eps) \
            if s._data.shape[-1] else s
    else:
        if isinstance(tol, Tensor):
            tol = tol.numpy()
        tol = np.asarray(tol, A.dtype)
        t = const_like(tol[..., None] if tol.ndim else tol, s)
    return _wrap(reduce_sum(cast(s > t, np.int32), axis=-1)._data)


def lstsq_pinv(a, b, batch):
    """fast=False: the minimum-norm solution pinv(A) B in float64 on the GPU, then cast back
    (as the host path)."""
    A, B = a._data, b._data
    dt = A.dtype
    m, n = A.shape[-2:]
    a64 = cast(_wrap(A), np.float64)
    b64 = cast(_wrap(B), np.float64)
    if tuple(A.shape[:-2]) != batch:
        a64 = broadcast_to(a64, batch + (m, n))
    if tuple(B.shape[:-2]) != batch:
        b64 = broadcast_to(b64, batch + tuple(B.shape[-2:]))
    p = _pinv_values(a64._data, 10.0 * max(m, n) * np.finfo(dt).eps)
    return _wrap(cast(matmul(p, b64), dt)._data)
