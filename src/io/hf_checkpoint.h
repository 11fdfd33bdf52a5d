// A Hugging Face model directory: config.json + model.safetensors, or sharded
// model-0000k-of-0000n.safetensors + model.safetensors.index.json (every weight_map file must
// be a plain name inside the directory and hold the tensors mapped to it). PyTorch pickle
// checkpoints (pytorch_model*.bin) are refused: loading a pickle executes code.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "io/hf_config.h"
#include "io/safetensors.h"

namespace loom {

class HfCheckpoint {
 public:
  explicit HfCheckpoint(const std::string& dir);

  const std::string& dir() const { return dir_; }
  const LlamaConfig& config() const { return config_; }
  bool has(const std::string& name) const;
  std::vector<std::string> tensor_names() const;
  // The header of the named tensor and the file holding it (info null when absent).
  struct Located {
    const TensorInfo* info = nullptr;
    std::string file;
  };
  Located locate(const std::string& name) const;
  // f32 copy of the named tensor, shape-checked; errors name the file and the tensor, and
  // a missing tensor names the directory.
  void read_f32(const std::string& name, const std::vector<int64_t>& shape, float* out) const;

 private:
  std::string dir_;
  LlamaConfig config_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::vector<std::pair<std::string, size_t>> tensor_file_;  // name -> index into files_, sorted
};

// One tensor to write: name, shape, f32 data.
struct NamedTensor {
  std::string name;
  std::vector<int64_t> shape;
  const float* data;
};

// transformers' default shard size for save_pretrained ("5GB").
inline constexpr size_t kHfMaxShardBytes = 5'000'000'000;

// Writes an HF checkpoint directory atomically: everything goes to DIR.tmp (removed first if
// a crash left one), each file is fsynced, then an existing DIR is removed and DIR.tmp is
// renamed to DIR. Contents: config.json (torch_dtype set from `stored`), the tensors stored
// as `stored` (F32, F16 or BF16) in model.safetensors, or, when they take more than
// max_shard_bytes (0 = no limit), in model-0000k-of-0000n.safetensors shards filled in the
// given order plus model.safetensors.index.json; each safetensors file carries the metadata
// {"format": "pt"}. Extra files (e.g. tokenizer.model) are copied in under their own names.
void write_hf_checkpoint(const std::string& dir, const LlamaConfig& config,
                         const std::vector<NamedTensor>& tensors, DType stored,
                         size_t max_shard_bytes, const std::vector<std::string>& extra_files);

}  // namespace loom
