// Winograd minimal filtering F(2x2, 3x3) (Lavin & Gray 2015, "Fast Algorithms for Convolutional
// Neural Networks") for 3x3, stride-1, dilation-1 float32 convolutions on the CPU: 16 multiplies
// per 2x2 output tile and channel pair instead of 36 (2.25x fewer), the transforms being adds.
//   x (N, H, W, C) NHWC, w (3, 3, C, K) HWIO, y (N, OH, OW, K) NHWC; any padding: output (oh, ow)
//   reads x (oh + i - pt, ow + j - pl), zeros outside.
// Per output tile (2x2 outputs at (2a, 2b), reading the 4x4 input patch d at (2a - pt, 2b - pl)):
//   Y = A^T [ U (.) V ] A, U = G g G^T (per (c, k)), V = B^T d B (per c), summed over c:
//   B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
//   G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]],
//   A^T = [[1, 1, 1, 0], [0, 1, -1, -1]].
// Every entry is 0, +-1 or +-1/2, so the transforms round little: the error stays close to the
// direct convolution's (the tests hold it to the same tolerance against float64).
// Blocking: U (16, K/NR panels, C, NR) is computed once per call (in double, then rounded). The
// tiles (all images' tiles in one flat order) go in blocks of T tiles, T such that the block's
// V (16, T, C) and M (16, T, K) stay in L2 (~384 KiB); threads take blocks. Per block: the input
// transform gathers each tile's 4x4xC patch and writes V; then 16 GEMMs M[e] = V[e] @ U[e]
// (register tile MR x 2 vectors: 12 x 32 on AVX-512, 6 x 16 on AVX2, 6 x 8 portable, U's C x NR
// panel and V[e] in L1); then the output transform writes the tile's outputs, bias and ReLU
// included, skipping those past OH / OW (odd sizes: partial tiles). C and K are padded to whole
// vectors with zeros inside the scratch buffers only.
// Backward-data (dx) of the same convolution is the forward of the transposed one: dy padded by
// (2 - pt, 2 - pl), the filter flipped with its channel axes swapped (read so from w, no copy),
// a fused ReLU's mask applied while the patch is gathered. conv2d.cpp also uses it for a
// stride-1 3x3 Conv2DTranspose's forward (bias + ReLU over dx's channels).
// Filter gradient, F(3x3, 2x2): dw[i][j] (c, k) sums x (c) times dy (k) over the 2x2 blocks of
// dy (the forward's output tiles) and their 4x4 input patches, so per block it is the 3x3
// correlation of the patch with the 2x2 block: G^T [ (A y A^T) (.) (B^T d B) ] G, with the
// same B, G and A as above (A = (A^T)^T, 4 x 2). Summed over blocks before the final G^T . G:
// per block of T tiles, V as for the forward, Y (16, T, K) = A y A^T (masked dy), then
// Mp[e] (C, K) += V[e]^T @ Y[e] (register tile MR channels x 2 vectors, reducing over the T
// tiles) into a per-thread partial; the partials are summed and transformed into dw at the
// end; db (the dy sums, in double per block) comes with the dy transform.
// The kernels (conv2d_winograd_kernels.h) are compiled three times: here (portable, 16-byte
// vectors), conv2d_winograd_avx2.cpp and conv2d_winograd_avx512.cpp; gemm_isa() picks one per call
// (so _C._gemm_force_isa, as the tests' isa fixture does, switches them too).
// Switch: NABI_CONV_WINOGRAD=0 (direct kernels only), =1 (Winograd for every 3x3 stride-1
// float32 conv), unset: conv2d_winograd_use's measured rule (the forward's for dw too).
// F(4x4, 3x3) was tried (1.1-1.6x faster than F(2x2) on the bench shapes) and left out: its
// error against float64 (max 3.6e-4 on 14x14x32->64; F(2x2) 1.8e-5, direct 5e-5) is outside
// the conv tests' rtol = atol = 1e-4.
// Measured (idle 2-core Zen 4, batch 100 14x14x32->64 'same', direct -> Winograd, ms): one
// thread fwd 7.0 -> 4.6, fwd + dx + dw 21.7 -> 14.5 (torch 7.4 / 23.3); two threads 3.8 -> 2.6,
// 12.0 -> 8.5 (torch 4.4 / 14.3). bench/run.py conv: nabi/torch 1.08 -> 0.68 fwd, 0.91 -> 0.60
// fwd+bwd; cifar's 3x3 32/64-channel convs 0.95 -> 0.56-0.68 fwd+bwd.
// Test:  PYTHONPATH=python python3 -m pytest -q -p no:randomly tests/test_conv_winograd.py
// Bench: PYTHONPATH=python /work/venv-bench/bin/python bench/run.py conv cifar --out DIR
//        (A/B: the same with NABI_CONV_WINOGRAD=0)
#define NABI_WINO_NS wino_portable
#define NABI_WINO_VB 16
#define NABI_WINO_MR 6
#include "cpu/conv2d_winograd_kernels.h"

#include <cstdlib>
#include <cstring>

#include "cpu/gemm.h"

namespace nabi::cpu {
namespace {

void run(const WinoArgs& a) {
#if defined(NABI_X86)
  const char* isa = gemm_isa();
  if (std::strcmp(isa, "avx512") == 0) return wino_avx512::winograd_f32(a);
  if (std::strcmp(isa, "avx2") == 0) return wino_avx2::winograd_f32(a);
#endif
  wino_portable::winograd_f32(a);
}

void run_filter(const WinoFilterArgs& f) {
#if defined(NABI_X86)
  const char* isa = gemm_isa();
  if (std::strcmp(isa, "avx512") == 0) return wino_avx512::winograd_filter_f32(f);
  if (std::strcmp(isa, "avx2") == 0) return wino_avx2::winograd_filter_f32(f);
#endif
  wino_portable::winograd_filter_f32(f);
}

}  // namespace

bool conv2d_winograd_use(const Conv2dShape& s, bool dx) {
  if (s.KH != 3 || s.KW != 3 || s.sh != 1 || s.sw != 1 || s.dh != 1 || s.dw != 1) return false;
  if (s.N <= 0 || s.C <= 0 || s.CO <= 0 || s.OH <= 0 || s.OW <= 0 || s.H <= 0 || s.W <= 0)
    return false;
  const char* e = std::getenv("NABI_CONV_WINOGRAD");
  if (e && e[0] == '0' && e[1] == '\0') return false;
  if (e && e[0] == '1' && e[1] == '\0') return true;
  // Auto: the channels padded to whole vectors / register-tile columns (the Winograd GEMM's
  // reduction Cs and columns Ks; the direct tiles' columns); the Winograd multiply-adds plus
  // 30% for its transforms and 16 tiles' worth for the filter transform and the call, against
  // the direct kernels' 9 per output pixel (for dx the transposed conv's; the per-tap 'valid'
  // dx kernel does 9 per dy pixel). Measured on one thread (AVX-512 and AVX2): 14x14x32->64
  // 'same', 32x32x32->32 / 16x16x64->64 / 6x6x64->64 'valid', 16x16x16->16: 1.3-1.9x faster
  // forward, 1.2-1.4x dx; slower with 8 channels in or out (8->32, 32->8, 8->8), on a 4x4 image.
  if (s.C < 16 || s.CO < 16) return false;
  int64_t vl = 4;
#if defined(NABI_X86)
  const char* isa = gemm_isa();
  vl = std::strcmp(isa, "avx512") == 0 ? 16 : std::strcmp(isa, "avx2") == 0 ? 8 : 4;
#endif
  auto up = [](int64_t v, int64_t m) { return (v + m - 1) / m * m; };
  const int64_t Cin = dx ? s.CO : s.C, Cout = dx ? s.C : s.CO;  // the conv the kernels run
  const int64_t OH = dx ? s.H : s.OH, OW = dx ? s.W : s.OW;
  const double cs = static_cast<double>(up(Cin, vl)), ks = static_cast<double>(up(Cout, 2 * vl));
  const double tiles = static_cast<double>(s.N * ((OH + 1) / 2) * ((OW + 1) / 2));
  const double wino = (tiles * 16.0 * 1.3 + 256.0) * cs * ks;
  const double pixels = static_cast<double>(s.N * (dx ? s.OH * s.OW : OH * OW));
  const double direct = pixels * 9.0 * static_cast<double>(Cin) * ks;
  return wino <= direct;
}

void conv2d_winograd_forward(const Conv2dShape& s, const float* x, const float* w, const float* b,
                             bool relu, float* y) {
  run(WinoArgs{s.N, s.H, s.W, s.C, s.OH, s.OW, s.CO, s.pt, s.pl, x, nullptr, w, false, b, relu,
               y});
}

bool conv2d_winograd_use_filter(const Conv2dShape& s) { return conv2d_winograd_use(s, false); }

void conv2d_winograd_backward_filter(const Conv2dShape& s, const float* x, const float* dy,
                                     const float* relu_y, float* dw, float* db) {
  run_filter(
      WinoFilterArgs{s.N, s.H, s.W, s.C, s.OH, s.OW, s.CO, s.pt, s.pl, x, dy, relu_y, dw, db});
}

void conv2d_winograd_backward_data(const Conv2dShape& s, const float* w, const float* dy,
                                   const float* relu_y, const float* b, bool relu, float* dx) {
  run(WinoArgs{s.N, s.OH, s.OW, s.CO, s.H, s.W, s.C, 2 - s.pt, 2 - s.pl, dy, relu_y, w, true, b,
               relu, dx});
}

}  // namespace nabi::cpu
