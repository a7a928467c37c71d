// The Winograd F(2x2, 3x3) kernels (conv2d_winograd_kernels.h) for AVX-512: 16-float vectors,
// 12 x 32 GEMM register tiles. Compiled with the *_avx512.cpp flags (CMakeLists.txt); entered
// only when gemm_isa() is "avx512". See conv2d_winograd.cpp.
#if defined(NABI_X86)
#define NABI_WINO_NS wino_avx512
#define NABI_WINO_VB 64
#define NABI_WINO_MR 12
#include "cpu/conv2d_winograd_kernels.h"
#endif
