#!/usr/bin/env bash
# The simulator's memcheck of the complex / FFT kernels alone (tools/sim_memcheck_complex.cpp):
# complex.cu, fft.cu and the simulator compiled with AddressSanitizer (and UBSan's alignment
# check) into one program, run with exact-size device allocations. A quicker check than the
# whole ASan module (tools/sim-build.sh asan) for changes to those two files.
#   bash tools/sim-memcheck-complex.sh        # prints the FFT error, then "done"; rc 0 = clean
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d /tmp/nabi-memcheck-complex.XXXXXX)
trap 'rm -rf "$out"' EXIT
srcs=()
for f in complex fft allocator runtime; do
  python3 tools/cuda_sim_rewrite.py csrc/cuda/$f.cu "$out/$f.cpp"
  srcs+=("$out/$f.cpp")
done
g++ -std=c++17 -O1 -g -fsanitize=address,alignment -fno-omit-frame-pointer -fopenmp \
  -fno-math-errno -DNABI_CUDA_SIM=1 -DNABI_WITH_CUDA=1 -Icsrc/cuda/sim -Icsrc \
  -Wno-unknown-pragmas -Wno-unused-variable tools/sim_memcheck_complex.cpp "${srcs[@]}" \
  csrc/cuda/sim/sim.cpp -o "$out/memcheck"
NABI_SIM_EXACT_ALLOC=1 ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 "$out/memcheck"
