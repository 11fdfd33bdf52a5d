// Where the trainable parameters live in the flat f32 buffer (and, at the same offsets,
// in the gradient and optimizer-state buffers): the LoRA A (R, in) and B (out, R) of each
// adapted linear, layer by layer, then an optional head (rows x C): a score head, a value
// head, or the whole trained LM head (V x C, modules_to_save "lm_head"), then the head's
// bias (rows) when it has one (the PPO value head, TRL's v_head.summary Linear(C, 1)).
// One flat buffer means one all-reduce, one AdamW call and one checkpoint tensor list.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "io/peft_adapter.h"
#include "model/llama_shape.h"

namespace loom {

struct LoraSlot {
  int layer = 0;
  LinearId id = kQ;
  int in = 0, out = 0;
  size_t a = 0;  // offset of A (R, in)
  size_t b = 0;  // offset of B (out, R)
};

class TrainableLayout {
 public:
  // head_rows: 0 for no head, num_labels for a score head, 1 for a value head. When the spec
  // saves "lm_head" the head is the LM head (V rows) and head_rows must be 0. head_bias: the
  // head has a bias of head_rows values after its weight (a value head).
  TrainableLayout(const LlamaShape& shape, const LoraSpec& spec, int head_rows, bool head_bias = false);

  const LoraSpec& spec() const { return spec_; }
  int rank() const { return spec_.r; }
  float scale() const { return spec_.scale(); }
  const std::vector<LoraSlot>& slots() const { return slots_; }
  const LoraSlot* slot(int layer, LinearId id) const;  // nullptr when the linear has no adapter
  int head_rows() const { return head_rows_; }
  bool trains_lm_head() const { return trains_lm_head_; }
  int head_cols() const { return C_; }
  size_t head_offset() const { return head_offset_; }  // (head_rows, C)
  bool head_has_bias() const { return head_bias_; }
  size_t head_bias_offset() const { return head_offset_ + size_t(head_rows_) * C_; }  // (head_rows) when it has one
  size_t lora_count() const { return head_offset_; }
  size_t total() const { return total_; }

 private:
  LoraSpec spec_;
  int C_ = 0;
  std::vector<LoraSlot> slots_;
  std::vector<std::array<int, kNumLinears>> slot_index_;  // [layer][linear] -> index into slots_, -1 if none
  int head_rows_ = 0;
  bool trains_lm_head_ = false;
  bool head_bias_ = false;
  size_t head_offset_ = 0, total_ = 0;
};

// PEFT's init: A kaiming-uniform(a=sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in)), B zero, so a fresh
// adapter changes nothing. The head (if any) ~ N(0, init_std). Same seed, same values on every rank.
void init_trainable(float* params, const TrainableLayout& layout, uint64_t seed, float head_init_std);

// `trainable params: X || all params: Y || trainable%: Z`, as PEFT prints it.
std::string trainable_summary(const TrainableLayout& layout, int64_t base_params);

// PEFT adapter directory: adapter_config.json + adapter_model.safetensors (written atomically
// file by file; the directory must exist). The head, if any, is saved under `head_key`
// (SEQ_CLS: "base_model.model.score.weight"); a value head (a head with a bias) is not part
// of the adapter: save_trainable() writes it to value_head.safetensors.
void save_peft_adapter(const std::string& dir, const TrainableLayout& layout, const float* params,
                       const std::string& head_key);

// Reads the adapter weights (and the head under head_key, if the layout has one) into params;
// the adapter's config must describe the same layout. Errors name the file and the tensor;
// a non-finite value (NaN, Inf) is an error naming the file and the tensor.
void load_peft_adapter(const std::string& dir, const TrainableLayout& layout, float* params,
                       const std::string& head_key);

// A value head beside the adapter, TRL's names: v_head.summary.weight (1, C), .bias (1).
inline constexpr const char* kValueHeadFileName = "value_head.safetensors";
inline constexpr const char* kValueWeightKey = "v_head.summary.weight";
inline constexpr const char* kValueBiasKey = "v_head.summary.bias";

// Every trainable tensor of the layout into dir: the PEFT adapter (with the head under
// head_key) and, for a value-head layout, value_head.safetensors. Refuses (one line naming
// dir and the first bad index) to write a non-finite value.
void save_trainable(const std::string& dir, const TrainableLayout& layout, const float* params,
                    const std::string& head_key);
void load_trainable(const std::string& dir, const TrainableLayout& layout, float* params,
                    const std::string& head_key);

// The index of the first non-finite value in values (n), or n when all are finite.
size_t first_non_finite(const float* values, size_t n);

}  // namespace loom
