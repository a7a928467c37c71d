// PLACEHOLDER matmul binding; the GEMM work replaces it.
#include "bindings/checks.h"
#include "bindings/registry.h"
#include "cpu/gemm.h"

namespace py = pybind11;
using namespace nabi;

template <typename T>
static py::array matmul_impl(py::array a, py::array b, bool ta, bool tb) {
  const int64_t M = ta ? a.shape(1) : a.shape(0), K = ta ? a.shape(0) : a.shape(1);
  const int64_t Kb = tb ? b.shape(1) : b.shape(0), N = tb ? b.shape(0) : b.shape(1);
  if (K != Kb) value_error("matmul", "inner dimensions differ: " + shape_str(a) + " @ " + shape_str(b));
  py::array out(a.dtype(), std::vector<py::ssize_t>{M, N});
  const T* A = static_cast<const T*>(a.data());
  const T* B = static_cast<const T*>(b.data());
  T* C = static_cast<T*>(out.mutable_data());
  {
    py::gil_scoped_release nogil;
    cpu::gemm(ta, tb, M, N, K, T(1), A, a.shape(1), B, b.shape(1), T(0), C, N);
  }
  return out;
}

NABI_BINDINGS(bind_gemm) {
  m.def("matmul", [](py::array a, py::array b, bool ta, bool tb) -> py::array {
    check_float("matmul", a, "a");
    check_float("matmul", b, "b");
    check_same_dtype("matmul", a, "a", b, "b");
    check_ndim("matmul", a, "a", 2);
    check_ndim("matmul", b, "b", 2);
    return is_float32(a) ? matmul_impl<float>(a, b, ta, tb) : matmul_impl<double>(a, b, ta, tb);
  }, py::arg("a"), py::arg("b"), py::arg("transpose_a") = false, py::arg("transpose_b") = false);
  m.def("gemm_isa", []() { return std::string(cpu::gemm_isa()); });
}
