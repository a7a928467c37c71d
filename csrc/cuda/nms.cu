// Greedy hard non-max suppression (see morph_nms_launchers.h), behind
// tf.image.non_max_suppression / _with_scores (sigma 0) / _overlaps / _padded and
// combined_non_max_suppression on GPU tensors. The standard GPU NMS in three steps, per
// problem g of G:
//   1. order: sort_rows (sort.cu) sorts each row of scores descending with ties in ascending
//      index order -- exactly the host path's priority queue order (score, then lower index);
//      NaN sorts first and is skipped by the sweep (NaN > score_thr is false).
//   2. nms_mask_kernel: one thread per (g, i, word w) of the sorted candidates: bit j - 64w of
//      mask[g, i, w] is set when j > i and sim(candidate j, kept i) > thr, i.e. when keeping
//      sorted candidate i suppresses sorted candidate j. Boxes: TF's IOU in float32 with every
//      product and sum rounded on its own (no FMA contraction: the same bits as the NumPy
//      host path), 0 when either box has no area. Overlaps: overlaps[order[j], order[i]].
//      The (G, n, ceil(n/64)) uint64 mask is scratch from the caching allocator.
//   3. nms_sweep_kernel: one block per problem walks the sorted candidates in order. The
//      decision for candidate i (score > score_thr, its bit clear in the removed mask, fewer
//      than max_out kept) is the same in every thread; thread 0 writes the kept index, then
//      the block ORs mask row i into the removed words w >= i/64 in parallel and syncs. A
//      score <= score_thr (not NaN) ends the sweep: every later score is lower.
// idx is zero-filled first (the padding), count written by the sweep.
// Launches: sort_rows' (1 for n <= 2048), 1 mask, 1 sweep; nothing for G == 0.
// soft_nms (Gaussian Soft-NMS, sigma > 0): soft_nms_kernel below, one block per problem,
// a shared-memory argmax per round and the sequential re-weighing in thread 0 (1 launch).
// combined_nms (tf.image.combined_non_max_suppression), all on the device in 5 launches:
//   combined_nms_gather_kernel  one thread per (batch k, class c, box i): the (k, c) problem's
//                               boxes (k, i, q > 1 ? c : 0) and scores (k, i, c), contiguous;
//   nms above                   on the nb * nc problems (sort, mask, sweep: 3 launches);
//   combined_nms_select_kernel  one block per batch: the kept candidates t = c * m + j (class
//                               c's j-th kept) in class-major order; a candidate's output
//                               slot is the number of kept ones with a higher score or an
//                               equal score earlier in that order (a stable descending sort:
//                               the host path's), O((nc m)^2) compares per batch; slots below
//                               max_total_size get the (clipped) box, score and class, the
//                               slots past the valid count zeros.
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "cuda/array_launchers.h"
#include "cuda/common.cuh"
#include "cuda/morph_nms_launchers.h"

namespace nabi::cuda::nd {

namespace {

constexpr int kThreads = 256;
constexpr int kSweepThreads = 128;

#if defined(NABI_CUDA_SIM)  // g++ for baseline x86-64: no FMA to contract into
__device__ __forceinline__ float fmul(float a, float b) { return a * b; }
__device__ __forceinline__ float fadd(float a, float b) { return a + b; }
__device__ __forceinline__ float fsub(float a, float b) { return a - b; }
#else
__device__ __forceinline__ float fmul(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ float fadd(float a, float b) { return __fadd_rn(a, b); }
__device__ __forceinline__ float fsub(float a, float b) { return __fsub_rn(a, b); }
#endif

// The host path's _iou_one(boxes, i, js) for one pair (a: candidate, b: kept).
__device__ __forceinline__ float iou(const float* a, const float* b) {
  const float ya0 = fminf(a[0], a[2]), ya1 = fmaxf(a[0], a[2]);
  const float xa0 = fminf(a[1], a[3]), xa1 = fmaxf(a[1], a[3]);
  const float yb0 = fminf(b[0], b[2]), yb1 = fmaxf(b[0], b[2]);
  const float xb0 = fminf(b[1], b[3]), xb1 = fmaxf(b[1], b[3]);
  const float area_a = fmul(fsub(ya1, ya0), fsub(xa1, xa0));
  const float area_b = fmul(fsub(yb1, yb0), fsub(xb1, xb0));
  if (area_a <= 0.f || area_b <= 0.f) return 0.f;
  const float ih = fmaxf(fsub(fminf(ya1, yb1), fmaxf(ya0, yb0)), 0.f);
  const float iw = fmaxf(fsub(fminf(xa1, xb1), fmaxf(xa0, xb0)), 0.f);
  const float inter = fmul(ih, iw);
  return inter / fsub(fadd(area_a, area_b), inter);
}

__global__ void __launch_bounds__(kThreads)
    nms_mask_kernel(const float* __restrict__ boxes, const float* __restrict__ overlaps,
                    const int32_t* __restrict__ order, int64_t n, int64_t words, float thr,
                    unsigned long long* __restrict__ mask, int64_t total) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < total;
       t += step) {
    const int64_t w = t % words;
    const int64_t gi = t / words;  // g * n + i
    const int64_t g = gi / n, i = gi % n;
    const int32_t* ord = order + g * n;
    const int64_t kept = ord[i];
    unsigned long long bits = 0;
    const int64_t j0 = w * 64;
    const int64_t j1 = j0 + 64 < n ? j0 + 64 : n;
    for (int64_t j = j0 > i + 1 ? j0 : i + 1; j < j1; ++j) {
      const int64_t cand = ord[j];
      const float s = boxes ? iou(boxes + (g * n + cand) * 4, boxes + (g * n + kept) * 4)
                            : overlaps[cand * n + kept];
      if (s > thr) bits |= 1ULL << (j - j0);
    }
    mask[t] = bits;
  }
}

__global__ void __launch_bounds__(kSweepThreads)
    nms_sweep_kernel(const float* __restrict__ sorted, const int32_t* __restrict__ order,
                     const unsigned long long* __restrict__ mask, int64_t n, int64_t words,
                     int64_t max_out, float score_thr, unsigned long long* __restrict__ removed,
                     int32_t* __restrict__ idx, int32_t* __restrict__ count) {
  const int64_t g = blockIdx.x;
  const float* s = sorted + g * n;
  const int32_t* ord = order + g * n;
  const unsigned long long* m = mask + g * n * words;
  unsigned long long* rm = removed + g * words;
  for (int64_t w = threadIdx.x; w < words; w += blockDim.x) rm[w] = 0;
  __syncthreads();
  int64_t kept = 0;
  for (int64_t i = 0; i < n && kept < max_out; ++i) {
    const float si = s[i];
    if (!(si > score_thr)) {
      if (si != si) continue;  // NaN (sorted first): never kept
      break;                   // every later score is <= this one
    }
    if ((rm[i / 64] >> (i % 64)) & 1ULL) continue;
    if (threadIdx.x == 0) idx[g * max_out + kept] = ord[i];
    ++kept;
    const unsigned long long* row = m + i * words;
    for (int64_t w = i / 64 + threadIdx.x; w < words; w += blockDim.x) rm[w] |= row[w];
    __syncthreads();
  }
  if (threadIdx.x == 0) count[g] = static_cast<int32_t>(kept);
}

// Soft-NMS (Gaussian, the host path's _greedy_nms with sigma > 0), one block per problem:
// the candidates live in a scratch (current score, the kept count when last weighed, alive);
// each round the block finds the alive candidate with the highest current score (ties: lower
// index) by a shared-memory argmax, then thread 0 weighs it against the boxes kept since it
// was last weighed, newest first: score *= exp(scale * iou^2) (float32), stopping once
// score <= score_thr; unchanged -> kept, still above the threshold -> back in the queue.
__global__ void __launch_bounds__(kSweepThreads)
    soft_nms_kernel(const float* __restrict__ boxes, const float* __restrict__ scores,
                    int64_t n, int64_t max_out, float score_thr, float scale,
                    float* __restrict__ cur, int32_t* __restrict__ begin,
                    unsigned char* __restrict__ alive, int32_t* __restrict__ idx,
                    float* __restrict__ out_scores, int32_t* __restrict__ count) {
  __shared__ float best_s[kSweepThreads];
  __shared__ int64_t best_i[kSweepThreads];
  __shared__ int64_t kept;
  const int64_t g = blockIdx.x;
  const float* bx = boxes + g * n * 4;
  float* cs = cur + g * n;
  int32_t* bg = begin + g * n;
  unsigned char* al = alive + g * n;
  int32_t* sel = idx + g * max_out;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const float si = scores[g * n + i];
    cs[i] = si;
    bg[i] = 0;
    al[i] = si > score_thr ? 1 : 0;
  }
  if (threadIdx.x == 0) kept = 0;
  __syncthreads();
  while (kept < max_out) {
    float bs = 0.f;
    int64_t bi = -1;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
      if (al[i] && (bi < 0 || cs[i] > bs)) {  // ascending i: ties keep the lower index
        bs = cs[i];
        bi = i;
      }
    best_s[threadIdx.x] = bs;
    best_i[threadIdx.x] = bi;
    __syncthreads();
    for (int w = kSweepThreads / 2; w > 0; w /= 2) {
      if (static_cast<int>(threadIdx.x) < w) {
        const int64_t oi = best_i[threadIdx.x + w];
        const float os = best_s[threadIdx.x + w];
        const int64_t mi = best_i[threadIdx.x];
        if (oi >= 0 && (mi < 0 || os > best_s[threadIdx.x] ||
                        (os == best_s[threadIdx.x] && oi < mi))) {
          best_s[threadIdx.x] = os;
          best_i[threadIdx.x] = oi;
        }
      }
      __syncthreads();
    }
    const int64_t i = best_i[0];
    if (i < 0) break;  // (uniform: every thread reads the same slot)
    if (threadIdx.x == 0) {
      al[i] = 0;
      const float orig = cs[i];
      float score = orig;
      for (int64_t j = kept - 1; j >= bg[i]; --j) {
        const float sim = iou(bx + i * 4, bx + static_cast<int64_t>(sel[j]) * 4);
        const float w = expf(fmul(fmul(scale, sim), sim));
        score = fmul(score, w);
        if (score <= score_thr) break;
      }
      if (score == orig) {
        sel[kept] = static_cast<int32_t>(i);
        out_scores[g * max_out + kept] = score;
        kept = kept + 1;
      } else if (score > score_thr) {
        cs[i] = score;
        bg[i] = static_cast<int32_t>(kept);
        al[i] = 1;
      }
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) count[g] = static_cast<int32_t>(kept);
}

// boxes (nb, n, q, 4), scores (nb, n, nc) -> bx (nb * nc, n, 4), sc (nb * nc, n)
__global__ void __launch_bounds__(kThreads)
    combined_nms_gather_kernel(const float* __restrict__ boxes, const float* __restrict__ scores,
                               int64_t n, int64_t q, int64_t nc, float* __restrict__ bx,
                               float* __restrict__ sc, int64_t total) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < total;
       t += step) {
    const int64_t i = t % n, g = t / n, c = g % nc, k = g / nc;
    const float* b = boxes + ((k * n + i) * q + (q > 1 ? c : 0)) * 4;
    for (int d = 0; d < 4; ++d) bx[t * 4 + d] = b[d];
    sc[t] = scores[(k * n + i) * nc + c];
  }
}

// np.clip(v, 0, 1) (NaN stays NaN)
__device__ __forceinline__ float clip01(float v) { return v < 0.f ? 0.f : (v > 1.f ? 1.f : v); }

__global__ void __launch_bounds__(kSweepThreads)
    combined_nms_select_kernel(const float* __restrict__ bx,      // [nb * nc, n, 4]
                               const float* __restrict__ sc,      // [nb * nc, n]
                               const int32_t* __restrict__ idx,   // [nb * nc, m]
                               const int32_t* __restrict__ count,  // [nb * nc]
                               int64_t nb, int64_t nc, int64_t n, int64_t m, int64_t size,
                               bool clip,
                               float* __restrict__ out_boxes,    // [nb, size, 4]
                               float* __restrict__ out_scores,   // [nb, size]
                               float* __restrict__ out_classes,  // [nb, size]
                               int32_t* __restrict__ valid) {    // [nb]
  for (int64_t k = blockIdx.x; k < nb; k += gridDim.x) {
    int64_t total = 0;
    for (int64_t c = 0; c < nc; ++c) total += count[k * nc + c];
    const int64_t nv = total < size ? total : size;
    if (threadIdx.x == 0) valid[k] = static_cast<int32_t>(nv);
    for (int64_t t = threadIdx.x; t < nc * m; t += blockDim.x) {
      const int64_t c = t / m, j = t % m, g = k * nc + c;
      if (j >= count[g]) continue;
      const int64_t i = idx[g * m + j];
      const float s = sc[g * n + i];
      int64_t rank = 0;
      for (int64_t c2 = 0; c2 < nc && rank < size; ++c2) {
        const int64_t g2 = k * nc + c2;
        const int32_t* id2 = idx + g2 * m;
        const float* s2 = sc + g2 * n;
        for (int64_t j2 = 0, cnt = count[g2]; j2 < cnt; ++j2) {
          const float v = s2[id2[j2]];
          rank += (v > s || (v == s && c2 * m + j2 < t)) ? 1 : 0;
        }
      }
      if (rank >= size) continue;
      const float* b = bx + (g * n + i) * 4;
      float* ob = out_boxes + (k * size + rank) * 4;
      for (int d = 0; d < 4; ++d) ob[d] = clip ? clip01(b[d]) : b[d];
      out_scores[k * size + rank] = s;
      out_classes[k * size + rank] = static_cast<float>(c);
    }
    for (int64_t r = nv + threadIdx.x; r < size; r += blockDim.x) {
      for (int d = 0; d < 4; ++d) out_boxes[(k * size + r) * 4 + d] = 0.f;
      out_scores[k * size + r] = 0.f;
      out_classes[k * size + r] = 0.f;
    }
  }
}

}  // namespace

void nms(const float* boxes, const float* overlaps, const float* scores, int64_t G, int64_t n,
         int64_t max_out, float thr, float score_thr, int32_t* idx, int32_t* count) {
  if (G == 0) return;
  if (max_out > 0) memset_zero(idx, static_cast<size_t>(G * max_out) * sizeof(int32_t));
  if (n == 0 || max_out == 0) {
    memset_zero(count, static_cast<size_t>(G) * sizeof(int32_t));
    return;
  }
  const int64_t words = (n + 63) / 64;
  DeviceBuffer sorted(std::vector<int64_t>{G, n}, DType::Float32);
  DeviceBuffer order(std::vector<int64_t>{G, n}, DType::Int32);
  DeviceBuffer mask(std::vector<int64_t>{G * n * words}, DType::Int64);
  DeviceBuffer removed(std::vector<int64_t>{G * words}, DType::Int64);
  sort_rows(DType::Float32, scores, G, n, /*descending=*/true, n, sorted.data(), DType::Int32,
            order.data());
  const int64_t total = G * n * words;
  nms_mask_kernel<<<grid_for(total, kThreads), kThreads, 0, stream()>>>(
      boxes, overlaps, static_cast<const int32_t*>(order.data()), n, words, thr,
      static_cast<unsigned long long*>(mask.data()), total);
  NABI_CUDA_CHECK_LAUNCH("nms_mask_kernel");
  nms_sweep_kernel<<<static_cast<unsigned>(G), kSweepThreads, 0, stream()>>>(
      static_cast<const float*>(sorted.data()), static_cast<const int32_t*>(order.data()),
      static_cast<const unsigned long long*>(mask.data()), n, words, max_out, score_thr,
      static_cast<unsigned long long*>(removed.data()), idx, count);
  NABI_CUDA_CHECK_LAUNCH("nms_sweep_kernel");
}

}  // namespace nabi::cuda::nd

namespace nabi::cuda::nd {

void soft_nms(const float* boxes, const float* scores, int64_t G, int64_t n, int64_t max_out,
              float score_thr, float scale, int32_t* idx, float* out_scores, int32_t* count) {
  if (G == 0) return;
  if (max_out > 0) {
    memset_zero(idx, static_cast<size_t>(G * max_out) * sizeof(int32_t));
    memset_zero(out_scores, static_cast<size_t>(G * max_out) * sizeof(float));
  }
  if (n == 0 || max_out == 0) {
    memset_zero(count, static_cast<size_t>(G) * sizeof(int32_t));
    return;
  }
  DeviceBuffer cur(std::vector<int64_t>{G, n}, DType::Float32);
  DeviceBuffer begin(std::vector<int64_t>{G, n}, DType::Int32);
  DeviceBuffer alive(std::vector<int64_t>{G, n}, DType::Bool);
  soft_nms_kernel<<<static_cast<unsigned>(G), kSweepThreads, 0, stream()>>>(
      boxes, scores, n, max_out, score_thr, scale, static_cast<float*>(cur.data()),
      static_cast<int32_t*>(begin.data()), static_cast<unsigned char*>(alive.data()), idx,
      out_scores, count);
  NABI_CUDA_CHECK_LAUNCH("soft_nms_kernel");
}

}  // namespace nabi::cuda::nd

namespace nabi::cuda::nd {

void combined_nms(const float* boxes, const float* scores, int64_t nb, int64_t n, int64_t q,
                  int64_t nc, int64_t max_per_class, int64_t size, float thr, float score_thr,
                  bool clip, float* out_boxes, float* out_scores, float* out_classes,
                  int32_t* valid) {
  if (nb == 0) return;
  const int64_t G = nb * nc, m = max_per_class;
  DeviceBuffer bx(std::vector<int64_t>{G, n, 4}, DType::Float32);
  DeviceBuffer sc(std::vector<int64_t>{G, n}, DType::Float32);
  DeviceBuffer idx(std::vector<int64_t>{G, m}, DType::Int32);
  DeviceBuffer count(std::vector<int64_t>{G}, DType::Int32);
  const int64_t total = G * n;
  if (total > 0) {
    combined_nms_gather_kernel<<<grid_for(total, kThreads), kThreads, 0, stream()>>>(
        boxes, scores, n, q, nc, static_cast<float*>(bx.data()), static_cast<float*>(sc.data()),
        total);
    NABI_CUDA_CHECK_LAUNCH("combined_nms_gather_kernel");
  }
  nms(static_cast<const float*>(bx.data()), nullptr, static_cast<const float*>(sc.data()), G, n,
      m, thr, score_thr, static_cast<int32_t*>(idx.data()), static_cast<int32_t*>(count.data()));
  combined_nms_select_kernel<<<static_cast<unsigned>(nb < 65535 ? nb : 65535), kSweepThreads, 0,
                               stream()>>>(
      static_cast<const float*>(bx.data()), static_cast<const float*>(sc.data()),
      static_cast<const int32_t*>(idx.data()), static_cast<const int32_t*>(count.data()), nb, nc,
      n, m, size, clip, out_boxes, out_scores, out_classes, valid);
  NABI_CUDA_CHECK_LAUNCH("combined_nms_select_kernel");
}

}  // namespace nabi::cuda::nd
