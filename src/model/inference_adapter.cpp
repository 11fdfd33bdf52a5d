#include "model/inference_adapter.h"

#include <climits>
#include <filesystem>

#include "core/check.h"
#include "io/safetensors.h"

namespace loom {

namespace fs = std::filesystem;

// Rows of the SEQ_CLS head in the adapter file (0 when it has none or trains the LM head);
// refuses modules to save that loom would otherwise drop silently.
static int adapter_head_rows(const SafetensorsFile& file, const std::string& config_path, const LoraSpec& spec,
                             const LlamaConfig& base) {
  for (const std::string& module : spec.modules_to_save)
    LOOM_REQUIRE(module == "score" || module == "classifier" || module == kLmHeadModule, config_path,
                 ": modules_to_save entry '", module,
                 "' is not supported (loom reads LoRA weights, the SEQ_CLS head 'score' and a trained 'lm_head')");
  if (spec.saves_module(kLmHeadModule)) {
    LOOM_REQUIRE(!base.tie_word_embeddings, config_path,
                 ": the adapter trains lm_head but the base ties it to embed_tokens");
    return 0;
  }
  const TensorInfo* head = file.find(kScoreHeadKey);
  if (head == nullptr) return 0;
  LOOM_REQUIRE(head->shape.size() == 2 && head->shape[0] > 0 && head->shape[0] <= INT32_MAX &&
                   head->shape[1] == base.hidden_size,
               file.path(), ": tensor '", kScoreHeadKey, "' has shape ", shape_string(head->shape),
               ", expected [num_labels, ", base.hidden_size, "]");
  return static_cast<int>(head->shape[0]);
}

InferenceAdapter load_inference_adapter(const std::string& dir, const LlamaConfig& base, int head_rows,
                                        bool for_generation) {
  InferenceAdapter adapter;
  const LlamaShape shape = llama_shape(base);
  if (dir.empty()) {
    LOOM_ASSERT(head_rows >= 0);
    adapter.spec.target_modules.clear();  // no adapted linears: the base alone
    adapter.layout = std::make_unique<TrainableLayout>(shape, adapter.spec, head_rows);
    adapter.params.assign(adapter.layout->total(), 0.0f);
    return adapter;
  }
  const std::string config_path = (fs::path(dir) / "adapter_config.json").string();
  adapter.spec = load_adapter_config(config_path);
  LOOM_REQUIRE(!for_generation || adapter.spec.task_type == "CAUSAL_LM", config_path, ": task_type '",
               adapter.spec.task_type, "' is not a generation adapter (expected CAUSAL_LM)");
  const SafetensorsFile file((fs::path(dir) / "adapter_model.safetensors").string());
  // The rank the weights have, before anything is allocated from the config's r: lora_A of the
  // first adapted linear is [r, in].
  const std::string first_a = peft_lora_key(0, adapter.spec.target_modules.front(), "lora_A");
  const TensorInfo* a = file.find(first_a);
  LOOM_REQUIRE(a && a->shape.size() == 2 && a->shape[0] == adapter.spec.r, file.path(), ": tensor '", first_a, "' ",
               a ? "has shape " + shape_string(a->shape) : std::string("is missing"), " but ", config_path, " gives r=",
               adapter.spec.r);
  const int rows_in_file = adapter_head_rows(file, config_path, adapter.spec, base);
  const int rows = head_rows == kHeadRowsOfAdapter ? rows_in_file : head_rows;
  LOOM_REQUIRE(rows_in_file == 0 || rows_in_file == rows, dir, ": the adapter's score head has ", rows_in_file,
               " rows, this command needs ", rows);
  adapter.layout = std::make_unique<TrainableLayout>(shape, adapter.spec, rows);
  adapter.params.assign(adapter.layout->total(), 0.0f);
  load_peft_adapter(dir, *adapter.layout, adapter.params.data(),
                    adapter.layout->trains_lm_head() ? kLmHeadKey : kScoreHeadKey);
  adapter.loaded = true;
  return adapter;
}

}  // namespace loom
