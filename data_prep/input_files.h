// The input files of a run: globs expanded in a fixed order, JSON Lines or plain text, gzip or
// not (by the file's magic bytes), read line by line. A record is one line.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace loom::prep {

struct InputFile {
  std::string path;
  bool json_lines = true;
  bool gzip = false;
  int64_t size = 0;
};

// format: auto (by extension: .txt/.txt.gz are text, the rest JSON Lines) | jsonl | text.
std::vector<InputFile> expand_inputs(const std::vector<std::string>& patterns, const std::string& format);

// Called with each line's index (from 0) and text, without its "\n" (or "\r\n").
using LineVisitor = std::function<void(int64_t, std::string_view)>;

// Every line of the file (decompressing a gzip file).
void for_each_line(const InputFile& file, const LineVisitor& visit);
// The lines of an uncompressed file that start in bytes [begin, end), read to their ends; the
// index counts from the first of them. Ranges that tile the file visit each line once.
void for_each_line_starting_in(const InputFile& file, int64_t begin, int64_t end, const LineVisitor& visit);

// Byte offset of the first invalid UTF-8 sequence, or npos.
size_t first_invalid_utf8(std::string_view text);

}  // namespace loom::prep
