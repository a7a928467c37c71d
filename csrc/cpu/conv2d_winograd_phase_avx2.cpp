// The Winograd phase kernels (conv2d_winograd_phase_kernels.h) for AVX2; entered only when
// gemm_isa() is "avx2". See conv2d_winograd_phase.cpp.
#if defined(NABI_X86)
#define NABI_WINO_NS wino_phase_avx2
#define NABI_WINO_VB 32
#define NABI_WINO_MR 6
#include "cpu/conv2d_winograd_phase_kernels.h"
#endif
