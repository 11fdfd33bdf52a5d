#include "model/lm_head_loss.h"

#include <algorithm>

#include "ops/bf16/compute_dispatch.h"
#include "ops/cross_entropy.h"

namespace loom {

LmHeadLoss::LmHeadLoss(int V, int C, int chunk_rows) : V_(V), C_(C), chunk_(chunk_rows) {
  ArenaPlan plan;
  plan.add<float>(size_t(chunk_) * V);
  plan.add<float>(chunk_);
  plan.add<float>(chunk_);
  arena_ = Arena("lm head chunk", plan.bytes());
  chunk_logits_ = arena_.take<float>(size_t(chunk_) * V);
  chunk_losses_ = arena_.take<float>(chunk_);
  chunk_dloss_ = arena_.take<float>(chunk_);
}

LossSums LmHeadLoss::forward_backward(float* dhidden, float* dlm_head, const float* hidden, const float* lm_head,
                                      const int* targets, int N, float loss_scale) {
  LossSums sums;
  const compute::ReusedWeight head(lm_head, V_, C_, N);
  for (int row = 0; row < N; row += chunk_) {
    const int rows = std::min(chunk_, N - row);
    const float* chunk_hidden = hidden + size_t(row) * C_;  // (rows, C)
    head.forward(chunk_logits_, chunk_hidden, rows);
    cpu::cross_entropy_forward(chunk_losses_, chunk_logits_, targets + row, rows, V_);
    for (int i = 0; i < rows; ++i) {
      if (targets[row + i] < 0) continue;
      sums.loss_sum += chunk_losses_[i];
      ++sums.tokens;
    }
    if (dhidden == nullptr) continue;
    std::fill(chunk_dloss_, chunk_dloss_ + rows, loss_scale);
    cpu::cross_entropy_backward(chunk_logits_, chunk_logits_, targets + row, chunk_dloss_, rows, V_);
    head.backward_input(dhidden + size_t(row) * C_, chunk_logits_, rows);
    if (dlm_head != nullptr) compute::matmul_backward_weight(dlm_head, chunk_logits_, chunk_hidden, rows, C_, V_);
  }
  return sums;
}

void LmHeadLoss::logits(float* out, const float* hidden, const float* lm_head, int N) const {
  compute::ReusedWeight(lm_head, V_, C_, N).forward(out, hidden, N);
}

void LmHeadLoss::target_logprobs(float* logprobs, const float* hidden, const float* lm_head, const int* targets,
                                 int N) {
  const compute::ReusedWeight head(lm_head, V_, C_, N);
  for (int row = 0; row < N; row += chunk_) {
    const int rows = std::min(chunk_, N - row);
    head.forward(chunk_logits_, hidden + size_t(row) * C_, rows);
    cpu::token_logprobs(logprobs + row, chunk_logits_, targets + row, rows, V_);
  }
}

const float* active_lm_head(const FrozenWeights& base, const LoraContext& lora) {
  const bool trained = lora.enabled && lora.layout != nullptr && lora.layout->trains_lm_head();
  return trained ? lora.params + lora.layout->head_offset() : base.lm_head();
}

float* lm_head_grad(const LoraContext& lora) {
  const bool trained = lora.grads != nullptr && lora.layout != nullptr && lora.layout->trains_lm_head();
  return trained ? lora.grads + lora.layout->head_offset() : nullptr;
}

void shift_labels(int* targets, const int* labels, int B, int T) {
  for (int b = 0; b < B; ++b)
    for (int t = 0; t < T; ++t) targets[b * T + t] = (t + 1 < T) ? labels[b * T + t + 1] : -1;
}

}  // namespace loom
