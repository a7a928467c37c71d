// Fused LSTM forward and backpropagation through time (see lstm.h), plus the helpers the
// GRU and SimpleRNN kernels share (input projection, weight gradients, Hprev).
#include "cpu/lstm.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <type_traits>
#include <vector>

#include "cpu/bias.h"
#include "cpu/gemm.h"
#include "cpu/parallel.h"
#include "cpu/rnn_batch.h"
#include "cpu/rowops.h"

namespace nabi::cpu {

namespace rnn {

template <typename T>
void input_projection(const T* x, const T* W, T* G, int64_t BT, int64_t D, int64_t N) {
  if (BT <= 0 || N <= 0) return;
  if (D > 0)
    gemm(false, false, BT, N, D, T(1), x, D, W, N, T(0), G, N);
  else
    std::fill(G, G + BT * N, T(0));
}

template <typename T>
void input_grads(const T* x, const T* W, const T* dG, int64_t ldg, int64_t BT, int64_t D,
                 int64_t N, T* dW, T* db, T* dx) {
  if (dW && D > 0 && N > 0) gemm(true, false, D, N, BT, T(1), x, D, dG, ldg, T(0), dW, N);
  if (db) {
    if (ldg == N) {
      bias_grad(dG, db, BT, N);
    } else {
      std::vector<double> acc(static_cast<size_t>(N), 0.0);
      for (int64_t r = 0; r < BT; ++r)
        for (int64_t j = 0; j < N; ++j) acc[j] += dG[r * ldg + j];
      for (int64_t j = 0; j < N; ++j) db[j] = static_cast<T>(acc[j]);
    }
  }
  if (dx && D > 0) {
    if (N > 0)
      gemm(false, true, BT, D, N, T(1), dG, ldg, W, N, T(0), dx, D);
    else
      std::fill(dx, dx + BT * D, T(0));
  }
}

template <typename T>
void build_hprev(const T* h0, const T* out, int64_t B, int64_t Tn, int64_t U, bool go_backwards,
                 T* hprev, int64_t b0, int64_t b1) {
  const size_t row = static_cast<size_t>(U) * sizeof(T);
  if (b1 < 0) b1 = B;
  for (int64_t b = b0; b < b1; ++b)
    for (int64_t s = 0; s < Tn; ++s) {
      const int64_t t = go_backwards ? Tn - 1 - s : s;
      const T* src = s == 0 ? h0 + b * U : out + (b * Tn + s - 1) * U;
      std::memcpy(hprev + (b * Tn + t) * U, src, row);
    }
}

template <typename T>
void step_gemm(int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb,
               T beta, T* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (M > 4) {
    if (K > 0)
      gemm(false, false, M, N, K, T(1), A, lda, B, ldb, beta, C, ldc);
    else if (beta == T(0))
      for (int64_t m = 0; m < M; ++m) std::fill(C + m * ldc, C + m * ldc + N, T(0));
    return;
  }
  for (int64_t m = 0; m < M; ++m) {
    T* c = C + m * ldc;
    const T* a = A + m * lda;
    if (beta == T(0))
      std::fill(c, c + N, T(0));
    else if (beta != T(1))
      for (int64_t j = 0; j < N; ++j) c[j] *= beta;
    int64_t k = 0;
    for (; k + 4 <= K; k += 4) {  // four rows of B per pass over c
      const T a0 = a[k], a1 = a[k + 1], a2 = a[k + 2], a3 = a[k + 3];
      const T *b0 = B + k * ldb, *b1 = b0 + ldb, *b2 = b1 + ldb, *b3 = b2 + ldb;
      for (int64_t j = 0; j < N; ++j) c[j] += (a0 * b0[j] + a1 * b1[j]) + (a2 * b2[j] + a3 * b3[j]);
    }
    for (; k < K; ++k) {
      const T ak = a[k];
      const T* b = B + k * ldb;
      for (int64_t j = 0; j < N; ++j) c[j] += ak * b[j];
    }
  }
}

template <typename T>
void step_gemm_nt_small(int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* Bt,
                        int64_t ldb, T* C, int64_t ldc) {
  for (int64_t m = 0; m < M; ++m)
    for (int64_t j = 0; j < N; ++j) C[m * ldc + j] = rowops::row_dot(A + m * lda, Bt + j * ldb, K);
}
template void step_gemm_nt_small<float>(int64_t, int64_t, int64_t, const float*, int64_t,
                                        const float*, int64_t, float*, int64_t);
template void step_gemm_nt_small<double>(int64_t, int64_t, int64_t, const double*, int64_t,
                                         const double*, int64_t, double*, int64_t);

template <typename T>
void transpose(const T* in, int64_t rows, int64_t cols, T* out) {
  const int64_t bs = 32;
  for (int64_t i0 = 0; i0 < rows; i0 += bs)
    for (int64_t j0 = 0; j0 < cols; j0 += bs)
      for (int64_t i = i0; i < std::min(rows, i0 + bs); ++i)
        for (int64_t j = j0; j < std::min(cols, j0 + bs); ++j) out[j * rows + i] = in[i * cols + j];
}

template void step_gemm<float>(int64_t, int64_t, int64_t, const float*, int64_t, const float*,
                               int64_t, float, float*, int64_t);
template void step_gemm<double>(int64_t, int64_t, int64_t, const double*, int64_t, const double*,
                                int64_t, double, double*, int64_t);
template void transpose<float>(const float*, int64_t, int64_t, float*);
template void transpose<double>(const double*, int64_t, int64_t, double*);

template void input_projection<float>(const float*, const float*, float*, int64_t, int64_t,
                                      int64_t);
template void input_projection<double>(const double*, const double*, double*, int64_t, int64_t,
                                       int64_t);
template void input_grads<float>(const float*, const float*, const float*, int64_t, int64_t,
                                 int64_t, int64_t, float*, float*, float*);
template void input_grads<double>(const double*, const double*, const double*, int64_t, int64_t,
                                  int64_t, int64_t, double*, double*, double*);
template void build_hprev<float>(const float*, const float*, int64_t, int64_t, int64_t, bool,
                                 float*, int64_t, int64_t);
template void build_hprev<double>(const double*, const double*, int64_t, int64_t, int64_t, bool,
                                  double*, int64_t, int64_t);

}  // namespace rnn

// Batch chunks handed out dynamically in one parallel region, and the kept uninitialised
// work buffer: rnn_batch.h (shared with gru.cpp and simple_rnn.cpp).
using rnn::for_batch_chunks;
using rnn::work_buffer;

template <typename T>
void lstm_forward(const T* x, const T* h0, const T* c0, const T* W, const T* R, const T* b,
                  int64_t B, int64_t Tn, int64_t D, int64_t U, const RnnOpts& o, T* out, T* hT,
                  T* cT, T* gates, T* cells, T* cact) {
  if (B <= 0 || Tn <= 0 || U <= 0) return;
  const int64_t G = 4 * U, ldg = Tn * G;
  // Without saved cells, each thread keeps its rows' c and act(c) in a scratch block with
  // a time stride of 0 (the state is updated in place).
  const bool saved = cells != nullptr;
  std::vector<T> scratch;
  if (!saved) scratch.resize(static_cast<size_t>(2 * B * U));
  T* cbuf = saved ? cells : scratch.data();
  T* abuf = saved ? cact : scratch.data() + B * U;
  const int64_t cb_stride = saved ? Tn * U : U, cs_stride = saved ? U : 0;

  const rnn::StepB<T> Rs(R, G, U, G, B);
  // Float32 with the default activations on AVX-512: bias, gates and state in one pass.
  const bool fused = std::is_same_v<T, float> && o.act == rnn::RnnAct::Tanh &&
                     o.rec_act == rnn::RnnAct::Sigmoid && rnn::simd_level() == 2;
  // One region for the whole sequence: each thread projects its own batch rows' inputs,
  // then runs every step on them.
  for_batch_chunks(B, Tn * (rnn::step_cost(U, 4) + 2 * D * G), [&](int64_t rb, int64_t re, int) {
    const int64_t M = re - rb;
    rnn::input_projection(x + rb * Tn * D, W, gates + rb * Tn * G, M * Tn, D, G);
    for (int64_t s = 0; s < Tn; ++s) {
      const int64_t t = o.go_backwards ? Tn - 1 - s : s;
      T* Gs = gates + (rb * Tn + t) * G;
      const T* hp = s == 0 ? h0 + rb * U : out + (rb * Tn + s - 1) * U;
      const int64_t ldh = s == 0 ? U : Tn * U;
      Rs.run(M, hp, ldh, T(1), Gs, ldg);
      for (int64_t r = 0; r < M; ++r) {
        const int64_t bi = rb + r;
        T* g = Gs + r * ldg;
        const T* cp = s == 0 ? c0 + bi * U : cbuf + bi * cb_stride + (s - 1) * cs_stride;
        T* c = cbuf + bi * cb_stride + s * cs_stride;
        T* a = abuf + bi * cb_stride + s * cs_stride;
        T* h = out + (bi * Tn + s) * U;
        if constexpr (std::is_same_v<T, float>) {
          if (fused) {
            rnn::avx512::lstm_cell_forward(U, g, b, cp, c, a, h);
            continue;
          }
        }
        if (b)
          for (int64_t j = 0; j < G; ++j) g[j] += b[j];
        T* gi = g;
        T* gf = g + U;
        T* gc = g + 2 * U;
        T* go = g + 3 * U;
        rnn::act_inplace(o.rec_act, gi, 2 * U);
        rnn::act_inplace(o.act, gc, U);
        rnn::act_inplace(o.rec_act, go, U);
        for (int64_t j = 0; j < U; ++j) c[j] = gf[j] * cp[j] + gi[j] * gc[j];
        std::memcpy(a, c, static_cast<size_t>(U) * sizeof(T));
        rnn::act_inplace(o.act, a, U);
        for (int64_t j = 0; j < U; ++j) h[j] = go[j] * a[j];
      }
    }
  });
  for (int64_t bi = 0; bi < B; ++bi) {
    std::memcpy(hT + bi * U, out + (bi * Tn + Tn - 1) * U, static_cast<size_t>(U) * sizeof(T));
    std::memcpy(cT + bi * U, cbuf + bi * cb_stride + (Tn - 1) * cs_stride,
                static_cast<size_t>(U) * sizeof(T));
  }
}

namespace {
// One row of the LSTM cell backward for the default activations (tanh, sigmoid), fused into
// a single vectorisable pass. dh is the carried gradient (its new value comes from the
// GEMM afterwards); dc is updated in place to dc_{s-1}.
template <typename T>
inline void lstm_cell_backward_tanh_sigmoid(int64_t U, const T* __restrict dh,
                                            const T* __restrict dy, T* __restrict dc,
                                            const T* __restrict gi, const T* __restrict gf,
                                            const T* __restrict gc, const T* __restrict go,
                                            const T* __restrict a, const T* __restrict cp,
                                            T* __restrict dg) {
  T* __restrict di = dg;
  T* __restrict df = dg + U;
  T* __restrict dcc = dg + 2 * U;
  T* __restrict dob = dg + 3 * U;
  for (int64_t j = 0; j < U; ++j) {
    const T h = dh[j] + dy[j];
    const T av = a[j], ov = go[j], iv = gi[j], fv = gf[j], gv = gc[j];
    const T dcv = dc[j] + h * ov * (T(1) - av * av);
    di[j] = dcv * gv * (iv * (T(1) - iv));
    df[j] = dcv * cp[j] * (fv * (T(1) - fv));
    dcc[j] = dcv * iv * (T(1) - gv * gv);
    dob[j] = h * av * (ov * (T(1) - ov));
    dc[j] = dcv * fv;
  }
}
}  // namespace

template <typename T>
void lstm_backward(const T* d_out, const T* d_hT, const T* d_cT, const T* x, const T* h0,
                   const T* c0, const T* W, const T* R, const T* out, const T* gates,
                   const T* cells, const T* cact, int64_t B, int64_t Tn, int64_t D, int64_t U,
                   const RnnOpts& o, T* dx, T* dh0, T* dc0, T* dW, T* dR, T* db) {
  const int64_t G = 4 * U, ldg = Tn * G;
  if (B <= 0 || Tn <= 0 || U <= 0) {
    if (dW) std::fill(dW, dW + D * G, T(0));
    if (dR) std::fill(dR, dR + U * G, T(0));
    if (db) std::fill(db, db + G, T(0));
    return;
  }
  // dgates (B, T, 4U), the [Hprev | X] rows (B, T, U + D) and the per-thread weight-gradient
  // parts (below): one work buffer, each piece fully written before it is read (no
  // zero-filling), kept by the calling thread for the next call.
  const int64_t HD = U + D, WS = HD * G + G;
  const int nt = max_threads();
  std::unique_ptr<T[]> big;
  T* dG = work_buffer<T>(static_cast<size_t>(B * Tn * (G + HD) + nt * WS), big);
  T* hx = dG + B * Tn * G;
  T* parts = hx + B * Tn * HD;
  // dh0 / dc0 double as the running dh / dc of each thread's rows.
  std::memcpy(dh0, d_hT, static_cast<size_t>(B * U) * sizeof(T));
  std::memcpy(dc0, d_cT, static_cast<size_t>(B * U) * sizeof(T));
  // R^T (4U, U) for the per-step NN GEMM; batches of <= 4 use dot products on R instead.
  const bool small = B <= 4;
  std::vector<T> rt(small ? 0 : static_cast<size_t>(G * U));
  if (!small) rnn::transpose(R, U, G, rt.data());
  const T* RT = rt.data();
  const rnn::StepB<T> RTs(small ? R : RT, U, small ? 0 : G, U, B);
  const bool default_acts = o.act == rnn::RnnAct::Tanh && o.rec_act == rnn::RnnAct::Sigmoid;
  const bool fused512 = std::is_same_v<T, float> && default_acts && rnn::simd_level() == 2;
  // Rows (b, t) of [h_{s-1} | x_t] (by input time), so dR and dW come from ONE GEMM
  // [Hprev X]^T @ dgates (dgates packed once, and M = U + D fills the micro-kernel rows).
  // Per-thread weight gradients [dR; dW] (U + D, 4U) then db (4U): written by a thread's
  // first chunk (GEMM beta 0), accumulated by its next ones (beta 1), summed at the end.
  std::vector<char> fresh(static_cast<size_t>(nt), 1);  // a thread's part not yet written
  bool direct = false;  // the single chunk wrote the outputs itself
  for_batch_chunks(B, Tn * (rnn::step_cost(U, 4) + 6 * D * G + 2 * U * G),
                   [&](int64_t rb, int64_t re, int tid) {
    const int64_t M = re - rb;
    std::vector<T> tmp(static_cast<size_t>(U));
    // Fused path: the bias gradient is summed in the cell pass (float per step, double over
    // steps) instead of a column-sum pass over the whole dgates afterwards.
    const bool fuse_db = fused512 && db != nullptr;
    std::vector<float> dbs(fuse_db ? static_cast<size_t>(G) : 0);
    std::vector<double> dbd(fuse_db ? static_cast<size_t>(G) : 0);
    for (int64_t s = Tn - 1; s >= 0; --s) {
      const int64_t t = o.go_backwards ? Tn - 1 - s : s;
      for (int64_t r = 0; r < M; ++r) {
        const int64_t bi = rb + r;
        T* dh = dh0 + bi * U;
        T* dc = dc0 + bi * U;
        const T* dy = d_out + (bi * Tn + s) * U;
        const T* g = gates + (bi * Tn + t) * G;
        const T *gi = g, *gf = g + U, *gc = g + 2 * U, *go = g + 3 * U;
        const T* a = cact + (bi * Tn + s) * U;
        const T* cp = s == 0 ? c0 + bi * U : cells + (bi * Tn + s - 1) * U;
        T* dg = dG + (bi * Tn + t) * G;
        if constexpr (std::is_same_v<T, float>) {
          if (fused512) {
            rnn::avx512::lstm_cell_backward(U, dh, dy, dc, g, a, cp, dg,
                                            fuse_db ? dbs.data() : nullptr);
            continue;
          }
        }
        if (default_acts) {
          lstm_cell_backward_tanh_sigmoid(U, dh, dy, dc, gi, gf, gc, go, a, cp, dg);
          continue;
        }
        for (int64_t j = 0; j < U; ++j) dh[j] += dy[j];
        T *di = dg, *df = dg + U, *dcc = dg + 2 * U, *dob = dg + 3 * U;
        // dc += dh * o * act'(c)
        T* t1 = tmp.data();
        for (int64_t j = 0; j < U; ++j) t1[j] = dh[j] * go[j];
        rnn::act_grad_mul(o.act, a, t1, U);
        for (int64_t j = 0; j < U; ++j) {
          dc[j] += t1[j];
          dob[j] = dh[j] * a[j];
          di[j] = dc[j] * gc[j];
          dcc[j] = dc[j] * gi[j];
          df[j] = dc[j] * cp[j];
          dc[j] *= gf[j];
        }
        rnn::act_grad_mul(o.rec_act, gi, di, U);
        rnn::act_grad_mul(o.rec_act, gf, df, U);
        rnn::act_grad_mul(o.act, gc, dcc, U);
        rnn::act_grad_mul(o.rec_act, go, dob, U);
      }
      if (fuse_db)
        for (int64_t j = 0; j < G; ++j) {
          dbd[j] += dbs[j];
          dbs[j] = 0.0f;
        }
      // dh_{s-1} = dgates[:, t] @ R^T
      if (small)
        rnn::step_gemm_nt_small(M, U, G, dG + (rb * Tn + t) * G, ldg, R, G, dh0 + rb * U, U);
      else
        RTs.run(M, dG + (rb * Tn + t) * G, ldg, T(0), dh0 + rb * U, U);
    }
    // This chunk's share of the weight gradients, while its dgates are still in cache.
    const bool first = fresh[tid] != 0;
    fresh[tid] = 0;
    T* part = parts + tid * WS;
    const int64_t rows = M * Tn;
    const T* dGb = dG + rb * Tn * G;
    rnn::fill_hx_rows(rb, re, Tn, U, D, HD, o.go_backwards, h0, out, x, hx);
    const T* hxb = hx + rb * Tn * HD;
    if (rb == 0 && re == B && rows < 256) {
      // The only chunk, and short (stateful batch-1 steps): straight into the outputs with
      // two GEMMs; merging would save little packing but cost a pass over the parts.
      direct = true;
      gemm(true, false, U, G, rows, T(1), hxb, HD, dGb, G, T(0), dR, G);
      if (dW && D > 0) gemm(true, false, D, G, rows, T(1), hxb + U, HD, dGb, G, T(0), dW, G);
    } else {
      // [dR; dW] (U + D, 4U): R's rows first, then W's.
      gemm(true, false, HD, G, rows, T(1), hxb, HD, dGb, G, first ? T(0) : T(1), part, G);
    }
    if (db) {
      T* pdb = direct ? db : part + HD * G;
      if (fuse_db) {
        for (int64_t j = 0; j < G; ++j)
          pdb[j] = first ? static_cast<T>(dbd[j]) : pdb[j] + static_cast<T>(dbd[j]);
      } else {
        std::vector<T> dbc(static_cast<size_t>(G));
        bias_grad(dGb, dbc.data(), rows, G);
        for (int64_t j = 0; j < G; ++j) pdb[j] = first ? dbc[j] : pdb[j] + dbc[j];
      }
    }
    if (dx)
      rnn::input_grads(x + rb * Tn * D, W, dGb, G, rows, D, G, static_cast<T*>(nullptr),
                       static_cast<T*>(nullptr), dx + rb * Tn * D);
  });
  if (direct) return;
  bool written = false;  // the first used part is copied, the others added
  for (int t = 0; t < nt; ++t) {
    if (fresh[t]) continue;  // this thread got no chunk
    const T* p = parts + t * WS;
    auto put = [written](T* dst, const T* src, int64_t n) {
      if (!written)
        std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(T));
      else
        for (int64_t j = 0; j < n; ++j) dst[j] += src[j];
    };
    put(dR, p, U * G);
    if (dW) put(dW, p + U * G, D * G);
    if (db) put(db, p + HD * G, G);
    written = true;
  }
}

template void lstm_forward<float>(const float*, const float*, const float*, const float*,
                                  const float*, const float*, int64_t, int64_t, int64_t, int64_t,
                                  const RnnOpts&, float*, float*, float*, float*, float*, float*);
template void lstm_forward<double>(const double*, const double*, const double*, const double*,
                                   const double*, const double*, int64_t, int64_t, int64_t,
                                   int64_t, const RnnOpts&, double*, double*, double*, double*,
                                   double*, double*);
template void lstm_backward<float>(const float*, const float*, const float*, const float*,
                                   const float*, const float*, const float*, const float*,
                                   const float*, const float*, const float*, const float*,
                                   int64_t, int64_t, int64_t, int64_t, const RnnOpts&, float*,
                                   float*, float*, float*, float*, float*);
template void lstm_backward<double>(const double*, const double*, const double*, const double*,
                                    const double*, const double*, const double*, const double*,
                                    const double*, const double*, const double*, const double*,
                                    int64_t, int64_t, int64_t, int64_t, const RnnOpts&, double*,
                                    double*, double*, double*, double*, double*);

}  // namespace nabi::cpu
