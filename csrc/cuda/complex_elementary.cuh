// The elementary functions of a complex element (complex.cu's math ops): exp, expm1, log,
// log1p, sqrt, square, reciprocal, sign, sinh, cosh, tanh, sin, cos, tan and pow, for Cx<R>
// with R float (complex64) or double (complex128). Host and device.
//
// Branch cuts and special values (inf / nan / signed zeros) follow C99 Annex G as glibc and
// NumPy give them: log, sqrt, pow cut along the negative real axis, continuous from above
// (+0 imaginary part) or below (-0); sin / cos / tan through the hyperbolic ones
// (sin z = -i sinh(iz)). square, reciprocal, sign, expm1 and the integer powers of pow are
// NumPy's own formulas (its results at inf / nan are those formulas' ones). exp / sinh / cosh
// scale large real parts so that exp(x) cos(y) overflows only when the result does; log and
// log1p near |z| = 1 / z = 0 go through log1p (accurate real part).
// Tested by tests/test_cuda_complex_math.py against NumPy complex128.
#pragma once
#include <cmath>
#include <type_traits>

#include "cuda/complex_math.cuh"

namespace nabi::cuda::nd::cxm {

// The libm function of R's precision (float: the f-suffixed one).
#define NABI_CX_MATH1(name)                                       \
  template <typename R>                                           \
  __host__ __device__ __forceinline__ R name(R x) {               \
    if constexpr (std::is_same_v<R, float>) return ::name##f(x);  \
    else return ::name(x);                                        \
  }
#define NABI_CX_MATH2(name)                                        \
  template <typename R>                                            \
  __host__ __device__ __forceinline__ R name(R x, R y) {           \
    if constexpr (std::is_same_v<R, float>) return ::name##f(x, y); \
    else return ::name(x, y);                                      \
  }
NABI_CX_MATH1(exp) NABI_CX_MATH1(expm1) NABI_CX_MATH1(log) NABI_CX_MATH1(log1p)
NABI_CX_MATH1(sqrt) NABI_CX_MATH1(fabs) NABI_CX_MATH1(sin) NABI_CX_MATH1(cos)
NABI_CX_MATH1(tan) NABI_CX_MATH1(sinh) NABI_CX_MATH1(cosh)
NABI_CX_MATH2(hypot) NABI_CX_MATH2(atan2) NABI_CX_MATH2(copysign)
#undef NABI_CX_MATH1
#undef NABI_CX_MATH2

template <typename R>
__host__ __device__ __forceinline__ bool finite(R x) {
  return isfinite(x);
}
template <typename R>
__host__ __device__ __forceinline__ R nan_of(R x) {  // a quiet nan (x - x of an inf / nan)
  return x - x;
}
// Above it exp(x) overflows (log of R's largest value, rounded down).
template <typename R>
__host__ __device__ __forceinline__ R exp_max() {
  return std::is_same_v<R, float> ? R(88.72) : R(709.78);
}

// k e^x (c + i s) for finite x, y: overflows only where the result does (x up to 2 exp_max).
template <typename R>
__host__ __device__ __forceinline__ Cx<R> exp_cis(R x, R c, R s, R k = R(1)) {
  if (x <= exp_max<R>()) {
    const R e = exp(x) * k;
    return {e * c, e * s};
  }
  const R h = exp(R(0.5) * x);
  return {(h * k * c) * h, (h * k * s) * h};
}

// a b with C99 Annex G's recovery of infinities (where the plain product gives nan + i nan
// but a part of a or b is infinite), as C's complex * (pow's b log a).
template <typename R>
__host__ __device__ Cx<R> cmul_c99(Cx<R> a, Cx<R> b) {
  const R ac = a.re * b.re, bd = a.im * b.im, ad = a.re * b.im, bc = a.im * b.re;
  Cx<R> r{ac - bd, ad + bc};
  if (!isnan(r.re) || !isnan(r.im)) return r;
  auto box = [](R v) { return copysign(isinf(v) ? R(1) : R(0), v); };
  auto zero_nan = [](R v) { return isnan(v) ? copysign(R(0), v) : v; };
  bool again = false;
  if (isinf(a.re) || isinf(a.im)) {
    a = {box(a.re), box(a.im)};
    b = {zero_nan(b.re), zero_nan(b.im)};
    again = true;
  }
  if (isinf(b.re) || isinf(b.im)) {
    b = {box(b.re), box(b.im)};
    a = {zero_nan(a.re), zero_nan(a.im)};
    again = true;
  }
  if (!again && (isinf(ac) || isinf(bd) || isinf(ad) || isinf(bc))) {
    a = {zero_nan(a.re), zero_nan(a.im)};
    b = {zero_nan(b.re), zero_nan(b.im)};
    again = true;
  }
  if (again) {
    const R inf = R(INFINITY);
    r = {inf * (a.re * b.re - a.im * b.im), inf * (a.re * b.im + a.im * b.re)};
  }
  return r;
}

template <typename R>
__host__ __device__ Cx<R> cexp(Cx<R> z) {
  const R x = z.re, y = z.im;
  if (y == R(0)) return {exp(x), y};  // also x nan / inf: exp(x) + i y
  if (!finite(y)) {
    if (isinf(x)) return x < R(0) ? Cx<R>{R(0), copysign(R(0), y)} : Cx<R>{x, nan_of(y)};
    return {nan_of(y), nan_of(y)};
  }
  if (isinf(x)) return x < R(0) ? Cx<R>{R(0) * cos(y), R(0) * sin(y)}
                                 : Cx<R>{x * cos(y), x * sin(y)};
  return exp_cis(x, cos(y), sin(y));  // x nan: nan + i nan
}

// NumPy's: expm1(x) cos y - 2 sin^2(y/2) + i e^x sin y.
template <typename R>
__host__ __device__ Cx<R> cexpm1(Cx<R> z) {
  const R x = z.re, y = z.im, h = sin(R(0.5) * y);
  return {expm1(x) * cos(y) - R(2) * h * h, exp(x) * sin(y)};
}

// log|z| + i arg z; |z| near 1: 1/2 log1p((a - 1)(a + 1) + b^2), a >= b the parts' sizes.
template <typename R>
__host__ __device__ Cx<R> clog(Cx<R> z) {
  const R ax = fabs(z.re), ay = fabs(z.im);
  const R a = ax > ay ? ax : ay, b = ax > ay ? ay : ax;
  const R arg = atan2(z.im, z.re);
  if (a > R(0.71) && a < R(1.73) && b < R(0.71))  // so |z|^2 in (0.5, 3.5)
    return {R(0.5) * log1p((a - R(1)) * (a + R(1)) + b * b), arg};
  return {log(hypot(z.re, z.im)), arg};  // log(+0) = -inf, hypot(inf, nan) = inf
}

// log(1 + z): 1/2 log1p(x (2 + x) + y^2) + i atan2(y, 1 + x) for small z.
template <typename R>
__host__ __device__ Cx<R> clog1p(Cx<R> z) {
  const R x = z.re, y = z.im;
  if (fabs(x) < R(0.5) && fabs(y) < R(0.5))
    return {R(0.5) * log1p(x * (R(2) + x) + y * y), atan2(y, R(1) + x)};
  return clog(Cx<R>{R(1) + x, y});
}

// Kahan's: t = sqrt((|x| + |z|) / 2), then (t, y / 2t) or (|y| / 2t, copysign(t, y)); parts
// near R's edges scaled by 1/4 or 2^(2k) first.
template <typename R>
__host__ __device__ Cx<R> csqrt(Cx<R> z) {
  const R x = z.re, y = z.im;
  if (x == R(0) && y == R(0)) return {R(0), y};
  if (isinf(y)) return {fabs(y), y};
  if (isnan(x)) return {x, nan_of(x)};
  if (isinf(x)) {
    if (x > R(0)) return {x, isnan(y) ? y : copysign(R(0), y)};
    return {isnan(y) ? y : R(0), copysign(x, y)};
  }
  if (isnan(y)) return {y, y};
  constexpr bool f = std::is_same_v<R, float>;
  const R big = f ? R(8.5e37) : R(4.4e307), tiny = f ? R(1e-36) : R(1e-305);
  const R up = f ? R(281474976710656.0) : R(3.2451855365842673e32);  // 2^48, 2^108
  const R down = f ? R(5.9604644775390625e-08) : R(5.551115123125783e-17);  // 2^-24, 2^-54
  R s = R(1), xs = x, ys = y;
  if (fabs(x) > big || fabs(y) > big) {
    xs *= R(0.25);
    ys *= R(0.25);
    s = R(2);
  } else if (fabs(x) < tiny && fabs(y) < tiny) {
    xs *= up;
    ys *= up;
    s = down;
  }
  const R t = sqrt(R(0.5) * (fabs(xs) + hypot(xs, ys)));
  if (xs >= R(0)) return {t * s, ys / (R(2) * t) * s};
  return {fabs(ys) / (R(2) * t) * s, copysign(t, ys) * s};
}

// NumPy's: x^2 - y^2 + i (xy + yx).
template <typename R>
__host__ __device__ __forceinline__ Cx<R> csquare(Cx<R> z) {
  return {z.re * z.re - z.im * z.im, z.re * z.im + z.im * z.re};
}

// NumPy's 1 / z (Smith's without the zero branch: 1 / 0 is nan + i nan).
template <typename R>
__host__ __device__ __forceinline__ Cx<R> creciprocal(Cx<R> z) {
  if (fabs(z.im) <= fabs(z.re)) {
    const R r = z.im / z.re, d = z.re + z.im * r;
    return {R(1) / d, -r / d};
  }
  const R r = z.re / z.im, d = z.re * r + z.im;
  return {r / d, R(-1) / d};
}

// NumPy's (and TF's) z / |z|, 0 at 0; an infinite part gives its sign (both: nan).
template <typename R>
__host__ __device__ Cx<R> csign(Cx<R> z) {
  const R m = hypot(z.re, z.im);
  if (isnan(m)) return {nan_of(m), nan_of(m)};
  if (isinf(m)) {
    if (isinf(z.re)) return isinf(z.im) ? Cx<R>{nan_of(m), nan_of(m)}
                                        : Cx<R>{z.re > R(0) ? R(1) : R(-1), R(0)};
    return {R(0), z.im > R(0) ? R(1) : R(-1)};
  }
  if (m == R(0)) return {R(0), R(0)};
  return {z.re / m, z.im / m};
}

// sinh(x) cos(y) + i cosh(x) sin(y), the large-x terms as e^|x| / 2 (scaled as exp_cis).
template <typename R>
__host__ __device__ Cx<R> csinh(Cx<R> z) {
  const R x = z.re, y = z.im;
  if (finite(x) && finite(y)) {
    if (y == R(0)) return {sinh(x), y};
    if (fabs(x) < R(20)) return {sinh(x) * cos(y), cosh(x) * sin(y)};
    const Cx<R> e = exp_cis(fabs(x), cos(y), sin(y), R(0.5));
    return {copysign(R(1), x) * e.re, e.im};
  }
  if (x == R(0)) return {x, nan_of(y)};  // y inf / nan
  if (isinf(x)) {
    if (y == R(0)) return {x, y};
    if (!finite(y)) return {fabs(x), nan_of(y)};  // the sign is C99's choice: glibc's +inf
    return {x * cos(y), fabs(x) * sin(y)};
  }
  if (isnan(x) && y == R(0)) return {x, y};
  return {nan_of(x + y), nan_of(x + y)};
}

// cosh(x) cos(y) + i sinh(x) sin(y).
template <typename R>
__host__ __device__ Cx<R> ccosh(Cx<R> z) {
  const R x = z.re, y = z.im;
  if (finite(x) && finite(y)) {
    if (y == R(0)) return {cosh(x), copysign(R(0), x) * y};
    if (fabs(x) < R(20)) return {cosh(x) * cos(y), sinh(x) * sin(y)};
    const Cx<R> e = exp_cis(fabs(x), cos(y), sin(y), R(0.5));
    return {e.re, copysign(R(1), x) * e.im};
  }
  if (x == R(0)) return {nan_of(y), R(0)};  // y inf / nan
  if (isinf(x)) {
    if (y == R(0)) return {fabs(x), copysign(R(0), x) * y};
    if (!finite(y)) return {fabs(x), nan_of(y)};
    return {fabs(x) * cos(y), x * sin(y)};
  }
  if (isnan(x) && y == R(0)) return {x, y};
  return {nan_of(x + y), nan_of(x + y)};
}

// Kahan's: with t = tan y, b = 1 + t^2, s = sinh x, r = sqrt(1 + s^2):
// (b r s + i t) / (1 + b s^2); large |x|: sign(x) + i 4 sin y cos y e^(-2|x|).
template <typename R>
__host__ __device__ Cx<R> ctanh(Cx<R> z) {
  const R x = z.re, y = z.im;
  if (isnan(x)) return y == R(0) ? Cx<R>{x, y} : Cx<R>{x, nan_of(x)};
  if (isinf(x))
    return {copysign(R(1), x), copysign(R(0), finite(y) ? sin(y) * cos(y) : y)};
  if (!finite(y)) return {x == R(0) ? x : nan_of(y), nan_of(y)};
  if (fabs(x) >= (std::is_same_v<R, float> ? R(9) : R(22))) {
    const R e = exp(R(-2) * fabs(x));
    return {copysign(R(1), x), R(4) * sin(y) * cos(y) * e};
  }
  const R t = tan(y), b = R(1) + t * t, s = sinh(x), r = sqrt(R(1) + s * s);
  const R d = R(1) + b * s * s;
  return {b * r * s / d, t / d};
}

// sin z = -i sinh(i z), cos z = cosh(i z), tan z = -i tanh(i z).
template <typename R>
__host__ __device__ __forceinline__ Cx<R> csin(Cx<R> z) {
  if (isinf(z.im) && !finite(z.re)) return {nan_of(z.im), fabs(z.im)};  // glibc's sign
  const Cx<R> w = csinh(Cx<R>{-z.im, z.re});
  return {w.im, -w.re};
}
template <typename R>
__host__ __device__ __forceinline__ Cx<R> ccos(Cx<R> z) {
  return ccosh(Cx<R>{-z.im, z.re});
}
template <typename R>
__host__ __device__ __forceinline__ Cx<R> ctan(Cx<R> z) {
  const Cx<R> w = ctanh(Cx<R>{-z.im, z.re});
  return {w.im, -w.re};
}

// NumPy's a ** b: 1 for b = 0; 0 ** b is 0 where b's real part is > 0, else nan; an integer real
// |b| < 100 by repeated squaring (negative: 1 over it, as NumPy divides); else
// exp(b log a).
template <typename R>
__host__ __device__ Cx<R> cpow(Cx<R> a, Cx<R> b) {
  if (b.re == R(0) && b.im == R(0)) return {R(1), R(0)};
  if (a.re == R(0) && a.im == R(0)) return b.re > R(0) ? Cx<R>{R(0), R(0)} : Cx<R>{R(NAN), R(NAN)};
  if (b.im == R(0) && b.re > R(-100) && b.re < R(100) && b.re == R(int(b.re))) {
    int n = int(b.re);
    if (n == 1) return a;
    if (n == 2) return cx_mul(a, a);
    if (n == 3) return cx_mul(a, cx_mul(a, a));
    if (n < 0) n = -n;
    Cx<R> acc{R(1), R(0)}, p = a;
    for (int mask = 1;; mask <<= 1) {
      if (n & mask) acc = cx_mul(acc, p);
      if (n < (mask << 1)) break;
      p = cx_mul(p, p);
    }
    if (b.re > R(0)) return acc;
    // 1 / acc as NumPy's complex division (Smith's, the quotient's scale multiplied last)
    if (fabs(acc.re) >= fabs(acc.im)) {
      if (acc.re == R(0) && acc.im == R(0)) return {R(INFINITY), R(NAN)};
      const R r = acc.im / acc.re, k = R(1) / (acc.re + acc.im * r);
      return {k, (R(0) - r) * k};
    }
    const R r = acc.re / acc.im, k = R(1) / (acc.im + acc.re * r);
    return {(r + R(0)) * k, R(-1) * k};  // r + 0: -0 + 0 is +0, as in NumPy's (1 r + 0) k
  }
  return cexp(cmul_c99(b, clog(a)));
}

}  // namespace nabi::cuda::nd::cxm
