// Box-Muller normals, the last step of TF's random normal kernels (random_distributions.h,
// BoxMullerFloat / BoxMullerDouble): from u1 in (0, 1) (already clamped to >= 1e-7) and the
// angle v1 = 2 pi u, the pair (sin v1, cos v1) * sqrt(-2 log u1). On Linux TF calls the C
// library's logf and sincosf (log and sincos for double) on each element; those round
// differently from NumPy's vectorised log / sin / cos in about one float32 value in five, so
// TF's numbers bit for bit need these same scalar calls. This file must not be built with
// -ffast-math (it would let the compiler swap in its own vector approximations).
#include "cpu/box_muller.h"

#include <cmath>

namespace nabi {
namespace cpu {

void box_muller(const float* u1, const float* v1, float* f0, float* f1, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float r = std::sqrt(-2.0f * ::logf(u1[i]));
    float s, c;
    ::sincosf(v1[i], &s, &c);
    f0[i] = s * r;
    f1[i] = c * r;
  }
}

void box_muller(const double* u1, const double* v1, double* f0, double* f1, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const double r = std::sqrt(-2.0 * ::log(u1[i]));
    double s, c;
    ::sincos(v1[i], &s, &c);
    f0[i] = s * r;
    f1[i] = c * r;
  }
}

}  // namespace cpu
}  // namespace nabi
