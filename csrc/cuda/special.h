// Host-side entry of the special-function kernels (csrc/cuda/special.cu): lgamma, digamma,
// trigamma, erf, erfc, erfinv, ndtri, the Bessel functions I0 I0e I1 I1e K0 K0e K1 K1e
// J0 J1 Y0 Y1, Dawson's integral, Ei, the Fresnel integrals and Spence's function, elementwise
// on float32/float64. Plain C++ (no CUDA headers) so that the g++-built
// binding (csrc/bindings/bind_cuda_special.cpp) can call it; only in builds with NABI_WITH_CUDA.
// The op names are TF's (python/nabi/ops/special_ops.py uses the same list).
#pragma once
#include <cstdint>
#include <cstring>

#include "cuda/allocator.h"  // DType

namespace nabi::cuda::special {

#define NABI_SPECIAL_OPS(X)       \
  X(Lgamma, "lgamma")             \
  X(Digamma, "digamma")           \
  X(Trigamma, "trigamma")         \
  X(Erf, "erf")                   \
  X(Erfc, "erfc")                 \
  X(Erfinv, "erfinv")             \
  X(Ndtri, "ndtri")               \
  X(BesselI0, "bessel_i0")        \
  X(BesselI0e, "bessel_i0e")      \
  X(BesselI1, "bessel_i1")        \
  X(BesselI1e, "bessel_i1e")      \
  X(BesselK0, "bessel_k0")        \
  X(BesselK0e, "bessel_k0e")      \
  X(BesselK1, "bessel_k1")        \
  X(BesselK1e, "bessel_k1e")      \
  X(BesselJ0, "bessel_j0")        \
  X(BesselJ1, "bessel_j1")        \
  X(BesselY0, "bessel_y0")        \
  X(BesselY1, "bessel_y1")        \
  X(Dawsn, "dawsn")               \
  X(Expint, "expint")             \
  X(FresnelCos, "fresnel_cos")    \
  X(FresnelSin, "fresnel_sin")    \
  X(Spence, "spence")

#define NABI_SPECIAL_ENUM(id, name) id,
enum class Op : int { NABI_SPECIAL_OPS(NABI_SPECIAL_ENUM) };
#undef NABI_SPECIAL_ENUM

struct OpName {
  const char* name;
  Op op;
};
#define NABI_SPECIAL_NAME(id, name) {name, Op::id},
inline constexpr OpName kOps[] = {NABI_SPECIAL_OPS(NABI_SPECIAL_NAME)};
#undef NABI_SPECIAL_NAME

inline const OpName* find_op(const char* name) {
  for (const OpName& e : kOps)
    if (std::strcmp(e.name, name) == 0) return &e;
  return nullptr;
}

// y[i] = op(x[i]) over n contiguous elements of dtype (float32 or float64, checked by the
// binding); y is a fresh buffer of the same dtype. n == 0 launches nothing. Enqueued on
// nabi::cuda::stream(), no synchronisation; throws CudaError on a launch failure.
void special(Op op, DType dtype, const void* x, void* y, int64_t n);

}  // namespace nabi::cuda::special
