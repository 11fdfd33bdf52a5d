// Progress lines and metrics.jsonl.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/test_support.h"
#include "train/metrics_log.h"

namespace loom {
namespace {

namespace fs = std::filesystem;

std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::vector<nlohmann::json> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

TEST(MetricsLog, FormatsDurations) {
  EXPECT_EQ(format_duration(0.0), "00:00:00");
  EXPECT_EQ(format_duration(192.4), "00:03:12");
  EXPECT_EQ(format_duration(100 * 3600 + 61), "100:01:01");
  EXPECT_EQ(format_duration(-5.0), "00:00:00");
}

TEST(MetricsLog, ProgressLineFormatsKnownNames) {
  const MetricValues values = {
      {"loss", 2.34123},  {"learning_rate", 1.96e-4}, {"grad_norm", 0.8123},   {"tokens_per_second", 1534.4},
      {"elapsed_s", 3.0}, {"eta_s", 192.0},           {"peak_mem_mib", 412.3}, {"objective/kl", 0.5}};
  EXPECT_EQ(
      format_progress_line(12, 100, values),
      "step 12/100 | loss 2.3412 | lr 1.96e-04 | grad_norm 0.812 | 1534 tok/s | eta 00:03:12 | mem 412 MiB"
      " | objective/kl 0.5");
  EXPECT_EQ(format_progress_line(20, 100, {{"eval_loss", 1.5}, {"eval_perplexity", 4.4817}, {"epoch", 0.25}}),
            "step 20/100 | eval_loss 1.5000 | eval_ppl 4.482 | epoch 0.25");
}

TEST(MetricsLog, PeakMemoryIsKnownOnLinux) { EXPECT_GT(peak_resident_mib(), 0.0); }

TEST(MetricsLog, WritesJsonLinesAndProgress) {
  const std::string out = (fs::path(test::scratch_dir("metrics-log")) / "run").string();
  std::FILE* console = std::tmpfile();
  ASSERT_NE(console, nullptr);
  {
    MetricsLog log(out, 10, 0, true, console);
    log.count_tokens(4096);
    log.log(5, {{"loss", 2.5}, {"learning_rate", 1e-3f}});
    log.log(10, {{"loss", 2.0}});
    ASSERT_EQ(log.history().size(), 2u);
    EXPECT_EQ(log.history()[1]["step"], 10);
  }
  const std::vector<nlohmann::json> lines = read_jsonl(out + "/metrics.jsonl");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["step"], 5);
  EXPECT_EQ(lines[0]["loss"], 2.5);
  EXPECT_EQ(lines[0]["learning_rate"], 1e-3);  // the f32 value written as the decimal it stands for
  EXPECT_TRUE(lines[0].contains("tokens_per_second"));
  EXPECT_TRUE(lines[0].contains("eta_s"));  // 5 of 10 steps done
  EXPECT_GT(lines[0]["peak_mem_mib"].get<double>(), 0.0);
  EXPECT_TRUE(lines[0].contains("elapsed_s"));
  EXPECT_FALSE(lines[1].contains("tokens_per_second"));  // no tokens counted since the last line
  EXPECT_FALSE(lines[1].contains("eta_s"));              // finished

  std::rewind(console);
  char first[256] = {};
  ASSERT_NE(std::fgets(first, sizeof(first), console), nullptr);
  EXPECT_EQ(std::string(first).rfind("step 5/10 | loss 2.5000 | lr 1.00e-03 | ", 0), 0u) << first;
  std::fclose(console);

  // A resumed run appends to the same file.
  MetricsLog resumed(out, 10, 10, true, nullptr);
  resumed.log(10, {{"eval_loss", 1.0}});
  EXPECT_EQ(read_jsonl(out + "/metrics.jsonl").size(), 3u);
}

TEST(MetricsLog, OtherRanksWriteNothing) {
  const std::string out = (fs::path(test::scratch_dir("metrics-log-rank1")) / "run").string();
  MetricsLog log(out, 10, 0, false, nullptr);
  log.log(1, {{"loss", 1.0}});
  EXPECT_FALSE(fs::exists(out + "/metrics.jsonl"));
  EXPECT_TRUE(log.history().empty());
}

}  // namespace
}  // namespace loom
