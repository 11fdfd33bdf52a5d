// Errors and check macros.
//
// Two kinds of failure, one exception type:
//  - user errors (bad file, bad config key, corrupt checkpoint): LOOM_FAIL("file: problem")
//    carries a one-line message naming the file/key and the problem; the CLI prints it
//    as `loom: error: ...` and exits non-zero.
//  - broken invariants inside loom: LOOM_ASSERT(cond) adds file:line.
// Library calls (MPI, HDF5, CUDA, cuBLAS, NCCL) have their own macros beside their
// wrappers, all ending in loom::fail with file:line.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace loom {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Concatenate anything streamable into one string: cat("layer ", i, ": ", name).
template <typename... Args>
std::string cat(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}

[[noreturn]] inline void fail(const std::string& message) { throw Error(message); }

[[noreturn]] inline void fail_at(const char* file, int line, const std::string& message) {
  throw Error(cat(file, ":", line, ": ", message));
}

}  // namespace loom

#define LOOM_FAIL(...) ::loom::fail(::loom::cat(__VA_ARGS__))

#define LOOM_ASSERT(cond)                                                     \
  do {                                                                        \
    if (!(cond)) ::loom::fail_at(__FILE__, __LINE__, "assertion failed: " #cond); \
  } while (0)

// A user-facing check: LOOM_REQUIRE(n > 0, path, ": tensor count must be positive").
#define LOOM_REQUIRE(cond, ...)                  \
  do {                                           \
    if (!(cond)) ::loom::fail(::loom::cat(__VA_ARGS__)); \
  } while (0)
