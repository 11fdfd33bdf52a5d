// config.json parsing, validation, writing, presets and parameter counts.
#include "io/hf_config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>

#include <nlohmann/json.hpp>

#include "core/check.h"
#include "support/test_support.h"

namespace loom {
namespace {

using test::error_of;


// meta-llama/Llama-2-7b-hf config.json as published.
const char* const kLlama2_7b = R"({
  "architectures": ["LlamaForCausalLM"], "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu",
  "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 11008,
  "max_position_embeddings": 4096, "model_type": "llama", "num_attention_heads": 32,
  "num_hidden_layers": 32, "num_key_value_heads": 32, "pretraining_tp": 1, "rms_norm_eps": 1e-05,
  "rope_scaling": null, "tie_word_embeddings": false, "torch_dtype": "float16",
  "transformers_version": "4.31.0.dev0", "use_cache": true, "vocab_size": 32000})";

// meta-llama/Llama-3.1-8B-Instruct config.json as published.
const char* const kLlama31_8b = R"({
  "architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009], "hidden_act": "silu",
  "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336,
  "max_position_embeddings": 131072, "mlp_bias": false, "model_type": "llama",
  "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8, "pretraining_tp": 1,
  "rms_norm_eps": 1e-05, "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
  "original_max_position_embeddings": 8192, "rope_type": "llama3"}, "rope_theta": 500000.0,
  "tie_word_embeddings": false, "torch_dtype": "bfloat16", "transformers_version": "4.42.3",
  "use_cache": true, "vocab_size": 128256})";

// The tiny config with one key replaced (null value = key removed), as config.json text.
std::string tiny_with(const std::string& key, const nlohmann::json& value) {
  nlohmann::json j = nlohmann::json::parse(llama_config_to_json(llama_preset("tiny")));
  if (value.is_null()) j.erase(key);
  else j[key] = value;
  return j.dump();
}

std::string parse_error(const std::string& text) {
  return error_of([&] { parse_llama_config(text, "m/config.json"); });
}

TEST(HfConfig, ParsesLlama2Config) {
  const LlamaConfig c = parse_llama_config(kLlama2_7b, "config.json");
  EXPECT_EQ(c.architecture, "LlamaForCausalLM");
  EXPECT_EQ(c.hidden_size, 4096);
  EXPECT_EQ(c.intermediate_size, 11008);
  EXPECT_EQ(c.num_hidden_layers, 32);
  EXPECT_EQ(c.num_attention_heads, 32);
  EXPECT_EQ(c.num_key_value_heads, 32);
  EXPECT_EQ(c.head_dim, 128);
  EXPECT_EQ(c.vocab_size, 32000);
  EXPECT_EQ(c.max_position_embeddings, 4096);
  EXPECT_FLOAT_EQ(c.rms_norm_eps, 1e-5f);
  EXPECT_FLOAT_EQ(c.rope_theta, 10000.0f);
  EXPECT_FALSE(c.rope_scaling.enabled);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_EQ(c.bos_token_id, 1);
  EXPECT_EQ(c.eos_token_id, 2);
  EXPECT_EQ(c.pad_token_id, -1);
  EXPECT_EQ(c.torch_dtype, "float16");
}

TEST(HfConfig, ParsesLlama31ConfigWithRopeScalingAndEosList) {
  const LlamaConfig c = parse_llama_config(kLlama31_8b, "config.json");
  EXPECT_EQ(c.num_key_value_heads, 8);
  EXPECT_EQ(c.vocab_size, 128256);
  EXPECT_FLOAT_EQ(c.rope_theta, 500000.0f);
  EXPECT_TRUE(c.rope_scaling.enabled);
  EXPECT_FLOAT_EQ(c.rope_scaling.factor, 8.0f);
  EXPECT_FLOAT_EQ(c.rope_scaling.low_freq_factor, 1.0f);
  EXPECT_FLOAT_EQ(c.rope_scaling.high_freq_factor, 4.0f);
  EXPECT_EQ(c.rope_scaling.original_max_position_embeddings, 8192);
  EXPECT_EQ(c.bos_token_id, 128000);
  EXPECT_EQ(c.eos_token_id, 128001);
}

TEST(HfConfig, ParsesTransformers5RopeParameters) {
  nlohmann::json j = nlohmann::json::parse(kLlama31_8b);
  j.erase("rope_scaling");
  j.erase("rope_theta");
  j["rope_parameters"] = {{"factor", 8.0}, {"high_freq_factor", 4.0}, {"low_freq_factor", 1.0},
                          {"original_max_position_embeddings", 8192}, {"rope_theta", 500000.0},
                          {"rope_type", "llama3"}};
  const LlamaConfig scaled = parse_llama_config(j.dump(), "config.json");
  EXPECT_TRUE(scaled.rope_scaling.enabled);
  EXPECT_FLOAT_EQ(scaled.rope_theta, 500000.0f);
  j["rope_parameters"] = {{"rope_theta", 10000.0}, {"rope_type", "default"}};
  const LlamaConfig plain = parse_llama_config(j.dump(), "config.json");
  EXPECT_FALSE(plain.rope_scaling.enabled);
  EXPECT_FLOAT_EQ(plain.rope_theta, 10000.0f);
}

TEST(HfConfig, DefaultsForOptionalKeys) {
  const std::string text = R"({"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                               "num_attention_heads": 4, "vocab_size": 100, "pad_token_id": null})";
  const LlamaConfig c = parse_llama_config(text, "config.json");
  EXPECT_EQ(c.architecture, "LlamaForCausalLM");
  EXPECT_EQ(c.num_key_value_heads, 4);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.pad_token_id, -1);
  EXPECT_EQ(c.max_position_embeddings, 2048);
}

TEST(HfConfig, SequenceClassificationLabels) {
  nlohmann::json j = nlohmann::json::parse(kLlama2_7b);
  j["architectures"] = {"LlamaForSequenceClassification"};
  EXPECT_EQ(parse_llama_config(j.dump(), "config.json").num_labels, 1);
  j["num_labels"] = 3;
  EXPECT_EQ(parse_llama_config(j.dump(), "config.json").num_labels, 3);
  j["id2label"] = {{"0", "LABEL_0"}, {"1", "LABEL_1"}};
  EXPECT_EQ(parse_llama_config(j.dump(), "config.json").num_labels, 2);
}

TEST(HfConfig, JsonRoundTripOfEveryPreset) {
  for (const std::string& name : llama_preset_names()) {
    SCOPED_TRACE(name);
    const LlamaConfig c = llama_preset(name);
    const LlamaConfig back = parse_llama_config(llama_config_to_json(c), "config.json");
    EXPECT_EQ(back.hidden_size, c.hidden_size);
    EXPECT_EQ(back.intermediate_size, c.intermediate_size);
    EXPECT_EQ(back.num_hidden_layers, c.num_hidden_layers);
    EXPECT_EQ(back.num_attention_heads, c.num_attention_heads);
    EXPECT_EQ(back.num_key_value_heads, c.num_key_value_heads);
    EXPECT_EQ(back.head_dim, c.head_dim);
    EXPECT_EQ(back.vocab_size, c.vocab_size);
    EXPECT_EQ(back.max_position_embeddings, c.max_position_embeddings);
    EXPECT_EQ(back.rms_norm_eps, c.rms_norm_eps);
    EXPECT_EQ(back.rope_theta, c.rope_theta);
    EXPECT_EQ(back.bos_token_id, c.bos_token_id);
    EXPECT_EQ(back.eos_token_id, c.eos_token_id);
    EXPECT_EQ(back.pad_token_id, c.pad_token_id);
    EXPECT_EQ(back.torch_dtype, c.torch_dtype);
    EXPECT_EQ(llama_parameter_count(back), llama_parameter_count(c));
  }
}

TEST(HfConfig, WrittenJsonIsHfShaped) {
  LlamaConfig c = llama_preset("tiny");
  c.architecture = "LlamaForSequenceClassification";
  c.num_labels = 1;
  c.pad_token_id = 0;
  c.rope_scaling.enabled = true;
  const nlohmann::json j = nlohmann::json::parse(llama_config_to_json(c));
  EXPECT_EQ(j["model_type"], "llama");
  EXPECT_EQ(j["architectures"], nlohmann::json({"LlamaForSequenceClassification"}));
  EXPECT_EQ(j["hidden_act"], "silu");
  EXPECT_EQ(j["rms_norm_eps"].get<double>(), 1e-5);  // written as 1e-05, not as the nearest float
  EXPECT_EQ(j["rope_scaling"]["rope_type"], "llama3");
  EXPECT_EQ(j["id2label"].size(), 1u);
  EXPECT_EQ(j["pad_token_id"], 0);
  const LlamaConfig back = parse_llama_config(j.dump(), "config.json");
  EXPECT_TRUE(back.rope_scaling.enabled);
  EXPECT_EQ(back.rope_scaling.original_max_position_embeddings, 8192);
  EXPECT_EQ(back.num_labels, 1);

  const nlohmann::json plain = nlohmann::json::parse(llama_config_to_json(llama_preset("tiny")));
  EXPECT_TRUE(plain["rope_scaling"].is_null());
  EXPECT_TRUE(plain["pad_token_id"].is_null());
  EXPECT_FALSE(plain.contains("id2label"));
}

TEST(HfConfig, Presets) {
  const LlamaConfig tiny = llama_preset("tiny");
  EXPECT_EQ(tiny.hidden_size, 64);
  EXPECT_EQ(tiny.intermediate_size, 176);
  EXPECT_EQ(tiny.num_hidden_layers, 2);
  EXPECT_EQ(tiny.num_attention_heads, 4);
  EXPECT_EQ(tiny.num_key_value_heads, 2);
  EXPECT_EQ(tiny.vocab_size, 32000);
  EXPECT_EQ(tiny.max_position_embeddings, 512);
  EXPECT_FALSE(tiny.tie_word_embeddings);
  const LlamaConfig l3 = llama_preset("llama3-8b");
  EXPECT_EQ(l3.bos_token_id, 128000);
  EXPECT_EQ(l3.eos_token_id, 128001);
  EXPECT_FLOAT_EQ(l3.rope_theta, 500000.0f);
  EXPECT_TRUE(is_llama_preset("llama2-13b"));
  EXPECT_FALSE(is_llama_preset("gpt2"));
  const std::string message = error_of([] { llama_preset("gpt2"); });
  EXPECT_NE(message.find("unknown model preset 'gpt2' (known: tiny, small"), std::string::npos) << message;
}

TEST(HfConfig, ParameterCountsMatchThePublishedModels) {
  EXPECT_EQ(llama_parameter_count(llama_preset("llama2-7b")), 6738415616);
  EXPECT_EQ(llama_parameter_count(llama_preset("llama2-13b")), 13015864320);
  EXPECT_EQ(llama_parameter_count(llama_preset("llama2-70b")), 68976648192);
  EXPECT_EQ(llama_parameter_count(llama_preset("llama3-8b")), 8030261248);
  EXPECT_EQ(llama_parameter_count(parse_llama_config(kLlama2_7b, "config.json")), 6738415616);
}

TEST(HfConfig, ParameterCountOfTiedAndClassifierModels) {
  LlamaConfig c = llama_preset("llama2-7b");
  const int64_t untied = llama_parameter_count(c);
  c.tie_word_embeddings = true;
  EXPECT_EQ(llama_parameter_count(c), untied - 32000LL * 4096);
  c.tie_word_embeddings = false;
  c.architecture = "LlamaForSequenceClassification";
  c.num_labels = 1;
  EXPECT_EQ(llama_parameter_count(c), untied - 32000LL * 4096 + 4096);
}

TEST(HfConfig, RefusesAttentionBias) {
  EXPECT_EQ(parse_error(tiny_with("attention_bias", true)),
            "m/config.json: attention_bias=true is not supported (Llama linears in loom have no bias)");
}

TEST(HfConfig, RefusesMlpBias) {
  EXPECT_NE(parse_error(tiny_with("mlp_bias", true)).find("m/config.json: mlp_bias=true is not supported"),
            std::string::npos);
}

TEST(HfConfig, RefusesDynamicRopeScaling) {
  const std::string message = parse_error(tiny_with("rope_scaling", {{"type", "dynamic"}, {"factor", 2.0}}));
  EXPECT_NE(message.find("m/config.json: rope_scaling type 'dynamic' is not supported"), std::string::npos) << message;
}

TEST(HfConfig, RefusesIncompleteLlama3RopeScaling) {
  const std::string message = parse_error(tiny_with("rope_scaling", {{"rope_type", "llama3"}, {"factor", 8.0}}));
  EXPECT_NE(message.find("m/config.json: rope_scaling.low_freq_factor is missing"), std::string::npos) << message;
}

TEST(HfConfig, RefusesMissingHiddenSize) {
  EXPECT_EQ(parse_error(tiny_with("hidden_size", nullptr)), "m/config.json: hidden_size is missing");
}

TEST(HfConfig, RefusesNonPositiveOrMistypedSizes) {
  EXPECT_EQ(parse_error(tiny_with("num_hidden_layers", 0)),
            "m/config.json: num_hidden_layers must be a positive integer, found 0");
  EXPECT_EQ(parse_error(tiny_with("vocab_size", "32000")),
            "m/config.json: vocab_size must be an integer, found \"32000\"");
}

// A float field beyond a float's range would read as infinity, which the written config.json
// cannot hold (JSON has no infinity): refused by name, for the top-level and the RoPE fields.
TEST(HfConfig, RefusesFloatsOutsideAFloatsRange) {
  EXPECT_EQ(parse_error(tiny_with("rms_norm_eps", 1e206)),
            "m/config.json: rms_norm_eps 1e+206 is outside the range of a 32-bit float");
  EXPECT_EQ(parse_error(tiny_with("rope_theta", -1e39)),
            "m/config.json: rope_theta -1e+39 is outside the range of a 32-bit float");
  const nlohmann::json llama3 = {{"rope_type", "llama3"},   {"rope_theta", 500000.0},    {"factor", 8.0},
                                 {"low_freq_factor", 1.0}, {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 8192}};
  for (const char* key : {"rope_theta", "factor", "low_freq_factor", "high_freq_factor"}) {
    nlohmann::json rope = llama3;
    rope[key] = 1e300;
    EXPECT_EQ(parse_error(tiny_with("rope_parameters", rope)),
              std::string("m/config.json: rope_parameters: ") + key + " 1e+300 is outside the range of a 32-bit float");
  }
  EXPECT_FLOAT_EQ(parse_llama_config(tiny_with("rms_norm_eps", 3.4e38), "config.json").rms_norm_eps, 3.4e38f);
}

TEST(HfConfig, RefusesHeadsNotAMultipleOfKvHeads) {
  EXPECT_NE(parse_error(tiny_with("num_key_value_heads", 3))
                .find("m/config.json: num_attention_heads (4) must be a multiple of num_key_value_heads (3)"),
            std::string::npos);
}

TEST(HfConfig, RefusesOtherActivationsModelTypesAndArchitectures) {
  EXPECT_NE(parse_error(tiny_with("hidden_act", "gelu")).find("m/config.json: hidden_act 'gelu' is not supported"),
            std::string::npos);
  EXPECT_NE(parse_error(tiny_with("model_type", "mistral")).find("m/config.json: model_type 'mistral'"),
            std::string::npos);
  EXPECT_NE(parse_error(tiny_with("architectures", {"LlamaForQuestionAnswering"}))
                .find("m/config.json: architecture 'LlamaForQuestionAnswering' is not supported"),
            std::string::npos);
}

TEST(HfConfig, RefusesInvalidJson) {
  EXPECT_NE(parse_error("{\"hidden_size\": ").find("m/config.json: not valid JSON"), std::string::npos);
  EXPECT_EQ(parse_error("[]"), "m/config.json: expected a JSON object, found array");
  // A number too large for a double is nlohmann's out_of_range (406), not a parse_error: the
  // message still names the file (found by tests/fuzz/fuzz_json_files).
  EXPECT_NE(parse_error("{\"hidden_size\": 5E555555}").find("m/config.json: not valid JSON"), std::string::npos);
}

TEST(HfConfig, MissingFileNamesThePath) {
  const std::string path = test::scratch_dir("hf-config") + "/config.json";
  const std::string message = error_of([&] { load_llama_config(path); });
  EXPECT_EQ(message.rfind(path + ": cannot read", 0), 0u) << message;
  std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}

}  // namespace
}  // namespace loom
