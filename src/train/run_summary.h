// The one-line summary every training stage (SFT, reward, DPO, PPO) prints on rank 0 when its
// loop ends: how each number that shows learning moved over the run, first -> last, e.g.
//   summary (means of the first -> last tenth of the logged values): loss 2.8167 -> 2.3218
//   [10 logs], eval_loss 2.5305 -> 2.4699 [2 logs]
// "First" is the mean of the first tenth of the logs that hold the number (at least one),
// "last" that of the last tenth, which smooths the noise of single steps. The numbers are
// those of kSummaryMetrics that the run logged (metrics.jsonl names); a resumed run's history
// includes the steps before the resume.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dist/comm.h"

namespace loom {

// In the order they are printed.
inline constexpr std::array<const char*, 12> kSummaryMetrics = {
    "loss",          "accuracy",     "eval_loss",     "eval_accuracy",   "eval_margin",
    "rewards/accuracies", "rewards/margins", "eval_rewards/accuracies", "eval_rewards/margins",
    "env/reward_mean", "objective/kl", "ppo/loss/total"};

struct MetricTrend {
  std::string name;
  double first = 0.0;  // mean of the first `window` logged values
  double last = 0.0;   // mean of the last `window` logged values
  int64_t logs = 0;    // how many log records hold the number
  int64_t window = 0;  // logs / 10, at least 1
};

// The trends of the kSummaryMetrics present in `history` (an array of log records, as
// MetricsLog::history()), in kSummaryMetrics order; numbers never logged are left out.
std::vector<MetricTrend> metric_trends(const nlohmann::json& history);

// The summary line (without a newline) for `trends`.
std::string format_run_summary(const std::vector<MetricTrend>& trends);

// Rank 0 prints format_run_summary(metric_trends(history)) to stdout.
void print_run_summary(const nlohmann::json& history, const dist::Comm& comm);

}  // namespace loom
