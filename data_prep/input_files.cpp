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

static InputFile describe(const std::string& path, const std::string& format) {
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
  return file;
}

std::vector<InputFile> expand_inputs(const std::vector<std::string>& patterns, const std::string& format) {
  LOOM_REQUIRE(format == "auto" || format == "jsonl" || format == "text", "--format: unknown format '", format,
               "' (expected auto, jsonl or text)");
  LOOM_REQUIRE(!patterns.empty(), "no input files given");
  std::vector<InputFile> files;
  for (const std::string& pattern : patterns) {
    if (pattern.find_first_of("*?[") == std::string::npos) {
      files.push_back(describe(pattern, format));
      continue;
    }
    glob_t matches{};
    const int status = glob(pattern.c_str(), 0, nullptr, &matches);  // sorted
    std::vector<std::string> paths(matches.gl_pathv, matches.gl_pathv + (status == 0 ? matches.gl_pathc : 0));
    globfree(&matches);
    LOOM_REQUIRE(!paths.empty(), pattern, ": no input file matches");
    for (const auto& p : paths) files.push_back(describe(p, format));
  }
  return files;
}

namespace {

// Cuts a stream of bytes into lines. Only the lines that start before byte `starts_before` of the
// stream are visited; feed() returns false once no more can be.
class LineCutter {
 public:
  LineCutter(int64_t starts_before, const LineVisitor& visit) : starts_before_(starts_before), visit_(visit) {}

  bool feed(std::string_view bytes) {
    for (size_t newline; line_start_ < starts_before_ && (newline = bytes.find('\n')) != std::string_view::npos;
         bytes.remove_prefix(newline + 1)) {
      line_start_ += static_cast<int64_t>(pending_.size() + newline + 1);
      if (pending_.empty()) {
        emit(bytes.substr(0, newline));
      } else {
        pending_.append(bytes.substr(0, newline));
        emit(pending_);
        pending_.clear();
      }
    }
    if (line_start_ >= starts_before_) return false;
    pending_.append(bytes);
    return true;
  }

  // The last line, when the stream does not end with "\n".
  void finish() {
    if (!pending_.empty() && line_start_ < starts_before_) emit(pending_);
  }

 private:
  void emit(std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    visit_(lines_++, line);
  }

  const int64_t starts_before_;
  const LineVisitor& visit_;
  int64_t line_start_ = 0;  // stream offset of the line in pending_
  int64_t lines_ = 0;
  std::string pending_;
};

constexpr size_t kReadBytes = 1 << 20;

// Reads the next `size` bytes of `in`, which start at byte `at` of the file.
std::string_view read_at(std::ifstream& in, const InputFile& file, int64_t at, int64_t size, std::vector<char>* buffer) {
  buffer->resize(static_cast<size_t>(size));
  in.read(buffer->data(), size);
  LOOM_REQUIRE(in.gcount() == size, file.path, ": read failed at byte ", at);
  return std::string_view(buffer->data(), static_cast<size_t>(size));
}

// The first line start at or after `begin` (lines start at byte 0 and after each newline), or
// the file's size when there is none.
int64_t first_line_start(std::ifstream& in, const InputFile& file, int64_t begin, std::vector<char>* buffer) {
  if (begin == 0) return 0;
  in.seekg(begin - 1);
  for (int64_t at = begin - 1; at < file.size;) {
    const std::string_view chunk = read_at(in, file, at, std::min<int64_t>(1 << 16, file.size - at), buffer);
    const size_t newline = chunk.find('\n');
    if (newline != std::string_view::npos) return at + static_cast<int64_t>(newline) + 1;
    at += static_cast<int64_t>(chunk.size());
  }
  return file.size;
}

}  // namespace

void for_each_line_starting_in(const InputFile& file, int64_t begin, int64_t end, const LineVisitor& visit) {
  LOOM_ASSERT(!file.gzip);
  end = std::min(end, file.size);
  if (begin >= end) return;
  std::ifstream in(file.path, std::ios::binary);
  LOOM_REQUIRE(in, file.path, ": cannot open input (", std::strerror(errno), ")");
  std::vector<char> buffer;
  const int64_t first = first_line_start(in, file, begin, &buffer);
  if (first >= end) return;
  in.seekg(first);
  LineCutter cutter(end - first, visit);
  for (int64_t at = first; at < file.size;) {
    const std::string_view chunk = read_at(in, file, at, std::min<int64_t>(kReadBytes, file.size - at), &buffer);
    if (!cutter.feed(chunk)) return;
    at += static_cast<int64_t>(chunk.size());
  }
  cutter.finish();
}

void for_each_line(const InputFile& file, const LineVisitor& visit) {
  gzFile in = gzopen(file.path.c_str(), "rb");
  LOOM_REQUIRE(in, file.path, ": cannot open input (", std::strerror(errno), ")");
  gzbuffer(in, kReadBytes);
  std::vector<char> buffer(kReadBytes);
  LineCutter cutter(INT64_MAX, visit);
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
