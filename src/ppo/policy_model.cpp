#include "ppo/policy_model.h"

#include <algorithm>

#include "core/check.h"
#include "core/rng.h"

namespace loom::ppo {

size_t value_weight_offset(const TrainableLayout& layout) { return layout.head_offset(); }
size_t value_bias_offset(const TrainableLayout& layout) { return layout.head_bias_offset(); }

namespace {

// The value head's dropout stream, apart from the LoRA dropout drawn from the same seed.
uint64_t value_dropout_seed(uint64_t seed) { return mix64(seed ^ 0x56616c7565ull); }  // "Value"

}  // namespace

PolicyModel::PolicyModel(const FrozenWeights& base, const TrainableLayout& layout, int max_batch, int max_seq,
                         bool gradient_checkpointing, const Backend& backend, int chunk_rows)
    : layout_(layout),
      body_(base, layout, max_batch, max_seq, gradient_checkpointing, backend),
      backend_(backend),
      lm_head_(base.lm_head()),
      V_(base.shape().V),
      C_(base.shape().C),
      chunk_(chunk_rows) {
  LOOM_REQUIRE(layout.head_rows() == 1 && layout.head_has_bias(),
               "PolicyModel: the layout needs a one-row head with a bias (the value head)");
  rows_.reserve(size_t(max_batch) * max_seq);
  targets_.reserve(size_t(max_batch) * max_seq);
  const size_t chunk = size_t(chunk_);
  auto carve = [&](auto&& take, auto&& take_ints) {
    chunk_hidden_ = take(chunk * C_);
    chunk_logits_ = take(chunk * V_);
    chunk_log_dists_ = take(chunk * V_);
    chunk_dhidden_ = take(chunk * C_);
    dropped_ = take(chunk * C_);
    value_grad_ = take(chunk * C_);
    chunk_logprobs_ = take(chunk);
    chunk_entropy_ = take(chunk);
    chunk_values_ = take(chunk);
    chunk_dlogprobs_ = take(chunk);
    chunk_dvalues_ = take(chunk);
    chunk_rows_ = take_ints(chunk);
    chunk_targets_ = take_ints(chunk);
  };
  ArenaPlan plan;
  carve([&](size_t n) -> float* { plan.add<float>(n); return nullptr; },
        [&](size_t n) -> int* { plan.add<int>(n); return nullptr; });
  arena_ = backend.make_arena("policy head", plan.bytes());
  carve([&](size_t n) { return arena_.take<float>(n); }, [&](size_t n) { return arena_.take<int>(n); });
}

void PolicyModel::collect_rows(const int* targets, int N) {
  rows_.clear();
  targets_.clear();
  for (int n = 0; n < N; ++n) {
    if (targets[n] < 0) continue;
    rows_.push_back(n);
    targets_.push_back(targets[n]);
  }
}

void PolicyModel::chunk_logits(int first, int rows) {
  backend_.upload(chunk_rows_, rows_.data() + first, sizeof(int) * size_t(rows));
  backend_.upload(chunk_targets_, targets_.data() + first, sizeof(int) * size_t(rows));
  backend_.gather_rows(chunk_hidden_, hidden_, chunk_rows_, rows, C_);
  backend_.matmul_forward(chunk_logits_, chunk_hidden_, lm_head_, rows, C_, V_, false);
}

void PolicyModel::value_inputs(int first, int rows, float p, uint64_t seed) {
  for (int i = 0; i < rows; ++i)
    backend_.dropout_forward(dropped_ + size_t(i) * C_, hidden_ + size_t(rows_[first + i]) * C_, size_t(C_), p,
                             value_dropout_seed(seed), uint64_t(rows_[first + i]));
}

int PolicyModel::forward(const PolicyOutputs& out, const TokenBatch& batch, const int* targets,
                         const LoraContext& lora, float value_dropout) {
  const Backend& be = backend_;
  hidden_ = body_.forward(batch, lora);  // (N, C)
  collect_rows(targets, batch.N());
  const int k = int(rows_.size());
  const float* w = lora.params + value_weight_offset(layout_);     // (C)
  const float* bias = lora.params + value_bias_offset(layout_);    // (1)
  for (int first = 0; first < k; first += chunk_) {
    const int rows = std::min(chunk_, k - first);
    chunk_logits(first, rows);
    be.log_softmax_stats(out.logprobs ? chunk_logprobs_ : nullptr, out.entropy ? chunk_entropy_ : nullptr,
                         out.log_dists ? chunk_log_dists_ : nullptr, chunk_logits_, chunk_targets_, rows, V_);
    if (out.logprobs) be.download(out.logprobs + first, chunk_logprobs_, sizeof(float) * size_t(rows));
    if (out.entropy) be.download(out.entropy + first, chunk_entropy_, sizeof(float) * size_t(rows));
    if (out.log_dists)
      be.download(out.log_dists + size_t(first) * V_, chunk_log_dists_, sizeof(float) * size_t(rows) * V_);
    if (out.values) {
      value_inputs(first, rows, value_dropout, lora.dropout_seed);
      be.value_head_forward(chunk_values_, dropped_, w, bias, rows, C_);
      be.download(out.values + first, chunk_values_, sizeof(float) * size_t(rows));
    }
  }
  return k;
}

void PolicyModel::backward(const float* dlogprobs, const float* dvalues, const TokenBatch& batch, const int* targets,
                           const LoraContext& lora, float value_dropout) {
  LOOM_REQUIRE(lora.grads != nullptr, "PolicyModel::backward: no gradient buffer");
  const Backend& be = backend_;
  for (size_t i = 0; i < rows_.size(); ++i) targets_[i] = targets[rows_[i]];  // the forward's positions
  float* dhidden = body_.hidden_grad(batch.N());  // (N, C), zeroed
  const float* w = lora.params + value_weight_offset(layout_);
  float* dw = lora.grads + value_weight_offset(layout_);
  float* db = lora.grads + value_bias_offset(layout_);
  const int k = int(rows_.size());
  for (int first = 0; first < k; first += chunk_) {
    const int rows = std::min(chunk_, k - first);
    chunk_logits(first, rows);
    // d logp(target) / d logits = onehot(target) - softmax(logits), into the logits' buffer
    be.upload(chunk_dlogprobs_, dlogprobs + first, sizeof(float) * size_t(rows));
    be.log_softmax_backward(chunk_logits_, chunk_logits_, chunk_targets_, chunk_dlogprobs_, rows, V_);
    be.fill(chunk_dhidden_, 0.0f, size_t(rows) * C_);
    be.matmul_backward_input(chunk_dhidden_, chunk_logits_, lm_head_, rows, C_, V_);
    // d(value)/d(hidden) = dropout-backward of dv * w
    value_inputs(first, rows, value_dropout, lora.dropout_seed);
    be.upload(chunk_dvalues_, dvalues + first, sizeof(float) * size_t(rows));
    be.fill(value_grad_, 0.0f, size_t(rows) * C_);
    be.value_head_backward(value_grad_, dw, db, chunk_dvalues_, dropped_, w, rows, C_);
    for (int i = 0; i < rows; ++i)
      be.dropout_backward(chunk_dhidden_ + size_t(i) * C_, value_grad_ + size_t(i) * C_, size_t(C_), value_dropout,
                          value_dropout_seed(lora.dropout_seed), uint64_t(rows_[first + i]));
    be.scatter_add_rows(dhidden, chunk_dhidden_, chunk_rows_, rows, C_);
  }
  body_.backward(batch, lora);
}

}  // namespace loom::ppo
