// The AVX-512 implicit-GEMM tiles of conv2d_avx512.cpp, as conv2d.cpp calls them (x86 only;
// entered after a runtime avx512f check). Layouts: see conv2d_avx512.cpp's opening comment.
#pragma once
#include <cstdint>

namespace nabi::cpu::avx512 {

// A group of output pixels run as tiles of mr (6, 7 or 8): pixel k's run starts at
// xp + offs[k], its outputs at y + yoffs[k] (null: y + k * CO); ranges (optional): per tile,
// {ilo, ihi, tlo, thi}, the filter rows and run positions that meet the image.
struct IgGroup {
  int64_t mr, n;
  const int64_t* offs;
  const int64_t* yoffs;
  const int32_t* ranges;
};

int64_t ig_pick_mr(int64_t P);
void ig_image_f32(int64_t mr, const float* xp, const int64_t* offs, int64_t P, int64_t KH,
                  int64_t seg, int64_t rs, const float* wp, int64_t CO, const float* bias,
                  bool relu, float* y, const int64_t* yoffs, bool acc = false,
                  const int32_t* ranges = nullptr);
// Several groups over one padded image, each chunk of the packed filter read once for all.
void ig_groups_f32(const IgGroup* groups, int64_t ngroups, const float* xp, int64_t KH,
                   int64_t seg, int64_t rs, const float* wp, int64_t CO, const float* bias,
                   bool relu, float* y);
void ig_filter_image_f32(const float* xp, const float* dyn, float* part, int64_t OH, int64_t OW,
                         int64_t KH, int64_t seg, int64_t rs, int64_t dhrs, int64_t astep,
                         int64_t CO, int64_t nimg, int64_t xstride);

}  // namespace nabi::cpu::avx512
