#!/usr/bin/env bash
# Incremental developer build: compiles nabi._C into python/nabi/ so that
# `PYTHONPATH=python python -m pytest tests` uses the working tree.
# A lock keeps concurrent builds from clashing. NABI_CUDA=OFF by default here (faster).
set -euo pipefail
cd "$(dirname "$0")/.."
exec 9>/tmp/nabi-dev-build.lock
flock 9
py=$(command -v python3)
if [ ! -f build/dev/CMakeCache.txt ]; then
  cmake -S . -B build/dev -G Ninja -DCMAKE_BUILD_TYPE=Release -DNABI_CUDA="${NABI_CUDA:-OFF}" \
    -DPython_EXECUTABLE="$py" -Dpybind11_DIR="$($py -c 'import pybind11;print(pybind11.get_cmake_dir())')" \
    -DCMAKE_LIBRARY_OUTPUT_DIRECTORY="$PWD/python/nabi" >/dev/null
fi
cmake --build build/dev -j 2
