// MD5 of a file's bytes, as 32 lowercase hex digits: the fingerprint of a tokenizer file
// (tokenizer.json or tokenizer.model) that shards record and readers compare (`md5sum` prints the same).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace loom::data {

// MD5 of bytes given in consecutive pieces: update() any number of times, then hex() once.
class Md5 {
 public:
  void update(std::string_view bytes);
  std::string hex();

 private:
  uint32_t state_[4] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};
  uint8_t pending_[64] = {};  // the bytes of an unfinished block
  size_t pending_size_ = 0;
  uint64_t length_ = 0;  // bytes in all
};

std::string md5_hex(std::string_view bytes);
// MD5 of a file's bytes, read in 1 MiB pieces: "<path>: cannot read ..." when it cannot be read.
std::string md5_file_hex(const std::string& path);

}  // namespace loom::data
