// Helpers shared by the libFuzzer targets (tests/fuzz/README.md): a scratch file per process
// for the readers that take a path, and the one kind of failure a reader may report.
//
// A target calls a reader on the fuzz input and catches loom::Error only: a one-line error is
// the expected outcome for bad input. Anything else (a sanitizer report, a crash, an uncaught
// exception of another type, a broken round trip) stops the fuzzer as a finding.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

namespace loom::fuzz {

// A path unique to this process and `name`, removed at exit: in memory (/dev/shm) where there
// is one, since rewriting a file on ext4 flushes it to disk each time (auto_da_alloc), which
// made the file-reading targets an order of magnitude slower; else under the temp dir.
inline std::string scratch_file(const std::string& name) {
  const std::filesystem::path base =
      std::filesystem::is_directory("/dev/shm") ? std::filesystem::path("/dev/shm") : std::filesystem::temp_directory_path();
  const std::filesystem::path dir = base / ("loom-fuzz-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  static const std::string removed_at_exit = dir.string();
  std::atexit([] { std::filesystem::remove_all(removed_at_exit); });
  return (dir / name).string();
}

inline void write_file(const std::string& path, const uint8_t* data, size_t size) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f || (size && std::fwrite(data, 1, size, f) != size) || std::fclose(f) != 0) {
    std::perror(path.c_str());
    std::abort();
  }
}

// Stops the fuzzer with a message: a property the target checks does not hold.
[[noreturn]] inline void finding(const std::string& what) {
  std::fprintf(stderr, "loom fuzz finding: %s\n", what.c_str());
  std::abort();
}

// RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF.
inline bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    int extra = 0;
    uint32_t code = 0;
    if (c < 0x80) { ++i; continue; }
    if (c >= 0xC2 && c <= 0xDF) { extra = 1; code = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { extra = 2; code = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { extra = 3; code = c & 0x07; }
    else return false;
    if (s.size() - i <= static_cast<size_t>(extra)) return false;
    for (int k = 1; k <= extra; ++k) {
      const unsigned char t = static_cast<unsigned char>(s[i + k]);
      if ((t & 0xC0) != 0x80) return false;
      code = (code << 6) | (t & 0x3F);
    }
    if ((extra == 2 && (code < 0x800 || (code >= 0xD800 && code <= 0xDFFF))) ||
        (extra == 3 && (code < 0x10000 || code > 0x10FFFF)))
      return false;
    i += static_cast<size_t>(extra) + 1;
  }
  return true;
}

}  // namespace loom::fuzz
