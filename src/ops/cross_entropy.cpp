#include "ops/cross_entropy.h"

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>

namespace loom::cpu {

namespace {

// exp(x) for x <= 0 in plain float arithmetic, so `omp simd` loops vectorize it (a libm call
// per element was half of a tiny model's training step at V = 32000). x = k ln2 + r with
// |r| <= ln2 / 2 (Cody-Waite split of ln2), exp(r) by its degree-6 Taylor polynomial
// (truncation < 1.3e-7 relative), times 2^k built in the exponent bits. Arguments below -87
// are clamped (exp(-87) ~ 1.6e-38, nothing next to the row's max term of 1).
#pragma omp declare simd
inline float exp_nonpositive(float x) {
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2Hi = 0.693145751953125f, kLn2Lo = 1.42860682030941723e-6f;
  constexpr float kRound = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  x = x < -87.0f ? -87.0f : x;
  const float shifted = x * kLog2e + kRound;
  const float k = shifted - kRound;
  const float r = (x - k * kLn2Hi) - k * kLn2Lo;
  float p = 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const int32_t exponent = std::bit_cast<int32_t>(shifted) - std::bit_cast<int32_t>(kRound);  // k
  return p * std::bit_cast<float>((exponent + 127) << 23);
}

// log sum_v exp(row[v]), with the max subtracted first.
float row_logsumexp(const float* row, int V) {
  float max_logit = row[0];
#pragma omp simd reduction(max : max_logit)
  for (int v = 1; v < V; ++v) max_logit = std::max(max_logit, row[v]);
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int v = 0; v < V; ++v) sum += exp_nonpositive(row[v] - max_logit);
  return max_logit + std::log(sum);
}

}  // namespace

void cross_entropy_forward(float* losses, const float* logits, const int* targets, int N, int V) {
#pragma omp parallel for
  for (int n = 0; n < N; ++n) {
    const float* row = logits + static_cast<size_t>(n) * V;  // (V)
    losses[n] = targets[n] < 0 ? 0.0f : row_logsumexp(row, V) - row[targets[n]];
  }
}

void cross_entropy_backward(float* dlogits, const float* logits, const int* targets,
                            const float* dloss, int N, int V) {
#pragma omp parallel for
  for (int n = 0; n < N; ++n) {
    const float* row = logits + static_cast<size_t>(n) * V;  // (V)
    float* drow = dlogits + static_cast<size_t>(n) * V;      // (V), may alias row
    const int target = targets[n];
    if (target < 0) {
      for (int v = 0; v < V; ++v) drow[v] = 0.0f;
      continue;
    }
    const float lse = row_logsumexp(row, V);
    const float target_logit = row[target];
    const float scale = dloss[n];
#pragma omp simd
    for (int v = 0; v < V; ++v) drow[v] = exp_nonpositive(row[v] - lse) * scale;
    drow[target] = (exp_nonpositive(target_logit - lse) - 1.0f) * scale;
  }
}

void token_logprobs(float* logprobs, const float* logits, const int* targets, int N, int V) {
#pragma omp parallel for
  for (int n = 0; n < N; ++n) {
    const float* row = logits + static_cast<size_t>(n) * V;  // (V)
    logprobs[n] = targets[n] < 0 ? 0.0f : row[targets[n]] - row_logsumexp(row, V);
  }
}

}  // namespace loom::cpu
