// nabi._C.cuda_backend: the Keras preprocessing kernels on DeviceBuffers
// (csrc/cuda/preprocess_lookup.cu; semantics in csrc/cuda/preprocess_launchers.h).
//
//   hash_ints(x, bins, key=None, mask=None, offset=0)
//       x int32/int64 (any shape) -> int64 of x's shape: the bin (FarmHash Fingerprint64, or
//       SipHash-2-4 under key = (k0, k1), of each value's decimal string) mod bins, plus
//       offset; values equal to mask (when given) get 0. bins >= 1, offset 0 or 1.
//   cross_hash(xs, bins)
//       xs int64 (k, n), k >= 1 features of n elements -> int64 (n,): TF's cross_hashed bin.
//   vocab_lookup(keys, idx, x)
//       keys int64 (m,) ascending and distinct, idx int64 (m,), x int32/int64 (any shape) ->
//       int64 of x's shape: idx of the key equal to each value, -1 where none is.
//
// Every argument is checked here, before anything is enqueued ("[op] ..." TypeError /
// ValueError naming the shapes); the GIL is released around the launches. (That keys are
// sorted and distinct is the caller's promise: IntegerLookup sorts its vocabulary once, at
// adapt / set_vocabulary time.) Builds without CUDA define the same names, raising
// RuntimeError.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include <pybind11/stl.h>

#include "bindings/checks.h"
#include "bindings/cuda_common.h"
#include "bindings/registry.h"

#if defined(NABI_WITH_CUDA)
#include "cuda/allocator.h"
#include "cuda/preprocess_launchers.h"
#endif

namespace py = pybind11;
using namespace nabi;

namespace {

#if defined(NABI_WITH_CUDA)
using namespace nabi::cudabind;
namespace nd = nabi::cuda::nd;

bool index_type(DType d) { return d == DType::Int32 || d == DType::Int64; }

void need_index(const char* op, const DeviceBuffer& b, const char* name) {
  if (!index_type(b.dtype()))
    type_error(op, std::string(name) + " must be int32 or int64, got " +
                       cuda::dtype_str(b.dtype()) + " of shape " + shape_str(b.shape()));
}

void need_int64(const char* op, const DeviceBuffer& b, const char* name) {
  if (b.dtype() != DType::Int64)
    type_error(op, std::string(name) + " must be int64, got " + cuda::dtype_str(b.dtype()) +
                       " of shape " + shape_str(b.shape()));
}

Buf hash_ints(const Buf& xb, int64_t bins, std::optional<std::pair<uint64_t, uint64_t>> key,
              std::optional<int64_t> mask, int64_t offset) {
  const char* op = "hash_ints";
  const DeviceBuffer& x = need(op, xb, "x");
  need_index(op, x, "x");
  if (bins < 1) value_error(op, "bins must be >= 1, got " + std::to_string(bins));
  if (offset != 0 && offset != 1)
    value_error(op, "offset must be 0 or 1, got " + std::to_string(offset));
  Buf y = make_buffer(op, x.shape(), DType::Int64);
  {
    py::gil_scoped_release nogil;
    nd::hash_ints(x.dtype(), x.data(), x.numel(), bins, key.has_value(),
                  key ? key->first : 0, key ? key->second : 0, mask.has_value(),
                  mask ? *mask : 0, offset, static_cast<int64_t*>(y->data()));
  }
  return y;
}

Buf cross_hash(const Buf& xsb, int64_t bins) {
  const char* op = "cross_hash";
  const DeviceBuffer& xs = need(op, xsb, "xs");
  need_int64(op, xs, "xs");
  if (xs.ndim() != 2 || xs.shape()[0] < 1)
    value_error(op, "xs must be (features, n) with at least one feature, got shape " +
                        shape_str(xs.shape()));
  if (bins < 1) value_error(op, "bins must be >= 1, got " + std::to_string(bins));
  const int64_t k = xs.shape()[0], n = xs.shape()[1];
  Buf y = make_buffer(op, {n}, DType::Int64);
  {
    py::gil_scoped_release nogil;
    nd::cross_hash(static_cast<const int64_t*>(xs.data()), k, n, bins,
                   static_cast<int64_t*>(y->data()));
  }
  return y;
}

Buf vocab_lookup(const Buf& kb, const Buf& ib, const Buf& xb) {
  const char* op = "vocab_lookup";
  const DeviceBuffer& keys = need(op, kb, "keys");
  const DeviceBuffer& idx = need(op, ib, "idx");
  const DeviceBuffer& x = need(op, xb, "x");
  need_int64(op, keys, "keys");
  need_int64(op, idx, "idx");
  need_index(op, x, "x");
  if (keys.ndim() != 1)
    value_error(op, "keys must be 1-D, got shape " + shape_str(keys.shape()));
  same_shape(op, keys, "keys", idx, "idx");
  Buf y = make_buffer(op, x.shape(), DType::Int64);
  {
    py::gil_scoped_release nogil;
    nd::vocab_lookup(static_cast<const int64_t*>(keys.data()),
                     static_cast<const int64_t*>(idx.data()), keys.numel(), x.dtype(),
                     x.data(), x.numel(), static_cast<int64_t*>(y->data()));
  }
  return y;
}

void bind_impl(py::module_& cm) {
  cm.def("hash_ints", &hash_ints, py::arg("x"), py::arg("bins"), py::arg("key") = py::none(),
         py::arg("mask") = py::none(), py::arg("offset") = 0,
         "Keras Hashing bins (int64) of integers, hashed as their decimal strings "
         "(Fingerprint64, or SipHash-2-4 under key)");
  cm.def("cross_hash", &cross_hash, py::arg("xs"), py::arg("bins"),
         "Keras HashedCrossing bins (int64, (n,)) of k integer features xs (k, n)");
  cm.def("vocab_lookup", &vocab_lookup, py::arg("keys"), py::arg("idx"), py::arg("x"),
         "IntegerLookup: idx of the sorted key equal to each value of x, -1 where none is");
}
#else
void bind_impl(py::module_& cm) {
  def_unavailable(cm, {"hash_ints", "cross_hash", "vocab_lookup"});
}
#endif

}  // namespace

NABI_BINDINGS(bind_cuda_preprocess) {
  py::module_ cm = cuda_module(m);
  add_entries(cm, {"hash_ints", "cross_hash", "vocab_lookup"});
  bind_impl(cm);
}
