#include "model/lm_head_loss.h"

#include <algorithm>

namespace loom {

int lm_head_chunk_rows(int V) {
  constexpr size_t kChunkLogitBytes = size_t(32) << 20;
  const size_t rows = kChunkLogitBytes / (sizeof(float) * size_t(std::max(V, 1)));
  return int(std::clamp<size_t>(rows, 32, 256));
}

LmHeadLoss::LmHeadLoss(int V, int C, const Backend& backend, int chunk_rows)
    : V_(V), C_(C), chunk_(chunk_rows), backend_(backend), host_losses_(chunk_rows) {
  ArenaPlan plan;
  plan.add<float>(size_t(chunk_) * V);
  plan.add<float>(chunk_);
  plan.add<float>(chunk_);
  plan.add<int>(chunk_);
  arena_ = backend.make_arena("lm head chunk", plan.bytes());
  chunk_logits_ = arena_.take<float>(size_t(chunk_) * V);
  chunk_losses_ = arena_.take<float>(chunk_);
  chunk_dloss_ = arena_.take<float>(chunk_);
  chunk_targets_ = arena_.take<int>(chunk_);
}

const int* LmHeadLoss::upload_targets(const int* targets, int row, int rows) {
  backend_.upload(chunk_targets_, targets + row, sizeof(int) * size_t(rows));
  return chunk_targets_;
}

LossSums LmHeadLoss::forward_backward(float* dhidden, float* dlm_head, const float* hidden,
                                      const LmHeadWeight& head, const int* targets, int N, float loss_scale) {
  const Backend& be = backend_;
  const float* lm_head = head.values;
  const ReusedWeight reused(be, lm_head, size_t(V_) * C_, head.version);
  LossSums sums;
  for (int row = 0; row < N; row += chunk_) {
    const int rows = std::min(chunk_, N - row);
    const float* chunk_hidden = hidden + size_t(row) * C_;  // (rows, C)
    const int* chunk_targets = upload_targets(targets, row, rows);
    if (dhidden != nullptr) {
      be.fill(chunk_dloss_, loss_scale, rows);
      be.classifier_forward_backward(chunk_losses_, dhidden + size_t(row) * C_, dlm_head, chunk_logits_, chunk_hidden,
                                     lm_head, chunk_targets, chunk_dloss_, rows, C_, V_);
    } else {
      be.matmul_forward(chunk_logits_, chunk_hidden, lm_head, rows, C_, V_, false);
      be.cross_entropy_forward(chunk_losses_, chunk_logits_, chunk_targets, rows, V_);
    }
    be.download(host_losses_.data(), chunk_losses_, sizeof(float) * size_t(rows));
    for (int i = 0; i < rows; ++i) {
      if (targets[row + i] < 0) continue;
      sums.loss_sum += host_losses_[i];
      ++sums.tokens;
    }
  }
  return sums;
}

void LmHeadLoss::logits(float* out, const float* hidden, const LmHeadWeight& head, int N) const {
  const ReusedWeight reused(backend_, head.values, size_t(V_) * C_, head.version);
  backend_.matmul_forward(out, hidden, head.values, N, C_, V_, false);
}

void LmHeadLoss::logits_to_host(float* host_out, const float* hidden, const LmHeadWeight& head, int N) {
  const float* lm_head = head.values;
  const ReusedWeight reused(backend_, lm_head, size_t(V_) * C_, head.version);
  for (int row = 0; row < N; row += chunk_) {
    const int rows = std::min(chunk_, N - row);
    backend_.matmul_forward(chunk_logits_, hidden + size_t(row) * C_, lm_head, rows, C_, V_, false);
    backend_.download(host_out + size_t(row) * V_, chunk_logits_, sizeof(float) * size_t(rows) * V_);
  }
}

void LmHeadLoss::target_logprobs(float* logprobs, const float* hidden, const LmHeadWeight& head,
                                 const int* targets, int N) {
  const float* lm_head = head.values;
  const ReusedWeight reused(backend_, lm_head, size_t(V_) * C_, head.version);
  for (int row = 0; row < N; row += chunk_) {
    const int rows = std::min(chunk_, N - row);
    const int* chunk_targets = upload_targets(targets, row, rows);
    backend_.matmul_forward(chunk_logits_, hidden + size_t(row) * C_, lm_head, rows, C_, V_, false);
    backend_.token_logprobs(chunk_losses_, chunk_logits_, chunk_targets, rows, V_);
    backend_.download(logprobs + row, chunk_losses_, sizeof(float) * size_t(rows));
  }
}

LmHeadWeight active_lm_head(const FrozenWeights& base, const LoraContext& lora) {
  const bool trained = lora.enabled && lora.layout != nullptr && lora.layout->trains_lm_head();
  if (trained) return LmHeadWeight{lora.params + lora.layout->head_offset(), kUnversionedWeight};
  return LmHeadWeight{base.lm_head(), base.version()};
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
