// A LoRA-adapted Llama with a scalar head, as HF's LlamaForSequenceClassification with
// num_labels = 1: reward = score . hidden[last], where hidden is the final-norm output and
// `last` is each row's last real token (rows are right-padded; loom pools by the stored
// length rather than by searching for the pad id, which gives HF's answer whenever the pad
// id does not occur inside the sequence -- and stays right when pad = eos, as StackLLaMA sets).
// The head (1, C) is the trainable head of the layout (PEFT: modules_to_save "score").
#pragma once

#include "io/hf_checkpoint.h"
#include "model/llama_body.h"

namespace loom {

class RewardModel {
 public:
  RewardModel(const FrozenWeights& base, const TrainableLayout& layout, int max_batch, int max_seq,
              bool gradient_checkpointing, const Backend& backend);

  // rewards (B) of each row at its last real token last[b] (length - 1); rewards, last and
  // d_rewards are host memory, lora's buffers backend memory.
  void forward(float* rewards, const TokenBatch& batch, const int* last, const LoraContext& lora);

  // After forward(): lora.grads += d(sum_b d_rewards[b] * rewards[b]) / d(params), head included.
  void backward(const float* d_rewards, const TokenBatch& batch, const int* last, const LoraContext& lora);

 private:
  const TrainableLayout& layout_;
  LlamaBody body_;
  const Backend& backend_;
  Arena arena_;                    // "reward head"
  float* rewards_ = nullptr;       // (max_batch)
  float* d_rewards_ = nullptr;     // (max_batch)
  int* last_ = nullptr;            // (max_batch)
  const float* hidden_ = nullptr;
};

// Initialises the head (rows, C) from the checkpoint's score.weight when it has one (a merged
// reward model, or an HF sequence-classification checkpoint); returns false otherwise.
bool load_score_head(const HfCheckpoint& checkpoint, float* head, int rows, int C);

// -logsigmoid(r_chosen - r_rejected - margin) and its derivative with respect to the difference.
double pairwise_loss(double chosen, double rejected, double margin, double* d_difference);

}  // namespace loom
