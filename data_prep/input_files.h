// The input files of a run: globs expanded in a fixed order, JSON Lines or plain text, gzip or
// not (by the file's magic bytes), read line by line (input_records.h cuts the lines into records).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace loom::prep {

// What a record of a text file is (--text-unit), as `sample_by` of datasets' text loader.
enum class TextUnit {
  line,       // each non-blank line
  paragraph,  // each run of non-blank lines (blocks separated by blank lines)
  file,       // the whole file
};
TextUnit parse_text_unit(const std::string& name);  // line | paragraph | file
const char* text_unit_name(TextUnit unit);

struct InputFile {
  std::string path;
  bool json_lines = true;
  TextUnit text_unit = TextUnit::line;  // text files (a JSON Lines record is always a line)
  bool gzip = false;
  int64_t size = 0;
};

// format: auto (by extension: .txt/.txt.gz are text, the rest JSON Lines) | jsonl | text.
std::vector<InputFile> expand_inputs(const std::vector<std::string>& patterns, const std::string& format,
                                     TextUnit text_unit);

// A line holding nothing but spaces, tabs and carriage returns (or nothing).
bool is_blank_line(std::string_view line);

// Called with each line's index (from 0) and text, without its "\n" (or "\r\n").
using LineVisitor = std::function<void(int64_t, std::string_view)>;
// Called with a line's first byte's offset in the file and its text; returns whether to go on.
using PlacedLineVisitor = std::function<bool(int64_t, std::string_view)>;

// Every line of the file (decompressing a gzip file).
void for_each_line(const InputFile& file, const LineVisitor& visit);
// The lines of an uncompressed file from the first that starts at or after byte `begin` (lines
// start at byte 0 and after each "\n"), until `visit` returns false or the file ends.
void for_each_line_from(const InputFile& file, int64_t begin, const PlacedLineVisitor& visit);
// Whether the line that ends just before the line starting at byte `line_start` (> 0) of an
// uncompressed file is blank.
bool line_before_is_blank(const InputFile& file, int64_t line_start);

// Byte offset of the first invalid UTF-8 sequence, or npos.
size_t first_invalid_utf8(std::string_view text);

}  // namespace loom::prep
