#include "ops/rmsnorm.h"

#include <cmath>

#include "core/parallel.h"

namespace loom::cpu {

void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight, int N, int C,
                     float eps) {
#pragma omp parallel for if (size_t(N) * C >= kMinParallelElements)
  for (int n = 0; n < N; ++n) {
    const float* x = inp + static_cast<size_t>(n) * C;  // (C)
    float* y = out + static_cast<size_t>(n) * C;        // (C)
    double sum_sq = 0.0;  // in double, over independent lanes (one serial chain was most of the op's time)
#pragma omp simd reduction(+ : sum_sq)
    for (int c = 0; c < C; ++c) sum_sq += static_cast<double>(x[c]) * x[c];
    const float variance = static_cast<float>(sum_sq / C);
    const float r = 1.0f / std::sqrt(variance + eps);
    for (int c = 0; c < C; ++c) y[c] = (x[c] * r) * weight[c];
    rstd[n] = r;
  }
}

// y = x * r * w with r = (mean(x^2) + eps)^(-1/2), so
// dx_k = r * w_k * dy_k - (r^3 / C) * x_k * sum_j dy_j * w_j * x_j.
void rmsnorm_backward(float* dinp, const float* dout, const float* inp, const float* weight,
                      const float* rstd, int N, int C) {
#pragma omp parallel for if (size_t(N) * C >= kMinParallelElements)
  for (int n = 0; n < N; ++n) {
    const float* x = inp + static_cast<size_t>(n) * C;    // (C)
    const float* dy = dout + static_cast<size_t>(n) * C;  // (C)
    float* dx = dinp + static_cast<size_t>(n) * C;        // (C)
    const float r = rstd[n];
    double dot = 0.0;
#pragma omp simd reduction(+ : dot)
    for (int c = 0; c < C; ++c) dot += static_cast<double>(dy[c]) * weight[c] * x[c];
    const float coeff = static_cast<float>(dot) * r * r * r / C;
    for (int c = 0; c < C; ++c) dx[c] += r * weight[c] * dy[c] - coeff * x[c];
  }
}

}  // namespace loom::cpu
