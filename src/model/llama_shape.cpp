#include "model/llama_shape.h"

#include <algorithm>

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

int LlamaShape::max_linear_elements() const {
  int most = 0;
  for (int id = 0; id < kNumLinears; ++id)
    most = std::max(most, linear_out(LinearId(id)) * linear_in(LinearId(id)));
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
  return s;
}

}  // namespace loom
