#include "ops/cross_entropy.h"

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "core/fast_exp.h"

namespace loom::cpu {

namespace {

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
