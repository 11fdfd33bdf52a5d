// The Llama body: embeddings -> decoder layers -> final RMSNorm, with its backward.
// All activations live in one arena of the backend's memory, sized at construction for
// (max_batch, max_seq); nothing is allocated in forward or backward. With gradient checkpointing only each
// layer's input is kept and the layer is recomputed during backward.
#pragma once

#include <vector>

#include "core/arena.h"
#include "model/decoder_layer.h"
#include "model/frozen_weights.h"
#include "model/trainable_layout.h"

namespace loom {

// One micro-batch of token rows (B, T), sequence-major, in host memory (the body uploads them).
struct TokenBatch {
  int B = 0, T = 0;
  const int* tokens = nullptr;  // (B, T)
  const int* pos = nullptr;     // (B, T) RoPE positions (restart per document in packed rows)
  const int* doc = nullptr;     // (B, T) document ids for the attention mask, or null (plain causal)
  int N() const { return B * T; }
};

class LlamaBody {
 public:
  LlamaBody(const FrozenWeights& base, const TrainableLayout& layout, int max_batch, int max_seq,
            bool gradient_checkpointing, const Backend& backend);

  // hidden (N, C): the final-norm output (backend memory), valid until the next forward.
  const float* forward(const TokenBatch& batch, const LoraContext& lora);

  // Zeroed (N, C) buffer (backend memory) for the head to write d(hidden) into before backward().
  float* hidden_grad(int N);

  // Backpropagates hidden_grad() through the body; adds LoRA gradients into lora.grads.
  void backward(const TokenBatch& batch, const LoraContext& lora);

  const FrozenWeights& base() const { return base_; }
  const LlamaShape& shape() const { return base_.shape(); }
  const Backend& backend() const { return backend_; }
  int max_batch() const { return max_batch_; }
  int max_seq() const { return max_seq_; }
  size_t activation_bytes() const { return arena_.capacity(); }

 private:
  // Uploads the batch's tokens, positions and doc ids; the rows point at the copies.
  RowLayout upload_rows(const TokenBatch& batch);
  LayerActivations& layer_acts(int layer) { return acts_[checkpointing_ ? 0 : layer]; }

  const FrozenWeights& base_;
  const Backend& backend_;
  int max_batch_, max_seq_;
  bool checkpointing_;
  Arena arena_;
  float* inv_freq_ = nullptr;           // (HD/2)
  int* tokens_ = nullptr;               // (N) the batch's tokens, positions and doc ids, uploaded
  int* pos_ = nullptr;                  // (N)
  int* doc_ = nullptr;                  // (N)
  std::vector<float*> residual_;        // L + 1 of (N, C): the input of each layer, then the body output
  std::vector<LayerActivations> acts_;  // L, or 1 reused with checkpointing
  float* recompute_out_ = nullptr;      // (N, C) discarded layer output when recomputing
  LayerGradients grads_;
  LinearScratch scratch_;
  float* hidden_ = nullptr;       // (N, C) final-norm output
  float* final_rstd_ = nullptr;   // (N)
  float* d_hidden_ = nullptr;     // (N, C)
  float* d_res_ = nullptr;        // (N, C) gradient of the residual stream
};

}  // namespace loom
