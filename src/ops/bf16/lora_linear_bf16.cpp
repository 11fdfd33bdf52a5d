#include "ops/bf16/lora_linear_bf16.h"

#include <algorithm>

#include "core/parallel.h"
#include "ops/bf16/bf16_convert.h"
#include "ops/bf16/bf16_scratch.h"
#include "ops/bf16/frozen_matmul_bf16.h"
#include "ops/bf16/onednn_gemm.h"
#include "ops/dropout.h"

namespace loom::bf16 {

namespace {

// out (rows, cols) with row stride ld_out = bf16(scale * in (rows, cols)), in's row stride ld_in.
void round_rows(uint16_t* out, int ld_out, const float* in, int ld_in, int rows, int cols, float scale) {
#pragma omp parallel for schedule(static) if (size_t(rows) * cols >= kMinParallelElements)
  for (int r = 0; r < rows; ++r) round_scaled_span_to_bf16(out + size_t(r) * ld_out, in + size_t(r) * ld_in, scale, cols);
}

// out (n) = bf16(dropout(x (n))): the mask and scale of cpu::dropout_forward, rounded in the same pass.
void round_dropped(uint16_t* out, const float* x, size_t n, float p, uint64_t seed, uint64_t stream) {
  constexpr size_t kSpan = 1024;
  const int64_t spans = int64_t((n + kSpan - 1) / kSpan);
#pragma omp parallel for schedule(static) if (n >= kMinParallelElements)
  for (int64_t s = 0; s < spans; ++s) {
    const size_t begin = size_t(s) * kSpan, end = std::min(n, begin + kSpan);
    alignas(64) float dropped[kSpan];
    cpu::dropout_span(dropped, x + begin, begin, end, p, seed, stream);
    round_span_to_bf16(out + begin, dropped, end - begin);
  }
}

// A (R, C) in bf16: the caller's copy, or A rounded into scratch.
const uint16_t* factor_a(const float* a, const uint16_t* a_bf16, int R, int C) {
  if (a_bf16 != nullptr) return a_bf16;
  uint16_t* out = scratch(ScratchSlot::LoraA, size_t(R) * C);
  round_to_bf16(out, a, size_t(R) * C);
  return out;
}

// [W | B] (OC, C + R) in bf16: each row of the frozen weight dequantized, then that row of B.
const uint16_t* weight_and_b(const QuantizedMatrix& w, const float* b, const uint16_t* b_bf16, int R) {
  const int OC = w.rows, C = w.cols, K = C + R;
  uint16_t* out = scratch(ScratchSlot::Weight, size_t(OC) * K);
  dequantize_rows_bf16(out, w, 0, OC, K);
  if (b_bf16 != nullptr) {
    for (int o = 0; o < OC; ++o) std::copy_n(b_bf16 + size_t(o) * R, R, out + size_t(o) * K + C);
  } else {
    round_rows(out + C, K, b, R, OC, R, 1.0f);
  }
  return out;
}

// bf16(dropout(x)) (N, C), or with p == 0 bf16(x)
const uint16_t* dropped_input(const float* x, size_t n, float p, uint64_t seed, uint64_t stream) {
  uint16_t* out = scratch(ScratchSlot::LoraDropped, n);
  if (p > 0.0f)
    round_dropped(out, x, n, p, seed, stream);
  else
    round_to_bf16(out, x, n);
  return out;
}

}  // namespace

bool lora_linear_fused_applies(const QuantizedMatrix& w, int N) {
  return !(N <= kNf4GemvMaxPasses * kGemvMaxRows && nf4_gemv_applies(w));
}

void lora_linear_forward(float* y, float* u, const float* x, const QuantizedMatrix& w, const float* a,
                         const uint16_t* a_bf16, const float* b, const uint16_t* b_bf16, int N, int R, float scale,
                         float p, uint64_t seed, uint64_t stream) {
  const int OC = w.rows, C = w.cols, K = C + R;
  uint16_t* xu = scratch(ScratchSlot::OperandA, size_t(N) * K);  // [bf16(x) | bf16(scale * u)] (N, K)
  round_rows(xu, K, x, C, N, C, 1.0f);
  const uint16_t* a16 = factor_a(a, a_bf16, R, C);  // (R, C)
  if (p > 0.0f) {
    gemm(u, dropped_input(x, size_t(N) * C, p, seed, stream), false, a16, /*b_trans=*/true, N, R, C, false);
  } else {
    gemm_strided(u, R, xu, K, false, a16, C, /*b_trans=*/true, N, R, C, false);
  }
  round_rows(xu + C, K, u, R, N, R, scale);
  gemm(y, xu, false, weight_and_b(w, b, b_bf16, R), /*b_trans=*/true, N, OC, K, /*accumulate=*/false);
}

void lora_linear_backward(float* dx, float* da, float* db, float* dropped, const float* dy, const float* x,
                          const float* u, const QuantizedMatrix& w, const float* a, const uint16_t* a_bf16,
                          const float* b, const uint16_t* b_bf16, int N, int R, float scale, float p,
                          uint64_t seed, uint64_t stream) {
  const int OC = w.rows, C = w.cols, K = C + R;
  uint16_t* dy16 = scratch(ScratchSlot::OperandA, size_t(N) * OC);  // (N, OC)
  round_to_bf16(dy16, dy, size_t(N) * OC);
  const uint16_t* wb = weight_and_b(w, b, b_bf16, R);  // [W | B] (OC, K)
  // dx (N, C) += dy @ W
  gemm_strided(dx, C, dy16, OC, false, wb, K, false, N, C, OC, /*accumulate=*/true);
  // du (N, R) = scale * dy @ B, in bf16 for the two GEMMs below
  float* du = scratch_f32(ScratchSlot::LoraMid, size_t(N) * R);
  gemm_strided(du, R, dy16, OC, false, wb + C, K, false, N, R, OC, /*accumulate=*/false);
  uint16_t* du16 = scratch(ScratchSlot::OperandB, size_t(N) * R);
  round_scaled_to_bf16(du16, du, scale, size_t(N) * R);
  // db (OC, R) += dy^T @ (scale * u)
  uint16_t* su16 = scratch(ScratchSlot::LoraMid, size_t(N) * R);  // du is rounded: its slot is free
  round_scaled_to_bf16(su16, u, scale, size_t(N) * R);
  gemm(db, dy16, /*a_trans=*/true, su16, false, OC, R, N, /*accumulate=*/true);
  // da (R, C) += du^T @ dropout(x)
  gemm(da, du16, /*a_trans=*/true, dropped_input(x, size_t(N) * C, p, seed, stream), false, R, C, N, true);
  // dx += dropout'(du @ A)
  const uint16_t* a16 = factor_a(a, a_bf16, R, C);  // (R, C)
  if (p > 0.0f) {
    gemm(dropped, du16, false, a16, false, N, C, R, /*accumulate=*/false);
    cpu::dropout_backward(dx, dropped, size_t(N) * C, p, seed, stream);
  } else {
    gemm(dx, du16, false, a16, false, N, C, R, /*accumulate=*/true);
  }
}

}  // namespace loom::bf16
