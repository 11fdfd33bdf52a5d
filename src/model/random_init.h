// Random-init HF checkpoints of any Llama shape (`loom init-model`, tests): linears and
// embeddings ~ N(0, init_std) (transformers' initializer_range is 0.02), norms 1 (or
// 1 + N(0, norm_jitter) so tests notice a norm weight being ignored).
//
// A narrow random model cannot be fine-tuned to confident predictions with 0.02: an LM-head
// row then has norm 0.02 * sqrt(C) and the normalised hidden state sqrt(C), so no logit can
// exceed 0.02 * C (1.3 at C = 64). The tiny demo and test models use init_std 0.15.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "io/hf_config.h"
#include "model/frozen_weights.h"

namespace loom {

void write_random_checkpoint(const std::string& dir, const LlamaConfig& config, uint64_t seed, DType stored,
                             float init_std, float norm_jitter, const std::vector<std::string>& extra_files);

// Random weights straight into FrozenWeights (FrozenWeights(config, mode, source)), with no
// checkpoint written: linears and embeddings ~ N(0, init_std), norms 1. Each element is drawn
// from (seed, tensor name, index) in parallel, so the values do not depend on the thread
// count. For shapes whose f32 checkpoint would not fit in memory (`loom bench` of a 7B shape).
FrozenWeights::TensorSource random_tensor_source(uint64_t seed, float init_std);

}  // namespace loom
