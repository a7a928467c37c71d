// Argument checks shared by the bindings. Every check runs before a kernel touches memory
// and throws a Python exception whose message starts with the op's name:
//   [matmul] inner dimensions differ: (3, 4) @ (5, 2)
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

namespace nabi {
namespace py = pybind11;

inline std::string shape_str(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) {
    if (i) s += ", ";
    s += std::to_string(a.shape(i));
  }
  if (a.ndim() == 1) s += ",";
  return s + ")";
}

inline std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  if (shape.size() == 1) s += ",";
  return s + ")";
}

[[noreturn]] inline void value_error(const std::string& op, const std::string& msg) {
  throw py::value_error("[" + op + "] " + msg);
}
[[noreturn]] inline void type_error(const std::string& op, const std::string& msg) {
  throw py::type_error("[" + op + "] " + msg);
}

// dtype checks compare by equivalence, not identity: an array unpickled (or built from a
// dtype('f4', copy=True)) has its own dtype instance, equal to but not the same as NumPy's.
inline bool same_dtype(const py::dtype& a, const py::dtype& b) { return a.is(b) || a.equal(b); }

template <typename T>
inline bool has_dtype(const py::array& a) {
  return same_dtype(a.dtype(), py::dtype::of<T>());
}

inline std::string dtype_name(const py::array& a) {
  if (has_dtype<float>(a)) return "float32";
  if (has_dtype<double>(a)) return "float64";
  if (has_dtype<int32_t>(a)) return "int32";
  if (has_dtype<int64_t>(a)) return "int64";
  if (has_dtype<bool>(a)) return "bool";
  return py::str(a.dtype());
}

inline bool is_float32(const py::array& a) { return has_dtype<float>(a); }
inline bool is_float64(const py::array& a) { return has_dtype<double>(a); }

// Floating arrays must be float32 or float64, C-contiguous and aligned.
inline void check_float(const std::string& op, const py::array& a, const char* name) {
  if (!is_float32(a) && !is_float64(a))
    type_error(op, std::string(name) + " must be float32 or float64, got " + dtype_name(a));
  if (!(a.flags() & py::array::c_style))
    value_error(op, std::string(name) + " must be C-contiguous, got strides of shape " +
                        shape_str(a));
  // A misaligned float pointer (np.frombuffer at an odd offset) is undefined behaviour, and
  // the vectorised kernels may use aligned loads on it.
  if (reinterpret_cast<uintptr_t>(a.data()) % static_cast<uintptr_t>(a.itemsize()) != 0)
    value_error(op, std::string(name) + " " + shape_str(a) +
                        " is not aligned to its element size (copy it first)");
}

inline void check_same_dtype(const std::string& op, const py::array& a, const char* an,
                             const py::array& b, const char* bn) {
  if (!same_dtype(a.dtype(), b.dtype()))
    type_error(op, std::string(an) + " and " + bn + " dtypes differ: " + dtype_name(a) + " vs " +
                       dtype_name(b));
}

inline void check_ndim(const std::string& op, const py::array& a, const char* name, int ndim) {
  if (a.ndim() != ndim)
    value_error(op, std::string(name) + " must be " + std::to_string(ndim) + "-D, got shape " +
                        shape_str(a));
}

inline void check_same_shape(const std::string& op, const py::array& a, const char* an,
                             const py::array& b, const char* bn) {
  bool same = a.ndim() == b.ndim();
  for (py::ssize_t i = 0; same && i < a.ndim(); ++i) same = a.shape(i) == b.shape(i);
  if (!same)
    value_error(op, std::string(an) + " and " + bn + " shapes differ: " + shape_str(a) + " vs " +
                        shape_str(b));
}

// Geometry given as lists (strides, dilations, padding, windows, input_shape, filter_shape) is
// capped at 2^31 - 1 per value, so that the shape arithmetic (padded sizes, dilated windows,
// output position * stride) can never overflow int64.
constexpr int64_t kMaxGeometry = 2147483647LL;
inline void check_geometry(const std::string& op, const char* name,
                           const std::vector<int64_t>& v) {
  for (int64_t x : v)
    if (x > kMaxGeometry)
      value_error(op, std::string(name) + " values must be < 2^31, got " + shape_str(v));
}

// A shape that is about to be allocated: at most 2^59 elements (2^62 bytes of float64), so that
// the element and byte counts computed from it never overflow int64.
inline void check_numel(const std::string& op, const char* what,
                        const std::vector<int64_t>& shape) {
  __int128 n = 1;
  for (int64_t d : shape) {
    n *= d < 0 ? 0 : d;
    if (n > (static_cast<__int128>(1) << 59))
      value_error(op, std::string(what) + " " + shape_str(shape) + " has more than 2^59 elements");
  }
}

inline void check_writeable(const std::string& op, const py::array& a, const char* name) {
  if (!a.writeable()) value_error(op, std::string(name) + " is read-only");
}

// A new C-contiguous array of the same dtype as `like` with the given shape (uninitialised).
inline py::array empty_like_dtype(const py::array& like, const std::vector<py::ssize_t>& shape) {
  return py::array(like.dtype(), shape);
}

inline std::vector<py::ssize_t> shape_of(const py::array& a) {
  return std::vector<py::ssize_t>(a.shape(), a.shape() + a.ndim());
}

}  // namespace nabi
