#include "model/merge.h"

#include <filesystem>
#include <vector>

#include "core/check.h"
#include "io/atomic_file.h"
#include "io/peft_adapter.h"
#include "io/tokenizer_files.h"
#include "model/inference_adapter.h"
#include "model/llama_tensors.h"
#include "ops/matmul.h"

namespace loom {

namespace fs = std::filesystem;

namespace {

constexpr const char* kSequenceClassification = "LlamaForSequenceClassification";

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
  check_llama_checkpoint(base);
  const InferenceAdapter loaded = load_inference_adapter(adapter_dir, base.config(), kHeadRowsOfAdapter, false);
  const TrainableLayout& layout = *loaded.layout;
  const std::vector<float>& adapter = loaded.params;
  const LlamaShape shape = llama_shape(base.config());
  const int head_rows = layout.trains_lm_head() ? 0 : layout.head_rows();

  MergeSummary summary;
  summary.head_rows = head_rows;
  summary.trained_lm_head = layout.trains_lm_head();
  summary.config = base.config();
  if (head_rows > 0) {
    summary.config.architecture = kSequenceClassification;
    summary.config.num_labels = head_rows;
  }
  const std::vector<LlamaTensor> plan = llama_tensors(summary.config);
  std::vector<std::vector<float>> data(plan.size());
  std::vector<NamedTensor> tensors;
  std::vector<float> delta(size_t(shape.max_linear_elements()));
  for (size_t i = 0; i < plan.size(); ++i) {
    const LlamaTensor& t = plan[i];
    size_t elements = 1;
    for (int64_t d : t.shape) elements *= size_t(d);
    data[i].resize(elements);
    const LoraSlot* slot = t.role == LlamaTensorRole::linear ? layout.slot(t.layer, t.id) : nullptr;
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

  const TokenizerFiles tokenizer_files(base_dir, out_dir + ".tokenizer.tmp", /*causal_lm=*/head_rows == 0);
  replace_directory_atomically(out_dir, [&](const std::string& tmp) {
    write_hf_checkpoint(tmp, summary.config, tensors, options.stored, options.max_shard_bytes, tokenizer_files.paths());
  });
  return summary;
}

}  // namespace loom
