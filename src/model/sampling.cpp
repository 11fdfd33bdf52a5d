#include "model/sampling.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/check.h"

namespace loom {

void validate_sampling_options(const SamplingOptions& options) {
  if (options.greedy) return;
  LOOM_REQUIRE(options.temperature > 0.0f && std::isfinite(options.temperature),
               "temperature must be a positive number when sampling, got ", options.temperature,
               " (use greedy decoding for argmax)");
  LOOM_REQUIRE(options.top_k >= 0, "top_k must be >= 0 (0 = off), got ", options.top_k);
  LOOM_REQUIRE(options.top_p > 0.0f && options.top_p <= 1.0f, "top_p must be in (0, 1], got ", options.top_p);
}

TokenSampler::TokenSampler(int V) : V_(V), order_(V), probs_(V) { LOOM_ASSERT(V > 0); }

int TokenSampler::keep_top_k(const float* logits, int k) {
  const auto larger = [logits](int a, int b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
  std::nth_element(order_.begin(), order_.begin() + (k - 1), order_.end(), larger);
  const float kth = logits[order_[k - 1]];
  // Ties with the k-th value stay, as HF's TopKLogitsWarper removes only logits < kth.
  const auto end = std::partition(order_.begin() + k, order_.end(), [&](int id) { return logits[id] >= kth; });
  const int count = static_cast<int>(end - order_.begin());
  sort_by_logit(logits, count);
  return count;
}

void TokenSampler::sort_by_logit(const float* logits, int count) {
  std::sort(order_.begin(), order_.begin() + count,
            [logits](int a, int b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
}

TokenChoice TokenSampler::choose(const float* logits, const SamplingOptions& options, float u) {
  // The raw model distribution: log p(i) = logits[i] - lse.
  int argmax = 0;
  for (int i = 1; i < V_; ++i)
    if (logits[i] > logits[argmax]) argmax = i;
  const double max_logit = logits[argmax];
  double sum = 0.0;
  for (int i = 0; i < V_; ++i) sum += std::exp(double(logits[i]) - max_logit);
  const double lse = max_logit + std::log(sum);

  TokenChoice choice;
  if (options.greedy) {
    choice.token = argmax;
    choice.model_logprob = static_cast<float>(max_logit - lse);
    choice.logprob = choice.model_logprob;
    return choice;
  }

  // Candidates: every id in id order, or (top-k, top-p) the kept ids largest first.
  std::iota(order_.begin(), order_.end(), 0);
  int count = V_;
  if (options.top_k > 0 && options.top_k < V_)
    count = keep_top_k(logits, options.top_k);
  else if (options.top_p < 1.0f)
    sort_by_logit(logits, count);

  const double inv_t = 1.0 / double(options.temperature);
  double total = 0.0;
  for (int i = 0; i < count; ++i) {
    probs_[i] = std::exp((double(logits[order_[i]]) - max_logit) * inv_t);
    total += probs_[i];
  }
  if (options.top_p < 1.0f) {  // the smallest prefix whose mass reaches top_p, at least one token
    const double needed = double(options.top_p) * total;
    double mass = 0.0;
    int kept = 0;
    while (kept < count) {
      mass += probs_[kept++];
      if (mass >= needed) break;
    }
    count = kept;
    total = mass;
  }

  const double target = double(u) * total;
  double mass = 0.0;
  int pick = count - 1;  // rounding can leave target just above the last partial sum
  for (int i = 0; i < count; ++i) {
    mass += probs_[i];
    if (mass > target) {
      pick = i;
      break;
    }
  }
  choice.token = order_[pick];
  choice.logprob = static_cast<float>(std::log(probs_[pick] / total));
  choice.model_logprob = static_cast<float>(double(logits[choice.token]) - lse);
  return choice;
}

}  // namespace loom
