// MetricsLog writes every metrics.jsonl record as a TensorBoard event too: one event file in
// output_dir, valid TFRecord framing, one record per line after the file_version record, the
// line's names in it. (The Event messages are decoded field by field in
// tests/tensorboard/test_tensorboard_events.cpp.)
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/test_support.h"
#include "tensorboard/tfrecord_reader.h"
#include "train/metrics_log.h"

namespace loom {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> event_files(const std::string& dir) {
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().filename().string().rfind("events.out.tfevents.", 0) == 0) files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

TEST(MetricsLogTensorBoard, WritesEveryRecordAsAnEvent) {
  const std::string out = (fs::path(test::scratch_dir("tensorboard-metrics-log")) / "run").string();
  {
    MetricsLog log(out, 100, 0, /*enabled=*/true, /*console=*/nullptr);
    log.log(1, {{"loss", 3.0}, {"learning_rate", 2e-4}, {"grad_norm", 0.5}});
    log.log(2, {{"loss", 2.0}, {"env/reward_mean", -0.25}, {"objective/kl", 0.125}});
    log.log(4, {{"eval_loss", 1.5}, {"rewards/accuracies", 0.75}});
  }
  const std::vector<std::string> files = event_files(out);
  ASSERT_EQ(files.size(), 1u);
  const std::vector<std::string> records = test::read_tfrecords(files[0]);
  ASSERT_EQ(records.size(), 4u);
  EXPECT_NE(records[0].find("brain.Event:2"), std::string::npos);
  std::ifstream jsonl(fs::path(out) / "metrics.jsonl");
  size_t index = 1;
  for (std::string line; std::getline(jsonl, line); ++index) {
    ASSERT_LT(index, records.size());
    const nlohmann::json record = nlohmann::json::parse(line);
    for (const auto& [name, value] : record.items()) {
      if (name == "step") continue;
      EXPECT_NE(records[index].find(name), std::string::npos) << name << " in record " << index;
    }
  }
  EXPECT_EQ(index, records.size());
  std::printf("event file: %s\n", files[0].c_str());  // for tests/golden/check_tensorboard.py
}

TEST(MetricsLogTensorBoard, DisabledRanksWriteNoEventFile) {
  const std::string out = (fs::path(test::scratch_dir("tensorboard-disabled")) / "run").string();
  MetricsLog log(out, 10, 0, /*enabled=*/false, /*console=*/nullptr);
  log.log(1, {{"loss", 1.0}});
  EXPECT_FALSE(fs::exists(out));
}

}  // namespace
}  // namespace loom
