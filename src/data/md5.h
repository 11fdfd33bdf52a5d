// MD5 of a file's bytes, as 32 lowercase hex digits: the fingerprint of a tokenizer file
// (tokenizer.json or tokenizer.model) that shards record and readers compare (`md5sum` prints the same).
#pragma once

#include <string>
#include <string_view>

namespace loom::data {

std::string md5_hex(std::string_view bytes);

}  // namespace loom::data
