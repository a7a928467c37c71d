// One registration list for every binding file: each csrc/bindings/*.cpp adds its
// functions with NABI_BINDINGS(name) { m.def(...); } and module.cpp runs them all,
// so adding an op family never touches a shared file.
#pragma once
#include <pybind11/pybind11.h>
#include <vector>

namespace nabi {
using BindFn = void (*)(pybind11::module_&);
std::vector<BindFn>& binding_registry();
struct RegisterBindings {
  explicit RegisterBindings(BindFn f) { binding_registry().push_back(f); }
};
}  // namespace nabi

#define NABI_BINDINGS(name)                                      \
  static void name(pybind11::module_& m);                        \
  static ::nabi::RegisterBindings name##_registration_(name);    \
  static void name(pybind11::module_& m)
