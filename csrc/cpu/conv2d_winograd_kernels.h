// The Winograd F(2x2, 3x3) kernels (see conv2d_winograd.cpp's opening comment), written once
// with GCC vector extensions and compiled per ISA: each including file defines NABI_WINO_NS
// (its namespace), NABI_WINO_VB (vector bytes: 16 portable, 32 AVX2, 64 AVX-512) and
// NABI_WINO_MR (tile rows of the GEMM micro-kernel) first. Everything but winograd_f32 lives in
// an anonymous namespace, so no ISA's code can stand in for another's at link time.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <new>
#include <utility>

#include "cpu/conv2d_winograd.h"
#include "cpu/parallel.h"

namespace nabi::cpu::NABI_WINO_NS {
namespace {

constexpr int VB = NABI_WINO_VB, VL = VB / 4, NR = 2 * VL, MR = NABI_WINO_MR;
typedef float vf __attribute__((vector_size(VB)));
typedef float vfu __attribute__((vector_size(VB), aligned(4), may_alias));

inline vf ld(const float* p) { return *reinterpret_cast<const vfu*>(p); }
inline void st(float* p, vf v) { *reinterpret_cast<vfu*>(p) = v; }
template <size_t... I>
inline vf bc_(float s, std::index_sequence<I...>) {
  return vf{((void)I, s)...};
}
// {s, s, ...}: one broadcast (vf{} + s would add 0.0f first)
inline vf bc(float s) { return bc_(s, std::make_index_sequence<VL>{}); }
// max(0, v) that keeps a NaN (as TF's ReLU and the direct kernels)
inline vf relu_v(vf v) { return v < vf{} ? vf{} : v; }

// A growable 64-byte aligned buffer per thread and tag, reused across calls.
struct Scratch {
  float* p = nullptr;
  size_t n = 0;
  ~Scratch() { ::operator delete(p, std::align_val_t(64)); }
  float* get(size_t m) {
    if (m > n) {
      ::operator delete(p, std::align_val_t(64));
      p = static_cast<float*>(::operator new(m * sizeof(float), std::align_val_t(64)));
      n = m;
    }
    return p;
  }
};
template <int Tag>
float* scratch(size_t n) {
  thread_local Scratch s;
  return s.get(n);
}

struct Geo {
  int64_t C, K, Cs, Kp, Ks, T, th, tw;
  int64_t Vs, Ms;  // floats between V[e] and V[e + 1], M[e] and M[e + 1]
};

// U (16, Kp, Cs, NR) <- G g G^T of every (c, k) 3x3 filter slice, in double, rounded once;
// zero past C and K. G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]].
// Per input channel c: its 9 taps' K values gathered into gt (9, Ks; zeros past K), then
// transformed VL output channels at a time.
typedef double vd __attribute__((vector_size(2 * VB)));

void filter_transform(const WinoArgs& a, const Geo& q, float* U) {
  const int64_t C = q.C, K = q.K, Ks = q.Ks, es = q.Kp * q.Cs * NR;  // es: element stride
  std::memset(U, 0, sizeof(float) * 16 * es);
  // (threads only from ~32k (c, k) pairs: a fork-join costs more than a 64 x 64 filter)
  parallel_for(C, K * 2, [&](int64_t c0, int64_t c1) {
    float* gt = scratch<5>(static_cast<size_t>(9 * Ks));
    std::memset(gt, 0, sizeof(float) * 9 * Ks);
    for (int64_t c = c0; c < c1; ++c) {
      for (int t = 0; t < 9; ++t) {
        if (a.flipped) {  // g[i][j][c][k] = w[2 - i][2 - j][k][c]
          const float* src = a.w + (8 - t) * K * C + c;
          for (int64_t k = 0; k < K; ++k) gt[t * Ks + k] = src[k * C];
        } else {
          std::memcpy(gt + t * Ks, a.w + (t * C + c) * K, sizeof(float) * K);
        }
      }
      for (int64_t k = 0; k < Ks; k += VL) {
        vd g[3][3], t[4][3];
        for (int i = 0; i < 3; ++i)
          for (int j = 0; j < 3; ++j)
            g[i][j] = __builtin_convertvector(ld(gt + (i * 3 + j) * Ks + k), vd);
        for (int j = 0; j < 3; ++j) {
          t[0][j] = g[0][j];
          t[1][j] = 0.5 * (g[0][j] + g[1][j] + g[2][j]);
          t[2][j] = 0.5 * (g[0][j] - g[1][j] + g[2][j]);
          t[3][j] = g[2][j];
        }
        float* u = U + ((k / NR) * q.Cs + c) * NR + k % NR;
        for (int i = 0; i < 4; ++i) {
          st(u + (i * 4 + 0) * es, __builtin_convertvector(t[i][0], vf));
          st(u + (i * 4 + 1) * es,
             __builtin_convertvector(0.5 * (t[i][0] + t[i][1] + t[i][2]), vf));
          st(u + (i * 4 + 2) * es,
             __builtin_convertvector(0.5 * (t[i][0] - t[i][1] + t[i][2]), vf));
          st(u + (i * 4 + 3) * es, __builtin_convertvector(t[i][2], vf));
        }
      }
    }
  });
}

// out[e * vs + c] (e < 16, c < cs) <- (B^T d B)[e] of the 4x4 patch d whose pixel (i, j)
// is p[i * 4 + j] (cs floats each). B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]].
inline void transform_patch(const float* const* p, int64_t cs, float* out, int64_t vs) {
  for (int64_t c = 0; c < cs; c += VL) {
    vf x[4][4], u[4][4];
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 4; ++j) x[i][j] = ld(p[i * 4 + j] + c);
    for (int j = 0; j < 4; ++j) {  // B^T x
      const vf x0 = x[0][j], x1 = x[1][j], x2 = x[2][j], x3 = x[3][j];
      x[0][j] = x0 - x2;
      x[1][j] = x1 + x2;
      x[2][j] = x2 - x1;
      x[3][j] = x1 - x3;
    }
    for (int i = 0; i < 4; ++i) {  // (.) B
      u[i][0] = x[i][0] - x[i][2];
      u[i][1] = x[i][1] + x[i][2];
      u[i][2] = x[i][2] - x[i][1];
      u[i][3] = x[i][1] - x[i][3];
    }
    for (int e = 0; e < 16; ++e) st(out + e * vs + c, u[e / 4][e % 4]);
  }
}

// V (16, T, Cs) (matrices Vs floats apart) rows [0, nt) <- B^T d B of tiles t0 .. t0 + nt,
// d the tile's 4x4 input patch
// (zeros outside the image; masked by mask > 0 when given). A patch pixel is read in place
// when C is whole vectors (and no mask), else copied into d (16, Cs), whose channel tail
// [C, Cs) stays zero; zrow (Cs zeros) stands for the pixels outside the image.
// B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]].
// step: the tiles' input stride (2 here; 3 for conv2d_winograd_phase_kernels.h's F(3x3, 2x2)).
void input_transform(const WinoArgs& a, const Geo& q, int64_t t0, int64_t nt, float* d,
                     const float* zrow, float* V, int64_t step = 2) {
  const int64_t C = q.C, Cs = q.Cs, per = q.th * q.tw;
  const bool in_place = C == Cs && !a.mask;
  for (int64_t r = 0; r < nt; ++r) {
    const int64_t t = t0 + r, n = t / per, ta = (t % per) / q.tw, tb = t % q.tw;
    const int64_t ih0 = step * ta - a.pt, iw0 = step * tb - a.pl;
    const float* p[16];
    for (int i = 0; i < 4; ++i) {
      const int64_t ih = ih0 + i;
      for (int j = 0; j < 4; ++j) {
        const int64_t iw = iw0 + j;
        if (ih < 0 || ih >= a.H || iw < 0 || iw >= a.W) {
          p[i * 4 + j] = zrow;
          continue;
        }
        const float* src = a.x + ((n * a.H + ih) * a.W + iw) * C;
        if (in_place) {
          p[i * 4 + j] = src;
          continue;
        }
        float* dst = d + (i * 4 + j) * Cs;
        if (a.mask) {
          const float* m = a.mask + (src - a.x);
          for (int64_t c = 0; c < C; ++c) {
            const float v = src[c];
            dst[c] = m[c] > 0.0f ? v : 0.0f;
          }
        } else {
          std::memcpy(dst, src, sizeof(float) * C);
        }
        p[i * 4 + j] = dst;
      }
    }
    transform_patch(p, Cs, V + r * Cs, q.Vs);
  }
}

// M[e] (rows, Ks) = V[e] (rows, Cs) @ U[e] (Cs, Ks) for the 16 elements e; rows % MR == 0.
// Register tile: MR rows x NR columns (2 vectors), U's (Cs, NR) panel and V[e] in L1.
void gemm16(const Geo& q, int64_t rows, const float* V, const float* U, float* M) {
  const int64_t Cs = q.Cs, Ks = q.Ks;
  for (int e = 0; e < 16; ++e) {
    const float* Ve = V + e * q.Vs;
    float* Me = M + e * q.Ms;
    for (int64_t j = 0; j < q.Kp; ++j) {
      const float* Uj = U + (e * q.Kp + j) * Cs * NR;
      for (int64_t r0 = 0; r0 < rows; r0 += MR) {
        const float* A = Ve + r0 * Cs;
        vf c0[MR], c1[MR];
#pragma GCC unroll 16
        for (int r = 0; r < MR; ++r) c0[r] = c1[r] = vf{};
        const float* bp = Uj;
        for (int64_t c = 0; c < Cs; ++c, bp += NR) {
          const vf b0 = ld(bp), b1 = ld(bp + VL);
#pragma GCC unroll 16
          for (int r = 0; r < MR; ++r) {
            const vf v = bc(A[r * Cs + c]);
            c0[r] += v * b0;
            c1[r] += v * b1;
          }
        }
        float* out = Me + r0 * Ks + j * NR;
#pragma GCC unroll 16
        for (int r = 0; r < MR; ++r) {
          st(out + r * Ks, c0[r]);
          st(out + r * Ks + VL, c1[r]);
        }
      }
    }
  }
}

// y tiles t0 .. t0 + nt <- A^T m A (+ bias, ReLU), the outputs inside (OH, OW) only.
// A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]. biasp: (Ks) padded with zeros.
void output_transform(const WinoArgs& a, const Geo& q, int64_t t0, int64_t nt, const float* M,
                      const float* biasp) {
  const int64_t K = q.K, Ks = q.Ks, per = q.th * q.tw;
  for (int64_t r = 0; r < nt; ++r) {
    const int64_t t = t0 + r, n = t / per, ta = (t % per) / q.tw, tb = t % q.tw;
    const int64_t oh0 = 2 * ta, ow0 = 2 * tb;
    const int nu = oh0 + 1 < a.OH ? 2 : 1, nv = ow0 + 1 < a.OW ? 2 : 1;
    float* y0 = a.y + ((n * a.OH + oh0) * a.OW + ow0) * K;
    for (int64_t k = 0; k < K; k += VL) {
      vf m[4][4], s[2][4], o[2][2];
      for (int e = 0; e < 16; ++e) m[e / 4][e % 4] = ld(M + e * q.Ms + r * Ks + k);
      for (int j = 0; j < 4; ++j) {
        s[0][j] = m[0][j] + m[1][j] + m[2][j];
        s[1][j] = m[1][j] - m[2][j] - m[3][j];
      }
      const vf bv = ld(biasp + k);
      for (int u = 0; u < 2; ++u) {
        o[u][0] = s[u][0] + s[u][1] + s[u][2] + bv;
        o[u][1] = s[u][1] - s[u][2] - s[u][3] + bv;
        if (a.relu) o[u][0] = relu_v(o[u][0]), o[u][1] = relu_v(o[u][1]);
      }
      const bool full = k + VL <= K;
      for (int u = 0; u < nu; ++u)
        for (int v = 0; v < nv; ++v) {
          float* dst = y0 + (u * a.OW + v) * K + k;
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

// ---- filter gradient, F(3x3, 2x2): per 2x2 block of dy (the forward's output tile t) and its
// 4x4 input patch d, the block's contribution to dw (c, k) is G^T [ (A y A^T) (.) (B^T d B) ] G
// (y the block of dy's channel k, d the patch's channel c; A = the forward's (A^T)^T, 4 x 2; G
// the forward's, 4 x 3): dw = G^T [ sum over blocks V (.) Y ] G, a GEMM reducing over blocks.

// dst (K) <- dy (n, oh, ow) (masked by relu_y > 0 when given); zeros past OH / OW.
inline void load_dy(const WinoFilterArgs& f, int64_t n, int64_t oh, int64_t ow, float* dst) {
  const int64_t K = f.K;
  if (oh >= f.OH || ow >= f.OW) {
    std::memset(dst, 0, sizeof(float) * K);
    return;
  }
  const int64_t off = ((n * f.OH + oh) * f.OW + ow) * K;
  if (f.relu_y) {
    const float* src = f.dy + off;
    const float* mk = f.relu_y + off;
    for (int64_t k = 0; k < K; ++k) {
      const float g = src[k];
      dst[k] = mk[k] > 0.0f ? g : 0.0f;
    }
  } else {
    std::memcpy(dst, f.dy + off, sizeof(float) * K);
  }
}

// Y (16, T, Ks) (matrices Ys floats apart) rows [0, nt) <- A y A^T of tiles t0 .. t0 + nt
// (dy masked by mask > 0 when given; zeros past OH / OW). dd: a (4, Ks) scratch, tail zero.
// dbs (Ks) += the block's sums of (masked) dy (every dy pixel is in exactly one tile).
void dy_transform(const WinoFilterArgs& f, const Geo& q, int64_t Ys, int64_t t0, int64_t nt,
                  float* dd, float* Y, float* dbs) {
  const int64_t Ks = q.Ks, per = q.th * q.tw;
  for (int64_t r = 0; r < nt; ++r) {
    const int64_t t = t0 + r, n = t / per, ta = (t % per) / q.tw, tb = t % q.tw;
    for (int u = 0; u < 2; ++u)
      for (int v = 0; v < 2; ++v) load_dy(f, n, 2 * ta + u, 2 * tb + v, dd + (u * 2 + v) * Ks);
    for (int64_t k = 0; k < Ks; k += VL) {
      const vf y00 = ld(dd + k), y01 = ld(dd + Ks + k);
      const vf y10 = ld(dd + 2 * Ks + k), y11 = ld(dd + 3 * Ks + k);
      st(dbs + k, ld(dbs + k) + ((y00 + y01) + (y10 + y11)));
      // A y: rows [y0, y0 + y1, y0 - y1, -y1] of the 2 columns
      const vf c0[4] = {y00, y00 + y10, y00 - y10, -y10};
      const vf c1[4] = {y01, y01 + y11, y01 - y11, -y11};
      float* dst = Y + r * Ks + k;
      for (int i = 0; i < 4; ++i) {  // (.) A^T
        st(dst + (i * 4 + 0) * Ys, c0[i]);
        st(dst + (i * 4 + 1) * Ys, c0[i] + c1[i]);
        st(dst + (i * 4 + 2) * Ys, c0[i] - c1[i]);
        st(dst + (i * 4 + 3) * Ys, -c1[i]);
      }
    }
  }
}

// Mp[e] (Cm, Ks) += V[e]^T (Cm, rows) @ Y[e] (rows, Ks) for the 16 elements e; Cm % MR == 0
// (the rows past Cs read on into V's next row: their sums are never used).
void gemm_filter(const Geo& q, int64_t Cm, int64_t Ys, int64_t rows, const float* V,
                 const float* Y, float* Mp) {
  const int64_t Cs = q.Cs, Ks = q.Ks;
  for (int e = 0; e < 16; ++e) {
    const float* Ve = V + e * q.Vs;
    const float* Ye = Y + e * Ys;
    float* Me = Mp + e * Cm * Ks;
    for (int64_t j = 0; j < q.Kp; ++j)
      for (int64_t c0 = 0; c0 < Cm; c0 += MR) {
        vf c0v[MR], c1v[MR];
#pragma GCC unroll 16
        for (int r = 0; r < MR; ++r) c0v[r] = c1v[r] = vf{};
        const float* A = Ve + c0;
        const float* bp = Ye + j * NR;
        for (int64_t t = 0; t < rows; ++t, A += Cs, bp += Ks) {
          const vf b0 = ld(bp), b1 = ld(bp + VL);
#pragma GCC unroll 16
          for (int r = 0; r < MR; ++r) {
            const vf v = bc(A[r]);
            c0v[r] += v * b0;
            c1v[r] += v * b1;
          }
        }
        float* out = Me + c0 * Ks + j * NR;
#pragma GCC unroll 16
        for (int r = 0; r < MR; ++r) {
          st(out + r * Ks, ld(out + r * Ks) + c0v[r]);
          st(out + r * Ks + VL, ld(out + r * Ks + VL) + c1v[r]);
        }
      }
  }
}

// The filter gradients' driver (here and conv2d_winograd_phase_kernels.h): sets q.T (from T,
// lowered to give every thread two blocks when it can), q.Vs; the NT tiles in blocks of q.T go
// in ng groups, one partial Mp (16, Cm, Ks) each (one per thread, fewer when the partials
// would pass 256 MiB); a thread runs whole groups. Per block: in(t0, nt, d, V) writes V
// (16, T, Cs) (d: dn floats of per-thread scratch, zeroed once), dyt(t0, nt, dd, Y, Ys, dbs)
// Y (16, T, Ks) (dd: ddn floats likewise; dbs (Ks) += the block's db sums), then
// Mp[e] += V[e]^T @ Y[e]. Assigns f.db (when given); returns the partials (ng of them).
template <class In, class Dy>
const float* filter_partials(const WinoFilterArgs& f, Geo& q, int64_t T, int64_t NT,
                             int64_t dn, int64_t ddn, int64_t& ng, In in, Dy dyt) {
  const int64_t Cs = q.Cs, Ks = q.Ks, Cm = (Cs + MR - 1) / MR * MR;
  const int nthr = std::max(1, max_threads());
  while (T > 16 && (NT + T - 1) / T < 2 * nthr) T -= 8;
  q.T = T;
  q.Vs = T * Cs + 16;
  const int64_t Ys = T * Ks + 16, MpN = 16 * Cm * Ks;
  const int64_t blocks = (NT + T - 1) / T;
  ng = std::max<int64_t>(
      1, std::min<int64_t>({nthr, blocks, (int64_t{64} << 20) / std::max<int64_t>(MpN, 1)}));
  float* parts = scratch<0>(static_cast<size_t>(ng * MpN));
  double* dbp = reinterpret_cast<double*>(scratch<1>(static_cast<size_t>(2 * ng * Ks)));
  const int64_t G = ng;
  parallel_for(G, (blocks / G) * T * 16 * Cs * Ks * 2, [&](int64_t g0, int64_t g1) {
    float* d = scratch<2>(static_cast<size_t>(dn));
    float* V = scratch<3>(static_cast<size_t>(16 * q.Vs + MR));
    float* Y = scratch<4>(static_cast<size_t>(16 * Ys));
    float* dd = scratch<5>(static_cast<size_t>(ddn + Ks));  // + the block's db sums
    float* dbs = dd + ddn;
    std::memset(d, 0, sizeof(float) * dn);
    std::memset(dd, 0, sizeof(float) * ddn);
    std::memset(V + 16 * q.Vs, 0, sizeof(float) * MR);
    for (int64_t g = g0; g < g1; ++g) {
      float* Mp = parts + g * MpN;
      double* dbt = dbp + g * Ks;
      std::memset(Mp, 0, sizeof(float) * MpN);
      std::fill(dbt, dbt + Ks, 0.0);
      for (int64_t blk = blocks * g / G; blk < blocks * (g + 1) / G; ++blk) {
        const int64_t t0 = blk * T, nt = std::min(T, NT - t0);
        in(t0, nt, d, V);
        std::memset(dbs, 0, sizeof(float) * Ks);
        dyt(t0, nt, dd, Y, Ys, dbs);
        for (int64_t k = 0; k < Ks; ++k) dbt[k] += static_cast<double>(dbs[k]);
        gemm_filter(q, Cm, Ys, nt, V, Y, Mp);
      }
    }
  });
  if (f.db)
    for (int64_t k = 0; k < f.K; ++k) {
      double acc = 0.0;
      for (int64_t g = 0; g < G; ++g) acc += dbp[g * Ks + k];
      f.db[k] = static_cast<float>(acc);
    }
  return parts;
}

}  // namespace

void winograd_filter_f32(const WinoFilterArgs& f) {
  Geo q;
  q.C = f.C, q.K = f.K;
  q.Cs = (f.C + VL - 1) / VL * VL;
  q.Kp = (f.K + NR - 1) / NR;
  q.Ks = q.Kp * NR;
  q.th = (f.OH + 1) / 2, q.tw = (f.OW + 1) / 2;
  const int64_t C = f.C, K = f.K, Cs = q.Cs, Ks = q.Ks, Cm = (Cs + MR - 1) / MR * MR;
  const int64_t NT = f.N * q.th * q.tw;
  if (NT <= 0 || K <= 0 || C <= 0) {
    std::memset(f.dw, 0, sizeof(float) * 9 * std::max<int64_t>(C, 0) * std::max<int64_t>(K, 0));
    if (f.db) std::memset(f.db, 0, sizeof(float) * std::max<int64_t>(K, 0));
    return;
  }
  int64_t T = 384 * 1024 / (16 * 4 * (Cs + Ks));
  T = std::max<int64_t>(16, std::min<int64_t>(T, 256));
  const WinoArgs xa{f.N, f.H, f.W, C, f.OH, f.OW, K, f.pt, f.pl, f.x, nullptr, nullptr, false,
                    nullptr, false, nullptr};
  int64_t ng = 0;
  const float* parts = filter_partials(
      f, q, T, NT, 17 * Cs, 4 * Ks, ng,
      [&](int64_t t0, int64_t nt, float* d, float* V) {
        input_transform(xa, q, t0, nt, d, d + 16 * Cs, V);
      },
      [&](int64_t t0, int64_t nt, float* dd, float* Y, int64_t Ys, float* dbs) {
        dy_transform(f, q, Ys, t0, nt, dd, Y, dbs);
      });
  const int64_t MpN = 16 * Cm * Ks;
  // dw (c, k) = G^T (sum of the partials) G, G^T = [[1, 1/2, 1/2, 0], [0, 1/2, -1/2, 0],
  // [0, 1/2, 1/2, 1]]
  parallel_for(C, Ks * ng, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c)
      for (int64_t k = 0; k < K; k += VL) {
        vf m[4][4], s[3][4];
        for (int e = 0; e < 16; ++e) m[e / 4][e % 4] = vf{};
        for (int64_t g = 0; g < ng; ++g) {
          const float* src = parts + g * MpN + c * Ks + k;
          for (int e = 0; e < 16; ++e) m[e / 4][e % 4] += ld(src + e * Cm * Ks);
        }
        const vf half = bc(0.5f);
        for (int j = 0; j < 4; ++j) {
          const vf a = half * (m[1][j] + m[2][j]), b = half * (m[1][j] - m[2][j]);
          s[0][j] = m[0][j] + a, s[1][j] = b, s[2][j] = a + m[3][j];
        }
        for (int i = 0; i < 3; ++i) {
          const vf a = half * (s[i][1] + s[i][2]), b = half * (s[i][1] - s[i][2]);
          const vf o[3] = {s[i][0] + a, b, a + s[i][3]};
          for (int j = 0; j < 3; ++j) {
            float* dst = f.dw + ((i * 3 + j) * C + c) * K + k;
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
  });
}

void winograd_f32(const WinoArgs& a) {
  Geo q;
  q.C = a.C, q.K = a.K;
  q.Cs = (a.C + VL - 1) / VL * VL;
  q.Kp = (a.K + NR - 1) / NR;
  q.Ks = q.Kp * NR;
  q.th = (a.OH + 1) / 2, q.tw = (a.OW + 1) / 2;
  const int64_t NT = a.N * q.th * q.tw;
  if (NT <= 0 || a.K <= 0) return;
  // Tiles per block: V (16, T, Cs) and M (16, T, Ks) within ~384 KiB (L2), T % MR == 0, and
  // at least two blocks per thread when there are enough tiles.
  int64_t T = 384 * 1024 / (16 * 4 * (q.Cs + q.Ks));
  T = std::max<int64_t>(MR, std::min<int64_t>(T, 32 * MR) / MR * MR);
  const int nthr = max_threads();
  while (T > MR && (NT + T - 1) / T < 2 * nthr) T -= MR;
  q.T = T;
  // one cache line more than the matrices, so that the 16 e's rows map to 16 different L1
  // sets (T * Cs floats are often a multiple of 4 KiB: 16 streams in one set)
  q.Vs = T * q.Cs + 16;
  q.Ms = T * q.Ks + 16;
  float* U = scratch<0>(static_cast<size_t>(16 * q.Kp * q.Cs * NR));
  filter_transform(a, q, U);
  float* biasp = scratch<1>(static_cast<size_t>(q.Ks));
  for (int64_t k = 0; k < q.Ks; ++k) biasp[k] = a.bias && k < a.K ? a.bias[k] : 0.0f;
  const int64_t blocks = (NT + T - 1) / T;
  parallel_for(blocks, T * 16 * q.Cs * q.Ks * 2, [&](int64_t b0, int64_t b1) {
    float* d = scratch<2>(static_cast<size_t>(17 * q.Cs));  // 16 patch pixels + zrow
    float* V = scratch<3>(static_cast<size_t>(16 * q.Vs));
    float* M = scratch<4>(static_cast<size_t>(16 * q.Ms));
    std::memset(d, 0, sizeof(float) * 17 * q.Cs);
    for (int64_t blk = b0; blk < b1; ++blk) {
      const int64_t t0 = blk * T, nt = std::min(T, NT - t0);
      const int64_t rows = (nt + MR - 1) / MR * MR;
      input_transform(a, q, t0, nt, d, d + 16 * q.Cs, V);
      for (int e = 0; e < 16; ++e)  // the last block's rows past nt: zeros, not stale values
        std::memset(V + e * q.Vs + nt * q.Cs, 0, sizeof(float) * (rows - nt) * q.Cs);
      gemm16(q, rows, V, U, M);
      output_transform(a, q, t0, nt, M, biasp);
    }
  });
}

}  // namespace nabi::cpu::NABI_WINO_NS
