// CUDA twin of src/ops/heads.h: the reward model's score head and PPO's value head.
#pragma once

#include <cuda_runtime.h>

namespace loom::cuda {

// rewards (B) = head (C) . hidden[b, last[b]]; hidden (B, T, C)
void score_head_forward(float* rewards, const float* hidden, const int* last, const float* head, int B, int T, int C,
                        cudaStream_t stream);

// dhidden (B, T, C) += d_rewards[b] head at [b, last[b]]; dhead (C) += d_rewards[b] hidden[b, last[b]]
void score_head_backward(float* dhidden, float* dhead, const float* d_rewards, const float* hidden, const int* last,
                         const float* head, int B, int T, int C, cudaStream_t stream);

// values (N) = w (C) . x[n] + bias[0]; x (N, C)
void value_head_forward(float* values, const float* x, const float* w, const float* bias, int N, int C,
                        cudaStream_t stream);

// dx (N, C) += dvalues[n] w; dw (C) += sum_n dvalues[n] x[n]; dbias[0] += sum_n dvalues[n]
void value_head_backward(float* dx, float* dw, float* dbias, const float* dvalues, const float* x, const float* w,
                         int N, int C, cudaStream_t stream);

}  // namespace loom::cuda
