// Fused GRU / SimpleRNN cell rows (rnn_cells_avx512.h). Compiled with the AVX-512 flags of every
// csrc/cpu/*_avx512.cpp (CMakeLists.txt): the plain loops below vectorise to 16 lanes, and
// sigmoid / tanh are the 16-lane polynomials of rnn_kernels_avx512.cpp. One pass per row
// replaces the portable path's separate bias / gate / state passes (and, backward, the
// column sums of the whole dgates for the bias gradient).
#include "cpu/rnn_cells_avx512.h"

#include "cpu/rnn_common.h"

namespace nabi::cpu::rnn::avx512 {

void gru_cell_forward(int64_t U, float* __restrict g, const float* __restrict hr,
                      const float* __restrict b_in, const float* __restrict b_rec,
                      const float* __restrict hp, float* __restrict rhs, float* __restrict h) {
  const int64_t U2 = 2 * U;
  float* __restrict n = g + U2;
  const float* __restrict hrn = hr + U2;
  // z, r pre-activations: x W + b_in + h R + b_rec.
  for (int64_t j = 0; j < U2; ++j) g[j] += hr[j];
  if (b_in)
    for (int64_t j = 0; j < U2; ++j) g[j] += b_in[j];
  if (b_rec)
    for (int64_t j = 0; j < U2; ++j) g[j] += b_rec[j];
  sigmoid(g, U2);
  const float* __restrict r = g + U;
  if (b_rec)
    for (int64_t j = 0; j < U; ++j) rhs[j] = hrn[j] + b_rec[U2 + j];
  else
    for (int64_t j = 0; j < U; ++j) rhs[j] = hrn[j];
  if (b_in)
    for (int64_t j = 0; j < U; ++j) n[j] += b_in[U2 + j] + r[j] * rhs[j];
  else
    for (int64_t j = 0; j < U; ++j) n[j] += r[j] * rhs[j];
  tanh(n, U);
  const float* __restrict z = g;
  for (int64_t j = 0; j < U; ++j) h[j] = z[j] * hp[j] + (1.0f - z[j]) * n[j];
}

void gru_cell_backward(int64_t U, float* __restrict dh, const float* __restrict dy,
                       const float* __restrict g, const float* __restrict hp,
                       const float* __restrict rhs, float* __restrict dgx, float* __restrict dq,
                       float* __restrict sx, float* __restrict sq) {
  const float* __restrict z = g;
  const float* __restrict r = g + U;
  const float* __restrict n = g + 2 * U;
  float* __restrict dz = dgx;
  float* __restrict dr = dgx + U;
  float* __restrict dn = dgx + 2 * U;
  for (int64_t j = 0; j < U; ++j) {
    const float d = dh[j] + dy[j];
    const float zv = z[j], rv = r[j], nv = n[j];
    const float dzv = d * (hp[j] - nv) * (zv * (1.0f - zv));
    const float dnv = d * (1.0f - zv) * (1.0f - nv * nv);
    const float drv = dnv * rhs[j] * (rv * (1.0f - rv));
    dz[j] = dzv;
    dr[j] = drv;
    dn[j] = dnv;
    dq[j] = dzv;
    dq[U + j] = drv;
    dq[2 * U + j] = dnv * rv;
    dh[j] = d * zv;
  }
  if (sx) {
    for (int64_t j = 0; j < 3 * U; ++j) sx[j] += dgx[j];
    for (int64_t j = 0; j < U; ++j) sq[j] += dq[2 * U + j];
  }
}

void simple_rnn_tanh_backward(int64_t U, const float* __restrict dh, const float* __restrict dy,
                              const float* __restrict h, float* __restrict dg,
                              float* __restrict sum) {
  for (int64_t j = 0; j < U; ++j) dg[j] = (dh[j] + dy[j]) * (1.0f - h[j] * h[j]);
  if (sum)
    for (int64_t j = 0; j < U; ++j) sum[j] += dg[j];
}

}  // namespace nabi::cpu::rnn::avx512
