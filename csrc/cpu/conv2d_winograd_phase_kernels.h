// The Winograd F(3x3, 2x2) phase kernels (see conv2d_winograd_phase.cpp's opening comment),
// compiled per ISA like conv2d_winograd_kernels.h, whose helpers (vectors, scratch buffers,
// Geo, the 16-GEMM micro-kernel gemm16) they reuse: the including file's NABI_WINO_NS is a
// namespace of its own (wino_phase_*), so that header's F(2x2, 3x3) entry points compiled here
// do not clash with conv2d_winograd*.cpp's (they are not called from here).
#include "cpu/conv2d_winograd_kernels.h"
#include "cpu/conv2d_winograd_phase.h"

namespace nabi::cpu::NABI_WINO_NS {
namespace {

// One axis of the phase geometry. Output index h = 2 a + p (phase p = 0, 1) sums
// dy (a + o_p + m) w (r_p + 2 (1 - m)), m = 0, 1, with r_p = (p + pad) % 2,
// o_p = (p + pad) / 2 - 1. Tile t reads dy base + 3 t .. base + 3 t + 3 (base = min o_p) and
// gives phase p's outputs a = 3 t + d_p + u, u < 3 (d_p = base - o_p <= 0).
struct Axis {
  int64_t base, d[2], r[2], n[2], tiles;
};

Axis axis(int64_t pad, int64_t out) {
  Axis x;
  int64_t o[2];
  for (int p = 0; p < 2; ++p) {
    x.r[p] = (p + pad) & 1;
    o[p] = ((p + pad) >> 1) - 1;
    x.n[p] = (out - p + 1) / 2;
  }
  x.base = std::min(o[0], o[1]);
  x.tiles = 0;
  for (int p = 0; p < 2; ++p) {
    x.d[p] = x.base - o[p];
    if (x.n[p] > 0) x.tiles = std::max(x.tiles, (x.n[p] - 1 - x.d[p]) / 3 + 1);
  }
  return x;
}

// u (16 matrices es floats apart; panel k / NR of Cs rows NR wide) <- G g G^T of the 2x2
// filters gt (4, Ks) (taps (m, n) at (m * 2 + n) * Ks), in double, rounded once.
// G = [[1, 0], [1/2, 1/2], [1/2, -1/2], [0, -1]].
void transform_2x2(const float* gt, int64_t Ks, float* U, int64_t Cs, int64_t es) {
  for (int64_t k = 0; k < Ks; k += VL) {
    vd g[2][2], t[4][2];
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 2; ++j)
        g[i][j] = __builtin_convertvector(ld(gt + (i * 2 + j) * Ks + k), vd);
    for (int j = 0; j < 2; ++j) {
      t[0][j] = g[0][j];
      t[1][j] = 0.5 * (g[0][j] + g[1][j]);
      t[2][j] = 0.5 * (g[0][j] - g[1][j]);
      t[3][j] = -g[1][j];
    }
    float* u = U + (k / NR) * Cs * NR + k % NR;
    for (int i = 0; i < 4; ++i) {
      st(u + (i * 4 + 0) * es, __builtin_convertvector(t[i][0], vf));
      st(u + (i * 4 + 1) * es, __builtin_convertvector(0.5 * (t[i][0] + t[i][1]), vf));
      st(u + (i * 4 + 2) * es, __builtin_convertvector(0.5 * (t[i][0] - t[i][1]), vf));
      st(u + (i * 4 + 3) * es, __builtin_convertvector(-t[i][1], vf));
    }
  }
}

// Tiles per block (sets q.T, q.Vs, q.Ms): V (16, T, Cs) and M (16, T, Ks) within ~640 KiB
// (L2), T a multiple of MR, at least two blocks per thread when there are enough tiles; the
// matrices a cache line apart more, as in conv2d_winograd_kernels.h.
int64_t block_tiles(Geo& q, int64_t NT) {
  int64_t T = 640 * 1024 / (16 * 4 * (q.Cs + q.Ks));
  T = std::max<int64_t>(MR, std::min<int64_t>(T, 32 * MR) / MR * MR);
  const int nthr = max_threads();
  while (T > MR && (NT + T - 1) / T < 2 * nthr) T -= MR;
  q.T = T;
  q.Vs = T * q.Cs + 16;
  q.Ms = T * q.Ks + 16;
  return T;
}

// U (4 phases, 16, Kp, Cs, NR) <- G g G^T of every phase's (c, k) 2x2 sub-filter
// g[m][n] = w[rh + 2 (1 - m)][rw + 2 (1 - n)][k][c], in double, rounded once; zero past C, K.
// G = [[1, 0], [1/2, 1/2], [1/2, -1/2], [0, -1]].
void phase_filter_transform(const WinoPhaseArgs& a, const Geo& q, const Axis& ah,
                            const Axis& aw, float* U) {
  const int64_t C = q.C, K = q.K, Ks = q.Ks, es = q.Kp * q.Cs * NR, ps = 16 * es;
  std::memset(U, 0, sizeof(float) * 4 * ps);
  parallel_for(C, K * 8, [&](int64_t c0, int64_t c1) {
    float* gt = scratch<15>(static_cast<size_t>(4 * Ks));
    std::memset(gt, 0, sizeof(float) * 4 * Ks);
    for (int64_t c = c0; c < c1; ++c)
      for (int p = 0; p < 4; ++p) {
        const int64_t rh = ah.r[p >> 1], rw = aw.r[p & 1];
        for (int m = 0; m < 2; ++m)
          for (int n = 0; n < 2; ++n) {
            const float* src = a.w + ((rh + 2 * (1 - m)) * 4 + rw + 2 * (1 - n)) * K * C + c;
            float* dst = gt + (m * 2 + n) * Ks;
            for (int64_t k = 0; k < K; ++k) dst[k] = src[k * C];
          }
        transform_2x2(gt, Ks, U + p * ps + c * NR, q.Cs, es);
      }
  });
}

// Phase p's outputs of tiles t0 .. t0 + nt <- A^T m A (+ bias, ReLU), those inside only:
// tile (ta, tb)'s output (u, v) is y (S (3 ta + d_ph + u) + ph, S (3 tb + d_pw + v) + pw) (S = 2;
// S = 1 with one phase for the stride-2 forward below).
// A^T = [[1, 1, 1, 0], [0, 1, -1, 0], [0, 1, 1, 1]].
template <int S, typename Args>
void phase_output_transform(const Args& a, const Geo& q, const Axis& ah, const Axis& aw, int p,
                            int64_t t0, int64_t nt, const float* M, const float* biasp) {
  const int64_t K = q.K, Ks = q.Ks, per = q.th * q.tw;
  const int ph = p >> 1, pw = p & 1;
  for (int64_t r = 0; r < nt; ++r) {
    const int64_t t = t0 + r, n = t / per, ta = (t % per) / q.tw, tb = t % q.tw;
    const int64_t a0 = 3 * ta + ah.d[ph], b0 = 3 * tb + aw.d[pw];
    int u0 = 0, u1 = 3, v0 = 0, v1 = 3;
    while (u0 < 3 && a0 + u0 < 0) ++u0;
    while (u1 > u0 && a0 + u1 - 1 >= ah.n[ph]) --u1;
    while (v0 < 3 && b0 + v0 < 0) ++v0;
    while (v1 > v0 && b0 + v1 - 1 >= aw.n[pw]) --v1;
    if (u0 >= u1 || v0 >= v1) continue;
    for (int64_t k = 0; k < K; k += VL) {
      vf m[4][4], s[3][4], o[3][3];
      for (int e = 0; e < 16; ++e) m[e / 4][e % 4] = ld(M + e * q.Ms + r * Ks + k);
      for (int j = 0; j < 4; ++j) {
        s[0][j] = m[0][j] + m[1][j] + m[2][j];
        s[1][j] = m[1][j] - m[2][j];
        s[2][j] = m[1][j] + m[2][j] + m[3][j];
      }
      const vf bv = ld(biasp + k);
      for (int u = 0; u < 3; ++u) {
        o[u][0] = s[u][0] + s[u][1] + s[u][2] + bv;
        o[u][1] = s[u][1] - s[u][2] + bv;
        o[u][2] = s[u][1] + s[u][2] + s[u][3] + bv;
        if (a.relu)
          for (int v = 0; v < 3; ++v) o[u][v] = relu_v(o[u][v]);
      }
      const bool full = k + VL <= K;
      for (int u = u0; u < u1; ++u)
        for (int v = v0; v < v1; ++v) {
          const int64_t oh = S * (a0 + u) + ph, ow = S * (b0 + v) + pw;
          float* dst = a.y + ((n * a.OH + oh) * a.OW + ow) * K + k;
          if (full) {
            st(dst, o[u][v]);
          } else {
            alignas(64) float tmp[VL];
            st(tmp, o[u][v]);
            std::memcpy(dst, tmp, sizeof(float) * (K - k));
          }
        }
    }
  }
}

}  // namespace

void winograd_phase_f32(const WinoPhaseArgs& a) {
  const Axis ah = axis(a.pt, a.OH), aw = axis(a.pl, a.OW);
  Geo q;
  q.C = a.C, q.K = a.K;
  q.Cs = (a.C + VL - 1) / VL * VL;
  q.Kp = (a.K + NR - 1) / NR;
  q.Ks = q.Kp * NR;
  q.th = ah.tiles, q.tw = aw.tiles;
  const int64_t NT = a.N * q.th * q.tw;
  if (NT <= 0 || a.K <= 0) return;
  const int64_t T = block_tiles(q, NT);
  const int64_t ps = 16 * q.Kp * q.Cs * NR;
  float* U = scratch<10>(static_cast<size_t>(4 * ps));
  phase_filter_transform(a, q, ah, aw, U);
  float* biasp = scratch<11>(static_cast<size_t>(q.Ks));
  for (int64_t k = 0; k < q.Ks; ++k) biasp[k] = a.bias && k < a.K ? a.bias[k] : 0.0f;
  // conv2d_winograd_kernels.h's input transform, its tiles 3 apart from (base_h, base_w)
  const WinoArgs xa{a.N, a.H, a.W, a.C, 0, 0, 0, -ah.base, -aw.base, a.dy, a.mask, nullptr,
                    false, nullptr, false, nullptr};
  const int64_t blocks = (NT + T - 1) / T;
  parallel_for(blocks, T * 64 * q.Cs * q.Ks * 2, [&](int64_t b0, int64_t b1) {
    float* d = scratch<12>(static_cast<size_t>(17 * q.Cs));  // 16 patch pixels + zrow
    float* V = scratch<13>(static_cast<size_t>(16 * q.Vs));
    float* M = scratch<14>(static_cast<size_t>(16 * q.Ms));
    std::memset(d, 0, sizeof(float) * 17 * q.Cs);
    for (int64_t blk = b0; blk < b1; ++blk) {
      const int64_t t0 = blk * T, nt = std::min(T, NT - t0);
      const int64_t rows = (nt + MR - 1) / MR * MR;
      input_transform(xa, q, t0, nt, d, d + 16 * q.Cs, V, 3);
      for (int e = 0; e < 16; ++e)
        std::memset(V + e * q.Vs + nt * q.Cs, 0, sizeof(float) * (rows - nt) * q.Cs);
      for (int p = 0; p < 4; ++p) {
        gemm16(q, rows, V, U + p * ps, M);
        phase_output_transform<2>(a, q, ah, aw, p, t0, nt, M, biasp);
      }
    }
  });
}

namespace {

// ---- forward of a stride-2 4x4 conv: y (oh) = sum over the tap parities r of the 2x2
// correlation of the sub-image X_r (j) = x (2 j + r - pt) with g_r (m) = w (2 m + r) (per axis),
// so per output tile the four parity pairs' 4x4 patches are transformed side by side into
// V (16, T, 4 Cs0) and one GEMM per element reduces over all four (U (16, 4 Cs0, K)).

// U (16, Kp, 4 Cs0, NR), row p Cs0 + c <- G g G^T of g[m][n] = w[2 m + rh][2 n + rw][c][k].
void s2_filter_transform(const WinoArgs& a, const Geo& q, int64_t Cs0, float* U) {
  const int64_t C = a.C, K = a.K, Ks = q.Ks, es = q.Kp * q.Cs * NR;
  std::memset(U, 0, sizeof(float) * 16 * es);
  parallel_for(C, K * 8, [&](int64_t c0, int64_t c1) {
    float* gt = scratch<15>(static_cast<size_t>(4 * Ks));
    std::memset(gt, 0, sizeof(float) * 4 * Ks);
    for (int64_t c = c0; c < c1; ++c)
      for (int p = 0; p < 4; ++p) {
        for (int m = 0; m < 2; ++m)
          for (int n = 0; n < 2; ++n)
            std::memcpy(gt + (m * 2 + n) * Ks,
                        a.w + (((2 * m + (p >> 1)) * 4 + 2 * n + (p & 1)) * C + c) * K,
                        sizeof(float) * K);
        transform_2x2(gt, Ks, U + (p * Cs0 + c) * NR, q.Cs, es);
      }
  });
}

// V (16, T, 4 Cs0) rows [0, nt) <- B^T d B of each parity pair's 4x4 patch of tiles t0 .. t0 + nt
// (x rows 6 ta + 2 i + rh - pt, columns 6 tb + 2 j + rw - pl; zeros outside). d: (64, Cs0)
// copies when C is not whole vectors (tails zero), zrow: Cs0 zeros.
void s2_input_transform(const WinoArgs& a, const Geo& q, int64_t Cs0, int64_t t0, int64_t nt,
                        float* d, const float* zrow, float* V) {
  const int64_t C = a.C, per = q.th * q.tw;
  const bool in_place = C == Cs0;
  for (int64_t r = 0; r < nt; ++r) {
    const int64_t t = t0 + r, n = t / per, ta = (t % per) / q.tw, tb = t % q.tw;
    for (int p = 0; p < 4; ++p) {
      const float* ptr[16];
      for (int i = 0; i < 4; ++i) {
        const int64_t ih = 6 * ta + 2 * i + (p >> 1) - a.pt;
        for (int j = 0; j < 4; ++j) {
          const int64_t iw = 6 * tb + 2 * j + (p & 1) - a.pl;
          if (ih < 0 || ih >= a.H || iw < 0 || iw >= a.W) {
            ptr[i * 4 + j] = zrow;
            continue;
          }
          const float* src = a.x + ((n * a.H + ih) * a.W + iw) * C;
          if (in_place) {
            ptr[i * 4 + j] = src;
            continue;
          }
          float* dst = d + ((p * 4 + i) * 4 + j) * Cs0;
          std::memcpy(dst, src, sizeof(float) * C);
          ptr[i * 4 + j] = dst;
        }
      }
      transform_patch(ptr, Cs0, V + r * q.Cs + p * Cs0, q.Vs);
    }
  }
}

}  // namespace

void winograd_s2_f32(const WinoArgs& a) {
  const int64_t Cs0 = (a.C + VL - 1) / VL * VL;
  Geo q;
  q.C = a.C, q.K = a.K;
  q.Cs = 4 * Cs0;
  q.Kp = (a.K + NR - 1) / NR;
  q.Ks = q.Kp * NR;
  q.th = (a.OH + 2) / 3, q.tw = (a.OW + 2) / 3;
  const int64_t NT = a.N * q.th * q.tw;
  if (NT <= 0 || a.K <= 0) return;
  const int64_t T = block_tiles(q, NT);
  float* U = scratch<16>(static_cast<size_t>(16 * q.Kp * q.Cs * NR));
  s2_filter_transform(a, q, Cs0, U);
  float* biasp = scratch<17>(static_cast<size_t>(q.Ks));
  for (int64_t k = 0; k < q.Ks; ++k) biasp[k] = a.bias && k < a.K ? a.bias[k] : 0.0f;
  Axis ax;  // one phase, tiles 3 apart from 0
  ax.d[0] = 0;
  const Axis ah = [&] { Axis x = ax; x.n[0] = a.OH; return x; }();
  const Axis aw = [&] { Axis x = ax; x.n[0] = a.OW; return x; }();
  const int64_t blocks = (NT + T - 1) / T;
  parallel_for(blocks, T * 16 * q.Cs * q.Ks * 2, [&](int64_t b0, int64_t b1) {
    float* d = scratch<18>(static_cast<size_t>(65 * Cs0));  // 4 x 16 patch pixels + zrow
    float* V = scratch<19>(static_cast<size_t>(16 * q.Vs));
    float* M = scratch<20>(static_cast<size_t>(16 * q.Ms));
    std::memset(d, 0, sizeof(float) * 65 * Cs0);
    for (int64_t blk = b0; blk < b1; ++blk) {
      const int64_t t0 = blk * T, nt = std::min(T, NT - t0);
      const int64_t rows = (nt + MR - 1) / MR * MR;
      s2_input_transform(a, q, Cs0, t0, nt, d, d + 64 * Cs0, V);
      for (int e = 0; e < 16; ++e)
        std::memset(V + e * q.Vs + nt * q.Cs, 0, sizeof(float) * (rows - nt) * q.Cs);
      gemm16(q, rows, V, U, M);
      phase_output_transform<1>(a, q, ah, aw, 0, t0, nt, M, biasp);
    }
  });
}

namespace {

// ---- filter gradient of the stride-2 4x4 conv: per parity pair p and output tile (3x3 dy
// block y at (3 ta, 3 tb), 4x4 patch d of X_p), the block's dw_p (2x2) is the correlation of d
// with y, F(2x2, 3x3): A^T [ (G y G^T) (.) (B^T d B) ] A with conv2d_winograd.cpp's G (4 x 3)
// and A^T (2 x 4); summed over tiles before A^T . A: Mp[e] (4 Cs0, K) += V[e]^T @ Y[e].

// Y (16, T, Ks) rows [0, nt) <- G y G^T of tiles t0 .. t0 + nt (dy masked by relu_y > 0 when
// given; zeros past OH / OW); dd: (9, Ks) scratch, tail zero; dbs (Ks) += the blocks' dy sums.
void s2_dy_transform(const WinoFilterArgs& f, const Geo& q, int64_t Ys, int64_t t0, int64_t nt,
                     float* dd, float* Y, float* dbs) {
  const int64_t Ks = q.Ks, per = q.th * q.tw;
  for (int64_t r = 0; r < nt; ++r) {
    const int64_t t = t0 + r, n = t / per, ta = (t % per) / q.tw, tb = t % q.tw;
    for (int u = 0; u < 3; ++u)
      for (int v = 0; v < 3; ++v) load_dy(f, n, 3 * ta + u, 3 * tb + v, dd + (u * 3 + v) * Ks);
    const vf half = bc(0.5f);
    for (int64_t k = 0; k < Ks; k += VL) {
      vf y[3][3], g[4][3];
      vf sum = vf{};
      for (int u = 0; u < 3; ++u)
        for (int v = 0; v < 3; ++v) sum += (y[u][v] = ld(dd + (u * 3 + v) * Ks + k));
      st(dbs + k, ld(dbs + k) + sum);
      for (int v = 0; v < 3; ++v) {  // G y
        g[0][v] = y[0][v];
        g[1][v] = half * (y[0][v] + y[1][v] + y[2][v]);
        g[2][v] = half * (y[0][v] - y[1][v] + y[2][v]);
        g[3][v] = y[2][v];
      }
      float* dst = Y + r * Ks + k;
      for (int i = 0; i < 4; ++i) {  // (.) G^T
        st(dst + (i * 4 + 0) * Ys, g[i][0]);
        st(dst + (i * 4 + 1) * Ys, half * (g[i][0] + g[i][1] + g[i][2]));
        st(dst + (i * 4 + 2) * Ys, half * (g[i][0] - g[i][1] + g[i][2]));
        st(dst + (i * 4 + 3) * Ys, g[i][2]);
      }
    }
  }
}

}  // namespace

void winograd_s2_filter_f32(const WinoFilterArgs& f) {
  const int64_t C = f.C, K = f.K, Cs0 = (C + VL - 1) / VL * VL;
  Geo q;
  q.C = C, q.K = K;
  q.Cs = 4 * Cs0;
  q.Kp = (K + NR - 1) / NR;
  q.Ks = q.Kp * NR;
  q.th = (f.OH + 2) / 3, q.tw = (f.OW + 2) / 3;
  const int64_t Cs = q.Cs, Ks = q.Ks, Cm = (Cs + MR - 1) / MR * MR, NT = f.N * q.th * q.tw;
  if (NT <= 0 || K <= 0 || C <= 0) {
    std::memset(f.dw, 0, sizeof(float) * 16 * std::max<int64_t>(C, 0) * std::max<int64_t>(K, 0));
    if (f.db) std::memset(f.db, 0, sizeof(float) * std::max<int64_t>(K, 0));
    return;
  }
  // Tiles per block: V (16, T, Cs) and Y (16, T, Ks) within ~2 MiB (L2 and L3).
  int64_t T = 2048 * 1024 / (16 * 4 * (Cs + Ks));
  T = std::max<int64_t>(16, std::min<int64_t>(T, 256) / 8 * 8);
  const WinoArgs xa{f.N, f.H, f.W, C, f.OH, f.OW, K, f.pt, f.pl, f.x, nullptr, nullptr, false,
                    nullptr, false, nullptr};
  int64_t ng = 0;
  const float* parts = filter_partials(
      f, q, T, NT, 65 * Cs0, 9 * Ks, ng,
      [&](int64_t t0, int64_t nt, float* d, float* V) {
        s2_input_transform(xa, q, Cs0, t0, nt, d, d + 64 * Cs0, V);
      },
      [&](int64_t t0, int64_t nt, float* dd, float* Y, int64_t Ys, float* dbs) {
        s2_dy_transform(f, q, Ys, t0, nt, dd, Y, dbs);
      });
  const int64_t MpN = 16 * Cm * Ks;
  // dw[2 m + rh][2 n + rw] (c, k) = A^T (sum of the partials' row p Cs0 + c) A,
  // A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]
  parallel_for(4 * C, Ks * ng, [&](int64_t r0, int64_t r1) {
    for (int64_t pc = r0; pc < r1; ++pc) {
      const int64_t p = pc / C, c = pc % C, row = p * Cs0 + c;
      for (int64_t k = 0; k < K; k += VL) {
        vf m[4][4], s2[2][4];
        for (int e = 0; e < 16; ++e) m[e / 4][e % 4] = vf{};
        for (int64_t g = 0; g < ng; ++g) {
          const float* src = parts + g * MpN + row * Ks + k;
          for (int e = 0; e < 16; ++e) m[e / 4][e % 4] += ld(src + e * Cm * Ks);
        }
        for (int j = 0; j < 4; ++j) {
          s2[0][j] = m[0][j] + m[1][j] + m[2][j];
          s2[1][j] = m[1][j] - m[2][j] - m[3][j];
        }
        for (int i = 0; i < 2; ++i) {
          const vf o[2] = {s2[i][0] + s2[i][1] + s2[i][2], s2[i][1] - s2[i][2] - s2[i][3]};
          for (int j = 0; j < 2; ++j) {
            float* dst = f.dw + (((2 * i + (p >> 1)) * 4 + 2 * j + (p & 1)) * C + c) * K + k;
            if (k + VL <= K) {
              st(dst, o[j]);
            } else {
              alignas(64) float tmp[VL];
              st(tmp, o[j]);
              std::memcpy(dst, tmp, sizeof(float) * (K - k));
            }
          }
        }
      }
    }
  });
}

}  // namespace nabi::cpu::NABI_WINO_NS
