"""Special functions (python/nabi/ops/special_ops.py; the GPU kernel csrc/cuda/special.cu,
bound as cuda_backend.special in csrc/bindings/bind_cuda_special.cpp): lgamma, digamma, erf,
erfc, erfinv, ndtri, TF's Bessel functions and tf.math.special's dawsn, expint, fresnel_cos,
fresnel_sin and spence, against scipy.special (a test extra), forward and gradients, float32
and float64, edge values included, on the CPU and on the device.

The device cases take conftest's `where` fixture: "cpu", "emu" (NABI_EMULATE_CUDA's NumPy
emulator) and "cuda" (the real kernels: on a GPU, or on the CUDA host simulator with
NABI_TEST_PACKAGE_DIR=build/sim/pkg; a visible skip otherwise). The `backend` tests call the
kernel entry directly (cuda_backend or the emulator).

Where nabi departs from scipy on purpose (mathematical limits; CUDA's j0/y0 give the same):
J0, J1, Y0, Y1 at +-inf are 0 (scipy: NaN); I0, I1 at +-inf are +inf, +-inf (scipy: NaN);
lgamma(-inf) is +inf (scipy: -inf); spence(inf) is -inf (scipy: NaN); expint is NaN below 0 as
TF's (scipy.special.expi continues it as -E1(-x)).
"""
import numpy as np
import pytest

import nabi as tf
from nabi import _C

sp = pytest.importorskip("scipy.special")

cb = _C.cuda_backend
FLOATS = [np.float32, np.float64]
S = tf.math.special


def _grid(lo, hi, n=41):
    return np.linspace(lo, hi, n)


_BX = np.concatenate([_grid(-30, 30, 61), [-8.0, -2.0, -1e-3, 1e-6, 0.37, 1.9, 2.0, 2.1, 7.9,
                                           8.0, 8.1, 55.5]])
_POS = np.concatenate([np.geomspace(1e-4, 60, 45), [2.0, 8.0, 0.5]])
_LG = np.concatenate([_grid(-9.75, 30, 54), [1e-3, 0.5, 1.0, 2.0, 1.4616321, 170.0, 1e4, -0.5,
                                             -2.7]])
_EI = np.concatenate([np.geomspace(1e-4, 700, 60), [0.3725, 6.0, 24.0, 85.0]])
_FR = np.concatenate([_grid(-30, 30, 61), [2.5, 2.4, -2.6, 1000.3, 1e-3]])
_SP = np.concatenate([np.geomspace(1e-6, 1e6, 60), [0.5, 1.0, 2.0, 0.999]])


def _expint_ref(x):
    return np.where(x < 0, np.nan, sp.expi(x))

# name -> (nabi op, scipy reference, float64 sample points, analytic derivative)
CASES = {
    "lgamma": (tf.math.lgamma, sp.gammaln, _LG, sp.digamma),
    "digamma": (tf.math.digamma, sp.digamma, _LG, lambda x: sp.polygamma(1, x)),
    "erf": (tf.math.erf, sp.erf, _grid(-6, 6), lambda x: 2 / np.sqrt(np.pi) * np.exp(-x * x)),
    "erfc": (tf.math.erfc, sp.erfc, _grid(-6, 26), lambda x: -2 / np.sqrt(np.pi) * np.exp(-x * x)),
    "erfinv": (tf.math.erfinv, sp.erfinv,
               np.concatenate([_grid(-0.999, 0.999), [1e-9, 0.49, 0.51, 1 - 1e-7]]),
               lambda x: np.sqrt(np.pi) / 2 * np.exp(sp.erfinv(x) ** 2)),
    "ndtri": (tf.math.ndtri, sp.ndtri,
              np.concatenate([_grid(0.001, 0.999), [1e-20, 1e-7, 0.25, 0.75, 1 - 1e-9]]),
              lambda x: np.sqrt(2 * np.pi) * np.exp(sp.ndtri(x) ** 2 / 2)),
    "bessel_i0": (S.bessel_i0, sp.i0, _BX, lambda x: sp.ivp(0, x)),
    "bessel_i0e": (S.bessel_i0e, sp.i0e, np.concatenate([_BX, [-700, 700.0]]),
                   lambda x: np.exp(-np.abs(x)) * (sp.ivp(0, x) - np.sign(x) * sp.i0(x))),
    "bessel_i1": (S.bessel_i1, sp.i1, _BX, lambda x: sp.ivp(1, x)),
    "bessel_i1e": (S.bessel_i1e, sp.i1e, np.concatenate([_BX, [-700, 700.0]]),
                   lambda x: np.exp(-np.abs(x)) * (sp.ivp(1, x) - np.sign(x) * sp.i1(x))),
    "bessel_k0": (S.bessel_k0, sp.k0, _POS, lambda x: sp.kvp(0, x)),
    "bessel_k0e": (S.bessel_k0e, sp.k0e, np.concatenate([_POS, [700.0]]),
                   lambda x: np.exp(x) * (sp.kvp(0, x) + sp.k0(x))),
    "bessel_k1": (S.bessel_k1, sp.k1, _POS, lambda x: sp.kvp(1, x)),
    "bessel_k1e": (S.bessel_k1e, sp.k1e, np.concatenate([_POS, [700.0]]),
                   lambda x: np.exp(x) * (sp.kvp(1, x) + sp.k1(x))),
    "bessel_j0": (S.bessel_j0, sp.j0, _BX, lambda x: sp.jvp(0, x)),
    "bessel_j1": (S.bessel_j1, sp.j1, _BX, lambda x: sp.jvp(1, x)),
    "bessel_y0": (S.bessel_y0, sp.y0, _POS, lambda x: sp.yvp(0, x)),
    "bessel_y1": (S.bessel_y1, sp.y1, _POS, lambda x: sp.yvp(1, x)),
    "dawsn": (S.dawsn, sp.dawsn, _BX, lambda x: 1 - 2 * x * sp.dawsn(x)),
    "expint": (S.expint, _expint_ref, _EI, lambda x: np.exp(x) / x),
    "fresnel_cos": (S.fresnel_cos, lambda x: sp.fresnel(x)[1], _FR,
                    lambda x: np.cos(np.pi / 2 * x * x)),
    "fresnel_sin": (S.fresnel_sin, lambda x: sp.fresnel(x)[0], _FR,
                    lambda x: np.sin(np.pi / 2 * x * x)),
    "spence": (S.spence, sp.spence, _SP, lambda x: np.log(x) / (1 - x)),
}

# name -> [(x, expected)] at the edges (the same in float32 and float64)
EDGES = {
    "lgamma": [(0.0, np.inf), (-1.0, np.inf), (-4.0, np.inf), (np.inf, np.inf),
               (-np.inf, np.inf), (1.0, 0.0), (2.0, 0.0)],
    "digamma": [(0.0, -np.inf), (-0.0, np.inf), (-1.0, np.nan), (-3.0, np.nan),
                (np.inf, np.inf), (-np.inf, np.nan)],
    "erf": [(0.0, 0.0), (np.inf, 1.0), (-np.inf, -1.0)],
    "erfc": [(np.inf, 0.0), (-np.inf, 2.0), (0.0, 1.0)],
    "erfinv": [(0.0, 0.0), (1.0, np.inf), (-1.0, -np.inf), (1.5, np.nan), (-2.0, np.nan)],
    "ndtri": [(0.5, 0.0), (0.0, -np.inf), (1.0, np.inf), (-0.1, np.nan), (1.1, np.nan)],
    "bessel_i0": [(0.0, 1.0), (np.inf, np.inf), (-np.inf, np.inf)],
    "bessel_i0e": [(0.0, 1.0), (np.inf, 0.0), (-np.inf, 0.0)],
    "bessel_i1": [(0.0, 0.0), (np.inf, np.inf), (-np.inf, -np.inf)],
    "bessel_i1e": [(0.0, 0.0), (np.inf, 0.0), (-np.inf, 0.0)],
    "bessel_k0": [(0.0, np.inf), (-1.0, np.nan), (np.inf, 0.0)],
    "bessel_k0e": [(0.0, np.inf), (-1.0, np.nan), (np.inf, 0.0)],
    "bessel_k1": [(0.0, np.inf), (-1.0, np.nan), (np.inf, 0.0)],
    "bessel_k1e": [(0.0, np.inf), (-1.0, np.nan), (np.inf, 0.0)],
    "bessel_j0": [(0.0, 1.0), (np.inf, 0.0), (-np.inf, 0.0)],
    "bessel_j1": [(0.0, 0.0), (np.inf, 0.0), (-np.inf, 0.0)],
    "bessel_y0": [(0.0, -np.inf), (-1.0, np.nan), (np.inf, 0.0)],
    "bessel_y1": [(0.0, -np.inf), (-1.0, np.nan), (np.inf, 0.0)],
    "dawsn": [(0.0, 0.0), (np.inf, 0.0), (-np.inf, 0.0)],
    "expint": [(0.0, -np.inf), (-1.0, np.nan), (np.inf, np.inf)],
    "fresnel_cos": [(0.0, 0.0), (np.inf, 0.5), (-np.inf, -0.5)],
    "fresnel_sin": [(0.0, 0.0), (np.inf, 0.5), (-np.inf, -0.5)],
    "spence": [(0.0, np.pi ** 2 / 6), (1.0, 0.0), (-1.0, np.nan), (np.inf, -np.inf)],
}
NAMES = list(CASES)


def _ref(name, x):
    with np.errstate(all="ignore"):
        return np.asarray(CASES[name][1](np.asarray(x, np.float64)), np.float64)


def _tol(name, dtype):
    """(rtol, atol): atol covers the zeros of J, Y, digamma, lgamma (absolute accuracy there)
    and digamma's reflection (pi cot(pi x) amplifies x's rounding)."""
    if dtype == np.float32:
        return 3e-5, 3e-6
    loose = {"digamma": (1e-11, 1e-13), "lgamma": (1e-12, 1e-13)}
    return loose.get(name, (2e-13, 2e-15))


def _check(got, want, rtol, atol, what, scaled=False):
    """got ~ want; scaled: both divided by max(1, |want|) first (atol where |want| < 1, so at
    the zeros of J, Y, Ei, digamma..., and rtol + atol beyond), infinities compared exactly."""
    got = np.asarray(got, np.float64)
    assert got.shape == want.shape, what
    if scaled:
        inf = np.isinf(want)
        np.testing.assert_array_equal(got[inf], want[inf], err_msg=what)
        scale = np.maximum(1.0, np.abs(np.where(inf, 1.0, want)))
        got, want = np.where(inf, 0.0, got) / scale, np.where(inf, 0.0, want) / scale
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=what)


def _run(where, name, x, dtype):
    with tf.device(where):
        t = tf.constant(np.asarray(x, dtype))
        y = CASES[name][0](t)
    assert y.dtype == tf.as_dtype(dtype)
    if where != "/CPU:0":
        assert "GPU" in y.device
    return y.numpy()


# ---------------------------------------------------------------------------- forward
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", NAMES)
def test_forward_against_scipy(where, name, dtype):
    x = CASES[name][2].astype(dtype)
    want = _ref(name, x)
    if dtype == np.float32:  # values beyond float32's range are inf there
        with np.errstate(over="ignore"):
            want = want.astype(np.float32).astype(np.float64)
    rtol, atol = _tol(name, dtype)
    got = _run(where, name, x, dtype)
    _check(got, want, rtol, atol, f"{name} {np.dtype(dtype).name}", scaled=True)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", NAMES)
def test_edge_values(where, name, dtype):
    xs, want = zip(*EDGES[name], (np.nan, np.nan))
    got = _run(where, name, np.array(xs), dtype)
    want = np.array(want, dtype)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{name} at {xs}")
    np.testing.assert_array_equal(got[np.isinf(want)], want[np.isinf(want)])
    np.testing.assert_allclose(got, want, rtol=4 * np.finfo(dtype).eps, atol=0,
                               err_msg=f"{name} at {xs}")


@pytest.mark.parametrize("name", NAMES)
def test_shapes_empty_scalar_and_2d(where, name):
    f = CASES[name][0]
    x = CASES[name][2][:6].reshape(2, 3)
    with tf.device(where):
        assert f(tf.zeros((0, 3), tf.float32)).shape == (0, 3)
        s = f(tf.constant(float(x[0, 1])))
        assert s.shape == () and s.dtype == tf.float32
        y = f(tf.transpose(tf.constant(x)))  # a non-contiguous (transposed) input
    np.testing.assert_allclose(y.numpy(), _ref(name, x.T), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(s.numpy(), np.float32(_ref(name, x[0, 1])), rtol=3e-5, atol=3e-6)


def test_large_tails_float64(where):
    with tf.device(where):
        x = tf.constant([1e-30, 1e-300, 1e-12], tf.float64)
        np.testing.assert_allclose(tf.math.ndtri(x).numpy(),
                                   sp.ndtri([1e-30, 1e-300, 1e-12]), rtol=1e-12)
        big = np.array([100.0, 500.0, 705.0])
        np.testing.assert_allclose(S.bessel_i0(tf.constant(big)).numpy(), sp.i0(big), rtol=1e-13)
        np.testing.assert_allclose(S.bessel_k1(tf.constant(big)).numpy(), sp.k1(big), rtol=1e-13)
        assert np.isinf(S.bessel_i0(tf.constant([720.0])).numpy()).all()  # overflows, as it should
        assert np.isinf(S.bessel_i1(tf.constant([100.0], tf.float32)).numpy()).all()


# --------------------------------------------------------------------------- gradients
_GX = {  # points away from the poles and the float32-overflowing range
    "lgamma": [0.3, 1.7, 4.2, -0.4, -2.5], "digamma": [0.3, 1.7, 4.2, -0.4, -2.5],
    "erf": [-1.5, 0.0, 0.3, 2.0], "erfc": [-1.5, 0.0, 0.3, 2.0],
    "erfinv": [-0.7, 0.0, 0.1, 0.95], "ndtri": [0.1, 0.5, 0.93, 1e-5],
}


_GX.update({"expint": [0.05, 0.9, 2.0, 7.3, 25.0], "spence": [0.05, 0.7, 1.0, 1.9, 3.0, 25.0],
            "fresnel_cos": [-3.0, -0.4, 0.0, 0.7, 2.6, 9.5],
            "fresnel_sin": [-3.0, -0.4, 0.0, 0.7, 2.6, 9.5]})


def _grad_points(name):
    if name in _GX:
        return np.array(_GX[name])
    if name[7:8] in ("k", "y"):
        return np.array([0.05, 0.9, 2.0, 3.3, 9.5, 25.0])
    return np.array([-12.0, -2.5, -0.3, 0.0, 0.7, 2.0, 8.0, 9.5, 25.0])


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", NAMES)
def test_gradient_against_scipy(where, name, dtype):
    x = _grad_points(name)
    c = np.linspace(0.5, 1.5, x.size)  # sum(f(x) * c): a gradient of c * f'(x)
    with np.errstate(all="ignore"):
        want = c * np.asarray(CASES[name][3](x), np.float64)
    if name in ("bessel_i1", "bessel_i1e", "bessel_j1"):
        want[x == 0] = 0.5 * c[x == 0]
    if name == "spence":
        want[x == 1] = -c[x == 1]
    with tf.device(where):
        xt = tf.constant(x.astype(dtype))
        with tf.GradientTape() as tape:
            tape.watch(xt)
            y = tf.reduce_sum(CASES[name][0](xt) * tf.constant(c.astype(dtype)))
        g = tape.gradient(y, xt)
    assert g.dtype == tf.as_dtype(dtype)
    rtol, atol = (1e-4, 1e-5) if dtype == np.float32 else (1e-9, 1e-12)
    _check(g.numpy(), want, rtol, atol, f"d{name}/dx")


def test_gradient_float64_central_differences_of_scipy():
    """The analytic references above checked against central differences of scipy itself."""
    for name in NAMES:
        x = _grad_points(name)
        x = x[(x != 0) & (x != 1)] if name[7:8] in ("k", "y") or name == "spence" else x
        h = 1e-6 * np.clip(np.abs(x), 1e-3, 1)
        fd = (_ref(name, x + h) - _ref(name, x - h)) / (2 * h)
        np.testing.assert_allclose(CASES[name][3](x), fd, rtol=1e-5, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("name,d2", [
    ("bessel_i1", lambda x: sp.ivp(1, x, 2)), ("bessel_j0", lambda x: sp.jvp(0, x, 2)),
    ("bessel_k0e", lambda x: np.exp(x) * (sp.kvp(0, x, 2) + 2 * sp.kvp(0, x) + sp.k0(x))),
    ("bessel_y1", lambda x: sp.yvp(1, x, 2)),
    ("dawsn", lambda x: -2 * sp.dawsn(x) - 2 * x * (1 - 2 * x * sp.dawsn(x))),
    ("fresnel_sin", lambda x: np.pi * x * np.cos(np.pi / 2 * x * x)),
    ("spence", lambda x: ((1 - x) / x + np.log(x)) / (1 - x) ** 2),
    ("expint", lambda x: np.exp(x) * (x - 1) / (x * x)),
    ("erfinv", None)])
def test_second_derivative(where, name, d2):
    x = np.array([0.3, 1.1, 2.5, 9.0]) if name != "erfinv" else np.array([-0.6, 0.1, 0.8])
    if d2 is None:  # erfinv'' = 2 y y'^2 with y = erfinv(x), y' = sqrt(pi)/2 e^(y^2)
        y = sp.erfinv(x)
        want = 2 * y * (np.sqrt(np.pi) / 2 * np.exp(y * y)) ** 2
    else:
        want = d2(x)
    with tf.device(where):
        xt = tf.constant(x)
        with tf.GradientTape() as t2:
            t2.watch(xt)
            with tf.GradientTape() as t1:
                t1.watch(xt)
                y = tf.reduce_sum(CASES[name][0](xt))
            g = t1.gradient(y, xt)
        h = t2.gradient(g, xt)
    _check(h.numpy(), want, 1e-9, 1e-12, f"d2 {name}")


def test_digamma_has_first_order_only():
    x = tf.constant([0.5, 2.0], tf.float64)
    with tf.GradientTape() as t2:
        t2.watch(x)
        with tf.GradientTape() as t1:
            t1.watch(x)
            y = tf.reduce_sum(tf.math.digamma(x))
        g = t1.gradient(y, x)
        s = tf.reduce_sum(g * g)
    np.testing.assert_allclose(g.numpy(), sp.polygamma(1, [0.5, 2.0]), rtol=1e-12)
    with pytest.raises(NotImplementedError, match="digamma"):
        t2.gradient(s, x)


# --------------------------------------------------------------- CPU vs device, namespace
@pytest.mark.parametrize("dtype", FLOATS)
def test_cpu_and_device_agree(gpu, dtype):
    rtol, atol = (2e-5, 2e-6) if dtype == np.float32 else (1e-12, 1e-14)
    for name in NAMES:
        x = CASES[name][2].astype(dtype)
        cpu = _run("/CPU:0", name, x, dtype)
        dev = _run("/GPU:0", name, x, dtype)
        _check(dev, cpu.astype(np.float64), rtol, atol, name, scaled=True)


def test_device_runs_the_kernel_not_the_host(gpu, monkeypatch):
    """On the device the ops call cuda_backend.special (no copy to the host and back)."""
    from nabi.framework import device as dev
    from nabi.ops import special_ops
    seen = []
    real = dev.backend().special

    def spy(op, x):
        seen.append(op)
        return real(op, x)
    monkeypatch.setattr(dev.backend(), "special", spy)
    monkeypatch.setattr(special_ops, "special_np",
                        lambda *a: pytest.fail("computed on the host")) if gpu == "cuda" else None
    with tf.device("/GPU:0"):
        x = tf.constant([0.5, 1.5])
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.reduce_sum(S.bessel_i1(x) + tf.math.lgamma(x) + tf.math.erfinv(x / 2))
        tape.gradient(y, x)
    assert {"bessel_i1", "bessel_i0", "lgamma", "digamma", "erfinv"} <= set(seen), seen


def test_namespaces():
    for n in ["bessel_i0", "bessel_i0e", "bessel_i1", "bessel_i1e"]:
        assert getattr(tf.math, n) is getattr(tf.math.special, n)
    for n in ["bessel_j0", "bessel_j1", "bessel_y0", "bessel_y1", "bessel_k0", "bessel_k0e",
              "bessel_k1", "bessel_k1e", "dawsn", "expint", "fresnel_cos", "fresnel_sin", "spence"]:
        assert callable(getattr(tf.math.special, n))
    import nabi.math.special as m
    assert m is tf.math.special
    assert tf.math.lgamma is tf.math.lgamma and tf.math.ndtri(0.5).numpy() == 0.0



def test_keras_functional_model_saves_and_loads(tmp_path):
    """tf.math.special ops on Keras symbolic tensors become TFOpLambda layers named as TF's."""
    x = tf.keras.Input((3,))
    y = S.bessel_j0(x) + tf.math.bessel_i0e(x) + S.spence(tf.abs(x))
    m = tf.keras.Model(x, y)
    assert {"tf.math.special.bessel_j0", "tf.math.special.bessel_i0e",
            "tf.math.special.spence"} <= {layer.name for layer in m.layers}
    v = np.array([[0.5, 1.0, 2.0]], np.float32)
    want = sp.j0(v) + sp.i0e(v) + sp.spence(v)
    np.testing.assert_allclose(m(v).numpy(), want, rtol=1e-5)
    m.save(tmp_path / "m.keras")
    np.testing.assert_allclose(tf.keras.models.load_model(tmp_path / "m.keras")(v).numpy(), want,
                               rtol=1e-5)

def test_bad_input_raises_naming_the_op():
    with pytest.raises(TypeError, match=r"^\[bessel_j0\].*int32.*\(3,\)"):
        S.bessel_j0(tf.constant([1, 2, 3]))
    with pytest.raises(TypeError, match=r"^\[ndtri\]"):
        tf.math.ndtri(tf.constant([True]))


# ------------------------------------------------------------------- the kernel entry
@pytest.fixture(params=["cuda", "emu"])
def backend(request):
    if request.param == "cuda":
        if not cb.is_available():
            pytest.skip("no CUDA GPU available (" + cb.unavailable_reason() + ")")
        return cb
    from nabi.framework import cuda_emulator
    return cuda_emulator


def test_entry_registered():
    assert "special" in list(cb.KERNEL_ENTRIES)
    if not cb.built_with_cuda:
        with pytest.raises(RuntimeError, match=r"\[special\].*built without CUDA"):
            cb.special("erf", None)
    else:
        from nabi.ops import special_ops
        assert list(cb.SPECIAL_OPS) == list(special_ops.OPS)


@pytest.mark.parametrize("dtype", FLOATS)
def test_backend_special_all_ops(backend, dtype):
    from nabi.ops import special_ops
    for name in special_ops.OPS:
        x = (CASES[name][2] if name in CASES else _LG).astype(dtype)
        y = backend.special(name, backend.DeviceBuffer.from_numpy(x)).numpy()
        assert y.dtype == dtype and y.shape == x.shape
        want = sp.polygamma(1, x.astype(np.float64)) if name == "trigamma" else _ref(name, x)
        if dtype == np.float32:
            with np.errstate(over="ignore"):
                want = want.astype(np.float32).astype(np.float64)
        rtol, atol = _tol(name, dtype)
        _check(y, want, rtol, atol, name, scaled=True)
    z = backend.special("bessel_i0", backend.DeviceBuffer.from_numpy(np.zeros((2, 0), dtype)))
    assert z.numpy().shape == (2, 0)
    s = backend.special("erf", backend.DeviceBuffer.from_numpy(np.array(0.5, dtype)))
    assert s.numpy().shape == () and np.isclose(s.numpy(), sp.erf(0.5), rtol=1e-6)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name,lo,hi", [("lgamma", 0.05, 8), ("digamma", 0.05, 30),
                                        ("erf", -3, 3), ("erfc", -2, 4)])
def test_backend_many_blocks_with_nans(backend, name, lo, hi, dtype):
    """A random (129, 67) input: several 256-thread blocks of the grid-stride loop, NaN
    scattered through it (NaN in, NaN out)."""
    x = np.random.default_rng(1).uniform(lo, hi, (129, 67)).astype(dtype)
    x.flat[::97] = np.nan
    y = backend.special(name, backend.DeviceBuffer.from_numpy(x)).numpy()
    assert y.dtype == dtype and y.shape == x.shape
    want = _ref(name, x).astype(dtype).astype(np.float64)
    rtol, atol = _tol(name, dtype)
    _check(y, want, rtol, atol, name, scaled=True)


def test_backend_trigamma_edges(backend):
    x = np.array([0.0, -1.0, -2.5, np.inf, -np.inf, np.nan, 1e-3, 1e5])
    y = backend.special("trigamma", backend.DeviceBuffer.from_numpy(x)).numpy()
    want = sp.polygamma(1, x)
    want[[0, 1]] = np.inf   # the poles: scipy's polygamma gives NaN or inf there
    want[4] = np.nan
    np.testing.assert_allclose(y, want, rtol=1e-12)


def test_backend_errors(backend):
    x = backend.DeviceBuffer.from_numpy(np.ones(3, np.int32))
    with pytest.raises(TypeError, match=r"^\[special\].*'erf'.*int32"):
        backend.special("erf", x)
    f = backend.DeviceBuffer.from_numpy(np.ones(3, np.float32))
    with pytest.raises(ValueError, match=r"^\[special\] unknown op 'nope'.*bessel_j0"):
        backend.special("nope", f)
