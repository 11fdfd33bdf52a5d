#include "ops/cross_entropy.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "core/fast_exp.h"

namespace loom::cpu {

namespace {

// max of x (n >= 1) in 16 running maxima, which GCC vectorizes (it leaves a max reduction,
// omp simd or not, scalar: 80% of the log-sum-exp's time went to it).
float max_of(const float* x, int n) {
  constexpr int kLanes = 16;
  float lanes[kLanes];
  std::fill_n(lanes, kLanes, x[0]);
  int i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) lanes[l] = lanes[l] < x[i + l] ? x[i + l] : lanes[l];
  float result = *std::max_element(lanes, lanes + kLanes);
  for (; i < n; ++i) result = std::max(result, x[i]);
  return result;
}

}  // namespace

// In one pass over memory, span by span (kLseSpan values, which stay in
// L1 for the span's second read), the span's max, then its sum of exponentials relative to the
// running max, the sum so far rescaled when the max grows. A row of logits (V floats, 128 to
// 200 KB) does not fit in L1, so reading it twice, max then sum, cost two passes to L2 or memory.
float row_logsumexp(const float* row, int V) {
  constexpr int kLseSpan = 2048;
  float max_logit = -std::numeric_limits<float>::infinity();
  float sum = 0.0f;
  for (int v0 = 0; v0 < V; v0 += kLseSpan) {
    const int end = std::min(V, v0 + kLseSpan);
    const float span_max = max_of(row + v0, end - v0);
    if (span_max > max_logit) {
      sum *= exp_nonpositive(max_logit - span_max);  // 0 before the first span
      max_logit = span_max;
    }
    float span_sum = 0.0f;
#pragma omp simd reduction(+ : span_sum)
    for (int v = v0; v < end; ++v) span_sum += exp_nonpositive(row[v] - max_logit);
    sum += span_sum;
  }
  return max_logit + std::log(sum);
}

void row_gradient_span(float* out, const float* row, int begin, int count, int target, float lse, float scale) {
  const float target_logit = row[target];  // before out, which may alias the row, is written
#pragma omp simd
  for (int v = 0; v < count; ++v) out[v] = exp_nonpositive(row[begin + v] - lse) * scale;
  if (target >= begin && target < begin + count) out[target - begin] = (exp_nonpositive(target_logit - lse) - 1.0f) * scale;
}

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
    if (targets[n] < 0)
      std::fill_n(drow, V, 0.0f);
    else
      row_gradient_span(drow, row, 0, V, targets[n], row_logsumexp(row, V), dloss[n]);
  }
}

void cross_entropy_forward_backward(float* losses, float* dlogits, const float* logits, const int* targets,
                                    const float* dloss, int N, int V) {
#pragma omp parallel for
  for (int n = 0; n < N; ++n) {
    const float* row = logits + static_cast<size_t>(n) * V;  // (V)
    float* drow = dlogits + static_cast<size_t>(n) * V;      // (V), may alias row
    const int target = targets[n];
    if (target < 0) {
      losses[n] = 0.0f;
      std::fill_n(drow, V, 0.0f);
      continue;
    }
    const float lse = row_logsumexp(row, V);
    losses[n] = lse - row[target];  // before the row is overwritten, should drow alias it
    row_gradient_span(drow, row, 0, V, target, lse, dloss[n]);
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
