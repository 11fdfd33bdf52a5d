// HF checkpoint directories: single-file and sharded round trips, atomic replacement, and
// the directories loom refuses (missing, pickle-only, bad index, missing tensor).
#include "io/hf_checkpoint.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include <nlohmann/json.hpp>

#include "core/check.h"
#include "io/json_file.h"
#include "support/test_support.h"

namespace loom {
namespace {

using test::error_of;
using test::expect_contains;

namespace fs = std::filesystem;



void write_text(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

// Four tensors of one layer of a (C = 8, F = 12) model with deterministic values.
struct LayerTensors {
  std::vector<float> q = test::random_vector(8 * 8, 1), up = test::random_vector(12 * 8, 2),
                     down = test::random_vector(8 * 12, 3), norm = test::random_vector(8, 4);
  std::vector<NamedTensor> named() const {
    return {{"model.layers.0.self_attn.q_proj.weight", {8, 8}, q.data()},
            {"model.layers.0.mlp.up_proj.weight", {12, 8}, up.data()},
            {"model.layers.0.mlp.down_proj.weight", {8, 12}, down.data()},
            {"model.norm.weight", {8}, norm.data()}};
  }
};

class HfCheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = test::scratch_dir("hf-checkpoint");
    config_ = llama_preset("tiny");
  }
  void TearDown() override { fs::remove_all(root_); }

  std::string root_;
  LlamaConfig config_;
  LayerTensors layer_;
};

TEST_F(HfCheckpointTest, SingleFileRoundTrip) {
  const std::string dir = root_ + "/ckpt";
  write_text(root_ + "/tokenizer.model", "spm");
  write_hf_checkpoint(dir, config_, layer_.named(), DType::F32, kHfMaxShardBytes, {root_ + "/tokenizer.model"});
  EXPECT_TRUE(fs::exists(dir + "/model.safetensors"));
  EXPECT_FALSE(fs::exists(dir + "/model.safetensors.index.json"));
  EXPECT_FALSE(fs::exists(dir + ".tmp"));
  EXPECT_EQ(read_text_file(dir + "/tokenizer.model"), "spm");

  const HfCheckpoint ckpt(dir);
  EXPECT_EQ(ckpt.config().hidden_size, 64);
  EXPECT_EQ(ckpt.config().torch_dtype, "float32");
  EXPECT_EQ(ckpt.tensor_names().size(), 4u);
  EXPECT_TRUE(ckpt.has("model.norm.weight"));
  EXPECT_FALSE(ckpt.has("lm_head.weight"));
  std::vector<float> up(12 * 8);
  ckpt.read_f32("model.layers.0.mlp.up_proj.weight", {12, 8}, up.data());
  EXPECT_EQ(up, layer_.up);
  EXPECT_EQ(SafetensorsFile(dir + "/model.safetensors").metadata().at("format"), "pt");
}

TEST_F(HfCheckpointTest, Bf16RoundTripAndReplacingAnExistingDirectory) {
  const std::string dir = root_ + "/ckpt";
  fs::create_directories(dir);
  write_text(dir + "/stale.txt", "old");
  fs::create_directories(dir + ".tmp");  // left by a crash
  write_hf_checkpoint(dir, config_, layer_.named(), DType::BF16, 0, {});
  EXPECT_FALSE(fs::exists(dir + "/stale.txt"));
  EXPECT_FALSE(fs::exists(dir + ".tmp"));

  const HfCheckpoint ckpt(dir);
  EXPECT_EQ(ckpt.config().torch_dtype, "bfloat16");
  std::vector<float> down(8 * 12);
  ckpt.read_f32("model.layers.0.mlp.down_proj.weight", {8, 12}, down.data());
  for (size_t i = 0; i < down.size(); ++i) EXPECT_EQ(down[i], bf16_to_f32(f32_to_bf16(layer_.down[i]))) << i;
}

TEST_F(HfCheckpointTest, ShardedRoundTrip) {
  const std::string dir = root_ + "/sharded";
  // F16 bytes: q 128, up 192, down 192, norm 16; filled in order, shards of at most 300 bytes
  // hold {q}, {up}, {down, norm}.
  write_hf_checkpoint(dir, config_, layer_.named(), DType::F16, 300, {});
  EXPECT_FALSE(fs::exists(dir + "/model.safetensors"));
  for (const char* shard : {"model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
                            "model-00003-of-00003.safetensors"})
    EXPECT_TRUE(fs::exists(dir + "/" + shard)) << shard;
  const nlohmann::json index = nlohmann::json::parse(read_text_file(dir + "/model.safetensors.index.json"));
  EXPECT_EQ(index["metadata"]["total_size"], 128 + 192 + 192 + 16);
  EXPECT_EQ(index["weight_map"]["model.layers.0.self_attn.q_proj.weight"], "model-00001-of-00003.safetensors");
  EXPECT_EQ(index["weight_map"]["model.layers.0.mlp.up_proj.weight"], "model-00002-of-00003.safetensors");
  EXPECT_EQ(index["weight_map"]["model.norm.weight"], "model-00003-of-00003.safetensors");

  const HfCheckpoint ckpt(dir);
  EXPECT_EQ(ckpt.tensor_names().size(), 4u);
  for (const NamedTensor& t : layer_.named()) {
    std::vector<float> out(static_cast<size_t>(t.shape[0]) * (t.shape.size() > 1 ? t.shape[1] : 1));
    ckpt.read_f32(t.name, t.shape, out.data());
    for (size_t i = 0; i < out.size(); ++i) ASSERT_EQ(out[i], f16_to_f32(f32_to_f16(t.data[i]))) << t.name << " " << i;
  }
}

TEST_F(HfCheckpointTest, MissingDirectory) {
  const std::string dir = root_ + "/nowhere";
  EXPECT_EQ(error_of([&] { HfCheckpoint c(dir); }), dir + ": checkpoint directory does not exist");
}

TEST_F(HfCheckpointTest, RefusesPickleOnlyDirectory) {
  const std::string dir = root_ + "/pickle";
  fs::create_directories(dir);
  write_text(dir + "/config.json", llama_config_to_json(config_));
  write_text(dir + "/pytorch_model.bin", "not really a pickle");
  EXPECT_EQ(error_of([&] { HfCheckpoint c(dir); }),
            dir + ": pytorch_model.bin is a pickle checkpoint, which loom does not load (loading it executes "
                  "code); convert it to safetensors, e.g. with transformers' save_pretrained(safe_serialization=True)");
}

TEST_F(HfCheckpointTest, RefusesShardedPickleDirectory) {
  const std::string dir = root_ + "/pickle-shards";
  fs::create_directories(dir);
  write_text(dir + "/pytorch_model-00001-of-00002.bin", "x");
  expect_contains(error_of([&] { HfCheckpoint c(dir); }),
                  dir + ": pytorch_model-00001-of-00002.bin is a pickle checkpoint");
}

TEST_F(HfCheckpointTest, DirectoryWithoutWeights) {
  const std::string dir = root_ + "/empty";
  fs::create_directories(dir);
  write_text(dir + "/config.json", llama_config_to_json(config_));
  EXPECT_EQ(error_of([&] { HfCheckpoint c(dir); }),
            dir + ": no model.safetensors or model.safetensors.index.json found");
}

TEST_F(HfCheckpointTest, MissingConfigNamesTheFile) {
  const std::string dir = root_ + "/ckpt";
  write_hf_checkpoint(dir, config_, layer_.named(), DType::F32, 0, {});
  fs::remove(dir + "/config.json");
  expect_contains(error_of([&] { HfCheckpoint c(dir); }), dir + "/config.json: cannot read");
}

TEST_F(HfCheckpointTest, MissingTensor) {
  const std::string dir = root_ + "/ckpt";
  std::vector<NamedTensor> tensors = layer_.named();
  tensors.erase(tensors.begin() + 1);  // no up_proj
  write_hf_checkpoint(dir, config_, tensors, DType::F32, 0, {});
  const HfCheckpoint ckpt(dir);
  std::vector<float> up(12 * 8);
  EXPECT_EQ(error_of([&] { ckpt.read_f32("model.layers.0.mlp.up_proj.weight", {12, 8}, up.data()); }),
            dir + ": tensor 'model.layers.0.mlp.up_proj.weight' is missing");
}

TEST_F(HfCheckpointTest, ShapeMismatchNamesFileAndConfig) {
  const std::string dir = root_ + "/ckpt";
  write_hf_checkpoint(dir, config_, layer_.named(), DType::F32, 0, {});
  const HfCheckpoint ckpt(dir);
  std::vector<float> q(64);
  EXPECT_EQ(error_of([&] { ckpt.read_f32("model.layers.0.self_attn.q_proj.weight", {4, 16}, q.data()); }),
            dir + "/model.safetensors: tensor 'model.layers.0.self_attn.q_proj.weight' has shape [8, 8], "
                  "expected [4, 16] (from config.json)");
}

class HfIndexTest : public HfCheckpointTest {
 protected:
  // A sharded checkpoint whose index is then replaced by `weight_map`.
  std::string with_weight_map(const nlohmann::json& weight_map) {
    const std::string dir = root_ + "/sharded";
    write_hf_checkpoint(dir, config_, layer_.named(), DType::F32, 300, {});
    write_text(dir + "/model.safetensors.index.json",
               nlohmann::json({{"metadata", {{"total_size", 0}}}, {"weight_map", weight_map}}).dump());
    return dir;
  }
};

TEST_F(HfIndexTest, IndexPointingOutsideTheDirectory) {
  write_hf_checkpoint(root_ + "/other", config_, layer_.named(), DType::F32, 0, {});
  const std::string dir = with_weight_map({{"model.norm.weight", "../other/model.safetensors"}});
  EXPECT_EQ(error_of([&] { HfCheckpoint c(dir); }),
            dir + "/model.safetensors.index.json: weight_map entry 'model.norm.weight' points to "
                  "'../other/model.safetensors', which is not a file inside the checkpoint directory");
}

TEST_F(HfIndexTest, IndexPointingToAMissingFile) {
  const std::string dir = with_weight_map({{"model.norm.weight", "model-00009-of-00009.safetensors"}});
  expect_contains(error_of([&] { HfCheckpoint c(dir); }),
                  dir + "/model.safetensors.index.json: weight_map entry 'model.norm.weight' points to "
                        "'model-00009-of-00009.safetensors', which does not exist");
}

TEST_F(HfIndexTest, IndexMapsATensorTheFileLacks) {
  const std::string dir = with_weight_map({{"model.norm.weight", "model-00001-of-00004.safetensors"}});
  expect_contains(error_of([&] { HfCheckpoint c(dir); }),
                  dir + "/model-00001-of-00004.safetensors: tensor 'model.norm.weight' is missing");
}

TEST_F(HfIndexTest, IndexWithoutWeightMap) {
  const std::string dir = with_weight_map({});
  write_text(dir + "/model.safetensors.index.json", R"({"metadata": {}})");
  EXPECT_EQ(error_of([&] { HfCheckpoint c(dir); }), dir + "/model.safetensors.index.json: weight_map is missing");
}

TEST_F(HfCheckpointTest, WriteFailsWhenTheParentIsNotADirectory) {
  write_text(root_ + "/file", "x");
  const std::string dir = root_ + "/file/ckpt";
  expect_contains(error_of([&] { write_hf_checkpoint(dir, config_, layer_.named(), DType::F32, 0, {}); }),
                  dir + ".tmp: cannot create directory");
}

TEST_F(HfCheckpointTest, WriteFailsOnAMissingExtraFile) {
  const std::string dir = root_ + "/ckpt";
  const std::string extra = root_ + "/tokenizer.model";
  expect_contains(error_of([&] { write_hf_checkpoint(dir, config_, layer_.named(), DType::F32, 0, {extra}); }),
                  extra + ": cannot copy into " + dir);
  EXPECT_FALSE(fs::exists(dir));
  EXPECT_FALSE(fs::exists(dir + ".tmp"));
}

}  // namespace
}  // namespace loom
