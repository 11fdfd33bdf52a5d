#include "train/tensorboard_writer.h"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

#include "core/check.h"
#include "train/crc32c.h"

namespace loom {

namespace fs = std::filesystem;

static double seconds_since_epoch() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

static std::string host_name() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

// The protobuf wire format of train/event.proto's messages: varint keys and lengths,
// fixed64 doubles, fixed32 floats, length-delimited strings and sub-messages.
static void append_le(std::string* out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>((value >> (8 * i)) & 0xFFu));
}

static void append_varint(std::string* out, uint64_t value) {
  for (; value >= 0x80; value >>= 7) out->push_back(static_cast<char>((value & 0x7Fu) | 0x80u));
  out->push_back(static_cast<char>(value));
}

enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

static void append_key(std::string* out, uint32_t field, WireType type) { append_varint(out, field << 3 | type); }

static void append_bytes(std::string* out, uint32_t field, const std::string& bytes) {
  append_key(out, field, kLengthDelimited);
  append_varint(out, bytes.size());
  *out += bytes;
}

static void append_double(std::string* out, uint32_t field, double value) {
  uint64_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  append_key(out, field, kFixed64);
  append_le(out, bits, 8);
}

static void append_float(std::string* out, uint32_t field, float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  append_key(out, field, kFixed32);
  append_le(out, bits, 4);
}

// Event field numbers: wall_time 1, step 2, file_version 3, summary 5; Summary.value 1;
// Summary.Value: tag 1, simple_value 2.
static std::string file_version_event(double wall_time) {
  std::string event;
  append_double(&event, 1, wall_time);
  append_bytes(&event, 3, "brain.Event:2");
  return event;
}

static std::string summary_event(double wall_time, int64_t step, const nlohmann::json& record) {
  std::string summary;
  for (const auto& [name, value] : record.items()) {
    if (name == "step" || !value.is_number()) continue;
    std::string scalar;
    append_bytes(&scalar, 1, name);
    append_float(&scalar, 2, value.get<float>());
    append_bytes(&summary, 1, scalar);
  }
  std::string event;
  append_double(&event, 1, wall_time);
  append_key(&event, 2, kVarint);
  append_varint(&event, static_cast<uint64_t>(step));  // int64: two's complement, as protobuf does
  append_bytes(&event, 5, summary);
  return event;
}

TensorBoardWriter::TensorBoardWriter(const std::string& output_dir) {
  const double now = seconds_since_epoch();
  const std::string base =
      (fs::path(output_dir) / cat("events.out.tfevents.", static_cast<int64_t>(now), ".", host_name())).string();
  // "x": never append to another writer's file (two logs started within one second).
  for (int suffix = 0; !file_; ++suffix) {
    path_ = suffix == 0 ? base : cat(base, ".", suffix);
    file_ = std::fopen(path_.c_str(), "wbx");
    LOOM_REQUIRE(file_ || errno == EEXIST, path_, ": cannot create (", std::strerror(errno), ")");
  }
  write_record(file_version_event(now));
}

TensorBoardWriter::~TensorBoardWriter() {
  if (file_) std::fclose(file_);
}

void TensorBoardWriter::write(const nlohmann::json& record) {
  LOOM_ASSERT(record.is_object() && record.contains("step") && record["step"].is_number_integer());
  write_record(summary_event(seconds_since_epoch(), record["step"].get<int64_t>(), record));
}

void TensorBoardWriter::write_record(const std::string& data) {
  std::string header;
  append_le(&header, data.size(), 8);
  std::string framed = header;
  append_le(&framed, masked_crc32c(header.data(), header.size()), 4);
  framed += data;
  append_le(&framed, masked_crc32c(data.data(), data.size()), 4);
  LOOM_REQUIRE(std::fwrite(framed.data(), 1, framed.size(), file_) == framed.size() && std::fflush(file_) == 0,
               path_, ": write failed (", std::strerror(errno), ")");
}

}  // namespace loom
