// RMSNorm as HF's LlamaRMSNorm: x * rsqrt(mean(x^2) + eps) * weight, in f32.
#pragma once

namespace loom::cpu {

// out (N, C), rstd (N) kept for backward; inp (N, C), weight (C)
void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight, int N, int C,
                     float eps);

// dinp (N, C) += gradient through the norm; the norm weight is frozen (no weight gradient).
void rmsnorm_backward(float* dinp, const float* dout, const float* inp, const float* weight,
                      const float* rstd, int N, int C);

}  // namespace loom::cpu
