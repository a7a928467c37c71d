// nabi._C.cuda_backend: dense LU / Cholesky kernels on DeviceBuffers (csrc/cuda/linalg_lu.cu;
// semantics in csrc/cuda/linalg_launchers.h). Matrices are batched over leading axes that
// must agree exactly (the caller broadcasts); float arrays are float32 or float64, perm arrays
// int32 or int64.
//
//   lu_factor(a, perm_dtype="int32", with_pivots=False)
//                                          a (..., n, n) -> (lu, perm (..., n), sign (...),
//                                          zeros (...) int32: exactly zero pivots[, pivots
//                                          (..., n) int32: LAPACK's 0-based ipiv])
//   lu_solve(lu, perm, b=None, adjoint=False)  A^-1 b (A^-T b), b (..., n, k); None: identity
//   triangular_solve(t, b, lower=True, adjoint=False, unit=False, count_zeros=False)
//                                          x, or (x, zeros (...) int32) with count_zeros
//   cholesky(a)                            (l, info (...) int32: 0 or 1 + the failed column)
//   lu_det(lu, sign)  /  lu_slogdet(lu, sign) -> det  /  (sign, log|det|)
//   lu_adjugate_t(lu, perm, sign)          adj(A)^T (..., n, n)
//   perm_inverse(perm)                     (inverse (..., n), bad: 0-d int32, 1 if a row of
//                                          perm is not a permutation of 0..n-1)
//   permute_rows(x, perm, inverse=False)   x (..., n, k) float32/float64/int32/int64:
//                                          x[..., perm[i], :] (inverse: scattered there)
//
// Every argument is checked here, before anything is enqueued ("[op] ..." TypeError /
// ValueError naming the shapes); the GIL is released around the launches. Builds without CUDA
// define the same names, raising RuntimeError.
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "bindings/checks.h"
#include "bindings/cuda_common.h"
#include "bindings/registry.h"

#if defined(NABI_WITH_CUDA)
#include "cuda/allocator.h"
#include "cuda/linalg_launchers.h"
#endif

namespace py = pybind11;
using namespace nabi;

namespace {

#if defined(NABI_WITH_CUDA)
using namespace nabi::cudabind;
namespace nd = nabi::cuda::nd;

using Shape = std::vector<int64_t>;

std::string dstr(DType d) { return cuda::dtype_str(d); }

// A float (..., n, n) matrix batch: returns (batch count, n).
std::pair<int64_t, int64_t> square(const char* op, const DeviceBuffer& a, const char* name) {
  if (!is_float(a.dtype()))
    type_error(op, std::string(name) + " must be float32 or float64, got " + dstr(a.dtype()) +
                       " of shape " + shape_str(a.shape()));
  const Shape& s = a.shape();
  if (s.size() < 2 || s[s.size() - 1] != s[s.size() - 2])
    value_error(op, std::string(name) + " must be square in its last two axes (..., n, n), got "
                                        "shape " + shape_str(s));
  int64_t batch = 1;
  for (size_t i = 0; i + 2 < s.size(); ++i) batch *= s[i];
  if (batch > std::numeric_limits<int32_t>::max())
    value_error(op, std::string(name) + " of shape " + shape_str(s) +
                        " has more than 2^31 - 1 matrices");
  return {batch, s.back()};
}

Shape batch_of(const DeviceBuffer& a, size_t drop) {
  return Shape(a.shape().begin(), a.shape().end() - drop);
}

void need_perm(const char* op, const DeviceBuffer& a, const DeviceBuffer& p, int64_t n) {
  if (p.dtype() != DType::Int32 && p.dtype() != DType::Int64)
    type_error(op, "perm must be int32 or int64, got " + dstr(p.dtype()) + " of shape " +
                       shape_str(p.shape()));
  Shape want = batch_of(a, 2);
  want.push_back(n);
  if (p.shape() != want)
    value_error(op, "perm must have shape " + shape_str(want) + " for lu of shape " +
                        shape_str(a.shape()) + ", got " + shape_str(p.shape()));
}

// b (..., n, k) with a's batch and dtype; returns k.
int64_t need_rhs(const char* op, const DeviceBuffer& a, const DeviceBuffer& b, const char* an) {
  same_dtype(op, a, an, b, "b");
  const Shape& s = b.shape();
  const int64_t n = a.shape().back();
  if (s.size() != a.shape().size() || batch_of(b, 2) != batch_of(a, 2) || s[s.size() - 2] != n)
    value_error(op, "b must have shape (..., " + std::to_string(n) + ", k) with the batch of " +
                        an + " " + shape_str(a.shape()) + ", got " + shape_str(s));
  return s.back();
}

py::tuple lu_factor(const Buf& ab, const std::string& perm_dtype, bool with_pivots) {
  const char* op = "lu_factor";
  const DeviceBuffer& a = need(op, ab, "a");
  auto [batch, n] = square(op, a, "a");
  const DType pt = dtype_from_name(op, perm_dtype);
  if (pt != DType::Int32 && pt != DType::Int64)
    type_error(op, "perm_dtype must be int32 or int64, got " + perm_dtype);
  Shape bs = batch_of(a, 2), ps = bs;
  ps.push_back(n);
  Buf lu = make_buffer(op, a.shape(), a.dtype());
  Buf perm = make_buffer(op, ps, pt);
  Buf sign = make_buffer(op, bs, a.dtype());
  Buf zeros = make_buffer(op, bs, DType::Int32);
  Buf piv = with_pivots ? make_buffer(op, ps, DType::Int32) : nullptr;
  {
    py::gil_scoped_release nogil;
    nd::lu_factor(a.dtype(), a.data(), batch, n, lu->data(), pt, perm->data(), sign->data(),
                  static_cast<int32_t*>(zeros->data()),
                  piv ? static_cast<int32_t*>(piv->data()) : nullptr);
  }
  if (with_pivots) return py::make_tuple(lu, perm, sign, zeros, piv);
  return py::make_tuple(lu, perm, sign, zeros);
}

Buf lu_solve(const Buf& lub, const Buf& pb, const Buf& bb, bool adjoint) {
  const char* op = "lu_solve";
  const DeviceBuffer& lu = need(op, lub, "lu");
  const DeviceBuffer& p = need(op, pb, "perm");
  auto [batch, n] = square(op, lu, "lu");
  need_perm(op, lu, p, n);
  int64_t k = n;
  if (bb) k = need_rhs(op, lu, *bb, "lu");
  Shape xs = batch_of(lu, 1);
  xs.push_back(k);
  Buf x = make_buffer(op, xs, lu.dtype());
  {
    py::gil_scoped_release nogil;
    nd::lu_solve(lu.dtype(), lu.data(), p.dtype(), p.data(), bb ? bb->data() : nullptr, batch,
                 n, k, adjoint, x->data());
  }
  return x;
}

py::object triangular_solve(const Buf& tb, const Buf& bb, bool lower, bool adjoint, bool unit,
                            bool count_zeros) {
  const char* op = "triangular_solve";
  const DeviceBuffer& t = need(op, tb, "t");
  const DeviceBuffer& b = need(op, bb, "b");
  auto [batch, n] = square(op, t, "t");
  const int64_t k = need_rhs(op, t, b, "t");
  Buf x = make_buffer(op, b.shape(), t.dtype());
  Buf zeros = count_zeros ? make_buffer(op, batch_of(t, 2), DType::Int32) : nullptr;
  {
    py::gil_scoped_release nogil;
    nd::triangular_solve(t.dtype(), t.data(), b.data(), batch, n, k, lower, adjoint, unit,
                         x->data(), zeros ? static_cast<int32_t*>(zeros->data()) : nullptr);
  }
  if (count_zeros) return py::make_tuple(x, zeros);
  return py::cast(x);
}

py::tuple cholesky(const Buf& ab) {
  const char* op = "cholesky";
  const DeviceBuffer& a = need(op, ab, "a");
  auto [batch, n] = square(op, a, "a");
  Buf l = make_buffer(op, a.shape(), a.dtype());
  Buf info = make_buffer(op, batch_of(a, 2), DType::Int32);
  {
    py::gil_scoped_release nogil;
    nd::cholesky(a.dtype(), a.data(), batch, n, l->data(), static_cast<int32_t*>(info->data()));
  }
  return py::make_tuple(l, info);
}

void need_sign(const char* op, const DeviceBuffer& lu, const DeviceBuffer& s) {
  same_dtype(op, lu, "lu", s, "sign");
  if (s.shape() != batch_of(lu, 2))
    value_error(op, "sign must have shape " + shape_str(batch_of(lu, 2)) + " for lu of shape " +
                        shape_str(lu.shape()) + ", got " + shape_str(s.shape()));
}

py::object lu_det(const Buf& lub, const Buf& sb, bool log) {
  const char* op = log ? "lu_slogdet" : "lu_det";
  const DeviceBuffer& lu = need(op, lub, "lu");
  const DeviceBuffer& s = need(op, sb, "sign");
  auto [batch, n] = square(op, lu, "lu");
  need_sign(op, lu, s);
  Buf d = make_buffer(op, batch_of(lu, 2), lu.dtype());
  Buf la = log ? make_buffer(op, batch_of(lu, 2), lu.dtype()) : nullptr;
  {
    py::gil_scoped_release nogil;
    if (log) nd::lu_slogdet(lu.dtype(), lu.data(), s.data(), batch, n, d->data(), la->data());
    else nd::lu_det(lu.dtype(), lu.data(), s.data(), batch, n, d->data());
  }
  if (log) return py::make_tuple(d, la);
  return py::cast(d);
}

Buf lu_adjugate_t(const Buf& lub, const Buf& pb, const Buf& sb) {
  const char* op = "lu_adjugate_t";
  const DeviceBuffer& lu = need(op, lub, "lu");
  const DeviceBuffer& p = need(op, pb, "perm");
  const DeviceBuffer& s = need(op, sb, "sign");
  auto [batch, n] = square(op, lu, "lu");
  need_perm(op, lu, p, n);
  need_sign(op, lu, s);
  Buf out = make_buffer(op, lu.shape(), lu.dtype());
  Buf scratch = make_buffer(op, {batch, n, n + 2}, lu.dtype());
  {
    py::gil_scoped_release nogil;
    nd::lu_adjugate_t(lu.dtype(), lu.data(), p.dtype(), p.data(), s.data(), batch, n,
                      scratch->data(), out->data());
  }
  return out;
}

py::tuple perm_inverse(const Buf& pb) {
  const char* op = "perm_inverse";
  const DeviceBuffer& p = need(op, pb, "perm");
  if (p.dtype() != DType::Int32 && p.dtype() != DType::Int64)
    type_error(op, "perm must be int32 or int64, got " + dstr(p.dtype()) + " of shape " +
                       shape_str(p.shape()));
  if (p.ndim() < 1) value_error(op, "perm must have rank >= 1 (..., n), got shape ()");
  const int64_t n = p.shape().back();
  const int64_t batch = n ? p.numel() / n : 0;
  Buf inv = make_buffer(op, p.shape(), p.dtype());
  Buf bad = make_buffer(op, Shape{}, DType::Int32);
  {
    py::gil_scoped_release nogil;
    nd::perm_inverse(p.dtype(), p.data(), batch, n, inv->data(),
                     static_cast<int32_t*>(bad->data()));
  }
  return py::make_tuple(inv, bad);
}

Buf permute_rows(const Buf& xb, const Buf& pb, bool inverse) {
  const char* op = "permute_rows";
  const DeviceBuffer& x = need(op, xb, "x");
  const DeviceBuffer& p = need(op, pb, "perm");
  if (x.dtype() == DType::Bool)
    type_error(op, "x must be float32, float64, int32 or int64, got bool of shape " +
                       shape_str(x.shape()));
  if (p.dtype() != DType::Int32 && p.dtype() != DType::Int64)
    type_error(op, "perm must be int32 or int64, got " + dstr(p.dtype()) + " of shape " +
                       shape_str(p.shape()));
  if (x.ndim() < 2 || p.shape() != batch_of(x, 1))
    value_error(op, "x must be (..., n, k) and perm (..., n) with x's batch, got x " +
                        shape_str(x.shape()) + " and perm " + shape_str(p.shape()));
  const int64_t k = x.shape().back(), n = x.shape()[x.ndim() - 2];
  const int64_t batch = (n && k) ? x.numel() / (n * k) : 0;
  Buf y = make_buffer(op, x.shape(), x.dtype());
  {
    py::gil_scoped_release nogil;
    nd::permute_rows(x.dtype(), x.data(), p.dtype(), p.data(), batch, n, k, inverse, y->data());
  }
  return y;
}

void bind_impl(py::module_& cm) {
  cm.def("lu_factor", &lu_factor, py::arg("a"), py::arg("perm_dtype") = "int32",
         py::arg("with_pivots") = false,
         "(lu, perm, sign, zeros[, pivots]): LU with partial pivoting of each a (..., n, n), "
         "a[perm] = L U; pivots (int32): the row swapped with row k at step k");
  cm.def("lu_solve", &lu_solve, py::arg("lu"), py::arg("perm"), py::arg("b") = nullptr,
         py::arg("adjoint") = false, "A^-1 b (A^-T b with adjoint; b None: the identity)");
  cm.def("triangular_solve", &triangular_solve, py::arg("t"), py::arg("b"),
         py::arg("lower") = true, py::arg("adjoint") = false, py::arg("unit") = false,
         py::arg("count_zeros") = false,
         "op(T)^-1 b for the lower (upper) triangle T of t; (x, zeros) with count_zeros");
  cm.def("cholesky", &cholesky, py::arg("a"),
         "(l, info): the lower Cholesky factor of each a (..., n, n), info 0 or 1 + the "
         "failed column");
  cm.def("lu_det", [](const Buf& lu, const Buf& s) { return lu_det(lu, s, false); },
         py::arg("lu"), py::arg("sign"), "det from lu_factor's (lu, sign)");
  cm.def("lu_slogdet", [](const Buf& lu, const Buf& s) { return lu_det(lu, s, true); },
         py::arg("lu"), py::arg("sign"), "(sign, log|det|) from lu_factor's (lu, sign)");
  cm.def("lu_adjugate_t", &lu_adjugate_t, py::arg("lu"), py::arg("perm"), py::arg("sign"),
         "adj(A)^T from lu_factor's (lu, perm, sign)");
  cm.def("perm_inverse", &perm_inverse, py::arg("perm"),
         "(inverse permutation, bad flag) of each row of perm (..., n)");
  cm.def("permute_rows", &permute_rows, py::arg("x"), py::arg("perm"),
         py::arg("inverse") = false, "x[..., perm[i], :] (inverse: y[..., perm[i], :] = x)");
}
#else
void bind_impl(py::module_& cm) {
  def_unavailable(cm, {"lu_factor", "lu_solve", "triangular_solve", "cholesky", "lu_det",
                       "lu_slogdet", "lu_adjugate_t", "perm_inverse", "permute_rows"});
}
#endif

}  // namespace

NABI_BINDINGS(bind_cuda_linalg) {
  py::module_ cm = cuda_module(m);
  add_entries(cm, {"lu_factor", "lu_solve", "triangular_solve", "cholesky", "lu_det",
                   "lu_slogdet", "lu_adjugate_t", "perm_inverse", "permute_rows"});
  bind_impl(cm);
}
