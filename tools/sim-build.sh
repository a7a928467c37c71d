#!/usr/bin/env bash
# Build nabi with the CUDA host simulator (csrc/cuda/sim/): the real CUDA kernels, compiled by
# g++ and run on the CPU, so that the GPU tests exercise them on a machine without a GPU.
# The package goes to build/sim/pkg (python/nabi's files linked, the simulator's _C beside
# them). Then, for example:
#   PYTHONPATH=build/sim/pkg python -m pytest -q tests/test_cuda_backend.py
# It is slow (one fiber per CUDA thread): use small shapes, never for timing.
#
# `tools/sim-build.sh asan` builds the same with AddressSanitizer (and UBSan's alignment check:
# a misaligned float4 load faults on a GPU) into build/sim-asan/pkg: the simulator's memcheck.
# Run it with exact-size device allocations and the sanitizer runtimes:
#   NABI_SIM_EXACT_ALLOC=1 ASAN_OPTIONS=detect_leaks=0 \
#   LD_PRELOAD="$(g++ -print-file-name=libasan.so) $(g++ -print-file-name=libubsan.so)" \
#     NABI_TEST_PACKAGE_DIR=build/sim-asan/pkg python -m pytest -q tests/test_cuda_array_kernels.py
set -euo pipefail
cd "$(dirname "$0")/.."
variant="${1:-}"
dir=build/sim
flags=()
if [ "$variant" = asan ]; then
  dir=build/sim-asan
  flags=(-DCMAKE_CXX_FLAGS="-fsanitize=address,alignment -fno-omit-frame-pointer"
         -DCMAKE_MODULE_LINKER_FLAGS="-fsanitize=address,alignment" -DCMAKE_BUILD_TYPE=RelWithDebInfo)
elif [ -n "$variant" ]; then
  echo "usage: tools/sim-build.sh [asan]" >&2; exit 2
fi
exec 9>/tmp/nabi-sim-build${variant:+-$variant}.lock
flock 9
py=$(command -v python3)
pkg="$PWD/$dir/pkg/nabi"
mkdir -p "$pkg"
if [ ! -f $dir/CMakeCache.txt ]; then
  cmake -S . -B $dir -G Ninja -DCMAKE_BUILD_TYPE=Release -DNABI_CUDA=SIM "${flags[@]}" \
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
