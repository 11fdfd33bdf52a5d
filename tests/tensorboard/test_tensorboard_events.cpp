// TensorBoardWriter's files decoded by protoc's classes for src/train/event.proto: the framing
// with both CRCs, file_version first, then one Event per record with the numeric members as
// scalars. A program of its own without loom_core (see event.proto for why).
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "tensorboard/tfrecord_reader.h"
#include "train/crc32c.h"
#include "train/event.pb.h"
#include "train/tensorboard_writer.h"

namespace loom {
namespace {

namespace fs = std::filesystem;

std::string fresh_dir(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("loom-test-" + name + "-" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

std::vector<tensorflow::Event> read_events(const std::string& path) {
  std::vector<tensorflow::Event> events;
  for (const std::string& data : test::read_tfrecords(path)) {
    tensorflow::Event event;
    EXPECT_TRUE(event.ParseFromString(data));
    events.push_back(event);
  }
  return events;
}

std::map<std::string, float> scalars(const tensorflow::Event& event) {
  std::map<std::string, float> values;
  for (const auto& value : event.summary().value()) {
    EXPECT_TRUE(value.has_simple_value()) << value.tag();
    EXPECT_EQ(values.count(value.tag()), 0u) << "tag twice: " << value.tag();
    values[value.tag()] = value.simple_value();
  }
  return values;
}

TEST(Crc32c, MatchesTheStandardCheckValues) {
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);  // the CRC-32C check value
  EXPECT_EQ(crc32c("", 0), 0u);
  const std::vector<unsigned char> zeros(32, 0x00), ones(32, 0xFF);
  EXPECT_EQ(crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);  // RFC 3720 B.4
  EXPECT_EQ(crc32c(ones.data(), ones.size()), 0x62A8AB43u);
  const uint32_t crc = 0xE3069283u;
  EXPECT_EQ(masked_crc32c("123456789", 9), ((crc >> 15) | (crc << 17)) + 0xa282ead8u);
}

TEST(TensorBoardWriter, WritesFileVersionThenOneSummaryPerRecord) {
  const std::string dir = fresh_dir("tensorboard-writer");
  std::string path;
  {
    TensorBoardWriter writer(dir);
    path = writer.path();
    writer.write({{"step", 10}, {"loss", 2.5}, {"learning_rate", 1e-4}, {"objective/kl", 0.125}});
    writer.write({{"step", 300}, {"eval_loss", 1.75}, {"note", "text"}, {"done", true}, {"missing", nullptr}});
    writer.write({{"step", -1}, {"env/reward_mean", -3.0e38}});
  }
  EXPECT_EQ(fs::path(path).parent_path(), fs::path(dir));
  EXPECT_EQ(fs::path(path).filename().string().rfind("events.out.tfevents.", 0), 0u) << path;

  const std::vector<tensorflow::Event> events = read_events(path);
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].file_version(), "brain.Event:2");
  EXPECT_GT(events[0].wall_time(), 1.6e9);  // seconds since the epoch

  EXPECT_EQ(events[1].step(), 10);
  EXPECT_TRUE(events[1].has_summary());
  EXPECT_GE(events[1].wall_time(), events[0].wall_time());
  const std::map<std::string, float> first = scalars(events[1]);
  EXPECT_EQ(first.size(), 3u);
  EXPECT_EQ(first.at("loss"), 2.5f);
  EXPECT_EQ(first.at("learning_rate"), 1e-4f);
  EXPECT_EQ(first.at("objective/kl"), 0.125f);

  EXPECT_EQ(events[2].step(), 300);  // a varint of two bytes
  const std::map<std::string, float> second = scalars(events[2]);
  ASSERT_EQ(second.size(), 1u);  // strings, booleans and nulls are not scalars
  EXPECT_EQ(second.at("eval_loss"), 1.75f);

  EXPECT_EQ(events[3].step(), -1);
  EXPECT_EQ(scalars(events[3]).at("env/reward_mean"), -3.0e38f);
}

TEST(TensorBoardWriter, TwoWritersInOneDirectoryGetTwoFiles) {
  const std::string dir = fresh_dir("tensorboard-two");
  TensorBoardWriter a(dir), b(dir);
  EXPECT_NE(a.path(), b.path());
  EXPECT_EQ(read_events(a.path()).size(), 1u);
  EXPECT_EQ(read_events(b.path()).size(), 1u);
}

}  // namespace
}  // namespace loom
