// Threading helpers: OpenMP (shared libgomp), small problems stay on one thread, and
// worker threads flush denormals to zero (FTZ/DAZ) while a kernel runs, as TF does:
// Adam state drifting into denormals otherwise costs several percent.
#pragma once
#include <omp.h>

#include <cstdint>
#if defined(NABI_X86)
#include <immintrin.h>
#endif

namespace nabi {

// Sets FTZ/DAZ for the current thread and restores the previous mode on exit.
class FlushDenormals {
 public:
  FlushDenormals() {
#if defined(NABI_X86)
    saved_ = _mm_getcsr();
    _mm_setcsr(saved_ | 0x8040);
#endif
  }
  ~FlushDenormals() {
#if defined(NABI_X86)
    _mm_setcsr(saved_);
#endif
  }
  FlushDenormals(const FlushDenormals&) = delete;
  FlushDenormals& operator=(const FlushDenormals&) = delete;

 private:
  unsigned saved_ = 0;
};

inline int max_threads() { return omp_in_parallel() ? 1 : omp_get_max_threads(); }

// Runs f(begin, end) over [0, n) in contiguous chunks. Goes parallel only when the work
// (n * cost_per_item, in rough flops) is large enough to pay for waking the threads.
template <typename F>
inline void parallel_for(int64_t n, int64_t cost_per_item, F&& f) {
  const int64_t kMinWorkPerThread = 32768;
  int nt = max_threads();
  int64_t work = n * (cost_per_item > 0 ? cost_per_item : 1);
  if (nt > 1 && work / kMinWorkPerThread < nt) nt = static_cast<int>(work / kMinWorkPerThread);
  if (nt > n) nt = static_cast<int>(n);
  if (nt <= 1) {
    FlushDenormals ftz;
    f(int64_t{0}, n);
    return;
  }
#pragma omp parallel num_threads(nt)
  {
    FlushDenormals ftz;
    int t = omp_get_thread_num();
    int T = omp_get_num_threads();
    int64_t chunk = (n + T - 1) / T;
    int64_t b = t * chunk, e = b + chunk < n ? b + chunk : n;
    if (b < e) f(b, e);
  }
}

}  // namespace nabi
