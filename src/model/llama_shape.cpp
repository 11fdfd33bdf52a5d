#include "model/llama_shape.h"

#include <algorithm>
#include <climits>

#include "core/check.h"

namespace loom {

int LlamaShape::linear_out(LinearId id) const {
  switch (id) {
    case kQ: return QD();
    case kK: case kV: return KVD();
    case kO: case kDown: return C;
    case kGate: case kUp: return F;
    default: return 0;
  }
}

int LlamaShape::linear_in(LinearId id) const {
  switch (id) {
    case kO: return QD();
    case kDown: return F;
    default: return C;
  }
}

int64_t LlamaShape::max_linear_elements() const {
  int64_t most = 0;
  for (int id = 0; id < kNumLinears; ++id)
    most = std::max(most, int64_t(linear_out(LinearId(id))) * linear_in(LinearId(id)));
  return most;
}

LlamaShape llama_shape(const LlamaConfig& c) {
  LlamaShape s;
  s.L = c.num_hidden_layers;
  s.C = c.hidden_size;
  s.F = c.intermediate_size;
  s.NH = c.num_attention_heads;
  s.NKV = c.num_key_value_heads;
  s.HD = c.head_dim;
  s.V = c.vocab_size;
  LOOM_ASSERT(int64_t(s.NH) * s.HD <= INT32_MAX && int64_t(s.NKV) * s.HD <= INT32_MAX);
  return s;
}

void require_within_positions(const LlamaConfig& config, int64_t tokens, const std::string& what) {
  LOOM_REQUIRE(tokens <= config.max_position_embeddings, what, ": ", tokens,
               " tokens exceed the model's max_position_embeddings of ", config.max_position_embeddings);
}

}  // namespace loom
