#include "train/metrics_log.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/check.h"
#include "io/json_file.h"

namespace loom {

double peak_resident_mib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::strtod(line.c_str() + 6, nullptr) / 1024.0;  // kB
  }
  return 0.0;
}

std::string format_duration(double seconds) {
  const int64_t total = seconds > 0.0 ? static_cast<int64_t>(std::llround(seconds)) : 0;
  char text[48];
  std::snprintf(text, sizeof(text), "%02lld:%02lld:%02lld", static_cast<long long>(total / 3600),
                static_cast<long long>(total / 60 % 60), static_cast<long long>(total % 60));
  return text;
}

// One value as it appears in the progress line; empty for values the line leaves out.
static std::string format_value(const std::string& name, double value) {
  char text[96];
  if (name == "loss") {
    std::snprintf(text, sizeof(text), "loss %.4f", value);
  } else if (name == "learning_rate") {
    std::snprintf(text, sizeof(text), "lr %.2e", value);
  } else if (name == "grad_norm") {
    std::snprintf(text, sizeof(text), "grad_norm %.3f", value);
  } else if (name == "eval_loss") {
    std::snprintf(text, sizeof(text), "eval_loss %.4f", value);
  } else if (name == "eval_perplexity") {
    std::snprintf(text, sizeof(text), "eval_ppl %.3f", value);
  } else if (name == "epoch") {
    std::snprintf(text, sizeof(text), "epoch %.2f", value);
  } else if (name == "tokens_per_second") {
    std::snprintf(text, sizeof(text), "%.0f tok/s", value);
  } else if (name == "eta_s") {
    return "eta " + format_duration(value);
  } else if (name == "peak_mem_mib") {
    std::snprintf(text, sizeof(text), "mem %.0f MiB", value);
  } else if (name == "elapsed_s") {
    return "";
  } else {
    std::snprintf(text, sizeof(text), "%s %.4g", name.c_str(), value);
  }
  return text;
}

// A value that is exactly a float (a learning rate computed in f32) is written as the shortest
// decimal of that float: 0.0002, not 0.00019999999494757503.
static double json_value(double value) {
  const float narrow = static_cast<float>(value);
  return static_cast<double>(narrow) == value ? json_float(narrow) : value;
}

std::string format_progress_line(int64_t step, int64_t total_steps, const MetricValues& values) {
  std::string line = cat("step ", step, "/", total_steps);
  for (const auto& [name, value] : values) {
    const std::string part = format_value(name, value);
    if (!part.empty()) line += " | " + part;
  }
  return line;
}

MetricsLog::MetricsLog(const std::string& output_dir, int64_t total_steps, int64_t first_step, bool enabled,
                       std::FILE* console)
    : path_((std::filesystem::path(output_dir) / kMetricsFileName).string()),
      console_(console),
      enabled_(enabled),
      total_steps_(total_steps),
      first_step_(first_step),
      start_(Clock::now()),
      last_log_(start_) {
  if (!enabled_) return;
  std::error_code error;
  std::filesystem::create_directories(output_dir, error);
  LOOM_REQUIRE(!error, output_dir, ": cannot create directory (", error.message(), ")");
  jsonl_ = std::fopen(path_.c_str(), "a");
  LOOM_REQUIRE(jsonl_, path_, ": cannot open for appending (", std::strerror(errno), ")");
  tensorboard_ = std::make_unique<TensorBoardWriter>(output_dir);
}

MetricsLog::~MetricsLog() {
  if (jsonl_) std::fclose(jsonl_);
}

void MetricsLog::record(const nlohmann::json& event) {
  if (enabled_) write_line(event);
}

void MetricsLog::write_line(const nlohmann::json& object) {
  const std::string json_line = object.dump() + "\n";
  LOOM_REQUIRE(std::fwrite(json_line.data(), 1, json_line.size(), jsonl_) == json_line.size() &&
                   std::fflush(jsonl_) == 0,
               path_, ": write failed (", std::strerror(errno), ")");
}

void MetricsLog::log(int64_t step, const MetricValues& values) {
  if (!enabled_) return;
  const Clock::time_point now = Clock::now();
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double interval = std::chrono::duration<double>(now - last_log_).count();
  last_log_ = now;

  MetricValues all = values;
  if (tokens_since_log_ > 0 && interval > 0.0) all.emplace_back("tokens_per_second", tokens_since_log_ / interval);
  tokens_since_log_ = 0;
  all.emplace_back("elapsed_s", elapsed);
  const int64_t steps_done = step - first_step_;
  if (steps_done > 0 && total_steps_ > step) {
    all.emplace_back("eta_s", elapsed / static_cast<double>(steps_done) * static_cast<double>(total_steps_ - step));
  }
  all.emplace_back("peak_mem_mib", peak_resident_mib());

  nlohmann::json object;
  object["step"] = step;
  for (const auto& [name, value] : all) object[name] = json_value(value);
  write_line(object);
  tensorboard_->write(object);
  history_.push_back(std::move(object));

  if (console_) {
    std::fprintf(console_, "%s\n", format_progress_line(step, total_steps_, all).c_str());
    std::fflush(console_);
  }
}

}  // namespace loom
