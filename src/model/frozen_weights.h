// The frozen base model: embeddings, norms and LM head in f32, the decoder linears
// quantized at load (quant/quantized_matrix.h), all in one arena of the backend's memory.
#pragma once

#include <array>
#include <functional>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "core/arena.h"
#include "io/hf_checkpoint.h"
#include "model/llama_shape.h"
#include "model/llama_tensors.h"
#include "quant/quantized_matrix.h"

namespace loom {

struct FrozenLayer {
  const float* input_norm = nullptr;  // (C)
  const float* post_norm = nullptr;   // (C)
  std::array<QuantizedMatrix, kNumLinears> linear;  // [out, in] each, see LlamaShape::linear_out/in
};

// Resident bytes of each component (what `loom inspect` and the loader report).
struct FrozenBytes {
  double embeddings = 0, norms = 0, linears = 0, lm_head = 0;
  double total() const { return embeddings + norms + linears + lm_head; }
};

FrozenBytes frozen_bytes(const LlamaConfig& config, QuantMode mode);

class FrozenWeights {
 public:
  // Checks the checkpoint's headers against its config (check_llama_checkpoint), then reads it
  // and quantizes its linears on the host; errors name the file and tensor. For a backend whose
  // memory is not the host's (a GPU), the arena then goes over in one upload and every pointer
  // below points into the backend's copy: only the backend's ops may read them.
  FrozenWeights(const HfCheckpoint& checkpoint, QuantMode mode, const Backend& backend);

  // Fills out (t's elements, f32) with tensor t of the model.
  using TensorSource = std::function<void(const LlamaTensor& t, float* out)>;
  // The same from any source of config's tensors (random weights: model/random_init.h), read
  // one at a time: the linears pass through one f32 staging matrix, so the whole model is
  // never held in f32.
  FrozenWeights(const LlamaConfig& config, QuantMode mode, const TensorSource& source, const Backend& backend);

  const LlamaConfig& config() const { return config_; }
  const LlamaShape& shape() const { return shape_; }
  QuantMode mode() const { return mode_; }
  const float* embed() const { return embed_; }             // (V, C)
  const FrozenLayer& layer(int l) const { return layers_[l]; }
  const float* final_norm() const { return final_norm_; }   // (C)
  const float* lm_head() const { return lm_head_; }         // (V, C); the embedding when tied
  // Names these weights' values (Backend::begin_reused_weight): unique to this object.
  uint64_t version() const { return version_; }
  const FrozenBytes& bytes() const { return bytes_; }

 private:
  void move_to(const Backend& backend);

  LlamaConfig config_;
  LlamaShape shape_;
  QuantMode mode_;
  Arena arena_;
  float* embed_ = nullptr;
  std::vector<FrozenLayer> layers_;
  float* final_norm_ = nullptr;
  float* lm_head_ = nullptr;
  FrozenBytes bytes_;
  uint64_t version_ = new_weight_version();
};

}  // namespace loom
