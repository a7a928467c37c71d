// The float32 SIMD activation kernels of activations_simd.h for Avx2 lanes (this file is
// compiled with the avx2 flags, see CMakeLists.txt; entered only after a runtime CPU check).
#if defined(NABI_X86)
#define NABI_SIMD_ACT_IMPL
#include "cpu/activations_simd.h"

namespace nabi::cpu::act_avx2 {

bool forward(Act k, const float* x, float* y, int64_t n, float alpha) {
  return simd::act_forward<simd::Avx2>(k, x, y, n, alpha);
}

bool backward(Act k, const float* g, const float* x, float* dx, int64_t n, float alpha) {
  return simd::act_backward<simd::Avx2>(k, g, x, dx, n, alpha);
}

}  // namespace nabi::cpu::act_avx2
#endif
