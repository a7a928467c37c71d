// Shared pieces of the CUDA binding files (csrc/bindings/bind_cuda*.cpp): the cuda_backend
// submodule, DeviceBuffer handles, dtype conversions and the argument checks every entry
// point runs before it enqueues a kernel.
//
//   cuda_module(m)            nabi._C.cuda_backend, created by whichever binding file asks first
//                             (registration order is not fixed), with built_with_cuda and an
//                             empty KERNEL_ENTRIES list
//   add_entries(cm, names)    appends kernel entry names to cuda_backend.KERNEL_ENTRIES
//   def_unavailable(cm, names) builds without CUDA: each name raises RuntimeError("[name] has
//                             no CUDA implementation in this build (built without CUDA)")
//
// With NABI_WITH_CUDA, also: Buf (shared_ptr<DeviceBuffer>), make_buffer, dtype_from_array,
// dtype_from_name, numpy_dtype, from_numpy, to_numpy, shape_tuple, need, need_float,
// is_float, same_dtype, same_shape, last_dim, by_dtype (float/double dispatch), and
// make_buffer(op, shape, dtype), which refuses more than 2^62 bytes naming op and shape.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "bindings/checks.h"

#if defined(NABI_WITH_CUDA)
#include "cuda/allocator.h"
#endif

namespace nabi {
namespace py = pybind11;

inline py::module_ cuda_module(py::module_& m) {
  if (py::hasattr(m, "cuda_backend")) return m.attr("cuda_backend").cast<py::module_>();
  py::module_ cm = m.def_submodule(
      "cuda_backend", "CUDA device buffers and kernels (hand-written; no cuBLAS/cuDNN)");
#if defined(NABI_WITH_CUDA)
  cm.attr("built_with_cuda") = true;
#else
  cm.attr("built_with_cuda") = false;
#endif
  cm.attr("KERNEL_ENTRIES") = py::list();
  return cm;
}

inline void add_entries(py::module_& cm, std::initializer_list<const char*> names) {
  py::list l = cm.attr("KERNEL_ENTRIES").cast<py::list>();
  for (const char* n : names) l.append(n);
}

[[noreturn]] inline void no_cuda(const std::string& name) {
  throw std::runtime_error("[" + name + "] has no CUDA implementation in this build (built "
                           "without CUDA)");
}

inline void def_unavailable(py::module_& cm, std::initializer_list<const char*> names) {
  for (const char* name : names) {
    const std::string n(name);
    cm.def(name, [n](py::args, py::kwargs) -> py::object { no_cuda(n); },
           ("Unavailable: nabi was built without CUDA (" + n + ")").c_str());
  }
}

#if defined(NABI_WITH_CUDA)
namespace cudabind {
using cuda::DeviceBuffer;
using cuda::DType;
using Buf = std::shared_ptr<DeviceBuffer>;

inline DType dtype_from_array(const char* op, const py::array& a) {
  if (has_dtype<float>(a)) return DType::Float32;
  if (has_dtype<double>(a)) return DType::Float64;
  if (has_dtype<int32_t>(a)) return DType::Int32;
  if (has_dtype<int64_t>(a)) return DType::Int64;
  if (has_dtype<bool>(a)) return DType::Bool;
  if (same_dtype(a.dtype(), py::dtype("complex64"))) return DType::Complex64;
  if (same_dtype(a.dtype(), py::dtype("complex128"))) return DType::Complex128;
  type_error(op, std::string("unsupported dtype ") + std::string(py::str(a.dtype())) +
                     " (float32, float64, int32, int64, bool, complex64, complex128)");
}

inline DType dtype_from_name(const char* op, const std::string& s) {
  if (s == "float32") return DType::Float32;
  if (s == "float64") return DType::Float64;
  if (s == "int32") return DType::Int32;
  if (s == "int64") return DType::Int64;
  if (s == "bool") return DType::Bool;
  if (s == "complex64") return DType::Complex64;
  if (s == "complex128") return DType::Complex128;
  value_error(op, "unknown dtype '" + s + "'");
}

inline py::dtype numpy_dtype(DType d) {
  switch (d) {
    case DType::Float32: return py::dtype::of<float>();
    case DType::Float64: return py::dtype::of<double>();
    case DType::Int32: return py::dtype::of<int32_t>();
    case DType::Int64: return py::dtype::of<int64_t>();
    case DType::Bool: return py::dtype::of<bool>();
    case DType::Complex64: return py::dtype("complex64");
    case DType::Complex128: return py::dtype("complex128");
  }
  return py::dtype::of<float>();
}

inline Buf make_buffer(std::vector<int64_t> shape, DType d) {
  return std::make_shared<DeviceBuffer>(std::move(shape), d);
}

// An entry point's result buffer: the shape's byte count checked first, so that a refusal
// names the op and the shape ("[fill] shape (2305843009213693952,) of float64 is more than 2^62
// bytes") rather than DeviceBuffer (which refuses the same shapes).
inline void check_bytes(const char* op, const std::vector<int64_t>& shape, DType d) {
  __int128 n = static_cast<__int128>(cuda::dtype_size(d));
  bool zero = false;
  for (int64_t s : shape) {
    if (s < 0) value_error(op, "shape " + shape_str(shape) + " has a negative dimension");
    zero = zero || s == 0;
  }
  if (zero) return;
  for (int64_t s : shape) {
    n *= s;
    if (n > (static_cast<__int128>(1) << 62))
      value_error(op, "shape " + shape_str(shape) + " of " + cuda::dtype_str(d) +
                          " is more than 2^62 bytes");
  }
}

inline Buf make_buffer(const char* op, std::vector<int64_t> shape, DType d) {
  check_bytes(op, shape, d);
  return make_buffer(std::move(shape), d);
}

inline Buf from_numpy(py::array arr) {
  const DType d = dtype_from_array("DeviceBuffer", arr);
  // A C-contiguous copy when arr is strided (same dtype).
  py::array c = py::array::ensure(arr, py::array::c_style);
  if (!c) value_error("DeviceBuffer", "could not make a C-contiguous array");
  std::vector<int64_t> shape(c.shape(), c.shape() + c.ndim());
  Buf b = make_buffer(shape, d);
  const void* src = c.data();
  const size_t n = b->nbytes();
  {
    py::gil_scoped_release nogil;
    cuda::copy_h2d(b->data(), src, n);
  }
  return b;
}

inline py::array to_numpy(const DeviceBuffer& b) {
  std::vector<py::ssize_t> shape(b.shape().begin(), b.shape().end());
  py::array out(numpy_dtype(b.dtype()), shape);
  void* dst = out.mutable_data();
  {
    py::gil_scoped_release nogil;
    cuda::copy_d2h(dst, b.data(), b.nbytes());
  }
  return out;
}

inline py::tuple shape_tuple(const DeviceBuffer& b) {
  py::tuple t(b.shape().size());
  for (size_t i = 0; i < b.shape().size(); ++i) t[i] = b.shape()[i];
  return t;
}

// ---- argument checks (before any launch) ----
inline const DeviceBuffer& need(const char* op, const Buf& b, const char* name) {
  if (!b) type_error(op, std::string(name) + " must be a DeviceBuffer, got None");
  return *b;
}

inline bool is_float(DType d) { return d == DType::Float32 || d == DType::Float64; }

inline const DeviceBuffer& need_float(const char* op, const Buf& b, const char* name) {
  const DeviceBuffer& r = need(op, b, name);
  if (!is_float(r.dtype()))
    type_error(op, std::string(name) + " must be float32 or float64, got " +
                       cuda::dtype_str(r.dtype()));
  return r;
}

inline void same_dtype(const char* op, const DeviceBuffer& a, const char* an, const DeviceBuffer& b,
                const char* bn) {
  if (a.dtype() != b.dtype())
    type_error(op, std::string(an) + " and " + bn + " dtypes differ: " +
                       cuda::dtype_str(a.dtype()) + " vs " + cuda::dtype_str(b.dtype()));
}

inline void same_shape(const char* op, const DeviceBuffer& a, const char* an, const DeviceBuffer& b,
                const char* bn) {
  if (a.shape() != b.shape())
    value_error(op, std::string(an) + " and " + bn + " shapes differ: " + shape_str(a.shape()) +
                        " vs " + shape_str(b.shape()));
}

inline int64_t last_dim(const DeviceBuffer& b) { return b.ndim() ? b.shape().back() : 1; }

template <typename F>
void by_dtype(DType d, F&& f) {
  if (d == DType::Float32)
    f(static_cast<float*>(nullptr));
  else
    f(static_cast<double*>(nullptr));
}

}  // namespace cudabind
#endif
}  // namespace nabi
