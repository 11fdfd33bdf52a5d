// Llama's MLP gate: silu(gate) * up.
#pragma once

namespace loom::cpu {

// out (N, F) = silu(gate) * up; gate, up (N, F)
void swiglu_forward(float* out, const float* gate, const float* up, int N, int F);

// dgate, dup (N, F) += gradients of out (without accumulate, = instead)
void swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate,
                     const float* up, int N, int F, bool accumulate);

}  // namespace loom::cpu
