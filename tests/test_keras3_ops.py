"""keras.ops (Keras 3's op namespace) on nabi: values against NumPy references (axis/keepdims
variants, broadcasting, Keras 3 dtypes), float64 gradients against central differences, ops
on KerasTensors in functional models (layers that save and load), and a Keras 3-style custom
layer written with keras.ops trained with fit."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import nabi as tf
from nabi import keras
from helpers import assert_array, fd_check
import reference_conv as rc

ops = keras.ops
RNG = np.random.default_rng(0)


def rand(*shape, dtype=np.float32, lo=-1.0, hi=1.0):
    return RNG.uniform(lo, hi, size=shape).astype(dtype)


# ----------------------------------------------------------------------------- elementwise
UNARY = [
    ("abs", np.abs, (-2, 2)), ("absolute", np.abs, (-2, 2)), ("negative", np.negative, (-2, 2)),
    ("arccos", np.arccos, (-0.9, 0.9)), ("arccosh", np.arccosh, (1.1, 3)),
    ("arcsin", np.arcsin, (-0.9, 0.9)), ("arcsinh", np.arcsinh, (-2, 2)),
    ("arctan", np.arctan, (-2, 2)), ("arctanh", np.arctanh, (-0.9, 0.9)),
    ("cos", np.cos, (-3, 3)), ("cosh", np.cosh, (-2, 2)), ("sin", np.sin, (-3, 3)),
    ("sinh", np.sinh, (-2, 2)), ("tan", np.tan, (-1.2, 1.2)), ("tanh", np.tanh, (-3, 3)),
    ("exp", np.exp, (-3, 3)), ("expm1", np.expm1, (-1, 1)), ("log", np.log, (0.1, 4)),
    ("log10", np.log10, (0.1, 4)), ("log1p", np.log1p, (-0.5, 4)), ("log2", np.log2, (0.1, 4)),
    ("sqrt", np.sqrt, (0.1, 4)), ("square", np.square, (-2, 2)), ("sign", np.sign, (-2, 2)),
    ("ceil", np.ceil, (-3, 3)), ("floor", np.floor, (-3, 3)), ("round", np.round, (-3, 3)),
    ("reciprocal", np.reciprocal, (0.5, 3)), ("conj", np.conj, (-2, 2)),
    ("real", np.real, (-2, 2)), ("imag", np.imag, (-2, 2)), ("copy", np.copy, (-2, 2)),
]


@pytest.mark.parametrize("name,ref,dom", UNARY, ids=[u[0] for u in UNARY])
def test_unary_values(name, ref, dom):
    x = rand(3, 5, 7, lo=dom[0], hi=dom[1])
    y = getattr(ops, name)(x)
    assert isinstance(y, tf.Tensor)
    assert_array(y, ref(x), rtol=2e-5, atol=2e-6, dtype=np.float32)


def test_unary_int_inputs_become_float32_and_scalars_work():
    assert_array(ops.sqrt(np.array([1, 4, 9], np.int32)), [1.0, 2.0, 3.0], dtype=np.float32)
    assert_array(ops.exp(0.0), np.float32(1.0), dtype=np.float32)
    assert_array(ops.abs(np.array([-1, 2], np.int32)), [1, 2], dtype=np.int32)
    assert_array(ops.round(np.array([0.5, 1.5, 2.5, -0.5])), [0.0, 2.0, 2.0, -0.0])
    assert_array(ops.round(np.array([1.234, -5.678]), decimals=1), [1.2, -5.7])


def test_isfinite_isinf_isnan_nan_to_num():
    x = np.array([1.0, np.inf, -np.inf, np.nan, -2.0], np.float32)
    assert_array(ops.isfinite(x), np.isfinite(x))
    assert_array(ops.isinf(x), np.isinf(x))
    assert_array(ops.isnan(x), np.isnan(x))
    assert_array(ops.nan_to_num(x), np.nan_to_num(x), rtol=0)
    assert_array(ops.nan_to_num(x, nan=7.0, posinf=9.0, neginf=-9.0),
                 np.nan_to_num(x, nan=7.0, posinf=9.0, neginf=-9.0))
    assert_array(ops.isnan(np.array([1, 2])), [False, False])


BINARY = [("add", np.add), ("subtract", np.subtract), ("multiply", np.multiply),
          ("divide", np.divide), ("true_divide", np.true_divide), ("power", None),
          ("maximum", np.maximum), ("minimum", np.minimum), ("mod", np.mod),
          ("floor_divide", np.floor_divide), ("equal", np.equal), ("not_equal", np.not_equal),
          ("greater", np.greater), ("greater_equal", np.greater_equal), ("less", np.less),
          ("less_equal", np.less_equal), ("logaddexp", np.logaddexp)]


@pytest.mark.parametrize("name,ref", BINARY, ids=[b[0] for b in BINARY])
@pytest.mark.parametrize("shapes", [((3, 1, 4), (5, 4)), ((2, 3), ()), ((1,), (7, 1))])
def test_binary_broadcasting(name, ref, shapes):
    a = rand(*shapes[0], lo=0.5, hi=2.0)
    b = rand(*shapes[1], lo=0.5, hi=2.0)
    b = np.round(b * 4) / 4            # ties for equal/greater_equal
    a[..., :1] = 1.0
    ref = ref or np.power
    y = getattr(ops, name)(a, b)
    exp = ref(a, b)
    assert_array(y, exp, rtol=3e-5, atol=1e-6, dtype=exp.dtype)


def test_binary_python_scalars_and_dtype_promotion():
    xi = np.array([1, 2, 3], np.int32)
    assert ops.add(xi, 2).dtype == tf.int32
    assert ops.add(xi, 2.5).dtype == tf.float32
    assert_array(ops.add(xi, 2.5), [3.5, 4.5, 5.5])
    assert ops.divide(xi, 2).dtype == tf.float32
    assert_array(ops.divide(xi, 2), [0.5, 1.0, 1.5])
    assert ops.multiply(np.ones(2, np.float64), np.ones(2, np.float32)).dtype == tf.float64
    assert ops.add(np.ones(2, np.float32), np.ones(2, np.int64)).dtype == tf.float32
    assert ops.add(tf.constant([1.0, 2.0]), 1).dtype == tf.float32
    assert_array(ops.floor_divide(np.array([7, -7]), 2), [3, -4])
    assert_array(ops.mod(np.array([7.0, -7.0]), 3.0), [1.0, 2.0])
    assert_array(ops.logaddexp(np.float32(-np.inf), np.float32(-np.inf)), np.float32(-np.inf))


def test_logical_ops_clip_where_isclose():
    a = np.array([True, False, True, False])
    b = np.array([True, True, False, False])
    for name, ref in (("logical_and", np.logical_and), ("logical_or", np.logical_or),
                      ("logical_xor", np.logical_xor)):
        assert_array(getattr(ops, name)(a, b), ref(a, b))
    assert_array(ops.logical_not(a), ~a)
    assert_array(ops.logical_and(np.array([0, 2]), np.array([1, 1])), [False, True])
    x = rand(4, 5)
    assert_array(ops.clip(x, -0.3, 0.4), np.clip(x, -0.3, 0.4))
    c = x > 0
    assert_array(ops.where(c, x, 0.0), np.where(c, x, 0.0))
    assert_array(ops.where(c[:, :1], x, -x[:1]), np.where(c[:, :1], x, -x[:1]))
    nz = ops.where(c)
    for got, exp in zip(nz, np.nonzero(c)):
        assert_array(got, exp)
    p = np.array([1.0, 1.0, np.inf, np.nan, 1e-9])
    q = np.array([1.0 + 1e-6, 1.1, np.inf, np.nan, 0.0])
    assert_array(ops.isclose(p, q), np.isclose(p, q))
    assert_array(ops.isclose(p, q, equal_nan=True), np.isclose(p, q, equal_nan=True))


# ----------------------------------------------------------------------------- reductions
REDUCE = [("sum", np.sum), ("mean", np.mean), ("max", np.max), ("min", np.min),
          ("prod", np.prod), ("std", np.std), ("var", np.var), ("amax", np.amax)]


@pytest.mark.parametrize("name,ref", REDUCE, ids=[r[0] for r in REDUCE])
@pytest.mark.parametrize("axis", [None, 0, -1, (0, 2), [1]])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions(name, ref, axis, keepdims):
    x = rand(3, 4, 5, lo=0.5, hi=1.5)
    ax = tuple(axis) if isinstance(axis, list) else axis
    assert_array(getattr(ops, name)(x, axis=axis, keepdims=keepdims),
                 ref(x, axis=ax, keepdims=keepdims), rtol=1e-4)


def test_reductions_dtypes_and_extras():
    xi = np.arange(12, dtype=np.int32).reshape(3, 4)
    assert ops.mean(xi).dtype == tf.float32
    assert_array(ops.mean(xi, axis=0), xi.mean(0))
    assert_array(ops.sum(np.array([True, True, False])), 2)
    assert_array(ops.max(np.array([1.0, 2.0]), initial=5.0), 5.0)
    b = np.array([[True, False], [True, True]])
    assert_array(ops.all(b, axis=1), b.all(1))
    assert_array(ops.any(b, axis=0, keepdims=True), b.any(0, keepdims=True))
    x = rand(3, 4)
    for ax in (None, 0, 1):
        assert_array(ops.argmax(x, axis=ax), np.argmax(x, axis=ax), dtype=np.int32)
        assert_array(ops.argmin(x, axis=ax), np.argmin(x, axis=ax), dtype=np.int32)
        assert_array(ops.argmax(x, axis=ax, keepdims=True), np.argmax(x, axis=ax, keepdims=True))
    assert_array(ops.count_nonzero(np.array([[0, 1, 2], [0, 0, 3]]), axis=1), [2, 1])
    assert_array(ops.count_nonzero(np.array([[0, 1, 2], [0, 0, 3]])), 3)
    w = rand(4, lo=0.1, hi=1.0)
    assert_array(ops.average(x, axis=1, weights=w), np.average(x, axis=1, weights=w))
    assert_array(ops.average(x), np.average(x))
    w2 = rand(3, 4, lo=0.1, hi=1.0)
    assert_array(ops.average(x, axis=0, weights=w2), np.average(x, axis=0, weights=w2))
    for ax in (None, 0, 1):
        assert_array(ops.cumsum(x, axis=ax), np.cumsum(x, axis=ax), rtol=1e-5)
        assert_array(ops.cumprod(x, axis=ax), np.cumprod(x, axis=ax), rtol=1e-5)
    assert_array(ops.logsumexp(x, axis=1), np.log(np.exp(x).sum(1)), rtol=1e-5)
    assert_array(ops.logsumexp(x, axis=0, keepdims=True),
                 np.log(np.exp(x).sum(0, keepdims=True)), rtol=1e-5)


@pytest.mark.parametrize("axis", [None, 0, 1, (0, 2)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_quantile_median(axis, keepdims):
    x = rand(4, 5, 3)
    assert_array(ops.median(x, axis=axis, keepdims=keepdims),
                 np.median(x, axis=axis, keepdims=keepdims), rtol=1e-5)
    for method in ("linear", "lower", "higher", "midpoint", "nearest"):
        q = [0.1, 0.5, 0.9]
        assert_array(ops.quantile(x, q, axis=axis, method=method, keepdims=keepdims),
                     np.quantile(x, q, axis=axis, method=method, keepdims=keepdims), rtol=1e-5)
    assert_array(ops.quantile(x, 0.3, axis=axis), np.quantile(x, 0.3, axis=axis), rtol=1e-5)


# ----------------------------------------------------------------------------- creation
def test_creation_ops():
    assert_array(ops.arange(5), np.arange(5), dtype=np.int32)
    assert_array(ops.arange(1.0, 2.0, 0.25), np.arange(1.0, 2.0, 0.25), dtype=np.float32)
    assert_array(ops.arange(2, 11, 3, dtype="float32"), np.arange(2, 11, 3, dtype=np.float32))
    assert_array(ops.linspace(0, 1, 7), np.linspace(0, 1, 7), dtype=np.float32)
    assert_array(ops.linspace(0, 1, 7, endpoint=False), np.linspace(0, 1, 7, endpoint=False))
    assert_array(ops.logspace(0, 2, 5), np.logspace(0, 2, 5), rtol=1e-5)
    assert_array(ops.logspace(0, 3, 4, base=2.0), np.logspace(0, 3, 4, base=2.0))
    assert_array(ops.zeros((2, 3)), np.zeros((2, 3)), dtype=np.float32)
    assert_array(ops.ones(4, dtype="int32"), np.ones(4), dtype=np.int32)
    assert tuple(ops.empty((2, 2)).shape) == (2, 2)
    assert_array(ops.full((2, 2), 3.5), np.full((2, 2), 3.5), dtype=np.float32)
    x = rand(2, 3)
    assert_array(ops.full_like(x, 7), np.full_like(x, 7), dtype=np.float32)
    assert_array(ops.zeros_like(x), np.zeros_like(x), dtype=np.float32)
    assert_array(ops.ones_like(x, dtype="int32"), np.ones_like(x), dtype=np.int32)
    assert_array(ops.eye(3, 4, k=1), np.eye(3, 4, k=1), dtype=np.float32)
    assert_array(ops.identity(3), np.identity(3))
    assert_array(ops.tri(3, 4, k=-1), np.tri(3, 4, k=-1), dtype=np.float32)
    a = rand(2, 4, 5)
    for k in (-1, 0, 2):
        assert_array(ops.tril(a, k), np.tril(a, k))
        assert_array(ops.triu(a, k), np.triu(a, k))
    assert_array(ops.array([[1, 2]]), np.array([[1, 2]]))
    assert_array(ops.array([1, 2], dtype="float32"), [1.0, 2.0], dtype=np.float32)
    gx, gy = ops.meshgrid(np.arange(3.0), np.arange(2.0))
    ex, ey = np.meshgrid(np.arange(3.0), np.arange(2.0))
    assert_array(gx, ex)
    assert_array(gy, ey)
    gx, gy = ops.meshgrid(np.arange(3.0), np.arange(2.0), indexing="ij")
    ex, ey = np.meshgrid(np.arange(3.0), np.arange(2.0), indexing="ij")
    assert_array(gx, ex)
    assert_array(gy, ey)


# ----------------------------------------------------------------------------- shapes
def test_shape_ops():
    x = rand(2, 3, 4)
    assert ops.ndim(x) == 3 and int(ops.size(x)) == 24 and ops.shape(x) == (2, 3, 4)
    assert_array(ops.reshape(x, (4, -1)), x.reshape(4, -1))
    assert_array(ops.ravel(x), x.ravel())
    assert_array(ops.expand_dims(x, 1), np.expand_dims(x, 1))
    assert_array(ops.expand_dims(x, -1), np.expand_dims(x, -1))
    assert_array(ops.expand_dims(x, (0, 4)), np.expand_dims(x, (0, 4)))
    y = rand(1, 3, 1)
    assert_array(ops.squeeze(y), np.squeeze(y))
    assert_array(ops.squeeze(y, axis=-1), np.squeeze(y, axis=-1))
    assert_array(ops.squeeze(y, axis=(0, 2)), np.squeeze(y, axis=(0, 2)))
    assert_array(ops.transpose(x), x.T)
    assert_array(ops.transpose(x, (1, 0, 2)), x.transpose(1, 0, 2))
    assert_array(ops.swapaxes(x, 0, -1), np.swapaxes(x, 0, -1))
    assert_array(ops.moveaxis(x, 0, -1), np.moveaxis(x, 0, -1))
    assert_array(ops.moveaxis(x, [0, 1], [-1, 0]), np.moveaxis(x, [0, 1], [-1, 0]))
    assert_array(ops.broadcast_to(rand(3, 1) * 0 + 2, (2, 3, 4)), np.full((2, 3, 4), 2.0))
    for ax in (None, 0, (1, 2), -1):
        assert_array(ops.flip(x, axis=ax), np.flip(x, axis=ax))
    for sh, ax in ((2, None), (-1, 1), ((1, 2), (0, 2))):
        assert_array(ops.roll(x, sh, axis=ax), np.roll(x, sh, axis=ax))
    for reps in (2, (2, 1), (1, 2, 1, 3)):
        assert_array(ops.tile(x, reps), np.tile(x, reps))
    assert_array(ops.repeat(x, 2), np.repeat(x, 2))
    assert_array(ops.repeat(x, 3, axis=1), np.repeat(x, 3, axis=1))
    assert_array(ops.repeat(x, [1, 0, 2], axis=1), np.repeat(x, [1, 0, 2], axis=1))
    a, b = rand(2, 3), rand(2, 3)
    assert_array(ops.concatenate([a, b], axis=1), np.concatenate([a, b], 1))
    assert_array(ops.concatenate([a, b], axis=None), np.concatenate([a, b], None))
    assert_array(ops.append(a, b), np.append(a, b))
    assert_array(ops.append(a, b, axis=0), np.append(a, b, axis=0))
    assert_array(ops.stack([a, b], axis=-1), np.stack([a, b], -1))
    assert_array(ops.hstack([a, b]), np.hstack([a, b]))
    assert_array(ops.hstack([a[0], b[0]]), np.hstack([a[0], b[0]]))
    assert_array(ops.vstack([a, b]), np.vstack([a, b]))
    assert_array(ops.vstack([a[0], b[0]]), np.vstack([a[0], b[0]]))
    z = rand(6, 4)
    for got, exp in zip(ops.split(z, 3), np.split(z, 3)):
        assert_array(got, exp)
    for got, exp in zip(ops.split(z, [1, 4], axis=0), np.split(z, [1, 4], axis=0)):
        assert_array(got, exp)
    for got, exp in zip(ops.split(z, 2, axis=1), np.split(z, 2, axis=1)):
        assert_array(got, exp)
    assert_array(ops.pad(a, 1), np.pad(a, 1))
    assert_array(ops.pad(a, ((0, 1), (2, 0)), constant_values=3.0),
                 np.pad(a, ((0, 1), (2, 0)), constant_values=3.0))
    for mode in ("reflect", "symmetric"):
        assert_array(ops.pad(a, ((1, 1), (2, 1)), mode=mode),
                     np.pad(a, ((1, 1), (2, 1)), mode=mode))
        b5 = rand(5, 4)
        assert_array(ops.pad(b5, ((0, 3), (3, 2)), mode=mode),
                     np.pad(b5, ((0, 3), (3, 2)), mode=mode))
    for n, ax in ((1, -1), (2, 0), (1, 1)):
        xx = rand(4, 5)
        assert_array(ops.diff(xx, n=n, axis=ax), np.diff(xx, n=n, axis=ax), rtol=1e-5)


# ----------------------------------------------------------------------------- indexing, sorting
def test_sort_take_digitize_bincount():
    x = rand(4, 6)
    for ax in (-1, 0, None):
        assert_array(ops.sort(x, axis=ax), np.sort(x, axis=ax))
        assert_array(ops.argsort(x, axis=ax), np.argsort(x, axis=ax, kind="stable"))
    assert_array(ops.take(x, [0, 3, -1]), np.take(x, [0, 3, -1]))
    assert_array(ops.take(x, [[1, 0], [2, -1]], axis=1), np.take(x, [[1, 0], [2, -1]], axis=1))
    assert_array(ops.take(x, 2, axis=0), np.take(x, 2, axis=0))
    idx = np.argsort(x, axis=1)[:, :3]
    assert_array(ops.take_along_axis(x, idx, axis=1), np.take_along_axis(x, idx, axis=1))
    idx0 = np.argsort(x, axis=0)
    assert_array(ops.take_along_axis(x, idx0, axis=0), np.take_along_axis(x, idx0, axis=0))
    assert_array(ops.take_along_axis(x, np.array([[2], [0], [5], [1]]), axis=-1),
                 np.take_along_axis(x, np.array([[2], [0], [5], [1]]), axis=-1))
    bins = np.array([-0.5, 0.0, 0.5])
    v = np.array([[-1.0, -0.5, 0.2], [0.5, 0.9, 0.0]])
    assert_array(ops.digitize(v, bins), np.digitize(v, bins))
    c = np.array([1, 3, 3, 0, 7])
    assert_array(ops.bincount(c), np.bincount(c))
    assert_array(ops.bincount(c, minlength=10), np.bincount(c, minlength=10))
    w = rand(5)
    assert_array(ops.bincount(c, weights=w), np.bincount(c, weights=w), rtol=1e-5)
    nz = ops.nonzero(np.array([[0, 1], [2, 0]]))
    for got, exp in zip(nz, np.nonzero(np.array([[0, 1], [2, 0]]))):
        assert_array(got, exp)


# ----------------------------------------------------------------------------- linear algebra
def test_products():
    a, b = rand(3, 4), rand(4, 5)
    assert_array(ops.matmul(a, b), a @ b, rtol=1e-5)
    v = rand(4)
    assert_array(ops.matmul(a, v), a @ v, rtol=1e-5)
    assert_array(ops.matmul(v, b), v @ b, rtol=1e-5)
    assert_array(ops.matmul(v, v), v @ v, rtol=1e-5)
    ba, bb = rand(2, 1, 3, 4), rand(5, 4, 2)
    assert_array(ops.matmul(ba, bb), np.matmul(ba, bb), rtol=1e-5)
    assert_array(ops.dot(a, b), np.dot(a, b), rtol=1e-5)
    assert_array(ops.dot(v, v), np.dot(v, v), rtol=1e-5)
    assert_array(ops.dot(a, v), np.dot(a, v), rtol=1e-5)
    assert_array(ops.dot(a, 2.0), np.dot(a, 2.0))
    t3 = rand(2, 4, 3)
    assert_array(ops.dot(a, t3), np.dot(a, t3), rtol=1e-5)
    assert_array(ops.vdot(a, a), np.vdot(a, a), rtol=1e-5)
    u = rand(3)
    assert_array(ops.outer(v, u), np.outer(v, u))
    assert_array(ops.tensordot(a, b, 1), np.tensordot(a, b, 1), rtol=1e-5)
    assert_array(ops.tensordot(t3, rand(3, 4, 2) * 0 + 1, axes=([1, 2], [1, 0])),
                 np.tensordot(t3, np.ones((3, 4, 2), np.float32), axes=([1, 2], [1, 0])),
                 rtol=1e-5)
    assert_array(ops.einsum("ij,jk->ik", a, b), np.einsum("ij,jk->ik", a, b), rtol=1e-5)
    assert_array(ops.einsum("bij->bji", t3), np.einsum("bij->bji", t3))
    p, q = rand(5, 3), rand(5, 3)
    assert_array(ops.cross(p, q), np.cross(p, q), rtol=1e-5)
    assert_array(ops.cross(p.T, q.T, axis=0), np.cross(p.T, q.T, axis=0), rtol=1e-5)
    q2 = np.pad(q[:, :2], ((0, 0), (0, 1)))          # a 2-vector is one with z = 0
    assert_array(ops.cross(p, q[:, :2]), np.cross(p, q2), rtol=1e-5)
    assert_array(ops.cross(p[:, :2], q[:, :2]), p[:, 0] * q[:, 1] - p[:, 1] * q[:, 0], rtol=1e-5)
    m = rand(4, 5)
    for k in (-2, 0, 1, 4):
        assert_array(ops.diag(m, k), np.diag(m, k))
        assert_array(ops.diag(v, k), np.diag(v, k))
        assert_array(ops.diagonal(m, k), np.diagonal(m, k))
        assert_array(ops.trace(m, k), np.trace(m, k), rtol=1e-5)
    big = rand(2, 3, 4)
    assert_array(ops.diagonal(big, 1, 0, 2), np.diagonal(big, 1, 0, 2))
    assert_array(ops.trace(big, 0, 1, 2), np.trace(big, 0, 1, 2), rtol=1e-5)


# ----------------------------------------------------------------------------- nn
def _np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _np_gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))


def _np_gelu_erf(x):
    return 0.5 * x * (1 + np.vectorize(math.erf)(x / np.sqrt(2)))


SELU_A, SELU_S = 1.6732632423543772, 1.0507009873554805
ACTS = [
    ("relu", lambda x: np.maximum(x, 0)), ("relu6", lambda x: np.clip(x, 0, 6)),
    ("sigmoid", _np_sigmoid), ("softplus", lambda x: np.log1p(np.exp(x))),
    ("softsign", lambda x: x / (1 + np.abs(x))), ("silu", lambda x: x * _np_sigmoid(x)),
    ("swish", lambda x: x * _np_sigmoid(x)), ("log_sigmoid", lambda x: -np.log1p(np.exp(-x))),
    ("leaky_relu", lambda x: np.where(x > 0, x, 0.2 * x)),
    ("hard_sigmoid", lambda x: np.clip(x + 3, 0, 6) / 6),
    ("hard_silu", lambda x: x * np.clip(x + 3, 0, 6) / 6),
    ("elu", lambda x: np.where(x > 0, x, np.expm1(x))),
    ("selu", lambda x: SELU_S * np.where(x > 0, x, SELU_A * np.expm1(x))),
    ("gelu", _np_gelu_tanh),
]


@pytest.mark.parametrize("name,ref", ACTS, ids=[a[0] for a in ACTS])
def test_activations(name, ref):
    x = rand(4, 9, lo=-7, hi=7)
    assert_array(getattr(ops, name)(x), ref(x.astype(np.float64)), rtol=1e-5, atol=1e-6,
                 dtype=np.float32)


def test_activation_arguments_softmax_one_hot():
    x = rand(3, 4, lo=-3, hi=3)
    assert_array(ops.gelu(x, approximate=False), _np_gelu_erf(x), rtol=1e-5, atol=1e-6)
    assert_array(ops.leaky_relu(x, negative_slope=0.1), np.where(x > 0, x, 0.1 * x))
    assert_array(ops.elu(x, alpha=0.5), np.where(x > 0, x, 0.5 * np.expm1(x)), rtol=1e-5)
    for ax in (-1, 0):
        e = np.exp(x - x.max(ax, keepdims=True))
        sm = e / e.sum(ax, keepdims=True)
        assert_array(ops.softmax(x, axis=ax), sm, rtol=1e-5)
        assert_array(ops.log_softmax(x, axis=ax), np.log(sm), rtol=1e-5, atol=1e-6)
    e = np.exp(x - x.max())
    assert_array(ops.softmax(x, axis=(0, 1)), e / e.sum(), rtol=1e-5)
    big = np.array([[1000.0, 0.0, -np.inf]], np.float32)
    assert_array(ops.softmax(big), [[1.0, 0.0, 0.0]])
    lab = np.array([[0, 2], [3, 1]])
    assert_array(ops.one_hot(lab, 4), np.eye(4, dtype=np.float32)[lab], dtype=np.float32)
    assert_array(ops.one_hot(lab, 4, axis=0), np.moveaxis(np.eye(4)[lab], -1, 0))
    assert_array(ops.one_hot(np.array([1, 0]), 3, dtype="int32"), [[0, 1, 0], [1, 0, 0]],
                 dtype=np.int32)
    assert_array(ops.multi_hot(np.array([[0, 2], [3, 3]]), 4),
                 [[1, 0, 1, 0], [0, 0, 0, 1]], dtype=np.float32)
    assert_array(ops.multi_hot(np.array([1, 3]), 4), [0, 1, 0, 1])


def _np_conv_nd(x, w, strides, pads, dil):
    """Direct N-D convolution (channels last, kernel (*k, in, out)) over all output points."""
    n = x.ndim - 2
    xp = np.pad(x, [(0, 0)] + [tuple(p) for p in pads] + [(0, 0)])
    ks = w.shape[:n]
    outs = [(xp.shape[1 + i] - (ks[i] - 1) * dil[i] - 1) // strides[i] + 1 for i in range(n)]
    y = np.zeros((x.shape[0], *outs, w.shape[-1]))
    for tap in np.ndindex(*ks):
        sl = tuple(slice(tap[i] * dil[i], tap[i] * dil[i] + (outs[i] - 1) * strides[i] + 1,
                         strides[i]) for i in range(n))
        y += np.einsum("n...c,co->n...o", xp[(slice(None),) + sl], w[tap])
    return y


def _same(n, k, s, d):
    return rc.same_pads(n, k, s, d)


@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_conv_matches_numpy(nd, padding):
    sp = {1: (11,), 2: (9, 7), 3: (5, 6, 5)}[nd]
    ks = {1: (3,), 2: (3, 2), 3: (2, 3, 2)}[nd]
    x = rand(2, *sp, 3)
    w = rand(*ks, 3, 4)
    s = 2 if nd < 3 else 1
    d = 1 if nd == 3 else 2
    pads = [(0, 0)] * nd if padding == "valid" else [_same(sp[i], ks[i], s, d) for i in range(nd)]
    exp = _np_conv_nd(x, w, [s] * nd, pads, [d] * nd)
    assert_array(ops.conv(x, w, strides=s, padding=padding, dilation_rate=d), exp, rtol=1e-4,
                 atol=1e-5)
    xf = np.moveaxis(x, -1, 1)
    got = ops.conv(xf, w, strides=s, padding=padding, dilation_rate=d,
                   data_format="channels_first")
    assert_array(got, np.moveaxis(exp, -1, 1), rtol=1e-4, atol=1e-5)


def test_grouped_conv():
    x = rand(2, 7, 6, 4)
    w = rand(3, 3, 2, 6)           # 2 groups: channels 0-1 -> outputs 0-2, 2-3 -> 3-5
    exp = np.concatenate([_np_conv_nd(x[..., 2 * g:2 * g + 2], w[..., 3 * g:3 * g + 3], [1, 1],
                                      [(1, 1), (1, 1)], [1, 1]) for g in range(2)], axis=-1)
    assert_array(ops.conv(x, w, padding="same"), exp, rtol=1e-4, atol=1e-5)


def test_depthwise_separable_conv_transpose_pools():
    x = rand(2, 8, 7, 3)
    dk = rand(3, 3, 3, 2)
    # depthwise: channel c with multiplier m -> output channel c * 2 + m
    exp = np.concatenate([_np_conv_nd(x[..., c:c + 1], dk[:, :, c:c + 1, :], [1, 1],
                                      [(1, 1), (1, 1)], [1, 1]) for c in range(3)], axis=-1)
    assert_array(ops.depthwise_conv(x, dk, 1, "same"), exp, rtol=1e-4, atol=1e-5)
    pk = rand(1, 1, 6, 5)
    assert_array(ops.separable_conv(x, dk, pk, 1, "same"),
                 np.einsum("nhwc,co->nhwo", exp, pk[0, 0]),
                 rtol=1e-4, atol=1e-5)
    x1 = rand(2, 9, 3)
    dk1 = rand(3, 3, 1)
    exp1 = np.concatenate([_np_conv_nd(x1[..., c:c + 1], dk1[:, c:c + 1], [2], [(0, 0)], [1])
                           for c in range(3)], axis=-1)
    assert_array(ops.depthwise_conv(x1, dk1, 2, "valid"), exp1, rtol=1e-4, atol=1e-5)
    # conv_transpose: scatter every input pixel through the kernel (kernel (kh, kw, out, in))
    xt = rand(1, 3, 4, 2)
    kt = rand(3, 3, 5, 2)
    s = 2
    full = np.zeros((1, (3 - 1) * s + 3, (4 - 1) * s + 3, 5))
    for i in range(3):
        for j in range(4):
            full[0, i * s:i * s + 3, j * s:j * s + 3] += np.einsum("c,hwoc->hwo", xt[0, i, j], kt)
    assert_array(ops.conv_transpose(xt, kt, s, "valid"), full, rtol=1e-4, atol=1e-5)
    # 'same': output is input * stride, the full result cropped by TF's SAME offsets
    got = ops.conv_transpose(xt, kt, s, "same")
    ph = max(3 - s, 0)
    assert_array(got, full[:, ph // 2:ph // 2 + 6, ph // 2:ph // 2 + 8], rtol=1e-4, atol=1e-5)
    xp = rand(2, 6, 7, 3)
    assert_array(ops.max_pool(xp, 2), rc.max_pool(xp, (2, 2), (2, 2))[0])
    pads = rc.same_pads(6, 3, 2) + rc.same_pads(7, 3, 2)
    ninf = np.pad(xp, ((0, 0), pads[:2], pads[2:], (0, 0)), constant_values=-np.inf)
    assert_array(ops.max_pool(xp, 3, 2, padding="same"), rc.max_pool(ninf, (3, 3), (2, 2))[0])
    assert_array(ops.average_pool(xp, (3, 2), strides=(2, 1)),
                 rc.avg_pool(xp, (3, 2), (2, 1)), rtol=1e-5)
    assert_array(ops.max_pool(xp[:, :, 0], 3, 2),
                 np.max(np.stack([xp[:, i:i + 3:2, 0] for i in range(3)]), 0))
    assert_array(ops.average_pool(np.moveaxis(xp, -1, 1), 2, data_format="channels_first"),
                 np.moveaxis(rc.avg_pool(xp, (2, 2), (2, 2)), -1, 1), rtol=1e-5)


def test_crossentropies_moments_batchnorm_normalize():
    eps = 1e-7
    t = (rand(4, 5) > 0).astype(np.float32)
    p = rand(4, 5, lo=0.01, hi=0.99)
    logits = rand(4, 5, lo=-4, hi=4)
    bce = -(t * np.log(p) + (1 - t) * np.log(1 - p))
    assert_array(ops.binary_crossentropy(t, p), bce, rtol=1e-5)
    sig = _np_sigmoid(logits.astype(np.float64))
    assert_array(ops.binary_crossentropy(t, logits, from_logits=True),
                 -(t * np.log(sig) + (1 - t) * np.log(1 - sig)), rtol=1e-4)
    assert_array(ops.binary_crossentropy(np.array([1.0]), np.array([0.0], np.float32)),
                 [-np.log(eps)], rtol=1e-3)
    y = np.eye(5, dtype=np.float32)[[0, 3, 1, 4]]
    pr = p / p.sum(-1, keepdims=True)
    assert_array(ops.categorical_crossentropy(y, p), -(y * np.log(pr)).sum(-1), rtol=1e-5)
    ls = logits - logits.max(-1, keepdims=True)
    lsm = ls - np.log(np.exp(ls).sum(-1, keepdims=True))
    assert_array(ops.categorical_crossentropy(y, logits, from_logits=True),
                 -(y * lsm).sum(-1), rtol=1e-5)
    lab = np.array([0, 3, 1, 4])
    assert_array(ops.sparse_categorical_crossentropy(lab, logits, from_logits=True),
                 -lsm[np.arange(4), lab], rtol=1e-5)
    assert_array(ops.sparse_categorical_crossentropy(lab, p),
                 -np.log(pr[np.arange(4), lab]), rtol=1e-5)
    x = rand(3, 4, 5)
    m, v = ops.moments(x, axes=[0, 1])
    assert_array(m, x.mean((0, 1)), rtol=1e-5)
    assert_array(v, x.var((0, 1)), rtol=1e-4)
    m, v = ops.moments(x, axes=[-1], keepdims=True)
    assert_array(m, x.mean(-1, keepdims=True), rtol=1e-5)
    assert_array(v, x.var(-1, keepdims=True), rtol=1e-4)
    mean, var, off, sc = rand(4), rand(4, lo=0.5, hi=2), rand(4), rand(4)
    bn = (x - mean[:, None]) / np.sqrt(var[:, None] + 1e-3) * sc[:, None] + off[:, None]
    assert_array(ops.batch_normalization(x, mean, var, axis=1, offset=off, scale=sc), bn,
                 rtol=1e-4, atol=1e-5)
    assert_array(ops.batch_normalization(x[..., :4], mean, var, axis=-1),
                 (x[..., :4] - mean) / np.sqrt(var + 1e-3), rtol=1e-4, atol=1e-5)
    assert_array(ops.normalize(x), x / np.linalg.norm(x, axis=-1, keepdims=True), rtol=1e-5)
    assert_array(ops.normalize(x, axis=0, order=1),
                 x / np.abs(x).sum(0, keepdims=True), rtol=1e-5)


def _np_ctc(logits, labels, blank):
    """-log p(labels | logits) by the CTC forward recursion, in probability space (float64)."""
    lp = logits - logits.max(-1, keepdims=True)
    prob = np.exp(lp) / np.exp(lp).sum(-1, keepdims=True)
    ext = [blank]
    for c in labels:
        ext += [c, blank]
    S, T = len(ext), len(prob)
    a = np.zeros(S)
    a[0] = prob[0, ext[0]]
    if S > 1:
        a[1] = prob[0, ext[1]]
    for t in range(1, T):
        n = np.zeros(S)
        for s in range(S):
            v = a[s] + (a[s - 1] if s >= 1 else 0)
            if s >= 2 and ext[s] != blank and ext[s] != ext[s - 2]:
                v += a[s - 2]
            n[s] = v * prob[t, ext[s]]
        a = n
    return -np.log(a[-1] + (a[-2] if S > 1 else 0))


def test_ctc_loss():
    logits = rand(2, 6, 4, lo=-2, hi=2)
    target = np.array([[1, 2, 0], [3, 3, 1]])
    tl, ol = np.array([2, 3]), np.array([6, 5])
    got = ops.ctc_loss(target, logits, tl, ol, mask_index=0)
    exp = [_np_ctc(logits[b, :ol[b]].astype(np.float64), target[b, :tl[b]], 0) for b in range(2)]
    assert_array(got, exp, rtol=1e-4)


# ----------------------------------------------------------------------------- core
def test_core_conversion_and_queries():
    x = np.arange(6, dtype=np.float64).reshape(2, 3)
    t = ops.convert_to_tensor(x)
    assert isinstance(t, tf.Tensor) and t.dtype == tf.float64 and ops.is_tensor(t)
    assert not ops.is_tensor(x)
    assert ops.convert_to_tensor([1.0, 2.0]).dtype == tf.float32
    assert ops.convert_to_tensor(x, dtype="float32").dtype == tf.float32
    assert isinstance(ops.convert_to_numpy(t), np.ndarray)
    np.testing.assert_array_equal(ops.convert_to_numpy(t), x)
    assert ops.dtype(t) == "float64" and ops.shape(t) == (2, 3)
    assert_array(ops.cast(x, "int32"), x.astype(np.int32), dtype=np.int32)
    assert_array(ops.saturate_cast(np.array([-1e10, 1e10, 7.0]), "int32"),
                 [-2 ** 31, 2 ** 31 - 1, 7], dtype=np.int32)
    assert_array(ops.stop_gradient(t), x)
    s = ops.unstack(x, axis=1)
    assert len(s) == 3
    assert_array(s[1], x[:, 1])


def test_core_control_flow():
    assert_array(ops.cond(tf.constant(True), lambda: 1.0, lambda: 2.0), 1.0)
    assert_array(ops.cond(np.array(False), lambda: ops.ones(2), lambda: ops.zeros(2)), [0, 0])
    i, s = ops.while_loop(lambda i, s: i < 5, lambda i, s: (i + 1, s + i), (0, 0))
    assert int(i) == 5 and int(s) == 10
    assert int(ops.while_loop(lambda i: i < 100, lambda i: i * 2, 1)) == 128
    assert int(ops.while_loop(lambda i: i < 100, lambda i: i + 1, 0, maximum_iterations=7)) == 7
    assert_array(ops.fori_loop(0, 4, lambda i, v: v + i, ops.zeros(())), 6.0)
    xs = rand(5, 3)
    carry, ys = ops.scan(lambda c, x: (c + x, c * 2), np.zeros(3, np.float32), xs)
    assert_array(carry, xs.sum(0), rtol=1e-5)
    assert_array(ys, 2 * np.concatenate([np.zeros((1, 3)), np.cumsum(xs, 0)[:-1]]), rtol=1e-5)
    carry, ys = ops.scan(lambda c, x: (c + x, c), np.zeros(3, np.float32), xs, reverse=True)
    assert_array(ys[0], xs[1:].sum(0), rtol=1e-5)
    assert_array(ops.map(lambda r: ops.sum(r), xs), xs.sum(1), rtol=1e-5)
    assert_array(ops.vectorized_map(lambda r: r * 2.0, xs), xs * 2)
    br = [lambda a: a + 1.0, lambda a: a * 10.0]
    assert_array(ops.switch(1, br, np.float32(2.0)), 20.0)
    assert_array(ops.switch(5, br, np.float32(2.0)), 20.0)       # clamped, as Keras 3


def test_core_slices_and_scatter():
    x = rand(4, 5, 3)
    assert_array(ops.slice(x, (1, 0, 1), (2, 5, 2)), x[1:3, 0:5, 1:3])
    u = rand(2, 2, 3)
    exp = x.copy()
    exp[1:3, 2:4, :] = u
    assert_array(ops.slice_update(x, (1, 2, 0), u), exp)
    idx = np.array([[0, 1], [2, 2], [0, 1]])
    exp = np.zeros((3, 3), np.float32)
    np.add.at(exp, (idx[:, 0], idx[:, 1]), [1.0, 2.0, 3.0])
    assert_array(ops.scatter(idx, np.array([1.0, 2.0, 3.0], np.float32), (3, 3)), exp)
    base = np.ones((3, 3), np.float32)
    exp = base.copy()
    exp[0, 1], exp[2, 2] = 5.0, 6.0
    assert_array(ops.scatter_update(base, [[0, 1], [2, 2]], [5.0, 6.0]), exp)


def test_custom_gradient():
    @ops.custom_gradient
    def clipped_square(x):
        def grad(upstream):
            return ops.clip(upstream * 2 * x, -1.0, 1.0)
        return ops.square(x), grad

    x = tf.constant([0.1, 2.0, -3.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = ops.sum(clipped_square(x))
    assert_array(y, 0.01 + 4 + 9, rtol=1e-5)
    assert_array(tape.gradient(y, x), [0.2, 1.0, -1.0], rtol=1e-5)


# ----------------------------------------------------------------------------- math
def test_math_ops():
    x = rand(3, 7)
    v, i = ops.top_k(x, 3)
    order = np.argsort(-x, axis=-1)[:, :3]
    assert_array(i, order)
    assert_array(v, np.take_along_axis(x, order, -1))
    tgt = np.array([order[0, 0], order[1, 2], np.argmin(x[2])])
    assert_array(ops.in_top_k(tgt, x, 3), [True, True, False])
    data = rand(6, 2)
    seg = np.array([0, 0, 2, 1, 2, 2])
    exp = np.zeros((3, 2), np.float32)
    np.add.at(exp, seg, data)
    assert_array(ops.segment_sum(data, seg), exp, rtol=1e-5)
    assert_array(ops.segment_sum(data, seg, num_segments=4),
                 np.concatenate([exp, np.zeros((1, 2))]),
                 rtol=1e-5)
    mx = np.stack([data[seg == s].max(0) for s in range(3)])
    assert_array(ops.segment_max(data, seg), mx)
    z = rand(20, lo=-2, hi=2)
    assert_array(ops.erf(z), np.vectorize(math.erf)(z), rtol=1e-5, atol=1e-6)
    p = rand(20, lo=-0.95, hi=0.95).astype(np.float64)
    assert_array(np.vectorize(math.erf)(ops.erfinv(p).numpy()), p, rtol=1e-6, atol=1e-7)
    assert_array(ops.rsqrt(np.array([4.0, 0.25], np.float32)), [0.5, 2.0])
    sig = np.arange(2 * 11, dtype=np.float32).reshape(2, 11)
    fr = ops.extract_sequences(sig, 4, 3)
    assert_array(fr, np.stack([sig[:, s:s + 4] for s in range(0, 8, 3)], axis=1))


def test_fft_family():
    re, im = rand(3, 8), rand(3, 8)
    c = re + 1j * im
    r, i = ops.fft((re, im))
    assert_array(r, np.fft.fft(c).real, rtol=1e-4, atol=1e-5)
    assert_array(i, np.fft.fft(c).imag, rtol=1e-4, atol=1e-5)
    re2, im2 = rand(2, 4, 6), rand(2, 4, 6)
    c2 = np.fft.fft2(re2 + 1j * im2)
    r, i = ops.fft2((re2, im2))
    assert_array(r, c2.real, rtol=1e-4, atol=1e-5)
    assert_array(i, c2.imag, rtol=1e-4, atol=1e-5)
    x = rand(2, 10)
    r, i = ops.rfft(x)
    assert_array(r, np.fft.rfft(x).real, rtol=1e-4, atol=1e-5)
    assert_array(i, np.fft.rfft(x).imag, rtol=1e-4, atol=1e-5)
    r, i = ops.rfft(x, fft_length=16)
    assert_array(r, np.fft.rfft(x, 16).real, rtol=1e-4, atol=1e-5)
    spec = np.fft.rfft(x)
    assert_array(ops.irfft((spec.real.astype(np.float32), spec.imag.astype(np.float32))),
                 np.fft.irfft(spec), rtol=1e-4, atol=1e-5)
    sig = rand(2, 64)
    L, S, F = 12, 5, 16
    pad = np.pad(sig, ((0, 0), (F // 2, F // 2)), mode="reflect")
    n = np.arange(L)
    win = 0.5 - 0.5 * np.cos(2 * np.pi * n / L)
    win = np.pad(win, ((F - L) // 2, F - L - (F - L) // 2))
    nfr = 1 + (pad.shape[1] - F) // S
    frames = np.stack([pad[:, k * S:k * S + F] for k in range(nfr)], axis=1) * win
    exp = np.fft.rfft(frames, F)
    r, i = ops.stft(sig, L, S, F)
    assert_array(r, exp.real, rtol=1e-4, atol=1e-4)
    assert_array(i, exp.imag, rtol=1e-4, atol=1e-4)
    r, i = ops.stft(sig, F, S, F, window=None, center=False)
    fr2 = np.stack([sig[:, k * S:k * S + F] for k in range(1 + (64 - F) // S)], axis=1)
    assert_array(r, np.fft.rfft(fr2).real, rtol=1e-4, atol=1e-4)


# ----------------------------------------------------------------------------- linalg
def _spd(n, b=()):
    a = rand(*b, n, n).astype(np.float64)
    return a @ np.swapaxes(a, -1, -2) + n * np.eye(n)


def test_linalg_ops():
    a = _spd(4)
    assert_array(ops.cholesky(a), np.linalg.cholesky(a), rtol=1e-6)
    assert_array(ops.det(a), np.linalg.det(a), rtol=1e-6)
    assert_array(ops.inv(a), np.linalg.inv(a), rtol=1e-6, atol=1e-9)
    ab = _spd(3, (2,))
    assert_array(ops.det(ab), np.linalg.det(ab), rtol=1e-6)
    w, v = ops.eigh(a)
    ew, ev = np.linalg.eigh(a)
    assert_array(w, ew, rtol=1e-6)
    assert_array(np.abs(v.numpy()), np.abs(ev), rtol=1e-5, atol=1e-8)
    b = rand(4, 2).astype(np.float64)
    assert_array(ops.solve(a, b), np.linalg.solve(a, b), rtol=1e-6)
    assert_array(ops.solve(a, b[:, 0]), np.linalg.solve(a, b[:, 0]), rtol=1e-6)
    lo = np.tril(a)
    up = np.triu(a)
    assert_array(ops.solve_triangular(lo, b, lower=True), np.linalg.solve(lo, b), rtol=1e-6)
    assert_array(ops.solve_triangular(up, b), np.linalg.solve(up, b), rtol=1e-6)
    m = rand(5, 3).astype(np.float64)
    u, s, vh = ops.svd(m, full_matrices=False)
    eu, es, evh = np.linalg.svd(m, full_matrices=False)
    assert_array(s, es, rtol=1e-6)
    assert_array((u.numpy() * s.numpy()) @ vh.numpy(), m, rtol=1e-6, atol=1e-9)
    assert_array(np.abs(vh.numpy()), np.abs(evh), rtol=1e-5, atol=1e-8)
    u, s, vh = ops.svd(m)
    assert tuple(u.shape) == (5, 5) and tuple(vh.shape) == (3, 3)
    assert_array(ops.svd(m, compute_uv=False), es, rtol=1e-6)
    q, r = ops.qr(m)
    eq, er = np.linalg.qr(m)
    assert_array(np.abs(r.numpy()), np.abs(er), rtol=1e-6, atol=1e-9)
    assert_array(q.numpy() @ r.numpy(), m, rtol=1e-6, atol=1e-9)
    q, r = ops.qr(m, mode="complete")
    assert tuple(q.shape) == (5, 5)
    sq = rand(4, 4).astype(np.float64)
    lu, piv = ops.lu_factor(sq)
    lu, piv = lu.numpy(), piv.numpy()
    L = np.tril(lu, -1) + np.eye(4)
    U = np.triu(lu)
    pa = sq.copy()
    for k, p in enumerate(piv):
        pa[[k, p]] = pa[[p, k]]
    assert_array(L @ U, pa, rtol=1e-6, atol=1e-9)
    import scipy.linalg as sl
    elu, epiv = sl.lu_factor(sq)
    assert_array(lu, elu, rtol=1e-6, atol=1e-9)
    assert_array(piv, epiv)


@pytest.mark.parametrize("ord_,axis", [(None, None), (None, 1), (2, -1), (1, 0), (np.inf, 1),
                                       (-np.inf, 1), (0, 1), (3, 1), ("fro", (0, 1)),
                                       ("nuc", (0, 1)), (1, (0, 1)), (-1, (0, 1)),
                                       (2, (0, 1)), (-2, (0, 1)), (np.inf, (0, 1)),
                                       (np.inf, None), (None, (1, 2))])
@pytest.mark.parametrize("keepdims", [False, True])
def test_norm(ord_, axis, keepdims):
    x = rand(4, 5, 3).astype(np.float64) if axis == (1, 2) else rand(4, 5).astype(np.float64)
    if ord_ == 0:
        x[0, 1] = 0.0
    assert_array(ops.norm(x, ord=ord_, axis=axis, keepdims=keepdims),
                 np.linalg.norm(x, ord=ord_, axis=axis, keepdims=keepdims), rtol=1e-6)


# ----------------------------------------------------------------------------- image
def _np_resize_bilinear(img, oh, ow):
    """Half-pixel-centre bilinear resize of (N, H, W, C), as tf.image.resize without antialias."""
    N, H, W, C = img.shape

    def coords(o, n):
        src = (np.arange(o) + 0.5) * n / o - 0.5
        src = np.clip(src, 0, n - 1)
        lo = np.floor(src).astype(int)
        hi = np.minimum(lo + 1, n - 1)
        return lo, hi, src - lo
    y0, y1, fy = coords(oh, H)
    x0, x1, fx = coords(ow, W)
    top = img[:, y0][:, :, x0] * (1 - fx)[None, None, :, None] + \
        img[:, y0][:, :, x1] * fx[None, None, :, None]
    bot = img[:, y1][:, :, x0] * (1 - fx)[None, None, :, None] + \
        img[:, y1][:, :, x1] * fx[None, None, :, None]
    return top * (1 - fy)[None, :, None, None] + bot * fy[None, :, None, None]


def test_image_resize_crop_pad():
    img = rand(2, 6, 8, 3)
    exp = _np_resize_bilinear(img.astype(np.float64), 9, 5)
    assert_array(ops.image.resize(img, (9, 5)), exp, rtol=1e-4, atol=1e-5)
    assert_array(ops.image.resize(img[0], (9, 5)), exp[0], rtol=1e-4, atol=1e-5)
    chf = np.moveaxis(img, -1, 1)
    assert_array(ops.image.resize(chf, (9, 5), data_format="channels_first"),
                 np.moveaxis(exp, -1, 1), rtol=1e-4, atol=1e-5)
    near = ops.image.resize(img, (12, 16), interpolation="nearest")
    assert_array(near, img.repeat(2, 1).repeat(2, 2))
    for m in ("bicubic", "area", "lanczos3"):
        assert tuple(ops.image.resize(img, (3, 4), interpolation=m).shape) == (2, 3, 4, 3)
    crop = ops.image.resize(img, (4, 4), crop_to_aspect_ratio=True)
    assert_array(crop, _np_resize_bilinear(img[:, :, 1:7].astype(np.float64), 4, 4), rtol=1e-4,
                 atol=1e-5)
    padded = ops.image.resize(img, (8, 8), pad_to_aspect_ratio=True)
    ref = np.pad(img, ((0, 0), (1, 1), (0, 0), (0, 0))).astype(np.float64)
    assert_array(padded, _np_resize_bilinear(ref, 8, 8), rtol=1e-4, atol=1e-5)
    assert_array(ops.image.crop_images(img, 1, 2, target_height=3, target_width=4),
                 img[:, 1:4, 2:6])
    assert_array(ops.image.crop_images(img, bottom_cropping=1, right_cropping=2,
                                       target_height=4, target_width=5), img[:, 1:5, 1:6])
    assert_array(ops.image.pad_images(img, 1, 2, target_height=9, target_width=11),
                 np.pad(img, ((0, 0), (1, 2), (2, 1), (0, 0))))
    assert_array(ops.image.pad_images(img[0], 0, 0, 2, 3),
                 np.pad(img[0], ((0, 2), (0, 3), (0, 0))))


# ----------------------------------------------------------------------------- gradients
def _r64(*shape, lo=-1.0, hi=1.0):
    return RNG.uniform(lo, hi, size=shape)


GRADS = [
    ("mean_axis_keepdims", lambda x: ops.mean(x, axis=(0, 2), keepdims=True), [(3, 4, 2)]),
    ("sum_axis", lambda x: ops.sum(x, axis=-1), [(3, 4)]),
    ("std", lambda x: ops.std(x, axis=0), [(5, 3)]),
    ("var_all", lambda x: ops.var(x), [(4, 3)]),
    ("max_axis", lambda x: ops.max(x, axis=1), [(3, 5)]),
    ("prod", lambda x: ops.prod(x, axis=0), [(3, 4)]),
    ("sqrt_square", lambda x: ops.sqrt(ops.sum(ops.square(x), axis=-1)), [(4, 5)]),
    ("add_broadcast", lambda a, b: ops.multiply(ops.add(a, b), a), [(3, 1, 4), (5, 4)]),
    ("divide_power", lambda a, b: ops.power(ops.divide(a, b), 2.0), [(3, 4), (4,)]),
    ("logaddexp", ops.logaddexp, [(3, 4), (3, 4)]),
    ("matmul_batch", ops.matmul, [(2, 3, 4), (4, 5)]),
    ("matmul_vec", ops.matmul, [(4,), (4, 3)]),
    ("dot", ops.dot, [(2, 3, 4), (4, 2)]),
    ("einsum", lambda a, b: ops.einsum("bij,jk->bik", a, b), [(2, 3, 4), (4, 2)]),
    ("tensordot", lambda a, b: ops.tensordot(a, b, axes=([1], [0])), [(3, 4), (4, 2)]),
    ("cross", ops.cross, [(4, 3), (4, 3)]),
    ("softmax", lambda x: ops.softmax(x, axis=0), [(4, 3)]),
    ("log_softmax", ops.log_softmax, [(3, 5)]),
    ("gelu", ops.gelu, [(3, 4)]),
    ("silu", ops.silu, [(3, 4)]),
    ("elu_alpha", lambda x: ops.elu(x, alpha=0.5), [(3, 4)]),
    ("hard_silu", ops.hard_silu, [(3, 4)]),
    ("logsumexp", lambda x: ops.logsumexp(x, axis=1, keepdims=True), [(3, 4)]),
    ("sort", lambda x: ops.sort(x, axis=0), [(4, 3)]),
    ("median", lambda x: ops.median(x, axis=1), [(3, 5)]),
    ("quantile", lambda x: ops.quantile(x, [0.3, 0.8], axis=0), [(5, 2)]),
    ("take_along_axis", lambda x: ops.take_along_axis(x, np.array([[2, 0], [1, 1], [0, 2]]),
                                                      axis=1), [(3, 3)]),
    ("take", lambda x: ops.take(x, [2, -1, 0], axis=1), [(2, 4)]),
    ("diagonal", lambda x: ops.diagonal(x, 1), [(3, 4)]),
    ("diag", lambda x: ops.diag(x, -1), [(3,)]),
    ("trace", lambda x: ops.trace(x), [(3, 3)]),
    ("tril", lambda x: ops.tril(x, 0), [(3, 4)]),
    ("pad_reflect", lambda x: ops.pad(x, ((1, 2), (2, 1)), mode="reflect"), [(4, 3)]),
    ("moveaxis_flip_roll", lambda x: ops.roll(ops.flip(ops.moveaxis(x, 0, -1), 0), 1, 1),
     [(2, 3, 4)]),
    ("concat_split", lambda x: ops.concatenate(ops.split(x, 2, axis=1)[::-1], axis=0), [(2, 4)]),
    ("norm_2", lambda x: ops.norm(x, axis=-1), [(3, 4)]),
    ("norm_fro", lambda x: ops.norm(x, ord="fro", axis=(0, 1)), [(3, 4)]),
    ("normalize", lambda x: ops.normalize(x, axis=-1), [(3, 4)]),
    ("conv2d", lambda x, w: ops.conv(x, w, strides=1, padding="same"), [(1, 4, 4, 2),
                                                                        (3, 3, 2, 2)]),
    ("conv1d_strided", lambda x, w: ops.conv(x, w, strides=2), [(2, 7, 2), (3, 2, 3)]),
    ("conv_transpose", lambda x, w: ops.conv_transpose(x, w, 2, "same"), [(1, 2, 3, 2),
                                                                          (3, 3, 2, 2)]),
    ("max_pool", lambda x: ops.max_pool(x, 2), [(1, 4, 4, 2)]),
    ("average_pool", lambda x: ops.average_pool(x, 2, 1, "same"), [(1, 3, 3, 2)]),
    ("bce_logits", lambda t, o: ops.binary_crossentropy(ops.sigmoid(t), o, from_logits=True),
     [(3, 4), (3, 4)]),
    ("cce_logits", lambda o: ops.categorical_crossentropy(np.eye(4)[[0, 2, 3]], o,
                                                          from_logits=True), [(3, 4)]),
    ("sparse_cce_probs", lambda o: ops.sparse_categorical_crossentropy(
        np.array([1, 0, 2]), ops.softmax(o)), [(3, 4)]),
    ("batch_normalization", lambda x, m, v: ops.batch_normalization(
        x, m, ops.exp(v), axis=-1, epsilon=1e-3), [(4, 3), (3,), (3,)]),
    ("moments", lambda x: ops.stack(ops.moments(x, axes=[0])), [(5, 3)]),
    ("slice_update", lambda x, u: ops.slice_update(x, (1, 0), u), [(4, 3), (2, 3)]),
    ("scatter_update", lambda x: ops.scatter_update(x, [[0, 1]], np.array([5.0])), [(2, 3)]),
    ("where_clip", lambda x: ops.where(x > 0, ops.clip(x, 0.1, 0.5), ops.square(x)), [(3, 4)]),
    ("stft", lambda x: ops.stack(ops.stft(x, 8, 4, 8)), [(1, 20)]),
    ("fft", lambda a, b: ops.stack(ops.fft((a, b))), [(2, 6), (2, 6)]),
    ("fft2", lambda a, b: ops.stack(ops.fft2((a, b))), [(3, 4), (3, 4)]),
    ("rfft_irfft", lambda x: ops.irfft(ops.rfft(x * x, fft_length=10)), [(2, 7)]),
    ("det_inv", lambda a: ops.det(a) * ops.sum(ops.inv(a)), [(3, 3)]),
    ("solve", ops.solve, [(3, 3), (3, 2)]),
    ("cholesky", lambda a: ops.cholesky(ops.matmul(a, ops.transpose(a)) + 3 * ops.eye(3,
                                                                                  dtype="float64")),
     [(3, 3)]),
    ("scan", lambda x: ops.scan(lambda c, r: (c * r, c + r), ops.ones(3, "float64"), x)[1],
     [(4, 3)]),
    ("while_loop", lambda x: ops.while_loop(lambda i, v: i < 3, lambda i, v: (i + 1, v * x),
                                            (0, x))[1], [(2, 2)]),
]


@pytest.mark.parametrize("name,f,shapes", GRADS, ids=[g[0] for g in GRADS])
def test_gradients_float64(name, f, shapes):
    arrays = [_r64(*s, lo=0.3, hi=1.2) if name in ("prod", "divide_power", "det_inv")
              else _r64(*s) for s in shapes]
    if name in ("det_inv", "solve"):
        arrays[0] = arrays[0] + 3 * np.eye(3)
    fd_check(f, arrays, rtol=1e-3, atol=1e-5)


def test_resize_gradient_is_the_transposed_linear_map():
    # bilinear resize is linear: the gradient of sum(resize(x) * c) is M^T c, with M built
    # column by column from the NumPy reference (nabi resizes in float32)
    H, W, oh, ow = 3, 4, 5, 3
    M = np.stack([_np_resize_bilinear(np.eye(H * W)[i].reshape(1, H, W, 1), oh, ow).ravel()
                  for i in range(H * W)], axis=1)
    x = tf.constant(rand(1, H, W, 1))
    c = rand(1, oh, ow, 1)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = ops.sum(ops.image.resize(x, (oh, ow)) * c)
    assert_array(tape.gradient(y, x), (M.T @ c.ravel()).reshape(1, H, W, 1), rtol=1e-5)


def test_gradient_of_reused_node_accumulates():
    x = tf.constant(_r64(3))
    with tf.GradientTape() as tape:
        tape.watch(x)
        b = ops.add(x, x)
        y = ops.sum(ops.multiply(b, x))
    assert_array(tape.gradient(y, x), 4 * x.numpy())


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize("call,match", [
    (lambda: ops.matmul(np.ones((2, 3)), np.ones((4, 2))), r"\[matmul\].*\(2, 3\).*\(4, 2\)"),
    (lambda: ops.concatenate([np.ones((2, 3)), np.ones((3, 2))], axis=0),
     r"\[concatenate\].*\(2, 3\).*\(3, 2\)"),
    (lambda: ops.split(np.ones((5, 2)), 2), r"\[split\].*size 5"),
    (lambda: ops.squeeze(np.ones((2, 3)), axis=0), r"\[squeeze\].*axis 0 of size 2"),
    (lambda: ops.mean(np.ones((2, 3)), axis=2), r"\[mean\] axis 2 .*rank 2"),
    (lambda: ops.conv(np.ones((1, 5, 5, 3)), np.ones((3, 3, 2, 4))),
     r"\[conv\].*input channels \(2\).*\(1, 5, 5, 3\).*\(3, 3, 2, 4\)"),
    (lambda: ops.conv(np.ones((1, 5, 5, 4)), np.ones((3, 3, 2, 3))),
     r"\[conv\].*input channels \(2\).*3 output"),
    (lambda: ops.conv(np.ones((5, 5)), np.ones((3, 3, 2, 4))), r"\[conv\].*\(5, 5\)"),
    (lambda: ops.take_along_axis(np.ones((2, 3)), np.zeros((3,), np.int32), axis=1),
     r"\[take_along_axis\].*\(2, 3\).*\(3,\)"),
    (lambda: ops.binary_crossentropy(np.ones((2, 3)), np.ones((3, 2))),
     r"\[binary_crossentropy\].*\(2, 3\).*\(3, 2\)"),
    (lambda: ops.pad(np.ones((2, 3)), ((1, 1),) * 3), r"\[pad\].*\(2, 3\)"),
    (lambda: ops.pad(np.ones((2, 3)), 3, mode="reflect"), r"\[pad\].*reflect"),
    (lambda: ops.slice(np.ones((2, 3)), (1, 1), (2, 2)), r"\[slice\].*\(2, 3\)"),
    (lambda: ops.slice_update(np.ones((2, 3)), (1, 1), np.ones((2, 2))),
     r"\[slice_update\].*\(2, 2\).*\(2, 3\)"),
    (lambda: ops.det(np.ones((2, 3))), r"\[det\].*\(2, 3\)"),
    (lambda: ops.solve(np.eye(3), np.ones((2, 1))), r"\[solve\].*\(3, 3\).*\(2, 1\)"),
    (lambda: ops.image.resize(np.ones((4, 4)), (2, 2)), r"\[resize\].*\(4, 4\)"),
    (lambda: ops.image.resize(np.ones((4, 4, 1)), (2, 2), interpolation="cubic"),
     r"\[resize\].*interpolation"),
    (lambda: ops.image.crop_images(np.ones((4, 4, 1)), 2, 2, target_height=3, target_width=1),
     r"\[crop_images\]"),
    (lambda: ops.quantile(np.ones(3), 1.5), r"\[quantile\]"),
    (lambda: ops.top_k(np.ones((2, 3)), 4), r"\[top_k\].*\(2, 3\)"),
    (lambda: ops.batch_normalization(np.ones((2, 3)), np.ones(2), np.ones(3), axis=-1),
     r"\[batch_normalization\].*\(2, 3\).*\(2,\)"),
    (lambda: ops.sparse_categorical_crossentropy(np.ones((2, 2), np.int32), np.ones((2, 3))),
     r"\[sparse_categorical_crossentropy\]"),
    (lambda: ops.moveaxis(np.ones((2, 3)), [0, 1], [0]), r"\[moveaxis\]"),
])
def test_bad_input_raises_clear_errors(call, match):
    with pytest.raises((ValueError, TypeError)) as info:
        call()
    assert __import__("re").search(match, str(info.value)), str(info.value)


# ----------------------------------------------------------------------------- functional models
def _functional_model():
    keras.backend.clear_session()
    x = keras.Input((6,))
    h = keras.layers.Dense(4, name="dense")(x)
    n = ops.sqrt(ops.sum(ops.square(h), axis=-1, keepdims=True))
    h = ops.divide(h, ops.maximum(n, 1e-6))
    h = ops.concatenate([ops.relu(h), ops.softmax(h, axis=-1)], axis=-1)
    h = ops.mean(ops.reshape(h, (-1, 2, 4)), axis=1)
    vals, _ = ops.top_k(h, 2)
    out = ops.add(ops.expand_dims(ops.max(h, axis=-1), -1), vals)
    return keras.Model(x, out), x


def _np_functional(w, b, xv):
    h = xv @ w + b
    h = h / np.maximum(np.sqrt((h ** 2).sum(-1, keepdims=True)), 1e-6)
    e = np.exp(h - h.max(-1, keepdims=True))
    h = np.concatenate([np.maximum(h, 0), e / e.sum(-1, keepdims=True)], -1)
    h = h.reshape(-1, 2, 4).mean(1)
    top = -np.sort(-h, -1)[:, :2]
    return h.max(-1, keepdims=True) + top


def test_ops_on_keras_tensors_build_layers_and_save(tmp_path):
    model, x = _functional_model()
    kt = ops.mean(x, axis=-1)
    assert getattr(type(kt), "_is_keras_tensor", False) and tuple(kt.shape) == (None,)
    assert ops.shape(x) == (None, 6) and ops.ndim(x) == 2 and ops.dtype(x) == "float32"
    names = [layer.name for layer in model.layers]
    assert any("keras.ops.sqrt" in n for n in names), names
    assert any("keras.ops.top_k" in n for n in names), names
    assert type(model.get_layer(index=2)).__name__ == "TFOpLambda"
    xv = rand(5, 6)
    w, b = [v.numpy() for v in model.get_layer("dense").weights]
    y = model(xv)
    assert_array(y, _np_functional(w.astype(np.float64), b, xv.astype(np.float64)), rtol=1e-5)
    path = str(tmp_path / "ops_model.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert_array(loaded(xv), y.numpy(), rtol=1e-6)
    config_names = {layer["class_name"] for layer in model.get_config()["layers"]}
    assert "TFOpLambda" in config_names
    clone = keras.Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    assert_array(clone(xv), y.numpy(), rtol=1e-6)


def test_image_and_nn_ops_in_functional_model(tmp_path):
    keras.backend.clear_session()
    x = keras.Input((8, 8, 3))
    h = ops.image.resize(x, (4, 4))
    h = ops.max_pool(h, 2)
    h = ops.one_hot(ops.argmax(ops.reshape(h, (-1, 12)), axis=-1), 12)
    model = keras.Model(x, h)
    xv = rand(2, 8, 8, 3)
    r = _np_resize_bilinear(xv.astype(np.float64), 4, 4)
    p = r.reshape(2, 2, 2, 2, 2, 3).max(axis=(2, 4)).reshape(2, 12)
    exp = np.eye(12)[p.argmax(-1)]
    assert_array(model(xv), exp)
    path = str(tmp_path / "img.keras")
    model.save(path)
    assert_array(keras.models.load_model(path)(xv), exp)


# ----------------------------------------------------------------------------- Keras 3 layers
class L2Norm(keras.layers.Layer):
    """keras.io-style layer: ops.sqrt(ops.sum(ops.square(x), axis=-1)) on its own weight."""

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="scale")

    def call(self, x):
        x = ops.multiply(x, self.scale)
        norm = ops.sqrt(ops.sum(ops.square(x), axis=-1, keepdims=True) + 1e-6)
        return ops.divide(x, norm)


class TransformerBlock(keras.layers.Layer):
    """keras.io's text-classification TransformerBlock, its attention written with keras.ops."""

    def __init__(self, embed_dim, num_heads, ff_dim, **kwargs):
        super().__init__(**kwargs)
        self.embed_dim, self.num_heads, self.ff_dim = embed_dim, num_heads, ff_dim
        self.qkv = keras.layers.Dense(3 * embed_dim)
        self.proj = keras.layers.Dense(embed_dim)
        self.ffn = keras.Sequential([keras.layers.Dense(ff_dim, activation="relu"),
                                     keras.layers.Dense(embed_dim)])
        self.norm1 = keras.layers.LayerNormalization(epsilon=1e-6)
        self.norm2 = keras.layers.LayerNormalization(epsilon=1e-6)

    def call(self, x):
        b, t = ops.shape(x)[0], ops.shape(x)[1]
        hd = self.embed_dim // self.num_heads
        qkv = ops.reshape(self.qkv(x), (b, t, 3, self.num_heads, hd))
        q, k, v = ops.unstack(ops.transpose(qkv, (2, 0, 3, 1, 4)), axis=0)
        scores = ops.matmul(q, ops.swapaxes(k, -1, -2)) / ops.sqrt(float(hd))
        att = ops.matmul(ops.softmax(scores, axis=-1), v)
        att = ops.reshape(ops.transpose(att, (0, 2, 1, 3)), (b, t, self.embed_dim))
        x = self.norm1(x + self.proj(att))
        return self.norm2(x + self.ffn(x))

    def get_config(self):
        c = super().get_config()
        c.update(embed_dim=self.embed_dim, num_heads=self.num_heads, ff_dim=self.ff_dim)
        return c


def test_custom_l2norm_layer_trains_with_fit():
    keras.utils.set_random_seed(1)
    rng = np.random.default_rng(3)
    xs = rng.standard_normal((128, 5)).astype(np.float32)
    ys = (xs[:, :1] > 0).astype(np.float32)
    model = keras.Sequential([keras.Input((5,)), L2Norm(), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    h = model.fit(xs, ys, epochs=15, batch_size=32, verbose=0)
    assert h.history["loss"][-1] < 0.5 * h.history["loss"][0]
    out = model.layers[0](xs[:4])
    s = model.layers[0].scale.numpy()
    ref = xs[:4] * s / np.sqrt(((xs[:4] * s) ** 2).sum(-1, keepdims=True) + 1e-6)
    assert_array(out, ref, rtol=1e-5)


def test_transformer_block_with_ops_trains_with_fit():
    keras.utils.set_random_seed(2)
    rng = np.random.default_rng(4)
    vocab, maxlen, n = 20, 8, 128
    xs = rng.integers(0, vocab, size=(n, maxlen))
    ys = (np.sum(xs < 5, axis=1) >= 2).astype(np.int32)
    inputs = keras.Input((maxlen,))
    h = keras.layers.Embedding(vocab, 16)(inputs)
    h = TransformerBlock(16, 2, 32)(h)
    h = ops.mean(h, axis=1)                       # a keras.ops call on a KerasTensor
    outputs = keras.layers.Dense(2)(h)
    model = keras.Model(inputs, outputs)

    def loss_fn(y_true, y_pred):
        return ops.mean(ops.sparse_categorical_crossentropy(y_true, y_pred, from_logits=True))
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss=loss_fn)
    h = model.fit(xs, ys, epochs=6, batch_size=32, verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0]
    # the block's attention against NumPy on the trained weights
    blk = model.layers[2]
    emb = model.layers[1](xs[:2]).numpy().astype(np.float64)
    wq, bq = [v.numpy() for v in blk.qkv.weights]
    qkv = (emb @ wq + bq).reshape(2, maxlen, 3, 2, 8).transpose(2, 0, 3, 1, 4)
    s = qkv[0] @ np.swapaxes(qkv[1], -1, -2) / np.sqrt(8.0)
    e = np.exp(s - s.max(-1, keepdims=True))
    att = (e / e.sum(-1, keepdims=True)) @ qkv[2]
    att = att.transpose(0, 2, 1, 3).reshape(2, maxlen, 16)
    wp, bp = [v.numpy() for v in blk.proj.weights]
    pre = emb + att @ wp + bp
    g1, b1 = [v.numpy() for v in blk.norm1.weights]
    ln = (pre - pre.mean(-1, keepdims=True)) / np.sqrt(pre.var(-1, keepdims=True) + 1e-6) * g1 + b1
    (w1, c1), (w2, c2) = [[v.numpy() for v in layer.weights] for layer in blk.ffn.layers]
    pre2 = ln + np.maximum(ln @ w1 + c1, 0) @ w2 + c2
    g2, b2 = [v.numpy() for v in blk.norm2.weights]
    exp = (pre2 - pre2.mean(-1, keepdims=True)) / np.sqrt(pre2.var(-1, keepdims=True) + 1e-6) \
        * g2 + b2
    assert_array(blk(tf.constant(emb.astype(np.float32))), exp, rtol=1e-4, atol=1e-4)


def _np_affine(img, tr, interpolation, fill_mode, fill_value):
    """Per-pixel loop: output (x, y) samples input ((a0 x + a1 y + a2)/k, (b0 x + b1 y + b2)/k);
    out-of-range neighbour indices are fixed by fill_mode as in Keras 3's map_coordinates."""
    N, H, W, C = img.shape
    tr = np.broadcast_to(np.asarray(tr, np.float64).reshape(-1, 8), (N, 8))

    def fix(i, n):
        if fill_mode == "nearest" or (fill_mode != "constant" and n == 1):
            return min(max(i, 0), n - 1)
        if fill_mode == "wrap":
            return i % n
        if fill_mode == "mirror":
            period = 2 * (n - 1)
            j = i % period
            return j if j < n else period - j
        if fill_mode == "reflect":
            j = i % (2 * n)
            return j if j < n else 2 * n - 1 - j
        return i

    def px(b, yi, xi):
        yi, xi = fix(yi, H), fix(xi, W)
        if 0 <= yi < H and 0 <= xi < W:
            return img[b, yi, xi]
        return np.full(C, fill_value, np.float64)

    out = np.zeros((N, H, W, C))
    for b in range(N):
        a0, a1, a2, b0, b1, b2, c0, c1 = tr[b]
        for y in range(H):
            for x in range(W):
                k = c0 * x + c1 * y + 1
                xi, yi = (a0 * x + a1 * y + a2) / k, (b0 * x + b1 * y + b2) / k
                if interpolation == "nearest":
                    out[b, y, x] = px(b, int(np.round(yi)), int(np.round(xi)))
                    continue
                fy, fx = int(np.floor(yi)), int(np.floor(xi))
                wy, wx = yi - fy, xi - fx
                out[b, y, x] = (px(b, fy, fx) * (1 - wy) * (1 - wx)
                                + px(b, fy, fx + 1) * (1 - wy) * wx
                                + px(b, fy + 1, fx) * wy * (1 - wx)
                                + px(b, fy + 1, fx + 1) * wy * wx)
    return out


@pytest.mark.parametrize("fill_mode", ["constant", "nearest", "wrap", "mirror", "reflect"])
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_affine_transform(fill_mode, interpolation):
    img = rand(2, 5, 6, 2).astype(np.float64)
    ang = 0.4
    rot = [np.cos(ang), -np.sin(ang), 1.3, np.sin(ang), np.cos(ang), -0.7, 0.0, 0.0]
    proj = [1.1, 0.2, -2.6, -0.1, 0.9, 1.4, 0.01, -0.02]
    tr = np.array([rot, proj])
    got = ops.image.affine_transform(img, tr, interpolation, fill_mode, fill_value=0.5)
    assert_array(got, _np_affine(img, tr, interpolation, fill_mode, 0.5), rtol=1e-6, atol=1e-9)
    one = ops.image.affine_transform(img[0], tr[1], interpolation, fill_mode)
    assert_array(one, _np_affine(img[:1], tr[1], interpolation, fill_mode, 0.0)[0], rtol=1e-6,
                 atol=1e-9)
    chf = ops.image.affine_transform(np.moveaxis(img, -1, 1), tr, interpolation, fill_mode,
                                     fill_value=0.5, data_format="channels_first")
    assert_array(chf, np.moveaxis(got.numpy(), -1, 1))


def test_affine_transform_gradients_and_errors():
    tr = np.array([1.0, 0.1, 0.3, -0.2, 1.0, 0.6, 0.0, 0.0])
    fd_check(lambda im: ops.image.affine_transform(im, tr, fill_mode="reflect"),
             [_r64(1, 4, 3, 1)])
    img = _r64(1, 4, 3, 1)
    fd_check(lambda t: ops.image.affine_transform(img, t), [tr + 0.013])
    with pytest.raises(ValueError, match=r"\[affine_transform\].*\(7,\)"):
        ops.image.affine_transform(img, np.ones(7))
    with pytest.raises(ValueError, match=r"\[affine_transform\] fill_mode"):
        ops.image.affine_transform(img, tr, fill_mode="edge")


def test_eig_and_host_ops_refuse_gradients():
    a = rand(4, 4).astype(np.float64)
    w, v = ops.eig(a)
    assert w.dtype == tf.complex128 and v.dtype == tf.complex128
    ew = np.linalg.eigvals(a)
    assert_array(np.sort_complex(w.numpy()), np.sort_complex(ew), rtol=1e-8, atol=1e-10)
    vn = v.numpy()
    assert_array(a @ vn, vn * w.numpy(), rtol=1e-8, atol=1e-10)
    x = tf.constant(a)
    with tf.GradientTape() as tape:
        tape.watch(x)
        lu, _ = ops.lu_factor(x)
        y = ops.sum(lu)
    with pytest.raises(NotImplementedError, match=r"\[lu_factor\] has no gradient"):
        tape.gradient(y, x)


def test_resize_int_images_and_aspect_ratio_sizes():
    img = (rand(1, 5, 9, 1, lo=0, hi=200)).astype(np.int32)
    # Keras 3 (ops/image.py _resize) keeps the images' dtype: rounded, saturate-cast
    assert ops.image.resize(img, (3, 3)).dtype == tf.int32
    near = ops.image.resize(img, (10, 18), interpolation="nearest")
    assert near.dtype == tf.int32
    assert_array(near, img.repeat(2, 1).repeat(2, 2))
    # crop window: width int(5 * 3 / 3) = 5 of 9, starting at (9 - 5) // 2 = 2
    got = ops.image.resize(img.astype(np.float32), (3, 3), crop_to_aspect_ratio=True)
    assert_array(got, _np_resize_bilinear(img[:, :, 2:7].astype(np.float64), 3, 3), rtol=1e-5)
    # padding: height int(9 * 3 / 3) = 9, so (9 - 5) // 2 = 2 rows of fill on each side
    got = ops.image.resize(img.astype(np.float32), (3, 3), pad_to_aspect_ratio=True,
                           fill_value=1.0)
    ref = np.pad(img.astype(np.float64), ((0, 0), (2, 2), (0, 0), (0, 0)), constant_values=1.0)
    assert_array(got, _np_resize_bilinear(ref, 3, 3), rtol=1e-5)


# ----------------------------------------------------------------------------- more Keras 3 ops
def test_more_numpy_ops():
    a, b = rand(3, 4, lo=-3, hi=3), rand(4, lo=-3, hi=3)
    assert_array(ops.hypot(a, b), np.hypot(a, b), rtol=1e-5)
    assert_array(ops.trunc(a), np.trunc(a))
    z = np.array([-1.0, -0.0, 0.0, 2.0, -np.inf], np.float32)
    assert_array(ops.signbit(z), np.signbit(z))
    assert_array(ops.signbit(np.array([-2, 0, 3])), [True, False, False])
    assert_array(ops.deg2rad(a), np.deg2rad(a), rtol=1e-6)
    assert_array(ops.rad2deg(a), np.rad2deg(a), rtol=1e-6)
    assert_array(ops.exp2(a), np.exp2(a), rtol=1e-5)
    conds = [a < -1, a > 1]
    assert_array(ops.select(conds, [a * 10, -a], 0.5), np.select(conds, [a * 10, -a], 0.5))
    seq = np.array([0.0, 1.0, 1.0, 3.0], np.float32)
    vals = np.array([[1.0, -2.0], [3.0, 2.0]], np.float32)
    for side in ("left", "right"):
        assert_array(ops.searchsorted(seq, vals, side=side), np.searchsorted(seq, vals, side=side))
    h, e = ops.histogram(a.ravel(), bins=5)
    eh, ee = np.histogram(a.ravel(), bins=5)
    assert_array(h, eh)
    assert_array(e, ee, rtol=1e-6)
    assert_array(ops.inner(a, a), np.inner(a, a), rtol=1e-5)
    assert_array(ops.inner(a, b), np.inner(a, b), rtol=1e-5)


MORE_ACTS = [
    ("celu", lambda x: np.maximum(x, 0) + 0.7 * np.expm1(np.minimum(x, 0) / 0.7),
     {"alpha": 0.7}),
    ("hard_tanh", lambda x: np.clip(x, -1, 1), {}),
    ("hard_shrink", lambda x: np.where(np.abs(x) > 0.5, x, 0), {}),
    ("soft_shrink", lambda x: np.sign(x) * np.maximum(np.abs(x) - 0.5, 0), {}),
    ("tanh_shrink", lambda x: x - np.tanh(x), {}),
    ("squareplus", lambda x: (x + np.sqrt(x * x + 4)) / 2, {}),
    ("sparse_plus", lambda x: np.where(x <= -1, 0, np.where(x < 1, (x + 1) ** 2 / 4, x)), {}),
    ("threshold", lambda x: np.where(x > 0.3, x, -5.0), {"threshold": 0.3,
                                                           "default_value": -5.0}),
]


@pytest.mark.parametrize("name,ref,kw", MORE_ACTS, ids=[m[0] for m in MORE_ACTS])
def test_more_activations(name, ref, kw):
    x = rand(5, 7, lo=-3, hi=3)
    assert_array(getattr(ops, name)(x, **kw), ref(x.astype(np.float64)), rtol=1e-5, atol=1e-6)


def test_glu_psnr_layer_rms_normalization():
    x = rand(3, 8)
    assert_array(ops.glu(x), x[:, :4] * _np_sigmoid(x[:, 4:]), rtol=1e-5)
    assert_array(ops.glu(x.T, axis=0), (x[:, :4] * _np_sigmoid(x[:, 4:])).T, rtol=1e-5)
    y = x + rand(3, 8) * 0.1
    mse = np.mean((x - y) ** 2)
    assert_array(ops.psnr(x, y, 1.0), 20 * np.log10(1.0) - 10 * np.log10(mse), rtol=1e-4)
    g, b = rand(8), rand(8)
    m, v = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    assert_array(ops.layer_normalization(x, g, b), (x - m) / np.sqrt(v + 1e-7) * g + b,
                 rtol=1e-4, atol=1e-5)
    assert_array(ops.layer_normalization(x, axis=0, epsilon=1e-3),
                 (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-3), rtol=1e-4, atol=1e-5)
    assert_array(ops.rms_normalization(x, scale=g),
                 x / np.sqrt((x ** 2).mean(-1, keepdims=True) + 1e-7) * g, rtol=1e-4)


def _np_attention(q, k, v, bias=None, mask=None, causal=False, scale=None):
    T, S, H = q.shape[1], k.shape[1], q.shape[-1]
    s = np.einsum("btnh,bsnh->bnts", q, k) * (1 / np.sqrt(H) if scale is None else scale)
    if bias is not None:
        s = s + bias
    keep = np.ones(s.shape, bool)
    if mask is not None:
        keep &= np.broadcast_to(mask, s.shape)
    if causal:
        keep &= np.tril(np.ones((T, S), bool))
    s = np.where(keep, s, -np.inf)
    w = np.exp(s - s.max(-1, keepdims=True))
    w /= w.sum(-1, keepdims=True)
    return np.einsum("bnts,bsnh->btnh", w, v)


def test_dot_product_attention():
    q, k, v = rand(2, 5, 3, 4), rand(2, 6, 3, 4), rand(2, 6, 3, 4)
    assert_array(ops.dot_product_attention(q, k, v), _np_attention(q, k, v), rtol=1e-5)
    bias = rand(1, 3, 5, 6)
    mask = rand(2, 1, 5, 6) > -0.5
    mask[..., 0] = True
    assert_array(ops.dot_product_attention(q, k, v, bias=bias, mask=mask, scale=0.3),
                 _np_attention(q, k, v, bias, mask, scale=0.3), rtol=1e-5)
    qs = rand(2, 6, 3, 4)
    assert_array(ops.dot_product_attention(qs, k, v, is_causal=True),
                 _np_attention(qs, k, v, causal=True), rtol=1e-5)
    assert_array(ops.dot_product_attention(q[0], k[0], v[0]), _np_attention(q, k, v)[0],
                 rtol=1e-5)
    fd_check(lambda a, b, c: ops.dot_product_attention(a, b, c, is_causal=True),
             [_r64(1, 3, 2, 2), _r64(1, 3, 2, 2), _r64(1, 3, 2, 2)])
    with pytest.raises(ValueError, match=r"\[dot_product_attention\].*\(2, 6, 2, 4\)"):
        ops.dot_product_attention(q, rand(2, 6, 2, 4), v)


@pytest.mark.parametrize("fill_mode", ["constant", "nearest", "wrap", "mirror", "reflect"])
@pytest.mark.parametrize("order", [0, 1])
def test_map_coordinates_vs_scipy(order, fill_mode):
    import scipy.ndimage as ndi
    img = rand(5, 6).astype(np.float64)
    coords = RNG.uniform(-3, 8, size=(2, 4, 7))
    coords[:, 0, :3] = [[0.5, 2.5, 4.0], [1.5, 0.5, 5.0]]          # ties for order 0
    scipy_mode = {"reflect": "reflect", "mirror": "mirror", "wrap": "grid-wrap",
                  "nearest": "nearest", "constant": "grid-constant"}[fill_mode]
    exp = ndi.map_coordinates(img, coords, order=order, mode=scipy_mode, cval=0.25)
    got = ops.image.map_coordinates(img, coords, order, fill_mode=fill_mode, fill_value=0.25)
    if order == 0:     # scipy rounds .5 away from zero, Keras 3 (jnp.round) to even
        ties = np.any(np.abs(coords - np.floor(coords) - 0.5) < 1e-12, axis=0)
        got, exp = got.numpy()[~ties], exp[~ties]
    assert_array(got, exp, rtol=1e-6, atol=1e-9)


def test_map_coordinates_3d_grad_and_extract_patches_hsv():
    vol = _r64(3, 4, 2)
    co = RNG.uniform(-0.5, 3.5, size=(3, 5))
    fd_check(lambda v, c: ops.image.map_coordinates(v, c, 1), [vol, co])
    img = rand(2, 6, 7, 3)
    p = ops.image.extract_patches(img, 2)
    exp = img[:, :6, :6].reshape(2, 3, 2, 3, 2, 3).transpose(0, 1, 3, 2, 4, 5).reshape(2, 3, 3, 12)
    assert_array(p, exp)
    p = ops.image.extract_patches(img, (3, 2), strides=(2, 3))
    exp = np.stack([np.stack([img[:, i:i + 3, j:j + 2].reshape(2, -1) for j in range(0, 6, 3)],
                             1) for i in range(0, 4, 2)], 1)
    assert_array(p, exp)
    import colorsys
    rgb = rand(4, 3, lo=0, hi=1)
    hsv = np.array([colorsys.rgb_to_hsv(*px) for px in rgb])
    assert_array(ops.image.rgb_to_hsv(rgb.reshape(1, 4, 1, 3)).numpy().reshape(4, 3), hsv,
                 rtol=1e-5, atol=1e-6)
    back = ops.image.hsv_to_rgb(hsv.astype(np.float32).reshape(4, 1, 3))
    assert_array(back.numpy().reshape(4, 3), rgb, rtol=1e-5, atol=1e-6)


def test_ctc_decode_greedy():
    # steps' top classes: [1, 1, 0, 1, 2, 2] -> 1, 1, 2 merged; blank 0 splits the two 1s
    logits = np.full((2, 6, 3), -1.0, np.float32)
    for t, c in enumerate([1, 1, 0, 1, 2, 2]):
        logits[0, t, c] = 2.0 + t
    for t, c in enumerate([2, 0, 2, 2, 1, 1]):
        logits[1, t, c] = 1.0
    dec, score = ops.ctc_decode(logits, np.array([6, 4]))
    assert_array(dec, [[[1, 1, 2, -1, -1, -1], [2, 2, -1, -1, -1, -1]]], dtype=np.int32)
    assert_array(score, [[-sum(2.0 + t for t in range(6))], [-4.0]])
    dec, _ = ops.ctc_decode(logits, np.array([6, 6]), merge_repeated=False)
    assert_array(dec[0, 0], [1, 1, 1, 2, 2, -1])
    dec, _ = ops.ctc_decode(logits, np.array([6, 6]), mask_index=None)     # blank = 2
    assert_array(dec[0, 1], [0, 1, -1, -1, -1, -1])
    with pytest.raises(ValueError, match=r"\[ctc_decode\].*strategy"):   # beam_search: see
        ops.ctc_decode(logits, np.array([6, 6]), strategy="beam")      # test_keras3_gaps.py


def test_lstsq():
    a = rand(6, 3).astype(np.float64)
    b = rand(6, 2).astype(np.float64)
    assert_array(ops.lstsq(a, b), np.linalg.lstsq(a, b, rcond=None)[0], rtol=1e-6, atol=1e-9)
    assert_array(ops.lstsq(a, b[:, 0]), np.linalg.lstsq(a, b[:, 0], rcond=None)[0], rtol=1e-6)
    r = a.copy()
    r[:, 2] = r[:, 0]                                      # rank 2
    assert_array(ops.lstsq(r, b, rcond=1e-10), np.linalg.lstsq(r, b, rcond=1e-10)[0],
                 rtol=1e-6, atol=1e-8)


def test_keras3_style_train_step_with_ops_matches_numpy_sgd():
    """keras.io's 'customizing fit' (Keras 3, TF backend): a train_step whose loss and metric
    are written with keras.ops; one SGD step against the NumPy gradient."""

    class OpsModel(keras.Model):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.loss_tracker = keras.metrics.Mean(name="loss")

        def train_step(self, data):
            x, y = data
            with tf.GradientTape() as tape:
                y_pred = self(x, training=True)
                loss = ops.mean(ops.square(ops.subtract(y, y_pred))) \
                    + 0.1 * ops.sum(ops.abs(self.trainable_variables[0]))
            grads = tape.gradient(loss, self.trainable_variables)
            self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
            self.loss_tracker.update_state(loss)
            return {"loss": self.loss_tracker.result()}

        @property
        def metrics(self):
            return [self.loss_tracker]

    keras.utils.set_random_seed(5)
    inputs = keras.Input((3,))
    model = OpsModel(inputs, keras.layers.Dense(2)(inputs))
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    xs, ys = rand(8, 3), rand(8, 2)
    w0, b0 = [v.numpy().astype(np.float64) for v in model.trainable_variables]
    model.fit(xs, ys, batch_size=8, epochs=1, shuffle=False, verbose=0)
    pred = xs @ w0 + b0
    g_out = 2 * (pred - ys) / pred.size
    gw = xs.T @ g_out + 0.1 * np.sign(w0)
    gb = g_out.sum(0)
    w1, b1 = [v.numpy() for v in model.trainable_variables]
    assert_array(w1, w0 - 0.1 * gw, rtol=1e-5, atol=1e-6)
    assert_array(b1, b0 - 0.1 * gb, rtol=1e-5, atol=1e-6)
    h = model.fit(xs, ys, batch_size=4, epochs=20, verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0]


# ----------------------------------------------------------------------------- properties
@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=0, max_size=4), st.data())
def test_binary_broadcasting_property(shape, data):
    """Any NumPy-broadcastable pair of shapes: each dim kept, dropped from the front or 1."""
    other = [data.draw(st.sampled_from([d, 1])) for d in shape]
    other = other[data.draw(st.integers(0, len(other))):]
    a, b = rand(*shape), rand(*other)
    for name in ("add", "multiply", "maximum", "logaddexp", "arctan2"):
        ref = {"logaddexp": np.logaddexp, "arctan2": np.arctan2}.get(name, getattr(np, name))
        assert_array(getattr(ops, name)(a, b), ref(a, b), rtol=1e-5, atol=1e-6)
    assert_array(ops.where(a > 0, a, b), np.where(a > 0, a, b))


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(1, 5), min_size=1, max_size=4), st.data())
def test_reduction_axis_property(shape, data):
    x = rand(*shape)
    nd = len(shape)
    axes = data.draw(st.lists(st.integers(-nd, nd - 1), unique_by=lambda a: a % nd, max_size=nd))
    keep = data.draw(st.booleans())
    ax = tuple(axes) if axes else None
    for name in ("sum", "mean", "max", "var"):
        assert_array(getattr(ops, name)(x, axis=ax, keepdims=keep),
                     getattr(np, name)(x, axis=ax, keepdims=keep), rtol=1e-4, atol=1e-6)


def test_awkward_inputs():
    s = np.float32(2.5)                                   # 0-d
    assert_array(ops.sum(s), 2.5)
    assert_array(ops.expand_dims(s, 0), [2.5])
    assert_array(ops.reshape(s, (1, 1)), [[2.5]])
    one = rand(1)
    assert_array(ops.softmax(one), [1.0])
    assert_array(ops.median(one), one[0])
    big = rand(7, 11, 13)                                 # primes
    assert_array(ops.mean(big, axis=(0, 2)), big.mean((0, 2)), rtol=1e-5)
    assert_array(ops.sort(big, axis=1), np.sort(big, axis=1))
    t = rand(6, 5).T                                      # non-contiguous views
    assert not t.flags["C_CONTIGUOUS"]
    m = rand(6, 3)[::-1]
    assert_array(ops.matmul(t, m), t @ m, rtol=1e-5)
    assert_array(ops.cumsum(t, axis=0), np.cumsum(t, axis=0), rtol=1e-5)
    assert_array(ops.take_along_axis(t, np.argsort(t, 1), 1), np.sort(t, 1))
    assert_array(ops.transpose(big[:, ::2, 1:]), big[:, ::2, 1:].T)
    logits = np.array([[-np.inf, 0.0, 1e4], [-1e4, -1e4, -1e4]], np.float32)
    assert_array(ops.log_softmax(logits), [[-np.inf, -1e4, 0.0], [-np.log(3)] * 3], rtol=1e-6)
    assert_array(ops.logsumexp(logits, axis=-1), [1e4, -1e4 + np.log(3)], rtol=1e-6)


def test_bitwise_argpartition_correlate():
    a = np.array([[5, 12, -3], [0, 7, 255]], np.int32)
    b = np.array([3, 10, 1], np.int32)
    assert_array(ops.bitwise_and(a, b), a & b)
    assert_array(ops.bitwise_or(a, b), a | b)
    assert_array(ops.bitwise_xor(a, b), a ^ b)
    assert_array(ops.bitwise_invert(a), ~a)
    assert_array(ops.bitwise_left_shift(a, 2), a << 2)
    assert_array(ops.bitwise_right_shift(a, b), a >> b)
    with pytest.raises(TypeError, match=r"\[bitwise_and\].*float32"):
        ops.bitwise_and(np.ones(2, np.float32), 1)
    x = rand(4, 9)
    for kth in (0, 4, -1):
        p = ops.argpartition(x, kth).numpy()
        part = np.take_along_axis(x, p, -1)
        k = kth % 9
        assert_array(part[:, k], np.sort(x, -1)[:, k])
        assert np.all(part[:, :k] <= part[:, k:k + 1])
        assert np.all(part[:, k + 1:] >= part[:, k:k + 1])
    u, v = rand(9), rand(4)
    for mode in ("valid", "same", "full"):
        assert_array(ops.correlate(u, v, mode), np.correlate(u, v, mode), rtol=1e-5, atol=1e-6)
        assert_array(ops.correlate(v, u, mode), np.correlate(v, u, mode), rtol=1e-5, atol=1e-6)
    fd_check(lambda p, q: ops.correlate(p, q, "full"), [_r64(5), _r64(3)])


def test_bincount_batched():
    c = np.array([[1, 3, 3], [0, 0, 2]])
    w = rand(2, 3)
    assert_array(ops.bincount(c, minlength=5), [np.bincount(r, minlength=5) for r in c])
    assert_array(ops.bincount(c, weights=w), [np.bincount(r, weights=q, minlength=4)
                                              for r, q in zip(c, w)], rtol=1e-6)


def test_control_flow_on_keras_tensors_says_why():
    x = keras.Input((2,))
    with pytest.raises(ValueError, match=r"\[cond\].*symbolic Keras tensor"):
        ops.cond(ops.all(ops.greater(x, 0)), lambda: x, lambda: -x)
    with pytest.raises(ValueError, match=r"\[while_loop\].*symbolic Keras tensor"):
        ops.while_loop(lambda v: ops.all(ops.less(v, 3)), lambda v: v + 1, x)
