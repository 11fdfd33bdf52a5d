#include "train/run_summary.h"

#include <algorithm>
#include <cstdio>

namespace loom {

std::vector<MetricTrend> metric_trends(const nlohmann::json& history) {
  std::vector<MetricTrend> trends;
  for (const char* name : kSummaryMetrics) {
    std::vector<double> values;
    for (const nlohmann::json& record : history) {
      auto it = record.find(name);
      if (it != record.end() && it->is_number()) values.push_back(it->get<double>());
    }
    if (values.empty()) continue;
    MetricTrend trend;
    trend.name = name;
    trend.logs = int64_t(values.size());
    trend.window = std::max<int64_t>(1, trend.logs / 10);
    for (int64_t i = 0; i < trend.window; ++i) {
      trend.first += values[size_t(i)];
      trend.last += values[values.size() - 1 - size_t(i)];
    }
    trend.first /= double(trend.window);
    trend.last /= double(trend.window);
    trends.push_back(trend);
  }
  return trends;
}

std::string format_run_summary(const std::vector<MetricTrend>& trends) {
  if (trends.empty()) return "summary: no loss, accuracy, reward or KL was logged";
  std::string line = "summary (means of the first -> last tenth of the logged values):";
  char item[160];
  for (size_t i = 0; i < trends.size(); ++i) {
    const MetricTrend& t = trends[i];
    std::snprintf(item, sizeof item, "%s %s %.5g -> %.5g [%lld logs]", i == 0 ? "" : ",", t.name.c_str(), t.first,
                  t.last, (long long)t.logs);
    line += item;
  }
  return line;
}

void print_run_summary(const nlohmann::json& history, const dist::Comm& comm) {
  if (comm.rank != 0) return;
  std::printf("%s\n", format_run_summary(metric_trends(history)).c_str());
  std::fflush(stdout);
}

}  // namespace loom
