#include "input_records.h"

#include <algorithm>
#include <string>

#include "core/check.h"

namespace loom::prep {

namespace {

// Cuts a file's lines, given in order, into its records.
class RecordCutter {
 public:
  RecordCutter(const InputFile& file, const RecordVisitor& visit) : file_(file), visit_(visit) {}

  void line(int64_t index, std::string_view text) {
    if (file_.json_lines) return emit(index, text);
    const bool blank = is_blank_line(text);
    switch (file_.text_unit) {
      case TextUnit::line:
        if (!blank) emit(index, text);
        return;
      case TextUnit::paragraph:
        if (blank) return finish();
        append(index, text);
        return;
      case TextUnit::file:
        // Blank lines are kept between non-blank ones; leading and trailing ones are dropped.
        if (blank) {
          if (open_) (blank_lines_ += '\n').append(text);
          return;
        }
        append(index, text);
        return;
    }
  }

  // Whether a paragraph (or the file's text) has begun and not ended.
  bool open() const { return open_; }

  void finish() {
    if (open_) emit(first_line_, text_);
    open_ = false;
  }

 private:
  void append(int64_t index, std::string_view text) {
    if (!open_) {
      open_ = true;
      first_line_ = index;
      text_.clear();
    } else {
      text_ += blank_lines_;
      text_ += '\n';
    }
    blank_lines_.clear();
    text_.append(text);
  }

  void emit(int64_t first_line, std::string_view text) { visit_(records_++, first_line, text); }

  const InputFile& file_;
  const RecordVisitor& visit_;
  int64_t records_ = 0;
  bool open_ = false;
  int64_t first_line_ = 0;
  std::string text_;         // the open record
  std::string blank_lines_;  // file: the blank lines since the last non-blank one, each after a "\n"
};

}  // namespace

void for_each_record(const InputFile& file, const RecordVisitor& visit) {
  RecordCutter cutter(file, visit);
  for_each_line(file, [&](int64_t index, std::string_view text) { cutter.line(index, text); });
  cutter.finish();
}

int64_t for_each_record_starting_in(const InputFile& file, int64_t begin, int64_t end, const RecordVisitor& visit) {
  LOOM_ASSERT(!file.gzip && (file.json_lines || file.text_unit != TextUnit::file));
  end = std::min(end, file.size);
  if (begin >= end) return 0;
  const bool paragraphs = !file.json_lines && file.text_unit == TextUnit::paragraph;
  RecordCutter cutter(file, visit);
  int64_t index = 0, in_range = 0;
  bool continuing = false;  // in the lines that continue a paragraph begun before `begin`
  for_each_line_from(file, begin, [&](int64_t start, std::string_view text) {
    const bool blank = is_blank_line(text);
    if (start >= end) {  // past the range: only the rest of a paragraph that began in it
      if (!cutter.open() || blank) return false;
    } else {
      if (in_range++ == 0) continuing = paragraphs && start > 0 && !line_before_is_blank(file, start);
      if (continuing && !blank) {
        ++index;
        return true;
      }
      continuing = false;
    }
    cutter.line(index++, text);
    return true;
  });
  cutter.finish();
  return in_range;
}

}  // namespace loom::prep
