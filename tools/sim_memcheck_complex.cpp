// Memcheck of the complex / FFT kernels (csrc/cuda/complex.cu, fft.cu) under the CUDA host
// simulator with AddressSanitizer, without building the whole module: every launcher entry
// over awkward sizes (0, 1, primes, broadcasting, Bluestein lengths, > 1024), each input and
// output its own heap block of exactly its size (ASan's redzones around each; scratch too with
// NABI_SIM_EXACT_ALLOC=1), and the FFTs checked against a direct DFT in double.
// Build and run: bash tools/sim-memcheck-complex.sh (a few minutes on two cores).
#include <cmath>
#include <complex>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>
#include "cuda/complex_launchers.h"
using namespace nabi::cuda;
using namespace nabi::cuda::nd;

template <typename T>
std::unique_ptr<T[]> buf(size_t n, double seed) {
  std::unique_ptr<T[]> p(new T[n ? n : 1]);  // n == 0: a 1-element block, never read
  for (size_t i = 0; i < n; ++i) p[i] = T(std::sin(seed + 0.37 * i));
  return p;
}
template <typename R>
void run_all(DType cd, DType rd) {
  using C = std::complex<R>;
  for (int64_t n : {0, 1, 2, 3, 7, 64, 257}) {
    auto x = buf<R>(2 * n, 1.0);
    for (int op = 0; op <= int(ComplexUnaryOp::Tanh); ++op) {
      const bool part = op < int(ComplexUnaryOp::Conj);
      if (part) { auto y = buf<R>(n, 0); complex_unary(ComplexUnaryOp(op), cd, x.get(), y.get(), n); }
      else { auto y = buf<R>(2 * n, 0); complex_unary(ComplexUnaryOp(op), cd, x.get(), y.get(), n); }
    }
    // casts both ways
    auto r = buf<R>(n, 2.0);
    auto y = buf<R>(2 * n, 0);
    complex_cast(rd, r.get(), cd, y.get(), n);
    complex_cast(cd, x.get(), rd, r.get(), n);
    auto i64 = buf<int64_t>(n, 0);
    complex_cast(DType::Int64, i64.get(), cd, y.get(), n);
  }
  // broadcasting binary ops: a (3, 1, 5), b (4, 1) -> (3, 4, 5); strides as the binding's
  const std::vector<int64_t> shape{3, 4, 5}, as{5, 0, 1}, bs{0, 1, 0};
  auto a = buf<R>(2 * 15, 0.5), b = buf<R>(2 * 4, 0.25);
  for (int op = 0; op <= int(ComplexBinaryOp::Pow); ++op) {
    auto y = buf<R>(2 * 60, 0);
    complex_binary(ComplexBinaryOp(op), cd, a.get(), as, b.get(), bs, y.get(), shape);
  }
  {
    auto re = buf<R>(15, 0.1), im = buf<R>(4, 0.2);
    auto y = buf<R>(2 * 60, 0);
    complex_binary(ComplexBinaryOp::Make, cd, re.get(), as, im.get(), bs, y.get(), shape);
  }
  // products along an axis
  for (auto d : std::vector<std::vector<int64_t>>{{1, 1, 1}, {3, 5, 4}, {1, 300, 1}, {7, 1, 3},
                                                  {2, 0, 3}, {5, 2, 1}}) {
    auto x = buf<R>(2 * d[0] * d[1] * d[2], 0.3);
    auto y = buf<R>(2 * d[0] * d[2], 0);
    complex_prod(cd, x.get(), d[0], d[1], d[2], y.get());
  }
  // FFTs: powers of two (shared-memory and per-stage), Bluestein, and check against a DFT
  double worst = 0;
  for (int64_t n : {1, 2, 3, 5, 8, 12, 17, 64, 100, 127, 1024, 1025, 2048, 4096, 3000}) {
    for (int64_t batch : {1, 3}) {
      auto x = buf<R>(2 * batch * n, 0.7);
      auto y = buf<R>(2 * batch * n, 0);
      for (int inv = 0; inv < 2; ++inv) {
        fft_c2c(cd, x.get(), batch, n, inv, 1.0, y.get());
        if (n <= 257) {
          const C* xc = reinterpret_cast<const C*>(x.get());
          const C* yc = reinterpret_cast<const C*>(y.get());
          for (int64_t bb = 0; bb < batch; ++bb)
            for (int64_t k = 0; k < n; ++k) {
              std::complex<double> s = 0;
              for (int64_t t = 0; t < n; ++t)
                s += std::complex<double>(xc[bb * n + t]) *
                     std::polar(1.0, (inv ? 2 : -2) * M_PI * double(k * t % n) / n);
              worst = std::max(worst, std::abs(s - std::complex<double>(yc[bb * n + k])) /
                                          std::sqrt(double(n)));
            }
        }
      }
    }
  }
  for (int64_t m : {0, 1, 3, 5, 9}) {
    for (int64_t n : {0, 1, 2, 8, 9, 16}) {
      auto x = buf<R>(2 * 2 * m, 0.9);
      auto y = buf<R>(2 * 2 * n, 0);
      fft_hermitian(cd, x.get(), 2, m, n, y.get());
    }
  }
  const double tol = sizeof(R) == 4 ? 1e-5 : 1e-13;
  std::printf("%s: fft worst error / sqrt(n) %.3g (tolerance %.0e)\n",
              sizeof(R) == 4 ? "complex64" : "complex128", worst, tol);
  if (!(worst <= tol)) std::exit(1);
}

int main() {
  run_all<float>(DType::Complex64, DType::Float32);
  run_all<double>(DType::Complex128, DType::Float64);
  std::printf("done\n");
  return 0;
}
