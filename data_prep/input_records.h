// The records of an input file: each line of JSON Lines; of a text file, by its --text-unit,
// each non-blank line, each paragraph (a run of non-blank lines) or the whole file. Line ends
// ("\n" or "\r\n") become "\n" inside a record; a record never ends with one.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

#include "input_files.h"

namespace loom::prep {

// Called with a record's index and the index of its first line (both from 0, see below) and its text.
using RecordVisitor = std::function<void(int64_t, int64_t, std::string_view)>;

// Every record of the file (decompressing a gzip file); indices count from the file's start.
void for_each_record(const InputFile& file, const RecordVisitor& visit);

// The records of an uncompressed file, by line or paragraph, whose first line starts in bytes
// [begin, end): a paragraph belongs to the range where it starts and is read to its end.
// Indices count from the first line that starts at or after `begin`. Returns the number of
// lines that start in [begin, end), so ranges that tile the file visit each record once and
// their counts add up to the file's lines.
int64_t for_each_record_starting_in(const InputFile& file, int64_t begin, int64_t end, const RecordVisitor& visit);

}  // namespace loom::prep
