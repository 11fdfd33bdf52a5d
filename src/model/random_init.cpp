#include "model/random_init.h"

#include <vector>

#include "core/check.h"
#include "core/rng.h"
#include "io/hf_checkpoint.h"
#include "model/llama_tensors.h"

namespace loom {

void write_random_checkpoint(const std::string& dir, const LlamaConfig& config, uint64_t seed, DType stored,
                             float init_std, float norm_jitter, const std::vector<std::string>& extra_files) {
  std::vector<std::vector<float>> storage;
  std::vector<NamedTensor> tensors;
  Rng rng(seed, /*stream=*/0x696e6974);  // "init"
  for (const LlamaTensor& t : llama_tensors(config)) {
    const bool is_norm = t.role == LlamaTensorRole::input_norm || t.role == LlamaTensorRole::post_norm ||
                         t.role == LlamaTensorRole::final_norm;
    size_t n = 1;
    for (int64_t d : t.shape) n *= size_t(d);
    std::vector<float>& data = storage.emplace_back(n);
    for (float& x : data) x = is_norm ? 1.0f + norm_jitter * rng.normal() : init_std * rng.normal();
    tensors.push_back({t.name, t.shape, nullptr});
  }
  for (size_t i = 0; i < tensors.size(); ++i) tensors[i].data = storage[i].data();  // storage no longer grows

  LlamaConfig written = config;
  written.torch_dtype = stored == DType::BF16 ? "bfloat16" : stored == DType::F16 ? "float16" : "float32";
  write_hf_checkpoint(dir, written, tensors, stored, size_t(4) << 30, extra_files);
}

}  // namespace loom
