// A LoRA-adapted causal LM: LlamaBody + the chunked LM-head loss, one micro-batch at a time.
#pragma once

#include "model/llama_body.h"
#include "model/lm_head_loss.h"

namespace loom {

class CausalLm {
 public:
  CausalLm(const FrozenWeights& base, const TrainableLayout& layout, int max_batch, int max_seq,
           bool gradient_checkpointing, const Backend& backend);

  // Forward + backward: lora.grads += d(loss_scale * sum of token losses)/d(params).
  // targets (B, T): the token each position predicts (shift_labels), < 0 ignored.
  LossSums train_micro_batch(const TokenBatch& batch, const int* targets, const LoraContext& lora,
                             float loss_scale);

  // Forward only: the summed token loss and the token count.
  LossSums eval_micro_batch(const TokenBatch& batch, const int* targets, const LoraContext& lora);

  // logits (N, V, host memory) of every position.
  void logits(float* out, const TokenBatch& batch, const LoraContext& lora);

  // logprobs (N, host memory) of targets[n] (0 where targets < 0).
  void target_logprobs(float* out, const TokenBatch& batch, const int* targets, const LoraContext& lora);

  LlamaBody& body() { return body_; }

 private:
  const FrozenWeights& base_;
  LlamaBody body_;
  LmHeadLoss head_;
};

}  // namespace loom
