#include "ops/lora_linear.h"

#include "ops/copy.h"
#include "ops/dropout.h"
#include "ops/elementwise.h"
#include "ops/matmul.h"
#include "ops/quantized_matmul.h"

namespace loom::cpu {

namespace {

// The cpu:: ops under the Backend's names, for the composed op.
struct CpuOps {
  void quantized_matmul_forward(float* out, float* workspace, const float* inp, const QuantizedMatrix& w, int N,
                                bool accumulate) const {
    cpu::quantized_matmul_forward(out, workspace, inp, w, N, accumulate);
  }
  void quantized_matmul_backward_input(float* dinp, float* workspace, const float* dout, const QuantizedMatrix& w,
                                       int N, bool accumulate) const {
    cpu::quantized_matmul_backward_input(dinp, workspace, dout, w, N, accumulate);
  }
  void matmul_forward(float* out, const float* inp, const float* weight, int N, int C, int OC,
                      bool accumulate) const {
    cpu::matmul_forward(out, inp, weight, N, C, OC, accumulate);
  }
  void matmul_backward_input(float* dinp, const float* dout, const float* weight, int N, int C, int OC) const {
    cpu::matmul_backward_input(dinp, dout, weight, N, C, OC);
  }
  void matmul_backward_weight(float* dweight, const float* dout, const float* inp, int N, int C, int OC) const {
    cpu::matmul_backward_weight(dweight, dout, inp, N, C, OC);
  }
  void dropout_forward(float* out, const float* inp, size_t n, float p, uint64_t seed, uint64_t stream) const {
    cpu::dropout_forward(out, inp, n, p, seed, stream);
  }
  void dropout_backward(float* dinp, const float* dout, size_t n, float p, uint64_t seed, uint64_t stream) const {
    cpu::dropout_backward(dinp, dout, n, p, seed, stream);
  }
  void fill(float* x, float value, size_t n) const { cpu::fill(x, value, n); }
  void copy(float* dst, const float* src, size_t n) const { cpu::copy(dst, src, n); }
  void scale_inplace(float* x, float s, size_t n) const { cpu::scale_inplace(x, s, n); }
};

}  // namespace

void lora_linear_forward(float* y, float* u, float* workspace, float* dropped, float* mid, const float* x,
                         const QuantizedMatrix& w, const float* a, const float* b, int N, int R, float scale,
                         float p, uint64_t seed, uint64_t stream) {
  lora_linear_forward_composed(CpuOps{}, y, u, workspace, dropped, mid, x, w, a, b, N, R, scale, p, seed, stream);
}

void lora_linear_backward(float* dx, float* da, float* db, float* workspace, float* dropped, float* mid,
                          const float* dy, const float* x, const float* u, const QuantizedMatrix& w,
                          const float* a, const float* b, int N, int R, float scale, float p, uint64_t seed,
                          uint64_t stream, bool accumulate) {
  lora_linear_backward_composed(CpuOps{}, dx, da, db, workspace, dropped, mid, dy, x, u, w, a, b, N, R, scale, p,
                                seed, stream, accumulate);
}

}  // namespace loom::cpu
