#include "ops/quantized_matmul.h"

#include <algorithm>
#include <cstddef>

#include "ops/matmul.h"

namespace loom::cpu {

// The weight as f32 (rows, cols): the matrix itself when unquantized f32, else dequantized.
static const float* dense_weight(const QuantizedMatrix& w, float* workspace) {
  if (w.mode == QuantMode::F32) return static_cast<const float*>(w.data);
  dequantize_matrix(workspace, w);
  return workspace;
}

void quantized_matmul_forward(float* out, float* workspace, const float* inp, const QuantizedMatrix& w, int N,
                              bool accumulate) {
  matmul_forward(out, inp, dense_weight(w, workspace), N, w.cols, w.rows, accumulate);
}

void quantized_matmul_backward_input(float* dinp, float* workspace, const float* dout, const QuantizedMatrix& w,
                                     int N, bool accumulate) {
  if (!accumulate) std::fill_n(dinp, size_t(N) * w.cols, 0.0f);  // matmul_backward_input adds
  matmul_backward_input(dinp, dout, dense_weight(w, workspace), N, w.cols, w.rows);
}

}  // namespace loom::cpu
