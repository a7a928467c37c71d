// Fused SimpleRNN forward and backpropagation through time (see lstm.h).
#include <algorithm>
#include <cstring>
#include <vector>

#include "cpu/gemm.h"
#include "cpu/lstm.h"
#include "cpu/parallel.h"

namespace nabi::cpu {

template <typename T>
void simple_rnn_forward(const T* x, const T* h0, const T* W, const T* R, const T* b, int64_t B,
                        int64_t Tn, int64_t D, int64_t U, const RnnOpts& o, T* out, T* hT) {
  if (B <= 0 || Tn <= 0 || U <= 0) return;
  // Pre-activations by input time; with go_backwards they cannot live in `out` (by step).
  std::vector<T> pre_buf;
  T* pre = out;
  if (o.go_backwards) {
    pre_buf.resize(static_cast<size_t>(B * Tn * U));
    pre = pre_buf.data();
  }
  const int64_t ld = Tn * U;
  const rnn::StepB<T> Rs(R, U, U, U, B);
  parallel_for(B, Tn * (rnn::step_cost(U, 1) + 2 * D * U), [&](int64_t rb, int64_t re) {
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
  const int64_t ld = Tn * U;
  std::vector<T> dgates(static_cast<size_t>(B * Tn * U));
  T* dG = dgates.data();
  std::memcpy(dh0, d_hT, static_cast<size_t>(B * U) * sizeof(T));
  const bool small = B <= 4;
  std::vector<T> rt(small ? 0 : static_cast<size_t>(U * U));
  if (!small) rnn::transpose(R, U, U, rt.data());
  const rnn::StepB<T> RTs(small ? R : rt.data(), U, small ? 0 : U, U, B);
  std::vector<T> hprev(static_cast<size_t>(B * Tn * U));
  const int nt = max_threads();
  rnn::BlockGrads<T> acc(nt, {{dW, D * U}, {dR, U * U}, {db, U}});
  parallel_for(B, Tn * (rnn::step_cost(U, 1) + 6 * D * U + 2 * U * U), [&](int64_t rb,
                                                                              int64_t re) {
    const int64_t M = re - rb;
    for (int64_t s = Tn - 1; s >= 0; --s) {
      const int64_t t = o.go_backwards ? Tn - 1 - s : s;
      for (int64_t r = 0; r < M; ++r) {
        const int64_t bi = rb + r;
        const T* dh = dh0 + bi * U;
        const T* dy = d_out + (bi * Tn + s) * U;
        T* dg = dG + (bi * Tn + t) * U;
        for (int64_t j = 0; j < U; ++j) dg[j] = dh[j] + dy[j];
        rnn::act_grad_mul(o.act, out + (bi * Tn + s) * U, dg, U);
      }
      if (small)
        rnn::step_gemm_nt_small(M, U, U, dG + (rb * Tn + t) * U, ld, R, U, dh0 + rb * U, U);
      else
        RTs.run(M, dG + (rb * Tn + t) * U, ld, T(0), dh0 + rb * U, U);
    }
    const int tid = nt == 1 ? 0 : omp_get_thread_num();
    const int64_t rows = M * Tn;
    const T* dGb = dG + rb * Tn * U;
    rnn::build_hprev(h0, out, B, Tn, U, o.go_backwards, hprev.data(), rb, re);
    gemm(true, false, U, U, rows, T(1), hprev.data() + rb * Tn * U, U, dGb, U, T(0),
         acc.slot(tid, 1), U);
    rnn::input_grads(x + rb * Tn * D, W, dGb, U, rows, D, U, acc.slot(tid, 0), acc.slot(tid, 2),
                     dx ? dx + rb * Tn * D : nullptr);
  });
  acc.reduce();
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
