// Incremental decoding with a KV cache (generation, PPO rollouts).
// Prompts of different lengths are left-padded to a common length: row b's real tokens
// start at key_begin[b]; RoPE positions count from there, and pad keys are never attended.
// The cache k, v (L, B, Tmax, NKV, HD) and every buffer are allocated once at construction,
// in the backend's memory: no allocation per token. Tokens in and logits out are host memory.
#pragma once

#include <vector>

#include "core/arena.h"
#include "model/decoder_layer.h"
#include "model/frozen_weights.h"
#include "model/lm_head_loss.h"
#include "model/trainable_layout.h"

namespace loom {

class KvDecoder {
 public:
  // lm_head (V, C): the base's, normally (base.lm_head()).
  KvDecoder(const FrozenWeights& base, const TrainableLayout& layout, int max_batch, int max_len,
            const Backend& backend);

  // tokens (B, Tp) left-padded prompts, key_begin (B) the first real position of each row.
  // Fills the cache with the prompts; logits (B, V) of each row's last position.
  void prefill(float* logits, const int* tokens, const int* key_begin, int B, int Tp, const LoraContext& lora);

  // Appends one token per row (tokens (B)) at position length(); logits (B, V) for the next.
  void step(float* logits, const int* tokens, const LoraContext& lora);

  int length() const { return length_; }  // positions filled, pads included
  int max_len() const { return max_len_; }

 private:
  void copy_into_cache(int layer, const float* k, const float* v, int t0, int T);
  void final_logits(float* logits, const float* x, int B, int T, const LoraContext& lora);
  // Uploads key_begin_, key_end_, pos_ and doc_ (the first `rows` of each) and the tokens.
  RowLayout upload_rows(const int* tokens, int B, int T, bool with_doc);

  const FrozenWeights& base_;
  const Backend& backend_;
  int max_batch_, max_len_;
  int B_ = 0, length_ = 0;
  Arena arena_;
  float* inv_freq_ = nullptr;       // (HD/2)
  LayerActivations acts_;           // rows: up to max_batch * max_len (prefill)
  LinearScratch scratch_;
  float* x_ = nullptr;              // (rows, C) residual stream, ping
  float* x_next_ = nullptr;         // (rows, C) pong
  float* last_hidden_ = nullptr;    // (B, C) final-norm output of each row's last position
  float* last_rstd_ = nullptr;      // (B)
  float* k_cache_ = nullptr;        // (L, B, Tmax, NKV, HD)
  float* v_cache_ = nullptr;        // (L, B, Tmax, NKV, HD)
  float* logits_ = nullptr;         // (B, V)
  std::vector<int> key_begin_, key_end_, pos_, doc_;  // host copies, built per call
  int* dev_key_begin_ = nullptr;    // (B) their uploads
  int* dev_key_end_ = nullptr;      // (B)
  int* dev_pos_ = nullptr;          // (rows)
  int* dev_doc_ = nullptr;          // (rows)
  int* dev_tokens_ = nullptr;       // (rows)
  LmHeadLoss head_;
};

}  // namespace loom
