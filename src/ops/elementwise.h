// Small elementwise helpers used by the model (residuals, scaling, norms).
#pragma once

#include <cstddef>

namespace loom::cpu {

// x (n) += y (n)
void add_inplace(float* x, const float* y, size_t n);

// x (n) *= s
void scale_inplace(float* x, float s, size_t n);

// out (1) = sum of x^2 over n elements, accumulated in double
void sum_squares(float* out, const float* x, size_t n);

}  // namespace loom::cpu
