"""Special functions under TF's names: lgamma, digamma, erf, erfc, erfinv, ndtri and the Bessel
functions of tf.math / tf.math.special (bessel_i0, i0e, i1, i1e, j0, j1, y0, y1, k0, k0e, k1,
k1e), with TF's gradients.

Where they run: a GPU tensor goes through one elementwise CUDA kernel family
(csrc/cuda/special.cu, `backend().special(op, x)`), with no copy to the host; a CPU tensor is
computed here in float64 NumPy and rounded to its dtype. SciPy is not used (it is only the
tests' reference).

The CPU algorithms (special.cu uses the same tables for I and K; CUDA's own j0/j1/y0/y1,
lgamma, erf, erfinv, normcdfinv for the rest):
  * Bessel I0, I1 (and the scaled e^-|x| I): a Chebyshev series of e^-x I0(x) and e^-x I1(x)/x
    on [0, 8] (in t = x/4 - 1), and of sqrt(x) e^-x I(x) on [8, inf) (in t = 16/x - 1).
  * K0, K1: on (0, 2], K0 + log(x/2) I0 and x K1 - x log(x/2) I1 are entire in x^2: Chebyshev
    series in t = x^2/2 - 1; on (2, inf), sqrt(x) e^x K as a series in t = 4/x - 1.
  * J0, J1, Y0, Y1: on [0, 8], J0, J1/x, Y0 - (2/pi) log(x) J0 and
    (Y1 - (2/pi) log(x) J1 + 2/(pi x))/x are entire in x^2: series in t = x^2/32 - 1; beyond,
    Hankel's form J = sqrt(2/(pi x)) (P cos xn - Q sin xn), Y = sqrt(2/(pi x)) (P sin xn +
    Q cos xn), xn = x - (2 nu + 1) pi / 4, with P and Q/u series in t = 2u^2 - 1, u = 8/x
    (cos xn and sin xn from cos x and sin x, so no rounding of pi/4 enters).
  The coefficients are ours: Chebyshev interpolation at 40 (or 30, 20) Chebyshev nodes of the
  functions above evaluated by mpmath at 40 digits, cut where they fall below 2e-18 of the
  largest (tools/special_coeffs.py). Accuracy: a few float64 ulp, except in absolute terms
  (~1e-16) near the zeros of J and Y.
  * digamma / trigamma: reflection below 1/2, the recurrence up to 10, the asymptotic series
    to the B14 term.
  * erfinv: Newton steps on erf from sqrt(pi)/2 y for |y| < 1/2; beyond, through ndtri of the
    tail probability (1 - |y|)/2, which is exact there. ndtri: sqrt(2) erfinv(2p - 1) for
    p in (1/4, 3/4) (2p - 1 exact); in the tails the Abramowitz-Stegun 26.2.23 start, then
    Newton steps on log Phi(x) = log q, Phi(x) = erfc(-x/sqrt 2)/2.
"""
import math as _math
import sys as _sys
import types as _types

import numpy as np

from ..framework.device import DeviceArray, backend
from ._common import _tapes, _wrap, record, t_
from . import array_ops as _a
from . import math_ops as _m

# ------------------------------------------------------------------------- Chebyshev tables
_I0_SMALL = np.array([
    0.33839763720473803, -0.3046826723431984, 0.17162090152220877, -0.09490109704804764,
    0.04930528423967071, -0.02373741480589947, 0.010546460394594998, -0.004324309995050576,
    0.0016394756169413357, -0.0005763755745385824, 0.00018850288509584165,
    -5.754195010082104e-05, 1.6448448070728896e-05, -4.4167383584587505e-06,
    1.1173875391201037e-06, -2.670793853940612e-07, 6.046995022541919e-08,
    -1.300025009986248e-08, 2.6598237246823866e-09, -5.189795601635263e-10,
    9.675809035373237e-11, -1.726826291441556e-11, 2.95505266312964e-12, -4.856446783111929e-13,
    7.676185498604936e-14, -1.1685332877993451e-14, 1.715391285555133e-15,
    -2.431279846547955e-16, 3.3307945188222384e-17, -4.4153416464793395e-18
])
_I0_LARGE = np.array([
    0.4022452055070544, 0.0033691164782556943, 6.889758346916825e-05, 2.8913705208347567e-06,
    2.0489185894690638e-07, 2.266668990498178e-08, 3.3962320257083865e-09, 4.94060238822497e-10,
    1.1889147107846439e-11, -3.1499165279632416e-11, -1.3215811840447713e-11,
    -1.7941785315068062e-12, 7.180124451383666e-13, 3.8527783827421426e-13,
    1.54008621752141e-14, -4.150569347287222e-14, -9.554846698828307e-15, 3.811680669352621e-15,
    1.7725601330565245e-15, -3.425485619677142e-16, -2.827623980516646e-16,
    3.461222867695658e-17, 4.465621420302078e-17, -4.8305044859640105e-18,
    -7.233180488043844e-18, 9.921475415657038e-19, 1.1936508909418693e-18
])
_I1_SMALL = np.array([
    0.12629359322181682, -0.17641651835783406, 0.1026436586898471, -0.05294598120809499,
    0.024726449030626516, -0.010564084894626197, 0.004156422944312888, -0.0015135724506312532,
    0.0005122859561685758, -0.00016176081582589674, 4.781565107550054e-05,
    -1.3273163656039436e-05, 3.4702513081376785e-06, -8.568720264695455e-07,
    2.0032947535521353e-07, -4.445059128796328e-08, 9.381537386495773e-09,
    -1.8872497517228294e-09, 3.625590281552117e-10, -6.663489723502027e-11,
    1.1736186298890901e-11, -1.9839743977649436e-12, 3.223793365945575e-13,
    -5.042185504727912e-14, 7.600684294735408e-15, -1.1055969477353862e-15,
    1.5536319577362005e-16, -2.111421214358166e-17, 2.7779141127610464e-18,
    -3.541581772542136e-19
])
_I1_LARGE = np.array([
    0.38928811750914005, -0.009761097491361469, -0.00011058893876262371, -3.882564808877691e-06,
    -2.512236237870209e-07, -2.6314688468895196e-08, -3.835380385964237e-09,
    -5.589743462196584e-10, -1.8974958123505413e-11, 3.2526035830154884e-11,
    1.4125807436613782e-11, 2.0356285441470896e-12, -7.198551776245908e-13,
    -4.0835511110921974e-13, -2.1015418427726643e-14, 4.2724400167119517e-14,
    1.0420276984128802e-14, -3.814403072437007e-15, -1.8803547755107805e-15,
    3.30820231092085e-16, 2.9626289976460157e-16, -3.209525921991637e-17,
    -4.6503053684947827e-17, 4.414348323093937e-18, 7.517296311011398e-18,
    -9.314178870907263e-19, -1.2421932752759928e-18
])
_K0_SMALL = np.array([
    -0.2676636966169514, 0.3442898999246285, 0.0359799365153615, 0.001264615411446926,
    2.286212103119452e-05, 2.5347910790261494e-07, 1.904516377220209e-09,
    1.0349695257633625e-11, 4.2598161427910826e-14, 1.3744654358807508e-16
])
_K0_LARGE = np.array([
    1.2201515410329777, -0.0314481013119645, 0.0015698838857300533, -0.00012849549581627802,
    1.39498137188765e-05, -1.8317555227191195e-06, 2.766813639445015e-07,
    -4.660489897687948e-08, 8.574034017414225e-09, -1.6975345093890614e-09,
    3.5773972814003283e-10, -7.957489244477396e-11, 1.8559491149549264e-11,
    -4.514597883374519e-12, 1.1403405882073441e-12, -2.9800969231481784e-13,
    8.032890775068375e-14, -2.2275133267462965e-14, 6.340076476276646e-15,
    -1.848593377920907e-15, 5.5120559994043335e-16, -1.6782311257549003e-16,
    5.210391777643549e-17, -1.6475805939842515e-17, 5.300433771177066e-18
])
_K1_SMALL = np.array([
    0.7626501136694739, -0.3531559607765449, -0.12261118082265715, -0.006975723859639864,
    -0.0001730288957513052, -2.4334061415659684e-06, -2.213387630734726e-08,
    -1.4114883926335278e-10, -6.666901694199329e-13, -2.427449850519366e-15,
    -7.023863479386288e-18
])
_K1_LARGE = np.array([
    1.3603130952422213, 0.10392373657681724, -0.002857816859622779, 0.00019521551847135162,
    -1.936197974166083e-05, 2.406484947837217e-06, -3.5019606030878126e-07,
    5.7410841254500495e-08, -1.0345762465678097e-08, 2.0150497551970347e-09,
    -4.1903547593419254e-10, 9.218315187605315e-11, -2.129967838427791e-11,
    5.139639673482343e-12, -1.2891739609498229e-12, 3.348419666052243e-13,
    -8.976705182010146e-14, 2.4771544242195988e-14, -7.0198370892147685e-15,
    2.038703166239861e-15, -6.057047270643018e-16, 1.8380935752430452e-16,
    -5.689462849193643e-17, 1.7940510478863452e-17, -5.75674448207302e-18
])
_J0_SMALL = np.array([
    0.15772797147489012, -0.008723442352852221, 0.2651786132033368, -0.37009499387264977,
    0.15806710233209725, -0.034893769411408884, 0.004819180069467605, -0.00046062616620627504,
    3.246032882100508e-05, -1.7619469077621507e-06, 7.608163592418782e-08,
    -2.679253530557673e-09, 7.848696314479465e-11, -1.9438346867370164e-12,
    4.125320595634374e-14, -7.588508125447546e-16, 1.2218515873961411e-17
])
_J1_SMALL = np.array([
    0.08104484632565812, -0.1489751450676521, 0.1609992623572097, -0.08268049176681791,
    0.022213639654966037, -0.003646940600769276, 0.0004050337728354822, -3.255554866857259e-05,
    1.9858774049915165e-06, -9.521984756750436e-08, 3.687133759097148e-09,
    -1.178026622695885e-10, 3.160154580348003e-12, -7.221755239651773e-14,
    1.4232144003513942e-15, -2.4441972916190464e-17, 3.6912682997929334e-19
])
_Y0_SMALL = np.array([
    -0.03314611320328494, -0.2744743055297453, 0.17903431407718265, 0.26156734625504663,
    -0.17730201278114358, 0.04719668959576339, -0.007287962479552079, 0.0007531135932577742,
    -5.632079141056987e-05, 3.206532537654801e-06, -1.44072332740187e-07, 5.248794787330516e-09,
    -1.5837552541812015e-10, 4.02633081830612e-12, -8.747341203310769e-14,
    1.6434898714919468e-15, -2.6977881152566837e-17
])
_Y1_SMALL = np.array([
    0.0025380132357417816, -0.01608717304766875, -0.09591204536083074, 0.08445197259652346,
    -0.028328123944594365, 0.005289897544167113, -0.0006414551451326356, 5.505982873338744e-05,
    -3.53808001868935e-06, 1.7707804556154404e-07, -7.11055004989928e-09, 2.344337905911516e-10,
    -6.4651518414115946e-12, 1.51429151205002e-13, -3.0511859694473254e-15,
    5.34668038572867e-17, -8.224911372021585e-19
])
_P0_LARGE = np.array([
    0.9994603493475187, -0.0005365220468132117, 3.0751847875194745e-06, -5.1705945376060975e-08,
    1.6306464635151382e-09, -7.86409137723707e-11, 5.168262387349193e-12,
    -4.3045788699253914e-13, 4.3265957431549404e-14, -5.069034095935236e-15,
    6.748072215733873e-16, -1.0011513723467786e-16, 1.6305919233744186e-17,
    -2.880866169482871e-18
])
_Q0_LARGE = np.array([
    -0.015555854605337009, 6.838519942611649e-05, -7.414498411060647e-07,
    1.7972457247968992e-08, -7.27191593686632e-10, 4.2201219046687385e-11,
    -3.206747420996635e-12, 3.006145125351706e-13, -3.336328185322427e-14,
    4.255225040245461e-15, -6.09993013164005e-16, 9.662128970303257e-17,
    -1.6686065214378146e-17, 3.1082440486738143e-18, -6.191115787358143e-19,
    1.3091448717220062e-19
])
_P1_LARGE = np.array([
    1.0009030408600137, 0.0008989898330859408, -3.987284300488908e-06, 6.177633960644299e-08,
    -1.8718907491063067e-09, 8.816898659582339e-11, -5.704863640395645e-12,
    4.699195515230542e-13, -4.6842237839904895e-14, 5.452674896044717e-15,
    -7.221180842274018e-16, 1.0667689114335412e-16, -1.7312313216116335e-17,
    3.0492991197665872e-18
])
_Q1_LARGE = np.array([
    0.04677778706953532, -9.62772354915708e-05, 9.138615257955454e-07, -2.0959781384083424e-08,
    8.229193327650554e-10, -4.686363688176945e-11, 3.5152187949686082e-12, -3.2643156743279e-13,
    3.5967765829165294e-14, -4.5612523950772974e-15, 6.508282957783384e-16,
    -1.0269147531823243e-16, 1.767635548776479e-17, -3.2834519872981614e-18,
    6.524081149589258e-19, -1.3765771484849427e-19
])


def _cheb(c, t):
    """sum_k c[k] T_k(t) by Clenshaw's recurrence."""
    b1 = np.zeros_like(t)
    b2 = np.zeros_like(t)
    t2 = 2 * t
    for ck in c[:0:-1]:
        b1, b2 = t2 * b1 - b2 + ck, b1
    return t * b1 - b2 + c[0]


# ---------------------------------------------------------------------- float64 NumPy (CPU)
def _i0e_np(x):
    ax = np.abs(x)
    small = ax <= 8
    s = _cheb(_I0_SMALL, np.where(small, ax / 4 - 1, 0.0))
    lg = _cheb(_I0_LARGE, 16 / np.where(small, 16.0, ax) - 1) / np.sqrt(ax)
    return np.where(small, s, lg)


def _i1e_np(x):
    ax = np.abs(x)
    small = ax <= 8
    s = x * _cheb(_I1_SMALL, np.where(small, ax / 4 - 1, 0.0))
    lg = np.sign(x) * _cheb(_I1_LARGE, 16 / np.where(small, 16.0, ax) - 1) / np.sqrt(ax)
    return np.where(small, s, lg)


def _i0_np(x):
    h = np.exp(np.abs(x) / 2)
    return np.where(np.isinf(x), np.inf, _i0e_np(x) * h * h)


def _i1_np(x):
    h = np.exp(np.abs(x) / 2)
    return np.where(np.isinf(x), x, _i1e_np(x) * h * h)


def _k_parts(x, small_tab, large_tab, order):
    """(K, e^x K) for x > 0 on both branches; NaN below 0, +inf at 0."""
    small = x <= 2
    xs = np.where(small, x, 1.0)
    xl = np.where(small, 4.0, x)
    t = xs * xs / 2 - 1
    if order == 0:
        ks = _cheb(small_tab, t) - np.log(xs / 2) * _i0_np(xs)
    else:
        ks = _cheb(small_tab, t) / xs + np.log(xs / 2) * _i1_np(xs)
    kel = _cheb(large_tab, 4 / xl - 1) / np.sqrt(xl)
    k = np.where(small, ks, np.exp(-xl) * kel)
    ke = np.where(small, ks * np.exp(xs), kel)
    bad = np.where(x < 0, np.nan, np.inf)
    edge = x <= 0
    return np.where(edge, bad, k), np.where(edge, bad, ke)


def _k0_np(x):
    return _k_parts(x, _K0_SMALL, _K0_LARGE, 0)[0]


def _k0e_np(x):
    return _k_parts(x, _K0_SMALL, _K0_LARGE, 0)[1]


def _k1_np(x):
    return _k_parts(x, _K1_SMALL, _K1_LARGE, 1)[0]


def _k1e_np(x):
    return _k_parts(x, _K1_SMALL, _K1_LARGE, 1)[1]


_R2 = np.sqrt(0.5)


def _hankel(ax, order):
    """(J, Y) of order 0 or 1 at ax > 8 from the asymptotic P and Q series (0 at inf)."""
    a = np.where(ax <= 8, 8.0, ax)  # (NaN stays NaN)
    u = 8 / a
    t = 2 * u * u - 1
    p = _cheb(_P0_LARGE if order == 0 else _P1_LARGE, t)
    q = u * _cheb(_Q0_LARGE if order == 0 else _Q1_LARGE, t)
    c, s = np.cos(a), np.sin(a)
    if order == 0:  # xn = x - pi/4
        cx, sx = (c + s) * _R2, (s - c) * _R2
    else:           # xn = x - 3 pi/4
        cx, sx = (s - c) * _R2, -(s + c) * _R2
    amp = np.sqrt(2 / (np.pi * a))
    inf = np.isinf(ax)
    return (np.where(inf, 0.0, amp * (p * cx - q * sx)),
            np.where(inf, 0.0, amp * (p * sx + q * cx)))


def _small_t(ax):
    return np.where(ax <= 8, ax * ax / 32 - 1, 0.0)


def _j0_np(x):
    ax = np.abs(x)
    return np.where(ax <= 8, _cheb(_J0_SMALL, _small_t(ax)), _hankel(ax, 0)[0])


def _j1_np(x):
    ax = np.abs(x)
    return np.where(ax <= 8, x * _cheb(_J1_SMALL, _small_t(ax)), np.sign(x) * _hankel(ax, 1)[0])


def _y_edges(x, v):
    return np.where(x < 0, np.nan, np.where(x == 0, -np.inf, v))


def _y0_np(x):
    xs = np.where(x > 0, x, 1.0)
    s = _cheb(_Y0_SMALL, _small_t(xs)) + 2 / np.pi * np.log(xs) * _j0_np(xs)
    return _y_edges(x, np.where(x <= 8, s, _hankel(x, 0)[1]))


def _y1_np(x):
    xs = np.where(x > 0, x, 1.0)
    s = xs * _cheb(_Y1_SMALL, _small_t(xs)) + 2 / np.pi * (np.log(xs) * _j1_np(xs) - 1 / xs)
    return _y_edges(x, np.where(x <= 8, s, _hankel(x, 1)[1]))


_verf = np.vectorize(_math.erf, otypes=[np.float64])
_verfc = np.vectorize(_math.erfc, otypes=[np.float64])


def _erf_np(x):
    return _verf(x) if x.size else x.copy()


def _erfc_np(x):
    return _verfc(x) if x.size else x.copy()


def _lgamma_np(a):
    bad = (a <= 0) & (a == np.floor(a))
    out = np.vectorize(_math.lgamma, otypes=[np.float64])(np.where(bad, 1.0, a)) \
        if a.size else a.astype(np.float64)
    return np.where(bad, np.inf, out)


def _psi_shift(x, power):
    """Reflection for x < 1/2, then the recurrence up to z >= 10: (z, accumulated terms)."""
    refl = x < 0.5
    z = np.where(refl, 1 - x, x)
    acc = np.zeros_like(z)
    while True:
        small = z < 10
        if not small.any():
            break
        zz = np.where(small, z, 1.0)
        acc += np.where(small, -1 / zz if power == 1 else 1 / (zz * zz), 0.0)
        z = np.where(small, z + 1, z)
    return refl, z, acc


def _digamma_np(x):
    x = np.asarray(x, np.float64)
    refl, z, acc = _psi_shift(x, 1)
    iz2 = 1 / (z * z)
    out = acc + np.log(z) - 0.5 / z - iz2 * (1 / 12 - iz2 * (1 / 120 - iz2 * (
        1 / 252 - iz2 * (1 / 240 - iz2 * (1 / 132 - iz2 * (691 / 32760 - iz2 / 12))))))
    out = np.where(refl, out - np.pi / np.tan(np.pi * x), out)
    out = np.where(np.isinf(x), np.where(x > 0, np.inf, np.nan), out)
    out = np.where(x == 0, np.copysign(np.inf, -x), out)
    return np.where((x < 0) & (x == np.floor(x)), np.nan, out)


def _trigamma_np(x):
    x = np.asarray(x, np.float64)
    refl, z, acc = _psi_shift(x, 2)
    iz = 1 / z
    iz2 = iz * iz
    out = acc + iz + 0.5 * iz2 + iz * iz2 * (1 / 6 - iz2 * (1 / 30 - iz2 * (
        1 / 42 - iz2 * (1 / 30 - iz2 * (5 / 66 - iz2 * (691 / 2730 - iz2 * 7 / 6))))))
    s = np.sin(np.pi * x)
    out = np.where(refl, np.pi ** 2 / (s * s) - out, out)
    out = np.where(np.isinf(x), np.where(x > 0, 0.0, np.nan), out)
    return np.where((x <= 0) & (x == np.floor(x)) & np.isfinite(x), np.inf, out)


def _ndtri_tail(q):
    """x < 0 with Phi(x) = q for q in (0, 1/2]."""
    t = np.sqrt(-2 * np.log(q))
    x = -(t - (2.515517 + t * (0.802853 + t * 0.010328)) /
          (1 + t * (1.432788 + t * (0.189269 + t * 0.001308))))
    lq = np.log(q)
    for _ in range(4):  # Newton on log Phi(x) = log q: nearly quadratic in the tail
        phi = 0.5 * _verfc(-x * _R2)
        x = x - (np.log(phi) - lq) * phi / (np.exp(-0.5 * x * x) / np.sqrt(2 * np.pi))
    return x


def _erfinv_mid(v):
    """erfinv(v) for |v| < 1/2: Newton steps on erf (relative accuracy down to 0)."""
    x = np.sqrt(np.pi) / 2 * v
    for _ in range(5):
        x = x - (_erf_np(x) - v) / (2 / np.sqrt(np.pi) * np.exp(-x * x))
    return x


def _ndtri_np(p):
    p = np.asarray(p, np.float64)
    ok = (p > 0) & (p < 1)
    v = 2 * p - 1  # exact for p in [1/4, 3/4]
    mid = np.abs(v) < 0.5
    x = np.sqrt(2) * _erfinv_mid(np.where(mid, v, 0.0))
    q = np.where(ok & ~mid, np.minimum(p, 1 - p), 0.25)
    tail = _ndtri_tail(q) if p.size else q
    x = np.where(mid, x, np.where(p > 0.5, -tail, tail))
    edge = np.where(p == 0, -np.inf, np.where(p == 1, np.inf, np.nan))
    return np.where(ok, x, edge)


def _erfinv_np(y):
    y = np.asarray(y, np.float64)
    ay = np.abs(y)
    mid = ay < 0.5
    x = _erfinv_mid(np.where(mid, y, 0.0))
    q = np.where(mid | (ay >= 1), 0.25, (1 - ay) / 2)  # exact: 1 - |y| for |y| >= 1/2
    tail = -np.sign(y) * _ndtri_tail(q) * _R2 if y.size else q
    out = np.where(mid, x, np.where(ay == 1, np.sign(y) * np.inf, tail))
    return np.where(ay > 1, np.nan, out)


_NP = {"lgamma": _lgamma_np, "digamma": _digamma_np, "trigamma": _trigamma_np,
       "erf": _erf_np, "erfc": _erfc_np, "erfinv": _erfinv_np, "ndtri": _ndtri_np,
       "bessel_i0": _i0_np, "bessel_i0e": _i0e_np, "bessel_i1": _i1_np, "bessel_i1e": _i1e_np,
       "bessel_k0": _k0_np, "bessel_k0e": _k0e_np, "bessel_k1": _k1_np, "bessel_k1e": _k1e_np,
       "bessel_j0": _j0_np, "bessel_j1": _j1_np, "bessel_y0": _y0_np, "bessel_y1": _y1_np}
OPS = tuple(_NP)  # the names special.cu's kernel and the emulator know


def special_np(op, a):
    """op on a host array (float32/float64), computed in float64, rounded to a's dtype."""
    a = np.asarray(a)
    with np.errstate(all="ignore"):
        return np.asarray(_NP[op](a.astype(np.float64))).astype(a.dtype)


def _apply(op, a):
    """op on a raw array where it lives: the CUDA kernel for a DeviceArray, NumPy otherwise."""
    if type(a) is DeviceArray:
        return DeviceArray(backend().special(op, a.buf))
    return special_np(op, a)


# ------------------------------------------------------------------------------ the ops
class _Raw:  # derivative rules on raw arrays (the fast backward path)
    f = staticmethod(_apply)
    where = staticmethod(np.where)
    sign = staticmethod(np.sign)
    exp = staticmethod(np.exp)


class _Ten:  # the same rules with nabi ops on Tensors (differentiable: second order)
    @staticmethod
    def f(op, v):
        return _OPS[op](v)
    where = staticmethod(_a.where)
    sign = staticmethod(_m.sign)
    exp = staticmethod(_m.exp)


def _float_in(op, x):
    x = t_(x)
    if x._data.dtype.kind != "f":
        raise TypeError(f"[{op}] expects a float32 or float64 tensor, got "
                        f"{x._data.dtype.name} of shape {tuple(x._data.shape)}")
    return x


def _op(op, x, deriv):
    """y = op(x) elementwise; deriv(ops, x, y) -> dy/dx, written once for both rule kinds."""
    x = _float_in(op, x)
    a = x._data
    out = _wrap(_apply(op, a))
    if _tapes and deriv is not None:
        def backward(g, needs):
            with np.errstate(all="ignore"):
                r = g * deriv(_Raw, a, out._data)
            return (r if r.dtype == g.dtype else r.astype(g.dtype),)

        def backward_t(g, needs):
            return (_m.multiply(g, deriv(_Ten, x, out)),)
        # digamma's derivative is trigamma, whose own derivative nabi lacks: a first-order rule
        # only, so that differentiating its gradient raises, naming digamma (never a silent 0)
        record((x,), out, backward, None if op == "digamma" else backward_t, op)
    return out


def _at0(ops, x, val):
    """val where x != 0, else 1/2 (the slope at 0 of I1, I1e and J1)."""
    return ops.where(x != 0, val, val * 0 + 0.5)


def _safe(ops, x):
    return ops.where(x != 0, x, x * 0 + 1)


_SQRT_PI = float(np.sqrt(np.pi))
_DERIV = {
    "lgamma": lambda o, x, y: o.f("digamma", x),
    "digamma": lambda o, x, y: o.f("trigamma", x),
    "trigamma": None,  # (internal: digamma's raw gradient only)
    "erf": lambda o, x, y: o.exp(-(x * x)) * (2 / _SQRT_PI),
    "erfc": lambda o, x, y: o.exp(-(x * x)) * (-2 / _SQRT_PI),
    "erfinv": lambda o, x, y: o.exp(y * y) * (_SQRT_PI / 2),
    "ndtri": lambda o, x, y: o.exp(y * y * 0.5) * float(np.sqrt(2 * np.pi)),
    "bessel_i0": lambda o, x, y: o.f("bessel_i1", x),
    "bessel_i0e": lambda o, x, y: o.f("bessel_i1e", x) - o.sign(x) * y,
    "bessel_i1": lambda o, x, y: _at0(o, x, o.f("bessel_i0", _safe(o, x)) - y / _safe(o, x)),
    "bessel_i1e": lambda o, x, y: _at0(o, x, o.f("bessel_i0e", _safe(o, x)) - y * (
        o.sign(x) + 1 / _safe(o, x))),
    "bessel_k0": lambda o, x, y: -o.f("bessel_k1", x),
    "bessel_k0e": lambda o, x, y: y - o.f("bessel_k1e", x),
    "bessel_k1": lambda o, x, y: -o.f("bessel_k0", x) - y / x,
    "bessel_k1e": lambda o, x, y: y * (1 - 1 / x) - o.f("bessel_k0e", x),
    "bessel_j0": lambda o, x, y: -o.f("bessel_j1", x),
    "bessel_j1": lambda o, x, y: _at0(o, x, o.f("bessel_j0", _safe(o, x)) - y / _safe(o, x)),
    "bessel_y0": lambda o, x, y: -o.f("bessel_y1", x),
    "bessel_y1": lambda o, x, y: o.f("bessel_y0", x) - y / x,
}


def _make(op, doc):
    def fn(x, name=None):
        return _op(op, x, _DERIV[op])
    fn.__name__ = fn.__qualname__ = op
    fn.__doc__ = doc
    return fn


lgamma = _make("lgamma", "log|Gamma(x)|; +inf at the poles (0, -1, -2, ...). Gradient: digamma.")
digamma = _make("digamma", "d/dx lgamma(x); NaN at the negative integers, -+inf at +-0. "
                "Gradient: trigamma (first order only).")
_trigamma = _make("trigamma", "psi'(x), the gradient of digamma (internal).")
erf = _make("erf", "The error function.")
erfc = _make("erfc", "1 - erf(x), accurate for large x.")
erfinv = _make("erfinv", "The inverse of erf on (-1, 1); +-inf at +-1, NaN outside.")
ndtri = _make("ndtri", "The inverse of the standard normal CDF on (0, 1); +-inf at 1 and 0.")
bessel_i0 = _make("bessel_i0", "The modified Bessel function of the first kind, order 0.")
bessel_i0e = _make("bessel_i0e", "e^-|x| I0(x).")
bessel_i1 = _make("bessel_i1", "The modified Bessel function of the first kind, order 1.")
bessel_i1e = _make("bessel_i1e", "e^-|x| I1(x).")
bessel_k0 = _make("bessel_k0", "The modified Bessel function of the second kind, order 0 "
                  "(x > 0; +inf at 0, NaN below).")
bessel_k0e = _make("bessel_k0e", "e^x K0(x).")
bessel_k1 = _make("bessel_k1", "The modified Bessel function of the second kind, order 1.")
bessel_k1e = _make("bessel_k1e", "e^x K1(x).")
bessel_j0 = _make("bessel_j0", "The Bessel function of the first kind, order 0.")
bessel_j1 = _make("bessel_j1", "The Bessel function of the first kind, order 1.")
bessel_y0 = _make("bessel_y0", "The Bessel function of the second kind, order 0 (x > 0; -inf "
                  "at 0, NaN below).")
bessel_y1 = _make("bessel_y1", "The Bessel function of the second kind, order 1.")

_OPS = {"lgamma": lgamma, "digamma": digamma, "trigamma": _trigamma, "erf": erf, "erfc": erfc,
        "erfinv": erfinv, "ndtri": ndtri, "bessel_i0": bessel_i0, "bessel_i0e": bessel_i0e,
        "bessel_i1": bessel_i1, "bessel_i1e": bessel_i1e, "bessel_k0": bessel_k0,
        "bessel_k0e": bessel_k0e, "bessel_k1": bessel_k1, "bessel_k1e": bessel_k1e,
        "bessel_j0": bessel_j0, "bessel_j1": bessel_j1, "bessel_y0": bessel_y0,
        "bessel_y1": bessel_y1}

# tf.math.special (a module object, so `nabi.math.special.bessel_j0` and
# `import nabi.math.special` both work once nabi.math has imported it).
_SPECIAL_NAMES = ("bessel_i0", "bessel_i0e", "bessel_i1", "bessel_i1e", "bessel_j0",
                  "bessel_j1", "bessel_k0", "bessel_k0e", "bessel_k1", "bessel_k1e",
                  "bessel_y0", "bessel_y1")
special = _types.ModuleType("nabi.math.special", "tf.math.special: the Bessel functions.")
for _n in _SPECIAL_NAMES:
    setattr(special, _n, _OPS[_n])
special.__all__ = list(_SPECIAL_NAMES)
_sys.modules.setdefault("nabi.math.special", special)

__all__ = ["lgamma", "digamma", "erf", "erfc", "erfinv", "ndtri", "bessel_i0", "bessel_i0e",
           "bessel_i1", "bessel_i1e", "bessel_j0", "bessel_j1", "bessel_k0", "bessel_k0e",
           "bessel_k1", "bessel_k1e", "bessel_y0", "bessel_y1", "special"]
