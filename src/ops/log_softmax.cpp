#include "ops/log_softmax.h"

#include <algorithm>
#include <cmath>
#include <cstddef>

namespace loom::cpu {

void log_softmax_stats(float* logprobs, float* entropy, float* log_dists, const float* logits, const int* targets,
                       int N, int V) {
#pragma omp parallel for
  for (int n = 0; n < N; ++n) {
    const float* row = logits + size_t(n) * V;  // (V)
    const float max_logit = *std::max_element(row, row + V);
    double sum = 0.0, weighted = 0.0;
    for (int v = 0; v < V; ++v) {
      const double e = std::exp(double(row[v] - max_logit));
      sum += e;
      weighted += e * row[v];
    }
    const double logsumexp = max_logit + std::log(sum);
    if (logprobs) logprobs[n] = float(row[targets[n]] - logsumexp);
    if (entropy) entropy[n] = float(logsumexp - weighted / sum);
    if (log_dists) {
      float* dist = log_dists + size_t(n) * V;  // (V)
      for (int v = 0; v < V; ++v) dist[v] = float(row[v] - logsumexp);
    }
  }
}

void log_softmax_backward(float* dlogits, const float* logits, const int* targets, const float* dlogprobs, int N,
                          int V) {
#pragma omp parallel for
  for (int n = 0; n < N; ++n) {
    const float* row = logits + size_t(n) * V;  // (V)
    float* drow = dlogits + size_t(n) * V;      // (V), may alias row
    const float max_logit = *std::max_element(row, row + V);
    double sum = 0.0;
    for (int v = 0; v < V; ++v) sum += std::exp(double(row[v] - max_logit));
    const float g = dlogprobs[n];
    for (int v = 0; v < V; ++v) drow[v] = float(-g * std::exp(double(row[v] - max_logit)) / sum);
    drow[targets[n]] += g;
  }
}

}  // namespace loom::cpu
