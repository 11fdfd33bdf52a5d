#include "model/reward_model.h"

#include <cmath>
#include <cstddef>

#include "core/check.h"

namespace loom {

RewardModel::RewardModel(const FrozenWeights& base, const TrainableLayout& layout, int max_batch, int max_seq,
                         bool gradient_checkpointing, const Backend& backend)
    : layout_(layout), body_(base, layout, max_batch, max_seq, gradient_checkpointing, backend), backend_(backend) {
  LOOM_REQUIRE(layout.head_rows() == 1, "a reward model needs a head of one row (num_labels = 1), got ",
               layout.head_rows());
  ArenaPlan plan;
  plan.add<float>(max_batch);
  plan.add<float>(max_batch);
  plan.add<int>(max_batch);
  arena_ = backend.make_arena("reward head", plan.bytes());
  rewards_ = arena_.take<float>(max_batch);
  d_rewards_ = arena_.take<float>(max_batch);
  last_ = arena_.take<int>(max_batch);
}

void RewardModel::forward(float* rewards, const TokenBatch& batch, const int* last, const LoraContext& lora) {
  hidden_ = body_.forward(batch, lora);
  backend_.upload(last_, last, sizeof(int) * size_t(batch.B));
  backend_.score_head_forward(rewards_, hidden_, last_, lora.params + layout_.head_offset(), batch.B, batch.T,
                              body_.shape().C);
  backend_.download(rewards, rewards_, sizeof(float) * size_t(batch.B));
}

void RewardModel::backward(const float* d_rewards, const TokenBatch& batch, const int* last, const LoraContext& lora) {
  float* d_hidden = body_.hidden_grad(batch.N());
  backend_.upload(last_, last, sizeof(int) * size_t(batch.B));
  backend_.upload(d_rewards_, d_rewards, sizeof(float) * size_t(batch.B));
  backend_.score_head_backward(d_hidden, lora.grads + layout_.head_offset(), d_rewards_, hidden_, last_,
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
