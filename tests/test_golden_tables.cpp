// Small tables from the Python ecosystem, written by tests/golden/make_golden.py (case
// schedules_rope) into schedules_rope_golden.json: transformers' learning-rate schedules (lr
// as the Trainer reads it before each scheduler.step(), rounded to f32) and RoPE inv_freq bit
// patterns (default and Llama 3.1 scaling, head_dim 128).
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include <nlohmann/json.hpp>

#include "ops/rope.h"
#include "support/golden_file.h"
#include "train/lr_schedule.h"

namespace loom {
namespace {

nlohmann::json tables() {
  std::ifstream in(test::golden_path("schedules_rope_golden.json"));
  return nlohmann::json::parse(in);
}

TEST(GoldenTables, LearningRateSchedulesMatchTransformersExactly) {
  const nlohmann::json schedules = tables().at("lr_schedules");
  ASSERT_GE(schedules.size(), 5u);
  for (const nlohmann::json& c : schedules) {
    LrScheduleKind kind;
    ASSERT_TRUE(lr_schedule_from_name(c.at("kind").get<std::string>(), &kind));
    const double base_lr = c.at("base_lr").get<double>();
    const int warmup = c.at("warmup_steps").get<int>(), total = c.at("total_steps").get<int>();
    const std::vector<double> lrs = c.at("lr_f32").get<std::vector<double>>();
    for (int step = 0; step < int(lrs.size()); ++step)
      EXPECT_EQ(learning_rate_at(kind, base_lr, warmup, total, step), float(lrs[step]))
          << c.at("kind") << " base " << base_lr << " warmup " << warmup << " total " << total << " step " << step;
  }
}

std::vector<uint32_t> bits_of(const std::vector<float>& values) {
  std::vector<uint32_t> bits(values.size());
  std::memcpy(bits.data(), values.data(), values.size() * sizeof(float));
  return bits;
}

TEST(GoldenTables, RopeInvFreqMatchesTransformersBitForBit) {
  const nlohmann::json rope = tables().at("rope_inv_freq_bits");
  std::vector<float> inv_freq(64);
  cpu::rope_inv_freq(inv_freq.data(), 128, 10000.0f, RopeScaling{});
  EXPECT_EQ(bits_of(inv_freq), rope.at("default_head_dim_128_theta_10000").get<std::vector<uint32_t>>());
  RopeScaling llama3;
  llama3.enabled = true;  // factor 8, low 1, high 4, original context 8192
  cpu::rope_inv_freq(inv_freq.data(), 128, 500000.0f, llama3);
  EXPECT_EQ(bits_of(inv_freq), rope.at("llama3_head_dim_128_theta_500000").get<std::vector<uint32_t>>());
}

}  // namespace
}  // namespace loom
