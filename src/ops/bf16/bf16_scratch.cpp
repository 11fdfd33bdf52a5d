#include "ops/bf16/bf16_scratch.h"

#include <cstdlib>
#include <memory>

#include "core/check.h"

namespace loom::bf16 {

namespace {

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

struct Buffer {
  std::unique_ptr<void, FreeDeleter> data;
  size_t capacity = 0;  // bytes
};

Buffer g_buffers[static_cast<int>(ScratchSlot::kCount)];

}  // namespace

void* scratch_bytes(ScratchSlot slot, size_t bytes) {
  Buffer& b = g_buffers[static_cast<int>(slot)];
  if (bytes > b.capacity) {
    const size_t rounded = ((bytes + 63) / 64) * 64;
    void* p = std::aligned_alloc(64, rounded);
    LOOM_REQUIRE(p != nullptr, "out of memory: bf16 scratch of ", rounded, " bytes");
    b.data.reset(p);
    b.capacity = rounded;
  }
  return b.data.get();
}

}  // namespace loom::bf16
