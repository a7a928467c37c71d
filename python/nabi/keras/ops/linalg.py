"""`keras.ops` linear algebra (Keras 3's keras/src/ops/linalg.py) on nabi.linalg; NumPy's
conventions: svd returns (u, s, vh), norm follows numpy.linalg.norm's `ord` and `axis`."""
import numpy as np

import nabi as tf

from . import _checks
from ._checks import square_matrices as _square
from ._common import norm_axis, shape_of, t_, to_float


def cholesky(x, upper=False):
    """The lower factor L of x = L L^H, or with upper=True its adjoint U = L^H (Keras 3)."""
    lo = tf.linalg.cholesky(_square("cholesky", x))
    return tf.linalg.adjoint(lo) if upper else lo


def det(a):
    return tf.linalg.det(_square("det", a))


def eigh(x):
    """(eigenvalues ascending, eigenvectors as columns) of a symmetric matrix."""
    return tuple(tf.linalg.eigh(_square("eigh", x)))


def inv(a):
    return tf.linalg.inv(_square("inv", a))


def solve(a, b):
    a = _square("solve", a)
    b, vec = _checks.right_hand_side("solve", a, b)
    r = tf.linalg.solve(a, b)
    return tf.squeeze(r, -1) if vec else r


def solve_triangular(a, b, lower=False):
    a = _square("solve_triangular", a)
    b, vec = _checks.right_hand_side("solve_triangular", a, b)
    r = tf.linalg.triangular_solve(a, b, lower=lower)
    return tf.squeeze(r, -1) if vec else r


def svd(x, full_matrices=True, compute_uv=True):
    x = _checks.at_least_2d("svd", x)
    if not compute_uv:
        return tf.linalg.svd(x, full_matrices=full_matrices, compute_uv=False)
    s, u, v = tf.linalg.svd(x, full_matrices=full_matrices)
    return u, s, tf.linalg.adjoint(v)


def qr(x, mode="reduced"):
    from .math import qr as _qr
    return _qr(x, mode)


def _host_no_gradient(op, inputs, outputs):
    """Host-side results: a tape that asks for a gradient through them gets a clear error
    instead of a silently missing gradient."""
    from nabi.framework.tape import record

    def backward(*_):
        raise NotImplementedError(f"[{op}] has no gradient in nabi (it runs on the host); "
                                  "compute it outside the GradientTape or stop_gradient its "
                                  "input")
    record(tuple(inputs), outputs, backward, op=op)


def eig(x):
    """(eigenvalues, right eigenvectors as columns) of a general square matrix, complex as in
    Keras 3. Host-side (NumPy's LAPACK), no gradient."""
    a = _square("eig", x)
    w, v = np.linalg.eig(a.numpy())
    cd = np.complex128 if a.dtype == tf.float64 else np.complex64
    out = (t_(w.astype(cd)), t_(v.astype(cd)))
    _host_no_gradient("eig", [a], out)
    return out


def lu_factor(x):
    """(lu, pivots) as scipy.linalg.lu_factor: partial pivoting, unit-lower L and U packed in
    lu, pivots[i] the row swapped with row i. Host-side (GPU tensors: the LU kernel of
    nabi/ops/linalg_cuda.py), no gradient."""
    x = _square("lu_factor", x)
    from nabi.ops import linalg_cuda
    if isinstance(x, tf.Tensor) and linalg_cuda.on_gpu(x) and x.dtype in (tf.float32, tf.float64):
        out = linalg_cuda.lu_pivots(x)
        _host_no_gradient("lu_factor", [x], out)
        return out
    a = x.numpy().copy()
    n = a.shape[-1]
    flat = a.reshape(-1, n, n)
    piv = np.zeros(flat.shape[:1] + (n,), np.int32)
    for m, p in zip(flat, piv):
        for k in range(n):
            i = k + int(np.argmax(np.abs(m[k:, k])))
            p[k] = i
            if i != k:
                m[[k, i]] = m[[i, k]]
            if m[k, k] != 0:
                m[k + 1:, k] /= m[k, k]
                m[k + 1:, k + 1:] -= np.outer(m[k + 1:, k], m[k, k + 1:])
    out = (t_(flat.reshape(a.shape)), t_(piv.reshape(a.shape[:-1])))
    _host_no_gradient("lu_factor", [x] if isinstance(x, tf.Tensor) else [], out)
    return out


def _vector_norm(x, ord, axis, keepdims):
    ax = axis
    if ord is None or ord == 2:
        return tf.sqrt(tf.reduce_sum(tf.square(tf.abs(x)), axis=ax, keepdims=keepdims))
    ab = tf.abs(x)
    if ord == np.inf:
        return tf.reduce_max(ab, axis=ax, keepdims=keepdims)
    if ord == -np.inf:
        return tf.reduce_min(ab, axis=ax, keepdims=keepdims)
    if ord == 0:
        return tf.reduce_sum(tf.cast(tf.not_equal(x, 0), x.dtype), axis=ax, keepdims=keepdims)
    if ord == 1:
        return tf.reduce_sum(ab, axis=ax, keepdims=keepdims)
    if isinstance(ord, str):
        raise ValueError(f"[norm] ord={ord!r} is for matrices; give a 2-tuple axis")
    p = t_(float(ord), x.dtype)
    return tf.pow(tf.reduce_sum(tf.pow(ab, p), axis=ax, keepdims=keepdims), 1.0 / p)


def _matrix_norm(x, ord, axis, keepdims):
    r, c = axis
    ab = tf.abs(x)
    if ord is None or ord == "fro":
        out = tf.sqrt(tf.reduce_sum(tf.square(ab), axis=[r, c], keepdims=True))
    elif ord in (1, -1):
        s = tf.reduce_sum(ab, axis=r, keepdims=True)
        out = (tf.reduce_max if ord == 1 else tf.reduce_min)(s, axis=c, keepdims=True)
    elif ord in (np.inf, -np.inf):
        s = tf.reduce_sum(ab, axis=c, keepdims=True)
        out = (tf.reduce_max if ord == np.inf else tf.reduce_min)(s, axis=r, keepdims=True)
    elif ord in (2, -2, "nuc"):
        nd = x.shape.rank
        rest = [i for i in range(nd) if i not in (r, c)]
        xt = tf.transpose(x, rest + [r, c])
        s = tf.linalg.svd(xt, compute_uv=False)
        out = {2: tf.reduce_max, -2: tf.reduce_min, "nuc": tf.reduce_sum}[ord](s, axis=-1)
        for a in sorted((r, c)):
            out = tf.expand_dims(out, a)
    else:
        raise ValueError(f"[norm] invalid ord {ord!r} for a matrix norm")
    return out if keepdims else tf.squeeze(out, [r, c])


def norm(x, ord=None, axis=None, keepdims=False):  # noqa: A002
    """numpy.linalg.norm: a vector norm over one axis, a matrix norm over two; axis=None
    means the whole array (2-norm of the flattened array, or the matrix norm of a 2-D x)."""
    x = to_float(x)
    nd = x.shape.rank
    if axis is None:
        if ord is None:
            r = tf.sqrt(tf.reduce_sum(tf.square(tf.abs(x))))
            return tf.reshape(r, [1] * nd) if keepdims else r
        if nd == 1:
            axis = 0
        elif nd == 2:
            axis = (0, 1)
        else:
            raise ValueError(f"[norm] ord={ord!r} with axis=None needs a 1-D or 2-D x, got shape "
                             f"{shape_of(x)}")
    ax = norm_axis("norm", axis, nd)
    if isinstance(ax, list):
        if len(ax) == 1:
            return _vector_norm(x, ord, ax[0], keepdims)
        if len(ax) != 2 or ax[0] == ax[1]:
            raise ValueError(f"[norm] axis must be an int or two distinct ints, got {axis!r}")
        return _matrix_norm(x, ord, tuple(ax), keepdims)
    return _vector_norm(x, ord, ax, keepdims)


def lstsq(a, b, rcond=None):
    """The least-squares solution x of a @ x = b (a (M, N), b (M,) or (M, K))."""
    a = to_float(a)
    b = t_(b, a.dtype)
    if a.shape.rank != 2 or b.shape.rank not in (1, 2) or shape_of(b)[0] != shape_of(a)[0]:
        raise ValueError(f"[lstsq] a must be (M, N) and b (M,) or (M, K), got {shape_of(a)} and "
                         f"{shape_of(b)}")
    vec = b.shape.rank == 1
    if vec:
        b = tf.expand_dims(b, -1)
    if rcond is None:
        x = tf.linalg.lstsq(a, b, fast=False)
    else:       # singular values below rcond * s_max are dropped, as NumPy
        s, u, v = tf.linalg.svd(a)
        keep = s > t_(rcond, a.dtype) * tf.reduce_max(s)
        inv = tf.where(keep, 1.0 / tf.where(keep, s, tf.ones_like(s)), tf.zeros_like(s))
        x = tf.matmul(v * inv, tf.matmul(u, b, transpose_a=True))
    return tf.squeeze(x, -1) if vec else x
