// The Winograd F(2x2, 3x3) kernels (conv2d_winograd_kernels.h) for AVX2 + FMA: 8-float vectors,
// 6 x 16 GEMM register tiles. Compiled with the *_avx2.cpp flags (CMakeLists.txt); entered only
// when gemm_isa() is "avx2" (or "avx512" is unavailable). See conv2d_winograd.cpp.
#if defined(NABI_X86)
#define NABI_WINO_NS wino_avx2
#define NABI_WINO_VB 32
#define NABI_WINO_MR 6
#include "cpu/conv2d_winograd_kernels.h"
#endif
