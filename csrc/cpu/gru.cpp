// Fused GRU forward and backpropagation through time, both Keras variants (see lstm.h).
// Forward: each batch chunk (rnn_batch.h: dynamic, multiples of 6 rows, one parallel region)
// projects its inputs in one GEMM, then per step runs the recurrent GEMM(s) on the packed R
// and the gate pass. BPTT: per step the pointwise gate gradients and dh = dgates @ R^T;
// then, while the chunk's gradients are in cache, its dW / dR / db GEMMs write (first chunk
// of a thread, beta 0) or accumulate (beta 1) into the thread's part of an uninitialised
// work buffer kept by the calling thread, summed once at the end.
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
void gru_forward(const T* x, const T* h0, const T* W, const T* R, const T* b, int64_t B,
                 int64_t Tn, int64_t D, int64_t U, const RnnOpts& o, T* out, T* hT, T* gates,
                 T* rh) {
  if (B <= 0 || Tn <= 0 || U <= 0) return;
  const int64_t G = 3 * U, ldg = Tn * G;
  const T* b_in = b;
  const T* b_rec = (b && o.reset_after) ? b + G : nullptr;
  const bool ra = o.reset_after;
  const rnn::StepB<T> Rall(R, G, ra ? U : 0, G, B), Rzr(R, G, ra ? 0 : U, 2 * U, B),
      Rh(R + 2 * U, G, ra ? 0 : U, U, B);
  // Float32, reset_after, default activations on AVX-512: one fused pass per row.
  const bool fused = std::is_same_v<T, float> && ra && o.act == rnn::RnnAct::Tanh &&
                     o.rec_act == rnn::RnnAct::Sigmoid && rnn::simd_level() == 2;
  rnn::for_batch_chunks(B, Tn * (rnn::step_cost(U, 3) + 2 * D * G),
                        [&](int64_t rb, int64_t re, int) {
    const int64_t M = re - rb;
    rnn::input_projection(x + rb * Tn * D, W, gates + rb * Tn * G, M * Tn, D, G);
    std::vector<T> hr_buf(static_cast<size_t>(M * G));
    T* HR = hr_buf.data();
    for (int64_t s = 0; s < Tn; ++s) {
      const int64_t t = o.go_backwards ? Tn - 1 - s : s;
      T* Gs = gates + (rb * Tn + t) * G;
      const T* hp0 = s == 0 ? h0 + rb * U : out + (rb * Tn + s - 1) * U;
      const int64_t ldh = s == 0 ? U : Tn * U;
      if (o.reset_after) {
        Rall.run(M, hp0, ldh, T(0), HR, G);
        if constexpr (std::is_same_v<T, float>) {
          if (fused) {
            for (int64_t r = 0; r < M; ++r)
              rnn::avx512::gru_cell_forward(U, Gs + r * ldg, HR + r * G, b_in, b_rec,
                                            hp0 + r * ldh, rh + ((rb + r) * Tn + t) * U,
                                            out + ((rb + r) * Tn + s) * U);
            continue;
          }
        }
        for (int64_t r = 0; r < M; ++r) {
          T* g = Gs + r * ldg;
          T* hr = HR + r * G;
          if (b_in)
            for (int64_t j = 0; j < G; ++j) g[j] += b_in[j];
          if (b_rec)
            for (int64_t j = 0; j < G; ++j) hr[j] += b_rec[j];
          for (int64_t j = 0; j < 2 * U; ++j) g[j] += hr[j];
          rnn::act_inplace(o.rec_act, g, 2 * U);
          const T* rr = g + U;
          T* n = g + 2 * U;
          T* rhs = rh + ((rb + r) * Tn + t) * U;
          for (int64_t j = 0; j < U; ++j) {
            rhs[j] = hr[2 * U + j];
            n[j] += rr[j] * rhs[j];
          }
          rnn::act_inplace(o.act, n, U);
        }
      } else {
        Rzr.run(M, hp0, ldh, T(0), HR, G);
        for (int64_t r = 0; r < M; ++r) {
          T* g = Gs + r * ldg;
          const T* hp = hp0 + r * ldh;
          const T* hr = HR + r * G;
          if (b_in)
            for (int64_t j = 0; j < G; ++j) g[j] += b_in[j];
          for (int64_t j = 0; j < 2 * U; ++j) g[j] += hr[j];
          rnn::act_inplace(o.rec_act, g, 2 * U);
          const T* rr = g + U;
          T* rhs = rh + ((rb + r) * Tn + t) * U;
          for (int64_t j = 0; j < U; ++j) rhs[j] = rr[j] * hp[j];
        }
        // n pre-activation += (r * h) @ R_h
        Rh.run(M, rh + (rb * Tn + t) * U, Tn * U, T(1), Gs + 2 * U, ldg);
        for (int64_t r = 0; r < M; ++r) rnn::act_inplace(o.act, Gs + r * ldg + 2 * U, U);
      }
      for (int64_t r = 0; r < M; ++r) {
        const T* g = Gs + r * ldg;
        const T *z = g, *n = g + 2 * U;
        const T* hp = hp0 + r * ldh;
        T* h = out + ((rb + r) * Tn + s) * U;
        for (int64_t j = 0; j < U; ++j) h[j] = z[j] * hp[j] + (T(1) - z[j]) * n[j];
      }
    }
  });
  for (int64_t bi = 0; bi < B; ++bi)
    std::memcpy(hT + bi * U, out + (bi * Tn + Tn - 1) * U, static_cast<size_t>(U) * sizeof(T));
}

template <typename T>
void gru_backward(const T* d_out, const T* d_hT, const T* x, const T* h0, const T* W, const T* R,
                  const T* out, const T* gates, const T* rh, int64_t B, int64_t Tn, int64_t D,
                  int64_t U, const RnnOpts& o, T* dx, T* dh0, T* dW, T* dR, T* db) {
  const int64_t G = 3 * U, ldg = Tn * G;
  const int64_t nb = o.reset_after ? 2 * G : G;
  if (B <= 0 || Tn <= 0 || U <= 0) {
    std::fill(dW, dW + D * G, T(0));
    std::fill(dR, dR + U * G, T(0));
    if (db) std::fill(db, db + nb, T(0));
    return;
  }
  // dGx: gradients of the input-side pre-activations [z, r, n] (for dW, dx, input bias).
  // reset_after: dGr holds the recurrent-side ones [z, r, r * da_n] (for dR, dh, rec bias).
  // dGx, dGr, Hprev (B, T, U) and the per-thread [dW; dR; db] parts: one uninitialised
  // work buffer, each piece written before it is read.
  const int nt = max_threads();
  const int64_t BTG = B * Tn * G, WS = D * G + U * G + nb;
  std::unique_ptr<T[]> big;
  T* dGx = rnn::work_buffer<T>(
      static_cast<size_t>(BTG * (o.reset_after ? 2 : 1) + B * Tn * U + nt * WS), big);
  T* dGr = o.reset_after ? dGx + BTG : nullptr;
  T* hprev = dGx + BTG * (o.reset_after ? 2 : 1);
  rnn::ThreadParts<T> parts(hprev + B * Tn * U, nt, WS);
  std::memcpy(dh0, d_hT, static_cast<size_t>(B * U) * sizeof(T));
  std::vector<T> rt(static_cast<size_t>(G * U));  // R^T (3U, U)
  rnn::transpose(R, U, G, rt.data());
  const T* RT = rt.data();
  const bool ra = o.reset_after;
  const rnn::StepB<T> RTall(RT, U, ra ? G : 0, U, B), RThT(RT + 2 * U * U, U, ra ? 0 : U, U, B),
      RTzr(RT, U, ra ? 0 : 2 * U, U, B);
  // Float32, reset_after, default activations on AVX-512: one fused pass per row, which also
  // sums the bias gradient (float per step, double over steps; no column sums afterwards).
  const bool fused = std::is_same_v<T, float> && ra && o.act == rnn::RnnAct::Tanh &&
                     o.rec_act == rnn::RnnAct::Sigmoid && rnn::simd_level() == 2;
  const bool fuse_db = fused && db != nullptr;
  rnn::for_batch_chunks(B, Tn * (rnn::step_cost(U, 3) + 6 * D * G + 2 * U * G),
                        [&](int64_t rb, int64_t re, int tid) {
    const int64_t M = re - rb;
    std::vector<T> drh_buf(o.reset_after ? 0 : static_cast<size_t>(M * U));
    // [input bias (3U); recurrent n part (U)]: this step's sums, and all steps'.
    std::vector<float> dbs(fuse_db ? static_cast<size_t>(4 * U) : 0);
    std::vector<double> dbd(fuse_db ? static_cast<size_t>(4 * U) : 0);
    for (int64_t s = Tn - 1; s >= 0; --s) {
      const int64_t t = o.go_backwards ? Tn - 1 - s : s;
      for (int64_t r = 0; r < M; ++r) {
        const int64_t bi = rb + r;
        T* dh = dh0 + bi * U;
        const T* dy = d_out + (bi * Tn + s) * U;
        const T* g = gates + (bi * Tn + t) * G;
        const T *z = g, *rr = g + U, *n = g + 2 * U;
        const T* hp = s == 0 ? h0 + bi * U : out + (bi * Tn + s - 1) * U;
        const T* rhs = rh + (bi * Tn + t) * U;
        T* dx_ = dGx + (bi * Tn + t) * G;
        if constexpr (std::is_same_v<T, float>) {
          if (fused) {
            rnn::avx512::gru_cell_backward(U, dh, dy, g, hp, rhs, dx_, dGr + (bi * Tn + t) * G,
                                           fuse_db ? dbs.data() : nullptr,
                                           fuse_db ? dbs.data() + G : nullptr);
            continue;
          }
        }
        T *dz = dx_, *dr = dx_ + U, *dn = dx_ + 2 * U;
        for (int64_t j = 0; j < U; ++j) {
          const T d = dh[j] + dy[j];
          dz[j] = d * (hp[j] - n[j]);
          dn[j] = d * (T(1) - z[j]);
          dh[j] = d * z[j];
        }
        rnn::act_grad_mul(o.rec_act, z, dz, U);
        rnn::act_grad_mul(o.act, n, dn, U);
        if (o.reset_after) {
          for (int64_t j = 0; j < U; ++j) dr[j] = dn[j] * rhs[j];
          rnn::act_grad_mul(o.rec_act, rr, dr, U);
          T* dq = dGr + (bi * Tn + t) * G;
          std::memcpy(dq, dx_, static_cast<size_t>(2 * U) * sizeof(T));
          for (int64_t j = 0; j < U; ++j) dq[2 * U + j] = dn[j] * rr[j];
        }
      }
      if (fuse_db)
        for (int64_t j = 0; j < 4 * U; ++j) {
          dbd[j] += dbs[j];
          dbs[j] = 0.0f;
        }
      if (o.reset_after) {
        RTall.run(M, dGr + (rb * Tn + t) * G, ldg, T(1), dh0 + rb * U, U);
      } else {
        T* drh = drh_buf.data();
        // d(r*h) = da_n @ R_h^T
        RThT.run(M, dGx + (rb * Tn + t) * G + 2 * U, ldg, T(0), drh, U);
        for (int64_t r = 0; r < M; ++r) {
          const int64_t bi = rb + r;
          T* dh = dh0 + bi * U;
          const T* g = gates + (bi * Tn + t) * G;
          const T* rr = g + U;
          const T* hp = s == 0 ? h0 + bi * U : out + (bi * Tn + s - 1) * U;
          T* dr = dGx + (bi * Tn + t) * G + U;
          const T* d = drh + r * U;
          for (int64_t j = 0; j < U; ++j) {
            dr[j] = d[j] * hp[j];
            dh[j] += d[j] * rr[j];
          }
          rnn::act_grad_mul(o.rec_act, rr, dr, U);
        }
        RTzr.run(M, dGx + (rb * Tn + t) * G, ldg, T(1), dh0 + rb * U, U);
      }
    }
    // This chunk's share of the weight gradients, while its gradients are still in cache.
    bool first = true;
    T* part = parts.part(tid, &first);
    const T beta = first ? T(0) : T(1);
    const int64_t rows = M * Tn, off = rb * Tn;
    T* pdW = part;
    T* pdR = part + D * G;
    rnn::build_hprev(h0, out, B, Tn, U, o.go_backwards, hprev, rb, re);
    const T* hp = hprev + off * U;
    if (o.reset_after) {
      gemm(true, false, U, G, rows, T(1), hp, U, dGr + off * G, G, beta, pdR, G);
    } else {
      gemm(true, false, U, 2 * U, rows, T(1), hp, U, dGx + off * G, G, beta, pdR, G);
      gemm(true, false, U, U, rows, T(1), rh + off * U, U, dGx + off * G + 2 * U, G, beta,
           pdR + 2 * U, G);
    }
    if (D > 0) gemm(true, false, D, G, rows, T(1), x + off * D, D, dGx + off * G, G, beta, pdW, G);
    if (db) {
      // [input bias; recurrent bias (reset_after)] column sums of dGx (and dGr).
      T* pdb = part + D * G + U * G;
      std::vector<T> dbc(static_cast<size_t>(nb));
      if (fuse_db) {  // the recurrent bias's z, r parts equal the input bias's
        for (int64_t j = 0; j < G; ++j) dbc[j] = static_cast<T>(dbd[j]);
        for (int64_t j = 0; j < 2 * U; ++j) dbc[G + j] = dbc[j];
        for (int64_t j = 0; j < U; ++j) dbc[G + 2 * U + j] = static_cast<T>(dbd[G + j]);
      } else {
        bias_grad(dGx + off * G, dbc.data(), rows, G);
        if (o.reset_after) bias_grad(dGr + off * G, dbc.data() + G, rows, G);
      }
      for (int64_t j = 0; j < nb; ++j) pdb[j] = first ? dbc[j] : pdb[j] + dbc[j];
    }
    if (dx)
      rnn::input_grads(x + off * D, W, dGx + off * G, G, rows, D, G, static_cast<T*>(nullptr),
                       static_cast<T*>(nullptr), dx + off * D);
  });
  parts.reduce({{dW, D * G}, {dR, U * G}, {db, nb}});
}

template void gru_forward<float>(const float*, const float*, const float*, const float*,
                                 const float*, int64_t, int64_t, int64_t, int64_t,
                                 const RnnOpts&, float*, float*, float*, float*);
template void gru_forward<double>(const double*, const double*, const double*, const double*,
                                  const double*, int64_t, int64_t, int64_t, int64_t,
                                  const RnnOpts&, double*, double*, double*, double*);
template void gru_backward<float>(const float*, const float*, const float*, const float*,
                                  const float*, const float*, const float*, const float*,
                                  const float*, int64_t, int64_t, int64_t, int64_t,
                                  const RnnOpts&, float*, float*, float*, float*, float*);
template void gru_backward<double>(const double*, const double*, const double*, const double*,
                                   const double*, const double*, const double*, const double*,
                                   const double*, int64_t, int64_t, int64_t, int64_t,
                                   const RnnOpts&, double*, double*, double*, double*, double*);

}  // namespace nabi::cpu
