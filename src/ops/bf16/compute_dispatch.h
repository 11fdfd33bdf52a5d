// The narrow seam through which the model reaches the cpu-bf16 kernels while its call sites
// still call ops directly rather than through a Backend (backend/backend.h): the linears, the
// frozen linears, attention's training ops and the LM head call these functions, which run
// either the reference ops (ops/*.h: f32, OpenBLAS) or the cpu-bf16 kernels (ops/bf16/*.h:
// GEMM inputs rounded to bf16, f32 accumulation and outputs, as torch.autocast(cpu, bfloat16)),
// as the process's backend decides (`run.compute`, `--compute`; backend/backend_factory.h).
// Everything else (norms, RoPE, SwiGLU, losses, LoRA parameters, gradients, AdamW) is f32 in
// both. When the model runs on a Backend, these calls become its methods and this file goes.
#pragma once

#include <cstdint>

#include "backend/backend.h"
#include "quant/quantized_matrix.h"

namespace loom::compute {

// Selects the kernels of `backend` (cpu-bf16's or the reference ops) for the whole process.
void use_kernels_of(const Backend& backend);
// True while the cpu-bf16 kernels are selected.
bool bf16_kernels();
// For tests: select the cpu-bf16 kernels (true) or the reference ops (false).
void set_bf16_kernels(bool on);

// The matmul family (ops/matmul.h signatures).
void matmul_forward(float* out, const float* inp, const float* weight, int N, int C, int OC, bool accumulate);
void matmul_backward_input(float* dinp, const float* dout, const float* weight, int N, int C, int OC);
void matmul_backward_weight(float* dweight, const float* dout, const float* inp, int N, int C, int OC);

// y (N, OC) = x (N, C) @ W^T and dx (N, C) += dy (N, OC) @ W for a frozen weight; the f32
// path dequantizes into f32_scratch (w.rows * w.cols) unless the weight is f32 already.
void frozen_matmul_forward(float* y, const float* x, const QuantizedMatrix& w, float* f32_scratch, int N);
void frozen_matmul_backward_input(float* dx, const float* dy, const QuantizedMatrix& w, float* f32_scratch, int N);

// The attention family's training ops (ops/attention.h signatures).
void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v, const int* doc,
                       int B, int T, int NH, int NKV, int HD);
void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                        const float* v, const float* out, const float* lse, const int* doc, int B, int T, int NH,
                        int NKV, int HD);

// An f32 weight (rows, cols) that many GEMMs read in a row (the LM head over row chunks):
// in bf16 mode it is rounded once, on construction, into a scratch that lives until the next
// ReusedWeight is made; in f32 mode the GEMMs read it directly. When the caller's row count
// (max_rows) is at most kGemvRows the f32 path is taken in both modes (decoding: rounding
// V x C per token would cost more than the product).
class ReusedWeight {
 public:
  static constexpr int kGemvRows = 4;
  ReusedWeight(const float* w, int rows, int cols, int max_rows);
  // out (N, rows) = inp (N, cols) @ w^T
  void forward(float* out, const float* inp, int N) const;
  // dinp (N, cols) += dout (N, rows) @ w
  void backward_input(float* dinp, const float* dout, int N) const;

 private:
  const float* f32_;
  const uint16_t* bf16_ = nullptr;  // null in f32 mode
  int rows_, cols_;
};

}  // namespace loom::compute
