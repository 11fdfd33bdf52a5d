// safetensors: 8-byte little-endian header length, JSON header, raw data.
// The reader memory-maps the file and validates the header before trusting it (length
// bounds, dtype names, shapes x dtype == byte count, offsets inside the file, no overlaps);
// every problem is a one-line error naming the file. The writer writes `path.tmp` and
// renames it, so no reader ever sees a half-written file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace loom {

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  size_t begin = 0, end = 0;  // byte offsets relative to the start of the data section
  int64_t elements() const;
};

std::string shape_string(const std::vector<int64_t>& shape);  // "[4, 8]"

class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const TensorInfo* find(const std::string& name) const;  // nullptr if absent
  const std::byte* data(const TensorInfo& info) const;

  // Converts the named tensor (F32, F16 or BF16) to f32 into out, after checking that its
  // shape equals expected_shape. Errors name the file, the tensor and both shapes;
  // shape_origin (e.g. "config.json") says where the expected shape came from. A tensor holding
  // NaN or infinite values is refused, naming the file, the tensor and the count (weights are
  // scanned once, when they are loaded).
  void read_f32(const std::string& name, const std::vector<int64_t>& expected_shape, float* out,
                const std::string& shape_origin = "") const;

 private:
  std::string path_;
  int fd_ = -1;
  size_t file_bytes_ = 0;
  const std::byte* map_ = nullptr;
  const std::byte* data_section_ = nullptr;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

class SafetensorsWriter {
 public:
  // Stores f32 values as `stored` (F32, F16 or BF16; bf16/f16 round to nearest even).
  // `data` must stay alive until write(). The file lists tensors by name and lays out their
  // data widest dtype first, then by name, as the safetensors library does.
  void add_f32(const std::string& name, const std::vector<int64_t>& shape, const float* data,
               DType stored);
  void set_metadata(const std::string& key, const std::string& value);  // "__metadata__" entry
  size_t data_bytes() const;  // bytes the tensors will take in the file
  void write(const std::string& path) const;  // atomic: path.tmp, fsync, rename

 private:
  struct Entry {
    std::string name;
    std::vector<int64_t> shape;
    const float* data;
    DType stored;
  };
  std::vector<Entry> entries_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace loom
