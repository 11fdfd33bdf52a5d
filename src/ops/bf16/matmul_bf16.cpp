#include "ops/bf16/matmul_bf16.h"

#include "ops/bf16/bf16_convert.h"
#include "ops/bf16/bf16_scratch.h"
#include "ops/bf16/onednn_gemm.h"

namespace loom::bf16 {

namespace {

const uint16_t* rounded(ScratchSlot slot, const float* x, size_t n) {
  uint16_t* out = scratch(slot, n);
  round_to_bf16(out, x, n);
  return out;
}

}  // namespace

void matmul_forward(float* out, const float* inp, const float* weight, int N, int C, int OC, bool accumulate) {
  const uint16_t* x = rounded(ScratchSlot::OperandA, inp, size_t(N) * C);      // (N, C)
  const uint16_t* w = rounded(ScratchSlot::OperandB, weight, size_t(OC) * C);  // (OC, C)
  gemm(out, x, false, w, /*b_trans=*/true, N, OC, C, accumulate);
}

void matmul_backward_input(float* dinp, const float* dout, const float* weight, int N, int C, int OC) {
  const uint16_t* dy = rounded(ScratchSlot::OperandA, dout, size_t(N) * OC);   // (N, OC)
  const uint16_t* w = rounded(ScratchSlot::OperandB, weight, size_t(OC) * C);  // (OC, C)
  gemm(dinp, dy, false, w, false, N, C, OC, /*accumulate=*/true);
}

void matmul_backward_weight(float* dweight, const float* dout, const float* inp, int N, int C, int OC) {
  const uint16_t* dy = rounded(ScratchSlot::OperandA, dout, size_t(N) * OC);  // (N, OC)
  const uint16_t* x = rounded(ScratchSlot::OperandB, inp, size_t(N) * C);     // (N, C)
  gemm(dweight, dy, /*a_trans=*/true, x, false, OC, C, N, /*accumulate=*/true);
}

}  // namespace loom::bf16
