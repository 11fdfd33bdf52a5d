#include "ops/bf16/cross_entropy_bf16.h"

#include <algorithm>
#include <cstddef>

#include "ops/bf16/bf16_convert.h"
#include "ops/cross_entropy.h"

namespace loom::bf16 {

void cross_entropy_forward_backward(float* losses, uint16_t* dlogits, const float* logits, const int* targets,
                                    const float* dloss, int N, int V) {
  constexpr int kSpan = 2048;  // the f32 gradient of a span of the row, in L1, then rounded
#pragma omp parallel for
  for (int n = 0; n < N; ++n) {
    const float* row = logits + static_cast<size_t>(n) * V;  // (V)
    uint16_t* drow = dlogits + static_cast<size_t>(n) * V;   // (V)
    const int target = targets[n];
    if (target < 0) {
      losses[n] = 0.0f;
      std::fill_n(drow, V, uint16_t{0});
      continue;
    }
    const float lse = cpu::row_logsumexp(row, V);
    losses[n] = lse - row[target];
    float span[kSpan];
    for (int v0 = 0; v0 < V; v0 += kSpan) {
      const int count = std::min(kSpan, V - v0);
      cpu::row_gradient_span(span, row, v0, count, target, lse, dloss[n]);
      round_span_to_bf16(drow + v0, span, size_t(count));
    }
  }
}

}  // namespace loom::bf16
