// Model inputs loom must not trust: config.json against the weights' headers (checked before
// the arena is sized from it), shape products past int, token ids outside the vocabulary, NaN
// weights, and adapters whose config or tensors do not describe what they hold. Also: the one
// tensor schedule that init, load and merge share.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <utility>

#include <nlohmann/json.hpp>

#include "backend/cpu_f32.h"
#include "core/check.h"
#include "io/json_file.h"
#include "io/safetensors.h"
#include "model/inference_adapter.h"
#include "model/llama_tensors.h"
#include "model/merge.h"
#include "model/random_init.h"
#include "support/test_support.h"
#include "support/tiny_model.h"

namespace loom {
namespace {

using test::error_of;
using test::expect_contains;
namespace fs = std::filesystem;

std::string write_model(const std::string& name, const LlamaConfig& config) {
  const std::string dir = test::scratch_dir(name) + "/model";
  write_random_checkpoint(dir, config, 3, DType::F32, 0.02f, 0.1f, {});
  return dir;
}

// Rewrites one key of DIR/config.json.
void set_config_key(const std::string& dir, const std::string& key, const nlohmann::json& value) {
  const std::string path = dir + "/config.json";
  nlohmann::json j = nlohmann::json::parse(read_text_file(path));
  j[key] = value;
  std::ofstream(path) << j.dump(2);
}

std::string load_error(const std::string& dir) {
  return error_of([&] { FrozenWeights(HfCheckpoint(dir), QuantMode::F32, cpu_f32_backend()); });
}

TEST(ModelInputs, ScheduleIsWhatInitWritesAndLoadReads) {
  for (const bool tied : {false, true}) {
    LlamaConfig config = test::tiny_test_config();
    config.tie_word_embeddings = tied;
    const std::string dir = write_model(tied ? "inputs-schedule-tied" : "inputs-schedule", config);
    const HfCheckpoint checkpoint(dir);
    std::vector<std::string> planned;
    for (const LlamaTensor& t : llama_tensors(config)) planned.push_back(t.name);
    EXPECT_EQ(planned.size(), size_t(1 + 2 * 9 + 1 + (tied ? 0 : 1)));
    std::sort(planned.begin(), planned.end());
    EXPECT_EQ(checkpoint.tensor_names(), planned);
    const FrozenWeights base(checkpoint, QuantMode::F32, cpu_f32_backend());
    EXPECT_EQ(base.lm_head() == base.embed(), tied);
  }
}

// Loads DIR with 256 MB more address space than the process has; exits 0 when the error holds
// `expected`, 1 otherwise (an allocation failure included), printing the error.
[[noreturn]] void load_with_little_memory(const std::string& dir, const std::string& expected) {
  long pages = 0;
  std::ifstream("/proc/self/statm") >> pages;
  const rlim_t limit = rlim_t(pages) * 4096 + (rlim_t(256) << 20);
  const struct rlimit r = {limit, limit};
  setrlimit(RLIMIT_AS, &r);
  const std::string message = load_error(dir);
  std::fprintf(stderr, "%s\n", message.c_str());
  std::exit(message.find(expected) != std::string::npos ? 0 : 1);
}

TEST(ModelInputs, HugeConfigSizesAreRefusedBeforeTheArenaIsAllocated) {
  const std::string dir = write_model("inputs-huge-vocab", test::tiny_test_config());
  set_config_key(dir, "vocab_size", 4000000);  // 2 x 4e6 x 32 x 4 bytes = 1 GB of embeddings and head
  // In a child limited to 256 MB more address space than it has, the load must fail on the shape,
  // not on the allocation.
  EXPECT_EXIT(load_with_little_memory(dir, "has shape [64, 32] but " + dir + "/config.json gives [4000000, 32]"),
              ::testing::ExitedWithCode(0), "config.json gives");
}

TEST(ModelInputs, MoreLayersInTheWeightsThanInTheConfigAreRefused) {
  const std::string dir = write_model("inputs-fewer-layers", test::tiny_test_config());
  set_config_key(dir, "num_hidden_layers", 1);
  const std::string message = load_error(dir);
  expect_contains(message, dir + "/model.safetensors: tensor 'model.layers.1.");
  expect_contains(message, "is not part of the model " + dir + "/config.json describes (1 layers");
}

TEST(ModelInputs, MoreLayersInTheConfigThanInTheWeightsAreRefused) {
  const std::string dir = write_model("inputs-more-layers", test::tiny_test_config());
  set_config_key(dir, "num_hidden_layers", 100000);
  expect_contains(load_error(dir), dir + ": tensor 'model.layers.2.input_layernorm.weight' is missing (" + dir +
                                       "/config.json describes it)");
}

TEST(ModelInputs, ProjectionWidthPastIntIsRefused) {
  nlohmann::json j = nlohmann::json::parse(llama_config_to_json(test::tiny_test_config()));
  j["num_attention_heads"] = 65536;
  j["num_key_value_heads"] = 65536;
  j["head_dim"] = 65536;
  expect_contains(error_of([&] { parse_llama_config(j.dump(), "m/config.json"); }),
                  "m/config.json: num_attention_heads 65536 x head_dim 65536 is too large a projection");
}

TEST(ModelInputs, SpecialTokenIdsOutsideTheVocabularyAreRefused) {
  for (const char* key : {"bos_token_id", "eos_token_id", "pad_token_id"}) {
    nlohmann::json j = nlohmann::json::parse(llama_config_to_json(test::tiny_test_config()));
    j[key] = 64;  // vocab_size 64
    expect_contains(error_of([&] { parse_llama_config(j.dump(), "m/config.json"); }),
                    std::string("m/config.json: ") + key + " 64 is outside the vocabulary of vocab_size 64");
  }
}

TEST(ModelInputs, PositionsPastMaxPositionEmbeddingsAreRefused) {
  const LlamaConfig config = test::tiny_test_config();  // max_position_embeddings 128
  require_within_positions(config, 128, "rows");
  expect_contains(error_of([&] { require_within_positions(config, 129, "p/manifest.json: max_len"); }),
                  "p/manifest.json: max_len: 129 tokens exceed the model's max_position_embeddings of 128");
}

TEST(ModelInputs, NonFiniteWeightsAreRefusedAtLoadNamingFileAndTensor) {
  const LlamaConfig config = test::tiny_test_config();
  const std::string dir = test::scratch_dir("inputs-nan") + "/model";
  std::vector<std::vector<float>> storage;
  std::vector<NamedTensor> tensors;
  for (const LlamaTensor& t : llama_tensors(config)) {
    size_t n = 1;
    for (int64_t d : t.shape) n *= size_t(d);
    storage.push_back(test::random_vector(n, storage.size() + 1, -0.1f, 0.1f));
    if (t.name == "model.layers.1.mlp.up_proj.weight") {
      storage.back()[5] = std::numeric_limits<float>::quiet_NaN();
      storage.back()[9] = std::numeric_limits<float>::infinity();
    }
  }
  const std::vector<LlamaTensor> plan = llama_tensors(config);
  for (size_t i = 0; i < plan.size(); ++i) tensors.push_back({plan[i].name, plan[i].shape, storage[i].data()});
  for (DType stored : {DType::F32, DType::BF16}) {
    write_hf_checkpoint(dir, config, tensors, stored, 0, {});
    expect_contains(load_error(dir), dir + "/model.safetensors: tensor 'model.layers.1.mlp.up_proj.weight' holds 2 "
                                           "NaN or infinite values (the first at element 5)");
  }
}

class AdapterInputs : public ::testing::Test {
 protected:
  void SetUp() override {
    LoraSpec spec;
    spec.r = 4;
    spec.target_modules = {"q_proj", "v_proj"};
    model_ = test::make_tiny_model("inputs-adapter", test::tiny_test_config(), QuantMode::F32, spec);
    adapter_ = fs::path(model_.dir).parent_path().string() + "/adapter";
    fs::create_directories(adapter_);
    save_peft_adapter(adapter_, *model_.layout, model_.params.data(), "");
  }
  // Rewrites the adapter file with the layout's tensors plus `extra` (name, shape), and NaN at
  // element 0 of `nan_tensor`.
  void rewrite_adapter(const std::string& extra, const std::vector<int64_t>& extra_shape,
                       const std::string& nan_tensor = "") {
    const SafetensorsFile old(adapter_ + "/adapter_model.safetensors");
    std::vector<std::vector<float>> data;
    std::vector<TensorInfo> infos = old.tensors();
    for (const TensorInfo& t : infos) {
      data.emplace_back(size_t(t.elements()));
      old.read_f32(t.name, t.shape, data.back().data());
      if (t.name == nan_tensor) data.back()[0] = std::nanf("");
    }
    SafetensorsWriter writer;
    for (size_t i = 0; i < infos.size(); ++i) writer.add_f32(infos[i].name, infos[i].shape, data[i].data(), DType::F32);
    std::vector<float> extra_data(extra.empty() ? 0 : 4 * 32, 0.5f);
    if (!extra.empty()) writer.add_f32(extra, extra_shape, extra_data.data(), DType::F32);
    writer.write(adapter_ + "/adapter_model.safetensors");
  }
  std::string load_error() {
    return error_of([&] { load_inference_adapter(adapter_, model_.base->config(), 0, true); });
  }
  test::TinyModel model_;
  std::string adapter_;
};

TEST_F(AdapterInputs, CleanAdapterLoads) {
  const InferenceAdapter loaded = load_inference_adapter(adapter_, model_.base->config(), 0, true);
  EXPECT_TRUE(loaded.loaded);
  EXPECT_EQ(loaded.params, model_.params);
}

TEST_F(AdapterInputs, LoraAlphaMustBePositive) {
  const std::pair<const char*, const char*> cases[] = {{"0", "lora_alpha must be a positive number"},
                                                       {"-16", "lora_alpha must be a positive number"},
                                                       {"1e39", "lora_alpha 1e+39 is outside the range of a 32-bit float"}};
  for (const auto& [alpha, problem] : cases) {
    std::string text = read_text_file(adapter_ + "/adapter_config.json");
    const size_t at = text.find("\"lora_alpha\": ");
    ASSERT_NE(at, std::string::npos);
    const size_t end = text.find(',', at);
    text.replace(at, end - at, std::string("\"lora_alpha\": ") + alpha);
    std::ofstream(adapter_ + "/adapter_config.json") << text;
    expect_contains(load_error(), adapter_ + "/adapter_config.json: " + problem);
  }
}

TEST_F(AdapterInputs, RankIsCheckedAgainstTheWeightsBeforeAllocating) {
  std::string text = read_text_file(adapter_ + "/adapter_config.json");
  const size_t at = text.find("\"r\": 4");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, 6, "\"r\": 2000000000");  // 2e9 x (32 + 32) x 2 modules x 2 layers floats: 2 TB
  std::ofstream(adapter_ + "/adapter_config.json") << text;
  expect_contains(load_error(), adapter_ + "/adapter_model.safetensors: tensor '" +
                                    peft_lora_key(0, "q_proj", "lora_A") + "' has shape [4, 32] but " + adapter_ +
                                    "/adapter_config.json gives r=2000000000");
}

TEST_F(AdapterInputs, TensorsForModulesTheConfigDoesNotNameAreRefused) {
  rewrite_adapter(peft_lora_key(0, "k_proj", "lora_A"), {4, 32});
  expect_contains(load_error(), adapter_ + "/adapter_model.safetensors: tensor '" + peft_lora_key(0, "k_proj", "lora_A") +
                                    "' is for a module, layer or head that");
}

TEST_F(AdapterInputs, TensorsForLayersTheModelLacksAreRefused) {
  rewrite_adapter(peft_lora_key(2, "q_proj", "lora_A"), {4, 32});
  expect_contains(load_error(), "tensor '" + peft_lora_key(2, "q_proj", "lora_A") + "' is for a module, layer or head");
}

TEST_F(AdapterInputs, NonFiniteAdapterWeightsAreRefused) {
  const std::string key = peft_lora_key(1, "v_proj", "lora_B");
  rewrite_adapter("", {}, key);
  expect_contains(load_error(), adapter_ + "/adapter_model.safetensors: tensor '" + key +
                                    "' holds 1 NaN or infinite values (the first at element 0)");
}

TEST_F(AdapterInputs, MergeUsesTheSameChecks) {
  rewrite_adapter(peft_lora_key(2, "q_proj", "lora_A"), {4, 32});
  const std::string out = fs::path(adapter_).parent_path().string() + "/merged";
  expect_contains(error_of([&] { merge_adapter(model_.dir, adapter_, out, MergeOptions{}); }),
                  "' is for a module, layer or head that");
  EXPECT_FALSE(fs::exists(out));
}

}  // namespace
}  // namespace loom
