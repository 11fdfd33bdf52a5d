// The end-of-run summary: first/last means over the first/last tenth of the logs holding each
// number (hand-computed), numbers logged on only some steps (eval), non-numbers skipped, the
// printed order and format.
#include <gtest/gtest.h>

#include <algorithm>

#include <nlohmann/json.hpp>

#include "train/run_summary.h"

namespace loom {
namespace {

// 20 logs of loss 1..20 at steps 1..20; eval_loss at steps 10 and 20.
nlohmann::json twenty_steps() {
  nlohmann::json history = nlohmann::json::array();
  for (int step = 1; step <= 20; ++step) {
    history.push_back({{"step", step}, {"loss", double(step)}, {"learning_rate", 1e-3}});
    if (step % 10 == 0) history.push_back({{"step", step}, {"eval_loss", 100.0 - step}});
  }
  return history;
}

TEST(RunSummary, MeansOfFirstAndLastTenth) {
  const std::vector<MetricTrend> trends = metric_trends(twenty_steps());
  ASSERT_EQ(trends.size(), 2u);
  EXPECT_EQ(trends[0].name, "loss");
  EXPECT_EQ(trends[0].logs, 20);
  EXPECT_EQ(trends[0].window, 2);
  EXPECT_DOUBLE_EQ(trends[0].first, 1.5);   // (1 + 2) / 2
  EXPECT_DOUBLE_EQ(trends[0].last, 19.5);   // (19 + 20) / 2
  EXPECT_EQ(trends[1].name, "eval_loss");
  EXPECT_EQ(trends[1].logs, 2);
  EXPECT_EQ(trends[1].window, 1);
  EXPECT_DOUBLE_EQ(trends[1].first, 90.0);
  EXPECT_DOUBLE_EQ(trends[1].last, 80.0);
}

TEST(RunSummary, WindowIsATenthRoundedDownAtLeastOne) {
  for (int logs : {1, 9, 10, 19, 35}) {
    nlohmann::json history = nlohmann::json::array();
    for (int i = 0; i < logs; ++i) history.push_back({{"env/reward_mean", double(i * i)}});
    const std::vector<MetricTrend> trends = metric_trends(history);
    ASSERT_EQ(trends.size(), 1u) << logs;
    const int window = std::max(1, logs / 10);
    double first = 0.0, last = 0.0;
    for (int i = 0; i < window; ++i) {
      first += double(i * i);
      last += double((logs - 1 - i) * (logs - 1 - i));
    }
    EXPECT_EQ(trends[0].window, window) << logs;
    EXPECT_DOUBLE_EQ(trends[0].first, first / window) << logs;
    EXPECT_DOUBLE_EQ(trends[0].last, last / window) << logs;
  }
}

TEST(RunSummary, SkipsRecordsWithoutANumberAndKeepsTheListedOrder) {
  nlohmann::json history = nlohmann::json::array();
  history.push_back({{"event", "run_start"}, {"loss", "not a number"}});
  history.push_back({{"objective/kl", 0.5}, {"env/reward_mean", -1.0}});
  history.push_back({{"objective/kl", 1.5}, {"env/reward_mean", 3.0}, {"loss", nullptr}});
  const std::vector<MetricTrend> trends = metric_trends(history);
  ASSERT_EQ(trends.size(), 2u);
  EXPECT_EQ(trends[0].name, "env/reward_mean");  // kSummaryMetrics order, not the records'
  EXPECT_DOUBLE_EQ(trends[0].first, -1.0);
  EXPECT_DOUBLE_EQ(trends[0].last, 3.0);
  EXPECT_EQ(trends[1].name, "objective/kl");
  EXPECT_DOUBLE_EQ(trends[1].first, 0.5);
  EXPECT_DOUBLE_EQ(trends[1].last, 1.5);
}

TEST(RunSummary, FormatsOneLineWithFiveSignificantDigits) {
  nlohmann::json history = twenty_steps();
  history.push_back({{"objective/kl", 0.000123456}});
  history.push_back({{"objective/kl", -314159.26}});
  EXPECT_EQ(format_run_summary(metric_trends(history)),
            "summary (means of the first -> last tenth of the logged values): loss 1.5 -> 19.5 [20 logs], "
            "eval_loss 90 -> 80 [2 logs], objective/kl 0.00012346 -> -3.1416e+05 [2 logs]");
  EXPECT_EQ(format_run_summary({}), "summary: no loss, accuracy, reward or KL was logged");
}

}  // namespace
}  // namespace loom
