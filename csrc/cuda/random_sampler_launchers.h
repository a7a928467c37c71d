// Host-side entry points of the sampling kernels behind tf.random.categorical /
// tf.random.stateless_categorical on GPU logits, tf.random.stateless_gamma,
// tf.random.stateless_poisson and tf.random.stateless_binomial (and the stateful tf.random.gamma,
// tf.random.poisson, Generator.binomial): random_samplers.cu. Plain C++ declarations
// (no CUDA headers) so the g++-compiled binding (csrc/bindings/bind_cuda_random_samplers.cpp)
// can call them; only in builds with NABI_WITH_CUDA. The conventions of array_launchers.h
// hold: device pointers into C-contiguous buffers, the binding validates every argument first,
// empty work launches nothing, everything is enqueued on nabi::cuda::stream() without
// synchronising.
#pragma once
#include <cstdint>

#include "cuda/allocator.h"  // DType (plain C++)

namespace nabi::cuda::nd {

// ---- random_samplers.cu ---------------------------------------------------------------------
// logits (rows, classes) float32/float64 (classes >= 1), u (rows, n) float64 uniforms in
// [0, 1), cdf a float64 workspace of (rows, classes), y (rows, n) int32/int64. Per row, in
// float64: e = exp(logits - max), cdf = cumsum(e) / sum(e) (the last entry exactly 1), then
//   y[r, j] = the first class c with cdf[r, c] > u[r, j]
// (NumPy's Generator.choice(classes, p=softmax) given its uniforms: searchsorted 'right').
// A row with a NaN or +inf logit, or all logits -inf, has no distribution: its samples are -1.
void categorical_sample(DType logits_dtype, const void* logits, int64_t rows, int64_t classes,
                        const double* u, int64_t n, double* cdf, DType out_dtype, void* y);

// alpha (n,) float64 -> out (n,) float64 standard Gamma(alpha) samples, sample i from its own
// Philox substream: counter (counter_lo, counter_hi) + 256 * i + call, under key (random_ops.py's
// _gamma_counter_std: Marsaglia-Tsang, alpha == 1 by -log1p(-u), alpha == 0 gives 0, alpha < 0
// or NaN gives NaN). When state (int64 [3] on the device: a Generator's [counter_lo,
// counter_hi, key]) is not null, the start is read from it instead of the three arguments.
void gamma_sample(const double* alpha, int64_t n, uint64_t counter_lo, uint64_t counter_hi,
                  uint64_t key, const int64_t* state, double* out);

// lam (n,) float64 -> out (n,) float64 Poisson(lam) counts, sample i on its own substream as
// gamma_sample (random_ops.py's _poisson_counter: Knuth for lam < 10, PTRS above; NaN for a
// negative or NaN rate).
void poisson_sample(const double* lam, int64_t n, uint64_t counter_lo, uint64_t counter_hi,
                    uint64_t key, const int64_t* state, double* out);

// count, prob (n,) float64 -> out (n,) float64 Binomial(count, prob) counts, the same
// substreams (random_ops.py's _binomial_counter: inversion for n q < 10, BTRS above, q the
// smaller of p and 1 - p; count <= 0 or prob <= 0 gives 0, prob >= 1 gives count).
void binomial_sample(const double* count, const double* prob, int64_t n, uint64_t counter_lo,
                     uint64_t counter_hi, uint64_t key, const int64_t* state, double* out);

// state int64 [3] [counter_lo, counter_hi, key] -> out: the same with the 128-bit counter
// moved on by delta (Generator._advance of delta / 256 values). One launch.
void philox_state_advance(const int64_t* state, uint64_t delta, int64_t* out);

}  // namespace nabi::cuda::nd
