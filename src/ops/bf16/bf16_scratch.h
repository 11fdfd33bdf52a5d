// Working buffers of the cpu-bf16 ops: bf16 copies of GEMM operands made from f32 inputs, and
// blocks of attention scores. Each slot is one buffer that grows to the largest request seen
// and is then reused, so after the first step of a fixed shape nothing is allocated. Slots are
// process-wide: the ops that use them run from one thread at a time (OpenMP inside).
#pragma once

#include <cstddef>
#include <cstdint>

namespace loom::bf16 {

enum class ScratchSlot {
  OperandA, OperandB, Weight,                       // matmul operands, a frozen weight
  AttnQ, AttnK, AttnV, AttnDout,                    // attention inputs as bf16
  LoraDropped, LoraA, LoraB, LoraMid,               // lora_linear: dropout(x), A, B, the bottleneck
  Logits,                                           // the LM head's dlogits as bf16
  kCount
};

// A 64-byte-aligned buffer of at least `bytes`; valid until the next call for the slot.
void* scratch_bytes(ScratchSlot slot, size_t bytes);

// n bf16 values (uint16_t).
inline uint16_t* scratch(ScratchSlot slot, size_t n) {
  return static_cast<uint16_t*>(scratch_bytes(slot, n * sizeof(uint16_t)));
}

}  // namespace loom::bf16
