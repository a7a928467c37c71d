// nabi._C.cuda_backend: CTC on DeviceBuffers (csrc/cuda/ctc.cu; semantics in
// csrc/cuda/ctc_launchers.h).
//
//   ctc_loss(logits, labels, label_length, logit_length, blank, time_major=True, grad=True)
//       logits (T, B, C) (time_major) or (B, T, C), float32/float64; labels (B, lmax) int32/int64;
//       label_length, logit_length (B,) int32/int64; blank in [0, C). Returns (loss (B,),
//       gradient of sum(loss) w.r.t. the logits (the logits' shape) or None when grad=False),
//       both of the logits' dtype, computed in float64. status=True adds a third entry: an
//       int32 (B,) DeviceBuffer, 0 for a good sequence, 1 where a length is out of range
//       (label_length not in [0, lmax], logit_length not in [0, T]), 2 where a label is not in
//       [0, C) or is the blank (those sequences' loss and gradient are NaN).
//   ctc_greedy(x, seq_len, blank, merge_repeated=True, time_major=True)
//       x (T, B, C) or (B, T, C) float32/float64 with C >= 1, seq_len (B,) int32/int64.
//       Returns (decoded (B, T) int64 padded with -1, count (B,) int64, score (B,) of x's dtype).
//   ctc_pack(decoded, offsets, total)
//       decoded (B, T) int64 from ctc_greedy, offsets (B + 1,) int64 the running sums of its
//       counts (host-read), total = offsets[B] (>= 0, at most B * T): the kept classes in row
//       order, (total,) int64 (the SparseTensor's values). The offsets are trusted: they are
//       the caller's sums of ctc_greedy's counts.
//
// Every shape, dtype and size is checked here before anything is enqueued ("[ctc_loss] ..."
// errors naming the shapes); values held on the device (lengths, labels) are checked by the
// kernel (NaN for that sequence). The GIL is released around the launches. Builds without
// CUDA define the same names, raising RuntimeError.
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "bindings/checks.h"
#include "bindings/cuda_common.h"
#include "bindings/registry.h"

#if defined(NABI_WITH_CUDA)
#include "cuda/allocator.h"
#include "cuda/ctc_launchers.h"
#endif

namespace py = pybind11;
using namespace nabi;

namespace {

#if defined(NABI_WITH_CUDA)
using namespace nabi::cudabind;
namespace nd = nabi::cuda::nd;

bool index_type(DType d) { return d == DType::Int32 || d == DType::Int64; }

const DeviceBuffer& need_index(const char* op, const Buf& b, const char* name, int ndim) {
  const DeviceBuffer& r = need(op, b, name);
  if (!index_type(r.dtype()))
    type_error(op, std::string(name) + " must be int32 or int64, got " +
                       cuda::dtype_str(r.dtype()) + " of shape " + shape_str(r.shape()));
  if (r.ndim() != ndim)
    value_error(op, std::string(name) + " must be " + std::to_string(ndim) + "-D, got shape " +
                        shape_str(r.shape()));
  return r;
}

// (T, B, C) of a 3-D float x in either layout, B within a grid's x dimension.
void dims3(const char* op, const DeviceBuffer& x, const char* name, bool time_major, int64_t& T,
           int64_t& B, int64_t& C) {
  if (x.ndim() != 3)
    value_error(op, std::string(name) + " must be 3-D (" +
                        (time_major ? "time, batch, classes" : "batch, time, classes") +
                        "), got shape " + shape_str(x.shape()));
  T = x.shape()[time_major ? 0 : 1];
  B = x.shape()[time_major ? 1 : 0];
  C = x.shape()[2];
  if (B > std::numeric_limits<int32_t>::max())
    value_error(op, "batch " + std::to_string(B) + " of " + name + " " + shape_str(x.shape()) +
                        " is more than 2^31 - 1");
}

void batch_of(const char* op, const DeviceBuffer& v, const char* name, int64_t B,
              const DeviceBuffer& x) {
  if (v.shape()[0] != B)
    value_error(op, std::string(name) + " " + shape_str(v.shape()) + " must have the batch " +
                        std::to_string(B) + " of the logits " + shape_str(x.shape()));
}

py::tuple ctc_loss(const Buf& xb, const Buf& lb, const Buf& llb, const Buf& tlb, int64_t blank,
                   bool time_major, bool want_grad, bool want_status) {
  const char* op = "ctc_loss";
  const DeviceBuffer& x = need_float(op, xb, "logits");
  int64_t T = 0, B = 0, C = 0;
  dims3(op, x, "logits", time_major, T, B, C);
  const DeviceBuffer& lab = need_index(op, lb, "labels", 2);
  const DeviceBuffer& ll = need_index(op, llb, "label_length", 1);
  const DeviceBuffer& tl = need_index(op, tlb, "logit_length", 1);
  if (lab.shape()[0] != B)
    value_error(op, "labels " + shape_str(lab.shape()) + " must have the batch " +
                        std::to_string(B) + " of the logits " + shape_str(x.shape()) +
                        (time_major ? " (time major)" : " (batch major)"));
  batch_of(op, ll, "label_length", B, x);
  batch_of(op, tl, "logit_length", B, x);
  if (blank < 0 || blank >= C)
    value_error(op, "blank " + std::to_string(blank) + " is out of range for " +
                        std::to_string(C) + " classes (logits " + shape_str(x.shape()) + ")");
  const int64_t lmax = lab.shape()[1];
  // Workspaces: lp (B, T, C), alpha and beta (B, T, 2 lmax + 1), all float64; the size checks
  // name the op and the shapes.
  if (lmax > (std::numeric_limits<int64_t>::max() / 4))
    value_error(op, "labels " + shape_str(lab.shape()) + " are too long");
  const int64_t S = 2 * lmax + 1;
  Buf lp = make_buffer(op, {B, T, C}, DType::Float64);
  Buf alpha = make_buffer(op, {B, T, S}, DType::Float64);
  Buf beta = want_grad ? make_buffer(op, {B, T, S}, DType::Float64) : nullptr;
  Buf loss = make_buffer(op, {B}, x.dtype());
  Buf grad = want_grad ? make_buffer(op, x.shape(), x.dtype()) : nullptr;
  Buf status = want_status ? make_buffer(op, {B}, DType::Int32) : nullptr;
  {
    py::gil_scoped_release nogil;
    nd::ctc_loss(x.dtype(), x.data(), time_major, T, B, C, lab.data(),
                 lab.dtype() == DType::Int64, lmax, ll.data(), ll.dtype() == DType::Int64,
                 tl.data(), tl.dtype() == DType::Int64, blank, loss->data(),
                 grad ? grad->data() : nullptr, static_cast<double*>(lp->data()),
                 static_cast<double*>(alpha->data()),
                 beta ? static_cast<double*>(beta->data()) : nullptr,
                 status ? static_cast<int32_t*>(status->data()) : nullptr);
  }
  py::object g = grad ? py::object(py::cast(grad)) : py::object(py::none());
  if (status) return py::make_tuple(loss, g, status);
  return py::make_tuple(loss, g);
}

py::tuple ctc_greedy(const Buf& xb, const Buf& sb, int64_t blank, bool merge_repeated,
                     bool time_major) {
  const char* op = "ctc_greedy";
  const DeviceBuffer& x = need_float(op, xb, "x");
  int64_t T = 0, B = 0, C = 0;
  dims3(op, x, "x", time_major, T, B, C);
  if (C < 1) value_error(op, "x " + shape_str(x.shape()) + " needs at least one class");
  const DeviceBuffer& sl = need_index(op, sb, "seq_len", 1);
  batch_of(op, sl, "seq_len", B, x);
  if (blank < 0 || blank >= C)
    value_error(op, "blank " + std::to_string(blank) + " is out of range for " +
                        std::to_string(C) + " classes (x " + shape_str(x.shape()) + ")");
  Buf decoded = make_buffer(op, {B, T}, DType::Int64);
  Buf count = make_buffer(op, {B}, DType::Int64);
  Buf score = make_buffer(op, {B}, x.dtype());
  {
    py::gil_scoped_release nogil;
    nd::ctc_greedy(x.dtype(), x.data(), time_major, T, B, C, sl.data(),
                   sl.dtype() == DType::Int64, blank, merge_repeated,
                   static_cast<int64_t*>(decoded->data()), static_cast<int64_t*>(count->data()),
                   score->data());
  }
  return py::make_tuple(decoded, count, score);
}

Buf ctc_pack(const Buf& db, const Buf& ob, int64_t total) {
  const char* op = "ctc_pack";
  const DeviceBuffer& d = need(op, db, "decoded");
  const DeviceBuffer& o = need(op, ob, "offsets");
  if (d.dtype() != DType::Int64 || d.ndim() != 2)
    value_error(op, "decoded must be a 2-D int64 (batch, time), got " +
                        std::string(cuda::dtype_str(d.dtype())) + " of shape " +
                        shape_str(d.shape()));
  const int64_t B = d.shape()[0], T = d.shape()[1];
  if (o.dtype() != DType::Int64 || o.ndim() != 1 || o.shape()[0] != B + 1)
    value_error(op, "offsets must be int64 of shape (" + std::to_string(B + 1) +
                        ",) for decoded " + shape_str(d.shape()) + ", got " +
                        cuda::dtype_str(o.dtype()) + " of shape " + shape_str(o.shape()));
  if (total < 0 || (B > 0 && total > B * T))
    value_error(op, "total " + std::to_string(total) + " must be in [0, " +
                        std::to_string(B * T) + "] for decoded " + shape_str(d.shape()));
  Buf v = make_buffer(op, {total}, DType::Int64);
  {
    py::gil_scoped_release nogil;
    nd::ctc_pack(static_cast<const int64_t*>(d.data()), T, B,
                 static_cast<const int64_t*>(o.data()), static_cast<int64_t*>(v->data()));
  }
  return v;
}

void bind_impl(py::module_& cm) {
  cm.def("ctc_loss", &ctc_loss, py::arg("logits"), py::arg("labels"), py::arg("label_length"),
         py::arg("logit_length"), py::arg("blank"), py::arg("time_major") = true,
         py::arg("grad") = true, py::arg("status") = false,
         "(loss (B,), d sum(loss) / d logits or None[, status (B,) int32 when status=True: "
         "1 a bad length, 2 a bad label]): CTC negative log-likelihoods of dense "
         "labels (B, lmax) under logits (T, B, C) (time_major) or (B, T, C), in float64");
  cm.def("ctc_greedy", &ctc_greedy, py::arg("x"), py::arg("seq_len"), py::arg("blank"),
         py::arg("merge_repeated") = true, py::arg("time_major") = true,
         "(decoded (B, T) int64 padded with -1, count (B,) int64, score (B,)): best-path CTC "
         "decoding of x (T, B, C) (time_major) or (B, T, C)");
  cm.def("ctc_pack", &ctc_pack, py::arg("decoded"), py::arg("offsets"), py::arg("total"),
         "(total,) int64: the kept classes of ctc_greedy's decoded (B, T) in row order, given "
         "the running sums (B + 1,) of its counts");
}
#else
void bind_impl(py::module_& cm) { def_unavailable(cm, {"ctc_loss", "ctc_greedy", "ctc_pack"}); }
#endif

}  // namespace

NABI_BINDINGS(bind_cuda_ctc) {
  py::module_ cm = cuda_module(m);
  add_entries(cm, {"ctc_loss", "ctc_greedy", "ctc_pack"});
  bind_impl(cm);
}
