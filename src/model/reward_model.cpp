#include "model/reward_model.h"

#include <cmath>

#include "core/check.h"

namespace loom {

void score_head_forward(float* rewards, const float* hidden, const int* last, const float* head, int B, int T, int C) {
  for (int b = 0; b < B; ++b) {
    const float* h = hidden + (size_t(b) * T + last[b]) * C;
    double sum = 0.0;
    for (int c = 0; c < C; ++c) sum += double(head[c]) * h[c];
    rewards[b] = static_cast<float>(sum);
  }
}

void score_head_backward(float* dhidden, float* dhead, const float* d_rewards, const float* hidden, const int* last,
                         const float* head, int B, int T, int C) {
  for (int b = 0; b < B; ++b) {
    const size_t at = (size_t(b) * T + last[b]) * C;
    for (int c = 0; c < C; ++c) {
      dhidden[at + c] += d_rewards[b] * head[c];
      dhead[c] += d_rewards[b] * hidden[at + c];
    }
  }
}

RewardModel::RewardModel(const FrozenWeights& base, const TrainableLayout& layout, int max_batch, int max_seq,
                         bool gradient_checkpointing)
    : layout_(layout), body_(base, layout, max_batch, max_seq, gradient_checkpointing) {
  LOOM_REQUIRE(layout.head_rows() == 1, "a reward model needs a head of one row (num_labels = 1), got ",
               layout.head_rows());
}

void RewardModel::forward(float* rewards, const TokenBatch& batch, const int* last, const LoraContext& lora) {
  hidden_ = body_.forward(batch, lora);
  score_head_forward(rewards, hidden_, last, lora.params + layout_.head_offset(), batch.B, batch.T,
                     body_.shape().C);
}

void RewardModel::backward(const float* d_rewards, const TokenBatch& batch, const int* last, const LoraContext& lora) {
  float* d_hidden = body_.hidden_grad(batch.N());
  score_head_backward(d_hidden, lora.grads + layout_.head_offset(), d_rewards, hidden_, last,
                      lora.params + layout_.head_offset(), batch.B, batch.T, body_.shape().C);
  body_.backward(batch, lora);
}

bool load_score_head(const HfCheckpoint& checkpoint, float* head, int rows, int C) {
  if (!checkpoint.has("score.weight")) return false;
  checkpoint.read_f32("score.weight", {rows, C}, head);
  return true;
}

double pairwise_loss(double chosen, double rejected, double margin, double* d_difference) {
  const double z = chosen - rejected - margin;
  // -logsigmoid(z) = softplus(-z), computed stably; d/dz = -sigmoid(-z)
  const double loss = z > 0 ? std::log1p(std::exp(-z)) : -z + std::log1p(std::exp(z));
  *d_difference = -1.0 / (1.0 + std::exp(z));
  return loss;
}

}  // namespace loom
