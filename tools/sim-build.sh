#!/usr/bin/env bash
# Build nabi with the CUDA host simulator (csrc/cuda/sim/): the real CUDA kernels, compiled by
# g++ and run on the CPU, so that the GPU tests exercise them on a machine without a GPU.
# The package goes to build/sim/pkg (python/nabi's files linked, the simulator's _C beside
# them). Then, for example:
#   PYTHONPATH=build/sim/pkg python -m pytest -q tests/test_cuda_backend.py
# It is slow (one fiber per CUDA thread): use small shapes, never for timing.
set -euo pipefail
cd "$(dirname "$0")/.."
exec 9>/tmp/nabi-sim-build.lock
flock 9
py=$(command -v python3)
pkg="$PWD/build/sim/pkg/nabi"
mkdir -p "$pkg"
if [ ! -f build/sim/CMakeCache.txt ]; then
  cmake -S . -B build/sim -G Ninja -DCMAKE_BUILD_TYPE=Release -DNABI_CUDA=SIM \
    -DPython_EXECUTABLE="$py" -Dpybind11_DIR="$($py -c 'import pybind11;print(pybind11.get_cmake_dir())')" \
    -DCMAKE_LIBRARY_OUTPUT_DIRECTORY="$pkg" >/dev/null
fi
cmake --build build/sim -j "${NABI_BUILD_JOBS:-2}"
# Link python/nabi's files (not its own _C) into the package.
find "$pkg" -maxdepth 1 -type l -delete
for f in python/nabi/*; do
  case "$(basename "$f")" in _C*.so) continue ;; esac
  ln -s "$PWD/$f" "$pkg/$(basename "$f")"
done
