// Fused SimpleRNN forward and backpropagation through time (see lstm.h).
// Forward: each batch chunk (rnn_batch.h: dynamic, multiples of 6 rows, one parallel region)
// projects its inputs in one GEMM, then per step adds h_{s-1} @ R (packed step GEMM) and
// applies bias + activation. BPTT: per step dg = (dh + dy) * act'(h), dh = dg @ R^T; then,
// while the chunk's dg is in cache, [dR; dW] = [Hprev | X]^T @ dg in ONE GEMM into the
// thread's part (uninitialised kept work memory), db its column sums, dx = dg @ W^T.
#include <algorithm>
#include <cstring>
#include <memory>
#include <type_traits>
#include <vector>

#include "cpu/bias.h"
#include "cpu/gemm.h"
#include "cpu/lstm.h"
#include "cpu/parallel.h"
#include "cpu/rnn_batch.h"
#include "cpu/rnn_cells_avx512.h"

namespace nabi::cpu {

template <typename T>
void simple_rnn_forward(const T* x, const T* h0, const T* W, const T* R, const T* b, int64_t B,
                        int64_t Tn, int64_t D, int64_t U, const RnnOpts& o, T* out, T* hT) {
  if (B <= 0 || Tn <= 0 || U <= 0) return;
  // Pre-activations by input time; with go_backwards they cannot live in `out` (by step).
  std::unique_ptr<T[]> big;
  T* pre = o.go_backwards ? rnn::work_buffer<T>(static_cast<size_t>(B * Tn * U), big) : out;
  const int64_t ld = Tn * U;
  const rnn::StepB<T> Rs(R, U, U, U, B);
  rnn::for_batch_chunks(B, Tn * (rnn::step_cost(U, 1) + 2 * D * U),
                        [&](int64_t rb, int64_t re, int) {
    const int64_t M = re - rb;
    rnn::input_projection(x + rb * Tn * D, W, pre + rb * Tn * U, M * Tn, D, U);
    for (int64_t s = 0; s < Tn; ++s) {
      const int64_t t = o.go_backwards ? Tn - 1 - s : s;
      T* Ps = pre + (rb * Tn + t) * U;
      const T* hp = s == 0 ? h0 + rb * U : out + (rb * Tn + s - 1) * U;
      Rs.run(M, hp, s == 0 ? U : ld, T(1), Ps, ld);
      for (int64_t r = 0; r < M; ++r) {
        T* p = Ps + r * ld;
        T* h = out + ((rb + r) * Tn + s) * U;
        if (b)
          for (int64_t j = 0; j < U; ++j) h[j] = p[j] + b[j];
        else if (h != p)
          std::memcpy(h, p, static_cast<size_t>(U) * sizeof(T));
        rnn::act_inplace(o.act, h, U);
      }
    }
  });
  for (int64_t bi = 0; bi < B; ++bi)
    std::memcpy(hT + bi * U, out + (bi * Tn + Tn - 1) * U, static_cast<size_t>(U) * sizeof(T));
}

template <typename T>
void simple_rnn_backward(const T* d_out, const T* d_hT, const T* x, const T* h0, const T* W,
                         const T* R, const T* out, int64_t B, int64_t Tn, int64_t D, int64_t U,
                         const RnnOpts& o, T* dx, T* dh0, T* dW, T* dR, T* db) {
  if (B <= 0 || Tn <= 0 || U <= 0) {
    std::fill(dW, dW + D * U, T(0));
    std::fill(dR, dR + U * U, T(0));
    if (db) std::fill(db, db + U, T(0));
    return;
  }
  const int64_t ld = Tn * U, HD = U + D, WS = HD * U + U;
  const int nt = max_threads();
  // dg (B, T, U), the [h_{s-1} | x_t] rows (B, T, U + D) and the per-thread [dR; dW; db]
  // parts: one uninitialised work buffer, each piece written before it is read.
  std::unique_ptr<T[]> big;
  T* dG = rnn::work_buffer<T>(static_cast<size_t>(B * Tn * (U + HD) + nt * WS), big);
  T* hx = dG + B * Tn * U;
  rnn::ThreadParts<T> parts(hx + B * Tn * HD, nt, WS);
  std::memcpy(dh0, d_hT, static_cast<size_t>(B * U) * sizeof(T));
  const bool small = B <= 4;
  std::vector<T> rt(small ? 0 : static_cast<size_t>(U * U));
  if (!small) rnn::transpose(R, U, U, rt.data());
  const rnn::StepB<T> RTs(small ? R : rt.data(), U, small ? 0 : U, U, B);
  bool direct = false;  // the single chunk wrote the outputs itself
  // Float32 tanh on AVX-512: one fused pass per row, which also sums the bias gradient (float
  // per step, double over steps; no column-sum pass over dg afterwards).
  const bool fused = std::is_same_v<T, float> && o.act == rnn::RnnAct::Tanh &&
                     rnn::simd_level() == 2;
  const bool fuse_db = fused && db != nullptr;
  rnn::for_batch_chunks(B, Tn * (rnn::step_cost(U, 1) + 6 * D * U + 2 * U * U),
                        [&](int64_t rb, int64_t re, int tid) {
    const int64_t M = re - rb;
    std::vector<float> dbs(fuse_db ? static_cast<size_t>(U) : 0);
    std::vector<double> dbd(fuse_db ? static_cast<size_t>(U) : 0);
    for (int64_t s = Tn - 1; s >= 0; --s) {
      const int64_t t = o.go_backwards ? Tn - 1 - s : s;
      for (int64_t r = 0; r < M; ++r) {
        const int64_t bi = rb + r;
        const T* dh = dh0 + bi * U;
        const T* dy = d_out + (bi * Tn + s) * U;
        T* dg = dG + (bi * Tn + t) * U;
        if constexpr (std::is_same_v<T, float>) {
          if (fused) {
            rnn::avx512::simple_rnn_tanh_backward(U, dh, dy, out + (bi * Tn + s) * U, dg,
                                                  fuse_db ? dbs.data() : nullptr);
            continue;
          }
        }
        for (int64_t j = 0; j < U; ++j) dg[j] = dh[j] + dy[j];
        rnn::act_grad_mul(o.act, out + (bi * Tn + s) * U, dg, U);
      }
      if (fuse_db)
        for (int64_t j = 0; j < U; ++j) {
          dbd[j] += dbs[j];
          dbs[j] = 0.0f;
        }
      if (small)
        rnn::step_gemm_nt_small(M, U, U, dG + (rb * Tn + t) * U, ld, R, U, dh0 + rb * U, U);
      else
        RTs.run(M, dG + (rb * Tn + t) * U, ld, T(0), dh0 + rb * U, U);
    }
    // This chunk's share of the weight gradients, while its dg is still in cache.
    const int64_t rows = M * Tn;
    const T* dGb = dG + rb * Tn * U;
    rnn::fill_hx_rows(rb, re, Tn, U, D, HD, o.go_backwards, h0, out, x, hx);
    const T* hxb = hx + rb * Tn * HD;
    bool first = true;
    T* pdb = db;
    if (rb == 0 && re == B && rows < 256) {
      // The only chunk, and short (stateful batch-1 steps): straight into the outputs.
      direct = true;
      gemm(true, false, U, U, rows, T(1), hxb, HD, dGb, U, T(0), dR, U);
      if (D > 0) gemm(true, false, D, U, rows, T(1), hxb + U, HD, dGb, U, T(0), dW, U);
    } else {
      T* part = parts.part(tid, &first);
      gemm(true, false, HD, U, rows, T(1), hxb, HD, dGb, U, first ? T(0) : T(1), part, U);
      pdb = db ? part + HD * U : nullptr;
    }
    if (pdb) {
      std::vector<T> dbc(static_cast<size_t>(U));
      if (fuse_db)
        for (int64_t j = 0; j < U; ++j) dbc[j] = static_cast<T>(dbd[j]);
      else
        bias_grad(dGb, dbc.data(), rows, U);
      for (int64_t j = 0; j < U; ++j) pdb[j] = first ? dbc[j] : pdb[j] + dbc[j];
    }
    if (dx)
      rnn::input_grads(x + rb * Tn * D, W, dGb, U, rows, D, U, static_cast<T*>(nullptr),
                       static_cast<T*>(nullptr), dx + rb * Tn * D);
  });
  if (direct) return;
  parts.reduce({{dR, U * U}, {dW, D * U}, {db, U}});
}

template void simple_rnn_forward<float>(const float*, const float*, const float*, const float*,
                                        const float*, int64_t, int64_t, int64_t, int64_t,
                                        const RnnOpts&, float*, float*);
template void simple_rnn_forward<double>(const double*, const double*, const double*,
                                         const double*, const double*, int64_t, int64_t, int64_t,
                                         int64_t, const RnnOpts&, double*, double*);
template void simple_rnn_backward<float>(const float*, const float*, const float*, const float*,
                                         const float*, const float*, const float*, int64_t,
                                         int64_t, int64_t, int64_t, const RnnOpts&, float*,
                                         float*, float*, float*, float*);
template void simple_rnn_backward<double>(const double*, const double*, const double*,
                                          const double*, const double*, const double*,
                                          const double*, int64_t, int64_t, int64_t, int64_t,
                                          const RnnOpts&, double*, double*, double*, double*,
                                          double*);

}  // namespace nabi::cpu
