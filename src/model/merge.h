// Folding a PEFT LoRA adapter into its base checkpoint (`loom merge`): for every adapted
// linear W (out, in) += scale * B (out, R) @ A (R, in), computed in f32 from the ORIGINAL
// checkpoint tensors (never the quantized ones loom trains on), every other tensor copied.
// A SEQ_CLS adapter's head (base_model.model.score.weight, a module to save) becomes
// score.weight of a LlamaForSequenceClassification checkpoint with num_labels = its rows;
// lm_head.weight is then dropped. The base's tokenizer files go along (io/tokenizer_files.h:
// what AutoTokenizer needs, a tokenizer_config.json written when the base has none). The output is written atomically (write_hf_checkpoint), sharded
// past max_shard_bytes. The whole model is held in f32 memory while merging.
#pragma once

#include <cstddef>
#include <string>

#include "core/dtype.h"
#include "io/hf_checkpoint.h"

namespace loom {

// PEFT's key of the SEQ_CLS head.

struct MergeOptions {
  DType stored = DType::F32;                   // F32 or BF16
  size_t max_shard_bytes = kHfMaxShardBytes;   // 0 = one file
};

struct MergeSummary {
  int merged_linears = 0;   // weights that received B @ A
  int copied_tensors = 0;   // weights copied unchanged
  int head_rows = 0;        // > 0 when the adapter carried a SEQ_CLS head
  bool trained_lm_head = false;  // lm_head.weight is the adapter's (modules_to_save lm_head)
  LlamaConfig config;       // the config written
};

// w (out, in) += scale * b (out, R) @ a (R, in); delta (out, in) is scratch.
void merge_lora_weight(float* w, float* delta, const float* a, const float* b, int out, int in, int R, float scale);

MergeSummary merge_adapter(const std::string& base_dir, const std::string& adapter_dir, const std::string& out_dir,
                           const MergeOptions& options);

}  // namespace loom
