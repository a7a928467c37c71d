// Matrix-multiply bindings over cpu::gemm (csrc/cpu/gemm.cpp):
//   _C.matmul(a, b, transpose_a=False, transpose_b=False) -> new C-contiguous array
//   _C.gemm_into(a, b, out, transpose_a=False, transpose_b=False, alpha=1.0, beta=0.0) -> out
//       out = alpha * op(a) @ op(b) + beta * out, in place (beta == 0: out's contents ignored)
//   _C.gemm_isa() -> "avx512" | "avx2" | "portable";  _C._gemm_force_isa(name) (tests)
// a, b (and out): float32 or float64, same dtype, C-contiguous, 2-D or 3-D. 3-D operands are
// batched: equal batch sizes, or batch 1 (or a 2-D operand) broadcast against the other.
// op(x) is x or, with transpose_x, x swapped in its last two axes (no copy is made).
// Every check runs before any memory is touched; the GIL is released around the kernels.
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "bindings/checks.h"
#include "bindings/registry.h"
#include "cpu/gemm.h"
#include "cpu/parallel.h"

namespace py = pybind11;
using namespace nabi;

namespace {

const char* kOp = "matmul";

// The resolved shape of a (batched) product.
struct MatmulShape {
  int64_t batch = 1, M = 0, N = 0, K = 0;
  int64_t a_stride = 0, b_stride = 0;  // elements between batch items (0: broadcast)
  int64_t lda = 0, ldb = 0;
  bool batched = false;  // result is 3-D
};

void check_operand(const std::string& op, const py::array& x, const char* name) {
  check_float(op, x, name);
  if (x.ndim() != 2 && x.ndim() != 3)
    value_error(op, std::string(name) + " must be 2-D or 3-D, got shape " + shape_str(x));
  const auto addr = reinterpret_cast<uintptr_t>(x.data());
  if (addr % static_cast<uintptr_t>(x.itemsize()) != 0)
    value_error(op, std::string(name) + " is not aligned to its element size");
}

MatmulShape resolve(const std::string& op, const py::array& a, const py::array& b, bool ta,
                    bool tb) {
  check_operand(op, a, "a");
  check_operand(op, b, "b");
  check_same_dtype(op, a, "a", b, "b");
  MatmulShape s;
  const int ra = a.ndim() - 2, rb = b.ndim() - 2;  // index of the row axis
  const int64_t a_rows = a.shape(ra), a_cols = a.shape(ra + 1);
  const int64_t b_rows = b.shape(rb), b_cols = b.shape(rb + 1);
  s.M = ta ? a_cols : a_rows;
  s.K = ta ? a_rows : a_cols;
  const int64_t Kb = tb ? b_cols : b_rows;
  s.N = tb ? b_rows : b_cols;
  if (s.K != Kb) {
    std::string msg = "inner dimensions differ: " + shape_str(a) + " @ " + shape_str(b);
    if (ta || tb)
      msg += std::string(" (transpose_a=") + (ta ? "True" : "False") +
             ", transpose_b=" + (tb ? "True" : "False") + ")";
    value_error(op, msg);
  }
  s.lda = a_cols;
  s.ldb = b_cols;
  const int64_t ba = a.ndim() == 3 ? a.shape(0) : 1, bb = b.ndim() == 3 ? b.shape(0) : 1;
  s.batched = a.ndim() == 3 || b.ndim() == 3;
  if (ba != bb && ba != 1 && bb != 1)
    value_error(op, "batch sizes differ: " + shape_str(a) + " @ " + shape_str(b));
  s.batch = ba == 1 ? bb : ba;
  s.a_stride = ba == 1 ? 0 : a_rows * a_cols;
  s.b_stride = bb == 1 ? 0 : b_rows * b_cols;
  return s;
}

std::vector<py::ssize_t> result_shape(const MatmulShape& s) {
  if (s.batched) return {s.batch, s.M, s.N};
  return {s.M, s.N};
}

// Runs the (batched) GEMM; the caller has released the GIL. Small matrices in a batch are
// spread over the threads one whole GEMM each (gemm runs serially inside a parallel region);
// big ones run one after another, each threaded by gemm itself.
template <typename T>
void run_gemm(const MatmulShape& s, bool ta, bool tb, T alpha, const T* A, const T* B, T beta,
              T* C) {
  const int64_t c_stride = s.M * s.N;
  const double flops = static_cast<double>(s.M) * s.N * s.K;
  const int nt = max_threads();
  if (s.batch > 1 && nt > 1 && flops < 128.0 * 128 * 128) {
    const int use = static_cast<int>(std::min<int64_t>(nt, s.batch));
#pragma omp parallel for num_threads(use) schedule(static)
    for (int64_t i = 0; i < s.batch; ++i)
      cpu::gemm(ta, tb, s.M, s.N, s.K, alpha, A + i * s.a_stride, s.lda, B + i * s.b_stride,
                s.ldb, beta, C + i * c_stride, s.N);
  } else {
    for (int64_t i = 0; i < s.batch; ++i)
      cpu::gemm(ta, tb, s.M, s.N, s.K, alpha, A + i * s.a_stride, s.lda, B + i * s.b_stride,
                s.ldb, beta, C + i * c_stride, s.N);
  }
}

template <typename T>
void dispatch(const MatmulShape& s, bool ta, bool tb, double alpha, const py::array& a,
              const py::array& b, double beta, py::array& out) {
  const T* A = static_cast<const T*>(a.data());
  const T* B = static_cast<const T*>(b.data());
  T* C = static_cast<T*>(out.mutable_data());
  py::gil_scoped_release nogil;
  run_gemm<T>(s, ta, tb, static_cast<T>(alpha), A, B, static_cast<T>(beta), C);
}

bool overlaps(const py::array& x, const py::array& y) {
  if (x.nbytes() == 0 || y.nbytes() == 0) return false;
  const auto x0 = reinterpret_cast<uintptr_t>(x.data()), x1 = x0 + x.nbytes();
  const auto y0 = reinterpret_cast<uintptr_t>(y.data()), y1 = y0 + y.nbytes();
  return x0 < y1 && y0 < x1;
}

py::array matmul(py::array a, py::array b, bool ta, bool tb) {
  const MatmulShape s = resolve(kOp, a, b, ta, tb);
  py::array out(a.dtype(), result_shape(s));
  if (is_float32(a))
    dispatch<float>(s, ta, tb, 1.0, a, b, 0.0, out);
  else
    dispatch<double>(s, ta, tb, 1.0, a, b, 0.0, out);
  return out;
}

py::array gemm_into(py::array a, py::array b, py::array out, bool ta, bool tb, double alpha,
                    double beta) {
  const std::string op = "gemm_into";
  const MatmulShape s = resolve(op, a, b, ta, tb);
  check_float(op, out, "out");
  check_same_dtype(op, a, "a", out, "out");
  check_writeable(op, out, "out");
  const std::vector<py::ssize_t> want = result_shape(s);
  if (shape_of(out) != want)
    value_error(op, "out has shape " + shape_str(out) + ", expected " +
                        shape_str(std::vector<int64_t>(want.begin(), want.end())));
  if (overlaps(out, a) || overlaps(out, b)) value_error(op, "out overlaps an input");
  if (is_float32(a))
    dispatch<float>(s, ta, tb, alpha, a, b, beta, out);
  else
    dispatch<double>(s, ta, tb, alpha, a, b, beta, out);
  return out;
}

}  // namespace

NABI_BINDINGS(bind_gemm) {
  m.def("matmul", &matmul, py::arg("a"), py::arg("b"), py::arg("transpose_a") = false,
        py::arg("transpose_b") = false,
        "op(a) @ op(b) for float32/float64 C-contiguous 2-D or batched 3-D arrays; returns a "
        "new C-contiguous array. transpose_x uses x with its last two axes swapped.");
  m.def("gemm_into", &gemm_into, py::arg("a"), py::arg("b"), py::arg("out"),
        py::arg("transpose_a") = false, py::arg("transpose_b") = false, py::arg("alpha") = 1.0,
        py::arg("beta") = 0.0,
        "out = alpha * op(a) @ op(b) + beta * out in place; out must be C-contiguous with the "
        "result's shape and dtype. With beta == 0, out's old contents (even NaN) are ignored.");
  m.def("gemm_isa", []() { return std::string(cpu::gemm_isa()); },
        "The GEMM micro-kernel in use: 'avx512', 'avx2' or 'portable'.");
  m.def("_gemm_force_isa", [](const std::string& name) {
        return std::string(cpu::gemm_set_isa(name.c_str()));
      }, py::arg("name"),
        "Testing: use the named GEMM ISA if this CPU supports it (else the best one); returns "
        "the ISA now in use.");
}
