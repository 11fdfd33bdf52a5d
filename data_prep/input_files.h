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

// Lines that start in bytes [begin, end) of an uncompressed file.
int64_t count_line_starts(const InputFile& file, int64_t begin, int64_t end);
// Lines of the whole file (decompressing a gzip file).
int64_t count_lines(const InputFile& file);
// Calls visit(line_index, line) for every line, without its "\n" (or "\r\n").
void for_each_line(const InputFile& file, const std::function<void(int64_t, std::string_view)>& visit);

// Byte offset of the first invalid UTF-8 sequence, or npos.
size_t first_invalid_utf8(std::string_view text);

}  // namespace loom::prep
