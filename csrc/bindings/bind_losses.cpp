// Fused loss bindings (each returns (loss, backprop)):
//   softmax_xent_forward(labels, logits)         labels/logits (..., C) same dtype; loss (...)
//   sparse_softmax_xent_forward(labels, logits, checked=False)
//                                                labels int32/int64 (...), logits (..., C);
//                                                `checked` (the caller knows the labels are in
//                                                range) matters on the GPU only: here the
//                                                labels are always checked, at no real cost
//   sigmoid_xent_forward(labels, logits)         elementwise, any shape
// The TF reference op is 2-D (rows, cols); leading axes are flattened into rows here.
#include "bindings/checks.h"
#include "bindings/registry.h"
#include "cpu/losses.h"

namespace py = pybind11;
using namespace nabi;

namespace {

std::vector<py::ssize_t> leading_shape(const py::array& a) {
  return std::vector<py::ssize_t>(a.shape(), a.shape() + a.ndim() - 1);
}

py::tuple softmax_xent(py::array labels, py::array logits) {
  const char* op = "softmax_cross_entropy_with_logits";
  check_float(op, logits, "logits");
  check_float(op, labels, "labels");
  check_same_dtype(op, labels, "labels", logits, "logits");
  if (logits.ndim() < 1) value_error(op, "logits must have rank >= 1, got shape ()");
  check_same_shape(op, labels, "labels", logits, "logits");
  const int64_t cols = logits.shape(logits.ndim() - 1);
  int64_t rows = 1;
  for (py::ssize_t i = 0; i + 1 < logits.ndim(); ++i) rows *= logits.shape(i);
  py::array loss = empty_like_dtype(logits, leading_shape(logits));
  py::array bp = empty_like_dtype(logits, shape_of(logits));
  auto run = [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const T* zp = static_cast<const T*>(labels.data());
    const T* xp = static_cast<const T*>(logits.data());
    T* lp = static_cast<T*>(loss.mutable_data());
    T* bpp = static_cast<T*>(bp.mutable_data());
    py::gil_scoped_release nogil;
    cpu::softmax_xent<T>(zp, xp, lp, bpp, rows, cols);
  };
  if (is_float32(logits))
    run(static_cast<float*>(nullptr));
  else
    run(static_cast<double*>(nullptr));
  return py::make_tuple(loss, bp);
}

template <typename L>
void check_labels(const char* op, const py::array& labels, int64_t cols) {
  const L* lp = static_cast<const L*>(labels.data());
  const int64_t n = labels.size();
  for (int64_t r = 0; r < n; ++r) {
    const int64_t v = static_cast<int64_t>(lp[r]);
    if (v < 0 || v >= cols)
      value_error(op, "label " + std::to_string(v) + " at row " + std::to_string(r) +
                          " is outside [0, " + std::to_string(cols) + ")");
  }
}

py::tuple sparse_softmax_xent(py::array labels, py::array logits, bool /*checked*/) {
  const char* op = "sparse_softmax_cross_entropy_with_logits";
  check_float(op, logits, "logits");
  const bool l32 = has_dtype<int32_t>(labels), l64 = has_dtype<int64_t>(labels);
  if (!l32 && !l64)
    type_error(op, std::string("labels must be int32 or int64, got ") + dtype_name(labels));
  if (!(labels.flags() & py::array::c_style))
    value_error(op, "labels must be C-contiguous, got strides of shape " + shape_str(labels));
  if (reinterpret_cast<uintptr_t>(labels.data()) % static_cast<uintptr_t>(labels.itemsize()))
    value_error(op, "labels " + shape_str(labels) + " is not aligned to its element size");
  if (logits.ndim() < 1) value_error(op, "logits must have rank >= 1, got shape ()");
  auto lead = leading_shape(logits);
  bool ok = labels.ndim() == static_cast<py::ssize_t>(lead.size());
  for (size_t i = 0; ok && i < lead.size(); ++i) ok = labels.shape(i) == lead[i];
  if (!ok)
    value_error(op, "labels " + shape_str(labels) + " must have the shape of logits " +
                        shape_str(logits) + " without its last axis");
  const int64_t cols = logits.shape(logits.ndim() - 1);
  const int64_t rows = labels.size();
  if (l32)
    check_labels<int32_t>(op, labels, cols);
  else
    check_labels<int64_t>(op, labels, cols);
  py::array loss = empty_like_dtype(logits, lead);
  py::array bp = empty_like_dtype(logits, shape_of(logits));
  auto run = [&](auto* tag, auto* ltag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    using L = std::remove_pointer_t<decltype(ltag)>;
    const L* zp = static_cast<const L*>(labels.data());
    const T* xp = static_cast<const T*>(logits.data());
    T* lp = static_cast<T*>(loss.mutable_data());
    T* bpp = static_cast<T*>(bp.mutable_data());
    py::gil_scoped_release nogil;
    cpu::sparse_softmax_xent<T, L>(zp, xp, lp, bpp, rows, cols);
  };
  if (is_float32(logits)) {
    if (l32)
      run(static_cast<float*>(nullptr), static_cast<int32_t*>(nullptr));
    else
      run(static_cast<float*>(nullptr), static_cast<int64_t*>(nullptr));
  } else {
    if (l32)
      run(static_cast<double*>(nullptr), static_cast<int32_t*>(nullptr));
    else
      run(static_cast<double*>(nullptr), static_cast<int64_t*>(nullptr));
  }
  return py::make_tuple(loss, bp);
}

py::tuple sigmoid_xent(py::array labels, py::array logits) {
  const char* op = "sigmoid_cross_entropy_with_logits";
  check_float(op, logits, "logits");
  check_float(op, labels, "labels");
  check_same_dtype(op, labels, "labels", logits, "logits");
  check_same_shape(op, labels, "labels", logits, "logits");
  py::array loss = empty_like_dtype(logits, shape_of(logits));
  py::array bp = empty_like_dtype(logits, shape_of(logits));
  const int64_t n = logits.size();
  auto run = [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const T* zp = static_cast<const T*>(labels.data());
    const T* xp = static_cast<const T*>(logits.data());
    T* lp = static_cast<T*>(loss.mutable_data());
    T* bpp = static_cast<T*>(bp.mutable_data());
    py::gil_scoped_release nogil;
    cpu::sigmoid_xent<T>(zp, xp, lp, bpp, n);
  };
  if (is_float32(logits))
    run(static_cast<float*>(nullptr));
  else
    run(static_cast<double*>(nullptr));
  return py::make_tuple(loss, bp);
}

}  // namespace

NABI_BINDINGS(bind_losses) {
  m.def("softmax_xent_forward", &softmax_xent, py::arg("labels"), py::arg("logits"),
        "(loss, backprop) of softmax cross-entropy over the last axis");
  m.def("sparse_softmax_xent_forward", &sparse_softmax_xent, py::arg("labels"),
        py::arg("logits"), py::arg("checked") = false,
        "(loss, backprop) of sparse softmax cross-entropy");
  m.def("sigmoid_xent_forward", &sigmoid_xent, py::arg("labels"), py::arg("logits"),
        "(loss, backprop) of elementwise sigmoid cross-entropy");
}
