#include "input_files.h"

#include <glob.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

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

int64_t count_line_starts(const InputFile& file, int64_t begin, int64_t end) {
  LOOM_ASSERT(!file.gzip);
  end = std::min(end, file.size);
  if (begin >= end) return 0;
  std::ifstream in(file.path, std::ios::binary);
  LOOM_REQUIRE(in, file.path, ": cannot open input (", std::strerror(errno), ")");
  // A line starts at byte o when o == 0 or byte o - 1 is a newline.
  const int64_t from = begin == 0 ? 0 : begin - 1;
  in.seekg(from);
  int64_t count = begin == 0 ? 1 : 0;
  std::vector<char> buffer(1 << 20);
  for (int64_t at = from; at < end - 1;) {
    const int64_t want = std::min<int64_t>(static_cast<int64_t>(buffer.size()), end - 1 - at);
    in.read(buffer.data(), want);
    LOOM_REQUIRE(in.gcount() == want, file.path, ": read failed at byte ", at);
    count += std::count(buffer.data(), buffer.data() + want, '\n');
    at += want;
  }
  return count;
}

void for_each_line(const InputFile& file, const std::function<void(int64_t, std::string_view)>& visit) {
  gzFile in = gzopen(file.path.c_str(), "rb");
  LOOM_REQUIRE(in, file.path, ": cannot open input (", std::strerror(errno), ")");
  gzbuffer(in, 1 << 20);
  std::vector<char> buffer(1 << 20);
  std::string pending;
  int64_t line = 0;
  auto emit = [&](std::string_view text) {
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    visit(line++, text);
  };
  try {
    for (;;) {
      const int n = gzread(in, buffer.data(), static_cast<unsigned>(buffer.size()));
      if (n < 0) {
        int code = 0;
        const char* message = gzerror(in, &code);
        LOOM_FAIL(file.path, ": read failed (", message, ")");
      }
      if (n == 0) break;
      std::string_view chunk(buffer.data(), static_cast<size_t>(n));
      for (size_t newline; (newline = chunk.find('\n')) != std::string_view::npos; chunk.remove_prefix(newline + 1)) {
        if (pending.empty()) {
          emit(chunk.substr(0, newline));
        } else {
          pending.append(chunk.substr(0, newline));
          emit(pending);
          pending.clear();
        }
      }
      pending.append(chunk);
    }
    if (!pending.empty()) emit(pending);
  } catch (...) {
    gzclose(in);
    throw;
  }
  gzclose(in);
}

int64_t count_lines(const InputFile& file) {
  int64_t lines = 0;
  for_each_line(file, [&](int64_t, std::string_view) { ++lines; });
  return lines;
}

size_t first_invalid_utf8(std::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  for (size_t i = 0; i < n;) {
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
