#include "ppo/policy_model.h"

#include <algorithm>
#include <cmath>

#include "core/check.h"
#include "core/rng.h"
#include "ops/bf16/compute_dispatch.h"
#include "ops/dropout.h"

namespace loom::ppo {

size_t value_weight_offset(const TrainableLayout& layout) { return layout.head_offset(); }
size_t value_bias_offset(const TrainableLayout& layout) { return layout.total(); }
size_t policy_parameter_count(const TrainableLayout& layout) { return layout.total() + 1; }

namespace {

// The value head's dropout stream, apart from the LoRA dropout drawn from the same seed.
uint64_t value_dropout_seed(uint64_t seed) { return mix64(seed ^ 0x56616c7565ull); }  // "Value"

}  // namespace

PolicyModel::PolicyModel(const FrozenWeights& base, const TrainableLayout& layout, int max_batch, int max_seq,
                         bool gradient_checkpointing, int chunk_rows)
    : layout_(layout),
      body_(base, layout, max_batch, max_seq, gradient_checkpointing),
      lm_head_(base.lm_head()),
      V_(base.shape().V),
      C_(base.shape().C),
      chunk_(chunk_rows) {
  LOOM_REQUIRE(layout.head_rows() == 1, "PolicyModel: the layout needs a one-row head (the value head)");
  rows_.reserve(size_t(max_batch) * max_seq);
  chunk_hidden_.resize(size_t(chunk_) * C_);
  chunk_dhidden_.resize(size_t(chunk_) * C_);
  dropped_.resize(size_t(chunk_) * C_);
  value_grad_.resize(C_);
  chunk_logits_.resize(size_t(chunk_) * V_);
}

void PolicyModel::collect_rows(const int* targets, int N) {
  rows_.clear();
  for (int n = 0; n < N; ++n)
    if (targets[n] >= 0) rows_.push_back(n);
}

void PolicyModel::chunk_logits(int first, int rows) {
  for (int i = 0; i < rows; ++i)
    std::copy_n(hidden_ + size_t(rows_[first + i]) * C_, C_, chunk_hidden_.data() + size_t(i) * C_);
  compute::matmul_forward(chunk_logits_.data(), chunk_hidden_.data(), lm_head_, rows, C_, V_, false);
}

void PolicyModel::value_inputs(int first, int rows, float p, uint64_t seed) {
  for (int i = 0; i < rows; ++i)
    cpu::dropout_forward(dropped_.data() + size_t(i) * C_, hidden_ + size_t(rows_[first + i]) * C_, size_t(C_), p,
                         value_dropout_seed(seed), uint64_t(rows_[first + i]));
}

int PolicyModel::forward(const PolicyOutputs& out, const TokenBatch& batch, const int* targets,
                         const LoraContext& lora, float value_dropout) {
  hidden_ = body_.forward(batch, lora);  // (N, C)
  collect_rows(targets, batch.N());
  const int k = int(rows_.size());
  const float* w = lora.params + value_weight_offset(layout_);  // (C)
  const float bias = lora.params[value_bias_offset(layout_)];
  for (int first = 0; first < k; first += chunk_) {
    const int rows = std::min(chunk_, k - first);
    chunk_logits(first, rows);
#pragma omp parallel for
    for (int i = 0; i < rows; ++i) {
      float* logits = chunk_logits_.data() + size_t(i) * V_;  // (V)
      const float max_logit = *std::max_element(logits, logits + V_);
      double sum = 0.0, weighted = 0.0;
      for (int v = 0; v < V_; ++v) {
        const double e = std::exp(double(logits[v] - max_logit));
        sum += e;
        weighted += e * logits[v];
      }
      const double logsumexp = max_logit + std::log(sum);
      const int target = targets[rows_[first + i]];
      if (out.logprobs) out.logprobs[first + i] = float(logits[target] - logsumexp);
      if (out.entropy) out.entropy[first + i] = float(logsumexp - weighted / sum);
      if (out.log_dists) {
        float* dist = out.log_dists + size_t(first + i) * V_;
        for (int v = 0; v < V_; ++v) dist[v] = float(logits[v] - logsumexp);
      }
    }
    if (out.values) {
      value_inputs(first, rows, value_dropout, lora.dropout_seed);
      for (int i = 0; i < rows; ++i) {
        const float* x = dropped_.data() + size_t(i) * C_;
        double v = bias;
        for (int c = 0; c < C_; ++c) v += double(w[c]) * x[c];
        out.values[first + i] = float(v);
      }
    }
  }
  return k;
}

void PolicyModel::backward(const float* dlogprobs, const float* dvalues, const TokenBatch& batch, const int* targets,
                           const LoraContext& lora, float value_dropout) {
  LOOM_REQUIRE(lora.grads != nullptr, "PolicyModel::backward: no gradient buffer");
  float* dhidden = body_.hidden_grad(batch.N());  // (N, C), zeroed
  const float* w = lora.params + value_weight_offset(layout_);
  float* dw = lora.grads + value_weight_offset(layout_);
  float* db = lora.grads + value_bias_offset(layout_);
  const int k = int(rows_.size());
  for (int first = 0; first < k; first += chunk_) {
    const int rows = std::min(chunk_, k - first);
    chunk_logits(first, rows);
    // d logp(target) / d logits = onehot(target) - softmax(logits)
#pragma omp parallel for
    for (int i = 0; i < rows; ++i) {
      float* logits = chunk_logits_.data() + size_t(i) * V_;  // (V), overwritten by dlogits
      const float max_logit = *std::max_element(logits, logits + V_);
      double sum = 0.0;
      for (int v = 0; v < V_; ++v) sum += std::exp(double(logits[v] - max_logit));
      const float g = dlogprobs[first + i];
      for (int v = 0; v < V_; ++v) logits[v] = float(-g * std::exp(double(logits[v] - max_logit)) / sum);
      logits[targets[rows_[first + i]]] += g;
    }
    std::fill(chunk_dhidden_.begin(), chunk_dhidden_.begin() + size_t(rows) * C_, 0.0f);
    compute::matmul_backward_input(chunk_dhidden_.data(), chunk_logits_.data(), lm_head_, rows, C_, V_);
    value_inputs(first, rows, value_dropout, lora.dropout_seed);
    for (int i = 0; i < rows; ++i) {
      const int n = rows_[first + i];
      const float dv = dvalues[first + i];
      float* dh = chunk_dhidden_.data() + size_t(i) * C_;
      const float* x = dropped_.data() + size_t(i) * C_;
      for (int c = 0; c < C_; ++c) dw[c] += dv * x[c];
      *db += dv;
      // d(value)/d(hidden) = dropout-backward of w * dv
      for (int c = 0; c < C_; ++c) value_grad_[c] = dv * w[c];
      cpu::dropout_backward(dh, value_grad_.data(), size_t(C_), value_dropout, value_dropout_seed(lora.dropout_seed),
                            uint64_t(n));
      float* dst = dhidden + size_t(n) * C_;
      for (int c = 0; c < C_; ++c) dst[c] += dh[c];
    }
  }
  body_.backward(batch, lora);
}

}  // namespace loom::ppo
