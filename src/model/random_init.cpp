#include "model/random_init.h"

#include <algorithm>
#include <cmath>
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

FrozenWeights::TensorSource random_tensor_source(uint64_t seed, float init_std) {
  return [seed, init_std](const LlamaTensor& t, float* out) {
    size_t n = 1;
    for (int64_t d : t.shape) n *= size_t(d);
    const bool is_norm = t.role == LlamaTensorRole::input_norm || t.role == LlamaTensorRole::post_norm ||
                         t.role == LlamaTensorRole::final_norm;
    if (is_norm) {
      std::fill(out, out + n, 1.0f);
      return;
    }
    uint64_t stream = 0xcbf29ce484222325ull;  // FNV-1a of the tensor's name
    for (char c : t.name) stream = (stream ^ uint8_t(c)) * 0x100000001b3ull;
    const int64_t pairs = int64_t((n + 1) / 2);
#pragma omp parallel for schedule(static)
    for (int64_t p = 0; p < pairs; ++p) {  // Box-Muller: two normals per pair of uniforms
      const float u1 = std::max(random_uniform(seed, stream, 2 * uint64_t(p)), 1e-12f);
      const float u2 = random_uniform(seed, stream, 2 * uint64_t(p) + 1);
      const float radius = init_std * std::sqrt(-2.0f * std::log(u1)), angle = 6.283185307179586f * u2;
      out[2 * p] = radius * std::cos(angle);
      if (size_t(2 * p + 1) < n) out[2 * p + 1] = radius * std::sin(angle);
    }
  };
}

}  // namespace loom
