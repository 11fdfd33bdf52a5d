#include "model/trainable_layout.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <set>

#include "core/check.h"
#include "core/rng.h"
#include "io/atomic_file.h"
#include "io/safetensors.h"

namespace loom {

namespace fs = std::filesystem;

TrainableLayout::TrainableLayout(const LlamaShape& shape, const LoraSpec& spec, int head_rows, bool head_bias)
    : spec_(spec),
      C_(shape.C),
      head_rows_(spec.saves_module(kLmHeadModule) ? shape.V : head_rows),
      trains_lm_head_(spec.saves_module(kLmHeadModule)),
      head_bias_(head_bias) {
  LOOM_REQUIRE(!head_bias || head_rows > 0, "TrainableLayout: a head bias needs a head");
  LOOM_REQUIRE(spec.r > 0, "lora.r must be positive, got ", spec.r);
  LOOM_REQUIRE(!trains_lm_head_ || head_rows == 0, "modules_to_save lm_head cannot go with another head");
  const auto& names = llama_linear_names();
  std::array<bool, kNumLinears> targeted{};
  for (const std::string& module : spec.target_modules) {
    bool known = false;
    for (int id = 0; id < kNumLinears; ++id)
      if (names[id] == module) targeted[id] = known = true;
    LOOM_REQUIRE(known, "lora.target_modules: unknown module '", module, "'");
  }
  size_t offset = 0;
  slot_index_.assign(shape.L, {});
  for (int l = 0; l < shape.L; ++l) {
    for (int id = 0; id < kNumLinears; ++id) {
      slot_index_[l][id] = -1;
      if (!targeted[id]) continue;
      LoraSlot s;
      s.layer = l;
      s.id = LinearId(id);
      s.in = shape.linear_in(s.id);
      s.out = shape.linear_out(s.id);
      s.a = offset;
      offset += size_t(spec.r) * s.in;
      s.b = offset;
      offset += size_t(s.out) * spec.r;
      slot_index_[l][id] = static_cast<int>(slots_.size());
      slots_.push_back(s);
    }
  }
  head_offset_ = offset;
  total_ = offset + size_t(head_rows_) * shape.C + (head_bias_ ? size_t(head_rows_) : 0);
}

const LoraSlot* TrainableLayout::slot(int layer, LinearId id) const {
  const int i = slot_index_[layer][id];
  return i < 0 ? nullptr : &slots_[i];
}

void init_trainable(float* params, const TrainableLayout& layout, uint64_t seed, float head_init_std) {
  Rng rng(seed, /*stream=*/0x4c6f5241);  // "LoRA"
  for (const LoraSlot& s : layout.slots()) {
    const float bound = 1.0f / std::sqrt(static_cast<float>(s.in));
    float* a = params + s.a;  // (R, in)
    for (size_t i = 0; i < size_t(layout.rank()) * s.in; ++i) a[i] = bound * (2.0f * rng.uniform() - 1.0f);
    float* b = params + s.b;  // (out, R)
    for (size_t i = 0; i < size_t(s.out) * layout.rank(); ++i) b[i] = 0.0f;
  }
  float* head = params + layout.head_offset();
  for (size_t i = 0; i < layout.total() - layout.head_offset(); ++i) head[i] = head_init_std * rng.normal();
}

std::string trainable_summary(const TrainableLayout& layout, int64_t base_params) {
  const int64_t trainable = static_cast<int64_t>(layout.total());
  const int64_t all = base_params + static_cast<int64_t>(layout.lora_count());
  char line[200];
  std::snprintf(line, sizeof line, "trainable params: %lld || all params: %lld || trainable%%: %.4f",
                static_cast<long long>(trainable), static_cast<long long>(all),
                100.0 * static_cast<double>(trainable) / static_cast<double>(all));
  return line;
}

static std::vector<int64_t> a_shape(const TrainableLayout& layout, const LoraSlot& s) {
  return {layout.rank(), s.in};
}
static std::vector<int64_t> b_shape(const TrainableLayout& layout, const LoraSlot& s) {
  return {s.out, layout.rank()};
}

void save_peft_adapter(const std::string& dir, const TrainableLayout& layout, const float* params,
                       const std::string& head_key) {
  namespace fs = std::filesystem;
  LOOM_REQUIRE(fs::is_directory(dir), dir, ": adapter directory does not exist");
  SafetensorsWriter writer;
  writer.set_metadata("format", "pt");
  const auto& names = llama_linear_names();
  for (const LoraSlot& s : layout.slots()) {
    writer.add_f32(peft_lora_key(s.layer, names[s.id], "lora_A"), a_shape(layout, s), params + s.a, DType::F32);
    writer.add_f32(peft_lora_key(s.layer, names[s.id], "lora_B"), b_shape(layout, s), params + s.b, DType::F32);
  }
  if (layout.head_rows() > 0 && !layout.head_has_bias())
    writer.add_f32(head_key, {layout.head_rows(), layout.head_cols()},
                   params + layout.head_offset(), DType::F32);
  writer.write((fs::path(dir) / "adapter_model.safetensors").string());

  write_file_atomically((fs::path(dir) / "adapter_config.json").string(), adapter_config_json(layout.spec()));
}

void load_peft_adapter(const std::string& dir, const TrainableLayout& layout, float* params,
                       const std::string& head_key) {
  const std::string config_path = (fs::path(dir) / "adapter_config.json").string();
  const LoraSpec spec = load_adapter_config(config_path);
  LOOM_REQUIRE(spec.r == layout.rank(), config_path, ": r=", spec.r, " but the run expects r=", layout.rank());
  const SafetensorsFile file((fs::path(dir) / "adapter_model.safetensors").string());
  const auto& names = llama_linear_names();
  std::set<std::string> read;
  for (const LoraSlot& s : layout.slots()) {
    for (const char* which : {"lora_A", "lora_B"}) {
      const std::string key = *read.insert(peft_lora_key(s.layer, names[s.id], which)).first;
      const bool is_a = which[5] == 'A';
      file.read_f32(key, is_a ? a_shape(layout, s) : b_shape(layout, s), params + (is_a ? s.a : s.b));
    }
  }
  // Non-finite values are refused by SafetensorsFile::read_f32, naming the file and tensor.
  if (layout.head_rows() > 0 && !layout.head_has_bias()) {
    file.read_f32(*read.insert(head_key).first, {layout.head_rows(), layout.head_cols()},
                  params + layout.head_offset());
  }
  require_only_named_tensors(file, read, config_path);
}

size_t first_non_finite(const float* values, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (!std::isfinite(values[i])) return i;
  return n;
}

namespace {

void save_value_head(const std::string& dir, const TrainableLayout& layout, const float* params) {
  SafetensorsWriter writer;
  writer.set_metadata("format", "pt");
  writer.add_f32(kValueWeightKey, {1, layout.head_cols()}, params + layout.head_offset(), DType::F32);
  writer.add_f32(kValueBiasKey, {1}, params + layout.head_bias_offset(), DType::F32);
  writer.write((std::filesystem::path(dir) / kValueHeadFileName).string());
}

void load_value_head(const std::string& dir, const TrainableLayout& layout, float* params) {
  const std::string path = (std::filesystem::path(dir) / kValueHeadFileName).string();
  const SafetensorsFile file(path);
  file.read_f32(kValueWeightKey, {1, layout.head_cols()}, params + layout.head_offset());
  file.read_f32(kValueBiasKey, {1}, params + layout.head_bias_offset());
}

}  // namespace

void save_trainable(const std::string& dir, const TrainableLayout& layout, const float* params,
                    const std::string& head_key) {
  const size_t bad = first_non_finite(params, layout.total());
  LOOM_REQUIRE(bad == layout.total(), dir, ": refusing to write trainable parameter ", bad, " = ", params[bad],
               " (not finite)");
  LOOM_REQUIRE(layout.head_rows() == 1 || !layout.head_has_bias(), "save_trainable: a value head has one row");
  save_peft_adapter(dir, layout, params, head_key);
  if (layout.head_has_bias()) save_value_head(dir, layout, params);
}

void load_trainable(const std::string& dir, const TrainableLayout& layout, float* params,
                    const std::string& head_key) {
  load_peft_adapter(dir, layout, params, head_key);
  if (layout.head_has_bias()) load_value_head(dir, layout, params);
}

}  // namespace loom

