// Loading a PEFT adapter for inference (generate, score, merge): adapter_config.json, the
// layout it gives over the base model, and its weights. The one place that decides which head
// an adapter carries and which modules_to_save loom can honour.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "io/peft_adapter.h"
#include "model/llama_shape.h"
#include "model/trainable_layout.h"

namespace loom {

// How many score-head rows the layout holds: the adapter's own head (base_model.model.score
// .weight, 0 rows when it has none) for a merge, or a fixed count (0 to generate; 1 to score,
// the head then coming from the checkpoint unless the adapter carries one).
inline constexpr int kHeadRowsOfAdapter = -1;

struct InferenceAdapter {
  LoraSpec spec;                            // targets nothing when no adapter is given
  std::unique_ptr<TrainableLayout> layout;  // LoRA slots, then the head
  std::vector<float> params;                // (layout->total()), zero when no adapter is given
  bool loaded = false;                      // an adapter directory was read
};

// dir "" = no adapter (an empty layout with `head_rows` rows, zero). for_generation: the
// adapter's task_type must be CAUSAL_LM. Refused, naming the file:
// modules_to_save other than score/classifier/lm_head, a trained lm_head over tied embeddings,
// a score head of the wrong shape, and what load_peft_adapter refuses.
InferenceAdapter load_inference_adapter(const std::string& dir, const LlamaConfig& base, int head_rows,
                                        bool for_generation);

}  // namespace loom
