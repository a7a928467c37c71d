"""keras.ops semantics that a differential sweep against Keras 3.15 (TensorFlow backend) found
wrong in nabi; each test says what Keras does and what nabi did before. Expected values come
from NumPy references written here, never from Keras or from nabi itself."""
import numpy as np
import pytest

import nabi as tf
from nabi import keras
from helpers import assert_array, fd_check  # noqa: F401

ops = keras.ops
RNG = np.random.default_rng(11)


def _np(t):
    return t.numpy() if isinstance(t, tf.Tensor) else np.asarray(t)


# ---------------------------------------------------------------- saturate_cast


@pytest.mark.parametrize("x, dtype, ref", [
    # a bool input is in range: nabi clipped it as if True were every value (all ones)
    (np.array([True, False, True]), "int32", [1, 0, 1]),
    # int32 -> int64 widens: nabi raised OverflowError clipping int32 by int64's limits
    (np.array([5, -7], np.int32), "int64", [5, -7]),
    # float64 -> float32 clamps to float32's finite range (nabi gave inf)
    (np.array([1e300, -1e300, 1.5]), "float32",
     [np.finfo(np.float32).max, np.finfo(np.float32).min, 1.5]),
    # float -> int64: the bound 2**63 - 1 rounds up in float, so it is moved one step inward
    (np.array([3e19, -3e19, 2.0], np.float32), "int64",
     [int(np.nextafter(np.float32(2.0 ** 63), np.float32(0))), -2 ** 63, 2]),
    (np.array([3e9, -3e9, 7.9], np.float32), "int32",
     [int(np.nextafter(np.float32(2.0 ** 31), np.float32(0))), -2 ** 31, 7]),
    (np.array([3 * 10 ** 9, -3 * 10 ** 9, 9], np.int64), "int32", [2 ** 31 - 1, -2 ** 31, 9]),
    # Keras 3 clamps to [0, 1] for a bool target, so negatives become False (nabi: True)
    (np.array([-5.0, 0.0, 0.25, 2.0]), "bool", [False, False, True, True]),
])
def test_saturate_cast(x, dtype, ref):
    # Keras 3: clip to the target range (bounds in x's dtype, rounded inward), then cast
    out = ops.saturate_cast(x, dtype)
    assert out.dtype == tf.as_dtype(dtype)
    np.testing.assert_array_equal(_np(out), np.asarray(ref, dtype=tf.as_dtype(dtype).as_numpy_dtype))
    # the same through the shared op
    np.testing.assert_array_equal(_np(tf.saturate_cast(tf.constant(x), dtype)), _np(out))


def test_saturate_cast_widening_keeps_inf_and_gradient():
    # float32 -> float64 has nothing to clamp: infinities stay (a clamp to float32's range
    # would turn them finite); the gradient passes where no clamp acts
    out = ops.saturate_cast(np.array([np.inf, -np.inf, 1.0], np.float32), "float64")
    np.testing.assert_array_equal(_np(out), [np.inf, -np.inf, 1.0])
    x = tf.Variable(np.array([1e300, 2.0]))
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(tf.saturate_cast(x, tf.float32) * tf.constant([0.5, 5.0]))
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), [0.0, 5.0])


# ---------------------------------------------------------------- quantile / median


SPECIAL = np.array([[1.0, np.nan, 2.0, 4.0], [np.inf, -np.inf, 0.0, 1.0],
                    [-0.0, 0.0, 5.0, np.inf]], np.float32)


@pytest.mark.parametrize("axis", [None, 0, 1])
def test_median_nan_propagates(axis):
    # Keras 3 (and NumPy): a NaN in a slice makes its median NaN; nabi sorted NaN last and
    # returned the middle element (median of the whole array was 2.0)
    ref = np.median(SPECIAL, axis=axis)
    out = ops.median(SPECIAL, axis=axis)
    np.testing.assert_array_equal(np.isnan(_np(out)), np.isnan(ref))


def test_median_exact_position_next_to_inf():
    # median([-0, 1, inf]) is 1 in Keras 3 and np.median; nabi's interpolation
    # 1 + (inf - 1) * 0 gave nan
    x = np.array([[1.0, np.inf, -0.0], [3.0, -np.inf, 2.0]], np.float32)
    assert_array(ops.median(x, axis=1), np.median(x, axis=1), rtol=0, atol=0)
    assert_array(ops.quantile(x, [0.0, 0.5, 1.0], axis=1),
                 [[-0.0, -np.inf], [1.0, 2.0], [np.inf, 3.0]], rtol=0, atol=0)


@pytest.mark.parametrize("method", ["linear", "lower", "higher", "midpoint", "nearest"])
def test_quantile_nan_rows(method):
    x = RNG.standard_normal((3, 5))
    x[1, 2] = np.nan
    ref = np.quantile(x, [0.3, 0.8], axis=1, method=method)
    assert_array(ops.quantile(x, [0.3, 0.8], axis=1, method=method), ref, rtol=1e-6, atol=0)


def test_quantile_gradient():
    fd_check(lambda a: ops.quantile(a, [0.3, 0.5], axis=1), [RNG.standard_normal((3, 6))])


# ---------------------------------------------------------------- normalize


@pytest.mark.parametrize("axis", [-1, 0, (0, 1), (1, 2), (0, 1, 2)])
def test_normalize_l2_over_axes(axis):
    # Keras 3: order=2 divides by sqrt(sum(x**2)) over every axis given; nabi took a 2-tuple
    # axis as a matrix norm (the largest singular value)
    x = RNG.standard_normal((2, 3, 4))
    ref = x / np.maximum(np.sqrt(np.sum(x * x, axis=axis, keepdims=True)), 1e-7)
    assert_array(ops.normalize(x, axis=axis), ref, rtol=1e-6, atol=1e-12)
    fd_check(lambda a: ops.normalize(a, axis=axis), [x])


# ---------------------------------------------------------------- dtype rules


def test_bool_square_and_mod_are_int32():
    # Keras 3 casts bool to int32 for square and mod; nabi returned int8
    b = np.array([True, False, True])
    out = ops.square(b)
    assert out.dtype == tf.int32
    np.testing.assert_array_equal(_np(out), b.astype(np.int32) ** 2)
    out = ops.mod(b, np.array([True, True, True]))
    assert out.dtype == tf.int32
    np.testing.assert_array_equal(_np(out), np.mod(b.astype(np.int32), 1))


@pytest.mark.parametrize("name, ref", [("deg2rad", np.deg2rad), ("rad2deg", np.rad2deg)])
def test_int64_to_float64(name, ref):
    # Keras 3: deg2rad / rad2deg / hypot / correlate of int64 are float64 (other ints float32);
    # nabi gave float32
    x = np.array([-3, 0, 7, 180], np.int64)
    assert_array(getattr(ops, name)(x), ref(x.astype(np.float64)), rtol=1e-12, atol=0,
                 dtype=np.float64)
    assert getattr(ops, name)(x.astype(np.int32)).dtype == tf.float32
    assert_array(ops.hypot(x, np.int64(4)), np.hypot(x, 4.0), rtol=1e-12, atol=0,
                 dtype=np.float64)
    a, v = np.array([1, 2, 3, 4], np.int64), np.array([1, -1], np.int64)
    assert_array(ops.correlate(a, v), np.correlate(a, v).astype(np.float64), rtol=1e-12,
                 atol=0, dtype=np.float64)


def test_hypot_does_not_overflow():
    # Keras 3 computes max * sqrt(1 + (min / max)**2); nabi squared first: 1e20 gave inf
    a = np.array([1e20, 3e38, 0.0, 3.0, -np.inf, 0.0], np.float32)
    b = np.array([1e20, 1e38, 0.0, -4.0, 2.0, -0.0], np.float32)
    assert_array(ops.hypot(a, b), np.hypot(a, b), rtol=1e-6, atol=0, dtype=np.float32)
    fd_check(lambda x, y: ops.hypot(x, y), [RNG.standard_normal(5), RNG.standard_normal(5)])


def test_full_defaults_to_float32():
    # Keras 3: full(shape, fill_value) is floatx unless dtype is given (nabi kept 2 -> int32,
    # np.float64 -> float64, True -> bool)
    for v in (2, True, np.float64(1.5), np.array(3, np.int64)):
        out = ops.full((2, 3), v)
        assert out.dtype == tf.float32
        np.testing.assert_array_equal(_np(out), np.full((2, 3), v, np.float32))
    assert ops.full((2,), 2, dtype="int64").dtype == tf.int64


def test_creation_dtypes_follow_arguments():
    # Keras 3 resolves the dtype from the arguments' dtypes (NumPy scalars are not weak);
    # nabi made arange(np.int64(5)) int32 and linspace(float64 arrays) float32
    out = ops.arange(np.int64(5))
    assert out.dtype == tf.int64
    np.testing.assert_array_equal(_np(out), np.arange(5))
    assert ops.arange(np.float64(2.5)).dtype == tf.float64
    assert ops.arange(1, 7, 2).dtype == tf.int32 and ops.arange(0, 2, 0.5).dtype == tf.float32
    lo, hi = np.array([0.0, 1.0]), np.array([1.0, 3.0])
    assert_array(ops.linspace(lo, hi, 4, axis=1), np.linspace(lo, hi, 4, axis=1), rtol=1e-12,
                 atol=0, dtype=np.float64)
    assert ops.linspace(0, 4, 3).dtype == tf.float32
    assert ops.logspace(np.float64(0), 2, 3).dtype == tf.float64
    # retstep's step is a tensor of the result's dtype (NumPy float64 before)
    out, step = ops.linspace(0, 1, 5, retstep=True)
    assert step.dtype == tf.float32 and float(step.numpy()) == 0.25


@pytest.mark.parametrize("a, b, ref", [
    (1, 2.5, np.float32(3.5)), (True, 2, np.int32(3)), (1.5, True, np.float32(2.5)),
    (2, 3, np.int32(5))])
def test_two_python_scalars(a, b, ref):
    # Keras 3 promotes two Python scalars weakly (int with float -> float32); nabi raised a
    # dtype mismatch
    out = ops.add(a, b)
    assert out.dtype == tf.as_dtype(ref.dtype)
    assert _np(out) == ref
    assert ops.where(np.array([True, False]), a, b).dtype == tf.as_dtype(ref.dtype)


def test_bool_matmul_is_bool():
    # Keras 3 (and NumPy): bool @ bool is bool (any of the products); nabi gave int32 counts
    a = RNG.random((3, 4)) > 0.5
    b = RNG.random((4, 2)) > 0.5
    out = ops.matmul(a, b)
    assert out.dtype == tf.bool
    np.testing.assert_array_equal(_np(out), a @ b)


def test_meshgrid_ravels_nd_inputs():
    # NumPy and Keras 3 flatten N-D inputs; nabi raised
    x, y = np.arange(6.0).reshape(2, 3), np.array([1.0, 2.0])
    for idx in ("xy", "ij"):
        for o, r in zip(ops.meshgrid(x, y, indexing=idx), np.meshgrid(x, y, indexing=idx)):
            assert_array(o, r, rtol=0, atol=0)


# ---------------------------------------------------------------- axes and scalars


@pytest.mark.parametrize("name", ["sum", "mean", "max", "prod", "all", "logsumexp", "flip",
                                  "count_nonzero", "squeeze", "expand_dims"])
def test_repeated_axis_raises(name):
    # Keras 3 and NumPy raise on a repeated axis; nabi reduced (or flipped) once and returned
    x = np.ones((1, 3))
    with pytest.raises(ValueError, match="repeats an axis"):
        getattr(ops, name)(x, axis=(0, -2)) if name != "expand_dims" else \
            ops.expand_dims(x, (0, -4))


def test_bitwise_ops_keep_scalar_shape():
    # a 0-d operand gave a (1,) result (NumPy's ascontiguousarray makes 0-d arrays 1-D)
    out = ops.bitwise_invert(np.int32(5))
    assert out.shape == () and int(out.numpy()) == ~5
    out = tf.bitwise.bitwise_and(tf.constant(6), tf.constant(3))
    assert out.shape == () and int(out.numpy()) == 6 & 3


# ---------------------------------------------------------------- image.resize dtype


def _bilinear_ref(img, th, tw):
    """TF2's bilinear resize (half-pixel centres, edges clamped) of (H, W, C), in float64."""
    def weights(n_in, n_out):
        src = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
        lo = np.floor(src)
        frac = src - lo
        return (np.clip(lo, 0, n_in - 1).astype(int), np.clip(lo + 1, 0, n_in - 1).astype(int),
                frac)
    y0, y1, fy = weights(img.shape[0], th)
    x0, x1, fx = weights(img.shape[1], tw)
    a = img.astype(np.float64)
    rows = a[y0] * (1 - fy)[:, None, None] + a[y1] * fy[:, None, None]
    return rows[:, x0] * (1 - fx)[None, :, None] + rows[:, x1] * fx[None, :, None]


@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.float64])
def test_resize_keeps_input_dtype(dtype):
    # Keras 3: resize returns the images' dtype, integers rounded half to even and clamped;
    # nabi returned float32 for bilinear (uint8 images came back as float32)
    img = (RNG.random((3, 5, 2)) * 255).astype(dtype)
    ref = _bilinear_ref(img, 4, 7)
    x = tf.constant(img)       # (uint8 on the GPU is stored as int64, a documented limit)
    out = ops.image.resize(x, (4, 7))
    assert out.dtype == x.dtype
    if np.dtype(dtype).kind in "iu":
        np.testing.assert_array_equal(_np(out), np.clip(np.round(ref), 0, 255))
    else:
        assert_array(out, ref, rtol=1e-5, atol=1e-4)


# ---------------------------------------------------------------- normalization layers as ops


def _ln_ref(x, axis, gamma=None, beta=None, eps=1e-7):
    m = x.mean(axis=axis, keepdims=True)
    v = x.var(axis=axis, keepdims=True)
    y = (x - m) / np.sqrt(v + eps)
    return y * (1 if gamma is None else gamma) + (0 if beta is None else beta)


def test_layer_normalization_gamma_along_a_middle_axis():
    # Keras 3 lays a lower-rank gamma/beta along `axis`; nabi broadcast them against the last
    # axis, which silently scaled the wrong entries when the sizes agreed (3 and 3 here)
    x = RNG.standard_normal((2, 3, 3))
    g, b = RNG.standard_normal(3), RNG.standard_normal(3)
    ref = _ln_ref(x, 1, g.reshape(1, 3, 1), b.reshape(1, 3, 1))
    assert_array(ops.layer_normalization(x, gamma=g, beta=b, axis=1), ref, rtol=1e-6)
    g2 = RNG.standard_normal((3, 3))
    ref = _ln_ref(x, (1, 2), g2.reshape(1, 3, 3))
    assert_array(ops.layer_normalization(x, gamma=g2, axis=(1, 2)), ref, rtol=1e-6)
    fd_check(lambda a, gg: ops.layer_normalization(a, gamma=gg, axis=1), [x, g])


def test_layer_normalization_rms_scaling_and_rms_scale_none():
    # Keras 3: rms_scaling=True divides by sqrt(var + eps) without centring (nabi raised
    # TypeError); rms_normalization's scale defaults to None (nabi failed on scale=None)
    x = RNG.standard_normal((2, 5))
    g = RNG.standard_normal(5)
    ref = x / np.sqrt(x.var(axis=-1, keepdims=True) + 1e-7) * g
    assert_array(ops.layer_normalization(x, gamma=g, rms_scaling=True), ref, rtol=1e-6)
    ref = x / np.sqrt((x * x).mean(axis=-1, keepdims=True) + 1e-7)
    assert_array(ops.rms_normalization(x, scale=None), ref, rtol=1e-6)


def test_relu_of_integers_and_clip_of_integers():
    # Keras 3 (tf.nn.relu/relu6) keeps integer inputs integer; nabi raised TypeError
    x = np.array([-3, 0, 4, 9], np.int32)
    out = ops.relu(x)
    assert out.dtype == tf.int32
    np.testing.assert_array_equal(_np(out), np.maximum(x, 0))
    np.testing.assert_array_equal(_np(ops.relu6(x)), np.clip(x, 0, 6))
    # Keras 3 refuses a fractional bound for an integer tensor; nabi truncated 1.5 to 1
    with pytest.raises(TypeError, match="clip"):
        ops.clip(x, -1.5, 1.5)
    np.testing.assert_array_equal(_np(ops.clip(x, -1.0, 2)), np.clip(x, -1, 2))


# ---------------------------------------------------------------- Keras 3 arguments nabi lacked


@pytest.mark.parametrize("reduction", [None, "add", "max", "min", "mul"])
def test_scatter_update_reduction(reduction):
    # Keras 3's reduction= combines updates with the values at the indices (repeated indices
    # compound); nabi raised TypeError on the argument
    x = RNG.standard_normal((4, 3))
    # a repeated index (compounding) except for plain updates, whose order TF leaves open
    idx = np.array([[0, 1], [2, 2], [0, 1] if reduction else [3, 0]])
    upd = RNG.standard_normal(3)
    ref = x.copy()
    for (i, j), u in zip(idx, upd):
        ref[i, j] = {None: u, "add": ref[i, j] + u, "max": max(ref[i, j], u),
                     "min": min(ref[i, j], u), "mul": ref[i, j] * u}[reduction]
    assert_array(ops.scatter_update(x, idx, upd, reduction=reduction), ref, rtol=1e-12, atol=0)


def test_scatter_update_mul_gradient():
    idx = np.array([[1], [3], [1]])
    fd_check(lambda a, u: ops.scatter_update(a, idx, u, reduction="mul"),
             [RNG.standard_normal((4, 2)), RNG.standard_normal((3, 2))])


def test_cholesky_upper():
    # Keras 3: upper=True returns U with x = U^T U; nabi raised TypeError on the argument
    a = RNG.standard_normal((2, 3, 3))
    a = a @ np.swapaxes(a, -1, -2) + 3 * np.eye(3)
    u = ops.cholesky(a, upper=True)
    assert_array(u, np.swapaxes(np.linalg.cholesky(a), -1, -2), rtol=1e-10, atol=1e-12)


def _attention_ref(q, k, v):
    logits = np.einsum("btnh,bsnh->bnts", q, k) / np.sqrt(q.shape[-1])
    w = np.exp(logits - logits.max(-1, keepdims=True))
    w /= w.sum(-1, keepdims=True)
    return np.einsum("bnts,bsnh->btnh", w, v)


def test_dot_product_attention_grouped_query():
    # Keras 3: key/value with fewer heads than the query serve groups of consecutive query
    # heads (head j of k/v for query heads j*G .. j*G + G-1); nabi raised ValueError
    q = RNG.standard_normal((2, 3, 4, 5))
    k, v = RNG.standard_normal((2, 6, 2, 5)), RNG.standard_normal((2, 6, 2, 5))
    ref = _attention_ref(q, np.repeat(k, 2, axis=2), np.repeat(v, 2, axis=2))
    assert_array(ops.dot_product_attention(q, k, v), ref, rtol=1e-6, atol=1e-9)
    fd_check(lambda a, b, c: ops.dot_product_attention(a, b, c), [q[:1, :2], k[:1, :3], v[:1, :3]])


def test_batch_normalization_with_broadcastable_statistics():
    # Keras 3 takes mean/variance already shaped to broadcast ((1, 1, C)); nabi raised
    x = RNG.standard_normal((2, 3, 4))
    m, var = RNG.standard_normal((1, 1, 4)), RNG.random((1, 1, 4)) + 0.5
    ref = (x - m) / np.sqrt(var + 1e-3)
    assert_array(ops.batch_normalization(x, m, var, axis=-1), ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype, acc", [(np.int8, np.int32), (np.int16, np.int32),
                                        (np.uint8, np.uint32), (np.uint16, np.uint32)])
def test_small_int_sum_prod_trace_accumulate_wide(dtype, acc):
    # Keras 3 (JAX's rule): sum/prod/trace of int8/int16 are int32, of uint8/uint16 uint32;
    # nabi kept int8, so sum([100, 100]) was -56
    x = np.array([[100, 100], [3, 120]], dtype)
    t = tf.constant(x)      # small ints on the GPU are stored as int64 (a documented limit)
    want = tf.as_dtype(acc) if t.dtype == tf.as_dtype(dtype) else t.dtype
    cases = [(ops.sum(t), x.astype(acc).sum()), (ops.sum(t, axis=0), x.astype(acc).sum(0)),
             (ops.prod(t, axis=1), x.astype(acc).prod(1)), (ops.trace(t), np.trace(x.astype(acc)))]
    for out, ref in cases:
        assert out.dtype == want
        np.testing.assert_array_equal(_np(out), ref)


def test_int8_matmul_is_int32():
    # Keras 3: int8 @ int8 accumulates in int32 and returns int32; nabi wrapped around in int8
    a = np.full((2, 3), 100, np.int8)
    b = np.full((3, 2), 100, np.int8)
    if tf.constant(a).dtype != tf.int8:
        pytest.skip("int8 lives as int64 on the GPU, whose matmul is float only")
    out = ops.matmul(a, b)
    assert out.dtype == tf.int32
    np.testing.assert_array_equal(_np(out), a.astype(np.int32) @ b.astype(np.int32))
