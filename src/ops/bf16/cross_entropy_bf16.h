// The LM head's cross-entropy forward and backward in one pass per row (ops/cross_entropy.h's
// cross_entropy_forward_backward) with the gradient written in bf16, the operand the input
// gradient's GEMM reads: the f32 gradient (N x V, the largest tensor of a step) is never
// written to memory and read back to be rounded.
#pragma once

#include <cstdint>

namespace loom::bf16 {

// losses (N) = -log softmax(logits)[target] (0 where target < 0); dlogits (N, V) =
// bf16((softmax(logits) - onehot(target)) * dloss[n]), round-to-nearest-even, 0 where target < 0.
void cross_entropy_forward_backward(float* losses, uint16_t* dlogits, const float* logits, const int* targets,
                                    const float* dloss, int N, int V);

}  // namespace loom::bf16
