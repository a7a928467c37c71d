// nabi._C: runs every registered binding family (see registry.h) plus the runtime queries.
#include <omp.h>

#include <string>

#include "bindings/registry.h"

namespace nabi {
std::vector<BindFn>& binding_registry() {
  static std::vector<BindFn> fns;
  return fns;
}
#if defined(NABI_WITH_CUDA)
int cuda_device_count();  // csrc/cuda/runtime.cu
#endif
}  // namespace nabi

static bool cpu_has(const char* feature) {
#if defined(NABI_X86)
  __builtin_cpu_init();
  if (std::string(feature) == "avx512f") return __builtin_cpu_supports("avx512f");
  if (std::string(feature) == "avx2") return __builtin_cpu_supports("avx2");
  if (std::string(feature) == "fma") return __builtin_cpu_supports("fma");
#endif
  (void)feature;
  return false;
}

PYBIND11_MODULE(_C, m) {
  m.doc() = "nabi native kernels (C++ CPU, optional CUDA)";
  // Capped: libgomp aborts the process when it cannot create the threads (100000 did here).
  m.def("set_num_threads", [](int n) {
    if (n > 1024)
      throw pybind11::value_error("[set_num_threads] at most 1024 threads, got " +
                                  std::to_string(n));
    omp_set_num_threads(n < 1 ? 1 : n);
  });
  m.def("get_num_threads", []() { return omp_get_max_threads(); });
  m.def("cpu_has", &cpu_has, "Whether the CPU supports an instruction set (avx512f, avx2, fma)");
#if defined(NABI_WITH_CUDA)
  m.attr("built_with_cuda") = true;
  m.def("cuda_device_count", []() { return nabi::cuda_device_count(); });
#else
  m.attr("built_with_cuda") = false;
  m.def("cuda_device_count", []() { return 0; });
#endif
  for (auto fn : nabi::binding_registry()) fn(m);
}
