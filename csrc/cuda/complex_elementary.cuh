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
NABI_CX_MATH1(tan) NABI_CX_MATH1(sinh) NABI_CX_MATH1(cosh) NABI_CX_MATH1(asin)
NABI_CX_MATH1(acos) NABI_CX_MATH1(atan) NABI_CX_MATH1(atanh)
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


// ---- the inverse functions: asinh, asin, acos, acosh, atanh, atan ---------------------------
// Hull, Fairgrieve and Tang's algorithm (ACM TOMS 23, 1997) for asinh / acos, with A =
// (|z + i| + |z - i|) / 2 (asinh) or (|z + 1| + |z - 1|) / 2 (acos): the real part of asinh is
// log(A + sqrt(A^2 - 1)), through log1p of A - 1 (summed from (hypot(a, b) - b) / 2 terms, no
// cancellation) for A < 10; the imaginary part asin(y / A), or atan2(y, sqrt(A^2 - y^2)) where
// y / A > 0.6417 (A - y summed the same way). |z| > 1 / eps: log(2z) (asinh), |z| below
// sqrt(6 eps) / 4: z itself. atanh: 1/4 log1p(4|x| / ((|x| - 1)^2 + y^2)) + i/2 atan2(2y,
// (1 - x)(1 + x) - y^2); |z| > 1 / eps: Re(1 / z) + i pi/2. asin, atan: asinh, atanh of the
// swapped parts, swapped back (odd, conjugate-symmetric); acosh from acos's parts. Special
// values as C99 Annex G; where it leaves a sign open, glibc's (NumPy's) choice.

template <typename R>
__host__ __device__ __forceinline__ R eps_of() {
  return std::is_same_v<R, float> ? R(1.1920928955078125e-07) : R(2.220446049250313e-16);
}
template <typename R>
__host__ __device__ __forceinline__ R ln2_of() {
  return R(0.6931471805599453);
}
template <typename R>
__host__ __device__ __forceinline__ R pio2_of() {  // pi / 2 rounded to R
  return R(1.5707963267948966);
}
template <typename R>
__host__ __device__ __forceinline__ R pio2_lo_of() {  // pi / 2 - pio2_of<R>()
  return std::is_same_v<R, float> ? R(-4.371138828673793e-08) : R(6.123233995736766e-17);
}
template <typename R>
__host__ __device__ __forceinline__ R scalbn(R x, int e) {
  if constexpr (std::is_same_v<R, float>) return ::scalbnf(x, e);
  else return ::scalbn(x, e);
}
template <typename R>
__host__ __device__ __forceinline__ int ilogb(R x) {
  if constexpr (std::is_same_v<R, float>) return ::ilogbf(x);
  else return ::ilogb(x);
}
template <typename R>
__host__ __device__ __forceinline__ bool negative_sign(R x) {  // signbit, -0 and -nan included
  return copysign(R(1), x) < R(0);
}

// (h - b) / 2 for h = hypot(a, b), a >= 0, without cancellation.
template <typename R>
__host__ __device__ __forceinline__ R half_excess(R a, R b, R h) {
  if (b < R(0)) return R(0.5) * (h - b);
  if (b == R(0)) return R(0.5) * a;
  return R(0.5) * (a * a / (h + b));
}

// log z for x, y >= 0 (not both 0) with |z| possibly above R's largest value.
template <typename R>
__host__ __device__ __forceinline__ Cx<R> clog_first_quadrant(R x, R y) {
  const R big = std::is_same_v<R, float> ? R(1.7e38) : R(8.9e307);  // about max / 2
  const R re = (x > big || y > big) ? log(hypot(R(0.5) * x, R(0.5) * y)) + ln2_of<R>()
                                    : log(hypot(x, y));
  return {re, atan2(y, x)};
}

// asinh(x + i y) for x, y >= 0 finite, |z| <= 1 / eps, as HFT's parts: re = Re asinh, and the
// imaginary part asin(b) where use_b, else atan2(num, den) (num = y, den = sqrt(A^2 - y^2),
// both scaled alike where they would underflow).
template <typename R>
struct AsinhParts {
  R re, b, num, den;
  bool use_b;
};
template <typename R>
__host__ __device__ AsinhParts<R> asinh_parts(R x, R y) {
  const R eps = eps_of<R>();
  const R four_sqrt_min = std::is_same_v<R, float> ? R(4.3368086899420177e-19)   // 2^-61
                                                   : R(5.966672584960166e-154);  // 2^-509
  const R r = hypot(x, y + R(1)), s = hypot(x, y - R(1));
  R a = R(0.5) * (r + s);
  if (a < R(1)) a = R(1);
  AsinhParts<R> p;
  if (a < R(10)) {
    if (y == R(1) && x < eps * eps / R(128)) {
      p.re = sqrt(x);
    } else if (x >= eps * fabs(y - R(1))) {
      const R am1 = half_excess(x, R(1) + y, r) + half_excess(x, R(1) - y, s);  // A - 1
      p.re = log1p(am1 + sqrt(am1 * (a + R(1))));
    } else if (y < R(1)) {
      p.re = x / sqrt((R(1) - y) * (R(1) + y));
    } else {
      p.re = log1p((y - R(1)) + sqrt((y - R(1)) * (y + R(1))));
    }
  } else {
    p.re = log(a + sqrt(a * a - R(1)));
  }
  p.num = y;
  p.b = R(0);
  if (y < four_sqrt_min) {  // y / A would lose bits: atan2 of both scaled up
    p.use_b = false;
    p.den = a * (R(2) / eps);
    p.num = y * (R(2) / eps);
    return p;
  }
  p.b = y / a;
  p.use_b = p.b <= R(0.6417);
  if (p.use_b) return p;
  if (y == R(1) && x < eps / R(128)) {
    p.den = sqrt(x) * sqrt(R(0.5) * (a + y));
  } else if (x >= eps * fabs(y - R(1))) {
    const R amy = half_excess(x, y + R(1), r) + half_excess(x, y - R(1), s);  // A - y
    p.den = sqrt(amy * (a + y));
  } else if (y > R(1)) {  // sqrt(A^2 - y^2) ~ x y / sqrt(y^2 - 1): scaled by 4 / eps^2
    const R k = R(4) / eps / eps;
    p.den = x * k * y / sqrt((y + R(1)) * (y - R(1)));
    p.num = y * k;
  } else {
    p.den = sqrt((R(1) - y) * (R(1) + y));
  }
  return p;
}

template <typename R>
__host__ __device__ Cx<R> casinh(Cx<R> z) {
  const R x = z.re, y = z.im, ax = fabs(x), ay = fabs(y), eps = eps_of<R>();
  if (isnan(x) || isnan(y)) {
    if (isinf(x)) return {x, y + y};
    if (isinf(y)) return {fabs(y), x + x};  // the real part's sign is open: glibc's +inf
    if (y == R(0)) return {x + x, y};
    return {nan_of(x + y), nan_of(x + y)};
  }
  if (ax > R(1) / eps || ay > R(1) / eps) {  // log(2 z) (infinities included)
    const Cx<R> w = clog_first_quadrant(ax, ay);
    return {copysign(w.re + ln2_of<R>(), x), copysign(w.im, y)};
  }
  const R tiny = std::is_same_v<R, float> ? R(2.1143198e-4) : R(9.125060374972142e-09);
  if (ax < tiny && ay < tiny) return z;  // sqrt(6 eps) / 4: asinh z = z (1 - z^2 / 6 ...)
  const AsinhParts<R> p = asinh_parts(ax, ay);
  const R im = p.use_b ? asin(p.b) : atan2(p.num, p.den);
  return {copysign(p.re, x), copysign(im, y)};
}

// asin(x + i y) = i-swapped asinh(y + i x).
template <typename R>
__host__ __device__ __forceinline__ Cx<R> casin(Cx<R> z) {
  const Cx<R> w = casinh(Cx<R>{z.im, z.re});
  return {w.im, w.re};
}

template <typename R>
__host__ __device__ Cx<R> cacos(Cx<R> z) {
  const R x = z.re, y = z.im, ax = fabs(x), ay = fabs(y), eps = eps_of<R>();
  const bool sx = negative_sign(x), sy = negative_sign(y);
  const R pio2 = pio2_of<R>();
  if (isnan(x) || isnan(y)) {
    if (isinf(x)) return {y + y, -R(INFINITY)};
    if (isinf(y)) return {x + x, -y};
    if (x == R(0)) return {pio2, y + y};
    return {nan_of(x + y), nan_of(x + y)};
  }
  if (ax > R(1) / eps || ay > R(1) / eps) {  // arg z - i sign(y) log(2 |z|)
    const Cx<R> w = clog_first_quadrant(ax, ay);
    const R im = w.re + ln2_of<R>();
    return {atan2(ay, x), sy ? im : -im};
  }
  if (x == R(1) && y == R(0)) return {R(0), -y};
  const R tiny = std::is_same_v<R, float> ? R(2.1143198e-4) : R(9.125060374972142e-09);
  if (ax < tiny && ay < tiny) return {pio2 - (x - pio2_lo_of<R>()), -y};
  const AsinhParts<R> p = asinh_parts(ay, ax);  // Re acos = acos(x / A), A of z + 1, z - 1
  R re;
  if (p.use_b) re = acos(sx ? -p.b : p.b);
  else re = atan2(p.den, sx ? -p.num : p.num);
  return {re, sy ? p.re : -p.re};
}

// acosh z = +-i acos z: the real part |Im acos z|, the imaginary part Re acos z (w) with the
// sign of y = Im z. acosh(+-0 + i nan) = nan + i pi/2 as glibc and C17 (DR 471; C99 said
// nan + i nan).
template <typename R>
__host__ __device__ __forceinline__ Cx<R> acosh_of_acos(Cx<R> w, R y) {
  if (isnan(w.im)) return {w.im, w.re};
  if (isnan(w.re)) return {fabs(w.im), w.re};
  return {fabs(w.im), copysign(w.re, y)};
}
template <typename R>
__host__ __device__ __forceinline__ Cx<R> cacosh(Cx<R> z) {
  return acosh_of_acos(cacos(z), z.im);
}

// Re(1 / z) = x / |z|^2 for a large z (scaled by a power of two: no overflow).
template <typename R>
__host__ __device__ __forceinline__ R real_of_reciprocal(R x, R y) {
  if (isinf(x) || isinf(y)) return copysign(R(0), x);
  const int e = ilogb(fabs(x) > fabs(y) ? x : y);
  const R xs = scalbn(x, -e), ys = scalbn(y, -e);
  return scalbn(xs / (xs * xs + ys * ys), -e);
}

template <typename R>
__host__ __device__ Cx<R> catanh(Cx<R> z) {
  const R x = z.re, y = z.im, ax = fabs(x), ay = fabs(y), eps = eps_of<R>();
  const R pio2 = pio2_of<R>();
  if (y == R(0) && ax <= R(1)) return {atanh(x), y};
  if (x == R(0)) return {x, atan(y)};
  if (isnan(x) || isnan(y)) {
    if (isinf(x)) return {copysign(R(0), x), y + y};
    if (isinf(y)) return {copysign(R(0), x), copysign(pio2, y)};
    return {nan_of(x + y), nan_of(x + y)};
  }
  if (ax > R(1) / eps || ay > R(1) / eps) return {real_of_reciprocal(x, y), copysign(pio2, y)};
  const R tiny = std::is_same_v<R, float> ? R(2.9900998e-4) : R(1.2904784139758924e-08);
  if (ax < tiny && ay < tiny) return z;  // sqrt(3 eps) / 2: atanh z = z (1 + z^2 / 3 ...)
  const R d = ax - R(1);
  const R re = (ax == R(1) && ay < eps) ? R(0.5) * (ln2_of<R>() - log(ay))
                                        : R(0.25) * log1p(R(4) * ax / (d * d + ay * ay));
  R im;
  if (ax == R(1)) im = R(0.5) * atan2(R(2), -ay);
  else if (ay < eps) im = R(0.5) * atan2(R(2) * ay, (R(1) - ax) * (R(1) + ax));
  else im = R(0.5) * atan2(R(2) * ay, (R(1) - ax) * (R(1) + ax) - ay * ay);
  return {copysign(re, x), copysign(im, y)};
}

// atan(x + i y) = i-swapped atanh(y + i x).
template <typename R>
__host__ __device__ __forceinline__ Cx<R> catan(Cx<R> z) {
  const Cx<R> w = catanh(Cx<R>{z.im, z.re});
  return {w.im, w.re};
}

}  // namespace nabi::cuda::nd::cxm
