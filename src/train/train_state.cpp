#include "train/train_state.h"

#include <charconv>
#include <filesystem>

#include "core/check.h"
#include "io/atomic_file.h"
#include "io/json_file.h"
#include "io/safetensors.h"

namespace loom {

namespace {

constexpr const char* kFirstMoment = "exp_avg";
constexpr const char* kSecondMoment = "exp_avg_sq";
constexpr const char* kStepKey = "step";

std::string in_dir(const std::string& dir, const char* name) {
  return (std::filesystem::path(dir) / name).string();
}

// The F32 tensor `name` of n elements into out.
void read_moment(const SafetensorsFile& file, const char* name, float* out, size_t n) {
  const TensorInfo* info = file.find(name);
  LOOM_REQUIRE(info, file.path(), ": tensor '", name, "' is missing");
  LOOM_REQUIRE(info->dtype == DType::F32, file.path(), ": tensor '", name, "' is ", dtype_name(info->dtype),
               ", expected F32");
  file.read_f32(name, {static_cast<int64_t>(n)}, out, "the trainable parameter count");
}

// An object field of j (absent = empty object).
nlohmann::json object_field(const nlohmann::json& j, const char* key, const std::string& path) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return nlohmann::json::object();
  LOOM_REQUIRE(it->is_object(), path, ": ", key, " must be an object");
  return *it;
}

}  // namespace

void save_optimizer_state(const std::string& dir, const float* m, const float* v, size_t n, int64_t step) {
  SafetensorsWriter writer;
  writer.add_f32(kFirstMoment, {static_cast<int64_t>(n)}, m, DType::F32);
  writer.add_f32(kSecondMoment, {static_cast<int64_t>(n)}, v, DType::F32);
  writer.set_metadata(kStepKey, std::to_string(step));
  writer.write(in_dir(dir, kOptimizerStateFileName));
}

int64_t load_optimizer_state(const std::string& dir, float* m, float* v, size_t n) {
  const SafetensorsFile file(in_dir(dir, kOptimizerStateFileName));
  const auto step_text = file.metadata().find(kStepKey);
  LOOM_REQUIRE(step_text != file.metadata().end(), file.path(), ": metadata has no '", kStepKey, "'");
  const std::string& text = step_text->second;
  int64_t step = -1;
  const auto parsed = std::from_chars(text.data(), text.data() + text.size(), step);
  LOOM_REQUIRE(parsed.ec == std::errc() && parsed.ptr == text.data() + text.size() && step >= 0, file.path(),
               ": metadata step '", text, "' is not a non-negative integer");
  read_moment(file, kFirstMoment, m, n);
  read_moment(file, kSecondMoment, v, n);
  return step;
}

void save_train_state(const std::string& dir, const TrainState& state) {
  nlohmann::json j;
  j["scheduler_step"] = state.scheduler_step;
  j["rng_counters"] = state.rng_counters;
  j["data_cursor"] = state.data_cursor;
  j["extra"] = state.extra;
  write_file_atomically(in_dir(dir, kTrainStateFileName), j.dump(2) + "\n");
}

TrainState load_train_state(const std::string& dir) {
  const std::string path = in_dir(dir, kTrainStateFileName);
  const nlohmann::json j = parse_json_object(read_text_file(path), path);
  TrainState state;
  LOOM_REQUIRE(json_int(j, "scheduler_step", path, &state.scheduler_step) && state.scheduler_step >= 0, path,
               ": scheduler_step must be a non-negative integer");
  const nlohmann::json counters = object_field(j, "rng_counters", path);
  for (const auto& [name, counter] : counters.items()) {
    LOOM_REQUIRE(counter.is_number_unsigned(), path, ": rng_counters.", name,
                 " must be a non-negative integer, found ", counter.dump());
    state.rng_counters[name] = counter.get<uint64_t>();
  }
  state.data_cursor = object_field(j, "data_cursor", path);
  state.extra = object_field(j, "extra", path);
  return state;
}

}  // namespace loom
