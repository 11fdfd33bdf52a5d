#include "io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>

#include <nlohmann/json.hpp>

#include "core/check.h"
#include "io/atomic_file.h"

namespace loom {

static_assert(std::endian::native == std::endian::little, "safetensors data is little-endian");

// A header larger than this is refused before it is parsed (the safetensors library uses the
// same 100 MB limit).
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

int64_t TensorInfo::elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// A non-negative JSON integer, or false.
static bool json_size(const nlohmann::json& value, uint64_t* out) {
  if (!value.is_number_unsigned()) return false;
  *out = value.get<uint64_t>();
  return *out <= static_cast<uint64_t>(INT64_MAX);
}

// Validates one header entry against a data section of data_bytes bytes.
static TensorInfo parse_tensor_entry(const std::string& path, const std::string& name,
                                     const nlohmann::json& entry, size_t data_bytes) {
  const std::string where = path + ": tensor '" + name + "'";
  LOOM_REQUIRE(entry.is_object(), where, " is not described by a JSON object");
  TensorInfo info;
  info.name = name;

  const auto dtype = entry.find("dtype");
  LOOM_REQUIRE(dtype != entry.end() && dtype->is_string(), where, " has no dtype");
  LOOM_REQUIRE(dtype_from_name(dtype->get<std::string>(), &info.dtype), where, " has unknown dtype '",
               dtype->get<std::string>(), "'");

  const auto shape = entry.find("shape");
  LOOM_REQUIRE(shape != entry.end() && shape->is_array(), where, " has no shape list");
  uint64_t bytes = dtype_size(info.dtype);
  bool overflow = false;
  for (const auto& d : *shape) {
    uint64_t extent = 0;
    LOOM_REQUIRE(json_size(d, &extent), where, " has shape ", shape->dump(),
                 ", which is not a list of non-negative integers");
    info.shape.push_back(static_cast<int64_t>(extent));
    overflow = overflow || __builtin_mul_overflow(bytes, extent, &bytes);
  }
  LOOM_REQUIRE(!overflow, where, " shape ", shape_string(info.shape), " is too large");

  const auto offsets = entry.find("data_offsets");
  uint64_t begin = 0, end = 0;
  LOOM_REQUIRE(offsets != entry.end() && offsets->is_array() && offsets->size() == 2 &&
                   json_size((*offsets)[0], &begin) && json_size((*offsets)[1], &end),
               where, " data_offsets must be [begin, end] of non-negative integers");
  LOOM_REQUIRE(begin <= end, where, " data_offsets [", begin, ", ", end, "] end before they begin");
  LOOM_REQUIRE(end <= data_bytes, where, " data_offsets [", begin, ", ", end, "] lie outside the ",
               data_bytes, "-byte data section");
  LOOM_REQUIRE(bytes == end - begin, where, " shape ", shape_string(info.shape), " x ",
               dtype_name(info.dtype), " needs ", bytes, " bytes but data_offsets span ", end - begin);
  info.begin = begin;
  info.end = end;
  return info;
}

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  LOOM_REQUIRE(fd_ >= 0, path, ": cannot open (", std::strerror(errno), ")");
  try {
    struct stat st {};
    LOOM_REQUIRE(::fstat(fd_, &st) == 0, path, ": cannot stat (", std::strerror(errno), ")");
    LOOM_REQUIRE(S_ISREG(st.st_mode), path, ": not a regular file");
    file_bytes_ = static_cast<size_t>(st.st_size);
    LOOM_REQUIRE(file_bytes_ >= 8, path, ": file is ", file_bytes_,
                 " bytes, too short for a safetensors header length");
    void* map = ::mmap(nullptr, file_bytes_, PROT_READ, MAP_PRIVATE, fd_, 0);
    LOOM_REQUIRE(map != MAP_FAILED, path, ": cannot map (", std::strerror(errno), ")");
    map_ = static_cast<const std::byte*>(map);

    uint64_t header_bytes = 0;
    std::memcpy(&header_bytes, map_, 8);
    LOOM_REQUIRE(header_bytes <= file_bytes_ - 8, path, ": header length ", header_bytes,
                 " exceeds file size ", file_bytes_);
    LOOM_REQUIRE(header_bytes <= kMaxHeaderBytes, path, ": header length ", header_bytes,
                 " exceeds the limit of ", kMaxHeaderBytes, " bytes");
    data_section_ = map_ + 8 + header_bytes;
    const size_t data_bytes = file_bytes_ - 8 - header_bytes;

    nlohmann::json header;
    try {
      header = nlohmann::json::parse(reinterpret_cast<const char*>(map_ + 8),
                                     reinterpret_cast<const char*>(data_section_));
    } catch (const nlohmann::json::parse_error& e) {
      LOOM_FAIL(path, ": header is not valid JSON (byte ", e.byte, " of ", header_bytes, ")");
    } catch (const nlohmann::json::exception& e) {  // e.g. a number too large for a double (406)
      LOOM_FAIL(path, ": header is not valid JSON (", e.what(), ")");
    }
    LOOM_REQUIRE(header.is_object(), path, ": header is not a JSON object");

    for (const auto& [name, entry] : header.items()) {
      if (name == "__metadata__") {
        LOOM_REQUIRE(entry.is_object(), path, ": __metadata__ is not a JSON object");
        for (const auto& [key, value] : entry.items()) {
          LOOM_REQUIRE(value.is_string(), path, ": __metadata__ value of '", key, "' is not a string");
          metadata_[key] = value.get<std::string>();
        }
        continue;
      }
      tensors_.push_back(parse_tensor_entry(path, name, entry, data_bytes));
    }

    std::vector<const TensorInfo*> by_offset;
    for (const TensorInfo& t : tensors_)
      if (t.end > t.begin) by_offset.push_back(&t);
    std::sort(by_offset.begin(), by_offset.end(),
              [](const TensorInfo* a, const TensorInfo* b) { return a->begin < b->begin; });
    for (size_t i = 1; i < by_offset.size(); ++i) {
      LOOM_REQUIRE(by_offset[i]->begin >= by_offset[i - 1]->end, path, ": tensors '",
                   by_offset[i - 1]->name, "' and '", by_offset[i]->name, "' overlap in the data section");
    }
    for (size_t i = 0; i < tensors_.size(); ++i) index_[tensors_[i].name] = i;
  } catch (...) {
    if (map_) ::munmap(const_cast<std::byte*>(map_), file_bytes_);
    ::close(fd_);
    throw;
  }
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) ::munmap(const_cast<std::byte*>(map_), file_bytes_);
  if (fd_ >= 0) ::close(fd_);
}

const TensorInfo* SafetensorsFile::find(const std::string& name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

const std::byte* SafetensorsFile::data(const TensorInfo& info) const { return data_section_ + info.begin; }

void SafetensorsFile::read_f32(const std::string& name, const std::vector<int64_t>& expected_shape,
                               float* out, const std::string& shape_origin) const {
  const TensorInfo* info = find(name);
  LOOM_REQUIRE(info, path_, ": tensor '", name, "' is missing");
  LOOM_REQUIRE(info->shape == expected_shape, path_, ": tensor '", name, "' has shape ",
               shape_string(info->shape), ", expected ", shape_string(expected_shape),
               shape_origin.empty() ? "" : " (from " + shape_origin + ")");
  const std::byte* src = data(*info);
  const int64_t n = info->elements();
  if (n == 0) return;  // an empty tensor: nothing to copy (out may be null)
  switch (info->dtype) {
    case DType::F32:
      std::memcpy(out, src, static_cast<size_t>(n) * sizeof(float));
      break;
    case DType::BF16:
#pragma omp parallel for schedule(static)
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        out[i] = bf16_to_f32(h);
      }
      break;
    case DType::F16:
#pragma omp parallel for schedule(static)
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        out[i] = f16_to_f32(h);
      }
      break;
    default:
      LOOM_FAIL(path_, ": tensor '", name, "' has dtype ", dtype_name(info->dtype),
                ", which cannot be read as floating point (F32, F16 or BF16)");
  }
  int64_t non_finite = 0;
#pragma omp parallel for schedule(static) reduction(+ : non_finite)
  for (int64_t i = 0; i < n; ++i) non_finite += !std::isfinite(out[i]);
  if (non_finite == 0) return;
  int64_t first = 0;
  while (std::isfinite(out[first])) ++first;
  LOOM_FAIL(path_, ": tensor '", name, "' holds ", non_finite, " NaN or infinite values (the first at element ", first,
            ")");
}

void SafetensorsWriter::add_f32(const std::string& name, const std::vector<int64_t>& shape,
                                const float* data, DType stored) {
  LOOM_REQUIRE(stored == DType::F32 || stored == DType::F16 || stored == DType::BF16,
               "tensor '", name, "': cannot store floating-point values as ", dtype_name(stored));
  for (int64_t d : shape) LOOM_ASSERT(d >= 0);
  entries_.push_back({name, shape, data, stored});
}

void SafetensorsWriter::set_metadata(const std::string& key, const std::string& value) {
  metadata_[key] = value;
}

static size_t entry_bytes(const std::vector<int64_t>& shape, DType stored) {
  size_t n = dtype_size(stored);
  for (int64_t d : shape) n *= static_cast<size_t>(d);
  return n;
}

size_t SafetensorsWriter::data_bytes() const {
  size_t total = 0;
  for (const Entry& e : entries_) total += entry_bytes(e.shape, e.stored);
  return total;
}

// Converts n f32 values to `stored` into out (2 bytes each).
static void convert_to_16bit(uint16_t* out, const float* in, size_t n, DType stored) {
  for (size_t i = 0; i < n; ++i) out[i] = stored == DType::BF16 ? f32_to_bf16(in[i]) : f32_to_f16(in[i]);
}

void SafetensorsWriter::write(const std::string& path) const {
  std::vector<const Entry*> layout;
  for (const Entry& e : entries_) layout.push_back(&e);
  std::sort(layout.begin(), layout.end(), [](const Entry* a, const Entry* b) {
    const size_t wa = dtype_size(a->stored), wb = dtype_size(b->stored);
    return wa != wb ? wa > wb : a->name < b->name;
  });

  nlohmann::json header = nlohmann::json::object();
  if (!metadata_.empty()) header["__metadata__"] = metadata_;
  size_t offset = 0;
  for (const Entry* e : layout) {
    LOOM_REQUIRE(e->name != "__metadata__" && !header.contains(e->name), path, ": tensor '", e->name,
                 "' is written twice");
    const size_t bytes = entry_bytes(e->shape, e->stored);
    header[e->name] = {{"dtype", dtype_name(e->stored)},
                       {"shape", e->shape},
                       {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string header_text = header.dump();
  header_text.append((8 - header_text.size() % 8) % 8, ' ');
  const uint64_t header_bytes = header_text.size();

  AtomicFile file(path);
  file.write(&header_bytes, 8);
  file.write(header_text.data(), header_text.size());
  constexpr size_t kChunk = 1 << 16;
  std::vector<uint16_t> converted(kChunk);
  for (const Entry* e : layout) {
    const size_t n = entry_bytes(e->shape, e->stored) / dtype_size(e->stored);
    if (e->stored == DType::F32) {
      file.write(e->data, n * sizeof(float));
      continue;
    }
    for (size_t start = 0; start < n; start += kChunk) {
      const size_t count = std::min(kChunk, n - start);
      convert_to_16bit(converted.data(), e->data + start, count, e->stored);
      file.write(converted.data(), count * sizeof(uint16_t));
    }
  }
  file.commit();
}

}  // namespace loom
