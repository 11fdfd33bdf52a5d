#include "ops/bf16/matmul_bf16.h"

#include <algorithm>

#include "core/parallel.h"
#include "ops/bf16/bf16_convert.h"
#include "ops/bf16/bf16_scratch.h"
#include "ops/bf16/few_rows_matmul_bf16.h"
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
  if (N <= kFewRowsMax) {  // decoding
    few_rows_matmul_forward(out, inp, weight, N, C, OC, accumulate);
    return;
  }
  const uint16_t* w = rounded(ScratchSlot::OperandB, weight, size_t(OC) * C);  // (OC, C)
  matmul_forward_bf16_weight(out, inp, w, N, C, OC, accumulate);
}

void matmul_backward_input(float* dinp, const float* dout, const float* weight, int N, int C, int OC) {
  const uint16_t* w = rounded(ScratchSlot::OperandB, weight, size_t(OC) * C);  // (OC, C)
  matmul_backward_input_bf16_weight(dinp, dout, w, N, C, OC);
}

void matmul_forward_bf16_weight(float* out, const float* inp, const uint16_t* weight_bf16, int N, int C, int OC,
                                bool accumulate) {
  if (N <= kFewRowsMax) {  // decoding
    few_rows_matmul_forward(out, inp, weight_bf16, N, C, OC, accumulate);
    return;
  }
  const uint16_t* x = rounded(ScratchSlot::OperandA, inp, size_t(N) * C);  // (N, C)
  gemm(out, x, false, weight_bf16, /*b_trans=*/true, N, OC, C, accumulate);
}

void matmul_forward_packed_weight(float* out, const float* inp, const uint16_t* weight_packed, int N, int C, int OC,
                                  bool accumulate) {
  const uint16_t* x = rounded(ScratchSlot::OperandA, inp, size_t(N) * C);  // (N, C)
  gemm_packed_b(out, x, weight_packed, N, OC, C, accumulate);
}

void matmul_backward_input_bf16_weight(float* dinp, const float* dout, const uint16_t* weight_bf16, int N, int C,
                                       int OC) {
  const uint16_t* dy = rounded(ScratchSlot::OperandA, dout, size_t(N) * OC);  // (N, OC)
  matmul_backward_input_bf16_dout(dinp, dy, weight_bf16, /*weight_transposed=*/false, N, C, OC);
}

void matmul_backward_input_transposed_weight(float* dinp, const float* dout, const uint16_t* weight_t_bf16, int N,
                                             int C, int OC) {
  const uint16_t* dy = rounded(ScratchSlot::OperandA, dout, size_t(N) * OC);  // (N, OC)
  matmul_backward_input_bf16_dout(dinp, dy, weight_t_bf16, /*weight_transposed=*/true, N, C, OC);
}

void matmul_backward_input_bf16_dout(float* dinp, const uint16_t* dout_bf16, const uint16_t* weight_bf16,
                                     bool weight_transposed, int N, int C, int OC) {
  gemm(dinp, dout_bf16, false, weight_bf16, /*b_trans=*/weight_transposed, N, C, OC, /*accumulate=*/true);
}

void transpose_bf16(uint16_t* out, const uint16_t* in, int rows, int cols) {
  constexpr int kTile = 64;  // 64 x 64 tiles: a tile's rows and columns stay in L1
  const int row_tiles = (rows + kTile - 1) / kTile, col_tiles = (cols + kTile - 1) / kTile;
#pragma omp parallel for schedule(static) if (size_t(rows) * cols >= kMinParallelElements)
  for (int t = 0; t < row_tiles * col_tiles; ++t) {
    const int r0 = t / col_tiles * kTile, c0 = t % col_tiles * kTile;
    const int r1 = std::min(rows, r0 + kTile), c1 = std::min(cols, c0 + kTile);
    for (int c = c0; c < c1; ++c)
      for (int r = r0; r < r1; ++r) out[size_t(c) * rows + r] = in[size_t(r) * cols + c];
  }
}

void matmul_backward_weight(float* dweight, const float* dout, const float* inp, int N, int C, int OC) {
  const uint16_t* dy = rounded(ScratchSlot::OperandA, dout, size_t(N) * OC);  // (N, OC)
  matmul_backward_weight_bf16_dout(dweight, dy, inp, N, C, OC);
}

void matmul_backward_weight_bf16_dout(float* dweight, const uint16_t* dout_bf16, const float* inp, int N, int C,
                                      int OC) {
  const uint16_t* x = rounded(ScratchSlot::OperandB, inp, size_t(N) * C);  // (N, C)
  gemm(dweight, dout_bf16, /*a_trans=*/true, x, false, OC, C, N, /*accumulate=*/true);
}

}  // namespace loom::bf16
