// Resumable train state: optimizer.safetensors and train_state.json round trips.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <vector>

#include "core/check.h"
#include "io/safetensors.h"
#include "support/test_support.h"
#include "train/train_state.h"

namespace loom {
namespace {

TEST(TrainState, OptimizerStateRoundTripsBitExactly) {
  const std::string dir = test::scratch_dir("train-state-optimizer");
  const size_t n = 1003;
  std::vector<float> m = test::random_vector(n, 1, -1e-3f, 1e-3f);
  std::vector<float> v = test::random_vector(n, 2, 0.0f, 1e-6f);
  // Values that a lossy path would change: subnormals, signed zero, extremes. (NaN and Inf
  // are never written, and refused on read: test_run_control, docs/reliability.md.)
  m[0] = std::numeric_limits<float>::denorm_min();
  m[1] = -0.0f;
  m[2] = std::numeric_limits<float>::max();
  v[3] = std::numeric_limits<float>::denorm_min();
  v[4] = -std::numeric_limits<float>::max();
  save_optimizer_state(dir, m.data(), v.data(), n, 1234);

  std::vector<float> m_back(n, 7.0f), v_back(n, 7.0f);
  EXPECT_EQ(load_optimizer_state(dir, m_back.data(), v_back.data(), n), 1234);
  EXPECT_EQ(std::memcmp(m.data(), m_back.data(), n * sizeof(float)), 0);
  EXPECT_EQ(std::memcmp(v.data(), v_back.data(), n * sizeof(float)), 0);

  // The file speaks torch's names and stores F32.
  const SafetensorsFile file(dir + "/" + kOptimizerStateFileName);
  ASSERT_NE(file.find("exp_avg"), nullptr);
  ASSERT_NE(file.find("exp_avg_sq"), nullptr);
  EXPECT_EQ(file.find("exp_avg")->dtype, DType::F32);
  EXPECT_EQ(file.find("exp_avg")->shape, (std::vector<int64_t>{1003}));
  EXPECT_EQ(file.metadata().at("step"), "1234");
}

TEST(TrainState, OptimizerStateOfAnotherSizeIsRefused) {
  const std::string dir = test::scratch_dir("train-state-size");
  std::vector<float> m(8, 1.0f), v(8, 2.0f);
  save_optimizer_state(dir, m.data(), v.data(), 8, 3);
  std::vector<float> bigger(16);
  try {
    load_optimizer_state(dir, bigger.data(), bigger.data(), 16);
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(kOptimizerStateFileName), std::string::npos) << message;
    EXPECT_NE(message.find("'exp_avg'"), std::string::npos) << message;
  }
}

TEST(TrainState, JsonRoundTrip) {
  const std::string dir = test::scratch_dir("train-state-json");
  TrainState state;
  state.scheduler_step = 40;
  state.rng_counters = {{"dropout", 18446744073709551615ull}, {"sampling", 0}};
  state.data_cursor = {{"epoch", 1}, {"position", 96}};
  state.extra = {{"kl_coef", 0.2}, {"note", "ppo"}};
  save_train_state(dir, state);

  const TrainState back = load_train_state(dir);
  EXPECT_EQ(back.scheduler_step, 40);
  EXPECT_EQ(back.rng_counters, state.rng_counters);
  EXPECT_EQ(back.data_cursor, state.data_cursor);
  EXPECT_EQ(back.extra, state.extra);
}

TEST(TrainState, JsonErrorsNameTheFileAndField) {
  const std::string dir = test::scratch_dir("train-state-bad");
  const std::string path = dir + "/" + kTrainStateFileName;
  const auto error_for = [&](const std::string& text) {
    std::ofstream(path) << text;
    try {
      load_train_state(dir);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_EQ(error_for(R"({"rng_counters": {}})"), path + ": scheduler_step must be a non-negative integer");
  EXPECT_EQ(error_for(R"({"scheduler_step": 1, "rng_counters": {"dropout": -1}})"),
            path + ": rng_counters.dropout must be a non-negative integer, found -1");
  EXPECT_EQ(error_for(R"({"scheduler_step": 1, "data_cursor": [1]})"),
            path + ": data_cursor must be an object");
}

}  // namespace
}  // namespace loom
