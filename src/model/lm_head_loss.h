// The LM head and its cross-entropy, fused and computed in row chunks so the full (N, V)
// logits are never held at once: per chunk, logits = hidden @ lm_head^T, the token losses,
// and (training) d(hidden) += dlogits @ lm_head, d(lm_head) += dlogits^T @ hidden when the
// head is trained (PEFT modules_to_save "lm_head").
#pragma once

#include <cstdint>
#include <vector>

#include "backend/backend.h"
#include "core/arena.h"
#include "model/frozen_weights.h"
#include "model/lora_linear.h"

namespace loom {

struct LossSums {
  double loss_sum = 0.0;   // sum of -log p over target tokens
  int64_t tokens = 0;      // number of target tokens (targets >= 0)
};

// The LM head (V, C) in backend memory and the version of its values
// (Backend::begin_reused_weight): the base's for a frozen head, kUnversionedWeight for a trained one.
struct LmHeadWeight {
  const float* values = nullptr;
  uint64_t version = kUnversionedWeight;
};

// Rows per chunk for a vocabulary of V: as many as keep a chunk's f32 logits within 32 MiB,
// between 32 and 256 (V 32000: 256 rows; 49152: 170; 128256: 65). Larger chunks make the head's
// GEMMs wider (32-row chunks ran SmolLM2's head GEMMs at about a third of the bf16 peak).
int lm_head_chunk_rows(int V);

class LmHeadLoss {
 public:
  LmHeadLoss(int V, int C, const Backend& backend) : LmHeadLoss(V, C, backend, lm_head_chunk_rows(V)) {}
  LmHeadLoss(int V, int C, const Backend& backend, int chunk_rows);

  // Each call reads lm_head as one reused weight (rounded to bf16 once under cpu-bf16).
  // hidden (N, C), lm_head (V, C) in backend memory; targets (N) in host memory: the token each
  // row predicts (< 0: ignored).
  // With dhidden non-null, adds d(loss_scale * sum of token losses)/d(hidden) into dhidden
  // (N, C); with dlm_head non-null also d(...)/d(lm_head) into dlm_head (V, C).
  LossSums forward_backward(float* dhidden, float* dlm_head, const float* hidden, const LmHeadWeight& lm_head,
                            const int* targets, int N, float loss_scale);

  // out (N, V) in backend memory: the logits of every row (decoding).
  void logits(float* out, const float* hidden, const LmHeadWeight& lm_head, int N) const;

  // host_out (N, V) in host memory: the logits of every row (inference, tests).
  void logits_to_host(float* host_out, const float* hidden, const LmHeadWeight& lm_head, int N);

  // logprobs (N, host memory) of targets[n] (host) under the model (0 where targets < 0).
  void target_logprobs(float* logprobs, const float* hidden, const LmHeadWeight& lm_head, const int* targets, int N);

 private:
  // Uploads targets [row, row + rows) into chunk_targets_.
  const int* upload_targets(const int* targets, int row, int rows);

  int V_, C_, chunk_;
  const Backend& backend_;
  Arena arena_;
  float* chunk_logits_ = nullptr;  // (chunk, V)
  float* chunk_losses_ = nullptr;  // (chunk)
  float* chunk_dloss_ = nullptr;   // (chunk)
  int* chunk_targets_ = nullptr;   // (chunk)
  std::vector<float> host_losses_;  // (chunk)
};

// The LM head (V, C) a forward reads: the adapter's trained copy while the adapter is on and
// its layout trains the head, else the base's (PEFT's disable_adapter turns both off).
LmHeadWeight active_lm_head(const FrozenWeights& base, const LoraContext& lora);
// Where the trained head's gradient (V, C) accumulates; nullptr when the head is frozen.
float* lm_head_grad(const LoraContext& lora);

// HF's label shift: targets[b, t] = labels[b, t + 1], and -1 at the last position of each row.
void shift_labels(int* targets, const int* labels, int B, int T);

}  // namespace loom
