// Special functions, elementwise: lgamma, digamma, trigamma (digamma's derivative), erf,
// erfc, erfinv, ndtri and the Bessel functions I0 I0e I1 I1e K0 K0e K1 K1e J0 J1 Y0 Y1 (TF's
// tf.math / tf.math.special). One kernel family: special_kernel<T> (T = float or double), a
// grid-stride loop over n contiguous elements, 256 threads a block, grid from grid_for; the op
// is a runtime switch uniform across the grid (one predictable branch per element).
//   x: (n,) contiguous, dtype T     y: (n,) contiguous, dtype T (a fresh buffer)
//
// Algorithms (T's own precision unless said otherwise):
//   lgamma, erf, erfc, erfinv, ndtri (normcdfinv), J0, J1, Y0, Y1: CUDA's math library
//     (lgammaf/lgamma, erff/erf, ..., j0f/j0, y1f/y1).
//   digamma, trigamma: in float64 for both dtypes. Reflection for x < 0 (digamma:
//     psi(x) = psi(1-x) - pi cot(pi x); trigamma: psi1(x) = pi^2 / sin^2(pi x) - psi1(1-x)),
//     the recurrence psi(x) = psi(x+1) - 1/x (psi1(x) = psi1(x+1) + 1/x^2) up to x >= 10,
//     then the asymptotic series to the B14 term. digamma: NaN at the negative integers and
//     -inf, -+inf at +-0; trigamma: +inf at 0, -1, -2, ..., NaN at -inf.
//   I0, I1: Chebyshev series (Clenshaw) of e^-x I0(x) and e^-x I1(x)/x on [0, 8] in
//     t = x/4 - 1, of sqrt(x) e^-x I(x) on (8, inf) in t = 16/x - 1; the unscaled value is
//     multiplied by e^(|x|/2) twice, so it overflows only where the result does. I0 even, I1 odd.
//   K0, K1 (x > 0): on (0, 2], K0 + log(x/2) I0 and x K1 - x log(x/2) I1 are entire in x^2:
//     series in t = x^2/2 - 1; on (2, inf), sqrt(x) e^x K in t = 4/x - 1. +inf at 0, NaN below.
// The Chebyshev coefficients are ours (python/nabi/ops/special_ops.py holds the same tables and
// the float64 NumPy versions of every op for CPU tensors): Chebyshev interpolation of the
// functions above, evaluated by mpmath at 40 digits (tools/special_coeffs.py).
// Tests: tests/test_special_functions_cuda.py against scipy.special (emulated, on the host
// simulator: NABI_TEST_PACKAGE_DIR=build/sim/pkg, and on a GPU).
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <type_traits>

#include <math_constants.h>

#include "cuda/common.cuh"
#include "cuda/special.h"

namespace nabi::cuda::special {

namespace {

constexpr int kThreads = 256;

// ---- Chebyshev coefficient tables (constant memory; every thread reads the same entry) ----
__constant__ double kI0Small[30] = {
    0.33839763720473803, -0.3046826723431984, 0.17162090152220877,
    -0.09490109704804764, 0.04930528423967071, -0.02373741480589947,
    0.010546460394594998, -0.004324309995050576, 0.0016394756169413357,
    -0.0005763755745385824, 0.00018850288509584165, -5.754195010082104e-05,
    1.6448448070728896e-05, -4.4167383584587505e-06, 1.1173875391201037e-06,
    -2.670793853940612e-07, 6.046995022541919e-08, -1.300025009986248e-08,
    2.6598237246823866e-09, -5.189795601635263e-10, 9.675809035373237e-11,
    -1.726826291441556e-11, 2.95505266312964e-12, -4.856446783111929e-13,
    7.676185498604936e-14, -1.1685332877993451e-14, 1.715391285555133e-15,
    -2.431279846547955e-16, 3.3307945188222384e-17, -4.4153416464793395e-18};
__constant__ double kI0Large[27] = {
    0.4022452055070544, 0.0033691164782556943, 6.889758346916825e-05,
    2.8913705208347567e-06, 2.0489185894690638e-07, 2.266668990498178e-08,
    3.3962320257083865e-09, 4.94060238822497e-10, 1.1889147107846439e-11,
    -3.1499165279632416e-11, -1.3215811840447713e-11, -1.7941785315068062e-12,
    7.180124451383666e-13, 3.8527783827421426e-13, 1.54008621752141e-14,
    -4.150569347287222e-14, -9.554846698828307e-15, 3.811680669352621e-15,
    1.7725601330565245e-15, -3.425485619677142e-16, -2.827623980516646e-16,
    3.461222867695658e-17, 4.465621420302078e-17, -4.8305044859640105e-18,
    -7.233180488043844e-18, 9.921475415657038e-19, 1.1936508909418693e-18};
__constant__ double kI1Small[30] = {
    0.12629359322181682, -0.17641651835783406, 0.1026436586898471,
    -0.05294598120809499, 0.024726449030626516, -0.010564084894626197,
    0.004156422944312888, -0.0015135724506312532, 0.0005122859561685758,
    -0.00016176081582589674, 4.781565107550054e-05, -1.3273163656039436e-05,
    3.4702513081376785e-06, -8.568720264695455e-07, 2.0032947535521353e-07,
    -4.445059128796328e-08, 9.381537386495773e-09, -1.8872497517228294e-09,
    3.625590281552117e-10, -6.663489723502027e-11, 1.1736186298890901e-11,
    -1.9839743977649436e-12, 3.223793365945575e-13, -5.042185504727912e-14,
    7.600684294735408e-15, -1.1055969477353862e-15, 1.5536319577362005e-16,
    -2.111421214358166e-17, 2.7779141127610464e-18, -3.541581772542136e-19};
__constant__ double kI1Large[27] = {
    0.38928811750914005, -0.009761097491361469, -0.00011058893876262371,
    -3.882564808877691e-06, -2.512236237870209e-07, -2.6314688468895196e-08,
    -3.835380385964237e-09, -5.589743462196584e-10, -1.8974958123505413e-11,
    3.2526035830154884e-11, 1.4125807436613782e-11, 2.0356285441470896e-12,
    -7.198551776245908e-13, -4.0835511110921974e-13, -2.1015418427726643e-14,
    4.2724400167119517e-14, 1.0420276984128802e-14, -3.814403072437007e-15,
    -1.8803547755107805e-15, 3.30820231092085e-16, 2.9626289976460157e-16,
    -3.209525921991637e-17, -4.6503053684947827e-17, 4.414348323093937e-18,
    7.517296311011398e-18, -9.314178870907263e-19, -1.2421932752759928e-18};
__constant__ double kK0Small[10] = {
    -0.2676636966169514, 0.3442898999246285, 0.0359799365153615,
    0.001264615411446926, 2.286212103119452e-05, 2.5347910790261494e-07,
    1.904516377220209e-09, 1.0349695257633625e-11, 4.2598161427910826e-14,
    1.3744654358807508e-16};
__constant__ double kK0Large[25] = {
    1.2201515410329777, -0.0314481013119645, 0.0015698838857300533,
    -0.00012849549581627802, 1.39498137188765e-05, -1.8317555227191195e-06,
    2.766813639445015e-07, -4.660489897687948e-08, 8.574034017414225e-09,
    -1.6975345093890614e-09, 3.5773972814003283e-10, -7.957489244477396e-11,
    1.8559491149549264e-11, -4.514597883374519e-12, 1.1403405882073441e-12,
    -2.9800969231481784e-13, 8.032890775068375e-14, -2.2275133267462965e-14,
    6.340076476276646e-15, -1.848593377920907e-15, 5.5120559994043335e-16,
    -1.6782311257549003e-16, 5.210391777643549e-17, -1.6475805939842515e-17,
    5.300433771177066e-18};
__constant__ double kK1Small[11] = {
    0.7626501136694739, -0.3531559607765449, -0.12261118082265715,
    -0.006975723859639864, -0.0001730288957513052, -2.4334061415659684e-06,
    -2.213387630734726e-08, -1.4114883926335278e-10, -6.666901694199329e-13,
    -2.427449850519366e-15, -7.023863479386288e-18};
__constant__ double kK1Large[25] = {
    1.3603130952422213, 0.10392373657681724, -0.002857816859622779,
    0.00019521551847135162, -1.936197974166083e-05, 2.406484947837217e-06,
    -3.5019606030878126e-07, 5.7410841254500495e-08, -1.0345762465678097e-08,
    2.0150497551970347e-09, -4.1903547593419254e-10, 9.218315187605315e-11,
    -2.129967838427791e-11, 5.139639673482343e-12, -1.2891739609498229e-12,
    3.348419666052243e-13, -8.976705182010146e-14, 2.4771544242195988e-14,
    -7.0198370892147685e-15, 2.038703166239861e-15, -6.057047270643018e-16,
    1.8380935752430452e-16, -5.689462849193643e-17, 1.7940510478863452e-17,
    -5.75674448207302e-18};

#define SP_MATH1(name)                                             \
  template <typename T>                                            \
  __device__ __forceinline__ T m_##name(T x) {                     \
    if constexpr (std::is_same_v<T, float>) return ::name##f(x);   \
    else return ::name(x);                                         \
  }
SP_MATH1(exp) SP_MATH1(log) SP_MATH1(sqrt) SP_MATH1(fabs) SP_MATH1(lgamma) SP_MATH1(erf)
SP_MATH1(erfc) SP_MATH1(erfinv) SP_MATH1(normcdfinv) SP_MATH1(j0) SP_MATH1(j1) SP_MATH1(y0)
SP_MATH1(y1)
#undef SP_MATH1

template <typename T>
__device__ __forceinline__ T nan_value() {
  if constexpr (std::is_same_v<T, float>) return CUDART_NAN_F;
  else return CUDART_NAN;
}
template <typename T>
__device__ __forceinline__ T inf_value() {
  if constexpr (std::is_same_v<T, float>) return CUDART_INF_F;
  else return CUDART_INF;
}

// sum_k c[k] T_k(t), Clenshaw's recurrence.
template <typename T>
__device__ __forceinline__ T cheb(const double* __restrict__ c, int n, T t) {
  T b1 = T(0), b2 = T(0);
  const T t2 = t + t;
  for (int k = n - 1; k >= 1; --k) {
    const T b0 = t2 * b1 - b2 + static_cast<T>(c[k]);
    b2 = b1;
    b1 = b0;
  }
  return t * b1 - b2 + static_cast<T>(c[0]);
}
#define SP_CHEB(table, t) cheb<T>(table, static_cast<int>(sizeof(table) / sizeof(double)), (t))

// e^-|x| I0(x) and e^-|x| I1(x).
template <typename T>
__device__ T i0e(T x) {
  const T ax = m_fabs(x);
  if (ax <= T(8)) return SP_CHEB(kI0Small, ax / T(4) - T(1));
  return SP_CHEB(kI0Large, T(16) / ax - T(1)) / m_sqrt(ax);  // NaN and inf land here
}
template <typename T>
__device__ T i1e(T x) {
  const T ax = m_fabs(x);
  if (ax <= T(8)) return x * SP_CHEB(kI1Small, ax / T(4) - T(1));
  const T v = SP_CHEB(kI1Large, T(16) / ax - T(1)) / m_sqrt(ax);
  return x < T(0) ? -v : v;
}
// e^|x| scaled, in two halves; +-inf at +-inf (I1 odd, I0 even).
template <typename T>
__device__ T unscale_i(T scaled, T x, bool odd) {
  if (isinf(x)) return odd ? x : m_fabs(x);
  const T h = m_exp(m_fabs(x) / T(2));
  return scaled * h * h;
}

// K of order 0 or 1 and its scaled form e^x K (scaled = true), x > 0; +inf at 0, NaN below.
template <typename T>
__device__ T bessel_k(int order, bool scaled, T x) {
  if (x != x) return x;
  if (x < T(0)) return nan_value<T>();
  if (x == T(0)) return inf_value<T>();
  if (x <= T(2)) {
    const T t = x * x / T(2) - T(1);
    T k;
    if (order == 0) {
      k = SP_CHEB(kK0Small, t) - m_log(x / T(2)) * unscale_i(i0e(x), x, false);
    } else {
      k = SP_CHEB(kK1Small, t) / x + m_log(x / T(2)) * unscale_i(i1e(x), x, true);
    }
    return scaled ? k * m_exp(x) : k;
  }
  const T ke = (order == 0 ? SP_CHEB(kK0Large, T(4) / x - T(1))
                           : SP_CHEB(kK1Large, T(4) / x - T(1))) / m_sqrt(x);
  return scaled ? ke : ke * m_exp(-x);  // (inf: 0 * 0)
}

// Asymptotic tails after shifting x up to >= 10.
__device__ double digamma_f64(double x) {
  if (x != x) return x;
  if (x == 0.0) return -1.0 / x;  // -inf at +0, +inf at -0
  if (isinf(x)) return x > 0 ? x : CUDART_NAN;
  double r = 0.0;
  if (x < 0.0) {
    if (floor(x) == x) return CUDART_NAN;
    r = -CUDART_PI * cospi(x) / sinpi(x);  // psi(x) = psi(1 - x) - pi cot(pi x)
    x = 1.0 - x;
  }
  for (; x < 10.0; x += 1.0) r -= 1.0 / x;
  const double iz2 = 1.0 / (x * x);
  const double s = iz2 * (1.0 / 12 - iz2 * (1.0 / 120 - iz2 * (1.0 / 252 - iz2 * (
      1.0 / 240 - iz2 * (1.0 / 132 - iz2 * (691.0 / 32760 - iz2 / 12))))));
  return r + log(x) - 0.5 / x - s;
}

__device__ double trigamma_f64(double x) {
  if (x != x) return x;
  if (isinf(x)) return x > 0 ? 0.0 : CUDART_NAN;
  if (x <= 0.0 && floor(x) == x) return CUDART_INF;  // the poles 0, -1, -2, ...
  double sign = 1.0, r = 0.0;
  if (x < 0.0) {  // psi1(x) = pi^2 / sin^2(pi x) - psi1(1 - x)
    const double s = sinpi(x);
    r = CUDART_PI * CUDART_PI / (s * s);
    sign = -1.0;
    x = 1.0 - x;
  }
  double acc = 0.0;
  for (; x < 10.0; x += 1.0) acc += 1.0 / (x * x);
  const double iz = 1.0 / x, iz2 = iz * iz;
  const double tail = iz + 0.5 * iz2 + iz * iz2 * (1.0 / 6 - iz2 * (1.0 / 30 - iz2 * (
      1.0 / 42 - iz2 * (1.0 / 30 - iz2 * (5.0 / 66 - iz2 * (691.0 / 2730 - iz2 * 7.0 / 6))))));
  return r + sign * (acc + tail);
}

template <typename T>
__device__ __forceinline__ T eval(Op op, T x) {
  switch (op) {
    case Op::Lgamma: return m_lgamma(x);
    case Op::Digamma: return static_cast<T>(digamma_f64(static_cast<double>(x)));
    case Op::Trigamma: return static_cast<T>(trigamma_f64(static_cast<double>(x)));
    case Op::Erf: return m_erf(x);
    case Op::Erfc: return m_erfc(x);
    case Op::Erfinv: return m_erfinv(x);
    case Op::Ndtri: return m_normcdfinv(x);
    case Op::BesselI0: return unscale_i(i0e(x), x, false);
    case Op::BesselI0e: return i0e(x);
    case Op::BesselI1: return unscale_i(i1e(x), x, true);
    case Op::BesselI1e: return i1e(x);
    case Op::BesselK0: return bessel_k(0, false, x);
    case Op::BesselK0e: return bessel_k(0, true, x);
    case Op::BesselK1: return bessel_k(1, false, x);
    case Op::BesselK1e: return bessel_k(1, true, x);
    case Op::BesselJ0: return m_j0(x);
    case Op::BesselJ1: return m_j1(x);
    case Op::BesselY0: return m_y0(x);
    case Op::BesselY1: return m_y1(x);
  }
  return x;  // unreachable: the binding checks the name
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    special_kernel(Op op, const T* __restrict__ x, T* __restrict__ y, int64_t n) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += step)
    y[i] = eval<T>(op, x[i]);
}

}  // namespace

void special(Op op, DType dtype, const void* x, void* y, int64_t n) {
  if (n <= 0) return;
  if (dtype == DType::Float32) {
    special_kernel<float><<<grid_for(n, kThreads), kThreads, 0, stream()>>>(
        op, static_cast<const float*>(x), static_cast<float*>(y), n);
    NABI_CUDA_CHECK_LAUNCH("special_kernel<float>");
  } else if (dtype == DType::Float64) {
    special_kernel<double><<<grid_for(n, kThreads), kThreads, 0, stream()>>>(
        op, static_cast<const double*>(x), static_cast<double*>(y), n);
    NABI_CUDA_CHECK_LAUNCH("special_kernel<double>");
  } else {
    throw std::invalid_argument("[special] x must be float32 or float64");
  }
}

}  // namespace nabi::cuda::special
