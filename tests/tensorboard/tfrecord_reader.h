// Reads a TFRecord file back for the tests: every record's data, after checking both masked
// CRC-32Cs and the lengths (a failure is a test failure naming the byte offset).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "train/crc32c.h"

namespace loom::test {

inline uint64_t read_le(const std::string& bytes, size_t at, int size) {
  uint64_t value = 0;
  for (int i = 0; i < size; ++i) value |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[at + i])) << (8 * i);
  return value;
}

inline std::vector<std::string> read_tfrecords(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << path;
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> records;
  size_t at = 0;
  while (at < bytes.size()) {
    if (at + 12 > bytes.size()) {
      ADD_FAILURE() << path << ": truncated header at byte " << at;
      break;
    }
    const uint64_t length = read_le(bytes, at, 8);
    EXPECT_EQ(read_le(bytes, at + 8, 4), masked_crc32c(bytes.data() + at, 8)) << "length CRC at byte " << at;
    if (at + 12 + length + 4 > bytes.size()) {
      ADD_FAILURE() << path << ": truncated record at byte " << at;
      break;
    }
    records.push_back(bytes.substr(at + 12, length));
    EXPECT_EQ(read_le(bytes, at + 12 + length, 4), masked_crc32c(records.back().data(), length))
        << "data CRC at byte " << at;
    at += 12 + length + 4;
  }
  return records;
}

}  // namespace loom::test
