// Shape helpers of the N-d CUDA bindings (bind_cuda_array.cpp, bind_cuda_complex.cpp):
// rank checks, contiguous and broadcast element strides, NumPy broadcasting of shapes. Only
// in builds with NABI_WITH_CUDA.
#pragma once
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "bindings/checks.h"
#include "bindings/cuda_common.h"
#include "cuda/array_launchers.h"

namespace nabi::cudabind {
namespace nd = nabi::cuda::nd;
using Shape = std::vector<int64_t>;

inline void check_rank(const char* op, const Shape& s, const std::string& what) {
  if (s.size() > static_cast<size_t>(nd::kMaxDims))
    value_error(op, what + " has " + std::to_string(s.size()) + " dimensions " + shape_str(s) +
                        "; at most " + std::to_string(nd::kMaxDims) + " are supported");
}

inline Shape contiguous_strides(const Shape& s) {
  Shape st(s.size());
  int64_t acc = 1;
  for (int d = static_cast<int>(s.size()) - 1; d >= 0; --d) {
    st[d] = acc;
    acc *= s[d];
  }
  return st;
}

// NumPy broadcasting of several shapes; false when they do not broadcast.
inline bool broadcast_shapes(const std::vector<const Shape*>& shapes, Shape* out) {
  size_t nd_out = 0;
  for (const Shape* s : shapes) nd_out = std::max(nd_out, s->size());
  Shape r(nd_out, 1);
  for (const Shape* s : shapes) {
    const size_t lead = nd_out - s->size();
    for (size_t d = 0; d < s->size(); ++d) {
      const int64_t v = (*s)[d];
      int64_t& o = r[lead + d];
      if (v == o || v == 1) continue;
      if (o == 1) {
        o = v;
        continue;
      }
      return false;
    }
  }
  *out = r;
  return true;
}

// Element strides of a contiguous `in` read as broadcast to `out` (0 on broadcast dims).
inline Shape broadcast_strides(const Shape& in, const Shape& out) {
  const Shape cs = contiguous_strides(in);
  Shape st(out.size(), 0);
  const size_t lead = out.size() - in.size();
  for (size_t d = 0; d < in.size(); ++d) st[lead + d] = in[d] == 1 ? 0 : cs[d];
  return st;
}

}  // namespace nabi::cudabind
