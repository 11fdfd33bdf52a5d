#include "model/merge.h"

#include <filesystem>
#include <vector>

#include "core/check.h"
#include "io/atomic_file.h"
#include "io/peft_adapter.h"
#include "io/safetensors.h"
#include "model/frozen_weights.h"
#include "model/trainable_layout.h"
#include "ops/matmul.h"

namespace loom {

namespace fs = std::filesystem;

namespace {

constexpr const char* kSequenceClassification = "LlamaForSequenceClassification";

struct PlannedTensor {
  std::string name;
  std::vector<int64_t> shape;
  int layer = -1;  // a decoder linear: its layer and id
  LinearId id = kQ;
};

// The tensors of the output checkpoint, in HF's module order.
std::vector<PlannedTensor> output_tensors(const LlamaConfig& out_config, const LlamaShape& s) {
  std::vector<PlannedTensor> list;
  list.push_back({"model.embed_tokens.weight", {s.V, s.C}});
  for (int l = 0; l < s.L; ++l) {
    list.push_back({cat("model.layers.", l, ".input_layernorm.weight"), {s.C}});
    list.push_back({cat("model.layers.", l, ".post_attention_layernorm.weight"), {s.C}});
    for (int id = 0; id < kNumLinears; ++id) {
      const LinearId linear = LinearId(id);
      list.push_back({linear_tensor_name(l, linear), {s.linear_out(linear), s.linear_in(linear)}, l, linear});
    }
  }
  list.push_back({"model.norm.weight", {s.C}});
  if (out_config.architecture == kSequenceClassification)
    list.push_back({"score.weight", {out_config.num_labels, s.C}});
  else if (!out_config.tie_word_embeddings)
    list.push_back({"lm_head.weight", {s.V, s.C}});
  return list;
}

// Rows of the SEQ_CLS head in the adapter file (0 when it has none; a trained lm_head is laid
// out by the spec itself); refuses tensors the merge would otherwise drop silently.
int adapter_score_rows(const std::string& adapter_dir, const LoraSpec& spec, const LlamaConfig& base_config) {
  const std::string config_path = (fs::path(adapter_dir) / "adapter_config.json").string();
  for (const std::string& module : spec.modules_to_save)
    LOOM_REQUIRE(module == "score" || module == "classifier" || module == kLmHeadModule, config_path,
                 ": modules_to_save entry '", module,
                 "' is not supported (loom merges LoRA weights, the SEQ_CLS head 'score' and a trained 'lm_head')");
  if (spec.saves_module(kLmHeadModule)) {
    LOOM_REQUIRE(!base_config.tie_word_embeddings, config_path,
                 ": the adapter trains lm_head but the base ties it to embed_tokens");
    return 0;
  }
  const SafetensorsFile file((fs::path(adapter_dir) / "adapter_model.safetensors").string());
  const TensorInfo* head = file.find(kScoreHeadKey);
  if (head == nullptr) return 0;
  LOOM_REQUIRE(head->shape.size() == 2 && head->shape[0] > 0, file.path(), ": tensor '", kScoreHeadKey,
               "' has shape ", shape_string(head->shape), ", expected [num_labels, hidden]");
  return static_cast<int>(head->shape[0]);
}

void require_distinct(const std::string& out_dir, const std::string& other, const char* what) {
  std::error_code ec;
  const bool same = fs::exists(other) && fs::exists(out_dir) && fs::equivalent(out_dir, other, ec);
  LOOM_REQUIRE(!same, out_dir, ": the output directory is the ", what, " directory");
}

}  // namespace

void merge_lora_weight(float* w, float* delta, const float* a, const float* b, int out, int in, int R, float scale) {
  const size_t n = size_t(out) * in;
  for (size_t i = 0; i < n; ++i) delta[i] = 0.0f;
  cpu::matmul_backward_input(delta, b, a, out, in, R);  // delta (out, in) = B (out, R) @ A (R, in)
  for (size_t i = 0; i < n; ++i) w[i] += delta[i] * scale;  // PEFT: W + (B @ A) * scale
}

MergeSummary merge_adapter(const std::string& base_dir, const std::string& adapter_dir, const std::string& out_dir,
                           const MergeOptions& options) {
  LOOM_REQUIRE(options.stored == DType::F32 || options.stored == DType::BF16, "merge: stored dtype must be F32 or BF16");
  require_distinct(out_dir, base_dir, "base");
  require_distinct(out_dir, adapter_dir, "adapter");
  const HfCheckpoint base(base_dir);
  const LoraSpec spec = load_adapter_config((fs::path(adapter_dir) / "adapter_config.json").string());
  const LlamaShape shape = llama_shape(base.config());
  const int head_rows = adapter_score_rows(adapter_dir, spec, base.config());
  const TrainableLayout layout(shape, spec, head_rows);
  std::vector<float> adapter(layout.total());
  load_peft_adapter(adapter_dir, layout, adapter.data(), layout.trains_lm_head() ? kLmHeadKey : kScoreHeadKey);

  MergeSummary summary;
  summary.head_rows = head_rows;
  summary.trained_lm_head = layout.trains_lm_head();
  summary.config = base.config();
  if (head_rows > 0) {
    summary.config.architecture = kSequenceClassification;
    summary.config.num_labels = head_rows;
  }
  const std::vector<PlannedTensor> plan = output_tensors(summary.config, shape);
  std::vector<std::vector<float>> data(plan.size());
  std::vector<NamedTensor> tensors;
  std::vector<float> delta(size_t(shape.max_linear_elements()));
  for (size_t i = 0; i < plan.size(); ++i) {
    const PlannedTensor& t = plan[i];
    size_t elements = 1;
    for (int64_t d : t.shape) elements *= size_t(d);
    data[i].resize(elements);
    const LoraSlot* slot = t.layer >= 0 ? layout.slot(t.layer, t.id) : nullptr;
    const bool adapter_head = (t.name == "score.weight" && head_rows > 0) ||
                              (t.name == "lm_head.weight" && layout.trains_lm_head());
    if (adapter_head) {
      std::copy(adapter.begin() + layout.head_offset(), adapter.end(), data[i].begin());  // PEFT's trained copy
    } else {
      base.read_f32(t.name, t.shape, data[i].data());
    }
    if (slot != nullptr) {
      merge_lora_weight(data[i].data(), delta.data(), adapter.data() + slot->a, adapter.data() + slot->b, slot->out,
                        slot->in, layout.rank(), layout.scale());
      ++summary.merged_linears;
    } else {
      ++summary.copied_tensors;
    }
    tensors.push_back({t.name, t.shape, data[i].data()});
  }

  std::vector<std::string> extra_files;
  for (const char* name : {"tokenizer.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                           "generation_config.json"}) {
    const fs::path path = fs::path(base_dir) / name;
    const bool causal_only = std::string(name) == "generation_config.json";
    if (fs::is_regular_file(path) && !(causal_only && head_rows > 0)) extra_files.push_back(path.string());
  }
  replace_directory_atomically(out_dir, [&](const std::string& tmp) {
    write_hf_checkpoint(tmp, summary.config, tensors, options.stored, options.max_shard_bytes, extra_files);
  });
  return summary;
}

}  // namespace loom
