// The dimensions of a Llama model, derived once from its config.
#pragma once

#include <cstdint>
#include <string>

#include "io/hf_config.h"

namespace loom {

// The seven linears of a decoder layer, in the order loom stores them.
enum LinearId { kQ = 0, kK, kV, kO, kGate, kUp, kDown, kNumLinears };

struct LlamaShape {
  int L = 0;    // layers
  int C = 0;    // hidden size
  int F = 0;    // MLP intermediate size
  int NH = 0;   // attention heads
  int NKV = 0;  // key/value heads
  int HD = 0;   // head dimension
  int V = 0;    // vocabulary
  int QD() const { return NH * HD; }   // query projection width
  int KVD() const { return NKV * HD; }  // key/value projection width
  int linear_out(LinearId id) const;
  int linear_in(LinearId id) const;
  int64_t max_linear_elements() const;  // the largest out*in over the seven linears
};

// Every dimension is positive and fits an int, and so do NH*HD and NKV*HD (parse_llama_config
// guarantees it); element counts are int64_t.
LlamaShape llama_shape(const LlamaConfig& config);

// Refuses `tokens` positions (a row of a shard, a prompt plus its generated tokens) past the
// model's max_position_embeddings: "<what>: N tokens exceed max_position_embeddings M of <config>".
void require_within_positions(const LlamaConfig& config, int64_t tokens, const std::string& what);

}  // namespace loom
