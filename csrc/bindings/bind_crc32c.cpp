// CRC-32C bindings (TFRecord checksums; csrc/cpu/crc32c.cpp):
//   crc32c(data, crc=0, impl="auto") -> int      masked_crc32c(data) -> int
//   crc32c_isa() -> "sse4.2" | "portable"         crc32c_cpu_has_sse42() -> bool
// data: any C-contiguous buffer (bytes, bytearray, memoryview, NumPy array); its raw bytes are
// summed. The buffer stays exported (so a bytearray cannot be resized) while the GIL is released.
#include <Python.h>

#include <memory>

#include "bindings/checks.h"
#include "bindings/registry.h"
#include "cpu/crc32c.h"

namespace py = pybind11;
using namespace nabi;

namespace {

struct BufferView {
  Py_buffer view{};
  bool held = false;
  ~BufferView() {
    if (held) PyBuffer_Release(&view);
  }
};

void get_bytes(const char* op, const py::object& data, BufferView* out) {
  if (PyUnicode_Check(data.ptr()))
    type_error(op, "data must be bytes-like, got str (encode it first, e.g. s.encode('utf-8'))");
  if (!PyObject_CheckBuffer(data.ptr()))
    type_error(op, std::string("data must be a bytes-like object (bytes, bytearray, memoryview, "
                               "contiguous array), got ") +
                       Py_TYPE(data.ptr())->tp_name);
  if (PyObject_GetBuffer(data.ptr(), &out->view, PyBUF_C_CONTIGUOUS) != 0) {
    PyErr_Clear();
    type_error(op, std::string("data must be a C-contiguous buffer, got a non-contiguous ") +
                       Py_TYPE(data.ptr())->tp_name + " (copy it with bytes(...) first)");
  }
  out->held = true;
}

uint32_t as_crc(const char* op, const py::object& crc) {
  if (!PyLong_Check(crc.ptr()) || PyBool_Check(crc.ptr()))
    type_error(op, std::string("crc must be an int, got ") + Py_TYPE(crc.ptr())->tp_name);
  int overflow = 0;
  long long v = PyLong_AsLongLongAndOverflow(crc.ptr(), &overflow);
  if (overflow || v < 0 || v > 0xFFFFFFFFLL)
    value_error(op, "crc must be in [0, 2**32), got " + std::string(py::str(crc)));
  return static_cast<uint32_t>(v);
}

cpu::Crc32cIsa as_isa(const char* op, const std::string& impl) {
  if (impl == "auto") return cpu::Crc32cIsa::kAuto;
  if (impl == "portable") return cpu::Crc32cIsa::kPortable;
  if (impl == "sse4.2") {
    if (!cpu::crc32c_cpu_has_sse42())
      value_error(op, "impl='sse4.2' needs a CPU with SSE4.2; this one lacks it");
    return cpu::Crc32cIsa::kSse42;
  }
  value_error(op, "impl must be 'auto', 'portable' or 'sse4.2', got '" + impl + "'");
}

uint32_t crc32c(const py::object& data, const py::object& crc, const std::string& impl) {
  const char* op = "crc32c";
  const uint32_t start = as_crc(op, crc);
  const cpu::Crc32cIsa isa = as_isa(op, impl);
  BufferView buf;
  get_bytes(op, data, &buf);
  const auto* p = static_cast<const uint8_t*>(buf.view.buf);
  const size_t n = static_cast<size_t>(buf.view.len);
  if (n < 4096) return cpu::crc32c_extend_isa(start, p, n, isa);  // not worth a GIL round trip
  py::gil_scoped_release nogil;
  return cpu::crc32c_extend_isa(start, p, n, isa);
}

uint32_t masked_crc32c(const py::object& data) {
  BufferView buf;
  get_bytes("masked_crc32c", data, &buf);
  const auto* p = static_cast<const uint8_t*>(buf.view.buf);
  const size_t n = static_cast<size_t>(buf.view.len);
  if (n < 4096) return cpu::crc32c_mask(cpu::crc32c_extend(0, p, n));
  py::gil_scoped_release nogil;
  return cpu::crc32c_mask(cpu::crc32c_extend(0, p, n));
}

}  // namespace

NABI_BINDINGS(bind_crc32c) {
  m.def("crc32c", &crc32c, py::arg("data"), py::arg("crc") = py::int_(0),
        py::arg("impl") = "auto",
        "CRC-32C (Castagnoli) of a contiguous buffer, continuing from crc (0 starts one). "
        "impl: 'auto' (the dispatched default), 'portable' (slicing-by-8) or 'sse4.2'");
  m.def("masked_crc32c", &masked_crc32c, py::arg("data"),
        "TFRecord's checksum: CRC-32C rotated right by 15 bits plus 0xa282ead8");
  m.def("crc32c_isa", []() { return std::string(cpu::crc32c_isa_name()); },
        "The CRC-32C implementation crc32c(impl='auto') runs: 'sse4.2' or 'portable'");
  m.def("crc32c_cpu_has_sse42", &cpu::crc32c_cpu_has_sse42);
}
