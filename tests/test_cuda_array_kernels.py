"""The N-d array primitives of nabi._C.cuda_backend (csrc/cuda/elementwise_nd.cu, reduce_nd.cu,
index.cu, random_nd.cu; bindings in csrc/bindings/bind_cuda_array.cpp) against independent NumPy
references.

Every test takes the `backend` fixture: "cuda" is nabi._C.cuda_backend (skipped without a CUDA
GPU), "emu" is nabi.framework.cuda_emulator, a pure-NumPy module implementing the same spec
(skipped when it cannot be imported or lacks the function). Buffers are only made with
backend.DeviceBuffer.from_numpy and read with buf.numpy(), so one test body serves both.
test_entries_registered runs everywhere (no GPU needed).
"""
import math
import re
import warnings

import numpy as np
import pytest

from nabi import _C

cb = _C.cuda_backend

ENTRIES = ["unary", "binary", "where", "cast", "strided_copy", "strided_assign", "reduce",
           "arg_reduce", "take", "scatter_add", "one_hot", "fill", "arange", "random_normal",
           "argmax_match_count"]
FLOATS = [np.float32, np.float64]
INTS = [np.int32, np.int64]
ALL_DTYPES = FLOATS + INTS + [np.bool_]


@pytest.fixture(scope="module", params=["cuda", "emu"])
def backend(request):
    if request.param == "cuda":
        if not cb.is_available():
            pytest.skip("no CUDA GPU available (" + cb.unavailable_reason() + ")")
        return cb
    try:
        from nabi.framework import cuda_emulator
    except ImportError as e:  # being written alongside these kernels
        pytest.skip(f"nabi.framework.cuda_emulator is not importable ({e})")
    return cuda_emulator


def fn(backend, name):
    f = getattr(backend, name, None)
    if f is None:
        pytest.skip(f"{getattr(backend, '__name__', backend)} has no {name}")
    return f


def dev(backend, a):
    return backend.DeviceBuffer.from_numpy(np.array(a, order="C"))


def host(buf):
    return buf.numpy()


def dname(dtype):
    return np.dtype(dtype).name


def rand(rng, shape, dtype, lo=-5.0, hi=5.0):
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return np.asarray(rng.random(shape) < 0.5)
    if dtype.kind == "i":
        return np.asarray(rng.integers(int(lo), int(hi) + 1, size=shape)).astype(dtype)
    return np.asarray(rng.uniform(lo, hi, size=shape)).astype(dtype)


def tol(dtype):
    return dict(rtol=4e-6, atol=1e-6) if np.dtype(dtype) == np.float32 else \
        dict(rtol=1e-12, atol=1e-13)


def check(got, want, dtype=None, tols=None):
    """got: the backend's result (ndarray); want: the reference (any dtype; cast to got's)."""
    want = np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    if dtype is not None:
        assert got.dtype == np.dtype(dtype), (got.dtype, dtype)
    if got.dtype.kind == "f":
        with np.errstate(over="ignore"):  # the reference rounded to got's dtype (inf stays inf)
            want = want.astype(got.dtype).astype(np.float64)
        np.testing.assert_allclose(got, want, **(tols or tol(got.dtype)))
    else:
        np.testing.assert_array_equal(got, want.astype(got.dtype))


def expect_error(backend, exc, pattern, f, *args):
    """f(*args) must raise exc with a message matching pattern. The emulator lags the spec on a
    few argument checks: a miss there is an xfail (shown in the report), on CUDA a failure."""
    try:
        f(*args)
    except exc as e:
        if re.search(pattern, str(e)):
            return
        got = f"raised {type(e).__name__}: {e}"
    except Exception as e:  # noqa: BLE001 - any other exception is reported below
        got = f"raised {type(e).__name__}: {e}"
    else:
        got = "did not raise"
    msg = f"expected {exc.__name__} matching {pattern!r}; {got}"
    if backend is cb:
        pytest.fail(msg)
    pytest.xfail("cuda_emulator lags the spec: " + msg)


SHAPES = [(), (1,), (7,), (129, 67), (2, 3, 1, 2, 3, 2), (0, 3)]


# ======================================================================================
# Registration (runs everywhere)
# ======================================================================================
def test_entries_registered():
    entries = list(cb.KERNEL_ENTRIES)
    for name in ENTRIES:
        assert name in entries, name
        assert callable(getattr(cb, name)), name
    if not cb.built_with_cuda:
        for name in ENTRIES:
            with pytest.raises(RuntimeError, match=r"built without CUDA"):
                getattr(cb, name)(None, None)


# ======================================================================================
# unary
# ======================================================================================
def _sigmoid(x):
    return np.exp(-np.logaddexp(0.0, -x))


# name -> (reference on float64, input range)
UNARY_FLOAT = {
    "neg": (np.negative, (-5, 5)), "abs": (np.abs, (-5, 5)), "sign": (np.sign, (-2, 2)),
    "square": (np.square, (-5, 5)), "exp": (np.exp, (-10, 10)), "expm1": (np.expm1, (-3, 3)),
    "log": (np.log, (0.01, 10)), "log1p": (np.log1p, (-0.9, 10)), "sqrt": (np.sqrt, (0, 10)),
    "rsqrt": (lambda x: 1 / np.sqrt(x), (0.05, 10)), "reciprocal": (lambda x: 1 / x, (0.2, 4)),
    "sin": (np.sin, (-6, 6)), "cos": (np.cos, (-6, 6)), "tan": (np.tan, (-1.4, 1.4)),
    "asin": (np.arcsin, (-0.98, 0.98)), "acos": (np.arccos, (-0.98, 0.98)),
    "atan": (np.arctan, (-8, 8)), "sinh": (np.sinh, (-5, 5)), "cosh": (np.cosh, (-5, 5)),
    "tanh": (np.tanh, (-5, 5)), "asinh": (np.arcsinh, (-8, 8)), "acosh": (np.arccosh, (1.01, 8)),
    "atanh": (np.arctanh, (-0.95, 0.95)), "floor": (np.floor, (-9, 9)),
    "ceil": (np.ceil, (-9, 9)), "rint": (np.rint, (-9, 9)), "sigmoid": (_sigmoid, (-20, 20)),
    "softplus": (lambda x: np.logaddexp(0.0, x), (-20, 20)),
}


@pytest.mark.parametrize("dtype", FLOATS, ids=dname)
@pytest.mark.parametrize("op", list(UNARY_FLOAT))
def test_unary_float(backend, op, dtype):
    unary = fn(backend, "unary")
    ref, (lo, hi) = UNARY_FLOAT[op]
    x = rand(np.random.default_rng(1), (129, 67), dtype, lo, hi)
    x.flat[::97] = np.nan  # NaN propagates
    extra = {"rint": [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.5000001],
             "sign": [0.0, -0.0, 3.0, -4.0],
             "sigmoid": [-1000.0, -100.0, 100.0, 1000.0, np.inf, -np.inf, 0.0],
             "softplus": [-1000.0, -100.0, 100.0, 1000.0, np.inf, -np.inf, 0.0],
             "abs": [-0.0, -3.0], "floor": [-0.5, 0.5], "ceil": [-0.5, 0.5]}.get(op)
    if extra:
        x.flat[1:1 + len(extra)] = np.array(extra, dtype)
    y = host(unary(op, dev(backend, x)))
    with np.errstate(all="ignore"):
        want = ref(x.astype(np.float64))
    check(y, want, dtype)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", FLOATS, ids=dname)
def test_unary_shapes(backend, shape, dtype):
    unary = fn(backend, "unary")
    x = rand(np.random.default_rng(2), shape, dtype)
    check(host(unary("exp", dev(backend, x))), np.exp(x.astype(np.float64)), dtype)
    check(host(unary("neg", dev(backend, x))), -x, dtype)
    check(host(unary("isnan", dev(backend, x))), np.isnan(x), np.bool_)


@pytest.mark.parametrize("dtype", INTS, ids=dname)
@pytest.mark.parametrize("op,ref", [("neg", np.negative), ("abs", np.abs), ("sign", np.sign),
                                    ("square", np.square)])
def test_unary_int(backend, op, ref, dtype):
    unary = fn(backend, "unary")
    info = np.iinfo(dtype)
    x = rand(np.random.default_rng(3), (7, 13), dtype, -1000, 1000)
    x.flat[:5] = [info.min, info.max, 0, -1, 1 << 20]  # wrap as C++ (and NumPy) do
    with np.errstate(all="ignore"):
        want = ref(x)
    check(host(unary(op, dev(backend, x))), want, dtype)


def test_unary_bool_and_predicates(backend):
    unary = fn(backend, "unary")
    b = np.array([[True, False, True], [False, False, True]])
    check(host(unary("logical_not", dev(backend, b))), ~b, np.bool_)
    for dtype in FLOATS:
        x = np.array([np.nan, np.inf, -np.inf, 0.0, -1.5, 3e38], dtype)
        for op, ref in [("isnan", np.isnan), ("isinf", np.isinf), ("isfinite", np.isfinite)]:
            check(host(unary(op, dev(backend, x))), ref(x), np.bool_)
            check(host(unary(op, dev(backend, x[0]))), ref(x[0]), np.bool_)  # 0-d


def test_unary_errors(backend):
    unary = fn(backend, "unary")
    xi = dev(backend, np.arange(4, dtype=np.int32))
    xf = dev(backend, np.zeros(4, np.float32))
    xb = dev(backend, np.zeros(4, np.bool_))
    with pytest.raises(ValueError, match=r"^\[unary\]"):
        unary("no_such_op", xf)
    for op, x in [("exp", xi), ("isnan", xi), ("logical_not", xf),
                  ("neg", xb), ("abs", xb), ("sigmoid", xb)]:
        with pytest.raises(TypeError, match=r"^\[unary\]"):
            unary(op, x)


def test_unary_too_many_dims(backend):
    unary = fn(backend, "unary")
    expect_error(backend, ValueError, r"^\[unary\]", unary, "neg",
                 dev(backend, np.zeros((1,) * 9, np.float32)))


# ======================================================================================
# binary
# ======================================================================================
def _int_pow(a, b, dtype):
    bits = np.iinfo(dtype).bits
    out = np.empty(np.broadcast(a, b).shape, dtype)
    for idx, (x, e) in zip(np.ndindex(out.shape), np.broadcast(a, b)):
        x, e = int(x), int(e)
        if e < 0:
            r = 1 if x == 1 else ((-1 if e % 2 else 1) if x == -1 else 0)
        else:
            r = pow(x, e, 1 << bits)
            if r >= 1 << (bits - 1):
                r -= 1 << bits
        out[idx] = r
    return out


BIN_REF = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.true_divide,
    "floordiv": np.floor_divide, "mod": np.mod, "pow": np.power, "maximum": np.maximum,
    "minimum": np.minimum, "atan2": np.arctan2, "eq": np.equal, "ne": np.not_equal,
    "lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal,
    "logical_and": np.logical_and, "logical_or": np.logical_or, "logical_xor": np.logical_xor,
}
ARITH = ["add", "sub", "mul", "floordiv", "mod", "pow", "maximum", "minimum"]
FLOAT_ONLY = ["div", "atan2"]
COMPARE = ["eq", "ne", "lt", "le", "gt", "ge"]
LOGICAL = ["logical_and", "logical_or", "logical_xor"]
PAIRS = [((), ()), ((1,), (7,)), ((7,), (7,)), ((3, 1, 5), (4, 1)), ((129, 67), (67,)),
         ((129, 67), (129, 1)), ((2, 1, 3, 1, 2, 3), (1, 4, 1, 5, 1, 1)), ((0, 3), (1, 3)),
         ((5,), ())]


def _binary_inputs(op, dtype, sa, sb, seed=4):
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        if op == "pow":
            a = rand(rng, sa, dtype, 0.1, 3)
            b = rand(rng, sb, dtype, -3, 3)
        else:
            a = rand(rng, sa, dtype, -5, 5)
            b = rand(rng, sb, dtype, -5, 5)
            if a.size > 3:
                a.flat[::5] = np.round(a.flat[::5])  # exact multiples, ties, zeros
            if b.size > 3:
                b.flat[::7] = np.round(b.flat[::7])
                b.flat[1] = 0.0                      # division by zero
                b.flat[2] = np.nan                   # NaN propagation
    elif dtype.kind == "i":
        if op == "pow":
            a = rand(rng, sa, dtype, -4, 4)
            b = rand(rng, sb, dtype, -3, 40)  # wraps
        else:
            a = rand(rng, sa, dtype, -20, 20)
            b = rand(rng, sb, dtype, -6, 6)   # includes 0: x // 0 == x % 0 == 0
    else:
        a, b = rand(rng, sa, dtype), rand(rng, sb, dtype)
    return a, b


def _binary_ref(op, a, b):
    with np.errstate(all="ignore"):
        if op == "pow" and a.dtype.kind == "i":
            return _int_pow(a, b, a.dtype)
        if a.dtype.kind == "i" and op in ("floordiv", "mod"):
            r = BIN_REF[op](a, b)
            return np.where(np.broadcast_to(b, r.shape) == 0, 0, r).astype(a.dtype)
        if a.dtype.kind == "f":
            return BIN_REF[op](a.astype(np.float64), b.astype(np.float64)) \
                if op not in ("floordiv", "mod") else BIN_REF[op](a, b)
        return BIN_REF[op](a, b)


def _binary_cases():
    for op in ARITH:
        for dt in FLOATS + INTS:
            yield op, dt
    for op in FLOAT_ONLY:
        for dt in FLOATS:
            yield op, dt
    for op in COMPARE:
        for dt in ALL_DTYPES:
            yield op, dt
    for op in LOGICAL:
        yield op, np.bool_


@pytest.mark.parametrize("op,dtype", list(_binary_cases()),
                         ids=[f"{o}-{dname(d)}" for o, d in _binary_cases()])
@pytest.mark.parametrize("sa,sb", [((3, 1, 5), (4, 1)), ((129, 67), (67,))], ids=str)
def test_binary_ops(backend, op, dtype, sa, sb):
    binary = fn(backend, "binary")
    a, b = _binary_inputs(op, dtype, sa, sb)
    out_dtype = np.bool_ if op in COMPARE + LOGICAL else dtype
    check(host(binary(op, dev(backend, a), dev(backend, b))), _binary_ref(op, a, b), out_dtype)
    # and with the operands swapped (broadcasting on the other side)
    if op != "pow":
        check(host(binary(op, dev(backend, b), dev(backend, a))), _binary_ref(op, b, a),
              out_dtype)


@pytest.mark.parametrize("sa,sb", PAIRS, ids=str)
@pytest.mark.parametrize("op,dtype", [("add", np.float32), ("mul", np.float64),
                                      ("sub", np.int32), ("lt", np.int64),
                                      ("logical_xor", np.bool_), ("maximum", np.float32)],
                         ids=lambda v: v if isinstance(v, str) else dname(v))
def test_binary_shapes(backend, op, dtype, sa, sb):
    binary = fn(backend, "binary")
    a, b = _binary_inputs(op, dtype, sa, sb, seed=5)
    out_dtype = np.bool_ if op in COMPARE + LOGICAL else dtype
    y = host(binary(op, dev(backend, a), dev(backend, b)))
    assert y.shape == np.broadcast_shapes(sa, sb)
    check(y, _binary_ref(op, a, b), out_dtype)


@pytest.mark.parametrize("dtype", FLOATS, ids=dname)
def test_binary_float_specials(backend, dtype):
    binary = fn(backend, "binary")
    nan, inf = np.nan, np.inf
    a = np.array([nan, 1.0, nan, -5.0, 5.0, -5.0, 7.5, -7.5, 0.0, -0.0, 3.0, inf, -3.0],
                 dtype)
    b = np.array([1.0, nan, nan, 3.0, -3.0, inf, 2.5, 2.5, 3.0, -2.0, 0.0, 2.0, 0.0], dtype)
    for op in ["maximum", "minimum", "floordiv", "mod", "add", "div", "pow", "atan2"]:
        with np.errstate(all="ignore"):
            want = BIN_REF[op](a, b)
        got = host(binary(op, dev(backend, a), dev(backend, b)))
        check(got, want, dtype)
    # NaN wins in both positions
    got = host(binary("maximum", dev(backend, a), dev(backend, b)))
    assert np.isnan(got[:3]).all()


def test_binary_int_division_edges(backend):
    binary = fn(backend, "binary")
    for dtype in INTS:
        info = np.iinfo(dtype)
        a = np.array([7, -7, 7, -7, 0, 5, info.min, info.min, 6, -6], dtype)
        b = np.array([2, 2, -2, -2, 3, 0, -1, 1, 3, 3], dtype)
        fd = host(binary("floordiv", dev(backend, a), dev(backend, b)))
        md = host(binary("mod", dev(backend, a), dev(backend, b)))
        np.testing.assert_array_equal(fd, np.array([3, -4, -4, 3, 0, 0, info.min, info.min, 2,
                                                    -2], dtype))
        np.testing.assert_array_equal(md, np.array([1, 1, -1, -1, 0, 0, 0, 0, 0, 0], dtype))
        p = host(binary("pow", dev(backend, np.array([2, -1, -1, 1, 3, 0, 0], dtype)),
                        dev(backend, np.array([-1, -3, -2, -5, 0, 0, 5], dtype))))
        np.testing.assert_array_equal(p, np.array([0, -1, 1, 1, 1, 1, 0], dtype))


def test_binary_errors(backend):
    binary = fn(backend, "binary")
    f32 = dev(backend, np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"^\[binary\] shapes \(2, 3\) and \(4,\) are not "
                                         r"broadcastable"):
        binary("add", f32, dev(backend, np.zeros(4, np.float32)))
    with pytest.raises(TypeError, match=r"^\[binary\]"):
        binary("add", f32, dev(backend, np.zeros((2, 3), np.float64)))
    i32 = dev(backend, np.ones(3, np.int32))
    bb = dev(backend, np.ones(3, np.bool_))
    for op, x in [("div", i32), ("atan2", i32), ("logical_and", i32), ("add", bb), ("mul", bb),
                  ("pow", bb), ("maximum", bb), ("logical_or", f32)]:
        with pytest.raises(TypeError, match=r"^\[binary\]"):
            binary(op, x, x)
    with pytest.raises(ValueError, match=r"^\[binary\]"):
        binary("nope", f32, f32)


# ======================================================================================
# where
# ======================================================================================
@pytest.mark.parametrize("shapes", [((), (), ()), ((3, 1, 5), (4, 1), ()),
                                    ((129, 67), (67,), (129, 1)), ((7,), (1,), (7,)),
                                    ((2, 1, 3, 1, 2, 3), (1, 4, 1, 5, 1, 1), (3,)),
                                    ((0, 3), (3,), (1, 1))], ids=str)
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=dname)
def test_where(backend, shapes, dtype):
    where = fn(backend, "where")
    rng = np.random.default_rng(6)
    c = rand(rng, shapes[0], np.bool_)
    a = rand(rng, shapes[1], dtype)
    b = rand(rng, shapes[2], dtype)
    y = host(where(dev(backend, c), dev(backend, a), dev(backend, b)))
    check(y, np.where(c, a, b), dtype)


def test_where_errors(backend):
    where = fn(backend, "where")
    a = dev(backend, np.zeros((2, 3), np.float32))
    with pytest.raises(TypeError, match=r"^\[where\]"):
        where(dev(backend, np.zeros((2, 3), np.float32)), a, a)
    with pytest.raises(TypeError, match=r"^\[where\]"):
        where(dev(backend, np.zeros((2, 3), np.bool_)), a, dev(backend, np.zeros(3, np.int32)))
    with pytest.raises(ValueError, match=r"^\[where\]"):
        where(dev(backend, np.zeros(4, np.bool_)), a, a)


# ======================================================================================
# cast
# ======================================================================================
@pytest.mark.parametrize("src", ALL_DTYPES, ids=dname)
@pytest.mark.parametrize("dst", ALL_DTYPES, ids=dname)
@pytest.mark.parametrize("shape", [(), (7,), (129, 67), (0, 3)], ids=str)
def test_cast(backend, src, dst, shape):
    cast = fn(backend, "cast")
    x = rand(np.random.default_rng(7), shape, src, -50, 50)
    if np.dtype(src).kind == "f" and x.size >= 6:
        x.flat[:6] = [-2.7, 2.7, -0.5, 0.0, 1e-3, 16777217.0]  # trunc toward 0; rounding
    y = host(cast(dev(backend, x), dname(dst)))
    want = x.astype(dst)
    assert y.dtype == np.dtype(dst) and y.shape == want.shape
    np.testing.assert_array_equal(y, want)


@pytest.mark.parametrize("src", FLOATS, ids=dname)
@pytest.mark.parametrize("dst", [np.int32, np.int64], ids=dname)
def test_cast_float_to_int_out_of_range_and_nan(backend, src, dst):
    """NaN, +-inf and values outside the integer range become the integer minimum, as NumPy's
    astype gives on x86 (the CPU device), not the GPU's saturating conversion (NaN -> 0,
    inf -> max); in-range values truncate toward zero, the range's ends included."""
    cast = fn(backend, "cast")
    big = 2.0 ** (8 * np.dtype(dst).itemsize - 1)
    x = np.array([np.nan, np.inf, -np.inf, 3e9, -3e9, 1e20, -1e20, big, -big, 2.7, -2.7,
                  -0.5, 2147483520.0, 1.5e9] * 3, src)
    y = host(cast(dev(backend, x), dname(dst)))
    xf = x.astype(np.float64)
    ok = np.isfinite(xf) & (xf >= -big) & (xf < big)
    want = np.where(ok, np.trunc(np.where(ok, xf, 0)), 0).astype(dst)
    want[~ok] = np.iinfo(dst).min
    assert y.dtype == np.dtype(dst)
    np.testing.assert_array_equal(y, want)


def test_cast_large_ints_round(backend):
    cast = fn(backend, "cast")
    x = np.array([2**53 + 1, -(2**40) - 3, 2**62], np.int64)
    for dst in FLOATS:
        np.testing.assert_array_equal(host(cast(dev(backend, x), dname(dst))), x.astype(dst))
    np.testing.assert_array_equal(host(cast(dev(backend, x), "int32")), x.astype(np.int32))


# ======================================================================================
# strided_copy / strided_assign
# ======================================================================================
def _view_params(base, view):
    """(shape, element strides, element offset) of a NumPy view of the C-contiguous base."""
    item = base.itemsize
    off = view.__array_interface__["data"][0] - base.__array_interface__["data"][0]
    return list(view.shape), [s // item for s in view.strides], off // item


def _views(a):
    """Views of the 3x4x5 array a that strided_copy must reproduce."""
    return [
        a, a.T, a.transpose(1, 0, 2), a[::2, 1:, ::-1], a[::-1, ::-2], a[1], a[1, 2, 3, ...],
        a[:, None, 1:4], np.broadcast_to(a[:, :1, :], (3, 6, 5)),
        np.broadcast_to(a[0, 0, 0, ...], (2, 3)),
        a[:0], a[1:1, 2:], a[..., 3], a[2, ::-1, ::3],
    ]


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=dname)
def test_strided_copy_views(backend, dtype):
    strided_copy = fn(backend, "strided_copy")
    a = rand(np.random.default_rng(8), (3, 4, 5), dtype)
    xb = dev(backend, a.reshape(-1))
    for k, v in enumerate(_views(a)):
        shape, strides, offset = _view_params(a, v)
        y = host(strided_copy(xb, shape, strides, offset))
        assert y.dtype == a.dtype and y.shape == v.shape, k
        np.testing.assert_array_equal(y, v, err_msg=f"view {k}: {shape} {strides} {offset}")


def test_strided_copy_6d_and_large(backend):
    strided_copy = fn(backend, "strided_copy")
    rng = np.random.default_rng(9)
    a = rand(rng, (2, 3, 4, 5, 3, 2), np.float32)
    v = a.transpose(5, 3, 0, 4, 1, 2)[:, ::-1, :, ::2]
    shape, strides, offset = _view_params(a, v)
    np.testing.assert_array_equal(host(strided_copy(dev(backend, a), shape, strides, offset)), v)
    b = rand(rng, (257, 1031), np.float64)  # a transpose big enough for many blocks
    shape, strides, offset = _view_params(b, b.T[::-1])
    np.testing.assert_array_equal(host(strided_copy(dev(backend, b), shape, strides, offset)),
                                  b.T[::-1])


def test_strided_copy_bounds(backend):
    strided_copy = fn(backend, "strided_copy")
    x = dev(backend, np.arange(6, dtype=np.float32))
    with pytest.raises(ValueError, match=r"^\[strided_copy\] the view \(shape .2, 3., strides "
                                         r".3, 1., offset 1\) reaches element 6 of a buffer of "
                                         r"6"):
        strided_copy(x, [2, 3], [3, 1], 1)
    with pytest.raises(ValueError, match=r"^\[strided_copy\] .*reaches element -1 of a buffer "
                                         r"of 6"):
        strided_copy(x, [3], [-1], 1)
    with pytest.raises(ValueError, match=r"^\[strided_copy\]"):
        strided_copy(x, [], [], 6)       # 0-d view past the end
    with pytest.raises(ValueError, match=r"^\[strided_copy\]"):
        strided_copy(x, [2, 3], [3], 0)  # lengths differ
    expect_error(backend, ValueError, r"^\[strided_copy\]", strided_copy, x, [1] * 9, [0] * 9,
                 0)
    # an empty view reaches nothing: no bounds to check
    assert host(strided_copy(x, [0, 3], [100, 1], 50)).shape == (0, 3)
    np.testing.assert_array_equal(host(strided_copy(x, [], [], 5)), np.float32(5))


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=dname)
def test_strided_assign(backend, dtype):
    strided_assign = fn(backend, "strided_assign")
    rng = np.random.default_rng(10)
    base = rand(rng, (4, 6, 5), dtype)
    cases = [
        (lambda d: d[1:3], (2, 6, 5)),              # concatenate / stack pieces
        (lambda d: d[1:3, 1:-1, 1:-1], (2, 4, 3)),  # pad interior
        (lambda d: d[::2, ::-3, 1], (2, 2)),        # setitem with steps and flips
        (lambda d: d[:, 2], (5,)),                  # broadcast src
        (lambda d: d[3, 4, 2, ...], ()),            # 0-d
        (lambda d: d[2:, :, ::2], ()),              # scalar src broadcast
        (lambda d: d[:0], (0, 6, 5)),               # empty
        (lambda d: d.transpose(2, 0, 1)[1:4], (1, 4, 6)),
    ]
    for k, (pick, src_shape) in enumerate(cases):
        want = base.copy()
        view = pick(want)
        shape, strides, offset = _view_params(want, view)
        src = rand(rng, src_shape, dtype)
        view[...] = src
        d = dev(backend, base.reshape(-1))
        assert strided_assign(d, shape, strides, offset, dev(backend, src)) is None
        np.testing.assert_array_equal(host(d).reshape(base.shape), want, err_msg=f"case {k}")


def test_strided_assign_from_own_storage(backend):
    strided_assign = fn(backend, "strided_assign")
    x = np.arange(10, dtype=np.float64)
    d = dev(backend, x)
    if not hasattr(d, "view"):
        pytest.skip("DeviceBuffer.view missing")
    strided_assign(d, [9], [1], 1, d.view([9], 0))  # x[1:] = x[:-1]
    want = x.copy()
    want[1:] = x[:-1].copy()
    np.testing.assert_array_equal(host(d), want)


def test_strided_assign_errors(backend):
    strided_assign = fn(backend, "strided_assign")
    d = dev(backend, np.zeros(12, np.float32))
    s = dev(backend, np.ones(4, np.float32))
    with pytest.raises(ValueError, match=r"^\[strided_assign\] the view \(shape .3, 4., "
                                         r"strides .4, 1., offset 1\) reaches element 12 of a "
                                         r"buffer of 12"):
        strided_assign(d, [3, 4], [4, 1], 1, s)
    with pytest.raises(ValueError, match=r"^\[strided_assign\]"):
        strided_assign(d, [3, 4], [0, 1], 0, s)   # overlapping destination
    with pytest.raises(ValueError, match=r"^\[strided_assign\]"):
        strided_assign(d, [3, 4], [4, 1], 0, dev(backend, np.ones(3, np.float32)))
    with pytest.raises(TypeError, match=r"^\[strided_assign\]"):
        strided_assign(d, [3, 4], [4, 1], 0, dev(backend, np.ones(4, np.float64)))
    # a zero stride on an axis of length 1 is fine
    strided_assign(d, [1, 4], [0, 1], 8, s)
    np.testing.assert_array_equal(host(d), [0] * 8 + [1] * 4)


# ======================================================================================
# reduce
# ======================================================================================
REDUCE_CASES = [
    ((), ()), ((1,), (0,)), ((7,), (0,)), ((7,), ()), ((129, 67), (1,)), ((129, 67), (0,)),
    ((129, 67), (0, 1)), ((129, 67), (1, 0)), ((3, 1, 5), (1,)),
    ((3, 1, 5), (0, 2)), ((2, 3, 4, 5, 3, 2), (0, 2, 4)), ((2, 3, 4, 5, 3, 2), (1, 3, 5)),
    ((2, 3, 4, 5, 3, 2), (5,)), ((2, 3, 4, 5, 3, 2), (0,)), ((50, 300, 7), (1,)),
    ((0, 3), (1,)), ((3, 0), (0,)),
    # shapes that take the split (two-pass) and block-per-row paths
    ((100003, 3), (0,)), ((3, 100003), (1,)), ((1 << 20,), (0,)), ((64, 5000), (1,)),
    ((5000, 64), (0,)), ((40, 3000, 3), (0, 1)),
]


def _reduce_ref(op, x, axes):
    axes = tuple(axes)
    if op == "sum":
        if x.dtype.kind == "f":
            return np.sum(x.astype(np.float64), axis=axes)
        return np.sum(x, axis=axes, dtype=np.int64).astype(x.dtype)
    if op == "prod":
        if x.dtype.kind == "f":
            return np.prod(x.astype(np.float64), axis=axes)
        return np.prod(x, axis=axes, dtype=np.int64).astype(x.dtype)
    if op == "mean":
        with np.errstate(all="ignore"):
            return np.mean(x.astype(np.float64), axis=axes)
    return {"max": np.max, "min": np.min, "any": np.any, "all": np.all}[op](x, axis=axes)


def _reduce_input(op, shape, dtype, seed=11):
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    if op == "prod":
        x = rand(rng, shape, dtype, 0.9, 1.1) if dtype.kind == "f" else \
            rand(rng, shape, dtype, 1, 3)  # ints wrap
    elif dtype == np.bool_:
        x = np.asarray(rng.random(shape) < (0.995 if op == "all" else 0.005))
    else:
        x = rand(rng, shape, dtype, -100, 100)
    return x


def _reduce_params():
    for op in ["sum", "mean", "prod", "max", "min"]:
        for dt in FLOATS + INTS:
            yield op, dt
    yield "any", np.bool_
    yield "all", np.bool_


@pytest.mark.parametrize("shape,axes", REDUCE_CASES, ids=str)
@pytest.mark.parametrize("op,dtype", list(_reduce_params()),
                         ids=[f"{o}-{dname(d)}" for o, d in _reduce_params()])
def test_reduce(backend, op, dtype, shape, axes):
    reduce = fn(backend, "reduce")
    x = _reduce_input(op, shape, dtype)
    nd = len(shape)
    red = 1
    for a in axes:
        red *= shape[a % nd]
    if op in ("max", "min") and red == 0:
        with pytest.raises(ValueError, match=r"^\[reduce\] " + op + " of an empty axis"):
            reduce(op, dev(backend, x), list(axes))
        return
    y = host(reduce(op, dev(backend, x), list(axes)))
    out_dtype = np.float64 if (op == "mean" and np.dtype(dtype).kind == "i") else dtype
    # float64: sums/products of up to 2^20 terms in another order than NumPy's
    loose = dict(rtol=1e-10, atol=1e-9) if np.dtype(out_dtype) == np.float64 else None
    check(y, _reduce_ref(op, x, axes), out_dtype, loose)


@pytest.mark.parametrize("dtype", FLOATS, ids=dname)
def test_reduce_nan_and_empty(backend, dtype):
    reduce = fn(backend, "reduce")
    x = rand(np.random.default_rng(12), (6, 40), dtype)
    x[1, 7] = np.nan
    x[4, 39] = np.nan
    for op in ["max", "min", "sum", "mean"]:
        for axes in [(1,), (0,), (0, 1)]:
            y = host(reduce(op, dev(backend, x), list(axes)))
            check(y, _reduce_ref(op, x, axes), dtype)
    e = np.zeros((0, 4), dtype)
    np.testing.assert_array_equal(host(reduce("sum", dev(backend, e), [0])), np.zeros(4))
    np.testing.assert_array_equal(host(reduce("prod", dev(backend, e), [0])), np.ones(4))
    with warnings.catch_warnings():  # NumPy-based backends warn about the empty mean
        warnings.simplefilter("ignore", RuntimeWarning)
        assert np.isnan(host(reduce("mean", dev(backend, e), [0]))).all()
    b = np.zeros((0, 4), np.bool_)
    np.testing.assert_array_equal(host(reduce("any", dev(backend, b), [0])), [False] * 4)
    np.testing.assert_array_equal(host(reduce("all", dev(backend, b), [0])), [True] * 4)


def test_reduce_errors(backend):
    reduce = fn(backend, "reduce")
    x = dev(backend, np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"^\[reduce\] max of an empty axis"):
        reduce("max", dev(backend, np.zeros((0, 3), np.float32)), [0])
    with pytest.raises(ValueError, match=r"^\[reduce\] min of an empty axis"):
        reduce("min", dev(backend, np.zeros((2, 0), np.int32)), [1])
    with pytest.raises(ValueError, match=r"^\[reduce\]"):
        reduce("sum", x, [2])
    with pytest.raises(ValueError, match=r"^\[reduce\]"):
        reduce("sum", x, [1, 1])
    with pytest.raises(ValueError, match=r"^\[reduce\]"):
        reduce("median", x, [0])
    with pytest.raises(TypeError, match=r"^\[reduce\]"):
        reduce("any", x, [0])
    with pytest.raises(TypeError, match=r"^\[reduce\]"):
        reduce("sum", dev(backend, np.zeros(3, np.bool_)), [0])


# ======================================================================================
# arg_reduce
# ======================================================================================
@pytest.mark.parametrize("shape,axis", [((7,), 0), ((1,), 0), ((129, 67), 0), ((129, 67), 1),
                                        ((129, 67), -1), ((3, 1, 5), 1), ((3, 1, 5), 2),
                                        ((2, 3, 4, 5, 3, 2), 2), ((3, 100003), 1),
                                        ((100003, 2), 0), ((0, 5), 1), ((5, 0), 0)], ids=str)
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=dname)
@pytest.mark.parametrize("op", ["argmax", "argmin"])
def test_arg_reduce(backend, op, dtype, shape, axis):
    arg_reduce = fn(backend, "arg_reduce")
    x = rand(np.random.default_rng(13), shape, dtype, -3, 3)  # many ties
    y = host(arg_reduce(op, dev(backend, x), axis))
    want = getattr(np, op)(x, axis=axis)
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y, want)


@pytest.mark.parametrize("dtype", FLOATS, ids=dname)
def test_arg_reduce_nan(backend, dtype):
    arg_reduce = fn(backend, "arg_reduce")
    x = np.array([[1, np.nan, 3, np.nan], [np.inf, 2, np.inf, -np.inf], [0, 0, 0, np.nan]],
                 dtype)
    for op in ["argmax", "argmin"]:
        np.testing.assert_array_equal(host(arg_reduce(op, dev(backend, x), 1)),
                                      getattr(np, op)(x, axis=1))
        np.testing.assert_array_equal(host(arg_reduce(op, dev(backend, x), 0)),
                                      getattr(np, op)(x, axis=0))
    long = np.zeros(10000, dtype)
    long[[5000, 7000]] = np.nan
    assert host(arg_reduce("argmin", dev(backend, long[None]), 1))[0] == 5000


def test_arg_reduce_errors(backend):
    arg_reduce = fn(backend, "arg_reduce")
    with pytest.raises(ValueError, match=r"^\[arg_reduce\]"):
        arg_reduce("argmax", dev(backend, np.zeros((3, 0), np.float32)), 1)
    with pytest.raises(ValueError, match=r"^\[arg_reduce\]"):
        arg_reduce("argmax", dev(backend, np.float32(1.0)), 0)
    with pytest.raises(ValueError, match=r"^\[arg_reduce\]"):
        arg_reduce("argmax", dev(backend, np.zeros((3, 2), np.float32)), 2)
    with pytest.raises(ValueError, match=r"^\[arg_reduce\]"):
        arg_reduce("argmedian", dev(backend, np.zeros((3, 2), np.float32)), 0)


# ---- argmax_match_count: the accuracy metrics' count ----------------------------------------
def np_matches(pred, labels, sparse):
    """NumPy reference: rows of pred (..., C) whose argmax equals the label."""
    p = np.argmax(pred.reshape(-1, pred.shape[-1]), axis=-1)
    if sparse:
        return int(np.count_nonzero(labels.reshape(-1) == p))
    return int(np.count_nonzero(np.argmax(labels.reshape(-1, labels.shape[-1]), axis=-1) == p))


@pytest.mark.parametrize("dtype", FLOATS, ids=dname)
@pytest.mark.parametrize("shape", [(1, 1), (7, 3), (100, 10), (4, 5, 33), (20000, 4)], ids=str)
@pytest.mark.parametrize("ldtype", ["int64", "int32", "float32", "same-onehot"])
def test_argmax_match_count(backend, dtype, shape, ldtype):
    f = fn(backend, "argmax_match_count")
    rng = np.random.default_rng(sum(shape))
    C = shape[-1]
    pred = rng.integers(-2, 3, shape).astype(dtype)   # small integers: many tied maxima
    if pred.size > 3:
        pred.reshape(-1)[::7] = np.nan                 # NaN rows: the first NaN is the argmax
    rows = pred.size // C
    sparse = ldtype != "same-onehot"
    if sparse:
        labels = rng.integers(0, C, shape[:-1]).astype(ldtype)
        labels.reshape(-1)[::3] = np.argmax(pred.reshape(-1, C), axis=-1)[::3]  # some hits
    else:
        idx = rng.integers(0, C, rows)
        idx[::2] = np.argmax(pred.reshape(-1, C), axis=-1)[::2]
        labels = np.eye(C, dtype=dtype)[idx].reshape(shape)
    total = dev(backend, np.array(2.5))                 # adds into what is there
    assert f(dev(backend, pred), dev(backend, labels), sparse, total) is None
    want = 2.5 + np_matches(pred, labels, sparse)
    assert 0 < want - 2.5 <= rows
    assert host(total).item() == want
    f(dev(backend, pred), dev(backend, labels), sparse, total)   # and again
    assert host(total).item() == 2.5 + 2 * (want - 2.5)


def test_argmax_match_count_float_labels_compare_as_numbers(backend):
    f = fn(backend, "argmax_match_count")
    pred = np.array([[0, 1, 0], [1, 0, 0], [0, 0, 1], [0, 0, 1]], np.float32)
    labels = np.array([1.0, 0.5, 2.0, np.nan])  # 1 == 1, 0.5 != 0, 2 == 2, NaN matches none
    total = dev(backend, np.array(0.0))
    f(dev(backend, pred), dev(backend, labels), True, total)
    assert host(total).item() == 2.0


def test_argmax_match_count_errors(backend):
    f = fn(backend, "argmax_match_count")
    p, t = np.zeros((4, 3), np.float32), np.array(0.0)
    cases = [
        (ValueError, r"labels of shape \(3,\).*shape \(4, 3\)",
         (p, np.zeros(3, np.int64), True, t)),              # one label per row
        (ValueError, r"does not match", (p, np.zeros((4, 2), np.float32), False, t)),
        (TypeError, r"dtype", (p, np.zeros((4, 3), np.float64), False, t)),
        (TypeError, r"float32 or float64", (np.zeros((4, 3), np.int32), np.zeros(4, np.int64),
                                            True, t)),
        (ValueError, r"total", (p, np.zeros(4, np.int64), True, np.zeros(2))),
        (ValueError, r"total", (p, np.zeros(4, np.int64), True, np.array(0.0, np.float32))),
        (ValueError, r"\(class\) axis, got shape \(4, 0\)", (np.zeros((4, 0), np.float32), np.zeros(4, np.int64), True,
                                     t)),
    ]
    for exc, pattern, (a, b, sparse, tot) in cases:
        with pytest.raises(exc, match=r"^\[argmax_match_count\].*" + pattern):
            f(dev(backend, a), dev(backend, b), sparse, dev(backend, tot))


# ======================================================================================
# take / scatter_add / one_hot
# ======================================================================================
TAKE_CASES = [((5,), 0, ()), ((5,), 0, (4,)), ((129, 67), 0, (2, 3)), ((129, 67), 1, (11,)),
              ((129, 67), -1, ()), ((3, 1, 5), 2, (6,)), ((2, 3, 4, 5, 3, 2), 3, (2, 2)),
              ((7, 3), 0, (0,)), ((0, 4), 1, (3,)), ((1000, 64), 0, (4096,))]


@pytest.mark.parametrize("xshape,axis,ishape", TAKE_CASES, ids=str)
@pytest.mark.parametrize("idt", INTS, ids=dname)
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=dname)
def test_take(backend, dtype, idt, xshape, axis, ishape):
    take = fn(backend, "take")
    rng = np.random.default_rng(14)
    x = rand(rng, xshape, dtype)
    n = xshape[axis]
    idx = np.asarray(rng.integers(-n, n, size=ishape)).astype(idt)  # negatives count from end
    y = host(take(dev(backend, x), dev(backend, idx), axis))
    want = np.take(x, idx, axis=axis)
    assert y.dtype == x.dtype
    np.testing.assert_array_equal(y, want)


def test_take_index_errors(backend):
    take = fn(backend, "take")
    x = dev(backend, np.arange(5, dtype=np.float32))
    for idt in INTS:
        with pytest.raises(IndexError, match=r"^\[take\] index 7 is out of range for axis 0 of "
                                             r"size 5"):
            take(x, dev(backend, np.array([0, 7, 1], idt)), 0)
        with pytest.raises(IndexError, match=r"^\[take\] index -6 is out of range for axis 0 "
                                             r"of size 5"):
            take(x, dev(backend, np.array([[-6]], idt)), 0)
    with pytest.raises(IndexError, match=r"^\[take\]"):
        take(dev(backend, np.zeros((3, 0), np.float32)), dev(backend, np.array([0], np.int64)), 1)
    with pytest.raises(TypeError, match=r"^\[take\]"):
        take(x, dev(backend, np.array([0.0], np.float32)), 0)
    with pytest.raises(ValueError, match=r"^\[take\]"):
        take(x, dev(backend, np.array([0], np.int32)), 1)


SCATTER_CASES = [((4,), 0, (4,), 5), ((4, 3), 0, (4,), 7), ((2, 6, 3), 1, (6,), 4),
                 ((2, 3), 1, (), 5), ((3, 2, 2, 5), 1, (2, 2), 3), ((0, 3), 0, (0,), 4),
                 ((2, 3, 4, 5, 3, 2), 2, (4, 5), 6), ((4096, 32), 0, (4096,), 10)]


@pytest.mark.parametrize("ushape,axis,ishape,size", SCATTER_CASES, ids=str)
@pytest.mark.parametrize("idt", INTS, ids=dname)
@pytest.mark.parametrize("dtype", FLOATS, ids=dname)
def test_scatter_add(backend, dtype, idt, ushape, axis, ishape, size):
    scatter_add = fn(backend, "scatter_add")
    rng = np.random.default_rng(15)
    u = rand(rng, ushape, dtype)
    idx = np.asarray(rng.integers(-size, size, size=ishape)).astype(idt)  # many repeats
    y = host(scatter_add(dev(backend, u), dev(backend, idx), axis, size))
    out_shape = ushape[:axis] + (size,) + ushape[axis + len(ishape):]
    want = np.zeros(out_shape, np.float64)
    np.add.at(want, (slice(None),) * axis + (idx,), u.astype(np.float64))
    assert y.dtype == u.dtype
    np.testing.assert_allclose(y, want, rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=1e-4 if dtype == np.float32 else 1e-11)


@pytest.mark.parametrize("dtype", FLOATS, ids=dname)
def test_scatter_add_is_the_adjoint_of_take(backend, dtype):
    take, scatter_add = fn(backend, "take"), fn(backend, "scatter_add")
    rng = np.random.default_rng(16)
    x = rand(rng, (4, 9, 3), dtype)
    idx = rng.integers(-9, 9, size=(5, 2)).astype(np.int64)
    g = rand(rng, (4, 5, 2, 3), dtype)
    ty = host(take(dev(backend, x), dev(backend, idx), 1))
    sx = host(scatter_add(dev(backend, g), dev(backend, idx), 1, 9))
    lhs = np.sum(ty.astype(np.float64) * g)
    rhs = np.sum(x.astype(np.float64) * sx)
    assert abs(lhs - rhs) <= 1e-4 * max(1.0, abs(lhs))


def test_scatter_add_errors(backend):
    scatter_add = fn(backend, "scatter_add")
    u = dev(backend, np.ones((4, 3), np.float32))
    with pytest.raises(IndexError, match=r"^\[scatter_add\] index 5 is out of range for axis 0 "
                                         r"of size 5"):
        scatter_add(u, dev(backend, np.array([0, 5, 1, 1], np.int64)), 0, 5)
    with pytest.raises(ValueError, match=r"^\[scatter_add\]"):
        scatter_add(u, dev(backend, np.array([0, 1, 1], np.int64)), 0, 5)  # 3 != 4
    with pytest.raises(TypeError, match=r"^\[scatter_add\]"):
        scatter_add(dev(backend, np.ones((4, 3), np.int32)),
                    dev(backend, np.array([0, 1, 1, 2], np.int64)), 0, 5)
    with pytest.raises(TypeError, match=r"^\[scatter_add\]"):
        scatter_add(u, dev(backend, np.array([0, 1, 1, 2], np.float32)), 0, 5)


@pytest.mark.parametrize("ishape", [(), (7,), (3, 4), (0,)], ids=str)
@pytest.mark.parametrize("idt", INTS, ids=dname)
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=dname)
@pytest.mark.parametrize("depth", [0, 1, 5, 300])
def test_one_hot(backend, dtype, idt, ishape, depth):
    one_hot = fn(backend, "one_hot")
    rng = np.random.default_rng(17)
    idx = np.asarray(rng.integers(-2, depth + 3, size=ishape)).astype(idt)  # some out of range
    on, off = (2.5, -1.0) if np.dtype(dtype).kind == "f" else (3.0, 0.0)
    y = host(one_hot(dev(backend, idx), depth, on, off, dname(dtype)))
    hot = idx[..., None] == np.arange(depth)
    want = np.where(hot, on, off).astype(dtype)
    assert y.dtype == np.dtype(dtype) and y.shape == ishape + (depth,)
    np.testing.assert_array_equal(y, want)


def test_one_hot_errors(backend):
    one_hot = fn(backend, "one_hot")
    with pytest.raises(TypeError, match=r"^\[one_hot\]"):
        one_hot(dev(backend, np.zeros(3, np.float32)), 4, 1.0, 0.0, "float32")
    with pytest.raises(ValueError, match=r"^\[one_hot\]"):
        one_hot(dev(backend, np.zeros(3, np.int32)), -1, 1.0, 0.0, "float32")
    with pytest.raises(ValueError, match=r"^\[one_hot\]"):
        one_hot(dev(backend, np.zeros(3, np.int32)), 4, 1.0, 0.0, "float16")


# ======================================================================================
# fill / arange
# ======================================================================================
@pytest.mark.parametrize("shape", [(), (0,), (7,), (3, 4, 5), (2, 3, 1, 2, 3, 2)], ids=str)
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=dname)
def test_fill(backend, dtype, shape):
    fill = fn(backend, "fill")
    for value in [2.75, -3.5, 0.0]:
        y = host(fill(list(shape), value, dname(dtype)))
        want = np.full(shape, value != 0 if dtype == np.bool_ else value).astype(dtype)
        assert y.dtype == np.dtype(dtype) and y.shape == shape
        np.testing.assert_array_equal(y, want)


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=dname)
@pytest.mark.parametrize("start,step,n", [(0.0, 1.0, 10), (-2.5, 0.75, 17), (5.0, -2.0, 7),
                                          (1.0, 0.0, 3), (0.0, 1.0, 0), (0.0, 3.0, 100003)])
def test_arange(backend, dtype, start, step, n):
    arange = fn(backend, "arange")
    y = host(arange(start, step, n, dname(dtype)))
    want = (start + np.arange(n, dtype=np.float64) * step).astype(dtype)
    assert y.dtype == np.dtype(dtype) and y.shape == (n,)
    np.testing.assert_array_equal(y, want)


def test_fill_arange_errors(backend):
    with pytest.raises(ValueError, match=r"^\[fill\]"):
        fn(backend, "fill")([2], 1.0, "float16")
    expect_error(backend, ValueError, r"^\[arange\]", fn(backend, "arange"), 0.0, 1.0, -1,
                 "float32")
    expect_error(backend, ValueError, r"^\[fill\]", fn(backend, "fill"), [2, -1], 1.0, "float32")


# ======================================================================================
# random_normal
# ======================================================================================
_M0, _M1, _W0, _W1 = 0xD2511F53, 0xCD9E8D57, 0x9E3779B9, 0xBB67AE85
_U32 = 0xFFFFFFFF


def _philox(ctr, key):
    """Philox 4x32-10 in pure Python (Salmon et al., SC'11; Random123 constants)."""
    c0, c1, c2, c3 = ctr
    k0, k1 = key
    for r in range(10):
        if r:
            k0, k1 = (k0 + _W0) & _U32, (k1 + _W1) & _U32
        p0, p1 = _M0 * c0, _M1 * c2
        c0, c1, c2, c3 = ((p1 >> 32) ^ c1 ^ k0) & _U32, p1 & _U32, \
            ((p0 >> 32) ^ c3 ^ k1) & _U32, p0 & _U32
    return [c0, c1, c2, c3]


def test_python_philox_known_answers():
    # Random123 known-answer vectors for philox4x32_10.
    assert _philox([0, 0, 0, 0], [0, 0]) == [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]
    assert _philox([_U32] * 4, [_U32] * 2) == [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]
    assert _philox([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
                   [0xa4093822, 0x299f31d0]) == [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]


def _normal_ref(n, seed, offset):
    out = np.empty(n)
    for q in range((n + 3) // 4):
        w = _philox([q & _U32, q >> 32, offset & _U32, offset >> 32], [seed & _U32, seed >> 32])
        for p in range(2):
            u1 = ((w[2 * p] >> 8) + 1) * 2.0 ** -24  # random_uniform's 24-bit resolution
            u2 = (w[2 * p + 1] >> 8) * 2.0 ** -24
            r = math.sqrt(-2.0 * math.log(u1))
            for j, v in enumerate((r * math.cos(2 * math.pi * u2), r * math.sin(2 * math.pi * u2))):
                if 4 * q + 2 * p + j < n:
                    out[4 * q + 2 * p + j] = v
    return out


@pytest.mark.parametrize("dtype", FLOATS, ids=dname)
def test_random_normal_matches_philox_box_muller(backend, dtype):
    random_normal = fn(backend, "random_normal")
    for n, seed, offset in [(14, 1234, 0), (7, 2**40 + 5, 3), (1, 0, 2**33 + 1)]:
        y = host(random_normal([n], seed, offset, dname(dtype)))
        assert y.dtype == np.dtype(dtype)
        np.testing.assert_allclose(y, _normal_ref(n, seed, offset),
                                   rtol=1e-6 if dtype == np.float32 else 1e-11,
                                   atol=1e-6 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("dtype", FLOATS, ids=dname)
def test_random_normal_statistics_and_determinism(backend, dtype):
    random_normal = fn(backend, "random_normal")
    y = host(random_normal([1000, 1000], 42, 7, dname(dtype)))
    assert y.shape == (1000, 1000) and y.dtype == np.dtype(dtype)
    assert np.isfinite(y).all()
    assert abs(float(y.mean())) < 5e-3
    assert abs(float(y.std()) - 1.0) < 5e-3
    assert abs(float(np.mean(y.astype(np.float64) ** 4)) - 3.0) < 0.05  # Gaussian kurtosis
    again = host(random_normal([1000, 1000], 42, 7, dname(dtype)))
    np.testing.assert_array_equal(y, again)
    other_offset = host(random_normal([1000, 1000], 42, 8, dname(dtype)))
    other_seed = host(random_normal([1000, 1000], 43, 7, dname(dtype)))
    assert not np.array_equal(y, other_offset) and not np.array_equal(y, other_seed)
    assert host(random_normal([], 1, 0, dname(dtype))).shape == ()
    assert host(random_normal([0, 3], 1, 0, dname(dtype))).shape == (0, 3)


def test_random_normal_errors(backend):
    random_normal = fn(backend, "random_normal")
    with pytest.raises(ValueError, match=r"^\[random_normal\]"):
        random_normal([3], 1, 0, "float16")
    expect_error(backend, ValueError, r"^\[random_normal\]", random_normal, [-3], 1, 0,
                 "float32")
    expect_error(backend, TypeError, r"^\[random_normal\]", random_normal, [3], 1, 0, "int32")
