// Host-side entry of the kernels of csrc/cuda/special_incomplete.cu: the special functions of
// two or three arguments behind tf.math.igamma, igammac, betainc, zeta and polygamma on GPU
// tensors, and the pieces of their gradients. Plain C++ (no CUDA headers) so that the
// g++-built binding (csrc/bindings/bind_cuda_special_incomplete.cpp) can call it; only in
// builds with NABI_WITH_CUDA. The op names are the binding's (cuda_backend.INCOMPLETE_OPS).
//
//   op              arguments   y
//   igamma          a, x        P(a, x), the regularized lower incomplete gamma function
//   igammac         a, x        Q(a, x) = 1 - P(a, x)
//   igamma_grad_a   a, x        dP/da (TF's IgammaGradA)
//   igamma_dx       a, x        dP/dx = x^(a-1) e^-x / Gamma(a) (TF's formula)
//   zeta            x, q        the Hurwitz zeta function sum_k (q + k)^-x
//   polygamma       n, x        psi^(n)(x) (n an integer >= 0 held in a float)
//   betainc         a, b, x     I_x(a, b), the regularized incomplete beta function
//   betainc_dx      a, b, x     dI/dx = x^(a-1) (1-x)^(b-1) / B(a, b) (TF's formula)
#pragma once
#include <cstdint>
#include <cstring>

#include "cuda/allocator.h"  // DType

namespace nabi::cuda::special_incomplete {

#define NABI_INCOMPLETE_OPS(X)          \
  X(Igamma, "igamma", 2)                \
  X(Igammac, "igammac", 2)              \
  X(IgammaGradA, "igamma_grad_a", 2)    \
  X(IgammaDx, "igamma_dx", 2)           \
  X(Zeta, "zeta", 2)                    \
  X(Polygamma, "polygamma", 2)          \
  X(Betainc, "betainc", 3)              \
  X(BetaincDx, "betainc_dx", 3)

#define NABI_INCOMPLETE_ENUM(id, name, arity) id,
enum class Op : int { NABI_INCOMPLETE_OPS(NABI_INCOMPLETE_ENUM) };
#undef NABI_INCOMPLETE_ENUM

struct OpInfo {
  const char* name;
  Op op;
  int arity;  // 2 or 3 arguments
};
#define NABI_INCOMPLETE_INFO(id, name, arity) {name, Op::id, arity},
inline constexpr OpInfo kOps[] = {NABI_INCOMPLETE_OPS(NABI_INCOMPLETE_INFO)};
#undef NABI_INCOMPLETE_INFO

inline const OpInfo* find_op(const char* name) {
  for (const OpInfo& e : kOps)
    if (std::strcmp(e.name, name) == 0) return &e;
  return nullptr;
}

// y[i] = op(u[i], v[i]) (arity 2; w is ignored) or op(u[i], v[i], w[i]) (arity 3) over n
// contiguous elements of dtype (float32 or float64: u, v, w and y all of it; the binding
// checks the dtypes, the shapes and the arity). n == 0 launches nothing. Enqueued on
// nabi::cuda::stream(), no synchronisation; throws CudaError on a launch failure.
void incomplete(Op op, DType dtype, const void* u, const void* v, const void* w, void* y,
                int64_t n);

}  // namespace nabi::cuda::special_incomplete
