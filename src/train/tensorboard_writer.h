// TensorBoard event files beside metrics.jsonl: output_dir/events.out.tfevents.<seconds>.<host>
// (a suffix .1, .2, ... when that name is taken), so `tensorboard --logdir output_dir` plots
// every metric under its metrics.jsonl name.
//
// The file is a sequence of TFRecords, each
//   uint64 length | uint32 masked_crc32c(length) | length bytes | uint32 masked_crc32c(bytes)
// (little-endian) holding one tensorflow.Event (train/event.proto, encoded here): first
// {file_version: "brain.Event:2"}, then one {wall_time, step, summary} per record with a
// simple_value for every numeric member but "step". Flushed after every event.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

namespace loom {

class TensorBoardWriter {
 public:
  // Creates the event file in output_dir (which must exist) and writes the file_version event.
  explicit TensorBoardWriter(const std::string& output_dir);
  ~TensorBoardWriter();
  TensorBoardWriter(const TensorBoardWriter&) = delete;
  TensorBoardWriter& operator=(const TensorBoardWriter&) = delete;

  // One event at record["step"] holding record's numeric members (other than "step") as
  // scalars under their names; strings, arrays, nulls and booleans are left out.
  void write(const nlohmann::json& record);

  const std::string& path() const { return path_; }

 private:
  void write_record(const std::string& data);  // the TFRecord framing of one serialized Event
  std::string path_;
  std::FILE* file_ = nullptr;
};

}  // namespace loom
