// A small random Llama (GQA, untied, jittered norms) written to a scratch checkpoint and
// loaded, with a LoRA layout whose B is non-zero so every adapter weight has a gradient.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "io/hf_checkpoint.h"
#include "model/frozen_weights.h"
#include "model/trainable_layout.h"

namespace loom::test {

LlamaConfig tiny_test_config();  // vocab 64, hidden 32, intermediate 48, 2 layers, 4 heads, 2 kv heads

struct TinyModel {
  std::string dir;
  std::unique_ptr<HfCheckpoint> checkpoint;
  std::unique_ptr<FrozenWeights> base;
  std::unique_ptr<TrainableLayout> layout;
  std::vector<float> params;  // LoRA A kaiming, B ~ N(0, 0.05) (not PEFT's zero, so A gets gradients)
};

// LoRA r 4, alpha 8 on all seven linears: the adapter most model tests train.
LoraSpec all_linear_lora();

TinyModel make_tiny_model(const std::string& name, const LlamaConfig& config, QuantMode mode,
                          const LoraSpec& spec, int head_rows = 0);

// Random tokens (B, T) in [3, V), positions 0..T-1 per row.
void random_tokens(std::vector<int>* tokens, std::vector<int>* pos, int B, int T, int V, uint64_t seed);

}  // namespace loom::test
