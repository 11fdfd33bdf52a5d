// cpu-bf16: the CPU backend with mixed-precision GEMMs and attention, as
// torch.autocast(cpu, bfloat16): GEMM inputs rounded to bf16, f32 accumulation and outputs, on
// oneDNN (AMX-BF16 / AVX512_BF16 kernels) and AVX512_BF16 code (src/ops/bf16/). Norms, RoPE,
// SwiGLU, losses, LoRA parameters, gradients and AdamW stay f32 (cpu-f32's ops).
#pragma once

#include <memory>

#include "backend/backend.h"

namespace loom {

// Fails with one line when the CPU (or this build) has no bf16 instructions.
std::unique_ptr<Backend> make_cpu_bf16_backend();

}  // namespace loom
