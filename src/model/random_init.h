// Random-init HF checkpoints of any Llama shape (`loom init-model`, tests): linears and
// embeddings ~ N(0, 0.02) as transformers' initializer_range, norms 1 (or 1 + N(0, norm_jitter)
// so tests notice a norm weight being ignored).
#pragma once

#include <cstdint>
#include <string>

#include "core/dtype.h"
#include "io/hf_config.h"

namespace loom {

void write_random_checkpoint(const std::string& dir, const LlamaConfig& config, uint64_t seed, DType stored,
                             float norm_jitter, const std::string& tokenizer_model);

}  // namespace loom
