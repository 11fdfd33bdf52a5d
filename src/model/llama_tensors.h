// The tensors of a Hugging Face Llama checkpoint, named and shaped from its config: the one
// schedule that checkpoint reading (FrozenWeights), random init and merge walk, and the check
// of a checkpoint's headers against it before anything is allocated from config.json.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/hf_checkpoint.h"
#include "model/llama_shape.h"

namespace loom {

enum class LlamaTensorRole { embed, input_norm, post_norm, linear, final_norm, lm_head, score };

struct LlamaTensor {
  std::string name;            // "model.layers.3.self_attn.q_proj.weight"
  std::vector<int64_t> shape;  // [out, in] for matrices, [C] for norms
  LlamaTensorRole role = LlamaTensorRole::embed;
  int layer = -1;              // decoder layer of norms and linears, else -1
  LinearId id = kQ;            // linears only
};

// HF tensor name of a decoder linear: "model.layers.3.self_attn.q_proj.weight".
std::string linear_tensor_name(int layer, LinearId id);

// Every tensor of a checkpoint with this config, in HF's module order: embed_tokens, per layer
// input_layernorm, post_attention_layernorm and the seven linears, model.norm, then score.weight
// [num_labels, C] (LlamaForSequenceClassification) or lm_head.weight (untied causal LM).
std::vector<LlamaTensor> llama_tensors(const LlamaConfig& config);

// Compares the checkpoint's tensor headers with llama_tensors(its config) before any weight is
// read: each tensor must be present with the config's shape, and a tensor the config does not
// account for (layers past num_hidden_layers, a misspelt module) is refused. Tolerated: an
// lm_head.weight beside tied embeddings and rotary inv_freq buffers, which transformers ignores.
// Errors are one line naming the file (or config.json) and the tensor.
void check_llama_checkpoint(const HfCheckpoint& checkpoint);

}  // namespace loom
