// A heap buffer aligned to kArenaAlignment (64 bytes), for working memory that lives outside
// the arenas: scratch that grows to the largest request, per-thread blocks, cached copies.
// The alignment matters to oneDNN's AMX kernels: a tile row loaded from a 16-byte-aligned
// address spans two cache lines, and a GEMM on such operands ran at about a third of its
// speed (docs/benchmarks.md). std::vector and new[] give 16 bytes.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <memory>

#include "core/arena.h"
#include "core/check.h"

namespace loom {

template <typename T>
class AlignedBuffer {
 public:
  T* data() const { return data_.get(); }
  size_t capacity() const { return capacity_; }

  // At least n elements; the contents are kept only when no reallocation is needed.
  T* reserve(size_t n) {
    if (n > capacity_) {
      const size_t bytes = align_up(n * sizeof(T));
      void* p = std::aligned_alloc(kArenaAlignment, bytes);
      LOOM_REQUIRE(p != nullptr, "out of memory: a working buffer of ", bytes, " bytes");
      data_.reset(static_cast<T*>(p));
      capacity_ = bytes / sizeof(T);
    }
    return data_.get();
  }

 private:
  struct Free {
    void operator()(T* p) const { std::free(p); }
  };
  std::unique_ptr<T, Free> data_;
  size_t capacity_ = 0;
};

}  // namespace loom
