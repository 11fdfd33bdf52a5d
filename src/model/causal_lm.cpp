#include "model/causal_lm.h"

namespace loom {

CausalLm::CausalLm(const FrozenWeights& base, const TrainableLayout& layout, int max_batch, int max_seq,
                   bool gradient_checkpointing, const Backend& backend)
    : base_(base),
      body_(base, layout, max_batch, max_seq, gradient_checkpointing, backend),
      head_(base.shape().V, base.shape().C, backend) {}

LossSums CausalLm::train_micro_batch(const TokenBatch& batch, const int* targets, const LoraContext& lora,
                                     float loss_scale) {
  const float* hidden = body_.forward(batch, lora);
  float* d_hidden = body_.hidden_grad(batch.N());
  const LossSums sums = head_.forward_backward(d_hidden, lm_head_grad(lora), hidden, active_lm_head(base_, lora),
                                                      targets, batch.N(), loss_scale);
  body_.backward(batch, lora);
  return sums;
}

LossSums CausalLm::eval_micro_batch(const TokenBatch& batch, const int* targets, const LoraContext& lora) {
  const float* hidden = body_.forward(batch, lora);
  return head_.forward_backward(nullptr, nullptr, hidden, active_lm_head(base_, lora), targets, batch.N(), 0.0f);
}

void CausalLm::logits(float* out, const TokenBatch& batch, const LoraContext& lora) {
  head_.logits_to_host(out, body_.forward(batch, lora), active_lm_head(base_, lora), batch.N());
}

void CausalLm::target_logprobs(float* out, const TokenBatch& batch, const int* targets, const LoraContext& lora) {
  head_.target_logprobs(out, body_.forward(batch, lora), active_lm_head(base_, lora), targets, batch.N());
}

}  // namespace loom
