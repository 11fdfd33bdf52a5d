#include "ops/bf16/compute_dispatch.h"

#include <string>

#include "core/check.h"
#include "ops/attention.h"
#include "ops/bf16/attention_bf16.h"
#include "ops/bf16/bf16_convert.h"
#include "ops/bf16/bf16_scratch.h"
#include "ops/bf16/frozen_matmul_bf16.h"
#include "ops/bf16/matmul_bf16.h"
#include "ops/bf16/onednn_gemm.h"
#include "ops/matmul.h"

namespace loom::compute {

namespace {

bool g_bf16 = false;

bool bf16() { return g_bf16; }

const float* dense_f32(const QuantizedMatrix& w, float* scratch) {
  if (w.mode == QuantMode::F32) return static_cast<const float*>(w.data);
  dequantize_matrix(scratch, w);
  return scratch;
}

}  // namespace

void use_kernels_of(const Backend& backend) { g_bf16 = std::string(backend.name()) == "cpu-bf16"; }
bool bf16_kernels() { return g_bf16; }
void set_bf16_kernels(bool on) { g_bf16 = on; }

void matmul_forward(float* out, const float* inp, const float* weight, int N, int C, int OC, bool accumulate) {
  if (bf16()) return bf16::matmul_forward(out, inp, weight, N, C, OC, accumulate);
  cpu::matmul_forward(out, inp, weight, N, C, OC, accumulate);
}

void matmul_backward_input(float* dinp, const float* dout, const float* weight, int N, int C, int OC) {
  if (bf16()) return bf16::matmul_backward_input(dinp, dout, weight, N, C, OC);
  cpu::matmul_backward_input(dinp, dout, weight, N, C, OC);
}

void matmul_backward_weight(float* dweight, const float* dout, const float* inp, int N, int C, int OC) {
  if (bf16()) return bf16::matmul_backward_weight(dweight, dout, inp, N, C, OC);
  cpu::matmul_backward_weight(dweight, dout, inp, N, C, OC);
}

void frozen_matmul_forward(float* y, const float* x, const QuantizedMatrix& w, float* f32_scratch, int N) {
  if (bf16()) return bf16::frozen_matmul_forward(y, x, w, N, false);
  cpu::matmul_forward(y, x, dense_f32(w, f32_scratch), N, w.cols, w.rows, false);
}

void frozen_matmul_backward_input(float* dx, const float* dy, const QuantizedMatrix& w, float* f32_scratch, int N) {
  if (bf16()) return bf16::frozen_matmul_backward_input(dx, dy, w, N);
  cpu::matmul_backward_input(dx, dy, dense_f32(w, f32_scratch), N, w.cols, w.rows);
}

void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v, const int* doc,
                       int B, int T, int NH, int NKV, int HD) {
  if (bf16()) return bf16::attention_forward(out, lse, q, k, v, doc, B, T, NH, NKV, HD);
  cpu::attention_forward(out, lse, q, k, v, doc, B, T, NH, NKV, HD);
}

void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                        const float* v, const float* out, const float* lse, const int* doc, int B, int T, int NH,
                        int NKV, int HD) {
  if (bf16()) return bf16::attention_backward(dq, dk, dv, dout, q, k, v, out, lse, doc, B, T, NH, NKV, HD);
  cpu::attention_backward(dq, dk, dv, dout, q, k, v, out, lse, doc, B, T, NH, NKV, HD);
}

ReusedWeight::ReusedWeight(const float* w, int rows, int cols, int max_rows) : f32_(w), rows_(rows), cols_(cols) {
  if (!bf16() || max_rows <= kGemvRows) return;
  uint16_t* rounded = bf16::scratch(bf16::ScratchSlot::Reused, size_t(rows) * cols);
  bf16::round_to_bf16(rounded, w, size_t(rows) * cols);
  bf16_ = rounded;
}

void ReusedWeight::forward(float* out, const float* inp, int N) const {
  if (bf16_ == nullptr) return cpu::matmul_forward(out, inp, f32_, N, cols_, rows_, false);
  uint16_t* x = bf16::scratch(bf16::ScratchSlot::OperandA, size_t(N) * cols_);
  bf16::round_to_bf16(x, inp, size_t(N) * cols_);
  bf16::gemm(out, x, false, bf16_, /*b_trans=*/true, N, rows_, cols_, false);
}

void ReusedWeight::backward_input(float* dinp, const float* dout, int N) const {
  if (bf16_ == nullptr) return cpu::matmul_backward_input(dinp, dout, f32_, N, cols_, rows_);
  uint16_t* dy = bf16::scratch(bf16::ScratchSlot::OperandA, size_t(N) * rows_);
  bf16::round_to_bf16(dy, dout, size_t(N) * rows_);
  bf16::gemm(dinp, dy, false, bf16_, false, N, cols_, rows_, true);
}

}  // namespace loom::compute
