"""Seeded Keras initializers give Keras's numbers.

Keras 3 and Keras 2 (tf_keras) draw an initializer with an int seed as a stateless op:
tf.random.stateless_uniform / stateless_normal / stateless_truncated_normal with the seed
[seed, 0], times the limit or stddev VarianceScaling computes (Orthogonal: QR of a stateless
normal draw, columns' signs fixed by diag(R)). The constants below were printed by Keras 3.15.1
and tf_keras 2.21.0 (TensorFlow 2.21.0, CPU), e.g.

    import numpy as np, keras, tf_keras
    np.set_printoptions(floatmode="unique")
    print(np.asarray(keras.initializers.RandomUniform(seed=1)((2, 3), dtype="float32")))
    print(np.asarray(tf_keras.initializers.RandomUniform(seed=1)((2, 3), dtype="float32")))

Both print the same numbers except where noted: a float64 uniform's bounds (Keras 3's TF
backend rounds them to float32 first) and seeds outside [0, 2**31 - 3] (Keras 3 takes them
modulo 2**31 - 2); there nabi follows Keras 2 and the constants are tf_keras's.
Uniform and normal draws match bit for bit (normals: with nabi._C.box_muller, which calls the
C library's logf / sincosf as TF does; NumPy's log / sin / cos, the fallback, are a few ulps off);
Orthogonal to the rounding of the QR.
"""
import math

import numpy as np
import pytest

import nabi as tf
from nabi.keras import initializers as I

try:
    from nabi import _C
    EXACT_NORMALS = hasattr(_C, "box_muller")
except ImportError:
    EXACT_NORMALS = False
CONV = (3, 3, 2, 4)   # a conv kernel: fan_in 18, fan_out 36

# (initializer, shape, dtype, slice of the flattened values, Keras's values)
UNIFORM = [
    (lambda: I.RandomUniform(seed=1), (2, 3), "float32", slice(None),
     [0.03784882, -0.004001975, 0.010029126, -0.010740232, -0.024680674, -0.0055700764]),
    # float64, bounds exact in float32: Keras 3 and tf_keras agree
    (lambda: I.RandomUniform(-1.0, 2.0, seed=42), (5,), "float64", slice(None),
     [-0.22160366830369327, 1.17100606124961, 0.8863568452739681, -0.8800391787297697,
      -0.9108938534594859]),
    (lambda: I.GlorotUniform(seed=1), CONV, "float32", slice(0, 5),
     [0.25232545, -0.026679844, 0.066860825, -0.07160154, -0.16453783]),
    (lambda: I.HeUniform(seed=42), (2, 3), "float32", slice(None),
     [-0.7536737, -0.005483985, 0.7463702, -1.6620688, -1.4597788, 0.43841445]),
    (lambda: I.LecunUniform(seed=42), (5,), "float32", slice(None),
     [-0.33705312, -0.0024525523, 0.33378685, -0.74329984, -0.652833]),
    # tf_keras's (Keras 3.15: -0.16871131417937385, 0.2118508918455233, ...: its float32 limit)
    (lambda: I.VarianceScaling(0.7, "fan_out", "uniform", seed=1), CONV, "float64",
     slice(-4, None),
     [-0.16871130918877786, 0.21185088557882914, 0.22293103770519684, -0.1589422107998957]),
    (lambda: I.get({"class_name": "GlorotUniform", "config": {"seed": 3}}), (3, 4), "float32",
     slice(0, 4), [-0.56306005, 0.81350935, 0.05976206, 0.6314858]),
    (lambda: I.deserialize({"class_name": "glorot_uniform", "config": {"seed": 3}}), (3, 4),
     "float32", slice(0, 4), [-0.56306005, 0.81350935, 0.05976206, 0.6314858]),
    # tf_keras's: the seed as given (Keras 3.15 takes it mod 2**31 - 2 and prints
    # [-0.028041184, 0.0027770028, ...] and [0.025761548, 0.013377216, ...])
    (lambda: I.RandomUniform(seed=-5), (4,), "float32", slice(None),
     [0.045877967, -0.003853798, -0.048879124, -0.009507023]),
    (lambda: I.RandomUniform(seed=2**31 + 7), (4,), "float32", slice(None),
     [0.03438003, 0.0027901307, 0.026063178, -0.028993536]),
]

NORMAL = [
    (lambda: I.RandomNormal(0.5, 2.0, seed=1), (2, 3), "float32", slice(None),
     [0.7533006, -0.48603314, 1.7623814, -1.0776931, 1.6366178, -2.6139874]),
    (lambda: I.RandomNormal(0.5, 2.0, seed=1), (2, 3), "float64", slice(None),
     [-4.564173331451338, 2.227844740080905, -4.911657609757957, 0.27230791046301106,
      0.5638041033498075, 3.3542764406184924]),
    (lambda: I.TruncatedNormal(seed=42), (5,), "float32", slice(None),
     [0.0007908538, -0.07950435, 0.0051797233, 0.0405873, -0.0010703926]),
    (lambda: I.TruncatedNormal(1.0, 3.0, seed=42), (5,), "float64", slice(None),
     [-3.8606280527162147, 0.18841733475463152, -1.892670087670881, 6.409054283290325,
      0.4830471520045564]),
    (lambda: I.GlorotNormal(seed=1), (2, 3), "float32", slice(None),
     [0.09106225, -0.35448155, 0.4538295, -0.56718487, -0.65419155, -0.28700176]),
    (lambda: I.HeNormal(seed=42), CONV, "float32", slice(0, 5),
     [0.0059938664, -0.60256195, 0.039257023, 0.30761036, -0.008112485]),
    (lambda: I.LecunNormal(seed=1), (5,), "float64", slice(None),
     [0.43922982974867614, -0.05788087054498261, -0.733119910358184, 0.11730350628989067,
      0.2272160279661864]),
    (lambda: I.VarianceScaling(0.7, "fan_avg", "untruncated_normal", seed=42), (2, 3),
     "float32", slice(None),
     [0.00836961, -0.8413949, 0.054817036, 0.42953557, -0.85211974, -0.83558357]),
    (lambda: I.VarianceScaling(0.7, "fan_in", "normal", seed=1), CONV, "float32", slice(0, 5),
     [0.028393643, -0.110529035, 0.14150621, -0.17685096, -0.20398004]),
    (lambda: I.deserialize({"class_name": "HeNormal", "config": {"seed": 42}}), CONV,
     "float32", slice(0, 5), [0.0059938664, -0.60256195, 0.039257023, 0.30761036,
                              -0.008112485]),
]

ORTHOGONAL = [
    (lambda: I.Orthogonal(seed=7), (5, 3), "float32", slice(None),
     [-0.30279422, -0.021691667, -0.68385327, -0.6615271, -0.71232706, 0.19924828, -0.5394928,
      0.5017767, -0.13793366, -0.2101133, 0.20725782, -0.33794534, -0.36810014, 0.44427925,
      0.5995097]),
    (lambda: I.Orthogonal(1.5, seed=7), (3, 5), "float64", slice(None),
     [0.030445904560720938, -0.37043748489139966, 0.9223543954646887, 0.7202146711002921,
      0.8616277115910791, -0.2725234919204194, 1.2971718256186027, 0.5929872500169983,
      -0.3190073044189987, 0.1991900153557041, -0.8400971891157694, 0.04502382246954589,
      -0.8126485373069643, -0.02366945319955814, 0.9387500626088393]),
    (lambda: I.Orthogonal(seed=7), (2, 2, 3, 4), "float32", slice(0, 6),
     [-0.1511941, -0.14440054, -0.60026246, -0.33534294, -0.44993454, -0.44851804]),
]


def _draw(make, shape, dtype):
    init = make()
    a = init(shape, dtype=dtype).numpy()
    assert a.shape == shape and a.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(init(shape, dtype=dtype).numpy(), a)   # repeats, as Keras
    return a


@pytest.mark.parametrize("make,shape,dtype,sl,want", UNIFORM)
def test_uniform_family_bit_for_bit(make, shape, dtype, sl, want):
    a = _draw(make, shape, dtype)
    np.testing.assert_array_equal(a.reshape(-1)[sl], np.array(want, dtype))


@pytest.mark.parametrize("make,shape,dtype,sl,want", NORMAL)
def test_normal_family(make, shape, dtype, sl, want):
    a = _draw(make, shape, dtype).reshape(-1)[sl]
    want = np.array(want, dtype)
    if EXACT_NORMALS:
        np.testing.assert_array_equal(a, want)
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(a, want, rtol=4 * eps, atol=4 * eps * np.abs(want).max())


@pytest.mark.parametrize("make,shape,dtype,sl,want", ORTHOGONAL)
def test_orthogonal(make, shape, dtype, sl, want):
    a = _draw(make, shape, dtype)
    np.testing.assert_allclose(a.reshape(-1)[sl], np.array(want, dtype),
                               atol=2e-6 if dtype == "float32" else 1e-12)
    m = a.reshape(-1, shape[-1]).astype(np.float64)
    small = m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T
    gain = make().gain
    np.testing.assert_allclose(small, gain ** 2 * np.eye(len(small)), atol=1e-5)


def _fans(shape):
    if len(shape) == 1:
        return shape[0], shape[0]
    rf = int(np.prod(shape[:-2]))
    return shape[-2] * rf, shape[-1] * rf


@pytest.mark.parametrize("shape", [(6,), (4, 5), CONV])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg"])
@pytest.mark.parametrize("dist", ["uniform", "truncated_normal", "untruncated_normal"])
def test_variance_scaling_is_the_stateless_draw_scaled(shape, dtype, mode, dist):
    # secondary check (the constants above are the reference): Keras's formula, transcribed
    fi, fo = _fans(shape)
    n = {"fan_in": fi, "fan_out": fo, "fan_avg": (fi + fo) / 2}[mode]
    scale = 0.7 / max(1.0, n)
    seed = [11, 0]
    if dist == "uniform":
        lim = math.sqrt(3 * scale)
        want = tf.random.stateless_uniform(shape, seed, -lim, lim, dtype=dtype)
    elif dist == "truncated_normal":
        want = tf.random.stateless_truncated_normal(
            shape, seed, 0.0, math.sqrt(scale) / 0.8796256610342398, dtype=dtype)
    else:
        want = tf.random.stateless_normal(shape, seed, 0.0, math.sqrt(scale), dtype=dtype)
    got = I.VarianceScaling(0.7, mode, dist, seed=11)(shape, dtype=dtype)
    np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_seeded_ignores_global_seed_and_unseeded_differs():
    a = I.GlorotUniform(seed=5)((3, 4)).numpy()
    tf.random.set_seed(123)
    np.testing.assert_array_equal(I.GlorotUniform(seed=5)((3, 4)).numpy(), a)
    u1 = I.GlorotUniform()((3, 4)).numpy()
    assert not np.array_equal(u1, a)
    tf.random.set_seed(None)


def test_bounds_and_moments_large_draw():
    # the draw's distribution, independently of the constants: HeUniform's limit, GlorotNormal's
    # truncation at two (corrected) standard deviations
    a = I.HeUniform(seed=3)((300, 200)).numpy()
    lim = math.sqrt(6 / 300)
    assert a.min() >= -lim and a.max() < lim and abs(a.std() - lim / math.sqrt(3)) < 0.02 * lim
    g = I.GlorotNormal(seed=3)((300, 200)).numpy()
    sd = math.sqrt(2 / 500)
    assert np.abs(g).max() <= 2 * sd / 0.8796256610342398 + 1e-7
    assert abs(g.std() - sd) < 0.03 * sd


@pytest.mark.skipif(not EXACT_NORMALS, reason="this build has no nabi._C.box_muller")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_box_muller_is_the_c_librarys_scalar_calls(dtype):
    # reference: TF's BoxMullerFloat / BoxMullerDouble on Linux, element by element through
    # ctypes: r = sqrt(-2 logf(u1)); sincosf(v1, &s, &c); (s * r, c * r)
    import ctypes
    import ctypes.util
    libm = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
    ct = ctypes.c_float if dtype == "float32" else ctypes.c_double
    log = libm.logf if dtype == "float32" else libm.log
    sincos = libm.sincosf if dtype == "float32" else libm.sincos
    log.restype, log.argtypes = ct, [ct]
    sincos.restype, sincos.argtypes = None, [ct, ctypes.POINTER(ct), ctypes.POINTER(ct)]
    rng = np.random.default_rng(0)
    u1 = np.maximum(rng.random(300), 1e-7).astype(dtype)
    v1 = (2 * np.pi * rng.random(300)).astype(dtype)
    f0, f1 = _C.box_muller(u1, v1)
    t = np.dtype(dtype).type
    for i in range(300):
        r = np.sqrt(t(-2.0) * t(log(u1[i])))
        s, c = ct(), ct()
        sincos(v1[i], ctypes.byref(s), ctypes.byref(c))
        assert f0[i] == t(s.value) * r and f1[i] == t(c.value) * r, i
    with pytest.raises((TypeError, ValueError), match="box_muller"):
        _C.box_muller(u1, v1[:5])


# ---- unseeded initializers after keras.utils.set_random_seed (Keras 2's rule) ----------------
# tf_keras 2.21.0 (TF_USE_LEGACY_KERAS=1, TF 2.21) printed these for:
#   keras.utils.set_random_seed(7)
#   m = Sequential([Input((6,)), Dense(4, activation="relu"), Dropout(0.5),
#                   Dense(3, kernel_initializer="he_normal"), Dense(2)])
#   r = Sequential([Input((5, 3)), LSTM(2)])
#   init = GlorotUniform(); a, b = init((2, 2)), init((2, 2))
# (the first three values of m's kernels, r's kernel and recurrent kernel, a and b). Each
# unseeded initializer takes randint(1, 10**9) from random.Random(7) on its first call and draws
# statelessly with [that, 0]; a reused instance repeats its values. Before, nabi drew these from
# its own generator (same run-to-run, different from Keras).
_KERAS2_SEED7 = [
    [-0.2828531861305237, 0.3561135530471802, 0.7032030820846558],
    [-0.21311736106872559, 0.2247033566236496, -0.49655476212501526],
    [1.0709681510925293, -0.4270516037940979, 0.0996561050415039],
    [0.5231931805610657, 0.14427882432937622, 0.38715261220932007],
    [0.2539360523223877, -0.2267843335866928, 0.22805865108966827],   # Orthogonal (QR)
    [-0.7805877923965454, 0.8708666563034058, 0.9306532144546509],
    [-0.7805877923965454, 0.8708666563034058, 0.9306532144546509],
]


def _seed7_weights(seed_fn):
    keras = tf.keras
    try:
        seed_fn(7)
        m = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4, activation="relu"),
                              keras.layers.Dropout(0.5),
                              keras.layers.Dense(3, kernel_initializer="he_normal"),
                              keras.layers.Dense(2)])
        r = keras.Sequential([keras.Input((5, 3)), keras.layers.LSTM(2)])
        init = keras.initializers.GlorotUniform()
        a, b = init((2, 2)), init((2, 2))
        return [np.asarray(w).ravel()[:3] for w in
                m.get_weights()[::2] + r.get_weights()[:2] + [a.numpy(), b.numpy()]]
    finally:
        keras.utils.set_random_seed(0)


@pytest.mark.parametrize("how", ["keras.utils.set_random_seed", "tf.random.set_seed"])
def test_unseeded_initializers_after_a_seed_equal_keras2(how):
    # keras.utils.set_random_seed is Keras's way; nabi's tf.random.set_seed starts the same
    # stream (in Keras it leaves unseeded initial weights unseeded)
    fn = tf.keras.utils.set_random_seed if how.startswith("keras") else tf.random.set_seed
    got = _seed7_weights(fn)
    for i, (g, ref) in enumerate(zip(got, _KERAS2_SEED7)):
        # uniform / truncated-normal draws are bit-equal; the Orthogonal one goes through QR
        np.testing.assert_allclose(g, np.float32(ref), rtol=0 if i != 4 else 1e-6,
                                   atol=0 if i != 4 else 1e-7, err_msg=f"weights {i}")


def test_unseeded_initializers_without_a_seed_use_nabis_generator():
    from nabi.keras import initializers as kinit
    saved = kinit._keras_seed_generator()
    kinit._set_keras_seed_generator(None)
    try:
        init = tf.keras.initializers.GlorotUniform()
        a, b = init((3, 2)).numpy(), init((3, 2)).numpy()
    finally:
        kinit._set_keras_seed_generator(saved)
    assert not np.array_equal(a, b)       # no Keras seed: a fresh draw per call
    assert np.all(np.abs(a) <= math.sqrt(6 / 5)) and np.all(np.abs(b) <= math.sqrt(6 / 5))
