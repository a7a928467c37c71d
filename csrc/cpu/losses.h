// Fused losses with their backprop, float32/float64, contiguous buffers.
//   softmax_xent:        loss[r] = -sum_j labels[r,j] * log_softmax(logits)[r,j]
//                        (log-sum-exp form; a zero label contributes 0 even for a -inf logit)
//                        backprop = softmax(logits) - labels           (TF's backprop)
//   sparse_softmax_xent: the same with integer class labels (validated by the caller)
//   sigmoid_xent:        loss = max(x,0) - x*z + log1p(exp(-|x|)), backprop = sigmoid(x) - z
#pragma once
#include <cstdint>

namespace nabi::cpu {

template <typename T>
void softmax_xent(const T* labels, const T* logits, T* loss, T* backprop, int64_t rows,
                  int64_t cols);
template <typename T, typename L>
void sparse_softmax_xent(const L* labels, const T* logits, T* loss, T* backprop, int64_t rows,
                         int64_t cols);
template <typename T>
void sigmoid_xent(const T* labels, const T* logits, T* loss, T* backprop, int64_t n);

}  // namespace nabi::cpu
