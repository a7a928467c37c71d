// Batch scheduling and work memory of the GRU and SimpleRNN kernels (gru.cpp, simple_rnn.cpp),
// the same scheme as lstm.cpp's:
//   * for_batch_chunks: the batch rows in ONE parallel region, in chunks handed out
//     dynamically (about 4 per thread, a multiple of 6 rows: the step GEMM's row block). A
//     sample's recurrence never reads another's, so a chunk runs the whole sequence with no
//     barrier, and a thread that loses its core for a while (a shared machine) no longer
//     holds the region up by half the batch: the other threads take more chunks;
//   * work_buffer: uninitialised scratch kept by the calling thread (up to 32 MiB), so a
//     call neither zero-fills nor page-faults a fresh multi-MiB allocation;
//   * ThreadParts: per-thread weight-gradient parts, written by a thread's first chunk
//     (GEMM beta 0) and accumulated by its next ones (beta 1), summed once at the end.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "cpu/parallel.h"

namespace nabi::cpu::rnn {

// f(rb, re, tid) over the rows [0, B); small problems run on one thread as one chunk.
template <typename F>
void for_batch_chunks(int64_t B, int64_t cost_per_row, F&& f) {
  const int64_t kMinWorkPerThread = 32768;
  int nt = max_threads();
  const int64_t work = B * (cost_per_row > 0 ? cost_per_row : 1);
  if (nt > 1 && work / kMinWorkPerThread < nt) nt = static_cast<int>(work / kMinWorkPerThread);
  if (nt > B) nt = static_cast<int>(B);
  if (nt <= 1) {
    FlushDenormals ftz;
    f(int64_t{0}, B, 0);
    return;
  }
  // Batches too small for one 6-row chunk per thread are split evenly instead.
  int64_t rows = std::max<int64_t>(6, B / (4 * int64_t(nt)) / 6 * 6);
  if ((B + rows - 1) / rows < nt) rows = (B + nt - 1) / nt;
  const int64_t chunks = (B + rows - 1) / rows;
#pragma omp parallel num_threads(nt)
  {
    FlushDenormals ftz;
    const int tid = omp_get_thread_num();
#pragma omp for schedule(dynamic, 1) nowait
    for (int64_t c = 0; c < chunks; ++c) f(c * rows, std::min(B, (c + 1) * rows), tid);
  }
}

// n uninitialised elements: the calling thread's kept buffer up to 32 MiB, else a fresh
// allocation owned by `own`. Valid until the thread's next call with the same T.
template <typename T>
T* work_buffer(size_t n, std::unique_ptr<T[]>& own) {
  constexpr size_t kKeepBytes = size_t(32) << 20;
  if (n * sizeof(T) > kKeepBytes) {
    own.reset(new T[n]);
    return own.get();
  }
  thread_local std::unique_ptr<T[]> kept;
  thread_local size_t cap = 0;
  if (n > cap) {
    kept.reset();
    kept.reset(new T[n]);
    cap = n;
  }
  return kept.get();
}

// nt parts of `size` elements each at `mem` (uninitialised); outs: where the summed parts
// go, in the parts' layout order (null entries keep their place in the layout and are skipped).
template <typename T>
class ThreadParts {
 public:
  ThreadParts(T* mem, int nt, int64_t size) : mem_(mem), size_(size), fresh_(nt, 1) {}
  // Thread tid's part; *first: not yet written (so GEMMs use beta 0, sums assign).
  T* part(int tid, bool* first) {
    *first = fresh_[tid] != 0;
    fresh_[tid] = 0;
    return mem_ + tid * size_;
  }
  // dst[i] (n_i elements each, consecutive in a part) = the sum of the used parts.
  void reduce(const std::vector<std::pair<T*, int64_t>>& outs) const {
    bool written = false;
    for (size_t t = 0; t < fresh_.size(); ++t) {
      if (fresh_[t]) continue;  // this thread got no chunk
      const T* p = mem_ + t * size_;
      for (const auto& o : outs) {
        if (o.first) {
          if (!written)
            std::memcpy(o.first, p, static_cast<size_t>(o.second) * sizeof(T));
          else
            for (int64_t j = 0; j < o.second; ++j) o.first[j] += p[j];
        }
        p += o.second;
      }
      written = true;
    }
  }

 private:
  T* mem_;
  int64_t size_;
  std::vector<char> fresh_;
};

// The BPTT weight-gradient rows [h_prev | x] (U + D values at stride HD, row bi * Tn + t)
// of batch rows [rb, re): h_prev is h0 at the first step processed (t = Tn - 1 with
// go_backwards) and the previous step's output (out, in processing order) after it.
template <typename T>
void fill_hx_rows(int64_t rb, int64_t re, int64_t Tn, int64_t U, int64_t D, int64_t HD,
                  bool go_backwards, const T* h0, const T* out, const T* x, T* hx) {
  for (int64_t bi = rb; bi < re; ++bi)
    for (int64_t s = 0; s < Tn; ++s) {
      const int64_t t = go_backwards ? Tn - 1 - s : s;
      T* row = hx + (bi * Tn + t) * HD;
      const T* hp = s == 0 ? h0 + bi * U : out + (bi * Tn + s - 1) * U;
      std::memcpy(row, hp, static_cast<size_t>(U) * sizeof(T));
      std::memcpy(row + U, x + (bi * Tn + t) * D, static_cast<size_t>(D) * sizeof(T));
    }
}

}  // namespace nabi::cpu::rnn
