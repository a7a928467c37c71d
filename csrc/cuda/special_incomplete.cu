// Special functions of two or three arguments, elementwise (the ops of
// csrc/cuda/special_incomplete.h): tf.math.igamma / igammac and their a- and x-derivatives,
// betainc and its x-derivative, the Hurwitz zeta and polygamma.
//
// Blocking: one kernel, incomplete_kernel<T, op> (T = float or double; one instance per op, so
// each gets only the registers it needs), a grid-stride loop over n contiguous elements, 256
// threads a block, grid from grid_for; one thread computes one element start to finish (the
// loops below run per thread, so their trip counts differ between the lanes of a warp: the
// warp runs as long as its slowest element). The arguments have one shape (the caller
// broadcasts them on the device first).
//
// Arithmetic: float64 for both dtypes (a float32 result is the float64 value rounded once),
// with the algorithms of the host path, python/nabi/ops/special_more_ops.py, so that GPU and
// CPU agree to a few float64 ulps (float32: equal but for rare 1-ulp double roundings).
//   igamma / igammac (a > 0, x >= 0; NaN outside, as TF): with pre = exp(a log x - x -
//     lgamma a), for x < a + 1 the series P = pre * sum_n x^n / (a (a+1) ... (a+n)); otherwise
//     the continued fraction Q = pre / (x+1-a- 1(1-a)/(x+3-a- 2(2-a)/(x+5-a- ...))) by the
//     three-term recurrences for its numerator and denominator, rescaled every step. The
//     other of P, Q is 1 minus it. x = 0: P = 0; x = inf (a finite): P = 1; a = inf (x
//     finite): P = 0. Loops stop at a relative change below 1e-17 (series) / 1e-16 (fraction)
//     or after 5000 steps.
//   igamma_grad_a: the same sums differentiated in a (forward mode: each term, and the
//     recurrences' numerator and denominator, carry their a-derivative), plus
//     P (log x - digamma a). digamma: reflection below 1/2, recurrence to >= 10, asymptotic
//     series to the B14 term.
//   betainc (a, b > 0, 0 <= x <= 1; NaN outside): the power series in x where b x <= 1 and
//     x <= 0.95 (Cephes' choice: no 1 - v cancellation for tiny results); else the continued
//     fraction by the modified Lentz method, on (a, b, x) or, when x > (a+1)/(a+b+2), on
//     (b, a, 1-x) with the result 1 - that.
//   zeta(x, q), Hurwitz (x > 1; +inf at x = 1; NaN for x < 1): N = max(9, ceil(9 - q)) direct
//     terms (q + k)^-x, then Euler-Maclaurin at w = q + N: w^(1-x)/(x-1) + w^-x / 2 +
//     sum_{j=1..12} B_2j/(2j)! x(x+1)...(x+2j-2) w^(-x-2j+1). At the poles q = 0, -1, ...:
//     +inf for even integer x, else NaN (as TF); q < 0 not an integer: defined for integer x
//     only (NaN if that would take more than 2^24 direct terms).
//   polygamma(n, x) = (-1)^(n+1) n! zeta(n+1, x) for integer n >= 1, digamma(x) for n = 0
//     (NaN at x = 0, -1, ...), NaN for other n.
//   igamma_dx, betainc_dx: TF's raw formulas, exp((a-1) log x - x - lgamma a) and
//     exp((a-1) log x + (b-1) log1p(-x) - lbeta(a, b)).
// Accuracy (float64, vs scipy.special): about 1e-14 relative for arguments up to ~100; the
// prefactor's exponent (a log x - x - lgamma a, and betainc's) has an absolute error of a few
// ulps of its largest term, so the relative error grows like 1e-16 * max(a |log x|, x) for large
// arguments; a result computed as 1 - v (the other tail) has an absolute error of ~1e-16.
// float32: the float64 value rounded (within 1 ulp where float64 is accurate).
// Tests: tests/test_special_incomplete_cuda.py (scipy.special; CPU, emulator, host simulator).
#include <cmath>
#include <cstdint>
#include <stdexcept>

#include <math_constants.h>

#include "cuda/common.cuh"
#include "cuda/special_incomplete.h"

namespace nabi::cuda::special_incomplete {

namespace {

constexpr int kThreads = 256;
constexpr int kMaxIter = 5000;
constexpr double kSeriesEps = 1e-17;
constexpr double kFracEps = 1e-16;
constexpr double kMaxZetaTerms = 16777216.0;  // 2^24

// B_2j / (2j)! for j = 1..12 (Euler-Maclaurin).
__constant__ double kBernF[12] = {
    0.08333333333333333,    -0.001388888888888889,  3.3068783068783064e-05,
    -8.267195767195768e-07, 2.08767569878681e-08,   -5.284190138687493e-10,
    1.338253653068468e-11,  -3.3896802963225827e-13, 8.586062056277845e-15,
    -2.174868698558062e-16, 5.5090028283602295e-18, -1.3954464685812525e-19};

// digamma in float64: NaN at the negative integers and -inf, -+inf at +-0.
__device__ double psi(double x) {
  if (x != x) return x;
  if (x == 0.0) return -1.0 / x;
  if (isinf(x)) return x > 0.0 ? x : CUDART_NAN;
  if (x < 0.0 && floor(x) == x) return CUDART_NAN;
  double r = 0.0;
  if (x < 0.5) {  // psi(x) = psi(1 - x) - pi cot(pi x)
    r = -CUDART_PI * cospi(x) / sinpi(x);
    x = 1.0 - x;
  }
  for (; x < 10.0; x += 1.0) r -= 1.0 / x;
  const double iz2 = 1.0 / (x * x);
  const double s = iz2 * (1.0 / 12 - iz2 * (1.0 / 120 - iz2 * (1.0 / 252 - iz2 * (
      1.0 / 240 - iz2 * (1.0 / 132 - iz2 * (691.0 / 32760 - iz2 / 12))))));
  return r + log(x) - 0.5 / x - s;
}

struct Gamma3 {
  double p, q, dpda;
};

// P, Q and (want_da) dP/da; NaN outside a > 0, x >= 0 (and at a = x = inf).
__device__ Gamma3 igamma_parts(double a, double x, bool want_da) {
  const double nan = CUDART_NAN;
  if (!(a > 0.0) || !(x >= 0.0)) return {nan, nan, nan};
  if (x == 0.0) return {0.0, 1.0, 0.0};
  if (isinf(x)) return isinf(a) ? Gamma3{nan, nan, nan} : Gamma3{1.0, 0.0, 0.0};
  if (isinf(a)) return {0.0, 1.0, 0.0};
  const double lx = log(x);
  const double pre = exp(a * lx - x - lgamma(a));
  if (x < a + 1.0) {
    // P = pre * S, S = sum_n term_n, term_n = x^n / (a (a+1) ... (a+n)); dterm = d term / da
    double term = 1.0 / a, s = term, dterm = -term / a, ds = dterm;
    for (int n = 1; n <= kMaxIter; ++n) {
      const double r = x / (a + n);
      dterm = dterm * r - term * r / (a + n);
      term *= r;
      s += term;
      ds += dterm;
      if (fabs(term) <= kSeriesEps * fabs(s) &&
          (!want_da || fabs(dterm) <= kSeriesEps * fabs(ds)))
        break;
    }
    const double p = pre * s;
    return {p, 1.0 - p, want_da ? p * (lx - psi(a)) + pre * ds : nan};
  }
  // Q = pre * F, F = A_n / B_n with A_n = b_n A_{n-1} + a_n A_{n-2} (and B_n), a_1 = 1,
  // b_1 = x + 1 - a, a_n = -(n-1)(n-1-a), b_n = x + 2n - 1 - a; dA, dB their a-derivatives.
  double am2 = 0.0, bm2 = 1.0, dam2 = 0.0, dbm2 = 0.0;
  double am1 = 1.0, bm1 = x + 1.0 - a, dam1 = 0.0, dbm1 = -1.0;
  double f = am1 / bm1, df = (dam1 * bm1 - am1 * dbm1) / (bm1 * bm1);
  for (int n = 2; n <= kMaxIter; ++n) {
    const double an = -(n - 1.0) * (n - 1.0 - a), dan = n - 1.0, bn = x + 2.0 * n - 1.0 - a;
    const double A = bn * am1 + an * am2, B = bn * bm1 + an * bm2;
    const double dA = -am1 + bn * dam1 + dan * am2 + an * dam2;
    const double dB = -bm1 + bn * dbm1 + dan * bm2 + an * dbm2;
    const double sc = B != 0.0 ? 1.0 / B : 1.0;  // rescale: keeps B_n = 1
    am2 = am1 * sc, bm2 = bm1 * sc, dam2 = dam1 * sc, dbm2 = dbm1 * sc;
    am1 = A * sc, bm1 = B * sc, dam1 = dA * sc, dbm1 = dB * sc;
    const double fn = am1 / bm1, dfn = (dam1 * bm1 - am1 * dbm1) / (bm1 * bm1);
    const bool done = fabs(fn - f) <= kFracEps * fabs(fn) &&
                      (!want_da || fabs(dfn - df) <= kFracEps * fabs(dfn));
    f = fn, df = dfn;
    if (done) break;
  }
  const double q = pre * f;
  return {1.0 - q, q, want_da ? -(q * (lx - psi(a)) + pre * df) : nan};
}

// I_x(a, b) by x^a / B(a, b) * (1/a + sum_n (1-b)(2-b)...(n-b) x^n / (n! (a+n))).
__device__ double beta_series(double a, double b, double x) {
  double t = (1.0 - b) * x;
  double s = 1.0 / a + t / (a + 1.0);
  for (int n = 2; n < 20000; ++n) {
    t = t * (n - b) * x / n;
    const double v = t / (a + n);
    s += v;
    if (!(fabs(v) > 1e-17 * fabs(s))) break;
  }
  return s * exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x));
}

// The continued fraction of I_x(a, b) (times a B(a, b) / (x^a (1-x)^b)), modified Lentz.
__device__ double beta_fraction(double a, double b, double x) {
  const double tiny = 1e-300, qab = a + b, qap = a + 1.0, qam = a - 1.0;
  double c = 1.0, d = 1.0 - qab * x / qap;
  if (fabs(d) < tiny) d = tiny;
  d = 1.0 / d;
  double h = d;
  for (int m = 1; m <= kMaxIter; ++m) {
    const double m2 = 2.0 * m;
    double de = 1.0;
    for (int half = 0; half < 2; ++half) {
      const double aa = half == 0 ? m * (b - m) * x / ((qam + m2) * (a + m2))
                                  : -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
      d = 1.0 + aa * d;
      if (fabs(d) < tiny) d = tiny;
      c = 1.0 + aa / c;
      if (fabs(c) < tiny) c = tiny;
      d = 1.0 / d;
      de = d * c;
      h *= de;
    }
    if (!(fabs(de - 1.0) > 1e-16)) break;
  }
  return h;
}

__device__ double betainc(double a, double b, double x) {
  if (!(a > 0.0 && b > 0.0 && x >= 0.0 && x <= 1.0)) return CUDART_NAN;
  if (x == 0.0) return 0.0;
  if (x == 1.0) return 1.0;
  if (b * x <= 1.0 && x <= 0.95) return beta_series(a, b, x);
  const double lbt = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x);
  const bool flip = x > (a + 1.0) / (a + b + 2.0);  // (1 - x is exact enough there)
  const double a2 = flip ? b : a, b2 = flip ? a : b, x2 = flip ? 1.0 - x : x;
  const double v = exp(lbt) * beta_fraction(a2, b2, x2) / a2;
  return flip ? 1.0 - v : v;
}

__device__ double zeta(double x, double q) {
  if (x == 1.0) return CUDART_INF;
  if (!(x > 1.0) || q != q) return CUDART_NAN;
  const bool qint = floor(q) == q, xint = floor(x) == x;
  if (q <= 0.0 && qint && xint && fmod(x, 2.0) == 0.0) return CUDART_INF;  // a pole, x even
  if (isinf(x)) {  // (q + k)^-inf: only q <= 1 survives
    if (!(q > 0.0)) return CUDART_NAN;
    return q < 1.0 ? CUDART_INF : (q == 1.0 ? 1.0 : 0.0);
  }
  if (isinf(q)) return q > 0.0 ? 0.0 : CUDART_NAN;
  if (!(q > 0.0 || (!qint && xint))) return CUDART_NAN;  // negative q: integer x only
  const double terms = fmax(9.0, ceil(9.0 - q));
  if (terms > kMaxZetaTerms) return CUDART_NAN;
  const int64_t nterms = static_cast<int64_t>(terms);
  double acc = 0.0;
  for (int64_t k = 0; k < nterms; ++k) acc += pow(q + static_cast<double>(k), -x);
  const double w = q + terms;
  acc += pow(w, 1.0 - x) / (x - 1.0) + 0.5 * pow(w, -x);
  double fac = x * pow(w, -x - 1.0);  // x (x+1) ... (x+2j-2) w^(-x-2j+1)
  for (int j = 0; j < 12; ++j) {
    acc += kBernF[j] * fac;
    fac = fac * (x + 2.0 * j + 1.0) * (x + 2.0 * j + 2.0) / (w * w);
  }
  return acc;
}

__device__ double polygamma(double n, double x) {
  if (!(floor(n) == n && n >= 0.0)) return CUDART_NAN;
  if (n == 0.0) return (x <= 0.0 && floor(x) == x) ? CUDART_NAN : psi(x);
  const double sign = fmod(n, 2.0) == 1.0 ? 1.0 : -1.0;
  return sign * exp(lgamma(n + 1.0)) * zeta(n + 1.0, x);
}

__device__ __forceinline__ double eval(Op op, double u, double v, double w) {
  switch (op) {
    case Op::Igamma: return igamma_parts(u, v, false).p;
    case Op::Igammac: return igamma_parts(u, v, false).q;
    case Op::IgammaGradA: return igamma_parts(u, v, true).dpda;
    case Op::IgammaDx: return exp((u - 1.0) * log(v) - v - lgamma(u));
    case Op::Zeta: return zeta(u, v);
    case Op::Polygamma: return polygamma(u, v);
    case Op::Betainc: return betainc(u, v, w);
    case Op::BetaincDx:
      return exp((u - 1.0) * log(w) + (v - 1.0) * log1p(-w) -
                 (lgamma(u) + lgamma(v) - lgamma(u + v)));
  }
  return CUDART_NAN;  // unreachable: the binding checks the name
}

// One instance per op: with the op a runtime switch, ptxas sized every op by the heaviest
// (64 registers and 44-68 bytes of spills for all of them).
template <typename T, Op kOp>
__global__ void __launch_bounds__(kThreads)
    incomplete_kernel(const T* __restrict__ u, const T* __restrict__ v,
                      const T* __restrict__ w,  // [n] or nullptr (arity 2)
                      T* __restrict__ y, int64_t n) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += step) {
    const double wi = w ? static_cast<double>(w[i]) : 0.0;
    y[i] = static_cast<T>(eval(kOp, static_cast<double>(u[i]), static_cast<double>(v[i]), wi));
  }
}

template <typename T, Op kOp>
void launch_incomplete(const T* u, const T* v, const T* w, T* y, int64_t n) {
  incomplete_kernel<T, kOp><<<grid_for(n, kThreads), kThreads, 0, stream()>>>(u, v, w, y, n);
}

template <typename T>
void launch_incomplete(Op op, const void* u, const void* v, const void* w, void* y, int64_t n) {
  switch (op) {
#define NABI_INCOMPLETE_LAUNCH(id, name, arity)                                            \
  case Op::id:                                                                             \
    launch_incomplete<T, Op::id>(static_cast<const T*>(u), static_cast<const T*>(v),       \
                                 static_cast<const T*>(w), static_cast<T*>(y), n);         \
    break;
    NABI_INCOMPLETE_OPS(NABI_INCOMPLETE_LAUNCH)
#undef NABI_INCOMPLETE_LAUNCH
  }
}

}  // namespace

void incomplete(Op op, DType dtype, const void* u, const void* v, const void* w, void* y,
                int64_t n) {
  if (n <= 0) return;
  if (dtype == DType::Float32) {
    launch_incomplete<float>(op, u, v, w, y, n);
    NABI_CUDA_CHECK_LAUNCH("incomplete_kernel<float>");
  } else if (dtype == DType::Float64) {
    launch_incomplete<double>(op, u, v, w, y, n);
    NABI_CUDA_CHECK_LAUNCH("incomplete_kernel<double>");
  } else {
    throw std::invalid_argument("[special_incomplete] arguments must be float32 or float64");
  }
}

}  // namespace nabi::cuda::special_incomplete
