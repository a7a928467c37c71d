// Box-Muller transform as TensorFlow's CPU kernels compute it (see box_muller.cpp).
#pragma once
#include <cstdint>

namespace nabi {
namespace cpu {

// For each i: r = sqrt(-2 log u1[i]), (s, c) = sincos(v1[i]); f0[i] = s * r, f1[i] = c * r,
// in the element type with the C library's logf / sincosf (log / sincos for double).
void box_muller(const float* u1, const float* v1, float* f0, float* f1, int64_t n);
void box_muller(const double* u1, const double* v1, double* f0, double* f1, int64_t n);

}  // namespace cpu
}  // namespace nabi
