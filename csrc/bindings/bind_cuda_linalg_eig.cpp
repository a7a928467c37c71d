// nabi._C.cuda_backend: dense factorizations on DeviceBuffers (csrc/cuda/linalg_eig.cu;
// semantics in csrc/cuda/linalg_eig_launchers.h). a is (..., M, N), float32 or float64:
//
//   linalg_qr(a, full_matrices=False)        -> (q (..., M, P), r (..., P, N)), P = min(M, N)
//                                               (M with full_matrices); NumPy's signs
//   linalg_eigh(a, compute_v=True)           -> (e (..., N) ascending, v (..., N, N) or None);
//                                               a square, only its lower triangle read
//   linalg_svd(a, full_matrices=False, compute_uv=True)
//                                            -> (s (..., K) descending, u (..., M, K|M),
//                                                v (..., N, K|N)) or (s, None, None)
//   linalg_solve_upper(r, b, transpose=True) -> x (..., M, N) with x r^T = b (x r = b without
//                                               transpose), r (..., N, N) upper triangular
//                                               (the QR gradient)
//
// Every argument is checked here, before anything is enqueued ("[op] ..." TypeError /
// ValueError naming the shapes); the GIL is released around the launches. Builds without CUDA
// define the same names, raising RuntimeError.
#include <cstdint>
#include <string>
#include <vector>

#include "bindings/checks.h"
#include "bindings/cuda_common.h"
#include "bindings/registry.h"

#if defined(NABI_WITH_CUDA)
#include "cuda/allocator.h"
#include "cuda/linalg_eig_launchers.h"
#endif

namespace py = pybind11;
using namespace nabi;

namespace {

#if defined(NABI_WITH_CUDA)
using namespace nabi::cudabind;
namespace nd = nabi::cuda::nd;

struct Mat {
  std::vector<int64_t> lead;  // the batch axes
  int64_t batch, m, n;
};

Mat matrix(const char* op, const DeviceBuffer& a, const char* name) {
  if (!is_float(a.dtype()))
    type_error(op, std::string(name) + " must be float32 or float64, got " +
                       cuda::dtype_str(a.dtype()) + " of shape " + shape_str(a.shape()));
  if (a.ndim() < 2)
    value_error(op, std::string(name) + " must have rank >= 2 (..., M, N), got shape " +
                        shape_str(a.shape()));
  const std::vector<int64_t>& s = a.shape();
  Mat r{std::vector<int64_t>(s.begin(), s.end() - 2), 1, s[s.size() - 2], s.back()};
  for (int64_t d : r.lead) r.batch *= d;
  return r;
}

std::vector<int64_t> with(const std::vector<int64_t>& lead, std::initializer_list<int64_t> tail) {
  std::vector<int64_t> s(lead);
  s.insert(s.end(), tail);
  return s;
}

void jacobi_limit(const char* op, int64_t dim, const DeviceBuffer& a) {
  if (dim > nd::kLinalgMaxJacobiDim)
    value_error(op, "the Jacobi dimension " + std::to_string(dim) + " of shape " +
                        shape_str(a.shape()) + " is more than " +
                        std::to_string(nd::kLinalgMaxJacobiDim));
}

py::tuple linalg_qr(const Buf& ab, bool full) {
  const char* op = "qr";
  const DeviceBuffer& a = need(op, ab, "a");
  const Mat s = matrix(op, a, "a");
  const int64_t k = s.m < s.n ? s.m : s.n, p = full ? s.m : k;
  check_bytes(op, with(s.lead, {s.m, p}), a.dtype());
  check_bytes(op, {s.batch, s.m * s.n + k}, a.dtype());
  Buf q = make_buffer(op, with(s.lead, {s.m, p}), a.dtype());
  Buf r = make_buffer(op, with(s.lead, {p, s.n}), a.dtype());
  Buf w = make_buffer(op, {s.batch, s.m * s.n + k}, a.dtype());
  {
    py::gil_scoped_release nogil;
    nd::linalg_qr(a.dtype(), a.data(), s.batch, s.m, s.n, full, q->data(), r->data(),
                  w->data());
  }
  return py::make_tuple(q, r);
}

py::tuple linalg_eigh(const Buf& ab, bool compute_v) {
  const char* op = "eigh";
  const DeviceBuffer& a = need(op, ab, "a");
  const Mat s = matrix(op, a, "a");
  if (s.m != s.n)
    value_error(op, "a must be square in its last two axes (..., N, N), got shape " +
                        shape_str(a.shape()));
  jacobi_limit(op, s.n, a);
  Buf e = make_buffer(op, with(s.lead, {s.n}), a.dtype());
  Buf v = compute_v ? make_buffer(op, with(s.lead, {s.n, s.n}), a.dtype()) : nullptr;
  Buf w = make_buffer(op, with(s.lead, {s.n, s.n}), a.dtype());
  {
    py::gil_scoped_release nogil;
    nd::linalg_eigh(a.dtype(), a.data(), s.batch, s.n, e->data(), v ? v->data() : nullptr,
                    w->data());
  }
  return py::make_tuple(e, v ? py::cast(v) : py::none());
}

py::tuple linalg_svd(const Buf& ab, bool full, bool compute_uv) {
  const char* op = "svd";
  const DeviceBuffer& a = need(op, ab, "a");
  const Mat s = matrix(op, a, "a");
  const int64_t k = s.m < s.n ? s.m : s.n, big = s.m < s.n ? s.n : s.m;
  jacobi_limit(op, k, a);
  Buf sv = make_buffer(op, with(s.lead, {k}), a.dtype());
  if (!compute_uv) {
    Buf w = make_buffer(op, with(s.lead, {big, k}), a.dtype());
    {
      py::gil_scoped_release nogil;
      nd::linalg_svd(a.dtype(), a.data(), s.batch, s.m, s.n, false, sv->data(), nullptr,
                     nullptr, w->data());
    }
    return py::make_tuple(sv, py::none(), py::none());
  }
  Buf u = make_buffer(op, with(s.lead, {s.m, full ? s.m : k}), a.dtype());
  Buf v = make_buffer(op, with(s.lead, {s.n, full ? s.n : k}), a.dtype());
  {
    py::gil_scoped_release nogil;
    nd::linalg_svd(a.dtype(), a.data(), s.batch, s.m, s.n, full, sv->data(), u->data(),
                   v->data(), nullptr);
  }
  return py::make_tuple(sv, u, v);
}

Buf linalg_solve_upper(const Buf& rb, const Buf& bb, bool trans) {
  const char* op = "linalg_solve_upper";
  const DeviceBuffer& r = need(op, rb, "r");
  const DeviceBuffer& b = need(op, bb, "b");
  const Mat sr = matrix(op, r, "r");
  const Mat sb = matrix(op, b, "b");
  same_dtype(op, r, "r", b, "b");
  if (sr.m != sr.n || sr.lead != sb.lead || sb.n != sr.n)
    value_error(op, "r must be (..., N, N) and b (..., M, N) with the same batch axes, got "
                    "shapes " + shape_str(r.shape()) + " and " + shape_str(b.shape()));
  Buf x = make_buffer(op, b.shape(), b.dtype());
  {
    py::gil_scoped_release nogil;
    nd::linalg_solve_upper(r.dtype(), r.data(), b.data(), sb.batch, sb.m, sb.n, trans,
                           x->data());
  }
  return x;
}

void bind_impl(py::module_& cm) {
  cm.def("linalg_qr", &linalg_qr, py::arg("a"), py::arg("full_matrices") = false,
         "(q, r) with a = q r (Householder; NumPy's signs) for each matrix of a (..., M, N)");
  cm.def("linalg_eigh", &linalg_eigh, py::arg("a"), py::arg("compute_v") = true,
         "(e ascending, v or None) of each symmetric matrix (lower triangle read) of a "
         "(..., N, N), by cyclic Jacobi");
  cm.def("linalg_svd", &linalg_svd, py::arg("a"), py::arg("full_matrices") = false,
         py::arg("compute_uv") = true,
         "(s descending, u, v) with a = u diag(s) v^T ((s, None, None) without compute_uv), "
         "by one-sided Jacobi");
  cm.def("linalg_solve_upper", &linalg_solve_upper, py::arg("r"), py::arg("b"),
         py::arg("transpose") = true,
         "x with x r^T = b (x r = b without transpose) for upper-triangular r (..., N, N) and "
         "b (..., M, N)");
}
#else
void bind_impl(py::module_& cm) {
  def_unavailable(cm, {"linalg_qr", "linalg_eigh", "linalg_svd", "linalg_solve_upper"});
}
#endif

}  // namespace

NABI_BINDINGS(bind_cuda_linalg_eig) {
  py::module_ cm = cuda_module(m);
  add_entries(cm, {"linalg_qr", "linalg_eigh", "linalg_svd", "linalg_solve_upper"});
  bind_impl(cm);
}
