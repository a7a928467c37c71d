#!/usr/bin/env bash
# Build the CPU extension (NABI_CUDA=OFF) with AddressSanitizer + UndefinedBehaviorSanitizer
# into build/asan, and a package at build/asan/pkg/nabi (python/nabi's files linked, the ASan _C
# beside them), so python/nabi/_C*.so, which others use, is never touched. Run the tests with:
#
#   tools/asan-build.sh
#   LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libstdc++.so)" \
#   ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
#   NABI_TEST_PACKAGE_DIR=build/asan/pkg python3 -m pytest -q -s -p no:randomly \
#     tests/test_bindings_fuzz.py
#
# Python itself is not instrumented, so the ASan runtime must be preloaded (LD_PRELOAD), with
# libstdc++ after it (else the first C++ exception dies in ASan's __cxa_throw interceptor:
# "CHECK failed: asan_interceptors.cpp ... real___cxa_throw"), and leak checking is off (the
# interpreter keeps memory until exit). An ASan or UBSan report aborts the run
# (halt_on_error=1): every report is a bug. -s: pytest's capture would swallow the report of
# a run that aborts. A manual check, not part of CI.
#
# -O1 -g: CMakeLists.txt adds -O3 as a target option after CMAKE_CXX_FLAGS, so a compiler
# launcher (build/asan/o1.sh) appends -O1 last, which wins.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=build/asan
exec 9>/tmp/nabi-asan-build.lock
flock 9
py=$(command -v python3)
pkg="$PWD/$dir/pkg/nabi"
mkdir -p "$pkg"
san="-fsanitize=address,undefined -fno-omit-frame-pointer"
cat > "$dir/o1.sh" <<'EOF'
#!/bin/sh
exec "$@" -O1 -g
EOF
chmod +x "$dir/o1.sh"
if [ ! -f $dir/CMakeCache.txt ]; then
  cmake -S . -B $dir -G Ninja -DCMAKE_BUILD_TYPE=Debug -DNABI_CUDA=OFF \
    -DCMAKE_CXX_FLAGS="$san" -DCMAKE_MODULE_LINKER_FLAGS="$san" \
    -DCMAKE_CXX_COMPILER_LAUNCHER="$PWD/$dir/o1.sh" \
    -DPython_EXECUTABLE="$py" -Dpybind11_DIR="$($py -c 'import pybind11;print(pybind11.get_cmake_dir())')" \
    -DCMAKE_LIBRARY_OUTPUT_DIRECTORY="$pkg" >/dev/null
fi
cmake --build $dir -j "${NABI_BUILD_JOBS:-2}"
# Link python/nabi's files (not its own _C) into the package.
find "$pkg" -maxdepth 1 -type l -delete
for f in python/nabi/*; do
  case "$(basename "$f")" in _C*.so) continue ;; esac
  ln -s "$PWD/$f" "$pkg/$(basename "$f")"
done
