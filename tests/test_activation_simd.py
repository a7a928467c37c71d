"""float32 SIMD activation kernels (csrc/cpu/activations_simd.h) against float64 NumPy.

Every ISA the CPU has (forced in-process with _gemm_force_isa, plus NABI_GEMM_ISA in a
subprocess): ulp error over a dense sweep of [-100, 100] and of small magnitudes, special
values (NaN, +-inf, +-0, saturation), tail lengths and misaligned slices. Results below
2^-100 are checked with an absolute bound only: the kernels run with FTZ/DAZ (parallel.h),
so intermediates that fall into denormals are flushed, in the scalar loops too.
"""
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy.special import ndtr

from nabi import _C

from helpers import cpu_isas, isa  # noqa: F401  (isa: the per-ISA fixture)

pytestmark = pytest.mark.skipif(not hasattr(_C, "_gemm_force_isa"), reason="CPU build only")

ISAS = cpu_isas()

ALPHA = 0.7  # elu
SA, SS = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
C, C3 = np.sqrt(2 / np.pi), 0.044715


def _sig(x):
    return 1 / (1 + np.exp(-x))


FORWARD = {
    "sigmoid": _sig,
    "tanh": np.tanh,
    "exponential": np.exp,
    "swish": lambda x: x / (1 + np.exp(-x)),
    # 0.5 x (1 + tanh(u)) written as x sigmoid(2u): float64 would cancel for x < -5
    "gelu_tanh": lambda x: x / (1 + np.exp(-2 * C * (x + C3 * x ** 3))),
    "elu": lambda x: np.where(x > 0, x, ALPHA * np.expm1(x)),
    "selu": lambda x: np.where(x > 0, SS * x, SS * SA * np.expm1(x)),
    "softplus": lambda x: np.logaddexp(0.0, x),
    "gelu": lambda x: x * ndtr(x),  # erf form; ndtr keeps relative accuracy in the x < 0 tail
}


def _gelu_tanh_grad(x):
    # 0.5 (1 + t) + 0.5 x (1 - t^2) u', t = tanh(u), with 1 + t = 2 s and 1 - t^2 = 4 s (1 - s)
    # (s = sigmoid(2u)): the tanh form cancels in float64 too for x < -5
    s = _sig(2 * C * (x + C3 * x ** 3))
    return s + 0.5 * x * 4 * s * (1 - s) * C * (1 + 3 * C3 * x * x)


BACKWARD = {  # d f / dx (times g = 1)
    "elu": lambda x: np.where(x > 0, 1.0, ALPHA * np.exp(x)),
    "selu": lambda x: np.where(x >= 0, SS, SS * SA * np.exp(x)),
    "softplus": _sig,
    "swish": lambda x: _sig(x) * (1 + x * (1 - _sig(x))),
    "gelu_tanh": _gelu_tanh_grad,
    "gelu": lambda x: ndtr(x) + x * np.exp(-0.5 * x * x) / np.sqrt(2 * np.pi),
}

# Measured maxima on the sweep below, SIMD (portable std:: loops): sigmoid 2.22 (2.61), tanh
# 1.49 (2.08), exp 0.99 (0.50), elu 1.73 (1.63), selu 1.53 (1.69), softplus 1.99 (1.45),
# swish 2.11 (2.39), gelu_tanh 2.24 (2.02), gelu 0.50 (0.50: both evaluate Phi in float64);
# elu' 2.40 (2.13), selu' 2.46 (2.10), softplus' 2.40 (3.03), swish' 2.84 (4.50), gelu_tanh'
# 6.08 (5.89), gelu' 0.50 (0.50) ulp, after the FWD_EXTRA / BWD_EXTRA allowances below. elu
# includes the rounding of alpha = 0.7 to float32. The portable loops get PORTABLE_* bounds.
FWD_ULP = {"sigmoid": 2.5, "tanh": 1.75, "exponential": 1.25, "swish": 2.5, "gelu_tanh": 2.5,
           "elu": 2, "selu": 2, "softplus": 2.25, "gelu": 1}
BWD_ULP = {"elu": 2.75, "selu": 2.75, "softplus": 2.75, "swish": 3, "gelu_tanh": 6.5, "gelu": 1}
PORTABLE_FWD_ULP = dict(FWD_ULP, sigmoid=3, tanh=2.5)
PORTABLE_BWD_ULP = dict(BWD_ULP, softplus=3.5, swish=5)


def _gelu_2u_slope(x):  # |x d(2u)/dx|
    return np.abs(x * 2 * C * (1 + 3 * C3 * x * x))


# Extra ulp allowed where the float32 intermediates are ill-conditioned (the same in the
# scalar loops): the roundings of the sigmoid's argument z (up to 3 in the scalar loop),
# amplified by |x z'| (1 - s), and 1 - s rounded near s = 1 in the gradients, amplified by
# |x| (|x z'| for gelu_tanh).
FWD_EXTRA = {
    "gelu_tanh": lambda x: 3 * _gelu_2u_slope(x) * (1 - _sig(2 * C * (x + C3 * x ** 3))),
    "swish": lambda x: np.abs(x) * (1 - _sig(x)),
}
BWD_EXTRA = {
    "swish": lambda x: 2 * np.abs(x),
    "gelu_tanh": lambda x: 2 * _gelu_2u_slope(x),
}
TINY = 2.0 ** -100


def _sweep():
    e = np.linspace(-30, 2, 20001, dtype=np.float32)
    return np.concatenate([np.linspace(-100, 100, 1_000_001, dtype=np.float32),
                           np.linspace(-3, 3, 200_001, dtype=np.float32),
                           -(np.float32(10) ** e), np.float32(10) ** e])


def _ulp_check(name, y, ref, bound, scale=None, extra=None):
    """Max ulp error where |ref| >= TINY; |y - ref| <= TINY below; overflow exact.

    scale (optional): the ulp is taken of max(|ref|, scale) (a gradient that crosses 0);
    extra (optional, per element): ulp allowed on top of bound."""
    assert y.dtype == np.float32 and y.shape == ref.shape
    with np.errstate(over="ignore"):  # exp(100) overflows float32, as the kernel's must
        r32 = ref.astype(np.float32)
    fin = np.isfinite(r32)
    np.testing.assert_array_equal(y[~fin], r32[~fin], err_msg=f"{name}: overflow / NaN")
    mag = np.abs(ref) if scale is None else np.maximum(np.abs(ref), scale)
    big = fin & (mag >= TINY)
    small = fin & ~big
    assert np.all(np.abs(y[small].astype(np.float64) - ref[small]) <= TINY), name
    ulp = np.spacing(mag[big].astype(np.float32)).astype(np.float64)
    err = np.abs(y[big].astype(np.float64) - ref[big]) / ulp
    if extra is not None:
        err = err - extra[big]
    i = int(np.argmax(err))
    assert err[i] <= bound, f"{name}: {err[i]:.2f} ulp at x index {i}"


@pytest.mark.parametrize("kind", sorted(FORWARD))
def test_forward_ulp_sweep(isa, kind):
    x = _sweep()
    alpha = ALPHA if kind == "elu" else 0.0
    with np.errstate(all="ignore"):
        ref = FORWARD[kind](x.astype(np.float64))
        extra = FWD_EXTRA[kind](x.astype(np.float64)) if kind in FWD_EXTRA else None
    y = _C.activation_forward(kind, x, alpha)
    bound = (PORTABLE_FWD_ULP if isa == "portable" else FWD_ULP)[kind]
    _ulp_check(f"{isa} {kind}", y, ref, bound, extra=extra)


@pytest.mark.parametrize("kind", sorted(BACKWARD))
def test_backward_ulp_sweep(isa, kind):
    x = _sweep()
    g = np.random.default_rng(1).uniform(0.5, 2, size=x.shape).astype(np.float32)
    alpha = ALPHA if kind == "elu" else 0.0
    with np.errstate(all="ignore"):
        ref = g * BACKWARD[kind](x.astype(np.float64))
        extra = BWD_EXTRA[kind](x.astype(np.float64)) if kind in BWD_EXTRA else None
    d = _C.activation_backward(kind, g, x, x, alpha)
    # swish', gelu_tanh' and gelu' cross zero (x about -1.28 / -0.75 / -0.75): ulp of g-sized
    # values there
    scale = np.abs(g) * 0.1 if kind in ("swish", "gelu_tanh", "gelu") else None
    bound = (PORTABLE_BWD_ULP if isa == "portable" else BWD_ULP)[kind]
    _ulp_check(f"{isa} {kind}'", d, ref, bound, scale, extra)


def test_special_values(isa):
    big = np.float32(3e38)
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 100, -100, 1e-30, -1e-30, big, -big],
                 np.float32)
    t = _C.activation_forward("tanh", x)
    np.testing.assert_array_equal(t, np.tanh(x))
    assert np.signbit(t[4]) and not np.signbit(t[3])  # tanh(-0) = -0
    s = _C.activation_forward("sigmoid", x)
    assert np.isnan(s[0])
    np.testing.assert_array_equal(s[[1, 3, 4, 5, 9]], [1, 0.5, 0.5, 1, 1])
    assert s[2] == 0 and s[10] == 0 and 0 <= s[6] <= 1e-38
    e = _C.activation_forward("exponential", x)
    assert np.isnan(e[0]) and e[1] == np.inf and e[2] == 0 and e[5] == np.inf and e[6] == 0
    for kind in ("swish", "gelu_tanh", "elu", "selu"):
        assert np.isnan(_C.activation_forward(kind, x, 1.0)[0]), kind
        assert np.isnan(_C.activation_backward(kind, np.ones_like(x), x, x, 1.0)[0]), kind
    el = _C.activation_forward("elu", x, 1.0)
    assert el[1] == np.inf and el[2] == -1 and el[6] == -1 and np.signbit(el[4])
    se = _C.activation_forward("selu", x)
    assert np.isnan(se[0]) and se[1] == np.inf and np.signbit(se[4]) and se[3] == 0
    np.testing.assert_allclose(se[[2, 6]], -SS * SA, rtol=1e-7)
    # gelu: x Phi(x) as the loop computes it: +inf -> inf, -inf -> -inf * 0 = NaN, -0 -> -0,
    # |x| > 16 -> x or -0; the gradient is 1 at +inf (the float64 loop: NaN) and +-0 beyond -16
    ge = _C.activation_forward("gelu", x)
    assert np.isnan(ge[0]) and ge[1] == np.inf and np.isnan(ge[2]) and ge[3] == 0
    assert np.signbit(ge[4]) and ge[5] == 100 and ge[6] == 0 and ge[9] == big and ge[10] == 0
    np.testing.assert_allclose(ge[[7, 8]], [5e-31, -5e-31], rtol=1e-6)
    gd = _C.activation_backward("gelu", np.ones_like(x), x, x)
    assert np.isnan(gd[0]) and np.all(gd[[3, 4]] == 0.5) and gd[5] == 1 and gd[6] == 0


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 15, 16, 17, 1000, 100001])
@pytest.mark.parametrize("kind", ["tanh", "sigmoid", "swish", "elu", "gelu"])
def test_tails_and_misaligned(isa, kind, n):
    rng = np.random.default_rng(n)
    buf = (rng.normal(size=n + 3) * 4).astype(np.float32)
    x = buf[3:]  # 12-byte offset: unaligned for every vector width
    with np.errstate(all="ignore"):
        ref = FORWARD[kind](x.astype(np.float64))
    y = _C.activation_forward(kind, x, 1.0 if kind == "elu" else 0.0)
    assert y.shape == (n,)
    if kind == "elu":
        ref = np.where(x > 0, x, np.expm1(x.astype(np.float64)))
    np.testing.assert_allclose(y, ref, rtol=2e-6, atol=1e-30)
    g = buf[:n].copy()
    d = _C.activation_backward(kind if kind != "tanh" else "swish", g, x, y, 0.0)
    assert d.shape == (n,) and np.all(np.isfinite(d))
    np.testing.assert_array_equal(buf[3:], x)  # input untouched


def test_env_switch_in_subprocess():
    code = ("import numpy as np; from nabi import _C; "
            "x = np.linspace(-9, 9, 1001, dtype=np.float32); "
            "print(_C.gemm_isa(), float(np.abs(_C.activation_forward('tanh', x) - np.tanh(x.astype(np.float64))).max()))")
    for isa in ISAS:
        env = dict(os.environ, NABI_GEMM_ISA=isa)
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, check=True).stdout.split()
        assert out[0] == isa and float(out[1]) < 3e-7, out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["relu", "tanh", "gelu", "elu"])
def test_threaded_split_is_seamless(isa, kind, dtype):
    # sizes around the one / two thread thresholds (act_cost): the result of one call must not
    # depend on where parallel_for cuts the array
    for n in (600, 1100, 7300, 8200, 22000, 33000, 66000):
        x = (np.random.default_rng(n).normal(size=n) * 4).astype(dtype)
        y = _C.activation_forward(kind, x, 1.0)
        cut = n // 3 + 5
        parts = np.concatenate([_C.activation_forward(kind, x[:cut], 1.0),
                                _C.activation_forward(kind, x[cut:], 1.0)])
        np.testing.assert_array_equal(y, parts, err_msg=f"{kind} n={n}")
        g = np.ones_like(x)
        d = _C.activation_backward(kind, g, x, y, 1.0)
        dparts = np.concatenate([_C.activation_backward(kind, g[:cut], x[:cut], y[:cut], 1.0),
                                 _C.activation_backward(kind, g[cut:], x[cut:], y[cut:], 1.0)])
        np.testing.assert_array_equal(d, dparts, err_msg=f"{kind}' n={n}")
