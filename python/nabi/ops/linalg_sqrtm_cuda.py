"""tf.linalg.sqrtm and tf.linalg.logm on GPU tensors: the host path's algorithms (linalg_lu.py)
on the device, with the LU kernels of csrc/cuda/linalg_lu.cu (linalg_cuda.py) for the inverses
and determinants and the GEMM for the products, instead of NumPy on a host copy.

Working precision: float64 for every input dtype (the host path iterates in float64 /
complex128 too); a complex matrix A = B + iC runs as its real embedding [[B, -C], [C, B]]
(2N x 2N), which is a ring homomorphism: inverses, products and real-scaled sums commute with
it, det(embed(A)) = |det A|^2, so the iteration on the embedding is the complex iteration
(the LU kernels are real-only); the result is read off the left block column.

sqrtm: Denman-Beavers with determinant scaling (Higham, "Functions of Matrices" 6.3), as
    _db_sqrtm: X <- (mu X + Y^-1 / mu) / 2, Y <- (mu Y + X^-1 / mu) / 2, mu =
    |det X det Y|^(-1/(2n)) until the step is below 1e-2, unscaled after; X and Y inverted
    together (one batched LU). A fixed budget of _DB_STEPS iterations replaces the host's
    data-dependent stop (which would need a read per step): a matrix whose relative step
    falls below 1e-15 n is frozen (a per-matrix mask on the device), so it ends where the
    host's loop breaks.
    Check, one int32 read: a matrix is taken when its last relative step is at most 1e-6
    (the ill-conditioned ones stall at rounding level, 1e-12 .. 1e-9 for condition numbers
    1e10 .. 1e14, as on the host) and ||X^2 - A||_1 <= 1e-6 ||X||_1^2. The iteration cannot
    take a singular matrix (the inverse is infinite), a real one with a negative real
    eigenvalue -c (no real root: every real Newton step moves by at least sqrt(c), AM-GM, so
    the step test refuses c >~ 1e-12 ||A||, the host's threshold) or a complex one with an
    eigenvalue on (or within ~1e-8 rad of) the negative real axis. The device has no
    eigenvalues to tell these apart, so one flag (the largest per-matrix failure) is read and
    a batch with any such matrix goes the host path (NaN for a negative real eigenvalue of a
    real matrix, the eigenvector root of a singular one, the branch rotation of a complex
    one), as before. The host's branch rotation is not needed for the others: the iteration
    converges to the principal root whenever no eigenvalue lies on the closed negative axis.
    Gradient (real inputs, as the host's): G_A solves S^T G_A + G_A S^T = G, the Frechet
    derivative of sqrt at A^T in the direction G, which is the upper-right block of
    sqrt([[A^T, G], [0, A^T]]) (Higham 3.2): the same device iteration on a 2N matrix, no read.
logm (complex only, no gradient, as TF's): inverse scaling and squaring as _logm_one: up to
    _ROOTS device square roots (the first _DB_STEPS iterations, the later ones
    _DB_STEPS_RIGHT: their spectrum is in the right half plane, where scaled Denman-Beavers
    takes at most 7 on random tests), each matrix frozen once ||X - I||_1 <= 1/4 (its count k and
    its factor 2^k kept on the device), then the 12-point Gauss-Legendre quadrature of
    log(I + Y) = sum w_j (I + t_j Y)^-1 Y (the 12 systems in one batched LU), times 2^k. The
    same single flag (any square root refused, or a matrix still above 1/4 after the budget)
    sends the batch to the host path.
"""
import numpy as np

from ..framework.device import DeviceArray, backend, to_device
from ._common import _tapes, _wrap, record
from .linalg_cuda import _count

_DB_STEPS = 32    # Denman-Beavers iterations per square root (the host stops at most at 100)
_DB_STEPS_RIGHT = 10  # ... for logm's later roots (their spectrum is in the right half plane)
_ROOTS = 20       # logm's square roots (the host's cap is 64; 20 halve ||log A|| by 10^6)


def _dev(a):
    return to_device(np.ascontiguousarray(a), "cuda")


def _eye(b, m):
    return _dev(np.broadcast_to(np.eye(m), (b, m, m)))


def _embed(a):
    """(B, N, N) device matrix -> float64 (B, m, m): itself (real) or [[B, -C], [C, B]]."""
    if a.dtype.kind != "c":
        return a.astype(np.float64, copy=False)
    re, im = np.real(a).astype(np.float64, copy=False), np.imag(a).astype(np.float64, copy=False)
    return np.concatenate([np.concatenate([re, -im], axis=-1),
                           np.concatenate([im, re], axis=-1)], axis=-2)


def _unembed(e, n, dt):
    """The inverse of _embed: (B, m, m) float64 -> (B, N, N) of dtype dt."""
    dt = np.dtype(dt)
    if dt.kind != "c":
        return e.astype(dt, copy=False)
    part = np.float32 if dt == np.complex64 else np.float64
    re = e[:, :n, :n].astype(part)
    im = e[:, n:, :n].astype(part)
    return DeviceArray(backend().complex_binary("make", re.buf, im.buf))


def _norm1(m):
    return np.max(np.sum(np.abs(m), axis=-2), axis=-1)


def _inv_logdet(m):
    """(inverse, log|det|) of each matrix of a float64 (B, m, m) device array (NaN / inf for a
    singular one: the failure shows in the iterate)."""
    cb = backend()
    lu, p, s, _ = cb.lu_factor(m.buf, "int32")
    _, la = cb.lu_slogdet(lu, s)
    return DeviceArray(cb.lu_solve(lu, p, None, False)), DeviceArray(la)


def db_sqrtm(a, n, keep=None, steps=_DB_STEPS):
    """Scaled Denman-Beavers on a float64 (B, m, m) device array for `steps` steps (matrices
    whose step fell below 1e-15 n frozen, and those with keep[b] never moved): (X, the last
    relative step of each matrix). X and Y live stacked as z = [X, Y] (2, B, m, m), so one
    LU inverts both and the update is z <- (mu / 2) z + flip(z^-1) / (2 mu)."""
    b, m = a.shape[0], a.shape[-1]
    z = np.stack([a, _eye(b, m)])
    scaling = _dev(np.ones(b, bool))
    done = _dev(np.zeros(b, bool)) if keep is None else keep
    last = _dev(np.zeros(b))
    for _ in range(steps):
        inv, la = _inv_logdet(z.reshape(2 * b, m, m))
        with np.errstate(all="ignore"):
            mu = np.where(scaling, np.exp(np.sum(la.reshape(2, b), axis=0) * (-0.5 / m)), 1.0)
            mu = mu.reshape(1, b, 1, 1)
            zn = (0.5 * mu) * z + np.flip(inv.reshape(2, b, m, m), 0) * (0.5 / mu)
            delta = _norm1(zn[0] - z[0]) / np.maximum(_norm1(zn[0]), 1e-300)
        z = np.where(done.reshape(1, b, 1, 1), z, zn)
        last = np.where(done, last, delta)
        scaling = np.logical_and(scaling, delta >= 1e-2)
        done = np.logical_or(done, delta < 1e-15 * n)
    return z[0], last


def _root_ok(x, a, last):
    """Per matrix: the iteration took it (a small last step and residual X^2 - A)."""
    with np.errstate(all="ignore"):
        res = _norm1(x @ x - a)
        return np.logical_and(last <= 1e-6,
                              res <= 1e-6 * np.maximum(np.square(_norm1(x)), 1e-300))


def _flat(x):
    """(dtype, shape, N, the batch size, the float64 (B, m, m) working matrices or None when
    x is empty) of a GPU Tensor x (..., N, N)."""
    A = x._data
    shape = tuple(A.shape)
    n = shape[-1]
    nb = int(np.prod(shape[:-2], dtype=np.int64))
    return A.dtype, shape, n, nb, (_embed(A.reshape(nb, n, n)) if n and nb else None)


def sqrtm(x, host_path):
    """tf.linalg.sqrtm of a GPU Tensor x (..., N, N); host_path(x) is the host computation,
    taken when the flag read says a matrix needs it."""
    dt, shape, n, nb, a = _flat(x)
    if a is None:                     # empty: nothing to compute or read
        out = _wrap(x._data.copy())
        if _tapes and dt.kind == "f":
            record((x,), out, lambda g, needs: (g,), None, "sqrtm")
        return out
    s, last = db_sqrtm(a, n)
    if _count(np.logical_not(_root_ok(s, a, last)).astype(np.int32)):
        return host_path(x)
    out = _wrap(_unembed(s, n, dt).reshape(shape))
    if _tapes and dt.kind == "f":
        def bwd(g, needs):
            # G_A = the upper-right block of sqrt([[A^T, G], [0, A^T]])
            at = a.swapaxes(-1, -2)
            gb = g.reshape(nb, n, n).astype(np.float64, copy=False)
            blk = np.concatenate([np.concatenate([at, gb], axis=-1),
                                  np.concatenate([np.zeros_like(at), at], axis=-1)], axis=-2)
            r, _ = db_sqrtm(blk, 2 * n)
            return (r[:, :n, n:].astype(dt).reshape(shape),)
        record((x,), out, bwd, None, "sqrtm")
    return out


# Gauss-Legendre nodes and weights on [0, 1] (as linalg_lu's)
_GL_T, _GL_W = np.polynomial.legendre.leggauss(12)
_GL_T, _GL_W = 0.5 * (_GL_T + 1), 0.5 * _GL_W


def logm(x, host_path):
    """tf.linalg.logm of a complex GPU Tensor x (..., N, N); host_path as sqrtm's."""
    dt, shape, n, nb, a = _flat(x)
    if a is None:
        return _wrap(x._data.copy())
    m = a.shape[-1]
    eye = _eye(nb, m)
    xk = a
    scale = _dev(np.ones(nb))
    ok = _dev(np.ones(nb, bool))
    # the host's norm is the complex 1-norm: column sums of |z| over the left block column
    cnorm = lambda v: np.max(np.sum(np.sqrt(np.square(v[:, :n, :n]) +   # noqa: E731
                                            np.square(v[:, n:, :n])), axis=-2), axis=-1)
    for i in range(_ROOTS):
        near = cnorm(xk - eye) <= 0.25
        r, last = db_sqrtm(xk, n, keep=near, steps=_DB_STEPS if i == 0 else _DB_STEPS_RIGHT)
        took = np.logical_or(near, _root_ok(r, xk, last))
        ok = np.logical_and(ok, took)
        xk = np.where(near.reshape(nb, 1, 1), xk, r)
        scale = np.where(near, scale, 2.0 * scale)
    ok = np.logical_and(ok, cnorm(xk - eye) <= 0.25)
    if _count(np.logical_not(ok).astype(np.int32)):
        return host_path(x)
    y = xk - eye
    k = len(_GL_T)
    t = _dev(_GL_T.reshape(k, 1, 1, 1))
    sys = (eye + t * y).reshape(k * nb, m, m)                     # (12 B, m, m)
    cb = backend()
    lu, p, _, _ = cb.lu_factor(sys.buf, "int32")
    rhs = np.broadcast_to(y, (k, nb, m, m)).copy().reshape(k * nb, m, m)
    sol = DeviceArray(cb.lu_solve(lu, p, rhs.buf, False)).reshape(k, nb, m, m)
    log = np.sum(sol * _dev(_GL_W.reshape(k, 1, 1, 1)), axis=0) * scale.reshape(nb, 1, 1)
    return _wrap(_unembed(log, n, dt).reshape(shape))


__all__ = []
