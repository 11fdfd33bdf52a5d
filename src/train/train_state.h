// The resumable state of a training run, saved into a checkpoint directory beside the adapter:
//   optimizer.safetensors  AdamW moments as two flat F32 tensors over the trainable
//                          parameters, "exp_avg" [n] and "exp_avg_sq" [n] (torch's names),
//                          and the number of updates taken in the metadata ("step")
//   train_state.json       scheduler step, RNG counters, the data cursor (an opaque object
//                          the data loader defines) and any other key/values, e.g.
//     {"scheduler_step": 40, "rng_counters": {"dropout": 81920}, "data_cursor": {...}, "extra": {...}}
// Loading gives back bit-identical buffers, so a resumed run continues exactly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

namespace loom {

inline constexpr const char* kOptimizerStateFileName = "optimizer.safetensors";
inline constexpr const char* kTrainStateFileName = "train_state.json";

// Writes dir/optimizer.safetensors from m (n) and v (n) and the update count.
void save_optimizer_state(const std::string& dir, const float* m, const float* v, size_t n, int64_t step);

// Reads dir/optimizer.safetensors into m (n) and v (n), which must hold F32 tensors of exactly
// n elements; returns the update count. Errors name the file and the tensor.
int64_t load_optimizer_state(const std::string& dir, float* m, float* v, size_t n);

struct TrainState {
  int64_t scheduler_step = 0;                     // optimizer steps taken
  std::map<std::string, uint64_t> rng_counters;   // Rng::counter() of each named stream
  nlohmann::json data_cursor = nlohmann::json::object();
  nlohmann::json extra = nlohmann::json::object();  // anything else the trainer keeps
};

// Writes dir/train_state.json atomically.
void save_train_state(const std::string& dir, const TrainState& state);

// Reads dir/train_state.json; errors name the file and the field.
TrainState load_train_state(const std::string& dir);

}  // namespace loom
