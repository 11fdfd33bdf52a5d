// The PPO policy, as TRL's AutoModelForCausalLMWithValueHead on a PEFT model: the LoRA-adapted
// Llama body, its frozen LM head, and a trainable value head (dropout, then Linear(C, 1) with
// bias) on the final hidden state of every token. The reference model is the same object
// with the adapter disabled (LoraContext::enabled = false): no second copy of the base.
//
// The trainable parameters are one flat buffer laid out by the TrainableLayout: the LoRA
// weights, its head (1, C) as the value head's weight, then the head's bias (1).
//
// Only the response positions are scored: a position n with targets[n] >= 0 predicts that
// token, so its log-prob, entropy and value are reported (TRL: logits[:, :-1] against
// input_ids[:, 1:], values[:, :-1], masked to the response). Outputs are compact: entry k is
// the k-th such position in row-major order.
#pragma once

#include <cstddef>
#include <vector>

#include "model/llama_body.h"

namespace loom::ppo {

// Where the value head lives in a value-head layout (head_rows 1, head_bias).
size_t value_weight_offset(const TrainableLayout& layout);  // (C)
size_t value_bias_offset(const TrainableLayout& layout);    // (1)

// What forward() writes (host memory); any pointer may be null. k = number of scored positions.
struct PolicyOutputs {
  float* logprobs = nullptr;   // (k) log p(target)
  float* entropy = nullptr;    // (k) entropy of the next-token distribution
  float* values = nullptr;     // (k) value head
  float* log_dists = nullptr;  // (k, V) the whole log-softmax (kl_penalty full)
};

class PolicyModel {
 public:
  // layout must have a head of one row with a bias (the value head).
  PolicyModel(const FrozenWeights& base, const TrainableLayout& layout, int max_batch, int max_seq,
              bool gradient_checkpointing, const Backend& backend, int chunk_rows = 32);

  // Returns k. value_dropout applies to the value head's input with lora.dropout_seed.
  int forward(const PolicyOutputs& out, const TokenBatch& batch, const int* targets, const LoraContext& lora,
              float value_dropout);

  // After forward() on the same batch, targets, lora and value_dropout (dlogprobs, dvalues (k)
  // in host memory): lora.grads +=
  // d(sum_k dlogprobs[k] logprobs[k] + dvalues[k] values[k]) / d(params), value head included.
  void backward(const float* dlogprobs, const float* dvalues, const TokenBatch& batch, const int* targets,
                const LoraContext& lora, float value_dropout);

  LlamaBody& body() { return body_; }

 private:
  // Gathers the scored positions of the last forward into rows_ and their targets into targets_.
  void collect_rows(const int* targets, int N);
  // Uploads the rows and targets of the scored positions [first, first + rows); chunk_logits_
  // (rows, V) of those positions.
  void chunk_logits(int first, int rows);
  // dropped_ (rows, C): the value head's input, dropped out, of those positions.
  void value_inputs(int first, int rows, float p, uint64_t seed);

  const TrainableLayout& layout_;
  LlamaBody body_;
  const Backend& backend_;
  const float* lm_head_;  // (V, C)
  int V_, C_, chunk_;
  const float* hidden_ = nullptr;  // (N, C) of the last forward
  std::vector<int> rows_;          // scored positions (flat indices into the batch)
  std::vector<int> targets_;       // their targets
  Arena arena_;                    // "policy head": one chunk of scored positions, backend memory
  float* chunk_hidden_ = nullptr;   // (chunk, C)
  float* chunk_logits_ = nullptr;   // (chunk, V)
  float* chunk_log_dists_ = nullptr;  // (chunk, V)
  float* chunk_dhidden_ = nullptr;  // (chunk, C)
  float* dropped_ = nullptr;        // (chunk, C)
  float* value_grad_ = nullptr;     // (chunk, C) d(value)/d(dropped input)
  float* chunk_logprobs_ = nullptr;  // (chunk)
  float* chunk_entropy_ = nullptr;   // (chunk)
  float* chunk_values_ = nullptr;    // (chunk)
  float* chunk_dlogprobs_ = nullptr;  // (chunk)
  float* chunk_dvalues_ = nullptr;    // (chunk)
  int* chunk_rows_ = nullptr;        // (chunk)
  int* chunk_targets_ = nullptr;     // (chunk)
};

}  // namespace loom::ppo
