#include "ops/bf16/bf16_scratch.h"

#include <cstddef>

#include "core/aligned_buffer.h"

namespace loom::bf16 {

namespace {

AlignedBuffer<std::byte> g_buffers[static_cast<int>(ScratchSlot::kCount)];

}  // namespace

void* scratch_bytes(ScratchSlot slot, size_t bytes) { return g_buffers[static_cast<int>(slot)].reserve(bytes); }

}  // namespace loom::bf16
