// The Winograd phase kernels (conv2d_winograd_phase_kernels.h) for AVX512; entered only when
// gemm_isa() is "avx512". See conv2d_winograd_phase.cpp.
#if defined(NABI_X86)
#define NABI_WINO_NS wino_phase_avx512
#define NABI_WINO_VB 64
#define NABI_WINO_MR 12
#include "cpu/conv2d_winograd_phase_kernels.h"
#endif
