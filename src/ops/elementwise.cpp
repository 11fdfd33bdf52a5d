#include "ops/elementwise.h"

#include "core/parallel.h"

namespace loom::cpu {

void add_inplace(float* x, const float* y, size_t n) {
#pragma omp parallel for if (n >= kMinParallelElements)
  for (size_t i = 0; i < n; ++i) x[i] += y[i];
}

void scale_inplace(float* x, float s, size_t n) {
#pragma omp parallel for if (n >= kMinParallelElements)
  for (size_t i = 0; i < n; ++i) x[i] *= s;
}

void sum_squares(float* out, const float* x, size_t n) {
  double sum = 0.0;
#pragma omp parallel for reduction(+ : sum)
  for (size_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * x[i];
  out[0] = static_cast<float>(sum);
}

}  // namespace loom::cpu
