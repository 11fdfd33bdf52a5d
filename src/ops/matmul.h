// Linear layers as GEMMs (weights stored [out, in] like torch.nn.Linear).
#pragma once

namespace loom::cpu {

// out (N, OC) = inp (N, C) @ weight (OC, C)^T; with accumulate, out += instead.
void matmul_forward(float* out, const float* inp, const float* weight, int N, int C, int OC,
                    bool accumulate);

// dinp (N, C) += dout (N, OC) @ weight (OC, C)
void matmul_backward_input(float* dinp, const float* dout, const float* weight, int N, int C, int OC);

// dweight (OC, C) += dout (N, OC)^T @ inp (N, C)
void matmul_backward_weight(float* dweight, const float* dout, const float* inp, int N, int C, int OC);

}  // namespace loom::cpu
