// Training logs on rank 0: one human progress line per logging step on stdout,
//   step 12/100 | loss 2.3412 | lr 1.96e-04 | grad_norm 0.812 | 1534 tok/s | eta 00:03:12 | mem 412 MiB
// and the same values as one JSON object per line appended to output_dir/metrics.jsonl
// (flushed after every line; keys in alphabetical order), e.g.
//   {"elapsed_s":8.1,"eta_s":192.0,"grad_norm":0.812,"learning_rate":0.000196,"loss":2.3412,
//    "peak_mem_mib":412.3,"step":12,"tokens_per_second":1534.2}
// Values are named as transformers' log_history names them; the line formats the known
// names (loss, learning_rate, grad_norm, eval_loss, eval_perplexity, epoch) compactly and any
// other name as "name value". The log adds throughput (from count_tokens), ETA (elapsed time
// per step since the log began, times the steps left) and peak resident memory (VmHWM).
// Besides the step records, the file holds event records that keep runs apart: a run header
//   {"event":"run_start","config_hash":"...","world_size":2,"version":"0.1.0","compute":"cpu",...}
// first, and {"event":"resumed","from":"out/checkpoint-40","step":40,...} where a run resumes.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "train/tensorboard_writer.h"

namespace loom {

inline constexpr const char* kMetricsFileName = "metrics.jsonl";
inline constexpr const char* kRunStartEvent = "run_start";
inline constexpr const char* kResumedEvent = "resumed";

// Named values in the order they are printed.
using MetricValues = std::vector<std::pair<std::string, double>>;

// Peak resident set size of this process in MiB (VmHWM of /proc/self/status); 0 when unknown.
double peak_resident_mib();

// "00:03:12"; hours grow past 99 as needed.
std::string format_duration(double seconds);

// The human line for `values` (the names above), without a trailing newline.
std::string format_progress_line(int64_t step, int64_t total_steps, const MetricValues& values);

class MetricsLog {
 public:
  // enabled: this rank writes (rank 0). first_step: the step the run starts from (the
  // resumed step, or 0). The log appends to output_dir/metrics.jsonl, creating output_dir.
  MetricsLog(const std::string& output_dir, int64_t total_steps, int64_t first_step, bool enabled,
             std::FILE* console = stdout);
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;

  // Tokens processed (by all ranks) since the previous log() call.
  void count_tokens(int64_t tokens) { tokens_since_log_ += tokens; }

  // Logs `values` at `step` (optimizer steps done) with tokens_per_second, elapsed_s, eta_s
  // and peak_mem_mib added, and records the JSON object in history(). Does nothing when
  // not enabled.
  void log(int64_t step, const MetricValues& values);

  // Appends an event record (run header, resumed) to metrics.jsonl as it is; not part of
  // history(). Does nothing when not enabled.
  void record(const nlohmann::json& event);

  // The objects logged so far (trainer_state.json's log_history). A resumed run starts from
  // the history saved in its checkpoint.
  const nlohmann::json& history() const { return history_; }
  void set_history(nlohmann::json history) { history_ = std::move(history); }

 private:
  using Clock = std::chrono::steady_clock;
  void write_line(const nlohmann::json& object);  // one line of metrics.jsonl, flushed

  std::string path_;
  std::FILE* jsonl_ = nullptr;
  std::FILE* console_;
  bool enabled_;
  int64_t total_steps_, first_step_;
  Clock::time_point start_, last_log_;
  int64_t tokens_since_log_ = 0;
  nlohmann::json history_ = nlohmann::json::array();
  std::unique_ptr<TensorBoardWriter> tensorboard_;  // the same records as TensorBoard scalars
};

}  // namespace loom
