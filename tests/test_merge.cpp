// `loom merge`: the merged model's logits equal base + adapter logits, the SEQ_CLS head is
// carried into a LlamaForSequenceClassification checkpoint, sharding and bf16 storage.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "backend/cpu_f32.h"
#include "core/check.h"
#include "io/json_file.h"
#include "io/safetensors.h"
#include "model/causal_lm.h"
#include "model/merge.h"
#include "support/test_support.h"
#include "support/tiny_model.h"

namespace loom {
namespace {

namespace fs = std::filesystem;

LoraSpec adapter_spec() {
  LoraSpec spec;
  spec.r = 4;
  spec.alpha = 8.0f;
  spec.target_modules = parse_target_modules("q,k,v,o,down");
  return spec;
}

// logits (B*T, V) of `weights` (with the adapter, or the base alone) for random tokens.
std::vector<float> model_logits(const FrozenWeights& weights, const LoraContext* adapter, int B, int T, uint64_t seed) {
  LoraSpec none;
  none.target_modules.clear();
  const TrainableLayout empty(weights.shape(), none, 0);
  const LoraContext off{&empty, nullptr, nullptr, 0.0f, 0, false};
  const LoraContext& lora = adapter ? *adapter : off;
  CausalLm lm(weights, *lora.layout, B, T, false, cpu_f32_backend());
  std::vector<int> tokens, pos;
  test::random_tokens(&tokens, &pos, B, T, weights.shape().V, seed);
  std::vector<float> logits(size_t(B) * T * weights.shape().V);
  lm.logits(logits.data(), TokenBatch{B, T, tokens.data(), pos.data(), nullptr}, lora);
  return logits;
}

std::vector<float> merged_logits(const std::string& dir, int B, int T, uint64_t seed) {
  return model_logits(FrozenWeights(HfCheckpoint(dir), QuantMode::F32, cpu_f32_backend()), nullptr, B, T, seed);
}

struct Merged {
  test::TinyModel m;
  std::string adapter_dir, out_dir;
  MergeSummary summary;
};

Merged merge_tiny(const std::string& name, const LoraSpec& spec, int head_rows, const MergeOptions& options) {
  Merged r;
  r.m = test::make_tiny_model(name, test::tiny_test_config(), QuantMode::F32, spec, head_rows);
  r.adapter_dir = test::scratch_dir(name + "-adapter");
  save_peft_adapter(r.adapter_dir, *r.m.layout, r.m.params.data(), kScoreHeadKey);
  r.out_dir = test::scratch_dir(name + "-out") + "/merged";
  r.summary = merge_adapter(r.m.dir, r.adapter_dir, r.out_dir, options);
  return r;
}

TEST(Merge, MergedLogitsEqualBasePlusAdapter) {
  Merged r = merge_tiny("merge-f32", adapter_spec(), 0, MergeOptions{DType::F32, 0});
  EXPECT_EQ(2 * 5, r.summary.merged_linears);
  EXPECT_EQ("LlamaForCausalLM", r.summary.config.architecture);
  const LoraContext on{r.m.layout.get(), r.m.params.data(), nullptr, 0.0f, 0, true};
  const std::vector<float> expected = model_logits(*r.m.base, &on, 2, 9, 3);
  const std::vector<float> got = merged_logits(r.out_dir, 2, 9, 3);
  const std::vector<float> base_only = model_logits(*r.m.base, nullptr, 2, 9, 3);
  std::string where;
  EXPECT_TRUE(test::all_close(got.data(), expected.data(), got.size(), 1e-5, 1e-5, &where)) << where;
  EXPECT_GT(test::max_abs_diff(base_only.data(), expected.data(), got.size()), 1e-3) << "the adapter changes nothing";
  EXPECT_FALSE(fs::exists(r.out_dir + "/model.safetensors.index.json"));
  EXPECT_FALSE(fs::exists(r.out_dir + ".tmp"));
}

TEST(Merge, ShardsPastTheSizeAndStoresBf16AsRoundedF32) {
  Merged f32 = merge_tiny("merge-shard", adapter_spec(), 0, MergeOptions{DType::F32, 0});
  const std::string sharded = test::scratch_dir("merge-shard-out2") + "/merged";
  merge_adapter(f32.m.dir, f32.adapter_dir, sharded, MergeOptions{DType::F32, 20000});
  EXPECT_TRUE(fs::exists(sharded + "/model.safetensors.index.json"));
  EXPECT_FALSE(fs::exists(sharded + "/model.safetensors"));
  int shards = 0;
  for (const auto& entry : fs::directory_iterator(sharded))
    shards += entry.path().extension() == ".safetensors";
  EXPECT_GT(shards, 2);
  EXPECT_EQ(merged_logits(f32.out_dir, 1, 6, 4), merged_logits(sharded, 1, 6, 4));

  const std::string bf16 = test::scratch_dir("merge-bf16-out") + "/merged";
  merge_adapter(f32.m.dir, f32.adapter_dir, bf16, MergeOptions{DType::BF16, 0});
  const HfCheckpoint exact(f32.out_dir), rounded(bf16);
  EXPECT_EQ("bfloat16", rounded.config().torch_dtype);
  const LlamaShape s = llama_shape(exact.config());
  const std::vector<int64_t> shape = {s.linear_out(kDown), s.linear_in(kDown)};
  std::vector<float> a(shape[0] * shape[1]), b(a.size());
  exact.read_f32("model.layers.1.mlp.down_proj.weight", shape, a.data());
  rounded.read_f32("model.layers.1.mlp.down_proj.weight", shape, b.data());
  for (size_t i = 0; i < a.size(); ++i) ASSERT_EQ(bf16_to_f32(f32_to_bf16(a[i])), b[i]) << i;
}

TEST(Merge, SeqClsHeadBecomesScoreWeight) {
  LoraSpec spec = adapter_spec();
  spec.task_type = "SEQ_CLS";
  spec.modules_to_save = {"classifier", "score"};
  Merged r = merge_tiny("merge-seqcls", spec, 2, MergeOptions{DType::F32, 0});
  EXPECT_EQ(2, r.summary.head_rows);
  const HfCheckpoint merged(r.out_dir);
  EXPECT_EQ("LlamaForSequenceClassification", merged.config().architecture);
  EXPECT_EQ(2, merged.config().num_labels);
  EXPECT_FALSE(merged.has("lm_head.weight"));
  const int C = r.m.base->shape().C;
  std::vector<float> score(2 * C);
  merged.read_f32("score.weight", {2, C}, score.data());
  EXPECT_EQ(0, std::memcmp(score.data(), r.m.params.data() + r.m.layout->head_offset(), sizeof(float) * score.size()));
}

TEST(Merge, PeftGoldenAdapterMatchesHfLogits) {
  const std::string golden = test::source_dir() + "/tests/golden/data";
  const std::string out = test::scratch_dir("merge-golden") + "/merged";
  merge_adapter(golden + "/llama_gqa", golden + "/llama_gqa_adapter", out, MergeOptions{DType::F32, 0});
  const FrozenWeights weights(HfCheckpoint(out), QuantMode::F32, cpu_f32_backend());
  LoraSpec none;
  none.target_modules.clear();
  const TrainableLayout empty(weights.shape(), none, 0);
  const LoraContext off{&empty, nullptr, nullptr, 0.0f, 0, false};
  const SafetensorsFile file(golden + "/llama_gqa_golden.safetensors");
  const int B = 2, T = 12, V = weights.shape().V;
  std::vector<float> ids(B * T), expected(size_t(B) * T * V), got(expected.size());
  file.read_f32("input_ids", {B, T}, ids.data());
  file.read_f32("logits", {B, T, V}, expected.data());
  std::vector<int> tokens(ids.begin(), ids.end()), pos(B * T);
  for (int i = 0; i < B * T; ++i) pos[i] = i % T;
  CausalLm lm(weights, empty, B, T, false, cpu_f32_backend());
  lm.logits(got.data(), TokenBatch{B, T, tokens.data(), pos.data(), nullptr}, off);
  EXPECT_LE(test::max_abs_diff(got.data(), expected.data(), got.size()), 1e-5);
}

TEST(Merge, PeftGoldenSeqClsAdapterReplacesTheScoreHead) {
  const std::string golden = test::source_dir() + "/tests/golden/data";
  const std::string out = test::scratch_dir("merge-golden-seqcls") + "/merged";
  const MergeSummary s =
      merge_adapter(golden + "/llama_seqcls", golden + "/llama_seqcls_adapter", out, MergeOptions{DType::F32, 0});
  EXPECT_EQ(1, s.head_rows);
  EXPECT_EQ(4, s.merged_linears);  // q and v of two layers; "classifier" matches nothing
  const HfCheckpoint merged(out);
  EXPECT_EQ("LlamaForSequenceClassification", merged.config().architecture);
  std::vector<float> score(64), adapter_score(64);
  merged.read_f32("score.weight", {1, 64}, score.data());
  SafetensorsFile(golden + "/llama_seqcls_adapter/adapter_model.safetensors")
      .read_f32(kScoreHeadKey, {1, 64}, adapter_score.data());
  EXPECT_EQ(score, adapter_score);
}

TEST(Merge, CopiesTheTokenizerAndRefusesToOverwriteItsInputs) {
  test::TinyModel m = test::make_tiny_model("merge-tok", test::tiny_test_config(), QuantMode::F32, adapter_spec());
  const std::string tokenizer = test::shared_dir() + "/data/llama2-tokenizer/tokenizer.model";
  fs::copy_file(tokenizer, m.dir + "/tokenizer.model");
  const std::string adapter = test::scratch_dir("merge-tok-adapter");
  save_peft_adapter(adapter, *m.layout, m.params.data(), "");
  const std::string out = test::scratch_dir("merge-tok-out") + "/merged";
  merge_adapter(m.dir, adapter, out, MergeOptions{DType::F32, 0});
  EXPECT_EQ(read_text_file(out + "/tokenizer.model"), read_text_file(tokenizer));
  // The base had no tokenizer_config.json or generation_config.json: the merged model gets both.
  EXPECT_NE(read_text_file(out + "/tokenizer_config.json").find("\"add_bos_token\": true"), std::string::npos);
  EXPECT_NE(read_text_file(out + "/generation_config.json").find("\"eos_token_id\": 2"), std::string::npos);
  EXPECT_FALSE(fs::exists(out + ".tokenizer.tmp"));
  EXPECT_THROW(merge_adapter(m.dir, adapter, m.dir, MergeOptions{DType::F32, 0}), Error);
  EXPECT_THROW(merge_adapter(m.dir, adapter, adapter, MergeOptions{DType::F32, 0}), Error);
  EXPECT_TRUE(fs::exists(m.dir + "/model.safetensors"));
}

TEST(Merge, TrainedLmHeadReplacesTheBaseHead) {
  LoraSpec spec = adapter_spec();
  spec.modules_to_save = {kLmHeadModule};
  Merged r;
  r.m = test::make_tiny_model("merge-head", test::tiny_test_config(), QuantMode::F32, spec);
  r.adapter_dir = test::scratch_dir("merge-head-adapter");
  save_peft_adapter(r.adapter_dir, *r.m.layout, r.m.params.data(), kLmHeadKey);
  r.out_dir = test::scratch_dir("merge-head-out") + "/merged";
  r.summary = merge_adapter(r.m.dir, r.adapter_dir, r.out_dir, MergeOptions{DType::F32, 0});
  EXPECT_TRUE(r.summary.trained_lm_head);
  EXPECT_EQ("LlamaForCausalLM", r.summary.config.architecture);
  const LoraContext on{r.m.layout.get(), r.m.params.data(), nullptr, 0.0f, 0, true};
  const std::vector<float> expected = model_logits(*r.m.base, &on, 2, 9, 4);
  const std::vector<float> got = merged_logits(r.out_dir, 2, 9, 4);
  std::string where;
  EXPECT_TRUE(test::all_close(got.data(), expected.data(), got.size(), 1e-5, 1e-5, &where)) << where;
}

TEST(Merge, RefusesATrainedLmHeadOnATiedBase) {
  LlamaConfig tied = test::tiny_test_config();
  tied.tie_word_embeddings = true;
  LoraSpec spec = adapter_spec();
  spec.modules_to_save = {kLmHeadModule};
  test::TinyModel m = test::make_tiny_model("merge-tied", tied, QuantMode::F32, spec);
  const std::string adapter = test::scratch_dir("merge-tied-adapter");
  save_peft_adapter(adapter, *m.layout, m.params.data(), kLmHeadKey);
  try {
    merge_adapter(m.dir, adapter, test::scratch_dir("merge-tied-out") + "/merged", MergeOptions{DType::F32, 0});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("adapter_config.json: the adapter trains lm_head but the base ties it"),
              std::string::npos) << e.what();
  }
}

TEST(Merge, RefusesModulesToSaveItCannotMerge) {
  test::TinyModel m = test::make_tiny_model("merge-mts", test::tiny_test_config(), QuantMode::F32, adapter_spec());
  LoraSpec spec = adapter_spec();
  spec.modules_to_save = {"embed_tokens"};
  const TrainableLayout layout(m.base->shape(), spec, 0);
  const std::string adapter = test::scratch_dir("merge-mts-adapter");
  save_peft_adapter(adapter, layout, m.params.data(), "");
  try {
    merge_adapter(m.dir, adapter, test::scratch_dir("merge-mts-out") + "/merged", MergeOptions{DType::F32, 0});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("modules_to_save entry 'embed_tokens'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace loom
