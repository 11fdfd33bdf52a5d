#include "input_files.h"

#include <glob.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/check.h"

namespace loom::prep {

static bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

TextUnit parse_text_unit(const std::string& name) {
  if (name == "line") return TextUnit::line;
  if (name == "paragraph") return TextUnit::paragraph;
  if (name == "file") return TextUnit::file;
  LOOM_FAIL("--text-unit: expected line, paragraph or file, not '", name, "'");
}

const char* text_unit_name(TextUnit unit) {
  switch (unit) {
    case TextUnit::line: return "line";
    case TextUnit::paragraph: return "paragraph";
    case TextUnit::file: return "file";
  }
  LOOM_ASSERT(false);
  return "";
}

bool is_blank_line(std::string_view line) {
  return line.find_first_not_of(" \t\r") == std::string_view::npos;
}

static InputFile describe(const std::string& path, const std::string& format, TextUnit text_unit) {
  std::ifstream in(path, std::ios::binary);
  LOOM_REQUIRE(in, path, ": cannot open input (", std::strerror(errno), ")");
  LOOM_REQUIRE(!std::filesystem::is_directory(path), path, ": is a directory, not an input file");
  unsigned char magic[2] = {0, 0};
  in.read(reinterpret_cast<char*>(magic), 2);
  InputFile file;
  file.path = path;
  file.gzip = in.gcount() == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
  file.size = static_cast<int64_t>(std::filesystem::file_size(path));
  if (format == "auto")
    file.json_lines = !(ends_with(path, ".txt") || ends_with(path, ".txt.gz"));
  else
    file.json_lines = format == "jsonl";
  file.text_unit = text_unit;
  return file;
}

std::vector<InputFile> expand_inputs(const std::vector<std::string>& patterns, const std::string& format,
                                     TextUnit text_unit) {
  LOOM_REQUIRE(format == "auto" || format == "jsonl" || format == "text", "--format: unknown format '", format,
               "' (expected auto, jsonl or text)");
  LOOM_REQUIRE(!patterns.empty(), "no input files given");
  std::vector<InputFile> files;
  for (const std::string& pattern : patterns) {
    if (pattern.find_first_of("*?[") == std::string::npos) {
      files.push_back(describe(pattern, format, text_unit));
      continue;
    }
    glob_t matches{};
    const int status = glob(pattern.c_str(), 0, nullptr, &matches);  // sorted
    std::vector<std::string> paths(matches.gl_pathv, matches.gl_pathv + (status == 0 ? matches.gl_pathc : 0));
    globfree(&matches);
    LOOM_REQUIRE(!paths.empty(), pattern, ": no input file matches");
    for (const auto& p : paths) files.push_back(describe(p, format, text_unit));
  }
  return files;
}

namespace {

// Cuts a stream of bytes, which starts at byte `first` of the file, into lines and visits them
// until the visitor says stop; feed() returns false from then on.
class LineCutter {
 public:
  LineCutter(int64_t first, const PlacedLineVisitor& visit) : visit_(visit), line_start_(first) {}

  bool feed(std::string_view bytes) {
    for (size_t newline; going_ && (newline = bytes.find('\n')) != std::string_view::npos;
         bytes.remove_prefix(newline + 1)) {
      const int64_t length = static_cast<int64_t>(pending_.size() + newline);
      if (pending_.empty()) {
        emit(bytes.substr(0, newline));
      } else {
        pending_.append(bytes.substr(0, newline));
        emit(pending_);
        pending_.clear();
      }
      line_start_ += length + 1;
    }
    if (going_) pending_.append(bytes);
    return going_;
  }

  // The last line, when the stream does not end with "\n".
  void finish() {
    if (going_ && !pending_.empty()) emit(pending_);
  }

 private:
  void emit(std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    going_ = visit_(line_start_, line);
  }

  const PlacedLineVisitor& visit_;
  int64_t line_start_;  // file offset of the line in pending_
  bool going_ = true;
  std::string pending_;
};

constexpr size_t kReadBytes = 1 << 20;
constexpr int64_t kScanBytes = 1 << 16;

// Reads the next `size` bytes of `in`, which start at byte `at` of the file.
std::string_view read_at(std::ifstream& in, const InputFile& file, int64_t at, int64_t size, std::vector<char>* buffer) {
  buffer->resize(static_cast<size_t>(size));
  in.read(buffer->data(), size);
  LOOM_REQUIRE(in.gcount() == size, file.path, ": read failed at byte ", at);
  return std::string_view(buffer->data(), static_cast<size_t>(size));
}

// The first line start at or after `begin`, or the file's size when there is none.
int64_t first_line_start(std::ifstream& in, const InputFile& file, int64_t begin, std::vector<char>* buffer) {
  if (begin == 0) return 0;
  in.seekg(begin - 1);
  for (int64_t at = begin - 1; at < file.size;) {
    const std::string_view chunk = read_at(in, file, at, std::min<int64_t>(kScanBytes, file.size - at), buffer);
    const size_t newline = chunk.find('\n');
    if (newline != std::string_view::npos) return at + static_cast<int64_t>(newline) + 1;
    at += static_cast<int64_t>(chunk.size());
  }
  return file.size;
}

std::ifstream open_plain(const InputFile& file) {
  LOOM_ASSERT(!file.gzip);
  std::ifstream in(file.path, std::ios::binary);
  LOOM_REQUIRE(in, file.path, ": cannot open input (", std::strerror(errno), ")");
  return in;
}

}  // namespace

void for_each_line_from(const InputFile& file, int64_t begin, const PlacedLineVisitor& visit) {
  if (begin >= file.size) return;
  std::ifstream in = open_plain(file);
  std::vector<char> buffer;
  const int64_t first = first_line_start(in, file, begin, &buffer);
  in.seekg(first);
  LineCutter cutter(first, visit);
  for (int64_t at = first; at < file.size;) {
    const std::string_view chunk = read_at(in, file, at, std::min<int64_t>(kReadBytes, file.size - at), &buffer);
    if (!cutter.feed(chunk)) return;
    at += static_cast<int64_t>(chunk.size());
  }
  cutter.finish();
}

bool line_before_is_blank(const InputFile& file, int64_t line_start) {
  LOOM_ASSERT(line_start > 0 && line_start <= file.size);
  std::ifstream in = open_plain(file);
  std::vector<char> buffer;
  // Back from the byte before that line's "\n" to the "\n" before it (or the file's start).
  for (int64_t end = line_start - 1; end > 0;) {
    const int64_t at = std::max<int64_t>(0, end - kScanBytes);
    in.seekg(at);
    const std::string_view chunk = read_at(in, file, at, end - at, &buffer);
    for (size_t i = chunk.size(); i-- > 0;) {
      if (chunk[i] == '\n') return true;
      if (chunk[i] != ' ' && chunk[i] != '\t' && chunk[i] != '\r') return false;
    }
    end = at;
  }
  return true;
}

void for_each_line(const InputFile& file, const LineVisitor& visit) {
  gzFile in = gzopen(file.path.c_str(), "rb");
  LOOM_REQUIRE(in, file.path, ": cannot open input (", std::strerror(errno), ")");
  gzbuffer(in, kReadBytes);
  std::vector<char> buffer(kReadBytes);
  int64_t index = 0;
  const PlacedLineVisitor visit_all = [&](int64_t, std::string_view line) {
    visit(index++, line);
    return true;
  };
  LineCutter cutter(0, visit_all);
  try {
    for (;;) {
      const int n = gzread(in, buffer.data(), static_cast<unsigned>(buffer.size()));
      if (n < 0) {
        int code = 0;
        const char* message = gzerror(in, &code);
        LOOM_FAIL(file.path, ": read failed (", message, ")");
      }
      if (n == 0) break;
      cutter.feed(std::string_view(buffer.data(), static_cast<size_t>(n)));
    }
    int code = Z_OK;
    gzerror(in, &code);  // zlib hands back what it could of a cut stream and flags it here
    LOOM_REQUIRE(code == Z_OK, file.path, ": the gzip stream is truncated or corrupt (zlib: ", gzerror(in, &code),
                 ")");
    cutter.finish();
  } catch (...) {
    gzclose(in);
    throw;
  }
  gzclose(in);
}

size_t first_invalid_utf8(std::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  for (size_t i = 0; i < n;) {
    if (n - i >= 8) {  // eight ASCII bytes at a time: none has its high bit set
      uint64_t eight = 0;
      std::memcpy(&eight, s + i, 8);
      if ((eight & 0x8080808080808080ull) == 0) {
        i += 8;
        continue;
      }
    }
    const unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t extra = 0;
    uint32_t code = 0;
    if ((c & 0xE0) == 0xC0) {
      extra = 1;
      code = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2;
      code = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3;
      code = c & 0x07;
    } else {
      return i;
    }
    if (i + extra >= n) return i;
    for (size_t k = 1; k <= extra; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return i;
      code = (code << 6) | (s[i + k] & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    static const uint32_t kMin[4] = {0, 0x80, 0x800, 0x10000};
    if (code < kMin[extra] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return i;
    i += extra + 1;
  }
  return std::string_view::npos;
}

}  // namespace loom::prep
