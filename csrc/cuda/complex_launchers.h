// Host-side entry points of the complex kernels behind nabi's complex64 / complex128 GPU
// tensors: the elementwise family (complex.cu) and the FFTs (fft.cu). Plain C++ declarations
// for the g++-compiled binding (csrc/bindings/bind_cuda_complex.cpp); only in builds with
// NABI_WITH_CUDA. The conventions of array_launchers.h hold (the binding validates first;
// empty work launches nothing). A complex element is an interleaved (re, im) pair of its
// component dtype: float for complex64, double for complex128, as NumPy stores it.
#pragma once
#include <cstdint>
#include <vector>

#include "cuda/allocator.h"  // DType (plain C++)

namespace nabi::cuda::nd {

// The real dtype of a complex dtype's parts, and the complex dtype of a float dtype.
inline DType complex_part_dtype(DType c) {
  return c == DType::Complex64 ? DType::Float32 : DType::Float64;
}
inline DType complex_of_dtype(DType f) {
  return f == DType::Float32 ? DType::Complex64 : DType::Complex128;
}

// ---- complex.cu ---------------------------------------------------------------------------
// y[i] = op(x[i]) over n contiguous complex elements of x_dtype. Real, Imag, Abs (hypot) and
// Angle (atan2(im, re)) write the part dtype; the others write x_dtype: Conj, Neg and the
// elementary functions of complex_elementary.cuh (C99 / NumPy branch cuts and special values;
// Square, Reciprocal, Sign, Expm1 are NumPy's formulas), the inverse ones (Asin .. Atanh:
// NumPy's arcsin .. arctanh) in a kernel of their own.
enum class ComplexUnaryOp : int {
  Real, Imag, Abs, Angle, Conj, Neg,
  Exp, Expm1, Log, Log1p, Sqrt, Square, Reciprocal, Sign, Sin, Cos, Tan, Sinh, Cosh, Tanh,
  Asin, Acos, Atan, Asinh, Acosh, Atanh
};
void complex_unary(ComplexUnaryOp op, DType x_dtype, const void* x, void* y, int64_t n);

// y = op(a, b) with NumPy broadcasting (strides as array_launchers.h's binary: one per dim of
// `shape`, 0 on broadcast dims), y contiguous of complex dtype `dtype`. Add / Sub / Mul / Div
// take complex a, b of `dtype` (Div: Smith's scaling, no overflow for large parts); Pow is
// NumPy's a ** b (complex_elementary.cuh's cpow); Make takes real a, b of the part dtype and
// gives a + i b (tf.complex).
enum class ComplexBinaryOp : int { Add, Sub, Mul, Div, Pow, Make };
void complex_binary(ComplexBinaryOp op, DType dtype, const void* a,
                    const std::vector<int64_t>& a_strides, const void* b,
                    const std::vector<int64_t>& b_strides, void* y,
                    const std::vector<int64_t>& shape);

// y[o, k] = prod_j x[o, j, k] for x (outer, n, inner) contiguous complex of dtype, y (outer,
// inner): NumPy's order (x[o, 0, k] times each next one; 1 where n = 0), one thread per output.
void complex_prod(DType dtype, const void* x, int64_t outer, int64_t n, int64_t inner, void* y);

// y = x.astype(to) over n contiguous elements, where from or to is complex: a real source
// (float32/float64/int32/int64/bool) becomes (x, 0); complex -> complex converts both parts;
// complex -> float32/float64 keeps the real part. (complex -> int/bool: the binding goes
// through the part dtype and array_launchers.h's cast.)
void complex_cast(DType from, const void* x, DType to, void* y, int64_t n);

// ---- fft.cu -------------------------------------------------------------------------------
// y[b, k] = scale * sum_t x[b, t] exp(sign 2 pi i k t / n), sign -1 (forward) or +1
// (inverse, unscaled unless scale says so), for batch rows of n contiguous complex elements
// of dtype; y must not overlap x. Any n >= 1 (power of two: Stockham radix-2; otherwise
// Bluestein's chirp-z through a power-of-two FFT).
void fft_c2c(DType dtype, const void* x, int64_t batch, int64_t n, bool inverse, double scale,
             void* y);

// Hermitian completion for irfft: x (batch, m) complex, y (batch, n) complex with
// y[b, k] = X[b, k] for k <= n / 2 and conj(X[b, n - k]) above, where X is x cropped or
// zero-padded to n / 2 + 1 bins (numpy.fft.irfft's reading of its input).
void fft_hermitian(DType dtype, const void* x, int64_t batch, int64_t m, int64_t n, void* y);

}  // namespace nabi::cuda::nd
