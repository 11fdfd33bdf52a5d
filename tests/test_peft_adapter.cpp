// PEFT LoRA adapter naming and adapter_config.json reading/writing.
#include "io/peft_adapter.h"

#include <gtest/gtest.h>

#include "support/test_support.h"

#include <functional>

#include <nlohmann/json.hpp>

#include "core/check.h"

namespace loom {
namespace {

using test::error_of;


// adapter_config.json of a SEQ_CLS adapter as PEFT 0.21 saves it (unused keys trimmed).
const char* const kPeftSeqCls = R"({
  "alpha_pattern": {}, "auto_mapping": null, "base_model_name_or_path": null, "bias": "none",
  "exclude_modules": null, "fan_in_fan_out": false, "inference_mode": true, "init_lora_weights": true,
  "layer_replication": null, "layers_pattern": null, "layers_to_transform": null, "loftq_config": {},
  "lora_alpha": 32, "lora_bias": false, "lora_dropout": 0.1, "megatron_config": null,
  "modules_to_save": ["classifier", "score"], "peft_type": "LORA", "peft_version": "0.21.2", "r": 8,
  "rank_pattern": {}, "revision": null, "target_modules": ["q_proj", "v_proj"], "target_parameters": null,
  "task_type": "SEQ_CLS", "trainable_token_indices": null, "use_dora": false, "use_qalora": false,
  "use_rslora": false})";

using Modules = std::vector<std::string>;

std::string config_error(const std::string& key, const nlohmann::json& value) {
  nlohmann::json j = nlohmann::json::parse(kPeftSeqCls);
  j[key] = value;
  return error_of([&] { parse_adapter_config(j.dump(), "a/adapter_config.json"); });
}

TEST(PeftAdapter, Scale) {
  LoraSpec spec;
  spec.r = 8;
  spec.alpha = 16.0f;
  EXPECT_FLOAT_EQ(spec.scale(), 2.0f);
  spec.r = 16;
  spec.use_rslora = true;
  EXPECT_FLOAT_EQ(spec.scale(), 4.0f);
}

TEST(PeftAdapter, LinearNames) {
  EXPECT_EQ(llama_linear_names(),
            (Modules{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}));
}

TEST(PeftAdapter, ParseTargetModules) {
  EXPECT_EQ(parse_target_modules("q,v"), (Modules{"q_proj", "v_proj"}));
  EXPECT_EQ(parse_target_modules("q_proj,v_proj"), (Modules{"q_proj", "v_proj"}));
  EXPECT_EQ(parse_target_modules(" v , q_proj, q "), (Modules{"q_proj", "v_proj"}));
  EXPECT_EQ(parse_target_modules("down,gate"), (Modules{"gate_proj", "down_proj"}));
  EXPECT_EQ(parse_target_modules("all-linear"), llama_linear_names());
}

TEST(PeftAdapter, ParseTargetModulesRefusesUnknownNames) {
  const std::string message = error_of([] { parse_target_modules("q,lm_head"); });
  EXPECT_NE(message.find("target modules 'q,lm_head': unknown module 'lm_head'"), std::string::npos) << message;
  EXPECT_NE(error_of([] { parse_target_modules(" , "); }).find("name no module"), std::string::npos);
}

TEST(PeftAdapter, Keys) {
  EXPECT_EQ(peft_lora_key(3, "q_proj", "lora_A"), "base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight");
  EXPECT_EQ(peft_lora_key(0, "o_proj", "lora_B"), "base_model.model.model.layers.0.self_attn.o_proj.lora_B.weight");
  EXPECT_EQ(peft_lora_key(31, "down_proj", "lora_B"), "base_model.model.model.layers.31.mlp.down_proj.lora_B.weight");
  EXPECT_EQ(peft_lora_key(1, "gate_proj", "lora_A"), "base_model.model.model.layers.1.mlp.gate_proj.lora_A.weight");
  EXPECT_EQ(peft_saved_module_key("score"), "base_model.model.score.weight");
}

TEST(PeftAdapter, ReadsAPeftConfig) {
  const LoraSpec spec = parse_adapter_config(kPeftSeqCls, "adapter_config.json");
  EXPECT_EQ(spec.r, 8);
  EXPECT_FLOAT_EQ(spec.alpha, 32.0f);
  EXPECT_FLOAT_EQ(spec.dropout, 0.1f);
  EXPECT_EQ(spec.task_type, "SEQ_CLS");
  EXPECT_EQ(spec.target_modules, (Modules{"q_proj", "v_proj"}));
  EXPECT_EQ(spec.modules_to_save, (Modules{"classifier", "score"}));
  EXPECT_FALSE(spec.use_rslora);
  EXPECT_FLOAT_EQ(spec.scale(), 4.0f);
}

TEST(PeftAdapter, WrittenConfigHasPeftFieldsAndReadsBack) {
  LoraSpec spec;
  spec.r = 16;
  spec.alpha = 32.0f;
  spec.dropout = 0.05f;
  spec.target_modules = parse_target_modules("all-linear");
  spec.use_rslora = true;
  spec.base_model_name_or_path = "meta-llama/Llama-2-7b-hf";
  const nlohmann::json j = nlohmann::json::parse(adapter_config_json(spec));
  EXPECT_EQ(j["peft_type"], "LORA");
  EXPECT_EQ(j["task_type"], "CAUSAL_LM");
  EXPECT_EQ(j["r"], 16);
  EXPECT_EQ(j["lora_alpha"].get<double>(), 32.0);
  EXPECT_EQ(j["lora_dropout"].get<double>(), 0.05);
  EXPECT_EQ(j["bias"], "none");
  EXPECT_EQ(j["use_rslora"], true);
  EXPECT_EQ(j["use_dora"], false);
  EXPECT_EQ(j["fan_in_fan_out"], false);
  EXPECT_EQ(j["init_lora_weights"], true);
  EXPECT_EQ(j["inference_mode"], true);
  EXPECT_TRUE(j["modules_to_save"].is_null());
  EXPECT_TRUE(j["revision"].is_null());
  EXPECT_TRUE(j["layers_to_transform"].is_null());
  EXPECT_EQ(j["target_modules"].size(), 7u);
  EXPECT_EQ(j["base_model_name_or_path"], "meta-llama/Llama-2-7b-hf");

  const LoraSpec back = parse_adapter_config(j.dump(), "adapter_config.json");
  EXPECT_EQ(back.r, spec.r);
  EXPECT_EQ(back.alpha, spec.alpha);
  EXPECT_EQ(back.dropout, spec.dropout);
  EXPECT_EQ(back.target_modules, spec.target_modules);
  EXPECT_TRUE(back.use_rslora);
  EXPECT_TRUE(back.modules_to_save.empty());
  EXPECT_EQ(back.base_model_name_or_path, spec.base_model_name_or_path);

  spec.task_type = "SEQ_CLS";
  spec.modules_to_save = {"score"};
  const nlohmann::json seq_cls = nlohmann::json::parse(adapter_config_json(spec));
  EXPECT_EQ(seq_cls["modules_to_save"], nlohmann::json({"score"}));
  EXPECT_EQ(parse_adapter_config(seq_cls.dump(), "adapter_config.json").modules_to_save, Modules{"score"});
}

TEST(PeftAdapter, AcceptsAllLinearString) {
  nlohmann::json j = nlohmann::json::parse(kPeftSeqCls);
  j["target_modules"] = "all-linear";
  EXPECT_EQ(parse_adapter_config(j.dump(), "adapter_config.json").target_modules, llama_linear_names());
}

TEST(PeftAdapter, RefusesOtherPeftTypes) {
  EXPECT_EQ(config_error("peft_type", "PREFIX_TUNING"),
            "a/adapter_config.json: peft_type 'PREFIX_TUNING' is not supported (loom reads LORA adapters)");
}

TEST(PeftAdapter, RefusesDora) {
  EXPECT_EQ(config_error("use_dora", true), "a/adapter_config.json: use_dora=true is not supported (DoRA)");
}

TEST(PeftAdapter, RefusesBias) {
  EXPECT_NE(config_error("bias", "all").find("a/adapter_config.json: bias 'all' is not supported"), std::string::npos);
}

TEST(PeftAdapter, RefusesFanInFanOut) {
  EXPECT_NE(config_error("fan_in_fan_out", true).find("a/adapter_config.json: fan_in_fan_out=true is not supported"),
            std::string::npos);
}

TEST(PeftAdapter, RefusesPerLayerSettings) {
  EXPECT_NE(config_error("layers_to_transform", {0, 1}).find("a/adapter_config.json: layers_to_transform is not supported"),
            std::string::npos);
  EXPECT_NE(config_error("rank_pattern", {{"q_proj", 4}}).find("a/adapter_config.json: rank_pattern is not supported"),
            std::string::npos);
}

TEST(PeftAdapter, RefusesUnknownTargets) {
  EXPECT_NE(config_error("target_modules", {"q_proj", "lm_head"})
                .find("a/adapter_config.json: target_modules entry 'lm_head' is not supported"),
            std::string::npos);
  EXPECT_NE(config_error("target_modules", ".*proj").find("a/adapter_config.json: target_modules '.*proj' is not supported"),
            std::string::npos);
}

TEST(PeftAdapter, RefusesOtherTaskTypesAndBadRank) {
  EXPECT_NE(config_error("task_type", "TOKEN_CLS").find("a/adapter_config.json: task_type 'TOKEN_CLS' is not supported"),
            std::string::npos);
  EXPECT_EQ(config_error("r", 0), "a/adapter_config.json: r must be a positive integer, found 0");
}

TEST(PeftAdapter, RefusesAlphaOrDropoutOutsideAFloatsRange) {
  EXPECT_EQ(config_error("lora_alpha", 1e206),
            "a/adapter_config.json: lora_alpha 1e+206 is outside the range of a 32-bit float");
  EXPECT_EQ(config_error("lora_dropout", -1e40),
            "a/adapter_config.json: lora_dropout -1e+40 is outside the range of a 32-bit float");
  EXPECT_EQ(config_error("lora_alpha", 0), "a/adapter_config.json: lora_alpha must be a positive number, found 0");
}

TEST(PeftAdapter, MissingFileNamesThePath) {
  const std::string message = error_of([] { load_adapter_config("no-such-dir/adapter_config.json"); });
  EXPECT_EQ(message.rfind("no-such-dir/adapter_config.json: cannot read", 0), 0u) << message;
}

}  // namespace
}  // namespace loom
