#!/usr/bin/env bash
# One command for a session that is lent a GPU: build nabi with CUDA, test it, benchmark it.
#
#   device tool `run`, repository root as cwd, $OUT set, timeout_s 600:
#       bash bench/gpu_session.sh
#
# Steps, each under its own `timeout` (SIGINT first, so pytest still prints its summary), each
# logged to <step>.log, a failure never stopping the steps after it; $OUT/summary.log has one
# line per step (rc 124 = hit its timeout). The device tool returns at most 8 files from $OUT,
# so the step logs (and JUnit XML) are kept in $SESSION_LOGS and packed into $OUT/logs.tgz after
# every step: $OUT holds summary.log, logs.tgz, gpu.json and gpu.md. The whole run stays
# under SESSION_TOTAL_S (default 540 s, inside the tool's 600 s per command); the benchmark
# gets the time left.
#
#   00-env        nvidia-smi, nvcc, python, torch (the yardstick; absent: nabi runs alone)
#   10-install    pip install --no-build-isolation --no-deps . with no index (the offline GPU
#                 image has the build and test packages; CUDA build, CMAKE_BUILD_PARALLEL_LEVEL
#                 =16, this GPU's architecture only), then pip install ".[test]", then a plain
#                 CMake build into python/nabi
#   20-cuda-tests the CUDA_TESTS files below: the kernel and device tests (test_cuda_backend,
#                 _array_kernels, _nn_kernels, _train_kernels, test_device, _edge_cases, _sort,
#                 test_special_functions_cuda, _host_ops) and the ops moved off the host
#                 (test_cuda_ctc, test_special_incomplete_cuda, test_cuda_linalg_eig,
#                 test_cuda_linalg, _index_extra, _image_transform, test_augmentation_grad,
#                 test_gpu_index_checks, test_cuda_preprocessing, test_gpu_read_backs,
#                 test_cuda_keras_ops_extra, test_gpu_read_backs_2, test_cuda_random_samplers,
#                 test_cuda_morphology_nms, test_cuda_random_stateful,
#                 test_cuda_complex_fft, test_cuda_complex_math, test_cuda_complex_inverse,
#                 test_complex_gradients, test_cuda_linalg_sqrtm_logm)
#   30-suite      the rest of tests/ (with 20 that is the whole suite; on a GPU machine nabi
#                 places tensors and Keras models on the GPU, so it runs GPU code paths)
#   40-memcheck   compute-sanitizer --tool memcheck on tests/test_cuda_array_kernels.py
#                 (when compute-sanitizer is on PATH or under /usr/local/cuda*/bin)
#   50-bench      python bench/bench_gpu.py --budget <time left>: SGEMM vs cuBLAS, conv vs
#                 cuDNN, MNIST CNN and MLP epochs vs PyTorch eager, sort/top_k vs torch; writes
#                 bench/results/gpu.{json,md} and the same files into $OUT
#
# Knobs (environment): SESSION_TOTAL_S, PYTHON (default python3), SESSION_STEPS (e.g.
# "env install bench"), SESSION_BENCH_ARGS (e.g. --quick), NABI_DATASETS (default
# shared/datasets or ../shared/datasets).
# Dry run without a GPU (skips install; the bench says "no GPU", or runs on the emulator):
#   SESSION_DRY_RUN=1 OUT=/tmp/s bash bench/gpu_session.sh
#   SESSION_DRY_RUN=1 NABI_EMULATE_CUDA=1 SESSION_BENCH_ARGS=--quick OUT=/tmp/s \
#     SESSION_STEPS="env bench" bash bench/gpu_session.sh
set -u
cd "$(dirname "$0")/.."
REPO=$PWD
PY=${PYTHON:-python3}
OUT=${OUT:-$REPO/gpu-session-out}
LOGS=${SESSION_LOGS:-${TMPDIR:-/tmp}/nabi-gpu-session-logs}
mkdir -p "$OUT" "$LOGS"
TOTAL=${SESSION_TOTAL_S:-540}
STEPS=${SESSION_STEPS:-"env install cuda-tests suite memcheck bench"}
T0=$(date +%s)
CUDA_TESTS="tests/test_cuda_backend.py tests/test_cuda_array_kernels.py tests/test_cuda_nn_kernels.py tests/test_cuda_train_kernels.py tests/test_device.py tests/test_cuda_edge_cases.py tests/test_cuda_sort.py tests/test_special_functions_cuda.py tests/test_cuda_host_ops.py tests/test_cuda_ctc.py tests/test_special_incomplete_cuda.py tests/test_cuda_linalg_eig.py tests/test_cuda_linalg.py tests/test_cuda_index_extra.py tests/test_cuda_image_transform.py tests/test_augmentation_grad.py tests/test_gpu_index_checks.py tests/test_cuda_preprocessing.py tests/test_gpu_read_backs.py tests/test_cuda_keras_ops_extra.py tests/test_gpu_read_backs_2.py tests/test_cuda_random_samplers.py tests/test_cuda_morphology_nms.py tests/test_cuda_random_stateful.py tests/test_cuda_complex_fft.py tests/test_cuda_complex_math.py tests/test_cuda_complex_inverse.py tests/test_complex_gradients.py tests/test_cuda_linalg_sqrtm_logm.py"

for d in /usr/local/cuda/bin /usr/local/cuda-*/bin; do
  [ -d "$d" ] && case ":$PATH:" in *":$d:"*) ;; *) PATH="$PATH:$d" ;; esac
done
export PATH
if [ -z "${NABI_DATASETS:-}" ]; then
  for d in "$REPO/shared/datasets" "$REPO/../shared/datasets"; do
    if [ -d "$d/mnist" ]; then NABI_DATASETS=$(cd "$d" && pwd); break; fi
  done
fi
export NABI_DATASETS=${NABI_DATASETS:-}
export PIP_BREAK_SYSTEM_PACKAGES=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-16}

elapsed() { echo $(( $(date +%s) - T0 )); }
left() { echo $(( TOTAL - $(elapsed) )); }
say() { echo "[session $(elapsed)s] $*" | tee -a "$OUT/summary.log"; }
want() { case " $STEPS " in *" $1 "*) return 0 ;; esac; return 1; }

# step NAME CAP RESERVE CMD...: runs CMD with timeout min(CAP, time left - RESERVE)
step() {
  local name=$1 cap=$2 reserve=$3
  shift 3
  local t=$(( $(left) - reserve ))
  (( t > cap )) && t=$cap
  if (( t < 15 )); then
    say "$name: SKIPPED (only $(left) s left of $TOTAL)"
    return 0
  fi
  say "$name: start, timeout ${t}s: $*"
  local s=$(date +%s)
  timeout -s INT -k 20 "$t" "$@" >"$LOGS/$name.log" 2>&1
  local rc=$?
  say "$name: rc=$rc in $(( $(date +%s) - s ))s$( ((rc == 124)) && echo ' (TIMED OUT)')  -> logs.tgz:$name.log"
  tail -n 3 "$LOGS/$name.log" | sed 's/^/    /' | tee -a "$OUT/summary.log"
  tar czf "$OUT/logs.tgz" -C "$LOGS" . 2>/dev/null
  return 0
}

# ---- sub-steps (run through `timeout bash $0 __name`) -------------------------------------------
if [ "${1:-}" = "__env" ]; then
  date; uname -a; echo "repo $REPO; OUT $OUT; NABI_DATASETS=${NABI_DATASETS:-<unset>}"
  nvidia-smi || echo "nvidia-smi: not found / failed"
  nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv || true
  command -v nvcc && nvcc --version | tail -2
  command -v compute-sanitizer || ls -d /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null \
    || echo "compute-sanitizer: not found"
  "$PY" --version; command -v "$PY"; nproc; free -g | head -2
  "$PY" -m pip list 2>/dev/null | grep -i -E '^(torch|numpy|pybind11|scikit-build-core|cmake|ninja|pytest|hypothesis|h5py|scipy|tensorboardx) ' || true
  "$PY" - <<'EOF'
try:
    import torch
    print("torch", torch.__version__, "cuda", torch.version.cuda, "available",
          torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
except Exception as e:
    print("torch NOT importable:", type(e).__name__, e, "-> the benchmarks run nabi alone")
EOF
  ls python/nabi/_C* 2>/dev/null && echo "WARNING: a build in python/nabi/ (the tests will use it)"
  exit 0
fi

if [ "${1:-}" = "__install" ]; then
  arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')
  arch=${arch:-90}
  export NABI_CUDA=ON CMAKE_ARGS="${CMAKE_ARGS:-} -DCMAKE_CUDA_ARCHITECTURES=$arch"
  echo "== pip install .[test]  (NABI_CUDA=ON, CMAKE_ARGS=$CMAKE_ARGS, -j $CMAKE_BUILD_PARALLEL_LEVEL)"
  # The GPU machine is offline but its image has scikit-build-core, pybind11, cmake, ninja and
  # the test packages (not tensorboardX: those tests skip or expect the ImportError), so build
  # without isolation and without the index first (no network waits), then try the index.
  if ! PIP_NO_INDEX=1 "$PY" -m pip install -v --no-build-isolation --no-deps . && \
     ! "$PY" -m pip install -v ".[test]"; then
    echo "== FAILED twice; plain CMake build into python/nabi (the tests and benches then use it)"
    pyb=$("$PY" -c 'import pybind11; print(pybind11.get_cmake_dir())') || exit 3
    gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
    cmake -S . -B build/gpu-session "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DNABI_CUDA=ON \
      -DCMAKE_CUDA_ARCHITECTURES="$arch" -DPython_EXECUTABLE="$(command -v "$PY")" \
      -Dpybind11_DIR="$pyb" -DCMAKE_LIBRARY_OUTPUT_DIRECTORY="$REPO/python/nabi" \
      && cmake --build build/gpu-session -j "$CMAKE_BUILD_PARALLEL_LEVEL" || exit 4
  fi
  echo "== which nabi do the tests (tests/conftest.py) and benches see?"
  "$PY" - <<'EOF'
import os, sys
py = os.path.join(os.getcwd(), "python")
if any(f.startswith("_C") for f in os.listdir(os.path.join(py, "nabi"))):
    sys.path.insert(0, py)
try:
    import nabi
except ImportError:
    sys.path.insert(0, py)
    import nabi
print("nabi from", os.path.dirname(nabi.__file__), "| built with CUDA:", nabi.cuda.is_built(),
      "| GPU available:", nabi.cuda.is_available())
if nabi.cuda.is_available():
    print("device:", nabi._C.cuda_backend.device_name(0))
else:
    print("NO GPU for nabi:", nabi._C.cuda_backend.unavailable_reason())
    sys.exit(5)
EOF
  exit $?
fi

if [ "${1:-}" = "__memcheck" ]; then
  cs=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1)
  if [ -z "$cs" ]; then echo "compute-sanitizer: not found (PATH, /usr/local/cuda*/bin): SKIPPED"; exit 0; fi
  echo "== $cs --tool memcheck on tests/test_cuda_array_kernels.py"
  exec "$cs" --tool memcheck --error-exitcode 99 --print-limit 50 \
    "$PY" -m pytest -q -rs -p no:cacheprovider -k "not emu" tests/test_cuda_array_kernels.py
fi

# ---- the session --------------------------------------------------------------------------------
rm -rf "$LOGS" && mkdir -p "$LOGS"  # (here, not above: the sub-steps re-run this script)
: >"$OUT/summary.log"
say "gpu_session.sh: repo $REPO, OUT $OUT, total ${TOTAL}s, steps: $STEPS, NABI_DATASETS=${NABI_DATASETS:-<none>}"
want env && step 00-env 60 0 bash "$0" __env
if want install && [ -z "${SESSION_DRY_RUN:-}" ]; then
  step 10-install 330 190 bash "$0" __install
fi
# shellcheck disable=SC2086
# (-k "not emu": the emulator's cases run in CI on every commit; the GPU time is for the GPU)
want cuda-tests && step 20-cuda-tests 150 180 "$PY" -m pytest -q -rs -p no:cacheprovider \
  -k "not emu" --durations=15 --junitxml="$LOGS/20-cuda-tests.xml" $CUDA_TESTS
ignores=()
for f in $CUDA_TESTS; do ignores+=(--ignore="$f"); done
want suite && step 30-suite 200 170 "$PY" -m pytest -q -rs -p no:cacheprovider --durations=15 \
  -k "not emu" --junitxml="$LOGS/30-suite.xml" "${ignores[@]}" tests
want memcheck && step 40-memcheck 120 150 bash "$0" __memcheck
if want bench; then
  t=$(( $(left) - 10 ))
  # shellcheck disable=SC2086
  step 50-bench "$t" 10 "$PY" bench/bench_gpu.py --budget $(( t > 40 ? t - 25 : 15 )) \
    ${SESSION_BENCH_ARGS:-}
  for f in "$OUT"/gpu*.md; do [ -f "$f" ] && cat "$f" >>"$OUT/summary.log"; done
fi
say "done in $(elapsed)s; logs and results in $OUT"
exit 0
