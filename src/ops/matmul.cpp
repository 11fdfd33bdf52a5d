#include "ops/matmul.h"

#include <cblas.h>

namespace loom::cpu {

void matmul_forward(float* out, const float* inp, const float* weight, int N, int C, int OC,
                    bool accumulate) {
  // out (N, OC) = inp (N, C) @ weight (OC, C)^T
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, C, 1.0f, inp, C, weight, C,
              accumulate ? 1.0f : 0.0f, out, OC);
}

void matmul_backward_input(float* dinp, const float* dout, const float* weight, int N, int C,
                           int OC) {
  // dinp (N, C) += dout (N, OC) @ weight (OC, C)
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, C, OC, 1.0f, dout, OC, weight, C, 1.0f,
              dinp, C);
}

void matmul_backward_weight(float* dweight, const float* dout, const float* inp, int N, int C,
                            int OC) {
  // dweight (OC, C) += dout (N, OC)^T @ inp (N, C)
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, N, 1.0f, dout, OC, inp, C, 1.0f,
              dweight, C);
}

}  // namespace loom::cpu
